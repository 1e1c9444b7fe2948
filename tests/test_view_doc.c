/* test_view_doc — an observer's view document (cluster/view_doc.h): what is
 * encoded decodes to the same view; a reason is cut and scrubbed; each kind
 * of bad member is refused naming it; and documents mutated at random (bytes
 * flipped, cut, spliced, members replaced by values of other types) either
 * decode to a view that keeps every invariant or are refused with a reason,
 * never crash (run under ASan+UBSan too).  suspect_reason (issue 18 item 3):
 * written only with suspect true, so a view that is not suspect is the
 * first slice's document exactly; a document without it (as the first slice
 * wrote them) still decodes, suspect or not; one with it and suspect false,
 * or of another type, too long, or with control characters, is refused.
 * Seed: REGIOND_TEST_SEED or 18. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cluster/view_doc.h"
#include "config/utf8.h"
#include "tests/check.h"

static view_t a, b;
static char why[256];

static void sample(view_t *v)
{
    memset(v, 0, sizeof(*v));
    snprintf(v->observer, sizeof(v->observer), "ctl-1");
    v->elapsed_ms = 123456789;
    v->window_ms = 2000;
    v->n = 3;
    const char *names[] = { "us-east-1", "eu-west-1", "ap.south_2" };
    for (size_t i = 0; i < v->n; i++) {
        snprintf(v->regions[i].region, sizeof(v->regions[i].region), "%s", names[i]);
        v->regions[i].state = (view_state_t)(i + 1);
        view_set_reason(&v->regions[i], i == 2 ? "connect: refused \"x\" \xc3\xa9" : "ok");
        v->regions[i].age_ms = 1000 * i + 7;
        v->regions[i].probes = 10;
        v->regions[i].failures = (uint32_t)i * 3;
    }
}

static bool same(const view_t *x, const view_t *y)
{
    if (strcmp(x->observer, y->observer) || x->elapsed_ms != y->elapsed_ms || x->window_ms != y->window_ms
        || x->suspect != y->suspect || strcmp(x->suspect_reason, y->suspect_reason) || x->n != y->n
        || x->n_drills != y->n_drills)
        return false;
    for (size_t i = 0; i < x->n_drills; i++)
        if (x->drills[i].id != y->drills[i].id || strcmp(x->drills[i].region, y->drills[i].region))
            return false;
    for (size_t i = 0; i < x->n; i++) {
        const view_region_t *p = &x->regions[i], *q = &y->regions[i];
        if (strcmp(p->region, q->region) || p->state != q->state || strcmp(p->reason, q->reason)
            || p->age_ms != q->age_ms || p->probes != q->probes || p->failures != q->failures)
            return false;
    }
    return true;
}

/* Every invariant a decoded view promises. */
static bool sound(const view_t *v)
{
    if (strcmp(v->observer, "ctl-1") || v->n > VIEW_MAX_REGIONS || v->elapsed_ms > VIEW_MS_MAX)
        return false;
    size_t sl = strlen(v->suspect_reason);
    if (sl > VIEW_SUSPECT_REASON_MAX || !utf8_valid(v->suspect_reason, sl, NULL) || (sl && !v->suspect))
        return false;
    for (const char *p = v->suspect_reason; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return false;
    if (v->n_drills > VIEW_MAX_DRILLS)
        return false;
    for (size_t i = 0; i < v->n_drills; i++)
        if (v->drills[i].id < 1 || v->drills[i].id > (uint64_t)VIEW_DRILL_ID_MAX || !v->drills[i].region[0])
            return false;
    for (size_t i = 0; i < v->n; i++) {
        const view_region_t *r = &v->regions[i];
        size_t rl = strlen(r->region), n = strlen(r->reason);
        if (rl < 1 || rl > 64 || r->state >= VIEW_STATE_N || n > VIEW_REASON_MAX || !utf8_valid(r->reason, n, NULL)
            || r->failures > r->probes || r->probes > VIEW_COUNT_MAX || r->age_ms > VIEW_MS_MAX)
            return false;
        for (const char *p = r->reason; *p; p++)
            if ((unsigned char)*p < 0x20)
                return false;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(v->regions[j].region, r->region))
                return false;
    }
    return true;
}

