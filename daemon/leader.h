/* leader — the glue between the cluster lease (cluster/lease.h) and what
 * acts: only the leader sends to Route 53, starts backups or PITR calls, or
 * takes control requests (docs/ha.md).  Without a cluster section every
 * call here is a no-op and leader_may_act() is always true. */
#ifndef REGIOND_LEADER_H
#define REGIOND_LEADER_H

#include <stdbool.h>
#include <stddef.h>

#include "cluster/lease.h"
#include "config/cfg.h"

/* Before route53_init (i.e. before control's init): with a cluster section,
 * the actuator starts with a "send nothing" term, so a follower makes no
 * Route 53 call at all, not even the start-up read; backups and PITR get
 * their gate. */
void leader_pre_init(const cfg_t *cfg);

/* A reload: a cluster section added gates everything as at start-up (the
 * actuator stops until this instance leads); one removed keeps the gates
 * shut (restart to run as a single controller; docs/ha.md), and its drills
 * act as they did at that moment (known defect 33). */
void leader_configure(const cfg_t *cfg);

/* lease_init's notify. */
void leader_on_lease(lease_note_t what);

/* leader_feed.c: the lease's events (lease_won, lease_lost, lease_holder,
 * lease_tables) from one note; called by leader_on_lease. */
void leader_feed_note(lease_note_t what);

/* The Route 53 guard showed a newer epoch, guard_epoch: step down; this
 * instance's next term starts above guard_epoch. */
void leader_fenced(uint64_t guard_epoch);

/* No cluster, or we lead and are before send_until. */
bool leader_may_act(void);

/* This instance's own fail drills act (fail its probes of the region, are
 * named in its view): no cluster, or it leads and has read the replicated
 * state of its term (a takeover resumes or ends them first), or it has led
 * and no other instance has been seen holding the lease since (a lost
 * lease, a re-won term before its read: known defect 39).  A deposed
 * leader's local drills stop acting once it sees the new holder (defect
 * 25; docs/ha.md "Drills under the quorum rule").  After a reload removed
 * the section: as at the reload. */
bool leader_drills_act(void);

/* A control request on a follower: false, msg names the leader (for the
 * error text; lease_sight's words: a follower that reaches fewer than a
 * majority of the tables says so and names the last leader it saw) and
 * *holder is filled for the JSON body (known false when nobody leads or
 * this instance cannot tell). */
bool leader_check_control(char *msg, size_t msglen, lease_holder_t *holder);

#endif
