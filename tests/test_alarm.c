/* test_alarm — alarms on the real loop against a child python3 HTTP receiver
 * on 127.0.0.1: keyed de-duplication, one trigger and one resolve per webhook
 * in order, retries with growing gaps after 500s, the PagerDuty Events v2
 * body, status, metrics, feed events, and no secret in any log line. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>

#include "core/alarm.h"
#include "config/cfg.h"
#include "tests/check.h"
#include "core/feed.h"
#include "core/log.h"
#include "core/loop.h"
#include "tests/pyserver_kit.h"
#include "core/resolver.h"
#include "core/state.h"

#define PD_KEY "PDKEYsecret0123456789"
#define URL_TOKEN "URLTOKENsecret42"
#define FAILS 3
#define KEY "region.us-east-1.down"

static const char *const server_py =
    "import http.server, json, sys, threading, time\n"
    "out, fails = sys.argv[1], int(sys.argv[2])\n"
    "lock = threading.Lock()\n"
    "seen = {'json': 0}\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    protocol_version = 'HTTP/1.1'\n"
    "    def log_message(self, *a): pass\n"
    "    def do_POST(self):\n"
    "        body = self.rfile.read(int(self.headers.get('Content-Length', '0')))\n"
    "        hook = self.path.split('?')[0].strip('/')\n"
    "        with lock:\n"
    "            code = 202 if hook == 'pd' else 200\n"
    "            if hook == 'json':\n"
    "                seen['json'] += 1\n"
    "                if seen['json'] <= fails: code = 500\n"
    "            with open(out, 'a') as f:\n"
    "                f.write(json.dumps({'hook': hook, 't': time.monotonic(), 'code': code,\n"
    "                                    'ct': self.headers.get('Content-Type'),\n"
    "                                    'body': body.decode()}) + '\\n')\n"
    "        b = b'{}'\n"
    "        self.send_response(code)\n"
    "        self.send_header('Content-Length', str(len(b)))\n"
    "        self.end_headers()\n"
    "        self.wfile.write(b)\n"
    "srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)\n"
    "srv.daemon_threads = True\n"
    "print(srv.server_address[1], flush=True)\n"
    "srv.serve_forever()\n";

static char tmpdir[64], recpath[128];
static int server_port;

static int start_server(void)
{
    char fails[8], buf[32];
    snprintf(fails, sizeof fails, "%d", FAILS);
    char *argv[] = {"python3", "-c", (char *)server_py, recpath, fails, NULL};
    if (pyserver_start(argv, buf, sizeof buf) == -1)
        return -1;
    return sscanf(buf, "%d", &server_port) == 1 && server_port > 0 ? 0 : -1;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return strdup("");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = calloc(1, (size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n)
        buf[0] = '\0';
    fclose(f);
    return buf;
}

/* Received requests, in arrival order. */
typedef struct {
    char hook[8];
    double t;
    int code;
    cJSON *body;
} rec_t;
static rec_t recs[64];
static int n_recs;

static void load_recs(void)
{
    for (int i = 0; i < n_recs; i++)
        cJSON_Delete(recs[i].body);
    n_recs = 0;
    char *text = slurp(recpath), *save = NULL;
    for (char *l = strtok_r(text, "\n", &save); l && n_recs < 64; l = strtok_r(NULL, "\n", &save)) {
        cJSON *o = cJSON_Parse(l);
        if (!o)
            continue;
        rec_t *r = &recs[n_recs++];
        snprintf(r->hook, sizeof r->hook, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(o, "hook")));
        r->t = cJSON_GetNumberValue(cJSON_GetObjectItem(o, "t"));
        r->code = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "code"));
        const char *ct = cJSON_GetStringValue(cJSON_GetObjectItem(o, "ct"));
        CHECK(ct && strcmp(ct, "application/json") == 0);
        r->body = cJSON_Parse(cJSON_GetStringValue(cJSON_GetObjectItem(o, "body")));
        CHECK(r->body != NULL);
        cJSON_Delete(o);
    }
    free(text);
}

static int want_recs;
static void on_poll(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    load_recs();
    if (n_recs >= want_recs)
        event_base_loopbreak(loop_base());
}

