/* cfg_cluster.c — the "cluster" section: several controllers, one leader,
 * by a majority lease over plain regional DynamoDB tables (cluster/lease.h,
 * docs/ha.md).  The timing bounds carry the clock assumption: each host's
 * monotonic clock runs within 5 % of the true rate, so a margin of a tenth
 * of the lease covers a holder that runs slow and an acquirer that runs fast
 * (2 * 0.05 / 1.05 < 0.1); wall clocks are never compared between hosts. */
#include "config/cfg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

static const char *const cluster_keys[] = { "instance_id", "advertise_url", "name", "lease_tables",
                                            "lease_ms", "renew_ms", "margin_ms", "quorum", "follow_ms",
                                            "former_name", NULL };
static const char *const table_keys[] = { "region", "table", NULL };

/* A DynamoDB table name: [A-Za-z0-9_.-]{3,255} (API reference, CreateTable). */
static bool table_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 3 || n > 255)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')
              || *p == '_' || *p == '.' || *p == '-'))
            return false;
    return true;
}

static int advertise(cfg_ctx_t *c, const cJSON *o, cfg_cluster_t *k)
{
    const cJSON *v = cfg_member(o, "advertise_url");
    if (!v)
        return 0;
    if (!cJSON_IsString(v) || cfg_str_value(c, v, "cluster.advertise_url", CFG_S_NONEMPTY | CFG_S_NOCTRL) == -1)
        return cfg_expect(c, "cluster.advertise_url", "an http:// or https:// URL with a host", v);
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    int ok = u && curl_url_set(u, CURLUPART_URL, v->valuestring, 0) == CURLUE_OK
             && curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK
             && curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK
             && (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0) && *host
             && strlen(v->valuestring) <= 512;
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    if (!ok)
        return cfg_expect(c, "cluster.advertise_url", "an http:// or https:// URL with a host "
                          "(at most 512 bytes)", v);
    k->advertise_url = cfg_xstrdup(v->valuestring);
    return 0;
}

static int lease_table(cfg_ctx_t *c, const cJSON *o, const char *tp, cfg_lease_table_t *t)
{
    char path[CFG_PATH_MAX];
    if (!cJSON_IsObject(o))
        return cfg_expect(c, tp, "an object {\"region\", \"table\"}", o);
    if (cfg_keys(c, o, tp, table_keys) == -1
        || cfg_get_str(c, o, tp, "region", CFG_S_NAME, &t->region) == -1
        || cfg_get_str(c, o, tp, "table", CFG_S_NONEMPTY | CFG_S_NOCTRL, &t->table) == -1)
        return -1;
    if (!t->region)
        return cfg_fail(c, tp, "expected a \"region\" (an AWS region name)");
    cfg_key_path(path, tp, "table");
    if (!t->table)
        return cfg_fail(c, path, "expected a DynamoDB table name (it is required)");
    if (!table_name_ok(t->table))
        return cfg_expect(c, path, "a DynamoDB table name of 3 to 255 characters [A-Za-z0-9_.-]",
                          cfg_member(o, "table"));
    return 0;
}

static int lease_tables(cfg_ctx_t *c, const cJSON *o, cfg_cluster_t *k)
{
    const cJSON *v = cfg_member(o, "lease_tables");
    char path[CFG_PATH_MAX];
    int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
    if (n != 1 && n != 3 && n != 5)
        return cfg_expect(c, "cluster.lease_tables", "a list of 1, 3 or 5 {\"region\", \"table\"} "
                          "objects (a majority must exist and be unique)", v);
    k->tables = cfg_xcalloc((size_t)n, sizeof(*k->tables));
    k->n_tables = (size_t)n;
    for (size_t i = 0; i < k->n_tables; i++) {
        cfg_idx_path(path, "cluster.lease_tables", i);
        if (lease_table(c, cJSON_GetArrayItem(v, (int)i), path, &k->tables[i]) == -1)
            return -1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(k->tables[j].region, k->tables[i].region) == 0) {
                cfg_key_path(path, path, "region");
                return cfg_fail(c, path, "expected a region of its own, got \"%s\" (also "
                                "cluster.lease_tables[%zu].region): one table per region",
                                k->tables[i].region, j);
            }
    }
    return 0;
}

