/* test_r53_xml — Route 53 responses in the API reference's shape, split
 * character data, malformed and hostile XML, and the exact request body. */
#include <stdlib.h>
#include <string.h>

#include "tests/check.h"
#include "aws/r53_xml.h"

#define LEN(s) strlen(s)

/* ListResourceRecordSets: two weighted CNAMEs (one with a health check and
 * an unknown Region element), an alias record, a GeoLocation record, and the
 * pagination fields of a truncated page. */
static const char *const list_xml =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListResourceRecordSetsResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\">\n"
    "   <ResourceRecordSets>\n"
    "      <ResourceRecordSet>\n"
    "         <Name>api.example.com.</Name>\n"
    "         <Type>CNAME</Type>\n"
    "         <SetIdentifier>eu-west-1</SetIdentifier>\n"
    "         <Weight>100</Weight>\n"
    "         <TTL>60</TTL>\n"
    "         <ResourceRecords>\n"
    "            <ResourceRecord>\n"
    "               <Value>eu.api.example.net</Value>\n"
    "            </ResourceRecord>\n"
    "         </ResourceRecords>\n"
    "         <HealthCheckId>f2a4c5d6-1111-2222-3333-444455556666</HealthCheckId>\n"
    "      </ResourceRecordSet>\n"
    "      <ResourceRecordSet>\n"
    "         <Name>api.example.com.</Name>\n"
    "         <Type>CNAME</Type>\n"
    "         <SetIdentifier>us-east-1</SetIdentifier>\n"
    "         <Weight>0</Weight>\n"
    "         <Region>us-east-1</Region>\n"
    "         <TTL>60</TTL>\n"
    "         <ResourceRecords>\n"
    "            <ResourceRecord>\n"
    "               <Value>us.api.example.net</Value>\n"
    "            </ResourceRecord>\n"
    "         </ResourceRecords>\n"
    "      </ResourceRecordSet>\n"
    "      <ResourceRecordSet>\n"
    "         <Name>example.com.</Name>\n"
    "         <Type>A</Type>\n"
    "         <AliasTarget>\n"
    "            <HostedZoneId>Z35SXDOTRQ7X7K</HostedZoneId>\n"
    "            <DNSName>dualstack.my-elb-1234.us-east-1.elb.amazonaws.com.</DNSName>\n"
    "            <EvaluateTargetHealth>true</EvaluateTargetHealth>\n"
    "         </AliasTarget>\n"
    "      </ResourceRecordSet>\n"
    "      <ResourceRecordSet>\n"
    "         <Name>geo.example.com.</Name>\n"
    "         <Type>A</Type>\n"
    "         <SetIdentifier>europe</SetIdentifier>\n"
    "         <GeoLocation><ContinentCode>EU</ContinentCode><Name>ignored</Name></GeoLocation>\n"
    "         <TTL>300</TTL>\n"
    "         <ResourceRecords>\n"
    "            <ResourceRecord><Value>192.0.2.1</Value></ResourceRecord>\n"
    "            <ResourceRecord><Value>192.0.2.2</Value></ResourceRecord>\n"
    "         </ResourceRecords>\n"
    "      </ResourceRecordSet>\n"
    "   </ResourceRecordSets>\n"
    "   <IsTruncated>true</IsTruncated>\n"
    "   <MaxItems>4</MaxItems>\n"
    "   <NextRecordName>www.example.com.</NextRecordName>\n"
    "   <NextRecordType>CNAME</NextRecordType>\n"
    "   <NextRecordIdentifier>eu-west-1</NextRecordIdentifier>\n"
    "</ListResourceRecordSetsResponse>\n";

