/* log_int — the journal half of core/log.c (core/log_journal.c). */
#ifndef REGIOND_LOG_INT_H
#define REGIOND_LOG_INT_H

#include "core/log.h"

/* 1 when $JOURNAL_STREAM is "<dev>:<ino>" of fd 2 (sd-daemon's rule). */
int logj_stream_matches(void);

/* Send one entry: MESSAGE=msg, PRIORITY, SYSLOG_IDENTIFIER=regiond and the
 * REGIOND_* fields of f (or, when f is NULL, those found in msg).  0 when
 * sent; -1 when not (socket missing, refused, full): the caller writes the
 * line to stderr.  Never logs, never waits. */
int logj_send(int prio, const char *msg, const log_fields_t *f);

/* The first send (log_init, before the loop): libsystemd opens its socket,
 * which is then made non-blocking. */
void logj_start(void);

#endif
