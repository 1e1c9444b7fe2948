/* drill — see drill.h. */
#include "daemon/drill.h"
#include "daemon/drill_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "daemon/control.h"
#include "daemon/control_replica.h"
#include "core/feed.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/state.h"
#include "cluster/view_doc.h"
#include "daemon/observers.h"
#include "daemon/targets.h"

static const char *const dr_state_names[DR_NSTATES] = {"active", "done", "stopped", "dry-run"};

dr_table_t DR;

void dr_note(drill_t *d, const char *type, const char *text)
{
    if (!d->timeline || cJSON_GetArraySize(d->timeline) >= DR_TIMELINE)
        return;
    char t[40];
    int64_t now = loop_wall_ms();
    cJSON *x = cJSON_CreateObject();
    if (!x)
        return;
    cJSON_AddStringToObject(x, "t", loop_fmt_wall(now, t, sizeof(t)));
    cJSON_AddNumberToObject(x, "offset_s", (double)(now - d->start_wall_ms) / 1000.0);
    cJSON_AddStringToObject(x, "type", type);
    char *cut = NULL;
    if (strlen(text) > DR_TEXT_MAX && (cut = strndup(text, DR_TEXT_MAX)))
        text = cut;   /* bounded: a drill's file stays small */
    cJSON_AddStringToObject(x, "text", text);
    free(cut);
    cJSON_AddItemToArray(d->timeline, x);
}

/* Every event while a drill runs goes into its timeline. */
static void dr_on_event(uint64_t id, const char *type, const char *json)
{
    (void)id;
    static const char *const skip[] = {"audit", "daemon_start", NULL};
    for (size_t k = 0; skip[k]; k++)
        if (strcmp(type, skip[k]) == 0)
            return;
    int64_t now = loop_wall_ms();
    bool milestone = strncmp(type, "route53_change", 14) == 0 || strcmp(type, "decision") == 0 ||
                     strcmp(type, "region_state") == 0;
    for (size_t i = 0; i < DR.n; i++)   /* active, or restoring: two minutes after the end */
        if (DR.d[i].state == DR_ACTIVE || ((DR.d[i].state == DR_DONE || DR.d[i].state == DR_STOPPED) &&
                                           now < DR.d[i].end_wall_ms + 120000)) {
            dr_note(&DR.d[i], type, json);
            if (milestone)
                dr_save(&DR.d[i]);   /* this drill's small file, off the loop */
        }
}

static drill_t *dr_find(uint64_t id)
{
    for (size_t i = 0; i < DR.n; i++)
        if (DR.d[i].id == id)
            return &DR.d[i];
    return NULL;
}

/* A drill's pending start or stop is answered (once). */
static void dr_answer(drill_t *d, drill_rc_t rc, const char *msg)
{
    drill_done_fn done = d->done;
    void *arg = d->done_arg;
    d->done = NULL;
    d->done_arg = NULL;
    if (done)
        done(arg, rc, d->id, msg);
}

static drill_t *dr_find_arg(void *arg)
{
    return dr_find((uint64_t)(uintptr_t)arg);
}

#define DR_BACKOFF_MAX_MS 30000u   /* an expiry that cannot be saved: retried at most this far apart */

/* The restore is durable (or there was none to write): the drill ends. */
static void dr_ended(drill_t *d)
{
    int i = targets_region_index(d->region);
    if (d->fail && i >= 0)
        targets_set_drill_fail((size_t)i, false);
    d->state = d->end_how;
    d->ending = false;
    d->end_wall_ms = loop_wall_ms();
    dr_note(d, "drill_end", d->end_how == DR_DONE ? "expired: restoring" : "stopped early: restoring");
    cJSON *e = cJSON_CreateObject();
    if (e) {
        cJSON_AddNumberToObject(e, "drill", (double)d->id);
        cJSON_AddStringToObject(e, "region", d->region);
        cJSON_AddStringToObject(e, "state", dr_state_names[d->end_how]);
    }
    feed_emit(EV_DRILL_END, e);
    dr_save(d);
    ctrl_replica_push();   /* the next leader must not resume it (the release's own push may have gone first) */
    char msg[200];
    snprintf(msg, sizeof(msg), "drill %" PRIu64 " stopped: restoring %s", d->id, d->region);
    dr_answer(d, DRILL_OK, msg);
}

