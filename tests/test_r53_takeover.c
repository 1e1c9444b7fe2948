/* test_r53_takeover — what the Route 53 actuator hands to the next leader
 * and what a term's judged read does with this instance's own flags
 * (failover/route53.c, route53_known.c; docs/ha.md "Route 53: a takeover
 * is a restart"):
 *  - a failed or refused batch's intent, once cleared, is pushed to the
 *    replicated state at once, as its record was (known defect 17), but not
 *    while a term's judged read is pending (the state then passes on what
 *    the term took over) nor from inside the judged read itself;
 *  - a drift alarm this instance raised before a judged read that clears the
 *    flag is resolved, and a release resolves one whose flag is already
 *    down (known defect 18);
 *  - route53_ready() is false while the judged read is pending (defect 16's
 *    gate; the black-box side: tests/bb/test_ha_release_judge.py);
 *  - the judged read orders the guard and the saved state by their batch
 *    numbers, not their text (known defect 21), honours a release made
 *    while the batch whose guard is live was in flight (defect 20; the
 *    black-box side: tests/bb/test_ha_release_inflight.py), and a bump
 *    that cannot pass the last leader's knowledge on says so (defect 22);
 *  - a range of batches judged not landed (lost_seq) saved before a restart
 *    is loaded back, so the next save keeps it (defect 33).
 * The actuator's state is set up by hand as a read would leave it; nothing
 * is sent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/r53_kit.h"
#include "core/alarm.h"

static int pushes;   /* calls of the replica-changed hook (control_replica.c's ctrl_replica_push) */

static void on_changed(void)
{
    pushes++;
}

static void on_note(route53_note_t what)
{
    (void)what;
}

static cfg_t *cfg;

/* A leader of epoch 7 whose last read showed a at 100 and b at 50. */
static void setup(void)
{
    r53_kit_fresh(cfg, on_note, 7);
    route53_set_changed(on_changed);
    pushes = 0;
}

static bool alarm_active(const char *key)
{
    cJSON *al = alarm_status_json(), *x;
    bool found = false;
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(al, "active")) {
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(x, "key");
        found |= cJSON_IsString(k) && strcmp(k->valuestring, key) == 0;
    }
    cJSON_Delete(al);
    return found;
}

/* Does the replicated document carry a change in flight? */
static bool doc_has_intent(void)
{
    cJSON *o = route53_replica_doc();
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(o, "intent");
    bool has = cJSON_GetObjectItemCaseSensitive(in, "weights") != NULL;
    CHECK(o != NULL);
    cJSON_Delete(o);
    return has;
}

static void test_ready(void)
{
    setup();
    CHECK(route53_ready());
    CHECK(route53_judged());
    r53s.judge_due = true;   /* the takeover's state taken, the judged read not started */
    CHECK(!route53_ready());
    CHECK(!route53_judged());
    r53s.judge_due = false;
    r53s.known_hold = true;   /* the bump's unjudged view held */
    CHECK(!route53_ready());
    r53s.known_hold = false;
    r53s.await_state = true;  /* a new term before the replicated state is read */
    CHECK(!route53_ready());
    r53s.await_state = false;
    r53s.read_ok = false;     /* the judged read itself under way */
    CHECK(!route53_ready());
    CHECK(!route53_judged());
}

/* Defect 17: a batch refused or failed after its intent was replicated. */
static void test_intent_clear_pushed(void)
{
    setup();
    r53s.change.decision = 12;
    r53s.want[0] = 0;
    r53s.want[1] = -1;
    r53_intent_write(NULL, NULL);
    CHECK_EQ_INT(pushes, 1);
    CHECK(doc_has_intent());
    r53_intent_clear();   /* what r53_batch_failed, r53_refuse's callers and a lost batch do */
    CHECK_EQ_INT(pushes, 2);
    CHECK(!doc_has_intent());

    /* a new term dropping a batch of the last term: not pushed before the
     * term has read the replicated state (it would write this instance's
     * old state at the new epoch over the last leader's) */
    setup();
    r53s.await_state = true;
    r53_intent_clear();
    CHECK_EQ_INT(pushes, 0);
    r53s.await_state = false;
    r53s.judge_due = true;
    r53_intent_clear();
    CHECK_EQ_INT(pushes, 0);
}

