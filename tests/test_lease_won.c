/* test_lease_won — which lease items count toward a set's "own items"
 * (cluster/lease_set.h: lease_set_won, lease_set_counts,
 * lease_set_write_won, lease_set_need; docs/ha.md, "Changing the lease
 * tables or name", known defect 19).
 *
 * A model of the lease tables A..E holds real items (DynamoDB Item maps as
 * the lease writes them, with cluster/tables/tset/released/won) and runs
 * rounds of instances of two sets: S3 (A, B, C) and S5 (A..E).  In a round
 * every instance reads first (the race: nobody sees the others' takes),
 * then takes in a given order; a table refused to an instance (a fault at
 * the peer) is not taken by it.  Each taker's need comes from the items it
 * read (lease_set_counts, lease_set_need), each item written carries
 * lease_set_write_won; a taker that won fewer than its need releases what it
 * won (a split vote's marks).  The model leaves out what the code adds on
 * top (waiting for lease_ms, epochs): it checks the counting rule alone. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cluster/lease_set.h"
#include "tests/check.h"

#define NT 5
enum { A = 1, B = 2, C = 4, D = 8, E = 16 };

typedef struct {
    char list[LEASE_SET_LIST_MAX + 1], fp[LEASE_SET_FP_LEN];
    unsigned tables;   /* mask */
    size_t n;
} set_t;

typedef struct {
    const char *id;
    const set_t *set;
    bool alive, leader;
    unsigned deny;   /* tables whose writes the peer refuses to it */
    unsigned held;
} inst_t;

static set_t s3, s5;
static cJSON *tab[NT];
static int owner[NT];   /* the instance whose item it is (-1 none) */
static inst_t *insts;
static size_t n_insts;

static void mkset(set_t *s, unsigned mask)
{
    const char *rg[] = {"us-east-1", "eu-west-1", "ap-southeast-2", "eu-central-1", "us-west-2"};
    const char *r[NT], *t[NT];
    s->n = 0;
    s->tables = mask;
    for (size_t i = 0; i < NT; i++)
        if (mask & (1u << i)) {
            r[s->n] = rg[i];
            t[s->n++] = "regiond-lease";
        }
    CHECK(lease_set_canon(r, t, s->n, s->list, sizeof(s->list)) == 0);
    CHECK(lease_set_fingerprint("regiond", s->list, s->fp) == 0);
}

static void s_attr(cJSON *it, const char *k, const char *type, const char *v)
{
    cJSON *a = cJSON_AddObjectToObject(it, k);
    cJSON_AddStringToObject(a, type, v);
}

/* Instance i writes table t: a take or renewal, or a release mark. */
static void put(size_t i, size_t t, bool released)
{
    const inst_t *in = &insts[i];
    bool won = lease_set_write_won(in->leader && !released, tab[t] && lease_set_counts(tab[t], in->set->fp));
    cJSON *it = cJSON_CreateObject();
    s_attr(it, "name", "S", "regiond");
    s_attr(it, "owner", "S", in->id);
    s_attr(it, "cluster", "S", "regiond");
    s_attr(it, "tables", "S", in->set->list);
    s_attr(it, "tset", "S", in->set->fp);
    if (released)
        cJSON_AddBoolToObject(cJSON_AddObjectToObject(it, "released"), "BOOL", 1);
    cJSON_AddBoolToObject(cJSON_AddObjectToObject(it, "won"), "BOOL", won);
    cJSON_Delete(tab[t]);
    tab[t] = it;
    owner[t] = (int)i;
}

static bool live(size_t t)
{
    return owner[t] >= 0 && insts[owner[t]].alive && insts[owner[t]].leader;
}

static size_t bits(unsigned m)
{
    return (size_t)__builtin_popcount(m);
}

/* One round; order: the instances' indexes, the first takes first.
 * Returns a mask of the instances that lead after it. */
static unsigned round_(const size_t *order, size_t n_order)
{
    size_t need[8];
    unsigned cand[8] = {0}, leaders = 0;
    for (size_t i = 0; i < n_insts; i++) {   /* the reads */
        const inst_t *in = &insts[i];
        size_t own = 0;
        bool refuse = false;
        for (size_t t = 0; t < NT; t++) {
            if (!(in->set->tables & (1u << t)))
                continue;
            own += tab[t] && lease_set_counts(tab[t], in->set->fp);
            refuse |= live(t) && insts[owner[t]].set != in->set;
            if (!live(t))
                cand[i] |= 1u << t;
        }
        need[i] = lease_set_need(in->set->n, own);
        if (refuse || !in->alive || in->leader || bits(cand[i]) < need[i])
            cand[i] = 0;
    }
    unsigned taken = 0;
    for (size_t k = 0; k < n_order; k++) {   /* the takes: each table to the first */
        size_t i = order[k];
        if (!cand[i])
            continue;
        insts[i].held = 0;
        for (size_t t = 0; t < NT; t++)
            if ((cand[i] & (1u << t)) && !(insts[i].deny & (1u << t)) && !(taken & (1u << t))) {
                put(i, t, false);
                insts[i].held |= 1u << t;
                taken |= 1u << t;
            }
    }
    for (size_t i = 0; i < n_insts; i++) {   /* the verdicts; leaders renew */
        inst_t *in = &insts[i];
        if (cand[i] && bits(in->held) >= need[i])
            in->leader = true;
        else if (cand[i])
            for (size_t t = 0; t < NT; t++)
                if (in->held & (1u << t))
                    put(i, t, true);   /* a split vote's release mark */
        if (!in->alive || !in->leader)
            continue;
        in->held &= ~in->deny;
        if (bits(in->held) * 2 <= in->set->n) {
            in->leader = false;
            continue;
        }
        for (size_t t = 0; t < NT; t++)
            if (in->held & (1u << t))
                put(i, t, false);
        leaders |= 1u << i;
    }
    return leaders;
}

