/* probe_http — one HTTP(S) probe of one target at one address.
 *
 * A probe only reports: it fills a probe_result_t (a closed outcome enum, a
 * reason a person can act on, curl's timing breakdown) and calls back once.
 * Fresh connection per probe by default, TLS sessions resumed through the
 * loop's share handle, a full handshake (and certificate expiry read) when
 * the caller asks for one.  The body is read up to max_body_bytes only. */
#ifndef REGIOND_PROBE_HTTP_H
#define REGIOND_PROBE_HTTP_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>

#include "config/cfg.h"

typedef enum {
    PROBE_OK = 0,
    PROBE_SLOW,          /* correct answer, above latency_ms_max */
    PROBE_DNS,
    PROBE_CONNECT,
    PROBE_TLS,
    PROBE_TIMEOUT,
    PROBE_HTTP_STATUS,
    PROBE_BODY,
    PROBE_RECV,          /* connection broke, empty reply, bad HTTP */
    PROBE_INTERNAL,      /* regiond could not run the probe (out of memory, ...) */
    PROBE_OUTCOME_COUNT
} probe_outcome_t;

const char *probe_outcome_str(probe_outcome_t o);

#define PROBE_REASON_MAX 256

typedef struct {
    probe_outcome_t outcome;
    char reason[PROBE_REASON_MAX];  /* "ok", "connect: refused", "http: status 503", ... */
    char addr[48];                  /* address probed ("" when DNS failed) */
    long http_status;               /* 0 when none */
    /* Phase durations in ms from curl's CURLINFO_*_TIME_T (cumulative from
     * the transfer's start), -1 when the phase was not reached. */
    double dns_ms, connect_ms, tls_ms, ttfb_ms, total_ms;
    size_t body_bytes;              /* body bytes read */
    bool body_truncated;            /* stopped at max_body_bytes */
    bool full_handshake;            /* a new TLS connection, session reuse off: the
                                     * certificate was verified by this probe */
    double cert_expiry_days;        /* from a full handshake; NAN when unknown */
} probe_result_t;

typedef void (*probe_done_fn)(void *arg, const probe_result_t *r);

typedef struct probe_http probe_http_t;

/* What a probe needs that outlives its start: the target's config and its
 * compiled regex (NULL if none).  The caller keeps both alive until done. */
typedef struct {
    const cfg_api_t *api;
    const regex_t *regex;
    const char *ca_file;
    const char *host;      /* the URL's host as curl's URL API gives it */
    long port;             /* the URL's port, default filled in */
    bool https;
    CURLSH *tls_share;     /* the target's TLS session cache; NULL: the loop's */
} probe_spec_t;

/* Start a probe.  addr: numeric address to connect to (NULL: let the URL's
 * host literal stand).  full_handshake: open a new connection (even with
 * keepalive) and offer no TLS session, so the certificate is verified.  Returns the probe, or NULL when it could not start
 * (the callback has then already run with PROBE_INTERNAL). */
probe_http_t *probe_http_start(const probe_spec_t *spec, const char *addr, bool full_handshake,
                               probe_done_fn done, void *arg);

/* Abort a running probe; its callback will not run. */
void probe_http_cancel(probe_http_t *p);

/* Evaluate a finished response (status + body) against the spec: fills
 * outcome/reason for status, body and latency checks.  Exposed for tests. */
void probe_http_judge(const probe_spec_t *spec, probe_result_t *r, const char *body, size_t len);

#endif
