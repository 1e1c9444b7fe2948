/* creds_ini — the shared credentials file source (creds_int.h): where the
 * file is (a systemd credential, the configured or environment path, or
 * ~/.aws/credentials), reading it whole, and a small strict INI reader that
 * finds one profile's keys.  No message carries a line's text. */
#include "aws/creds_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define CR_FILE_MAX (1024 * 1024)

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
        creds_errf(err, errlen, "line %u: section header without ']'", line);
        return -1;
    }
    const char *after = cr_skip_ws(close + 1, e);
    if (after < e && *after != '#' && *after != ';') {
        creds_errf(err, errlen, "line %u: text after the section header", line);
        return -1;
    }
    *name = cr_skip_ws(s + 1, close);
    *len = (size_t)(cr_trim_end(*name, close) - *name);
    if (*len == 0) {
        creds_errf(err, errlen, "line %u: empty section name", line);
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
        creds_errf(err, errlen, "line %u: expected 'key = value'", line);
        return -1;
    }
    const char *ke = cr_trim_end(s, eq);
    if (ke == s) {
        creds_errf(err, errlen, "line %u: empty key", line);
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
        creds_errf(err, errlen, "line %u: %s set twice in profile '%s' (first at line %u)", line,
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
        creds_errf(err, errlen, "contains a NUL byte");
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
                creds_errf(err, errlen, "line %u: continuation line under a credential key", line);
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
                creds_errf(err, errlen, "line %u: profile '%s' defined again (first at line %u)",
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
            creds_errf(err, errlen, "line %u: key outside any [section]", line);
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
        creds_errf(err, errlen, "%s", errno == ENOENT ? "not found" : strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) == -1) {
        creds_errf(err, errlen, "stat: %s", strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
        creds_errf(err, errlen, "%s", S_ISREG(st.st_mode) ? "too large" : "not a regular file");
        goto fail;
    }
    cap = (size_t)st.st_size + 1;   /* one more byte tells a file that grew */
    if (!(buf = malloc(cap + 1))) {
        creds_errf(err, errlen, "out of memory");
        goto fail;
    }
    for (;;) {
        ssize_t n = read(fd, buf + len, cap - len);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1) {
            creds_errf(err, errlen, "read: %s", strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len == cap) {
            creds_errf(err, errlen, "changed while being read");
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
static int cr_file_path(const creds_cfg_t *cfg, char *path, size_t pathlen, char *label,
                        size_t labellen, bool *chosen, char *err, size_t errlen)
{
    const char *name = cfg->credential_name;
    *chosen = true;
    if (name) {
        const char *dir = creds_env("CREDENTIALS_DIRECTORY");
        if (!dir || !name[0] || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) {
            creds_errf(err, errlen, "systemd credential '%s': %s", name,
                       dir ? "not a plain file name" : "CREDENTIALS_DIRECTORY is not set "
                                                       "(LoadCredential= missing?)");
            return -1;
        }
        if ((size_t)snprintf(path, pathlen, "%s/%s", dir, name) >= pathlen) {
            creds_errf(err, errlen, "systemd credential '%s': path too long", name);
            return -1;
        }
        snprintf(label, labellen, "systemd credential '%s' (%s)", name, path);
        return 0;
    }
    const char *f = cfg->shared_file ? cfg->shared_file : creds_env("AWS_SHARED_CREDENTIALS_FILE");
    const char *home = creds_env("HOME");
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
            creds_errf(err, errlen, "%s: no home directory", label);
            return -1;
        }
        if ((size_t)snprintf(path, pathlen, "%s%s", home, f + 1) >= pathlen)
            path[0] = '\0';
    } else if ((size_t)snprintf(path, pathlen, "%s", f) >= pathlen) {
        path[0] = '\0';
    }
    if (!path[0]) {
        creds_errf(err, errlen, "shared credentials file: path too long");
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
            creds_errf(err, errlen, "%s: profile '%s' has no aws_access_key_id (role_arn, sso_* "
                       "and credential_process are not supported)", label, profile);
        else
            creds_errf(err, errlen, "%s: profile '%s' has %s but no %s", label, profile,
                       o->id.n ? "aws_access_key_id" : "aws_secret_access_key",
                       o->id.n ? "aws_secret_access_key" : "aws_access_key_id");
        return -1;
    }
    if (creds_put(c->access_key, sizeof(c->access_key), o->id.v, o->id.n, label,
                  "aws_access_key_id", err, errlen) == -1 ||
        creds_put(c->secret_key, sizeof(c->secret_key), o->secret.v, o->secret.n, label,
                  "aws_secret_access_key", err, errlen) == -1 ||
        creds_put(c->token, sizeof(c->token), o->token.v ? o->token.v : "", o->token.n, label,
                  "aws_session_token", err, errlen) == -1)
        return -1;
    snprintf(c->source, sizeof(c->source), "shared-file:%.35s", profile);
    return 0;
}

int creds_from_file(const creds_cfg_t *cfg, aws_creds_t *c, char *note, size_t notelen,
                    char *err, size_t errlen)
{
    char path[1024], label[1100], why[256];
    bool chosen;
    if (cr_file_path(cfg, path, sizeof(path), label, sizeof(label), &chosen, err, errlen) == -1) {
        if (chosen)
            return -1;
        snprintf(note, notelen, "%s", err);   /* the default file, and no home directory */
        return 0;
    }
    const char *profile = cfg->profile ? cfg->profile : creds_env("AWS_PROFILE");
    chosen = chosen || profile;
    profile = profile ? profile : "default";
    char *buf;
    size_t len;
    if (creds_read_file(path, CR_FILE_MAX, &buf, &len, why, sizeof(why)) == -1) {
        if (chosen || strcmp(why, "not found") != 0) {
            creds_errf(err, errlen, "%s: %s", label, why);
            return -1;
        }
        snprintf(note, notelen, "%s: %s", label, why);
        return 0;
    }
    cr_ini_t o;
    int rc = -1;
    if (cr_ini_parse(buf, len, profile, &o, why, sizeof(why)) == -1) {
        creds_errf(err, errlen, "%s: %s", label, why);
    } else if (!o.found && !chosen) {
        snprintf(note, notelen, "%s: no profile 'default'", label);
        rc = 0;
    } else if (!o.found) {
        creds_errf(err, errlen, "%s: profile '%s' not found", label, profile);
    } else if (cr_from_ini(&o, label, profile, c, err, errlen) == 0) {
        rc = 1;
    }
    creds_wipe(buf, len);
    free(buf);
    return rc;
}
