/* decide_defer — hold-down and damping: the history of applied changes,
 * when each rule ends, and steps 5-6 that defer weight increases meanwhile
 * (releasing restores when too few regions would serve). */
#include "failover/decide.h"
#include "failover/decide_int.h"

#include <stdlib.h>
#include <string.h>

void decide_history_add(decide_history_t *h, uint64_t now_ms)
{
    if (!h)
        return;
    if (h->n > DECIDE_HISTORY)
        h->n = DECIDE_HISTORY;
    if (h->n == DECIDE_HISTORY) {
        memmove(h->change_ms, h->change_ms + 1, (DECIDE_HISTORY - 1) * sizeof(h->change_ms[0]));
        h->n--;
    }
    h->change_ms[h->n++] = now_ms;
}
/* Milliseconds until the hold-down after the last applied change ends, 0 if over. */
static uint64_t hold_down_due(const decide_cfg_t *cfg, const decide_history_t *hist,
                              uint64_t now_ms)
{
    uint64_t last, elapsed;

    if (!hist || hist->n == 0 || cfg->hold_down_ms == 0)
        return 0;
    last = hist->change_ms[hist->n - 1];
    elapsed = now_ms >= last ? now_ms - last : 0;
    return elapsed < cfg->hold_down_ms ? cfg->hold_down_ms - elapsed : 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Milliseconds until fewer than max_changes changes lie within
 * (now - window_ms, now], 0 if already so; *count gets how many do now. */
static uint64_t damping_due(const decide_cfg_t *cfg, const decide_history_t *hist,
                            uint64_t now_ms, size_t *count)
{
    uint64_t t[DECIDE_HISTORY];
    size_t k = 0;

    *count = 0;
    if (!hist || cfg->max_changes == 0 || cfg->window_ms == 0)
        return 0;
    for (size_t i = 0; i < hist->n && i < DECIDE_HISTORY; i++) {
        uint64_t v = hist->change_ms[i];

        if (v > now_ms || now_ms - v >= cfg->window_ms)
            continue;
        t[k++] = v;
    }
    qsort(t, k, sizeof(t[0]), cmp_u64);  /* oldest first */
    *count = k;
    if (k < cfg->max_changes)
        return 0;
    /* Once t[k - max] leaves the window, max - 1 changes remain in it. */
    return cfg->window_ms - (now_ms - t[k - cfg->max_changes]);
}

/* Release deferred changes that bring a region back (0 -> > 0),
 * healthiest first, until max(1, min_healthy_regions) regions serve. */
static void release_restores(decide_ctx_t *c)
{
    size_t need = c->cfg->min_healthy_regions ? c->cfg->min_healthy_regions : 1;
    size_t serving = count_serving(c);

    for (int rank = 0; rank <= 3 && serving < need; rank++) {
        for (size_t i = 0; i < c->n && serving < need; i++) {
            decide_rule_t r = c->out->rule[i];

            if ((r != DECIDE_RULE_HOLD_DOWN && r != DECIDE_RULE_DAMPING) ||
                c->want[i] == 0 || health_rank(c->in[i].health) != rank)
                continue;
            c->out->weight[i] = c->want[i];
            c->out->rule[i] = DECIDE_RULE_HEALTH;
            c->deferred--;
            serving++;
        }
    }
}

/* Steps 5-6: defer health-driven weight increases during the hold-down or
 * while damping holds, unless that leaves too few regions serving. */
void decide_step_defer(decide_ctx_t *c, const decide_history_t *hist, uint64_t now_ms)
{
    uint64_t hd = hold_down_due(c->cfg, hist, now_ms);
    uint64_t dp = damping_due(c->cfg, hist, now_ms, &c->window_changes);
    decide_rule_t why = dp > hd ? DECIDE_RULE_DAMPING : DECIDE_RULE_HOLD_DOWN;

    if (hd == 0 && dp == 0)
        return;
    for (size_t i = 0; i < c->n; i++) {
        const decide_region_t *r = &c->in[i];

        /* Only weight increases wait: a broken region is drained at once,
         * whatever the anti-flap rules say; bringing it back is what waits. */
        if (c->out->rule[i] != DECIDE_RULE_HEALTH || r->live_weight < 0 ||
            c->out->weight[i] <= r->live_weight)
            continue;
        c->want[i] = c->out->weight[i];
        c->out->weight[i] = r->live_weight;
        c->out->rule[i] = why;
        c->deferred++;
    }
    release_restores(c);
    if (c->deferred)
        c->out->retry_in_ms = hd > dp ? hd : dp;
}
