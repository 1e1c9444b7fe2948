/* regionctl — the operator's command-line client of regiond's status API.
 * A short-lived CLI, so a blocking libcurl easy transfer is fine here. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "ctl/ctl.h"

#define CTL_DEFAULT_API "http://127.0.0.1:9470"

static char ctl_token[300];   /* bearer token from --token-file, "" when none */
#define CTL_MAX_REPLY (64u << 20)


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
            "usage: regionctl [--api URL | --url URL | --socket PATH] [--token-file PATH] COMMAND\n"
            "commands:\n"
            "  status [--json]                     regions and targets, state, reason, latency\n"
            "  status --observers [--json]         every observer's view of the regions, side by side\n"
            "  weights [--json]                    Route 53 weights: live, desired, rule; last change\n"
            "  decisions [--json]                  recent decisions with their inputs and reasons\n"
            "  drain REGION --for DUR [--note T]   take a region out (weight 0) until DUR passes\n"
            "  pin REGION --weight N --for DUR [--note T]\n"
            "  release REGION                      end an override (and accept a drifted record)\n"
            "  freeze [--note T] | unfreeze        keep deciding, stop applying\n"
            "  replicas [--json]                   DynamoDB replicas, findings, replication lag per pair\n"
            "  backups [--json]                    backup schedules (last, next, result) and PITR windows\n"
            "  backup now TABLE                    run TABLE's backup schedules now\n"
            "  drill start REGION --for DUR [--fail] [--dry-run] [--note T]\n"
            "                                      drain (default) or fail a region for DUR, then restore\n"
            "  drill stop ID | drill list [--json] | drill report ID [--json]\n"
            "  metrics                             the Prometheus exposition\n"
            "  events [--follow]                   the events still in the ring; --follow keeps streaming\n"
            "  check-config PATH                   validate a config file (runs regiond --check-config)\n"
            "DUR: 90s, 30m, 2h, 1d or plain seconds.\n"
            "The API defaults to $REGIOND_API or " CTL_DEFAULT_API ".\n"
            "--token-file (or $REGIOND_TOKEN_FILE): a file whose first \"NAME TOKEN\" line is sent as a\n"
            "bearer token (the daemon's token file format); needed for drain, pin, release, freeze, backup.\n"
            "Exit status: 0 done, 1 refused or failed (message on stderr), 2 usage error.\n");
}


/* GET path from the API; 0 with the body in out, or -1 with a message printed. */
int ctl_get(const char *api, const char *path, ctl_buf_t *out, long *code)
{
    return ctl_request(api, "GET", path, NULL, out, code);
}

/* METHOD path with an optional JSON body. */
int ctl_request(const char *api, const char *method, const char *path, const char *body,
                       ctl_buf_t *out, long *code)
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
    /* A change is answered once it is durable: on a stalled disk that takes
     * the write under way plus its own, so a change gets longer. */
    bool change = strcmp(method, "GET") != 0;
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, strcmp(path, "/v1/events") == 0 ? 1500L : change ? 120000L : 10000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    struct curl_slist *h = NULL;
    if (ctl_token[0]) {
        char auth[340];
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", ctl_token);
        h = curl_slist_append(h, auth);
        explicit_bzero(auth, sizeof(auth));
    }
    if (body) {
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    }
    if (h)
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    if (strcmp(method, "GET") != 0)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    CURLcode rc = curl_easy_perform(e);
    curl_slist_free_all(h);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, code);
    long up = 0;   /* request bytes sent: a send error before any left nothing to apply */
    bool sent = curl_easy_getinfo(e, CURLINFO_REQUEST_SIZE, &up) == CURLE_OK && up > 0;
    curl_easy_cleanup(e);
    /* the event stream never ends by itself: a timeout after data is normal */
    if (rc == CURLE_OPERATION_TIMEDOUT && out->len && strcmp(path, "/v1/events") == 0)
        return 0;
    if (rc != CURLE_OK) {
        /* A change sent but never answered (timed out, or the connection
         * closed on it) may still be applied: the operator must look. */
        bool unanswered = change && (rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_GOT_NOTHING ||
                                     rc == CURLE_RECV_ERROR || (rc == CURLE_SEND_ERROR && sent));
        fprintf(stderr, "regionctl: %s%s: %s%s\n", api, path, errbuf[0] ? errbuf : curl_easy_strerror(rc),
                unanswered ? " (no answer: the change may still be applied once regiond's disk finishes "
                "writing it; check with regionctl status)" : "");
        return -1;
    }
    return 0;
}

const char *ctl_str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "-";
}

void ctl_fmt_ms(const cJSON *o, const char *k, char *buf, size_t len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsNumber(v))
        snprintf(buf, len, "%.1f", v->valuedouble);
    else
        snprintf(buf, len, "-");
}

