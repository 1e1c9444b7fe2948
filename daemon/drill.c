/* drill — see drill.h. */
#include "drill.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "control.h"
#include "feed.h"
#include "log.h"
#include "loop.h"
#include "state.h"
#include "targets.h"

#define DR_FILE "drills.json"
#define DR_MAX 32
#define DR_TIMELINE 400

typedef enum { DR_ACTIVE = 0, DR_DONE, DR_STOPPED, DR_DRY } dr_state_t;
static const char *const dr_state_names[] = {"active", "done", "stopped", "dry-run"};

typedef struct {
    uint64_t id;
    char region[65];
    bool fail, dry_run;
    char note[200], who[65];
    dr_state_t state;
    int64_t start_wall_ms, end_wall_ms, expires_wall_ms;
    uint32_t duration_s;
    cJSON *timeline;              /* [{t, offset_s, type, text}] */
    char result[600];             /* dry run: what would have been done */
} drill_t;

static struct {
    const cfg_t *cfg;
    drill_t d[DR_MAX];
    size_t n;
    uint64_t next_id;
    struct event *tick;
} DR;

static void dr_save(void)
{
    cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "drills");
    if (!o || !a) {
        cJSON_Delete(o);
        return;
    }
    cJSON_AddNumberToObject(o, "next_id", (double)DR.next_id);
    cJSON_AddNumberToObject(o, "saved_wall_ms", (double)loop_wall_ms());
    for (size_t i = 0; i < DR.n; i++) {
        const drill_t *d = &DR.d[i];
        cJSON *x = cJSON_CreateObject();
        if (!x)
            break;
        cJSON_AddNumberToObject(x, "id", (double)d->id);
        cJSON_AddStringToObject(x, "region", d->region);
        cJSON_AddBoolToObject(x, "fail", d->fail);
        cJSON_AddBoolToObject(x, "dry_run", d->dry_run);
        cJSON_AddStringToObject(x, "note", d->note);
        cJSON_AddStringToObject(x, "who", d->who);
        cJSON_AddNumberToObject(x, "state", d->state);
        cJSON_AddNumberToObject(x, "start_wall_ms", (double)d->start_wall_ms);
        cJSON_AddNumberToObject(x, "end_wall_ms", (double)d->end_wall_ms);
        cJSON_AddNumberToObject(x, "expires_wall_ms", (double)d->expires_wall_ms);
        cJSON_AddNumberToObject(x, "duration_s", d->duration_s);
        cJSON_AddStringToObject(x, "result", d->result);
        cJSON_AddItemToObject(x, "timeline", cJSON_Duplicate(d->timeline, 1));
        cJSON_AddItemToArray(a, x);
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (s)
        state_write(DR_FILE, s, strlen(s));
    free(s);
}

static void dr_note(drill_t *d, const char *type, const char *text)
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
    cJSON_AddStringToObject(x, "text", text);
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
    bool any = false;
    int64_t now = loop_wall_ms();
    for (size_t i = 0; i < DR.n; i++)   /* active, or restoring: two minutes after the end */
        if (DR.d[i].state == DR_ACTIVE || ((DR.d[i].state == DR_DONE || DR.d[i].state == DR_STOPPED) &&
                                           now < DR.d[i].end_wall_ms + 120000)) {
            dr_note(&DR.d[i], type, json);
            any = true;
        }
    if (any && (strncmp(type, "route53_change", 14) == 0 || strcmp(type, "decision") == 0 ||
                strcmp(type, "region_state") == 0))
        dr_save();
}

static drill_t *dr_find(uint64_t id)
{
    for (size_t i = 0; i < DR.n; i++)
        if (DR.d[i].id == id)
            return &DR.d[i];
    return NULL;
}

static void dr_end(drill_t *d, dr_state_t how, const char *who)
{
    char msg[300];
    int i = targets_region_index(d->region);
    if (d->fail && i >= 0)
        targets_set_drill_fail((size_t)i, false);
    if (!d->fail)
        ctrl_override_clear(d->region, who, msg, sizeof(msg));
    d->state = how;
    d->end_wall_ms = loop_wall_ms();
    dr_note(d, "drill_end", how == DR_DONE ? "expired: restoring" : "stopped early: restoring");
    cJSON *e = cJSON_CreateObject();
    if (e) {
        cJSON_AddNumberToObject(e, "drill", (double)d->id);
        cJSON_AddStringToObject(e, "region", d->region);
        cJSON_AddStringToObject(e, "state", dr_state_names[how]);
    }
    feed_emit("drill_end", e);
    dr_save();
}

