/* cron — 5-field cron expressions for backup schedules, evaluated in UTC.
 * Pure: no I/O, no globals, no allocation (gmtime_r/timegm only).
 *
 * Syntax: "minute hour day-of-month month day-of-week", fields separated by
 * blanks (space, tab; leading and trailing blanks are ignored).  A field is
 * a comma list of items; an item is
 *   '*'            every value of the field (min-max)
 *   a              one value
 *   a-b            a range, a <= b
 *   '*'/n, a-b/n   every n-th value of the range
 *   a/n            a-max/n, as in Vixie cron
 * Ranges: minute 0-59, hour 0-23, day of month 1-31, month 1-12, day of
 * week 0-7 (0 and 7 are both Sunday).  Month names jan..dec and weekday
 * names sun..sat (three letters, any case) may stand for a value, also in
 * ranges ("mon-fri", "jan-mar/2"); sun is 0, so "fri-sun" is backwards
 * (write "fri-7").  A step is a plain number from 1 to the field's max.
 *
 * Macros: only "@hourly" (0 * * * *), "@daily" and "@midnight" (0 0 * * *),
 * "@weekly" (0 0 * * 0), "@monthly" (0 0 1 * *), "@yearly" and "@annually"
 * (0 0 1 1 *), any case, alone on the line.  "@reboot" and "@every" are not
 * schedules of time and are rejected.
 *
 * Day matching (Vixie): when the day-of-month and the day-of-week field
 * both do not start with '*', a day matches when EITHER matches
 * ("0 0 1 * mon": the 1st and every Monday); when one of them starts with
 * '*' (also "*" followed by "/n"), a day must match both, so a plain '*'
 * leaves the other field alone to restrict.
 *
 * Errors name the field and the 1-based character position in the whole
 * expression: "field 3 (day of month): 32 is out of range 1-31 (at
 * position 9)", "field 2 (hour): step must be at least 1 (at position 5)",
 * "expected 5 fields, got 4".  An expression that can never fire is
 * rejected too, naming the field: a day of month restricted (and day of
 * week '*') to days none of the listed months has, e.g. "0 3 30 2 *",
 * "0 0 31 4,6 *" ("field 3 (day of month): no day listed exists in the
 * months of field 4 (month), ...").  29 February is accepted (leap years). */
#ifndef REGIOND_CRON_H
#define REGIOND_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRON_ERR_SIZE 256     /* enough for any message of cron_parse */
#define CRON_HORIZON_YEARS 5  /* how far cron_next/cron_prev search */

/* A parsed expression as bitmasks: bit v set when value v matches.
 *   minute bits 0-59, hour bits 0-23, dom bits 1-31 (bit 0 unused),
 *   month bits 1-12 (bit 0 unused), dow bits 0-6 with Sunday = bit 0
 *   (a 7 in the expression sets bit 0).
 * dom_star / dow_star: that field's text starts with '*' (see day
 * matching above).  A plain value, owned by whoever declared it. */
typedef struct {
    uint64_t minute;
    uint32_t hour;
    uint32_t dom;
    uint16_t month;
    uint8_t dow;
    bool dom_star, dow_star;
} cron_t;

/* Parse expr into *out.  Returns 0, or -1 with a message in err (errlen
 * CRON_ERR_SIZE holds any; err may be NULL) and *out untouched. */
int cron_parse(const char *expr, cron_t *out, char *err, size_t errlen);

/* Does the minute holding t (epoch seconds, UTC; seconds ignored) match? */
bool cron_matches(const cron_t *c, int64_t t);

/* The first matching minute strictly after after_s (epoch seconds, UTC),
 * with seconds = 0; -1 when there is none within CRON_HORIZON_YEARS
 * calendar years (29 February seen from 2097), or after_s is outside years
 * 1-9999.
 * -1 is never a real answer: answers are multiples of 60. */
int64_t cron_next(const cron_t *c, int64_t after_s);

/* The last matching minute at or before at_or_before_s, with seconds = 0;
 * -1 when there is none within CRON_HORIZON_YEARS calendar years before,
 * or the time is outside years 1-9999. */
int64_t cron_prev(const cron_t *c, int64_t at_or_before_s);

/* At start-up: did at least one scheduled time fall in (last_run_s, now_s]?
 * One bool however many were missed, so the caller runs the backup once,
 * never a burst.  False when now_s <= last_run_s.  Exact unless the gap
 * is over 2 * CRON_HORIZON_YEARS and the schedule sparser than that. */
bool cron_missed(const cron_t *c, int64_t last_run_s, int64_t now_s);

#endif
