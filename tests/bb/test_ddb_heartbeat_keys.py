"""The heartbeat in the application's own table (opt-in, issue 12) with
String, Number (operator-named reserved values), Binary and composite keys,
against dynalite behind the strict peer with the aws CLI as the judge: every
item the application wrote before regiond started (some at the keys an older
regiond used) is byte-identical afterwards in every region, exactly one
heartbeat item per writer is written, and a paused pair is a finding within
stale_after."""
import base64
import os
import random

from harness import DdbPeer, Daemon, Nginx, check, check_eq, free_port, run_tests, wait_for
from test_ddb_heartbeat import (ENV, FINDING_WITHIN_S, STALE_S, TWO, app_items, cfg_for, hb_state, pairs, put_items,
                                replica, stall_found, table_spec)


APP_CASES = [
    # name, key schema, application items (written before regiond starts), heartbeat settings
    ("S", [("order_id", "S", "HASH")],
     [{"order_id": {"S": "regiond-heartbeat#us-east-1#ctl-ddb"}, "total": {"N": "12.50"}},
      {"order_id": {"S": "A-1"}, "customer": {"S": "Ada"}}], {}),
    ("N", [("order_id", "N", "HASH")],
     [{"order_id": {"N": "0"}, "customer": {"S": "Bob"}, "total": {"N": "99.95"}},
      {"order_id": {"N": "1"}, "customer": {"S": "Cy"}}],
     {"number_keys": {"us-east-1": "-900000000001", "eu-west-1": "-900000000002"}}),
    ("B", [("blob_id", "B", "HASH")],
     [{"blob_id": {"B": base64.b64encode(b"\x00\x01order").decode()}, "v": {"S": "x"}},
      {"blob_id": {"B": base64.b64encode(b"regiond-heartbeat").decode()}, "v": {"S": "y"}}], {}),
    ("composite S+N", [("tenant", "S", "HASH"), ("seq", "N", "RANGE")],
     [{"tenant": {"S": "acme"}, "seq": {"N": "0"}, "v": {"S": "first"}},
      {"tenant": {"S": "regiond-heartbeat"}, "seq": {"N": "0"}, "v": {"S": "looks like ours"}}],
     {"number_keys": {"us-east-1": "-1", "eu-west-1": "-2"}}),
]


SEED = int(os.environ.get("HB_SEED", random.randrange(1 << 30)))
RND = random.Random(SEED)


def random_value(t):
    """A key value the author did not choose: near the reserved prefix, or anything."""
    if t == "N":
        return {"N": str(RND.choice([0, -1, 1, RND.randint(-10**12, 10**12)]))}
    raw = RND.choice([b"__regiond#hb", b"__regiond#hb#", b"regiond-heartbeat#", b""]) + bytes(
        RND.randrange(33, 127) for _ in range(RND.randint(1, 24)))
    return {"B": base64.b64encode(raw).decode()} if t == "B" else {"S": raw.decode()}


def random_items(keys, n, fixed):
    out = []
    seen = {repr(sorted((a, it[a]) for a, _, _ in keys)) for it in fixed}   # one key once per batch
    while len(out) < n:
        it = {a: random_value(t) for a, t, _ in keys}
        k = repr(sorted(it.items()))
        if k not in seen:
            seen.add(k)
            out.append(dict(it, note={"S": "random"}))
    return out


def app_case(name, keys, items, hb):
    items = items + random_items(keys, 6, items)
    ports = [free_port() for _ in TWO]
    ngx = Nginx(ports)
    peer = DdbPeer(TWO, heartbeat_table=None)
    table = "app" + name.split()[0].lower()
    peer.call("POST", "/_peer/tables", table_spec(table, keys))
    put_items(peer, table, items)
    before = {r: app_items(peer, r, table) for r in TWO}
    check(all(len(v) == len(items) for v in before.values()), f"{name}: {len(items)} application items in each region")
    d = Daemon(cfg_for(peer, ports, TWO, dict({"mode": "application"}, **hb), table=table), env=ENV)
    wait_for(lambda: all(p["samples"] >= 3 for p in pairs(d).values()), 30, f"{name}: lag samples for every pair")
    check_eq(hb_state(d)["state"], "on", f"{name}: heartbeat on in the application table")
    took, r = stall_found(d, peer, "us-east-1", "eu-west-1")
    check(took <= FINDING_WITHIN_S, f"{name}: paused us-east-1 -> eu-west-1 is a finding in {took:.2f} s "
          f"(<= stale_after {STALE_S} s + one write and read interval + slack = {FINDING_WITHIN_S:.1f} s)")
    wait_for(lambda: not replica(d, "eu-west-1")["finding"], 15, f"{name}: finding cleared after resume")
    check_eq(d.stop(), 0, f"{name}: clean exit")
    after = {r: app_items(peer, r, table) for r in TWO}
    check(after == before, f"{name}: every application item byte-identical in both regions (aws CLI scan)")
    hb_items = [i for i in peer.call("GET", f"/_peer/items?region=eu-west-1&table={table}")["items"]
                if "hb_seq" in i]
    writers = sorted(i["hb_writer"]["S"] for i in hb_items)
    check_eq(writers, sorted(TWO), f"{name}: one heartbeat item per writer region, nothing else written")
    peer.stop()
    ngx.stop()


def test_app_table_key_types():
    print(f"random application items: seed {SEED} (HB_SEED={SEED} repeats them)", flush=True)
    for case in APP_CASES:
        app_case(*case)



if __name__ == "__main__":
    run_tests([test_app_table_key_types])
