/* health — per-target and per-region health with hysteresis.
 *
 * Probes report one result class per probe round (ok, slow, fail) with a
 * reason; health turns that stream into a state with rise/fall counts:
 *   - `fall` consecutive failures take a target DOWN;
 *   - from DOWN (or UNKNOWN) `rise` consecutive non-failures bring it up,
 *     to UP or DEGRADED depending on the latest result;
 *   - while not down, `fall` consecutive slow results make it DEGRADED and
 *     `rise` consecutive ok results make it UP again.
 * Coming up from DOWN/UNKNOWN it becomes DEGRADED when the latest result is
 * slow and the slow run is >= min(rise, fall), else UP.  rise/fall of 0 are
 * taken as 1.
 * A region's state comes from its targets' states by a rule (all/any/quorum).
 * Health only reports; failover/decide (later) acts on it. */
#ifndef REGIOND_HEALTH_H
#define REGIOND_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#include "core/hist.h"

typedef enum {
    HEALTH_UNKNOWN = 0,
    HEALTH_UP,
    HEALTH_DEGRADED,
    HEALTH_DOWN,
} health_state_t;

const char *health_state_str(health_state_t s);   /* "unknown", "up", "degraded", "down" */

typedef enum {
    HEALTH_RES_OK = 0,
    HEALTH_RES_SLOW,      /* answered correctly but above latency_ms_max */
    HEALTH_RES_FAIL,
} health_result_t;

const char *health_result_str(health_result_t r); /* "ok", "slow", "fail" */

#define HEALTH_REASON_MAX 256

/* One target's state machine and latency figures.  Embedded by value in the
 * daemon's target object; no allocation. */
typedef struct {
    uint32_t rise, fall;
    health_state_t state;
    uint32_t good_run;        /* consecutive non-failures */
    uint32_t fail_run;        /* consecutive failures */
    uint32_t ok_run;          /* consecutive ok (fast) results */
    uint32_t slow_run;        /* consecutive slow results */
    uint64_t since_mono_ms;   /* when `state` was entered */
    int64_t since_wall_ms;    /* same, wall clock (for people) */
    char reason[HEALTH_REASON_MAX];      /* why the current state (last failure/slow reason, or "ok") */
    char last_failure[HEALTH_REASON_MAX];/* reason of the most recent failed probe, "" if none */
    uint64_t probes, failures, slow;     /* counters since start */
    hist_window_t window;                /* rolling latency window */
    ewma_t ewma;                         /* latency EWMA, ms */
} health_target_t;

/* Start in UNKNOWN, reason "no probe yet", with an empty window and EWMA
 * (alpha 0.2). */
void health_target_init(health_target_t *t, uint32_t rise, uint32_t fall,
                        uint64_t window_ms, uint64_t now_mono_ms, int64_t now_wall_ms);

/* Back to UNKNOWN with no runs (reason why, or "no probe yet"): the results
 * so far no longer count for the state (a fail drill's simulated failures
 * once it stops acting); counters, window and EWMA are kept. */
void health_target_forget(health_target_t *t, const char *why, uint64_t now_mono_ms, int64_t now_wall_ms);

/* The inverse: DOWN at once, as after `fall` failures each with reason
 * why (a fail drill resumed by a new term or a restart: the failures the
 * drill would simulate, put in without waiting for the fall rounds);
 * last_failure why, the good runs cleared; counters, window and EWMA kept
 * (no probe ran).  1 when the state changed (old state in *old if
 * non-NULL), else 0. */
int health_target_fail(health_target_t *t, const char *why, uint64_t now_mono_ms, int64_t now_wall_ms,
                       health_state_t *old);

/* Change rise/fall (config reload) keeping state, runs and history. */
void health_target_set_params(health_target_t *t, uint32_t rise, uint32_t fall);

/* Feed one result.  latency_ms < 0 means "no latency" (e.g. connect failed).
 * Returns 1 when the state changed (old state in *old if non-NULL), else 0.
 * A latency >= 0 goes into window and EWMA whatever the result.  reason NULL
 * or "" reads as the result's name ("fail", "slow").  A failure sets
 * last_failure.  t->reason: "ok" while UP, the latest failure while DOWN,
 * the latest slow reason while DEGRADED, and while UNKNOWN the progress, e.g.
 * "pending: 1/3 failures: <reason>". */
int health_target_observe(health_target_t *t, health_result_t r, const char *reason,
                          double latency_ms, uint64_t now_mono_ms, int64_t now_wall_ms,
                          health_state_t *old);

/* A region's state from its targets' states:
 * k = n (all), 1 (any) or quorum; up = targets UP, alive = UP or DEGRADED.
 *   up >= k -> UP;  alive < k -> DOWN;  otherwise DEGRADED;
 * except that while any target is UNKNOWN a result that is not UP is UNKNOWN
 * (no verdict before every target has one).  `rule` is 0 all, 1 any, 2 quorum
 * (the cfg_rule_t values; any other value counts as all).  A quorum of 0 is
 * taken as 1, above n as n.  n == 0 (or states NULL) -> UNKNOWN.  Writes a
 * one-line explanation into reason when it is non-NULL, e.g. "all 3 targets
 * up", "1/3 targets down: need 3 up", "quorum 2: 1 up, 1 degraded, 1 down",
 * "waiting for first results (1 target unknown)". */
health_state_t health_region_eval(int rule, uint32_t quorum, const health_state_t *states,
                                  size_t n, char *reason, size_t reasonlen);

#endif
