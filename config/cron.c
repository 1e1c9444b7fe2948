/* cron — parse and evaluate 5-field cron expressions in UTC (see cron.h).
 *
 * The parser walks the expression with one cursor (an offset into the
 * whole string, so errors carry the position a person counts from 1).
 * The search walks calendar fields with gmtime_r/timegm: a month that does
 * not match skips to the next month, a day to the next day, an hour to the
 * next hour; within an hour the minute mask gives the answer at once. */
#include "config/cron.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

_Static_assert(sizeof(time_t) >= 8, "cron needs a 64-bit time_t");

#define CRON_T_MIN (-62135596800LL)  /* 0001-01-01 00:00:00 UTC */
#define CRON_T_MAX 253402300799LL    /* 9999-12-31 23:59:59 UTC */
#define NUM_CAP 100000               /* numbers saturate here; they print as written */

/* One field's name, bounds and optional three-letter names. */
typedef struct {
    const char *name;
    int min, max;
    const char *const *names;  /* names[i] stands for base + i; NULL: none */
    int base;
    const char *kind;          /* "month" / "weekday", for messages */
} cron_field_t;

static const char *const month_names[] = {
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec", NULL
};
static const char *const dow_names[] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL };

static const cron_field_t fields[5] = {
    { "minute",       0, 59, NULL, 0, NULL },
    { "hour",         0, 23, NULL, 0, NULL },
    { "day of month", 1, 31, NULL, 0, NULL },
    { "month",        1, 12, month_names, 1, "month" },
    { "day of week",  0, 7,  dow_names, 0, "weekday" },
};

static const struct {
    const char *name, *expansion;
} macros[] = {
    { "@hourly", "0 * * * *" },  { "@daily", "0 0 * * *" },   { "@midnight", "0 0 * * *" },
    { "@weekly", "0 0 * * 0" },  { "@monthly", "0 0 1 * *" }, { "@yearly", "0 0 1 1 *" },
    { "@annually", "0 0 1 1 *" },
};

/* The parser's cursor over one field of the expression. */
typedef struct {
    const char *s;      /* the whole expression */
    size_t pos, end;    /* cursor; one past the field's last character */
    int idx;            /* field 0..4 */
    char *err;
    size_t errlen;
} cron_ps_t;

static bool is_blank(char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r'; }
static bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }
static char lower(char ch) { return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch; }
static bool is_alpha(char ch) { return lower(ch) >= 'a' && lower(ch) <= 'z'; }

