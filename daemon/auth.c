/* auth — see auth.h. */
#include "daemon/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/keyvalq_struct.h>

#include "core/feed.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/state.h"
#include "config/utf8.h"
#include "core/alarm.h"

#define AUTH_MAX 64
#define AUTH_TOKEN_MIN 16

typedef struct {
    char name[65];
    char token[257];
    bool ro;
} auth_token_t;

static auth_token_t auth_tokens[AUTH_MAX];
static uint32_t auth_audit_max = 16u << 20;   /* controller.audit_max_bytes */
static size_t auth_n;
static bool auth_on;

static void auth_wipe(void)
{
    explicit_bzero(auth_tokens, sizeof(auth_tokens));
    auth_n = 0;
    auth_on = false;
}

/* Parse the file's lines into `out`; -1 with err on a bad line. */
static int auth_parse(char *buf, const char *path, auth_token_t *out, size_t *n, char *err, size_t errlen)
{
    int line = 0;
    *n = 0;
    for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        line++;
        char *hash = strchr(l, '#');
        if (hash)
            *hash = '\0';
        char *f[4] = {0};
        int k = 0;
        for (char *s2 = NULL, *w = strtok_r(l, " \t\r", &s2); w && k < 4; w = strtok_r(NULL, " \t\r", &s2))
            f[k++] = w;
        if (k == 0)
            continue;
        bool ro = k == 3 && strcmp(f[2], "ro") == 0;
        if (k < 2 || k > 3 || (k == 3 && !ro) || strlen(f[0]) > 64 || strlen(f[1]) > 256 ||
            strlen(f[1]) < AUTH_TOKEN_MIN || strspn(f[0], "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != strlen(f[0])) {
            snprintf(err, errlen, "%.300s: line %d: expected \"NAME TOKEN\" or \"NAME TOKEN ro\" (NAME of "
                     "A-Z a-z 0-9 . _ -, TOKEN of %d to 256 characters)", path, line, AUTH_TOKEN_MIN);
            return -1;
        }
        if (*n == AUTH_MAX) {
            snprintf(err, errlen, "%.300s: more than %d tokens", path, AUTH_MAX);
            return -1;
        }
        snprintf(out[*n].name, sizeof(out[*n].name), "%s", f[0]);
        snprintf(out[*n].token, sizeof(out[*n].token), "%s", f[1]);
        out[*n].ro = ro;
        (*n)++;
    }
    if (*n == 0) {
        snprintf(err, errlen, "%.300s: no token in the file", path);
        return -1;
    }
    return 0;
}

/* Read and check the token file into fresh (n tokens); 0, or -1 with err
 * naming the config key, the file and what is wrong (never a token).
 * *none: no token file configured (control off). */
static int auth_read(const cfg_t *cfg, auth_token_t *fresh, size_t *n, bool *none, char *err, size_t errlen)
{
    char path[4200], key[4300];
    const char *cd = getenv("CREDENTIALS_DIRECTORY");
    const cfg_controller_t *c = &cfg->controller;
    *none = false;
    *n = 0;
    if (c->token_credential && cd) {
        snprintf(path, sizeof(path), "%s/%s", cd, c->token_credential);
        snprintf(key, sizeof(key), "%s: controller.token_credential", cfg->path ? cfg->path : "config");
    } else if (c->token_file) {
        snprintf(path, sizeof(path), "%s", c->token_file);
        snprintf(key, sizeof(key), "%s: controller.token_file", cfg->path ? cfg->path : "config");
    } else {
        *none = true;
        return 0;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);   /* a FIFO never blocks the start */
    struct stat st;
    if (fd == -1 || fstat(fd, &st) == -1) {
        snprintf(err, errlen, "%.300s: token file %.300s: cannot read: %s", key, path, strerror(errno));
        if (fd != -1)
            close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%.300s: token file %.300s: not a regular file", key, path);
        close(fd);
        return -1;
    }
    if (st.st_mode & 077) {
        snprintf(err, errlen, "%.300s: token file %.300s is readable by group or others (mode %04o): "
                 "chmod 600 it (or pass it with systemd's LoadCredential=)", key, path,
                 (unsigned)(st.st_mode & 07777));
        close(fd);
        return -1;
    }
    char buf[32768];
    ssize_t r = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (r < 0 || (size_t)r >= sizeof(buf) - 1) {
        snprintf(err, errlen, "%.300s: token file %.300s: %s", key, path, r < 0 ? strerror(errno) : "larger than 32 KiB");
        explicit_bzero(buf, sizeof(buf));
        return -1;
    }
    buf[r] = '\0';
    char perr[700];
    int rc = auth_parse(buf, path, fresh, n, perr, sizeof(perr));
    explicit_bzero(buf, sizeof(buf));
    if (rc == -1)
        snprintf(err, errlen, "%.300s: %s", key, perr);
    return rc;
}

