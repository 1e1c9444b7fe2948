/* test_cfg.c — unit tests of the cfg module.  Every validation path must fail
 * with NULL and a message that names the file, the exact key path and what
 * was expected; good configs must parse with the documented defaults; secret
 * values must never show in a message or in secret_source.
 *
 * JSON in this file is written with ' for " (see parse()); test data files
 * come from $REGIOND_TEST_DATA (set by ctest), else tests/data. */
#include "cfg.h"
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define URL "'url':'https://api.example.com/health'"
#define SECRET "s3cr3t-Value-42"

static char errbuf[CFG_ERR_SIZE];
static char tmpdir[] = "/tmp/test_cfg.XXXXXX";
static char json[8192];

/* Parse Q, a JSON text with ' for ", as file "t.json". */
static cfg_t *parse(const char *q)
{
    char *s = strdup(q);
    for (char *p = s; *p; p++)
        if (*p == '\'')
            *p = '"';
    cfg_t *cfg = cfg_parse(s, strlen(s), "t.json", errbuf, sizeof errbuf);
    free(s);
    return cfg;
}

/* A config whose one target has URL and the members X. */
static const char *api(const char *x)
{
    snprintf(json, sizeof json, "{'regions':[{'name':'r1','api':[{" URL "%s%s}]}]}",
             *x ? "," : "", x);
    return json;
}

/* A config whose one target has only the members X (no URL). */
static const char *api_raw(const char *x)
{
    snprintf(json, sizeof json, "{'regions':[{'name':'r1','api':[{%s}]}]}", x);
    return json;
}

/* A config with the top-level members X and one good region. */
static const char *top(const char *x)
{
    snprintf(json, sizeof json, "{%s,'regions':[{'name':'r1','api':[{" URL "}]}]}", x);
    return json;
}

/* A config whose one region has the members X besides its name. */
static const char *region(const char *x)
{
    snprintf(json, sizeof json, "{'regions':[{'name':'r1'%s%s}]}", *x ? "," : "", x);
    return json;
}

/* JSON must be rejected with "t.json: PATH: " and WHAT in the message. */
#define BAD(text, path, what) do { \
    cfg_t *c_ = parse(text); \
    CHECK(c_ == NULL); \
    CHECK_CONTAINS(errbuf, "t.json: " path ": "); \
    CHECK_CONTAINS(errbuf, what); \
    cfg_free(c_); \
} while (0)

/* Like BAD, for errors about the whole file (no key path). */
#define BAD_FILE(text, what) do { \
    cfg_t *c_ = parse(text); \
    CHECK(c_ == NULL); \
    CHECK_CONTAINS(errbuf, "t.json: " what); \
    cfg_free(c_); \
} while (0)

#define GOOD(text) do { \
    cfg_t *c_ = parse(text); \
    CHECK(c_ != NULL); \
    if (!c_) fprintf(stderr, "  unexpected error: %s\n", errbuf); \
    cfg_free(c_); \
} while (0)

static void write_file(const char *name, const char *content, char *path, size_t n)
{
    snprintf(path, n, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(content, f);
        fclose(f);
    }
}

static const char *data_path(const char *name)
{
    static char path[4096];
    const char *dir = getenv("REGIOND_TEST_DATA");
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "tests/data", name);
    return path;
}

