/* status — the JSON view of everything regiond knows (/v1/status). */
#ifndef REGIOND_STATUS_H
#define REGIOND_STATUS_H

#include <stdint.h>

/* Facts about this process that the views show. */
typedef struct {
    const char *config_path;
    const char *listen;
    int64_t started_wall_ms;
    uint64_t started_mono_ms;
} status_self_t;

void status_set_self(const status_self_t *self);
const status_self_t *status_self(void);

/* The whole status document, malloc'd (NULL on OOM). */
char *status_json(void);

#endif
