/* test_observers_quorum — observers_quorum_forget (daemon/observers.h;
 * docs/ha.md known defects 39 and 41): a fail drill that stops acting here
 * turns its region's latched combined DOWN into UNKNOWN, recorded as the
 * region's last decision (call "forgotten", the drill and a reason) and
 * emitted once as event quorum_decision; a region not latched down, another
 * region, an unknown name and the quorum off are left alone; the region's
 * since is the forget's time (a health change for settle_ms, like the
 * region's own reset); the next combine decides again from unknown.
 *
 * The seam: the real daemon/observers_quorum.c (from regiond_core) with its
 * neighbours replaced at link time (-Wl,--wrap, tests/CMakeLists.txt): one
 * observer, this instance (self, k 1), whose own view says each region's
 * state from own[]; the regions r1, r2, r3 from targets; feed_emit keeps
 * the events it is given. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/views.h"
#include "core/feed.h"
#include "core/loop.h"
#include "daemon/observers.h"
#include "daemon/targets.h"
#include "tests/check.h"

/* ---- the neighbours ---- */

static size_t nobs = 1;
static health_state_t own[3];
static region_t regs[3] = {{.name = "r1", .born = 1}, {.name = "r2", .born = 1}, {.name = "r3", .born = 1}};

size_t __wrap_views_n(void) { return nobs; }
uint32_t __wrap_views_k(void) { return 1; }
uint64_t __wrap_views_started_ms(void) { return loop_now_ms(); }
uint64_t __wrap_views_silent_ms(void) { return 3000; }
uint32_t __wrap_views_publish_ms(void) { return 1000; }
bool __wrap_observers_self_suspect(void) { return false; }
const char *__wrap_observers_self_suspect_reason(void) { return ""; }
health_state_t __wrap_observers_own_state(size_t r) { return r < 3 ? own[r] : HEALTH_UNKNOWN; }
bool __wrap_leader_may_act(void) { return true; }
bool __wrap_leader_drills_act(void) { return true; }
size_t __wrap_targets_nregions(void) { return 3; }
region_t *__wrap_targets_region(size_t i) { return i < 3 ? &regs[i] : NULL; }

int __wrap_views_get(size_t i, views_obs_t *out)
{
    if (i >= nobs)
        return -1;
    *out = (views_obs_t){.id = "ctl-1", .self = true, .seen = true, .fresh = true, .age_ms = 0, .view = NULL};
    return 0;
}

static int n_events;
static feed_ev_t last_type;
static cJSON *last;   /* the last event's data */

uint64_t __wrap_feed_emit(feed_ev_t type, cJSON *data)
{
    n_events++;
    last_type = type;
    cJSON_Delete(last);
    last = data;
    return (uint64_t)n_events;
}

/* ---- the checks ---- */

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static int arr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
}

/* Region r's combined state (its since into *since unless NULL). */
static health_state_t state(size_t r, uint64_t *since)
{
    uint64_t s;
    return observers_quorum_state(r, since ? since : &s);
}

/* r1 and r2 latched down by the combine, r3 up: three calls recorded. */
static void latch(void)
{
    own[0] = own[1] = HEALTH_DOWN;
    own[2] = HEALTH_UP;
    CHECK(observers_quorum_update());
    CHECK(state(0, NULL) == HEALTH_DOWN && state(1, NULL) == HEALTH_DOWN && state(2, NULL) == HEALTH_UP);
    CHECK_EQ_INT(n_events, 3);
}

static void test_forget(void)
{
    latch();
    uint64_t s3, s3b, since, s1;
    state(2, &s3);
    state(0, &s1);
    struct timespec ms3 = {0, 3000000};
    nanosleep(&ms3, NULL);   /* the forget's time is after the latch's, whatever the clock's speed */
    n_events = 0;
    observers_quorum_forget("r1", 7);
    CHECK(state(0, &since) == HEALTH_UNKNOWN);
    CHECK(since > s1);   /* a health change for settle_ms */
    CHECK(state(1, NULL) == HEALTH_DOWN);   /* the other regions as they were */
    CHECK(state(2, &s3b) == HEALTH_UP && s3b == s3);
    CHECK_EQ_INT(n_events, 1);
    CHECK(last_type == EV_QUORUM_DECISION);
    CHECK_CONTAINS(str(last, "region"), "r1");
    CHECK_CONTAINS(str(last, "call"), "forgotten");
    CHECK(strcmp(str(last, "from"), "down") == 0 && strcmp(str(last, "to"), "unknown") == 0);
    CHECK_EQ_INT(num(last, "drill"), 7);
    CHECK_CONTAINS(str(last, "reason"), "drill 7 stopped acting here: combined state forgotten, back to unknown");
    CHECK(cJSON_GetObjectItemCaseSensitive(last, "why") == NULL);
    CHECK_EQ_INT(num(last, "seq"), 4);
    CHECK(arr(last, "views") == 0 && arr(last, "counted") == 0 && arr(last, "left_out") == 0);

    cJSON *st = observers_quorum_region_json(0);   /* status: the region's last decision */
    const cJSON *ld = cJSON_GetObjectItemCaseSensitive(st, "last_decision");
    CHECK_CONTAINS(str(ld, "call"), "forgotten");
    CHECK_CONTAINS(str(st, "state"), "unknown");
    CHECK_EQ_INT(num(ld, "seq"), 4);
    cJSON_Delete(st);

    observers_quorum_forget("r1", 7);   /* once: no longer latched down */
    observers_quorum_forget("r3", 7);   /* up: not latched down */
    observers_quorum_forget("r9", 7);   /* no such region */
    CHECK_EQ_INT(n_events, 1);
    CHECK(state(2, NULL) == HEALTH_UP && state(1, NULL) == HEALTH_DOWN);

    observers_quorum_forget("r2", 0);   /* the drill not known */
    CHECK_EQ_INT(n_events, 2);
    CHECK(state(1, NULL) == HEALTH_UNKNOWN);
    CHECK_CONTAINS(str(last, "reason"), "a fail drill stopped acting here");
    CHECK(cJSON_GetObjectItemCaseSensitive(last, "drill") == NULL);
}

/* The next combine decides again: r1's view still says down. */
static void test_decides_again(void)
{
    n_events = 0;
    own[1] = HEALTH_UP;
    CHECK(observers_quorum_update());
    CHECK(state(0, NULL) == HEALTH_DOWN && state(1, NULL) == HEALTH_UP);
    CHECK_EQ_INT(n_events, 2);
    CHECK_CONTAINS(str(last, "call"), "up");
    CHECK_CONTAINS(str(last, "from"), "unknown");
}

/* The quorum turned off with a region latched down (no reset between):
 * nothing is forgotten, nothing recorded; off from the start, the same. */
static void test_off(void)
{
    observers_quorum_reset();
    nobs = 1;
    n_events = 0;
    latch();
    nobs = 0;
    n_events = 0;
    CHECK(!observers_quorum_update());
    observers_quorum_forget("r1", 7);
    CHECK_EQ_INT(n_events, 0);
    CHECK(state(0, NULL) == HEALTH_UNKNOWN);
    observers_quorum_reset();
    CHECK(!observers_quorum_update());
    observers_quorum_forget("r1", 7);
    CHECK_EQ_INT(n_events, 0);
}

int main(void)
{
    test_forget();
    test_decides_again();
    test_off();
    cJSON_Delete(last);
    return check_finish();
}
