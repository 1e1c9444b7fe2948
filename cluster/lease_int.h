/* lease_int.h — private to cluster/: the lease's state, shared by lease.c
 * (rounds and leadership), lease_io.c (the DynamoDB calls) and lease_view.c
 * (status and metrics). */
#ifndef REGIOND_LEASE_INT_H
#define REGIOND_LEASE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "aws/ddb_call.h"
#include "cluster/lease.h"
#include "cluster/lease_calc.h"
#include "cluster/lease_set.h"
#include "config/cfg.h"

typedef enum { LT_IDLE, LT_READ, LT_RENEW, LT_TAKE, LT_RELEASE } lt_op_t;

/* One lease item: a table and a key (the name's, or with cluster.former_name
 * the former name's too: docs/ha.md, "Renaming the cluster"). */
typedef struct {
    bool former;                  /* keyed cluster.former_name (tabs[n + i]: table i's second item) */
    char region[65];
    char table[256];
    /* what the last answer showed */
    lease_seen_t seen;
    bool read_ok;                 /* the last call this round got an answer */
    bool reachable;               /* the last call got an answer (any round) */
    char owner[65];               /* owner seen ("" none) */
    char advertise[513];
    uint64_t epoch;               /* epoch seen */
    char last_error[256];
    /* ours */
    bool held;                    /* the item is ours with rvn mine, confirmed */
    char mine[LEASE_RVN_LEN];
    lease_write_t held_write;     /* the write that confirmed mine: SEND time, and the lease_ms
                                     and margin_ms it carried (a reload does not shorten it) */
    bool unsure;                  /* a write's outcome is unknown: read before writing again */
    char pending[LEASE_RVN_LEN];  /* the rvn that write carried */
    lease_write_t pending_write;  /* its SEND time, lease_ms and margin_ms */
    /* the call in flight */
    lt_op_t op;
    ddb_req_t *req;
    struct event *deadline;
    char wrote[LEASE_RVN_LEN];    /* rvn of the write in flight */
    uint64_t wrote_epoch;         /* and its epoch */
    uint64_t sent_ms;
    uint32_t wrote_lease_ms, wrote_margin_ms;   /* the settings the write in flight carries */
    uint64_t calls, failures, conflicts;
    /* the set of lease tables the item last read or written names (lease_tset.c) */
    lease_set_kind_t set;
    bool won;                     /* the item counts toward our set's own items (lease_set_counts) */
    bool wrote_won;               /* the "won" the write in flight carries */
    char set_name[LEASE_SET_NAME_MAX + 1], set_list[LEASE_SET_LIST_MAX + 1], set_why[160];
} lease_tab_t;

typedef struct {
    bool on;
    lease_notify_fn notify;
    char id[65];
    char name[256];
    char former[256];             /* cluster.former_name ("" none) */
    char advertise[513];
    uint32_t lease_ms, renew_ms, margin_ms;
    uint32_t follow_ms;           /* a follower's rounds: every min(follow_ms, renew_ms) */
    lease_tab_t tabs[2 * CFG_MAX_LEASE_TABLES];   /* [0, n) the name's items; [n, 2n) the former name's */
    size_t n;                     /* lease tables */
    size_t nf;                    /* n with cluster.former_name, else 0: tabs[n, n + nf) */
    struct event *tick;           /* the next round */
    uint64_t tick_at;             /* when it is due (monotonic ms) */
    struct event *take;           /* a follower's take, at the moment a majority expires */
    struct event *expiry;         /* send_until, while leading */
    unsigned in_flight;           /* calls of the current phase */
    lt_op_t phase;                /* LT_IDLE between rounds */
    bool leader;                  /* we believe we lead (also check send_until) */
    uint64_t epoch;               /* our term's */
    uint64_t pending_epoch;       /* the term a follower's takes of this round ask for */
    uint64_t send_until;
    uint64_t cooldown_until;      /* no take before this (after a step-down) */
    uint64_t epoch_floor;         /* learnt from the Route 53 guard: the next term is above it */
    unsigned split_votes;         /* in a row */
    int64_t leading_since_wall;
    lease_holder_t holder;
    lease_holder_t last_holder;   /* the last holder seen; since_wall_ms: when last seen */
    uint64_t takeovers, losses, splits, rounds_skipped;
    uint64_t lost_epoch;          /* the last term lost, and why (LEASE_NOTE_LOST) */
    char lost_why[448];
    uint32_t reach_mask;          /* tables that answered, as last notified (LEASE_NOTE_TABLES) */
    bool reach_known;             /* reach_mask was notified once */
    /* ours, and what the last round's reads said about other sets (lease_tset.c) */
    char set_fp[LEASE_SET_FP_LEN], set_list[LEASE_SET_LIST_MAX + 1];
    size_t take_need;             /* tables a follower's take must win this round: a majority, or all */
    bool set_live;                /* a live item of another set: no take, no renewal */
    char set_refusal[1500];        /* why ("" none) */
    uint32_t former_seen;         /* tables whose former-name item was ever read (lease_former_proven) */
} lease_state_t;

extern lease_state_t lease_st;

/* Items the rounds read and write: the name's, and the former name's. */
static inline size_t lease_items(void)
{
    return lease_st.n + lease_st.nf;
}

/* lease_io.c: start table t's call of kind op (LT_READ, LT_RENEW, LT_TAKE
 * with epoch, LT_RELEASE); 0, or -1 when it could not start (t->last_error
 * says why).  lease_io_done() in lease.c runs when it ends (answer, error or
 * deadline). */
int lease_io_start(lease_tab_t *t, lt_op_t op, uint64_t epoch);
void lease_io_cancel(lease_tab_t *t);

/* The outcome of one call: ok (the write was applied / the read answered),
 * unknown (it may have been applied), conflict (the condition failed). */
void lease_io_done(lease_tab_t *t, bool ok, bool unknown, bool conflict);

/* lease_view.c: recompute the holder seen; notify VIEW when it changed, and
 * TABLES when the set of tables answering changed (or at the first call). */
void lease_update_holder(void);

/* lease.c: a leader whose send_until passed while its timers had not run
 * yet (a resumed SIGSTOP) loses now, before anybody is told it leads. */
void lease_check_expiry(void);

/* lease_tset.c: the set attributes (cluster, tables, tset) into an item
 * being written (0, -1 out of memory); the set an item read names (item
 * NULL: no item); after a round's reads, judge the sets seen: true when an
 * item of another set is live (no take, no renewal); sets take_need and
 * set_refusal.  lease_tset_alarm: raise cluster-lease when the sets seen
 * keep this instance from leading (false: nothing to say). */
int lease_tset_put(cJSON *item);
void lease_tset_read(lease_tab_t *t, const cJSON *item);
bool lease_tset_round(void);
bool lease_tset_alarm(void);
void lease_tset_status(cJSON *o);

/* lease_view.c: tables whose last call got an answer. */
size_t lease_reachable(void);

#endif
