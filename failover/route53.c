/* route53 — see route53.h.  Wire format: Route 53 API reference,
 * ListResourceRecordSets (GET /2013-04-01/hostedzone/{Id}/rrset?name=&type=
 * &identifier=&maxitems=), ChangeResourceRecordSets (POST
 * /2013-04-01/hostedzone/{Id}/rrset/ with a ChangeResourceRecordSetsRequest),
 * GetChange (GET /2013-04-01/change/{Id}). */
#include "route53.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "alarm.h"
#include "client.h"
#include "dnscheck.h"
#include "feed.h"
#include "log.h"
#include "loop.h"
#include "r53_xml.h"
#include "state.h"

#define R53_INTENT_FILE "route53-change.json"
#define R53_MAXR 64

static struct {
    const cfg_t *cfg;
    route53_notify_fn notify;
    route53_phase_t phase;
    size_t n;
    r53_rrset_t known[R53_MAXR];
    bool have[R53_MAXR];          /* known[i] holds a record */
    bool read_ok;                 /* live records read at least once */
    bool drift[R53_MAXR];
    int want[R53_MAXR];           /* weights of the change in flight */
    aws_req_t *req;
    r53_list_t acc;               /* pages of a listing being read */
    void (*after_read)(const r53_list_t *acc);  /* what to do with a complete listing */
    r53_rrset_t *created;         /* the CREATEs of the batch in flight, R.n entries */
    struct event *poll_timer, *reconcile_timer;
    uint64_t poll_wait_ms;
    route53_change_t change;
    bool have_change;
    char error[512];
    int64_t last_read_wall_ms;
    uint64_t changes_total, drift_total;
} R;

static void r53_read(void (*after)(const r53_list_t *acc));

const char *route53_phase_str(route53_phase_t p)
{
    static const char *const n[] = {"idle", "reading", "submitting", "pending", "verifying"};
    return (unsigned)p < sizeof(n) / sizeof(n[0]) ? n[p] : "invalid";
}

int route53_live_weight(size_t i)
{
    return i < R.n && R.read_ok && R.have[i] ? (int)R.known[i].weight : -1;
}

bool route53_drifted(size_t i)
{
    return i < R.n && R.drift[i];
}

void route53_clear_drift(size_t i)
{
    if (i < R.n && R.drift[i]) {
        char key[100];
        snprintf(key, sizeof(key), "route53-drift-%s", R.cfg->regions[i].name);
        alarm_resolve(key, "drift accepted by an operator");
    }
    if (i < R.n)
        R.drift[i] = false;
}

bool route53_ready(void)
{
    return R.read_ok;
}

bool route53_idle(void)
{
    return R.phase == R53_IDLE && R.read_ok;
}

route53_phase_t route53_phase(void) { return R.phase; }
const route53_change_t *route53_last_change(void) { return R.have_change ? &R.change : NULL; }
const char *route53_last_error(void) { return R.error; }
int64_t route53_last_read_wall_ms(void) { return R.last_read_wall_ms; }
uint64_t route53_changes_total(void) { return R.changes_total; }
uint64_t route53_drift_total(void) { return R.drift_total; }

static void r53_event(const char *type, cJSON *d)
{
    feed_emit(type, d);
}

/* Index of the configured region whose set identifier is `id`, or -1. */
static int r53_region_of(const char *id)
{
    for (size_t i = 0; i < R.n; i++)
        if (strcmp(R.cfg->route53.regions[i].set_identifier, id) == 0)
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
    const cfg_route53_t *rc = &R.cfg->route53;
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
    R.req = aws_call(&c, r53_on_list, NULL);
    if (!R.req) {
        snprintf(R.error, sizeof(R.error), "ListResourceRecordSets: cannot start");
        R.phase = R53_IDLE;
    }
}

