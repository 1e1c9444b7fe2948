/* replica_ctl — the controller's state on the lease tables (see replica.h):
 * "<name>#control", and during a rename (cluster.former_name) also
 * "<former_name>#control".  With both, every round goes to both keys at once
 * and ends when both ended: a read takes the higher (epoch, seq) of the two,
 * a write puts the same (epoch, seq, doc) under both and counts only when
 * both reached a majority.  So whichever name the next leader reads under
 * (an old-name instance reads only the old key; a renamed one, or one rolled
 * back with former_name, reads both; one that dropped former_name reads only
 * its name's), it finds the newest state (docs/ha.md, "Renaming the
 * cluster"; once known defect 23). */
#include "cluster/replica.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/lease.h"
#include "core/log.h"

typedef enum { CTL_IDLE, CTL_READ, CTL_WRITE } ctl_phase_t;

/* The controller's state ("<name>#control", written by the leader only). */
static struct {
    bool on;
    replica_notify_fn notify;
    replica_obj_t *objs[2];       /* the name's key; the former name's during a rename */
    char keys[2][300];            /* their keys (each obj's note names its own: the merged errors) */
    size_t n;                     /* keys: 1, or 2 with cluster.former_name */
    uint64_t seq_epoch, seq;      /* our writes' seq counts up within each term */
    ctl_phase_t phase;            /* one round over the keys at a time */
    size_t pending;               /* keys whose round has not ended */
    bool starting;                /* inside ctl_start: the end is reported after it */
    replica_result_t res;         /* the round's, merged over the keys */
    char *best_doc;               /* a read's: the doc of the highest (epoch, seq) */
    bool read_wanted;
    char *wait_doc;               /* the document waiting for the next write */
    uint64_t wait_tag, wait_gen;
    bool (*landed)(uint64_t epoch);   /* replica_set_landed_fn */
} rp;

void replica_set_landed_fn(bool (*fn)(uint64_t epoch))
{
    rp.landed = fn;
}

static void append_error(replica_result_t *acc, const char *key, const char *error)
{
    size_t off = strlen(acc->error);
    if (error[0] && off + 8 < sizeof(acc->error))
        snprintf(acc->error + off, sizeof(acc->error) - off, "%s%s: %s", off ? "; " : "", key, error);
}

int replica_merge(replica_result_t *acc, char **doc, bool first, const char *key, const replica_result_t *r)
{
    if (first) {
        *acc = *r;
        acc->doc = NULL;
        acc->error[0] = '\0';
        acc->found = false;
    } else {
        acc->ok = acc->ok && r->ok;
        acc->answered = r->answered < acc->answered ? r->answered : acc->answered;
        acc->accepted = r->accepted < acc->accepted ? r->accepted : acc->accepted;
        acc->refused = r->refused > acc->refused ? r->refused : acc->refused;
        acc->tables = r->tables > acc->tables ? r->tables : acc->tables;
        acc->bad_mask |= r->bad_mask;
    }
    append_error(acc, key, r->error);
    if (!r->found || (acc->found && (r->epoch < acc->epoch || (r->epoch == acc->epoch && r->seq <= acc->seq))))
        return 0;
    acc->found = true;
    acc->epoch = r->epoch;
    acc->seq = r->seq;
    free(*doc);
    *doc = r->doc ? strdup(r->doc) : NULL;
    if (r->doc && !*doc) {
        acc->ok = false;
        append_error(acc, key, "out of memory");
        return -1;
    }
    return 0;
}

static void ctl_next(void);

/* The last key's end: report the merged result, then start what waits. */
static void ctl_end(void)
{
    replica_note_t what = rp.phase == CTL_READ ? REPLICA_NOTE_READ : REPLICA_NOTE_WRITTEN;
    replica_result_t r = rp.res;
    char *doc = rp.best_doc;
    rp.best_doc = NULL;
    rp.phase = CTL_IDLE;
    r.doc = doc;
    if (!r.ok && !r.error[0])
        snprintf(r.error, sizeof(r.error), "no majority");
    if (rp.notify)
        rp.notify(what, &r);
    free(doc);
    ctl_next();
}

static void ctl_note(void *ctx, replica_note_t what, const replica_result_t *r)
{
    (void)what;
    const char *key = ctx;
    if (rp.phase == CTL_IDLE || rp.pending == 0)
        return;
    bool first = rp.pending == rp.n;
    replica_result_t one = *r;
    if (rp.phase == CTL_WRITE)
        one.found = false;   /* a write's (epoch, seq) are ours, whatever the merge keeps */
    replica_merge(&rp.res, &rp.best_doc, first, key, &one);
    if (rp.phase == CTL_WRITE) {
        rp.res.epoch = r->epoch;
        rp.res.seq = r->seq;
    }
    if (--rp.pending == 0 && !rp.starting)
        ctl_end();
}

/* A write of the controller's state takes the lease's term when it starts. */
static bool control_prepare(uint64_t *epoch, uint64_t *seq)
{
    if (!lease_leading())   /* the term ended while it waited: a follower never writes */
        return false;
    uint64_t e = lease_epoch();
    if (e != rp.seq_epoch) {
        rp.seq_epoch = e;
        rp.seq = 0;
    }
    *epoch = e;
    *seq = ++rp.seq;
    return true;
}

