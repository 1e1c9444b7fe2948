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
    lease_observe(&s, false, false, NULL, 1000);             /* no item, first seen at 1000 */
    CHECK(!lease_takeable(&s, 10999, 10000));
    CHECK(lease_takeable(&s, 11000, 10000));                 /* absent for a full lease */
    lease_observe(&s, true, false, "aa", 11500);             /* someone wrote: the clock restarts */
    CHECK(s.first_seen_ms == 11500);
    CHECK(!lease_takeable(&s, 21499, 10000));
    lease_observe(&s, true, false, "aa", 15000);             /* the same rvn again: no restart */
    CHECK(s.first_seen_ms == 11500);
    CHECK(lease_takeable(&s, 21500, 10000));
    lease_observe(&s, true, false, "bb", 21600);             /* renewed */
    CHECK(!lease_takeable(&s, 31599, 10000));
    lease_observe(&s, true, true, "cc", 22000);              /* a release marker: at once */
    CHECK(lease_takeable(&s, 22000, 10000));
    lease_observe(&s, false, false, NULL, 23000);            /* deleted by an operator: wait again */
    CHECK(!lease_takeable(&s, 32999, 10000));
    CHECK(lease_takeable(&s, 33000, 10000));
    lease_observe(&s, true, false, "dd", 5);                 /* a clock behind first_seen never takes */
    CHECK(!lease_takeable(&s, 4, 10000));
}

static void test_valid_until(void)
{
    uint64_t held[5] = {1000, 0, 3000, 2000, 0};
    CHECK(lease_valid_until(held, 5, 3, 10000, 2000) == 1000 + 8000);   /* the 3rd latest */
    CHECK(lease_valid_until(held, 5, 2, 10000, 2000) == 2000 + 8000);
    CHECK(lease_valid_until(held, 5, 4, 10000, 2000) == 0);             /* only 3 held */
    uint64_t none[3] = {0, 0, 0};
    CHECK(lease_valid_until(none, 3, 2, 10000, 2000) == 0);
    uint64_t one[1] = {7};
    CHECK(lease_valid_until(one, 1, 1, 3000, 300) == 7 + 2700);
}

static void test_next_epoch(void)
{
    uint64_t ep[3] = {4, 9, 7};
    bool ok[3] = {true, false, true};
    CHECK(lease_next_epoch(ep, ok, 3) == 8);        /* 1 + the highest READ, not the unread 9 */
    bool one[3] = {false, true, false};
    CHECK(lease_next_epoch(ep, one, 3) == 0);       /* no majority read: no term */
    bool all[3] = {true, true, true};
    CHECK(lease_next_epoch(ep, all, 3) == 10);
    uint64_t zero[1] = {0};
    bool y[1] = {true};
    CHECK(lease_next_epoch(zero, y, 1) == 2);       /* the first term is 2 (1: the actuator's placeholder) */
}

static void test_backoff(void)
{
    CHECK(lease_backoff_ms(2000, 1, 0, 10000) == 2000);          /* 4000 at 50 % */
    CHECK(lease_backoff_ms(2000, 1, 65535, 10000) < 6000);
    CHECK(lease_backoff_ms(2000, 1, 65535, 10000) > 5900);
    CHECK(lease_backoff_ms(2000, 9, 32768, 10000) == 10000);     /* capped */
    CHECK(lease_backoff_ms(100, 0, 32768, 10000) == 100);
}

int main(void)
{
    test_majority();
    test_takeable();
    test_valid_until();
    test_next_epoch();
    test_backoff();
    return check_finish();
}
