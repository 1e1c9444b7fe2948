/* test_creds_http — the credential chain's container and IMDSv2 sources
 * against a small HTTP server (python3's http.server) on 127.0.0.1, on the
 * real event loop.  The synchronous sources are in test_creds.c. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/check.h"
#include "aws/creds.h"
#include "aws/creds_int.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/resolver.h"
#include "tests/creds_kit.h"
#include "tests/pyserver_kit.h"

/* ---- asynchronous sources against a local HTTP server ---- */

static const char *const server_py =
    "import datetime, http.server, json, socket, struct, threading, time\n"
    "TOKEN = 'IMDS-TOKEN-0123456789abcdef=='\n"
    "ROLE = 'regiond-role'\n"
    "state = {'fail_imds': False, 'seen': []}\n"
    "def creds(key, secret, seconds):\n"
    "    exp = datetime.datetime.utcnow() + datetime.timedelta(seconds=seconds)\n"
    "    return json.dumps({'Code': 'Success', 'Type': 'AWS-HMAC', 'AccessKeyId': key,\n"
    "                       'SecretAccessKey': secret, 'Token': secret + '-token',\n"
    "                       'Expiration': exp.strftime('%Y-%m-%dT%H:%M:%SZ')})\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    protocol_version = 'HTTP/1.1'\n"
    "    def log_message(self, *a): pass\n"
    "    def send(self, code, body):\n"
    "        b = body.encode()\n"
    "        self.send_response(code)\n"
    "        self.send_header('Content-Length', str(len(b)))\n"
    "        self.end_headers()\n"
    "        self.wfile.write(b)\n"
    "    def do_PUT(self):\n"
    "        self.rfile.read(int(self.headers.get('Content-Length', '0')))\n"
    "        if state['fail_imds']: return self.send(500, 'imdsSECRET down')\n"
    "        if self.path != '/latest/api/token': return self.send(404, '')\n"
    "        if self.headers.get('X-aws-ec2-metadata-token-ttl-seconds') != '21600':\n"
    "            return self.send(400, 'ttl')\n"
    "        self.send(200, TOKEN)\n"
    "    def do_GET(self):\n"
    "        p = self.path\n"
    "        if p.startswith('/latest/'):\n"
    "            if self.headers.get('X-aws-ec2-metadata-token') != TOKEN:\n"
    "                return self.send(401, '')\n"
    "            if p == '/latest/meta-data/iam/security-credentials/':\n"
    "                return self.send(200, ROLE + '\\n')\n"
    "            if p == '/latest/meta-data/iam/security-credentials/' + ROLE:\n"
    "                return self.send(200, creds('ASIAIMDS', 'imdsSECRETkey', 6 * 3600))\n"
    "            return self.send(404, '')\n"
    "        if p == '/v2/credentials/good':\n"
    "            if self.headers.get('Authorization') != '" AUTH_TOKEN "':\n"
    "                return self.send(403, '')\n"
    "            return self.send(200, creds('ASIACONTAINER', 'containerSECRETkey', 3600))\n"
    "        if p == '/v2/credentials/x': return self.send(403, 'forbidden SECRET')\n"
    "        if p == '/big': return self.send(200, 'x' * 100000)\n"
    "        if p == '/slow':\n"
    "            time.sleep(3)\n"
    "            return self.send(200, '{}')\n"
    "        if p == '/control/fail-imds':\n"
    "            state['fail_imds'] = True\n"
    "            return self.send(200, 'ok')\n"
    "        self.send(404, '')\n"
    "dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    "dns.bind(('127.0.0.1', 0))\n"
    "def dns_loop():\n"
    "    while True:\n"
    "        q, peer = dns.recvfrom(1500)\n"
    "        i = 12\n"
    "        while q[i]: i += q[i] + 1\n"
    "        qtype = struct.unpack('>H', q[i + 1:i + 3])[0]\n"
    "        ip = '192.0.2.1' if q[13:17].lower() == b'evil' else '127.0.0.1'\n"
    "        an = b''\n"
    "        if qtype == 1:\n"
    "            an = b'\\xc0\\x0c' + struct.pack('>HHIH', 1, 1, 60, 4) + socket.inet_aton(ip)\n"
    "        hdr = q[:2] + struct.pack('>HHHHH', 0x8180, 1, 1 if an else 0, 0, 0)\n"
    "        dns.sendto(hdr + q[12:i + 5] + an, peer)\n"
    "threading.Thread(target=dns_loop, daemon=True).start()\n"
    "srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)\n"
    "srv.daemon_threads = True\n"
    "srv.handle_error = lambda *a: None\n"
    "print(srv.server_address[1], dns.getsockname()[1], flush=True)\n"
    "srv.serve_forever()\n";

static int server_port, dns_port;

