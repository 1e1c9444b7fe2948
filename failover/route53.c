/* route53 — see route53.h.  Wire format: Route 53 API reference,
 * ListResourceRecordSets (GET /2013-04-01/hostedzone/{Id}/rrset?name=&type=
 * &identifier=&maxitems=), ChangeResourceRecordSets (POST
 * /2013-04-01/hostedzone/{Id}/rrset/ with a ChangeResourceRecordSetsRequest),
 * GetChange (GET /2013-04-01/change/{Id}).
 *
 * This file: the actuator's state and accessors, the change in flight
 * persisted, start-up, the reconcile timer and reload.  Reading the live
 * records is in route53_read.c, applying a decision in route53_apply.c. */
#include "failover/route53.h"
#include "failover/route53_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "core/alarm.h"
#include "failover/dnscheck.h"
#include "core/feed.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/state.h"

r53_state_t r53s;

const char *route53_phase_str(route53_phase_t p)
{
    static const char *const n[] = {"idle", "reading", "preparing", "submitting", "pending", "verifying"};
    return (unsigned)p < sizeof(n) / sizeof(n[0]) ? n[p] : "invalid";
}

int route53_live_weight(size_t i)
{
    if (i >= r53s.n || !r53s.read_ok)
        return -1;
    for (int s = 0; s < R53_SLOTS; s++)
        if (r53s.have[i][s])
            return (int)r53s.known[i][s].weight;
    return -1;
}

bool route53_drifted(size_t i)
{
    return i < r53s.n && r53s.drift[i];
}

bool route53_needs_correction(void)
{
    if (!r53s.cfg || !r53s.cfg->route53.correct_drift)
        return false;
    for (size_t i = 0; i < r53s.n; i++)
        if (r53s.drift[i])
            return true;
    return false;
}

void route53_clear_drift(size_t i)
{
    if (i >= r53s.n)
        return;
    /* resolved even when the flag is already down: an alarm left from
     * before a read that cleared the flag is the operator's to clear too */
    alarm_key_t key = alarm_key_region(ALARM_ROUTE53_DRIFT, r53s.cfg->regions[i].name);
    alarm_resolve(key.s, "drift accepted by an operator");
    if (r53s.drift[i]) {
        r53s.drift[i] = false;
        r53_known_save();
    }
}

bool route53_ready(void)
{
    /* a term's judged read not done yet (due, or the bump's unjudged view
     * held): the live weights and drift flags are not judged */
    return r53s.read_ok && !r53s.await_state && !r53s.judge_due && !r53s.known_hold;
}

bool route53_judged(void)
{
    return !r53s.cfg || !r53s.cfg->route53.enabled || route53_ready();
}

bool route53_idle(void)
{
    /* with a lease term: also inside the send window, this term's guard
     * bumped, and not fenced */
    return r53s.phase == R53_IDLE && r53s.read_ok &&
           (!r53s.epoch || (r53_may_send() && !r53s.bump_due && !r53s.fenced && !r53s.await_state &&
                            !r53s.judge_due));
}

route53_phase_t route53_phase(void) { return r53s.phase; }
const route53_change_t *route53_last_change(void) { return r53s.have_change ? &r53s.change : NULL; }
const char *route53_last_error(void) { return r53s.error; }
int64_t route53_last_read_wall_ms(void) { return r53s.last_read_wall_ms; }
uint64_t route53_changes_total(void) { return r53s.changes_total; }
uint64_t route53_drift_total(void) { return r53s.drift_total; }
uint64_t route53_guard_dropped_total(void) { return r53s.guard_dropped_total; }

void r53_event(feed_ev_t type, cJSON *d)
{
    feed_emit(type, d);
}

/* ---- the change in flight, persisted ---- */

int r53_intent_write(state_done_fn then, void *arg)
{
    cJSON *o = cJSON_CreateObject(), *w = cJSON_AddArrayToObject(o, "weights");
    if (!o || !w) {
        cJSON_Delete(o);
        return -1;
    }
    cJSON_AddNumberToObject(o, "decision", (double)r53s.change.decision);
    for (size_t i = 0; i < r53s.n; i++)
        cJSON_AddItemToArray(w, cJSON_CreateNumber(r53s.want[i]));
    /* a record for the next start, written off the loop; then runs once it is durable (or failed) */
    int rc = state_write_json(R53_INTENT_FILE, o, STATE_JSON_COMPACT, then, arg);
    cJSON_Delete(o);
    r53s.intent_live = true;   /* replicated too (route53_replica_doc), at once */
    r53_replica_changed();
    return rc;
}

