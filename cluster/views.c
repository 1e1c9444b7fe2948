/* views — publish this observer's view, read every observer's (views.h). */
#include "cluster/views_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/view_mark.h"
#include "core/alarm.h"
#include "core/log.h"
#include "core/loop.h"

#define VW_POLL_MS 250u

vw_t vw;
static views_read_fn on_read;   /* outside vw: survives views_init */

void views_on_read(views_read_fn fn)
{
    on_read = fn;
}

size_t views_n(void)
{
    return vw.on ? vw.n : 0;
}

int views_get(size_t i, views_obs_t *out)
{
    if (!vw.on || i >= vw.n)
        return -1;
    const vw_obs_t *o = &vw.obs[i];
    uint64_t now = loop_now_ms();
    *out = (views_obs_t){.id = o->id, .self = o->self, .seen = o->have, .fresh = vw_fresh(o, now),
                         .age_ms = vw_age(o, now), .view = o->have ? o->view : NULL};
    return 0;
}

uint32_t views_k(void)
{
    return vw.k;
}

uint64_t views_silent_ms(void)
{
    return vw.silent_ms;
}

uint64_t views_started_ms(void)
{
    return vw.start_ms;
}

uint64_t vw_age(const vw_obs_t *o, uint64_t now)
{
    return o->have ? (now > o->changed_ms ? now - o->changed_ms : 0) : UINT64_MAX;
}

bool vw_fresh(const vw_obs_t *o, uint64_t now)
{
    return o->have && vw_age(o, now) <= vw.silent_ms;
}

uint64_t views_drill_agreed(size_t i, const char *region)
{
    if (!vw.on || i >= vw.n)
        return 0;
    const vw_obs_t *o = &vw.obs[i];
    return view_pick_drill_agreed(o->n_tdrills, (const view_drill_t (*)[VIEW_MAX_DRILLS])o->tdrills, vw.n_tables,
                                  region);
}

/* ---- the alarm: items refused or ignored ---- */

static void alarm_update(void)
{
    char sum[1400] = "";
    size_t off = 0, bad = 0;
    for (size_t i = 0; i < vw.n; i++) {
        const vw_obs_t *o = &vw.obs[i];
        if (o->refused[0] && off + 16 < sizeof(sum))
            off += (size_t)snprintf(sum + off, sizeof(sum) - off, "%srefused (ignored, last good view kept): "
                                    "%s#view#%s: %s", off ? "; " : "", vw.name, o->id, o->refused);
        if (o->ignored[0] && off + 16 < sizeof(sum))
            off += (size_t)snprintf(sum + off, sizeof(sum) - off, "%signored in %zu table(s) (the others' "
                                    "read): %s#view#%s: %s", off ? "; " : "", o->n_ignored, vw.name, o->id,
                                    o->ignored);
        bad += o->refused[0] || o->ignored[0];
    }
    alarm_key_t k = alarm_key(ALARM_CLUSTER_VIEW);
    if (!bad) {
        alarm_resolve(k.s, "every observer's view item reads as valid");
        return;
    }
    char full[1500];
    snprintf(full, sizeof(full), "observer view item: %s", sum);
    alarm_raise(k.s, "warning", full, NULL);
}

/* ---- reading ---- */

/* The name of key's items: 0 the name's, 1 the former name's. */
static const char *kname(int key)
{
    return key ? vw.former : vw.name;
}

/* Every table's item of the read r (view_pick.h). */
static void parse_items(const replica_result_t *r, view_item_t *items, view_pick_t *p)
{
    for (size_t i = 0; i < vw.n_tables; i++) {
        if (r->item_answered[i])
            view_item_parse(r->items[i], &items[i]);
        else
            memset(&items[i], 0, sizeof(items[i]));
    }
    view_pick(items, vw.n_tables, p);
}

/* The items of o ignored at this read: named in o->ignored, logged when that changes. */
static void note_ignored(vw_obs_t *o, const view_item_t *items, const view_pick_t *p, const char *undecoded,
                         size_t n_undecoded, int key)
{
    char buf[sizeof(o->ignored)];
    const char *names[CFG_MAX_LEASE_TABLES];
    for (size_t i = 0; i < vw.n_tables; i++)
        names[i] = vw.labels[i];
    view_pick_bad_str(items, vw.n_tables, names, buf, sizeof(buf));
    size_t off = strlen(buf);
    if (undecoded[0] && off + 8 < sizeof(buf))
        snprintf(buf + off, sizeof(buf) - off, "%s%s", off ? "; " : "", undecoded);
    o->bad_mask = p->bad_mask;
    o->n_ignored = p->n_bad + n_undecoded;   /* tables, one each (was 1 for all the undecoded) */
    if (strcmp(buf, o->ignored) != 0 && buf[0])
        log_msg(LOG_WARNING, "msg=\"observer view item ignored in some tables (bad; the others read)\" "
                "item=\"%s#view#%s\" ignored=\"%s\"", kname(key), o->id, buf);
    snprintf(o->ignored, sizeof(o->ignored), "%s", buf);
}

