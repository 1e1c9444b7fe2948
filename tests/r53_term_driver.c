/* r53_term_driver — a test program, not part of regiond: runs the Route 53
 * actuator (failover/route53*.c) alone on the real loop and AWS client,
 * against the Route 53 peer, and lets a test hand it a lease term the way
 * the lease (cluster/) will.  Used by tests/bb/test_r53_fence_actuator.py.
 *
 * Usage: r53_term_driver CONFIG [EPOCH WINDOW_MS] (a term set before
 * route53_init, as a follower does).  Commands on stdin, one a line:
 *   term EPOCH WINDOW_MS   route53_set_term(EPOCH, now + WINDOW_MS)
 *   apply SEQ W0 W1 ...    route53_apply; prints "apply rc=N"
 *   state                  prints "state idle=I phase=P epoch=E guard=G ready=R"
 *   quit
 * Prints "note NAME" for each note the actuator sends the controller. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "aws/client.h"
#include "config/cfg.h"
#include "core/alarm.h"
#include "core/feed.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/state.h"
#include "failover/route53.h"

static char inbuf[4096];
static size_t inlen;

static void on_note(route53_note_t what)
{
    static const char *const n[] = {"live", "applied", "idle", "failed", "fenced"};
    printf("note %s\n", (unsigned)what < 5 ? n[what] : "?");
}

static void command(char *line)
{
    unsigned long long e, w;
    int ws[64];
    if (sscanf(line, "term %llu %llu", &e, &w) == 2) {
        route53_set_term(e, loop_now_ms() + w);
        printf("term ok\n");
    } else if (strncmp(line, "apply ", 6) == 0) {
        char *p = line + 6, *end;
        unsigned long long seq = strtoull(p, &end, 10);
        size_t n = 0;
        for (p = end; n < 64; p = end) {
            long v = strtol(p, &end, 10);
            if (end == p)
                break;
            ws[n++] = (int)v;
        }
        printf("apply rc=%d\n", route53_apply(seq, ws, n));
    } else if (strcmp(line, "state") == 0) {
        printf("state idle=%d phase=%s epoch=%" PRIu64 " guard=%" PRIu64 " ready=%d\n", route53_idle(),
               route53_phase_str(route53_phase()), route53_epoch(), route53_guard_epoch(), route53_ready());
    } else if (strcmp(line, "quit") == 0) {
        event_base_loopexit(loop_base(), NULL);
    } else {
        printf("error unknown command\n");
    }
}

static void on_stdin(evutil_socket_t fd, short what, void *arg)
{
    (void)what, (void)arg;
    ssize_t r = read(fd, inbuf + inlen, sizeof(inbuf) - 1 - inlen);
    if (r <= 0) {
        event_base_loopexit(loop_base(), NULL);
        return;
    }
    inlen += (size_t)r;
    inbuf[inlen] = '\0';
    char *nl;
    while ((nl = strchr(inbuf, '\n')) != NULL) {
        *nl = '\0';
        command(inbuf);
        size_t used = (size_t)(nl + 1 - inbuf);
        memmove(inbuf, nl + 1, inlen - used + 1);
        inlen -= used;
    }
    if (inlen == sizeof(inbuf) - 1)
        inlen = 0;   /* a line too long: dropped */
}

int main(int argc, char **argv)
{
    char err[1024];
    if (argc != 2 && argc != 4) {
        fprintf(stderr, "usage: %s CONFIG [EPOCH WINDOW_MS]\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    log_init(LOG_DEBUG);
    cfg_t *cfg = cfg_load(argv[1], err, sizeof(err));
    if (!cfg) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    if (loop_init() == -1 || state_init(cfg->controller.state_dir, err, sizeof(err)) == -1 ||
        feed_init(cfg->controller.events_ring, err, sizeof(err)) == -1 || alarm_init(cfg) == -1 ||
        aws_init(cfg, err, sizeof(err)) == -1) {
        fprintf(stderr, "init: %s\n", err);
        return 2;
    }
    if (argc == 4)
        route53_set_term(strtoull(argv[2], NULL, 10), loop_now_ms() + strtoull(argv[3], NULL, 10));
    if (route53_init(cfg, on_note) == -1) {
        fprintf(stderr, "init: %s\n", err);
        return 2;
    }
    struct event *in = event_new(loop_base(), 0, EV_READ | EV_PERSIST, on_stdin, NULL);
    if (!in || event_add(in, NULL) == -1)
        return 2;
    printf("started\n");
    event_base_dispatch(loop_base());
    event_free(in);
    route53_fini();
    aws_fini();
    alarm_fini();
    feed_fini();
    state_fini();
    loop_fini();
    cfg_free(cfg);
    return 0;
}
