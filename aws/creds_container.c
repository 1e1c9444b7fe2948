/* creds_container — the container source's settings (creds_int.h): the
 * URL from AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI, checked so
 * that plain http carries credentials only to loopback or the ECS/EKS agent,
 * and the Authorization value from a token file or variable.  The fetch
 * itself is in creds_http.c. */
#include "aws/creds_int.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CH_ECS_BASE "http://169.254.170.2"
#define CH_AUTH_FILE_MAX (16 * 1024)

/* May plain http carry credentials to this IP literal? */
static bool ch_container_ip_ok(const char *ip)
{
    static const char *const ecs[] = {"169.254.170.2", "169.254.170.23", "fd00:ec2::23"};
    unsigned char a[16], b[16];
    int af = strchr(ip, ':') ? AF_INET6 : AF_INET;
    if (creds_is_loopback(ip))
        return true;
    if (inet_pton(af, ip, a) != 1)
        return false;
    for (size_t i = 0; i < 3; i++)
        if (inet_pton(af, ecs[i], b) == 1 && memcmp(a, b, af == AF_INET ? 4 : 16) == 0)
            return true;
    return false;
}

/* Check AWS_CONTAINER_CREDENTIALS_FULL_URI (never echoed: it may carry user
 * info).  0, or -1 with err. */
static int ch_check_full_uri(const char *full, int *need_loopback, char *err, size_t errlen)
{
    const char *name = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    int rc = -1;
    if (!u || curl_url_set(u, CURLUPART_URL, full, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
        snprintf(err, errlen, "container credentials: %s is not an http(s) URL", name);
        goto out;
    }
    rc = 0;
    if (strcmp(scheme, "https") == 0)
        goto out;
    char ip[300];
    size_t hl = strlen(host);
    snprintf(ip, sizeof(ip), "%.*s", (int)(host[0] == '[' && hl > 2 ? hl - 2 : hl),
             host[0] == '[' && hl > 2 ? host + 1 : host);
    unsigned char buf[16];
    if (inet_pton(AF_INET, ip, buf) != 1 && inet_pton(AF_INET6, ip, buf) != 1) {
        *need_loopback = 1;      /* a name: its address is checked once resolved */
    } else if (!ch_container_ip_ok(ip)) {
        snprintf(err, errlen, "container credentials: %s must be https, or http to a loopback "
                 "address or the ECS/EKS agent address", name);
        rc = -1;
    }
out:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

/* The Authorization value: the token file first, then the variable; NULL
 * (and 0) when neither is set.  -1 with err. */
static int ch_container_auth(char **auth, char *err, size_t errlen)
{
    const char *file = creds_env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    const char *tok = creds_env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    char why[128];
    size_t len;
    *auth = NULL;
    if (file) {
        if (creds_read_file(file, CH_AUTH_FILE_MAX, auth, &len, why, sizeof(why)) == -1) {
            snprintf(err, errlen, "container credentials: AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE "
                     "%s: %s", file, why);
            return -1;
        }
        creds_trim(*auth);
    } else if (tok && !(*auth = strdup(tok))) {
        snprintf(err, errlen, "container credentials: out of memory");
        return -1;
    }
    if (!*auth)
        return 0;
    for (const unsigned char *c = (const unsigned char *)*auth; *c; c++)
        if (*c < 0x20 || *c == 0x7f) {
            snprintf(err, errlen, "container credentials: the authorization token (%s) holds a "
                     "line break or control character", file ? "file" : "variable");
            creds_wipe(*auth, strlen(*auth));
            free(*auth);
            *auth = NULL;
            return -1;
        }
    return 0;
}

int creds_container_cfg(char *url, size_t urllen, bool *need_loopback, char **auth, char *err,
                        size_t errlen)
{
    const char *rel = creds_env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = creds_env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    int loopback = 0;
    err[0] = '\0';
    *need_loopback = false;
    *auth = NULL;
    if (!rel && !full)
        return 0;
    if (rel && (rel[0] != '/' || strlen(rel) + sizeof(CH_ECS_BASE) > urllen)) {
        snprintf(err, errlen, "container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI %s",
                 rel[0] != '/' ? "does not start with '/'" : "is too long");
        return -1;
    }
    if (!rel && (strlen(full) >= urllen ||
                 ch_check_full_uri(full, &loopback, err, errlen) == -1)) {
        if (!err[0])
            snprintf(err, errlen, "container credentials: AWS_CONTAINER_CREDENTIALS_FULL_URI "
                     "is too long");
        return -1;
    }
    snprintf(url, urllen, "%s%s", rel ? CH_ECS_BASE : "", rel ? rel : full);
    if (ch_container_auth(auth, err, errlen) == -1)
        return -1;
    *need_loopback = loopback != 0;
    return 1;
}