static void test_file_errors(void)
{
    char path[512];
    cfg_t *c = cfg_load("/nonexistent/regiond.json", errbuf, sizeof errbuf);
    CHECK(c == NULL);
    CHECK_CONTAINS(errbuf, "/nonexistent/regiond.json: cannot read: No such file or directory");
    c = cfg_load(tmpdir, errbuf, sizeof errbuf);
    CHECK(c == NULL);
    CHECK_CONTAINS(errbuf, ": cannot read: Is a directory");
    c = cfg_load("/dev/null", errbuf, sizeof errbuf);
    CHECK(c == NULL);
    CHECK_CONTAINS(errbuf, "/dev/null: expected a regular file");
    write_file("bad.json", "{\n  \"regions\": [\n    {\"name\": \"a\",,}\n  ]\n}\n",
               path, sizeof path);
    c = cfg_load(path, errbuf, sizeof errbuf);
    CHECK(c == NULL);
    CHECK_CONTAINS(errbuf, path);
    CHECK_CONTAINS(errbuf, ": line 3, column 19: invalid JSON");
    write_file("empty.json", "", path, sizeof path);
    c = cfg_load(path, errbuf, sizeof errbuf);
    CHECK(c == NULL);
    CHECK_CONTAINS(errbuf, "empty.json: expected a JSON object, got an empty file");

    BAD_FILE("", "expected a JSON object, got an empty file");
    BAD_FILE("  \n\t ", "expected a JSON object, got an empty file");
    BAD_FILE("{'regions': [}", "line 1, column 14: invalid JSON");
    BAD_FILE("{'regions':[]} x", "line 1, column 16: invalid JSON");
    BAD_FILE("{'regions':[]}\n}", "line 2, column 1: invalid JSON");
    BAD_FILE("{'a': tru}", "line 1, column 7: invalid JSON");
    BAD_FILE("{'é': 'ü', x}", "line 1, column 13: invalid JSON");   /* characters, not bytes */
    BAD_FILE("[1, 2]", "expected a JSON object at the top level, got an array");
    BAD_FILE("42", "expected a JSON object at the top level, got 42");
    BAD_FILE("'regions'", "expected a JSON object at the top level, got \"regions\"");
    c = cfg_parse("{}\0{}", 5, "t.json", errbuf, sizeof errbuf);   /* embedded NUL */
    CHECK(c == NULL);
    CHECK_CONTAINS(errbuf, "t.json: line 1, column 3: invalid JSON");
    c = cfg_parse(NULL, 0, "t.json", errbuf, sizeof errbuf);
    CHECK(c == NULL);
    CHECK_CONTAINS(errbuf, "t.json: expected a JSON object, got an empty file");
}

static void test_unknown_and_duplicate_keys(void)
{
    BAD("{'regoins':[]}", "regoins", "unknown key 'regoins' (did you mean 'regions'?)");
    BAD(top("'probe_defaults':{'intreval_ms':1000}"), "probe_defaults.intreval_ms",
        "unknown key 'intreval_ms' (did you mean 'interval_ms'?)");
    BAD(top("'controller':{'listne':'127.0.0.1:1'}"), "controller.listne",
        "unknown key 'listne' (did you mean 'listen'?)");
    BAD(top("'resolver':{'server':[]}"), "resolver.server", "(did you mean 'servers'?)");
    BAD(top("'tls':{'cafile':'/x'}"), "tls.cafile", "(did you mean 'ca_file'?)");
    BAD(top("'health':{'latency_window':60}"), "health.latency_window",
        "(did you mean 'latency_window_s'?)");
    BAD(region("'rules':'all'"), "regions[0].rules", "(did you mean 'rule'?)");
    BAD(api("'urll':'x'"), "regions[0].api[0].urll", "(did you mean 'url'?)");
    BAD(api("'Timeout_ms':5"), "regions[0].api[0].Timeout_ms", "(did you mean 'timeout_ms'?)");
    BAD(top("'zzz':1"), "zzz", "unknown key 'zzz' (expected one of controller, resolver, tls, "
        "health, probe_defaults, regions, aws, route53, decision, dynamodb, alarms)");
    BAD(api("'verify':false"), "regions[0].api[0].verify",
        "unknown key 'verify' (expected one of name, url,");
    BAD(api("'headers':{'x-api-key':{'path':'/k'}}"), "regions[0].api[0].headers.x-api-key.path",
        "unknown key 'path' (expected one of file, env, credential)");
    BAD(api("'headers':{'x-api-key':{'files':'/k'}}"), "regions[0].api[0].headers.x-api-key.files",
        "(did you mean 'file'?)");

    BAD("{'regions':[], 'regions':[]}", "regions", "duplicate key");
    BAD(top("'controller':{'id':'a','id':'b'}"), "controller.id", "duplicate key");
    BAD(api("'timeout_ms':100,'timeout_ms':200"), "regions[0].api[0].timeout_ms", "duplicate key");
    BAD(api("'headers':{'Accept':'a','Accept':'b'}"), "regions[0].api[0].headers.Accept",
        "duplicate key");
    BAD(api("'headers':{'Accept':'a','accept':'b'}"), "regions[0].api[0].headers.accept",
        "duplicate header name (also regions[0].api[0].headers.Accept");
    /* the duplicate is found before anything else is checked */
    BAD("{'x':1,'regions':[{'name':'a','name':'b'}]}", "regions[0].name", "duplicate key");
}

