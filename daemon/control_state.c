/* control_state — the controller's persistence in state_dir/control.json:
 * overrides, freeze, the applied-change history and the decision numbers
 * reserved ahead (see control_int.h).  A file that fails its checks is
 * never used with defaults: state_load_json() moves it aside, alarms and
 * puts regiond in safe mode. */
#include "daemon/control.h"
#include "daemon/control_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/loop.h"
#include "core/state.h"
#include "daemon/control_replica.h"

#define CTRL_FILE "control.json"
#define CTRL_SEQ_MAX 4503599627370496.0      /* 2^52: exact as a JSON number, with room for blocks */
#define CTRL_WALL_MAX 253402300799999.0      /* 9999-12-31 in ms */
#define CTRL_REMAIN_MAX (8.0 * 86400 * 1000) /* an override lasts at most 7 days (+ a drill's margin) */
#define CTRL_MAX_CHANGES 1000

/* ---- saving ---- */

cJSON *ctrl_doc(void)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *ovs = cJSON_AddArrayToObject(o, "overrides"), *ch = cJSON_AddArrayToObject(o, "changes");
    if (!o || !ovs || !ch) {
        cJSON_Delete(o);
        return NULL;
    }
    int64_t wall = loop_wall_ms();
    uint64_t mono = loop_now_ms();
    cJSON_AddNumberToObject(o, "decision_seq", (double)ctl.seq);
    /* a reservation being written counts: a larger number on disk is always safe */
    uint64_t res = ctl.want_reserved > ctl.reserved ? ctl.want_reserved : ctl.reserved;
    cJSON_AddNumberToObject(o, "decision_reserved", (double)res);
    cJSON_AddNumberToObject(o, "saved_wall_ms", (double)wall);
    cJSON_AddBoolToObject(o, "frozen", ctl.frozen);
    cJSON_AddStringToObject(o, "freeze_note", ctl.freeze_note);
    cJSON_AddStringToObject(o, "freeze_who", ctl.freeze_who);
    for (size_t i = 0; i < ctl.n; i++) {
        const ctrl_override_t *v = &ctl.ov[i];
        if (v->kind == DECIDE_OV_NONE)
            continue;
        cJSON *x = ctrl_override_obj(i);
        if (!x)
            break;
        uint64_t left = v->expires_mono_ms > mono ? v->expires_mono_ms - mono : 0;
        cJSON_AddNumberToObject(x, "remaining_ms", v->expires_mono_ms ? (double)left : 0);
        cJSON_AddBoolToObject(x, "expires", v->expires_mono_ms != 0);
        cJSON_AddNumberToObject(x, "expires_wall_ms", v->expires_mono_ms ? (double)(wall + (int64_t)left) : 0);
        cJSON_AddNumberToObject(x, "created_wall_ms", (double)v->created_wall_ms);
        cJSON_AddStringToObject(x, "note", v->note);
        cJSON_AddStringToObject(x, "who", v->who);
        cJSON_AddItemToArray(ovs, x);
    }
    for (size_t i = 0; i < ctl.hist.n; i++)
        cJSON_AddItemToArray(ch, cJSON_CreateNumber((double)ctl.hist_wall[i]));
    return o;
}

/* Write doc (then deleted) as control.json: through state_write_json()
 * with flags, then and arg.  0, -1, or STATE_NOMEM (doc NULL or not
 * printed: logged here). */
static int ctrl_persist(cJSON *doc, unsigned flags, state_done_fn then, void *arg)
{
    int rc = state_write_json(CTRL_FILE, doc, flags, then, arg);
    cJSON_Delete(doc);
    if (rc == STATE_NOMEM)
        log_msg(LOG_ERR, "msg=\"control state not saved\" error=\"out of memory\"");
    return rc;
}

/* An operator's change, on ctl. */
void ctrl_op_effect(const ctrl_op_t *op)
{
    if (op->kind == CTRL_OP_FREEZE) {
        ctl.frozen = op->on;
        snprintf(ctl.freeze_note, sizeof(ctl.freeze_note), "%s", op->on ? op->note : "");
        snprintf(ctl.freeze_who, sizeof(ctl.freeze_who), "%s", op->on ? op->who : "");
        return;
    }
    int i = ctrl_index(op->region);
    if (i < 0)
        return;   /* the region left the config meanwhile */
    ctrl_override_t *v = &ctl.ov[i];
    if (op->kind == CTRL_OP_CLEAR) {
        v->kind = DECIDE_OV_NONE;
        return;
    }
    v->kind = op->on ? DECIDE_OV_DRAIN : DECIDE_OV_PIN;
    v->weight = op->weight;
    v->created_wall_ms = loop_wall_ms();
    v->expires_mono_ms = op->for_s ? loop_now_ms() + (uint64_t)op->for_s * 1000u : 0;
    snprintf(v->note, sizeof(v->note), "%s", op->note);
    snprintf(v->who, sizeof(v->who), "%s", op->who);
}

