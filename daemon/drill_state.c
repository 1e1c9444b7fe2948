/* drill_state — drills on disk: one small file per drill
 * (state_dir/drill-ID.json), bounded (DR_MAX drills, DR_TIMELINE entries of
 * at most DR_TEXT_MAX bytes each), written through the state writer thread;
 * when a drill starts the API answers only once it is durable (a callback,
 * the loop never waits).
 * Expiry is saved as the time left plus the wall time of the save: after a
 * restart the time left shrinks by the wall-clock gap, never grows. */
#include "daemon/drill_int.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/loop.h"
#include "core/state.h"
#include "daemon/targets.h"

#define DR_OLD_FILE "drills.json"          /* an older regiond kept every drill in one file */
#define DR_ID_MAX 4503599627370496.0       /* 2^52 */
#define DR_WALL_MAX 253402300799999.0      /* 9999-12-31 in ms */
#define DR_REMAIN_MAX (7.0 * 86400 * 1000)

cJSON *dr_doc(const drill_t *d)
{
    cJSON *x = cJSON_CreateObject();
    if (!x)
        return NULL;
    uint64_t now = loop_now_ms();
    cJSON_AddNumberToObject(x, "id", (double)d->id);
    cJSON_AddStringToObject(x, "region", d->region);
    cJSON_AddBoolToObject(x, "fail", d->fail);
    cJSON_AddBoolToObject(x, "dry_run", d->dry_run);
    cJSON_AddStringToObject(x, "note", d->note);
    cJSON_AddStringToObject(x, "who", d->who);
    cJSON_AddNumberToObject(x, "state", d->state);
    cJSON_AddBoolToObject(x, "starting", d->starting);   /* its override not yet durable */
    cJSON_AddNumberToObject(x, "start_wall_ms", (double)d->start_wall_ms);
    cJSON_AddNumberToObject(x, "end_wall_ms", (double)d->end_wall_ms);
    cJSON_AddNumberToObject(x, "saved_wall_ms", (double)loop_wall_ms());
    cJSON_AddNumberToObject(x, "remaining_ms",
                            d->state == DR_ACTIVE && d->expires_mono_ms > now ? (double)(d->expires_mono_ms - now) : 0);
    cJSON_AddNumberToObject(x, "duration_s", d->duration_s);
    cJSON_AddStringToObject(x, "result", d->result);
    if (d->timeline)   /* NULL: the replicated copy, without its timeline */
        cJSON_AddItemToObject(x, "timeline", cJSON_Duplicate(d->timeline, 1));
    return x;
}

/* drill-<id>.json as d is now: with then, called back once durable or
 * failed; without, queued.  0 or -1 (out of memory: then not called). */
static int dr_persist(const drill_t *d, state_done_fn then, void *arg)
{
    char name[64];
    snprintf(name, sizeof(name), "drill-%" PRIu64 ".json", d->id);
    cJSON *x = dr_doc(d);
    int rc = state_write_json(name, x, STATE_JSON_COMPACT, then, arg);
    cJSON_Delete(x);
    if (rc == STATE_NOMEM)
        log_msg(LOG_ERR, "msg=\"drill not saved\" drill=%" PRIu64 " error=\"out of memory\"", d->id);
    return rc == 0 ? 0 : -1;
}

int dr_save_then(const drill_t *d, state_done_fn then, void *arg)
{
    return dr_persist(d, then, arg);
}

int dr_save(const drill_t *d)
{
    return dr_persist(d, NULL, NULL);
}

void dr_forget_file(uint64_t id)
{
    char name[64];
    snprintf(name, sizeof(name), "drill-%" PRIu64 ".json", id);
    state_remove_async(name);
}

/* One drill's members: types and ranges. */
int dr_check(const cJSON *x, char *why, size_t len)
{
    const cJSON *tl = cJSON_GetObjectItemCaseSensitive(x, "timeline");
    const char *bad = !state_int_in(cJSON_GetObjectItemCaseSensitive(x, "id"), 1, DR_ID_MAX)
          ? "id: expected an integer 1..2^52"
        : !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(x, "region")) || !state_opt_str(x, "region", 65)
          ? "region: expected a region name"
        : !state_int_in(cJSON_GetObjectItemCaseSensitive(x, "state"), 0, DR_NSTATES - 1)
          ? "state: expected an integer 0..3"
        : !state_opt_int(x, "start_wall_ms", 0, DR_WALL_MAX) || !state_opt_int(x, "end_wall_ms", 0, DR_WALL_MAX) ||
          !state_opt_int(x, "saved_wall_ms", 0, DR_WALL_MAX) || !state_opt_int(x, "expires_wall_ms", 0, DR_WALL_MAX)
          ? "start_wall_ms, end_wall_ms, saved_wall_ms: expected times in ms"
        : !state_opt_int(x, "remaining_ms", 0, DR_REMAIN_MAX) ? "remaining_ms: expected an integer 0..7 days"
        : !state_opt_int(x, "duration_s", 0, 604800) ? "duration_s: expected an integer 0..604800"
        : !state_opt_str(x, "note", 200) || !state_opt_str(x, "who", 65) || !state_opt_str(x, "result", 600)
          ? "note, who, result: expected short strings"
        : tl && (!cJSON_IsArray(tl) || cJSON_GetArraySize(tl) > DR_TIMELINE)
          ? "timeline: expected an array of at most 400 entries" : NULL;
    if (bad)
        snprintf(why, len, "%s", bad);
    return bad ? -1 : 0;
}