static int start_server(void)
{
    /* "HTTP_PORT DNS_PORT\n" */
    char buf[64];
    char *argv[] = {"python3", "-c", (char *)server_py, NULL};
    if (pyserver_start(argv, buf, sizeof(buf)) == -1)
        return -1;
    if (sscanf(buf, "%d %d", &server_port, &dns_port) != 2) {
        fprintf(stderr, "server said '%s'\n", buf);
        return -1;
    }
    return server_port > 0 && dns_port > 0 ? 0 : -1;
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    event_base_loopbreak(loop_base());
}

/* Run the loop until r has been called back `want` times or 10 s pass. */
static void run_until(result_t *r, int want)
{
    struct event *t = evtimer_new(loop_base(), on_deadline, NULL);
    struct timeval tv = {10, 0};
    evtimer_add(t, &tv);
    uint64_t end = loop_now_ms() + 10000;
    while (r->calls < want && loop_now_ms() < end)
        event_base_dispatch(loop_base());
    event_free(t);
}

/* A get that must go to the network: returns its waiter id. */
static uint64_t get_async(result_t *r)
{
    memset(r, 0, sizeof(*r));
    uint64_t id = creds_get(on_creds, r);
    CHECK(id > 0);
    CHECK_EQ_INT(r->calls, 0);
    return id;
}

static void control(const char *path)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", server_port, path);
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, fwrite);
    FILE *null = fopen("/dev/null", "w");
    curl_easy_setopt(e, CURLOPT_WRITEDATA, null);
    CHECK(curl_easy_perform(e) == CURLE_OK);
    curl_easy_cleanup(e);
    fclose(null);
}

static void test_imds(void)
{
    char ep[64];
    snprintf(ep, sizeof(ep), "http://127.0.0.1:%d/", server_port);
    clear_env();
    unsetenv("AWS_EC2_METADATA_DISABLED");
    init_cfg(&(creds_cfg_t){.imds_endpoint = ep, .timeout_ms = 3000});
    creds_invalidate();
    result_t r;
    get_async(&r);
    run_until(&r, 1);
    CHECK_EQ_INT(r.calls, 1);
    CHECK(r.ok);
    if (!r.ok)
        fprintf(stderr, "imds: %s\n", r.err);
    CHECK(strcmp(r.c.access_key, "ASIAIMDS") == 0 && strcmp(r.c.secret_key, "imdsSECRETkey") == 0);
    CHECK(strcmp(r.c.token, "imdsSECRETkey-token") == 0);
    CHECK(strcmp(r.c.source, "imds:regiond-role") == 0);
    int64_t left = r.c.expires_wall_ms - loop_wall_ms();
    CHECK(left > 6 * 3600 * 1000LL - 120000 && left <= 6 * 3600 * 1000LL);
    CHECK(strcmp(creds_source(), "imds:regiond-role") == 0);

    /* Now from the cache, at once. */
    result_t r2;
    memset(&r2, 0, sizeof(r2));
    CHECK_EQ_INT(creds_get(on_creds, &r2), 0);
    CHECK(r2.calls == 1 && r2.ok && strcmp(r2.c.access_key, "ASIAIMDS") == 0);

    /* Three waiters share one fetch; the cancelled one is never called. */
    creds_invalidate();
    result_t a, b, c;
    uint64_t ia = get_async(&a), ib = get_async(&b), ic = get_async(&c);
    CHECK(ia != ib && ib != ic);
    creds_cancel(ib);
    run_until(&c, 1);
    run_until(&a, 1);
    CHECK(a.calls == 1 && a.ok && c.calls == 1 && c.ok && b.calls == 0);
    CHECK_EQ_INT(loop_running(), 0);

    /* Refresh window covers the whole lifetime: every get refreshes; when the
     * refresh fails, the cached (unexpired) credentials are kept. */
    init_cfg(&(creds_cfg_t){.imds_endpoint = ep, .timeout_ms = 3000, .refresh_before_s = 86400});
    get_async(&r);
    run_until(&r, 1);
    CHECK(r.ok && strcmp(r.c.source, "imds:regiond-role") == 0);
    control("/control/fail-imds");
    get_async(&r);
    run_until(&r, 1);
    CHECK(r.calls == 1 && r.ok && strcmp(r.c.access_key, "ASIAIMDS") == 0);
    /* Without a cache the failure is reported, with the local sources tried. */
    creds_invalidate();
    get_async(&r);
    run_until(&r, 1);
    CHECK(r.calls == 1 && !r.ok);
    char want[256];
    snprintf(want, sizeof(want), "instance metadata (IMDSv2): HTTP 500 from "
             "http://127.0.0.1:%d/latest/api/token", server_port);
    CHECK_CONTAINS(r.err, want);
    CHECK_CONTAINS(r.err, "also tried: environment: not set");
    init_cfg(NULL);
}

