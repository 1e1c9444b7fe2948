/* quorum — the quorum rule of the observers (issue 18 item 2; docs/ha.md
 * "Observers", "The quorum rule"): a pure function from every configured
 * observer's view (freshness, suspect, a state per region), k, and the
 * previous combined state to one combined health per region, which the
 * decision engine (failover/decide.h) then takes as its health input, so
 * every rule of the engine (hysteresis upstream, min healthy, fail open,
 * hold-down, damping, data gate) applies to the combined health.  No I/O,
 * no globals, no allocation: unit-tested without a loop.
 *
 * Order of evaluation:
 *  1. usable observers: fresh and not suspect.  This instance's own view
 *     (self) is fresh by definition: only suspect leaves it out.  An
 *     observer never seen counts as silent.
 *  2. fewer than k usable: no quorum; every region keeps its previous
 *     combined state (QUORUM_WHY_SHORT): no drain, no restore.
 *  3. per region, over the usable views: D say down, S say up or degraded
 *     (U of them up); unknown is no opinion.
 *     D >= k and S < k -> DOWN;  S >= k and D < k -> UP when U >= k, else
 *     DEGRADED;  both >= k (possible only when k <= n/2) -> the previous
 *     state (QUORUM_WHY_SPLIT);  neither -> the previous state
 *     (QUORUM_WHY_UNDECIDED).  The previous state is UNKNOWN at the start,
 *     which the engine takes as "no opinion": live weights kept.
 * A lone observer therefore never decides when k > 1. */
#ifndef REGIOND_QUORUM_H
#define REGIOND_QUORUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "failover/health.h"

#define QUORUM_MAX_OBS 9          /* config/cfg.h CFG_MAX_OBSERVERS */
#define QUORUM_MAX_REGIONS 64

typedef enum {
    QUORUM_WHY_DECIDED = 0,   /* k views agreed: the state follows them */
    QUORUM_WHY_SHORT,         /* fewer than k usable views: state held */
    QUORUM_WHY_SPLIT,         /* k say down and k say up: state held */
    QUORUM_WHY_UNDECIDED,     /* neither side has k: state held */
    QUORUM_WHY_COUNT
} quorum_why_t;

/* "decided", "no-quorum", "split", "undecided"; "invalid" otherwise */
const char *quorum_why_str(quorum_why_t w);

typedef struct {
    const char *id;
    bool self;                /* this instance: fresh by definition */
    bool seen;                /* a view of it is held */
    bool fresh;               /* that view changed within the freshness bound */
    bool suspect;             /* it marked its own view suspect */
    health_state_t state[QUORUM_MAX_REGIONS];   /* per configured region; UNKNOWN when its view lacks it */
} quorum_obs_t;

typedef struct {
    bool ok;                                  /* at least k usable views */
    uint32_t usable, silent, suspect;         /* bit i: observer i usable / silent (not fresh) / suspect */
    uint32_t n_usable;
    health_state_t state[QUORUM_MAX_REGIONS]; /* combined */
    quorum_why_t why[QUORUM_MAX_REGIONS];
    uint32_t down[QUORUM_MAX_REGIONS];        /* bit i: usable observer i said down */
    uint32_t up[QUORUM_MAX_REGIONS];          /* ... up */
    uint32_t degraded[QUORUM_MAX_REGIONS];    /* ... degraded */
} quorum_out_t;

/* Combine n observers' views of nregions regions with k (1..n); prev[r] is
 * region r's previous combined state.  0, or -1 on bad input (n or nregions
 * out of range, k outside 1..n, a state out of range) with out zeroed. */
int quorum_combine(const quorum_obs_t *obs, size_t n, uint32_t k, size_t nregions, const health_state_t *prev,
                   quorum_out_t *out);

