/* test_creds — the credential chain: environment, shared file (INI),
 * systemd credential, precedence, error messages without secrets, expiry
 * parsing; then the container and IMDSv2 sources against a small HTTP
 * server (python3's http.server) on 127.0.0.1, on the real event loop. */
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

#include "check.h"
#include "creds.h"
#include "creds_int.h"
#include "log.h"
#include "loop.h"
#include "resolver.h"

#define SECRET_ENV "envSECRETwJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define SECRET_DEF "defSECRETaaaa"
#define SECRET_PROD "prodSECRETbbbb"
#define TOKEN_PROD "prodTOKENcccc"
#define SECRET_STG "stgSECRETdddd"
#define SECRET_SD "sdSECRETeeee"
#define AUTH_TOKEN "Bearer-auth-SECRET-xyz"

static const char *const secrets[] = {
    SECRET_ENV, SECRET_DEF, SECRET_PROD, TOKEN_PROD, SECRET_STG, SECRET_SD, AUTH_TOKEN,
    "forbidden SECRET", "wrong-SECRET", "X-Evil", "containerSECRET", "imdsSECRET", "IMDS-TOKEN",
};

static char tmpdir[64];
static char all_errors[65536];   /* every error message seen, checked for secrets at the end */

/* ---- helpers ---- */

typedef struct {
    int calls;
    int ok;
    aws_creds_t c;
    char err[1024];
} result_t;

static void on_creds(void *arg, const aws_creds_t *c, const char *err)
{
    result_t *r = arg;
    r->calls++;
    r->ok = c != NULL;
    if (c)
        r->c = *c;
    snprintf(r->err, sizeof(r->err), "%s", err ? err : "");
    if (err) {
        size_t n = strlen(all_errors);
        snprintf(all_errors + n, sizeof(all_errors) - n, "%s\n", err);
    }
    if (loop_base())
        event_base_loopbreak(loop_base());
}

