/* replica — one document replicated to a majority of the lease tables (the
 * controller's state: docs/ha.md, "Replicated controller state").
 *
 * Each lease table holds, beside the lease item, one item keyed
 * "<cluster.name>#control" with {epoch (N): the writer's term, seq (N): grows
 * with each of its writes, doc (S): the document, owner (S): the writer's
 * instance_id}.  Writes are conditional PutItems:
 *   attribute_not_exists(#n) OR #e < :e OR (#e = :e AND #s < :s)
 * so a write of an older term (or an older write of the same term arriving
 * late) never replaces a newer one (DynamoDB Developer Guide, "Condition
 * expressions"; a failed condition is ConditionalCheckFailedException and
 * writes nothing).  A write counts when a majority of the tables took it.
 * A read is a GetItem with ConsistentRead on every table; its result is the
 * item with the highest (epoch, seq) among the answers, valid only when a
 * majority answered: a majority read overlaps every majority write.
 *
 * During a rename (cluster.former_name) the same item is also kept under
 * "<former_name>#control": every read reads both keys (the higher (epoch,
 * seq) wins) and every write puts the same (epoch, seq, doc) under both,
 * counting only when both reached a majority, so that an instance of either
 * name that leads next finds the newest state (replica_ctl.c).
 *
 * Only the leader writes, and only inside its term's send window
 * (lease_leading(), lease_send_until_ms()); the epoch and seq come from the
 * lease at each write.  No retry by the AWS client (a write handed over is
 * sent once); each call has a deadline of 3/4 renew_ms.  Reports up through
 * replica_notify_fn.  Without a cluster section every call is a no-op.
 *
 * The rounds themselves (one at a time per item key, the conditional write,
 * the majority read) are a replica_obj_t, also used for the observers'
 * "#view#" items (cluster/views.h), which are written by every instance
 * with the (epoch, seq) the caller names. */
#ifndef REGIOND_REPLICA_H
#define REGIOND_REPLICA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "config/cfg.h"

#define REPLICA_DOC_MAX (300u * 1024u)   /* well under DynamoDB's 400 KB item limit */

typedef enum {
    REPLICA_NOTE_WRITTEN,   /* a write ended: ok when a majority took it */
    REPLICA_NOTE_READ,      /* a read ended: ok when a majority answered */
} replica_note_t;

typedef struct {
    bool ok;
    size_t tables, answered, accepted;   /* accepted: writes taken */
    size_t refused;         /* WRITTEN: tables that hold a newer (epoch, seq) */
    uint64_t tag;           /* WRITTEN: the tag given with the document */
    uint64_t gen;           /* WRITTEN: the generation given with the document */
    bool found;             /* READ: some answer held an item */
    uint64_t epoch, seq;    /* READ: the highest (epoch, seq) found; WRITTEN: ours */
    const char *doc;        /* READ: that item's doc (valid during the call; NULL when it has none) */
    char error[512];        /* why not ok; READ: also an item that is not ours to read */
    uint32_t refused_mask;  /* WRITTEN: bit i: table i refused (holds a newer or unreadable item) */
    uint32_t accepted_mask; /* WRITTEN: bit i: table i took the write */
    uint32_t over_mask;     /* WRITTEN: the tables written over a bad item (replica_obj_put_over) */
    uint32_t bad_mask;      /* READ: bit i: table i holds an item ignored as not valid (replica_pick) */
    uint64_t below;         /* READ: the bound its items were picked under (replica_obj_set_below) */
    uint32_t above_mask;    /* READ: of bad_mask, the valid items ignored as at or above `below` */
    /* READ of an object that keeps its items (replica_obj_keep_items): table
     * i answered, and its Item as it came (NULL: none); valid during the call */
    bool item_answered[CFG_MAX_LEASE_TABLES];
    const cJSON *items[CFG_MAX_LEASE_TABLES];
} replica_result_t;

typedef void (*replica_notify_fn)(replica_note_t what, const replica_result_t *r);

/* Start (a no-op without a cluster section).  0, or -1 out of memory. */
int replica_init(const cfg_t *cfg, replica_notify_fn notify);

/* A reload: the same tables and name keep what is under way; others cancel
 * it (a read asked for is started again on the new tables). */
void replica_configure(const cfg_t *cfg);
void replica_fini(void);

/* Replicate doc (copied) under the lease's current term: when a write is
 * under way, doc waits and replaces whatever waited before it (the latest
 * wins).  tag and gen come back with the WRITTEN note.  0; -1 when not
 * leading, off, too large or out of memory. */
int replica_write(const char *doc, uint64_t tag, uint64_t gen);

/* Forget a waiting document (the term ended). */
void replica_drop(void);

/* Read every table (once what is under way ended).  0, or -1 when off. */
int replica_read(void);

/* Fold one key's round result r into acc, the merged result of a round over
 * several keys (first: r is the first key's).  ok only when every key's was;
 * answered and accepted the lowest, refused the highest; a read's (epoch,
 * seq) the highest found, *doc (owned by the caller, freed when replaced) a
 * copy of that item's doc (NULL when it has none); each key's error kept,
 * prefixed by key.  0, or -1 out of memory (then acc is not ok). */
int replica_merge(replica_result_t *acc, char **doc, bool first, const char *key, const replica_result_t *r);

