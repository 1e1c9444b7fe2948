/* backup — see backup.h.  DynamoDB API reference: CreateBackup (BackupName
 * 3-255 of [a-zA-Z0-9_.-]), DescribeBackup, ListBackups (BackupType USER,
 * ExclusiveStartBackupArn / LastEvaluatedBackupArn), DeleteBackup. */
#include "backup.h"
#include "backup_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "alarm.h"
#include "cron.h"
#include "ddb.h"
#include "feed.h"
#include "log.h"
#include "loop.h"
#include "retention.h"
#include "state.h"

bks_t bks;

static void bk_run(bk_job_t *j, const char *why);
static void bk_list(bk_job_t *j, const char *start);

/* ---- persistence ---- */

static void bk_save(void)
{
    cJSON *o = cJSON_CreateObject(), *jobs = cJSON_AddObjectToObject(o, "jobs");
    cJSON *ours = cJSON_AddArrayToObject(o, "ours");
    if (!o || !jobs || !ours) {
        cJSON_Delete(o);
        return;
    }
    for (size_t i = 0; i < bks.n; i++) {
        cJSON *x = cJSON_AddObjectToObject(jobs, bks.jobs[i].key);
        if (!x)
            continue;
        cJSON_AddNumberToObject(x, "last_run_s", (double)bks.jobs[i].last_run_s);
        cJSON_AddStringToObject(x, "last_result", bks.jobs[i].last_result);
        cJSON_AddStringToObject(x, "last_name", bks.jobs[i].last_name);
        cJSON_AddStringToObject(x, "last_arn", bks.jobs[i].last_arn);
    }
    for (size_t i = 0; i < bks.nours; i++)
        cJSON_AddItemToArray(ours, cJSON_CreateString(bks.ours[i]));
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    if (s)
        state_write(BK_FILE, s, strlen(s));
    free(s);
}

static bool bk_is_ours(const char *arn)
{
    for (size_t i = 0; i < bks.nours; i++)
        if (strcmp(bks.ours[i], arn) == 0)
            return true;
    return false;
}

static void bk_add_ours(const char *arn)
{
    if (bk_is_ours(arn) || bks.nours == BK_MAXOURS)
        return;
    char *c = strdup(arn);
    if (c)
        bks.ours[bks.nours++] = c;
}

static void bk_drop_ours(const char *arn)
{
    for (size_t i = 0; i < bks.nours; i++)
        if (strcmp(bks.ours[i], arn) == 0) {
            free(bks.ours[i]);
            bks.ours[i] = bks.ours[--bks.nours];
            return;
        }
}

/* backups.json's members, types and ranges: a crafted number never reaches
 * the schedule or the status view (issue 14). */
static int bk_check(const cJSON *o, char *why, size_t len)
{
    const cJSON *ours = cJSON_GetObjectItemCaseSensitive(o, "ours");
    const cJSON *jobs = cJSON_GetObjectItemCaseSensitive(o, "jobs");
    const cJSON *x;
    if (ours && !cJSON_IsArray(ours)) {
        snprintf(why, len, "ours: expected an array of backup ARNs");
        return -1;
    }
    cJSON_ArrayForEach(x, ours)
        if (!cJSON_IsString(x) || strlen(x->valuestring) > 2048) {
            snprintf(why, len, "ours: expected an array of backup ARNs");
            return -1;
        }
    if (jobs && !cJSON_IsObject(jobs)) {
        snprintf(why, len, "jobs: expected an object");
        return -1;
    }
    cJSON_ArrayForEach(x, jobs) {
        const cJSON *lr = cJSON_GetObjectItemCaseSensitive(x, "last_run_s");
        if (!cJSON_IsObject(x) || (lr && !state_int_in(lr, 0, 253402300799.0))) {   /* up to 9999-12-31 */
            snprintf(why, len, "jobs.%.60s.last_run_s: expected a time in seconds 0..253402300799", x->string);
            return -1;
        }
    }
    return 0;
}

