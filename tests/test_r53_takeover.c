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
 *    gate; the black-box side: tests/bb/test_ha_release_judge.py).
 * The actuator's state is set up by hand as a read would leave it; nothing
 * is sent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>

#include "tests/cfg_kit.h"
#include "core/alarm.h"
#include "core/feed.h"
#include "core/loop.h"
#include "core/state.h"
#include "failover/route53_int.h"

#define URL "'url':'http://127.0.0.1:1/h'"

static int pushes;   /* calls of the replica-changed hook (control_replica.c's ctrl_replica_push) */

static void on_changed(void)
{
    pushes++;
}

static void on_note(route53_note_t what)
{
    (void)what;
}

static void rec(r53_rrset_t *r, const char *id, long w, const char *value)
{
    r53_rrset_init(r);
    snprintf(r->name, sizeof(r->name), "api.example.test.");
    snprintf(r->type, sizeof(r->type), "CNAME");
    snprintf(r->set_identifier, sizeof(r->set_identifier), "%s", id);
    r->weight = w;
    r->ttl = 60;
    r->values[0] = strdup(value);
    r->n_values = 1;
}

static cfg_t *cfg;

/* A leader of epoch 7 whose last read showed a at 100 and b at 50. */
static void setup(void)
{
    route53_fini();
    r53s.cfg = cfg;
    r53s.notify = on_note;
    r53s.n = 2;
    rec(&r53s.known[0][0], "a", 100, "a.example.test");
    rec(&r53s.known[1][0], "b", 50, "b.example.test");
    r53s.have[0][0] = r53s.have[1][0] = true;
    r53s.read_ok = true;
    r53s.epoch = 7;
    r53s.send_until_ms = UINT64_MAX;
    r53_guard_setup();
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
    r53_list_t acc = {0};
    r53_rrset_t live[2];
    rec(&live[0], "a", 100, "a.example.test");
    rec(&live[1], "b", 50, "b.example.test");
    acc.sets = live;
    acc.n = 2;
    pushes = 0;
    r53s.intent_live = true;
    r53_start_drift(&acc);
    CHECK(!r53s.drift[0] && !r53s.drift[1]);
    CHECK(!alarm_active("route53-drift-a"));   /* defect 18: resolved with the flag */
    CHECK_EQ_INT(pushes, 1);   /* once, with the judged view: not half-way (the intent's clear) */
    CHECK(!doc_has_intent());
    CHECK(r53s.rep == NULL);
    r53_rrset_clear(&live[0]);
    r53_rrset_clear(&live[1]);

    /* a drift alarm whose flag is already down: a release resolves it */
    r53_report_drift(1, 50, 20, "weight changed");
    r53s.drift[1] = false;
    CHECK(alarm_active("route53-drift-b"));
    route53_clear_drift(1);
    CHECK(!alarm_active("route53-drift-b"));
}

int main(void)
{
    cfg = parse("{'controller':{'id':'use1-a'},'route53':{'hosted_zone_id':'Z123ABC','record_name':"
                "'api.example.test','record_type':'CNAME'},'regions':[{'name':'a','api':[{" URL "}],"
                "'route53':{'value':'a.example.test'}},{'name':'b','api':[{" URL "}],"
                "'route53':{'value':'b.example.test','weight':50}}]}");
    if (!cfg) {
        fprintf(stderr, "config: %s\n", errbuf);
        return 1;
    }
    char err[256], dir[64] = "/tmp/regiond-test-r53-takeover-XXXXXX";
    if (!mkdtemp(dir) || loop_init() != 0 || state_init(dir, err, sizeof(err)) != 0
        || feed_init(64, err, sizeof(err)) != 0) {
        fprintf(stderr, "set-up: %s\n", err);
        return 1;
    }
    test_ready();
    test_intent_clear_pushed();
    test_judged_read();
    route53_set_changed(NULL);
    route53_fini();
    cfg_free(cfg);
    feed_fini();
    state_fini();
    DIR *dd = opendir(dir);
    for (struct dirent *e; dd && (e = readdir(dd)) != NULL;) {
        char path[384];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            unlink(path);
    }
    if (dd)
        closedir(dd);
    rmdir(dir);
    return check_finish();
}
