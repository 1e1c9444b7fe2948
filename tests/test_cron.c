/* test_cron.c — unit tests of config/cron: every syntax feature, every
 * error path with its exact message (field name and 1-based position),
 * Vixie day-of-month / day-of-week semantics, calendar rollovers, leap
 * years, the search horizon, cron_prev and cron_missed.  Times are UTC. */
#include "tests/check.h"
#include "config/cron.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static char err[CRON_ERR_SIZE];

/* Check two strings are equal, printing both when not. */
#define CHECK_STR(got, want) do { \
    const char *g_ = (got), *w_ = (want); \
    if (g_ && strcmp(g_, w_) == 0) { check_pass_++; } else { check_fail_++; \
        fprintf(stderr, "%s:%d: got \"%s\", want \"%s\"\n", __FILE__, __LINE__, g_ ? g_ : "(null)", w_); } \
} while (0)

/* Epoch seconds of "YYYY-MM-DD HH:MM[:SS]" in UTC. */
static int64_t T(const char *s)
{
    struct tm tm = { 0 };

    if (sscanf(s, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec) < 5) {
        fprintf(stderr, "bad time in test: %s\n", s);
        return 0;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm);
}

/* "YYYY-MM-DD HH:MM" (":SS" when not 0), "none" for -1; four rotating buffers. */
static const char *fmt(int64_t t)
{
    static char buf[4][40];
    static int k;
    char *b = buf[k++ % 4];
    time_t tt = (time_t)t;
    struct tm tm;

    if (t == -1)
        return "none";
    gmtime_r(&tt, &tm);
    strftime(b, sizeof buf[0], tm.tm_sec ? "%Y-%m-%d %H:%M:%S" : "%Y-%m-%d %H:%M", &tm);
    return b;
}

/* cron_next(expr, after) formatted; "parse error: ..." when expr is bad. */
static const char *next_of(const char *expr, const char *after)
{
    static char buf[CRON_ERR_SIZE + 16];
    cron_t c;

    if (cron_parse(expr, &c, err, sizeof err) < 0) {
        snprintf(buf, sizeof buf, "parse error: %s", err);
        return buf;
    }
    return fmt(cron_next(&c, T(after)));
}

static const char *prev_of(const char *expr, const char *at)
{
    cron_t c;

    if (cron_parse(expr, &c, err, sizeof err) < 0)
        return "parse error";
    return fmt(cron_prev(&c, T(at)));
}

static int missed(const char *expr, const char *last, const char *now)
{
    cron_t c;

    if (cron_parse(expr, &c, err, sizeof err) < 0)
        return -1;
    return cron_missed(&c, T(last), T(now));
}

/* Parse expr, which must be good. */
static cron_t P(const char *expr)
{
    cron_t c;

    memset(&c, 0, sizeof c);
    if (cron_parse(expr, &c, err, sizeof err) < 0) {
        check_fail_++;
        fprintf(stderr, "unexpected parse error for \"%s\": %s\n", expr, err);
    }
    return c;
}

static uint64_t bits(const int *v, size_t n)
{
    uint64_t m = 0;

    for (size_t i = 0; i < n; i++)
        m |= 1ULL << v[i];
    return m;
}
#define BITS(...) bits((const int[]){ __VA_ARGS__ }, sizeof((const int[]){ __VA_ARGS__ }) / sizeof(int))

static bool same(const cron_t *a, const cron_t *b)
{
    return a->minute == b->minute && a->hour == b->hour && a->dom == b->dom &&
           a->month == b->month && a->dow == b->dow && a->dom_star == b->dom_star &&
           a->dow_star == b->dow_star;
}