/* A judged read with the last leader's state (its intent and its known
 * records, a's drift released on the last leader) over this instance's
 * own flag and alarm for a from an earlier term of its own. */
static void test_judged_read(void)
{
    setup();
    r53_report_drift(0, 100, 30, "weight changed");   /* this instance, an earlier term */
    CHECK(r53s.drift[0]);
    CHECK(alarm_active("route53-drift-a"));
    const char *doc = "{\"known\":{\"record_name\":\"api.example.test.\",\"record_type\":\"CNAME\",\"regions\":{"
                      "\"a\":{\"weights\":[100,-1],\"drift\":false},\"b\":{\"weights\":[50,-1],\"drift\":false}}},"
                      "\"intent\":{\"decision\":9,\"weights\":[100,-1]}}";
    r53s.rep = cJSON_Parse(doc);
    CHECK(r53s.rep != NULL);
    r53s.known_hold = true;   /* as the bump's read left it */
    r53_list_t acc;
    r53_rrset_t live[2];
    r53_kit_live(&acc, live, 100, 50);
    pushes = 0;
    r53s.intent_live = true;
    r53_start_drift(&acc);
    CHECK(!r53s.drift[0] && !r53s.drift[1]);
    CHECK(!alarm_active("route53-drift-a"));   /* defect 18: resolved with the flag */
    CHECK_EQ_INT(pushes, 1);   /* once, with the judged view: not half-way (the intent's clear) */
    CHECK(!doc_has_intent());
    CHECK(r53s.rep == NULL);
    r53_kit_live_clear(live);

    /* a drift alarm whose flag is already down: a release resolves it */
    r53_report_drift(1, 50, 20, "weight changed");
    r53s.drift[1] = false;
    CHECK(alarm_active("route53-drift-b"));
    route53_clear_drift(1);
    CHECK(!alarm_active("route53-drift-b"));
}


/* The batch in flight (built, its guard made) lands: its guard is the live
 * one; what the batch set becomes what this instance knows. */
static void land(void)
{
    r53_take_created();
    r53_guard_landed();
    r53_free_created();
}

/* A batch of this term setting region i's record to w: built (its guard
 * made with the flags of now), not landed yet. */
static void build(size_t i, long w)
{
    r53_free_created();
    r53s.created = calloc(R53_MAXR, sizeof(*r53s.created));
    CHECK(r53s.created != NULL);
    CHECK_EQ_INT(r53_rrset_copy(&r53s.created[i][0], &r53s.known[i][0]), 0);
    r53s.created[i][0].weight = w;
    CHECK_EQ_INT(r53_guard_make(r53s.epoch, &r53s.guard_new), 0);
}

/* The next term (epoch 8) judges a live group of a at wa and b at wb, the
 * bump having passed the live guard on, against the saved document doc
 * (the last leader's replicated "known", taken over) with intent. */
static void judge(cJSON *doc, const char *intent, long wa, long wb)
{
    cJSON *rep = cJSON_CreateObject();
    CHECK(rep != NULL);
    cJSON_AddItemToObject(rep, "known", doc);
    cJSON_AddItemToObject(rep, "intent", cJSON_Parse(intent));
    char why[300] = "";
    CHECK_EQ_INT(route53_replica_check(rep, why, sizeof(why)), 0);
    if (why[0])
        fprintf(stderr, "  %s\n", why);
    r53s.epoch = 8;
    r53s.rep = rep;
    r53s.known_hold = true;
    r53_list_t acc;
    r53_rrset_t live[2];
    r53_kit_live(&acc, live, wa, wb);
    r53_start_drift(&acc);
    r53_kit_live_clear(live);
}

/* Set up anew with an operator's 30 on b held as drift; guarded: a batch
 * that changes nothing landed, so the live guard carries b's flag. */
static void b_held(bool guarded)
{
    setup();
    r53s.known[1][0].weight = 30;
    r53s.drift[1] = true;
    if (guarded) {
        build(0, 100);
        land();
    }
}

/* After the next term's judged read: b's release holds (no flag, no alarm)
 * and a's 0 is regiond's own (no flag).  what names the case on a failure. */