static void test_roundtrip(void)
{
    sample(&a);
    char *doc = view_encode(&a);
    CHECK(doc != NULL);
    CHECK(view_decode(doc, "ctl-1", &b, why, sizeof why) == 0);
    CHECK(same(&a, &b) && sound(&b));
    CHECK(view_decode(doc, "ctl-2", &b, why, sizeof why) == -1);   /* another observer's key */
    CHECK_CONTAINS(why, "observer: expected \"ctl-2\"");
    CHECK(strstr(doc, "suspect_reason") == NULL);   /* not suspect: the first slice's document exactly */
    CHECK(strstr(doc, "drills") == NULL);           /* no drill: no member (older readers read it) */
    free(doc);
    a.suspect = true;   /* suspect, with why */
    snprintf(a.suspect_reason, sizeof a.suspect_reason, "every region failing at once (3 of 3)");
    doc = view_encode(&a);
    CHECK(doc && strstr(doc, "\"suspect\":true,\"suspect_reason\":\"every region failing at once (3 of 3)\""));
    CHECK(doc && view_decode(doc, "ctl-1", &b, why, sizeof why) == 0 && same(&a, &b) && sound(&b));
    free(doc);
    a.suspect = false;
    a.suspect_reason[0] = '\0';
    a.n_drills = 2;   /* the fail drills in effect on the writer */
    a.drills[0] = (view_drill_t){ 7, "eu-west-1" };
    a.drills[1] = (view_drill_t){ 4503599627370496ull, "r2" };
    doc = view_encode(&a);
    CHECK(doc && strstr(doc, "\"drills\":[{\"id\":7,\"region\":\"eu-west-1\"}"));
    CHECK(doc && view_decode(doc, "ctl-1", &b, why, sizeof why) == 0 && same(&a, &b) && sound(&b));
    free(doc);
    a.n_drills = 0;
    a.n = 0;   /* no regions is a view too */
    doc = view_encode(&a);
    CHECK(doc && view_decode(doc, "ctl-1", &b, why, sizeof why) == 0 && b.n == 0);
    free(doc);
}

static void test_reason(void)
{
    view_region_t r;
    char long_r[600];
    memset(long_r, 'x', sizeof long_r - 1);
    long_r[sizeof long_r - 1] = '\0';
    long_r[VIEW_REASON_MAX - 1] = '\xc3';   /* a two-byte character cut by the bound */
    long_r[VIEW_REASON_MAX] = '\xa9';
    view_set_reason(&r, long_r);
    CHECK(strlen(r.reason) == VIEW_REASON_MAX && utf8_valid(r.reason, strlen(r.reason), NULL));
    view_set_reason(&r, "a\nb\tc\x01\xff");
    CHECK(strcmp(r.reason, "a?b?c??") == 0);
    view_set_reason(&r, NULL);
    CHECK(r.reason[0] == '\0');
}

static void bad(const char *doc, const char *what)
{
    CHECK(view_decode(doc, "ctl-1", &b, why, sizeof why) == -1);
    CHECK_CONTAINS(why, what);
    CHECK(b.n == 0 && b.observer[0] == '\0');   /* nothing half-taken */
}

#define TOP "\"v\":1,\"observer\":\"ctl-1\",\"elapsed_ms\":5,\"window_ms\":5,\"suspect\":false"
#define R(x) "{" TOP ",\"regions\":[" x "]}"
#define RG(k) "{\"region\":\"r1\",\"state\":\"up\",\"reason\":\"ok\",\"age_ms\":1,\"probes\":2,\"failures\":1" k "}"

#define TOPS(x) "{\"v\":1,\"observer\":\"ctl-1\",\"elapsed_ms\":5,\"window_ms\":5," x ",\"regions\":[]}"

/* Documents each refused with an error that contains want. */
typedef struct {
    const char *doc, *want;
} bad_case_t;

static void bad_all(const bad_case_t *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int failed = check_fail_;
        bad(c[i].doc, c[i].want);
        if (check_fail_ > failed)
            fprintf(stderr, "  (case %zu: %s)\n", i, c[i].doc);
    }
}