int auth_check_file(const cfg_t *cfg, char *err, size_t errlen)
{
    auth_token_t fresh[AUTH_MAX];
    size_t n;
    bool none;
    int rc = auth_read(cfg, fresh, &n, &none, err, errlen);
    explicit_bzero(fresh, sizeof(fresh));
    return rc;
}

int auth_load(const cfg_t *cfg, char *err, size_t errlen)
{
    auth_token_t fresh[AUTH_MAX];
    size_t n;
    bool none;
    int rc = auth_read(cfg, fresh, &n, &none, err, errlen);
    if (rc == 0)
        auth_audit_max = cfg->controller.audit_max_bytes;
    if (rc == 0 && none)
        auth_wipe();
    else if (rc == 0) {
        auth_wipe();
        memcpy(auth_tokens, fresh, sizeof(fresh[0]) * n);
        auth_n = n;
        auth_on = true;
        log_msg(LOG_INFO, "msg=\"api tokens loaded\" count=%zu", n);
    }
    explicit_bzero(fresh, sizeof(fresh));
    return rc;
}

bool auth_configured(void)
{
    return auth_on;
}

/* Equal strings, in time that depends only on the length of b (the secret). */
static bool auth_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = la != lb;
    for (size_t i = 0; i < lb; i++)
        diff |= (unsigned char)(b[i] ^ (i < la ? a[i] : 0));
    return diff == 0;
}

auth_level_t auth_check(struct evhttp_request *req, char *who, size_t wholen)
{
    who[0] = '\0';
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (!auth_on || !h || strncasecmp(h, "Bearer ", 7) != 0)
        return AUTH_NONE;
    const char *tok = h + 7;
    auth_level_t level = AUTH_NONE;
    for (size_t i = 0; i < auth_n; i++)   /* no early exit: every token is compared */
        if (auth_equal(tok, auth_tokens[i].token)) {
            level = auth_tokens[i].ro ? AUTH_READ : AUTH_WRITE;
            snprintf(who, wholen, "%s", auth_tokens[i].name);
        }
    return level;
}

/* The audit log: one JSON line per control action, never more than
 * audit_max_bytes (then it becomes audit.log.1, replacing the previous one).
 * A failed open or write is logged and alarmed ("audit-log"), once per
 * failure spell, and resolved by the next good write. */
static bool auth_audit_broken;
static uint64_t auth_audit_failures;

static void auth_audit_failed(const char *path, const char *op, int e)
{
    auth_audit_failures++;
    if (auth_audit_broken)
        return;
    auth_audit_broken = true;
    char sum[600];
    snprintf(sum, sizeof(sum), "audit log %.400s: cannot %s: %s (control actions are not being recorded)",
             path, op, strerror(e));
    log_msg(LOG_ERR, "msg=\"audit log failed\" path=%s op=%s error=\"%s\"", path, op, strerror(e));
    alarm_raise(alarm_key(ALARM_AUDIT_LOG).s, "critical", sum, NULL);
}