/* Run the loop until WANT requests arrived or MS pass; then SETTLE ms more. */
static void run_until(int want, uint64_t ms, uint64_t settle)
{
    struct event *t = event_new(loop_base(), -1, EV_PERSIST, on_poll, NULL);
    struct timeval tv = { 0, 20000 };
    want_recs = want;
    evtimer_add(t, &tv);
    uint64_t end = loop_now_ms() + ms;
    while (n_recs < want && loop_now_ms() < end)
        event_base_loop(loop_base(), EVLOOP_ONCE);
    want_recs = 1 << 30;
    end = loop_now_ms() + settle;
    while (loop_now_ms() < end)
        event_base_loop(loop_base(), EVLOOP_ONCE);
    event_free(t);
    load_recs();
}

static const char *str_at(const cJSON *o, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItem(o, a);
    if (b)
        v = cJSON_GetObjectItem(v, b);
    return cJSON_GetStringValue(v) ? cJSON_GetStringValue(v) : "";
}

static cfg_t *make_cfg(void)
{
    char json[2048], err[CFG_ERR_SIZE];
    setenv("ALARM_TEST_PD_KEY", PD_KEY, 1);
    snprintf(json, sizeof json,
             "{\"controller\":{\"id\":\"test-ctl\"},"
             "\"regions\":[{\"name\":\"r\",\"api\":[{\"url\":\"http://127.0.0.1:1/h\"}]}],"
             "\"alarms\":{\"retry_base_ms\":100,\"retry_max_ms\":2000,\"webhooks\":["
             "{\"name\":\"ops\",\"url\":\"http://127.0.0.1:%d/json?token=" URL_TOKEN "\",\"timeout_ms\":2000},"
             "{\"name\":\"pd\",\"url\":\"http://127.0.0.1:%d/pd\",\"kind\":\"pagerduty\","
             "\"routing_key\":{\"env\":\"ALARM_TEST_PD_KEY\"}},"
             "{\"name\":\"chat\",\"url\":\"http://127.0.0.1:%d/slack\",\"kind\":\"slack\","
             "\"min_severity\":\"critical\"}]}}", server_port, server_port, server_port);
    cfg_t *cfg = cfg_parse(json, strlen(json), "t.json", err, sizeof err);
    if (!cfg)
        fprintf(stderr, "config: %s\n", err);
    return cfg;
}

static void check_json_hook(void)
{
    rec_t *j[16];
    int n = 0;
    for (int i = 0; i < n_recs && n < 16; i++)
        if (strcmp(recs[i].hook, "json") == 0)
            j[n++] = &recs[i];
    CHECK_EQ_INT(n, FAILS + 2);   /* 3 failed attempts, the trigger, the resolve */
    if (n != FAILS + 2)
        return;
    for (int i = 0; i <= FAILS; i++) {
        CHECK_EQ_INT(j[i]->code, i < FAILS ? 500 : 200);
        CHECK(strcmp(str_at(j[i]->body, "state", NULL), "firing") == 0);
    }
    const cJSON *b = j[FAILS]->body;
    CHECK(strcmp(str_at(b, "key", NULL), KEY) == 0);
    CHECK(strcmp(str_at(b, "severity", NULL), "critical") == 0);
    CHECK(strcmp(str_at(b, "summary", NULL), "region us-east-1 down: 3 of 3 targets failing") == 0);
    CHECK(strcmp(str_at(b, "controller", NULL), "test-ctl") == 0);
    CHECK(strcmp(str_at(b, "details", "region"), "us-east-1") == 0);
    CHECK(strlen(str_at(b, "time", NULL)) >= 20);
    CHECK(strcmp(str_at(j[FAILS + 1]->body, "state", NULL), "resolved") == 0);
    CHECK(strcmp(str_at(j[FAILS + 1]->body, "summary", NULL), "region us-east-1 is back") == 0);
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(j[FAILS + 1]->body, "details")));
    /* growing gaps: base 100 ms with equal jitter -> [50,100], [100,200], [200,400] */
    double g1 = (j[1]->t - j[0]->t) * 1000, g2 = (j[2]->t - j[1]->t) * 1000, g3 = (j[3]->t - j[2]->t) * 1000;
    fprintf(stderr, "retry gaps: %.0f %.0f %.0f ms\n", g1, g2, g3);
    CHECK(g1 >= 40 && g1 < 400);
    CHECK(g2 >= 90 && g2 >= g1 * 0.9);
    CHECK(g3 >= 190 && g3 > g1);
}

