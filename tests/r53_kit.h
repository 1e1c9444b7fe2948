/* r53_kit.h — the unit fixture the Route 53 actuator's tests share
 * (test_r53_fence.c, test_r53_takeover.c): the two-region config (a at
 * 100, b at 50, CNAME records of api.example.test, controller use1-a); the
 * loop, the state module and the feed on a fresh directory (alarms go to
 * the feed, whose ids are reserved in a state directory); the actuator's
 * state as a fresh read leaves it; a listing record; and the tear-down that
 * removes the state files the actuator and the feed left. */
#ifndef REGIOND_R53_KIT_H
#define REGIOND_R53_KIT_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>

#include "tests/cfg_kit.h"
#include "core/feed.h"
#include "core/loop.h"
#include "core/state.h"
#include "failover/route53_int.h"

#define R53_KIT_URL "'url':'http://127.0.0.1:1/h'"

/* A listing record of region `id` with weight w (CNAME, ttl 60). */
static inline void r53_kit_rec(r53_rrset_t *r, const char *id, long w, const char *value)
{
    r53_rrset_init(r);
    snprintf(r->name, sizeof(r->name), "api.example.test.");
    snprintf(r->type, sizeof(r->type), "CNAME");
    snprintf(r->set_identifier, sizeof(r->set_identifier), "%s", id);
    r->weight = w;
    r->ttl = 60;
    r->values[0] = strdup(value);
    r->n_values = 1;
}

/* A live listing of the group: a at wa, b at wb (as r53_kit_start's
 * known), in acc over live; r53_kit_live_clear() frees it. */
static inline void r53_kit_live(r53_list_t *acc, r53_rrset_t live[2], long wa, long wb)
{
    r53_kit_rec(&live[0], "a", wa, "a.example.test");
    r53_kit_rec(&live[1], "b", wb, "b.example.test");
    *acc = (r53_list_t){.sets = live, .n = 2};
}

static inline void r53_kit_live_clear(r53_rrset_t live[2])
{
    r53_rrset_clear(&live[0]);
    r53_rrset_clear(&live[1]);
}

/* The config, and the loop, state module and feed on dir (a mkdtemp()
 * template, filled in): the config, or NULL with the reason printed. */
static inline cfg_t *r53_kit_start(char *dir)
{
    cfg_t *cfg = parse("{'controller':{'id':'use1-a'},'route53':{'hosted_zone_id':'Z123ABC','record_name':"
                       "'api.example.test','record_type':'CNAME'},'regions':[{'name':'a','api':[{" R53_KIT_URL "}],"
                       "'route53':{'value':'a.example.test'}},{'name':'b','api':[{" R53_KIT_URL "}],"
                       "'route53':{'value':'b.example.test','weight':50}}]}");
    if (!cfg) {
        fprintf(stderr, "config: %s\n", errbuf);
        return NULL;
    }
    char err[256] = "";
    if (!mkdtemp(dir) || loop_init() != 0 || state_init(dir, err, sizeof(err)) != 0
        || feed_init(64, err, sizeof(err)) != 0) {
        fprintf(stderr, "set-up: %s\n", err);
        cfg_free(cfg);
        return NULL;
    }
    return cfg;
}

/* The actuator's state as a fresh read leaves it: what the previous case
 * left freed, regions a (100) and b (50) known and read, leader of epoch
 * `epoch`, sending allowed; the guard set up for that epoch. */
static inline void r53_kit_fresh(cfg_t *cfg, void (*notify)(route53_note_t), uint64_t epoch)
{
    route53_fini();   /* frees what the previous case left; zeroes the state */
    r53s.cfg = cfg;
    r53s.notify = notify;
    r53s.n = 2;
    r53_kit_rec(&r53s.known[0][0], "a", 100, "a.example.test");
    r53_kit_rec(&r53s.known[1][0], "b", 50, "b.example.test");
    r53s.have[0][0] = r53s.have[1][0] = true;
    r53s.read_ok = true;
    r53s.epoch = epoch;
    r53s.send_until_ms = UINT64_MAX;
    r53_guard_setup();
}

/* Stop what r53_kit_start() started; the state's writes done before the
 * directory and the files in it go. */
static inline void r53_kit_stop(cfg_t *cfg, const char *dir)
{
    route53_fini();
    cfg_free(cfg);
    feed_fini();
    state_fini();
    DIR *dd = opendir(dir);
    for (struct dirent *e; dd && (e = readdir(dd)) != NULL;) {
        char path[384];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            unlink(path);
    }
    if (dd)
        closedir(dd);
    rmdir(dir);
}

#endif
