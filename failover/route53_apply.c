/* route53_apply — applying a decision as one compare-and-swap batch
 * (DELETE the known record, CREATE the new one), re-reading when it fails
 * or its answer is lost, and following the accepted change with GetChange
 * until INSYNC, then the DNS check. */
#include "route53_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alarm.h"
#include "dnscheck.h"
#include "log.h"
#include "loop.h"

static void r53_go_idle(void)
{
    r53s.phase = R53_IDLE;
    r53s.notify(R53_NOTE_IDLE);
}

/* ---- following the change: GetChange until INSYNC, then the DNS check ---- */

static void r53_on_visible(void *arg, int ok, const char *result)
{
    (void)arg;
    r53s.change.visible_ms = ok ? loop_now_ms() : 0;
    snprintf(r53s.change.visible_result, sizeof(r53s.change.visible_result), "%s", result);
    r53_change_event(ok ? "route53_change_visible" : "route53_change_not_visible");
}

static void r53_on_getchange(void *arg, const aws_resp_t *resp)
{
    (void)arg;
    r53s.req = NULL;
    r53_change_t ci;
    char err[256];
    if (resp->ok && r53_parse_change(resp->body, resp->body_len, &ci, err, sizeof(err)) == 0) {
        snprintf(r53s.change.status, sizeof(r53s.change.status), "%s", ci.status);
        if (strcmp(ci.status, "INSYNC") == 0) {
            r53s.change.insync_ms = loop_now_ms();
            alarm_resolve("route53-stuck", "change INSYNC");
            r53_change_event("route53_change_insync");
            dnscheck_start(r53s.cfg, r53s.change.weights_from, r53s.change.weights_to, r53s.n, r53_on_visible, NULL);
            r53_go_idle();
            return;
        }
    } else {
        log_msg(LOG_WARNING, "msg=\"GetChange failed\" error=\"%s\"", resp->ok ? err : resp->error);
    }
    uint64_t age = loop_now_ms() - r53s.change.submitted_ms;
    if (age > (uint64_t)r53s.cfg->route53.change_timeout_s * 1000u) {
        snprintf(r53s.change.error, sizeof(r53s.change.error), "not INSYNC after %u s", r53s.cfg->route53.change_timeout_s);
        r53_change_event("route53_change_stuck");
        alarm_raise("route53-stuck", "critical", r53s.change.error, NULL);
        r53_go_idle();
        return;
    }
    r53s.poll_wait_ms = r53s.poll_wait_ms * 3 / 2;
    if (r53s.poll_wait_ms > 5000)
        r53s.poll_wait_ms = 5000;
    struct timeval tv = {(time_t)(r53s.poll_wait_ms / 1000), (suseconds_t)(r53s.poll_wait_ms % 1000) * 1000};
    evtimer_add(r53s.poll_timer, &tv);
}

void r53_on_poll(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    char path[256];
    const char *id = r53s.change.change_id;
    if (strncmp(id, "/change/", 8) == 0)
        id += 8;
    snprintf(path, sizeof(path), "/2013-04-01/change/%.127s", id);
    aws_call_t c = {.service = "route53", .region = "us-east-1", .op = "GetChange", .method = "GET",
                    .path_query = path, .proto = AWS_PROTO_REST_XML};
    r53s.req = aws_call(&c, r53_on_getchange, NULL);
    if (!r53s.req)
        r53_go_idle();
}

/* ---- applying a decision ---- */

static void r53_after_verify(const r53_list_t *acc);

/* The record region i should have with weight w: the known one re-weighted,
 * or one built from the config when none exists yet. */
