/* ctl_views — regionctl's human tables and reports (the --json forms are
 * the API's documents as they come). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ctl/ctl.h"

static void ctl_print_targets(const cJSON *ts)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, ts) {
        const cJSON *lat = cJSON_GetObjectItemCaseSensitive(t, "latency_ms");
        char p50[16], p99[16], age[32];
        ctl_fmt_ms(lat, "p50", p50, sizeof(p50));
        ctl_fmt_ms(lat, "p99", p99, sizeof(p99));
        const cJSON *since = cJSON_GetObjectItemCaseSensitive(t, "since_s");
        ctl_fmt_age(cJSON_IsNumber(since) ? since->valuedouble : 0, age, sizeof(age));
        const cJSON *ins = cJSON_GetObjectItemCaseSensitive(t, "insecure");
        printf("  %-16s %-9s %-8s %8s %8s  %s%s\n", ctl_str(t, "name"), ctl_str(t, "state"), age,
               p50, p99, ctl_str(t, "reason"), cJSON_IsTrue(ins) ? " [TLS verification OFF]" : "");
    }
}

int ctl_status(const char *api, int json)
{
    ctl_buf_t b = {0};
    long code = 0;
    if (ctl_get(api, "/v1/status", &b, &code) == -1)
        return 1;
    if (json) {
        fputs(b.data ? b.data : "", stdout);
        putchar('\n');
        free(b.data);
        return code == 200 ? 0 : 1;
    }
    cJSON *root = b.data ? cJSON_Parse(b.data) : NULL;
    free(b.data);
    if (!root || code != 200) {
        fprintf(stderr, "regionctl: unexpected answer from %s (HTTP %ld)\n", api, code);
        cJSON_Delete(root);
        return 1;
    }
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(root, "config");
    const cJSON *gen = cJSON_GetObjectItemCaseSensitive(cfg, "generation");
    printf("%s\n", ctl_str(root, "summary"));
    printf("config %s (generation %.0f)\n", ctl_str(cfg, "path"), cJSON_IsNumber(gen) ? gen->valuedouble : 0);
    const cJSON *le = cJSON_GetObjectItemCaseSensitive(cfg, "last_error");
    if (cJSON_IsString(le))
        printf("CONFIG RELOAD FAILED, old config running: %s\n", le->valuestring);
    printf("\n%-18s %-9s %-8s %8s %8s  %s\n", "REGION/TARGET", "STATE", "SINCE", "P50 ms", "P99 ms", "REASON");
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(root, "regions")) {
        char age[32];
        const cJSON *since = cJSON_GetObjectItemCaseSensitive(r, "since_s");
        ctl_fmt_age(cJSON_IsNumber(since) ? since->valuedouble : 0, age, sizeof(age));
        printf("%-18s %-9s %-8s %8s %8s  %s\n", ctl_str(r, "name"), ctl_str(r, "state"), age, "", "",
               ctl_str(r, "reason"));
        ctl_print_targets(cJSON_GetObjectItemCaseSensitive(r, "targets"));
    }
    cJSON_Delete(root);
    return 0;
}

/* GET path.  With --json, or when the answer is not JSON, print it as it
 * came and return the exit status (0 or 1), *out NULL.  Otherwise return -1
 * with the parsed document in *out for the caller's table (and to delete). */
static int ctl_fetch(const char *api, const char *path, int json, cJSON **out)
{
    ctl_buf_t b = {0};
    long code = 0;
    *out = NULL;
    if (ctl_get(api, path, &b, &code) == -1)
        return 1;
    cJSON *o = b.data && !json && code == 200 ? cJSON_Parse(b.data) : NULL;
    if (!o) {
        fputs(b.data ? b.data : "", stdout);
        putchar('\n');
        free(b.data);
        return code == 200 ? 0 : 1;
    }
    free(b.data);
    *out = o;
    return -1;
}

