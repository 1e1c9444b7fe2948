/* check.h — the tiny assertion kit of regiond's unit tests.
 * CHECK(cond) records a failure and goes on; the test's main returns
 * check_finish(), which prints "N passed, N failed" and the exit status. */
#ifndef REGIOND_CHECK_H
#define REGIOND_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_pass_, check_fail_;

#define CHECK(cond) do { \
    if (cond) { check_pass_++; } else { check_fail_++; \
        fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } \
} while (0)

/* Check that haystack contains needle, printing both when it does not. */
#define CHECK_CONTAINS(hay, needle) do { \
    const char *h_ = (hay), *n_ = (needle); \
    if (h_ && strstr(h_, n_)) { check_pass_++; } else { check_fail_++; \
        fprintf(stderr, "%s:%d: expected \"%s\" in \"%s\"\n", __FILE__, __LINE__, n_, h_ ? h_ : "(null)"); } \
} while (0)

#define CHECK_EQ_INT(got, want) do { \
    long g_ = (long)(got), w_ = (long)(want); \
    if (g_ == w_) { check_pass_++; } else { check_fail_++; \
        fprintf(stderr, "%s:%d: %s = %ld, want %ld\n", __FILE__, __LINE__, #got, g_, w_); } \
} while (0)

static inline int check_finish(void)
{
    printf("%d passed, %d failed\n", check_pass_, check_fail_);
    return check_fail_ ? 1 : 0;
}

#endif
