/* state_load — reading state files, loudly: see state.h.  A file that
 * cannot be read, parsed or checked is never used with defaults in silence:
 * it is moved aside for the post-mortem, a critical alarm names it, and
 * regiond stays in safe mode (no Route 53 write) until released. */
#include "core/state.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alarm.h"
#include "core/log.h"
#include "core/loop.h"

#define ST_MAX_CORRUPT 8

static struct {
    char name[64], aside[160], why[256];
} sl_bad[ST_MAX_CORRUPT];
static size_t sl_nbad;
static bool sl_safe, sl_alarms_on;
static char sl_safe_why[700];

char *state_read(const char *name, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", state_dir(), name);
    /* Non-blocking open: a FIFO put in a state file's place would block
     * open() until a writer came (regiond hung at start, before /healthz);
     * anything but a regular file is refused, so it is moved aside. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd == -1)
        return NULL;
    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
        close(fd);
        errno = EFTYPE_STATE;
        return NULL;
    }
    FILE *f = fdopen(fd, "r");
    if (!f) {
        int e = errno;
        close(fd);
        errno = e;
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n < cap) {
            if (ferror(f)) {
                free(buf);
                buf = NULL;
                errno = EIO;
            }
            break;
        }
        if (cap >= STATE_MAX_BYTES) {   /* state files are small; refuse runaway ones */
            free(buf);
            buf = NULL;
            errno = EFBIG;
            break;
        }
        cap *= 2;
        char *nb = realloc(buf, cap + 1);
        if (!nb) {
            free(buf);
            errno = ENOMEM;
        }
        buf = nb;
    }
    int e = errno;
    fclose(f);
    if (!buf) {
        errno = e;
        return NULL;
    }
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

const char *state_read_error(int e)
{
    return e == EFBIG ? "larger than 16 MiB" : e == EFTYPE_STATE ? "not a regular file" : strerror(e);
}

bool state_int_in(const cJSON *v, double lo, double hi)
{
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) && v->valuedouble >= lo && v->valuedouble <= hi &&
           v->valuedouble == floor(v->valuedouble);
}

bool state_opt_str(const cJSON *x, const char *k, size_t max)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(x, k);
    return !v || (cJSON_IsString(v) && strlen(v->valuestring) < max);
}

bool state_opt_int(const cJSON *x, const char *k, double lo, double hi)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(x, k);
    return !v || state_int_in(v, lo, hi);
}

const char *state_get_str(const cJSON *x, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(x, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

double state_get_num(const cJSON *x, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(x, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static void sl_raise(size_t i)
{
    char sum[600];
    snprintf(sum, sizeof(sum), "state file %s/%s was corrupt (%s): moved to %s; Route 53 writes are frozen "
             "until an operator runs regionctl unfreeze", state_dir(), sl_bad[i].name, sl_bad[i].why,
             sl_bad[i].aside[0] ? sl_bad[i].aside : "(could not be moved)");
    alarm_key_t key = alarm_key_state_file(sl_bad[i].name);
    cJSON *d = cJSON_CreateObject();
    if (d) {
        cJSON_AddStringToObject(d, "file", sl_bad[i].name);
        cJSON_AddStringToObject(d, "moved_to", sl_bad[i].aside);
        cJSON_AddStringToObject(d, "reason", sl_bad[i].why);
    }
    alarm_raise(key.s, "critical", sum, d);
}

void state_corrupt(const char *name, const char *why)
{
    char path[4096], aside[4200], stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
    snprintf(path, sizeof(path), "%s/%s", state_dir(), name);
    snprintf(aside, sizeof(aside), "%s.corrupt-%s", path, stamp);
    for (int k = 2; k < 100 && access(aside, F_OK) == 0; k++)   /* never overwrite earlier evidence */
        snprintf(aside, sizeof(aside), "%s.corrupt-%s-%d", path, stamp, k);
    const char *moved = aside;
    if (rename(path, aside) == -1) {
        log_msg(LOG_CRIT, "msg=\"corrupt state file not moved aside\" file=%s error=\"%s\"", path,
                strerror(errno));
        moved = "";
    }
    log_msg(LOG_CRIT, "msg=\"corrupt state file: safe mode, Route 53 writes frozen until regionctl unfreeze\" "
            "file=%s reason=\"%s\" moved_to=%s", path, why, moved[0] ? moved : "-");
    size_t i = sl_nbad < ST_MAX_CORRUPT ? sl_nbad++ : ST_MAX_CORRUPT - 1;
    snprintf(sl_bad[i].name, sizeof(sl_bad[i].name), "%s", name);
    snprintf(sl_bad[i].why, sizeof(sl_bad[i].why), "%s", why);
    const char *base = strrchr(moved, '/');
    snprintf(sl_bad[i].aside, sizeof(sl_bad[i].aside), "%.150s", base ? base + 1 : moved);
    sl_safe = true;
    snprintf(sl_safe_why, sizeof(sl_safe_why), "safe mode: state file %s was corrupt (%s), moved to %s", name,
             why, sl_bad[i].aside[0] ? sl_bad[i].aside : "(not moved)");
    if (sl_alarms_on)
        sl_raise(i);
}

state_load_t state_load_json(const char *name, state_check_fn check, cJSON **out)
{
    char why[256] = "";
    size_t len = 0;
    *out = NULL;
    errno = 0;
    char *s = state_read(name, &len);
    if (!s) {
        if (errno == ENOENT)
            return STATE_MISSING;
        snprintf(why, sizeof(why), "cannot read: %s",
                 state_read_error(errno));
        state_corrupt(name, why);
        return STATE_CORRUPT;
    }
    const char *end = NULL;
    cJSON *o = len ? cJSON_ParseWithLengthOpts(s, len, &end, 0) : NULL;
    free(s);
    if (!o)
        snprintf(why, sizeof(why), "%s", len == 0 ? "empty file" : "not valid JSON (truncated or garbage)");
    else if (!cJSON_IsObject(o))
        snprintf(why, sizeof(why), "expected a JSON object");
    else if (check && check(o, why, sizeof(why)) == -1 && !why[0])
        snprintf(why, sizeof(why), "failed its checks");
    if (why[0]) {
        cJSON_Delete(o);
        state_corrupt(name, why);
        return STATE_CORRUPT;
    }
    *out = o;
    return STATE_LOADED;
}

void state_corrupt_alarms_ready(void)
{
    sl_alarms_on = true;
    for (size_t i = 0; i < sl_nbad; i++)
        sl_raise(i);
}

bool state_safe_mode(void)
{
    return sl_safe;
}

const char *state_safe_reason(void)
{
    return sl_safe ? sl_safe_why : "";
}

void state_safe_release(const char *who)
{
    if (!sl_safe)
        return;
    char sum[200];
    snprintf(sum, sizeof(sum), "safe mode released by %s", who && *who ? who : "an operator");
    for (size_t i = 0; i < sl_nbad; i++) {
        alarm_key_t key = alarm_key_state_file(sl_bad[i].name);
        alarm_resolve(key.s, sum);
    }
    log_msg(LOG_NOTICE, "msg=\"%s\"", sum);
    sl_nbad = 0;
    sl_safe = false;
    sl_safe_why[0] = '\0';
}
