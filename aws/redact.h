/* aws_redact — clean an AWS error message before anything stores it.  AWS
 * (and a strict peer) answers SignatureDoesNotMatch with the canonical
 * request and the string to sign, which carry the session token and the
 * signature; other answers may quote an Authorization header or a
 * presigned query.  Everything that keeps an AWS error (logs, alarms,
 * status, events, webhooks, state files) gets it from here. */
#ifndef REGIOND_AWS_REDACT_H
#define REGIOND_AWS_REDACT_H

#include <stddef.h>

/* Clean msg (NUL-terminated, buffer of cap bytes) in place: cut from the
 * first "canonical string"/"canonical request"/"string-to-sign" section to
 * the end; replace the value after x-amz-security-token, authorization,
 * signature, credential, x-amz-credential, x-amz-signature,
 * securitytoken with "[redacted]"; replace every run of 8 or more
 * characters of each string in secrets (NULL-terminated list, may be NULL;
 * one of 4 to 7 characters only where it occurs whole) too, so a secret cut at the message's
 * end or quoted URL-encoded is gone as well; fold control characters to
 * spaces. */
void aws_redact(char *msg, size_t cap, const char *const *secrets);

#endif
