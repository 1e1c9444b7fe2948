/* test_health — per-target hysteresis and region evaluation. */
#include <math.h>
#include <string.h>

#include "tests/check.h"
#include "failover/health.h"

static uint64_t mono = 1000;
static int64_t wall = 1700000000000;

/* Feed one result 1 s after the previous one; returns the state-changed flag. */
static int feed(health_target_t *t, health_result_t r, const char *why, double lat)
{
    mono += 1000;
    wall += 1000;
    return health_target_observe(t, r, why, lat, mono, wall, NULL);
}

/* Feed n equal results; returns how many of them changed the state. */
static int feed_n(health_target_t *t, int n, health_result_t r, const char *why)
{
    int changes = 0;
    for (int i = 0; i < n; i++)
        changes += feed(t, r, why, 10);
    return changes;
}

/* A target with rise 2 / fall 3 already brought to `s`. */
static void target_in(health_target_t *t, health_state_t s)
{
    health_target_init(t, 2, 3, 60000, mono, wall);
    if (s == HEALTH_UP)
        feed_n(t, 2, HEALTH_RES_OK, "ok");
    else if (s == HEALTH_DOWN)
        feed_n(t, 3, HEALTH_RES_FAIL, "connect refused");
    else if (s == HEALTH_DEGRADED)
        feed_n(t, 2, HEALTH_RES_SLOW, "slow 900ms");
}

static void test_names(void)
{
    CHECK(strcmp(health_state_str(HEALTH_UNKNOWN), "unknown") == 0);
    CHECK(strcmp(health_state_str(HEALTH_UP), "up") == 0);
    CHECK(strcmp(health_state_str(HEALTH_DEGRADED), "degraded") == 0);
    CHECK(strcmp(health_state_str(HEALTH_DOWN), "down") == 0);
    CHECK(strcmp(health_result_str(HEALTH_RES_OK), "ok") == 0);
    CHECK(strcmp(health_result_str(HEALTH_RES_SLOW), "slow") == 0);
    CHECK(strcmp(health_result_str(HEALTH_RES_FAIL), "fail") == 0);
}

static void test_init(void)
{
    health_target_t t;
    health_target_init(&t, 2, 3, 60000, 5000, 42);
    CHECK(t.state == HEALTH_UNKNOWN);
    CHECK(t.rise == 2 && t.fall == 3);
    CHECK(strcmp(t.reason, "no probe yet") == 0);
    CHECK(t.last_failure[0] == '\0');
    CHECK(t.probes == 0 && t.failures == 0 && t.slow == 0);
    CHECK(t.since_mono_ms == 5000 && t.since_wall_ms == 42);
    CHECK(isnan(t.ewma.value) && t.ewma.alpha == 0.2);
    CHECK(t.window.slot_ms == 15000);

    health_target_init(&t, 0, 0, 60000, 0, 0);   /* 0 taken as 1 */
    CHECK(t.rise == 1 && t.fall == 1);
    CHECK(feed(&t, HEALTH_RES_OK, "ok", 1) == 1 && t.state == HEALTH_UP);
}

