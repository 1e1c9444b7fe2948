/* view_doc — one observer's view of the regions as the document it
 * publishes in its item "<cluster.name>#view#<instance id>" (cluster/views.h,
 * docs/ha.md "Observers").  Pure: encode, and decode with every field
 * checked (a hostile or malformed document is refused with the reason, never
 * half-taken).  No wall clock travels: ages are the writer's own elapsed
 * time, which the reader adds to its own monotonic time since it saw the
 * item change.
 *
 * {"v":1, "observer": id, "elapsed_ms": the writer's monotonic ms since it
 *  started publishing, "window_ms": what the counts cover, "suspect": false,
 *  "regions":[{"region", "state": unknown|up|degraded|down, "reason",
 *  "age_ms": how long the state has held, "probes", "failures"}]} */
#ifndef REGIOND_VIEW_DOC_H
#define REGIOND_VIEW_DOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/cfg.h"

#define VIEW_DOC_MAX 32768u          /* a document longer than this is refused (and never written) */
#define VIEW_REASON_MAX 200          /* bytes of a region's reason kept (cut on a UTF-8 boundary) */
#define VIEW_MAX_REGIONS CFG_MAX_REGIONS
#define VIEW_COUNT_MAX 1000000000u   /* probes or failures in one window */
#define VIEW_MS_MAX 4000000000000ull /* ~126 years: any elapsed or age above is refused */

typedef enum { VIEW_UNKNOWN = 0, VIEW_UP, VIEW_DEGRADED, VIEW_DOWN, VIEW_STATE_N } view_state_t;

typedef struct {
    char region[65];                 /* [A-Za-z0-9._-]{1,64} */
    view_state_t state;
    char reason[VIEW_REASON_MAX + 1];/* UTF-8, no control characters */
    uint64_t age_ms;
    uint32_t probes, failures;       /* failures <= probes */
} view_region_t;

typedef struct {
    char observer[65];
    uint64_t elapsed_ms, window_ms;
    bool suspect;
    size_t n;
    view_region_t regions[VIEW_MAX_REGIONS];
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
