/* ddb_int.h — private to the DynamoDB probe: its state (ddb.c writes it,
 * ddb_view.c renders it). */
#ifndef REGIOND_DDB_INT_H
#define REGIOND_DDB_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "aws/ddb_call.h"
#include "config/cfg.h"
#include "core/hist.h"
#include "probes/ddb.h"

#define DDB_MAXR 16
#define DDB_RING 64

typedef struct {
    uint64_t seq[DDB_RING], mono[DDB_RING];   /* our writes: sequence -> end of PutItem */
    size_t n, head;
} ddb_ring_t;

typedef struct {
    uint64_t seen_seq;            /* newest sequence of the writer seen here */
    uint64_t seen_write_mono;     /* when that sequence was written */
    double last_lag_ms;           /* -1 until measured */
    hist_prom_t lag;              /* seconds */
    ddb_req_t *req;
    uint64_t req_mono;            /* start of the read in flight */
    char error[200];
} ddb_pair_t;

typedef struct {
    char table_status[32];
    char replica_status[48];      /* this replica's status as the regions describe it */
    char global_version[16];
    int64_t described_wall_ms;
    char describe_error[300];
    char key_hash[256], key_range[256];
    char hash_type[2], range_type[2];
    bool keys_known;              /* the heartbeat table passed the check here (ddb_hb_check) */
    char hb_refused[400];         /* why the heartbeat table fails the check here, "" when fine */
    char hb_collision[400];       /* a conditional write found a foreign item at our key (kept until reload) */
    char hb_error[300];           /* the heartbeat table could not be described (transient) */
    ddb_req_t *desc_req, *keys_req, *write_req;
    uint64_t next_seq;
    ddb_ring_t writes;
    uint64_t last_written_seq;
    uint64_t seq_base;            /* this run's first sequence is seq_base + 1 */
    ewma_t write_ms, read_ms;
    char write_error[300];
    uint64_t write_fail_since;    /* mono ms of the first failure in a row, 0 when fine */
    char finding[320];            /* "" when fine */
} ddb_region_t;

typedef struct {
    const cfg_t *cfg;
    size_t n;
    ddb_region_t r[DDB_MAXR];
    ddb_pair_t p[DDB_MAXR][DDB_MAXR];  /* [writer][reader] */
    struct event *desc_timer, *write_timer, *read_timer;
    bool on;
    char hb_off[420];             /* why no heartbeat runs at all, "" when it may */
    ddb_notify_fn notify;         /* up: findings and gate changes (ddb_init) */
} ddbs_t;

extern ddbs_t ddbs;

int64_t ddb_pair_lag(size_t w, size_t r, uint64_t now);

/* ddb_hb.c: writer w's key for a request to region (its key schema); -1
 * when it cannot be made.  And the check of the heartbeat table as region
 * i describes it: sets keys_known and hb_refused. */
int ddb_hb_key(cJSON *item, size_t w, size_t region);
void ddb_hb_check(size_t i, const cJSON *table);

#endif
