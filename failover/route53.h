/* route53 — the actuator: moves the weighted record group to the weights a
 * decision asked for, and nothing else.  States and transitions:
 * docs/architecture.md, "The Route 53 actuator".
 *
 *  - the group is every record at route53.record_name (compared the way
 *    Route 53 writes names: "*" comes back as "\052") of the managed types
 *    ({A, AAAA} together, or {CNAME}) with one of the configured set
 *    identifiers; a region's weight is its record_type record's (its
 *    sibling's when it has none); alias records included;
 *  - reads the group (ListResourceRecordSets, every page) at start-up, on
 *    the reconcile timer and IMMEDIATELY BEFORE EACH BATCH: a record that
 *    differs from what we know is drift (reported, alarmed); the controller
 *    then decides again on the live weights and no batch goes out on the
 *    old view;
 *  - sends ONE ChangeResourceRecordSets batch covering every record of the
 *    group: the exact DELETE + the new CREATE for a changed record, the
 *    exact DELETE + an identical CREATE for an unchanged one, so a change
 *    anyone makes between our read and our batch fails the whole batch;
 *    before sending it checks the result on the live weights: never every
 *    record of a type at 0, never a drain that leaves fewer serving
 *    records than decision.min_healthy_regions;
 *  - a drifted record is never rewritten unless route53.correct_drift (then
 *    it is corrected in the next batch);
 *  - when a batch fails or its answer is lost, re-reads: the group equal to
 *    what we sent means it landed; a re-read that fails is retried with
 *    backoff under an alarm, never forgotten;
 *  - follows GetChange from PENDING to INSYNC with backoff, then has the DNS
 *    check watch the name servers until the new weights are visible;
 *  - persists the change in flight and what it knows (weights, drift) in
 *    state_dir, so a restart knows whether its change landed and what
 *    someone else changed while it was down.
 * Owner of its records; the controller (daemon/control) owns decisions. */
#ifndef REGIOND_ROUTE53_H
#define REGIOND_ROUTE53_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "config/cfg.h"

typedef enum {
    R53_IDLE = 0,
    R53_READING,        /* ListResourceRecordSets in flight (start-up, reconcile) */
    R53_PREPARING,      /* the fresh read before a batch */
    R53_SUBMITTING,     /* the batch waits (<= 1 s) for its intent record, then ChangeResourceRecordSets in flight */
    R53_PENDING,        /* following GetChange until INSYNC */
    R53_VERIFYING,      /* re-reading after a failed or lost batch */
} route53_phase_t;

const char *route53_phase_str(route53_phase_t p);

/* One change's timeline (monotonic ms; 0 = not reached). */
typedef struct {
    uint64_t decision;
    char change_id[128];
    char status[16];              /* PENDING, INSYNC, FAILED, LANDED (found after a lost answer),
                                     ACCEPTED (a guard bump: accepted, not followed to INSYNC) */
    int64_t submitted_wall_ms;
    uint64_t decided_ms, submitted_ms, accepted_ms, insync_ms, visible_ms;
    char visible_result[160];     /* "visible", "timeout after 120 s", "no name servers configured" */
    int weights_from[64], weights_to[64];
    char error[512];
    bool held[64];                /* drifted, not rewritten (correct_drift false) */
    bool guard_bump;              /* a term's first batch: the guard to guard_epoch, no weight moved */
    uint64_t guard_epoch;
} route53_change_t;

/* What the actuator tells the controller. */
typedef enum {
    R53_NOTE_LIVE = 0,   /* live weights became known or changed (start-up, drift, failure) */
    R53_NOTE_APPLIED,    /* a batch was accepted: counts for hold-down and damping */
    R53_NOTE_IDLE,       /* free to take the next change */
    R53_NOTE_FAILED,     /* a batch failed and did not land: back off before retrying */
    R53_NOTE_FENCED,     /* the live guard record shows a higher epoch than ours
                          * (route53_guard_epoch()): we are a stale leader; nothing
                          * was sent, route53-change is raised (it names that
                          * epoch); step down, and start the next term above it */
} route53_note_t;

typedef void (*route53_notify_fn)(route53_note_t what);

int route53_init(const cfg_t *cfg, route53_notify_fn notify);

