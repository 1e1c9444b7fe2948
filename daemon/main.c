/* regiond — multi-region availability controller.  main() wires the modules
 * together in dependency order and tears them down in reverse (chrony's
 * X_Initialise/X_Finalise habit). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/alarm.h"
#include "daemon/api.h"
#include "daemon/auth.h"
#include "backup/backup.h"
#include "cluster/lease.h"
#include "daemon/observers.h"
#include "daemon/control_replica.h"
#include "daemon/leader.h"
#include "config/cfg.h"
#include "aws/client.h"
#include "daemon/control.h"
#include "probes/ddb.h"
#include "daemon/drill.h"
#include "core/feed.h"
#include "daemon/iam.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/resolver.h"
#include "daemon/rsrc.h"
#include "systemd/sdn.h"
#include "core/state.h"
#include "daemon/status.h"
#include "daemon/targets.h"

static const char *m_config_path = CFG_DEFAULT_PATH;
static struct event *m_sig_term, *m_sig_int, *m_sig_hup;
static const char *m_listen;   /* controller.listen as started (it changes only at restart) */
static bool m_cfg_taken;       /* start-up: the running generation owns the config */

static void usage(FILE *f)
{
    fprintf(f,
            "regiond - multi-region availability controller\n\n"
            "usage: regiond [--config PATH]                 run the daemon (default " CFG_DEFAULT_PATH ")\n"
            "       regiond --check-config PATH             validate a config file; exit 0 if good, 1 if not\n"
            "       regiond --print-iam-policy [--config PATH]  the least-privilege IAM policy the config needs\n"
            "       regiond --version | --help\n\n"
            "The daemon probes each region's API, decides region health with hysteresis, moves Route 53\n"
            "weighted records (safely), watches the DynamoDB global table, keeps backups and PITR, and\n"
            "serves JSON status, /metrics, server-sent events and a dashboard on controller.listen.\n\n"
            "signals:  SIGHUP reloads the config (a bad file keeps the old one running);\n"
            "          SIGTERM/SIGINT stop within 5 s (transfers cancelled, state flushed).\n"
            "systemd:  Type=notify (READY=1, STATUS=, WATCHDOG=1, STOPPING=1); the regiond.service unit.\n"
            "files:    the config (docs/config.md); controller.state_dir holds event-id, control.json,\n"
            "          route53-change.json, backups.json, drills.json, view-epoch.json, audit.log.\n"
            "env:      AWS_* credentials as the AWS SDKs read them; CREDENTIALS_DIRECTORY (systemd\n"
            "          LoadCredential=) for secrets the config names; JOURNAL_STREAM (naming stderr: journal fields).\n"
            "exit:     0 clean stop or good config; 1 config or start-up error; 2 usage error.\n"
            "client:   regionctl --help.\n");
}

/* What the loaded config needs beyond its own validation: files it names. */
static int m_check_runtime(const cfg_t *c, char *err, size_t errlen)
{
    if (access(c->tls.ca_file, R_OK) == -1) {
        snprintf(err, errlen, "%s: tls.ca_file: cannot read %s: %s", c->path, c->tls.ca_file,
                 strerror(errno));
        return -1;
    }
    return 0;
}

/* What the daemon checks at start beyond the config's own rules, without
 * network: the state directory can be used (made if missing). */
static int m_check_state_dir(const cfg_t *c, char *err, size_t errlen)
{
    const char *d = c->controller.state_dir;
    struct stat st;
    if (stat(d, &st) == 0) {
        if (!S_ISDIR(st.st_mode) || access(d, W_OK | X_OK) == -1) {
            snprintf(err, errlen, "%.300s: controller.state_dir: %.300s: not writable (must be a directory regiond can write)", c->path, d);
            return -1;
        }
        return 0;
    }
    char parent[4096];
    snprintf(parent, sizeof(parent), "%s", d);
    char *slash = strrchr(parent, '/');
    if (slash == parent)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        snprintf(parent, sizeof(parent), ".");
    if (access(parent, W_OK | X_OK) == -1) {
        snprintf(err, errlen, "%.200s: controller.state_dir: %.300s does not exist and cannot be made in %.300s: %s", c->path,
                 d, parent, strerror(errno));
        return -1;
    }
    return 0;
}

