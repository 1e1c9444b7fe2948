"""State of the Route 53 test peer shared by its HTTP and DNS sides:
credentials (static, and temporary ones minted by the IMDS and container
endpoints), injected faults, request statistics and accepted changes."""
import base64
import datetime
import os
import secrets
import string
import threading
import time

from sigv4_check import static_credentials

FAULT_KINDS = ("slow", "drop", "deny", "throttle", "error5xx", "prior", "drop_after", "slow_after",
               "imds_fail", "container_fail", "endless", "huge")
ALNUM = string.ascii_uppercase + string.digits


def rand_upper(n):
    return "".join(secrets.choice(ALNUM) for _ in range(n))


def iso_z(wall):
    return datetime.datetime.fromtimestamp(wall, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class State:
    def __init__(self, pending_ms=1000, cred_ttl_s=900, rate_limit=0, icb_form="standard"):
        self.lock = threading.Lock()
        self.pending_ms = pending_ms
        self.cred_ttl_s = cred_ttl_s
        self.rate_limit = rate_limit          # signed requests per second before Throttling; 0 = none
        self.icb_form = icb_form              # "standard" | "legacy"
        self.static_creds = {}                # access key -> {"secret","token","expires"}
        self.minted = {}                      # access key -> {"secret","token","expires","source"}
        self.faults = {k: 0 for k in FAULT_KINDS}
        self.fault_ops = {k: None for k in FAULT_KINDS}   # None = any operation, else a set of op names
        self.fault_keys = {k: None for k in FAULT_KINDS}  # None = any access key, else a set of keys
        self.slow_ms = 0
        self.slow_after_ms = 0
        self.changes = {}                     # change id -> record
        self.change_order = []
        self.rejected = []                    # batches the zone refused (InvalidChangeBatch, ...)
        self.seq = 0                          # one order over accepted and rejected batches
        self.imds_tokens = {}                 # token -> monotonic expiry
        self.reset_stats()

    # ------------------------------------------------ statistics
    def reset_stats(self):
        with self.lock:
            self.requests = []
            self.rejected_signatures = 0
            self.imds_fetches = 0
            self.imds_token_fetches = 0
            self.container_fetches = 0
            self.dns_queries_base = None

    def record(self, entry):
        with self.lock:
            self.requests.append(entry)
            del self.requests[:-100000]

    def rate_in_last_second(self, now):
        with self.lock:
            n = 0
            for r in reversed(self.requests):
                if now - r["t"] >= 1.0:
                    break
                if r.get("signed"):
                    n += 1
            return n

    def stats(self):
        with self.lock:
            reqs = [dict(r) for r in self.requests]
            times = sorted(r["t"] for r in reqs if r.get("signed"))
            best, lo = 0, 0
            for hi, t in enumerate(times):
                while t - times[lo] >= 1.0:
                    lo += 1
                best = max(best, hi - lo + 1)
            return {"requests": reqs, "max_rate_1s": best, "rejected_signatures": self.rejected_signatures,
                    "imds_fetches": self.imds_fetches, "imds_token_fetches": self.imds_token_fetches,
                    "container_fetches": self.container_fetches,
                    "faults_pending": {k: v for k, v in self.faults.items() if v}}

    # ------------------------------------------------ credentials
    def set_static(self, items):
        creds = static_credentials(items)
        with self.lock:
            self.static_creds = creds

    def lookup(self, akid):
        with self.lock:
            c = self.static_creds.get(akid) or self.minted.get(akid)
            return dict(c) if c else None

    def mint(self, source):
        akid = "ASIA" + rand_upper(16)
        secret = base64.b64encode(os.urandom(30)).decode()
        token = "IQoJb3JpZ2luX2VjE" + base64.b64encode(os.urandom(240)).decode()
        now = time.time()
        with self.lock:
            expires = now + self.cred_ttl_s
            self.minted[akid] = {"secret": secret, "token": token, "expires": expires, "source": source}
            if source == "imds":
                self.imds_fetches += 1
            else:
                self.container_fetches += 1
        return {"AccessKeyId": akid, "SecretAccessKey": secret, "Token": token, "Expiration": iso_z(expires),
                "LastUpdated": iso_z(now)}

    def expire(self, akid=None):
        """Expire minted credentials now (all, or one key).  Returns how many."""
        now = time.time()
        with self.lock:
            keys = [akid] if akid else list(self.minted)
            n = 0
            for k in keys:
                if k in self.minted:
                    self.minted[k]["expires"] = now - 1
                    n += 1
            return n

    def new_imds_token(self, ttl):
        tok = base64.urlsafe_b64encode(os.urandom(42)).decode()
        with self.lock:
            self.imds_tokens[tok] = time.monotonic() + ttl
            self.imds_token_fetches += 1
        return tok

    def imds_token_ok(self, tok):
        with self.lock:
            exp = self.imds_tokens.get(tok or "")
            return exp is not None and time.monotonic() < exp

    # ------------------------------------------------ faults
    def inject(self, spec):
        ops, keys = spec.get("ops"), spec.get("keys")
        if ops is not None and (not isinstance(ops, list) or not all(isinstance(o, str) for o in ops)):
            raise ValueError("ops must be a list of operation names")
        if keys is not None and (not isinstance(keys, list) or not all(isinstance(o, str) for o in keys)):
            raise ValueError("keys must be a list of access key ids")
        with self.lock:
            for k, v in spec.items():
                if k in ("ops", "keys", "slow_ms", "slow_after_ms"):
                    continue
                if k not in FAULT_KINDS:
                    raise ValueError(f"unknown fault {k!r}; known: {', '.join(FAULT_KINDS)}, slow_ms, "
                                     "slow_after_ms, ops")
                if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                    raise ValueError(f"{k} must be a count >= 0")
            for k, v in spec.items():
                if k in FAULT_KINDS:
                    self.faults[k] = v
                    self.fault_ops[k] = set(ops) if ops else None
                    self.fault_keys[k] = set(keys) if keys else None
            if "slow_ms" in spec:
                self.slow_ms = int(spec["slow_ms"])
            if "slow_after_ms" in spec:
                self.slow_after_ms = int(spec["slow_after_ms"])

    def clear_faults(self):
        with self.lock:
            for k in FAULT_KINDS:
                self.faults[k] = 0
                self.fault_ops[k] = None
                self.fault_keys[k] = None

    def take_fault(self, kind, op, key=None):
        """Consume one pending fault of this kind for op (and, when the fault
        was scoped to access keys, for a request signed with one); True if taken."""
        with self.lock:
            if self.faults[kind] > 0 and (self.fault_ops[kind] is None or op in self.fault_ops[kind]) and \
                    (self.fault_keys[kind] is None or key in self.fault_keys[kind]):
                self.faults[kind] -= 1
                return True
            return False

    def faults_view(self):
        with self.lock:
            return {"counts": dict(self.faults), "ops": {k: sorted(v) if v else None for k, v in
                                                         self.fault_ops.items()},
                    "keys": {k: sorted(v) if v else None for k, v in self.fault_keys.items()},
                    "slow_ms": self.slow_ms, "slow_after_ms": self.slow_after_ms}

    # ------------------------------------------------ changes
    def add_change(self, zone_id, comment, changes, key=None, before=None, after=None):
        """An accepted batch: its access key and the groups it touched, as
        they were just before and just after it (taken atomically with it)."""
        cid = "C" + rand_upper(20)
        rec = {"id": cid, "zone": zone_id, "comment": comment, "changes": changes, "submitted": time.time(),
               "mono": time.monotonic(), "key": key, "before": before, "after": after}
        with self.lock:
            self.seq += 1
            rec["seq"] = self.seq
            self.changes[cid] = rec
            self.change_order.append(cid)
        return rec

    def add_rejected(self, zone_id, comment, changes, key, code, messages, before):
        """A well-formed batch the zone refused (kept so a test can see what
        each writer tried, not only what landed)."""
        with self.lock:
            self.seq += 1
            self.rejected.append({"seq": self.seq, "zone": zone_id, "comment": comment, "changes": changes,
                                  "key": key, "error": code, "messages": messages, "before": before,
                                  "mono": time.monotonic()})
            del self.rejected[:-10000]

    def change_status(self, rec):
        with self.lock:
            pending = self.pending_ms
        return "INSYNC" if (time.monotonic() - rec["mono"]) * 1000 >= pending else "PENDING"

    def change_info(self, rec):
        info = {"Id": "/change/" + rec["id"], "Status": self.change_status(rec), "SubmittedAt": rec["submitted"]}
        if rec["comment"] is not None:
            info["Comment"] = rec["comment"]
        return info
