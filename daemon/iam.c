/* iam — see iam.h.  Each statement is scoped as tightly as its actions
 * allow (IAM reference, "Actions, resources, and condition keys for Amazon
 * Route 53"): ChangeResourceRecordSets and ListResourceRecordSets on the
 * hosted zone, the change batch further limited by the condition keys
 * route53:ChangeResourceRecordSetsNormalizedRecordNames, ...RecordTypes and
 * ...Actions; GetChange on every change id (change ids are not known in
 * advance).  The names and types include the fencing guard, a TXT record
 * (failover/route53_guard.c), which regiond writes only with a lease term
 * (route53_set_term); the three keys are independent sets, so the policy
 * cannot tie TXT to the guard's name alone (docs/safety.md, "Fencing").
 * With a cluster section: GetItem and PutItem on exactly the lease tables
 * (docs/ha.md). */
#include "daemon/iam.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "failover/route53.h"

static cJSON *iam_statement(cJSON *stmts, const char *sid, const char *const *actions, size_t n,
                            const char *resource)
{
    cJSON *s = cJSON_CreateObject();
    if (!s)
        return NULL;
    cJSON_AddStringToObject(s, "Sid", sid);
    cJSON_AddStringToObject(s, "Effect", "Allow");
    cJSON *a = cJSON_AddArrayToObject(s, "Action");
    for (size_t i = 0; a && i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(actions[i]));
    cJSON_AddStringToObject(s, "Resource", resource);
    cJSON_AddItemToArray(stmts, s);
    return s;
}

