/* health — per-target and per-region health with hysteresis (see health.h). */
#include "failover/health.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define HEALTH_EWMA_ALPHA 0.2

const char *health_state_str(health_state_t s)
{
    switch (s) {
    case HEALTH_UNKNOWN:  return "unknown";
    case HEALTH_UP:       return "up";
    case HEALTH_DEGRADED: return "degraded";
    case HEALTH_DOWN:     return "down";
    }
    return "invalid";
}

const char *health_result_str(health_result_t r)
{
    switch (r) {
    case HEALTH_RES_OK:   return "ok";
    case HEALTH_RES_SLOW: return "slow";
    case HEALTH_RES_FAIL: return "fail";
    }
    return "invalid";
}

static uint32_t at_least_1(uint32_t v)
{
    return v ? v : 1;
}

void health_target_init(health_target_t *t, uint32_t rise, uint32_t fall,
                        uint64_t window_ms, uint64_t now_mono_ms, int64_t now_wall_ms)
{
    memset(t, 0, sizeof(*t));
    t->rise = at_least_1(rise);
    t->fall = at_least_1(fall);
    t->state = HEALTH_UNKNOWN;
    t->since_mono_ms = now_mono_ms;
    t->since_wall_ms = now_wall_ms;
    snprintf(t->reason, sizeof(t->reason), "%s", "no probe yet");
    hist_window_init(&t->window, window_ms);
    ewma_init(&t->ewma, HEALTH_EWMA_ALPHA);
}

void health_target_forget(health_target_t *t, const char *why, uint64_t now_mono_ms, int64_t now_wall_ms)
{
    t->state = HEALTH_UNKNOWN;
    t->good_run = t->fail_run = t->ok_run = t->slow_run = 0;
    t->since_mono_ms = now_mono_ms;
    t->since_wall_ms = now_wall_ms;
    snprintf(t->reason, sizeof(t->reason), "%s", why && why[0] ? why : "no probe yet");
}

int health_target_fail(health_target_t *t, const char *why, uint64_t now_mono_ms, int64_t now_wall_ms,
                       health_state_t *old)
{
    health_state_t prev = t->state;
    const char *w = why && why[0] ? why : health_result_str(HEALTH_RES_FAIL);
    if (t->fail_run < t->fall)
        t->fail_run = t->fall;
    t->good_run = t->ok_run = t->slow_run = 0;
    t->state = HEALTH_DOWN;
    snprintf(t->reason, sizeof(t->reason), "%s", w);
    snprintf(t->last_failure, sizeof(t->last_failure), "%s", w);
    if (old)
        *old = prev;
    if (prev == HEALTH_DOWN)
        return 0;
    t->since_mono_ms = now_mono_ms;
    t->since_wall_ms = now_wall_ms;
    return 1;
}

void health_target_set_params(health_target_t *t, uint32_t rise, uint32_t fall)
{
    t->rise = at_least_1(rise);
    t->fall = at_least_1(fall);
}

/* Update the run counters and totals for one result. */
static void count_result(health_target_t *t, health_result_t r)
{
    t->probes++;
    if (r == HEALTH_RES_FAIL) {
        t->failures++;
        t->fail_run++;
        t->good_run = t->ok_run = t->slow_run = 0;
        return;
    }
    t->good_run++;
    t->fail_run = 0;
    if (r == HEALTH_RES_SLOW) {
        t->slow++;
        t->slow_run++;
        t->ok_run = 0;
    } else {
        t->ok_run++;
        t->slow_run = 0;
    }
}

/* The state the runs call for, given the current state and latest result. */
static health_state_t next_state(const health_target_t *t, health_result_t r)
{
    uint32_t min_rf = t->rise < t->fall ? t->rise : t->fall;

    if (r == HEALTH_RES_FAIL)
        return t->fail_run >= t->fall ? HEALTH_DOWN : t->state;
    switch (t->state) {
    case HEALTH_UNKNOWN:
    case HEALTH_DOWN:
        if (t->good_run < t->rise)
            return t->state;
        return (r == HEALTH_RES_SLOW && t->slow_run >= min_rf) ? HEALTH_DEGRADED : HEALTH_UP;
    case HEALTH_UP:
        return t->slow_run >= t->fall ? HEALTH_DEGRADED : HEALTH_UP;
    case HEALTH_DEGRADED:
        return t->ok_run >= t->rise ? HEALTH_UP : HEALTH_DEGRADED;
    }
    return t->state;
}

