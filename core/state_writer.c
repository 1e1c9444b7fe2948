/* state_writer — the writer thread behind state.h's writes: see
 * state_writer.h.  The thread takes jobs in order and writes each through
 * state_write_file(); a waiting state_write() is woken through one eventfd,
 * the loop through the other (completions to deliver); a 1 s timer on the
 * loop reports what the thread saw. */
#include "core/state_writer.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/alarm.h"
#include "core/log.h"
#include "core/loop.h"

/* One queued write.  Owner: the queue until taken; then the writer thread
 * (async: it frees the job) or the waiting caller (sync: it frees it). */
typedef struct st_job {
    char *name, *data;
    size_t len;
    bool remove, wait, done;
    bool started, abandoned;      /* taken by the thread; its waiter gave up (the thread frees it) */
    int rc;
    char err[512];
    state_done_fn then;           /* state_write_then(): called on the loop when done */
    void *then_arg;
    struct st_job *next;
} st_job_t;

static pthread_mutex_t st_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t st_work = PTHREAD_COND_INITIALIZER;
static int st_evfd = -1;                          /* the thread wakes a waiting state_write() */
static st_job_t *st_head, *st_tail;
static unsigned st_nqueued;
static bool st_stopping, st_thread_on;
static pthread_t st_thread;
static unsigned long st_failed, st_failed_seen;   /* async failures: counted by the thread, reported by the loop */
static bool st_failing;                          /* the state-write alarm is raised */
static char st_async_err[512];
static struct event *st_timer;
static int st_cbfd = -1;                          /* the thread wakes the loop: completions to deliver */
static st_job_t *st_done_head, *st_done_tail;     /* finished state_write_then() jobs, in order */
static struct event *st_cb_ev;
static uint64_t st_busy_ms;                       /* monotonic start of the write under way, 0: none */
static uint64_t st_busy_seq, st_stalled_seq;      /* which write; the one the stalled alarm is about (0: none) */
static char st_busy_name[64];

#define ST_STALL_MS 10000u   /* a write under way longer than this: the disk hangs (alarm) */

static uint64_t st_mono_ms(void)   /* on either thread (loop_now_ms is the loop's) */
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void st_free(st_job_t *j)
{
    free(j->name);
    free(j->data);
    free(j);
}


/* ---- the writer thread ---- */

/* Count a write's outcome for the loop's report (caller holds st_mu): a
 * failure raises the state-write alarm, a later success resolves it. */
static void st_note(int rc, const char *err)
{
    if (rc == -1) {
        st_failed++;
        snprintf(st_async_err, sizeof(st_async_err), "%s", err);
    } else if (st_failed) {
        st_async_err[0] = '\0';
    }
}

/* j is written (caller holds st_mu): hand its outcome to whoever waits for
 * it (the loop, in order; a waiting state_write()), or free it. */
static void st_finish(st_job_t *j, int rc, const char *err)
{
    st_busy_ms = 0;
    st_nqueued--;
    st_note(rc, err);
    if (j->then) {   /* the loop delivers the outcome, in order */
        j->rc = rc;
        snprintf(j->err, sizeof(j->err), "%s", err);
        if (st_done_tail)
            st_done_tail->next = j;
        else
            st_done_head = j;
        st_done_tail = j;
        j->next = NULL;
        uint64_t one = 1;
        if (write(st_cbfd, &one, sizeof(one)) == -1)
            (void)0;   /* the counter is full: the loop is woken already */
    } else if (j->wait && !j->abandoned) {   /* its waiter frees it */
        j->rc = rc;
        snprintf(j->err, sizeof(j->err), "%s", err);
        j->done = true;
        uint64_t one = 1;
        if (write(st_evfd, &one, sizeof(one)) == -1)
            (void)0;   /* the counter is full: the waiter is woken already */
    } else {
        st_free(j);
    }
}