/* A name as the condition key compares it: without the final dot, lower case. */
static void iam_normalize(char *name)
{
    size_t l = strlen(name);
    if (l && name[l - 1] == '.')
        name[l - 1] = '\0';
    for (char *p = name; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
}

static void iam_route53(cJSON *stmts, const cfg_t *cfg)
{
    const cfg_route53_t *r = &cfg->route53;
    char zone[160], name[300], guard[300];
    snprintf(zone, sizeof(zone), "arn:aws:route53:::hostedzone/%s", r->hosted_zone_id);
    snprintf(name, sizeof(name), "%s", r->record_name);
    iam_normalize(name);
    bool have_guard = route53_guard_name(r->record_name, guard, sizeof(guard)) == 0;
    iam_normalize(guard);
    static const char *const change[] = {"route53:ChangeResourceRecordSets"};
    cJSON *s = iam_statement(stmts, "ChangeOnlyTheWeightedRecordSet", change, 1, zone);
    cJSON *cond = s ? cJSON_AddObjectToObject(s, "Condition") : NULL;
    cJSON *fav = cond ? cJSON_AddObjectToObject(cond, "ForAllValues:StringEquals") : NULL;
    if (fav) {
        /* A and AAAA of the name are one group to regiond (a drain moves both). */
        bool cname = strcmp(r->record_type, "CNAME") == 0;
        const char *names[] = {name, guard}, *acts[] = {"CREATE", "DELETE"};
        const char *types[] = {cname ? "CNAME" : "A", cname ? "TXT" : "AAAA", "TXT"};
        cJSON_AddItemToObject(fav, "route53:ChangeResourceRecordSetsNormalizedRecordNames",
                              cJSON_CreateStringArray(names, have_guard ? 2 : 1));
        cJSON_AddItemToObject(fav, "route53:ChangeResourceRecordSetsRecordTypes",
                              cJSON_CreateStringArray(types, (cname ? 1 : 2) + have_guard));
        cJSON_AddItemToObject(fav, "route53:ChangeResourceRecordSetsActions",
                              cJSON_CreateStringArray(acts, 2));
    }
    static const char *const list[] = {"route53:ListResourceRecordSets"};
    iam_statement(stmts, "ReadTheZonesRecords", list, 1, zone);
    static const char *const get[] = {"route53:GetChange"};
    iam_statement(stmts, "FollowChangesToInsyncChangeIdsAreNotKnownInAdvance", get, 1,
                  "arn:aws:route53:::change/*");
}

/* DynamoDB (IAM reference, "Actions, resources, and condition keys for
 * Amazon DynamoDB"): table actions on the table ARNs of every replica
 * region, backup actions on those tables' backup ARNs, and ListBackups,
 * which AWS does not scope by resource, alone on "*". */
static bool iam_in(const cfg_backup_t *b, const char *region)
{
    for (size_t k = 0; !b || k < b->n_regions; k++)
        if (!b || strcmp(b->regions[k], region) == 0)
            return true;
    return false;
}

/* Table (or backup) ARNs of TABLE in every replica region, or only in the
 * regions of backup schedule `only`. */
static void iam_add_arns(cJSON *a, const cfg_t *cfg, const char *table, const char *suffix,
                         const cfg_backup_t *only)
{
    const char *acct = cfg->aws.account_id ? cfg->aws.account_id : "ACCOUNT_ID";
    char arn[512];
    for (size_t i = 0; i < cfg->n_regions; i++) {
        if (!iam_in(only, cfg->regions[i].name))
            continue;
        snprintf(arn, sizeof(arn), "arn:aws:dynamodb:%s:%s:table/%s%s", cfg->dynamodb.aws_regions[i], acct,
                 table, suffix);
        bool dup = false;
        const cJSON *x;
        cJSON_ArrayForEach(x, a) dup |= strcmp(x->valuestring, arn) == 0;
        if (!dup)
            cJSON_AddItemToArray(a, cJSON_CreateString(arn));
    }
}

static void iam_dynamodb(cJSON *stmts, const cfg_t *cfg)
{
    const cfg_dynamodb_t *d = &cfg->dynamodb;
    static const char *const tbl[] = {"dynamodb:DescribeTable"};
    cJSON *s = iam_statement(stmts, "ReplicaHealthAndHeartbeatTableCheck", tbl, 1, "");
    cJSON *res = cJSON_CreateArray();
    iam_add_arns(res, cfg, d->table, "", NULL);
    iam_add_arns(res, cfg, d->heartbeat_table, "", NULL);
    cJSON_ReplaceItemInObject(s, "Resource", res);
    /* Item access only where the heartbeat lives: the dedicated table by default. */
    static const char *const hb[] = {"dynamodb:PutItem", "dynamodb:GetItem"};
    s = iam_statement(stmts, d->heartbeat_mode ? "HeartbeatItemsInTheApplicationTable"
                                                : "HeartbeatItemsInTheHeartbeatTable", hb, 2, "");
    res = cJSON_CreateArray();
    iam_add_arns(res, cfg, d->heartbeat_table, "", NULL);
    cJSON_ReplaceItemInObject(s, "Resource", res);
    if (d->n_backups || d->pitr_manage) {
        static const char *const bt[] = {"dynamodb:CreateBackup", "dynamodb:DescribeContinuousBackups",
                                         "dynamodb:UpdateContinuousBackups"};
        cJSON *b = iam_statement(stmts, "BackupsAndPointInTimeRecoveryOnTheTables", bt, 3, "");
        cJSON *r = cJSON_CreateArray();
        if (d->pitr_manage)
            iam_add_arns(r, cfg, d->table, "", NULL);
        for (size_t k = 0; k < d->n_backups; k++)
            iam_add_arns(r, cfg, d->backups[k].table, "", &d->backups[k]);
        cJSON_ReplaceItemInObject(b, "Resource", r);
    }
    if (d->n_backups) {
        static const char *const bk[] = {"dynamodb:DescribeBackup", "dynamodb:DeleteBackup"};
        cJSON *b = iam_statement(stmts, "FollowAndPruneTheTablesBackups", bk, 2, "");
        cJSON *r = cJSON_CreateArray();
        for (size_t k = 0; k < d->n_backups; k++)
            iam_add_arns(r, cfg, d->backups[k].table, "/backup/*", &d->backups[k]);
        cJSON_ReplaceItemInObject(b, "Resource", r);
        static const char *const lb[] = {"dynamodb:ListBackups"};
        iam_statement(stmts, "ListBackupsCannotBeScopedToAResourceByAWS", lb, 1, "*");
    }
}

/* The cluster's lease tables (cluster/lease_io.c): GetItem (a consistent
 * read of the lease item) and PutItem (every conditional write: take,
 * renew, release) on exactly each lease table in its own region; nothing
 * else touches them. */
static int iam_lease(cJSON *stmts, const cfg_t *cfg)
{
    static const char *const acts[] = {"dynamodb:GetItem", "dynamodb:PutItem"};
    const char *acct = cfg->aws.account_id ? cfg->aws.account_id : "ACCOUNT_ID";
    cJSON *s = iam_statement(stmts, "ClusterLeaseItemsInTheLeaseTables", acts, 2, "");
    cJSON *res = s ? cJSON_CreateArray() : NULL;
    if (!res || !cJSON_ReplaceItemInObject(s, "Resource", res)) {
        cJSON_Delete(res);
        return -1;
    }
    char arn[512];
    for (size_t i = 0; i < cfg->cluster.n_tables; i++) {
        snprintf(arn, sizeof(arn), "arn:aws:dynamodb:%s:%s:table/%s", cfg->cluster.tables[i].region, acct,
                 cfg->cluster.tables[i].table);
        cJSON *x = cJSON_CreateString(arn);
        if (!x)
            return -1;
        cJSON_AddItemToArray(res, x);
    }
    return 0;
}

char *iam_policy(const cfg_t *cfg)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON *stmts = doc ? cJSON_AddArrayToObject(doc, "Statement") : NULL;
    if (!stmts) {
        cJSON_Delete(doc);
        return NULL;
    }
    cJSON_AddStringToObject(doc, "Version", "2012-10-17");
    /* Version first for people reading it. */
    cJSON *v = cJSON_DetachItemFromObject(doc, "Version");
    cJSON_AddItemToObject(doc, "Version", v);
    if (cfg->route53.enabled)
        iam_route53(stmts, cfg);
    if (cfg->dynamodb.enabled)
        iam_dynamodb(stmts, cfg);
    if (cfg->cluster.enabled && iam_lease(stmts, cfg) == -1) {
        cJSON_Delete(doc);
        return NULL;
    }
    char *s = cJSON_Print(doc);
    cJSON_Delete(doc);
    return s;
}

void iam_print_notes(const cfg_t *cfg, FILE *f)
{
    const cfg_dynamodb_t *d = &cfg->dynamodb;
    if (!d->enabled || d->heartbeat_mode != 0)
        return;
    fprintf(f, "regiond: the heartbeat needs the global table %s in every configured region; create it once "
            "(see the README, \"The heartbeat table\"):\n"
            "  aws dynamodb create-table --region %s --table-name %s --billing-mode PAY_PER_REQUEST \\\n"
            "    --attribute-definitions AttributeName=pk,AttributeType=S --key-schema AttributeName=pk,KeyType=HASH \\\n"
            "    --stream-specification StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES\n",
            d->heartbeat_table, d->aws_regions[0], d->heartbeat_table);
    for (size_t i = 1; i < cfg->n_regions; i++)
        fprintf(f, "  aws dynamodb update-table --region %s --table-name %s --replica-updates "
                "'[{\"Create\": {\"RegionName\": \"%s\"}}]'   # wait for ACTIVE between replicas\n",
                d->aws_regions[0], d->heartbeat_table, d->aws_regions[i]);
}
