/* lease — the majority lease's rounds and leadership (see lease.h).
 *
 * A round: phase 1 renews every table we hold (conditional on our rvn and
 * owner) and reads every other one (GetItem, ConsistentRead); phase 2 takes
 * the tables that are free (rvn unchanged for lease_ms on our clock, or a
 * release marker), conditional on the rvn we saw; then leadership is judged
 * from the SEND times of the confirmed writes.  A follower takes only when it
 * could reach a majority; with fewer than a majority won (a split vote) it
 * releases what it won and backs off with jitter. */
#include "cluster/lease_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alarm.h"
#include "core/log.h"
#include "core/loop.h"

lease_state_t lease_st;

static void start_round(void);
static void release_held(void);
static void lease_stop(bool release, const char *why);

static void note(lease_note_t w)
{
    if (lease_st.notify)
        lease_st.notify(w);
}

static void arm(struct event *ev, uint64_t ms)
{
    const struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    if (ev)
        evtimer_add(ev, &tv);
}

/* The term's end from the items held (with epoch want, when want != 0): a
 * majority of the name's, and with former_name of the former name's too. */
static uint64_t term_end(uint64_t want, size_t *held)
{
    lease_write_t w[2 * CFG_MAX_LEASE_TABLES] = {{0}};
    size_t h = 0;
    for (size_t i = 0; i < lease_items(); i++) {
        const lease_tab_t *t = &lease_st.tabs[i];
        if (t->held && (want == 0 || t->epoch == want)) {
            w[i] = t->held_write;   /* with the lease_ms the item carries, not today's setting */
            h++;
        }
    }
    if (held)
        *held = h;
    return lease_pair_until(w, lease_st.n, lease_majority(lease_st.n), lease_st.nf > 0);
}

/* Items held with epoch want in the group that holds fewest (the name's
 * alone without former_name): a take that must win every table wins them in
 * each group. */
static size_t held_each(uint64_t want)
{
    size_t h[2] = {0, 0};
    for (size_t i = 0; i < lease_items(); i++)
        h[lease_st.tabs[i].former] += lease_st.tabs[i].held && lease_st.tabs[i].epoch == want;
    return lease_st.nf > 0 && h[1] < h[0] ? h[1] : h[0];
}

static void lose(const char *why)
{
    if (!lease_st.leader)
        return;
    lease_st.leader = false;
    log_msg(LOG_WARNING, "msg=\"lease lost: not leading\" epoch=%" PRIu64 " why=\"%s\"", lease_st.epoch, why);
    lease_st.lost_epoch = lease_st.epoch;
    snprintf(lease_st.lost_why, sizeof(lease_st.lost_why), "%s", why);
    lease_st.epoch = 0;
    lease_st.send_until = 0;
    lease_st.pending_epoch = 0;   /* a take of this round under the old term must not lead again */
    lease_st.losses++;
    if (lease_st.expiry)
        evtimer_del(lease_st.expiry);
    note(LEASE_NOTE_LOST);
    release_held();
    lease_update_holder();
}

void lease_check_expiry(void)
{
    if (lease_st.on && lease_st.leader && loop_now_ms() >= lease_st.send_until)
        lose("the lease ran out: no majority renewed in time");
}

static void on_expiry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    uint64_t now = loop_now_ms();
    if (!lease_st.leader)
        return;
    if (now >= lease_st.send_until)
        lose("the lease ran out: no majority renewed in time");
    else
        arm(lease_st.expiry, lease_st.send_until - now);
}

/* The next round in ms from now. */
static void arm_tick(uint64_t ms)
{
    lease_st.tick_at = loop_now_ms() + ms;
    arm(lease_st.tick, ms);
}

/* A leader renews every renew_ms; a follower reads every follow_ms (at most
 * renew_ms), so it sees a dead leader's last renewal at most that late. */
static uint32_t round_ms(void)
{
    return lease_st.leader || lease_st.follow_ms == 0 || lease_st.follow_ms > lease_st.renew_ms
               ? lease_st.renew_ms
               : lease_st.follow_ms;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    arm_tick(round_ms());
    if (lease_st.phase != LT_IDLE) {
        lease_st.rounds_skipped++;
        return;
    }
    start_round();
}

/* Start op on t; counts it in the phase, or records why it could not. */
static void start(lease_tab_t *t, lt_op_t op, uint64_t epoch)
{
    if (lease_io_start(t, op, epoch) == 0) {
        lease_st.in_flight++;
        return;
    }
    t->reachable = false;
    t->failures++;
    if (op == LT_RELEASE)
        t->held = false;
}

