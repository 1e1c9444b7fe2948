/* test_lease_set — the set of lease tables a lease item names
 * (cluster/lease_set.h): the canonical list and its fingerprint (vectors
 * from Python's hashlib, order independence over random sets), and the
 * judgement of items read, with items the test did not choose: random
 * mutations of valid items and random items from scratch (seeded; the seed
 * is printed, REGIOND_SEED=N replays it).  Every verdict must be safe: never
 * "own" unless the item's three attributes are exactly ours, never "other"
 * unless its fingerprint matches its list and name, and every description
 * printable and bounded. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "cluster/lease_set.h"
#include "tests/check.h"

static const char ALNUM[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-";

static void rnd_name(char *out, size_t min, size_t max)
{
    size_t n = min + (size_t)random() % (max - min + 1);
    for (size_t i = 0; i < n; i++)
        out[i] = ALNUM[(size_t)random() % (sizeof(ALNUM) - 1)];
    out[n] = '\0';
}

static void test_vectors(void)
{
    const char *r[] = {"us-east-1", "eu-west-1", "ap-southeast-2"}, *t[] = {"regiond-lease", "regiond-lease",
                                                                                 "regiond-lease"};
    char list[LEASE_SET_LIST_MAX + 1], fp[LEASE_SET_FP_LEN];
    CHECK(lease_set_canon(r, t, 3, list, sizeof(list)) == 0);
    CHECK(strcmp(list, "ap-southeast-2/regiond-lease,eu-west-1/regiond-lease,us-east-1/regiond-lease") == 0);
    CHECK(lease_set_fingerprint("regiond", list, fp) == 0);
    CHECK(strcmp(fp, "dece40c96a9b4417") == 0);   /* hashlib.sha256(b"regiond\n" + list).hexdigest()[:16] */
    CHECK(lease_set_fingerprint("prod \xc3\xa9 \"x\"", "eu-central-1/t-2,us-west-2/t.1", fp) == 0);
    CHECK(strcmp(fp, "97968d7b8c04d12f") == 0);
    const char *bad_t[] = {"a,b"};
    CHECK(lease_set_canon(r, bad_t, 1, list, sizeof(list)) == -1);   /* "," cannot be in a name */
    CHECK(lease_set_canon(r, t, 3, list, 20) == -1);                  /* does not fit */
}

/* Random sets: the list and fingerprint do not depend on the order; one
 * character changed gives another fingerprint. */
static void test_order(void)
{
    for (int k = 0; k < 300; k++) {
        size_t n = (size_t[]){1, 3, 5}[random() % 3];
        char rs[5][65], ts[5][256], l1[LEASE_SET_LIST_MAX + 1], l2[LEASE_SET_LIST_MAX + 1];
        char f1[LEASE_SET_FP_LEN], f2[LEASE_SET_FP_LEN];
        const char *r[5], *t[5], *rp[5], *tp[5];
        for (size_t i = 0; i < n; i++) {
            rnd_name(rs[i], 1, 64);
            rnd_name(ts[i], 3, 255);
            r[i] = rs[i], t[i] = ts[i];
        }
        for (size_t i = 0; i < n; i++)
            rp[i] = r[i], tp[i] = t[i];
        for (size_t i = n; i > 1; i--) {   /* shuffle the pairs */
            size_t j = (size_t)random() % i;
            const char *a = rp[i - 1], *b = tp[i - 1];
            rp[i - 1] = rp[j], tp[i - 1] = tp[j], rp[j] = a, tp[j] = b;
        }
        CHECK(lease_set_canon(r, t, n, l1, sizeof(l1)) == 0 && lease_set_canon(rp, tp, n, l2, sizeof(l2)) == 0);
        CHECK(strcmp(l1, l2) == 0);
        CHECK(lease_set_fingerprint("c", l1, f1) == 0 && lease_set_fingerprint("c", l2, f2) == 0);
        CHECK(strcmp(f1, f2) == 0);
        size_t i = (size_t)random() % n;
        ts[i][0] = ts[i][0] == 'x' ? 'y' : 'x';
        CHECK(lease_set_canon(r, t, n, l2, sizeof(l2)) == 0 && lease_set_fingerprint("c", l2, f2) == 0);
        CHECK(strcmp(l1, l2) != 0 && strcmp(f1, f2) != 0);
        CHECK(lease_set_fingerprint("c2", l1, f2) == 0 && strcmp(f1, f2) != 0);   /* the name counts */
    }
}

