/* route53_apply — applying a decision: a fresh read of the group, the
 * group-guarded batch (route53_batch.c), re-reading when it fails or its
 * answer is lost (retried with backoff while that read fails), and
 * following the accepted change with GetChange until INSYNC, then the DNS
 * check. */
#include "failover/route53_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alarm.h"
#include "failover/dnscheck.h"
#include "core/log.h"
#include "core/loop.h"

/* ---- following the change: GetChange until INSYNC, then the DNS check ---- */

static void r53_on_visible(void *arg, int ok, const char *result)
{
    (void)arg;
    r53s.change.visible_ms = ok ? loop_now_ms() : 0;
    snprintf(r53s.change.visible_result, sizeof(r53s.change.visible_result), "%s", result);
    r53_change_event(ok ? EV_ROUTE53_CHANGE_VISIBLE : EV_ROUTE53_CHANGE_NOT_VISIBLE);
}

static void r53_poll_later(void)
{
    r53s.poll_wait_ms = r53s.poll_wait_ms * 3 / 2;
    if (r53s.poll_wait_ms > 5000)
        r53s.poll_wait_ms = 5000;
    struct timeval tv = {(time_t)(r53s.poll_wait_ms / 1000), (suseconds_t)(r53s.poll_wait_ms % 1000) * 1000};
    evtimer_add(r53s.poll_timer, &tv);
}

static void r53_on_getchange(void *arg, const aws_resp_t *resp)
{
    (void)arg;
    r53s.req = NULL;
    r53_change_t ci;
    char err[256];
    if (resp->not_sent) {   /* the accepted change: Route 53 finishes it; the next leader reads it */
        r53_stand_down();
        return;
    }
    if (resp->ok && r53_parse_change(resp->body, resp->body_len, &ci, err, sizeof(err)) == 0) {
        snprintf(r53s.change.status, sizeof(r53s.change.status), "%s", ci.status);
        if (strcmp(ci.status, "INSYNC") == 0) {
            r53s.change.insync_ms = loop_now_ms();
            alarm_resolve(alarm_key(ALARM_ROUTE53_STUCK).s, "change INSYNC");
            r53_change_event(EV_ROUTE53_CHANGE_INSYNC);
            dnscheck_start(r53s.cfg, r53s.change.weights_from, r53s.change.weights_to, r53s.n, r53_on_visible, NULL);
            r53_go_idle();
            return;
        }
    } else {
        log_msg(LOG_WARNING, "msg=\"GetChange failed\" error=\"%s\"", resp->ok ? err : resp->error);
    }
    uint64_t age = loop_now_ms() - r53s.change.submitted_ms;
    if (age > (uint64_t)r53s.cfg->route53.change_timeout_s * 1000u) {
        snprintf(r53s.change.error, sizeof(r53s.change.error), "change %s of decision %" PRIu64 " not INSYNC after %u s",
                 r53s.change.change_id, r53s.change.decision, r53s.cfg->route53.change_timeout_s);
        r53_change_event(EV_ROUTE53_CHANGE_STUCK);
        alarm_raise(alarm_key(ALARM_ROUTE53_STUCK).s, "critical", r53s.change.error, NULL);
        r53_go_idle();   /* the change is accepted: Route 53 finishes it; the next read shows it */
        return;
    }
    r53_poll_later();
}

void r53_on_poll(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    if (!r53_may_send()) {   /* the change is accepted: Route 53 finishes it; the next leader reads it */
        r53_stand_down();
        return;
    }
    char path[256];
    const char *id = r53s.change.change_id;
    if (strncmp(id, "/change/", 8) == 0)
        id += 8;
    snprintf(path, sizeof(path), "/2013-04-01/change/%.127s", id);
    aws_call_t c = {.service = "route53", .region = "us-east-1", .op = "GetChange", .method = "GET",
                    .path_query = path, .proto = AWS_PROTO_REST_XML};
    r53s.req = r53_window(aws_call(&c, r53_on_getchange, NULL));
    if (!r53s.req)
        r53_poll_later();   /* cannot start now (out of memory): try again later */
}

