/* regionctl — the operator's command-line client of regiond's status API.
 * A short-lived CLI, so a blocking libcurl easy transfer is fine here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#define CTL_DEFAULT_API "http://127.0.0.1:9470"
#define CTL_MAX_REPLY (64u << 20)

typedef struct {
    char *data;
    size_t len;
} ctl_buf_t;

static size_t ctl_on_data(char *p, size_t sz, size_t n, void *arg)
{
    ctl_buf_t *b = arg;
    size_t add = sz * n;
    if (b->len + add > CTL_MAX_REPLY)
        return 0;
    char *nd = realloc(b->data, b->len + add + 1);
    if (!nd)
        return 0;
    memcpy(nd + b->len, p, add);
    b->data = nd;
    b->len += add;
    b->data[b->len] = '\0';
    return add;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: regionctl [--api URL | --api unix:/path] COMMAND\n"
            "commands:\n"
            "  status [--json]    regions and targets, state, reason, latency\n"
            "  metrics            the Prometheus exposition\n"
            "  events             the events still in the ring (server-sent events)\n"
            "The API defaults to $REGIOND_API or " CTL_DEFAULT_API ".\n");
}

/* GET path from the API; 0 with the body in out, or -1 with a message printed. */
static int ctl_get(const char *api, const char *path, ctl_buf_t *out, long *code)
{
    char url[1024];
    CURL *e = curl_easy_init();
    if (!e)
        return -1;
    if (strncmp(api, "unix:", 5) == 0) {
        curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, api + 5);
        snprintf(url, sizeof(url), "http://localhost%s", path);
    } else {
        snprintf(url, sizeof(url), "%s%s", api, path);
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, ctl_on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, strcmp(path, "/v1/events") == 0 ? 1500L : 10000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(e);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, code);
    curl_easy_cleanup(e);
    /* the event stream never ends by itself: a timeout after data is normal */
    if (rc == CURLE_OPERATION_TIMEDOUT && out->len && strcmp(path, "/v1/events") == 0)
        return 0;
    if (rc != CURLE_OK) {
        fprintf(stderr, "regionctl: %s%s: %s\n", api, path, errbuf[0] ? errbuf : curl_easy_strerror(rc));
        return -1;
    }
    return 0;
}

static const char *ctl_str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "-";
}

static void ctl_fmt_ms(const cJSON *o, const char *k, char *buf, size_t len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsNumber(v))
        snprintf(buf, len, "%.1f", v->valuedouble);
    else
        snprintf(buf, len, "-");
}

static void ctl_fmt_age(double s, char *buf, size_t len)
{
    long v = (long)s;
    if (v < 120)
        snprintf(buf, len, "%lds", v);
    else if (v < 7200)
        snprintf(buf, len, "%ldm%02lds", v / 60, v % 60);
    else
        snprintf(buf, len, "%ldh%02ldm", v / 3600, (v / 60) % 60);
}

static void ctl_print_targets(const cJSON *ts)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, ts) {
        const cJSON *lat = cJSON_GetObjectItemCaseSensitive(t, "latency_ms");
        char p50[16], p99[16], age[32];
        ctl_fmt_ms(lat, "p50", p50, sizeof(p50));
        ctl_fmt_ms(lat, "p99", p99, sizeof(p99));
        const cJSON *since = cJSON_GetObjectItemCaseSensitive(t, "since_s");
        ctl_fmt_age(cJSON_IsNumber(since) ? since->valuedouble : 0, age, sizeof(age));
        const cJSON *ins = cJSON_GetObjectItemCaseSensitive(t, "insecure");
        printf("  %-16s %-9s %-8s %8s %8s  %s%s\n", ctl_str(t, "name"), ctl_str(t, "state"), age,
               p50, p99, ctl_str(t, "reason"), cJSON_IsTrue(ins) ? " [TLS verification OFF]" : "");
    }
}

static int ctl_status(const char *api, int json)
{
    ctl_buf_t b = {0};
    long code = 0;
    if (ctl_get(api, "/v1/status", &b, &code) == -1)
        return 1;
    if (json) {
        fputs(b.data ? b.data : "", stdout);
        putchar('\n');
        free(b.data);
        return code == 200 ? 0 : 1;
    }
    cJSON *root = b.data ? cJSON_Parse(b.data) : NULL;
    free(b.data);
    if (!root || code != 200) {
        fprintf(stderr, "regionctl: unexpected answer from %s (HTTP %ld)\n", api, code);
        cJSON_Delete(root);
        return 1;
    }
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(root, "config");
    const cJSON *gen = cJSON_GetObjectItemCaseSensitive(cfg, "generation");
    printf("%s\n", ctl_str(root, "summary"));
    printf("config %s (generation %.0f)\n", ctl_str(cfg, "path"), cJSON_IsNumber(gen) ? gen->valuedouble : 0);
    const cJSON *le = cJSON_GetObjectItemCaseSensitive(cfg, "last_error");
    if (cJSON_IsString(le))
        printf("CONFIG RELOAD FAILED, old config running: %s\n", le->valuestring);
    printf("\n%-18s %-9s %-8s %8s %8s  %s\n", "REGION/TARGET", "STATE", "SINCE", "P50 ms", "P99 ms", "REASON");
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(root, "regions")) {
        char age[32];
        const cJSON *since = cJSON_GetObjectItemCaseSensitive(r, "since_s");
        ctl_fmt_age(cJSON_IsNumber(since) ? since->valuedouble : 0, age, sizeof(age));
        printf("%-18s %-9s %-8s %8s %8s  %s\n", ctl_str(r, "name"), ctl_str(r, "state"), age, "", "",
               ctl_str(r, "reason"));
        ctl_print_targets(cJSON_GetObjectItemCaseSensitive(r, "targets"));
    }
    cJSON_Delete(root);
    return 0;
}

static int ctl_raw(const char *api, const char *path)
{
    ctl_buf_t b = {0};
    long code = 0;
    if (ctl_get(api, path, &b, &code) == -1)
        return 1;
    fputs(b.data ? b.data : "", stdout);
    free(b.data);
    return code == 200 ? 0 : 1;
}

int main(int argc, char **argv)
{
    const char *api = getenv("REGIOND_API");
    if (!api || !*api)
        api = CTL_DEFAULT_API;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--api") == 0 && i + 1 < argc) {
            api = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("regionctl %s\n", REGIOND_VERSION);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc;
    const char *cmd = argv[i];
    if (strcmp(cmd, "status") == 0)
        rc = ctl_status(api, i + 1 < argc && strcmp(argv[i + 1], "--json") == 0);
    else if (strcmp(cmd, "metrics") == 0)
        rc = ctl_raw(api, "/metrics");
    else if (strcmp(cmd, "events") == 0)
        rc = ctl_raw(api, "/v1/events");
    else {
        fprintf(stderr, "regionctl: unknown command '%s'\n", cmd);
        usage(stderr);
        rc = 2;
    }
    curl_global_cleanup();
    return rc;
}
