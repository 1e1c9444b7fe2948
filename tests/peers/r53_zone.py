"""A Route 53 hosted zone for the test peer: its records, the semantics of a
change batch (atomic; DELETE must match exactly; CREATE must not exist;
UPSERT creates or replaces), record content rules and Route 53's listing
order.  Records are kept in botocore's shape (dicts with Name, Type, ...).

Errors: ChangeError(code, messages, status).  InvalidChangeBatch carries one
message per problem, as Route 53 lists them; InvalidInput one message."""
import copy
import ipaddress
import re
import threading
import uuid

ROUTING = ("Weight", "Region", "Failover", "GeoLocation", "MultiValueAnswer", "CidrRoutingConfig")
POLICY_NAME = {"Weight": "weighted", "Region": "latency", "Failover": "failover", "GeoLocation": "geolocation",
               "MultiValueAnswer": "multivalue answer", "CidrRoutingConfig": "IP-based"}
DEFAULT_NS = ["ns-1.awsdns-01.org.", "ns-2.awsdns-02.co.uk.", "ns-3.awsdns-03.com.", "ns-4.awsdns-04.net."]
MAX_WEIGHTED = 100
MAX_VALUES_PER_REQUEST = 1000     # ResourceRecord elements in one ChangeResourceRecordSets
MAX_CHARS_PER_REQUEST = 32000     # characters of all Value elements in one request


class ChangeError(Exception):
    def __init__(self, code, messages, status=400):
        super().__init__("; ".join(messages))
        self.code, self.messages, self.status = code, list(messages), status


# ---------------------------------------------------------------- names
_SAFE = set("abcdefghijklmnopqrstuvwxyz0123456789-_")


def canon_name(name):
    """Route 53's stored form of a DNS name: lower case, trailing dot, every
    character but a-z 0-9 - _ written as a three-digit octal escape (so a
    wildcard reads "\\052.example.com.").  Raises ValueError(code, what)."""
    if not isinstance(name, str) or name == "":
        raise ValueError("DomainLabelEmpty (Domain label is empty)")
    raw, i = [], 0
    while i < len(name):
        ch = name[i]
        if ch == "\\":
            m = re.match(r"\\([0-7]{3})", name[i:])
            if not m:
                raise ValueError("InvalidEscape (Escape sequence must be three octal digits)")
            raw.append(chr(int(m.group(1), 8)))
            i += 4
            continue
        raw.append(ch)
        i += 1
    text = "".join(raw).lower()
    if text == ".":
        return "."
    if text.endswith("."):
        text = text[:-1]
    labels = text.split(".")
    out = []
    for lab in labels:
        if lab == "":
            raise ValueError("DomainLabelEmpty (Domain label is empty)")
        if len(lab.encode("latin-1", "replace")) > 63:
            raise ValueError("DomainLabelTooLong (Domain label is too long)")
        out.append("".join(c if c in _SAFE else "\\%03o" % (ord(c) & 0xff) for c in lab))
    if sum(len(lab) + 1 for lab in labels) + 1 > 255:
        raise ValueError("DomainNameTooLong (Domain name is too long)")
    return ".".join(out) + "."


