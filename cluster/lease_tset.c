/* lease_tset — the lease's guard against two sets of lease tables (a
 * rolling change of cluster.lease_tables or name; docs/ha.md, "Changing the
 * lease tables or name").
 *
 * Every item this instance writes names its set (lease_set.h).  After each
 * round's reads:
 *   - an item of another set (or one whose set cannot be read) that is live
 *     (not released, its rvn changed within lease_ms on our clock) and not
 *     ours: this instance takes nothing and renews nothing (a leader stops
 *     leading), and raises cluster-lease naming the instance, the table and
 *     how the sets differ;
 *   - else, when fewer than a majority of our tables answered with an item
 *     of our own set that counts (lease_set_counts: its "won", which a split
 *     vote's marks never add; an empty table, an item of another or no set
 *     do not count), a follower's take must win EVERY one of our tables:
 *     the tables our set shares with another's are then all won, so a taker
 *     of the other set, which needs a majority of them (or all), cannot win
 *     at the same time.
 * With cluster.former_name the former name's items are judged the same way
 * (a live one of another set: "waiting for the former name's leader"); the
 * count of our own set's items is the name's items alone. */
#include "cluster/lease_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/alarm.h"
#include "core/log.h"
#include "core/loop.h"

/* Our set, computed once per start (lease_init clears it). */
static bool ensure_own(void)
{
    if (lease_st.set_fp[0])
        return true;
    const char *regions[CFG_MAX_LEASE_TABLES], *tables[CFG_MAX_LEASE_TABLES];
    for (size_t i = 0; i < lease_st.n; i++) {
        regions[i] = lease_st.tabs[i].region;
        tables[i] = lease_st.tabs[i].table;
    }
    if (lease_set_canon(regions, tables, lease_st.n, lease_st.set_list, sizeof(lease_st.set_list)) != 0
        || lease_set_fingerprint(lease_st.name, lease_st.set_list, lease_st.set_fp) != 0) {
        lease_st.set_fp[0] = '\0';
        return false;
    }
    return true;
}

static cJSON *s_attr(cJSON *obj, const char *key, const char *val)
{
    cJSON *a = cJSON_AddObjectToObject(obj, key);
    return a && cJSON_AddStringToObject(a, "S", val) ? a : NULL;
}

int lease_tset_put(cJSON *item)
{
    if (!ensure_own())
        return -1;
    return s_attr(item, "cluster", lease_st.name) && s_attr(item, "tables", lease_st.set_list)
                   && s_attr(item, "tset", lease_st.set_fp)
               ? 0
               : -1;
}

void lease_tset_read(lease_tab_t *t, const cJSON *item)
{
    ensure_own();   /* when it fails, set_fp is "" and every set read is another's */
    t->set = lease_set_judge(item, lease_st.set_fp, t->set_why, sizeof(t->set_why), t->set_name, t->set_list);
    if (t->set != LEASE_SET_OTHER)
        t->set_name[0] = t->set_list[0] = '\0';
}

/* A printable copy of an instance id read from an item. */
static const char *who(const lease_tab_t *t, char *out, size_t len)
{
    snprintf(out, len, "%s", t->owner[0] ? t->owner : "(none)");
    for (char *c = out; *c; c++)
        if (*c < 0x20 || *c == '"' || *c == '\\' || *c == 0x7f)
            *c = '?';
    return out;
}

/* How table t's set differs from ours, for a person (bounded). */
static void differs(const lease_tab_t *t, char *out, size_t len)
{
    char more[400], less[400];
    if (t->set == LEASE_SET_BAD) {
        snprintf(out, len, "%s", t->set_why);
        return;
    }
    lease_set_missing(t->set_list, lease_st.set_list, more, sizeof(more));
    lease_set_missing(lease_st.set_list, t->set_list, less, sizeof(less));
    int w = snprintf(out, len, "its lease tables%s%s%s%s%s", more[0] ? " add " : "", more,
                     more[0] && less[0] ? " and" : "", less[0] ? " lack " : "", less);
    if (!more[0] && !less[0])
        w = snprintf(out, len, "the same lease tables");
    if (w >= 0 && (size_t)w < len && strcmp(t->set_name, lease_st.name) != 0) {
        char n[80];
        snprintf(n, sizeof(n), "%.79s", t->set_name);
        for (char *c = n; *c; c++)
            if (*c < 0x20 || *c == '"' || *c == '\\' || *c == 0x7f)
                *c = '?';
        snprintf(out + w, len - (size_t)w, ", under the cluster name \"%s\" (ours \"%s\")", n, lease_st.name);
    }
}

static bool foreign(const lease_tab_t *t)
{
    return t->seen.present && (t->set == LEASE_SET_OTHER || t->set == LEASE_SET_BAD);
}

static bool live(const lease_tab_t *t, uint64_t now)
{
    return t->seen.present && !t->seen.released && !lease_takeable(&t->seen, now, lease_st.lease_ms)
           && !(t->mine[0] && strcmp(t->owner, lease_st.id) == 0 && strcmp(t->seen.rvn, t->mine) == 0);
}

/* Log a refusal when its text changes (not once per round). */
static void say(const char *old)
{
    if (strcmp(old, lease_st.set_refusal) == 0)
        return;
    if (lease_st.set_refusal[0])
        log_msg(LOG_WARNING, "msg=\"lease: %s\" tset=%s tables=\"%s\"", lease_st.set_refusal, lease_st.set_fp,
                lease_st.set_list);
    else
        log_msg(LOG_NOTICE, "msg=\"lease: no item of another set of lease tables seen any more\" tset=%s",
                lease_st.set_fp);
}

/* A former_name with no item under it in a majority of the tables (known
 * defect 24's refusal): a misspelling, or a rollback of a rename before any
 * instance led under the name being left (the name itself has items: known
 * defect 33), which takes only once former_name is removed. */