static int m_check_config(const char *path)
{
    char err[1024];
    cfg_t *c = cfg_load(path, err, sizeof(err));
    if (!c || m_check_runtime(c, err, sizeof(err)) == -1 || auth_check_file(c, err, sizeof(err)) == -1 ||
        m_check_state_dir(c, err, sizeof(err)) == -1) {
        fprintf(stderr, "%s\n", err);
        cfg_free(c);
        return 1;
    }
    size_t n = 0;
    for (size_t i = 0; i < c->n_regions; i++)
        n += c->regions[i].n_api;
    printf("%s: ok (%zu regions, %zu targets)\n", path, c->n_regions, n);
    cfg_free(c);
    return 0;
}

static int m_print_iam(void)
{
    char err[1024];
    cfg_t *c = cfg_load(m_config_path, err, sizeof(err));
    if (!c) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (!c->route53.enabled && !c->dynamodb.enabled && !c->cluster.enabled)
        fprintf(stderr, "regiond: %s has no route53, dynamodb or cluster section: regiond needs no AWS "
                "permission\n", m_config_path);
    if ((c->dynamodb.enabled || c->cluster.enabled) && !c->aws.account_id)
        fprintf(stderr, "regiond: set aws.account_id to fill ACCOUNT_ID in the table ARNs\n");
    iam_print_notes(c, stderr);
    char *p = iam_policy(c);
    cfg_free(c);
    if (!p)
        return 1;
    printf("%s\n", p);
    free(p);
    return 0;
}

static void m_config_event(feed_ev_t type, const char *msg)
{
    cJSON *d = cJSON_CreateObject();
    if (d) {
        cJSON_AddStringToObject(d, "path", m_config_path);
        cJSON_AddNumberToObject(d, "generation", (double)targets_reload_info()->generation);
        if (msg)
            cJSON_AddStringToObject(d, "error", msg);
        else
            cJSON_AddNumberToObject(d, "targets", (double)targets_count());
    }
    feed_emit(type, d);
}

/* ---- module life cycle ----
 * One row per module: start-up runs `init` top to bottom, a reload runs
 * `configure` top to bottom with the new generation's config (after the
 * whole reload was validated, before the old generation is released), and
 * shutdown runs `fini` bottom to top (every row, whatever start-up reached:
 * each fini is safe on a module that never started).  NULL: nothing to do.
 * The order is shutdown's: feed ends event streams before the API frees
 * their connections; the state writer outlives every module that saves;
 * the loop goes last. */
typedef struct {
    const char *name;
    int (*init)(cfg_t *c, char *err, size_t errlen);   /* 0, or -1 with err */
    void (*configure)(const cfg_t *c);                 /* cannot fail: validated before */
    void (*fini)(void);
} m_module_t;

static int m_loop_init(cfg_t *c, char *err, size_t errlen)
{
    (void)c;
    if (loop_init() == -1) {
        snprintf(err, errlen, "loop: cannot start");
        return -1;
    }
    return 0;
}

static int m_state_init(cfg_t *c, char *err, size_t errlen)
{
    return state_init(c->controller.state_dir, err, errlen);
}

static int m_auth_init(cfg_t *c, char *err, size_t errlen)
{
    return auth_load(c, err, errlen);
}

static void m_auth_configure(const cfg_t *c)
{
    char err[512];
    /* the secrets were read whole at validation; a file that changed since
     * keeps the old tokens */
    if (auth_load(c, err, sizeof(err)) == -1)
        log_msg(LOG_ERR, "msg=\"api tokens not reloaded\" error=\"%s\"", err);
}

static void m_on_signal(evutil_socket_t sig, short what, void *arg);

