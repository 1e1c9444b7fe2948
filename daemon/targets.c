/* targets — see targets.h.  Rounds: timer -> resolve -> one probe per
 * address -> fold into `worst` -> health -> feed.  Rounds are in
 * targets_round.c, reload matching (targets_apply) in targets_reload.c;
 * this file makes and frees targets and regions and answers the accessors. */
#include "daemon/targets.h"
#include "daemon/targets_int.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/feed.h"
#include "core/log.h"
#include "core/loop.h"
#include "daemon/control.h"
#include "daemon/drill.h"
#include "daemon/leader.h"
#include "daemon/observers.h"

region_t **tg_regions;
size_t tg_nregions, tg_ntargets;
gen_t *tg_gen, *tg_prev;
reload_info_t tg_info;

void tg_gen_unref(gen_t *g)
{
    if (!g || --g->refs > 0)
        return;
    for (size_t i = 0; i < g->nre; i++)
        if (g->re_set[i])
            regfree(&g->re[i]);
    free(g->re);
    free(g->re_set);
    cfg_free(g->cfg);
    free(g);
}
char *tg_key(const char *region, const cfg_api_t *api)
{
    size_t n = strlen(region) + strlen(api->name) + strlen(api->method) + strlen(api->url) + 4;
    char *k = malloc(n);
    if (k)
        snprintf(k, n, "%s\x1f%s\x1f%s\x1f%s", region, api->name, api->method, api->url);
    return k;
}

/* Split the URL into host/port with libcurl's URL API (never by hand). */
static int tg_parse_url(target_t *t, const char *url)
{
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL, *scheme = NULL;
    int rc = -1;
    if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
        goto out;
    /* Both strings in one allocation, sized to fit (10,000 targets). */
    size_t hl = strlen(host);
    if (!(t->host = malloc(2 * hl + 2)))
        goto out;
    memcpy(t->host, host, hl + 1);
    t->lookup = t->host + hl + 1;
    if (host[0] == '[' && hl > 2)
        snprintf(t->lookup, hl + 1, "%.*s", (int)(hl - 2), host + 1);
    else
        memcpy(t->lookup, host, hl + 1);
    t->port = strtol(port, NULL, 10);
    t->https = strcmp(scheme, "https") == 0;
    unsigned char buf[16];
    t->host_is_ip = inet_pton(AF_INET, t->lookup, buf) == 1 || inet_pton(AF_INET6, t->lookup, buf) == 1;
    rc = 0;
out:
    curl_free(host);
    curl_free(port);
    curl_free(scheme);
    curl_url_cleanup(u);
    return rc;
}

int tg_alloc_slots(target_t *t, unsigned cap)
{
    probe_slot_t *s = calloc(cap, sizeof(*s));
    addr_summary_t *c = calloc(cap, sizeof(*c)), *p = calloc(cap, sizeof(*p));
    if (!s || !c || !p) {
        free(s), free(c), free(p);
        return -1;
    }
    free(t->slots), free(t->cur), free(t->prev);
    t->slots = s, t->cur = c, t->prev = p;
    t->cap = cap;
    t->prev_n = 0;
    return 0;
}
void tg_free(target_t *t)
{
    if (!t)
        return;
    tg_round_abort(t);   /* no transfer uses the share after this */
    if (t->tls_share)
        curl_share_cleanup(t->tls_share);
    if (t->timer)
        event_free(t->timer);
    tg_gen_unref(t->gen);
    free(t->slots), free(t->cur), free(t->prev);
    free(t->key);
    free(t->host);
    free(t);
}

/* libcurl 7.88's share handle keeps 8 TLS sessions, least recently used
 * first out: with more than 8 HTTPS endpoints in one shared cache nearly every
 * fresh-connection probe did a full handshake (bench/probe_cost.py counted
 * it at nginx).  Each HTTPS target keeps its own. */
