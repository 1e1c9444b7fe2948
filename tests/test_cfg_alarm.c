/* test_cfg_alarm — the alarms section: webhooks of each kind, defaults, the
 * routing key and URL as secrets; every validation path names its key, and no
 * message quotes a webhook URL or a secret. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Every refusal: no message quotes a secret. */
#define CFG_KIT_BAD_EXTRA() CHECK(!strstr(errbuf, "SECRET") && !strstr(errbuf, "R0UTINGKEY"))

#include "tests/cfg_kit.h"

static char json[8192];

#define REGS "'regions':[{'name':'r','api':[{'url':'http://127.0.0.1:1/h'}]}]"

static const char *alarms(const char *x)
{
    snprintf(json, sizeof json, "{'alarms':{%s}," REGS "}", x);
    return json;
}

/* One webhook with members X. */
static const char *hook(const char *x)
{
    snprintf(json, sizeof json, "{'alarms':{'webhooks':[{%s}]}," REGS "}", x);
    return json;
}

static void test_good(void)
{
    setenv("PD_KEY_TEST", "R0UTINGKEYsecret", 1);
    cfg_t *c = parse("{'alarms':{'queue_max':5,'retry_base_ms':50,'retry_max_ms':400,'webhooks':["
                     "{'name':'ops','url':'https://hooks.example.test/a?token=QTOKEN'},"
                     "{'url':'https://hooks.slack.com/services/T/B/X','kind':'slack','min_severity':'critical'},"
                     "{'name':'pd','url':'https://events.pagerduty.com/v2/enqueue','kind':'pagerduty',"
                     "'routing_key':{'env':'PD_KEY_TEST'},'timeout_ms':2000,'max_attempts':3},"
                     "{'name':'hidden','url':{'env':'PD_KEY_TEST_URL'}}]}," REGS "}");
    CHECK(c == NULL);   /* PD_KEY_TEST_URL is not set yet */
    CHECK_CONTAINS(errbuf, "t.json: alarms.webhooks[3].url: environment variable PD_KEY_TEST_URL is not set");
    setenv("PD_KEY_TEST_URL", "http://127.0.0.1:9/x?token=URLSECRET", 1);
    c = parse("{'alarms':{'queue_max':5,'retry_base_ms':50,'retry_max_ms':400,'webhooks':["
              "{'name':'ops','url':'https://hooks.example.test/a?token=QTOKEN'},"
              "{'url':'https://hooks.slack.com/services/T/B/X','kind':'slack','min_severity':'critical'},"
              "{'name':'pd','url':'https://events.pagerduty.com/v2/enqueue','kind':'pagerduty',"
              "'routing_key':{'env':'PD_KEY_TEST'},'timeout_ms':2000,'max_attempts':3},"
              "{'name':'hidden','url':{'env':'PD_KEY_TEST_URL'}}]}," REGS "}");
    CHECK(c != NULL);
    if (!c) {
        fprintf(stderr, "  unexpected error: %s\n", errbuf);
        return;
    }
    const cfg_alarms_t *a = &c->alarms;
    CHECK_EQ_INT(a->n_webhooks, 4);
    CHECK_EQ_INT(a->queue_max, 5);
    CHECK_EQ_INT(a->retry_base_ms, 50);
    CHECK_EQ_INT(a->retry_max_ms, 400);
    CHECK(strcmp(a->webhooks[0].name, "ops") == 0);
    CHECK_EQ_INT(a->webhooks[0].kind, CFG_HOOK_JSON);
    CHECK_EQ_INT(a->webhooks[0].timeout_ms, 5000);
    CHECK_EQ_INT(a->webhooks[0].max_attempts, 6);
    CHECK_EQ_INT(a->webhooks[0].min_severity, CFG_SEV_WARNING);
    CHECK(!a->webhooks[0].url_secret);
    CHECK(strcmp(a->webhooks[1].name, "webhooks[1]") == 0);
    CHECK_EQ_INT(a->webhooks[1].kind, CFG_HOOK_SLACK);
    CHECK_EQ_INT(a->webhooks[1].min_severity, CFG_SEV_CRITICAL);
    CHECK_EQ_INT(a->webhooks[2].kind, CFG_HOOK_PAGERDUTY);
    CHECK(a->webhooks[2].routing_key.secret);
    CHECK(strcmp(a->webhooks[2].routing_key.value, "R0UTINGKEYsecret") == 0);
    CHECK(strcmp(a->webhooks[2].routing_key.secret_source, "env:PD_KEY_TEST") == 0);
    CHECK_EQ_INT(a->webhooks[2].timeout_ms, 2000);
    CHECK_EQ_INT(a->webhooks[2].max_attempts, 3);
    CHECK(a->webhooks[3].url_secret);
    CHECK(strcmp(a->webhooks[3].url, "http://127.0.0.1:9/x?token=URLSECRET") == 0);
    cfg_free(c);

    c = parse("{" REGS "}");
    CHECK(c && c->alarms.n_webhooks == 0 && c->alarms.queue_max == 100 && c->alarms.retry_base_ms == 1000
          && c->alarms.retry_max_ms == 60000);
    cfg_free(c);
    c = parse(alarms(""));
    CHECK(c && c->alarms.n_webhooks == 0);
    cfg_free(c);
    c = parse(alarms("'webhooks':[]"));
    CHECK(c && c->alarms.n_webhooks == 0);
    cfg_free(c);

    /* routing key from a file, trailing newline stripped */
    char path[] = "/tmp/regiond-test-rk-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd != -1 && write(fd, "FILEKEY123\n", 11) == 11);
    close(fd);
    snprintf(json, sizeof json, "{'alarms':{'webhooks':[{'url':'http://127.0.0.1:1/','kind':'pagerduty',"
             "'routing_key':{'file':'%s'}}]}," REGS "}", path);
    c = parse(json);
    CHECK(c && strcmp(c->alarms.webhooks[0].routing_key.value, "FILEKEY123") == 0);
    cfg_free(c);
    unlink(path);
}

