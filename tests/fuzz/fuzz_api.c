/* libFuzzer target: the status and control API, whole requests through the
 * real daemon.
 *
 * Once per process the daemon's modules are set up as daemon/main.c does
 * (state, tokens, loop, resolver, feed, targets, API, alarms, AWS, the
 * controller, DynamoDB, backups, PITR, drills) from a config with three
 * regions, a Route 53 record group (its endpoint refuses connections, so the
 * controller runs without live weights) and a token file, and the API
 * listens on a unix socket (api_init, its public entry point: nothing of
 * daemon/api.c is copied or exposed).  Each input is sent as raw bytes on a
 * new connection to that socket; the loop runs until the daemon has
 * answered and gone quiet, closed the connection, or waited a bounded number
 * of turns for the rest of a request; then the connection is closed.  So
 * evhttp's request parsing, api.c's routing, auth_check, every handler and
 * the JSON body handlers (POST /v1/overrides, /v1/freeze, /v1/drills,
 * /v1/backups, DELETE /v1/overrides/REGION) run as in production.
 *
 * The seed corpus (tests/fuzz/corpus/fuzz_api/) holds requests for every
 * endpoint, with the token FUZZ_TOKEN where one is needed. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon/api.h"
#include "tests/fuzz/fuzz_daemon.h"

#define FUZZ_TOKEN "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff00010203"

static char sock_path[108];
static int ready;
static int show;          /* FUZZ_API_SHOW=1: the daemon's answers go to stderr */

/* api_init gained the controller section (caps, allowed hosts) on a
 * sibling branch: call whichever this tree has. */
typedef int (*api_init_old_t)(const char *, char *, size_t);
typedef int (*api_init_new_t)(const char *, const void *, char *, size_t);
static int fz_api_init_old(const char *l, const cfg_t *c, char *e, size_t n)
{
    (void)c;
    return ((api_init_old_t)(void (*)(void))api_init)(l, e, n);
}
static int fz_api_init_new(const char *l, const cfg_t *c, char *e, size_t n)
{
    return ((api_init_new_t)(void (*)(void))api_init)(l, &c->controller, e, n);
}
#define FZ_API_INIT(l, c, e, n) \
    _Generic(&api_init, api_init_old_t: fz_api_init_old, default: fz_api_init_new)(l, c, e, n)

static int write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    fclose(f);
    return chmod(path, mode);
}

/* The API's start for fz_bring_up: whichever api_init this tree has. */
static int fz_api(const cfg_t *c, char *err, size_t n)
{
    return FZ_API_INIT(c->controller.listen, c, err, n);
}

static int setup(void)
{
    char tokens[256], state[256], cfgtext[4096];
    if (fz_make_work_dir("api") == -1)
        return -1;
    const char *dir = fz_work_dir;
    snprintf(tokens, sizeof tokens, "%s/tokens", dir);
    snprintf(state, sizeof state, "%s/state", dir);
    snprintf(sock_path, sizeof sock_path, "%s/api.sock", dir);
    if (mkdir(state, 0700) == -1 ||
        write_file(tokens, "ops " FUZZ_TOKEN "\nviewer 00112233445566778899aabbccddeeff00112233 ro\n",
                   0600) == -1)
        return -1;
    snprintf(cfgtext, sizeof cfgtext,
             "{\"controller\":{\"id\":\"fuzz\",\"listen\":\"unix:%s\",\"state_dir\":\"%s\","
             "\"token_file\":\"%s\",\"log_level\":\"error\"},"
             "\"probe_defaults\":{\"interval_ms\":3600000,\"timeout_ms\":1000},"
             "\"aws\":{\"endpoints\":{\"route53\":\"http://127.0.0.1:9\"},"
             "\"retry\":{\"base_ms\":60000,\"max_ms\":60000,\"max_attempts\":1}},"
             "\"route53\":{\"hosted_zone_id\":\"Z0FUZZ\",\"record_name\":\"api.example.test\","
             "\"record_type\":\"A\"},"
             "\"decision\":{\"min_healthy_regions\":1,\"hold_down_s\":0,\"settle_ms\":0},"
             "\"regions\":["
             "{\"name\":\"us-east-1\",\"api\":[{\"url\":\"http://127.0.0.1:9/h\"}],"
             "\"route53\":{\"value\":\"127.0.0.11\"}},"
             "{\"name\":\"eu-west-1\",\"api\":[{\"url\":\"http://127.0.0.1:9/h\"}],"
             "\"route53\":{\"value\":\"127.0.0.12\",\"weight\":50}},"
             "{\"name\":\"ap-southeast-2\",\"api\":[{\"url\":\"http://127.0.0.1:9/h\"}],"
             "\"route53\":{\"value\":\"127.0.0.13\"}}]}",
             sock_path, state, tokens);
    cfg_t *c = fz_config(cfgtext, "fuzz_api");
    return c ? fz_bring_up(c, fz_api, "fuzz_api") : -1;
}

static void pump(void)
{
    event_base_loop(loop_base(), EVLOOP_NONBLOCK);
}

/* Send DATA on a new connection, run the loop until the daemon answered and
 * went quiet, closed, or never answered within a bounded number of turns. */
static void exchange(const uint8_t *data, size_t size)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char buf[65536];
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1)
        abort();
    memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == -1) {
        close(fd);
        pump();
        return;
    }
    size_t off = 0;
    int got = 0, quiet = 0;
    for (int turn = 0; turn < 400; turn++) {
        if (off < size) {
            ssize_t w = send(fd, data + off, size - off, MSG_NOSIGNAL);
            if (w > 0)
                off += (size_t)w;
            else if (w == -1 && errno != EAGAIN)
                off = size;   /* the daemon closed on us */
        }
        pump();
        ssize_t r = read(fd, buf, sizeof buf);
        if (r == 0 || (r == -1 && errno != EAGAIN))
            break;        /* closed by the daemon */
        if (r > 0) {
            if (show)
                fwrite(buf, 1, (size_t)r, stderr);
            got = 1;
            quiet = 0;
            continue;
        }
        if (off == size && ++quiet > (got ? 3 : 30))
            break;        /* answered and quiet, or waiting for a request that never ends */
    }
    close(fd);
    for (int i = 0; i < 3; i++)
        pump();           /* let evhttp see the close and free the connection */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready) {
        if (setup() == -1)
            abort();
        ready = 1;
        show = getenv("FUZZ_API_SHOW") != NULL;
    }
    exchange(data, size);
    return 0;
}
