/* cfg.c — reading the configuration file, JSON syntax, duplicate and unknown
 * keys, the typed getters that name each key's path, and secrets.  The
 * sections are built, cross-checked and freed in cfg_check.c. */
#include "config/cfg_int.h"
#include "config/utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CFG_FILE_MAX (16u << 20)      /* a larger config file is a mistake */
#define CFG_SECRET_MAX 65536u         /* a larger secret is a mistake */
#define CFG_SHOW_MAX 60               /* bytes of a string shown in a message */

static void out_of_memory(void)
{
    fputs("regiond: out of memory while loading the configuration\n", stderr);
    abort();
}

void *cfg_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        out_of_memory();
    return p;
}

char *cfg_xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p)
        out_of_memory();
    return p;
}

/* ---- key paths and messages ---------------------------------------------- */

void cfg_key_path(char *out, const char *parent, const char *key)
{
    size_t n = 0;
    if (parent && *parent) {
        n = strnlen(parent, CFG_PATH_MAX - 2);
        memcpy(out, parent, n);
        out[n++] = '.';
    }
    /* keys come from the file: show control characters as '?' */
    for (const unsigned char *k = (const unsigned char *)key; *k && n + 1 < CFG_PATH_MAX; k++)
        out[n++] = (*k < 0x20 || *k == 0x7f) ? '?' : (char)*k;
    out[n] = '\0';
}

void cfg_idx_path(char *out, const char *parent, size_t i)
{
    char idx[32];
    int k = snprintf(idx, sizeof idx, "[%zu]", i);
    size_t n = strnlen(parent, CFG_PATH_MAX - 1 - (size_t)k);
    memcpy(out, parent, n);
    memcpy(out + n, idx, (size_t)k + 1);
}

int cfg_fail(cfg_ctx_t *c, const char *path, const char *fmt, ...)
{
    if (!c->err || c->errlen == 0)
        return -1;
    int n = path && *path ? snprintf(c->err, c->errlen, "%s: %s: ", c->file, path)
                          : snprintf(c->err, c->errlen, "%s: ", c->file);
    if (n >= 0 && (size_t)n < c->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Quote S as a JSON string, escaped, cut after CFG_SHOW_MAX bytes. */
static void quote(const char *s, char *out, size_t n)
{
    size_t o = 0, i = 0;
    const unsigned char *u = (const unsigned char *)s;
    if (n < 16) {
        snprintf(out, n, "a string");
        return;
    }
    out[o++] = '"';
    for (; u[i] && i < CFG_SHOW_MAX && o + 8 < n; i++) {
        if (u[i] == '"' || u[i] == '\\')
            o += (size_t)snprintf(out + o, n - o, "\\%c", u[i]);
        else if (u[i] < 0x20 || u[i] == 0x7f)
            o += (size_t)snprintf(out + o, n - o, "\\u%04x", u[i]);
        else
            out[o++] = (char)u[i];
    }
    if (u[i]) {
        while (o > 1 && ((unsigned char)out[o - 1] & 0xc0) == 0x80)
            o--;                               /* do not cut a UTF-8 sequence */
        if (o > 1 && ((unsigned char)out[o - 1] & 0xc0) == 0xc0)
            o--;
        o += (size_t)snprintf(out + o, n - o, "...");
    }
    snprintf(out + o, n - o, "\"");
}

void cfg_describe(const cJSON *v, char *out, size_t n)
{
    if (!v)
        snprintf(out, n, "nothing");
    else if (cJSON_IsNumber(v) && !isfinite(v->valuedouble))
        snprintf(out, n, "a number too large to represent");
    else if (cJSON_IsNumber(v)) {
        snprintf(out, n, "%.15g", v->valuedouble);
        if (strtod(out, NULL) != v->valuedouble)
            snprintf(out, n, "%.17g", v->valuedouble);
    } else if (cJSON_IsString(v))
        quote(v->valuestring, out, n);
    else if (cJSON_IsBool(v))
        snprintf(out, n, "%s", cJSON_IsTrue(v) ? "true" : "false");
    else if (cJSON_IsNull(v))
        snprintf(out, n, "null");
    else if (cJSON_IsArray(v))
        snprintf(out, n, "%s", v->child ? "an array" : "an empty array");
    else
        snprintf(out, n, "%s", v->child ? "an object" : "an empty object");
}

int cfg_expect(cfg_ctx_t *c, const char *path, const char *what, const cJSON *got)
{
    char g[CFG_SHOW_MAX * 6 + 16];
    cfg_describe(got, g, sizeof g);
    return cfg_fail(c, path, "expected %s, got %s", what, g);
}

/* ---- keys: duplicates, unknown keys and suggestions ------------------------ */

/* Optimal string alignment distance (a transposition counts as one edit). */
static size_t edit_distance(const char *a, const char *b)
{
    unsigned char d[CFG_NAME_MAX + 1][CFG_NAME_MAX + 1];
    size_t la = strlen(a), lb = strlen(b);
    if (la > CFG_NAME_MAX || lb > CFG_NAME_MAX)
        return (size_t)-1;
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (unsigned char)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (unsigned char)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            unsigned cost = a[i - 1] != b[j - 1], m = d[i - 1][j - 1] + cost;
            if (d[i - 1][j] + 1u < m)
                m = d[i - 1][j] + 1u;
            if (d[i][j - 1] + 1u < m)
                m = d[i][j - 1] + 1u;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]
                && d[i - 2][j - 2] + 1u < m)
                m = d[i - 2][j - 2] + 1u;
            d[i][j] = (unsigned char)m;
        }
    return d[la][lb];
}

