/* drill — failover drills: drain a region on purpose (an override to weight
 * 0, a planned evacuation) or make it fail (its probes count as failed
 * inside the health path, a simulated outage), for a while, then restore.
 * A drill enters through the same path a real failure or an operator's
 * override takes, so safety rules, the Route 53 batch, INSYNC and the DNS
 * check run for real; a drill that would break a safety rule is refused
 * with the rule named.  Each drill keeps a timeline of every event while it
 * runs (a feed listener), persisted in state_dir/drill-ID.json, one small file per drill: a restart
 * resumes an active drill and the timeline shows the gap. */
#ifndef REGIOND_DRILL_H
#define REGIOND_DRILL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "config/cfg.h"

int drill_init(void);
void drill_fini(void);
/* SIGTERM, still on the loop: a start or stop still waiting is answered now. */
void drill_stopping(void);

/* DRILL_UNAVAILABLE: the drill (or its restore) could not be saved, so it
 * was not started (stopped); the API answers 503. */
typedef enum { DRILL_OK = 0, DRILL_NOT_FOUND, DRILL_REFUSED, DRILL_BAD, DRILL_UNAVAILABLE } drill_rc_t;

/* Starting and stopping never wait for the disk: done(arg, rc, id, msg) is
 * called exactly once, at once when refused, else on the loop once the
 * drill's file (and, for a drain, its override or its release) is durable
 * (DRILL_OK: in effect from then on) or could not be saved
 * (DRILL_UNAVAILABLE: not started, or still running). */
typedef void (*drill_done_fn)(void *arg, drill_rc_t rc, uint64_t id, const char *msg);

/* Start a drill. */
void drill_start(const char *region, bool fail, uint32_t duration_s, bool dry_run, const char *note,
                 const char *who, drill_done_fn done, void *arg);

/* End drill id early. */
void drill_stop(uint64_t id, const char *who, drill_done_fn done, void *arg);

/* Replicated state (drill_replica.c, docs/ha.md): the active drills as
 * the "drills" member (NULL out of memory); its checks (0, or -1 with why);
 * a new leader of term epoch takes o (checked): resumes its drills with the
 * time left as written, ends its own active drills that o lacks. */
cJSON *drill_replica_json(void);
int drill_replica_check(const cJSON *o, char *why, size_t len);
void drill_replica_take(const cJSON *o, uint64_t epoch);

/* This instance's drills act again with health that has not seen them: a
 * term's replicated read is done (control_replica.c: the drills it resumed
 * or kept, before the term's first decision).  Not at a restart: every
 * region is unknown then, and an unknown region keeps its live weight
 * while its probes fail by the drill from their first round.  The region of each fail drill in effect takes the drill's
 * simulated failures at once (targets_drill_resume): a decision never sees
 * it up mid-drill while its probes have yet to fail (known defect 33).
 * Nothing while leader_drills_act() is false. */
void drill_resume_acting(void);

/* The drills of kind fail in effect here (active, not a dry run, started
 * and not ending): up to max of them, their ids and regions (what this
 * instance's observer view names, daemon/observers.c); none while
 * leader_drills_act() is false (a deposed leader's drills do not act). */
size_t drill_fail_active(uint64_t *ids, char (*regions)[65], size_t max);

/* This instance's fail drill on region (active, not a dry run; acting or
 * not, ending included: what stops acting as it ends, or as another term
 * takes over), or 0 when none. */
uint64_t drill_fail_id(const char *region);

cJSON *drill_list_json(void);                 /* every drill, newest first, without timelines */
cJSON *drill_report_json(uint64_t id);        /* one drill with its timeline and milestones; NULL if none */

#endif
