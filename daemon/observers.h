/* observers — this instance's view of the regions for cluster/views.h (the
 * regions' health from targets, the probe counts of the last heartbeat
 * window), and the module's place in main's table. */
#ifndef REGIOND_OBSERVERS_H
#define REGIOND_OBSERVERS_H

#include "config/cfg.h"

int observers_init(const cfg_t *cfg);
void observers_configure(const cfg_t *cfg);
void observers_fini(void);

#endif