static void check_released(const char *what)
{
    int failed = check_fail_;
    CHECK(!r53s.drift[1]);
    CHECK(!alarm_active("route53-drift-b"));
    CHECK(!r53s.drift[0]);
    if (check_fail_ > failed)
        fprintf(stderr, "  (%s)\n", what);
}

/* Defect 21: a drain (guard G1); an operator's change of a back to 100 and
 * its release (the state written, recording G1); the same drain again: its
 * guard leaves the same weights and flags as G1.  Leader killed before its
 * next state write: the next leader must take the newer guard, not the
 * state recording the "same" one (a's 0 is regiond's own drain). */
static void test_same_text_later_batch(void)
{
    setup();
    build(0, 0);
    land();
    char g1[R53_GK_VALUE_MAX + 1];
    snprintf(g1, sizeof(g1), "%s", r53s.guard_live.values[0]);
    r53s.known[0][0].weight = 100;   /* the operator's change, seen as drift, released */
    cJSON *doc = r53_known_doc();
    CHECK(doc != NULL);
    build(0, 0);
    land();
    CHECK(strcmp(g1, r53s.guard_live.values[0]) != 0);   /* the same group, another batch number */
    CHECK_EQ_INT(r53_gk_seq_cmp(r53_guard_live_seq(), (r53_gk_seq_t){7, 0}) > 0, 1);
    judge(doc, "{}", 0, 50);
    CHECK(!r53s.drift[0]);
    CHECK(!alarm_active("route53-drift-a"));
    CHECK(!r53s.drift[1]);
}

/* Defect 20: b held as drift; a batch draining a is built (its guard says b
 * drift); b released while it is in flight (the state written then records
 * the batch in flight); the batch lands and the leader is killed before its
 * next state write: the next leader holds a's 0 as regiond's own and b not
 * as drift.  And a guard newer than the batch in flight still wins. */
static void test_release_in_flight(void)
{
    b_held(true);
    build(0, 0);            /* the drain of a: its guard says b drift */
    CHECK(strstr(r53s.guard_new.values[0], "b:30,-,1") != NULL);
    route53_clear_drift(1);   /* regionctl release b, while the batch is in flight */
    cJSON *doc = r53_known_doc();
    CHECK(doc != NULL && cJSON_GetObjectItemCaseSensitive(doc, "inflight_seq") != NULL);
    land();
    judge(doc, "{\"decision\":5,\"weights\":[0,-1]}", 0, 30);
    check_released("released while in flight");

    /* the same, but b held again after the landing and a later batch landed
     * (its guard says b drift): the later guard wins over the document */
    b_held(false);
    build(0, 0);
    route53_clear_drift(1);
    cJSON *doc2 = r53_known_doc();
    land();
    r53s.drift[1] = true;   /* the operator again, seen by a re-read */
    build(0, 0);            /* a batch after the one the document had in flight */
    land();
    judge(doc2, "{}", 0, 30);
    CHECK(r53s.drift[1]);   /* the later guard's flag */
    CHECK(!r53s.drift[0]);
}

/* Defect 29: as defect 20, but the batch is judged not landed (a lost
 * answer, a timeout) before the release: the state written then records it
 * as lost ("lost_seq"), and it lands late; the leader is killed before a
 * read adopts its guard.  The next leader holds a's 0 as regiond's own and
 * b not as drift (without lost_seq the guard, newer than the state, brings
 * b's flag back).  Two batches lost in a row: either may be the one that
 * lands. */
static void lose_late(int lost, int lands)
{
    b_held(true);
    r53_rrset_t late[2];
    for (int i = 0; i < lost; i++) {
        build(0, 0);   /* the drain of a: its guard says b drift */
        CHECK(strstr(r53s.guard_new.values[0], "b:30,-,1") != NULL);
        CHECK_EQ_INT(r53_rrset_copy(&late[i], &r53s.guard_new), 0);
        r53_free_created();   /* judged not landed (route53_apply.c) */
    }
    route53_clear_drift(1);   /* regionctl release b */
    cJSON *doc = r53_known_doc();
    CHECK(doc != NULL && cJSON_GetObjectItemCaseSensitive(doc, "inflight_seq") == NULL);
    CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(doc, "lost_seq")));
    r53s.guard_new = late[lands];   /* it lands late */
    r53_rrset_init(&late[lands]);   /* moved */
    r53_guard_landed();
    for (int i = 0; i < lost; i++)
        r53_rrset_clear(&late[i]);
    judge(doc, "{}", 0, 30);
    char what[40];
    snprintf(what, sizeof(what), "%d lost, batch %d lands late", lost, lands);
    check_released(what);
}

