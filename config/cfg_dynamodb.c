/* cfg_dynamodb.c — the "dynamodb" section: the global table under the API,
 * the heartbeat that measures replication lag, the data-safety gate, backup
 * schedules and point-in-time recovery; and regions[].dynamodb.  Ranges are
 * documented in docs/config.md; keep the two in step. */
#include "config/cfg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/cron.h"

static const char *const ddb_keys[] = { "table", "describe_interval_s", "heartbeat", "rpo_ms", "gate",
                                        "finding", "stale_after_s", "backups", "pitr", NULL };
static const char *const hb_keys[] = { "mode", "table", "key_prefix", "number_keys", "interval_ms",
                                       "read_interval_ms", NULL };
static const char *const hb_modes[] = { "table", "application", NULL };
static const char *const backup_keys[] = { "name", "table", "regions", "schedule", "name_template",
                                           "keep_last", "keep_days", "available_timeout_s", NULL };
static const char *const pitr_keys[] = { "enabled", "recovery_period_days", "check_interval_s", NULL };
static const char *const region_ddb_keys[] = { "region", NULL };
static const char *const gates[] = { "gate", "warn", "off", NULL };
static const char *const findings[] = { "degraded", "down", "none", NULL };

/* A DynamoDB table name: 3-255 of [A-Za-z0-9_.-]. */
static int table_name(cfg_ctx_t *c, const cJSON *o, const char *parent, const char *key, char **out)
{
    char path[CFG_PATH_MAX];
    if (cfg_get_str(c, o, parent, key, CFG_S_NONEMPTY | CFG_S_NOCTRL, out) == -1)
        return -1;
    if (!*out)
        return 0;
    size_t n = strlen(*out);
    cfg_key_path(path, parent, key);
    if (n < 3 || n > 255 || strspn(*out, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") != n)
        return cfg_expect(c, path, "a DynamoDB table name (3 to 255 of A-Z a-z 0-9 _ . -)", cfg_member(o, key));
    return 0;
}

#define ID_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
#define CFG_BACKUP_TEMPLATE "regiond-{table}-{schedule}.{utc:%Y%m%dT%H%MZ}"

static int region_index(const cfg_t *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_regions; i++)
        if (strcmp(cfg->regions[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* The longest name bk_name can make from b's template (DynamoDB: at most 255):
 * the longest region listed, and a time whose %A and %B are the longest. */
static size_t backup_name_max(const cfg_backup_t *b)
{
    size_t n = 0, region = 0;
    for (size_t i = 0; i < b->n_regions; i++)
        region = strlen(b->regions[i]) > region ? strlen(b->regions[i]) : region;
    struct tm tm = {.tm_year = 126, .tm_mon = 8, .tm_mday = 30, .tm_hour = 23, .tm_min = 59, .tm_sec = 59,
                    .tm_wday = 3, .tm_yday = 272};   /* Wednesday 30 September 2026 */
    for (const char *t = b->name_template; *t;) {
        const char *end = strchr(t, '}');
        if (strncmp(t, "{table}", 7) == 0) {
            n += strlen(b->table), t += 7;
        } else if (strncmp(t, "{region}", 8) == 0) {
            n += region, t += 8;
        } else if (strncmp(t, "{schedule}", 10) == 0) {
            n += strlen(b->id), t += 10;
        } else if (strncmp(t, "{utc:", 5) == 0 && end) {
            char fmt[64], buf[64];
            snprintf(fmt, sizeof(fmt), "%.*s", (int)(end - t - 5), t + 5);
            n += strftime(buf, sizeof(buf), fmt, &tm);
            t = end + 1;
        } else {
            n++, t++;
        }
    }
    return n;
}

static int backup(cfg_ctx_t *c, const cJSON *o, const char *bp, size_t idx, const cfg_t *cfg, cfg_backup_t *b)
{
    char path[CFG_PATH_MAX], ip[CFG_PATH_MAX], err[256];
    if (!cJSON_IsObject(o))
        return cfg_expect(c, bp, "an object describing a backup schedule", o);
    b->available_timeout_s = 3600;
    if (cfg_keys(c, o, bp, backup_keys) == -1
        || cfg_get_str(c, o, bp, "name", CFG_S_NAME, &b->name) == -1
        || table_name(c, o, bp, "table", &b->table) == -1
        || cfg_get_str(c, o, bp, "schedule", CFG_S_NONEMPTY | CFG_S_NOCTRL, &b->schedule) == -1
        || cfg_get_str(c, o, bp, "name_template", CFG_S_NONEMPTY | CFG_S_NOCTRL, &b->name_template) == -1
        || cfg_get_u32(c, o, bp, "keep_last", 0, 1000, &b->keep_last) == -1
        || cfg_get_u32(c, o, bp, "keep_days", 0, 3650, &b->keep_days) == -1
        || cfg_get_u32(c, o, bp, "available_timeout_s", 60, 86400, &b->available_timeout_s) == -1)
        return -1;
    if (!b->name) {
        char n[32];
        snprintf(n, sizeof n, "backups[%zu]", idx);
        b->name = cfg_xstrdup(n);
    }
    if (!b->table)
        b->table = cfg_xstrdup(cfg->dynamodb.table);
    if (!b->name_template)
        b->name_template = cfg_xstrdup(CFG_BACKUP_TEMPLATE);
    b->id = cfg_xstrdup(b->name);
    for (char *p = b->id; *p; p++)
        if (!strchr(ID_CHARS, *p))
            *p = '_';
    cfg_key_path(path, bp, "schedule");
    cron_t cr;
    if (!b->schedule)
        return cfg_fail(c, path, "expected a 5-field cron expression (UTC), e.g. \"0 3 * * *\"");
    if (cron_parse(b->schedule, &cr, err, sizeof err) == -1)
        return cfg_fail(c, path, "%s", err);
    cfg_key_path(path, bp, "name_template");
    const char *sch = strstr(b->name_template, "{schedule}."), *utc = strstr(b->name_template, "{utc:");
    if (strncmp(b->name_template, "regiond-", 8) != 0 || !sch || !utc || utc < sch)
        return cfg_fail(c, path, "expected a template starting with \"regiond-\", holding \"{schedule}.\" "
                        "(the schedule's id and the fixed delimiter) and after it a {utc:...} time, e.g. \"%s\"",
                        CFG_BACKUP_TEMPLATE);
    const cJSON *rs = cfg_member(o, "regions");
    cfg_key_path(path, bp, "regions");
    if (!cJSON_IsArray(rs) || !rs->child)
        return cfg_expect(c, path, "a non-empty array of region names", rs);
    b->n_regions = (size_t)cJSON_GetArraySize(rs);
    b->regions = cfg_xcalloc(b->n_regions, sizeof(char *));
    size_t i = 0;
    for (const cJSON *r = rs->child; r; r = r->next, i++) {
        cfg_idx_path(ip, path, i);
        if (cfg_str_value(c, r, ip, CFG_S_NAME) == -1)
            return -1;
        if (region_index(cfg, r->valuestring) < 0)
            return cfg_fail(c, ip, "expected the name of a configured region, got \"%s\"", r->valuestring);
        b->regions[i] = cfg_xstrdup(r->valuestring);
    }
    size_t longest = backup_name_max(b);
    cfg_key_path(path, bp, "name_template");
    if (longest > 255)
        return cfg_fail(c, path, "expected backup names of at most 255 characters (DynamoDB's limit), but with "
                        "table '%.40s...' and schedule id '%.40s' they can be %zu long: shorten the template, "
                        "the schedule name or the table name", b->table, b->id, longest);
    return 0;
}

static int backups(cfg_ctx_t *c, const cJSON *o, cfg_t *cfg)
{
    const cJSON *v = cfg_member(o, "backups");
    char bp[CFG_PATH_MAX];
    if (!v)
        return 0;
    if (!cJSON_IsArray(v))
        return cfg_expect(c, "dynamodb.backups", "an array of backup schedules", v);
    cfg_dynamodb_t *d = &cfg->dynamodb;
    d->n_backups = (size_t)cJSON_GetArraySize(v);
    d->backups = cfg_xcalloc(d->n_backups, sizeof *d->backups);
    size_t i = 0;
    for (const cJSON *b = v->child; b; b = b->next, i++) {
        cfg_idx_path(bp, "dynamodb.backups", i);
        if (backup(c, b, bp, i, cfg, &d->backups[i]) == -1)
            return -1;
        for (size_t j = 0; j < i; j++) {
            char np[CFG_PATH_MAX];
            cfg_key_path(np, bp, "name");
            if (strcmp(d->backups[j].name, d->backups[i].name) == 0)
                return cfg_fail(c, np, "duplicate schedule name '%s' (also dynamodb.backups[%zu])",
                                d->backups[i].name, j);
            if (strcmp(d->backups[j].id, d->backups[i].id) == 0
                && strcmp(d->backups[j].table, d->backups[i].table) == 0)
                return cfg_fail(c, np, "expected a name whose backup-name id ('%s': characters other than "
                                "A-Z a-z 0-9 _ - become _) differs from dynamodb.backups[%zu]'s on the same table",
                                d->backups[i].id, j);
        }
    }
    return 0;
}

/* Do two integer strings name one DynamoDB Number ("7", "07"; "0", "-0")? */
static bool same_number(const char *a, const char *b)
{
    bool na = *a == '-', nb = *b == '-';
    a += na, b += nb;
    while (*a == '0' && a[1])
        a++;
    while (*b == '0' && b[1])
        b++;
    return strcmp(a, b) == 0 && (na == nb || strcmp(a, "0") == 0);
}

/* heartbeat.number_keys: {REGION: "DECIMAL"}, distinct values, configured regions only. */
static int number_keys(cfg_ctx_t *c, const cJSON *hb, const cfg_t *cfg, cfg_dynamodb_t *d)
{
    const char *base = "dynamodb.heartbeat.number_keys";
    const cJSON *nk = cfg_member(hb, "number_keys");
    char path[CFG_PATH_MAX];
    if (!nk)
        return 0;
    if (!cJSON_IsObject(nk))
        return cfg_expect(c, base, "an object: region name -> a reserved Number key value", nk);
    d->heartbeat_number_keys = cfg_xcalloc(cfg->n_regions, sizeof(char *));
    for (const cJSON *v = nk->child; v; v = v->next) {
        cfg_key_path(path, base, v->string);
        int k = region_index(cfg, v->string);
        if (k < 0)
            return cfg_fail(c, path, "expected the name of a configured region as the key");
        size_t n = cJSON_IsString(v) ? strlen(v->valuestring) : 0, neg = n && v->valuestring[0] == '-';
        if (!n || n - neg < 1 || n - neg > 38 || strspn(v->valuestring + neg, "0123456789") != n - neg)
            return cfg_expect(c, path, "a string holding an integer of 1 to 38 digits (a DynamoDB Number)", v);
        for (size_t j = 0; j < cfg->n_regions; j++)
            if (d->heartbeat_number_keys[j] && same_number(d->heartbeat_number_keys[j], v->valuestring))
                return cfg_fail(c, path, "expected a value no other region uses (%s has %s)",
                                cfg->regions[j].name, d->heartbeat_number_keys[j]);
        d->heartbeat_number_keys[k] = cfg_xstrdup(v->valuestring);
    }
    return 0;
}

static int heartbeat(cfg_ctx_t *c, const cJSON *o, const cfg_t *cfg, cfg_dynamodb_t *d)
{
    const cJSON *hb = NULL;
    const char *P = "dynamodb.heartbeat";
    d->heartbeat_interval_ms = 5000;
    d->heartbeat_read_ms = 500;
    if (cfg_get_section(c, o, "dynamodb", "heartbeat", hb_keys, &hb) == -1
        || cfg_get_enum(c, hb, P, "mode", hb_modes, &d->heartbeat_mode) == -1
        || table_name(c, hb, P, "table", &d->heartbeat_table) == -1
        || cfg_get_str(c, hb, P, "key_prefix", CFG_S_NONEMPTY | CFG_S_NOCTRL, &d->heartbeat_key_prefix) == -1
        || number_keys(c, hb, cfg, d) == -1
        || cfg_get_u32(c, hb, P, "interval_ms", 200, 3600000, &d->heartbeat_interval_ms) == -1
        || cfg_get_u32(c, hb, P, "read_interval_ms", 50, 60000, &d->heartbeat_read_ms) == -1)
        return -1;
    if (d->heartbeat_mode == 1 && d->heartbeat_table)
        return cfg_fail(c, "dynamodb.heartbeat.table", "expected no table with mode \"application\" (the "
                        "heartbeat then goes into dynamodb.table)");
    if (d->heartbeat_mode == 0 && d->heartbeat_table && strcmp(d->heartbeat_table, d->table) == 0)
        return cfg_fail(c, "dynamodb.heartbeat.table", "expected a dedicated table, not dynamodb.table "
                        "(to write into the application table, set mode \"application\")");
    if (!d->heartbeat_table)
        d->heartbeat_table = cfg_xstrdup(d->heartbeat_mode == 1 ? d->table : "regiond-heartbeat");
    if (!d->heartbeat_key_prefix)
        d->heartbeat_key_prefix = cfg_xstrdup("__regiond#hb");
    else if (strlen(d->heartbeat_key_prefix) < 4 || strlen(d->heartbeat_key_prefix) > 200)
        return cfg_fail(c, "dynamodb.heartbeat.key_prefix", "expected 4 to 200 characters (a prefix the "
                        "application never uses in its keys)");
    if (d->heartbeat_read_ms > d->heartbeat_interval_ms)
        return cfg_fail(c, "dynamodb.heartbeat.read_interval_ms", "expected at most interval_ms (%u), got %u",
                        d->heartbeat_interval_ms, d->heartbeat_read_ms);
    return 0;
}

static int pitr(cfg_ctx_t *c, const cJSON *o, cfg_dynamodb_t *d)
{
    const cJSON *p = NULL;
    d->pitr_check_s = 300;
    /* Whenever dynamodb is configured, PITR is checked and kept on unless pitr.enabled says false. */
    d->pitr_manage = true;
    d->pitr_enabled = true;
    if (cfg_get_section(c, o, "dynamodb", "pitr", pitr_keys, &p) == -1)
        return -1;
    if (!p)
        return 0;
    return cfg_get_bool(c, p, "dynamodb.pitr", "enabled", &d->pitr_enabled) == -1
        || cfg_get_u32(c, p, "dynamodb.pitr", "recovery_period_days", 1, 35, &d->pitr_period_days) == -1
        || cfg_get_u32(c, p, "dynamodb.pitr", "check_interval_s", 5, 86400, &d->pitr_check_s) == -1 ? -1 : 0;
}

/* regions[].dynamodb.region: the AWS region of that replica (default: the region's name). */
static int region_aws(cfg_ctx_t *c, const cJSON *root, cfg_t *cfg)
{
    cfg_dynamodb_t *d = &cfg->dynamodb;
    d->aws_regions = cfg_xcalloc(cfg->n_regions, sizeof(char *));
    size_t i = 0;
    for (const cJSON *ro = cfg_member(root, "regions")->child; ro; ro = ro->next, i++) {
        char rp[CFG_PATH_MAX], base[CFG_PATH_MAX];
        const cJSON *o = NULL;
        cfg_idx_path(base, "regions", i);
        if (cfg_get_section(c, ro, base, "dynamodb", region_ddb_keys, &o) == -1)
            return -1;
        cfg_key_path(rp, base, "dynamodb");
        if (o && !d->enabled)
            return cfg_fail(c, rp, "expected the top-level dynamodb section too (the table)");
        if (cfg_get_str(c, o, rp, "region", CFG_S_NAME, &d->aws_regions[i]) == -1)
            return -1;
        if (!d->aws_regions[i])
            d->aws_regions[i] = cfg_xstrdup(cfg->regions[i].name);
    }
    return 0;
}

int cfg_build_dynamodb(cfg_ctx_t *c, const cJSON *root, cfg_t *cfg)
{
    cfg_dynamodb_t *d = &cfg->dynamodb;
    const cJSON *o = NULL;
    int gate = 0, finding = 0;
    d->describe_interval_s = 30;
    d->stale_after_s = 30;
    d->rpo_ms = 10000;
    if (cfg_get_section(c, root, "", "dynamodb", ddb_keys, &o) == -1)
        return -1;
    d->enabled = o != NULL;
    if (o) {
        if (table_name(c, o, "dynamodb", "table", &d->table) == -1)
            return -1;
        if (!d->table)
            return cfg_fail(c, "dynamodb", "expected table (the global table's name)");
        if (cfg_get_u32(c, o, "dynamodb", "describe_interval_s", 1, 3600, &d->describe_interval_s) == -1
            || cfg_get_u32(c, o, "dynamodb", "stale_after_s", 1, 86400, &d->stale_after_s) == -1
            || cfg_get_u32(c, o, "dynamodb", "rpo_ms", 1, 86400000, &d->rpo_ms) == -1
            || cfg_get_enum(c, o, "dynamodb", "gate", gates, &gate) == -1
            || cfg_get_enum(c, o, "dynamodb", "finding", findings, &finding) == -1
            || heartbeat(c, o, cfg, d) == -1 || pitr(c, o, d) == -1)
            return -1;
        d->gate = gate;
        d->finding = finding;
    }
    if (region_aws(c, root, cfg) == -1)
        return -1;
    return o ? backups(c, o, cfg) : 0;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

void cfg_free_dynamodb(cfg_t *cfg)
{
    cfg_dynamodb_t *d = &cfg->dynamodb;
    for (size_t i = 0; i < d->n_backups; i++) {
        cfg_backup_t *b = &d->backups[i];
        free(b->name), free(b->table), free(b->schedule), free(b->name_template), free(b->id);
        free_list(b->regions, b->n_regions);
    }
    free(d->backups);
    free_list(d->aws_regions, d->aws_regions ? cfg->n_regions : 0);
    free_list(d->heartbeat_number_keys, d->heartbeat_number_keys ? cfg->n_regions : 0);
    free(d->table), free(d->heartbeat_table), free(d->heartbeat_key_prefix);
}
