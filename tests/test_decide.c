/* test_decide — the decision engine: every rule and how they interplay.
 * Hold-down, damping and the history they count are in test_decide_defer.c. */
#include <string.h>

#include "tests/check.h"
#include "failover/decide.h"
#include "tests/decide_kit.h"

static void test_names(void)
{
    CHECK(strcmp(decide_rule_str(DECIDE_RULE_NONE), "none") == 0);
    CHECK(strcmp(decide_rule_str(DECIDE_RULE_HEALTH), "health") == 0);
    CHECK(strcmp(decide_rule_str(DECIDE_RULE_OVERRIDE), "override") == 0);
    CHECK(strcmp(decide_rule_str(DECIDE_RULE_FAIL_OPEN), "fail_open") == 0);
    CHECK(strcmp(decide_rule_str(DECIDE_RULE_MIN_HEALTHY), "min_healthy_regions") == 0);
    CHECK(strcmp(decide_rule_str(DECIDE_RULE_ALL_ZERO), "all_zero_guard") == 0);
    CHECK(strcmp(decide_rule_str(DECIDE_RULE_HOLD_DOWN), "hold_down") == 0);
    CHECK(strcmp(decide_rule_str(DECIDE_RULE_DAMPING), "damping") == 0);
    CHECK(strcmp(decide_rule_str(DECIDE_RULE_COUNT), "invalid") == 0);
}

static void test_all_up(void)
{
    setup();
    run(1000);
    check_weights(100, 100, 100);
    CHECK(!out.change && !out.alarm);
    CHECK_EQ_INT(out.top_rule, DECIDE_RULE_NONE);
    CHECK_EQ_INT(out.rule[A], DECIDE_RULE_NONE);
    CHECK_EQ_INT(out.retry_in_ms, 0);
    CHECK(strcmp(out.reason, "no change") == 0);
    CHECK_EQ_INT(decide(&cfg, rg, 0, NULL, 1000, &out), 0);
    CHECK(!out.change && !out.alarm);
}

static void test_one_down(void)
{
    setup();
    rg[B].health = HEALTH_DOWN;
    run(1000);
    check_weights(100, 0, 100);
    CHECK(out.change && !out.alarm);
    CHECK_EQ_INT(out.top_rule, DECIDE_RULE_HEALTH);
    CHECK_EQ_INT(out.rule[B], DECIDE_RULE_HEALTH);
    CHECK_EQ_INT(out.rule[A], DECIDE_RULE_NONE);
    CHECK(strcmp(out.reason, "eu-west-1 down -> weight 0 (was 100)") == 0);
}

static void test_degraded(void)
{
    setup();
    rg[B].health = HEALTH_DEGRADED;
    run(1000);
    check_weights(100, 100, 100);
    CHECK(!out.change);

    cfg.degraded_weight = 50;
    run(1000);
    check_weights(100, 50, 100);
    CHECK(out.change);
    CHECK_EQ_INT(out.rule[B], DECIDE_RULE_HEALTH);
    CHECK_CONTAINS(out.reason, "eu-west-1 degraded -> weight 50 (was 100)");

    /* never above configured: a region configured at 20 stays at 20 */
    rg[B].configured_weight = 20;
    rg[B].live_weight = 20;
    run(1000);
    CHECK_EQ_INT(out.weight[B], 20);
    CHECK(!out.change);
}

static void test_unknown(void)
{
    setup();
    rg[B].health = HEALTH_UNKNOWN;
    rg[B].live_weight = 40;
    run(1000);
    check_weights(100, 40, 100);
    CHECK(!out.change && !out.alarm);
    CHECK_EQ_INT(out.top_rule, DECIDE_RULE_NONE);

    /* everything unknown at start-up is no verdict, not an outage */
    set_health(HEALTH_UNKNOWN, HEALTH_UNKNOWN, HEALTH_UNKNOWN);
    cfg.fail_open = DECIDE_FAIL_OPEN_RESTORE;
    run(1000);
    check_weights(100, 40, 100);
    CHECK(!out.change && !out.alarm);
}