static void put_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void put_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* "field N (name): <message> (at position P)", P 1-based; returns -1. */
static int field_err(const cron_ps_t *ps, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int field_err(const cron_ps_t *ps, size_t at, const char *fmt, ...)
{
    char msg[160];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    put_err(ps->err, ps->errlen, "field %d (%s): %s (at position %zu)", ps->idx + 1,
            fields[ps->idx].name, msg, at + 1);
    return -1;
}

/* What stands at `at`, for messages: "'x'", "byte 0x07" or "end of field". */
static const char *show_at(const cron_ps_t *ps, size_t at, char *buf, size_t len)
{
    unsigned char ch = at < ps->end ? (unsigned char)ps->s[at] : 0;

    if (at >= ps->end)
        snprintf(buf, len, "end of field");
    else if (ch >= 0x21 && ch < 0x7f)
        snprintf(buf, len, "'%c'", ch);
    else
        snprintf(buf, len, "byte 0x%02x", ch);
    return buf;
}

/* Read digits at the cursor (there is at least one); saturates at NUM_CAP. */
static int read_number(cron_ps_t *ps)
{
    int v = 0;

    while (ps->pos < ps->end && is_digit(ps->s[ps->pos])) {
        if (v < NUM_CAP)
            v = v * 10 + (ps->s[ps->pos] - '0');
        ps->pos++;
    }
    return v;
}

/* Look up the name of length len at s among f's names; -1 if unknown. */
static int find_name(const cron_field_t *f, const char *s, size_t len)
{
    for (int i = 0; f->names && f->names[i]; i++) {
        if (len != 3)
            break;
        if (lower(s[0]) == f->names[i][0] && lower(s[1]) == f->names[i][1] &&
            lower(s[2]) == f->names[i][2])
            return f->base + i;
    }
    return -1;
}

/* A number or (month, day of week) a name, within the field's range. */
static int parse_value(cron_ps_t *ps, int *out)
{
    const cron_field_t *f = &fields[ps->idx];
    size_t at = ps->pos;
    char what[24];
    int v;

    if (at < ps->end && is_digit(ps->s[at])) {
        v = read_number(ps);
        if (v < f->min || v > f->max)
            return field_err(ps, at, "%.*s is out of range %d-%d", (int)(ps->pos - at),
                             ps->s + at, f->min, f->max);
    } else if (at < ps->end && f->names && is_alpha(ps->s[at])) {
        while (ps->pos < ps->end && is_alpha(ps->s[ps->pos]))
            ps->pos++;
        v = find_name(f, ps->s + at, ps->pos - at);
        if (v < 0)
            return field_err(ps, at, "unknown %s name '%.*s'", f->kind,
                             (int)(ps->pos - at > 12 ? 12 : ps->pos - at), ps->s + at);
    } else {
        return field_err(ps, at, "expected a number%s, got %s",
                         f->names ? (ps->idx == 3 ? " or month name" : " or weekday name") : "",
                         show_at(ps, at, what, sizeof what));
    }
    *out = v;
    return 0;
}

/* "/n" after an item: a plain number from 1 to the field's max. */
static int parse_step(cron_ps_t *ps, int *step)
{
    const cron_field_t *f = &fields[ps->idx];
    size_t at = ps->pos;
    char what[24];

    if (at >= ps->end || !is_digit(ps->s[at]))
        return field_err(ps, at, "expected a step number after '/', got %s",
                         show_at(ps, at, what, sizeof what));
    *step = read_number(ps);
    if (*step == 0)
        return field_err(ps, at, "step must be at least 1");
    if (*step > f->max)
        return field_err(ps, at, "step %.*s is out of range 1-%d", (int)(ps->pos - at),
                         ps->s + at, f->max);
    return 0;
}

/* One list item: '*', a, a-b, each optionally followed by /n. */
static int parse_item(cron_ps_t *ps, uint64_t *mask)
{
    const cron_field_t *f = &fields[ps->idx];
    size_t item = ps->pos;
    int lo, hi, step = 1;
    bool single = false;

    if (ps->s[ps->pos] == '*') {
        lo = f->min;
        hi = f->max;
        ps->pos++;
    } else {
        if (parse_value(ps, &lo) < 0)
            return -1;
        hi = lo;
        single = true;
        if (ps->pos < ps->end && ps->s[ps->pos] == '-') {
            ps->pos++;
            single = false;
            if (parse_value(ps, &hi) < 0)
                return -1;
            if (lo > hi)
                return field_err(ps, item, "range %.*s is backwards (start > end)",
                                 (int)(ps->pos - item), ps->s + item);
        }
    }
    if (ps->pos < ps->end && ps->s[ps->pos] == '/') {
        ps->pos++;
        if (parse_step(ps, &step) < 0)
            return -1;
        if (single)
            hi = f->max;  /* Vixie: a/n is a-max/n */
    }
    for (int v = lo; v <= hi; v += step)
        *mask |= 1ULL << v;
    return 0;
}

/* A comma list of items spanning [start, end) of the expression. */
static int parse_field(cron_ps_t *ps, size_t start, size_t end, uint64_t *mask)
{
    char what[24];

    ps->pos = start;
    ps->end = end;
    *mask = 0;
    for (;;) {
        if (ps->pos >= ps->end || ps->s[ps->pos] == ',')
            return field_err(ps, ps->pos < ps->end ? ps->pos : ps->pos - 1, "empty list item");
        if (parse_item(ps, mask) < 0)
            return -1;
        if (ps->pos >= ps->end)
            return 0;
        if (ps->s[ps->pos] != ',')
            return field_err(ps, ps->pos, "unexpected %s", show_at(ps, ps->pos, what, sizeof what));
        ps->pos++;
    }
}

/* "@daily" and friends, starting at offset at (after leading blanks). */
static int parse_macro(const char *expr, size_t at, cron_t *out, char *err, size_t errlen)
{
    size_t end = at, rest;

    while (expr[end] && !is_blank(expr[end]))
        end++;
    for (rest = end; is_blank(expr[rest]); rest++)
        ;
    for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++) {
        const char *m = macros[i].name;
        size_t k = 0;

        while (at + k < end && m[k] && lower(expr[at + k]) == m[k])
            k++;
        if (at + k != end || m[k])
            continue;
        if (expr[rest]) {
            put_err(err, errlen, "unexpected text after %s (at position %zu)", m, rest + 1);
            return -1;
        }
        return cron_parse(macros[i].expansion, out, err, errlen);
    }
    put_err(err, errlen, "unsupported macro '%.*s': use @hourly, @daily, @midnight, @weekly, "
            "@monthly, @yearly or @annually (at position %zu)",
            (int)(end - at > 16 ? 16 : end - at), expr + at, at + 1);
    return -1;
}

