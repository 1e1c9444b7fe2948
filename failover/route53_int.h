/* route53_int.h — private to the Route 53 actuator: its state and what its
 * files share.  route53.c owns the state (start-up, reconcile timer, the
 * change in flight persisted); route53_read.c reads the live records;
 * route53_known.c keeps what regiond last knew across a restart and finds
 * drift at start-up; route53_batch.c builds the group-guarded batch and
 * checks it against the safety rules; route53_apply.c sends it and follows
 * the change to INSYNC. */
#ifndef REGIOND_ROUTE53_INT_H
#define REGIOND_ROUTE53_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "config/cfg.h"
#include "aws/client.h"
#include "core/feed.h"
#include "core/state.h"
#include "aws/r53_xml.h"
#include "failover/route53.h"
#include "failover/route53_guardk.h"

#define R53_INTENT_FILE "route53-change.json"
#define R53_KNOWN_FILE "route53-known.json"
#define R53_MAXR 64
/* Managed types per name: slot 0 is route53.record_type; slot 1 its sibling
 * (AAAA for A, A for AAAA; none for a CNAME, which cannot share its name
 * with another type). */
#define R53_SLOTS 2

typedef void (*r53_after_fn)(const r53_list_t *acc);
typedef void (*r53_fail_fn)(const char *error);

typedef struct {
    const cfg_t *cfg;
    route53_notify_fn notify;
    route53_phase_t phase;
    size_t n;
    r53_rrset_t known[R53_MAXR][R53_SLOTS];
    bool have[R53_MAXR][R53_SLOTS];   /* known[i][s] holds a record */
    bool read_ok;                 /* live records read at least once */
    bool drift[R53_MAXR];
    int want[R53_MAXR];           /* weights of the change in flight (-1: region not changed) */
    int ask[R53_MAXR];            /* weights of the decision waiting for its fresh read */
    uint64_t ask_seq;
    aws_req_t *req;
    r53_list_t acc;               /* pages of a listing being read */
    r53_after_fn after_read;      /* what to do with a complete listing */
    r53_fail_fn fail_read;        /* what to do when reading fails */
    r53_rrset_t (*created)[R53_SLOTS];  /* the CREATEs of the batch in flight (name "" where none) */
    bool sent[R53_MAXR][R53_SLOTS];     /* the batch in flight covers known[i][s] */
    bool unsure;                  /* the failed batch may have landed (no answer, or a 5xx) */
    struct event *poll_timer, *reconcile_timer, *retry_timer;
    uint64_t poll_wait_ms, retry_wait_ms;
    void (*retry_fn)(void);       /* what retry_timer runs */
    route53_change_t change;
    bool have_change;
    int lost[R53_MAXR];           /* weights of a change found not landed at start-up (-1: not changed) */
    bool have_lost;               /* it may still land late (a reload cancelled it in flight) */
    char error[512];
    /* fencing (route53_guard.c, route53_term.c); all zero while epoch is 0 */
    uint64_t epoch;               /* our lease term; 0 = no cluster */
    uint64_t send_until_ms;       /* monotonic: no Route 53 call from then on (epoch > 0) */
    uint64_t req_epoch;           /* the epoch req was started in (its send window: r53_window) */
    bool bump_due;                /* this term's guard bump has not landed yet */
    bool bumping;                 /* the flow in progress is the bump */
    unsigned bump_attempts;       /* this term's; the first goes at once, later ones after a backoff */
    bool fenced;                  /* a live guard showed a higher epoch: silent until a higher term */
    bool stood_down;              /* the send window closed with a flow stopped half-way */
    bool have_guard;              /* guard_live holds the guard as last read or written */
    bool guard_bad;               /* the live guard's value could not be parsed */
    uint64_t guard_epoch;         /* guard_live's epoch (0 when none) */
    r53_rrset_t guard_live;
    r53_rrset_t guard_new;        /* the guard CREATE of the batch in flight (name "" when none) */
    r53_gk_seq_t guard_new_seq;   /* its batch number when it carries this term's own knowledge, else {0,0} */
    r53_gk_seq_t lost_lo, lost_hi;   /* batches judged not landed since the last guard adopted: they may land
                                        late ({0,0} none; r53_guard_lost) */
    bool guard_sent;              /* the batch in flight DELETEs guard_live */
    char guard_name[256];         /* "" when the record name leaves no room for it */
    int64_t last_read_wall_ms;
    /* the batch body waiting for its intent record to be durable (at most
     * R53_INTENT_WAIT_MS; route53_apply.c), NULL when none */
    char *send_body;
    struct event *intent_timer;

    /* a lease term's takeover (route53_replica.c): no change (only the
     * guard bump) until route53_takeover(); rep, when set, is the last
     * leader's replicated state that the judged read (judge_due) uses
     * instead of this instance's own files */
    bool await_state;
    bool judge_due;               /* the takeover's judged read is due once idle (after the bump) */
    bool known_hold;              /* the bump's read is not saved as our known records: the judged
                                   * read compares the live group with the file as it was */
    bool intent_live;             /* the intent record of a batch is written and not cleared */
    cJSON *rep;

    uint64_t changes_total, drift_total;
    uint64_t guard_dropped_total; /* guards written without the group's knowledge: it did not fit */
} r53_state_t;

