/* lease_view — who holds the lease as this instance sees it, its status
 * ("lease" in /v1/status) and its metrics (regiond_lease_*). */
#include "cluster/lease_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/loop.h"

/* An item that counts toward a holder: live (its rvn changed within lease_ms
 * on our clock, not released), and not one this process wrote itself: when
 * we do not lead, our own term is over, however fresh our last write looks
 * (a renewal answered after a SIGSTOP, or in the round that lost). */
static bool live_other(const lease_tab_t *t, uint64_t now)
{
    return t->seen.present && !t->seen.released && t->owner[0] && !lease_takeable(&t->seen, now, lease_st.lease_ms)
           && !(t->mine[0] && strcmp(t->owner, lease_st.id) == 0 && strcmp(t->seen.rvn, t->mine) == 0);
}

/* The holder: ourselves while leading; else the owner whose live item (see
 * live_other) is on a majority (none when the last calls reached fewer than
 * a majority: see lease_update_holder). */
static void find_holder(lease_holder_t *h)
{
    uint64_t now = loop_now_ms();
    memset(h, 0, sizeof(*h));
    if (lease_leading()) {
        h->known = true;
        snprintf(h->id, sizeof(h->id), "%s", lease_st.id);
        snprintf(h->advertise, sizeof(h->advertise), "%s", lease_st.advertise);
        h->epoch = lease_st.epoch;
        return;
    }
    for (size_t i = 0; i < lease_st.n; i++) {
        const lease_tab_t *a = &lease_st.tabs[i];
        size_t votes = 0;
        uint64_t top = 0;
        if (!live_other(a, now))
            continue;
        for (size_t j = 0; j < lease_st.n; j++) {
            const lease_tab_t *b = &lease_st.tabs[j];
            if (live_other(b, now) && strcmp(a->owner, b->owner) == 0) {
                votes++;
                top = b->epoch > top ? b->epoch : top;
            }
        }
        if (votes >= lease_majority(lease_st.n)) {
            h->known = true;
            snprintf(h->id, sizeof(h->id), "%s", a->owner);
            snprintf(h->advertise, sizeof(h->advertise), "%s", a->advertise);
            h->epoch = top;
            return;
        }
    }
}

/* The tables that answered their last call changed (or were never told). */
static bool reach_changed(void)
{
    uint32_t m = 0;
    for (size_t i = 0; i < lease_st.n; i++)
        if (lease_st.tabs[i].reachable)
            m |= 1u << i;
    if (lease_st.reach_known && m == lease_st.reach_mask)
        return false;
    lease_st.reach_known = true;
    lease_st.reach_mask = m;
    return true;
}

void lease_update_holder(void)
{
    lease_holder_t h;
    find_holder(&h);
    if (!lease_leading() && !lease_sees_majority())
        memset(&h, 0, sizeof(h));   /* what it saw of a majority is old news: it cannot tell */
    lease_holder_t *o = &lease_st.holder;
    if (h.known) {   /* seen now: a partitioned follower's best knowledge later */
        lease_st.last_holder = h;
        lease_st.last_holder.since_wall_ms = loop_wall_ms();
    }
    bool tables = reach_changed();
    if (!(h.known == o->known && strcmp(h.id, o->id) == 0 && h.epoch == o->epoch
          && strcmp(h.advertise, o->advertise) == 0)) {
        h.since_wall_ms = loop_wall_ms();
        *o = h;
        if (lease_st.notify)
            lease_st.notify(LEASE_NOTE_VIEW);
    }
    if (tables && lease_st.notify)
        lease_st.notify(LEASE_NOTE_TABLES);
}

const char *lease_last_loss(uint64_t *epoch)
{
    if (epoch)
        *epoch = lease_st.lost_epoch;
    return lease_st.lost_why;
}

void lease_holder(lease_holder_t *h)
{
    lease_check_expiry();
    *h = lease_st.holder;
}

void lease_last_holder(lease_holder_t *h)
{
    *h = lease_st.last_holder;
}

bool lease_sees_majority(void)
{
    return lease_st.on && lease_reachable() >= lease_majority(lease_st.n);
}

size_t lease_reachable(void)
{
    size_t up = 0;
    for (size_t i = 0; i < lease_st.n; i++)
        up += lease_st.tabs[i].reachable;
    return up;
}