static double ctl_num(const cJSON *o, const char *k, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

int ctl_weights(const char *api, int json)
{
    cJSON *o;
    int rc = ctl_fetch(api, "/v1/weights", json, &o);
    if (rc >= 0)
        return rc;
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(o, "decision");
    printf("decision %.0f (%s): %s\n", cJSON_IsNumber(dec) ? dec->valuedouble : 0, ctl_str(o, "rule"),
           ctl_str(o, "reason"));
    printf("applies: %s; actuator: %s%s%s\n", ctl_str(o, "applies"), ctl_str(o, "actuator"),
           cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "frozen")) ? "; FROZEN" : "",
           cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "alarm")) ? "; ALARM" : "");
    printf("\n%-18s %6s %7s %10s  %s\n", "REGION", "LIVE", "DESIRED", "CONFIGURED", "RULE");
    const cJSON *w;
    cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(o, "weights")) {
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(w, "live");
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(w, "desired");
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(w, "configured");
        printf("%-18s %6.0f %7.0f %10.0f  %s%s\n", ctl_str(w, "region"), cJSON_IsNumber(l) ? l->valuedouble : -1,
               cJSON_IsNumber(d) ? d->valuedouble : -1, cJSON_IsNumber(c) ? c->valuedouble : -1,
               ctl_str(w, "rule"), cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(w, "drifted")) ? " DRIFTED" : "");
    }
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(o, "last_change");
    if (cJSON_IsObject(ch)) {
        const cJSON *ins = cJSON_GetObjectItemCaseSensitive(ch, "insync_after_ms");
        const cJSON *vis = cJSON_GetObjectItemCaseSensitive(ch, "visible_after_ms");
        printf("\nlast change: %s %s (decision %.0f)", ctl_str(ch, "change_id"), ctl_str(ch, "status"),
               ctl_num(ch, "decision", 0));
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ch, "guard_bump")))
            printf(", guard bump to epoch %.0f (no weight moved; not followed to INSYNC)",
                   ctl_num(ch, "guard_epoch", 0));
        if (cJSON_IsNumber(ins))
            printf(", INSYNC after %.1f s", ins->valuedouble / 1000);
        if (cJSON_IsNumber(vis))
            printf(", visible in DNS after %.1f s", vis->valuedouble / 1000);
        printf("\n");
    }
    cJSON_Delete(o);
    return 0;
}

int ctl_decisions(const char *api, int json)
{
    cJSON *a;
    int rc = ctl_fetch(api, "/v1/decisions", json, &a);
    if (rc >= 0)
        return rc;
    const cJSON *d;
    cJSON_ArrayForEach(d, a)
        printf("#%-5.0f %-20s %-10s %s\n", ctl_num(d, "decision", 0), ctl_str(d, "rule"), ctl_str(d, "applied"),
               ctl_str(d, "reason"));
    cJSON_Delete(a);
    return 0;
}

int ctl_replicas(const char *api, int json)
{
    cJSON *o;
    int rc = ctl_fetch(api, "/v1/replicas", json, &o);
    if (rc >= 0)
        return rc;
    if (!cJSON_IsObject(o)) {
        printf("DynamoDB is not watched (no dynamodb section)\n");
        cJSON_Delete(o);
        return 0;
    }
    printf("table %s, rpo_ms %.0f, gate %s\n\n%-16s %-8s %-12s %10s %-5s %s\n", ctl_str(o, "table"),
           ctl_num(o, "rpo_ms", 0), ctl_str(o, "gate"),
           "REGION", "TABLE", "REPLICA", "LAG IN ms", "GATE", "FINDING");
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(o, "regions")) {
        char lag[16];
        ctl_fmt_ms(r, "lag_in_ms", lag, sizeof(lag));
        printf("%-16s %-8s %-12s %10s %-5s %s\n", ctl_str(r, "region"), ctl_str(r, "table_status"),
               ctl_str(r, "replica_status"), lag,
               cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "gate_ok")) ? "ok" : "SHUT", ctl_str(r, "finding"));
    }
    printf("\n%-16s %-16s %10s %10s %12s\n", "FROM", "TO", "LAG ms", "AVG ms", "NEWEST AGE");
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(o, "pairs")) {
        char lag[16], avg[16], age[16];
        ctl_fmt_ms(r, "lag_ms", lag, sizeof(lag));
        ctl_fmt_ms(r, "lag_avg_ms", avg, sizeof(avg));
        ctl_fmt_ms(r, "newest_seen_age_ms", age, sizeof(age));
        printf("%-16s %-16s %10s %10s %12s\n", ctl_str(r, "from"), ctl_str(r, "to"), lag, avg, age);
    }
    cJSON_Delete(o);
    return 0;
}