/* Does some listed day of month exist in some listed month (29 February
 * counts: it exists in leap years)? */
static bool dom_possible(uint64_t dom, uint64_t month)
{
    static const int days[13] = { 0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    for (int m = 1; m <= 12; m++)
        if (month >> m & 1)
            for (int d = 1; d <= days[m]; d++)
                if (dom >> d & 1)
                    return true;
    return false;
}

int cron_parse(const char *expr, cron_t *out, char *err, size_t errlen)
{
    size_t start[5], end[5], i = 0;
    int count = 0;
    uint64_t mask[5];
    cron_ps_t ps = { .s = expr, .err = err, .errlen = errlen };

    if (!expr || !out) {
        put_err(err, errlen, "no expression");
        return -1;
    }
    while (is_blank(expr[i]))
        i++;
    if (expr[i] == '@')
        return parse_macro(expr, i, out, err, errlen);
    while (expr[i]) {
        if (count < 5)
            start[count] = i;
        while (expr[i] && !is_blank(expr[i]))
            i++;
        if (count < 5)
            end[count] = i;
        count++;
        while (is_blank(expr[i]))
            i++;
    }
    if (count != 5) {
        put_err(err, errlen, "expected 5 fields, got %d", count);
        return -1;
    }
    for (ps.idx = 0; ps.idx < 5; ps.idx++)
        if (parse_field(&ps, start[ps.idx], end[ps.idx], &mask[ps.idx]) < 0)
            return -1;
    if (expr[start[2]] != '*' && expr[start[4]] == '*' && !dom_possible(mask[2], mask[3])) {
        put_err(err, errlen, "field 3 (day of month): no day listed exists in the months of field 4 "
                "(month), so the schedule never fires (e.g. 30 February, 31 April)");
        return -1;
    }
    out->minute = mask[0];
    out->hour = (uint32_t)mask[1];
    out->dom = (uint32_t)mask[2];
    out->month = (uint16_t)mask[3];
    out->dow = (uint8_t)((mask[4] | mask[4] >> 7) & 0x7f);  /* 7 is Sunday, bit 0 */
    out->dom_star = expr[start[2]] == '*';
    out->dow_star = expr[start[4]] == '*';
    return 0;
}

/* ---- evaluation ---------------------------------------------------------- */

static bool to_tm(int64_t t, struct tm *tm)
{
    time_t tt = (time_t)t;

    return gmtime_r(&tt, tm) != NULL;
}

/* Normalise tm (seconds forced to 0) and return its epoch seconds. */
static int64_t from_tm(struct tm *tm)
{
    tm->tm_sec = 0;
    tm->tm_isdst = 0;
    return (int64_t)timegm(tm);
}

static int64_t floor_minute(int64_t t)
{
    int64_t r = t % 60;

    return t - (r < 0 ? r + 60 : r);
}

static bool day_matches(const cron_t *c, const struct tm *tm)
{
    bool dom = (c->dom >> tm->tm_mday) & 1u;
    bool dow = (c->dow >> tm->tm_wday) & 1u;

    if (c->dom_star || c->dow_star)
        return dom && dow;
    return dom || dow;
}

/* The first set bit of mask in [from, to] going up (dir 1) or down (-1); -1 if none. */
static int find_bit(uint64_t mask, int from, int to, int dir)
{
    for (int i = from; dir > 0 ? i <= to : i >= to; i += dir)
        if ((mask >> i) & 1u)
            return i;
    return -1;
}

bool cron_matches(const cron_t *c, int64_t t)
{
    struct tm tm;

    if (!c || !to_tm(t, &tm))
        return false;
    return ((c->month >> (tm.tm_mon + 1)) & 1u) && day_matches(c, &tm) &&
           ((c->hour >> tm.tm_hour) & 1u) && ((c->minute >> tm.tm_min) & 1u);
}

int64_t cron_next(const cron_t *c, int64_t after_s)
{
    struct tm tm;
    int64_t t, limit;
    int h, m;

    if (!c || after_s < CRON_T_MIN || after_s > CRON_T_MAX)
        return -1;
    t = floor_minute(after_s) + 60;
    if (!to_tm(t, &tm))
        return -1;
    tm.tm_year += CRON_HORIZON_YEARS;
    limit = from_tm(&tm);
    while (t <= limit && to_tm(t, &tm)) {
        if (!((c->month >> (tm.tm_mon + 1)) & 1u)) {
            tm.tm_mon++;  /* first minute of next month */
            tm.tm_mday = 1;
            tm.tm_hour = tm.tm_min = 0;
        } else if (!day_matches(c, &tm) || (h = find_bit(c->hour, tm.tm_hour, 23, 1)) < 0) {
            tm.tm_mday++;  /* first minute of next day */
            tm.tm_hour = tm.tm_min = 0;
        } else if (h != tm.tm_hour) {
            tm.tm_hour = h;
            tm.tm_min = 0;
        } else if ((m = find_bit(c->minute, tm.tm_min, 59, 1)) < 0) {
            tm.tm_hour++;
            tm.tm_min = 0;
        } else {
            tm.tm_min = m;
            t = from_tm(&tm);
            return t <= limit ? t : -1;
        }
        t = from_tm(&tm);
    }
    return -1;
}

int64_t cron_prev(const cron_t *c, int64_t at_or_before_s)
{
    struct tm tm;
    int64_t t, limit;
    int h, m;

    if (!c || at_or_before_s < CRON_T_MIN || at_or_before_s > CRON_T_MAX)
        return -1;
    t = floor_minute(at_or_before_s);
    if (!to_tm(t, &tm))
        return -1;
    tm.tm_year -= CRON_HORIZON_YEARS;
    limit = from_tm(&tm);
    while (t >= limit && to_tm(t, &tm)) {
        if (!((c->month >> (tm.tm_mon + 1)) & 1u)) {
            tm.tm_mday = 1;  /* back to the last minute of the previous month */
            tm.tm_hour = tm.tm_min = 0;
            t = from_tm(&tm) - 60;
        } else if (!day_matches(c, &tm) || (h = find_bit(c->hour, tm.tm_hour, 0, -1)) < 0) {
            tm.tm_hour = tm.tm_min = 0;  /* back to 23:59 of the previous day */
            t = from_tm(&tm) - 60;
        } else if (h != tm.tm_hour) {
            tm.tm_hour = h;
            tm.tm_min = 59;
            t = from_tm(&tm);
        } else if ((m = find_bit(c->minute, tm.tm_min, 0, -1)) < 0) {
            tm.tm_min = 0;  /* back to :59 of the previous hour */
            t = from_tm(&tm) - 60;
        } else {
            tm.tm_min = m;
            t = from_tm(&tm);
            return t >= limit ? t : -1;
        }
    }
    return -1;
}

bool cron_missed(const cron_t *c, int64_t last_run_s, int64_t now_s)
{
    int64_t t;

    if (!c || now_s <= last_run_s)
        return false;
    t = cron_prev(c, now_s);  /* the latest scheduled time up to now */
    if (t != -1)
        return t > last_run_s;
    t = cron_next(c, last_run_s);  /* none in the last years: look forward from the last run */
    return t != -1 && t <= now_s;
}