static cJSON *item_of(const char *name, const char *list, const char *fp)
{
    cJSON *it = cJSON_CreateObject();
    cJSON_AddItemToObject(it, "cluster", cJSON_CreateObject());
    cJSON_AddStringToObject(cJSON_GetObjectItem(it, "cluster"), "S", name);
    cJSON_AddItemToObject(it, "tables", cJSON_CreateObject());
    cJSON_AddStringToObject(cJSON_GetObjectItem(it, "tables"), "S", list);
    cJSON_AddItemToObject(it, "tset", cJSON_CreateObject());
    cJSON_AddStringToObject(cJSON_GetObjectItem(it, "tset"), "S", fp);
    cJSON_AddItemToObject(it, "owner", cJSON_CreateObject());
    cJSON_AddStringToObject(cJSON_GetObjectItem(it, "owner"), "S", "ctl-9");
    return it;
}

static bool printable_bounded(const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);
    if (n >= cap)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

static const char *sval(const cJSON *it, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(it, k), "S");
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Replace key of obj with v, or free v when obj has no such key. */
static void replace(cJSON *obj, const char *key, cJSON *v)
{
    if (cJSON_IsObject(obj) && cJSON_GetObjectItemCaseSensitive(obj, key))
        cJSON_ReplaceItemInObjectCaseSensitive(obj, key, v);
    else
        cJSON_Delete(v);
}

/* Add v under key to obj, or free v when obj is not a map. */
static void add(cJSON *obj, const char *key, cJSON *v)
{
    if (cJSON_IsObject(obj))
        cJSON_AddItemToObject(obj, key, v);
    else
        cJSON_Delete(v);
}

/* One random change to item: a byte of an attribute's string, its length,
 * its type, an extra key in its map, or the attribute gone. */
static void mutate(cJSON *it)
{
    static const char *const keys[] = {"cluster", "tables", "tset"};
    const char *k = keys[random() % 3];
    cJSON *a = cJSON_GetObjectItem(it, k);
    const char *s = sval(it, k);
    char buf[4096];
    switch (random() % 7) {
    case 0: case 1:   /* one byte, any value but NUL */
        if (s && s[0]) {
            snprintf(buf, sizeof(buf), "%s", s);
            buf[(size_t)random() % strlen(buf)] = (char)(1 + random() % 255);
            replace(a, "S", cJSON_CreateString(buf));
        }
        break;
    case 2:   /* cut or grow, past the limits too */
        if (s) {
            size_t n = (size_t)random() % 2000;
            snprintf(buf, sizeof(buf), "%s", s);
            for (size_t i = strlen(buf); i < n && i + 1 < sizeof(buf); i++)
                buf[i] = ALNUM[(size_t)random() % (sizeof(ALNUM) - 1)], buf[i + 1] = '\0';
            buf[n < sizeof(buf) ? n : sizeof(buf) - 1] = '\0';
            replace(a, "S", cJSON_CreateString(buf));
        }
        break;
    case 3: {   /* another type */
        static const char *const types[] = {"N", "B", "SS", "BOOL", "L", "M", "NULL", "s"};
        cJSON *v = cJSON_IsObject(a) ? cJSON_DetachItemFromObjectCaseSensitive(a, "S") : NULL;
        add(a, types[random() % 8], v ? v : cJSON_CreateNull());
        break;
    }
    case 4:   /* an extra key beside "S" */
        add(a, "N", cJSON_CreateString("1"));
        break;
    case 5:   /* the value itself not a map */
        replace(it, k, random() % 2 ? cJSON_CreateString("x") : cJSON_CreateNumber(3));
        break;
    default:   /* gone */
        cJSON_DeleteItemFromObject(it, k);
        break;
    }
}

static void judge_safe(const cJSON *it, const char *mine_name, const char *mine_list, const char *mine_fp)
{
    char desc[300], on[LEASE_SET_NAME_MAX + 1] = "", ol[LEASE_SET_LIST_MAX + 1] = "", calc[LEASE_SET_FP_LEN];
    lease_set_kind_t k = lease_set_judge(it, mine_fp, desc, sizeof(desc), on, ol);
    const char *n = sval(it, "cluster"), *l = sval(it, "tables"), *f = sval(it, "tset");
    CHECK(k == LEASE_SET_NONE || k == LEASE_SET_OWN || k == LEASE_SET_OTHER || k == LEASE_SET_BAD);
    CHECK(printable_bounded(desc, sizeof(desc)));
    if (k == LEASE_SET_OWN)
        CHECK(n && l && f && strcmp(n, mine_name) == 0 && strcmp(l, mine_list) == 0 && strcmp(f, mine_fp) == 0);
    if (k == LEASE_SET_OTHER) {
        CHECK(n && l && f && lease_set_fingerprint(n, l, calc) == 0 && strcmp(calc, f) == 0);
        CHECK(strlen(l) <= LEASE_SET_LIST_MAX && strlen(n) <= LEASE_SET_NAME_MAX && strlen(n) > 0);
        CHECK(strcmp(on, n) == 0 && strcmp(ol, l) == 0);
    }
    if (k == LEASE_SET_NONE)
        CHECK(!cJSON_GetObjectItem(it, "cluster") && !cJSON_GetObjectItem(it, "tables")
              && !cJSON_GetObjectItem(it, "tset"));
    if (k == LEASE_SET_BAD)
        CHECK(strncmp(desc, "its set of lease tables cannot be read: ", 40) == 0);
}

