/* libFuzzer target: DynamoDB's answers, through the daemon's own callbacks.
 *
 * regiond reads DynamoDB answers in loop callbacks that also move its state
 * (probes/ddb.c: DescribeTable, GetItem, PutItem; backup/backup.c:
 * CreateBackup, DescribeBackup, ListBackups, DeleteBackup; backup/pitr.c:
 * DescribeContinuousBackups, UpdateContinuousBackups; aws/ddb_call.c: the
 * JSON and the error shape of every answer).  None of them is called here by
 * name: once per process the daemon's modules are set up as daemon/main.c
 * does, from a config with two regions whose DynamoDB endpoints are a small
 * HTTP server inside this process, a heartbeat, PITR kept on and a backup
 * schedule with retention in both regions.  Each input is the answer that
 * server gives to EVERY request during the run: the first byte picks the
 * status ('4' 400, '5' 500, anything else 200), the rest is the body.  Then
 * the target fires every pending timer of the loop at once (time runs ahead:
 * describe, heartbeat write and read, PITR check, backup schedule, polls,
 * retries) and serves what the daemon asks, five times over, so chains
 * such as CreateBackup -> DescribeBackup -> ListBackups -> DeleteBackup run
 * as far as the answer lets them.  The daemon's state (findings, backups it
 * owns, the event ring) carries over from input to input.
 *
 * FUZZ_DDB_SHOW=1 prints each operation asked and the status answered. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "tests/fuzz/fuzz_daemon.h"

#define MAXC 32
#define REQ_MAX 65536

static struct {
    int fd;
    size_t len;
    char buf[REQ_MAX];
} conns[MAXC];

static int lfd = -1, ready, show;
static const uint8_t *ans;      /* this input's answer body */
static size_t ans_len;
static int ans_status;
static unsigned served;

static int setup(void)
{
    char state[128], cfgtext[4096];
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;

    if (fz_make_work_dir("ddb") == -1)
        return -1;
    snprintf(state, sizeof state, "%s/state", fz_work_dir);
    if (mkdir(state, 0700) == -1)
        return -1;
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd == -1 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) == -1 || listen(lfd, 64) == -1 ||
        getsockname(lfd, (struct sockaddr *)&sa, &sl) == -1)
        return -1;
    for (int i = 0; i < MAXC; i++)
        conns[i].fd = -1;
    unsigned port = ntohs(sa.sin_port);
    snprintf(cfgtext, sizeof cfgtext,
             "{\"controller\":{\"id\":\"fuzz\",\"listen\":\"127.0.0.1:1\",\"state_dir\":\"%s\","
             "\"log_level\":\"error\"},"
             "\"probe_defaults\":{\"interval_ms\":3600000,\"timeout_ms\":1000},"
             "\"aws\":{\"endpoints\":{\"dynamodb.us-east-1\":\"http://127.0.0.1:%u\","
             "\"dynamodb.eu-west-1\":\"http://127.0.0.1:%u\"},"
             "\"retry\":{\"base_ms\":10,\"max_ms\":20,\"max_attempts\":2}},"
             "\"dynamodb\":{\"table\":\"orders\",\"describe_interval_s\":1,"
             "\"heartbeat\":{\"interval_ms\":200,\"read_interval_ms\":50},"
             "\"pitr\":{\"enabled\":true,\"check_interval_s\":5},"
             "\"backups\":[{\"name\":\"nightly\",\"regions\":[\"us-east-1\",\"eu-west-1\"],"
             "\"schedule\":\"* * * * *\",\"keep_last\":1,\"keep_days\":1}]},"
             "\"regions\":["
             "{\"name\":\"us-east-1\",\"api\":[{\"url\":\"http://127.0.0.1:9/h\"}]},"
             "{\"name\":\"eu-west-1\",\"api\":[{\"url\":\"http://127.0.0.1:9/h\"}]}]}",
             state, port, port);
    cfg_t *c = fz_config(cfgtext, "fuzz_ddb_json");
    return c ? fz_bring_up(c, NULL, "fuzz_ddb_json") : -1;
}

