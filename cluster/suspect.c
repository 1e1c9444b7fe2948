/* suspect — this observer's own view suspect or not (suspect.h). */
#include "cluster/suspect.h"

#include <stdio.h>
#include <string.h>

#include "config/utf8.h"

#define DETAIL_MAX 120   /* bytes of an error or shortage detail kept in the reason */

static const char *const cause_names[SUSPECT_CAUSE_N] = { "regions", "tables", "resources" };

const char *suspect_cause_str(suspect_cause_t c)
{
    return (unsigned)c < SUSPECT_CAUSE_N ? cause_names[c] : "invalid";
}

bool suspect_region_failing(const suspect_region_t *r, uint64_t now)
{
    if (!r->last_fail_ms || r->last_fail_ms > now || now - r->last_fail_ms > r->window_ms)
        return false;   /* no failure within the window */
    return !r->last_ok_ms || (r->last_ok_ms < now && now - r->last_ok_ms > r->window_ms);
}

bool suspect_down_vouched(const suspect_region_t *regions, size_t n, size_t i)
{
    if (n <= 1 || i >= n)
        return true;
    for (size_t j = 0; j < n; j++)
        if (regions[j].last_ok_ms > regions[i].fail_since_ms)
            return true;
    return false;
}

/* Text cut to at most max bytes, made UTF-8 and without control characters. */
static void clean(char *dst, size_t cap, const char *src, size_t max)
{
    size_t n = strlen(src ? src : "");
    if (n > max)
        n = max;
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
    utf8_scrub(dst);
    for (char *p = dst; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
}

static unsigned causes_now(const suspect_cfg_t *c, const suspect_in_t *in, uint64_t now, size_t *failing)
{
    unsigned m = 0;
    *failing = 0;
    for (size_t i = 0; i < in->n_regions; i++)
        *failing += suspect_region_failing(&in->regions[i], now);
    if (in->n_regions > 1 && *failing == in->n_regions)
        m |= 1u << SUSPECT_REGIONS;
    if (in->tables_quiet_ms > c->tables_ms)
        m |= 1u << SUSPECT_TABLES;
    if (in->shortage)
        m |= 1u << SUSPECT_RESOURCES;
    return m;
}

static void add(char *out, size_t *off, const char *text)
{
    if (*off < SUSPECT_REASON_MAX)
        *off += (size_t)snprintf(out + *off, SUSPECT_REASON_MAX + 1 - *off, "%s%s", *off ? "; " : "", text);
    if (*off > SUSPECT_REASON_MAX)
        *off = SUSPECT_REASON_MAX;
}

static void reason_of(const suspect_cfg_t *c, const suspect_in_t *in, unsigned m, size_t failing, char *out)
{
    char part[SUSPECT_REASON_MAX + 1], d[DETAIL_MAX + 1];
    size_t off = 0;
    out[0] = '\0';
    if (m & (1u << SUSPECT_REGIONS)) {
        snprintf(part, sizeof(part), "every region failing at once (%zu of %zu)", failing, in->n_regions);
        add(out, &off, part);
    }
    if (m & (1u << SUSPECT_TABLES)) {
        clean(d, sizeof(d), in->tables_error, DETAIL_MAX);
        snprintf(part, sizeof(part), "cannot reach the coordination tables (no majority answer for over %u ms%s%s)",
                 c->tables_ms, d[0] ? ": " : "", d);
        add(out, &off, part);
    }
    if (m & (1u << SUSPECT_RESOURCES)) {
        clean(d, sizeof(d), in->shortage_detail, DETAIL_MAX);
        snprintf(part, sizeof(part), "local resource shortage%s%s", d[0] ? ": " : "", d);
        add(out, &off, part);
    }
    utf8_scrub(out);   /* a cut inside a multi-byte character */
}

bool suspect_step(const suspect_cfg_t *c, suspect_t *s, const suspect_in_t *in, uint64_t now)
{
    size_t failing;
    unsigned m = causes_now(c, in, now, &failing);
    bool was = s->suspect;
    unsigned before = s->causes;
    s->causes = m;
    if (m) {
        if (!s->suspect)
            s->since_ms = now;
        s->suspect = true;
        s->clearing = false;
        reason_of(c, in, m, failing, s->reason);
    } else if (s->suspect && !s->clearing) {
        char held[SUSPECT_REASON_MAX + 64];
        snprintf(held, sizeof(held), "cleared, held %u ms: %s", c->hold_ms, s->reason);
        s->clearing = true;
        s->cleared_ms = now;
        clean(s->reason, sizeof(s->reason), held, SUSPECT_REASON_MAX);
    } else if (s->suspect && now >= s->cleared_ms && now - s->cleared_ms >= c->hold_ms) {
        s->suspect = false;
        s->clearing = false;
        s->reason[0] = '\0';
    }
    return was != s->suspect || before != m;
}