void r53_intent_clear(void)
{
    r53s.intent_live = false;
    state_write_async(R53_INTENT_FILE, "{}", 2);
    /* replicated at once too, as r53_intent_write's record is: a next leader
     * must not take a refused or failed batch's intent for a landed one
     * (docs/ha.md).  Not while a term's judged read is pending: its state
     * passes on what it took over, and a new term's drop of a batch of the
     * last term (route53_set_term) comes before the term reads the state */
    if (!r53s.await_state && !r53s.judge_due && !r53s.known_hold)
        r53_replica_changed();
}

void r53_change_event(feed_ev_t type)
{
    cJSON *d = cJSON_CreateObject();
    if (!d)
        return;
    const route53_change_t *c = &r53s.change;
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
    for (size_t i = 0; w && i < r53s.n; i++)
        if (c->weights_from[i] != c->weights_to[i]) {
            char v[32];
            snprintf(v, sizeof(v), "%d -> %d", c->weights_from[i], c->weights_to[i]);
            cJSON_AddStringToObject(w, r53s.cfg->regions[i].name, v);
        }
    cJSON *h = NULL;
    for (size_t i = 0; i < r53s.n; i++)
        if (c->held[i] && (h || (h = cJSON_AddArrayToObject(d, "not_sent_drifted"))))
            cJSON_AddItemToArray(h, cJSON_CreateString(r53s.cfg->regions[i].name));
    r53_event(type, d);
}

void r53_go_idle(void)
{
    r53s.phase = R53_IDLE;
    r53s.bumping = false;
    r53_kick();   /* a guard bump due goes first (route53_idle is false until it landed) */
    r53s.notify(R53_NOTE_IDLE);
}

/* ---- retries with backoff: 1 s doubling to 60 s ---- */

static void r53_on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    void (*fn)(void) = r53s.retry_fn;
    r53s.retry_fn = NULL;
    if (fn)
        fn();
}

void r53_retry_later(void (*fn)(void))
{
    r53s.retry_wait_ms = r53s.retry_wait_ms ? r53s.retry_wait_ms * 2 : 1000;
    if (r53s.retry_wait_ms > 60000)
        r53s.retry_wait_ms = 60000;
    r53s.retry_fn = fn;
    struct timeval tv = {(time_t)(r53s.retry_wait_ms / 1000), (suseconds_t)(r53s.retry_wait_ms % 1000) * 1000};
    evtimer_add(r53s.retry_timer, &tv);
}

void r53_retry_reset(void)
{
    r53s.retry_wait_ms = 0;
    r53s.retry_fn = NULL;
    evtimer_del(r53s.retry_timer);
}

/* ---- start-up and the reconcile timer ---- */

static void r53_after_start(const r53_list_t *acc)
{
    r53_retry_reset();
    r53_start_drift(acc);
    cJSON *d = cJSON_CreateObject();
    for (size_t i = 0; d && i < r53s.n; i++)
        cJSON_AddNumberToObject(d, r53s.cfg->regions[i].name, route53_live_weight(i));
    r53_event(EV_ROUTE53_LIVE, d);
    r53s.phase = R53_IDLE;
    r53_kick();
    r53s.notify(R53_NOTE_LIVE);
    r53s.notify(R53_NOTE_IDLE);
}

/* The first read failed: no decision is applied without live weights;
 * alarm and read again after a backoff. */
static void r53_start_failed(const char *error)
{
    char sum[700];
    snprintf(sum, sizeof(sum), "cannot read the Route 53 records of %s (%.500s): no change is made until they are read; retrying",
             r53s.cfg->route53.record_name, error);
    alarm_raise(alarm_key(ALARM_ROUTE53_READ).s, "critical", sum, NULL);
    r53_retry_later(r53_start_read);
}

void r53_start_read(void)
{
    r53s.phase = R53_READING;
    r53_read(r53_after_start, r53_start_failed);
}

static void r53_after_reconcile(const r53_list_t *acc)
{
    bool drifted = r53_adopt_listing(acc, true);
    r53s.phase = R53_IDLE;
    r53_kick();
    if (drifted)
        r53s.notify(R53_NOTE_LIVE);
    r53s.notify(R53_NOTE_IDLE);
}

/* A reconcile read failed: alarm; the reconcile timer reads again. */
static void r53_reconcile_failed(const char *error)
{
    char sum[700];
    snprintf(sum, sizeof(sum), "cannot re-read the Route 53 records of %s (%.500s): drift is not seen until a read "
             "succeeds (every batch still reads first)", r53s.cfg->route53.record_name, error);
    alarm_raise(alarm_key(ALARM_ROUTE53_READ).s, "warning", sum, NULL);
    r53_go_idle();
}

