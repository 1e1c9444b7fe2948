/* backup — see backup.h.  DynamoDB API reference: CreateBackup (BackupName
 * 3-255 of [a-zA-Z0-9_.-]), DescribeBackup (BackupNotFoundException),
 * ListBackups (BackupType USER, TimeRangeLowerBound, ExclusiveStartBackupArn
 * / LastEvaluatedBackupArn), DeleteBackup. */
#include "backup/backup.h"
#include "backup/backup_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "core/alarm.h"
#include "config/cron.h"
#include "aws/ddb_call.h"
#include "core/feed.h"
#include "core/log.h"
#include "core/loop.h"
#include "backup/retention.h"
#include "core/state.h"

bks_t bks;
static backup_gate_fn bk_gate;   /* NULL: always open */

void backup_set_gate(backup_gate_fn gate)
{
    bk_gate = gate;
}

static bool bk_may_act(void)
{
    return !bk_gate || bk_gate();
}

/* The gate as a send window for the AWS client: open while the gate is,
 * asked before every attempt of a CreateBackup (a throttled one is retried). */
static uint64_t bk_window(void *arg)
{
    (void)arg;
    return bk_may_act() ? UINT64_MAX : 0;
}

static void bk_run(bk_job_t *j, const char *why);

void bk_event(feed_ev_t type, const bk_job_t *j, const char *detail)
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

void bk_finish(bk_job_t *j, const char *result, bool failed)
{
    snprintf(j->last_result, sizeof(j->last_result), "%.299s", result);
    if (failed)
        j->failed++;
    j->phase = JOB_IDLE;
    bk_save();
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
        bk_event(EV_BACKUP_AVAILABLE, j, NULL);
        alarm_resolve(j->key, "backups AVAILABLE again");
        bk_free_list(j);
        j->lookup = false;
        bk_list(j, NULL);
        return;
    }
    if (!ok && strstr(error, "BackupNotFoundException")) {   /* gone while CREATING: this run failed */
        char r[500];
        snprintf(r, sizeof(r), "backup %.255s disappeared before it was AVAILABLE (BackupNotFoundException); "
                 "the next run is on schedule", j->last_name);
        bk_rec_drop(j, j->last_arn);
        bk_event(EV_BACKUP_FAILED, j, r);
        alarm_raise(j->key, "critical", r, NULL);
        bk_finish(j, r, true);
        return;
    }
    if (!ok)
        log_msg(LOG_WARNING, "msg=\"DescribeBackup failed\" arn=%s error=\"%s\"", j->last_arn, error);
    uint64_t age = loop_now_ms() - (uint64_t)j->started_mono;
    if (age > (uint64_t)j->s->available_timeout_s * 1000u) {
        char r[400];
        snprintf(r, sizeof(r), "not AVAILABLE after %u s (status %s)", j->s->available_timeout_s,
                 cJSON_IsString(st) ? st->valuestring : "unknown");
        bk_event(EV_BACKUP_STUCK, j, r);
        alarm_raise(j->key, "critical", r, NULL);
        bk_finish(j, r, true);
        return;
    }
    bk_wait(j, 2);
}

/* ---- parking: a run this instance cannot go on with while it follows ---- */

bool bk_parked(bk_job_t *j, const char *call, bool relist)
{
    if (bk_may_act())
        return false;
    j->park_relist = j->park_relist || relist;
    if (j->parked)
        return true;
    j->parked = true;
    j->parked_s = loop_wall_ms() / 1000;
    j->parked_mono = loop_now_ms();
    snprintf(j->park_reason, sizeof(j->park_reason), "parked before %s: this instance does not lead (a follower "
             "makes no backup call); the run resumes when it leads again", call);
    bk_event(EV_BACKUP_PARKED, j, j->park_reason);
    log_msg(LOG_NOTICE, "msg=\"backup run parked: not leading\" schedule=%s region=%s name=%s call=%s", j->s->name,
            bks.cfg->regions[j->region].name, j->lookup ? j->pending : j->last_name, call);
    return true;
}

static void bk_describe(bk_job_t *j);

/* The instance leads again: the run goes on with the call it parked before
 * (a listing: again from its start, with a new retention plan). */
static void bk_resume(bk_job_t *j)
{
    char r[400];
    snprintf(r, sizeof(r), "resumed: this instance leads again (parked %" PRIu64 " s)",
             (loop_now_ms() - j->parked_mono) / 1000);
    bool relist = j->park_relist;
    j->parked = j->park_relist = false;
    j->park_reason[0] = '\0';
    bk_event(EV_BACKUP_RESUMED, j, r);
    log_msg(LOG_NOTICE, "msg=\"backup run resumed: leading\" schedule=%s region=%s name=%s", j->s->name,
            bks.cfg->regions[j->region].name, j->lookup ? j->pending : j->last_name);
    if (relist) {
        bk_free_list(j);
        bk_list(j, NULL);
    } else {
        bk_describe(j);
    }
}

