/* route53_known — what regiond knew about its records, kept across a
 * restart (state_dir/route53-known.json: per set identifier the weight of
 * each managed type as regiond last read or wrote it, and whether it is
 * drift), and what start-up makes of it:
 *  - the change in flight at the last stop (route53-change.json) landed or
 *    not (it is never re-sent blindly: the controller decides again);
 *  - a record whose live weight differs from what regiond knew — or, with
 *    nothing saved (a first start, a wiped state_dir), from its configured
 *    weight — or a known record now gone was changed by someone else:
 *    drift, reported and left alone unless route53.correct_drift. */
#include "failover/route53_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/alarm.h"
#include "core/log.h"
#include "core/state.h"
#include "failover/route53_guardk.h"

/* What regiond knows of its records (route53-known.json's document, and
 * the replicated state's `route53.known`); NULL when out of memory. */
cJSON *r53_known_doc(void)
{
    const cfg_route53_t *rc = &r53s.cfg->route53;
    cJSON *o = cJSON_CreateObject(), *rs = o ? cJSON_AddObjectToObject(o, "regions") : NULL;
    if (!rs) {
        cJSON_Delete(o);
        return NULL;
    }
    cJSON_AddStringToObject(o, "record_name", rc->record_name);
    cJSON_AddStringToObject(o, "record_type", rc->record_type);
    for (size_t i = 0; i < r53s.n; i++) {
        cJSON *x = cJSON_AddObjectToObject(rs, rc->regions[i].set_identifier);
        cJSON *w = x ? cJSON_AddArrayToObject(x, "weights") : NULL;
        for (int s = 0; w && s < R53_SLOTS; s++)
            cJSON_AddItemToArray(w, cJSON_CreateNumber(r53s.have[i][s] ? (double)r53s.known[i][s].weight : -1));
        if (x)
            cJSON_AddBoolToObject(x, "drift", r53s.drift[i]);
    }
    /* the guard's knowledge as this document was written, with its batch
     * number, and the number of the batch in flight then: a judged read
     * tells by them whether the guard carries a later batch, or the one
     * this document had in flight (route53_guard.c) */
    const char *g = r53_guard_live_rest();
    r53_gk_seq_t q = r53_guard_live_seq();
    char qs[48];
    if (g)
        cJSON_AddStringToObject(o, "guard", g);
    r53_gk_seq_fmt(q, qs, sizeof(qs));
    cJSON_AddStringToObject(o, "guard_seq", q.epoch ? qs : "");
    if (r53s.guard_new.name[0] && r53s.guard_new_seq.epoch) {
        r53_gk_seq_fmt(r53s.guard_new_seq, qs, sizeof(qs));
        cJSON_AddStringToObject(o, "inflight_seq", qs);
    }
    r53_gk_seq_t lo, hi;
    if (r53_guard_lost(&lo, &hi)) {   /* "EPOCH.N" or "EPOCH.N-EPOCH.N": judged not landed, may land late */
        char ls[100];
        r53_gk_seq_fmt(lo, qs, sizeof(qs));
        int w = snprintf(ls, sizeof(ls), "%s", qs);
        if (r53_gk_seq_cmp(lo, hi) != 0 && w > 0) {
            r53_gk_seq_fmt(hi, qs, sizeof(qs));
            snprintf(ls + w, sizeof(ls) - (size_t)w, "-%s", qs);
        }
        cJSON_AddStringToObject(o, "lost_seq", ls);
    }
    return o;
}

void r53_known_save(void)
{
    if (r53s.known_hold)
        return;   /* a term's bump read: the judged read that follows saves */
    cJSON *o = r53_known_doc();
    if (!o) {
        log_msg(LOG_ERR, "msg=\"cannot save route53 state: out of memory\"");
        return;
    }
    if (state_write_json(R53_KNOWN_FILE, o, STATE_JSON_COMPACT, NULL, NULL) != 0)   /* ordered before later writes; a failure alarms */
        log_msg(LOG_ERR, "msg=\"cannot save route53 state\" file=%s", R53_KNOWN_FILE);
    cJSON_Delete(o);
}

/* "lost_seq": "EPOCH.N" or "EPOCH.N-EPOCH.N" (lo, hi); -1 when malformed. */
static int r53_lost_parse(const char *s, r53_gk_seq_t *lo, r53_gk_seq_t *hi)
{
    const char *d = strchr(s, '-');
    size_t l = d ? (size_t)(d - s) : strlen(s);
    if (r53_gk_seq_parse(s, l, lo) == -1)
        return -1;
    if (!d) {
        *hi = *lo;
        return 0;
    }
    return r53_gk_seq_parse(d + 1, strlen(d + 1), hi) == -1 || r53_gk_seq_cmp(*lo, *hi) > 0 ? -1 : 0;
}

