/* log_journal — see log_int.h.
 *
 * libsystemd's sd_journal_sendv writes the native protocol (a value with a
 * newline in the length-prefixed form) on one datagram socket it opens at
 * its first call.  That socket is blocking, so a stuck journald (its queue
 * full) would hang the loop in sendmsg: we find the socket (the lowest free
 * descriptor just before that first call) and make it non-blocking, so a
 * full queue is EAGAIN and the line goes to stderr.  libsystemd reports a
 * missing socket as success (ENOENT is "journal not available"), so the
 * socket's presence is checked before each send: the line is never lost.
 * The first send is made by log_init, at start-up before the loop runs: the
 * only one on a socket still blocking (a journald stuck then holds the
 * start, which systemd's start timeout bounds). */
#include "core/log_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#define LOGJ_SOCKET "/run/systemd/journal/socket"
#define LOGJ_VAL_MAX 512

static int logj_fd = -2;   /* -2: no send yet; -1: not found (journal not used) */

int logj_stream_matches(void)
{
    const char *e = getenv("JOURNAL_STREAM");
    if (!e || !*e)
        return 0;
    char *end;
    errno = 0;
    unsigned long long dev = strtoull(e, &end, 10);
    if (errno || end == e || *end != ':')
        return 0;
    const char *p = end + 1;
    unsigned long long ino = strtoull(p, &end, 10);
    if (errno || end == p || *end)
        return 0;
    struct stat st;
    if (fstat(STDERR_FILENO, &st) == -1)
        return 0;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

/* After the first send (result r): is descriptor fd libsystemd's datagram
 * socket?  Then make it non-blocking.  Not there after a failed send: it
 * may not have been opened, try again at the next line; after a send that
 * worked: the journal is not used again (it could block). */
static void logj_adopt(int fd, int r)
{
    struct stat st;
    int type = 0;
    socklen_t tl = sizeof(type);
    if (fstat(fd, &st) == -1 || !S_ISSOCK(st.st_mode) ||
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == -1 || type != SOCK_DGRAM) {
        logj_fd = r < 0 ? -2 : -1;
        return;
    }
    int fl = fcntl(fd, F_GETFL);
    logj_fd = fl != -1 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) != -1 ? fd : -1;
}

/* A value a field may take from a line: the name characters config
 * allows (A-Z a-z 0-9 . _ -), 1 to 64 of them. */
static int logj_name_ok(const char *v, size_t n)
{
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') ||
              (v[i] >= '0' && v[i] <= '9') || v[i] == '.' || v[i] == '_' || v[i] == '-'))
            return 0;
    return 1;
}

/* The first bare value of key `key` in line, copied to out; 0 when none.
 * Only the pairs before the first "quoted" value other than msg= count:
 * free text (an error, a peer's answer) is quoted and comes later, and a
 * "region=" inside it must not become a field. */
static int logj_find(const char *line, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    const char *p = line;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *k = p;
        while (*p && *p != '=' && *p != ' ')
            p++;
        if (*p != '=')
            continue;
        size_t kn = (size_t)(p - k);
        const char *v = ++p, *ve;
        if (*v == '"') {
            if (kn != 3 || memcmp(k, "msg", 3) != 0)
                return 0;
            for (ve = v + 1; *ve && *ve != '"'; ve++)
                ;
            p = *ve ? ve + 1 : ve;
            continue;
        }
        for (ve = v; *ve && *ve != ' '; ve++)
            ;
        p = ve;
        if (kn == kl && memcmp(k, key, kl) == 0) {
            if (!logj_name_ok(v, (size_t)(ve - v)))
                return 0;
            snprintf(out, cap, "%.*s", (int)(ve - v), v);
            return 1;
        }
    }
    return 0;
}

/* Append "NAME=value" to iov (value from f, or found in msg). */
static void logj_field(struct iovec *iov, int *n, char *buf, const char *name,
                       const char *given, const char *msg, const char *key, int from_msg)
{
    char v[LOGJ_VAL_MAX];
    if (from_msg) {
        if (!logj_find(msg, key, v, sizeof(v)))
            return;
        given = v;
    }
    if (!given || !*given)
        return;
    int l = snprintf(buf, LOGJ_VAL_MAX + 32, "%s=%.*s", name, LOGJ_VAL_MAX, given);
    if (l <= 0)
        return;
    iov[*n].iov_base = buf;
    iov[*n].iov_len = strlen(buf);
    (*n)++;
}

void logj_start(void)
{
    static const log_fields_t none;
    logj_send(LOG_DEBUG, "msg=\"logging to the journal\"", &none);
}

int logj_send(int prio, const char *msg, const log_fields_t *f)
{
    struct stat st;
    if (stat(LOGJ_SOCKET, &st) == -1 || !S_ISSOCK(st.st_mode))
        return -1;
    static char m[4096 + 8];
    char pr[16], fb[4][LOGJ_VAL_MAX + 32];
    struct iovec iov[7];
    int n = 0;
    snprintf(m, sizeof(m), "MESSAGE=%s", msg);
    snprintf(pr, sizeof(pr), "PRIORITY=%d", prio & 7);
    iov[n++] = (struct iovec){ m, strlen(m) };
    iov[n++] = (struct iovec){ pr, strlen(pr) };
    iov[n++] = (struct iovec){ (void *)"SYSLOG_IDENTIFIER=regiond", strlen("SYSLOG_IDENTIFIER=regiond") };
    int fm = f == NULL;
    logj_field(iov, &n, fb[0], "REGIOND_REGION", f ? f->region : NULL, msg, "region", fm);
    logj_field(iov, &n, fb[1], "REGIOND_TARGET", f ? f->target : NULL, msg, "target", fm);
    logj_field(iov, &n, fb[2], "REGIOND_DECISION", f ? f->decision : NULL, msg, "decision", fm);
    logj_field(iov, &n, fb[3], "REGIOND_EVENT", f ? f->event : NULL, msg, "event", fm);
    if (logj_fd == -1)   /* its socket could not be made non-blocking: never wait on it */
        return -1;
    int first = -1;
    if (logj_fd == -2) {   /* libsystemd opens its socket now: the lowest free fd */
        first = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (first == -1)
            return -1;     /* out of descriptors: so would libsystemd be; next line */
        close(first);
    }
    int r = sd_journal_sendv(iov, n);
    if (logj_fd == -2)
        logj_adopt(first, r);
    return r < 0 ? -1 : 0;
}
