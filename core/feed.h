/* feed — the one append-only ring of events.  Every state transition,
 * config load and daemon fact becomes an event with an id that grows
 * monotonically across restarts (ids are reserved in blocks in state_dir).
 * /v1/events streams them as server-sent events; Last-Event-ID resumes from
 * the ring.  Status, metrics and logs are views of the same facts. */
#ifndef REGIOND_FEED_H
#define REGIOND_FEED_H

#include <stdint.h>

#include <cjson/cJSON.h>
#include <event2/http.h>

/* Set up a ring of `capacity` events; reads/reserves ids in state_dir.
 * 0 or -1 with err. */
int feed_init(uint32_t capacity, char *err, size_t errlen);

/* Emit an event of `type`; `data` (an object, taken over, may be NULL) gets
 * "id", "time" and "type" added.  Also logged.  Returns the id (0 on OOM). */
uint64_t feed_emit(const char *type, cJSON *data);

/* One consumer of every event as it is emitted (the drill timelines). */
typedef void (*feed_listener_fn)(uint64_t id, const char *type, const char *json);
void feed_set_listener(feed_listener_fn fn);

/* Newest id (0 when none yet this run). */
uint64_t feed_last_id(void);

/* Oldest id still in the ring (0 when empty). */
uint64_t feed_first_id(void);

/* Total events emitted in this run. */
uint64_t feed_count(void);

/* May one more SSE client attach?  0 yes; 1 no, max_stream_clients are
 * attached; 2 no, stream_memory_bytes would be exceeded. */
int feed_sse_admit(void);

/* Caps of the event streams (api.c, from the config). */
void feed_set_caps(unsigned max_clients, size_t client_bytes, size_t total_bytes);

typedef struct {
    unsigned clients, max_clients;
    size_t client_bytes, total_bytes;   /* caps: per client and all together */
    size_t queued_bytes;                /* queued now, all clients */
    uint64_t gaps_total;                /* clients that fell behind the ring */
} feed_stream_stats_t;

void feed_stream_stats(feed_stream_stats_t *s);

/* Serve an SSE client: sends events after last_id still in the ring (or a
 * "gap" event when some were lost), then every new one.  The request is
 * owned by the feed from now on. */
void feed_sse_attach(struct evhttp_request *req, uint64_t last_id);

/* Called with a stream's connection when it closes (the connection's close
 * callback belongs to the feed while it streams). */
typedef void (*feed_close_hook_fn)(struct evhttp_connection *conn);
void feed_set_close_hook(feed_close_hook_fn fn);

/* Number of connected SSE clients. */
unsigned feed_sse_clients(void);

/* Resize the ring (reload), keeping the newest events. */
int feed_resize(uint32_t capacity);

/* Close every SSE stream and free the ring. */
void feed_fini(void);

#endif
