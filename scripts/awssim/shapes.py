"""A small checker of AWS answers against botocore service models (shared/protocol/*.json):
member names, JSON types, enum values and required members, for awsJson bodies and for
query-protocol XML results.

Tests use it to prove the simulator's answers have the shape real clients parse. It knows
the botocore model format and nothing of the simulator.
"""

import json
import os
import xml.etree.ElementTree as ET

_HERE = os.path.dirname(os.path.abspath(__file__))


def protocol_dir():
    """shared/protocol: $ECRDIAG_PROTOCOL_DIR, else beside the repository (as laid out for
    CI), else /work/shared/protocol; None when none exists."""
    root = os.environ.get("ECRDIAG_ROOT") or os.path.dirname(os.path.dirname(_HERE))
    for cand in (os.environ.get("ECRDIAG_PROTOCOL_DIR"),
                 os.path.join(os.path.dirname(os.path.abspath(root)), "shared", "protocol"),
                 "/work/shared/protocol"):
        if cand and os.path.isdir(cand):
            return cand
    return None


def load_model(name):
    """A model by file prefix ('ecr', 'sts', 'organizations'); None when not available."""
    d = protocol_dir()
    if d is None:
        return None
    for f in sorted(os.listdir(d)):
        if f.startswith(name + "-") and f.endswith(".json"):
            with open(os.path.join(d, f), encoding="utf-8") as fh:
                return json.load(fh)
    return None


