/* lease_io — the lease's DynamoDB calls (GetItem, conditional PutItem), each
 * bounded by a deadline shorter than renew_ms (DynamoDB API reference,
 * PutItem "ConditionExpression": a failed condition answers 400
 * ConditionalCheckFailedException and writes nothing).  "name" and "owner"
 * are DynamoDB reserved words: every attribute goes through
 * ExpressionAttributeNames, and only names and values the expression uses are
 * sent (DynamoDB refuses unused ones). */
#include "cluster/lease_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/log.h"
#include "core/loop.h"

static void new_rvn(char out[LEASE_RVN_LEN])
{
    unsigned char b[16];
    if (getrandom(b, sizeof(b), GRND_NONBLOCK) != (ssize_t)sizeof(b))
        for (size_t i = 0; i < sizeof(b); i++)
            b[i] = (unsigned char)random();
    for (size_t i = 0; i < sizeof(b); i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static cJSON *attr(cJSON *obj, const char *key, const char *type, const char *val)
{
    cJSON *a = cJSON_AddObjectToObject(obj, key);
    return a && cJSON_AddStringToObject(a, type, val) ? a : NULL;
}

/* The item's key: the name, or the former name for a rename's second item. */
static const char *key_of(const lease_tab_t *t)
{
    return t->former ? lease_st.former : lease_st.name;
}

static cJSON *key_body(const lease_tab_t *t)
{
    const char *table = t->table;
    cJSON *b = cJSON_CreateObject();
    if (!b || !cJSON_AddStringToObject(b, "TableName", table))
        goto oom;
    cJSON *k = cJSON_AddObjectToObject(b, "Key");
    if (!k || !attr(k, "name", "S", key_of(t)))
        goto oom;
    return b;
oom:
    cJSON_Delete(b);
    return NULL;
}

/* The item we write: ours with rvn, epoch; released marks a release; won
 * whether it counts toward our set's own items (lease_set_write_won). */
static cJSON *put_item(const lease_tab_t *t, const char *rvn, uint64_t epoch, bool released, bool won)
{
    const char *table = t->table;
    char num[32];
    cJSON *b = cJSON_CreateObject();
    cJSON *it = b && cJSON_AddStringToObject(b, "TableName", table) ? cJSON_AddObjectToObject(b, "Item") : NULL;
    bool ok = it && attr(it, "name", "S", key_of(t)) && attr(it, "owner", "S", lease_st.id)
              && attr(it, "rvn", "S", rvn);
    snprintf(num, sizeof(num), "%" PRIu64, epoch);
    ok = ok && attr(it, "epoch", "N", num);
    snprintf(num, sizeof(num), "%u", lease_st.lease_ms);
    ok = ok && attr(it, "lease_ms", "N", num);
    if (ok && lease_st.advertise[0])
        ok = attr(it, "advertise", "S", lease_st.advertise) != NULL;
    ok = ok && lease_tset_put(it) == 0;   /* the set of tables we lead over (lease_tset.c) */
    if (ok && released) {
        cJSON *r = cJSON_AddObjectToObject(it, "released");
        ok = r && cJSON_AddBoolToObject(r, "BOOL", 1);
    }
    cJSON *w = ok ? cJSON_AddObjectToObject(it, "won") : NULL;
    ok = w && cJSON_AddBoolToObject(w, "BOOL", won);
    if (!ok) {
        cJSON_Delete(b);
        return NULL;
    }
    return b;
}

/* The condition: ours (renew, release), or the item as we saw it (take). */
static bool put_condition(cJSON *b, const lease_tab_t *t, lt_op_t op)
{
    cJSON *names = cJSON_AddObjectToObject(b, "ExpressionAttributeNames");
    cJSON *vals = NULL;
    const char *expr;
    bool ok = names != NULL;
    if (op == LT_TAKE && !t->seen.present) {
        expr = "attribute_not_exists(#n)";
        ok = ok && cJSON_AddStringToObject(names, "#n", "name");
    } else if (op == LT_TAKE) {
        expr = "attribute_not_exists(#n) OR #r = :seen";
        vals = cJSON_AddObjectToObject(b, "ExpressionAttributeValues");
        ok = ok && vals && cJSON_AddStringToObject(names, "#n", "name")
             && cJSON_AddStringToObject(names, "#r", "rvn") && attr(vals, ":seen", "S", t->seen.rvn);
    } else {
        expr = "#r = :mine AND #o = :me";
        vals = cJSON_AddObjectToObject(b, "ExpressionAttributeValues");
        ok = ok && vals && cJSON_AddStringToObject(names, "#r", "rvn")
             && cJSON_AddStringToObject(names, "#o", "owner") && attr(vals, ":mine", "S", t->mine)
             && attr(vals, ":me", "S", lease_st.id);
    }
    return ok && cJSON_AddStringToObject(b, "ConditionExpression", expr);
}

static const char *item_str(const cJSON *it, const char *key, const char *type)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(it, key), type);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A GetItem answer: the item (or none) into t. */
static void read_item(lease_tab_t *t, const cJSON *resp)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(resp, "Item");
    bool present = cJSON_IsObject(it);
    const char *rvn = present ? item_str(it, "rvn", "S") : NULL;
    const char *owner = present ? item_str(it, "owner", "S") : NULL;
    const char *adv = present ? item_str(it, "advertise", "S") : NULL;
    const char *ep = present ? item_str(it, "epoch", "N") : NULL;
    const char *lm = present ? item_str(it, "lease_ms", "N") : NULL;
    unsigned long long item_lease = lm ? strtoull(lm, NULL, 10) : 0;   /* capped by lease_observe */
    const cJSON *rel = present ? cJSON_GetObjectItemCaseSensitive(
                                     cJSON_GetObjectItemCaseSensitive(it, "released"), "BOOL") : NULL;
    /* An item without an rvn (an operator's) still counts as present: its
     * whole text stands for the version, so any change restarts the wait. */
    char *whole = present && !rvn ? cJSON_PrintUnformatted(it) : NULL;
    lease_observe(&t->seen, present, cJSON_IsTrue(rel), rvn ? rvn : whole ? whole : "?",
                  item_lease > LEASE_ITEM_MAX_MS ? LEASE_ITEM_MAX_MS : (uint32_t)item_lease, loop_now_ms());
    free(whole);
    snprintf(t->owner, sizeof(t->owner), "%s", owner ? owner : "");
    snprintf(t->advertise, sizeof(t->advertise), "%s", adv ? adv : "");
    t->epoch = ep ? strtoull(ep, NULL, 10) : 0;
    lease_tset_read(t, present ? it : NULL);
    t->won = present && lease_set_counts(it, lease_st.set_fp);
}