/* Decode the valid items, highest first: the first that decodes is taken
 * (into vw.scratch; *taken its table), each table's drills recorded; the
 * number of tables whose doc did not decode (named in undecoded).  -1 when
 * none decodes (why: the highest's reason). */
static int decode_items(vw_obs_t *o, const view_item_t *items, const view_pick_t *p, size_t *taken,
                        char *undecoded, size_t ulen, char *why, size_t wlen)
{
    view_t *keep = NULL;
    int n_undecoded = 0;
    undecoded[0] = why[0] = '\0';
    memset(o->n_tdrills, 0, sizeof(o->n_tdrills));
    for (size_t j = 0; j < p->n_valid; j++) {
        size_t t = p->order[j];
        char w[256];
        if (view_decode(items[t].doc, o->id, vw.scratch, w, sizeof(w)) == -1) {
            if (!why[0])
                snprintf(why, wlen, "%s", w);
            n_undecoded++;
            size_t off = strlen(undecoded);
            if (off + 8 < ulen)
                snprintf(undecoded + off, ulen - off, "%s%s: %s", off ? "; " : "", vw.labels[t], w);
            continue;
        }
        o->n_tdrills[t] = vw.scratch->n_drills;
        memcpy(o->tdrills[t], vw.scratch->drills, sizeof(o->tdrills[t]));
        if (!keep) {   /* the highest that decodes: keep it aside, decode the rest over the old view */
            keep = vw.scratch;
            vw.scratch = o->view;
            o->view = keep;
            *taken = t;
        }
    }
    return keep ? n_undecoded : -1;
}

/* During a rename: whether key's read may give o's view, the key whose
 * highest valid item changed last (one observer counted once: a renamed
 * writer writes both keys with the same (epoch, seq), one not renamed yet
 * only the former's; a key that does not change is stale). */
static bool key_turn(vw_obs_t *o, const view_item_t *items, const view_pick_t *p, int key)
{
    if (!p->n_valid)
        return !o->have;
    const view_item_t *top = &items[p->order[0]];
    bool changed = !o->key_have[key] || top->epoch != o->key_epoch[key] || top->seq != o->key_seq[key];
    o->key_have[key] = true;
    o->key_epoch[key] = top->epoch;
    o->key_seq[key] = top->seq;
    return changed || !o->have;
}

static void took_read(vw_obs_t *o, const replica_result_t *r, const view_item_t *items, const view_pick_t *p,
                      int key)
{
    if (!p->ok) {
        const char *e = r->error[0] ? r->error : "no majority of the tables answered with a valid item or none";
        snprintf(o->read_error, sizeof(o->read_error), "%s", e);
        snprintf(vw.tables_error, sizeof(vw.tables_error), "%s", e);
        return;
    }
    vw.read_answer_ms = loop_now_ms();
    o->read_error[0] = '\0';
    if (vw.former[0] && !key_turn(o, items, p, key))
        return;   /* this key's item did not change: the view of the one written last kept */
    char why[256], undecoded[400];
    size_t t = 0;
    int rc = decode_items(o, items, p, &t, undecoded, sizeof(undecoded), why, sizeof(why));
    note_ignored(o, items, p, rc >= 0 ? undecoded : "", rc >= 0 ? (size_t)rc : 0, key);
    if (rc == -1) {   /* no valid item (nothing refused), or none decodes (the last good view kept) */
        if (p->n_valid && strcmp(o->refused, why) != 0)
            log_msg(LOG_WARNING, "msg=\"observer view item refused\" item=\"%s#view#%s\" epoch=%" PRIu64
                    " seq=%" PRIu64 " why=\"%s\"", kname(key), o->id, items[p->order[0]].epoch,
                    items[p->order[0]].seq, why);
        snprintf(o->refused, sizeof(o->refused), "%s", p->n_valid ? why : "");
        return;
    }
    o->refused[0] = '\0';
    if (!o->have || items[t].epoch != o->epoch || items[t].seq != o->seq)
        o->changed_ms = loop_now_ms();
    o->have = true;
    o->epoch = items[t].epoch;
    o->seq = items[t].seq;
}

