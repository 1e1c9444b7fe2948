/* test_view_mark — a drill's mark in another observer's view as a leader
 * counts it (cluster/view_mark.h; docs/ha.md known defect 39, its
 * follow-up): the reason daemon/observers.c writes for a mark parses to
 * its drill id (its own and the leader's form), other reasons to none; a
 * down mark naming drill N counts only when N on that region is among the
 * leader's acting fail drills, else it is no opinion (unknown); a state
 * that is not a mark, or not down, counts as it stands.  Known defect 41:
 * a follower's mark names its own probes' state after the drill ("; own
 * probes: down"), which older builds parse as the same mark and a leader
 * discounting the mark counts instead of no opinion.  The leader's alarm
 * cluster-mark-stale keeps a discounted mark's age across a combine that
 * missed it (no flapping) until unseen for the hold, and cuts its list at
 * an entry with "... and N more"; a follower's own probes going down under
 * a mark change the signature that writes its view at once. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cluster/view_mark.h"
#include "tests/check.h"

static view_region_t reg(const char *name, view_state_t st, const char *reason)
{
    view_region_t r;
    memset(&r, 0, sizeof(r));
    snprintf(r.region, sizeof(r.region), "%s", name);
    r.state = st;
    view_set_reason(&r, reason);
    return r;
}

static void test_parse(void)
{
    char buf[128];
    snprintf(buf, sizeof(buf), "drill %" PRIu64 ": failed by drill%s", (uint64_t)7, " (the leader's)");
    CHECK(view_mark_drill(buf) == 7);   /* the text observers.c marked() writes */
    CHECK(view_mark_drill("drill 12: failed by drill") == 12);
    CHECK(view_mark_drill("drill 4503599627370496: failed by drill") == 4503599627370496ULL);
    CHECK(view_mark_drill("drill 4503599627370497: failed by drill") == 0);
    CHECK(view_mark_drill("drill 99999999999999999999: failed by drill") == 0);
    CHECK(view_mark_drill("drill 0: failed by drill") == 0);
    CHECK(view_mark_drill("drill : failed by drill") == 0);
    CHECK(view_mark_drill("drill 3: probes failing") == 0);
    CHECK(view_mark_drill("3 of 3 probes failed") == 0);
    CHECK(view_mark_drill("") == 0);
    CHECK(view_mark_drill(NULL) == 0);
}

static void test_counted(void)
{
    view_drill_t act[2] = { { .id = 5, .region = "r2" }, { .id = 9, .region = "r3" } };
    view_region_t m = reg("r2", VIEW_DOWN, "drill 5: failed by drill (the leader's)");
    CHECK_EQ_INT(view_mark_counted(&m, act, 2), VIEW_DOWN);        /* drill 5 on r2 acts: a down vote */
    CHECK_EQ_INT(view_mark_counted(&m, act, 0), VIEW_UNKNOWN);     /* the leader acts no drill: stale mark */
    CHECK_EQ_INT(view_mark_counted(&m, act + 1, 1), VIEW_UNKNOWN); /* only drill 9 acts */
    view_region_t o = reg("r2", VIEW_DOWN, "drill 9: failed by drill (the leader's)");
    CHECK_EQ_INT(view_mark_counted(&o, act, 2), VIEW_UNKNOWN);     /* drill 9 acts, but on r3 */
    view_region_t own = reg("r3", VIEW_DOWN, "drill 9: failed by drill");
    CHECK_EQ_INT(view_mark_counted(&own, act, 2), VIEW_DOWN);
    CHECK_EQ_INT(view_mark_counted(&own, act, 1), VIEW_UNKNOWN);
    view_region_t real = reg("r2", VIEW_DOWN, "3 of 3 probes failed");
    CHECK_EQ_INT(view_mark_counted(&real, act, 0), VIEW_DOWN);     /* real probes count as ever */
    view_region_t up = reg("r2", VIEW_UP, "drill 8: failed by drill");
    CHECK_EQ_INT(view_mark_counted(&up, act, 0), VIEW_UP);
    view_region_t deg = reg("r2", VIEW_DEGRADED, "");
    CHECK_EQ_INT(view_mark_counted(&deg, NULL, 0), VIEW_DEGRADED);
}

