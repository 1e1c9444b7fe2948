/* decide — the decision engine: a pure function from region health,
 * overrides, live weights, config and clock to desired Route 53 weights,
 * with the rule that fired and a reason.  No I/O, no globals, no
 * allocation: unit-tested without a loop, and every decision explainable.
 *
 * Order of evaluation (each step documented in decide.c):
 *  1. base weight per region: override drain -> 0, pin -> its weight;
 *     else UP -> configured, DEGRADED -> degraded_weight (or configured
 *     when degraded_weight < 0; never above configured), DOWN -> 0,
 *     UNKNOWN -> live (configured if live is unknown): no opinion yet, no
 *     change.  A region under an override is "override-driven" when the
 *     override's weight differs from live.
 *  1b. data-safety gate: traffic never moves TO a data_blocked region (not
 *     overridden): its weight does not rise above live, and while another
 *     region with a configured weight is out (weight 0), it is set to 0 too
 *     so the drained region's traffic goes only to regions whose data is
 *     safe.  The safety rules below may still keep it in.
 *  2. fail open: when no region is UP or DEGRADED and at least one is DOWN
 *     (all UNKNOWN is "no verdict yet", not an outage), nothing is drained
 *     by health: KEEP -> every region keeps its live weight (configured if
 *     unknown), RESTORE -> every region gets its configured weight once
 *     every region is DOWN (with some still UNKNOWN, as at a start, it keeps
 *     like KEEP: a region drained before the start is not restored on one
 *     verdict);
 *     overrides still apply in both modes; alarm set.  Step 3 is skipped.
 *  3. min_healthy_regions: when fewer than that many regions would serve
 *     (weight > 0), regions that serve now (live > 0) and would be drained
 *     are kept at their live weight, healthiest first (UP, DEGRADED,
 *     UNKNOWN, DOWN, then config order), until the minimum is met or none
 *     is left; a drain override is kept in too (the rule is never skipped).
 *  4. all-zero guard: Route 53 answers an all-zero group as if all weights
 *     were equal, so a result with every weight 0 is replaced by the live
 *     weights (unknown ones as 0).  If live are all 0 or unknown (someone
 *     zeroed the group), regions not drift_held and not DOWN get their
 *     configured weight; a DOWN region stays at 0 unless that leaves none
 *     serving and no region is drift_held (then configured everywhere, as
 *     before); drift_held regions keep live, so with only those and DOWN
 *     ones left nothing is raised (regiond does not fight it); alarm set.
 *  5. hold-down: a health-driven weight INCREASE (a region coming back, not
 *     an override) within hold_down_ms of the last applied change is
 *     deferred (region keeps live weight).  Decreases (drains) are never
 *     deferred: a broken region leaves at once, returning is what waits.
 *  6. damping: when max_changes changes were applied within window_ms
 *     (history entries in (now - window_ms, now]), a health-driven weight
 *     increase is deferred.  The history holds DECIDE_HISTORY entries, the
 *     largest max_changes the config accepts, so every allowed value fires.
 *  Overrides skip 5 and 6, never 2-4.  Weights set by 2-4 are never
 *  deferred (they only keep or restore), nor is a region whose live weight
 *  is unknown (there is nothing to keep).  A deferral never leaves fewer
 *  than max(1, min_healthy_regions) regions serving: deferred changes that
 *  bring a region back (0 -> > 0) are then applied at once, healthiest
 *  first.  When both 5 and 6 hold, retry_in_ms is the later of the two and
 *  the rule is the one that ends later (hold-down on a tie).
 *
 * Output: rule[i] is OVERRIDE under an override; HEALTH when health moved
 * the weight; FAIL_OPEN / MIN_HEALTHY / ALL_ZERO when that rule set it;
 * HOLD_DOWN / DAMPING when a health change was deferred; NONE when the
 * weight follows health and equals live.  top_rule is the highest of:
 * FAIL_OPEN > ALL_ZERO > MIN_HEALTHY > OVERRIDE (only when it moves a
 * weight) > HEALTH > HOLD_DOWN = DAMPING > NONE.  change: some weight
 * differs from live (live -1 always counts).  alarm: fail open or the
 * all-zero guard fired.  reason, e.g. "eu-west-1 down -> weight 0 (was
 * 100)", "all 3 regions down: fail open, keeping live weights",
 * "min_healthy_regions 2: keeping us-east-1 at 100 (down)", "hold-down:
 * eu-west-1 up -> 100 deferred 23 s", "no change"; parts joined by "; ".
 */
#ifndef REGIOND_DECIDE_H
#define REGIOND_DECIDE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "failover/health.h"

#define DECIDE_MAX_REGIONS 64
/* Applied changes remembered for damping: decision.max_changes' maximum
 * (config/cfg.h CFG_MAX_CHANGES; daemon/control.c asserts they agree). */
