/* backup_state — what the backup schedules remember across restarts
 * (state_dir/backups.json) and the names they give their backups.
 *
 * Each schedule@region records the ARN and exact name of every backup it
 * created; retention only ever considers those.  State from before
 * per-schedule records (one global "ours" list) is adopted only by an exact
 * match: a schedule takes an old ARN when it is the one it recorded as its
 * last backup, under that very name; the other old ARNs are kept as
 * "legacy" and never deleted.  Records of schedules missing from the
 * current config are written back unchanged, for when they return. */
#include "backup/backup.h"
#include "backup/backup_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/state.h"

/* ---- records ---- */

const bk_rec_t *bk_rec_find(const bk_job_t *j, const char *arn)
{
    for (size_t i = 0; i < j->nrecs; i++)
        if (strcmp(j->recs[i].arn, arn) == 0)
            return &j->recs[i];
    return NULL;
}

static int bk_rec_push(bk_job_t *j, const char *arn, const char *name, bool adopted)
{
    if (bk_rec_find(j, arn))
        return 0;
    if (j->nrecs >= BK_MAXRECS)
        return -1;
    bk_rec_t *n = realloc(j->recs, (j->nrecs + 1) * sizeof(*n));
    if (!n)
        return -1;
    j->recs = n;
    char *a = strdup(arn), *m = strdup(name);
    if (!a || !m) {
        free(a);
        free(m);
        return -1;
    }
    j->recs[j->nrecs++] = (bk_rec_t){a, m, adopted};
    return 0;
}

int bk_rec_add(bk_job_t *j, const char *arn, const char *name)
{
    return bk_rec_push(j, arn, name, false);
}

void bk_rec_drop(bk_job_t *j, const char *arn)
{
    for (size_t i = 0; i < j->nrecs; i++)
        if (strcmp(j->recs[i].arn, arn) == 0) {
            free(j->recs[i].arn);
            free(j->recs[i].name);
            j->recs[i] = j->recs[--j->nrecs];
            return;
        }
}

void bk_recs_free(bk_job_t *j)
{
    for (size_t i = 0; i < j->nrecs; i++)
        free(j->recs[i].arn), free(j->recs[i].name);
    free(j->recs);
    j->recs = NULL;
    j->nrecs = 0;
}

/* ---- persistence ---- */

static cJSON *bk_job_json(const bk_job_t *j)
{
    cJSON *x = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(x, "backups");
    if (!x || !a) {
        cJSON_Delete(x);
        return NULL;
    }
    cJSON_AddNumberToObject(x, "last_run_s", (double)j->last_run_s);
    cJSON_AddStringToObject(x, "last_result", j->last_result);
    cJSON_AddStringToObject(x, "last_name", j->last_name);
    cJSON_AddStringToObject(x, "last_arn", j->last_arn);
    cJSON_AddStringToObject(x, "pending", j->pending);
    cJSON_AddNumberToObject(x, "pending_s", (double)j->pending_s);
    for (size_t i = 0; i < j->nrecs; i++) {
        cJSON *r = cJSON_CreateObject();
        if (!r || !cJSON_AddItemToArray(a, r)) {
            cJSON_Delete(r);
            cJSON_Delete(x);
            return NULL;
        }
        cJSON_AddStringToObject(r, "arn", j->recs[i].arn);
        cJSON_AddStringToObject(r, "name", j->recs[i].name);
        if (j->recs[i].adopted)
            cJSON_AddBoolToObject(r, "adopted", 1);
    }
    return x;
}

/* The records as they are now: NULL when out of memory (logged). */
cJSON *bk_doc(void)
{
    cJSON *o = cJSON_CreateObject(), *jobs = cJSON_AddObjectToObject(o, "jobs");
    cJSON *legacy = cJSON_AddArrayToObject(o, "legacy");
    bool ok = o && jobs && legacy;
    for (size_t i = 0; ok && i < bks.n; i++) {
        cJSON *x = bk_job_json(&bks.jobs[i]);
        ok = x && cJSON_AddItemToObject(jobs, bks.jobs[i].key, x);
        if (!ok)
            cJSON_Delete(x);
    }
    const cJSON *orphan;
    cJSON_ArrayForEach(orphan, bks.orphans) {
        cJSON *c = ok ? cJSON_Duplicate(orphan, 1) : NULL;
        ok = c && cJSON_AddItemToObject(jobs, orphan->string, c);
        if (!ok)
            cJSON_Delete(c);
    }
    for (size_t i = 0; ok && i < bks.nlegacy; i++)
        ok = cJSON_AddItemToArray(legacy, cJSON_CreateString(bks.legacy[i]));
    if (!ok) {
        cJSON_Delete(o);
        log_msg(LOG_ERR, "msg=\"backup records not saved\" file=%s reason=\"out of memory\"", BK_FILE);
        return NULL;
    }
    return o;
}

