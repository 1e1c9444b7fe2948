/* control — see control.h.  Data flows one way: targets (health) ->
 * control (decide) -> route53 (act) -> feed. */
#include "control.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "alarm.h"
#include "ddb.h"
#include "decide.h"
#include "feed.h"
#include "log.h"
#include "loop.h"
#include "route53.h"
#include "state.h"
#include "targets.h"

#define CTRL_FILE "control.json"
#define CTRL_RING 64
#define CTRL_NOTE_MAX 200

typedef struct {
    decide_override_t kind;       /* NONE when unused */
    int weight;
    int64_t expires_wall_ms;
    int64_t created_wall_ms;
    char note[CTRL_NOTE_MAX];
    char who[64];
} ctrl_override_t;

static struct {
    const cfg_t *cfg;
    size_t n;
    char names[DECIDE_MAX_REGIONS][65];      /* overrides are kept by region name */
    ctrl_override_t ov[DECIDE_MAX_REGIONS];
    bool frozen;
    char freeze_note[CTRL_NOTE_MAX], freeze_who[64];
    uint64_t seq;                 /* last decision number */
    uint64_t applied_seq;         /* last decision handed to the actuator */
    bool have_last;
    int last_weights[DECIDE_MAX_REGIONS];
    bool last_alarm;
    decide_out_t cur;             /* the latest evaluation (may be deferred) */
    decide_region_t cur_in[DECIDE_MAX_REGIONS];
    decide_history_t hist;
    int64_t hist_wall[DECIDE_HISTORY];
    char *ring[CTRL_RING];        /* recent decisions as JSON, oldest first */
    size_t nring;
    struct event *tick, *retry;
    uint64_t fail_until_ms;       /* after a failed batch, no new one before this */
    bool suspended;               /* during a reload: regions and config disagree */
    uint64_t settle_until_ms;     /* a drain waits until then for correlated failures */
    bool ready;                   /* ctrl_init done */
    uint64_t fail_backoff_ms;
} C;

static void ctrl_evaluate(const char *why);

/* ---- persistence ---- */

static void ctrl_save(void)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *ovs = cJSON_AddArrayToObject(o, "overrides"), *ch = cJSON_AddArrayToObject(o, "changes");
    if (!o || !ovs || !ch) {
        cJSON_Delete(o);
        return;
    }
    cJSON_AddNumberToObject(o, "decision_seq", (double)C.seq);
    cJSON_AddBoolToObject(o, "frozen", C.frozen);
    cJSON_AddStringToObject(o, "freeze_note", C.freeze_note);
    cJSON_AddStringToObject(o, "freeze_who", C.freeze_who);
    for (size_t i = 0; i < C.n; i++) {
        const ctrl_override_t *v = &C.ov[i];
        if (v->kind == DECIDE_OV_NONE)
            continue;
        cJSON *x = cJSON_CreateObject();
        if (!x)
            break;
        cJSON_AddStringToObject(x, "region", C.names[i]);
        cJSON_AddStringToObject(x, "action", v->kind == DECIDE_OV_DRAIN ? "drain" : "pin");
        cJSON_AddNumberToObject(x, "weight", v->weight);
        cJSON_AddNumberToObject(x, "expires_wall_ms", (double)v->expires_wall_ms);
        cJSON_AddNumberToObject(x, "created_wall_ms", (double)v->created_wall_ms);
        cJSON_AddStringToObject(x, "note", v->note);
        cJSON_AddStringToObject(x, "who", v->who);
        cJSON_AddItemToArray(ovs, x);
    }
    for (size_t i = 0; i < C.hist.n; i++)
        cJSON_AddItemToArray(ch, cJSON_CreateNumber((double)C.hist_wall[i]));
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    if (s)
        state_write(CTRL_FILE, s, strlen(s));
    free(s);
}

static int ctrl_index(const char *region)
{
    for (size_t i = 0; i < C.n; i++)
        if (strcmp(C.names[i], region) == 0)
            return (int)i;
    return -1;
}