/* The valid key closest to KEY, if it is at most 2 edits away. */
static const char *suggest(const char *key, const char *const *keys)
{
    const char *best = NULL;
    size_t bd = 3, len = strlen(key);
    for (size_t i = 0; keys[i]; i++) {
        size_t d = edit_distance(key, keys[i]);
        if (d < bd && d < len) {
            bd = d;
            best = keys[i];
        }
    }
    return best;
}

int cfg_keys(cfg_ctx_t *c, const cJSON *obj, const char *path, const char *const *keys)
{
    for (const cJSON *ch = obj->child; ch; ch = ch->next) {
        size_t i = 0;
        while (keys[i] && strcmp(keys[i], ch->string) != 0)
            i++;
        if (keys[i])
            continue;
        char sub[CFG_PATH_MAX], name[CFG_PATH_MAX], list[512] = "";
        cfg_key_path(sub, path, ch->string);
        cfg_key_path(name, "", ch->string);
        const char *best = suggest(ch->string, keys);
        if (best)
            return cfg_fail(c, sub, "unknown key '%s' (did you mean '%s'?)", name, best);
        for (size_t k = 0, n = 0; keys[k] && n < sizeof list; k++)
            n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", k ? ", " : "", keys[k]);
        return cfg_fail(c, sub, "unknown key '%s' (expected one of %s)", name, list);
    }
    return 0;
}

/* Reject an object that holds the same key twice, anywhere under V. */
static int check_duplicates(cfg_ctx_t *c, const cJSON *v, const char *path)
{
    char sub[CFG_PATH_MAX];
    size_t i = 0;
    for (const cJSON *ch = v->child; ch; ch = ch->next, i++) {
        if (cJSON_IsObject(v)) {
            cfg_key_path(sub, path, ch->string);
            for (const cJSON *p = v->child; p != ch; p = p->next)
                if (strcmp(p->string, ch->string) == 0)
                    return cfg_fail(c, sub, "duplicate key (each key may appear once per object)");
        } else {
            cfg_idx_path(sub, path, i);
        }
        if ((cJSON_IsObject(ch) || cJSON_IsArray(ch)) && check_duplicates(c, ch, sub) == -1)
            return -1;
    }
    return 0;
}

/* ---- typed getters ---------------------------------------------------------- */

const cJSON *cfg_member(const cJSON *obj, const char *key)
{
    return obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

int cfg_get_section(cfg_ctx_t *c, const cJSON *obj, const char *parent, const char *key,
                    const char *const *keys, const cJSON **out)
{
    const cJSON *v = cfg_member(obj, key);
    char path[CFG_PATH_MAX];
    *out = NULL;
    if (!v)
        return 0;
    cfg_key_path(path, parent, key);
    if (!cJSON_IsObject(v))
        return cfg_expect(c, path, "an object", v);
    if (keys && cfg_keys(c, v, path, keys) == -1)
        return -1;
    *out = v;
    return 0;
}

int cfg_u32_value(cfg_ctx_t *c, const cJSON *v, const char *path,
                  uint32_t min, uint32_t max, uint32_t *out)
{
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!isfinite(d) || d != floor(d) || d < min || d > max) {
        char what[64];
        snprintf(what, sizeof what, "an integer from %u to %u", min, max);
        return cfg_expect(c, path, what, v);
    }
    *out = (uint32_t)d;
    return 0;
}