#define DECIDE_HISTORY 1000
#define DECIDE_REASON_MAX 512

typedef enum { DECIDE_OV_NONE = 0, DECIDE_OV_DRAIN, DECIDE_OV_PIN } decide_override_t;

typedef enum {
    DECIDE_RULE_NONE = 0,     /* nothing to change */
    DECIDE_RULE_HEALTH,       /* weights follow health */
    DECIDE_RULE_OVERRIDE,     /* an operator override moved a weight */
    DECIDE_RULE_FAIL_OPEN,    /* every region down: nothing drained */
    DECIDE_RULE_MIN_HEALTHY,  /* min_healthy_regions kept a region in */
    DECIDE_RULE_ALL_ZERO,     /* refused to write weight 0 everywhere */
    DECIDE_RULE_HOLD_DOWN,    /* a change deferred by the hold-down */
    DECIDE_RULE_DAMPING,      /* a change deferred by max changes per window */
    DECIDE_RULE_DATA_GATE,    /* no traffic moved to a region whose data is not safe */
    DECIDE_RULE_COUNT
} decide_rule_t;

/* "none", "health", "override", "fail_open", "min_healthy_regions",
 * "all_zero_guard", "hold_down", "damping"; "invalid" for any other value */
const char *decide_rule_str(decide_rule_t r);

typedef enum { DECIDE_FAIL_OPEN_KEEP = 0, DECIDE_FAIL_OPEN_RESTORE } decide_fail_open_t;

typedef struct {
    const char *name;
    health_state_t health;
    int configured_weight;       /* 0..255 */
    int live_weight;             /* 0..255, or -1 when not known */
    decide_override_t override;
    int pin_weight;              /* for DECIDE_OV_PIN, 0..255 */
    bool data_blocked;           /* data-safety gate: replica not ACTIVE or lag over the RPO */
    const char *data_why;        /* why, for the reason line (may be NULL) */
    bool drift_held;             /* changed outside regiond and left alone (route53.correct_drift
                                    false): its live weight is kept by every step, the all-zero
                                    guard included, and the reason says so; with its records
                                    deleted (live -1, pinned at 0) it is 0 and never a change */
} decide_region_t;

typedef struct {
    uint32_t min_healthy_regions;    /* 0 = no minimum */
    decide_fail_open_t fail_open;
    int degraded_weight;             /* < 0: keep configured weight */
    uint64_t hold_down_ms;
    uint32_t max_changes;            /* 0 = no damping */
    uint64_t window_ms;
} decide_cfg_t;

typedef struct {
    uint64_t change_ms[DECIDE_HISTORY];  /* monotonic times of applied changes, newest last */
    size_t n;
} decide_history_t;

/* Record an applied change at now_ms (drops the oldest when full). */
void decide_history_add(decide_history_t *h, uint64_t now_ms);

typedef struct {
    int weight[DECIDE_MAX_REGIONS];          /* desired weight per input region */
    decide_rule_t rule[DECIDE_MAX_REGIONS];  /* why that region got its weight */
    decide_rule_t top_rule;                  /* the most important rule that fired */
    bool change;                             /* some weight differs from live */
    bool alarm;                              /* fail-open or all-zero: page a person */
    uint64_t retry_in_ms;                    /* > 0: a deferred change becomes due then */
    char reason[DECIDE_REASON_MAX];          /* one line: "eu-west-1 down -> 0; ..." */
} decide_out_t;

/* Decide.  n <= DECIDE_MAX_REGIONS; now_ms monotonic; hist may be NULL (no
 * change applied yet).  Fills every field of out.  Returns 0, or -1 on bad
 * input (n too large, weights out of range, no name, enum out of range)
 * with out zeroed but for "bad input: ..." in out->reason. */
int decide(const decide_cfg_t *cfg, const decide_region_t *in, size_t n,
           const decide_history_t *hist, uint64_t now_ms, decide_out_t *out);

/* Would draining (weight 0) region `idx` break a safety rule, given the
 * others' current inputs?  Counts the other regions whose step-1 weight is
 * > 0: none -> DECIDE_RULE_ALL_ZERO, fewer than min_healthy_regions ->
 * DECIDE_RULE_MIN_HEALTHY, else DECIDE_RULE_NONE; with a message in why,
 * e.g. "draining eu-west-1 would leave 1 region serving; min_healthy_regions
 * is 2".  Bad input (as decide(), or idx >= n) -> DECIDE_RULE_COUNT, which
 * a caller must refuse too. */
decide_rule_t decide_check_drain(const decide_cfg_t *cfg, const decide_region_t *in, size_t n,
                                 size_t idx, char *why, size_t whylen);

#endif
