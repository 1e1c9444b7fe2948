/* pitr — point-in-time recovery kept on: DescribeContinuousBackups on a
 * timer per region; when the config wants PITR and it is off,
 * UpdateContinuousBackups (RecoveryPeriodInDays only when the config sets
 * it: a newer member of PointInTimeRecoverySpecification) and an event;
 * the restorable window exported; an alarm when it moves backwards or the
 * recovery period changes.  DynamoDB API reference:
 * DescribeContinuousBackups, UpdateContinuousBackups. */
#include "backup/backup.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "core/alarm.h"
#include "aws/ddb_call.h"
#include "core/feed.h"
#include "core/log.h"
#include "core/loop.h"

#define PT_MAXR 16

typedef struct {
    char status[16];              /* ENABLED, DISABLED, "" unknown */
    double earliest_s, latest_s;  /* restorable window, epoch seconds; 0 unknown */
    int period_days;              /* 0 unknown */
    char error[300];
    ddb_req_t *req;
    uint64_t enables;             /* times we turned it on */
    bool alarm;
    char alarm_reason[200];
} pt_region_t;

static struct {
    const cfg_t *cfg;
    size_t n;
    pt_region_t r[PT_MAXR];
    struct event *tick;
} P;

static backup_gate_fn pt_gate;   /* NULL: always open */

void pitr_set_gate(backup_gate_fn gate)
{
    pt_gate = gate;
}

/* The gate as a send window for the AWS client, asked before every attempt. */
static uint64_t pt_window(void *arg)
{
    (void)arg;
    return !pt_gate || pt_gate() ? UINT64_MAX : 0;
}

static void pt_event(feed_ev_t type, size_t i, const char *detail)
{
    cJSON *d = cJSON_CreateObject();
    if (d) {
        cJSON_AddStringToObject(d, "region", P.cfg->regions[i].name);
        cJSON_AddStringToObject(d, "table", P.cfg->dynamodb.table);
        cJSON_AddStringToObject(d, "detail", detail);
    }
    feed_emit(type, d);
}

static void pt_on_describe(void *arg, int ok, const cJSON *resp, const char *error, double ms);

static void pt_on_update(void *arg, int ok, const cJSON *resp, const char *error, double ms)
{
    size_t i = (size_t)(uintptr_t)arg;
    P.r[i].req = NULL;
    if (!ok) {
        snprintf(P.r[i].error, sizeof(P.r[i].error), "UpdateContinuousBackups: %.250s", error);
        pt_event(EV_PITR_ENABLE_FAILED, i, P.r[i].error);
        return;
    }
    P.r[i].enables++;
    pt_event(EV_PITR_ENABLED, i, "point-in-time recovery was off; regiond turned it on");
    char sum[200];
    alarm_key_t key = alarm_key_region(ALARM_PITR_OFF, P.cfg->regions[i].name);
    snprintf(sum, sizeof(sum), "point-in-time recovery of %s in %s was found off (regiond turned it on)",
             P.cfg->dynamodb.table, P.cfg->regions[i].name);
    alarm_raise(key.s, "warning", sum, NULL);
    log_msg(LOG_NOTICE, "msg=\"point-in-time recovery turned on\" region=%s table=%s",
            P.cfg->regions[i].name, P.cfg->dynamodb.table);
    pt_on_describe(arg, 1, resp, NULL, ms);   /* the answer describes the new state */
}

