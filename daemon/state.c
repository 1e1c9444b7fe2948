/* state — see state.h. */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static char *state_path;

int state_init(const char *dir, char *err, size_t errlen)
{
    free(state_path);
    state_path = strdup(dir);
    if (!state_path) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (mkdir(dir, 0750) == -1 && errno != EEXIST) {
        snprintf(err, errlen, "state_dir %s: cannot create: %s", dir, strerror(errno));
        return -1;
    }
    if (access(dir, W_OK | X_OK) == -1) {
        snprintf(err, errlen, "state_dir %s: not writable: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

const char *state_dir(void)
{
    return state_path;
}

int state_write(const char *name, const char *data, size_t len)
{
    char path[4096], tmp[4096];
    snprintf(path, sizeof(path), "%s/%s", state_path, name);
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", state_path, name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd == -1)
        goto fail;
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            close(fd);
            goto fail;
        }
        off += (size_t)n;
    }
    if (fsync(fd) == -1 || close(fd) == -1)
        goto fail;
    if (rename(tmp, path) == -1)
        goto fail;
    int dfd = open(state_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd != -1) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
fail:
    log_msg(LOG_ERR, "msg=\"state write failed\" file=%s error=\"%s\"", path, strerror(errno));
    unlink(tmp);
    return -1;
}

char *state_read(const char *name, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", state_path, name);
    FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n < cap)
            break;
        if (cap >= (16u << 20)) {  /* state files are small; refuse runaway ones */
            free(buf);
            buf = NULL;
            errno = EFBIG;
            break;
        }
        cap *= 2;
        char *nb = realloc(buf, cap + 1);
        if (!nb) {
            free(buf);
            buf = NULL;
        }
        buf = nb;
    }
    fclose(f);
    if (!buf)
        return NULL;
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

void state_fini(void)
{
    free(state_path);
    state_path = NULL;
}
