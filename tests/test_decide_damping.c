/* test_decide_damping — decision.max_changes fires for every value the
 * config accepts (issue 15, item 11): the history of applied changes holds
 * as many entries as max_changes' largest value, and the config refuses
 * anything above it with the key path. */
#include <stdio.h>
#include <string.h>

#include "tests/cfg_kit.h"
#include "failover/decide.h"
#include "tests/decide_kit.h"

/* MAX changes applied one second apart inside a one-day window, then a
 * region returns: with max_changes MAX the return is deferred by damping;
 * with one change fewer in the history it is not. */
static void check_damping_at(uint32_t max)
{
    setup();
    cfg.max_changes = max;
    cfg.window_ms = 86400000;
    for (uint32_t i = 0; i < max; i++)
        decide_history_add(&hist, 1000 + (uint64_t)i * 1000);
    rg[B].health = HEALTH_UP;
    set_live(100, 0, 100);
    run(2000000);
    if (out.rule[B] != DECIDE_RULE_DAMPING)
        fprintf(stderr, "  max_changes %u: %u changes in the window did not damp (%s)\n",
                max, max, out.reason);
    CHECK_EQ_INT(out.rule[B], DECIDE_RULE_DAMPING);
    CHECK_EQ_INT(out.weight[B], 0);
    /* the oldest change leaves the window at 1000 + window */
    CHECK_EQ_INT(out.retry_in_ms, 1000 + 86400000 - 2000000);

    setup();
    cfg.max_changes = max;
    cfg.window_ms = 86400000;
    for (uint32_t i = 0; i + 1 < max; i++)
        decide_history_add(&hist, 1000 + (uint64_t)i * 1000);
    set_live(100, 0, 100);
    run(2000000);
    CHECK_EQ_INT(out.rule[B], DECIDE_RULE_HEALTH);
    CHECK_EQ_INT(out.weight[B], 100);
}

static void test_every_allowed_value_fires(void)
{
    static const uint32_t values[] = { 1, 6, 32, 33, 100, 999, CFG_MAX_CHANGES };

    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
        check_damping_at(values[i]);
}

/* Changes older than the window, even a full history of them, do not count. */
static void test_full_history_outside_window(void)
{
    setup();
    cfg.max_changes = CFG_MAX_CHANGES;
    cfg.window_ms = 60000;
    for (uint32_t i = 0; i < DECIDE_HISTORY + 10; i++)
        decide_history_add(&hist, 1000 + i);
    CHECK_EQ_INT(hist.n, DECIDE_HISTORY);
    set_live(100, 0, 100);
    run(1000000);
    CHECK_EQ_INT(out.rule[B], DECIDE_RULE_HEALTH);
}

static const char *with_max(const char *v)
{
    static char json[1024];

    snprintf(json, sizeof json,
             "{'decision':{'max_changes':%s},"
             "'regions':[{'name':'a','api':[{'url':'http://127.0.0.1:1/h'}]}]}", v);
    return json;
}

static void test_config_bounds(void)
{
    cfg_t *c = parse(with_max("1000"));
    CHECK(c != NULL);
    if (c)
        CHECK_EQ_INT(c->decision.max_changes, CFG_MAX_CHANGES);
    cfg_free(c);
    BAD(with_max("1001"), "decision.max_changes", "from 0 to 1000, got 1001");
    CHECK(DECIDE_HISTORY >= CFG_MAX_CHANGES);
}

int main(void)
{
    test_every_allowed_value_fires();
    test_full_history_outside_window();
    test_config_bounds();
    return check_finish();
}
