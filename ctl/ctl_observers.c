/* ctl_observers — `regionctl status --observers`: every observer's view of
 * the regions side by side, as this instance reads them (/v1/status
 * "observers"; docs/ha.md "Observers"). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ctl/ctl.h"

static double num(const cJSON *o, const char *k, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* The state observer view v has for region, or "-"; *drill: the state
 * comes from a fail drill (its reason "drill N: failed by drill"). */
static const char *state_of(const cJSON *v, const char *region, bool *drill)
{
    const cJSON *r;
    *drill = false;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(v, "regions"))
        if (strcmp(ctl_str(r, "region"), region) == 0) {
            *drill = strncmp(ctl_str(r, "reason"), "drill ", 6) == 0 && strstr(ctl_str(r, "reason"), ": failed by drill");
            return ctl_str(r, "state");
        }
    return "-";
}

static void print_heads(const cJSON *vs)
{
    printf("%-20s %-10s %-8s %-12s %s\n", "OBSERVER", "VIEW", "AGE", "EPOCH/SEQ", "NOTE");
    const cJSON *v;
    cJSON_ArrayForEach(v, vs) {
        char age[32] = "-", es[48];
        bool seen = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "seen"));
        bool fresh = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "fresh"));
        if (seen)
            ctl_fmt_age(num(v, "age_ms", 0) / 1000.0, age, sizeof(age));
        snprintf(es, sizeof(es), "%.0f/%.0f", num(v, "epoch", 0), num(v, "seq", 0));
        const cJSON *rf = cJSON_GetObjectItemCaseSensitive(v, "refused");
        const cJSON *re = cJSON_GetObjectItemCaseSensitive(v, "read_error");
        const cJSON *ig = cJSON_GetObjectItemCaseSensitive(v, "ignored");
        char id[80];
        snprintf(id, sizeof(id), "%s%s", ctl_str(v, "observer"),
                 cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "self")) ? " (self)" : "");
        const cJSON *sr = cJSON_GetObjectItemCaseSensitive(v, "suspect_reason");
        char sus[400] = "";
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "suspect")))
            snprintf(sus, sizeof(sus), "SUSPECT: %s ", cJSON_IsString(sr) ? sr->valuestring : "(no reason given)");
        printf("%-20s %-10s %-8s %-12s %s%s%s%s%s%s%s\n", id, fresh ? "fresh" : seen ? "SILENT" : "never seen", age,
               seen ? es : "-", sus,
               cJSON_IsString(rf) ? "item refused: " : "", cJSON_IsString(rf) ? rf->valuestring : "",
               cJSON_IsString(ig) ? " item ignored in: " : "", cJSON_IsString(ig) ? ig->valuestring : "",
               cJSON_IsString(re) ? " read failed: " : "", cJSON_IsString(re) ? re->valuestring : "");
    }
}

/* The combined state the leader decides on for region ("-" when none),
 * with why it is held when it is. */
static void quorum_cell(const cJSON *q, const char *region, char *cell, size_t len)
{
    const cJSON *r;
    snprintf(cell, len, "-");
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(q, "regions"))
        if (strcmp(ctl_str(r, "region"), region) == 0) {
            bool held = strcmp(ctl_str(r, "why"), "decided") != 0;
            snprintf(cell, len, "%s%s%s%s", ctl_str(r, "state"), held ? " (held: " : "", held ? ctl_str(r, "why") : "",
                     held ? ")" : "");
        }
}

static bool listed(const cJSON *a, const char *id)
{
    const cJSON *x;
    cJSON_ArrayForEach(x, a)
        if (cJSON_IsString(x) && strcmp(x->valuestring, id) == 0)
            return true;
    return false;
}

/* What this instance's quorum rule (q) counts a drill-marked view of
 * observer id on region as when it is not the mark's down, or NULL: a
 * usable view the leader does not count down has its mark discounted (a
 * drill not acting here) and counts as its own probes' state (known
 * defect 41), or as no opinion ("unknown"). */
static const char *counted_as(const cJSON *q, const char *id, const char *region)
{
    const cJSON *r;
    if (!listed(cJSON_GetObjectItemCaseSensitive(q, "usable"), id))
        return NULL;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(q, "regions")) {
        if (strcmp(ctl_str(r, "region"), region) != 0 || listed(cJSON_GetObjectItemCaseSensitive(r, "down"), id))
            continue;
        return listed(cJSON_GetObjectItemCaseSensitive(r, "up"), id) ? "up"
             : listed(cJSON_GetObjectItemCaseSensitive(r, "degraded"), id) ? "degraded" : "unknown";
    }
    return NULL;
}

/* Regions in rows, observers in columns (every region any view names), and
 * the quorum rule's combined state. */
static void print_grid(const cJSON *vs, const cJSON *q)
{
    const char *regions[128];
    size_t n = 0;
    const cJSON *v, *r;
    cJSON_ArrayForEach(v, vs)
        cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(v, "regions")) {
            const char *name = ctl_str(r, "region");
            size_t i = 0;
            while (i < n && strcmp(regions[i], name) != 0)
                i++;
            if (i == n && n < sizeof(regions) / sizeof(*regions))
                regions[n++] = name;
        }
    printf("\n%-20s", "REGION");
    cJSON_ArrayForEach(v, vs)
        printf(" %-12.12s", ctl_str(v, "observer"));
    printf(" QUORUM\n");
    for (size_t i = 0; i < n; i++) {
        printf("%-20s", regions[i]);
        cJSON_ArrayForEach(v, vs) {
            bool drill;
            const char *s = state_of(v, regions[i], &drill);
            const char *c = drill ? counted_as(q, ctl_str(v, "observer"), regions[i]) : NULL;
            char cell[48];   /* one word: scripts split the grid on blanks */
            snprintf(cell, sizeof(cell), "%s%s%s%s%s", s, drill ? "(drill)" : "", c ? "/counted:" : "", c ? c : "",
                     cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "fresh")) || strcmp(s, "-") == 0 ? "" : "?");
            printf(" %-12s", cell);
        }
        char qc[96];
        quorum_cell(q, regions[i], qc, sizeof(qc));
        printf(" %s\n", qc);
    }
}

