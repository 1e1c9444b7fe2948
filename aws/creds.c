/* creds — see creds.h.  The chain, the cache and its waiters, and the two
 * local sources (environment, shared credentials file with its small strict
 * INI reader).  The HTTP sources are in creds_http.c. */
#include "creds.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "creds_int.h"
#include "log.h"
#include "loop.h"

#define CR_FILE_MAX (1024 * 1024)
#define CR_IMDS_DEFAULT "http://169.254.169.254"

typedef struct cr_waiter {
    uint64_t id;
    creds_fn fn;
    void *arg;
    struct cr_waiter *next;
} cr_waiter_t;

/* Module state; owned here.  cfg strings are our copies. */
static struct {
    bool inited;
    creds_cfg_t cfg;
    aws_creds_t cur;             /* the cache; wiped when replaced or dropped */
    bool have;
    cr_waiter_t *waiters;        /* waiting for the running fetch */
    cr_waiter_t *firing;         /* being called back right now */
    uint64_t next_id;
    creds_http_t *fetch;
    char notes[512];             /* why the local sources had nothing */
} cr;

/* An environment variable, NULL when unset or empty. */
static const char *cr_env(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] ? v : NULL;
}

/* snprintf for error messages, which may be cut short. */
static void cr_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void cr_errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Remember why a local source had nothing, for the final error. */
static void cr_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void cr_note(const char *fmt, ...)
{
    size_t n = strlen(cr.notes);
    if (n && n + 2 < sizeof(cr.notes)) {
        memcpy(cr.notes + n, "; ", 3);
        n += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cr.notes + n, sizeof(cr.notes) - n, fmt, ap);
    va_end(ap);
}

int creds_parse_expiration(const char *s, int64_t *wall_ms)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (!s || s[0] < '0' || s[0] > '9')
        return -1;
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return -1;
    int64_t frac = 0, scale = 100;
    if (*p == '.') {
        if (*++p < '0' || *p > '9')
            return -1;
        for (; *p >= '0' && *p <= '9'; p++, scale /= 10)
            frac += (*p - '0') * scale;
    }
    long off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':' &&
               strspn(p + 1, "0123456789") == 2 && strspn(p + 4, "0123456789") == 2) {
        off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600L + ((p[4] - '0') * 10 + (p[5] - '0')) * 60L;
        off = *p == '-' ? -off : off;
        p += 6;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    *wall_ms = ((int64_t)t - off) * 1000 + frac;
    return 0;
}

/* ---- environment ---- */

