/* route53_batch — the group-guarded batch and the safety rules it must
 * pass on the live weights before it is sent.
 *
 * What Route 53 promises and this file relies on (API reference,
 * ChangeResourceRecordSets):
 *  - "Change batches are considered transactional changes. Route 53
 *    validates the changes in the request and then either makes all or
 *    none of the changes in the change batch request";
 *  - "To delete a resource record set, you must specify all the same values
 *    that you specified when you created it": a DELETE that does not match
 *    the live record exactly fails;
 *  - a failed validation is answered with the InvalidChangeBatch error
 *    (HTTP 400, one message per problem) and nothing is changed.
 * So a batch that DELETEs every record of the group exactly as we read it
 * and CREATEs each again (re-weighted, or identical) lands only if nobody
 * changed any of them since our read: a second regiond, an operator with
 * the aws CLI, anyone.  DELETE and CREATE of one record in one batch is
 * the documented way to change it within a batch.
 * Fencing (epoch > 0, route53_guard.c): the same two promises make the
 * guard record part of that guard: every batch DELETEs the live guard
 * exactly as read (when there is one) and CREATEs it with our epoch, so a
 * batch built on a guard that a newer term has since bumped fails whole.
 * And the reason regiond never writes every weight 0 (API reference,
 * ResourceRecordSet, Weight): "If you set Weight to 0 for all of the
 * records in the group, traffic is routed to all resources with equal
 * probability" — a drained region would get its share back. */
#include "failover/route53_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define R53_MAX_CHANGES 100   /* "A request cannot contain more than 100 Change elements" */

/* The guard's items (epoch > 0): the exact DELETE of the live guard, when
 * there is one, and the CREATE of ours.  How many were added, or -1 (OOM). */
static int r53_guard_items(r53_change_item_t *items)
{
    int k = 0;
    if (!r53s.epoch)
        return 0;
    if (r53_guard_make(r53s.epoch, &r53s.guard_new) == -1)
        return -1;
    r53s.guard_sent = r53s.have_guard;
    if (r53s.have_guard)
        items[k++] = (r53_change_item_t){.action = "DELETE", .rrset = &r53s.guard_live};
    items[k++] = (r53_change_item_t){.action = "CREATE", .rrset = &r53s.guard_new};
    return k;
}

/* The TTL for a plain record of slot s built from the config: Route 53
 * keeps one TTL per weighted group (Developer Guide, "Values specific for
 * weighted records": the same TTL for every record of the group; given
 * different ones it changes them all to the last one specified, which the
 * next read would take for drift; the test peer refuses the batch), so the
 * TTL of a record of the group that this batch keeps as it is; the
 * configured ttl only when every record of the type is (re)written from
 * the config. */
static long r53_group_ttl(int s)
{
    for (size_t j = 0; j < r53s.n; j++)
        if (r53s.have[j][s] && !r53s.known[j][s].alias && !(r53s.cfg->route53.correct_drift && r53s.drift[j]))
            return r53s.known[j][s].ttl;
    return (long)r53s.cfg->route53.ttl;
}

/* Slot s of region i built from the config with weight w (a region that
 * has no record yet, or a drifted one corrected).  -1 when out of memory or
 * when the config cannot describe that type (values of the other family). */
static int r53_from_config(size_t i, int s, int w, r53_rrset_t *out)
{
    const cfg_route53_t *rc = &r53s.cfg->route53;
    const cfg_r53_region_t *rr = &rc->regions[i];
    r53_rrset_init(out);
    snprintf(out->name, sizeof(out->name), "%s", rc->record_name);
    snprintf(out->type, sizeof(out->type), "%s", r53_slot_type(s));
    snprintf(out->set_identifier, sizeof(out->set_identifier), "%s", rr->set_identifier);
    out->weight = w;
    if (rr->alias_dns) {
        out->alias = true;
        snprintf(out->alias_zone, sizeof(out->alias_zone), "%s", rr->alias_zone);
        snprintf(out->alias_dns, sizeof(out->alias_dns), "%s", rr->alias_dns);
        out->alias_evaluate = rr->alias_evaluate;
        return 0;
    }
    if (s != 0)
        return -1;
    out->ttl = r53_group_ttl(s);
    for (size_t k = 0; k < rr->n_values && k < R53_MAX_VALUES; k++) {
        if (!(out->values[k] = strdup(rr->values[k]))) {
            r53_rrset_clear(out);
            return -1;
        }
        out->n_values = k + 1;
    }
    return 0;
}

