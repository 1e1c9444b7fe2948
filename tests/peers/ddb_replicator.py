"""Replication of global-table items between the peer's regional dynalites.

After a write through a regional front (PutItem, UpdateItem, DeleteItem,
BatchWriteItem), the peer reads the item back from that region's dynalite
(GetItem, ConsistentRead) and hands the result here.  The write gets a version
from one counter shared by all regions (the order the peer saw the writes in);
it is copied to every other region of the table after that ordered pair's
delay.  A pair can be paused (copies are held, then delivered in order on
resume) or lossy (a fraction of copies is dropped at write time).  At the
destination, last writer wins: a copy is applied only when its version is
newer than the last version written there (locally or by an earlier copy)."""
import heapq
import itertools
import json
import random
import threading
import time


def key_id(key):
    return json.dumps(key, sort_keys=True, separators=(",", ":"))


class Replicator:
    def __init__(self, regions, dynalites, delay_ms=0, seed=None, log_size=5000):
        self.regions = list(regions)
        self.dyn = dynalites                       # region -> Dynalite
        self.write_locks = {r: threading.Lock() for r in self.regions}   # held around every write to a region
        self.cond = threading.Condition()
        self.pairs = {(a, b): {"delay_ms": delay_ms, "paused": False, "loss": 0.0}
                      for a in self.regions for b in self.regions if a != b}
        self.counters = {p: {"queued": 0, "delivered": 0, "lost": 0, "stale": 0, "failed": 0} for p in self.pairs}
        self.heap = []                             # (due, seq, entry)
        self.held = {p: [] for p in self.pairs}    # due entries of paused pairs, in seq order
        self.seq = itertools.count(1)
        self.version_counter = itertools.count(1)
        self.versions = {}                         # (region, table, key_id) -> last version written there
        self.log = []
        self.log_size = log_size
        self.rng = random.Random(seed)
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="replicator", daemon=True)
        self.thread.start()

    # ------------------------------------------------ settings
    def configure(self, arg):
        """POST /_peer/replication {"from"?, "to"?, "delay_ms"?, "paused"?, "loss"?}."""
        src, dst = arg.get("from"), arg.get("to")
        for r in (src, dst):
            if r is not None and r not in self.regions:
                raise ValueError(f"unknown region {r!r}; the peer serves {', '.join(self.regions)}")
        if "delay_ms" in arg and (isinstance(arg["delay_ms"], bool) or not isinstance(arg["delay_ms"], (int, float))
                                  or arg["delay_ms"] < 0):
            raise ValueError("delay_ms must be a number >= 0")
        if "loss" in arg and (isinstance(arg["loss"], bool) or not isinstance(arg["loss"], (int, float))
                              or not 0.0 <= arg["loss"] <= 1.0):
            raise ValueError("loss must be a fraction in [0, 1]")
        if "paused" in arg and not isinstance(arg["paused"], bool):
            raise ValueError("paused must be true or false")
        with self.cond:
            for (a, b), p in self.pairs.items():
                if src not in (None, a) or dst not in (None, b):
                    continue
                if "delay_ms" in arg:
                    p["delay_ms"] = arg["delay_ms"]
                if "loss" in arg:
                    p["loss"] = float(arg["loss"])
                if "paused" in arg:
                    p["paused"] = arg["paused"]
            self.cond.notify_all()
        return self.view()

    def view(self, with_log=False):
        with self.cond:
            pending = {}
            for _, _, e in self.heap:
                pending[(e["from"], e["to"])] = pending.get((e["from"], e["to"]), 0) + 1
            out = {"pairs": [{"from": a, "to": b, **p, **self.counters[(a, b)],
                              "pending": pending.get((a, b), 0) + len(self.held[(a, b)]),
                              "held": len(self.held[(a, b)])}
                             for (a, b), p in sorted(self.pairs.items())]}
            if with_log:
                out["log"] = list(self.log)
            return out

    # ------------------------------------------------ writes
    def local_write(self, region, table, key, item, t_write):
        """A write accepted in `region`; item is the state read back (None: deleted)."""
        kid = key_id(key)
        with self.cond:
            version = next(self.version_counter)
            self.versions[(region, table, kid)] = version
            now = time.monotonic()
            for dst in self.regions:
                if dst == region:
                    continue
                pair = (region, dst)
                if dst not in self.targets_of(table):
                    continue
                p = self.pairs[pair]
                if p["loss"] > 0 and self.rng.random() < p["loss"]:
                    self.counters[pair]["lost"] += 1
                    self._log({"from": region, "to": dst, "table": table, "key": key, "version": version,
                               "t_write": t_write, "result": "lost"})
                    continue
                e = {"from": region, "to": dst, "table": table, "key": key, "kid": kid, "item": item,
                     "version": version, "t_write": t_write}
                heapq.heappush(self.heap, (now + p["delay_ms"] / 1000.0, next(self.seq), e))
                self.counters[pair]["queued"] += 1
            self.cond.notify_all()
        return version

    targets_of = None       # set by the peer: table -> regions of that global table

    def _log(self, rec):
        self.log.append(rec)
        del self.log[:-self.log_size]

    # ------------------------------------------------ delivery
    def _run(self):
        while True:
            with self.cond:
                batch = []
                while not batch and not self.stopping:
                    now = time.monotonic()
                    while self.heap and self.heap[0][0] <= now:
                        _, seq, e = heapq.heappop(self.heap)
                        self.held[(e["from"], e["to"])].append((seq, e))
                    for pair, held in self.held.items():
                        if held and not self.pairs[pair]["paused"]:
                            batch.extend(held)
                            held.clear()
                    if batch:
                        break
                    wait = self.heap[0][0] - now if self.heap else None
                    self.cond.wait(wait if wait is None else max(wait, 0.001))
                if self.stopping:
                    return
            batch.sort(key=lambda x: x[0])
            for _, e in batch:
                self._apply(e)

    def _apply(self, e):
        pair = (e["from"], e["to"])
        vk = (e["to"], e["table"], e["kid"])
        with self.write_locks[e["to"]]:           # no local write to that region in between
            with self.cond:
                stale = self.versions.get(vk, 0) > e["version"]
                if stale:
                    self.counters[pair]["stale"] += 1
                    self._log({"from": e["from"], "to": e["to"], "table": e["table"], "key": e["key"],
                               "version": e["version"], "t_write": e["t_write"], "t_applied": time.monotonic(),
                               "result": "stale"})
                    return
            dyn = self.dyn[e["to"]]
            try:
                if e["item"] is not None:
                    status, ans = dyn.call("PutItem", {"TableName": e["table"], "Item": e["item"]})
                else:
                    status, ans = dyn.call("DeleteItem", {"TableName": e["table"], "Key": e["key"]})
            except OSError as ex:
                status, ans = 0, {"error": repr(ex)}
            with self.cond:
                ok = status == 200
                if ok:
                    self.versions[vk] = e["version"]
                self.counters[pair]["delivered" if ok else "failed"] += 1
                self._log({"from": e["from"], "to": e["to"], "table": e["table"], "key": e["key"],
                           "version": e["version"], "t_write": e["t_write"], "t_applied": time.monotonic(),
                           "result": "applied" if ok else f"failed {status} {ans}"})

    def stop(self):
        with self.cond:
            self.stopping = True
            self.cond.notify_all()
        self.thread.join(timeout=2)