void lease_sight(char *buf, size_t len)
{
    const lease_holder_t *h = &lease_st.holder, *l = &lease_st.last_holder;
    size_t up = lease_reachable();
    char when[40];
    lease_check_expiry();
    if (!lease_st.on)
        snprintf(buf, len, "%s", "");
    else if (lease_leading())
        snprintf(buf, len, "leading (epoch %" PRIu64 ")", lease_st.epoch);
    else if (up < lease_majority(lease_st.n) && l->known)
        snprintf(buf, len, "reaches %zu of %zu lease tables; last leader seen: %s epoch %" PRIu64 " at %s", up,
                 lease_st.n, l->id, l->epoch, loop_fmt_wall(l->since_wall_ms, when, sizeof(when)));
    else if (up < lease_majority(lease_st.n))
        snprintf(buf, len, "reaches %zu of %zu lease tables; no leader seen yet", up, lease_st.n);
    else if (h->known)
        snprintf(buf, len, "instance %s leads (epoch %" PRIu64 ")%s%s", h->id, h->epoch, h->advertise[0] ? " at " : "",
                 h->advertise);
    else
        snprintf(buf, len, "no instance leads now");
}

/* The last holder seen, and when: a partitioned follower's best knowledge. */
static cJSON *last_leader_json(void)
{
    const lease_holder_t *l = &lease_st.last_holder;
    char when[40];
    if (!l->known)
        return cJSON_CreateNull();
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "id", l->id);
    if (l->advertise[0])
        cJSON_AddStringToObject(o, "advertise", l->advertise);
    else
        cJSON_AddNullToObject(o, "advertise");
    cJSON_AddNumberToObject(o, "epoch", (double)l->epoch);
    cJSON_AddStringToObject(o, "seen", loop_fmt_wall(l->since_wall_ms, when, sizeof(when)));
    return o;
}

static cJSON *holder_json(void)
{
    const lease_holder_t *h = &lease_st.holder;
    char since[40];
    if (!h->known)
        return cJSON_CreateNull();
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "id", h->id);
    if (h->advertise[0])
        cJSON_AddStringToObject(o, "advertise", h->advertise);
    else
        cJSON_AddNullToObject(o, "advertise");
    cJSON_AddNumberToObject(o, "epoch", (double)h->epoch);
    cJSON_AddStringToObject(o, "since", loop_fmt_wall(h->since_wall_ms, since, sizeof(since)));
    return o;
}

static cJSON *table_json(const lease_tab_t *t)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "region", t->region);
    cJSON_AddStringToObject(o, "table", t->table);
    cJSON_AddBoolToObject(o, "reachable", t->reachable);
    cJSON_AddBoolToObject(o, "held", t->held);
    if (t->seen.present && t->owner[0])
        cJSON_AddStringToObject(o, "owner", t->owner);
    else
        cJSON_AddNullToObject(o, "owner");
    cJSON_AddBoolToObject(o, "released", t->seen.present && t->seen.released);
    cJSON_AddNumberToObject(o, "epoch", (double)t->epoch);
    static const char *const kinds[] = {"none", "own", "other", "unreadable"};
    cJSON_AddStringToObject(o, "set", t->seen.present ? kinds[t->set] : "none");
    if (t->last_error[0])
        cJSON_AddStringToObject(o, "last_error", t->last_error);
    else
        cJSON_AddNullToObject(o, "last_error");
    return o;
}

