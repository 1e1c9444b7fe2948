/* test_state_json — state_write_json(), the persist ending control, drills,
 * the Route 53 intent and known records and backups share: the file holds
 * what cJSON prints for the document, compact or indented as asked (the
 * choice is checked, not assumed); with a callback it comes on the loop,
 * after the write, with 0 on success and -1 and the reason on a failed
 * write; without one the write is queued (fire and forget); a document that
 * is NULL or cannot be printed (cJSON's allocator failing) writes nothing,
 * says STATE_NOMEM and never calls back.  The document is never freed by
 * the call (ASan's leak check in build-asan). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include <event2/event.h>

#include "tests/check.h"
#include "tests/state_kit.h"
#include "core/loop.h"
#include "core/state.h"

static char dir[] = "/tmp/test-state-json-XXXXXX";
static int ncalls, last_rc;
static char last_err[256], last_arg[32];
static bool fail_alloc;

static void *hook_malloc(size_t n)
{
    return fail_alloc ? NULL : malloc(n);
}

static cJSON *doc(int seq)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "seq", seq);
    cJSON *a = cJSON_AddArrayToObject(o, "w");
    cJSON_AddItemToArray(a, cJSON_CreateNumber(0));
    cJSON_AddItemToArray(a, cJSON_CreateNumber(100));
    return o;
}

static void done(void *arg, int rc, const char *err)
{
    ncalls++;
    last_rc = rc;
    snprintf(last_err, sizeof(last_err), "%s", err ? err : "");
    snprintf(last_arg, sizeof(last_arg), "%s", (const char *)arg);
}

/* name holds exactly what cJSON prints for doc(seq), indented or compact. */
static void check_file(const char *name, int seq, bool pretty)
{
    cJSON *o = doc(seq);
    char *want = pretty ? cJSON_Print(o) : cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    char *got = state_read(name, NULL);
    CHECK(got && want && strcmp(got, want) == 0);
    CHECK(got && (strchr(got, '\n') != NULL) == pretty);
    free(got);
    free(want);
}

static bool exists(const char *name)
{
    char p[256];
    struct stat st;
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return stat(p, &st) == 0;
}

static void writes(void)
{
    cJSON *o = doc(1);
    /* fire and forget, compact; a waited-for write after it flushes the queue */
    CHECK_EQ_INT(state_write_json("c.json", o, STATE_JSON_COMPACT, NULL, NULL), 0);
    CHECK_EQ_INT(state_write("flush", "1", 1), 0);
    CHECK_EQ_INT(ncalls, 0);
    check_file("c.json", 1, false);
    /* indented (backups.json's form), called back once durable */
    CHECK_EQ_INT(state_write_json("p.json", o, STATE_JSON_PRETTY, done, "p"), 0);
    CHECK_EQ_INT(ncalls, 0);   /* never from inside the call */
    state_kit_pump(&ncalls, 1);
    CHECK_EQ_INT(ncalls, 1);
    CHECK_EQ_INT(last_rc, 0);
    CHECK(strcmp(last_arg, "p") == 0);
    check_file("p.json", 1, true);
    /* start-up form: waited for */
    cJSON_Delete(o);
    o = doc(2);
    CHECK_EQ_INT(state_write_json("p.json", o, STATE_JSON_COMPACT | STATE_JSON_WAIT, NULL, NULL), 0);
    check_file("p.json", 2, false);
    /* a failed write (a directory where the file should go): -1 and the reason */
    char p[256];
    snprintf(p, sizeof(p), "%s/dir", dir);
    CHECK(mkdir(p, 0700) == 0);
    snprintf(p, sizeof(p), "%s/dir/x", dir);
    FILE *f = fopen(p, "w");
    CHECK(f && fclose(f) == 0);
    CHECK_EQ_INT(state_write_json("dir", o, STATE_JSON_PRETTY, done, "dir"), 0);
    state_kit_pump(&ncalls, 2);
    CHECK_EQ_INT(ncalls, 2);
    CHECK_EQ_INT(last_rc, -1);
    CHECK(strcmp(last_arg, "dir") == 0);
    CHECK_CONTAINS(last_err, "rename");
    cJSON_Delete(o);
}

static void no_memory(void)
{
    /* no document: nothing written, never called back */
    CHECK_EQ_INT(state_write_json("none.json", NULL, STATE_JSON_PRETTY, done, "none"), STATE_NOMEM);
    CHECK_EQ_INT(state_write_json("none.json", NULL, STATE_JSON_COMPACT, NULL, NULL), STATE_NOMEM);
    /* the text cannot be made: cJSON's allocator fails while printing */
    cJSON *o = doc(3);
    cJSON_Hooks h = {.malloc_fn = hook_malloc, .free_fn = free};
    cJSON_InitHooks(&h);
    fail_alloc = true;
    CHECK_EQ_INT(state_write_json("oom.json", o, STATE_JSON_PRETTY, done, "oom"), STATE_NOMEM);
    CHECK_EQ_INT(state_write_json("oom.json", o, STATE_JSON_COMPACT, NULL, NULL), STATE_NOMEM);
    fail_alloc = false;
    cJSON_InitHooks(NULL);
    cJSON_Delete(o);
    CHECK_EQ_INT(state_write("flush", "2", 1), 0);
    event_base_loop(loop_base(), EVLOOP_NONBLOCK);
    CHECK_EQ_INT(ncalls, 2);
    CHECK(!exists("none.json"));
    CHECK(!exists("oom.json"));
}

int main(void)
{
    if (state_kit_start(dir) == -1)
        return 1;
    writes();
    no_memory();
    state_kit_stop(dir);
    return check_finish();
}
