/* retention — plan which backups to delete (rules and reasons in
 * retention.h).  Each backup is judged alone against two facts about the
 * whole list: the newest AVAILABLE backups (overall and of the policy set)
 * and its rank among the policy set's AVAILABLE backups. */
#include "backup/retention.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define DAY_S 86400

/* What retention_plan found about the whole list. */
typedef struct {
    const ret_policy_t *p;
    const ret_backup_t *b;
    size_t n;
    int64_t now_s;
    size_t newest_all, newest_ours;  /* indexes; n when there is none */
} ret_ctx_t;

const char *ret_status_str(int status)
{
    switch (status) {
    case RET_CREATING:  return "CREATING";
    case RET_AVAILABLE: return "AVAILABLE";
    case RET_DELETED:   return "DELETED";
    default:            return "OTHER";
    }
}

int64_t ret_epoch_s(double v)
{
    return v >= -0x1p63 && v < 0x1p63 ? (int64_t)v : 0;
}

int ret_status_parse(const char *s)
{
    if (!s)
        return RET_OTHER;
    for (int st = RET_CREATING; st < RET_OTHER; st++)
        if (strcmp(s, ret_status_str(st)) == 0)
            return st;
    return RET_OTHER;
}

/* Is a newer than b?  created_s, then the greater ARN. */
static bool newer(const ret_backup_t *a, const ret_backup_t *b)
{
    if (a->created_s != b->created_s)
        return a->created_s > b->created_s;
    return strcmp(a->arn ? a->arn : "", b->arn ? b->arn : "") > 0;
}

static bool has_prefix(const ret_policy_t *p, const ret_backup_t *b)
{
    size_t len = p->name_prefix ? strlen(p->name_prefix) : 0;

    return len && b->name && strncmp(b->name, p->name_prefix, len) == 0;
}

/* In the policy set: ours and named with the prefix. */
static bool in_set(const ret_policy_t *p, const ret_backup_t *b)
{
    return b->ours && (b->adopted || has_prefix(p, b));
}

/* The newest AVAILABLE backup (of the policy set when only_set); n if none. */
static size_t find_newest(const ret_ctx_t *x, bool only_set)
{
    size_t best = x->n;

    for (size_t i = 0; i < x->n; i++) {
        if (x->b[i].status != RET_AVAILABLE || (only_set && !in_set(x->p, &x->b[i])))
            continue;
        if (best == x->n || newer(&x->b[i], &x->b[best]))
            best = i;
    }
    return best;
}

/* How many AVAILABLE backups of the policy set are newer than b[i]. */
static size_t rank_in_set(const ret_ctx_t *x, size_t i)
{
    size_t r = 0;

    for (size_t j = 0; j < x->n; j++)
        if (j != i && x->b[j].status == RET_AVAILABLE && in_set(x->p, &x->b[j]) &&
            newer(&x->b[j], &x->b[i]))
            r++;
    return r;
}

static void say(char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(char *why, const char *fmt, ...)
{
    va_list ap;

    if (!why)
        return;
    va_start(ap, fmt);
    vsnprintf(why, RET_REASON_SIZE, fmt, ap);
    va_end(ap);
}

static const char *plural(uint32_t v) { return v == 1 ? "" : "s"; }

/* Rules 1-4 of retention.h: reasons that do not depend on the policy's
 * numbers.  Returns true (and the reason) when b[i] is kept by one. */
static bool kept_always(const ret_ctx_t *x, size_t i, char *why)
{
    const ret_backup_t *b = &x->b[i];

    if (!b->ours) {
        say(why, "kept: not created by regiond");
    } else if (!x->p->name_prefix || !x->p->name_prefix[0]) {
        say(why, "kept: policy has no name_prefix");
    } else if (!b->adopted && !has_prefix(x->p, b)) {
        say(why, "kept: name does not start with \"%s\"", x->p->name_prefix);
    } else if (b->status == RET_CREATING) {
        say(why, "kept: still CREATING");
    } else if (b->status == RET_DELETED) {
        say(why, "kept: already DELETED");
    } else if (b->status != RET_AVAILABLE) {
        say(why, "kept: not AVAILABLE");
    } else if (i == x->newest_ours || i == x->newest_all) {
        say(why, "kept: newest AVAILABLE backup");
    } else {
        return false;
    }
    return true;
}

/* Rules 5-8 for an AVAILABLE backup of the policy set; true = delete. */
static bool judge(const ret_ctx_t *x, size_t i, char *why)
{
    const ret_policy_t *p = x->p;
    int64_t age = x->now_s - x->b[i].created_s;

    if (!p->keep_last && !p->keep_days) {
        say(why, "kept: no retention policy");
        return false;
    }
    if (p->keep_last && rank_in_set(x, i) < p->keep_last) {
        say(why, "kept: newest %u", (unsigned)p->keep_last);
        return false;
    }
    if (p->keep_days && age < (int64_t)p->keep_days * DAY_S) {
        say(why, "kept: younger than %u day%s", (unsigned)p->keep_days, plural(p->keep_days));
        return false;
    }
    if (p->keep_last && p->keep_days)
        say(why, "delete: older than %u day%s and not among the newest %u",
            (unsigned)p->keep_days, plural(p->keep_days), (unsigned)p->keep_last);
    else if (p->keep_days)
        say(why, "delete: older than %u day%s", (unsigned)p->keep_days, plural(p->keep_days));
    else
        say(why, "delete: not among the newest %u", (unsigned)p->keep_last);
    return true;
}

size_t retention_plan(const ret_policy_t *p, const ret_backup_t *b, size_t n, int64_t now_s,
                      bool *del, char reasons[][RET_REASON_SIZE])
{
    ret_ctx_t x = { .p = p, .b = b, .n = n, .now_s = now_s };
    size_t count = 0;

    if (!n || !b || !del)
        return 0;
    if (!p) {
        for (size_t i = 0; i < n; i++) {
            del[i] = false;
            say(reasons ? reasons[i] : NULL, "kept: no retention policy");
        }
        return 0;
    }
    x.newest_all = find_newest(&x, false);
    x.newest_ours = find_newest(&x, true);
    for (size_t i = 0; i < n; i++) {
        char *why = reasons ? reasons[i] : NULL;

        del[i] = !kept_always(&x, i, why) && judge(&x, i, why);
        count += del[i];
    }
    return count;
}
