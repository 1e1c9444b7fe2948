/* creds_int — what creds.c (the chain, the cache, the environment),
 * creds_ini.c (the shared credentials file), creds_http.c (the container and
 * IMDSv2 fetches), creds_container.c (the container source's settings) and
 * creds_json.c (the credentials document) share.  Not for other modules:
 * they use creds.h. */
#ifndef REGIOND_CREDS_INT_H
#define REGIOND_CREDS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aws/creds.h"

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

/* The container source's settings from the environment (as for
 * creds_http_container): the URL into url, whether a host name in it must
 * resolve to a loopback address, and the Authorization value (malloc'd, wipe
 * before freeing; NULL when none).  1: configured; 0 with err "": neither URI
 * variable is set; -1 with err when misconfigured or out of memory. */
int creds_container_cfg(char *url, size_t urllen, bool *need_loopback, char **auth, char *err,
                        size_t errlen);

/* True for an IPv4 127/8 or the IPv6 loopback address (text form). */
bool creds_is_loopback(const char *addr);

/* Drop trailing CR, LF, space and tab in place. */
void creds_trim(char *s);

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

/* An environment variable, NULL when unset or empty. */
const char *creds_env(const char *name);

/* snprintf for error messages, which may be cut short. */
void creds_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Copy src into a credentials field; -1 with err when it does not fit. */
int creds_put(char *dst, size_t dstlen, const char *src, size_t n, const char *label,
              const char *name, char *err, size_t errlen);

/* The shared credentials file source: the systemd credential
 * cfg->credential_name, else cfg->shared_file, AWS_SHARED_CREDENTIALS_FILE
 * or ~/.aws/credentials; the profile cfg->profile, AWS_PROFILE or
 * "default".  1: found, c filled; 0: nothing there and nothing asked for
 * (why in note); -1 with err (never a line of the file). */
int creds_from_file(const creds_cfg_t *cfg, aws_creds_t *c, char *note, size_t notelen,
                    char *err, size_t errlen);

#endif
