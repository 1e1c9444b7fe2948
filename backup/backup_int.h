/* backup_int.h — private to the backup module: its state (backup.c writes
 * it, backup_view.c renders it). */
#ifndef REGIOND_BACKUP_INT_H
#define REGIOND_BACKUP_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "backup/backup.h"
#include "config/cron.h"
#include "aws/ddb_call.h"
#include "core/feed.h"
#include "backup/retention.h"
#include "core/state.h"

#define BK_FILE "backups.json"
#define BK_MAXJOBS 64
#define BK_MAXRECS 2048          /* backups one schedule keeps record of in one region */
#define BK_MAXLEGACY 4096
#define BK_MAXLIST 2048
#define BK_LOOKUPS 3             /* listings that look for a backup whose CreateBackup answer was lost */

typedef enum { JOB_IDLE = 0, JOB_RECORDING, JOB_CREATING, JOB_WAITING, JOB_LISTING, JOB_DELETING, JOB_LOOKUP } job_phase_t;

/* One backup this schedule created in this region: its ARN and the exact name it was made with. */
typedef struct {
    char *arn, *name;
    bool adopted;                 /* recorded before names carried the schedule id (exact name only) */
} bk_rec_t;

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
    bk_rec_t *recs;               /* what this schedule created here: retention only ever looks at these */
    size_t nrecs;
    char pending[260];            /* a name whose CreateBackup answer was lost; adopted by exact name */
    int64_t pending_s;            /* wall seconds when that run started */
    int lookups;                  /* listings made looking for it */
    bool lookup;                  /* the listing in progress looks for `pending` (no retention) */
    bool recovering;              /* that look-up is for a run a stop or crash interrupted */
    bool parked;                  /* a follower's run: it sends nothing until this instance leads again */
    bool park_relist;             /* on resuming: list again from the start (else: DescribeBackup) */
    int64_t parked_s;             /* wall seconds when it parked (shown) */
    uint64_t parked_mono;         /* monotonic ms when it parked (how long) */
    char park_reason[300];
} bk_job_t;

typedef struct {
    const cfg_t *cfg;
    bk_job_t jobs[BK_MAXJOBS];
    size_t n;
    char *legacy[BK_MAXLEGACY];   /* ARNs recorded before per-schedule records no schedule could claim */
    size_t nlegacy;
    cJSON *orphans;               /* records of schedules not in this config, kept for when they return */
    struct event *tick;
    unsigned gen;                 /* bumped when the jobs are rebuilt: a late callback finds its job gone */
} bks_t;

extern bks_t bks;

/* backup_state.c: state_dir/backups.json and the per-schedule records. */
void bk_save(void);                  /* through the writer thread, never waited for */
/* backup_replica.c: the records changed (bk_save): the daemon's hook. */
void bk_records_changed(void);
cJSON *bk_doc(void);                  /* the records as they are (NULL: out of memory) */
int bk_save_doc(const cJSON *doc, state_done_fn then, void *arg);
void bk_load(const cJSON *mem);       /* mem: a reload's records from memory; NULL: the file */
void bk_state_free(void);
const bk_rec_t *bk_rec_find(const bk_job_t *j, const char *arn);
int bk_rec_add(bk_job_t *j, const char *arn, const char *name);
void bk_rec_drop(bk_job_t *j, const char *arn);
void bk_recs_free(bk_job_t *j);
/* The backup name of a run at now_s; with prefix_only, only the part up to
 * and including "{schedule}." (what every name of this schedule starts with). */
void bk_name(const bk_job_t *j, int64_t now_s, bool prefix_only, char *out, size_t len);

/* backup.c: a run's event on the feed, its end, a wait before the next DescribeBackup. */
void bk_event(feed_ev_t type, const bk_job_t *j, const char *detail);
void bk_finish(bk_job_t *j, const char *result, bool failed);
void bk_wait(bk_job_t *j, int s);
/* Before each DynamoDB call of a run after CreateBackup (DescribeBackup,
 * ListBackups, DeleteBackup): true when this instance may not act (a
 * follower), and the run is parked instead of sending `call`; the tick
 * resumes it when the instance leads again, with a new listing when
 * `relist` (a listing or a retention plan made before parking is stale),
 * else with DescribeBackup. */
bool bk_parked(bk_job_t *j, const char *call, bool relist);

/* backup_list.c: list the schedule's backups (then look up a lost run, or
 * apply retention); free a listing. */
void bk_list(bk_job_t *j, const char *start);
void bk_free_list(bk_job_t *j);


#endif