static void test_from_unknown(void)
{
    health_target_t t;
    health_state_t old = HEALTH_DOWN;

    /* unknown -> up after exactly rise ok results */
    health_target_init(&t, 2, 3, 60000, mono, wall);
    CHECK(feed(&t, HEALTH_RES_OK, "ok", 10) == 0);
    CHECK(t.state == HEALTH_UNKNOWN);
    CHECK_CONTAINS(t.reason, "1/2");
    mono += 1000;
    CHECK(health_target_observe(&t, HEALTH_RES_OK, "ok", 10, mono, wall + 7, &old) == 1);
    CHECK(old == HEALTH_UNKNOWN && t.state == HEALTH_UP);
    CHECK(strcmp(t.reason, "ok") == 0);
    CHECK(t.since_mono_ms == mono && t.since_wall_ms == wall + 7);

    /* unknown -> down after exactly fall failures */
    health_target_init(&t, 2, 3, 60000, mono, wall);
    CHECK(feed_n(&t, 2, HEALTH_RES_FAIL, "timeout") == 0);
    CHECK(t.state == HEALTH_UNKNOWN);
    CHECK_CONTAINS(t.reason, "2/3");
    CHECK_CONTAINS(t.reason, "timeout");
    CHECK(strcmp(t.last_failure, "timeout") == 0);
    CHECK(feed(&t, HEALTH_RES_FAIL, "connect refused", -1) == 1);
    CHECK(t.state == HEALTH_DOWN);
    CHECK(strcmp(t.reason, "connect refused") == 0);
    CHECK(strcmp(t.last_failure, "connect refused") == 0);

    /* a mixed stream from unknown: runs reset each other */
    health_target_init(&t, 2, 3, 60000, mono, wall);
    feed_n(&t, 2, HEALTH_RES_FAIL, "x");
    feed(&t, HEALTH_RES_OK, "ok", 1);
    feed_n(&t, 2, HEALTH_RES_FAIL, "x");
    CHECK(t.state == HEALTH_UNKNOWN);
    feed(&t, HEALTH_RES_FAIL, "x", 1);
    CHECK(t.state == HEALTH_DOWN);

    /* unknown -> degraded: rise slow results (slow_run >= min(rise, fall)) */
    health_target_init(&t, 2, 3, 60000, mono, wall);
    CHECK(feed_n(&t, 2, HEALTH_RES_SLOW, "slow 800ms") == 1);
    CHECK(t.state == HEALTH_DEGRADED);
    CHECK(strcmp(t.reason, "slow 800ms") == 0);

    /* ok then slow: the slow run is too short, so up */
    health_target_init(&t, 2, 3, 60000, mono, wall);
    feed(&t, HEALTH_RES_OK, "ok", 1);
    feed(&t, HEALTH_RES_SLOW, "slow", 1);
    CHECK(t.state == HEALTH_UP);
    CHECK(strcmp(t.reason, "ok") == 0);
}

static void test_up_down(void)
{
    health_target_t t;

    /* up -> down needs exactly fall consecutive failures */
    target_in(&t, HEALTH_UP);
    CHECK(t.state == HEALTH_UP);
    CHECK(feed_n(&t, 2, HEALTH_RES_FAIL, "http 503") == 0);
    CHECK(t.state == HEALTH_UP);
    CHECK(strcmp(t.reason, "ok") == 0);
    CHECK(strcmp(t.last_failure, "http 503") == 0);
    CHECK(feed(&t, HEALTH_RES_OK, "ok", 10) == 0);   /* resets the fail run */
    CHECK(t.fail_run == 0);
    CHECK(feed_n(&t, 2, HEALTH_RES_FAIL, "http 503") == 0);
    CHECK(t.state == HEALTH_UP);
    uint64_t before = t.since_mono_ms;
    CHECK(feed(&t, HEALTH_RES_FAIL, "http 502", 10) == 1);
    CHECK(t.state == HEALTH_DOWN);
    CHECK(t.since_mono_ms > before);
    CHECK(strcmp(t.reason, "http 502") == 0);

    /* DOWN follows the latest failure reason */
    CHECK(feed(&t, HEALTH_RES_FAIL, "tls handshake", -1) == 0);
    CHECK(strcmp(t.reason, "tls handshake") == 0);
    CHECK(strcmp(t.last_failure, "tls handshake") == 0);

    /* down -> up needs exactly rise non-failures */
    CHECK(feed(&t, HEALTH_RES_OK, "ok", 10) == 0);
    CHECK(t.state == HEALTH_DOWN);
    CHECK(strcmp(t.reason, "tls handshake") == 0);   /* still why it is down */
    CHECK(feed(&t, HEALTH_RES_FAIL, "timeout", -1) == 0);
    CHECK(feed(&t, HEALTH_RES_OK, "ok", 10) == 0);
    CHECK(t.state == HEALTH_DOWN);
    CHECK(feed(&t, HEALTH_RES_OK, "ok", 10) == 1);
    CHECK(t.state == HEALTH_UP);
    CHECK(strcmp(t.reason, "ok") == 0);
    CHECK(strcmp(t.last_failure, "timeout") == 0);   /* kept after recovery */

    /* down -> degraded when coming up on slow results */
    target_in(&t, HEALTH_DOWN);
    CHECK(feed_n(&t, 2, HEALTH_RES_SLOW, "slow 2s") == 1);
    CHECK(t.state == HEALTH_DEGRADED);
    CHECK(strcmp(t.reason, "slow 2s") == 0);
}

