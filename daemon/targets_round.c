/* targets_round — the probe rounds: timer -> resolve -> one probe per
 * address -> fold into `worst` -> health -> feed, and the region's state
 * from its targets' (and the data finding). */
#include "daemon/targets.h"
#include "daemon/targets_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/control.h"
#include "daemon/leader.h"
#include "core/feed.h"
#include "core/loop.h"
#include "core/resolver.h"
#include "daemon/rsrc.h"
#include "systemd/sdn.h"

void tg_schedule(target_t *t, uint64_t due)
{
    uint64_t now = loop_now_ms();
    t->due_ms = due;
    uint64_t wait = due > now ? due - now : 0;
    struct timeval tv = {(time_t)(wait / 1000), (suseconds_t)(wait % 1000) * 1000};
    evtimer_add(t->timer, &tv);
}

/* Cancel what a round has in flight and drop it. */
static void tg_unqueue(target_t *t);
static void tg_kick(void);

void tg_round_abort(target_t *t)
{
    tg_unqueue(t);
    if (!t->busy)
        return;
    res_cancel(t->res_waiter);
    t->res_waiter = 0;
    for (unsigned i = 0; i < t->naddr; i++)
        if (t->slots[i].probe) {
            probe_http_cancel(t->slots[i].probe);
            t->slots[i].probe = NULL;
        }
    tg_gen_unref(t->rgen);
    t->rgen = NULL;
    t->busy = false;
}
/* A local failure (internal) says nothing about the target: any remote
 * failure of the round outranks it, and it outranks only ok and slow. */
static int tg_severity(probe_outcome_t o)
{
    return o == PROBE_OK ? 0 : o == PROBE_SLOW ? 1 : o == PROBE_INTERNAL ? 2 : 3;
}

void tg_region_eval(region_t *r)
{
    health_state_t st[r->n_targets ? r->n_targets : 1];
    for (size_t i = 0; i < r->n_targets; i++)
        st[i] = r->targets[i]->health.state;
    char reason[HEALTH_REASON_MAX];
    health_state_t ns = health_region_eval((int)r->cfg->rule, r->cfg->quorum, st, r->n_targets,
                                           reason, sizeof(reason));
    if (r->data_sev && ns != HEALTH_UNKNOWN) {
        health_state_t ds = r->data_sev == 2 ? HEALTH_DOWN : HEALTH_DEGRADED;
        if ((ds == HEALTH_DOWN && ns != HEALTH_DOWN) || (ds == HEALTH_DEGRADED && ns == HEALTH_UP)) {
            ns = ds;
            snprintf(reason, sizeof(reason), "data: %.240s", r->data_finding);
        }
    }
    snprintf(r->reason, sizeof(r->reason), "%s", reason);
    if (ns == r->state)
        return;
    health_state_t old = r->state;
    r->state = ns;
    r->since_mono_ms = loop_now_ms();
    r->since_wall_ms = loop_wall_ms();
    cJSON *d = cJSON_CreateObject();
    if (d) {
        cJSON_AddStringToObject(d, "region", r->name);
        cJSON_AddStringToObject(d, "from", health_state_str(old));
        cJSON_AddStringToObject(d, "to", health_state_str(ns));
        cJSON_AddStringToObject(d, "reason", reason);
    }
    feed_emit(EV_REGION_STATE, d);
    char sum[256];
    targets_summary(sum, sizeof(sum));
    sdn_status(sum);
    ctrl_health_changed();
}

static uint64_t tg_local_failures;

uint64_t targets_local_failures(void)
{
    return tg_local_failures;
}

static void tg_round_finish(target_t *t)
{
    probe_result_t *w = &t->worst;
    if (t->naddr > 1 && w->outcome != PROBE_OK) {
        char tmp[PROBE_REASON_MAX];
        snprintf(tmp, sizeof(tmp), "%.47s: %.200s", w->addr, w->reason);
        memcpy(w->reason, tmp, sizeof(w->reason));
    }
    w->dns_ms = t->round_dns_ms;
    /* The probe could not run here (out of descriptors or memory): the
     * controller's shortage, never the region's.  Count it, show it, raise
     * the controller's alarm, and leave health as it was. */
    bool local = w->outcome == PROBE_INTERNAL;
    /* A simulated outage: the real answer is replaced while this instance's
     * drills act (also from a lost lease until another instance is seen
     * holding: known defect 39); drill_hit marks its health as holding them,
     * forgotten once the drill stops acting (targets_drill_forget). */
    if (t->region->drill_fail && leader_drills_act()) {
        t->region->drill_hit = true;
        local = false;
        w->outcome = PROBE_INTERNAL;
        snprintf(w->reason, sizeof(w->reason), "drill: simulated outage");
    }
    t->last = *w;
    memcpy(t->prev, t->cur, t->naddr * sizeof(*t->cur));
    t->prev_n = t->naddr;
    t->last_wall_ms = loop_wall_ms();
    t->outcomes[w->outcome]++;
    t->region->outcomes[w->outcome]++;
    if (w->total_ms >= 0)
        hist_prom_add(&t->region->latency, w->total_ms / 1000.0);
    tg_gen_unref(t->rgen);
    t->rgen = NULL;
    t->busy = false;
    tg_kick();   /* a slot is free: the next waiting round */
    if (local) {
        tg_local_failures++;
        rsrc_note(RSRC_PROBE, w->reason);
        return;
    }
    health_result_t hr = w->outcome == PROBE_OK ? HEALTH_RES_OK
                       : w->outcome == PROBE_SLOW ? HEALTH_RES_SLOW : HEALTH_RES_FAIL;
    health_state_t old;
    /* Latency (window, EWMA) only from probes that got an HTTP answer: the
     * time to a refused connect or a timeout is not the API's latency. */
    double lat = w->http_status > 0 ? w->total_ms : -1;
    if (!health_target_observe(&t->health, hr, w->reason, lat, loop_now_ms(),
                               loop_wall_ms(), &old))
        return;
    cJSON *d = cJSON_CreateObject();
    if (d) {
        cJSON_AddStringToObject(d, "region", t->region->name);
        cJSON_AddStringToObject(d, "target", t->api->name);
        cJSON_AddStringToObject(d, "from", health_state_str(old));
        cJSON_AddStringToObject(d, "to", health_state_str(t->health.state));
        cJSON_AddStringToObject(d, "reason", t->health.reason);
    }
    feed_emit(EV_TARGET_STATE, d);
    tg_region_eval(t->region);
}