static void test_own(void)
{
    view_state_t s = VIEW_STATE_N;
    CHECK(view_mark_own("drill 5: failed by drill (the leader's); own probes: down", &s) && s == VIEW_DOWN);
    CHECK(view_mark_own("drill 5: failed by drill (the leader's); own probes: up", &s) && s == VIEW_UP);
    CHECK(view_mark_own("drill 5: failed by drill (the leader's); own probes: degraded", &s) && s == VIEW_DEGRADED);
    CHECK(view_mark_own("drill 5: failed by drill; own probes: unknown", &s) && s == VIEW_UNKNOWN);
    /* older builds read the same drill from the longer reason */
    CHECK(view_mark_drill("drill 5: failed by drill (the leader's); own probes: down") == 5);
    static const char *const bad[] = {
        "drill 5: failed by drill (the leader's)",                  /* an older build's mark */
        "drill 5: failed by drill (the leader's); own probes: ",
        "drill 5: failed by drill (the leader's); own probes: dow",
        "drill 5: failed by drill (the leader's); own probes: downx",
        "drill 5: failed by drill (the leader's); own probes: down ",
        "drill 5: failed by drill (the leader's); own probes: DOWN",
        "drill 5: failed by drill (the leader's); own probes: invalid",
        "drill 5: failed by drill (the leader's) own probes: down",
        "drill 5: failed by drill (the leader's)x; own probes: down",
        "drill 0: failed by drill (the leader's); own probes: down",
        "drill x: failed by drill; own probes: down",
        "3 of 3 probes failed; own probes: down",
        "",
        NULL,
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        s = VIEW_STATE_N;
        CHECK(!view_mark_own(bad[i], &s) && s == VIEW_STATE_N);
    }
    /* the longest mark fits a view's reason whole */
    char buf[VIEW_REASON_MAX + 64];
    int n = snprintf(buf, sizeof(buf), "drill %" PRIu64 ": failed by drill (the leader's)" VIEW_MARK_OWN "degraded",
                     (uint64_t)4503599627370496ULL);
    CHECK(n > 0 && n <= VIEW_REASON_MAX);
    view_region_t r = reg("r2", VIEW_DOWN, buf);
    CHECK(strcmp(r.reason, buf) == 0 && view_mark_own(r.reason, &s) && s == VIEW_DEGRADED);
}

/* A discounted mark counts as the follower's own probes' state (defect 41). */
static void test_fallback(void)
{
    view_drill_t act[1] = { { .id = 9, .region = "r3" } };
    view_region_t d = reg("r2", VIEW_DOWN, "drill 5: failed by drill (the leader's); own probes: down");
    CHECK(view_mark_stale(&d, act, 1));
    CHECK_EQ_INT(view_mark_counted(&d, act, 1), VIEW_DOWN);       /* R really down there: a down vote */
    CHECK_EQ_INT(view_mark_counted(&d, NULL, 0), VIEW_DOWN);
    view_region_t u = reg("r2", VIEW_DOWN, "drill 5: failed by drill (the leader's); own probes: up");
    CHECK_EQ_INT(view_mark_counted(&u, act, 1), VIEW_UP);         /* an up vote, not a stale down */
    view_region_t g = reg("r2", VIEW_DOWN, "drill 5: failed by drill (the leader's); own probes: degraded");
    CHECK_EQ_INT(view_mark_counted(&g, act, 1), VIEW_DEGRADED);
    view_region_t k = reg("r2", VIEW_DOWN, "drill 5: failed by drill (the leader's); own probes: unknown");
    CHECK_EQ_INT(view_mark_counted(&k, act, 1), VIEW_UNKNOWN);
    view_region_t old = reg("r2", VIEW_DOWN, "drill 5: failed by drill (the leader's)");
    CHECK(view_mark_stale(&old, act, 1));
    CHECK_EQ_INT(view_mark_counted(&old, act, 1), VIEW_UNKNOWN);  /* an older build's mark: no opinion */
    view_region_t bad = reg("r2", VIEW_DOWN, "drill 5: failed by drill (the leader's); own probes: up!");
    CHECK_EQ_INT(view_mark_counted(&bad, act, 1), VIEW_UNKNOWN);  /* malformed: no opinion */
    /* a mark of a drill acting here counts down whatever the own probes say */
    view_drill_t here[1] = { { .id = 5, .region = "r2" } };
    CHECK(!view_mark_stale(&u, here, 1));
    CHECK_EQ_INT(view_mark_counted(&u, here, 1), VIEW_DOWN);
    view_region_t real = reg("r2", VIEW_DOWN, "3 of 3 probes failed");
    CHECK(!view_mark_stale(&real, act, 1));
}

/* A mark's age survives a missed combine; the alarm holds 2 publish_ms
 * after the mark is really gone (publish 1000 ms: over 3000, hold 2000). */
