/* dnscheck — see dnscheck.h.  Answers are parsed by c-ares
 * (ares_parse_a_reply / ares_parse_aaaa_reply), never by hand. */
#include "failover/dnscheck.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ares.h>
#include <arpa/nameser.h>
#include <event2/event.h>

#include "core/aresl.h"
#include "core/resolver.h"
#include "core/log.h"
#include "core/loop.h"

#define DC_MAXR 64
#define DC_MAXNS 8
_Static_assert(DC_MAXNS >= CFG_MAX_NAME_SERVERS, "the config lets through no more name servers than are asked");
#define DC_MAXADDR 32

static struct {
    const cfg_t *cfg;
    aresl_t *ns[DC_MAXNS];
    size_t nns;
    struct event *tick, *finish;
    bool running;
    size_t n;
    bool drained[DC_MAXR], restored[DC_MAXR], seen[DC_MAXR];
    unsigned run;                 /* consecutive answers without any drained value */
    uint64_t start_ms;
    dnscheck_fn fn;
    void *arg;
    int ok;
    char result[160];
    unsigned gen;                 /* bumps on every start/cancel: stale answers are ignored */
    /* alias records: the addresses their DNS names resolve to */
    char alias_vals[DC_MAXR][RES_MAX_ADDRS][INET6_ADDRSTRLEN];
    size_t n_alias_vals[DC_MAXR];
    uint64_t alias_waiter[DC_MAXR];
    size_t alias_pending;
    dnscheck_stats_t st;
} D;

static void dc_finish_later(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void dnscheck_get_stats(dnscheck_stats_t *st)
{
    *st = D.st;
    st->running = D.running;
}

static void dc_close_servers(void)
{
    for (size_t i = 0; i < D.nns; i++)
        aresl_free(D.ns[i]);
    D.nns = 0;
}

void dnscheck_cancel(void)
{
    D.gen++;
    for (size_t i = 0; i < DC_MAXR; i++) {
        res_cancel(D.alias_waiter[i]);
        D.alias_waiter[i] = 0;
    }
    D.alias_pending = 0;
    if (D.tick)
        evtimer_del(D.tick);
    if (D.finish)
        event_del(D.finish);
    D.running = false;
    dc_close_servers();
}

static void dc_on_finish(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    dnscheck_fn fn = D.fn;
    void *farg = D.arg;
    int ok = D.ok;
    char result[160];
    snprintf(result, sizeof(result), "%s", D.result);
    dnscheck_cancel();
    if (fn)
        fn(farg, ok, result);
}

static void dc_finish_later(int ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(D.result, sizeof(D.result), fmt, ap);
    va_end(ap);
    D.ok = ok;
    evtimer_del(D.tick);
    struct timeval now = {0, 0};
    evtimer_add(D.finish, &now);   /* answer from the loop, never inside a c-ares callback */
}

/* Does region i own one of the answer's values? */
static bool dc_region_in(size_t i, char addrs[][INET6_ADDRSTRLEN], int na)
{
    const cfg_r53_region_t *rr = &D.cfg->route53.regions[i];
    for (size_t v = 0; rr->alias_dns && v < D.n_alias_vals[i]; v++)
        for (int k = 0; k < na; k++)
            if (strcasecmp(D.alias_vals[i][v], addrs[k]) == 0)
                return true;
    for (size_t v = 0; v < rr->n_values; v++)
        for (int k = 0; k < na; k++)
            if (strcasecmp(rr->values[v], addrs[k]) == 0)
                return true;
    return false;
}

static void dc_judge(char addrs[][INET6_ADDRSTRLEN], int na)
{
    bool drained_seen = false;
    for (size_t i = 0; i < D.n; i++) {
        bool in = dc_region_in(i, addrs, na);
        if (in && D.drained[i])
            drained_seen = true;
        if (in)
            D.seen[i] = true;
    }
    D.run = drained_seen ? 0 : D.run + 1;
    if (D.run < D.cfg->route53.dns_consecutive)
        return;
    for (size_t i = 0; i < D.n; i++)
        if (D.restored[i] && !D.seen[i])
            return;
    dc_finish_later(1, "visible after %u answers (%u in a row without a drained region)",
                    D.st.answers, D.run);
}

static void dc_on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    (void)timeouts;
    if ((unsigned)(uintptr_t)arg != D.gen || !D.running)
        return;   /* from a cancelled check, or ARES_EDESTRUCTION */
    if (status != ARES_SUCCESS) {
        D.st.errors++;
        return;
    }
    char addrs[DC_MAXADDR][INET6_ADDRSTRLEN];
    int na = 0;
    if (strcmp(D.cfg->route53.record_type, "AAAA") == 0) {
        struct ares_addr6ttl t[DC_MAXADDR];
        int n = DC_MAXADDR;
        if (ares_parse_aaaa_reply(abuf, alen, NULL, t, &n) == ARES_SUCCESS)
            for (int k = 0; k < n; k++)
                if (inet_ntop(AF_INET6, &t[k].ip6addr, addrs[na], INET6_ADDRSTRLEN))
                    na++;
    } else if (strcmp(D.cfg->route53.record_type, "A") == 0) {
        struct ares_addrttl t[DC_MAXADDR];
        int n = DC_MAXADDR;
        if (ares_parse_a_reply(abuf, alen, NULL, t, &n) == ARES_SUCCESS)
            for (int k = 0; k < n; k++)
                if (inet_ntop(AF_INET, &t[k].ipaddr, addrs[na], INET6_ADDRSTRLEN))
                    na++;
    } else {
        /* CNAME: c-ares turns the answer into a hostent whose h_name is the target. */
        struct hostent *h = NULL;
        if (ares_parse_a_reply(abuf, alen, &h, NULL, NULL) == ARES_SUCCESS && h && h->h_name) {
            snprintf(addrs[0], INET6_ADDRSTRLEN, "%s", h->h_name);
            size_t l = strlen(addrs[0]);
            if (l && addrs[0][l - 1] == '.')
                addrs[0][l - 1] = '\0';
            na = 1;
        }
        if (h)
            ares_free_hostent(h);
    }
    if (na == 0) {
        D.st.errors++;
        return;
    }
    D.st.answers++;
    dc_judge(addrs, na);
}

