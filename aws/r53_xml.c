/* r53_xml — see r53_xml.h.  The parsing half: one expat driver (namespace
 * processing on, elements matched by local name, a stack of element kinds
 * for context, character data accumulated across callbacks) and three sets
 * of handlers: record list, ChangeInfo, error body.  The builder and the
 * rrset helpers are in r53_xml_build.c. */
#include "aws/r53_xml.h"

#include <expat.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/r53_xml_int.h"

#define R53_TEXT_MAX 4096      /* Value: "not to exceed 4,000 characters" (RData) */
#define R53_DEPTH_MAX 32       /* Route 53 answers nest 6 deep */
#define R53_MAX_SETS 100000    /* ListResourceRecordSets returns at most 300 per page */
#define R53_NS_SEP '|'

size_t r53_xml_feed_max;

/* Element kinds by local name; everything else is R53_E_OTHER and ignored. */
typedef enum {
    R53_E_OTHER, R53_E_LIST_RESP, R53_E_RRSETS, R53_E_RRSET, R53_E_NAME, R53_E_TYPE,
    R53_E_SETID, R53_E_WEIGHT, R53_E_TTL, R53_E_RECORDS, R53_E_RECORD, R53_E_VALUE,
    R53_E_ALIAS, R53_E_ZONE, R53_E_DNSNAME, R53_E_EVAL, R53_E_HC, R53_E_TRUNC,
    R53_E_NEXT_NAME, R53_E_NEXT_TYPE, R53_E_NEXT_ID, R53_E_CHANGE_RESP, R53_E_GET_CHANGE_RESP,
    R53_E_CHANGE_INFO, R53_E_ID, R53_E_STATUS, R53_E_SUBMITTED, R53_E_COMMENT,
    R53_E_ERROR_RESP, R53_E_ERROR, R53_E_CODE, R53_E_MESSAGE, R53_E_REQUEST_ID,
    R53_E_ICB, R53_E_MESSAGES,
} r53_el_t;

static const struct { const char *name; r53_el_t el; } r53_names[] = {
    {"ListResourceRecordSetsResponse", R53_E_LIST_RESP}, {"ResourceRecordSets", R53_E_RRSETS},
    {"ResourceRecordSet", R53_E_RRSET}, {"Name", R53_E_NAME}, {"Type", R53_E_TYPE},
    {"SetIdentifier", R53_E_SETID}, {"Weight", R53_E_WEIGHT}, {"TTL", R53_E_TTL},
    {"ResourceRecords", R53_E_RECORDS}, {"ResourceRecord", R53_E_RECORD},
    {"Value", R53_E_VALUE}, {"AliasTarget", R53_E_ALIAS}, {"HostedZoneId", R53_E_ZONE},
    {"DNSName", R53_E_DNSNAME}, {"EvaluateTargetHealth", R53_E_EVAL},
    {"HealthCheckId", R53_E_HC}, {"IsTruncated", R53_E_TRUNC},
    {"NextRecordName", R53_E_NEXT_NAME}, {"NextRecordType", R53_E_NEXT_TYPE},
    {"NextRecordIdentifier", R53_E_NEXT_ID},
    {"ChangeResourceRecordSetsResponse", R53_E_CHANGE_RESP},
    {"GetChangeResponse", R53_E_GET_CHANGE_RESP}, {"ChangeInfo", R53_E_CHANGE_INFO},
    {"Id", R53_E_ID}, {"Status", R53_E_STATUS}, {"SubmittedAt", R53_E_SUBMITTED},
    {"Comment", R53_E_COMMENT}, {"ErrorResponse", R53_E_ERROR_RESP}, {"Error", R53_E_ERROR},
    {"Code", R53_E_CODE}, {"Message", R53_E_MESSAGE}, {"RequestId", R53_E_REQUEST_ID},
    {"InvalidChangeBatch", R53_E_ICB}, {"Messages", R53_E_MESSAGES},
};

typedef struct r53_px r53_px_t;
typedef void (*r53_hook_fn)(r53_px_t *x, r53_el_t el);

