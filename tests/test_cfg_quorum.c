/* test_cfg_quorum — "cluster.quorum": off when absent; the observers (1 to
 * 9 distinct instance ids naming this instance), k (1..n, default a
 * majority) and publish_ms (500..60000, default 2000); every refusal names
 * the file, the key path and what was expected. */
#include <stdio.h>
#include <string.h>

#include "tests/cfg_kit.h"

static char json[4096];

#define REGS "'regions':[{'name':'r','api':[{'url':'http://127.0.0.1:1/h'}]}]"
#define T1 "'lease_tables':[{'region':'us-east-1','table':'regiond-lease'}]"

static const char *q(const char *x)
{
    snprintf(json, sizeof json, "{'controller':{'id':'ctl-a'},'cluster':{" T1 ",'quorum':{%s}}," REGS "}", x);
    return json;
}

static void test_good(void)
{
    snprintf(json, sizeof json, "{'controller':{'id':'ctl-a'},'cluster':{" T1 "}," REGS "}");
    cfg_t *c = parse(json);
    CHECK(c && c->cluster.enabled && !c->cluster.quorum.enabled && c->cluster.quorum.n_observers == 0);
    cfg_free(c);
    c = parse(q("'observers':['ctl-a','ctl-b','ctl-c']"));
    CHECK(c != NULL);
    if (c) {
        CHECK(c->cluster.quorum.enabled && c->cluster.quorum.n_observers == 3);
        CHECK(strcmp(c->cluster.quorum.observers[2], "ctl-c") == 0);
        CHECK(c->cluster.quorum.k == 2 && c->cluster.quorum.publish_ms == 2000);   /* a majority; the default */
    }
    cfg_free(c);
    c = parse(q("'observers':['x','ctl-a','y','z'],'k':4,'publish_ms':500"));
    CHECK(c && c->cluster.quorum.k == 4 && c->cluster.quorum.publish_ms == 500 && c->cluster.quorum.n_observers == 4);
    if (!c)
        fprintf(stderr, "%s\n", errbuf);
    cfg_free(c);
    c = parse(q("'observers':['ctl-a']"));
    CHECK(c && c->cluster.quorum.k == 1);
    cfg_free(c);
}

static void test_bad(void)
{
    BAD(q("'observers':[]"), "cluster.quorum.observers", "expected a list of 1 to 9 instance ids");
    BAD(q("'observers':'ctl-a'"), "cluster.quorum.observers", "expected a list of 1 to 9");
    BAD(q("'observers':['ctl-a','1','2','3','4','5','6','7','8','9']"), "cluster.quorum.observers",
        "expected a list of 1 to 9");
    BAD(q("'observers':['ctl-a','b c']"), "cluster.quorum.observers[1]", "expected an instance id");
    BAD(q("'observers':['ctl-a',7]"), "cluster.quorum.observers[1]", "expected an instance id");
    BAD(q("'observers':['ctl-a','b','b']"), "cluster.quorum.observers[2]", "(also cluster.quorum.observers[1])");
    BAD(q("'observers':['b','c']"), "cluster.quorum.observers", "names this instance (cluster.instance_id \"ctl-a\")");
    BAD(q("'observers':['ctl-a','b'],'k':3"), "cluster.quorum.k", "2");
    BAD(q("'observers':['ctl-a','b'],'k':0"), "cluster.quorum.k", "1");
    BAD(q("'observers':['ctl-a'],'publish_ms':499"), "cluster.quorum.publish_ms", "500");
    BAD(q("'observers':['ctl-a'],'publish_ms':60001"), "cluster.quorum.publish_ms", "60000");
    BAD(q("'observers':['ctl-a'],'quorm':1"), "cluster.quorum.quorm", "expected one of observers, k, publish_ms");
    snprintf(json, sizeof json, "{'controller':{'id':'ctl-a'},'cluster':{" T1 ",'quorum':[1]}," REGS "}");
    BAD(json, "cluster.quorum", "expected an object");
}

int main(void)
{
    test_good();
    test_bad();
    return check_finish();
}
