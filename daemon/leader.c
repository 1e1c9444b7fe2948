/* leader — wires the cluster lease to the actuators (daemon/leader.h).
 *  - LEADING: route53_set_term(epoch, send_until): a higher epoch than the
 *    actuator's starts a term, whose first batch bumps the guard record;
 *  - RENEWED: the same epoch with the later send_until (a renewal);
 *  - LOST: the same epoch with send_until = now: nothing further is sent;
 *  - the actuator's FENCED note: lease_step_down(), the next term above the
 *    guard's epoch (lease_learn_epoch).
 * Backups and PITR ask leader_may_act() before each run or call. */
#include "daemon/leader.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "backup/backup.h"
#include "core/alarm.h"
#include "core/log.h"
#include "core/loop.h"
#include "daemon/control_replica.h"
#include "daemon/targets.h"
#include "failover/route53.h"

static bool ld_on;   /* the config has a cluster section */
static uint64_t ld_fenced_by;   /* the guard epoch that fenced us, until explained or outgrown */
/* A reload removed the section: the gates stay shut until a restart, and
 * the drills act as they did at that moment (the leader's keep failing
 * its probes and stay shown active; a follower's never acted). */
static bool ld_removed, ld_removed_drills;
/* Known defect 39: this instance's drills keep acting from a lost lease
 * until another instance is seen holding it (ld_superseded), through a
 * re-won term's replicated read; false at start, until it leads. */
static bool ld_led, ld_superseded;
static char ld_id[65];

/* Fenced by a guard that another instance's live term holds (it leads at
 * that epoch or higher): the lease working, not a problem to page about;
 * route53-change is resolved.  A guard nobody's term explains keeps it
 * until our own next bump lands (the actuator resolves it then). */
static void leader_fence_check(void)
{
    lease_holder_t h;
    if (!ld_fenced_by || lease_leading())
        return;
    lease_holder(&h);
    if (!h.known || h.epoch < ld_fenced_by)
        return;
    char why[160];
    snprintf(why, sizeof(why), "fenced by the guard of epoch %" PRIu64 ": instance %s leads at epoch %" PRIu64,
             ld_fenced_by, h.id, h.epoch);
    alarm_resolve(alarm_key(ALARM_ROUTE53_CHANGE).s, why);
    ld_fenced_by = 0;
}

bool leader_may_act(void)
{
    return !ld_on || lease_leading();
}

/* Its drills act while it leads and has read the replicated state, and
 * also, once it has led, while no other instance has been seen holding
 * since (a lost lease, a re-won term before its read): the drills in its
 * table are then still the cluster's newest (known defect 39). */
bool leader_drills_act(void)
{
    if (ld_removed)
        return ld_removed_drills;
    if (leader_may_act() && !ctrl_replica_holds()) {
        ld_led = true;
        ld_superseded = false;
        return true;
    }
    return ld_on && ld_led && !ld_superseded;
}

/* Another instance seen holding: its term owns the drills now (defect 25). */
static void leader_drills_check(void)
{
    lease_holder_t h;
    lease_holder(&h);
    if (!ld_superseded && h.known && strcmp(h.id, ld_id) != 0) {
        if (ld_led)
            log_msg(LOG_NOTICE, "msg=\"another instance holds the lease: this instance's drills stop acting\" "
                                "holder=%s epoch=%" PRIu64, h.id, h.epoch);
        ld_superseded = true;
        targets_drill_forget();   /* its regions judged on real probes again */
    }
}

void leader_pre_init(const cfg_t *cfg)
{
    if (!cfg->cluster.enabled)
        return;
    ld_on = true;
    snprintf(ld_id, sizeof(ld_id), "%s", cfg->cluster.instance_id ? cfg->cluster.instance_id : "");
    route53_set_term(1, 0);   /* a follower until the lease says otherwise */
    route53_set_takeover_wait(true);   /* each term's first read waits for the replicated state */
    backup_set_gate(leader_may_act);
    pitr_set_gate(leader_may_act);
}