static void test_live_unknown(void)
{
    setup();
    set_live(-1, -1, 100);
    rg[A].health = HEALTH_UNKNOWN;
    rg[B].health = HEALTH_DOWN;
    run(1000);
    check_weights(100, 0, 100);
    CHECK(out.change);
    CHECK_EQ_INT(out.rule[A], DECIDE_RULE_HEALTH);
    CHECK_CONTAINS(out.reason, "us-east-1 unknown -> weight 100 (was unknown)");
    CHECK_CONTAINS(out.reason, "eu-west-1 down -> weight 0 (was unknown)");

    /* an unknown live weight cannot be kept: never deferred */
    cfg.hold_down_ms = 60000;
    decide_history_add(&hist, 900);
    run(1000);
    check_weights(100, 0, 100);
    CHECK_EQ_INT(out.retry_in_ms, 0);

    /* known output equal to... nothing: still a change */
    setup();
    rg[C].live_weight = -1;
    run(1000);
    CHECK(out.change);
    CHECK_EQ_INT(out.weight[C], 100);
}

static void test_fail_open_keep(void)
{
    setup();
    set_live(100, 0, 100);
    set_health(HEALTH_DOWN, HEALTH_DOWN, HEALTH_DOWN);
    run(1000);
    check_weights(100, 0, 100);
    CHECK(!out.change && out.alarm);
    CHECK_EQ_INT(out.top_rule, DECIDE_RULE_FAIL_OPEN);
    CHECK_EQ_INT(out.rule[A], DECIDE_RULE_FAIL_OPEN);
    CHECK(strcmp(out.reason, "all 3 regions down: fail open, keeping live weights") == 0);

    /* a region with unknown live weight gets its configured one */
    rg[B].live_weight = -1;
    rg[B].configured_weight = 60;
    run(1000);
    check_weights(100, 60, 100);
    CHECK(out.change && out.alarm);

    /* down plus unknown: still nothing up */
    setup();
    set_health(HEALTH_DOWN, HEALTH_UNKNOWN, HEALTH_DOWN);
    run(1000);
    check_weights(100, 100, 100);
    CHECK(out.alarm);
    CHECK_CONTAINS(out.reason, "no region up or degraded (2 down, 1 unknown): fail open");
}

static void test_fail_open_restore(void)
{
    setup();
    cfg.fail_open = DECIDE_FAIL_OPEN_RESTORE;
    cfg.min_healthy_regions = 3;
    set_live(100, 0, 0);
    set_health(HEALTH_DOWN, HEALTH_DOWN, HEALTH_DOWN);
    rg[C].configured_weight = 50;
    run(1000);
    check_weights(100, 100, 50);
    CHECK(out.change && out.alarm);
    CHECK_EQ_INT(out.top_rule, DECIDE_RULE_FAIL_OPEN);
    CHECK_CONTAINS(out.reason, "all 3 regions down: fail open, restoring configured weights");
    CHECK_CONTAINS(out.reason, "eu-west-1 -> weight 100 (was 0)");

    /* overrides still apply; fail open is not deferred by hold-down */
    rg[C].override = DECIDE_OV_DRAIN;
    cfg.hold_down_ms = 60000;
    decide_history_add(&hist, 900);
    run(1000);
    check_weights(100, 100, 0);
    CHECK_EQ_INT(out.rule[C], DECIDE_RULE_OVERRIDE);
    CHECK_EQ_INT(out.retry_in_ms, 0);
    CHECK_EQ_INT(out.top_rule, DECIDE_RULE_FAIL_OPEN);
}

static void test_fail_open_restore_unknown(void)
{
    /* with a region still unknown (a start) restore keeps the live weights: a region drained before the
     * start is not restored on one region's verdict */
    setup();
    cfg.fail_open = DECIDE_FAIL_OPEN_RESTORE;
    set_live(100, 0, 100);
    set_health(HEALTH_UNKNOWN, HEALTH_DOWN, HEALTH_UNKNOWN);
    run(1000);
    check_weights(100, 0, 100);
    CHECK(!out.change && out.alarm);
    CHECK_EQ_INT(out.top_rule, DECIDE_RULE_FAIL_OPEN);
    CHECK(strcmp(out.reason, "no region up or degraded (1 down, 2 unknown): fail open, keeping live weights "
                              "(restore waits: 2 regions unknown)") == 0);
    set_health(HEALTH_DOWN, HEALTH_DOWN, HEALTH_UNKNOWN);
    set_live(0, 0, 100);
    run(1000);
    check_weights(0, 0, 100);
    CHECK(!out.change);
    CHECK_CONTAINS(out.reason, "keeping live weights (restore waits: 1 region unknown)");
    /* the last verdict in, every region down: restored */
    set_health(HEALTH_DOWN, HEALTH_DOWN, HEALTH_DOWN);
    run(1000);
    check_weights(100, 100, 100);
    CHECK(out.change && out.alarm);
    CHECK_CONTAINS(out.reason, "all 3 regions down: fail open, restoring configured weights");
}

