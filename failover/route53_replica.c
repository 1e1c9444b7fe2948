/* route53_replica — what the actuator passes to the next leader (the
 * "route53" member of the replicated controller state, docs/ha.md) and how
 * a new term starts from it (route53.h: route53_replica_doc,
 * route53_replica_check, route53_takeover):
 *  - what it knows of the group (route53-known.json's document, from
 *    memory) and the change in flight (route53-change.json's: the decision
 *    and weights of a batch whose intent is written and not yet accepted
 *    or found failed), plus the last change's id and status for people;
 *  - a new term (epoch > 1, with route53_set_takeover_wait on) reads the
 *    live records only once route53_takeover() came, and judges them as a
 *    restart judges them against its saved files: with the old leader's
 *    documents when given, else with this instance's own files. */
#include "failover/route53_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"

static bool wait_takeover;   /* outlives r53s (route53_init zeroes it) */

static void (*changed)(void);   /* outlives r53s too */

void route53_set_changed(void (*fn)(void))
{
    changed = fn;
}

void r53_replica_changed(void)
{
    if (changed)
        changed();
}

bool r53_takeover_waits(void)
{
    return wait_takeover;
}

void route53_set_takeover_wait(bool on)
{
    wait_takeover = on;
}

bool route53_awaits_takeover(void)
{
    return r53s.await_state;
}

cJSON *route53_replica_doc(void)
{
    /* A term whose judged read has not run yet knows only what its bump
     * read, taken unjudged: it passes on what it took over (or nothing), so
     * a leader killed before judging cannot hand its unjudged view on as
     * regiond's own (the three-instance soak, seed 11: an operator's weight
     * overwritten two terms later) */
    if (r53s.await_state || r53s.judge_due || r53s.known_hold)
        return r53s.rep ? cJSON_Duplicate(r53s.rep, 1) : NULL;
    if (!r53s.cfg || !r53s.cfg->route53.enabled || !r53s.read_ok)
        return NULL;   /* nothing known to pass on: the next leader judges by its own files */
    cJSON *o = cJSON_CreateObject(), *in = o ? cJSON_AddObjectToObject(o, "intent") : NULL;
    cJSON *known = r53_known_doc();
    if (!in || !known) {
        cJSON_Delete(o);
        cJSON_Delete(known);
        return NULL;
    }
    cJSON_AddItemToObject(o, "known", known);
    if (r53s.intent_live) {
        cJSON *w = cJSON_AddArrayToObject(in, "weights");
        cJSON_AddNumberToObject(in, "decision", (double)r53s.change.decision);
        for (size_t i = 0; w && i < r53s.n; i++)
            cJSON_AddItemToArray(w, cJSON_CreateNumber(r53s.want[i]));
    }
    if (r53s.have_change && r53s.change.change_id[0]) {
        cJSON *c = cJSON_AddObjectToObject(o, "change");
        cJSON_AddStringToObject(c, "id", r53s.change.change_id);
        cJSON_AddStringToObject(c, "status", r53s.change.status);
        cJSON_AddNumberToObject(c, "decision", (double)r53s.change.decision);
    }
    return o;
}

static bool r53_short_str(const cJSON *o, const char *k, size_t max)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(x) && strlen(x->valuestring) < max;
}

int route53_replica_check(const cJSON *o, char *why, size_t len)
{
    const cJSON *known = cJSON_GetObjectItemCaseSensitive(o, "known");
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(o, "intent");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "change");
    char sub[300] = "";
    const char *bad = !cJSON_IsObject(o) ? "expected an object"
        : !cJSON_IsObject(known) || !r53_short_str(known, "record_name", 256) ||
          !r53_short_str(known, "record_type", 16) ? "known: expected {record_name, record_type, regions}"
        : r53_known_check(known, sub, sizeof(sub)) == -1 ? "known"
        : !cJSON_IsObject(in) ? "intent: expected an object"
        : r53_intent_check(in, sub, sizeof(sub)) == -1 ? "intent"
        : c && (!cJSON_IsObject(c) || !r53_short_str(c, "id", 128) || !r53_short_str(c, "status", 16) ||
                !state_int_in(cJSON_GetObjectItemCaseSensitive(c, "decision"), 0, 4503599627370496.0))
          ? "change: expected {id, status, decision}" : NULL;
    if (bad)
        snprintf(why, len, "route53.%s%s%s", bad, sub[0] ? ": " : "", sub);
    return bad ? -1 : 0;
}

void route53_takeover(const cJSON *o)
{
    if (!r53s.await_state)
        return;   /* no term waits (or it was taken already) */
    r53s.await_state = false;
    if (o) {
        cJSON_Delete(r53s.rep);
        r53s.rep = cJSON_Duplicate(o, 1);
    }
    /* else a state taken over in an earlier term of this instance and not
     * yet used by a judged read is kept: the newest state is then this
     * instance's own, which passed it on unjudged (known defect 15 once) */
    /* read the group again and judge it as a restart would: against the
     * last leader's state when given, else against this instance's own
     * files (or, with none, the configured weights: a cluster's first term
     * holds an operator's change made before it as drift, as a single
     * instance's first start does; the soak's seed 11 saw the bump's view
     * taken as regiond's own and the operator's weights overwritten) */
    r53s.judge_due = true;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "change");
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "intent"), "weights");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "id"), *st = cJSON_GetObjectItemCaseSensitive(c, "status");
    log_msg(LOG_NOTICE, "msg=\"route53: takeover, judging the live records\" epoch=%" PRIu64
            " by=\"%s\" in_flight=%s last_change=\"%s\" last_status=%s", r53s.epoch,
            r53s.rep ? "the last leader's state" : "this instance's own view", w ? "yes" : "no",
            cJSON_IsString(id) ? id->valuestring : "", cJSON_IsString(st) ? st->valuestring : "none");
    r53_kick();
}
