/* r53_xml — Route 53's REST-XML wire format, parsed with expat (never by
 * string search) and built with proper escaping.
 * API reference: ListResourceRecordSets, ChangeResourceRecordSets, GetChange
 * (Route 53 API version 2013-04-01, namespace
 * https://route53.amazonaws.com/doc/2013-04-01/). */
#ifndef REGIOND_R53_XML_H
#define REGIOND_R53_XML_H

#include <stdbool.h>
#include <stddef.h>

#define R53_MAX_VALUES 16

/* One resource record set as Route 53 returns it.  Owned by its r53_list_t. */
typedef struct {
    char name[256];              /* as returned, with trailing dot, e.g. "api.example.com." */
    char type[8];                /* "A", "AAAA", "CNAME", ... */
    char set_identifier[129];    /* "" when not a routing-policy record */
    long weight;                 /* -1 when absent */
    long ttl;                    /* -1 when absent (alias records) */
    char *values[R53_MAX_VALUES];/* ResourceRecords/ResourceRecord/Value, malloc'd */
    size_t n_values;
    bool alias;
    char alias_zone[64];         /* AliasTarget/HostedZoneId */
    char alias_dns[256];         /* AliasTarget/DNSName */
    bool alias_evaluate;         /* AliasTarget/EvaluateTargetHealth */
    char health_check_id[64];    /* "" when none */
} r53_rrset_t;

typedef struct {
    r53_rrset_t *sets;
    size_t n;
    bool truncated;              /* IsTruncated */
    char next_name[256];         /* NextRecordName */
    char next_type[8];           /* NextRecordType */
    char next_identifier[129];   /* NextRecordIdentifier */
} r53_list_t;

/* Parse a ListResourceRecordSetsResponse.  0, or -1 with err (out is then
 * empty): malformed XML ("XML: <expat's reason> at line N"), a DOCTYPE or
 * entity declaration, another root element, Weight outside 0..255, TTL
 * outside 0..2147483647, more than R53_MAX_VALUES values, a record without
 * Name or Type, or a Name/Type/SetIdentifier/alias/health-check field or
 * Value too long for its field (record fields are never truncated).
 * Unknown elements (Region, Failover, GeoLocation, ...) are skipped. */
int r53_parse_list(const char *xml, size_t len, r53_list_t *out, char *err, size_t errlen);
void r53_list_free(r53_list_t *l);

/* For unit tests: when non-zero, the parsers hand expat the body in pieces
 * of at most this many bytes (exercises split character data).  0 = whole. */
extern size_t r53_xml_feed_max;

/* ChangeInfo of a ChangeResourceRecordSetsResponse or GetChangeResponse. */
typedef struct {
    char id[128];                /* "/change/C2682N5HXP0BZ4" as returned */
    char status[16];             /* "PENDING" or "INSYNC" */
    char submitted_at[40];       /* ISO 8601 as returned */
    char comment[256];
} r53_change_t;

/* 0, or -1 with err when the XML is malformed, the root is another element,
 * or ChangeInfo/Id or Status is missing.  Text longer than a field is
 * truncated (at a UTF-8 character boundary). */
int r53_parse_change(const char *xml, size_t len, r53_change_t *out, char *err, size_t errlen);

/* An error answer: <ErrorResponse><Error><Type/><Code/><Message/></Error>
 * <RequestId/></ErrorResponse>, or <InvalidChangeBatch><Messages><Message/>...
 * </Messages></InvalidChangeBatch> (code set to "InvalidChangeBatch", the
 * messages joined with "; "). */
typedef struct {
    char type[16];
    char code[64];
    char message[1024];
    char request_id[64];
} r53_error_t;

/* 0, or -1 when the body is not one of those two (malformed, another root,
 * no Code): out->code is then "" and out->message says why.  Text longer
 * than a field is truncated at a UTF-8 character boundary; type stays ""
 * for InvalidChangeBatch. */
int r53_parse_error(const char *xml, size_t len, r53_error_t *out);

/* One change of a batch. */
typedef struct {
    const char *action;          /* "CREATE", "DELETE", "UPSERT" */
    const r53_rrset_t *rrset;
} r53_change_item_t;

/* Build a ChangeResourceRecordSetsRequest body (malloc'd, NUL-terminated),
 * every text escaped; NULL on OOM.  Fields absent in the rrset (weight -1,
 * ttl -1, empty set_identifier, no values) are left out.
 * Members follow the botocore model's order (Name, Type, SetIdentifier,
 * Weight, TTL, ResourceRecords, AliasTarget when alias, HealthCheckId when
 * not ""); Comment is left out when NULL or "".  No XML declaration, as
 * botocore sends it.  Also NULL when a text holds a control character XML
 * 1.0 cannot carry (other than tab, LF, CR). */
char *r53_build_change_batch(const char *comment, const r53_change_item_t *items, size_t n);

/* Deep-copy an rrset (values duplicated).  dst is overwritten, not freed
 * first (clear it before reusing a filled one).  0, or -1 (OOM; dst is then
 * cleared). */
int r53_rrset_copy(r53_rrset_t *dst, const r53_rrset_t *src);

/* Reset an rrset to empty (weight and ttl -1) without freeing anything:
 * for fresh memory.  r53_rrset_clear frees the values first. */
void r53_rrset_init(r53_rrset_t *r);

/* Free the values and reset to an empty rrset (weight and ttl -1). */
void r53_rrset_clear(r53_rrset_t *r);

/* True when two rrsets are the same record (every field compared): names
 * (and alias DNS names) case-insensitively, \DDD escapes decoded, a trailing
 * dot ignored; type case-insensitively; values as a multiset (Route 53 keeps
 * no order), each byte for byte; the alias fields only when alias is set. */
bool r53_rrset_equal(const r53_rrset_t *a, const r53_rrset_t *b);

/* True when two DNS names are the same name the way Route 53 compares them:
 * case-insensitively, \DDD and \X escapes decoded (Route 53 lists "*" as
 * "\052": Developer Guide, "DNS domain name format"), a trailing dot
 * ignored. */
bool r53_name_equal(const char *a, const char *b);

#endif
