/* decide — the decision engine (see decide.h for the rules and their order).
 *
 * decide() runs the steps of decide.h on out->weight/out->rule in place:
 * base weights, fail open, min healthy, all-zero guard, then deferral
 * (hold-down and damping), and writes the reason last from what each step
 * recorded in the context.  Nothing here allocates or keeps state. */
#include "decide.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define DECIDE_W_MAX 255

/* What the steps of one decide() call found, for top_rule and the reason. */
typedef struct {
    const decide_cfg_t *cfg;
    const decide_region_t *in;
    size_t n;
    decide_out_t *out;
    int want[DECIDE_MAX_REGIONS];   /* weight a deferred region would have had */
    size_t down, unknown;           /* health counts */
    bool fail_open;                 /* step 2 fired */
    bool all_zero;                  /* step 4 fired */
    bool all_zero_configured;       /* step 4 used configured weights */
    size_t kept;                    /* regions kept in by step 3 */
    size_t serving;                 /* regions serving after step 3 */
    size_t deferred;                /* changes deferred by steps 5-6 */
    size_t window_changes;          /* changes within the damping window */
} decide_ctx_t;

/* An appending writer into a fixed buffer; marks a cut line with "...". */
typedef struct {
    char *buf;
    size_t cap, len;
} decide_line_t;

