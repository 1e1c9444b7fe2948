/* bench_floor: the cost floor for regiond's probes.
 *
 * A minimal libcurl multi loop that does nothing but HTTP(S) GETs over a URL
 * list, with the same transport settings regiond's probes use (fresh
 * connection per probe unless --keepalive; for HTTPS the CA file with
 * CAPATH cleared and TLS sessions shared, ../shared/PEERS.md).  libcurl
 * 7.88's share handle keeps only 8 TLS sessions, so there is one share
 * handle per host:port, or most handshakes over many endpoints are full.  No config, no
 * health, no metrics, no event library: the CPU it spends per probe is the
 * cost below which regiond cannot go with this libcurl.  bench/probe_cost.py
 * runs it beside regiond, blackbox_exporter and curl.
 *
 * usage: bench_floor --urls FILE [--rate N] [--inflight K] [--warmup S]
 *                    [--seconds S] [--cafile F] [--keepalive] [--timeout-ms T]
 * --rate 0 (the default) keeps K probes in flight all the time (maximum rate);
 * --rate N starts N probes per second, paced on the monotonic clock.
 * Prints one JSON line for the measuring window (after the warm-up):
 * probes, ok, probes_per_s, cpu_ms_per_probe, p50_ms, p99_ms, maxrss_kb. */
#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec)
           + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static size_t sink(char *p, size_t sz, size_t n, void *u)
{
    (void)p;
    (void)u;
    return sz * n;
}

/* One share handle (TLS session cache) per URL authority. */
#define MAX_SHARES 4096
static struct {
    char *auth;
    CURLSH *sh;
} shares[MAX_SHARES];
static size_t nshares;

static CURLSH *share_for(const char *url)
{
    const char *a = strstr(url, "://");
    a = a ? a + 3 : url;
    size_t n = strcspn(a, "/?#");
    for (size_t i = 0; i < nshares; i++)
        if (strlen(shares[i].auth) == n && memcmp(shares[i].auth, a, n) == 0)
            return shares[i].sh;
    if (nshares == MAX_SHARES)
        return shares[0].sh;
    CURLSH *sh = curl_share_init();
    char *auth = strndup(a, n);
    if (!sh || !auth) {
        curl_share_cleanup(sh);
        free(auth);
        return NULL;
    }
    curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    shares[nshares].auth = auth;
    shares[nshares].sh = sh;
    return shares[nshares++].sh;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(const double *v, size_t n, double q)
{
    if (!n)
        return NAN;
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

struct opts {
    const char *urls, *cafile;
    double rate, warmup, seconds;
    long inflight, timeout_ms;
    int keepalive;
};

static int usage(void)
{
    fprintf(stderr, "usage: bench_floor --urls FILE [--rate N] [--inflight K] [--warmup S] [--seconds S]\n"
                    "                   [--cafile F] [--keepalive] [--timeout-ms T]\n");
    return 2;
}

static int parse(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){ .inflight = 64, .warmup = 2, .seconds = 10, .timeout_ms = 2000 };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--keepalive") == 0) {
            o->keepalive = 1;
            continue;
        }
        if (!v)
            return -1;
        i++;
        if (strcmp(a, "--urls") == 0)
            o->urls = v;
        else if (strcmp(a, "--cafile") == 0)
            o->cafile = v;
        else if (strcmp(a, "--rate") == 0)
            o->rate = atof(v);
        else if (strcmp(a, "--inflight") == 0)
            o->inflight = atol(v);
        else if (strcmp(a, "--warmup") == 0)
            o->warmup = atof(v);
        else if (strcmp(a, "--seconds") == 0)
            o->seconds = atof(v);
        else if (strcmp(a, "--timeout-ms") == 0)
            o->timeout_ms = atol(v);
        else
            return -1;
    }
    return o->urls && o->inflight > 0 && o->seconds > 0 ? 0 : -1;
}

static char **read_urls(const char *path, size_t *n)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char **v = NULL, line[2048];
    size_t cap = 0;
    *n = 0;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0])
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 256;
            char **nv = realloc(v, cap * sizeof(*v));
            if (!nv)
                goto fail;
            v = nv;
        }
        if (!(v[*n] = strdup(line)))
            goto fail;
        (*n)++;
    }
    fclose(f);
    return v;
fail:
    fclose(f);
    for (size_t i = 0; i < *n; i++)
        free(v[i]);
    free(v);
    return NULL;
}