static void ctrl_written(void *arg, int rc, const char *err);

/* Write the state as it is, with op applied when given (the snapshot only:
 * ctl itself is left as it was).  The one write in flight. */
static int ctrl_write(ctrl_op_t *op)
{
    static ctrl_state_t keep;   /* large: not on the stack */
    if (op) {
        keep = ctl;
        ctrl_op_effect(op);
    }
    cJSON *doc = ctrl_doc();
    if (op)
        ctl = keep;
    bool was_dirty = ctl.dirty;
    uint64_t was_saved = ctl.saved_mono_ms, was_reserved = ctl.writing_reserved;
    ctl.writing_reserved = ctl.want_reserved > ctl.reserved ? ctl.want_reserved : ctl.reserved;
    ctl.writing = true;
    ctl.dirty = false;   /* this snapshot holds every change made so far */
    ctl.saved_mono_ms = loop_now_ms();
    int rc = ctrl_persist(doc, STATE_JSON_COMPACT, ctrl_written, op);
    if (rc == STATE_NOMEM) {   /* nothing was queued: as before the attempt */
        ctl.dirty = was_dirty;
        ctl.saved_mono_ms = was_saved;
        ctl.writing_reserved = was_reserved;
    }
    if (rc != 0)
        ctl.writing = false;
    return rc == 0 ? 0 : -1;
}

/* Nothing in flight: the next operator change, else the state if it
 * changed since the last snapshot. */
static void ctrl_next(void)
{
    while (!ctl.writing && ctl.ops) {
        if (ctrl_write(ctl.ops) == 0)
            return;
        ctrl_op_t *op = ctl.ops;   /* out of memory: refused, never applied */
        ctl.ops = op->next;
        if (!ctl.ops)
            ctl.ops_tail = NULL;
        op->done(op->arg, CTRL_UNAVAILABLE, "not applied: the change could not be saved (out of memory)");
        free(op);
    }
    if (!ctl.writing && ctl.dirty && !ctl.save_failed && ctrl_write(NULL) == -1)
        ctl.dirty = true;
}

/* On the loop: the write in flight finished.  Its decision numbers are
 * durable (or not); its operator change is applied and acknowledged only
 * now, or refused with the reason (the file on disk is then the one
 * before: a failed write never replaces it). */
static void ctrl_written(void *arg, int rc, const char *err)
{
    ctrl_op_t *op = arg;
    ctl.writing = false;
    if (rc == 0 && ctl.writing_reserved > ctl.reserved)
        ctl.reserved = ctl.writing_reserved;
    else if (rc == -1 && ctl.want_reserved > ctl.reserved)
        ctl.want_reserved = ctl.reserved;   /* asked for again by the next decision */
    /* A failed snapshot lost the changes folded into it (an expiry, the
     * applied-change history): written again, from the 1 s tick. */
    ctl.save_failed = rc == -1;
    if (rc == -1)
        ctl.dirty = true;
    if (op) {
        ctl.ops = op->next;
        if (!ctl.ops)
            ctl.ops_tail = NULL;
        if (!op->done) {
            /* answered at SIGTERM: applied nowhere (ctrl_stopping) */
        } else if (rc == 0) {
            ctrl_replica_defer(op->done, op->arg);   /* leading: answered once on a majority */
            ctrl_op_finish(op);
        } else {
            char msg[700];
            snprintf(msg, sizeof(msg), "not applied: the %s could not be saved (%.600s)",
                     op->kind == CTRL_OP_FREEZE ? (op->on ? "freeze" : "unfreeze")
                     : op->kind == CTRL_OP_SET ? "override" : "release", err);
            op->done(op->arg, CTRL_UNAVAILABLE, msg);
        }
        free(op);
    }
    ctrl_next();
    if (rc == 0)
        ctrl_replica_push();   /* leading: the same state to the lease tables */
    if (ctl.starved && ctl.seq < ctl.reserved) {
        ctl.starved = false;
        log_msg(LOG_NOTICE, "msg=\"decision numbers available again\" reserved=%" PRIu64, ctl.reserved);
        ctrl_reevaluate("numbers-reserved");
    }
}

