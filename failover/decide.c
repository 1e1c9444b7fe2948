/* decide — the decision engine (see decide.h for the rules and their order).
 *
 * decide() runs the steps of decide.h on out->weight/out->rule in place:
 * base weights, fail open, min healthy, all-zero guard, then deferral
 * (hold-down and damping), and writes the reason last from what each step
 * recorded in the context.  Nothing here allocates or keeps state.
 *
 * This file: the steps up to the all-zero guard, the top rule, decide()
 * and decide_check_drain(); deferral is in decide_defer.c, the reason in
 * decide_reason.c. */
#include "failover/decide.h"
#include "failover/decide_int.h"

#include <stdio.h>
#include <string.h>

#define DECIDE_W_MAX 255

const char *decide_rule_str(decide_rule_t r)
{
    switch (r) {
    case DECIDE_RULE_NONE:        return "none";
    case DECIDE_RULE_HEALTH:      return "health";
    case DECIDE_RULE_OVERRIDE:    return "override";
    case DECIDE_RULE_FAIL_OPEN:   return "fail_open";
    case DECIDE_RULE_MIN_HEALTHY: return "min_healthy_regions";
    case DECIDE_RULE_ALL_ZERO:    return "all_zero_guard";
    case DECIDE_RULE_HOLD_DOWN:   return "hold_down";
    case DECIDE_RULE_DAMPING:     return "damping";
    case DECIDE_RULE_DATA_GATE:   return "data_gate";
    case DECIDE_RULE_COUNT:       break;
    }
    return "invalid";
}
static bool weight_ok(int w)
{
    return w >= 0 && w <= DECIDE_W_MAX;
}

/* 0 when one region's fields are in range, else -1 with the fault in why. */
static int validate_region(const decide_region_t *r, size_t i, char *why, size_t whylen)
{
    const char *name = r->name ? r->name : "";

    if (!r->name || !*r->name)
        snprintf(why, whylen, "bad input: region %zu has no name", i);
    else if ((unsigned)r->health > HEALTH_DOWN)
        snprintf(why, whylen, "bad input: %s health %d", name, (int)r->health);
    else if ((unsigned)r->override > DECIDE_OV_PIN)
        snprintf(why, whylen, "bad input: %s override %d", name, (int)r->override);
    else if (!weight_ok(r->configured_weight))
        snprintf(why, whylen, "bad input: %s configured_weight %d (want 0..255)",
                 name, r->configured_weight);
    else if (r->live_weight != -1 && !weight_ok(r->live_weight))
        snprintf(why, whylen, "bad input: %s live_weight %d (want -1..255)",
                 name, r->live_weight);
    else if (r->override == DECIDE_OV_PIN && !weight_ok(r->pin_weight))
        snprintf(why, whylen, "bad input: %s pin_weight %d (want 0..255)", name, r->pin_weight);
    else
        return 0;
    return -1;
}