int cfg_get_u32(cfg_ctx_t *c, const cJSON *obj, const char *parent, const char *key,
                uint32_t min, uint32_t max, uint32_t *out)
{
    const cJSON *v = cfg_member(obj, key);
    char path[CFG_PATH_MAX];
    if (!v)
        return 0;
    cfg_key_path(path, parent, key);
    return cfg_u32_value(c, v, path, min, max, out);
}

int cfg_get_bool(cfg_ctx_t *c, const cJSON *obj, const char *parent, const char *key,
                 bool *out)
{
    const cJSON *v = cfg_member(obj, key);
    char path[CFG_PATH_MAX];
    if (!v)
        return 0;
    cfg_key_path(path, parent, key);
    if (!cJSON_IsBool(v))
        return cfg_expect(c, path, "true or false", v);
    *out = cJSON_IsTrue(v);
    return 0;
}

bool cfg_name_ok(const char *s)
{
    size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-");
    return n >= 1 && n <= CFG_NAME_MAX && s[n] == '\0';
}

static bool has_control(const char *s)
{
    for (const unsigned char *u = (const unsigned char *)s; *u; u++)
        if (*u < 0x20 || *u == 0x7f)
            return true;
    return false;
}

int cfg_str_value(cfg_ctx_t *c, const cJSON *v, const char *path, unsigned flags)
{
    const char *what = flags & CFG_S_NAME ? "a name of 1 to 64 characters A-Z a-z 0-9 . _ -"
                     : flags & CFG_S_ABSPATH ? "an absolute path"
                     : flags & CFG_S_NONEMPTY ? "a non-empty string" : "a string";
    if (flags & CFG_S_ABSPATH)
        flags |= CFG_S_NONEMPTY | CFG_S_NOCTRL;
    if (flags & CFG_S_NAME)                   /* its charset has no control characters */
        flags = (flags | CFG_S_NONEMPTY) & ~(unsigned)CFG_S_NOCTRL;
    if (!cJSON_IsString(v) || ((flags & CFG_S_NONEMPTY) && !*v->valuestring))
        return cfg_expect(c, path, what, v);
    if ((flags & CFG_S_NOCTRL) && has_control(v->valuestring))
        return cfg_fail(c, path, "expected %s without control characters, got %s", what,
                        "a string with a control character");
    if (((flags & CFG_S_ABSPATH) && v->valuestring[0] != '/')
        || ((flags & CFG_S_NAME) && !cfg_name_ok(v->valuestring)))
        return cfg_expect(c, path, what, v);
    return 0;
}

int cfg_get_str(cfg_ctx_t *c, const cJSON *obj, const char *parent, const char *key,
                unsigned flags, char **out)
{
    const cJSON *v = cfg_member(obj, key);
    char path[CFG_PATH_MAX];
    if (!v)
        return 0;
    cfg_key_path(path, parent, key);
    if ((flags & CFG_S_NULL) && cJSON_IsNull(v)) {
        free(*out);
        *out = NULL;
        return 0;
    }
    if (cfg_str_value(c, v, path, flags) == -1)
        return -1;
    free(*out);
    *out = cfg_xstrdup(v->valuestring);
    return 0;
}

int cfg_get_enum(cfg_ctx_t *c, const cJSON *obj, const char *parent, const char *key,
                 const char *const *names, int *out)
{
    const cJSON *v = cfg_member(obj, key);
    char path[CFG_PATH_MAX], what[256] = "one of ";
    if (!v)
        return 0;
    for (int i = 0; names[i]; i++) {
        if (cJSON_IsString(v) && strcmp(v->valuestring, names[i]) == 0) {
            *out = i;
            return 0;
        }
        size_t n = strlen(what);
        snprintf(what + n, sizeof what - n, "%s%s", i ? ", " : "", names[i]);
    }
    cfg_key_path(path, parent, key);
    return cfg_expect(c, path, what, v);
}

/* ---- files and secrets ------------------------------------------------------ */

/* Read the regular file FN (at most MAX bytes) into a new NUL-terminated
 * buffer; on error, put "cannot read: ..." or what was expected in WHY. */
