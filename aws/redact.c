/* aws_redact — see redact.h. */
#include "aws/redact.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#define RED "[redacted]"

/* First case-insensitive occurrence of needle in s, or NULL. */
static char *rd_find(char *s, const char *needle)
{
    size_t n = strlen(needle);
    for (; *s; s++)
        if (strncasecmp(s, needle, n) == 0)
            return s;
    return NULL;
}

/* Replace s[at, at+len) with rep (shorter or longer), within cap. */
static void rd_splice(char *s, size_t cap, size_t at, size_t len, const char *rep)
{
    size_t total = strlen(s), rl = strlen(rep);
    size_t tail = total - at - len;
    if (at + rl + tail + 1 > cap)   /* no room: drop the tail (it is after a secret anyway) */
        tail = at + rl + 1 <= cap ? cap - 1 - at - rl : 0;
    if (at + rl + 1 > cap)
        rl = cap - 1 - at;
    memmove(s + at + rl, s + at + len, tail);
    memcpy(s + at, rep, rl);
    s[at + rl + tail] = '\0';
}

static bool rd_value_end(char c)
{
    return c == '\0' || isspace((unsigned char)c) || c == '&' || c == ',' || c == '\'' || c == '"' ||
           c == ';' || c == '<' || c == ')';
}

/* After each key (case-insensitive), skip the separator (':', '=', spaces)
 * and replace the value. */
static void rd_values(char *s, size_t cap, const char *key)
{
    size_t kl = strlen(key);
    char *p = s;
    while ((p = rd_find(p, key)) != NULL) {
        char *v = p + kl;
        while (*v == ' ' || *v == '\t')
            v++;
        if (*v != ':' && *v != '=') {   /* not followed by a separator: a word, not a field */
            p = p + kl;
            continue;
        }
        v++;
        while (*v == ' ' || *v == '\t')
            v++;
        char *e = v;
        if (strncasecmp(p, "authorization", 13) == 0)   /* the whole header: Credential, SignedHeaders, Signature */
            while (*e && *e != '\n' && *e != '\'' && *e != '"')
                e++;
        else
            while (!rd_value_end(*e))
                e++;
        size_t at = (size_t)(v - s);
        if (e > v && strncmp(v, RED, strlen(RED)) != 0)
            rd_splice(s, cap, at, (size_t)(e - v), RED);
        p = s + at + strlen(RED);
        if ((size_t)(p - s) >= strlen(s))
            break;
    }
}

/* Longest run of s that is a piece of secret (anywhere in it). */
static size_t rd_piece(const char *s, const char *secret)
{
    size_t best = 0;
    for (const char *q = secret; *q; q++) {
        size_t k = 0;
        while (s[k] && q[k] && s[k] == q[k])
            k++;
        if (k > best)
            best = k;
    }
    return best;
}

static void rd_whole(char *msg, size_t cap, const char *secret)
{
    size_t sl = strlen(secret), at = 0;
    char *p;
    while (sl >= 4 && at < strlen(msg) && (p = strstr(msg + at, secret)) != NULL) {
        at = (size_t)(p - msg);
        rd_splice(msg, cap, at, sl, RED);
        at += strlen(RED);   /* past it: a secret inside "[redacted]" must not loop */
    }
}

/* Replace every run of RD_PIECE_MIN or more characters of the secret, not
 * only the whole value: the message was cut at 500 characters (a token's
 * head before the cut), or quotes it URL-encoded ("%2F" between pieces). */
#define RD_PIECE_MIN 8
static void rd_pieces(char *msg, size_t cap, const char *secret)
{
    if (strlen(secret) < RD_PIECE_MIN)   /* too short to tell a piece from text */
        return;
    for (size_t at = 0; msg[at];) {
        size_t k = rd_piece(msg + at, secret);
        if (k >= RD_PIECE_MIN) {
            rd_splice(msg, cap, at, k, RED);
            at += strlen(RED) < strlen(msg + at) ? strlen(RED) : strlen(msg + at);
        } else {
            at++;
        }
    }
}

void aws_redact(char *msg, size_t cap, const char *const *secrets)
{
    if (!msg || cap == 0)
        return;
    static const char *const sections[] = {"the canonical string", "canonical string", "canonical request",
                                           "the string-to-sign", "string-to-sign", "string to sign", NULL};
    for (size_t i = 0; sections[i]; i++) {
        char *c = rd_find(msg, sections[i]);
        if (c) {
            *c = '\0';
            size_t l = strlen(msg);
            while (l > 0 && (isspace((unsigned char)msg[l - 1]) || msg[l - 1] == '.' || msg[l - 1] == '\''))
                msg[--l] = '\0';
            rd_splice(msg, cap, l, 0, " [canonical request removed]");
        }
    }
    for (size_t i = 0; secrets && secrets[i]; i++)   /* whole ones first, then pieces */
        rd_whole(msg, cap, secrets[i]);
    for (size_t i = 0; secrets && secrets[i]; i++)
        rd_pieces(msg, cap, secrets[i]);
    static const char *const keys[] = {"x-amz-security-token", "authorization", "x-amz-signature",
                                       "x-amz-credential", "signature", "credential", "securitytoken",
                                       "security-token", "token", NULL};
    for (size_t i = 0; keys[i]; i++)
        rd_values(msg, cap, keys[i]);
    for (char *p = msg; *p; p++)
        if (iscntrl((unsigned char)*p))
            *p = ' ';
}
