/* utf8 — strict UTF-8 and JSON-text checks shared by the config loader and
 * the API (a lower folder: config/ includes nothing of daemon/).  Pure. */
#ifndef REGIOND_UTF8_H
#define REGIOND_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Is s[0..len) well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF)?
 * On false, *bad (if not NULL) is the offset of the first bad byte. */
bool utf8_valid(const char *s, size_t len, size_t *bad);

typedef enum {
    JSON_TEXT_OK = 0,
    JSON_TEXT_NUL,          /* a raw NUL byte */
    JSON_TEXT_UTF8,         /* not UTF-8 */
    JSON_TEXT_ESC_NUL,      /* a \u0000 escape: cJSON would cut the string there */
} json_text_rc_t;

/* Check raw JSON text before parsing: UTF-8, no NUL byte, no \u0000 escape.
 * *off is where the problem starts. */
json_text_rc_t json_text_check(const char *s, size_t len, size_t *off);

/* What json_text_check found, for an error message. */
const char *json_text_what(json_text_rc_t rc);

/* Replace every byte that is not part of well-formed UTF-8 with '?', in
 * place (a string regiond echoes stays valid JSON text).  Returns the count. */
size_t utf8_scrub(char *s);

/* Is every string (values and keys) in the cJSON tree valid UTF-8? */
struct cJSON;
bool json_tree_utf8(const struct cJSON *o);

#endif
