/* lease_calc — the lease's arithmetic, pure (no loop, no clock): majority,
 * expiry of a seen item, the term's validity and epoch, backoff.
 * Unit-tested in tests/test_lease_calc.c. */
#ifndef REGIOND_LEASE_CALC_H
#define REGIOND_LEASE_CALC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LEASE_RVN_LEN 33          /* 32 hex digits and the NUL */

/* What one table's item looked like the last times we read it. */
typedef struct {
    bool present;                 /* an item exists */
    bool released;                /* its holder released it */
    char rvn[LEASE_RVN_LEN + 31]; /* as read (an operator may write anything: cut) */
    uint64_t first_seen_ms;       /* monotonic time of the first answer showing this rvn (or no item) */
    bool seen;                    /* first_seen_ms is set */
    uint32_t lease_ms;            /* the item's own lease_ms (its writer's; 0 none), the highest
                                     shown with this rvn, at most LEASE_ITEM_MAX_MS */
} lease_seen_t;

/* An item's lease_ms above this (the config's maximum) counts as this. */
#define LEASE_ITEM_MAX_MS 600000u

/* One confirmed write of ours: its SEND time (0 = not held) and the lease_ms
 * and margin_ms it was written with (the item advertises that lease_ms). */
typedef struct {
    uint64_t send_ms;
    uint32_t lease_ms, margin_ms;
} lease_write_t;

/* Tables needed for a majority of n: n / 2 + 1. */
size_t lease_majority(size_t n);

/* Record an answer received at now: present/absent with rvn, and the item's
 * lease_ms (0 when it has none).  The clock restarts when the rvn (or
 * presence) changed; with the same rvn the item's lease_ms only grows. */
void lease_observe(lease_seen_t *s, bool present, bool released, const char *rvn, uint32_t item_lease_ms,
                   uint64_t now);

/* May the item be taken at now?  A release marker at once; otherwise only
 * when the same rvn (or the same absence) was seen since the first answer
 * that showed it for the longer of lease_ms (the taker's own) and the
 * item's lease_ms. */
bool lease_takeable(const lease_seen_t *s, uint64_t now, uint32_t lease_ms);

/* The monotonic ms at which lease_takeable() turns true for s: the first
 * answer that showed its rvn + the longer of lease_ms and the item's
 * lease_ms (the first answer itself for a release marker); UINT64_MAX when
 * nothing was seen. */
uint64_t lease_expires_at(const lease_seen_t *s, uint32_t lease_ms);

/* When a follower may next take a majority: the need-th earliest
 * lease_expires_at() among the tables with ok[i] (read in the last round,
 * no write of unknown outcome); 0 when fewer than need tables are ok.  A
 * follower arms its take for then (not its next round), so the take goes
 * out the moment the items expire on its own clock. */
uint64_t lease_take_at(const lease_seen_t *s, const bool *ok, size_t n, size_t need, uint32_t lease_ms);

/* The term's end given each table's last confirmed write (w[i].send_ms 0 =
 * not held): each write is good until send_ms + lease_ms - margin_ms (its
 * own lease_ms and margin_ms, those it was written with); the term ends at
 * the need-th latest of these; 0 when fewer than need tables are held. */
uint64_t lease_valid_until(const lease_write_t *w, size_t n, size_t need);

/* The next term's epoch: 1 + the highest of the epochs among the tables
 * read (read_ok) and floor (an epoch learnt elsewhere, e.g. the Route 53
 * guard's), at least 2 (1 is the Route 53 actuator's follower placeholder);
 * 0 when fewer than a majority were read, or when that highest is
 * UINT64_MAX (no higher epoch exists). */
uint64_t lease_next_epoch(const uint64_t *epochs, const bool *read_ok, size_t n, uint64_t floor);

/* Wait before trying again after the attempt-th split vote in a row:
 * renew_ms * 2^min(attempt,4) scaled by rnd (0..65535) to 50..150 %, capped
 * at cap_ms. */
uint64_t lease_backoff_ms(uint32_t renew_ms, unsigned attempt, unsigned rnd, uint32_t cap_ms);

/* ---- a rename under way (cluster.former_name; docs/ha.md, "Renaming the
 * cluster"): each table holds two items, the name's and the former name's,
 * laid out as [0, n) the name's and [n, 2n) the former name's.  A term needs
 * a majority of EACH: the former name's majority keeps out an instance still
 * on the former name (it takes those items only), the name's keeps out one
 * that already left former_name out.  With former false only [0, n) counts
 * and each function is the single-name one above. ---- */

/* The term's end: the earlier of the two groups' lease_valid_until(); 0 when
 * either group has fewer than need held. */
uint64_t lease_pair_until(const lease_write_t *w, size_t n, size_t need, bool former);

/* The next epoch: 1 + the highest epoch read in either group (and floor); 0
 * when either group was read on fewer than a majority (lease_next_epoch). */
uint64_t lease_pair_next_epoch(const uint64_t *epochs, const bool *read_ok, size_t n, uint64_t floor, bool former);

/* When a follower may take: the later of the two groups' lease_take_at(); 0
 * when either has fewer than need tables ok. */
uint64_t lease_pair_take_at(const lease_seen_t *s, const bool *ok, size_t n, size_t need, uint32_t lease_ms,
                            bool former);

/* May a follower take: need candidates (free items) in each group. */
bool lease_pair_may_take(const bool *cand, size_t n, size_t need, bool former);

/* Has the cluster run under the former name: *mask gathers the tables whose
 * former-name item was ever read (present[i]: table i's read answered with an
 * item, live, expired or released); true once they are a majority of n.  A
 * misspelled former_name finds none: the instance must not take (it would
 * take both names' empty items beside the former name's leader). */
bool lease_former_proven(uint32_t *mask, const bool *present, size_t n);

#endif
