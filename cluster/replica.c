/* replica — a document replicated to a majority of the lease tables (see
 * replica.h).  One round at a time: a read (GetItem ConsistentRead on every
 * table) or a write (a conditional PutItem on every table); what is asked
 * for meanwhile waits, a write's document replaced by a later one. */
#include "cluster/replica.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "aws/ddb_call.h"
#include "core/log.h"
#include "core/loop.h"

typedef enum { RP_IDLE, RP_READ, RP_WRITE } rp_phase_t;

struct replica_obj;

typedef struct {
    struct replica_obj *o;
    char region[65];
    char table[256];
    ddb_req_t *req;
    struct event *deadline;
} rp_tab_t;

/* One item key on the lease tables: its rounds, one at a time. */
struct replica_obj {
    replica_obj_fn notify;
    void *ctx;
    char id[65];
    char key[300];
    uint32_t deadline_ms;
    rp_tab_t tabs[CFG_MAX_LEASE_TABLES];
    size_t n;
    rp_phase_t phase;
    unsigned in_flight;
    replica_result_t res;         /* the round's, as the answers come */
    bool read_wanted;
    bool keep;                    /* hand every table's item to the READ note */
    cJSON *items[CFG_MAX_LEASE_TABLES];   /* a read's items, when kept */
    uint64_t below;               /* a read ignores items at or above it (0: none) */
    bool overwrite;               /* remember the ignored items: writes may replace them */
    cJSON *ignored[CFG_MAX_LEASE_TABLES];   /* the last read's ignored item, per table */
    bool ign_valid[CFG_MAX_LEASE_TABLES];   /* ...valid, at or above the term (replica_pick's above_mask) */
    bool landed;                  /* this term's guard bump landed (replica_obj_set_landed) */
    char *wait_doc;               /* the document waiting for the next write */
    uint64_t wait_tag, wait_gen, wait_epoch, wait_seq;
    uint32_t wait_over;           /* its tables written over a bad item (replica_obj_put_over) */
};

static void next(replica_obj_t *o);

static size_t majority(const replica_obj_t *o)
{
    return o->n / 2 + 1;
}

static void note_error(const rp_tab_t *t, const char *what)
{
    replica_result_t *res = &t->o->res;
    size_t off = strlen(res->error);
    if (off + 8 < sizeof(res->error))
        snprintf(res->error + off, sizeof(res->error) - off, "%s%s/%s: %s", off ? "; " : "", t->region,
                 t->table, what);
}

static void free_items(replica_obj_t *o)
{
    for (size_t i = 0; i < CFG_MAX_LEASE_TABLES; i++) {
        cJSON_Delete(o->items[i]);
        o->items[i] = NULL;
    }
}

static void forget_ignored(replica_obj_t *o)
{
    for (size_t i = 0; i < CFG_MAX_LEASE_TABLES; i++) {
        cJSON_Delete(o->ignored[i]);
        o->ignored[i] = NULL;
        o->ign_valid[i] = false;
    }
}

/* The items a read ignored, kept for the writes after it (replica_obj_set_below):
 * none kept when a copy fails (its table then refuses our writes, as before). */
static void keep_ignored(replica_obj_t *o, uint32_t bad_mask, uint32_t above_mask, cJSON *const *items)
{
    forget_ignored(o);
    for (size_t i = 0; o->overwrite && i < o->n; i++)
        if ((bad_mask >> i & 1u) && items[i]) {
            o->ignored[i] = cJSON_Duplicate(items[i], 1);
            o->ign_valid[i] = above_mask >> i & 1u;
        }
}

/* A read's items into r and *doc (replica_pick); the ignored ones named in
 * r's error and in a log line. */
static void read_pick(replica_obj_t *o, replica_result_t *r, cJSON *const *items, char **doc)
{
    char labels[CFG_MAX_LEASE_TABLES][330];
    const char *names[CFG_MAX_LEASE_TABLES];
    char bad[400] = "";
    for (size_t i = 0; i < o->n; i++) {
        snprintf(labels[i], sizeof(labels[i]), "%s/%s", o->tabs[i].region, o->tabs[i].table);
        names[i] = labels[i];
    }
    bool oom = replica_pick((const cJSON *const *)items, r->item_answered, names, o->n, o->below, r, doc, bad,
                            sizeof(bad)) == -1;
    r->below = o->below;
    keep_ignored(o, r->bad_mask, r->above_mask, items);
    size_t off = strlen(r->error);
    if (oom && off + 8 < sizeof(r->error))
        snprintf(r->error + off, sizeof(r->error) - off, "%sthe doc: out of memory", off ? "; " : "");
    if (!bad[0])
        return;
    off = strlen(r->error);
    if (off + 8 < sizeof(r->error))
        snprintf(r->error + off, sizeof(r->error) - off, "%signored: %s", off ? "; " : "", bad);
    log_msg(LOG_WARNING, "msg=\"replicated item not valid: ignored\" key=\"%s\" items=\"%s\" ok=%d", o->key,
            bad, r->ok);
}