/* ---- writing ---- */

static void publish(bool heartbeat);

static void learnt(const view_item_t *items, const view_pick_t *p, int key)
{
    bool at_limit;
    uint64_t seq;
    uint64_t e = view_pick_learn(items, p, &seq, &at_limit);
    if (!e)
        return;   /* no majority: tried again at the next tick */
    vw.learn_mask |= 1u << key;
    vw.learn_limit |= at_limit;
    if (e > vw.learn_max || (e == vw.learn_max && seq > vw.learn_seq)) {
        vw.learn_max = e;
        vw.learn_seq = seq;
    }
    if (vw.learn_mask != (vw.former[0] ? 3u : 1u))
        return;   /* a rename: above our item under both names (the same (epoch, seq) goes to both) */
    if (vw.learn_limit)
        log_msg(LOG_WARNING, "msg=\"observer view: a table holds an item of ours at epoch and seq 2^53 (the top); "
                "our writes replace it\" item=\"%s#view#%s\"", vw.name, vw.self_id);
    vw.seq = vw.learn_seq;
    vw.epoch = view_pick_above_saved(vw.learn_max, &vw.seq, vw.saved_epoch);   /* never one written before */
    vw.incarnation = true;
    log_msg(LOG_INFO, "msg=\"observer view: publishing\" item=\"%s#view#%s\" epoch=%" PRIu64 " seq=%" PRIu64
            " saved_epoch=%" PRIu64, vw.name, vw.self_id, vw.epoch, vw.seq, vw.saved_epoch);
    vw_own_save_epoch();   /* queued before our first write under it */
    publish(true);
}

/* Our epoch to be read again from our items (under both names in a rename). */
static void relearn(void)
{
    vw.incarnation = false;
    vw.learn_mask = 0;
    vw.learn_max = 0;
    vw.learn_seq = 0;
    vw.learn_limit = false;
}

static void written(const replica_result_t *r, int key)
{
    /* a bad item of ours replaced, or refused even so: said */
    uint32_t expected = vw_own_written(r, key);
    /* a table that holds a newer item of ours (also where the write went over a bad item that is
     * gone since, unless that item could refuse it): learn again */
    if ((r->refused_mask & ~expected) && r->epoch == vw.epoch) {
        relearn();
        log_msg(LOG_WARNING, "msg=\"observer view: a table holds a newer item; reading our epoch again\" "
                "item=\"%s#view#%s\"", kname(key), vw.self_id);
    }
    if (key)
        return;   /* counted by the name's write */
    if (r->answered * 2 > r->tables)   /* answered, whether taken or refused as older */
        vw.write_answer_ms = loop_now_ms();
    else
        snprintf(vw.tables_error, sizeof(vw.tables_error), "%s", r->error);
    if (r->ok) {
        vw.ok++;
        vw.write_error[0] = '\0';
    } else {
        vw.failed++;
        snprintf(vw.write_error, sizeof(vw.write_error), "%s", r->error);
    }
}

static void on_note(void *ctx, replica_note_t what, const replica_result_t *r)
{
    /* ctx: the observer (its name's item), or its fobj member (the former name's) */
    int key = 0;
    vw_obs_t *o = ctx;
    for (size_t i = 0; i < vw.n; i++)
        if (ctx == (void *)&vw.obs[i].fobj) {
            o = &vw.obs[i];
            key = 1;
        }
    if (what == REPLICA_NOTE_WRITTEN) {
        written(r, key);
        return;
    }
    view_item_t items[VIEW_PICK_TABLES];
    view_pick_t p;
    parse_items(r, items, &p);
    if (o->self && p.learn_ok)   /* a bad item's table answered too (defect 38) */
        vw_own_read(items, key);
    if (o->self && !vw.incarnation)
        learnt(items, &p, key);
    took_read(o, r, items, &p, key);
    alarm_update();
    if (on_read)
        on_read();
}