static int m_signals(void)
{
    signal(SIGPIPE, SIG_IGN);
    m_sig_term = evsignal_new(loop_base(), SIGTERM, m_on_signal, NULL);
    m_sig_int = evsignal_new(loop_base(), SIGINT, m_on_signal, NULL);
    m_sig_hup = evsignal_new(loop_base(), SIGHUP, m_on_signal, NULL);
    if (!m_sig_term || !m_sig_int || !m_sig_hup || evsignal_add(m_sig_term, NULL) == -1 ||
        evsignal_add(m_sig_int, NULL) == -1 || evsignal_add(m_sig_hup, NULL) == -1)
        return -1;
    return 0;
}

static int m_signals_init(cfg_t *c, char *err, size_t errlen)
{
    (void)c;
    if (m_signals() == -1) {
        snprintf(err, errlen, "signals: cannot set up");
        return -1;
    }
    return 0;
}

static void m_signals_fini(void)
{
    if (m_sig_term)
        event_free(m_sig_term);
    if (m_sig_int)
        event_free(m_sig_int);
    if (m_sig_hup)
        event_free(m_sig_hup);
    m_sig_term = m_sig_int = m_sig_hup = NULL;
}

static int m_res_init(cfg_t *c, char *err, size_t errlen)
{
    return res_init(&c->resolver, err, errlen);
}

static void m_res_configure(const cfg_t *c)
{
    char rerr[512] = "";
    if (res_configure(&c->resolver, rerr, sizeof(rerr)) == -1)
        log_msg(LOG_WARNING, "msg=\"resolver change not applied\" error=\"%s\"", rerr);
}

static int m_api_init(cfg_t *c, char *err, size_t errlen)
{
    return api_init(m_listen, &c->controller, err, errlen);
}

static void m_api_configure(const cfg_t *c)
{
    api_configure(&c->controller);
}

static int m_feed_init(cfg_t *c, char *err, size_t errlen)
{
    return feed_init(c->controller.events_ring, err, errlen);
}

static void m_feed_configure(const cfg_t *c)
{
    feed_resize(c->controller.events_ring);
}

static int m_alarm_init(cfg_t *c, char *err, size_t errlen)
{
    if (alarm_init(c) == -1) {
        snprintf(err, errlen, "alarms: out of memory");
        return -1;
    }
    state_alarms_ready();   /* state write failures and corrupt files now raise alarms */
    return 0;
}

static int m_aws_init(cfg_t *c, char *err, size_t errlen)
{
    return aws_init(c, err, errlen);
}

/* Takes the config over: from here the running generation owns it. */
static int m_targets_init(cfg_t *c, char *err, size_t errlen)
{
    m_cfg_taken = true;
    if (targets_init() == -1) {
        cfg_free(c);
        snprintf(err, errlen, "targets: cannot start");
        return -1;
    }
    return targets_apply(c, err, errlen);
}

static void m_targets_configure(const cfg_t *c)
{
    (void)c;   /* targets_prepare() made its generation at validation */
    targets_commit();
}

static int m_ctrl_init(cfg_t *c, char *err, size_t errlen)
{
    return ctrl_init(c, err, errlen);
}

#define M_INIT_CFG(mod, what)                                                   \
    static int m_##mod##_init(cfg_t *c, char *err, size_t errlen)              \
    {                                                                          \
        if (mod##_init(c) == -1) {                                             \
            snprintf(err, errlen, "%s: cannot start", what);                   \
            return -1;                                                         \
        }                                                                      \
        return 0;                                                              \
    }
/* Before control's row (route53_init): with a cluster section the actuator
 * starts sending nothing, so a follower makes no Route 53 call at all. */
static int m_leader_init(cfg_t *c, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    leader_pre_init(c);
    return 0;
}

M_INIT_CFG(backup, "backups")
M_INIT_CFG(observers, "observer views")
M_INIT_CFG(pitr, "pitr")

/* The cluster lease (cluster/lease.h): its notes reach the actuator through
 * daemon/leader.c (only the leader sends; docs/ha.md). */
static int m_lease_init(cfg_t *c, char *err, size_t errlen)
{
    if (lease_init(c, leader_on_lease) == -1) {
        snprintf(err, errlen, "cluster lease: cannot start");
        return -1;
    }
    return 0;
}

