/* backup_replica — the schedules' records (which backups each schedule
 * made, by ARN and exact name) in the replicated controller state
 * (docs/ha.md, "Replicated controller state"; backup.h):
 *   {"jobs": {"SCHEDULE@REGION": [{"arn", "name"}, ...]}}
 * at most BKR_PER_JOB records per schedule and BKR_TOTAL in all (records
 * left out are only never deleted by the next leader: an extra backup,
 * never a lost one), and without the backup of a run still under way
 * (a run parked on a follower resumes and finishes it: the next leader never
 * prunes it from under that run; after a kill -9 it is only never pruned).
 * A new leader adds the records of its configured
 * schedules to its own (a union: it forgets none of its own), so its
 * retention prunes what the last leader's run of the same schedule made,
 * and, as always, only backups whose ARN and exact name a schedule
 * recorded and whose name carries that schedule's prefix. */
#include "backup/backup.h"
#include "backup/backup_int.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"

#define BKR_PER_JOB 64
#define BKR_TOTAL 256
#define BKR_ARN_MAX 2048   /* as backups.json's check */
#define BKR_NAME_MAX 259   /* a name as bk_name makes it (j->last_name) */

static void (*bkr_changed)(void);

void backup_set_changed(void (*fn)(void))
{
    bkr_changed = fn;
}

void bk_records_changed(void)
{
    if (bkr_changed)
        bkr_changed();
}

cJSON *backup_replica_json(void)
{
    cJSON *o = cJSON_CreateObject(), *jobs = o ? cJSON_AddObjectToObject(o, "jobs") : NULL;
    if (!jobs) {
        cJSON_Delete(o);
        return NULL;
    }
    size_t total = 0;
    for (size_t i = 0; i < bks.n; i++) {
        const bk_job_t *j = &bks.jobs[i];
        cJSON *a = j->nrecs ? cJSON_AddArrayToObject(jobs, j->key) : NULL;
        for (size_t k = 0, put = 0; a && k < j->nrecs && put < BKR_PER_JOB && total < BKR_TOTAL; k++) {
            if (j->phase != JOB_IDLE && j->last_arn[0] && strcmp(j->recs[k].arn, j->last_arn) == 0)
                continue;   /* the run under way: its backup is left to this run (parked, it resumes) */
            put++, total++;
            cJSON *r = cJSON_CreateObject();
            if (!r || !cJSON_AddStringToObject(r, "arn", j->recs[k].arn) ||
                !cJSON_AddStringToObject(r, "name", j->recs[k].name) || !cJSON_AddItemToArray(a, r)) {
                cJSON_Delete(r);
                cJSON_Delete(o);
                return NULL;
            }
        }
    }
    return o;
}

static bool bkr_str(const cJSON *o, const char *k, size_t max)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(x) && x->valuestring[0] && strlen(x->valuestring) <= max;
}

int backup_replica_check(const cJSON *o, char *why, size_t len)
{
    const cJSON *jobs = cJSON_GetObjectItemCaseSensitive(o, "jobs"), *a, *r;
    if (!cJSON_IsObject(o) || !cJSON_IsObject(jobs)) {
        snprintf(why, len, "backups: expected {\"jobs\": {\"SCHEDULE@REGION\": [{arn, name}]}}");
        return -1;
    }
    cJSON_ArrayForEach(a, jobs) {
        if (strlen(a->string) >= sizeof(bks.jobs[0].key) || !cJSON_IsArray(a) ||
            cJSON_GetArraySize(a) > BKR_PER_JOB) {
            snprintf(why, len, "backups.jobs.%.60s: expected an array of at most %d records", a->string,
                     BKR_PER_JOB);
            return -1;
        }
        cJSON_ArrayForEach(r, a)
            if (!cJSON_IsObject(r) || !bkr_str(r, "arn", BKR_ARN_MAX) || !bkr_str(r, "name", BKR_NAME_MAX)) {
                snprintf(why, len, "backups.jobs.%.60s: expected records {\"arn\": 1..%d chars, \"name\": "
                         "1..%d chars}", a->string, BKR_ARN_MAX, BKR_NAME_MAX);
                return -1;
            }
    }
    return 0;
}

void backup_replica_take(const cJSON *o)
{
    const cJSON *jobs = cJSON_GetObjectItemCaseSensitive(o, "jobs"), *r;
    size_t added = 0;
    for (size_t i = 0; i < bks.n; i++) {
        bk_job_t *j = &bks.jobs[i];
        cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(jobs, j->key)) {
            const char *arn = cJSON_GetObjectItemCaseSensitive(r, "arn")->valuestring;
            if (bk_rec_find(j, arn))
                continue;
            if (bk_rec_add(j, arn, cJSON_GetObjectItemCaseSensitive(r, "name")->valuestring) == -1) {
                log_msg(LOG_ERR, "msg=\"backup record of the last leader not taken (full, or out of memory)\" "
                        "schedule=%s", j->key);
                continue;
            }
            added++;
        }
    }
    if (added) {
        log_msg(LOG_NOTICE, "msg=\"backup records of the last leader taken over\" added=%zu", added);
        bk_save();
    }
}
