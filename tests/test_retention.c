/* test_retention.c — unit tests of backup/retention: keep_last, keep_days,
 * both (a union), foreign backups and unrecorded ARNs never deleted, the
 * newest AVAILABLE backup and CREATING backups kept, ties by ARN, and the
 * reason text of every rule. */
#include "tests/check.h"
#include "backup/retention.h"

#include <stdint.h>
#include <string.h>

#define DAY 86400
#define NOW ((int64_t)1700000000)
#define PFX "regiond-orders-"
#define MAXB 16

/* Check two strings are equal, printing both when not. */
#define CHECK_STR(got, want) do { \
    const char *g_ = (got), *w_ = (want); \
    if (g_ && strcmp(g_, w_) == 0) { check_pass_++; } else { check_fail_++; \
        fprintf(stderr, "%s:%d: got \"%s\", want \"%s\"\n", __FILE__, __LINE__, g_ ? g_ : "(null)", w_); } \
} while (0)

static bool del[MAXB];
static char why[MAXB][RET_REASON_SIZE];

/* One of our backups, AVAILABLE, created `days` days before NOW. */
static ret_backup_t ours(const char *arn, double days)
{
    return (ret_backup_t){ .arn = arn, .name = PFX "x", .created_s = NOW - (int64_t)(days * DAY),
                           .status = RET_AVAILABLE, .ours = true };
}

static size_t plan(uint32_t keep_last, uint32_t keep_days, const ret_backup_t *b, size_t n)
{
    ret_policy_t p = { .keep_last = keep_last, .keep_days = keep_days, .name_prefix = PFX };

    memset(del, 0xff, sizeof del);
    memset(why, 0, sizeof why);
    return retention_plan(&p, b, n, NOW, del, why);
}

static void test_keep_last(void)
{
    /* given out of order: ages 1, 5, 2, 10, 3 days */
    ret_backup_t b[] = { ours("a1", 1), ours("a5", 5), ours("a2", 2), ours("a10", 10), ours("a3", 3) };

    CHECK_EQ_INT(plan(3, 0, b, 5), 2);
    CHECK(!del[0] && !del[2] && !del[4]);
    CHECK(del[1] && del[3]);
    CHECK_STR(why[0], "kept: newest AVAILABLE backup");
    CHECK_STR(why[2], "kept: newest 3");
    CHECK_STR(why[4], "kept: newest 3");
    CHECK_STR(why[1], "delete: not among the newest 3");
    CHECK_STR(why[3], "delete: not among the newest 3");

    CHECK_EQ_INT(plan(1, 0, b, 5), 4);
    CHECK(!del[0]);
    CHECK_EQ_INT(plan(5, 0, b, 5), 0);
    CHECK_EQ_INT(plan(100, 0, b, 5), 0);
}

static void test_keep_days(void)
{
    ret_backup_t b[] = { ours("a1", 1), ours("a8", 8), ours("a7", 7), ours("a6.9", 6.9), ours("a30", 30) };

    CHECK_EQ_INT(plan(0, 7, b, 5), 3);
    CHECK(!del[0] && !del[3]);
    CHECK(del[1] && del[2] && del[4]);            /* exactly 7 days old is not younger */
    CHECK_STR(why[0], "kept: newest AVAILABLE backup");
    CHECK_STR(why[3], "kept: younger than 7 days");
    CHECK_STR(why[2], "delete: older than 7 days");
    CHECK_EQ_INT(plan(0, 1, b, 5), 4);
    CHECK_STR(why[1], "delete: older than 1 day");

    /* created in the future (clock skew) counts as young */
    ret_backup_t f[] = { ours("new", 0), ours("future", -2) };
    CHECK_EQ_INT(plan(0, 1, f, 2), 0);
    CHECK_STR(why[0], "kept: younger than 1 day");
}

static void test_both(void)
{
    /* ages 1, 2, 3, 10, 20, 30: keep_last 2 keeps 1 and 2; keep_days 15 keeps 1, 2, 3, 10 */
    ret_backup_t b[] = { ours("a1", 1), ours("a2", 2), ours("a3", 3), ours("a10", 10),
                         ours("a20", 20), ours("a30", 30) };

    CHECK_EQ_INT(plan(2, 15, b, 6), 2);
    CHECK(!del[0] && !del[1] && !del[2] && !del[3] && del[4] && del[5]);
    CHECK_STR(why[1], "kept: newest 2");
    CHECK_STR(why[2], "kept: younger than 15 days");
    CHECK_STR(why[4], "delete: older than 15 days and not among the newest 2");

    /* keep_last reaches further than keep_days: still a union */
    CHECK_EQ_INT(plan(5, 2, b, 6), 1);
    CHECK(del[5]);
    CHECK_STR(why[4], "kept: newest 5");
    CHECK_STR(why[5], "delete: older than 2 days and not among the newest 5");

    /* both 0: nothing deleted */
    CHECK_EQ_INT(plan(0, 0, b, 6), 0);
    for (size_t i = 0; i < 6; i++)
        CHECK(!del[i]);
    CHECK_STR(why[3], "kept: no retention policy");
    CHECK_STR(why[0], "kept: newest AVAILABLE backup");
}

