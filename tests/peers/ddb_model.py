"""DynamoDB's request model, as the strict DynamoDB peer judges requests.

The model is Debian's botocore dynamodb 2012-08-10 service model with one
addition from the current AWS API reference (see README-dynamodb.md):
RecoveryPeriodInDays (integer 1-35) in PointInTimeRecoverySpecification and
PointInTimeRecoveryDescription.

judge(op, params) checks a request body in two passes:
  1. a walk of the model that reports what DynamoDB reports, in its words
     (SerializationException for wrong JSON types, ValidationException
     "N validation errors detected: Value ... at 'path' failed to satisfy
     constraint: ..." for nulls, lengths, ranges, enums and patterns);
  2. botocore.validate.ParamValidator (required members, types, minimums),
     the independent judge: anything it still finds is refused too.
Unknown members are refused (DynamoDB ignores them; see the README)."""
import base64
import binascii
import copy
import json
import re

import botocore.session
from botocore.model import ServiceModel
from botocore.validate import ParamValidator

TARGET_PREFIX = "DynamoDB_20120810."
CT = "application/x-amz-json-1.0"
NS_DDB = "com.amazonaws.dynamodb.v20120810#"
NS_CORAL = "com.amazon.coral.service#"
NS_VALIDATE = "com.amazon.coral.validate#"
NS_AVAIL = "com.amazon.coral.availability#"


class DdbError(Exception):
    """An answer in DynamoDB's error shape: {"__type": ..., "message": ...}."""

    def __init__(self, status, etype, message=None, capital=False):
        super().__init__(message or etype)
        self.status, self.etype, self.message, self.capital = status, etype, message, capital

    @property
    def code(self):
        return self.etype.rsplit("#", 1)[-1]

    def body(self):
        out = {"__type": self.etype}
        if self.message is not None:
            out["Message" if self.capital else "message"] = self.message
        return out


def validation(message):
    return DdbError(400, NS_DDB + "ValidationException", message)


def _load_model():
    raw = botocore.session.get_session().get_component("data_loader").load_service_model("dynamodb", "service-2")
    raw = copy.deepcopy(raw)
    shapes = raw["shapes"]
    # Newer than Debian's botocore (AWS API reference, PointInTimeRecoverySpecification /
    # PointInTimeRecoveryDescription): "Type: Integer. Valid Range: Minimum value of 1.
    # Maximum value of 35. Required: No".
    if "RecoveryPeriodInDays" not in shapes:
        shapes["RecoveryPeriodInDays"] = {"type": "integer", "min": 1, "max": 35}
    for s in ("PointInTimeRecoverySpecification", "PointInTimeRecoveryDescription"):
        shapes[s]["members"].setdefault("RecoveryPeriodInDays", {"shape": "RecoveryPeriodInDays"})
    return ServiceModel(raw, "dynamodb")


MODEL = _load_model()
OPERATIONS = set(MODEL.operation_names)
_VALIDATOR = ParamValidator()
MAX_NESTING = 32                  # "DynamoDB supports nested attributes up to 32 levels deep"


def enum_of(shape_name):
    return list(MODEL.shape_for(shape_name).enum)


# ---------------------------------------------------------------- the walk
def _lower_first(s):
    return s[:1].lower() + s[1:]


def _show(v):
    if isinstance(v, str):
        return v
    return json.dumps(v, separators=(",", ":"))


def _jtype(v):
    if isinstance(v, bool):
        return "TRUE_VALUE" if v else "FALSE_VALUE"
    if isinstance(v, int):
        return "NUMBER_VALUE"
    if isinstance(v, float):
        return "DECIMAL_VALUE"
    if isinstance(v, str):
        return "STRING_VALUE"
    return None