static void check_list(const r53_list_t *l)
{
    CHECK_EQ_INT(l->n, 4);
    if (l->n != 4)
        return;
    const r53_rrset_t *a = &l->sets[0], *b = &l->sets[1], *c = &l->sets[2], *d = &l->sets[3];
    CHECK(strcmp(a->name, "api.example.com.") == 0);
    CHECK(strcmp(a->type, "CNAME") == 0);
    CHECK(strcmp(a->set_identifier, "eu-west-1") == 0);
    CHECK_EQ_INT(a->weight, 100);
    CHECK_EQ_INT(a->ttl, 60);
    CHECK_EQ_INT(a->n_values, 1);
    CHECK(a->n_values == 1 && strcmp(a->values[0], "eu.api.example.net") == 0);
    CHECK(!a->alias);
    CHECK(strcmp(a->health_check_id, "f2a4c5d6-1111-2222-3333-444455556666") == 0);
    CHECK(strcmp(b->set_identifier, "us-east-1") == 0);
    CHECK_EQ_INT(b->weight, 0);
    CHECK(b->n_values == 1 && strcmp(b->values[0], "us.api.example.net") == 0);
    CHECK(b->health_check_id[0] == '\0');
    CHECK(strcmp(c->name, "example.com.") == 0);
    CHECK(c->alias && c->alias_evaluate);
    CHECK(strcmp(c->alias_zone, "Z35SXDOTRQ7X7K") == 0);
    CHECK(strcmp(c->alias_dns, "dualstack.my-elb-1234.us-east-1.elb.amazonaws.com.") == 0);
    CHECK_EQ_INT(c->ttl, -1);
    CHECK_EQ_INT(c->weight, -1);
    CHECK_EQ_INT(c->n_values, 0);
    CHECK(strcmp(d->name, "geo.example.com.") == 0);   /* GeoLocation/Name did not leak */
    CHECK_EQ_INT(d->n_values, 2);
    CHECK(l->truncated);
    CHECK(strcmp(l->next_name, "www.example.com.") == 0);
    CHECK(strcmp(l->next_type, "CNAME") == 0);
    CHECK(strcmp(l->next_identifier, "eu-west-1") == 0);
}

static void test_list(void)
{
    r53_list_t l;
    char err[256] = "";
    CHECK_EQ_INT(r53_parse_list(list_xml, LEN(list_xml), &l, err, sizeof(err)), 0);
    check_list(&l);
    r53_list_free(&l);
    CHECK(l.sets == NULL && l.n == 0);

    /* The same body fed to expat 1, 3 and 7 bytes at a time. */
    static const size_t pieces[] = {1, 3, 7};
    for (size_t i = 0; i < 3; i++) {
        r53_xml_feed_max = pieces[i];
        CHECK_EQ_INT(r53_parse_list(list_xml, LEN(list_xml), &l, err, sizeof(err)), 0);
        check_list(&l);
        r53_list_free(&l);
    }
    r53_xml_feed_max = 0;

    /* Last page, no namespace, entities and a character reference in values. */
    const char *last =
        "<ListResourceRecordSetsResponse><ResourceRecordSets><ResourceRecordSet>"
        "<Name>\\052.example.com.</Name><Type>TXT</Type><TTL>300</TTL><ResourceRecords>"
        "<ResourceRecord><Value>\"a&amp;b &lt;c&gt; &#x263A; &quot;q&quot;\"</Value>"
        "</ResourceRecord>"
        "</ResourceRecords></ResourceRecordSet></ResourceRecordSets>"
        "<IsTruncated>false</IsTruncated><MaxItems>100</MaxItems>"
        "</ListResourceRecordSetsResponse>";
    for (size_t step = 0; step <= 2; step++) {
        r53_xml_feed_max = step;
        CHECK_EQ_INT(r53_parse_list(last, LEN(last), &l, err, sizeof(err)), 0);
        CHECK(l.n == 1 && l.sets[0].n_values == 1 &&
              strcmp(l.sets[0].values[0], "\"a&b <c> \xe2\x98\xba \"q\"\"") == 0);
        CHECK(!l.truncated && l.next_name[0] == '\0');
        r53_list_free(&l);
    }
    r53_xml_feed_max = 0;

    /* An empty zone page. */
    const char *empty = "<ListResourceRecordSetsResponse><ResourceRecordSets/>"
                        "<IsTruncated>false</IsTruncated></ListResourceRecordSetsResponse>";
    CHECK_EQ_INT(r53_parse_list(empty, LEN(empty), &l, err, sizeof(err)), 0);
    CHECK(l.n == 0 && l.sets == NULL);
    r53_list_free(&l);
}

