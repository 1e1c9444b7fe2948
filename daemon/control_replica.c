/* control_replica — see control_replica.h.
 *
 *  - Every save of control.json that succeeded while leading is also
 *    replicated (replica_write: at most one write in flight, the latest
 *    document wins); the document is control.json's, with the applied-change
 *    history cut to its last CR_CHANGES entries.  A write that reaches no
 *    majority raises cluster-state and is tried again after renew_ms.
 *  - Decision numbers: while leading, a number is handed out only below the
 *    reservation a write of this term put on a majority (ctrl_replica_limit),
 *    so a next leader that reads a majority never hands one out again.
 *  - LEADING: the new term reads a majority (again every renew_ms, under
 *    cluster-state, until it can); meanwhile no decision and no operator
 *    change.  A document newer than the one this instance last wrote or
 *    loaded is checked like control.json (ctrl_check_doc) and taken (overrides,
 *    freeze, decision numbers above its reservation); one that fails its
 *    checks is not used: cluster-state, and the instance goes on from its
 *    own state.  An item at or above this term's epoch is no earlier
 *    leader's: the read itself ignores it and takes the newest valid item
 *    below (replica_pick, known defect 37), named in cluster-state like a
 *    bad item, and this term's writes replace it while it is unchanged
 *    (a valid one only once this term's guard bump landed: route53_bumped).
 *  - Held answers: an operator change accepted while leading (its term) is
 *    answered once a write of that term put it on a majority; else 503
 *    (CTRL_UNCONFIRMED, applied here): its term ended before its save or
 *    before that write, lease_ms passed since its save, or SIGTERM. */
#include "daemon/control_replica.h"
#include "daemon/control_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "backup/backup.h"
#include "cluster/replica.h"
#include "core/alarm.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/state.h"
#include "daemon/drill.h"
#include "failover/route53.h"

#define CR_CHANGES 100   /* applied-change times replicated (control.json keeps up to 1000) */

static struct {
    bool on;
    uint32_t renew_ms;
    uint32_t hold_ms;             /* a held answer's deadline: lease_ms after the local save */
    bool hold;                    /* leading: decisions wait for the term's read */
    uint64_t term;                /* the epoch the hold belongs to */
    uint64_t have_epoch, have_seq;   /* the newest replicated state this instance wrote or loaded */
    uint64_t limit;               /* this term: decision_reserved of the newest write on a majority */
    bool retry_read;              /* what the retry timer does: read again, else write again */
    struct event *retry;
    struct event *ack_timer;      /* the first held answer's deadline */
    uint64_t gen;                 /* pushes so far (each write carries its push's number) */
    struct cr_ack *acks;          /* operator answers held until their state is on a majority */
    char last_error[512];         /* the last write's failure, for a held answer's 503 */
    bool have_late;               /* a write result that came after send_until, before the term's fate */
    replica_result_t late;
} cr;

/* An operator change accepted while leading (term), its answer held until
 * a write with gen >= this one's is on a majority of the lease tables. */
struct cr_ack {
    struct cr_ack *next;
    uint64_t term;                /* the epoch it was accepted in */
    uint64_t gen;
    uint64_t deadline_ms;         /* monotonic: answered 503 then if still held */
    bool listed;                  /* in cr.acks (its local save finished in its term) */
    bool stale;                   /* its local save finished after its term ended */
    ctrl_done_fn done;
    void *arg;
    bool ready;                   /* the change was applied: rc and msg hold its answer */
    ctrl_rc_t rc;
    char msg[600];
};

static void cr_unconfirmed(struct cr_ack *a, const char *why)
{
    char msg[1200];
    snprintf(msg, sizeof(msg), "applied on this instance (%.200s), but %.900s", a->msg, why);
    a->done(a->arg, CTRL_UNCONFIRMED, msg);
}

static void cr_unlink(struct cr_ack *a)
{
    for (struct cr_ack **pp = &cr.acks; *pp; pp = &(*pp)->next)
        if (*pp == a) {
            *pp = a->next;
            return;
        }
}

