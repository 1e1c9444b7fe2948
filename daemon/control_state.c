/* control_state — the controller's persistence in state_dir/control.json:
 * overrides, freeze, the applied-change history and the decision numbers
 * reserved ahead (see control_int.h).  A file that fails its checks is
 * never used with defaults: state_load_json() moves it aside, alarms and
 * puts regiond in safe mode. */
#include "daemon/control.h"
#include "daemon/control_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/loop.h"
#include "core/state.h"

#define CTRL_FILE "control.json"
#define CTRL_SEQ_MAX 4503599627370496.0      /* 2^52: exact as a JSON number, with room for blocks */
#define CTRL_WALL_MAX 253402300799999.0      /* 9999-12-31 in ms */
#define CTRL_REMAIN_MAX (8.0 * 86400 * 1000) /* an override lasts at most 7 days (+ a drill's margin) */
#define CTRL_MAX_CHANGES 1000

/* ---- saving ---- */

static cJSON *ctrl_doc(void)
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
    cJSON_AddNumberToObject(o, "decision_reserved", (double)ctl.reserved);
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

int ctrl_save(bool sync)
{
    cJSON *o = ctrl_doc();
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    int rc = -1;
    if (s)
        rc = sync ? state_write(CTRL_FILE, s, strlen(s)) : state_write_async(CTRL_FILE, s, strlen(s));
    else
        log_msg(LOG_ERR, "msg=\"control state not saved\" error=\"out of memory\"");
    free(s);
    ctl.saved_mono_ms = loop_now_ms();
    return rc;
}

int ctrl_number(void)
{
    if (ctl.seq + 1 <= ctl.reserved) {
        ctl.seq++;
        return 0;
    }
    uint64_t old = ctl.reserved;
    ctl.reserved = ctl.seq + 1 + CTRL_SEQ_BLOCK;
    if (ctrl_save(true) == -1) {
        ctl.reserved = old;
        ctrl_save(false);   /* a write that still lands is overwritten (no number past `old` was used) */
        log_msg(LOG_ERR, "msg=\"no decision numbered: the next block of numbers could not be saved\" "
                "error=\"%s\"", state_last_error());
        return -1;
    }
    ctl.seq++;
    return 0;
}

/* ---- loading ---- */

static bool ctrl_str_ok(const cJSON *o, const char *k, size_t max)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return !v || (cJSON_IsString(v) && strlen(v->valuestring) < max);
}

static bool ctrl_num_ok(const cJSON *o, const char *k, double lo, double hi)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return !v || state_int_in(v, lo, hi);
}

static int ctrl_check_override(const cJSON *x, int i, char *why, size_t len)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(x, "action");
    const char *bad = !cJSON_IsObject(x) ? "expected an object"
        : !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(x, "region")) || !ctrl_str_ok(x, "region", 65)
          ? "region: expected a region name"
        : !cJSON_IsString(a) || (strcmp(a->valuestring, "drain") != 0 && strcmp(a->valuestring, "pin") != 0)
          ? "action: expected \"drain\" or \"pin\""
        : !ctrl_num_ok(x, "weight", 0, 255) ? "weight: expected an integer 0..255"
        : !ctrl_num_ok(x, "remaining_ms", 0, CTRL_REMAIN_MAX) ? "remaining_ms: expected an integer 0..8 days"
        : !ctrl_num_ok(x, "expires_wall_ms", 0, CTRL_WALL_MAX) ? "expires_wall_ms: expected a time in ms"
        : !ctrl_num_ok(x, "created_wall_ms", 0, CTRL_WALL_MAX) ? "created_wall_ms: expected a time in ms"
        : !ctrl_str_ok(x, "note", CTRL_NOTE_MAX) || !ctrl_str_ok(x, "who", 64) ? "note, who: expected short strings"
        : NULL;
    if (bad)
        snprintf(why, len, "overrides[%d].%s", i, bad);
    return bad ? -1 : 0;
}

/* Every member's type and range (issue 14: a crafted number never reaches
 * undefined behaviour). */
