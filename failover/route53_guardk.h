/* route53_guardk.h — what the last leader knew, carried in the fencing
 * guard's value (failover/route53_guardk.c).  Pure encode/parse, no state. */
#ifndef REGIOND_ROUTE53_GUARDK_H
#define REGIOND_ROUTE53_GUARDK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define R53_GK_MAXR 64
#define R53_GK_SLOTS 2
/* ResourceRecord Value: "not to exceed 4,000 characters" (API reference) */
#define R53_GK_VALUE_MAX 4000

typedef struct {
    char id[129];               /* set identifier, decoded */
    int w[R53_GK_SLOTS];        /* weight per managed type slot; -1: no record */
    bool drift;
} r53_gk_entry_t;

/* The batch that wrote a guard's knowledge: its term's epoch and its number
 * in that term (both above 0); {0, 0} when not given (an older regiond's
 * guard or saved state).  Ordered by (epoch, n). */
typedef struct {
    uint64_t epoch, n;
} r53_gk_seq_t;

typedef struct {
    char type[8];               /* route53.record_type the slots refer to */
    r53_gk_seq_t seq;           /* "seq=E.N" after the type; {0, 0}: none */
    size_t n;
    r53_gk_entry_t e[R53_GK_MAXR];
} r53_gk_t;

/* The guard's TXT value: the character-string `first` (no quote or
 * backslash in it), then, when k is not NULL, the knowledge in further
 * character-strings of at most 255 bytes each.  0, or -1 when it does not
 * fit in len or in R53_GK_VALUE_MAX (out then holds nothing useful). */
int r53_gk_encode(const char *first, const r53_gk_t *k, char *out, size_t len);
/* The knowledge in a guard's TXT value; -1 when it carries none or any
 * part of it is malformed (k is then empty). */
int r53_gk_parse(const char *value, r53_gk_t *k);
/* "E.N" (both whole numbers above 0, no leading zero) of l bytes: 0, or -1
 * (out {0, 0}).  Formatting: "E.N" into out (at least 42 bytes). */
int r53_gk_seq_parse(const char *s, size_t l, r53_gk_seq_t *out);
void r53_gk_seq_fmt(r53_gk_seq_t s, char *out, size_t len);
/* <0, 0, >0 as a is before, the same as, after b. */
int r53_gk_seq_cmp(r53_gk_seq_t a, r53_gk_seq_t b);

#endif
