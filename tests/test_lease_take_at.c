/* test_lease_take_at — when a follower takes (cluster/lease_calc.h,
 * lease_expires_at and lease_take_at): at the moment a majority of the
 * items it read expire on its own clock, counted from the answers that
 * showed them, never before; and the takeover bound that follows from it:
 * a dead leader's last renewal written at s is taken between s + lease_ms
 * and s + follow + lease_ms (+ the read's round trip), whatever the phase
 * of the follower's rounds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/lease_calc.h"
#include "tests/check.h"

static void test_expires_at(void)
{
    lease_seen_t s;
    memset(&s, 0, sizeof(s));
    CHECK(lease_expires_at(&s, 10000) == UINT64_MAX);            /* never read: never */
    lease_observe(&s, true, false, "aa", 0, 1000);
    CHECK(lease_expires_at(&s, 10000) == 11000);                 /* first answer + our lease_ms */
    lease_observe(&s, true, false, "aa", 20000, 3000);           /* the same rvn, a longer lease on the item */
    CHECK(lease_expires_at(&s, 10000) == 21000);                 /* the longer, still from the first answer */
    lease_observe(&s, true, false, "bb", 5000, 4000);            /* renewed: from the new answer */
    CHECK(lease_expires_at(&s, 10000) == 14000);                 /* our own is longer than the item's */
    lease_observe(&s, true, true, "cc", 0, 4500);                /* a release marker: at its answer */
    CHECK(lease_expires_at(&s, 10000) == 4500);
    lease_observe(&s, false, false, NULL, 0, 6000);              /* no item: a full lease from then */
    CHECK(lease_expires_at(&s, 10000) == 16000);
}

static void test_take_at(void)
{
    lease_seen_t s[5];
    bool ok[5] = {true, true, true, true, true};
    memset(s, 0, sizeof(s));
    lease_observe(&s[0], true, false, "a", 0, 1000);
    lease_observe(&s[1], true, false, "b", 0, 3000);
    lease_observe(&s[2], true, false, "c", 0, 2000);
    CHECK_EQ_INT(lease_take_at(s, ok, 3, 2, 10000), 12000);      /* the 2nd earliest of 11000, 13000, 12000 */
    CHECK_EQ_INT(lease_take_at(s, ok, 3, 1, 10000), 11000);
    CHECK_EQ_INT(lease_take_at(s, ok, 3, 3, 10000), 13000);
    ok[2] = false;                                               /* not read this round: not counted */
    CHECK_EQ_INT(lease_take_at(s, ok, 3, 2, 10000), 13000);
    ok[1] = false;
    CHECK_EQ_INT(lease_take_at(s, ok, 3, 2, 10000), 0);          /* fewer than a majority read: never */
    ok[1] = ok[2] = true;
    lease_observe(&s[1], true, true, "rel", 0, 3500);            /* released: at once */
    CHECK_EQ_INT(lease_take_at(s, ok, 3, 2, 10000), 11000);
    memset(s, 0, sizeof(s));
    CHECK_EQ_INT(lease_take_at(s, ok, 3, 2, 10000), 0);          /* nothing seen */
    CHECK_EQ_INT(lease_take_at(s, ok, 3, 0, 10000), 0);
    CHECK_EQ_INT(lease_take_at(s, ok, 3, 9, 10000), 0);
}

/* lease_take_at agrees with lease_takeable (random items): each item read
 * becomes takeable exactly at lease_expires_at (a release marker at any
 * time), and lease_take_at is the first moment at which a majority of them
 * has: a majority expired by then, fewer one ms before. */
static void test_take_at_agrees(void)
{
    srandom(17);
    for (int round = 0; round < 20000; round++) {
        size_t n = (random() % 2) ? 3 : 5, need = lease_majority(n);
        lease_seen_t s[5];
        bool ok[5];
        memset(s, 0, sizeof(s));
        for (size_t i = 0; i < n; i++) {
            ok[i] = random() % 5 != 0;
            if (random() % 7 == 0)
                continue;   /* never seen */
            char rvn[24];
            snprintf(rvn, sizeof(rvn), "r%zu", i);
            lease_observe(&s[i], random() % 6 != 0, random() % 9 == 0, rvn, (uint32_t)(random() % 30000),
                          1 + (uint64_t)(random() % 50000));
        }
        uint32_t lease_ms = 1000 + (uint32_t)(random() % 20000);
        uint64_t at = lease_take_at(s, ok, n, need, lease_ms);
        size_t by_at = 0, before = 0, seen = 0;
        bool agree = true;
        for (size_t i = 0; i < n; i++) {
            uint64_t e = lease_expires_at(&s[i], lease_ms);
            if (!s[i].seen) {
                agree = agree && e == UINT64_MAX && !lease_takeable(&s[i], UINT64_MAX - 1, lease_ms);
                continue;
            }
            agree = agree && lease_takeable(&s[i], e, lease_ms);
            if (!(s[i].present && s[i].released))
                agree = agree && !lease_takeable(&s[i], e - 1, lease_ms);
            if (!ok[i])
                continue;
            seen++;
            by_at += e <= at;
            before += at > 0 && e <= at - 1;
        }
        CHECK(agree);
        if (seen < need)
            CHECK(at == 0);
        else
            CHECK(at != 0 && by_at >= need && before < need);
    }
}

/* A dead leader renewed every renew_ms, its last renewal written at s; a
 * follower reads every follow_ms (phase p) and each answer arrives rtt after
 * its read is sent.  The take goes out at lease_take_at: at least lease_ms
 * after s (safe: the holder stopped sending at s + lease_ms - margin_ms), at
 * most follow_ms + rtt + lease_ms after it; a take at the follower's next
 * round instead could be up to follow_ms later still. */
static void test_takeover_bound(void)
{
    const uint32_t lease = 10000, renew = 2000, follow = 1000, rtt = 30;
    uint64_t worst = 0, best = UINT64_MAX;
    for (uint64_t p = 0; p < follow; p += 7) {
        for (uint64_t kill = 100000; kill < 100000 + renew; kill += 97) {
            uint64_t s_last = kill - (kill % renew);   /* the last renewal written before the kill */
            lease_seen_t seen[3];
            bool ok[3] = {true, true, true};
            memset(seen, 0, sizeof(seen));
            for (uint64_t r = p; r < kill + 3 * lease; r += follow) {   /* the follower's reads */
                uint64_t shown = r >= s_last ? s_last : r - (r % renew);   /* the item's version at r */
                char rvn[24];
                snprintf(rvn, sizeof(rvn), "%llu", (unsigned long long)shown);
                for (size_t i = 0; i < 3; i++)
                    lease_observe(&seen[i], true, false, rvn, lease, r + rtt);
                uint64_t at = lease_take_at(seen, ok, 3, 2, lease);
                if (at != 0 && at <= r + follow) {   /* armed before the next read: taken then */
                    CHECK(at >= s_last + lease);
                    uint64_t d = at - s_last;
                    worst = d > worst ? d : worst;
                    best = d < best ? d : best;
                    break;
                }
            }
        }
    }
    printf("take after the last renewal: %llu..%llu ms (lease %u, follow %u, rtt %u)\n",
           (unsigned long long)best, (unsigned long long)worst, lease, follow, rtt);
    CHECK(best >= lease);
    CHECK(worst <= (uint64_t)lease + follow + rtt);
}

int main(void)
{
    test_expires_at();
    test_take_at();
    test_take_at_agrees();
    test_takeover_bound();
    return check_finish();
}