static void test_min_healthy(void)
{
    /* two down of three, both serving: exactly one kept, in config order */
    setup();
    cfg.min_healthy_regions = 2;
    set_health(HEALTH_DOWN, HEALTH_DOWN, HEALTH_UP);
    run(1000);
    check_weights(100, 0, 100);
    CHECK_EQ_INT(out.rule[A], DECIDE_RULE_MIN_HEALTHY);
    CHECK_EQ_INT(out.rule[B], DECIDE_RULE_HEALTH);
    CHECK_EQ_INT(out.top_rule, DECIDE_RULE_MIN_HEALTHY);
    CHECK(out.change && !out.alarm);
    CHECK_CONTAINS(out.reason, "min_healthy_regions 2: keeping us-east-1 at 100 (down)");
    CHECK_CONTAINS(out.reason, "eu-west-1 down -> weight 0 (was 100)");

    /* healthiest first: a degraded region (degraded_weight 0) before a down one */
    cfg.degraded_weight = 0;
    set_health(HEALTH_DOWN, HEALTH_DEGRADED, HEALTH_UP);
    run(1000);
    check_weights(0, 100, 100);
    CHECK_EQ_INT(out.rule[B], DECIDE_RULE_MIN_HEALTHY);
    CHECK_CONTAINS(out.reason, "keeping eu-west-1 at 100 (degraded)");

    /* only a region that serves now can be kept */
    cfg.degraded_weight = -1;
    set_health(HEALTH_DOWN, HEALTH_DOWN, HEALTH_UP);
    set_live(0, 0, 100);
    run(1000);
    check_weights(0, 0, 100);
    CHECK(!out.change);
    CHECK_EQ_INT(out.top_rule, DECIDE_RULE_NONE);
    CHECK_CONTAINS(out.reason, "min_healthy_regions 2: only 1 region serving");

    /* a drain override is kept in too: the rule is never skipped */
    setup();
    cfg.min_healthy_regions = 2;
    set_health(HEALTH_DOWN, HEALTH_UP, HEALTH_DOWN);
    rg[B].override = DECIDE_OV_DRAIN;
    run(1000);
    check_weights(100, 100, 0);
    CHECK_EQ_INT(out.rule[A], DECIDE_RULE_MIN_HEALTHY);
    CHECK_EQ_INT(out.rule[B], DECIDE_RULE_MIN_HEALTHY);
    CHECK_EQ_INT(out.rule[C], DECIDE_RULE_HEALTH);
    CHECK_CONTAINS(out.reason, "eu-west-1 at 100 (up, drain override)");
    CHECK_CONTAINS(out.reason, "us-east-1 at 100 (down)");
}

static void test_override_drain(void)
{
    setup();
    cfg.hold_down_ms = 60000;
    decide_history_add(&hist, 10000);
    rg[B].override = DECIDE_OV_DRAIN;
    set_live(100, 100, 0);   /* C healthy again but drained: its return is held down */
    run(20000);
    /* the drain skips the hold-down; C's return is deferred */
    check_weights(100, 0, 0);
    CHECK(out.change);
    CHECK_EQ_INT(out.rule[B], DECIDE_RULE_OVERRIDE);
    CHECK_EQ_INT(out.rule[C], DECIDE_RULE_HOLD_DOWN);
    CHECK_EQ_INT(out.top_rule, DECIDE_RULE_OVERRIDE);
    CHECK_EQ_INT(out.retry_in_ms, 50000);
    CHECK_CONTAINS(out.reason, "eu-west-1 drained by override -> weight 0 (was 100)");
    CHECK_CONTAINS(out.reason, "hold-down: ap-southeast-2 up -> 100 deferred 50 s");
}

