"""Start, drive and stop route53_peer.py from a test (run under /usr/bin/python3).

    from r53_peer_client import Route53Peer
    peer = Route53Peer(zone, [{"access_key": "AKID", "secret_key": "..."}],
                       spawn=harness.spawn, stop=harness.stop)
    peer.url, peer.dns_port, peer.stats(), peer.inject(throttle=2), peer.stop()

`zone` is the --zone JSON object (or a list of them); `spawn(name, argv,
**popen_kw)` and `stop(proc)` default to plain subprocess handling, and the
black-box tests pass harness.spawn / harness.stop so the pid is tracked."""
import json
import os
import sys
import tempfile

from peer_client import PeerClient

PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "route53_peer.py")
PYTHON = "/usr/bin/python3"


class Route53Peer(PeerClient):
    what = "route53 peer"
    ctl_what = "peer"
    stop_timeout = 5
    ctl_timeout = 10

    def __init__(self, zone, credentials, args=(), spawn=None, stop=None, workdir=None, ready_timeout=15):
        self.dir = workdir or tempfile.mkdtemp(prefix="r53peer-")
        self.zone_path = os.path.join(self.dir, "zone.json")
        self.creds_path = os.path.join(self.dir, "credentials.json")
        with open(self.zone_path, "w") as f:
            json.dump(zone, f)
        with open(self.creds_path, "w") as f:
            json.dump(credentials, f)
        self.log_path = os.path.join(self.dir, "peer.log")
        argv = [PYTHON, PEER, "--zone", self.zone_path, "--credentials", self.creds_path] + list(args)
        info = self._spawn("route53-peer", argv, spawn, stop, ready_timeout)
        self.port, self.dns_port, self.pid = info["port"], info["dns_port"], info["pid"]
        self.control_port = self.port
        self.url = f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------ control API (more in peer_client.PeerClient)
    def clear_faults(self):
        return self.ctl("POST", "clear-faults")

    def records(self, zone=None):
        return self.ctl("GET", "records" + (f"?zone={zone}" if zone else ""))["records"]

    def set_records(self, records, zone=None):
        return self.ctl("POST", "records", {"records": records, **({"zone": zone} if zone else {})})

    def changes(self):
        return self.ctl("GET", "changes")["changes"]

    def expire_credentials(self, access_key=None):
        return self.ctl("POST", "expire-credentials", {"access_key": access_key} if access_key else {})

    def set_health(self, hc_id, healthy):
        return self.ctl("POST", "health", {"id": hc_id, "healthy": healthy})


if __name__ == "__main__":
    sys.exit("import this module from a test")
