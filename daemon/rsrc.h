/* rsrc — the controller's own shortages.  A probe that could not run for a
 * local reason (out of descriptors or memory, an internal error), the API at
 * its connection or stream caps, accept() failing: each is noted here and
 * raises one alarm, "controller-resources" (warning), shown in /v1/status
 * and on the dashboard, resolved after RSRC_QUIET_S without a new note.
 * None of them is ever a region's failure. */
#ifndef REGIOND_RSRC_H
#define REGIOND_RSRC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define RSRC_QUIET_S 60

typedef enum {
    RSRC_PROBE = 0,       /* a probe failed locally: health left unchanged */
    RSRC_API_CAP,         /* API connections refused or evicted at the cap */
    RSRC_STREAM_CAP,      /* event-stream clients refused */
    RSRC_ACCEPT,          /* accept() failed (EMFILE, ENFILE, ENOMEM) */
    RSRC_COUNT
} rsrc_kind_t;

/* Note one occurrence; `detail` (may be NULL) is the latest reason. */
void rsrc_note(rsrc_kind_t kind, const char *detail);

uint64_t rsrc_count(rsrc_kind_t kind);

/* Whether the raised alarm names a shortage of the host's own resources (a
 * probe that failed locally, accept() failing: descriptors, memory), not
 * only a configured cap; the kinds and their latest detail in why. */
bool rsrc_shortage(char *why, size_t len);
const char *rsrc_kind_str(rsrc_kind_t kind);

void rsrc_fini(void);

#endif
