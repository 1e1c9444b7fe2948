/* r53_xml_build — see r53_xml.h.  The ChangeResourceRecordSetsRequest
 * builder (escaped text in a growing buffer) and the rrset helpers: copy,
 * clear, and the comparison with Route 53's name rules.  The parsers are in
 * r53_xml.c. */
#include "aws/r53_xml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aws/r53_xml_int.h"

/* ---- ChangeResourceRecordSetsRequest ---- */

typedef struct {
    char *b;
    size_t len, cap;
    bool bad;                    /* OOM, or a character XML 1.0 cannot carry */
} r53_sb_t;

static void r53_put(r53_sb_t *sb, const char *s, size_t n)
{
    if (sb->bad)
        return;
    if (sb->len + n + 1 > sb->cap) {
        size_t cap = sb->cap ? sb->cap : 1024;
        while (cap < sb->len + n + 1)
            cap *= 2;
        char *nb = realloc(sb->b, cap);
        if (!nb) {
            sb->bad = true;
            return;
        }
        sb->b = nb;
        sb->cap = cap;
    }
    memcpy(sb->b + sb->len, s, n);
    sb->len += n;
    sb->b[sb->len] = '\0';
}

static void r53_puts(r53_sb_t *sb, const char *s)
{
    r53_put(sb, s, strlen(s));
}

/* Text content with & < > " ' escaped; CR kept as a character reference
 * (a parser would turn a raw CR into LF). */
static void r53_put_text(r53_sb_t *sb, const char *s)
{
    for (const char *run = s;; s++) {
        unsigned char c = (unsigned char)*s;
        const char *esc = c == '&' ? "&amp;" : c == '<' ? "&lt;" : c == '>' ? "&gt;"
                        : c == '"' ? "&quot;" : c == '\'' ? "&apos;" : c == '\r' ? "&#13;" : NULL;
        if (!esc && c != '\0' && (c >= 0x20 || c == '\t' || c == '\n'))
            continue;
        r53_put(sb, run, (size_t)(s - run));
        if (c == '\0')
            return;
        if (!esc) {
            sb->bad = true;      /* a control character: not representable in XML 1.0 */
            return;
        }
        r53_puts(sb, esc);
        run = s + 1;
    }
}

static void r53_put_elem(r53_sb_t *sb, const char *name, const char *text)
{
    r53_puts(sb, "<");
    r53_puts(sb, name);
    r53_puts(sb, ">");
    r53_put_text(sb, text);
    r53_puts(sb, "</");
    r53_puts(sb, name);
    r53_puts(sb, ">");
}

static void r53_put_long(r53_sb_t *sb, const char *name, long v)
{
    char num[24];
    snprintf(num, sizeof(num), "%ld", v);
    r53_put_elem(sb, name, num);
}

/* ResourceRecordSet members in the order of the botocore model's shape. */
static void r53_put_rrset(r53_sb_t *sb, const r53_rrset_t *r)
{
    r53_puts(sb, "<ResourceRecordSet>");
    r53_put_elem(sb, "Name", r->name);
    r53_put_elem(sb, "Type", r->type);
    if (r->set_identifier[0])
        r53_put_elem(sb, "SetIdentifier", r->set_identifier);
    if (r->weight >= 0)
        r53_put_long(sb, "Weight", r->weight);
    if (r->ttl >= 0)
        r53_put_long(sb, "TTL", r->ttl);
    if (r->n_values > 0) {
        r53_puts(sb, "<ResourceRecords>");
        for (size_t i = 0; i < r->n_values && i < R53_MAX_VALUES; i++) {
            r53_puts(sb, "<ResourceRecord>");
            r53_put_elem(sb, "Value", r->values[i] ? r->values[i] : "");
            r53_puts(sb, "</ResourceRecord>");
        }
        r53_puts(sb, "</ResourceRecords>");
    }
    if (r->alias) {
        r53_puts(sb, "<AliasTarget>");
        r53_put_elem(sb, "HostedZoneId", r->alias_zone);
        r53_put_elem(sb, "DNSName", r->alias_dns);
        r53_put_elem(sb, "EvaluateTargetHealth", r->alias_evaluate ? "true" : "false");
        r53_puts(sb, "</AliasTarget>");
    }
    if (r->health_check_id[0])
        r53_put_elem(sb, "HealthCheckId", r->health_check_id);
    r53_puts(sb, "</ResourceRecordSet>");
}

