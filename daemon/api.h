/* api — the status feed over HTTP (libevent's evhttp): /healthz,
 * /v1/status, /metrics, /v1/events.  Read-only for now. */
#ifndef REGIOND_API_H
#define REGIOND_API_H

#include <stddef.h>

/* Bind `listen` ("IP:PORT", "[IPv6]:PORT" or "unix:/path").  0 or -1 with err. */
int api_init(const char *listen, char *err, size_t errlen);

void api_fini(void);

#endif