static void test_integers(void)
{
    const char *w = "expected an integer from 1 to 600000, got ";
    char want[128];
#define BAD_INT(x, got) do { snprintf(want, sizeof want, "%s%s", w, got); \
        BAD(api("'timeout_ms':" x), "regions[0].api[0].timeout_ms", want); } while (0)
    BAD_INT("2.7", "2.7");
    BAD_INT("1e400", "a number too large to represent");
    BAD_INT("-1e400", "a number too large to represent");
    BAD_INT("-5", "-5");
    BAD_INT("0", "0");
    BAD_INT("600001", "600001");
    BAD_INT("99999999999999", "99999999999999");
    BAD_INT("true", "true");
    BAD_INT("'800'", "\"800\"");
    BAD_INT("null", "null");
    BAD_INT("[800]", "an array");
    BAD_INT("{}", "an empty object");
#undef BAD_INT
}

static void test_ranges(void)
{
    BAD(api("'interval_ms':99"), "regions[0].api[0].interval_ms",
        "expected an integer from 100 to 3600000, got 99");
    BAD(api("'interval_ms':3600001"), "regions[0].api[0].interval_ms", "from 100 to 3600000");
    BAD(api("'connect_timeout_ms':0"), "regions[0].api[0].connect_timeout_ms",
        "from 1 to 600000, got 0");
    BAD(api("'rise':0"), "regions[0].api[0].rise", "expected an integer from 1 to 100, got 0");
    BAD(api("'rise':101"), "regions[0].api[0].rise", "from 1 to 100, got 101");
    BAD(api("'fall':101"), "regions[0].api[0].fall", "from 1 to 100, got 101");
    BAD(api("'fall':1.5"), "regions[0].api[0].fall", "from 1 to 100, got 1.5");
    BAD(api("'max_body_bytes':0"), "regions[0].api[0].max_body_bytes", "from 1 to 67108864, got 0");
    BAD(api("'max_body_bytes':67108865"), "regions[0].api[0].max_body_bytes", "got 67108865");
    BAD(api("'latency_ms_max':-1"), "regions[0].api[0].latency_ms_max", "from 0 to 600000, got -1");
    BAD(api("'latency_ms_max':600001"), "regions[0].api[0].latency_ms_max", "got 600001");
    BAD(api("'full_handshake_s':0"), "regions[0].api[0].full_handshake_s",
        "from 1 to 86400, got 0");
    BAD(api("'full_handshake_s':86401"), "regions[0].api[0].full_handshake_s", "got 86401");
    BAD(api("'max_addresses':0"), "regions[0].api[0].max_addresses", "from 1 to 64, got 0");
    BAD(api("'max_addresses':65"), "regions[0].api[0].max_addresses", "from 1 to 64, got 65");
    BAD(api("'ip_version':5"), "regions[0].api[0].ip_version", "expected 0 (both), 4 or 6, got 5");
    BAD(api("'ip_version':'4'"), "regions[0].api[0].ip_version",
        "expected 0 (both), 4 or 6, got \"4\"");
    BAD(api("'ip_version':4.5"), "regions[0].api[0].ip_version", "got 4.5");
    BAD(api("'keepalive':'yes'"), "regions[0].api[0].keepalive",
        "expected true or false, got \"yes\"");
    BAD(api("'insecure':1"), "regions[0].api[0].insecure", "expected true or false, got 1");
    BAD(top("'probe_defaults':{'rise':0}"), "probe_defaults.rise", "from 1 to 100, got 0");
    BAD(top("'probe_defaults':{'keepalive':null}"), "probe_defaults.keepalive", "got null");
    BAD(top("'controller':{'events_ring':15}"), "controller.events_ring",
        "expected an integer from 16 to 1000000, got 15");
    BAD(top("'controller':{'events_ring':1000001}"), "controller.events_ring", "got 1000001");
    BAD(top("'resolver':{'timeout_ms':9}"), "resolver.timeout_ms", "from 10 to 60000, got 9");
    BAD(top("'resolver':{'tries':11}"), "resolver.tries", "from 1 to 10, got 11");
    BAD(top("'resolver':{'min_ttl_s':-1}"), "resolver.min_ttl_s", "from 0 to 86400, got -1");
    BAD(top("'resolver':{'max_ttl_s':0}"), "resolver.max_ttl_s", "from 1 to 86400, got 0");
    BAD(top("'resolver':{'negative_ttl_s':3601}"), "resolver.negative_ttl_s",
        "from 0 to 3600, got 3601");
    BAD(top("'health':{'latency_window_s':9}"), "health.latency_window_s",
        "from 10 to 86400, got 9");
    BAD(top("'resolver':{'min_ttl_s':400}"), "resolver.min_ttl_s",
        "expected at most max_ttl_s (300), got 400");
    BAD(top("'resolver':{'max_ttl_s':3}"), "resolver.max_ttl_s",
        "expected at least min_ttl_s (5), got 3");
}

