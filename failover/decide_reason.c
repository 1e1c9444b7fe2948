/* decide_reason — the one-line reason of a decision for people, written
 * last from what each step recorded in the context. */
#include "failover/decide.h"
#include "failover/decide_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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
    bool restore = decide_fail_open_restores(c);

    if (c->fail_open) {
        line_part(l);
        if (c->unknown == 0)
            line_add(l, "all %zu region%s down", c->n, plural(c->n));
        else
            line_add(l, "no region up or degraded (%zu down, %zu unknown)", c->down, c->unknown);
        if (restore)
            line_add(l, ": fail open, restoring configured weights");
        else if (c->cfg->fail_open == DECIDE_FAIL_OPEN_RESTORE)   /* blocked until every verdict is in */
            line_add(l, ": fail open, keeping live weights (restore waits: %zu region%s unknown)", c->unknown,
                     plural(c->unknown));
        else
            line_add(l, ": fail open, keeping live weights");
    }
    if (c->all_zero && c->held > 0 && c->all_zero_configured) {
        line_part(l);
        line_add(l, "every weight is 0 live, set outside regiond (Route 53 answers as if all were equal): "
                 "not fought (correct_drift false)");
    } else if (c->all_zero) {
        line_part(l);
        line_add(l, "all-zero guard: every weight would be 0, %s",
                 c->all_zero_configured ? "restoring configured weights"
                                        : "keeping live weights");
    }
}

/* Regions changed outside regiond and left alone: what is not sent. */
static void reason_held(const decide_ctx_t *c, decide_line_t *l)
{
    bool first = true;

    for (size_t i = 0; i < c->n; i++) {
        const decide_region_t *r = &c->in[i];

        if (!r->drift_held)
            continue;
        if (first) {
            line_part(l);
            line_add(l, "changed outside regiond, left alone (correct_drift false): ");
        }
        if (r->live_weight < 0)
            line_add(l, "%s%s without a record (%s)", first ? "" : ", ", r->name, health_state_str(r->health));
        else
            line_add(l, "%s%s at %d (%s)", first ? "" : ", ", r->name, r->live_weight, health_state_str(r->health));
        first = false;
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

        if (w == r->live_weight || r->drift_held)   /* held: said by reason_held */
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

void decide_write_reason(const decide_ctx_t *c)
{
    decide_line_t l = { c->out->reason, sizeof(c->out->reason), 0 };

    c->out->reason[0] = '\0';
    reason_safety(c, &l);
    reason_held(c, &l);
    reason_min_healthy(c, &l);
    reason_changes(c, &l);
    reason_deferred(c, &l);
    if (l.len == 0)
        line_add(&l, "%s", c->n ? "no change" : "no regions: no change");
}