static void pt_enable(size_t i)
{
    if (pt_gate && !pt_gate())
        return;   /* the lease ended since the describe was sent */
    cJSON *b = cJSON_CreateObject(), *spec = cJSON_CreateObject();
    if (!b || !spec) {
        cJSON_Delete(b);
        cJSON_Delete(spec);
        return;
    }
    cJSON_AddStringToObject(b, "TableName", P.cfg->dynamodb.table);
    cJSON_AddBoolToObject(spec, "PointInTimeRecoveryEnabled", 1);
    if (P.cfg->dynamodb.pitr_period_days)
        cJSON_AddNumberToObject(spec, "RecoveryPeriodInDays", P.cfg->dynamodb.pitr_period_days);
    cJSON_AddItemToObject(b, "PointInTimeRecoverySpecification", spec);
    P.r[i].req = ddb_call(P.cfg, i, "UpdateContinuousBackups", b, pt_on_update, (void *)(uintptr_t)i);
    if (pt_gate)
        ddb_set_window(P.r[i].req, pt_window, NULL, "this instance stopped leading (the lease term's send window closed)");
}

static void pt_alarm(size_t i, const char *why)
{
    pt_region_t *r = &P.r[i];
    if (r->alarm && strcmp(r->alarm_reason, why) == 0)
        return;
    r->alarm = true;
    snprintf(r->alarm_reason, sizeof(r->alarm_reason), "%s", why);
    pt_event(EV_PITR_DRIFT, i, why);
    alarm_key_t key = alarm_key_region(ALARM_PITR_DRIFT, P.cfg->regions[i].name);
    alarm_raise(key.s, "warning", why, NULL);
    log_msg(LOG_WARNING, "msg=\"point-in-time recovery drift\" region=%s detail=\"%s\"", P.cfg->regions[i].name, why);
}

static void pt_on_describe(void *arg, int ok, const cJSON *resp, const char *error, double ms)
{
    (void)ms;
    size_t i = (size_t)(uintptr_t)arg;
    pt_region_t *r = &P.r[i];
    r->req = NULL;
    if (!ok) {
        snprintf(r->error, sizeof(r->error), "DescribeContinuousBackups: %.250s", error);
        return;
    }
    r->error[0] = '\0';
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(resp, "ContinuousBackupsDescription"), "PointInTimeRecoveryDescription");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(d, "PointInTimeRecoveryStatus");
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(d, "EarliestRestorableDateTime");
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(d, "LatestRestorableDateTime");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(d, "RecoveryPeriodInDays");
    snprintf(r->status, sizeof(r->status), "%s", cJSON_IsString(st) ? st->valuestring : "");
    double latest = cJSON_IsNumber(l) ? l->valuedouble : 0;
    if (latest && r->latest_s && latest + 1 < r->latest_s) {
        char why[200];
        snprintf(why, sizeof(why), "restorable window moved backwards: latest %.0f < %.0f", latest, r->latest_s);
        pt_alarm(i, why);
    }
    int period = cJSON_IsNumber(p) ? p->valueint : 0;
    if (period && r->period_days && period != r->period_days) {
        char why[200];
        snprintf(why, sizeof(why), "recovery period changed from %d to %d days", r->period_days, period);
        pt_alarm(i, why);
    }
    r->earliest_s = cJSON_IsNumber(e) ? e->valuedouble : 0;
    r->latest_s = latest;
    if (period)
        r->period_days = period;
    const cfg_dynamodb_t *c = &P.cfg->dynamodb;
    if (c->pitr_enabled && strcmp(r->status, "DISABLED") == 0 && !r->req)
        pt_enable(i);
}

static void pt_on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    if (pt_gate && !pt_gate())
        return;   /* a follower: the leader keeps PITR on */
    for (size_t i = 0; i < P.n; i++) {
        if (P.r[i].req)
            continue;
        cJSON *b = cJSON_CreateObject();
        cJSON_AddStringToObject(b, "TableName", P.cfg->dynamodb.table);
        P.r[i].req = ddb_call(P.cfg, i, "DescribeContinuousBackups", b, pt_on_describe, (void *)(uintptr_t)i);
    }
}

static void pt_stop(void)
{
    for (size_t i = 0; i < PT_MAXR; i++)
        ddb_cancel(P.r[i].req);
    memset(P.r, 0, sizeof(P.r));
    if (P.tick)
        event_del(P.tick);
    P.n = 0;
}

