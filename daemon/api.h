/* api — the status feed over HTTP (libevent's evhttp): /healthz,
 * /v1/status, /metrics, /v1/events.  Read-only for now. */
#ifndef REGIOND_API_H
#define REGIOND_API_H

#include <stddef.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>

#include "config/cfg.h"

/* Bind `listen` ("IP:PORT", "[IPv6]:PORT" or "unix:/path") with the caps
 * of `ctl` (connections, streams, deadline, allowed hosts).  0 or -1 with err. */
int api_init(const char *listen, const cfg_controller_t *ctl, char *err, size_t errlen);

/* A reloaded config's caps and allowed hosts (listen changes at restart). */
void api_configure(const cfg_controller_t *ctl);

/* regiond_api_* metrics; the "api" object of /v1/status. */
void api_metrics(struct evbuffer *b);
cJSON *api_status_json(void);

void api_fini(void);
/* SIGTERM: replies sent from now on are counted until fully written;
 * api_drain then runs the loop until they are, for at most ms (never hangs). */
void api_drain_begin(void);
void api_drain(unsigned ms);

#endif