/* Known defect 32: two batches judged not landed, the first lands late
 * and a read adopts it; an operator's change seen as drift is released and
 * the state saved: the next leader must judge against the saved state, not
 * take the adopted guard for the in-flight one. */
static void test_adopted_within_range(void)
{
    setup();
    build(0, 100);
    land();                       /* guard 7.1 */
    r53_rrset_t late;
    build(0, 0);                  /* 7.2 */
    CHECK_EQ_INT(r53_rrset_copy(&late, &r53s.guard_new), 0);
    r53_free_created();           /* judged not landed */
    build(0, 0);                  /* 7.3, against 7.1 too */
    r53_free_created();           /* judged not landed */
    r53s.guard_new = late;        /* 7.2 lands late; a read adopts it */
    r53_guard_landed();
    r53_gk_seq_t lo, hi;
    CHECK(!r53_guard_lost(&lo, &hi));   /* 7.3 was built against 7.1: it cannot land now */
    r53s.known[0][0].weight = 0;
    r53s.known[1][0].weight = 30; /* the operator's 30 on b, seen as drift */
    r53s.drift[1] = true;
    route53_clear_drift(1);       /* released */
    cJSON *doc = r53_known_doc();
    judge(doc, "{}", 0, 30);
    CHECK(!r53s.drift[1]);        /* the release holds */
}

static void test_lost_lands_late(void)
{
    lose_late(1, 0);
    lose_late(2, 0);
    lose_late(2, 1);
    /* adopted: a later read or landing at or beyond it drops it */
    setup();
    build(0, 0);
    r53_free_created();
    r53_gk_seq_t lo, hi;
    CHECK(r53_guard_lost(&lo, &hi));
    build(0, 100);
    land();
    CHECK(!r53_guard_lost(&lo, &hi));
}

/* Known defect 33: a batch judged not landed (7.2) recorded as lost_seq in
 * route53-known.json; the instance restarts (nothing in memory) and its next
 * term's judged read, before its bump lands (the guard 7.1 still live), loads
 * the file: the range is back in memory, so the save that read makes (and
 * every later one until a guard at or beyond it is live) still records it. */
static void adopt_value(r53_rrset_t *g, const char *v);

static void test_lost_kept_at_restart(void)
{
    setup();
    build(0, 100);
    land();                       /* guard 7.1 */
    char g1[R53_GK_VALUE_MAX + 1];
    snprintf(g1, sizeof(g1), "%s", r53s.guard_live.values[0]);
    build(0, 0);
    r53_free_created();           /* 7.2, judged not landed */
    r53_gk_seq_t lo0, hi0, lo, hi;
    CHECK(r53_guard_lost(&lo0, &hi0));
    cJSON *doc = r53_known_doc();
    CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(doc, "lost_seq")));
    CHECK_EQ_INT(state_write_json(R53_KNOWN_FILE, doc, STATE_JSON_WAIT, NULL, NULL), 0);
    cJSON_Delete(doc);

    setup();                      /* the restart: nothing in memory */
    CHECK(!r53_guard_lost(&lo, &hi));
    r53_rrset_t g;
    adopt_value(&g, g1);          /* the live guard is still 7.1 */
    r53s.epoch = 8;
    r53s.bump_due = true;
    r53s.known_hold = true;
    r53_list_t acc;
    r53_rrset_t live[2];
    r53_kit_live(&acc, live, 100, 50);
    r53_start_drift(&acc);        /* no replicated state: the file */
    CHECK(r53_guard_lost(&lo, &hi));
    CHECK(r53_gk_seq_cmp(lo, lo0) == 0 && r53_gk_seq_cmp(hi, hi0) == 0);
    doc = r53_known_doc();        /* what the next save writes */
    const cJSON *lq = cJSON_GetObjectItemCaseSensitive(doc, "lost_seq");
    char want[48];
    r53_gk_seq_fmt(lo0, want, sizeof(want));
    CHECK(cJSON_IsString(lq) && strcmp(lq->valuestring, want) == 0);
    cJSON_Delete(doc);
    r53s.bump_due = false;
    r53_kit_live_clear(live);
    r53_rrset_clear(&g);
}

