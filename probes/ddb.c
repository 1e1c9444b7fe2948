/* ddb_probe — see ddb.h.  DynamoDB API reference: DescribeTable (Table.
 * TableStatus, GlobalTableVersion, Replicas[].ReplicaStatus,
 * ReplicaInaccessibleDateTime, KeySchema, AttributeDefinitions), PutItem,
 * GetItem (ConsistentRead). */
#include "probes/ddb.h"
#include "probes/ddb_int.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "core/alarm.h"
#include "core/feed.h"
#include "core/hist.h"
#include "core/log.h"
#include "core/loop.h"

ddbs_t ddbs;

static void ddb_evaluate(void);

/* ---- the heartbeat on or off ---- */

/* Recompute whether the heartbeat may run; raise or resolve its alarm.  A
 * refusal empties the write rings, so no stall is inferred from writes
 * that will never be looked for. */
static void ddb_hb_update(void)
{
    char why[sizeof(ddbs.hb_off)] = "";
    for (size_t i = 0; i < ddbs.n && !why[0]; i++)
        if (ddbs.r[i].hb_collision[0] || ddbs.r[i].hb_refused[0])
            snprintf(why, sizeof(why), "%s", ddbs.r[i].hb_collision[0] ? ddbs.r[i].hb_collision
                                                                       : ddbs.r[i].hb_refused);
    if (strcmp(why, ddbs.hb_off) == 0)
        return;
    bool was = ddbs.hb_off[0] != '\0';
    snprintf(ddbs.hb_off, sizeof(ddbs.hb_off), "%s", why);
    if (why[0]) {
        for (size_t w = 0; w < ddbs.n; w++)
            ddbs.r[w].writes.n = ddbs.r[w].writes.head = 0;
        char sum[500];
        snprintf(sum, sizeof(sum), "DynamoDB heartbeat off (no replication lag measured): %s", why);
        log_msg(LOG_ERR, "msg=\"heartbeat refused\" reason=\"%s\"", why);
        alarm_raise(alarm_key(ALARM_DDB_HEARTBEAT).s, "critical", sum, NULL);
    } else if (was) {
        log_msg(LOG_NOTICE, "msg=\"heartbeat table checked: heartbeat on\"");
        alarm_resolve(alarm_key(ALARM_DDB_HEARTBEAT).s, "heartbeat table checked in every region");
    }
}

static bool ddb_hb_may(size_t w)
{
    return !ddbs.hb_off[0] && ddbs.r[w].keys_known;
}

static uint64_t ddb_write_mono(size_t w, uint64_t seq)
{
    const ddb_ring_t *g = &ddbs.r[w].writes;
    for (size_t k = 0; k < g->n; k++)
        if (g->seq[k] == seq)
            return g->mono[k];
    return 0;
}

/* Oldest of writer w's sequences that reader r has not seen yet: its write time, or 0. */
static uint64_t ddb_oldest_unseen(size_t w, size_t r)
{
    const ddb_ring_t *g = &ddbs.r[w].writes;
    uint64_t best = 0;
    for (size_t k = 0; k < g->n; k++)
        if (g->seq[k] > ddbs.p[w][r].seen_seq && (!best || g->mono[k] < best))
            best = g->mono[k];
    return best;
}