static void dr_on_released(void *arg, ctrl_rc_t rc, const char *msg)
{
    drill_t *d = dr_find_arg(arg);
    if (!d || !d->ending)
        return;   /* regiond is stopping */
    if (rc == CTRL_UNAVAILABLE) {   /* not durable: the drill goes on (the tick tries again, backing off) */
        d->ending = false;
        d->backoff_ms = d->backoff_ms ? (d->backoff_ms >= DR_BACKOFF_MAX_MS / 2 ? DR_BACKOFF_MAX_MS
                                         : d->backoff_ms * 2) : 1000;
        d->retry_mono_ms = loop_now_ms() + d->backoff_ms;
        log_msg(LOG_ERR, "msg=\"drill not ended yet\" drill=%" PRIu64 " retry_in_ms=%u error=\"%s\"", d->id,
                d->backoff_ms, msg);
        dr_answer(d, DRILL_UNAVAILABLE, msg);
        return;
    }
    if (rc == CTRL_UNCONFIRMED) {   /* released here (so the drill ended here), not confirmed on a majority */
        char m2[1300];
        snprintf(m2, sizeof(m2), "drill %" PRIu64 " stopped on this instance: %s", d->id, msg);
        dr_note(d, "unconfirmed", msg);
        dr_answer(d, DRILL_UNAVAILABLE, m2);
    }
    dr_ended(d);
}

/* End a drill: release its override (once durable: restore, note, save);
 * done is answered then. */
static void dr_end(drill_t *d, dr_state_t how, const char *who, drill_done_fn done, void *arg)
{
    d->ending = true;
    d->end_how = how;
    d->done = done;
    d->done_arg = arg;
    if (d->fail) {
        dr_ended(d);
        return;
    }
    /* Only the drill's own drain is released: an override set meanwhile
     * (an operator's pin) is someone else's and stays. */
    char own[40];
    int n = snprintf(own, sizeof(own), "drill %" PRIu64, d->id);
    const char *note = ctrl_override_note(d->region);
    if (note && !(strncmp(note, own, (size_t)n) == 0 && (note[n] == '\0' || note[n] == ':'))) {
        dr_note(d, "override_kept", "the region's override is not this drill's: left in place");
        dr_ended(d);
        return;
    }
    ctrl_override_clear(d->region, who, dr_on_released, (void *)(uintptr_t)d->id);
}

/* Take drill d out of the table (a start that could not be saved). */
static void dr_drop(drill_t *d)
{
    size_t k = (size_t)(d - DR.d);
    cJSON_Delete(d->timeline);
    dr_forget_file(d->id);
    memmove(&DR.d[k], &DR.d[k + 1], (DR.n - k - 1) * sizeof(DR.d[0]));
    DR.n--;
}

static void dr_on_override(void *arg, ctrl_rc_t rc, const char *m)
{
    drill_t *d = dr_find_arg(arg);
    if (!d || !d->starting)
        return;   /* regiond is stopping */
    d->starting = false;
    char msg[1300];
    if (rc == CTRL_UNCONFIRMED) {   /* its drain is in effect here: the drill runs, its end releases it */
        snprintf(msg, sizeof(msg), "drill %" PRIu64 " started on this instance: %s", d->id, m);
        dr_note(d, "unconfirmed", m);
        dr_save(d);
        dr_answer(d, DRILL_UNAVAILABLE, msg);
        return;
    }
    if (rc != CTRL_OK) {
        dr_note(d, "refused", m);
        d->state = DR_STOPPED;
        d->end_wall_ms = loop_wall_ms();
        dr_save(d);
        dr_answer(d, rc == CTRL_UNAVAILABLE ? DRILL_UNAVAILABLE : DRILL_REFUSED, m);
        return;
    }
    snprintf(msg, sizeof(msg), "drill %" PRIu64 " started: draining %s for %u s", d->id, d->region, d->duration_s);
    dr_save(d);
    dr_answer(d, DRILL_OK, msg);
}

