/* route53_int.h — private to the Route 53 actuator: its state and what its
 * files share.  route53.c owns the state (start-up, reconcile timer, the
 * change in flight persisted); route53_read.c reads the live records;
 * route53_apply.c builds the compare-and-swap batch and follows the change
 * to INSYNC. */
#ifndef REGIOND_ROUTE53_INT_H
#define REGIOND_ROUTE53_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "cfg.h"
#include "client.h"
#include "r53_xml.h"
#include "route53.h"

#define R53_INTENT_FILE "route53-change.json"
#define R53_MAXR 64

typedef struct {
    const cfg_t *cfg;
    route53_notify_fn notify;
    route53_phase_t phase;
    size_t n;
    r53_rrset_t known[R53_MAXR];
    bool have[R53_MAXR];          /* known[i] holds a record */
    bool read_ok;                 /* live records read at least once */
    bool drift[R53_MAXR];
    int want[R53_MAXR];           /* weights of the change in flight */
    aws_req_t *req;
    r53_list_t acc;               /* pages of a listing being read */
    void (*after_read)(const r53_list_t *acc);  /* what to do with a complete listing */
    r53_rrset_t *created;         /* the CREATEs of the batch in flight, n entries */
    struct event *poll_timer, *reconcile_timer;
    uint64_t poll_wait_ms;
    route53_change_t change;
    bool have_change;
    char error[512];
    int64_t last_read_wall_ms;
    uint64_t changes_total, drift_total;
} r53_state_t;

/* The actuator's state: one, owned by route53.c. */
extern r53_state_t r53s;

/* route53.c: an event on the feed; the change in flight, persisted; the
 * change's timeline as a feed event of `type`. */
void r53_event(const char *type, cJSON *d);
void r53_intent_write(void);
void r53_intent_clear(void);
void r53_change_event(const char *type);

/* route53_read.c: read every page of the live listing, then call `after`
 * with it; make a listing what we know (reporting drift when asked); do the
 * live records hold the weights of the change in flight? */
void r53_read(void (*after)(const r53_list_t *acc));
void r53_adopt_listing(const r53_list_t *acc, bool report_drift);
bool r53_live_matches_want(const r53_list_t *acc);

/* route53_apply.c: the GetChange poll timer's callback; free the CREATEs of
 * the batch in flight. */
void r53_on_poll(evutil_socket_t fd, short what, void *arg);
void r53_free_created(void);

#endif