/* ---- after a failed or lost batch ---- */

void r53_free_created(void)
{
    for (size_t i = 0; r53s.created && i < R53_MAXR; i++)
        for (int s = 0; s < R53_SLOTS; s++)
            r53_rrset_clear(&r53s.created[i][s]);
    free(r53s.created);
    r53s.created = NULL;
    r53_guard_lose();   /* a batch that did not land may still land late (known defect 29) */
    r53_rrset_clear(&r53s.guard_new);
    r53s.guard_new_seq = (r53_gk_seq_t){0, 0};
    r53s.guard_sent = false;
}

/* The batch did not land: alarm, let the controller back off and decide
 * again (it retries), idle. */
static void r53_batch_failed(const char *status, bool drifted)
{
    snprintf(r53s.change.status, sizeof(r53s.change.status), "%s", status);
    r53_intent_clear();
    r53_free_created();
    r53_change_event(EV_ROUTE53_CHANGE_FAILED);
    char sum[700];
    snprintf(sum, sizeof(sum), "Route 53 change of decision %" PRIu64 " did not land: %.600s", r53s.change.decision,
             r53s.change.error[0] ? r53s.change.error : "failed");
    alarm_raise(alarm_key(ALARM_ROUTE53_CHANGE).s, "critical", sum, NULL);
    r53s.notify(R53_NOTE_FAILED);
    if (drifted)
        r53s.notify(R53_NOTE_LIVE);
    r53_go_idle();
}

/* The group now holds what a batch built under correct_drift wanted:
 * every drifted record is corrected (its alarm resolved, the flag saved by
 * the caller's r53_known_save). */
static void r53_drift_corrected(void)
{
    for (size_t i = 0; i < r53s.n; i++)
        if (r53s.drift[i] && r53s.cfg->route53.correct_drift) {
            alarm_key_t key = alarm_key_region(ALARM_ROUTE53_DRIFT, r53s.cfg->regions[i].name);
            r53s.drift[i] = false;
            alarm_resolve(key.s, "drifted record corrected (correct_drift)");
        }
}

static void r53_after_verify(const r53_list_t *acc)
{
    alarm_resolve(alarm_key(ALARM_ROUTE53_UNKNOWN).s, "the outcome of the change is known again");
    r53_retry_reset();
    if (r53_live_matches_sent(acc)) {
        /* Our change landed though its answer was an error or lost (a retry
         * of a lost answer fails its exact DELETE): not drift. */
        snprintf(r53s.change.status, sizeof(r53s.change.status), "LANDED");
        r53s.change.guard_bump = r53s.bumping;
        r53s.change.guard_epoch = r53s.bumping ? r53s.epoch : 0;
        r53s.have_lost = false;   /* a batch over the whole group landed: the old one cannot */
        r53s.read_ok = false;   /* adopt without reporting our own change */
        r53_drift_corrected();
        r53_adopt_listing(acc, false);
        r53_guard_landed();
        r53_intent_clear();
        r53_free_created();
        r53s.changes_total++;
        alarm_resolve(alarm_key(ALARM_ROUTE53_CHANGE).s, "Route 53 changes go through again");
        r53_change_event(EV_ROUTE53_CHANGE_LANDED);
        if (!r53s.bumping)   /* a guard bump changes no weight: not a change for damping */
            r53s.notify(R53_NOTE_APPLIED);
        r53s.notify(R53_NOTE_LIVE);
        r53_go_idle();
        return;
    }
    /* The group holds neither what we sent nor what we knew, and the batch
     * may have landed (its answer lost, or a 5xx): another writer changed
     * the group, maybe after our batch.  A record still at its old weight
     * may be theirs, set over ours; so every record that differs from what
     * we sent is drift (held), the regions we changed included.  (A refusal,
     * 4xx, proves nothing landed: what we knew stays the reference.) */
    if (r53s.unsure && !r53_live_matches_known(acc))
        r53_take_created();
    bool drifted = r53_adopt_listing(acc, true);
    if (r53s.epoch && r53s.guard_epoch > r53s.epoch)
        r53s.fenced = true;   /* a newer term bumped the guard: that is why it failed */
    r53_batch_failed("FAILED", drifted);
    if (r53s.fenced)
        r53s.notify(R53_NOTE_FENCED);
}