static void test_fields(void)
{
    cron_t c = P("* * * * *");
    CHECK(c.minute == 0x0FFFFFFFFFFFFFFFULL);
    CHECK(c.hour == 0x00FFFFFFu);
    CHECK(c.dom == 0xFFFFFFFEu);
    CHECK(c.month == 0x1FFEu);
    CHECK(c.dow == 0x7Fu);
    CHECK(c.dom_star && c.dow_star);

    c = P("1,5-7,*/20 0 1 1 0");
    CHECK(c.minute == BITS(0, 1, 5, 6, 7, 20, 40));
    CHECK(!c.dom_star && !c.dow_star);
    CHECK(P("10-30/10 * * * *").minute == BITS(10, 20, 30));
    CHECK(P("50/3 * * * *").minute == BITS(50, 53, 56, 59));   /* a/n = a-max/n */
    CHECK(P("0 */6 * * *").hour == BITS(0, 6, 12, 18));
    CHECK(P("0 23 * * *").hour == BITS(23));
    CHECK(P("0 0 */10 * *").dom == BITS(1, 11, 21, 31));        /* dom starts at 1 */
    CHECK(P("0 0 31 * *").dom == BITS(31));
    CHECK(P("0 0 1 jan-mar *").month == BITS(1, 2, 3));
    CHECK(P("0 0 1 JAN,Dec *").month == BITS(1, 12));
    CHECK(P("0 0 1 */3 *").month == BITS(1, 4, 7, 10));
    CHECK(P("0 0 1 feb/5 *").month == BITS(2, 7, 12));
    CHECK(P("0 0 1 1-jun/2 *").month == BITS(1, 3, 5));
    CHECK(P("0 0 * * 0").dow == BITS(0));
    CHECK(P("0 0 * * 7").dow == BITS(0));                        /* 7 is Sunday too */
    CHECK(P("0 0 * * 5-7").dow == BITS(0, 5, 6));
    CHECK(P("0 0 * * 0-7").dow == 0x7F);
    CHECK(P("0 0 * * mon-fri").dow == BITS(1, 2, 3, 4, 5));
    CHECK(P("0 0 * * Sun,SAT").dow == BITS(0, 6));
    CHECK(P("0 0 * * fri-7").dow == BITS(0, 5, 6));
    CHECK(P("0 0 * * */2").dow == BITS(0, 2, 4, 6));
    CHECK(P("0 0 * * 1/2").dow == BITS(0, 1, 3, 5));              /* 1,3,5,7 */
    CHECK(P("0 0 * * 1,*").dow == 0x7F);
    CHECK(P("0 0 007 * *").dom == BITS(7));                       /* leading zeros */

    c = P("0 0 */2 * 1");
    CHECK(c.dom_star && !c.dow_star);                             /* '*' then /n: still star */
    c = P("0 0 1 * *");
    CHECK(!c.dom_star && c.dow_star);

    /* blanks: tabs, runs, leading and trailing */
    cron_t a = P("5 4 * * *"), b = P(" \t5\t 4  *  * *\t \n");
    CHECK(same(&a, &b));
}

static void test_macros(void)
{
    static const char *const pairs[][2] = {
        { "@hourly", "0 * * * *" },  { "@daily", "0 0 * * *" },   { "@midnight", "0 0 * * *" },
        { "@weekly", "0 0 * * 0" },  { "@monthly", "0 0 1 * *" }, { "@yearly", "0 0 1 1 *" },
        { "@annually", "0 0 1 1 *" }, { "  @Daily ", "0 0 * * *" },
    };

    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        cron_t a = P(pairs[i][0]), b = P(pairs[i][1]);
        if (!same(&a, &b))
            fprintf(stderr, "macro %s differs from %s\n", pairs[i][0], pairs[i][1]);
        CHECK(same(&a, &b));
    }
    CHECK_STR(next_of("@daily", "2023-12-31 23:00"), "2024-01-01 00:00");
    CHECK_STR(next_of("@hourly", "2024-05-05 10:00"), "2024-05-05 11:00");
    CHECK_STR(next_of("@weekly", "2024-01-01 00:00"), "2024-01-07 00:00");
    CHECK_STR(next_of("@monthly", "2024-01-15 00:00"), "2024-02-01 00:00");
    CHECK_STR(next_of("@yearly", "2024-01-01 00:00"), "2025-01-01 00:00");
}