/* A get that must answer before returning. */
static result_t get_now(void)
{
    result_t r;
    memset(&r, 0, sizeof(r));
    creds_invalidate();
    uint64_t id = creds_get(on_creds, &r);
    CHECK_EQ_INT(id, 0);
    CHECK_EQ_INT(r.calls, 1);
    return r;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void clear_env(void)
{
    static const char *const vars[] = {
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
        "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_EC2_METADATA_SERVICE_ENDPOINT",
        "CREDENTIALS_DIRECTORY", "AWS_CONFIG_FILE",
    };
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
}

static void init_cfg(const creds_cfg_t *cfg)
{
    CHECK_EQ_INT(creds_init(cfg), 0);
}

/* ---- synchronous sources ---- */

static const char *const shared_file =
    "# regiond test credentials\n"
    "; another comment style\n"
    "\n"
    "[default]\n"
    "aws_access_key_id = AKIDDEFAULT\n"
    "aws_secret_access_key=" SECRET_DEF "\n"
    "\n"
    "  [prod]   # inline comment after a header\r\n"
    "\tAWS_ACCESS_KEY_ID\t=\tAKIDPROD   \r\n"
    "aws_secret_access_key = " SECRET_PROD " ; inline comment\r\n"
    "aws_session_token = " TOKEN_PROD "\r\n"
    "region = eu-west-1\r\n"
    "s3 =\n"
    "    max_concurrent_requests = 20\n"
    "\n"
    "[staging]\n"
    "aws_access_key_id = AKIDSTG\n"
    "aws_secret_access_key = " SECRET_STG "#not-a-comment\n"
    "[only-role]\n"
    "role_arn = arn:aws:iam::123456789012:role/x\n"
    "source_profile = default\n"
    "[half]\n"
    "aws_access_key_id = AKIDHALF\n";

static void test_env_and_file(void)
{
    char path[300], awsdir[200];
    clear_env();
    setenv("HOME", tmpdir, 1);
    init_cfg(NULL);

    /* Nothing anywhere. */
    result_t r = get_now();
    CHECK(!r.ok);
    CHECK_CONTAINS(r.err, "no AWS credentials");
    CHECK_CONTAINS(r.err, "environment: not set");
    CHECK_CONTAINS(r.err, "/.aws/credentials: not found");
    CHECK_CONTAINS(r.err, "AWS_EC2_METADATA_DISABLED");
    CHECK(strcmp(creds_source(), "") == 0);

    /* The default file, default profile. */
    snprintf(awsdir, sizeof(awsdir), "%s/.aws", tmpdir);
    mkdir(awsdir, 0700);
    snprintf(path, sizeof(path), "%s/credentials", awsdir);
    write_file(path, shared_file);
    r = get_now();
    CHECK(r.ok && strcmp(r.c.access_key, "AKIDDEFAULT") == 0);
    CHECK(r.ok && strcmp(r.c.secret_key, SECRET_DEF) == 0 && r.c.token[0] == '\0');
    CHECK(strcmp(r.c.source, "shared-file:default") == 0);
    CHECK_EQ_INT(r.c.expires_wall_ms, 0);
    CHECK(strcmp(creds_source(), "shared-file:default") == 0);

    /* Cached: a second get answers from the cache even if the file goes. */
    result_t r2;
    memset(&r2, 0, sizeof(r2));
    CHECK_EQ_INT(creds_get(on_creds, &r2), 0);
    CHECK(r2.calls == 1 && r2.ok && strcmp(r2.c.access_key, "AKIDDEFAULT") == 0);

    /* AWS_PROFILE selects, whitespace / CRLF / inline comments handled. */
    setenv("AWS_PROFILE", "prod", 1);
    r = get_now();
    CHECK(r.ok && strcmp(r.c.access_key, "AKIDPROD") == 0);
    CHECK(r.ok && strcmp(r.c.secret_key, SECRET_PROD) == 0);
    CHECK(r.ok && strcmp(r.c.token, TOKEN_PROD) == 0);
    CHECK(strcmp(r.c.source, "shared-file:prod") == 0);

    /* The config's profile wins over AWS_PROFILE; '#' without a space before
     * it is part of the value. */
    init_cfg(&(creds_cfg_t){.profile = "staging"});
    r = get_now();
    CHECK(r.ok && strcmp(r.c.secret_key, SECRET_STG "#not-a-comment") == 0);
    init_cfg(NULL);

    /* A missing profile that was asked for. */
    setenv("AWS_PROFILE", "nope", 1);
    r = get_now();
    CHECK(!r.ok);
    char want[512];
    snprintf(want, sizeof(want), "shared credentials file %s: profile 'nope' not found", path);
    CHECK_CONTAINS(r.err, want);

    /* Profiles without both keys. */
    setenv("AWS_PROFILE", "only-role", 1);
    r = get_now();
    CHECK_CONTAINS(r.err, "profile 'only-role' has no aws_access_key_id");
    setenv("AWS_PROFILE", "half", 1);
    r = get_now();
    CHECK_CONTAINS(r.err, "profile 'half' has aws_access_key_id but no aws_secret_access_key");
    unsetenv("AWS_PROFILE");

    /* Environment beats the file. */
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", SECRET_ENV, 1);
    setenv("AWS_SESSION_TOKEN", "envtoken", 1);
    r = get_now();
    CHECK(r.ok && strcmp(r.c.access_key, "AKIDENV") == 0 && strcmp(r.c.token, "envtoken") == 0);
    CHECK(strcmp(r.c.source, "environment") == 0 && r.c.expires_wall_ms == 0);

    /* Half an environment is an error, not a fall-through. */
    unsetenv("AWS_SECRET_ACCESS_KEY");
    r = get_now();
    CHECK_CONTAINS(r.err, "environment: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
    setenv("AWS_SECRET_ACCESS_KEY", SECRET_ENV, 1);
    static char longtok[5000];
    memset(longtok, 'T', sizeof(longtok) - 1);
    setenv("AWS_SESSION_TOKEN", longtok, 1);
    r = get_now();
    CHECK_CONTAINS(r.err, "environment: AWS_SESSION_TOKEN longer than 4095 bytes");
    CHECK(strstr(r.err, "TTTT") == NULL);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_SESSION_TOKEN");

    /* The default file without [default]: noted, falls through. */
    write_file(path, "[other]\naws_access_key_id = A\naws_secret_access_key = B\n");
    r = get_now();
    CHECK_CONTAINS(r.err, "no profile 'default'");
    CHECK_CONTAINS(r.err, "no AWS credentials");
    unlink(path);

    /* An explicitly named file that does not exist. */
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/regiond/creds", 1);
    r = get_now();
    CHECK_CONTAINS(r.err, "shared credentials file /nonexistent/regiond/creds: not found");
    /* The config's file wins over the variable; "~/" is the home directory. */
    write_file(path, shared_file);
    init_cfg(&(creds_cfg_t){.shared_file = "~/.aws/credentials"});
    r = get_now();
    CHECK(r.ok && strcmp(r.c.access_key, "AKIDDEFAULT") == 0);
    init_cfg(NULL);
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    unlink(path);
}

/* Each malformed file: the error names the file and the line, never a value. */
static void test_ini_errors(void)
{
    static const struct { const char *text, *want; } cases[] = {
        {"aws_access_key_id = X\n", "line 1: key outside any [section]"},
        {"[default]\naws_secret_access_key " SECRET_DEF "\n", "line 2: expected 'key = value'"},
        {"[default\naws_access_key_id = A\n", "line 1: section header without ']'"},
        {"[default] junk " SECRET_DEF "\n", "line 1: text after the section header"},
        {"[ ]\n", "line 1: empty section name"},
        {"[default]\n = " SECRET_DEF "\n", "line 2: empty key"},
        {"[default]\naws_access_key_id = A\naws_secret_access_key = " SECRET_DEF "\n"
         "[x]\n[default]\n", "line 5: profile 'default' defined again (first at line 1)"},
        {"[default]\naws_secret_access_key = A\nAWS_Secret_Access_Key = " SECRET_DEF "\n",
         "line 3: aws_secret_access_key set twice in profile 'default' (first at line 2)"},
        {"[default]\naws_access_key_id = A\naws_secret_access_key =\n  " SECRET_DEF "\n",
         "line 4: continuation line under a credential key"},
        {"[default]\naws_access_key_id = A\0\n", "contains a NUL byte"},
    };
    char path[256];
    snprintf(path, sizeof(path), "%s/bad.ini", tmpdir);
    setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        FILE *f = fopen(path, "w");
        size_t n = strlen(cases[i].text);
        if (strstr(cases[i].want, "NUL"))
            n = strlen(cases[i].text) + 2;   /* the embedded NUL and the newline */
        fwrite(cases[i].text, 1, n, f);
        fclose(f);
        result_t r = get_now();
        CHECK(!r.ok);
        char want[512];
        snprintf(want, sizeof(want), "shared credentials file %s: %s", path, cases[i].want);
        CHECK_CONTAINS(r.err, want);
    }
    /* A profile other than the selected one is not checked for duplicates,
     * but the whole file's syntax is. */
    write_file(path, "[x]\na = 1\n[x]\n[default]\naws_access_key_id = A\n"
               "aws_secret_access_key = B\n");
    result_t r = get_now();
    CHECK(r.ok && strcmp(r.c.secret_key, "B") == 0);
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
}

static void test_systemd_credential(void)
{
    char dir[256], path[300];
    snprintf(dir, sizeof(dir), "%s/creds.d", tmpdir);
    mkdir(dir, 0700);
    snprintf(path, sizeof(path), "%s/aws", dir);
    write_file(path, "[default]\naws_access_key_id = AKIDSD\naws_secret_access_key = " SECRET_SD
               "\n");
    /* The systemd credential wins over AWS_SHARED_CREDENTIALS_FILE. */
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent", 1);
    init_cfg(&(creds_cfg_t){.credential_name = "aws"});
    result_t r = get_now();
    CHECK_CONTAINS(r.err, "systemd credential 'aws': CREDENTIALS_DIRECTORY is not set");
    setenv("CREDENTIALS_DIRECTORY", dir, 1);
    r = get_now();
    CHECK(r.ok && strcmp(r.c.access_key, "AKIDSD") == 0 && strcmp(r.c.secret_key, SECRET_SD) == 0);
    CHECK(strcmp(r.c.source, "shared-file:default") == 0);
    init_cfg(&(creds_cfg_t){.credential_name = "missing"});
    r = get_now();
    char want[512];
    snprintf(want, sizeof(want), "systemd credential 'missing' (%s/missing): not found", dir);
    CHECK_CONTAINS(r.err, want);
    init_cfg(&(creds_cfg_t){.credential_name = "../aws"});
    r = get_now();
    CHECK_CONTAINS(r.err, "not a plain file name");
    unsetenv("CREDENTIALS_DIRECTORY");
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    init_cfg(NULL);
}

static void test_expiration_and_json(void)
{
    int64_t ms = 0;
    CHECK_EQ_INT(creds_parse_expiration("2026-11-25T01:00:00Z", &ms), 0);
    CHECK(ms == 1795568400000LL);
    CHECK_EQ_INT(creds_parse_expiration("2026-11-25T01:00:00.250Z", &ms), 0);
    CHECK(ms == 1795568400250LL);
    CHECK_EQ_INT(creds_parse_expiration("2026-11-25T02:30:00+01:30", &ms), 0);
    CHECK(ms == 1795568400000LL);
    CHECK_EQ_INT(creds_parse_expiration("1970-01-01T00:00:01Z", &ms), 0);
    CHECK(ms == 1000);
    CHECK_EQ_INT(creds_parse_expiration("2026-11-25T01:00:00", &ms), -1);   /* no zone */
    CHECK_EQ_INT(creds_parse_expiration("2026-11-25 01:00:00Z", &ms), -1);
    CHECK_EQ_INT(creds_parse_expiration("2026-11-25T01:00:00Zjunk", &ms), -1);
    CHECK_EQ_INT(creds_parse_expiration("tomorrow", &ms), -1);
    CHECK_EQ_INT(creds_parse_expiration("", &ms), -1);
    CHECK_EQ_INT(creds_parse_expiration("2026-11-25T01:00:00.Z", &ms), -1);

    aws_creds_t c;
    char err[256];
    const char *good = "{\"Code\":\"Success\",\"Type\":\"AWS-HMAC\",\"AccessKeyId\":\"ASIA1\","
                       "\"SecretAccessKey\":\"imdsSECRET1\",\"Token\":\"imdsSECRETtok\","
                       "\"Expiration\":\"2026-11-25T01:00:00Z\"}";
    CHECK_EQ_INT(creds_parse_json(good, strlen(good), "t", &c, err, sizeof(err)), 0);
    CHECK(strcmp(c.secret_key, "imdsSECRET1") == 0 && c.expires_wall_ms == 1795568400000LL);
    static const struct { const char *json, *want; } bad[] = {
        {"{\"Code\":\"Failure\",\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"imdsSECRET\"}",
         "t: Code is 'Failure', not Success"},
        {"{\"AccessKeyId\":\"A\"}", "t: no SecretAccessKey in the response"},
        {"{\"AccessKeyId\":\"A\",\"SecretAccessKey\":7}",
         "SecretAccessKey is not a non-empty string"},
        {"{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"imdsSECRET\",\"Expiration\":\"soon\"}",
         "Expiration is not an ISO 8601 UTC time"},
        {"[\"imdsSECRET\"]", "t: response is not a JSON object"},
        {"{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"imdsSECRET", "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_EQ_INT(creds_parse_json(bad[i].json, strlen(bad[i].json), "t", &c, err,
                                      sizeof(err)), -1);
        CHECK_CONTAINS(err, bad[i].want);
        CHECK(c.secret_key[0] == '\0');
        size_t n = strlen(all_errors);
        snprintf(all_errors + n, sizeof(all_errors) - n, "%s\n", err);
    }
    /* Token too long for the field. */
    static char big[6000];
    int n = snprintf(big, sizeof(big),
                     "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Token\":\"");
    memset(big + n, 'k', 4500);
    snprintf(big + n + 4500, sizeof(big) - (size_t)n - 4500, "\"}");
    CHECK_EQ_INT(creds_parse_json(big, strlen(big), "t", &c, err, sizeof(err)), -1);
    CHECK_CONTAINS(err, "t: Token longer than 4095 bytes");
    /* No Expiration: treated as valid for 15 minutes. */
    const char *noexp = "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\"}";
    CHECK_EQ_INT(creds_parse_json(noexp, strlen(noexp), "t", &c, err, sizeof(err)), 0);
    int64_t in = c.expires_wall_ms - loop_wall_ms();
    CHECK(in > 14 * 60000 && in < 16 * 60000);
}

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

static pid_t server_pid = -1;
static int server_port, dns_port, server_out = -1;

static int start_server(void)
{
    int fds[2];
    if (pipe(fds) == -1)
        return -1;
    server_pid = fork();
    if (server_pid == -1)
        return -1;
    if (server_pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl("/usr/bin/python3", "python3", "-c", server_py, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    server_out = fds[0];           /* kept open until the server stops */
    /* "HTTP_PORT DNS_PORT\n", possibly in several writes. */
    char buf[64] = "";
    size_t len = 0;
    struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
    uint64_t end = loop_now_ms() + 10000;
    while (!memchr(buf, '\n', len) && len < sizeof(buf) - 1 && loop_now_ms() < end) {
        int pr = poll(&pfd, 1, 1000);
        if (pr == 0 || (pr == -1 && errno == EINTR))
            continue;
        ssize_t n = pr == 1 ? read(fds[0], buf + len, sizeof(buf) - 1 - len) : -1;
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
    }
    if (sscanf(buf, "%d %d", &server_port, &dns_port) != 2) {
        fprintf(stderr, "server said '%s'\n", buf);
        return -1;
    }
    return server_port > 0 && dns_port > 0 ? 0 : -1;
}

static void stop_server(void)
{
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        waitpid(server_pid, NULL, 0);
        server_pid = -1;
    }
    if (server_out != -1)
        close(server_out);
    server_out = -1;
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

static char *slurp(const char *path)
{
    static char buf[1 << 17];
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose(f);
    return buf;
}

int main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/regiond-test-creds-XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    char logpath[128];
    snprintf(logpath, sizeof(logpath), "%s/log", tmpdir);
    int saved = dup(2);
    if (!freopen(logpath, "w", stderr))
        return 1;
    setvbuf(stderr, NULL, _IONBF, 0);
    unsetenv("JOURNAL_STREAM");
    log_init(LOG_DEBUG);

    CHECK_EQ_INT(loop_init(), 0);
    test_expiration_and_json();
    test_env_and_file();
    test_ini_errors();
    test_systemd_credential();
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

    /* No secret in any error or log line. */
    fflush(stderr);
    dup2(saved, 2);
    char *log = slurp(logpath);
    if (check_fail_)
        fprintf(stderr, "---- captured stderr ----\n%s---- end ----\n", log);
    CHECK_CONTAINS(log, "msg=\"aws credentials loaded\" source=imds:regiond-role expires=");
    CHECK_CONTAINS(log, "msg=\"aws credentials loaded\" source=environment expires=never");
    /* Only the daemon's log lines: a failed CHECK prints test literals. */
    static char lines[1 << 17];
    lines[0] = '\0';
    for (char *l = strtok(log, "\n"); l; l = strtok(NULL, "\n"))
        if (strstr(l, " level=")) {
            strncat(lines, l, sizeof(lines) - strlen(lines) - 2);
            strcat(lines, "\n");
        }
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        const char *hit = strstr(all_errors, secrets[i]) ? all_errors
                        : strstr(lines, secrets[i]) ? lines : NULL;
        if (hit)
            fprintf(stderr, "secret '%s' leaked in:\n%s\n", secrets[i], hit);
        CHECK(hit == NULL);
    }
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        return 1;
    return check_finish();
}
