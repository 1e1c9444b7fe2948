/* test_cfg_cluster — the cluster section: defaults, the lease tables (1, 3
 * or 5, one per region, table names), the timing bounds that carry the
 * clock assumption; every refusal names the file, the key path and what was
 * expected. */
#include <stdio.h>
#include <string.h>

#include "tests/cfg_kit.h"

static char json[4096];

#define REGS "'regions':[{'name':'r','api':[{'url':'http://127.0.0.1:1/h'}]}]"
#define T3 "'lease_tables':[{'region':'us-east-1','table':'regiond-lease'}," \
    "{'region':'eu-west-1','table':'regiond-lease'},{'region':'ap-south-1','table':'lease.b'}]"

static const char *cl(const char *x)
{
    snprintf(json, sizeof json, "{'controller':{'id':'ctl-a'},'cluster':{%s}," REGS "}", x);
    return json;
}

static void test_good(void)
{
    cfg_t *c = parse("{" REGS "}");
    CHECK(c && !c->cluster.enabled && c->cluster.n_tables == 0);
    cfg_free(c);
    c = parse(cl(T3));
    CHECK(c != NULL);
    if (c) {
        CHECK(c->cluster.enabled);
        CHECK(strcmp(c->cluster.instance_id, "ctl-a") == 0);     /* default controller.id */
        CHECK(strcmp(c->cluster.name, "regiond") == 0);
        CHECK(c->cluster.advertise_url == NULL);
        CHECK(c->cluster.n_tables == 3);
        CHECK(strcmp(c->cluster.tables[2].region, "ap-south-1") == 0);
        CHECK(strcmp(c->cluster.tables[2].table, "lease.b") == 0);
        CHECK(c->cluster.lease_ms == 10000 && c->cluster.renew_ms == 2000 && c->cluster.margin_ms == 2000);
        CHECK(c->cluster.follow_ms == 1000);
        CHECK(c->cluster.former_name == NULL);   /* no rename under way */
    }
    cfg_free(c);
    c = parse(cl(T3 ",'name':'new','former_name':'regiond'"));
    CHECK(c && strcmp(c->cluster.name, "new") == 0 && c->cluster.former_name
          && strcmp(c->cluster.former_name, "regiond") == 0);
    cfg_free(c);
    c = parse(cl("'instance_id':'i-2','advertise_url':'http://10.0.0.2:9470','name':'prod ctl',"
                 "'lease_tables':[{'region':'r1','table':'abc'}],'lease_ms':3000,'renew_ms':500,'margin_ms':300"));
    CHECK(c != NULL);
    if (c) {
        CHECK(strcmp(c->cluster.instance_id, "i-2") == 0);
        CHECK(strcmp(c->cluster.advertise_url, "http://10.0.0.2:9470") == 0);
        CHECK(strcmp(c->cluster.name, "prod ctl") == 0);
        CHECK(c->cluster.n_tables == 1 && c->cluster.lease_ms == 3000);
        CHECK(c->cluster.follow_ms == 1000);   /* above renew_ms: a follower reads every renew_ms */
    } else {
        fprintf(stderr, "%s\n", errbuf);
    }
    cfg_free(c);
}

static void test_bad(void)
{
    BAD(cl("'lease_tables':[]"), "cluster.lease_tables", "expected a list of 1, 3 or 5");
    BAD(cl("'lease_tables':[{'region':'a','table':'abc'},{'region':'b','table':'abc'}]"),
        "cluster.lease_tables", "expected a list of 1, 3 or 5");
    BAD(cl("'lease_tables':'t'"), "cluster.lease_tables", "expected a list");
    BAD(cl("'lease_tables':[{'region':'a','table':'abc'},{'region':'b','table':'abc'},"
           "{'region':'a','table':'xyz'}]"), "cluster.lease_tables[2].region", "a region of its own");
    BAD(cl("'lease_tables':[{'region':'a','table':'ab'}]"), "cluster.lease_tables[0].table",
        "3 to 255 characters");
    BAD(cl("'lease_tables':[{'region':'a','table':'a/b'}]"), "cluster.lease_tables[0].table", "[A-Za-z0-9_.-]");
    BAD(cl("'lease_tables':[{'region':'a'}]"), "cluster.lease_tables[0].table", "required");
    BAD(cl("'lease_tables':[{'table':'abc'}]"), "cluster.lease_tables[0]", "region");
    BAD(cl("'lease_tables':[{'region':'a','table':'abc','global':true}]"), "cluster.lease_tables[0].global", "");
    BAD(cl("'lease_tables':[1]"), "cluster.lease_tables[0]", "expected an object");
    BAD(cl(T3 ",'renew_ms':4000"), "cluster.renew_ms", "less than a third of cluster.lease_ms (10000)");
    BAD(cl(T3 ",'margin_ms':5000"), "cluster.margin_ms", "less than half of cluster.lease_ms");
    BAD(cl(T3 ",'margin_ms':900"), "cluster.margin_ms", "at least a tenth of cluster.lease_ms");
    BAD(cl(T3 ",'lease_ms':500"), "cluster.lease_ms", "expected an integer from 1000");
    BAD(cl(T3 ",'follow_ms':50"), "cluster.follow_ms", "expected an integer from 100");
    BAD(cl(T3 ",'follow_ms':'1s'"), "cluster.follow_ms", "expected an integer");
    BAD(cl(T3 ",'lease_ms':2.5"), "cluster.lease_ms", "expected an integer");
    BAD(cl(T3 ",'advertise_url':'ftp://x/'"), "cluster.advertise_url", "http:// or https://");
    BAD(cl(T3 ",'advertise_url':7"), "cluster.advertise_url", "expected");
    BAD(cl(T3 ",'instance_id':'a b'"), "cluster.instance_id", "");
    BAD(cl(T3 ",'name':''"), "cluster.name", "");
    BAD(cl(T3 ",'leader':true"), "cluster.leader", "");
    /* a rename's former name: a name of its own, never the name itself (the default's either) */
    BAD(cl(T3 ",'former_name':''"), "cluster.former_name", "the cluster's name before a rename");
    BAD(cl(T3 ",'former_name':3"), "cluster.former_name", "the cluster's name before a rename");
    BAD(cl(T3 ",'former_name':'a\\u0001b'"), "cluster.former_name", "");
    BAD(cl(T3 ",'name':'x','former_name':'x'"), "cluster.former_name", "not cluster.name itself (\"x\")");
    BAD(cl(T3 ",'former_name':'regiond'"), "cluster.former_name", "not cluster.name itself (\"regiond\")");
    BAD("{'cluster':[]," REGS "}", "cluster", "expected an object");
}

int main(void)
{
    test_good();
    test_bad();
    return check_finish();
}