static void test_check_drain(void)
{
    char why[DECIDE_REASON_MAX];

    setup();
    cfg.min_healthy_regions = 2;
    CHECK_EQ_INT(decide_check_drain(&cfg, rg, 3, B, why, sizeof(why)), DECIDE_RULE_NONE);
    CHECK(strcmp(why, "draining eu-west-1 leaves 2 regions serving") == 0);

    rg[A].health = HEALTH_DOWN;
    CHECK_EQ_INT(decide_check_drain(&cfg, rg, 3, B, why, sizeof(why)),
                 DECIDE_RULE_MIN_HEALTHY);
    CHECK(strcmp(why, "draining eu-west-1 would leave 1 region serving; "
                      "min_healthy_regions is 2") == 0);

    rg[C].override = DECIDE_OV_DRAIN;
    CHECK_EQ_INT(decide_check_drain(&cfg, rg, 3, B, why, sizeof(why)), DECIDE_RULE_ALL_ZERO);
    CHECK_CONTAINS(why, "draining eu-west-1 would leave no region serving");

    cfg.min_healthy_regions = 0;
    CHECK_EQ_INT(decide_check_drain(&cfg, rg, 3, B, why, sizeof(why)), DECIDE_RULE_ALL_ZERO);
    CHECK_EQ_INT(decide_check_drain(&cfg, rg, 3, 3, why, sizeof(why)), DECIDE_RULE_COUNT);
    CHECK_CONTAINS(why, "bad input");
    CHECK_EQ_INT(decide_check_drain(&cfg, rg, 3, C, NULL, 0), DECIDE_RULE_NONE);
}

static void test_pin(void)
{
    setup();
    cfg.hold_down_ms = 60000;
    decide_history_add(&hist, 900);
    rg[A].override = DECIDE_OV_PIN;
    rg[A].pin_weight = 30;
    rg[A].health = HEALTH_DOWN;
    run(1000);
    check_weights(30, 100, 100);
    CHECK_EQ_INT(out.rule[A], DECIDE_RULE_OVERRIDE);
    CHECK_EQ_INT(out.top_rule, DECIDE_RULE_OVERRIDE);
    CHECK_EQ_INT(out.retry_in_ms, 0);
    CHECK(strcmp(out.reason, "us-east-1 pinned by override -> weight 30 (was 100)") == 0);

    /* a pin already in force: no change, still shown as the override */
    rg[A].live_weight = 30;
    run(1000);
    CHECK(!out.change);
    CHECK_EQ_INT(out.rule[A], DECIDE_RULE_OVERRIDE);
    CHECK_EQ_INT(out.top_rule, DECIDE_RULE_NONE);
    CHECK(strcmp(out.reason, "no change") == 0);
}

static void test_all_zero(void)
{
    setup();
    rg[A].override = rg[B].override = rg[C].override = DECIDE_OV_DRAIN;
    run(1000);
    check_weights(100, 100, 100);
    CHECK(!out.change && out.alarm);
    CHECK_EQ_INT(out.top_rule, DECIDE_RULE_ALL_ZERO);
    CHECK_EQ_INT(out.rule[B], DECIDE_RULE_ALL_ZERO);
    CHECK_CONTAINS(out.reason, "all-zero guard: every weight would be 0, keeping live weights");

    /* some live unknown: kept as 0 */
    set_live(0, -1, 70);
    run(1000);
    check_weights(0, 0, 70);
    CHECK(out.change && out.alarm);

    /* no live weight above 0: configured */
    set_live(0, -1, 0);
    rg[A].configured_weight = 10;
    run(1000);
    check_weights(10, 100, 100);
    CHECK_CONTAINS(out.reason, "restoring configured weights");

    /* a pin of 0 everywhere is the same */
    setup();
    rg[A].override = rg[B].override = rg[C].override = DECIDE_OV_PIN;
    run(1000);
    check_weights(100, 100, 100);
    CHECK(out.alarm);
}
/* Drift left alone (correct_drift false): every step keeps its live
 * weight; a group zeroed by someone else is not fought. */