/* Our configured regions' records in a listing. */
static void r53_pick(const r53_list_t *acc, r53_rrset_t *live, bool *have)
{
    const cfg_route53_t *rc = &R.cfg->route53;
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
static void r53_adopt_listing(const r53_list_t *acc, bool report_drift)
{
    r53_rrset_t live[R53_MAXR];
    bool have[R53_MAXR];
    r53_pick(acc, live, have);
    for (size_t i = 0; i < R.n; i++) {
        bool differs = have[i] != R.have[i] || (have[i] && !r53_rrset_equal(&live[i], &R.known[i]));
        if (report_drift && R.read_ok && differs) {
            R.drift[i] = true;
            R.drift_total++;
            cJSON *d = cJSON_CreateObject();
            if (d) {
                cJSON_AddStringToObject(d, "region", R.cfg->regions[i].name);
                cJSON_AddNumberToObject(d, "expected_weight", R.have[i] ? (double)R.known[i].weight : -1);
                cJSON_AddNumberToObject(d, "live_weight", have[i] ? (double)live[i].weight : -1);
                cJSON_AddBoolToObject(d, "corrected", R.cfg->route53.correct_drift);
            }
            r53_event("route53_drift", d);
            char key[100], sum[200];
            snprintf(key, sizeof(key), "route53-drift-%s", R.cfg->regions[i].name);
            snprintf(sum, sizeof(sum), "Route 53 record of %s changed outside regiond", R.cfg->regions[i].name);
            alarm_raise(key, "warning", sum, NULL);
            log_msg(LOG_WARNING, "msg=\"route53 record changed outside regiond\" region=%s",
                    R.cfg->regions[i].name);
        }
        r53_rrset_clear(&R.known[i]);
        R.known[i] = live[i];
        R.have[i] = have[i];
    }
    R.read_ok = true;
    R.last_read_wall_ms = loop_wall_ms();
}

static void r53_on_list(void *arg, const aws_resp_t *resp)
{
    (void)arg;
    R.req = NULL;
    char err[256];
    r53_list_t page;
    memset(&page, 0, sizeof(page));
    if (!resp->ok || r53_parse_list(resp->body, resp->body_len, &page, err, sizeof(err)) == -1) {
        snprintf(R.error, sizeof(R.error), "ListResourceRecordSets: %.480s", resp->ok ? err : resp->error);
        log_msg(LOG_ERR, "msg=\"cannot read route53 records\" error=\"%s\"", R.error);
        r53_list_free(&page);
        r53_list_free(&R.acc);
        R.phase = R53_IDLE;
        return;
    }
    /* Append this page to the accumulated listing. */
    r53_rrset_t *ns = realloc(R.acc.sets, (R.acc.n + page.n) * sizeof(*ns) + 1);
    if (ns) {
        memcpy(ns + R.acc.n, page.sets, page.n * sizeof(*ns));
        R.acc.sets = ns;
        R.acc.n += page.n;
        free(page.sets);
        page.sets = NULL;
        page.n = 0;
    }
    const cfg_route53_t *rc = &R.cfg->route53;
    if (page.truncated && r53_same_name(page.next_name, rc->record_name) &&
        strcmp(page.next_type, rc->record_type) == 0) {
        r53_list_page(page.next_name, page.next_type, page.next_identifier);
        r53_list_free(&page);
        return;
    }
    r53_list_free(&page);
    void (*after)(const r53_list_t *) = R.after_read;
    r53_list_t acc = R.acc;   /* detached: `after` may start another read */
    memset(&R.acc, 0, sizeof(R.acc));
    R.after_read = NULL;
    after(&acc);
    r53_list_free(&acc);
}

static void r53_read(void (*after)(const r53_list_t *acc))
{
    r53_list_free(&R.acc);
    memset(&R.acc, 0, sizeof(R.acc));
    R.after_read = after;
    r53_list_page(R.cfg->route53.record_name, R.cfg->route53.record_type, NULL);
}

/* ---- the change in flight, persisted ---- */

static void r53_intent_write(void)
{
    cJSON *o = cJSON_CreateObject(), *w = cJSON_AddArrayToObject(o, "weights");
    if (!o || !w) {
        cJSON_Delete(o);
        return;
    }
    cJSON_AddNumberToObject(o, "decision", (double)R.change.decision);
    for (size_t i = 0; i < R.n; i++)
        cJSON_AddItemToArray(w, cJSON_CreateNumber(R.want[i]));
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (s)
        state_write(R53_INTENT_FILE, s, strlen(s));
    free(s);
}

static void r53_intent_clear(void)
{
    state_write(R53_INTENT_FILE, "{}", 2);
}

static bool r53_live_matches_want(const r53_list_t *acc)
{
    r53_rrset_t live[R53_MAXR];
    bool have[R53_MAXR], ok = true;
    r53_pick(acc, live, have);
    for (size_t i = 0; i < R.n; i++) {
        if (R.want[i] >= 0 && (!have[i] || live[i].weight != R.want[i]))
            ok = false;
        r53_rrset_clear(&live[i]);
    }
    return ok;
}

static void r53_change_event(const char *type)
{
    cJSON *d = cJSON_CreateObject();
    if (!d)
        return;
    const route53_change_t *c = &R.change;
    cJSON_AddNumberToObject(d, "decision", (double)c->decision);
    cJSON_AddStringToObject(d, "change_id", c->change_id);
    cJSON_AddStringToObject(d, "status", c->status);
    if (c->accepted_ms)
        cJSON_AddNumberToObject(d, "submit_ms", (double)(c->accepted_ms - c->submitted_ms));
    if (c->insync_ms)
        cJSON_AddNumberToObject(d, "insync_after_ms", (double)(c->insync_ms - c->submitted_ms));
    if (c->visible_ms)
        cJSON_AddNumberToObject(d, "visible_after_ms", (double)(c->visible_ms - c->submitted_ms));
    if (c->visible_result[0])
        cJSON_AddStringToObject(d, "dns", c->visible_result);
    if (c->error[0])
        cJSON_AddStringToObject(d, "error", c->error);
    cJSON *w = cJSON_AddObjectToObject(d, "weights");
    for (size_t i = 0; w && i < R.n; i++)
        if (c->weights_from[i] != c->weights_to[i]) {
            char v[32];
            snprintf(v, sizeof(v), "%d -> %d", c->weights_from[i], c->weights_to[i]);
            cJSON_AddStringToObject(w, R.cfg->regions[i].name, v);
        }
    r53_event(type, d);
}

static void r53_go_idle(void)
{
    R.phase = R53_IDLE;
    R.notify(R53_NOTE_IDLE);
}

/* ---- following the change: GetChange until INSYNC, then the DNS check ---- */

static void r53_on_visible(void *arg, int ok, const char *result)
{
    (void)arg;
    R.change.visible_ms = ok ? loop_now_ms() : 0;
    snprintf(R.change.visible_result, sizeof(R.change.visible_result), "%s", result);
    r53_change_event(ok ? "route53_change_visible" : "route53_change_not_visible");
}

static void r53_on_getchange(void *arg, const aws_resp_t *resp)
{
    (void)arg;
    R.req = NULL;
    r53_change_t ci;
    char err[256];
    if (resp->ok && r53_parse_change(resp->body, resp->body_len, &ci, err, sizeof(err)) == 0) {
        snprintf(R.change.status, sizeof(R.change.status), "%s", ci.status);
        if (strcmp(ci.status, "INSYNC") == 0) {
            R.change.insync_ms = loop_now_ms();
            alarm_resolve("route53-stuck", "change INSYNC");
            r53_change_event("route53_change_insync");
            dnscheck_start(R.cfg, R.change.weights_from, R.change.weights_to, R.n, r53_on_visible, NULL);
            r53_go_idle();
            return;
        }
    } else {
        log_msg(LOG_WARNING, "msg=\"GetChange failed\" error=\"%s\"", resp->ok ? err : resp->error);
    }
    uint64_t age = loop_now_ms() - R.change.submitted_ms;
    if (age > (uint64_t)R.cfg->route53.change_timeout_s * 1000u) {
        snprintf(R.change.error, sizeof(R.change.error), "not INSYNC after %u s", R.cfg->route53.change_timeout_s);
        r53_change_event("route53_change_stuck");
        alarm_raise("route53-stuck", "critical", R.change.error, NULL);
        r53_go_idle();
        return;
    }
    R.poll_wait_ms = R.poll_wait_ms * 3 / 2;
    if (R.poll_wait_ms > 5000)
        R.poll_wait_ms = 5000;
    struct timeval tv = {(time_t)(R.poll_wait_ms / 1000), (suseconds_t)(R.poll_wait_ms % 1000) * 1000};
    evtimer_add(R.poll_timer, &tv);
}

static void r53_on_poll(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    char path[256];
    const char *id = R.change.change_id;
    if (strncmp(id, "/change/", 8) == 0)
        id += 8;
    snprintf(path, sizeof(path), "/2013-04-01/change/%.127s", id);
    aws_call_t c = {.service = "route53", .region = "us-east-1", .op = "GetChange", .method = "GET",
                    .path_query = path, .proto = AWS_PROTO_REST_XML};
    R.req = aws_call(&c, r53_on_getchange, NULL);
    if (!R.req)
        r53_go_idle();
}

/* ---- applying a decision ---- */

static void r53_after_verify(const r53_list_t *acc);

/* The record region i should have with weight w: the known one re-weighted,
 * or one built from the config when none exists yet. */
static int r53_desired_record(size_t i, int w, r53_rrset_t *out)
{
    const cfg_route53_t *rc = &R.cfg->route53;
    const cfg_r53_region_t *rr = &rc->regions[i];
    memset(out, 0, sizeof(*out));
    if (R.have[i]) {
        if (r53_rrset_copy(out, &R.known[i]) == -1)
            return -1;
        out->weight = w;
        return 0;
    }
    snprintf(out->name, sizeof(out->name), "%s", rc->record_name);
    snprintf(out->type, sizeof(out->type), "%s", rc->record_type);
    snprintf(out->set_identifier, sizeof(out->set_identifier), "%s", rr->set_identifier);
    out->weight = w;
    if (rr->alias_dns) {
        out->ttl = -1;
        out->alias = true;
        snprintf(out->alias_zone, sizeof(out->alias_zone), "%s", rr->alias_zone);
        snprintf(out->alias_dns, sizeof(out->alias_dns), "%s", rr->alias_dns);
        out->alias_evaluate = rr->alias_evaluate;
        return 0;
    }
    out->ttl = rc->ttl;
    for (size_t k = 0; k < rr->n_values && k < R53_MAX_VALUES; k++) {
        if (!(out->values[k] = strdup(rr->values[k]))) {
            r53_rrset_clear(out);
            return -1;
        }
        out->n_values = k + 1;
    }
    return 0;
}

static void r53_free_created(void)
{
    for (size_t i = 0; R.created && i < R.n; i++)
        r53_rrset_clear(&R.created[i]);
    free(R.created);
    R.created = NULL;
}

static void r53_on_change(void *arg, const aws_resp_t *resp)
{
    (void)arg;
    r53_rrset_t *created = R.created;   /* the batch's CREATEs; name "" where none */
    R.req = NULL;
    r53_change_t ci;
    char err[256];
    if (resp->ok && r53_parse_change(resp->body, resp->body_len, &ci, err, sizeof(err)) == 0) {
        R.change.accepted_ms = loop_now_ms();
        snprintf(R.change.change_id, sizeof(R.change.change_id), "%s", ci.id);
        snprintf(R.change.status, sizeof(R.change.status), "%s", ci.status);
        for (size_t i = 0; i < R.n; i++)
            if (created[i].name[0]) {
                r53_rrset_clear(&R.known[i]);
                R.known[i] = created[i];   /* moved: now what we know */
                R.have[i] = true;
                memset(&created[i], 0, sizeof(created[i]));
            }
        r53_free_created();
        R.changes_total++;
        r53_intent_clear();
        alarm_resolve("route53-change", "Route 53 changes go through again");
        r53_change_event("route53_change_submitted");
        R.notify(R53_NOTE_APPLIED);
        R.phase = R53_PENDING;
        R.poll_wait_ms = 250;
        r53_on_poll(-1, 0, NULL);
        return;
    }
    r53_free_created();
    snprintf(R.change.error, sizeof(R.change.error), "%.500s", resp->ok ? err : resp->error);
    snprintf(R.error, sizeof(R.error), "ChangeResourceRecordSets: %.480s", R.change.error);
    log_msg(LOG_WARNING, "msg=\"route53 batch failed, re-reading live records\" decision=%" PRIu64
            " error=\"%s\"", R.change.decision, R.change.error);
    R.phase = R53_VERIFYING;
    r53_read(r53_after_verify);
}

/* After a failed or lost batch: did it land after all, or did someone else
 * change the records? */
static void r53_after_verify(const r53_list_t *acc)
{
    if (r53_live_matches_want(acc)) {
        snprintf(R.change.status, sizeof(R.change.status), "LANDED");
        r53_adopt_listing(acc, false);
        r53_intent_clear();
        R.changes_total++;
        r53_change_event("route53_change_landed");
        R.notify(R53_NOTE_APPLIED);
    } else {
        snprintf(R.change.status, sizeof(R.change.status), "FAILED");
        r53_adopt_listing(acc, true);
        r53_intent_clear();
        r53_change_event("route53_change_failed");
        alarm_raise("route53-change", "critical", R.change.error[0] ? R.change.error : "a Route 53 change failed", NULL);
        R.notify(R53_NOTE_FAILED);
    }
    R.notify(R53_NOTE_LIVE);
    r53_go_idle();
}

int route53_apply(uint64_t seq, const int *weights, size_t n)
{
    if (!route53_idle() || n != R.n)
        return -1;
    r53_change_item_t items[2 * R53_MAXR];
    size_t k = 0;
    r53_rrset_t *created = calloc(R.n, sizeof(*created));
    if (!created)
        return -1;
    memset(&R.change, 0, sizeof(R.change));
    R.change.decision = seq;
    for (size_t i = 0; i < R.n; i++) {
        int live = route53_live_weight(i);
        R.want[i] = weights[i];
        R.change.weights_from[i] = live;
        R.change.weights_to[i] = weights[i];
        if (weights[i] < 0 || weights[i] == live || R.drift[i]) {
            R.want[i] = -1;
            R.change.weights_to[i] = live;
            continue;
        }
        if (r53_desired_record(i, weights[i], &created[i]) == -1)
            goto oom;
        if (R.have[i])
            items[k++] = (r53_change_item_t){.action = "DELETE", .rrset = &R.known[i]};
        items[k++] = (r53_change_item_t){.action = "CREATE", .rrset = &created[i]};
    }
    if (k == 0) {
        free(created);
        return 0;
    }
    char comment[200];
    snprintf(comment, sizeof(comment), "regiond %s decision %" PRIu64, R.cfg->controller.id, seq);
    char *body = r53_build_change_batch(comment, items, k);
    if (!body)
        goto oom;
    char path[256];
    snprintf(path, sizeof(path), "/2013-04-01/hostedzone/%s/rrset/", R.cfg->route53.hosted_zone_id);
    aws_call_t c = {.service = "route53", .region = "us-east-1", .op = "ChangeResourceRecordSets",
                    .method = "POST", .path_query = path, .body = body, .body_len = strlen(body),
                    .content_type = "text/xml", .proto = AWS_PROTO_REST_XML};
    R.have_change = true;
    R.change.decided_ms = R.change.submitted_ms = loop_now_ms();
    R.change.submitted_wall_ms = loop_wall_ms();
    snprintf(R.change.status, sizeof(R.change.status), "SUBMITTING");
    dnscheck_cancel();
    r53_intent_write();
    R.created = created;
    R.req = aws_call(&c, r53_on_change, NULL);
    free(body);
    if (!R.req) {
        R.created = NULL;
        goto oom;
    }
    R.phase = R53_SUBMITTING;
    R.error[0] = '\0';
    return 0;
oom:
    for (size_t i = 0; i < R.n; i++)
        r53_rrset_clear(&created[i]);
    free(created);
    log_msg(LOG_ERR, "msg=\"cannot start route53 change\" decision=%" PRIu64, seq);
    return -1;
}

/* ---- start-up and the reconcile timer ---- */

/* A change in flight when we stopped: did it land? (Never repeated blindly:
 * the controller decides again from the live weights.) */
static void r53_check_intent(const r53_list_t *acc)
{
    char *s = state_read(R53_INTENT_FILE, NULL);
    cJSON *o = s ? cJSON_Parse(s) : NULL;
    free(s);
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "weights");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "decision");
    if (cJSON_IsArray(w) && (size_t)cJSON_GetArraySize(w) == R.n && cJSON_IsNumber(d)) {
        size_t i = 0;
        const cJSON *x;
        cJSON_ArrayForEach(x, w) R.want[i++] = cJSON_IsNumber(x) ? x->valueint : -1;
        memset(&R.change, 0, sizeof(R.change));
        R.have_change = true;
        R.change.decision = (uint64_t)d->valuedouble;
        bool landed = r53_live_matches_want(acc);
        snprintf(R.change.status, sizeof(R.change.status), "%s", landed ? "LANDED" : "LOST");
        for (size_t k = 0; k < R.n; k++)
            R.change.weights_from[k] = R.change.weights_to[k] = R.want[k];
        log_msg(LOG_NOTICE, "msg=\"change in flight at the last stop %s\" decision=%" PRIu64,
                landed ? "landed" : "did not land", R.change.decision);
        r53_change_event(landed ? "route53_change_landed" : "route53_change_lost");
        r53_intent_clear();
    }
    cJSON_Delete(o);
}