static const char *ctrl_jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static double ctrl_jnum(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* Record an applied change in the history the engine reads (and its wall
 * time, which is what survives a restart). */
static void ctrl_hist_add(uint64_t mono, int64_t wall)
{
    if (C.hist.n == DECIDE_HISTORY)
        memmove(C.hist_wall, C.hist_wall + 1, (DECIDE_HISTORY - 1) * sizeof(C.hist_wall[0]));
    decide_history_add(&C.hist, mono);
    C.hist_wall[C.hist.n - 1] = wall;
}

static void ctrl_load(void)
{
    char *s = state_read(CTRL_FILE, NULL);
    cJSON *o = s ? cJSON_Parse(s) : NULL;
    free(s);
    if (!o)
        return;
    C.seq = (uint64_t)ctrl_jnum(o, "decision_seq");
    C.frozen = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "frozen"));
    snprintf(C.freeze_note, sizeof(C.freeze_note), "%s", ctrl_jstr(o, "freeze_note"));
    snprintf(C.freeze_who, sizeof(C.freeze_who), "%s", ctrl_jstr(o, "freeze_who"));
    const cJSON *x;
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(o, "overrides")) {
        int i = ctrl_index(ctrl_jstr(x, "region"));
        if (i < 0)
            continue;   /* a region that left the config */
        ctrl_override_t *v = &C.ov[i];
        v->kind = strcmp(ctrl_jstr(x, "action"), "drain") == 0 ? DECIDE_OV_DRAIN : DECIDE_OV_PIN;
        v->weight = (int)ctrl_jnum(x, "weight");
        v->expires_wall_ms = (int64_t)ctrl_jnum(x, "expires_wall_ms");
        v->created_wall_ms = (int64_t)ctrl_jnum(x, "created_wall_ms");
        snprintf(v->note, sizeof(v->note), "%s", ctrl_jstr(x, "note"));
        snprintf(v->who, sizeof(v->who), "%s", ctrl_jstr(x, "who"));
    }
    /* Applied changes as wall-clock times, mapped back onto the monotonic clock. */
    int64_t wall = loop_wall_ms();
    uint64_t mono = loop_now_ms();
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(o, "changes")) {
        int64_t ago = wall - (int64_t)x->valuedouble;
        if (!cJSON_IsNumber(x) || ago < 0)
            continue;
        ctrl_hist_add((uint64_t)ago < mono ? mono - (uint64_t)ago : 1, (int64_t)x->valuedouble);
    }
    cJSON_Delete(o);
}

/* ---- deciding ---- */

static void ctrl_drop_expired(void)
{
    int64_t now = loop_wall_ms();
    for (size_t i = 0; i < C.n; i++) {
        ctrl_override_t *v = &C.ov[i];
        if (v->kind != DECIDE_OV_NONE && v->expires_wall_ms && v->expires_wall_ms <= now) {
            cJSON *d = cJSON_CreateObject();
            if (d) {
                cJSON_AddStringToObject(d, "region", C.names[i]);
                cJSON_AddStringToObject(d, "action", v->kind == DECIDE_OV_DRAIN ? "drain" : "pin");
                cJSON_AddStringToObject(d, "note", v->note);
            }
            feed_emit("override_expired", d);
            v->kind = DECIDE_OV_NONE;
            ctrl_save();
        }
    }
}

static void ctrl_cfg(decide_cfg_t *d)
{
    const cfg_decision_t *c = &C.cfg->decision;
    *d = (decide_cfg_t){.min_healthy_regions = c->min_healthy_regions,
                        .fail_open = c->fail_open_restore ? DECIDE_FAIL_OPEN_RESTORE : DECIDE_FAIL_OPEN_KEEP,
                        .degraded_weight = c->degraded_weight,
                        .hold_down_ms = (uint64_t)c->hold_down_s * 1000u,
                        .max_changes = c->max_changes, .window_ms = (uint64_t)c->window_s * 1000u};
}

