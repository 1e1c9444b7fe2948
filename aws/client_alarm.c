/* client_alarm — the aws-SERVICE alarm (client.h, "The service's alarm"),
 * held per target: a target is a (region, resource) pair, the resource being
 * what the call names (a DynamoDB table; "" for the service as a whole, as
 * every Route 53 call is).  The alarm is raised when a target starts failing
 * (or fails with another code), stays raised while any target fails, and is
 * resolved when the last failing target answers again: an answer from
 * another target never resolves it (one lease table of three answering 500
 * gave firing/resolved once a second before). */
#include "aws/client_int.h"

#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/alarm.h"
#include "core/log.h"
#include "core/loop.h"

/* Answers that say the service works: the caller handles them (a drifted
 * group, a conditional write that lost), they are no error of regiond's. */
static bool aws_alarm_answered(const char *code)
{
    return strcmp(code, "InvalidChangeBatch") == 0 || strcmp(code, "ConditionalCheckFailedException") == 0;
}

static const char *res_of(const aws_req_t *r)
{
    return r->resource ? r->resource : "";
}

static int aws_alarm_find(const aws_bucket_t *b, const char *region, const char *resource)
{
    for (size_t i = 0; i < b->n_fails; i++)
        if (strcmp(b->fails[i].region, region) == 0 && strcmp(b->fails[i].resource, resource) == 0)
            return (int)i;
    return -1;
}

/* "TABLE in REGION" (or "" for the service as a whole) into out. */
static void aws_alarm_name(const aws_fail_t *f, char *out, size_t len)
{
    if (f->resource[0])
        snprintf(out, len, "%s in %s", f->resource, f->region);
    else
        snprintf(out, len, "%s", "");
}

/* One failing target alone: its error as it was ("TABLE in REGION: " before
 * it when it names one); several: "N targets fail: A: ERR; B: ERR". */
static void aws_alarm_summary(const aws_bucket_t *b, char *out, size_t len)
{
    char name[320];
    size_t n = 0;
    out[0] = '\0';
    if (b->n_fails > 1 || b->more)
        n = (size_t)snprintf(out, len, "%zu%s %s targets fail: ", b->n_fails, b->more ? "+" : "", b->service);
    for (size_t i = 0; i < b->n_fails && n < len; i++) {
        aws_alarm_name(&b->fails[i], name, sizeof(name));
        int w = snprintf(out + n, len - n, "%s%s%s%s", i ? "; " : "", name, name[0] ? ": " : "",
                         b->fails[i].error);
        n += w > 0 ? (size_t)w : 0;
    }
    if (b->more && n < len)
        snprintf(out + n, len - n, "; and others (more than %d targets)", AWS_ALARM_TARGETS);
}

static void aws_alarm_raise(const aws_bucket_t *b, const aws_fail_t *newest)
{
    char sum[2048];
    alarm_key_t key = alarm_key_aws(b->service);
    aws_alarm_summary(b, sum, sizeof(sum));
    cJSON *d = cJSON_CreateObject();
    if (d) {
        cJSON_AddStringToObject(d, "code", newest->code);
        cJSON_AddStringToObject(d, "operation", newest->op);
        cJSON_AddStringToObject(d, "region", newest->region);
        if (newest->resource[0])
            cJSON_AddStringToObject(d, "resource", newest->resource);
        cJSON_AddNumberToObject(d, "failing", (double)b->n_fails);
    }
    alarm_raise(key.s, "warning", sum, d);
}

/* After a target left the set: resolve when none is left, else say what still fails. */
static void aws_alarm_left(aws_bucket_t *b, const char *why)
{
    if (b->n_fails == 0) {
        b->more = false;
        alarm_resolve(alarm_key_aws(b->service).s, why);
        return;
    }
    aws_alarm_raise(b, &b->fails[b->n_fails - 1]);
}

static void aws_alarm_drop(aws_bucket_t *b, size_t i)
{
    memmove(&b->fails[i], &b->fails[i + 1], (b->n_fails - i - 1) * sizeof(b->fails[0]));
    b->n_fails--;
}

/* Targets not called (no failure) for AWS_ALARM_STALE_MS: a table a reload
 * took away, a backup table called once a day.  Nothing shows they still
 * fail; they leave the set when another call of the service works. */
static void aws_alarm_prune(aws_bucket_t *b, uint64_t now)
{
    char why[400], name[320] = "";
    size_t gone = 0;
    for (size_t i = b->n_fails; i-- > 0;)
        if (now - b->fails[i].last_ms >= AWS_ALARM_STALE_MS) {
            aws_alarm_name(&b->fails[i], name, sizeof(name));
            aws_alarm_drop(b, i);
            gone++;
        }
    if (!gone)
        return;
    if (gone == 1 && name[0])
        snprintf(why, sizeof(why), "no call to %s failed for %d s", name, AWS_ALARM_STALE_MS / 1000);
    else
        snprintf(why, sizeof(why), "no failed call for %d s", AWS_ALARM_STALE_MS / 1000);
    aws_alarm_left(b, why);
}

static void aws_alarm_ok(aws_bucket_t *b, const aws_req_t *r)
{
    int i = aws_alarm_find(b, r->region, res_of(r));
    if (i < 0) {
        aws_alarm_prune(b, loop_now_ms());
        return;
    }
    char why[400], name[320];
    aws_alarm_name(&b->fails[i], name, sizeof(name));
    if (name[0])
        snprintf(why, sizeof(why), "%s answers again", name);
    else
        snprintf(why, sizeof(why), "AWS calls work again");
    aws_alarm_drop(b, (size_t)i);
    aws_alarm_left(b, why);
}

static void aws_alarm_fail(aws_bucket_t *b, const aws_req_t *r, const char *code, const char *error)
{
    int i = aws_alarm_find(b, r->region, res_of(r));
    if (i < 0 && b->n_fails == AWS_ALARM_TARGETS) {
        if (!b->more) {
            b->more = true;
            aws_alarm_raise(b, &b->fails[b->n_fails - 1]);
        }
        return;
    }
    aws_fail_t *f = &b->fails[i < 0 ? b->n_fails++ : (size_t)i];
    f->last_ms = loop_now_ms();
    if (i >= 0 && strcmp(f->code, code) == 0)
        return;   /* the same failure again: the message changes with every attempt (dates, ids) */
    snprintf(f->region, sizeof(f->region), "%s", r->region);
    snprintf(f->resource, sizeof(f->resource), "%s", res_of(r));
    snprintf(f->code, sizeof(f->code), "%s", code);
    snprintf(f->op, sizeof(f->op), "%s", r->op);
    snprintf(f->error, sizeof(f->error), "%s", error);
    aws_alarm_raise(b, f);
}

void aws_alarm_note(aws_req_t *r, int ok, const char *code, const char *error)
{
    aws_bucket_t *b = r->bucket;
    const char *c = code && *code ? code : "Unknown";
    if (ok || aws_alarm_answered(c))
        aws_alarm_ok(b, r);
    else
        aws_alarm_fail(b, r, c, error);   /* cleaned at the source (client_retry.c) */
}
