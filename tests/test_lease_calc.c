/* test_lease_calc — the lease's arithmetic (cluster/lease_calc.h): majority,
 * when a seen item may be taken, the term's end from the writes' SEND times,
 * the next epoch, the split-vote backoff. */
#include <stdio.h>
#include <string.h>

#include "cluster/lease_calc.h"
#include "tests/check.h"

static void test_majority(void)
{
    CHECK(lease_majority(1) == 1);
    CHECK(lease_majority(3) == 2);
    CHECK(lease_majority(5) == 3);
}

static void test_takeable(void)
{
    lease_seen_t s;
    memset(&s, 0, sizeof(s));
    CHECK(!lease_takeable(&s, 100000, 10000));              /* never read: never taken */
    lease_observe(&s, false, false, NULL, 0, 1000);             /* no item, first seen at 1000 */
    CHECK(!lease_takeable(&s, 10999, 10000));
    CHECK(lease_takeable(&s, 11000, 10000));                 /* absent for a full lease */
    lease_observe(&s, true, false, "aa", 0, 11500);             /* someone wrote: the clock restarts */
    CHECK(s.first_seen_ms == 11500);
    CHECK(!lease_takeable(&s, 21499, 10000));
    lease_observe(&s, true, false, "aa", 0, 15000);             /* the same rvn again: no restart */
    CHECK(s.first_seen_ms == 11500);
    CHECK(lease_takeable(&s, 21500, 10000));
    lease_observe(&s, true, false, "bb", 0, 21600);             /* renewed */
    CHECK(!lease_takeable(&s, 31599, 10000));
    lease_observe(&s, true, true, "cc", 0, 22000);              /* a release marker: at once */
    CHECK(lease_takeable(&s, 22000, 10000));
    lease_observe(&s, false, false, NULL, 0, 23000);            /* deleted by an operator: wait again */
    CHECK(!lease_takeable(&s, 32999, 10000));
    CHECK(lease_takeable(&s, 33000, 10000));
    lease_observe(&s, true, false, "dd", 0, 5);                 /* a clock behind first_seen never takes */
    CHECK(!lease_takeable(&s, 4, 10000));
}

/* Defect 2 of docs/ha.md: a taker waits the longer of its own lease_ms and
 * the item's (its writer's), as seen with that rvn. */
static void test_takeable_item_lease(void)
{
    lease_seen_t s;
    memset(&s, 0, sizeof(s));
    lease_observe(&s, true, false, "aa", 8000, 1000);        /* written by a holder with lease_ms 8000 */
    CHECK(s.lease_ms == 8000);
    CHECK(!lease_takeable(&s, 1000 + 5000, 5000));           /* a taker with 5000 does not take at 5000 */
    CHECK(!lease_takeable(&s, 1000 + 7999, 5000));
    CHECK(lease_takeable(&s, 1000 + 8000, 5000));            /* but at the item's 8000 */
    CHECK(!lease_takeable(&s, 1000 + 9999, 10000));          /* a taker with a longer lease waits its own */
    CHECK(lease_takeable(&s, 1000 + 10000, 10000));
    lease_observe(&s, true, false, "aa", 3000, 2000);        /* the same rvn: the longer one stays */
    CHECK(s.lease_ms == 8000 && s.first_seen_ms == 1000);
    lease_observe(&s, true, false, "bb", 3000, 9000);        /* a new write with 3000 */
    CHECK(s.lease_ms == 3000 && s.first_seen_ms == 9000);
    CHECK(!lease_takeable(&s, 9000 + 4999, 5000));           /* our own 5000 is the longer */
    CHECK(lease_takeable(&s, 9000 + 5000, 5000));
    lease_observe(&s, true, false, "cc", 4000000000u, 20000); /* an absurd value counts as the config's maximum */
    CHECK(s.lease_ms == LEASE_ITEM_MAX_MS);
    CHECK(!lease_takeable(&s, 20000 + LEASE_ITEM_MAX_MS - 1, 5000));
    CHECK(lease_takeable(&s, 20000 + LEASE_ITEM_MAX_MS, 5000));
    lease_observe(&s, false, false, NULL, 0, 30000);         /* no item: the taker's own lease */
    CHECK(s.lease_ms == 0);
    CHECK(lease_takeable(&s, 35000, 5000));
    lease_observe(&s, true, true, "dd", 9000, 40000);        /* a release marker: at once, whatever its lease */
    CHECK(lease_takeable(&s, 40000, 5000));
}

static lease_write_t wr(uint64_t send, uint32_t lease, uint32_t margin)
{
    lease_write_t w = {send, lease, margin};
    return w;
}

