/* view_doc — an observer's view as a document (see view_doc.h). */
#include "cluster/view_doc.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "config/utf8.h"

static const char *const state_names[VIEW_STATE_N] = { "unknown", "up", "degraded", "down" };

const char *view_state_str(view_state_t s)
{
    return s < VIEW_STATE_N ? state_names[s] : "invalid";
}

void view_set_reason(view_region_t *r, const char *reason)
{
    size_t n = strlen(reason ? reason : "");
    if (n > VIEW_REASON_MAX)
        n = VIEW_REASON_MAX;
    memcpy(r->reason, reason ? reason : "", n);   /* n <= VIEW_REASON_MAX */
    r->reason[n] = '\0';
    utf8_scrub(r->reason);
    /* a cut inside a multi-byte character left '?' at the end: fine */
    for (char *p = r->reason; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
}

static bool add_num(cJSON *o, const char *k, double v)
{
    return cJSON_AddNumberToObject(o, k, v) != NULL;
}

static bool enc_region(cJSON *arr, const view_region_t *r)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return false;
    cJSON_AddItemToArray(arr, o);
    return cJSON_AddStringToObject(o, "region", r->region) && cJSON_AddStringToObject(o, "state", view_state_str(r->state))
           && cJSON_AddStringToObject(o, "reason", r->reason) && add_num(o, "age_ms", (double)r->age_ms)
           && add_num(o, "probes", r->probes) && add_num(o, "failures", r->failures);
}

char *view_encode(const view_t *v)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *rs = o && add_num(o, "v", 1) && cJSON_AddStringToObject(o, "observer", v->observer)
                        && add_num(o, "elapsed_ms", (double)v->elapsed_ms) && add_num(o, "window_ms", (double)v->window_ms)
                        && cJSON_AddBoolToObject(o, "suspect", v->suspect)
                        && (!v->suspect || cJSON_AddStringToObject(o, "suspect_reason", v->suspect_reason))
                    ? cJSON_AddArrayToObject(o, "regions")
                    : NULL;
    bool ok = rs != NULL;
    for (size_t i = 0; ok && i < v->n; i++)
        ok = enc_region(rs, &v->regions[i]);
    cJSON *ds = ok && v->n_drills ? cJSON_AddArrayToObject(o, "drills") : NULL;
    ok = ok && (!v->n_drills || ds);
    for (size_t i = 0; ok && i < v->n_drills && i < VIEW_MAX_DRILLS; i++) {
        cJSON *x = cJSON_CreateObject();
        if (x)
            cJSON_AddItemToArray(ds, x);   /* owned by ds (and o) from here */
        ok = x && add_num(x, "id", (double)v->drills[i].id)
             && cJSON_AddStringToObject(x, "region", v->drills[i].region);
    }
    char *s = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (s && strlen(s) > VIEW_DOC_MAX) {
        free(s);
        s = NULL;
    }
    return s;
}

/* ---- decoding: every member checked ---- */

static int bad(char *why, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
    return -1;
}

/* Only KEYS, each at most once (cJSON keeps a duplicate member: which one a
 * reader takes would be anybody's guess). */
static bool keys_only(const cJSON *o, const char *const *keys)
{
    for (const cJSON *m = o->child; m; m = m->next) {
        bool known = false;
        for (size_t i = 0; keys[i] && !known; i++)
            known = m->string && strcmp(m->string, keys[i]) == 0;
        for (const cJSON *p = o->child; known && p != m; p = p->next)
            known = strcmp(p->string, m->string) != 0;
        if (!known)
            return false;
    }
    return true;
}

/* A whole number in 0..max, exactly (no fraction, no exponent overflow). */
static bool whole(const cJSON *o, const char *k, double max, uint64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 || v->valuedouble > max
        || floor(v->valuedouble) != v->valuedouble)
        return false;
    *out = (uint64_t)v->valuedouble;
    return true;
}

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.'
              || *p == '_' || *p == '-'))
            return false;
    return true;
}

static bool text_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n > max || !utf8_valid(s, n, NULL))
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

static int dec_region(const cJSON *o, size_t i, view_region_t *r, char *why, size_t len)
{
    static const char *const keys[] = { "region", "state", "reason", "age_ms", "probes", "failures", NULL };
    if (!cJSON_IsObject(o) || !keys_only(o, keys))
        return bad(why, len, "regions[%zu]: expected an object of region, state, reason, age_ms, probes, failures (each once)", i);
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, "region");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "state");
    const cJSON *re = cJSON_GetObjectItemCaseSensitive(o, "reason");
    if (!cJSON_IsString(n) || !name_ok(n->valuestring))
        return bad(why, len, "regions[%zu].region: expected a region name [A-Za-z0-9._-]{1,64}", i);
    snprintf(r->region, sizeof(r->region), "%s", n->valuestring);
    r->state = VIEW_STATE_N;
    for (int k = 0; cJSON_IsString(s) && k < VIEW_STATE_N; k++)
        if (strcmp(s->valuestring, state_names[k]) == 0)
            r->state = (view_state_t)k;
    if (r->state == VIEW_STATE_N)
        return bad(why, len, "regions[%zu].state: expected unknown, up, degraded or down", i);
    if (!cJSON_IsString(re) || !text_ok(re->valuestring, VIEW_REASON_MAX))
        return bad(why, len, "regions[%zu].reason: expected UTF-8 text of at most %d bytes without control "
                   "characters", i, VIEW_REASON_MAX);
    snprintf(r->reason, sizeof(r->reason), "%s", re->valuestring);
    uint64_t p, f;
    if (!whole(o, "age_ms", (double)VIEW_MS_MAX, &r->age_ms))
        return bad(why, len, "regions[%zu].age_ms: expected a whole number of ms", i);
    if (!whole(o, "probes", VIEW_COUNT_MAX, &p) || !whole(o, "failures", VIEW_COUNT_MAX, &f) || f > p)
        return bad(why, len, "regions[%zu]: expected probes and failures as whole numbers, failures <= probes", i);
    r->probes = (uint32_t)p;
    r->failures = (uint32_t)f;
    return 0;
}

