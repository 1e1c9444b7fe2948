/* observers_record — the last record of a quorum decision per region
 * (failover/quorum.h quorum_record; issue 18 item 4; docs/ha.md "Which views
 * a decision used"): the views counted and those left out, each left-out
 * one with its detail (a silent view's age, a suspect view's reason), as
 * status, the event quorum_decision, the decision event's "quorum" and the
 * alarms' details show it; also a latched down forgotten (call "forgotten":
 * a fail drill stopped acting here) with its drill and reason.  Owner: observers_quorum.c keeps one per
 * region; this module only builds what is shown.  Bounded: one entry per
 * configured observer (at most QUORUM_MAX_OBS), each detail at most
 * OQR_DETAIL_MAX bytes. */
#ifndef REGIOND_OBSERVERS_RECORD_H
#define REGIOND_OBSERVERS_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "failover/quorum.h"

#define OQR_DETAIL_MAX 160
#define OQR_REASON_MAX 160

typedef struct {
    bool have;
    uint64_t seq;                                 /* its number among this instance's records (from 1) */
    uint64_t mono_ms;                             /* when made */
    bool leader;                                  /* this instance led then (its decision acts) */
    quorum_record_t rec;
    char ids[QUORUM_MAX_OBS][65];                 /* observer i's id then (a reload may change the list) */
    uint64_t age_ms[QUORUM_MAX_OBS];              /* each view's age then (UINT64_MAX: none held) */
    char detail[QUORUM_MAX_OBS][OQR_DETAIL_MAX + 1];   /* a suspect view's reason; "" otherwise */
    uint64_t drill;                               /* forgotten: the fail drill that stopped acting (0: not known) */
    char reason[OQR_REASON_MAX + 1];              /* forgotten: why, for a person; "" otherwise */
} oqr_t;

/* {"seq", "call", "from", "to", "would" (refused only), "why" (absent when
 *  forgotten), "drill" and "reason" (forgotten only; "drill" absent when not
 *  known), "k", "n", "leader", "age_ms" (since made, now - mono_ms),
 *  "counted": [ids], "left_out": [ids], "views": [{"observer", "vote",
 *  "counted", "left_out" (the reason, absent when counted), "view_age_ms"
 *  (absent when none), "detail" (suspect only)}]} -- the three lists empty
 *  when forgotten (no view was taken).  NULL when x->have is false or out
 *  of memory. */
cJSON *oqr_json(const oqr_t *x, uint64_t now);

/* The views the record took (and shows): its n, 0 when forgotten. */
uint32_t oqr_views(const oqr_t *x);

/* One line for a log or an alarm summary into buf: "drain of REGION refused
 * (no-quorum): counted a down; left out b silent, c suspect", or "REGION
 * forgotten (down to unknown): REASON". */
void oqr_line(const oqr_t *x, const char *region, char *buf, size_t len);

#endif