static void ctrl_inputs(decide_region_t *in)
{
    static char why[DECIDE_MAX_REGIONS][320];
    const cfg_route53_t *r = &C.cfg->route53;
    for (size_t i = 0; i < C.n; i++) {
        const region_t *reg = targets_region(i);
        in[i] = (decide_region_t){.name = C.names[i],
                                  .health = reg ? reg->state : HEALTH_UNKNOWN,
                                  .configured_weight = r->enabled ? (int)r->regions[i].weight : 100,
                                  .live_weight = r->enabled ? route53_live_weight(i) : -1};
        if (C.cfg->dynamodb.enabled && C.cfg->dynamodb.gate == 0 && !ddb_gate_ok(i, why[i], sizeof(why[i]))) {
            in[i].data_blocked = true;
            in[i].data_why = why[i];
        }
        if (C.ov[i].kind != DECIDE_OV_NONE) {
            in[i].override = C.ov[i].kind;
            in[i].pin_weight = C.ov[i].kind == DECIDE_OV_PIN ? C.ov[i].weight : 0;
        } else if (r->enabled && route53_drifted(i) && !r->correct_drift && in[i].live_weight >= 0) {
            /* Changed outside regiond: hands off until an operator releases it. */
            in[i].override = DECIDE_OV_PIN;
            in[i].pin_weight = in[i].live_weight;
        }
    }
}

static const char *ctrl_apply_state(const decide_out_t *o)
{
    if (!o->change)
        return "no-change";
    if (!C.cfg->route53.enabled)
        return "monitor-only";
    if (C.cfg->decision.dry_run)
        return "dry-run";
    if (C.frozen)
        return "frozen";
    return "apply";
}

static void ctrl_record(const decide_out_t *o, const decide_region_t *in, const char *why,
                        const char *applied)
{
    cJSON *d = cJSON_CreateObject();
    if (!d)
        return;
    cJSON_AddNumberToObject(d, "decision", (double)C.seq);
    cJSON_AddStringToObject(d, "rule", decide_rule_str(o->top_rule));
    cJSON_AddStringToObject(d, "reason", o->reason);
    cJSON_AddStringToObject(d, "trigger", why);
    cJSON_AddStringToObject(d, "applied", applied);
    cJSON_AddBoolToObject(d, "alarm", o->alarm);
    cJSON *rs = cJSON_AddArrayToObject(d, "regions");
    for (size_t i = 0; rs && i < C.n; i++) {
        cJSON *x = cJSON_CreateObject();
        if (!x)
            break;
        cJSON_AddStringToObject(x, "region", C.names[i]);
        cJSON_AddStringToObject(x, "health", health_state_str(in[i].health));
        cJSON_AddNumberToObject(x, "live", in[i].live_weight);
        cJSON_AddNumberToObject(x, "configured", in[i].configured_weight);
        cJSON_AddNumberToObject(x, "weight", o->weight[i]);
        cJSON_AddStringToObject(x, "rule", decide_rule_str(o->rule[i]));
        if (in[i].override != DECIDE_OV_NONE)
            cJSON_AddStringToObject(x, "override", in[i].override == DECIDE_OV_DRAIN ? "drain" : "pin");
        cJSON_AddItemToArray(rs, x);
    }
    char *line = cJSON_PrintUnformatted(d);
    if (line) {
        if (C.nring == CTRL_RING) {
            free(C.ring[0]);
            memmove(C.ring, C.ring + 1, (CTRL_RING - 1) * sizeof(C.ring[0]));
            C.nring--;
        }
        C.ring[C.nring++] = line;
    }
    feed_emit("decision", d);
}

static void ctrl_alarm(const decide_out_t *o)
{
    /* A safety rule that holds a region in (min_healthy_regions) is worth a
     * person's attention too, though not a page. */
    static bool safety_on;
    bool safety = o->top_rule == DECIDE_RULE_MIN_HEALTHY;
    if (safety && !safety_on)
        alarm_raise("safety-rule", "warning", o->reason, NULL);
    else if (!safety && safety_on)
        alarm_resolve("safety-rule", "no safety rule holds a region in any more");
    safety_on = safety;
    if (o->alarm == C.last_alarm)
        return;
    C.last_alarm = o->alarm;
    cJSON *d = cJSON_CreateObject();
    if (d) {
        cJSON_AddBoolToObject(d, "active", o->alarm);
        cJSON_AddStringToObject(d, "rule", decide_rule_str(o->top_rule));
        cJSON_AddStringToObject(d, "reason", o->reason);
    }
    feed_emit("alarm", d);
    if (o->alarm)
        alarm_raise("failover", "critical", o->reason, NULL);
    else
        alarm_resolve("failover", "failover back to normal");
    log_msg(o->alarm ? LOG_CRIT : LOG_NOTICE, "msg=\"%s\" reason=\"%s\"",
            o->alarm ? "failover alarm raised" : "failover alarm cleared", o->reason);
}

