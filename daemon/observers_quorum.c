/* observers_quorum — the quorum rule applied (observers.h; docs/ha.md
 * "The quorum rule"): every observer's view (cluster/views.h) and this
 * instance's own region states, combined by failover/quorum.h into one
 * health per region, which the controller (control.c) gives the decision
 * engine instead of its own probes' health.  Computed on every instance,
 * leader or not, after every read of the views and before every decision;
 * the combined state is latched (held when no quorum).  Alarm
 * "cluster-quorum" while fewer than k views are usable, naming the silent
 * and suspect observers (not in the first silent_after_ms after the views
 * start: nothing has been read yet) and any drain or restore it refused.
 * Each region's last call or refusal is kept with the views it counted and
 * those it left out (observers_record.h), shown in status and emitted as
 * event quorum_decision when it changes; so is a latched down a fail drill
 * leaves behind when it stops acting here, forgotten (call "forgotten").
 * Alarm "cluster-mark-stale"
 * while a usable view's drill mark has been discounted (a drill not acting
 * here, cluster/view_mark.h) for over 3 publish_ms, resolved 2 publish_ms
 * after the last such mark goes (known defect 41). */
#include "daemon/observers.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cluster/view_mark.h"
#include "cluster/views.h"
#include "core/alarm.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/feed.h"
#include "daemon/drill.h"
#include "daemon/leader.h"
#include "daemon/observers_record.h"
#include "daemon/targets.h"
#include "failover/quorum.h"

static struct {
    bool on;
    size_t n;                                   /* regions */
    quorum_rid_t rid[QUORUM_MAX_REGIONS];      /* name and born of each region */
    health_state_t state[QUORUM_MAX_REGIONS];   /* the latched combined state */
    uint64_t since[QUORUM_MAX_REGIONS];         /* monotonic ms it was entered */
    size_t nobs;
    char ids[QUORUM_MAX_OBS][65];
    uint32_t k;
    quorum_out_t out;
    bool alarm_on;
    oqr_t rec[QUORUM_MAX_REGIONS];              /* each region's last call or refusal */
    uint64_t rec_seq;
    view_mark_age_t stale[QUORUM_MAX_OBS][QUORUM_MAX_REGIONS];   /* each view's discounted mark per region */
    char stale_ids[QUORUM_MAX_OBS][65];         /* whose row stale[i] is */
    bool stale_on;
    uint32_t aside[QUORUM_MAX_REGIONS];         /* bit i: observer i's up or degraded set aside (drilled) */
    health_state_t aside_vote[QUORUM_MAX_REGIONS][QUORUM_MAX_OBS];   /* what it said */
} oq;

static health_state_t hstate(view_state_t s)
{
    switch (s) {
    case VIEW_UP: return HEALTH_UP;
    case VIEW_DEGRADED: return HEALTH_DEGRADED;
    case VIEW_DOWN: return HEALTH_DOWN;
    default: return HEALTH_UNKNOWN;
    }
}

/* While this instance's drills act (it leads, or led and saw no other
 * holder since), its acting fail drills into act and their count: another
 * view's drill mark counts only for one of them (cluster/view_mark.h;
 * known defect 39's follow-up: a follower's mark from this leader's cached
 * view outlives the drill by up to publish_ms).  SIZE_MAX otherwise: marks
 * count as they stand (the leader's drills are not known here). */
static size_t acting_drills(view_drill_t *act)
{
    if (!leader_drills_act())
        return SIZE_MAX;
    uint64_t ids[VIEW_MAX_DRILLS];
    char regs[VIEW_MAX_DRILLS][65];
    size_t n = drill_fail_active(ids, regs, VIEW_MAX_DRILLS);
    for (size_t i = 0; i < n; i++) {
        act[i].id = ids[i];
        memcpy(act[i].region, regs[i], sizeof(act[i].region));   /* both 65 bytes */
        act[i].region[sizeof(act[i].region) - 1] = '\0';
    }
    return n;
}