static void reset(inst_t *v, size_t n)
{
    for (size_t t = 0; t < NT; t++) {
        cJSON_Delete(tab[t]);
        tab[t] = NULL;
        owner[t] = -1;
    }
    insts = v;
    n_insts = n;
}

static bool two_sets_lead(unsigned leaders)
{
    bool s3l = false, s5l = false;
    for (size_t i = 0; i < n_insts; i++)
        if (leaders & (1u << i)) {
            s3l |= insts[i].set == &s3;
            s5l |= insts[i].set == &s5;
        }
    return s3l && s5l;
}

static void test_parse(void)
{
    cJSON *it = cJSON_Parse("{\"name\":{\"S\":\"regiond\"}}");
    CHECK(lease_set_won(it));   /* no "won": an older regiond's item counts as it did */
    cJSON_AddItemToObject(it, "won", cJSON_Parse("{\"BOOL\":true}"));
    CHECK(lease_set_won(it));
    cJSON_ReplaceItemInObject(it, "won", cJSON_Parse("{\"BOOL\":false}"));
    CHECK(!lease_set_won(it));
    cJSON_ReplaceItemInObject(it, "won", cJSON_Parse("{\"S\":\"true\"}"));
    CHECK(!lease_set_won(it));
    cJSON_ReplaceItemInObject(it, "won", cJSON_Parse("{\"BOOL\":true,\"S\":\"x\"}"));
    CHECK(!lease_set_won(it));
    CHECK(!lease_set_counts(it, s3.fp));   /* names no set */
    cJSON_Delete(it);
    CHECK(!lease_set_counts(NULL, s3.fp));
    CHECK_EQ_INT((int)lease_set_need(5, 2), 5);
    CHECK_EQ_INT((int)lease_set_need(5, 3), 3);
    CHECK_EQ_INT((int)lease_set_need(3, 2), 2);
}

/* Known defect 19: L (S3) and N (S5) start on empty tables, L refused C,
 * N refused A and B: both split; N's marks lie in C, D and E.  Before the
 * fix they counted as N's own items (and L's marks as L's): L then led on A
 * and B, and when L died, G (S3, refused C) and N took at once: G won A and
 * B (a majority of S3), N won C, D and E (a majority of S5). */
static void test_defect19(void)
{
    inst_t v[] = {{"ctl-1", &s3, true, false, C, 0}, {"ctl-2", &s3, false, false, C, 0},
                  {"ctl-3", &s5, true, false, A | B, 0}};
    reset(v, 3);
    size_t order[] = {0, 2, 1};
    for (int r = 0; r < 4; r++) {
        unsigned l = round_(order, 3);
        CHECK(!two_sets_lead(l));
    }
    CHECK(owner[2] == 2 && owner[3] == 2 && owner[4] == 2);   /* N's marks in C, D, E */
    CHECK(!lease_set_counts(tab[2], s5.fp) && !lease_set_counts(tab[3], s5.fp));   /* they do not count */
    v[0].alive = v[0].leader = false;   /* L killed */
    v[1].alive = true;                  /* G starts */
    for (int r = 0; r < 6; r++) {
        unsigned l = round_(order, 3);
        if (two_sets_lead(l))
            fprintf(stderr, "  round %d after L's death: G and N lead at once\n", r);
        CHECK(!two_sets_lead(l));
    }
    /* the faults gone: one leader (each needs every table: whoever wins them all) */
    v[1].deny = v[2].deny = 0;
    unsigned l = 0;
    for (int r = 0; r < 4 && !l; r++)
        l = round_(order, 3);
    CHECK(bits(l) == 1);
}

/* Liveness: one set, a leader's items renewed (they count); it dies; two
 * followers split (Q refused B and C, R refused A and C); then C is down for
 * everyone.  Their marks replaced counted items, so they count: a majority
 * (A, B) is enough and a leader emerges.  Marks that never counted would
 * leave one counted item (C, the dead leader's), a take would need all three
 * tables, and with C down nobody would ever lead. */
static void test_split_keeps_count(void)
{
    inst_t v[] = {{"p", &s3, true, false, 0, 0}, {"q", &s3, false, false, B | C, 0},
                  {"r", &s3, false, false, A | C, 0}};
    reset(v, 3);
    size_t order[] = {0, 1, 2};
    CHECK(round_(order, 3) == 1u);      /* P leads (empty tables: it won all three) */
    CHECK(round_(order, 3) == 1u);      /* and renews */
    v[0].alive = v[0].leader = false;   /* P killed */
    v[1].alive = v[2].alive = true;
    CHECK(round_(order, 3) == 0);       /* Q wins A, R wins B: both split */
    CHECK(v[1].leader == false && v[2].leader == false && owner[0] == 1 && owner[1] == 2);
    CHECK(lease_set_counts(tab[0], s3.fp) && lease_set_counts(tab[1], s3.fp));
    v[1].deny = v[2].deny = C;          /* C down */
    unsigned l = 0;
    for (int r = 0; r < 3 && !l; r++)
        l = round_(order, 3);
    CHECK(l == 2u);                     /* Q leads on A and B */
}

int main(void)
{
    mkset(&s3, A | B | C);
    mkset(&s5, A | B | C | D | E);
    test_parse();
    test_defect19();
    test_split_keeps_count();
    reset(NULL, 0);
    return check_finish();
}
