/* route53_term — the lease term in the actuator (route53_set_term): the
 * send window, the new term's guard bump, and the fence checked before
 * every batch.  With epoch 0 none of this runs. */
#include "failover/route53_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/alarm.h"
#include "core/log.h"
#include "core/loop.h"

uint64_t route53_epoch(void) { return r53s.epoch; }
uint64_t route53_guard_epoch(void) { return r53s.guard_epoch; }

bool route53_bumped(uint64_t epoch)
{
    return epoch && r53s.epoch == epoch && !r53s.bump_due && !r53s.fenced && r53s.have_guard && !r53s.guard_bad
           && r53s.guard_epoch == epoch;
}

/* The lease's send window closed before a call: stop the flow where it is.
 * A request already sent is not cancelled (its answer is handled); the
 * intent of a batch whose outcome is unknown stays on disk.  Not idle
 * (route53_idle) until a later route53_set_term reopens the window. */
void r53_stand_down(void)
{
    if (!r53s.stood_down)
        log_msg(LOG_NOTICE, "msg=\"lease send window closed: no Route 53 call\" epoch=%" PRIu64 " phase=%s",
                r53s.epoch, route53_phase_str(r53s.phase));
    r53s.stood_down = true;
    r53_list_free(&r53s.acc);
    memset(&r53s.acc, 0, sizeof(r53s.acc));
    r53s.after_read = NULL;
    r53s.fail_read = NULL;
    r53_free_created();
    evtimer_del(r53s.poll_timer);
    r53_retry_reset();
    r53s.bumping = false;
    r53s.phase = R53_IDLE;
}

static void r53_bump_read_failed(const char *error)
{
    snprintf(r53s.error, sizeof(r53s.error), "guard bump of epoch %" PRIu64 ": cannot read the group (%.400s)",
             r53s.epoch, error);
    log_msg(LOG_WARNING, "msg=\"route53 guard bump not sent\" error=\"%s\"", r53s.error);
    r53_go_idle();   /* kicks the next attempt after a backoff */
}

static void r53_bump(void)
{
    if (!r53s.bump_due || r53s.phase != R53_IDLE || r53s.fenced)
        return;
    r53s.bumping = true;
    r53s.bump_attempts++;
    r53s.ask_seq = 0;
    for (size_t i = 0; i < R53_MAXR; i++)
        r53s.ask[i] = -1;   /* every region keeps its live weight */
    r53s.phase = R53_PREPARING;
    r53_read(r53_after_fresh, r53_bump_read_failed);
}

static void r53_bump_retry(void)
{
    r53_bump();
}

void r53_kick(void)
{
    if (!r53s.epoch || !r53s.cfg || !r53s.cfg->route53.enabled || r53s.phase != R53_IDLE || r53s.retry_fn ||
        r53s.fenced || !r53_may_send())
        return;
    if (!r53s.read_ok && !r53s.await_state) {
        r53_start_read();
        return;
    }
    if (r53s.judge_due && !r53s.await_state && !r53s.bump_due) {
        /* the takeover's read: judged against the last leader's state, as a restart's */
        r53s.judge_due = false;
        r53s.read_ok = false;
        r53_start_read();
        return;
    }
    if (!r53s.bump_due)
        return;   /* (the bump goes first, even while the takeover's state is read) */
    if (r53s.bump_attempts == 0)
        r53_bump();
    else
        r53_retry_later(r53_bump_retry);
}

void route53_set_term(uint64_t epoch, uint64_t send_until_ms)
{
    if (epoch < r53s.epoch) {
        log_msg(LOG_WARNING, "msg=\"route53: lower lease epoch ignored\" epoch=%" PRIu64 " current=%" PRIu64,
                epoch, r53s.epoch);
        return;
    }
    bool term = epoch > r53s.epoch, was_open = r53s.epoch && r53_may_send();
    r53s.epoch = epoch;
    r53s.send_until_ms = send_until_ms;
    if (term) {
        /* (known_hold is kept: a term that never judged keeps its hold into
         * the next, so a late answer of its flow, its bump's or a re-read's,
         * cannot save its unjudged view, which a later judged read would
         * take as this instance's own) */
        log_msg(LOG_NOTICE, "msg=\"route53: new lease term, guard bump due\" epoch=%" PRIu64, epoch);
        r53s.bump_due = true;
        r53s.bump_attempts = 0;
        r53s.fenced = false;
        /* a takeover is a restart: after the bump, the live records are
         * read again and judged against what the last leader knew
         * (route53_takeover), before the term's first change */
        r53s.await_state = r53_takeover_waits() && epoch > 1;
        r53s.judge_due = false;
        if (r53s.send_body) {
            /* a batch built in the last term still waits for its intent
             * record: it must not go out before this term's bump */
            log_msg(LOG_NOTICE, "msg=\"route53: batch of the last term dropped, never sent\" decision=%" PRIu64,
                    r53s.change.decision);
            r53_send_drop();
            r53_intent_clear();
            r53_free_created();
            r53s.bumping = false;
            r53s.phase = R53_IDLE;
            r53s.stood_down = true;   /* the controller hears below that it may decide again */
        }
    }
    if (!r53_may_send())
        return;
    bool resumed = r53s.stood_down || (!was_open && !term);   /* the window reopened */
    r53s.stood_down = false;
    r53_kick();
    if (resumed && r53s.phase == R53_IDLE && r53s.read_ok && r53s.notify) {
        r53s.notify(R53_NOTE_LIVE);   /* decide again on what the next read shows */
        r53s.notify(R53_NOTE_IDLE);
    }
}