static void *st_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&st_mu);
    for (;;) {
        while (!st_head && !st_stopping)
            pthread_cond_wait(&st_work, &st_mu);
        st_job_t *j = st_head;
        if (!j)
            break;   /* stopping and nothing left */
        st_head = j->next;
        if (!st_head)
            st_tail = NULL;
        j->started = true;
        st_busy_ms = st_mono_ms();
        st_busy_seq++;
        snprintf(st_busy_name, sizeof(st_busy_name), "%s", j->name ? j->name : "");
        pthread_mutex_unlock(&st_mu);
        char err[512] = "";
        int rc = j->remove ? state_remove_file(j->name, err, sizeof(err))
                           : state_write_file(j->name, j->data, j->len, err, sizeof(err));
        pthread_mutex_lock(&st_mu);
        st_finish(j, rc, err);
    }
    pthread_mutex_unlock(&st_mu);
    return NULL;
}


/* ---- the queue ---- */

static st_job_t *st_job(const char *name, const char *data, size_t len)
{
    st_job_t *j = calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    j->name = strdup(name);
    j->data = malloc(len + 1);
    if (!j->name || !j->data) {
        st_free(j);
        return NULL;
    }
    if (len)
        memcpy(j->data, data, len);
    j->len = len;
    return j;
}

/* Append j (caller holds st_mu). */
static void st_push(st_job_t *j)
{
    if (st_tail)
        st_tail->next = j;
    else
        st_head = j;
    st_tail = j;
    st_nqueued++;
    pthread_cond_signal(&st_work);
}

/* Queue j, which somebody waits for, ahead of writes nobody waits for
 * (caller holds st_mu): after the last queued write of the same file (a
 * later snapshot never loses to an earlier one) and after every waited-for
 * write (they keep their order), before the rest.  Files are independent,
 * so an operator's change waits for at most the write under way, not for
 * a queue of timeline saves. */
static void st_push_waited(st_job_t *j)
{
    st_job_t *after = NULL;
    for (st_job_t *q = st_head; q; q = q->next)
        if (q->then || q->wait || strcmp(q->name, j->name) == 0)
            after = q;
    if (!after || after == st_tail) {
        if (!after && st_head) {
            j->next = st_head;
            st_head = j;
            st_nqueued++;
            pthread_cond_signal(&st_work);
            return;
        }
        st_push(j);
        return;
    }
    j->next = after->next;
    after->next = j;
    st_nqueued++;
    pthread_cond_signal(&st_work);
}

/* Wait (holding st_mu on entry and return) until j is done or
 * STATE_WAIT_S passed on the monotonic clock.  poll() on an eventfd the
 * thread signals, not a timed condition wait: its timeout is relative. */
static void st_wait(st_job_t *j)
{
    uint64_t until = loop_now_ms() + STATE_WAIT_S * 1000u;
    while (!j->done) {
        uint64_t now = loop_now_ms();
        if (now >= until)
            return;
        pthread_mutex_unlock(&st_mu);
        struct pollfd p = {.fd = st_evfd, .events = POLLIN};
        if (poll(&p, 1, (int)(until - now)) > 0) {
            uint64_t v;
            if (read(st_evfd, &v, sizeof(v)) == -1 && errno != EAGAIN)
                log_msg(LOG_ERR, "msg=\"state writer wake-up lost\" error=\"%s\"", strerror(errno));
        }
        pthread_mutex_lock(&st_mu);
    }
}

/* A waiter gives up on j (caller holds st_mu): still queued, it is dropped;
 * already being written, the thread frees it when done. */
static void st_give_up(st_job_t *j)
{
    if (j->started) {
        j->abandoned = true;
        return;
    }
    st_job_t *prev = NULL;
    for (st_job_t *q = st_head; q; prev = q, q = q->next)
        if (q == j) {
            if (prev)
                prev->next = j->next;
            else
                st_head = j->next;
            if (st_tail == j)
                st_tail = prev;
            st_nqueued--;
            break;
        }
    st_free(j);
}

int stw_write_wait(const char *name, const char *data, size_t len, char *err, size_t errlen)
{
    st_job_t *j = st_job(name, data, len);
    if (!j)
        return STW_NOMEM;
    j->wait = true;
    pthread_mutex_lock(&st_mu);
    st_push(j);
    st_wait(j);
    if (!j->done) {   /* the disk is stalled: give up, the caller answers 503 */
        st_give_up(j);
        pthread_mutex_unlock(&st_mu);
        return STW_TIMEOUT;
    }
    pthread_mutex_unlock(&st_mu);
    int rc = j->rc;
    snprintf(err, errlen, "%s", j->err);
    st_free(j);
    return rc;
}