/* Parse `xml` as a list and expect failure with `want` in the error. */
static void list_fails(const char *xml, const char *want)
{
    r53_list_t l;
    char err[256] = "";
    CHECK_EQ_INT(r53_parse_list(xml, LEN(xml), &l, err, sizeof(err)), -1);
    CHECK_CONTAINS(err, want);
    CHECK(l.n == 0 && l.sets == NULL);
}

#define RR_OPEN "<ListResourceRecordSetsResponse><ResourceRecordSets><ResourceRecordSet>" \
                "<Name>a.example.com.</Name><Type>A</Type>"
#define RR_CLOSE "</ResourceRecordSet></ResourceRecordSets></ListResourceRecordSetsResponse>"

static void test_list_errors(void)
{
    list_fails("<ListResourceRecordSetsResponse><ResourceRecordSets>", "XML: ");
    list_fails("<ListResourceRecordSetsResponse>\n<ResourceRecordSets>\n</Oops>",
               "mismatched tag at line 3");
    list_fails("", "XML: no element found");
    list_fails("<ErrorResponse/>", "root element is not ListResourceRecordSetsResponse");
    list_fails(RR_OPEN "<Weight>256</Weight>" RR_CLOSE, "Weight is not a number in 0..255");
    list_fails(RR_OPEN "<Weight>-1</Weight>" RR_CLOSE, "Weight");
    list_fails(RR_OPEN "<Weight>10x</Weight>" RR_CLOSE, "Weight");
    list_fails(RR_OPEN "<TTL>2147483648</TTL>" RR_CLOSE, "TTL is not a number");
    list_fails(RR_OPEN "<TTL></TTL>" RR_CLOSE, "TTL");
    list_fails(RR_OPEN "<AliasTarget><EvaluateTargetHealth>yes</EvaluateTargetHealth>"
               "</AliasTarget>" RR_CLOSE, "EvaluateTargetHealth is not a boolean");
    list_fails("<ListResourceRecordSetsResponse><ResourceRecordSets><ResourceRecordSet>"
               "<Type>A</Type>" RR_CLOSE, "without Name or Type");
    list_fails(RR_OPEN "<SetIdentifier>" "0123456789012345678901234567890123456789"
               "0123456789012345678901234567890123456789012345678901234567890123456789"
               "0123456789012345678901234567890123456789</SetIdentifier>" RR_CLOSE,
               "SetIdentifier longer than 128 bytes");

    /* TTL at its ceiling is fine. */
    r53_list_t l;
    char err[256];
    const char *ok = RR_OPEN "<TTL> 2147483647 </TTL>" RR_CLOSE;
    CHECK_EQ_INT(r53_parse_list(ok, LEN(ok), &l, err, sizeof(err)), 0);
    CHECK(l.n == 1 && l.sets[0].ttl == 2147483647L);
    r53_list_free(&l);

    /* One value more than R53_MAX_VALUES. */
    char big[8192];
    size_t off = (size_t)snprintf(big, sizeof(big), "%s<ResourceRecords>", RR_OPEN);
    for (int i = 0; i <= R53_MAX_VALUES; i++)
        off += (size_t)snprintf(big + off, sizeof(big) - off,
                                "<ResourceRecord><Value>192.0.2.%d</Value></ResourceRecord>", i);
    snprintf(big + off, sizeof(big) - off, "</ResourceRecords>%s", RR_CLOSE);
    list_fails(big, "more than 16 values");

    /* DOCTYPE and entity declarations are refused (billion laughs). */
    list_fails("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n"
               " <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n]>\n"
               "<ListResourceRecordSetsResponse><ResourceRecordSets/>"
               "<IsTruncated>&lol2;</IsTruncated></ListResourceRecordSetsResponse>",
               "DOCTYPE not allowed at line 2");
    list_fails("<!DOCTYPE x SYSTEM \"file:///etc/passwd\"><ListResourceRecordSetsResponse/>",
               "DOCTYPE not allowed");
    list_fails("<ListResourceRecordSetsResponse>&undefined;</ListResourceRecordSetsResponse>",
               "undefined entity");

    /* Deep nesting is refused, not tracked forever. */
    char deep[4096];
    off = (size_t)snprintf(deep, sizeof(deep), "<ListResourceRecordSetsResponse>");
    for (int i = 0; i < 40; i++)
        off += (size_t)snprintf(deep + off, sizeof(deep) - off, "<a>");
    list_fails(deep, "nested deeper");
}

