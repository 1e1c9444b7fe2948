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
 * Probes only report: findings go to health (targets_set_data_finding), the
 * gate's inputs to the controller (ddb_gate_ok). */
#ifndef REGIOND_DDB_PROBE_H
#define REGIOND_DDB_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>

#include "config/cfg.h"

int ddb_init(const cfg_t *cfg);
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

/* The JSON request helper other DynamoDB users share (backups, PITR):
 * POST / with X-Amz-Target DynamoDB_20120810.<op> (DynamoDB API reference,
 * "JSON protocol": Content-Type application/x-amz-json-1.0) to region i's
 * endpoint, signed for service dynamodb in that replica's AWS region.
 * body is taken over.  done runs once from the loop with the parsed answer
 * (valid during the call only) or an error line; not after ddb_cancel(). */
typedef struct ddb_req ddb_req_t;
typedef void (*ddb_done_fn)(void *arg, int ok, const cJSON *resp, const char *error,
                            double elapsed_ms);
ddb_req_t *ddb_call(const cfg_t *cfg, size_t region, const char *op, cJSON *body,
                    ddb_done_fn done, void *arg);
void ddb_cancel(ddb_req_t *r);

/* The same for an operation that must never run twice (CreateBackup): no
 * retry once an attempt may have reached DynamoDB.  unknown is true when it
 * failed without an answer that says what happened (a lost answer, a
 * timeout, a 5xx): it may have been applied, and the caller must look. */
typedef void (*ddb_once_fn)(void *arg, int ok, int unknown, const cJSON *resp, const char *error);
ddb_req_t *ddb_call_once(const cfg_t *cfg, size_t region, const char *op, cJSON *body,
                         ddb_once_fn done, void *arg);

#endif