/* Whether a fail drill acting here (act, na as acting_drills gave) is on
 * region r: another view's up or degraded vote on r is then no opinion.
 * It says only that the view has not read ours naming the drill (a term
 * that resumed the drill at its read, known defect 33), or cannot; its
 * down vote counts.  A normal drill drains once k views mark it, as
 * before; a resumed one keeps its drained weight (unknown) until then, and
 * nothing restores the region before the drill stops acting here. */
static bool drilled(const view_drill_t *act, size_t na, size_t r)
{
    for (size_t j = 0; na != SIZE_MAX && j < na; j++)
        if (strcmp(act[j].region, oq.rid[r].name) == 0)
            return true;
    return false;
}

/* Observer i's usable view discounts a mark of drill id on region r (counted as c). */
static void stale_seen(size_t i, size_t r, uint64_t id, view_state_t c)
{
    if (strcmp(oq.stale_ids[i], oq.ids[i]) != 0) {   /* another observer in row i since a reload */
        memset(oq.stale[i], 0, sizeof(oq.stale[i]));
        memcpy(oq.stale_ids[i], oq.ids[i], sizeof(oq.stale_ids[i]));
    }
    view_mark_age_saw(&oq.stale[i][r], id, c, loop_now_ms());
}

/* Observer i's input: this instance from its own regions, the others from their views. */
static void input(size_t i, quorum_obs_t *q)
{
    views_obs_t v;
    memset(q, 0, sizeof(*q));
    for (size_t r = 0; r < oq.n; r++)
        oq.aside[r] &= ~(1u << i);
    if (views_get(i, &v) == -1)
        return;
    snprintf(oq.ids[i], sizeof(oq.ids[i]), "%s", v.id);
    *q = (quorum_obs_t){.id = oq.ids[i], .self = v.self, .seen = v.seen, .fresh = v.fresh};
    if (v.self) {
        q->suspect = observers_self_suspect();
        for (size_t r = 0; r < oq.n; r++)
            q->state[r] = observers_own_state(r);   /* a drill's mark included */
        return;
    }
    if (!v.view)
        return;
    q->suspect = v.view->suspect;
    view_drill_t act[VIEW_MAX_DRILLS];
    size_t na = acting_drills(act);
    for (size_t r = 0; r < oq.n; r++)
        for (size_t j = 0; j < v.view->n; j++)
            if (strcmp(v.view->regions[j].region, oq.rid[r].name) == 0) {
                const view_region_t *g = &v.view->regions[j];
                view_state_t c = na == SIZE_MAX ? g->state : view_mark_counted(g, act, na);
                q->state[r] = hstate(c);
                if (q->state[r] != HEALTH_DOWN && q->state[r] != HEALTH_UNKNOWN && drilled(act, na, r)) {
                    oq.aside[r] |= 1u << i;   /* shown as it said, left out "drilled" (record) */
                    oq.aside_vote[r][i] = q->state[r];
                    q->state[r] = HEALTH_UNKNOWN;   /* has not read our view naming the drill, or cannot */
                }
                if (v.fresh && !v.view->suspect && na != SIZE_MAX && view_mark_stale(g, act, na))
                    stale_seen(i, r, view_mark_drill(g->reason), c);
            }
}

static size_t names_of(uint32_t mask, char *buf, size_t len)
{
    size_t off = 0, c = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < oq.nobs; i++)
        if (mask & (1u << i)) {
            if (off < len)
                off += (size_t)snprintf(buf + off, len - off, "%s%s", c ? ", " : "", oq.ids[i]);
            c++;
        }
    return c;
}

/* "drain of r2, restore of r3": the regions whose last record is a refusal
 * the current state still holds. */