static int read_file(const char *fn, size_t max, char **out, size_t *len,
                     char *why, size_t whylen)
{
    struct stat st;
    size_t n = 0, size = 0;
    char *buf = NULL;
    int fd = open(fn, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd == -1 || fstat(fd, &st) == -1)
        goto fail;
    errno = EISDIR;
    if (S_ISDIR(st.st_mode))
        goto fail;
    if (!S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
        if (S_ISREG(st.st_mode))
            snprintf(why, whylen, "expected at most %zu bytes", max);
        else
            snprintf(why, whylen, "expected a regular file");
        close(fd);
        return -1;
    }
    size = (size_t)st.st_size;
    buf = cfg_xcalloc(size + 1, 1);
    while (n < size) {                    /* a file that grows meanwhile is cut */
        ssize_t r = read(fd, buf + n, size - n);
        if (r == -1 && errno == EINTR)
            continue;
        if (r == -1)
            goto fail;
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    *out = buf;
    *len = n;
    return 0;
fail:
    snprintf(why, whylen, "cannot read: %s", strerror(errno));
    if (fd != -1)
        close(fd);
    if (buf)
        explicit_bzero(buf, size);
    free(buf);
    return -1;
}

/* Take VAL (LEN bytes, from SRC such as "file /x") as H's value, or wipe it. */
static int secret_value(cfg_ctx_t *c, const char *path, const char *src, char *val,
                        size_t len, cfg_header_t *h)
{
    const char *bad = NULL;
    if (len > 0 && val[len - 1] == '\n')
        val[--len] = '\0';
    if (len == 0)
        bad = "expected a non-empty value";
    for (size_t i = 0; i < len && !bad; i++)
        if ((unsigned char)val[i] < 0x20 || val[i] == 0x7f)
            bad = "expected a single line without control characters"
                  " (one trailing newline is allowed)";
    if (bad) {
        explicit_bzero(val, len);
        free(val);
        return cfg_fail(c, path, "%s: %s", src, bad);
    }
    h->value = val;
    return 0;
}

/* Check the members of a secret object; the strings stay in the JSON tree. */
static int secret_members(cfg_ctx_t *c, const cJSON *v, const char *path,
                          const char **file, const char **env, const char **cred)
{
    static const char *const keys[] = { "file", "env", "credential", NULL };
    const cJSON *f = cfg_member(v, "file"), *e = cfg_member(v, "env"),
                *k = cfg_member(v, "credential");
    char sub[CFG_PATH_MAX];
    if (cfg_keys(c, v, path, keys) == -1)
        return -1;
    if ((!f && !e && !k) || (e && (f || k)))
        return cfg_expect(c, path, "exactly one of {\"file\": \"/path\"}, {\"env\": \"NAME\"}"
                          " or {\"credential\": \"NAME\"} (a credential may add a \"file\" "
                          "fallback)", v);
    cfg_key_path(sub, path, "file");
    if (f && cfg_str_value(c, f, sub, CFG_S_ABSPATH) == -1)
        return -1;
    cfg_key_path(sub, path, "env");
    if (e && (!cJSON_IsString(e) || strspn(e->valuestring, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
            "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(e->valuestring)
            || !*e->valuestring || (e->valuestring[0] >= '0' && e->valuestring[0] <= '9')))
        return cfg_expect(c, sub, "an environment variable name ([A-Za-z_][A-Za-z0-9_]*)", e);
    cfg_key_path(sub, path, "credential");
    if (k && (!cJSON_IsString(k) || !cfg_name_ok(k->valuestring)
              || strcmp(k->valuestring, ".") == 0 || strcmp(k->valuestring, "..") == 0))
        return cfg_expect(c, sub, "a credential name of 1 to 64 characters A-Z a-z 0-9 . _ -", k);
    *file = f ? f->valuestring : NULL;
    *env = e ? e->valuestring : NULL;
    *cred = k ? k->valuestring : NULL;
    return 0;
}

int cfg_secret(cfg_ctx_t *c, const cJSON *v, const char *path, cfg_header_t *h)
{
    const char *file = NULL, *env = NULL, *cred = NULL;
    const char *dir = getenv("CREDENTIALS_DIRECTORY");
    char src[4400], why[256], fn[4200];
    char *val;
    size_t len;
    if (secret_members(c, v, path, &file, &env, &cred) == -1)
        return -1;
    h->secret = true;
    if (env) {
        snprintf(src, sizeof src, "env:%s", env);
        h->secret_source = cfg_xstrdup(src);
        if (!getenv(env))
            return cfg_fail(c, path, "environment variable %s is not set", env);
        snprintf(src, sizeof src, "environment variable %s", env);
        return secret_value(c, path, src, cfg_xstrdup(getenv(env)), strlen(getenv(env)), h);
    }
    if (cred && !(dir && *dir) && !file)
        return cfg_fail(c, path, "credential %s: CREDENTIALS_DIRECTORY is not set (use "
                        "LoadCredential= in the unit, or add a \"file\" fallback)", cred);
    if (cred && dir && *dir)
        snprintf(fn, sizeof fn, "%s/%s", dir, cred);
    else
        snprintf(fn, sizeof fn, "%s", file);
    snprintf(src, sizeof src, cred && dir && *dir ? "credential:%s" : "file:%s",
             cred && dir && *dir ? cred : fn);
    h->secret_source = cfg_xstrdup(src);
    snprintf(src, sizeof src, "%s %s", cred && dir && *dir ? "credential file" : "file", fn);
    if (read_file(fn, CFG_SECRET_MAX, &val, &len, why, sizeof why) == -1)
        return cfg_fail(c, path, "%s: %s", src, why);
    return secret_value(c, path, src, val, len, h);
}

/* ---- load and parse ------------------------------------------------------ */

cfg_t *cfg_load(const char *path, char *err, size_t errlen)
{
    cfg_ctx_t c = { path, err, errlen };
    char why[256], *text;
    size_t len;
    if (!path)
        c.file = path = CFG_DEFAULT_PATH;
    if (err && errlen)
        err[0] = '\0';
    if (read_file(path, CFG_FILE_MAX, &text, &len, why, sizeof why) == -1) {
        cfg_fail(&c, NULL, "%s", why);
        return NULL;
    }
    cfg_t *cfg = cfg_parse(text, len, path, err, errlen);
    explicit_bzero(text, len);
    free(text);
    return cfg;
}

/* Report a JSON syntax error at byte OFF of TEXT as a line and column. */
static void json_error(cfg_ctx_t *c, const char *text, size_t off, const char *what)
{
    size_t line = 1, col = 1;
    for (size_t i = 0; i < off; i++) {
        if (text[i] == '\n') {
            line++;
            col = 1;
        } else if (((unsigned char)text[i] & 0xc0) != 0x80) {
            col++;                            /* count characters, not bytes */
        }
    }
    cfg_fail(c, NULL, "line %zu, column %zu: invalid JSON%s%s", line, col, what ? ": " : "", what ? what : "");
}

/* Wipe every string of the tree: literal header values may be secrets. */
static void wipe_tree(cJSON *v)
{
    for (; v; v = v->next) {
        if (v->valuestring)
            explicit_bzero(v->valuestring, strlen(v->valuestring));
        wipe_tree(v->child);
    }
}

static cJSON *parse_json(cfg_ctx_t *c, const char *text, size_t len)
{
    size_t skip = 0;
    while (skip < len && text[skip] && strchr(" \t\r\n", text[skip]))
        skip++;
    if (skip == len) {
        cfg_fail(c, NULL, "expected a JSON object, got an empty file");
        return NULL;
    }
    /* Strict text: UTF-8 only, and no NUL (raw or \u0000, which cJSON would
     * cut a string at): every name and error that echoes the file stays
     * valid UTF-8 JSON (status, events, logs). */
    size_t bad;
    json_text_rc_t tr = json_text_check(text, len, &bad);
    if (tr != JSON_TEXT_OK) {
        json_error(c, text, bad, json_text_what(tr));
        return NULL;
    }
    /* cJSON wants the terminating NUL inside the length to accept the end */
    char *copy = cfg_xcalloc(len + 1, 1);
    const char *end = NULL;
    memcpy(copy, text, len);
    cJSON *root = cJSON_ParseWithLengthOpts(copy, len + 1, &end, 1);
    if (!root) {
        size_t off = end && end >= copy ? (size_t)(end - copy) : 0;
        json_error(c, text, off < len ? off : len, NULL);
    }
    explicit_bzero(copy, len);
    free(copy);
    return root;
}

cfg_t *cfg_parse(const char *text, size_t len, const char *path, char *err, size_t errlen)
{
    cfg_ctx_t c = { path ? path : "(config)", err, errlen };
    cfg_t *cfg = NULL;
    if (err && errlen)
        err[0] = '\0';
    cJSON *root = parse_json(&c, text ? text : "", text ? len : 0);
    if (!root)
        return NULL;
    if (!cJSON_IsObject(root)) {
        cfg_expect(&c, NULL, "a JSON object at the top level", root);
        goto out;
    }
    if (check_duplicates(&c, root, "") == -1)
        goto out;
    cfg = cfg_xcalloc(1, sizeof *cfg);
    cfg->path = cfg_xstrdup(c.file);
    if (cfg_build(&c, root, cfg) == -1) {
        cfg_free(cfg);
        cfg = NULL;
    }
out:
    wipe_tree(root);
    cJSON_Delete(root);
    return cfg;
}
