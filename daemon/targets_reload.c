/* targets_reload — a new config generation, and old and new targets
 * matched by identity (region, name, method, URL) so history survives a
 * reload, as keepalived does. */
#include "daemon/targets.h"
#include "daemon/targets_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/loop.h"

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
        tg_gen_unref(g);
    }
    cfg_free(cfg);
    return NULL;
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
    tg_gen_unref(t->gen);
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
        r->born = g->number;
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

/* What targets_prepare() made (the generation and the tables the commit
 * fills), until targets_commit() runs it. */
static struct {
    gen_t *g;
    unsigned nb;
    tg_old_t **tab;
    region_t **nr;
} tg_next;

void targets_drop_prepared(void)
{
    free(tg_next.tab);
    free(tg_next.nr);
    tg_gen_unref(tg_next.g);
    memset(&tg_next, 0, sizeof(tg_next));
}

int targets_prepare(cfg_t *cfg, char *err, size_t errlen)
{
    targets_drop_prepared();   /* normally committed already */
    gen_t *g = gen_new(cfg, err, errlen);
    if (!g)
        return -1;
    tg_next.nb = (unsigned)(tg_ntargets / 2 + 16);
    tg_next.tab = calloc(tg_next.nb, sizeof(*tg_next.tab));
    tg_next.nr = calloc(cfg->n_regions, sizeof(*tg_next.nr));
    tg_next.g = g;
    if (!tg_next.tab || !tg_next.nr) {
        snprintf(err, errlen, "out of memory");
        targets_drop_prepared();
        return -1;
    }
    return 0;
}

void targets_commit(void)
{
    gen_t *g = tg_next.g;
    if (!g)
        return;
    cfg_t *cfg = g->cfg;
    unsigned nb = tg_next.nb;
    tg_old_t **tab = tg_next.tab;
    region_t **nr = tg_next.nr;
    memset(&tg_next, 0, sizeof(tg_next));
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
    tg_gen_unref(tg_prev);   /* normally released already */
    tg_prev = tg_gen;     /* kept until the controller has the new config */
    tg_gen = g;
    tg_info.loaded_wall_ms = g->loaded_wall_ms;
    tg_info.reloads_ok++;
    tg_info.last_error[0] = '\0';
    for (size_t i = 0; i < tg_nregions; i++)
        tg_region_eval(tg_regions[i]);
}

int targets_apply(cfg_t *cfg, char *err, size_t errlen)
{
    if (targets_prepare(cfg, err, errlen) == -1)
        return -1;
    targets_commit();
    return 0;
}