static void publish(bool heartbeat)
{
    view_t *v = vw.scratch;
    memset(v, 0, sizeof(*v));
    if (vw.local(v, heartbeat) == -1)
        return;
    vw.mine_suspect = v->suspect;
    snprintf(vw.mine_reason, sizeof(vw.mine_reason), "%s", v->suspect ? v->suspect_reason : "");
    if (!vw.incarnation)
        return;   /* judged all the same (cut off from the start is suspect too); nothing to write yet */
    snprintf(v->observer, sizeof(v->observer), "%s", vw.self_id);
    v->elapsed_ms = loop_now_ms() - vw.start_ms;
    uint64_t sig = view_mark_sig(v);   /* what changed is written at once */
    if (!heartbeat && sig == vw.states_sig)
        return;
    if (vw.seq >= VIEW_PICK_NUM_MAX) {   /* wrote the top (2^53, 2^53): learn again, from epoch 1 (defect 35) */
        relearn();
        return;
    }
    char *doc = view_encode(v);
    if (!doc) {
        vw.failed++;
        snprintf(vw.write_error, sizeof(vw.write_error), "the view could not be encoded (out of memory, or "
                 "over %u bytes)", VIEW_DOC_MAX);
        return;
    }
    replica_obj_t *fo = vw.obs[vw.self].fobj;
    /* a table whose item of ours read bad: written over it (views_own.c, known defect 38) */
    if (replica_obj_put_over(vw.obs[vw.self].obj, doc, vw.epoch, vw.seq + 1, vw.stuck_mask) == 0
        && (!fo || replica_obj_put_over(fo, doc, vw.epoch, vw.seq + 1, vw.fstuck_mask) == 0)) {
        vw.seq++;
        vw.sent++;
        vw.states_sig = sig;
    } else {
        vw.failed++;
        snprintf(vw.write_error, sizeof(vw.write_error), "out of memory");
    }
    free(doc);
}

/* ---- timers ---- */

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    publish(true);
    for (size_t i = 0; i < vw.n; i++) {
        replica_obj_get(vw.obs[i].obj);   /* ours too: the incarnation's read, and our item as the tables hold it */
        if (vw.obs[i].fobj)
            replica_obj_get(vw.obs[i].fobj);
    }
}

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    publish(false);
    vw_feed(loop_now_ms());
}

static int arm(struct event **ev, event_callback_fn cb, uint32_t ms)
{
    const struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    if (!*ev)
        *ev = event_new(loop_base(), -1, EV_PERSIST, cb, NULL);
    if (!*ev)
        return -1;
    return event_add(*ev, &tv);
}

/* ---- what the suspect rule reads ---- */

uint64_t views_tables_quiet_ms(char *error, size_t len)
{
    if (error && len)
        snprintf(error, len, "%s", vw.tables_error);
    if (!vw.on)
        return 0;
    uint64_t now = loop_now_ms(), last = vw.write_answer_ms < vw.read_answer_ms ? vw.write_answer_ms
                                                                                 : vw.read_answer_ms;
    return now > last ? now - last : 0;
}

uint32_t views_publish_ms(void)
{
    return vw.on ? vw.publish_ms : 0;
}

/* ---- the module ---- */

static int vw_start(const cfg_t *cfg)
{
    const cfg_cluster_t *k = &cfg->cluster;
    const cfg_quorum_t *q = &k->quorum;
    snprintf(vw.self_id, sizeof(vw.self_id), "%s", k->instance_id);
    snprintf(vw.name, sizeof(vw.name), "%s", k->name);
    snprintf(vw.former, sizeof(vw.former), "%s", k->former_name ? k->former_name : "");
    vw.k = q->k;
    vw.publish_ms = q->publish_ms;
    vw.silent_ms = 3 * q->publish_ms;
    vw.n = q->n_observers;
    vw.start_ms = loop_now_ms();
    uint64_t saved = vw_own_start_epoch();   /* as read at start: a reload keeps the higher one in memory */
    vw.saved_epoch = saved > vw.saved_epoch ? saved : vw.saved_epoch;
    vw.n_tables = k->n_tables < CFG_MAX_LEASE_TABLES ? k->n_tables : CFG_MAX_LEASE_TABLES;
    for (size_t i = 0; i < vw.n_tables; i++)
        snprintf(vw.labels[i], sizeof(vw.labels[i]), "%.64s/%.255s", k->tables[i].region, k->tables[i].table);
    vw.write_answer_ms = vw.read_answer_ms = vw.start_ms;
    vw.scratch = malloc(sizeof(view_t));
    if (!vw.scratch)
        return -1;
    for (size_t i = 0; i < vw.n; i++) {
        vw_obs_t *o = &vw.obs[i];
        char key[400];
        snprintf(o->id, sizeof(o->id), "%s", q->observers[i]);
        snprintf(key, sizeof(key), "%s#view#%s", k->name, o->id);
        o->self = strcmp(o->id, k->instance_id) == 0;
        if (o->self)
            vw.self = i;
        o->view = malloc(sizeof(view_t));
        o->obj = replica_obj_new(k, key, q->publish_ms * 3 / 4, on_note, o);
        if (!o->view || !o->obj)
            return -1;
        replica_obj_keep_items(o->obj);
        if (vw.former[0]) {   /* a rename: the former name's item too (known defect 30) */
            snprintf(key, sizeof(key), "%s#view#%s", vw.former, o->id);
            o->fobj = replica_obj_new(k, key, q->publish_ms * 3 / 4, on_note, &o->fobj);
            if (!o->fobj)
                return -1;
            replica_obj_keep_items(o->fobj);
        }
    }
    vw.on = true;
    if (arm(&vw.tick, on_tick, vw.publish_ms) == -1 || arm(&vw.poll, on_poll, VW_POLL_MS) == -1)
        return -1;
    on_tick(-1, 0, NULL);   /* the first read (our incarnation) at once */
    return 0;
}