/* The actuator's state: one, owned by route53.c. */
extern r53_state_t r53s;

/* route53.c: an event on the feed; the change in flight, persisted; the
 * change's timeline as a feed event of `type`; go idle and tell the
 * controller; run `fn` after a backoff (1 s doubling to 60 s). */
void r53_event(feed_ev_t type, cJSON *d);
int r53_intent_write(state_done_fn then, void *arg);
void r53_intent_clear(void);
void r53_change_event(feed_ev_t type);
void r53_go_idle(void);
void r53_retry_later(void (*fn)(void));
void r53_retry_reset(void);
void r53_start_read(void);

/* route53_read.c: read every page of the live listing of the record name,
 * then call `after` with it, or `fail` with the error; our regions' records
 * in a listing; make a listing what we know (reporting drift when asked;
 * true when something differed); is slot s of type `type`? */
void r53_read(r53_after_fn after, r53_fail_fn fail);
void r53_pick(const r53_list_t *acc, r53_rrset_t live[][R53_SLOTS], bool have[][R53_SLOTS]);
void r53_free_picked(r53_rrset_t live[][R53_SLOTS]);
bool r53_adopt_listing(const r53_list_t *acc, bool report_drift);
void r53_report_drift(size_t i, long expected, long live, const char *why);
int r53_slot_of(const char *type);
const char *r53_slot_type(int s);

/* route53_known.c: what regiond last knew (weights per region and slot,
 * drift), persisted in state_dir; at start-up, live records that differ
 * from it (or, with nothing saved, from the configured weights) are drift. */
void r53_known_save(void);
void r53_start_drift(const r53_list_t *acc);
/* The checks of route53-known.json and route53-change.json (0, or -1 with
 * why), also applied to the replicated copies (route53_replica.c). */
int r53_known_check(const cJSON *o, char *why, size_t len);
int r53_intent_check(const cJSON *o, char *why, size_t len);
/* route53_replica.c: does a new term wait for route53_takeover()? */
bool r53_takeover_waits(void);

/* route53_batch.c: the batch for weights `want` over every record of the
 * group as `known` holds it (changed: exact DELETE + new CREATE; unchanged:
 * exact DELETE + identical CREATE); 0 with *body set (NULL when nothing
 * changes), or -1 with why (a safety rule refused it, or out of memory;
 * *refused tells which).  After a failed batch: does the group hold exactly
 * what it sent, or exactly what we knew before it? */
int r53_build_batch(uint64_t seq, char **body, bool *refused, char *why, size_t whylen);
bool r53_live_matches_sent(const r53_list_t *acc);
bool r53_live_matches_known(const r53_list_t *acc);
/* The batch in flight's CREATEs become what we know (moved). */
void r53_take_created(void);

/* route53_apply.c: start the batch for the fresh listing; the GetChange poll
 * timer's callback; free the CREATEs of the batch in flight. */