def plain_name(cname):
    """Escapes decoded (for DNS answers)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), cname)


def sort_key(rr):
    labels = rr["Name"].rstrip(".").split(".")
    return (".".join(reversed(labels)) + ".", rr["Type"], rr.get("SetIdentifier", ""))


def rr_key(rr):
    return (rr["Name"], rr["Type"], rr.get("SetIdentifier"))


def describe(rr):
    s = f"[name='{rr['Name']}', type='{rr['Type']}'"
    if rr.get("SetIdentifier") is not None:
        s += f", set-identifier='{rr['SetIdentifier']}'"
    return s + "]"


def change_desc(action, rr):
    sid = rr.get("SetIdentifier")
    return (f"Change with [Action={action}, Name={rr.get('Name')}, Type={rr.get('Type')}, "
            f"SetIdentifier={'null' if sid is None else sid}]")


# ---------------------------------------------------------------- values
def _fatal(code, what, value):
    return f"Invalid Resource Record: FATAL problem: {code} ({what}) encountered with '{value}'"


def _domain_problem(v):
    if v == "" or v.strip() != v or any(c.isspace() for c in v):
        return "DomainNameIllegalCharacter (Domain name contains an illegal character)"
    if v == ".":
        return None
    try:
        canon_name(v)
    except ValueError as e:
        return str(e)
    return None


_QSTR = re.compile(r'"((?:[^"\\]|\\.)*)"')


def txt_strings(v):
    """The character-strings of a TXT value ('"a" "b"'), or None if malformed."""
    pos, out = 0, []
    v = v.strip()
    while pos < len(v):
        m = _QSTR.match(v, pos)
        if not m:
            return None
        s = re.sub(r"\\([0-9]{3})", lambda x: chr(int(x.group(1))), m.group(1))
        out.append(re.sub(r"\\(.)", r"\1", s))
        pos = m.end()
        while pos < len(v) and v[pos] == " ":
            pos += 1
    return out if out else None


def value_problem(rtype, v):
    """A Route 53-style message when v is not a valid value of rtype."""
    fields = v.split()
    if rtype == "A":
        try:
            ipaddress.IPv4Address(v)
        except ValueError:
            return _fatal("ARRDATAIllegalIPv4Address", "Value is not a valid IPv4 address", v)
    elif rtype == "AAAA":
        try:
            ipaddress.IPv6Address(v)
        except ValueError:
            return _fatal("AAAARRDATAIllegalIPv6Address", "Value is not a valid IPv6 address", v)
    elif rtype in ("CNAME", "NS", "PTR"):
        p = _domain_problem(v)
        if p:
            return f"Invalid Resource Record: FATAL problem: {p} encountered with '{v}'"
    elif rtype in ("TXT", "SPF"):
        strs = txt_strings(v)
        if strs is None:
            return _fatal("InvalidCharacterString", "Value should be enclosed in quotation marks", v)
        if any(len(s.encode()) > 255 for s in strs):
            return _fatal("CharacterStringTooLong", "Value is too long", v)
    elif rtype == "MX":
        if len(fields) != 2:
            return _fatal("MXRRDATA" + ("TooFewFields" if len(fields) < 2 else "TooManyFields"),
                          "Value contains " + ("too few" if len(fields) < 2 else "too many") + " fields", v)
        if not fields[0].isdigit() or int(fields[0]) > 65535:
            return _fatal("MXRRDATAIllegalPreference", "Value contains an illegal preference", v)
        if _domain_problem(fields[1]):
            return _fatal("MXRRDATAIllegalExchange", "Value contains an illegal exchange", v)
    elif rtype == "SRV":
        if len(fields) != 4:
            return _fatal("SRVRRDATA" + ("TooFewFields" if len(fields) < 4 else "TooManyFields"),
                          "Value contains " + ("too few" if len(fields) < 4 else "too many") + " fields", v)
        if not all(f.isdigit() and int(f) <= 65535 for f in fields[:3]) or _domain_problem(fields[3]):
            return _fatal("SRVRRDATAIllegalField", "Value contains an illegal field", v)
    elif rtype == "CAA":
        m = re.fullmatch(r'(\d+) ([A-Za-z0-9]+) "(.*)"', v)
        if not m or int(m.group(1)) > 255:
            return _fatal("CAARRDATAIllegalField", "Value contains an illegal field", v)
    elif rtype == "SOA":
        if len(fields) != 7 or not all(f.isdigit() for f in fields[2:]) \
                or _domain_problem(fields[0]) or _domain_problem(fields[1]):
            return _fatal("SOARRDATAIllegalField", "Value contains an illegal field", v)
    elif rtype == "DS":
        if len(fields) < 4 or not all(f.isdigit() for f in fields[:3]):
            return _fatal("DSRRDATAIllegalField", "Value contains an illegal field", v)
    elif rtype == "NAPTR":
        if len(fields) < 6 or not fields[0].isdigit() or not fields[1].isdigit():
            return _fatal("NAPTRRRDATAIllegalField", "Value contains an illegal field", v)
    return None


# ---------------------------------------------------------------- zone
class Zone:
    """One hosted zone.  Owned by the peer; every method takes self.lock."""

    def __init__(self, zid, name, records=(), health_checks=None, comment=None):
        self.id = zid
        self.name = canon_name(name)
        self.caller_reference = str(uuid.uuid5(uuid.NAMESPACE_DNS, zid + self.name))
        self.comment = comment
        self.lock = threading.RLock()
        # health check id -> healthy (bool); used by DNS and by HealthCheckId checks
        self.health_checks = dict(health_checks or {})
        self.records = {}
        self.generation = 0
        self.set_records(records)

    # ------------------------------------------------ loading
    def set_records(self, records):
        """Replace every record (zone file, control API).  Adds the apex SOA
        and NS when missing.  Raises ChangeError on an invalid record."""
        from r53_xml import MODEL, XmlInputError, judge
        recs = {}
        msgs = []
        for r in records:
            try:
                if not isinstance(r, dict):
                    raise ChangeError("InvalidZone", [f"record is not an object: {r!r}"])
                judge(MODEL.shape_for("ResourceRecordSet"), r)
                self._shape_problem("CREATE", r)
            except XmlInputError as e:
                msgs.append(f"{r.get('Name')} {r.get('Type')}: {e.message}")
                continue
            except ChangeError as e:
                msgs += e.messages
                continue
            rr = self._normalise(r, msgs)
            if rr is None:
                continue
            if rr_key(rr) in recs:
                msgs.append(f"duplicate record {describe(rr)}")
            recs[rr_key(rr)] = rr
            msgs += self._content_problems(rr)
        if (self.name, "SOA", None) not in recs:
            recs[(self.name, "SOA", None)] = {
                "Name": self.name, "Type": "SOA", "TTL": 900, "ResourceRecords": [
                    {"Value": f"{DEFAULT_NS[0]} awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400"}]}
        if (self.name, "NS", None) not in recs:
            recs[(self.name, "NS", None)] = {"Name": self.name, "Type": "NS", "TTL": 172800,
                                             "ResourceRecords": [{"Value": v} for v in DEFAULT_NS]}
        keys = {(k[0], k[1]) for k in recs}
        msgs += self._final_problems(recs, keys)
        if msgs:
            raise ChangeError("InvalidZone", msgs)
        with self.lock:
            self.records = recs
            self.generation += 1

    def _normalise(self, r, msgs):
        rr = copy.deepcopy(r)
        try:
            rr["Name"] = canon_name(rr["Name"])
        except ValueError as e:
            msgs.append(f"Invalid Resource Record: FATAL problem: {e} encountered with '{r.get('Name')}'")
            return None
        except (KeyError, TypeError):
            msgs.append("record without a Name")
            return None
        if rr["Name"] != self.name and not rr["Name"].endswith("." + self.name):
            msgs.append(f"RRSet with DNS name {rr['Name']} is not permitted in zone {self.name}")
            return None
        at = rr.get("AliasTarget")
        if isinstance(at, dict) and isinstance(at.get("DNSName"), str):
            try:
                at["DNSName"] = canon_name(at["DNSName"])
            except ValueError as e:
                msgs.append(f"Invalid alias target: {e} encountered with '{at['DNSName']}'")
                return None
        return rr

    # ------------------------------------------------ reading
    def sorted_records(self):
        with self.lock:
            return sorted((copy.deepcopy(r) for r in self.records.values()), key=sort_key)

    def list(self, start_name=None, start_type=None, start_id=None, max_items=300):
        """One page: (records, next (name, type, id) or None)."""
        recs = self.sorted_records()
        if start_name is not None:
            lo = sort_key({"Name": start_name, "Type": start_type or "", "SetIdentifier": start_id or ""})
            if start_type is None:
                lo = lo[:1]
            elif start_id is None:
                lo = lo[:2]
            recs = [r for r in recs if sort_key(r)[:len(lo)] >= lo]
        page, rest = recs[:max_items], recs[max_items:]
        nxt = None
        if rest:
            nxt = (rest[0]["Name"], rest[0]["Type"], rest[0].get("SetIdentifier"))
        return page, nxt

    def group(self, name, rtype):
        """Records of one name and type (canonical name)."""
        with self.lock:
            return [copy.deepcopy(r) for k, r in self.records.items() if k[0] == name and k[1] == rtype]

    def names(self):
        with self.lock:
            return {k[0] for k in self.records}

    # ------------------------------------------------ changing
    def apply(self, changes):
        """Apply a change batch atomically, or raise ChangeError."""
        with self.lock:
            for ch in changes:
                self._shape_problem(ch["Action"], ch["ResourceRecordSet"])
            for ch in changes:
                hc = ch["ResourceRecordSet"].get("HealthCheckId")
                if hc is not None and hc not in self.health_checks:
                    raise ChangeError("NoSuchHealthCheck", [f"No health check exists with the specified ID {hc}"],
                                      404)
            n_values = n_chars = 0
            for ch in changes:         # Route 53's request limits; an UPSERT counts twice
                k = 2 if ch["Action"] == "UPSERT" else 1
                vals = [v.get("Value", "") for v in ch["ResourceRecordSet"].get("ResourceRecords") or []]
                n_values += k * len(vals)
                n_chars += k * sum(len(v) for v in vals)
            if n_values > MAX_VALUES_PER_REQUEST:
                raise ChangeError("InvalidChangeBatch", [f"Number of records limit of {MAX_VALUES_PER_REQUEST} "
                                                         "exceeded."])
            if n_chars > MAX_CHARS_PER_REQUEST:
                raise ChangeError("InvalidChangeBatch", [f"Number of characters limit of {MAX_CHARS_PER_REQUEST} "
                                                         "in Value elements exceeded."])
            work = dict(self.records)
            msgs, seen, touched = [], {}, set()
            for ch in changes:
                action = ch["Action"]
                rr = self._normalise(ch["ResourceRecordSet"], msgs)
                if rr is None:
                    continue
                key = rr_key(rr)
                prev = seen.get(key)
                seen[key] = action
                if prev is not None and not (prev == "DELETE" and action in ("CREATE", "UPSERT")):
                    msgs.append(f"The request contains an invalid set of changes for a resource record set "
                                f"'{rr['Type']} {rr['Name']}'")
                    continue
                content = self._content_problems(rr)
                if content:
                    msgs += content
                    continue
                apex_special = rr["Name"] == self.name and rr["Type"] in ("SOA", "NS")
                cur = work.get(key)
                if action == "CREATE":
                    if cur is not None:
                        msgs.append(f"Tried to create resource record set {describe(rr)} but it already exists")
                        continue
                    work[key] = rr
                elif action == "DELETE":
                    if cur is None:
                        msgs.append(f"Tried to delete resource record set {describe(rr)} but it was not found")
                        continue
                    if not same_record(cur, rr):
                        msgs.append(f"Tried to delete resource record set {describe(rr)} but the values provided "
                                    "do not match the current values")
                        continue
                    if apex_special:
                        msgs.append("A HostedZone must contain exactly one SOA record." if rr["Type"] == "SOA"
                                    else "A HostedZone must contain at least one NS record for the zone itself.")
                        continue
                    del work[key]
                else:
                    work[key] = rr
                touched.add((rr["Name"], rr["Type"]))
            msgs += self._final_problems(work, touched)
            if msgs:
                raise ChangeError("InvalidChangeBatch", msgs)
            self.records = work
            self.generation += 1

    @staticmethod
    def _shape_problem(action, rr):
        """Route 53's InvalidInput checks on the shape of one change."""
        has_rr = rr.get("ResourceRecords") is not None
        has_ttl = rr.get("TTL") is not None
        alias = rr.get("AliasTarget") is not None
        tpi = rr.get("TrafficPolicyInstanceId") is not None
        d = change_desc(action, rr)
        if alias and (has_rr or has_ttl):
            raise ChangeError("InvalidInput", ["Invalid request: Expected exactly one of [AliasTarget, all of [TTL, "
                                               f"and ResourceRecords], or TrafficPolicyInstanceId], but found more "
                                               f"than one in {d}"])
        if not alias and not tpi:
            if not has_rr and not has_ttl:
                raise ChangeError("InvalidInput", ["Invalid request: Expected exactly one of [AliasTarget, all of "
                                                   "[TTL, and ResourceRecords], or TrafficPolicyInstanceId], but "
                                                   f"found none in {d}"])
            if not has_rr:
                raise ChangeError("InvalidInput", [f"Invalid request: Missing field 'ResourceRecords' in {d}"])
            if not has_ttl:
                raise ChangeError("InvalidInput", [f"Invalid request: Missing field 'TTL' in {d}"])
        policies = [p for p in ROUTING if rr.get(p) is not None]
        if rr.get("SetIdentifier") is None and policies:
            raise ChangeError("InvalidInput", [f"Invalid request: Missing field 'SetIdentifier' in {d}"])
        if rr.get("SetIdentifier") is not None and len(policies) != 1:
            raise ChangeError("InvalidInput", [f"Invalid request: Expected exactly one of [{', '.join(ROUTING)}], "
                                               f"but found {'none' if not policies else 'more than one'} in {d}"])

    def _content_problems(self, rr):
        msgs = []
        rtype = rr["Type"]
        vals = [v.get("Value") for v in rr.get("ResourceRecords") or []]
        if rr["Name"].startswith("\\052.") and rtype == "NS":
            msgs.append(f"RRSet of type NS with DNS name {rr['Name']} is not permitted: a wildcard cannot be used "
                        "for NS records")
        if rtype == "CNAME" and rr["Name"] == self.name:
            msgs.append(f"RRSet of type CNAME with DNS name {rr['Name']} is not permitted at apex in zone "
                        f"{self.name}")
        if rtype == "SOA" and rr["Name"] != self.name:
            msgs.append(f"RRSet of type SOA with DNS name {rr['Name']} is not permitted because SOA records are "
                        "only allowed at the zone apex")
        if rtype == "CNAME" and len(vals) > 1:
            msgs.append(f"RRSet of type CNAME with DNS name {rr['Name']} has more than one resource record; a CNAME "
                        "must have exactly one value")
        if rr.get("Weight") is not None and len(vals) > 1:
            msgs.append(f"Weighted RRSet {describe(rr)} has {len(vals)} resource records; you can only specify one "
                        "ResourceRecord per weighted resource record set")
        seen = set()
        for v in vals:
            if v in seen:
                msgs.append(f"Duplicate Resource Record: '{v}'")
            seen.add(v)
            p = value_problem(rtype, v)
            if p:
                msgs.append(p)
        return msgs

    def _final_problems(self, recs, touched):
        """Rules over groups of records, checked on the result of the batch for
        the names and types it touched."""
        msgs = []
        by_name = {}
        for (n, t, _s) in recs:
            by_name.setdefault(n, set()).add(t)
        for (n, t) in sorted(touched):
            types = by_name.get(n, set())
            if t == "CNAME" and "CNAME" in types and len(types) > 1:
                other = sorted(types - {"CNAME"})[0]
                msgs.append(f"RRSet of type CNAME with DNS name {n} is not permitted because a conflicting RRSet of "
                            f"type {other} with the same DNS name already exists in zone {self.name}")
            elif t != "CNAME" and "CNAME" in types and t in types:
                msgs.append(f"RRSet of type {t} with DNS name {n} is not permitted because a conflicting RRSet of "
                            f"type CNAME with the same DNS name already exists in zone {self.name}")
            grp = [r for k, r in recs.items() if k[0] == n and k[1] == t]
            if not grp:
                continue
            simple = [r for r in grp if r.get("SetIdentifier") is None]
            routed = [r for r in grp if r.get("SetIdentifier") is not None]
            if simple and routed:
                msgs.append(f"RRSet with DNS name {n}, type {t} cannot be created as other RRSets exist with the "
                            "same name and type: a non-routing-policy set cannot share its name and type with "
                            "sets that have a SetIdentifier")
            pols = {next(p for p in ROUTING if r.get(p) is not None) for r in routed}
            if len(pols) > 1:
                msgs.append(f"RRSet with DNS name {n}, type {t} mixes routing policies "
                            f"({', '.join(sorted(POLICY_NAME[p] for p in pols))}); all sets with the same name and "
                            "type must use the same routing policy")
            weighted = [r for r in routed if r.get("Weight") is not None]
            if len(weighted) > MAX_WEIGHTED:
                msgs.append(f"RRSet with DNS name {n}, type {t} has more than {MAX_WEIGHTED} weighted sets")
            ttls = {r["TTL"] for r in weighted if r.get("AliasTarget") is None}
            if len(ttls) > 1:
                msgs.append(f"RRSet with DNS name {n}, type {t}: all of the resource record sets in a group of "
                            f"weighted resource record sets must have the same value for TTL (found "
                            f"{', '.join(str(x) for x in sorted(ttls))})")
            for r in grp:
                at = r.get("AliasTarget")
                if at and at.get("HostedZoneId") == self.id:
                    tn = at["DNSName"]
                    if tn != self.name and not tn.endswith("." + self.name):
                        msgs.append(f"Tried to create an alias that targets {tn}, type {t} in zone {self.id}, but "
                                    "the alias target name does not lie within the target zone")
                    elif not any(k[0] == tn and k[1] == t for k in recs):
                        msgs.append(f"Tried to create an alias that targets {tn}, type {t} in zone {self.id}, but "
                                    "that target was not found")
        return msgs


def same_record(a, b):
    """Exact equality as a DELETE requires: every field; values in any order."""
    def norm(r):
        d = {k: v for k, v in r.items() if v is not None}
        if "ResourceRecords" in d:
            d["ResourceRecords"] = sorted(v["Value"] for v in d["ResourceRecords"])
        return d
    return norm(a) == norm(b)
