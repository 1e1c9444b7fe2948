/* replica_pick — which of a read's items is the replicated state
 * (replica.h replica_pick): the items by the rule of the observers' views
 * (cluster/view_pick.h), known defect 36, and an item at or above the
 * reader's term ignored like a bad one (known defect 37).
 *
 * The read is ok when a majority of the tables answered, whatever their
 * items (known defect 37; defect 36's rule asked for a majority of valid
 * items or none).  Why that is safe: the read asks for the newest state an
 * earlier leader wrote, and a write counted only once a majority took it,
 * so any majority of answers holds a table that took it.  regiond itself
 * never writes a bad item, and its conditional writes only ever replace
 * an item by a newer one: a table holding a bad item was written by
 * someone else, who could have hidden a newer valid item there only by
 * overwriting it -- and who could as well have deleted it, and a table
 * answering "none" always counted.  An item at or above the term is
 * normally no earlier leader's either (a term's epoch is above every
 * earlier one's while a majority of the lease items survive); when they
 * were lost a term can start below a real leader's epoch: it reads an
 * older state, but its guard bump is fenced before any Route 53 change,
 * and its writes replace such a VALID item only once that bump landed
 * (replica_put_cond; the reviewer's F1).  So counting that table as having
 * answered gives a forger nothing it did not have; not counting it let one
 * bad item plus one table down stop every decision. */
#include "cluster/replica.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/view_pick.h"

static void add(char *buf, size_t len, const char *name, const char *why)
{
    size_t off = strlen(buf);
    if (off + 8 < len)
        snprintf(buf + off, len - off, "%s%s: %s", off ? "; " : "", name, why);
}

/* Whether doc is a JSON object (the only doc a reader can take). */
static bool decodes(const char *doc)
{
    cJSON *j = cJSON_Parse(doc);
    bool ok = cJSON_IsObject(j);
    cJSON_Delete(j);
    return ok;
}

/* A valid item at or above below (0: no bound) made bad, with why. */
static void bound(view_item_t *it, uint64_t below, bool *above)
{
    if (!below || it->kind != VIEW_ITEM_VALID || it->epoch < below)
        return;
    it->kind = VIEW_ITEM_BAD;
    it->doc = NULL;
    snprintf(it->why, sizeof(it->why), "epoch %" PRIu64 " is not below this term's %" PRIu64, it->epoch, below);
    *above = true;
}

int replica_pick(const cJSON *const *items, const bool *answered, const char *const *names, size_t n,
                 uint64_t below, replica_result_t *r, char **doc, char *bad, size_t bad_len)
{
    view_item_t it[VIEW_PICK_TABLES];
    view_pick_t p;
    size_t got = 0;
    uint32_t above = 0;
    memset(it, 0, sizeof(it));
    n = n < VIEW_PICK_TABLES ? n : VIEW_PICK_TABLES;
    for (size_t i = 0; i < n; i++) {
        if (!answered[i])
            continue;
        view_item_parse(items[i], &it[i]);
        bool a = false;
        bound(&it[i], below, &a);
        above |= (uint32_t)a << i;
        got++;
    }
    view_pick(it, n, &p);
    if (bad_len)
        view_pick_bad_str(it, n, names, bad, bad_len);
    p.ok = n > 0 && got >= n / 2 + 1;   /* a bad item's table answered too (see the top) */
    r->ok = p.ok;
    r->found = false;
    r->epoch = r->seq = 0;
    r->bad_mask = p.bad_mask;
    r->above_mask = above;
    *doc = NULL;
    for (size_t j = 0; p.ok && j < p.n_valid && !r->found; j++) {
        const view_item_t *v = &it[p.order[j]];
        if (!decodes(v->doc)) {   /* passed over, named like a bad item */
            r->bad_mask |= 1u << p.order[j];
            add(bad, bad_len, names[p.order[j]], "doc is not a JSON object");
            continue;
        }
        r->found = true;
        r->epoch = v->epoch;
        r->seq = v->seq;
        *doc = strdup(v->doc);
        if (!*doc) {
            r->ok = false;
            return -1;
        }
    }
    return 0;
}