/* One request read whole (headers and Content-Length body)?  Answer it. */
static void serve_one(int i)
{
    char *end = memmem(conns[i].buf, conns[i].len, "\r\n\r\n", 4);
    if (!end)
        return;
    size_t head = (size_t)(end - conns[i].buf) + 4, body = 0;
    char *cl = memmem(conns[i].buf, head, "\r\nContent-Length:", 17);
    if (!cl)
        cl = memmem(conns[i].buf, head, "\r\ncontent-length:", 17);
    if (cl)
        body = strtoul(cl + 17, NULL, 10);
    if (conns[i].len < head + body)
        return;
    if (show) {
        char *t = memmem(conns[i].buf, head, "X-Amz-Target: ", 14);
        size_t tl = t ? strcspn(t + 14, "\r\n") : 1;
        fprintf(stderr, "fuzz_ddb_json: %.*s -> %d\n", (int)tl, t ? t + 14 : "?", ans_status);
    }
    char hdr[256];
    int n = snprintf(hdr, sizeof hdr,
                     "HTTP/1.1 %d X\r\nContent-Type: application/x-amz-json-1.0\r\n"
                     "x-amzn-RequestId: fuzz\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                     ans_status, ans_len);
    /* Small answers: one write each on loopback; a short write just ends
     * the answer early (the daemon sees a truncated body, also worth it). */
    if (send(conns[i].fd, hdr, (size_t)n, MSG_NOSIGNAL) == n && ans_len)
        (void)!send(conns[i].fd, ans, ans_len, MSG_NOSIGNAL);
    close(conns[i].fd);
    conns[i].fd = -1;
    served++;
}

/* Accept and read what the daemon sends; 1 when something happened. */
static int serve(void)
{
    int moved = 0;
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -1)
            break;
        int i = 0;
        while (i < MAXC && conns[i].fd != -1)
            i++;
        if (i == MAXC) {
            close(fd);
            continue;
        }
        conns[i].fd = fd;
        conns[i].len = 0;
        moved = 1;
    }
    for (int i = 0; i < MAXC; i++) {
        if (conns[i].fd == -1)
            continue;
        ssize_t r = read(conns[i].fd, conns[i].buf + conns[i].len, REQ_MAX - conns[i].len);
        if (r > 0) {
            conns[i].len += (size_t)r;
            moved = 1;
            serve_one(i);
        } else if (r == 0 || (r == -1 && errno != EAGAIN) || conns[i].len == REQ_MAX) {
            close(conns[i].fd);
            conns[i].fd = -1;
        }
    }
    return moved;
}

/* Time runs ahead: every pending timer fires now (collected first; the
 * callbacks run in the next loop turn). */
#define MAXT 256
static struct event *due[MAXT];
static int ndue;

static int collect(const struct event_base *b, const struct event *ev, void *arg)
{
    (void)b, (void)arg;
    if ((event_get_events(ev) & (EV_READ | EV_WRITE | EV_SIGNAL)) == 0 && ndue < MAXT &&
        event_pending(ev, EV_TIMEOUT, NULL))
        due[ndue++] = (struct event *)ev;
    return 0;
}

static void warp(void)
{
    ndue = 0;
    event_base_foreach_event(loop_base(), collect, NULL);
    for (int i = 0; i < ndue; i++)
        event_active(due[i], EV_TIMEOUT, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready) {
        if (setup() == -1)
            abort();
        ready = 1;
        show = getenv("FUZZ_DDB_SHOW") != NULL;
    }
    ans_status = size && data[0] == '4' ? 400 : size && data[0] == '5' ? 500 : 200;
    ans = size ? data + 1 : data;
    ans_len = size ? size - 1 : 0;
    char msg[256];
    backup_run_now("orders", msg, sizeof msg);   /* as POST /v1/backups does */
    for (int round = 0; round < 5; round++) {
        warp();
        int quiet = 0;
        for (int turn = 0; turn < 200 && quiet < 8; turn++) {
            event_base_loop(loop_base(), EVLOOP_NONBLOCK);
            quiet = serve() ? 0 : quiet + 1;
        }
    }
    return 0;
}