static void pt_start(const cfg_t *cfg)
{
    P.cfg = cfg;
    if (!cfg->dynamodb.enabled || !cfg->dynamodb.pitr_manage)
        return;
    P.n = cfg->n_regions < PT_MAXR ? cfg->n_regions : PT_MAXR;
    struct timeval tv = {(time_t)cfg->dynamodb.pitr_check_s, 0};
    event_add(P.tick, &tv);
    pt_on_tick(-1, 0, NULL);
}

int pitr_init(const cfg_t *cfg)
{
    memset(&P, 0, sizeof(P));
    P.tick = event_new(loop_base(), -1, EV_PERSIST, pt_on_tick, NULL);
    if (!P.tick)
        return -1;
    pt_start(cfg);
    return 0;
}

void pitr_configure(const cfg_t *cfg)
{
    pt_stop();
    pt_start(cfg);
}

void pitr_fini(void)
{
    pt_stop();
    if (P.tick)
        event_free(P.tick);
    memset(&P, 0, sizeof(P));
}

cJSON *pitr_status_json(void)
{
    cJSON *a = cJSON_CreateArray();
    double now = (double)loop_wall_ms() / 1000.0;
    char t[40];
    for (size_t i = 0; a && i < P.n; i++) {
        const pt_region_t *r = &P.r[i];
        cJSON *x = cJSON_CreateObject();
        if (!x)
            break;
        cJSON_AddStringToObject(x, "region", P.cfg->regions[i].name);
        cJSON_AddStringToObject(x, "status", r->status);
        if (r->earliest_s) {
            cJSON_AddStringToObject(x, "earliest_restorable", loop_fmt_wall((int64_t)(r->earliest_s * 1000), t, sizeof(t)));
            cJSON_AddNumberToObject(x, "earliest_age_s", round(now - r->earliest_s));
        }
        if (r->latest_s) {
            cJSON_AddStringToObject(x, "latest_restorable", loop_fmt_wall((int64_t)(r->latest_s * 1000), t, sizeof(t)));
            cJSON_AddNumberToObject(x, "latest_age_s", round(now - r->latest_s));
        }
        cJSON_AddNumberToObject(x, "recovery_period_days", r->period_days);
        cJSON_AddNumberToObject(x, "enabled_by_regiond", (double)r->enables);
        cJSON_AddBoolToObject(x, "alarm", r->alarm);
        cJSON_AddStringToObject(x, "alarm_reason", r->alarm_reason);
        cJSON_AddStringToObject(x, "error", r->error);
        cJSON_AddItemToArray(a, x);
    }
    return a;
}

void pitr_metrics(struct evbuffer *b)
{
    if (!P.n)
        return;
    double now = (double)loop_wall_ms() / 1000.0;
    evbuffer_add_printf(b, "# HELP regiond_pitr_enabled 1 when point-in-time recovery is on for the table in the region.\n"
                        "# TYPE regiond_pitr_enabled gauge\n");
    for (size_t i = 0; i < P.n; i++)
        evbuffer_add_printf(b, "regiond_pitr_enabled{region=\"%s\"} %d\n", P.cfg->regions[i].name,
                            strcmp(P.r[i].status, "ENABLED") == 0);
    evbuffer_add_printf(b, "# HELP regiond_pitr_restorable_age_seconds Age of the earliest and latest restorable times.\n"
                        "# TYPE regiond_pitr_restorable_age_seconds gauge\n");
    for (size_t i = 0; i < P.n; i++) {
        if (P.r[i].earliest_s)
            evbuffer_add_printf(b, "regiond_pitr_restorable_age_seconds{region=\"%s\",edge=\"earliest\"} %.0f\n",
                                P.cfg->regions[i].name, now - P.r[i].earliest_s);
        if (P.r[i].latest_s)
            evbuffer_add_printf(b, "regiond_pitr_restorable_age_seconds{region=\"%s\",edge=\"latest\"} %.0f\n",
                                P.cfg->regions[i].name, now - P.r[i].latest_s);
    }
}
