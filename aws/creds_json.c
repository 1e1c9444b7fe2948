/* creds_json — the credentials document the container and IMDS sources
 * return (creds_int.h), parsed with cJSON; every string of the parsed tree
 * is wiped before it is freed, and no message carries a value from it. */
#include "aws/creds_int.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/loop.h"

#define CH_NO_EXPIRY_MS (15 * 60 * 1000)   /* a document without Expiration */

static void ch_wipe_json(cJSON *j)
{
    for (; j; j = j->next) {
        if (j->valuestring)
            creds_wipe(j->valuestring, strlen(j->valuestring));
        ch_wipe_json(j->child);
    }
}

/* Copy a string member into dst; -1 with err when missing or too long. */
static int ch_member(const cJSON *o, const char *name, bool required, char *dst, size_t dstlen,
                     const char *what, char *err, size_t errlen)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, name);
    dst[0] = '\0';
    if (!m || cJSON_IsNull(m)) {
        if (!required)
            return 0;
        snprintf(err, errlen, "%s: no %s in the response", what, name);
        return -1;
    }
    if (!cJSON_IsString(m) || !m->valuestring || (required && !m->valuestring[0])) {
        snprintf(err, errlen, "%s: %s is not a non-empty string", what, name);
        return -1;
    }
    if (strlen(m->valuestring) >= dstlen) {
        snprintf(err, errlen, "%s: %s longer than %zu bytes", what, name, dstlen - 1);
        return -1;
    }
    memcpy(dst, m->valuestring, strlen(m->valuestring) + 1);
    return 0;
}

int creds_parse_json(const char *body, size_t len, const char *what, aws_creds_t *out,
                     char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    cJSON *j = cJSON_ParseWithLength(body, len);
    int rc = -1;
    char when[64];
    if (!cJSON_IsObject(j)) {
        snprintf(err, errlen, "%s: response is not a JSON object", what);
        goto out;
    }
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "Code");
    if (code && (!cJSON_IsString(code) || strcmp(code->valuestring, "Success") != 0)) {
        static const char letters[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        bool plain = cJSON_IsString(code) && strlen(code->valuestring) < 40 &&
                     strspn(code->valuestring, letters) == strlen(code->valuestring);
        snprintf(err, errlen, "%s: Code is %s%s%s, not Success", what, plain ? "'" : "",
                 plain ? code->valuestring : "unexpected", plain ? "'" : "");
        goto out;
    }
    if (ch_member(j, "AccessKeyId", true, out->access_key, sizeof(out->access_key), what, err,
                  errlen) == -1 ||
        ch_member(j, "SecretAccessKey", true, out->secret_key, sizeof(out->secret_key), what,
                  err, errlen) == -1 ||
        ch_member(j, "Token", false, out->token, sizeof(out->token), what, err, errlen) == -1 ||
        ch_member(j, "Expiration", false, when, sizeof(when), what, err, errlen) == -1)
        goto out;
    if (!when[0]) {
        out->expires_wall_ms = loop_wall_ms() + CH_NO_EXPIRY_MS;
    } else if (creds_parse_expiration(when, &out->expires_wall_ms) == -1) {
        snprintf(err, errlen, "%s: Expiration is not an ISO 8601 UTC time", what);
        goto out;
    }
    rc = 0;
out:
    if (rc == -1)
        creds_wipe(out, sizeof(*out));
    ch_wipe_json(j);
    cJSON_Delete(j);
    return rc;
}
