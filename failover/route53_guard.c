/* route53_guard — the fencing guard record: its name, its value, what a
 * read found, the guard items of a batch and the lease's send window.
 *
 * The guard is the TXT record "_regiond-epoch.<route53.record_name>" (a
 * leading "*." of a wildcard record name stripped: "*" is a wildcard only
 * as the leftmost label, so "_regiond-epoch.*.x" would be a plain name with
 * a literal "*" label — Developer Guide, "DNS domain name format").  Its one
 * value starts with the character-string (at most 255 bytes, quoted:
 * Developer Guide, "TXT record type") "\"epoch=7 holder=use1-a\"": the
 * term's epoch, and the holder (controller.id) for operators; then the
 * group as the batch leaves it, weights and drift flags (route53_guardk.c),
 * the reference of the next term's judged read.  It is outside the
 * weighted group (its own name and type); a batch carries its exact DELETE
 * and a new CREATE, so the batch lands only while the guard is what the
 * sender read (ChangeResourceRecordSets: all or nothing, DELETE only of
 * the exact live record — see route53_batch.c). */
#include "failover/route53_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/loop.h"
#include "failover/route53_guardk.h"

#define R53_GUARD_PREFIX "_regiond-epoch."
#define R53_GUARD_TTL 60

int route53_guard_name(const char *record_name, char *out, size_t len)
{
    const char *rest = record_name;
    if (strncmp(rest, "*.", 2) == 0)
        rest += 2;
    else if (strncmp(rest, "\\052.", 5) == 0)
        rest += 5;
    size_t l = strlen(rest);
    bool dot = l && rest[l - 1] == '.';
    /* a DNS name is at most 255 octets on the wire: 253 characters without
     * the final dot */
    if (l == 0 || strlen(R53_GUARD_PREFIX) + l - dot > 253) {
        if (len)
            out[0] = '\0';
        return -1;
    }
    int n = snprintf(out, len, "%s%s", R53_GUARD_PREFIX, rest);
    if (n < 0 || (size_t)n >= len) {
        if (len)
            out[0] = '\0';
        return -1;
    }
    return 0;
}

bool r53_may_send(void)
{
    return r53s.epoch == 0 || loop_now_ms() < r53s.send_until_ms;
}

static uint64_t r53_window_until(void *arg)
{
    (void)arg;
    return r53s.epoch == r53s.req_epoch ? r53s.send_until_ms : 0;
}

aws_req_t *r53_window(aws_req_t *req)
{
    if (req && r53s.epoch) {
        r53s.req_epoch = r53s.epoch;
        aws_set_window(req, r53_window_until, NULL, "the lease term's send window closed");
    }
    return req;
}

void r53_guard_setup(void)
{
    r53_rrset_clear(&r53s.guard_live);
    r53_rrset_clear(&r53s.guard_new);
    r53s.have_guard = r53s.guard_bad = r53s.guard_sent = false;
    r53s.guard_epoch = 0;
    if (r53s.cfg && r53s.cfg->route53.enabled &&
        route53_guard_name(r53s.cfg->route53.record_name, r53s.guard_name, sizeof(r53s.guard_name)) == -1)
        log_msg(LOG_ERR, "msg=\"route53.record_name leaves no room for the fencing guard record\"");
}

/* What this batch leaves: per region the weight of each slot after it (its
 * CREATE, else the record as known) and the drift flag. */
static void r53_guard_knowledge(r53_gk_t *k)
{
    memset(k, 0, sizeof(*k));
    snprintf(k->type, sizeof(k->type), "%s", r53s.cfg->route53.record_type);
    k->n = r53s.n < R53_GK_MAXR ? r53s.n : R53_GK_MAXR;
    for (size_t i = 0; i < k->n; i++) {
        r53_gk_entry_t *e = &k->e[i];
        snprintf(e->id, sizeof(e->id), "%s", r53s.cfg->route53.regions[i].set_identifier);
        for (int s = 0; s < R53_SLOTS; s++) {
            const r53_rrset_t *c = r53s.created ? &r53s.created[i][s] : NULL;
            e->w[s] = c && c->name[0] ? (int)c->weight : r53s.have[i][s] ? (int)r53s.known[i][s].weight : -1;
        }
        e->drift = r53s.drift[i];
    }
}

int r53_guard_make(uint64_t epoch, r53_rrset_t *out)
{
    static char v[R53_GK_VALUE_MAX + 1];
    static r53_gk_t k;
    char first[256];
    r53_rrset_init(out);
    snprintf(out->name, sizeof(out->name), "%s", r53s.guard_name);
    snprintf(out->type, sizeof(out->type), "TXT");
    out->ttl = R53_GUARD_TTL;
    /* controller.id is a config name (A-Z a-z 0-9 . _ -, at most 64): no
     * quote or backslash to escape, and the string stays under 255 bytes */
    snprintf(first, sizeof(first), "epoch=%" PRIu64 " holder=%s", epoch, r53s.cfg->controller.id);
    if (r53s.await_state || r53s.judge_due) {
        /* a term not judged yet passes the last leader's knowledge on as it
         * is (or none): its own view of the group is unjudged */
        const char *rest = r53_guard_live_rest();
        int n = rest ? snprintf(v, sizeof(v), "\"%s\" %s", first, rest) : -1;
        if (n < 0 || (size_t)n > R53_GK_VALUE_MAX)
            snprintf(v, sizeof(v), "\"%s\"", first);
    } else {
        r53_guard_knowledge(&k);
        if (r53_gk_encode(first, &k, v, sizeof(v)) == -1) {
            /* the group does not fit in one TXT value: the epoch alone (a
             * later leader judges drift as without the knowledge) */
            log_msg(LOG_WARNING, "msg=\"route53 guard: the group's weights do not fit in its value; epoch only\" "
                    "regions=%zu", k.n);
            snprintf(v, sizeof(v), "\"%s\"", first);
        }
    }
    if (!(out->values[0] = strdup(v)))
        return -1;
    out->n_values = 1;
    return 0;
}

