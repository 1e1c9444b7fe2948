/* fuzz_daemon.h — what the fuzz targets that run the whole daemon share
 * (fuzz_api.c, fuzz_ddb_json.c): a work directory removed at exit, the
 * config parsed with no AWS set-up from the environment, and the modules
 * brought up in daemon/main.c's order.  Header-only: each target is one
 * translation unit of its own (CMakeLists.txt, REGIOND_FUZZ). */
#ifndef REGIOND_FUZZ_DAEMON_H
#define REGIOND_FUZZ_DAEMON_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "core/alarm.h"
#include "daemon/auth.h"
#include "backup/backup.h"
#include "config/cfg.h"
#include "aws/client.h"
#include "daemon/control.h"
#include "probes/ddb.h"
#include "daemon/drill.h"
#include "core/feed.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/resolver.h"
#include "core/state.h"
#include "daemon/targets.h"

static char fz_work_dir[64];

static int fz_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* At exit: the work directory and all in it (state, tokens, socket) go. */
static void fz_cleanup(void)
{
    if (fz_work_dir[0])
        nftw(fz_work_dir, fz_rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* Make fz_work_dir, fuzz-NAME-XXXXXX on tmpfs when there is one (the state
 * files are written and synced often), else in /tmp; removed at exit. */
static int fz_make_work_dir(const char *name)
{
    snprintf(fz_work_dir, sizeof fz_work_dir, "%s/fuzz-%s-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", name);
    if (!mkdtemp(fz_work_dir)) {
        fz_work_dir[0] = '\0';
        return -1;
    }
    atexit(fz_cleanup);
    return 0;
}

/* TEXT parsed as the config, with fixed credentials and nothing else from
 * the environment's AWS set-up, logging only alerts; NULL (said on stderr
 * for WHO) when it does not parse. */
static cfg_t *fz_config(const char *text, const char *who)
{
    char err[1024];
    setenv("AWS_ACCESS_KEY_ID", "AKIDFUZZ", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "fuzzsecret", 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent", 1);
    setenv("AWS_CONFIG_FILE", "/nonexistent", 1);
    log_init(LOG_ALERT);
    cfg_t *c = cfg_parse(text, strlen(text), "fuzz.json", err, sizeof err);
    if (!c)
        fprintf(stderr, "%s: config: %s\n", who, err);
    return c;
}

/* The daemon's modules on C, in daemon/main.c's order.  API (or NULL): the
 * target's own start of the API listener; with it the token file is loaded
 * first and drills are started last, as in main.c.  Said on stderr for WHO. */
static int fz_bring_up(cfg_t *c, int (*api)(const cfg_t *c, char *err, size_t n), const char *who)
{
    char err[1024] = "";
    if (state_init(c->controller.state_dir, err, sizeof err) == -1 || (api && auth_load(c, err, sizeof err) == -1) ||
        loop_init() == -1 || res_init(&c->resolver, err, sizeof err) == -1 ||
        feed_init(c->controller.events_ring, err, sizeof err) == -1 || targets_init() == -1 ||
        (api && api(c, err, sizeof err) == -1) ||
        targets_apply(c, err, sizeof err) == -1 || alarm_init(c) == -1 ||
        aws_init(c, err, sizeof err) == -1 || ctrl_init(c, err, sizeof err) == -1 || ddb_init(c, targets_on_ddb) == -1 ||
        backup_init(c) == -1 || pitr_init(c) == -1 || (api && drill_init() == -1)) {
        fprintf(stderr, "%s: cannot start: %s\n", who, err);
        return -1;
    }
    return 0;
}

#endif