static void test_container(void)
{
    char url[200], want[300], tokfile[256];
    clear_env();
    unsetenv("AWS_EC2_METADATA_DISABLED");
    init_cfg(&(creds_cfg_t){.timeout_ms = 3000});

    /* FULL_URI to an IP literal with the token from the variable. */
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v2/credentials/good", server_port);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", AUTH_TOKEN, 1);
    creds_invalidate();
    result_t r;
    get_async(&r);
    run_until(&r, 1);
    CHECK(r.calls == 1 && r.ok);
    if (!r.ok)
        fprintf(stderr, "container: %s\n", r.err);
    CHECK(strcmp(r.c.access_key, "ASIACONTAINER") == 0);
    CHECK(strcmp(r.c.secret_key, "containerSECRETkey") == 0);
    CHECK(strcmp(r.c.source, "container") == 0);
    CHECK(r.c.expires_wall_ms > loop_wall_ms() + 3000 * 1000LL);

    /* A host name goes through the daemon's resolver (pointed at the test's
     * DNS responder); the token from a file, which wins over the variable
     * (here a wrong one). */
    snprintf(url, sizeof(url), "http://creds.test:%d/v2/credentials/good", server_port);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    snprintf(tokfile, sizeof(tokfile), "%s/token", tmpdir);
    write_file(tokfile, AUTH_TOKEN "\n");
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", tokfile, 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "wrong-SECRET", 1);
    creds_invalidate();
    get_async(&r);
    run_until(&r, 1);
    CHECK(r.calls == 1 && r.ok && strcmp(r.c.source, "container") == 0);
    if (!r.ok)
        fprintf(stderr, "container via name: %s\n", r.err);

    /* Plain http to a name that resolves elsewhere than loopback. */
    snprintf(url, sizeof(url), "http://evil.test:%d/v2/credentials/good", server_port);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    creds_invalidate();
    get_async(&r);
    run_until(&r, 1);
    CHECK(r.calls == 1 && !r.ok);
    CHECK_CONTAINS(r.err, "container credentials: evil.test resolves to no loopback address");

    /* HTTP 403: the URL is named, the body and the token are not. */
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v2/credentials/x", server_port);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    creds_invalidate();
    get_async(&r);
    run_until(&r, 1);
    snprintf(want, sizeof(want), "container credentials: HTTP 403 from %s", url);
    CHECK(r.calls == 1 && !r.ok);
    CHECK_CONTAINS(r.err, want);

    /* Too large a body, and a timeout. */
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/big", server_port);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    get_async(&r);
    run_until(&r, 1);
    CHECK_CONTAINS(r.err, "larger than 64 KiB");
    init_cfg(&(creds_cfg_t){.timeout_ms = 300});
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/slow", server_port);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    get_async(&r);
    run_until(&r, 1);
    CHECK_CONTAINS(r.err, "container credentials: timeout after 300 ms");

    /* Plain http to a non-loopback address is refused before any request. */
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://user:pw@192.0.2.1/creds", 1);
    r = get_now();
    CHECK_CONTAINS(r.err, "must be https, or http to a loopback address");
    CHECK(strstr(r.err, "pw@") == NULL);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "ftp://127.0.0.1/x", 1);
    r = get_now();
    CHECK_CONTAINS(r.err, "is not an http(s) URL");
    /* A token with a line break would inject a header. */
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/x", 1);
    unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "a\r\nX-Evil: SECRET", 1);
    r = get_now();
    CHECK_CONTAINS(r.err, "line break or control character");
    /* RELATIVE_URI must be a path. */
    setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "v2/x", 1);
    r = get_now();
    CHECK_CONTAINS(r.err, "RELATIVE_URI does not start with '/'");

    /* creds_fini with a fetch running: no callback, nothing leaks. */
    unsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/slow", server_port);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    init_cfg(&(creds_cfg_t){.timeout_ms = 5000});
    get_async(&r);
    creds_fini();
    CHECK_EQ_INT(loop_running(), 0);
    CHECK_EQ_INT(r.calls, 0);
    clear_env();
}

int main(void)
{
    char logpath[128];
    int saved = creds_kit_start(logpath, sizeof(logpath));
    if (saved == -1)
        return 1;

    CHECK_EQ_INT(loop_init(), 0);
    if (start_server() == 0) {
        char dns[32], *servers[] = {dns}, err[256];
        snprintf(dns, sizeof(dns), "127.0.0.1:%d", dns_port);
        cfg_resolver_t rc = {.servers = servers, .n_servers = 1, .timeout_ms = 2000, .tries = 2,
                             .min_ttl_s = 5, .max_ttl_s = 300, .negative_ttl_s = 5};
        CHECK_EQ_INT(res_init(&rc, err, sizeof(err)), 0);
        test_imds();
        test_container();
        creds_fini();
        res_fini();
    } else {
        fprintf(stderr, "python3 http.server did not start\n");
        CHECK(0);
    }
    stop_server();
    creds_fini();
    loop_fini();
    return creds_kit_finish(saved, logpath,
                            "msg=\"aws credentials loaded\" source=imds:regiond-role expires=");
}