/* The drill's file is durable (or not): it starts now, or never. */
static void dr_on_written(void *arg, int rc, const char *err)
{
    drill_t *d = dr_find_arg(arg);
    if (!d || !d->starting)
        return;
    char msg[700];
    if (rc == -1) {   /* not durable: not started, not acknowledged */
        snprintf(msg, sizeof(msg), "not started: the drill could not be saved (%.600s)", err);
        dr_answer(d, DRILL_UNAVAILABLE, msg);
        dr_drop(d);
        return;
    }
    if (!d->fail && d->term != ctrl_replica_term()) {   /* the term it was accepted in ended meanwhile */
        snprintf(msg, sizeof(msg), "not started: this instance stopped leading (epoch %" PRIu64 ") before the "
                 "drill's drain was set; ask the leader", d->term);
        dr_on_override(arg, CTRL_UNAVAILABLE, msg);
        return;
    }
    d->expires_mono_ms = loop_now_ms() + (uint64_t)d->duration_s * 1000u;
    cJSON *e = cJSON_CreateObject();
    if (e) {
        cJSON_AddNumberToObject(e, "drill", (double)d->id);
        cJSON_AddStringToObject(e, "region", d->region);
        cJSON_AddStringToObject(e, "action", d->fail ? "fail" : "drain");
        cJSON_AddNumberToObject(e, "duration_s", d->duration_s);
        cJSON_AddBoolToObject(e, "dry_run", false);
        cJSON_AddStringToObject(e, "note", d->note);
    }
    feed_emit(EV_DRILL_START, e);   /* first line of the timeline */
    int ri = targets_region_index(d->region);
    if (!d->fail) {
        char n2[260];
        snprintf(n2, sizeof(n2), "drill %" PRIu64 "%s%.200s", d->id, d->note[0] ? ": " : "", d->note);
        ctrl_override_set(d->region, true, 0, d->duration_s + 5, n2, d->who, dr_on_override, arg);
        return;
    }
    d->starting = false;
    if (ri >= 0)
        targets_set_drill_fail((size_t)ri, true);
    dr_note(d, "fault_injected", "probes of the region now count as failed (simulated outage)");
    ctrl_replica_push();   /* a drain drill is replicated with its override's save */
    snprintf(msg, sizeof(msg), "drill %" PRIu64 " started: failing %s for %u s", d->id, d->region, d->duration_s);
    dr_save(d);
    dr_answer(d, DRILL_OK, msg);
}

/* Under cluster.quorum a view names at most VIEW_MAX_DRILLS fail drills
 * (every build refuses a view naming more): a fail drill beyond them would
 * be neither marked by the others nor held through a takeover.  Checked at
 * a start only (docs/ha.md: a reload adding the quorum rule or a takeover
 * can still bring more). */
static bool dr_fail_cap(void)
{
    size_t n = 0;
    for (size_t i = 0; i < DR.n; i++)
        n += DR.d[i].state == DR_ACTIVE && DR.d[i].fail && !DR.d[i].dry_run;
    return observers_quorum_on() && n >= VIEW_MAX_DRILLS;
}

/* Checks before anything is written: NULL, or why not (rc set). */
static const char *dr_refuse(const char *region, bool fail, bool dry_run, drill_rc_t *rc, char *why, size_t whylen)
{
    static char msg[800];
    if (targets_region_index(region) < 0) {
        snprintf(msg, sizeof(msg), "no region named '%.200s'", region);
        *rc = DRILL_NOT_FOUND;
        return msg;
    }
    *rc = DRILL_REFUSED;
    for (size_t i = 0; i < DR.n; i++)
        if (DR.d[i].state == DR_ACTIVE && strcmp(DR.d[i].region, region) == 0) {
            snprintf(msg, sizeof(msg), "drill %" PRIu64 " is already running on %s", DR.d[i].id, region);
            return msg;
        }
    if (fail && !dry_run && dr_fail_cap()) {
        snprintf(msg, sizeof(msg), "at most %d fail drills at a time with cluster.quorum (an observer's view names "
                 "at most %d): stop one first", VIEW_MAX_DRILLS, VIEW_MAX_DRILLS);
        return msg;
    }
    /* Safety rules first, for both kinds: a failed region is drained too. */
    if (ctrl_preview_drain(region, why, whylen) == CTRL_REFUSED) {
        snprintf(msg, sizeof(msg), "%s", why);
        return msg;
    }
    if (DR.n == DR_MAX) {   /* forget the oldest finished drill */
        size_t k = 0;
        while (k < DR.n && DR.d[k].state == DR_ACTIVE)
            k++;
        if (k == DR.n)
            return "too many active drills";
        cJSON_Delete(DR.d[k].timeline);
        dr_forget_file(DR.d[k].id);
        memmove(&DR.d[k], &DR.d[k + 1], (DR.n - k - 1) * sizeof(DR.d[0]));
        DR.n--;
    }
    return NULL;
}