/* Bad expressions and their exact messages. */
static const char *const bad_cases[][2] = {
    { "0 0 1-5,32 * *", "field 3 (day of month): 32 is out of range 1-31 (at position 9)" },
    { "0 0 * *", "expected 5 fields, got 4" },
    { "0 0 * * * *", "expected 5 fields, got 6" },
    { "0 0 * * * @daily", "expected 5 fields, got 6" },
    { "", "expected 5 fields, got 0" },
    { " \t ", "expected 5 fields, got 0" },
    { "0 */0 * * *", "field 2 (hour): step must be at least 1 (at position 5)" },
    { "1/0 * * * *", "field 1 (minute): step must be at least 1 (at position 3)" },
    { "0 0 * * */0", "field 5 (day of week): step must be at least 1 (at position 11)" },
    { "*/60 * * * *", "field 1 (minute): step 60 is out of range 1-59 (at position 3)" },
    { "0 0 1 */13 *", "field 4 (month): step 13 is out of range 1-12 (at position 9)" },
    { "*/ * * * *", "field 1 (minute): expected a step number after '/', got end of field (at position 3)" },
    { "*/x * * * *", "field 1 (minute): expected a step number after '/', got 'x' (at position 3)" },
    { "*/5/2 * * * *", "field 1 (minute): unexpected '/' (at position 4)" },
    { "60 * * * *", "field 1 (minute): 60 is out of range 0-59 (at position 1)" },
    { "  60 * * * *", "field 1 (minute): 60 is out of range 0-59 (at position 3)" },
    { "99999999999 * * * *", "field 1 (minute): 99999999999 is out of range 0-59 (at position 1)" },
    { "* 24 * * *", "field 2 (hour): 24 is out of range 0-23 (at position 3)" },
    { "* * 0 * *", "field 3 (day of month): 0 is out of range 1-31 (at position 5)" },
    { "* * * 13 *", "field 4 (month): 13 is out of range 1-12 (at position 7)" },
    { "* * * 0 *", "field 4 (month): 0 is out of range 1-12 (at position 7)" },
    { "* * * * 8", "field 5 (day of week): 8 is out of range 0-7 (at position 9)" },
    { "* * * * 1-9", "field 5 (day of week): 9 is out of range 0-7 (at position 11)" },
    { "1,,2 * * * *", "field 1 (minute): empty list item (at position 3)" },
    { ",1 * * * *", "field 1 (minute): empty list item (at position 1)" },
    { "1, * * * *", "field 1 (minute): empty list item (at position 2)" },
    { "* * * * 1,", "field 5 (day of week): empty list item (at position 10)" },
    { "* 5-3 * * *", "field 2 (hour): range 5-3 is backwards (start > end) (at position 3)" },
    { "* * * * fri-sun", "field 5 (day of week): range fri-sun is backwards (start > end) (at position 9)" },
    { "* * * dec-jan *", "field 4 (month): range dec-jan is backwards (start > end) (at position 7)" },
    { "5x * * * *", "field 1 (minute): unexpected 'x' (at position 2)" },
    { "* * * * 1-2-3", "field 5 (day of week): unexpected '-' (at position 12)" },
    { "*-5 * * * *", "field 1 (minute): unexpected '-' (at position 2)" },
    { "* * * jan1 *", "field 4 (month): unexpected '1' (at position 10)" },
    { "* * * * 1\x01", "field 5 (day of week): unexpected byte 0x01 (at position 10)" },
    { "abc * * * *", "field 1 (minute): expected a number, got 'a' (at position 1)" },
    { "-5 * * * *", "field 1 (minute): expected a number, got '-' (at position 1)" },
    { "1- * * * *", "field 1 (minute): expected a number, got end of field (at position 3)" },
    { "* * jan * *", "field 3 (day of month): expected a number, got 'j' (at position 5)" },
    { "* * * ? *", "field 4 (month): expected a number or month name, got '?' (at position 7)" },
    { "* * * * mon-", "field 5 (day of week): expected a number or weekday name, got end of field (at position 13)" },
    { "* * * foo *", "field 4 (month): unknown month name 'foo' (at position 7)" },
    { "* * * january *", "field 4 (month): unknown month name 'january' (at position 7)" },
    { "* * * * monday", "field 5 (day of week): unknown weekday name 'monday' (at position 9)" },
    { "@reboot", "unsupported macro '@reboot': use @hourly, @daily, @midnight, @weekly, "
                 "@monthly, @yearly or @annually (at position 1)" },
    { " @every", "unsupported macro '@every': use @hourly, @daily, @midnight, @weekly, "
                 "@monthly, @yearly or @annually (at position 2)" },
    { "@daily 5", "unexpected text after @daily (at position 8)" },
    { "@dailyx", "unsupported macro '@dailyx': use @hourly, @daily, @midnight, @weekly, "
                 "@monthly, @yearly or @annually (at position 1)" },
};