static void ddb_on_write(void *arg, int ok, const cJSON *resp, const char *error, double ms)
{
    (void)resp;
    size_t w = (size_t)(uintptr_t)arg;
    ddb_region_t *r = &ddbs.r[w];
    r->write_req = NULL;
    if (!ok && strstr(error, "ConditionalCheckFailed")) {
        snprintf(r->hb_collision, sizeof(r->hb_collision), "heartbeat table %.255s in %s: an item regiond did "
                 "not write exists at the heartbeat key; nothing was written", ddbs.cfg->dynamodb.heartbeat_table,
                 ddbs.cfg->regions[w].name);
        ddb_hb_update();
        return;
    }
    if (!ok) {
        snprintf(r->write_error, sizeof(r->write_error), "%s", error);
        if (!r->write_fail_since)
            r->write_fail_since = loop_now_ms();
        ddb_evaluate();
        return;
    }
    r->write_error[0] = '\0';
    r->write_fail_since = 0;
    ewma_add(&r->write_ms, ms);
    if (ddbs.hb_off[0])
        return;
    ddb_ring_t *g = &r->writes;
    g->seq[g->head] = r->next_seq;
    g->mono[g->head] = loop_now_ms();
    g->head = (g->head + 1) % DDB_RING;
    if (g->n < DDB_RING)
        g->n++;
    r->last_written_seq = r->next_seq;
}

static void ddb_write(size_t w)
{
    ddb_region_t *r = &ddbs.r[w];
    if (!ddb_hb_may(w) || r->write_req)
        return;
    cJSON *body = cJSON_CreateObject(), *item = cJSON_CreateObject();
    if (!body || !item || ddb_hb_key(item, w, w) == -1) {
        cJSON_Delete(body);
        cJSON_Delete(item);
        return;
    }
    char n[32];
    r->next_seq = r->last_written_seq + 1;
    cJSON_AddStringToObject(body, "TableName", ddbs.cfg->dynamodb.heartbeat_table);
    /* Never overwrite an item that is not this writer's heartbeat. */
    cJSON_AddStringToObject(body, "ConditionExpression",
                            "attribute_not_exists(#k) OR (hb_writer = :w AND hb_controller = :c)");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(body, "ExpressionAttributeNames"), "#k", r->key_hash);
    cJSON *vals = cJSON_AddObjectToObject(body, "ExpressionAttributeValues");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(vals, ":w"), "S", ddbs.cfg->regions[w].name);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(vals, ":c"), "S", ddbs.cfg->controller.id);
    snprintf(n, sizeof(n), "%" PRIu64, r->next_seq);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(item, "hb_seq"), "N", n);
    snprintf(n, sizeof(n), "%" PRId64, loop_wall_ms());
    cJSON_AddStringToObject(cJSON_AddObjectToObject(item, "hb_written_ms"), "N", n);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(item, "hb_writer"), "S", ddbs.cfg->regions[w].name);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(item, "hb_controller"), "S", ddbs.cfg->controller.id);
    cJSON_AddItemToObject(body, "Item", item);
    r->write_req = ddb_call(ddbs.cfg, w, "PutItem", body, ddb_on_write, (void *)(uintptr_t)w);
}

/* ---- reading the other regions' heartbeats ---- */

typedef struct {
    size_t w, r;
} ddb_pairid_t;

static ddb_pairid_t ddb_pair_ids[DDB_MAXR][DDB_MAXR];

static void ddb_on_read(void *arg, int ok, const cJSON *resp, const char *error, double ms)
{
    const ddb_pairid_t *id = arg;
    ddb_pair_t *p = &ddbs.p[id->w][id->r];
    uint64_t started = p->req_mono;
    p->req = NULL;
    if (!ok) {
        snprintf(p->error, sizeof(p->error), "%s", error);
        return;
    }
    p->error[0] = '\0';
    ewma_add(&ddbs.r[id->r].read_ms, ms);
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(resp, "Item");
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(item, "hb_seq"), "N");
    const cJSON *wr = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(item, "hb_writer"), "S");
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(item, "hb_controller"), "S");
    if (!cJSON_IsString(seq) || ddbs.hb_off[0])
        return;   /* not replicated here yet */
    /* Only the writer's own item counts (never this region's, never another controller's). */
    if (!cJSON_IsString(wr) || strcmp(wr->valuestring, ddbs.cfg->regions[id->w].name) != 0
        || !cJSON_IsString(ct) || strcmp(ct->valuestring, ddbs.cfg->controller.id) != 0)
        return;
    uint64_t s = strtoull(seq->valuestring, NULL, 10);
    const ddb_region_t *wr_r = &ddbs.r[id->w];
    /* Only this run's sequences count: a stale item from an earlier run whose clock was ahead, or a
     * second controller with the same id, must not mark every later write as seen (a hidden stall). */
    if (s <= p->seen_seq || s <= wr_r->seq_base || s > wr_r->next_seq)
        return;
    uint64_t wrote = ddb_write_mono(id->w, s);
    p->seen_seq = s;
    p->seen_write_mono = wrote;
    if (wrote) {
        double lag = started > wrote ? (double)(started - wrote) : 0.0;
        p->last_lag_ms = lag;
        hist_prom_add(&p->lag, lag / 1000.0);
    }
}

