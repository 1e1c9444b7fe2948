/* views' state, shared by views.c (publish, read) and views_show.c (status,
 * metrics).  Only views*.c include this. */
#ifndef REGIOND_VIEWS_INT_H
#define REGIOND_VIEWS_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "cluster/replica.h"
#include "cluster/view_pick.h"
#include "cluster/views.h"

/* What the feed last said of an observer's freshness (vw_feed). */
typedef enum { VW_SAID_NOTHING = 0, VW_SAID_FRESH, VW_SAID_SILENT } vw_said_t;

typedef struct {
    char id[65];
    replica_obj_t *obj;
    bool self;
    bool have;              /* a decoded view held (the last good one) */
    view_t *view;
    uint64_t epoch, seq;    /* of the view held */
    uint64_t changed_ms;    /* reader's monotonic ms when the view's (epoch, seq) last changed */
    char refused[300];      /* why the last item read was refused; "" none */
    char read_error[512];   /* the last read's error when it had no majority; "" none */
    char ignored[600];      /* the tables' items of it ignored at the last read (bad, or a doc that did not
                             * decode beside one that did), "table: why; ..."; "" none */
    size_t n_ignored;
    uint32_t bad_mask;      /* bit i: table i held a bad item of it at the last read */
    /* the fail drills each table's item names (items that decode), for views_drill_agreed() */
    size_t n_tdrills[CFG_MAX_LEASE_TABLES];
    view_drill_t tdrills[CFG_MAX_LEASE_TABLES][VIEW_MAX_DRILLS];
    vw_said_t said;         /* freshness last said on the feed */
    bool said_suspect;      /* suspect last said on the feed */
    /* a rename (cluster.former_name, known defect 30): the item under the
     * former name too, read (and ours written) beside the name's; each
     * key's highest valid (epoch, seq) last read: the view (and its tables'
     * drills) held is the one of the key whose item changed last */
    replica_obj_t *fobj;
    bool key_have[2];
    uint64_t key_epoch[2], key_seq[2];
} vw_obs_t;

typedef struct {
    bool on;
    views_local_fn local;
    char self_id[65];
    char name[256];
    char former[256];       /* cluster.former_name, "" none */
    unsigned learn_mask;    /* our item's keys read for the incarnation (1 the name's, 2 the former's) */
    uint64_t learn_max;     /* the epoch learnt from them (view_pick_learn), the highest */
    uint64_t learn_seq;     /* the seq to go on from with learn_max (above an item at 2^53: defect 35) */
    bool learn_limit;       /* one of them held an item at the epoch limit */
    uint32_t k, publish_ms, silent_ms;
    vw_obs_t obs[CFG_MAX_OBSERVERS];
    size_t n, self;
    struct event *tick, *poll;
    uint64_t start_ms;
    size_t n_tables;
    char labels[CFG_MAX_LEASE_TABLES][330];   /* "region/table" */
    uint32_t stuck_mask;    /* tables holding a bad item of ours as last read (kept while a table does not
                             * answer): our writes go over it (views_own.c) */
    uint32_t fstuck_mask;   /* the same for our item under the former name */
    char stuck_why[2][CFG_MAX_LEASE_TABLES][120];   /* each key's bad item of ours per table: why (defect 38) */
    uint32_t unreplaced[2]; /* each key's tables that refused even the write over a bad item (said once) */
    uint32_t unwhole[2];    /* each key's tables whose bad item of ours can refuse that write (view_item_t) */
    uint64_t saved_epoch;   /* the highest epoch of ours saved in state_dir (views_own.c): learnt above */
    bool incarnation;       /* epoch known: writes may go */
    uint64_t epoch, seq;    /* our item's incarnation and last seq queued */
    uint64_t states_sig;    /* the region states last written */
    view_t *scratch;
    uint64_t sent, ok, failed;
    char write_error[512];
    /* the tables' answers (a majority answered), for views_tables_quiet_ms() */
    uint64_t write_answer_ms, read_answer_ms;
    char tables_error[512]; /* the last read's or write's error; "" none */
    /* this instance's own verdict, as its last local view had it (the
     * tables may hold an older one, or none while it is cut off) */
    bool mine_suspect;
    char mine_reason[VIEW_SUSPECT_REASON_MAX + 1];
} vw_t;

extern vw_t vw;

/* The reader's age of observer o's view (ms), UINT64_MAX when none held. */
uint64_t vw_age(const vw_obs_t *o, uint64_t now);
bool vw_fresh(const vw_obs_t *o, uint64_t now);
/* Events observer_silent and observer_suspect for every observer whose
 * freshness or suspect flag changed since last said (views_show.c). */
void vw_feed(uint64_t now);

/* Our own item (views_own.c, known defect 38).  A read of key (0 the
 * name's, 1 the former name's) whose answers reached a majority: the tables
 * holding a bad item of ours (replaced by our next write), said when that
 * grows. */
void vw_own_read(const view_item_t *items, int key);
/* A write of ours ended: the bad items it replaced said (what they were),
 * and the tables that refused even that.  The tables whose refusal is no
 * sign of a newer item of ours (no re-learn for them): a bad item read
 * after the write was queued (the next one goes over it), or one the write
 * over it cannot replace (view_item_t.unwhole). */
uint32_t vw_own_written(const replica_result_t *r, int key);
/* The epoch this instance last wrote under, as saved in state_dir
 * (VW_EPOCH_FILE), read once, at start before the loop runs (views_init;
 * a blocking read): never again, a reload keeps vw.saved_epoch, which only
 * grows.  vw_own_start_epoch(): what that read gave, 0 when none; a file
 * that did not read is logged at the first call (when the views first
 * start, as if read then) and rewritten by the next save. */
#define VW_EPOCH_FILE "view-epoch.json"
void vw_own_load_epoch(void);
uint64_t vw_own_start_epoch(void);
/* Save vw.epoch before our first write under it, when above the saved one
 * (written atomically by the state writer; a failure raises its
 * "state-write" alarm, the writes go on). */
void vw_own_save_epoch(void);

#endif
