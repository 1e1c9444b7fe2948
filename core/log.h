/* log — one line per fact, key=value fields, to stderr or the journal.
 *
 * When JOURNAL_STREAM names stderr's device:inode (fstat, as sd-daemon(3)
 * documents) each line goes to the journal through sd_journal_sendv with
 * MESSAGE=, PRIORITY=, SYSLOG_IDENTIFIER=regiond and, where the line has
 * them, REGIOND_REGION= REGIOND_TARGET= REGIOND_DECISION= REGIOND_EVENT=;
 * if the journal socket is missing, refuses or is full, the line goes to
 * stderr with the journald priority prefix "<N>" instead.  Otherwise (no or
 * another JOURNAL_STREAM) each line starts with a UTC timestamp and level=.  The same
 * line repeated more than LOG_BURST times in LOG_WINDOW_S seconds is
 * suppressed and counted, and the count is logged when the window ends.
 * Never pass a secret to these functions. */
#ifndef REGIOND_LOG_H
#define REGIOND_LOG_H

#include <syslog.h>

#define LOG_BURST 5
#define LOG_WINDOW_S 10

/* Set up from the environment; level is a syslog priority (LOG_INFO ...). */
void log_init(int level);

/* Change the threshold. */
void log_set_level(int level);

/* Parse "debug|info|notice|warning|error"; -1 if unknown. */
int log_level_parse(const char *s);

/* Log one line at priority prio (printf-style).  For the journal, the
 * line's own region= target= decision= event= pairs become the REGIOND_*
 * fields: the first of each, a bare name (A-Z a-z 0-9 . _ -, at most 64),
 * and only before the line's first quoted value other than msg= (free
 * text, an error or a peer's answer, is quoted and never read for fields). */
void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The journal fields of a line, given by its caller (NULL: none).  They
 * reach only the journal, exactly as given (a newline included); the text
 * line is what fmt makes.  Never a secret. */
typedef struct {
    const char *region, *target, *decision, *event;
} log_fields_t;

/* log_msg with the REGIOND_* fields given instead of found in the line. */
void log_msg_fields(int prio, const log_fields_t *f, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* 1 when lines go to the journal (JOURNAL_STREAM matched stderr). */
int log_to_journal(void);

/* Log and abort (for allocation failure of core structures; systemd restarts us). */
void log_fatal_oom(const char *what) __attribute__((noreturn));

/* Abort on NULL: for core structures only. */
#define XCHECK(p) do { if (!(p)) log_fatal_oom(#p); } while (0)

#endif
