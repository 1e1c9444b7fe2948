/* drill_int.h — private to the drill module: a drill and the table of them
 * (drill.c runs them, drill_state.c saves and loads them). */
#ifndef REGIOND_DRILL_INT_H
#define REGIOND_DRILL_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "config/cfg.h"
#include "daemon/drill.h"
#include "core/state.h"

#define DR_MAX 32                  /* drills kept (files too); the oldest finished one goes first */
#define DR_TIMELINE 400            /* timeline entries per drill */
#define DR_TEXT_MAX 600            /* bytes of an event's text kept in a timeline entry */

typedef enum { DR_ACTIVE = 0, DR_DONE, DR_STOPPED, DR_DRY, DR_NSTATES } dr_state_t;

typedef struct {
    uint64_t id;
    char region[65];
    bool fail, dry_run;
    char note[200], who[65];
    dr_state_t state;
    int64_t start_wall_ms, end_wall_ms;
    uint64_t expires_mono_ms;     /* an active drill ends then (monotonic) */
    uint64_t retry_mono_ms;       /* an end that could not be saved is tried again then */
    uint32_t backoff_ms;          /* and the wait before that: doubled up to 30 s */
    uint32_t duration_s;
    cJSON *timeline;              /* [{t, offset_s, type, text}] */
    char result[600];             /* dry run: what would have been done */
    bool starting, ending;        /* its file or its override (release) is being written */
    dr_state_t end_how;           /* ending: DR_DONE or DR_STOPPED */
    drill_done_fn done;           /* who waits for the start or stop (NULL: nobody) */
    void *done_arg;
    uint64_t term;                /* leading a cluster: the term the start was accepted in (0: none) */
} drill_t;

/* The drills, oldest first.  Owner: drill.c. */
typedef struct {
    drill_t d[DR_MAX];
    size_t n;
    uint64_t next_id;
    struct event *tick;
} dr_table_t;

extern dr_table_t DR;

/* drill_state.c: save drill d to state_dir/drill-ID.json through the
 * writer thread (never waited for); dr_save_then: then(arg, rc, err) is called on the loop once
 * it is durable or failed.  0 or -1 (out of memory; then is not called). */
int dr_save(const drill_t *d);
int dr_save_then(const drill_t *d, state_done_fn then, void *arg);

/* Remove drill id's file (queued). */
void dr_forget_file(uint64_t id);

/* Load every drill-*.json (and a drills.json of an older regiond); a file
 * that fails its checks is corrupt (safe mode).  Fills DR.d, DR.n, DR.next_id. */
void dr_load(void);

/* drill_state.c: drill d as its file holds it (without a timeline when
 * d->timeline is NULL); one drill's members, types and ranges (0, or -1
 * with why). */
cJSON *dr_doc(const drill_t *d);
int dr_check(const cJSON *x, char *why, size_t len);

/* drill.c: add a timeline entry to d. */
void dr_note(drill_t *d, const char *type, const char *text);

#endif