static void test_suspect_reason(void)
{
    /* the first slice's documents (no suspect_reason) decode, suspect or not */
    CHECK(view_decode(TOPS("\"suspect\":false"), "ctl-1", &b, why, sizeof why) == 0 && !b.suspect
          && b.suspect_reason[0] == '\0');
    CHECK(view_decode(TOPS("\"suspect\":true"), "ctl-1", &b, why, sizeof why) == 0 && b.suspect
          && b.suspect_reason[0] == '\0');
    CHECK(view_decode(TOPS("\"suspect\":true,\"suspect_reason\":\"local resource shortage\""), "ctl-1", &b, why,
                      sizeof why) == 0 && b.suspect && strcmp(b.suspect_reason, "local resource shortage") == 0);
    static const bad_case_t cases[] = {
        {TOPS("\"suspect\":false,\"suspect_reason\":\"x\""), "suspect_reason: only with suspect true"},
        {TOPS("\"suspect\":true,\"suspect_reason\":1"), "suspect_reason: expected UTF-8 text"},
        {TOPS("\"suspect\":true,\"suspect_reason\":null"), "suspect_reason: expected UTF-8 text"},
        {TOPS("\"suspect\":true,\"suspect_reason\":\"a\\nb\""), "suspect_reason: expected UTF-8 text"},
        {TOPS("\"suspect\":true,\"suspect_reason\":\"\xff\""), "not UTF-8 JSON text"},
        {TOPS("\"suspect\":true,\"suspect_reason\":\"a\",\"suspect_reason\":\"b\""), "(each once)"},
    };
    bad_all(cases, sizeof cases / sizeof cases[0]);
    char doc[VIEW_SUSPECT_REASON_MAX + 200], r[VIEW_SUSPECT_REASON_MAX + 2];
    memset(r, 'x', sizeof r - 1);
    r[sizeof r - 1] = '\0';   /* one byte over */
    snprintf(doc, sizeof doc, TOPS("\"suspect\":true,\"suspect_reason\":\"%s\""), r);
    bad(doc, "at most 300 bytes");
    r[sizeof r - 2] = '\0';   /* exactly at the bound */
    snprintf(doc, sizeof doc, TOPS("\"suspect\":true,\"suspect_reason\":\"%s\""), r);
    CHECK(view_decode(doc, "ctl-1", &b, why, sizeof why) == 0 && strlen(b.suspect_reason) == VIEW_SUSPECT_REASON_MAX);
}

static void test_drills(void)
{
    CHECK(view_decode(TOPS("\"suspect\":false,\"drills\":[]"), "ctl-1", &b, why, sizeof why) == 0 && !b.n_drills);
    CHECK(view_decode(TOPS("\"suspect\":false,\"drills\":[{\"id\":3,\"region\":\"r2\"}]"), "ctl-1", &b, why,
                      sizeof why) == 0 && b.n_drills == 1 && b.drills[0].id == 3 && !strcmp(b.drills[0].region, "r2"));
#define DRILLS(x) TOPS("\"suspect\":false,\"drills\":" x)
    static const bad_case_t cases[] = {
        {DRILLS("{}"), "drills: expected a list"},
        {DRILLS("[{\"id\":0,\"region\":\"r2\"}]"), "drills[0]: expected"},
        {DRILLS("[{\"id\":1.5,\"region\":\"r2\"}]"), "drills[0]: expected"},
        {DRILLS("[{\"id\":1,\"region\":\"r 2\"}]"), "drills[0]: expected"},
        {DRILLS("[{\"id\":1,\"region\":\"r2\",\"x\":1}]"), "drills[0]: expected"},
        {DRILLS("[1]"), "drills[0]: expected"},
        {DRILLS("[{\"id\":1,\"region\":\"r2\"}],\"drills\":[]"), "(each once)"},
    };
#undef DRILLS
    bad_all(cases, sizeof cases / sizeof cases[0]);
    char doc[2048] = "{" TOP ",\"drills\":[";   /* one over the limit */
    for (int i = 0; i <= VIEW_MAX_DRILLS; i++)
        snprintf(doc + strlen(doc), sizeof doc - strlen(doc), "%s{\"id\":%d,\"region\":\"r2\"}", i ? "," : "", i + 1);
    snprintf(doc + strlen(doc), sizeof doc - strlen(doc), "],\"regions\":[]}");
    bad(doc, "drills: expected a list of at most");
}