static void bk_load(void)
{
    cJSON *o = NULL;
    state_load_json(BK_FILE, bk_check, &o);   /* corrupt: moved aside, alarm, safe mode */
    const cJSON *x;
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(o, "ours"))
        if (cJSON_IsString(x))
            bk_add_ours(x->valuestring);
    const cJSON *jobs = cJSON_GetObjectItemCaseSensitive(o, "jobs");
    for (size_t i = 0; i < bks.n; i++) {
        const cJSON *j = cJSON_GetObjectItemCaseSensitive(jobs, bks.jobs[i].key);
        const cJSON *lr = cJSON_GetObjectItemCaseSensitive(j, "last_run_s");
        const cJSON *res = cJSON_GetObjectItemCaseSensitive(j, "last_result");
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(j, "last_name");
        const cJSON *arn = cJSON_GetObjectItemCaseSensitive(j, "last_arn");
        if (cJSON_IsNumber(lr))
            bks.jobs[i].last_run_s = (int64_t)lr->valuedouble;
        if (cJSON_IsString(res))
            snprintf(bks.jobs[i].last_result, sizeof(bks.jobs[i].last_result), "%s", res->valuestring);
        if (cJSON_IsString(nm))
            snprintf(bks.jobs[i].last_name, sizeof(bks.jobs[i].last_name), "%s", nm->valuestring);
        if (cJSON_IsString(arn))
            snprintf(bks.jobs[i].last_arn, sizeof(bks.jobs[i].last_arn), "%s", arn->valuestring);
    }
    cJSON_Delete(o);
}

/* ---- names ---- */

/* Expand the template: {table}, {region}, {schedule}, {utc:FMT}.  With
 * prefix_only, stop at the first {utc:...} (the retention prefix). */
static void bk_name(const bk_job_t *j, int64_t now_s, bool prefix_only, char *out, size_t len)
{
    const char *t = j->s->name_template;
    size_t o = 0;
    out[0] = '\0';
    while (*t && o + 1 < len) {
        if (strncmp(t, "{table}", 7) == 0) {
            o += (size_t)snprintf(out + o, len - o, "%s", j->s->table);
            t += 7;
        } else if (strncmp(t, "{region}", 8) == 0) {
            o += (size_t)snprintf(out + o, len - o, "%s", bks.cfg->regions[j->region].name);
            t += 8;
        } else if (strncmp(t, "{schedule}", 10) == 0) {
            o += (size_t)snprintf(out + o, len - o, "%s", j->s->name);
            t += 10;
        } else if (strncmp(t, "{utc:", 5) == 0 && strchr(t, '}')) {
            if (prefix_only)
                break;
            char fmt[64], buf[64];
            const char *end = strchr(t, '}');
            snprintf(fmt, sizeof(fmt), "%.*s", (int)(end - t - 5), t + 5);
            time_t now = (time_t)now_s;
            struct tm tm;
            gmtime_r(&now, &tm);
            if (strftime(buf, sizeof(buf), fmt, &tm) == 0)
                buf[0] = '\0';
            o += (size_t)snprintf(out + o, len - o, "%s", buf);
            t = end + 1;
        } else {
            out[o++] = *t++;
            out[o] = '\0';
        }
        if (o >= len)
            o = len - 1;
    }
    /* DynamoDB backup names: [a-zA-Z0-9_.-] only. */
    for (char *p = out; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '.' || *p == '-'))
            *p = '-';
}

static void bk_event(const char *type, const bk_job_t *j, const char *detail)
{
    cJSON *d = cJSON_CreateObject();
    if (d) {
        cJSON_AddStringToObject(d, "schedule", j->s->name);
        cJSON_AddStringToObject(d, "table", j->s->table);
        cJSON_AddStringToObject(d, "region", bks.cfg->regions[j->region].name);
        cJSON_AddStringToObject(d, "name", j->last_name);
        cJSON_AddStringToObject(d, "arn", j->last_arn);
        if (detail)
            cJSON_AddStringToObject(d, "detail", detail);
    }
    feed_emit(type, d);
}

/* ---- one run: CreateBackup -> DescribeBackup until AVAILABLE -> retention ---- */

static void bk_finish(bk_job_t *j, const char *result, bool failed)
{
    snprintf(j->last_result, sizeof(j->last_result), "%.299s", result);
    if (failed)
        j->failed++;
    j->phase = JOB_IDLE;
    bk_save();
}

static void bk_free_list(bk_job_t *j)
{
    for (size_t i = 0; j->list_store && i < j->nlist * 2; i++)
        free(j->list_store[i]);
    free(j->list_store);
    free(j->list);
    free(j->del);
    j->list_store = NULL;
    j->list = NULL;
    j->del = NULL;
    j->nlist = 0;
}

static void bk_delete_next(bk_job_t *j);

