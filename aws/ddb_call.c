/* ddb_call — DynamoDB's JSON protocol over the AWS client (see ddb_call.h). */
#include "aws/ddb_call.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/client.h"

struct ddb_req {
    aws_req_t *req;
    ddb_done_fn done;
    ddb_once_fn once;
    void *arg;
};

static void ddb_on_done(void *arg, const aws_resp_t *r)
{
    ddb_req_t *d = arg;
    cJSON *j = NULL;
    char err[900];
    int ok = r->ok;
    if (ok) {
        j = cJSON_ParseWithLength(r->body, r->body_len);
        if (!j) {
            ok = 0;
            snprintf(err, sizeof(err), "invalid JSON in the answer (%zu bytes)", r->body_len);
        }
    } else {
        snprintf(err, sizeof(err), "%s", r->error);
    }
    if (d->once)
        d->once(d->arg, ok, !ok && !r->not_sent && (r->http_status == 0 || r->http_status >= 500), j,
                ok ? NULL : err);
    else
        d->done(d->arg, ok, j, ok ? NULL : err, r->elapsed_ms);
    cJSON_Delete(j);
    free(d);
}

/* The table a request names, for the aws-dynamodb alarm: TableName, or the
 * table of a BackupArn ("arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/backup/ID");
 * "" when neither. */
static void ddb_table_of(const cJSON *body, char *out, size_t len)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(body, "TableName");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(body, "BackupArn");
    out[0] = '\0';
    if (cJSON_IsString(t)) {
        snprintf(out, len, "%s", t->valuestring);
    } else if (cJSON_IsString(a)) {
        const char *p = strstr(a->valuestring, ":table/");
        if (p) {
            p += strlen(":table/");
            snprintf(out, len, "%.*s", (int)strcspn(p, "/"), p);
        }
    }
}

static ddb_req_t *ddb_start(const char *aws_region, const char *op, cJSON *body,
                            ddb_done_fn done, ddb_once_fn once, void *arg)
{
    char target[96], table[256];
    ddb_table_of(body, table, sizeof(table));
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    ddb_req_t *d = calloc(1, sizeof(*d));
    if (!text || !d || !aws_region) {
        free(text);
        free(d);
        return NULL;
    }
    snprintf(target, sizeof(target), "DynamoDB_20120810.%s", op);
    aws_call_t c = {.service = "dynamodb", .region = aws_region, .op = op,
                    .method = "POST", .path_query = "/", .body = text, .body_len = strlen(text),
                    .content_type = "application/x-amz-json-1.0", .target = target,
                    .proto = AWS_PROTO_JSON, .once = once != NULL, .resource = table[0] ? table : NULL};
    d->done = done;
    d->once = once;
    d->arg = arg;
    d->req = aws_call(&c, ddb_on_done, d);
    free(text);
    if (!d->req) {
        free(d);
        return NULL;
    }
    return d;
}

static const char *ddb_region(const cfg_t *cfg, size_t region)
{
    return region < cfg->n_regions && cfg->dynamodb.aws_regions ? cfg->dynamodb.aws_regions[region] : NULL;
}

ddb_req_t *ddb_call(const cfg_t *cfg, size_t region, const char *op, cJSON *body,
                    ddb_done_fn done, void *arg)
{
    return ddb_start(ddb_region(cfg, region), op, body, done, NULL, arg);
}

ddb_req_t *ddb_call_once(const cfg_t *cfg, size_t region, const char *op, cJSON *body,
                         ddb_once_fn done, void *arg)
{
    return ddb_start(ddb_region(cfg, region), op, body, NULL, done, arg);
}

ddb_req_t *ddb_call_at(const char *aws_region, const char *op, cJSON *body, ddb_done_fn done, void *arg)
{
    return ddb_start(aws_region, op, body, done, NULL, arg);
}

ddb_req_t *ddb_call_once_at(const char *aws_region, const char *op, cJSON *body,
                            ddb_once_fn done, void *arg)
{
    return ddb_start(aws_region, op, body, NULL, done, arg);
}

void ddb_set_window(ddb_req_t *d, aws_window_fn until, void *arg, const char *what)
{
    if (d)
        aws_set_window(d->req, until, arg, what);
}

void ddb_cancel(ddb_req_t *d)
{
    if (!d)
        return;
    aws_cancel(d->req);
    free(d);
}
