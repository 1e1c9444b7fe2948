/* view_mark — a drill's mark in another observer's view (view_mark.h). */
#include "cluster/view_mark.h"

#include <string.h>

uint64_t view_mark_drill(const char *reason)
{
    static const char pre[] = "drill ", post[] = ": failed by drill";
    if (!reason || strncmp(reason, pre, sizeof(pre) - 1) != 0)
        return 0;
    const char *p = reason + sizeof(pre) - 1;
    uint64_t id = 0;
    size_t digits = 0;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        if (digits >= 16)
            return 0;   /* over 2^52 */
        id = id * 10 + (uint64_t)(*p - '0');
    }
    if (!digits || id == 0 || (double)id > VIEW_DRILL_ID_MAX || strncmp(p, post, sizeof(post) - 1) != 0)
        return 0;
    return id;
}

view_state_t view_mark_counted(const view_region_t *r, const view_drill_t *acting, size_t n)
{
    uint64_t id = view_mark_drill(r->reason);
    if (!id || r->state != VIEW_DOWN)
        return r->state;
    for (size_t i = 0; i < n; i++)
        if (acting[i].id == id && strcmp(acting[i].region, r->region) == 0)
            return r->state;
    return VIEW_UNKNOWN;   /* that drill does not act here: the mark is stale */
}
