/* observers — this instance's view for cluster/views.c (observers.h). */
#include "daemon/observers.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cluster/lease.h"
#include "cluster/suspect.h"
#include "cluster/view_mark.h"
#include "cluster/views.h"
#include "core/alarm.h"
#include "core/log.h"
#include "core/loop.h"
#include "daemon/rsrc.h"
#include "daemon/control.h"
#include "daemon/drill.h"
#include "daemon/targets.h"

_Static_assert(SUSPECT_REASON_MAX == VIEW_SUSPECT_REASON_MAX, "the suspect reason fits the view document");

/* The suspect rule's bounds, in publish intervals (docs/ha.md "Self-partition"). */
#define TABLES_PUBLISHES 3   /* the tables unanswered this long: as long as others take to call us silent */
#define HOLD_PUBLISHES 2     /* suspect held this long after its last cause cleared */

/* Each region's cumulative counts at the last heartbeat, and the counts of
 * the window that ended there. */
static struct {
    struct {
        char name[65];
        uint64_t probes, failures;       /* cumulative at the last heartbeat */
        uint32_t w_probes, w_failures;   /* the last window's */
    } r[CFG_MAX_REGIONS];
    size_t n;
    uint64_t last_ms, window_ms;
    /* the suspect rule's inputs per region (by name, config order) and its state */
    struct {
        char name[65];
        uint64_t good, bad;              /* cumulative good and failed probes at the last look */
    } seen[CFG_MAX_REGIONS];
    suspect_region_t sr[CFG_MAX_REGIONS];
    size_t n_seen;
    suspect_t sus;
} ob;

static void counts(const region_t *r, uint64_t *probes, uint64_t *failures)
{
    uint64_t all = 0;
    for (size_t i = 0; i < PROBE_OUTCOME_COUNT; i++)
        all += r->outcomes[i];
    *probes = all;
    *failures = all - r->outcomes[PROBE_OK] - r->outcomes[PROBE_SLOW];
}

static uint32_t clamp32(uint64_t x)
{
    return x > VIEW_COUNT_MAX ? VIEW_COUNT_MAX : (uint32_t)x;
}

/* A new window: each region's counts since the last heartbeat (a region new
 * since then, or whose counts went back, counts from zero). */
static void new_window(uint64_t now)
{
    size_t n = targets_nregions();
    for (size_t i = 0; i < n && i < CFG_MAX_REGIONS; i++) {
        const region_t *r = targets_region(i);
        uint64_t p, f, p0 = 0, f0 = 0;
        counts(r, &p, &f);
        for (size_t j = 0; j < ob.n; j++)
            if (strcmp(ob.r[j].name, r->name) == 0 && ob.r[j].probes <= p && ob.r[j].failures <= f) {
                p0 = ob.r[j].probes;
                f0 = ob.r[j].failures;
            }
        ob.r[i].w_probes = clamp32(p - p0);
        ob.r[i].w_failures = clamp32(f - f0);
        if (ob.r[i].w_failures > ob.r[i].w_probes)
            ob.r[i].w_failures = ob.r[i].w_probes;
    }
    for (size_t i = 0; i < n && i < CFG_MAX_REGIONS; i++) {
        const region_t *r = targets_region(i);
        snprintf(ob.r[i].name, sizeof(ob.r[i].name), "%s", r->name);
        counts(r, &ob.r[i].probes, &ob.r[i].failures);
    }
    ob.n = n < CFG_MAX_REGIONS ? n : CFG_MAX_REGIONS;
    ob.window_ms = ob.last_ms ? now - ob.last_ms : 0;
    ob.last_ms = now;
}

static view_state_t vstate(health_state_t s)
{
    switch (s) {
    case HEALTH_UP: return VIEW_UP;
    case HEALTH_DEGRADED: return VIEW_DEGRADED;
    case HEALTH_DOWN: return VIEW_DOWN;
    default: return VIEW_UNKNOWN;
    }
}

/* A region's good probes (ok, slow) and failed ones (anything else but a
 * probe regiond could not run: that is a local shortage, or a drill). */
static void good_bad(const region_t *r, uint64_t *good, uint64_t *bad)
{
    *good = r->outcomes[PROBE_OK] + r->outcomes[PROBE_SLOW];
    *bad = 0;
    for (size_t k = 0; k < PROBE_OUTCOME_COUNT; k++)
        *bad += (k == PROBE_OK || k == PROBE_SLOW || k == PROBE_INTERNAL) ? 0 : r->outcomes[k];
}

/* How far back "at once" looks for region r: publish_ms, or twice its
 * longest probe interval when that is longer (it has been probed in it). */
static uint32_t window_of(const region_t *r, uint32_t publish_ms)
{
    uint32_t longest = 0;
    for (size_t a = 0; a < r->cfg->n_api; a++)
        longest = r->cfg->api[a].interval_ms > longest ? r->cfg->api[a].interval_ms : longest;
    return publish_ms > 2 * longest ? publish_ms : 2 * longest;
}