/* A live guard with a higher epoch: we are a stale leader.  twin: the
 * guard shows our own epoch with another holder (another instance's term
 * of the same epoch): the same, the next term starts above it. */
static void r53_fenced(const char *twin)
{
    snprintf(r53s.error, sizeof(r53s.error), "fenced: the guard %s shows epoch %" PRIu64 "%s%s, ours is %" PRIu64
             "; nothing sent", r53s.guard_name, r53s.guard_epoch, twin ? " held by " : "", twin ? twin : "",
             r53s.epoch);
    log_msg(LOG_WARNING, "msg=\"route53: stale leader, nothing sent\" guard_epoch=%" PRIu64 " epoch=%" PRIu64
            " guard_holder=\"%s\"", r53s.guard_epoch, r53s.epoch, twin ? twin : "");
    /* a newer leader, or a guard left high (tables recreated, another lease
     * name): either way no change goes through until a term above it bumps
     * the guard (resolved when a batch lands) */
    char sum[600];
    if (twin)
        snprintf(sum, sizeof(sum), "Route 53 fencing: the guard %.300s shows this instance's epoch %" PRIu64
                 " held by %.64s (another instance's term of the same epoch); nothing sent; its next term starts "
                 "above %" PRIu64, r53s.guard_name, r53s.guard_epoch, twin, r53s.guard_epoch);
    else
        snprintf(sum, sizeof(sum), "Route 53 fencing: the guard %.300s shows epoch %" PRIu64 ", above this "
                 "instance's term %" PRIu64 "; nothing sent; its next term starts above %" PRIu64, r53s.guard_name,
                 r53s.guard_epoch, r53s.epoch, r53s.guard_epoch);
    alarm_raise(alarm_key(ALARM_ROUTE53_CHANGE).s, "critical", sum, NULL);
    r53s.fenced = true;
    r53s.bumping = false;
    r53_free_created();
    r53s.phase = R53_IDLE;
    r53s.notify(R53_NOTE_FENCED);
}

/* Refuse a batch on a guard we cannot trust (alarmed; retried after the
 * controller's backoff, or the bump's). */
static void r53_guard_refuse(const char *why)
{
    char sum[600];
    snprintf(r53s.error, sizeof(r53s.error), "no batch sent: %.480s", why);
    snprintf(sum, sizeof(sum), "Route 53 fencing: %.500s; no batch is sent until it is fixed", why);
    log_msg(LOG_ERR, "msg=\"route53 batch not sent\" why=\"%s\"", why);
    alarm_raise(alarm_key(ALARM_ROUTE53_CHANGE).s, "critical", sum, NULL);
    r53_free_created();
    bool bump = r53s.bumping;
    if (!bump)
        r53s.notify(R53_NOTE_FAILED);
    r53_go_idle();
}

int r53_fence_gate(void)
{
    char why[400];
    if (!r53s.epoch)
        return 0;
    if (!r53s.guard_name[0]) {
        snprintf(why, sizeof(why), "route53.record_name %.250s leaves no room for the guard record",
                 r53s.cfg->route53.record_name);
        r53_guard_refuse(why);
        return -1;
    }
    if (r53s.guard_bad) {
        snprintf(why, sizeof(why), "the guard record %.250s holds no readable epoch (delete it or write "
                 "\"epoch=N\")", r53s.guard_name);
        r53_guard_refuse(why);
        return -1;
    }
    if (r53s.guard_epoch > r53s.epoch) {
        r53_fenced(NULL);
        return -1;
    }
    char holder[80];
    r53_guard_holder(&r53s.guard_live, holder, sizeof(holder));
    if (r53s.have_guard && r53s.guard_epoch == r53s.epoch && strcmp(holder, r53_guard_self()) != 0) {
        /* our epoch, not our guard: two terms of one epoch (two sets of
         * lease tables, docs/ha.md known defect 19); neither may take the
         * other's guard for its own earlier attempt */
        r53_fenced(holder[0] ? holder : "(no holder)");
        return -1;
    }
    if (r53s.bumping && r53s.have_guard && r53s.guard_epoch == r53s.epoch) {
        r53_guard_landed();   /* an earlier attempt of this term landed */
        r53s.notify(R53_NOTE_LIVE);
        r53_go_idle();
        return -1;
    }
    return 0;
}

/* The batch in flight landed: its guard is the live one; a bump is done. */
void r53_guard_landed(void)
{
    if (r53s.guard_new.name[0]) {
        r53_rrset_clear(&r53s.guard_live);
        r53s.guard_live = r53s.guard_new;   /* moved */
        r53_rrset_init(&r53s.guard_new);
        r53s.guard_new_seq = (r53_gk_seq_t){0, 0};
        r53s.have_guard = true;
        /* the epoch it was built with (a newer term may have begun since) */
        r53s.guard_bad = r53_guard_parse(&r53s.guard_live, &r53s.guard_epoch) == -1;
    }
    if (r53s.bumping && r53s.have_guard && !r53s.guard_bad && r53s.guard_epoch == r53s.epoch) {
        /* (a bump built before a still newer term began does not count) */
        log_msg(LOG_NOTICE, "msg=\"route53: guard bumped\" epoch=%" PRIu64, r53s.epoch);
        r53s.bump_due = false;
    }
}
