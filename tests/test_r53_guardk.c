/* test_r53_guardk — the last leader's knowledge in the fencing guard's
 * value (failover/route53_guardk.c): encoded as Route 53 takes a TXT value
 * (character-strings of at most 255 bytes, a value of at most 4,000),
 * parsed strictly from input the encoder did not write (old guards, an
 * operator's edits, truncation, random bytes); the batch number in it
 * (known defect 21). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/check.h"
#include "failover/route53_guardk.h"

static void entry(r53_gk_t *k, const char *id, int w0, int w1, bool d)
{
    r53_gk_entry_t *e = &k->e[k->n++];
    snprintf(e->id, sizeof(e->id), "%s", id);
    e->w[0] = w0;
    e->w[1] = w1;
    e->drift = d;
}

static bool same(const r53_gk_t *a, const r53_gk_t *b)
{
    if (a->n != b->n || strcmp(a->type, b->type) != 0 || r53_gk_seq_cmp(a->seq, b->seq) != 0)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->e[i].id, b->e[i].id) || a->e[i].w[0] != b->e[i].w[0] || a->e[i].w[1] != b->e[i].w[1] ||
            a->e[i].drift != b->e[i].drift)
            return false;
    return true;
}

/* Every character-string of v (as Route 53 reads it) is quoted and at most
 * 255 bytes, and v at most 4,000 characters. */
static bool route53_ok(const char *v)
{
    if (strlen(v) > R53_GK_VALUE_MAX)
        return false;
    for (const char *p = v; *p;) {
        if (*p != '"')
            return false;
        const char *q = strchr(p + 1, '"');
        if (!q || q - p - 1 > 255)
            return false;
        p = q + 1;
        if (*p == ' ')
            p++;
    }
    return true;
}

static void test_round_trip(void)
{
    static r53_gk_t k, got;
    char v[R53_GK_VALUE_MAX + 1];
    memset(&k, 0, sizeof(k));
    snprintf(k.type, sizeof(k.type), "A");
    entry(&k, "use1", 100, -1, false);
    entry(&k, "euw1", 0, 0, false);
    entry(&k, "ap se/1 \"x\"%", 255, 7, true);   /* quote, space, slash, percent: encoded */
    entry(&k, "epoch", 3, -1, false);           /* no "epoch=" token from an identifier */
    CHECK_EQ_INT(r53_gk_encode("epoch=7 holder=use1-a", &k, v, sizeof(v)), 0);
    CHECK_CONTAINS(v, "\"epoch=7 holder=use1-a\" \"known=4 type=A use1:100,-,0 euw1:0,0,0 "
                      "ap%20se%2F1%20%22x%22%25:255,7,1 epoch:3,-,0\"");
    CHECK(route53_ok(v));
    CHECK_EQ_INT(r53_gk_parse(v, &got), 0);
    CHECK(same(&k, &got));
    /* no knowledge: the epoch-only value of today */
    CHECK_EQ_INT(r53_gk_encode("epoch=7 holder=x", NULL, v, sizeof(v)), 0);
    CHECK(strcmp(v, "\"epoch=7 holder=x\"") == 0);
    CHECK_EQ_INT(r53_gk_parse(v, &got), -1);
    CHECK_EQ_INT(got.n, 0);
    /* an empty group still says so */
    memset(&k, 0, sizeof(k));
    snprintf(k.type, sizeof(k.type), "CNAME");
    CHECK_EQ_INT(r53_gk_encode("epoch=1", &k, v, sizeof(v)), 0);
    CHECK(strcmp(v, "\"epoch=1\" \"known=0 type=CNAME\"") == 0);
    CHECK_EQ_INT(r53_gk_parse(v, &got), 0);
    CHECK(same(&k, &got));
}

/* 64 regions of long identifiers: several strings, none over 255 bytes;
 * one that cannot fit (an identifier of 128 bytes to encode): -1. */