static void test_expect_status(void)
{
    BAD(api("'expect_status':[]"), "regions[0].api[0].expect_status",
        "expected a non-empty array of HTTP status codes, got an empty array");
    BAD(api("'expect_status':200"), "regions[0].api[0].expect_status", "got 200");
    BAD(api("'expect_status':[200, 99]"), "regions[0].api[0].expect_status[1]",
        "expected an integer from 100 to 599, got 99");
    BAD(api("'expect_status':[600]"), "regions[0].api[0].expect_status[0]", "got 600");
    BAD(api("'expect_status':['200']"), "regions[0].api[0].expect_status[0]", "got \"200\"");
    BAD(api("'expect_status':[200, 204, 200]"), "regions[0].api[0].expect_status[2]",
        "duplicate status 200 (also expect_status[0])");
    BAD(top("'probe_defaults':{'expect_status':[]}"), "probe_defaults.expect_status",
        "expected a non-empty array");
}

static void test_strings(void)
{
    const char *name = "expected a name of 1 to 64 characters A-Z a-z 0-9 . _ -";
    BAD(top("'controller':{'id':5}"), "controller.id", name);
    BAD(top("'controller':{'id':'bad id'}"), "controller.id", "got \"bad id\"");
    BAD(top("'controller':{'id':''}"), "controller.id", "got \"\"");
    BAD(top("'controller':{'id':'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'}"),                 /* 65 */
        "controller.id", name);
    BAD(top("'controller':{'id':'a\\u0001b'}"), "controller.id", "got \"a\\u0001b\"");
    BAD(top("'controller':{'state_dir':'/a\\u0001b'}"), "controller.state_dir",
        "expected an absolute path without control characters");
    BAD(top("'controller':{'log_level':'verbose'}"), "controller.log_level",
        "expected one of debug, info, notice, warning, error, got \"verbose\"");
    BAD(top("'controller':{'log_level':'INFO'}"), "controller.log_level", "got \"INFO\"");
    BAD(top("'controller':{'state_dir':'var/lib/regiond'}"), "controller.state_dir",
        "expected an absolute path, got \"var/lib/regiond\"");
    BAD(top("'controller':{'state_dir':''}"), "controller.state_dir", "expected an absolute path");
    BAD(top("'tls':{'ca_file':'ca.pem'}"), "tls.ca_file",
        "expected an absolute path, got \"ca.pem\"");
    BAD(top("'tls':{'ca_file':null}"), "tls.ca_file", "expected an absolute path, got null");
    BAD(top("'controller':[]"), "controller", "expected an object, got an empty array");
    BAD(top("'probe_defaults':5"), "probe_defaults", "expected an object, got 5");
    BAD(top("'health':'x'"), "health", "expected an object, got \"x\"");
    BAD(api("'method':'get'"), "regions[0].api[0].method",
        "expected one of GET, HEAD, POST, PUT, OPTIONS, got \"get\"");
    BAD(api("'method':'DELETE'"), "regions[0].api[0].method", "got \"DELETE\"");
    BAD(api("'body':5"), "regions[0].api[0].body", "expected a string, got 5");
    BAD(api("'body_contains':''"), "regions[0].api[0].body_contains",
        "expected a non-empty string, got \"\"");
    BAD(api("'body_regex':false"), "regions[0].api[0].body_regex", "expected a non-empty string");
    BAD(api("'body_regex':'(ok'"), "regions[0].api[0].body_regex",
        "expected a POSIX extended regular expression, got an invalid one (");
    BAD(api("'body_regex':'a{2,1}'"), "regions[0].api[0].body_regex", "regular expression");
    BAD(api("'name':'api[1]'"), "regions[0].api[0].name", name);
    /* a long string is cut in the message */
    BAD(top("'controller':{'id':'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
            "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'}"),
        "controller.id", "xxxxxxxxxxxxxxxxxxxx...\"");
}