static size_t refused_of(char *buf, size_t len)
{
    size_t off = 0, c = 0;
    buf[0] = '\0';
    for (size_t r = 0; r < oq.n; r++) {
        const oqr_t *x = &oq.rec[r];
        bool held = x->rec.to == oq.state[r] && oq.out.why[r] != QUORUM_WHY_DECIDED;   /* still in effect */
        if (!x->have || x->rec.call != QUORUM_CALL_REFUSED || !held)
            continue;
        if (off < len)
            off += (size_t)snprintf(buf + off, len - off, "%s%s of %s", c ? ", " : "",
                                    x->rec.would == HEALTH_DOWN ? "drain" : "restore", oq.rid[r].name);
        c++;
    }
    return c;
}

static void alarm_update(uint64_t now)
{
    alarm_key_t key = alarm_key(ALARM_CLUSTER_QUORUM);
    if (oq.out.ok) {
        if (oq.alarm_on)
            alarm_resolve(key.s, "k fresh observer views are back: the quorum rule decides again");
        oq.alarm_on = false;
        return;
    }
    if (now - views_started_ms() < views_silent_ms())
        return;   /* the views' first reads are not in yet */
    char silent[700], suspect[700], refused[400], msg[2100];
    size_t ns = names_of(oq.out.silent, silent, sizeof(silent));
    size_t nu = names_of(oq.out.suspect, suspect, sizeof(suspect));
    size_t nr = refused_of(refused, sizeof(refused));
    snprintf(msg, sizeof(msg), "no observer quorum: %" PRIu32 " of %zu views usable, k is %" PRIu32
             "; no region is drained or restored%s%s%s; silent: %s; suspect: %s", oq.out.n_usable, oq.nobs, oq.k,
             nr ? " (refused: " : "", refused, nr ? ")" : "", ns ? silent : "none", nu ? suspect : "none");
    alarm_raise(key.s, "critical", msg, observers_quorum_json());   /* the views side by side, each record */
    if (!oq.alarm_on)
        log_msg(LOG_WARNING, "msg=\"%s\"", msg);
    oq.alarm_on = true;
}

#define STALE_HOLD_PUBLISHES 2   /* a mark missed this long is gone, as observer-suspect's hold */

static void stale_resolve(const char *why)
{
    if (oq.stale_on)
        alarm_resolve(alarm_key(ALARM_CLUSTER_MARK_STALE).s, why);
    oq.stale_on = false;
}

/* Alarm cluster-mark-stale while a usable view's mark has been discounted
 * for over 3 publish_ms: that observer's vote on the region is its own
 * probes' state named in the mark, or no opinion from an older build
 * (docs/ha.md known defect 41).  A mark missed in some combines keeps its
 * age and the alarm until unseen for 2 publish_ms (view_mark_age_over);
 * resolved at once when this instance's drills no longer act (marks count
 * as they stand then). */
static void stale_alarm(uint64_t now)
{
    if (!leader_drills_act()) {
        memset(oq.stale, 0, sizeof(oq.stale));
        stale_resolve("this instance no longer leads: drill marks count as they stand, none is discounted");
        return;
    }
    uint64_t pub = views_publish_ms(), after = 3 * pub, hold = STALE_HOLD_PUBLISHES * pub;
    char list[1500], item[300];
    size_t c = 0, more = 0;
    list[0] = '\0';
    for (size_t i = 0; i < oq.nobs && i < QUORUM_MAX_OBS; i++)
        for (size_t r = 0; r < oq.n; r++) {
            view_mark_age_t *a = &oq.stale[i][r];
            if (!view_mark_age_over(a, now, after, hold))
                continue;
            snprintf(item, sizeof(item), "observer %s region %s drill %" PRIu64 " (counted %s)", oq.stale_ids[i],
                     oq.rid[r].name, a->drill, view_state_str(a->counted));
            view_mark_list_add(list, sizeof(list), &more, item);
            c++;
        }
    if (!c) {
        stale_resolve("no drill mark discounted here for over 3 publish_ms (any left unseen for 2 publish_ms)");
        return;
    }
    view_mark_list_end(list, sizeof(list), more);
    char msg[1800];
    snprintf(msg, sizeof(msg), "%zu drill mark(s) of drills not acting here discounted for over 3 publish_ms "
             "(the marking observers still read them from the holder's view: is its view write failing?): %s", c,
             list);
    alarm_raise(alarm_key(ALARM_CLUSTER_MARK_STALE).s, "warning", msg, NULL);
    if (!oq.stale_on)
        log_msg(LOG_WARNING, "msg=\"%s\"", msg);
    oq.stale_on = true;
}