/* One round on every key (doc: a write's, taken over).  The keys are idle:
 * a round starts only when the last one ended. */
static void ctl_start(ctl_phase_t p, char *doc, uint64_t tag, uint64_t gen)
{
    uint64_t epoch = 0, seq = 0;
    if (p == CTL_WRITE && !control_prepare(&epoch, &seq)) {
        free(doc);
        return;
    }
    memset(&rp.res, 0, sizeof(rp.res));
    rp.phase = p;
    rp.pending = rp.n;
    rp.starting = true;
    for (size_t i = 0; i < rp.n; i++) {
        if (p == CTL_READ) {   /* an item at or above the term: ignored, written over (replica_obj_set_landed) */
            replica_obj_set_below(rp.objs[i], lease_leading() ? lease_epoch() : 0, lease_leading());
            replica_obj_get(rp.objs[i]);
            continue;
        }
        replica_obj_set_landed(rp.objs[i], rp.landed && rp.landed(epoch));
        if (replica_obj_put(rp.objs[i], doc, epoch, seq, tag, gen) == -1) {
            replica_result_t f = {.tables = replica_obj_tables(rp.objs[i]), .epoch = epoch, .seq = seq,
                                  .tag = tag, .gen = gen};
            snprintf(f.error, sizeof(f.error), "out of memory");
            ctl_note(rp.keys[i], REPLICA_NOTE_WRITTEN, &f);
        }
    }
    free(doc);
    rp.starting = false;
    if (rp.pending == 0)
        ctl_end();
}

static void ctl_next(void)
{
    if (rp.phase != CTL_IDLE)
        return;
    if (rp.read_wanted) {
        rp.read_wanted = false;
        ctl_start(CTL_READ, NULL, 0, 0);
    } else if (rp.wait_doc) {
        char *doc = rp.wait_doc;
        rp.wait_doc = NULL;
        ctl_start(CTL_WRITE, doc, rp.wait_tag, rp.wait_gen);
    }
}

int replica_write(const char *doc, uint64_t tag, uint64_t gen)
{
    if (!rp.on || !lease_leading())
        return -1;
    size_t len = strlen(doc);
    if (len > REPLICA_DOC_MAX) {
        log_msg(LOG_ERR, "msg=\"replicated item not written: too large\" key=\"%s\" bytes=%zu max=%u",
                rp.keys[0], len, REPLICA_DOC_MAX);
        return -1;
    }
    char *copy = strdup(doc);
    if (!copy)
        return -1;
    free(rp.wait_doc);
    rp.wait_doc = copy;
    rp.wait_tag = tag;
    rp.wait_gen = gen;
    ctl_next();
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
    ctl_next();
    return 0;
}

/* ---- the module ---- */

static int key_of(char *out, size_t len, const char *name)
{
    return snprintf(out, len, "%s#control", name) < (int)len ? 0 : -1;
}

int replica_init(const cfg_t *cfg, replica_notify_fn notify)
{
    replica_fini();
    rp.notify = notify;
    const cfg_cluster_t *k = &cfg->cluster;
    if (!k->enabled)
        return 0;
    const char *names[2] = {k->name, k->former_name};
    for (size_t i = 0; i < 2 && names[i]; i++) {
        if (key_of(rp.keys[i], sizeof(rp.keys[i]), names[i]) == -1)
            rp.keys[i][0] = '\0';   /* the config's checks keep names far shorter */
        rp.objs[i] = replica_obj_new(k, rp.keys[i], k->renew_ms * 3 / 4, ctl_note, rp.keys[i]);
        if (!rp.objs[i]) {
            replica_fini();
            return -1;
        }
        rp.n = i + 1;
    }
    rp.on = true;
    return 0;
}

static bool same_keys(const cfg_cluster_t *k)
{
    const char *names[2] = {k->name, k->former_name};
    char key[300];
    if (!k->enabled || rp.n != (k->former_name ? 2u : 1u))
        return false;
    for (size_t i = 0; i < rp.n; i++)
        if (key_of(key, sizeof(key), names[i]) == -1 || !replica_obj_is(rp.objs[i], k, key))
            return false;
    return true;
}

void replica_configure(const cfg_t *cfg)
{
    if (rp.on && same_keys(&cfg->cluster)) {
        for (size_t i = 0; i < rp.n; i++)
            replica_obj_set_deadline(rp.objs[i], cfg->cluster.renew_ms * 3 / 4);
        return;
    }
    bool reread = rp.read_wanted || rp.phase == CTL_READ;
    replica_notify_fn n = rp.notify;
    if (replica_init(cfg, n) == -1)
        log_msg(LOG_ERR, "msg=\"replicated controller state: out of memory at reload: off\"");
    if (reread)
        replica_read();
}

void replica_fini(void)
{
    for (size_t i = 0; i < 2; i++)
        replica_obj_free(rp.objs[i]);
    free(rp.best_doc);
    free(rp.wait_doc);
    memset(&rp, 0, sizeof(rp));
}