static int tg_tls_share(target_t *t)
{
    if (!t->https)
        return 0;
    if (!(t->tls_share = curl_share_init()) ||
        curl_share_setopt(t->tls_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK)
        return -1;
    return 0;
}

target_t *tg_new(region_t *r, gen_t *g, const cfg_api_t *api, const regex_t *re)
{
    target_t *t = calloc(1, sizeof(*t));
    if (!t || !(t->key = tg_key(r->name, api)) || tg_parse_url(t, api->url) == -1 ||
        tg_alloc_slots(t, api->max_addresses) == -1 || tg_tls_share(t) == -1 ||
        !(t->timer = evtimer_new(loop_base(), tg_round_start, t))) {
        tg_free(t);
        return NULL;
    }
    t->region = r;
    t->gen = g;
    g->refs++;
    t->api = api;
    t->re = re;
    t->cert_days = NAN;
    health_target_init(&t->health, api->rise, api->fall,
                       (uint64_t)g->cfg->health.latency_window_s * 1000u, loop_now_ms(), loop_wall_ms());
    /* Spread first probes over one interval so many targets never fire together. */
    tg_schedule(t, loop_now_ms() + (uint64_t)(random() % api->interval_ms));
    return t;
}
void tg_region_free(region_t *r, int free_targets)
{
    if (!r)
        return;
    if (free_targets)
        for (size_t i = 0; i < r->n_targets; i++)
            tg_free(r->targets[i]);
    free(r->targets);
    free(r->name);
    free(r);
}
void targets_set_data_finding(size_t i, int sev, const char *finding)
{
    region_t *r = targets_region(i);
    if (!r || (r->data_sev == sev && strcmp(r->data_finding, finding) == 0))
        return;
    r->data_sev = sev;
    snprintf(r->data_finding, sizeof(r->data_finding), "%s", finding);
    tg_region_eval(r);
}

void targets_on_ddb(const ddb_note_t *note)
{
    if (note->kind == DDB_NOTE_FINDING)
        targets_set_data_finding(note->region, note->sev, note->finding);
    else
        ctrl_data_changed();
}

/* The drill's simulated failures no longer count: UNKNOWN until real probes
 * decide (else a region restored meanwhile by another leader would be judged
 * down, and drained, on failures that were never its own). */
static void tg_drill_forget(region_t *r)
{
    if (!r->drill_hit)
        return;
    r->drill_hit = false;
    /* First its quorum state, latched down by the drill: the evaluation the
     * region's reset below starts then decides from unknown, and the reset
     * is recorded whatever that evaluation's combine makes of the views. */
    observers_quorum_forget(r->name, drill_fail_id(r->name));
    for (size_t k = 0; k < r->n_targets; k++)
        health_target_forget(&r->targets[k]->health, "fail drill no longer acting: waiting for real probes",
                             loop_now_ms(), loop_wall_ms());
    tg_region_eval(r);
    log_msg(LOG_NOTICE, "msg=\"fail drill no longer acting: the region's health is unknown until real probes "
                        "decide\" region=%s", r->name);
}

void targets_set_drill_fail(size_t i, bool on)
{
    region_t *r = targets_region(i);
    if (!r)
        return;
    r->drill_fail = on;
    if (!on)
        tg_drill_forget(r);
}

void targets_drill_resume(size_t i)
{
    region_t *r = targets_region(i);
    if (!r || !r->drill_fail || !leader_drills_act())
        return;
    observers_quorum_resume(r->name, drill_fail_id(r->name));   /* before the region's change asks for a decision */
    if (r->state == HEALTH_UNKNOWN) {
        /* No verdict yet (a cold start's first term): its probes fail by the drill from their first
         * round, and an unknown region keeps its live weight meanwhile; down now, beside regions
         * still unknown, would be a fail open (an alarm at every restart mid-drill). */
        log_msg(LOG_INFO, "msg=\"fail drill resumed on a region without a verdict yet: its probes fail by the "
                          "drill from their first round\" region=%s", r->name);
        return;
    }
    r->drill_hit = true;
    for (size_t k = 0; k < r->n_targets; k++) {
        target_t *t = r->targets[k];
        health_state_t old;
        if (!health_target_fail(&t->health, "drill: simulated outage", loop_now_ms(), loop_wall_ms(), &old))
            continue;
        cJSON *d = cJSON_CreateObject();
        if (d) {
            cJSON_AddStringToObject(d, "region", r->name);
            cJSON_AddStringToObject(d, "target", t->api->name);
            cJSON_AddStringToObject(d, "from", health_state_str(old));
            cJSON_AddStringToObject(d, "to", health_state_str(t->health.state));
            cJSON_AddStringToObject(d, "reason", t->health.reason);
        }
        feed_emit(EV_TARGET_STATE, d);
    }
    log_msg(LOG_NOTICE, "msg=\"fail drill resumed: the region's targets take its simulated failures at once\" "
                        "region=%s", r->name);
    tg_region_eval(r);
}

void targets_drill_forget(void)
{
    for (size_t i = 0; i < tg_nregions; i++)
        tg_drill_forget(tg_regions[i]);
}

int targets_region_index(const char *name)
{
    for (size_t i = 0; i < tg_nregions; i++)
        if (strcmp(tg_regions[i]->name, name) == 0)
            return (int)i;
    return -1;
}

void targets_release_previous(void)
{
    tg_gen_unref(tg_prev);
    tg_prev = NULL;
}

void targets_reload_failed(const char *msg)
{
    snprintf(tg_info.last_error, sizeof(tg_info.last_error), "%s", msg);
    tg_info.last_error_wall_ms = loop_wall_ms();
    tg_info.reloads_failed++;
}

const reload_info_t *targets_reload_info(void)
{
    return &tg_info;
}

const gen_t *targets_gen(void)
{
    return tg_gen;
}

size_t targets_nregions(void)
{
    return tg_nregions;
}

region_t *targets_region(size_t i)
{
    return i < tg_nregions ? tg_regions[i] : NULL;
}

size_t targets_count(void)
{
    return tg_ntargets;
}

void targets_summary(char *buf, size_t len)
{
    unsigned n[4] = {0};
    for (size_t i = 0; i < tg_nregions; i++)
        n[tg_regions[i]->state]++;
    snprintf(buf, len, "%zu regions: %u up, %u degraded, %u down, %u unknown; %zu targets; config gen %llu",
             tg_nregions, n[HEALTH_UP], n[HEALTH_DEGRADED], n[HEALTH_DOWN], n[HEALTH_UNKNOWN],
             tg_ntargets, (unsigned long long)tg_info.generation);
}

int targets_init(void)
{
    memset(&tg_info, 0, sizeof(tg_info));
    return 0;
}

void targets_fini(void)
{
    for (size_t i = 0; i < tg_nregions; i++)
        tg_region_free(tg_regions[i], 1);
    free(tg_regions);
    tg_regions = NULL;
    tg_nregions = tg_ntargets = 0;
    tg_gen_unref(tg_gen);
    tg_gen = NULL;
    targets_release_previous();
    targets_drop_prepared();
    targets_round_fini();
}
