/* alarm — see alarm.h.  This half keeps the table of active alarms, decides
 * what is new (keyed de-duplication), emits feed events and builds the
 * message bodies; alarm_hook.c delivers them. */
#include "core/alarm.h"
#include "core/alarm_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/feed.h"
#include "core/log.h"
#include "core/loop.h"

/* One active alarm.  Owner: the table (alarm_active list). */
typedef struct alarm_ent {
    char *key, *summary;
    cfg_severity_t severity, max_severity;
    int64_t since_wall_ms;
    struct alarm_ent *next;
} alarm_ent_t;

static alarm_ent_t *alarm_active;
static char *alarm_controller;

static const char *const alarm_deliv_names[ALARM_DELIV_N] = { "ok", "retry", "failed", "rejected",
                                                              "dropped" };

const char *alarm_deliv_str(alarm_deliv_t r)
{
    return r < ALARM_DELIV_N ? alarm_deliv_names[r] : "unknown";
}

const char *alarm_sev_str(cfg_severity_t s)
{
    return s == CFG_SEV_CRITICAL ? "critical" : "warning";
}

void alarm_msg_free(alarm_msg_t *m)
{
    if (!m)
        return;
    free(m->key);
    free(m->summary);
    cJSON_Delete(m->details);
    free(m);
}

static const char *const alarm_kind_keys[ALARM_KIND_N] = {
#define ALARM_KIND_KEY(e, key) [e] = key,
    ALARM_KINDS(ALARM_KIND_KEY)
#undef ALARM_KIND_KEY
};

/* The kind's key with each upper-case word replaced by the next of parts[]
 * (cut to max bytes each); a word with no part left stays as it is. */
static alarm_key_t alarm_key_fill(alarm_kind_t kind, const char *const *parts, size_t nparts, int max)
{
    alarm_key_t k = {""};
    const char *p = (unsigned)kind < ALARM_KIND_N ? alarm_kind_keys[kind] : "unknown";
    size_t n = 0, used = 0;
    while (*p && n + 1 < sizeof(k.s)) {
        if (!isupper((unsigned char)*p) || used == nparts) {
            k.s[n++] = *p++;
            continue;
        }
        while (isupper((unsigned char)*p))
            p++;
        const char *part = parts[used++];
        int w = snprintf(k.s + n, sizeof(k.s) - n, "%.*s", max, part ? part : "");
        n += w > 0 ? (size_t)w : 0;
        if (n >= sizeof(k.s))
            n = sizeof(k.s) - 1;
    }
    k.s[n] = '\0';
    return k;
}

alarm_key_t alarm_key(alarm_kind_t kind)
{
    return alarm_key_fill(kind, NULL, 0, 0);
}

alarm_key_t alarm_key_region(alarm_kind_t kind, const char *region)
{
    return alarm_key_fill(kind, &region, 1, 64);
}

alarm_key_t alarm_key_aws(const char *service)
{
    return alarm_key_fill(ALARM_AWS, &service, 1, 35);
}

alarm_key_t alarm_key_state_file(const char *name)
{
    return alarm_key_fill(ALARM_STATE_CORRUPT, &name, 1, 60);
}

alarm_key_t alarm_key_backup(const char *schedule, const char *region)
{
    const char *parts[2] = {schedule, region};
    return alarm_key_fill(ALARM_BACKUP, parts, 2, 98);
}

static void alarm_set_controller(const cfg_t *cfg)
{
    free(alarm_controller);
    alarm_controller = strdup(cfg && cfg->controller.id ? cfg->controller.id : "regiond");
    XCHECK(alarm_controller);
}

int alarm_init(const cfg_t *cfg)
{
    alarm_set_controller(cfg);
    return alarm_hook_configure(cfg);
}

void alarm_configure(const cfg_t *cfg)
{
    alarm_set_controller(cfg);
    if (alarm_hook_configure(cfg) == -1)
        log_msg(LOG_ERR, "msg=\"alarm webhooks not reconfigured\" error=\"out of memory\"");
}

void alarm_fini(void)
{
    alarm_hook_fini();
    while (alarm_active) {
        alarm_ent_t *a = alarm_active;
        alarm_active = a->next;
        free(a->key);
        free(a->summary);
        free(a);
    }
    free(alarm_controller);
    alarm_controller = NULL;
}

