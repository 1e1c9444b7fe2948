/* backup_list — a schedule's listing of its backups (ListBackups, every
 * page), the look-up of a run whose CreateBackup answer was lost, and
 * retention: the plan over this schedule's own recorded backups and the
 * DeleteBackup calls it makes.  The run itself (CreateBackup, waiting for
 * AVAILABLE) is backup.c's.  DynamoDB API reference: ListBackups
 * (BackupType USER, TimeRangeLowerBound, ExclusiveStartBackupArn /
 * LastEvaluatedBackupArn), DeleteBackup. */
#include "backup/backup_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alarm.h"
#include "aws/ddb_call.h"
#include "core/feed.h"
#include "core/log.h"
#include "core/loop.h"
#include "backup/retention.h"

void bk_free_list(bk_job_t *j)
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
    if (ok || strstr(error, "BackupNotFoundException")) {
        bk_rec_drop(j, b->arn);
        bk_save();
    }
    if (ok) {
        j->deleted++;
        cJSON *d = cJSON_CreateObject();
        if (d) {
            cJSON_AddStringToObject(d, "schedule", j->s->name);
            cJSON_AddStringToObject(d, "region", bks.cfg->regions[j->region].name);
            cJSON_AddStringToObject(d, "name", b->name);
            cJSON_AddStringToObject(d, "arn", b->arn);
        }
        feed_emit(EV_BACKUP_DELETED, d);
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
    if (bk_parked(j, "DeleteBackup", true))   /* on resuming, a new listing and plan */
        return;
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
    log_msg(LOG_INFO, "msg=\"retention\" schedule=%s region=%s listed=%zu own=%zu delete=%zu", j->s->name,
            bks.cfg->regions[j->region].name, j->nlist, j->nrecs, n);
    j->del_next = 0;
    bk_delete_next(j);
}

static int bk_status_of(const char *s)
{
    return strcmp(s, "AVAILABLE") == 0 ? RET_AVAILABLE : strcmp(s, "CREATING") == 0 ? RET_CREATING
         : strcmp(s, "DELETED") == 0 ? RET_DELETED : RET_OTHER;
}

static int bk_list_add(bk_job_t *j, const char *arn, const char *name, int status, int64_t created)
{
    ret_backup_t *nl = realloc(j->list, (j->nlist + 1) * sizeof(*nl));
    if (nl)
        j->list = nl;
    char **ns = nl ? realloc(j->list_store, (j->nlist + 1) * 2 * sizeof(char *)) : NULL;
    if (!ns)
        return -1;
    j->list_store = ns;
    char *a = strdup(arn), *n = strdup(name);
    ns[j->nlist * 2] = a;
    ns[j->nlist * 2 + 1] = n;
    /* Ours: this schedule recorded this ARN under exactly this name. */
    const bk_rec_t *rec = a ? bk_rec_find(j, a) : NULL;
    bool ours = rec && n && strcmp(rec->name, n) == 0;
    j->list[j->nlist++] = (ret_backup_t){.arn = a ? a : "", .name = n ? n : "", .created_s = created,
                                         .status = status, .ours = ours, .adopted = ours && rec->adopted};
    return 0;
}

/* A backup named exactly as the run whose CreateBackup answer was lost is that run's, but only when it is
 * the one such backup not yet recorded: with two (one made by hand under that name) neither is adopted,
 * so retention can never delete one this schedule did not make.  1 adopted, 0 none listed, -1 ambiguous. */
static int bk_adopt_pending(bk_job_t *j)
{
    size_t found = j->nlist, count = 0;
    for (size_t i = 0; j->pending[0] && i < j->nlist; i++)
        if (strcmp(j->list[i].name, j->pending) == 0 && !bk_rec_find(j, j->list[i].arn)) {
            found = i;
            count++;
        }
    if (count > 1) {
        log_msg(LOG_WARNING, "msg=\"several backups carry the lost run's name: none adopted, all kept\" "
                "schedule=%s region=%s name=%s count=%zu", j->s->name, bks.cfg->regions[j->region].name,
                j->pending, count);
        j->pending[0] = '\0';
        bk_save();
        return -1;
    }
    if (count == 0 || bk_rec_add(j, j->list[found].arn, j->pending) != 0)
        return 0;
    j->list[found].ours = true;
    snprintf(j->last_arn, sizeof(j->last_arn), "%s", j->list[found].arn);
    j->created++;
    log_msg(LOG_NOTICE, "msg=\"backup of a lost CreateBackup answer found and recorded\" schedule=%s "
            "region=%s name=%s arn=%s", j->s->name, bks.cfg->regions[j->region].name, j->pending,
            j->list[found].arn);
    j->pending[0] = '\0';
    bk_save();
    return 1;
}

