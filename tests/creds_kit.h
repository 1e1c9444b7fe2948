/* creds_kit.h — what test_creds.c and test_creds_http.c share: the secrets
 * no message or log line may show, a get that records every error, the
 * environment cleared of AWS variables, and the start and end of a run
 * (stderr captured into a log file, then checked for leaked secrets). */
#ifndef REGIOND_CREDS_KIT_H
#define REGIOND_CREDS_KIT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/check.h"
#include "aws/creds.h"
#include "core/log.h"
#include "core/loop.h"

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

typedef struct {
    int calls;
    int ok;
    aws_creds_t c;
    char err[1024];
} result_t;

static inline void on_creds(void *arg, const aws_creds_t *c, const char *err)
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
static inline result_t get_now(void)
{
    result_t r;
    memset(&r, 0, sizeof(r));
    creds_invalidate();
    uint64_t id = creds_get(on_creds, &r);
    CHECK_EQ_INT(id, 0);
    CHECK_EQ_INT(r.calls, 1);
    return r;
}

static inline void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static inline void clear_env(void)
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

static inline void init_cfg(const creds_cfg_t *cfg)
{
    CHECK_EQ_INT(creds_init(cfg), 0);
}

static inline char *slurp(const char *path)
{
    static char buf[1 << 17];
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose(f);
    return buf;
}

/* Make tmpdir and send stderr (the daemon's log) to a file in it: the saved
 * stderr, or -1. */
static inline int creds_kit_start(char *logpath, size_t len)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/regiond-test-creds-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(logpath, len, "%s/log", tmpdir);
    int saved = dup(2);
    if (!freopen(logpath, "w", stderr))
        return -1;
    setvbuf(stderr, NULL, _IONBF, 0);
    unsetenv("JOURNAL_STREAM");
    log_init(LOG_DEBUG);
    return saved;
}

/* Restore stderr, check that the log has `loaded` and that no secret shows
 * in any error or log line, remove tmpdir: main's exit status. */
static inline int creds_kit_finish(int saved, const char *logpath, const char *loaded)
{
    /* No secret in any error or log line. */
    fflush(stderr);
    dup2(saved, 2);
    char *log = slurp(logpath);
    if (check_fail_)
        fprintf(stderr, "---- captured stderr ----\n%s---- end ----\n", log);
    CHECK_CONTAINS(log, loaded);
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

#endif