static void test_errors(void)
{
    cron_t c, orig;

    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        memset(&c, 0xA5, sizeof c);
        orig = c;
        err[0] = '\0';
        int r = cron_parse(bad_cases[i][0], &c, err, sizeof err);
        if (r != -1)
            fprintf(stderr, "\"%s\" parsed\n", bad_cases[i][0]);
        CHECK_EQ_INT(r, -1);
        CHECK_STR(err, bad_cases[i][1]);
        CHECK(memcmp(&c, &orig, sizeof c) == 0);  /* out untouched */
    }
    CHECK_EQ_INT(cron_parse(NULL, &c, err, sizeof err), -1);
    CHECK_STR(err, "no expression");
    CHECK_EQ_INT(cron_parse("* * * * 99", &c, NULL, 0), -1);   /* err may be NULL */
    char tiny[8];
    CHECK_EQ_INT(cron_parse("* * * * 99", &c, tiny, sizeof tiny), -1);
    CHECK_STR(tiny, "field 5");                                 /* truncated, terminated */
}

static void test_next(void)
{
    /* strictly after, seconds dropped */
    CHECK_STR(next_of("*/15 * * * *", "2024-01-01 00:00"), "2024-01-01 00:15");
    CHECK_STR(next_of("*/15 * * * *", "2024-01-01 00:07:30"), "2024-01-01 00:15");
    CHECK_STR(next_of("*/15 * * * *", "2024-01-01 00:14:59"), "2024-01-01 00:15");
    CHECK_STR(next_of("*/15 * * * *", "2024-01-01 00:15:00"), "2024-01-01 00:30");
    CHECK_STR(next_of("*/15 * * * *", "2024-01-01 23:50"), "2024-01-02 00:00");
    CHECK_STR(next_of("* * * * *", "2024-01-01 10:20:59"), "2024-01-01 10:21");
    /* hour, day, month and year rollovers */
    CHECK_STR(next_of("30 2 * * *", "2024-01-01 03:00"), "2024-01-02 02:30");
    CHECK_STR(next_of("5 10-12 * * *", "2024-01-01 10:05"), "2024-01-01 11:05");
    CHECK_STR(next_of("5 10-12 * * *", "2024-01-01 12:05"), "2024-01-02 10:05");
    CHECK_STR(next_of("0 0 1 * *", "2024-01-31 12:00"), "2024-02-01 00:00");
    CHECK_STR(next_of("0 12 31 * *", "2024-04-01 00:00"), "2024-05-31 12:00");
    CHECK_STR(next_of("0 12 31 * *", "2024-05-31 12:00"), "2024-07-31 12:00");
    CHECK_STR(next_of("0 0 30 * *", "2023-01-30 00:00"), "2023-03-30 00:00");
    CHECK_STR(next_of("0 0 1 1 *", "2024-12-31 23:59"), "2025-01-01 00:00");
    CHECK_STR(next_of("59 23 31 12 *", "2024-12-31 23:59"), "2025-12-31 23:59");
    CHECK_STR(next_of("0 6 * dec *", "2024-12-31 07:00"), "2025-12-01 06:00");
    CHECK_STR(next_of("15 3 * jun-aug mon", "2024-08-27 00:00"), "2025-06-02 03:15");
    /* leap years */
    CHECK_STR(next_of("0 0 29 2 *", "2023-03-01 00:00"), "2024-02-29 00:00");
    CHECK_STR(next_of("0 0 29 2 *", "2024-02-29 00:00"), "2028-02-29 00:00");
    CHECK_STR(next_of("0 0 29 feb *", "2099-03-01 00:00"), "2104-02-29 00:00");  /* 5 years: just */
    CHECK_STR(next_of("0 0 29 feb *", "2099-02-28 00:00"), "none");              /* just not */
    CHECK_STR(next_of("0 0 29 2 *", "2096-03-01 00:00"), "none");  /* 2100 is not leap */
    CHECK_STR(next_of("0 0 * 3 *", "2024-02-28 12:00"), "2024-03-01 00:00");
    CHECK_STR(next_of("0 0 * 3 *", "2023-02-28 12:00"), "2023-03-01 00:00");
    /* impossible dates: rejected when parsed, naming the field (issue 12) */
#define NEVER "parse error: field 3 (day of month): no day listed exists in the months of field 4 (month), " \
              "so the schedule never fires (e.g. 30 February, 31 April)"
    CHECK_STR(next_of("0 0 31 2 *", "2024-01-01 00:00"), NEVER);
    CHECK_STR(next_of("0 3 30 2 *", "2024-01-01 00:00"), NEVER);
    CHECK_STR(next_of("0 0 30 feb *", "2024-01-01 00:00"), NEVER);
    CHECK_STR(next_of("0 0 31 4,6,9,11 *", "2024-01-01 00:00"), NEVER);
    CHECK_STR(next_of("0 0 30-31 2 *", "2024-01-01 00:00"), NEVER);
    /* possible ones next to them */
    CHECK_STR(next_of("0 0 29-31 2 *", "2024-03-01 00:00"), "2028-02-29 00:00");
    CHECK_STR(next_of("0 0 31 2,3 *", "2024-01-01 00:00"), "2024-03-31 00:00");
    CHECK_STR(next_of("0 0 31 2 mon", "2024-01-01 00:00"), "2024-02-05 00:00");  /* either matches */
    CHECK_STR(next_of("0 0 */30 2 *", "2024-01-01 00:00"), "2024-02-01 00:00");
    /* before the epoch */
    CHECK_STR(next_of("0 0 1 1 *", "1969-06-01 00:00"), "1970-01-01 00:00");
    CHECK_STR(next_of("* * * * *", "1969-12-31 23:59:30"), "1970-01-01 00:00");
    cron_t c = P("* * * * *");
    CHECK_EQ_INT(cron_next(&c, -30), 0);
    CHECK_EQ_INT(cron_next(&c, -61), -60);
    CHECK_EQ_INT(cron_next(&c, INT64_MAX), -1);
    CHECK_EQ_INT(cron_next(&c, INT64_MIN), -1);
    CHECK_EQ_INT(cron_next(NULL, 0), -1);
}