static void test_change(void)
{
    const char *pending =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<ChangeResourceRecordSetsResponse "
        "xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\">\n"
        "   <ChangeInfo>\n"
        "      <Comment>regiond: eu-west-1 down &amp; drained</Comment>\n"
        "      <Id>/change/C2682N5HXP0BZ4</Id>\n"
        "      <Status>PENDING</Status>\n"
        "      <SubmittedAt>2017-03-10T01:36:41.958Z</SubmittedAt>\n"
        "   </ChangeInfo>\n"
        "</ChangeResourceRecordSetsResponse>\n";
    r53_change_t c;
    char err[256] = "";
    CHECK_EQ_INT(r53_parse_change(pending, LEN(pending), &c, err, sizeof(err)), 0);
    CHECK(strcmp(c.id, "/change/C2682N5HXP0BZ4") == 0);
    CHECK(strcmp(c.status, "PENDING") == 0);
    CHECK(strcmp(c.submitted_at, "2017-03-10T01:36:41.958Z") == 0);
    CHECK(strcmp(c.comment, "regiond: eu-west-1 down & drained") == 0);

    const char *insync =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<GetChangeResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\">\n"
        "   <ChangeInfo>\n"
        "      <Id>/change/C2682N5HXP0BZ4</Id>\n"
        "      <Status>INSYNC</Status>\n"
        "      <SubmittedAt>2017-03-10T01:36:41.958Z</SubmittedAt>\n"
        "   </ChangeInfo>\n"
        "</GetChangeResponse>\n";
    r53_xml_feed_max = 5;
    CHECK_EQ_INT(r53_parse_change(insync, LEN(insync), &c, err, sizeof(err)), 0);
    r53_xml_feed_max = 0;
    CHECK(strcmp(c.status, "INSYNC") == 0 && c.comment[0] == '\0');

    /* A long comment is truncated, never cut inside a UTF-8 character. */
    char longc[1024];
    size_t off = (size_t)snprintf(longc, sizeof(longc), "<GetChangeResponse><ChangeInfo>"
                                  "<Id>/change/X</Id><Status>PENDING</Status><Comment>");
    for (int i = 0; i < 200; i++)
        off += (size_t)snprintf(longc + off, sizeof(longc) - off, "\xc3\xa9");   /* é */
    snprintf(longc + off, sizeof(longc) - off, "</Comment></ChangeInfo></GetChangeResponse>");
    CHECK_EQ_INT(r53_parse_change(longc, LEN(longc), &c, err, sizeof(err)), 0);
    CHECK_EQ_INT(strlen(c.comment), 254);

    const char *noid = "<GetChangeResponse><ChangeInfo><Status>INSYNC</Status>"
                       "</ChangeInfo></GetChangeResponse>";
    CHECK_EQ_INT(r53_parse_change(noid, LEN(noid), &c, err, sizeof(err)), -1);
    CHECK_CONTAINS(err, "Id and Status");
    CHECK_EQ_INT(r53_parse_change(list_xml, LEN(list_xml), &c, err, sizeof(err)), -1);
    CHECK_CONTAINS(err, "root element");
}

