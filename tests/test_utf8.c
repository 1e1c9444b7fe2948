/* test_utf8 — strict UTF-8, JSON text checks (NUL, \u0000), scrubbing. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "tests/check.h"
#include "config/utf8.h"

static bool valid(const char *s)
{
    return utf8_valid(s, strlen(s), NULL);
}

int main(void)
{
    size_t off = 99;
    CHECK(valid("us-east-1"));
    CHECK(valid("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));   /* é € emoji */
    CHECK(!valid("\xff"));
    CHECK(!valid("\xc0\x80"));                  /* overlong NUL */
    CHECK(!valid("\xe0\x80\xaf"));              /* overlong / */
    CHECK(!valid("\xed\xa0\x80"));              /* surrogate D800 */
    CHECK(!valid("\xf4\x90\x80\x80"));          /* > U+10FFFF */
    CHECK(!valid("\xc3"));                      /* cut sequence */
    CHECK(!valid("ab\xe2\x82"));
    CHECK(!utf8_valid("ab\x80", 3, &off) && off == 2);

    const char nul[] = "{\"a\":\"x\0y\"}";
    CHECK_EQ_INT(json_text_check(nul, sizeof(nul) - 1, &off), JSON_TEXT_NUL);
    CHECK_EQ_INT(off, 7);
    const char *esc = "{\"region\":\"us-east-1\\u0000x\"}";
    CHECK_EQ_INT(json_text_check(esc, strlen(esc), &off), JSON_TEXT_ESC_NUL);
    const char *escaped_bs = "{\"a\":\"\\\\u0000 is text\"}";   /* \\u0000: a backslash, then text */
    CHECK_EQ_INT(json_text_check(escaped_bs, strlen(escaped_bs), &off), JSON_TEXT_OK);
    const char *bad = "{\"a\":\"\xff\"}";
    CHECK_EQ_INT(json_text_check(bad, strlen(bad), &off), JSON_TEXT_UTF8);
    CHECK_EQ_INT(off, 6);
    CHECK_CONTAINS(json_text_what(JSON_TEXT_ESC_NUL), "\\u0000");

    char s[] = "ok\xff\xc3\xa9\xc0\x80z";
    CHECK_EQ_INT(utf8_scrub(s), 3);
    CHECK(strcmp(s, "ok?\xc3\xa9?" "?z") == 0);

    cJSON *o = cJSON_Parse("{\"a\":\"\\ud800\"}");   /* cJSON refuses a lone surrogate itself */
    CHECK(o == NULL);
    cJSON_Delete(o);
    o = cJSON_CreateObject();                    /* raw bytes parse as they are: found in a nested array */
    cJSON *arr = cJSON_AddArrayToObject(o, "b");
    cJSON_AddItemToArray(arr, cJSON_CreateString("ok"));
    cJSON_AddItemToArray(arr, cJSON_CreateString("\xed\xa0\x80"));
    CHECK(!json_tree_utf8(o->child));
    cJSON_Delete(o);
    o = cJSON_Parse("{\"k\xc3\xa9y\":{\"n\":\"v\"}}");
    CHECK(o && json_tree_utf8(o->child));
    cJSON_Delete(o);
    return check_finish();
}