/* The CREATE for known[i][s] with weight w: the known record re-weighted,
 * or, for a drifted record under correct_drift, the configured one. */
static int r53_desired(size_t i, int s, int w, r53_rrset_t *out)
{
    if (!r53s.bumping && r53s.cfg->route53.correct_drift && r53s.drift[i] && r53_from_config(i, s, w, out) == 0)
        return 0;
    if (r53_rrset_copy(out, &r53s.known[i][s]) == -1)
        return -1;
    out->weight = w;
    return 0;
}

/* The weight region i should get: the decision's, or its live one when it
 * is drift left alone (correct_drift false). */
static int r53_target(size_t i, int live)
{
    bool held = r53s.drift[i] && !r53s.cfg->route53.correct_drift;
    r53s.change.held[i] = held;
    if (held || r53s.ask[i] < 0)
        return live;
    return r53s.ask[i];
}

/* Fill r53s.created for every record of the group; how many records change. */
static int r53_fill(size_t *changed)
{
    *changed = 0;
    for (size_t i = 0; i < r53s.n; i++) {
        int live = route53_live_weight(i), w = r53_target(i, live);
        r53s.want[i] = -1;
        r53s.change.weights_from[i] = live;
        r53s.change.weights_to[i] = w;
        bool any = r53s.have[i][0] || r53s.have[i][1];
        for (int s = 0; s < R53_SLOTS; s++) {
            r53s.sent[i][s] = r53s.have[i][s];
            if (r53s.have[i][s]) {
                /* a held region keeps each record's own weight: its A and
                 * AAAA may differ (an operator drained one family) */
                int ws = r53s.change.held[i] ? (int)r53s.known[i][s].weight : w;
                if (r53_desired(i, s, ws, &r53s.created[i][s]) == -1)
                    return -1;
            } else if (!any && s == 0 && w >= 0 && !r53s.change.held[i]) {
                if (r53_from_config(i, 0, w, &r53s.created[i][0]) == -1)
                    return -1;
            } else {
                continue;
            }
            if (!r53s.have[i][s] || !r53_rrset_equal(&r53s.created[i][s], &r53s.known[i][s])) {
                (*changed)++;
                r53s.want[i] = w;
            }
        }
    }
    return 0;
}

/* The safety rules on the group this batch leaves, per managed type: never
 * every record at 0; a batch that drains a record leaves at least
 * min_healthy_regions serving.  0, or -1 with why. */
static int r53_gate(char *why, size_t whylen)
{
    uint32_t min = r53s.cfg->decision.min_healthy_regions;
    for (int s = 0; s < R53_SLOTS; s++) {
        size_t n = 0, serving = 0, drained = 0;
        for (size_t i = 0; i < r53s.n; i++) {
            const r53_rrset_t *c = &r53s.created[i][s];
            if (!c->name[0])
                continue;
            n++;
            serving += c->weight > 0;
            drained += r53s.have[i][s] && r53s.known[i][s].weight > 0 && c->weight == 0;
        }
        if (n && serving == 0) {
            snprintf(why, whylen, "it would leave every %s record of %s at weight 0", r53_slot_type(s),
                     r53s.cfg->route53.record_name);
            return -1;
        }
        if (drained && serving < min) {
            snprintf(why, whylen, "it drains a %s record and leaves %zu serving; min_healthy_regions is %u",
                     r53_slot_type(s), serving, (unsigned)min);
            return -1;
        }
    }
    return 0;
}