static void ddb_read(size_t w, size_t r)
{
    ddb_pair_t *p = &ddbs.p[w][r];
    if (p->req || !ddb_hb_may(r) || !ddb_hb_may(w))
        return;
    cJSON *body = cJSON_CreateObject(), *key = cJSON_CreateObject();
    if (!body || !key || ddb_hb_key(key, w, r) == -1) {
        cJSON_Delete(body);
        cJSON_Delete(key);
        return;
    }
    cJSON_AddStringToObject(body, "TableName", ddbs.cfg->dynamodb.heartbeat_table);
    cJSON_AddItemToObject(body, "Key", key);
    cJSON_AddBoolToObject(body, "ConsistentRead", 1);
    const char *attrs[] = {"hb_seq", "hb_writer", "hb_controller"};
    cJSON_AddItemToObject(body, "AttributesToGet", cJSON_CreateStringArray(attrs, 3));
    ddb_pair_ids[w][r] = (ddb_pairid_t){w, r};
    p->req_mono = loop_now_ms();
    p->req = ddb_call(ddbs.cfg, r, "GetItem", body, ddb_on_read, &ddb_pair_ids[w][r]);
}

/* ---- DescribeTable: status, replicas, the heartbeat table's keys ---- */

static int ddb_region_of_aws(const char *aws)
{
    for (size_t i = 0; i < ddbs.n; i++)
        if (strcmp(ddbs.cfg->dynamodb.aws_regions[i], aws) == 0)
            return (int)i;
    return -1;
}

