/* observers_record — a quorum decision's record as shown (observers_record.h). */
#include "daemon/observers_record.h"

#include <stdio.h>
#include <string.h>

uint32_t oqr_views(const oqr_t *x)
{
    return x->rec.call == QUORUM_CALL_FORGOTTEN ? 0 : x->rec.n;
}

static bool add_ids(cJSON *o, const char *name, const oqr_t *x, bool counted)
{
    cJSON *a = cJSON_AddArrayToObject(o, name);
    for (uint32_t i = 0; a && i < oqr_views(x); i++) {
        if (((x->rec.counted >> i) & 1u) != counted)
            continue;
        cJSON *s = cJSON_CreateString(x->ids[i]);
        if (!s)
            return false;
        cJSON_AddItemToArray(a, s);
    }
    return a != NULL;
}

static cJSON *view_json(const oqr_t *x, const char *id, uint32_t i)
{
    cJSON *v = cJSON_CreateObject();
    bool counted = x->rec.left[i] == QUORUM_LEFT_NONE;
    bool ok = v && cJSON_AddStringToObject(v, "observer", id)
              && cJSON_AddStringToObject(v, "vote", health_state_str(x->rec.vote[i]))
              && cJSON_AddBoolToObject(v, "counted", counted)
              && (counted || cJSON_AddStringToObject(v, "left_out", quorum_left_str(x->rec.left[i])))
              && (x->age_ms[i] == UINT64_MAX || cJSON_AddNumberToObject(v, "view_age_ms", (double)x->age_ms[i]))
              && (!x->detail[i][0] || cJSON_AddStringToObject(v, "detail", x->detail[i]));
    if (!ok) {
        cJSON_Delete(v);
        return NULL;
    }
    return v;
}

cJSON *oqr_json(const oqr_t *x, uint64_t now)
{
    if (!x->have)
        return NULL;
    const quorum_record_t *r = &x->rec;
    bool forgot = r->call == QUORUM_CALL_FORGOTTEN;
    cJSON *o = cJSON_CreateObject(), *vs = NULL;
    bool ok = o && cJSON_AddNumberToObject(o, "seq", (double)x->seq)
              && cJSON_AddStringToObject(o, "call", quorum_call_str(r->call))
              && cJSON_AddStringToObject(o, "from", health_state_str(r->from))
              && cJSON_AddStringToObject(o, "to", health_state_str(r->to))
              && (r->call != QUORUM_CALL_REFUSED
                  || cJSON_AddStringToObject(o, "would", r->would == HEALTH_DOWN ? "drain" : "restore"))
              && (forgot || cJSON_AddStringToObject(o, "why", quorum_why_str(r->why)))
              && (!forgot || !x->drill || cJSON_AddNumberToObject(o, "drill", (double)x->drill))
              && (!forgot || cJSON_AddStringToObject(o, "reason", x->reason)) && cJSON_AddNumberToObject(o, "k", r->k)
              && cJSON_AddNumberToObject(o, "n", r->n) && cJSON_AddBoolToObject(o, "leader", x->leader)
              && cJSON_AddNumberToObject(o, "age_ms", (double)(now >= x->mono_ms ? now - x->mono_ms : 0))
              && add_ids(o, "counted", x, true) && add_ids(o, "left_out", x, false)
              && (vs = cJSON_AddArrayToObject(o, "views"));
    for (uint32_t i = 0; ok && i < oqr_views(x); i++) {
        cJSON *v = view_json(x, x->ids[i], i);
        ok = v != NULL;
        if (v)
            cJSON_AddItemToArray(vs, v);
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

void oqr_line(const oqr_t *x, const char *region, char *buf, size_t len)
{
    const quorum_record_t *r = &x->rec;
    size_t off = 0;
#define OUT(...) do { if (off < len) off += (size_t)snprintf(buf + off, len - off, __VA_ARGS__); } while (0)
    buf[0] = '\0';
    if (r->call == QUORUM_CALL_FORGOTTEN) {
        OUT("%s forgotten (%s to %s): %s", region, health_state_str(r->from), health_state_str(r->to), x->reason);
        return;
    }
    if (r->call == QUORUM_CALL_REFUSED)
        OUT("%s of %s refused (%s):", r->would == HEALTH_DOWN ? "drain" : "restore", region, quorum_why_str(r->why));
    else
        OUT("%s called %s (%s):", region, quorum_call_str(r->call), quorum_why_str(r->why));
    const char *sep = " counted ";
    for (uint32_t i = 0; i < r->n; i++)
        if (r->left[i] == QUORUM_LEFT_NONE) {
            OUT("%s%s %s", sep, x->ids[i], health_state_str(r->vote[i]));
            sep = ", ";
        }
    if (sep[0] == ' ')
        OUT(" counted none");
    sep = "; left out ";
    for (uint32_t i = 0; i < r->n; i++)
        if (r->left[i] != QUORUM_LEFT_NONE) {
            OUT("%s%s %s", sep, x->ids[i], quorum_left_str(r->left[i]));
            sep = ", ";
        }
#undef OUT
}
