/* observers — this instance's view for cluster/views.c (observers.h). */
#include "daemon/observers.h"

#include <stdio.h>
#include <string.h>

#include "cluster/views.h"
#include "core/loop.h"
#include "daemon/targets.h"

/* Each region's cumulative counts at the last heartbeat, and the counts of
 * the window that ended there. */
static struct {
    struct {
        char name[65];
        uint64_t probes, failures;       /* cumulative at the last heartbeat */
        uint32_t w_probes, w_failures;   /* the last window's */
    } r[CFG_MAX_REGIONS];
    size_t n;
    uint64_t last_ms, window_ms;
} ob;

static void counts(const region_t *r, uint64_t *probes, uint64_t *failures)
{
    uint64_t all = 0;
    for (size_t i = 0; i < PROBE_OUTCOME_COUNT; i++)
        all += r->outcomes[i];
    *probes = all;
    *failures = all - r->outcomes[PROBE_OK] - r->outcomes[PROBE_SLOW];
}

static uint32_t clamp32(uint64_t x)
{
    return x > VIEW_COUNT_MAX ? VIEW_COUNT_MAX : (uint32_t)x;
}

/* A new window: each region's counts since the last heartbeat (a region new
 * since then, or whose counts went back, counts from zero). */
static void new_window(uint64_t now)
{
    size_t n = targets_nregions();
    for (size_t i = 0; i < n && i < CFG_MAX_REGIONS; i++) {
        const region_t *r = targets_region(i);
        uint64_t p, f, p0 = 0, f0 = 0;
        counts(r, &p, &f);
        for (size_t j = 0; j < ob.n; j++)
            if (strcmp(ob.r[j].name, r->name) == 0 && ob.r[j].probes <= p && ob.r[j].failures <= f) {
                p0 = ob.r[j].probes;
                f0 = ob.r[j].failures;
            }
        ob.r[i].w_probes = clamp32(p - p0);
        ob.r[i].w_failures = clamp32(f - f0);
        if (ob.r[i].w_failures > ob.r[i].w_probes)
            ob.r[i].w_failures = ob.r[i].w_probes;
    }
    for (size_t i = 0; i < n && i < CFG_MAX_REGIONS; i++) {
        const region_t *r = targets_region(i);
        snprintf(ob.r[i].name, sizeof(ob.r[i].name), "%s", r->name);
        counts(r, &ob.r[i].probes, &ob.r[i].failures);
    }
    ob.n = n < CFG_MAX_REGIONS ? n : CFG_MAX_REGIONS;
    ob.window_ms = ob.last_ms ? now - ob.last_ms : 0;
    ob.last_ms = now;
}

static view_state_t vstate(health_state_t s)
{
    switch (s) {
    case HEALTH_UP: return VIEW_UP;
    case HEALTH_DEGRADED: return VIEW_DEGRADED;
    case HEALTH_DOWN: return VIEW_DOWN;
    default: return VIEW_UNKNOWN;
    }
}

static int local_view(view_t *v, bool heartbeat)
{
    uint64_t now = loop_now_ms();
    if (heartbeat || !ob.last_ms)
        new_window(now);
    size_t n = targets_nregions();
    v->n = 0;
    v->window_ms = ob.window_ms;
    v->suspect = false;   /* placeholder: self-partition detection is a later slice of issue 18 */
    for (size_t i = 0; i < n && v->n < VIEW_MAX_REGIONS; i++) {
        const region_t *r = targets_region(i);
        view_region_t *o = &v->regions[v->n++];
        snprintf(o->region, sizeof(o->region), "%s", r->name);
        o->state = vstate(r->state);
        view_set_reason(o, r->reason);
        o->age_ms = now > r->since_mono_ms ? now - r->since_mono_ms : 0;
        for (size_t j = 0; j < ob.n; j++)
            if (strcmp(ob.r[j].name, r->name) == 0) {
                o->probes = ob.r[j].w_probes;
                o->failures = ob.r[j].w_failures;
            }
    }
    return 0;
}

int observers_init(const cfg_t *cfg)
{
    memset(&ob, 0, sizeof(ob));
    return views_init(cfg, local_view);
}

void observers_configure(const cfg_t *cfg)
{
    views_configure(cfg);
}

void observers_fini(void)
{
    views_fini();
}