static void ddb_on_describe(void *arg, int ok, const cJSON *resp, const char *error, double ms)
{
    (void)ms;
    size_t i = (size_t)(uintptr_t)arg;
    ddb_region_t *r = &ddbs.r[i];
    r->desc_req = NULL;
    if (!ok) {
        snprintf(r->describe_error, sizeof(r->describe_error), "%s", error);
        ddb_evaluate();
        return;
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(resp, "Table");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(t, "TableStatus");
    const cJSON *gv = cJSON_GetObjectItemCaseSensitive(t, "GlobalTableVersion");
    r->describe_error[0] = '\0';
    r->described_wall_ms = loop_wall_ms();
    snprintf(r->table_status, sizeof(r->table_status), "%s", cJSON_IsString(st) ? st->valuestring : "?");
    snprintf(r->global_version, sizeof(r->global_version), "%s", cJSON_IsString(gv) ? gv->valuestring : "");
    if (ddbs.cfg->dynamodb.heartbeat_mode == 1) {
        ddb_hb_check(i, t);
        ddb_hb_update();
    }
    const cJSON *rep;
    cJSON_ArrayForEach(rep, cJSON_GetObjectItemCaseSensitive(t, "Replicas")) {
        const cJSON *rn = cJSON_GetObjectItemCaseSensitive(rep, "RegionName");
        const cJSON *rs = cJSON_GetObjectItemCaseSensitive(rep, "ReplicaStatus");
        const cJSON *since = cJSON_GetObjectItemCaseSensitive(rep, "ReplicaInaccessibleDateTime");
        int k = cJSON_IsString(rn) ? ddb_region_of_aws(rn->valuestring) : -1;
        if (k < 0 || !cJSON_IsString(rs))
            continue;
        if (cJSON_IsNumber(since) && strcmp(rs->valuestring, "ACTIVE") != 0)
            snprintf(ddbs.r[k].replica_status, sizeof(ddbs.r[k].replica_status), "%.24s since %.0f",
                     rs->valuestring, since->valuedouble);
        else
            snprintf(ddbs.r[k].replica_status, sizeof(ddbs.r[k].replica_status), "%s", rs->valuestring);
    }
    ddb_evaluate();
}

static void ddb_on_keys(void *arg, int ok, const cJSON *resp, const char *error, double ms)
{
    (void)ms;
    size_t i = (size_t)(uintptr_t)arg;
    ddb_region_t *r = &ddbs.r[i];
    r->keys_req = NULL;
    if (!ok && strstr(error, "ResourceNotFoundException")) {
        snprintf(r->hb_refused, sizeof(r->hb_refused), "heartbeat table %.255s not found in %s (create it: "
                 "see the README)", ddbs.cfg->dynamodb.heartbeat_table, ddbs.cfg->regions[i].name);
        r->keys_known = false;
    } else if (!ok) {
        snprintf(r->hb_error, sizeof(r->hb_error), "DescribeTable %.200s", error);   /* transient: try again */
        return;
    } else {
        r->hb_error[0] = '\0';
        ddb_hb_check(i, cJSON_GetObjectItemCaseSensitive(resp, "Table"));
    }
    ddb_hb_update();
}

static void ddb_describe(size_t i)
{
    ddb_region_t *r = &ddbs.r[i];
    cJSON *b = cJSON_CreateObject();
    if (!r->desc_req && b && cJSON_AddStringToObject(b, "TableName", ddbs.cfg->dynamodb.table))
        r->desc_req = ddb_call(ddbs.cfg, i, "DescribeTable", b, ddb_on_describe, (void *)(uintptr_t)i);
    else
        cJSON_Delete(b);
    if (!r->keys_req && ddbs.cfg->dynamodb.heartbeat_mode == 0) {   /* checked again every describe */
        cJSON *k = cJSON_CreateObject();
        if (k && cJSON_AddStringToObject(k, "TableName", ddbs.cfg->dynamodb.heartbeat_table))
            r->keys_req = ddb_call(ddbs.cfg, i, "DescribeTable", k, ddb_on_keys, (void *)(uintptr_t)i);
        else
            cJSON_Delete(k);
    }
}

/* ---- findings and the gate ---- */

int64_t ddb_pair_lag(size_t w, size_t r, uint64_t now)
{
    const ddb_pair_t *p = &ddbs.p[w][r];
    uint64_t oldest = ddb_oldest_unseen(w, r);
    double waiting = oldest ? (double)(now - oldest) : 0;
    if (p->last_lag_ms < 0 && !oldest)
        return -1;
    return (int64_t)(waiting > p->last_lag_ms ? waiting : p->last_lag_ms);
}

int64_t ddb_lag_to_ms(size_t r)
{
    int64_t worst = -1;
    uint64_t now = loop_now_ms();
    for (size_t w = 0; ddbs.on && w < ddbs.n; w++)
        if (w != r) {
            int64_t l = ddb_pair_lag(w, r, now);
            if (l > worst)
                worst = l;
        }
    return worst;
}

bool ddb_gate_ok(size_t i, char *why, size_t whylen)
{
    if (!ddbs.on || i >= ddbs.n)
        return true;
    if (ddbs.r[i].finding[0]) {
        snprintf(why, whylen, "%s", ddbs.r[i].finding);
        return false;
    }
    int64_t lag = ddb_lag_to_ms(i);
    if (lag > (int64_t)ddbs.cfg->dynamodb.rpo_ms) {
        snprintf(why, whylen, "replication lag into %s %" PRId64 " ms > rpo_ms %u", ddbs.cfg->regions[i].name, lag,
                 ddbs.cfg->dynamodb.rpo_ms);
        return false;
    }
    return true;
}

static void ddb_finding_of(size_t i, char *f, size_t len, uint64_t now)
{
    const ddb_region_t *r = &ddbs.r[i];
    f[0] = '\0';
    if (r->describe_error[0])
        snprintf(f, len, "DescribeTable failed: %.250s", r->describe_error);
    else if (r->table_status[0] && strcmp(r->table_status, "ACTIVE") != 0)
        snprintf(f, len, "table status %s", r->table_status);
    else if (r->replica_status[0] && strncmp(r->replica_status, "ACTIVE", 6) != 0)
        snprintf(f, len, "replica status %s", r->replica_status);
    else if (r->write_fail_since)
        snprintf(f, len, "heartbeat writes failing: %.250s", r->write_error);
    if (f[0])
        return;
    for (size_t w = 0; w < ddbs.n; w++) {
        uint64_t oldest = w == i ? 0 : ddb_oldest_unseen(w, i);
        if (oldest && now - oldest > (uint64_t)ddbs.cfg->dynamodb.stale_after_s * 1000u) {
            snprintf(f, len, "replication from %s stalled: a heartbeat written %.1f s ago is not here yet",
                     ddbs.cfg->regions[w].name, (double)(now - oldest) / 1000.0);
            return;
        }
    }
}

/* Up through the callback: region i's finding changed (for its health). */
static void ddb_note_finding(size_t i, int sev, const char *finding)
{
    ddbs.notify(&(ddb_note_t){.kind = DDB_NOTE_FINDING, .region = i, .sev = sev, .finding = finding});
}

static void ddb_evaluate(void)
{
    uint64_t now = loop_now_ms();
    for (size_t i = 0; i < ddbs.n; i++) {
        char f[320];
        ddb_finding_of(i, f, sizeof(f), now);
        bool was = ddbs.r[i].finding[0] != '\0', is = f[0] != '\0';
        /* Report a change of kind (the stall's growing age is not a new finding). */
        if (was == is && (!is || strncmp(f, ddbs.r[i].finding, 24) == 0)) {
            snprintf(ddbs.r[i].finding, sizeof(ddbs.r[i].finding), "%s", f);
            continue;
        }
        snprintf(ddbs.r[i].finding, sizeof(ddbs.r[i].finding), "%s", f);
        cJSON *d = cJSON_CreateObject();
        if (d) {
            cJSON_AddStringToObject(d, "region", ddbs.cfg->regions[i].name);
            cJSON_AddBoolToObject(d, "active", is);
            cJSON_AddStringToObject(d, "finding", is ? f : "cleared");
        }
        feed_emit(EV_REPLICA_FINDING, d);
        alarm_key_t key = alarm_key_region(ALARM_REPLICA, ddbs.cfg->regions[i].name);
        if (is)
            alarm_raise(key.s, "warning", f, NULL);
        else
            alarm_resolve(key.s, "replica healthy again");
        int sev = ddbs.cfg->dynamodb.finding == 0 ? 1 : ddbs.cfg->dynamodb.finding == 1 ? 2 : 0;
        ddb_note_finding(i, is ? sev : 0, f);
    }
    /* The gate's inputs move with the lag: let the controller look again
     * when a region's verdict changes. */
    static bool last_ok[DDB_MAXR];
    static bool have_last;
    bool changed = !have_last;
    for (size_t i = 0; i < ddbs.n; i++) {
        char why[320];
        bool ok = ddb_gate_ok(i, why, sizeof(why));
        changed |= ok != last_ok[i];
        last_ok[i] = ok;
    }
    have_last = true;
    if (changed)
        ddbs.notify(&(ddb_note_t){.kind = DDB_NOTE_GATE});
}

/* ---- timers ---- */

static void ddb_on_desc_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    for (size_t i = 0; i < ddbs.n; i++)
        ddb_describe(i);
}

