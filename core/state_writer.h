/* state_writer — the writer thread behind state.h's writes; internal to
 * core/state*.c (every other module uses state.h).  One queue of jobs,
 * taken in order by one thread that writes each through
 * state_write_file(); the completions of state_write_then() delivered on
 * the loop in the order the writes were queued; once a second the loop
 * reports the thread's failures (the "state-write" alarm) and a write under
 * way for too long (the "state-write-stalled" alarm).
 *
 * Owner: state_writer.c owns the thread, its queue, the finished jobs not
 * yet delivered and the two eventfds; state.c owns the directory name and
 * the last error. */
#ifndef REGIOND_STATE_WRITER_H
#define REGIOND_STATE_WRITER_H

#include <stdbool.h>
#include <stddef.h>

#include "core/state.h"

/* ---- state.c, the file API, for the writer thread ---- */

/* Write name inside state_dir atomically on the calling thread (a fresh
 * temp file, fsync, rename, fsync of the directory): 0, or -1 with
 * "PATH: step: reason" in err. */
int state_write_file(const char *name, const char *data, size_t len, char *err, size_t errlen);

/* Remove name inside state_dir on the calling thread: 0 (also when it is
 * missing), or -1 with "PATH: unlink: reason" in err. */
int state_remove_file(const char *name, char *err, size_t errlen);

/* A write failed: logged, and kept for state_last_error(). */
void state_note_failed(const char *err);

/* ---- state_writer.c ---- */

#define STW_NOMEM (-2)     /* the job could not be allocated: nothing queued */
#define STW_TIMEOUT (-3)   /* not done within STATE_WAIT_S: given up on */

/* Start the thread (dir only names it in err): 0, or -1 with err filled. */
int stw_start(const char *dir, char *err, size_t errlen);

/* The thread runs (between stw_start() and stw_stop()). */
bool stw_running(void);

/* Queue a write behind the queued ones and wait for it at most
 * STATE_WAIT_S on the monotonic clock: 0; -1 when it failed (the reason in
 * err); STW_NOMEM; STW_TIMEOUT (a write not started is dropped, one under
 * way may still land). */
int stw_write_wait(const char *name, const char *data, size_t len, char *err, size_t errlen);

/* Queue a write nobody waits for; a queued, not yet started such write of
 * the same name is replaced.  0, or -1 when out of memory (logged). */
int stw_write_async(const char *name, const char *data, size_t len);

/* Queue a write whose outcome done(arg, rc, err) gets on the loop, ahead
 * of writes nobody waits for (see state_write_then()).  0, or -1 when out
 * of memory (logged; done never called). */
int stw_write_then(const char *name, const char *data, size_t len, state_done_fn done, void *arg);

/* Queue the removal of name (not waited for; dropped when out of memory). */
void stw_remove(const char *name);

/* The loop runs: deliver completions, report failures and stalls. */
void stw_loop_ready(void);

/* Finish the queued writes, stop the thread, drop the completions not
 * delivered, reset the counters. */
void stw_stop(void);

#endif