static alarm_ent_t **alarm_find(const char *key)
{
    alarm_ent_t **pp = &alarm_active;
    while (*pp && strcmp((*pp)->key, key) != 0)
        pp = &(*pp)->next;
    return pp;
}

/* Whether A and B differ in more than their numbers: a number is a run that
 * starts with a digit and goes on over digits, '.', ',' and ':'. */
static bool alarm_material(const char *a, const char *b)
{
    for (;;) {
        bool na = isdigit((unsigned char)*a), nb = isdigit((unsigned char)*b);
        if (na != nb)
            return true;
        if (na) {
            while (isdigit((unsigned char)*a) || ((*a == '.' || *a == ',' || *a == ':') && isdigit((unsigned char)a[1])))
                a++;
            while (isdigit((unsigned char)*b) || ((*b == '.' || *b == ',' || *b == ':') && isdigit((unsigned char)b[1])))
                b++;
            continue;
        }
        if (*a != *b)
            return true;
        if (!*a)
            return false;
        a++, b++;
    }
}

static void alarm_feed(feed_ev_t type, const char *key, cfg_severity_t sev, const char *summary)
{
    cJSON *d = cJSON_CreateObject();
    if (!d || !cJSON_AddStringToObject(d, "key", key) || !cJSON_AddStringToObject(d, "severity", alarm_sev_str(sev))
        || !cJSON_AddStringToObject(d, "summary", summary)) {
        cJSON_Delete(d);
        log_msg(LOG_ERR, "msg=\"alarm event lost\" key=%s error=\"out of memory\"", key);
        return;
    }
    feed_emit(type, d);
}

/* Queue a trigger or resolve on the webhooks; DETAILS is taken over. */
static void alarm_send(bool firing, const char *key, cfg_severity_t sev, const char *summary, cJSON *details)
{
    alarm_msg_t m = { .firing = firing, .key = (char *)key, .summary = (char *)summary, .severity = sev,
                      .details = details, .wall_ms = loop_wall_ms() };
    alarm_hook_enqueue(&m);
    cJSON_Delete(details);
}

void alarm_raise(const char *key, const char *severity, const char *summary, cJSON *details)
{
    cfg_severity_t sev = severity && strcmp(severity, "critical") == 0 ? CFG_SEV_CRITICAL : CFG_SEV_WARNING;
    if (!summary)
        summary = key;
    alarm_ent_t **pp = alarm_find(key), *a = *pp;
    if (a && a->severity == sev && !alarm_material(a->summary, summary)) {
        cJSON_Delete(details);
        return;
    }
    char *s = strdup(summary);
    if (!a && s && (a = calloc(1, sizeof *a)) && (a->key = strdup(key))) {
        a->since_wall_ms = loop_wall_ms();
        a->max_severity = sev;
        a->next = alarm_active;
        alarm_active = a;
    } else if (!s || !a || !a->key) {
        free(s);
        if (a && !a->key)
            free(a);
        cJSON_Delete(details);
        log_msg(LOG_ERR, "msg=\"alarm not raised\" key=%s error=\"out of memory\"", key);
        return;
    }
    free(a->summary);
    a->summary = s;
    a->severity = sev;
    if (sev > a->max_severity)
        a->max_severity = sev;
    alarm_feed(EV_ALARM_RAISED, key, sev, summary);
    alarm_send(true, key, sev, summary, details);
}

void alarm_resolve(const char *key, const char *summary)
{
    alarm_ent_t **pp = alarm_find(key), *a = *pp;
    if (!a)
        return;
    *pp = a->next;
    const char *s = summary ? summary : a->summary;
    alarm_feed(EV_ALARM_RESOLVED, key, a->severity, s);
    alarm_send(false, key, a->max_severity, s, NULL);
    free(a->key);
    free(a->summary);
    free(a);
}

cJSON *alarm_status_json(void)
{
    cJSON *o = cJSON_CreateObject(), *act = cJSON_AddArrayToObject(o, "active"),
          *hooks = cJSON_AddArrayToObject(o, "webhooks");
    if (!o || !act || !hooks) {
        cJSON_Delete(o);
        return NULL;
    }
    for (const alarm_ent_t *a = alarm_active; a; a = a->next) {
        char when[40];
        cJSON *e = cJSON_CreateObject();
        if (!e)
            break;
        cJSON_AddStringToObject(e, "key", a->key);
        cJSON_AddStringToObject(e, "severity", alarm_sev_str(a->severity));
        cJSON_AddStringToObject(e, "summary", a->summary);
        cJSON_AddStringToObject(e, "since", loop_fmt_wall(a->since_wall_ms, when, sizeof when));
        cJSON_AddItemToArray(act, e);
    }
    alarm_hook_status(hooks);
    return o;
}