static void line_add(decide_line_t *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void line_add(decide_line_t *l, const char *fmt, ...)
{
    va_list ap;
    int r = 0;

    if (l->len + 1 < l->cap) {
        va_start(ap, fmt);
        r = vsnprintf(l->buf + l->len, l->cap - l->len, fmt, ap);
        va_end(ap);
        if (r < 0)
            return;
        if ((size_t)r < l->cap - l->len) {
            l->len += (size_t)r;
            return;
        }
    }
    l->len = l->cap - 1;  /* full: whatever did not fit shows as "..." */
    if (l->cap > 4)
        memcpy(l->buf + l->cap - 4, "...", 4);
}

/* Start a new "; "-separated part of the line. */
static void line_part(decide_line_t *l)
{
    if (l->len)
        line_add(l, "; ");
}

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

void decide_history_add(decide_history_t *h, uint64_t now_ms)
{
    if (!h)
        return;
    if (h->n > DECIDE_HISTORY)
        h->n = DECIDE_HISTORY;
    if (h->n == DECIDE_HISTORY) {
        memmove(h->change_ms, h->change_ms + 1, (DECIDE_HISTORY - 1) * sizeof(h->change_ms[0]));
        h->n--;
    }
    h->change_ms[h->n++] = now_ms;
}

static const char *plural(size_t n)
{
    return n == 1 ? "" : "s";
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
 * restore every region that has no override. */
static void step_fail_open(decide_ctx_t *c)
{
    bool restore = c->cfg->fail_open == DECIDE_FAIL_OPEN_RESTORE;

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

/* Order in which step 3 keeps regions in: healthiest first. */
static int health_rank(health_state_t s)
{
    switch (s) {
    case HEALTH_UP:       return 0;
    case HEALTH_DEGRADED: return 1;
    case HEALTH_UNKNOWN:  return 2;
    case HEALTH_DOWN:     return 3;
    }
    return 3;
}

static size_t count_serving(const decide_ctx_t *c)
{
    size_t serving = 0;

    for (size_t i = 0; i < c->n; i++)
        serving += c->out->weight[i] > 0;
    return serving;
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

        c->out->weight[i] = any_live ? (r->live_weight > 0 ? r->live_weight : 0)
                                     : r->configured_weight;
        c->out->rule[i] = DECIDE_RULE_ALL_ZERO;
    }
}

/* Milliseconds until the hold-down after the last applied change ends, 0 if over. */
static uint64_t hold_down_due(const decide_cfg_t *cfg, const decide_history_t *hist,
                              uint64_t now_ms)
{
    uint64_t last, elapsed;

    if (!hist || hist->n == 0 || cfg->hold_down_ms == 0)
        return 0;
    last = hist->change_ms[hist->n - 1];
    elapsed = now_ms >= last ? now_ms - last : 0;
    return elapsed < cfg->hold_down_ms ? cfg->hold_down_ms - elapsed : 0;
}

/* Milliseconds until fewer than max_changes changes lie within
 * (now - window_ms, now], 0 if already so; *count gets how many do now. */
static uint64_t damping_due(const decide_cfg_t *cfg, const decide_history_t *hist,
                            uint64_t now_ms, size_t *count)
{
    uint64_t t[DECIDE_HISTORY];
    size_t k = 0;

    *count = 0;
    if (!hist || cfg->max_changes == 0 || cfg->window_ms == 0)
        return 0;
    for (size_t i = 0; i < hist->n; i++) {
        uint64_t v = hist->change_ms[i];

        if (v > now_ms || now_ms - v >= cfg->window_ms)
            continue;
        size_t j = k++;  /* insertion sort, oldest first */
        for (; j > 0 && t[j - 1] > v; j--)
            t[j] = t[j - 1];
        t[j] = v;
    }
    *count = k;
    if (k < cfg->max_changes)
        return 0;
    /* Once t[k - max] leaves the window, max - 1 changes remain in it. */
    return cfg->window_ms - (now_ms - t[k - cfg->max_changes]);
}

/* Release deferred changes that bring a region back (0 -> > 0),
 * healthiest first, until max(1, min_healthy_regions) regions serve. */
static void release_restores(decide_ctx_t *c)
{
    size_t need = c->cfg->min_healthy_regions ? c->cfg->min_healthy_regions : 1;
    size_t serving = count_serving(c);

    for (int rank = 0; rank <= 3 && serving < need; rank++) {
        for (size_t i = 0; i < c->n && serving < need; i++) {
            decide_rule_t r = c->out->rule[i];

            if ((r != DECIDE_RULE_HOLD_DOWN && r != DECIDE_RULE_DAMPING) ||
                c->want[i] == 0 || health_rank(c->in[i].health) != rank)
                continue;
            c->out->weight[i] = c->want[i];
            c->out->rule[i] = DECIDE_RULE_HEALTH;
            c->deferred--;
            serving++;
        }
    }
}

/* Steps 5-6: defer health-driven weight increases during the hold-down or
 * while damping holds, unless that leaves too few regions serving. */
static void step_defer(decide_ctx_t *c, const decide_history_t *hist, uint64_t now_ms)
{
    uint64_t hd = hold_down_due(c->cfg, hist, now_ms);
    uint64_t dp = damping_due(c->cfg, hist, now_ms, &c->window_changes);
    decide_rule_t why = dp > hd ? DECIDE_RULE_DAMPING : DECIDE_RULE_HOLD_DOWN;

    if (hd == 0 && dp == 0)
        return;
    for (size_t i = 0; i < c->n; i++) {
        const decide_region_t *r = &c->in[i];

        /* Only weight increases wait: a broken region is drained at once,
         * whatever the anti-flap rules say; bringing it back is what waits. */
        if (c->out->rule[i] != DECIDE_RULE_HEALTH || r->live_weight < 0 ||
            c->out->weight[i] <= r->live_weight)
            continue;
        c->want[i] = c->out->weight[i];
        c->out->weight[i] = r->live_weight;
        c->out->rule[i] = why;
        c->deferred++;
    }
    release_restores(c);
    if (c->deferred)
        c->out->retry_in_ms = hd > dp ? hd : dp;
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

        if (r == DECIDE_RULE_OVERRIDE && c->out->weight[i] == c->in[i].live_weight)
            continue;
        if (rule_rank(r) > rule_rank(top))
            top = r;
    }
    return top;
}

/* "100", or "unknown" for -1, into a caller's small buffer. */
static const char *weight_str(int w, char *buf, size_t len)
{
    if (w < 0)
        return "unknown";
    snprintf(buf, len, "%d", w);
    return buf;
}

/* The safety parts of the reason: fail open, all-zero guard. */
static void reason_safety(const decide_ctx_t *c, decide_line_t *l)
{
    bool restore = c->cfg->fail_open == DECIDE_FAIL_OPEN_RESTORE;

    if (c->fail_open) {
        line_part(l);
        if (c->unknown == 0)
            line_add(l, "all %zu region%s down", c->n, plural(c->n));
        else
            line_add(l, "no region up or degraded (%zu down, %zu unknown)", c->down, c->unknown);
        line_add(l, ": fail open, %s", restore ? "restoring configured weights"
                                              : "keeping live weights");
    }
    if (c->all_zero) {
        line_part(l);
        line_add(l, "all-zero guard: every weight would be 0, %s",
                 c->all_zero_configured ? "restoring configured weights"
                                        : "keeping live weights");
    }
}

/* The min_healthy_regions part of the reason. */
static void reason_min_healthy(const decide_ctx_t *c, decide_line_t *l)
{
    size_t min = c->cfg->min_healthy_regions;
    bool first = true;

    if (c->fail_open || min == 0 || (c->kept == 0 && c->serving >= min))
        return;
    line_part(l);
    line_add(l, "min_healthy_regions %zu: ", min);
    for (size_t i = 0; i < c->n; i++) {
        const decide_region_t *r = &c->in[i];

        if (c->out->rule[i] != DECIDE_RULE_MIN_HEALTHY)
            continue;
        line_add(l, "%s%s at %d (%s%s)", first ? "keeping " : ", ", r->name,
                 r->live_weight, health_state_str(r->health),
                 r->override == DECIDE_OV_DRAIN ? ", drain override" :
                 r->override == DECIDE_OV_PIN ? ", pin override" : "");
        first = false;
    }
    if (c->serving < min)
        line_add(l, "%sonly %zu region%s serving", first ? "" : ", ",
                 c->serving, plural(c->serving));
}

/* One part per weight that changes from live. */
static void reason_changes(const decide_ctx_t *c, decide_line_t *l)
{
    char was[12];

    for (size_t i = 0; i < c->n; i++) {
        const decide_region_t *r = &c->in[i];
        int w = c->out->weight[i];

        if (w == r->live_weight)
            continue;
        line_part(l);
        if (c->out->rule[i] == DECIDE_RULE_HEALTH)
            line_add(l, "%s %s", r->name, health_state_str(r->health));
        else if (c->out->rule[i] == DECIDE_RULE_OVERRIDE)
            line_add(l, "%s %s", r->name,
                     r->override == DECIDE_OV_DRAIN ? "drained by override" : "pinned by override");
        else if (c->out->rule[i] == DECIDE_RULE_DATA_GATE)
            line_add(l, "%s held by the data gate (%.120s)", r->name, r->data_why ? r->data_why : "data not safe");
        else
            line_add(l, "%s", r->name);
        line_add(l, " -> weight %d (was %s)", w, weight_str(r->live_weight, was, sizeof(was)));
    }
}

/* The hold-down or damping part of the reason. */
static void reason_deferred(const decide_ctx_t *c, decide_line_t *l)
{
    bool first = true;

    if (c->deferred == 0)
        return;
    line_part(l);
    for (size_t i = 0; i < c->n; i++) {
        decide_rule_t r = c->out->rule[i];

        if (r != DECIDE_RULE_HOLD_DOWN && r != DECIDE_RULE_DAMPING)
            continue;
        if (first && r == DECIDE_RULE_HOLD_DOWN)
            line_add(l, "hold-down: ");
        else if (first)
            line_add(l, "damping: %zu change%s in %llu s: ", c->window_changes,
                     plural(c->window_changes),
                     (unsigned long long)((c->cfg->window_ms + 999) / 1000));
        line_add(l, "%s%s %s -> %d", first ? "" : ", ", c->in[i].name,
                 health_state_str(c->in[i].health), c->want[i]);
        first = false;
    }
    line_add(l, " deferred %llu s", (unsigned long long)((c->out->retry_in_ms + 999) / 1000));
}

static void write_reason(const decide_ctx_t *c)
{
    decide_line_t l = { c->out->reason, sizeof(c->out->reason), 0 };

    c->out->reason[0] = '\0';
    reason_safety(c, &l);
    reason_min_healthy(c, &l);
    reason_changes(c, &l);
    reason_deferred(c, &l);
    if (l.len == 0)
        line_add(&l, "%s", c->n ? "no change" : "no regions: no change");
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
    step_defer(&c, hist, now_ms);

    for (size_t i = 0; i < n; i++)
        out->change |= out->weight[i] != in[i].live_weight;
    out->alarm = c.fail_open || c.all_zero;
    out->top_rule = top_rule(&c);
    write_reason(&c);
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
