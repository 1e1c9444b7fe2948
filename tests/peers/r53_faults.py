"""The Route 53 peer's injected faults (see README.md, /_peer/inject): what
a request meets before it is handled (slow, drop, endless, huge, deny,
throttle, error5xx, prior) and after it took effect (slow_after,
drop_after).  A mixin of route53_peer.Handler; faults are taken from the
peer's State, per operation and access key."""
import time

import r53_xml

HUGE_BYTES = 50 << 20          # the "huge" fault's answer
ENDLESS_GAP_S = 0.1            # the "endless" fault: a chunk this often...
ENDLESS_MAX_S = 600            # ...until the client leaves (or this long)


def huge_body(peer):
    """The "huge" fault's answer, built once.  Built when the fault is
    injected, not inside the request it answers: building 50 MiB took up to
    1.5 s on a loaded machine, time the client's request timeout counted."""
    if peer.huge is None:
        head = (f'<?xml version="1.0" encoding="UTF-8"?>\n<ListResourceRecordSetsResponse xmlns="{r53_xml.NS}">'
                "<ResourceRecordSets></ResourceRecordSets><IsTruncated>false</IsTruncated><MaxItems>300</MaxItems>"
                "<!--").encode()
        tail = b"--></ListResourceRecordSetsResponse>\n"
        peer.huge = head + b"x" * (HUGE_BYTES - len(head) - len(tail)) + tail
    return peer.huge


class ApiError(Exception):
    def __init__(self, status, code, message, etype="Sender"):
        super().__init__(message)
        self.status, self.code, self.message, self.etype = status, code, message, etype


class FaultsMixin:
    def _faults_before(self, op, entry):
        st = self.peer.state
        key = entry.get("key")
        if st.take_fault("slow", op, key):
            entry["fault"] = "slow"
            time.sleep(st.slow_ms / 1000.0)
        if st.take_fault("drop", op, key):
            entry["fault"], entry["status"] = "drop", 0
            self._drop()
            return
        if st.take_fault("endless", op, key):
            entry["fault"], entry["status"] = "endless", 200
            self._endless()
            return
        if st.take_fault("huge", op, key):
            entry["fault"], entry["status"] = "huge", 200
            self._huge()
            return
        if st.take_fault("deny", op, key):
            entry["fault"] = "deny"
            raise ApiError(403, "AccessDenied", f"User: arn:aws:iam::123456789012:user/regiond-test is not "
                           f"authorized to perform: route53:{op}")
        if st.take_fault("throttle", op, key):
            entry["fault"] = "throttle"
            raise ApiError(400, "Throttling", "Rate exceeded")
        if st.take_fault("error5xx", op, key):
            entry["fault"] = "error5xx"
            raise ApiError(500, "InternalFailure", "An internal error occurred. Try again.", "Receiver")
        if st.take_fault("prior", op, key):
            entry["fault"] = "prior"
            raise ApiError(400, "PriorRequestNotComplete", "The request was rejected because Route 53 was still "
                           "processing a prior request.")

    def _endless(self):
        """HTTP 200 and a chunked XML answer that never ends: a chunk every
        ENDLESS_GAP_S until the client goes away (or ENDLESS_MAX_S)."""
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        head = (f'<?xml version="1.0" encoding="UTF-8"?>\n<ListResourceRecordSetsResponse xmlns="{r53_xml.NS}">'
                "<ResourceRecordSets>").encode()
        end = time.monotonic() + ENDLESS_MAX_S
        try:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(head), head))
            self.wfile.flush()
            while time.monotonic() < end:
                time.sleep(ENDLESS_GAP_S)
                self.wfile.write(b"2\r\n  \r\n")
                self.wfile.flush()
        except OSError:
            pass
        self._drop()

    def _huge(self):
        """HTTP 200 with a well-formed HUGE_BYTES answer (Content-Length set)."""
        self.close_connection = True
        body = memoryview(huge_body(self.peer))
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            for i in range(0, len(body), 1 << 20):
                self.wfile.write(body[i:i + (1 << 20)])
        except OSError:
            pass
        self._drop()

    def _faults_after(self, op, entry):
        """Faults applied once the request took effect; True if it was dropped."""
        st = self.peer.state
        if st.take_fault("slow_after", op, entry.get("key")):
            entry["fault"] = "slow_after"
            time.sleep(st.slow_after_ms / 1000.0)
        if st.take_fault("drop_after", op, entry.get("key")):
            entry["fault"] = "drop_after"
            self._drop()
            return True
        return False

    # ------------------------------------------------ the control API
