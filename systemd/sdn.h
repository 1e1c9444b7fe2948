/* sdn — systemd integration: READY=1, STATUS=, WATCHDOG=1 from the loop at
 * half of WATCHDOG_USEC, STOPPING=1.  Does nothing outside systemd. */
#ifndef REGIOND_SDN_H
#define REGIOND_SDN_H

/* Arm the watchdog timer on the loop if systemd asked for one. */
int sdn_init(void);

void sdn_ready(const char *status);
void sdn_status(const char *status);
void sdn_stopping(void);
void sdn_fini(void);

#endif
