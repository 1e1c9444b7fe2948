/* views_own — this observer's own item as the tables hold it: a table
 * holding a bad item of ours (not valid by view_pick.h's rule) is written
 * over by our next write and what it held is said (docs/ha.md known defect
 * 38).  Before, such a table refused our writes until someone deleted the
 * item, and with one more table not answering the item under that key was
 * in no majority: every reader of that key lost our view.
 *
 * Why writing over it is safe: the observer is the only writer of its own
 * item; a bad item is ignored by every reader (it is never anyone's view),
 * and it hides nothing we must stay above (view_pick.h, view_pick_learn).
 * The write over it is still conditional (replica_obj_put_over): a valid
 * item of ours that took its place meanwhile is replaced only when older,
 * as always, so a second copy of this instance cannot be undone by it.
 *
 * The epoch we write under is saved in state_dir, and a restart learns
 * above it (read once, at start before the loop runs; a reload keeps the
 * highest one in memory and never reads the file again): a bad item may
 * have replaced our last items in a table that answers while the other
 * table holding them does not answer, and the
 * tables alone would then give an epoch we wrote before (its low seqs
 * below the old items a reader may still see; review of defect 38). */
#include "cluster/views_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/state.h"

static const char *kname(int key)
{
    return key ? vw.former : vw.name;
}

static uint32_t *stuck(int key)
{
    return key ? &vw.fstuck_mask : &vw.stuck_mask;
}

/* "table (why), ..." of the tables of m; with whys from key's last read. */
static void tables_str(uint32_t m, int key, bool whys, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < vw.n_tables && i < CFG_MAX_LEASE_TABLES; i++) {
        if (!(m & (1u << i)) || off + 8 >= len)
            continue;
        int w = whys ? snprintf(buf + off, len - off, "%s%s (%s)", off ? ", " : "", vw.labels[i],
                                vw.stuck_why[key][i])
                     : snprintf(buf + off, len - off, "%s%s", off ? ", " : "", vw.labels[i]);
        off = w < 0 ? off : (size_t)w + off >= len ? len - 1 : off + (size_t)w;
    }
}

void vw_own_read(const view_item_t *items, int key)
{
    uint32_t m = 0, answered = 0, uw = 0, *mask = stuck(key);
    for (size_t i = 0; i < vw.n_tables && i < CFG_MAX_LEASE_TABLES; i++) {
        answered |= items[i].answered ? 1u << i : 0;
        if (!items[i].answered || items[i].kind != VIEW_ITEM_BAD)
            continue;
        m |= 1u << i;
        uw |= items[i].unwhole ? 1u << i : 0;
        snprintf(vw.stuck_why[key][i], sizeof(vw.stuck_why[key][i]), "%s", items[i].why);
    }
    if (m & ~*mask) {
        char t[1000];
        tables_str(m & ~*mask, key, true, t, sizeof(t));
        log_msg(LOG_WARNING, "msg=\"observer view: a table holds a bad item of ours (not a valid item; every reader "
                "ignores it): our next write replaces it\" item=\"%s#view#%s\" tables=\"%s\"", kname(key),
                vw.self_id, t);
    }
    /* a table that did not answer keeps what was known of it */
    *mask = m | (*mask & ~answered);
    vw.unwhole[key] = uw | (vw.unwhole[key] & ~answered);
    vw.unreplaced[key] &= m | ~answered;   /* a table no longer bad: said again if it refuses again */
}

uint32_t vw_own_written(const replica_result_t *r, int key)
{
    uint32_t *mask = stuck(key), done = r->over_mask & r->accepted_mask;
    uint32_t kept = r->over_mask & vw.unwhole[key];   /* the write over it cannot replace it */
    uint32_t refused = r->refused_mask & kept & ~vw.unreplaced[key];
    char t[1000];
    if (done) {
        tables_str(done, key, true, t, sizeof(t));
        log_msg(LOG_WARNING, "msg=\"observer view: replaced a bad item of ours\" item=\"%s#view#%s\" epoch=%" PRIu64
                " seq=%" PRIu64 " replaced=\"%s\"", kname(key), vw.self_id, r->epoch, r->seq, t);
        *mask &= ~done;
    }
    if (refused) {
        tables_str(refused, key, true, t, sizeof(t));
        log_msg(LOG_WARNING, "msg=\"observer view: a table holds a bad item of ours we cannot replace (a number "
                "above ours that is not whole); it refuses our writes, the others take them: remove it\" "
                "item=\"%s#view#%s\" tables=\"%s\"", kname(key), vw.self_id, t);
        vw.unreplaced[key] |= refused;
    }
    return kept | (*mask & ~r->over_mask);
}

/* The saved epoch as read at start (outside vw: survives views_init), and
 * the warning that read gave, said when the views first start. */
#define OWN_MALFORMED (-1)
static struct {
    uint64_t epoch;
    int warn;   /* 0 none (or said), OWN_MALFORMED, else the read's errno */
} own_start;

void vw_own_load_epoch(void)
{
    size_t len;
    memset(&own_start, 0, sizeof(own_start));
    if (!state_dir())
        return;
    char *buf = state_read(VW_EPOCH_FILE, &len);
    if (!buf) {   /* none yet, or unreadable: the tables alone */
        own_start.warn = errno != ENOENT ? errno : 0;
        return;
    }
    cJSON *doc = cJSON_Parse(buf);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(doc, "epoch");
    own_start.epoch = state_int_in(e, 1, (double)VIEW_PICK_NUM_MAX) ? (uint64_t)e->valuedouble : 0;
    own_start.warn = own_start.epoch ? 0 : OWN_MALFORMED;
    cJSON_Delete(doc);
    free(buf);
}

uint64_t vw_own_start_epoch(void)
{
    if (own_start.warn == OWN_MALFORMED)
        log_msg(LOG_WARNING, "msg=\"observer view: the saved epoch does not read (no epoch 1..2^53); learning from "
                "the tables alone, saved again\" file=\"%s/%s\"", state_dir(), VW_EPOCH_FILE);
    else if (own_start.warn)
        log_msg(LOG_WARNING, "msg=\"observer view: the saved epoch cannot be read; learning from the tables "
                "alone, saved again\" file=\"%s/%s\" error=\"%s\"", state_dir(), VW_EPOCH_FILE,
                state_read_error(own_start.warn));
    own_start.warn = 0;
    return own_start.epoch;
}

void vw_own_save_epoch(void)
{
    if (vw.epoch <= vw.saved_epoch || !state_dir())
        return;
    char buf[64];
    int n = snprintf(buf, sizeof(buf), "{\"epoch\": %" PRIu64 "}\n", vw.epoch);
    if (state_write_async(VW_EPOCH_FILE, buf, (size_t)n) == -1) {
        log_msg(LOG_ERR, "msg=\"observer view: the epoch could not be saved (out of memory); a restart learns "
                "it from the tables alone\" epoch=%" PRIu64, vw.epoch);
        return;
    }
    vw.saved_epoch = vw.epoch;
}
