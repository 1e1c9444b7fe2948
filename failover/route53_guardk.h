/* route53_guardk.h — what the last leader knew, carried in the fencing
 * guard's value (failover/route53_guardk.c).  Pure encode/parse, no state. */
#ifndef REGIOND_ROUTE53_GUARDK_H
#define REGIOND_ROUTE53_GUARDK_H

#include <stdbool.h>
#include <stddef.h>

#define R53_GK_MAXR 64
#define R53_GK_SLOTS 2
/* ResourceRecord Value: "not to exceed 4,000 characters" (API reference) */
#define R53_GK_VALUE_MAX 4000

typedef struct {
    char id[129];               /* set identifier, decoded */
    int w[R53_GK_SLOTS];        /* weight per managed type slot; -1: no record */
    bool drift;
} r53_gk_entry_t;

typedef struct {
    char type[8];               /* route53.record_type the slots refer to */
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

#endif
