/* cfg_quorum.c — "cluster.quorum": the observers that publish their views
 * of the regions to the lease tables (cluster/views.h, docs/ha.md
 * "Observers").  Absent = off.  The quorum rule itself (k) is checked here
 * and applied to decisions by daemon/observers_quorum.c (docs/ha.md
 * "The quorum rule"). */
#include "config/cfg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const quorum_keys[] = { "observers", "k", "publish_ms", NULL };

static int observers(cfg_ctx_t *c, const cJSON *o, cfg_quorum_t *q)
{
    const cJSON *v = cfg_member(o, "observers");
    char path[CFG_PATH_MAX];
    int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
    if (n < 1 || n > CFG_MAX_OBSERVERS)
        return cfg_expect(c, "cluster.quorum.observers", "a list of 1 to 9 instance ids "
                          "(cluster.instance_id of each observer)", v);
    q->observers = cfg_xcalloc((size_t)n, sizeof(*q->observers));
    q->n_observers = (size_t)n;
    for (size_t i = 0; i < q->n_observers; i++) {
        const cJSON *e = cJSON_GetArrayItem(v, (int)i);
        cfg_idx_path(path, "cluster.quorum.observers", i);
        if (!cJSON_IsString(e) || !cfg_name_ok(e->valuestring))
            return cfg_expect(c, path, "an instance id [A-Za-z0-9._-]{1,64}", e);
        for (size_t j = 0; j < i; j++)
            if (strcmp(q->observers[j], e->valuestring) == 0)
                return cfg_fail(c, path, "expected an observer of its own, got \"%s\" (also "
                                "cluster.quorum.observers[%zu])", e->valuestring, j);
        q->observers[i] = cfg_xstrdup(e->valuestring);
    }
    return 0;
}

int cfg_build_quorum(cfg_ctx_t *c, const cJSON *cluster, cfg_cluster_t *k)
{
    const cJSON *o = NULL;
    cfg_quorum_t *q = &k->quorum;
    q->publish_ms = 2000;
    if (cfg_get_section(c, cluster, "cluster", "quorum", quorum_keys, &o) == -1)
        return -1;
    if (!o)
        return 0;
    q->enabled = true;
    if (observers(c, o, q) == -1)
        return -1;
    bool self = false;
    for (size_t i = 0; i < q->n_observers; i++)
        self |= strcmp(q->observers[i], k->instance_id) == 0;
    if (!self)
        return cfg_fail(c, "cluster.quorum.observers", "expected a list that names this instance "
                        "(cluster.instance_id \"%s\"): every observer publishes its own view", k->instance_id);
    q->k = (uint32_t)(q->n_observers / 2 + 1);
    if (cfg_get_u32(c, o, "cluster.quorum", "k", 1, (uint32_t)q->n_observers, &q->k) == -1
        || cfg_get_u32(c, o, "cluster.quorum", "publish_ms", 500, 60000, &q->publish_ms) == -1)
        return -1;
    return 0;
}

void cfg_free_quorum(cfg_cluster_t *k)
{
    cfg_quorum_t *q = &k->quorum;
    for (size_t i = 0; q->observers && i < q->n_observers; i++)
        free(q->observers[i]);
    free(q->observers);
    memset(q, 0, sizeof(*q));
}