static void r53_verify(void);

static void r53_verify_failed(const char *error)
{
    char sum[700];
    snprintf(sum, sizeof(sum), "outcome of the Route 53 change of decision %" PRIu64
             " unknown: the batch failed (%.200s) and re-reading %s failed (%.200s); retrying",
             r53s.change.decision, r53s.change.error, r53s.cfg->route53.record_name, error);
    alarm_raise(alarm_key(ALARM_ROUTE53_UNKNOWN).s, "critical", sum, NULL);
    r53_retry_later(r53_verify);
}

static void r53_verify(void)
{
    r53s.phase = R53_VERIFYING;
    r53_read(r53_after_verify, r53_verify_failed);
}

/* The term's send window closed between two attempts of the batch (the
 * earlier ones were refused: Throttling, PriorRequestNotComplete; the
 * client re-sends a batch only after a refusal that proves nothing was
 * applied): it never landed, and nothing more is sent. */
static void r53_batch_not_sent(const char *error)
{
    snprintf(r53s.change.status, sizeof(r53s.change.status), "NOT_SENT");
    snprintf(r53s.change.error, sizeof(r53s.change.error), "%.500s", error);
    snprintf(r53s.error, sizeof(r53s.error), "ChangeResourceRecordSets: %.480s", error);
    log_msg(LOG_WARNING, "msg=\"route53 batch not sent: the lease term's send window closed\" decision=%" PRIu64
            " error=\"%s\"", r53s.change.decision, error);
    r53_intent_clear();
    r53_free_created();
    r53_change_event(EV_ROUTE53_CHANGE_FAILED);
    r53_stand_down();
}

static void r53_on_change(void *arg, const aws_resp_t *resp)
{
    (void)arg;
    r53s.req = NULL;
    r53_change_t ci;
    char err[256];
    if (resp->ok && r53_parse_change(resp->body, resp->body_len, &ci, err, sizeof(err)) == 0) {
        r53s.change.accepted_ms = loop_now_ms();
        snprintf(r53s.change.change_id, sizeof(r53s.change.change_id), "%s", ci.id);
        snprintf(r53s.change.status, sizeof(r53s.change.status), "%s", ci.status);
        r53_take_created();
        r53_drift_corrected();
        r53_guard_landed();
        r53_free_created();
        r53s.have_lost = false;   /* a batch over the whole group landed: the old one cannot */
        r53s.changes_total++;
        r53_known_save();     /* first: a stop between the two still finds the intent landed */
        r53_intent_clear();
        alarm_resolve(alarm_key(ALARM_ROUTE53_CHANGE).s, "Route 53 changes go through again");
        if (r53s.bumping) {   /* not followed (below): its PENDING would stand for ever */
            r53s.change.guard_bump = true;
            r53s.change.guard_epoch = r53s.epoch;
            snprintf(r53s.change.status, sizeof(r53s.change.status), "ACCEPTED");
        }
        r53_change_event(EV_ROUTE53_CHANGE_SUBMITTED);
        if (r53s.bumping) {
            /* A bump changes no weight: nothing to look for at the name
             * servers, and Route 53 judges the next batch's exact DELETE
             * against the changed zone at once (PENDING only means not yet
             * on all its DNS servers; GetChange reference), so the term's
             * first decision does not wait for the bump's INSYNC, which
             * takes up to a minute in AWS. */
            r53s.notify(R53_NOTE_LIVE);
            r53_go_idle();
            return;
        }
        r53s.notify(R53_NOTE_APPLIED);
        r53s.phase = R53_PENDING;
        r53s.poll_wait_ms = 250;
        r53_on_poll(-1, 0, NULL);
        return;
    }
    if (resp->not_sent) {
        r53_batch_not_sent(resp->error);
        return;
    }
    r53s.unsure = resp->ok || resp->http_status == 0 || resp->http_status >= 500;   /* may have landed */
    snprintf(r53s.change.error, sizeof(r53s.change.error), "%.500s", resp->ok ? err : resp->error);
    snprintf(r53s.error, sizeof(r53s.error), "ChangeResourceRecordSets: %.480s", r53s.change.error);
    log_msg(LOG_WARNING, "msg=\"route53 batch failed, re-reading live records\" decision=%" PRIu64
            " error=\"%s\"", r53s.change.decision, r53s.change.error);
    r53_verify();
}

