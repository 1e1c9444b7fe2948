/* ddb_call — DynamoDB's JSON protocol over the AWS client, shared by the
 * DynamoDB probe (probes/ddb) and backups (backup/).
 *
 * An answer that is not JSON is an error ("invalid JSON in the answer");
 * the AWS error of a failed call (its __type and message) is decoded by the
 * client (aws/client_retry.c). */
#ifndef REGIOND_DDB_CALL_H
#define REGIOND_DDB_CALL_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "aws/client.h"
#include "config/cfg.h"

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

/* A send window for the call (aws_set_window): no attempt of it starts
 * once until(arg) is reached; the call then fails with "not sent: WHAT
 * (...)" and, for ddb_call_once, unknown = 0 (every earlier attempt was
 * refused or never connected: nothing was done). */
void ddb_set_window(ddb_req_t *d, aws_window_fn until, void *arg, const char *what);

/* The same two in an AWS region by name, which need not be a configured
 * region's (the cluster's lease tables, cluster/lease.h); the endpoint is
 * cfg_aws_endpoint("dynamodb", aws_region) or the region's public one. */
ddb_req_t *ddb_call_at(const char *aws_region, const char *op, cJSON *body, ddb_done_fn done, void *arg);
ddb_req_t *ddb_call_once_at(const char *aws_region, const char *op, cJSON *body,
                            ddb_once_fn done, void *arg);

#endif