int r53_build_batch(uint64_t seq, char **body, bool *refused, char *why, size_t whylen)
{
    static r53_change_item_t items[2 * R53_MAXR * R53_SLOTS + 2];
    size_t k = 0, changed = 0;
    *body = NULL;
    *refused = false;
    r53_free_created();
    r53s.created = calloc(R53_MAXR, sizeof(*r53s.created));
    if (!r53s.created || r53_fill(&changed) == -1) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    if (changed == 0 && !r53s.bumping)
        return 0;
    if (changed && r53_gate(why, whylen) == -1) {
        *refused = true;
        return -1;
    }
    for (size_t i = 0; i < r53s.n; i++)
        for (int s = 0; s < R53_SLOTS; s++) {
            if (r53s.sent[i][s])
                items[k++] = (r53_change_item_t){.action = "DELETE", .rrset = &r53s.known[i][s]};
            if (r53s.created[i][s].name[0])
                items[k++] = (r53_change_item_t){.action = "CREATE", .rrset = &r53s.created[i][s]};
        }
    int g = r53_guard_items(items + k);
    if (g == -1) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    k += (size_t)g;
    if (k > R53_MAX_CHANGES) {
        snprintf(why, whylen, "the group needs %zu changes in one batch; Route 53 takes at most %d", k,
                 R53_MAX_CHANGES);
        *refused = true;
        return -1;
    }
    char comment[200];
    if (r53s.bumping)
        snprintf(comment, sizeof(comment), "regiond %s epoch %" PRIu64 " guard bump", r53s.cfg->controller.id,
                 r53s.epoch);
    else if (r53s.epoch)
        snprintf(comment, sizeof(comment), "regiond %s epoch %" PRIu64 " decision %" PRIu64,
                 r53s.cfg->controller.id, r53s.epoch, seq);
    else
        snprintf(comment, sizeof(comment), "regiond %s decision %" PRIu64, r53s.cfg->controller.id, seq);
    if (!(*body = r53_build_change_batch(comment, items, k))) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    return 0;
}

/* After a failed or lost batch: does the group hold exactly what we sent
 * (sent true), or exactly what we knew before it (sent false)? */
static bool r53_live_matches(const r53_list_t *acc, bool sent)
{
    static r53_rrset_t live[R53_MAXR][R53_SLOTS];
    bool have[R53_MAXR][R53_SLOTS], ok = !sent || r53s.created != NULL;
    r53_pick(acc, live, have);
    for (size_t i = 0; ok && i < r53s.n; i++)
        for (int s = 0; s < R53_SLOTS; s++) {
            const r53_rrset_t *c = &r53s.created[i][s];
            if (!sent)
                ok &= have[i][s] == r53s.have[i][s] && (!have[i][s] || r53_rrset_equal(&r53s.known[i][s], &live[i][s]));
            else if (c->name[0] ? !have[i][s] || !r53_rrset_equal(c, &live[i][s]) : have[i][s] != r53s.have[i][s])
                ok = false;
        }
    r53_free_picked(live);
    /* and the guard as we wrote it (the read before this check read it) */
    if (ok && r53s.guard_new.name[0])
        ok = r53s.have_guard && r53_rrset_equal(&r53s.guard_new, &r53s.guard_live);
    return ok;
}

bool r53_live_matches_sent(const r53_list_t *acc)
{
    return r53_live_matches(acc, true);
}

bool r53_live_matches_known(const r53_list_t *acc)
{
    return r53_live_matches(acc, false);
}

void r53_take_created(void)
{
    for (size_t i = 0; r53s.created && i < r53s.n; i++)
        for (int s = 0; s < R53_SLOTS; s++)
            if (r53s.created[i][s].name[0]) {
                r53_rrset_clear(&r53s.known[i][s]);
                r53s.known[i][s] = r53s.created[i][s];   /* moved: now what we know */
                r53s.have[i][s] = true;
                r53_rrset_init(&r53s.created[i][s]);
            }
}