/* Write doc (not freed) through the writer thread; with then, called back
 * once durable or failed.  0 or -1 (out of memory: then not called). */
int bk_save_doc(const cJSON *doc, state_done_fn then, void *arg)
{
    int rc = state_write_json(BK_FILE, doc, STATE_JSON_PRETTY, then, arg);   /* indented: read by people */
    if (rc == STATE_NOMEM && doc)
        log_msg(LOG_ERR, "msg=\"backup records not saved\" file=%s reason=\"out of memory\"", BK_FILE);
    return rc == 0 ? 0 : -1;
}

/* Never waits: a failure is logged and raises the state-write alarm. */
void bk_save(void)
{
    cJSON *o = bk_doc();
    bk_save_doc(o, NULL, NULL);
    cJSON_Delete(o);
    bk_records_changed();   /* replicated too, while leading (backup_set_changed) */
}

static void bk_str(const cJSON *o, const char *k, char *out, size_t len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsString(v))
        snprintf(out, len, "%s", v->valuestring);
}

static void bk_load_job(bk_job_t *j, const cJSON *x)
{
    const cJSON *lr = cJSON_GetObjectItemCaseSensitive(x, "last_run_s");
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(x, "pending_s");
    if (cJSON_IsNumber(lr) && lr->valuedouble >= 0 && lr->valuedouble < 253402300800.0)
        j->last_run_s = (int64_t)lr->valuedouble;
    if (cJSON_IsNumber(ps) && ps->valuedouble >= 0 && ps->valuedouble < 253402300800.0)
        j->pending_s = (int64_t)ps->valuedouble;
    bk_str(x, "last_result", j->last_result, sizeof(j->last_result));
    bk_str(x, "last_name", j->last_name, sizeof(j->last_name));
    bk_str(x, "last_arn", j->last_arn, sizeof(j->last_arn));
    bk_str(x, "pending", j->pending, sizeof(j->pending));
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(x, "backups")) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(r, "arn"), *n = cJSON_GetObjectItemCaseSensitive(r, "name");
        if (cJSON_IsString(a) && cJSON_IsString(n) && a->valuestring[0] && n->valuestring[0])
            bk_rec_push(j, a->valuestring, n->valuestring, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "adopted")));
    }
}

static void bk_add_legacy(const char *arn)
{
    for (size_t i = 0; i < bks.nlegacy; i++)
        if (strcmp(bks.legacy[i], arn) == 0)
            return;
    for (size_t i = 0; i < bks.n; i++)
        if (bk_rec_find(&bks.jobs[i], arn))
            return;
    char *c = bks.nlegacy < BK_MAXLEGACY ? strdup(arn) : NULL;
    if (c)
        bks.legacy[bks.nlegacy++] = c;
}

/* The old global "ours" list: a schedule adopts only its own last backup, under its exact name. */
static void bk_adopt_old(const cJSON *ours)
{
    const cJSON *x;
    for (size_t i = 0; i < bks.n; i++) {
        bk_job_t *j = &bks.jobs[i];
        cJSON_ArrayForEach(x, ours)
            if (cJSON_IsString(x) && j->last_arn[0] && j->last_name[0] && strcmp(x->valuestring, j->last_arn) == 0)
                bk_rec_push(j, j->last_arn, j->last_name, true);
    }
    cJSON_ArrayForEach(x, ours)
        if (cJSON_IsString(x))
            bk_add_legacy(x->valuestring);
}

static bool bk_arn_list_ok(const cJSON *a)
{
    const cJSON *x;
    if (a && !cJSON_IsArray(a))
        return false;
    cJSON_ArrayForEach(x, a)
        if (!cJSON_IsString(x) || strlen(x->valuestring) > 2048)
            return false;
    return true;
}

/* One job's members, types and ranges (times up to 9999-12-31). */
static int bk_check_job(const cJSON *x, char *why, size_t len)
{
    static const char *const times[] = {"last_run_s", "pending_s"};
    if (!cJSON_IsObject(x)) {
        snprintf(why, len, "jobs.%.60s: expected an object", x->string);
        return -1;
    }
    for (size_t k = 0; k < 2; k++) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(x, times[k]);
        if (t && !state_int_in(t, 0, 253402300799.0)) {
            snprintf(why, len, "jobs.%.60s.%s: expected a time in seconds 0..253402300799", x->string, times[k]);
            return -1;
        }
    }
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(x, "backups"), *r;
    if (b && !cJSON_IsArray(b)) {
        snprintf(why, len, "jobs.%.60s.backups: expected an array", x->string);
        return -1;
    }
    cJSON_ArrayForEach(r, b)
        if (!cJSON_IsObject(r)) {
            snprintf(why, len, "jobs.%.60s.backups: expected objects {arn, name}", x->string);
            return -1;
        }
    return 0;
}