/* The change's own answer (ctrl_op_finish, or a refusal): a held one waits
 * in cr.acks; anything else is answered now. */
static void cr_ack_later(void *arg, ctrl_rc_t rc, const char *msg)
{
    struct cr_ack *a = arg;
    a->ready = true;
    a->rc = rc;
    snprintf(a->msg, sizeof(a->msg), "%s", msg ? msg : "");
    if (a->listed && rc == CTRL_OK)
        return;
    if (a->listed)
        cr_unlink(a);
    if (rc == CTRL_OK && a->stale) {
        char why[300];
        snprintf(why, sizeof(why), "this instance stopped leading (epoch %" PRIu64 ") before the change was saved: "
                 "it was never written to the lease tables and the next leader may not have it; check the "
                 "leader's /v1/status", a->term);
        cr_unconfirmed(a, why);
    } else {
        a->done(a->arg, rc, msg);
    }
    free(a);
}

uint64_t ctrl_replica_term(void)
{
    return cr.on && !cr.hold && lease_leading() ? lease_epoch() : 0;
}

int ctrl_replica_accept(ctrl_done_fn *done, void **arg)
{
    uint64_t term = ctrl_replica_term();
    if (!term || !*done)
        return 0;   /* no cluster, or not leading (an internal change of a follower): answered as saved */
    struct cr_ack *a = calloc(1, sizeof(*a));
    if (!a)
        return -1;
    a->term = term;
    a->done = *done;
    a->arg = *arg;
    *done = cr_ack_later;
    *arg = a;
    return 0;
}

static void cr_ack_arm(void)
{
    uint64_t first = 0, now = loop_now_ms();
    for (const struct cr_ack *a = cr.acks; a; a = a->next)
        if (!first || a->deadline_ms < first)
            first = a->deadline_ms;
    if (!cr.ack_timer)
        return;
    if (!first) {
        evtimer_del(cr.ack_timer);
        return;
    }
    uint64_t in = first > now ? first - now : 0;
    const struct timeval tv = {(time_t)(in / 1000), (suseconds_t)((in % 1000) * 1000)};
    evtimer_add(cr.ack_timer, &tv);
}

void ctrl_replica_defer(ctrl_done_fn done, void *arg)
{
    if (done != cr_ack_later)
        return;   /* not held: no cluster, or accepted while not leading */
    struct cr_ack *a = arg;
    if (ctrl_replica_term() != a->term) {
        a->stale = true;   /* answered 503 by cr_ack_later, once applied */
        return;
    }
    a->gen = cr.gen + 1;   /* the push right after this save (or a later one) */
    a->deadline_ms = loop_now_ms() + cr.hold_ms;
    a->listed = true;
    struct cr_ack **tail = &cr.acks;
    while (*tail)
        tail = &(*tail)->next;
    *tail = a;
    cr_ack_arm();
}

/* Answer the held acks: those whose state is on a majority (gen <= upto),
 * or, when upto is 0, those due by `due` (every one when due is
 * UINT64_MAX) with CTRL_UNCONFIRMED and why. */
static void cr_acks_answer(uint64_t upto, uint64_t due, const char *why)
{
    struct cr_ack **pp = &cr.acks;
    while (*pp) {
        struct cr_ack *a = *pp;
        if (!a->ready || (upto ? a->gen > upto : a->deadline_ms > due)) {
            pp = &a->next;
            continue;
        }
        *pp = a->next;
        if (upto)
            a->done(a->arg, a->rc, a->msg);
        else
            cr_unconfirmed(a, why);
        free(a);
    }
    cr_ack_arm();
}

static void cr_on_ack_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    char why[900];
    snprintf(why, sizeof(why), "it was not confirmed on a majority of the lease tables within %u ms (%s); the "
             "state is written again every %u ms while this instance leads; the next leader may not have it: "
             "check the cluster-state alarm", cr.hold_ms,
             cr.last_error[0] ? cr.last_error : "no answer yet", cr.renew_ms);
    cr_acks_answer(0, loop_now_ms(), why);
}

void ctrl_replica_stopping(void)
{
    cr_acks_answer(0, UINT64_MAX, "regiond is stopping before the change was confirmed on a majority of the "
                                  "lease tables: the next leader may not have it");
}

