/* backup_int.h — private to the backup module: its state (backup.c writes
 * it, backup_view.c renders it). */
#ifndef REGIOND_BACKUP_INT_H
#define REGIOND_BACKUP_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "backup.h"
#include "cron.h"
#include "ddb.h"
#include "retention.h"

#define BK_FILE "backups.json"
#define BK_MAXJOBS 64
#define BK_MAXOURS 4096
#define BK_MAXLIST 2048

typedef enum { JOB_IDLE = 0, JOB_CREATING, JOB_WAITING, JOB_LISTING, JOB_DELETING } job_phase_t;

typedef struct {
    const cfg_backup_t *s;
    size_t region;                /* index into cfg->regions */
    char key[200];                /* "SCHEDULE@REGION" */
    cron_t cron;
    int64_t last_run_s;           /* wall seconds of the last run (0: never) */
    char last_result[300];
    char last_name[260], last_arn[300];
    int64_t started_mono;
    job_phase_t phase;
    ddb_req_t *req;
    struct event *poll;
    ret_backup_t *list;           /* listing being collected for retention */
    char **list_store;            /* strings of `list` */
    size_t nlist;
    size_t del_next;
    bool *del;
    uint64_t created, deleted, failed;
} bk_job_t;

typedef struct {
    const cfg_t *cfg;
    bk_job_t jobs[BK_MAXJOBS];
    size_t n;
    char *ours[BK_MAXOURS];       /* ARNs of backups regiond created */
    size_t nours;
    struct event *tick;
} bks_t;

extern bks_t bks;


#endif
