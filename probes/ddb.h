/* ddb_probe — the data layer under the API: per region, DescribeTable
 * (TableStatus, GlobalTableVersion, Replicas[]) on a slow timer, and a
 * heartbeat that measures global-table replication lag: every region writes
 * its own item (one per writer region and controller, so last-writer-wins
 * never makes them collide) holding a sequence number; every other region
 * reads it with ConsistentRead until the new sequence appears.
 *
 * Lag is measured on this daemon's one monotonic clock: from the end of the
 * PutItem that wrote sequence s in region W to the start of the first
 * GetItem in region R that returned s or later.  No wall clocks of different
 * machines are compared, so clock skew does not enter; the figure is exact to
 * within one read interval (dynamodb.heartbeat.read_interval_ms).
 *
 * Probes only report, up through the notify callback given to ddb_init():
 * a region's finding (for its health), and that the gate's verdict for some
 * region changed (the controller reads it with ddb_gate_ok). */
#ifndef REGIOND_DDB_PROBE_H
#define REGIOND_DDB_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>

#include "config/cfg.h"

/* What the probe reports up (the daemon routes it: findings to the region's
 * health, gate changes to the controller). */
typedef enum {
    DDB_NOTE_FINDING,   /* region's finding changed: sev 0 none, 1 degraded, 2 down; finding "" when none */
    DDB_NOTE_GATE,      /* the gate's verdict for some region changed: look again */
} ddb_note_kind_t;

typedef struct {
    ddb_note_kind_t kind;
    size_t region;         /* DDB_NOTE_FINDING only */
    int sev;               /* DDB_NOTE_FINDING only */
    const char *finding;   /* DDB_NOTE_FINDING only; valid during the call */
} ddb_note_t;

typedef void (*ddb_notify_fn)(const ddb_note_t *note);

/* notify may not be NULL; it is called from the loop, also from within
 * ddb_init() and ddb_configure() (every region's finding cleared). */
int ddb_init(const cfg_t *cfg, ddb_notify_fn notify);
void ddb_configure(const cfg_t *cfg);
void ddb_fini(void);

/* May traffic move to region i? (replica ACTIVE, no finding, replication
 * lag into it under dynamodb.rpo_ms).  Always true when DynamoDB is not
 * watched.  why: the reason when false. */
bool ddb_gate_ok(size_t i, char *why, size_t whylen);

/* Current replication lag into region i (max over writers), ms; -1 unknown. */
int64_t ddb_lag_to_ms(size_t i);

cJSON *ddb_status_json(void);
void ddb_metrics(struct evbuffer *b);

#endif
