/* test_cfg_load.c — unit tests of the cfg module, continued (validation
 * paths are in test_cfg.c): secret values from files, the environment and
 * systemd credentials must never show in a message or in secret_source; good
 * configs must parse with the documented defaults; the error buffer.
 *
 * JSON in this file is written with ' for " (see parse()); test data files
 * come from $REGIOND_TEST_DATA (set by ctest), else tests/data. */
#include "config/cfg.h"
#include "tests/check.h"
#include "tests/test_cfg_kit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *secret_cfg(const char *v)
{
    snprintf(json, sizeof json, "{'regions':[{'name':'r1','api':[{" URL ",'headers':"
             "{'Accept':'application/json','x-api-key':%s}}]}]}", v);
    return json;
}

/* The header value of a good secret config, checking its source. */
static void good_secret(const char *v, const char *value, const char *source)
{
    cfg_t *c = parse(secret_cfg(v));
    CHECK(c != NULL);
    if (!c) {
        fprintf(stderr, "  unexpected error: %s\n", errbuf);
        return;
    }
    cfg_header_t *h = &c->regions[0].api[0].headers[1];
    CHECK(c->regions[0].api[0].n_headers == 2);
    CHECK(!c->regions[0].api[0].headers[0].secret);
    CHECK(c->regions[0].api[0].headers[0].secret_source == NULL);
    CHECK(strcmp(h->name, "x-api-key") == 0);
    CHECK(h->secret);
    CHECK(strcmp(h->value, value) == 0);
    CHECK(strcmp(h->secret_source, source) == 0);
    CHECK(strstr(h->secret_source, value) == NULL);
    cfg_free(c);
}

static void test_secret_files(void)
{
    char path[512], v[1200], want[1200];

    write_file("key", SECRET "\n", path, sizeof path);
    snprintf(v, sizeof v, "{'file':'%s'}", path);
    snprintf(want, sizeof want, "file:%s", path);
    good_secret(v, SECRET, want);
    write_file("key-nonl", SECRET, path, sizeof path);
    snprintf(v, sizeof v, "{'file':'%s'}", path);
    snprintf(want, sizeof want, "file:%s", path);
    good_secret(v, SECRET, want);

    snprintf(v, sizeof v, "{'file':'%s/missing'}", tmpdir);
    snprintf(want, sizeof want, "file %s/missing: cannot read: No such file or directory", tmpdir);
    BAD(secret_cfg(v), "regions[0].api[0].headers.x-api-key", want);
    snprintf(v, sizeof v, "{'file':'%s'}", tmpdir);
    BAD(secret_cfg(v), "regions[0].api[0].headers.x-api-key", "cannot read: Is a directory");
    BAD(secret_cfg("{'file':'key.txt'}"), "regions[0].api[0].headers.x-api-key.file",
        "expected an absolute path, got \"key.txt\"");
    BAD(secret_cfg("{'file':5}"), "regions[0].api[0].headers.x-api-key.file", "got 5");
    write_file("empty", "", path, sizeof path);
    snprintf(v, sizeof v, "{'file':'%s'}", path);
    BAD(secret_cfg(v), "regions[0].api[0].headers.x-api-key", "empty: expected a non-empty value");
    write_file("nl", "\n", path, sizeof path);
    snprintf(v, sizeof v, "{'file':'%s'}", path);
    BAD(secret_cfg(v), "regions[0].api[0].headers.x-api-key", "expected a non-empty value");
    static char big[70000];
    memset(big, 'k', sizeof big - 1);
    write_file("big", big, path, sizeof path);
    snprintf(v, sizeof v, "{'file':'%s'}", path);
    BAD(secret_cfg(v), "regions[0].api[0].headers.x-api-key", "big: expected at most 65536 bytes");
    write_file("two", SECRET "\n" SECRET "\n", path, sizeof path);
    snprintf(v, sizeof v, "{'file':'%s'}", path);
    BAD(secret_cfg(v), "regions[0].api[0].headers.x-api-key",
        "expected a single line without control characters");
    CHECK(strstr(errbuf, SECRET) == NULL);
    write_file("crlf", SECRET "\r\n", path, sizeof path);
    snprintf(v, sizeof v, "{'file':'%s'}", path);
    BAD(secret_cfg(v), "regions[0].api[0].headers.x-api-key", "expected a single line");
    CHECK(strstr(errbuf, SECRET) == NULL);

}