drill_rc_t drill_start(const char *region, bool fail, uint32_t duration_s, bool dry_run, const char *note,
                       const char *who, uint64_t *id, char *msg, size_t msglen)
{
    char why[600];
    int ri = targets_region_index(region);
    if (ri < 0) {
        snprintf(msg, msglen, "no region named '%s'", region);
        return DRILL_NOT_FOUND;
    }
    for (size_t i = 0; i < DR.n; i++)
        if (DR.d[i].state == DR_ACTIVE && strcmp(DR.d[i].region, region) == 0) {
            snprintf(msg, msglen, "drill %" PRIu64 " is already running on %s", DR.d[i].id, region);
            return DRILL_REFUSED;
        }
    /* Safety rules first, for both kinds: a failed region is drained too. */
    ctrl_rc_t pr = ctrl_preview_drain(region, why, sizeof(why));
    if (pr == CTRL_REFUSED) {
        snprintf(msg, msglen, "%s", why);
        return DRILL_REFUSED;
    }
    if (DR.n == DR_MAX) {   /* forget the oldest finished drill */
        size_t k = 0;
        while (k < DR.n && DR.d[k].state == DR_ACTIVE)
            k++;
        if (k == DR.n) {
            snprintf(msg, msglen, "too many active drills");
            return DRILL_REFUSED;
        }
        cJSON_Delete(DR.d[k].timeline);
        memmove(&DR.d[k], &DR.d[k + 1], (DR.n - k - 1) * sizeof(DR.d[0]));
        DR.n--;
    }
    drill_t *d = &DR.d[DR.n];
    memset(d, 0, sizeof(*d));
    d->timeline = cJSON_CreateArray();
    if (!d->timeline) {
        snprintf(msg, msglen, "out of memory");
        return DRILL_BAD;
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
    d->expires_wall_ms = d->start_wall_ms + (int64_t)duration_s * 1000;
    *id = d->id;
    cJSON *e = cJSON_CreateObject();
    if (e) {
        cJSON_AddNumberToObject(e, "drill", (double)d->id);
        cJSON_AddStringToObject(e, "region", region);
        cJSON_AddStringToObject(e, "action", fail ? "fail" : "drain");
        cJSON_AddNumberToObject(e, "duration_s", duration_s);
        cJSON_AddBoolToObject(e, "dry_run", dry_run);
        cJSON_AddStringToObject(e, "note", d->note);
    }
    if (dry_run) {
        d->state = DR_DRY;
        d->end_wall_ms = d->start_wall_ms;
        snprintf(d->result, sizeof(d->result), "%s", why);
        dr_note(d, "dry_run", why);
        feed_emit("drill_dry_run", e);
        snprintf(msg, msglen, "drill %" PRIu64 " (dry run): %s", d->id, why);
        dr_save();
        return DRILL_OK;
    }
    d->state = DR_ACTIVE;
    feed_emit("drill_start", e);   /* first line of the timeline */
    if (fail) {
        targets_set_drill_fail((size_t)ri, true);
        dr_note(d, "fault_injected", "probes of the region now count as failed (simulated outage)");
    } else {
        char m2[300];
        char n2[260];
        snprintf(n2, sizeof(n2), "drill %" PRIu64 "%s%.200s", d->id, d->note[0] ? ": " : "", d->note);
        if (ctrl_override_set(region, true, 0, duration_s + 5, n2, who, m2, sizeof(m2)) != CTRL_OK) {
            dr_note(d, "refused", m2);
            d->state = DR_STOPPED;
            d->end_wall_ms = loop_wall_ms();
            snprintf(msg, msglen, "%s", m2);
            dr_save();
            return DRILL_REFUSED;
        }
    }
    snprintf(msg, msglen, "drill %" PRIu64 " started: %s %s for %u s", d->id, fail ? "failing" : "draining", region,
             duration_s);
    dr_save();
    return DRILL_OK;
}

drill_rc_t drill_stop(uint64_t id, const char *who, char *msg, size_t msglen)
{
    drill_t *d = dr_find(id);
    if (!d) {
        snprintf(msg, msglen, "no drill %" PRIu64, id);
        return DRILL_NOT_FOUND;
    }
    if (d->state != DR_ACTIVE) {
        snprintf(msg, msglen, "drill %" PRIu64 " is not running (%s)", id, dr_state_names[d->state]);
        return DRILL_REFUSED;
    }
    dr_end(d, DR_STOPPED, who);
    snprintf(msg, msglen, "drill %" PRIu64 " stopped: restoring %s", id, d->region);
    return DRILL_OK;
}

static void dr_on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    int64_t now = loop_wall_ms();
    for (size_t i = 0; i < DR.n; i++)
        if (DR.d[i].state == DR_ACTIVE && now >= DR.d[i].expires_wall_ms)
            dr_end(&DR.d[i], DR_DONE, "drill-expiry");
}