/* Start over with cfg (at start, or a reload that changed the observers,
 * the name, the tables or the instance): nothing read from disk here, it
 * runs on the loop. */
static int vw_init(const cfg_t *cfg, views_local_fn local)
{
    /* A reload keeps the highest epoch saved or taken (views_own.c): one
     * taken but not saved (the save's queueing failed) was maybe written. */
    uint64_t saved = vw.epoch > vw.saved_epoch ? vw.epoch : vw.saved_epoch;
    views_fini();
    vw.local = local;
    vw.saved_epoch = saved;
    if (!cfg->cluster.enabled || !cfg->cluster.quorum.enabled)
        return 0;
    if (vw_start(cfg) == -1) {
        log_msg(LOG_ERR, "msg=\"observer views: out of memory at start\"");
        views_fini();
        vw.local = local;
        vw.saved_epoch = saved;   /* the next reload learns above it all the same */
        return -1;
    }
    return 0;
}

int views_init(const cfg_t *cfg, views_local_fn local)
{
    vw_own_load_epoch();   /* start only, before the loop runs: the one read of the saved epoch */
    return vw_init(cfg, local);
}

static bool same(const cfg_cluster_t *k)
{
    const cfg_quorum_t *q = &k->quorum;
    if (!vw.on || !k->enabled || !q->enabled || q->n_observers != vw.n || strcmp(k->name, vw.name) != 0
        || strcmp(k->former_name ? k->former_name : "", vw.former) != 0
        || strcmp(k->instance_id, vw.self_id) != 0 || k->n_tables != replica_obj_tables(vw.obs[0].obj))
        return false;
    for (size_t i = 0; i < vw.n; i++)
        if (strcmp(q->observers[i], vw.obs[i].id) != 0)
            return false;
    for (size_t i = 0; i < k->n_tables; i++)
        if (!replica_obj_has_table(vw.obs[0].obj, i, k->tables[i].region, k->tables[i].table))
            return false;
    return true;
}

void views_configure(const cfg_t *cfg)
{
    if (same(&cfg->cluster)) {
        const cfg_quorum_t *q = &cfg->cluster.quorum;
        vw.k = q->k;
        if (q->publish_ms != vw.publish_ms) {
            vw.publish_ms = q->publish_ms;
            vw.silent_ms = 3 * q->publish_ms;
            for (size_t i = 0; i < vw.n; i++) {
                replica_obj_set_deadline(vw.obs[i].obj, q->publish_ms * 3 / 4);
                if (vw.obs[i].fobj)
                    replica_obj_set_deadline(vw.obs[i].fobj, q->publish_ms * 3 / 4);
            }
            if (arm(&vw.tick, on_tick, vw.publish_ms) == -1)
                log_msg(LOG_ERR, "msg=\"observer views: the heartbeat timer could not be armed\"");
        }
        return;
    }
    views_local_fn local = vw.local;
    if (vw_init(cfg, local) == -1)
        log_msg(LOG_ERR, "msg=\"observer views: off after the reload (out of memory)\"");
}

void views_fini(void)
{
    bool was_on = vw.on;
    for (size_t i = 0; i < CFG_MAX_OBSERVERS; i++) {
        replica_obj_free(vw.obs[i].obj);
        replica_obj_free(vw.obs[i].fobj);
        free(vw.obs[i].view);
    }
    if (vw.tick)
        event_free(vw.tick);
    if (vw.poll)
        event_free(vw.poll);
    free(vw.scratch);
    memset(&vw, 0, sizeof(vw));
    if (was_on)
        alarm_resolve(alarm_key(ALARM_CLUSTER_VIEW).s, "observer views are off");
}