/* One region's last quorum decision: "r2: called down (decided, k 2 of 3)
 * 4s ago: counted ctl-1 down, ctl-2 down; left out ctl-3 silent (up, view
 * 6s old)", or "r2: forgotten (down to unknown) 1s ago: drill 7 stopped
 * acting here: …". */
static void print_decision(const char *region, const cJSON *d)
{
    char age[32];
    ctl_fmt_age(num(d, "age_ms", 0) / 1000.0, age, sizeof(age));
    if (strcmp(ctl_str(d, "call"), "forgotten") == 0) {   /* no view taken: the drill's reset */
        printf("%s: forgotten (%s to %s) %s ago%s: %s\n", region, ctl_str(d, "from"), ctl_str(d, "to"), age,
               cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "leader")) ? "" : " (not leading then)",
               ctl_str(d, "reason"));
        return;
    }
    bool refused = strcmp(ctl_str(d, "call"), "refused") == 0;
    printf("%s: %s%s (%s, k %.0f of %.0f) %s ago%s:", region, refused ? ctl_str(d, "would") : "called ",
           refused ? " REFUSED" : ctl_str(d, "call"), ctl_str(d, "why"), num(d, "k", 0), num(d, "n", 0), age,
           cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "leader")) ? "" : " (not leading then)");
    const cJSON *v;
    const char *sep = " counted ";
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(d, "views"))
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "counted"))) {
            printf("%s%s %s", sep, ctl_str(v, "observer"), ctl_str(v, "vote"));
            sep = ", ";
        }
    if (sep[0] == ' ')
        printf(" counted none");
    sep = "; left out ";
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(d, "views"))
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "counted"))) {
            char va[32] = "";
            const cJSON *a = cJSON_GetObjectItemCaseSensitive(v, "view_age_ms");
            if (cJSON_IsNumber(a))
                ctl_fmt_age(a->valuedouble / 1000.0, va, sizeof(va));
            const cJSON *dt = cJSON_GetObjectItemCaseSensitive(v, "detail");
            printf("%s%s %s (%s%s%s%s%s)", sep, ctl_str(v, "observer"), ctl_str(v, "left_out"), ctl_str(v, "vote"),
                   va[0] ? ", view " : "", va, va[0] ? " old" : "", cJSON_IsString(dt) ? ", " : "");
            if (cJSON_IsString(dt))
                printf("%s", dt->valuestring);
            sep = ", ";
        }
    printf("\n");
}

/* Each region's last quorum decision (a call or a refusal) and the views
 * it used and left out. */
static void print_decisions(const cJSON *q)
{
    const cJSON *r;
    bool any = false;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(q, "regions")) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(r, "last_decision");
        if (!cJSON_IsObject(d))
            continue;
        if (!any)
            printf("\nlast quorum decisions (the views each counted, and those left out with why):\n");
        any = true;
        print_decision(ctl_str(r, "region"), d);
    }
}

int ctl_observers(const char *api, int json)
{
    ctl_buf_t b = {0};
    long code = 0;
    if (ctl_get(api, "/v1/status", &b, &code) == -1)
        return 1;
    cJSON *root = b.data && code == 200 ? cJSON_Parse(b.data) : NULL;
    free(b.data);
    if (!root) {
        fprintf(stderr, "regionctl: unexpected answer from %s (HTTP %ld)\n", api, code);
        return 1;
    }
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, "observers");
    if (json) {
        char *s = cJSON_PrintUnformatted(o ? o : cJSON_GetObjectItemCaseSensitive(root, "nothing"));
        printf("%s\n", s ? s : "null");
        free(s);
    } else if (!cJSON_IsObject(o)) {
        printf("observers: off (no cluster.quorum in the config)\n");
    } else {
        const cJSON *vs = cJSON_GetObjectItemCaseSensitive(o, "views");
        printf("observers: %.0f of %.0f must agree (k: the quorum rule the leader decides on), a view every %.0f ms, "
               "silent after %.0f ms\n\n", num(o, "k", 0), num(o, "n", 0), num(o, "publish_ms", 0),
               num(o, "silent_after_ms", 0));
        const cJSON *q = cJSON_GetObjectItemCaseSensitive(o, "quorum");
        if (cJSON_IsObject(q))
            printf("quorum: %s (%.0f usable views, k %.0f)\n\n", cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(q, "ok"))
                   ? "ok" : "NONE: no region is drained or restored", num(q, "usable_views", 0), num(q, "k", 0));
        print_heads(vs);
        print_grid(vs, q);
        print_decisions(q);
        printf("\n(\"?\": the observer's last view, which is not fresh; \"(drill)\": the state comes from a fail "
               "drill in effect, not from its probes; \"/counted:up\": this instance discounts that mark, its drill not "
               "acting here, and counts the observer's own probes' state instead, or no opinion: unknown)\n");
    }
    cJSON_Delete(root);
    return 0;
}