static void test_bad(void)
{
    CHECK(view_decode(R(RG("")), "ctl-1", &b, why, sizeof why) == 0 && b.n == 1);
    bad(NULL, "no doc");
    bad("", "not JSON");
    bad("{", "not JSON");
    bad("[]", "expected an object");
    bad("{" TOP ",\"regions\":[],\"x\":1}", "expected an object of v");
    bad("{\"v\":2,\"observer\":\"ctl-1\",\"elapsed_ms\":5,\"window_ms\":5,\"suspect\":false,\"regions\":[]}", "v: expected 1");
    bad("{\"v\":1,\"observer\":\"ctl-1\",\"elapsed_ms\":-5,\"window_ms\":5,\"suspect\":false,\"regions\":[]}", "elapsed_ms");
    bad("{\"v\":1,\"observer\":\"ctl-1\",\"elapsed_ms\":1.5,\"window_ms\":5,\"suspect\":false,\"regions\":[]}", "elapsed_ms");
    bad("{\"v\":1,\"observer\":\"ctl-1\",\"elapsed_ms\":1e300,\"window_ms\":5,\"suspect\":false,\"regions\":[]}", "elapsed_ms");
    bad("{\"v\":1,\"observer\":\"ctl-1\",\"elapsed_ms\":5,\"window_ms\":5,\"suspect\":0,\"regions\":[]}", "suspect");
    bad("{" TOP ",\"regions\":{}}", "regions: expected a list");
    bad(R("1"), "regions[0]: expected an object");
    bad(R("{\"region\":\"r1\",\"state\":\"up\",\"reason\":\"ok\",\"age_ms\":1,\"probes\":2,\"failures\":3}"),
        "failures <= probes");
    bad(R(RG(",\"extra\":1")), "regions[0]: expected an object of region");
    bad(R("{\"region\":\"r 1\",\"state\":\"up\",\"reason\":\"ok\",\"age_ms\":1,\"probes\":2,\"failures\":1}"),
        "regions[0].region");
    bad(R("{\"region\":\"r1\",\"state\":\"UP\",\"reason\":\"ok\",\"age_ms\":1,\"probes\":2,\"failures\":1}"),
        "regions[0].state");
    bad(R("{\"region\":\"r1\",\"state\":\"up\",\"reason\":\"a\\nb\",\"age_ms\":1,\"probes\":2,\"failures\":1}"),
        "regions[0].reason");
    bad(R("{\"region\":\"r1\",\"state\":\"up\",\"reason\":\"a\\u0000b\",\"age_ms\":1,\"probes\":2,\"failures\":1}"),
        "a NUL or \\u0000");
    bad(R(RG("") "," RG("")), "regions[1].region: \"r1\" twice");
    bad("{\"v\":1,\"observer\":\"ctl-1\",\"elapsed_ms\":5,\"window_ms\":5,\"suspect\":false,\"regions\":[],"
        "\"v\":1}", "(each once)");   /* a duplicate member (cJSON keeps both) */
    bad(R("{\"region\":\"r1\",\"state\":\"up\",\"state\":\"down\",\"reason\":\"ok\",\"age_ms\":1,\"probes\":2,"
          "\"failures\":1}"), "regions[0]: expected an object of region");
    char big[VIEW_DOC_MAX + 100];
    memset(big, ' ', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    bad(big, "bytes, expected at most");
    char many[70 * 140] = R("");
    size_t off = strlen(many) - 2;   /* before "]}" */
    for (int i = 0; i <= VIEW_MAX_REGIONS; i++)
        off += (size_t)snprintf(many + off, sizeof many - off, "%s{\"region\":\"r%d\",\"state\":\"up\",\"reason\":"
                                "\"\",\"age_ms\":1,\"probes\":0,\"failures\":0}", i ? "," : "", i);
    snprintf(many + off, sizeof many - off, "]}");
    bad(many, "at most 64 regions");
}

static uint64_t rng = 18;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return n ? (uint32_t)(rng % n) : 0;
}

