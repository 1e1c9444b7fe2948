/* lease_set — which set of lease tables (and cluster name) a lease item's
 * writer leads over, pure (no loop, no clock; docs/ha.md, "Changing the
 * lease tables or name").
 *
 * Every lease item carries three String attributes:
 *   cluster  the writer's cluster.name (1-255 bytes, no control characters)
 *   tables   its lease tables, "region/table" sorted and joined by ","
 *            (order-independent; at most LEASE_SET_LIST_MAX bytes of
 *            [A-Za-z0-9_.-], "/" and ",")
 *   tset     the first 16 hex digits of SHA-256(cluster "\n" tables)
 * An item read is judged here: none of the three (an item of an older
 * regiond or written by hand: no claim), the reader's own set, another set,
 * or unreadable (a wrong type, a bad length or character, a fingerprint that
 * does not match its list, only some of the three).  Unit-tested in
 * tests/test_lease_set.c with random and mutated items. */
#ifndef REGIOND_LEASE_SET_H
#define REGIOND_LEASE_SET_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#define LEASE_SET_FP_LEN 17        /* 16 hex digits and the NUL */
#define LEASE_SET_LIST_MAX 1700    /* 5 x (64 + 1 + 255) + 4 commas = 1609 */
#define LEASE_SET_NAME_MAX 255

typedef enum {
    LEASE_SET_NONE,    /* the item names no set (older regiond, by hand) */
    LEASE_SET_OWN,     /* the same name and tables as ours */
    LEASE_SET_OTHER,   /* another name or other tables */
    LEASE_SET_BAD,     /* its set cannot be read: counted as another */
} lease_set_kind_t;

/* The canonical list of n tables: "region/table" sorted, joined by ",".
 * 0, or -1 when it does not fit len or a name has a character the list
 * cannot carry. */
int lease_set_canon(const char *const *regions, const char *const *tables, size_t n, char *out, size_t len);

/* The fingerprint of (name, list): 16 lowercase hex digits.  0, or -1 when
 * SHA-256 is not available (out of memory). */
int lease_set_fingerprint(const char *name, const char *list, char out[LEASE_SET_FP_LEN]);

/* Judge item (a DynamoDB Item map, or NULL) against ours (fingerprint).
 * desc (when not NULL) gets, bounded and printable, "name N, tables L" for
 * another set, or why the set cannot be read; "" otherwise.  other_name and
 * other_list (when not NULL, LEASE_SET_NAME_MAX + 1 and LEASE_SET_LIST_MAX +
 * 1 bytes) get another set's name and list. */
lease_set_kind_t lease_set_judge(const cJSON *item, const char *mine_fp, char *desc, size_t dlen, char *other_name,
                                 char *other_list);

/* Whether an item counts toward its writer's set's majority of "own
 * items" (docs/ha.md, "Changing the lease tables or name"): its "won"
 * attribute is {"BOOL": true}, or it has none (an item of a regiond before
 * the attribute: counted as it was).  {"BOOL": false}, or anything else
 * under "won", does not count. */
bool lease_set_won(const cJSON *item);

/* The item (a DynamoDB Item map, or NULL) counts toward our own set's
 * items: it names our set (fingerprint mine_fp) and lease_set_won. */
bool lease_set_counts(const cJSON *item, const char *mine_fp);

/* The "won" an item written now carries: true from a leader (a renewal, a
 * take beside its majority); from a follower (a take, a split vote's
 * release mark) or a release, the won-ness of the item it replaces when that
 * item names our own set (replaced_own_won), else false.  So a set's items
 * count only where a leader of that set wrote, or where such an item stood
 * already; a split vote never adds to its set's count. */
bool lease_set_write_won(bool by_leader, bool replaced_own_won);

/* The tables a follower's take must win: a majority of n when own_won of
 * them answered with a counted item of our own set (lease_set_won), else
 * every one. */
size_t lease_set_need(size_t n, size_t own_won);

/* What list a has that list b lacks, as "x, y" (bounded); "" when none. */
void lease_set_missing(const char *a, const char *b, char *out, size_t len);

#endif
