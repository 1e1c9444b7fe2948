/* control_int.h — private to the controller: its state (control.c writes
 * it, control_view.c renders it). */
#ifndef REGIOND_CONTROL_INT_H
#define REGIOND_CONTROL_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "cfg.h"
#include "decide.h"

#define CTRL_RING 64
#define CTRL_NOTE_MAX 200

typedef struct {
    decide_override_t kind;       /* NONE when unused */
    int weight;
    int64_t expires_wall_ms;
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

/* Override i as a new object with its region, action and weight (the
 * fields the saved state and the status view share); NULL when out of
 * memory. */
cJSON *ctrl_override_obj(size_t i);

/* "apply", "no-change", "monitor-only", "dry-run" or "frozen". */
const char *ctrl_apply_state(const decide_out_t *o);

#endif