static void test_headers(void)
{
    BAD(api("'headers':[]"), "regions[0].api[0].headers",
        "expected an object of header names to values, got an empty array");
    BAD(api("'headers':{'Bad Name':'x'}"), "regions[0].api[0].headers.Bad Name",
        "expected a header name of letters, digits and");
    BAD(api("'headers':{'':'x'}"), "regions[0].api[0].headers.", "expected a header name");
    BAD(api("'headers':{'X-Ctl\\u0001':'x'}"), "regions[0].api[0].headers.X-Ctl?",
        "expected a header name");
    BAD(api("'headers':{'X-Test':'a\\r\\nInjected: yes'}"), "regions[0].api[0].headers.X-Test",
        "expected a header value without control characters");
    CHECK(strstr(errbuf, "Injected") == NULL);
    BAD(api("'headers':{'X-Test':'tab\\there'}"), "regions[0].api[0].headers.X-Test",
        "without control characters");
    BAD(api("'headers':{'X-Test':5}"), "regions[0].api[0].headers.X-Test",
        "expected a non-empty string or a secret object, got 5");
    BAD(api("'headers':{'X-Test':''}"), "regions[0].api[0].headers.X-Test",
        "expected a non-empty string or a secret object, got \"\"");
    BAD(api("'headers':{'X-Test':null}"), "regions[0].api[0].headers.X-Test", "got null");
    BAD(api("'headers':{'content-length':'5'}"), "regions[0].api[0].headers.content-length",
        "expected a header that regiond does not set itself");
    BAD(api("'headers':{'Transfer-Encoding':'chunked'}"),
        "regions[0].api[0].headers.Transfer-Encoding", "does not set itself");
}