static void test_slow(void)
{
    health_target_t t;

    /* up -> degraded needs fall consecutive slow results */
    target_in(&t, HEALTH_UP);
    CHECK(feed_n(&t, 2, HEALTH_RES_SLOW, "slow") == 0);
    CHECK(feed(&t, HEALTH_RES_OK, "ok", 10) == 0);   /* resets the slow run */
    CHECK(feed_n(&t, 2, HEALTH_RES_SLOW, "slow") == 0);
    CHECK(t.state == HEALTH_UP);
    CHECK(feed(&t, HEALTH_RES_SLOW, "latency 812ms > 500ms", 812) == 1);
    CHECK(t.state == HEALTH_DEGRADED);
    CHECK(strcmp(t.reason, "latency 812ms > 500ms") == 0);
    CHECK(feed(&t, HEALTH_RES_SLOW, "latency 900ms > 500ms", 900) == 0);
    CHECK(strcmp(t.reason, "latency 900ms > 500ms") == 0);

    /* degraded -> up needs rise consecutive ok results */
    CHECK(feed(&t, HEALTH_RES_OK, "ok", 10) == 0);
    CHECK(t.state == HEALTH_DEGRADED);
    CHECK(strcmp(t.reason, "latency 900ms > 500ms") == 0);
    CHECK(feed(&t, HEALTH_RES_SLOW, "latency 700ms > 500ms", 700) == 0);
    CHECK(feed(&t, HEALTH_RES_OK, "ok", 10) == 0);
    CHECK(t.state == HEALTH_DEGRADED);
    CHECK(feed(&t, HEALTH_RES_OK, "ok", 10) == 1);
    CHECK(t.state == HEALTH_UP);
    CHECK(strcmp(t.reason, "ok") == 0);

    /* a failure in between breaks a slow run */
    CHECK(feed_n(&t, 2, HEALTH_RES_SLOW, "slow") == 0);
    CHECK(feed(&t, HEALTH_RES_FAIL, "reset", -1) == 0);
    CHECK(feed_n(&t, 2, HEALTH_RES_SLOW, "slow") == 0);
    CHECK(t.state == HEALTH_UP);

    /* degraded -> down needs fall consecutive failures; slow breaks the run */
    target_in(&t, HEALTH_DEGRADED);
    CHECK(feed_n(&t, 2, HEALTH_RES_FAIL, "http 500") == 0);
    CHECK(t.state == HEALTH_DEGRADED);
    CHECK(strcmp(t.reason, "slow 900ms") == 0);
    CHECK(strcmp(t.last_failure, "http 500") == 0);
    CHECK(feed(&t, HEALTH_RES_SLOW, "slow 950ms", 950) == 0);
    CHECK(feed_n(&t, 2, HEALTH_RES_FAIL, "http 500") == 0);
    CHECK(t.state == HEALTH_DEGRADED);
    CHECK(feed(&t, HEALTH_RES_FAIL, "http 504", 30000) == 1);
    CHECK(t.state == HEALTH_DOWN);
    CHECK(strcmp(t.reason, "http 504") == 0);
}

static void test_params(void)
{
    health_target_t t;

    /* set_params keeps state, runs and counters */
    target_in(&t, HEALTH_UP);
    feed(&t, HEALTH_RES_FAIL, "x", -1);
    uint64_t probes = t.probes;
    health_target_set_params(&t, 5, 5);
    CHECK(t.state == HEALTH_UP && t.rise == 5 && t.fall == 5);
    CHECK(t.fail_run == 1 && t.probes == probes);
    CHECK(strcmp(t.reason, "ok") == 0);
    CHECK(feed_n(&t, 3, HEALTH_RES_FAIL, "x") == 0);
    CHECK(t.state == HEALTH_UP);
    CHECK(feed(&t, HEALTH_RES_FAIL, "x", -1) == 1);  /* 5th consecutive */
    CHECK(t.state == HEALTH_DOWN);
    health_target_set_params(&t, 0, 0);
    CHECK(t.rise == 1 && t.fall == 1 && t.state == HEALTH_DOWN);
    CHECK(feed(&t, HEALTH_RES_OK, "ok", 1) == 1 && t.state == HEALTH_UP);

}

/* forget: a drill's simulated failures stop counting; the next results decide
 * from UNKNOWN (fall failures down, rise good up), totals are kept */