int stw_write_async(const char *name, const char *data, size_t len)
{
    pthread_mutex_lock(&st_mu);
    st_job_t *last = NULL;
    for (st_job_t *q = st_head; q; q = q->next)
        if (strcmp(q->name, name) == 0)
            last = q;
    if (last && !last->wait && !last->remove && !last->then) {   /* not started yet: the newer snapshot replaces it */
        char *nd = malloc(len + 1);
        if (nd) {
            memcpy(nd, data, len);
            free(last->data);
            last->data = nd;
            last->len = len;
            pthread_mutex_unlock(&st_mu);
            return 0;
        }
    }
    pthread_mutex_unlock(&st_mu);
    st_job_t *j = st_job(name, data, len);
    if (!j) {
        log_msg(LOG_ERR, "msg=\"state write not queued\" file=%s error=\"out of memory\"", name);
        return -1;
    }
    pthread_mutex_lock(&st_mu);
    st_push(j);
    pthread_mutex_unlock(&st_mu);
    return 0;
}

int stw_write_then(const char *name, const char *data, size_t len, state_done_fn done, void *arg)
{
    st_job_t *j = st_job(name, data, len);
    if (!j) {
        log_msg(LOG_ERR, "msg=\"state write not queued\" file=%s error=\"out of memory\"", name);
        return -1;
    }
    j->then = done;
    j->then_arg = arg;
    pthread_mutex_lock(&st_mu);
    st_push_waited(j);
    pthread_mutex_unlock(&st_mu);
    return 0;
}

void stw_remove(const char *name)
{
    st_job_t *j = st_job(name, "", 0);
    if (!j)
        return;
    j->remove = true;
    pthread_mutex_lock(&st_mu);
    st_push(j);
    pthread_mutex_unlock(&st_mu);
}

unsigned state_queued(void)
{
    pthread_mutex_lock(&st_mu);
    unsigned n = st_nqueued;
    pthread_mutex_unlock(&st_mu);
    return n;
}

unsigned long state_failures(void)
{
    pthread_mutex_lock(&st_mu);
    unsigned long n = st_failed;
    pthread_mutex_unlock(&st_mu);
    return n;
}


/* ---- on the loop ---- */

/* The writer thread finished state_write_then() jobs; call their callbacks
 * in the order the writes were queued. */
static void st_on_done(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    uint64_t v;
    if (read(st_cbfd, &v, sizeof(v)) == -1 && errno != EAGAIN)
        log_msg(LOG_ERR, "msg=\"state writer wake-up lost\" error=\"%s\"", strerror(errno));
    pthread_mutex_lock(&st_mu);
    st_job_t *list = st_done_head;
    st_done_head = st_done_tail = NULL;
    pthread_mutex_unlock(&st_mu);
    while (list) {
        st_job_t *j = list;
        list = j->next;
        if (j->rc == -1)
            state_note_failed(j->err);
        j->then(j->then_arg, j->rc, j->err);
        st_free(j);
    }
}

/* A write under way for over ST_STALL_MS raises state-write-stalled (the
 * disk hangs rather than fails); its completion resolves it. */
static void st_check_stall(uint64_t busy_ms, uint64_t seq, const char *name)
{
    uint64_t now = st_mono_ms();
    bool stalled = busy_ms && now - busy_ms >= ST_STALL_MS;
    if (stalled && st_stalled_seq != seq) {
        char sum[200];
        snprintf(sum, sizeof(sum), "writing state file %s for %" PRIu64 " s: the disk does not answer", name,
                 (now - busy_ms) / 1000u);
        log_msg(LOG_WARNING, "msg=\"state write stalled\" file=%s seconds=%" PRIu64, name, (now - busy_ms) / 1000u);
        alarm_raise(alarm_key(ALARM_STATE_WRITE_STALLED).s, "warning", sum, NULL);
        st_stalled_seq = seq;
    } else if (st_stalled_seq && (!busy_ms || seq != st_stalled_seq)) {
        alarm_resolve(alarm_key(ALARM_STATE_WRITE_STALLED).s, "the stalled state write completed");
        st_stalled_seq = 0;
    }
}

