/* sdn — see sdn.h (keepalived's lib/systemd.c is the model: tiny). */
#include "sdn.h"

#include <stdint.h>
#include <stdio.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "loop.h"

static struct event *sdn_wd;

static void sdn_on_watchdog(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    sd_notify(0, "WATCHDOG=1");   /* sent from the loop: proves the loop turns */
}

int sdn_init(void)
{
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
        return 0;
    sdn_wd = event_new(loop_base(), -1, EV_PERSIST, sdn_on_watchdog, NULL);
    uint64_t half = usec / 2;
    struct timeval tv = {(time_t)(half / 1000000u), (suseconds_t)(half % 1000000u)};
    if (!sdn_wd || event_add(sdn_wd, &tv) == -1) {
        log_msg(LOG_ERR, "msg=\"cannot arm the systemd watchdog timer\"");
        return -1;
    }
    log_msg(LOG_INFO, "msg=\"systemd watchdog armed\" interval_ms=%llu",
            (unsigned long long)(half / 1000u));
    sd_notify(0, "WATCHDOG=1");
    return 0;
}

void sdn_ready(const char *status)
{
    sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void sdn_status(const char *status)
{
    sd_notifyf(0, "STATUS=%s", status);
}

void sdn_stopping(void)
{
    sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}

void sdn_fini(void)
{
    if (sdn_wd)
        event_free(sdn_wd);
    sdn_wd = NULL;
}