static void test_regions(void)
{
    const char *name = "expected a name of 1 to 64 characters A-Z a-z 0-9 . _ -";
    BAD("{}", "regions", "expected a non-empty array of regions, got nothing");
    BAD("{'regions':[]}", "regions", "expected a non-empty array of regions, got an empty array");
    BAD("{'regions':{}}", "regions", "got an empty object");
    BAD("{'regions':null}", "regions", "got null");
    BAD("{'regions':[5]}", "regions[0]", "expected an object describing a region, got 5");
    BAD("{'regions':[{'api':[{" URL "}]}]}", "regions[0].name", "got nothing");
    BAD("{'regions':[{'name':'us east','api':[{" URL "}]}]}", "regions[0].name", "got \"us east\"");
    BAD("{'regions':[{'name':'','api':[{" URL "}]}]}", "regions[0].name", name);
    BAD("{'regions':[{'name':'a/b','api':[{" URL "}]}]}", "regions[0].name", name);
    BAD("{'regions':[{'name':'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',"
        "'api':[{" URL "}]}]}", "regions[0].name", name);
    BAD(region(""), "regions[0].api", "expected a non-empty array of probe targets, got nothing");
    BAD(region("'api':[]"), "regions[0].api", "got an empty array");
    BAD(region("'api':{}"), "regions[0].api", "got an empty object");
    BAD(region("'api':['x']"), "regions[0].api[0]",
        "expected an object describing a probe target, got \"x\"");
    BAD("{'regions':[{'name':'eu-west-1','api':[{" URL "}]},{'name':'us-east-1','api':[{" URL "}]},"
        "{'name':'eu-west-1','api':[{" URL "}]}]}", "regions[2].name",
        "duplicate region name 'eu-west-1' (also regions[0].name)");
    BAD(region("'api':[{'name':'h'," URL "},{" URL "},{'name':'h'," URL "}]"),
        "regions[0].api[2].name",
        "duplicate target name 'h' (also regions[0].api[0].name)");
    BAD(region("'rule':'majority','api':[{" URL "}]"), "regions[0].rule",
        "expected one of all, any, quorum, got \"majority\"");
    BAD(region("'rule':'quorum','api':[{" URL "}]"), "regions[0].quorum",
        "expected an integer from 1 to 1 (the number of api targets), got nothing");
    BAD(region("'rule':'quorum','quorum':3,'api':[{" URL "},{'name':'b'," URL "}]"),
        "regions[0].quorum",
        "expected an integer from 1 to 2 (the number of api targets), got 3");
    BAD(region("'rule':'quorum','quorum':0,'api':[{" URL "}]"), "regions[0].quorum", "got 0");
    BAD(region("'rule':'quorum','quorum':'1','api':[{" URL "}]"), "regions[0].quorum", "got \"1\"");
    BAD(region("'rule':'all','quorum':1,'api':[{" URL "}]"), "regions[0].quorum",
        "expected no quorum with rule \"all\"");
    BAD(region("'quorum':1,'api':[{" URL "}]"), "regions[0].quorum",
        "expected no quorum with rule \"all\"");
    BAD(region("'rule':'any','quorum':1,'api':[{" URL "}]"), "regions[0].quorum", "rule \"any\"");
    /* errors are reported with the index of the region and target */
    BAD("{'regions':[{'name':'a','api':[{" URL "}]},"
        "{'name':'b','api':[{" URL "},{" URL ",'timeout_ms':2.7}]}]}",
        "regions[1].api[1].timeout_ms", "expected an integer from 1 to 600000, got 2.7");
}

