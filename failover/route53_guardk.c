/* route53_guardk — the last leader's knowledge in the fencing guard's
 * value.  Route 53 keeps a TXT value as one or more character-strings,
 * each quoted and at most 255 bytes (Developer Guide, "Supported DNS record
 * types", TXT record type: "Enter multiple values as separate strings...
 * each string can be up to 255 characters"), and a Value of at most 4,000
 * characters (API reference, ResourceRecord).  The guard's value is
 *   "epoch=7 holder=use1-a" "known=3 type=A seq=7.12 use1:100,-,0 euw1:0,-,0" "..."
 * the first string as before (older parsers read only its epoch token);
 * then "known=N type=T", optionally "seq=E.N" (the batch that wrote this
 * knowledge: its term's epoch and its number in that term, so a judged read
 * orders the guard and a saved state by number, not by text; a guard
 * without it is an older regiond's), followed by N entries ID:W0,W1,D over as many
 * strings as needed (an entry never spans two strings): ID the set
 * identifier with every byte outside [A-Za-z0-9._-] as %XX, W0/W1 the
 * weight of the record_type slot and of its sibling type (0..255, "-" no
 * record), D 1 when the record is drift (no token of them starts with
 * "epoch=": the epoch stays the value's only one; nor "seq=": "=" is
 * escaped in an ID).  Parsing is strict: anything else
 * is no knowledge. */
#include "failover/route53_guardk.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GK_STR_MAX 255

static bool gk_safe(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
}

/* One entry token; its length, or -1 when it is longer than a string. */
static int gk_token(const r53_gk_entry_t *e, char *t, size_t len)
{
    size_t k = 0;
    for (const unsigned char *p = (const unsigned char *)e->id; *p; p++) {
        if (k + 4 >= len)
            return -1;
        if (gk_safe(*p))
            t[k++] = (char)*p;
        else
            k += (size_t)snprintf(t + k, len - k, "%%%02X", *p);
    }
    char w[2][12];
    for (int s = 0; s < R53_GK_SLOTS; s++) {
        if (e->w[s] < 0)
            snprintf(w[s], sizeof(w[s]), "-");
        else
            snprintf(w[s], sizeof(w[s]), "%d", e->w[s] > 255 ? 255 : e->w[s]);
    }
    int n = snprintf(t + k, len - k, ":%s,%s,%d", w[0], w[1], e->drift ? 1 : 0);
    if (n < 0 || k + (size_t)n >= len || k + (size_t)n > GK_STR_MAX)
        return -1;
    return (int)(k + (size_t)n);
}

int r53_gk_encode(const char *first, const r53_gk_t *k, char *out, size_t len)
{
    size_t cap = len < R53_GK_VALUE_MAX + 1 ? len : R53_GK_VALUE_MAX + 1, o;
    int n = snprintf(out, cap, "\"%s\"", first);
    if (n < 0 || (size_t)n >= cap || strlen(first) > GK_STR_MAX)
        return -1;
    o = (size_t)n;
    if (!k)
        return 0;
    char cur[GK_STR_MAX + 1], t[GK_STR_MAX + 64], sq[48] = "";
    if (k->seq.epoch && k->seq.n) {
        memcpy(sq, " seq=", 6);
        r53_gk_seq_fmt(k->seq, sq + 5, sizeof(sq) - 5);
    }
    size_t cl = (size_t)snprintf(cur, sizeof(cur), "known=%zu type=%s%s", k->n, k->type, sq);
    for (size_t i = 0; i <= k->n; i++) {
        int tl = i < k->n ? gk_token(&k->e[i], t, sizeof(t)) : 0;
        if (tl < 0)
            return -1;
        if (i == k->n || cl + 1 + (size_t)tl > GK_STR_MAX) {   /* close the string */
            n = snprintf(out + o, cap - o, " \"%s\"", cur);
            if (n < 0 || o + (size_t)n >= cap)
                return -1;
            o += (size_t)n;
            cl = 0;
            if (i == k->n)
                break;
        }
        cl += (size_t)snprintf(cur + cl, sizeof(cur) - cl, "%s%s", cl ? " " : "", t);
    }
    return 0;
}

static int gk_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* "0".."255" or "-" (-1); -2 when neither. */
static int gk_weight(const char *s, size_t l)
{
    if (l == 1 && s[0] == '-')
        return -1;
    if (l == 0 || l > 3 || (l > 1 && s[0] == '0'))
        return -2;
    int v = 0;
    for (size_t i = 0; i < l; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -2;
        v = v * 10 + (s[i] - '0');
    }
    return v <= 255 ? v : -2;
}

