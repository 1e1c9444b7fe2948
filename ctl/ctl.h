/* ctl — what regionctl's files share: the API client and small helpers
 * (regionctl.c), the views (ctl_views.c). */
#ifndef REGIOND_CTL_H
#define REGIOND_CTL_H

#include <stddef.h>

#include <cjson/cJSON.h>

typedef struct {
    char *data;
    size_t len;
} ctl_buf_t;

/* METHOD path with an optional JSON body; 0 with the answer in out, or -1
 * with a message printed. */
int ctl_request(const char *api, const char *method, const char *path, const char *body,
                ctl_buf_t *out, long *code);
int ctl_get(const char *api, const char *path, ctl_buf_t *out, long *code);

/* GET path and print the body; exit status. */
int ctl_raw(const char *api, const char *path);

/* Print a control answer ({"result"} or {"error"}); exit status. */
int ctl_show_result(const ctl_buf_t *b, long code);

/* A string member, or "-". */
const char *ctl_str(const cJSON *o, const char *k);
void ctl_fmt_ms(const cJSON *o, const char *k, char *buf, size_t len);
void ctl_fmt_age(double s, char *buf, size_t len);

/* The views: exit status. */
int ctl_status(const char *api, int json);
int ctl_observers(const char *api, int json);   /* ctl_observers.c */
int ctl_weights(const char *api, int json);
int ctl_decisions(const char *api, int json);
int ctl_replicas(const char *api, int json);
int ctl_backups(const char *api, int json);
int ctl_drill_report(const char *api, const char *id, int json);

#endif