static void bk_describe(bk_job_t *j)
{
    if (bk_parked(j, "DescribeBackup", false))
        return;
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "BackupArn", j->last_arn);
    j->req = ddb_call(bks.cfg, j->region, "DescribeBackup", b, bk_on_describe, j);
    if (!j->req)
        bk_wait(j, 2);
}

static void bk_on_poll(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    bk_job_t *j = arg;
    if (j->phase == JOB_LOOKUP)
        bk_list(j, NULL);
    else
        bk_describe(j);
}

void bk_wait(bk_job_t *j, int s)
{
    if (j->phase != JOB_LOOKUP)
        j->phase = JOB_WAITING;
    struct timeval tv = {s, 0};
    evtimer_add(j->poll, &tv);
}

static void bk_on_create(void *arg, int ok, int unknown, const cJSON *resp, const char *error)
{
    bk_job_t *j = arg;
    j->req = NULL;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(resp, "BackupDetails");
    const cJSON *arn = cJSON_GetObjectItemCaseSensitive(d, "BackupArn");
    if (!ok && unknown) {   /* it may exist: never create again, look for it by its name */
        j->lookups = 0;
        j->lookup = true;
        bk_save();
        log_msg(LOG_WARNING, "msg=\"CreateBackup outcome unknown: looking for it by name\" schedule=%s region=%s "
                "name=%s error=\"%s\"", j->s->name, bks.cfg->regions[j->region].name, j->pending, error);
        bk_list(j, NULL);
        return;
    }
    if (!ok && !bk_may_act()) {   /* refused or never sent, and the term ended meanwhile: nothing made */
        char r[400];
        j->pending[0] = '\0';
        snprintf(r, sizeof(r), "not started: %.350s", error);
        log_msg(LOG_NOTICE, "msg=\"CreateBackup not sent: not leading\" schedule=%s region=%s error=\"%s\"",
                j->s->name, bks.cfg->regions[j->region].name, error);
        bk_finish(j, r, false);
        return;
    }
    if (!ok || !cJSON_IsString(arn) || bk_rec_add(j, arn->valuestring, j->last_name) == -1) {
        char r[400];
        if (!ok)
            j->pending[0] = '\0';   /* a refusal that says nothing was done */
        snprintf(r, sizeof(r), "CreateBackup failed: %.300s", !ok ? error : !cJSON_IsString(arn)
                 ? "no BackupArn in the answer" : "its ARN cannot be recorded (record full or out of memory)");
        bk_event(EV_BACKUP_FAILED, j, r);
        alarm_raise(j->key, "critical", r, NULL);
        bk_finish(j, r, true);
        return;
    }
    snprintf(j->last_arn, sizeof(j->last_arn), "%s", arn->valuestring);
    j->pending[0] = '\0';
    j->created++;
    bk_save();   /* the ARN is this schedule's from now on, before anything else happens */
    bk_event(EV_BACKUP_STARTED, j, NULL);
    bk_wait(j, 1);
}

/* The run's record (its pending name) is durable, or not: only now does
 * CreateBackup go out, so a crash never leaves a backup nobody looks for. */
