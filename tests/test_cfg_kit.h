/* test_cfg_kit.h — what test_cfg.c and test_cfg_load.c share: cfg_kit.h's
 * parse() and BAD(), config builders for one target or region, BAD_FILE and
 * GOOD, and files written into a temporary directory.
 *
 * JSON is written with ' for " (see parse()); test data files come from
 * $REGIOND_TEST_DATA (set by ctest), else tests/data. */
#ifndef REGIOND_TEST_CFG_KIT_H
#define REGIOND_TEST_CFG_KIT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/cfg_kit.h"

#define URL "'url':'https://api.example.com/health'"
#define SECRET "s3cr3t-Value-42"

static char tmpdir[] = "/tmp/test_cfg.XXXXXX";
static char json[8192];

/* A config whose one target has URL and the members X. */
static inline const char *api(const char *x)
{
    snprintf(json, sizeof json, "{'regions':[{'name':'r1','api':[{" URL "%s%s}]}]}",
             *x ? "," : "", x);
    return json;
}

/* A config whose one target has only the members X (no URL). */
static inline const char *api_raw(const char *x)
{
    snprintf(json, sizeof json, "{'regions':[{'name':'r1','api':[{%s}]}]}", x);
    return json;
}

/* A config with the top-level members X and one good region. */
static inline const char *top(const char *x)
{
    snprintf(json, sizeof json, "{%s,'regions':[{'name':'r1','api':[{" URL "}]}]}", x);
    return json;
}

/* A config whose one region has the members X besides its name. */
static inline const char *region(const char *x)
{
    snprintf(json, sizeof json, "{'regions':[{'name':'r1'%s%s}]}", *x ? "," : "", x);
    return json;
}

/* Like BAD, for errors about the whole file (no key path). */
#define BAD_FILE(text, what) do { \
    cfg_t *c_ = parse(text); \
    CHECK(c_ == NULL); \
    CHECK_CONTAINS(errbuf, "t.json: " what); \
    cfg_free(c_); \
} while (0)

#define GOOD(text) do { \
    cfg_t *c_ = parse(text); \
    CHECK(c_ != NULL); \
    if (!c_) fprintf(stderr, "  unexpected error: %s\n", errbuf); \
    cfg_free(c_); \
} while (0)

static inline void write_file(const char *name, const char *content, char *path, size_t n)
{
    snprintf(path, n, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(content, f);
        fclose(f);
    }
}

static inline const char *data_path(const char *name)
{
    static char path[4096];
    const char *dir = getenv("REGIOND_TEST_DATA");
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "tests/data", name);
    return path;
}

/* main's first step: no systemd credentials directory, make tmpdir; 0, or
 * -1 with a message. */
static inline int tmpdir_make(void)
{
    unsetenv("CREDENTIALS_DIRECTORY");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return -1;
    }
    return 0;
}

/* Remove the files named in `files` (NULL last) from tmpdir, then tmpdir. */
static inline void tmpdir_remove(const char *const *files)
{
    char path[512];
    for (size_t i = 0; files[i]; i++) {
        snprintf(path, sizeof path, "%s/%s", tmpdir, files[i]);
        unlink(path);
    }
    rmdir(tmpdir);
}

#endif
