"""SigV4 (AWS4-HMAC-SHA256) signing and verification, Python standard library only.

The simulator verifies every AWS API request with `verify()`, and `client.py` and the tests
sign with `sign()`; both build the canonical request with the same functions, and the unit
test checks every stage against the aws-c-auth suite in shared/protocol/sigv4. This module
knows nothing of the simulator: no scenario, no HTTP server, no clock of its own.
"""

import datetime
import hashlib
import hmac
import posixpath
import re
import urllib.parse

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def sha256_hex(data):
    """Hex SHA-256 of bytes (or of a str encoded as UTF-8)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def _hmac(key, msg):
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret, date, region, service):
    """The derived key kSigning for one day/region/service scope."""
    k_date = _hmac(("AWS4" + secret).encode("utf-8"), date)
    k_region = _hmac(k_date, region)
    k_service = _hmac(k_region, service)
    return _hmac(k_service, "aws4_request")


def normalize_path(path):
    """Remove dot segments and empty segments, as SigV4 does for every service but S3.

    A trailing slash survives because the suite's get-slash-* cases keep it.
    """
    if not path:
        return "/"
    collapsed = re.sub(r"/+", "/", path)
    norm = posixpath.normpath(collapsed)
    if norm in (".", ""):
        norm = "/"
    if not norm.startswith("/"):
        norm = "/" + norm
    if collapsed.endswith("/") and not norm.endswith("/"):
        norm += "/"
    return norm


def canonical_uri(path, normalize=True):
    """URI-encode the path as it appears in the request line.

    The path on the wire is already percent-encoded once; encoding it again here is the
    "encode twice" rule of the SigV4 spec, and what botocore does (quote(path, safe='/~')).
    """
    p = normalize_path(path) if normalize else (path or "/")
    return urllib.parse.quote(p, safe="/~")


def canonical_query(raw_query):
    """Sorted, re-encoded query string; keys without '=' get an empty value."""
    pairs = []
    for part in (raw_query or "").split("&"):
        if not part:
            continue
        k, _, v = part.partition("=")
        k = urllib.parse.quote(urllib.parse.unquote(k), safe="-_.~")
        v = urllib.parse.quote(urllib.parse.unquote(v), safe="-_.~")
        pairs.append((k, v))
    pairs.sort()
    return "&".join("%s=%s" % kv for kv in pairs)


def canonical_headers(header_pairs, signed_names):
    """The canonical header block for the names listed in SignedHeaders.

    Repeated headers are joined with ',' in order of appearance and whitespace runs
    (including folded continuation lines) collapse to one space, as botocore does.
    """
    values = {}
    for name, value in header_pairs:
        n = name.strip().lower()
        if n in signed_names:
            values.setdefault(n, []).append(" ".join(str(value).split()))
    return "".join("%s:%s\n" % (n, ",".join(values.get(n, []))) for n in signed_names)


def payload_hash(header_pairs, body):
    for name, value in header_pairs:
        if name.strip().lower() == "x-amz-content-sha256":
            return value.strip()
    return sha256_hex(body or b"")


def compute(method, path, query, header_pairs, body, signed_names, amz_date, scope, secret,
            normalize=True):
    """Every stage of a signature: returns dict canonical_request, string_to_sign, signature.

    scope is "DATE/REGION/SERVICE/aws4_request"; signed_names is the sorted list of
    lower-case header names.
    """
    creq = "\n".join([
        method.upper(),
        canonical_uri(path, normalize),
        canonical_query(query),
        canonical_headers(header_pairs, signed_names),
        ";".join(signed_names),
        payload_hash(header_pairs, body),
    ])
    sts = "\n".join([ALGORITHM, amz_date, scope, sha256_hex(creq)])
    date, region, service, _ = scope.split("/", 3)
    key = signing_key(secret, date, region, service)
    sig = hmac.new(key, sts.encode("utf-8"), hashlib.sha256).hexdigest()
    return {"canonical_request": creq, "string_to_sign": sts, "signature": sig}


class AuthHeaderError(ValueError):
    """The Authorization header is not a complete SigV4 header (IncompleteSignature)."""


def parse_authorization(value):
    """Split an AWS4-HMAC-SHA256 Authorization header into its parts.

    Returns dict access_key, date, region, service, scope, signed_headers (list),
    signature. Raises AuthHeaderError with AWS-like wording on anything malformed.
    """
    value = (value or "").strip()
    if not value.startswith(ALGORITHM):
        raise AuthHeaderError("Unsupported Authorization Type")
    rest = value[len(ALGORITHM):].strip()
    fields = {}
    for part in rest.split(","):
        part = part.strip()
        if not part:
            continue
        k, sep, v = part.partition("=")
        if not sep:
            raise AuthHeaderError("'%s' not a valid key=value pair (missing equal-sign) in "
                                  "Authorization header: '%s'." % (part, value))
        fields[k.strip()] = v.strip()
    missing = [k for k in ("Credential", "SignedHeaders", "Signature") if k not in fields]
    if missing:
        raise AuthHeaderError(" ".join("Authorization header requires '%s' parameter." % k
                                       for k in missing))
    cred = fields["Credential"].split("/")
    if len(cred) != 5 or cred[4] != "aws4_request" or not cred[0]:
        raise AuthHeaderError("Credential should be scoped to a valid region and service, "
                              "and end with 'aws4_request': '%s'." % fields["Credential"])
    return {
        "access_key": cred[0],
        "date": cred[1],
        "region": cred[2],
        "service": cred[3],
        "scope": "/".join(cred[1:]),
        "signed_headers": [h for h in fields["SignedHeaders"].lower().split(";") if h],
        "signature": fields["Signature"],
    }


def request_amz_date(header_pairs):
    """The request time as YYYYMMDDTHHMMSSZ from X-Amz-Date, else from Date; None if absent."""
    date_hdr = None
    for name, value in header_pairs:
        n = name.strip().lower()
        if n == "x-amz-date":
            return value.strip()
        if n == "date":
            date_hdr = value.strip()
    if date_hdr:
        try:
            dt = datetime.datetime.strptime(date_hdr, "%a, %d %b %Y %H:%M:%S GMT")
            return dt.strftime("%Y%m%dT%H%M%SZ")
        except ValueError:
            return None
    return None


def parse_amz_date(amz_date):
    """Epoch seconds of a YYYYMMDDTHHMMSSZ stamp, or None."""
    try:
        dt = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
    except (TypeError, ValueError):
        return None
    return dt.replace(tzinfo=datetime.timezone.utc).timestamp()


def format_amz_date(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def verify(method, path, query, header_pairs, body, auth, secret, normalize=True):
    """Recompute the signature of a request whose Authorization header parsed to `auth`.

    Returns (ok, stages) where stages is what compute() returns; the caller decides which
    AWS error a mismatch becomes.
    """
    amz_date = request_amz_date(header_pairs) or ""
    stages = compute(method, path, query, header_pairs, body, auth["signed_headers"],
                     amz_date, auth["scope"], secret, normalize)
    ok = hmac.compare_digest(stages["signature"], auth["signature"].lower())
    return ok, stages


def sign(method, url, headers, body, access_key, secret, region, service, session_token=None,
         epoch=None):
    """Sign a request for a client: returns a new header dict with X-Amz-Date, the token
    header when given, and Authorization. `headers` must already hold Host if the URL's
    authority is not the Host to sign."""
    parts = urllib.parse.urlsplit(url)
    out = dict(headers)
    if not any(k.lower() == "host" for k in out):
        out["Host"] = parts.netloc
    amz_date = format_amz_date(epoch if epoch is not None else
                               datetime.datetime.now(datetime.timezone.utc).timestamp())
    out["X-Amz-Date"] = amz_date
    if session_token:
        out["X-Amz-Security-Token"] = session_token
    pairs = list(out.items())
    signed = sorted({k.lower() for k in out if k.lower() in
                     ("host", "content-type", "x-amz-date", "x-amz-target",
                      "x-amz-security-token", "content-length")})
    scope = "%s/%s/%s/aws4_request" % (amz_date[:8], region, service)
    stages = compute(method, parts.path or "/", parts.query, pairs, body, signed, amz_date,
                     scope, secret)
    out["Authorization"] = "%s Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        ALGORITHM, access_key, scope, ";".join(signed), stages["signature"])
    return out
