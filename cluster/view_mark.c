/* view_mark — a drill's mark in another observer's view (view_mark.h). */
#include "cluster/view_mark.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char mark_pre[] = "drill ", mark_post[] = ": failed by drill";

/* The end of "drill N: failed by drill" at reason's start and N in *id, else NULL. */
static const char *mark_end(const char *reason, uint64_t *id)
{
    if (!reason || strncmp(reason, mark_pre, sizeof(mark_pre) - 1) != 0)
        return NULL;
    const char *p = reason + sizeof(mark_pre) - 1;
    uint64_t n = 0;
    size_t digits = 0;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        if (digits >= 16)
            return NULL;   /* over 2^52 */
        n = n * 10 + (uint64_t)(*p - '0');
    }
    if (!digits || n == 0 || (double)n > VIEW_DRILL_ID_MAX || strncmp(p, mark_post, sizeof(mark_post) - 1) != 0)
        return NULL;
    *id = n;
    return p + sizeof(mark_post) - 1;
}

uint64_t view_mark_drill(const char *reason)
{
    uint64_t id = 0;
    return mark_end(reason, &id) ? id : 0;
}

bool view_mark_own(const char *reason, view_state_t *own)
{
    static const char leader[] = " (the leader's)", sep[] = VIEW_MARK_OWN;
    uint64_t id;
    const char *p = mark_end(reason, &id);
    if (!p)
        return false;
    if (strncmp(p, leader, sizeof(leader) - 1) == 0)
        p += sizeof(leader) - 1;
    if (strncmp(p, sep, sizeof(sep) - 1) != 0)
        return false;
    p += sizeof(sep) - 1;
    for (int s = VIEW_UNKNOWN; s < VIEW_STATE_N; s++)
        if (strcmp(p, view_state_str((view_state_t)s)) == 0) {   /* the whole rest: nothing after it */
            *own = (view_state_t)s;
            return true;
        }
    return false;
}

bool view_mark_stale(const view_region_t *r, const view_drill_t *acting, size_t n)
{
    uint64_t id = view_mark_drill(r->reason);
    if (!id || r->state != VIEW_DOWN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (acting[i].id == id && strcmp(acting[i].region, r->region) == 0)
            return false;
    return true;   /* that drill does not act here */
}

view_state_t view_mark_counted(const view_region_t *r, const view_drill_t *acting, size_t n)
{
    if (!view_mark_stale(r, acting, n))
        return r->state;
    view_state_t own;
    return view_mark_own(r->reason, &own) ? own : VIEW_UNKNOWN;   /* an older build's mark: no opinion */
}

void view_mark_age_saw(view_mark_age_t *a, uint64_t drill, view_state_t counted, uint64_t now)
{
    if (a->drill != drill || !a->kept)
        a->since_ms = now;
    a->kept = true;
    a->drill = drill;
    a->counted = counted;
    a->last_ms = now;
}

bool view_mark_age_over(view_mark_age_t *a, uint64_t now, uint64_t after_ms, uint64_t hold_ms)
{
    if (!a->kept)
        return false;
    if (now > a->last_ms && now - a->last_ms >= hold_ms) {
        *a = (view_mark_age_t){ 0 };   /* really gone: unseen for the hold */
        return false;
    }
    return a->last_ms - a->since_ms > after_ms;   /* seen discounted that long: a mark gone sooner never counts */
}

void view_mark_list_add(char *buf, size_t len, size_t *more, const char *item)
{
    size_t off = strlen(buf), need = (off ? 2 : 0) + strlen(item);
    if (*more || len <= VIEW_MARK_LIST_TAIL || off + need >= len - VIEW_MARK_LIST_TAIL) {
        (*more)++;   /* cut at an item's end; later items are counted, not shown, so the order holds */
        return;
    }
    snprintf(buf + off, len - off, "%s%s", off ? ", " : "", item);
}

void view_mark_list_end(char *buf, size_t len, size_t more)
{
    size_t off = strlen(buf);
    if (more && off < len)
        snprintf(buf + off, len - off, " \u2026 and %zu more", more);
}

static uint64_t fnv(uint64_t h, uint64_t x)
{
    return (h ^ x) * 1099511628211ull;
}

uint64_t view_mark_sig(const view_t *v)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < v->n; i++) {
        for (const char *p = v->regions[i].region; *p; p++)
            h = fnv(h, (unsigned char)*p);
        h = fnv(h, 0x100u + v->regions[i].state);
        view_state_t own;
        if (view_mark_own(v->regions[i].reason, &own))   /* a mark's own probes going down: written at once */
            h = fnv(h, 0x300u + own);
    }
    for (const char *p = v->suspect_reason; *p; p++)
        h = fnv(h, (unsigned char)*p);
    for (size_t i = 0; i < v->n_drills; i++)   /* a fail drill starting or ending: written at once */
        h = fnv(h, 0x200u + v->drills[i].id);
    return fnv(h, v->suspect);
}