int ctrl_save(bool final)
{
    if (final) {   /* at stop: after whatever is in flight, never waited for */
        return ctrl_persist(ctrl_doc(), STATE_JSON_COMPACT, NULL, NULL) == 0 ? 0 : -1;
    }
    ctl.dirty = true;
    ctrl_next();
    return 0;
}

void ctrl_submit(ctrl_op_t *op)
{
    if (ctl.stopping) {   /* SIGTERM came: nothing new is written */
        op->done(op->arg, CTRL_UNAVAILABLE, "not applied: regiond is stopping");
        free(op);
        return;
    }
    if (ctrl_replica_accept(&op->done, &op->arg) == -1) {   /* leading: the answer waits for a majority */
        op->done(op->arg, CTRL_UNAVAILABLE, "not applied: out of memory");
        free(op);
        return;
    }
    op->next = NULL;
    if (ctl.ops_tail)
        ctl.ops_tail->next = op;
    else
        ctl.ops = op;
    ctl.ops_tail = op;
    ctrl_next();
}

void ctrl_ops_drop(void)
{
    while (ctl.ops) {
        ctrl_op_t *op = ctl.ops;
        ctl.ops = op->next;
        if (op->done)
            op->done(op->arg, CTRL_UNAVAILABLE, "not applied: regiond is stopping");
        free(op);
    }
    ctl.ops_tail = NULL;
}

/* SIGTERM, on the loop: every waiting change is answered now, so the answer
 * can still be sent.  The one whose write is under way stays queued, unanswerable
 * (done NULL): its write completing applies nothing, and the final save
 * (ctrl_fini) is written after it. */
void ctrl_stopping(void)
{
    ctl.stopping = true;
    ctrl_op_t *keep = ctl.writing ? ctl.ops : NULL;
    ctrl_op_t *rest = keep ? keep->next : ctl.ops;
    if (keep) {
        keep->next = NULL;
        ctl.ops_tail = keep;
        ctrl_done_fn done = keep->done;
        keep->done = NULL;
        if (done)
            done(keep->arg, CTRL_UNAVAILABLE, "not applied: regiond is stopping");
    } else {
        ctl.ops = ctl.ops_tail = NULL;
    }
    while (rest) {
        ctrl_op_t *op = rest;
        rest = op->next;
        if (op->done)
            op->done(op->arg, CTRL_UNAVAILABLE, "not applied: regiond is stopping");
        free(op);
    }
}

int ctrl_reserve_at_start(void)
{
    ctl.want_reserved = ctl.seq + 1 + CTRL_SEQ_BLOCK;
    int rc = ctrl_persist(ctrl_doc(), STATE_JSON_WAIT, NULL, NULL);   /* before the loop runs */
    if (rc == 0)
        ctl.reserved = ctl.want_reserved;
    else
        ctl.want_reserved = ctl.reserved;   /* asked for again, off the loop, by the first decision */
    return rc;
}

int ctrl_number(void)
{
    /* leading a cluster: also below the reservation replicated this term
     * (the replica's write ends the wait: ctrl_replica.c, cluster-state) */
    bool ok = ctl.seq < ctl.reserved, replicated = ctl.seq < ctrl_replica_limit();
    if (ok && !replicated)
        return -1;
    if (ok)
        ctl.seq++;
    /* Half of the block used: the next one is written now, so a decision
     * waits only when the disk has been stalled for half a block. */
    if (ctl.reserved - ctl.seq <= CTRL_SEQ_BLOCK / 2 && ctl.want_reserved <= ctl.reserved) {
        ctl.want_reserved = ctl.seq + 1 + CTRL_SEQ_BLOCK;
        ctrl_save(false);
    }
    if (!ok && !ctl.starved) {
        ctl.starved = true;
        log_msg(LOG_ERR, "msg=\"decision waits: every durable decision number is used and the next block is "
                "not written yet\" reserved=%" PRIu64 " error=\"%s\"", ctl.reserved, state_last_error());
    }
    return ok ? 0 : -1;
}

/* ---- loading ---- */

