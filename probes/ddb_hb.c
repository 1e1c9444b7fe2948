/* ddb_hb — where the heartbeat items live and whether they may be written:
 * the key of writer W's item from the heartbeat table's key schema, and the
 * start-up check against DescribeTable (key types, reserved values,
 * Replicas covering every configured region).  DynamoDB API reference:
 * DescribeTable (KeySchema, AttributeDefinitions, Replicas[].RegionName),
 * AttributeValue (B is base64 in the JSON protocol). */
#include "probes/ddb.h"
#include "probes/ddb_int.h"

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

/* The String form of writer w's key: PREFIX#REGION#CONTROLLER. */
static void ddb_hb_text(size_t w, char *out, size_t len)
{
    snprintf(out, len, "%s#%s#%s", ddbs.cfg->dynamodb.heartbeat_key_prefix, ddbs.cfg->regions[w].name,
             ddbs.cfg->controller.id);
}

/* One key attribute's AttributeValue for writer w; -1 when it cannot be made. */
static int ddb_hb_value(cJSON *item, const char *name, char type, size_t w)
{
    char text[512], b64[700];
    cJSON *v = cJSON_AddObjectToObject(item, name);
    if (!v)
        return -1;
    ddb_hb_text(w, text, sizeof(text));
    switch (type) {
    case 'S':
        return cJSON_AddStringToObject(v, "S", text) ? 0 : -1;
    case 'B':
        EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)text, (int)strlen(text));
        return cJSON_AddStringToObject(v, "B", b64) ? 0 : -1;
    case 'N': {
        char *const *nk = ddbs.cfg->dynamodb.heartbeat_number_keys;
        return nk && nk[w] && cJSON_AddStringToObject(v, "N", nk[w]) ? 0 : -1;
    }
    default:
        return -1;
    }
}

int ddb_hb_key(cJSON *item, size_t w, size_t region)
{
    const ddb_region_t *r = &ddbs.r[region];
    if (ddb_hb_value(item, r->key_hash, r->hash_type[0], w) == -1)
        return -1;
    if (r->key_range[0] && ddb_hb_value(item, r->key_range, r->range_type[0], w) == -1)
        return -1;
    return 0;
}

static void ddb_hb_take_keys(ddb_region_t *r, const cJSON *table)
{
    const cJSON *k, *a;
    r->key_hash[0] = r->key_range[0] = '\0';
    r->hash_type[0] = r->range_type[0] = '\0';
    cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(table, "KeySchema")) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(k, "AttributeName");
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(k, "KeyType");
        if (!cJSON_IsString(n) || !cJSON_IsString(t))
            continue;
        bool hash = strcmp(t->valuestring, "HASH") == 0;
        snprintf(hash ? r->key_hash : r->key_range, sizeof(r->key_hash), "%s", n->valuestring);
        cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(table, "AttributeDefinitions")) {
            const cJSON *an = cJSON_GetObjectItemCaseSensitive(a, "AttributeName");
            const cJSON *at = cJSON_GetObjectItemCaseSensitive(a, "AttributeType");
            if (cJSON_IsString(an) && cJSON_IsString(at) && strcmp(an->valuestring, n->valuestring) == 0)
                snprintf(hash ? r->hash_type : r->range_type, 2, "%s", at->valuestring);
        }
    }
}

/* Can every writer get a reserved value for this key attribute? */
static void ddb_hb_check_attr(const char *role, const char *name, const char *type, char *why, size_t len)
{
    if (why[0])
        return;
    if (!name[0] || !type[0] || !strchr("SBN", type[0]) || type[1]) {
        snprintf(why, len, "%s key '%.100s' has no type S, N or B in AttributeDefinitions", role, name);
        return;
    }
    if (type[0] != 'N')
        return;   /* String and Binary: PREFIX#REGION#CONTROLLER, a prefix the application never uses */
    char *const *nk = ddbs.cfg->dynamodb.heartbeat_number_keys;
    for (size_t w = 0; w < ddbs.n; w++)
        if (!nk || !nk[w]) {
            snprintf(why, len, "%s key '%.100s' is a Number: dynamodb.heartbeat.number_keys must name a reserved "
                     "value for %s (none is made up: it could be an application item's key)", role, name,
                     ddbs.cfg->regions[w].name);
            return;
        }
}

/* Replicas[] (the other regions) plus the region asked must cover every configured AWS region. */
static void ddb_hb_check_replicas(size_t i, const cJSON *table, char *why, size_t len)
{
    for (size_t k = 0; k < ddbs.n && !why[0]; k++) {
        const char *want = ddbs.cfg->dynamodb.aws_regions[k];
        bool found = strcmp(want, ddbs.cfg->dynamodb.aws_regions[i]) == 0;
        const cJSON *rep;
        cJSON_ArrayForEach(rep, cJSON_GetObjectItemCaseSensitive(table, "Replicas")) {
            const cJSON *rn = cJSON_GetObjectItemCaseSensitive(rep, "RegionName");
            found |= cJSON_IsString(rn) && strcmp(rn->valuestring, want) == 0;
        }
        if (!found)
            snprintf(why, len, "has no replica in %s (Replicas as %s describes them)", want,
                     ddbs.cfg->dynamodb.aws_regions[i]);
    }
}

void ddb_hb_check(size_t i, const cJSON *table)
{
    ddb_region_t *r = &ddbs.r[i];
    char why[sizeof(r->hb_refused)] = "";
    ddb_hb_take_keys(r, table);
    if (!r->key_hash[0])
        snprintf(why, sizeof(why), "no HASH key in KeySchema");
    ddb_hb_check_attr("partition", r->key_hash, r->hash_type, why, sizeof(why));
    if (r->key_range[0])
        ddb_hb_check_attr("sort", r->key_range, r->range_type, why, sizeof(why));
    if (!why[0])
        ddb_hb_check_replicas(i, table, why, sizeof(why));
    if (why[0])
        snprintf(r->hb_refused, sizeof(r->hb_refused), "heartbeat table %.100s in %.64s: %.200s",
                 ddbs.cfg->dynamodb.heartbeat_table, ddbs.cfg->regions[i].name, why);
    else
        r->hb_refused[0] = '\0';
    r->keys_known = !why[0];
}
