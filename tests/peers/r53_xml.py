"""Route 53 REST-XML wire format for the test peer, driven by botocore's
route53 service model (API version 2013-04-01).

Request bodies are read the way Route 53 reads them: an XML Schema check
(element order is the model's member order, as the API reference's request
syntax requires; every element in the Route 53 namespace; facets and enums),
with Xerces-style messages ("Invalid XML ; cvc-complex-type.2.4.a: ...") as
Route 53 returns them in InvalidInput errors.  The parameters found are then
judged a second time by botocore's own ParamValidator.

Responses are built from the output shapes in member order so that botocore's
rest-xml parser (and so the aws CLI) reads them."""
import datetime
import re
import xml.parsers.expat
from xml.sax.saxutils import escape

import botocore.session
import botocore.validate

NS = "https://route53.amazonaws.com/doc/2013-04-01/"
MODEL = botocore.session.get_session().get_service_model("route53")
MAX_BODY = 1 << 20          # bytes of a request body we read at all
MAX_DEPTH = 32              # nesting of elements in a request body


class XmlInputError(Exception):
    """A request body Route 53 would refuse: code, HTTP status, message."""

    def __init__(self, code, message, status=400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _invalid(msg):
    return XmlInputError("InvalidInput", "Invalid XML ; " + msg)


# ---------------------------------------------------------------- parsing
class _Node:
    __slots__ = ("ns", "name", "attrs", "children", "text")

    def __init__(self, ns, name, attrs):
        self.ns, self.name, self.attrs = ns, name, attrs
        self.children, self.text = [], []


def _tree(body):
    """Parse bytes into _Node with namespaces resolved; no DTD, no entities."""
    if not body or not body.strip():
        return None
    p = xml.parsers.expat.ParserCreate(namespace_separator="}")
    root, stack = [None], []

    def start(tag, attrs):
        if len(stack) >= MAX_DEPTH:
            raise _invalid("element nesting too deep")
        ns, _, name = tag.rpartition("}")
        n = _Node(ns or None, name, attrs)
        if stack:
            stack[-1].children.append(n)
        else:
            root[0] = n
        stack.append(n)

    def end(_tag):
        stack.pop()

    def chars(data):
        if stack:
            stack[-1].text.append(data)

    def doctype(*_a):
        raise _invalid("DOCTYPE is disallowed")

    def entity(*_a):
        raise _invalid("entity declarations are disallowed")

    p.StartElementHandler, p.EndElementHandler = start, end
    p.CharacterDataHandler = chars
    p.StartDoctypeDeclHandler = doctype
    p.EntityDeclHandler = entity
    try:
        p.Parse(body, True)
    except xml.parsers.expat.ExpatError as e:
        raise _invalid(f"XML document is not well-formed: {xml.parsers.expat.ErrorString(e.code)} "
                       f"(line {e.lineno}, column {e.offset})")
    return root[0]


def _qn(name):
    return f'"{NS}":{name}'


def _expected(names):
    return "One of '{" + ", ".join(_qn(n) for n in names) + "}' is expected."


def _elem_name(m, shape):
    return shape.serialization.get("name", m)


def _body_members(shape):
    """(xml element name, member name, member shape) in model order, leaving
    out members bound to the URI, query string or headers."""
    out = []
    for m, ms in shape.members.items():
        if ms.serialization.get("location"):
            continue
        out.append((_elem_name(m, ms), m, ms))
    return out


def _check_attrs(node):
    for a in node.attrs:
        raise _invalid(f"cvc-complex-type.3.2.2: Attribute '{a}' is not allowed to appear in element "
                       f"'{node.name}'.")


def _parse_structure(node, shape):
    _check_attrs(node)
    if "".join(node.text).strip():
        raise _invalid(f"cvc-complex-type.2.3: Element '{node.name}' cannot have character [children], "
                       "because the type's content type is element-only.")
    members = _body_members(shape)
    required = set(shape.required_members)
    out, pos = {}, 0
    for child in node.children:
        j = pos
        while j < len(members) and not (members[j][0] == child.name and child.ns == NS):
            j += 1
        skipped_required = [m for _, m, _ in members[pos:j] if m in required]
        if j == len(members) or skipped_required:
            if pos == len(members):
                raise _invalid(f"cvc-complex-type.2.4.d: Invalid content was found starting with element "
                               f"'{child.name}'. No child element is expected at this point.")
            raise _invalid(f"cvc-complex-type.2.4.a: Invalid content was found starting with element "
                           f"'{child.name}'. " + _expected(_next_names(members, pos, required)))
        _, mname, mshape = members[j]
        out[mname] = _parse_value(child, mshape)
        pos = j + 1
    missing = [m for _, m, _ in members[pos:] if m in required]
    if missing:
        raise _invalid(f"cvc-complex-type.2.4.b: The content of element '{node.name}' is not complete. "
                       + _expected(_next_names(members, pos, required)))
    return out


def _next_names(members, pos, required):
    names = []
    for name, m, _ in members[pos:]:
        names.append(name)
        if m in required:
            break
    return names


def _parse_list(node, shape):
    _check_attrs(node)
    if "".join(node.text).strip():
        raise _invalid(f"cvc-complex-type.2.3: Element '{node.name}' cannot have character [children], "
                       "because the type's content type is element-only.")
    item = shape.member.serialization.get("name", "member")
    out = []
    for child in node.children:
        if child.name != item or child.ns != NS:
            raise _invalid(f"cvc-complex-type.2.4.a: Invalid content was found starting with element "
                           f"'{child.name}'. " + _expected([item]))
        out.append(_parse_value(child, shape.member))
    lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
    if lo is not None and len(out) < lo:
        raise _invalid(f"cvc-complex-type.2.4.b: The content of element '{node.name}' is not complete. "
                       + _expected([item]))
    if hi is not None and len(out) > hi:
        raise _invalid(f"cvc-complex-type.2.4.d: Invalid content was found starting with element "
                       f"'{item}'. No child element is expected at this point.")
    return out


_INT = re.compile(r"[+-]?[0-9]+\Z")


def _parse_scalar(node, shape):
    _check_attrs(node)
    if node.children:
        raise _invalid(f"cvc-type.3.1.2: Element '{node.name}' is a simple type, so it must have no "
                       "element information item [children].")
    text = "".join(node.text)
    t = shape.type_name
    if t in ("long", "integer"):
        v = text.strip()
        if not _INT.match(v):
            raise _invalid(f"cvc-datatype-valid.1.2.1: '{v}' is not a valid value for 'integer'.")
        value = int(v)
        if "min" in shape.metadata and value < shape.metadata["min"]:
            raise _invalid(f"cvc-minInclusive-valid: Value '{v}' is not facet-valid with respect to "
                           f"minInclusive '{shape.metadata['min']}' for type '{shape.name}'.")
        if "max" in shape.metadata and value > shape.metadata["max"]:
            raise _invalid(f"cvc-maxInclusive-valid: Value '{v}' is not facet-valid with respect to "
                           f"maxInclusive '{shape.metadata['max']}' for type '{shape.name}'.")
        return value
    if t == "boolean":
        v = text.strip()
        if v not in ("true", "false", "1", "0"):
            raise _invalid(f"cvc-datatype-valid.1.2.1: '{v}' is not a valid value for 'boolean'.")
        return v in ("true", "1")
    if t == "string":
        if shape.enum and text not in shape.enum:
            raise _invalid(f"cvc-enumeration-valid: Value '{text}' is not facet-valid with respect to "
                           f"enumeration '[{', '.join(shape.enum)}]'. It must be a value from the enumeration.")
        if "max" in shape.metadata and len(text) > shape.metadata["max"]:
            raise _invalid(f"cvc-maxLength-valid: Value '{text[:64]}' with length = '{len(text)}' is not "
                           f"facet-valid with respect to maxLength '{shape.metadata['max']}' for type "
                           f"'{shape.name}'.")
        if "min" in shape.metadata and len(text) < shape.metadata["min"]:
            raise _invalid(f"cvc-minLength-valid: Value '{text}' with length = '{len(text)}' is not "
                           f"facet-valid with respect to minLength '{shape.metadata['min']}' for type "
                           f"'{shape.name}'.")
        pat = shape.metadata.get("pattern")
        if pat and not re.fullmatch(pat, text):
            raise _invalid(f"cvc-pattern-valid: Value '{text}' is not facet-valid with respect to pattern "
                           f"'{pat}' for type '{shape.name}'.")
        return text
    raise _invalid(f"element '{node.name}' has an unsupported type {t}")


def _parse_value(node, shape):
    if shape.type_name == "structure":
        return _parse_structure(node, shape)
    if shape.type_name == "list":
        return _parse_list(node, shape)
    return _parse_scalar(node, shape)


def parse_request(op_name, body, uri_params):
    """Parse and validate the XML body of op_name; returns the botocore-shaped
    parameters (uri_params merged in).  Raises XmlInputError."""
    op = MODEL.operation_model(op_name)
    shape = op.input_shape
    root_name = shape.serialization.get("name", shape.name)
    if len(body) > MAX_BODY:
        raise XmlInputError("InvalidInput", "Request body is too large")
    root = _tree(body)
    if root is None:
        raise XmlInputError("MalformedInput", f"Expected {root_name}")
    if root.name != root_name:
        raise XmlInputError("MalformedInput", f"{root.name} is not valid, expected {root_name}")
    if root.ns != NS:
        raise _invalid(f"cvc-elt.1: Cannot find the declaration of element '{root_name}'.")
    params = _parse_structure(root, shape)
    params.update(uri_params)
    judge(shape, params)
    return params


def judge(shape, params):
    """botocore's ParamValidator (required members, types, minimums) plus what
    it leaves out: enums, maximum lengths and values."""
    report = botocore.validate.ParamValidator().validate(params, shape)
    if report.has_errors():
        raise XmlInputError("InvalidInput", report.generate_report())
    errs = []
    _facets(shape, params, shape.name, errs)
    if errs:
        n = len(errs)
        raise XmlInputError("InvalidInput", f"{n} validation error{'s' if n > 1 else ''} detected: "
                            + "; ".join(errs))


def _facets(shape, value, path, errs):
    t = shape.type_name
    if t == "structure" and isinstance(value, dict):
        for k, v in value.items():
            if k in shape.members:
                _facets(shape.members[k], v, f"{path}.{k[0].lower() + k[1:]}", errs)
    elif t == "list" and isinstance(value, list):
        for i, v in enumerate(value):
            _facets(shape.member, v, f"{path}.{i + 1}.member", errs)
    elif t == "string" and isinstance(value, str):
        if shape.enum and value not in shape.enum:
            errs.append(f"Value '{value}' at '{path}' failed to satisfy constraint: Member must satisfy "
                        f"enum value set: [{', '.join(shape.enum)}]")
        if "max" in shape.metadata and len(value) > shape.metadata["max"]:
            errs.append(f"Value at '{path}' failed to satisfy constraint: Member must have length less "
                        f"than or equal to {shape.metadata['max']}")
    elif t in ("long", "integer") and isinstance(value, int):
        if "max" in shape.metadata and value > shape.metadata["max"]:
            errs.append(f"Value '{value}' at '{path}' failed to satisfy constraint: Member must have value "
                        f"less than or equal to {shape.metadata['max']}")


# ---------------------------------------------------------------- building
def timestamp(wall):
    """ISO 8601 with milliseconds, as Route 53 writes SubmittedAt."""
    d = datetime.datetime.fromtimestamp(wall, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


def _emit(out, name, shape, value):
    t = shape.type_name
    if t == "structure":
        out.append(f"<{name}>")
        for m, ms in shape.members.items():
            if m in value and value[m] is not None:
                _emit(out, _elem_name(m, ms), ms, value[m])
        for r in shape.required_members:
            if r not in value:
                raise AssertionError(f"peer bug: response {shape.name} lacks required {r}")
        out.append(f"</{name}>")
    elif t == "list":
        item = shape.member.serialization.get("name", "member")
        out.append(f"<{name}>")
        for v in value:
            _emit(out, item, shape.member, v)
        out.append(f"</{name}>")
    elif t == "boolean":
        out.append(f"<{name}>{'true' if value else 'false'}</{name}>")
    elif t == "timestamp":
        out.append(f"<{name}>{timestamp(value)}</{name}>")
    else:
        out.append(f"<{name}>{escape(str(value))}</{name}>")


def build_response(op_name, data):
    """The XML answer of op_name from botocore-shaped data."""
    shape = MODEL.operation_model(op_name).output_shape
    out = []
    _emit(out, shape.name, shape, data)
    out[0] = f'<{shape.name} xmlns="{NS}">'
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + "".join(out)).encode()


def error_xml(code, message, request_id, etype="Sender"):
    return (f'<?xml version="1.0"?>\n<ErrorResponse xmlns="{NS}"><Error><Type>{etype}</Type>'
            f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>").encode()


def invalid_change_batch_xml(messages, request_id, form="standard"):
    """InvalidChangeBatch as Route 53 sends it today ("standard": an
    ErrorResponse whose Message is "[m1, m2]") or in the older form with its
    own root element ("legacy")."""
    if form == "legacy":
        items = "".join(f"<Message>{escape(m)}</Message>" for m in messages)
        return (f'<?xml version="1.0"?>\n<InvalidChangeBatch xmlns="{NS}"><Messages>{items}</Messages>'
                f"<RequestId>{request_id}</RequestId></InvalidChangeBatch>").encode()
    return error_xml("InvalidChangeBatch", "[" + ", ".join(messages) + "]", request_id)