/* backups.json's members, types and ranges: a crafted number never reaches
 * the schedule or the status view. */
static int bk_check(const cJSON *o, char *why, size_t len)
{
    if (!cJSON_IsObject(o)) {
        snprintf(why, len, "expected an object");
        return -1;
    }
    if (!bk_arn_list_ok(cJSON_GetObjectItemCaseSensitive(o, "ours")) ||
        !bk_arn_list_ok(cJSON_GetObjectItemCaseSensitive(o, "legacy"))) {
        snprintf(why, len, "ours, legacy: expected arrays of backup ARNs");
        return -1;
    }
    const cJSON *jobs = cJSON_GetObjectItemCaseSensitive(o, "jobs"), *x;
    if (jobs && !cJSON_IsObject(jobs)) {
        snprintf(why, len, "jobs: expected an object");
        return -1;
    }
    cJSON_ArrayForEach(x, jobs)
        if (bk_check_job(x, why, len) != 0)
            return -1;
    return 0;
}

void bk_load(const cJSON *mem)
{
    cJSON *o = NULL;
    if (mem) {   /* a reload: the records as they were in memory (the file may still be queued) */
        if (!(o = cJSON_Duplicate(mem, 1)))
            log_msg(LOG_ERR, "msg=\"backup records lost on reload\" reason=\"out of memory\"");
        if (!o)
            return;
    } else if (state_load_json(BK_FILE, bk_check, &o) != STATE_LOADED) {   /* corrupt: moved aside, alarm, safe mode */
        cJSON_Delete(o);
        return;
    }
    cJSON *jobs = cJSON_GetObjectItemCaseSensitive(o, "jobs");
    for (size_t i = 0; i < bks.n; i++)
        bk_load_job(&bks.jobs[i], cJSON_GetObjectItemCaseSensitive(jobs, bks.jobs[i].key));
    const cJSON *x;
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(o, "legacy"))
        if (cJSON_IsString(x))
            bk_add_legacy(x->valuestring);
    bk_adopt_old(cJSON_GetObjectItemCaseSensitive(o, "ours"));
    cJSON_Delete(bks.orphans);
    bks.orphans = cJSON_CreateObject();
    cJSON *j;
    cJSON_ArrayForEach(j, jobs) {
        bool configured = false;
        for (size_t i = 0; i < bks.n; i++)
            configured |= strcmp(j->string, bks.jobs[i].key) == 0;
        if (!configured && cJSON_IsObject(j) && bks.orphans)
            cJSON_AddItemToObject(bks.orphans, j->string, cJSON_Duplicate(j, 1));
    }
    cJSON_Delete(o);
}

void bk_state_free(void)
{
    for (size_t i = 0; i < bks.nlegacy; i++)
        free(bks.legacy[i]);
    bks.nlegacy = 0;
    cJSON_Delete(bks.orphans);
    bks.orphans = NULL;
}

/* ---- names ---- */

static size_t bk_put(char *out, size_t o, size_t len, const char *s)
{
    int n = snprintf(out + o, len - o, "%s", s);
    return n < 0 || (size_t)n >= len - o ? len - 1 : o + (size_t)n;
}

void bk_name(const bk_job_t *j, int64_t now_s, bool prefix_only, char *out, size_t len)
{
    const char *t = j->s->name_template;
    size_t o = 0;
    out[0] = '\0';
    while (*t && o + 1 < len) {
        if (strncmp(t, "{table}", 7) == 0) {
            o = bk_put(out, o, len, j->s->table);
            t += 7;
        } else if (strncmp(t, "{region}", 8) == 0) {
            o = bk_put(out, o, len, bks.cfg->regions[j->region].name);
            t += 8;
        } else if (strncmp(t, "{schedule}", 10) == 0) {
            o = bk_put(out, o, len, j->s->id);
            t += 10;
            if (prefix_only && *t == '.') {
                o = bk_put(out, o, len, ".");
                break;
            }
        } else if (strncmp(t, "{utc:", 5) == 0 && strchr(t, '}')) {
            char fmt[64], buf[64];
            const char *end = strchr(t, '}');
            snprintf(fmt, sizeof(fmt), "%.*s", (int)(end - t - 5), t + 5);
            time_t now = (time_t)now_s;
            struct tm tm;
            gmtime_r(&now, &tm);
            if (strftime(buf, sizeof(buf), fmt, &tm) == 0)
                buf[0] = '\0';
            o = bk_put(out, o, len, buf);
            t = end + 1;
        } else {
            out[o++] = *t++;
            out[o] = '\0';
        }
    }
    /* DynamoDB backup names: 3-255 of [a-zA-Z0-9_.-]. */
    for (char *p = out; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '.' || *p == '-'))
            *p = '-';
}
