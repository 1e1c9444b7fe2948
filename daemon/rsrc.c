/* rsrc — see rsrc.h. */
#include "daemon/rsrc.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/alarm.h"
#include "core/log.h"
#include "core/loop.h"


static const char *const rsrc_names[RSRC_COUNT] = {"probes", "api_connections", "stream_clients", "accept"};
static uint64_t rsrc_n[RSRC_COUNT], rsrc_last_ms[RSRC_COUNT];
static unsigned rsrc_raised_mask;   /* kinds named in the raised alarm */
static struct event *rsrc_quiet_ev;
static char rsrc_detail[RSRC_COUNT][160];

const char *rsrc_kind_str(rsrc_kind_t k)
{
    return (unsigned)k < RSRC_COUNT ? rsrc_names[k] : "invalid";
}

uint64_t rsrc_count(rsrc_kind_t k)
{
    return (unsigned)k < RSRC_COUNT ? rsrc_n[k] : 0;
}

bool rsrc_shortage(char *why, size_t len)
{
    static const rsrc_kind_t host[] = {RSRC_PROBE, RSRC_ACCEPT};
    size_t off = 0;
    bool any = false;
    if (why && len)
        why[0] = '\0';
    for (size_t i = 0; i < sizeof(host) / sizeof(*host); i++) {
        if (!(rsrc_raised_mask & (1u << host[i])))
            continue;
        any = true;
        if (why && off + 1 < len)
            off += (size_t)snprintf(why + off, len - off, "%s%s (%s)", off ? ", " : "", rsrc_names[host[i]],
                                    rsrc_detail[host[i]]);
    }
    return any;
}

static void rsrc_on_quiet(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    uint64_t now = loop_now_ms();
    unsigned live = 0;
    for (unsigned k = 0; k < RSRC_COUNT; k++)
        if (rsrc_last_ms[k] && now - rsrc_last_ms[k] < RSRC_QUIET_S * 1000u)
            live |= 1u << k;
    if (live) {
        struct timeval tv = {5, 0};
        evtimer_add(rsrc_quiet_ev, &tv);
        return;
    }
    rsrc_raised_mask = 0;
    alarm_resolve(alarm_key(ALARM_CONTROLLER_RESOURCES).s, "regiond has had what it needs for 60 s");
}

/* One summary per set of kinds: the alarm is raised again only when a new
 * kind joins (de-duplication ignores the counts). */
static void rsrc_raise(void)
{
    char sum[600];
    size_t o = (size_t)snprintf(sum, sizeof(sum), "regiond is short of its own resources (not a region's "
                                "failure; health is left unchanged):");
    for (unsigned k = 0; k < RSRC_COUNT && o < sizeof(sum); k++)
        if (rsrc_raised_mask & (1u << k))
            o += (size_t)snprintf(sum + o, sizeof(sum) - o, " %s (%s);", rsrc_names[k], rsrc_detail[k]);
    cJSON *d = cJSON_CreateObject();
    for (unsigned k = 0; d && k < RSRC_COUNT; k++)
        cJSON_AddNumberToObject(d, rsrc_names[k], (double)rsrc_n[k]);
    alarm_raise(alarm_key(ALARM_CONTROLLER_RESOURCES).s, "warning", sum, d);
}

void rsrc_note(rsrc_kind_t k, const char *detail)
{
    if ((unsigned)k >= RSRC_COUNT)
        return;
    rsrc_n[k]++;
    rsrc_last_ms[k] = loop_now_ms();
    if (rsrc_raised_mask & (1u << k))
        return;
    snprintf(rsrc_detail[k], sizeof(rsrc_detail[k]), "%s", detail ? detail : "");
    rsrc_raised_mask |= 1u << k;
    log_msg(LOG_WARNING, "msg=\"controller short of resources\" kind=%s detail=\"%s\"", rsrc_names[k],
            rsrc_detail[k]);
    rsrc_raise();
    if (!rsrc_quiet_ev && !(rsrc_quiet_ev = evtimer_new(loop_base(), rsrc_on_quiet, NULL)))
        return;
    struct timeval tv = {5, 0};
    if (!evtimer_pending(rsrc_quiet_ev, NULL))
        evtimer_add(rsrc_quiet_ev, &tv);
}

void rsrc_fini(void)
{
    if (rsrc_quiet_ev)
        event_free(rsrc_quiet_ev);
    rsrc_quiet_ev = NULL;
}