/* route53-known.json's members and ranges (a corrupt file: state safe mode). */
int r53_known_check(const cJSON *o, char *why, size_t len)
{
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(o, "regions"), *x, *v;
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(o, "guard");
    if (!cJSON_IsObject(o) || (rs && !cJSON_IsObject(rs))) {
        snprintf(why, len, "expected {\"record_name\", \"record_type\", \"regions\": {...}}");
        return -1;
    }
    if (g && (!cJSON_IsString(g) || strlen(g->valuestring) > R53_GK_VALUE_MAX)) {
        snprintf(why, len, "guard: expected a string of at most %d bytes", R53_GK_VALUE_MAX);
        return -1;
    }
    for (int m = 0; m < 2; m++) {
        const char *name = m ? "inflight_seq" : "guard_seq";
        const cJSON *q = cJSON_GetObjectItemCaseSensitive(o, name);
        r53_gk_seq_t v;
        if (q && (!cJSON_IsString(q) || ((q->valuestring[0] || m) &&
                                           r53_gk_seq_parse(q->valuestring, strlen(q->valuestring), &v) == -1))) {
            snprintf(why, len, "%s: expected \"EPOCH.N\" (whole numbers above 0)%s", name, m ? "" : " or \"\"");
            return -1;
        }
    }
    const cJSON *lq = cJSON_GetObjectItemCaseSensitive(o, "lost_seq");
    r53_gk_seq_t lo, hi;
    if (lq && (!cJSON_IsString(lq) || r53_lost_parse(lq->valuestring, &lo, &hi) == -1)) {
        snprintf(why, len, "lost_seq: expected \"EPOCH.N\" or \"EPOCH.N-EPOCH.N\" (whole numbers above 0)");
        return -1;
    }
    cJSON_ArrayForEach(x, rs) {
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(x, "weights");
        if (!cJSON_IsObject(x) || (w && !cJSON_IsArray(w))) {
            snprintf(why, len, "regions.%.60s: expected {\"weights\": [...], \"drift\"}", x->string);
            return -1;
        }
        cJSON_ArrayForEach(v, w)
            if (!state_int_in(v, -1, 255)) {
                snprintf(why, len, "regions.%.60s.weights: expected integers -1..255", x->string);
                return -1;
            }
    }
    return 0;
}

/* A region this instance held as drift (its alarm raised) that the read
 * just judged is not drift now (a takeover's state where an operator
 * released it on the last leader): its alarm is resolved. */
static void r53_drift_gone(const bool *was)
{
    for (size_t i = 0; i < r53s.n; i++)
        if (was[i] && !r53s.drift[i]) {
            alarm_key_t key = alarm_key_region(ALARM_ROUTE53_DRIFT, r53s.cfg->regions[i].name);
            alarm_resolve(key.s, r53s.rep ? "not drift: the last leader's state holds this weight (takeover)"
                                          : "not drift: the saved records hold this weight");
        }
}