static void bk_on_delete(void *arg, int ok, const cJSON *resp, const char *error, double ms)
{
    (void)resp, (void)ms;
    bk_job_t *j = arg;
    j->req = NULL;
    const ret_backup_t *b = &j->list[j->del_next];
    if (ok) {
        bk_drop_ours(b->arn);
        j->deleted++;
        cJSON *d = cJSON_CreateObject();
        if (d) {
            cJSON_AddStringToObject(d, "schedule", j->s->name);
            cJSON_AddStringToObject(d, "region", bks.cfg->regions[j->region].name);
            cJSON_AddStringToObject(d, "name", b->name);
            cJSON_AddStringToObject(d, "arn", b->arn);
        }
        feed_emit("backup_deleted", d);
    } else {
        log_msg(LOG_WARNING, "msg=\"backup delete failed\" arn=%s error=\"%s\"", b->arn, error);
    }
    j->del_next++;
    bk_delete_next(j);
}

static void bk_delete_next(bk_job_t *j)
{
    while (j->del_next < j->nlist && !j->del[j->del_next])
        j->del_next++;
    if (j->del_next >= j->nlist) {
        char r[300];
        snprintf(r, sizeof(r), "AVAILABLE: %s; retention checked %zu backups", j->last_name, j->nlist);
        bk_free_list(j);
        bk_finish(j, r, false);
        return;
    }
    j->phase = JOB_DELETING;
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "BackupArn", j->list[j->del_next].arn);
    j->req = ddb_call(bks.cfg, j->region, "DeleteBackup", b, bk_on_delete, j);
    if (!j->req) {
        j->del_next++;
        bk_delete_next(j);
    }
}

static void bk_plan(bk_job_t *j)
{
    char prefix[260];
    bk_name(j, 0, true, prefix, sizeof(prefix));
    ret_policy_t p = {.keep_last = j->s->keep_last, .keep_days = j->s->keep_days, .name_prefix = prefix};
    char (*reasons)[128] = calloc(j->nlist ? j->nlist : 1, sizeof(*reasons));
    j->del = calloc(j->nlist ? j->nlist : 1, sizeof(bool));
    if (!reasons || !j->del) {
        free(reasons);
        bk_free_list(j);
        bk_finish(j, "retention skipped: out of memory", true);
        return;
    }
    size_t n = retention_plan(&p, j->list, j->nlist, loop_wall_ms() / 1000, j->del, reasons);
    for (size_t i = 0; i < j->nlist; i++)
        log_msg(LOG_DEBUG, "msg=\"retention\" schedule=%s backup=%s verdict=\"%s\"", j->s->name,
                j->list[i].name, reasons[i]);
    free(reasons);
    log_msg(LOG_INFO, "msg=\"retention\" schedule=%s region=%s listed=%zu delete=%zu", j->s->name,
            bks.cfg->regions[j->region].name, j->nlist, n);
    j->del_next = 0;
    bk_delete_next(j);
}

static int bk_status_of(const char *s)
{
    return strcmp(s, "AVAILABLE") == 0 ? RET_AVAILABLE : strcmp(s, "CREATING") == 0 ? RET_CREATING
         : strcmp(s, "DELETED") == 0 ? RET_DELETED : RET_OTHER;
}

static void bk_on_list(void *arg, int ok, const cJSON *resp, const char *error, double ms)
{
    (void)ms;
    bk_job_t *j = arg;
    j->req = NULL;
    if (!ok) {
        char r[700];
        snprintf(r, sizeof(r), "AVAILABLE: %.255s; retention not run: ListBackups: %.300s", j->last_name, error);
        bk_free_list(j);
        bk_finish(j, r, true);
        return;
    }
    const cJSON *s;
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(resp, "BackupSummaries")) {
        const cJSON *arn = cJSON_GetObjectItemCaseSensitive(s, "BackupArn");
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(s, "BackupName");
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(s, "BackupStatus");
        const cJSON *ct = cJSON_GetObjectItemCaseSensitive(s, "BackupCreationDateTime");
        if (!cJSON_IsString(arn) || !cJSON_IsString(nm) || j->nlist >= BK_MAXLIST)
            continue;
        ret_backup_t *nl = realloc(j->list, (j->nlist + 1) * sizeof(*nl));
        char **ns = nl ? realloc(j->list_store, (j->nlist + 1) * 2 * sizeof(char *)) : NULL;
        if (nl)
            j->list = nl;
        if (!ns)
            break;
        j->list_store = ns;
        char *a = strdup(arn->valuestring), *n = strdup(nm->valuestring);
        ns[j->nlist * 2] = a;
        ns[j->nlist * 2 + 1] = n;
        j->list[j->nlist] = (ret_backup_t){.arn = a ? a : "", .name = n ? n : "",
                                           .created_s = cJSON_IsNumber(ct) ? ret_epoch_s(ct->valuedouble) : 0,
                                           .status = cJSON_IsString(st) ? bk_status_of(st->valuestring) : RET_OTHER,
                                           .ours = a && bk_is_ours(a)};
        j->nlist++;
    }
    const cJSON *next = cJSON_GetObjectItemCaseSensitive(resp, "LastEvaluatedBackupArn");
    if (cJSON_IsString(next) && j->nlist < BK_MAXLIST) {
        bk_list(j, next->valuestring);
        return;
    }
    bk_plan(j);
}