static void cr_alarm(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void cr_alarm(const char *fmt, ...)
{
    char sum[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sum, sizeof(sum), fmt, ap);
    va_end(ap);
    log_msg(LOG_ERR, "msg=\"%s\"", sum);
    alarm_raise(alarm_key(ALARM_CLUSTER_STATE).s, "critical", sum, NULL);
}

static void cr_retry(bool read)
{
    const struct timeval tv = {(time_t)(cr.renew_ms / 1000), (suseconds_t)((cr.renew_ms % 1000) * 1000)};
    cr.retry_read = read;
    if (cr.retry)
        evtimer_add(cr.retry, &tv);
}

/* Beside control.json's members: the active drills and what the Route 53
 * actuator knows (its change in flight included).  On failure the doc
 * stays without them: a next leader then judges by its own files. */
static void cr_add_sections(cJSON *doc)
{
    cJSON *dr = doc ? drill_replica_json() : NULL, *r53 = doc ? route53_replica_doc() : NULL;
    cJSON *bk = doc ? backup_replica_json() : NULL;
    if (dr)
        cJSON_AddItemToObject(doc, "drills", dr);
    if (r53)
        cJSON_AddItemToObject(doc, "route53", r53);
    if (bk)
        cJSON_AddItemToObject(doc, "backups", bk);
}

/* The replicated members beyond control.json's: the checks of their own
 * modules (0, or -1 with why). */
static int cr_check_sections(const cJSON *o, char *why, size_t len)
{
    const cJSON *dr = cJSON_GetObjectItemCaseSensitive(o, "drills");
    const cJSON *r53 = cJSON_GetObjectItemCaseSensitive(o, "route53");
    const cJSON *bk = cJSON_GetObjectItemCaseSensitive(o, "backups");
    if (dr && drill_replica_check(dr, why, len) == -1)
        return -1;
    if (bk && backup_replica_check(bk, why, len) == -1)
        return -1;
    return r53 && route53_replica_check(r53, why, len) == -1 ? -1 : 0;
}

void ctrl_replica_push(void)
{
    if (!cr.on || cr.hold || !lease_leading())
        return;
    cJSON *doc = ctrl_doc();
    cJSON *ch = cJSON_GetObjectItemCaseSensitive(doc, "changes");
    while (cJSON_GetArraySize(ch) > CR_CHANGES)
        cJSON_DeleteItemFromArray(ch, 0);
    cr_add_sections(doc);
    char *s = doc ? cJSON_PrintUnformatted(doc) : NULL;
    uint64_t reserved = (uint64_t)state_get_num(doc, "decision_reserved");
    cJSON_Delete(doc);
    cr.gen++;
    if (!s || replica_write(s, reserved, cr.gen) == -1) {
        cr_alarm("the controller's state could not be handed to the lease tables (%s): tried again",
                 s ? "too large, or not leading" : "out of memory");
        cr_retry(false);
    }
    free(s);
}

/* A replicated document that passed its checks: take it. */
static bool cr_take(const replica_result_t *r, char *why, size_t len)
{
    if (!r->doc) {
        snprintf(why, len, "%s", r->error[0] ? r->error : "the item has no doc string");
        return false;
    }
    if (r->epoch >= cr.term) {
        snprintf(why, len, "its epoch %" PRIu64 " is not below this term's %" PRIu64
                 " (not written by an earlier leader)", r->epoch, cr.term);
        return false;
    }
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithOpts(r->doc, &end, 1);
    if (!o || !cJSON_IsObject(o))
        snprintf(why, len, "doc: not a JSON object");
    else if (ctrl_check_doc(o, why, len) == -1 && !why[0])
        snprintf(why, len, "doc: failed its checks");
    else if (!why[0] && cr_check_sections(o, why, len) == -1 && !why[0])
        snprintf(why, len, "doc: failed its checks");
    if (!why[0]) {
        ctrl_take_replicated(o);
        const cJSON *dr = cJSON_GetObjectItemCaseSensitive(o, "drills");
        if (dr)
            drill_replica_take(dr, cr.term);
        if (cJSON_GetObjectItemCaseSensitive(o, "backups"))
            backup_replica_take(cJSON_GetObjectItemCaseSensitive(o, "backups"));
        route53_takeover(cJSON_GetObjectItemCaseSensitive(o, "route53"));   /* NULL: by our own files */
    }
    cJSON_Delete(o);
    return !why[0];
}

static void cr_read(const replica_result_t *r)
{
    if (!cr.hold || !lease_leading() || lease_epoch() != cr.term)
        return;   /* a read of an earlier term */
    if (r->below != cr.term) {   /* started in an earlier term: its items were bounded by that one's epoch */
        replica_read();
        return;
    }
    if (!r->ok) {
        cr_alarm("the replicated controller state cannot be read (%zu of %zu lease tables answered: %s): "
                 "this leader makes no decision until it can", r->answered, r->tables, r->error);
        cr_retry(true);
        return;
    }
    char why[512] = "";
    bool newer = r->found && (r->epoch > cr.have_epoch || (r->epoch == cr.have_epoch && r->seq > cr.have_seq));
    if (newer && cr_take(r, why, sizeof(why))) {
        cr.have_epoch = r->epoch;
        cr.have_seq = r->seq;
        log_msg(LOG_NOTICE, "msg=\"replicated controller state taken over\" epoch=%" PRIu64 " seq=%" PRIu64
                " term=%" PRIu64 " decision_seq=%" PRIu64 " frozen=%d", r->epoch, r->seq, cr.term, ctl.seq,
                ctl.frozen);
        alarm_resolve(alarm_key(ALARM_CLUSTER_STATE).s, "the replicated controller state was taken over");
    } else if (newer) {
        cr_alarm("the replicated controller state (epoch %" PRIu64 ", seq %" PRIu64 ") was not loaded: %s; "
                 "this leader goes on from its own saved state", r->epoch, r->seq, why);
    } else {
        log_msg(LOG_NOTICE, "msg=\"replicated controller state: nothing newer than ours\" found=%d epoch=%" PRIu64
                " seq=%" PRIu64 " term=%" PRIu64, r->found, r->epoch, r->seq, cr.term);
        alarm_resolve(alarm_key(ALARM_CLUSTER_STATE).s, "the replicated controller state was read");
    }
    if (r->bad_mask)   /* known defect 36: named until an operator removes it */
        cr_alarm("the replicated controller state was read, but an item not valid was ignored (%s): "
                 "this leader's writes replace it while it is unchanged (a valid one after the guard bump); "
                 "find who can write the lease tables", r->error);
    cr.hold = false;
    route53_takeover(NULL);   /* when not taken above: the live records judged by this instance's files */
    drill_resume_acting();   /* its fail drills' regions down before the first decision (known defect 33) */
    ctrl_takeover_ready();   /* a new number block, saved and replicated, then the first decision */
}

/* A write's result.  One that comes after send_until but before the
 * lease's verdict (its expiry timer, or a renewal that moves send_until)
 * waits for that verdict: RENEWED takes it (no other leader can have read
 * the state meanwhile: the renewal kept a majority), LOST drops it. */
static void cr_written(const replica_result_t *r)
{
    if (!cr.term || r->epoch != cr.term)
        return;   /* a write of an earlier term */
    if (!lease_leading() || lease_epoch() != r->epoch) {
        cr.late = *r;
        cr.late.doc = NULL;
        cr.have_late = true;
        return;
    }
    if (!r->ok) {
        snprintf(cr.last_error, sizeof(cr.last_error), "the last write reached %zu of %zu lease tables: %.400s",
                 r->accepted, r->tables, r->error);
        cr_alarm("the controller's state (seq %" PRIu64 ") reached %zu of %zu lease tables: %s; "
                 "written again in %u ms", r->seq, r->accepted, r->tables, r->error, cr.renew_ms);
        cr_retry(false);
        return;
    }
    cr.last_error[0] = '\0';
    cr.have_epoch = r->epoch;
    cr.have_seq = r->seq;
    alarm_resolve(alarm_key(ALARM_CLUSTER_STATE).s, "the controller's state is on a majority of the lease tables");
    cr_acks_answer(r->gen, 0, NULL);
    if (r->tag > cr.limit) {
        bool waited = ctl.seq >= cr.limit;
        cr.limit = r->tag;
        if (waited)
            ctrl_reevaluate("state-replicated");
    }
}

static void cr_on_replica(replica_note_t what, const replica_result_t *r)
{
    if (what == REPLICA_NOTE_READ)
        cr_read(r);
    else
        cr_written(r);
}

static void cr_on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    if (!lease_leading())
        return;
    if (cr.retry_read && cr.hold)
        replica_read();
    else if (!cr.retry_read)
        ctrl_replica_push();
}

