/* route53_read — reading the live records: ListResourceRecordSets page by
 * page from the record name on (every managed type of that name), our
 * regions' records picked out of a listing with Route 53's name rules,
 * drift found by comparing them with what we know. */
#include "failover/route53_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "core/alarm.h"
#include "core/log.h"
#include "core/loop.h"

/* Index of the configured region whose set identifier is `id`, or -1. */
static int r53_region_of(const char *id)
{
    for (size_t i = 0; i < r53s.n; i++)
        if (strcmp(r53s.cfg->route53.regions[i].set_identifier, id) == 0)
            return (int)i;
    return -1;
}

const char *r53_slot_type(int s)
{
    const char *t = r53s.cfg->route53.record_type;
    if (s == 0)
        return t;
    if (strcmp(t, "A") == 0)
        return "AAAA";
    if (strcmp(t, "AAAA") == 0)
        return "A";
    return NULL;   /* a CNAME has no sibling type */
}

int r53_slot_of(const char *type)
{
    for (int s = 0; s < R53_SLOTS; s++) {
        const char *t = r53_slot_type(s);
        if (t && strcasecmp(t, type) == 0)
            return s;
    }
    return -1;
}

/* ---- reading the live records ---- */

static void r53_on_list(void *arg, const aws_resp_t *resp);
static void r53_on_guard(void *arg, const aws_resp_t *resp);
static void r53_deliver(void);

static void r53_read_failed(const char *error)
{
    snprintf(r53s.error, sizeof(r53s.error), "ListResourceRecordSets: %.480s", error);
    log_msg(LOG_ERR, "msg=\"cannot read route53 records\" error=\"%s\"", r53s.error);
    r53_list_free(&r53s.acc);
    r53_fail_fn fail = r53s.fail_read;
    r53s.after_read = NULL;
    r53s.fail_read = NULL;
    if (fail)
        fail(r53s.error);
}

/* One page from (name, type, identifier) of at most `max` records,
 * answered to `cb`; type and identifier may be NULL (identifier needs
 * type: ListResourceRecordSets reference).  Nothing is sent once the
 * lease's send window closed (the flow stops: r53_stand_down). */
static void r53_list_page(const char *name, const char *type, const char *ident, int max, aws_done_fn cb)
{
    if (!r53_may_send()) {
        r53_stand_down();
        return;
    }
    char path[1200], *en = NULL, *ei = NULL, *et = NULL;
    const cfg_route53_t *rc = &r53s.cfg->route53;
    /* Query parameters sorted by name: libcurl 7.88 signs them as given. */
    en = curl_easy_escape(NULL, name, 0);
    et = type && *type ? curl_easy_escape(NULL, type, 0) : NULL;
    ei = et && ident && *ident ? curl_easy_escape(NULL, ident, 0) : NULL;
    snprintf(path, sizeof(path), "/2013-04-01/hostedzone/%s/rrset?%s%s%smaxitems=%d&name=%s%s%s",
             rc->hosted_zone_id, ei ? "identifier=" : "", ei ? ei : "", ei ? "&" : "", max, en ? en : "",
             et ? "&type=" : "", et ? et : "");
    curl_free(en);
    curl_free(ei);
    curl_free(et);
    aws_call_t c = {.service = "route53", .region = "us-east-1", .op = "ListResourceRecordSets",
                    .method = "GET", .path_query = path, .proto = AWS_PROTO_REST_XML};
    r53s.req = r53_window(aws_call(&c, cb, NULL));
    if (!r53s.req)
        r53_read_failed("cannot start the request");
}

/* Our configured regions' records in a listing (records of other names,
 * types or set identifiers are not ours). */
void r53_pick(const r53_list_t *acc, r53_rrset_t live[][R53_SLOTS], bool have[][R53_SLOTS])
{
    const cfg_route53_t *rc = &r53s.cfg->route53;
    for (size_t i = 0; i < R53_MAXR; i++)
        for (int s = 0; s < R53_SLOTS; s++) {
            r53_rrset_init(&live[i][s]);
            have[i][s] = false;
        }
    for (size_t k = 0; k < acc->n; k++) {
        const r53_rrset_t *x = &acc->sets[k];
        int s = r53_slot_of(x->type);
        if (s < 0 || !r53_name_equal(x->name, rc->record_name))
            continue;
        int i = r53_region_of(x->set_identifier);
        if (i < 0 || have[i][s])
            continue;
        if (r53_rrset_copy(&live[i][s], x) == 0)
            have[i][s] = true;
    }
}

