/* api_control — the state-changing endpoints: overrides, freeze, backups,
 * drills.  Each needs a write token (auth.c); each is audited. */
#include "daemon/api.h"
#include "daemon/api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "daemon/auth.h"
#include "backup/backup.h"
#include "daemon/control.h"
#include "daemon/drill.h"
#include "config/utf8.h"

static int api_last_code;            /* of the last control reply, for the audit log */
static char api_last_msg[512];
static char api_who[65];             /* the token name of the control request being served */

static void api_ctrl_reply(struct evhttp_request *req, ctrl_rc_t rc, const char *msg)
{
    static const int codes[] = {200, 404, 409, 400, 503};
    static const char *const names[] = {"OK", "Not Found", "Conflict", "Bad Request", "Service Unavailable"};
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddBoolToObject(o, "ok", rc == CTRL_OK);
        cJSON_AddStringToObject(o, rc == CTRL_OK ? "result" : "error", msg);
        cJSON_AddNumberToObject(o, "status", codes[rc]);
    }
    api_last_code = codes[rc];
    snprintf(api_last_msg, sizeof(api_last_msg), "%s", msg);
    api_send_json(req, codes[rc], names[rc], o);
}

/* POST /v1/overrides {"region","action":"drain"|"pin","weight","duration_s","note"} */
static void api_override_post(struct evhttp_request *req)
{
    cJSON *o = api_body_json(req);
    if (!o)
        return;
    const cJSON *region = cJSON_GetObjectItemCaseSensitive(o, "region");
    const cJSON *action = cJSON_GetObjectItemCaseSensitive(o, "action");
    const cJSON *weight = cJSON_GetObjectItemCaseSensitive(o, "weight");
    const cJSON *dur = cJSON_GetObjectItemCaseSensitive(o, "duration_s");
    const cJSON *note = cJSON_GetObjectItemCaseSensitive(o, "note");
    const cJSON *who = cJSON_GetObjectItemCaseSensitive(o, "who");
    char msg[512];
    bool drain = cJSON_IsString(action) && strcmp(action->valuestring, "drain") == 0;
    bool pin = cJSON_IsString(action) && strcmp(action->valuestring, "pin") == 0;
    const char *bad = !cJSON_IsString(region) ? "region: expected a region name"
        : !drain && !pin ? "action: expected \"drain\" or \"pin\""
        : pin && (!cJSON_IsNumber(weight) || !(weight->valuedouble >= 0 && weight->valuedouble <= 255) ||
                  weight->valuedouble != (int)weight->valuedouble) ? "weight: expected an integer 0..255"
        : !cJSON_IsNumber(dur) || dur->valuedouble < 1 || dur->valuedouble > 604800 ||
          dur->valuedouble != (double)(uint32_t)dur->valuedouble
          ? "duration_s: expected whole seconds from 1 to 604800 (an override always expires)"
        : note && !cJSON_IsString(note) ? "note: expected a string" : NULL;
    if (bad) {
        api_ctrl_reply(req, CTRL_BAD, bad);
        cJSON_Delete(o);
        return;
    }
    (void)who;   /* the token's name says who, not the body */
    ctrl_rc_t rc = ctrl_override_set(region->valuestring, drain, pin ? weight->valueint : 0,
                                     (uint32_t)dur->valuedouble, note ? note->valuestring : "",
                                     api_who, msg, sizeof(msg));
    api_ctrl_reply(req, rc, msg);
    cJSON_Delete(o);
}

static void api_freeze(struct evhttp_request *req, bool on)
{
    const char *note = "";
    cJSON *o = NULL;
    if (on && evbuffer_get_length(evhttp_request_get_input_buffer(req)) > 0) {
        if (!(o = api_body_json(req)))
            return;
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, "note");
        if (cJSON_IsString(n))
            note = n->valuestring;
    }
    char msg[600];
    ctrl_rc_t rc = ctrl_set_freeze(on, note, api_who, msg, sizeof(msg));
    cJSON_Delete(o);
    api_ctrl_reply(req, rc, msg);
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
    api_last_code = 0;
    api_last_msg[0] = '\0';
    return true;
}

static void api_backup_now(struct evhttp_request *req)
{
    char msg[512];
    cJSON *o = api_body_json(req);
    if (!o)
        return;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "table");
    if (!cJSON_IsString(t))
        api_ctrl_reply(req, CTRL_BAD, "table: expected a table name");
    else
        api_ctrl_reply(req, backup_run_now(t->valuestring, msg, sizeof(msg)) < 0 ? CTRL_NOT_FOUND : CTRL_OK, msg);
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