/* A health-driven drain waits decision.settle_ms first: regions failing
 * together (a shared dependency) are then seen together, and fail open
 * instead of being drained one by one.  True while waiting. */
static bool ctrl_settling(const decide_out_t *o, const decide_region_t *in)
{
    bool drains = false;
    for (size_t i = 0; i < C.n; i++)
        if (o->rule[i] == DECIDE_RULE_HEALTH && in[i].live_weight > 0 && o->weight[i] < in[i].live_weight)
            drains = true;
    uint64_t now = loop_now_ms();
    if (!drains || C.cfg->decision.settle_ms == 0) {
        C.settle_until_ms = 0;
        return false;
    }
    if (C.settle_until_ms == 0) {
        C.settle_until_ms = now + C.cfg->decision.settle_ms;
        uint64_t w = C.cfg->decision.settle_ms;
        struct timeval tv = {(time_t)(w / 1000), (suseconds_t)(w % 1000) * 1000 + 1000};
        evtimer_add(C.retry, &tv);
        return true;
    }
    return now < C.settle_until_ms;
}

static void ctrl_evaluate(const char *why)
{
    decide_region_t in[DECIDE_MAX_REGIONS];
    decide_cfg_t dc;
    decide_out_t o;
    ctrl_drop_expired();
    if (C.cfg->route53.enabled && !route53_ready())
        return;   /* no decision before the live weights are known */
    ctrl_cfg(&dc);
    ctrl_inputs(in);
    if (decide(&dc, in, C.n, &C.hist, loop_now_ms(), &o) == -1) {
        log_msg(LOG_ERR, "msg=\"decision engine refused its inputs\" reason=\"%s\"", o.reason);
        return;
    }
    if (ctrl_settling(&o, in))
        return;
    C.cur = o;
    memcpy(C.cur_in, in, sizeof(in[0]) * C.n);
    ctrl_alarm(&o);
    if (o.retry_in_ms) {
        struct timeval tv = {(time_t)(o.retry_in_ms / 1000), (suseconds_t)(o.retry_in_ms % 1000) * 1000 + 1000};
        evtimer_add(C.retry, &tv);
    }
    bool same = C.have_last && memcmp(C.last_weights, o.weight, sizeof(int) * C.n) == 0;
    const char *applied = ctrl_apply_state(&o);
    if (!same) {
        C.seq++;
        C.have_last = true;
        memcpy(C.last_weights, o.weight, sizeof(int) * C.n);
        ctrl_save();
        ctrl_record(&o, in, why, applied);
    }
    if (strcmp(applied, "apply") == 0 && C.applied_seq != C.seq && route53_idle() &&
        loop_now_ms() >= C.fail_until_ms) {
        if (route53_apply(C.seq, o.weight, C.n) == 0)
            C.applied_seq = C.seq;
    }
}

void ctrl_health_changed(void)
{
    if (C.ready && !C.suspended)
        ctrl_evaluate("health");
}

void ctrl_suspend(void)
{
    C.suspended = true;
}

void ctrl_resume(void)
{
    C.suspended = false;
}

static void ctrl_on_r53(route53_note_t what)
{
    if (what == R53_NOTE_APPLIED) {
        C.fail_backoff_ms = 0;
        ctrl_hist_add(loop_now_ms(), loop_wall_ms());
        ctrl_save();
        return;
    }
    if (what == R53_NOTE_FAILED) {
        C.fail_backoff_ms = C.fail_backoff_ms ? C.fail_backoff_ms * 2 : 5000;
        if (C.fail_backoff_ms > 300000)
            C.fail_backoff_ms = 300000;
        C.fail_until_ms = loop_now_ms() + C.fail_backoff_ms;
        struct timeval tv = {(time_t)(C.fail_backoff_ms / 1000) + 1, 0};
        evtimer_add(C.retry, &tv);
        return;
    }
    if (what == R53_NOTE_LIVE)
        C.applied_seq = 0;   /* live weights moved: the current decision may need applying again */
    ctrl_evaluate(what == R53_NOTE_LIVE ? "live-weights" : "actuator-idle");
}