bool observers_quorum_on(void)
{
    return views_n() > 0;
}

/* Each kept discounted mark follows its region by name and generation. */
static void stale_remap(const quorum_rid_t *rid, size_t n)
{
    static view_mark_age_t st[QUORUM_MAX_OBS][QUORUM_MAX_REGIONS];
    memset(st, 0, sizeof(st));
    for (size_t r = 0; r < n; r++)
        for (size_t o = 0; o < oq.n; o++)
            if (strcmp(oq.rid[o].name, rid[r].name) == 0 && oq.rid[o].born == rid[r].born)
                for (size_t i = 0; i < QUORUM_MAX_OBS; i++)
                    st[i][r] = oq.stale[i][o];
    memcpy(oq.stale, st, sizeof(st));
}

/* The configured regions now (a reload may have removed, added or moved
 * some): each keeps its combined state by name and the generation that
 * added it, a new one (or one removed and added back) starts unknown, a
 * removed one is forgotten (quorum_remap). */
static void regions_update(uint64_t now)
{
    size_t n = targets_nregions();
    n = n < QUORUM_MAX_REGIONS ? n : QUORUM_MAX_REGIONS;
    bool same = n == oq.n;
    for (size_t r = 0; same && r < n; r++)
        same = strcmp(oq.rid[r].name, targets_region(r)->name) == 0 && oq.rid[r].born == targets_region(r)->born;
    if (same)
        return;
    static quorum_rid_t rid[QUORUM_MAX_REGIONS];
    health_state_t state[QUORUM_MAX_REGIONS];
    uint64_t since[QUORUM_MAX_REGIONS];
    for (size_t r = 0; r < n; r++) {
        snprintf(rid[r].name, sizeof(rid[r].name), "%s", targets_region(r)->name);
        rid[r].born = targets_region(r)->born;
    }
    quorum_remap(oq.rid, oq.state, oq.since, oq.n, rid, n, now, state, since);
    static oqr_t rec[QUORUM_MAX_REGIONS];   /* each region's record follows it by name and generation */
    memset(rec, 0, sizeof(rec));
    for (size_t r = 0; r < n; r++)
        for (size_t o = 0; o < oq.n; o++)
            if (strcmp(oq.rid[o].name, rid[r].name) == 0 && oq.rid[o].born == rid[r].born)
                rec[r] = oq.rec[o];
    memcpy(oq.rec, rec, sizeof(rec));
    stale_remap(rid, n);   /* before oq.rid is the new list */
    memcpy(oq.rid, rid, sizeof(rid));
    memcpy(oq.state, state, sizeof(state));
    memcpy(oq.since, since, sizeof(since));
    oq.n = n;
}

/* Region r's new record logged and emitted as event quorum_decision. */
static void emit(size_t r, uint64_t now)
{
    const oqr_t *x = &oq.rec[r];
    char line[1200];
    oqr_line(x, oq.rid[r].name, line, sizeof(line));
    log_msg(LOG_NOTICE, "msg=\"quorum decision: %s\" region=%s seq=%" PRIu64, line, oq.rid[r].name, x->seq);
    cJSON *d = oqr_json(x, now);
    if (d)
        cJSON_DeleteItemFromObjectCaseSensitive(d, "age_ms");   /* the event's own time says when */
    if (d && !cJSON_AddStringToObject(d, "region", oq.rid[r].name)) {
        cJSON_Delete(d);
        d = NULL;
    }
    if (d)
        feed_emit(EV_QUORUM_DECISION, d);
}

/* Region r's record of this combine (quorum_record) kept, logged and
 * emitted as event quorum_decision when it differs from the last one. */