static void test_errors(void)
{
    const char *throttle =
        "<?xml version=\"1.0\"?>\n"
        "<ErrorResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\">\n"
        "  <Error>\n"
        "    <Type>Sender</Type>\n"
        "    <Code>Throttling</Code>\n"
        "    <Message>Rate exceeded</Message>\n"
        "  </Error>\n"
        "  <RequestId>5e7b5b9e-0a34-4cc3-9a49-8b1c4b9f3b0e</RequestId>\n"
        "</ErrorResponse>\n";
    r53_error_t e;
    CHECK_EQ_INT(r53_parse_error(throttle, LEN(throttle), &e), 0);
    CHECK(strcmp(e.type, "Sender") == 0);
    CHECK(strcmp(e.code, "Throttling") == 0);
    CHECK(strcmp(e.message, "Rate exceeded") == 0);
    CHECK(strcmp(e.request_id, "5e7b5b9e-0a34-4cc3-9a49-8b1c4b9f3b0e") == 0);

    const char *icb =
        "<?xml version=\"1.0\"?>\n"
        "<InvalidChangeBatch xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\">\n"
        "  <Messages>\n"
        "    <Message>Tried to create resource record set [name='api.example.com.', "
        "type='CNAME', set-identifier='eu-west-1'] but it already exists</Message>\n"
        "    <Message>Tried to delete resource record set [name='www.example.com.', "
        "type='A'] but the values provided do not match the current values</Message>\n"
        "  </Messages>\n"
        "  <RequestId>b25f48e8-84fd-11e6-80d9-574e0c4664cb</RequestId>\n"
        "</InvalidChangeBatch>\n";
    r53_xml_feed_max = 11;
    CHECK_EQ_INT(r53_parse_error(icb, LEN(icb), &e), 0);
    r53_xml_feed_max = 0;
    CHECK(strcmp(e.code, "InvalidChangeBatch") == 0);
    CHECK(e.type[0] == '\0');
    CHECK(strcmp(e.message,
                 "Tried to create resource record set [name='api.example.com.', type='CNAME', "
                 "set-identifier='eu-west-1'] but it already exists; Tried to delete resource "
                 "record set [name='www.example.com.', type='A'] but the values provided do not "
                 "match the current values") == 0);
    CHECK(strcmp(e.request_id, "b25f48e8-84fd-11e6-80d9-574e0c4664cb") == 0);

    /* Many long messages: joined and truncated within the field. */
    char many[16384];
    size_t off = (size_t)snprintf(many, sizeof(many), "<InvalidChangeBatch><Messages>");
    for (int i = 0; i < 20; i++)
        off += (size_t)snprintf(many + off, sizeof(many) - off, "<Message>%0100d</Message>", i);
    snprintf(many + off, sizeof(many) - off, "</Messages></InvalidChangeBatch>");
    CHECK_EQ_INT(r53_parse_error(many, LEN(many), &e), 0);
    CHECK_EQ_INT(strlen(e.message), sizeof(e.message) - 1);

    const char *bad = "<ErrorResponse><Error><Code>X</Error></ErrorResponse>";
    CHECK_EQ_INT(r53_parse_error(bad, LEN(bad), &e), -1);
    CHECK(e.code[0] == '\0');
    CHECK_CONTAINS(e.message, "mismatched tag");
    CHECK_EQ_INT(r53_parse_error("<Foo/>", 6, &e), -1);
    CHECK_CONTAINS(e.message, "root element");
}

/* The batch of the expected body below: the same request made with botocore
 * 1.29 (client.change_resource_record_sets) serialises to exactly this. */
static const char *const want_batch =
    "<ChangeResourceRecordSetsRequest xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\">"
    "<ChangeBatch><Comment>regiond: eu-west-1 -&gt; us-east-1 &amp; &lt;back&gt;</Comment>"
    "<Changes><Change><Action>UPSERT</Action><ResourceRecordSet><Name>api.example.com.</Name>"
    "<Type>CNAME</Type><SetIdentifier>eu-west-1</SetIdentifier><Weight>0</Weight><TTL>60</TTL>"
    "<ResourceRecords><ResourceRecord><Value>eu.api.example.net</Value></ResourceRecord>"
    "</ResourceRecords><HealthCheckId>f2a4c5d6-1111-2222-3333-444455556666</HealthCheckId>"
    "</ResourceRecordSet></Change><Change><Action>DELETE</Action><ResourceRecordSet>"
    "<Name>www.example.com.</Name><Type>A</Type><SetIdentifier>us-east-1</SetIdentifier>"
    "<Weight>255</Weight><TTL>300</TTL><ResourceRecords><ResourceRecord><Value>192.0.2.1</Value>"
    "</ResourceRecord><ResourceRecord><Value>192.0.2.2</Value></ResourceRecord>"
    "</ResourceRecords></ResourceRecordSet></Change><Change><Action>CREATE</Action>"
    "<ResourceRecordSet><Name>example.com.</Name><Type>A</Type><AliasTarget>"
    "<HostedZoneId>Z35SXDOTRQ7X7K</HostedZoneId>"
    "<DNSName>dualstack.my-elb-1234.us-east-1.elb.amazonaws.com.</DNSName>"
    "<EvaluateTargetHealth>false</EvaluateTargetHealth></AliasTarget></ResourceRecordSet>"
    "</Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>";

