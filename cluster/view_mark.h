/* view_mark — whether a drill's mark in another observer's view counts for
 * the leader reading it (docs/ha.md known defect 39, its follow-up).  An
 * observer marks region r down for a fail drill (daemon/observers.c
 * vouched(), drill_mark()) with the reason "drill N: failed by drill[ (the leader's)]"; the
 * view document carries no drill id per region, so the id is parsed from
 * that reason (the same text in every build that marks, so older documents
 * read the same; a reason of any other form is no mark and counts as it
 * stands).  A leader whose drills act counts such a down vote only while
 * drill N on r is among its own acting fail drills: a follower still
 * marking from the leader's cached view after the leader's replicated read
 * ended the drill would otherwise keep a healthy r down past settle.
 * Known defect 41: a follower marking from the leader's view appends its
 * own probes' state ("drill N: failed by drill (the leader's); own probes:
 * down"; a prefix older builds parse the same, within VIEW_REASON_MAX), and
 * a leader discounting the mark counts that state instead (an older
 * build's mark, without it, stays no opinion).  Also here: the age a
 * leader's alarm cluster-mark-stale keeps per discounted mark, its list
 * text, and the signature of a view whose change is written at once. */
#ifndef REGIOND_CLUSTER_VIEW_MARK_H
#define REGIOND_CLUSTER_VIEW_MARK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/view_doc.h"

/* What a follower's mark appends before its own probes' state. */
#define VIEW_MARK_OWN "; own probes: "

/* N from a reason "drill N: failed by drill..." (N 1..2^52), else 0. */
uint64_t view_mark_drill(const char *reason);

/* The own probes' state a mark's reason ends with ("drill N: failed by
 * drill[ (the leader's)]; own probes: up|degraded|down|unknown", nothing
 * after it) into *own and true; false for any other reason. */
bool view_mark_own(const char *reason, view_state_t *own);

/* Whether r is a down mark naming a drill not among acting[0..n) on r's
 * region (a leader with those acting fail drills discounts it). */
bool view_mark_stale(const view_region_t *r, const view_drill_t *acting, size_t n);

/* Region r's state as counted by a leader whose acting fail drills are
 * acting[0..n): a stale mark (view_mark_stale) counts as the own probes'
 * state it names (view_mark_own), or as no opinion (VIEW_UNKNOWN) when it
 * names none; anything else is r->state. */
view_state_t view_mark_counted(const view_region_t *r, const view_drill_t *acting, size_t n);

/* One observer's discounted mark on one region as a leader's alarm
 * cluster-mark-stale keeps it (daemon/observers_quorum.c): whether one is
 * kept, the drill it names, as what it counts, when it was first and last
 * seen discounted (monotonic ms).  Owned by its caller; zeroed: none. */
typedef struct {
    bool kept;
    uint64_t drill, since_ms, last_ms;
    view_state_t counted;
} view_mark_age_t;

/* a saw drill's mark, counted as counted, discounted at now: a mark of
 * another drill (or none kept) starts its age at now. */
void view_mark_age_saw(view_mark_age_t *a, uint64_t drill, view_state_t counted, uint64_t now);

/* Whether a was seen discounted for over after_ms (first to last sight),
 * at now.  A mark missed in some combines (its view silent for a read,
 * suspect for a blip) keeps its age, and counts, until unseen for
 * hold_ms; then a is forgotten (zeroed) and false. */
bool view_mark_age_over(view_mark_age_t *a, uint64_t now, uint64_t after_ms, uint64_t hold_ms);

/* A signature of what in this instance's view v is written at once when
 * it changes (cluster/views.c; other changes wait for the heartbeat):
 * which regions in which state, the suspect verdict and its reason, the
 * fail drills acting, and the own probes' state a mark names (known defect
 * 41: while a follower marks, its state is down whatever its probes say). */
uint64_t view_mark_sig(const view_t *v);

/* Room kept at a list's end for view_mark_list_end's " … and N more". */
#define VIEW_MARK_LIST_TAIL 32

/* item appended to the list in buf[len] (", " between items) when it fits
 * whole with VIEW_MARK_LIST_TAIL bytes left; else counted in *more.  buf
 * starts as "" and len is over VIEW_MARK_LIST_TAIL. */
void view_mark_list_add(char *buf, size_t len, size_t *more, const char *item);

/* " … and N more" appended to the list in buf[len] when more is N > 0. */
void view_mark_list_end(char *buf, size_t len, size_t more);

#endif
