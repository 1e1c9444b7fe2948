/* lease — several controllers, one leader: a majority lease over plain
 * regional DynamoDB tables ("cluster" in the config; docs/ha.md).
 *
 * Each lease table holds one item {name (S, key), owner, rvn (record version
 * number: random, new at every write), epoch (N), lease_ms (N), advertise,
 * released (BOOL)}, written only by conditional PutItem in the manner of the
 * published DynamoDB lock client.  An instance leads while it holds the item
 * in a majority of the tables and its monotonic clock is before send_until:
 * the SEND time of the write that gave it that majority, plus lease_ms, less
 * margin_ms.  Another instance takes an item only when its rvn has not changed
 * for a full lease_ms on the taker's own monotonic clock, counted from the
 * first answer that showed it (or at once from a holder's release marker).
 * Clock assumption: monotonic clocks run within 5 % of the true rate; no wall
 * clock is ever compared between hosts.
 *
 * Everything runs from the loop: one round every renew_ms while leading
 * (renew what we hold, read the rest, then take what is free), every
 * min(follow_ms, renew_ms) while following, each call bounded by a deadline
 * shorter than renew_ms; a follower's take is armed for the moment a
 * majority of the items it read expire on its clock, not its next round.
 * With cluster.former_name (a rename under way) every table holds a second
 * item keyed by the former name, read, taken and renewed in the same rounds;
 * a term needs a majority of each (lease_calc.h, lease_pair_*), and a live
 * item of the former name written by another set (an instance still on the
 * former name) stops this instance (lease_tset.c; docs/ha.md, "Renaming the
 * cluster").
 * The module reports up through lease_notify_fn. */
#ifndef REGIOND_LEASE_H
#define REGIOND_LEASE_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>

#include "config/cfg.h"

typedef enum {
    LEASE_NOTE_LEADING,   /* we lead now: lease_epoch() is the new term's */
    LEASE_NOTE_LOST,      /* we no longer lead (expired, a renewal round lost the majority, stepped down) */
    LEASE_NOTE_VIEW,      /* the holder seen changed (lease_holder()) */
    LEASE_NOTE_RENEWED,   /* still leading, same epoch: lease_send_until_ms() moved */
    LEASE_NOTE_TABLES,    /* which tables answer changed, or the first round ended (status "tables") */
} lease_note_t;

typedef void (*lease_notify_fn)(lease_note_t what);

/* Start from the config: a no-op (0) when the config has no cluster
 * section.  notify may be NULL.  -1 when memory runs out (logged). */
int lease_init(const cfg_t *cfg, lease_notify_fn notify);

/* A reload: new timings and advertise address are taken at the next round;
 * a changed set of tables, name or instance_id stops leading at once and
 * starts over with the new ones (the items held expire after lease_ms: no
 * release is waited for inside a loop callback); no cluster section any
 * more: the lease stops. */
void lease_configure(const cfg_t *cfg);

/* Stop: a holder stops leading first, then releases what it holds
 * (conditional on its rvn; waits at most about a second for the answers). */
void lease_fini(void);

bool lease_enabled(void);

/* We hold a majority and the monotonic clock is before send_until. */
bool lease_leading(void);

/* Our term's epoch; 0 when not leading. */
uint64_t lease_epoch(void);

/* Monotonic ms after which the leader sends nothing; 0 when not leading. */
uint64_t lease_send_until_ms(void);

/* Stop leading now (e.g. the Route 53 guard showed a higher epoch): LOST is
 * notified, the held items are released and no take is tried for lease_ms. */
void lease_step_down(const char *why);

/* The last term this instance lost since the lease started: its epoch (0
 * none) and why ("" none); valid in LEASE_NOTE_LOST. */
const char *lease_last_loss(uint64_t *epoch);

/* An epoch seen outside the tables (the Route 53 guard's, when it fenced
 * us): every later term of this instance starts above it. */
void lease_learn_epoch(uint64_t epoch);

/* The holder seen on a majority of the tables (ourselves when leading). */
typedef struct {
    bool known;
    char id[65];
    char advertise[513];          /* "" when the holder advertises none */
    uint64_t epoch;
    int64_t since_wall_ms;        /* when this instance first saw that holder and epoch */
} lease_holder_t;

/* The holder (a leader whose term ran out before its timer fired loses
 * first, so it never names itself after its send_until). */
void lease_holder(lease_holder_t *h);

/* The last holder seen (known false: none yet); since_wall_ms is when it
 * was last seen holding. */
void lease_last_holder(lease_holder_t *h);

/* The last call to a majority of the tables got an answer: this instance
 * can tell who leads (false when the lease is off). */
bool lease_sees_majority(void);

/* What this instance can tell about the lease, for a person: "leading
 * (epoch E)", "instance ID leads (epoch E)[ at URL]", "no instance leads now", or,
 * when it reaches fewer than a majority of the tables (it cannot tell who
 * leads), "reaches R of N lease tables; last leader seen: ID epoch E at
 * TIME" (or "...; no leader seen yet").  "" when off. */
void lease_sight(char *buf, size_t len);

/* {"enabled", "instance_id", "monotonic_ms" (this host's monotonic clock, for
 *  comparing rates), "leading", "epoch", "send_until_in_ms",
 *  "holder": {"id", "advertise", "epoch", "since"} | null,
 *  "last_leader": {"id", "advertise", "epoch", "seen"} | null (the last holder
 *  seen, and when), "sight" (lease_sight's text), "majority",
 *  "reachable", "tables": [{"region", "table", "reachable", "held",
 *  "owner", "epoch", "set" (own/other/unreadable/none: the set of lease tables its item names),
 *  "last_error"}], "former_name" (cluster.former_name, or null), "former_tables" (with former_name:
 *  the former name's items, as "tables"), "takeovers", "lost", "tables_set": {"fingerprint", "tables"} (ours),
 *  "tables_mismatch" (why another set keeps us from taking, or null)}; NULL when off. */
cJSON *lease_status_json(void);

/* regiond_lease_* (docs/metrics.md); nothing when off. */
void lease_metrics(struct evbuffer *b);

#endif