int ctl_backups(const char *api, int json)
{
    cJSON *o;
    int rc = ctl_fetch(api, "/v1/backups", json, &o);
    if (rc >= 0)
        return rc;
    printf("%-14s %-14s %-12s %-25s %-25s %s\n", "SCHEDULE", "REGION", "CRON", "LAST RUN", "NEXT RUN", "LAST RESULT");
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(o, "schedules"))
        printf("%-14s %-14s %-12s %-25s %-25s %s\n", ctl_str(r, "schedule"), ctl_str(r, "region"), ctl_str(r, "cron"),
               ctl_str(r, "last_run"), ctl_str(r, "next_run"), ctl_str(r, "last_result"));
    printf("\n%-14s %-9s %-25s %-25s %s\n", "PITR REGION", "STATUS", "EARLIEST", "LATEST", "ALARM");
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(o, "pitr"))
        printf("%-14s %-9s %-25s %-25s %s\n", ctl_str(r, "region"), ctl_str(r, "status"),
               ctl_str(r, "earliest_restorable"), ctl_str(r, "latest_restorable"), ctl_str(r, "alarm_reason"));
    cJSON_Delete(o);
    return 0;
}

static void ctl_md_escape(const char *s, char *out, size_t len)
{
    size_t o = 0;
    for (; *s && o + 2 < len; s++)
        out[o++] = *s == '|' ? '/' : *s == '\n' ? ' ' : *s;
    out[o] = '\0';
}

/* The drill report as Markdown: summary, milestones, timeline. */
int ctl_drill_report(const char *api, const char *id, int json)
{
    char path[128];
    cJSON *o;
    snprintf(path, sizeof(path), "/v1/drills/%s", id);
    int rc = ctl_fetch(api, path, json, &o);
    if (rc >= 0)
        return rc;
    printf("# Drill %s: %s %s\n\n", id, ctl_str(o, "action"), ctl_str(o, "region"));
    printf("- state: %s%s\n- started: %s\n- ends: %s\n- by: %s\n- note: %s\n", ctl_str(o, "state"),
           cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "dry_run")) ? " (dry run)" : "", ctl_str(o, "started_at"),
           ctl_str(o, "ended_at")[0] != '-' ? ctl_str(o, "ended_at") : ctl_str(o, "expires_at"), ctl_str(o, "who"),
           ctl_str(o, "note"));
    if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "result")))
        printf("- result: %s\n", ctl_str(o, "result"));
    printf("\n## Milestones\n\n| step | time (UTC) | after start |\n|---|---|---|\n");
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(o, "milestones")) {
        const cJSON *off = cJSON_GetObjectItemCaseSensitive(m, "offset_s");
        if (cJSON_IsNumber(off))
            printf("| %s | %s | %.1f s |\n", ctl_str(m, "step"), ctl_str(m, "t"), off->valuedouble);
        else
            printf("| %s | - | not reached |\n", ctl_str(m, "step"));
    }
    printf("\n## Timeline\n\n| after start | event | detail |\n|---|---|---|\n");
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(o, "timeline")) {
        char text[260], brief[400] = "";
        const cJSON *off = cJSON_GetObjectItemCaseSensitive(m, "offset_s");
        cJSON *ev = cJSON_Parse(ctl_str(m, "text"));
        static const char *const keys[] = {"region", "target", "from", "to", "reason", "status", "dns", "error",
                                           "action", "note", "finding", NULL};
        for (size_t k = 0; cJSON_IsObject(ev) && keys[k]; k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(ev, keys[k]);
            if (cJSON_IsString(v) && v->valuestring[0])
                snprintf(brief + strlen(brief), sizeof(brief) - strlen(brief), "%s%s=%s", brief[0] ? ", " : "",
                         keys[k], v->valuestring);
        }
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(ev, "weights");
        const cJSON *wobj = cJSON_IsObject(w) ? w : NULL, *wv;
        cJSON_ArrayForEach(wv, wobj)
            if (cJSON_IsString(wv))
                snprintf(brief + strlen(brief), sizeof(brief) - strlen(brief), "%s%s %s", brief[0] ? ", " : "",
                         wv->string, wv->valuestring);
        ctl_md_escape(brief[0] ? brief : ctl_str(m, "text"), text, sizeof(text));
        cJSON_Delete(ev);
        printf("| %.1f s | %s | %s |\n", cJSON_IsNumber(off) ? off->valuedouble : 0, ctl_str(m, "type"), text);
    }
    cJSON_Delete(o);
    return 0;
}
