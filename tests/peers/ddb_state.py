"""State of the strict DynamoDB peer shared by its regional fronts, its
replicator and its control API: credentials, injected faults, statistics, the
peer's clock, global tables and their replica states, forced table states,
on-demand backups and point-in-time recovery.  Thread-safe (one lock)."""
import re
import secrets
import threading
import time

from ddb_model import NS_DDB, DdbError, enum_of, validation
from sigv4_check import static_credentials

ACCOUNT = "123456789012"
FAULT_KINDS = ("throttle", "limit", "pte", "error5xx", "drop", "slow", "garbage", "truncated", "huge", "deny",
               "drop_after")
TABLE_STATUSES = enum_of("TableStatus")
REPLICA_STATUSES = enum_of("ReplicaStatus")
BACKUP_TYPES = enum_of("BackupType")
BACKUP_STATUSES = enum_of("BackupStatus")
ARN_RE = re.compile(r"arn:aws:dynamodb:([a-z0-9-]+):(\d{12}):table/([a-zA-Z0-9_.-]{3,255})/backup/(\d{14})-([0-9a-f]{8})\Z")
DAY = 86400


def backup_not_found(arn):
    return DdbError(400, NS_DDB + "BackupNotFoundException", f"Backup not found: {arn}")


def table_not_found(table):
    return DdbError(400, NS_DDB + "TableNotFoundException", f"Table not found: {table}")


