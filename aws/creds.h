/* creds — AWS credentials in the AWS SDKs' order, refreshed before expiry.
 * Where the config (creds_cfg_t) names something, it wins over the
 * environment variable, as explicit configuration in an SDK client does:
 *   1. environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
 *      (one key without the other is an error, not a fall-through)
 *   2. shared credentials file: $CREDENTIALS_DIRECTORY/NAME when a systemd
 *      credential is named, else the config's file, else
 *      AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials; profile: the
 *      config's, else AWS_PROFILE, else "default".  A missing default file
 *      or a missing [default] in it falls through to 3; anything named
 *      (file, credential or profile) that is missing is an error, as is a
 *      syntax error or a profile without both keys.  INI: [name] sections,
 *      key = value, keys case-insensitive, # and ; comments (inline after
 *      whitespace), a profile defined twice or a key set twice is an error.
 *   3. container credentials: http://169.254.170.2 +
 *      AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, else
 *      AWS_CONTAINER_CREDENTIALS_FULL_URI (https, or http to loopback /
 *      169.254.170.2 / 169.254.170.23 / fd00:ec2::23, or to a name that
 *      resolves to loopback), with the contents of
 *      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, else
 *      AWS_CONTAINER_AUTHORIZATION_TOKEN, as Authorization
 *   4. EC2 instance role through IMDSv2 (unless AWS_EC2_METADATA_DISABLED is
 *      "true"): PUT /latest/api/token (X-aws-ec2-metadata-token-ttl-seconds:
 *      21600), then GET /latest/meta-data/iam/security-credentials/ and
 *      .../ROLE with X-aws-ec2-metadata-token; endpoint the config's, else
 *      AWS_EC2_METADATA_SERVICE_ENDPOINT, else http://169.254.169.254
 * Sources 1 and 2 are read synchronously when the cache is empty or
 * invalidated, and their keys do not expire.  Sources 3 and 4 are HTTP
 * transfers on the daemon's loop (loop_start), names resolved by the
 * daemon's resolver, bodies capped at 64 KiB; a document without
 * Expiration is treated as valid for 15 minutes.  When a refresh fails while
 * the cached credentials have not yet expired, those are kept (warning
 * logged).  Secrets never reach a log line, an error message or the status
 * API, and are wiped from memory when replaced or freed. */
#ifndef REGIOND_CREDS_H
#define REGIOND_CREDS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char access_key[128];
    char secret_key[256];
    char token[4096];            /* "" when none */
    int64_t expires_wall_ms;     /* 0 = does not expire */
    char source[48];             /* "environment", "shared-file:PROFILE", "container", "imds:ROLE" */
} aws_creds_t;

typedef struct {
    const char *profile;             /* NULL: AWS_PROFILE or "default" */
    const char *shared_file;         /* NULL: AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials */
    const char *credential_name;     /* NULL or a systemd credential in shared-file format */
    const char *imds_endpoint;       /* NULL: AWS_EC2_METADATA_SERVICE_ENDPOINT or 169.254.169.254 */
    uint32_t refresh_before_s;       /* refresh this long before expiry; 0 -> 300 */
    uint32_t timeout_ms;             /* per HTTP fetch; 0 -> 2000 */
} creds_cfg_t;

/* Called once with credentials, or with NULL and a reason (no source had
 * any, or a fetch failed: "container credentials: HTTP 403", ...). */
typedef void (*creds_fn)(void *arg, const aws_creds_t *c, const char *err);

/* Copy cfg (NULL: all defaults).  Calling it again reconfigures: the cache
 * is dropped, a running fetch and its waiters are kept.  0, or -1 (OOM). */
int creds_init(const creds_cfg_t *cfg);

/* Stop a running fetch and drop every waiter without calling it. */
void creds_fini(void);

/* Current credentials: from the cache when valid for longer than
 * refresh_before_s (callback runs before creds_get returns, and the return
 * is 0), else after a fetch (return is a waiter id > 0 for creds_cancel). */
uint64_t creds_get(creds_fn fn, void *arg);
void creds_cancel(uint64_t id);

/* Drop the cache (after an auth failure, say): the next get looks again. */
void creds_invalidate(void);

/* Where the current credentials came from, "" when none yet. */
const char *creds_source(void);

/* Parse an ISO 8601 time as the credential endpoints send it
 * ("2026-11-25T01:00:00Z", optional fraction, "Z" or "+HH:MM") into
 * wall-clock ms since the epoch.  0, or -1. */
int creds_parse_expiration(const char *s, int64_t *wall_ms);

#endif
