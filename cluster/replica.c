/* replica — a document replicated to a majority of the lease tables (see
 * replica.h).  One round at a time: a read (GetItem ConsistentRead on every
 * table) or a write (a conditional PutItem on every table); what is asked
 * for meanwhile waits, a write's document replaced by a later one. */
#include "cluster/replica.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "aws/ddb_call.h"
#include "cluster/lease.h"
#include "core/log.h"
#include "core/loop.h"

typedef enum { RP_IDLE, RP_READ, RP_WRITE } rp_phase_t;

typedef struct {
    char region[65];
    char table[256];
    ddb_req_t *req;
    struct event *deadline;
} rp_tab_t;

static struct {
    bool on;
    replica_notify_fn notify;
    char id[65];
    char key[300];                /* "<cluster.name>#control" */
    uint32_t renew_ms;
    rp_tab_t tabs[CFG_MAX_LEASE_TABLES];
    size_t n;
    rp_phase_t phase;
    unsigned in_flight;
    replica_result_t res;         /* the round's, as the answers come */
    char *best_doc;               /* a read's: the doc of the highest item so far */
    bool read_wanted;
    char *wait_doc;               /* the document waiting for the next write */
    uint64_t wait_tag, wait_gen;
    uint64_t seq_epoch, seq;      /* our writes' seq counts up within each term */
} rp;

static void next(void);

static size_t majority(void)
{
    return rp.n / 2 + 1;
}

static void note_error(const rp_tab_t *t, const char *what)
{
    size_t off = strlen(rp.res.error);
    if (off + 8 < sizeof(rp.res.error))
        snprintf(rp.res.error + off, sizeof(rp.res.error) - off, "%s%s/%s: %s", off ? "; " : "", t->region,
                 t->table, what);
}

/* The round's last answer: report, then start whatever waits. */
static void round_done(void)
{
    rp_phase_t p = rp.phase;
    replica_result_t r = rp.res;
    char *doc = rp.best_doc;
    rp.best_doc = NULL;
    rp.phase = RP_IDLE;
    if (p == RP_READ) {
        r.ok = r.answered >= majority();
        r.doc = doc;
    } else {
        r.ok = r.accepted >= majority();
    }
    if (!r.ok && !r.error[0])
        snprintf(r.error, sizeof(r.error), "no majority");
    if (p == RP_WRITE && !r.ok)
        log_msg(LOG_WARNING, "msg=\"replicated state not written to a majority\" epoch=%" PRIu64 " seq=%" PRIu64
                " accepted=%zu tables=%zu error=\"%s\"", r.epoch, r.seq, r.accepted, r.tables, r.error);
    if (rp.notify)
        rp.notify(p == RP_READ ? REPLICA_NOTE_READ : REPLICA_NOTE_WRITTEN, &r);
    free(doc);
    if (rp.on && rp.phase == RP_IDLE)
        next();
}

static void one_done(rp_tab_t *t)
{
    t->req = NULL;
    if (t->deadline)
        evtimer_del(t->deadline);
    if (rp.in_flight > 0 && --rp.in_flight == 0)
        round_done();
}

static bool num_attr(const cJSON *it, const char *k, uint64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(it, k), "N");
    if (!cJSON_IsString(v) || !v->valuestring[0] || strlen(v->valuestring) > 19)
        return false;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v->valuestring, &end, 10);
    if (errno || *end || v->valuestring[0] == '-')
        return false;
    *out = x;
    return true;
}

/* One table's item: the highest (epoch, seq) so far is kept.  An item whose
 * epoch or seq is not a whole number counts as the highest, with no doc:
 * nobody can tell what it stands for, so it is never taken for the truth. */