static void test_valid_until(void)
{
    lease_write_t held[5] = {wr(1000, 10000, 2000), wr(0, 0, 0), wr(3000, 10000, 2000), wr(2000, 10000, 2000),
                             wr(0, 0, 0)};
    CHECK(lease_valid_until(held, 5, 3) == 1000 + 8000);   /* the 3rd latest */
    CHECK(lease_valid_until(held, 5, 2) == 2000 + 8000);
    CHECK(lease_valid_until(held, 5, 4) == 0);             /* only 3 held */
    lease_write_t none[3] = {wr(0, 0, 0), wr(0, 0, 0), wr(0, 0, 0)};
    CHECK(lease_valid_until(none, 3, 2) == 0);
    lease_write_t one[1] = {wr(7, 3000, 300)};
    CHECK(lease_valid_until(one, 1, 1) == 7 + 2700);
}

/* Defect 2: each write counts with the lease_ms and margin_ms it carried.
 * A reload that shortens lease_ms does not shorten the term the held items
 * advertise; the tables renewed with the new value count with it. */
static void test_valid_until_mixed(void)
{
    /* held with 10000/1000 at 1000 and 1100; a reload to 5000/500 renewed one table at 2000 */
    lease_write_t w[3] = {wr(1000, 10000, 1000), wr(1100, 10000, 1000), wr(2000, 5000, 500)};
    /* ends: 10000, 10100, 6500: the 2nd latest is 10000 (not 2000 + 4500 = 6500) */
    CHECK(lease_valid_until(w, 3, 2) == 10000);
    /* all three renewed with the new value: the new, shorter term */
    lease_write_t n[3] = {wr(3000, 5000, 500), wr(3100, 5000, 500), wr(3200, 5000, 500)};
    CHECK(lease_valid_until(n, 3, 2) == 3100 + 4500);
    /* a longer lease written later: the term grows only with the writes that carry it */
    lease_write_t g[3] = {wr(1000, 5000, 500), wr(1100, 20000, 2000), wr(0, 0, 0)};
    CHECK(lease_valid_until(g, 3, 2) == 1000 + 4500);
    /* never before the send time, whatever the margin */
    lease_write_t m[1] = {wr(50, 100, 400)};
    CHECK(lease_valid_until(m, 1, 1) == 50);
}

static void test_next_epoch(void)
{
    uint64_t ep[3] = {4, 9, 7};
    bool ok[3] = {true, false, true};
    CHECK(lease_next_epoch(ep, ok, 3, 0) == 8);        /* 1 + the highest READ, not the unread 9 */
    bool one[3] = {false, true, false};
    CHECK(lease_next_epoch(ep, one, 3, 0) == 0);       /* no majority read: no term */
    CHECK(lease_next_epoch(ep, one, 3, 50) == 0);      /* not even with a floor */
    bool all[3] = {true, true, true};
    CHECK(lease_next_epoch(ep, all, 3, 0) == 10);
    uint64_t zero[1] = {0};
    bool y[1] = {true};
    CHECK(lease_next_epoch(zero, y, 1, 0) == 2);       /* the first term is 2 (1: the actuator's placeholder) */
    /* defect 4: the Route 53 guard's epoch learnt when fenced: above it */
    CHECK(lease_next_epoch(ep, ok, 3, 50) == 51);
    CHECK(lease_next_epoch(ep, all, 3, 5) == 10);      /* a floor below the tables changes nothing */
    CHECK(lease_next_epoch(zero, y, 1, 1) == 2);
    /* an epoch nothing can exceed (a hand-written item or guard): no term, never a wrap to 0 or 2 */
    uint64_t top[1] = {UINT64_MAX};
    CHECK(lease_next_epoch(top, y, 1, 0) == 0);
    CHECK(lease_next_epoch(zero, y, 1, UINT64_MAX) == 0);
    uint64_t near[1] = {UINT64_MAX - 1};
    CHECK(lease_next_epoch(near, y, 1, 0) == UINT64_MAX);
}

static void test_backoff(void)
{
    CHECK(lease_backoff_ms(2000, 1, 0, 10000) == 2000);          /* 4000 at 50 % */
    CHECK(lease_backoff_ms(2000, 1, 65535, 10000) < 6000);
    CHECK(lease_backoff_ms(2000, 1, 65535, 10000) > 5900);
    CHECK(lease_backoff_ms(2000, 9, 32768, 10000) == 10000);     /* capped */
    CHECK(lease_backoff_ms(100, 0, 32768, 10000) == 100);
}

/* A rename under way: [0, n) the name's items, [n, 2n) the former name's;
 * a term needs a majority of each (cluster.former_name, docs/ha.md). */