/* Defect 22: a bump of a term not judged yet passes the last leader's
 * knowledge on; when it does not fit beside the new first string (epoch
 * and holder: the holder is never left out, the next bump compares it), it
 * is dropped: logged and counted (status and metric). */
/* A knowledge whose value with first string FIRST is exactly 4,000 bytes,
 * in V; false when none was found. */
static bool exact_fit(const char *first, r53_gk_t *k, char *v, size_t len)
{
    memset(k, 0, sizeof(*k));
    snprintf(k->type, sizeof(k->type), "CNAME");
    k->seq = (r53_gk_seq_t){9, 3};
    for (int base = 50; base < 64; base++)
        for (int last = 1; last <= 128; last++) {
            k->n = 0;
            for (int i = 0; i < 64; i++) {
                r53_gk_entry_t *e = &k->e[k->n++];
                size_t l = i == 63 ? (size_t)last : (size_t)base;
                l = l < 3 ? 3 : l;
                snprintf(e->id, sizeof(e->id), "r%02d", i);
                memset(e->id + 3, 'x', l - 3);
                e->id[l] = '\0';
                e->w[0] = 100;
                e->w[1] = -1;
            }
            if (r53_gk_encode(first, k, v, len) == 0 && strlen(v) == R53_GK_VALUE_MAX)
                return true;
        }
    return false;
}

/* The guard G holding the value V, adopted as the live guard. */
static void adopt_value(r53_rrset_t *g, const char *v)
{
    r53_list_t gp = {0};
    r53_rrset_init(g);
    snprintf(g->name, sizeof(g->name), "_regiond-epoch.api.example.test.");
    snprintf(g->type, sizeof(g->type), "TXT");
    g->ttl = 60;
    g->values[0] = strdup(v);
    g->n_values = 1;
    gp.sets = g;
    gp.n = 1;
    r53_guard_adopt(&gp);
}

static void test_bump_drop_counted(void)
{
    static r53_gk_t k;
    static char v[R53_GK_VALUE_MAX + 1], w[R53_GK_VALUE_MAX + 1];
    r53_rrset_t g, out;
    /* the knowledge fits exactly beside "epoch=9 holder=use1-a": passed on
     * as it is, nothing counted */
    CHECK(exact_fit("epoch=9 holder=use1-a", &k, w, sizeof(w)));
    setup();
    adopt_value(&g, w);
    CHECK(r53_guard_live_rest() != NULL);
    r53s.epoch = 9;
    r53s.judge_due = true;   /* not judged: passes the knowledge on */
    uint64_t n0 = route53_guard_dropped_total();
    CHECK_EQ_INT(r53_guard_make(9, &out), 0);
    CHECK(out.values[0] && strcmp(out.values[0], w) == 0);
    r53_rrset_clear(&out);
    CHECK(route53_guard_dropped_total() == n0);
    r53_rrset_clear(&g);
    /* the knowledge fits only beside "epoch=9": dropped, the holder kept
     * (the next bump compares it), logged and counted */
    CHECK(exact_fit("epoch=9", &k, v, sizeof(v)));
    adopt_value(&g, v);
    CHECK(r53_guard_live_rest() != NULL);
    CHECK_EQ_INT(r53_guard_make(9, &out), 0);
    CHECK(out.values[0] && strcmp(out.values[0], "\"epoch=9 holder=use1-a\"") == 0);
    r53_rrset_clear(&out);
    CHECK(route53_guard_dropped_total() == n0 + 1);
    r53s.judge_due = false;
    r53_rrset_clear(&g);
}

int main(void)
{
    char dir[64] = "/tmp/regiond-test-r53-takeover-XXXXXX";
    cfg = r53_kit_start(dir);
    if (!cfg)
        return 1;
    test_ready();
    test_intent_clear_pushed();
    test_judged_read();
    test_same_text_later_batch();
    test_release_in_flight();
    test_lost_lands_late();
    test_adopted_within_range();
    test_lost_kept_at_restart();
    test_bump_drop_counted();
    route53_set_changed(NULL);
    r53_kit_stop(cfg, dir);
    return check_finish();
}
