"""AWS service models for the test endpoint: render responses from them and check XML against them.

DESIGN: botocore's service models (EC2, STS, CloudTrail) are the single source of truth for the
wire shape. render_* turns a value in the aws CLI's JSON shape (PascalCase member names, the
same files `collect --from-files` reads) into the service's XML by walking the output shape;
check_* walks the XML a server emitted against the same model and raises XmlDrift on anything
botocore's lenient parser would silently drop (toolchain-facts G14): unknown or duplicated
elements, a list that does not use its item element, scalars that do not parse, enum values the
model does not know, a wrong root element or namespace. The EC2 model is taken from the newest
copy on the machine (the aws CLI v2 package vendors a newer botocore than python3-botocore; only
the newer one knows the resource-discovery operations).
"""

import datetime
import json
import math
import os
import re
import xml.etree.ElementTree as ET

from botocore.model import ServiceModel

EC2_NS = "http://ec2.amazonaws.com/doc/2016-11-15/"
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"

_DATA_ROOTS = [
    "/usr/lib/python3/dist-packages/awscli/botocore/data",
    "/usr/lib/python3/dist-packages/botocore/data",
]
_API = {"ec2": "2016-11-15", "sts": "2011-06-15", "cloudtrail": "2013-11-01"}
_models = {}
_paginators = {}


class XmlDrift(Exception):
    """A response does not match the service model (path and reason in the message)."""


def _find(service, name):
    for root in _DATA_ROOTS:
        path = os.path.join(root, service, _API[service], name)
        if os.path.exists(path):
            return path
    raise FileNotFoundError("no botocore %s for %s" % (name, service))


def model(service):
    """The botocore ServiceModel of service ('ec2', 'sts', 'cloudtrail'), loaded once."""
    if service not in _models:
        with open(_find(service, "service-2.json"), encoding="utf-8") as f:
            _models[service] = ServiceModel(json.load(f), service_name=service)
    return _models[service]


def paginator(service, operation):
    """The paginators-1.json entry of operation (input_token, limit_key, result_key)."""
    if service not in _paginators:
        with open(_find(service, "paginators-1.json"), encoding="utf-8") as f:
            _paginators[service] = json.load(f)["pagination"]
    return _paginators[service][operation]


def model_path(service):
    """Path of the service-2.json in use (for reports)."""
    return _find(service, "service-2.json")


# ---------------------------------------------------------------------------------------------
# Scalars


def xml_escape(s):
    """Text and attribute escaping for XML 1.0."""
    if "&" in s:
        s = s.replace("&", "&amp;")
    if "<" in s:
        s = s.replace("<", "&lt;")
    if ">" in s:
        s = s.replace(">", "&gt;")
    if '"' in s:
        s = s.replace('"', "&quot;")
    return s


def parse_timestamp(value):
    """A timestamp from the CLI JSON (ISO 8601 string or epoch number) as an aware datetime."""
    if isinstance(value, (int, float)):
        return datetime.datetime.fromtimestamp(value, tz=datetime.timezone.utc)
    s = value.strip()
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    dt = datetime.datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return dt.astimezone(datetime.timezone.utc)


def xml_timestamp(value):
    """ISO 8601 UTC with milliseconds, as EC2 and STS write timestamps."""
    dt = parse_timestamp(value)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


def cli_timestamp(dt):
    """The aws CLI v2 rendering of a timestamp (datetime.isoformat with +00:00)."""
    return dt.astimezone(datetime.timezone.utc).isoformat()


def _double(v):
    r = repr(float(v))
    if "e" in r or "E" in r:
        r = ("%.17f" % float(v)).rstrip("0")
        if r.endswith("."):
            r += "0"
    return r


def _scalar_text(shape, value, path):
    t = shape.type_name
    if t == "string":
        if not isinstance(value, str):
            raise XmlDrift("%s: string expected, got %r" % (path, value))
        if shape.enum and value not in shape.enum:
            raise XmlDrift("%s: %r is not one of %s" % (path, value, shape.name))
        return xml_escape(value)
    if t in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise XmlDrift("%s: integer expected, got %r" % (path, value))
        return str(value)
    if t == "boolean":
        if not isinstance(value, bool):
            raise XmlDrift("%s: boolean expected, got %r" % (path, value))
        return "true" if value else "false"
    if t in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise XmlDrift("%s: number expected, got %r" % (path, value))
        return _double(value)
    if t == "timestamp":
        return xml_timestamp(value)
    raise XmlDrift("%s: cannot render type %s" % (path, t))


# ---------------------------------------------------------------------------------------------
# Rendering (CLI JSON -> XML)


def _member_xml_name(name, mshape):
    return mshape.serialization.get("name", name)