static void record(const quorum_obs_t *obs, size_t r, uint64_t now)
{
    quorum_record_t rec;
    if (!quorum_record(obs, oq.nobs, oq.k, r, oq.state[r], &oq.out, &rec))
        return;
    for (size_t i = 0; i < oq.nobs; i++)
        if (oq.aside[r] & (1u << i)) {
            rec.vote[i] = oq.aside_vote[r][i];   /* its own state shown, not the unknown it counted as */
            if (rec.left[i] == QUORUM_LEFT_NO_OPINION)
                rec.left[i] = QUORUM_LEFT_DRILLED;   /* silent or suspect stay so */
        }
    oqr_t *x = &oq.rec[r];
    if (x->have && rec.call == QUORUM_CALL_REFUSED && memcmp(&rec, &x->rec, sizeof(rec)) == 0)
        return;   /* the same refusal again */
    *x = (oqr_t){.have = true, .seq = ++oq.rec_seq, .mono_ms = now, .leader = leader_may_act(), .rec = rec};
    for (size_t i = 0; i < oq.nobs; i++) {
        views_obs_t v;
        memcpy(x->ids[i], oq.ids[i], sizeof(x->ids[i]));
        x->age_ms[i] = UINT64_MAX;
        if (views_get(i, &v) == -1)
            continue;
        x->age_ms[i] = v.self ? 0 : v.age_ms;   /* its own view is now by definition */
        if (rec.left[i] == QUORUM_LEFT_SUSPECT)
            snprintf(x->detail[i], sizeof(x->detail[i]), "%.*s", OQR_DETAIL_MAX,
                     v.self ? observers_self_suspect_reason() : v.view ? v.view->suspect_reason : "");
    }
    emit(r, now);
}

bool observers_quorum_update(void)
{
    uint64_t now = loop_now_ms();
    oq.nobs = views_n();
    oq.on = oq.nobs > 0;
    if (!oq.on)
        return false;
    oq.k = views_k();
    regions_update(now);
    quorum_obs_t obs[QUORUM_MAX_OBS];
    for (size_t i = 0; i < oq.nobs; i++)
        input(i, &obs[i]);
    stale_alarm(now);
    if (quorum_combine(obs, oq.nobs, oq.k, oq.n, oq.state, &oq.out) == -1) {
        log_msg(LOG_ERR, "msg=\"quorum rule refused its inputs\" observers=%zu k=%" PRIu32, oq.nobs, oq.k);
        return false;
    }
    bool changed = false;
    for (size_t r = 0; r < oq.n; r++) {
        record(obs, r, now);
        if (oq.out.state[r] == oq.state[r])
            continue;
        char used[700], down[700];
        names_of(oq.out.usable, used, sizeof(used));
        names_of(oq.out.down[r], down, sizeof(down));
        log_msg(LOG_NOTICE, "msg=\"quorum: region %s\" region=%s from=%s to=%s k=%" PRIu32 " used=\"%s\" down=\"%s\"",
                health_state_str(oq.out.state[r]), oq.rid[r].name, health_state_str(oq.state[r]),
                health_state_str(oq.out.state[r]), oq.k, used, down);
        oq.state[r] = oq.out.state[r];
        oq.since[r] = now;
        changed = true;
    }
    alarm_update(now);
    return changed;
}

/* Region r's latched state set aside outside the rule (from, to unknown):
 * its record, call "forgotten" with the drill and a reason (what of the
 * drill: "stopped acting here" for a forget, "resumed acting here" for a
 * resume), no view taken (none shown), logged and emitted like a decision. */
