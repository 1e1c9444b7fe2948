/* route53_read — reading the live records: ListResourceRecordSets page by
 * page, our regions' records picked out of a listing, drift found by
 * comparing them with what we know. */
#include "route53_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "alarm.h"
#include "log.h"
#include "loop.h"

/* Index of the configured region whose set identifier is `id`, or -1. */
static int r53_region_of(const char *id)
{
    for (size_t i = 0; i < r53s.n; i++)
        if (strcmp(r53s.cfg->route53.regions[i].set_identifier, id) == 0)
            return (int)i;
    return -1;
}

static bool r53_same_name(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la && a[la - 1] == '.')
        la--;
    if (lb && b[lb - 1] == '.')
        lb--;
    return la == lb && strncasecmp(a, b, la) == 0;
}

/* ---- reading the live records ---- */

static void r53_on_list(void *arg, const aws_resp_t *resp);

static void r53_list_page(const char *name, const char *type, const char *ident)
{
    char path[1024], *en = NULL, *ei = NULL;
    const cfg_route53_t *rc = &r53s.cfg->route53;
    /* Query parameters sorted by name: libcurl 7.88 signs them as given. */
    en = curl_easy_escape(NULL, name, 0);
    ei = ident && *ident ? curl_easy_escape(NULL, ident, 0) : NULL;
    snprintf(path, sizeof(path), "/2013-04-01/hostedzone/%s/rrset?%s%s%smaxitems=300&name=%s&type=%s",
             rc->hosted_zone_id, ei ? "identifier=" : "", ei ? ei : "", ei ? "&" : "", en ? en : "",
             type);
    curl_free(en);
    curl_free(ei);
    aws_call_t c = {.service = "route53", .region = "us-east-1", .op = "ListResourceRecordSets",
                    .method = "GET", .path_query = path, .proto = AWS_PROTO_REST_XML};
    r53s.req = aws_call(&c, r53_on_list, NULL);
    if (!r53s.req) {
        snprintf(r53s.error, sizeof(r53s.error), "ListResourceRecordSets: cannot start");
        r53s.phase = R53_IDLE;
    }
}

/* Our configured regions' records in a listing. */
static void r53_pick(const r53_list_t *acc, r53_rrset_t *live, bool *have)
{
    const cfg_route53_t *rc = &r53s.cfg->route53;
    memset(live, 0, sizeof(*live) * R53_MAXR);
    for (size_t i = 0; i < R53_MAXR; i++)
        have[i] = false;
    for (size_t k = 0; k < acc->n; k++) {
        const r53_rrset_t *s = &acc->sets[k];
        if (!r53_same_name(s->name, rc->record_name) || strcmp(s->type, rc->record_type) != 0)
            continue;
        int i = r53_region_of(s->set_identifier);
        if (i < 0 || have[i])
            continue;
        if (r53_rrset_copy(&live[i], s) == 0)
            have[i] = true;
    }
}

/* Make a listing what we know; report records changed behind our back. */
void r53_adopt_listing(const r53_list_t *acc, bool report_drift)
{
    r53_rrset_t live[R53_MAXR];
    bool have[R53_MAXR];
    r53_pick(acc, live, have);
    for (size_t i = 0; i < r53s.n; i++) {
        bool differs = have[i] != r53s.have[i] || (have[i] && !r53_rrset_equal(&live[i], &r53s.known[i]));
        if (report_drift && r53s.read_ok && differs) {
            r53s.drift[i] = true;
            r53s.drift_total++;
            cJSON *d = cJSON_CreateObject();
            if (d) {
                cJSON_AddStringToObject(d, "region", r53s.cfg->regions[i].name);
                cJSON_AddNumberToObject(d, "expected_weight", r53s.have[i] ? (double)r53s.known[i].weight : -1);
                cJSON_AddNumberToObject(d, "live_weight", have[i] ? (double)live[i].weight : -1);
                cJSON_AddBoolToObject(d, "corrected", r53s.cfg->route53.correct_drift);
            }
            r53_event("route53_drift", d);
            char key[100], sum[200];
            snprintf(key, sizeof(key), "route53-drift-%s", r53s.cfg->regions[i].name);
            snprintf(sum, sizeof(sum), "Route 53 record of %s changed outside regiond", r53s.cfg->regions[i].name);
            alarm_raise(key, "warning", sum, NULL);
            log_msg(LOG_WARNING, "msg=\"route53 record changed outside regiond\" region=%s",
                    r53s.cfg->regions[i].name);
        }
        r53_rrset_clear(&r53s.known[i]);
        r53s.known[i] = live[i];
        r53s.have[i] = have[i];
    }
    r53s.read_ok = true;
    r53s.last_read_wall_ms = loop_wall_ms();
}

static void r53_on_list(void *arg, const aws_resp_t *resp)
{
    (void)arg;
    r53s.req = NULL;
    char err[256];
    r53_list_t page;
    memset(&page, 0, sizeof(page));
    if (!resp->ok || r53_parse_list(resp->body, resp->body_len, &page, err, sizeof(err)) == -1) {
        snprintf(r53s.error, sizeof(r53s.error), "ListResourceRecordSets: %.480s", resp->ok ? err : resp->error);
        log_msg(LOG_ERR, "msg=\"cannot read route53 records\" error=\"%s\"", r53s.error);
        r53_list_free(&page);
        r53_list_free(&r53s.acc);
        r53s.phase = R53_IDLE;
        return;
    }
    /* Append this page to the accumulated listing. */
    r53_rrset_t *ns = realloc(r53s.acc.sets, (r53s.acc.n + page.n) * sizeof(*ns) + 1);
    if (ns) {
        memcpy(ns + r53s.acc.n, page.sets, page.n * sizeof(*ns));
        r53s.acc.sets = ns;
        r53s.acc.n += page.n;
        free(page.sets);
        page.sets = NULL;
        page.n = 0;
    }
    const cfg_route53_t *rc = &r53s.cfg->route53;
    if (page.truncated && r53_same_name(page.next_name, rc->record_name) &&
        strcmp(page.next_type, rc->record_type) == 0) {
        r53_list_page(page.next_name, page.next_type, page.next_identifier);
        r53_list_free(&page);
        return;
    }
    r53_list_free(&page);
    void (*after)(const r53_list_t *) = r53s.after_read;
    r53_list_t acc = r53s.acc;   /* detached: `after` may start another read */
    memset(&r53s.acc, 0, sizeof(r53s.acc));
    r53s.after_read = NULL;
    after(&acc);
    r53_list_free(&acc);
}

void r53_read(void (*after)(const r53_list_t *acc))
{
    r53_list_free(&r53s.acc);
    memset(&r53s.acc, 0, sizeof(r53s.acc));
    r53s.after_read = after;
    r53_list_page(r53s.cfg->route53.record_name, r53s.cfg->route53.record_type, NULL);
}

bool r53_live_matches_want(const r53_list_t *acc)
{
    r53_rrset_t live[R53_MAXR];
    bool have[R53_MAXR], ok = true;
    r53_pick(acc, live, have);
    for (size_t i = 0; i < r53s.n; i++) {
        if (r53s.want[i] >= 0 && (!have[i] || live[i].weight != r53s.want[i]))
            ok = false;
        r53_rrset_clear(&live[i]);
    }
    return ok;
}
