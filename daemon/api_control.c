/* api_control — the state-changing endpoints: overrides, freeze, backups,
 * drills.  Each needs a write token (auth.c); each is audited. */
#include "daemon/api.h"
#include "daemon/api_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "core/loop.h"
#include "daemon/auth.h"
#include "backup/backup.h"
#include "daemon/control.h"
#include "daemon/drill.h"
#include "daemon/leader.h"
#include "failover/route53.h"
#include "config/utf8.h"

static char api_who[65];             /* the token name of the control request being served */

/* A control request being answered: the answer may come later, once its
 * change is durable (the connection stays open, the loop runs on).
 * Owner: whoever holds it until api_ctrl_reply (which frees it). */
struct api_wait {
    struct evhttp_request *req;
    api_conn_t *conn;                /* valid only while api_control_run() runs (a close frees it later) */
    char who[65], what[300];
};

/* Answer w (now or from a completion callback), audit it, free it. */
static void api_ctrl_reply(api_wait_t *w, ctrl_rc_t rc, const char *msg)
{
    static const int codes[] = {200, 404, 409, 400, 503, 503};
    static const char *const names[] = {"OK", "Not Found", "Conflict", "Bad Request", "Service Unavailable",
                                        "Service Unavailable"};
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddBoolToObject(o, "ok", rc == CTRL_OK);
        cJSON_AddStringToObject(o, rc == CTRL_OK ? "result" : "error", msg);
        cJSON_AddNumberToObject(o, "status", codes[rc]);
    }
    apic_request_seen(apic_of(w->req));   /* the hold is over: a keep-alive connection idles from now */
    api_send_json(w->req, codes[rc], names[rc], o);
    auth_audit(w->who, w->what, codes[rc], msg);
    free(w);
}

static void api_ctrl_done(void *arg, ctrl_rc_t rc, const char *msg)
{
    api_ctrl_reply(arg, rc, msg);
}

/* The body was not JSON: api_body_json answered 400 (always from inside
 * api_control_run(), so w->conn is still valid). */
static void api_ctrl_bad_body(api_wait_t *w)
{
    apic_request_seen(w->conn);   /* the hold is over */
    auth_audit(w->who, w->what, 400, "bad request");
    free(w);
}

/* The body an override and a drill share: a region, one of two actions,
 * whole seconds of duration_s within a bound, an optional note.  Each
 * request's own field is checked by its caller (own: its message, or NULL),
 * its place in the order of checks kept: before duration_s or after it. */
typedef struct {
    const char *act2, *act_bad;      /* the action other than "drain"; the message when neither */
    double max_s;
    const char *dur_bad;
    bool own_first;                  /* own is checked before duration_s (else after) */
} api_body_spec_t;

typedef struct {
    const char *region, *note;       /* note "" when the body has none */
    bool drain;                      /* else the spec's act2 */
    uint32_t dur_s;
} api_body_t;

static bool api_str_is(const cJSON *j, const char *s)
{
    return cJSON_IsString(j) && strcmp(j->valuestring, s) == 0;
}

/* NULL when o is good (b filled in), else the message of the first check it fails. */
static const char *api_body_check(const cJSON *o, const api_body_spec_t *s, const char *own, api_body_t *b)
{
    const cJSON *region = cJSON_GetObjectItemCaseSensitive(o, "region");
    const cJSON *action = cJSON_GetObjectItemCaseSensitive(o, "action");
    const cJSON *dur = cJSON_GetObjectItemCaseSensitive(o, "duration_s");
    const cJSON *note = cJSON_GetObjectItemCaseSensitive(o, "note");
    bool drain = api_str_is(action, "drain");
    bool dur_off = !cJSON_IsNumber(dur) || dur->valuedouble < 1 || dur->valuedouble > s->max_s ||
                   dur->valuedouble != (double)(uint32_t)dur->valuedouble;
    const char *bad = !cJSON_IsString(region) ? "region: expected a region name"
        : !drain && !api_str_is(action, s->act2) ? s->act_bad
        : s->own_first && own ? own
        : dur_off ? s->dur_bad
        : own ? own
        : note && !cJSON_IsString(note) ? "note: expected a string" : NULL;
    if (bad)
        return bad;
    *b = (api_body_t){region->valuestring, note ? note->valuestring : "", drain, (uint32_t)dur->valuedouble};
    return NULL;
}

/* POST /v1/overrides {"region","action":"drain"|"pin","weight","duration_s","note"}
 * (a "who" in the body is ignored: the token's name says who) */
