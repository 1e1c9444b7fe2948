/* leader_feed — the lease's events on /v1/events (docs/ha.md, "Events"),
 * made from the lease's notes (daemon/leader.c passes each one here):
 *  - lease_won: this instance leads a new term (instance, epoch, the tables
 *    it holds);
 *  - lease_lost: it no longer leads (instance, the term's epoch, why);
 *  - lease_holder: the holder this instance sees changed while it does not
 *    lead (holder id, address, epoch; null when nobody holds a majority);
 *  - lease_tables: which lease tables answer changed (and after the first
 *    round): how many, the majority needed, the ones that do not and why.
 * Every field comes from the lease's own status (lease_status_json), so the
 * feed and /v1/status never disagree. */
#include "daemon/leader.h"

#include <stdio.h>
#include <string.h>

#include "core/feed.h"
#include "core/log.h"

static char lf_prev[65];   /* the holder seen last ("" none), for "previous" */

static const char *str_of(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double num_of(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* k: s, or null when s is NULL or "". */
static bool add_str(cJSON *d, const char *k, const char *s)
{
    return (s && s[0]) ? cJSON_AddStringToObject(d, k, s) != NULL : cJSON_AddNullToObject(d, k) != NULL;
}

static void emit(feed_ev_t type, cJSON *d, bool ok)
{
    if (!ok) {
        cJSON_Delete(d);
        log_msg(LOG_ERR, "msg=\"lease event lost\" type=%s error=\"out of memory\"", feed_ev_str(type));
        return;
    }
    feed_emit(type, d);
}

static void won(const cJSON *st)
{
    cJSON *d = cJSON_CreateObject();
    cJSON *regions = d ? cJSON_AddArrayToObject(d, "regions") : NULL;
    bool ok = regions != NULL;
    size_t held = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(st, "tables"))
    {
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "held")))
            continue;
        held++;
        ok = ok && cJSON_AddItemToArray(regions, cJSON_CreateString(str_of(t, "region")));
    }
    ok = ok && add_str(d, "instance", str_of(st, "instance_id"))
         && cJSON_AddNumberToObject(d, "epoch", num_of(st, "epoch"))
         && cJSON_AddNumberToObject(d, "held", (double)held)
         && cJSON_AddNumberToObject(d, "tables", (double)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(st, "tables")))
         && cJSON_AddNumberToObject(d, "majority", num_of(st, "majority"))
         && cJSON_AddNumberToObject(d, "send_until_in_ms", num_of(st, "send_until_in_ms"));
    emit(EV_LEASE_WON, d, ok);
}

static void lost(const cJSON *st)
{
    uint64_t epoch = 0;
    const char *why = lease_last_loss(&epoch);
    cJSON *d = cJSON_CreateObject();
    bool ok = d && add_str(d, "instance", str_of(st, "instance_id"))
              && cJSON_AddNumberToObject(d, "epoch", (double)epoch) && add_str(d, "why", why);
    emit(EV_LEASE_LOST, d, ok);
}

/* The holder seen changed: said only while this instance does not lead (its
 * own win is lease_won). */
static void holder(const cJSON *st)
{
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(st, "holder");
    const char *id = cJSON_IsObject(h) ? str_of(h, "id") : NULL;
    char prev[sizeof(lf_prev)];
    snprintf(prev, sizeof(prev), "%s", lf_prev);
    snprintf(lf_prev, sizeof(lf_prev), "%s", id ? id : "");
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(st, "leading")))
        return;
    cJSON *d = cJSON_CreateObject();
    bool ok = d && add_str(d, "holder", id) && add_str(d, "advertise", cJSON_IsObject(h) ? str_of(h, "advertise") : NULL)
              && cJSON_AddNumberToObject(d, "epoch", cJSON_IsObject(h) ? num_of(h, "epoch") : 0)
              && add_str(d, "previous", prev);
    emit(EV_LEASE_HOLDER, d, ok);
}

static void tables(const cJSON *st)
{
    cJSON *d = cJSON_CreateObject();
    cJSON *down = d ? cJSON_AddArrayToObject(d, "unreachable") : NULL;
    bool ok = down != NULL;
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(st, "tables"))
    {
        if (!ok || cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "reachable")))
            continue;
        cJSON *o = cJSON_CreateObject();
        ok = o && cJSON_AddItemToArray(down, o) && add_str(o, "region", str_of(t, "region"))
             && add_str(o, "table", str_of(t, "table")) && add_str(o, "error", str_of(t, "last_error"));
    }
    ok = ok && cJSON_AddNumberToObject(d, "reachable", num_of(st, "reachable"))
         && cJSON_AddNumberToObject(d, "tables", (double)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(st, "tables")))
         && cJSON_AddNumberToObject(d, "majority", num_of(st, "majority"));
    emit(EV_LEASE_TABLES, d, ok);
}

void leader_feed_note(lease_note_t what)
{
    if (what == LEASE_NOTE_RENEWED)
        return;
    cJSON *st = lease_status_json();
    if (!st) {
        if (lease_enabled())
            log_msg(LOG_ERR, "msg=\"lease event lost\" error=\"out of memory\"");
        return;
    }
    switch (what) {
    case LEASE_NOTE_LEADING:
        won(st);
        break;
    case LEASE_NOTE_LOST:
        lost(st);
        break;
    case LEASE_NOTE_VIEW:
        holder(st);
        break;
    case LEASE_NOTE_TABLES:
        tables(st);
        break;
    case LEASE_NOTE_RENEWED:
        break;
    }
    cJSON_Delete(st);
}
