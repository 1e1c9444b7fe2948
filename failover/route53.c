/* route53 — see route53.h.  Wire format: Route 53 API reference,
 * ListResourceRecordSets (GET /2013-04-01/hostedzone/{Id}/rrset?name=&type=
 * &identifier=&maxitems=), ChangeResourceRecordSets (POST
 * /2013-04-01/hostedzone/{Id}/rrset/ with a ChangeResourceRecordSetsRequest),
 * GetChange (GET /2013-04-01/change/{Id}).
 *
 * This file: the actuator's state and accessors, the change in flight
 * persisted, start-up, the reconcile timer and reload.  Reading the live
 * records is in route53_read.c, applying a decision in route53_apply.c. */
#include "route53.h"
#include "route53_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "alarm.h"
#include "dnscheck.h"
#include "feed.h"
#include "log.h"
#include "loop.h"
#include "state.h"

r53_state_t r53s;

const char *route53_phase_str(route53_phase_t p)
{
    static const char *const n[] = {"idle", "reading", "submitting", "pending", "verifying"};
    return (unsigned)p < sizeof(n) / sizeof(n[0]) ? n[p] : "invalid";
}

int route53_live_weight(size_t i)
{
    return i < r53s.n && r53s.read_ok && r53s.have[i] ? (int)r53s.known[i].weight : -1;
}

bool route53_drifted(size_t i)
{
    return i < r53s.n && r53s.drift[i];
}

void route53_clear_drift(size_t i)
{
    if (i < r53s.n && r53s.drift[i]) {
        char key[100];
        snprintf(key, sizeof(key), "route53-drift-%s", r53s.cfg->regions[i].name);
        alarm_resolve(key, "drift accepted by an operator");
    }
    if (i < r53s.n)
        r53s.drift[i] = false;
}

bool route53_ready(void)
{
    return r53s.read_ok;
}

bool route53_idle(void)
{
    return r53s.phase == R53_IDLE && r53s.read_ok;
}

route53_phase_t route53_phase(void) { return r53s.phase; }
const route53_change_t *route53_last_change(void) { return r53s.have_change ? &r53s.change : NULL; }
const char *route53_last_error(void) { return r53s.error; }
int64_t route53_last_read_wall_ms(void) { return r53s.last_read_wall_ms; }
uint64_t route53_changes_total(void) { return r53s.changes_total; }
uint64_t route53_drift_total(void) { return r53s.drift_total; }

void r53_event(const char *type, cJSON *d)
{
    feed_emit(type, d);
}

/* ---- the change in flight, persisted ---- */

void r53_intent_write(void)
{
    cJSON *o = cJSON_CreateObject(), *w = cJSON_AddArrayToObject(o, "weights");
    if (!o || !w) {
        cJSON_Delete(o);
        return;
    }
    cJSON_AddNumberToObject(o, "decision", (double)r53s.change.decision);
    for (size_t i = 0; i < r53s.n; i++)
        cJSON_AddItemToArray(w, cJSON_CreateNumber(r53s.want[i]));
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (s)
        state_write_async(R53_INTENT_FILE, s, strlen(s));   /* a record for the next start: off the loop */
    free(s);
}

void r53_intent_clear(void)
{
    state_write_async(R53_INTENT_FILE, "{}", 2);
}

void r53_change_event(const char *type)
{
    cJSON *d = cJSON_CreateObject();
    if (!d)
        return;
    const route53_change_t *c = &r53s.change;
    cJSON_AddNumberToObject(d, "decision", (double)c->decision);
    cJSON_AddStringToObject(d, "change_id", c->change_id);
    cJSON_AddStringToObject(d, "status", c->status);
    if (c->accepted_ms)
        cJSON_AddNumberToObject(d, "submit_ms", (double)(c->accepted_ms - c->submitted_ms));
    if (c->insync_ms)
        cJSON_AddNumberToObject(d, "insync_after_ms", (double)(c->insync_ms - c->submitted_ms));
    if (c->visible_ms)
        cJSON_AddNumberToObject(d, "visible_after_ms", (double)(c->visible_ms - c->submitted_ms));
    if (c->visible_result[0])
        cJSON_AddStringToObject(d, "dns", c->visible_result);
    if (c->error[0])
        cJSON_AddStringToObject(d, "error", c->error);
    cJSON *w = cJSON_AddObjectToObject(d, "weights");
    for (size_t i = 0; w && i < r53s.n; i++)
        if (c->weights_from[i] != c->weights_to[i]) {
            char v[32];
            snprintf(v, sizeof(v), "%d -> %d", c->weights_from[i], c->weights_to[i]);
            cJSON_AddStringToObject(w, r53s.cfg->regions[i].name, v);
        }
    r53_event(type, d);
}

/* ---- start-up and the reconcile timer ---- */

/* A change in flight when we stopped: did it land? (Never repeated blindly:
 * the controller decides again from the live weights.) */
/* The intent file's members and ranges (a corrupt file: state safe mode). */
static int r53_intent_check(const cJSON *o, char *why, size_t len)
{
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "weights");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "decision");
    if (!w && !d)
        return 0;   /* "{}": nothing in flight */
    if (!state_int_in(d, 0, 4503599627370496.0) || !cJSON_IsArray(w) || cJSON_GetArraySize(w) > 64) {
        snprintf(why, len, "expected {\"decision\": 0..2^52, \"weights\": [at most 64 of -1..255]}");
        return -1;
    }
    const cJSON *x;
    cJSON_ArrayForEach(x, w)
        if (!state_int_in(x, -1, 255)) {
            snprintf(why, len, "weights: expected integers -1..255");
            return -1;
        }
    return 0;
}

