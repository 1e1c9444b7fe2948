/* test_observers_quorum_stale — the leader's alarm cluster-mark-stale
 * (daemon/observers_quorum.c; docs/ha.md known defect 41, a review's
 * follow-up): raised once a follower's drill mark of a drill not acting
 * here has been discounted for over 3 publish_ms; a combine that misses
 * the mark (the view silent for one read) or a reload that moves the
 * regions neither resolves it nor restarts the mark's age; resolved 2
 * publish_ms after the mark really goes, and at once, saying so, when this
 * instance's drills stop acting.
 *
 * The seam: the real observers_quorum.c with its neighbours replaced at
 * link time (-Wl,--wrap, tests/CMakeLists.txt): two observers, this
 * instance (self, up everywhere) and ctl-2, whose view marks r2 down for
 * drill 5 (none acting here: drill_fail_active says none) naming its own
 * probes up; k 2; publish_ms 1000; the clock is the test's; alarm_raise and
 * alarm_resolve are counted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/views.h"
#include "core/alarm.h"
#include "core/feed.h"
#include "core/loop.h"
#include "daemon/observers.h"
#include "daemon/targets.h"
#include "tests/check.h"

/* ---- the neighbours ---- */

static uint64_t now = 10000;
static bool leads = true, marking = true, fresh = true;
static size_t nregs = 2;
static region_t two[2] = {{.name = "r1", .born = 1}, {.name = "r2", .born = 1}};
static region_t three[3] = {{.name = "r0", .born = 1}, {.name = "r1", .born = 1}, {.name = "r2", .born = 1}};
static view_t peer;

uint64_t __wrap_loop_now_ms(void) { return now; }
size_t __wrap_views_n(void) { return 2; }
uint32_t __wrap_views_k(void) { return 2; }
uint64_t __wrap_views_started_ms(void) { return 0; }
uint64_t __wrap_views_silent_ms(void) { return 3000; }
uint32_t __wrap_views_publish_ms(void) { return 1000; }
bool __wrap_observers_self_suspect(void) { return false; }
const char *__wrap_observers_self_suspect_reason(void) { return ""; }
health_state_t __wrap_observers_own_state(size_t r) { (void)r; return HEALTH_UP; }
bool __wrap_leader_may_act(void) { return leads; }
bool __wrap_leader_drills_act(void) { return leads; }
size_t __wrap_drill_fail_active(uint64_t *ids, char (*regions)[65], size_t max)
{
    (void)ids, (void)regions, (void)max;
    return 0;   /* drill 5 no longer acts here */
}
size_t __wrap_targets_nregions(void) { return nregs; }
region_t *__wrap_targets_region(size_t i) { return i >= nregs ? NULL : nregs == 2 ? &two[i] : &three[i]; }
uint64_t __wrap_feed_emit(feed_ev_t type, cJSON *data)
{
    (void)type;
    cJSON_Delete(data);
    return 1;
}

int __wrap_views_get(size_t i, views_obs_t *out)
{
    if (i > 1)
        return -1;
    if (i == 0) {
        *out = (views_obs_t){.id = "ctl-1", .self = true, .seen = true, .fresh = true, .view = NULL};
        return 0;
    }
    memset(&peer, 0, sizeof(peer));
    snprintf(peer.observer, sizeof(peer.observer), "ctl-2");
    peer.n = 2;
    snprintf(peer.regions[0].region, sizeof(peer.regions[0].region), "r1");
    peer.regions[0].state = VIEW_UP;
    snprintf(peer.regions[1].region, sizeof(peer.regions[1].region), "r2");
    peer.regions[1].state = marking ? VIEW_DOWN : VIEW_UP;
    view_set_reason(&peer.regions[1], marking ? "drill 5: failed by drill (the leader's); own probes: up" : "");
    *out = (views_obs_t){.id = "ctl-2", .self = false, .seen = true, .fresh = fresh, .age_ms = 100, .view = &peer};
    return 0;
}

static int raised, resolved;
static char last_raise[2048], last_resolve[256];

void __wrap_alarm_raise(const char *key, const char *severity, const char *summary, cJSON *details)
{
    cJSON_Delete(details);
    (void)severity;
    if (strcmp(key, "cluster-mark-stale") != 0)
        return;
    raised++;
    snprintf(last_raise, sizeof(last_raise), "%s", summary);
}

void __wrap_alarm_resolve(const char *key, const char *summary)
{
    if (strcmp(key, "cluster-mark-stale") != 0)
        return;
    resolved++;
    snprintf(last_resolve, sizeof(last_resolve), "%s", summary ? summary : "");
}

/* ---- the checks ---- */

/* Combines every 250 ms (the views' poll) until the clock reaches t. */
static void run_to(uint64_t t)
{
    while (now < t) {
        now += 250;
        observers_quorum_update();
    }
}

static void test_no_flap(void)
{
    uint64_t t0 = now;
    observers_quorum_update();
    run_to(t0 + 3000);
    CHECK_EQ_INT(raised, 0);                       /* not over 3 publish_ms yet */
    run_to(t0 + 3250);
    CHECK(raised >= 1);
    CHECK_CONTAINS(last_raise, "observer ctl-2 region r2 drill 5 (counted up)");
    fresh = false;                                 /* the view silent for one read */
    run_to(t0 + 3500);
    fresh = true;
    run_to(t0 + 6000);
    CHECK_EQ_INT(resolved, 0);                     /* not resolved and raised again */
    nregs = 3;                                     /* a reload adds r0 before r1 and r2 */
    run_to(t0 + 6250);
    CHECK_EQ_INT(resolved, 0);
    CHECK_CONTAINS(last_raise, "region r2 drill 5");
}

static void test_hold(void)
{
    uint64_t t0 = now;
    marking = false;                               /* the mark really goes */
    run_to(t0 + 1750);
    CHECK_EQ_INT(resolved, 0);                     /* held 2 publish_ms */
    run_to(t0 + 2000);
    CHECK_EQ_INT(resolved, 1);
    CHECK_CONTAINS(last_resolve, "no drill mark discounted here");
    run_to(t0 + 3000);
    CHECK_EQ_INT(resolved, 1);
}

static void test_no_longer_leads(void)
{
    uint64_t t0 = now;
    int r0 = raised;
    marking = true;
    run_to(t0 + 3500);
    CHECK(raised > r0);
    leads = false;                                 /* this instance's drills stop acting */
    run_to(t0 + 3750);
    CHECK_EQ_INT(resolved, 2);                     /* at once */
    CHECK_CONTAINS(last_resolve, "this instance no longer leads");
}

int main(void)
{
    test_no_flap();
    test_hold();
    test_no_longer_leads();
    return check_finish();
}