/* Each region's latest good and failed probe, from its counts' growth since
 * the last look (every 250 ms: cluster/views.c). */
static void look(uint64_t now, uint32_t publish_ms)
{
    size_t n = targets_nregions() < CFG_MAX_REGIONS ? targets_nregions() : CFG_MAX_REGIONS;
    suspect_region_t sr[CFG_MAX_REGIONS];
    uint64_t good[CFG_MAX_REGIONS], bad[CFG_MAX_REGIONS];
    for (size_t i = 0; i < n; i++) {
        const region_t *r = targets_region(i);
        good_bad(r, &good[i], &bad[i]);
        sr[i] = (suspect_region_t){ 0, 0, window_of(r, publish_ms), 0 };
        for (size_t j = 0; j < ob.n_seen; j++) {
            if (strcmp(ob.seen[j].name, r->name) != 0)
                continue;
            /* counts that went back (the region's targets replaced by a reload) count from zero */
            uint64_t g0 = good[i] >= ob.seen[j].good ? ob.seen[j].good : 0;
            uint64_t b0 = bad[i] >= ob.seen[j].bad ? ob.seen[j].bad : 0;
            bool g = good[i] > g0, b = bad[i] > b0;
            sr[i].last_ok_ms = g ? now : ob.sr[j].last_ok_ms;
            sr[i].last_fail_ms = b ? now : ob.sr[j].last_fail_ms;
            /* a run of failures starts at the first look that saw one; only a
             * look with good probes and no failed one ends it (a region whose
             * targets partly fail keeps its run, and its own later answers
             * vouch for it: suspect_down_vouched) */
            sr[i].fail_since_ms = b ? (ob.sr[j].fail_since_ms ? ob.sr[j].fail_since_ms : now)
                                    : g ? 0 : ob.sr[j].fail_since_ms;
        }
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(ob.seen[i].name, sizeof(ob.seen[i].name), "%s", targets_region(i)->name);
        ob.seen[i].good = good[i];
        ob.seen[i].bad = bad[i];
        ob.sr[i] = sr[i];
    }
    ob.n_seen = n;
}

/* The suspect rule's step; a change is logged and raised (or resolved). */
static void judge(uint64_t now)
{
    uint32_t pub = views_publish_ms();
    char terr[512], short_why[400];
    look(now, pub);
    suspect_cfg_t c = { TABLES_PUBLISHES * pub, HOLD_PUBLISHES * pub };
    suspect_in_t in = { ob.n_seen, ob.sr, views_tables_quiet_ms(terr, sizeof(terr)), terr,
                        rsrc_shortage(short_why, sizeof(short_why)), short_why };
    if (!suspect_step(&c, &ob.sus, &in, now))
        return;
    alarm_key_t k = alarm_key(ALARM_OBSERVER_SUSPECT);
    if (ob.sus.suspect && ob.sus.causes) {
        char sum[SUSPECT_REASON_MAX + 64];
        snprintf(sum, sizeof(sum), "this instance's view is suspect: %s", ob.sus.reason);
        log_msg(LOG_WARNING, "msg=\"this instance's view is suspect\" reason=\"%s\"", ob.sus.reason);
        alarm_raise(k.s, "warning", sum, NULL);
    } else if (ob.sus.suspect) {
        log_msg(LOG_NOTICE, "msg=\"this instance's view: every cause cleared, suspect held\" hold_ms=%u",
                c.hold_ms);
    } else {
        log_msg(LOG_NOTICE, "msg=\"this instance's view is no longer suspect\"");
        alarm_resolve(k.s, "this instance's view is no longer suspect");
    }
}

/* Region name's drill mark (docs/ha.md "Drills under the quorum rule"): the
 * id of a fail drill in effect here (*mine true), or of one the leader's
 * view names, as its items in a majority of the lease tables name it
 * (*mine false: one forged item in one table is not enough, known defect
 * 28); 0 when none.  The leader is the holder the lease names, else, while
 * none holds, the last one seen; its view counts fresh or silent (a leader
 * cut off from the tables keeps its drills until another instance holds:
 * known defect 39). */
static uint64_t drill_mark(const char *name, bool *mine)
{
    uint64_t ids[VIEW_MAX_DRILLS];
    char regs[VIEW_MAX_DRILLS][65];
    size_t n = drill_fail_active(ids, regs, VIEW_MAX_DRILLS);
    *mine = true;
    for (size_t i = 0; i < n; i++)
        if (strcmp(regs[i], name) == 0)
            return ids[i];
    *mine = false;
    lease_holder_t h;
    lease_holder(&h);
    if (!h.known)
        lease_last_holder(&h);
    for (size_t i = 0; h.known && i < views_n(); i++) {
        views_obs_t v;
        if (views_get(i, &v) == -1 || v.self || !v.view || strcmp(v.id, h.id) != 0)
            continue;
        return views_drill_agreed(i, name);   /* named by its items in a majority of the tables */
    }
    return 0;
}