static void forgotten(size_t r, health_state_t from, uint64_t drill, const char *what, uint64_t now)
{
    oqr_t *x = &oq.rec[r];
    *x = (oqr_t){.have = true, .seq = ++oq.rec_seq, .mono_ms = now, .leader = leader_may_act(), .drill = drill};
    x->rec = (quorum_record_t){.call = QUORUM_CALL_FORGOTTEN, .from = from, .to = HEALTH_UNKNOWN,
                               .would = HEALTH_UNKNOWN, .k = oq.k, .n = (uint32_t)oq.nobs};
    char d[48] = "a fail drill";
    if (drill)
        snprintf(d, sizeof(d), "drill %" PRIu64, drill);
    snprintf(x->reason, sizeof(x->reason), "%s %s: combined state forgotten, back to unknown until k views decide",
             d, what);
    emit(r, now);
}

void observers_quorum_forget(const char *name, uint64_t drill)
{
    uint64_t now = loop_now_ms();
    for (size_t r = 0; oq.on && r < oq.n; r++) {
        if (strcmp(oq.rid[r].name, name) != 0 || oq.state[r] != HEALTH_DOWN)
            continue;
        oq.state[r] = HEALTH_UNKNOWN;   /* the engine keeps the live weight until k views decide */
        oq.since[r] = now;   /* a health change for settle_ms, as the region's own reset (health_target_forget) */
        forgotten(r, HEALTH_DOWN, drill, "stopped acting here", now);
    }
}

void observers_quorum_resume(const char *name, uint64_t drill)
{
    uint64_t now = loop_now_ms();
    for (size_t r = 0; oq.on && r < oq.n; r++) {
        if (strcmp(oq.rid[r].name, name) != 0 || (oq.state[r] != HEALTH_UP && oq.state[r] != HEALTH_DEGRADED))
            continue;
        health_state_t from = oq.state[r];
        oq.state[r] = HEALTH_UNKNOWN;   /* the engine keeps the live weight until k views decide */
        oq.since[r] = now;
        forgotten(r, from, drill, "resumed acting here (the others' up is no opinion while it acts)", now);
    }
}

health_state_t observers_quorum_state(size_t r, uint64_t *since)
{
    if (!oq.on || r >= oq.n) {
        *since = 0;
        return HEALTH_UNKNOWN;
    }
    *since = oq.since[r];
    return oq.state[r];
}

void observers_quorum_reset(void)
{
    bool was = oq.alarm_on, stale = oq.stale_on;
    memset(&oq, 0, sizeof(oq));
    if (was)
        alarm_resolve(alarm_key(ALARM_CLUSTER_QUORUM).s, "observer views are off");
    if (stale)
        alarm_resolve(alarm_key(ALARM_CLUSTER_MARK_STALE).s, "observer views are off");
}

/* ---- shown ---- */

static cJSON *id_list(uint32_t mask)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < oq.nobs; i++)
        if (mask & (1u << i)) {
            cJSON *s = cJSON_CreateString(oq.ids[i]);
            if (!s) {
                cJSON_Delete(a);
                return NULL;
            }
            cJSON_AddItemToArray(a, s);
        }
    return a;
}

static bool add_list(cJSON *o, const char *name, uint32_t mask)
{
    cJSON *a = id_list(mask);
    return a && cJSON_AddItemToObject(o, name, a);
}