static void r53_on_reconcile(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    if (r53s.phase != R53_IDLE || r53s.retry_fn || r53s.fenced || r53s.await_state || r53s.judge_due ||
        !r53_may_send())
        return;   /* busy, waiting (a takeover's state), or no Route 53 call allowed now (lease) */
    if (!r53s.read_ok) {
        r53_start_read();
        return;
    }
    r53s.phase = R53_READING;
    r53_read(r53_after_reconcile, r53_reconcile_failed);
}

static void r53_arm_reconcile(void)
{
    struct timeval tv = {(time_t)r53s.cfg->route53.reconcile_s, 0};
    event_del(r53s.reconcile_timer);
    event_add(r53s.reconcile_timer, &tv);
}

int route53_init(const cfg_t *cfg, route53_notify_fn notify)
{
    /* a term set before (a follower: a window already closed) is kept */
    uint64_t epoch = r53s.epoch, until = r53s.send_until_ms;
    memset(&r53s, 0, sizeof(r53s));
    r53s.epoch = epoch;
    r53s.send_until_ms = until;
    r53s.bump_due = epoch != 0;
    r53s.cfg = cfg;
    r53s.notify = notify;
    r53s.n = cfg->n_regions < R53_MAXR ? cfg->n_regions : R53_MAXR;
    r53s.poll_timer = evtimer_new(loop_base(), r53_on_poll, NULL);
    r53s.reconcile_timer = event_new(loop_base(), -1, EV_PERSIST, r53_on_reconcile, NULL);
    r53s.retry_timer = evtimer_new(loop_base(), r53_on_retry, NULL);
    r53s.intent_timer = evtimer_new(loop_base(), r53_on_intent_timeout, NULL);
    if (!r53s.poll_timer || !r53s.reconcile_timer || !r53s.retry_timer || !r53s.intent_timer ||
        dnscheck_init() == -1)
        return -1;
    r53_guard_setup();
    if (!cfg->route53.enabled)
        return 0;
    r53_arm_reconcile();
    if (r53_may_send())
        r53_start_read();
    else
        r53s.stood_down = true;   /* read when a term opens the window */
    return 0;
}

void route53_configure(const cfg_t *cfg)
{
    /* Region order and the record may have changed: forget what we knew and
     * read again (a reload with a different route53 section is a new start). */
    bool was = r53s.cfg && r53s.cfg->route53.enabled;
    r53s.cfg = cfg;
    if (r53s.req) {
        aws_cancel(r53s.req);
        r53s.req = NULL;
    }
    r53_send_drop();
    r53_free_created();
    evtimer_del(r53s.poll_timer);
    r53_retry_reset();
    dnscheck_cancel();
    for (size_t i = 0; i < R53_MAXR; i++) {
        for (int s = 0; s < R53_SLOTS; s++) {
            r53_rrset_clear(&r53s.known[i][s]);
            r53s.have[i][s] = false;
        }
        r53s.drift[i] = false;
    }
    r53_list_free(&r53s.acc);
    memset(&r53s.acc, 0, sizeof(r53s.acc));
    r53s.read_ok = false;
    r53s.n = cfg->n_regions < R53_MAXR ? cfg->n_regions : R53_MAXR;
    r53s.phase = R53_IDLE;
    /* the term is not config: kept; the guard (its name may have changed)
     * is read again and bumped again before any weight batch */
    r53_guard_setup();
    r53s.bumping = r53s.stood_down = false;
    if (r53s.epoch) {
        r53s.bump_due = true;
        r53s.bump_attempts = 0;
    }
    event_del(r53s.reconcile_timer);
    if (!cfg->route53.enabled) {
        if (was)
            log_msg(LOG_NOTICE, "msg=\"route53 section removed: monitoring only\"");
        return;
    }
    r53_arm_reconcile();
    if (r53_may_send())
        r53_start_read();
    else
        r53s.stood_down = true;   /* read when the window opens again */
}

void route53_fini(void)
{
    if (r53s.req)
        aws_cancel(r53s.req);
    r53s.req = NULL;
    r53_send_drop();
    if (r53s.intent_timer)
        event_free(r53s.intent_timer);
    r53_free_created();
    dnscheck_fini();
    if (r53s.poll_timer)
        event_free(r53s.poll_timer);
    if (r53s.reconcile_timer)
        event_free(r53s.reconcile_timer);
    if (r53s.retry_timer)
        event_free(r53s.retry_timer);
    for (size_t i = 0; i < R53_MAXR; i++)
        for (int s = 0; s < R53_SLOTS; s++)
            r53_rrset_clear(&r53s.known[i][s]);
    r53_list_free(&r53s.acc);
    r53_rrset_clear(&r53s.guard_live);
    r53_rrset_clear(&r53s.guard_new);
    cJSON_Delete(r53s.rep);
    memset(&r53s, 0, sizeof(r53s));
}
