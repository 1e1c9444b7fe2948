/* state — small files in state_dir, written atomically (temp, fsync,
 * rename, fsync of the directory) by one writer thread, in the order they
 * were asked for, so a stalled disk never stalls the loop (a caller that
 * must know the outcome gets a callback: state_write_then), and a later
 * snapshot of a file never loses to an earlier one.
 *
 * Reading fails loudly: a file that cannot be read, does not parse or does
 * not validate is moved aside (NAME.corrupt-<UTC time>), a critical alarm
 * ("state-corrupt") names it, and regiond is in safe mode (no Route 53
 * write) until an operator releases it (regionctl unfreeze).
 *
 * Owner: this module owns the directory name, the writer thread and its
 * queue, and the list of corrupt files found. */
#ifndef REGIOND_STATE_H
#define REGIOND_STATE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#define STATE_MAX_BYTES (16u << 20)   /* larger state files are refused (corrupt) */

/* Create the directory if missing (mode 0750); start the writer thread.
 * 0 or -1 with err filled. */
int state_init(const char *dir, char *err, size_t errlen);

#define STATE_WAIT_S 5   /* state_write() waits at most this long for a stalled disk */

/* Start-up (before the loop runs) and tests only.  Write name inside
 * state_dir atomically and wait until it is durable (or
 * failed, or STATE_WAIT_S passed: then a write not started is dropped, one
 * under way may still land, so the caller that undoes its change saves
 * again with state_write_async()).  0, or -1 with the reason in
 * state_last_error() (and logged). */
int state_write(const char *name, const char *data, size_t len);

/* Queue a write (never replaced by a later snapshot) and call done(arg,
 * rc, err) on the loop once it is durable (rc 0) or failed (rc -1, err
 * "PATH: step: reason"), in the order the writes were queued; the loop
 * never waits for it.  A failure also raises the "state-write" alarm.
 * 0, or -1 when out of memory (then done is never called).  Callbacks
 * not delivered when state_fini() runs are dropped: each module answers
 * or forgets what it waits for in its own fini, which runs first. */
typedef void (*state_done_fn)(void *arg, int rc, const char *err);
int state_write_then(const char *name, const char *data, size_t len, state_done_fn done, void *arg);

/* The same without waiting: the write is queued for the writer thread (a
 * queued, not yet started write of the same name is replaced).  A failure
 * is logged and raises the "state-write" alarm.  0, or -1 when out of memory. */
int state_write_async(const char *name, const char *data, size_t len);

/* The persist ending the modules share: doc (not freed) printed compact
 * (STATE_JSON_COMPACT) or indented (STATE_JSON_PRETTY) and written as
 * name: with then, through state_write_then() (then called on the loop once
 * durable or failed); with STATE_JSON_WAIT, through state_write(); else
 * through state_write_async() (fire and forget).  0; -1 when the write could not be queued (out of memory);
 * STATE_NOMEM when doc is NULL or could not be printed (out of memory,
 * nothing written).  On either failure then is never called. */
#define STATE_JSON_COMPACT 0u
#define STATE_JSON_PRETTY 1u
#define STATE_JSON_WAIT 2u   /* start-up only: through state_write() (then unused) */
#define STATE_NOMEM (-2)
int state_write_json(const char *name, const cJSON *doc, unsigned flags, state_done_fn then, void *arg);

/* Remove name (queued after earlier writes; not waited for). */
void state_remove_async(const char *name);

/* Why the last state_write() failed: "PATH: reason". */
const char *state_last_error(void);

/* Read name inside state_dir into a new NUL-terminated buffer (free it);
 * NULL when missing or unreadable (errno set: ENOENT when missing, EFBIG
 * past STATE_MAX_BYTES). */
char *state_read(const char *name, size_t *len);
/* Why state_read failed, from its errno: EFBIG (over 16 MiB), EFTYPE_STATE
 * (not a regular file: a FIFO, a directory, a device), else strerror. */
#define EFTYPE_STATE EMEDIUMTYPE
const char *state_read_error(int e);

typedef enum { STATE_MISSING = 0, STATE_LOADED, STATE_CORRUPT } state_load_t;

/* Checks a parsed file: 0, or -1 with what is wrong in why ("decision_seq:
 * expected an integer 0..2^53"). */
typedef int (*state_check_fn)(const cJSON *o, char *why, size_t whylen);

/* Read, parse and check name.  LOADED: *out is the document (free it).
 * MISSING: no file.  CORRUPT: moved aside, alarm raised, safe mode on;
 * *out NULL. */
state_load_t state_load_json(const char *name, state_check_fn check, cJSON **out);

/* Report a corrupt file read some other way (not JSON): the same as a
 * CORRUPT load (moved aside when present, alarm, safe mode). */
void state_corrupt(const char *name, const char *why);

/* Alarms can be raised now and the loop runs: raise those held back from
 * before, start reporting the writer thread's failures. */
void state_alarms_ready(void);
void state_corrupt_alarms_ready(void);   /* state_load.c's half of it */

/* Safe mode: a corrupt state file was found and no operator released it. */
bool state_safe_mode(void);
const char *state_safe_reason(void);

/* The operator released safe mode (unfreeze): resolve the alarm. */
void state_safe_release(const char *who);

/* Range checks for validators: v is a number, integral, within [lo, hi]. */
bool state_int_in(const cJSON *v, double lo, double hi);

/* Optional members for validators: member K of X is absent, or a string of
 * fewer than MAX bytes / an integer within [lo, hi]. */
bool state_opt_str(const cJSON *x, const char *k, size_t max);
bool state_opt_int(const cJSON *x, const char *k, double lo, double hi);

/* Member K of X once checked: its string ("" if not one), its number (0). */
const char *state_get_str(const cJSON *x, const char *k);
double state_get_num(const cJSON *x, const char *k);

/* Writes queued and not yet done; writes that failed since start. */
unsigned state_queued(void);
unsigned long state_failures(void);

/* The directory in use. */
const char *state_dir(void);

/* Finish the queued writes, stop the writer thread. */
void state_fini(void);

#endif