/* One entry token t[0..l) into e; -1 when malformed. */
static int gk_entry(const char *t, size_t l, r53_gk_entry_t *e)
{
    const char *eq = memchr(t, ':', l);
    if (!eq || eq == t)
        return -1;
    size_t k = 0;
    for (const char *p = t; p < eq; p++) {
        int c = (unsigned char)*p;
        if (*p == '%') {
            int h = eq - p > 2 ? gk_hex(p[1]) : -1, lo = eq - p > 2 ? gk_hex(p[2]) : -1;
            if (h < 0 || lo < 0 || (c = h * 16 + lo) == 0 || gk_safe((unsigned char)c))
                return -1;   /* not canonical: one encoding per identifier */
            p += 2;
        } else if (!gk_safe((unsigned char)c)) {
            return -1;
        }
        if (k + 1 >= sizeof(e->id))
            return -1;
        e->id[k++] = (char)c;
    }
    e->id[k] = '\0';
    const char *f = eq + 1, *end = t + l, *c1 = memchr(f, ',', (size_t)(end - f));
    const char *c2 = c1 ? memchr(c1 + 1, ',', (size_t)(end - c1 - 1)) : NULL;
    if (!c2 || end - c2 != 2 || (c2[1] != '0' && c2[1] != '1'))
        return -1;
    e->w[0] = gk_weight(f, (size_t)(c1 - f));
    e->w[1] = gk_weight(c1 + 1, (size_t)(c2 - c1 - 1));
    e->drift = c2[1] == '1';
    return e->w[0] < -1 || e->w[1] < -1 ? -1 : 0;
}

/* The header "known=N type=T" at t[0..l) of the second string's first two
 * tokens; N, or -1. */
static long gk_header(const char *t, size_t l, r53_gk_t *k, bool type)
{
    if (type) {
        if (l < 6 || l - 5 >= sizeof(k->type) || strncmp(t, "type=", 5) != 0)
            return -1;
        memcpy(k->type, t + 5, l - 5);
        k->type[l - 5] = '\0';
        return 0;
    }
    if (l < 7 || l > 9 || strncmp(t, "known=", 6) != 0)
        return -1;
    int n = gk_weight(t + 6, l - 6);   /* 0..255 */
    return n < 0 || n > R53_GK_MAXR ? -1 : n;
}

/* Walk the tokens of every string after the first. */
static int gk_walk(const char *v, r53_gk_t *k)
{
    size_t str = 0, tok = 0;
    long want = -1;
    const char *p = v;
    while (*p) {
        if (*p != '"')
            return -1;
        const char *q = ++p;
        while (*q && *q != '"') {
            if (*q == '\\' || (unsigned char)*q < 0x20 || (unsigned char)*q >= 0x7f)
                return -1;
            q++;
        }
        if (!*q || q - p > GK_STR_MAX || (str > 0 && q == p))
            return -1;
        for (const char *s = p; str > 0 && s < q;) {
            const char *e = memchr(s, ' ', (size_t)(q - s));
            if (!e)
                e = q;
            if (e == s)
                return -1;   /* two spaces, or a leading one */
            size_t l = (size_t)(e - s);
            if (tok < 2) {
                long h = gk_header(s, l, k, tok == 1);
                if (h < 0 || str != 1)
                    return -1;
                if (tok == 0)
                    want = h;
            } else if (tok == 2 && str == 1 && l > 4 && strncmp(s, "seq=", 4) == 0) {
                if (r53_gk_seq_parse(s + 4, l - 4, &k->seq) == -1)
                    return -1;
            } else if (k->n >= (size_t)want || gk_entry(s, l, &k->e[k->n++]) == -1) {
                return -1;
            }
            tok++;
            s = e < q ? e + 1 : q;
            if (e < q && s == q)
                return -1;   /* a trailing space */
        }
        str++;
        p = q + 1;
        if (*p == ' ' && p[1] == '"')
            p++;
        else if (*p)
            return -1;
    }
    if (want < 0 || tok < 2 || k->n != (size_t)want)
        return -1;
    for (size_t i = 0; i < k->n; i++)
        for (size_t j = i + 1; j < k->n; j++)
            if (strcmp(k->e[i].id, k->e[j].id) == 0)
                return -1;
    return 0;
}

/* Digits of a whole number above 0 without a leading zero; -1 otherwise
 * (or above 2^64 - 1). */
static int gk_u64(const char *s, size_t l, uint64_t *out)
{
    uint64_t v = 0;
    if (l == 0 || l > 20 || s[0] == '0')
        return -1;
    for (size_t i = 0; i < l; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int r53_gk_seq_parse(const char *s, size_t l, r53_gk_seq_t *out)
{
    const char *dot = s ? memchr(s, '.', l) : NULL;
    r53_gk_seq_t v;
    if (!dot || gk_u64(s, (size_t)(dot - s), &v.epoch) == -1 ||
        gk_u64(dot + 1, l - (size_t)(dot - s) - 1, &v.n) == -1) {
        out->epoch = out->n = 0;
        return -1;
    }
    *out = v;
    return 0;
}

void r53_gk_seq_fmt(r53_gk_seq_t s, char *out, size_t len)
{
    snprintf(out, len, "%" PRIu64 ".%" PRIu64, s.epoch, s.n);
}

int r53_gk_seq_cmp(r53_gk_seq_t a, r53_gk_seq_t b)
{
    if (a.epoch != b.epoch)
        return a.epoch < b.epoch ? -1 : 1;
    return a.n < b.n ? -1 : a.n > b.n ? 1 : 0;
}

int r53_gk_parse(const char *value, r53_gk_t *k)
{
    memset(k, 0, sizeof(*k));
    if (!value || strlen(value) > R53_GK_VALUE_MAX || gk_walk(value, k) == -1) {
        memset(k, 0, sizeof(*k));
        return -1;
    }
    return 0;
}
