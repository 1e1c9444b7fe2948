/* cfg_api — controller keys of the status/control API: its caps, the Host
 * allow-list and the audit log's size (docs/config.md). */
#include "config/cfg_int.h"

#include <stdlib.h>
#include <string.h>

/* A host name for controller.allowed_hosts: DNS characters only, no port. */
static bool host_name_ok(const char *s)
{
    size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-");
    return n >= 1 && n <= 253 && s[n] == '\0' && s[0] != '.' && s[0] != '-';
}

static int controller_hosts(cfg_ctx_t *c, const cJSON *o, cfg_controller_t *ctl)
{
    const cJSON *v = cfg_member(o, "allowed_hosts");
    char path[CFG_PATH_MAX];
    size_t i = 0;
    if (!v)
        return 0;
    if (!cJSON_IsArray(v))
        return cfg_expect(c, "controller.allowed_hosts", "an array of host names", v);
    ctl->n_allowed_hosts = (size_t)cJSON_GetArraySize(v);
    ctl->allowed_hosts = ctl->n_allowed_hosts ? cfg_xcalloc(ctl->n_allowed_hosts, sizeof(char *)) : NULL;
    for (const cJSON *s = v->child; s; s = s->next, i++) {
        cfg_idx_path(path, "controller.allowed_hosts", i);
        if (!cJSON_IsString(s) || !host_name_ok(s->valuestring))
            return cfg_expect(c, path, "a host name (A-Z a-z 0-9 . -, without a port)", s);
        ctl->allowed_hosts[i] = cfg_xstrdup(s->valuestring);
    }
    return 0;
}

/* The API's caps and the audit log's size (docs/config.md). */
int cfg_controller_api(cfg_ctx_t *c, const cJSON *o, cfg_controller_t *ctl)
{
    const char *p = "controller";
    if (cfg_get_u32(c, o, p, "max_api_connections", 4, 65536, &ctl->max_api_connections) == -1
        || cfg_get_u32(c, o, p, "max_stream_clients", 1, 65536, &ctl->max_stream_clients) == -1
        || cfg_get_u32(c, o, p, "stream_client_buffer_bytes", 4096, 16u << 20, &ctl->stream_client_buffer_bytes) == -1
        || cfg_get_u32(c, o, p, "stream_memory_bytes", 65536, 1u << 30, &ctl->stream_memory_bytes) == -1
        || cfg_get_u32(c, o, p, "request_deadline_ms", 100, 600000, &ctl->request_deadline_ms) == -1
        || cfg_get_u32(c, o, p, "audit_max_bytes", 65536, 1u << 30, &ctl->audit_max_bytes) == -1
        || controller_hosts(c, o, ctl) == -1)
        return -1;
    if (ctl->max_stream_clients >= ctl->max_api_connections)
        return cfg_fail(c, "controller.max_stream_clients", "expected fewer than max_api_connections (%u), got %u",
                        ctl->max_api_connections, ctl->max_stream_clients);
    if (ctl->stream_client_buffer_bytes > ctl->stream_memory_bytes)
        return cfg_fail(c, "controller.stream_client_buffer_bytes", "expected at most stream_memory_bytes (%u), got %u",
                        ctl->stream_memory_bytes, ctl->stream_client_buffer_bytes);
    return 0;
}

void cfg_free_controller_api(cfg_controller_t *ctl)
{
    for (size_t i = 0; i < ctl->n_allowed_hosts; i++)
        free(ctl->allowed_hosts[i]);
    free(ctl->allowed_hosts);
    ctl->allowed_hosts = NULL;
    ctl->n_allowed_hosts = 0;
}
