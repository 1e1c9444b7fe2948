/* iam — see iam.h.  Each statement is scoped as tightly as its actions
 * allow (IAM reference, "Actions, resources, and condition keys for Amazon
 * Route 53"): ChangeResourceRecordSets and ListResourceRecordSets on the
 * hosted zone, the change batch further limited by the condition keys
 * route53:ChangeResourceRecordSetsNormalizedRecordNames, ...RecordTypes and
 * ...Actions; GetChange on every change id (change ids are not known in
 * advance). */
#include "iam.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

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

static void iam_route53(cJSON *stmts, const cfg_t *cfg)
{
    const cfg_route53_t *r = &cfg->route53;
    char zone[160], name[300];
    snprintf(zone, sizeof(zone), "arn:aws:route53:::hostedzone/%s", r->hosted_zone_id);
    snprintf(name, sizeof(name), "%s", r->record_name);
    size_t l = strlen(name);
    if (l && name[l - 1] == '.')
        name[l - 1] = '\0';   /* the condition key compares names without the final dot, lower case */
    for (char *p = name; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    static const char *const change[] = {"route53:ChangeResourceRecordSets"};
    cJSON *s = iam_statement(stmts, "ChangeOnlyTheWeightedRecordSet", change, 1, zone);
    cJSON *cond = s ? cJSON_AddObjectToObject(s, "Condition") : NULL;
    cJSON *fav = cond ? cJSON_AddObjectToObject(cond, "ForAllValues:StringEquals") : NULL;
    if (fav) {
        const char *names[] = {name}, *types[] = {r->record_type}, *acts[] = {"CREATE", "DELETE"};
        cJSON_AddItemToObject(fav, "route53:ChangeResourceRecordSetsNormalizedRecordNames",
                              cJSON_CreateStringArray(names, 1));
        cJSON_AddItemToObject(fav, "route53:ChangeResourceRecordSetsRecordTypes",
                              cJSON_CreateStringArray(types, 1));
        cJSON_AddItemToObject(fav, "route53:ChangeResourceRecordSetsActions",
                              cJSON_CreateStringArray(acts, 2));
    }
    static const char *const list[] = {"route53:ListResourceRecordSets"};
    iam_statement(stmts, "ReadTheZonesRecords", list, 1, zone);
    static const char *const get[] = {"route53:GetChange"};
    iam_statement(stmts, "FollowChangesToInsyncChangeIdsAreNotKnownInAdvance", get, 1,
                  "arn:aws:route53:::change/*");
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
    char *s = cJSON_Print(doc);
    cJSON_Delete(doc);
    return s;
}
