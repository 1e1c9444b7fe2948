/* targets_int.h — private to the targets module: its state and what its
 * files share.  targets.c owns the state (targets and regions made and
 * freed, the accessors); targets_round.c runs the probe rounds and folds
 * them into health; targets_reload.c matches old and new targets on reload. */
#ifndef REGIOND_TARGETS_INT_H
#define REGIOND_TARGETS_INT_H

#include <regex.h>
#include <stdint.h>

#include <event2/event.h>

#include "config/cfg.h"
#include "daemon/targets.h"

/* Owned by targets.c. */
extern region_t **tg_regions;
extern size_t tg_nregions, tg_ntargets;
extern gen_t *tg_gen, *tg_prev;
extern reload_info_t tg_info;

/* targets.c: drop one reference to a generation (freed at the last); a
 * target's identity key (region, name, method, URL), malloc'd; (re)size a
 * target's per-address slots; make, free a target; free a region (and its
 * targets when asked). */
void tg_gen_unref(gen_t *g);
char *tg_key(const char *region, const cfg_api_t *api);
int tg_alloc_slots(target_t *t, unsigned cap);
target_t *tg_new(region_t *r, gen_t *g, const cfg_api_t *api, const regex_t *re);
void tg_free(target_t *t);
void tg_region_free(region_t *r, int free_targets);

/* targets_round.c: the round timer's callback; arm it for `due` (monotonic
 * ms); cancel what a round has in flight; fold the targets' health into the
 * region's and report a change. */
void tg_round_start(evutil_socket_t fd, short what, void *arg);
void tg_schedule(target_t *t, uint64_t due);
void tg_round_abort(target_t *t);
void tg_region_eval(region_t *r);
/* Free the line of rounds waiting for a probe slot (at shutdown). */
void targets_round_fini(void);

#endif