void ctrl_data_changed(void)
{
    if (C.ready && !C.suspended)
        ctrl_evaluate("data");
}

static void ctrl_on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    ctrl_evaluate(arg ? "hold-down-expired" : "timer");
}

/* ---- operator actions ---- */

ctrl_rc_t ctrl_override_set(const char *region, bool drain, int weight, uint32_t for_s,
                            const char *note, const char *who, char *msg, size_t msglen)
{
    int i = ctrl_index(region);
    if (i < 0) {
        snprintf(msg, msglen, "no region named '%s'", region);
        return CTRL_NOT_FOUND;
    }
    if (!drain && (weight < 0 || weight > 255)) {
        snprintf(msg, msglen, "weight must be 0..255");
        return CTRL_BAD;
    }
    if (drain || weight == 0) {
        decide_region_t in[DECIDE_MAX_REGIONS];
        decide_cfg_t dc;
        ctrl_cfg(&dc);
        ctrl_inputs(in);
        char why[256];
        decide_rule_t r = decide_check_drain(&dc, in, C.n, (size_t)i, why, sizeof(why));
        if (r != DECIDE_RULE_NONE) {
            snprintf(msg, msglen, "refused by %s: %s",
                     r == DECIDE_RULE_COUNT ? "the decision engine" : decide_rule_str(r), why);
            return CTRL_REFUSED;
        }
    }
    ctrl_override_t *v = &C.ov[i];
    v->kind = drain ? DECIDE_OV_DRAIN : DECIDE_OV_PIN;
    v->weight = drain ? 0 : weight;
    v->created_wall_ms = loop_wall_ms();
    v->expires_wall_ms = for_s ? v->created_wall_ms + (int64_t)for_s * 1000 : 0;
    snprintf(v->note, sizeof(v->note), "%s", note ? note : "");
    snprintf(v->who, sizeof(v->who), "%s", who ? who : "");
    ctrl_save();
    cJSON *d = cJSON_CreateObject();
    if (d) {
        cJSON_AddStringToObject(d, "region", region);
        cJSON_AddStringToObject(d, "action", drain ? "drain" : "pin");
        cJSON_AddNumberToObject(d, "weight", v->weight);
        cJSON_AddNumberToObject(d, "for_s", for_s);
        cJSON_AddStringToObject(d, "note", v->note);
        cJSON_AddStringToObject(d, "who", v->who);
    }
    feed_emit("override_set", d);
    snprintf(msg, msglen, "%s %s", drain ? "draining" : "pinning", region);
    ctrl_evaluate("override");
    return CTRL_OK;
}

ctrl_rc_t ctrl_override_clear(const char *region, const char *who, char *msg, size_t msglen)
{
    int i = ctrl_index(region);
    if (i < 0) {
        snprintf(msg, msglen, "no region named '%s'", region);
        return CTRL_NOT_FOUND;
    }
    bool had = C.ov[i].kind != DECIDE_OV_NONE || route53_drifted((size_t)i);
    C.ov[i].kind = DECIDE_OV_NONE;
    route53_clear_drift((size_t)i);
    ctrl_save();
    cJSON *d = cJSON_CreateObject();
    if (d) {
        cJSON_AddStringToObject(d, "region", region);
        cJSON_AddStringToObject(d, "who", who ? who : "");
        cJSON_AddBoolToObject(d, "had_override", had);
    }
    feed_emit("override_released", d);
    snprintf(msg, msglen, "released %s", region);
    C.applied_seq = 0;
    ctrl_evaluate("release");
    return CTRL_OK;
}