static void rr(r53_rrset_t *r, const char *name, const char *type, const char *setid, long w,
               long ttl)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->name, sizeof(r->name), "%s", name);
    snprintf(r->type, sizeof(r->type), "%s", type);
    snprintf(r->set_identifier, sizeof(r->set_identifier), "%s", setid);
    r->weight = w;
    r->ttl = ttl;
}

static void test_build(void)
{
    r53_rrset_t a, b, c;
    rr(&a, "api.example.com.", "CNAME", "eu-west-1", 0, 60);
    a.values[a.n_values++] = strdup("eu.api.example.net");
    snprintf(a.health_check_id, sizeof(a.health_check_id), "f2a4c5d6-1111-2222-3333-444455556666");
    rr(&b, "www.example.com.", "A", "us-east-1", 255, 300);
    b.values[b.n_values++] = strdup("192.0.2.1");
    b.values[b.n_values++] = strdup("192.0.2.2");
    rr(&c, "example.com.", "A", "", -1, -1);
    c.alias = true;
    snprintf(c.alias_zone, sizeof(c.alias_zone), "Z35SXDOTRQ7X7K");
    snprintf(c.alias_dns, sizeof(c.alias_dns), "%s",
             "dualstack.my-elb-1234.us-east-1.elb.amazonaws.com.");
    r53_change_item_t items[] = {{"UPSERT", &a}, {"DELETE", &b}, {"CREATE", &c}};
    char *x = r53_build_change_batch("regiond: eu-west-1 -> us-east-1 & <back>", items, 3);
    CHECK(x && strcmp(x, want_batch) == 0);
    if (x && strcmp(x, want_batch) != 0)
        fprintf(stderr, "got:  %s\nwant: %s\n", x, want_batch);
    free(x);

    /* Quotes, apostrophes and CR are escaped; no Comment when NULL. */
    r53_rrset_t t;
    rr(&t, "t.example.com.", "TXT", "", -1, 300);
    t.values[t.n_values++] = strdup("\"it's\"\r\n");
    r53_change_item_t one[] = {{"UPSERT", &t}};
    x = r53_build_change_batch(NULL, one, 1);
    CHECK_CONTAINS(x, "<ChangeBatch><Changes><Change>");
    CHECK_CONTAINS(x, "<TTL>300</TTL><ResourceRecords><ResourceRecord>"
                      "<Value>&quot;it&apos;s&quot;&#13;\n</Value>");
    CHECK(x && !strstr(x, "<Weight>") && !strstr(x, "<SetIdentifier>") && !strstr(x, "Alias"));

    free(x);
    x = r53_build_change_batch("bell\a", one, 1);
    CHECK(x == NULL);   /* a control character cannot be carried by XML 1.0 */
    r53_rrset_clear(&t);

    /* copy / equal / clear */
    r53_rrset_t d;
    CHECK_EQ_INT(r53_rrset_copy(&d, &b), 0);
    CHECK(d.values[0] != b.values[0] && r53_rrset_equal(&d, &b));
    free(d.values[0]);
    d.values[0] = strdup("192.0.2.2");
    free(d.values[1]);
    d.values[1] = strdup("192.0.2.1");
    CHECK(r53_rrset_equal(&d, &b));                /* values are a set */
    snprintf(d.name, sizeof(d.name), "WWW.Example.COM");
    CHECK(r53_rrset_equal(&d, &b));                /* case, trailing dot */
    d.ttl = 301;
    CHECK(!r53_rrset_equal(&d, &b));
    d.ttl = 300;
    free(d.values[1]);
    d.values[1] = strdup("192.0.2.3");
    CHECK(!r53_rrset_equal(&d, &b));
    r53_rrset_clear(&d);
    CHECK(d.n_values == 0 && d.weight == -1 && d.ttl == -1 && d.name[0] == '\0');

    r53_rrset_t e, f;
    rr(&e, "\\052.example.com.", "A", "x", 1, 60);
    rr(&f, "*.EXAMPLE.com", "A", "x", 1, 60);
    CHECK(r53_rrset_equal(&e, &f));                /* \052 is '*' */
    snprintf(f.set_identifier, sizeof(f.set_identifier), "X");
    CHECK(!r53_rrset_equal(&e, &f));               /* set identifiers are case-sensitive */
    rr(&e, "a\\.b.example.com.", "A", "", -1, 60);
    rr(&f, "a.b.example.com.", "A", "", -1, 60);
    CHECK(!r53_rrset_equal(&e, &f));               /* an escaped dot is not a separator */
    r53_rrset_t g;
    CHECK_EQ_INT(r53_rrset_copy(&g, &c), 0);
    snprintf(g.alias_dns, sizeof(g.alias_dns), "DUALSTACK.my-elb-1234.us-east-1.elb.amazonaws.com");
    CHECK(r53_rrset_equal(&g, &c));
    g.alias_evaluate = true;
    CHECK(!r53_rrset_equal(&g, &c));
    g.alias_evaluate = false;
    snprintf(g.health_check_id, sizeof(g.health_check_id), "hc");
    CHECK(!r53_rrset_equal(&g, &c));
    r53_rrset_clear(&g);
    r53_rrset_clear(&a);
    r53_rrset_clear(&b);
    r53_rrset_clear(&c);
}

