/* route53_guard — the fencing guard record: its name, its value, what a
 * read found, the guard items of a batch and the lease's send window.
 *
 * The guard is the TXT record "_regiond-epoch.<route53.record_name>" (a
 * leading "*." of a wildcard record name stripped: "*" is a wildcard only
 * as the leftmost label, so "_regiond-epoch.*.x" would be a plain name with
 * a literal "*" label — Developer Guide, "DNS domain name format").  Its one
 * value starts with the character-string (at most 255 bytes, quoted:
 * Developer Guide, "TXT record type") "\"epoch=7 holder=use1-a\"": the
 * term's epoch, and the holder (cluster.instance_id, which defaults to
 * controller.id: the bump tells its own earlier attempt from another
 * instance's term of the same epoch by it, route53_term.c); then the
 * group as the batch leaves it, weights and drift flags, with the batch's
 * number (route53_guardk.c), the reference of the next term's judged read
 * when newer than the saved state by that number.  It is outside the
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

static uint64_t batch_n;   /* the last batch number given (outlives r53s: never goes back in a process) */

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
    r53s.guard_new_seq = (r53_gk_seq_t){0, 0};
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

/* The bump of a term not judged yet: the first string and the last
 * leader's knowledge as it is (its batch number kept); when both do not
 * fit, the first string alone (never without the holder: the bump tells its
 * own earlier attempt from another instance's term of the same epoch by it,
 * route53_term.c): logged and counted, as the judged read then falls back
 * to the saved state (known defect 22 once: dropped without a word). */
static void r53_guard_pass_on(uint64_t epoch, char *v, size_t len)
{
    char first[256];
    const char *rest = r53_guard_live_rest();
    snprintf(first, sizeof(first), "epoch=%" PRIu64 " holder=%s", epoch, r53_guard_self());
    int n = rest ? snprintf(v, len, "\"%s\" %s", first, rest) : -1;
    if (n >= 0 && (size_t)n <= R53_GK_VALUE_MAX)
        return;
    snprintf(v, len, "\"%s\"", first);
    if (!rest)
        return;
    r53_gk_seq_t q = r53_guard_live_seq();
    char qs[48] = "none";
    if (q.epoch)
        r53_gk_seq_fmt(q, qs, sizeof(qs));
    r53s.guard_dropped_total++;
    log_msg(LOG_WARNING, "msg=\"route53 guard bump: the last leader's knowledge of the group does not fit in the "
            "guard's value beside this term's epoch; dropped: the next judged read falls back to the saved state\" "
            "epoch=%" PRIu64 " knowledge_bytes=%zu knowledge_seq=%s limit=%d", epoch, strlen(rest), qs,
            R53_GK_VALUE_MAX);
}