/* The epoch in a guard's value: exactly one value holding exactly one
 * "epoch=DIGITS" token (a token starts after a quote or a space and ends at
 * a quote or a space), whatever else is there.  0, or -1 when malformed. */
int r53_guard_parse(const r53_rrset_t *g, uint64_t *epoch)
{
    if (g->n_values != 1 || g->alias || !g->values[0])
        return -1;
    const char *v = g->values[0], *p = v;
    int found = 0;
    while ((p = strstr(p, "epoch=")) != NULL) {
        bool starts = p > v && (p[-1] == '"' || p[-1] == ' ');
        const char *d = p + 6;
        p = d;
        if (!starts)
            continue;
        if (*d < '0' || *d > '9')
            return -1;
        char *end;
        errno = 0;
        unsigned long long e = strtoull(d, &end, 10);
        if (errno == ERANGE || (*end != '"' && *end != ' '))
            return -1;
        *epoch = (uint64_t)e;
        found++;
    }
    return found == 1 ? 0 : -1;
}

/* The guard's page of a read: its first record, when that is the guard
 * (StartRecordName lists from the name on: the next name if it has none). */
void r53_guard_adopt(const r53_list_t *page)
{
    r53_rrset_clear(&r53s.guard_live);
    r53s.have_guard = r53s.guard_bad = false;
    r53s.guard_epoch = 0;
    if (page->n == 0 || strcasecmp(page->sets[0].type, "TXT") != 0 ||
        !r53_name_equal(page->sets[0].name, r53s.guard_name))
        return;
    if (r53_rrset_copy(&r53s.guard_live, &page->sets[0]) == -1) {
        r53s.guard_bad = true;   /* not known: no batch goes out on it */
        return;
    }
    r53s.have_guard = true;
    r53s.guard_bad = r53_guard_parse(&r53s.guard_live, &r53s.guard_epoch) == -1;
}

/* The live guard's knowledge when it covers every configured region for
 * our record_type; NULL when it carries none (an old or foreign value). */
static const r53_gk_t *r53_guard_known(const size_t **idx)
{
    static r53_gk_t k;
    static size_t at[R53_MAXR];
    *idx = at;
    if (!r53s.epoch || !r53s.have_guard || r53s.guard_bad || r53s.guard_live.n_values != 1 ||
        r53_gk_parse(r53s.guard_live.values[0], &k) == -1 || strcmp(k.type, r53s.cfg->route53.record_type) != 0)
        return NULL;
    for (size_t i = 0; i < r53s.n; i++) {
        size_t j = 0;
        while (j < k.n && strcmp(k.e[j].id, r53s.cfg->route53.regions[i].set_identifier) != 0)
            j++;
        if (j == k.n)
            return NULL;   /* a region added since: judged as without knowledge */
        at[i] = j;
    }
    return &k;
}

/* The knowledge part of a guard's value (the character-strings after the
 * first, without the space before them), or NULL when it has none. */
const char *r53_guard_rest(const char *value)
{
    const char *q = value && value[0] == '"' ? strchr(value + 1, '"') : NULL;
    return q && q[1] == ' ' && q[2] == '"' ? q + 2 : NULL;
}

/* The live guard's knowledge part when it parses as knowledge (the bump of
 * an unjudged term passes it on as it is; a saved document records it). */
const char *r53_guard_live_rest(void)
{
    static r53_gk_t k;
    if (!r53s.have_guard || r53s.guard_bad || r53s.guard_live.n_values != 1 ||
        r53_gk_parse(r53s.guard_live.values[0], &k) == -1)
        return NULL;
    return r53_guard_rest(r53s.guard_live.values[0]);
}

bool r53_guard_reference(long exp[][R53_SLOTS], bool *drift, const char *saved_rest)
{
    const size_t *at;
    const r53_gk_t *k = r53_guard_known(&at);
    const char *rest = k ? r53_guard_rest(r53s.guard_live.values[0]) : NULL;
    if (!rest || (saved_rest && strcmp(saved_rest, rest) == 0))
        return false;   /* no knowledge; or the saved document was written after the guard's batch */
    for (size_t i = 0; i < r53s.n; i++) {
        const r53_gk_entry_t *e = &k->e[at[i]];
        for (int s = 0; s < R53_SLOTS; s++)
            exp[i][s] = e->w[s];
        drift[i] = e->drift;
    }
    log_msg(LOG_NOTICE, "msg=\"route53: drift judged against the guard's weights (newer than the saved state)\" "
            "epoch=%" PRIu64 " guard_epoch=%" PRIu64, r53s.epoch, r53s.guard_epoch);
    return true;
}