static void bk_list(bk_job_t *j, const char *start)
{
    j->phase = JOB_LISTING;
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "TableName", j->s->table);
    cJSON_AddStringToObject(b, "BackupType", "USER");
    if (start)
        cJSON_AddStringToObject(b, "ExclusiveStartBackupArn", start);
    j->req = ddb_call(bks.cfg, j->region, "ListBackups", b, bk_on_list, j);
    if (!j->req)
        bk_finish(j, "ListBackups: cannot start", true);
}

static void bk_on_describe(void *arg, int ok, const cJSON *resp, const char *error, double ms)
{
    (void)ms;
    bk_job_t *j = arg;
    j->req = NULL;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(resp, "BackupDescription"),
                                                      "BackupDetails");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(d, "BackupStatus");
    if (ok && cJSON_IsString(st) && strcmp(st->valuestring, "AVAILABLE") == 0) {
        bk_event("backup_available", j, NULL);
        alarm_resolve(j->key, "backups AVAILABLE again");
        bk_free_list(j);
        bk_list(j, NULL);
        return;
    }
    if (!ok)
        log_msg(LOG_WARNING, "msg=\"DescribeBackup failed\" arn=%s error=\"%s\"", j->last_arn, error);
    uint64_t age = loop_now_ms() - (uint64_t)j->started_mono;
    if (age > (uint64_t)j->s->available_timeout_s * 1000u) {
        char r[400];
        snprintf(r, sizeof(r), "not AVAILABLE after %u s (status %s)", j->s->available_timeout_s,
                 cJSON_IsString(st) ? st->valuestring : "unknown");
        bk_event("backup_stuck", j, r);
        alarm_raise(j->key, "critical", r, NULL);
        bk_finish(j, r, true);
        return;
    }
    struct timeval tv = {2, 0};
    evtimer_add(j->poll, &tv);
}

static void bk_on_poll(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    bk_job_t *j = arg;
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "BackupArn", j->last_arn);
    j->req = ddb_call(bks.cfg, j->region, "DescribeBackup", b, bk_on_describe, j);
    if (!j->req) {
        struct timeval tv = {2, 0};
        evtimer_add(j->poll, &tv);
    }
}

static void bk_on_create(void *arg, int ok, const cJSON *resp, const char *error, double ms)
{
    (void)ms;
    bk_job_t *j = arg;
    j->req = NULL;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(resp, "BackupDetails");
    const cJSON *arn = cJSON_GetObjectItemCaseSensitive(d, "BackupArn");
    if (!ok || !cJSON_IsString(arn)) {
        char r[400];
        snprintf(r, sizeof(r), "CreateBackup failed: %.300s", ok ? "no BackupArn in the answer" : error);
        bk_event("backup_failed", j, r);
        alarm_raise(j->key, "critical", r, NULL);
        bk_finish(j, r, true);
        return;
    }
    snprintf(j->last_arn, sizeof(j->last_arn), "%s", arn->valuestring);
    bk_add_ours(j->last_arn);
    j->created++;
    bk_save();   /* the ARN is ours from now on, before anything else happens */
    bk_event("backup_started", j, NULL);
    j->phase = JOB_WAITING;
    struct timeval tv = {1, 0};
    evtimer_add(j->poll, &tv);
}

