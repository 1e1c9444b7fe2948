/* decide_kit.h — what test_decide.c and test_decide_defer.c share: three
 * regions (A, B, C) and a config set up fresh by setup(), decide() run on
 * them, and the caller's side that applies a decision. */
#ifndef REGIOND_DECIDE_KIT_H
#define REGIOND_DECIDE_KIT_H

#include <string.h>

#include "tests/check.h"
#include "failover/decide.h"

#define A 0
#define B 1
#define C 2

static decide_region_t rg[DECIDE_MAX_REGIONS + 1];
static decide_cfg_t cfg;
static decide_history_t hist;
static decide_out_t out;

/* Three regions, all UP, configured and live 100, no overrides; a config
 * with no minimum, fail open KEEP, no hold-down and no damping. */
static inline void setup(void)
{
    static const char *names[] = { "us-east-1", "eu-west-1", "ap-southeast-2" };

    memset(rg, 0, sizeof(rg));
    for (int i = 0; i < 3; i++) {
        rg[i].name = names[i];
        rg[i].health = HEALTH_UP;
        rg[i].configured_weight = 100;
        rg[i].live_weight = 100;
    }
    memset(&cfg, 0, sizeof(cfg));
    cfg.fail_open = DECIDE_FAIL_OPEN_KEEP;
    cfg.degraded_weight = -1;
    memset(&hist, 0, sizeof(hist));
}

static inline void set_live(int a, int b, int c)
{
    rg[A].live_weight = a;
    rg[B].live_weight = b;
    rg[C].live_weight = c;
}

static inline void set_health(health_state_t a, health_state_t b, health_state_t c)
{
    rg[A].health = a;
    rg[B].health = b;
    rg[C].health = c;
}

/* Run decide on the three regions at now_ms; CHECKs it returned 0. */
static inline void run(uint64_t now_ms)
{
    CHECK_EQ_INT(decide(&cfg, rg, 3, &hist, now_ms, &out), 0);
}

static inline void check_weights(int a, int b, int c)
{
    CHECK_EQ_INT(out.weight[A], a);
    CHECK_EQ_INT(out.weight[B], b);
    CHECK_EQ_INT(out.weight[C], c);
}

/* The caller's side: apply the decision to live weights and record it. */
static inline void apply(uint64_t now_ms)
{
    if (!out.change)
        return;
    set_live(out.weight[A], out.weight[B], out.weight[C]);
    decide_history_add(&hist, now_ms);
}

#endif