void ctl_fmt_age(double s, char *buf, size_t len)
{
    long v = (long)s;
    if (v < 120)
        snprintf(buf, len, "%lds", v);
    else if (v < 7200)
        snprintf(buf, len, "%ldm%02lds", v / 60, v % 60);
    else
        snprintf(buf, len, "%ldh%02ldm", v / 3600, (v / 60) % 60);
}

int ctl_raw(const char *api, const char *path)
{
    ctl_buf_t b = {0};
    long code = 0;
    if (ctl_get(api, path, &b, &code) == -1)
        return 1;
    fputs(b.data ? b.data : "", stdout);
    free(b.data);
    return code == 200 ? 0 : 1;
}

/* The token of the first "NAME TOKEN" line of path.  0 or -1 (message printed). */
static int ctl_read_token(const char *path)
{
    FILE *f = fopen(path, "re");
    char line[512];
    if (!f) {
        fprintf(stderr, "regionctl: token file %s: %s\n", path, strerror(errno));
        return -1;
    }
    int rc = -1;
    while (fgets(line, sizeof(line), f)) {
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char name[128], tok[300];
        if (sscanf(line, "%127s %299s", name, tok) == 2) {
            snprintf(ctl_token, sizeof(ctl_token), "%s", tok);
            explicit_bzero(tok, sizeof(tok));
            rc = 0;
            break;
        }
    }
    explicit_bzero(line, sizeof(line));
    fclose(f);
    if (rc == -1)
        fprintf(stderr, "regionctl: token file %s: no \"NAME TOKEN\" line\n", path);
    return rc;
}

/* "90s", "30m", "2h", "1d" or seconds; 0 when malformed. */
static long ctl_duration(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    long mul = *end == 0 || strcmp(end, "s") == 0 ? 1 : strcmp(end, "m") == 0 ? 60
             : strcmp(end, "h") == 0 ? 3600 : strcmp(end, "d") == 0 ? 86400 : 0;
    if (v <= 0 || mul == 0 || v > 604800 / mul)
        return 0;
    return v * mul;
}

/* Print a control answer: {"ok":..,"result"|"error":..}; exit status. */
int ctl_show_result(const ctl_buf_t *b, long code)
{
    cJSON *o = b->data ? cJSON_Parse(b->data) : NULL;
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, code == 200 ? "result" : "error");
    if (cJSON_IsString(r))
        fprintf(code == 200 ? stdout : stderr, "%s%s\n", code == 200 ? "" : "regionctl: ", r->valuestring);
    else
        fprintf(stderr, "regionctl: HTTP %ld\n", code);
    cJSON_Delete(o);
    return code == 200 ? 0 : 1;
}

/* drain/pin REGION [--weight N] --for DUR [--note TEXT] */
static int ctl_override(const char *api, int drain, int argc, char **argv)
{
    if (argc < 1) {
        usage(stderr);
        return 2;
    }
    const char *region = argv[0], *note = "";
    long dur = 0, weight = -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--for") == 0 && i + 1 < argc)
            dur = ctl_duration(argv[++i]);
        else if (strcmp(argv[i], "--note") == 0 && i + 1 < argc)
            note = argv[++i];
        else if (!drain && strcmp(argv[i], "--weight") == 0 && i + 1 < argc)
            weight = strtol(argv[++i], NULL, 10);
        else {
            usage(stderr);
            return 2;
        }
    }
    if (dur <= 0) {
        fprintf(stderr, "regionctl: --for DURATION is required (90s, 30m, 2h, 1d; at most 7 days)\n");
        return 2;
    }
    if (!drain && (weight < 0 || weight > 255)) {
        fprintf(stderr, "regionctl: --weight 0..255 is required\n");
        return 2;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "region", region);
    cJSON_AddStringToObject(o, "action", drain ? "drain" : "pin");
    if (!drain)
        cJSON_AddNumberToObject(o, "weight", (double)weight);
    cJSON_AddNumberToObject(o, "duration_s", (double)dur);
    cJSON_AddStringToObject(o, "note", note);
    const char *user = getenv("SUDO_USER") ? getenv("SUDO_USER") : getenv("USER");
    cJSON_AddStringToObject(o, "who", user ? user : "regionctl");
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    ctl_buf_t b = {0};
    long code = 0;
    int rc = body && ctl_request(api, "POST", "/v1/overrides", body, &b, &code) == 0
             ? ctl_show_result(&b, code) : 1;
    free(body);
    free(b.data);
    return rc;
}

static int ctl_simple(const char *api, const char *method, const char *path, const char *body)
{
    ctl_buf_t b = {0};
    long code = 0;
    int rc = ctl_request(api, method, path, body, &b, &code) == 0 ? ctl_show_result(&b, code) : 1;
    free(b.data);
    return rc;
}

