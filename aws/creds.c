/* creds — see creds.h.  The chain, the cache and its waiters, and the
 * environment source.  The shared credentials file is read in creds_ini.c,
 * the HTTP sources are in creds_http.c. */
#include "aws/creds.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "aws/creds_int.h"
#include "core/log.h"
#include "core/loop.h"

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

const char *creds_env(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] ? v : NULL;
}

void creds_errf(char *err, size_t errlen, const char *fmt, ...)
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

int creds_put(char *dst, size_t dstlen, const char *src, size_t n, const char *label,
              const char *name, char *err, size_t errlen)
{
    if (n >= dstlen) {
        creds_errf(err, errlen, "%s: %s longer than %zu bytes", label, name, dstlen - 1);
        return -1;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
    return 0;
}

/* 1: found; 0: not set (noted); -1: err. */
static int cr_from_env(aws_creds_t *c, char *err, size_t errlen)
{
    const char *id = creds_env("AWS_ACCESS_KEY_ID"), *sec = creds_env("AWS_SECRET_ACCESS_KEY");
    const char *tok = creds_env("AWS_SESSION_TOKEN");
    if (!id && !sec) {
        cr_note("environment: not set");
        return 0;
    }
    if (!id || !sec) {
        creds_errf(err, errlen, "environment: %s is set but %s is not",
                   id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
                   id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
        return -1;
    }
    const char *l = "environment";
    if (creds_put(c->access_key, sizeof(c->access_key), id, strlen(id), l, "AWS_ACCESS_KEY_ID",
                  err, errlen) == -1 ||
        creds_put(c->secret_key, sizeof(c->secret_key), sec, strlen(sec), l,
                  "AWS_SECRET_ACCESS_KEY", err, errlen) == -1 ||
        creds_put(c->token, sizeof(c->token), tok ? tok : "", tok ? strlen(tok) : 0, l,
                  "AWS_SESSION_TOKEN", err, errlen) == -1)
        return -1;
    snprintf(c->source, sizeof(c->source), "environment");
    return 1;
}

/* ---- shared credentials file (creds_ini.c) ---- */

/* 1: found; 0: nothing here (noted); -1: err. */
static int cr_from_file(aws_creds_t *c, char *err, size_t errlen)
{
    char note[sizeof(cr.notes)] = "";
    int rc = creds_from_file(&cr.cfg, c, note, sizeof(note), err, errlen);
    if (rc == 0)
        cr_note("%s", note);
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
    const char *v = creds_env("AWS_EC2_METADATA_DISABLED");
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
        creds_errf(err, errlen, "no AWS credentials: %s; instance metadata disabled "
                   "(AWS_EC2_METADATA_DISABLED)", cr.notes);
        return -1;
    }
    const char *ep = cr.cfg.imds_endpoint ? cr.cfg.imds_endpoint
                   : creds_env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
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
