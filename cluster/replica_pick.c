/* replica_pick — which of a read's items is the replicated state
 * (replica.h replica_pick): the rule of the observers' views
 * (cluster/view_pick.h), known defect 36. */
#include "cluster/replica.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/view_pick.h"

static void add(char *buf, size_t len, const char *name, const char *why)
{
    size_t off = strlen(buf);
    if (off + 8 < len)
        snprintf(buf + off, len - off, "%s%s: %s", off ? "; " : "", name, why);
}

/* Whether doc is a JSON object (the only doc a reader can take). */
static bool decodes(const char *doc)
{
    cJSON *j = cJSON_Parse(doc);
    bool ok = cJSON_IsObject(j);
    cJSON_Delete(j);
    return ok;
}

int replica_pick(const cJSON *const *items, const bool *answered, const char *const *names, size_t n,
                 replica_result_t *r, char **doc, char *bad, size_t bad_len)
{
    view_item_t it[VIEW_PICK_TABLES];
    view_pick_t p;
    memset(it, 0, sizeof(it));
    n = n < VIEW_PICK_TABLES ? n : VIEW_PICK_TABLES;
    for (size_t i = 0; i < n; i++) {
        if (answered[i])
            view_item_parse(items[i], &it[i]);
    }
    view_pick(it, n, &p);
    if (bad_len)
        view_pick_bad_str(it, n, names, bad, bad_len);
    r->ok = p.ok;
    r->found = false;
    r->epoch = r->seq = 0;
    r->bad_mask = p.bad_mask;
    *doc = NULL;
    for (size_t j = 0; p.ok && j < p.n_valid && !r->found; j++) {
        const view_item_t *v = &it[p.order[j]];
        if (!decodes(v->doc)) {   /* passed over, named like a bad item */
            r->bad_mask |= 1u << p.order[j];
            add(bad, bad_len, names[p.order[j]], "doc is not a JSON object");
            continue;
        }
        r->found = true;
        r->epoch = v->epoch;
        r->seq = v->seq;
        *doc = strdup(v->doc);
        if (!*doc) {
            r->ok = false;
            return -1;
        }
    }
    return 0;
}