ctrl_rc_t ctrl_preview_drain(const char *region, char *msg, size_t msglen)
{
    int i = ctrl_index(region);
    if (i < 0) {
        snprintf(msg, msglen, "no region named '%s'", region);
        return CTRL_NOT_FOUND;
    }
    decide_region_t in[DECIDE_MAX_REGIONS];
    decide_cfg_t dc;
    decide_out_t o;
    char why[256];
    ctrl_cfg(&dc);
    ctrl_inputs(in);
    decide_rule_t r = decide_check_drain(&dc, in, C.n, (size_t)i, why, sizeof(why));
    if (r != DECIDE_RULE_NONE) {
        snprintf(msg, msglen, "refused by %s: %s", r == DECIDE_RULE_COUNT ? "the decision engine" : decide_rule_str(r),
                 why);
        return CTRL_REFUSED;
    }
    in[i].override = DECIDE_OV_DRAIN;
    if (decide(&dc, in, C.n, &C.hist, loop_now_ms(), &o) == -1) {
        snprintf(msg, msglen, "%s", o.reason);
        return CTRL_BAD;
    }
    size_t off = (size_t)snprintf(msg, msglen, "would apply decision: %s (rule %s); weights", o.reason,
                                  decide_rule_str(o.top_rule));
    for (size_t k = 0; k < C.n && off < msglen; k++)
        off += (size_t)snprintf(msg + off, msglen - off, " %s=%d", C.names[k], o.weight[k]);
    return CTRL_OK;
}

void ctrl_set_freeze(bool on, const char *note, const char *who)
{
    C.frozen = on;
    snprintf(C.freeze_note, sizeof(C.freeze_note), "%s", on && note ? note : "");
    snprintf(C.freeze_who, sizeof(C.freeze_who), "%s", on && who ? who : "");
    ctrl_save();
    cJSON *d = cJSON_CreateObject();
    if (d) {
        cJSON_AddBoolToObject(d, "frozen", on);
        cJSON_AddStringToObject(d, "note", C.freeze_note);
        cJSON_AddStringToObject(d, "who", who ? who : "");
    }
    feed_emit(on ? "freeze" : "unfreeze", d);
    C.applied_seq = 0;
    ctrl_evaluate(on ? "freeze" : "unfreeze");
}

/* ---- views ---- */

cJSON *ctrl_overrides_json(void)
{
    cJSON *a = cJSON_CreateArray();
    char t[40];
    for (size_t i = 0; a && i < C.n; i++) {
        const ctrl_override_t *v = &C.ov[i];
        if (v->kind == DECIDE_OV_NONE)
            continue;
        cJSON *x = cJSON_CreateObject();
        if (!x)
            break;
        cJSON_AddStringToObject(x, "region", C.names[i]);
        cJSON_AddStringToObject(x, "action", v->kind == DECIDE_OV_DRAIN ? "drain" : "pin");
        cJSON_AddNumberToObject(x, "weight", v->weight);
        cJSON_AddStringToObject(x, "created_at", loop_fmt_wall(v->created_wall_ms, t, sizeof(t)));
        if (v->expires_wall_ms) {
            cJSON_AddStringToObject(x, "expires_at", loop_fmt_wall(v->expires_wall_ms, t, sizeof(t)));
            cJSON_AddNumberToObject(x, "expires_in_s", (double)((v->expires_wall_ms - loop_wall_ms()) / 1000));
        }
        cJSON_AddStringToObject(x, "note", v->note);
        cJSON_AddStringToObject(x, "who", v->who);
        cJSON_AddItemToArray(a, x);
    }
    return a;
}

cJSON *ctrl_decisions_json(void)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = C.nring; a && i > 0; i--) {
        cJSON *x = cJSON_Parse(C.ring[i - 1]);
        if (x)
            cJSON_AddItemToArray(a, x);
    }
    return a;
}

static cJSON *ctrl_change_json(const route53_change_t *c)
{
    cJSON *x = cJSON_CreateObject();
    char t[40];
    if (!x)
        return NULL;
    cJSON_AddNumberToObject(x, "decision", (double)c->decision);
    cJSON_AddStringToObject(x, "change_id", c->change_id);
    cJSON_AddStringToObject(x, "status", c->status);
    if (c->submitted_wall_ms)
        cJSON_AddStringToObject(x, "submitted_at", loop_fmt_wall(c->submitted_wall_ms, t, sizeof(t)));
    if (c->accepted_ms)
        cJSON_AddNumberToObject(x, "accepted_after_ms", (double)(c->accepted_ms - c->submitted_ms));
    if (c->insync_ms)
        cJSON_AddNumberToObject(x, "insync_after_ms", (double)(c->insync_ms - c->submitted_ms));
    if (c->visible_ms)
        cJSON_AddNumberToObject(x, "visible_after_ms", (double)(c->visible_ms - c->submitted_ms));
    cJSON_AddStringToObject(x, "dns", c->visible_result);
    cJSON_AddStringToObject(x, "error", c->error);
    return x;
}