/* A random value of a random type. */
static cJSON *random_value(void)
{
    static const char *const strs[] = { "", "up", "down", "degraded", "unknown", "ctl-1", "r1", "\xff\xfe",
                                        "a\x01" "b", "x x", "1" };
    static const double nums[] = { 0, 1, -1, 0.5, 1e19, 4e12, 4000000000001.0, 1000000000, 1000000001, NAN };
    switch (rnd(7)) {
    case 0: return cJSON_CreateString(strs[rnd(sizeof strs / sizeof *strs)]);
    case 1: return cJSON_CreateNumber(nums[rnd(sizeof nums / sizeof *nums)]);
    case 2: return cJSON_CreateBool(rnd(2));
    case 3: return cJSON_CreateNull();
    case 4: return cJSON_CreateArray();
    case 5: return cJSON_CreateObject();
    default: {
        char s[300];
        size_t n = rnd(sizeof s - 1);
        for (size_t i = 0; i < n; i++)
            s[i] = (char)(rnd(95) + 32);
        s[n] = '\0';
        return cJSON_CreateString(s);
    }
    }
}

/* Replace (or delete) one member somewhere in the tree. */
static void mutate_tree(cJSON *o)
{
    cJSON *c = o;
    for (int depth = 0; depth < 3 && c && c->child && rnd(3); depth++) {
        int n = cJSON_GetArraySize(c);
        c = cJSON_GetArrayItem(c, (int)rnd((uint32_t)n));
    }
    if (!c || !c->child)
        return;
    int n = cJSON_GetArraySize(c), i = (int)rnd((uint32_t)n);
    if (rnd(5) == 0)
        cJSON_DeleteItemFromArray(c, i);
    else
        cJSON_ReplaceItemInArray(c, i, random_value());
}

static void mutate_bytes(char *s, size_t cap)
{
    size_t n = strlen(s);
    for (int k = 0, m = 1 + (int)rnd(4); k < m && n; k++) {
        size_t at = rnd((uint32_t)n);
        switch (rnd(4)) {
        case 0: s[at] = (char)(rnd(255) + 1); break;                /* a byte changed */
        case 1: s[at] = '\0'; n = at; break;                          /* cut */
        case 2: memmove(s + at, s + at + 1, n - at); n--; break;      /* a byte deleted */
        default:                                                      /* a piece doubled */
            if (n + 20 < cap) {
                memmove(s + at + 20, s + at, n - at + 1);
                n += 20;
            }
        }
    }
}

static void test_random(void)
{
    const char *seed = getenv("REGIOND_TEST_SEED");
    rng = seed ? strtoull(seed, NULL, 10) | 1 : 18;
    sample(&a);
    a.suspect = true;   /* suspect_reason mutated too */
    snprintf(a.suspect_reason, sizeof a.suspect_reason, "cannot reach the coordination tables");
    a.n_drills = 1;   /* drills mutated too */
    a.drills[0] = (view_drill_t){ 12, "us-east-1" };
    char *base = view_encode(&a);
    CHECK(base != NULL);
    if (!base)
        return;
    size_t taken = 0, refused = 0, unsound = 0, no_reason = 0;
    for (int it = 0; it < 20000; it++) {
        char buf[4096];
        if (it % 2) {
            snprintf(buf, sizeof buf, "%s", base);
            mutate_bytes(buf, sizeof buf);
        } else {
            cJSON *o = cJSON_Parse(base);
            for (int k = 0, m = 1 + (int)rnd(3); o && k < m; k++)
                mutate_tree(o);
            char *s = o ? cJSON_PrintUnformatted(o) : NULL;
            snprintf(buf, sizeof buf, "%s", s ? s : "");
            free(s);
            cJSON_Delete(o);
        }
        why[0] = '\0';
        if (view_decode(buf, "ctl-1", &b, why, sizeof why) == 0) {
            taken++;
            unsound += !sound(&b);
            char *again = view_encode(&b);   /* what was taken encodes and decodes to itself */
            view_t c;
            unsound += !again || view_decode(again, "ctl-1", &c, why, sizeof why) != 0 || !same(&b, &c);
            free(again);
        } else {
            refused++;
            no_reason += why[0] == '\0';
        }
    }
    printf("random: %zu taken, %zu refused\n", taken, refused);
    CHECK(unsound == 0);
    CHECK(no_reason == 0);
    CHECK(refused > 10000 && taken > 100);   /* both paths exercised */
    free(base);
}

int main(void)
{
    test_roundtrip();
    test_reason();
    test_bad();
    test_suspect_reason();
    test_drills();
    test_random();
    return check_finish();
}