static void test_foreign(void)
{
    ret_backup_t b[] = {
        ours("a1", 1),
        { .arn = "f1", .name = "manual-before-migration", .created_s = NOW - 100 * DAY,
          .status = RET_AVAILABLE, .ours = false },
        { .arn = "f2", .name = PFX "lookalike", .created_s = NOW - 90 * DAY,
          .status = RET_AVAILABLE, .ours = false },            /* our prefix, ARN not recorded */
        { .arn = "o1", .name = "regiond-users-2023", .created_s = NOW - 80 * DAY,
          .status = RET_AVAILABLE, .ours = true },             /* ours, another prefix */
        { .arn = "n1", .name = NULL, .created_s = NOW - 70 * DAY,
          .status = RET_AVAILABLE, .ours = true },             /* no name */
        ours("a50", 50),
    };

    CHECK_EQ_INT(plan(1, 0, b, 6), 1);
    CHECK(!del[0] && !del[1] && !del[2] && !del[3] && !del[4] && del[5]);
    CHECK_STR(why[1], "kept: not created by regiond");
    CHECK_STR(why[2], "kept: not created by regiond");
    CHECK_STR(why[3], "kept: name does not start with \"regiond-orders-\"");
    CHECK_STR(why[4], "kept: name does not start with \"regiond-orders-\"");
    CHECK_STR(why[5], "delete: not among the newest 1");

    /* foreign backups do not count in keep_last: a1 and a50 are the newest 2 of ours */
    CHECK_EQ_INT(plan(2, 0, b, 6), 0);
    CHECK_STR(why[5], "kept: newest 2");

    /* no prefix in the policy: nothing is ours to delete */
    ret_policy_t p = { .keep_last = 1, .keep_days = 0, .name_prefix = "" };
    CHECK_EQ_INT(retention_plan(&p, b, 6, NOW, del, why), 0);
    CHECK_STR(why[5], "kept: policy has no name_prefix");
    p.name_prefix = NULL;
    CHECK_EQ_INT(retention_plan(&p, b, 6, NOW, del, why), 0);
    CHECK_STR(why[5], "kept: policy has no name_prefix");
}

static void test_newest_available(void)
{
    /* the only AVAILABLE backup is old: kept whatever the policy says */
    ret_backup_t b[] = {
        ours("old", 400),
        { .arn = "c", .name = PFX "c", .created_s = NOW - 60, .status = RET_CREATING, .ours = true },
        { .arn = "d", .name = PFX "d", .created_s = NOW - 30, .status = RET_DELETED, .ours = true },
        { .arn = "o", .name = PFX "o", .created_s = NOW - 500 * DAY, .status = RET_OTHER, .ours = true },
        ours("older", 500),
    };

    CHECK_EQ_INT(plan(1, 0, b, 5), 1);
    CHECK(!del[0] && !del[1] && !del[2] && !del[3] && del[4]);
    CHECK_STR(why[0], "kept: newest AVAILABLE backup");
    CHECK_STR(why[1], "kept: still CREATING");
    CHECK_STR(why[2], "kept: already DELETED");
    CHECK_STR(why[3], "kept: not AVAILABLE");
    CHECK_EQ_INT(plan(0, 7, b, 5), 1);
    CHECK(!del[0] && del[4]);

    /* a newer foreign backup does not make our newest deletable */
    ret_backup_t f[] = {
        ours("mine", 30),
        { .arn = "theirs", .name = "manual", .created_s = NOW, .status = RET_AVAILABLE, .ours = false },
    };
    CHECK_EQ_INT(plan(0, 7, f, 2), 0);
    CHECK_STR(why[0], "kept: newest AVAILABLE backup");

    /* a CREATING backup does not count as the newest AVAILABLE */
    ret_backup_t c[] = {
        { .arn = "c", .name = PFX "c", .created_s = NOW, .status = RET_CREATING, .ours = true },
        ours("x2", 20), ours("x3", 30),
    };
    CHECK_EQ_INT(plan(0, 7, c, 3), 1);
    CHECK(!del[1] && del[2]);
    CHECK_STR(why[1], "kept: newest AVAILABLE backup");
}