/* ---- the record of a decision (issue 18 item 4; docs/ha.md "Which views a
 * decision used") ----
 * Region r's record after a combine: which observers' views were counted
 * and which were left out and why.  A record is made when the combined
 * state changed (a call: down is a drain, up or degraded from down a
 * restore) or when it was held, without k views agreeing, while a usable
 * view contradicts it (a drain or restore refused: fewer than k usable
 * views, a split, or no side with k).  Bounded: one entry per configured observer (at most QUORUM_MAX_OBS). */

typedef enum {
    QUORUM_LEFT_NONE = 0,     /* counted: usable, and its view has a state for the region */
    QUORUM_LEFT_NO_VIEW,      /* no view of it held (never read) */
    QUORUM_LEFT_SILENT,       /* its view is older than the freshness bound */
    QUORUM_LEFT_SUSPECT,      /* it marked its own view suspect */
    QUORUM_LEFT_NO_OPINION,   /* usable, but its view says unknown for this region */
    QUORUM_LEFT_DRILLED,      /* usable, its view's up or degraded set aside: a fail drill acts on the region
                                 here (daemon/observers_quorum.c; never quorum_record's) */
    QUORUM_LEFT_COUNT
} quorum_left_t;

/* "counted", "no-view", "silent", "suspect", "no-opinion", "drilled"; "invalid" otherwise */
const char *quorum_left_str(quorum_left_t l);

typedef enum {
    QUORUM_CALL_DOWN = 0,     /* called down: a drain */
    QUORUM_CALL_UP,           /* called up (a restore when from down) */
    QUORUM_CALL_DEGRADED,     /* called degraded (a restore when from down) */
    QUORUM_CALL_REFUSED,      /* held against a usable view: no drain or restore */
    QUORUM_CALL_FORGOTTEN,    /* a latched state dropped to unknown outside the rule, no view counted (a fail
                                 drill stopped or resumed acting here: daemon/observers_quorum.c); never
                                 quorum_record's */
    QUORUM_CALL_COUNT
} quorum_call_t;

/* "down", "up", "degraded", "refused", "forgotten"; "invalid" otherwise */
const char *quorum_call_str(quorum_call_t c);

typedef struct {
    quorum_call_t call;
    health_state_t from, to;            /* combined state before and after (equal when refused) */
    health_state_t would;               /* refused: DOWN (a drain refused) or UP (a restore refused) */
    quorum_why_t why;
    uint32_t k, n;
    uint32_t counted;                   /* bit i: observer i's view counted */
    health_state_t vote[QUORUM_MAX_OBS];/* observer i's view of the region, counted or not (UNKNOWN: none) */
    quorum_left_t left[QUORUM_MAX_OBS]; /* QUORUM_LEFT_NONE when counted */
} quorum_record_t;

/* Region r's record of the combine out (made by quorum_combine from obs, n,
 * k and prev, the state before it): true with *rec filled (zeroed first, so
 * two records compare with memcmp) when there is a call or a refusal to
 * record, false when the state held and no usable view contradicts it. */
bool quorum_record(const quorum_obs_t *obs, size_t n, uint32_t k, size_t r, health_state_t prev,
                   const quorum_out_t *out, quorum_record_t *rec);

/* A configured region as the quorum keys its combined state: its name and
 * the config generation that added it (a region removed by one reload and
 * added back by a later one is another region, whatever came between). */
typedef struct {
    char name[65];
    uint64_t born;
} quorum_rid_t;

/* Carry the combined states across a change of the region list (a reload;
 * docs/ha.md "The quorum rule"), keyed by region name and the generation
 * that added it, not position: region r of ids[0..n) takes the state and
 * since of the old region with the same name and born (old_ids[0..old_n)),
 * or UNKNOWN and now when it is new or was removed and added back since; an
 * old region not in ids is forgotten.  n and old_n at most
 * QUORUM_MAX_REGIONS; the outputs must not alias the old arrays. */
void quorum_remap(const quorum_rid_t *old_ids, const health_state_t *old_state, const uint64_t *old_since,
                  size_t old_n, const quorum_rid_t *ids, size_t n, uint64_t now, health_state_t *state,
                  uint64_t *since);

#endif
