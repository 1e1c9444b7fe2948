/* view_pick — which of the lease tables' items of one observer's view a
 * reader takes, and which epoch the observer itself learns (docs/ha.md
 * "Observers", known defects 26 and 28).  Pure: no I/O, no globals.
 *
 * Each table answers a GetItem with an item (DynamoDB attribute values) or
 * none.  An item is valid when epoch and seq are whole numbers (type N,
 * digits only) no larger than VIEW_PICK_NUM_MAX and doc is a string; any
 * other item (an epoch that is not a number, a string, a huge number,
 * missing members, wrong types) is bad: ignored, never taken for the
 * highest, and named with why.  So one bad item in one table neither hides
 * the observer's view nor stops its writes.
 *
 * A read counts (ok) when a majority of all the tables answered with a
 * valid item or with none.  Readers try the valid items from the highest
 * (epoch, seq) down and take the first whose doc decodes; the observer's
 * own incarnation is one above the highest valid epoch below the limit. */
#ifndef REGIOND_VIEW_PICK_H
#define REGIOND_VIEW_PICK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "cluster/view_doc.h"
#include "config/cfg.h"

#define VIEW_PICK_NUM_MAX 9007199254740992ull   /* 2^53: an epoch or seq above is bad */
#define VIEW_PICK_TABLES CFG_MAX_LEASE_TABLES

typedef enum { VIEW_ITEM_NONE = 0, VIEW_ITEM_VALID, VIEW_ITEM_BAD } view_item_kind_t;

typedef struct {
    bool answered;             /* the table answered the read */
    view_item_kind_t kind;     /* NONE: answered with no item (or did not answer) */
    uint64_t epoch, seq;       /* VALID only */
    const char *doc;           /* VALID only: points into the item */
    char why[120];             /* BAD only: what was wrong */
    bool unwhole;              /* BAD only: epoch and seq numbers (type N) up to 2^53 and doc a string, one
                                * number not whole (4.5): the only bad item a write's condition compares,
                                * so our write over it is refused when it is above ours (replica.h) */
} view_item_t;

/* Table i's answer: item NULL when the table held none. */
void view_item_parse(const cJSON *item, view_item_t *out);

typedef struct {
    bool ok;                   /* a majority of the tables answered with a valid item or none */
    bool learn_ok;             /* a majority of the tables answered at all, a bad item counting: the
                                * observer's read of its own item (view_pick_learn, known defect 38) */
    size_t n_valid, n_bad;
    size_t order[VIEW_PICK_TABLES];   /* the valid items, highest (epoch, seq) first (n_valid of them) */
    uint32_t bad_mask;         /* bit i: table i holds a bad item */
} view_pick_t;

/* items[0..n) (n at most VIEW_PICK_TABLES) into *out. */
void view_pick(const view_item_t *items, size_t n, view_pick_t *out);

/* The epoch the observer takes from its own item's read, and in *seq the
 * seq its next write goes above: one above the highest valid epoch below
 * VIEW_PICK_NUM_MAX (seq 0); when the highest is at the limit, that epoch
 * and its seq (a write (2^53, seq + 1) replaces it).  An item at (2^53,
 * 2^53) cannot be gone above and is left out (its table refuses our writes;
 * *at_limit set); 1 when nothing else is valid.  0 when a majority of the
 * tables did not answer (learn_ok false); a table that answered with a bad
 * item counts as answered (docs/ha.md known defects 35 and 38).
 *
 * Why a bad item's table counts here, while a reader counts it as no
 * answer: the observer is the only writer of its own item, and the learn
 * exists only so that its next (epoch, seq) goes above every item of its
 * own that some table still holds, which a reader would otherwise take
 * over the new ones.  A bad item hides nothing in its table: it replaced
 * whatever item of ours was there, and every reader ignores it, so no
 * table that answered can hold an item of ours above what is learnt.  Only
 * the tables that did not answer may; a majority of answers means that a
 * write of ours that counted (a majority took it) was seen unless a bad
 * item has since replaced it in a table that answered -- then it survives
 * only in tables that did not answer, a minority, where our next write is
 * refused as older and the observer learns again (views.c written()).
 * Until then a reader whose majority includes such a table may take that
 * older view; the observer's new items are above it all the same, as its
 * epoch is learnt above the one it saved (view_pick_above_saved, known
 * defect 38's review).  Counting the bad table as no answer
 * instead kept the observer silent for every reader for as long as the
 * bad item and one unreachable table lasted (defect 38). */
uint64_t view_pick_learn(const view_item_t *items, const view_pick_t *p, uint64_t *seq, bool *at_limit);
/* The epoch to write under, from view_pick_learn's e (0: none) and *seq
 * and the last epoch this instance saved (0: none): above saved (seq 0)
 * when e is not, so a restart never writes an epoch it wrote before even
 * when the tables that held its last items did not answer (a bad item
 * replaced one of them); e as it is at the epoch limit. */
uint64_t view_pick_above_saved(uint64_t e, uint64_t *seq, uint64_t saved);

/* "table: why; ..." of the bad items (names[i] table i's label) into buf. */
void view_pick_bad_str(const view_item_t *items, size_t n, const char *const *names, char *buf, size_t len);

/* The id of a fail drill on region named by the items of a majority of
 * all n_tables tables, agreeing on its id (tdrills[t][0..n_tdrills[t]):
 * table t's item's drills; 0 for a table without a decoded item), or 0:
 * one item in one table never makes a drill (known defect 28). */
uint64_t view_pick_drill_agreed(const size_t *n_tdrills, const view_drill_t (*tdrills)[VIEW_MAX_DRILLS],
                                size_t n_tables, const char *region);

#endif
