/* auth — bearer tokens for the API and the audit log of control actions.
 *
 * The token file (controller.token_file, or $CREDENTIALS_DIRECTORY/NAME for
 * controller.token_credential) holds one token per line, "NAME TOKEN", or
 * "NAME TOKEN ro" for a read-only token; '#' starts a comment.  The daemon
 * refuses a file readable by group or others.  Tokens are compared in
 * constant time; a token never reaches a log line.  Without a token file the
 * control endpoints are off.  Every control action is appended to
 * state_dir/audit.log (JSON lines: time, who, what, result) and emitted as
 * an "audit" event. */
#ifndef REGIOND_AUTH_H
#define REGIOND_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/http.h>

#include "config/cfg.h"

typedef enum { AUTH_NONE = 0, AUTH_READ, AUTH_WRITE } auth_level_t;

/* Load the tokens the config names (none: control off).  0, or -1 with err
 * naming the file and line (never a token). */
int auth_load(const cfg_t *cfg, char *err, size_t errlen);

/* The same checks without keeping anything (regiond --check-config). */
int auth_check_file(const cfg_t *cfg, char *err, size_t errlen);

/* Is a token file loaded? */
bool auth_configured(void);

/* The level the request's "Authorization: Bearer TOKEN" grants; the token's
 * name in who ("" when none). */
auth_level_t auth_check(struct evhttp_request *req, char *who, size_t wholen);

/* Record a control action (audit.log and an "audit" event). */
void auth_audit(const char *who, const char *what, int status, const char *result);

/* Record a refused request (401/403): audit.log only, rate-limited (the
 * first 10 a minute one by one, then one summary line with the count); never
 * an event, so a flood cannot push decisions out of the ring. */
void auth_audit_denied(const char *who, const char *what, int status, const char *result);

typedef struct {
    uint64_t denied_total;             /* refused control requests */
    uint64_t denied_suppressed_total;  /* of them, counted but not written one by one */
    uint64_t audit_failures_total;     /* audit.log opens/writes that failed */
} auth_stats_t;

void auth_stats(auth_stats_t *s);

void auth_fini(void);

#endif
