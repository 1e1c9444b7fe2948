/* test_suspect — the rule that marks this observer's own view suspect
 * (cluster/suspect.h, issue 18 item 3): every region failing at once (more
 * than one region, each with a failure and no good probe within its
 * window), the coordination tables unanswered beyond their bound, a local
 * resource shortage; the hold after the last cause cleared; the reason. */
#include <stdio.h>
#include <string.h>

#include "cluster/suspect.h"
#include "config/utf8.h"
#include "tests/check.h"

static const suspect_cfg_t cfg = { 3000, 2000 };   /* tables 3 s, hold 2 s */

static suspect_region_t reg(uint64_t ok, uint64_t fail)
{
    return (suspect_region_t){ ok, fail, 2000, 0 };
}

static suspect_in_t in_of(const suspect_region_t *r, size_t n)
{
    return (suspect_in_t){ n, r, 0, NULL, false, NULL };
}

static void test_region_failing(void)
{
    suspect_region_t r = reg(0, 0);
    CHECK(!suspect_region_failing(&r, 10000));          /* never probed */
    r = reg(0, 9000);
    CHECK(suspect_region_failing(&r, 10000));           /* failed, never good */
    r = reg(0, 7000);
    CHECK(!suspect_region_failing(&r, 10000));          /* its last failure is older than the window */
    r = reg(8500, 9500);
    CHECK(!suspect_region_failing(&r, 10000));          /* a good probe within the window */
    r = reg(7999, 9500);
    CHECK(suspect_region_failing(&r, 10000));           /* the good one just out of the window */
    r = reg(9900, 9500);
    CHECK(!suspect_region_failing(&r, 10000));          /* good after the failure */
}

static void test_regions(void)
{
    suspect_t s = {0};
    suspect_region_t r[3] = { reg(1000, 9000), reg(0, 9500), reg(2000, 9900) };
    suspect_in_t in = in_of(r, 3);
    CHECK(suspect_step(&cfg, &s, &in, 10000));
    CHECK(s.suspect && s.causes == 1u << SUSPECT_REGIONS && s.since_ms == 10000);
    CHECK(strcmp(s.reason, "every region failing at once (3 of 3)") == 0);
    CHECK(!suspect_step(&cfg, &s, &in, 10100));          /* nothing changed */

    /* one region answers well: the cause clears, the view stays suspect for the hold */
    r[1].last_ok_ms = 10200;
    CHECK(suspect_step(&cfg, &s, &in, 10250));
    CHECK(s.suspect && s.causes == 0 && s.clearing);
    CHECK_CONTAINS(s.reason, "cleared, held 2000 ms: every region failing at once (3 of 3)");
    CHECK(!suspect_step(&cfg, &s, &in, 12249) && s.suspect);
    /* the cause back within the hold: still suspect, no flap, the hold starts over when it clears */
    r[0].last_fail_ms = r[1].last_fail_ms = r[2].last_fail_ms = 12300;
    r[1].last_ok_ms = 9000;
    CHECK(suspect_step(&cfg, &s, &in, 12300));
    CHECK(s.suspect && s.since_ms == 10000 && !s.clearing && strcmp(s.reason, "every region failing at once (3 of 3)") == 0);
    r[0].last_ok_ms = 12400;
    CHECK(suspect_step(&cfg, &s, &in, 12400) && s.suspect && s.clearing);
    CHECK(!suspect_step(&cfg, &s, &in, 14399) && s.suspect);
    CHECK(suspect_step(&cfg, &s, &in, 14400) && !s.suspect && s.reason[0] == '\0' && !s.clearing);
}

static void test_not_at_once(void)
{
    suspect_t s = {0};
    /* one region: its failure is indistinguishable from ours: never suspect by cause 1 */
    suspect_region_t one[1] = { reg(0, 9000) };
    suspect_in_t in = in_of(one, 1);
    CHECK(!suspect_step(&cfg, &s, &in, 10000) && !s.suspect);
    /* two of three failing: the third answers */
    suspect_region_t r[3] = { reg(0, 9000), reg(0, 9500), reg(9800, 9000) };
    in = in_of(r, 3);
    CHECK(!suspect_step(&cfg, &s, &in, 10000) && !s.suspect);
    /* all three failed, but one region's failures stopped longer than its window ago (not probed since) */
    r[2] = reg(0, 5000);
    CHECK(!suspect_step(&cfg, &s, &in, 10000) && !s.suspect);
    /* no region at all */
    in = in_of(NULL, 0);
    CHECK(!suspect_step(&cfg, &s, &in, 10000) && !s.suspect);
}

static void test_tables(void)
{
    suspect_t s = {0};
    suspect_region_t r[2] = { reg(9900, 0), reg(9900, 0) };
    suspect_in_t in = in_of(r, 2);
    in.tables_quiet_ms = 3000;   /* at the bound: not yet */
    in.tables_error = "us-east-1/regiond-lease: connect: refused\n\x01";
    CHECK(!suspect_step(&cfg, &s, &in, 10000) && !s.suspect);
    in.tables_quiet_ms = 3001;
    CHECK(suspect_step(&cfg, &s, &in, 10000) && s.suspect && s.causes == 1u << SUSPECT_TABLES);
    CHECK_CONTAINS(s.reason, "cannot reach the coordination tables (no majority answer for over 3000 ms: "
                             "us-east-1/regiond-lease: connect: refused?" "?)");
    in.tables_quiet_ms = 10;     /* answered again */
    CHECK(suspect_step(&cfg, &s, &in, 10500) && s.suspect && s.clearing);
    CHECK(!suspect_step(&cfg, &s, &in, 12000) && s.suspect);
    CHECK(suspect_step(&cfg, &s, &in, 12500) && !s.suspect);
}