static void test_split_and_fit(void)
{
    static r53_gk_t k, got;
    char v[R53_GK_VALUE_MAX + 1], id[129];
    memset(&k, 0, sizeof(k));
    snprintf(k.type, sizeof(k.type), "AAAA");
    for (int i = 0; i < 40; i++) {
        snprintf(id, sizeof(id), "region-%02d-abcdefghijklmnopqrstuvwxyz0123456789", i);
        entry(&k, id, i * 6, i % 2 ? -1 : 255 - i, i % 3 == 0);
    }
    CHECK_EQ_INT(r53_gk_encode("epoch=18446744073709551615 holder=a", &k, v, sizeof(v)), 0);
    CHECK(route53_ok(v));
    CHECK(strlen(v) > 255 * 3);
    CHECK_EQ_INT(r53_gk_parse(v, &got), 0);
    CHECK(same(&k, &got));
    for (int i = 40; i < 64; i++) {   /* more than 4,000 characters */
        snprintf(id, sizeof(id), "region-%02d-abcdefghijklmnopqrstuvwxyz0123456789xxxxxxxxxxxxxxxxxxxxxxx", i);
        entry(&k, id, 1, 1, false);
    }
    CHECK_EQ_INT(r53_gk_encode("epoch=1", &k, v, sizeof(v)), -1);
    memset(&k, 0, sizeof(k));
    snprintf(k.type, sizeof(k.type), "A");
    memset(id, '/', 128);
    id[128] = '\0';
    entry(&k, id, 1, 1, false);   /* 384 bytes encoded: no string holds it */
    CHECK_EQ_INT(r53_gk_encode("epoch=1", &k, v, sizeof(v)), -1);
    CHECK_EQ_INT(r53_gk_encode("epoch=1", &k, v, 10), -1);   /* the caller's buffer */
}

static void bad(const char *v)
{
    static r53_gk_t got;
    int rc = r53_gk_parse(v, &got);
    CHECK_EQ_INT(rc, -1);
    if (rc != -1)
        fprintf(stderr, "  accepted: %s\n", v);
    CHECK_EQ_INT(got.n, 0);
}

static void test_strict(void)
{
    static r53_gk_t got;
    CHECK_EQ_INT(r53_gk_parse("\"epoch=2 holder=b\" \"known=1 type=A a:1,-,0\"", &got), 0);
    bad(NULL);
    bad("");
    bad("\"epoch=2 holder=b\"");                                   /* old format */
    bad("\"epoch=2\" \"known=2 type=A a:1,-,0\"");                 /* one entry missing (truncated) */
    bad("\"epoch=2\" \"known=1 type=A a:1,-,0 b:1,-,0\"");         /* one too many */
    bad("\"epoch=2\" \"known=2 type=A a:1,-,0 a:2,-,0\"");         /* the same region twice */
    bad("\"epoch=2\" \"known=1 type=A a:256,-,0\"");
    bad("\"epoch=2\" \"known=1 type=A a:01,-,0\"");
    bad("\"epoch=2\" \"known=1 type=A a:-1,-,0\"");
    bad("\"epoch=2\" \"known=1 type=A a:1,-,2\"");
    bad("\"epoch=2\" \"known=1 type=A a:1,-\"");
    bad("\"epoch=2\" \"known=1 type=A a:1,-,0,0\"");
    bad("\"epoch=2\" \"known=1 type=A :1,-,0\"");
    bad("\"epoch=2\" \"known=1 type=A a%2:1,-,0\"");               /* cut escape */
    bad("\"epoch=2\" \"known=1 type=A a%41:1,-,0\"");              /* "A" need not be escaped */
    bad("\"epoch=2\" \"known=1 type=A a%00:1,-,0\"");
    bad("\"epoch=2\" \"known=1 type=A a/b:1,-,0\"");               /* unescaped */
    bad("\"epoch=2\" \"known=1 type=A  a:1,-,0\"");                /* two spaces */
    bad("\"epoch=2\" \"known=1 type=A a:1,-,0 \"");
    bad("\"epoch=2\" \"known=1 type=A a:1,-,0");                   /* unterminated */
    bad("\"epoch=2\" \"known=1 type=A a:1,-,0\" x");
    bad("\"epoch=2\"  \"known=1 type=A a:1,-,0\"");
    bad("\"epoch=2\" \"type=A known=1 a:1,-,0\"");
    bad("\"epoch=2\" \"known=1\" \"type=A a:1,-,0\"");             /* the header split */
    bad("\"epoch=2\" \"known=65 type=A\"");                        /* more regions than regiond has */
    bad("\"epoch=2\" \"known=1 type=A a\\\"b:1,-,0\"");            /* a backslash */
    bad("\"epoch=2\" \"known=1 type=TOOLONGT a:1,-,0\"");
    bad("\"epoch=2\" \"known=1 type=A a:1,-,0\" \"\"");
    /* a string over 255 bytes */
    char v[400];
    int n = snprintf(v, sizeof(v), "\"epoch=2\" \"known=1 type=A ");
    memset(v + n, 'a', 300);
    snprintf(v + n + 300, sizeof(v) - (size_t)n - 300, ":1,-,0\"");
    bad(v);
}

/* Input the author did not choose: a valid value with random bytes
 * changed, cut or duplicated; every parse ends, and what it accepts
 * encodes back to a valid Route 53 value. */