/* One parse: the expat parser, the element stack, the current text. */
struct r53_px {
    XML_Parser p;
    r53_el_t stack[R53_DEPTH_MAX];
    int depth;
    char text[R53_TEXT_MAX + 1];
    size_t tlen;
    bool tover;                  /* text longer than R53_TEXT_MAX (kept truncated) */
    bool failed;
    char err[256];
    r53_hook_fn on_start, on_end;
    void *out;
    bool in_set;                 /* list: inside a ResourceRecordSet */
};

static r53_el_t r53_lookup(const char *qname)
{
    const char *local = strrchr(qname, R53_NS_SEP);
    local = local ? local + 1 : qname;
    for (size_t i = 0; i < sizeof(r53_names) / sizeof(r53_names[0]); i++)
        if (strcmp(local, r53_names[i].name) == 0)
            return r53_names[i].el;
    return R53_E_OTHER;
}

/* Stop the parse with a message that names the line. */
static void r53_fail(r53_px_t *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void r53_fail(r53_px_t *x, const char *fmt, ...)
{
    if (x->failed)
        return;
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(x->err, sizeof(x->err), "%s at line %lu", msg,
             (unsigned long)XML_GetCurrentLineNumber(x->p));
    x->failed = true;
    XML_StopParser(x->p, XML_FALSE);
}

/* Kind of the element k levels above the current one (0 = current). */
static r53_el_t r53_up(const r53_px_t *x, int k)
{
    int i = x->depth - 1 - k;
    if (i < 0)
        return R53_E_OTHER;
    return i < R53_DEPTH_MAX ? x->stack[i] : R53_E_OTHER;
}

static void XMLCALL r53_on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    (void)attrs;
    r53_px_t *x = ud;
    if (x->failed)
        return;
    if (x->depth >= R53_DEPTH_MAX) {
        r53_fail(x, "elements nested deeper than %d", R53_DEPTH_MAX);
        return;
    }
    x->stack[x->depth++] = r53_lookup(name);
    x->tlen = 0;
    x->tover = false;
    x->text[0] = '\0';
    if (x->on_start)
        x->on_start(x, x->stack[x->depth - 1]);
}

static void XMLCALL r53_on_end(void *ud, const XML_Char *name)
{
    (void)name;
    r53_px_t *x = ud;
    if (x->failed || x->depth == 0)
        return;
    x->on_end(x, x->stack[x->depth - 1]);
    x->depth--;
    x->tlen = 0;
    x->text[0] = '\0';
}

static void XMLCALL r53_on_text(void *ud, const XML_Char *s, int len)
{
    r53_px_t *x = ud;
    size_t n = (size_t)len, room = R53_TEXT_MAX - x->tlen;
    if (n > room) {
        n = room;
        x->tover = true;
    }
    memcpy(x->text + x->tlen, s, n);
    x->tlen += n;
    x->text[x->tlen] = '\0';
}