static void test_secret_env(void)
{
    setenv("REGIOND_TEST_SECRET", SECRET, 1);
    good_secret("{'env':'REGIOND_TEST_SECRET'}", SECRET, "env:REGIOND_TEST_SECRET");
    unsetenv("REGIOND_TEST_UNSET");
    BAD(secret_cfg("{'env':'REGIOND_TEST_UNSET'}"), "regions[0].api[0].headers.x-api-key",
        "environment variable REGIOND_TEST_UNSET is not set");
    setenv("REGIOND_TEST_EMPTY", "", 1);
    BAD(secret_cfg("{'env':'REGIOND_TEST_EMPTY'}"), "regions[0].api[0].headers.x-api-key",
        "environment variable REGIOND_TEST_EMPTY: expected a non-empty value");
    setenv("REGIOND_TEST_TWO", SECRET "\n" SECRET, 1);
    BAD(secret_cfg("{'env':'REGIOND_TEST_TWO'}"), "regions[0].api[0].headers.x-api-key",
        "environment variable REGIOND_TEST_TWO: expected a single line");
    CHECK(strstr(errbuf, SECRET) == NULL);
    BAD(secret_cfg("{'env':'1BAD'}"), "regions[0].api[0].headers.x-api-key.env",
        "expected an environment variable name ([A-Za-z_][A-Za-z0-9_]*), got \"1BAD\"");
    BAD(secret_cfg("{'env':'A-B'}"), "regions[0].api[0].headers.x-api-key.env", "got \"A-B\"");
    BAD(secret_cfg("{'env':''}"), "regions[0].api[0].headers.x-api-key.env", "got \"\"");

}

static void test_secret_forms(void)
{
    char path[512], other[512], v[1200], want[1200];
    const char *one = "expected exactly one of {\"file\": \"/path\"}, {\"env\": \"NAME\"} or "
                      "{\"credential\": \"NAME\"}";
    BAD(secret_cfg("{}"), "regions[0].api[0].headers.x-api-key", one);
    BAD(secret_cfg("{'file':'/k','env':'X'}"), "regions[0].api[0].headers.x-api-key", one);
    BAD(secret_cfg("{'credential':'k','env':'X'}"), "regions[0].api[0].headers.x-api-key", one);
    BAD(secret_cfg("{'credential':'../k'}"), "regions[0].api[0].headers.x-api-key.credential",
        "expected a credential name of 1 to 64 characters");
    BAD(secret_cfg("{'credential':'..'}"), "regions[0].api[0].headers.x-api-key.credential",
        "expected a credential name");

    /* credentials: $CREDENTIALS_DIRECTORY/NAME when set, else the file fallback */
    unsetenv("CREDENTIALS_DIRECTORY");
    BAD(secret_cfg("{'credential':'api-key'}"), "regions[0].api[0].headers.x-api-key",
        "credential api-key: CREDENTIALS_DIRECTORY is not set");
    write_file("fallback", "fallback-" SECRET "\n", other, sizeof other);
    snprintf(v, sizeof v, "{'credential':'api-key','file':'%s'}", other);
    snprintf(want, sizeof want, "file:%s", other);
    good_secret(v, "fallback-" SECRET, want);
    write_file("api-key", "cred-" SECRET "\n", path, sizeof path);
    setenv("CREDENTIALS_DIRECTORY", tmpdir, 1);
    good_secret("{'credential':'api-key'}", "cred-" SECRET, "credential:api-key");
    good_secret(v, "cred-" SECRET, "credential:api-key");
    BAD(secret_cfg("{'credential':'no-such-key'}"), "regions[0].api[0].headers.x-api-key",
        "no-such-key: cannot read: No such file or directory");
    unsetenv("CREDENTIALS_DIRECTORY");

    /* a secret read before a later error is wiped and never shown */
    BAD("{'regions':[{'name':'r1','api':[{" URL ","
        "'headers':{'x-api-key':{'env':'REGIOND_TEST_SECRET'}}},"
        "{'url':'ftp://x/'}]}]}", "regions[0].api[1].url", "the scheme must be http or https");
    CHECK(strstr(errbuf, SECRET) == NULL);
}