/* The controller's state replicated to the lease tables (control_replica.h). */
static int m_replica_init(cfg_t *c, char *err, size_t errlen)
{
    if (ctrl_replica_init(c) == -1) {
        snprintf(err, errlen, "replicated controller state: cannot start");
        return -1;
    }
    return 0;
}

/* DynamoDB probes report findings and the gate's verdict up through
 * targets_on_ddb (targets.c), never by calling up. */
static int m_ddb_init(cfg_t *c, char *err, size_t errlen)
{
    if (ddb_init(c, targets_on_ddb) == -1) {
        snprintf(err, errlen, "dynamodb: cannot start");
        return -1;
    }
    return 0;
}

static int m_drill_init(cfg_t *c, char *err, size_t errlen)
{
    (void)c;
    if (drill_init() == -1) {
        snprintf(err, errlen, "drills: cannot start");
        return -1;
    }
    return 0;
}

static int m_sdn_init(cfg_t *c, char *err, size_t errlen)
{
    (void)c, (void)err, (void)errlen;
    sdn_init();   /* outside systemd, or a watchdog timer that cannot be armed (logged): run anyway */
    return 0;
}

/* log_init() runs before the table (start-up errors need it); the level
 * changes last on reload, so the reload's own lines follow the old one. */
static void m_log_configure(const cfg_t *c)
{
    int lvl = log_level_parse(c->controller.log_level);
    log_set_level(lvl >= 0 ? lvl : LOG_INFO);
}

static const m_module_t m_modules[] = {
    {"loop", m_loop_init, NULL, loop_fini},
    {"state", m_state_init, NULL, state_fini},   /* finishes queued writes; needs the loop (its timer) */
    {"auth", m_auth_init, m_auth_configure, auth_fini},   /* fini: the audit summary, while state_dir is known */
    {"signals", m_signals_init, NULL, m_signals_fini},
    {"resolver", m_res_init, m_res_configure, res_fini},
    {"rsrc", NULL, NULL, rsrc_fini},
    {"api", m_api_init, m_api_configure, api_fini},
    {"feed", m_feed_init, m_feed_configure, feed_fini},   /* fini ends event streams */
    {"alarm", m_alarm_init, alarm_configure, alarm_fini},
    {"aws", m_aws_init, aws_configure, aws_fini},
    {"targets", m_targets_init, m_targets_configure, targets_fini},   /* fini cancels every probe and lookup */
    {"leader", m_leader_init, leader_configure, NULL},   /* the actuators' gates, before they start */
    {"control", m_ctrl_init, ctrl_configure, ctrl_fini},   /* fini cancels Route 53 calls in flight */
    {"dynamodb", m_ddb_init, ddb_configure, ddb_fini},   /* fini cancels DynamoDB calls in flight */
    {"backup", m_backup_init, backup_configure, backup_fini},
    {"pitr", m_pitr_init, pitr_configure, pitr_fini},
    {"replica", m_replica_init, ctrl_replica_configure, ctrl_replica_fini},   /* before the lease: its notes */
    {"lease", m_lease_init, lease_configure, lease_fini},   /* fini releases a held lease */
    {"observers", m_observers_init, observers_configure, observers_fini},   /* after targets: their regions */
    {"drill", m_drill_init, NULL, drill_fini},
    {"sdn", m_sdn_init, NULL, sdn_fini},
    {"log", NULL, m_log_configure, NULL},
};
#define M_NMODULES (sizeof(m_modules) / sizeof(m_modules[0]))

/* The new config c, validated whole before any module sees it: the file's
 * own rules, the files it names, the secrets, the targets' generation. */
static cfg_t *m_reload_validate(char *err, size_t errlen)
{
    cfg_t *c = cfg_load(m_config_path, err, errlen);
    if (c && (m_check_runtime(c, err, errlen) == -1 || auth_check_file(c, err, errlen) == -1)) {
        cfg_free(c);
        return NULL;
    }
    if (!c)
        return NULL;
    const gen_t *old = targets_gen();
    if (strcmp(c->controller.listen, old->cfg->controller.listen) != 0 ||
        strcmp(c->controller.state_dir, old->cfg->controller.state_dir) != 0)
        log_msg(LOG_WARNING, "msg=\"controller.listen and controller.state_dir change only at restart\"");
    if (targets_prepare(c, err, errlen) == -1)   /* takes c over */
        return NULL;
    return c;
}

