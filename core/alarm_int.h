/* alarm_int.h — private to the alarm module: the message a webhook queue
 * holds, and the delivery half (alarm_hook.c) that alarm.c feeds. */
#ifndef REGIOND_ALARM_INT_H
#define REGIOND_ALARM_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>

#include "config/cfg.h"

/* One trigger or resolve waiting for one webhook.  Owner: that webhook's
 * queue; the body is built from it at each attempt (so a reload that changes
 * the webhook's kind or URL still delivers it in the new shape). */
typedef struct alarm_msg {
    bool firing;                  /* trigger; false: resolve */
    char *key, *summary;
    cfg_severity_t severity;      /* for a resolve: the highest the alarm reached */
    cJSON *details;               /* owned; may be NULL */
    int64_t wall_ms;              /* when raised/resolved */
    struct alarm_msg *next;
} alarm_msg_t;

const char *alarm_sev_str(cfg_severity_t s);

/* Build the webhooks from cfg, keeping queues of same-named ones.  0 or -1. */
int alarm_hook_configure(const cfg_t *cfg);

/* Queue a copy of M on every webhook whose min_severity it reaches. */
void alarm_hook_enqueue(const alarm_msg_t *m);

/* Cancel everything and free the webhooks. */
void alarm_hook_fini(void);

/* Append one object per webhook to ARR. */
void alarm_hook_status(cJSON *arr);

/* regiond_alarm_deliveries_total. */
void alarm_hook_metrics(struct evbuffer *b);

/* The JSON body of M for KIND (NULL on OOM); routing key for pagerduty. */
char *alarm_body(const alarm_msg_t *m, cfg_hook_kind_t kind, const char *controller,
                 const char *routing_key);

void alarm_msg_free(alarm_msg_t *m);

/* The controller id that messages name as their source. */
const char *alarm_controller_id(void);

#endif