static void test_minimal(void)
{
    cfg_t *c = cfg_load(data_path("minimal.json"), errbuf, sizeof errbuf);
    CHECK(c != NULL);
    if (!c) {
        fprintf(stderr, "  unexpected error: %s\n", errbuf);
        return;
    }
    CHECK(strcmp(c->path, data_path("minimal.json")) == 0);
    CHECK(strcmp(c->controller.id, "regiond") == 0);
    CHECK(strcmp(c->controller.listen, "127.0.0.1:9470") == 0);
    CHECK(strcmp(c->controller.state_dir, "/var/lib/regiond") == 0);
    CHECK(c->controller.events_ring == 4096);
    CHECK(c->controller.max_probes_in_flight == 256);
    CHECK(strcmp(c->controller.log_level, "info") == 0);
    CHECK(c->resolver.n_servers == 0 && c->resolver.servers == NULL);
    CHECK(c->resolver.timeout_ms == 2000 && c->resolver.tries == 2);
    CHECK(c->resolver.min_ttl_s == 5 && c->resolver.max_ttl_s == 300);
    CHECK(c->resolver.negative_ttl_s == 5);
    CHECK(strcmp(c->tls.ca_file, "/etc/ssl/certs/ca-certificates.crt") == 0);
    CHECK(c->health.latency_window_s == 300);
    CHECK(c->n_regions == 1);
    cfg_region_t *r = &c->regions[0];
    CHECK(strcmp(r->name, "us-east-1") == 0);
    CHECK(r->rule == CFG_RULE_ALL && r->quorum == 1 && r->n_api == 1);
    cfg_api_t *a = &r->api[0];
    CHECK(strcmp(a->name, "api[0]") == 0);
    CHECK(strcmp(a->url, "https://abc.execute-api.us-east-1.amazonaws.com/prod/health") == 0);
    CHECK(strcmp(a->method, "GET") == 0);
    CHECK(a->body == NULL && a->body_contains == NULL && a->body_regex == NULL);
    CHECK(a->n_headers == 0 && a->headers == NULL);
    CHECK(a->n_expect_status == 1 && a->expect_status[0] == 200);
    CHECK(a->max_body_bytes == 65536);
    CHECK(a->interval_ms == 1000 && a->timeout_ms == 800 && a->connect_timeout_ms == 800);
    CHECK(a->latency_ms_max == 0 && a->rise == 2 && a->fall == 4);
    CHECK(!a->insecure && !a->keepalive);
    CHECK(a->full_handshake_s == 60 && a->max_addresses == 4 && a->ip_version == 0);
    cfg_free(c);
}