cJSON *ctrl_status_json(void)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    const cfg_route53_t *r = &C.cfg->route53;
    cJSON_AddBoolToObject(o, "route53", r->enabled);
    cJSON_AddBoolToObject(o, "frozen", C.frozen);
    cJSON_AddBoolToObject(o, "dry_run", C.cfg->decision.dry_run);
    if (C.frozen) {
        cJSON_AddStringToObject(o, "freeze_note", C.freeze_note);
        cJSON_AddStringToObject(o, "freeze_who", C.freeze_who);
    }
    cJSON_AddBoolToObject(o, "alarm", C.cur.alarm);
    cJSON_AddNumberToObject(o, "decision", (double)C.seq);
    cJSON_AddStringToObject(o, "rule", decide_rule_str(C.cur.top_rule));
    cJSON_AddStringToObject(o, "reason", C.cur.reason);
    cJSON_AddStringToObject(o, "applies", ctrl_apply_state(&C.cur));
    cJSON_AddStringToObject(o, "actuator", route53_phase_str(route53_phase()));
    cJSON_AddStringToObject(o, "last_error", route53_last_error());
    cJSON *w = cJSON_AddArrayToObject(o, "weights");
    for (size_t i = 0; w && i < C.n; i++) {
        cJSON *x = cJSON_CreateObject();
        if (!x)
            break;
        cJSON_AddStringToObject(x, "region", C.names[i]);
        if (r->enabled) {
            cJSON_AddStringToObject(x, "set_identifier", r->regions[i].set_identifier);
            cJSON_AddNumberToObject(x, "configured", r->regions[i].weight);
        }
        cJSON_AddNumberToObject(x, "live", r->enabled ? route53_live_weight(i) : -1);
        cJSON_AddNumberToObject(x, "desired", C.cur.weight[i]);
        cJSON_AddStringToObject(x, "rule", decide_rule_str(C.cur.rule[i]));
        cJSON_AddBoolToObject(x, "drifted", r->enabled && route53_drifted(i));
        cJSON_AddItemToArray(w, x);
    }
    cJSON_AddItemToObject(o, "overrides", ctrl_overrides_json());
    const route53_change_t *c = route53_last_change();
    if (c)
        cJSON_AddItemToObject(o, "last_change", ctrl_change_json(c));
    else
        cJSON_AddNullToObject(o, "last_change");
    cJSON_AddNumberToObject(o, "changes_total", (double)route53_changes_total());
    cJSON_AddNumberToObject(o, "drift_total", (double)route53_drift_total());
    return o;
}