void alarm_metrics(struct evbuffer *b)
{
    unsigned n[2] = { 0, 0 };
    for (const alarm_ent_t *a = alarm_active; a; a = a->next)
        n[a->severity == CFG_SEV_CRITICAL]++;
    evbuffer_add_printf(b, "# HELP regiond_alarms_active Alarms raised and not yet resolved, by severity.\n"
                           "# TYPE regiond_alarms_active gauge\n"
                           "regiond_alarms_active{severity=\"critical\"} %u\n"
                           "regiond_alarms_active{severity=\"warning\"} %u\n", n[1], n[0]);
    alarm_hook_metrics(b);
}

/* ---- message bodies ----------------------------------------------------- */

/* Slack: one line a person reads in a channel. */
static char *alarm_slack_text(const alarm_msg_t *m, const char *controller)
{
    size_t n = strlen(m->summary) + strlen(m->key) + strlen(controller) + 64;
    char *t = malloc(n);
    const char *tag = !m->firing ? "RESOLVED" : m->severity == CFG_SEV_CRITICAL ? "FIRING CRITICAL"
                    : "FIRING WARNING";
    if (t)
        snprintf(t, n, "[%s] %s (alarm %s, %s)", tag, m->summary, m->key, controller);
    for (char *p = t; p && *p; p++)   /* one line in the channel */
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    return t;
}

/* PagerDuty Events API v2 (POST /v2/enqueue): summary <= 1024 chars,
 * dedup_key <= 255, severity one of critical|error|warning|info. */
static cJSON *alarm_pd(const alarm_msg_t *m, const char *controller, const char *routing_key, const char *when)
{
    cJSON *o = cJSON_CreateObject(), *p = cJSON_CreateObject();
    char summary[1025], dedup[256];
    snprintf(summary, sizeof summary, "%s", m->summary);
    snprintf(dedup, sizeof dedup, "%s", m->key);
    if (!o || !p) {
        cJSON_Delete(o), cJSON_Delete(p);
        return NULL;
    }
    cJSON_AddStringToObject(o, "routing_key", routing_key ? routing_key : "");
    cJSON_AddStringToObject(o, "event_action", m->firing ? "trigger" : "resolve");
    cJSON_AddStringToObject(o, "dedup_key", dedup);
    cJSON_AddStringToObject(p, "summary", summary);
    cJSON_AddStringToObject(p, "source", controller);
    cJSON_AddStringToObject(p, "severity", alarm_sev_str(m->severity));
    cJSON_AddStringToObject(p, "timestamp", when);
    if (m->details)
        cJSON_AddItemToObject(p, "custom_details", cJSON_Duplicate(m->details, 1));
    cJSON_AddItemToObject(o, "payload", p);
    return o;
}

char *alarm_body(const alarm_msg_t *m, cfg_hook_kind_t kind, const char *controller, const char *routing_key)
{
    char when[40];
    cJSON *o = NULL;
    loop_fmt_wall(m->wall_ms, when, sizeof when);
    if (kind == CFG_HOOK_PAGERDUTY) {
        o = alarm_pd(m, controller, routing_key, when);
    } else if (kind == CFG_HOOK_SLACK) {
        char *t = alarm_slack_text(m, controller);
        if (t && (o = cJSON_CreateObject()))
            cJSON_AddStringToObject(o, "text", t);
        free(t);
    } else if ((o = cJSON_CreateObject())) {
        cJSON_AddStringToObject(o, "key", m->key);
        cJSON_AddStringToObject(o, "state", m->firing ? "firing" : "resolved");
        cJSON_AddStringToObject(o, "severity", alarm_sev_str(m->severity));
        cJSON_AddStringToObject(o, "summary", m->summary);
        cJSON_AddItemToObject(o, "details", m->details ? cJSON_Duplicate(m->details, 1) : cJSON_CreateNull());
        cJSON_AddStringToObject(o, "controller", controller);
        cJSON_AddStringToObject(o, "time", when);
    }
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return s;
}

const char *alarm_controller_id(void)
{
    return alarm_controller ? alarm_controller : "regiond";
}