static void test_pair(void)
{
    lease_write_t w[6] = {{0}};
    /* the name's majority alone is no term while the former name's is another's */
    w[0] = (lease_write_t){1000, 10000, 2000};
    w[1] = (lease_write_t){1500, 10000, 2000};
    CHECK(lease_pair_until(w, 3, 2, false) == 9000);
    CHECK(lease_pair_until(w, 3, 2, true) == 0);
    w[3] = (lease_write_t){1200, 10000, 2000};
    CHECK(lease_pair_until(w, 3, 2, true) == 0);          /* one former item of three: no majority */
    w[5] = (lease_write_t){900, 10000, 2000};
    CHECK(lease_pair_until(w, 3, 2, true) == 8900);       /* the earlier group's end */
    w[1].send_ms = 0;
    CHECK(lease_pair_until(w, 3, 2, true) == 0);          /* the name's majority lost: the term with it */
    /* the old-name instance's view of the same items is the former group alone: it never counts ours */
    CHECK(lease_pair_until(w + 3, 3, 2, false) == 8900);

    /* the next epoch is above both groups' highest: a renamed term starts above the former name's terms */
    uint64_t ep[6] = {0, 0, 0, 7, 9, 8};
    bool ok[6] = {true, true, true, true, true, false};
    CHECK(lease_pair_next_epoch(ep, ok, 3, 0, true) == 10);
    CHECK(lease_pair_next_epoch(ep, ok, 3, 0, false) == 2);
    ok[4] = false;
    CHECK(lease_pair_next_epoch(ep, ok, 3, 0, true) == 0);   /* the former group read on one of three */
    ok[4] = true;
    CHECK(lease_pair_next_epoch(ep, ok, 3, 12, true) == 13);

    /* a take needs free items in each group, need of each */
    bool cand[6] = {true, true, true, false, false, true};
    CHECK(lease_pair_may_take(cand, 3, 2, false));
    CHECK(!lease_pair_may_take(cand, 3, 2, true));             /* the former name's leader holds two */
    cand[4] = true;
    CHECK(lease_pair_may_take(cand, 3, 2, true));
    CHECK(!lease_pair_may_take(cand, 3, 3, true));             /* every table needed: all of each */
    cand[3] = true;
    CHECK(lease_pair_may_take(cand, 3, 3, true));
    cand[0] = false;
    CHECK(!lease_pair_may_take(cand, 3, 3, true));
    CHECK(!lease_pair_may_take(cand, 3, 4, false));            /* need above n: never (another set live) */

    /* the take waits for the later group: the former name's leader renewed later */
    lease_seen_t s[6];
    bool sok[6] = {true, true, true, true, true, true};
    memset(s, 0, sizeof(s));
    for (int i = 0; i < 6; i++)
        lease_observe(&s[i], i >= 3, false, i >= 3 ? "r1" : "", 0, 1000);
    lease_observe(&s[4], true, false, "r2", 0, 4000);
    lease_observe(&s[5], true, false, "r2", 0, 5000);
    CHECK(lease_pair_take_at(s, sok, 3, 2, 10000, false) == 11000);
    CHECK(lease_pair_take_at(s, sok, 3, 2, 10000, true) == 14000);
    sok[4] = sok[5] = false;
    CHECK(lease_pair_take_at(s, sok, 3, 2, 10000, true) == 0);
}

/* Defect 24: a misspelled former_name finds no item under it; no take until a
 * majority of the tables showed one (any: live, expired, released) since start. */
static void test_former_proven(void)
{
    uint32_t mask = 0;
    bool none[3] = {false, false, false}, one[3] = {false, true, false}, other[3] = {true, false, false};
    CHECK(!lease_former_proven(&mask, none, 3));    /* a misspelled former_name: never */
    CHECK(!lease_former_proven(&mask, none, 3));
    CHECK(!lease_former_proven(&mask, one, 3));     /* one table of three: not a majority */
    CHECK(!lease_former_proven(&mask, one, 3));
    CHECK(lease_former_proven(&mask, other, 3));    /* two tables, seen in different rounds */
    CHECK(lease_former_proven(&mask, none, 3));     /* sticky: the items may be gone since */
    mask = 0;
    bool all[5] = {true, true, true, false, false}, two[5] = {false, false, true, true, false};
    CHECK(lease_former_proven(&mask, all, 5));
    mask = 0;
    CHECK(!lease_former_proven(&mask, two, 5));     /* two of five */
    CHECK(lease_former_proven(&mask, all, 5));      /* tables 0-3 of five */
}

int main(void)
{
    test_former_proven();
    test_pair();
    test_majority();
    test_takeable();
    test_takeable_item_lease();
    test_valid_until();
    test_valid_until_mixed();
    test_next_epoch();
    test_backoff();
    return check_finish();
}