/* A down verdict of this instance's own probes counts only when another
 * region answered since its failures began (known defect 34): otherwise it
 * is shown unknown, with the reason in why, until that or the suspect verdict. */
static health_state_t probed(const region_t *r, char *why, size_t len)
{
    if (r->state != HEALTH_DOWN || ob.sus.suspect)   /* a suspect view counts for nothing */
        return r->state;
    for (size_t i = 0; i < ob.n_seen; i++)
        if (strcmp(ob.seen[i].name, r->name) == 0 && !suspect_down_vouched(ob.sr, ob.n_seen, i)) {
            snprintf(why, len, "down here, not counted yet: no probe answered since its failures began (%.60s)", r->reason);
            return HEALTH_UNKNOWN;
        }
    return r->state;
}

/* A drill's mark on region r's state in this instance's view: the leader's
 * drill marks it down at once, the reason naming this instance's own
 * probes' state (known defect 41: a leader that no longer runs the drill
 * counts that instead); this instance's own drill fails its probes
 * (targets_round.c), so its view follows them (down after the fall rounds)
 * and only the reason names the drill.  The reason into why when marked. */
static health_state_t vouched(const region_t *r, char *why, size_t len)
{
    why[0] = '\0';
    bool mine;
    uint64_t id = drill_mark(r->name, &mine);
    if (id && mine && r->state == HEALTH_DOWN) {
        snprintf(why, len, "drill %" PRIu64 ": failed by drill", id);
        return HEALTH_DOWN;
    }
    char own[160] = "";
    health_state_t s = probed(r, own, sizeof(own));
    if (!id || mine) {
        snprintf(why, len, "%s", own);
        return s;
    }
    snprintf(why, len, "drill %" PRIu64 ": failed by drill (the leader's)" VIEW_MARK_OWN "%s", id,
             view_state_str(vstate(s)));
    return HEALTH_DOWN;
}

health_state_t observers_own_state(size_t r)
{
    char why[160];
    const region_t *g = targets_region(r);
    return g ? vouched(g, why, sizeof(why)) : HEALTH_UNKNOWN;
}

static int local_view(view_t *v, bool heartbeat)
{
    uint64_t now = loop_now_ms();
    if (heartbeat || !ob.last_ms)
        new_window(now);
    size_t n = targets_nregions();
    v->n = 0;
    v->window_ms = ob.window_ms;
    judge(now);
    v->suspect = ob.sus.suspect;
    snprintf(v->suspect_reason, sizeof(v->suspect_reason), "%s", ob.sus.suspect ? ob.sus.reason : "");
    uint64_t ids[VIEW_MAX_DRILLS];
    char regs[VIEW_MAX_DRILLS][65];
    v->n_drills = drill_fail_active(ids, regs, VIEW_MAX_DRILLS);
    for (size_t i = 0; i < v->n_drills; i++) {
        v->drills[i].id = ids[i];
        snprintf(v->drills[i].region, sizeof(v->drills[i].region), "%.64s", regs[i]);
    }
    for (size_t i = 0; i < n && v->n < VIEW_MAX_REGIONS; i++) {
        const region_t *r = targets_region(i);
        view_region_t *o = &v->regions[v->n++];
        snprintf(o->region, sizeof(o->region), "%s", r->name);
        char why[160];
        o->state = vstate(vouched(r, why, sizeof(why)));
        view_set_reason(o, why[0] ? why : r->reason);
        o->age_ms = now > r->since_mono_ms ? now - r->since_mono_ms : 0;
        for (size_t j = 0; j < ob.n; j++)
            if (strcmp(ob.r[j].name, r->name) == 0) {
                o->probes = ob.r[j].w_probes;
                o->failures = ob.r[j].w_failures;
            }
    }
    return 0;
}

bool observers_self_suspect(void)
{
    return ob.sus.suspect;
}

const char *observers_self_suspect_reason(void)
{
    return ob.sus.suspect ? ob.sus.reason : "";
}

/* After every read of the views: the quorum rule again, and a decision when
 * a region's combined state changed. */
static void on_read(void)
{
    if (observers_quorum_update())
        ctrl_health_changed();
}

int observers_init(const cfg_t *cfg)
{
    memset(&ob, 0, sizeof(ob));
    observers_quorum_reset();
    views_on_read(on_read);
    return views_init(cfg, local_view);
}

/* No views, no verdict: a suspect alarm raised before is resolved. */
static void verdict_off(void)
{
    if (ob.sus.suspect)
        alarm_resolve(alarm_key(ALARM_OBSERVER_SUSPECT).s, "observer views are off");
    memset(&ob.sus, 0, sizeof(ob.sus));
}

void observers_configure(const cfg_t *cfg)
{
    views_configure(cfg);
    if (!views_publish_ms())   /* cluster.quorum gone with the reload */
        verdict_off();
    if (!observers_quorum_on())
        observers_quorum_reset();
}

void observers_fini(void)
{
    verdict_off();
    views_fini();
    observers_quorum_reset();
}
