/* control_replica — the controller's state (overrides, freeze, decision
 * numbers) replicated to a majority of the lease tables through
 * cluster/replica.h, and taken over by a new leader before its first
 * decision (docs/ha.md, "Replicated controller state").  Without a cluster
 * section every call is a no-op. */
#ifndef REGIOND_CONTROL_REPLICA_H
#define REGIOND_CONTROL_REPLICA_H

#include <stdbool.h>
#include <stdint.h>

#include "cluster/lease.h"
#include "config/cfg.h"
#include "daemon/control.h"

/* The module table's row (before the lease's: the lease's notes reach it). */
int ctrl_replica_init(const cfg_t *cfg);
void ctrl_replica_configure(const cfg_t *cfg);
void ctrl_replica_fini(void);

/* leader_on_lease: LEADING reads the replicated state (decisions wait for
 * it: ctrl_replica_holds()); LOST drops what waits to be written. */
void ctrl_replica_on_lease(lease_note_t what);

/* Leading, and the new term's read of the replicated state has not been
 * taken yet: no decision, no operator change. */
bool ctrl_replica_holds(void);

/* Decision numbers below this may be handed out: the reservation the
 * latest write of this term put on a majority of the tables (UINT64_MAX
 * when not leading or without a cluster). */
uint64_t ctrl_replica_limit(void);

/* control.json was saved: replicate the state as it is now (leading, and
 * the takeover read taken, only). */
void ctrl_replica_push(void);

/* An operator change saved locally is about to be applied and answered
 * (*done, *arg): while leading, the answer is held until a write of the
 * state that includes it (the push that follows) is on a majority of the
 * lease tables, so an acknowledged change survives a takeover; if this
 * instance stops leading first, the answer says the change may be lost
 * (CTRL_UNAVAILABLE).  Without a cluster, or on allocation failure, nothing
 * changes (answered at once). */
void ctrl_replica_defer(ctrl_done_fn *done, void **arg);

#endif
