/* libFuzzer target: the status API's request target handling.
 *
 * The daemon (daemon/api.c) serves HTTP with libevent's evhttp, which parses
 * the request line and headers itself; api.c then takes the path and query
 * of the parsed URI (evhttp_uri_get_path/get_query), parses the query with
 * evhttp_parse_query_str (?last_event_id=), decodes /v1/overrides/REGION
 * with evhttp_uridecode and routes on the path.  api.c's routing is not
 * exposed (its functions take a live evhttp_request), so this target stays
 * on libevent's parsers plus a COPY of the routing decision and of
 * api_drill_id / api_last_id's number check (keep in step with api_route,
 * api_get and api_control).  It does not cover the request bodies' JSON
 * (POST /v1/overrides, /v1/drills, /v1/backups) nor auth_check.
 *
 * Input: "METHOD TARGET\n" then optional "Name: value" header lines; only
 * the first line's target and a Last-Event-ID header are used. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

enum { R_BAD, R_NOTFOUND, R_GET, R_CONTROL, R_405 };

static bool drill_id(const char *path, uint64_t *id)
{
    char *end;
    if (strncmp(path, "/v1/drills/", 11) != 0 || !path[11])
        return false;
    *id = strtoull(path + 11, &end, 10);
    return *end == '\0' && path[11] != '-';
}

static int last_id(const char *h, uint64_t *out)
{
    *out = 0;
    if (h && *h) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(h, &end, 10);
        if (errno || *end || h[0] == '-')
            return -1;
        *out = v;
    }
    return 0;
}

static int route(const char *path, bool get)
{
    static const char *const known[] = {"/healthz", "/v1/status", "/metrics", "/v1/events",
                                        "/v1/weights", "/v1/decisions", "/v1/overrides",
                                        "/v1/freeze", "/v1/replicas", "/v1/backups", "/v1/drills", NULL};
    if (!path || !*path)
        return R_BAD;
    bool found = (strncmp(path, "/v1/overrides/", 14) == 0 && path[14]) ||
                 (strncmp(path, "/v1/drills/", 11) == 0 && path[11]);
    for (size_t i = 0; !found && known[i]; i++)
        found = strcmp(path, known[i]) == 0;
    if (!found)
        return R_NOTFOUND;
    if (get)
        return strcmp(path, "/v1/freeze") == 0 || strncmp(path, "/v1/overrides/", 14) == 0 ? R_405 : R_GET;
    return R_CONTROL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 16384)
        return 0;
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';

    char *nl = strchr(buf, '\n');
    if (nl)
        *nl = '\0';
    char *sp = strchr(buf, ' ');
    const char *method = buf, *target = sp ? sp + 1 : buf;
    if (sp)
        *sp = '\0';
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;

    /* headers: only Last-Event-ID matters to api.c's own code */
    const char *lei = NULL;
    for (char *line = nl ? nl + 1 : NULL; line && *line;) {
        char *next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (strncasecmp(line, "Last-Event-ID:", 14) == 0) {
            lei = line + 14;
            while (*lei == ' ')
                lei++;
        }
        line = next;
    }

    /* evhttp parses a request target with EVHTTP_URI_NONCONFORMANT */
    struct evhttp_uri *uri = evhttp_uri_parse_with_flags(target, EVHTTP_URI_NONCONFORMANT);
    if (uri) {
        const char *path = evhttp_uri_get_path(uri);
        int r = route(path, get);
        uint64_t id;
        if (path && r != R_BAD && r != R_NOTFOUND) {
            if (strncmp(path, "/v1/overrides/", 14) == 0)
                free(evhttp_uridecode(path + 14, 0, NULL));
            (void)drill_id(path, &id);
            if (r == R_GET && strcmp(path, "/v1/events") == 0) {
                struct evkeyvalq q;
                TAILQ_INIT(&q);
                const char *h = lei;
                const char *query = evhttp_uri_get_query(uri);
                if (!h && query && evhttp_parse_query_str(query, &q) == 0)
                    h = evhttp_find_header(&q, "last_event_id");
                (void)last_id(h, &id);
                evhttp_clear_headers(&q);
            }
        }
        /* and the generic helpers on every target */
        char *dec = evhttp_uridecode(target, 1, NULL);
        if (dec) {
            char *enc = evhttp_uriencode(dec, -1, 0);
            free(enc);
            free(dec);
        }
        char out[4096];
        (void)evhttp_uri_join(uri, out, sizeof(out));
        const char *query = evhttp_uri_get_query(uri);
        if (query) {
            struct evkeyvalq q;
            TAILQ_INIT(&q);
            if (evhttp_parse_query_str(query, &q) == 0)
                (void)evhttp_find_header(&q, "last_event_id");
            evhttp_clear_headers(&q);
        }
        evhttp_uri_free(uri);
    }
    free(buf);
    return 0;
}