/* The round's last answer: report, then start whatever waits. */
static void round_done(replica_obj_t *o)
{
    rp_phase_t p = o->phase;
    replica_result_t r = o->res;
    char *doc = NULL;
    cJSON *items[CFG_MAX_LEASE_TABLES];   /* taken out: the note may start the next round */
    memcpy(items, o->items, sizeof(items));
    memset(o->items, 0, sizeof(o->items));
    o->phase = RP_IDLE;
    if (p == RP_READ) {
        read_pick(o, &r, items, &doc);
        r.doc = doc;
        for (size_t i = 0; i < o->n; i++)
            r.items[i] = o->keep ? items[i] : NULL;
    } else {
        r.ok = r.accepted >= majority(o);
    }
    if (!r.ok && !r.error[0])
        snprintf(r.error, sizeof(r.error), "no majority");
    if (p == RP_WRITE && !r.ok)
        log_msg(LOG_WARNING, "msg=\"replicated item not written to a majority\" key=\"%s\" epoch=%" PRIu64
                " seq=%" PRIu64 " accepted=%zu tables=%zu error=\"%s\"", o->key, r.epoch, r.seq, r.accepted,
                r.tables, r.error);
    if (o->notify)
        o->notify(o->ctx, p == RP_READ ? REPLICA_NOTE_READ : REPLICA_NOTE_WRITTEN, &r);
    free(doc);
    for (size_t i = 0; i < CFG_MAX_LEASE_TABLES; i++)
        cJSON_Delete(items[i]);
    if (o->phase == RP_IDLE)
        next(o);
}

static void one_done(rp_tab_t *t)
{
    replica_obj_t *o = t->o;
    t->req = NULL;
    if (t->deadline)
        evtimer_del(t->deadline);
    if (o->in_flight > 0 && --o->in_flight == 0)
        round_done(o);
}

/* One table's answer: its item kept as it came, for the pick at the end
 * of the round (replica_pick: an item that is not valid is ignored, never
 * the highest; known defect 36). */
static void read_one(rp_tab_t *t, const cJSON *resp)
{
    replica_obj_t *o = t->o;
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(resp, "Item");
    size_t i = (size_t)(t - o->tabs);
    o->res.answered++;
    o->items[i] = it ? cJSON_Duplicate(it, 1) : NULL;
    o->res.item_answered[i] = !it || o->items[i];
    if (it && !o->items[i])
        note_error(t, "out of memory");
}

static void on_read(void *arg, int ok, const cJSON *resp, const char *error, double elapsed_ms)
{
    (void)elapsed_ms;
    rp_tab_t *t = arg;
    if (ok)
        read_one(t, resp);
    else
        note_error(t, error ? error : "failed");
    one_done(t);
}

static void on_write(void *arg, int ok, int unknown, const cJSON *resp, const char *error)
{
    (void)resp;
    rp_tab_t *t = arg;
    if (ok) {
        size_t i = (size_t)(t - t->o->tabs);
        t->o->res.accepted++;
        t->o->res.answered++;
        t->o->res.accepted_mask |= 1u << (unsigned)i;
        if (t->o->ignored[i])
            log_msg(LOG_WARNING, "msg=\"replicated item: the item ignored at the last read was written over\" "
                    "key=\"%s\" table=\"%s/%s\"", t->o->key, t->region, t->table);
        cJSON_Delete(t->o->ignored[i]);
        t->o->ignored[i] = NULL;
    } else if (error && strstr(error, "ConditionalCheckFailed")) {
        t->o->res.answered++;
        t->o->res.refused++;
        t->o->res.refused_mask |= 1u << (unsigned)(t - t->o->tabs);
        note_error(t, "holds a newer state (a higher epoch, or seq of this epoch): not replaced");
    } else {
        note_error(t, error ? error : unknown ? "outcome unknown" : "failed");
    }
    one_done(t);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    rp_tab_t *t = arg;
    char msg[64];
    ddb_cancel(t->req);
    snprintf(msg, sizeof(msg), "no answer within %u ms", t->o->deadline_ms);
    note_error(t, msg);
    one_done(t);
}