/* After a restart: drills that were running resume (or end, if they expired
 * meanwhile); the timeline shows the gap. */
static void dr_load(void)
{
    char *s = state_read(DR_FILE, NULL);
    cJSON *o = s ? cJSON_Parse(s) : NULL;
    free(s);
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, "next_id");
    const cJSON *saved = cJSON_GetObjectItemCaseSensitive(o, "saved_wall_ms");
    DR.next_id = cJSON_IsNumber(n) ? (uint64_t)n->valuedouble : 1;
    const cJSON *x;
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(o, "drills")) {
        if (DR.n == DR_MAX)
            break;
        drill_t *d = &DR.d[DR.n++];
        memset(d, 0, sizeof(*d));
#define NUM(k) (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(x, k)) ? cJSON_GetObjectItemCaseSensitive(x, k)->valuedouble : 0)
#define STR(k) (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(x, k)) ? cJSON_GetObjectItemCaseSensitive(x, k)->valuestring : "")
        d->id = (uint64_t)NUM("id");
        snprintf(d->region, sizeof(d->region), "%s", STR("region"));
        snprintf(d->note, sizeof(d->note), "%s", STR("note"));
        snprintf(d->who, sizeof(d->who), "%s", STR("who"));
        snprintf(d->result, sizeof(d->result), "%s", STR("result"));
        d->fail = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(x, "fail"));
        d->dry_run = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(x, "dry_run"));
        d->state = (dr_state_t)NUM("state");
        d->start_wall_ms = (int64_t)NUM("start_wall_ms");
        d->end_wall_ms = (int64_t)NUM("end_wall_ms");
        d->expires_wall_ms = (int64_t)NUM("expires_wall_ms");
        d->duration_s = (uint32_t)NUM("duration_s");
#undef NUM
#undef STR
        const cJSON *tl = cJSON_GetObjectItemCaseSensitive(x, "timeline");
        d->timeline = cJSON_IsArray(tl) ? cJSON_Duplicate(tl, 1) : cJSON_CreateArray();
        if (d->state == DR_ACTIVE) {
            char gap[200], t1[40], t2[40];
            snprintf(gap, sizeof(gap), "regiond was not running from %s to %s: no events in between",
                     loop_fmt_wall(cJSON_IsNumber(saved) ? (int64_t)saved->valuedouble : d->start_wall_ms, t1, sizeof(t1)),
                     loop_fmt_wall(loop_wall_ms(), t2, sizeof(t2)));
            dr_note(d, "gap", gap);
            int ri = targets_region_index(d->region);
            if (d->fail && ri >= 0)
                targets_set_drill_fail((size_t)ri, true);   /* a drain survives in the controller's overrides */
        }
    }
    cJSON_Delete(o);
    if (DR.next_id == 0)
        DR.next_id = 1;
}

int drill_init(const cfg_t *cfg)
{
    memset(&DR, 0, sizeof(DR));
    DR.cfg = cfg;
    DR.tick = event_new(loop_base(), -1, EV_PERSIST, dr_on_tick, NULL);
    struct timeval tv = {0, 250000};
    if (!DR.tick || event_add(DR.tick, &tv) == -1)
        return -1;
    dr_load();
    feed_set_listener(dr_on_event);
    dr_on_tick(-1, 0, NULL);
    return 0;
}

void drill_fini(void)
{
    if (DR.tick)   /* only a drill module that started has anything to save */
        dr_save();
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
    cJSON_AddStringToObject(x, "note", d->note);
    cJSON_AddStringToObject(x, "who", d->who);
    cJSON_AddNumberToObject(x, "duration_s", d->duration_s);
    cJSON_AddStringToObject(x, "started_at", loop_fmt_wall(d->start_wall_ms, t, sizeof(t)));
    cJSON_AddStringToObject(x, "expires_at", loop_fmt_wall(d->expires_wall_ms, t, sizeof(t)));
    if (d->state == DR_ACTIVE)
        cJSON_AddNumberToObject(x, "remaining_s", (double)((d->expires_wall_ms - loop_wall_ms()) / 1000));
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
    int dec = dr_first(tl, det, "decision", NULL);
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
