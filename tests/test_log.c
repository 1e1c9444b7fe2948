/* test_log — journald prefixes, key=value lines, repeat suppression. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>

#include "tests/check.h"
#include "core/log.h"

static char *slurp(const char *path)
{
    fflush(stderr);
    FILE *f = fopen(path, "r");
    static char buf[1 << 16];
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose(f);
    return buf;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* The log writes to stderr, and so do the CHECK messages: capture only
 * while the log writes, so a failure's message reaches the real stderr
 * (ctest's output) and is never lost with the capture file. */
static int saved_fd = -1;

static void capture_begin(const char *path)
{
    fflush(stderr);
    int fd = open(path, O_WRONLY | O_TRUNC);
    if (fd == -1 || dup2(fd, STDERR_FILENO) == -1) {
        perror("test_log: capture");
        exit(1);
    }
    close(fd);
}

static char *capture_end(const char *path)
{
    fflush(stderr);
    if (dup2(saved_fd, STDERR_FILENO) == -1) {
        perror("test_log: restore stderr");
        exit(1);
    }
    return slurp(path);
}

int main(void)
{
    char path[] = "/tmp/regiond-test-log-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd != -1);
    if (fd == -1)
        return check_finish();
    close(fd);
    saved_fd = dup(STDERR_FILENO);
    if (saved_fd == -1) {
        perror("test_log: dup");
        return 1;
    }
    setvbuf(stderr, NULL, _IONBF, 0);

    /* JOURNAL_STREAM naming another file than stderr: the text format. */
    setenv("JOURNAL_STREAM", "8:1", 1);
    capture_begin(path);
    log_init(LOG_INFO);
    CHECK(!log_to_journal());
    log_msg(LOG_ERR, "msg=\"other stream\"");
    char *out = capture_end(path);
    CHECK_CONTAINS(out, "Z level=error msg=\"other stream\"\n");
    CHECK(strstr(out, "<3>") == NULL);

    /* JOURNAL_STREAM naming stderr (the capture file) and no journal
     * socket (tests/bb/test_journal.py gives it one): each line to stderr
     * with the journald priority prefix, none lost. */
    struct stat st;
    CHECK(stat(path, &st) == 0);
    char js[64];
    snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
    setenv("JOURNAL_STREAM", js, 1);
    capture_begin(path);
    log_init(LOG_INFO);
    int matched = log_to_journal();
    if (access("/run/systemd/journal/socket", F_OK) == 0) {
        capture_end(path);
        fprintf(stderr, "test_log: a journal socket exists here: the fallback is checked by bb_test_journal only\n");
        CHECK(matched);
        unlink(path);
        close(saved_fd);
        return check_finish();
    }
    log_msg(LOG_ERR, "msg=\"boom\" n=%d", 1);
    log_msg(LOG_DEBUG, "msg=\"hidden\"");
    for (int i = 0; i < 12; i++)
        log_msg(LOG_WARNING, "msg=\"same line\"");
    log_msg(LOG_INFO, "msg=\"multi\nline\"");
    out = capture_end(path);
    CHECK(matched);
    CHECK_CONTAINS(out, "<3>msg=\"boom\" n=1\n");
    CHECK(strstr(out, "hidden") == NULL);
    CHECK_EQ_INT(count(out, "<4>msg=\"same line\""), LOG_BURST);
    CHECK_CONTAINS(out, "<6>msg=\"multi line\"\n");

    unsetenv("JOURNAL_STREAM");
    log_init(LOG_DEBUG);
    capture_begin(path);
    log_msg(LOG_DEBUG, "msg=\"shown\"");
    out = capture_end(path);
    CHECK_CONTAINS(out, "Z level=debug msg=\"shown\"");
    CHECK(log_level_parse("warning") == LOG_WARNING);
    CHECK(log_level_parse("loud") == -1);
    unlink(path);
    close(saved_fd);
    return check_finish();
}