class _Walk:
    def __init__(self, constraints=True):
        self.constraints = constraints     # False: only types, required members, enums (answers)
        self.errors = []          # DynamoDB-style constraint messages
        self.serial = None        # first SerializationException message
        self.unknown = []         # unknown member paths
        self.depth = 0            # AttributeValues being walked, one inside the other
        self.too_deep = False

    def fail_type(self, msg):
        if self.serial is None:
            self.serial = msg

    def constraint(self, value, path, what):
        shown = "null" if value is None else f"'{_show(value)}'"
        self.errors.append(f"Value {shown} at '{path}' failed to satisfy constraint: Member must {what}")

    def walk(self, v, shape, path):
        t = shape.type_name
        if t == "structure":
            return self.structure(v, shape, path)
        if t == "list":
            if not isinstance(v, list):
                return self.fail_type("Start of structure or map found where not expected" if isinstance(v, dict)
                                      else "Unexpected field type")
            self.length(len(v), v, shape, path)
            for i, x in enumerate(v):
                if x is not None:
                    self.walk(x, shape.member, f"{path}.{i + 1}.member")
            return None
        if t == "map":
            if not isinstance(v, dict):
                return self.fail_type("Unrecognized collection type java.util.Map" if isinstance(v, list)
                                      else "Unexpected field type")
            self.length(len(v), v, shape, path)
            for k, x in v.items():
                self.string(k, shape.key, f"{path}.{k}.key")
                if x is not None:
                    self.walk(x, shape.value, f"{path}.{k}.member")
            return None
        if t == "string":
            return self.string(v, shape, path)
        if t in ("integer", "long"):
            if isinstance(v, bool) or not isinstance(v, int):
                if isinstance(v, (dict, list)):
                    return self.fail_type("Start of structure or map found where not expected")
                if isinstance(v, float) and v.is_integer():
                    return self.fail_type(f"DECIMAL_VALUE cannot be converted to {t.capitalize()} "
                                          "(the peer refuses non-integral JSON numbers here)")
                return self.fail_type(f"{_jtype(v)} cannot be converted to {t.capitalize()}")
            return self.range(v, shape, path)
        if t in ("double", "float"):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                return self.fail_type(f"{_jtype(v) or 'Start of structure or map'} cannot be converted to Double")
            return self.range(v, shape, path)
        if t == "boolean":
            if not isinstance(v, bool):
                return self.fail_type(f"{_jtype(v) or 'Start of structure or map'} cannot be converted to Boolean")
            return None
        if t == "timestamp":
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                return self.fail_type(f"{_jtype(v) or 'Start of structure or map'} cannot be converted to Date "
                                      "(a timestamp is epoch seconds as a JSON number)")
            return None
        if t == "blob":
            if not isinstance(v, str):
                return self.fail_type("only base-64-encoded strings are convertible to bytes")
            if len(v) % 4:
                return self.fail_type(f"Base64 encoded length is expected a multiple of 4 bytes but found: {len(v)}")
            try:
                base64.b64decode(v, validate=True)
            except (binascii.Error, ValueError):
                return self.fail_type("Invalid last non-pad Base64 character dectected")
            return None
        return None

    def structure(self, v, shape, path):
        if not isinstance(v, dict):
            return self.fail_type("Unrecognized collection type class " + shape.name if isinstance(v, list)
                                  else f"{_jtype(v)} cannot be converted to {shape.name}")
        if shape.name == "AttributeValue":
            self.depth += 1
            try:
                if self.depth > MAX_NESTING:
                    self.too_deep = True
                    return None
                return self._members(v, shape, path)
            finally:
                self.depth -= 1
        return self._members(v, shape, path)

    def _members(self, v, shape, path):
        members = shape.members
        for req in shape.required_members:
            if v.get(req) is None:
                self.constraint(None, (path + "." if path else "") + _lower_first(req), "not be null")
        for k, x in v.items():
            sub = (path + "." if path else "") + _lower_first(k)
            if k not in members:
                self.unknown.append((path + "." if path else "") + k)
                continue
            if x is not None:
                self.walk(x, members[k], sub)
        return None

    def string(self, v, shape, path):
        if not isinstance(v, str):
            if isinstance(v, (dict, list)):
                return self.fail_type("Start of structure or map found where not expected")
            return self.fail_type(f"{_jtype(v)} cannot be converted to String")
        enum = shape.enum
        if enum and v not in enum:
            self.constraint(v, path, f"satisfy enum value set: [{', '.join(enum)}]")
        pat = shape.metadata.get("pattern")
        if pat and self.constraints:
            try:
                ok = re.fullmatch(pat, v, re.S) is not None
            except re.error:
                ok = True
            if not ok:
                self.constraint(v, path, f"satisfy regular expression pattern: {pat}")
        self.length(len(v), v, shape, path)
        return None

    def length(self, n, v, shape, path):
        if not self.constraints:
            return
        lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
        if lo is not None and n < lo:
            self.constraint(v, path, f"have length greater than or equal to {lo}")
        if hi is not None and n > hi:
            self.constraint(v, path, f"have length less than or equal to {hi}")

    def range(self, v, shape, path):
        if not self.constraints:
            return
        lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
        if lo is not None and v < lo:
            self.constraint(v, path, f"have value greater than or equal to {lo}")
        if hi is not None and v > hi:
            self.constraint(v, path, f"have value less than or equal to {hi}")


def _drop_nulls(v):
    """DynamoDB treats a JSON null member as absent."""
    if isinstance(v, dict):
        return {k: _drop_nulls(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [_drop_nulls(x) for x in v]
    return v


def judge(op, params):
    """Check a request body (already JSON-decoded) for operation op.
    Returns the parameters with nulls removed, or raises DdbError."""
    if op not in OPERATIONS:
        raise DdbError(400, NS_CORAL + "UnknownOperationException")
    if not isinstance(params, dict):
        raise DdbError(400, NS_CORAL + "SerializationException",
                       "Unrecognized collection type" if isinstance(params, list) else
                       "Expected a JSON object as the request body", capital=True)
    shape = MODEL.operation_model(op).input_shape
    w = _Walk()
    w.walk(params, shape, "")
    if w.serial:
        raise DdbError(400, NS_CORAL + "SerializationException", w.serial, capital=True)
    if w.errors:
        n = len(w.errors)
        raise DdbError(400, NS_VALIDATE + "ValidationException",
                       f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(w.errors))
    if w.too_deep:
        raise validation("Nesting Levels have exceeded supported limits")
    if w.unknown:
        raise validation("peer: unknown member(s) " + ", ".join(f"'{u}'" for u in w.unknown) +
                         f" for {op} (DynamoDB would silently ignore them; the peer refuses them)")
    clean = _drop_nulls(params)
    report = _VALIDATOR.validate(clean, shape)
    if report.has_errors():
        raise validation("peer (botocore ParamValidator): " + report.generate_report().replace("\n", "; "))
    return clean


def check_output(op, data):
    """Self-check of an answer the peer builds itself; returns a list of problems."""
    shape = MODEL.operation_model(op).output_shape
    w = _Walk(constraints=False)
    w.walk(data, shape, "")
    return list(w.errors) + ([w.serial] if w.serial else []) + [f"unknown {u}" for u in w.unknown]


def check_shape(shape_name, data):
    """As check_output, for one named shape (e.g. ReplicaDescription)."""
    shape = MODEL.shape_for(shape_name)
    w = _Walk(constraints=False)
    w.walk(data, shape, "")
    return list(w.errors) + ([w.serial] if w.serial else []) + [f"unknown {u}" for u in w.unknown]