cJSON *lease_status_json(void)
{
    if (!lease_st.on)
        return NULL;
    lease_check_expiry();   /* before anything names us */
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    uint64_t now = loop_now_ms();
    size_t up = 0;
    bool leading = lease_leading();
    char sight[700];
    lease_sight(sight, sizeof(sight));
    cJSON_AddBoolToObject(o, "enabled", true);
    cJSON_AddStringToObject(o, "instance_id", lease_st.id);
    cJSON_AddNumberToObject(o, "monotonic_ms", (double)now);   /* to compare clock rates between hosts */
    cJSON_AddBoolToObject(o, "leading", leading);
    cJSON_AddNumberToObject(o, "epoch", (double)lease_epoch());
    cJSON_AddNumberToObject(o, "send_until_in_ms", leading ? (double)(lease_st.send_until - now) : 0);
    cJSON_AddItemToObject(o, "holder", holder_json());
    cJSON_AddItemToObject(o, "last_leader", last_leader_json());
    cJSON_AddStringToObject(o, "sight", sight);
    cJSON_AddNumberToObject(o, "majority", (double)lease_majority(lease_st.n));
    cJSON *ts = cJSON_AddArrayToObject(o, "tables");
    for (size_t i = 0; i < lease_st.n; i++) {
        up += lease_st.tabs[i].reachable;
        if (ts)
            cJSON_AddItemToArray(ts, table_json(&lease_st.tabs[i]));
    }
    if (lease_st.nf > 0) {   /* a rename under way: the former name's items, table by table */
        cJSON_AddStringToObject(o, "former_name", lease_st.former);
        cJSON *fs = cJSON_AddArrayToObject(o, "former_tables");
        for (size_t i = lease_st.n; fs && i < lease_items(); i++)
            cJSON_AddItemToArray(fs, table_json(&lease_st.tabs[i]));
    } else {
        cJSON_AddNullToObject(o, "former_name");
    }
    cJSON_AddNumberToObject(o, "reachable", (double)up);
    cJSON_AddNumberToObject(o, "takeovers", (double)lease_st.takeovers);
    cJSON_AddNumberToObject(o, "lost", (double)lease_st.losses);
    cJSON_AddNumberToObject(o, "split_votes", (double)lease_st.splits);
    lease_tset_status(o);
    return o;
}

void lease_metrics(struct evbuffer *b)
{
    if (!lease_st.on)
        return;
    evbuffer_add_printf(b, "# HELP regiond_lease_leading 1 while this instance holds the majority lease.\n"
                        "# TYPE regiond_lease_leading gauge\nregiond_lease_leading %d\n", lease_leading());
    evbuffer_add_printf(b, "# HELP regiond_lease_epoch This instance's term epoch while leading, else 0.\n"
                        "# TYPE regiond_lease_epoch gauge\nregiond_lease_epoch %" PRIu64 "\n", lease_epoch());
    evbuffer_add_printf(b, "# HELP regiond_lease_holder_known 1 when a holder is seen on a majority.\n"
                        "# TYPE regiond_lease_holder_known gauge\nregiond_lease_holder_known %d\n",
                        lease_st.holder.known);
    evbuffer_add_printf(b, "# HELP regiond_lease_table_reachable 1 when the lease table answered the last call.\n"
                        "# TYPE regiond_lease_table_reachable gauge\n");
    for (size_t i = 0; i < lease_st.n; i++)
        evbuffer_add_printf(b, "regiond_lease_table_reachable{region=\"%s\",table=\"%s\"} %d\n",
                            lease_st.tabs[i].region, lease_st.tabs[i].table, lease_st.tabs[i].reachable);
    evbuffer_add_printf(b, "# HELP regiond_lease_calls_total Lease calls to a table, by result.\n"
                        "# TYPE regiond_lease_calls_total counter\n");
    for (size_t i = 0; i < lease_st.n; i++) {
        const lease_tab_t *t = &lease_st.tabs[i];
        evbuffer_add_printf(b, "regiond_lease_calls_total{region=\"%s\",result=\"ok\"} %" PRIu64 "\n"
                            "regiond_lease_calls_total{region=\"%s\",result=\"conflict\"} %" PRIu64 "\n"
                            "regiond_lease_calls_total{region=\"%s\",result=\"error\"} %" PRIu64 "\n",
                            t->region, t->calls - t->failures, t->region, t->conflicts, t->region,
                            t->failures - t->conflicts);
    }
    evbuffer_add_printf(b, "# HELP regiond_lease_transitions_total Leadership won and lost, split votes.\n"
                        "# TYPE regiond_lease_transitions_total counter\n"
                        "regiond_lease_transitions_total{kind=\"won\"} %" PRIu64 "\n"
                        "regiond_lease_transitions_total{kind=\"lost\"} %" PRIu64 "\n"
                        "regiond_lease_transitions_total{kind=\"split_vote\"} %" PRIu64 "\n",
                        lease_st.takeovers, lease_st.losses, lease_st.splits);
}
