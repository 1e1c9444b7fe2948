/* api_listen — the API's listeners: a unix socket (mode 0660, a stale one
 * from a previous run replaced) or HOST:PORT, each handing accept() errors
 * to api_on_accept_error (a pause, never a busy loop), and each registered
 * with api_conn for admission. */
#include "daemon/api_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/http.h>
#include <event2/listener.h>

#include "core/log.h"
#include "core/loop.h"
#include "daemon/rsrc.h"

static char *api_unix_path;   /* unlinked at stop */

/* accept() failed.  Out of descriptors, the listener stays readable and
 * libevent would retry (and log) in a busy loop: pause accepting for a
 * moment instead; transfers finishing free descriptors meanwhile. */
static uint64_t api_accept_errors;

static void api_on_accept_error(struct evconnlistener *l, void *arg)
{
    (void)arg, (void)l;
    int e = EVUTIL_SOCKET_ERROR();
    if (api_accept_errors++ % 100 == 0)
        log_msg(LOG_WARNING, "msg=\"cannot accept an API connection\" error=\"%s\" errors=%llu "
                "(accepting again in 100 ms)", strerror(e), (unsigned long long)api_accept_errors);
    rsrc_note(RSRC_ACCEPT, strerror(e));
    apic_pause_accept(100);
}

int api_listen_unix(struct evhttp *http, const char *path, char *err, size_t errlen)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "listen unix:%s: path too long", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    struct stat stt;
    if (lstat(path, &stt) == 0 && S_ISSOCK(stt.st_mode))
        unlink(path);   /* a stale socket from a previous run */
    struct evconnlistener *l = evconnlistener_new_bind(
        loop_base(), NULL, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 64,
        (struct sockaddr *)&sa, (int)sizeof(sa));
    if (!l) {
        snprintf(err, errlen, "listen unix:%s: %s", path, strerror(errno));
        return -1;
    }
    chmod(path, 0660);
    evconnlistener_set_error_cb(l, api_on_accept_error);
    apic_set_listener(l);
    if (!evhttp_bind_listener(http, l)) {
        evconnlistener_free(l);
        snprintf(err, errlen, "listen unix:%s: cannot attach", path);
        return -1;
    }
    api_unix_path = strdup(path);
    return 0;
}

int api_listen_inet(struct evhttp *http, const char *listen, char *err, size_t errlen)
{
    char host[128];
    const char *colon = strrchr(listen, ':');
    if (!colon || (size_t)(colon - listen) >= sizeof(host)) {
        snprintf(err, errlen, "listen %s: expected HOST:PORT", listen);
        return -1;
    }
    const char *h = listen;
    size_t hl = (size_t)(colon - listen);
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']')
        h++, hl -= 2;
    snprintf(host, sizeof(host), "%.*s", (int)hl, h);
    int port = atoi(colon + 1);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(http, host, (ev_uint16_t)port);
    if (!bs) {
        snprintf(err, errlen, "listen %s: cannot bind: %s", listen, strerror(errno));
        return -1;
    }
    evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(bs), api_on_accept_error);
    apic_set_listener(evhttp_bound_socket_get_listener(bs));
    return 0;
}

void api_listen_fini(void)
{
    if (api_unix_path)
        unlink(api_unix_path);
    free(api_unix_path);
    api_unix_path = NULL;
}
