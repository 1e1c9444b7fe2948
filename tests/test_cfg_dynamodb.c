/* test_cfg_dynamodb — the dynamodb section: heartbeat, gate, backups (cron
 * errors with their position), PITR; every path names its key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/cfg_kit.h"

static char json[8192];

#define REGS "'regions':[{'name':'us-east-1','api':[{'url':'http://127.0.0.1:1/h'}]}," \
             "{'name':'eu-west-1','api':[{'url':'http://127.0.0.1:2/h'}],'dynamodb':{'region':'eu-west-2'}}]"

static const char *ddb(const char *x)
{
    snprintf(json, sizeof json, "{'dynamodb':{'table':'orders'%s%s}," REGS "}", *x ? "," : "", x);
    return json;
}

static void test_good(void)
{
    cfg_t *c = parse(ddb("'backups':[{'regions':['us-east-1'],'schedule':'0 3 * * *','keep_last':7}],"
                         "'pitr':{'recovery_period_days':7}"));
    CHECK(c != NULL);
    if (!c) {
        fprintf(stderr, "  unexpected error: %s\n", errbuf);
        return;
    }
    const cfg_dynamodb_t *d = &c->dynamodb;
    CHECK(d->enabled);
    CHECK(strcmp(d->table, "orders") == 0);
    CHECK(strcmp(d->heartbeat_table, "regiond-heartbeat") == 0);   /* a dedicated table by default */
    CHECK_EQ_INT(d->heartbeat_mode, 0);
    CHECK(strcmp(d->heartbeat_key_prefix, "__regiond#hb") == 0);
    CHECK(d->heartbeat_number_keys == NULL);
    CHECK(strcmp(d->aws_regions[0], "us-east-1") == 0);
    CHECK(strcmp(d->aws_regions[1], "eu-west-2") == 0);
    CHECK_EQ_INT(d->rpo_ms, 10000);
    CHECK_EQ_INT(d->gate, 0);
    CHECK_EQ_INT(d->heartbeat_interval_ms, 5000);
    CHECK_EQ_INT(d->n_backups, 1);
    CHECK(strcmp(d->backups[0].name, "backups[0]") == 0);
    CHECK(strcmp(d->backups[0].table, "orders") == 0);
    CHECK(strcmp(d->backups[0].name_template, "regiond-{table}-{schedule}.{utc:%Y%m%dT%H%MZ}") == 0);
    CHECK(strcmp(d->backups[0].id, "backups_0_") == 0);
    CHECK(d->pitr_manage && d->pitr_enabled);
    CHECK_EQ_INT(d->pitr_period_days, 7);
    cfg_free(c);
    c = parse("{'regions':[{'name':'r','api':[{'url':'http://127.0.0.1:1/h'}]}]}");
    CHECK(c && !c->dynamodb.enabled);
    cfg_free(c);
    /* PITR is checked and kept on whenever dynamodb is configured (issue 15 item 10) */
    c = parse(ddb(""));
    CHECK(c && c->dynamodb.pitr_manage && c->dynamodb.pitr_enabled && c->dynamodb.pitr_check_s == 300);
    cfg_free(c);
    c = parse(ddb("'pitr':{'enabled':false}"));
    CHECK(c && c->dynamodb.pitr_manage && !c->dynamodb.pitr_enabled);
    cfg_free(c);
    /* application-table mode with reserved Number values per writer */
    c = parse(ddb("'heartbeat':{'mode':'application','number_keys':{'us-east-1':'-9000000001','eu-west-1':'-9000000002'}}"));
    CHECK(c && c->dynamodb.heartbeat_mode == 1 && strcmp(c->dynamodb.heartbeat_table, "orders") == 0);
    CHECK(c && strcmp(c->dynamodb.heartbeat_number_keys[1], "-9000000002") == 0);
    cfg_free(c);
    c = parse(ddb("'backups':[{'name':'hourly.v2','regions':['us-east-1'],'schedule':'@hourly'}]"));
    CHECK(c && strcmp(c->dynamodb.backups[0].id, "hourly_v2") == 0);
    cfg_free(c);
}

