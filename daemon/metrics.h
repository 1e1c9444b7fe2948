/* metrics — the Prometheus text exposition (format 0.0.4) of /metrics.
 * Series stay bounded: per-region histograms and outcome counters, and a
 * fixed set of per-target gauges (docs/metrics.md counts them). */
#ifndef REGIOND_METRICS_H
#define REGIOND_METRICS_H

#include <event2/buffer.h>

/* Append the whole exposition to out.  0 or -1 (out of memory). */
int metrics_render(struct evbuffer *out);

#endif