static void r53_after_start(const r53_list_t *acc)
{
    r53_adopt_listing(acc, false);
    r53_check_intent(acc);
    cJSON *d = cJSON_CreateObject();
    for (size_t i = 0; d && i < R.n; i++)
        cJSON_AddNumberToObject(d, R.cfg->regions[i].name, route53_live_weight(i));
    r53_event("route53_live", d);
    R.phase = R53_IDLE;
    R.notify(R53_NOTE_LIVE);
    R.notify(R53_NOTE_IDLE);
}

static void r53_after_reconcile(const r53_list_t *acc)
{
    uint64_t before = R.drift_total;
    r53_adopt_listing(acc, true);
    R.phase = R53_IDLE;
    if (R.drift_total != before)
        R.notify(R53_NOTE_LIVE);
    R.notify(R53_NOTE_IDLE);
}

static void r53_on_reconcile(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    if (R.phase != R53_IDLE)
        return;
    R.phase = R53_READING;
    r53_read(R.read_ok ? r53_after_reconcile : r53_after_start);
}

static void r53_arm_reconcile(void)
{
    struct timeval tv = {(time_t)R.cfg->route53.reconcile_s, 0};
    event_del(R.reconcile_timer);
    event_add(R.reconcile_timer, &tv);
}

int route53_init(const cfg_t *cfg, route53_notify_fn notify)
{
    memset(&R, 0, sizeof(R));
    R.cfg = cfg;
    R.notify = notify;
    R.n = cfg->n_regions < R53_MAXR ? cfg->n_regions : R53_MAXR;
    R.poll_timer = evtimer_new(loop_base(), r53_on_poll, NULL);
    R.reconcile_timer = event_new(loop_base(), -1, EV_PERSIST, r53_on_reconcile, NULL);
    if (!R.poll_timer || !R.reconcile_timer || dnscheck_init() == -1)
        return -1;
    if (!cfg->route53.enabled)
        return 0;
    r53_arm_reconcile();
    R.phase = R53_READING;
    r53_read(r53_after_start);
    return 0;
}