static void test_ties(void)
{
    /* equal created_s: the greater ARN is the newer */
    ret_backup_t b[] = { ours("arn-b", 10), ours("arn-c", 10), ours("arn-a", 10) };

    CHECK_EQ_INT(plan(2, 0, b, 3), 1);
    CHECK(!del[0] && !del[1] && del[2]);
    CHECK_STR(why[1], "kept: newest AVAILABLE backup");
    CHECK_STR(why[0], "kept: newest 2");
    CHECK_EQ_INT(plan(1, 0, b, 3), 2);
    CHECK(!del[1]);
}

static void test_edges(void)
{
    ret_policy_t p = { .keep_last = 1, .keep_days = 1, .name_prefix = PFX };
    ret_backup_t b[] = { ours("a", 10), ours("b", 20) };

    CHECK_EQ_INT(retention_plan(&p, NULL, 0, NOW, NULL, NULL), 0);   /* empty list */
    CHECK_EQ_INT(plan(3, 7, b, 0), 0);
    CHECK_EQ_INT(retention_plan(&p, b, 2, NOW, del, NULL), 1);       /* reasons optional */
    CHECK(!del[0] && del[1]);
    memset(del, 0xff, sizeof del);
    CHECK_EQ_INT(retention_plan(NULL, b, 2, NOW, del, why), 0);
    CHECK(!del[0] && !del[1]);
    CHECK_STR(why[1], "kept: no retention policy");

    /* a long prefix is cut to fit, and the reason stays terminated */
    static char longp[200];
    memset(longp, 'p', sizeof longp - 1);
    ret_backup_t l[] = { ours("z", 1) };
    l[0].name = "other";
    p.name_prefix = longp;
    CHECK_EQ_INT(retention_plan(&p, l, 1, NOW, del, why), 0);
    CHECK_EQ_INT(strlen(why[0]), RET_REASON_SIZE - 1);

    CHECK_STR(ret_status_str(RET_CREATING), "CREATING");
    CHECK_STR(ret_status_str(RET_AVAILABLE), "AVAILABLE");
    CHECK_STR(ret_status_str(RET_DELETED), "DELETED");
    CHECK_STR(ret_status_str(42), "OTHER");
    CHECK_EQ_INT(ret_status_parse("AVAILABLE"), RET_AVAILABLE);
    CHECK_EQ_INT(ret_status_parse("CREATING"), RET_CREATING);
    CHECK_EQ_INT(ret_status_parse("DELETED"), RET_DELETED);
    CHECK_EQ_INT(ret_status_parse("available"), RET_OTHER);
    CHECK_EQ_INT(ret_status_parse(NULL), RET_OTHER);
}

/* Found by tests/fuzz/fuzz_ddb_json: a BackupCreationDateTime out of
 * int64_t's range (1.76e132) was cast straight to int64_t (undefined). */
static void test_epoch_s(void)
{
    CHECK(ret_epoch_s(1764032400.9) == 1764032400);
    CHECK(ret_epoch_s(-1.5) == -1);
    CHECK(ret_epoch_s(1.76403e+132) == 0);
    CHECK(ret_epoch_s(-1e300) == 0);
    CHECK(ret_epoch_s(9223372036854775808.0) == 0);
    CHECK(ret_epoch_s(1.0 / 0.0) == 0);
    CHECK(ret_epoch_s(0.0 / 0.0) == 0);
}

/* A backup recorded before names carried the schedule id: in the set by its exact name (the
 * caller's "ours"), whatever its prefix; without "ours" it is never in the set. */
static void test_adopted(void)
{
    ret_backup_t b[] = { ours("n1", 1), ours("old", 9), ours("old2", 8) };

    b[1].name = "regiond-orders-20240101T0300Z";
    b[1].adopted = true;
    b[2].name = "regiond-orders-20240102T0300Z";   /* old name, not adopted: kept */
    ret_policy_t p = { .keep_last = 1, .name_prefix = PFX "nightly." };
    b[0].name = PFX "nightly.20261204T0300Z";
    memset(del, 0, sizeof del);
    CHECK_EQ_INT(retention_plan(&p, b, 3, NOW, del, why), 1);
    CHECK(!del[0] && del[1] && !del[2]);
    CHECK_STR(why[2], "kept: name does not start with \"regiond-orders-nightly.\"");
    b[1].ours = false;   /* adopted but not recorded: never */
    CHECK_EQ_INT(retention_plan(&p, b, 3, NOW, del, why), 0);
    CHECK_STR(why[1], "kept: not created by regiond");
}

int main(void)
{
    test_adopted();
    test_keep_last();
    test_keep_days();
    test_both();
    test_foreign();
    test_newest_available();
    test_ties();
    test_edges();
    test_epoch_s();
    return check_finish();
}
