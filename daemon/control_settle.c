/* control_settle — the controller's settle wait: a health-driven drain
 * waits decision.settle_ms so regions failing together are seen together.
 * See control_int.h. */
#include "daemon/control_int.h"

#include <sys/time.h>

#include <event2/event.h>

#include "core/loop.h"
#include "daemon/observers.h"
#include "daemon/targets.h"

/* A health-driven drain waits decision.settle_ms first: regions failing
 * together (a shared dependency) are then seen together, and fail open
 * instead of being drained one by one.  The wait counts from the latest
 * health change of any region (on this instance's monotonic clock), fixed
 * when a drain is first wanted: with a change inside the last settle_ms it
 * is the old wait or a shorter one; with none (a new leader whose probes saw
 * the region fail long before it won, an override released over a region
 * down for long) whatever failed together has been seen, and the drain goes
 * at once.  Not from the draining region's own change: a region down for
 * long that starts to want a drain because another came back (fail open
 * lifted) must wait, in case that one fails again.  True while waiting. */
bool ctrl_settling(const decide_out_t *o, const decide_region_t *in)
{
    uint64_t now = loop_now_ms(), start = UINT64_MAX;
    for (size_t i = 0; i < ctl.n; i++)
        if (o->rule[i] == DECIDE_RULE_HEALTH && in[i].live_weight > 0 && o->weight[i] < in[i].live_weight)
            start = 0;
    bool quorum = observers_quorum_on();   /* the combined states' changes then */
    for (size_t i = 0; start != UINT64_MAX && i < ctl.n; i++) {
        const region_t *reg = targets_region(i);
        uint64_t q = 0;
        if (quorum)
            observers_quorum_state(i, &q);
        uint64_t since = quorum ? (q ? q : now) : reg && reg->since_mono_ms ? reg->since_mono_ms : now;
        start = since > start ? since : start;
    }
    if (start == UINT64_MAX || ctl.cfg->decision.settle_ms == 0) {
        ctl.settle_until_ms = 0;
        return false;
    }
    if (ctl.settle_until_ms == 0) {
        ctl.settle_until_ms = (start < now ? start : now) + ctl.cfg->decision.settle_ms;
        if (now >= ctl.settle_until_ms)
            return false;
        uint64_t w = ctl.settle_until_ms - now;
        struct timeval tv = {(time_t)(w / 1000), (suseconds_t)(w % 1000) * 1000 + 1000};
        ctl.retry_why = "settle-elapsed";
        evtimer_add(ctl.retry, &tv);
        return true;
    }
    return now < ctl.settle_until_ms;
}