static void end_phase(void);
static bool start_takes(void);
static void evaluate(void);

/* A follower's take at the moment a majority of the items it read expire
 * on its clock (lease_take_at), not at its next round: with the last
 * round's reads, each take conditional on the rvn then seen, so an item
 * renewed since is not taken (the condition fails).  A round in flight
 * takes at its own end instead. */
static void on_take(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    if (!lease_st.on || lease_st.leader || lease_st.phase != LT_IDLE)
        return;
    if (!start_takes())
        evaluate();
}

/* After a follower's round: arm the take for when the tables a take must
 * win (take_need: a majority, or all: lease_tset.c) have expired, when that
 * is before the next round. */
static void schedule_take(void)
{
    lease_seen_t seen[2 * CFG_MAX_LEASE_TABLES];
    bool ok[2 * CFG_MAX_LEASE_TABLES];
    uint64_t now = loop_now_ms();
    if (!lease_st.take || lease_st.leader)
        return;
    evtimer_del(lease_st.take);
    for (size_t i = 0; i < lease_items(); i++) {
        seen[i] = lease_st.tabs[i].seen;
        ok[i] = lease_st.tabs[i].read_ok && !lease_st.tabs[i].unsure;
    }
    uint64_t at = lease_pair_take_at(seen, ok, lease_st.n, lease_st.take_need, lease_st.lease_ms, lease_st.nf > 0);
    if (at < lease_st.cooldown_until)
        at = lease_st.cooldown_until;
    if (at > now && at < lease_st.tick_at)
        arm(lease_st.take, at - now);
}

static void release_held(void)
{
    if (lease_st.phase != LT_IDLE)
        return;   /* the round's end releases (evaluate) */
    lease_st.phase = LT_RELEASE;
    lease_st.in_flight = 0;
    for (size_t i = 0; i < lease_items(); i++)
        if (lease_st.tabs[i].held)
            start(&lease_st.tabs[i], LT_RELEASE, lease_st.tabs[i].epoch);
    if (lease_st.in_flight == 0)
        lease_st.phase = LT_IDLE;
}

static void start_round(void)
{
    lease_st.phase = LT_READ;
    lease_st.in_flight = 0;
    for (size_t i = 0; i < lease_items(); i++) {
        lease_tab_t *t = &lease_st.tabs[i];
        t->read_ok = false;
        if (t->held && !t->unsure && lease_st.leader)
            start(t, LT_RENEW, lease_st.epoch);
        else if (t->held && !t->unsure)
            start(t, LT_RELEASE, t->epoch);   /* a follower keeps nothing */
        else
            start(t, LT_READ, 0);
    }
    if (lease_st.in_flight == 0)
        end_phase();
}

/* Raise or resolve cluster-lease: fewer than a majority reachable. */
static void alarm_update(void)
{
    alarm_key_t k = alarm_key(ALARM_CLUSTER_LEASE);
    if (lease_tset_alarm())   /* another set of lease tables seen (lease_tset.c) */
        return;
    if (lease_reachable() >= lease_majority(lease_st.n)) {
        alarm_resolve(k.s, "a majority of the lease tables answers");
        return;
    }
    char sight[400], sum[512];
    lease_sight(sight, sizeof(sight));
    snprintf(sum, sizeof(sum), "%s (%zu needed to lead or to tell who leads)", sight, lease_majority(lease_st.n));
    alarm_raise(k.s, "critical", sum, NULL);
}