static cJSON *attr(cJSON *obj, const char *key, const char *type, const char *val)
{
    cJSON *a = cJSON_AddObjectToObject(obj, key);
    return a && cJSON_AddStringToObject(a, type, val) ? a : NULL;
}

static cJSON *get_body(const rp_tab_t *t)
{
    cJSON *b = cJSON_CreateObject();
    cJSON *k = b && cJSON_AddStringToObject(b, "TableName", t->table) ? cJSON_AddObjectToObject(b, "Key") : NULL;
    if (!k || !attr(k, "name", "S", t->o->key) || !cJSON_AddTrueToObject(b, "ConsistentRead")) {
        cJSON_Delete(b);
        return NULL;
    }
    return b;
}

/* PutItem of (epoch, seq, doc) on its condition (replica_put_cond). */
static cJSON *put_body(const rp_tab_t *t, const char *doc, uint64_t epoch, uint64_t seq, bool over)
{
    char e[24], s[24];
    snprintf(e, sizeof(e), "%" PRIu64, epoch);
    snprintf(s, sizeof(s), "%" PRIu64, seq);
    cJSON *b = cJSON_CreateObject();
    cJSON *it = b && cJSON_AddStringToObject(b, "TableName", t->table) ? cJSON_AddObjectToObject(b, "Item") : NULL;
    bool ok = it && attr(it, "name", "S", t->o->key) && attr(it, "epoch", "N", e) && attr(it, "seq", "N", s)
              && attr(it, "doc", "S", doc) && attr(it, "owner", "S", t->o->id)
              && replica_put_cond(b, e, s, over, t->o->ignored[t - t->o->tabs], t->o->ign_valid[t - t->o->tabs],
                                  t->o->landed);
    if (!ok) {
        cJSON_Delete(b);
        return NULL;
    }
    return b;
}

/* Hand table t its call (body taken over); false when it could not start. */
static bool rp_send(rp_tab_t *t, cJSON *b, bool read)
{
    uint32_t ms = t->o->deadline_ms;
    const struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    if (!t->deadline)
        t->deadline = evtimer_new(loop_base(), on_deadline, t);
    if (!b || !t->deadline) {
        cJSON_Delete(b);
        note_error(t, "out of memory");
        return false;
    }
    t->req = read ? ddb_call_at(t->region, "GetItem", b, on_read, t)
                  : ddb_call_once_at(t->region, "PutItem", b, on_write, t);
    if (!t->req) {
        note_error(t, "the call could not start (see the log)");
        return false;
    }
    evtimer_add(t->deadline, &tv);
    t->o->in_flight++;
    return true;
}

static void start_round(replica_obj_t *o, rp_phase_t p, const char *doc, uint64_t epoch, uint64_t seq,
                        uint32_t over)
{
    memset(&o->res, 0, sizeof(o->res));
    o->res.over_mask = p == RP_WRITE ? over : 0;
    o->res.tables = o->n;
    o->res.epoch = p == RP_WRITE ? epoch : 0;
    o->res.seq = p == RP_WRITE ? seq : 0;
    o->phase = p;
    o->in_flight = 0;
    for (size_t i = 0; i < o->n; i++)
        rp_send(&o->tabs[i],
                p == RP_READ ? get_body(&o->tabs[i]) : put_body(&o->tabs[i], doc, epoch, seq, over & (1u << i)),
                p == RP_READ);
    if (o->in_flight == 0)
        round_done(o);
}

static void start_write(replica_obj_t *o)
{
    char *doc = o->wait_doc;
    uint64_t tag = o->wait_tag, gen = o->wait_gen, epoch = o->wait_epoch, seq = o->wait_seq;
    o->wait_doc = NULL;
    start_round(o, RP_WRITE, doc, epoch, seq, o->wait_over);
    o->res.tag = tag;
    o->res.gen = gen;
    free(doc);
}

static void next(replica_obj_t *o)
{
    if (o->phase != RP_IDLE)
        return;
    if (o->read_wanted) {
        o->read_wanted = false;
        start_round(o, RP_READ, NULL, 0, 0, 0);
    } else if (o->wait_doc) {
        start_write(o);
    }
}

