/* resolver — see resolver.h.  c-ares 1.18 is driven with ARES_OPT_SOCK_STATE_CB
 * (one libevent event per c-ares socket), ares_process_fd() and a timer set
 * from ares_timeout(). */
#include "core/resolver.h"

#include <arpa/inet.h>
#include <ares.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/log.h"
#include "core/aresl.h"
#include "core/loop.h"

typedef struct res_waiter {
    uint64_t id;
    res_fn fn;
    void *arg;
    struct res_waiter *next;
} res_waiter_t;

typedef struct res_entry {
    char *host;
    int ipv;
    int pending;                 /* a query is in flight */
    uint64_t started_ms;
    uint64_t expires_ms;         /* valid answer/negative until */
    res_answer_t ans;
    res_waiter_t *waiters;
    struct res_entry *next;
} res_entry_t;



#define RES_BUCKETS 1024

static aresl_t *res_al;
static res_entry_t *res_table[RES_BUCKETS];
static cfg_resolver_t res_cfg;
static uint64_t res_next_id = 1;
static res_stats_t res_st;

static unsigned res_hash(const char *h, int ipv)
{
    unsigned x = 2166136261u ^ (unsigned)ipv;
    for (; *h; h++)
        x = (x ^ (unsigned char)*h) * 16777619u;
    return x % RES_BUCKETS;
}

static int res_apply_servers(const cfg_resolver_t *rc, char *err, size_t errlen)
{
    if (rc->n_servers == 0)
        return 0;
    char csv[2048] = "";
    size_t off = 0;
    for (size_t i = 0; i < rc->n_servers; i++) {
        int n = snprintf(csv + off, sizeof(csv) - off, "%s%s", i ? "," : "", rc->servers[i]);
        if (n < 0 || (size_t)n >= sizeof(csv) - off) {
            snprintf(err, errlen, "resolver.servers: list too long");
            return -1;
        }
        off += (size_t)n;
    }
    int st = ares_set_servers_ports_csv(aresl_channel(res_al), csv);
    if (st != ARES_SUCCESS) {
        snprintf(err, errlen, "resolver.servers: %s", ares_strerror(st));
        return -1;
    }
    return 0;
}

static int res_open(const cfg_resolver_t *rc, char *err, size_t errlen)
{
    struct ares_options o;
    memset(&o, 0, sizeof(o));
    o.timeout = (int)rc->timeout_ms;
    o.tries = (int)rc->tries;
    res_al = aresl_new(&o, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES, err, errlen);
    if (!res_al)
        return -1;
    res_cfg = *rc;
    return res_apply_servers(rc, err, errlen);
}

int res_init(const cfg_resolver_t *rc, char *err, size_t errlen)
{
    int st = ares_library_init(ARES_LIB_INIT_ALL);
    if (st != ARES_SUCCESS) {
        snprintf(err, errlen, "resolver: %s", ares_strerror(st));
        return -1;
    }
    return res_open(rc, err, errlen);
}

static void res_deliver(res_entry_t *e)
{
    /* Detach the list first: a callback may start new lookups. */
    res_waiter_t *w = e->waiters;
    e->waiters = NULL;
    res_answer_t ans = e->ans;
    while (w) {
        res_waiter_t *next = w->next;
        w->fn(w->arg, &ans);
        free(w);
        w = next;
    }
}

static void res_fill(res_entry_t *e, int status, struct ares_addrinfo *ai)
{
    uint64_t now = loop_now_ms();
    res_answer_t *a = &e->ans;
    memset(a, 0, sizeof(*a));
    a->lookup_ms = (double)(now - e->started_ms);
    int ttl = (int)res_cfg.max_ttl_s;
    if (status == ARES_SUCCESS && ai) {
        for (struct ares_addrinfo_node *n = ai->nodes; n && a->n < RES_MAX_ADDRS; n = n->ai_next) {
            const void *src = n->ai_family == AF_INET
                ? (const void *)&((struct sockaddr_in *)n->ai_addr)->sin_addr
                : (const void *)&((struct sockaddr_in6 *)n->ai_addr)->sin6_addr;
            if (!inet_ntop(n->ai_family, src, a->addrs[a->n].text, sizeof(a->addrs[a->n].text)))
                continue;
            a->addrs[a->n++].family = n->ai_family;
            if (n->ai_ttl < ttl)
                ttl = n->ai_ttl;
        }
    }
    if (a->n > 0) {
        a->ok = 1;
        if (ttl < (int)res_cfg.min_ttl_s)
            ttl = (int)res_cfg.min_ttl_s;
        e->expires_ms = now + (uint64_t)ttl * 1000u;
        return;
    }
    res_st.failures++;
    const char *why = status == ARES_ENOTFOUND ? "name not found (NXDOMAIN)"
                    : status == ARES_ENODATA || status == ARES_SUCCESS ? "no address records"
                    : status == ARES_ETIMEOUT ? "timeout, no answer from the DNS servers"
                    : status == ARES_ECONNREFUSED ? "DNS server refused the connection"
                    : status == ARES_ESERVFAIL ? "server failure (SERVFAIL)"
                    : status == ARES_EREFUSED ? "query refused (REFUSED)"
                    : ares_strerror(status);
    snprintf(a->error, sizeof(a->error), "%s: %s", e->host, why);
    e->expires_ms = now + (uint64_t)res_cfg.negative_ttl_s * 1000u;
}