void drill_start(const char *region, bool fail, uint32_t duration_s, bool dry_run, const char *note,
                 const char *who, drill_done_fn done, void *arg)
{
    char why[600], msg[800];
    drill_rc_t rc;
    const char *bad = dr_refuse(region, fail, dry_run, &rc, why, sizeof(why));
    if (bad) {
        done(arg, rc, 0, bad);
        return;
    }
    drill_t *d = &DR.d[DR.n];
    memset(d, 0, sizeof(*d));
    d->timeline = cJSON_CreateArray();
    if (!d->timeline) {
        done(arg, DRILL_BAD, 0, "out of memory");
        return;
    }
    DR.n++;
    d->id = DR.next_id++;
    snprintf(d->region, sizeof(d->region), "%s", region);
    snprintf(d->note, sizeof(d->note), "%s", note ? note : "");
    snprintf(d->who, sizeof(d->who), "%s", who ? who : "");
    d->fail = fail;
    d->dry_run = dry_run;
    d->duration_s = duration_s;
    d->start_wall_ms = loop_wall_ms();
    d->expires_mono_ms = loop_now_ms() + (uint64_t)duration_s * 1000u;   /* again once durable */
    if (dry_run) {
        cJSON *e = cJSON_CreateObject();
        if (e) {
            cJSON_AddNumberToObject(e, "drill", (double)d->id);
            cJSON_AddStringToObject(e, "region", region);
            cJSON_AddStringToObject(e, "action", fail ? "fail" : "drain");
            cJSON_AddNumberToObject(e, "duration_s", duration_s);
            cJSON_AddBoolToObject(e, "dry_run", true);
            cJSON_AddStringToObject(e, "note", d->note);
        }
        d->state = DR_DRY;
        d->end_wall_ms = d->start_wall_ms;
        snprintf(d->result, sizeof(d->result), "%s", why);
        dr_note(d, "dry_run", why);
        feed_emit(EV_DRILL_DRY_RUN, e);
        snprintf(msg, sizeof(msg), "drill %" PRIu64 " (dry run): %s", d->id, why);
        dr_save(d);
        done(arg, DRILL_OK, d->id, msg);
        return;
    }
    d->state = DR_ACTIVE;
    d->starting = true;
    d->done = done;
    d->done_arg = arg;
    d->term = ctrl_replica_term();
    if (dr_save_then(d, dr_on_written, (void *)(uintptr_t)d->id) == -1) {
        dr_answer(d, DRILL_UNAVAILABLE, "not started: the drill could not be saved (out of memory)");
        dr_drop(d);
    }
}

void drill_stop(uint64_t id, const char *who, drill_done_fn done, void *arg)
{
    char msg[300];
    drill_t *d = dr_find(id);
    if (!d) {
        snprintf(msg, sizeof(msg), "no drill %" PRIu64, id);
        done(arg, DRILL_NOT_FOUND, id, msg);
        return;
    }
    if (d->state != DR_ACTIVE || d->starting || d->ending) {
        snprintf(msg, sizeof(msg), "drill %" PRIu64 " is not running (%s)", id,
                 d->starting ? "starting" : d->ending ? "ending" : dr_state_names[d->state]);
        done(arg, DRILL_REFUSED, id, msg);
        return;
    }
    dr_end(d, DR_STOPPED, who, done, arg);
}

static void dr_expiry_done(void *arg, drill_rc_t rc, uint64_t id, const char *msg)
{
    (void)arg, (void)rc, (void)id, (void)msg;   /* a failure is logged by dr_on_released */
}

