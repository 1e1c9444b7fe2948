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

#include "backup/backup.h"
#include "core/alarm.h"
#include "core/log.h"
#include "core/loop.h"
#include "daemon/control_replica.h"
#include "failover/route53.h"

static bool ld_on;   /* the config has a cluster section */
static uint64_t ld_fenced_by;   /* the guard epoch that fenced us, until explained or outgrown */
/* A reload removed the section: the gates stay shut until a restart, and
 * the drills act as they did at that moment (the leader's keep failing
 * its probes and stay shown active; a follower's never acted). */
static bool ld_removed, ld_removed_drills;

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

bool leader_drills_act(void)
{
    if (ld_removed)
        return ld_removed_drills;
    return leader_may_act() && !ctrl_replica_holds();
}

void leader_pre_init(const cfg_t *cfg)
{
    if (!cfg->cluster.enabled)
        return;
    ld_on = true;
    route53_set_term(1, 0);   /* a follower until the lease says otherwise */
    route53_set_takeover_wait(true);   /* each term's first read waits for the replicated state */
    backup_set_gate(leader_may_act);
    pitr_set_gate(leader_may_act);
}

void leader_configure(const cfg_t *cfg)
{
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
        break;
    case LEASE_NOTE_LOST:
        /* lease_epoch() is 0 by now: close the actuator's own term */
        route53_set_term(route53_epoch(), loop_now_ms());
        break;
    case LEASE_NOTE_VIEW:
        leader_fence_check();
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