static void test_forget(void)
{
    health_target_t t;

    target_in(&t, HEALTH_DOWN);
    uint64_t probes = t.probes, failures = t.failures;
    health_target_forget(&t, "drill ended: waiting for real probes", mono + 5, wall + 5);
    CHECK(t.state == HEALTH_UNKNOWN && t.fail_run == 0 && t.good_run == 0);
    CHECK(t.since_mono_ms == mono + 5 && t.since_wall_ms == wall + 5);
    CHECK(strcmp(t.reason, "drill ended: waiting for real probes") == 0);
    CHECK(t.probes == probes && t.failures == failures);
    CHECK(feed(&t, HEALTH_RES_OK, "ok", 1) == 0 && t.state == HEALTH_UNKNOWN);
    CHECK(feed(&t, HEALTH_RES_OK, "ok", 1) == 1 && t.state == HEALTH_UP);   /* rise 2, not 2 + a DOWN's */
    /* one failure after forget is not DOWN: the old run of 3 is gone */
    target_in(&t, HEALTH_DOWN);
    health_target_forget(&t, NULL, mono, wall);
    CHECK(strcmp(t.reason, "no probe yet") == 0);
    CHECK(feed(&t, HEALTH_RES_FAIL, "x", -1) == 0 && t.state == HEALTH_UNKNOWN);
    CHECK(feed_n(&t, 2, HEALTH_RES_FAIL, "x") == 1 && t.state == HEALTH_DOWN);
}

/* fail: a resumed fail drill's simulated failures at once (the inverse of
 * forget): DOWN from any state as after fall failures, reason and
 * last_failure the drill's, good runs gone (rise good results to come up),
 * totals, window and EWMA kept */
static void test_fail(void)
{
    health_target_t t;
    health_state_t old = HEALTH_DOWN;

    target_in(&t, HEALTH_UP);
    uint64_t probes = t.probes, failures = t.failures;
    double ewma = t.ewma.value;
    CHECK(health_target_fail(&t, "drill: simulated outage", mono + 7, wall + 7, &old) == 1);
    CHECK(old == HEALTH_UP && t.state == HEALTH_DOWN);
    CHECK(t.fail_run == t.fall && t.good_run == 0 && t.ok_run == 0 && t.slow_run == 0);
    CHECK(t.since_mono_ms == mono + 7 && t.since_wall_ms == wall + 7);
    CHECK(strcmp(t.reason, "drill: simulated outage") == 0);
    CHECK(strcmp(t.last_failure, "drill: simulated outage") == 0);
    CHECK(t.probes == probes && t.failures == failures && t.ewma.value == ewma);
    /* rise 2 good results bring it up, as from any DOWN */
    CHECK(feed(&t, HEALTH_RES_OK, "ok", 1) == 0 && t.state == HEALTH_DOWN);
    CHECK(feed(&t, HEALTH_RES_OK, "ok", 1) == 1 && t.state == HEALTH_UP);
    /* from UNKNOWN (a start, or a forget), and once down already: no change, since kept */
    health_target_init(&t, 2, 3, 60000, mono, wall);
    CHECK(health_target_fail(&t, NULL, mono + 1, wall + 1, NULL) == 1 && t.state == HEALTH_DOWN);
    CHECK(strcmp(t.reason, "fail") == 0);
    CHECK(health_target_fail(&t, "drill: simulated outage", mono + 9, wall + 9, &old) == 0);
    CHECK(old == HEALTH_DOWN && t.since_mono_ms == mono + 1);
    /* a degraded target: down, and the next failure keeps it down */
    target_in(&t, HEALTH_DEGRADED);
    CHECK(health_target_fail(&t, "x", mono, wall, &old) == 1 && old == HEALTH_DEGRADED);
    CHECK(feed(&t, HEALTH_RES_FAIL, "x", -1) == 0 && t.state == HEALTH_DOWN);
    /* forget undoes it */
    health_target_forget(&t, NULL, mono, wall);
    CHECK(t.state == HEALTH_UNKNOWN && t.fail_run == 0);
}

