/* lease_calc — the lease's pure arithmetic (see lease_calc.h). */
#include "cluster/lease_calc.h"

#include <stdio.h>
#include <string.h>

size_t lease_majority(size_t n)
{
    return n / 2 + 1;
}

void lease_observe(lease_seen_t *s, bool present, bool released, const char *rvn, uint32_t item_lease_ms,
                   uint64_t now)
{
    const char *r = present && rvn ? rvn : "";
    uint32_t l = !present ? 0 : item_lease_ms > LEASE_ITEM_MAX_MS ? LEASE_ITEM_MAX_MS : item_lease_ms;
    if (!s->seen || s->present != present || strcmp(s->rvn, r) != 0) {
        s->seen = true;
        s->first_seen_ms = now;
        s->lease_ms = 0;
        snprintf(s->rvn, sizeof(s->rvn), "%s", r);
    }
    if (l > s->lease_ms)
        s->lease_ms = l;   /* the same version re-read with a longer lease: wait the longer */
    s->present = present;
    s->released = present && released;
}

uint64_t lease_expires_at(const lease_seen_t *s, uint32_t lease_ms)
{
    if (!s->seen)
        return UINT64_MAX;
    if (s->present && s->released)
        return s->first_seen_ms;
    uint32_t wait = s->lease_ms > lease_ms ? s->lease_ms : lease_ms;
    return s->first_seen_ms + wait;
}

bool lease_takeable(const lease_seen_t *s, uint64_t now, uint32_t lease_ms)
{
    if (!s->seen)
        return false;
    if (s->present && s->released)
        return true;
    uint32_t wait = s->lease_ms > lease_ms ? s->lease_ms : lease_ms;
    return now >= s->first_seen_ms && now - s->first_seen_ms >= wait;
}

uint64_t lease_take_at(const lease_seen_t *s, const bool *ok, size_t n, size_t need, uint32_t lease_ms)
{
    uint64_t best[8];   /* the need earliest expiries, earliest first */
    size_t have = 0;
    if (need == 0 || need > sizeof(best) / sizeof(best[0]))
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!ok[i] || !s[i].seen)
            continue;
        uint64_t t = lease_expires_at(&s[i], lease_ms);
        size_t k = have < need ? have : need;
        while (k > 0 && best[k - 1] > t) {
            if (k < need)
                best[k] = best[k - 1];
            k--;
        }
        if (k < need)
            best[k] = t;
        if (have < need)
            have++;
    }
    return have < need ? 0 : best[need - 1];
}

uint64_t lease_valid_until(const lease_write_t *w, size_t n, size_t need)
{
    uint64_t best[8] = {0};   /* the need latest ends, latest first */
    size_t have = 0;
    if (need == 0 || need > sizeof(best) / sizeof(best[0]))
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (w[i].send_ms == 0)
            continue;
        /* margin_ms < lease_ms (the config: less than half): t > send_ms */
        uint64_t t = w[i].send_ms + w[i].lease_ms - (w[i].margin_ms < w[i].lease_ms ? w[i].margin_ms : w[i].lease_ms);
        have++;
        for (size_t k = 0; k < need; k++)
            if (t > best[k]) {
                memmove(&best[k + 1], &best[k], (need - 1 - k) * sizeof(best[0]));
                best[k] = t;
                break;
            }
    }
    if (have < need)
        return 0;
    return best[need - 1];
}

uint64_t lease_next_epoch(const uint64_t *epochs, const bool *read_ok, size_t n, uint64_t floor)
{
    uint64_t top = floor;
    size_t ok = 0;
    for (size_t i = 0; i < n; i++)
        if (read_ok[i]) {
            ok++;
            if (epochs[i] > top)
                top = epochs[i];
        }
    /* the first term is 2: epoch 1 is the Route 53 actuator's "send nothing"
     * placeholder of an instance that starts as a follower (failover/route53.h),
     * and a term must be higher than it to start with a guard bump */
    if (ok < lease_majority(n) || top == UINT64_MAX)
        return 0;   /* (an epoch nothing can exceed, written by hand: no term, never a wrap to 2) */
    return top + 1 < 2 ? 2 : top + 1;
}

uint64_t lease_backoff_ms(uint32_t renew_ms, unsigned attempt, unsigned rnd, uint32_t cap_ms)
{
    unsigned shift = attempt > 4 ? 4 : attempt;
    uint64_t base = (uint64_t)renew_ms << shift;
    uint64_t d = base / 2 + base * (rnd & 0xffff) / 65536;
    return d > cap_ms ? cap_ms : d;
}

/* ---- a rename under way: two groups of items (lease_calc.h) ---- */

uint64_t lease_pair_until(const lease_write_t *w, size_t n, size_t need, bool former)
{
    uint64_t a = lease_valid_until(w, n, need);
    uint64_t b = former ? lease_valid_until(w + n, n, need) : a;
    return a == 0 || b == 0 ? 0 : a < b ? a : b;
}

uint64_t lease_pair_next_epoch(const uint64_t *epochs, const bool *read_ok, size_t n, uint64_t floor, bool former)
{
    uint64_t a = lease_next_epoch(epochs, read_ok, n, floor);
    uint64_t b = former ? lease_next_epoch(epochs + n, read_ok + n, n, floor) : a;
    return a == 0 || b == 0 ? 0 : a > b ? a : b;
}

uint64_t lease_pair_take_at(const lease_seen_t *s, const bool *ok, size_t n, size_t need, uint32_t lease_ms,
                            bool former)
{
    uint64_t a = lease_take_at(s, ok, n, need, lease_ms);
    uint64_t b = former ? lease_take_at(s + n, ok + n, n, need, lease_ms) : a;
    return a == 0 || b == 0 ? 0 : a > b ? a : b;
}

bool lease_pair_may_take(const bool *cand, size_t n, size_t need, bool former)
{
    size_t a = 0, b = 0;
    for (size_t i = 0; i < n; i++) {
        a += cand[i];
        b += former && cand[n + i];
    }
    return a >= need && (!former || b >= need);
}

bool lease_former_proven(uint32_t *mask, const bool *present, size_t n)
{
    size_t seen = 0;
    for (size_t i = 0; i < n && i < 32; i++) {
        if (present[i])
            *mask |= UINT32_C(1) << i;
        seen += (*mask >> i) & 1u;
    }
    return n > 0 && seen >= lease_majority(n);
}
