/* view_pick — the items a reader takes (view_pick.h). */
#include "cluster/view_pick.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* attr's "N" as a whole number up to VIEW_PICK_NUM_MAX; false with why. */
static bool whole(const cJSON *item, const char *name, uint64_t *out, char *why, size_t len)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(item, name);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, "N");
    if (!a) {
        snprintf(why, len, "no %s", name);
        return false;
    }
    if (!cJSON_IsObject(a) || !cJSON_IsString(v) || !v->valuestring) {
        snprintf(why, len, "%s is not a number", name);
        return false;
    }
    const char *s = v->valuestring;
    size_t n = strlen(s);
    if (n == 0 || n > 16 || strspn(s, "0123456789") != n) {
        snprintf(why, len, "%s is not a whole number up to 2^53", name);
        return false;
    }
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++)
        x = x * 10 + (uint64_t)(s[i] - '0');
    if (x > VIEW_PICK_NUM_MAX) {
        snprintf(why, len, "%s is above 2^53", name);
        return false;
    }
    *out = x;
    return true;
}

/* attr's "N" as a number up to VIEW_PICK_NUM_MAX (whole or not) in *x. */
static bool number(const cJSON *item, const char *name, double *x, bool *whole_digits)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(item, name), "N");
    if (!cJSON_IsString(v) || !v->valuestring || !v->valuestring[0])
        return false;
    char *end;
    *x = strtod(v->valuestring, &end);
    *whole_digits = strspn(v->valuestring, "0123456789") == strlen(v->valuestring);
    return *end == '\0' && *x <= (double)VIEW_PICK_NUM_MAX;
}

/* A bad item the write's condition compares as numbers, that can be above
 * ours (an epoch of 1 or more; ours is): view_item_t.unwhole. */
static bool unwhole(const cJSON *item)
{
    bool we, ws;
    double e, s;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(item, "doc"), "S");
    return cJSON_IsString(d) && number(item, "epoch", &e, &we) && number(item, "seq", &s, &ws) && (!we || !ws)
           && e >= 1;
}

void view_item_parse(const cJSON *item, view_item_t *out)
{
    memset(out, 0, sizeof(*out));
    out->answered = true;
    if (!item)
        return;
    out->kind = VIEW_ITEM_BAD;
    if (!cJSON_IsObject(item)) {
        snprintf(out->why, sizeof(out->why), "the item is not an object");
        return;
    }
    if (!whole(item, "epoch", &out->epoch, out->why, sizeof(out->why))
        || !whole(item, "seq", &out->seq, out->why, sizeof(out->why))) {
        out->unwhole = unwhole(item);
        return;
    }
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(item, "doc"), "S");
    if (!cJSON_IsString(d) || !d->valuestring) {
        snprintf(out->why, sizeof(out->why), "doc is not a string");
        return;
    }
    out->doc = d->valuestring;
    out->kind = VIEW_ITEM_VALID;
}

static bool higher(const view_item_t *a, const view_item_t *b)
{
    return a->epoch > b->epoch || (a->epoch == b->epoch && a->seq > b->seq);
}

void view_pick(const view_item_t *items, size_t n, view_pick_t *out)
{
    memset(out, 0, sizeof(*out));
    n = n < VIEW_PICK_TABLES ? n : VIEW_PICK_TABLES;
    size_t good = 0, answered = 0;
    for (size_t i = 0; i < n; i++) {
        const view_item_t *it = &items[i];
        if (!it->answered)
            continue;
        answered++;
        if (it->kind == VIEW_ITEM_BAD) {
            out->n_bad++;
            out->bad_mask |= 1u << i;
            continue;
        }
        good++;
        if (it->kind != VIEW_ITEM_VALID)
            continue;
        size_t j = out->n_valid++;   /* insertion: highest first, ties by table order */
        while (j > 0 && higher(it, &items[out->order[j - 1]])) {
            out->order[j] = out->order[j - 1];
            j--;
        }
        out->order[j] = i;
    }
    out->ok = n > 0 && good >= n / 2 + 1;
    out->learn_ok = n > 0 && answered >= n / 2 + 1;   /* a bad item counts (view_pick.h, defect 38) */
}

uint64_t view_pick_learn(const view_item_t *items, const view_pick_t *p, uint64_t *seq, bool *at_limit)
{
    *at_limit = false;
    *seq = 0;
    if (!p->learn_ok)
        return 0;
    for (size_t j = 0; j < p->n_valid; j++) {   /* highest (epoch, seq) first */
        const view_item_t *it = &items[p->order[j]];
        if (it->epoch < VIEW_PICK_NUM_MAX)
            return it->epoch + 1;
        if (it->seq < VIEW_PICK_NUM_MAX) {   /* at the epoch limit: go on in it, above its seq */
            *seq = it->seq;
            return VIEW_PICK_NUM_MAX;
        }
        *at_limit = true;   /* (2^53, 2^53): nothing is above it */
    }
    return 1;
}

uint64_t view_pick_above_saved(uint64_t e, uint64_t *seq, uint64_t saved)
{
    if (!e || saved < e || saved >= VIEW_PICK_NUM_MAX)
        return e;
    *seq = 0;
    return saved + 1;
}

void view_pick_bad_str(const view_item_t *items, size_t n, const char *const *names, char *buf, size_t len)
{
    size_t off = 0;
    if (len)
        buf[0] = '\0';
    for (size_t i = 0; i < n && i < VIEW_PICK_TABLES; i++) {
        if (!items[i].answered || items[i].kind != VIEW_ITEM_BAD || off + 8 >= len)
            continue;
        int w = snprintf(buf + off, len - off, "%s%s: %s", off ? "; " : "", names[i], items[i].why);
        off = w < 0 ? off : (size_t)w + off >= len ? len - 1 : off + (size_t)w;
    }
}

static bool names(const view_drill_t *ds, size_t n, uint64_t id, const char *region)
{
    for (size_t e = 0; e < n && e < VIEW_MAX_DRILLS; e++)
        if (ds[e].id == id && strcmp(ds[e].region, region) == 0)
            return true;
    return false;
}

uint64_t view_pick_drill_agreed(const size_t *n_tdrills, const view_drill_t (*tdrills)[VIEW_MAX_DRILLS],
                                size_t n_tables, const char *region)
{
    n_tables = n_tables < VIEW_PICK_TABLES ? n_tables : VIEW_PICK_TABLES;
    size_t need = n_tables / 2 + 1;
    for (size_t t = 0; t < n_tables; t++)
        for (size_t d = 0; d < n_tdrills[t] && d < VIEW_MAX_DRILLS; d++) {
            const view_drill_t *x = &tdrills[t][d];
            if (strcmp(x->region, region) != 0)
                continue;
            size_t agree = 0;
            for (size_t u = 0; u < n_tables; u++)
                agree += names(tdrills[u], n_tdrills[u], x->id, region);
            if (agree >= need)
                return x->id;
        }
    return 0;
}