/* probe_defaults over built-ins, targets over probe_defaults; rules and quorum */
static void test_defaults(void)
{
    cfg_region_t *r;
    cfg_api_t *a;
    cfg_t *c = parse("{'probe_defaults':{'timeout_ms':500,'interval_ms':2000,'rise':5,"
              "'expect_status':[200,204],'keepalive':true,'ip_version':6},"
              "'regions':[{'name':'r','rule':'any','api':["
              "{'name':'one'," URL ",'rise':1,'expect_status':[301],'keepalive':false},"
              "{" URL ",'timeout_ms':300,'interval_ms':1e3,'ip_version':0}]}]}");
    CHECK(c != NULL);
    if (!c) {
        fprintf(stderr, "  unexpected error: %s\n", errbuf);
        return;
    }
    r = &c->regions[0];
    CHECK(r->rule == CFG_RULE_ANY && r->quorum == 1 && r->n_api == 2);
    a = &r->api[0];
    CHECK(strcmp(a->name, "one") == 0);
    CHECK(a->rise == 1 && a->fall == 4 && a->timeout_ms == 500 && a->interval_ms == 2000);
    CHECK(a->connect_timeout_ms == 500);
    CHECK(a->n_expect_status == 1 && a->expect_status[0] == 301);
    CHECK(!a->keepalive && a->ip_version == 6);
    a = &r->api[1];
    CHECK(strcmp(a->name, "api[1]") == 0);
    CHECK(a->rise == 5 && a->timeout_ms == 300 && a->connect_timeout_ms == 300);
    CHECK(a->interval_ms == 1000);
    CHECK(a->n_expect_status == 2 && a->expect_status[0] == 200 && a->expect_status[1] == 204);
    CHECK(a->keepalive && a->ip_version == 0);
    cfg_free(c);

    c = parse(region("'api':[{" URL "},{'name':'b'," URL "},{'name':'c'," URL "}]"));
    CHECK(c != NULL && c->regions[0].rule == CFG_RULE_ALL && c->regions[0].quorum == 3);
    cfg_free(c);
    c = parse(region("'rule':'quorum','quorum':2,"
                     "'api':[{" URL "},{'name':'b'," URL "},{'name':'c'," URL "}]"));
    CHECK(c != NULL && c->regions[0].rule == CFG_RULE_QUORUM && c->regions[0].quorum == 2);
    cfg_free(c);
    CHECK(strcmp(cfg_rule_str(CFG_RULE_ALL), "all") == 0);
    CHECK(strcmp(cfg_rule_str(CFG_RULE_ANY), "any") == 0);
    CHECK(strcmp(cfg_rule_str(CFG_RULE_QUORUM), "quorum") == 0);
}

