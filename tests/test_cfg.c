/* test_cfg.c — unit tests of the cfg module: every validation path must fail
 * with NULL and a message that names the file, the exact key path and what
 * was expected.  Secrets, good configs and their defaults are in
 * test_cfg_load.c.
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
        "health, probe_defaults, regions, aws, route53, decision, dynamodb, alarms, cluster)");
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
    BAD(top("'controller':{'max_probes_in_flight':0}"), "controller.max_probes_in_flight",
        "expected an integer from 1 to 1000000, got 0");
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
int main(void)
{
    if (tmpdir_make() == -1)
        return 1;
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

    static const char *const files[] = { "bad.json", "empty.json", NULL };
    tmpdir_remove(files);
    return check_finish();
}