static void test_urls(void)
{
    const char *want = "expected an http:// or https:// URL";
    BAD(api_raw("'name':'x'"), "regions[0].api[0].url",
        "expected an http:// or https:// URL, got nothing");
    BAD(api_raw("'url':''"), "regions[0].api[0].url", "expected a non-empty string, got \"\"");
    BAD(api_raw("'url':5"), "regions[0].api[0].url", "got 5");
    BAD(api_raw("'url':'ftp://example.com/x'"), "regions[0].api[0].url",
        "expected an http:// or https:// URL with a host, got \"ftp://example.com/x\" "
        "(the scheme must be http or https)");
    BAD(api_raw("'url':'gopher://example.com/'"), "regions[0].api[0].url", want);
    BAD(api_raw("'url':'example.com/health'"), "regions[0].api[0].url", want);
    BAD(api_raw("'url':'http://'"), "regions[0].api[0].url", want);
    BAD(api_raw("'url':'http:///health'"), "regions[0].api[0].url", want);
    BAD(api_raw("'url':'https://exa mple.com/'"), "regions[0].api[0].url", want);
    BAD(api_raw("'url':'https://example.com:99999/'"), "regions[0].api[0].url", want);
    BAD(api_raw("'url':'https://example.com:0/'"), "regions[0].api[0].url",
        "(the port must be from 1 to 65535)");
    BAD(api_raw("'url':'http:///x'"), "regions[0].api[0].url", "(no host)");
    BAD(api_raw("'url':'https://user:hunter2@example.com/'"), "regions[0].api[0].url",
        "expected a URL without a user name or password");
    CHECK(strstr(errbuf, "hunter2") == NULL);
    BAD(api_raw("'url':'https://hunter3@example.com/'"), "regions[0].api[0].url",
        "without a user name");
    CHECK(strstr(errbuf, "hunter3") == NULL);
    BAD(api_raw("'url':'https://a\\nb/'"), "regions[0].api[0].url", "without control characters");
    GOOD(api_raw("'url':'http://[::1]:8080/health'"));
    GOOD(api_raw("'url':'https://127.0.0.1/'"));
    GOOD(api_raw("'url':'HTTPS://Example.COM/path?q=1'"));
}

static void test_timeouts_and_methods(void)
{
    BAD(api("'timeout_ms':1000"), "regions[0].api[0].timeout_ms",
        "expected less than interval_ms (1000), got 1000");
    BAD(api("'interval_ms':500"), "regions[0].api[0].interval_ms",
        "expected more than timeout_ms (800), got 500");
    BAD(api("'interval_ms':500,'timeout_ms':600"), "regions[0].api[0].timeout_ms",
        "expected less than interval_ms (500), got 600");
    BAD(top("'probe_defaults':{'timeout_ms':1500}"), "probe_defaults.timeout_ms",
        "expected less than interval_ms (1000), got 1500 (for regions[0].api[0])");
    BAD(top("'probe_defaults':{'interval_ms':500}"), "probe_defaults.interval_ms",
        "expected more than timeout_ms (800), got 500 (for regions[0].api[0])");
    BAD(api("'connect_timeout_ms':900"), "regions[0].api[0].connect_timeout_ms",
        "expected at most timeout_ms (800), got 900");
    BAD("{'probe_defaults':{'connect_timeout_ms':800},'regions':[{'name':'r','api':[{" URL
        ",'timeout_ms':500}]}]}", "regions[0].api[0].timeout_ms",
        "expected at least connect_timeout_ms (800), got 500");
    GOOD("{'probe_defaults':{'timeout_ms':1500},'regions':[{'name':'r','api':[{" URL
         ",'interval_ms':2000}]}]}");

    BAD(api("'body':'x'"), "regions[0].api[0].body",
        "expected no request body with method GET (use POST or PUT)");
    BAD(api("'method':'HEAD','body':'x'"), "regions[0].api[0].body", "with method HEAD");
    BAD(api("'method':'HEAD','body_contains':'ok'"), "regions[0].api[0].body_contains",
        "expected no body check with method HEAD");
    BAD(api("'method':'HEAD','body_regex':'ok'"), "regions[0].api[0].body_regex",
        "expected no body check with method HEAD");
    GOOD(api("'method':'POST','body':''"));
    GOOD(api("'method':'PUT','body':'{}'"));
    GOOD(api("'method':'OPTIONS','body':null,'body_contains':null,'body_regex':null"));
}

