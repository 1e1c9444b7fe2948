/* aresl — a c-ares channel driven by the daemon's loop.  c-ares 1.18 has no
 * event-thread API: ARES_OPT_SOCK_STATE_CB tells us which sockets to watch
 * (one libevent event each), ares_process_fd() runs on readiness, and one
 * timer follows ares_timeout().  Used by the resolver and the DNS check. */
#ifndef REGIOND_ARESL_H
#define REGIOND_ARESL_H

#include <stddef.h>

#include <ares.h>

typedef struct aresl aresl_t;

/* A channel with options o (mask as for ares_init_options; the socket state
 * callback is added here).  NULL with err on failure. */
aresl_t *aresl_new(struct ares_options *o, int mask, char *err, size_t errlen);

ares_channel aresl_channel(aresl_t *a);

/* Re-arm the timeout timer: call after starting queries. */
void aresl_rearm(aresl_t *a);

/* Destroy the channel (pending queries complete with ARES_EDESTRUCTION). */
void aresl_free(aresl_t *a);

#endif