class ShapeChecker:
    def __init__(self, model):
        self.model = model
        self.shapes = model["shapes"]

    def output_shape(self, op):
        return self.model["operations"][op].get("output", {}).get("shape")

    def input_shape(self, op):
        return self.model["operations"][op].get("input", {}).get("shape")

    # ---- JSON ----

    def check_json(self, shape_name, value, path="$"):
        """Problems found in a decoded awsJson value against a shape (empty list: fine)."""
        errs = []
        self._json(shape_name, value, path, errs)
        return errs

    def check_output(self, op, value):
        name = self.output_shape(op)
        if name is None:
            return [] if value in ({}, None) else ["%s has no output but got %r" % (op, value)]
        return self.check_json(name, value)

    def check_input(self, op, value):
        name = self.input_shape(op)
        if name is None:
            return [] if value in ({}, None) else ["%s takes no input but got %r" % (op, value)]
        return self.check_json(name, value)

    def check_error(self, code, value):
        """An error body: __type must name an error shape of the model when it has one."""
        errs = []
        if not isinstance(value, dict) or "__type" not in value:
            return ["error body lacks __type: %r" % value]
        shape = self.shapes.get(code)
        if shape is not None:
            members = dict(value)
            members.pop("__type")
            self._json(code, members, "$", errs)
        return errs

    def _json(self, name, v, path, errs):
        s = self.shapes[name]
        t = s["type"]
        if t == "structure":
            if not isinstance(v, dict):
                errs.append("%s: %s wants an object, got %s" % (path, name, type(v).__name__))
                return
            members = s.get("members", {})
            for k, val in v.items():
                if k not in members:
                    errs.append("%s: %s has no member %r" % (path, name, k))
                    continue
                self._json(members[k]["shape"], val, "%s.%s" % (path, k), errs)
            for k in s.get("required", []):
                if k not in v:
                    errs.append("%s: %s requires %r" % (path, name, k))
        elif t == "list":
            if not isinstance(v, list):
                errs.append("%s: %s wants a list" % (path, name))
                return
            for i, item in enumerate(v):
                self._json(s["member"]["shape"], item, "%s[%d]" % (path, i), errs)
        elif t == "map":
            if not isinstance(v, dict):
                errs.append("%s: %s wants a map" % (path, name))
                return
            for k, item in v.items():
                self._json(s["value"]["shape"], item, "%s[%r]" % (path, k), errs)
        elif t == "string":
            if not isinstance(v, str):
                errs.append("%s: %s wants a string, got %r" % (path, name, v))
            elif "enum" in s and v not in s["enum"]:
                errs.append("%s: %r is not one of %s" % (path, v, s["enum"]))
        elif t in ("integer", "long"):
            if not isinstance(v, int) or isinstance(v, bool):
                errs.append("%s: %s wants an integer, got %r" % (path, name, v))
        elif t in ("double", "float"):
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                errs.append("%s: %s wants a number, got %r" % (path, name, v))
        elif t == "boolean":
            if not isinstance(v, bool):
                errs.append("%s: %s wants a boolean, got %r" % (path, name, v))
        elif t == "timestamp":
            # awsJson timestamps are epoch seconds as a JSON number.
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                errs.append("%s: %s wants epoch seconds, got %r" % (path, name, v))
        elif t == "blob":
            if not isinstance(v, str):
                errs.append("%s: %s wants base64 text" % (path, name))

    # ---- query protocol XML ----

    def check_query_output(self, op, body):
        """Problems in a query-protocol (STS) success body: the <OpResponse><OpResult>
        wrapper, member names, required members, and ResponseMetadata/RequestId."""
        errs = []
        try:
            root = ET.fromstring(body)
        except ET.ParseError as e:
            return ["not XML: %s" % e]
        ns = self.model["metadata"].get("xmlNamespace")
        if ns and not root.tag.startswith("{%s}" % ns):
            errs.append("root element %s is not in namespace %s" % (root.tag, ns))
        if _local(root.tag) != op + "Response":
            errs.append("root element is %s, not %sResponse" % (_local(root.tag), op))
        opm = self.model["operations"][op]
        wrapper = opm.get("output", {}).get("resultWrapper")
        kids = {_local(c.tag): c for c in root}
        if wrapper:
            if wrapper not in kids:
                errs.append("missing <%s>" % wrapper)
            else:
                self._xml(opm["output"]["shape"], kids[wrapper], wrapper, errs)
        meta = kids.get("ResponseMetadata")
        if meta is None or not any(_local(c.tag) == "RequestId" and (c.text or "").strip()
                                   for c in meta):
            errs.append("missing ResponseMetadata/RequestId")
        return errs

    def check_query_error(self, body):
        errs = []
        try:
            root = ET.fromstring(body)
        except ET.ParseError as e:
            return ["not XML: %s" % e]
        if _local(root.tag) != "ErrorResponse":
            errs.append("root element is %s, not ErrorResponse" % _local(root.tag))
        err = [c for c in root if _local(c.tag) == "Error"]
        if not err:
            return errs + ["missing <Error>"]
        fields = {_local(c.tag): (c.text or "") for c in err[0]}
        for k in ("Type", "Code", "Message"):
            if k not in fields:
                errs.append("missing Error/%s" % k)
        if fields.get("Type") not in ("Sender", "Receiver"):
            errs.append("Error/Type is %r" % fields.get("Type"))
        if not any(_local(c.tag) == "RequestId" for c in root):
            errs.append("missing RequestId")
        return errs

    def _xml(self, name, elem, path, errs):
        s = self.shapes[name]
        t = s["type"]
        if t == "structure":
            members = s.get("members", {})
            by_loc = {m.get("locationName", k): k for k, m in members.items()}
            seen = set()
            for c in elem:
                tag = _local(c.tag)
                if tag not in by_loc:
                    errs.append("%s: %s has no member <%s>" % (path, name, tag))
                    continue
                seen.add(by_loc[tag])
                self._xml(members[by_loc[tag]]["shape"], c, "%s/%s" % (path, tag), errs)
            for k in s.get("required", []):
                if k not in seen:
                    errs.append("%s: %s requires <%s>" % (path, name, k))
        elif t == "list":
            for i, c in enumerate(elem):
                if _local(c.tag) != s["member"].get("locationName", "member"):
                    errs.append("%s: list item <%s>" % (path, _local(c.tag)))
                self._xml(s["member"]["shape"], c, "%s[%d]" % (path, i), errs)
        elif list(elem):
            errs.append("%s: %s is a %s but has child elements" % (path, name, t))
        elif t in ("integer", "long"):
            try:
                int(elem.text or "")
            except ValueError:
                errs.append("%s: %r is not an integer" % (path, elem.text))
        elif t == "string" and "enum" in s and (elem.text or "") not in s["enum"]:
            errs.append("%s: %r is not one of %s" % (path, elem.text, s["enum"]))


def _local(tag):
    return tag.split("}", 1)[-1]