/* Phase 2: what to take, with which epoch; false when nothing is taken. */
static bool start_takes(void)
{
    uint64_t now = loop_now_ms(), epochs[2 * CFG_MAX_LEASE_TABLES];
    bool ok[2 * CFG_MAX_LEASE_TABLES], cand[2 * CFG_MAX_LEASE_TABLES] = {false};
    size_t n_cand = 0;
    if (now < lease_st.cooldown_until)
        return false;
    for (size_t i = 0; i < lease_items(); i++) {
        lease_tab_t *t = &lease_st.tabs[i];
        ok[i] = t->read_ok;
        epochs[i] = t->epoch;
        if (t->read_ok && !t->unsure && !(lease_st.leader && t->held)
            && (lease_takeable(&t->seen, now, lease_st.lease_ms)
                || (t->held && strcmp(t->seen.rvn, t->mine) == 0))) {
            cand[i] = true;
            n_cand++;
        }
    }
    uint64_t epoch = lease_st.epoch;
    if (!lease_st.leader) {
        /* a majority, or all (lease_tset.c), of the name's items and of the former name's */
        epoch = lease_pair_next_epoch(epochs, ok, lease_st.n, lease_st.epoch_floor, lease_st.nf > 0);
        if (epoch == 0 || !lease_pair_may_take(cand, lease_st.n, lease_st.take_need, lease_st.nf > 0))
            return false;
    }
    if (n_cand == 0)
        return false;
    lease_st.phase = LT_TAKE;
    lease_st.in_flight = 0;
    lease_st.pending_epoch = epoch;
    for (size_t i = 0; i < lease_items(); i++)
        if (cand[i] && (!lease_st.leader || lease_st.tabs[i].epoch <= epoch))
            start(&lease_st.tabs[i], LT_TAKE, epoch);
    return lease_st.in_flight > 0;
}

static void become_leader(uint64_t end)
{
    lease_st.leader = true;
    lease_st.epoch = lease_st.pending_epoch;
    lease_st.send_until = end;
    lease_st.takeovers++;
    lease_st.split_votes = 0;
    lease_st.leading_since_wall = loop_wall_ms();
    arm(lease_st.expiry, end - loop_now_ms());
    log_msg(LOG_NOTICE, "msg=\"lease won: leading\" epoch=%" PRIu64 " send_until_in_ms=%" PRIu64,
            lease_st.epoch, end - loop_now_ms());
    note(LEASE_NOTE_LEADING);
}

/* Fewer than a majority won: give it back, try again after a jittered wait. */
static void split_vote(size_t held)
{
    lease_st.splits++;
    lease_st.split_votes++;
    log_msg(LOG_INFO, "msg=\"lease split vote: releasing\" won=%zu tables=%zu", held, lease_st.n);
    release_held();
    arm_tick(lease_backoff_ms(lease_st.renew_ms, lease_st.split_votes, (unsigned)random(),
                                        lease_st.lease_ms));
}

/* The round's verdict. */
static void evaluate(void)
{
    uint64_t now = loop_now_ms();
    size_t held = 0;
    lease_st.phase = LT_IDLE;
    if (lease_st.leader) {
        uint64_t end = term_end(lease_st.epoch, &held);
        if (end == 0 || now >= end) {
            char why[96];
            snprintf(why, sizeof(why), "a round renewed %zu of %zu lease tables", held, lease_st.n);
            lose(why);
        } else {
            lease_st.send_until = end;
            arm(lease_st.expiry, end - now);
            note(LEASE_NOTE_RENEWED);
        }
    } else {
        uint64_t end = lease_st.pending_epoch ? term_end(lease_st.pending_epoch, &held) : 0;
        if (end != 0 && now < end && held_each(lease_st.pending_epoch) >= lease_st.take_need)
            become_leader(end);
        else if (term_end(0, &held), held > 0)
            split_vote(held);
        else
            schedule_take();
    }
    lease_st.pending_epoch = 0;
    lease_update_holder();
    alarm_update();
}

/* After the reads: a higher epoch than ours held elsewhere means a newer term. */
static void after_reads(void)
{
    bool other_set = lease_tset_round();   /* a live item of another set of tables (lease_tset.c) */
    if (other_set)
        lose(lease_st.set_refusal);
    for (size_t i = 0; lease_st.leader && i < lease_items(); i++) {
        const lease_tab_t *t = &lease_st.tabs[i];
        if (t->read_ok && t->seen.present && t->epoch > lease_st.epoch) {
            char why[448];
            snprintf(why, sizeof(why), "%s/%s shows epoch %" PRIu64 " (owner %s)", t->region, t->table,
                     t->epoch, t->owner);
            lose(why);
            break;
        }
    }
    if (lease_st.phase != LT_IDLE) {   /* lose() started releasing */
        lease_update_holder();
        alarm_update();
        return;
    }
    if (other_set || !start_takes())
        evaluate();
}

static void end_phase(void)
{
    lt_op_t p = lease_st.phase;
    lease_st.phase = LT_IDLE;
    if (p == LT_READ)
        after_reads();
    else if (p == LT_TAKE)
        evaluate();
    else
        lease_update_holder();   /* releases done */
}

