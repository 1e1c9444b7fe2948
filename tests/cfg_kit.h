/* cfg_kit.h — the small helpers of the config section tests: parse() takes a
 * JSON text written with ' for " and parses it as file "t.json", leaving any
 * message in errbuf; BAD(text, path, what) checks that a text is refused
 * with a message naming the key path and containing what.  A test that
 * checks more of every refusal defines CFG_KIT_BAD_EXTRA() (one statement)
 * before including this file. */
#ifndef REGIOND_CFG_KIT_H
#define REGIOND_CFG_KIT_H

#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"
#include "tests/check.h"

static char errbuf[CFG_ERR_SIZE];

/* Parse Q, a JSON text with ' for ", as file "t.json". */
static cfg_t *parse(const char *q)
{
    char *s = strdup(q);
    for (char *p = s; *p; p++)
        if (*p == '\'')
            *p = '"';
    cfg_t *cfg = cfg_parse(s, strlen(s), "t.json", errbuf, sizeof errbuf);
    free(s);
    return cfg;
}

#ifndef CFG_KIT_BAD_EXTRA
#define CFG_KIT_BAD_EXTRA() do { } while (0)
#endif

#define BAD(text, path, what) do { \
    cfg_t *c_ = parse(text); \
    CHECK(c_ == NULL); \
    CHECK_CONTAINS(errbuf, "t.json: " path ": "); \
    CHECK_CONTAINS(errbuf, what); \
    CFG_KIT_BAD_EXTRA(); \
    cfg_free(c_); \
} while (0)

#endif