/* Fencing (docs/safety.md, "Fencing"): the lease term regiond holds.
 *  - epoch 0 (the default): no cluster; the actuator behaves exactly as
 *    without this call (no guard record read or written, no send window);
 *  - epoch > 0: every read before a batch also reads the guard TXT record
 *    "_regiond-epoch.<route53.record_name>" (a leading "*." of the name
 *    stripped); every batch carries the exact DELETE of the live guard and
 *    the CREATE of one with this epoch, so a batch of an older term fails
 *    whole at Route 53 once a newer term bumped it; a live guard with a
 *    higher epoch: nothing is sent, R53_NOTE_FENCED;
 *  - a higher epoch than the last one starts a new term: before any weight
 *    batch the actuator sends a batch that only bumps the guard (the group
 *    re-created identically); route53_idle() is false until it landed;
 *    a lower epoch than the current one is ignored (epochs only grow);
 *  - send_until_ms (monotonic ms, loop_now_ms()'s clock): from then on the
 *    actuator makes NO Route 53 call of any kind (no read, batch, retry or
 *    GetChange) until a later call extends it; a flow that would call
 *    stops where it is (a request already sent is not cancelled; its answer
 *    is still handled) and the actuator stays not idle.
 * The same epoch with a later send_until_ms is a renewal.  May be called
 * before route53_init (the term is kept; route53_fini forgets it): an
 * instance that starts as a follower calls route53_set_term(E, 0) with any
 * E > 0 (e.g. 1) first, so that not even the start-up read is sent; the
 * term it later acquires has a higher epoch.  epoch is never 0: daemon/
 * leader.c passes 1 (before any other call), a leading lease's epoch (2 or
 * more) or route53_epoch() (1 or more by then). */
void route53_set_term(uint64_t epoch, uint64_t send_until_ms);

/* A takeover is a restart (docs/ha.md, "Replicated controller state"):
 * with route53_set_takeover_wait(true) (a cluster), every new term above 1
 * forgets the live records and makes no Route 53 call (not even its bump)
 * until route53_takeover(doc) comes; then it reads the group and judges it
 * as a restart does, against doc (the last leader's route53_replica_doc(),
 * checked with route53_replica_check) or, with doc NULL, against this
 * instance's own files: a weight that the last leader knew or had in
 * flight is not drift. */
void route53_set_takeover_wait(bool on);
bool route53_awaits_takeover(void);
cJSON *route53_replica_doc(void);   /* NULL when nothing is known (or out of memory) */
/* fn runs when the change in flight is recorded (before its batch is
 * sent), so the controller can hand route53_replica_doc() to the lease
 * tables at once; NULL: nobody is told */
void route53_set_changed(void (*fn)(void));
int route53_replica_check(const cJSON *o, char *why, size_t len);
void route53_takeover(const cJSON *doc);

/* The guard record's name for route53.record_name RECORD_NAME (for the IAM
 * policy and docs): 0, or -1 when the name leaves no room for it (out "") */
int route53_guard_name(const char *record_name, char *out, size_t len);

/* Our epoch (0: no cluster) and the epoch of the guard as last read or
 * written (0: none read). */
uint64_t route53_epoch(void);
uint64_t route53_guard_epoch(void);
/* This term (epoch) bumped the guard and is not fenced: no term above it
 * had moved the guard (known defect 37: taken as the proof a #control
 * item at or above the term is no real leader's; not a proof against a
 * leader whose own bump had not landed yet: docs/ha.md, after 37). */
bool route53_bumped(uint64_t epoch);
void route53_configure(const cfg_t *cfg);
void route53_fini(void);

/* Live weight of region i as last read or written; -1 when unknown. */
int route53_live_weight(size_t i);

/* True when region i's record changed behind our back and is left alone. */
bool route53_drifted(size_t i);

/* True when route53.correct_drift is set and a record is drifted: the next
 * batch corrects it, so one is due even if no weight changes. */
bool route53_needs_correction(void);

/* Forget region i's drift (operator acknowledged it). */
void route53_clear_drift(size_t i);

/* Have the live records been read (so live weights mean something), and,
 * in a lease term, judged (the takeover's judged read done: false while it
 * is due, or while the bump's unjudged view is held)? */
bool route53_ready(void);

/* Is the first judged read done (always true without a route53 section)?
 * Until then a release would be undone: that read loads the drift flags
 * (from the saved files, or the last leader's state) that a release clears. */
bool route53_judged(void);

/* Is the actuator free to take a change now? */
bool route53_idle(void);

/* Apply the weights of decision `seq` (one per region, config order;
 * drifted regions keep their live weight unless correct_drift): reads the
 * group first, then sends the batch, or tells the controller why not
 * (R53_NOTE_LIVE: the group changed, decide again; R53_NOTE_FAILED: not
 * sent or not landed, back off) — possibly before returning.  Returns 0
 * when that started, -1 when busy or not ready (live records not read). */
int route53_apply(uint64_t seq, const int *weights, size_t n);

route53_phase_t route53_phase(void);
const route53_change_t *route53_last_change(void);   /* NULL when none yet */
const char *route53_last_error(void);                 /* "" when none */
int64_t route53_last_read_wall_ms(void);
uint64_t route53_changes_total(void);
uint64_t route53_drift_total(void);
/* Guards written without the group's knowledge because it did not fit in
 * the value (this term's own, or the last leader's passed on by a bump):
 * the next judged read then falls back to the saved state. */
uint64_t route53_guard_dropped_total(void);

#endif