static void check_pd_hook(void)
{
    rec_t *p[8];
    int n = 0;
    for (int i = 0; i < n_recs && n < 8; i++)
        if (strcmp(recs[i].hook, "pd") == 0)
            p[n++] = &recs[i];
    CHECK_EQ_INT(n, 2);
    if (n != 2)
        return;
    CHECK(p[0]->t <= p[1]->t);
    for (int i = 0; i < 2; i++) {
        const cJSON *b = p[i]->body;
        CHECK(strcmp(str_at(b, "routing_key", NULL), PD_KEY) == 0);
        CHECK(strcmp(str_at(b, "event_action", NULL), i ? "resolve" : "trigger") == 0);
        CHECK(strcmp(str_at(b, "dedup_key", NULL), KEY) == 0);
        CHECK(strcmp(str_at(b, "payload", "source"), "test-ctl") == 0);
        CHECK(strcmp(str_at(b, "payload", "severity"), "critical") == 0);
    }
    CHECK(strcmp(str_at(p[0]->body, "payload", "summary"), "region us-east-1 down: 3 of 3 targets failing") == 0);
    CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(p[0]->body, "payload"), "custom_details"), "region")) ?: "",
        "us-east-1") == 0);
}

static void check_slack_hook(void)
{
    int n = 0;
    for (int i = 0; i < n_recs; i++)
        if (strcmp(recs[i].hook, "slack") == 0) {
            const char *t = str_at(recs[i].body, "text", NULL);
            CHECK(!strchr(t, '\n'));
            CHECK_CONTAINS(t, n == 0 ? "[FIRING CRITICAL] region us-east-1 down" : "[RESOLVED] region us-east-1 is back");
            CHECK_CONTAINS(t, KEY);
            n++;
        }
    CHECK_EQ_INT(n, 2);   /* the warning went nowhere (min_severity critical) */
}

