/* view_doc — one observer's view of the regions as the document it
 * publishes in its item "<cluster.name>#view#<instance id>" (cluster/views.h,
 * docs/ha.md "Observers").  Pure: encode, and decode with every field
 * checked (a hostile or malformed document is refused with the reason, never
 * half-taken).  No wall clock travels: ages are the writer's own elapsed
 * time, which the reader adds to its own monotonic time since it saw the
 * item change.
 *
 * {"v":1, "observer": id, "elapsed_ms": the writer's monotonic ms since it
 *  started publishing, "window_ms": what the counts cover, "suspect": the
 *  writer's own view is suspect (cluster/suspect.h), "suspect_reason": why
 *  (only when suspect is true; optional, so a v1 document without it, as
 *  the first slice wrote them, still decodes), "regions":[{"region",
 *  "state": unknown|up|degraded|down, "reason", "age_ms": how long the state
 *  has held, "probes", "failures"}], "drills": [{"id", "region"}] (the fail
 *  drills in effect on the writer, at most 8; optional, only when there are
 *  some: every observer marks those regions down while the leader's fresh
 *  view names them, daemon/observers.c)} */
#ifndef REGIOND_VIEW_DOC_H
#define REGIOND_VIEW_DOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/cfg.h"

#define VIEW_DOC_MAX 32768u          /* a document longer than this is refused (and never written) */
#define VIEW_REASON_MAX 200          /* bytes of a region's reason kept (cut on a UTF-8 boundary) */
#define VIEW_SUSPECT_REASON_MAX 300  /* bytes of suspect_reason (cluster/suspect.h SUSPECT_REASON_MAX) */
#define VIEW_MAX_REGIONS CFG_MAX_REGIONS
#define VIEW_COUNT_MAX 1000000000u   /* probes or failures in one window */
#define VIEW_MS_MAX 4000000000000ull /* ~126 years: any elapsed or age above is refused */
#define VIEW_MAX_DRILLS 8            /* fail drills a view names (docs/ha.md "Drills under the quorum rule") */
#define VIEW_DRILL_ID_MAX 4503599627370496.0   /* 2^52, as drill numbers */

typedef enum { VIEW_UNKNOWN = 0, VIEW_UP, VIEW_DEGRADED, VIEW_DOWN, VIEW_STATE_N } view_state_t;

typedef struct {
    char region[65];                 /* [A-Za-z0-9._-]{1,64} */
    view_state_t state;
    char reason[VIEW_REASON_MAX + 1];/* UTF-8, no control characters */
    uint64_t age_ms;
    uint32_t probes, failures;       /* failures <= probes */
} view_region_t;

/* A drill of kind fail in effect on the writer (its leader runs it). */
typedef struct {
    uint64_t id;
    char region[65];
} view_drill_t;

typedef struct {
    char observer[65];
    uint64_t elapsed_ms, window_ms;
    bool suspect;
    char suspect_reason[VIEW_SUSPECT_REASON_MAX + 1];   /* "" when not suspect (or none given) */
    size_t n;
    view_region_t regions[VIEW_MAX_REGIONS];
    size_t n_drills;                 /* "drills": written only when there are some */
    view_drill_t drills[VIEW_MAX_DRILLS];
} view_t;

const char *view_state_str(view_state_t s);

/* Copy reason into r->reason: cut at VIEW_REASON_MAX on a UTF-8 boundary,
 * bytes that are not UTF-8 and control characters replaced by '?'. */
void view_set_reason(view_region_t *r, const char *reason);

/* The document (malloc'd), or NULL when out of memory or over VIEW_DOC_MAX. */
char *view_encode(const view_t *v);

/* Decode doc into *out; the observer it names must be want.  0, or -1 with
 * why (what was wrong, at which member; never the raw value beyond 40 bytes). */
int view_decode(const char *doc, const char *want, view_t *out, char *why, size_t len);

#endif
