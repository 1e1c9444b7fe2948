/* sdn — systemd integration: READY=1, STATUS=, WATCHDOG=1 from the loop at
 * half of WATCHDOG_USEC, STOPPING=1.  Does nothing outside systemd.  Never
 * blocks the loop: a message the notify socket cannot take at once (PID 1
 * stalled, its queue full) is dropped and counted. */
#ifndef REGIOND_SDN_H
#define REGIOND_SDN_H

#include <stdint.h>

/* Arm the watchdog timer on the loop if systemd asked for one. */
int sdn_init(void);

void sdn_ready(const char *status);
void sdn_status(const char *status);
void sdn_stopping(void);
/* Notifications sent, and dropped because they could not be sent at once. */
void sdn_counts(uint64_t *sent, uint64_t *dropped);

void sdn_fini(void);

#endif
