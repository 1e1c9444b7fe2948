/* test_decide_defer — the decision engine's anti-flap rules: hold-down,
 * damping, both at once, the minimum they must keep serving, and the
 * history of applied changes they count. */
#include <string.h>

#include "tests/check.h"
#include "failover/decide.h"
#include "tests/decide_kit.h"

static void test_hold_down(void)
{
    /* A drain is never held down: a broken region leaves at once. */
    setup();
    cfg.hold_down_ms = 60000;
    decide_history_add(&hist, 10000);
    rg[B].health = HEALTH_DOWN;
    run(37000);
    check_weights(100, 0, 100);
    CHECK(out.change);
    CHECK_EQ_INT(out.rule[B], DECIDE_RULE_HEALTH);
    CHECK_EQ_INT(out.retry_in_ms, 0);

    /* Bringing a region back waits for the hold-down. */
    setup();
    cfg.hold_down_ms = 60000;
    decide_history_add(&hist, 10000);
    set_live(100, 0, 100);
    run(37000);
    check_weights(100, 0, 100);
    CHECK(!out.change && !out.alarm);
    CHECK_EQ_INT(out.rule[B], DECIDE_RULE_HOLD_DOWN);
    CHECK_EQ_INT(out.top_rule, DECIDE_RULE_HOLD_DOWN);
    CHECK_EQ_INT(out.retry_in_ms, 33000);
    CHECK(strcmp(out.reason, "hold-down: eu-west-1 up -> 100 deferred 33 s") == 0);

    run(69999);
    CHECK_EQ_INT(out.retry_in_ms, 1);
    CHECK_EQ_INT(out.weight[B], 0);
    run(70000);
    CHECK_EQ_INT(out.weight[B], 100);
    CHECK_EQ_INT(out.retry_in_ms, 0);
    CHECK_EQ_INT(out.rule[B], DECIDE_RULE_HEALTH);
}

/* 100/100/100, eu-west-1 down -> 100/0/100; it heals during the hold-down
 * -> deferred; after the hold-down -> 100/100/100. */
static void test_scenario_recovery(void)
{
    setup();
    cfg.hold_down_ms = 60000;
    rg[B].health = HEALTH_DOWN;
    run(1000);
    check_weights(100, 0, 100);
    apply(1000);

    rg[B].health = HEALTH_UP;
    run(31000);
    check_weights(100, 0, 100);
    CHECK(!out.change);
    CHECK_EQ_INT(out.top_rule, DECIDE_RULE_HOLD_DOWN);
    CHECK_EQ_INT(out.retry_in_ms, 30000);
    CHECK(strcmp(out.reason, "hold-down: eu-west-1 up -> 100 deferred 30 s") == 0);
    apply(31000);

    run(31000 + out.retry_in_ms);
    check_weights(100, 100, 100);
    CHECK(out.change);
    CHECK_EQ_INT(out.top_rule, DECIDE_RULE_HEALTH);
    CHECK(strcmp(out.reason, "eu-west-1 up -> weight 100 (was 0)") == 0);
    apply(61000);
    run(62000);
    CHECK(!out.change);
}

static void test_damping(void)
{
    setup();
    cfg.max_changes = 3;
    cfg.window_ms = 600000;
    decide_history_add(&hist, 10000);
    decide_history_add(&hist, 20000);
    decide_history_add(&hist, 30000);
    /* a drain goes through damping */
    rg[B].health = HEALTH_DOWN;
    run(100000);
    check_weights(100, 0, 100);
    CHECK_EQ_INT(out.rule[B], DECIDE_RULE_HEALTH);

    /* a return waits for the window */
    rg[B].health = HEALTH_UP;
    set_live(100, 0, 100);
    run(100000);
    check_weights(100, 0, 100);
    CHECK_EQ_INT(out.rule[B], DECIDE_RULE_DAMPING);
    CHECK_EQ_INT(out.top_rule, DECIDE_RULE_DAMPING);
    CHECK_EQ_INT(out.retry_in_ms, 510000);
    CHECK(strcmp(out.reason, "damping: 3 changes in 600 s: eu-west-1 up -> 100 "
                             "deferred 510 s") == 0);

    run(609999);
    CHECK_EQ_INT(out.weight[B], 0);
    CHECK_EQ_INT(out.retry_in_ms, 1);
    /* the change at 10000 leaves the window (now - window, now] */
    run(610000);
    check_weights(100, 100, 100);
    CHECK_EQ_INT(out.retry_in_ms, 0);

    /* two changes in the window are below max: no damping */
    cfg.max_changes = 4;
    run(100000);
    CHECK_EQ_INT(out.weight[B], 100);

    /* overrides skip damping */
    cfg.max_changes = 3;
    rg[A].override = DECIDE_OV_DRAIN;
    run(100000);
    check_weights(0, 0, 100);
    CHECK_EQ_INT(out.rule[A], DECIDE_RULE_OVERRIDE);
    CHECK_EQ_INT(out.rule[B], DECIDE_RULE_DAMPING);
}

static void test_hold_down_and_damping(void)
{
    /* both hold: due when the later ends, named after it */
    setup();
    cfg.hold_down_ms = 60000;
    cfg.max_changes = 2;
    cfg.window_ms = 120000;
    decide_history_add(&hist, 50000);
    decide_history_add(&hist, 90000);
    set_live(100, 100, 0);
    run(100000);
    CHECK_EQ_INT(out.rule[C], DECIDE_RULE_DAMPING);
    CHECK_EQ_INT(out.retry_in_ms, 70000);
    cfg.window_ms = 70000;
    run(100000);
    CHECK_EQ_INT(out.rule[C], DECIDE_RULE_HOLD_DOWN);
    CHECK_EQ_INT(out.retry_in_ms, 50000);
}

static void test_defer_keeps_minimum(void)
{
    /* a region coming back is not held out while too few serve */
    setup();
    cfg.hold_down_ms = 60000;
    cfg.min_healthy_regions = 2;
    set_live(100, 0, 0);
    set_health(HEALTH_UP, HEALTH_UP, HEALTH_UP);
    decide_history_add(&hist, 10000);
    run(20000);
    check_weights(100, 100, 0);
    CHECK_EQ_INT(out.rule[B], DECIDE_RULE_HEALTH);
    CHECK_EQ_INT(out.rule[C], DECIDE_RULE_HOLD_DOWN);
    CHECK_EQ_INT(out.retry_in_ms, 50000);

    /* a deferral never leaves nothing serving */
    setup();
    cfg.hold_down_ms = 60000;
    set_live(100, 0, 0);
    rg[A].override = DECIDE_OV_DRAIN;
    set_health(HEALTH_UP, HEALTH_UP, HEALTH_DOWN);
    decide_history_add(&hist, 10000);
    run(20000);
    check_weights(0, 100, 0);
    CHECK(!out.alarm);
}

static void test_history(void)
{
    decide_history_t h;

    memset(&h, 0, sizeof(h));
    for (uint64_t t = 1; t <= DECIDE_HISTORY + 5; t++)
        decide_history_add(&h, t * 1000);
    CHECK_EQ_INT(h.n, DECIDE_HISTORY);
    CHECK_EQ_INT(h.change_ms[0], 6000);
    CHECK_EQ_INT(h.change_ms[DECIDE_HISTORY - 1], (DECIDE_HISTORY + 5) * 1000);
}
int main(void)
{
    test_hold_down();
    test_scenario_recovery();
    test_damping();
    test_hold_down_and_damping();
    test_defer_keeps_minimum();
    test_history();
    return check_finish();
}
