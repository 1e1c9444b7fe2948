/* replica_cond — the condition of a replicated item's PutItem (replica.h
 * replica_put_cond): never over a newer (epoch, seq), and over an item the
 * last read ignored only while the table still holds it (known defects 37;
 * its rules in docs/ha.md, "Replicated controller state"). */
#include "cluster/replica.h"

#include <stdio.h>
#include <string.h>

static cJSON *attr(cJSON *obj, const char *key, const char *type, const char *val)
{
    cJSON *a = cJSON_AddObjectToObject(obj, key);
    return a && cJSON_AddStringToObject(a, type, val) ? a : NULL;
}

/* How attribute a (NULL: missing) is matched: 'm' missing, 'x' exactly (a
 * number: its text is the value DynamoDB holds), 't' by its type and, a
 * string, a size at least its length (a string is not compared: cJSON cuts
 * it at a U+0000, and it may be large), 0 not a DynamoDB value. */
static char how(const cJSON *a)
{
    const cJSON *v = a ? a->child : NULL;
    if (!a)
        return 'm';
    if (!cJSON_IsObject(a) || !v || v->next || !v->string || !v->string[0] || strlen(v->string) > 4)
        return 0;
    if (strcmp(v->string, "N") == 0 && cJSON_IsString(v) && strlen(v->valuestring) <= 60)
        return 'x';
    return 't';
}

/* Attribute k's part of the clause into c (its names and values into names
 * and vals): the length written, or -1 (out of memory or no room). */
static int one_attr(size_t k, const char *attr_name, const cJSON *a, cJSON *names, cJSON *vals, char *c,
                    size_t len)
{
    char nm[8], ty[8], ln[8];
    char h = how(a);
    const cJSON *v = a ? a->child : NULL;
    bool sized = h == 't' && strcmp(v->string, "S") == 0 && cJSON_IsString(v);
    snprintf(nm, sizeof(nm), "#i%zu", k);
    if (!cJSON_AddStringToObject(names, nm, attr_name))
        return -1;
    snprintf(ty, sizeof(ty), ":i%zut", k);
    snprintf(ln, sizeof(ln), ":i%zun", k);
    int w = h == 'm' ? snprintf(c, len, "attribute_not_exists(#i%zu)", k)
            : h == 'x' ? snprintf(c, len, "#i%zu = :i%zu", k, k)
            : snprintf(c, len, "attribute_type(#i%zu, %s)%s%s%s", k, ty, sized ? " AND size(" : "",
                       sized ? nm : "", sized ? ") >= " : "");
    if (w < 0 || (size_t)w >= len)
        return -1;
    if (sized) {
        int w2 = snprintf(c + w, len - (size_t)w, "%s", ln);
        if (w2 < 0 || (size_t)w2 >= len - (size_t)w)
            return -1;
        w += w2;
    }
    char val[24];
    nm[0] = ':';
    if (h == 'x') {
        cJSON *d = cJSON_Duplicate(a, 1);
        if (!d || !cJSON_AddItemToObject(vals, nm, d)) {
            cJSON_Delete(d);
            return -1;
        }
    } else if (h == 't') {
        snprintf(val, sizeof(val), "%zu", sized ? strlen(v->valuestring) : (size_t)0);
        if (!attr(vals, ty, "S", v->string) || (sized && !attr(vals, ln, "N", val)))
            return -1;
    }
    return w;
}

/* The clause "the table still holds item" into cond (its names and values
 * into names and vals): 1; 0 (cond "") when the item is not made of
 * DynamoDB values; -1 out of memory.  Its epoch and seq, numbers, are
 * matched exactly, so is the owner when a number; any other attribute by
 * its type (and a string's size): each write of a leader has its own
 * (epoch, seq), so a leader's write after the read changes the item; one
 * that keeps (epoch, seq) and type is no leader's. */
static int same_item(const cJSON *item, cJSON *names, cJSON *vals, char *cond, size_t len)
{
    static const char *const attrs[4] = {"epoch", "seq", "owner", "doc"};
    size_t off = 0;
    cond[0] = '\0';
    for (size_t k = 0; k < 4; k++)
        if (!how(cJSON_GetObjectItemCaseSensitive(item, attrs[k])))
            return 0;
    for (size_t k = 0; k < 4; k++) {
        if (k) {
            if (off + 6 >= len)
                return -1;
            memcpy(cond + off, " AND ", 6);
            off += 5;
        }
        int w = one_attr(k, attrs[k], cJSON_GetObjectItemCaseSensitive(item, attrs[k]), names, vals, cond + off,
                         len - off);
        if (w < 0)
            return -1;
        off += (size_t)w;
    }
    return 1;
}

#define RP_COND "attribute_not_exists(#n) OR #e < :e OR (#e = :e AND #s < :s) OR (#e = :t AND #s = :t)"
#define RP_COND_OVER RP_COND " OR NOT attribute_type(#e, :tn) OR NOT attribute_type(#s, :tn) " \
    "OR NOT attribute_type(#d, :ts) OR #e > :t OR #s > :t"

bool replica_put_cond(cJSON *b, const char *e, const char *s, bool over, const cJSON *ign, bool ign_valid,
                      bool landed)
{
    char same[600] = "", cond[1000];
    if (ign && ign_valid && !landed)
        ign = NULL;   /* a valid item at or above the term: replaced only once the term's guard bump landed */
    cJSON *names = cJSON_AddObjectToObject(b, "ExpressionAttributeNames");
    cJSON *vals = names ? cJSON_AddObjectToObject(b, "ExpressionAttributeValues") : NULL;
    bool ok = vals && cJSON_AddStringToObject(names, "#n", "name") && cJSON_AddStringToObject(names, "#e", "epoch")
              && cJSON_AddStringToObject(names, "#s", "seq") && attr(vals, ":e", "N", e) && attr(vals, ":s", "N", s)
              && attr(vals, ":t", "N", "9007199254740992")
              && (!ign || same_item(ign, names, vals, same, sizeof(same)) != -1);
    snprintf(cond, sizeof(cond), "%s%s%s%s", over ? RP_COND_OVER : RP_COND, same[0] ? " OR (" : "", same,
             same[0] ? ")" : "");
    ok = ok && cJSON_AddStringToObject(b, "ConditionExpression", cond);
    return ok && (!over || (cJSON_AddStringToObject(names, "#d", "doc") && attr(vals, ":tn", "S", "N")
                            && attr(vals, ":ts", "S", "S")));
}
