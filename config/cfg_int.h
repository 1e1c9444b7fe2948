/* cfg_int.h — private to the cfg module: the error context, key paths and the
 * typed getters shared by cfg.c (file, JSON, getters, secrets, free),
 * cfg_check.c (sections, regions and the checks that span keys) and
 * cfg_target.c (each probe target) and the other sections' files.
 *
 * Every getter takes the object, the parent's key path and the key; a key
 * that is absent leaves *out untouched (the caller set the default first) and
 * returns 0.  On error the message goes to the context and -1 is returned. */
#ifndef REGIOND_CFG_INT_H
#define REGIOND_CFG_INT_H

#include <cjson/cJSON.h>

#include "config/cfg.h"

#define CFG_PATH_MAX 512          /* longest key path kept; longer ones are cut */
#define CFG_NAME_MAX 64           /* region, target and controller names */

/* Where an error message goes; one per cfg_parse() call. */
typedef struct {
    const char *file;             /* used only in messages */
    char *err;
    size_t errlen;
} cfg_ctx_t;

/* Flags of cfg_get_str() / cfg_str_value(). */
enum {
    CFG_S_NULL = 1,               /* null is accepted and means "not set" */
    CFG_S_NONEMPTY = 2,
    CFG_S_NOCTRL = 4,             /* no control characters */
    CFG_S_ABSPATH = 8,            /* an absolute path (implies the two above) */
    CFG_S_NAME = 16,              /* [A-Za-z0-9._-]{1,64} */
};

/* calloc/strdup that abort with a log line when memory runs out (STYLE 9). */
void *cfg_xcalloc(size_t n, size_t size);
char *cfg_xstrdup(const char *s);

/* OUT = "PARENT.KEY" ("KEY" when PARENT is empty); OUT has CFG_PATH_MAX bytes. */
void cfg_key_path(char *out, const char *parent, const char *key);

/* OUT = "PARENT[I]"; OUT has CFG_PATH_MAX bytes. */
void cfg_idx_path(char *out, const char *parent, size_t i);

/* Write "FILE: PATH: <fmt>" (or "FILE: <fmt>" for a NULL path); returns -1. */
int cfg_fail(cfg_ctx_t *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Write "FILE: PATH: expected WHAT, got <GOT described>"; returns -1. */
int cfg_expect(cfg_ctx_t *c, const char *path, const char *what, const cJSON *got);

/* Describe a JSON value for a message: 2.7, "text", true, an object... */
void cfg_describe(const cJSON *v, char *out, size_t n);

/* The member KEY of OBJ, or NULL when OBJ is NULL or has no such key. */
const cJSON *cfg_member(const cJSON *obj, const char *key);

/* Reject a member of OBJ (at PATH) not in the NULL-terminated KEYS. */
int cfg_keys(cfg_ctx_t *c, const cJSON *obj, const char *path, const char *const *keys);

/* Optional object member KEY, checked against KEYS; *out = NULL if absent. */
int cfg_get_section(cfg_ctx_t *c, const cJSON *obj, const char *parent, const char *key,
                    const char *const *keys, const cJSON **out);

/* Check that V (at PATH) is an integer in MIN..MAX and store it. */
int cfg_u32_value(cfg_ctx_t *c, const cJSON *v, const char *path,
                  uint32_t min, uint32_t max, uint32_t *out);

/* Optional integer member KEY in MIN..MAX. */
int cfg_get_u32(cfg_ctx_t *c, const cJSON *obj, const char *parent, const char *key,
                uint32_t min, uint32_t max, uint32_t *out);

/* Optional boolean member KEY. */
int cfg_get_bool(cfg_ctx_t *c, const cJSON *obj, const char *parent, const char *key,
                 bool *out);

/* Check that V (at PATH) is a string that satisfies FLAGS (null not handled). */
int cfg_str_value(cfg_ctx_t *c, const cJSON *v, const char *path, unsigned flags);

/* Optional string member KEY; replaces (and frees) *out with a copy. */
int cfg_get_str(cfg_ctx_t *c, const cJSON *obj, const char *parent, const char *key,
                unsigned flags, char **out);

/* Optional string member KEY that must be one of NAMES; *out = its index. */
int cfg_get_enum(cfg_ctx_t *c, const cJSON *obj, const char *parent, const char *key,
                 const char *const *names, int *out);

/* Whether S is a name: [A-Za-z0-9._-]{1,64}. */
bool cfg_name_ok(const char *s);

/* Read the secret described by object V (at PATH) into H: value, source. */
int cfg_secret(cfg_ctx_t *c, const cJSON *v, const char *path, cfg_header_t *h);

/* Build the aws, route53 and decision sections (cfg_failover.c), after the
 * regions; and free them. */
int cfg_build_failover(cfg_ctx_t *c, const cJSON *root, cfg_t *cfg);
void cfg_free_failover(cfg_t *cfg);

/* The dynamodb section (cfg_dynamodb.c). */
int cfg_build_dynamodb(cfg_ctx_t *c, const cJSON *root, cfg_t *cfg);
void cfg_free_dynamodb(cfg_t *cfg);

/* The alarms section (cfg_alarm.c). */
int cfg_build_alarms(cfg_ctx_t *c, const cJSON *root, cfg_t *cfg);
void cfg_free_alarms(cfg_t *cfg);

/* The cluster section (cfg_cluster.c). */
int cfg_build_cluster(cfg_ctx_t *c, const cJSON *root, cfg_t *cfg);
void cfg_free_cluster(cfg_t *cfg);

/* Its "quorum" member (cfg_quorum.c), once instance_id is known. */
int cfg_build_quorum(cfg_ctx_t *c, const cJSON *cluster, cfg_cluster_t *k);
void cfg_free_quorum(cfg_cluster_t *k);

/* The keys a target shares with probe_defaults. */
#define CFG_PROBE_KEYS "interval_ms", "timeout_ms", "connect_timeout_ms", "latency_ms_max", \
    "rise", "fall", "max_body_bytes", "full_handshake_s", "max_addresses", \
    "keepalive", "ip_version", "expect_status"

/* State of one cfg_build(): the probe defaults every target starts from. */
typedef struct {
    cfg_ctx_t *c;
    const cJSON *defs_json;       /* the probe_defaults object, or NULL */
    cfg_api_t defs;               /* built-in defaults overridden by probe_defaults */
} cfg_build_t;

/* cfg_target.c: the probe settings of O (probe_defaults or a target, at
 * PARENT) over A; one target O (at AP, the IDX-th of its region) from B's
 * defaults into A; and freeing what a target holds. */
int cfg_probe_settings(cfg_ctx_t *c, const cJSON *o, const char *parent, cfg_api_t *a);
int cfg_target(const cfg_build_t *b, const cJSON *o, const char *ap, size_t idx, cfg_api_t *a);
void cfg_free_target(cfg_api_t *a);

/* Build CFG from the parsed, duplicate-free top-level object ROOT. */
int cfg_build(cfg_ctx_t *c, const cJSON *root, cfg_t *cfg);

/* cfg_api.c: the API's caps, allowed_hosts, audit_max_bytes (into ctl). */
int cfg_controller_api(cfg_ctx_t *c, const cJSON *o, cfg_controller_t *ctl);
void cfg_free_controller_api(cfg_controller_t *ctl);

#endif