static int ctrl_check_override(const cJSON *x, int i, char *why, size_t len)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(x, "action");
    const char *bad = !cJSON_IsObject(x) ? "expected an object"
        : !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(x, "region")) || !state_opt_str(x, "region", 65)
          ? "region: expected a region name"
        : !cJSON_IsString(a) || (strcmp(a->valuestring, "drain") != 0 && strcmp(a->valuestring, "pin") != 0)
          ? "action: expected \"drain\" or \"pin\""
        : !state_opt_int(x, "weight", 0, 255) ? "weight: expected an integer 0..255"
        : !state_opt_int(x, "remaining_ms", 0, CTRL_REMAIN_MAX) ? "remaining_ms: expected an integer 0..8 days"
        : !state_opt_int(x, "expires_wall_ms", 0, CTRL_WALL_MAX) ? "expires_wall_ms: expected a time in ms"
        : !state_opt_int(x, "created_wall_ms", 0, CTRL_WALL_MAX) ? "created_wall_ms: expected a time in ms"
        : !state_opt_str(x, "note", CTRL_NOTE_MAX) || !state_opt_str(x, "who", 64) ? "note, who: expected short strings"
        : NULL;
    if (bad)
        snprintf(why, len, "overrides[%d].%s", i, bad);
    return bad ? -1 : 0;
}

/* Every member's type and range (issue 14: a crafted number never reaches
 * undefined behaviour). */
int ctrl_check_doc(const cJSON *o, char *why, size_t len)
{
    const cJSON *ovs = cJSON_GetObjectItemCaseSensitive(o, "overrides");
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(o, "changes");
    const cJSON *fr = cJSON_GetObjectItemCaseSensitive(o, "frozen");
    const char *bad = !state_opt_int(o, "decision_seq", 0, CTRL_SEQ_MAX) ? "decision_seq: expected an integer 0..2^52"
        : !state_opt_int(o, "decision_reserved", 0, CTRL_SEQ_MAX) ? "decision_reserved: expected an integer 0..2^52"
        : !state_opt_int(o, "saved_wall_ms", 0, CTRL_WALL_MAX) ? "saved_wall_ms: expected a time in ms"
        : fr && !cJSON_IsBool(fr) ? "frozen: expected true or false"
        : !state_opt_str(o, "freeze_note", CTRL_NOTE_MAX) || !state_opt_str(o, "freeze_who", 64)
          ? "freeze_note, freeze_who: expected short strings"
        : ovs && (!cJSON_IsArray(ovs) || cJSON_GetArraySize(ovs) > DECIDE_MAX_REGIONS)
          ? "overrides: expected an array of at most 64"
        : ch && (!cJSON_IsArray(ch) || cJSON_GetArraySize(ch) > CTRL_MAX_CHANGES)
          ? "changes: expected an array of at most 1000 times" : NULL;
    if (bad) {
        snprintf(why, len, "%s", bad);
        return -1;
    }
    int i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, ovs)
        if (ctrl_check_override(x, i++, why, len) == -1)
            return -1;
    i = 0;
    cJSON_ArrayForEach(x, ch) {
        if (!state_int_in(x, 0, CTRL_WALL_MAX)) {
            snprintf(why, len, "changes[%d]: expected a time in ms", i);
            return -1;
        }
        i++;
    }
    return 0;
}

/* An override's time left after a restart: what was left when saved, less
 * the wall-clock time since (never more than was left: a clock stepped back
 * never extends a drain). */
static uint64_t ctrl_left(const cJSON *x, int64_t saved, int64_t wall)
{
    double left;
    if (cJSON_GetObjectItemCaseSensitive(x, "remaining_ms"))
        left = state_get_num(x, "remaining_ms");
    else   /* a file from before remaining_ms: the wall-clock expiry, bounded */
        left = state_get_num(x, "expires_wall_ms") - (double)wall, saved = wall;
    int64_t gap = saved > 0 && wall > saved ? wall - saved : 0;
    left -= (double)gap;
    if (left < 1)
        left = 1;   /* expired meanwhile: ends at the first evaluation (0 would mean "never") */
    if (left > CTRL_REMAIN_MAX)
        left = CTRL_REMAIN_MAX;
    return (uint64_t)left;
}

/* replicated: written by another host, whose wall clock is never compared
 * with ours: the time left as written (never less; at most what passed
 * since that save more). */