static void m_reload(void)
{
    char err[1024];
    log_msg(LOG_NOTICE, "msg=\"reloading config\" path=%s", m_config_path);
    cfg_t *c = m_reload_validate(err, sizeof(err));
    if (!c) {
        log_msg(LOG_ERR, "msg=\"config reload rejected, old config keeps running\" error=\"%s\"", err);
        targets_reload_failed(err);
        m_config_event(EV_CONFIG_ERROR, err);
        return;
    }
    ctrl_suspend();   /* targets re-evaluate their regions before the controller has the new config */
    for (size_t i = 0; i < M_NMODULES; i++)
        if (m_modules[i].configure)
            m_modules[i].configure(c);
    targets_release_previous();
    m_config_event(EV_CONFIG_LOADED, NULL);
}

static void m_on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what, (void)arg;
    if (sig == SIGHUP) {
        m_reload();
        return;
    }
    log_msg(LOG_NOTICE, "msg=\"stopping\" signal=%s", sig == SIGTERM ? "TERM" : "INT");
    sdn_stopping();
    feed_emit(EV_DAEMON_STOP, NULL);
    api_drain_begin();
    ctrl_stopping();    /* waiting changes and drills answered 503 while the API can still send it */
    ctrl_replica_stopping();   /* answers held for a majority of the lease tables, too */
    drill_stopping();
    event_base_loopexit(loop_base(), NULL);
}

static void m_shutdown(void)
{
    /* A second TERM during shutdown must not kill us half-way. */
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    for (size_t i = M_NMODULES; i-- > 0;)
        if (m_modules[i].fini)
            m_modules[i].fini();
}

static int m_run(void)
{
    char err[1024];
    cfg_t *c = cfg_load(m_config_path, err, sizeof(err));
    if (!c || m_check_runtime(c, err, sizeof(err)) == -1) {
        fprintf(stderr, "regiond: %s\n", err);
        cfg_free(c);
        return 1;
    }
    int lvl = log_level_parse(c->controller.log_level);
    log_init(lvl >= 0 ? lvl : LOG_INFO);
    srandom((unsigned)time(NULL) ^ (unsigned)getpid());
    status_self_t self = {.config_path = m_config_path, .listen = NULL};
    self.started_wall_ms = loop_wall_ms();
    self.started_mono_ms = loop_now_ms();
    char *listen = strdup(c->controller.listen);
    XCHECK(listen);
    self.listen = listen;
    m_listen = listen;
    status_set_self(&self);
    int rc = 1;
    m_cfg_taken = false;
    for (size_t i = 0; i < M_NMODULES; i++)
        if (m_modules[i].init && m_modules[i].init(c, err, sizeof(err)) == -1) {
            log_msg(LOG_ERR, "msg=\"cannot start\" error=\"%s\"", err);
            if (!m_cfg_taken)
                cfg_free(c);
            goto out;
        }
    feed_emit(EV_DAEMON_START, NULL);
    m_config_event(EV_CONFIG_LOADED, NULL);
    char sum[256];
    targets_summary(sum, sizeof(sum));
    log_msg(LOG_NOTICE, "msg=\"ready\" listen=%s config=%s", listen, m_config_path);
    sdn_ready(sum);
    event_base_dispatch(loop_base());
    api_drain(500);   /* the answers given at SIGTERM reach their clients */
    rc = 0;
out:
    m_shutdown();
    free(listen);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", required_argument, NULL, 'k'},
        {"version", no_argument, NULL, 'V'},
        {"print-iam-policy", no_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int o, print_iam = 0;
    while ((o = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            m_config_path = optarg;
            break;
        case 'k':
            return m_check_config(optarg);
        case 'V':
            printf("regiond %s\n", REGIOND_VERSION);
            return 0;
        case 'P':
            print_iam = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    if (print_iam)
        return m_print_iam();
    return m_run();
}
