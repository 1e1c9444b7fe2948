/* pyserver_kit.h — a python3 helper server for the unit tests that talk to
 * one (test_alarm.c, test_creds_http.c): started as `python3 -c SCRIPT
 * ARGS...`, it prints one line when ready (its ports); stopped with SIGTERM. */
#ifndef REGIOND_PYSERVER_KIT_H
#define REGIOND_PYSERVER_KIT_H

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/loop.h"

static pid_t server_pid = -1;
static int server_out = -1;

/* Start the server with argv {"python3", "-c", script, args..., NULL} (argv
 * given whole) and read its first line into buf (10 s at most): 0, or -1. */
static inline int pyserver_start(char *const argv[], char *buf, size_t size)
{
    int fds[2];
    if (pipe(fds) == -1)
        return -1;
    server_pid = fork();
    if (server_pid == -1)
        return -1;
    if (server_pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execv("/usr/bin/python3", argv);
        _exit(127);
    }
    close(fds[1]);
    server_out = fds[0];           /* kept open until the server stops */
    /* The line, possibly in several writes. */
    size_t len = 0;
    buf[0] = '\0';
    struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
    uint64_t end = loop_now_ms() + 10000;
    while (!memchr(buf, '\n', len) && len < size - 1 && loop_now_ms() < end) {
        int pr = poll(&pfd, 1, 1000);
        if (pr == 0 || (pr == -1 && errno == EINTR))
            continue;
        ssize_t n = pr == 1 ? read(fds[0], buf + len, size - 1 - len) : -1;
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
    }
    return 0;
}

static inline void stop_server(void)
{
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        waitpid(server_pid, NULL, 0);
        server_pid = -1;
    }
    if (server_out != -1)
        close(server_out);
    server_out = -1;
}

#endif