static void bk_on_recorded(void *arg, int rc, const char *err)
{
    uintptr_t v = (uintptr_t)arg;
    size_t idx = v % BK_MAXJOBS;
    if (v / BK_MAXJOBS != bks.gen || idx >= bks.n || bks.jobs[idx].phase != JOB_RECORDING)
        return;   /* the jobs were rebuilt (reload) meanwhile: this run never started */
    bk_job_t *j = &bks.jobs[idx];
    if (rc == -1) {
        char r[700];
        snprintf(r, sizeof(r), "not started: the run could not be recorded before CreateBackup (%.600s)", err);
        j->pending[0] = '\0';
        bk_event(EV_BACKUP_FAILED, j, r);
        alarm_raise(j->key, "critical", r, NULL);
        bk_finish(j, r, true);
        return;
    }
    if (!bk_may_act()) {   /* the lease ended while the record was written: nothing is sent */
        j->pending[0] = '\0';
        bk_finish(j, "not started: this instance stopped leading before CreateBackup", false);
        return;
    }
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "TableName", j->s->table);
    cJSON_AddStringToObject(b, "BackupName", j->last_name);
    j->phase = JOB_CREATING;
    j->req = ddb_call_once(bks.cfg, j->region, "CreateBackup", b, bk_on_create, j);
    if (bk_gate)
        ddb_set_window(j->req, bk_window, NULL, "this instance stopped leading (the lease term's send window closed)");
    if (!j->req)
        bk_finish(j, "CreateBackup: cannot start", true);
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
    j->lookup = j->recovering = false;
    /* Pending until CreateBackup answers: a crash in between leaves the name, looked up at start-up. */
    snprintf(j->pending, sizeof(j->pending), "%s", j->last_name);
    j->pending_s = now;
    snprintf(j->last_result, sizeof(j->last_result), "running (%s)", why);
    /* The run is recorded before it starts (never a burst after downtime);
     * the loop goes on meanwhile, CreateBackup waits for the write. */
    j->phase = JOB_RECORDING;
    cJSON *doc = bk_doc();
    uintptr_t tag = (uintptr_t)bks.gen * BK_MAXJOBS + (uintptr_t)(j - bks.jobs);
    int rc = doc ? bk_save_doc(doc, bk_on_recorded, (void *)tag) : -1;
    cJSON_Delete(doc);
    if (rc == -1) {
        j->pending[0] = '\0';
        bk_finish(j, "not started: the run could not be recorded (out of memory)", true);
        return;
    }
    log_msg(LOG_INFO, "msg=\"backup started\" schedule=%s region=%s name=%s trigger=%s", j->s->name,
            bks.cfg->regions[j->region].name, j->last_name, why);
}

/* ---- schedules ---- */

static void bk_on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    int64_t now = loop_wall_ms() / 1000;
    bool dirty = false, may = bk_may_act();
    for (size_t i = 0; i < bks.n; i++) {
        bk_job_t *j = &bks.jobs[i];
        if (j->parked && may)
            bk_resume(j);
        if (j->phase != JOB_IDLE)
            continue;
        if (j->last_run_s == 0) {   /* a new schedule: its first run is its next time */
            j->last_run_s = now;
            dirty = true;
            continue;
        }
        int64_t next = cron_next(&j->cron, j->last_run_s);
        if (next >= 0 && next <= now && may)   /* however many were missed: one run (a follower: none yet) */
            bk_run(j, next < now - 60 ? (bk_gate ? "missed while stopped or not leading" : "missed while stopped")
                                      : "schedule");
    }
    if (dirty)
        bk_save();
}

int backup_run_now(const char *table, char *msg, size_t msglen)
{
    int started = 0, found = 0;
    if (!bk_may_act()) {
        snprintf(msg, msglen, "not the leader: backups run on the leading instance");
        return -1;
    }
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
    bks.gen++;   /* a run waiting for its record never starts */
    for (size_t i = 0; i < bks.n; i++) {
        ddb_cancel(bks.jobs[i].req);
        if (bks.jobs[i].poll)
            event_free(bks.jobs[i].poll);
        bk_free_list(&bks.jobs[i]);
    }
    for (size_t i = 0; i < bks.n; i++)
        bk_recs_free(&bks.jobs[i]);
    memset(bks.jobs, 0, sizeof(bks.jobs));
    bks.n = 0;
    bk_state_free();
}

static void bk_start(const cfg_t *cfg, const cJSON *mem)
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
            snprintf(j->key, sizeof(j->key), "%s", alarm_key_backup(j->s->name, cfg->regions[idx].name).s);
            j->poll = evtimer_new(loop_base(), bk_on_poll, j);
            bks.n++;
        }
    bk_load(mem);
    for (size_t i = 0; i < bks.n; i++) {   /* a run a stop or crash interrupted: did its backup get made? */
        bk_job_t *j = &bks.jobs[i];
        if (!j->pending[0])
            continue;
        j->lookup = j->recovering = true;
        bk_list(j, NULL);
    }
    bk_on_tick(-1, 0, NULL);
}

int backup_init(const cfg_t *cfg)
{
    memset(&bks, 0, sizeof(bks));
    bks.tick = event_new(loop_base(), -1, EV_PERSIST, bk_on_tick, NULL);
    struct timeval tv = {5, 0};
    if (!bks.tick || event_add(bks.tick, &tv) == -1)
        return -1;
    bk_start(cfg, NULL);
    return 0;
}

void backup_configure(const cfg_t *cfg)
{
    cJSON *doc = bk_doc();   /* saved (queued) and reloaded from memory: never waited for */
    bk_save_doc(doc, NULL, NULL);
    bk_stop();
    bk_start(cfg, doc);
    cJSON_Delete(doc);
}

void backup_fini(void)
{
    bk_stop();
    if (bks.tick)
        event_free(bks.tick);
    memset(&bks, 0, sizeof(bks));
}