/* A read's answers into r (ok, found, epoch, seq, bad_mask) and *doc (a
 * copy, NULL when none), by the observers' views' rule (view_pick.h; known
 * defect 36): table i answered (answered[i]) with items[i] (NULL: none).
 * An item whose epoch or seq is not a whole number up to 2^53 or whose doc
 * is not a string, or (below not 0) whose epoch is not below `below` (the
 * reader's term: not an earlier leader's; known defect 37) is ignored,
 * never the highest; the read is ok when a majority of all n tables
 * answered, an ignored item's table included (replica_pick.c says why that
 * is safe); the state is the highest valid (epoch, seq) whose doc is a JSON
 * object.  The ignored items ("name: why; ...", names[i] table i's) into
 * bad.  0, or -1 out of memory (then r is not ok: read again). */
int replica_pick(const cJSON *const *items, const bool *answered, const char *const *names, size_t n,
                 uint64_t below, replica_result_t *r, char **doc, char *bad, size_t bad_len);

/* ---- the same machinery for any one item key (the observers' views,
 * cluster/views.h): no lease check, the caller names (epoch, seq) ---- */
typedef struct replica_obj replica_obj_t;
typedef void (*replica_obj_fn)(void *ctx, replica_note_t what, const replica_result_t *r);

/* Item KEY on the lease tables of k, as instance k->instance_id (the
 * "owner" written); each call bounded by deadline_ms.  NULL: out of memory. */
replica_obj_t *replica_obj_new(const cfg_cluster_t *k, const char *key, uint32_t deadline_ms, replica_obj_fn notify,
                               void *ctx);
/* Cancel what is under way (no note) and free. */
void replica_obj_free(replica_obj_t *o);
/* Write doc (copied) as (epoch, seq), never over a newer one; while a round
 * is under way it waits, replacing what waited.  0; -1 too large or out of
 * memory. */
int replica_obj_put(replica_obj_t *o, const char *doc, uint64_t epoch, uint64_t seq, uint64_t tag, uint64_t gen);
/* The same, and in the tables of over_mask (bit i: table i) also over an
 * item that is not valid by view_pick.h's rule as far as a condition can
 * tell: epoch or seq missing, not a number or above 2^53, or doc missing or
 * not a string (attribute_type; one number above ours that is not whole
 * still refuses).  For an observer's own item a read named bad (docs/ha.md
 * known defect 38): the caller names what it replaced. */
int replica_obj_put_over(replica_obj_t *o, const char *doc, uint64_t epoch, uint64_t seq, uint32_t over_mask);
/* Read every table (once what is under way ended). */
void replica_obj_get(replica_obj_t *o);
/* Its tables: how many, whether table i is (region, table); a new deadline
 * for the calls that start from now. */
size_t replica_obj_tables(const replica_obj_t *o);
bool replica_obj_has_table(const replica_obj_t *o, size_t i, const char *region, const char *table);
void replica_obj_set_deadline(replica_obj_t *o, uint32_t ms);
/* Hand every table's item to the READ note as it came (the views pick
 * from them themselves: cluster/view_pick.h). */
void replica_obj_keep_items(replica_obj_t *o);
/* The reads that start from now ignore items whose epoch is not below
 * `below` (0: none; replica_pick).  With overwrite, every item a read
 * ignored is remembered per table, and the writes after it may replace it
 * as long as the table still holds it unchanged (its epoch, seq, owner and
 * doc as read, or missing as read): an item no earlier leader wrote does
 * not keep refusing our writes (known defect 37); the next read forgets
 * them. */
void replica_obj_set_below(replica_obj_t *o, uint64_t below, bool overwrite);
/* The writes that start from now may replace an ignored VALID item (at or
 * above the term) only with landed: this term's Route 53 guard bump has
 * landed (known defect 37, the reviewer's F1: a term can start below an
 * earlier leader's epoch when the lease items were lost; its bump is
 * then fenced and it never writes over that leader's state).  A bad item
 * is replaced either way. */
void replica_obj_set_landed(replica_obj_t *o, bool landed);
/* The #control writes ask fn(epoch) whether their term's guard bump has
 * landed (NULL: never; a valid item at or above the term is then never
 * written over). */
void replica_set_landed_fn(bool (*fn)(uint64_t epoch));
/* The condition of a PutItem of (e, s) into b (known defects 35, 37, 38):
 * never over a newer (epoch, seq) but the top (2^53, 2^53); with over, also
 * over an item not valid by view_pick.h's rule; and over ign (the item the
 * last read ignored in this table; NULL: none) while the table still holds
 * it: its epoch and seq (numbers) exactly, any other attribute by type
 * and a string's size -- unless ign_valid (a valid item at or above the
 * term) and not landed (replica_obj_set_landed).  false: out of memory. */
bool replica_put_cond(cJSON *b, const char *e, const char *s, bool over, const cJSON *ign, bool ign_valid,
                      bool landed);
/* Nothing under way or waiting. */
bool replica_obj_idle(const replica_obj_t *o);
/* Whether o is item key on the lease tables of k, as k->instance_id. */
bool replica_obj_is(const replica_obj_t *o, const cfg_cluster_t *k, const char *key);

#endif
