/* views — every observer publishes its own view of the regions and reads
 * every other's ("cluster.quorum", issue 18 first slice; docs/ha.md
 * "Observers").  Off without cluster.quorum: no item written or read.
 *
 * (During a rename, cluster.former_name, the same item under the former
 * name is written too, with the same (epoch, seq), and every observer's is
 * read under both names: the view held, with its tables' drills, is the
 * key's whose item changed last; known defect 30.)
 * Each observer writes one item "<cluster.name>#view#<instance id>" to the
 * lease tables through the replica machinery (cluster/replica.h: a
 * conditional PutItem on every table, counted when a majority took it; reads
 * are ConsistentRead GetItems, each table's item judged by
 * cluster/view_pick.h: bad items ignored and named, valid when a majority
 * answered with a valid item or none, the highest valid (epoch, seq) whose
 * doc decodes taken).  epoch is this run's incarnation: one above the
 * highest valid one found for our item at start (read again whenever a
 * table refuses a write as older, unless that table holds an item of ours
 * we cannot replace); seq grows with each write.  A write goes out when a
 * region's state changes (checked every 250 ms) and every publish_ms as a
 * heartbeat, leader or not.  Every publish_ms each observer's item is read;
 * a view is taken only when its document decodes (cluster/view_doc.h), and
 * its freshness is the reader's own monotonic time since that view's (epoch,
 * seq) changed: silent after 3 publish_ms.  A refused item is ignored
 * (the last good view kept, aging) and named in alarm "cluster-view".
 * Each view says whether its writer marks it suspect (cluster/suspect.h:
 * judged by the local view function every 250 ms, with this module's
 * views_tables_quiet_ms()).
 * The leader's decisions take them through the quorum rule
 * (daemon/observers_quorum.c, failover/quorum.h). */
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

/* Start (a no-op without cluster.quorum), before the loop runs: reads the
 * epoch saved in state_dir (views_own.c), the one blocking read; a reload
 * never reads it again.  0, or -1 out of memory. */
int views_init(const cfg_t *cfg, views_local_fn local);
/* A reload: the same observers, name, tables and instance keep their state;
 * other settings start over. */
void views_configure(const cfg_t *cfg);
void views_fini(void);

/* How long (ms) since the lease tables last answered this observer: the
 * older of its last view write and its last view read that a majority of
 * the tables answered (a write refused as older is an answer).  error: the
 * last error from them ("" none).  0 when off. */
uint64_t views_tables_quiet_ms(char *error, size_t len);
/* publish_ms (0 when off). */
uint32_t views_publish_ms(void);

/* {"self", "k", "n", "publish_ms", "silent_after_ms", "quorum_applied": true,
 *  "publishing", "epoch", "seq", "writes": {"sent", "ok", "failed", "last_error"},
 *  "views": [{"observer", "self", "fresh", "seen", "age_ms", "epoch", "seq",
 *  "suspect", "suspect_reason" (null when not suspect; this instance's own
 *  from its latest local view), "refused", "read_error", "regions": [{"region", "state",
 *  "reason", "age_ms", "probes", "failures"}]}]}; NULL when off. */
cJSON *views_status_json(void);

/* regiond_observer_* (docs/metrics.md); nothing when off. */
void views_metrics(struct evbuffer *b);

/* Called after every read of an observer's item (a view taken, refused or
 * not read: views may have changed or aged).  Kept across views_init. */
typedef void (*views_read_fn)(void);
void views_on_read(views_read_fn fn);

/* One observer as this instance holds it (views_get). */
typedef struct {
    const char *id;
    bool self;
    bool seen;               /* a decoded view held */
    bool fresh;              /* that view changed within silent_after_ms (reader's clock) */
    uint64_t age_ms;         /* since that view changed (reader's clock); UINT64_MAX when none held */
    const view_t *view;      /* the last good view, NULL when none */
} views_obs_t;

/* The configured observers (0 when off), observer i (config order) into
 * *out (0, or -1 when i is out of range), k, silent_after_ms, and the
 * monotonic ms when the views started. */
size_t views_n(void);
int views_get(size_t i, views_obs_t *out);
uint32_t views_k(void);
uint64_t views_silent_ms(void);
uint64_t views_started_ms(void);

/* The id of a fail drill on region that observer i's items name in a
 * majority of the lease tables, agreeing on its id (each table's item that
 * decodes counts; a table that did not answer, or holds a bad item, does
 * not), or 0: one item in one table never makes a drill (docs/ha.md
 * "Drills under the quorum rule", known defect 28). */
uint64_t views_drill_agreed(size_t i, const char *region);

#endif
