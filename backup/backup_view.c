/* backup_view — backup schedules as status and metrics show them. */
#include "backup/backup.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "config/cron.h"
#include "core/loop.h"
#include "backup/backup_int.h"

cJSON *backup_status_json(void)
{
    cJSON *a = cJSON_CreateArray();
    char t[40];
    static const char *const phases[] = {"idle", "recording", "creating", "waiting", "listing", "deleting", "lookup"};
    for (size_t i = 0; a && i < bks.n; i++) {
        const bk_job_t *j = &bks.jobs[i];
        cJSON *x = cJSON_CreateObject();
        char prefix[260];
        if (!x)
            break;
        bk_name(j, 0, true, prefix, sizeof(prefix));
        cJSON_AddStringToObject(x, "schedule", j->s->name);
        cJSON_AddStringToObject(x, "table", j->s->table);
        cJSON_AddStringToObject(x, "region", bks.cfg->regions[j->region].name);
        cJSON_AddStringToObject(x, "cron", j->s->schedule);
        cJSON_AddStringToObject(x, "phase", phases[j->phase]);
        if (j->last_run_s) {
            cJSON_AddStringToObject(x, "last_run", loop_fmt_wall(j->last_run_s * 1000, t, sizeof(t)));
            int64_t next = cron_next(&j->cron, j->last_run_s);
            if (next > 0)
                cJSON_AddStringToObject(x, "next_run", loop_fmt_wall(next * 1000, t, sizeof(t)));
        }
        cJSON_AddStringToObject(x, "last_result", j->last_result);
        cJSON_AddBoolToObject(x, "parked", j->parked);
        cJSON_AddStringToObject(x, "park_reason", j->park_reason);
        if (j->parked)
            cJSON_AddStringToObject(x, "parked_since", loop_fmt_wall(j->parked_s * 1000, t, sizeof(t)));
        cJSON_AddStringToObject(x, "last_name", j->last_name);
        cJSON_AddStringToObject(x, "last_arn", j->last_arn);
        cJSON_AddStringToObject(x, "name_prefix", prefix);
        cJSON *own = cJSON_AddArrayToObject(x, "own_arns");
        for (size_t k = 0; own && k < j->nrecs; k++)
            cJSON_AddItemToArray(own, cJSON_CreateString(j->recs[k].arn));
        cJSON_AddStringToObject(x, "pending_name", j->pending);
        cJSON_AddNumberToObject(x, "keep_last", j->s->keep_last);
        cJSON_AddNumberToObject(x, "keep_days", j->s->keep_days);
        cJSON_AddNumberToObject(x, "created", (double)j->created);
        cJSON_AddNumberToObject(x, "deleted", (double)j->deleted);
        cJSON_AddNumberToObject(x, "failed", (double)j->failed);
        cJSON_AddItemToArray(a, x);
    }
    return a;
}

void backup_metrics(struct evbuffer *b)
{
    if (!bks.n)
        return;
    evbuffer_add_printf(b, "# HELP regiond_backup_last_run_timestamp_seconds When each schedule last ran.\n"
                        "# TYPE regiond_backup_last_run_timestamp_seconds gauge\n");
    for (size_t i = 0; i < bks.n; i++)
        evbuffer_add_printf(b, "regiond_backup_last_run_timestamp_seconds{schedule=\"%s\",region=\"%s\"} %" PRId64 "\n",
                            bks.jobs[i].s->name, bks.cfg->regions[bks.jobs[i].region].name, bks.jobs[i].last_run_s);
    static const char *const names[] = {"created", "deleted", "failed"};
    evbuffer_add_printf(b, "# HELP regiond_backups_total Backups created, deleted by retention, and runs failed.\n"
                        "# TYPE regiond_backups_total counter\n");
    for (size_t i = 0; i < bks.n; i++) {
        const bk_job_t *j = &bks.jobs[i];
        uint64_t v[3] = {j->created, j->deleted, j->failed};
        for (int k = 0; k < 3; k++)
            evbuffer_add_printf(b, "regiond_backups_total{schedule=\"%s\",region=\"%s\",result=\"%s\"} %llu\n",
                                j->s->name, bks.cfg->regions[j->region].name, names[k], (unsigned long long)v[k]);
    }
}