/* Copy src into a credentials field; -1 with err when it does not fit. */
static int cr_put(char *dst, size_t dstlen, const char *src, size_t n, const char *label,
                  const char *name, char *err, size_t errlen)
{
    if (n >= dstlen) {
        cr_errf(err, errlen, "%s: %s longer than %zu bytes", label, name, dstlen - 1);
        return -1;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
    return 0;
}

/* 1: found; 0: not set (noted); -1: err. */
static int cr_from_env(aws_creds_t *c, char *err, size_t errlen)
{
    const char *id = cr_env("AWS_ACCESS_KEY_ID"), *sec = cr_env("AWS_SECRET_ACCESS_KEY");
    const char *tok = cr_env("AWS_SESSION_TOKEN");
    if (!id && !sec) {
        cr_note("environment: not set");
        return 0;
    }
    if (!id || !sec) {
        cr_errf(err, errlen, "environment: %s is set but %s is not",
                id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
                id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
        return -1;
    }
    const char *l = "environment";
    if (cr_put(c->access_key, sizeof(c->access_key), id, strlen(id), l, "AWS_ACCESS_KEY_ID",
               err, errlen) == -1 ||
        cr_put(c->secret_key, sizeof(c->secret_key), sec, strlen(sec), l,
               "AWS_SECRET_ACCESS_KEY", err, errlen) == -1 ||
        cr_put(c->token, sizeof(c->token), tok ? tok : "", tok ? strlen(tok) : 0, l,
               "AWS_SESSION_TOKEN", err, errlen) == -1)
        return -1;
    snprintf(c->source, sizeof(c->source), "environment");
    return 1;
}

/* ---- shared credentials file: a strict INI reader ---- */

typedef struct {
    const char *v;
    size_t n;
    unsigned line;               /* 0 = not seen */
} cr_ini_val_t;

typedef struct {
    cr_ini_val_t id, secret, token;
    bool found;
    unsigned section_line;
} cr_ini_t;

static const char *cr_skip_ws(const char *s, const char *e)
{
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    return s;
}

static const char *cr_trim_end(const char *s, const char *e)
{
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    return e;
}

/* A "[name]" line; -1 with err, else 0 with name/len set. */
static int cr_ini_section(const char *s, const char *e, unsigned line, const char **name,
                          size_t *len, char *err, size_t errlen)
{
    const char *close = memchr(s, ']', (size_t)(e - s));
    if (!close) {
        cr_errf(err, errlen, "line %u: section header without ']'", line);
        return -1;
    }
    const char *after = cr_skip_ws(close + 1, e);
    if (after < e && *after != '#' && *after != ';') {
        cr_errf(err, errlen, "line %u: text after the section header", line);
        return -1;
    }
    *name = cr_skip_ws(s + 1, close);
    *len = (size_t)(cr_trim_end(*name, close) - *name);
    if (*len == 0) {
        cr_errf(err, errlen, "line %u: empty section name", line);
        return -1;
    }
    return 0;
}

/* The slot a key of the selected profile fills, NULL for other keys. */
static cr_ini_val_t *cr_ini_slot(cr_ini_t *o, const char *k, size_t n, const char **canon)
{
    static const char *const names[] = {"aws_access_key_id", "aws_secret_access_key",
                                        "aws_session_token"};
    cr_ini_val_t *slots[] = {&o->id, &o->secret, &o->token};
    for (size_t i = 0; i < 3; i++)
        if (strlen(names[i]) == n && strncasecmp(k, names[i], n) == 0) {
            *canon = names[i];
            return slots[i];
        }
    return NULL;
}

/* A "key = value" line; the value ends at '#' or ';' after whitespace. */
static int cr_ini_property(const char *s, const char *e, unsigned line, bool selected,
                           const char *profile, cr_ini_t *o, cr_ini_val_t **last, char *err,
                           size_t errlen)
{
    const char *eq = memchr(s, '=', (size_t)(e - s));
    if (!eq) {
        cr_errf(err, errlen, "line %u: expected 'key = value'", line);
        return -1;
    }
    const char *ke = cr_trim_end(s, eq);
    if (ke == s) {
        cr_errf(err, errlen, "line %u: empty key", line);
        return -1;
    }
    const char *v = cr_skip_ws(eq + 1, e), *ve = e;
    for (const char *q = v; q < e; q++)
        if ((*q == '#' || *q == ';') && (q[-1] == ' ' || q[-1] == '\t')) {
            ve = q;
            break;
        }
    ve = cr_trim_end(v, ve);
    *last = NULL;
    const char *canon = NULL;
    cr_ini_val_t *slot = selected ? cr_ini_slot(o, s, (size_t)(ke - s), &canon) : NULL;
    if (!slot)
        return 0;
    if (slot->line) {
        cr_errf(err, errlen, "line %u: %s set twice in profile '%s' (first at line %u)", line,
                canon, profile, slot->line);
        return -1;
    }
    *slot = (cr_ini_val_t){.v = v, .n = (size_t)(ve - v), .line = line};
    *last = slot;
    return 0;
}

/* Find profile's keys in an INI buffer.  0 (o->found tells), or -1 with
 * err ("line N: ..."; never a line's text, which may be a secret). */
static int cr_ini_parse(const char *buf, size_t len, const char *profile, cr_ini_t *o,
                        char *err, size_t errlen)
{
    const char *p = buf, *end = buf + len;
    unsigned line = 0;
    bool in_section = false, selected = false, have_prop = false;
    cr_ini_val_t *last = NULL;   /* the previous property, when it is one of ours */
    memset(o, 0, sizeof(*o));
    if (memchr(buf, '\0', len)) {
        cr_errf(err, errlen, "contains a NUL byte");
        return -1;
    }
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p)), *s = p, *e;
        e = eol ? eol : end;
        p = eol ? eol + 1 : end;
        line++;
        if (e > s && e[-1] == '\r')
            e--;
        bool indented = s < e && (*s == ' ' || *s == '\t');
        s = cr_skip_ws(s, e);
        if (s == e) {              /* a blank line ends any continuation */
            have_prop = false;
            last = NULL;
            continue;
        }
        if (*s == '#' || *s == ';')
            continue;
        if (indented && have_prop) {   /* a continuation (nested) line */
            if (last) {
                cr_errf(err, errlen, "line %u: continuation line under a credential key", line);
                return -1;
            }
            continue;
        }
        if (*s == '[') {
            const char *name;
            size_t n;
            if (cr_ini_section(s, e, line, &name, &n, err, errlen) == -1)
                return -1;
            in_section = true;
            have_prop = false;
            last = NULL;
            selected = n == strlen(profile) && memcmp(name, profile, n) == 0;
            if (selected && o->found) {
                cr_errf(err, errlen, "line %u: profile '%s' defined again (first at line %u)",
                        line, profile, o->section_line);
                return -1;
            }
            if (selected) {
                o->found = true;
                o->section_line = line;
            }
            continue;
        }
        if (!in_section) {
            cr_errf(err, errlen, "line %u: key outside any [section]", line);
            return -1;
        }
        if (cr_ini_property(s, e, line, selected, profile, o, &last, err, errlen) == -1)
            return -1;
        have_prop = true;
    }
    return 0;
}

