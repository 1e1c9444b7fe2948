/* quorum — the observers' quorum rule (quorum.h). */
#include "failover/quorum.h"

#include <string.h>

const char *quorum_why_str(quorum_why_t w)
{
    switch (w) {
    case QUORUM_WHY_DECIDED: return "decided";
    case QUORUM_WHY_SHORT: return "no-quorum";
    case QUORUM_WHY_SPLIT: return "split";
    case QUORUM_WHY_UNDECIDED: return "undecided";
    default: return "invalid";
    }
}

static uint32_t bits(uint32_t x)
{
    uint32_t c = 0;
    for (; x; x &= x - 1)
        c++;
    return c;
}

static bool state_ok(health_state_t s)
{
    return (unsigned)s <= HEALTH_DOWN;
}

static void region(const quorum_obs_t *obs, size_t n, uint32_t k, size_t r, health_state_t prev, quorum_out_t *out)
{
    for (size_t i = 0; i < n; i++) {
        if (!(out->usable & (1u << i)))
            continue;
        switch (obs[i].state[r]) {
        case HEALTH_DOWN: out->down[r] |= 1u << i; break;
        case HEALTH_UP: out->up[r] |= 1u << i; break;
        case HEALTH_DEGRADED: out->degraded[r] |= 1u << i; break;
        default: break;
        }
    }
    out->state[r] = prev;
    if (!out->ok) {
        out->why[r] = QUORUM_WHY_SHORT;
        return;
    }
    uint32_t d = bits(out->down[r]), u = bits(out->up[r]), s = u + bits(out->degraded[r]);
    if (d >= k && s >= k)
        out->why[r] = QUORUM_WHY_SPLIT;
    else if (d >= k)
        out->state[r] = HEALTH_DOWN;
    else if (s >= k)
        out->state[r] = u >= k ? HEALTH_UP : HEALTH_DEGRADED;
    else
        out->why[r] = QUORUM_WHY_UNDECIDED;
}

int quorum_combine(const quorum_obs_t *obs, size_t n, uint32_t k, size_t nregions, const health_state_t *prev,
                   quorum_out_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!obs || !prev || n < 1 || n > QUORUM_MAX_OBS || k < 1 || k > n || nregions > QUORUM_MAX_REGIONS)
        return -1;
    for (size_t r = 0; r < nregions; r++) {
        if (!state_ok(prev[r]))
            return -1;
        for (size_t i = 0; i < n; i++)
            if (!state_ok(obs[i].state[r]))
                return -1;
    }
    for (size_t i = 0; i < n; i++) {
        bool fresh = obs[i].self || (obs[i].seen && obs[i].fresh);
        if (!fresh)
            out->silent |= 1u << i;
        else if (obs[i].suspect)
            out->suspect |= 1u << i;
        else
            out->usable |= 1u << i;
    }
    out->n_usable = bits(out->usable);
    out->ok = out->n_usable >= k;
    for (size_t r = 0; r < nregions; r++)
        region(obs, n, k, r, prev[r], out);
    return 0;
}

void quorum_remap(const quorum_rid_t *old_ids, const health_state_t *old_state, const uint64_t *old_since,
                  size_t old_n, const quorum_rid_t *ids, size_t n, uint64_t now, health_state_t *state,
                  uint64_t *since)
{
    for (size_t r = 0; r < n; r++) {
        state[r] = HEALTH_UNKNOWN;   /* new here (start, reload, removed and added back) */
        since[r] = now;
        for (size_t o = 0; o < old_n; o++)
            if (strcmp(old_ids[o].name, ids[r].name) == 0 && old_ids[o].born == ids[r].born) {
                state[r] = old_state[o];
                since[r] = old_since[o];
                break;
            }
    }
}