static void test_all_zero_drift_held(void)
{
    /* A and B zeroed outside regiond, C down (drained by regiond): nothing
     * is raised, least of all the down region */
    setup();
    set_live(0, 0, 0);
    set_health(HEALTH_UP, HEALTH_UP, HEALTH_DOWN);
    rg[A].override = rg[B].override = DECIDE_OV_PIN;
    rg[A].drift_held = rg[B].drift_held = true;
    run(1000);
    check_weights(0, 0, 0);
    CHECK(!out.change && out.alarm);
    CHECK_EQ_INT(out.top_rule, DECIDE_RULE_ALL_ZERO);
    CHECK_CONTAINS(out.reason, "not fought (correct_drift false)");
    CHECK_CONTAINS(out.reason, "changed outside regiond, left alone (correct_drift false): us-east-1 at 0 (up), "
                               "eu-west-1 at 0 (up)");

    /* the same with C up and not drifted: C, regiond's own, serves again */
    set_health(HEALTH_UP, HEALTH_UP, HEALTH_UP);
    run(1000);
    check_weights(0, 0, 100);
    CHECK(out.change && !out.alarm);   /* the drift alarms stand; the result is not all-zero */

    /* nothing drifted, every live weight 0, the rest drained by overrides,
     * A down: the guard restores the up ones, the down one stays out */
    setup();
    set_live(0, 0, 0);
    set_health(HEALTH_DOWN, HEALTH_UP, HEALTH_UP);
    rg[B].override = rg[C].override = DECIDE_OV_DRAIN;
    run(1000);
    check_weights(0, 100, 100);
    CHECK_EQ_INT(out.top_rule, DECIDE_RULE_ALL_ZERO);
    CHECK_CONTAINS(out.reason, "restoring configured weights");

    /* a held region at 50 is named with its live weight, and kept */
    setup();
    rg[B].override = DECIDE_OV_PIN;
    rg[B].pin_weight = rg[B].live_weight = 50;
    rg[B].drift_held = true;
    run(1000);
    check_weights(100, 50, 100);
    CHECK(!out.change);
    CHECK_CONTAINS(out.reason, "left alone (correct_drift false): eu-west-1 at 50 (up)");

    /* a held region whose records were deleted (live -1, pinned at 0): it
     * serves nothing, is no change, and the reason claims no weight for it;
     * with the others down the all-zero guard keeps them */
    setup();
    rg[C].override = DECIDE_OV_PIN;
    rg[C].pin_weight = 0;
    rg[C].live_weight = -1;
    rg[C].drift_held = true;
    run(1000);
    check_weights(100, 100, 0);
    CHECK(!out.change);
    CHECK_CONTAINS(out.reason, "left alone (correct_drift false): ap-southeast-2 without a record (up)");
    CHECK(strstr(out.reason, "pinned by override") == NULL);
    set_health(HEALTH_DOWN, HEALTH_DOWN, HEALTH_UP);
    run(1000);
    check_weights(100, 100, 0);
    CHECK(!out.change && out.alarm);
    CHECK_EQ_INT(out.top_rule, DECIDE_RULE_ALL_ZERO);
}

static void test_bad_input(void)
{
    setup();
    CHECK_EQ_INT(decide(&cfg, rg, DECIDE_MAX_REGIONS + 1, NULL, 0, &out), -1);
    CHECK_CONTAINS(out.reason, "bad input: 65 regions");
    rg[B].configured_weight = 256;
    CHECK_EQ_INT(decide(&cfg, rg, 3, NULL, 0, &out), -1);
    CHECK_CONTAINS(out.reason, "eu-west-1 configured_weight 256");
    setup();
    rg[B].live_weight = -2;
    CHECK_EQ_INT(decide(&cfg, rg, 3, NULL, 0, &out), -1);
    CHECK_CONTAINS(out.reason, "live_weight -2");
    setup();
    rg[C].pin_weight = 300;
    run(0);  /* pin_weight only matters under a pin */
    rg[C].override = DECIDE_OV_PIN;
    CHECK_EQ_INT(decide(&cfg, rg, 3, NULL, 0, &out), -1);
    CHECK_CONTAINS(out.reason, "pin_weight 300");
    CHECK(!out.change && out.weight[A] == 0);
    setup();
    rg[A].name = NULL;
    CHECK_EQ_INT(decide(&cfg, rg, 3, NULL, 0, &out), -1);
    setup();
    rg[A].health = (health_state_t)9;
    CHECK_EQ_INT(decide(&cfg, rg, 3, NULL, 0, &out), -1);
    setup();
    cfg.degraded_weight = 256;
    CHECK_EQ_INT(decide(&cfg, rg, 3, NULL, 0, &out), -1);
    setup();
    hist.n = DECIDE_HISTORY + 1;
    CHECK_EQ_INT(decide(&cfg, rg, 3, &hist, 0, &out), -1);
    CHECK_EQ_INT(decide(NULL, rg, 3, NULL, 0, &out), -1);
    CHECK_EQ_INT(decide(&cfg, rg, 3, NULL, 0, NULL), -1);
}