/* Set t->reason for the (possibly new) state after result r with text why. */
static void update_reason(health_target_t *t, health_result_t r, const char *why)
{
    switch (t->state) {
    case HEALTH_UP:
        snprintf(t->reason, sizeof(t->reason), "%s", "ok");
        break;
    case HEALTH_DOWN:
        if (r == HEALTH_RES_FAIL)
            snprintf(t->reason, sizeof(t->reason), "%s", why);
        break;
    case HEALTH_DEGRADED:
        if (r == HEALTH_RES_SLOW)
            snprintf(t->reason, sizeof(t->reason), "%s", why);
        break;
    case HEALTH_UNKNOWN:
        if (r == HEALTH_RES_FAIL)
            snprintf(t->reason, sizeof(t->reason), "pending: %u/%u failures: %s",
                     (unsigned)t->fail_run, (unsigned)t->fall, why);
        else
            snprintf(t->reason, sizeof(t->reason), "pending: %u/%u successes: %s",
                     (unsigned)t->good_run, (unsigned)t->rise, why);
        break;
    }
}

int health_target_observe(health_target_t *t, health_result_t r, const char *reason,
                          double latency_ms, uint64_t now_mono_ms, int64_t now_wall_ms,
                          health_state_t *old)
{
    health_state_t prev = t->state;

    if (r != HEALTH_RES_SLOW && r != HEALTH_RES_FAIL)
        r = HEALTH_RES_OK;
    const char *why = (reason && *reason) ? reason : health_result_str(r);
    count_result(t, r);
    if (latency_ms >= 0) {  /* false for NAN too */
        hist_window_add(&t->window, latency_ms, now_mono_ms);
        ewma_add(&t->ewma, latency_ms);
    }
    if (r == HEALTH_RES_FAIL)
        snprintf(t->last_failure, sizeof(t->last_failure), "%s", why);

    t->state = next_state(t, r);
    update_reason(t, r, why);
    if (old)
        *old = prev;
    if (t->state == prev)
        return 0;
    t->since_mono_ms = now_mono_ms;
    t->since_wall_ms = now_wall_ms;
    return 1;
}

static const char *plural(size_t n)
{
    return n == 1 ? "" : "s";
}

/* "quorum 2: 1 up, 1 degraded, 1 down" (", 1 unknown" only when some are). */
static void region_counts(char *out, size_t outlen, int rule, size_t k, size_t up,
                          size_t degraded, size_t down, size_t unknown)
{
    char prefix[32], tail[32] = "";

    if (rule == 1)
        snprintf(prefix, sizeof(prefix), "%s", "any");
    else
        snprintf(prefix, sizeof(prefix), "quorum %zu", k);
    if (unknown)
        snprintf(tail, sizeof(tail), ", %zu unknown", unknown);
    snprintf(out, outlen, "%s: %zu up, %zu degraded, %zu down%s",
             prefix, up, degraded, down, tail);
}

health_state_t health_region_eval(int rule, uint32_t quorum, const health_state_t *states,
                                  size_t n, char *reason, size_t reasonlen)
{
    char scratch[HEALTH_REASON_MAX];
    char *out = (reason && reasonlen) ? reason : scratch;
    size_t outlen = (reason && reasonlen) ? reasonlen : sizeof(scratch);
    size_t up = 0, degraded = 0, down = 0, unknown = 0, k;
    health_state_t s;

    if (!states || n == 0) {
        snprintf(out, outlen, "%s", "no targets");
        return HEALTH_UNKNOWN;
    }
    for (size_t i = 0; i < n; i++) {
        switch (states[i]) {
        case HEALTH_UP:       up++; break;
        case HEALTH_DEGRADED: degraded++; break;
        case HEALTH_DOWN:     down++; break;
        default:              unknown++; break;
        }
    }
    if (rule == 1)
        k = 1;
    else if (rule == 2)
        k = quorum == 0 ? 1 : quorum > n ? n : quorum;
    else
        k = n;

    if (up >= k)
        s = HEALTH_UP;
    else if (unknown > 0)
        s = HEALTH_UNKNOWN;
    else if (up + degraded < k)
        s = HEALTH_DOWN;
    else
        s = HEALTH_DEGRADED;

    if (s == HEALTH_UNKNOWN)
        snprintf(out, outlen, "waiting for first results (%zu target%s unknown)",
                 unknown, plural(unknown));
    else if (up == n)
        snprintf(out, outlen, "all %zu target%s up", n, plural(n));
    else if (rule != 1 && rule != 2)
        snprintf(out, outlen, "%zu/%zu targets %s: need %zu up",
                 down ? down : degraded, n, down ? "down" : "degraded", k);
    else
        region_counts(out, outlen, rule, k, up, degraded, down, unknown);
    return s;
}