char *r53_build_change_batch(const char *comment, const r53_change_item_t *items, size_t n)
{
    r53_sb_t sb = {0};
    r53_puts(&sb, "<ChangeResourceRecordSetsRequest "
                  "xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><ChangeBatch>");
    if (comment && comment[0])
        r53_put_elem(&sb, "Comment", comment);
    r53_puts(&sb, "<Changes>");
    for (size_t i = 0; i < n; i++) {
        r53_puts(&sb, "<Change>");
        r53_put_elem(&sb, "Action", items[i].action);
        r53_put_rrset(&sb, items[i].rrset);
        r53_puts(&sb, "</Change>");
    }
    r53_puts(&sb, "</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>");
    if (sb.bad) {
        free(sb.b);
        return NULL;
    }
    return sb.b;
}

/* ---- rrset helpers ---- */

void r53_rrset_init(r53_rrset_t *r)
{
    memset(r, 0, sizeof(*r));
    r->weight = -1;
    r->ttl = -1;
}

int r53_rrset_copy(r53_rrset_t *dst, const r53_rrset_t *src)
{
    *dst = *src;
    for (size_t i = 0; i < R53_MAX_VALUES; i++)
        dst->values[i] = NULL;
    dst->n_values = 0;
    for (size_t i = 0; i < src->n_values && i < R53_MAX_VALUES; i++) {
        if (!(dst->values[i] = strdup(src->values[i] ? src->values[i] : ""))) {
            r53_rrset_clear(dst);
            return -1;
        }
        dst->n_values = i + 1;
    }
    return 0;
}

void r53_rrset_clear(r53_rrset_t *r)
{
    for (size_t i = 0; i < r->n_values && i < R53_MAX_VALUES; i++)
        free(r->values[i]);
    r53_rrset_init(r);
}

/* Decode a DNS name in Route 53's presentation form: \DDD (octal) and \X
 * escapes become the octet, ASCII letters are lowered, and a literal '.' or
 * '\' octet is re-escaped so it never looks like a label separator.  The
 * trailing root dot is dropped.  Returns the length, or -1 if too long. */
static int r53_name_canon(const char *s, char *out, size_t outlen)
{
    size_t o = 0;
    bool sep_end = false;
    for (; *s; s++) {
        int c = (unsigned char)*s;
        bool escaped = false;
        if (c == '\\' && s[1]) {
            escaped = true;
            if (s[1] >= '0' && s[1] <= '7' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' &&
                s[3] <= '7') {
                c = (s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0');
                s += 3;
            } else {
                c = (unsigned char)*++s;
            }
        }
        if (c >= 'A' && c <= 'Z')
            c += 'a' - 'A';
        if (o + 3 > outlen)
            return -1;
        if (escaped && (c == '.' || c == '\\'))
            out[o++] = '\\';
        out[o++] = (char)c;
        sep_end = !escaped && c == '.';
    }
    if (sep_end)
        o--;
    out[o] = '\0';
    return (int)o;
}

bool r53_name_equal(const char *a, const char *b)
{
    char ca[1024], cb[1024];
    int la = r53_name_canon(a, ca, sizeof(ca)), lb = r53_name_canon(b, cb, sizeof(cb));
    if (la < 0 || lb < 0)
        return strcmp(a, b) == 0;
    return la == lb && memcmp(ca, cb, (size_t)la) == 0;
}

/* Values compared as a multiset: Route 53 does not keep their order. */
static bool r53_values_equal(const r53_rrset_t *a, const r53_rrset_t *b)
{
    if (a->n_values != b->n_values || a->n_values > R53_MAX_VALUES)
        return false;
    bool used[R53_MAX_VALUES] = {false};
    for (size_t i = 0; i < a->n_values; i++) {
        size_t j = 0;
        for (; j < b->n_values; j++)
            if (!used[j] && a->values[i] && b->values[j] && strcmp(a->values[i], b->values[j]) == 0)
                break;
        if (j == b->n_values)
            return false;
        used[j] = true;
    }
    return true;
}

bool r53_rrset_equal(const r53_rrset_t *a, const r53_rrset_t *b)
{
    if (!r53_name_equal(a->name, b->name) || strcasecmp(a->type, b->type) != 0 ||
        strcmp(a->set_identifier, b->set_identifier) != 0 || a->weight != b->weight ||
        a->ttl != b->ttl || a->alias != b->alias ||
        strcmp(a->health_check_id, b->health_check_id) != 0 || !r53_values_equal(a, b))
        return false;
    if (!a->alias)
        return true;
    return strcmp(a->alias_zone, b->alias_zone) == 0 &&
           r53_name_equal(a->alias_dns, b->alias_dns) && a->alias_evaluate == b->alias_evaluate;
}