void ctrl_metrics(struct evbuffer *b)
{
    const cfg_route53_t *r = &C.cfg->route53;
    evbuffer_add_printf(b, "# HELP regiond_route53_weight Weight of each region's record: live as last read, desired by the last decision.\n"
                        "# TYPE regiond_route53_weight gauge\n");
    for (size_t i = 0; i < C.n; i++) {
        evbuffer_add_printf(b, "regiond_route53_weight{region=\"%s\",kind=\"desired\"} %d\n", C.names[i], C.cur.weight[i]);
        if (r->enabled)
            evbuffer_add_printf(b, "regiond_route53_weight{region=\"%s\",kind=\"live\"} %d\n", C.names[i],
                                route53_live_weight(i));
    }
    evbuffer_add_printf(b, "# HELP regiond_decisions_total Decisions made (the last decision number).\n"
                        "# TYPE regiond_decisions_total counter\nregiond_decisions_total %" PRIu64 "\n", C.seq);
    evbuffer_add_printf(b, "# HELP regiond_failover_alarm 1 while fail-open or the all-zero guard holds.\n"
                        "# TYPE regiond_failover_alarm gauge\nregiond_failover_alarm %d\n", C.cur.alarm ? 1 : 0);
    evbuffer_add_printf(b, "# HELP regiond_failover_frozen 1 while decisions are not applied (freeze or dry run).\n"
                        "# TYPE regiond_failover_frozen gauge\nregiond_failover_frozen %d\n",
                        C.frozen || C.cfg->decision.dry_run ? 1 : 0);
    evbuffer_add_printf(b, "# HELP regiond_route53_changes_total Record changes accepted by Route 53.\n"
                        "# TYPE regiond_route53_changes_total counter\nregiond_route53_changes_total %" PRIu64 "\n",
                        route53_changes_total());
    evbuffer_add_printf(b, "# HELP regiond_route53_drift_total Records found changed outside regiond.\n"
                        "# TYPE regiond_route53_drift_total counter\nregiond_route53_drift_total %" PRIu64 "\n",
                        route53_drift_total());
    const route53_change_t *c = route53_last_change();
    if (c && c->insync_ms) {
        evbuffer_add_printf(b, "# HELP regiond_route53_last_change_seconds Phases of the last change, from submission.\n"
                            "# TYPE regiond_route53_last_change_seconds gauge\n");
        evbuffer_add_printf(b, "regiond_route53_last_change_seconds{phase=\"accepted\"} %.3f\n",
                            (double)(c->accepted_ms - c->submitted_ms) / 1000.0);
        evbuffer_add_printf(b, "regiond_route53_last_change_seconds{phase=\"insync\"} %.3f\n",
                            (double)(c->insync_ms - c->submitted_ms) / 1000.0);
        if (c->visible_ms)
            evbuffer_add_printf(b, "regiond_route53_last_change_seconds{phase=\"visible\"} %.3f\n",
                                (double)(c->visible_ms - c->submitted_ms) / 1000.0);
    }
}

/* ---- life cycle ---- */

static void ctrl_names(const cfg_t *cfg)
{
    C.n = cfg->n_regions < DECIDE_MAX_REGIONS ? cfg->n_regions : DECIDE_MAX_REGIONS;
    for (size_t i = 0; i < C.n; i++)
        snprintf(C.names[i], sizeof(C.names[i]), "%s", cfg->regions[i].name);
}

int ctrl_init(const cfg_t *cfg, char *err, size_t errlen)
{
    memset(&C, 0, sizeof(C));
    C.cfg = cfg;
    ctrl_names(cfg);
    C.frozen = cfg->decision.freeze;
    ctrl_load();
    C.tick = event_new(loop_base(), -1, EV_PERSIST, ctrl_on_tick, NULL);
    C.retry = evtimer_new(loop_base(), ctrl_on_tick, &C);
    struct timeval tv = {1, 0};
    if (!C.tick || !C.retry || event_add(C.tick, &tv) == -1) {
        snprintf(err, errlen, "control: out of memory");
        return -1;
    }
    if (route53_init(cfg, ctrl_on_r53) == -1) {
        snprintf(err, errlen, "route53: cannot start");
        return -1;
    }
    C.ready = true;
    ctrl_evaluate("start");
    return 0;
}

void ctrl_configure(const cfg_t *cfg)
{
    /* Overrides follow their region by name across a reload. */
    ctrl_override_t old[DECIDE_MAX_REGIONS];
    char oldn[DECIDE_MAX_REGIONS][65];
    size_t on = C.n;
    memcpy(old, C.ov, sizeof(old));
    memcpy(oldn, C.names, sizeof(oldn));
    memset(C.ov, 0, sizeof(C.ov));
    C.cfg = cfg;
    ctrl_names(cfg);
    for (size_t k = 0; k < on; k++) {
        int i = ctrl_index(oldn[k]);
        if (i >= 0)
            C.ov[i] = old[k];
    }
    C.have_last = false;
    C.applied_seq = 0;
    C.suspended = false;
    route53_configure(cfg);
    ctrl_evaluate("reload");
}

void ctrl_fini(void)
{
    route53_fini();
    if (C.tick)
        event_free(C.tick);
    if (C.retry)
        event_free(C.retry);
    for (size_t i = 0; i < C.nring; i++)
        free(C.ring[i]);
    memset(&C, 0, sizeof(C));
}