/* After a complete listing: forget records of backups that no longer exist. */
static void bk_prune(bk_job_t *j)
{
    for (size_t r = 0; r < j->nrecs;) {
        bool listed = false;
        for (size_t i = 0; i < j->nlist && !listed; i++)
            listed = strcmp(j->list[i].arn, j->recs[r].arn) == 0;
        if (listed || strcmp(j->recs[r].arn, j->last_arn) == 0)
            r++;
        else
            bk_rec_drop(j, j->recs[r].arn);
    }
}

static void bk_lookup_done(bk_job_t *j)
{
    char name[260];
    snprintf(name, sizeof(name), "%s", j->pending);
    int adopted = bk_adopt_pending(j);
    bk_free_list(j);
    if (adopted == -1) {
        char r[500];
        snprintf(r, sizeof(r), "CreateBackup's answer was lost and several backups are named %.255s (one not "
                 "made by regiond?): none adopted, all kept", name);
        bk_event(EV_BACKUP_FAILED, j, r);
        alarm_raise(j->key, "critical", r, NULL);
        bk_finish(j, r, true);
        return;
    }
    if (adopted == 1) {   /* found and recorded: follow it to AVAILABLE */
        bk_event(EV_BACKUP_STARTED, j, "CreateBackup's answer was lost; found by name and recorded");
        snprintf(j->last_name, sizeof(j->last_name), "%s", name);
        j->started_mono = (int64_t)loop_now_ms();
        j->lookup = j->recovering = false;
        j->phase = JOB_WAITING;
        bk_wait(j, 1);
        return;
    }
    if (j->recovering) {   /* the interrupted run's CreateBackup never took effect */
        log_msg(LOG_NOTICE, "msg=\"no backup of the interrupted run\" schedule=%s region=%s name=%s", j->s->name,
                bks.cfg->regions[j->region].name, name);
        j->pending[0] = '\0';
        j->recovering = j->lookup = false;
        j->phase = JOB_IDLE;
        bk_save();
        return;
    }
    if (++j->lookups < BK_LOOKUPS) {
        j->phase = JOB_LOOKUP;
        bk_wait(j, 2);
        return;
    }
    char r[500];
    snprintf(r, sizeof(r), "CreateBackup's answer was lost and no backup named %.255s was listed after %d "
             "tries; not retried (it is adopted if it appears)", name, BK_LOOKUPS);
    bk_event(EV_BACKUP_FAILED, j, r);
    alarm_raise(j->key, "critical", r, NULL);
    bk_finish(j, r, true);
}

static void bk_on_list(void *arg, int ok, const cJSON *resp, const char *error, double ms)
{
    (void)ms;
    bk_job_t *j = arg;
    j->req = NULL;
    if (!ok) {
        char r[700];
        snprintf(r, sizeof(r), "%s%.255s; %s: ListBackups: %.300s", j->lookup ? "outcome unknown: " : "AVAILABLE: ",
                 j->lookup ? j->pending : j->last_name, j->lookup ? "lookup failed" : "retention not run", error);
        bk_free_list(j);
        if (j->lookup)
            alarm_raise(j->key, "critical", r, NULL);
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
        if (bk_list_add(j, arn->valuestring, nm->valuestring,
                        cJSON_IsString(st) ? bk_status_of(st->valuestring) : RET_OTHER,
                        cJSON_IsNumber(ct) ? ret_epoch_s(ct->valuedouble) : 0) == -1)
            break;
    }
    const cJSON *next = cJSON_GetObjectItemCaseSensitive(resp, "LastEvaluatedBackupArn");
    if (cJSON_IsString(next) && j->nlist < BK_MAXLIST) {
        bk_list(j, next->valuestring);
        return;
    }
    if (j->lookup) {
        bk_lookup_done(j);
        return;
    }
    bk_adopt_pending(j);
    if (j->nlist < BK_MAXLIST && !cJSON_IsString(next))
        bk_prune(j);
    bk_plan(j);
}

void bk_list(bk_job_t *j, const char *start)
{
    j->phase = j->lookup ? JOB_LOOKUP : JOB_LISTING;
    if (bk_parked(j, "ListBackups", true))   /* on resuming, the listing starts again */
        return;
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "TableName", j->s->table);
    cJSON_AddStringToObject(b, "BackupType", "USER");
    if (j->lookup)   /* the lost run's window, with room for clock skew */
        cJSON_AddNumberToObject(b, "TimeRangeLowerBound", (double)(j->pending_s - 900));
    if (start)
        cJSON_AddStringToObject(b, "ExclusiveStartBackupArn", start);
    j->req = ddb_call(bks.cfg, j->region, "ListBackups", b, bk_on_list, j);
    if (!j->req)
        bk_finish(j, "ListBackups: cannot start", true);
}
