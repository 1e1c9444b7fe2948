/* test_redact — AWS error messages are cleaned before anything keeps them:
 * the canonical request a SignatureDoesNotMatch answer echoes, and every
 * token, signature, credential or Authorization value. */
#include <stdio.h>
#include <string.h>

#include "tests/check.h"
#include "aws/redact.h"

#define TOKEN "IQoJb3JpZ2luX2VjEabcdef0123456789/+="
#define SECRET "Sess+ion/0123456789abcdef"

static void sig_mismatch(void)
{
    char m[1024];
    snprintf(m, sizeof(m),
             "The request signature we calculated does not match the signature you provided. Check your AWS "
             "Secret Access Key and signing method.\n\nThe Canonical String for this request should have been\n"
             "'GET\n/2013-04-01/hostedzone/Z1/rrset\n\nhost:127.0.0.1:4000\nx-amz-date:20261204T201500Z\n"
             "x-amz-security-token:" TOKEN "\n\nhost;x-amz-date;x-amz-security-token\ne3b0c442'\n\n"
             "The String-to-Sign should have been\n'AWS4-HMAC-SHA256\n20261204T201500Z\n...'\n");
    aws_redact(m, sizeof(m), NULL);
    CHECK(strstr(m, TOKEN) == NULL);
    CHECK(strstr(m, "x-amz-date") == NULL);
    CHECK(strstr(m, "\n") == NULL);
    CHECK_CONTAINS(m, "does not match the signature you provided");
    CHECK_CONTAINS(m, "[canonical request removed]");
}

static void fields(void)
{
    char m[512];
    snprintf(m, sizeof(m), "bad header Authorization: AWS4-HMAC-SHA256 Credential=AKIDX/20261204/us-east-1/"
                           "route53/aws4_request, SignedHeaders=host, Signature=abcdef0123 and more");
    aws_redact(m, sizeof(m), NULL);
    CHECK(strstr(m, "AKIDX") == NULL);
    CHECK(strstr(m, "abcdef0123") == NULL);
    CHECK_CONTAINS(m, "Authorization: [redacted]");

    snprintf(m, sizeof(m), "url ?X-Amz-Credential=AKIDY%%2F2026&X-Amz-Signature=ffee00&X-Amz-Security-Token=%s&x=1",
             TOKEN);
    aws_redact(m, sizeof(m), NULL);
    CHECK(strstr(m, "AKIDY") == NULL && strstr(m, "ffee00") == NULL && strstr(m, TOKEN) == NULL);
    CHECK_CONTAINS(m, "&x=1");

    /* A word is not a field: the code name survives. */
    snprintf(m, sizeof(m), "SignatureDoesNotMatch: Signature expired: 20261204T201500Z is now earlier");
    aws_redact(m, sizeof(m), NULL);
    CHECK_CONTAINS(m, "SignatureDoesNotMatch: Signature expired: 20261204T201500Z");
}

static void known_secrets(void)
{
    char m[256];
    snprintf(m, sizeof(m), "echo of %s and of %s twice %s", SECRET, TOKEN, TOKEN);
    const char *const s[] = {SECRET, TOKEN, "", NULL};
    aws_redact(m, sizeof(m), s);
    CHECK(strstr(m, SECRET) == NULL && strstr(m, TOKEN) == NULL);
    CHECK_CONTAINS(m, "echo of [redacted] and of [redacted] twice [redacted]");
    /* A full buffer: the value still goes, the result stays terminated. */
    char small[40] = "token=IQoJb3JpZ2luX2VjEabcdef01234567";
    aws_redact(small, sizeof(small), NULL);
    CHECK(strlen(small) < sizeof(small));
    CHECK(strstr(small, "IQoJ") == NULL);
}

/* Pieces of a known secret: its head before the 500-character cut (after a
 * key the field rules do not know, "\"x-amz-security-token\" value"), and
 * the token URL-encoded ("/+=" as %2F%2B%3D). */
static void secret_pieces(void)
{
    char full[1024], m[512];
    const char *const s[] = {TOKEN, NULL};
    snprintf(full, sizeof(full), "%0*d bad header \"x-amz-security-token\" value '%s'", 450, 0, TOKEN);
    snprintf(m, sizeof(m), "%.500s", full);
    aws_redact(m, sizeof(m), s);
    CHECK(strstr(m, "IQoJb3Jp") == NULL);
    CHECK_CONTAINS(m, "value '[redacted]");
    snprintf(m, sizeof(m), "token in request: IQoJb3JpZ2luX2VjEabcdef0123456789%%2F%%2B%%3D.");
    aws_redact(m, sizeof(m), s);
    CHECK(strstr(m, "IQoJb3Jp") == NULL && strstr(m, "0123456789") == NULL);
    CHECK_CONTAINS(m, "request: [redacted]%2F%2B%3D.");
    /* A secret that "[redacted]" itself contains ends (it looped forever). */
    const char *const odd[] = {"dact", NULL};
    snprintf(m, sizeof(m), "x dact y dact");
    aws_redact(m, sizeof(m), odd);
    CHECK_CONTAINS(m, "x [redacted] y [redacted]");
}

int main(void)
{
    sig_mismatch();
    fields();
    known_secrets();
    secret_pieces();
    return check_finish();
}