/* "drills" (optional): at most VIEW_MAX_DRILLS of {"id", "region"}. */
static int dec_drills(const cJSON *ds, view_t *out, char *why, size_t len)
{
    static const char *const keys[] = { "id", "region", NULL };
    out->n_drills = 0;
    if (!ds)
        return 0;
    if (!cJSON_IsArray(ds) || cJSON_GetArraySize(ds) > VIEW_MAX_DRILLS)
        return bad(why, len, "drills: expected a list of at most %d drills", VIEW_MAX_DRILLS);
    for (const cJSON *e = ds->child; e; e = e->next) {
        view_drill_t *d = &out->drills[out->n_drills];
        const cJSON *n = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "region") : NULL;
        if (!n || !keys_only(e, keys) || !whole(e, "id", VIEW_DRILL_ID_MAX, &d->id) || d->id < 1
            || !cJSON_IsString(n) || !name_ok(n->valuestring))
            return bad(why, len, "drills[%zu]: expected {\"id\": 1..2^52, \"region\": a region name}", out->n_drills);
        snprintf(d->region, sizeof(d->region), "%s", n->valuestring);
        out->n_drills++;
    }
    return 0;
}

static int dec_top(const cJSON *o, const char *want, view_t *out, char *why, size_t len)
{
    static const char *const keys[] = { "v", "observer", "elapsed_ms", "window_ms", "suspect", "suspect_reason",
                                        "regions", "drills", NULL };
    uint64_t ver;
    if (!cJSON_IsObject(o) || !keys_only(o, keys))
        return bad(why, len, "expected an object of v, observer, elapsed_ms, window_ms, suspect, suspect_reason "
                   "(optional), regions, drills (optional) (each once)");
    if (!whole(o, "v", 1e6, &ver) || ver != 1)
        return bad(why, len, "v: expected 1");
    const cJSON *ob = cJSON_GetObjectItemCaseSensitive(o, "observer");
    if (!cJSON_IsString(ob) || strcmp(ob->valuestring, want) != 0)
        return bad(why, len, "observer: expected \"%s\" (the item's own)", want);
    snprintf(out->observer, sizeof(out->observer), "%s", want);
    if (!whole(o, "elapsed_ms", (double)VIEW_MS_MAX, &out->elapsed_ms)
        || !whole(o, "window_ms", (double)VIEW_MS_MAX, &out->window_ms))
        return bad(why, len, "elapsed_ms, window_ms: expected whole numbers of ms");
    const cJSON *su = cJSON_GetObjectItemCaseSensitive(o, "suspect");
    if (!cJSON_IsBool(su))
        return bad(why, len, "suspect: expected true or false");
    out->suspect = cJSON_IsTrue(su);
    const cJSON *sr = cJSON_GetObjectItemCaseSensitive(o, "suspect_reason");
    if (sr && (!cJSON_IsString(sr) || !text_ok(sr->valuestring, VIEW_SUSPECT_REASON_MAX)))
        return bad(why, len, "suspect_reason: expected UTF-8 text of at most %d bytes without control characters",
                   VIEW_SUSPECT_REASON_MAX);
    if (sr && !out->suspect)
        return bad(why, len, "suspect_reason: only with suspect true");
    if (sr)
        snprintf(out->suspect_reason, sizeof(out->suspect_reason), "%s", sr->valuestring);
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(o, "regions");
    int n = cJSON_IsArray(rs) ? cJSON_GetArraySize(rs) : -1;
    if (n < 0 || n > VIEW_MAX_REGIONS)
        return bad(why, len, "regions: expected a list of at most %d regions", VIEW_MAX_REGIONS);
    out->n = 0;
    for (const cJSON *e = rs->child; e; e = e->next) {
        view_region_t *r = &out->regions[out->n];
        if (dec_region(e, out->n, r, why, len) == -1)
            return -1;
        for (size_t j = 0; j < out->n; j++)
            if (strcmp(out->regions[j].region, r->region) == 0)
                return bad(why, len, "regions[%zu].region: \"%s\" twice", out->n, r->region);
        out->n++;
    }
    return dec_drills(cJSON_GetObjectItemCaseSensitive(o, "drills"), out, why, len);
}

int view_decode(const char *doc, const char *want, view_t *out, char *why, size_t len)
{
    memset(out, 0, sizeof(*out));
    size_t n = doc ? strlen(doc) : 0;
    if (!doc)
        return bad(why, len, "the item has no doc (or its epoch or seq is not a whole number)");
    if (n > VIEW_DOC_MAX)
        return bad(why, len, "doc: %zu bytes, expected at most %u", n, VIEW_DOC_MAX);
    size_t off = 0;
    if (json_text_check(doc, n, &off) != JSON_TEXT_OK)
        return bad(why, len, "doc: not UTF-8 JSON text (a NUL or \\u0000), at byte %zu", off);
    cJSON *o = cJSON_ParseWithLength(doc, n);
    if (!o)
        return bad(why, len, "doc: not JSON (or out of memory)");
    int rc = dec_top(o, want, out, why, len);
    cJSON_Delete(o);
    if (rc == -1)
        memset(out, 0, sizeof(*out));
    return rc;
}