static void test_full(void)
{
    char path[512];
    write_file("regiond-token", "Bearer tok-" SECRET "\n", path, sizeof path);
    setenv("CREDENTIALS_DIRECTORY", tmpdir, 1);
    setenv("REGIOND_TEST_API_KEY", "key-" SECRET, 1);
    cfg_t *c = cfg_load(data_path("full.json"), errbuf, sizeof errbuf);
    unsetenv("CREDENTIALS_DIRECTORY");
    CHECK(c != NULL);
    if (!c) {
        fprintf(stderr, "  unexpected error: %s\n", errbuf);
        return;
    }
    CHECK(strcmp(c->controller.id, "ctl-1") == 0);
    CHECK(strcmp(c->controller.listen, "[::1]:9471") == 0);
    CHECK(strcmp(c->controller.state_dir, "/var/lib/regiond-test") == 0);
    CHECK(c->controller.events_ring == 8192);
    CHECK(strcmp(c->controller.log_level, "debug") == 0);
    CHECK(c->resolver.n_servers == 2 && strcmp(c->resolver.servers[0], "127.0.0.1:5353") == 0);
    CHECK(strcmp(c->resolver.servers[1], "2001:db8::53") == 0);
    CHECK(c->resolver.timeout_ms == 1500 && c->resolver.tries == 3);
    CHECK(c->resolver.min_ttl_s == 10 && c->resolver.max_ttl_s == 600);
    CHECK(c->resolver.negative_ttl_s == 7);
    CHECK(strcmp(c->tls.ca_file, "/etc/regiond/ca.pem") == 0);
    CHECK(c->health.latency_window_s == 600);
    CHECK(c->n_regions == 2);

    cfg_region_t *r = &c->regions[0];
    CHECK(r->rule == CFG_RULE_QUORUM && r->quorum == 2 && r->n_api == 3);
    cfg_api_t *a = &r->api[0];
    CHECK(strcmp(a->name, "health") == 0 && strcmp(a->method, "POST") == 0);
    CHECK(a->n_headers == 3);
    CHECK(strcmp(a->headers[0].name, "Accept") == 0 && !a->headers[0].secret);
    CHECK(strcmp(a->headers[0].value, "application/json") == 0);
    CHECK(strcmp(a->headers[1].value, "key-" SECRET) == 0);
    CHECK(strcmp(a->headers[1].secret_source, "env:REGIOND_TEST_API_KEY") == 0);
    CHECK(strcmp(a->headers[2].name, "Authorization") == 0 && a->headers[2].secret);
    CHECK(strcmp(a->headers[2].value, "Bearer tok-" SECRET) == 0);
    CHECK(strcmp(a->headers[2].secret_source, "credential:regiond-token") == 0);
    CHECK(strcmp(a->body, "{\"probe\": true}") == 0);
    CHECK(a->n_expect_status == 1 && a->expect_status[0] == 200);
    CHECK(strcmp(a->body_contains, "ok") == 0);
    CHECK(strcmp(a->body_regex, "\"status\" *: *\"ok\"") == 0);
    CHECK(a->max_body_bytes == 1024 && a->interval_ms == 5000 && a->timeout_ms == 3000);
    CHECK(a->connect_timeout_ms == 1000 && a->latency_ms_max == 500);
    CHECK(a->rise == 1 && a->fall == 2 && a->insecure && !a->keepalive);
    CHECK(a->full_handshake_s == 30 && a->max_addresses == 8 && a->ip_version == 6);

    a = &r->api[1];                               /* everything from probe_defaults */
    CHECK(strcmp(a->name, "api[1]") == 0 && strcmp(a->method, "HEAD") == 0);
    CHECK(a->interval_ms == 2000 && a->timeout_ms == 1500 && a->connect_timeout_ms == 700);
    CHECK(a->rise == 4 && a->fall == 5 && a->max_body_bytes == 4096);
    CHECK(a->latency_ms_max == 900 && a->keepalive && !a->insecure);
    CHECK(a->full_handshake_s == 120 && a->max_addresses == 2 && a->ip_version == 4);
    CHECK(a->n_expect_status == 2 && a->expect_status[1] == 204);
    CHECK(strcmp(r->api[2].name, "orders") == 0 && r->api[2].body == NULL);
    CHECK(strcmp(c->regions[1].name, "eu-west-1") == 0);
    CHECK(c->regions[1].rule == CFG_RULE_ANY && c->regions[1].quorum == 1);
    cfg_free(c);
}

static void test_error_buffer(void)
{
    char small[12];
    memset(small, 'x', sizeof small);
    cfg_t *c = cfg_parse("{}", 2, "a-rather-long-file-name.json", small, sizeof small);
    CHECK(c == NULL);
    CHECK(strlen(small) == sizeof small - 1);
    c = cfg_parse("{}", 2, "t.json", NULL, 0);
    CHECK(c == NULL);
    c = cfg_parse("{'x'", 4, NULL, errbuf, sizeof errbuf);
    CHECK(c == NULL);
    CHECK_CONTAINS(errbuf, "(config): line 1");
    c = cfg_load("/nonexistent", NULL, 0);
    CHECK(c == NULL);
    cfg_free(NULL);
}

int main(void)
{
    char path[512];
    if (tmpdir_make() == -1)
        return 1;
    test_secret_files();
    test_secret_env();
    test_secret_forms();
    test_minimal();
    test_defaults();
    test_full();
    test_error_buffer();

    /* cfg_load on a temporary copy of a good file */
    write_file("good.json", "{\"regions\":[{\"name\":\"r\","
               "\"api\":[{\"url\":\"http://127.0.0.1:1/\"}]}]}", path, sizeof path);
    cfg_t *c = cfg_load(path, errbuf, sizeof errbuf);
    CHECK(c != NULL && strcmp(c->path, path) == 0);
    cfg_free(c);

    static const char *const files[] = { "key", "key-nonl", "empty", "nl", "big", "two", "crlf",
        "fallback", "api-key", "regiond-token", "good.json", NULL };
    tmpdir_remove(files);
    return check_finish();
}
