/* web — the dashboard's files (web/), embedded at build time by
 * cmake/embed.cmake; served by api.c at / (index.html) and /NAME. */
#ifndef REGIOND_WEB_H
#define REGIOND_WEB_H

#include <stddef.h>

typedef struct {
    const char *path;             /* "/index.html" */
    const char *content_type;
    const unsigned char *data;
    size_t len;
} web_asset_t;

/* Terminated by an entry with path NULL. */
extern const web_asset_t web_assets[];

#endif
