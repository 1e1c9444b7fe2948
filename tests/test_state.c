/* test_state — the state module: writes land in the order asked for (a
 * newer snapshot of a queued file replaces it, never overtakes a write of
 * it), a synchronous write waits for the earlier queued ones; reading
 * refuses empty, garbage, wrong types and files over 16 MiB: moved aside,
 * safe mode on until released; range checks on numbers.  Completion
 * callbacks (state_write_then) come on the loop in the order the writes were
 * queued, after the write, with the failure's reason; a waited-for write
 * never overtakes an earlier write of the same file. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include "tests/check.h"
#include "tests/state_kit.h"
#include "core/state.h"

static char dir[] = "/tmp/test-state-XXXXXX";

static void put(const char *name, const char *data, size_t len)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (f) {
        fwrite(data, 1, len, f);
        fclose(f);
    }
}

static int asides(const char *name)
{
    char pre[128];
    snprintf(pre, sizeof(pre), "%s.corrupt-", name);
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strncmp(e->d_name, pre, strlen(pre)) == 0;
    if (d)
        closedir(d);
    return n;
}

static int need_seq(const cJSON *o, char *why, size_t len)
{
    if (!state_int_in(cJSON_GetObjectItemCaseSensitive(o, "seq"), 0, 1000)) {
        snprintf(why, len, "seq: expected an integer 0..1000");
        return -1;
    }
    return 0;
}

static void order(void)
{
    CHECK(state_write_async("a", "1", 1) == 0);
    CHECK(state_write_async("a", "2", 1) == 0);
    CHECK(state_write_async("b", "x", 1) == 0);
    CHECK(state_write("a", "3", 1) == 0);
    char *s = state_read("a", NULL);
    CHECK(s && strcmp(s, "3") == 0);
    free(s);
    s = state_read("b", NULL);   /* queued before the synchronous write: done before it returned */
    CHECK(s && strcmp(s, "x") == 0);
    free(s);
    state_write_async("a", "4", 1);
    state_remove_async("b");
    CHECK(state_write("c", "", 0) == 0);
    s = state_read("a", NULL);
    CHECK(s && strcmp(s, "4") == 0);
    free(s);
    CHECK(state_read("b", NULL) == NULL);
}

static char seen[8][64];
static int nseen;

static void done(void *arg, int rc, const char *err)
{
    if (nseen < 8)
        snprintf(seen[nseen++], sizeof(seen[0]), "%s:%d:%.40s", (const char *)arg, rc, rc ? err : "");
}

static void completions(void)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/dir", dir);   /* a directory where a file should go: rename fails */
    CHECK(mkdir(p, 0700) == 0);
    snprintf(p, sizeof(p), "%s/dir/x", dir);
    put("dir/x", "x", 1);
    CHECK(state_write_async("p", "old", 3) == 0);
    CHECK(state_write_then("q", "q", 1, done, "q") == 0);
    CHECK(state_write_then("p", "new", 3, done, "p") == 0);   /* after the queued write of p */
    CHECK(state_write_then("dir", "d", 1, done, "dir") == 0);
    CHECK(state_write_then("r", "r", 1, done, "r") == 0);
    CHECK_EQ_INT(nseen, 0);   /* never called from inside the call */
    state_kit_pump(&nseen, 4);
    CHECK_EQ_INT(nseen, 4);
    CHECK_CONTAINS(seen[0], "q:0:");
    CHECK_CONTAINS(seen[1], "p:0:");
    CHECK_CONTAINS(seen[2], "dir:-1:");
    CHECK_CONTAINS(seen[2], "rename");
    CHECK_CONTAINS(seen[3], "r:0:");
    char *s = state_read("p", NULL);   /* the older queued snapshot never lands last */
    CHECK(s && strcmp(s, "new") == 0);
    free(s);
    s = state_read("q", NULL);   /* durable when its callback ran */
    CHECK(s && strcmp(s, "q") == 0);
    free(s);
}

static void loading(void)
{
    cJSON *o = NULL;
    CHECK(state_load_json("nope.json", need_seq, &o) == STATE_MISSING && !o);
    CHECK(!state_safe_mode());
    put("ok.json", "{\"seq\": 7}", 10);
    CHECK(state_load_json("ok.json", need_seq, &o) == STATE_LOADED && o);
    cJSON_Delete(o);
    static const struct { const char *name, *data; } bad[] = {
        {"empty.json", ""}, {"garbage.json", "\x01\xff not json"}, {"cut.json", "{\"seq\": 7, \"x\": [1, 2"},
        {"array.json", "[1, 2]"}, {"type.json", "{\"seq\": \"7\"}"}, {"big-num.json", "{\"seq\": 1e300}"},
        {"neg.json", "{\"seq\": -1e300}"}, {"frac.json", "{\"seq\": 1.5}"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        put(bad[i].name, bad[i].data, strlen(bad[i].data));
        CHECK(state_load_json(bad[i].name, need_seq, &o) == STATE_CORRUPT && !o);
        CHECK_EQ_INT(asides(bad[i].name), 1);
    }
    CHECK(state_safe_mode());
    CHECK_CONTAINS(state_safe_reason(), "frac.json");
    /* Over 16 MiB: refused. */
    char p[256];
    snprintf(p, sizeof(p), "%s/huge.json", dir);
    int fd = open(p, O_WRONLY | O_CREAT, 0600);
    CHECK(fd != -1 && ftruncate(fd, (off_t)STATE_MAX_BYTES + 4096) == 0);
    close(fd);
    CHECK(state_load_json("huge.json", NULL, &o) == STATE_CORRUPT);
    CHECK_EQ_INT(asides("huge.json"), 1);
    state_safe_release("test");
    CHECK(!state_safe_mode());
}

int main(void)
{
    if (state_kit_start(dir) == -1)
        return 1;
    order();
    completions();
    loading();
    state_kit_stop(dir);
    return check_finish();
}
