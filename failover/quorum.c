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

/* ---- the record of a decision ---- */

const char *quorum_left_str(quorum_left_t l)
{
    switch (l) {
    case QUORUM_LEFT_NONE: return "counted";
    case QUORUM_LEFT_NO_VIEW: return "no-view";
    case QUORUM_LEFT_SILENT: return "silent";
    case QUORUM_LEFT_SUSPECT: return "suspect";
    case QUORUM_LEFT_NO_OPINION: return "no-opinion";
    case QUORUM_LEFT_DRILLED: return "drilled";
    default: return "invalid";
    }
}

const char *quorum_call_str(quorum_call_t c)
{
    switch (c) {
    case QUORUM_CALL_DOWN: return "down";
    case QUORUM_CALL_UP: return "up";
    case QUORUM_CALL_DEGRADED: return "degraded";
    case QUORUM_CALL_REFUSED: return "refused";
    case QUORUM_CALL_FORGOTTEN: return "forgotten";
    default: return "invalid";
    }
}

/* Held at prev: the state a usable view would move it to (a drain when
 * some says down and prev is not down; a restore when prev is down and
 * some says up or degraded), or UNKNOWN when none contradicts it. */
static health_state_t contradicted(const quorum_out_t *out, size_t r, health_state_t prev)
{
    if (prev != HEALTH_DOWN && out->down[r])
        return HEALTH_DOWN;
    if (prev == HEALTH_DOWN && (out->up[r] | out->degraded[r]))
        return HEALTH_UP;
    return HEALTH_UNKNOWN;
}

bool quorum_record(const quorum_obs_t *obs, size_t n, uint32_t k, size_t r, health_state_t prev,
                   const quorum_out_t *out, quorum_record_t *rec)
{
    memset(rec, 0, sizeof(*rec));
    if (!obs || !out || n < 1 || n > QUORUM_MAX_OBS || r >= QUORUM_MAX_REGIONS)
        return false;
    health_state_t to = out->state[r];
    if (to == prev) {
        if (out->why[r] == QUORUM_WHY_DECIDED)
            return false;   /* k views agree with the state held: nothing refused */
        rec->would = contradicted(out, r, prev);
        if (rec->would == HEALTH_UNKNOWN)
            return false;
        rec->call = QUORUM_CALL_REFUSED;
    } else {
        rec->call = to == HEALTH_DOWN ? QUORUM_CALL_DOWN : to == HEALTH_UP ? QUORUM_CALL_UP : QUORUM_CALL_DEGRADED;
    }
    *rec = (quorum_record_t){.call = rec->call, .from = prev, .to = to, .would = rec->would, .why = out->why[r],
                             .k = k, .n = (uint32_t)n};
    uint32_t voted = out->down[r] | out->up[r] | out->degraded[r];
    for (size_t i = 0; i < n; i++) {
        uint32_t b = 1u << i;
        rec->vote[i] = obs[i].state[r];
        if (out->silent & b)
            rec->left[i] = obs[i].seen || obs[i].self ? QUORUM_LEFT_SILENT : QUORUM_LEFT_NO_VIEW;
        else if (out->suspect & b)
            rec->left[i] = QUORUM_LEFT_SUSPECT;
        else if (!(voted & b))
            rec->left[i] = QUORUM_LEFT_NO_OPINION;
        else
            rec->counted |= b;
    }
    return true;
}