void api_override_post(api_wait_t *w, const char *path)
{
    static const api_body_spec_t spec = {
        "pin", "action: expected \"drain\" or \"pin\"", 604800,
        "duration_s: expected whole seconds from 1 to 604800 (an override always expires)", true};
    (void)path;
    cJSON *o = api_body_json(w->req);
    if (!o) {
        api_ctrl_bad_body(w);
        return;
    }
    const cJSON *weight = cJSON_GetObjectItemCaseSensitive(o, "weight");
    bool pin = api_str_is(cJSON_GetObjectItemCaseSensitive(o, "action"), "pin");
    bool weight_off = !cJSON_IsNumber(weight) || !(weight->valuedouble >= 0 && weight->valuedouble <= 255) ||
                      weight->valuedouble != (int)weight->valuedouble;
    const char *own = pin && weight_off ? "weight: expected an integer 0..255" : NULL;
    api_body_t b;
    const char *bad = api_body_check(o, &spec, own, &b);
    if (bad)
        api_ctrl_reply(w, CTRL_BAD, bad);
    else
        ctrl_override_set(b.region, b.drain, pin ? weight->valueint : 0, b.dur_s, b.note, w->who, api_ctrl_done, w);
    cJSON_Delete(o);
}

static void api_freeze(api_wait_t *w, bool on)
{
    const char *note = "";
    cJSON *o = NULL;
    if (on && evbuffer_get_length(evhttp_request_get_input_buffer(w->req)) > 0) {
        if (!(o = api_body_json(w->req))) {
            api_ctrl_bad_body(w);
            return;
        }
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, "note");
        if (cJSON_IsString(n))
            note = n->valuestring;
    }
    ctrl_set_freeze(on, note, w->who, api_ctrl_done, w);   /* copies note */
    cJSON_Delete(o);
}

void api_freeze_post(api_wait_t *w, const char *path)
{
    (void)path;
    api_freeze(w, true);
}

void api_freeze_delete(api_wait_t *w, const char *path)
{
    (void)path;
    api_freeze(w, false);
}

/* A release waits for the Route 53 actuator's first judged read (a start's,
 * or a new leader's takeover read): that read loads the drift flags a
 * release clears, so one taken before it would be answered "released" and
 * then undone (docs/ha.md).  Refused 409 until then; true when it may go on. */
static bool api_release_ready(api_wait_t *w)
{
    char msg[300];
    if (route53_judged())
        return true;
    if (route53_epoch() > 1)
        snprintf(msg, sizeof(msg), "not yet: this leader's first read of the Route 53 records (epoch %" PRIu64
                 ") is under way, and a release now would be undone by it; try again in a moment", route53_epoch());
    else
        snprintf(msg, sizeof(msg), "not yet: regiond's first read of the Route 53 records is under way, and a "
                 "release now would be undone by it; try again in a moment");
    api_ctrl_reply(w, CTRL_REFUSED, msg);
    return false;
}

/* DELETE /v1/overrides/REGION */
void api_override_delete(api_wait_t *w, const char *path)
{
    if (!api_release_ready(w))
        return;
    size_t rlen = 0;
    char *region = evhttp_uridecode(path + 14, 0, &rlen);
    if (region && (strlen(region) != rlen || !utf8_valid(region, rlen, NULL))) {
        free(region);   /* api_route refused these already; never look one up */
        region = NULL;
    }
    if (region)
        ctrl_override_clear(region, w->who, api_ctrl_done, w);
    else
        api_ctrl_reply(w, CTRL_BAD, "bad region name");
    free(region);
}

/* State-changing endpoints need a write token; without a token file they
 * are off.  Sets api_who.  True when the request may go on. */
static bool api_control_allowed(struct evhttp_request *req, const char *what)
{
    if (!auth_configured()) {
        api_error(req, 403, "Forbidden", "control endpoints are off: set controller.token_file");
        return false;
    }
    auth_level_t lv = auth_check(req, api_who, sizeof(api_who));
    if (lv == AUTH_NONE) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate", "Bearer");
        api_error(req, 401, "Unauthorized", "a valid bearer token is required");
        auth_audit_denied("-", what, 401, "no or wrong token");
        return false;
    }
    if (lv == AUTH_READ) {
        api_error(req, 403, "Forbidden", "this token is read-only");
        auth_audit_denied(api_who, what, 403, "read-only token");
        return false;
    }
    return true;
}

/* POST /v1/backups {"table"}: a backup now. */
void api_backup_post(api_wait_t *w, const char *path)
{
    (void)path;
    char msg[512];
    cJSON *o = api_body_json(w->req);
    if (!o) {
        api_ctrl_bad_body(w);
        return;
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "table");
    if (!cJSON_IsString(t))
        api_ctrl_reply(w, CTRL_BAD, "table: expected a table name");
    else
        api_ctrl_reply(w, backup_run_now(t->valuestring, msg, sizeof(msg)) < 0 ? CTRL_NOT_FOUND : CTRL_OK, msg);
    cJSON_Delete(o);
}

bool api_drill_id(const char *path, uint64_t *id)
{
    char *end;
    if (strncmp(path, "/v1/drills/", 11) != 0 || !path[11])
        return false;
    *id = strtoull(path + 11, &end, 10);
    return *end == '\0' && path[11] != '-';
}