static void test_counters_latency(void)
{
    health_target_t t;

    /* counters count everything */
    health_target_init(&t, 2, 3, 60000, mono, wall);
    feed_n(&t, 4, HEALTH_RES_OK, "ok");
    feed_n(&t, 3, HEALTH_RES_SLOW, "s");
    feed_n(&t, 5, HEALTH_RES_FAIL, "f");
    CHECK(t.probes == 12 && t.slow == 3 && t.failures == 5);

    /* latency >= 0 feeds window and EWMA even for failures; < 0 does not */
    health_target_init(&t, 2, 3, 60000, mono, wall);
    feed(&t, HEALTH_RES_FAIL, "http 503", 100);
    CHECK(hist_window_count(&t.window, mono) == 1);
    CHECK(t.ewma.value == 100);
    feed(&t, HEALTH_RES_FAIL, "connect refused", -1);
    CHECK(hist_window_count(&t.window, mono) == 1);
    CHECK(t.ewma.value == 100);
    feed(&t, HEALTH_RES_FAIL, "x", NAN);
    CHECK(hist_window_count(&t.window, mono) == 1);
    feed(&t, HEALTH_RES_OK, "ok", 200);
    CHECK(fabs(t.ewma.value - 120) < 1e-9);
    feed(&t, HEALTH_RES_OK, "ok", 0);
    CHECK(hist_window_count(&t.window, mono) == 3);
    CHECK(fabs(hist_window_quantile(&t.window, 1.0, mono) - 200) <= 20);

}

static void test_reason_text(void)
{
    health_target_t t;

    /* NULL / empty reasons read as the result name; long ones are cut */
    health_target_init(&t, 1, 1, 60000, mono, wall);
    feed(&t, HEALTH_RES_FAIL, NULL, -1);
    CHECK(t.state == HEALTH_DOWN);
    CHECK(strcmp(t.reason, "fail") == 0 && strcmp(t.last_failure, "fail") == 0);
    feed(&t, HEALTH_RES_SLOW, "", -1);
    CHECK(t.state == HEALTH_DEGRADED && strcmp(t.reason, "slow") == 0);
    char longr[600];
    memset(longr, 'a', sizeof(longr) - 1);
    longr[sizeof(longr) - 1] = '\0';
    feed(&t, HEALTH_RES_FAIL, longr, -1);
    CHECK(strlen(t.reason) == HEALTH_REASON_MAX - 1);
    CHECK(strlen(t.last_failure) == HEALTH_REASON_MAX - 1);
    health_target_init(&t, 3, 3, 60000, mono, wall);
    feed(&t, HEALTH_RES_FAIL, longr, -1);            /* pending text, cut */
    CHECK(t.state == HEALTH_UNKNOWN);
    CHECK(strlen(t.reason) == HEALTH_REASON_MAX - 1);
}

/* Evaluate with a fresh buffer; returns the state, text in buf. */
static health_state_t eval(int rule, uint32_t q, const health_state_t *s, size_t n,
                           char *buf)
{
    strcpy(buf, "junk");
    return health_region_eval(rule, q, s, n, buf, HEALTH_REASON_MAX);
}

#define U HEALTH_UP
#define G HEALTH_DEGRADED
#define D HEALTH_DOWN
#define X HEALTH_UNKNOWN

static void test_region_all(void)
{
    char r[HEALTH_REASON_MAX];

    /* nothing to judge */
    CHECK(eval(0, 0, NULL, 0, r) == HEALTH_UNKNOWN);
    CHECK(eval(0, 0, (health_state_t[]){U}, 0, r) == HEALTH_UNKNOWN);
    CHECK(eval(0, 0, NULL, 3, r) == HEALTH_UNKNOWN);

    /* all */
    CHECK(eval(0, 0, (health_state_t[]){U, U, U}, 3, r) == HEALTH_UP);
    CHECK(strcmp(r, "all 3 targets up") == 0);
    CHECK(eval(0, 0, (health_state_t[]){U}, 1, r) == HEALTH_UP);
    CHECK(strcmp(r, "all 1 target up") == 0);
    CHECK(eval(0, 0, (health_state_t[]){U, D, U}, 3, r) == HEALTH_DOWN);
    CHECK(strcmp(r, "1/3 targets down: need 3 up") == 0);
    CHECK(eval(0, 0, (health_state_t[]){U, G, U}, 3, r) == HEALTH_DEGRADED);
    CHECK(strcmp(r, "1/3 targets degraded: need 3 up") == 0);
    CHECK(eval(0, 0, (health_state_t[]){U, X, U}, 3, r) == HEALTH_UNKNOWN);
    CHECK(strcmp(r, "waiting for first results (1 target unknown)") == 0);
    CHECK(eval(0, 0, (health_state_t[]){D, X, X}, 3, r) == HEALTH_UNKNOWN);
    CHECK(strcmp(r, "waiting for first results (2 targets unknown)") == 0);
    CHECK(eval(7, 0, (health_state_t[]){U, D}, 2, r) == HEALTH_DOWN); /* bad rule = all */

}

