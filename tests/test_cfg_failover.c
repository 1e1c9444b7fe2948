/* test_cfg_failover — the aws, route53 and decision sections of the config:
 * every validation path names its key, and good configs get their defaults. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/cfg_kit.h"

static char json[8192];

#define URL "'url':'http://127.0.0.1:1/h'"
#define R53 "'route53':{'hosted_zone_id':'Z123ABC','record_name':'api.example.test','record_type':'CNAME'}"
#define REG(n, extra) "{'name':'" n "','api':[{" URL "}]" extra "}"

/* Top-level members X, the route53 section, and regions a and b with the
 * region-level members RA and RB. */
static const char *two(const char *x, const char *ra, const char *rb)
{
    snprintf(json, sizeof json, "{%s%s" R53 ",'regions':[{'name':'a','api':[{" URL "}]%s},"
             "{'name':'b','api':[{" URL "}]%s}]}", x, *x ? "," : "", ra, rb);
    return json;
}

static const char *ra = ",'route53':{'value':'a.example.test'}";
static const char *rb = ",'route53':{'value':'b.example.test','weight':50}";

static void test_good(void)
{
    cfg_t *c = parse(two("", ra, rb));
    CHECK(c != NULL);
    if (!c) {
        fprintf(stderr, "  unexpected error: %s\n", errbuf);
        return;
    }
    CHECK(c->route53.enabled);
    CHECK(strcmp(c->route53.record_name, "api.example.test.") == 0);
    CHECK_EQ_INT(c->route53.ttl, 60);
    CHECK_EQ_INT(c->route53.regions[0].weight, 100);
    CHECK_EQ_INT(c->route53.regions[1].weight, 50);
    CHECK(strcmp(c->route53.regions[1].set_identifier, "b") == 0);
    CHECK_EQ_INT(c->decision.min_healthy_regions, 1);
    CHECK_EQ_INT(c->decision.degraded_weight, -1);
    CHECK_EQ_INT(c->decision.hold_down_s, 60);
    CHECK_EQ_INT(c->aws.route53_rate_milli, 2000);
    CHECK_EQ_INT(c->aws.route53_burst, 5);
    CHECK(cfg_aws_endpoint(c, "route53", NULL) == NULL);
    cfg_free(c);

    c = parse(two("'aws':{'endpoints':{'route53':'http://127.0.0.1:5000','dynamodb.us-east-1':"
                  "'http://127.0.0.1:6000'},'route53_rate_per_s':0.5,'account_id':'123456789012'},"
                  "'decision':{'degraded_weight':10,'fail_open':'restore','min_healthy_regions':2}",
                  ra, rb));
    CHECK(c != NULL);
    if (!c) {
        fprintf(stderr, "  unexpected error: %s\n", errbuf);
        return;
    }
    CHECK(strcmp(cfg_aws_endpoint(c, "route53", NULL), "http://127.0.0.1:5000") == 0);
    CHECK(strcmp(cfg_aws_endpoint(c, "dynamodb", "us-east-1"), "http://127.0.0.1:6000") == 0);
    CHECK(cfg_aws_endpoint(c, "dynamodb", "eu-west-1") == NULL);
    CHECK_EQ_INT(c->aws.route53_rate_milli, 500);
    CHECK_EQ_INT(c->decision.degraded_weight, 10);
    CHECK_EQ_INT(c->decision.fail_open_restore, 1);
    cfg_free(c);

    /* No route53 section: monitor only. */
    c = parse("{'regions':[" REG("a", "") "]}");
    CHECK(c != NULL && !c->route53.enabled);
    cfg_free(c);
}