static void test_delivery(void)
{
    cfg_t *cfg = make_cfg();
    CHECK(cfg != NULL);
    if (!cfg)
        return;
    CHECK_EQ_INT(alarm_init(cfg), 0);
    cfg_free(cfg);   /* alarm keeps copies */
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "region", "us-east-1");
    alarm_raise(KEY, "critical", "region us-east-1 down: 3 of 3 targets failing", d);
    alarm_raise(KEY, "critical", "region us-east-1 down: 3 of 3 targets failing", NULL);   /* same */
    alarm_raise(KEY, "critical", "region us-east-1 down: 2 of 3 targets failing", NULL);   /* numbers only */
    alarm_resolve("no.such.alarm", "nothing");
    alarm_raise("ddb.lag", "warning", "replication lag 12 s", NULL);

    cJSON *st = alarm_status_json();
    cJSON *act = cJSON_GetObjectItem(st, "active");
    CHECK_EQ_INT(cJSON_GetArraySize(act), 2);
    int found = 0;
    for (cJSON *a = act ? act->child : NULL; a; a = a->next)
        if (strcmp(str_at(a, "key", NULL), KEY) == 0) {
            found = 1;
            CHECK(strcmp(str_at(a, "severity", NULL), "critical") == 0);
            CHECK(strcmp(str_at(a, "summary", NULL), "region us-east-1 down: 3 of 3 targets failing") == 0);
            CHECK(strlen(str_at(a, "since", NULL)) >= 20);
        }
    CHECK(found);
    char *sts = cJSON_PrintUnformatted(st);
    CHECK(sts && !strstr(sts, PD_KEY) && !strstr(sts, URL_TOKEN));
    free(sts);
    cJSON_Delete(st);

    alarm_resolve(KEY, "region us-east-1 is back");
    alarm_resolve(KEY, "again");   /* inactive now: nothing */
    alarm_resolve("ddb.lag", "lag back under the bound");
    /* json: 3 x 500 + trigger + resolve + ddb trigger + ddb resolve; pd: 4; slack: 2 */
    run_until(FAILS + 4 + 4 + 2, 15000, 400);
    /* leave only KEY's records for the per-hook checks */
    int k = 0;
    for (int i = 0; i < n_recs; i++) {
        const char *key = strcmp(recs[i].hook, "pd") == 0 ? str_at(recs[i].body, "dedup_key", NULL)
                        : strcmp(recs[i].hook, "json") == 0 ? str_at(recs[i].body, "key", NULL) : KEY;
        if (strcmp(key, KEY) == 0)
            recs[k++] = recs[i];
        else
            cJSON_Delete(recs[i].body);
    }
    n_recs = k;
    check_json_hook();
    check_pd_hook();
    check_slack_hook();

    CHECK_EQ_INT(feed_count(), 4);   /* two raised, two resolved */
    struct evbuffer *b = evbuffer_new();
    alarm_metrics(b);
    evbuffer_add(b, "", 1);
    const char *m = (const char *)evbuffer_pullup(b, -1);
    CHECK_CONTAINS(m, "regiond_alarms_active{severity=\"critical\"} 0\n");
    CHECK_CONTAINS(m, "regiond_alarms_active{severity=\"warning\"} 0\n");
    CHECK_CONTAINS(m, "regiond_alarm_deliveries_total{webhook=\"ops\",result=\"ok\"} 4\n");
    CHECK_CONTAINS(m, "regiond_alarm_deliveries_total{webhook=\"ops\",result=\"retry\"} 3\n");
    CHECK_CONTAINS(m, "regiond_alarm_deliveries_total{webhook=\"pd\",result=\"ok\"} 4\n");
    CHECK_CONTAINS(m, "regiond_alarm_deliveries_total{webhook=\"chat\",result=\"ok\"} 2\n");
    CHECK_CONTAINS(m, "regiond_alarm_deliveries_total{webhook=\"ops\",result=\"failed\"} 0\n");
    evbuffer_free(b);
    alarm_fini();
}

/* A full queue drops the oldest message not in flight, with a log line; a
 * reload keeps same-named webhooks' counters. */
static void test_queue_bound(void)
{
    char json[1024], err[CFG_ERR_SIZE];
    snprintf(json, sizeof json,
             "{\"regions\":[{\"name\":\"r\",\"api\":[{\"url\":\"http://127.0.0.1:1/h\"}]}],"
             "\"alarms\":{\"queue_max\":2,\"webhooks\":[{\"name\":\"ops\",\"url\":\"http://127.0.0.1:%d/json\","
             "\"max_attempts\":1}]}}", server_port);
    cfg_t *cfg = cfg_parse(json, strlen(json), "t.json", err, sizeof err);
    CHECK(cfg != NULL);
    if (!cfg)
        return;
    CHECK_EQ_INT(alarm_init(cfg), 0);
    alarm_raise("q.a", "warning", "a", NULL);
    alarm_raise("q.b", "warning", "b", NULL);
    alarm_raise("q.c", "warning", "c", NULL);   /* drops b */
    alarm_raise("q.d", "warning", "d", NULL);   /* drops c */
    alarm_configure(cfg);                       /* same webhook: queue and counters kept */
    cfg_free(cfg);
    n_recs = 0;
    remove(recpath);
    run_until(2, 5000, 300);
    CHECK_EQ_INT(n_recs, 2);
    if (n_recs == 2) {
        CHECK(strcmp(str_at(recs[0].body, "key", NULL), "q.a") == 0);
        CHECK(strcmp(str_at(recs[1].body, "key", NULL), "q.d") == 0);
    }
    struct evbuffer *b = evbuffer_new();
    alarm_metrics(b);
    evbuffer_add(b, "", 1);
    const char *m = (const char *)evbuffer_pullup(b, -1);
    CHECK_CONTAINS(m, "regiond_alarms_active{severity=\"warning\"} 4\n");
    CHECK_CONTAINS(m, "regiond_alarm_deliveries_total{webhook=\"ops\",result=\"dropped\"} 2\n");
    CHECK_CONTAINS(m, "regiond_alarm_deliveries_total{webhook=\"ops\",result=\"ok\"} 2\n");
    evbuffer_free(b);
    alarm_fini();
}