static void test_region_any_quorum(void)
{
    char r[HEALTH_REASON_MAX];

    /* any */
    CHECK(eval(1, 0, (health_state_t[]){U, D, D}, 3, r) == HEALTH_UP);
    CHECK(strcmp(r, "any: 1 up, 0 degraded, 2 down") == 0);
    CHECK(eval(1, 0, (health_state_t[]){G, D, D}, 3, r) == HEALTH_DEGRADED);
    CHECK(strcmp(r, "any: 0 up, 1 degraded, 2 down") == 0);
    CHECK(eval(1, 0, (health_state_t[]){D, D, D}, 3, r) == HEALTH_DOWN);
    CHECK(strcmp(r, "any: 0 up, 0 degraded, 3 down") == 0);
    CHECK(eval(1, 0, (health_state_t[]){U, X, X}, 3, r) == HEALTH_UP); /* UP needs no wait */
    CHECK(strcmp(r, "any: 1 up, 0 degraded, 0 down, 2 unknown") == 0);
    CHECK(eval(1, 0, (health_state_t[]){G, X, D}, 3, r) == HEALTH_UNKNOWN);
    CHECK_CONTAINS(r, "1 target unknown");
    CHECK(eval(1, 0, (health_state_t[]){U, U}, 2, r) == HEALTH_UP);
    CHECK(strcmp(r, "all 2 targets up") == 0);

    /* quorum */
    CHECK(eval(2, 2, (health_state_t[]){U, U, D}, 3, r) == HEALTH_UP);
    CHECK(strcmp(r, "quorum 2: 2 up, 0 degraded, 1 down") == 0);
    CHECK(eval(2, 2, (health_state_t[]){U, G, D}, 3, r) == HEALTH_DEGRADED);
    CHECK(strcmp(r, "quorum 2: 1 up, 1 degraded, 1 down") == 0);
    CHECK(eval(2, 2, (health_state_t[]){U, D, D}, 3, r) == HEALTH_DOWN);
    CHECK(strcmp(r, "quorum 2: 1 up, 0 degraded, 2 down") == 0);
    CHECK(eval(2, 2, (health_state_t[]){U, U, X}, 3, r) == HEALTH_UP);
    CHECK(strcmp(r, "quorum 2: 2 up, 0 degraded, 0 down, 1 unknown") == 0);
    CHECK(eval(2, 2, (health_state_t[]){U, G, X}, 3, r) == HEALTH_UNKNOWN);
    CHECK(strcmp(r, "waiting for first results (1 target unknown)") == 0);
    CHECK(eval(2, 2, (health_state_t[]){U, D, X}, 3, r) == HEALTH_UNKNOWN);
    CHECK(eval(2, 3, (health_state_t[]){U, U, U}, 3, r) == HEALTH_UP);
    CHECK(strcmp(r, "all 3 targets up") == 0);
    CHECK(eval(2, 0, (health_state_t[]){U, D, D}, 3, r) == HEALTH_UP);  /* 0 -> 1 */
    CHECK(eval(2, 9, (health_state_t[]){U, U, G}, 3, r) == HEALTH_DEGRADED); /* 9 -> 3 */
    CHECK(strcmp(r, "quorum 3: 2 up, 1 degraded, 0 down") == 0);

}

static void test_region_buffer(void)
{
    char r[HEALTH_REASON_MAX];

    /* reason buffer optional and never overflowed */
    CHECK(health_region_eval(2, 2, (health_state_t[]){U, G, D}, 3, NULL, 0) == HEALTH_DEGRADED);
    CHECK(health_region_eval(0, 0, (health_state_t[]){U}, 1, r, 0) == HEALTH_UP);
    char small[8];
    memset(small, 'z', sizeof(small));
    CHECK(health_region_eval(2, 2, (health_state_t[]){U, G, D}, 3, small, sizeof(small))
          == HEALTH_DEGRADED);
    CHECK(strcmp(small, "quorum ") == 0);
}

int main(void)
{
    test_names();
    test_init();
    test_from_unknown();
    test_up_down();
    test_slow();
    test_params();
    test_forget();
    test_fail();
    test_counters_latency();
    test_reason_text();
    test_region_all();
    test_region_any_quorum();
    test_region_buffer();
    return check_finish();
}