def render_value(shape, value, path="", list_item="item"):
    """XML content (without the enclosing element) of value in shape; raises XmlDrift on keys the
    model does not know. list_item is the element name lists use when the model names none."""
    t = shape.type_name
    if t == "structure":
        if not isinstance(value, dict):
            raise XmlDrift("%s: object expected for %s" % (path, shape.name))
        members = shape.members
        for k in value:
            if k not in members:
                raise XmlDrift("%s: %s has no member %s" % (path, shape.name, k))
        out = []
        for name, mshape in members.items():
            if name not in value or value[name] is None:
                continue
            tag = _member_xml_name(name, mshape)
            out.append(_render_member(tag, mshape, value[name], path + "/" + name, list_item))
        return "".join(out)
    if t == "list":
        raise XmlDrift("%s: list outside a member" % path)
    if t == "map":
        raise XmlDrift("%s: maps are not used by these operations" % path)
    return _scalar_text(shape, value, path)


def _render_member(tag, mshape, value, path, list_item):
    if mshape.type_name == "list":
        if not isinstance(value, list):
            raise XmlDrift("%s: list expected" % path)
        item = mshape.member.serialization.get("name", list_item)
        parts = [
            "<%s>%s</%s>" % (item, render_value(mshape.member, v, path + "[]", list_item), item)
            for v in value
        ]
        if mshape.serialization.get("flattened"):
            return "".join(
                "<%s>%s</%s>" % (tag, render_value(mshape.member, v, path, list_item), tag)
                for v in value
            )
        if not parts:
            return "<%s/>" % tag
        return "<%s>%s</%s>" % (tag, "".join(parts), tag)
    return "<%s>%s</%s>" % (tag, render_value(mshape, value, path, list_item), tag)


def ec2_output(operation):
    """(output shape, result member name, result member xml name) of a paginated EC2 operation."""
    op = model("ec2").operation_model(operation)
    result_key = paginator("ec2", operation)["result_key"]
    mshape = op.output_shape.members[result_key]
    return op.output_shape, result_key, _member_xml_name(result_key, mshape)


def ec2_item_renderer(operation):
    """A function item(dict) -> bytes rendering one list item of operation's result list."""
    _, result_key, _ = ec2_output(operation)
    lshape = ec2_output(operation)[0].members[result_key]
    ishape = lshape.member
    tag = ishape.serialization.get("name", "item")

    def render(item):
        return ("<%s>%s</%s>" % (tag, render_value(ishape, item, result_key), tag)).encode()

    return render


def ec2_page_parts(operation, request_id):
    """(head, tail_before_token) byte strings around the items of one page of operation."""
    _, _, list_tag = ec2_output(operation)
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<%sResponse xmlns="%s"><requestId>%s</requestId><%s>'
        % (operation, EC2_NS, request_id, list_tag)
    ).encode()
    return head, ("</%s>" % list_tag).encode()


def ec2_page_end(operation, next_token):
    """Bytes closing a page: the nextToken element when there is one, then the root end tag."""
    tok = "<nextToken>%s</nextToken>" % xml_escape(next_token) if next_token else ""
    return ("%s</%sResponse>" % (tok, operation)).encode()