int creds_read_file(const char *path, size_t max, char **out, size_t *outlen, char *err,
                    size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    *out = NULL;
    if (fd == -1) {
        cr_errf(err, errlen, "%s", errno == ENOENT ? "not found" : strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) == -1) {
        cr_errf(err, errlen, "stat: %s", strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
        cr_errf(err, errlen, "%s", S_ISREG(st.st_mode) ? "too large" : "not a regular file");
        goto fail;
    }
    cap = (size_t)st.st_size + 1;   /* one more byte tells a file that grew */
    if (!(buf = malloc(cap + 1))) {
        cr_errf(err, errlen, "out of memory");
        goto fail;
    }
    for (;;) {
        ssize_t n = read(fd, buf + len, cap - len);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1) {
            cr_errf(err, errlen, "read: %s", strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len == cap) {
            cr_errf(err, errlen, "changed while being read");
            goto fail;
        }
    }
    close(fd);
    buf[len] = '\0';
    *out = buf;
    *outlen = len;
    return 0;
fail:
    if (buf) {
        creds_wipe(buf, cap + 1);
        free(buf);
    }
    close(fd);
    return -1;
}

/* Where the shared file is: path, a label for messages, and whether the
 * user chose it (then a missing file or profile is an error).  -1 with err. */
static int cr_file_path(char *path, size_t pathlen, char *label, size_t labellen, bool *chosen,
                        char *err, size_t errlen)
{
    const char *name = cr.cfg.credential_name;
    *chosen = true;
    if (name) {
        const char *dir = cr_env("CREDENTIALS_DIRECTORY");
        if (!dir || !name[0] || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) {
            cr_errf(err, errlen, "systemd credential '%s': %s", name,
                    dir ? "not a plain file name" : "CREDENTIALS_DIRECTORY is not set "
                                                    "(LoadCredential= missing?)");
            return -1;
        }
        if ((size_t)snprintf(path, pathlen, "%s/%s", dir, name) >= pathlen) {
            cr_errf(err, errlen, "systemd credential '%s': path too long", name);
            return -1;
        }
        snprintf(label, labellen, "systemd credential '%s' (%s)", name, path);
        return 0;
    }
    const char *f = cr.cfg.shared_file ? cr.cfg.shared_file : cr_env("AWS_SHARED_CREDENTIALS_FILE");
    const char *home = cr_env("HOME");
    if (!home) {
        struct passwd *pw = getpwuid(geteuid());
        home = pw && pw->pw_dir && pw->pw_dir[0] ? pw->pw_dir : NULL;
    }
    if (!f) {
        *chosen = false;
        f = "~/.aws/credentials";
    }
    if (strncmp(f, "~/", 2) == 0) {
        if (!home) {
            snprintf(label, labellen, "shared credentials file %s", f);
            cr_errf(err, errlen, "%s: no home directory", label);
            return -1;
        }
        if ((size_t)snprintf(path, pathlen, "%s%s", home, f + 1) >= pathlen)
            path[0] = '\0';
    } else if ((size_t)snprintf(path, pathlen, "%s", f) >= pathlen) {
        path[0] = '\0';
    }
    if (!path[0]) {
        cr_errf(err, errlen, "shared credentials file: path too long");
        return -1;
    }
    snprintf(label, labellen, "shared credentials file %s", path);
    return 0;
}

/* Copy the profile's keys; -1 with err when incomplete or too long. */
static int cr_from_ini(const cr_ini_t *o, const char *label, const char *profile,
                       aws_creds_t *c, char *err, size_t errlen)
{
    if (!o->id.n || !o->secret.n) {
        if (!o->id.n && !o->secret.n)
            cr_errf(err, errlen, "%s: profile '%s' has no aws_access_key_id (role_arn, sso_* "
                    "and credential_process are not supported)", label, profile);
        else
            cr_errf(err, errlen, "%s: profile '%s' has %s but no %s", label, profile,
                    o->id.n ? "aws_access_key_id" : "aws_secret_access_key",
                    o->id.n ? "aws_secret_access_key" : "aws_access_key_id");
        return -1;
    }
    if (cr_put(c->access_key, sizeof(c->access_key), o->id.v, o->id.n, label,
               "aws_access_key_id", err, errlen) == -1 ||
        cr_put(c->secret_key, sizeof(c->secret_key), o->secret.v, o->secret.n, label,
               "aws_secret_access_key", err, errlen) == -1 ||
        cr_put(c->token, sizeof(c->token), o->token.v ? o->token.v : "", o->token.n, label,
               "aws_session_token", err, errlen) == -1)
        return -1;
    snprintf(c->source, sizeof(c->source), "shared-file:%.35s", profile);
    return 0;
}

/* 1: found; 0: nothing here (noted); -1: err. */
static int cr_from_file(aws_creds_t *c, char *err, size_t errlen)
{
    char path[1024], label[1100], why[256];
    bool chosen;
    if (cr_file_path(path, sizeof(path), label, sizeof(label), &chosen, err, errlen) == -1) {
        if (chosen)
            return -1;
        cr_note("%s", err);        /* the default file, and no home directory */
        return 0;
    }
    const char *profile = cr.cfg.profile ? cr.cfg.profile : cr_env("AWS_PROFILE");
    chosen = chosen || profile;
    profile = profile ? profile : "default";
    char *buf;
    size_t len;
    if (creds_read_file(path, CR_FILE_MAX, &buf, &len, why, sizeof(why)) == -1) {
        if (chosen || strcmp(why, "not found") != 0) {
            cr_errf(err, errlen, "%s: %s", label, why);
            return -1;
        }
        cr_note("%s: %s", label, why);
        return 0;
    }
    cr_ini_t o;
    int rc = -1;
    if (cr_ini_parse(buf, len, profile, &o, why, sizeof(why)) == -1) {
        cr_errf(err, errlen, "%s: %s", label, why);
    } else if (!o.found && !chosen) {
        cr_note("%s: no profile 'default'", label);
        rc = 0;
    } else if (!o.found) {
        cr_errf(err, errlen, "%s: profile '%s' not found", label, profile);
    } else if (cr_from_ini(&o, label, profile, c, err, errlen) == 0) {
        rc = 1;
    }
    creds_wipe(buf, len);
    free(buf);
    return rc;
}

/* ---- the chain and the cache ---- */

static bool cr_fresh(void)
{
    if (!cr.have)
        return false;
    if (cr.cur.expires_wall_ms == 0)
        return true;
    return loop_wall_ms() < cr.cur.expires_wall_ms - (int64_t)cr.cfg.refresh_before_s * 1000;
}

static void cr_store(const aws_creds_t *c)
{
    char when[40] = "never";
    creds_wipe(&cr.cur, sizeof(cr.cur));
    cr.cur = *c;
    cr.have = true;
    if (c->expires_wall_ms)
        loop_fmt_wall(c->expires_wall_ms, when, sizeof(when));
    log_msg(LOG_INFO, "msg=\"aws credentials loaded\" source=%s expires=%s", c->source, when);
}

/* Environment, then the shared file: 1 found, 0 none, -1 err. */
static int cr_load_local(aws_creds_t *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    cr.notes[0] = '\0';
    int rc = cr_from_env(c, err, errlen);
    if (rc == 0)
        rc = cr_from_file(c, err, errlen);
    if (rc != 1)
        creds_wipe(c, sizeof(*c));
    return rc;
}

static bool cr_imds_disabled(void)
{
    const char *v = cr_env("AWS_EC2_METADATA_DISABLED");
    return v && strcasecmp(v, "true") == 0;
}

static void cr_on_fetched(void *arg, const aws_creds_t *c, const char *err);

/* Container if configured, else IMDSv2.  0 started, -1 with err. */
static int cr_start_fetch(char *err, size_t errlen)
{
    const uint32_t t = cr.cfg.timeout_ms;
    cr.fetch = creds_http_container(t, cr_on_fetched, NULL, err, errlen);
    if (cr.fetch || err[0])
        return cr.fetch ? 0 : -1;
    if (cr_imds_disabled()) {
        cr_errf(err, errlen, "no AWS credentials: %s; instance metadata disabled "
                "(AWS_EC2_METADATA_DISABLED)", cr.notes);
        return -1;
    }
    const char *ep = cr.cfg.imds_endpoint ? cr.cfg.imds_endpoint
                   : cr_env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    cr.fetch = creds_http_imds(ep ? ep : CR_IMDS_DEFAULT, t, cr_on_fetched, NULL, err, errlen);
    return cr.fetch ? 0 : -1;
}

/* Still usable (not expired) though due for refresh: used when a refresh fails. */
static bool cr_stale_usable(void)
{
    return cr.have && cr.cur.expires_wall_ms > loop_wall_ms();
}

/* Call every waiter of the finished fetch, each once.  A callback may get,
 * cancel, invalidate or even fini: the list is re-read after each call. */
static void cr_fire(const aws_creds_t *c, const char *err)
{
    cr_waiter_t **tail = &cr.firing;
    while (*tail)
        tail = &(*tail)->next;
    *tail = cr.waiters;
    cr.waiters = NULL;
    while (cr.firing) {
        cr_waiter_t *w = cr.firing;
        cr.firing = w->next;
        creds_fn fn = w->fn;
        void *arg = w->arg;
        free(w);
        fn(arg, c, c ? NULL : err);
    }
}

static void cr_on_fetched(void *arg, const aws_creds_t *c, const char *err)
{
    (void)arg;
    cr.fetch = NULL;
    aws_creds_t copy;
    char msg[1024] = "";
    const aws_creds_t *res = NULL;
    if (c) {
        cr_store(c);
        res = c;
    } else if (cr_stale_usable()) {
        log_msg(LOG_WARNING, "msg=\"aws credentials refresh failed, keeping the current ones\" "
                "source=%s error=\"%s\"", cr.cur.source, err);
        res = &cr.cur;
    } else {
        snprintf(msg, sizeof(msg), "%s%s%s%s", err, cr.notes[0] ? " (also tried: " : "",
                 cr.notes, cr.notes[0] ? ")" : "");
        log_msg(LOG_WARNING, "msg=\"aws credentials unavailable\" error=\"%s\"", msg);
    }
    if (res)
        copy = *res;   /* callbacks may invalidate the cache while we deliver */
    cr_fire(res ? &copy : NULL, msg);
    if (res)
        creds_wipe(&copy, sizeof(copy));
}

/* Answer one caller now, from a copy the callback cannot disturb. */
static uint64_t cr_answer(creds_fn fn, void *arg, const aws_creds_t *c, const char *err)
{
    aws_creds_t copy;
    if (c)
        copy = *c;
    fn(arg, c ? &copy : NULL, c ? NULL : err);
    if (c)
        creds_wipe(&copy, sizeof(copy));
    return 0;
}

uint64_t creds_get(creds_fn fn, void *arg)
{
    char err[1024] = "";
    if (!cr.inited)
        return cr_answer(fn, arg, NULL, "credentials: module not initialised");
    if (cr_fresh())
        return cr_answer(fn, arg, &cr.cur, NULL);
    if (!cr.fetch) {
        aws_creds_t c;
        int rc = cr_load_local(&c, err, sizeof(err));
        if (rc == 1) {
            cr_store(&c);
            creds_wipe(&c, sizeof(c));
            return cr_answer(fn, arg, &cr.cur, NULL);
        }
        if (rc == -1 || cr_start_fetch(err, sizeof(err)) == -1) {
            log_msg(LOG_WARNING, "msg=\"aws credentials unavailable\" error=\"%s\"", err);
            return cr_answer(fn, arg, cr_stale_usable() ? &cr.cur : NULL, err);
        }
    }
    cr_waiter_t *w = calloc(1, sizeof(*w));
    if (!w)
        return cr_answer(fn, arg, NULL, "credentials: out of memory");
    w->id = ++cr.next_id;
    w->fn = fn;
    w->arg = arg;
    cr_waiter_t **tail = &cr.waiters;
    while (*tail)
        tail = &(*tail)->next;
    *tail = w;
    return w->id;
}

static bool cr_unlink(cr_waiter_t **pp, uint64_t id)
{
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->id == id) {
            cr_waiter_t *w = *pp;
            *pp = w->next;
            free(w);
            return true;
        }
    return false;
}