#define KEY_IS(got, want) CHECK(strcmp((got), (want)) == 0)

/* Each kind's builder gives the key docs/config.md shows, filled in; a long
 * part is cut where the callers' buffers cut it before the builders. */
static void test_keys(void)
{
    KEY_IS(alarm_key(ALARM_FAILOVER).s, "failover");
    KEY_IS(alarm_key(ALARM_ROUTE53_READ).s, "route53-read");
    KEY_IS(alarm_key(ALARM_CONTROLLER_RESOURCES).s, "controller-resources");
    KEY_IS(alarm_key_region(ALARM_ROUTE53_DRIFT, "eu-west-1").s, "route53-drift-eu-west-1");
    KEY_IS(alarm_key_region(ALARM_REPLICA, "us.east_1").s, "replica-us.east_1");
    KEY_IS(alarm_key_region(ALARM_PITR_OFF, "r").s, "pitr-off-r");
    KEY_IS(alarm_key_region(ALARM_PITR_DRIFT, "r").s, "pitr-drift-r");
    KEY_IS(alarm_key_aws("route53").s, "aws-route53");
    KEY_IS(alarm_key_backup("nightly", "eu").s, "nightly@eu");
    char name[100];
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    alarm_key_t k = alarm_key_state_file(name);
    CHECK_EQ_INT((int)strlen(k.s), (int)strlen("state-corrupt-") + 60);
    CHECK(strncmp(k.s, "state-corrupt-nnn", 17) == 0);
    /* a name with upper-case letters is filled in, never taken for a placeholder */
    KEY_IS(alarm_key_region(ALARM_REPLICA, "EU-WEST").s, "replica-EU-WEST");
    KEY_IS(alarm_key_backup(NULL, "eu").s, "@eu");
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/regiond-test-alarm-XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    snprintf(recpath, sizeof recpath, "%s/received", tmpdir);
    char logpath[128], err[256];
    snprintf(logpath, sizeof logpath, "%s/log", tmpdir);
    int saved = dup(2);
    if (!freopen(logpath, "w", stderr))
        return 1;
    setvbuf(stderr, NULL, _IONBF, 0);
    unsetenv("JOURNAL_STREAM");
    log_init(LOG_DEBUG);
    test_keys();

    CHECK_EQ_INT(loop_init(), 0);
    CHECK_EQ_INT(state_init(tmpdir, err, sizeof err), 0);
    CHECK_EQ_INT(feed_init(64, err, sizeof err), 0);
    cfg_resolver_t rc = { .timeout_ms = 2000, .tries = 2, .min_ttl_s = 5, .max_ttl_s = 300, .negative_ttl_s = 5 };
    CHECK_EQ_INT(res_init(&rc, err, sizeof err), 0);
    if (start_server() == 0) {
        test_delivery();
        for (int i = 0; i < n_recs; i++)
            cJSON_Delete(recs[i].body);
        n_recs = 0;
        test_queue_bound();
    } else {
        fprintf(stderr, "python3 receiver did not start\n");
        CHECK(0);
    }
    stop_server();
    res_fini();
    feed_fini();
    state_fini();
    loop_fini();

    fflush(stderr);
    dup2(saved, 2);
    char *log = slurp(logpath);
    CHECK_CONTAINS(log, "msg=\"alarm delivery failed, retrying\" webhook=ops key=" KEY " attempt=1 status=500");
    CHECK_CONTAINS(log, "msg=\"alarm delivered\" webhook=pd kind=pagerduty key=" KEY " state=resolved");
    CHECK_CONTAINS(log, "msg=\"alarm dropped\" webhook=ops key=q.b state=firing reason=queue_full queue_max=2");
    CHECK(strstr(log, PD_KEY) == NULL);
    CHECK(strstr(log, URL_TOKEN) == NULL);
    if (check_fail_)
        fprintf(stderr, "---- captured stderr ----\n%s---- end ----\n", log);
    free(log);
    for (int i = 0; i < n_recs; i++)
        cJSON_Delete(recs[i].body);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_finish();
}
