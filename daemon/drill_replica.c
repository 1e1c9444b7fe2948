/* drill_replica — active drills in the replicated controller state
 * (docs/ha.md, "Replicated controller state"; drill.h).
 *
 * The "drills" member: {"next_id": N, "active": [a drill's file without its
 * timeline, ...]} (every active drill, with its time left as remaining_ms;
 * dry runs and finished drills stay local).  A new leader that takes a
 * newer state resumes each of its drills with the time left as written
 * (wall clocks of two hosts are never compared: a drill resumed ends at most
 * the time between the last leader's last write and the takeover late, never
 * early), ends locally every active drill of its own that is not in it (the
 * last leader ended it), and numbers its next drills above next_id.  A drain
 * drill's drain is the override it set, replicated with the overrides; so
 * the resumed drill ends it (and restores) when its time is up. */
#include "daemon/drill.h"
#include "daemon/drill_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/loop.h"
#include "core/state.h"
#include "daemon/leader.h"
#include "daemon/targets.h"

#define DRR_ID_MAX 4503599627370496.0   /* 2^52 */

cJSON *drill_replica_json(void)
{
    cJSON *o = cJSON_CreateObject(), *a = o ? cJSON_AddArrayToObject(o, "active") : NULL;
    if (!a) {
        cJSON_Delete(o);
        return NULL;
    }
    cJSON_AddNumberToObject(o, "next_id", (double)(DR.next_id ? DR.next_id : 1));
    for (size_t i = 0; i < DR.n; i++) {
        if (DR.d[i].state != DR_ACTIVE || DR.d[i].dry_run)
            continue;
        static drill_t copy;   /* large: not on the stack */
        copy = DR.d[i];
        copy.timeline = NULL;
        cJSON *x = dr_doc(&copy);
        if (!x) {
            cJSON_Delete(o);
            return NULL;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(x, "starting");   /* resumed as running either way */
        cJSON_AddItemToArray(a, x);
    }
    return o;
}

int drill_replica_check(const cJSON *o, char *why, size_t len)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "active");
    char sub[200] = "";
    if (!cJSON_IsObject(o) || !state_int_in(cJSON_GetObjectItemCaseSensitive(o, "next_id"), 1, DRR_ID_MAX) ||
        !cJSON_IsArray(a) || cJSON_GetArraySize(a) > DR_MAX) {
        snprintf(why, len, "drills: expected {\"next_id\": 1..2^52, \"active\": [at most %d drills]}", DR_MAX);
        return -1;
    }
    int i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, a) {
        if (dr_check(x, sub, sizeof(sub)) == -1 || state_get_num(x, "state") != DR_ACTIVE ||
            cJSON_GetObjectItemCaseSensitive(x, "timeline")) {
            snprintf(why, len, "drills.active[%d]: %s", i, sub[0] ? sub : "expected an active drill, no timeline");
            return -1;
        }
        i++;
    }
    return 0;
}

static drill_t *drr_find(uint64_t id)
{
    for (size_t i = 0; i < DR.n; i++)
        if (DR.d[i].id == id)
            return &DR.d[i];
    return NULL;
}

static const cJSON *drr_in(const cJSON *a, const drill_t *d)
{
    const cJSON *x;
    cJSON_ArrayForEach(x, a)
        if ((uint64_t)state_get_num(x, "id") == d->id)
            return x;
    return NULL;
}

static void drr_remove(drill_t *d)
{
    size_t k = (size_t)(d - DR.d);
    cJSON_Delete(d->timeline);
    dr_forget_file(d->id);
    memmove(&DR.d[k], &DR.d[k + 1], (DR.n - k - 1) * sizeof(DR.d[0]));
    DR.n--;
}

/* A slot for drill x: ours when it is the same drill (same start and
 * region), else a new one (a drill of ours with its number, another drill,
 * is forgotten; when the table is full, the oldest finished one).  NULL
 * when every slot holds an active drill. */
static drill_t *drr_slot(const cJSON *x)
{
    drill_t *d = drr_find((uint64_t)state_get_num(x, "id"));
    if (d && d->start_wall_ms == (int64_t)state_get_num(x, "start_wall_ms") &&
        strcmp(d->region, state_get_str(x, "region")) == 0)
        return d;
    if (d) {
        log_msg(LOG_WARNING, "msg=\"drill of this instance forgotten: the leader's drill has its number\" drill=%"
                PRIu64, d->id);
        drr_remove(d);
    }
    for (size_t k = 0; DR.n == DR_MAX && k < DR.n; k++)
        if (DR.d[k].state != DR_ACTIVE)
            drr_remove(&DR.d[k]);
    if (DR.n == DR_MAX)
        return NULL;
    d = &DR.d[DR.n++];
    memset(d, 0, sizeof(*d));
    d->timeline = cJSON_CreateArray();
    d->id = (uint64_t)state_get_num(x, "id");
    return d;
}