static void api_drill_done(void *arg, drill_rc_t rc, uint64_t id, const char *msg)
{
    static const ctrl_rc_t map[] = {CTRL_OK, CTRL_NOT_FOUND, CTRL_REFUSED, CTRL_BAD, CTRL_UNAVAILABLE};
    api_wait_t *w = arg;
    if (rc != DRILL_OK || evhttp_request_get_command(w->req) != EVHTTP_REQ_POST) {
        api_ctrl_reply(w, map[rc], msg);
        return;
    }
    cJSON *r = cJSON_CreateObject();
    if (r) {
        cJSON_AddBoolToObject(r, "ok", 1);
        cJSON_AddNumberToObject(r, "id", (double)id);
        cJSON_AddStringToObject(r, "result", msg);
    }
    apic_request_seen(apic_of(w->req));
    api_send_json(w->req, 201, "Created", r);
    auth_audit(w->who, w->what, 201, msg);
    free(w);
}

/* POST /v1/drills {"region","action":"drain"|"fail","duration_s","dry_run","note"} */
void api_drill_post(api_wait_t *w, const char *path)
{
    static const api_body_spec_t spec = {
        "fail", "action: expected \"drain\" or \"fail\"", 86400, "duration_s: expected whole seconds from 1 to 86400",
        false};
    (void)path;
    cJSON *o = api_body_json(w->req);
    if (!o) {
        api_ctrl_bad_body(w);
        return;
    }
    const cJSON *dry = cJSON_GetObjectItemCaseSensitive(o, "dry_run");
    api_body_t b;
    const char *bad = api_body_check(o, &spec, dry && !cJSON_IsBool(dry) ? "dry_run: expected true or false" : NULL, &b);
    if (bad)
        api_ctrl_reply(w, CTRL_BAD, bad);
    else
        drill_start(b.region, !b.drain, b.dur_s, cJSON_IsTrue(dry), b.note, w->who, api_drill_done, w);
    cJSON_Delete(o);
}

/* DELETE /v1/drills/ID */
void api_drill_delete(api_wait_t *w, const char *path)
{
    uint64_t did = 0;
    (void)api_drill_id(path, &did);   /* the route matched a decimal id */
    drill_stop(did, w->who, api_drill_done, w);
}

/* "last_leader": the last holder this instance saw (a partitioned
 * follower's best knowledge), or null. */
static void api_control_last_leader(cJSON *o)
{
    lease_holder_t l;
    char seen[40];
    lease_last_holder(&l);
    cJSON *x = l.known ? cJSON_CreateObject() : NULL;
    if (!x) {
        cJSON_AddNullToObject(o, "last_leader");
        return;
    }
    cJSON_AddStringToObject(x, "id", l.id);
    cJSON_AddStringToObject(x, "advertise", l.advertise);
    cJSON_AddNumberToObject(x, "epoch", (double)l.epoch);
    cJSON_AddStringToObject(x, "seen", loop_fmt_wall(l.since_wall_ms, seen, sizeof(seen)));
    cJSON_AddItemToObject(o, "last_leader", x);
}

/* Several controllers: a follower refuses every control request with 409
 * and names the leader (docs/ha.md).  True when the request may go on. */
static bool api_control_leader(struct evhttp_request *req, const char *what)
{
    char msg[800];
    lease_holder_t h;
    if (leader_check_control(msg, sizeof(msg), &h))
        return true;
    cJSON *o = cJSON_CreateObject(), *l = h.known ? cJSON_CreateObject() : NULL;
    if (o) {
        cJSON_AddBoolToObject(o, "ok", 0);
        cJSON_AddStringToObject(o, "error", msg);
        cJSON_AddNumberToObject(o, "status", 409);
        if (l) {
            cJSON_AddStringToObject(l, "id", h.id);
            cJSON_AddStringToObject(l, "advertise", h.advertise);
            cJSON_AddNumberToObject(l, "epoch", (double)h.epoch);
            cJSON_AddItemToObject(o, "leader", l);
        } else
            cJSON_AddNullToObject(o, "leader");
        api_control_last_leader(o);
    } else
        cJSON_Delete(l);
    api_send_json(req, 409, "Conflict", o);
    auth_audit(api_who, what, 409, "not the leader");
    return false;
}

void api_control_run(struct evhttp_request *req, const char *path, enum evhttp_cmd_type cmd, api_write_fn fn)
{
    char what[300];
    snprintf(what, sizeof(what), "%s %.250s", cmd == EVHTTP_REQ_POST ? "POST" : "DELETE", path);
    if (!api_control_allowed(req, what) || !api_control_leader(req, what))
        return;
    api_wait_t *w = calloc(1, sizeof(*w));
    if (!w) {
        api_error(req, 503, "Service Unavailable", "out of memory");
        auth_audit(api_who, what, 503, "out of memory");
        return;
    }
    w->req = req;
    w->conn = apic_of(req);
    snprintf(w->who, sizeof(w->who), "%s", api_who);
    snprintf(w->what, sizeof(w->what), "%s", what);
    /* answered when its change is durable: no request deadline, no eviction
     * meanwhile; past the held cap refused before anything is applied */
    if (!apic_hold(w->conn)) {
        free(w);
        api_error(req, 503, "Service Unavailable",
                  "too many changes waiting for the disk (half of controller.max_api_connections): try again");
        auth_audit(api_who, what, 503, "too many changes waiting for the disk");
        return;
    }
    fn(w, path);
    /* w is answered and freed by now, or by a completion callback later */
}