/* route53-change.json's members and ranges. */
int r53_intent_check(const cJSON *o, char *why, size_t len)
{
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "weights");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "decision");
    if (cJSON_IsObject(o) && !w && !d)
        return 0;   /* "{}": nothing in flight */
    if (!state_int_in(d, 0, 4503599627370496.0) || !cJSON_IsArray(w) || cJSON_GetArraySize(w) > R53_MAXR) {
        snprintf(why, len, "expected {\"decision\": 0..2^52, \"weights\": [at most %d of -1..255]}", R53_MAXR);
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

/* The saved weights (exp[i][s], -1 absent) and drift flags; false when
 * nothing usable is saved for this record. */
static bool r53_known_load(long exp[][R53_SLOTS], bool *drift, r53_saved_guard_t *sg)
{
    const cfg_route53_t *rc = &r53s.cfg->route53;
    cJSON *o = NULL;
    if (r53s.rep)   /* a takeover: what the old leader knew (checked by route53_replica_check) */
        o = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(r53s.rep, "known"), 1);
    else
        state_load_json(R53_KNOWN_FILE, r53_known_check, &o);   /* corrupt: moved aside, alarm, safe mode */
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(o, "record_name");
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(o, "record_type");
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(o, "regions");
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(o, "guard");
    bool ok = cJSON_IsString(nm) && cJSON_IsString(ty) && cJSON_IsObject(rs) &&
              r53_name_equal(nm->valuestring, rc->record_name) && strcmp(ty->valuestring, rc->record_type) == 0;
    const cJSON *gq = cJSON_GetObjectItemCaseSensitive(o, "guard_seq");
    const cJSON *fq = cJSON_GetObjectItemCaseSensitive(o, "inflight_seq");
    snprintf(sg->rest, sizeof(sg->rest), "%s", ok && cJSON_IsString(g) ? g->valuestring : "");
    /* numbered: written by a regiond that numbers its batches (a document
     * without any guard is judged the same either way) */
    sg->numbered = cJSON_IsString(gq) || !cJSON_IsString(g);
    r53_gk_seq_parse(cJSON_IsString(gq) ? gq->valuestring : "", cJSON_IsString(gq) ? strlen(gq->valuestring) : 0,
                     &sg->seq);
    r53_gk_seq_parse(cJSON_IsString(fq) ? fq->valuestring : "", cJSON_IsString(fq) ? strlen(fq->valuestring) : 0,
                     &sg->inflight);
    const cJSON *lq = cJSON_GetObjectItemCaseSensitive(o, "lost_seq");
    if (!cJSON_IsString(lq) || r53_lost_parse(lq->valuestring, &sg->lost_lo, &sg->lost_hi) == -1)
        sg->lost_lo = sg->lost_hi = (r53_gk_seq_t){0, 0};
    for (size_t i = 0; ok && i < r53s.n; i++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(rs, rc->regions[i].set_identifier);
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(x, "weights");
        drift[i] = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(x, "drift"));
        for (int k = 0; k < R53_SLOTS; k++) {
            const cJSON *v = cJSON_GetArrayItem(w, k);
            /* a region added to the config since: as if nothing were saved for it */
            exp[i][k] = cJSON_IsNumber(v) ? (long)v->valuedouble : -2;
        }
    }
    cJSON_Delete(o);
    return ok;
}

/* The change in flight when we stopped: did it land?  Fills want (-1 for
 * regions it did not change) and returns true when it landed. */
static bool r53_check_intent(const r53_list_t *acc, int *want)
{
    cJSON *o = NULL;
    if (r53s.rep)   /* a takeover: the old leader's change in flight (our own file is older) */
        o = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(r53s.rep, "intent"), 1);
    else
        state_load_json(R53_INTENT_FILE, r53_intent_check, &o);
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "weights");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "decision");
    bool landed = false;
    if (cJSON_IsArray(w) && (size_t)cJSON_GetArraySize(w) == r53s.n && cJSON_IsNumber(d)) {
        static r53_rrset_t live[R53_MAXR][R53_SLOTS];
        bool have[R53_MAXR][R53_SLOTS];
        size_t i = 0;
        const cJSON *x;
        cJSON_ArrayForEach(x, w) want[i++] = cJSON_IsNumber(x) ? x->valueint : -1;
        r53_pick(acc, live, have);
        landed = true;
        for (i = 0; i < r53s.n; i++)
            for (int k = 0; k < R53_SLOTS; k++)
                if (want[i] >= 0 && have[i][k] && live[i][k].weight != want[i])
                    landed = false;
        r53_free_picked(live);
        memset(&r53s.change, 0, sizeof(r53s.change));
        r53s.have_change = true;
        r53s.change.decision = (uint64_t)d->valuedouble;
        snprintf(r53s.change.status, sizeof(r53s.change.status), "%s", landed ? "LANDED" : "LOST");
        for (size_t k = 0; k < r53s.n; k++)
            r53s.change.weights_from[k] = r53s.change.weights_to[k] = want[k];
        log_msg(LOG_NOTICE, "msg=\"change in flight %s %s\" decision=%" PRIu64,
                r53s.rep ? "of the last leader" : "at the last stop", landed ? "landed" : "did not land",
                r53s.change.decision);
        r53_change_event(landed ? EV_ROUTE53_CHANGE_LANDED : EV_ROUTE53_CHANGE_LOST);
        /* cleared, not pushed: r53_start_drift hands the judged view on once
         * it is whole (a push from here would pass on a half-judged one) */
        r53s.intent_live = false;
        state_write_async(R53_INTENT_FILE, "{}", 2);
    }
    cJSON_Delete(o);
    return landed;
}