/* ---- applying a decision ---- */

static void r53_refuse(const char *why, bool safety)
{
    snprintf(r53s.change.error, sizeof(r53s.change.error), "not sent: %.480s", why);
    snprintf(r53s.error, sizeof(r53s.error), "decision %" PRIu64 " %.480s", r53s.change.decision, r53s.change.error);
    log_msg(LOG_ERR, "msg=\"route53 batch not sent\" decision=%" PRIu64 " why=\"%s\"", r53s.change.decision, why);
    r53_free_created();
    r53s.have_change = true;
    snprintf(r53s.change.status, sizeof(r53s.change.status), "REFUSED");
    r53_change_event(EV_ROUTE53_CHANGE_REFUSED);
    char sum[700];
    snprintf(sum, sizeof(sum), "Route 53 batch of decision %" PRIu64 " not sent: %.600s", r53s.change.decision, why);
    alarm_raise(alarm_key(safety ? ALARM_ROUTE53_REFUSED : ALARM_ROUTE53_CHANGE).s, "critical", sum, NULL);
    r53s.notify(R53_NOTE_FAILED);
    r53_go_idle();
}

/* Take the fresh listing as what we know; -1 when the flow ends here
 * (the group changed: decide again; or the guard forbids a batch). */
static int r53_fresh_adopt(const r53_list_t *acc)
{
    if (r53s.bumping) {
        /* a new term starts from the live group as it is: what an earlier
         * leader wrote is not drift (drift flags already set are kept and
         * the bump rewrites nothing) */
        r53s.read_ok = false;
        r53s.known_hold = r53s.await_state || r53s.judge_due;
        r53_adopt_listing(acc, false);
    } else if (r53_adopt_listing(acc, true)) {
        r53s.notify(R53_NOTE_LIVE);
        r53_go_idle();
        return -1;
    }
    return r53_fence_gate();
}

/* ---- the batch goes out once its intent record is durable ----
 *
 * A restart tells regiond's own landed change from someone else's by the
 * intent record (route53-change.json): a batch that lands while its record
 * is still queued, then a kill -9, would be taken for drift and held (a
 * drain kept after the region recovered; bb_test_crash caught it under
 * load).  So the batch is sent from the write's completion, or after
 * R53_INTENT_WAIT_MS if the disk is slower than that (a drain matters more:
 * a kill in that window is the documented limit, as is a write that fails,
 * after which the batch still goes). */
#define R53_INTENT_WAIT_MS 1000

static uint64_t r53_send_gen;   /* outlives r53s (zeroed by init and fini): whose completion is whose */

static void r53_send_now(void)
{
    char *body = r53s.send_body;
    if (!body)
        return;
    r53s.send_body = NULL;
    evtimer_del(r53s.intent_timer);
    if (!r53_may_send()) {   /* the lease's send window closed while the record was written */
        free(body);
        r53_intent_clear();   /* never sent */
        r53_stand_down();
        return;
    }
    char path[256];
    snprintf(path, sizeof(path), "/2013-04-01/hostedzone/%s/rrset/", r53s.cfg->route53.hosted_zone_id);
    aws_call_t c = {.service = "route53", .region = "us-east-1", .op = "ChangeResourceRecordSets",
                    .method = "POST", .path_query = path, .body = body, .body_len = strlen(body),
                    .content_type = "text/xml", .proto = AWS_PROTO_REST_XML};
    r53s.change.submitted_ms = loop_now_ms();
    r53s.req = r53_window(aws_call(&c, r53_on_change, NULL));
    free(body);
    if (!r53s.req) {
        r53_intent_clear();
        r53_refuse("cannot start the request (out of memory)", false);
    }
}

