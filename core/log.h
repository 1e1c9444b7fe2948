/* log — one line per fact, key=value fields, to stderr.
 *
 * Under systemd (JOURNAL_STREAM set) each line starts with the journald
 * priority prefix "<N>"; otherwise with a UTC timestamp and level=.  The same
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

/* Log one line at priority prio (printf-style). */
void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Log and abort (for allocation failure of core structures; systemd restarts us). */
void log_fatal_oom(const char *what) __attribute__((noreturn));

/* Abort on NULL: for core structures only. */
#define XCHECK(p) do { if (!(p)) log_fatal_oom(#p); } while (0)

#endif