/* Entity expansion attacks start with a DOCTYPE: refuse any. */
static void XMLCALL r53_on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                                   const XML_Char *pubid, int has_internal_subset)
{
    (void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
    r53_fail(ud, "DOCTYPE not allowed");
}

static void XMLCALL r53_on_entity(void *ud, const XML_Char *name, int is_param,
                                  const XML_Char *value, int value_length, const XML_Char *base,
                                  const XML_Char *sysid, const XML_Char *pubid,
                                  const XML_Char *notation)
{
    (void)name, (void)is_param, (void)value, (void)value_length, (void)base, (void)sysid;
    (void)pubid, (void)notation;
    r53_fail(ud, "entity declaration not allowed");
}

/* Run expat over xml; 0, or -1 with err ("XML: ..." for malformed input). */
static int r53_run(r53_px_t *x, const char *xml, size_t len, char *err, size_t errlen)
{
    x->p = XML_ParserCreateNS(NULL, R53_NS_SEP);
    if (!x->p) {
        snprintf(err, errlen, "XML: out of memory");
        return -1;
    }
    XML_SetUserData(x->p, x);
    XML_SetElementHandler(x->p, r53_on_start, r53_on_end);
    XML_SetCharacterDataHandler(x->p, r53_on_text);
    XML_SetStartDoctypeDeclHandler(x->p, r53_on_doctype);
    XML_SetEntityDeclHandler(x->p, r53_on_entity);
    size_t off = 0, step = r53_xml_feed_max ? r53_xml_feed_max : len;
    if (step > INT_MAX / 2)
        step = INT_MAX / 2;
    enum XML_Status st = XML_STATUS_OK;
    do {
        size_t n = len - off < step ? len - off : step;
        bool last = off + n == len;
        st = XML_Parse(x->p, xml ? xml + off : "", (int)n, last);
        off += n;
        if (last)
            break;
    } while (st == XML_STATUS_OK);
    int rc = 0;
    if (x->failed) {
        snprintf(err, errlen, "XML: %s", x->err);
        rc = -1;
    } else if (st != XML_STATUS_OK) {
        snprintf(err, errlen, "XML: %s at line %lu", XML_ErrorString(XML_GetErrorCode(x->p)),
                 (unsigned long)XML_GetCurrentLineNumber(x->p));
        rc = -1;
    }
    XML_ParserFree(x->p);
    x->p = NULL;
    return rc;
}

/* Copy at most dstlen-1 bytes without cutting a UTF-8 sequence. */
static void r53_copy_trunc(char *dst, size_t dstlen, const char *src, size_t n)
{
    if (n >= dstlen) {
        n = dstlen - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;   /* src[n] continues a sequence: cut before its lead byte */
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* A field that identifies a record must not be truncated: fail instead. */
static void r53_take(r53_px_t *x, char *dst, size_t dstlen, const char *what)
{
    if (x->tover || x->tlen >= dstlen) {
        r53_fail(x, "%s longer than %zu bytes", what, dstlen - 1);
        return;
    }
    memcpy(dst, x->text, x->tlen + 1);
}

/* The text with XML whitespace trimmed, for numbers and booleans. */
static const char *r53_trimmed(r53_px_t *x)
{
    char *s = x->text, *e = x->text + x->tlen;
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
        *--e = '\0';
    return s;
}

static void r53_take_long(r53_px_t *x, long *dst, long max, const char *what)
{
    const char *s = r53_trimmed(x);
    size_t n = strspn(s, "0123456789");
    if (x->tover || n == 0 || s[n] != '\0' || n > 10) {
        r53_fail(x, "%s is not a number in 0..%ld", what, max);
        return;
    }
    long v = strtol(s, NULL, 10);
    if (v < 0 || v > max) {
        r53_fail(x, "%s is not a number in 0..%ld", what, max);
        return;
    }
    *dst = v;
}

static void r53_take_bool(r53_px_t *x, bool *dst, const char *what)
{
    const char *s = r53_trimmed(x);
    if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0)
        *dst = true;
    else if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0)
        *dst = false;
    else
        r53_fail(x, "%s is not a boolean", what);
}

/* ---- ListResourceRecordSetsResponse ---- */

static void r53_list_start(r53_px_t *x, r53_el_t el)
{
    r53_list_t *l = x->out;
    if (x->depth == 1) {
        if (el != R53_E_LIST_RESP)
            r53_fail(x, "root element is not ListResourceRecordSetsResponse");
        return;
    }
    if (el == R53_E_RRSET && x->depth == 3 && r53_up(x, 1) == R53_E_RRSETS) {
        if (l->n >= R53_MAX_SETS) {
            r53_fail(x, "more than %d ResourceRecordSet elements", R53_MAX_SETS);
            return;
        }
        r53_rrset_t *ns = realloc(l->sets, (l->n + 1) * sizeof(*ns));
        if (!ns) {
            r53_fail(x, "out of memory");
            return;
        }
        l->sets = ns;
        r53_rrset_init(&l->sets[l->n++]);
        x->in_set = true;
    } else if (el == R53_E_ALIAS && x->in_set && x->depth == 4) {
        l->sets[l->n - 1].alias = true;
    }
}

static void r53_add_value(r53_px_t *x, r53_rrset_t *r)
{
    if (r->n_values >= R53_MAX_VALUES) {
        r53_fail(x, "more than %d values in one ResourceRecordSet", R53_MAX_VALUES);
        return;
    }
    if (x->tover) {
        r53_fail(x, "Value longer than %d bytes", R53_TEXT_MAX);
        return;
    }
    if (!(r->values[r->n_values] = strdup(x->text))) {
        r53_fail(x, "out of memory");
        return;
    }
    r->n_values++;
}

/* An element that ends directly inside the current ResourceRecordSet or one
 * of its AliasTarget / ResourceRecords/ResourceRecord children. */
static void r53_set_end(r53_px_t *x, r53_rrset_t *r, r53_el_t el)
{
    r53_el_t parent = r53_up(x, 1);
    if (el == R53_E_RRSET && x->depth == 3) {
        x->in_set = false;
        if (!r->name[0] || !r->type[0])
            r53_fail(x, "ResourceRecordSet without Name or Type");
    } else if (parent == R53_E_RRSET && x->depth == 4) {
        switch (el) {
        case R53_E_NAME: r53_take(x, r->name, sizeof(r->name), "Name"); break;
        case R53_E_TYPE: r53_take(x, r->type, sizeof(r->type), "Type"); break;
        case R53_E_SETID:
            r53_take(x, r->set_identifier, sizeof(r->set_identifier), "SetIdentifier");
            break;
        case R53_E_WEIGHT: r53_take_long(x, &r->weight, 255, "Weight"); break;
        case R53_E_TTL: r53_take_long(x, &r->ttl, 2147483647L, "TTL"); break;
        case R53_E_HC:
            r53_take(x, r->health_check_id, sizeof(r->health_check_id), "HealthCheckId");
            break;
        default: break;
        }
    } else if (parent == R53_E_ALIAS && x->depth == 5) {
        if (el == R53_E_ZONE)
            r53_take(x, r->alias_zone, sizeof(r->alias_zone), "AliasTarget/HostedZoneId");
        else if (el == R53_E_DNSNAME)
            r53_take(x, r->alias_dns, sizeof(r->alias_dns), "AliasTarget/DNSName");
        else if (el == R53_E_EVAL)
            r53_take_bool(x, &r->alias_evaluate, "AliasTarget/EvaluateTargetHealth");
    } else if (el == R53_E_VALUE && parent == R53_E_RECORD && r53_up(x, 2) == R53_E_RECORDS &&
               x->depth == 6) {
        r53_add_value(x, r);
    }
}

static void r53_list_end(r53_px_t *x, r53_el_t el)
{
    r53_list_t *l = x->out;
    if (x->in_set) {
        r53_set_end(x, &l->sets[l->n - 1], el);
        return;
    }
    if (x->depth != 2)
        return;
    switch (el) {
    case R53_E_TRUNC: r53_take_bool(x, &l->truncated, "IsTruncated"); break;
    case R53_E_NEXT_NAME: r53_take(x, l->next_name, sizeof(l->next_name), "NextRecordName"); break;
    case R53_E_NEXT_TYPE: r53_take(x, l->next_type, sizeof(l->next_type), "NextRecordType"); break;
    case R53_E_NEXT_ID:
        r53_take(x, l->next_identifier, sizeof(l->next_identifier), "NextRecordIdentifier");
        break;
    default: break;
    }
}

int r53_parse_list(const char *xml, size_t len, r53_list_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    r53_px_t *x = calloc(1, sizeof(*x));
    if (!x) {
        snprintf(err, errlen, "XML: out of memory");
        return -1;
    }
    x->on_start = r53_list_start;
    x->on_end = r53_list_end;
    x->out = out;
    int rc = r53_run(x, xml, len, err, errlen);
    free(x);
    if (rc == -1)
        r53_list_free(out);
    return rc;
}

void r53_list_free(r53_list_t *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        r53_rrset_clear(&l->sets[i]);
    free(l->sets);
    memset(l, 0, sizeof(*l));
}

/* ---- ChangeInfo ---- */

static void r53_change_start(r53_px_t *x, r53_el_t el)
{
    if (x->depth == 1 && el != R53_E_CHANGE_RESP && el != R53_E_GET_CHANGE_RESP)
        r53_fail(x, "root element is neither ChangeResourceRecordSetsResponse "
                    "nor GetChangeResponse");
}

static void r53_change_end(r53_px_t *x, r53_el_t el)
{
    r53_change_t *c = x->out;
    if (x->depth != 3 || r53_up(x, 1) != R53_E_CHANGE_INFO)
        return;
    switch (el) {
    case R53_E_ID: r53_copy_trunc(c->id, sizeof(c->id), x->text, x->tlen); break;
    case R53_E_STATUS: r53_copy_trunc(c->status, sizeof(c->status), x->text, x->tlen); break;
    case R53_E_SUBMITTED:
        r53_copy_trunc(c->submitted_at, sizeof(c->submitted_at), x->text, x->tlen);
        break;
    case R53_E_COMMENT: r53_copy_trunc(c->comment, sizeof(c->comment), x->text, x->tlen); break;
    default: break;
    }
}

int r53_parse_change(const char *xml, size_t len, r53_change_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    r53_px_t *x = calloc(1, sizeof(*x));
    if (!x) {
        snprintf(err, errlen, "XML: out of memory");
        return -1;
    }
    x->on_start = r53_change_start;
    x->on_end = r53_change_end;
    x->out = out;
    int rc = r53_run(x, xml, len, err, errlen);
    free(x);
    if (rc == 0 && (!out->id[0] || !out->status[0])) {
        snprintf(err, errlen, "XML: no ChangeInfo with Id and Status");
        rc = -1;
    }
    if (rc == -1)
        memset(out, 0, sizeof(*out));
    return rc;
}

/* ---- error bodies ---- */

static void r53_error_start(r53_px_t *x, r53_el_t el)
{
    r53_error_t *e = x->out;
    if (x->depth != 1)
        return;
    if (el == R53_E_ICB)
        snprintf(e->code, sizeof(e->code), "InvalidChangeBatch");
    else if (el != R53_E_ERROR_RESP)
        r53_fail(x, "root element is neither ErrorResponse nor InvalidChangeBatch");
}

/* Append one InvalidChangeBatch message, "; " between messages. */
static void r53_error_join(r53_error_t *e, const char *text, size_t len)
{
    size_t used = strlen(e->message);
    if (used && used + 2 < sizeof(e->message)) {
        memcpy(e->message + used, "; ", 3);
        used += 2;
    }
    if (used + 1 < sizeof(e->message))
        r53_copy_trunc(e->message + used, sizeof(e->message) - used, text, len);
}

static void r53_error_end(r53_px_t *x, r53_el_t el)
{
    r53_error_t *e = x->out;
    r53_el_t parent = r53_up(x, 1);
    if (x->depth == 2 && el == R53_E_REQUEST_ID) {
        r53_copy_trunc(e->request_id, sizeof(e->request_id), x->text, x->tlen);
    } else if (x->depth == 3 && parent == R53_E_ERROR && r53_up(x, 2) == R53_E_ERROR_RESP) {
        if (el == R53_E_TYPE)
            r53_copy_trunc(e->type, sizeof(e->type), x->text, x->tlen);
        else if (el == R53_E_CODE)
            r53_copy_trunc(e->code, sizeof(e->code), x->text, x->tlen);
        else if (el == R53_E_MESSAGE)
            r53_copy_trunc(e->message, sizeof(e->message), x->text, x->tlen);
    } else if (x->depth == 3 && el == R53_E_MESSAGE && parent == R53_E_MESSAGES &&
               r53_up(x, 2) == R53_E_ICB) {
        r53_error_join(e, x->text, x->tlen);
    }
}

int r53_parse_error(const char *xml, size_t len, r53_error_t *out)
{
    memset(out, 0, sizeof(*out));
    r53_px_t *x = calloc(1, sizeof(*x));
    if (!x) {
        snprintf(out->message, sizeof(out->message), "XML: out of memory");
        return -1;
    }
    x->on_start = r53_error_start;
    x->on_end = r53_error_end;
    x->out = out;
    char err[256];
    int rc = r53_run(x, xml, len, err, sizeof(err));
    free(x);
    if (rc == 0 && !out->code[0]) {
        snprintf(err, sizeof(err), "XML: error body without Code");
        rc = -1;
    }
    if (rc == -1) {
        memset(out, 0, sizeof(*out));
        snprintf(out->message, sizeof(out->message), "%s", err);
    }
    return rc;
}