static void test_listen_and_servers(void)
{
    static const char *const bad_listen[] = {
        "localhost:9470", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:09470",
        "127.0.0.1:abc", "127.0.0.1:", "[::1]", "[::1]:", "::1:9470", "[::1]9470",
        "[127.0.0.1]:80", "1.2.3:80", "unix:relative.sock", "unix:",
        NULL };
    static const char *const good_listen[] = {
        "127.0.0.1:9470", "0.0.0.0:1", "[::1]:9470", "[::]:65535", "unix:/run/regiond/api.sock",
        NULL };
    char x[512];
    for (size_t i = 0; bad_listen[i]; i++) {
        snprintf(x, sizeof x, "'controller':{'listen':'%s'}", bad_listen[i]);
        BAD(top(x), "controller.listen",
            "expected \"IPv4:PORT\", \"[IPv6]:PORT\" or \"unix:/absolute/path\"");
    }
    for (size_t i = 0; good_listen[i]; i++) {
        snprintf(x, sizeof x, "'controller':{'listen':'%s'}", good_listen[i]);
        GOOD(top(x));
    }
    snprintf(x, sizeof x, "'controller':{'listen':'unix:/%0107d'}", 0);   /* 108 bytes */
    BAD(top(x), "controller.listen", "\"unix:/absolute/path\" (at most 107 bytes)");
    snprintf(x, sizeof x, "'controller':{'listen':'unix:/%0106d'}", 0);
    GOOD(top(x));
    BAD(top("'controller':{'listen':''}"), "controller.listen", "expected a non-empty string");
    BAD(top("'controller':{'listen':9470}"), "controller.listen", "got 9470");

    static const char *const bad_servers[] = {
        "'dns.google'", "'1.1.1.1:0'", "'1.1.1.1:70000'", "5", "'[::1]:'", "'1.1.1'",
        "'1.1.1.1:53:53'", "'[1.1.1.1]:53'", "''", "null", NULL };
    for (size_t i = 0; bad_servers[i]; i++) {
        snprintf(x, sizeof x, "'resolver':{'servers':['127.0.0.1', %s]}", bad_servers[i]);
        BAD(top(x), "resolver.servers[1]", "expected an IP address with an optional port");
    }
    BAD(top("'resolver':{'servers':'127.0.0.1'}"), "resolver.servers",
        "expected an array of IP addresses, got \"127.0.0.1\"");
    cfg_t *c = parse(top("'resolver':{'servers':['1.1.1.1','1.1.1.1:53','2001:db8::1',"
                         "'[2001:db8::1]:5353','[::1]']}"));
    CHECK(c != NULL);
    if (c) {
        CHECK(c->resolver.n_servers == 5);
        CHECK(strcmp(c->resolver.servers[3], "[2001:db8::1]:5353") == 0);
    }
    cfg_free(c);
    c = parse(top("'resolver':{'servers':[]}"));
    CHECK(c != NULL && c->resolver.n_servers == 0);
    cfg_free(c);
}

/* A config whose one target sends header x-api-key with the JSON value V. */
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
    unsetenv("CREDENTIALS_DIRECTORY");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_file_errors();
    test_unknown_and_duplicate_keys();
    test_integers();
    test_ranges();
    test_expect_status();
    test_strings();
    test_headers();
    test_regions();
    test_urls();
    test_timeouts_and_methods();
    test_listen_and_servers();
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

    static const char *const files[] = { "bad.json", "empty.json", "key", "key-nonl", "empty",
        "nl", "big", "two", "crlf", "fallback", "api-key", "regiond-token", "good.json", NULL };
    for (size_t i = 0; files[i]; i++) {
        snprintf(path, sizeof path, "%s/%s", tmpdir, files[i]);
        unlink(path);
    }
    rmdir(tmpdir);
    return check_finish();
}