static void test_bad(void)
{
    BAD("{'alarms':[]," REGS "}", "alarms", "expected an object");
    BAD(alarms("'hooks':[]"), "alarms.hooks", "");
    BAD(alarms("'queue_max':0"), "alarms.queue_max", "expected an integer from 1 to 100000, got 0");
    BAD(alarms("'queue_max':2.5"), "alarms.queue_max", "expected an integer");
    BAD(alarms("'retry_base_ms':5"), "alarms.retry_base_ms", "expected an integer from 10 to 600000");
    BAD(alarms("'retry_max_ms':'1s'"), "alarms.retry_max_ms", "expected an integer");
    BAD(alarms("'retry_base_ms':500,'retry_max_ms':100"), "alarms.retry_max_ms",
        "expected at least retry_base_ms (500), got 100");
    BAD(alarms("'webhooks':{}"), "alarms.webhooks", "expected an array of webhooks");
    BAD(alarms("'webhooks':['http://x/']"), "alarms.webhooks[0]", "expected an object describing a webhook");
    BAD(hook("'url':'http://127.0.0.1/','color':'red'"), "alarms.webhooks[0].color", "");
    BAD(hook("'name':'ops'"), "alarms.webhooks[0]", "expected url");
    BAD(hook("'url':5"), "alarms.webhooks[0].url", "expected an http(s) URL string or a secret object");
    BAD(hook("'url':''"), "alarms.webhooks[0].url", "expected a non-empty");
    BAD(hook("'url':'ftp://h/x?token=FTPSECRET'"), "alarms.webhooks[0].url", "the scheme must be http or https");
    BAD(hook("'url':'not a url TOKSECRET'"), "alarms.webhooks[0].url", "expected an http:// or https:// URL");
    BAD(hook("'url':'https://user:PWSECRET@h/x'"), "alarms.webhooks[0].url", "a user name or password");
    BAD(hook("'url':{'env':'NO_SUCH_ALARM_URL_VAR'}"), "alarms.webhooks[0].url",
        "environment variable NO_SUCH_ALARM_URL_VAR is not set");
    BAD(hook("'url':{'path':'/x'}"), "alarms.webhooks[0].url.path", "");
    BAD(hook("'url':'http://h/','name':'a b'"), "alarms.webhooks[0].name", "");
    BAD(hook("'url':'http://h/','kind':'email'"), "alarms.webhooks[0].kind", "email");
    BAD(hook("'url':'http://h/','min_severity':'info'"), "alarms.webhooks[0].min_severity", "info");
    BAD(hook("'url':'http://h/','timeout_ms':50"), "alarms.webhooks[0].timeout_ms",
        "expected an integer from 100 to 120000, got 50");
    BAD(hook("'url':'http://h/','max_attempts':0"), "alarms.webhooks[0].max_attempts",
        "expected an integer from 1 to 100, got 0");
    BAD(hook("'url':'http://h/','routing_key':{'env':'PD_KEY_TEST'}"), "alarms.webhooks[0].routing_key",
        "expected only with kind \"pagerduty\"");
    BAD(hook("'url':'http://h/','kind':'pagerduty'"), "alarms.webhooks[0]", "expected routing_key");
    BAD(hook("'url':'http://h/','kind':'pagerduty','routing_key':'R0UTINGKEYliteral'"),
        "alarms.webhooks[0].routing_key", "expected a secret object");
    BAD(hook("'url':'http://h/','kind':'pagerduty','routing_key':{'env':'NO_SUCH_PD_VAR'}"),
        "alarms.webhooks[0].routing_key", "environment variable NO_SUCH_PD_VAR is not set");
    BAD(hook("'url':'http://h/','kind':'pagerduty','routing_key':{'file':'/nonexistent/pd-key'}"),
        "alarms.webhooks[0].routing_key", "/nonexistent/pd-key");
    BAD(hook("'url':'http://h/','kind':'pagerduty','routing_key':{'env':'PD_KEY_TEST','file':'/x'}"),
        "alarms.webhooks[0].routing_key", "exactly one of");
    BAD(alarms("'webhooks':[{'name':'a','url':'http://h/'},{'name':'a','url':'http://g/'}]"),
        "alarms.webhooks[1].name", "duplicate webhook name 'a' (also alarms.webhooks[0])");
    BAD("{'alarms':{},'alarms':{}," REGS "}", "alarms", "");
}

int main(void)
{
    test_good();
    test_bad();
    return check_finish();
}