void r53_after_fresh(const r53_list_t *acc);
void r53_on_poll(evutil_socket_t fd, short what, void *arg);
void r53_free_created(void);

/* route53_guard.c: the guard record (name, value, parsing) and the
 * guard's page of a read; the guard items of a batch; is the lease's
 * send window open (always with epoch 0)? */
void r53_guard_setup(void);
void r53_guard_adopt(const r53_list_t *page);
cJSON *r53_known_doc(void);        /* route53_known.c: known weights and drift flags */
void r53_replica_changed(void);   /* route53_set_changed's callback, if any */
int r53_guard_make(uint64_t epoch, r53_rrset_t *out);
int r53_guard_parse(const r53_rrset_t *g, uint64_t *epoch);
/* The holder a guard's value names (its one "holder=" token, printable,
 * bounded; "" when it has none or several), and whether it is this
 * instance's: its cluster.instance_id (controller.id without a cluster). */
void r53_guard_holder(const r53_rrset_t *g, char *out, size_t len);
const char *r53_guard_self(void);
bool r53_may_send(void);
/* What the saved document (the last leader's replicated one, or this
 * instance's file) records of the guard: the live guard's knowledge part
 * and batch number when it was written ("guard", "guard_seq"), and the
 * batch in flight then ("inflight_seq"); numbered false for a document of
 * an older regiond (a "guard" without "guard_seq"). */
typedef struct {
    char rest[R53_GK_VALUE_MAX + 1];
    bool numbered;
    r53_gk_seq_t seq, inflight;
    r53_gk_seq_t lost_lo, lost_hi;   /* "lost_seq": batches judged not landed then, which may land late */
} r53_saved_guard_t;
typedef enum {
    R53_REF_SAVED = 0,   /* the saved document is the reference (or the guard carries no group) */
    R53_REF_GUARD,       /* a batch landed after it was written: the guard's weights and flags */
    R53_REF_INFLIGHT,    /* the batch it had in flight landed: the guard's weights, its own flags */
} r53_ref_t;
/* A term's judged read (route53_known.c): when the live guard carries the
 * group (every configured region, our record_type), which reference it
 * judges against, by the batch numbers (by the text when either side has
 * none; saved NULL: nothing saved); exp (and drift, for R53_REF_GUARD)
 * set from the guard unless R53_REF_SAVED. */
r53_ref_t r53_guard_reference(long exp[][R53_SLOTS], bool *drift, const r53_saved_guard_t *saved);
/* The live guard's batch number ({0,0} when none). */
r53_gk_seq_t r53_guard_live_seq(void);
/* The batches judged not landed that may still land late (lo..hi, every
 * batch of this process between them lost too; false when none): kept
 * until a read or a landing adopts a guard at or beyond hi (known defect
 * 29). r53_guard_lose records the batch in flight (guard_new_seq) as lost. */
bool r53_guard_lost(r53_gk_seq_t *lo, r53_gk_seq_t *hi);
void r53_guard_lose(void);
/* The knowledge part of a guard value, NULL when none; the live guard's,
 * NULL when it carries no valid knowledge. */
const char *r53_guard_rest(const char *value);
const char *r53_guard_live_rest(void);
/* Give a call just started (r53s.req) the term's send window, asked by the
 * AWS client before each of its attempts: send_until_ms while the epoch it
 * was started in lasts, closed once a newer term began.  No window while
 * epoch is 0 (no cluster).  Returns req. */
aws_req_t *r53_window(aws_req_t *req);

/* route53_term.c: before a batch, what the live guard allows (0 go on; -1
 * the flow was ended here: fenced, guard unreadable, or the bump found
 * already landed); the window closed: stop the flow where it is; start
 * what is due (the term's bump, a stopped read) when idle; the batch in
 * flight landed: the guard it wrote is what we know. */
int r53_fence_gate(void);
void r53_stand_down(void);
/* route53_apply.c: the batch waiting for its intent record */
void r53_on_intent_timeout(evutil_socket_t fd, short what, void *arg);
void r53_send_drop(void);
void r53_kick(void);
void r53_guard_landed(void);

#endif