/* ---- one item key ---- */

static void obj_cancel(replica_obj_t *o)
{
    for (size_t i = 0; i < o->n; i++) {
        rp_tab_t *t = &o->tabs[i];
        if (t->req)
            ddb_cancel(t->req);
        t->req = NULL;
        if (t->deadline)
            event_free(t->deadline);
        t->deadline = NULL;
    }
    o->phase = RP_IDLE;
    o->in_flight = 0;
    free_items(o);
}

replica_obj_t *replica_obj_new(const cfg_cluster_t *k, const char *key, uint32_t deadline_ms, replica_obj_fn notify,
                               void *ctx)
{
    replica_obj_t *o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    o->notify = notify;
    o->ctx = ctx;
    snprintf(o->id, sizeof(o->id), "%s", k->instance_id);
    snprintf(o->key, sizeof(o->key), "%s", key);
    o->deadline_ms = deadline_ms;
    o->n = k->n_tables;
    for (size_t i = 0; i < o->n; i++) {
        o->tabs[i].o = o;
        snprintf(o->tabs[i].region, sizeof(o->tabs[i].region), "%s", k->tables[i].region);
        snprintf(o->tabs[i].table, sizeof(o->tabs[i].table), "%s", k->tables[i].table);
    }
    return o;
}

void replica_obj_free(replica_obj_t *o)
{
    if (!o)
        return;
    obj_cancel(o);
    forget_ignored(o);
    free(o->wait_doc);
    free(o);
}

static int obj_put(replica_obj_t *o, const char *doc, uint64_t epoch, uint64_t seq, uint64_t tag, uint64_t gen,
                   uint32_t over)
{
    size_t len = strlen(doc);
    if (len > REPLICA_DOC_MAX) {
        log_msg(LOG_ERR, "msg=\"replicated item not written: too large\" key=\"%s\" bytes=%zu max=%u", o->key, len,
                REPLICA_DOC_MAX);
        return -1;
    }
    char *copy = strdup(doc);
    if (!copy)
        return -1;
    free(o->wait_doc);
    o->wait_doc = copy;
    o->wait_tag = tag;
    o->wait_gen = gen;
    o->wait_epoch = epoch;
    o->wait_seq = seq;
    o->wait_over = over;
    next(o);
    return 0;
}

int replica_obj_put(replica_obj_t *o, const char *doc, uint64_t epoch, uint64_t seq, uint64_t tag, uint64_t gen)
{
    return obj_put(o, doc, epoch, seq, tag, gen, 0);
}

int replica_obj_put_over(replica_obj_t *o, const char *doc, uint64_t epoch, uint64_t seq, uint32_t over_mask)
{
    return obj_put(o, doc, epoch, seq, 0, 0, over_mask);
}

void replica_obj_get(replica_obj_t *o)
{
    o->read_wanted = true;
    next(o);
}

size_t replica_obj_tables(const replica_obj_t *o)
{
    return o->n;
}

bool replica_obj_has_table(const replica_obj_t *o, size_t i, const char *region, const char *table)
{
    return i < o->n && strcmp(o->tabs[i].region, region) == 0 && strcmp(o->tabs[i].table, table) == 0;
}

void replica_obj_set_deadline(replica_obj_t *o, uint32_t ms)
{
    o->deadline_ms = ms;
}

void replica_obj_set_below(replica_obj_t *o, uint64_t below, bool overwrite)
{
    o->below = below;
    o->overwrite = overwrite;
}

void replica_obj_set_landed(replica_obj_t *o, bool landed)
{
    o->landed = landed;
}

void replica_obj_keep_items(replica_obj_t *o)
{
    o->keep = true;
}

bool replica_obj_idle(const replica_obj_t *o)
{
    return o->phase == RP_IDLE && !o->read_wanted && !o->wait_doc;
}

bool replica_obj_is(const replica_obj_t *o, const cfg_cluster_t *k, const char *key)
{
    if (!o || strcmp(o->key, key) != 0 || strcmp(o->id, k->instance_id) != 0 || o->n != k->n_tables)
        return false;
    for (size_t i = 0; i < o->n; i++)
        if (!replica_obj_has_table(o, i, k->tables[i].region, k->tables[i].table))
            return false;
    return true;
}