void ctrl_replica_on_lease(lease_note_t what)
{
    if (!cr.on)
        return;
    if (what == LEASE_NOTE_LEADING && lease_leading() && lease_epoch() != cr.term) {
        cr.hold = true;
        cr.term = lease_epoch();
        cr.limit = 0;
        log_msg(LOG_NOTICE, "msg=\"new term: reading the replicated controller state before any decision\" "
                "epoch=%" PRIu64, cr.term);
        replica_read();
    } else if (what == LEASE_NOTE_RENEWED && cr.have_late && lease_leading() && lease_epoch() == cr.late.epoch) {
        replica_result_t late = cr.late;
        cr.have_late = false;
        cr_written(&late);   /* the term went on: the write that came late counts */
    } else if (what == LEASE_NOTE_LOST) {
        cr.hold = false;
        cr.term = 0;
        cr.limit = 0;
        cr.have_late = false;
        replica_drop();
        if (cr.retry)
            evtimer_del(cr.retry);
        cr_acks_answer(0, UINT64_MAX, "this instance stopped leading before the change was on a majority of "
                                      "the lease tables: the next leader may not have it; check the leader's "
                                      "/v1/status");
    }
}

bool ctrl_replica_holds(void)
{
    return cr.on && cr.hold && lease_leading();
}

