/* control — see control.h.  Data flows one way: targets (health) ->
 * control (decide) -> route53 (act) -> feed. */
#include "daemon/control.h"
#include "daemon/control_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "core/alarm.h"
#include "probes/ddb.h"
#include "failover/decide.h"
#include "core/feed.h"
#include "core/log.h"
#include "core/loop.h"
#include "failover/route53.h"
#include "core/state.h"
#include "daemon/control_replica.h"
#include "daemon/leader.h"
#include "daemon/observers.h"
#include "daemon/targets.h"

_Static_assert(DECIDE_HISTORY >= CFG_MAX_CHANGES,
               "the damping history must hold decision.max_changes' largest value");

#define CTRL_RESAVE_MS 60000u   /* control.json rewritten at least this often while an override runs */

ctrl_state_t ctl;

static void ctrl_safe_mode(void);

/* ---- persistence (control_state.c) ---- */

int ctrl_index(const char *region)
{
    for (size_t i = 0; i < ctl.n; i++)
        if (strcmp(ctl.names[i], region) == 0)
            return (int)i;
    return -1;
}

/* Record an applied change in the history the engine reads (and its wall
 * time, which is what survives a restart). */
void ctrl_hist_add(uint64_t mono, int64_t wall)
{
    if (ctl.hist.n == DECIDE_HISTORY)
        memmove(ctl.hist_wall, ctl.hist_wall + 1, (DECIDE_HISTORY - 1) * sizeof(ctl.hist_wall[0]));
    decide_history_add(&ctl.hist, mono);
    ctl.hist_wall[ctl.hist.n - 1] = wall;
}

/* ---- deciding ---- */

/* Overrides expire on the monotonic clock: a wall-clock step never ends
 * (or extends) a drain. */
static void ctrl_drop_expired(void)
{
    uint64_t now = loop_now_ms();
    bool any = false;
    for (size_t i = 0; i < ctl.n; i++) {
        ctrl_override_t *v = &ctl.ov[i];
        if (v->kind != DECIDE_OV_NONE && v->expires_mono_ms && v->expires_mono_ms <= now) {
            cJSON *d = cJSON_CreateObject();
            if (d) {
                cJSON_AddStringToObject(d, "region", ctl.names[i]);
                cJSON_AddStringToObject(d, "action", v->kind == DECIDE_OV_DRAIN ? "drain" : "pin");
                cJSON_AddStringToObject(d, "note", v->note);
            }
            feed_emit(EV_OVERRIDE_EXPIRED, d);
            v->kind = DECIDE_OV_NONE;
            any = true;
        }
    }
    if (any)
        ctrl_save(false);
}

void ctrl_cfg(decide_cfg_t *d)
{
    const cfg_decision_t *c = &ctl.cfg->decision;
    *d = (decide_cfg_t){.min_healthy_regions = c->min_healthy_regions,
                        .fail_open = c->fail_open_restore ? DECIDE_FAIL_OPEN_RESTORE : DECIDE_FAIL_OPEN_KEEP,
                        .degraded_weight = c->degraded_weight,
                        .hold_down_ms = (uint64_t)c->hold_down_s * 1000u,
                        .max_changes = c->max_changes, .window_ms = (uint64_t)c->window_s * 1000u};
}

/* With cluster.quorum the health the engine takes is the observers'
 * combined state (observers_quorum.c), else this instance's own probes'. */
void ctrl_inputs(decide_region_t *in)
{
    static char why[DECIDE_MAX_REGIONS][320];
    const cfg_route53_t *r = &ctl.cfg->route53;
    bool quorum = observers_quorum_on();
    if (quorum)
        observers_quorum_update();
    for (size_t i = 0; i < ctl.n; i++) {
        const region_t *reg = targets_region(i);
        uint64_t since;
        in[i] = (decide_region_t){.name = ctl.names[i],
                                  .health = quorum ? observers_quorum_state(i, &since)
                                                   : reg ? reg->state : HEALTH_UNKNOWN,
                                  .configured_weight = r->enabled ? (int)r->regions[i].weight : 100,
                                  .live_weight = r->enabled ? route53_live_weight(i) : -1};
        if (ctl.cfg->dynamodb.enabled && ctl.cfg->dynamodb.gate == 0 && !ddb_gate_ok(i, why[i], sizeof(why[i]))) {
            in[i].data_blocked = true;
            in[i].data_why = why[i];
        }
        if (ctl.ov[i].kind != DECIDE_OV_NONE) {
            in[i].override = ctl.ov[i].kind;
            in[i].pin_weight = ctl.ov[i].kind == DECIDE_OV_PIN ? ctl.ov[i].weight : 0;
        } else if (r->enabled && route53_drifted(i) && !r->correct_drift) {
            /* Changed outside regiond: hands off until an operator releases it
             * (records deleted: nothing serves there, 0, and nothing is sent). */
            in[i].override = DECIDE_OV_PIN;
            in[i].pin_weight = in[i].live_weight >= 0 ? in[i].live_weight : 0;
            in[i].drift_held = true;
        }
    }
}

