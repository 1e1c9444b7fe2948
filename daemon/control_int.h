/* control_int.h — private to the controller: its state (control.c writes
 * it, control_view.c renders it). */
#ifndef REGIOND_CONTROL_INT_H
#define REGIOND_CONTROL_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "config/cfg.h"
#include "daemon/control.h"
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

/* An operator's change waiting for its write (control_state.c): applied
 * only once the snapshot holding it is durable. */
typedef enum { CTRL_OP_FREEZE, CTRL_OP_SET, CTRL_OP_CLEAR } ctrl_op_kind_t;

typedef struct ctrl_op {
    ctrl_op_kind_t kind;
    char region[65];
    bool on;                      /* freeze: on; set: drain (else pin) */
    int weight;
    uint32_t for_s;
    char note[CTRL_NOTE_MAX], who[64];
    ctrl_done_fn done;
    void *arg;
    struct ctrl_op *next;
} ctrl_op_t;

typedef struct {
    const cfg_t *cfg;
    size_t n;
    char names[DECIDE_MAX_REGIONS][65];      /* overrides are kept by region name */
    ctrl_override_t ov[DECIDE_MAX_REGIONS];
    bool frozen;
    char freeze_note[CTRL_NOTE_MAX], freeze_who[64];
    uint64_t seq;                 /* last decision number */
    uint64_t reserved;            /* numbers up to here are durable in control.json: handed out freely */
    uint64_t want_reserved;       /* a reservation being written (> reserved), else <= reserved */
    uint64_t writing_reserved;    /* decision_reserved in the snapshot being written */
    bool starved;                 /* a decision waits for numbers (logged once) */
    ctrl_op_t *ops, *ops_tail;    /* operator changes, first in flight (or next), in arrival order */
    bool writing;                 /* a control.json write is in flight (at most one) */
    bool stopping;                /* SIGTERM came: new changes are refused (ctrl_stopping) */
    bool dirty;                   /* the state changed since the snapshot in flight: write again */
    bool save_failed;             /* the last write failed: written again from the 1 s tick, not at once */
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

/* The controller's state: one, owned by control.c; control_view.c reads
 * it, control_ops.c applies the operator's changes to it. */
extern ctrl_state_t ctl;

/* True while a health-driven drain waits decision.settle_ms
 * (control_settle.c); arms ctl.retry for its end. */
bool ctrl_settling(const decide_out_t *o, const decide_region_t *in);

/* Decision numbers are reserved this many at a time in control.json, so a
 * lost write can never make a number repeat after a restart. */
#define CTRL_SEQ_BLOCK 1000u

/* control_state.c: write control.json through the writer thread, never
 * waiting: one write in flight at a time; asked for meanwhile, the state
 * is written again once it finishes.  final (at stop): queue the state as
 * it is now, after whatever is in flight.  0 or -1 (out of memory). */
int ctrl_save(bool final);

/* The next decision number into ctl.seq.  The next block is reserved
 * ahead (written when half of the current one is used); -1 when every
 * durable number is used: the decision waits (never a number that could
 * repeat) and is made again once the block is durable. */
int ctrl_number(void);

/* ctrl_init, before the loop runs: the first block, waited for.  0 or -1
 * (then the first decision asks for it off the loop). */
int ctrl_reserve_at_start(void);

/* Queue an operator's change (ownership passes): written after those
 * before it, then applied (ctrl_op_finish) or refused (CTRL_UNAVAILABLE),
 * op->done called either way. */
void ctrl_submit(ctrl_op_t *op);

/* At stop: answer every change still waiting (CTRL_UNAVAILABLE). */
void ctrl_ops_drop(void);

/* control.c: apply op to ctl (to build its snapshot, and once durable). */
void ctrl_op_effect(const ctrl_op_t *op);

/* control_ops.c: op's snapshot is durable: apply it, announce it, decide
 * again, call op->done. */
void ctrl_op_finish(const ctrl_op_t *op);

/* control.c: the engine's settings from decision.*; every region's input
 * to the engine as it is now (health, live weight, override, data gate);
 * one evaluation (decide, record, apply), why naming its trigger.  Used by
 * the operator's actions (control_ops.c) too. */
void ctrl_cfg(decide_cfg_t *d);
void ctrl_inputs(decide_region_t *in);
void ctrl_evaluate(const char *why);

/* control.c: decide again (numbers became available). */
void ctrl_reevaluate(const char *why);

/* Read control.json (checked; a corrupt file means safe mode). */
void ctrl_load(void);

/* control_state.c: control.json's document as the state is now (NULL out
 * of memory); its checks (every member's type and range: 0, or -1 with
 * what is wrong in why). */
cJSON *ctrl_doc(void);
int ctrl_check_doc(const cJSON *o, char *why, size_t len);

/* A new leader takes a replicated document that passed ctrl_check_doc:
 * its overrides and freeze replace ours, decision numbers go on above its
 * reservation.  Then ctrl_takeover_ready(): a new number block is saved
 * (and so replicated) and the term's first decision is made. */
void ctrl_take_replicated(const cJSON *o);
void ctrl_takeover_ready(void);

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