void leader_configure(const cfg_t *cfg)
{
    if (cfg->cluster.enabled && cfg->cluster.instance_id && strcmp(ld_id, cfg->cluster.instance_id) != 0) {
        snprintf(ld_id, sizeof(ld_id), "%s", cfg->cluster.instance_id);
        ld_led = false;   /* another identity: the drills act again once it leads */
    }
    if (cfg->cluster.enabled && !ld_on) {
        log_msg(LOG_NOTICE, "msg=\"cluster section added: acting only while leading\"");
        leader_pre_init(cfg);
    } else if (cfg->cluster.enabled && ld_removed) {
        ld_removed = false;   /* added back: the lease restarts, its drills act while it leads */
    } else if (!cfg->cluster.enabled && ld_on && !ld_removed) {
        /* before lease_configure stops the lease: whether its drills act now */
        ld_removed_drills = leader_drills_act();
        ld_removed = true;
        log_msg(LOG_WARNING, "msg=\"cluster section removed: nothing is sent until a restart\" drills_act=%s",
                ld_removed_drills ? "true" : "false");
    }
}

void leader_on_lease(lease_note_t what)
{
    leader_feed_note(what);
    if (!ld_on)
        return;
    switch (what) {
    case LEASE_NOTE_LEADING:
    case LEASE_NOTE_RENEWED:
        if (what == LEASE_NOTE_LEADING)
            ld_fenced_by = 0;   /* our own term: its bump resolves route53-change when it lands */
        if (lease_leading())
            route53_set_term(lease_epoch(), lease_send_until_ms());
        (void)leader_drills_act();   /* latches "has led" once its term has read its state */
        break;
    case LEASE_NOTE_LOST:
        /* lease_epoch() is 0 by now: close the actuator's own term */
        route53_set_term(route53_epoch(), loop_now_ms());
        break;
    case LEASE_NOTE_VIEW:
        leader_fence_check();
        leader_drills_check();
        break;
    case LEASE_NOTE_TABLES:
        break;
    }
    ctrl_replica_on_lease(what);   /* after the term reached the actuator: its guard bump goes first */
}

void leader_fenced(uint64_t guard_epoch)
{
    if (!ld_on)
        return;
    log_msg(LOG_WARNING, "msg=\"stale leader: stepping down\" epoch=%" PRIu64 " guard_epoch=%" PRIu64,
            route53_epoch(), guard_epoch);
    lease_learn_epoch(guard_epoch);   /* the next term must be above the guard, or it is fenced again */
    lease_step_down("route53 guard shows a newer epoch, or ours held by another instance");
    route53_set_term(route53_epoch(), loop_now_ms());   /* also when the lease had already lost */
    ld_fenced_by = guard_epoch;
    if (ld_led && !ld_superseded) {   /* a newer term exists: it owns the drills (as on seeing its holder) */
        log_msg(LOG_NOTICE, "msg=\"fenced by a newer term: this instance's drills stop acting\"");
        ld_superseded = true;
        targets_drill_forget();
    }
    leader_fence_check();   /* the holder may be known already */
}

bool leader_check_control(char *msg, size_t msglen, lease_holder_t *holder)
{
    char sight[700];
    if (leader_may_act() && !ctrl_replica_holds())
        return true;
    lease_holder(holder);
    if (leader_may_act()) {   /* changes made now would be replaced by the replicated state */
        snprintf(msg, msglen, "not yet: this instance has just become the leader (epoch %" PRIu64
                 ") and is reading the replicated controller state; try again in a moment", holder->epoch);
        return false;
    }
    if (!lease_enabled()) {   /* the section was removed by a reload: the gates stay shut */
        snprintf(msg, msglen, "not acting: a reload removed the cluster section; restart regiond to act as "
                              "a single controller");
        return false;
    }
    if (!lease_sees_majority())
        holder->known = false;   /* it cannot tell who leads: lease_sight says what it reaches */
    lease_sight(sight, sizeof(sight));
    snprintf(msg, msglen, "not the leader: %s", sight);
    return false;
}