const char *ctrl_apply_state(const decide_out_t *o)
{
    if (!o->change && !(ctl.cfg->route53.enabled && route53_needs_correction()))
        return "no-change";
    if (!ctl.cfg->route53.enabled)
        return "monitor-only";
    if (ctl.cfg->decision.dry_run)
        return "dry-run";
    if (ctl.frozen || state_safe_mode())
        return "frozen";
    if (!leader_may_act())
        return "follower";   /* not this instance's to send: the lease holder decides and applies */
    return "apply";
}

static void ctrl_record(const decide_out_t *o, const decide_region_t *in, const char *why,
                        const char *applied)
{
    cJSON *d = cJSON_CreateObject();
    if (!d)
        return;
    cJSON_AddNumberToObject(d, "decision", (double)ctl.seq);
    cJSON_AddStringToObject(d, "rule", decide_rule_str(o->top_rule));
    cJSON_AddStringToObject(d, "reason", o->reason);
    cJSON_AddStringToObject(d, "trigger", why);
    cJSON_AddStringToObject(d, "applied", applied);
    cJSON_AddBoolToObject(d, "alarm", o->alarm);
    cJSON *rs = cJSON_AddArrayToObject(d, "regions");
    for (size_t i = 0; rs && i < ctl.n; i++) {
        cJSON *x = cJSON_CreateObject();
        if (!x)
            break;
        cJSON_AddStringToObject(x, "region", ctl.names[i]);
        cJSON_AddStringToObject(x, "health", health_state_str(in[i].health));
        cJSON_AddNumberToObject(x, "live", in[i].live_weight);
        cJSON_AddNumberToObject(x, "configured", in[i].configured_weight);
        cJSON_AddNumberToObject(x, "weight", o->weight[i]);
        cJSON_AddStringToObject(x, "rule", decide_rule_str(o->rule[i]));
        if (in[i].override != DECIDE_OV_NONE)
            cJSON_AddStringToObject(x, "override", in[i].override == DECIDE_OV_DRAIN ? "drain" : "pin");
        cJSON *q = observers_quorum_region_json(i);   /* which observers' views the health came from */
        if (q)
            cJSON_AddItemToObject(x, "quorum", q);
        cJSON_AddItemToArray(rs, x);
    }
    char *line = cJSON_PrintUnformatted(d);
    if (line) {
        if (ctl.nring == CTRL_RING) {
            free(ctl.ring[0]);
            memmove(ctl.ring, ctl.ring + 1, (CTRL_RING - 1) * sizeof(ctl.ring[0]));
            ctl.nring--;
        }
        ctl.ring[ctl.nring++] = line;
    }
    feed_emit(EV_DECISION, d);
}

static void ctrl_alarm(const decide_out_t *o)
{
    /* A safety rule that holds a region in (min_healthy_regions) is worth a
     * person's attention too, though not a page. */
    static bool safety_on;
    bool safety = o->top_rule == DECIDE_RULE_MIN_HEALTHY;
    if (safety && !safety_on)
        alarm_raise(alarm_key(ALARM_SAFETY_RULE).s, "warning", o->reason, NULL);
    else if (!safety && safety_on)
        alarm_resolve(alarm_key(ALARM_SAFETY_RULE).s, "no safety rule holds a region in any more");
    safety_on = safety;
    if (o->alarm == ctl.last_alarm)
        return;
    ctl.last_alarm = o->alarm;
    cJSON *d = cJSON_CreateObject();
    if (d) {
        cJSON_AddBoolToObject(d, "active", o->alarm);
        cJSON_AddStringToObject(d, "rule", decide_rule_str(o->top_rule));
        cJSON_AddStringToObject(d, "reason", o->reason);
    }
    feed_emit(EV_ALARM, d);
    if (o->alarm)
        alarm_raise(alarm_key(ALARM_FAILOVER).s, "critical", o->reason,
                    observers_quorum_json());   /* the views each region's last quorum decision used; NULL without */
    else
        alarm_resolve(alarm_key(ALARM_FAILOVER).s, "failover back to normal");
    log_msg(o->alarm ? LOG_CRIT : LOG_NOTICE, "msg=\"%s\" reason=\"%s\"",
            o->alarm ? "failover alarm raised" : "failover alarm cleared", o->reason);
}

