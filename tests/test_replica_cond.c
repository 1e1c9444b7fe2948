/* test_replica_cond — the condition of a #control PutItem
 * (cluster/replica.h replica_put_cond; docs/ha.md known defect 37): an
 * ignored VALID item at or above the term is written over only once the
 * term's guard bump landed (a term may start below a real leader's epoch
 * when the lease items were lost); a bad item at once; an item that cannot
 * be reproduced exactly (not plain, a U+0000 in a string, larger than a
 * doc) still gets its clause; the clause holds the read's epoch and seq
 * exactly, so an item a leader wrote after the read is not replaced. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/replica.h"
#include "tests/check.h"

#define ITEM_TAIL "\"name\":{\"S\":\"regiond#control\"}}"
#define VALID40 "{\"epoch\":{\"N\":\"40\"},\"seq\":{\"N\":\"3\"},\"owner\":{\"S\":\"L\"},\"doc\":{\"S\":\"{}\"}," ITEM_TAIL

/* The body's condition and values for ign read as text (NULL: none). */
static cJSON *cond_of(const char *ign_txt, bool ign_valid, bool landed, const char **cond)
{
    cJSON *ign = ign_txt ? cJSON_Parse(ign_txt) : NULL;
    cJSON *b = cJSON_CreateObject();
    CHECK(b && (!ign_txt || ign));
    CHECK(replica_put_cond(b, "2", "1", false, ign, ign_valid, landed));
    cJSON_Delete(ign);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(b, "ConditionExpression");
    *cond = cJSON_IsString(c) ? c->valuestring : "";
    return b;
}

static const char *val(const cJSON *b, const char *name, const char *type)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(b, "ExpressionAttributeValues"),
                                                      name);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(v, type);
    return cJSON_IsString(t) ? t->valuestring : NULL;
}

/* F1: the term (2) below a real leader's items (40, 3): before the bump
 * landed the write keeps the plain condition (refused); after it, the
 * clause matching (40, 3) exactly. */
static void test_valid_above_waits_for_bump(void)
{
    const char *c;
    cJSON *plain = cond_of(NULL, false, false, &c);
    char base[400];
    snprintf(base, sizeof(base), "%s", c);
    cJSON *before = cond_of(VALID40, true, false, &c);
    CHECK(strcmp(c, base) == 0);
    CHECK(!strstr(c, "#i0") && !val(before, ":i0", "N"));
    cJSON *after = cond_of(VALID40, true, true, &c);
    CHECK(strncmp(c, base, strlen(base)) == 0);
    CHECK_CONTAINS(c, " OR (#i0 = :i0 AND #i1 = :i1 AND attribute_type(#i2, :i2t) AND size(#i2) >= :i2n AND "
                      "attribute_type(#i3, :i3t) AND size(#i3) >= :i3n)");
    CHECK(val(after, ":i0", "N") && strcmp(val(after, ":i0", "N"), "40") == 0);
    CHECK(val(after, ":i1", "N") && strcmp(val(after, ":i1", "N"), "3") == 0);
    CHECK(val(after, ":i3n", "N") && strcmp(val(after, ":i3n", "N"), "2") == 0);
    cJSON_Delete(plain);
    cJSON_Delete(before);
    cJSON_Delete(after);
}

/* A bad item (no leader writes one) is replaced at once; its clause still
 * holds what was read: a leader's write since (a valid (epoch, seq) of
 * numbers) fails its type or exact match. */
static void test_bad_at_once(void)
{
    const char *c;
    cJSON *b = cond_of("{\"epoch\":{\"S\":\"x\"},\"seq\":{\"N\":\"1\"},\"doc\":{\"S\":\"{}\"}," ITEM_TAIL, false,
                       false, &c);
    CHECK_CONTAINS(c, " OR (attribute_type(#i0, :i0t) AND size(#i0) >= :i0n AND #i1 = :i1 AND "
                      "attribute_not_exists(#i2) AND ");
    CHECK(val(b, ":i0t", "S") && strcmp(val(b, ":i0t", "S"), "S") == 0);
    cJSON_Delete(b);
}

/* F2: items cJSON cannot give back as they are still get a clause: an
 * owner not a string, a doc with U+0000 (cJSON cuts it: a size at least
 * the part read), a doc larger than ours can be, a doc that is a list. */
static void test_unreproducible_items(void)
{
    size_t big = REPLICA_DOC_MAX + 10;
    char *huge = malloc(big + 200);
    CHECK(huge != NULL);
    int w = snprintf(huge, 200, "{\"epoch\":{\"N\":\"9000000000000000\"},\"seq\":{\"N\":\"1\"},\"doc\":{\"S\":\"");
    memset(huge + w, 'a', big);
    snprintf(huge + (size_t)w + big, 200, "\"}," ITEM_TAIL);
    const char *items[] = {
        "{\"epoch\":{\"N\":\"9000000000000000\"},\"seq\":{\"N\":\"1\"},\"owner\":{\"BOOL\":true},"
        "\"doc\":{\"S\":\"{}\"}," ITEM_TAIL,
        "{\"epoch\":{\"N\":\"9000000000000000\"},\"seq\":{\"N\":\"1\"},\"doc\":{\"S\":\"{}\\u0000x\"}," ITEM_TAIL,
        huge,
        "{\"epoch\":{\"N\":\"9000000000000000\"},\"seq\":{\"N\":\"1\"},\"doc\":{\"L\":[{\"S\":\"a\"}]}," ITEM_TAIL,
    };
    const char *want[] = {"attribute_type(#i2, :i2t) AND attribute_type(#i3, :i3t) AND size(#i3) >= :i3n)",
                          "attribute_not_exists(#i2) AND attribute_type(#i3, :i3t) AND size(#i3) >= :i3n)",
                          "attribute_not_exists(#i2) AND attribute_type(#i3, :i3t) AND size(#i3) >= :i3n)",
                          "attribute_not_exists(#i2) AND attribute_type(#i3, :i3t))"};
    const char *len3[] = {"2", "2", NULL, NULL};
    for (size_t k = 0; k < sizeof(items) / sizeof(items[0]); k++) {
        const char *c;
        cJSON *b = cond_of(items[k], true, true, &c);
        CHECK_CONTAINS(c, " OR (#i0 = :i0 AND #i1 = :i1 AND ");
        CHECK_CONTAINS(c, want[k]);
        CHECK(val(b, ":i0", "N") && strcmp(val(b, ":i0", "N"), "9000000000000000") == 0);
        if (len3[k])
            CHECK(val(b, ":i3n", "N") && strcmp(val(b, ":i3n", "N"), len3[k]) == 0);
        cJSON_Delete(b);
    }
    const char *c;
    cJSON *b = cond_of(huge, true, true, &c);
    char n[24];
    snprintf(n, sizeof(n), "%zu", big);
    CHECK(val(b, ":i3n", "N") && strcmp(val(b, ":i3n", "N"), n) == 0);
    char *txt = cJSON_PrintUnformatted(b);
    CHECK(txt && strlen(txt) < 2000);   /* the doc itself is not sent back */
    free(txt);
    cJSON_Delete(b);
    free(huge);
}

int main(void)
{
    test_valid_above_waits_for_bump();
    test_bad_at_once();
    test_unreproducible_items();
    return check_finish();
}