/* Time left of an active drill after a restart: bounded by what was left. */
static uint64_t dr_left(const cJSON *x, int64_t saved)
{
    int64_t wall = loop_wall_ms();
    double left = cJSON_GetObjectItemCaseSensitive(x, "remaining_ms")
                      ? state_get_num(x, "remaining_ms") : state_get_num(x, "expires_wall_ms") - (double)wall;
    if (!cJSON_GetObjectItemCaseSensitive(x, "remaining_ms"))
        saved = wall;
    if (saved > 0 && wall > saved)
        left -= (double)(wall - saved);
    return left < 0 ? 0 : left > DR_REMAIN_MAX ? (uint64_t)DR_REMAIN_MAX : (uint64_t)left;
}

static void dr_add(const cJSON *x, int64_t saved)
{
    if (DR.n == DR_MAX)
        return;
    drill_t *d = &DR.d[DR.n];
    memset(d, 0, sizeof(*d));
    d->id = (uint64_t)state_get_num(x, "id");
    snprintf(d->region, sizeof(d->region), "%s", state_get_str(x, "region"));
    snprintf(d->note, sizeof(d->note), "%s", state_get_str(x, "note"));
    snprintf(d->who, sizeof(d->who), "%s", state_get_str(x, "who"));
    snprintf(d->result, sizeof(d->result), "%s", state_get_str(x, "result"));
    d->fail = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(x, "fail"));
    d->dry_run = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(x, "dry_run"));
    d->state = (dr_state_t)state_get_num(x, "state");
    d->start_wall_ms = (int64_t)state_get_num(x, "start_wall_ms");
    d->end_wall_ms = (int64_t)state_get_num(x, "end_wall_ms");
    d->duration_s = (uint32_t)state_get_num(x, "duration_s");
    if (cJSON_GetObjectItemCaseSensitive(x, "saved_wall_ms"))
        saved = (int64_t)state_get_num(x, "saved_wall_ms");
    d->expires_mono_ms = loop_now_ms() + dr_left(x, saved);
    const cJSON *tl = cJSON_GetObjectItemCaseSensitive(x, "timeline");
    d->timeline = cJSON_IsArray(tl) ? cJSON_Duplicate(tl, 1) : cJSON_CreateArray();
    DR.n++;
    if (DR.next_id <= d->id)
        DR.next_id = d->id + 1;
    if (d->state == DR_ACTIVE && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(x, "starting"))) {
        d->state = DR_STOPPED;   /* its override may never have been written: never resumed as active */
        d->end_wall_ms = saved ? saved : d->start_wall_ms;
        dr_note(d, "refused", "regiond stopped before the drill started: not resumed");
    }
    if (d->state == DR_ACTIVE) {
        char gap[200], t1[40], t2[40];
        snprintf(gap, sizeof(gap), "regiond was not running from %s to %s: no events in between",
                 loop_fmt_wall(saved ? saved : d->start_wall_ms, t1, sizeof(t1)),
                 loop_fmt_wall(loop_wall_ms(), t2, sizeof(t2)));
        dr_note(d, "gap", gap);
        int ri = targets_region_index(d->region);
        if (d->fail && ri >= 0)
            targets_set_drill_fail((size_t)ri, true);   /* a drain survives in the controller's overrides */
    }
}

static bool dr_find_loaded(uint64_t id)
{
    for (size_t i = 0; i < DR.n; i++)
        if (DR.d[i].id == id)
            return true;
    return false;
}

static int dr_cmp(const void *a, const void *b)
{
    const drill_t *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* drills.json of an older regiond: taken over, then written as one file
 * per drill and removed. */
static void dr_load_old(void)
{
    cJSON *o = NULL;
    if (state_load_json(DR_OLD_FILE, NULL, &o) != STATE_LOADED)
        return;
    int64_t saved = (int64_t)state_get_num(o, "saved_wall_ms");
    const cJSON *x;
    char why[200];
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(o, "drills"))
        if (dr_check(x, why, sizeof(why)) == 0)
            dr_add(x, saved);
    if (state_int_in(cJSON_GetObjectItemCaseSensitive(o, "next_id"), 1, DR_ID_MAX) &&
        state_get_num(o, "next_id") > (double)DR.next_id)
        DR.next_id = (uint64_t)state_get_num(o, "next_id");
    cJSON_Delete(o);
    for (size_t i = 0; i < DR.n; i++)
        dr_save(&DR.d[i]);
    state_remove_async(DR_OLD_FILE);
}

void dr_load(void)
{
    DR.next_id = 1;
    dr_load_old();
    DIR *dir = opendir(state_dir());
    if (!dir)
        return;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        uint64_t id;
        char tail[8];
        if (sscanf(e->d_name, "drill-%" SCNu64 ".%7s", &id, tail) != 2 || strcmp(tail, "json") != 0 ||
            strchr(e->d_name, '+') || strchr(e->d_name, '-') != strrchr(e->d_name, '-'))
            continue;
        if (dr_find_loaded(id))
            continue;
        cJSON *o = NULL;
        if (state_load_json(e->d_name, dr_check, &o) == STATE_LOADED) {
            if ((uint64_t)state_get_num(o, "id") == id)
                dr_add(o, 0);
            else
                state_corrupt(e->d_name, "id: not the number in the file's name");
        }
        cJSON_Delete(o);
    }
    closedir(dir);
    qsort(DR.d, DR.n, sizeof(DR.d[0]), dr_cmp);
}
