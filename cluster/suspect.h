/* suspect — whether this observer's own view is suspect (issue 18 item 3,
 * docs/ha.md "Observers", "Self-partition").  A pure function in the manner
 * of failover/decide.h: inputs in, verdict and reason out; the caller keeps
 * the state between calls.  No I/O, no clock of its own, no allocation.
 *
 * Causes, each checked at every step (the order of the reason):
 *  1. SUSPECT_REGIONS: every region fails at once in this observer's own
 *     probes: more than one region, and each region "failing": it had a
 *     failed probe within its window_ms and no good one within it (a region
 *     never probed, or whose last failure is older than its window, is not
 *     failing).  One good probe of any region clears the cause.
 *  2. SUSPECT_TABLES: the coordination tables have not answered this
 *     observer (a majority for its view reads and writes) for longer than
 *     tables_ms.
 *  3. SUSPECT_RESOURCES: a local resource shortage is raised (descriptors,
 *     memory: daemon/rsrc.h).
 * The view is suspect from the first step with a cause, and stays suspect
 * until hold_ms have passed with none (the hold: a cause that comes back
 * within it does not flap the view).  During the hold the reason says what
 * it was and that it cleared. */
#ifndef REGIOND_SUSPECT_H
#define REGIOND_SUSPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SUSPECT_REASON_MAX 300   /* bytes; the view document's suspect_reason bound (cluster/view_doc.h) */

typedef enum { SUSPECT_REGIONS = 0, SUSPECT_TABLES, SUSPECT_RESOURCES, SUSPECT_CAUSE_N } suspect_cause_t;

/* "regions", "tables", "resources". */
const char *suspect_cause_str(suspect_cause_t c);

typedef struct {
    uint32_t tables_ms;   /* cause 2 beyond this long without an answer */
    uint32_t hold_ms;     /* suspect stays this long after the last cause cleared */
} suspect_cfg_t;

typedef struct {
    uint64_t last_ok_ms, last_fail_ms;   /* monotonic ms of the region's latest good / failed probe; 0 never */
    uint32_t window_ms;                  /* how far back "at once" looks for this region */
    uint64_t fail_since_ms;              /* when its current run of failed probes was first seen; 0 none */
} suspect_region_t;

typedef struct {
    size_t n_regions;                    /* every configured region */
    const suspect_region_t *regions;
    uint64_t tables_quiet_ms;            /* since the tables last answered (0: just now) */
    const char *tables_error;            /* the last error from them (may be NULL) */
    bool shortage;                       /* a local resource shortage is raised */
    const char *shortage_detail;         /* what (may be NULL) */
} suspect_in_t;

/* The caller's state; zero it before the first step. */
typedef struct {
    bool suspect;
    unsigned causes;          /* bit (1u << suspect_cause_t): the causes at the last step */
    uint64_t since_ms;        /* suspect since (valid while suspect) */
    bool clearing;            /* every cause cleared: the hold runs */
    uint64_t cleared_ms;      /* the step at which the last cause cleared (valid while clearing) */
    char reason[SUSPECT_REASON_MAX + 1];   /* "" when not suspect; UTF-8, no control characters */
} suspect_t;

/* One step at monotonic time now.  Returns true when the verdict or the set
 * of causes changed (the caller logs, raises or resolves its alarm). */
bool suspect_step(const suspect_cfg_t *c, suspect_t *s, const suspect_in_t *in, uint64_t now);

/* Whether this observer may count region i down on its own probes (known
 * defect 34, docs/ha.md "Self-partition"): only when a probe of any region
 * (i's own other targets included) succeeded after i's current run of
 * failures was first seen, at a later look.  An observer cut off from
 * every region sees no such probe, so its down verdicts count for nothing
 * in the time cause 1 takes to call it suspect; one region failing alone is
 * vouched for by the next good probe of any other, a region whose targets
 * partly fail by its own answering ones.  Always true with one region
 * (cause 1 needs more than one). */
bool suspect_down_vouched(const suspect_region_t *regions, size_t n, size_t i);

/* Whether region r is failing at now (cause 1's test for one region). */
bool suspect_region_failing(const suspect_region_t *r, uint64_t now);

#endif
