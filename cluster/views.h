/* views — every observer publishes its own view of the regions and reads
 * every other's ("cluster.quorum", issue 18 first slice; docs/ha.md
 * "Observers").  Off without cluster.quorum: no item written or read.
 *
 * Each observer writes one item "<cluster.name>#view#<instance id>" to the
 * lease tables through the replica machinery (cluster/replica.h: a
 * conditional PutItem on every table, counted when a majority took it; reads
 * are ConsistentRead GetItems, valid when a majority answered, the highest
 * (epoch, seq) taken).  epoch is this run's incarnation: one above the
 * highest found for our item at start (read again whenever a table refuses
 * a write as older); seq grows with each write.  A write goes out when a
 * region's state changes (checked every 250 ms) and every publish_ms as a
 * heartbeat, leader or not.  Every publish_ms each observer's item is read;
 * a view is taken only when its document decodes (cluster/view_doc.h), and
 * its freshness is the reader's own monotonic time since that view's (epoch,
 * seq) changed: silent after 3 publish_ms.  A refused item is ignored
 * (the last good view kept, aging) and named in alarm "cluster-view".
 * The views are shown only: no decision uses them yet. */
#ifndef REGIOND_VIEWS_H
#define REGIOND_VIEWS_H

#include <stdbool.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>

#include "cluster/view_doc.h"
#include "config/cfg.h"

/* This instance's view now: observer, regions (state, reason, age_ms,
 * probes and failures of the last window) and window_ms.  heartbeat: a new
 * window starts (the counts are those since the last heartbeat call).
 * 0, or -1 when it cannot be built (nothing is written). */
typedef int (*views_local_fn)(view_t *out, bool heartbeat);

/* Start (a no-op without cluster.quorum).  0, or -1 out of memory. */
int views_init(const cfg_t *cfg, views_local_fn local);
/* A reload: the same observers, name, tables and instance keep their state;
 * other settings start over. */
void views_configure(const cfg_t *cfg);
void views_fini(void);

/* {"self", "k", "n", "publish_ms", "silent_after_ms", "quorum_applied": false,
 *  "publishing", "epoch", "seq", "writes": {"sent", "ok", "failed", "last_error"},
 *  "views": [{"observer", "self", "fresh", "seen", "age_ms", "epoch", "seq",
 *  "suspect", "refused", "read_error", "regions": [{"region", "state",
 *  "reason", "age_ms", "probes", "failures"}]}]}; NULL when off. */
cJSON *views_status_json(void);

/* regiond_observer_* (docs/metrics.md); nothing when off. */
void views_metrics(struct evbuffer *b);

#endif