def ec2_error(code, message, request_id):
    """The EC2 error document."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>%s</Code>'
        "<Message>%s</Message></Error></Errors><RequestID>%s</RequestID></Response>"
        % (xml_escape(code), xml_escape(message), request_id)
    ).encode()


def sts_response(operation, result, request_id):
    """A full STS success document for operation with result (CLI JSON shape)."""
    op = model("sts").operation_model(operation)
    wrapper = op.output_shape.serialization.get("resultWrapper", operation + "Result")
    body = render_value(op.output_shape, result, operation, list_item="member")
    return (
        '<%sResponse xmlns="%s"><%s>%s</%s><ResponseMetadata><RequestId>%s</RequestId>'
        "</ResponseMetadata></%sResponse>"
        % (operation, STS_NS, wrapper, body, wrapper, request_id, operation)
    ).encode()


def sts_error(code, message, request_id, sender=True):
    """The STS (plain Query protocol) error document."""
    return (
        '<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message>'
        "</Error><RequestId>%s</RequestId></ErrorResponse>"
        % (
            STS_NS,
            "Sender" if sender else "Receiver",
            xml_escape(code),
            xml_escape(message),
            request_id,
        )
    ).encode()


# ---------------------------------------------------------------------------------------------
# Strict checking (XML -> model walk)

_TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
_INT_RE = re.compile(r"^-?\d+$")


def _local(tag):
    return tag.rsplit("}", 1)[-1]


def _ns(tag):
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def _check_scalar(shape, el, path):
    if len(el):
        raise XmlDrift("%s: scalar %s has child elements" % (path, shape.name))
    text = el.text or ""
    t = shape.type_name
    if t == "string":
        if shape.enum and text not in shape.enum:
            raise XmlDrift("%s: %r is not a value of %s" % (path, text, shape.name))
        lo = shape.metadata.get("min")
        hi = shape.metadata.get("max")
        if lo is not None and len(text) < lo or hi is not None and len(text) > hi:
            raise XmlDrift("%s: length %d outside %s..%s" % (path, len(text), lo, hi))
        pat = shape.metadata.get("pattern")
        if pat and not re.search(pat, text):
            raise XmlDrift("%s: %r does not match %s" % (path, text, pat))
    elif t in ("integer", "long"):
        if not _INT_RE.match(text):
            raise XmlDrift("%s: %r is not an integer" % (path, text))
        v = int(text)
        lo = shape.metadata.get("min")
        hi = shape.metadata.get("max")
        if lo is not None and v < lo or hi is not None and v > hi:
            raise XmlDrift("%s: %d outside %s..%s" % (path, v, lo, hi))
    elif t == "boolean":
        if text not in ("true", "false"):
            raise XmlDrift("%s: %r is not a boolean" % (path, text))
    elif t in ("double", "float"):
        try:
            v = float(text)
        except ValueError:
            raise XmlDrift("%s: %r is not a number" % (path, text)) from None
        if not math.isfinite(v):
            raise XmlDrift("%s: %r is not finite" % (path, text))
    elif t == "timestamp":
        if not _TS_RE.match(text):
            raise XmlDrift("%s: %r is not an ISO 8601 timestamp" % (path, text))
    else:
        raise XmlDrift("%s: unexpected type %s" % (path, t))


def _check_shape(shape, el, path, count):
    t = shape.type_name
    if t == "structure":
        _check_struct(shape, el, path, count, ())
    elif t == "list":
        item = shape.member.serialization.get("name", "member")
        if (el.text or "").strip():
            raise XmlDrift("%s: text inside a list" % path)
        for i, child in enumerate(el):
            if _local(child.tag) != item:
                raise XmlDrift("%s: list element <%s>, expected <%s>" % (path, _local(child.tag), item))
            _check_shape(shape.member, child, "%s[%d]" % (path, i), count)
    elif t == "map":
        raise XmlDrift("%s: maps are not expected" % path)
    else:
        count[0] += 1
        _check_scalar(shape, el, path)


def _check_struct(shape, el, path, count, extra):
    by_tag = {}
    for name, mshape in shape.members.items():
        by_tag[_member_xml_name(name, mshape)] = (name, mshape)
    seen = set()
    if (el.text or "").strip():
        raise XmlDrift("%s: text inside structure %s" % (path, shape.name))
    for child in el:
        tag = _local(child.tag)
        if tag in extra:
            continue
        if tag not in by_tag:
            raise XmlDrift("%s: <%s> is not a member of %s" % (path, tag, shape.name))
        name, mshape = by_tag[tag]
        flat = mshape.type_name == "list" and mshape.serialization.get("flattened")
        if tag in seen and not flat:
            raise XmlDrift("%s: <%s> repeated" % (path, tag))
        seen.add(tag)
        if flat:
            _check_shape(mshape.member, child, path + "/" + tag, count)
        else:
            _check_shape(mshape, child, path + "/" + tag, count)
    for req in shape.required_members:
        mshape = shape.members[req]
        if _member_xml_name(req, mshape) not in seen:
            raise XmlDrift("%s: required member %s missing" % (path, req))


def _parse(body):
    try:
        return ET.fromstring(body)
    except ET.ParseError as e:
        raise XmlDrift("not well-formed XML: %s" % e) from None


def check_ec2_response(operation, body):
    """Validate an EC2 success document of operation; returns the number of scalar values
    checked. Raises XmlDrift on the first deviation from the model."""
    root = _parse(body)
    if _local(root.tag) != operation + "Response":
        raise XmlDrift("root <%s>, expected <%sResponse>" % (_local(root.tag), operation))
    if _ns(root.tag) != EC2_NS:
        raise XmlDrift("namespace %r, expected %r" % (_ns(root.tag), EC2_NS))
    for el in root.iter():
        if _ns(el.tag) != EC2_NS:
            raise XmlDrift("<%s> outside the EC2 namespace" % _local(el.tag))
    kids = list(root)
    if not kids or _local(kids[0].tag) != "requestId" or not (kids[0].text or "").strip():
        raise XmlDrift("first child must be a non-empty <requestId>")
    if sum(1 for k in kids if _local(k.tag) == "requestId") != 1:
        raise XmlDrift("<requestId> repeated")
    count = [0]
    out = model("ec2").operation_model(operation).output_shape
    _check_struct(out, root, operation + "Response", count, ("requestId",))
    return count[0]


def check_ec2_error(body):
    """Validate an EC2 error document; returns (code, message)."""
    root = _parse(body)
    if root.tag != "Response":
        raise XmlDrift("error root <%s>, expected <Response> without namespace" % root.tag)
    tags = [c.tag for c in root]
    if tags != ["Errors", "RequestID"]:
        raise XmlDrift("error children %s, expected Errors, RequestID" % tags)
    errs = list(root[0])
    if len(errs) != 1 or errs[0].tag != "Error":
        raise XmlDrift("<Errors> must hold one <Error>")
    if [c.tag for c in errs[0]] != ["Code", "Message"]:
        raise XmlDrift("<Error> children %s" % [c.tag for c in errs[0]])
    if not (root[1].text or "").strip():
        raise XmlDrift("empty <RequestID>")
    return errs[0][0].text or "", errs[0][1].text or ""


def check_sts_response(operation, body):
    """Validate an STS success document; returns the number of scalar values checked."""
    root = _parse(body)
    if _local(root.tag) != operation + "Response" or _ns(root.tag) != STS_NS:
        raise XmlDrift("root %s, expected {%s}%sResponse" % (root.tag, STS_NS, operation))
    op = model("sts").operation_model(operation)
    wrapper = op.output_shape.serialization.get("resultWrapper", operation + "Result")
    tags = [_local(c.tag) for c in root]
    if tags != [wrapper, "ResponseMetadata"]:
        raise XmlDrift("children %s, expected %s, ResponseMetadata" % (tags, wrapper))
    meta = root[1]
    if [_local(c.tag) for c in meta] != ["RequestId"] or not (meta[0].text or "").strip():
        raise XmlDrift("ResponseMetadata must hold one non-empty RequestId")
    count = [0]
    _check_struct(op.output_shape, root[0], wrapper, count, ())
    return count[0]


def check_sts_error(body):
    """Validate an STS error document; returns (code, message)."""
    root = _parse(body)
    if _local(root.tag) != "ErrorResponse" or _ns(root.tag) != STS_NS:
        raise XmlDrift("error root %s" % root.tag)
    tags = [_local(c.tag) for c in root]
    if tags != ["Error", "RequestId"]:
        raise XmlDrift("error children %s" % tags)
    err = {_local(c.tag): c.text or "" for c in root[0]}
    if set(err) != {"Type", "Code", "Message"} or err["Type"] not in ("Sender", "Receiver"):
        raise XmlDrift("<Error> members %s" % sorted(err))
    return err["Code"], err["Message"]


def check_cloudtrail_lookup(doc):
    """Validate a LookupEvents JSON response (parsed) against the CloudTrail model; returns the
    number of events. CloudTrail speaks JSON 1.1: timestamps are epoch numbers."""
    out = model("cloudtrail").operation_model("LookupEvents").output_shape
    _check_json(out, doc, "LookupEvents")
    for ev in doc.get("Events", []):
        json.loads(ev.get("CloudTrailEvent", "{}"))
    return len(doc.get("Events", []))


def _check_json(shape, value, path):
    t = shape.type_name
    if t == "structure":
        if not isinstance(value, dict):
            raise XmlDrift("%s: object expected" % path)
        for k, v in value.items():
            if k not in shape.members:
                raise XmlDrift("%s: %s has no member %s" % (path, shape.name, k))
            _check_json(shape.members[k], v, path + "/" + k)
    elif t == "list":
        if not isinstance(value, list):
            raise XmlDrift("%s: array expected" % path)
        for i, v in enumerate(value):
            _check_json(shape.member, v, "%s[%d]" % (path, i))
    elif t == "timestamp":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise XmlDrift("%s: epoch seconds expected, got %r" % (path, value))
    elif t == "string":
        if not isinstance(value, str):
            raise XmlDrift("%s: string expected, got %r" % (path, value))
        if shape.enum and value not in shape.enum:
            raise XmlDrift("%s: %r not in %s" % (path, value, shape.name))
    elif t in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise XmlDrift("%s: integer expected" % path)
    elif t == "boolean":
        if not isinstance(value, bool):
            raise XmlDrift("%s: boolean expected" % path)


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 4 or sys.argv[1] not in ("ec2", "sts"):
        sys.stderr.write("usage: aws_model.py ec2|sts OPERATION FILE.xml\n")
        sys.exit(2)
    with open(sys.argv[3], "rb") as fh:
        data = fh.read()
    try:
        if sys.argv[1] == "ec2":
            n = check_ec2_response(sys.argv[2], data)
        else:
            n = check_sts_response(sys.argv[2], data)
    except XmlDrift as e:
        print("drift: %s" % e)
        sys.exit(1)
    print("ok: %d values match the %s model" % (n, sys.argv[1]))