void ctrl_evaluate(const char *why)
{
    decide_region_t in[DECIDE_MAX_REGIONS];
    decide_cfg_t dc;
    decide_out_t o;
    if (ctrl_replica_holds())
        return;   /* a new leader: not before the replicated state is read (control_replica.c) */
    ctrl_drop_expired();
    ctrl_safe_mode();
    if (ctl.cfg->route53.enabled && !route53_ready())
        return;   /* no decision before the live weights are known */
    ctrl_cfg(&dc);
    ctrl_inputs(in);
    if (decide(&dc, in, ctl.n, &ctl.hist, loop_now_ms(), &o) == -1) {
        log_msg(LOG_ERR, "msg=\"decision engine refused its inputs\" reason=\"%s\"", o.reason);
        return;
    }
    if (ctrl_settling(&o, in))
        return;
    ctl.cur = o;
    memcpy(ctl.cur_in, in, sizeof(in[0]) * ctl.n);
    ctrl_alarm(&o);
    if (o.retry_in_ms) {
        struct timeval tv = {(time_t)(o.retry_in_ms / 1000), (suseconds_t)(o.retry_in_ms % 1000) * 1000 + 1000};
        ctl.retry_why = "hold-down-expired";
        evtimer_add(ctl.retry, &tv);
    }
    bool same = ctl.have_last && memcmp(ctl.last_weights, o.weight, sizeof(int) * ctl.n) == 0;
    const char *applied = ctrl_apply_state(&o);
    if (!same) {
        if (ctrl_number() == -1)
            return;   /* logged; the state-write alarm is up; tried again on the next evaluation */
        ctl.have_last = true;
        memcpy(ctl.last_weights, o.weight, sizeof(int) * ctl.n);
        ctrl_record(&o, in, why, applied);
    }
    if (strcmp(applied, "apply") == 0 && ctl.applied_seq != ctl.seq && route53_idle() &&
        loop_now_ms() >= ctl.fail_until_ms) {
        uint64_t prev = ctl.applied_seq;
        ctl.applied_seq = ctl.seq;   /* before: the actuator may answer from inside route53_apply */
        if (route53_apply(ctl.seq, o.weight, ctl.n) != 0)
            ctl.applied_seq = prev;
    }
}

void ctrl_health_changed(void)
{
    if (ctl.ready && !ctl.suspended)
        ctrl_evaluate("health");
}

void ctrl_suspend(void)
{
    ctl.suspended = true;
}

static void ctrl_on_r53(route53_note_t what)
{
    if (what == R53_NOTE_FENCED) {   /* a newer leader bumped the guard: nothing was sent */
        leader_fenced(route53_guard_epoch());
        return;
    }
    if (what == R53_NOTE_APPLIED) {
        ctl.fail_backoff_ms = 0;
        ctrl_hist_add(loop_now_ms(), loop_wall_ms());
        ctrl_save(false);   /* the history only damps changes after a restart: off the loop */
        return;
    }
    if (what == R53_NOTE_FAILED) {
        ctl.fail_backoff_ms = ctl.fail_backoff_ms ? ctl.fail_backoff_ms * 2 : 5000;
        if (ctl.fail_backoff_ms > 300000)
            ctl.fail_backoff_ms = 300000;
        ctl.fail_until_ms = loop_now_ms() + ctl.fail_backoff_ms;
        ctl.applied_seq = 0;   /* the decision did not land: hand it over again after the backoff */
        struct timeval tv = {(time_t)(ctl.fail_backoff_ms / 1000) + 1, 0};
        ctl.retry_why = "apply-backoff-elapsed";
        evtimer_add(ctl.retry, &tv);
        return;
    }
    if (what == R53_NOTE_LIVE) {
        ctl.applied_seq = 0;   /* live weights moved: the current decision may need applying again */
        /* ... now: a batch that failed or was refused on the old group says
         * nothing about the new one (an operator may just have unblocked a
         * drain); the backoff keeps doubling if it fails again */
        ctl.fail_until_ms = 0;
    }
    ctrl_evaluate(what == R53_NOTE_LIVE ? "live-weights" : "actuator-idle");
}

void ctrl_data_changed(void)
{
    if (ctl.ready && !ctl.suspended)
        ctrl_evaluate("data");
}