static int ctl_drill(const char *api, int argc, char **argv)
{
    if (argc < 1) {
        usage(stderr);
        return 2;
    }
    bool json = argc > 1 && strcmp(argv[argc - 1], "--json") == 0;
    if (strcmp(argv[0], "list") == 0) {
        if (json)
            return ctl_raw(api, "/v1/drills");
        ctl_buf_t b = {0};
        long code = 0;
        if (ctl_get(api, "/v1/drills", &b, &code) == -1)
            return 1;
        cJSON *a = b.data ? cJSON_Parse(b.data) : NULL;
        free(b.data);
        printf("%-4s %-16s %-6s %-8s %-25s %-10s %s\n", "ID", "REGION", "ACTION", "STATE", "STARTED", "REMAINING", "NOTE");
        const cJSON *d;
        cJSON_ArrayForEach(d, a) {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(d, "id");
            const cJSON *rem = cJSON_GetObjectItemCaseSensitive(d, "remaining_s");
            char r[16] = "-";
            if (cJSON_IsNumber(rem))
                snprintf(r, sizeof(r), "%.0f s", rem->valuedouble);
            printf("%-4.0f %-16s %-6s %-8s %-25s %-10s %s\n", cJSON_IsNumber(id) ? id->valuedouble : 0,
                   ctl_str(d, "region"), ctl_str(d, "action"), ctl_str(d, "state"), ctl_str(d, "started_at"), r,
                   ctl_str(d, "note"));
        }
        cJSON_Delete(a);
        return code == 200 ? 0 : 1;
    }
    if (strcmp(argv[0], "report") == 0 && argc >= 2)
        return ctl_drill_report(api, argv[1], json);
    if (strcmp(argv[0], "stop") == 0 && argc >= 2) {
        char path[128];
        snprintf(path, sizeof(path), "/v1/drills/%s", argv[1]);
        return ctl_simple(api, "DELETE", path, NULL);
    }
    if (strcmp(argv[0], "start") != 0 || argc < 2) {
        usage(stderr);
        return 2;
    }
    long dur = 0;
    bool fail = false, dry = false;
    const char *note = "";
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--for") == 0 && i + 1 < argc)
            dur = ctl_duration(argv[++i]);
        else if (strcmp(argv[i], "--note") == 0 && i + 1 < argc)
            note = argv[++i];
        else if (strcmp(argv[i], "--fail") == 0)
            fail = true;
        else if (strcmp(argv[i], "--dry-run") == 0)
            dry = true;
        else {
            usage(stderr);
            return 2;
        }
    }
    if (dur <= 0 || dur > 86400) {
        fprintf(stderr, "regionctl: --for DURATION is required (90s, 30m, 2h; at most 1 day)\n");
        return 2;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "region", argv[1]);
    cJSON_AddStringToObject(o, "action", fail ? "fail" : "drain");
    cJSON_AddNumberToObject(o, "duration_s", (double)dur);
    cJSON_AddBoolToObject(o, "dry_run", dry);
    cJSON_AddStringToObject(o, "note", note);
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    ctl_buf_t b = {0};
    long code = 0;
    int rc = 1;
    if (body && ctl_request(api, "POST", "/v1/drills", body, &b, &code) == 0) {
        cJSON *r = b.data ? cJSON_Parse(b.data) : NULL;
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(r, "id");
        if (code == 201 && cJSON_IsNumber(id)) {
            printf("%s\ndrill id: %.0f (regionctl drill report %.0f)\n", ctl_str(r, "result"), id->valuedouble,
                   id->valuedouble);
            rc = 0;
        } else {
            rc = ctl_show_result(&b, code);
        }
        cJSON_Delete(r);
    }
    free(body);
    free(b.data);
    return rc;
}

static size_t ctl_on_stream(char *p, size_t sz, size_t n, void *arg)
{
    (void)arg;
    fwrite(p, sz, n, stdout);
    fflush(stdout);
    return sz * n;
}

/* GET /v1/events and print it as it arrives, until the daemon goes away. */
static int ctl_follow(const char *api)
{
    char url[1024];
    CURL *e = curl_easy_init();
    if (!e)
        return 1;
    if (strncmp(api, "unix:", 5) == 0) {
        curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, api + 5);
        snprintf(url, sizeof(url), "http://localhost/v1/events");
    } else {
        snprintf(url, sizeof(url), "%.1000s/v1/events", api);
    }
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, ctl_on_stream);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(e);
    curl_easy_cleanup(e);
    if (rc != CURLE_OK)
        fprintf(stderr, "regionctl: %s/v1/events: %s\n", api, curl_easy_strerror(rc));
    return rc == CURLE_OK ? 0 : 1;
}