/* A read of a table whose write's outcome was unknown settles it. */
static void settle(lease_tab_t *t)
{
    bool ours = t->seen.present && strcmp(t->owner, lease_st.id) == 0;
    if (ours && t->unsure && strcmp(t->seen.rvn, t->pending) == 0) {
        t->held = true;
        snprintf(t->mine, sizeof(t->mine), "%s", t->pending);
        t->held_write = t->pending_write;
    } else if (!(ours && t->held && strcmp(t->seen.rvn, t->mine) == 0)) {
        t->held = false;
    }
    t->unsure = false;
}

static void written(lease_tab_t *t, uint64_t epoch)
{
    t->held = true;
    t->unsure = false;
    snprintf(t->mine, sizeof(t->mine), "%s", t->wrote);
    t->held_write = (lease_write_t){t->sent_ms, t->wrote_lease_ms, t->wrote_margin_ms};
    t->epoch = epoch;
    snprintf(t->owner, sizeof(t->owner), "%s", lease_st.id);
    snprintf(t->advertise, sizeof(t->advertise), "%s", lease_st.advertise);
    lease_observe(&t->seen, true, false, t->wrote, t->wrote_lease_ms, loop_now_ms());
}

void lease_io_done(lease_tab_t *t, bool ok, bool unknown, bool conflict)
{
    lt_op_t op = t->op;
    t->op = LT_IDLE;
    if (!ok)
        t->failures++;
    if (conflict)
        t->conflicts++;
    if (op == LT_READ) {
        t->read_ok = ok;
        if (ok)
            settle(t);
    } else if (op == LT_RELEASE) {
        t->held = false;
        t->unsure = false;
    } else if (ok) {
        written(t, t->wrote_epoch);
        t->read_ok = true;
    } else if (unknown) {
        t->unsure = true;
        snprintf(t->pending, sizeof(t->pending), "%s", t->wrote);
        t->pending_write = (lease_write_t){t->sent_ms, t->wrote_lease_ms, t->wrote_margin_ms};
        if (op == LT_TAKE)
            t->held = false;
    } else if (conflict || op == LT_TAKE) {
        t->held = false;
    }
    if (lease_st.in_flight > 0 && --lease_st.in_flight == 0)
        end_phase();
}

/* ---- the module ------------------------------------------------------ */

static void take_settings(const cfg_t *cfg)
{
    const cfg_cluster_t *k = &cfg->cluster;
    lease_st.lease_ms = k->lease_ms;
    lease_st.renew_ms = k->renew_ms;
    lease_st.margin_ms = k->margin_ms;
    lease_st.follow_ms = k->follow_ms;
    snprintf(lease_st.advertise, sizeof(lease_st.advertise), "%s", k->advertise_url ? k->advertise_url : "");
}

int lease_init(const cfg_t *cfg, lease_notify_fn notify)
{
    memset(&lease_st, 0, sizeof(lease_st));
    lease_st.notify = notify;
    if (!cfg->cluster.enabled)
        return 0;
    const cfg_cluster_t *k = &cfg->cluster;
    take_settings(cfg);
    snprintf(lease_st.id, sizeof(lease_st.id), "%s", k->instance_id);
    snprintf(lease_st.name, sizeof(lease_st.name), "%s", k->name);
    snprintf(lease_st.former, sizeof(lease_st.former), "%s", k->former_name ? k->former_name : "");
    lease_st.n = k->n_tables;
    lease_st.nf = k->former_name ? k->n_tables : 0;
    for (size_t i = 0; i < lease_items(); i++) {
        lease_tab_t *t = &lease_st.tabs[i];
        t->former = i >= lease_st.n;
        snprintf(t->region, sizeof(t->region), "%s", k->tables[i % lease_st.n].region);
        snprintf(t->table, sizeof(t->table), "%s", k->tables[i % lease_st.n].table);
    }
    lease_st.tick = evtimer_new(loop_base(), on_tick, NULL);
    lease_st.expiry = evtimer_new(loop_base(), on_expiry, NULL);
    lease_st.take = evtimer_new(loop_base(), on_take, NULL);
    if (!lease_st.tick || !lease_st.expiry || !lease_st.take) {
        log_msg(LOG_ERR, "msg=\"lease: out of memory\"");
        lease_fini();
        return -1;
    }
    lease_st.on = true;
    log_msg(LOG_NOTICE, "msg=\"lease: started\" instance_id=%s tables=%zu lease_ms=%u renew_ms=%u margin_ms=%u "
            "follow_ms=%u former_name=\"%s\"", lease_st.id, lease_st.n, lease_st.lease_ms, lease_st.renew_ms,
            lease_st.margin_ms, lease_st.follow_ms, lease_st.former);
    arm_tick(0);
    return 0;
}

