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
} lease_seen_t;

/* Tables needed for a majority of n: n / 2 + 1. */
size_t lease_majority(size_t n);

/* Record an answer received at now: present/absent with rvn.  The clock
 * restarts when the rvn (or presence) changed. */
void lease_observe(lease_seen_t *s, bool present, bool released, const char *rvn, uint64_t now);

/* May the item be taken at now?  A release marker at once; otherwise only
 * when the same rvn (or the same absence) was seen for lease_ms since the
 * first answer that showed it. */
bool lease_takeable(const lease_seen_t *s, uint64_t now, uint32_t lease_ms);

/* The term's end given each table's last confirmed write SEND time (0 = not
 * held): the need-th latest send + lease_ms - margin_ms; 0 when fewer than
 * need tables are held. */
uint64_t lease_valid_until(const uint64_t *held_send, size_t n, size_t need,
                           uint32_t lease_ms, uint32_t margin_ms);

/* The next term's epoch: 1 + the highest epoch among the tables read
 * (read_ok), at least 2 (1 is the Route 53 actuator's follower placeholder);
 * 0 when fewer than a majority were read. */
uint64_t lease_next_epoch(const uint64_t *epochs, const bool *read_ok, size_t n);

/* Wait before trying again after the attempt-th split vote in a row:
 * renew_ms * 2^min(attempt,4) scaled by rnd (0..65535) to 50..150 %, capped
 * at cap_ms. */
uint64_t lease_backoff_ms(uint32_t renew_ms, unsigned attempt, unsigned rnd, uint32_t cap_ms);

#endif