/* Once a second: report what the writer thread saw. */
static void st_on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    char err[512], name[64];
    pthread_mutex_lock(&st_mu);
    unsigned long failed = st_failed;
    snprintf(err, sizeof(err), "%s", st_async_err);
    uint64_t busy_ms = st_busy_ms, seq = st_busy_seq;
    snprintf(name, sizeof(name), "%s", st_busy_name);
    pthread_mutex_unlock(&st_mu);
    st_check_stall(busy_ms, seq, name);
    if (failed != st_failed_seen && err[0]) {
        log_msg(LOG_ERR, "msg=\"state write failed\" error=\"%s\" failures=%lu", err, failed);
        char sum[600];
        snprintf(sum, sizeof(sum), "state not saved: %s", err);
        alarm_raise(alarm_key(ALARM_STATE_WRITE).s, "critical", sum, NULL);
        st_failing = true;
    } else if (st_failing && !err[0]) {
        alarm_resolve(alarm_key(ALARM_STATE_WRITE).s, "state files are written again");
        st_failing = false;
    }
    st_failed_seen = failed;
}


/* ---- set-up ---- */

void stw_loop_ready(void)
{
    if (!st_cb_ev && st_cbfd != -1) {
        st_cb_ev = event_new(loop_base(), st_cbfd, EV_READ | EV_PERSIST, st_on_done, NULL);
        if (!st_cb_ev || event_add(st_cb_ev, NULL) == -1)
            log_msg(LOG_CRIT, "msg=\"state write completions will not be delivered\" error=\"out of memory\"");
    }
    if (!st_timer) {
        st_timer = event_new(loop_base(), -1, EV_PERSIST, st_on_timer, NULL);
        struct timeval tv = {1, 0};
        if (!st_timer || event_add(st_timer, &tv) == -1)
            log_msg(LOG_ERR, "msg=\"state write failures will not be reported\" error=\"out of memory\"");
    }
}

int stw_start(const char *dir, char *err, size_t errlen)
{
    st_stopping = false;
    if (st_evfd == -1 && (st_evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1) {
        snprintf(err, errlen, "state_dir %s: cannot set up the writer thread: %s", dir, strerror(errno));
        return -1;
    }
    if (st_cbfd == -1 && (st_cbfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1) {
        snprintf(err, errlen, "state_dir %s: cannot set up the writer thread: %s", dir, strerror(errno));
        return -1;
    }
    if (pthread_create(&st_thread, NULL, st_main, NULL) != 0) {
        snprintf(err, errlen, "state_dir %s: cannot start the writer thread", dir);
        return -1;
    }
    st_thread_on = true;
    return 0;
}

bool stw_running(void)
{
    return st_thread_on;
}

void stw_stop(void)
{
    if (st_thread_on) {
        pthread_mutex_lock(&st_mu);
        st_stopping = true;
        pthread_cond_signal(&st_work);
        pthread_mutex_unlock(&st_mu);
        pthread_join(st_thread, NULL);
        st_thread_on = false;
    }
    if (st_timer)
        event_free(st_timer);
    st_timer = NULL;
    if (st_cb_ev)
        event_free(st_cb_ev);
    st_cb_ev = NULL;
    /* Completions the loop did not deliver: their callers are gone (each
     * module's fini answered or dropped what it was waiting for). */
    while (st_done_head) {
        st_job_t *j = st_done_head;
        st_done_head = j->next;
        st_free(j);
    }
    st_done_tail = NULL;
    if (st_cbfd != -1)
        close(st_cbfd);
    st_cbfd = -1;
    if (st_evfd != -1)
        close(st_evfd);
    st_evfd = -1;
    st_failing = false;
    st_failed = st_failed_seen = 0;
    st_busy_ms = st_busy_seq = st_stalled_seq = 0;
}