static void ctrl_load_overrides(const cJSON *o, bool replicated)
{
    int64_t wall = loop_wall_ms(), saved = replicated ? 0 : (int64_t)state_get_num(o, "saved_wall_ms");
    uint64_t mono = loop_now_ms();
    const cJSON *x;
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(o, "overrides")) {
        int i = ctrl_index(state_get_str(x, "region"));
        if (i < 0)
            continue;   /* a region that left the config */
        ctrl_override_t *v = &ctl.ov[i];
        v->kind = strcmp(state_get_str(x, "action"), "drain") == 0 ? DECIDE_OV_DRAIN : DECIDE_OV_PIN;
        v->weight = v->kind == DECIDE_OV_PIN ? (int)state_get_num(x, "weight") : 0;
        const cJSON *ex = cJSON_GetObjectItemCaseSensitive(x, "expires");
        bool expires = cJSON_IsBool(ex) ? cJSON_IsTrue(ex) : state_get_num(x, "expires_wall_ms") != 0;
        v->expires_mono_ms = expires ? mono + ctrl_left(x, saved, wall) : 0;
        v->created_wall_ms = (int64_t)state_get_num(x, "created_wall_ms");
        snprintf(v->note, sizeof(v->note), "%s", state_get_str(x, "note"));
        snprintf(v->who, sizeof(v->who), "%s", state_get_str(x, "who"));
    }
}

void ctrl_load(void)
{
    cJSON *o = NULL;
    state_load_t st = state_load_json(CTRL_FILE, ctrl_check_doc, &o);
    if (st == STATE_CORRUPT) {
        /* The numbers handed out before are lost with the file: go on from
         * the wall clock in seconds, past any count of decisions made. */
        ctl.seq = ctl.reserved = (uint64_t)(loop_wall_ms() / 1000);
        return;
    }
    if (st == STATE_MISSING)
        return;
    ctl.seq = (uint64_t)state_get_num(o, "decision_seq");
    if (state_get_num(o, "decision_reserved") > (double)ctl.seq)
        ctl.seq = (uint64_t)state_get_num(o, "decision_reserved");   /* numbers up to here may be in use */
    ctl.reserved = ctl.seq;
    const cJSON *fr = cJSON_GetObjectItemCaseSensitive(o, "frozen");
    if (fr)   /* the operator's last word wins over decision.freeze, as before */
        ctl.frozen = cJSON_IsTrue(fr);
    snprintf(ctl.freeze_note, sizeof(ctl.freeze_note), "%s", state_get_str(o, "freeze_note"));
    snprintf(ctl.freeze_who, sizeof(ctl.freeze_who), "%s", state_get_str(o, "freeze_who"));
    ctrl_load_overrides(o, false);
    /* Applied changes as wall-clock times, mapped back onto the monotonic clock. */
    int64_t wall = loop_wall_ms();
    uint64_t mono = loop_now_ms();
    const cJSON *x;
    int n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "changes")), k = 0;
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(o, "changes")) {
        if (k++ < n - DECIDE_HISTORY)
            continue;
        int64_t t = (int64_t)x->valuedouble, ago = wall - t;
        if (ago < 0)
            continue;
        ctrl_hist_add((uint64_t)ago < mono ? mono - (uint64_t)ago : 1, t);
    }
    cJSON_Delete(o);
}

void ctrl_take_replicated(const cJSON *o)
{
    uint64_t seq = (uint64_t)state_get_num(o, "decision_seq"), res = (uint64_t)state_get_num(o, "decision_reserved");
    if (res > seq)
        seq = res;   /* the old leader may have used any number up to its reservation */
    if (seq > ctl.seq)
        ctl.seq = seq;
    if (ctl.reserved < ctl.seq)
        ctl.reserved = ctl.seq;   /* numbers up to seq are never handed out again */
    const cJSON *fr = cJSON_GetObjectItemCaseSensitive(o, "frozen");
    ctl.frozen = cJSON_IsTrue(fr);
    snprintf(ctl.freeze_note, sizeof(ctl.freeze_note), "%s", state_get_str(o, "freeze_note"));
    snprintf(ctl.freeze_who, sizeof(ctl.freeze_who), "%s", state_get_str(o, "freeze_who"));
    for (size_t i = 0; i < ctl.n; i++)
        ctl.ov[i].kind = DECIDE_OV_NONE;
    ctrl_load_overrides(o, true);
}

void ctrl_takeover_ready(void)
{
    ctl.have_last = false;   /* the term's first decision gets a number of its own */
    ctl.applied_seq = 0;
    if (ctl.want_reserved < ctl.seq + 1 + CTRL_SEQ_BLOCK)
        ctl.want_reserved = ctl.seq + 1 + CTRL_SEQ_BLOCK;
    ctrl_save(false);        /* written, then replicated: the numbers' limit (ctrl_replica_limit) */
    ctrl_reevaluate("takeover");
}
