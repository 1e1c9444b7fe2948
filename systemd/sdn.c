/* sdn — see sdn.h (keepalived's lib/systemd.c is the model: tiny).
 *
 * Messages go out on our own non-blocking datagram socket, not through
 * sd_notify(): libsystemd's sd_notify() sends blocking, so a PID 1 that
 * stops reading (its queue full) would hang the loop in it.  A message
 * that cannot be sent at once is dropped and counted; the next watchdog
 * ping is half an interval away. */
#include "systemd/sdn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "core/log.h"
#include "core/loop.h"

static struct event *sdn_wd;
static int sdn_fd = -1;
static struct sockaddr_un sdn_addr;
static socklen_t sdn_addrlen;
static uint64_t sdn_sent, sdn_dropped;

/* The notify socket from $NOTIFY_SOCKET (a path, or "@name" in the
 * abstract namespace); false outside systemd. */
static bool sdn_open(void)
{
    if (sdn_fd != -1)
        return true;
    const char *e = getenv("NOTIFY_SOCKET");
    size_t len = e ? strlen(e) : 0;
    if (len < 2 || len >= sizeof(sdn_addr.sun_path) || (e[0] != '/' && e[0] != '@'))
        return false;
    memset(&sdn_addr, 0, sizeof(sdn_addr));
    sdn_addr.sun_family = AF_UNIX;
    memcpy(sdn_addr.sun_path, e, len);
    if (e[0] == '@')
        sdn_addr.sun_path[0] = '\0';
    sdn_addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (e[0] == '/' ? 1 : 0));
    sdn_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (sdn_fd == -1) {
        log_msg(LOG_ERR, "msg=\"no systemd notify socket\" error=\"%s\"", strerror(errno));
        return false;
    }
    return true;
}

/* Send one message without ever blocking: dropped (and counted) when the
 * receiver's queue is full or it is gone. */
static void sdn_send(const char *msg)
{
    if (!sdn_open())
        return;
    ssize_t n = sendto(sdn_fd, msg, strlen(msg), MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&sdn_addr,
                       sdn_addrlen);
    if (n == -1) {
        if (sdn_dropped++ % 100 == 0)   /* the first, then every 100th: a stalled PID 1 floods nothing */
            log_msg(LOG_WARNING, "msg=\"systemd notification dropped\" error=\"%s\" dropped=%llu",
                    strerror(errno), (unsigned long long)sdn_dropped);
        return;
    }
    sdn_sent++;
}

static void sdn_on_watchdog(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    sdn_send("WATCHDOG=1");   /* sent from the loop: proves the loop turns */
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
    sdn_send("WATCHDOG=1");
    return 0;
}

void sdn_ready(const char *status)
{
    char m[600];
    snprintf(m, sizeof(m), "READY=1\nSTATUS=%s", status);
    sdn_send(m);
}

void sdn_status(const char *status)
{
    char m[600];
    snprintf(m, sizeof(m), "STATUS=%s", status);
    sdn_send(m);
}

void sdn_stopping(void)
{
    sdn_send("STOPPING=1\nSTATUS=stopping");
}

void sdn_counts(uint64_t *sent, uint64_t *dropped)
{
    *sent = sdn_sent;
    *dropped = sdn_dropped;
}

void sdn_fini(void)
{
    if (sdn_wd)
        event_free(sdn_wd);
    sdn_wd = NULL;
    if (sdn_fd != -1)
        close(sdn_fd);
    sdn_fd = -1;
}