static void dc_on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    if (!D.running)
        return;
    uint64_t age = loop_now_ms() - D.start_ms;
    if (age >= (uint64_t)D.cfg->route53.dns_timeout_s * 1000u) {
        char who[128] = "";
        for (size_t i = 0; i < D.n; i++)
            if ((D.drained[i] && D.run < D.cfg->route53.dns_consecutive) || (D.restored[i] && !D.seen[i]))
                snprintf(who + strlen(who), sizeof(who) - strlen(who), "%s%s", who[0] ? ", " : "",
                         D.cfg->regions[i].name);
        dc_finish_later(0, "timeout after %u s (%u answers; not yet as expected: %s)",
                        D.cfg->route53.dns_timeout_s, D.st.answers, who[0] ? who : "-");
        return;
    }
    int type = strcmp(D.cfg->route53.record_type, "AAAA") == 0 ? ns_t_aaaa
             : strcmp(D.cfg->route53.record_type, "A") == 0 ? ns_t_a : ns_t_cname;
    for (size_t i = 0; i < D.nns; i++) {
        D.st.queries++;
        ares_query(aresl_channel(D.ns[i]), D.cfg->route53.record_name, ns_c_in, type, dc_on_answer,
                   (void *)(uintptr_t)D.gen);
        aresl_rearm(D.ns[i]);
    }
    uint64_t iv = D.cfg->route53.dns_interval_ms;
    struct timeval tv = {(time_t)(iv / 1000), (suseconds_t)(iv % 1000) * 1000};
    evtimer_add(D.tick, &tv);
}