static void read_one(rp_tab_t *t, const cJSON *resp)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(resp, "Item");
    rp.res.answered++;
    if (!cJSON_IsObject(it))
        return;
    uint64_t e = UINT64_MAX, s = UINT64_MAX;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(it, "doc"), "S");
    if (!num_attr(it, "epoch", &e) || !num_attr(it, "seq", &s)) {
        note_error(t, "the item's epoch or seq is not a whole number");
        e = s = UINT64_MAX;
        d = NULL;
    }
    if (rp.res.found && (e < rp.res.epoch || (e == rp.res.epoch && s <= rp.res.seq)))
        return;
    rp.res.found = true;
    rp.res.epoch = e;
    rp.res.seq = s;
    free(rp.best_doc);
    rp.best_doc = cJSON_IsString(d) ? strdup(d->valuestring) : NULL;
    if (cJSON_IsString(d) && !rp.best_doc)
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
        rp.res.accepted++;
        rp.res.answered++;
    } else if (error && strstr(error, "ConditionalCheckFailed")) {
        rp.res.answered++;
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
    snprintf(msg, sizeof(msg), "no answer within %u ms", rp.renew_ms * 3 / 4);
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
    if (!k || !attr(k, "name", "S", rp.key) || !cJSON_AddTrueToObject(b, "ConsistentRead")) {
        cJSON_Delete(b);
        return NULL;
    }
    return b;
}

/* PutItem of (epoch, seq, doc), never over a newer (epoch, seq). */
static cJSON *put_body(const rp_tab_t *t, const char *doc, uint64_t epoch, uint64_t seq)
{
    char e[24], s[24];
    snprintf(e, sizeof(e), "%" PRIu64, epoch);
    snprintf(s, sizeof(s), "%" PRIu64, seq);
    cJSON *b = cJSON_CreateObject();
    cJSON *it = b && cJSON_AddStringToObject(b, "TableName", t->table) ? cJSON_AddObjectToObject(b, "Item") : NULL;
    bool ok = it && attr(it, "name", "S", rp.key) && attr(it, "epoch", "N", e) && attr(it, "seq", "N", s)
              && attr(it, "doc", "S", doc) && attr(it, "owner", "S", rp.id);
    cJSON *names = ok ? cJSON_AddObjectToObject(b, "ExpressionAttributeNames") : NULL;
    cJSON *vals = names ? cJSON_AddObjectToObject(b, "ExpressionAttributeValues") : NULL;
    ok = vals && cJSON_AddStringToObject(names, "#n", "name") && cJSON_AddStringToObject(names, "#e", "epoch")
         && cJSON_AddStringToObject(names, "#s", "seq") && attr(vals, ":e", "N", e) && attr(vals, ":s", "N", s)
         && cJSON_AddStringToObject(b, "ConditionExpression",
                                    "attribute_not_exists(#n) OR #e < :e OR (#e = :e AND #s < :s)");
    if (!ok) {
        cJSON_Delete(b);
        return NULL;
    }
    return b;
}

/* Hand table t its call (body taken over); false when it could not start. */
static bool rp_send(rp_tab_t *t, cJSON *b, bool read)
{
    uint32_t ms = rp.renew_ms * 3 / 4;
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
    rp.in_flight++;
    return true;
}

static void start_round(rp_phase_t p, const char *doc, uint64_t epoch, uint64_t seq)
{
    memset(&rp.res, 0, sizeof(rp.res));
    rp.res.tables = rp.n;
    rp.res.epoch = p == RP_WRITE ? epoch : 0;
    rp.res.seq = p == RP_WRITE ? seq : 0;
    rp.phase = p;
    rp.in_flight = 0;
    for (size_t i = 0; i < rp.n; i++)
        rp_send(&rp.tabs[i], p == RP_READ ? get_body(&rp.tabs[i]) : put_body(&rp.tabs[i], doc, epoch, seq),
             p == RP_READ);
    if (rp.in_flight == 0)
        round_done();
}

