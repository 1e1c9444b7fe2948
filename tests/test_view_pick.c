/* test_view_pick — which lease tables' items of an observer's view count
 * (cluster/view_pick.h; docs/ha.md known defects 26, 28 and 35): an item whose
 * epoch is not a number, a huge epoch, missing members or members of the
 * wrong type is bad (named with why, never the highest); a read counts when
 * a majority of the tables answered with a valid item or none; the valid
 * items come highest (epoch, seq) first; the observer's epoch is one above
 * the highest valid one below the limit, or 2^53 above the highest seq
 * there (known defect 35: an own item at the limit after a restart), learnt when a majority of
 * the tables answered, a bad item counting (known defect 38); a drill counts only when a
 * majority of the tables' items name it.  Random items, and valid ones
 * mutated at random, keep every invariant; one mutated item beside two
 * valid ones never changes what the valid ones give (unless it is itself
 * valid).  Seed: REGIOND_TEST_SEED or 26. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cluster/view_pick.h"
#include "tests/check.h"

static cJSON *item_of(const char *epoch_json, const char *seq_json, const char *doc_json)
{
    char buf[1024];
    snprintf(buf, sizeof(buf), "{\"name\":{\"S\":\"c#view#ctl-1\"}%s%s%s%s%s%s}", epoch_json ? ",\"epoch\":" : "",
             epoch_json ? epoch_json : "", seq_json ? ",\"seq\":" : "", seq_json ? seq_json : "",
             doc_json ? ",\"doc\":" : "", doc_json ? doc_json : "");
    cJSON *j = cJSON_Parse(buf);
    if (!j) {
        fprintf(stderr, "bad fixture %s\n", buf);
        exit(2);
    }
    return j;
}

static view_item_t parse(const char *e, const char *s, const char *d)
{
    cJSON *j = item_of(e, s, d);
    view_item_t it;
    view_item_parse(j, &it);
    it.doc = NULL;   /* points into j */
    cJSON_Delete(j);
    return it;
}