/* One channel per name server ("IP" or "IP:PORT", "[IPv6]:PORT"). */
static int dc_open_servers(char *err, size_t errlen)
{
    for (size_t i = 0; i < D.cfg->route53.n_name_servers && i < DC_MAXNS; i++) {
        struct ares_options o;
        memset(&o, 0, sizeof(o));
        o.flags = ARES_FLAG_NORECURSE | ARES_FLAG_NOSEARCH;
        o.timeout = (int)D.cfg->route53.dns_interval_ms * 4;
        o.tries = 1;
        aresl_t *a = aresl_new(&o, ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES, err, errlen);
        if (!a)
            return -1;
        D.ns[D.nns++] = a;
        int st = ares_set_servers_ports_csv(aresl_channel(a), D.cfg->route53.name_servers[i]);
        if (st != ARES_SUCCESS) {
            snprintf(err, errlen, "route53.name_servers[%zu] %s: %s (an IP address, with an "
                     "optional port, is expected)", i, D.cfg->route53.name_servers[i], ares_strerror(st));
            return -1;
        }
    }
    return 0;
}

static void dc_begin(void)
{
    char err[256];
    if (dc_open_servers(err, sizeof(err)) == -1) {
        dc_finish_later(0, "%s", err);
        return;
    }
    dc_on_tick(-1, 0, NULL);
}

/* An alias region's expected answers are the addresses its target resolves to. */
static void dc_on_alias(void *arg, const res_answer_t *ans)
{
    size_t i = (size_t)(uintptr_t)arg;
    D.alias_waiter[i] = 0;
    if (!D.running)
        return;
    if (!ans->ok) {
        dc_finish_later(0, "alias target of %s: %.120s", D.cfg->regions[i].name, ans->error);
        return;
    }
    for (size_t k = 0; k < ans->n && k < RES_MAX_ADDRS; k++)
        snprintf(D.alias_vals[i][D.n_alias_vals[i]++], INET6_ADDRSTRLEN, "%s", ans->addrs[k].text);
    if (--D.alias_pending == 0)
        dc_begin();
}

void dnscheck_start(const cfg_t *cfg, const int *from, const int *to, size_t n,
                    dnscheck_fn fn, void *arg)
{
    dnscheck_cancel();
    memset(&D.st, 0, sizeof(D.st));
    D.cfg = cfg;
    D.fn = fn;
    D.arg = arg;
    D.n = n < DC_MAXR ? n : DC_MAXR;
    D.run = 0;
    D.start_ms = loop_now_ms();
    D.running = true;
    bool any = false;
    for (size_t i = 0; i < D.n; i++) {
        D.drained[i] = from[i] > 0 && to[i] == 0;
        D.restored[i] = from[i] <= 0 && to[i] > 0;
        D.seen[i] = false;
        any |= D.drained[i] || D.restored[i];
    }
    char err[256];
    if (cfg->route53.n_name_servers == 0) {
        dc_finish_later(0, "no name servers configured (route53.name_servers)");
        return;
    }
    if (!any) {
        dc_finish_later(1, "no region drained or restored: nothing to observe");
        return;
    }
    (void)err;
    /* Resolve alias targets first (CNAME answers are compared by name). */
    int ipv = strcmp(cfg->route53.record_type, "AAAA") == 0 ? 6 : 4;
    for (size_t i = 0; i < D.n; i++) {
        D.n_alias_vals[i] = 0;
        if (cfg->route53.regions[i].alias_dns && (D.drained[i] || D.restored[i]) &&
            strcmp(cfg->route53.record_type, "CNAME") != 0)
            D.alias_pending++;
    }
    size_t want = D.alias_pending;
    for (size_t i = 0; want && i < D.n && D.running; i++)
        if (cfg->route53.regions[i].alias_dns && (D.drained[i] || D.restored[i]) &&
            strcmp(cfg->route53.record_type, "CNAME") != 0) {
            uint64_t id = res_lookup(cfg->route53.regions[i].alias_dns, ipv, dc_on_alias, (void *)(uintptr_t)i);
            if (id)
                D.alias_waiter[i] = id;
        }
    if (want == 0)
        dc_begin();
}

int dnscheck_init(void)
{
    memset(&D, 0, sizeof(D));
    D.tick = evtimer_new(loop_base(), dc_on_tick, NULL);
    D.finish = evtimer_new(loop_base(), dc_on_finish, NULL);
    return D.tick && D.finish ? 0 : -1;
}

void dnscheck_fini(void)
{
    dnscheck_cancel();
    if (D.tick)
        event_free(D.tick);
    if (D.finish)
        event_free(D.finish);
    memset(&D, 0, sizeof(D));
}
