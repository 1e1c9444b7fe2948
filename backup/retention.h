/* retention — which DynamoDB on-demand backups to delete.  Pure: no I/O,
 * no globals, no allocation; the caller lists the backups
 * (ListBackups, BackupSummaries) and deletes what the plan says.
 *
 * A backup is in the POLICY SET when it is ours (its ARN was recorded by
 * this schedule in state_dir, under exactly this name) AND its name starts
 * with the policy's name_prefix (or it is ours and adopted: recorded before
 * names carried the schedule id, claimed by its exact name).
 * Only backups of the policy set may ever be deleted.  The rules, first
 * that applies wins, each with its reason text:
 *   1. not ours                      "kept: not created by regiond"
 *   2. name without the prefix       "kept: name does not start with \"<prefix>\""
 *      (also: NULL or empty prefix   "kept: policy has no name_prefix")
 *   3. status CREATING               "kept: still CREATING"
 *      status DELETED                "kept: already DELETED"
 *      any other status              "kept: not AVAILABLE"
 *   4. the newest AVAILABLE backup of the policy set, and the newest
 *      AVAILABLE backup of the whole list (checked too, as a guard)
 *                                    "kept: newest AVAILABLE backup"
 *   5. keep_last and keep_days both 0 "kept: no retention policy"
 *   6. among the newest keep_last AVAILABLE backups of the policy set
 *                                    "kept: newest 3"
 *   7. created less than keep_days * 86400 s before now (or in the future)
 *                                    "kept: younger than 7 days"
 *   8. otherwise deleted: "delete: older than 7 days and not among the
 *      newest 3" (or only the half whose policy is set).
 * So a backup is kept when EITHER keep rule (6, 7) holds: the union.  Rule
 * 4 guards against a policy deleting the last usable restore point; the
 * newest is counted among our own backups, since a foreign backup may be
 * deleted by its owner at any time (and foreign ones are kept by rule 1).
 *
 * "Newest" orders by created_s, then, on equal created_s, by ARN: the
 * greater ARN (strcmp; NULL as "") counts as newer.  O(n^2) comparisons:
 * meant for the backups of one table (hundreds, not millions). */
#ifndef REGIOND_RETENTION_H
#define REGIOND_RETENTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RET_REASON_SIZE 128

/* DynamoDB BackupStatus (BackupSummary.BackupStatus in the API reference). */
enum { RET_CREATING = 0, RET_AVAILABLE, RET_DELETED, RET_OTHER };

/* "CREATING", "AVAILABLE", "DELETED"; "OTHER" for any other value. */
const char *ret_status_str(int status);

/* The status named by DynamoDB's BackupStatus text (exact, upper case);
 * RET_OTHER for anything else or NULL. */
int ret_status_parse(const char *s);

/* BackupCreationDateTime (a JSON number, epoch seconds) as whole seconds,
 * truncated; 0 (as for a missing value) when it is not finite or outside
 * int64_t, which a plain cast would make undefined behaviour. */
int64_t ret_epoch_s(double v);

/* One backup as listed; strings borrowed from the caller. */
typedef struct {
    const char *arn;
    const char *name;
    int64_t created_s;   /* BackupCreationDateTime, epoch seconds */
    int status;          /* RET_CREATING, RET_AVAILABLE, RET_DELETED, RET_OTHER */
    bool ours;           /* ARN recorded by this schedule in state_dir, under exactly this name */
    bool adopted;        /* recorded before names carried the schedule id: in the set without the prefix */
} ret_backup_t;

typedef struct {
    uint32_t keep_last;        /* 0 = not used */
    uint32_t keep_days;        /* 0 = not used */
    const char *name_prefix;   /* e.g. "regiond-orders-" */
} ret_policy_t;

/* Plan deletions for the n backups b (any order) at wall-clock now_s:
 * del[i] true when b[i] should be deleted, reasons[i] why (may be NULL).
 * Returns the number to delete; 0 when n is 0, or p is NULL (all kept,
 * "kept: no retention policy"). */
size_t retention_plan(const ret_policy_t *p, const ret_backup_t *b, size_t n, int64_t now_s,
                      bool *del, char reasons[][RET_REASON_SIZE]);

#endif