void route53_configure(const cfg_t *cfg)
{
    /* Region order and the record may have changed: forget what we knew and
     * read again (a reload with a different route53 section is a new start). */
    bool was = R.cfg && R.cfg->route53.enabled;
    R.cfg = cfg;
    if (R.req) {
        aws_cancel(R.req);
        R.req = NULL;
    }
    r53_free_created();
    evtimer_del(R.poll_timer);
    dnscheck_cancel();
    for (size_t i = 0; i < R53_MAXR; i++) {
        r53_rrset_clear(&R.known[i]);
        R.have[i] = R.drift[i] = false;
    }
    r53_list_free(&R.acc);
    memset(&R.acc, 0, sizeof(R.acc));
    R.read_ok = false;
    R.n = cfg->n_regions < R53_MAXR ? cfg->n_regions : R53_MAXR;
    R.phase = R53_IDLE;
    event_del(R.reconcile_timer);
    if (!cfg->route53.enabled) {
        if (was)
            log_msg(LOG_NOTICE, "msg=\"route53 section removed: monitoring only\"");
        return;
    }
    r53_arm_reconcile();
    R.phase = R53_READING;
    r53_read(r53_after_start);
}

void route53_fini(void)
{
    if (R.req)
        aws_cancel(R.req);
    R.req = NULL;
    r53_free_created();
    dnscheck_fini();
    if (R.poll_timer)
        event_free(R.poll_timer);
    if (R.reconcile_timer)
        event_free(R.reconcile_timer);
    for (size_t i = 0; i < R53_MAXR; i++)
        r53_rrset_clear(&R.known[i]);
    r53_list_free(&R.acc);
    memset(&R, 0, sizeof(R));
}