static void tg_fold(target_t *t, unsigned idx, const probe_result_t *r)
{
    addr_summary_t *s = &t->cur[idx];
    snprintf(s->addr, sizeof(s->addr), "%s", r->addr);
    s->outcome = r->outcome;
    s->http_status = r->http_status;
    s->total_ms = r->total_ms;
    if (r->full_handshake)
        t->full_hs_seen = true;
    if (!isnan(r->cert_expiry_days)) {
        t->cert_days = r->cert_expiry_days;
        t->cert_wall_ms = loop_wall_ms();
    }
    if (idx == 0 || tg_severity(r->outcome) > tg_severity(t->worst.outcome) ||
        (tg_severity(r->outcome) == tg_severity(t->worst.outcome) && r->total_ms > t->worst.total_ms
         && r->outcome == PROBE_OK))
        t->worst = *r;
}

static void tg_on_probe(void *arg, const probe_result_t *r)
{
    probe_slot_t *s = arg;
    target_t *t = s->t;
    s->probe = NULL;
    tg_fold(t, s->idx, r);
    if (--t->pending == 0)
        tg_round_finish(t);
}

static void tg_probe_addrs(target_t *t, const res_addr_t *addrs, size_t n)
{
    /* One forced full handshake per full_handshake_s, counted from when it
     * was asked for: one that fails is not retried every round (under
     * overload that would turn every keep-alive probe into a new TLS
     * connection); the probe's result says whether it happened. */
    uint64_t period = (uint64_t)t->api->full_handshake_s * 1000u;
    if (t->https && t->api->keepalive && t->last_full_hs_ms == 0 && period > 0)
        /* A kept-alive target's first connection is new: a full handshake
         * anyway.  Its first forced one comes at a random point of the second
         * half of the first period, so that targets started (or reloaded)
         * together do not all open a second connection at once (1,000 of
         * them did, and under load the handshakes timed out and took the
         * kept connections down), and never before half a period. */
        t->last_full_hs_ms = loop_now_ms() - (uint64_t)random() % (period / 2 + 1);
    /* Without keep-alive, until one forced handshake has succeeded every
     * round is forced: there is no TLS session to resume yet, so it costs
     * nothing, and the certificate's expiry is known from the first round
     * that reaches the target (a first forced probe that timed out under
     * load otherwise left it unknown for a whole period). */
    bool full = t->https && (t->last_full_hs_ms == 0 || (!t->api->keepalive && !t->full_hs_seen) ||
                loop_now_ms() - t->last_full_hs_ms >= (uint64_t)t->api->full_handshake_s * 1000u);
    if (full)
        t->last_full_hs_ms = loop_now_ms();
    t->naddr = (unsigned)(n < t->cap ? n : t->cap);
    t->pending = t->naddr;
    for (unsigned i = 0; i < t->naddr; i++) {
        t->slots[i].t = t;
        t->slots[i].idx = i;
        t->slots[i].probe = NULL;
    }
    for (unsigned i = 0; i < t->naddr; i++) {
        /* The callback may run at once (start failed) and finish the round. */
        probe_http_t *p = probe_http_start(&t->rspec, addrs ? addrs[i].text : NULL, full,
                                           tg_on_probe, &t->slots[i]);
        if (p && t->busy)
            t->slots[i].probe = p;
    }
}