uint64_t ctrl_replica_limit(void)
{
    return cr.on && lease_leading() ? cr.limit : UINT64_MAX;
}

int ctrl_replica_init(const cfg_t *cfg)
{
    memset(&cr, 0, sizeof(cr));
    if (!cfg->cluster.enabled)
        return 0;
    cr.retry = evtimer_new(loop_base(), cr_on_retry, NULL);
    cr.ack_timer = evtimer_new(loop_base(), cr_on_ack_deadline, NULL);
    if (!cr.retry || !cr.ack_timer || replica_init(cfg, cr_on_replica) == -1)
        return -1;
    cr.on = true;
    cr.renew_ms = cfg->cluster.renew_ms;
    cr.hold_ms = cfg->cluster.lease_ms;
    backup_set_changed(ctrl_replica_push);   /* a schedule's new record reaches the next leader */
    route53_set_changed(ctrl_replica_push);   /* a batch's intent too, before the batch is sent */
    replica_set_landed_fn(route53_bumped);   /* a valid item above the term: written over after the bump */
    return 0;
}

void ctrl_replica_configure(const cfg_t *cfg)
{
    if (!cr.on) {
        if (cfg->cluster.enabled && ctrl_replica_init(cfg) == -1)
            log_msg(LOG_ERR, "msg=\"replicated controller state: cannot start (out of memory)\"");
        return;
    }
    cr.renew_ms = cfg->cluster.enabled ? cfg->cluster.renew_ms : cr.renew_ms;
    cr.hold_ms = cfg->cluster.enabled ? cfg->cluster.lease_ms : cr.hold_ms;
    if (cfg->cluster.enabled)
        replica_configure(cfg);
}

void ctrl_replica_fini(void)
{
    ctrl_replica_stopping();   /* none left after SIGTERM's: whatever came after it */
    replica_fini();
    if (cr.retry)
        event_free(cr.retry);
    if (cr.ack_timer)
        event_free(cr.ack_timer);
    memset(&cr, 0, sizeof(cr));
}
