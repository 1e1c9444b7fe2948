/* test_quorum — the observers' quorum rule (failover/quorum.h): k of n
 * fresh, non-suspect views decide a region down or up; fewer than k usable
 * views, a split or no side with k keep the previous state; a silent or
 * suspect observer is left out; this instance's own view is fresh by
 * definition but left out when suspect; a lone observer never decides when
 * k > 1; bad input is refused; a reload's new region list keeps each
 * region's combined state by name and the generation that added it, so a
 * region removed and added back is new however many reloads came between
 * (quorum_remap); the record of a decision (quorum_record) names the views
 * counted and those left out with why. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "failover/quorum.h"
#include "tests/check.h"

#define U HEALTH_UP
#define D HEALTH_DOWN
#define G HEALTH_DEGRADED
#define X HEALTH_UNKNOWN

static quorum_obs_t obs[QUORUM_MAX_OBS];
static health_state_t prev[QUORUM_MAX_REGIONS];
static quorum_out_t out;

/* n observers, observer 0 is self; all fresh, none suspect; region 0 as given, region 1 up. */
static void setup(size_t n, const health_state_t *r0)
{
    static const char *ids[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i"};
    memset(obs, 0, sizeof(obs));
    memset(prev, 0, sizeof(prev));
    for (size_t i = 0; i < n; i++) {
        obs[i] = (quorum_obs_t){.id = ids[i], .self = i == 0, .seen = i != 0, .fresh = i != 0};
        obs[i].state[0] = r0[i];
        obs[i].state[1] = U;
    }
}

static health_state_t run(size_t n, uint32_t k, health_state_t p)
{
    prev[0] = p;
    CHECK_EQ_INT(quorum_combine(obs, n, k, 2, prev, &out), 0);
    return out.state[0];
}

static void majority(void)
{
    setup(3, (health_state_t[]){D, D, U});
    CHECK_EQ_INT(run(3, 2, U), D);
    CHECK_EQ_INT(out.why[0], QUORUM_WHY_DECIDED);
    CHECK_EQ_INT(out.down[0], 3u);
    CHECK_EQ_INT(out.up[0], 4u);
    CHECK_EQ_INT(out.usable, 7u);
    CHECK(out.ok);
    CHECK_EQ_INT(out.state[1], U);
    setup(3, (health_state_t[]){D, U, U});       /* the leader alone sees it fail */
    CHECK_EQ_INT(run(3, 2, U), U);
    setup(3, (health_state_t[]){D, U, U});
    CHECK_EQ_INT(run(3, 2, X), U);               /* from the start: up by quorum */
    setup(3, (health_state_t[]){U, D, D});       /* the others see it: down though self says up */
    CHECK_EQ_INT(run(3, 2, U), D);
    setup(3, (health_state_t[]){D, D, D});
    CHECK_EQ_INT(run(3, 3, U), D);
    setup(3, (health_state_t[]){D, D, U});       /* k = n: one dissent keeps it */
    CHECK_EQ_INT(run(3, 3, U), U);
    CHECK_EQ_INT(out.why[0], QUORUM_WHY_UNDECIDED);
    setup(3, (health_state_t[]){U, U, D});       /* restore needs k up: k = 3, 2 up -> still down */
    CHECK_EQ_INT(run(3, 3, D), D);
    CHECK_EQ_INT(out.why[0], QUORUM_WHY_UNDECIDED);
    setup(3, (health_state_t[]){U, U, U});
    CHECK_EQ_INT(run(3, 3, D), U);
}

static void silent_and_suspect(void)
{
    setup(3, (health_state_t[]){D, D, D});
    obs[1].fresh = false;                        /* b silent: a and c still make 2 */
    CHECK_EQ_INT(run(3, 2, U), D);
    CHECK_EQ_INT(out.silent, 2u);
    obs[2].seen = false;                         /* c never seen: only self left */
    CHECK_EQ_INT(run(3, 2, U), U);
    CHECK(!out.ok);
    CHECK_EQ_INT(out.why[0], QUORUM_WHY_SHORT);
    CHECK_EQ_INT(out.silent, 6u);
    CHECK_EQ_INT(out.n_usable, 1u);
    CHECK_EQ_INT(out.down[0], 1u);               /* its vote is shown, not used */
    CHECK_EQ_INT(run(3, 2, D), D);               /* no restore either */
    setup(3, (health_state_t[]){U, U, U});
    obs[1].fresh = obs[2].fresh = false;
    CHECK_EQ_INT(run(3, 2, D), D);               /* a lone "up" does not restore */
    CHECK_EQ_INT(out.state[1], X);               /* region 1: prev unknown, held */
    setup(3, (health_state_t[]){D, D, D});
    obs[2].suspect = true;                       /* suspect left out: 2 usable still */
    CHECK_EQ_INT(run(3, 2, U), D);
    CHECK_EQ_INT(out.suspect, 4u);
    CHECK_EQ_INT(out.down[0], 3u);
    obs[1].suspect = true;
    CHECK_EQ_INT(run(3, 2, U), U);
    CHECK(!out.ok);
    setup(3, (health_state_t[]){D, U, U});
    obs[0].suspect = true;                       /* own view suspect: out too */
    CHECK_EQ_INT(run(3, 2, D), U);
    CHECK_EQ_INT(out.suspect, 1u);
    CHECK_EQ_INT(out.usable, 6u);
    obs[1].fresh = false;
    CHECK_EQ_INT(run(3, 2, D), D);
    CHECK(!out.ok);
    setup(3, (health_state_t[]){D, D, D});       /* self is fresh even when marked not seen/fresh */
    obs[0].seen = obs[0].fresh = false;
    obs[2].fresh = false;
    CHECK_EQ_INT(run(3, 2, U), D);
    CHECK_EQ_INT(out.silent, 4u);
    setup(3, (health_state_t[]){D, D, D});       /* silent but suspect counts as silent */
    obs[2].fresh = false;
    obs[2].suspect = true;
    CHECK_EQ_INT(run(3, 2, U), D);
    CHECK_EQ_INT(out.silent, 4u);
    CHECK_EQ_INT(out.suspect, 0u);
}

static void k_edges(void)
{
    setup(1, (health_state_t[]){D});             /* one observer, k 1: today's behaviour */
    CHECK_EQ_INT(run(1, 1, U), D);
    setup(1, (health_state_t[]){G});
    CHECK_EQ_INT(run(1, 1, D), G);
    setup(1, (health_state_t[]){X});
    CHECK_EQ_INT(run(1, 1, U), U);               /* no opinion: held */
    setup(4, (health_state_t[]){D, D, U, U});    /* k 2 of 4: split, held */
    CHECK_EQ_INT(run(4, 2, U), U);
    CHECK_EQ_INT(out.why[0], QUORUM_WHY_SPLIT);
    CHECK_EQ_INT(run(4, 2, D), D);
    setup(3, (health_state_t[]){D, U, U});       /* k 1 of 3: split */
    CHECK_EQ_INT(run(3, 1, U), U);
    CHECK_EQ_INT(out.why[0], QUORUM_WHY_SPLIT);
    setup(3, (health_state_t[]){D, X, X});       /* k 1: one down, others no opinion */
    CHECK_EQ_INT(run(3, 1, U), D);
    setup(5, (health_state_t[]){D, D, D, U, U}); /* 3 of 5 */
    CHECK_EQ_INT(run(5, 3, U), D);
    setup(5, (health_state_t[]){D, D, U, U, X});
    CHECK_EQ_INT(run(5, 3, U), U);
    CHECK_EQ_INT(out.why[0], QUORUM_WHY_UNDECIDED);
    setup(5, (health_state_t[]){D, D, D, U, U});
    obs[2].fresh = false;                        /* 4 usable >= 3, but only 2 down */
    CHECK_EQ_INT(run(5, 3, U), U);
    CHECK(out.ok);
    obs[3].fresh = false;                        /* 3 usable: a, b, e: 2 down, 1 up */
    CHECK_EQ_INT(run(5, 3, U), U);
    CHECK_EQ_INT(out.why[0], QUORUM_WHY_UNDECIDED);
    setup(9, (health_state_t[]){D, D, D, D, D, U, U, U, U});
    CHECK_EQ_INT(run(9, 5, U), D);
    CHECK_EQ_INT(out.down[0], 0x1fu);
}

static void degraded(void)
{
    setup(3, (health_state_t[]){G, G, U});       /* serving by 3, up by 1: degraded */
    CHECK_EQ_INT(run(3, 2, D), G);
    setup(3, (health_state_t[]){G, U, U});
    CHECK_EQ_INT(run(3, 2, D), U);
    setup(3, (health_state_t[]){G, D, D});
    CHECK_EQ_INT(run(3, 2, U), D);
    setup(3, (health_state_t[]){G, D, X});       /* nobody has k */
    CHECK_EQ_INT(run(3, 2, U), U);
    CHECK_EQ_INT(out.degraded[0], 1u);
}

static void bad_input(void)
{
    setup(3, (health_state_t[]){D, D, D});
    CHECK_EQ_INT(quorum_combine(obs, 3, 0, 2, prev, &out), -1);
    CHECK_EQ_INT(quorum_combine(obs, 3, 4, 2, prev, &out), -1);
    CHECK_EQ_INT(quorum_combine(obs, 0, 1, 2, prev, &out), -1);
    CHECK_EQ_INT(quorum_combine(obs, QUORUM_MAX_OBS + 1, 1, 2, prev, &out), -1);
    CHECK_EQ_INT(quorum_combine(obs, 3, 2, QUORUM_MAX_REGIONS + 1, prev, &out), -1);
    CHECK_EQ_INT(quorum_combine(NULL, 3, 2, 2, prev, &out), -1);
    obs[1].state[1] = (health_state_t)7;
    CHECK_EQ_INT(quorum_combine(obs, 3, 2, 2, prev, &out), -1);
    CHECK(!out.ok);
    obs[1].state[1] = U;
    prev[0] = (health_state_t)9;
    CHECK_EQ_INT(quorum_combine(obs, 3, 2, 2, prev, &out), -1);
    prev[0] = U;
    CHECK_EQ_INT(quorum_combine(obs, 3, 2, 0, prev, &out), 0);   /* no regions: only the counts */
    CHECK(out.ok);
    CHECK_CONTAINS(quorum_why_str(QUORUM_WHY_SHORT), "no-quorum");
    CHECK_CONTAINS(quorum_why_str((quorum_why_t)42), "invalid");
}

/* Every combination of 3 observers' states (4^3) x freshness (2^2, self always fresh) x suspect (2^3) x
 * prev (4) with k 1..3: the result is prev unless k usable views agree; never decided by fewer than k. */
static void exhaustive(void)
{
    const health_state_t st[] = {X, U, G, D};
    unsigned bad = 0;
    for (unsigned m = 0; m < 64 * 4 * 8 * 4; m++)
        for (uint32_t k = 1; k <= 3; k++) {
            unsigned x = m;
            setup(3, (health_state_t[]){st[x & 3], st[(x >> 2) & 3], st[(x >> 4) & 3]});
            obs[1].fresh = (x >> 6) & 1;
            obs[2].fresh = (x >> 7) & 1;
            for (size_t i = 0; i < 3; i++)
                obs[i].suspect = (x >> (8 + i)) & 1;
            health_state_t p = st[(x >> 11) & 3], s = run(3, k, p);
            unsigned usable = 0, dn = 0, sv = 0;
            for (size_t i = 0; i < 3; i++) {
                bool f = i == 0 || obs[i].fresh;
                if (!f || obs[i].suspect)
                    continue;
                usable++;
                dn += obs[i].state[0] == D;
                sv += obs[i].state[0] == U || obs[i].state[0] == G;
            }
            health_state_t want = p;
            if (usable >= k && dn >= k && sv < k)
                want = D;
            else if (usable >= k && sv >= k && dn < k)
                want = s == U || s == G ? s : U;   /* which of the two checked in degraded() */
            bad += s != want || (s != p && usable < k) || (out.ok != (usable >= k));
        }
    CHECK_EQ_INT(bad, 0);
}

/* A reload removes a middle region, moves one, adds one, and adds a removed one back. */
static void remap(void)
{
    const quorum_rid_t old[4] = {{"r1", 1}, {"r2", 1}, {"r3", 1}, {"r4", 1}};
    const health_state_t ost[4] = {U, D, G, D};
    const uint64_t osi[4] = {10, 20, 30, 40};
    /* generation 2: r2 removed, r4 moved first, r5 new */
    const quorum_rid_t now1[4] = {{"r4", 1}, {"r1", 1}, {"r5", 2}, {"r3", 1}};
    health_state_t st[4];
    uint64_t si[4];
    quorum_remap(old, ost, osi, 4, now1, 4, 99, st, si);
    CHECK_EQ_INT(st[0], D);   /* r4 keeps down, not r1's up */
    CHECK_EQ_INT((int)si[0], 40);
    CHECK_EQ_INT(st[1], U);
    CHECK_EQ_INT((int)si[1], 10);
    CHECK_EQ_INT(st[2], X);   /* new: unknown since now */
    CHECK_EQ_INT((int)si[2], 99);
    CHECK_EQ_INT(st[3], G);   /* r3 after a removed middle region: kept, not reset */
    CHECK_EQ_INT((int)si[3], 30);
    /* r2 added back (generation 3) after the reload that removed it: unknown, not its old down */
    const quorum_rid_t now2[2] = {{"r1", 1}, {"r2", 3}};
    health_state_t st2[2];
    uint64_t si2[2];
    quorum_remap(now1, st, si, 4, now2, 2, 150, st2, si2);
    CHECK_EQ_INT(st2[0], U);
    CHECK_EQ_INT(st2[1], X);
    CHECK_EQ_INT((int)si2[1], 150);
    /* known defect 33: r2 removed by one reload (generation 2) and added back
     * by the next (generation 3) with no quorum update between them: the
     * remap sees the list before the first and after the second; r2 is
     * another region (born 3), not the old one (born 1) */
    const quorum_rid_t now3[4] = {{"r1", 1}, {"r2", 3}, {"r3", 1}, {"r4", 1}};
    quorum_remap(old, ost, osi, 4, now3, 4, 200, st, si);
    CHECK_EQ_INT(st[0], U);
    CHECK_EQ_INT(st[1], X);
    CHECK_EQ_INT((int)si[1], 200);
    CHECK_EQ_INT(st[2], G);
    CHECK_EQ_INT(st[3], D);
    CHECK_EQ_INT((int)si[3], 40);
    /* start: nothing before */
    quorum_remap(old, ost, osi, 0, old, 4, 7, st, si);
    for (size_t r = 0; r < 4; r++)
        CHECK_EQ_INT(st[r] == X && si[r] == 7, 1);
}

/* The record of region 0 after run(n, k, p). */
static bool record(size_t n, uint32_t k, health_state_t p, quorum_record_t *rec)
{
    run(n, k, p);
    return quorum_record(obs, n, k, 0, p, &out, rec);
}

/* A record case: 3 observers' views of region 0 (a is self) and what each
 * is beside ('.' fresh, 's' silent, 'S' suspect, 'u' never read), k 2, the
 * state held; made: a record is wanted, want its every field. */
typedef struct {
    const char *what, *flags;
    health_state_t view[3], prev;
    bool made;
    quorum_record_t want;
} rec_case_t;

#define L_ QUORUM_LEFT_NONE
static const rec_case_t rec_cases[] = {
    {"c cut off: silent, its last view said up; a drain on a and b", "..s", {D, D, U}, U, true,
     {.call = QUORUM_CALL_DOWN, .from = U, .to = D, .would = X, .why = QUORUM_WHY_DECIDED, .counted = 3, .k = 2,
      .n = 3, .left = {L_, L_, QUORUM_LEFT_SILENT}, .vote = {D, D, U}}},
    {"already down, k agree: nothing to record", "..s", {D, D, U}, D, false, {0}},
    {"b suspect, c never read: a lone down view, the drain refused", ".Su", {D, D, X}, U, true,
     {.call = QUORUM_CALL_REFUSED, .from = U, .to = U, .would = D, .why = QUORUM_WHY_SHORT, .counted = 1, .k = 2,
      .n = 3, .left = {L_, QUORUM_LEFT_SUSPECT, QUORUM_LEFT_NO_VIEW}, .vote = {D, D, X}}},
    {"held down, one fresh view up: a restore refused", ".ss", {U, U, U}, D, true,
     {.call = QUORUM_CALL_REFUSED, .from = D, .to = D, .would = U, .why = QUORUM_WHY_SHORT, .counted = 1, .k = 2,
      .n = 3, .left = {L_, QUORUM_LEFT_SILENT, QUORUM_LEFT_SILENT}, .vote = {U, U, U}}},
    {"the restore itself", "...", {U, U, U}, D, true,
     {.call = QUORUM_CALL_UP, .from = D, .to = U, .would = X, .why = QUORUM_WHY_DECIDED, .counted = 7, .k = 2,
      .n = 3, .left = {L_, L_, L_}, .vote = {U, U, U}}},
    {"c has no opinion: no side has 2", "...", {D, U, X}, U, true,
     {.call = QUORUM_CALL_REFUSED, .from = U, .to = U, .would = D, .why = QUORUM_WHY_UNDECIDED, .counted = 3, .k = 2,
      .n = 3, .left = {L_, L_, QUORUM_LEFT_NO_OPINION}, .vote = {D, U, X}}},
    {"a lone dissenter against k agreeing: no record", "...", {D, U, U}, U, false, {0}},
    {"held up, nobody says down: no record", ".ss", {U, U, U}, U, false, {0}},
};
#undef L_

/* Set up c's observers, then the record it makes. */
static bool record_case(const rec_case_t *c, quorum_record_t *rec)
{
    setup(3, c->view);
    for (size_t i = 0; i < 3; i++) {
        obs[i].fresh = obs[i].fresh && !strchr("su", c->flags[i]);
        obs[i].seen = obs[i].seen && c->flags[i] != 'u';
        obs[i].suspect = c->flags[i] == 'S';
    }
    return record(3, 2, c->prev, rec);
}

static void check_record(const rec_case_t *c)
{
    int failed = check_fail_;
    quorum_record_t rec, again;
    const quorum_record_t *w = &c->want;
    CHECK_EQ_INT(record_case(c, &rec), c->made);
    if (c->made) {
        CHECK_EQ_INT(rec.call, w->call);
        CHECK_EQ_INT(rec.from, w->from);
        CHECK_EQ_INT(rec.to, w->to);
        CHECK_EQ_INT(rec.would, w->would);
        CHECK_EQ_INT(rec.why, w->why);
        CHECK_EQ_INT(rec.counted, w->counted);
        CHECK_EQ_INT(rec.k, w->k);
        CHECK_EQ_INT(rec.n, w->n);
        for (size_t i = 0; i < 3; i++) {
            CHECK_EQ_INT(rec.left[i], w->left[i]);
            CHECK_EQ_INT(rec.vote[i], w->vote[i]);
        }
        CHECK(record_case(c, &again));                       /* the same inputs: the same bytes */
        CHECK(memcmp(&rec, &again, sizeof(rec)) == 0);
    }
    if (check_fail_ > failed)
        fprintf(stderr, "  (record case: %s)\n", c->what);
}

static void records(void)
{
    quorum_record_t rec;
    for (size_t i = 0; i < sizeof(rec_cases) / sizeof(rec_cases[0]); i++)
        check_record(&rec_cases[i]);
    CHECK(strcmp(quorum_left_str(QUORUM_LEFT_SILENT), "silent") == 0);
    CHECK(strcmp(quorum_call_str(QUORUM_CALL_DOWN), "down") == 0);
    CHECK(strcmp(quorum_call_str(QUORUM_CALL_REFUSED), "refused") == 0);
    CHECK(strcmp(quorum_call_str(QUORUM_CALL_FORGOTTEN), "forgotten") == 0);
    setup(3, (health_state_t[]){U, U, U});
    CHECK(!quorum_record(obs, 0, 2, 0, U, &out, &rec));   /* bad input */
    CHECK(!quorum_record(obs, 3, 2, QUORUM_MAX_REGIONS, U, &out, &rec));
    CHECK(strcmp(quorum_left_str(QUORUM_LEFT_DRILLED), "drilled") == 0);
    CHECK(strcmp(quorum_left_str(QUORUM_LEFT_COUNT), "invalid") == 0);
    CHECK(strcmp(quorum_call_str(QUORUM_CALL_COUNT), "invalid") == 0);
}

int main(void)
{
    remap();
    majority();
    silent_and_suspect();
    k_edges();
    degraded();
    bad_input();
    exhaustive();
    records();
    return check_finish();
}
