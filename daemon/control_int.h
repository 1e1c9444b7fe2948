/* control_int.h — private to the controller: its state (control.c writes
 * it, control_view.c renders it). */
#ifndef REGIOND_CONTROL_INT_H
#define REGIOND_CONTROL_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "config/cfg.h"
#include "failover/decide.h"

#define CTRL_RING 64
#define CTRL_NOTE_MAX 200

typedef struct {
    decide_override_t kind;       /* NONE when unused */
    int weight;
    uint64_t expires_mono_ms;     /* monotonic expiry; 0 = never */
    int64_t created_wall_ms;
    char note[CTRL_NOTE_MAX];
    char who[64];
} ctrl_override_t;

typedef struct {
    const cfg_t *cfg;
    size_t n;
    char names[DECIDE_MAX_REGIONS][65];      /* overrides are kept by region name */
    ctrl_override_t ov[DECIDE_MAX_REGIONS];
    bool frozen;
    char freeze_note[CTRL_NOTE_MAX], freeze_who[64];
    uint64_t seq;                 /* last decision number */
    uint64_t reserved;            /* numbers up to here are saved as handed out (control.json) */
    uint64_t saved_mono_ms;       /* when control.json was last asked to be written */
    uint64_t applied_seq;         /* last decision handed to the actuator */
    bool have_last;
    int last_weights[DECIDE_MAX_REGIONS];
    bool last_alarm;
    decide_out_t cur;             /* the latest evaluation (may be deferred) */
    decide_region_t cur_in[DECIDE_MAX_REGIONS];
    decide_history_t hist;
    int64_t hist_wall[DECIDE_HISTORY];
    char *ring[CTRL_RING];        /* recent decisions as JSON, oldest first */
    size_t nring;
    struct event *tick, *retry;
    const char *retry_why;        /* the trigger recorded when retry fires */
    uint64_t fail_until_ms;       /* after a failed batch, no new one before this */
    bool suspended;               /* during a reload: regions and config disagree */
    uint64_t settle_until_ms;     /* a drain waits until then for correlated failures */
    bool ready;                   /* ctrl_init done */
    uint64_t fail_backoff_ms;
} ctrl_state_t;

/* The controller's state: one, owned by control.c; control_view.c reads it. */
extern ctrl_state_t ctl;

/* Decision numbers are reserved this many at a time in control.json, so a
 * lost write can never make a number repeat after a restart. */
#define CTRL_SEQ_BLOCK 1000u

/* control_state.c: write control.json (sync: wait until durable; else
 * through the writer thread).  0 or -1 (reason in state_last_error()). */
int ctrl_save(bool sync);

/* The next decision number into ctl.seq, reserving (durably) a new block
 * when the current one is used up.  -1: not numbered (the block could not
 * be saved). */
int ctrl_number(void);

/* Read control.json (checked; a corrupt file means safe mode). */
void ctrl_load(void);

/* control.c: the index of a region by name, or -1; record an applied
 * change (monotonic and wall time) in the engine's history. */
int ctrl_index(const char *region);
void ctrl_hist_add(uint64_t mono, int64_t wall);

/* Override i as a new object with its region, action and weight (the
 * fields the saved state and the status view share); NULL when out of
 * memory. */
cJSON *ctrl_override_obj(size_t i);

/* "apply", "no-change", "monitor-only", "dry-run" or "frozen". */
const char *ctrl_apply_state(const decide_out_t *o);

#endif
