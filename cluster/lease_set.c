/* lease_set — the set of lease tables a lease item names (see lease_set.h). */
#include "cluster/lease_set.h"

#include "cluster/lease_calc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

static bool list_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.'
           || c == '-' || c == '/' || c == ',';
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int lease_set_canon(const char *const *regions, const char *const *tables, size_t n, char *out, size_t len)
{
    char one[8][330];
    const char *p[8];
    size_t off = 0;
    if (n > 8 || len == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(one[i], sizeof(one[i]), "%s/%s", regions[i], tables[i]);
        if (w < 3 || (size_t)w >= sizeof(one[i]))
            return -1;
        for (const char *c = one[i]; *c; c++)
            if (!list_char(*c) || *c == ',')
                return -1;
        p[i] = one[i];
    }
    qsort(p, n, sizeof(p[0]), cmp_str);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(out + off, len - off, "%s%s", i ? "," : "", p[i]);
        if (w < 0 || (size_t)w >= len - off)
            return -1;
        off += (size_t)w;
    }
    return off <= LEASE_SET_LIST_MAX ? 0 : -1;
}

int lease_set_fingerprint(const char *name, const char *list, char out[LEASE_SET_FP_LEN])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) && EVP_DigestUpdate(c, name, strlen(name))
             && EVP_DigestUpdate(c, "\n", 1) && EVP_DigestUpdate(c, list, strlen(list))
             && EVP_DigestFinal_ex(c, md, &mdlen) && mdlen >= 8;
    EVP_MD_CTX_free(c);
    if (!ok) {
        out[0] = '\0';
        return -1;
    }
    for (size_t i = 0; i < 8; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}

/* A printable copy of s for a message: bytes outside printable ASCII, and
 * quotes and backslashes, become "?"; at most len - 1 bytes. */
static void printable(const char *s, char *out, size_t len)
{
    size_t i = 0;
    for (; s[i] && i + 1 < len; i++)
        out[i] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\') ? s[i] : '?';
    if (len)
        out[i] = '\0';
}

/* attribute key of item: absent (NULL, *bad false), a {"S": string} with
 * nothing else (its string), or anything else (NULL, *bad true). */
static const char *str_attr(const cJSON *item, const char *key, bool *bad)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(item, key);
    if (!a)
        return NULL;
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(a, "S");
    if (!cJSON_IsObject(a) || !cJSON_IsString(s) || !s->valuestring || cJSON_GetArraySize(a) != 1) {
        *bad = true;
        return NULL;
    }
    return s->valuestring;
}

static const char *check_fp(const char *fp)
{
    if (strlen(fp) != LEASE_SET_FP_LEN - 1)
        return "tset is not 16 hex digits";
    for (const char *c = fp; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return "tset is not 16 hex digits";
    return NULL;
}

static const char *check_list(const char *list)
{
    size_t n = strlen(list);
    if (n < 3 || n > LEASE_SET_LIST_MAX)
        return "tables is empty or too long";
    for (const char *c = list; *c; c++)
        if (!list_char(*c))
            return "tables has a character no table list has";
    return NULL;
}

static const char *check_name(const char *name)
{
    size_t n = strlen(name);
    if (n < 1 || n > LEASE_SET_NAME_MAX)
        return "cluster is empty or longer than 255 bytes";
    for (const unsigned char *c = (const unsigned char *)name; *c; c++)
        if (*c < 0x20 || *c == 0x7f)
            return "cluster has a control character";
    return NULL;
}

/* Why the three attributes do not make a set (NULL: they do). */
static const char *why_bad(const char *fp, const char *list, const char *name, bool bad)
{
    const char *why = NULL;
    char calc[LEASE_SET_FP_LEN];
    if (bad)
        return "tset, tables or cluster is not a String";
    if (!fp || !list || !name)
        return "it has only some of tset, tables and cluster";
    if ((why = check_fp(fp)) || (why = check_list(list)) || (why = check_name(name)))
        return why;
    if (lease_set_fingerprint(name, list, calc) != 0)
        return "its fingerprint could not be checked (out of memory)";
    if (strcmp(calc, fp) != 0)
        return "tset does not match its tables and cluster";
    return NULL;
}

lease_set_kind_t lease_set_judge(const cJSON *item, const char *mine_fp, char *desc, size_t dlen, char *other_name,
                                 char *other_list)
{
    bool bad = false;
    if (desc && dlen)
        desc[0] = '\0';
    if (!cJSON_IsObject(item))
        return LEASE_SET_NONE;
    const char *fp = str_attr(item, "tset", &bad);
    const char *list = str_attr(item, "tables", &bad);
    const char *name = str_attr(item, "cluster", &bad);
    if (!bad && !fp && !list && !name)
        return LEASE_SET_NONE;
    const char *why = why_bad(fp, list, name, bad);
    if (why) {
        if (desc && dlen)
            snprintf(desc, dlen, "its set of lease tables cannot be read: %s", why);
        return LEASE_SET_BAD;
    }
    if (strcmp(fp, mine_fp) == 0)
        return LEASE_SET_OWN;
    if (desc && dlen) {
        char n[LEASE_SET_NAME_MAX + 1];
        printable(name, n, sizeof(n));
        snprintf(desc, dlen, "name %s, tables %s", n, list);
    }
    if (other_name)
        snprintf(other_name, LEASE_SET_NAME_MAX + 1, "%s", name);
    if (other_list)
        snprintf(other_list, LEASE_SET_LIST_MAX + 1, "%s", list);
    return LEASE_SET_OTHER;
}

void lease_set_missing(const char *a, const char *b, char *out, size_t len)
{
    size_t off = 0;
    if (!len)
        return;
    out[0] = '\0';
    for (const char *p = a; *p;) {
        size_t n = strcspn(p, ",");
        bool found = false;
        for (const char *q = b; *q && !found;) {
            size_t m = strcspn(q, ",");
            found = m == n && strncmp(p, q, n) == 0;
            q += m + (q[m] == ',');
        }
        if (!found && off + 1 < len) {
            int w = snprintf(out + off, len - off, "%s%.*s", off ? ", " : "", (int)n, p);
            off = w < 0 ? off : (size_t)w >= len - off ? len - 1 : off + (size_t)w;
        }
        p += n + (p[n] == ',');
    }
}

bool lease_set_won(const cJSON *item)
{
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(item, "won");
    if (!w)
        return true;   /* written before the attribute: counted as before */
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(w, "BOOL");
    return cJSON_IsObject(w) && cJSON_GetArraySize(w) == 1 && cJSON_IsTrue(b);
}

bool lease_set_counts(const cJSON *item, const char *mine_fp)
{
    return cJSON_IsObject(item) && lease_set_judge(item, mine_fp, NULL, 0, NULL, NULL) == LEASE_SET_OWN
           && lease_set_won(item);
}

bool lease_set_write_won(bool by_leader, bool replaced_own_won)
{
    return by_leader || replaced_own_won;
}

size_t lease_set_need(size_t n, size_t own_won)
{
    size_t maj = lease_majority(n);
    return own_won >= maj ? maj : n;
}
