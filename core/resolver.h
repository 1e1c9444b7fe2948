/* resolver — every host name regiond contacts is resolved here: c-ares on the
 * daemon's loop, answers cached by their TTL (clamped to min/max), failures
 * cached for negative_ttl_s.  Callers then hand the address to curl with
 * CURLOPT_CONNECT_TO, so curl never resolves names itself. */
#ifndef REGIOND_RESOLVER_H
#define REGIOND_RESOLVER_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "config/cfg.h"

#define RES_MAX_ADDRS 16

typedef struct {
    int family;                       /* AF_INET or AF_INET6 */
    char text[INET6_ADDRSTRLEN];      /* numeric form */
} res_addr_t;

typedef struct {
    int ok;                           /* 1: addrs valid; 0: error in `error` */
    char error[160];                  /* e.g. "api.example.test: name not found (NXDOMAIN)" */
    res_addr_t addrs[RES_MAX_ADDRS];
    size_t n;
    double lookup_ms;                 /* time spent waiting on DNS, 0 when cached */
    int cached;
} res_answer_t;

/* Called once with the answer (possibly before res_lookup returns, when the
 * answer is cached) unless cancelled first. */
typedef void (*res_fn)(void *arg, const res_answer_t *ans);

int res_init(const cfg_resolver_t *rc, char *err, size_t errlen);

/* Apply new servers/timeouts (reload); flushes the cache.  0 or -1 with err. */
int res_configure(const cfg_resolver_t *rc, char *err, size_t errlen);

void res_fini(void);

/* Look host up (ip_version 0, 4 or 6).  Returns a waiter id (> 0) to cancel
 * with, or 0 when the callback already ran (cached answer). */
uint64_t res_lookup(const char *host, int ip_version, res_fn fn, void *arg);

/* Forget a waiter: its callback will not run. */
void res_cancel(uint64_t id);

/* Counters for /metrics. */
typedef struct {
    uint64_t queries, cache_hits, failures;
    size_t cache_entries;
} res_stats_t;
void res_get_stats(res_stats_t *st);

#endif