static void test_resources_and_all(void)
{
    suspect_t s = {0};
    suspect_region_t r[2] = { reg(0, 9900), reg(0, 9900) };
    suspect_in_t in = in_of(r, 2);
    in.shortage = true;
    in.shortage_detail = "probes (socket: Too many open files)";
    in.tables_quiet_ms = 5000;
    CHECK(suspect_step(&cfg, &s, &in, 10000));
    CHECK(s.causes == ((1u << SUSPECT_REGIONS) | (1u << SUSPECT_TABLES) | (1u << SUSPECT_RESOURCES)));
    CHECK_CONTAINS(s.reason, "every region failing at once (2 of 2); cannot reach the coordination tables");
    CHECK_CONTAINS(s.reason, "local resource shortage: probes (socket: Too many open files)");
    /* causes going away one by one: a change of causes is reported, the view stays suspect */
    in.tables_quiet_ms = 0;
    CHECK(suspect_step(&cfg, &s, &in, 10100) && s.suspect && !s.clearing);
    CHECK(strstr(s.reason, "coordination") == NULL);
    in.shortage = false;
    r[0].last_ok_ms = 10150;
    CHECK(suspect_step(&cfg, &s, &in, 10200) && s.suspect && s.clearing);

    /* a long detail: the reason stays within its bound and valid UTF-8 */
    suspect_t t = {0};
    char big[1000];
    memset(big, 'y', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    big[100] = '\xc3';   /* a two-byte character cut by a bound, and bytes that are not UTF-8 */
    big[101] = '\xa9';
    big[119] = '\xc3';
    in.shortage = true;
    in.shortage_detail = big;
    in.tables_error = big;
    in.tables_quiet_ms = 99999;
    suspect_step(&cfg, &t, &in, 20000);
    CHECK(strlen(t.reason) <= SUSPECT_REASON_MAX && utf8_valid(t.reason, strlen(t.reason), NULL));
    suspect_step(&cfg, &t, &(suspect_in_t){ 0, NULL, 0, NULL, false, NULL }, 20001);
    CHECK(t.clearing && strlen(t.reason) <= SUSPECT_REASON_MAX && utf8_valid(t.reason, strlen(t.reason), NULL));
    CHECK(strcmp(suspect_cause_str(SUSPECT_TABLES), "tables") == 0 && strcmp(suspect_cause_str(SUSPECT_CAUSE_N), "invalid") == 0);
}

/* Known defect 34: a region's down verdict counts only when another region
 * answered after its run of failures was first seen. */
static void test_down_vouched(void)
{
    /* cut off from everything at 10000: r0's failures seen at 10250, r1's
     * last good probe seen at that same look, r2's before it */
    suspect_region_t r[3] = { { 9000, 10250, 2000, 10250 }, { 10250, 0, 2000, 0 }, { 9800, 0, 2000, 0 } };
    CHECK(!suspect_down_vouched(r, 3, 0));   /* no region answered after 10250 */
    r[1].last_fail_ms = r[1].fail_since_ms = 10500;
    r[2].last_fail_ms = r[2].fail_since_ms = 10500;
    CHECK(!suspect_down_vouched(r, 3, 0) && !suspect_down_vouched(r, 3, 1) && !suspect_down_vouched(r, 3, 2));
    /* r0 alone fails: r1 answers at the next look, after r0's run began */
    r[1] = (suspect_region_t){ 10500, 0, 2000, 0 };
    CHECK(suspect_down_vouched(r, 3, 0));
    CHECK(!suspect_down_vouched(r, 3, 2));   /* r2's run seen at 10500; r1 answered at that look: not after */
    r[1].last_ok_ms = 10750;
    CHECK(suspect_down_vouched(r, 3, 2));    /* r1 answered at a later look */
    /* a long outage of r0 (since 1000) stays vouched by answers before a later cut */
    r[0] = (suspect_region_t){ 900, 10250, 2000, 1000 };
    CHECK(suspect_down_vouched(r, 3, 0));
    /* a region whose targets partly fail (rule "all": down) vouches for itself with its answering
     * ones at a later look, whatever the others do (a review: seen both in every look, it never was) */
    suspect_region_t part[2] = { { 11000, 11000, 2000, 10500 }, { 0, 11000, 2000, 10500 } };
    CHECK(suspect_down_vouched(part, 2, 0));
    part[0].last_ok_ms = 10500;
    CHECK(!suspect_down_vouched(part, 2, 0));   /* its answers only at the look its run began */
    /* never a good probe anywhere: not vouched; one region: always */
    suspect_region_t z[2] = { { 0, 500, 2000, 500 }, { 0, 500, 2000, 500 } };
    CHECK(!suspect_down_vouched(z, 2, 0));
    CHECK(suspect_down_vouched(z, 1, 0));
    CHECK(suspect_down_vouched(z, 2, 5));    /* out of range: no opinion */
}

int main(void)
{
    test_down_vouched();
    test_region_failing();
    test_regions();
    test_not_at_once();
    test_tables();
    test_resources_and_all();
    return check_finish();
}
