/* test_hist — rolling latency window, Prometheus histogram, EWMA. */
#include <math.h>
#include <stdint.h>

#include "tests/check.h"
#include "core/hist.h"

/* |got - want| <= tol * want */
static int near(double got, double want, double tol)
{
    return fabs(got - want) <= tol * fabs(want);
}

/* Geometric midpoint of bucket i, as the quantile reports it. */
static double mid(int i)
{
    return 0.05 * exp2((i + 0.5) / 4);
}

static uint64_t slot_total(const hist_window_t *h, int s)
{
    uint64_t n = 0;
    for (int i = 0; i < HIST_BUCKETS; i++)
        n += h->count[s][i];
    return n;
}

static void test_quantiles(void)
{
    hist_window_t h;
    hist_window_init(&h, 60000);
    CHECK(h.slot_ms == 15000);
    for (int v = 1; v <= 1000; v++)
        hist_window_add(&h, v, 1000);
    CHECK(hist_window_count(&h, 1000) == 1000);
    CHECK(near(hist_window_quantile(&h, 0.5, 1000), 500, 0.10));
    CHECK(near(hist_window_quantile(&h, 0.9, 1000), 900, 0.10));
    CHECK(near(hist_window_quantile(&h, 0.99, 1000), 990, 0.10));
    CHECK(near(hist_window_quantile(&h, 0.0, 1000), 1, 0.10));
    CHECK(near(hist_window_quantile(&h, 1.0, 1000), 1000, 0.10));
    /* out-of-range q is clamped */
    CHECK(hist_window_quantile(&h, -1, 1000) == hist_window_quantile(&h, 0, 1000));
    CHECK(hist_window_quantile(&h, 2, 1000) == hist_window_quantile(&h, 1, 1000));

    /* bimodal: 90 at 2 ms, 10 at 300 ms */
    hist_window_init(&h, 60000);
    for (int i = 0; i < 90; i++)
        hist_window_add(&h, 2.0, 5);
    for (int i = 0; i < 10; i++)
        hist_window_add(&h, 300.0, 5);
    CHECK(near(hist_window_quantile(&h, 0.5, 5), 2, 0.10));
    CHECK(near(hist_window_quantile(&h, 0.90, 5), 2, 0.10));   /* rank 90 */
    CHECK(near(hist_window_quantile(&h, 0.91, 5), 300, 0.10)); /* rank 91 */
    CHECK(near(hist_window_quantile(&h, 0.99, 5), 300, 0.10));

    /* sub-millisecond and very large values */
    hist_window_init(&h, 60000);
    for (int v = 1; v <= 100; v++)
        hist_window_add(&h, v * 0.01, 0);   /* 0.01 .. 1.00 ms */
    CHECK(near(hist_window_quantile(&h, 0.5, 0), 0.5, 0.10));
    CHECK(near(hist_window_quantile(&h, 0.95, 0), 0.95, 0.10));
}

static void test_bucket_edges(void)
{
    hist_window_t h;

    hist_window_init(&h, 1000);
    CHECK(isnan(hist_window_quantile(&h, 0.5, 0)));
    CHECK(hist_window_count(&h, 0) == 0);

    hist_window_add(&h, 0.001, 0);                  /* below range: bucket 0 */
    CHECK(hist_window_quantile(&h, 0.5, 0) == mid(0));
    hist_window_init(&h, 1000);
    hist_window_add(&h, 0.05, 0);                   /* lower edge of bucket 0 */
    CHECK(hist_window_quantile(&h, 0.5, 0) == mid(0));
    hist_window_init(&h, 1000);
    hist_window_add(&h, 0.1, 0);                    /* 0.05 * 2^(4/4): bucket 4 */
    CHECK(hist_window_quantile(&h, 0.5, 0) == mid(4));
    hist_window_init(&h, 1000);
    hist_window_add(&h, 0.0999, 0);                 /* just below: bucket 3 */
    CHECK(hist_window_quantile(&h, 0.5, 0) == mid(3));
    hist_window_init(&h, 1000);
    hist_window_add(&h, 1e12, 0);                   /* above range: last bucket */
    CHECK(hist_window_quantile(&h, 0.5, 0) == mid(HIST_BUCKETS - 1));
    hist_window_init(&h, 1000);
    hist_window_add(&h, INFINITY, 0);
    CHECK(hist_window_quantile(&h, 0.5, 0) == mid(HIST_BUCKETS - 1));
    hist_window_init(&h, 1000);
    hist_window_add(&h, NAN, 0);                    /* ignored */
    CHECK(hist_window_count(&h, 0) == 0);
    CHECK(isnan(hist_window_quantile(&h, NAN, 0)));

    /* every bucket edge 0.05*2^(i/4) lands in bucket i */
    int ok = 1;
    for (int i = 0; i < HIST_BUCKETS; i++) {
        hist_window_init(&h, 1000);
        hist_window_add(&h, 0.05 * exp2(i / 4.0), 0);
        if (h.count[0][i] != 1)
            ok = 0;
    }
    CHECK(ok);
}