static void bk_run(bk_job_t *j, const char *why)
{
    if (j->phase != JOB_IDLE)
        return;
    int64_t now = loop_wall_ms() / 1000;
    j->last_run_s = now;
    j->started_mono = (int64_t)loop_now_ms();
    bk_name(j, now, false, j->last_name, sizeof(j->last_name));
    j->last_arn[0] = '\0';
    snprintf(j->last_result, sizeof(j->last_result), "running (%s)", why);
    bk_save();   /* the run is recorded before it starts: never a burst after downtime */
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "TableName", j->s->table);
    cJSON_AddStringToObject(b, "BackupName", j->last_name);
    j->phase = JOB_CREATING;
    j->req = ddb_call(bks.cfg, j->region, "CreateBackup", b, bk_on_create, j);
    if (!j->req)
        bk_finish(j, "CreateBackup: cannot start", true);
    log_msg(LOG_INFO, "msg=\"backup started\" schedule=%s region=%s name=%s trigger=%s", j->s->name,
            bks.cfg->regions[j->region].name, j->last_name, why);
}

/* ---- schedules ---- */

static void bk_on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    int64_t now = loop_wall_ms() / 1000;
    bool dirty = false;
    for (size_t i = 0; i < bks.n; i++) {
        bk_job_t *j = &bks.jobs[i];
        if (j->phase != JOB_IDLE)
            continue;
        if (j->last_run_s == 0) {   /* a new schedule: its first run is its next time */
            j->last_run_s = now;
            dirty = true;
            continue;
        }
        int64_t next = cron_next(&j->cron, j->last_run_s);
        if (next >= 0 && next <= now)   /* however many were missed: one run */
            bk_run(j, next < now - 60 ? "missed while stopped" : "schedule");
    }
    if (dirty)
        bk_save();
}

int backup_run_now(const char *table, char *msg, size_t msglen)
{
    int started = 0, found = 0;
    for (size_t i = 0; i < bks.n; i++) {
        bk_job_t *j = &bks.jobs[i];
        if (strcmp(j->s->table, table) != 0)
            continue;
        found++;
        if (j->phase == JOB_IDLE) {
            bk_run(j, "operator");
            started++;
        }
    }
    if (!found) {
        snprintf(msg, msglen, "no backup schedule for table '%s'", table);
        return -1;
    }
    snprintf(msg, msglen, "started %d backup%s of %s (%d already running)", started, started == 1 ? "" : "s",
             table, found - started);
    return started;
}

static void bk_stop(void)
{
    for (size_t i = 0; i < bks.n; i++) {
        ddb_cancel(bks.jobs[i].req);
        if (bks.jobs[i].poll)
            event_free(bks.jobs[i].poll);
        bk_free_list(&bks.jobs[i]);
    }
    memset(bks.jobs, 0, sizeof(bks.jobs));
    bks.n = 0;
    for (size_t i = 0; i < bks.nours; i++)
        free(bks.ours[i]);
    bks.nours = 0;
}

static void bk_start(const cfg_t *cfg)
{
    bks.cfg = cfg;
    const cfg_dynamodb_t *d = &cfg->dynamodb;
    for (size_t s = 0; d->enabled && s < d->n_backups; s++)
        for (size_t r = 0; r < d->backups[s].n_regions && bks.n < BK_MAXJOBS; r++) {
            bk_job_t *j = &bks.jobs[bks.n];
            int idx = -1;
            for (size_t k = 0; k < cfg->n_regions; k++)
                if (strcmp(cfg->regions[k].name, d->backups[s].regions[r]) == 0)
                    idx = (int)k;
            if (idx < 0 || cron_parse(d->backups[s].schedule, &j->cron, NULL, 0) == -1)
                continue;
            j->s = &d->backups[s];
            j->region = (size_t)idx;
            snprintf(j->key, sizeof(j->key), "%s@%s", j->s->name, cfg->regions[idx].name);
            j->poll = evtimer_new(loop_base(), bk_on_poll, j);
            bks.n++;
        }
    bk_load();
    bk_on_tick(-1, 0, NULL);
}

int backup_init(const cfg_t *cfg)
{
    memset(&bks, 0, sizeof(bks));
    bks.tick = event_new(loop_base(), -1, EV_PERSIST, bk_on_tick, NULL);
    struct timeval tv = {5, 0};
    if (!bks.tick || event_add(bks.tick, &tv) == -1)
        return -1;
    bk_start(cfg);
    return 0;
}

void backup_configure(const cfg_t *cfg)
{
    bk_save();
    bk_stop();
    bk_start(cfg);
}

void backup_fini(void)
{
    bk_stop();
    if (bks.tick)
        event_free(bks.tick);
    memset(&bks, 0, sizeof(bks));
}

