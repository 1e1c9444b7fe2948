/* targets — see targets.h.  Rounds: timer -> resolve -> one probe per
 * address -> fold into `worst` -> health -> feed.  Reload matching is in
 * targets_apply(). */
#include "targets.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "feed.h"
#include "log.h"
#include "loop.h"
#include "resolver.h"
#include "sdn.h"

static region_t **tg_regions;
static size_t tg_nregions, tg_ntargets;
static gen_t *tg_gen, *tg_prev;
static reload_info_t tg_info;

static void tg_round_start(evutil_socket_t fd, short what, void *arg);

static void gen_unref(gen_t *g)
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

static gen_t *gen_new(cfg_t *cfg, char *err, size_t errlen)
{
    gen_t *g = calloc(1, sizeof(*g));
    size_t n = 0;
    for (size_t r = 0; r < cfg->n_regions; r++)
        n += cfg->regions[r].n_api;
    if (!g || !(g->re = calloc(n, sizeof(regex_t))) || !(g->re_set = calloc(n, sizeof(bool)))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    g->cfg = cfg;
    g->refs = 1;
    g->nre = n;
    g->number = ++tg_info.generation;
    g->loaded_wall_ms = loop_wall_ms();
    size_t k = 0;
    for (size_t r = 0; r < cfg->n_regions; r++)
        for (size_t a = 0; a < cfg->regions[r].n_api; a++, k++) {
            const char *rx = cfg->regions[r].api[a].body_regex;
            if (!rx)
                continue;
            if (regcomp(&g->re[k], rx, REG_EXTENDED | REG_NOSUB) != 0) {
                snprintf(err, errlen, "regions[%zu].api[%zu].body_regex: does not compile", r, a);
                goto fail;
            }
            g->re_set[k] = true;
        }
    return g;
fail:
    if (g) {
        g->cfg = NULL;
        g->refs = 1;
        gen_unref(g);
    }
    cfg_free(cfg);
    return NULL;
}

static char *tg_key(const char *region, const cfg_api_t *api)
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
    snprintf(t->host, sizeof(t->host), "%s", host);
    size_t hl = strlen(host);
    if (host[0] == '[' && hl > 2)
        snprintf(t->lookup, sizeof(t->lookup), "%.*s", (int)(hl - 2), host + 1);
    else
        snprintf(t->lookup, sizeof(t->lookup), "%s", host);
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

static int tg_alloc_slots(target_t *t, unsigned cap)
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

static void tg_schedule(target_t *t, uint64_t due)
{
    uint64_t now = loop_now_ms();
    t->due_ms = due;
    uint64_t wait = due > now ? due - now : 0;
    struct timeval tv = {(time_t)(wait / 1000), (suseconds_t)(wait % 1000) * 1000};
    evtimer_add(t->timer, &tv);
}

/* Cancel what a round has in flight and drop it. */
static void tg_round_abort(target_t *t)
{
    if (!t->busy)
        return;
    res_cancel(t->res_waiter);
    t->res_waiter = 0;
    for (unsigned i = 0; i < t->naddr; i++)
        if (t->slots[i].probe) {
            probe_http_cancel(t->slots[i].probe);
            t->slots[i].probe = NULL;
        }
    gen_unref(t->rgen);
    t->rgen = NULL;
    t->busy = false;
}

static void tg_free(target_t *t)
{
    if (!t)
        return;
    tg_round_abort(t);   /* no transfer uses the share after this */
    if (t->tls_share)
        curl_share_cleanup(t->tls_share);
    if (t->timer)
        event_free(t->timer);
    gen_unref(t->gen);
    free(t->slots), free(t->cur), free(t->prev);
    free(t->key);
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

static target_t *tg_new(region_t *r, gen_t *g, const cfg_api_t *api, const regex_t *re)
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

static int tg_severity(probe_outcome_t o)
{
    return o == PROBE_OK ? 0 : o == PROBE_SLOW ? 1 : 2;
}

static void tg_region_eval(region_t *r)
{
    health_state_t st[r->n_targets ? r->n_targets : 1];
    for (size_t i = 0; i < r->n_targets; i++)
        st[i] = r->targets[i]->health.state;
    char reason[HEALTH_REASON_MAX];
    health_state_t ns = health_region_eval((int)r->cfg->rule, r->cfg->quorum, st, r->n_targets,
                                           reason, sizeof(reason));
    if (r->data_sev && ns != HEALTH_UNKNOWN) {
        health_state_t ds = r->data_sev == 2 ? HEALTH_DOWN : HEALTH_DEGRADED;
        if ((ds == HEALTH_DOWN && ns != HEALTH_DOWN) || (ds == HEALTH_DEGRADED && ns == HEALTH_UP)) {
            ns = ds;
            snprintf(reason, sizeof(reason), "data: %.240s", r->data_finding);
        }
    }
    snprintf(r->reason, sizeof(r->reason), "%s", reason);
    if (ns == r->state)
        return;
    health_state_t old = r->state;
    r->state = ns;
    r->since_mono_ms = loop_now_ms();
    r->since_wall_ms = loop_wall_ms();
    cJSON *d = cJSON_CreateObject();
    if (d) {
        cJSON_AddStringToObject(d, "region", r->name);
        cJSON_AddStringToObject(d, "from", health_state_str(old));
        cJSON_AddStringToObject(d, "to", health_state_str(ns));
        cJSON_AddStringToObject(d, "reason", reason);
    }
    feed_emit("region_state", d);
    char sum[256];
    targets_summary(sum, sizeof(sum));
    sdn_status(sum);
    ctrl_health_changed();
}

static void tg_round_finish(target_t *t)
{
    probe_result_t *w = &t->worst;
    if (t->naddr > 1 && w->outcome != PROBE_OK) {
        char tmp[PROBE_REASON_MAX];
        snprintf(tmp, sizeof(tmp), "%.47s: %.200s", w->addr, w->reason);
        memcpy(w->reason, tmp, sizeof(w->reason));
    }
    w->dns_ms = t->round_dns_ms;
    if (t->region->drill_fail) {   /* a simulated outage: the real answer is replaced */
        w->outcome = PROBE_INTERNAL;
        snprintf(w->reason, sizeof(w->reason), "drill: simulated outage");
    }
    t->last = *w;
    memcpy(t->prev, t->cur, t->naddr * sizeof(*t->cur));
    t->prev_n = t->naddr;
    t->last_wall_ms = loop_wall_ms();
    t->outcomes[w->outcome]++;
    t->region->outcomes[w->outcome]++;
    if (w->total_ms >= 0)
        hist_prom_add(&t->region->latency, w->total_ms / 1000.0);
    gen_unref(t->rgen);
    t->rgen = NULL;
    t->busy = false;
    health_result_t hr = w->outcome == PROBE_OK ? HEALTH_RES_OK
                       : w->outcome == PROBE_SLOW ? HEALTH_RES_SLOW : HEALTH_RES_FAIL;
    health_state_t old;
    if (!health_target_observe(&t->health, hr, w->reason, w->total_ms, loop_now_ms(),
                               loop_wall_ms(), &old))
        return;
    cJSON *d = cJSON_CreateObject();
    if (d) {
        cJSON_AddStringToObject(d, "region", t->region->name);
        cJSON_AddStringToObject(d, "target", t->api->name);
        cJSON_AddStringToObject(d, "from", health_state_str(old));
        cJSON_AddStringToObject(d, "to", health_state_str(t->health.state));
        cJSON_AddStringToObject(d, "reason", t->health.reason);
    }
    feed_emit("target_state", d);
    tg_region_eval(t->region);
}

static void tg_fold(target_t *t, unsigned idx, const probe_result_t *r)
{
    addr_summary_t *s = &t->cur[idx];
    snprintf(s->addr, sizeof(s->addr), "%s", r->addr);
    s->outcome = r->outcome;
    s->http_status = r->http_status;
    s->total_ms = r->total_ms;
    if (!isnan(r->cert_expiry_days)) {
        t->cert_days = r->cert_expiry_days;
        t->cert_wall_ms = loop_wall_ms();
    }
    if (idx == 0 || tg_severity(r->outcome) > tg_severity(t->worst.outcome) ||
        (tg_severity(r->outcome) == tg_severity(t->worst.outcome) && r->total_ms > t->worst.total_ms
         && r->outcome == PROBE_OK))
        t->worst = *r;
}

static void tg_on_probe(void *arg, const probe_result_t *r)
{
    probe_slot_t *s = arg;
    target_t *t = s->t;
    s->probe = NULL;
    tg_fold(t, s->idx, r);
    if (--t->pending == 0)
        tg_round_finish(t);
}

static void tg_probe_addrs(target_t *t, const res_addr_t *addrs, size_t n)
{
    bool full = t->https && (t->last_full_hs_ms == 0 ||
                loop_now_ms() - t->last_full_hs_ms >= (uint64_t)t->api->full_handshake_s * 1000u);
    if (full)
        t->last_full_hs_ms = loop_now_ms();
    t->naddr = (unsigned)(n < t->cap ? n : t->cap);
    t->pending = t->naddr;
    for (unsigned i = 0; i < t->naddr; i++) {
        t->slots[i].t = t;
        t->slots[i].idx = i;
        t->slots[i].probe = NULL;
    }
    for (unsigned i = 0; i < t->naddr; i++) {
        /* The callback may run at once (start failed) and finish the round. */
        probe_http_t *p = probe_http_start(&t->rspec, addrs ? addrs[i].text : NULL, full,
                                           tg_on_probe, &t->slots[i]);
        if (p && t->busy)
            t->slots[i].probe = p;
    }
}

static void tg_on_resolved(void *arg, const res_answer_t *ans)
{
    target_t *t = arg;
    t->res_waiter = 0;
    t->round_dns_ms = ans->lookup_ms;
    if (!ans->ok) {
        memset(&t->worst, 0, sizeof(t->worst));
        t->worst.outcome = PROBE_DNS;
        t->worst.dns_ms = t->worst.connect_ms = t->worst.tls_ms = -1;
        t->worst.ttfb_ms = t->worst.total_ms = -1;
        t->worst.cert_expiry_days = NAN;
        snprintf(t->worst.reason, sizeof(t->worst.reason), "dns: %s", ans->error);
        t->naddr = 0;
        tg_round_finish(t);
        return;
    }
    tg_probe_addrs(t, ans->addrs, ans->n);
}

static void tg_round_start(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    target_t *t = arg;
    uint64_t now = loop_now_ms(), next = t->due_ms + t->api->interval_ms;
    tg_schedule(t, next > now ? next : now + t->api->interval_ms);
    if (t->busy)
        return;   /* the previous round is still waiting on DNS: skip this one */
    t->busy = true;
    t->rgen = t->gen;
    t->rgen->refs++;
    t->rspec = (probe_spec_t){.api = t->api, .regex = t->re, .ca_file = t->gen->cfg->tls.ca_file,
                              .host = t->host, .port = t->port, .https = t->https,
                              .tls_share = t->tls_share};
    t->round_dns_ms = 0;
    if (t->host_is_ip) {
        tg_probe_addrs(t, NULL, 1);
        return;
    }
    uint64_t id = res_lookup(t->lookup, t->api->ip_version, tg_on_resolved, t);
    if (t->busy && id)
        t->res_waiter = id;
}

/* ---- reload: match old and new targets by identity ---- */

typedef struct tg_old {
    target_t *t;
    struct tg_old *next;
} tg_old_t;

static unsigned tg_hash(const char *k, unsigned nb)
{
    unsigned h = 2166136261u;
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 16777619u;
    return h % nb;
}

static region_t *tg_take_region(const char *name)
{
    for (size_t i = 0; i < tg_nregions; i++)
        if (tg_regions[i] && strcmp(tg_regions[i]->name, name) == 0) {
            region_t *r = tg_regions[i];
            tg_regions[i] = NULL;
            return r;
        }
    return NULL;
}

static void tg_region_free(region_t *r, int free_targets)
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

/* Reuse an old target for `api` when identity matches, updating it to the
 * new generation; else build a new one. */
static target_t *tg_adopt(tg_old_t **tab, unsigned nb, region_t *r, gen_t *g,
                          const cfg_api_t *api, const regex_t *re)
{
    char *key = tg_key(r->name, api);
    if (!key)
        return NULL;
    tg_old_t **pp = &tab[tg_hash(key, nb)];
    for (; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->t->key, key) == 0)
            break;
    free(key);
    if (!*pp)
        return tg_new(r, g, api, re);
    tg_old_t *o = *pp;
    target_t *t = o->t;
    *pp = o->next;
    free(o);
    uint32_t old_interval = t->api->interval_ms;
    if (api->max_addresses != t->cap) {
        tg_round_abort(t);
        if (tg_alloc_slots(t, api->max_addresses) == -1) {
            tg_free(t);
            return NULL;
        }
    }
    gen_unref(t->gen);
    t->gen = g;
    g->refs++;
    t->api = api;
    t->re = re;
    t->region = r;
    health_target_set_params(&t->health, api->rise, api->fall);
    if (api->interval_ms != old_interval) {
        evtimer_del(t->timer);
        tg_schedule(t, loop_now_ms() + (uint64_t)(random() % api->interval_ms));
    }
    return t;
}

static region_t *tg_build_region(const cfg_region_t *rc, gen_t *g, size_t first_re,
                                 tg_old_t **tab, unsigned nb)
{
    region_t *r = tg_take_region(rc->name);
    if (!r) {
        r = calloc(1, sizeof(*r));
        if (!r || !(r->name = strdup(rc->name))) {
            free(r);
            return NULL;
        }
        r->state = HEALTH_UNKNOWN;
        r->since_mono_ms = loop_now_ms();
        r->since_wall_ms = loop_wall_ms();
        snprintf(r->reason, sizeof(r->reason), "no probe yet");
    }
    free(r->targets);   /* old targets stay reachable through `tab` */
    r->targets = calloc(rc->n_api, sizeof(*r->targets));
    r->n_targets = 0;
    r->cfg = rc;
    if (!r->targets) {
        tg_region_free(r, 0);
        return NULL;
    }
    for (size_t a = 0; a < rc->n_api; a++) {
        size_t k = first_re + a;
        target_t *t = tg_adopt(tab, nb, r, g, &rc->api[a], g->re_set[k] ? &g->re[k] : NULL);
        if (!t) {
            tg_region_free(r, 1);
            return NULL;
        }
        r->targets[r->n_targets++] = t;
    }
    return r;
}

int targets_apply(cfg_t *cfg, char *err, size_t errlen)
{
    gen_t *g = gen_new(cfg, err, errlen);
    if (!g)
        return -1;
    unsigned nb = (unsigned)(tg_ntargets / 2 + 16);
    tg_old_t **tab = calloc(nb, sizeof(*tab));
    region_t **nr = calloc(cfg->n_regions, sizeof(*nr));
    if (!tab || !nr) {
        free(tab), free(nr);
        snprintf(err, errlen, "out of memory");
        gen_unref(g);
        return -1;
    }
    for (size_t i = 0; i < tg_nregions; i++)
        for (size_t j = 0; j < tg_regions[i]->n_targets; j++) {
            tg_old_t *o = malloc(sizeof(*o));
            XCHECK(o);
            o->t = tg_regions[i]->targets[j];
            unsigned h = tg_hash(o->t->key, nb);
            o->next = tab[h];
            tab[h] = o;
        }
    size_t first = 0, total = 0;
    for (size_t i = 0; i < cfg->n_regions; i++) {
        nr[i] = tg_build_region(&cfg->regions[i], g, first, tab, nb);
        XCHECK(nr[i]);   /* partial rebuilds are not undoable: restart cleanly */
        first += cfg->regions[i].n_api;
        total += cfg->regions[i].n_api;
    }
    for (unsigned b = 0; b < nb; b++)       /* targets that left the config */
        while (tab[b]) {
            tg_old_t *o = tab[b];
            tab[b] = o->next;
            log_msg(LOG_NOTICE, "msg=\"target removed\" region=%s target=%s", o->t->region->name,
                    o->t->api->name);
            tg_free(o->t);
            free(o);
        }
    free(tab);
    for (size_t i = 0; i < tg_nregions; i++)  /* regions that left the config */
        tg_region_free(tg_regions[i], 0);
    free(tg_regions);
    tg_regions = nr;
    tg_nregions = cfg->n_regions;
    tg_ntargets = total;
    gen_unref(tg_prev);   /* normally released already */
    tg_prev = tg_gen;     /* kept until the controller has the new config */
    tg_gen = g;
    tg_info.loaded_wall_ms = g->loaded_wall_ms;
    tg_info.reloads_ok++;
    tg_info.last_error[0] = '\0';
    for (size_t i = 0; i < tg_nregions; i++)
        tg_region_eval(tg_regions[i]);
    return 0;
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

void targets_set_drill_fail(size_t i, bool on)
{
    region_t *r = targets_region(i);
    if (r)
        r->drill_fail = on;
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
    gen_unref(tg_prev);
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
    gen_unref(tg_gen);
    tg_gen = NULL;
    targets_release_previous();
}
