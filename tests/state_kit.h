/* state_kit.h — the set-up the state module's unit tests share (test_state.c,
 * test_state_json.c): a fresh directory from a mkdtemp() template, the
 * writer thread, the loop and the feed (alarms go to it), completions
 * enabled; the loop pumped until a count of callbacks is reached; all of it
 * torn down and the directory removed. */
#ifndef REGIOND_STATE_KIT_H
#define REGIOND_STATE_KIT_H

#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

#include "core/feed.h"
#include "core/loop.h"
#include "core/state.h"
#include "tests/check.h"

/* Make the directory from dir (a mkdtemp() template, filled in) and start
 * the state module on it with the loop and the feed: 0, or -1 with the
 * reason printed. */
static inline int state_kit_start(char *dir)
{
    char err[256] = "";
    if (!mkdtemp(dir) || state_init(dir, err, sizeof(err)) == -1) {
        fprintf(stderr, "set-up: %s\n", err);
        return -1;
    }
    if (loop_init() == -1 || feed_init(64, err, sizeof(err)) == -1) {   /* alarms go to the feed */
        fprintf(stderr, "set-up: loop, feed\n");
        return -1;
    }
    state_alarms_ready();
    return 0;
}

/* Run the loop until *count reaches n (10 s at most). */
static inline void state_kit_pump(const int *count, int n)
{
    uint64_t until = loop_now_ms() + 10000;
    while (*count < n && loop_now_ms() < until)
        event_base_loop(loop_base(), EVLOOP_ONCE);
}

/* Stop what state_kit_start() started; remove dir (checked). */
static inline void state_kit_stop(const char *dir)
{
    feed_fini();
    state_fini();
    loop_fini();
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

#endif