static void r53_on_intent_durable(void *arg, int rc, const char *err)
{
    (void)rc;
    (void)err;   /* a failed write was alarmed by the state module; the batch still goes */
    if ((uintptr_t)arg == (uintptr_t)r53_send_gen)
        r53_send_now();
}

void r53_on_intent_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    if (r53s.send_body)
        log_msg(LOG_WARNING, "msg=\"route53 batch sent before its intent record is durable\" waited_ms=%d "
                "decision=%" PRIu64, R53_INTENT_WAIT_MS, r53s.change.decision);
    r53_send_now();
}

/* Forget a batch still waiting for its record (a reload, the end). */
void r53_send_drop(void)
{
    r53_send_gen++;
    free(r53s.send_body);
    r53s.send_body = NULL;
    if (r53s.intent_timer)
        evtimer_del(r53s.intent_timer);
}

static void r53_send_after_intent(char *body)
{
    r53_send_drop();
    r53s.send_body = body;
    if (r53_intent_write(r53_on_intent_durable, (void *)(uintptr_t)r53_send_gen) != 0) {
        r53_send_now();   /* out of memory: no record, the batch goes anyway */
        return;
    }
    struct timeval tv = {R53_INTENT_WAIT_MS / 1000, (R53_INTENT_WAIT_MS % 1000) * 1000};
    evtimer_add(r53s.intent_timer, &tv);
}

/* The fresh listing before a batch.  Anything changed since the decision
 * was made: no batch on the old view; the controller decides again. */
void r53_after_fresh(const r53_list_t *acc)
{
    if (r53_fresh_adopt(acc) == -1)
        return;
    memset(&r53s.change, 0, sizeof(r53s.change));
    r53s.change.decision = r53s.ask_seq;
    char *body = NULL, why[300];
    bool refused = false;
    if (r53_build_batch(r53s.ask_seq, &body, &refused, why, sizeof(why)) == -1) {
        r53_refuse(why, refused);
        return;
    }
    alarm_resolve(alarm_key(ALARM_ROUTE53_REFUSED).s, "the batch passes the safety rules");
    if (!body) {   /* nothing to change on the live records */
        if (route53_needs_correction()) {   /* drifted records already as configured */
            r53_drift_corrected();
            r53_known_save();
        }
        r53_free_created();
        r53_go_idle();
        return;
    }
    if (!r53_may_send()) {   /* the read outlived the lease's send window */
        free(body);
        r53_stand_down();
        return;
    }
    r53s.have_change = true;
    r53s.change.decided_ms = r53s.change.submitted_ms = loop_now_ms();
    r53s.change.submitted_wall_ms = loop_wall_ms();
    snprintf(r53s.change.status, sizeof(r53s.change.status), "SUBMITTING");
    dnscheck_cancel();
    r53s.phase = R53_SUBMITTING;
    r53s.error[0] = '\0';
    r53_send_after_intent(body);
}

static void r53_fresh_failed(const char *error)
{
    char why[600];
    memset(&r53s.change, 0, sizeof(r53s.change));
    r53s.change.decision = r53s.ask_seq;
    snprintf(why, sizeof(why), "the group could not be read right before the batch (%.500s)", error);
    r53_refuse(why, false);
}

int route53_apply(uint64_t seq, const int *weights, size_t n)
{
    if (!route53_idle() || n != r53s.n)
        return -1;
    r53s.ask_seq = seq;
    for (size_t i = 0; i < r53s.n; i++)
        r53s.ask[i] = weights[i];
    r53s.phase = R53_PREPARING;
    r53_read(r53_after_fresh, r53_fresh_failed);
    return 0;
}
