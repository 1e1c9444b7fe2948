/* test_replica_merge — a round of the replicated controller state over
 * both keys of a rename ("<name>#control" and "<former_name>#control",
 * cluster/replica.h replica_merge; docs/ha.md "Renaming the cluster", once
 * known defect 23): a read takes the higher (epoch, seq) whichever key holds
 * it, a write counts only when both keys reached a majority. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/replica.h"
#include "tests/check.h"

static replica_result_t rd(bool ok, size_t answered, bool found, uint64_t e, uint64_t s, const char *doc)
{
    replica_result_t r = {.ok = ok, .tables = 3, .answered = answered, .found = found, .epoch = e, .seq = s,
                          .doc = doc};
    return r;
}

/* Merge a then b (the name's key, then the former name's); the doc out. */
static replica_result_t merged(const replica_result_t *a, const replica_result_t *b, char **doc)
{
    replica_result_t acc;
    memset(&acc, 0, sizeof(acc));
    CHECK_EQ_INT(replica_merge(&acc, doc, true, "renamed#control", a), 0);
    CHECK_EQ_INT(replica_merge(&acc, doc, false, "regiond#control", b), 0);
    return acc;
}

/* The old-name key newer (the renamed leader died, an old-name leader wrote
 * since; or the first renamed term): it wins although the name's is found. */
static void test_read_former_newer(void)
{
    replica_result_t a = rd(true, 3, true, 5, 9, "{\"frozen\":true}");
    replica_result_t b = rd(true, 3, true, 7, 1, "{\"frozen\":false}");
    char *doc = NULL;
    replica_result_t m = merged(&a, &b, &doc);
    CHECK(m.ok && m.found);
    CHECK_EQ_INT(m.epoch, 7);
    CHECK_EQ_INT(m.seq, 1);
    CHECK(doc && strcmp(doc, "{\"frozen\":false}") == 0);
    free(doc);
}

/* The name's newer (a rollback reading the renamed leader's state under the
 * name being left, as its former name): it wins, by seq within one epoch too. */
static void test_read_name_newer(void)
{
    replica_result_t a = rd(true, 3, true, 7, 4, "new");
    replica_result_t b = rd(true, 2, true, 7, 3, "old");
    char *doc = NULL;
    replica_result_t m = merged(&a, &b, &doc);
    CHECK(m.ok);
    CHECK_EQ_INT(m.seq, 4);
    CHECK_EQ_INT(m.answered, 2);
    CHECK(doc && strcmp(doc, "new") == 0);
    free(doc);
    /* the same, the other way round */
    doc = NULL;
    m = merged(&b, &a, &doc);
    CHECK_EQ_INT(m.seq, 4);
    CHECK(doc && strcmp(doc, "new") == 0);
    free(doc);
}

/* None under the name (the first renamed term): the former name's is taken;
 * none under either: nothing found, still a good read. */
static void test_read_one_or_none(void)
{
    replica_result_t a = rd(true, 3, false, 0, 0, NULL);
    replica_result_t b = rd(true, 3, true, 2, 6, "before");
    char *doc = NULL;
    replica_result_t m = merged(&a, &b, &doc);
    CHECK(m.ok && m.found && m.epoch == 2 && m.seq == 6);
    CHECK(doc && strcmp(doc, "before") == 0);
    free(doc);
    doc = NULL;
    m = merged(&a, &a, &doc);
    CHECK(m.ok && !m.found && !doc);
}

/* A key read on no majority makes the round not ok, and says which key. */
static void test_read_one_key_failed(void)
{
    replica_result_t a = rd(true, 3, true, 9, 1, "x");
    replica_result_t b = rd(false, 1, false, 0, 0, NULL);
    snprintf(b.error, sizeof(b.error), "eu-west-1/regiond-lease: no answer within 750 ms");
    char *doc = NULL;
    replica_result_t m = merged(&a, &b, &doc);
    CHECK(!m.ok);
    CHECK_EQ_INT(m.answered, 1);
    CHECK_CONTAINS(m.error, "regiond#control: eu-west-1/regiond-lease: no answer");
    free(doc);
}

/* An item whose epoch is not a number reads as the highest with no doc:
 * never taken for the truth, whichever key holds it. */
static void test_read_malformed_wins_without_doc(void)
{
    replica_result_t a = rd(true, 3, true, 7, 4, "new");
    replica_result_t b = rd(true, 3, true, UINT64_MAX, UINT64_MAX, NULL);
    char *doc = NULL;
    replica_result_t m = merged(&a, &b, &doc);
    CHECK(m.found && m.epoch == UINT64_MAX && !doc);
}

/* A write: ok only when both keys reached a majority; refused the most. */
static void test_write_both(void)
{
    replica_result_t a = {.ok = true, .tables = 3, .answered = 3, .accepted = 3, .epoch = 8, .seq = 2, .tag = 40,
                          .gen = 5};
    replica_result_t b = a;
    b.ok = false;
    b.accepted = 1;
    b.refused = 2;
    char *doc = NULL;
    replica_result_t m = merged(&a, &a, &doc);
    CHECK(m.ok && m.accepted == 3 && m.epoch == 8 && m.seq == 2 && m.tag == 40 && m.gen == 5);
    m = merged(&a, &b, &doc);
    CHECK(!m.ok);
    CHECK_EQ_INT(m.accepted, 1);
    CHECK_EQ_INT(m.refused, 2);
    m = merged(&b, &a, &doc);
    CHECK(!m.ok);
    CHECK(!doc);
}

int main(void)
{
    test_read_former_newer();
    test_read_name_newer();
    test_read_one_or_none();
    test_read_one_key_failed();
    test_read_malformed_wins_without_doc();
    test_write_both();
    return check_finish();
}
