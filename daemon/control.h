/* control — the controller: turns region health, operator overrides, drift
 * and the live weights into decisions (failover/decide, a pure function),
 * numbers them (monotonic across restarts), records them with their inputs
 * and reason, and hands changes to the Route 53 actuator unless frozen or
 * in dry run.  Overrides and freeze are persisted in state_dir. */
#ifndef REGIOND_CONTROL_H
#define REGIOND_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>

#include "config/cfg.h"

int ctrl_init(const cfg_t *cfg, char *err, size_t errlen);
void ctrl_configure(const cfg_t *cfg);
void ctrl_fini(void);
/* SIGTERM, still on the loop: waiting changes are answered 503 now (so the
 * answer is sent), new ones are refused. */
void ctrl_stopping(void);

/* A region's health changed: decide again. */
void ctrl_health_changed(void);

/* The data layer's gate inputs changed (DynamoDB findings, lag): decide again. */
void ctrl_data_changed(void);

/* A reload is under way: ignore health until ctrl_configure(). */
void ctrl_suspend(void);

/* CTRL_UNAVAILABLE: the change could not be saved, so it was not made
 * (the API answers 503 with the reason).  CTRL_UNCONFIRMED (leading a
 * cluster): the change was saved and is in effect on this instance, but
 * was not confirmed on a majority of the lease tables (the term ended, the
 * hold's deadline passed, regiond is stopping): 503, msg says why. */
typedef enum { CTRL_OK = 0, CTRL_NOT_FOUND, CTRL_REFUSED, CTRL_BAD, CTRL_UNAVAILABLE, CTRL_UNCONFIRMED } ctrl_rc_t;

/* Operator changes never wait for the disk.  Each calls done(arg, rc,
 * msg) exactly once: at once when refused before anything is written
 * (CTRL_NOT_FOUND, CTRL_BAD, CTRL_REFUSED: a safety rule, named in msg),
 * otherwise on the loop once the new state is durable in control.json
 * (CTRL_OK: the change is in effect from then on) or could not be saved
 * (CTRL_UNAVAILABLE: not applied, msg says why).  Changes are written and
 * applied in the order they arrive. */
typedef void (*ctrl_done_fn)(void *arg, ctrl_rc_t rc, const char *msg);

/* Drain (weight 0) or pin (weight) a region for `for_s` seconds (counted
 * from when the override is durable). */
void ctrl_override_set(const char *region, bool drain, int weight, uint32_t for_s, const char *note,
                       const char *who, ctrl_done_fn done, void *arg);

/* What draining `region` would do, without doing it (dry-run drills):
 * CTRL_OK with the decision in msg, or CTRL_REFUSED with the rule named. */
ctrl_rc_t ctrl_preview_drain(const char *region, char *msg, size_t msglen);

/* Remove a region's override and forget its drift. */
void ctrl_override_clear(const char *region, const char *who, ctrl_done_fn done, void *arg);

/* Freeze: keep deciding and showing, never apply.  Unfreezing also
 * releases safe mode (a corrupt state file was found). */
void ctrl_set_freeze(bool on, const char *note, const char *who, ctrl_done_fn done, void *arg);

/* Views. */
cJSON *ctrl_status_json(void);           /* "failover" object of /v1/status */
cJSON *ctrl_overrides_json(void);
/* The note of region's override, or NULL when it has none. */
const char *ctrl_override_note(const char *region);
cJSON *ctrl_decisions_json(void);        /* newest first */
void ctrl_metrics(struct evbuffer *b);

#endif