int r53_guard_make(uint64_t epoch, r53_rrset_t *out)
{
    static char v[R53_GK_VALUE_MAX + 1];
    static r53_gk_t k;
    char first[256];
    r53_rrset_init(out);
    r53s.guard_new_seq = (r53_gk_seq_t){0, 0};
    snprintf(out->name, sizeof(out->name), "%s", r53s.guard_name);
    snprintf(out->type, sizeof(out->type), "TXT");
    out->ttl = R53_GUARD_TTL;
    /* the id is a config name (A-Z a-z 0-9 . _ -, at most 64): no quote or
     * backslash to escape, and the string stays under 255 bytes */
    snprintf(first, sizeof(first), "epoch=%" PRIu64 " holder=%s", epoch, r53_guard_self());
    if (r53s.await_state || r53s.judge_due) {
        /* a term not judged yet passes the last leader's knowledge on as it
         * is (or none): its own view of the group is unjudged */
        r53_guard_pass_on(epoch, v, sizeof(v));
    } else {
        r53_guard_knowledge(&k);
        /* this batch's number: ordered after every earlier batch of this
         * process, so of this term (a judged read compares it, not the text) */
        k.seq = (r53_gk_seq_t){epoch, ++batch_n};
        if (r53_gk_encode(first, &k, v, sizeof(v)) == -1) {
            /* the group does not fit in one TXT value: the epoch alone (a
             * later leader judges drift as without the knowledge) */
            r53s.guard_dropped_total++;
            log_msg(LOG_WARNING, "msg=\"route53 guard: the group's weights do not fit in its value; epoch only\" "
                    "regions=%zu limit=%d", k.n, R53_GK_VALUE_MAX);
            snprintf(v, sizeof(v), "\"%s\"", first);
        } else {
            r53s.guard_new_seq = k.seq;
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

const char *r53_guard_self(void)
{
    const cfg_cluster_t *k = &r53s.cfg->cluster;
    return k->enabled && k->instance_id ? k->instance_id : r53s.cfg->controller.id;
}

void r53_guard_holder(const r53_rrset_t *g, char *out, size_t len)
{
    const char *v = g->n_values == 1 && !g->alias ? g->values[0] : NULL, *p = v, *got = NULL;
    size_t n = 0, found = 0;
    out[0] = '\0';
    while (v && (p = strstr(p, "holder=")) != NULL) {
        bool starts = p > v && (p[-1] == '"' || p[-1] == ' ');
        p += 7;
        if (starts) {
            got = p;
            n = strcspn(p, "\" ");
            found++;
        }
    }
    if (found != 1 || n == 0 || n >= len)
        return;
    for (size_t i = 0; i < n; i++)
        out[i] = got[i] > 0x20 && got[i] < 0x7f && got[i] != '\\' ? got[i] : '?';
    out[n] = '\0';
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

r53_gk_seq_t r53_guard_live_seq(void)
{
    static r53_gk_t k;
    if (!r53s.have_guard || r53s.guard_bad || r53s.guard_live.n_values != 1 ||
        r53_gk_parse(r53s.guard_live.values[0], &k) == -1)
        return (r53_gk_seq_t){0, 0};
    return k.seq;
}

bool r53_guard_lost(r53_gk_seq_t *lo, r53_gk_seq_t *hi)
{
    /* every batch of the range was built against the guard before its low
     * end: once a guard at or beyond the low end is live, that guard is
     * gone and none of them can land (known defect 32: cleared only at the
     * top, a guard adopted inside the range kept it, and the next leader
     * judged that guard as the in-flight one) */
    if (r53s.lost_hi.epoch && r53_gk_seq_cmp(r53_guard_live_seq(), r53s.lost_lo) >= 0)
        r53s.lost_lo = r53s.lost_hi = (r53_gk_seq_t){0, 0};
    *lo = r53s.lost_lo;
    *hi = r53s.lost_hi;
    return r53s.lost_hi.epoch != 0;
}

void r53_guard_lose(void)
{
    r53_gk_seq_t lo, hi, q = r53s.guard_new_seq;
    if (!r53s.guard_new.name[0] || !q.epoch || r53_gk_seq_cmp(r53_guard_live_seq(), q) >= 0)
        return;   /* no numbered batch in flight, or it landed */
    if (!r53_guard_lost(&lo, &hi))
        r53s.lost_lo = q;
    r53s.lost_hi = q;
}

static bool r53_seq_in(r53_gk_seq_t q, r53_gk_seq_t lo, r53_gk_seq_t hi)
{
    return hi.epoch && r53_gk_seq_cmp(q, lo) >= 0 && r53_gk_seq_cmp(q, hi) <= 0;
}

/* Which of the two is the newer record of regiond's own batches. */
static r53_ref_t r53_ref_pick(const r53_gk_t *k, const char *rest, const r53_saved_guard_t *sv)
{
    if (!sv)
        return R53_REF_GUARD;   /* nothing saved */
    if (k->seq.epoch && sv->numbered) {
        /* the batch in flight, or one judged not landed that landed late:
         * built before the document, whose flags are newer (defects 20, 29) */
        if (r53_gk_seq_cmp(k->seq, sv->inflight) == 0 || r53_seq_in(k->seq, sv->lost_lo, sv->lost_hi))
            return R53_REF_INFLIGHT;
        return r53_gk_seq_cmp(k->seq, sv->seq) > 0 ? R53_REF_GUARD : R53_REF_SAVED;
    }
    log_msg(LOG_NOTICE, "msg=\"route53: the %s carries no batch number (written by an older regiond): the guard "
            "and the saved state matched by their text\" epoch=%" PRIu64, k->seq.epoch ? "saved state" : "guard",
            r53s.epoch);
    return strcmp(sv->rest, rest) == 0 ? R53_REF_SAVED : R53_REF_GUARD;
}

r53_ref_t r53_guard_reference(long exp[][R53_SLOTS], bool *drift, const r53_saved_guard_t *saved)
{
    const size_t *at;
    const r53_gk_t *k = r53_guard_known(&at);
    const char *rest = k ? r53_guard_rest(r53s.guard_live.values[0]) : NULL;
    if (!rest)
        return R53_REF_SAVED;   /* no knowledge of the group */
    r53_ref_t ref = r53_ref_pick(k, rest, saved);
    if (ref == R53_REF_SAVED)
        return ref;   /* the saved document was written after the guard's batch */
    for (size_t i = 0; i < r53s.n; i++) {
        const r53_gk_entry_t *e = &k->e[at[i]];
        for (int s = 0; s < R53_SLOTS; s++)
            exp[i][s] = e->w[s];
        if (ref == R53_REF_GUARD)
            drift[i] = e->drift;
    }
    char qs[48] = "none";
    if (k->seq.epoch)
        r53_gk_seq_fmt(k->seq, qs, sizeof(qs));
    log_msg(LOG_NOTICE, "msg=\"route53: drift judged against the guard's weights (%s)\" epoch=%" PRIu64
            " guard_epoch=%" PRIu64 " guard_seq=%s", ref == R53_REF_GUARD ? "newer than the saved state"
            : "the saved state's batch in flight landed; the saved state's drift flags", r53s.epoch,
            r53s.guard_epoch, qs);
    return ref;
}
