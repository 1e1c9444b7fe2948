/* targets — the runtime of every configured region and target: schedules
 * probe rounds on the loop (spread with jitter), resolves names through the
 * resolver, runs one probe per address, folds the results into health and
 * emits transitions to the feed.  On reload, old and new targets are matched
 * by identity (region, name, method, URL) so history survives, as keepalived
 * does.  Structs are exposed read-only for the status and metrics views;
 * only targets*.c write them. */
#ifndef REGIOND_TARGETS_H
#define REGIOND_TARGETS_H

#include <regex.h>
#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "config/cfg.h"
#include "failover/health.h"
#include "probes/ddb.h"
#include "probes/http.h"
#include "core/hist.h"

/* A config generation: the cfg plus what is derived from it.  Reference
 * counted: a probe round in flight keeps the generation it started with. */
typedef struct gen {
    cfg_t *cfg;
    uint64_t number;
    int64_t loaded_wall_ms;
    unsigned refs;
    regex_t *re;           /* one per target, flattened in config order */
    bool *re_set;
    size_t nre;
} gen_t;

/* Last result at one address, kept small. */
typedef struct {
    char addr[48];
    probe_outcome_t outcome;
    long http_status;
    double total_ms;
} addr_summary_t;

struct target;

typedef struct {
    struct target *t;
    unsigned idx;
    probe_http_t *probe;
} probe_slot_t;

typedef struct region {
    char *name;
    uint64_t born;                             /* the config generation that added it (removed and added back: new) */
    const cfg_region_t *cfg;
    health_state_t state;
    uint64_t since_mono_ms;
    int64_t since_wall_ms;
    char reason[HEALTH_REASON_MAX];
    struct target **targets;
    size_t n_targets;
    hist_prom_t latency;                       /* cumulative, for /metrics */
    int data_sev;                              /* replica finding: 0 none, 1 degraded, 2 down */
    bool drill_fail;                           /* a "fail" drill: every probe round counts as failed */
    bool drill_hit;                            /* its health holds failures the drill simulated */
    char data_finding[320];
    uint64_t outcomes[PROBE_OUTCOME_COUNT];    /* probe results by outcome */
} region_t;

typedef struct target {
    char *key;                    /* region \x1f name \x1f method \x1f url */
    region_t *region;
    gen_t *gen;                   /* reference */
    const cfg_api_t *api;         /* inside gen->cfg */
    const regex_t *re;
    char *host;                   /* URL host as curl gives it ("[::1]" for IPv6) */
    char *lookup;                 /* host without brackets; one allocation with host */
    long port;
    bool https, host_is_ip;
    CURLSH *tls_share;            /* HTTPS: this target's own TLS session cache */
    health_target_t health;
    struct event *timer;
    uint64_t due_ms;
    /* the round in flight */
    bool busy;
    bool waiting;            /* its round waits for a probe slot (targets_round.c's queue) */
    gen_t *rgen;
    probe_spec_t rspec;
    uint64_t res_waiter;
    unsigned pending, naddr, cap;
    probe_slot_t *slots;          /* cap entries */
    addr_summary_t *cur;          /* cap entries, this round */
    probe_result_t worst;         /* this round so far */
    double round_dns_ms;
    /* the last completed round */
    probe_result_t last;
    addr_summary_t *prev;         /* cap entries */
    unsigned prev_n;
    int64_t last_wall_ms;
    uint64_t last_full_hs_ms;
    bool full_hs_seen;            /* a probe of this target made a full, verified handshake */
    double cert_days;             /* NAN until a full handshake read it */
    int64_t cert_wall_ms;
    uint64_t outcomes[PROBE_OUTCOME_COUNT];
} target_t;

typedef struct {
    uint64_t generation;
    int64_t loaded_wall_ms;
    char last_error[1024];        /* "" when the last load worked */
    int64_t last_error_wall_ms;
    uint64_t reloads_ok, reloads_failed;
} reload_info_t;

int targets_init(void);
void targets_fini(void);

/* Make cfg (taken over) the running config; targets are matched with the
 * previous generation's.  0, or -1 (cfg freed, old config kept).  Same as
 * targets_prepare() then targets_commit(). */
int targets_apply(cfg_t *cfg, char *err, size_t errlen);

/* A reload in two steps.  Prepare: make cfg (taken over) the next
 * generation (compile its regexes, allocate what the commit needs); 0, or
 * -1 with err (cfg freed, nothing changed).  Commit: run the prepared
 * generation (targets matched by identity), which cannot fail.  Drop: free a
 * prepared generation that will not be committed. */
int targets_prepare(cfg_t *cfg, char *err, size_t errlen);
void targets_commit(void);
void targets_drop_prepared(void);

/* Drop the generation that targets_apply() replaced, once every module
 * holding pointers into its config has the new one. */
void targets_release_previous(void);

/* A replica finding of region i (from the DynamoDB probe) enters health like
 * an API failure: sev 1 makes an UP region DEGRADED, 2 makes it DOWN; 0 clears. */
void targets_set_data_finding(size_t i, int sev, const char *finding);

/* The DynamoDB probe's notify callback (ddb_init): a finding goes to the
 * region's health (targets_set_data_finding), a gate change to the
 * controller (ctrl_data_changed). */
void targets_on_ddb(const ddb_note_t *note);

/* A "fail" drill on region i: its probe rounds count as failed (reason
 * "drill: simulated outage") until cleared, through the real health path. */
void targets_set_drill_fail(size_t i, bool on);

/* A fail drill on region i that this instance resumed (a term's replicated
 * read) while its drills act: the quorum's combined state of it is set
 * aside (observers_quorum_resume) and, unless the region has no verdict yet
 * (a cold start: unknown keeps its live weight; down beside regions still
 * unknown would be a fail open), each target takes the drill's
 * simulated failures at once (health_target_fail, reason "drill: simulated
 * outage"), so the region is down through the normal health path from the
 * term's first decision on instead of after the fall rounds (known defect
 * 33); drill_hit is set, so targets_drill_forget undoes it.  Nothing when
 * the region has no fail drill or this instance's drills do not act. */
void targets_drill_resume(size_t i);

/* The fail drills here stopped acting (another instance holds, or this one
 * was fenced): every region whose health holds simulated failures is put
 * back to UNKNOWN, to be judged on real probes again (its drill_fail stays:
 * the local record, acting again should this instance lead it again).
 * Clearing drill_fail does the same for its region. */
void targets_drill_forget(void);

/* Index of the region named `name`, or -1. */
int targets_region_index(const char *name);

/* Record a failed reload (shown in status, metrics). */
void targets_reload_failed(const char *msg);

const reload_info_t *targets_reload_info(void);
const gen_t *targets_gen(void);
size_t targets_nregions(void);
region_t *targets_region(size_t i);
size_t targets_count(void);

/* Counts of regions by state, for the one-line summary. */
void targets_summary(char *buf, size_t len);

/* Probe rounds skipped since start: the loop reached them late, or
 * controller.max_probes_in_flight probes (or the fd budget) were in use. */
uint64_t targets_rounds_skipped(void);

/* Probe rounds whose only failure was local (outcome internal: regiond could
 * not run the probe); they left health unchanged (rsrc.h). */
uint64_t targets_local_failures(void);

#endif
