/* utf8 — see utf8.h. */
#include "config/utf8.h"

#include <string.h>

#include <cjson/cJSON.h>

/* Length of the well-formed sequence at s (1..4), or 0 if it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t left)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (n == 0 || n > left)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) ||   /* overlong, surrogate */
        (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))     /* overlong, > U+10FFFF */
        return 0;
    return n;
}

bool utf8_valid(const char *s, size_t len, size_t *bad)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq(u + i, len - i);
        if (n == 0) {
            if (bad)
                *bad = i;
            return false;
        }
        i += n;
    }
    return true;
}

json_text_rc_t json_text_check(const char *s, size_t len, size_t *off)
{
    size_t bad = 0;
    const char *nul = memchr(s, '\0', len);
    *off = 0;
    if (nul) {
        *off = (size_t)(nul - s);
        return JSON_TEXT_NUL;
    }
    if (!utf8_valid(s, len, &bad)) {
        *off = bad;
        return JSON_TEXT_UTF8;
    }
    /* A backslash only appears in strings (anywhere else the text is not
     * JSON and the parser refuses it): look at each escape, skipping \\. */
    for (size_t i = 0; i + 1 < len; i++) {
        if (s[i] != '\\')
            continue;
        if (s[i + 1] == 'u' && i + 5 < len && memcmp(s + i + 2, "0000", 4) == 0) {
            *off = i;
            return JSON_TEXT_ESC_NUL;
        }
        i++;   /* the escaped character */
    }
    return JSON_TEXT_OK;
}

const char *json_text_what(json_text_rc_t rc)
{
    switch (rc) {
    case JSON_TEXT_NUL:
        return "a NUL byte";
    case JSON_TEXT_UTF8:
        return "bytes that are not UTF-8";
    case JSON_TEXT_ESC_NUL:
        return "a \\u0000 escape (NUL in a string)";
    default:
        return "nothing wrong";
    }
}

size_t utf8_scrub(char *s)
{
    size_t fixed = 0, len = strlen(s);
    unsigned char *u = (unsigned char *)s;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq(u + i, len - i);
        if (n == 0) {
            u[i++] = '?';
            fixed++;
        } else {
            i += n;
        }
    }
    return fixed;
}

bool json_tree_utf8(const cJSON *o)
{
    for (; o; o = o->next) {
        if (o->string && !utf8_valid(o->string, strlen(o->string), NULL))
            return false;
        if (cJSON_IsString(o) && o->valuestring && !utf8_valid(o->valuestring, strlen(o->valuestring), NULL))
            return false;
        if (o->child && !json_tree_utf8(o->child))
            return false;
    }
    return true;
}
