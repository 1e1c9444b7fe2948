/* creds_int — what creds.c (the chain, the cache, the local sources) and
 * creds_http.c (the container and IMDSv2 fetches) share.  Not for other
 * modules: they use creds.h. */
#ifndef REGIOND_CREDS_INT_H
#define REGIOND_CREDS_INT_H

#include <stddef.h>
#include <stdint.h>

#include "creds.h"

/* Called exactly once per started fetch, never before the start function
 * has returned: credentials, or NULL and a message without secrets. */
typedef void (*creds_http_fn)(void *arg, const aws_creds_t *c, const char *err);

/* A running fetch.  Owned by creds_http.c: freed before its callback runs,
 * or by creds_http_cancel. */
typedef struct creds_http creds_http_t;

/* The container source as the environment configures it:
 * AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (on http://169.254.170.2) or else
 * _FULL_URI (https, or http to a loopback address, 169.254.170.2,
 * 169.254.170.23 or fd00:ec2::23; a host name must resolve to loopback),
 * Authorization from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE or else
 * AWS_CONTAINER_AUTHORIZATION_TOKEN.  Returns the running fetch; NULL with
 * err "" when neither URI variable is set; NULL with err when misconfigured
 * or out of memory. */
creds_http_t *creds_http_container(uint32_t timeout_ms, creds_http_fn fn, void *arg, char *err,
                                   size_t errlen);

/* The IMDSv2 sequence (token, role name, role credentials) against
 * endpoint ("http://169.254.169.254", no trailing path).  NULL on OOM. */
creds_http_t *creds_http_imds(const char *endpoint, uint32_t timeout_ms, creds_http_fn fn,
                              void *arg, char *err, size_t errlen);

/* Stop a fetch; its callback will not run. */
void creds_http_cancel(creds_http_t *h);

/* Parse a container / IMDS credentials document (JSON with AccessKeyId,
 * SecretAccessKey, Token, Expiration; IMDS adds Code).  what names the
 * source in err.  0, or -1 with err (no value from the document in it). */
int creds_parse_json(const char *body, size_t len, const char *what, aws_creds_t *out,
                     char *err, size_t errlen);

/* Read a whole small regular file into a malloc'd NUL-terminated buffer
 * (wipe it before freeing when it may hold a secret).  0, or -1 with err:
 * "not found" for ENOENT, else the reason. */
int creds_read_file(const char *path, size_t max, char **out, size_t *outlen, char *err,
                    size_t errlen);

/* Overwrite a secret-holding buffer before it is released. */
void creds_wipe(void *p, size_t n);

#endif