static void ddb_on_write_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    for (size_t i = 0; i < ddbs.n; i++)
        ddb_write(i);
}

static void ddb_on_read_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    for (size_t w = 0; w < ddbs.n; w++)
        for (size_t r = 0; r < ddbs.n; r++)
            if (w != r)
                ddb_read(w, r);
    ddb_evaluate();
}

static void ddb_arm(struct event *ev, uint64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    event_del(ev);
    event_add(ev, &tv);
}

static void ddb_stop(void)
{
    for (size_t i = 0; i < DDB_MAXR; i++) {
        ddb_cancel(ddbs.r[i].desc_req), ddb_cancel(ddbs.r[i].keys_req), ddb_cancel(ddbs.r[i].write_req);
        for (size_t j = 0; j < DDB_MAXR; j++)
            ddb_cancel(ddbs.p[i][j].req);
    }
    if (ddbs.desc_timer)
        event_del(ddbs.desc_timer);
    if (ddbs.write_timer)
        event_del(ddbs.write_timer);
    if (ddbs.read_timer)
        event_del(ddbs.read_timer);
    memset(ddbs.r, 0, sizeof(ddbs.r));
    memset(ddbs.p, 0, sizeof(ddbs.p));
    if (ddbs.hb_off[0])
        alarm_resolve(alarm_key(ALARM_DDB_HEARTBEAT).s, "configuration changed: heartbeat table checked again");
    ddbs.hb_off[0] = '\0';
    ddbs.on = false;
}