static void tg_on_resolved(void *arg, const res_answer_t *ans)
{
    target_t *t = arg;
    t->res_waiter = 0;
    t->round_dns_ms = ans->lookup_ms;
    if (!ans->ok) {
        memset(&t->worst, 0, sizeof(t->worst));
        t->worst.outcome = PROBE_DNS;
        t->worst.dns_ms = t->worst.connect_ms = t->worst.tls_ms = -1;
        t->worst.ttfb_ms = t->worst.total_ms = -1;
        t->worst.cert_expiry_days = NAN;
        snprintf(t->worst.reason, sizeof(t->worst.reason), "dns: %s", ans->error);
        t->naddr = 0;
        tg_round_finish(t);
        return;
    }
    tg_probe_addrs(t, ans->addrs, ans->n);
}

static uint64_t tg_skipped;

uint64_t targets_rounds_skipped(void)
{
    return tg_skipped;
}

/* Rounds due while controller.max_probes_in_flight probes run wait here in
 * the order they came, one per target, and start as slots free up: a target
 * that hangs until its timeout can never starve the others of their turn.
 * (A target's rounds due while it waits are skipped and counted.) */
static target_t **tg_waitq;
static size_t tg_waitn, tg_waitcap;
static struct event *tg_kick_ev;

static void tg_unqueue(target_t *t)
{
    if (!t->waiting)
        return;
    t->waiting = false;
    for (size_t i = 0; i < tg_waitn; i++)
        if (tg_waitq[i] == t) {
            memmove(&tg_waitq[i], &tg_waitq[i + 1], (tg_waitn - i - 1) * sizeof(*tg_waitq));
            tg_waitn--;
            return;
        }
}

/* 0, or -1 when the queue cannot grow (the round is skipped instead). */
static int tg_enqueue(target_t *t)
{
    if (tg_waitn == tg_waitcap) {
        size_t cap = tg_waitcap ? tg_waitcap * 2 : 64;
        target_t **q = realloc(tg_waitq, cap * sizeof(*q));
        if (!q)
            return -1;
        tg_waitq = q;
        tg_waitcap = cap;
    }
    tg_waitq[tg_waitn++] = t;
    t->waiting = true;
    return 0;
}

static void tg_round_begin(target_t *t)
{
    t->busy = true;
    t->rgen = t->gen;
    t->rgen->refs++;
    t->rspec = (probe_spec_t){.api = t->api, .regex = t->re, .ca_file = t->gen->cfg->tls.ca_file,
                              .host = t->host, .port = t->port, .https = t->https,
                              .tls_share = t->tls_share};
    t->round_dns_ms = 0;
    if (t->host_is_ip) {
        tg_probe_addrs(t, NULL, 1);
        return;
    }
    uint64_t id = res_lookup(t->lookup, t->api->ip_version, tg_on_resolved, t);
    if (t->busy && id)
        t->res_waiter = id;
}

/* Start waiting rounds while slots are free (from the loop, never inside a
 * probe's callback). */
static void tg_on_kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    while (tg_waitn > 0 && loop_probes_running() < tg_waitq[0]->gen->cfg->controller.max_probes_in_flight) {
        target_t *t = tg_waitq[0];
        tg_unqueue(t);
        if (!t->busy)
            tg_round_begin(t);
    }
}

static void tg_kick(void)
{
    if (tg_waitn == 0)
        return;
    if (!tg_kick_ev)
        tg_kick_ev = event_new(loop_base(), -1, 0, tg_on_kick, NULL);
    if (tg_kick_ev)
        event_active(tg_kick_ev, EV_TIMEOUT, 1);
}

void targets_round_fini(void)
{
    if (tg_kick_ev)
        event_free(tg_kick_ev);
    tg_kick_ev = NULL;
    free(tg_waitq);
    tg_waitq = NULL;
    tg_waitn = tg_waitcap = 0;
}

void tg_round_start(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    target_t *t = arg;
    uint64_t now = loop_now_ms(), due = t->due_ms, next = due + t->api->interval_ms;
    tg_schedule(t, next > now ? next : now + t->api->interval_ms);
    if (t->busy || t->waiting) {
        if (t->waiting) {
            tg_skipped++;   /* its previous round still waits for a slot */
            tg_kick();      /* (in case no finishing round kicked the line) */
        }
        return;             /* or the previous round is still waiting on DNS */
    }
    /* A round the loop reaches this late would measure the loop, not the
     * target, and adding it keeps an overloaded loop overloaded (thousands
     * of transfers in flight, hundreds of MB, probes timing out on healthy
     * targets: bench/probe_cost.py at 10,000 probes/s on one core).  Skip it,
     * count it, let the loop catch up; health is left as it was. */
    uint64_t slack = t->api->interval_ms / 4 < 250 ? t->api->interval_ms / 4 : 250;
    if (now > due + slack) {
        tg_skipped++;
        return;
    }
    /* The same when probes pile up: targets slower to answer than probes
     * start (or a core short of the rate) would hold a transfer each, ~20 KiB,
     * without bound.  controller.max_probes_in_flight caps them; a round that
     * finds no slot (or others waiting before it) waits in line.  (Below
     * that, a short fd budget queues probes in the loop instead, ../loop.h.) */
    if (tg_waitn > 0 || loop_probes_running() >= t->gen->cfg->controller.max_probes_in_flight) {
        if (tg_enqueue(t) != 0)
            tg_skipped++;
        tg_kick();
        return;
    }
    tg_round_begin(t);
}