static void start_write(void)
{
    char *doc = rp.wait_doc;
    uint64_t tag = rp.wait_tag, gen = rp.wait_gen;
    rp.wait_doc = NULL;
    if (!lease_leading()) {   /* the term ended while it waited: a follower never writes */
        free(doc);
        return;
    }
    uint64_t epoch = lease_epoch();
    if (epoch != rp.seq_epoch) {
        rp.seq_epoch = epoch;
        rp.seq = 0;
    }
    start_round(RP_WRITE, doc, epoch, ++rp.seq);
    rp.res.tag = tag;
    rp.res.gen = gen;
    free(doc);
}

static void next(void)
{
    if (rp.phase != RP_IDLE)
        return;
    if (rp.read_wanted) {
        rp.read_wanted = false;
        start_round(RP_READ, NULL, 0, 0);
    } else if (rp.wait_doc) {
        start_write();
    }
}

int replica_write(const char *doc, uint64_t tag, uint64_t gen)
{
    if (!rp.on || !lease_leading())
        return -1;
    size_t len = strlen(doc);
    if (len > REPLICA_DOC_MAX) {
        log_msg(LOG_ERR, "msg=\"replicated state not written: too large\" bytes=%zu max=%u", len, REPLICA_DOC_MAX);
        return -1;
    }
    char *copy = strdup(doc);
    if (!copy)
        return -1;
    free(rp.wait_doc);
    rp.wait_doc = copy;
    rp.wait_tag = tag;
    rp.wait_gen = gen;
    next();
    return 0;
}

void replica_drop(void)
{
    free(rp.wait_doc);
    rp.wait_doc = NULL;
}

int replica_read(void)
{
    if (!rp.on)
        return -1;
    rp.read_wanted = true;
    next();
    return 0;
}

/* ---- the module ---- */

static void cancel_all(void)
{
    for (size_t i = 0; i < rp.n; i++) {
        rp_tab_t *t = &rp.tabs[i];
        if (t->req)
            ddb_cancel(t->req);
        t->req = NULL;
        if (t->deadline)
            event_free(t->deadline);
        t->deadline = NULL;
    }
    rp.phase = RP_IDLE;
    rp.in_flight = 0;
    free(rp.best_doc);
    rp.best_doc = NULL;
}

int replica_init(const cfg_t *cfg, replica_notify_fn notify)
{
    replica_fini();
    rp.notify = notify;
    const cfg_cluster_t *k = &cfg->cluster;
    if (!k->enabled)
        return 0;
    snprintf(rp.id, sizeof(rp.id), "%s", k->instance_id);
    snprintf(rp.key, sizeof(rp.key), "%s#control", k->name);
    rp.renew_ms = k->renew_ms;
    rp.n = k->n_tables;
    for (size_t i = 0; i < rp.n; i++) {
        snprintf(rp.tabs[i].region, sizeof(rp.tabs[i].region), "%s", k->tables[i].region);
        snprintf(rp.tabs[i].table, sizeof(rp.tabs[i].table), "%s", k->tables[i].table);
    }
    rp.on = true;
    return 0;
}

static bool same_tables(const cfg_cluster_t *k)
{
    char key[sizeof(rp.key)];
    snprintf(key, sizeof(key), "%s#control", k->name);
    if (!k->enabled || k->n_tables != rp.n || strcmp(key, rp.key) != 0 || strcmp(k->instance_id, rp.id) != 0)
        return false;
    for (size_t i = 0; i < rp.n; i++)
        if (strcmp(k->tables[i].region, rp.tabs[i].region) != 0 || strcmp(k->tables[i].table, rp.tabs[i].table) != 0)
            return false;
    return true;
}

void replica_configure(const cfg_t *cfg)
{
    if (rp.on && same_tables(&cfg->cluster)) {
        rp.renew_ms = cfg->cluster.renew_ms;
        return;
    }
    bool reread = rp.read_wanted || rp.phase == RP_READ;
    replica_notify_fn n = rp.notify;
    replica_init(cfg, n);
    if (reread)
        replica_read();
}

void replica_fini(void)
{
    cancel_all();
    replica_drop();
    memset(&rp, 0, sizeof(rp));
}