/* regiond --check-config PATH, with the regiond next to this program if any. */
static int ctl_check_config(const char *path)
{
    char self[4096], bin[4200];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    const char *prog = "regiond";
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            snprintf(bin, sizeof(bin), "%s/regiond", self);
            if (access(bin, X_OK) == 0)
                prog = bin;
        }
    }
    execlp(prog, prog, "--check-config", path, (char *)NULL);
    fprintf(stderr, "regionctl: cannot run %s: %s\n", prog, strerror(errno));
    return 2;
}

/* status [--json] [--observers], in either order. */
static int ctl_status_cmd(const char *api, int argc, char **argv)
{
    int json = 0, obs = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "--observers") == 0)
            obs = 1;
        else {
            fprintf(stderr, "regionctl: status: unknown option %s (expected --json or --observers)\n", argv[i]);
            return 2;
        }
    }
    return obs ? ctl_observers(api, json) : ctl_status(api, json);
}

int main(int argc, char **argv)
{
    const char *api = getenv("REGIOND_API");
    if (!api || !*api)
        api = CTL_DEFAULT_API;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if ((strcmp(argv[i], "--api") == 0 || strcmp(argv[i], "--url") == 0) && i + 1 < argc) {
            api = argv[++i];
        } else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) {
            static char sock[1100];
            snprintf(sock, sizeof(sock), "unix:%s", argv[++i]);
            api = sock;
        } else if (strcmp(argv[i], "--token-file") == 0 && i + 1 < argc) {
            if (ctl_read_token(argv[++i]) == -1)
                return 2;
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
    const char *tf = getenv("REGIOND_TOKEN_FILE");
    if (!ctl_token[0] && tf && *tf && ctl_read_token(tf) == -1)
        return 2;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc;
    const char *cmd = argv[i];
    if (strcmp(cmd, "status") == 0)
        rc = ctl_status_cmd(api, argc - i - 1, argv + i + 1);
    else if (strcmp(cmd, "weights") == 0)
        rc = ctl_weights(api, i + 1 < argc && strcmp(argv[i + 1], "--json") == 0);
    else if (strcmp(cmd, "decisions") == 0)
        rc = ctl_decisions(api, i + 1 < argc && strcmp(argv[i + 1], "--json") == 0);
    else if (strcmp(cmd, "drain") == 0 || strcmp(cmd, "pin") == 0)
        rc = ctl_override(api, strcmp(cmd, "drain") == 0, argc - i - 1, argv + i + 1);
    else if (strcmp(cmd, "release") == 0 && i + 1 < argc) {
        char path[256], *esc = curl_easy_escape(NULL, argv[i + 1], 0);
        snprintf(path, sizeof(path), "/v1/overrides/%s", esc ? esc : "");
        curl_free(esc);
        rc = ctl_simple(api, "DELETE", path, NULL);
    } else if (strcmp(cmd, "freeze") == 0) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "note", i + 2 < argc && strcmp(argv[i + 1], "--note") == 0 ? argv[i + 2] : "");
        char *body = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        rc = ctl_simple(api, "POST", "/v1/freeze", body ? body : "{}");
        free(body);
    } else if (strcmp(cmd, "unfreeze") == 0)
        rc = ctl_simple(api, "DELETE", "/v1/freeze", NULL);
    else if (strcmp(cmd, "drill") == 0)
        rc = ctl_drill(api, argc - i - 1, argv + i + 1);
    else if (strcmp(cmd, "replicas") == 0)
        rc = ctl_replicas(api, i + 1 < argc && strcmp(argv[i + 1], "--json") == 0);
    else if (strcmp(cmd, "backups") == 0)
        rc = ctl_backups(api, i + 1 < argc && strcmp(argv[i + 1], "--json") == 0);
    else if (strcmp(cmd, "backup") == 0 && i + 2 < argc && strcmp(argv[i + 1], "now") == 0) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "table", argv[i + 2]);
        char *body = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        rc = ctl_simple(api, "POST", "/v1/backups", body ? body : "{}");
        free(body);
    } else if (strcmp(cmd, "metrics") == 0)
        rc = ctl_raw(api, "/metrics");
    else if (strcmp(cmd, "events") == 0)
        rc = i + 1 < argc && strcmp(argv[i + 1], "--follow") == 0 ? ctl_follow(api) : ctl_raw(api, "/v1/events");
    else if (strcmp(cmd, "check-config") == 0 && i + 1 < argc)
        rc = ctl_check_config(argv[i + 1]);
    else {
        fprintf(stderr, "regionctl: unknown command '%s'\n", cmd);
        usage(stderr);
        rc = 2;
    }
    curl_global_cleanup();
    return rc;
}