static void auth_audit_write(char *line)
{
    char path[4200], old[4220];
    if (!state_dir())
        return;
    snprintf(path, sizeof(path), "%s/audit.log", state_dir());
    size_t len = strlen(line);
    struct stat st;
    if (stat(path, &st) == 0 && (uint64_t)st.st_size + len + 1 > auth_audit_max) {
        snprintf(old, sizeof(old), "%s.1", path);
        if (rename(path, old) == -1) {
            auth_audit_failed(path, "rotate", errno);
            return;
        }
    }
    /* Non-blocking, and a regular file only: a FIFO in audit.log's place
     * would block open() (no reader) or write() (a reader that does not
     * read) on the loop. */
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0640);
    if (fd == -1) {
        auth_audit_failed(path, "open", errno);
        return;
    }
    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
        close(fd);
        auth_audit_failed(path, "open-not-a-regular-file", EINVAL);
        return;
    }
    line[len] = '\n';
    ssize_t w = write(fd, line, len + 1);
    int e = errno;
    line[len] = '\0';
    if (close(fd) == -1 && w == (ssize_t)(len + 1))
        w = -1, e = errno;
    if (w != (ssize_t)(len + 1)) {
        auth_audit_failed(path, "write", w >= 0 ? ENOSPC : e);
        return;
    }
    if (auth_audit_broken) {
        auth_audit_broken = false;
        log_msg(LOG_NOTICE, "msg=\"audit log written again\" path=%s", path);
        alarm_resolve(alarm_key(ALARM_AUDIT_LOG).s, "the audit log is written again");
    }
}

static cJSON *auth_audit_obj(const char *who, const char *what, int status, const char *result)
{
    char when[40];
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "time", loop_fmt_wall(loop_wall_ms(), when, sizeof(when)));
    cJSON_AddStringToObject(o, "who", who && *who ? who : "-");
    cJSON_AddStringToObject(o, "what", what);
    cJSON_AddNumberToObject(o, "status", status);
    cJSON_AddStringToObject(o, "result", result);
    return o;
}

static void auth_audit_line(cJSON *o)
{
    char *line = o ? cJSON_PrintUnformatted(o) : NULL;
    if (line) {
        utf8_scrub(line);
        auth_audit_write(line);
    }
    free(line);
}

void auth_audit(const char *who, const char *what, int status, const char *result)
{
    cJSON *o = auth_audit_obj(who, what, status, result);
    auth_audit_line(o);
    if (o)
        feed_emit(EV_AUDIT, o);   /* an authenticated action: it belongs with the decisions */
}

/* Refused requests (401, 403): the first AUTH_DENY_BURST of each interval
 * are written one by one, the rest counted and summarised in one line when
 * the interval ends.  None of them enters the event ring. */
#define AUTH_DENY_BURST 10
#define AUTH_DENY_INTERVAL_MS 60000u
static uint64_t auth_deny_start, auth_deny_in_interval, auth_deny_total, auth_deny_suppressed_total;

static void auth_deny_summary(void)
{
    if (auth_deny_in_interval <= AUTH_DENY_BURST)
        return;
    char msg[200];
    uint64_t n = auth_deny_in_interval - AUTH_DENY_BURST;
    snprintf(msg, sizeof(msg), "%llu more refused requests in this interval, not written one by one",
             (unsigned long long)n);
    cJSON *o = auth_audit_obj("-", "refused requests (summary)", 401, msg);
    if (o) {
        cJSON_AddNumberToObject(o, "suppressed", (double)n);
        cJSON_AddNumberToObject(o, "interval_s", AUTH_DENY_INTERVAL_MS / 1000);
    }
    auth_audit_line(o);
    cJSON_Delete(o);
}

void auth_audit_denied(const char *who, const char *what, int status, const char *result)
{
    uint64_t now = loop_now_ms();
    if (!auth_deny_start || now - auth_deny_start >= AUTH_DENY_INTERVAL_MS) {
        auth_deny_summary();
        auth_deny_start = now;
        auth_deny_in_interval = 0;
    }
    auth_deny_total++;
    if (++auth_deny_in_interval > AUTH_DENY_BURST) {
        auth_deny_suppressed_total++;
        return;
    }
    cJSON *o = auth_audit_obj(who, what, status, result);
    auth_audit_line(o);
    cJSON_Delete(o);
}

void auth_stats(auth_stats_t *s)
{
    s->denied_total = auth_deny_total;
    s->denied_suppressed_total = auth_deny_suppressed_total;
    s->audit_failures_total = auth_audit_failures;
}

void auth_fini(void)
{
    auth_deny_summary();
    auth_wipe();
}