int main(int argc, char **argv)
{
    struct opts o;
    if (parse(argc, argv, &o) == -1)
        return usage();
    size_t nurls;
    char **urls = read_urls(o.urls, &nurls);
    if (!urls || !nurls) {
        fprintf(stderr, "bench_floor: cannot read URLs from %s\n", o.urls);
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *m = curl_multi_init();
    if (!m)
        return 1;
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, o.inflight * 2);

    size_t cap = 1 << 16, nlat = 0, next_url = 0;
    double *lat = malloc(cap * sizeof(*lat));
    CURL **slot = calloc((size_t)o.inflight, sizeof(*slot));   /* in flight, to clean up at the end */
    if (!lat || !slot)
        return 1;
    long in_flight = 0, done = 0, ok = 0;
    double t_start = now_s(), t_meas = t_start + o.warmup, t_end = t_meas + o.seconds;
    double cpu0 = 0, next_due = t_start;
    int measuring = 0;

    for (;;) {
        double t = now_s();
        if (!measuring && t >= t_meas) {
            measuring = 1;
            cpu0 = cpu_s();
            t_meas = t;
        }
        if (t >= t_end)
            break;
        /* Start what is due: everything up to K in flight at maximum rate, or
         * the probes whose start time has come at a fixed rate. */
        while (in_flight < o.inflight && (o.rate <= 0 || next_due <= t)) {
            const char *url = urls[next_url++ % nurls];
            CURL *e = curl_easy_init();
            CURLSH *sh = share_for(url);
            if (!e || !sh)
                return 1;
            curl_easy_setopt(e, CURLOPT_URL, url);
            curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
            curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
            curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, o.timeout_ms);
            curl_easy_setopt(e, CURLOPT_SHARE, sh);
            if (!o.keepalive) {
                curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
                curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
            }
            if (o.cafile) {
                curl_easy_setopt(e, CURLOPT_CAINFO, o.cafile);
                curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
            }
            long k = 0;
            while (slot[k])
                k++;   /* in_flight < inflight: a free slot exists */
            slot[k] = e;
            curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)k);
            curl_multi_add_handle(m, e);
            in_flight++;
            next_due += o.rate > 0 ? 1.0 / o.rate : 0;
        }
        int running, left;
        long wait_ms = 100;
        if (o.rate > 0) {
            double d = (next_due - now_s()) * 1000;
            wait_ms = d <= 0 ? 0 : d > 100 ? 100 : (long)ceil(d);
        }
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            CURL *e = msg->easy_handle;
            long code = 0;
            curl_off_t us = 0;
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
            curl_easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &us);
            if (measuring) {
                done++;
                if (msg->data.result == CURLE_OK && code == 200)
                    ok++;
                if (nlat == cap) {
                    double *nl = realloc(lat, 2 * cap * sizeof(*lat));
                    if (!nl)
                        return 1;
                    lat = nl;
                    cap *= 2;
                }
                lat[nlat++] = (double)us / 1000.0;
            }
            void *k = NULL;
            curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&k);
            slot[(long)k] = NULL;
            curl_multi_remove_handle(m, e);
            curl_easy_cleanup(e);
            in_flight--;
        }
        curl_multi_poll(m, NULL, 0, (int)wait_ms, NULL);
    }
    double cpu = cpu_s() - cpu0, wall = now_s() - t_meas;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    qsort(lat, nlat, sizeof(*lat), cmp_d);
    double p50 = pct(lat, nlat, 0.5), p99 = pct(lat, nlat, 0.99);
    /* Tidy up: the ASan build's smoke test runs this under LeakSanitizer. */
    for (long k = 0; k < o.inflight; k++)
        if (slot[k]) {
            curl_multi_remove_handle(m, slot[k]);
            curl_easy_cleanup(slot[k]);
        }
    curl_multi_cleanup(m);
    for (size_t i = 0; i < nshares; i++) {
        curl_share_cleanup(shares[i].sh);
        free(shares[i].auth);
    }
    for (size_t i = 0; i < nurls; i++)
        free(urls[i]);
    free(urls);
    free(slot);
    free(lat);
    curl_global_cleanup();
    printf("{\"probes\": %ld, \"ok\": %ld, \"seconds\": %.3f, \"probes_per_s\": %.1f, "
           "\"cpu_ms_per_probe\": %.4f, \"cpu_pct\": %.1f, \"p50_ms\": %.3f, \"p99_ms\": %.3f, "
           "\"maxrss_kb\": %ld}\n",
           done, ok, wall, (double)done / wall, done ? 1000 * cpu / (double)done : NAN,
           100 * cpu / wall, p50, p99, ru.ru_maxrss);
    fflush(stdout);
    return 0;
}