static void finish(lease_tab_t *t, int ok, int unknown, const cJSON *resp, const char *error)
{
    t->req = NULL;
    if (t->deadline)
        evtimer_del(t->deadline);
    bool conflict = !ok && error && strstr(error, "ConditionalCheckFailed");
    t->reachable = ok || conflict;   /* a missing table or a refused key is no use either */
    if (!ok && !conflict)
        snprintf(t->last_error, sizeof(t->last_error), "%s", error ? error : "failed");
    else
        t->last_error[0] = '\0';
    if (ok && t->op == LT_READ)
        read_item(t, resp);
    else if (ok) {
        t->set = LEASE_SET_OWN;   /* we wrote it: it names our set */
        t->won = t->wrote_won;
    }
    lease_io_done(t, ok, !ok && unknown && t->op != LT_READ, conflict);
}

static void on_read(void *arg, int ok, const cJSON *resp, const char *error, double elapsed_ms)
{
    (void)elapsed_ms;
    finish(arg, ok, !ok, resp, error);
}

static void on_write(void *arg, int ok, int unknown, const cJSON *resp, const char *error)
{
    finish(arg, ok, unknown, resp, error);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    lease_tab_t *t = arg;
    char msg[96];
    ddb_cancel(t->req);
    t->req = NULL;
    snprintf(msg, sizeof(msg), "no answer within %u ms", lease_st.renew_ms * 3 / 4);
    finish(t, 0, 1, NULL, msg);
}

static cJSON *build(lease_tab_t *t, lt_op_t op, uint64_t epoch)
{
    cJSON *b;
    if (op == LT_READ) {
        b = key_body(t);
        if (b && !cJSON_AddTrueToObject(b, "ConsistentRead")) {
            cJSON_Delete(b);
            return NULL;
        }
    } else {
        /* a renewal is a leader's; a take a leader's or a follower's; a
         * release replaces our own item and keeps what it counted */
        bool leader = op == LT_RENEW || (op == LT_TAKE && lease_st.leader);
        bool replaced = t->seen.present && t->won;
        t->wrote_won = lease_set_write_won(leader, replaced);
        new_rvn(t->wrote);
        b = put_item(t, t->wrote, epoch, op == LT_RELEASE, t->wrote_won);
        if (b && !put_condition(b, t, op)) {
            cJSON_Delete(b);
            return NULL;
        }
    }
    return b;
}

int lease_io_start(lease_tab_t *t, lt_op_t op, uint64_t epoch)
{
    const struct timeval tv = {(lease_st.renew_ms * 3 / 4) / 1000, ((lease_st.renew_ms * 3 / 4) % 1000) * 1000};
    t->calls++;
    if (!t->deadline)
        t->deadline = evtimer_new(loop_base(), on_deadline, t);
    cJSON *b = t->deadline ? build(t, op, epoch) : NULL;
    if (!b) {
        snprintf(t->last_error, sizeof(t->last_error), "out of memory");
        return -1;
    }
    t->op = op;
    t->wrote_epoch = epoch;
    t->wrote_lease_ms = lease_st.lease_ms;   /* what put_item wrote */
    t->wrote_margin_ms = lease_st.margin_ms;
    t->sent_ms = loop_now_ms();
    if (op == LT_READ)
        t->req = ddb_call_at(t->region, "GetItem", b, on_read, t);
    else
        t->req = ddb_call_once_at(t->region, "PutItem", b, on_write, t);
    if (!t->req) {
        snprintf(t->last_error, sizeof(t->last_error), "the call could not start (see the log)");
        t->op = LT_IDLE;
        return -1;
    }
    evtimer_add(t->deadline, &tv);
    return 0;
}

void lease_io_cancel(lease_tab_t *t)
{
    if (t->req)
        ddb_cancel(t->req);
    t->req = NULL;
    t->op = LT_IDLE;
    if (t->deadline)
        event_free(t->deadline);
    t->deadline = NULL;
}