static void ddb_start(const cfg_t *cfg)
{
    ddbs.cfg = cfg;
    ddbs.n = cfg->n_regions < DDB_MAXR ? cfg->n_regions : DDB_MAXR;
    for (size_t i = 0; i < ddbs.n; i++)
        ddb_note_finding(i, 0, "");   /* a new config starts without findings */
    if (!cfg->dynamodb.enabled)
        return;
    ddbs.on = true;
    uint64_t base = (uint64_t)loop_wall_ms() * 1000u;   /* grows across restarts */
    for (size_t i = 0; i < ddbs.n; i++) {
        ddbs.r[i].last_written_seq = ddbs.r[i].seq_base = base;
        ewma_init(&ddbs.r[i].write_ms, 0.2);
        ewma_init(&ddbs.r[i].read_ms, 0.2);
        for (size_t j = 0; j < ddbs.n; j++)
            ddbs.p[i][j].last_lag_ms = -1;
    }
    ddb_arm(ddbs.desc_timer, (uint64_t)cfg->dynamodb.describe_interval_s * 1000u);
    ddb_on_desc_timer(-1, 0, NULL);
    ddb_arm(ddbs.write_timer, cfg->dynamodb.heartbeat_interval_ms);
    ddb_arm(ddbs.read_timer, cfg->dynamodb.heartbeat_read_ms);
}

int ddb_init(const cfg_t *cfg, ddb_notify_fn notify)
{
    memset(&ddbs, 0, sizeof(ddbs));
    ddbs.notify = notify;
    ddbs.desc_timer = event_new(loop_base(), -1, EV_PERSIST, ddb_on_desc_timer, NULL);
    ddbs.write_timer = event_new(loop_base(), -1, EV_PERSIST, ddb_on_write_timer, NULL);
    ddbs.read_timer = event_new(loop_base(), -1, EV_PERSIST, ddb_on_read_timer, NULL);
    if (!ddbs.desc_timer || !ddbs.write_timer || !ddbs.read_timer)
        return -1;
    ddb_start(cfg);
    return 0;
}

void ddb_configure(const cfg_t *cfg)
{
    ddb_stop();
    ddb_start(cfg);
}

void ddb_fini(void)
{
    ddb_stop();
    if (ddbs.desc_timer)
        event_free(ddbs.desc_timer);
    if (ddbs.write_timer)
        event_free(ddbs.write_timer);
    if (ddbs.read_timer)
        event_free(ddbs.read_timer);
    memset(&ddbs, 0, sizeof(ddbs));
}