cJSON *observers_quorum_region_json(size_t r)
{
    if (!oq.on || r >= oq.n)
        return NULL;
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "state", health_state_str(oq.state[r]))
        || !cJSON_AddStringToObject(o, "why", quorum_why_str(oq.out.why[r]))
        || !add_list(o, "used", oq.out.ok ? oq.out.usable : 0u)   /* held: no view used */
        || !add_list(o, "down", oq.out.down[r]) || !add_list(o, "up", oq.out.up[r])
        || !add_list(o, "degraded", oq.out.degraded[r])) {
        cJSON_Delete(o);
        return NULL;
    }
    cJSON *last = oq.rec[r].have ? oqr_json(&oq.rec[r], loop_now_ms()) : cJSON_CreateNull();
    if (!last || !cJSON_AddItemToObject(o, "last_decision", last)) {   /* which views it used */
        cJSON_Delete(last);
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *observers_quorum_json(void)
{
    if (!oq.on)
        return NULL;
    cJSON *o = cJSON_CreateObject(), *rs = NULL;
    bool ok = o && cJSON_AddBoolToObject(o, "ok", oq.out.ok) && cJSON_AddNumberToObject(o, "k", oq.k)
              && cJSON_AddNumberToObject(o, "usable_views", oq.out.n_usable) && add_list(o, "usable", oq.out.usable)
              && add_list(o, "silent", oq.out.silent) && add_list(o, "suspect", oq.out.suspect)
              && (rs = cJSON_AddArrayToObject(o, "regions"));
    uint64_t now = loop_now_ms();
    for (size_t r = 0; ok && r < oq.n; r++) {
        cJSON *x = observers_quorum_region_json(r);
        ok = x && cJSON_AddStringToObject(x, "region", oq.rid[r].name)
             && cJSON_AddNumberToObject(x, "age_ms", (double)(now - oq.since[r]));
        if (x)
            cJSON_AddItemToArray(rs, x);
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static unsigned bits(uint32_t x)
{
    unsigned c = 0;
    for (; x; x &= x - 1)
        c++;
    return c;
}

void observers_quorum_metrics(struct evbuffer *b)
{
    if (!oq.on)
        return;
    evbuffer_add_printf(b, "# HELP regiond_quorum_ok 1 while at least k observer views are fresh and not suspect "
                        "(the quorum rule can decide).\n# TYPE regiond_quorum_ok gauge\nregiond_quorum_ok %d\n"
                        "# HELP regiond_quorum_usable_views Observer views the quorum rule counts now (fresh, not "
                        "suspect; this instance's own included).\n# TYPE regiond_quorum_usable_views gauge\n"
                        "regiond_quorum_usable_views %" PRIu32 "\n"
                        "# HELP regiond_quorum_k Views that must agree to drain or restore a region.\n"
                        "# TYPE regiond_quorum_k gauge\nregiond_quorum_k %" PRIu32 "\n",
                        oq.out.ok ? 1 : 0, oq.out.n_usable, oq.k);
    evbuffer_add_printf(b, "# HELP regiond_quorum_region_up The combined state the decision uses: 1 up or degraded, "
                        "0 down (absent: unknown).\n# TYPE regiond_quorum_region_up gauge\n");
    for (size_t r = 0; r < oq.n; r++)
        if (oq.state[r] != HEALTH_UNKNOWN)
            evbuffer_add_printf(b, "regiond_quorum_region_up{region=\"%s\"} %d\n", oq.rid[r].name,
                                oq.state[r] != HEALTH_DOWN);
    evbuffer_add_printf(b, "# HELP regiond_quorum_region_votes Usable observer views per region by state.\n"
                        "# TYPE regiond_quorum_region_votes gauge\n");
    for (size_t r = 0; r < oq.n; r++)
        evbuffer_add_printf(b, "regiond_quorum_region_votes{region=\"%s\",vote=\"down\"} %u\n"
                            "regiond_quorum_region_votes{region=\"%s\",vote=\"up\"} %u\n"
                            "regiond_quorum_region_votes{region=\"%s\",vote=\"degraded\"} %u\n",
                            oq.rid[r].name, bits(oq.out.down[r]), oq.rid[r].name, bits(oq.out.up[r]), oq.rid[r].name,
                            bits(oq.out.degraded[r]));
    evbuffer_add_printf(b, "# HELP regiond_quorum_decision_view How region's last quorum decision (a call or a "
                        "refusal) took each observer's view: use is counted, or why it was left out.\n"
                        "# TYPE regiond_quorum_decision_view gauge\n");
    for (size_t r = 0; r < oq.n; r++)
        for (uint32_t i = 0; oq.rec[r].have && i < oqr_views(&oq.rec[r]); i++)
            evbuffer_add_printf(b, "regiond_quorum_decision_view{region=\"%s\",observer=\"%s\",use=\"%s\"} 1\n",
                                oq.rid[r].name, oq.rec[r].ids[i], quorum_left_str(oq.rec[r].rec.left[i]));
}
