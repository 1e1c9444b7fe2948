/* creds — AWS credentials in the AWS SDKs' order, refreshed before expiry:
 *   1. environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
 *   2. shared credentials file (AWS_SHARED_CREDENTIALS_FILE, else the config's
 *      file, else ~/.aws/credentials; or $CREDENTIALS_DIRECTORY/NAME when a
 *      systemd credential is named) and profile (AWS_PROFILE, else the
 *      config's, else "default")
 *   3. container credentials: AWS_CONTAINER_CREDENTIALS_FULL_URI, or
 *      http://169.254.170.2 + AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, with
 *      AWS_CONTAINER_AUTHORIZATION_TOKEN (or _TOKEN_FILE) as Authorization
 *   4. EC2 instance role through IMDSv2: PUT /latest/api/token
 *      (X-aws-ec2-metadata-token-ttl-seconds), then GET
 *      /latest/meta-data/iam/security-credentials/ and .../ROLE with
 *      X-aws-ec2-metadata-token; endpoint AWS_EC2_METADATA_SERVICE_ENDPOINT
 *      or the config's, else http://169.254.169.254
 * Sources 3 and 4 are HTTP transfers on the daemon's loop (loop_start),
 * names resolved by the daemon's resolver.  Secrets never reach a log line,
 * an error message or the status API. */
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

int creds_init(const creds_cfg_t *cfg);
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

#endif