static void test_age(void)
{
    view_mark_age_t a = { 0 };
    CHECK(!view_mark_age_over(&a, 500, 3000, 2000));                 /* nothing kept */
    view_mark_age_saw(&a, 5, VIEW_UP, 1000);
    CHECK(!view_mark_age_over(&a, 1000, 3000, 2000));
    view_mark_age_saw(&a, 5, VIEW_UP, 3500);
    CHECK(!view_mark_age_over(&a, 3500, 3000, 2000));
    view_mark_age_saw(&a, 5, VIEW_UP, 4001);
    CHECK(view_mark_age_over(&a, 4001, 3000, 2000));                  /* over 3 publish_ms */
    CHECK(view_mark_age_over(&a, 4500, 3000, 2000));                  /* one read missed: still raised */
    view_mark_age_saw(&a, 5, VIEW_DOWN, 5000);
    CHECK(a.since_ms == 1000 && a.counted == VIEW_DOWN);              /* its start kept, not reset */
    CHECK(view_mark_age_over(&a, 5000, 3000, 2000));
    CHECK(view_mark_age_over(&a, 6999, 3000, 2000));                  /* gone, held 2 publish_ms */
    CHECK(!view_mark_age_over(&a, 7000, 3000, 2000) && !a.kept);      /* really gone: forgotten */
    view_mark_age_saw(&a, 5, VIEW_UP, 7500);
    CHECK(a.since_ms == 7500 && !view_mark_age_over(&a, 10000, 3000, 2000));   /* back: a new age */
    view_mark_age_saw(&a, 6, VIEW_UP, 10000);
    CHECK(a.since_ms == 10000 && a.drill == 6);                       /* another drill: a new age */
    /* a drill's normal end: marks seen for 1200 ms, then gone; kept 2000 ms more, never over 3000 */
    view_mark_age_t e = { 0 };
    for (uint64_t t = 20000; t <= 21200; t += 250)
        view_mark_age_saw(&e, 7, VIEW_UP, t);
    for (uint64_t t = 21200; t <= 24000; t += 250)
        CHECK(!view_mark_age_over(&e, t, 3000, 2000));
    CHECK(!e.kept);
    view_mark_age_t z = { 0 };
    view_mark_age_saw(&z, 5, VIEW_UP, 0);                             /* at monotonic 0 it is kept too */
    view_mark_age_saw(&z, 5, VIEW_UP, 3001);
    CHECK(z.kept && view_mark_age_over(&z, 3001, 3000, 2000));
}

/* The alarm's list is cut at an entry, the rest counted. */
static void test_list(void)
{
    char buf[100], item[40];
    size_t more = 0, shown = 0;
    buf[0] = '\0';
    for (int i = 0; i < 9; i++) {
        snprintf(item, sizeof(item), "observer o%d region r%d", i, i);   /* 20 bytes each */
        size_t m = more;
        view_mark_list_add(buf, sizeof(buf), &more, item);
        shown += more == m;
    }
    view_mark_list_end(buf, sizeof(buf), more);
    CHECK_EQ_INT((int)shown, 3);                                      /* 3 * 20 + 2 * 2 + 32 < 100 */
    CHECK_EQ_INT((int)more, 6);
    CHECK(strcmp(buf, "observer o0 region r0, observer o1 region r1, observer o2 region r2 \u2026 and 6 more") == 0);
    char one[64] = "";
    more = 0;
    view_mark_list_add(one, sizeof(one), &more, "a");
    view_mark_list_add(one, sizeof(one), &more, "b");
    view_mark_list_end(one, sizeof(one), more);
    CHECK(strcmp(one, "a, b") == 0 && more == 0);                     /* all shown: no tail */
    char big[200];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    char small[64] = "";
    more = 0;
    view_mark_list_add(small, sizeof(small), &more, big);
    view_mark_list_add(small, sizeof(small), &more, "a");             /* order holds: counted, not shown */
    view_mark_list_end(small, sizeof(small), more);
    CHECK(strcmp(small, " \u2026 and 2 more") == 0);
}

static view_t *view_of(const char *reason)
{
    static view_t v[2];
    static int k;
    view_t *x = &v[k++ % 2];
    memset(x, 0, sizeof(*x));
    x->n = 2;
    x->regions[0] = reg("r1", VIEW_UP, "");
    x->regions[1] = reg("r2", VIEW_DOWN, reason);
    return x;
}

/* A follower's own probes under a mark are in the signature (defect 41's
 * drain lag): their going down is written at once; other reasons are not. */
static void test_sig(void)
{
    uint64_t up = view_mark_sig(view_of("drill 5: failed by drill (the leader's); own probes: up"));
    uint64_t down = view_mark_sig(view_of("drill 5: failed by drill (the leader's); own probes: down"));
    CHECK(up != down);
    CHECK(up == view_mark_sig(view_of("drill 5: failed by drill (the leader's); own probes: up")));
    CHECK(view_mark_sig(view_of("3 of 3 probes failed")) == view_mark_sig(view_of("2 of 3 probes failed")));
    view_t *a = view_of("x"), b = *a;
    b.regions[1].state = VIEW_UP;
    CHECK(view_mark_sig(a) != view_mark_sig(&b));                     /* states, as ever */
    b = *a;
    b.n_drills = 1;
    b.drills[0].id = 5;
    CHECK(view_mark_sig(a) != view_mark_sig(&b));
    b = *a;
    b.suspect = true;
    CHECK(view_mark_sig(a) != view_mark_sig(&b));
}

int main(void)
{
    test_age();
    test_list();
    test_sig();
    test_parse();
    test_counted();
    test_own();
    test_fallback();
    return check_finish();
}