/* renew_ms * 3 < lease_ms; lease_ms / 10 <= margin_ms; margin_ms * 2 < lease_ms. */
static int timing(cfg_ctx_t *c, const cJSON *o, cfg_cluster_t *k)
{
    if (cfg_get_u32(c, o, "cluster", "lease_ms", 1000, 600000, &k->lease_ms) == -1
        || cfg_get_u32(c, o, "cluster", "renew_ms", 100, 200000, &k->renew_ms) == -1
        || cfg_get_u32(c, o, "cluster", "margin_ms", 100, 300000, &k->margin_ms) == -1
        || cfg_get_u32(c, o, "cluster", "follow_ms", 100, 200000, &k->follow_ms) == -1)
        return -1;
    if ((uint64_t)k->renew_ms * 3 >= k->lease_ms)
        return cfg_fail(c, "cluster.renew_ms", "expected less than a third of cluster.lease_ms (%u), "
                        "got %u", k->lease_ms, k->renew_ms);
    if ((uint64_t)k->margin_ms * 2 >= k->lease_ms)
        return cfg_fail(c, "cluster.margin_ms", "expected less than half of cluster.lease_ms (%u), "
                        "got %u", k->lease_ms, k->margin_ms);
    if ((uint64_t)k->margin_ms * 10 < k->lease_ms)
        return cfg_fail(c, "cluster.margin_ms", "expected at least a tenth of cluster.lease_ms (%u: "
                        "clocks may run 5 %% fast or slow), got %u", k->lease_ms, k->margin_ms);
    return 0;
}

/* cluster.former_name: the name the cluster had before a rename (docs/ha.md,
 * "Renaming the cluster"): a lease item key of 1 to 255 bytes, not the name. */
static int former_name(cfg_ctx_t *c, const cJSON *o, cfg_cluster_t *k)
{
    const cJSON *v = cfg_member(o, "former_name");
    const char *name = k->name ? k->name : "regiond";
    if (!v)
        return 0;
    if (!cJSON_IsString(v) || cfg_str_value(c, v, "cluster.former_name", CFG_S_NONEMPTY | CFG_S_NOCTRL) == -1
        || strlen(v->valuestring) > 255)
        return cfg_expect(c, "cluster.former_name", "the cluster's name before a rename: a lease item key of 1 "
                          "to 255 bytes", v);
    if (strcmp(v->valuestring, name) == 0)
        return cfg_fail(c, "cluster.former_name", "expected the name before a rename, not cluster.name itself "
                        "(\"%s\"): remove former_name when no rename is under way", name);
    k->former_name = cfg_xstrdup(v->valuestring);
    return 0;
}

int cfg_build_cluster(cfg_ctx_t *c, const cJSON *root, cfg_t *cfg)
{
    const cJSON *o = NULL;
    cfg_cluster_t *k = &cfg->cluster;
    k->lease_ms = 10000;
    k->renew_ms = 2000;
    k->margin_ms = 2000;
    k->follow_ms = 1000;
    if (cfg_get_section(c, root, "", "cluster", cluster_keys, &o) == -1)
        return -1;
    if (!o)
        return 0;
    k->enabled = true;
    if (cfg_get_str(c, o, "cluster", "instance_id", CFG_S_NAME, &k->instance_id) == -1
        || cfg_get_str(c, o, "cluster", "name", CFG_S_NONEMPTY | CFG_S_NOCTRL, &k->name) == -1
        || advertise(c, o, k) == -1 || lease_tables(c, o, k) == -1 || timing(c, o, k) == -1)
        return -1;
    if (k->name && strlen(k->name) > 255)
        return cfg_expect(c, "cluster.name", "a lease item key of 1 to 255 bytes", cfg_member(o, "name"));
    if (former_name(c, o, k) == -1)
        return -1;
    if (!k->instance_id)
        k->instance_id = cfg_xstrdup(cfg->controller.id);
    if (!k->name)
        k->name = cfg_xstrdup("regiond");
    return cfg_build_quorum(c, o, k);
}

void cfg_free_cluster(cfg_t *cfg)
{
    cfg_cluster_t *k = &cfg->cluster;
    for (size_t i = 0; k->tables && i < k->n_tables; i++) {
        free(k->tables[i].region);
        free(k->tables[i].table);
    }
    free(k->tables);
    free(k->instance_id);
    free(k->advertise_url);
    free(k->name);
    free(k->former_name);
    cfg_free_quorum(k);
    memset(k, 0, sizeof(*k));
}