/* Build, parse the body back with expat, compare the rrsets. */
static void test_round_trip(void)
{
    r53_rrset_t a;
    rr(&a, "odd&name<>.example.com.", "TXT", "id \"1\" 'q'", 7, 30);
    a.values[a.n_values++] = strdup("\"v=spf1 include:a&b -all\"");
    a.values[a.n_values++] = strdup("\"<tag> \xe2\x98\xba\"");
    r53_change_item_t items[] = {{"UPSERT", &a}};
    char *x = r53_build_change_batch("c", items, 1);
    CHECK(x != NULL);
    if (!x)
        return;
    /* Re-wrap the ResourceRecordSet as a list response and parse it. */
    const char *s = strstr(x, "<ResourceRecordSet>"), *e = strstr(x, "</ResourceRecordSet>");
    CHECK(s && e);
    char body[4096];
    snprintf(body, sizeof(body), "<ListResourceRecordSetsResponse><ResourceRecordSets>%.*s"
             "</ResourceRecordSet></ResourceRecordSets></ListResourceRecordSetsResponse>",
             (int)(e - s), s);
    r53_list_t l;
    char err[256] = "";
    CHECK_EQ_INT(r53_parse_list(body, strlen(body), &l, err, sizeof(err)), 0);
    CHECK(l.n == 1 && r53_rrset_equal(&l.sets[0], &a));
    CHECK(l.n == 1 && strcmp(l.sets[0].set_identifier, "id \"1\" 'q'") == 0);
    r53_list_free(&l);
    free(x);
    r53_rrset_clear(&a);
}

/* Names as Route 53 writes them in a listing against names as configured. */
static void test_name_equal(void)
{
    CHECK(r53_name_equal("\\052.example.com.", "*.example.com"));
    CHECK(r53_name_equal("*.EXAMPLE.com", "\\052.example.com."));
    CHECK(r53_name_equal("api.example.com", "API.Example.Com."));
    CHECK(r53_name_equal("\\141pi.example.com.", "api.example.com."));   /* \141 is 'a' */
    CHECK(!r53_name_equal("\\052.example.com.", "x.example.com."));
    CHECK(!r53_name_equal("a\\.b.example.com.", "a.b.example.com."));   /* an escaped dot is not a separator */
    CHECK(!r53_name_equal("api.example.com.", "api.example.co."));
}

int main(void)
{
    test_name_equal();
    test_list();
    test_list_errors();
    test_change();
    test_errors();
    test_build();
    test_round_trip();
    return check_finish();
}
