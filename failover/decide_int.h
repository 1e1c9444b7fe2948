/* decide_int.h — private to the decision engine: the context one decide()
 * call fills in, and what its files share.  decide.c runs the steps (base
 * weights, data gate, the safety rules); decide_defer.c holds the hold-down
 * and damping bookkeeping; decide_reason.c writes the reason line. */
#ifndef REGIOND_DECIDE_INT_H
#define REGIOND_DECIDE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "failover/decide.h"

/* What the steps of one decide() call found, for top_rule and the reason. */
typedef struct {
    const decide_cfg_t *cfg;
    const decide_region_t *in;
    size_t n;
    decide_out_t *out;
    int want[DECIDE_MAX_REGIONS];   /* weight a deferred region would have had */
    size_t down, unknown;           /* health counts */
    bool fail_open;                 /* step 2 fired */
    bool all_zero;                  /* step 4 fired */
    bool all_zero_configured;       /* step 4 used configured weights */
    size_t kept;                    /* regions kept in by step 3 */
    size_t held;                    /* drift_held regions step 4 left alone */
    size_t serving;                 /* regions serving after step 3 */
    size_t deferred;                /* changes deferred by steps 5-6 */
    size_t window_changes;          /* changes within the damping window */
} decide_ctx_t;

static inline const char *plural(size_t n)
{
    return n == 1 ? "" : "s";
}

/* Order in which step 3 keeps regions in: healthiest first. */
static inline int health_rank(health_state_t s)
{
    switch (s) {
    case HEALTH_UP:       return 0;
    case HEALTH_DEGRADED: return 1;
    case HEALTH_UNKNOWN:  return 2;
    case HEALTH_DOWN:     return 3;
    }
    return 3;
}

static inline size_t count_serving(const decide_ctx_t *c)
{
    size_t serving = 0;

    for (size_t i = 0; i < c->n; i++)
        serving += c->out->weight[i] > 0;
    return serving;
}

/* Step 2 restores configured weights: fail_open RESTORE and every region DOWN
 * (none still UNKNOWN; with some unknown it keeps the live weights). */
static inline bool decide_fail_open_restores(const decide_ctx_t *c)
{
    return c->cfg->fail_open == DECIDE_FAIL_OPEN_RESTORE && c->unknown == 0;
}

/* decide_defer.c — steps 5-6: defer health-driven weight increases during
 * the hold-down or while damping holds. */
void decide_step_defer(decide_ctx_t *c, const decide_history_t *hist, uint64_t now_ms);

/* decide_reason.c — the reason for people, from what the steps recorded. */
void decide_write_reason(const decide_ctx_t *c);

#endif