class State:
    def __init__(self, regions, backup_ms=1500, pitr_on=False, pitr_latest_lag_s=300.0, replicas_include_self=False):
        self.lock = threading.Lock()
        self.regions = list(regions)
        self.backup_ms = backup_ms
        self.pitr_default_on = pitr_on
        self.pitr_latest_lag_s = pitr_latest_lag_s
        self.replicas_include_self = replicas_include_self
        self.clock_offset_s = 0.0
        self.static_creds = {}
        self.faults = {r: {k: 0 for k in FAULT_KINDS} for r in self.regions}
        self.fault_ops = {r: {k: None for k in FAULT_KINDS} for r in self.regions}
        self.fault_keys = {r: {k: None for k in FAULT_KINDS} for r in self.regions}
        self.fault_items = {r: {k: None for k in FAULT_KINDS} for r in self.regions}
        self.slow_ms = {r: 0 for r in self.regions}
        self.global_tables = {}        # name -> {"regions": [...], "spec": {...}}
        self.replica_state = {}        # (table, region) -> {"status", "inaccessible_since", "description", "present"}
        self.table_status = {}         # (region, table) -> forced TableStatus
        self.backups = {}              # arn -> record
        self.pitr = {}                 # (region, table) -> {"enabled", "period", "enabled_at"}
        self.started = self.now()
        self.reset_stats()

    # ------------------------------------------------ clock
    def now(self):
        """The peer's wall clock (epoch seconds), shifted by /_peer/clock."""
        return time.time() + self.clock_offset_s

    # ------------------------------------------------ statistics
    def reset_stats(self):
        with self.lock:
            self.requests = []
            self.counts = {r: {"requests": 0, "rejected_signatures": 0, "faults": 0, "by_op": {}, "by_status": {}}
                           for r in self.regions}

    def record(self, entry):
        # Every entry has the documented keys, None when the request never got
        # that far (a dropped or unparsable request has no op or status).
        for k in ("t", "region", "op", "status", "key"):
            entry.setdefault(k, None)
        with self.lock:
            self.requests.append(entry)
            del self.requests[:-100000]
            c = self.counts.get(entry.get("region"))
            if c is None:
                return
            c["requests"] += 1
            if entry.get("auth_error"):
                c["rejected_signatures"] += 1
            if entry.get("fault"):
                c["faults"] += 1
            op = entry.get("op") or "?"
            c["by_op"][op] = c["by_op"].get(op, 0) + 1
            st = str(entry.get("status"))
            c["by_status"][st] = c["by_status"].get(st, 0) + 1

    def stats(self):
        with self.lock:
            return {"requests": [dict(r) for r in self.requests],
                    "regions": {r: {**c, "by_op": dict(c["by_op"]), "by_status": dict(c["by_status"])}
                                for r, c in self.counts.items()},
                    "faults_pending": {r: {k: v for k, v in f.items() if v} for r, f in self.faults.items()}}

    # ------------------------------------------------ credentials
    def set_static(self, items):
        if not isinstance(items, list):
            raise ValueError("credentials: a JSON list of {access_key, secret_key, token?}")
        creds = static_credentials(items)
        with self.lock:
            self.static_creds = creds

    def lookup(self, akid):
        with self.lock:
            c = self.static_creds.get(akid)
            return dict(c) if c else None

    # ------------------------------------------------ faults
    def _fault_regions(self, region):
        if region in (None, "*"):
            return list(self.regions)
        if region not in self.regions:
            raise ValueError(f"unknown region {region!r}; the peer serves {', '.join(self.regions)}")
        return [region]

    def inject(self, spec):
        if not isinstance(spec, dict):
            raise ValueError("inject takes a JSON object")
        regions = self._fault_regions(spec.get("region"))
        ops = spec.get("ops")
        if ops is not None and (not isinstance(ops, list) or not all(isinstance(o, str) for o in ops)):
            raise ValueError("ops must be a list of operation names")
        keys = spec.get("keys")
        if keys is not None and (not isinstance(keys, list) or not keys or
                                 not all(isinstance(k, str) and k for k in keys)):
            raise ValueError("keys must be a non-empty list of access key ids")
        items = spec.get("items")
        if items is not None and (not isinstance(items, list) or not all(isinstance(o, str) for o in items)):
            raise ValueError("items must be a list of key values (strings)")
        for k, v in spec.items():
            if k in ("ops", "keys", "items", "region", "slow_ms"):
                continue
            if k not in FAULT_KINDS:
                raise ValueError(f"unknown fault {k!r}; known: {', '.join(FAULT_KINDS)}, slow_ms, region, ops, keys, "
                                 f"items")
            if not isinstance(v, int) or isinstance(v, bool) or v < -1:
                raise ValueError(f"{k} must be a count >= 0, or -1 for every request until cleared")
        if "slow_ms" in spec and (not isinstance(spec["slow_ms"], int) or spec["slow_ms"] < 0):
            raise ValueError("slow_ms must be an integer >= 0")
        with self.lock:
            for r in regions:
                for k, v in spec.items():
                    if k in FAULT_KINDS:
                        self.faults[r][k] = v
                        self.fault_ops[r][k] = set(ops) if ops else None
                        self.fault_keys[r][k] = set(keys) if keys else None
                        self.fault_items[r][k] = set(items) if items else None
                if "slow_ms" in spec:
                    self.slow_ms[r] = spec["slow_ms"]

    def clear_faults(self, region=None):
        regions = self._fault_regions(region)
        with self.lock:
            for r in regions:
                for k in FAULT_KINDS:
                    self.faults[r][k] = 0
                    self.fault_ops[r][k] = None
                    self.fault_keys[r][k] = None
                    self.fault_items[r][k] = None

    def take_fault(self, region, kind, op, key=None, items=()):
        """Consume one pending fault of this kind for op in region (and, when the fault was scoped to
        access keys, for a request signed with one of them; when scoped to items, for a single-item
        request whose key has one of those String values); True if taken."""
        with self.lock:
            n = self.faults[region][kind]
            ops = self.fault_ops[region][kind]
            keys = self.fault_keys[region][kind]
            only = self.fault_items[region][kind]
            if n != 0 and (ops is None or op in ops) and (keys is None or key in keys) and \
                    (only is None or only & set(items)):
                if n > 0:
                    self.faults[region][kind] = n - 1
                return True
            return False

    def faults_view(self):
        with self.lock:
            return {r: {"counts": dict(self.faults[r]),
                        "ops": {k: sorted(v) for k, v in self.fault_ops[r].items() if v},
                        "keys": {k: sorted(v) for k, v in self.fault_keys[r].items() if v},
                        "slow_ms": self.slow_ms[r]} for r in self.regions}

    # ------------------------------------------------ global tables and replicas
    def add_global_table(self, name, spec, regions=None):
        with self.lock:
            self.global_tables[name] = {"regions": list(regions or self.regions), "spec": spec}
            for r in self.global_tables[name]["regions"]:
                self.replica_state.setdefault((name, r), {"status": "ACTIVE", "inaccessible_since": None,
                                                          "description": None, "percent": None,
                                                          "present": True})

    def is_global(self, name):
        with self.lock:
            return name in self.global_tables

    def global_regions(self, name):
        with self.lock:
            g = self.global_tables.get(name)
            return list(g["regions"]) if g else []

    def set_replica(self, arg):
        region = arg.get("region")
        if region not in self.regions:
            raise ValueError(f"replicas: unknown region {region!r}")
        status = arg.get("status", "ACTIVE")
        if status not in REPLICA_STATUSES:
            raise ValueError(f"replicas: status must be one of {', '.join(REPLICA_STATUSES)}")
        since = arg.get("inaccessible_since")
        if since is not None and (isinstance(since, bool) or not isinstance(since, (int, float))):
            raise ValueError("replicas: inaccessible_since is epoch seconds")
        with self.lock:
            tables = [arg["table"]] if arg.get("table") else list(self.global_tables)
            for t in tables:
                if t not in self.global_tables:
                    raise ValueError(f"replicas: {t!r} is not a global table")
            for t in tables:
                rs = self.replica_state.setdefault((t, region), {})
                if status in ("INACCESSIBLE_ENCRYPTION_CREDENTIALS", "REGION_DISABLED") and since is None:
                    since = self.now()
                rs.update({"status": status,
                           "inaccessible_since": since if status in ("INACCESSIBLE_ENCRYPTION_CREDENTIALS",
                                                                     "REGION_DISABLED") else None,
                           "description": arg.get("description"), "percent": arg.get("percent"),
                           "present": bool(arg.get("present", True))})
            return {f"{t}/{r}": dict(v) for (t, r), v in self.replica_state.items()}

    def replicas_for(self, table, asking_region):
        """ReplicaDescription list for DescribeTable in asking_region."""
        with self.lock:
            g = self.global_tables.get(table)
            if not g:
                return None
            out = []
            for r in g["regions"]:
                if r == asking_region and not self.replicas_include_self:
                    continue
                rs = self.replica_state.get((table, r), {})
                if not rs.get("present", True):
                    continue
                d = {"RegionName": r, "ReplicaStatus": rs.get("status", "ACTIVE")}
                if rs.get("description"):
                    d["ReplicaStatusDescription"] = str(rs["description"])
                if rs.get("percent") is not None:
                    d["ReplicaStatusPercentProgress"] = str(rs["percent"])
                if rs.get("inaccessible_since") is not None:
                    d["ReplicaInaccessibleDateTime"] = round(float(rs["inaccessible_since"]), 3)
                out.append(d)
            return out

    def set_table_status(self, region, table, status):
        if region not in self.regions:
            raise ValueError(f"table-status: unknown region {region!r}")
        if status is not None and status not in TABLE_STATUSES:
            raise ValueError(f"table-status: status must be null or one of {', '.join(TABLE_STATUSES)}")
        with self.lock:
            tables = [table] if table else list(self.global_tables)
            for t in tables:
                if status is None:
                    self.table_status.pop((region, t), None)
                else:
                    self.table_status[(region, t)] = status
            return self.table_status_view()

    def forced_table_status(self, region, table):
        with self.lock:
            return self.table_status.get((region, table))

    def table_status_view(self):
        return [{"region": r, "table": t, "status": s} for (r, t), s in sorted(self.table_status.items())]

    # ------------------------------------------------ backups
    def new_backup(self, region, table, name, source, btype="USER", created_at=None, status=None, size=None,
                   origin="api"):
        if btype not in BACKUP_TYPES:
            raise ValueError(f"backup type must be one of {', '.join(BACKUP_TYPES)}")
        if status is not None and status not in ("CREATING", "AVAILABLE"):
            raise ValueError("backup status must be CREATING or AVAILABLE")
        created = self.now() if created_at is None else float(created_at)
        created = round(created, 3)
        arn = f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{table}/backup/{int(created * 1000):014d}-" \
              f"{secrets.token_hex(4)}"
        mono = time.monotonic()
        with self.lock:
            ready = mono + (self.backup_ms / 1000.0 if status != "AVAILABLE" else 0.0)
            rec = {"arn": arn, "region": region, "table": table, "name": name, "type": btype, "created": created,
                   "ready_mono": ready, "hold": status == "CREATING" and origin == "control", "size": size,
                   "source": source, "origin": origin}
            self.backups[arn] = rec
            return dict(rec)

    def backup_status(self, rec):
        if rec.get("hold"):
            return "CREATING"
        return "AVAILABLE" if time.monotonic() >= rec["ready_mono"] else "CREATING"

    def update_backup(self, arg):
        with self.lock:
            rec = self.backups.get(arg.get("arn"))
            if rec is None:
                raise ValueError(f"no backup {arg.get('arn')!r}")
            if arg.get("remove") is True:       # gone, whatever its status (removed behind regiond's back)
                del self.backups[rec["arn"]]
                return dict(rec)
            if "created_at" in arg:
                rec["created"] = round(float(arg["created_at"]), 3)
            if "status" in arg:
                if arg["status"] == "CREATING":
                    rec["hold"] = True
                elif arg["status"] == "AVAILABLE":
                    rec["hold"], rec["ready_mono"] = False, 0.0
                else:
                    raise ValueError("status must be CREATING or AVAILABLE")
            if "size_bytes" in arg:
                rec["size"] = int(arg["size_bytes"])
            return dict(rec)

    def details(self, rec, deleted=False):
        d = {"BackupArn": rec["arn"], "BackupName": rec["name"],
             "BackupStatus": "DELETED" if deleted else self.backup_status(rec),
             "BackupType": rec["type"], "BackupCreationDateTime": rec["created"]}
        if rec.get("size") is not None:
            d["BackupSizeBytes"] = rec["size"]
        if rec["type"] == "SYSTEM":
            d["BackupExpiryDateTime"] = round(rec["created"] + 35 * DAY, 3)
        return d

    def summary(self, rec):
        src = rec.get("source") or {}
        s = {"TableName": rec["table"]}
        if src.get("TableId"):
            s["TableId"] = src["TableId"]
        s["TableArn"] = src.get("TableArn") or f"arn:aws:dynamodb:{rec['region']}:{ACCOUNT}:table/{rec['table']}"
        s.update({"BackupArn": rec["arn"], "BackupName": rec["name"],
                  "BackupCreationDateTime": rec["created"]})
        if rec["type"] == "SYSTEM":
            s["BackupExpiryDateTime"] = round(rec["created"] + 35 * DAY, 3)
        s["BackupStatus"] = self.backup_status(rec)
        s["BackupType"] = rec["type"]
        if rec.get("size") is not None:
            s["BackupSizeBytes"] = rec["size"]
        return s

    def description(self, rec, deleted=False):
        out = {"BackupDetails": self.details(rec, deleted)}
        if rec.get("source"):
            out["SourceTableDetails"] = dict(rec["source"])
        out["SourceTableFeatureDetails"] = {}
        return out

    def get_backup(self, region, arn):
        with self.lock:
            rec = self.backups.get(arn)
            if rec is None or rec["region"] != region:
                raise backup_not_found(arn)
            return dict(rec)

    def delete_backup(self, region, arn):
        with self.lock:
            rec = self.backups.get(arn)
            if rec is None or rec["region"] != region:
                raise backup_not_found(arn)
            if self.backup_status(rec) == "CREATING":
                raise DdbError(400, NS_DDB + "BackupInUseException",
                               "There is another ongoing conflicting backup control plane operation on the table. "
                               "The backup is either being created, deleted or restored to a table.")
            del self.backups[arn]
            return dict(rec)

    def list_backups(self, region, table=None, btype="USER", lower=None, upper=None, start_arn=None, limit=None):
        """(page, last_evaluated_arn) in creation order."""
        with self.lock:
            recs = sorted((dict(r) for r in self.backups.values() if r["region"] == region),
                          key=lambda r: (r["created"], r["arn"]))
            if start_arn is not None:
                start = self.backups.get(start_arn)
                if start is not None and start["region"] == region:
                    pos = (start["created"], start_arn)
                else:
                    m = ARN_RE.match(start_arn)
                    if not m or m.group(1) != region:
                        raise validation(f"Invalid ExclusiveStartBackupArn: {start_arn}")
                    pos = (int(m.group(4)) / 1000.0, start_arn)
                recs = [r for r in recs if (r["created"], r["arn"]) > pos]
        out = []
        for r in recs:
            if table is not None and r["table"] != table:
                continue
            if btype != "ALL" and r["type"] != btype:
                continue
            if lower is not None and r["created"] < lower:
                continue
            if upper is not None and r["created"] >= upper:
                continue
            out.append(r)
        n = limit or 100
        page = out[:n]
        last = page[-1]["arn"] if len(page) == n else None
        return [self.summary(r) for r in page], last

    def backups_view(self, region=None):
        with self.lock:
            recs = sorted((dict(r) for r in self.backups.values() if region in (None, r["region"])),
                          key=lambda r: (r["created"], r["arn"]))
        return [{**self.summary(r), "Region": r["region"], "Origin": r["origin"]} for r in recs]

    # ------------------------------------------------ point-in-time recovery
    def init_pitr(self, region, table):
        with self.lock:
            if self.pitr_default_on:
                self.pitr.setdefault((region, table), {"enabled": True, "period": 35, "enabled_at": self.started})

    def pitr_describe(self, region, table):
        with self.lock:
            p = self.pitr.get((region, table))
            lag = self.pitr_latest_lag_s
        d = {"ContinuousBackupsStatus": "ENABLED"}
        if not p or not p["enabled"]:
            d["PointInTimeRecoveryDescription"] = {"PointInTimeRecoveryStatus": "DISABLED"}
            return d
        now = self.now()
        earliest = max(p["enabled_at"], now - p["period"] * DAY)
        latest = max(now - lag, earliest)
        d["PointInTimeRecoveryDescription"] = {"PointInTimeRecoveryStatus": "ENABLED",
                                               "RecoveryPeriodInDays": p["period"],
                                               "EarliestRestorableDateTime": round(earliest, 3),
                                               "LatestRestorableDateTime": round(latest, 3)}
        return d

    def pitr_update(self, region, table, enabled, period=None, enabled_at=None):
        with self.lock:
            p = self.pitr.get((region, table))
            if enabled:
                if p and p["enabled"]:
                    p["period"] = period or 35      # "If no value is provided, the value will default to 35."
                    if enabled_at is not None:
                        p["enabled_at"] = float(enabled_at)
                else:
                    self.pitr[(region, table)] = {"enabled": True, "period": period or 35,
                                                  "enabled_at": float(enabled_at) if enabled_at is not None
                                                  else self.now()}
            else:
                self.pitr[(region, table)] = {"enabled": False, "period": None, "enabled_at": None}

    def pitr_view(self):
        with self.lock:
            return [{"region": r, "table": t, **v} for (r, t), v in sorted(self.pitr.items())]
