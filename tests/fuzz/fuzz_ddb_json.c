/* libFuzzer target: DynamoDB's JSON answers.
 *
 * What it covers: the daemon parses every DynamoDB answer with
 * cJSON_ParseWithLength (probes/ddb_call.c) and then reads it with cJSON
 * getters in callbacks that also touch the daemon's global state (probes/ddb.c,
 * backup/backup.c, backup/pitr.c), so they cannot be called alone.  This
 * target parses the input the same way and then runs COPIES of those member
 * walks, keeping the same getters, type checks, casts and snprintf bounds:
 *   GetItem              Item.hb_seq.N -> strtoull          (ddb_on_read)
 *   DescribeTable        Table.TableStatus/GlobalTableVersion/Replicas[],
 *                        KeySchema[] x AttributeDefinitions[] (ddb_on_describe,
 *                        ddb_take_keys)
 *   ListBackups          BackupSummaries[] -> created_s = (int64_t)double,
 *                        LastEvaluatedBackupArn             (bk_on_list)
 *   DescribeBackup       BackupDescription.BackupDetails.BackupStatus
 *   CreateBackup         BackupDetails.BackupArn
 *   DescribeContinuousBackups  ContinuousBackupsDescription.
 *                        PointInTimeRecoveryDescription.*   (pt_on_describe)
 * Keep these in step with the code when the walks change.  It does not
 * cover the daemon's reactions (events, alarms, retention planning). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "retention.h"

#define G cJSON_GetObjectItemCaseSensitive

/* backup/backup.c bk_on_list: created_s from a JSON number (epoch seconds),
 * the same conversion the code does (it was a plain (int64_t) cast: the
 * first bug this target found, see docs/fuzzing.md) */
static int64_t created_s_of(double v)
{
    return ret_epoch_s(v);
}

static void get_item(const cJSON *resp)
{
    const cJSON *item = G(resp, "Item");
    const cJSON *seq = G(G(item, "hb_seq"), "N");
    if (cJSON_IsString(seq))
        (void)strtoull(seq->valuestring, NULL, 10);
}

static void take_keys(const cJSON *table)
{
    char key_hash[256], key_range[256], hash_type[2], range_type[2];
    const cJSON *k, *a;
    key_hash[0] = key_range[0] = '\0';
    cJSON_ArrayForEach(k, G(table, "KeySchema")) {
        const cJSON *n = G(k, "AttributeName");
        const cJSON *t = G(k, "KeyType");
        if (!cJSON_IsString(n) || !cJSON_IsString(t))
            continue;
        char *dst = strcmp(t->valuestring, "HASH") == 0 ? key_hash : key_range;
        snprintf(dst, sizeof(key_hash), "%s", n->valuestring);
        cJSON_ArrayForEach(a, G(table, "AttributeDefinitions")) {
            const cJSON *an = G(a, "AttributeName");
            const cJSON *at = G(a, "AttributeType");
            if (cJSON_IsString(an) && cJSON_IsString(at) && strcmp(an->valuestring, n->valuestring) == 0)
                snprintf(dst == key_hash ? hash_type : range_type, 2, "%s", at->valuestring);
        }
    }
}

static void describe_table(const cJSON *resp)
{
    char table_status[32], global_version[16], replica_status[48];
    const cJSON *t = G(resp, "Table");
    const cJSON *st = G(t, "TableStatus");
    const cJSON *gv = G(t, "GlobalTableVersion");
    snprintf(table_status, sizeof(table_status), "%s", cJSON_IsString(st) ? st->valuestring : "?");
    snprintf(global_version, sizeof(global_version), "%s", cJSON_IsString(gv) ? gv->valuestring : "");
    take_keys(t);
    const cJSON *rep;
    cJSON_ArrayForEach(rep, G(t, "Replicas")) {
        const cJSON *rn = G(rep, "RegionName");
        const cJSON *rs = G(rep, "ReplicaStatus");
        const cJSON *since = G(rep, "ReplicaInaccessibleDateTime");
        if (!cJSON_IsString(rn) || !cJSON_IsString(rs))
            continue;
        if (cJSON_IsNumber(since) && strcmp(rs->valuestring, "ACTIVE") != 0)
            snprintf(replica_status, sizeof(replica_status), "%.24s since %.0f", rs->valuestring,
                     since->valuedouble);
        else
            snprintf(replica_status, sizeof(replica_status), "%s", rs->valuestring);
    }
}

static void list_backups(const cJSON *resp)
{
    const cJSON *s;
    size_t n = 0;
    cJSON_ArrayForEach(s, G(resp, "BackupSummaries")) {
        const cJSON *arn = G(s, "BackupArn");
        const cJSON *nm = G(s, "BackupName");
        const cJSON *st = G(s, "BackupStatus");
        const cJSON *ct = G(s, "BackupCreationDateTime");
        if (!cJSON_IsString(arn) || !cJSON_IsString(nm) || n >= 1000)
            continue;
        char *a = strdup(arn->valuestring), *b = strdup(nm->valuestring);
        volatile int64_t created = cJSON_IsNumber(ct) ? created_s_of(ct->valuedouble) : 0;
        volatile int avail = cJSON_IsString(st) && strcmp(st->valuestring, "AVAILABLE") == 0;
        (void)created;
        (void)avail;
        free(a);
        free(b);
        n++;
    }
    const cJSON *next = G(resp, "LastEvaluatedBackupArn");
    (void)cJSON_IsString(next);
}

static void backup_answers(const cJSON *resp)
{
    const cJSON *d = G(G(resp, "BackupDescription"), "BackupDetails");
    const cJSON *st = G(d, "BackupStatus");
    (void)(cJSON_IsString(st) && strcmp(st->valuestring, "AVAILABLE") == 0);
    const cJSON *arn = G(G(resp, "BackupDetails"), "BackupArn");
    char last_arn[256];
    if (cJSON_IsString(arn))
        snprintf(last_arn, sizeof(last_arn), "%s", arn->valuestring);
}

static void pitr(const cJSON *resp)
{
    char status[16];
    const cJSON *d = G(G(resp, "ContinuousBackupsDescription"), "PointInTimeRecoveryDescription");
    const cJSON *st = G(d, "PointInTimeRecoveryStatus");
    const cJSON *e = G(d, "EarliestRestorableDateTime");
    const cJSON *l = G(d, "LatestRestorableDateTime");
    const cJSON *p = G(d, "RecoveryPeriodInDays");
    snprintf(status, sizeof(status), "%s", cJSON_IsString(st) ? st->valuestring : "");
    volatile double latest = cJSON_IsNumber(l) ? l->valuedouble : 0;
    volatile double earliest = cJSON_IsNumber(e) ? e->valuedouble : 0;
    volatile int period = cJSON_IsNumber(p) ? p->valueint : 0;
    (void)latest;
    (void)earliest;
    (void)period;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *j = cJSON_ParseWithLength((const char *)data, size);
    if (!j)
        return 0;
    get_item(j);
    describe_table(j);
    list_backups(j);
    backup_answers(j);
    pitr(j);
    cJSON_Delete(j);
    return 0;
}
