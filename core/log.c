/* log — see log.h. */
#include "core/log.h"
#include "core/log_int.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOG_SLOTS 64

typedef struct {
    uint64_t hash;
    time_t window_start;   /* monotonic seconds */
    unsigned count;
    unsigned suppressed;
    char sample[160];
} log_slot_t;

static int log_level = LOG_INFO;
static int log_journal;   /* JOURNAL_STREAM names our stderr */
static log_slot_t log_slots[LOG_SLOTS];

static const char *const log_names[] = {
    "emerg", "alert", "crit", "error", "warning", "notice", "info", "debug",
};

void log_init(int level)
{
    log_level = level;
    log_journal = logj_stream_matches();
    if (log_journal)
        logj_start();
    memset(log_slots, 0, sizeof(log_slots));
}

void log_set_level(int level)
{
    log_level = level;
}

int log_level_parse(const char *s)
{
    static const struct { const char *n; int l; } map[] = {
        {"debug", LOG_DEBUG}, {"info", LOG_INFO}, {"notice", LOG_NOTICE},
        {"warning", LOG_WARNING}, {"error", LOG_ERR},
    };
    for (size_t i = 0; s && i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(s, map[i].n) == 0)
            return map[i].l;
    return -1;
}

static uint64_t log_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* raw: the line as formatted (the journal keeps its newlines); NULL for
 * lines of our own.  f: the caller's journal fields, or NULL. */
static void log_write(int prio, const char *line, const char *raw, const log_fields_t *f)
{
    if (log_journal && logj_send(prio, raw ? raw : line, f) == 0)
        return;
    if (log_journal) {
        fprintf(stderr, "<%d>%s\n", prio, line);
    } else {
        struct timespec ts;
        struct tm tm;
        char when[32];
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
        fprintf(stderr, "%s.%03ldZ level=%s %s\n", when, ts.tv_nsec / 1000000L,
                log_names[prio & 7], line);
    }
}

/* Returns 1 when the line may be written; handles the window roll-over. */
static int log_admit(int prio, const char *line)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t h = log_hash(line);
    log_slot_t *s = &log_slots[h % LOG_SLOTS];
    if (s->hash != h || ts.tv_sec - s->window_start >= LOG_WINDOW_S) {
        if (s->suppressed) {
            char msg[256];
            snprintf(msg, sizeof(msg), "msg=\"suppressed repeats\" count=%u line=\"%.150s\"",
                     s->suppressed, s->sample);
            log_write(LOG_NOTICE, msg, NULL, NULL);
        }
        s->hash = h;
        s->window_start = ts.tv_sec;
        s->count = 0;
        s->suppressed = 0;
        snprintf(s->sample, sizeof(s->sample), "%.159s", line);
    }
    (void)prio;
    if (++s->count > LOG_BURST) {
        s->suppressed++;
        return 0;
    }
    return 1;
}

static void log_vmsg(int prio, const log_fields_t *f, const char *fmt, va_list ap)
{
    char raw[2048], line[2048];
    vsnprintf(raw, sizeof(raw), fmt, ap);
    snprintf(line, sizeof(line), "%s", raw);
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    if (log_admit(prio, line))
        log_write(prio, line, raw, f);
}

void log_msg(int prio, const char *fmt, ...)
{
    if (prio > log_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(prio, NULL, fmt, ap);
    va_end(ap);
}

void log_msg_fields(int prio, const log_fields_t *f, const char *fmt, ...)
{
    static const log_fields_t none;
    if (prio > log_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(prio, f ? f : &none, fmt, ap);
    va_end(ap);
}

int log_to_journal(void)
{
    return log_journal;
}

void log_fatal_oom(const char *what)
{
    fprintf(stderr, "%smsg=\"out of memory\" what=\"%s\"\n", log_journal ? "<2>" : "", what);
    abort();
}