void r53_free_picked(r53_rrset_t live[][R53_SLOTS])
{
    for (size_t i = 0; i < R53_MAXR; i++)
        for (int s = 0; s < R53_SLOTS; s++)
            r53_rrset_clear(&live[i][s]);
}

void r53_report_drift(size_t i, long expected, long live, const char *why)
{
    r53s.drift[i] = true;
    r53s.drift_total++;
    cJSON *d = cJSON_CreateObject();
    if (d) {
        cJSON_AddStringToObject(d, "region", r53s.cfg->regions[i].name);
        cJSON_AddNumberToObject(d, "expected_weight", (double)expected);
        cJSON_AddNumberToObject(d, "live_weight", (double)live);
        cJSON_AddStringToObject(d, "why", why);
        cJSON_AddBoolToObject(d, "corrected", r53s.cfg->route53.correct_drift);
    }
    r53_event(EV_ROUTE53_DRIFT, d);
    char sum[300];
    alarm_key_t key = alarm_key_region(ALARM_ROUTE53_DRIFT, r53s.cfg->regions[i].name);
    snprintf(sum, sizeof(sum), "Route 53 record of %s changed outside regiond (%s): %s",
             r53s.cfg->regions[i].name, why,
             r53s.cfg->route53.correct_drift ? "will be corrected" : "left alone until regionctl release");
    alarm_raise(key.s, "warning", sum, NULL);
    log_msg(LOG_WARNING, "msg=\"route53 record changed outside regiond\" region=%s why=\"%s\"",
            r53s.cfg->regions[i].name, why);
}

/* Does region i's listing show the change found not landed at start-up
 * (every record of the region, as many as before, at its weight)? */
static bool r53_is_lost_change(size_t i, r53_rrset_t live[][R53_SLOTS], bool have[][R53_SLOTS])
{
    bool any = false;
    if (!r53s.have_lost || r53s.lost[i] < 0)
        return false;
    for (int s = 0; s < R53_SLOTS; s++) {
        if (have[i][s] != r53s.have[i][s] || (have[i][s] && live[i][s].weight != r53s.lost[i]))
            return false;
        any |= have[i][s];
    }
    return any;
}

/* The change found not landed at start-up landed late: ours, not drift. */
static void r53_lost_landed(void)
{
    r53s.have_lost = false;
    snprintf(r53s.change.status, sizeof(r53s.change.status), "LANDED");
    log_msg(LOG_NOTICE, "msg=\"change found not landed at start-up landed late\" decision=%llu",
            (unsigned long long)r53s.change.decision);
    r53_change_event(EV_ROUTE53_CHANGE_LANDED);
}

/* Make a listing what we know; report records changed behind our back.
 * True when a record of ours differed from what we knew. */
bool r53_adopt_listing(const r53_list_t *acc, bool report_drift)
{
    static r53_rrset_t live[R53_MAXR][R53_SLOTS];   /* large: not on the stack */
    bool have[R53_MAXR][R53_SLOTS], any = false, late = false;
    r53_pick(acc, live, have);
    for (size_t i = 0; i < r53s.n; i++) {
        bool differs = false;
        for (int s = 0; s < R53_SLOTS; s++)
            differs |= have[i][s] != r53s.have[i][s] ||
                       (have[i][s] && !r53_rrset_equal(&live[i][s], &r53s.known[i][s]));
        if (differs && r53s.read_ok && r53_is_lost_change(i, live, have)) {
            late = any = true;   /* live weights moved (the controller hears of it), not drift */
        } else if (differs && r53s.read_ok) {
            any = true;
            if (report_drift) {
                long exp = r53s.have[i][0] ? r53s.known[i][0].weight : r53s.have[i][1] ? r53s.known[i][1].weight : -1;
                long got = have[i][0] ? live[i][0].weight : have[i][1] ? live[i][1].weight : -1;
                r53_report_drift(i, exp, got, exp != got ? "weight changed" : "record changed");
            }
        }
        for (int s = 0; s < R53_SLOTS; s++) {
            r53_rrset_clear(&r53s.known[i][s]);
            r53s.known[i][s] = live[i][s];   /* moved */
            r53s.have[i][s] = have[i][s];
            r53_rrset_init(&live[i][s]);
        }
    }
    r53_free_picked(live);
    if (late)
        r53_lost_landed();
    r53s.read_ok = true;
    r53s.last_read_wall_ms = loop_wall_ms();
    alarm_resolve(alarm_key(ALARM_ROUTE53_READ).s, "the live records are read again");
    r53_known_save();
    return any;
}