static int ctrl_check(const cJSON *o, char *why, size_t len)
{
    const cJSON *ovs = cJSON_GetObjectItemCaseSensitive(o, "overrides");
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(o, "changes");
    const cJSON *fr = cJSON_GetObjectItemCaseSensitive(o, "frozen");
    const char *bad = !ctrl_num_ok(o, "decision_seq", 0, CTRL_SEQ_MAX) ? "decision_seq: expected an integer 0..2^52"
        : !ctrl_num_ok(o, "decision_reserved", 0, CTRL_SEQ_MAX) ? "decision_reserved: expected an integer 0..2^52"
        : !ctrl_num_ok(o, "saved_wall_ms", 0, CTRL_WALL_MAX) ? "saved_wall_ms: expected a time in ms"
        : fr && !cJSON_IsBool(fr) ? "frozen: expected true or false"
        : !ctrl_str_ok(o, "freeze_note", CTRL_NOTE_MAX) || !ctrl_str_ok(o, "freeze_who", 64)
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

/* An override's time left after a restart: what was left when saved, less
 * the wall-clock time since (never more than was left: a clock stepped back
 * never extends a drain). */
static uint64_t ctrl_left(const cJSON *x, int64_t saved, int64_t wall)
{
    double left;
    if (cJSON_GetObjectItemCaseSensitive(x, "remaining_ms"))
        left = ctrl_jnum(x, "remaining_ms");
    else   /* a file from before remaining_ms: the wall-clock expiry, bounded */
        left = ctrl_jnum(x, "expires_wall_ms") - (double)wall, saved = wall;
    int64_t gap = saved > 0 && wall > saved ? wall - saved : 0;
    left -= (double)gap;
    if (left < 1)
        left = 1;   /* expired meanwhile: ends at the first evaluation (0 would mean "never") */
    if (left > CTRL_REMAIN_MAX)
        left = CTRL_REMAIN_MAX;
    return (uint64_t)left;
}

static void ctrl_load_overrides(const cJSON *o)
{
    int64_t wall = loop_wall_ms(), saved = (int64_t)ctrl_jnum(o, "saved_wall_ms");
    uint64_t mono = loop_now_ms();
    const cJSON *x;
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(o, "overrides")) {
        int i = ctrl_index(ctrl_jstr(x, "region"));
        if (i < 0)
            continue;   /* a region that left the config */
        ctrl_override_t *v = &ctl.ov[i];
        v->kind = strcmp(ctrl_jstr(x, "action"), "drain") == 0 ? DECIDE_OV_DRAIN : DECIDE_OV_PIN;
        v->weight = v->kind == DECIDE_OV_PIN ? (int)ctrl_jnum(x, "weight") : 0;
        const cJSON *ex = cJSON_GetObjectItemCaseSensitive(x, "expires");
        bool expires = cJSON_IsBool(ex) ? cJSON_IsTrue(ex) : ctrl_jnum(x, "expires_wall_ms") != 0;
        v->expires_mono_ms = expires ? mono + ctrl_left(x, saved, wall) : 0;
        v->created_wall_ms = (int64_t)ctrl_jnum(x, "created_wall_ms");
        snprintf(v->note, sizeof(v->note), "%s", ctrl_jstr(x, "note"));
        snprintf(v->who, sizeof(v->who), "%s", ctrl_jstr(x, "who"));
    }
}

void ctrl_load(void)
{
    cJSON *o = NULL;
    state_load_t st = state_load_json(CTRL_FILE, ctrl_check, &o);
    if (st == STATE_CORRUPT) {
        /* The numbers handed out before are lost with the file: go on from
         * the wall clock in seconds, past any count of decisions made. */
        ctl.seq = ctl.reserved = (uint64_t)(loop_wall_ms() / 1000);
        return;
    }
    if (st == STATE_MISSING)
        return;
    ctl.seq = (uint64_t)ctrl_jnum(o, "decision_seq");
    if (ctrl_jnum(o, "decision_reserved") > (double)ctl.seq)
        ctl.seq = (uint64_t)ctrl_jnum(o, "decision_reserved");   /* numbers up to here may be in use */
    ctl.reserved = ctl.seq;
    const cJSON *fr = cJSON_GetObjectItemCaseSensitive(o, "frozen");
    if (fr)   /* the operator's last word wins over decision.freeze, as before */
        ctl.frozen = cJSON_IsTrue(fr);
    snprintf(ctl.freeze_note, sizeof(ctl.freeze_note), "%s", ctrl_jstr(o, "freeze_note"));
    snprintf(ctl.freeze_who, sizeof(ctl.freeze_who), "%s", ctrl_jstr(o, "freeze_who"));
    ctrl_load_overrides(o);
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
