/* test_ctrl_apply — what a decision says of its sending (ctrl_apply_state,
 * daemon/control.c: status failover.applies, each decision's "applied" in
 * /v1/decisions and the decision event).  An instance that does not hold
 * the lease (a follower, or a deposed leader whose own probes still decide)
 * sends nothing, so its decisions say "follower", never "apply" (a deposed
 * leader's decisions said "apply" while nothing reached Route 53: found by
 * the A->B->A test's author).  The other states come first as before: no
 * change, monitor-only, dry-run, frozen.
 *
 * The seam: the real daemon/control.c (from regiond_core) with
 * leader_may_act, route53_needs_correction and state_safe_mode replaced at
 * link time (-Wl,--wrap, tests/CMakeLists.txt). */
#include <string.h>

#include "daemon/control_int.h"
#include "tests/check.h"

static bool may_act = true, correction, safe_mode;
bool __wrap_leader_may_act(void) { return may_act; }
bool __wrap_route53_needs_correction(void) { return correction; }
bool __wrap_state_safe_mode(void) { return safe_mode; }

static void expect(const decide_out_t *o, const char *want)
{
    const char *got = ctrl_apply_state(o);
    CHECK_CONTAINS(got, want);
    CHECK(strcmp(got, want) == 0);
}

int main(void)
{
    static cfg_t cfg;
    decide_out_t o;
    memset(&o, 0, sizeof(o));
    ctl.cfg = &cfg;
    cfg.route53.enabled = true;
    o.change = true;

    expect(&o, "apply");                 /* the lease holder (or no cluster) */
    may_act = false;
    expect(&o, "follower");              /* not the lease holder: nothing is sent */
    correction = true;
    o.change = false;
    expect(&o, "follower");              /* a drift to correct: still not its to send */
    correction = false;
    expect(&o, "no-change");
    o.change = true;
    ctl.frozen = true;
    expect(&o, "frozen");                /* a freeze says so first, on every instance */
    ctl.frozen = false;
    safe_mode = true;
    expect(&o, "frozen");
    safe_mode = false;
    cfg.decision.dry_run = true;
    expect(&o, "dry-run");
    cfg.decision.dry_run = false;
    cfg.route53.enabled = false;
    expect(&o, "monitor-only");
    cfg.route53.enabled = true;
    may_act = true;
    expect(&o, "apply");
    return check_finish();
}
