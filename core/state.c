/* state — the file API of state.h: atomic writes of files in state_dir, the
 * JSON persist ending, set-up.  The loop never waits on the disk: a caller
 * that must know the outcome (a control request, a reservation of numbers,
 * a backup run) uses state_write_then() and goes on in its callback;
 * everything else goes through state_write_async().  state_write() waits,
 * and is for start-up (before the loop runs) and tests only.  The queue and
 * the thread that does the writing are state_writer.c's; reading and safe
 * mode are state_load.c's. */
#include "core/state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/state_writer.h"

static char *state_path;
static char st_last_err[512];

int state_write_file(const char *name, const char *data, size_t len, char *err, size_t errlen)
{
    char path[4096], tmp[4096];
    snprintf(path, sizeof(path), "%s/%s", state_path, name);
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", state_path, name);
    const char *step = "open";
    /* A fresh file: whatever sits at the temporary name (a symlink to a
     * file elsewhere, a FIFO that would block this thread) goes first. */
    if (unlink(tmp) == -1 && errno != ENOENT)
        goto fail;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (fd == -1)
        goto fail;
    size_t off = 0;
    step = "write";
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            errno = e;
            goto fail;
        }
        off += (size_t)n;
    }
    step = "fsync";
    if (fsync(fd) == -1) {
        int e = errno;
        close(fd);
        errno = e;
        goto fail;
    }
    step = "close";
    if (close(fd) == -1)
        goto fail;
    step = "rename";
    if (rename(tmp, path) == -1)
        goto fail;
    int dfd = open(state_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd != -1) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
fail:
    snprintf(err, errlen, "%.300s: %s: %.150s", path, step, strerror(errno));
    unlink(tmp);
    return -1;
}

int state_remove_file(const char *name, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", state_path, name);
    if (unlink(path) == -1 && errno != ENOENT) {
        snprintf(err, errlen, "%.300s: unlink: %.150s", path, strerror(errno));
        return -1;
    }
    return 0;
}

void state_note_failed(const char *err)
{
    snprintf(st_last_err, sizeof(st_last_err), "%s", err);
    log_msg(LOG_ERR, "msg=\"state write failed\" error=\"%s\"", err);
}

int state_write(const char *name, const char *data, size_t len)
{
    char err[512] = "";
    /* Without the thread (before it, never in practice, or after it stopped): here. */
    int rc = stw_running() ? stw_write_wait(name, data, len, err, sizeof(err))
                           : state_write_file(name, data, len, err, sizeof(err));
    if (rc == STW_NOMEM) {
        snprintf(st_last_err, sizeof(st_last_err), "%s/%s: out of memory", state_path, name);
        return -1;
    }
    if (rc == STW_TIMEOUT)   /* the disk is stalled: given up, the caller answers 503 */
        snprintf(err, sizeof(err), "%.300s/%.60s: the disk did not finish the write within %d s", state_path, name,
                 STATE_WAIT_S);
    if (rc != 0) {
        state_note_failed(err);
        return -1;
    }
    return 0;
}

int state_write_async(const char *name, const char *data, size_t len)
{
    if (!stw_running())
        return state_write(name, data, len);
    return stw_write_async(name, data, len);
}

int state_write_then(const char *name, const char *data, size_t len, state_done_fn done, void *arg)
{
    if (!stw_running()) {   /* before the thread (never in practice) or after it stopped */
        char err[512] = "";
        int rc = state_write_file(name, data, len, err, sizeof(err));
        done(arg, rc, err);
        return 0;
    }
    return stw_write_then(name, data, len, done, arg);
}

int state_write_json(const char *name, const cJSON *doc, unsigned flags, state_done_fn then, void *arg)
{
    char *s = !doc ? NULL : (flags & STATE_JSON_PRETTY) ? cJSON_Print(doc) : cJSON_PrintUnformatted(doc);
    if (!s)
        return STATE_NOMEM;
    int rc = then ? state_write_then(name, s, strlen(s), then, arg)
             : (flags & STATE_JSON_WAIT) ? state_write(name, s, strlen(s)) : state_write_async(name, s, strlen(s));
    free(s);
    return rc;
}

void state_remove_async(const char *name)
{
    if (!stw_running()) {
        char err[512];
        (void)state_remove_file(name, err, sizeof(err));
        return;
    }
    stw_remove(name);
}

const char *state_last_error(void)
{
    return st_last_err;
}


/* ---- set-up ---- */

void state_alarms_ready(void)
{
    stw_loop_ready();
    state_corrupt_alarms_ready();
}

int state_init(const char *dir, char *err, size_t errlen)
{
    free(state_path);
    state_path = strdup(dir);
    if (!state_path) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (mkdir(dir, 0750) == -1 && errno != EEXIST) {
        snprintf(err, errlen, "controller.state_dir: %s: cannot create: %s", dir, strerror(errno));
        return -1;
    }
    struct stat st;
    if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode) || access(dir, W_OK | X_OK) == -1) {
        snprintf(err, errlen, "controller.state_dir: %s: not writable (must be a directory regiond can write)", dir);
        return -1;
    }
    return stw_start(dir, err, errlen);
}

const char *state_dir(void)
{
    return state_path;
}

void state_fini(void)
{
    stw_stop();   /* the queued writes finish first: they need the directory's name */
    free(state_path);
    state_path = NULL;
}