/* Append a page to the accumulated listing; -1 when out of memory. */
static int r53_append(r53_list_t *page)
{
    if (page->n == 0)
        return 0;
    r53_rrset_t *ns = realloc(r53s.acc.sets, (r53s.acc.n + page->n) * sizeof(*ns));
    if (!ns)
        return -1;
    memcpy(ns + r53s.acc.n, page->sets, page->n * sizeof(*ns));
    r53s.acc.sets = ns;
    r53s.acc.n += page->n;
    free(page->sets);
    page->sets = NULL;
    page->n = 0;
    return 0;
}

/* A listing page's answer: 0 with page parsed, or -1 when the call or its
 * body failed (the read is failed then; page holds nothing). */
static int r53_page_of(const aws_resp_t *resp, r53_list_t *page)
{
    char err[256];
    r53s.req = NULL;
    memset(page, 0, sizeof(*page));
    if (resp->not_sent) {   /* the term's send window closed between two attempts */
        r53_stand_down();
        return -1;
    }
    if (!resp->ok || r53_parse_list(resp->body, resp->body_len, page, err, sizeof(err)) == -1) {
        r53_read_failed(resp->ok ? err : resp->error);
        return -1;
    }
    return 0;
}

static void r53_on_list(void *arg, const aws_resp_t *resp)
{
    (void)arg;
    r53_list_t page;
    if (r53_page_of(resp, &page) == -1)
        return;
    if (r53_append(&page) == -1) {
        r53_list_free(&page);
        r53_read_failed("out of memory");
        return;
    }
    /* More records of our name on the next page? (NextRecordName as
     * Route 53 writes it: compared with its name rules.) */
    if (page.truncated && r53_name_equal(page.next_name, r53s.cfg->route53.record_name)) {
        r53_list_page(page.next_name, page.next_type, page.next_identifier, 300, r53_on_list);
        r53_list_free(&page);
        return;
    }
    r53_list_free(&page);
    if (r53s.epoch && r53s.guard_name[0]) {   /* fencing: the guard too, in its own listing */
        r53_list_page(r53s.guard_name, "TXT", NULL, 1, r53_on_guard);
        return;
    }
    r53_deliver();
}

/* The listing is complete: hand it to whoever asked for it. */
static void r53_deliver(void)
{
    r53_after_fn after = r53s.after_read;
    r53_list_t acc = r53s.acc;   /* detached: `after` may start another read */
    memset(&r53s.acc, 0, sizeof(r53s.acc));
    r53s.after_read = NULL;
    r53s.fail_read = NULL;
    after(&acc);
    r53_list_free(&acc);
}

/* The guard's page (StartRecordName = the guard name, type TXT, at most
 * one record): the guard when its first record is it. */
static void r53_on_guard(void *arg, const aws_resp_t *resp)
{
    (void)arg;
    r53_list_t page;
    if (r53_page_of(resp, &page) == -1)
        return;
    r53_guard_adopt(&page);
    r53_list_free(&page);
    r53_deliver();
}

void r53_read(r53_after_fn after, r53_fail_fn fail)
{
    r53_list_free(&r53s.acc);
    memset(&r53s.acc, 0, sizeof(r53s.acc));
    r53s.after_read = after;
    r53s.fail_read = fail;
    /* With a CNAME only that type can live at the name; with A or AAAA both
     * are ours, so the listing starts at the name's first type. */
    r53_list_page(r53s.cfg->route53.record_name,
                  r53_slot_type(1) ? NULL : r53s.cfg->route53.record_type, NULL, 300, r53_on_list);
}
