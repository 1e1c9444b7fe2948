/* observers — this instance's view of the regions for cluster/views.h (the
 * regions' health from targets, the probe counts of the last heartbeat
 * window), its suspect verdict (cluster/suspect.h: the inputs gathered
 * here, the change logged and raised as alarm "observer-suspect"), the
 * module's place in main's table, and the quorum rule applied to the views
 * (observers_quorum.c; docs/ha.md "The quorum rule"). */
#ifndef REGIOND_OBSERVERS_H
#define REGIOND_OBSERVERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>

#include "config/cfg.h"
#include "failover/health.h"

int observers_init(const cfg_t *cfg);
void observers_configure(const cfg_t *cfg);
void observers_fini(void);

/* This instance's own view is suspect (its latest verdict, judged every
 * 250 ms with the local view): the quorum rule then leaves it out. */
bool observers_self_suspect(void);
/* Why ("" when not suspect). */
const char *observers_self_suspect_reason(void);

/* Region r's state in this instance's own view: its probes' state, or
 * down while the leader's fail drill on it is in effect (docs/ha.md
 * "Drills under the quorum rule"). */
health_state_t observers_own_state(size_t r);

/* The quorum rule is on (cluster.quorum configured and the views running). */
bool observers_quorum_on(void);
/* Combine every observer's view into each region's state now (quorum.h);
 * raises or resolves alarm "cluster-quorum".  True when some region's
 * combined state changed. */
bool observers_quorum_update(void);
/* Region r's combined state (as last updated) and the monotonic ms it was
 * entered; UNKNOWN and 0 when off. */
health_state_t observers_quorum_state(size_t r, uint64_t *since);

/* Fail drill `drill` (0: not known) on region name stopped acting here
 * (targets.c, with its simulated failures): a combined DOWN latched while
 * it acted becomes UNKNOWN (live weight kept) until k views decide again;
 * with the stale marks not counted (view_mark.h) a held DOWN would
 * otherwise drain a region another leader restored meanwhile (known defect
 * 39, follow-up).  Recorded as the region's last decision, call
 * "forgotten" with the drill and a reason, logged and emitted as event
 * quorum_decision; its since is now: a health change for settle_ms, as the
 * region's own reset to unknown is.  Nothing for a region not latched
 * down, or with the quorum off. */
void observers_quorum_forget(const char *name, uint64_t drill);

/* The inverse: a fail drill on region name resumed acting here with its
 * simulated failures at once (targets_drill_resume: a term's replicated
 * read).  This instance's own view names it down at once; the other views
 * cannot say so before they have read that view, and while a fail drill
 * acts here their up or degraded for its region counts as no opinion (their
 * down, the drill's mark, counts), with no time limit: views that never
 * read ours (its writes refused, say) never restore it mid-drill.  Here a
 * combined UP or DEGRADED becomes UNKNOWN (live weight kept; recorded and
 * emitted as the forget's is, call "forgotten", from up or degraded): the term's
 * first decisions neither restore the drilled region (known defect 33 under
 * the quorum rule) nor drain it on fewer than k views.  When the drill
 * stops acting, its forget and the views' own states decide. */
void observers_quorum_resume(const char *name, uint64_t drill);
/* Forget the combined states and resolve the alarm (views off). */
void observers_quorum_reset(void);
/* {"state", "why", "used", "down", "up", "degraded"} of region r (ids),
 * NULL when off or out of memory. */
cJSON *observers_quorum_region_json(size_t r);
/* {"ok", "k", "usable_views", "usable", "silent", "suspect", "regions":
 * [{"region", "state", "why", "used", "down", "up", "degraded", "age_ms"}]};
 * NULL when off. */
cJSON *observers_quorum_json(void);
/* regiond_quorum_* (docs/metrics.md); nothing when off. */
void observers_quorum_metrics(struct evbuffer *b);

#endif