static void test_days(void)
{
    /* 2024-01-01 is a Monday */
    CHECK_STR(next_of("0 0 13 * fri", "2024-01-01 00:00"), "2024-01-05 00:00");  /* either */
    CHECK_STR(next_of("0 0 13 * fri", "2024-01-05 00:00"), "2024-01-12 00:00");
    CHECK_STR(next_of("0 0 13 * fri", "2024-01-12 00:00"), "2024-01-13 00:00");  /* a Saturday */
    CHECK_STR(next_of("0 0 1 * mon", "2024-01-29 00:00"), "2024-02-01 00:00");
    CHECK_STR(next_of("0 0 * * mon", "2024-01-01 00:00"), "2024-01-08 00:00");   /* dom '*' */
    CHECK_STR(next_of("0 0 15 * *", "2024-01-01 00:00"), "2024-01-15 00:00");    /* dow '*' */
    /* '*'/2 counts as star: both must match (Vixie): odd days that are Mondays */
    CHECK_STR(next_of("0 0 */2 * 1", "2024-01-01 00:00"), "2024-01-15 00:00");
    CHECK_STR(next_of("0 0 1 * */2", "2024-01-02 00:00"), "2024-02-01 00:00"); /* Thu 1 Feb */
    /* Sunday is 0, 7 and sun */
    CHECK_STR(next_of("0 0 * * 0", "2024-01-01 00:00"), "2024-01-07 00:00");
    CHECK_STR(next_of("0 0 * * 7", "2024-01-01 00:00"), "2024-01-07 00:00");
    CHECK_STR(next_of("0 0 * * SUN", "2024-01-01 00:00"), "2024-01-07 00:00");
    CHECK_STR(next_of("0 0 * * 6-7", "2024-01-01 00:00"), "2024-01-06 00:00");
    CHECK_STR(next_of("0 9 * * mon-fri", "2024-01-05 10:00"), "2024-01-08 09:00");
    CHECK_STR(next_of("0 9 * jan sat", "2024-01-28 00:00"), "2025-01-04 09:00");
}