static void ctrl_on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    bool any = false;
    for (size_t i = 0; i < ctl.n; i++)
        any = any || (ctl.ov[i].kind != DECIDE_OV_NONE && ctl.ov[i].expires_mono_ms);
    if (!arg && ctl.save_failed) {   /* the last write failed: once a second, never a tight loop */
        ctl.save_failed = false;
        ctrl_save(false);
    } else if (!arg && any && loop_now_ms() - ctl.saved_mono_ms >= CTRL_RESAVE_MS) {
        ctrl_save(false);   /* keeps the remaining time in the file close to the truth */
    }
    const char *why = arg ? (ctl.retry_why ? ctl.retry_why : "retry") : "timer";
    if (!arg && ctl.settle_until_ms && loop_now_ms() >= ctl.settle_until_ms)
        why = "settle-elapsed";   /* the 1 s tick came first, just after the settle window ended */
    ctrl_evaluate(why);
}

void ctrl_reevaluate(const char *why)
{
    if (ctl.ready && !ctl.suspended)
        ctrl_evaluate(why);
}

/* Safe mode (a corrupt state file, found at start or later): frozen, and
 * the freeze is saved, until an operator unfreezes. */
static void ctrl_safe_mode(void)
{
    if (!state_safe_mode() || (ctl.frozen && strncmp(ctl.freeze_note, "safe mode", 9) == 0))
        return;
    ctl.frozen = true;
    snprintf(ctl.freeze_note, sizeof(ctl.freeze_note), "%.190s", state_safe_reason());
    snprintf(ctl.freeze_who, sizeof(ctl.freeze_who), "regiond");
    ctrl_save(false);
    cJSON *d = cJSON_CreateObject();
    if (d) {
        cJSON_AddBoolToObject(d, "frozen", true);
        cJSON_AddStringToObject(d, "note", ctl.freeze_note);
        cJSON_AddStringToObject(d, "who", "regiond");
    }
    feed_emit(EV_FREEZE, d);
    log_msg(LOG_CRIT, "msg=\"frozen: safe mode\" reason=\"%s\"", state_safe_reason());
}

/* ---- life cycle ---- */

static void ctrl_names(const cfg_t *cfg)
{
    ctl.n = cfg->n_regions < DECIDE_MAX_REGIONS ? cfg->n_regions : DECIDE_MAX_REGIONS;
    for (size_t i = 0; i < ctl.n; i++)
        snprintf(ctl.names[i], sizeof(ctl.names[i]), "%s", cfg->regions[i].name);
}

int ctrl_init(const cfg_t *cfg, char *err, size_t errlen)
{
    memset(&ctl, 0, sizeof(ctl));
    ctl.cfg = cfg;
    ctrl_names(cfg);
    ctl.frozen = cfg->decision.freeze;
    ctrl_load();
    ctrl_safe_mode();   /* a corrupt file: the first file written says frozen */
    if (ctrl_reserve_at_start() == -1)
        log_msg(LOG_ERR, "msg=\"no decision numbers reserved at start\" error=\"%s\"", state_last_error());
    ctl.tick = event_new(loop_base(), -1, EV_PERSIST, ctrl_on_tick, NULL);
    ctl.retry = evtimer_new(loop_base(), ctrl_on_tick, &ctl);
    struct timeval tv = {1, 0};
    if (!ctl.tick || !ctl.retry || event_add(ctl.tick, &tv) == -1) {
        snprintf(err, errlen, "control: out of memory");
        return -1;
    }
    if (route53_init(cfg, ctrl_on_r53) == -1) {
        snprintf(err, errlen, "route53: cannot start");
        return -1;
    }
    ctl.ready = true;
    ctrl_evaluate("start");
    return 0;
}

void ctrl_configure(const cfg_t *cfg)
{
    /* Overrides follow their region by name across a reload. */
    ctrl_override_t old[DECIDE_MAX_REGIONS];
    char oldn[DECIDE_MAX_REGIONS][65];
    size_t on = ctl.n;
    memcpy(old, ctl.ov, sizeof(old));
    memcpy(oldn, ctl.names, sizeof(oldn));
    memset(ctl.ov, 0, sizeof(ctl.ov));
    ctl.cfg = cfg;
    ctrl_names(cfg);
    for (size_t k = 0; k < on; k++) {
        int i = ctrl_index(oldn[k]);
        if (i >= 0)
            ctl.ov[i] = old[k];
    }
    ctl.have_last = false;
    ctl.applied_seq = 0;
    ctl.suspended = false;
    route53_configure(cfg);
    ctrl_evaluate("reload");
}

void ctrl_fini(void)
{
    ctrl_ops_drop();       /* answered: not applied (the save below is queued after their writes) */
    if (ctl.ready)
        ctrl_save(true);   /* the time left of each override, as of now (queued; state_fini finishes it) */
    route53_fini();
    if (ctl.tick)
        event_free(ctl.tick);
    if (ctl.retry)
        event_free(ctl.retry);
    for (size_t i = 0; i < ctl.nring; i++)
        free(ctl.ring[i]);
    memset(&ctl, 0, sizeof(ctl));
}