static void test_bad(void)
{
    BAD(two("", "", rb), "regions[0].route53", "expected a route53 record for every region");
    BAD("{'regions':[" REG("a", ",'route53':{'value':'x.test'}") "]}", "regions[0].route53",
        "expected the top-level route53 section too");
    BAD(two("", ",'route53':{'value':'a.test','weight':256}", rb), "regions[0].route53.weight",
        "expected an integer from 0 to 255, got 256");
    BAD(two("", ",'route53':{'value':'a.test','weight':0}", ",'route53':{'value':'b.test','weight':0}"),
        "regions", "at least one region with a route53 weight above 0");
    BAD(two("", ",'route53':{'value':'a.test','set_identifier':'x'}",
            ",'route53':{'value':'b.test','set_identifier':'x'}"),
        "regions[1].route53.set_identifier", "duplicate set_identifier 'x'");
    BAD(two("", ",'route53':{'value':'not a name!'}", rb), "regions[0].route53.value",
        "expected a DNS name for a CNAME record");
    BAD(two("", ",'route53':{'values':['a.test','b.test']}", rb), "regions[0].route53.values",
        "exactly one value for a CNAME");
    BAD(two("", ",'route53':{'value':'a.test','alias':{'hosted_zone_id':'Z1','dns_name':'x.test'}}", rb),
        "regions[0].route53", "either alias or value(s)");
    BAD(two("", ",'route53':{'weight':5}", rb), "regions[0].route53", "expected value, values or alias");
    BAD(two("", ",'route53':{'value':'a.test','wieght':5}", rb), "regions[0].route53.wieght",
        "did you mean 'weight'?");
    BAD(two("'decision':{'min_healthy_regions':3}", ra, rb), "decision.min_healthy_regions",
        "at most the number of regions (2), got 3");
    BAD(two("'decision':{'fail_open':'drain'}", ra, rb), "decision.fail_open", "one of keep, restore");
    BAD(two("'decision':{'degraded_weight':'half'}", ra, rb), "decision.degraded_weight",
        "\"keep\" or an integer from 0 to 255");
    BAD(two("'decision':{'degraded_weight':2.5}", ra, rb), "decision.degraded_weight",
        "an integer from 0 to 255, got 2.5");
    BAD(two("'aws':{'route53_rate_per_s':6}", ra, rb), "aws.route53_rate_per_s",
        "a number from 0.1 to 5");
    BAD(two("'aws':{'endpoints':{'s3':'http://x'}}", ra, rb), "aws.endpoints.s3",
        "expected a key \"route53\"");
    BAD(two("'aws':{'endpoints':{'route53':'ftp://x'}}", ra, rb), "aws.endpoints.route53",
        "an http:// or https:// URL");
    BAD(two("'aws':{'account_id':'12345'}", ra, rb), "aws.account_id", "a 12-digit AWS account id");
    BAD(two("'aws':{'retry':{'base_ms':500,'max_ms':100}}", ra, rb), "aws.retry.base_ms",
        "at most aws.retry.max_ms (100), got 500");
    BAD(two("'aws':{'retry':{'max_attempts':0}}", ra, rb), "aws.retry.max_attempts",
        "an integer from 1 to 20, got 0");
    BAD(two("'aws':{'shared_credentials_file':'rel/path'}", ra, rb), "aws.shared_credentials_file",
        "absolute");
    snprintf(json, sizeof json, "{'route53':{'hosted_zone_id':'/hostedzone/Z1','record_name':'a.test'},"
             "'regions':[" REG("a", ",'route53':{'value':'x.test'}") "]}");
    BAD(json, "route53.hosted_zone_id", "no /hostedzone/ prefix");
    snprintf(json, sizeof json, "{'route53':{'hosted_zone_id':'Z1','record_name':'a..test'},"
             "'regions':[" REG("a", ",'route53':{'value':'x.test'}") "]}");
    BAD(json, "route53.record_name", "expected a DNS name");
    snprintf(json, sizeof json, "{'route53':{'hosted_zone_id':'Z1','record_name':'a.test','record_type':'A'},"
             "'regions':[" REG("a", ",'route53':{'values':['10.0.0.1','nope']}") "]}");
    BAD(json, "regions[0].route53.values[1]", "an IPv4 address for a A record");
    snprintf(json, sizeof json, "{'route53':{'hosted_zone_id':'Z1','record_name':'a.test',"
             "'record_type':'TXT'},'regions':[" REG("a", ",'route53':{'value':'x.test'}") "]}");
    BAD(json, "route53.record_type", "one of CNAME, A, AAAA");
    snprintf(json, sizeof json, "{'route53':{'hosted_zone_id':'Z1','record_name':'a.test',"
             "'dns_check':{'consecutive':0}},'regions':[" REG("a", ",'route53':{'value':'x.test'}") "]}");
    BAD(json, "route53.dns_check.consecutive", "an integer from 1 to 1000, got 0");
}

int main(void)
{
    test_good();
    test_bad();
    return check_finish();
}