/* While a drill runs, its time left is replicated every DR_PUSH_MS (a
 * no-op unless leading): a drill resumed by the next leader ends at most
 * that much plus the takeover late. */
#define DR_PUSH_MS 1000u

static void dr_on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    static uint64_t pushed_ms;
    uint64_t now = loop_now_ms();   /* monotonic: a wall-clock step never ends a drill early */
    bool active = false;
    for (size_t i = 0; i < DR.n; i++)
        active |= DR.d[i].state == DR_ACTIVE && !DR.d[i].dry_run;
    if (active && now >= pushed_ms + DR_PUSH_MS) {
        pushed_ms = now;
        ctrl_replica_push();
    }
    for (size_t i = 0; i < DR.n; i++)
        if (DR.d[i].state == DR_ACTIVE && !DR.d[i].starting && !DR.d[i].ending && now >= DR.d[i].expires_mono_ms &&
            now >= DR.d[i].retry_mono_ms)
            dr_end(&DR.d[i], DR_DONE, "drill-expiry", dr_expiry_done, NULL);
}

int drill_init(void)
{
    memset(&DR, 0, sizeof(DR));
    DR.tick = event_new(loop_base(), -1, EV_PERSIST, dr_on_tick, NULL);
    struct timeval tv = {0, 250000};
    if (!DR.tick || event_add(DR.tick, &tv) == -1)
        return -1;
    dr_load();
    feed_set_listener(dr_on_event);
    dr_on_tick(-1, 0, NULL);
    return 0;
}

void drill_stopping(void)
{
    for (size_t i = 0; i < DR.n; i++) {   /* a start or stop still waiting: answered, not done */
        drill_t *d = &DR.d[i];
        if (d->starting) {   /* its override never came: never resumed as active */
            d->state = DR_STOPPED;
            d->end_wall_ms = loop_wall_ms();
            dr_note(d, "refused", "regiond stopped before the drill started");
        }
        d->starting = d->ending = false;
        dr_answer(d, DRILL_UNAVAILABLE, "regiond is stopping");
    }
}

void drill_fini(void)
{
    drill_stopping();   /* again: whatever came after SIGTERM */
    for (size_t i = 0; DR.tick && i < DR.n; i++)   /* only a drill module that started has anything to save */
        dr_save(&DR.d[i]);
    feed_set_listener(NULL);
    if (DR.tick)
        event_free(DR.tick);
    for (size_t i = 0; i < DR.n; i++)
        cJSON_Delete(DR.d[i].timeline);
    memset(&DR, 0, sizeof(DR));
}

/* ---- views ---- */

static cJSON *dr_summary(const drill_t *d)
{
    char t[40];
    cJSON *x = cJSON_CreateObject();
    if (!x)
        return NULL;
    cJSON_AddNumberToObject(x, "id", (double)d->id);
    cJSON_AddStringToObject(x, "region", d->region);
    cJSON_AddStringToObject(x, "action", d->fail ? "fail" : "drain");
    cJSON_AddStringToObject(x, "state", dr_state_names[d->state]);
    cJSON_AddBoolToObject(x, "dry_run", d->dry_run);
    if (d->starting || d->ending)   /* its file or override is being written: not in effect (or still in effect) */
        cJSON_AddBoolToObject(x, d->starting ? "starting" : "ending", true);
    cJSON_AddStringToObject(x, "note", d->note);
    cJSON_AddStringToObject(x, "who", d->who);
    cJSON_AddNumberToObject(x, "duration_s", d->duration_s);
    cJSON_AddStringToObject(x, "started_at", loop_fmt_wall(d->start_wall_ms, t, sizeof(t)));
    if (d->state == DR_ACTIVE) {   /* the expiry is monotonic; the wall time is for people */
        uint64_t now = loop_now_ms(), left = d->expires_mono_ms > now ? d->expires_mono_ms - now : 0;
        cJSON_AddStringToObject(x, "expires_at", loop_fmt_wall(loop_wall_ms() + (int64_t)left, t, sizeof(t)));
        cJSON_AddNumberToObject(x, "remaining_s", (double)(left / 1000));
    } else {
        cJSON_AddStringToObject(x, "expires_at",
                                loop_fmt_wall(d->start_wall_ms + (int64_t)d->duration_s * 1000, t, sizeof(t)));
    }
    if (d->end_wall_ms)
        cJSON_AddStringToObject(x, "ended_at", loop_fmt_wall(d->end_wall_ms, t, sizeof(t)));
    if (d->result[0])
        cJSON_AddStringToObject(x, "result", d->result);
    return x;
}