static void test_long_reason(void)
{
    static char names[DECIDE_MAX_REGIONS][40];

    setup();
    for (int i = 0; i < DECIDE_MAX_REGIONS; i++) {
        snprintf(names[i], sizeof(names[i]), "a-rather-long-region-name-%02d", i);
        rg[i].name = names[i];
        rg[i].health = i ? HEALTH_DOWN : HEALTH_UP;
        rg[i].configured_weight = 100;
        rg[i].live_weight = 100;
    }
    CHECK_EQ_INT(decide(&cfg, rg, DECIDE_MAX_REGIONS, NULL, 0, &out), 0);
    CHECK_EQ_INT(strlen(out.reason), DECIDE_REASON_MAX - 1);
    CHECK(strcmp(out.reason + DECIDE_REASON_MAX - 4, "...") == 0);
    CHECK_EQ_INT(out.weight[DECIDE_MAX_REGIONS - 1], 0);
}

/* The data-safety gate: a failure of us-east-1 moves its traffic only to
 * regions whose data is safe. */
static void test_data_gate(void)
{
    setup();
    rg[C].data_blocked = true;
    rg[C].data_why = "replication lag into ap-southeast-2 12000 ms > rpo_ms 5000";
    run(1000);   /* nobody out: the gated region keeps serving its own users */
    check_weights(100, 100, 100);
    CHECK(!out.change);

    rg[A].health = HEALTH_DOWN;
    run(1000);   /* us-east-1 out: its traffic must not flow to ap-southeast-2 */
    check_weights(0, 100, 0);
    CHECK_EQ_INT(out.rule[C], DECIDE_RULE_DATA_GATE);
    CHECK_EQ_INT(out.top_rule, DECIDE_RULE_DATA_GATE);
    CHECK_CONTAINS(out.reason, "ap-southeast-2 held by the data gate (replication lag");
    CHECK_CONTAINS(out.reason, "us-east-1 down -> weight 0");

    /* never raised while blocked */
    setup();
    rg[C].data_blocked = true;
    set_live(100, 100, 0);
    run(1000);
    check_weights(100, 100, 0);
    CHECK_EQ_INT(out.rule[C], DECIDE_RULE_DATA_GATE);

    /* the safety rules still win: min_healthy_regions 2 keeps it in */
    setup();
    cfg.min_healthy_regions = 2;
    rg[C].data_blocked = true;
    rg[A].health = HEALTH_DOWN;
    run(1000);
    check_weights(0, 100, 100);

    /* an operator's pin beats the gate */
    setup();
    rg[C].data_blocked = true;
    rg[C].override = DECIDE_OV_PIN;
    rg[C].pin_weight = 50;
    rg[A].health = HEALTH_DOWN;
    run(1000);
    check_weights(0, 100, 50);
    CHECK(strcmp(decide_rule_str(DECIDE_RULE_DATA_GATE), "data_gate") == 0);
}
int main(void)
{
    test_data_gate();
    test_names();
    test_all_up();
    test_one_down();
    test_degraded();
    test_unknown();
    test_live_unknown();
    test_fail_open_keep();
    test_fail_open_restore();
    test_fail_open_restore_unknown();
    test_min_healthy();
    test_override_drain();
    test_check_drain();
    test_pin();
    test_all_zero();
    test_all_zero_drift_held();
    test_bad_input();
    test_long_reason();
    return check_finish();
}