/* 0 when the inputs are usable, else -1 with the fault in why. */
static int validate(const decide_cfg_t *cfg, const decide_region_t *in, size_t n,
                    const decide_history_t *hist, char *why, size_t whylen)
{
    if (!cfg || (n && !in)) {
        snprintf(why, whylen, "%s", "bad input: no config or regions");
        return -1;
    }
    if (n > DECIDE_MAX_REGIONS) {
        snprintf(why, whylen, "bad input: %zu regions (max %d)", n, DECIDE_MAX_REGIONS);
        return -1;
    }
    if (cfg->degraded_weight > DECIDE_W_MAX ||
        (cfg->fail_open != DECIDE_FAIL_OPEN_KEEP && cfg->fail_open != DECIDE_FAIL_OPEN_RESTORE)) {
        snprintf(why, whylen, "bad input: degraded_weight %d or fail_open %d",
                 cfg->degraded_weight, (int)cfg->fail_open);
        return -1;
    }
    if (hist && hist->n > DECIDE_HISTORY) {
        snprintf(why, whylen, "bad input: history of %zu (max %d)", hist->n, DECIDE_HISTORY);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (validate_region(&in[i], i, why, whylen) < 0)
            return -1;
    return 0;
}

/* The live weight, or the configured one when live is unknown. */
static int live_or_configured(const decide_region_t *r)
{
    return r->live_weight >= 0 ? r->live_weight : r->configured_weight;
}

/* Step 1: the region's weight from its override or health.  *rule is
 * OVERRIDE under an override, else HEALTH when the weight differs from live
 * and NONE when it does not. */
static int base_weight(const decide_cfg_t *cfg, const decide_region_t *r, decide_rule_t *rule)
{
    int w;

    if (r->override == DECIDE_OV_DRAIN || r->override == DECIDE_OV_PIN) {
        *rule = DECIDE_RULE_OVERRIDE;
        return r->override == DECIDE_OV_DRAIN ? 0 : r->pin_weight;
    }
    switch (r->health) {
    case HEALTH_UP:
        w = r->configured_weight;
        break;
    case HEALTH_DEGRADED:
        w = r->configured_weight;
        if (cfg->degraded_weight >= 0 && cfg->degraded_weight < w)
            w = cfg->degraded_weight;
        break;
    case HEALTH_DOWN:
        w = 0;
        break;
    default:
        w = live_or_configured(r);
        break;
    }
    *rule = w != r->live_weight ? DECIDE_RULE_HEALTH : DECIDE_RULE_NONE;
    return w;
}

/* Step 2: with no region UP or DEGRADED (and at least one DOWN), keep or
 * restore every region that has no override.  RESTORE only when every region
 * is DOWN: with some still UNKNOWN (a start, before their first verdicts) it
 * keeps, so a region drained before the start is not restored on one verdict. */
static void step_fail_open(decide_ctx_t *c)
{
    bool restore = decide_fail_open_restores(c);

    if (c->down + c->unknown < c->n || c->down == 0)
        return;
    c->fail_open = true;
    for (size_t i = 0; i < c->n; i++) {
        const decide_region_t *r = &c->in[i];

        if (r->override != DECIDE_OV_NONE)
            continue;
        c->out->weight[i] = restore ? r->configured_weight : live_or_configured(r);
        c->out->rule[i] = DECIDE_RULE_FAIL_OPEN;
    }
}

/* Step 3: keep regions that serve now and would be drained at their live
 * weight until min_healthy_regions serve, healthiest first. */
static void step_min_healthy(decide_ctx_t *c)
{
    uint32_t min = c->cfg->min_healthy_regions;

    c->serving = count_serving(c);
    if (c->fail_open || min == 0)
        return;
    for (int rank = 0; rank <= 3 && c->serving < min; rank++) {
        for (size_t i = 0; i < c->n && c->serving < min; i++) {
            const decide_region_t *r = &c->in[i];

            if (c->out->weight[i] != 0 || r->live_weight <= 0 || health_rank(r->health) != rank)
                continue;
            c->out->weight[i] = r->live_weight;
            c->out->rule[i] = DECIDE_RULE_MIN_HEALTHY;
            c->kept++;
            c->serving++;
        }
    }
}

/* Step 4: never write 0 everywhere; keep live weights (unknown ones as 0),
 * or configured ones when no live weight is above 0. */
static void step_all_zero(decide_ctx_t *c)
{
    bool any_live = false;

    if (c->n == 0 || count_serving(c) > 0)
        return;
    for (size_t i = 0; i < c->n; i++)
        any_live |= c->in[i].live_weight > 0;
    c->all_zero = true;
    c->all_zero_configured = !any_live;
    for (size_t i = 0; i < c->n; i++) {
        const decide_region_t *r = &c->in[i];
        int live = r->live_weight > 0 ? r->live_weight : 0;

        if (any_live || r->drift_held)
            c->out->weight[i] = live;
        else
            c->out->weight[i] = r->health == HEALTH_DOWN ? live : r->configured_weight;
        c->out->rule[i] = DECIDE_RULE_ALL_ZERO;
        c->held += r->drift_held;
    }
    if (any_live || count_serving(c) > 0 || c->held > 0)
        return;
    for (size_t i = 0; i < c->n; i++)   /* nobody else serves: as before, configured everywhere */
        c->out->weight[i] = c->in[i].configured_weight;
}
/* Priority of a rule for top_rule (see decide.h). */
static int rule_rank(decide_rule_t r)
{
    switch (r) {
    case DECIDE_RULE_FAIL_OPEN:   return 8;
    case DECIDE_RULE_ALL_ZERO:    return 7;
    case DECIDE_RULE_MIN_HEALTHY: return 6;
    case DECIDE_RULE_DATA_GATE:   return 4;
    case DECIDE_RULE_OVERRIDE:    return 3;
    case DECIDE_RULE_HEALTH:      return 2;
    case DECIDE_RULE_HOLD_DOWN:
    case DECIDE_RULE_DAMPING:     return 1;
    default:                      return 0;
    }
}

/* The most important rule that fired; an override fires only when it moves
 * a weight. */
static decide_rule_t top_rule(const decide_ctx_t *c)
{
    decide_rule_t top = c->fail_open ? DECIDE_RULE_FAIL_OPEN
                      : c->all_zero ? DECIDE_RULE_ALL_ZERO : DECIDE_RULE_NONE;

    for (size_t i = 0; i < c->n; i++) {
        decide_rule_t r = c->out->rule[i];

        if (r == DECIDE_RULE_OVERRIDE && (c->out->weight[i] == c->in[i].live_weight || c->in[i].drift_held))
            continue;
        if (rule_rank(r) > rule_rank(top))
            top = r;
    }
    return top;
}
/* Step 1b: no traffic moves to a region whose data is not safe. */
static void step_data_gate(decide_ctx_t *c)
{
    bool someone_out = false;
    for (size_t i = 0; i < c->n; i++)
        if (!c->in[i].data_blocked && c->in[i].configured_weight > 0 && c->out->weight[i] == 0)
            someone_out = true;
    for (size_t i = 0; i < c->n; i++) {
        const decide_region_t *r = &c->in[i];
        if (!r->data_blocked || r->override != DECIDE_OV_NONE)
            continue;
        int w = c->out->weight[i];
        if (someone_out && w != 0) {
            c->out->weight[i] = 0;
            c->out->rule[i] = DECIDE_RULE_DATA_GATE;
        } else if (!someone_out && r->live_weight >= 0 && w > r->live_weight) {
            c->out->weight[i] = r->live_weight;
            c->out->rule[i] = DECIDE_RULE_DATA_GATE;
        }
    }
}

/* Step 1 for every region, and the health counts step 2 needs. */
static void step_base(decide_ctx_t *c)
{
    for (size_t i = 0; i < c->n; i++) {
        c->out->weight[i] = base_weight(c->cfg, &c->in[i], &c->out->rule[i]);
        if (c->in[i].health == HEALTH_DOWN)
            c->down++;
        else if (c->in[i].health == HEALTH_UNKNOWN)
            c->unknown++;
    }
}

int decide(const decide_cfg_t *cfg, const decide_region_t *in, size_t n,
           const decide_history_t *hist, uint64_t now_ms, decide_out_t *out)
{
    decide_ctx_t c;

    if (!out)
        return -1;
    memset(out, 0, sizeof(*out));
    if (validate(cfg, in, n, hist, out->reason, sizeof(out->reason)) < 0)
        return -1;
    memset(&c, 0, sizeof(c));
    c.cfg = cfg;
    c.in = in;
    c.n = n;
    c.out = out;

    step_base(&c);
    step_data_gate(&c);
    step_fail_open(&c);
    step_min_healthy(&c);
    step_all_zero(&c);
    decide_step_defer(&c, hist, now_ms);

    for (size_t i = 0; i < n; i++)   /* a drift_held region is never changed (left without a record: 0) */
        out->change |= !in[i].drift_held && out->weight[i] != in[i].live_weight;
    out->alarm = c.fail_open || c.all_zero;
    out->top_rule = top_rule(&c);
    decide_write_reason(&c);
    return 0;
}

decide_rule_t decide_check_drain(const decide_cfg_t *cfg, const decide_region_t *in, size_t n,
                                 size_t idx, char *why, size_t whylen)
{
    char scratch[DECIDE_REASON_MAX];
    char *msg = (why && whylen) ? why : scratch;
    size_t msglen = (why && whylen) ? whylen : sizeof(scratch);
    size_t serving = 0;
    decide_rule_t rule;

    if (validate(cfg, in, n, NULL, msg, msglen) < 0)
        return DECIDE_RULE_COUNT;
    if (idx >= n) {
        snprintf(msg, msglen, "bad input: region index %zu of %zu", idx, n);
        return DECIDE_RULE_COUNT;
    }
    for (size_t i = 0; i < n; i++)
        if (i != idx && base_weight(cfg, &in[i], &rule) > 0)
            serving++;
    if (serving == 0) {
        snprintf(msg, msglen, "draining %s would leave no region serving", in[idx].name);
        return DECIDE_RULE_ALL_ZERO;
    }
    if (serving < cfg->min_healthy_regions) {
        snprintf(msg, msglen, "draining %s would leave %zu region%s serving; "
                 "min_healthy_regions is %u", in[idx].name, serving, plural(serving),
                 (unsigned)cfg->min_healthy_regions);
        return DECIDE_RULE_MIN_HEALTHY;
    }
    snprintf(msg, msglen, "draining %s leaves %zu region%s serving", in[idx].name,
             serving, plural(serving));
    return DECIDE_RULE_NONE;
}