static void test_fuzz(void)
{
    static r53_gk_t k, got;
    char v[R53_GK_VALUE_MAX + 1], m[R53_GK_VALUE_MAX + 1], back[R53_GK_VALUE_MAX + 1];
    memset(&k, 0, sizeof(k));
    snprintf(k.type, sizeof(k.type), "A");
    entry(&k, "use1", 100, -1, false);
    entry(&k, "eu w1", 0, 5, true);
    entry(&k, "apse1", 7, 9, false);
    k.seq = (r53_gk_seq_t){9, 4};
    CHECK_EQ_INT(r53_gk_encode("epoch=9 holder=h", &k, v, sizeof(v)), 0);
    const char alpha[] = "\" \\%:,-=019aAknowtype";
    srand(17);
    int accepted = 0, bad_back = 0;
    for (int it = 0; it < 20000; it++) {
        size_t l = strlen(v);
        memcpy(m, v, l + 1);
        int edits = 1 + rand() % 3;
        for (int e = 0; e < edits; e++) {
            size_t at = (size_t)rand() % l;
            switch (rand() % 3) {
            case 0: m[at] = alpha[rand() % (int)(sizeof(alpha) - 1)]; break;
            case 1: m[at] = (char)(1 + rand() % 255); break;
            default: m[at] = '\0'; l = at ? at : 1; break;
            }
        }
        if (r53_gk_parse(m, &got) == 0) {
            accepted++;
            bad_back += r53_gk_encode("epoch=9", &got, back, sizeof(back)) != 0 || !route53_ok(back);
        }
    }
    CHECK_EQ_INT(bad_back, 0);
    CHECK(accepted < 20000);
    printf("fuzz: %d of 20000 mutations accepted\n", accepted);
}

/* The batch number: written after the type, parsed strictly, ordered by
 * (epoch, n); a guard without it (an older regiond's) still parses, with
 * none. */
static void test_seq(void)
{
    static r53_gk_t k, got;
    char v[R53_GK_VALUE_MAX + 1];
    memset(&k, 0, sizeof(k));
    snprintf(k.type, sizeof(k.type), "A");
    k.seq = (r53_gk_seq_t){18446744073709551615ULL, 12};
    entry(&k, "use1", 100, -1, false);
    CHECK_EQ_INT(r53_gk_encode("epoch=7", &k, v, sizeof(v)), 0);
    CHECK(strcmp(v, "\"epoch=7\" \"known=1 type=A seq=18446744073709551615.12 use1:100,-,0\"") == 0);
    CHECK_EQ_INT(r53_gk_parse(v, &got), 0);
    CHECK(same(&k, &got));
    CHECK_EQ_INT(r53_gk_parse("\"epoch=7\" \"known=1 type=A use1:100,-,0\"", &got), 0);
    CHECK(got.seq.epoch == 0 && got.seq.n == 0);
    CHECK_EQ_INT(r53_gk_parse("\"epoch=7\" \"known=0 type=A seq=7.1\"", &got), 0);
    CHECK(got.seq.epoch == 7 && got.seq.n == 1);
    bad("\"epoch=7\" \"known=1 type=A seq=7.0 a:1,-,0\"");
    bad("\"epoch=7\" \"known=1 type=A seq=0.1 a:1,-,0\"");
    bad("\"epoch=7\" \"known=1 type=A seq=07.1 a:1,-,0\"");
    bad("\"epoch=7\" \"known=1 type=A seq=7 a:1,-,0\"");
    bad("\"epoch=7\" \"known=1 type=A seq=7. a:1,-,0\"");
    bad("\"epoch=7\" \"known=1 type=A seq=7.1.1 a:1,-,0\"");
    bad("\"epoch=7\" \"known=1 type=A seq=18446744073709551616.1 a:1,-,0\"");   /* 2^64 */
    bad("\"epoch=7\" \"known=1 type=A seq=7.1 seq=7.2 a:1,-,0\"");
    bad("\"epoch=7\" \"known=1 type=A a:1,-,0 seq=7.1\"");                      /* not after the type */
    bad("\"epoch=7\" \"known=1 type=A\" \"seq=7.1 a:1,-,0\"");                  /* not in the header's string */
    bad("\"epoch=7\" \"known=1 seq=7.1 type=A a:1,-,0\"");
    r53_gk_seq_t a = {7, 12}, b = {8, 1}, c = {7, 13};
    CHECK(r53_gk_seq_cmp(a, b) < 0 && r53_gk_seq_cmp(b, a) > 0 && r53_gk_seq_cmp(a, c) < 0);
    CHECK(r53_gk_seq_cmp(a, a) == 0);
    CHECK(r53_gk_seq_cmp((r53_gk_seq_t){0, 0}, a) < 0);
    char f[48];
    r53_gk_seq_fmt(a, f, sizeof(f));
    CHECK(strcmp(f, "7.12") == 0);
}

int main(void)
{
    test_seq();
    test_round_trip();
    test_split_and_fit();
    test_strict();
    test_fuzz();
    return check_finish();
}