static void say_unproven(size_t named, size_t maj)
{
    if (named >= maj)
        snprintf(lease_st.set_refusal, sizeof(lease_st.set_refusal),
                 "no lease item under the former name '%s' in a majority of the tables, while the name '%s' has "
                 "items in a majority: a rollback of a rename before any instance led under '%s'? remove "
                 "cluster.former_name, nothing under it to wait for; a misspelled cluster.former_name? correct "
                 "it. Not taking until then",
                 lease_st.former, lease_st.name, lease_st.former);
    else
        snprintf(lease_st.set_refusal, sizeof(lease_st.set_refusal),
                 "no lease item under the former name '%s' in a majority of the tables: a misspelled "
                 "cluster.former_name? not taking (a cluster that never ran under it: remove former_name)",
                 lease_st.former);
}

bool lease_tset_round(void)
{
    uint64_t now = loop_now_ms();
    size_t own = 0, answered = 0, named = 0;
    const lease_tab_t *lv = NULL, *dead = NULL;
    bool fp[CFG_MAX_LEASE_TABLES] = {false};
    char old[sizeof(lease_st.set_refusal)], how[600], id[sizeof(lease_st.tabs[0].owner)];
    snprintf(old, sizeof(old), "%s", lease_st.set_refusal);
    for (size_t i = 0; i < lease_items(); i++) {   /* the former name's items too (a rename) */
        const lease_tab_t *t = &lease_st.tabs[i];
        if (!t->read_ok)
            continue;
        answered += !t->former;
        named += !t->former && t->seen.present;
        if (t->former)
            fp[i - lease_st.n] = t->seen.present;
        own += !t->former && t->seen.present && t->won;   /* our set's, and won: a split vote's marks do not count */
        if (foreign(t) && live(t, now) && !lv)
            lv = t;
        else if (foreign(t) && !dead)
            dead = t;
    }
    size_t maj = lease_majority(lease_st.n);
    lease_st.set_live = lv != NULL;
    /* a misspelled former_name: no item under it was ever read in a majority */
    bool unproven = lease_st.nf > 0 && !lease_former_proven(&lease_st.former_seen, fp, lease_st.n);
    lease_st.take_need = lv || unproven ? lease_st.n + 1 : lease_set_need(lease_st.n, own);
    lease_st.set_refusal[0] = '\0';
    if (unproven && !lv) {
        say_unproven(named, maj);
    } else if (lv && lv->former) {
        differs(lv, how, sizeof(how));
        bool self = strcmp(lv->owner, lease_st.id) == 0;   /* our old-name items of before a reload */
        snprintf(lease_st.set_refusal, sizeof(lease_st.set_refusal),
                 "waiting for the former name's leader %s%s to stop: it holds the item \"%s\" in %s/%s (epoch %" PRIu64
                 ", %s); not taking or renewing until it stops or is renamed (cluster.former_name)%s",
                 who(lv, id, sizeof(id)), self ? " (this one, before its reload)" : "", lease_st.former, lv->region,
                 lv->table, lv->epoch, how, self ? " (its own old items expire after lease_ms)" : "");
    } else if (lv) {
        differs(lv, how, sizeof(how));
        bool self = strcmp(lv->owner, lease_st.id) == 0;   /* our items of before a reload */
        snprintf(lease_st.set_refusal, sizeof(lease_st.set_refusal),
                 "instance %s%s holds %s/%s (epoch %" PRIu64 ") for another set of lease tables: %s; not taking or "
                 "renewing until every instance has the same lease_tables and name%s",
                 who(lv, id, sizeof(id)), self ? " (this one, before its reload)" : "", lv->region, lv->table,
                 lv->epoch, how, self ? " (its own old items expire after lease_ms)" : "");
    } else if (dead && own < maj) {
        differs(dead, how, sizeof(how));
        snprintf(lease_st.set_refusal, sizeof(lease_st.set_refusal),
                 "%s/%s holds an item of another set of lease tables (written by %s: %s); a take needs every one "
                 "of this instance's %zu lease tables (%zu answer)",
                 dead->region, dead->table, who(dead, id, sizeof(id)), how, lease_st.n, answered);
    }
    say(old);
    return lv != NULL;
}

bool lease_tset_alarm(void)
{
    static char who_alarmed[80];   /* the alarm counts numbers as immaterial: ctl-1 and ctl-2 read the same */
    char sum[1000], who[80];
    if (!lease_st.set_refusal[0] || (!lease_st.set_live && lease_leading())) {
        who_alarmed[0] = '\0';
        return false;
    }
    snprintf(sum, sizeof(sum), "%.990s", lease_st.set_refusal);   /* within an alarm's summary */
    snprintf(who, sizeof(who), "%.*s", (int)strcspn(sum, "("), sum);
    alarm_key_t k = alarm_key(ALARM_CLUSTER_LEASE);
    if (who_alarmed[0] && strcmp(who, who_alarmed) != 0)
        alarm_resolve(k.s, "another item of another set of lease tables now");
    snprintf(who_alarmed, sizeof(who_alarmed), "%s", who);
    alarm_raise(k.s, "critical", sum, NULL);
    return true;
}

void lease_tset_status(cJSON *o)
{
    ensure_own();
    cJSON *s = cJSON_AddObjectToObject(o, "tables_set");
    if (s) {
        cJSON_AddStringToObject(s, "fingerprint", lease_st.set_fp);
        cJSON_AddStringToObject(s, "tables", lease_st.set_list);
    }
    if (lease_st.set_refusal[0])
        cJSON_AddStringToObject(o, "tables_mismatch", lease_st.set_refusal);
    else
        cJSON_AddNullToObject(o, "tables_mismatch");
}
