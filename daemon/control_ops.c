/* control_ops — the operator's actions on the controller (control.h):
 * overrides set and released, freeze, the drain preview; each is checked
 * against the regions as they are now, queued for its write
 * (control_state.c) and applied once durable (ctrl_op_finish). */
#include "daemon/control.h"
#include "daemon/control_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/feed.h"
#include "core/loop.h"
#include "core/state.h"
#include "failover/decide.h"
#include "failover/route53.h"

static ctrl_op_t *ctrl_op_new(ctrl_op_kind_t kind, const char *region, const char *note, const char *who,
                              ctrl_done_fn done, void *arg)
{
    ctrl_op_t *op = calloc(1, sizeof(*op));
    if (!op) {
        done(arg, CTRL_UNAVAILABLE, "not applied: out of memory");
        return NULL;
    }
    op->kind = kind;
    snprintf(op->region, sizeof(op->region), "%s", region ? region : "");
    snprintf(op->note, sizeof(op->note), "%s", note ? note : "");
    snprintf(op->who, sizeof(op->who), "%s", who ? who : "");
    op->done = done;
    op->arg = arg;
    return op;
}

void ctrl_override_set(const char *region, bool drain, int weight, uint32_t for_s, const char *note,
                       const char *who, ctrl_done_fn done, void *arg)
{
    char msg[512];
    int i = ctrl_index(region);
    if (i < 0) {
        snprintf(msg, sizeof(msg), "no region named '%s'", region);
        done(arg, CTRL_NOT_FOUND, msg);
        return;
    }
    if (!drain && (weight < 0 || weight > 255)) {
        done(arg, CTRL_BAD, "weight must be 0..255");
        return;
    }
    if (drain || weight == 0) {   /* checked now, against the regions as they are */
        decide_region_t in[DECIDE_MAX_REGIONS];
        decide_cfg_t dc;
        ctrl_cfg(&dc);
        ctrl_inputs(in);
        char why[256];
        decide_rule_t r = decide_check_drain(&dc, in, ctl.n, (size_t)i, why, sizeof(why));
        if (r != DECIDE_RULE_NONE) {
            snprintf(msg, sizeof(msg), "refused by %s: %s",
                     r == DECIDE_RULE_COUNT ? "the decision engine" : decide_rule_str(r), why);
            done(arg, CTRL_REFUSED, msg);
            return;
        }
    }
    ctrl_op_t *op = ctrl_op_new(CTRL_OP_SET, region, note, who, done, arg);
    if (!op)
        return;
    op->on = drain;
    op->weight = drain ? 0 : weight;
    op->for_s = for_s;
    ctrl_submit(op);   /* applied once durable: ctrl_op_finish */
}

/* After the write: what an override or release announces. */
static void ctrl_op_announce(const ctrl_op_t *op, bool had, char *msg, size_t msglen)
{
    cJSON *d = cJSON_CreateObject();
    if (d) {
        cJSON_AddStringToObject(d, "region", op->region);
        if (op->kind == CTRL_OP_SET) {
            cJSON_AddStringToObject(d, "action", op->on ? "drain" : "pin");
            cJSON_AddNumberToObject(d, "weight", op->weight);
            cJSON_AddNumberToObject(d, "for_s", op->for_s);
            cJSON_AddStringToObject(d, "note", op->note);
        }
        cJSON_AddStringToObject(d, "who", op->who);
        if (op->kind == CTRL_OP_CLEAR)
            cJSON_AddBoolToObject(d, "had_override", had);
    }
    feed_emit(op->kind == CTRL_OP_SET ? EV_OVERRIDE_SET : EV_OVERRIDE_RELEASED, d);
    if (op->kind == CTRL_OP_SET)
        snprintf(msg, msglen, "%s %s", op->on ? "draining" : "pinning", op->region);
    else
        snprintf(msg, msglen, "released %s", op->region);
}

void ctrl_op_finish(const ctrl_op_t *op)
{
    char msg[600];
    int i = op->kind == CTRL_OP_FREEZE ? 0 : ctrl_index(op->region);
    if (i < 0) {
        snprintf(msg, sizeof(msg), "no region named '%s' (it left the config)", op->region);
        op->done(op->arg, CTRL_NOT_FOUND, msg);
        return;
    }
    bool had = op->kind == CTRL_OP_CLEAR && (ctl.ov[i].kind != DECIDE_OV_NONE || route53_drifted((size_t)i));
    ctrl_op_effect(op);
    if (op->kind == CTRL_OP_FREEZE) {
        if (!op->on)
            state_safe_release(op->who);   /* the operator has seen the corrupt-state alarm */
        cJSON *d = cJSON_CreateObject();
        if (d) {
            cJSON_AddBoolToObject(d, "frozen", op->on);
            cJSON_AddStringToObject(d, "note", ctl.freeze_note);
            cJSON_AddStringToObject(d, "who", op->who);
        }
        feed_emit(op->on ? EV_FREEZE : EV_UNFREEZE, d);
        snprintf(msg, sizeof(msg), "%s", op->on ? "frozen: decisions are shown, not applied" : "unfrozen");
    } else {
        if (op->kind == CTRL_OP_CLEAR)
            route53_clear_drift((size_t)i);
        ctrl_op_announce(op, had, msg, sizeof(msg));
    }
    if (op->kind != CTRL_OP_SET)
        ctl.applied_seq = 0;
    ctrl_evaluate(op->kind == CTRL_OP_FREEZE ? (op->on ? "freeze" : "unfreeze")
                  : op->kind == CTRL_OP_SET ? "override" : "release");
    op->done(op->arg, CTRL_OK, msg);
}

void ctrl_override_clear(const char *region, const char *who, ctrl_done_fn done, void *arg)
{
    if (ctrl_index(region) < 0) {
        char msg[300];
        snprintf(msg, sizeof(msg), "no region named '%.250s'", region);
        done(arg, CTRL_NOT_FOUND, msg);
        return;
    }
    ctrl_op_t *op = ctrl_op_new(CTRL_OP_CLEAR, region, NULL, who, done, arg);
    if (op)
        ctrl_submit(op);
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
    decide_rule_t r = decide_check_drain(&dc, in, ctl.n, (size_t)i, why, sizeof(why));
    if (r != DECIDE_RULE_NONE) {
        snprintf(msg, msglen, "refused by %s: %s", r == DECIDE_RULE_COUNT ? "the decision engine" : decide_rule_str(r),
                 why);
        return CTRL_REFUSED;
    }
    in[i].override = DECIDE_OV_DRAIN;
    if (decide(&dc, in, ctl.n, &ctl.hist, loop_now_ms(), &o) == -1) {
        snprintf(msg, msglen, "%s", o.reason);
        return CTRL_BAD;
    }
    size_t off = (size_t)snprintf(msg, msglen, "would apply decision: %s (rule %s); weights", o.reason,
                                  decide_rule_str(o.top_rule));
    for (size_t k = 0; k < ctl.n && off < msglen; k++)
        off += (size_t)snprintf(msg + off, msglen - off, " %s=%d", ctl.names[k], o.weight[k]);
    return CTRL_OK;
}

void ctrl_set_freeze(bool on, const char *note, const char *who, ctrl_done_fn done, void *arg)
{
    ctrl_op_t *op = ctrl_op_new(CTRL_OP_FREEZE, NULL, note, who, done, arg);
    if (!op)
        return;
    op->on = on;
    ctrl_submit(op);
}