static void r53_check_intent(const r53_list_t *acc)
{
    cJSON *o = NULL;
    state_load_json(R53_INTENT_FILE, r53_intent_check, &o);
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "weights");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "decision");
    if (cJSON_IsArray(w) && (size_t)cJSON_GetArraySize(w) == r53s.n && cJSON_IsNumber(d)) {
        size_t i = 0;
        const cJSON *x;
        cJSON_ArrayForEach(x, w) r53s.want[i++] = cJSON_IsNumber(x) ? x->valueint : -1;
        memset(&r53s.change, 0, sizeof(r53s.change));
        r53s.have_change = true;
        r53s.change.decision = (uint64_t)d->valuedouble;
        bool landed = r53_live_matches_want(acc);
        snprintf(r53s.change.status, sizeof(r53s.change.status), "%s", landed ? "LANDED" : "LOST");
        for (size_t k = 0; k < r53s.n; k++)
            r53s.change.weights_from[k] = r53s.change.weights_to[k] = r53s.want[k];
        log_msg(LOG_NOTICE, "msg=\"change in flight at the last stop %s\" decision=%" PRIu64,
                landed ? "landed" : "did not land", r53s.change.decision);
        r53_change_event(landed ? "route53_change_landed" : "route53_change_lost");
        r53_intent_clear();
    }
    cJSON_Delete(o);
}

static void r53_after_start(const r53_list_t *acc)
{
    r53_adopt_listing(acc, false);
    r53_check_intent(acc);
    cJSON *d = cJSON_CreateObject();
    for (size_t i = 0; d && i < r53s.n; i++)
        cJSON_AddNumberToObject(d, r53s.cfg->regions[i].name, route53_live_weight(i));
    r53_event("route53_live", d);
    r53s.phase = R53_IDLE;
    r53s.notify(R53_NOTE_LIVE);
    r53s.notify(R53_NOTE_IDLE);
}

static void r53_after_reconcile(const r53_list_t *acc)
{
    uint64_t before = r53s.drift_total;
    r53_adopt_listing(acc, true);
    r53s.phase = R53_IDLE;
    if (r53s.drift_total != before)
        r53s.notify(R53_NOTE_LIVE);
    r53s.notify(R53_NOTE_IDLE);
}

static void r53_on_reconcile(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    if (r53s.phase != R53_IDLE)
        return;
    r53s.phase = R53_READING;
    r53_read(r53s.read_ok ? r53_after_reconcile : r53_after_start);
}

static void r53_arm_reconcile(void)
{
    struct timeval tv = {(time_t)r53s.cfg->route53.reconcile_s, 0};
    event_del(r53s.reconcile_timer);
    event_add(r53s.reconcile_timer, &tv);
}

int route53_init(const cfg_t *cfg, route53_notify_fn notify)
{
    memset(&r53s, 0, sizeof(r53s));
    r53s.cfg = cfg;
    r53s.notify = notify;
    r53s.n = cfg->n_regions < R53_MAXR ? cfg->n_regions : R53_MAXR;
    r53s.poll_timer = evtimer_new(loop_base(), r53_on_poll, NULL);
    r53s.reconcile_timer = event_new(loop_base(), -1, EV_PERSIST, r53_on_reconcile, NULL);
    if (!r53s.poll_timer || !r53s.reconcile_timer || dnscheck_init() == -1)
        return -1;
    if (!cfg->route53.enabled)
        return 0;
    r53_arm_reconcile();
    r53s.phase = R53_READING;
    r53_read(r53_after_start);
    return 0;
}

void route53_configure(const cfg_t *cfg)
{
    /* Region order and the record may have changed: forget what we knew and
     * read again (a reload with a different route53 section is a new start). */
    bool was = r53s.cfg && r53s.cfg->route53.enabled;
    r53s.cfg = cfg;
    if (r53s.req) {
        aws_cancel(r53s.req);
        r53s.req = NULL;
    }
    r53_free_created();
    evtimer_del(r53s.poll_timer);
    dnscheck_cancel();
    for (size_t i = 0; i < R53_MAXR; i++) {
        r53_rrset_clear(&r53s.known[i]);
        r53s.have[i] = r53s.drift[i] = false;
    }
    r53_list_free(&r53s.acc);
    memset(&r53s.acc, 0, sizeof(r53s.acc));
    r53s.read_ok = false;
    r53s.n = cfg->n_regions < R53_MAXR ? cfg->n_regions : R53_MAXR;
    r53s.phase = R53_IDLE;
    event_del(r53s.reconcile_timer);
    if (!cfg->route53.enabled) {
        if (was)
            log_msg(LOG_NOTICE, "msg=\"route53 section removed: monitoring only\"");
        return;
    }
    r53_arm_reconcile();
    r53s.phase = R53_READING;
    r53_read(r53_after_start);
}

void route53_fini(void)
{
    if (r53s.req)
        aws_cancel(r53s.req);
    r53s.req = NULL;
    r53_free_created();
    dnscheck_fini();
    if (r53s.poll_timer)
        event_free(r53s.poll_timer);
    if (r53s.reconcile_timer)
        event_free(r53s.reconcile_timer);
    for (size_t i = 0; i < R53_MAXR; i++)
        r53_rrset_clear(&r53s.known[i]);
    r53_list_free(&r53s.acc);
    memset(&r53s, 0, sizeof(r53s));
}
