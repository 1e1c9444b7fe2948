/* backup — DynamoDB on-demand backups on cron schedules (UTC), followed to
 * AVAILABLE, with retention that deletes only what regiond made; and point-
 * in-time recovery kept on (pitr.c).  An actuator: it acts on the config and
 * on operators, never on probe results.
 *
 * Safety: a schedule deletes a backup only when that schedule recorded its
 * ARN and exact name in state_dir/backups.json when it created it AND the
 * name starts with the schedule's prefix (the template up to "{schedule}.":
 * the sanitised schedule id and the fixed delimiter); never the newest
 * AVAILABLE backup; never one still CREATING.  CreateBackup is never
 * retried once it may have been applied: the run looks its backup up by
 * exact name (backup_state.c holds the records and the names).  Each schedule's last
 * run is persisted before the backup is started: after downtime a missed
 * run happens once at start-up, never as a burst. */
#ifndef REGIOND_BACKUP_H
#define REGIOND_BACKUP_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>

#include "config/cfg.h"

int backup_init(const cfg_t *cfg);

/* The daemon's gate (several controllers: only the leader acts): when set
 * and false, no scheduled run starts, "backup now" is refused and a run
 * whose record was written does not send its CreateBackup.  A schedule
 * time that passes while the gate is shut is run once when it opens
 * (docs/ha.md).  NULL: always open. */
typedef bool (*backup_gate_fn)(void);
void backup_set_gate(backup_gate_fn gate);

/* Several controllers (backup_replica.c, docs/ha.md): fn is called when
 * the schedules' records change; the records as the "backups" member of
 * the replicated state (NULL out of memory), its checks (0, or -1 with
 * why); a new leader adds o's records of its configured schedules to its
 * own, so its retention prunes what the last leader's schedule made. */
void backup_set_changed(void (*fn)(void));
cJSON *backup_replica_json(void);
int backup_replica_check(const cJSON *o, char *why, size_t len);
void backup_replica_take(const cJSON *o);
void pitr_set_gate(backup_gate_fn gate);
void backup_configure(const cfg_t *cfg);
void backup_fini(void);

/* Run every schedule of `table` now (all its regions); returns how many
 * backups were started, -1 when the table has no schedule. */
int backup_run_now(const char *table, char *msg, size_t msglen);

cJSON *backup_status_json(void);
void backup_metrics(struct evbuffer *b);

/* Point-in-time recovery (pitr.c). */
int pitr_init(const cfg_t *cfg);
void pitr_configure(const cfg_t *cfg);
void pitr_fini(void);
cJSON *pitr_status_json(void);
void pitr_metrics(struct evbuffer *b);

#endif