static void res_on_answer(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
    (void)timeouts;
    res_entry_t *e = arg;
    if (status == ARES_EDESTRUCTION) {   /* channel going away: entries are freed by res_fini */
        if (ai)
            ares_freeaddrinfo(ai);
        return;
    }
    e->pending = 0;
    res_fill(e, status, ai);
    if (ai)
        ares_freeaddrinfo(ai);
    res_deliver(e);
}

static res_entry_t *res_find(const char *host, int ipv)
{
    for (res_entry_t *e = res_table[res_hash(host, ipv)]; e; e = e->next)
        if (e->ipv == ipv && strcmp(e->host, host) == 0)
            return e;
    return NULL;
}

static res_entry_t *res_entry_new(const char *host, int ipv)
{
    res_entry_t *e = calloc(1, sizeof(*e));
    if (!e || !(e->host = strdup(host))) {
        free(e);
        return NULL;
    }
    e->ipv = ipv;
    unsigned b = res_hash(host, ipv);
    e->next = res_table[b];
    res_table[b] = e;
    res_st.cache_entries++;
    return e;
}

uint64_t res_lookup(const char *host, int ip_version, res_fn fn, void *arg)
{
    res_st.queries++;
    res_entry_t *e = res_find(host, ip_version);
    uint64_t now = loop_now_ms();
    if (e && !e->pending && e->expires_ms > now) {
        res_st.cache_hits++;
        res_answer_t ans = e->ans;
        ans.cached = 1;
        ans.lookup_ms = 0;
        fn(arg, &ans);
        return 0;
    }
    if (!e && !(e = res_entry_new(host, ip_version)))
        goto oom;
    res_waiter_t *w = calloc(1, sizeof(*w));
    if (!w)
        goto oom;
    w->id = res_next_id++;
    w->fn = fn;
    w->arg = arg;
    w->next = e->waiters;
    e->waiters = w;
    uint64_t id = w->id;   /* w may be gone once c-ares has answered */
    if (!e->pending) {
        e->pending = 1;
        e->started_ms = now;
        struct ares_addrinfo_hints hints;
        memset(&hints, 0, sizeof(hints));
        hints.ai_family = ip_version == 4 ? AF_INET : ip_version == 6 ? AF_INET6 : AF_UNSPEC;
        hints.ai_flags = ARES_AI_NOSORT;
        ares_getaddrinfo(aresl_channel(res_al), host, NULL, &hints, res_on_answer, e);
        aresl_rearm(res_al);
        if (!e->pending)
            return 0;   /* answered at once (/etc/hosts): the callback has run */
    }
    return id;
oom: {
        res_answer_t ans;
        memset(&ans, 0, sizeof(ans));
        snprintf(ans.error, sizeof(ans.error), "%s: out of memory", host);
        fn(arg, &ans);
        return 0;
    }
}

void res_cancel(uint64_t id)
{
    if (!id)
        return;
    for (unsigned b = 0; b < RES_BUCKETS; b++)
        for (res_entry_t *e = res_table[b]; e; e = e->next)
            for (res_waiter_t **pp = &e->waiters; *pp; pp = &(*pp)->next)
                if ((*pp)->id == id) {
                    res_waiter_t *w = *pp;
                    *pp = w->next;
                    free(w);
                    return;
                }
}

static void res_flush(int keep_pending)
{
    for (unsigned b = 0; b < RES_BUCKETS; b++) {
        res_entry_t **pp = &res_table[b];
        while (*pp) {
            res_entry_t *e = *pp;
            if (keep_pending && (e->pending || e->waiters)) {
                e->expires_ms = 0;
                pp = &e->next;
                continue;
            }
            *pp = e->next;
            while (e->waiters) {
                res_waiter_t *w = e->waiters;
                e->waiters = w->next;
                free(w);
            }
            free(e->host);
            free(e);
            res_st.cache_entries--;
        }
    }
}

int res_configure(const cfg_resolver_t *rc, char *err, size_t errlen)
{
    res_cfg = *rc;
    res_flush(1);
    /* Servers change on the live channel; timeout_ms and tries take effect at
     * the next start (documented in docs/config.md). */
    if (rc->n_servers == 0)
        return 0;
    return res_apply_servers(rc, err, errlen);
}

void res_get_stats(res_stats_t *st)
{
    *st = res_st;
}

void res_fini(void)
{
    aresl_free(res_al);   /* answers pending queries with ARES_EDESTRUCTION */
    res_al = NULL;
    res_flush(0);
    ares_library_cleanup();
}
