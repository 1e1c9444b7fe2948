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

/* The term an operator change is accepted in: the lease's epoch while this
 * instance leads and has taken the term's replicated state, else 0 (no
 * cluster, not leading). */
uint64_t ctrl_replica_term(void);

/* An operator change is accepted (ctrl_submit; *done, *arg its answer):
 * while leading, its answer is wrapped to be held (ctrl_replica_defer).
 * 0, or -1 out of memory (nothing changed: the caller refuses the change). */
int ctrl_replica_accept(ctrl_done_fn *done, void **arg);

/* The change's local save finished and it is about to be applied and
 * answered through (done, arg): when it was accepted in the term that still
 * runs, the answer is held until a write of the state that includes it
 * (the push that follows) is on a majority of the lease tables, so an
 * acknowledged change survives a takeover.  Answered CTRL_UNCONFIRMED
 * (503, applied on this instance) instead when its term ended before its
 * save finished, when the term ends before that write, when the write is not
 * confirmed within lease_ms of the save, or at SIGTERM.  A change not
 * accepted while leading is answered as saved. */
void ctrl_replica_defer(ctrl_done_fn done, void *arg);

/* SIGTERM, on the loop: every held answer is answered now (503), while the
 * API can still send it. */
void ctrl_replica_stopping(void);

#endif
