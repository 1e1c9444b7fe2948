/* dnscheck — after a change is INSYNC, ask the zone's authoritative name
 * servers (route53.name_servers) directly, on the loop with c-ares, until
 * the change is visible: every drained region's value is absent from
 * dns_check.consecutive answers in a row and every restored region's value
 * has appeared.  Weighted answers are random per query, hence the run.
 * One check at a time; a new change cancels the running check. */
#ifndef REGIOND_DNSCHECK_H
#define REGIOND_DNSCHECK_H

#include <stddef.h>

#include "config/cfg.h"

/* ok = 1 when visible; result: "visible after 12 answers from 1 server",
 * "timeout after 120 s: eu-west-1 still answered", ... */
typedef void (*dnscheck_fn)(void *arg, int ok, const char *result);

int dnscheck_init(void);
void dnscheck_fini(void);

/* Watch for weights from -> to (per region, config order).  fn runs once,
 * from the loop, unless cancelled. */
void dnscheck_start(const cfg_t *cfg, const int *from, const int *to, size_t n,
                    dnscheck_fn fn, void *arg);

void dnscheck_cancel(void);

/* Answers seen by the running or last check, for status. */
typedef struct {
    unsigned queries, answers, errors;
    int running;
} dnscheck_stats_t;

void dnscheck_get_stats(dnscheck_stats_t *st);

#endif
