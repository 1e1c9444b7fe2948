/* view_mark — a drill's mark in another observer's view (view_mark.h). */
#include "cluster/view_mark.h"

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