static void test_bad(void)
{
    BAD(ddb("'backups':[{'regions':['us-east-1'],'schedule':'0 3 32 * *'}]"), "dynamodb.backups[0].schedule",
        "field 3 (day of month): 32 is out of range 1-31 (at position 5)");
    BAD(ddb("'backups':[{'regions':['us-east-1'],'schedule':'0 3 * *'}]"), "dynamodb.backups[0].schedule",
        "expected 5 fields, got 4");
    BAD(ddb("'backups':[{'regions':['mars-1'],'schedule':'@daily'}]"), "dynamodb.backups[0].regions[0]",
        "expected the name of a configured region");
    BAD(ddb("'backups':[{'regions':['us-east-1'],'schedule':'@daily','name_template':'nightly-{table}'}]"),
        "dynamodb.backups[0].name_template", "starting with \"regiond-\"");
    BAD(ddb("'backups':[{'regions':['us-east-1'],'schedule':'@daily','name':'a'},"
            "{'regions':['us-east-1'],'schedule':'@daily','name':'a'}]"),
        "dynamodb.backups[1].name", "duplicate schedule name 'a'");
    BAD(ddb("'backups':[{'regions':['us-east-1']}]"), "dynamodb.backups[0].schedule", "5-field cron");
    BAD(ddb("'backups':[{'regions':['us-east-1'],'schedule':'0 3 30 2 *'}]"), "dynamodb.backups[0].schedule",
        "field 3 (day of month): no day listed exists in the months of field 4 (month)");
    BAD(ddb("'backups':[{'regions':['us-east-1'],'schedule':'0 0 31 4 *'}]"), "dynamodb.backups[0].schedule",
        "never fires");
    BAD(ddb("'backups':[{'regions':['us-east-1'],'schedule':'@daily','name_template':'regiond-{table}-{utc:%Y}'}]"),
        "dynamodb.backups[0].name_template", "holding \"{schedule}.\"");
    BAD(ddb("'backups':[{'regions':['us-east-1'],'schedule':'@daily','name':'a.b'},"
            "{'regions':['us-east-1'],'schedule':'@daily','name':'a_b'}]"),
        "dynamodb.backups[1].name", "id ('a_b'");
    BAD(ddb("'heartbeat':{'table':'orders'}"), "dynamodb.heartbeat.table", "expected a dedicated table");
    BAD(ddb("'heartbeat':{'mode':'application','table':'hb1'}"), "dynamodb.heartbeat.table",
        "expected no table with mode");
    BAD(ddb("'heartbeat':{'mode':'shared'}"), "dynamodb.heartbeat.mode", "one of table, application");
    BAD(ddb("'heartbeat':{'number_keys':{'mars-1':'1'}}"), "dynamodb.heartbeat.number_keys.mars-1",
        "a configured region");
    BAD(ddb("'heartbeat':{'number_keys':{'us-east-1':'1.5'}}"), "dynamodb.heartbeat.number_keys.us-east-1",
        "an integer of 1 to 38 digits");
    BAD(ddb("'heartbeat':{'number_keys':{'us-east-1':'7','eu-west-1':'7'}}"),
        "dynamodb.heartbeat.number_keys.eu-west-1", "no other region uses (us-east-1 has 7)");
    BAD(ddb("'heartbeat':{'number_keys':{'us-east-1':'7','eu-west-1':'007'}}"),
        "dynamodb.heartbeat.number_keys.eu-west-1", "no other region uses (us-east-1 has 7");
    BAD(ddb("'heartbeat':{'number_keys':{'us-east-1':'-0','eu-west-1':'0'}}"),
        "dynamodb.heartbeat.number_keys.eu-west-1", "no other region uses (us-east-1 has -0");
    BAD(ddb("'heartbeat':{'key_prefix':'hb'}"), "dynamodb.heartbeat.key_prefix", "4 to 200");
    BAD(ddb("'gate':'maybe'"), "dynamodb.gate", "one of gate, warn, off");
    BAD(ddb("'finding':'panic'"), "dynamodb.finding", "one of degraded, down, none");
    BAD(ddb("'rpo_ms':0"), "dynamodb.rpo_ms", "an integer from 1 to 86400000, got 0");
    BAD(ddb("'pitr':{'recovery_period_days':36}"), "dynamodb.pitr.recovery_period_days", "from 1 to 35, got 36");
    BAD(ddb("'heartbeat':{'interval_ms':1000,'read_interval_ms':2000}"), "dynamodb.heartbeat.read_interval_ms",
        "at most interval_ms (1000), got 2000");
    BAD(ddb("'heartbeat':{'tabel':'x'}"), "dynamodb.heartbeat.tabel", "did you mean 'table'?");
    BAD("{'dynamodb':{'table':'ab'}," REGS "}", "dynamodb.table", "a DynamoDB table name");
    BAD("{'dynamodb':{}," REGS "}", "dynamodb", "expected table");
    BAD("{'regions':[{'name':'r','api':[{'url':'http://127.0.0.1:1/h'}],'dynamodb':{'region':'x'}}]}",
        "regions[0].dynamodb", "the top-level dynamodb section too");
}

/* A name longer than DynamoDB's 255 would fail every CreateBackup: refused when loading, not at 3 a.m. */
static void test_backup_name_length(void)
{
    char t[241], x[400];
    memset(t, 'a', 240);
    t[240] = '\0';
    snprintf(x, sizeof x, "'backups':[{'table':'%s','regions':['us-east-1'],'schedule':'@daily'}]", t);
    BAD(ddb(x), "dynamodb.backups[0].name_template", "at most 255 characters");
    t[200] = '\0';   /* regiond- + 200 + - + backups_0_ + . + 20260930T2359Z = 234 */
    snprintf(x, sizeof x, "'backups':[{'table':'%s','regions':['us-east-1'],'schedule':'@daily'}]", t);
    cfg_t *c = parse(ddb(x));
    CHECK(c != NULL);
    cfg_free(c);
    snprintf(x, sizeof x, "'backups':[{'table':'%s','regions':['us-east-1'],'schedule':'@daily',"
             "'name_template':'regiond-{table}-{schedule}.{utc:%%A-%%B-%%Y%%m%%dT%%H%%M%%SZ}'}]", t);
    BAD(ddb(x), "dynamodb.backups[0].name_template", "can be 256 long");
}

int main(void)
{
    test_good();
    test_bad();
    test_backup_name_length();
    return check_finish();
}