static void drr_resume(const cJSON *x, uint64_t epoch)
{
    drill_t *d = drr_slot(x);
    if (!d || !d->timeline) {
        log_msg(LOG_ERR, "msg=\"replicated drill not resumed: no room (or out of memory)\" drill=%.0f",
                state_get_num(x, "id"));
        if (d && !d->timeline)
            DR.n--;
        return;
    }
    snprintf(d->region, sizeof(d->region), "%s", state_get_str(x, "region"));
    snprintf(d->note, sizeof(d->note), "%s", state_get_str(x, "note"));
    snprintf(d->who, sizeof(d->who), "%s", state_get_str(x, "who"));
    d->fail = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(x, "fail"));
    d->dry_run = false;
    d->state = DR_ACTIVE;
    d->starting = d->ending = false;
    d->retry_mono_ms = 0;
    d->backoff_ms = 0;
    d->start_wall_ms = (int64_t)state_get_num(x, "start_wall_ms");
    d->end_wall_ms = 0;
    d->duration_s = (uint32_t)state_get_num(x, "duration_s");
    uint64_t left = (uint64_t)state_get_num(x, "remaining_ms");
    d->expires_mono_ms = loop_now_ms() + left;
    char msg[200];
    snprintf(msg, sizeof(msg), "this instance became the leader (epoch %" PRIu64 ") and resumed the drill from "
             "the replicated state: %" PRIu64 " s left as last written", epoch, (left + 999) / 1000);
    dr_note(d, "takeover", msg);
    int ri = targets_region_index(d->region);
    if (d->fail && ri >= 0)
        targets_set_drill_fail((size_t)ri, true);
    dr_save(d);
    log_msg(LOG_NOTICE, "msg=\"drill resumed after takeover\" drill=%" PRIu64 " region=%s remaining_ms=%" PRIu64,
            d->id, d->region, left);
}

static int drr_cmp(const void *a, const void *b)
{
    const drill_t *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

void drill_replica_take(const cJSON *o, uint64_t epoch)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "active"), *x;
    for (size_t i = 0; i < DR.n; i++) {   /* ours, ended by the last leader */
        drill_t *d = &DR.d[i];
        if (d->state != DR_ACTIVE || d->dry_run || d->starting || d->ending || drr_in(a, d))
            continue;
        int ri = targets_region_index(d->region);
        if (d->fail && ri >= 0)
            targets_set_drill_fail((size_t)ri, false);
        d->state = DR_STOPPED;
        d->end_wall_ms = loop_wall_ms();
        dr_note(d, "takeover", "not in the replicated state this instance took over as leader: the last "
                               "leader ended it");
        dr_save(d);
    }
    cJSON_ArrayForEach(x, a)
        drr_resume(x, epoch);
    qsort(DR.d, DR.n, sizeof(DR.d[0]), drr_cmp);
    uint64_t next = (uint64_t)state_get_num(o, "next_id");
    if (next > DR.next_id)
        DR.next_id = next;
}

size_t drill_fail_active(uint64_t *ids, char (*regions)[65], size_t max)
{
    size_t n = 0;
    if (!leader_drills_act())   /* deposed, or not yet through its takeover: its own drills do not act */
        return 0;
    for (size_t i = 0; i < DR.n && n < max; i++) {
        const drill_t *d = &DR.d[i];
        if (d->state != DR_ACTIVE || !d->fail || d->dry_run || d->starting || d->ending)
            continue;
        ids[n] = d->id;
        snprintf(regions[n], 65, "%s", d->region);
        n++;
    }
    return n;
}

uint64_t drill_fail_id(const char *region)
{
    for (size_t i = 0; i < DR.n; i++) {
        const drill_t *d = &DR.d[i];
        if (d->state == DR_ACTIVE && d->fail && !d->dry_run && strcmp(d->region, region) == 0)
            return d->id;
    }
    return 0;
}

void drill_resume_acting(void)
{
    uint64_t ids[DR_MAX];
    char regions[DR_MAX][65];
    size_t n = drill_fail_active(ids, regions, DR_MAX);   /* none while this instance's drills do not act */
    for (size_t i = 0; i < n; i++) {
        int ri = targets_region_index(regions[i]);
        if (ri >= 0)
            targets_drill_resume((size_t)ri);
    }
}
