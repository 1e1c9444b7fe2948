/* test_observers_quorum — observers_quorum_forget (daemon/observers.h;
 * docs/ha.md known defects 39 and 41): a fail drill that stops acting here
 * turns its region's latched combined DOWN into UNKNOWN, recorded as the
 * region's last decision (call "forgotten", the drill and a reason) and
 * emitted once as event quorum_decision; a region not latched down, another
 * region, an unknown name and the quorum off are left alone; the region's
 * since is the forget's time (a health change for settle_ms, like the
 * region's own reset); the next combine decides again from unknown.  And
 * observers_quorum_resume (known defect 33): a resumed fail drill's region
 * latched up becomes unknown (recorded and emitted as a forget), and while a fail drill acts here on a region
 * another view's up is no opinion (test_resume, with a second observer).
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
static uint32_t k_obs = 1, publish_ms = 1000;
static health_state_t own[3];
static view_t other;   /* observers 1 and 2 (test_resume): the other instances' view, */
static view_t *third = &other;   /* observer 2's: the same, or its own copy */
static region_t regs[3] = {{.name = "r1", .born = 1}, {.name = "r2", .born = 1}, {.name = "r3", .born = 1}};

size_t __wrap_views_n(void) { return nobs; }
uint32_t __wrap_views_k(void) { return k_obs; }
uint64_t __wrap_views_started_ms(void) { return loop_now_ms(); }
uint64_t __wrap_views_silent_ms(void) { return 3000; }
uint32_t __wrap_views_publish_ms(void) { return publish_ms; }
bool __wrap_observers_self_suspect(void) { return false; }
const char *__wrap_observers_self_suspect_reason(void) { return ""; }
health_state_t __wrap_observers_own_state(size_t r) { return r < 3 ? own[r] : HEALTH_UNKNOWN; }
bool __wrap_leader_may_act(void) { return true; }
bool __wrap_leader_drills_act(void) { return true; }
size_t __wrap_targets_nregions(void) { return 3; }
region_t *__wrap_targets_region(size_t i) { return i < 3 ? &regs[i] : NULL; }

static const char *acting;   /* the region of the one fail drill acting here (id 7), NULL when none */
size_t __wrap_drill_fail_active(uint64_t *ids, char (*regions)[65], size_t max)
{
    if (!acting || !max)
        return 0;
    ids[0] = 7;
    snprintf(regions[0], 65, "%s", acting);
    return 1;
}

int __wrap_views_get(size_t i, views_obs_t *out)
{
    if (i >= nobs)
        return -1;
    if (i >= 1) {   /* ctl-2 and ctl-3 (test_resume) publish the same view */
        *out = (views_obs_t){.id = i == 1 ? "ctl-2" : "ctl-3", .seen = true, .fresh = true, .age_ms = 0,
                             .view = i == 1 ? &other : third};
        return 0;
    }
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

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* observers_quorum_resume (known defect 33 under the quorum rule): three
 * observers, k 2 (the two others publish the same view).  A fail drill resumed on r1 turns its latched UP into
 * UNKNOWN (the live weight kept); while the drill acts here the other
 * view's up on r1 is no opinion, however long (it has not read our view
 * naming the drill, or cannot), so nothing restores r1; the other's down
 * (its mark) counts; r2, not drilled, counts the other's up; once the drill
 * stops acting (the forget) the other's up counts again. */
static void test_resume(void)
{
    observers_quorum_reset();
    nobs = 3;
    k_obs = 2;
    other.n = 3;
    for (size_t r = 0; r < 3; r++) {
        snprintf(other.regions[r].region, sizeof(other.regions[r].region), "r%zu", r + 1);
        other.regions[r].state = VIEW_UP;
    }
    own[0] = own[1] = HEALTH_UP;
    own[2] = HEALTH_DOWN;
    other.regions[2].state = VIEW_DOWN;
    observers_quorum_update();
    CHECK(state(0, NULL) == HEALTH_UP && state(1, NULL) == HEALTH_UP && state(2, NULL) == HEALTH_DOWN);

    acting = "r1";
    uint64_t since, t0 = loop_now_ms();
    n_events = 0;
    observers_quorum_resume("r1", 7);
    CHECK_EQ_INT(n_events, 1);       /* recorded and emitted as a forget is */
    CHECK(last_type == EV_QUORUM_DECISION);
    CHECK_CONTAINS(str(last, "call"), "forgotten");
    CHECK(strcmp(str(last, "from"), "up") == 0 && strcmp(str(last, "to"), "unknown") == 0);
    CHECK_EQ_INT(num(last, "drill"), 7);
    CHECK_CONTAINS(str(last, "reason"), "drill 7 resumed acting here");
    observers_quorum_resume("r3", 7);   /* latched down: stays */
    observers_quorum_resume("r9", 7);   /* no such region */
    CHECK_EQ_INT(n_events, 1);
    CHECK(state(0, &since) == HEALTH_UNKNOWN && since >= t0);
    CHECK(state(1, NULL) == HEALTH_UP && state(2, NULL) == HEALTH_DOWN);

    own[0] = HEALTH_DOWN;   /* its own view names the drill at once; the others' still say up (k of them) */
    observers_quorum_update();
    CHECK(state(0, NULL) == HEALTH_UNKNOWN);
    sleep_ms(100);          /* no time limit: still not counted while the drill acts */
    observers_quorum_update();
    CHECK(state(0, NULL) == HEALTH_UNKNOWN);
    own[1] = HEALTH_DOWN;   /* r2, not drilled: the others' up counts (two up, k 2: up) */
    observers_quorum_update();
    CHECK(state(1, NULL) == HEALTH_UP);

    static view_t ctl3;   /* ctl-2 has read the drill (its mark counts), ctl-3 not yet: still up */
    ctl3 = other;
    third = &ctl3;
    other.regions[0].state = VIEW_DOWN;
    observers_quorum_update();
    CHECK(state(0, NULL) == HEALTH_DOWN);   /* k 2: this instance and ctl-2 */
    cJSON *st = observers_quorum_region_json(0);   /* the decision shows ctl-3's up, left out "drilled" */
    const cJSON *vs = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(st, "last_decision"),
                                                       "views");
    const cJSON *v3 = cJSON_GetArrayItem(vs, 2);
    CHECK_CONTAINS(str(v3, "observer"), "ctl-3");
    CHECK_CONTAINS(str(v3, "vote"), "up");
    CHECK_CONTAINS(str(v3, "left_out"), "drilled");
    CHECK_CONTAINS(str(cJSON_GetArrayItem(vs, 1), "vote"), "down");
    cJSON_Delete(st);
    third = &other;

    acting = NULL;          /* the drill stops acting here: forgotten, the other's up counts again */
    own[0] = HEALTH_UP;
    other.regions[0].state = VIEW_UP;
    observers_quorum_forget("r1", 7);
    CHECK(state(0, NULL) == HEALTH_UNKNOWN);
    observers_quorum_update();
    CHECK(state(0, NULL) == HEALTH_UP);
    nobs = 1;
    k_obs = 1;
}

int main(void)
{
    test_forget();
    test_decides_again();
    test_off();
    test_resume();
    cJSON_Delete(last);
    return check_finish();
}