static void test_expiry_and_reuse(void)
{
    hist_window_t h;
    hist_window_init(&h, 4000);     /* 4 slots of 1000 ms */
    CHECK(h.slot_ms == 1000);

    hist_window_add(&h, 10, 500);   /* slot 0, start 0 */
    hist_window_add(&h, 20, 1500);  /* slot 1, start 1000 */
    CHECK(hist_window_count(&h, 1500) == 2);
    CHECK(hist_window_count(&h, 3999) == 2);
    CHECK(hist_window_count(&h, 4000) == 1);   /* slot starting at 0 expired */
    CHECK(near(hist_window_quantile(&h, 0.5, 4000), 20, 0.10));
    CHECK(hist_window_count(&h, 4999) == 1);
    CHECK(hist_window_count(&h, 5000) == 0);   /* everything expired */
    CHECK(isnan(hist_window_quantile(&h, 0.5, 5000)));

    /* slot 0 is reused at 4000..4999: old counts go */
    hist_window_add(&h, 30, 4200);
    CHECK(h.slot_start_ms[0] == 4000);
    CHECK(slot_total(&h, 0) == 1);
    CHECK(hist_window_count(&h, 4200) == 2);   /* 20 @1500 and 30 @4200 */
    CHECK(near(hist_window_quantile(&h, 0.0, 4200), 20, 0.10));
    CHECK(near(hist_window_quantile(&h, 1.0, 4200), 30, 0.10));

    /* a sample whose slot has been reused since is dropped, not mixed in */
    hist_window_add(&h, 40, 300);
    CHECK(slot_total(&h, 0) == 1);
    CHECK(hist_window_count(&h, 4200) == 2);

    /* long idle gap: reuse after many windows still resets */
    hist_window_add(&h, 50, 1000000 + 10);     /* slot 0 again */
    CHECK(slot_total(&h, 0) == 1);
    CHECK(hist_window_count(&h, 1000010) == 1);

    /* tiny window: slot_ms never 0 */
    hist_window_init(&h, 1);
    CHECK(h.slot_ms == 1);
    hist_window_add(&h, 5, 7);
    CHECK(hist_window_count(&h, 7) == 1);
}

static void test_saturation(void)
{
    static hist_window_t h;
    hist_window_init(&h, 4000);
    for (int i = 0; i < 70000; i++)
        hist_window_add(&h, 1.0, 100);
    CHECK(hist_window_count(&h, 100) == UINT16_MAX);
    int b = -1;
    for (int i = 0; i < HIST_BUCKETS; i++)
        if (h.count[0][i])
            b = i;
    CHECK(b >= 0 && h.count[0][b] == UINT16_MAX);
    CHECK(near(hist_window_quantile(&h, 0.5, 100), 1.0, 0.10));
    /* counts from several slots add up beyond one slot's limit */
    for (int i = 0; i < 70000; i++)
        hist_window_add(&h, 1.0, 1100);
    CHECK(hist_window_count(&h, 1100) == 2u * UINT16_MAX);
}

static void test_prom(void)
{
    hist_prom_t p = {0};
    CHECK(hist_prom_bounds_s[0] == 0.001);
    CHECK(hist_prom_bounds_s[7] == 0.25);
    CHECK(hist_prom_bounds_s[HIST_PROM_NBOUNDS - 1] == 5);

    hist_prom_add(&p, 0.25);        /* exactly on a bound: le=0.25 */
    CHECK(p.bucket[7] == 1);
    hist_prom_add(&p, 0.2500001);   /* just above: le=0.5 */
    CHECK(p.bucket[8] == 1);
    hist_prom_add(&p, 0.0);
    hist_prom_add(&p, 0.001);
    CHECK(p.bucket[0] == 2);
    hist_prom_add(&p, 0.0011);
    CHECK(p.bucket[1] == 1);
    hist_prom_add(&p, 5);           /* last finite bound */
    CHECK(p.bucket[HIST_PROM_NBOUNDS - 1] == 1);
    hist_prom_add(&p, 5.0001);      /* +Inf */
    hist_prom_add(&p, 100);
    CHECK(p.bucket[HIST_PROM_NBOUNDS] == 2);
    hist_prom_add(&p, NAN);         /* ignored */
    CHECK(p.count == 8);
    CHECK(near(p.sum_s, 0.25 + 0.2500001 + 0.001 + 0.0011 + 5 + 5.0001 + 100, 1e-12));
    uint64_t total = 0;
    for (int i = 0; i <= HIST_PROM_NBOUNDS; i++)
        total += p.bucket[i];
    CHECK(total == p.count);
}

static void test_ewma(void)
{
    ewma_t e;
    ewma_init(&e, 0.2);
    CHECK(isnan(e.value));
    CHECK(e.alpha == 0.2);
    ewma_add(&e, 10);
    CHECK(e.value == 10);
    ewma_add(&e, 20);
    CHECK(near(e.value, 12, 1e-12));
    ewma_add(&e, 20);
    CHECK(near(e.value, 13.6, 1e-12));
    ewma_add(&e, NAN);
    CHECK(near(e.value, 13.6, 1e-12));
    for (int i = 0; i < 200; i++)
        ewma_add(&e, 50);
    CHECK(near(e.value, 50, 1e-9));

    ewma_init(&e, 1.0);              /* alpha 1: latest sample */
    ewma_add(&e, 3);
    ewma_add(&e, 7);
    CHECK(e.value == 7);
    ewma_init(&e, 0);                /* invalid alpha taken as 1 */
    CHECK(e.alpha == 1);
}

int main(void)
{
    test_quantiles();
    test_bucket_edges();
    test_expiry_and_reuse();
    test_saturation();
    test_prom();
    test_ewma();
    return check_finish();
}