cJSON *drill_list_json(void)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = DR.n; a && i > 0; i--)
        cJSON_AddItemToArray(a, dr_summary(&DR.d[i - 1]));
    return a;
}

/* The first timeline entry of `type` (after index `from`) whose text holds
 * `needle` (may be NULL); -1 when none. */
static int dr_first(const cJSON *tl, int from, const char *type, const char *needle)
{
    int i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, tl) {
        const cJSON *ty = cJSON_GetObjectItemCaseSensitive(x, "type");
        const cJSON *tx = cJSON_GetObjectItemCaseSensitive(x, "text");
        if (i > from && cJSON_IsString(ty) && strcmp(ty->valuestring, type) == 0 &&
            (!needle || (cJSON_IsString(tx) && strstr(tx->valuestring, needle))))
            return i;
        i++;
    }
    return -1;
}

static void dr_milestone(cJSON *ms, const cJSON *tl, const char *name, int idx)
{
    cJSON *m = cJSON_CreateObject();
    if (!m)
        return;
    cJSON_AddStringToObject(m, "step", name);
    if (idx >= 0) {
        const cJSON *e = cJSON_GetArrayItem(tl, idx);
        cJSON_AddItemToObject(m, "t", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(e, "t"), 1));
        cJSON_AddItemToObject(m, "offset_s", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(e, "offset_s"), 1));
    } else {
        cJSON_AddNullToObject(m, "t");
        cJSON_AddNullToObject(m, "offset_s");
    }
    cJSON_AddItemToArray(ms, m);
}

cJSON *drill_report_json(uint64_t id)
{
    const drill_t *d = dr_find(id);
    if (!d)
        return NULL;
    cJSON *x = dr_summary(d);
    if (!x)
        return NULL;
    const cJSON *tl = d->timeline;
    cJSON *ms = cJSON_AddArrayToObject(x, "milestones");
    char down[120];
    snprintf(down, sizeof(down), "\"region\":\"%s\",\"from\":\"up\",\"to\":\"down\"", d->region);
    int start = dr_first(tl, -1, d->fail ? "drill_start" : "override_set", NULL);
    if (start < 0)
        start = dr_first(tl, -1, "drill_start", NULL);
    int det = d->fail ? dr_first(tl, -1, "region_state", down) : start;
    /* a fail drill under the quorum rule: the other observers' marks can
     * decide before this instance's own probes call the region down */
    int dec = dr_first(tl, d->fail && det < 0 ? start : det, "decision", NULL);
    int sub = dr_first(tl, dec, "route53_change_submitted", NULL);
    int ins = dr_first(tl, sub, "route53_change_insync", NULL);
    int vis = dr_first(tl, ins, "route53_change_visible", NULL);
    int end = dr_first(tl, -1, "drill_end", NULL);
    int rsub = end >= 0 ? dr_first(tl, end, "route53_change_submitted", NULL) : -1;
    int rvis = rsub >= 0 ? dr_first(tl, rsub, "route53_change_visible", NULL) : -1;
    if (sub < 0)
        ins = vis = -1;
    else if (ins < 0)
        vis = -1;
    if (ms) {
        dr_milestone(ms, tl, d->fail ? "fault injected" : "override applied", start);
        if (d->fail)
            dr_milestone(ms, tl, "outage detected (region down)", det);
        dr_milestone(ms, tl, "decision", dec);
        dr_milestone(ms, tl, "batch submitted", sub);
        dr_milestone(ms, tl, "INSYNC", ins);
        dr_milestone(ms, tl, "DNS-visible", vis);
        dr_milestone(ms, tl, "drill ended", end);
        dr_milestone(ms, tl, "restore batch submitted", rsub);
        dr_milestone(ms, tl, "traffic restored (DNS-visible)", rvis);
    }
    cJSON_AddItemToObject(x, "timeline", cJSON_Duplicate(tl, 1));
    return x;
}