/* Region i's live records (known) at a judged read against what is
 * expected: held drift; our own change that landed (mine >= 0), else the
 * reference's weights (exp, when saved), else the configured weight. */
static void r53_judge_region(size_t i, bool held, const long *exp, bool saved, long mine, const char *why)
{
    if (held) {   /* drift from before: still left alone, alarmed again */
        long w = r53s.have[i][0] ? r53s.known[i][0].weight : r53s.have[i][1] ? r53s.known[i][1].weight : -1;
        r53_report_drift(i, w, w, "changed outside regiond before the restart, not released");
        return;
    }
    long cfgw = (long)r53s.cfg->route53.regions[i].weight;
    for (int s = 0; s < R53_SLOTS; s++) {
        if (!r53s.have[i][s]) {
            /* regiond never deletes a record (each batch re-CREATEs what it
             * DELETEs): one known before the stop and gone now was removed
             * by someone else, as a deletion seen at runtime is */
            if (saved && exp[s] >= 0) {
                r53_report_drift(i, exp[s], -1, "record deleted while regiond was stopped");
                return;
            }
            continue;
        }
        long live = r53s.known[i][s].weight;
        long e = mine >= 0 ? mine : saved && exp[s] != -2 ? exp[s] : cfgw;
        if (live != e) {
            r53_report_drift(i, e, live, why);
            return;
        }
    }
}

void r53_start_drift(const r53_list_t *acc)
{
    bool was[R53_MAXR];   /* the flags before this read: their alarms are this instance's */
    memcpy(was, r53s.drift, sizeof(was));
    static long exp[R53_MAXR][R53_SLOTS];
    static r53_saved_guard_t sg;
    bool drift[R53_MAXR] = {false};
    int want[R53_MAXR];
    for (size_t i = 0; i < R53_MAXR; i++)
        want[i] = -1;
    r53s.known_hold = false;
    bool saved = r53_known_load(exp, drift, &sg);
    r53_gk_seq_t lo, hi;
    if (saved && sg.lost_hi.epoch && !r53_guard_lost(&lo, &hi)) {
        /* batches judged not landed before a restart (or by the last
         * leader) may still land: kept, so the next save records them
         * (known defect 33: the first save after a restart dropped them);
         * cleared as ours are once a guard at or beyond the low end is live */
        r53s.lost_lo = sg.lost_lo;
        r53s.lost_hi = sg.lost_hi;
    }
    bool landed = r53_check_intent(acc, want);
    /* A cluster: the guard's weights, written with every batch in the same
     * all-or-nothing change, are exact; they are the reference unless the
     * saved document was written after the guard's last batch (it then
     * holds that batch and what came after: a release, drift seen), told by
     * the batch numbers; when the guard is the batch the document had in
     * flight, its weights with the document's flags (a release made while
     * that batch was in flight: known defect 20 once) */
    bool guard = r53s.epoch && r53_guard_reference(exp, drift, saved ? &sg : NULL) != R53_REF_SAVED;
    /* Not landed yet is not "never": a batch a reload cancelled (or a kill
     * cut off) may still be applied by Route 53 after this read; if the group
     * later shows exactly its weights, that is our change, not drift.  Under
     * a lease term whose guard bump landed it is "never": every batch of an
     * earlier term DELETEs a guard that the bump replaced. */
    bool never = r53s.epoch && !r53s.bump_due;
    r53s.have_lost = false;
    for (size_t i = 0; i < r53s.n; i++) {
        r53s.lost[i] = landed || never ? -1 : want[i];
        r53s.have_lost |= r53s.lost[i] >= 0;
        r53s.drift[i] = (saved || guard) && drift[i];   /* kept in the file adopting saves */
    }
    if (guard) {
        saved = true;
        landed = false;   /* the guard shows whether it landed */
    }
    r53_adopt_listing(acc, false);   /* known = live */
    const char *why = guard ? "changed after the last leader's last batch (its guard's weights)"
                    : saved && r53s.rep ? "changed while no instance led (takeover)"
                    : saved ? "changed while regiond was stopped"
                    : "live weight differs from the configured one at first start";
    for (size_t i = 0; i < r53s.n; i++)
        r53_judge_region(i, saved && drift[i], exp[i], saved, landed ? want[i] : -1, why);
    r53_known_save();
    r53_drift_gone(was);
    cJSON_Delete(r53s.rep);   /* used once: later reads are this term's own */
    r53s.rep = NULL;
    r53_replica_changed();    /* the judged view replaces what was passed on meanwhile */
}