static void test_mutated(void)
{
    const char *mine_list = "ap-southeast-2/regiond-lease,eu-west-1/regiond-lease,us-east-1/regiond-lease";
    const char *other_list = "ap-southeast-2/regiond-lease,eu-central-1/regiond-lease,eu-west-1/regiond-lease,"
                             "us-east-1/regiond-lease,us-west-2/regiond-lease";
    char mine_fp[LEASE_SET_FP_LEN], other_fp[LEASE_SET_FP_LEN];
    lease_set_fingerprint("regiond", mine_list, mine_fp);
    lease_set_fingerprint("regiond", other_list, other_fp);
    cJSON *own = item_of("regiond", mine_list, mine_fp), *oth = item_of("regiond", other_list, other_fp);
    char desc[300];
    CHECK(lease_set_judge(own, mine_fp, desc, sizeof(desc), NULL, NULL) == LEASE_SET_OWN);
    CHECK(lease_set_judge(oth, mine_fp, desc, sizeof(desc), NULL, NULL) == LEASE_SET_OTHER);
    CHECK_CONTAINS(desc, "name regiond, tables ap-southeast-2/regiond-lease,eu-central-1");
    cJSON *renamed = item_of("regiond-2", mine_list, mine_fp);   /* a name the fingerprint was not made of */
    CHECK(lease_set_judge(renamed, mine_fp, desc, sizeof(desc), NULL, NULL) == LEASE_SET_BAD);
    CHECK_CONTAINS(desc, "tset does not match");
    cJSON_Delete(renamed);
    CHECK(lease_set_judge(NULL, mine_fp, desc, sizeof(desc), NULL, NULL) == LEASE_SET_NONE);
    int kinds[4] = {0};
    for (int k = 0; k < 20000; k++) {
        cJSON *it = cJSON_Duplicate(k % 2 ? own : oth, 1);
        for (long m = 1 + random() % 3; m > 0; m--)
            mutate(it);
        judge_safe(it, "regiond", mine_list, mine_fp);
        kinds[lease_set_judge(it, mine_fp, NULL, 0, NULL, NULL)]++;
        cJSON_Delete(it);
    }
    printf("mutated items: none %d, own %d, other %d, unreadable %d\n", kinds[0], kinds[1], kinds[2], kinds[3]);
    CHECK(kinds[LEASE_SET_BAD] > 10000);   /* most mutations leave an unreadable set, counted as another */
    cJSON_Delete(own);
    cJSON_Delete(oth);
}

/* Items from scratch: random attributes of random types and lengths. */
static void test_random_items(void)
{
    static const char *const keys[] = {"cluster", "tables", "tset", "owner", "rvn"};
    char mine_fp[LEASE_SET_FP_LEN], buf[2100];
    lease_set_fingerprint("regiond", "us-east-1/t1", mine_fp);
    for (int k = 0; k < 20000; k++) {
        cJSON *it = cJSON_CreateObject();
        for (long a = random() % 6; a > 0; a--) {
            cJSON *m = cJSON_CreateObject();
            size_t n = (size_t)random() % (random() % 4 ? 24 : 2000);
            for (size_t i = 0; i < n; i++)
                buf[i] = (char)(1 + random() % 255);
            buf[n] = '\0';
            cJSON_AddStringToObject(m, random() % 5 ? "S" : "N", buf);
            cJSON_AddItemToObject(it, keys[random() % 5], m);
        }
        judge_safe(it, "regiond", "us-east-1/t1", mine_fp);
        cJSON_Delete(it);
    }
}

static void test_missing(void)
{
    char out[200];
    lease_set_missing("a/x,b/x,c/x", "b/x", out, sizeof(out));
    CHECK(strcmp(out, "a/x, c/x") == 0);
    lease_set_missing("a/x", "a/x,b/x", out, sizeof(out));
    CHECK(strcmp(out, "") == 0);
    lease_set_missing("a/x,a/xy", "a/xy", out, sizeof(out));
    CHECK(strcmp(out, "a/x") == 0);
    lease_set_missing("aaaaaaaa/x,bbbbbbbb/x", "", out, 12);   /* bounded */
    CHECK(strlen(out) < 12);
}

int main(void)
{
    const char *s = getenv("REGIOND_SEED");
    unsigned seed = s ? (unsigned)strtoul(s, NULL, 10) : (unsigned)time(NULL);
    printf("seed %u (REGIOND_SEED=%u replays it)\n", seed, seed);
    srandom(seed);
    test_vectors();
    test_order();
    test_mutated();
    test_random_items();
    test_missing();
    return check_finish();
}