static void test_prev_matches(void)
{
    CHECK_STR(prev_of("0 3 * * *", "2024-03-10 02:59"), "2024-03-09 03:00");
    CHECK_STR(prev_of("0 3 * * *", "2024-03-10 03:00:45"), "2024-03-10 03:00");  /* at or before */
    CHECK_STR(prev_of("0 3 * * *", "2024-03-10 03:00"), "2024-03-10 03:00");
    CHECK_STR(prev_of("10,40 * * * *", "2024-03-10 00:05"), "2024-03-09 23:40");
    CHECK_STR(prev_of("30 23 31 12 *", "2025-01-01 00:00"), "2024-12-31 23:30");
    CHECK_STR(prev_of("0 0 29 2 *", "2025-01-01 00:00"), "2024-02-29 00:00");
    CHECK_STR(prev_of("0 12 31 * *", "2024-07-01 00:00"), "2024-05-31 12:00");
    CHECK_STR(prev_of("0 0 * * mon", "2024-01-07 23:59"), "2024-01-01 00:00");
    CHECK_STR(prev_of("0 0 31 2 *", "2024-01-01 00:00"), "parse error");
    CHECK_STR(prev_of("0 0 29 2 *", "2100-12-31 00:00"), "2096-02-29 00:00");
    CHECK_STR(prev_of("0 0 1 1 *", "1970-01-01 00:00"), "1970-01-01 00:00");
    CHECK_STR(prev_of("0 0 1 1 *", "1969-12-31 23:59"), "1969-01-01 00:00");

    cron_t c = P("*/5 9-17 * * mon-fri");
    CHECK(cron_matches(&c, T("2024-01-02 09:05")));
    CHECK(cron_matches(&c, T("2024-01-02 09:05:59")));
    CHECK(!cron_matches(&c, T("2024-01-02 09:06")));
    CHECK(!cron_matches(&c, T("2024-01-02 18:00")));
    CHECK(!cron_matches(&c, T("2024-01-06 10:00")));   /* Saturday */
}

static void test_missed(void)
{
    CHECK_EQ_INT(missed("0 3 * * *", "2024-03-09 03:00", "2024-03-10 02:59"), 0);
    CHECK_EQ_INT(missed("0 3 * * *", "2024-03-09 03:00", "2024-03-10 03:00"), 1);  /* now included */
    CHECK_EQ_INT(missed("0 3 * * *", "2024-03-09 03:00", "2024-03-10 03:00:30"), 1);
    CHECK_EQ_INT(missed("0 3 * * *", "2024-03-09 03:00", "2024-03-15 12:00"), 1);  /* 6 missed: once */
    CHECK_EQ_INT(missed("0 3 * * *", "2024-03-09 03:00", "2024-03-09 03:00"), 0);  /* last excluded */
    CHECK_EQ_INT(missed("0 3 * * *", "2024-03-09 03:00:30", "2024-03-09 23:00"), 0);
    CHECK_EQ_INT(missed("0 3 * * *", "2024-03-10 03:00", "2024-03-09 03:00"), 0);  /* clock went back */
    CHECK_EQ_INT(missed("0 0 29 2 *", "2090-01-01 00:00", "2099-12-31 00:00"), 1);
    CHECK_EQ_INT(missed("0 0 29 2 *", "2096-03-01 00:00", "2103-12-31 00:00"), 0);
    CHECK_EQ_INT(missed("0 0 29 2 *", "2090-01-01 00:00", "2091-01-01 00:00"), 0);
    CHECK_EQ_INT(missed("0 0 31 2 *", "2000-01-01 00:00", "2024-01-01 00:00"), -1);
    CHECK_EQ_INT(missed("@yearly", "2010-06-01 00:00", "2024-01-01 00:00"), 1);
    cron_t c = P("@daily");
    CHECK(!cron_missed(NULL, 0, 100000));
    CHECK(cron_missed(&c, -1, 0));
}

int main(void)
{
    test_fields();
    test_macros();
    test_errors();
    test_next();
    test_days();
    test_prev_matches();
    test_missed();
    return check_finish();
}
