/* hist — latency statistics with bounded memory.
 *
 * hist_window_t: a rolling window of log-bucketed counts (buckets 2^(1/4)
 * apart from 0.05 ms to ~210 s, so a quantile is within ~10 % of the truth),
 * split into HIST_SLOTS time slots that rotate; memory is fixed per target.
 * hist_prom_t: a cumulative histogram with Prometheus' fixed `le` bounds.
 * Owner: whoever embeds them (a health target or region). */
#ifndef REGIOND_HIST_H
#define REGIOND_HIST_H

#include <stdint.h>

#define HIST_SLOTS 4
#define HIST_BUCKETS 88

typedef struct {
    uint64_t slot_ms;                    /* window length / HIST_SLOTS */
    uint64_t slot_start_ms[HIST_SLOTS];  /* monotonic start of each slot */
    uint16_t count[HIST_SLOTS][HIST_BUCKETS]; /* saturating */
} hist_window_t;

/* Set up an empty window of `window_ms` (>= HIST_SLOTS). */
void hist_window_init(hist_window_t *h, uint64_t window_ms);

/* Record one latency (ms, >= 0) observed at monotonic time now_ms.  Values
 * below 0.05 ms count in the first bucket, above the range in the last; NAN
 * is ignored, as is a sample older than the slot it maps to (time went back). */
void hist_window_add(hist_window_t *h, double ms, uint64_t now_ms);

/* Quantile q in [0,1] of the samples within the window ending at now_ms, in
 * ms (bucket's geometric midpoint); NAN when the window is empty. */
double hist_window_quantile(const hist_window_t *h, double q, uint64_t now_ms);

/* Number of samples in the window ending at now_ms. */
uint64_t hist_window_count(const hist_window_t *h, uint64_t now_ms);

/* Prometheus bucket upper bounds in seconds, ascending; +Inf is implied. */
#define HIST_PROM_NBOUNDS 12
extern const double hist_prom_bounds_s[HIST_PROM_NBOUNDS];

typedef struct {
    uint64_t bucket[HIST_PROM_NBOUNDS + 1]; /* non-cumulative; last is +Inf */
    uint64_t count;
    double sum_s;
} hist_prom_t;

/* Count one value (seconds) in the first bucket whose bound >= it (Prometheus
 * `le`), else in +Inf; add it to sum_s.  NAN is ignored.  Zero-initialise. */
void hist_prom_add(hist_prom_t *h, double seconds);

/* Exponentially weighted moving average; NAN until the first sample. */
typedef struct {
    double value;
    double alpha;   /* weight of the newest sample, (0,1] */
} ewma_t;

/* Start empty (value NAN); alpha outside (0,1] is taken as 1. */
void ewma_init(ewma_t *e, double alpha);

/* Fold in x: the first sample sets value, then value += alpha*(x - value).
 * NAN is ignored. */
void ewma_add(ewma_t *e, double x);

#endif