static int r53_desired_record(size_t i, int w, r53_rrset_t *out)
{
    const cfg_route53_t *rc = &r53s.cfg->route53;
    const cfg_r53_region_t *rr = &rc->regions[i];
    memset(out, 0, sizeof(*out));
    if (r53s.have[i]) {
        if (r53_rrset_copy(out, &r53s.known[i]) == -1)
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

void r53_free_created(void)
{
    for (size_t i = 0; r53s.created && i < r53s.n; i++)
        r53_rrset_clear(&r53s.created[i]);
    free(r53s.created);
    r53s.created = NULL;
}

static void r53_on_change(void *arg, const aws_resp_t *resp)
{
    (void)arg;
    r53_rrset_t *created = r53s.created;   /* the batch's CREATEs; name "" where none */
    r53s.req = NULL;
    r53_change_t ci;
    char err[256];
    if (resp->ok && r53_parse_change(resp->body, resp->body_len, &ci, err, sizeof(err)) == 0) {
        r53s.change.accepted_ms = loop_now_ms();
        snprintf(r53s.change.change_id, sizeof(r53s.change.change_id), "%s", ci.id);
        snprintf(r53s.change.status, sizeof(r53s.change.status), "%s", ci.status);
        for (size_t i = 0; i < r53s.n; i++)
            if (created[i].name[0]) {
                r53_rrset_clear(&r53s.known[i]);
                r53s.known[i] = created[i];   /* moved: now what we know */
                r53s.have[i] = true;
                memset(&created[i], 0, sizeof(created[i]));
            }
        r53_free_created();
        r53s.changes_total++;
        r53_intent_clear();
        alarm_resolve("route53-change", "Route 53 changes go through again");
        r53_change_event("route53_change_submitted");
        r53s.notify(R53_NOTE_APPLIED);
        r53s.phase = R53_PENDING;
        r53s.poll_wait_ms = 250;
        r53_on_poll(-1, 0, NULL);
        return;
    }
    r53_free_created();
    snprintf(r53s.change.error, sizeof(r53s.change.error), "%.500s", resp->ok ? err : resp->error);
    snprintf(r53s.error, sizeof(r53s.error), "ChangeResourceRecordSets: %.480s", r53s.change.error);
    log_msg(LOG_WARNING, "msg=\"route53 batch failed, re-reading live records\" decision=%" PRIu64
            " error=\"%s\"", r53s.change.decision, r53s.change.error);
    r53s.phase = R53_VERIFYING;
    r53_read(r53_after_verify);
}

/* After a failed or lost batch: did it land after all, or did someone else
 * change the records? */
static void r53_after_verify(const r53_list_t *acc)
{
    if (r53_live_matches_want(acc)) {
        snprintf(r53s.change.status, sizeof(r53s.change.status), "LANDED");
        r53_adopt_listing(acc, false);
        r53_intent_clear();
        r53s.changes_total++;
        r53_change_event("route53_change_landed");
        r53s.notify(R53_NOTE_APPLIED);
    } else {
        snprintf(r53s.change.status, sizeof(r53s.change.status), "FAILED");
        r53_adopt_listing(acc, true);
        r53_intent_clear();
        r53_change_event("route53_change_failed");
        alarm_raise("route53-change", "critical", r53s.change.error[0] ? r53s.change.error : "a Route 53 change failed", NULL);
        r53s.notify(R53_NOTE_FAILED);
    }
    r53s.notify(R53_NOTE_LIVE);
    r53_go_idle();
}

int route53_apply(uint64_t seq, const int *weights, size_t n)
{
    if (!route53_idle() || n != r53s.n)
        return -1;
    r53_change_item_t items[2 * R53_MAXR];
    size_t k = 0;
    r53_rrset_t *created = calloc(r53s.n, sizeof(*created));
    if (!created)
        return -1;
    memset(&r53s.change, 0, sizeof(r53s.change));
    r53s.change.decision = seq;
    for (size_t i = 0; i < r53s.n; i++) {
        int live = route53_live_weight(i);
        r53s.want[i] = weights[i];
        r53s.change.weights_from[i] = live;
        r53s.change.weights_to[i] = weights[i];
        if (weights[i] < 0 || weights[i] == live || r53s.drift[i]) {
            r53s.want[i] = -1;
            r53s.change.weights_to[i] = live;
            continue;
        }
        if (r53_desired_record(i, weights[i], &created[i]) == -1)
            goto oom;
        if (r53s.have[i])
            items[k++] = (r53_change_item_t){.action = "DELETE", .rrset = &r53s.known[i]};
        items[k++] = (r53_change_item_t){.action = "CREATE", .rrset = &created[i]};
    }
    if (k == 0) {
        free(created);
        return 0;
    }
    char comment[200];
    snprintf(comment, sizeof(comment), "regiond %s decision %" PRIu64, r53s.cfg->controller.id, seq);
    char *body = r53_build_change_batch(comment, items, k);
    if (!body)
        goto oom;
    char path[256];
    snprintf(path, sizeof(path), "/2013-04-01/hostedzone/%s/rrset/", r53s.cfg->route53.hosted_zone_id);
    aws_call_t c = {.service = "route53", .region = "us-east-1", .op = "ChangeResourceRecordSets",
                    .method = "POST", .path_query = path, .body = body, .body_len = strlen(body),
                    .content_type = "text/xml", .proto = AWS_PROTO_REST_XML};
    r53s.have_change = true;
    r53s.change.decided_ms = r53s.change.submitted_ms = loop_now_ms();
    r53s.change.submitted_wall_ms = loop_wall_ms();
    snprintf(r53s.change.status, sizeof(r53s.change.status), "SUBMITTING");
    dnscheck_cancel();
    r53_intent_write();
    r53s.created = created;
    r53s.req = aws_call(&c, r53_on_change, NULL);
    free(body);
    if (!r53s.req) {
        r53s.created = NULL;
        goto oom;
    }
    r53s.phase = R53_SUBMITTING;
    r53s.error[0] = '\0';
    return 0;
oom:
    for (size_t i = 0; i < r53s.n; i++)
        r53_rrset_clear(&created[i]);
    free(created);
    log_msg(LOG_ERR, "msg=\"cannot start route53 change\" decision=%" PRIu64, seq);
    return -1;
}
