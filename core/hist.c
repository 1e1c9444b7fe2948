/* hist — latency statistics with bounded memory (see hist.h). */
#include "core/hist.h"

#include <math.h>
#include <string.h>

#define HIST_MIN_MS 0.05          /* lower edge of bucket 0 */
#define HIST_STEPS_PER_OCTAVE 4   /* buckets are 2^(1/4) apart */

const double hist_prom_bounds_s[HIST_PROM_NBOUNDS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
};

/* Lower edge of bucket i in ms: 0.05 * 2^(i/4). */
static double bucket_lower(int i)
{
    return HIST_MIN_MS * exp2((double)i / HIST_STEPS_PER_OCTAVE);
}

/* Bucket holding ms; below the first edge -> 0, above the last -> last. */
static int bucket_index(double ms)
{
    if (!(ms >= HIST_MIN_MS))
        return 0;
    double f = floor(HIST_STEPS_PER_OCTAVE * log2(ms / HIST_MIN_MS));
    if (f >= HIST_BUCKETS - 1)
        return HIST_BUCKETS - 1;
    int i = (int)f;
    /* log2 may round across an edge: settle on the exact half-open interval. */
    if (i > 0 && ms < bucket_lower(i))
        i--;
    else if (i < HIST_BUCKETS - 1 && ms >= bucket_lower(i + 1))
        i++;
    return i;
}

/* Whether slot s holds samples of the window (now - window, now]. */
static int slot_live(const hist_window_t *h, int s, uint64_t now_ms)
{
    uint64_t start = h->slot_start_ms[s];
    return start <= now_ms && start + h->slot_ms * HIST_SLOTS > now_ms;
}

void hist_window_init(hist_window_t *h, uint64_t window_ms)
{
    memset(h, 0, sizeof(*h));
    h->slot_ms = window_ms / HIST_SLOTS;
    if (h->slot_ms == 0)
        h->slot_ms = 1;
}

void hist_window_add(hist_window_t *h, double ms, uint64_t now_ms)
{
    if (isnan(ms))
        return;
    int s = (int)((now_ms / h->slot_ms) % HIST_SLOTS);
    uint64_t start = now_ms - now_ms % h->slot_ms;
    if (start < h->slot_start_ms[s])
        return;  /* the slot already holds newer samples: this one is stale */
    if (start > h->slot_start_ms[s]) {
        memset(h->count[s], 0, sizeof(h->count[s]));
        h->slot_start_ms[s] = start;
    }
    uint16_t *c = &h->count[s][bucket_index(ms)];
    if (*c < UINT16_MAX)
        (*c)++;
}

/* Sum the live slots' counts per bucket into out; returns the total. */
static uint64_t window_merge(const hist_window_t *h, uint64_t now_ms,
                             uint64_t out[HIST_BUCKETS])
{
    uint64_t total = 0;
    memset(out, 0, sizeof(uint64_t) * HIST_BUCKETS);
    for (int s = 0; s < HIST_SLOTS; s++) {
        if (!slot_live(h, s, now_ms))
            continue;
        for (int i = 0; i < HIST_BUCKETS; i++) {
            out[i] += h->count[s][i];
            total += h->count[s][i];
        }
    }
    return total;
}

double hist_window_quantile(const hist_window_t *h, double q, uint64_t now_ms)
{
    uint64_t merged[HIST_BUCKETS];
    uint64_t total = window_merge(h, now_ms, merged);
    if (total == 0 || isnan(q))
        return NAN;
    if (q < 0)
        q = 0;
    if (q > 1)
        q = 1;
    double r = ceil(q * (double)total);
    uint64_t rank = r < 1 ? 1 : r > (double)total ? total : (uint64_t)r;
    uint64_t seen = 0;
    int i;
    for (i = 0; i < HIST_BUCKETS - 1; i++) {
        seen += merged[i];
        if (seen >= rank)
            break;
    }
    return HIST_MIN_MS * exp2((i + 0.5) / HIST_STEPS_PER_OCTAVE);
}

uint64_t hist_window_count(const hist_window_t *h, uint64_t now_ms)
{
    uint64_t merged[HIST_BUCKETS];
    return window_merge(h, now_ms, merged);
}

void hist_prom_add(hist_prom_t *h, double seconds)
{
    if (isnan(seconds))
        return;
    int i = 0;
    while (i < HIST_PROM_NBOUNDS && seconds > hist_prom_bounds_s[i])
        i++;
    h->bucket[i]++;   /* i == HIST_PROM_NBOUNDS is +Inf */
    h->count++;
    h->sum_s += seconds;
}

void ewma_init(ewma_t *e, double alpha)
{
    e->value = NAN;
    e->alpha = (alpha > 0 && alpha <= 1) ? alpha : 1;
}

void ewma_add(ewma_t *e, double x)
{
    if (isnan(x))
        return;
    if (isnan(e->value))
        e->value = x;
    else
        e->value += e->alpha * (x - e->value);
}