static bool same_cluster(const cfg_t *cfg)
{
    const cfg_cluster_t *k = &cfg->cluster;
    if (!k->enabled || k->n_tables != lease_st.n || strcmp(k->instance_id, lease_st.id) != 0
        || strcmp(k->name, lease_st.name) != 0
        || strcmp(k->former_name ? k->former_name : "", lease_st.former) != 0)
        return false;
    for (size_t i = 0; i < k->n_tables; i++)
        if (strcmp(k->tables[i].region, lease_st.tabs[i].region) != 0
            || strcmp(k->tables[i].table, lease_st.tabs[i].table) != 0)
            return false;
    return true;
}

void lease_configure(const cfg_t *cfg)
{
    if (lease_st.on && same_cluster(cfg)) {
        take_settings(cfg);
        return;
    }
    if (!lease_st.on && !cfg->cluster.enabled)
        return;
    lease_notify_fn n = lease_st.notify;
    uint64_t floor = lease_st.epoch_floor;
    /* from a loop callback: no nested loop to wait for releases in */
    lease_stop(false, cfg->cluster.enabled ? "a reload changed the lease tables, name or instance_id"
                                           : "a reload removed the cluster section");
    if (lease_init(cfg, n) == -1)
        log_msg(LOG_ERR, "msg=\"lease: not restarted after the reload (out of memory)\"");
    else
        lease_st.epoch_floor = floor;   /* the guard keeps its epoch whatever the tables */
}

/* Release what we hold and wait for the answers, at most about a second. */
static void fini_release(void)
{
    for (size_t i = 0; i < lease_items(); i++)
        lease_io_cancel(&lease_st.tabs[i]);
    lease_st.phase = LT_IDLE;
    release_held();
    struct event *t = evtimer_new(loop_base(), on_expiry, NULL);   /* a wake-up: not leading, no-op */
    uint64_t end = loop_now_ms() + 1000;
    while (t && lease_st.phase != LT_IDLE && loop_now_ms() < end) {
        arm(t, 20);
        event_base_loop(loop_base(), EVLOOP_ONCE);
    }
    if (t)
        event_free(t);
}

/* Stop leading; with release, give the items back (after the loop ended:
 * it runs the loop for the answers), else let them expire after lease_ms. */
static void lease_stop(bool release, const char *why)
{
    if (lease_st.on) {
        lose(why);
        if (release)
            fini_release();
        alarm_resolve(alarm_key(ALARM_CLUSTER_LEASE).s, "the lease stopped");
    }
    for (size_t i = 0; i < lease_items(); i++)
        lease_io_cancel(&lease_st.tabs[i]);
    if (lease_st.tick)
        event_free(lease_st.tick);
    if (lease_st.expiry)
        event_free(lease_st.expiry);
    if (lease_st.take)
        event_free(lease_st.take);
    lease_notify_fn n = lease_st.notify;
    memset(&lease_st, 0, sizeof(lease_st));
    lease_st.notify = n;
}

void lease_fini(void)
{
    lease_stop(true, "stopping");
}

bool lease_enabled(void)
{
    return lease_st.on;
}

bool lease_leading(void)
{
    return lease_st.on && lease_st.leader && loop_now_ms() < lease_st.send_until;
}

uint64_t lease_epoch(void)
{
    return lease_leading() ? lease_st.epoch : 0;
}

uint64_t lease_send_until_ms(void)
{
    return lease_leading() ? lease_st.send_until : 0;
}

void lease_step_down(const char *why)
{
    if (!lease_st.on)
        return;
    lease_st.cooldown_until = loop_now_ms() + lease_st.lease_ms;
    lease_st.pending_epoch = 0;   /* a follower's takes under way win no term */
    lose(why ? why : "asked to step down");
}

void lease_learn_epoch(uint64_t epoch)
{
    if (!lease_st.on || epoch <= lease_st.epoch_floor)
        return;
    lease_st.epoch_floor = epoch;
    log_msg(LOG_NOTICE, "msg=\"lease: the next term starts above an epoch seen elsewhere\" epoch=%" PRIu64, epoch);
}
