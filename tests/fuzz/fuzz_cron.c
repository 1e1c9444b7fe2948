/* libFuzzer target: backup schedules (config/cron.c).  The input is a cron
 * expression; when it parses, cron_next, cron_prev, cron_matches and
 * cron_missed run on it from a few fixed instants (the epoch, now-ish, a
 * leap day, the end of year 9999) and the answers are checked against the
 * header's contract. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/cron.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char expr[512], err[CRON_ERR_SIZE];
    if (size >= sizeof(expr))
        return 0;
    memcpy(expr, data, size);
    expr[size] = '\0';
    cron_t c;
    if (cron_parse(expr, &c, err, sizeof(err)) != 0)
        return 0;
    static const int64_t at[] = {0, 1767225600 /* 2026-01-01 */, 951782400 /* 2000-02-29 */,
                                 253402300740 /* 9999-12-31 23:59 */, -62135596800 /* 0001-01-01 */};
    for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
        int64_t n = cron_next(&c, at[i]);
        if (n != -1 && (n <= at[i] || n % 60 != 0 || !cron_matches(&c, n)))
            abort();
        int64_t p = cron_prev(&c, at[i]);
        if (p != -1 && (p > at[i] || p % 60 != 0 || !cron_matches(&c, p)))
            abort();
        if (n != -1 && !cron_missed(&c, at[i], n))
            abort();
        (void)cron_missed(&c, at[i], at[i] + 86400);
    }
    return 0;
}