/* POST /v1/drills {"region","action":"drain"|"fail","duration_s","dry_run","note"} */
static void api_drill_post(struct evhttp_request *req)
{
    char msg[800];
    cJSON *o = api_body_json(req);
    if (!o)
        return;
    const cJSON *region = cJSON_GetObjectItemCaseSensitive(o, "region");
    const cJSON *action = cJSON_GetObjectItemCaseSensitive(o, "action");
    const cJSON *dur = cJSON_GetObjectItemCaseSensitive(o, "duration_s");
    const cJSON *dry = cJSON_GetObjectItemCaseSensitive(o, "dry_run");
    const cJSON *note = cJSON_GetObjectItemCaseSensitive(o, "note");
    bool fail = cJSON_IsString(action) && strcmp(action->valuestring, "fail") == 0;
    bool drain = cJSON_IsString(action) && strcmp(action->valuestring, "drain") == 0;
    const char *bad = !cJSON_IsString(region) ? "region: expected a region name"
        : !fail && !drain ? "action: expected \"drain\" or \"fail\""
        : !cJSON_IsNumber(dur) || dur->valuedouble < 1 || dur->valuedouble > 86400 ||
          dur->valuedouble != (double)(uint32_t)dur->valuedouble ? "duration_s: expected whole seconds from 1 to 86400"
        : dry && !cJSON_IsBool(dry) ? "dry_run: expected true or false"
        : note && !cJSON_IsString(note) ? "note: expected a string" : NULL;
    if (bad) {
        api_ctrl_reply(req, CTRL_BAD, bad);
        cJSON_Delete(o);
        return;
    }
    uint64_t id = 0;
    drill_rc_t rc = drill_start(region->valuestring, fail, (uint32_t)dur->valuedouble, cJSON_IsTrue(dry),
                                note ? note->valuestring : "", api_who, &id, msg, sizeof(msg));
    cJSON_Delete(o);
    static const ctrl_rc_t map[] = {CTRL_OK, CTRL_NOT_FOUND, CTRL_REFUSED, CTRL_BAD, CTRL_UNAVAILABLE};
    if (rc != DRILL_OK) {
        api_ctrl_reply(req, map[rc], msg);
        return;
    }
    cJSON *r = cJSON_CreateObject();
    if (r) {
        cJSON_AddBoolToObject(r, "ok", 1);
        cJSON_AddNumberToObject(r, "id", (double)id);
        cJSON_AddStringToObject(r, "result", msg);
    }
    api_last_code = 201;
    snprintf(api_last_msg, sizeof(api_last_msg), "%.500s", msg);
    api_send_json(req, 201, "Created", r);
}

void api_control(struct evhttp_request *req, const char *path, enum evhttp_cmd_type cmd)
{
    char msg[512], what[300];
    bool post = cmd == EVHTTP_REQ_POST, del = cmd == EVHTTP_REQ_DELETE;
    bool ov = strcmp(path, "/v1/overrides") == 0 && post;
    bool rel = strncmp(path, "/v1/overrides/", 14) == 0 && del;
    bool bk = strcmp(path, "/v1/backups") == 0 && post;
    bool fr = strcmp(path, "/v1/freeze") == 0 && (post || del);
    uint64_t did = 0;
    bool dstart = strcmp(path, "/v1/drills") == 0 && post;
    bool dstop = api_drill_id(path, &did) && del;
    if (!ov && !rel && !bk && !fr && !dstart && !dstop) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
        api_error(req, 405, "Method Not Allowed",
                  "use GET (control: POST /v1/overrides, DELETE /v1/overrides/REGION, POST/DELETE /v1/freeze, "
                  "POST /v1/backups)");
        return;
    }
    snprintf(what, sizeof(what), "%s %.250s", post ? "POST" : "DELETE", path);
    if (!api_control_allowed(req, what))
        return;
    if (ov) {
        api_override_post(req);
    } else if (rel) {
        size_t rlen = 0;
        char *region = evhttp_uridecode(path + 14, 0, &rlen);
        if (region && (strlen(region) != rlen || !utf8_valid(region, rlen, NULL))) {
            free(region);   /* api_route refused these already; never look one up */
            region = NULL;
        }
        ctrl_rc_t rc = region ? ctrl_override_clear(region, api_who, msg, sizeof(msg)) : CTRL_BAD;
        api_ctrl_reply(req, rc, region ? msg : "bad region name");
        free(region);
    } else if (bk) {
        api_backup_now(req);
    } else if (dstart) {
        api_drill_post(req);
    } else if (dstop) {
        static const ctrl_rc_t map[] = {CTRL_OK, CTRL_NOT_FOUND, CTRL_REFUSED, CTRL_BAD, CTRL_UNAVAILABLE};
        drill_rc_t rc = drill_stop(did, api_who, msg, sizeof(msg));
        api_ctrl_reply(req, map[rc], msg);
    } else {
        api_freeze(req, post);
    }
    /* a body that was not JSON was answered 400 before api_ctrl_reply */
    auth_audit(api_who, what, api_last_code ? api_last_code : 400, api_last_code ? api_last_msg : "bad request");
}