static void test_parse(void)
{
    view_item_t it = parse("{\"N\":\"5\"}", "{\"N\":\"7\"}", "{\"S\":\"{}\"}");
    CHECK(it.kind == VIEW_ITEM_VALID && it.epoch == 5 && it.seq == 7);
    view_item_t none;
    view_item_parse(NULL, &none);
    CHECK(none.answered && none.kind == VIEW_ITEM_NONE);
    static const struct { const char *e, *s, *d, *why; } bad[] = {
        {"{\"S\":\"x\"}", "{\"N\":\"1\"}", "{\"S\":\"{}\"}", "epoch is not a number"},
        {"{\"N\":\"abc\"}", "{\"N\":\"1\"}", "{\"S\":\"{}\"}", "epoch is not a whole number"},
        {"{\"N\":\"1e5\"}", "{\"N\":\"1\"}", "{\"S\":\"{}\"}", "epoch is not a whole number"},
        {"{\"N\":\"-1\"}", "{\"N\":\"1\"}", "{\"S\":\"{}\"}", "epoch is not a whole number"},
        {"{\"N\":\"1.5\"}", "{\"N\":\"1\"}", "{\"S\":\"{}\"}", "epoch is not a whole number"},
        {"{\"N\":\"\"}", "{\"N\":\"1\"}", "{\"S\":\"{}\"}", "epoch is not a whole number"},
        {"{\"N\":5}", "{\"N\":\"1\"}", "{\"S\":\"{}\"}", "epoch is not a number"},
        {"{\"N\":\"99999999999999999999999\"}", "{\"N\":\"1\"}", "{\"S\":\"{}\"}", "epoch is not a whole number"},
        {"{\"N\":\"9007199254740993\"}", "{\"N\":\"1\"}", "{\"S\":\"{}\"}", "epoch is above 2^53"},
        {"\"5\"", "{\"N\":\"1\"}", "{\"S\":\"{}\"}", "epoch is not a number"},
        {NULL, "{\"N\":\"1\"}", "{\"S\":\"{}\"}", "no epoch"},
        {"{\"N\":\"1\"}", NULL, "{\"S\":\"{}\"}", "no seq"},
        {"{\"N\":\"1\"}", "{\"BOOL\":true}", "{\"S\":\"{}\"}", "seq is not a number"},
        {"{\"N\":\"1\"}", "{\"N\":\"1\"}", NULL, "doc is not a string"},
        {"{\"N\":\"1\"}", "{\"N\":\"1\"}", "{\"N\":\"3\"}", "doc is not a string"},
        {"{\"N\":\"1\"}", "{\"N\":\"1\"}", "{\"S\":7}", "doc is not a string"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        it = parse(bad[i].e, bad[i].s, bad[i].d);
        CHECK(it.kind == VIEW_ITEM_BAD);
        CHECK_CONTAINS(it.why, bad[i].why);
    }
    it = parse("{\"N\":\"9007199254740992\"}", "{\"N\":\"0\"}", "{\"S\":\"\"}");
    CHECK(it.kind == VIEW_ITEM_VALID && it.epoch == VIEW_PICK_NUM_MAX);
    cJSON *arr = cJSON_Parse("[1]");
    view_item_parse(arr, &it);
    CHECK(it.kind == VIEW_ITEM_BAD);
    cJSON_Delete(arr);
}

static view_item_t valid(uint64_t e, uint64_t s)
{
    return (view_item_t){.answered = true, .kind = VIEW_ITEM_VALID, .epoch = e, .seq = s, .doc = "{}"};
}

static view_item_t badi(void)
{
    view_item_t b = {.answered = true, .kind = VIEW_ITEM_BAD};
    snprintf(b.why, sizeof(b.why), "epoch is not a number");
    return b;
}

/* defect 38's review: only a bad item the write's condition compares as
 * numbers (not whole, up to 2^53, epoch 1 or more) can refuse the write over it */
static void test_unwhole(void)
{
    static const struct { const char *e, *s, *d; bool unwhole; } c[] = {
        {"{\"N\":\"4.5\"}", "{\"N\":\"1\"}", "{\"S\":\"{}\"}", true},
        {"{\"N\":\"4\"}", "{\"N\":\"2.5\"}", "{\"S\":\"{}\"}", true},
        {"{\"N\":\"-3\"}", "{\"N\":\"1\"}", "{\"S\":\"{}\"}", false},       /* never above ours */
        {"{\"N\":\"0.5\"}", "{\"N\":\"1\"}", "{\"S\":\"{}\"}", false},
        {"{\"S\":\"4\"}", "{\"N\":\"1\"}", "{\"S\":\"{}\"}", false},        /* not a number: replaced */
        {"{\"N\":\"4.5\"}", "{\"S\":\"1\"}", "{\"S\":\"{}\"}", false},
        {"{\"N\":\"4.5\"}", "{\"N\":\"1\"}", "{\"N\":\"1\"}", false},        /* doc not a string */
        {"{\"N\":\"9007199254740993.5\"}", "{\"N\":\"1\"}", "{\"S\":\"{}\"}", false},   /* above 2^53 */
        {"{\"N\":\"90071992547409930\"}", "{\"N\":\"1\"}", "{\"S\":\"{}\"}", false},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        view_item_t it = parse(c[i].e, c[i].s, c[i].d);
        CHECK(it.kind == VIEW_ITEM_BAD);
        if (it.unwhole != c[i].unwhole)
            fprintf(stderr, "case %zu: unwhole %d\n", i, it.unwhole);
        CHECK(it.unwhole == c[i].unwhole);
    }
    CHECK(!parse("{\"N\":\"5\"}", "{\"N\":\"7\"}", "{\"S\":\"{}\"}").unwhole);
}

static void test_pick(void)
{
    view_item_t none = {.answered = true}, silent = {0};
    view_pick_t p;
    bool lim;
    uint64_t sq;
    /* defect 26: one bad item among three tables: the other two count, the bad one is named */
    view_item_t a[3] = {badi(), valid(5, 3), valid(5, 3)};
    view_pick(a, 3, &p);
    CHECK(p.ok && p.n_valid == 2 && p.n_bad == 1 && p.bad_mask == 1u && p.order[0] == 1);
    CHECK_EQ_INT(view_pick_learn(a, &p, &sq, &lim), 6);
    CHECK(!lim);
    char buf[200];
    const char *names[] = {"us-east-1/t", "eu-west-1/t", "ap-south-1/t"};
    view_pick_bad_str(a, 3, names, buf, sizeof(buf));
    CHECK(strcmp(buf, "us-east-1/t: epoch is not a number") == 0);
    /* a bad item and no item elsewhere: a read, nothing valid, epoch 1 */
    view_item_t b[3] = {none, badi(), none};
    view_pick(b, 3, &p);
    CHECK(p.ok && p.n_valid == 0 && p.bad_mask == 2u);
    CHECK_EQ_INT(view_pick_learn(b, &p, &sq, &lim), 1);
    /* two bad, or a bad one and one not answering: no majority for a reader; the observer's own
     * read counts a bad item's table as answered and learns above the valid one (defect 38) */
    view_item_t c[3] = {badi(), badi(), valid(1, 1)};
    view_pick(c, 3, &p);
    CHECK(!p.ok && p.learn_ok);
    CHECK_EQ_INT(view_pick_learn(c, &p, &sq, &lim), 2);
    view_item_t d[3] = {valid(1, 1), silent, badi()};
    view_pick(d, 3, &p);
    CHECK(!p.ok && p.learn_ok);
    CHECK_EQ_INT(view_pick_learn(d, &p, &sq, &lim), 2);
    /* ... but a majority not answering at all: nothing learnt */
    view_item_t d2[3] = {badi(), silent, silent};
    view_pick(d2, 3, &p);
    CHECK(!p.ok && !p.learn_ok);
    CHECK_EQ_INT(view_pick_learn(d2, &p, &sq, &lim), 0);
    /* order: highest (epoch, seq) first */
    view_item_t e[5] = {valid(3, 9), valid(4, 1), valid(4, 2), badi(), valid(1, 100)};
    view_pick(e, 5, &p);
    CHECK(p.ok && p.n_valid == 4 && p.order[0] == 2 && p.order[1] == 1 && p.order[2] == 0 && p.order[3] == 4);
    /* a valid item at (2^53, 2^53): learnt past (left out), said */
    view_item_t f[3] = {valid(VIEW_PICK_NUM_MAX, VIEW_PICK_NUM_MAX), valid(5, 2), valid(5, 2)};
    view_pick(f, 3, &p);
    CHECK_EQ_INT(view_pick_learn(f, &p, &sq, &lim), 6);
    CHECK(lim && sq == 0);
    /* a huge valid epoch below the limit: gone above */
    view_item_t g[3] = {valid(VIEW_PICK_NUM_MAX - 1, 1), valid(5, 2), none};
    view_pick(g, 3, &p);
    CHECK(view_pick_learn(g, &p, &sq, &lim) == VIEW_PICK_NUM_MAX && !lim);
}

/* Known defect 35: a forged valid item at 2^53 - 1 in one table; the
 * observer learns 2^53, writes it everywhere; after a restart every own item
 * is at epoch 2^53: it goes on in that epoch above the highest seq (the
 * write's condition #e = :e AND #s < :s takes it), never left with no epoch
 * a table takes. */
static void test_learn_limit(void)
{
    const uint64_t M = VIEW_PICK_NUM_MAX;
    view_item_t none = {.answered = true};
    view_pick_t p;
    bool lim;
    uint64_t sq;
    /* step 2: the forged item at 2^53 - 1 is the highest: learnt to 2^53, seq 0 */
    view_item_t a[3] = {valid(M - 1, 7), valid(12, 40), valid(12, 40)};
    view_pick(a, 3, &p);
    CHECK(view_pick_learn(a, &p, &sq, &lim) == M && sq == 0 && !lim);
    /* step 3, restarted: every own item at 2^53: go on at 2^53 above the highest seq */
    view_item_t b[3] = {valid(M, 30), valid(M, 31), valid(M, 29)};
    view_pick(b, 3, &p);
    CHECK(view_pick_learn(b, &p, &sq, &lim) == M && sq == 31 && !lim);
    /* restarted before one table took 2^53: the limit's item still wins */
    view_item_t c[3] = {valid(M, 2), valid(M - 1, 7), none};
    view_pick(c, 3, &p);
    CHECK(view_pick_learn(c, &p, &sq, &lim) == M && sq == 2 && !lim);
    /* a forged (2^53, 2^53) beside items at 2^53: left out, the next one gone on from */
    view_item_t d[3] = {valid(M, M), valid(M, 5), valid(M, 4)};
    view_pick(d, 3, &p);
    CHECK(view_pick_learn(d, &p, &sq, &lim) == M && sq == 5 && lim);
    /* (2^53, 2^53 - 1): one more write, (2^53, 2^53), is taken */
    view_item_t e[3] = {valid(M, M - 1), valid(M, 5), none};
    view_pick(e, 3, &p);
    CHECK(view_pick_learn(e, &p, &sq, &lim) == M && sq == M - 1 && !lim);
    /* every item at (2^53, 2^53): nothing above; 1, said */
    view_item_t f[3] = {valid(M, M), valid(M, M), none};
    view_pick(f, 3, &p);
    CHECK(view_pick_learn(f, &p, &sq, &lim) == 1 && sq == 0 && lim);
}

/* Known defect 38: a restart during a rename, one table holding a bad item
 * of ours under the former name, another not answering: each name's read
 * stands on its own and both learn (before: the former's read was not ok,
 * nothing was learnt and the observer stayed silent under both names). */
static void test_learn_bad_answered(void)
{
    view_item_t silent = {0}, none = {.answered = true};
    view_pick_t p;
    bool lim;
    uint64_t sq;
    view_item_t former[3] = {badi(), valid(3, 7), silent};
    view_pick(former, 3, &p);
    CHECK(!p.ok && p.learn_ok && p.bad_mask == 1u);
    CHECK(view_pick_learn(former, &p, &sq, &lim) == 4 && sq == 0 && !lim);
    view_item_t name[3] = {valid(3, 7), valid(3, 7), silent};
    view_pick(name, 3, &p);
    CHECK(p.ok && view_pick_learn(name, &p, &sq, &lim) == 4);
    /* a bad item and no item: epoch 1 */
    view_item_t fresh[3] = {badi(), none, silent};
    view_pick(fresh, 3, &p);
    CHECK(!p.ok && p.learn_ok && view_pick_learn(fresh, &p, &sq, &lim) == 1);
    /* a bad item at the limit's neighbour does not stop the learn at the limit (defect 35 kept) */
    view_item_t top[3] = {badi(), valid(VIEW_PICK_NUM_MAX, 9), silent};
    view_pick(top, 3, &p);
    CHECK(view_pick_learn(top, &p, &sq, &lim) == VIEW_PICK_NUM_MAX && sq == 9 && !lim);
}

/* The review's case: (4, 20) reached tables A and B, C holds (3, 50); A's
 * item made bad, B silent at a restart: the tables say 4, the saved epoch 4
 * says 5 (a reader reaching B must never see our new items below (4, 20)). */
static void test_learn_above_saved(void)
{
    view_item_t silent = {0};
    view_pick_t p;
    bool lim;
    uint64_t sq;
    view_item_t r[3] = {badi(), silent, valid(3, 50)};
    view_pick(r, 3, &p);
    uint64_t e = view_pick_learn(r, &p, &sq, &lim);
    CHECK(e == 4 && sq == 0);
    CHECK(view_pick_above_saved(e, &sq, 4) == 5 && sq == 0);
    /* the tables above what was saved (a lost save): theirs */
    sq = 3;
    CHECK(view_pick_above_saved(9, &sq, 4) == 9 && sq == 3);
    CHECK(view_pick_above_saved(9, &sq, 0) == 9 && sq == 3);
    /* no majority: still nothing; the epoch limit keeps its seq */
    CHECK(view_pick_above_saved(0, &sq, 4) == 0);
    sq = 9;
    CHECK(view_pick_above_saved(VIEW_PICK_NUM_MAX, &sq, VIEW_PICK_NUM_MAX) == VIEW_PICK_NUM_MAX && sq == 9);
    CHECK(view_pick_above_saved(5, &sq, VIEW_PICK_NUM_MAX - 1) == VIEW_PICK_NUM_MAX && sq == 0);
}

static void test_drills(void)
{
    size_t n[3] = {0};
    view_drill_t t[3][VIEW_MAX_DRILLS];
    memset(t, 0, sizeof(t));
    /* defect 28: a drill named by one table's item only (a forged item) is no drill */
    n[0] = 1;
    t[0][0] = (view_drill_t){.id = 7, .region = "r2"};
    CHECK_EQ_INT(view_pick_drill_agreed(n, (const view_drill_t (*)[VIEW_MAX_DRILLS])t, 3, "r2"), 0);
    /* two tables, different ids: no agreement */
    n[1] = 1;
    t[1][0] = (view_drill_t){.id = 8, .region = "r2"};
    CHECK_EQ_INT(view_pick_drill_agreed(n, (const view_drill_t (*)[VIEW_MAX_DRILLS])t, 3, "r2"), 0);
    /* a majority agreeing (the holder's real writes) */
    t[1][0].id = 7;
    CHECK_EQ_INT(view_pick_drill_agreed(n, (const view_drill_t (*)[VIEW_MAX_DRILLS])t, 3, "r2"), 7);
    CHECK_EQ_INT(view_pick_drill_agreed(n, (const view_drill_t (*)[VIEW_MAX_DRILLS])t, 3, "r1"), 0);
    /* of five tables two are not a majority */
    size_t n5[5] = {1, 1, 0, 0, 0};
    view_drill_t t5[5][VIEW_MAX_DRILLS];
    memset(t5, 0, sizeof(t5));
    t5[0][0] = t5[1][0] = (view_drill_t){.id = 7, .region = "r2"};
    CHECK_EQ_INT(view_pick_drill_agreed(n5, (const view_drill_t (*)[VIEW_MAX_DRILLS])t5, 5, "r2"), 0);
    n5[4] = 2;
    t5[4][0] = (view_drill_t){.id = 9, .region = "r1"};
    t5[4][1] = (view_drill_t){.id = 7, .region = "r2"};
    CHECK_EQ_INT(view_pick_drill_agreed(n5, (const view_drill_t (*)[VIEW_MAX_DRILLS])t5, 5, "r2"), 7);
}

/* ---- random and mutated items ---- */

static const char *const mut_vals[] = {
    "{\"N\":\"12\"}", "{\"S\":\"12\"}", "{\"N\":\"x\"}", "{\"N\":\"1e3\"}", "{\"N\":\"-4\"}", "{\"N\":12}", "null",
    "{\"N\":\"184467440737095516150\"}", "{\"N\":\"9007199254740992\"}", "{\"N\":\"9007199254740993\"}", "[]",
    "{\"S\":\"{\\\"v\\\":1}\"}", "{\"B\":\"AA==\"}", "{\"N\":\"0\"}", "{\"NULL\":true}", "{}", "{\"N\":\"00012\"}",
};

static cJSON *random_item(uint64_t e, uint64_t s)
{
    char es[40], ss[40];
    snprintf(es, sizeof(es), "{\"N\":\"%" PRIu64 "\"}", e);
    snprintf(ss, sizeof(ss), "{\"N\":\"%" PRIu64 "\"}", s);
    cJSON *j = item_of(es, ss, "{\"S\":\"{}\"}");
    static const char *const keys[] = {"epoch", "seq", "doc"};
    int muts = rand() % 3;
    for (int m = 0; m < muts; m++) {
        const char *k = keys[rand() % 3];
        if (rand() % 4 == 0) {
            cJSON_DeleteItemFromObjectCaseSensitive(j, k);
            continue;
        }
        cJSON *v = cJSON_Parse(mut_vals[(size_t)rand() % (sizeof(mut_vals) / sizeof(mut_vals[0]))]);
        if (v)
            cJSON_ReplaceItemInObjectCaseSensitive(j, k, v) || (cJSON_Delete(v), 0);
    }
    return j;
}

static void check_invariants(const view_item_t *it, size_t n, const view_pick_t *p)
{
    size_t good = 0, bad = 0, valid = 0, answered = 0;
    for (size_t i = 0; i < n; i++) {
        good += it[i].answered && it[i].kind != VIEW_ITEM_BAD;
        answered += it[i].answered;
        bad += it[i].answered && it[i].kind == VIEW_ITEM_BAD;
        valid += it[i].answered && it[i].kind == VIEW_ITEM_VALID;
        CHECK(!!(p->bad_mask & (1u << i)) == (it[i].answered && it[i].kind == VIEW_ITEM_BAD));
        CHECK(it[i].kind != VIEW_ITEM_VALID || (it[i].epoch <= VIEW_PICK_NUM_MAX && it[i].seq <= VIEW_PICK_NUM_MAX));
    }
    CHECK(p->ok == (good >= n / 2 + 1));
    CHECK(p->learn_ok == (answered >= n / 2 + 1) && (!p->ok || p->learn_ok));
    CHECK(p->n_bad == bad && p->n_valid == valid);
    for (size_t j = 0; j < p->n_valid; j++) {
        const view_item_t *x = &it[p->order[j]];
        CHECK(x->kind == VIEW_ITEM_VALID);
        if (j > 0) {
            const view_item_t *y = &it[p->order[j - 1]];
            CHECK(y->epoch > x->epoch || (y->epoch == x->epoch && y->seq >= x->seq));
        }
    }
    bool lim;
    uint64_t sq;
    uint64_t e = view_pick_learn(it, p, &sq, &lim);
    CHECK(p->learn_ok ? e >= 1 && e <= VIEW_PICK_NUM_MAX && sq < VIEW_PICK_NUM_MAX : e == 0);
    /* defect 35: the next write (e, sq + 1) goes above every valid item but one at (2^53, 2^53) */
    for (size_t i = 0; p->learn_ok && i < n; i++)
        if (it[i].answered && it[i].kind == VIEW_ITEM_VALID
            && (it[i].epoch < VIEW_PICK_NUM_MAX || it[i].seq < VIEW_PICK_NUM_MAX))
            CHECK(e > it[i].epoch || (e == it[i].epoch && sq + 1 > it[i].seq));
}

static void test_random(void)
{
    for (int round = 0; round < 20000; round++) {
        size_t n = 1 + (size_t)rand() % VIEW_PICK_TABLES;
        cJSON *js[VIEW_PICK_TABLES] = {0};
        view_item_t it[VIEW_PICK_TABLES];
        for (size_t i = 0; i < n; i++) {
            int kind = rand() % 5;
            if (kind == 0) {
                memset(&it[i], 0, sizeof(it[i]));   /* no answer */
                continue;
            }
            js[i] = kind == 1 ? NULL : random_item((uint64_t)(rand() % 10), (uint64_t)(rand() % 10));
            view_item_parse(js[i], &it[i]);
        }
        view_pick_t p;
        view_pick(it, n, &p);
        check_invariants(it, n, &p);
        /* defect 26: the same read with table 0's item mutated; tables 1, 2 valid at (4, 4) */
        if (n >= 3) {
            view_item_t two[3];
            cJSON *clean1 = item_of("{\"N\":\"4\"}", "{\"N\":\"4\"}", "{\"S\":\"{}\"}");
            view_item_parse(js[0], &two[0]);
            view_item_parse(clean1, &two[1]);
            view_item_parse(clean1, &two[2]);
            view_pick(two, 3, &p);
            bool lim;
            uint64_t sq;
            uint64_t e = view_pick_learn(two, &p, &sq, &lim);
            CHECK(p.ok);
            if (two[0].kind != VIEW_ITEM_VALID)
                CHECK(e == 5 && p.order[0] == 1);
            cJSON_Delete(clean1);
        }
        for (size_t i = 0; i < n; i++)
            cJSON_Delete(js[i]);
    }
}

int main(void)
{
    const char *seed = getenv("REGIOND_TEST_SEED");
    srand(seed ? (unsigned)strtoul(seed, NULL, 10) : 26u);
    test_parse();
    test_pick();
    test_unwhole();
    test_learn_limit();
    test_learn_bad_answered();
    test_learn_above_saved();
    test_drills();
    test_random();
    return check_finish();
}
