/* views — publish this observer's view, read every observer's (views.h). */
#include "cluster/views_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    *out = (views_obs_t){.id = o->id, .self = o->self, .seen = o->have, .fresh = vw_fresh(o, loop_now_ms()),
                         .view = o->have ? o->view : NULL};
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

/* ---- the alarm: items refused ---- */

static void alarm_update(void)
{
    char sum[1024] = "";
    size_t off = 0, bad = 0;
    for (size_t i = 0; i < vw.n; i++) {
        const vw_obs_t *o = &vw.obs[i];
        if (!o->refused[0])
            continue;
        bad++;
        if (off + 16 < sizeof(sum))
            off += (size_t)snprintf(sum + off, sizeof(sum) - off, "%s%s#view#%s: %s", off ? "; " : "", vw.name,
                                    o->id, o->refused);
    }
    alarm_key_t k = alarm_key(ALARM_CLUSTER_VIEW);
    if (!bad) {
        alarm_resolve(k.s, "every observer's view item reads as valid");
        return;
    }
    char full[1200];
    snprintf(full, sizeof(full), "observer view item refused (ignored, last good view kept): %s", sum);
    alarm_raise(k.s, "warning", full, NULL);
}

/* ---- reading ---- */

static void took_read(vw_obs_t *o, const replica_result_t *r)
{
    if (!r->ok) {
        snprintf(o->read_error, sizeof(o->read_error), "%s", r->error);
        snprintf(vw.tables_error, sizeof(vw.tables_error), "%s", r->error);
        return;
    }
    vw.read_answer_ms = loop_now_ms();
    o->read_error[0] = '\0';
    if (!r->found) {   /* no item (yet, or deleted): nothing to take, nothing refused */
        o->refused[0] = '\0';
        return;
    }
    char why[256];
    if (view_decode(r->doc, o->id, vw.scratch, why, sizeof(why)) == -1) {
        if (strcmp(o->refused, why) != 0)
            log_msg(LOG_WARNING, "msg=\"observer view item refused\" item=\"%s#view#%s\" epoch=%" PRIu64
                    " seq=%" PRIu64 " why=\"%s\"", vw.name, o->id, r->epoch, r->seq, why);
        snprintf(o->refused, sizeof(o->refused), "%s", why);
        return;
    }
    o->refused[0] = '\0';
    if (!o->have || r->epoch != o->epoch || r->seq != o->seq)
        o->changed_ms = loop_now_ms();
    view_t *t = o->view;
    o->view = vw.scratch;
    vw.scratch = t;
    o->have = true;
    o->epoch = r->epoch;
    o->seq = r->seq;
}

/* ---- writing ---- */

static void publish(bool heartbeat);

static void learnt(const replica_result_t *r)
{
    if (!r->ok)
        return;   /* tried again at the next tick */
    if (r->found && r->epoch >= UINT64_MAX - 1) {
        log_msg(LOG_ERR, "msg=\"observer view not published: our item's epoch is at its limit\" item=\"%s#view#%s\"",
                vw.name, vw.self_id);
        snprintf(vw.write_error, sizeof(vw.write_error), "our item's epoch is at its limit: remove the item");
        return;
    }
    vw.epoch = r->found ? r->epoch + 1 : 1;
    vw.seq = 0;
    vw.incarnation = true;
    log_msg(LOG_INFO, "msg=\"observer view: publishing\" item=\"%s#view#%s\" epoch=%" PRIu64, vw.name, vw.self_id,
            vw.epoch);
    publish(true);
}

static void written(const replica_result_t *r)
{
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
    if (r->refused && r->epoch == vw.epoch) {   /* a table holds a newer item of ours: learn again */
        vw.incarnation = false;
        log_msg(LOG_WARNING, "msg=\"observer view: a table holds a newer item; reading our epoch again\" "
                "item=\"%s#view#%s\"", vw.name, vw.self_id);
    }
}

static void on_note(void *ctx, replica_note_t what, const replica_result_t *r)
{
    vw_obs_t *o = ctx;
    if (what == REPLICA_NOTE_WRITTEN) {
        written(r);
        return;
    }
    if (o->self && !vw.incarnation)
        learnt(r);
    took_read(o, r);
    alarm_update();
    if (on_read)
        on_read();
}

/* A signature of the region states (which regions, in which state). */
static uint64_t states_sig(const view_t *v)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < v->n; i++) {
        for (const char *p = v->regions[i].region; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ull;
        h = (h ^ (0x100u + v->regions[i].state)) * 1099511628211ull;
    }
    for (const char *p = v->suspect_reason; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    for (size_t i = 0; i < v->n_drills; i++)   /* a fail drill starting or ending: written at once */
        h = (h ^ (0x200u + v->drills[i].id)) * 1099511628211ull;
    return (h ^ v->suspect) * 1099511628211ull;
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
    uint64_t sig = states_sig(v);
    if (!heartbeat && sig == vw.states_sig)
        return;
    char *doc = view_encode(v);
    if (!doc) {
        vw.failed++;
        snprintf(vw.write_error, sizeof(vw.write_error), "the view could not be encoded (out of memory, or "
                 "over %u bytes)", VIEW_DOC_MAX);
        return;
    }
    if (replica_obj_put(vw.obs[vw.self].obj, doc, vw.epoch, vw.seq + 1, 0, 0) == 0) {
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
    for (size_t i = 0; i < vw.n; i++)
        replica_obj_get(vw.obs[i].obj);   /* ours too: the incarnation's read, and our item as the tables hold it */
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
    vw.k = q->k;
    vw.publish_ms = q->publish_ms;
    vw.silent_ms = 3 * q->publish_ms;
    vw.n = q->n_observers;
    vw.start_ms = loop_now_ms();
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
    }
    vw.on = true;
    if (arm(&vw.tick, on_tick, vw.publish_ms) == -1 || arm(&vw.poll, on_poll, VW_POLL_MS) == -1)
        return -1;
    on_tick(-1, 0, NULL);   /* the first read (our incarnation) at once */
    return 0;
}

int views_init(const cfg_t *cfg, views_local_fn local)
{
    views_fini();
    vw.local = local;
    if (!cfg->cluster.enabled || !cfg->cluster.quorum.enabled)
        return 0;
    if (vw_start(cfg) == -1) {
        log_msg(LOG_ERR, "msg=\"observer views: out of memory at start\"");
        views_fini();
        vw.local = local;
        return -1;
    }
    return 0;
}

static bool same(const cfg_cluster_t *k)
{
    const cfg_quorum_t *q = &k->quorum;
    if (!vw.on || !k->enabled || !q->enabled || q->n_observers != vw.n || strcmp(k->name, vw.name) != 0
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
            for (size_t i = 0; i < vw.n; i++)
                replica_obj_set_deadline(vw.obs[i].obj, q->publish_ms * 3 / 4);
            if (arm(&vw.tick, on_tick, vw.publish_ms) == -1)
                log_msg(LOG_ERR, "msg=\"observer views: the heartbeat timer could not be armed\"");
        }
        return;
    }
    views_local_fn local = vw.local;
    if (views_init(cfg, local) == -1)
        log_msg(LOG_ERR, "msg=\"observer views: off after the reload (out of memory)\"");
}

void views_fini(void)
{
    bool was_on = vw.on;
    for (size_t i = 0; i < CFG_MAX_OBSERVERS; i++) {
        replica_obj_free(vw.obs[i].obj);
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