void creds_cancel(uint64_t id)
{
    if (id && !cr_unlink(&cr.waiters, id))
        cr_unlink(&cr.firing, id);
}

void creds_invalidate(void)
{
    creds_wipe(&cr.cur, sizeof(cr.cur));
    cr.have = false;
}

const char *creds_source(void)
{
    return cr.have ? cr.cur.source : "";
}

static void cr_free_cfg(void)
{
    free((char *)cr.cfg.profile);
    free((char *)cr.cfg.shared_file);
    free((char *)cr.cfg.credential_name);
    free((char *)cr.cfg.imds_endpoint);
    memset(&cr.cfg, 0, sizeof(cr.cfg));
}

static int cr_dup(const char **dst, const char *src)
{
    *dst = NULL;
    return src && !(*dst = strdup(src)) ? -1 : 0;
}

int creds_init(const creds_cfg_t *cfg)
{
    creds_cfg_t zero = {0};
    if (!cfg)
        cfg = &zero;
    cr_free_cfg();
    creds_invalidate();
    if (cr_dup(&cr.cfg.profile, cfg->profile) == -1 ||
        cr_dup(&cr.cfg.shared_file, cfg->shared_file) == -1 ||
        cr_dup(&cr.cfg.credential_name, cfg->credential_name) == -1 ||
        cr_dup(&cr.cfg.imds_endpoint, cfg->imds_endpoint) == -1) {
        cr_free_cfg();
        return -1;
    }
    cr.cfg.refresh_before_s = cfg->refresh_before_s ? cfg->refresh_before_s : 300;
    cr.cfg.timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : 2000;
    cr.inited = true;
    return 0;
}

static void cr_free_waiters(cr_waiter_t **l)
{
    while (*l) {
        cr_waiter_t *w = *l;
        *l = w->next;
        free(w);
    }
}

void creds_fini(void)
{
    creds_http_cancel(cr.fetch);
    cr.fetch = NULL;
    cr_free_waiters(&cr.waiters);
    cr_free_waiters(&cr.firing);
    creds_invalidate();
    cr_free_cfg();
    cr.inited = false;
}
