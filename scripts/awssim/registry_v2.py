"""The ECR registry side of the simulator: Docker Registry HTTP API v2 / OCI distribution
(/v2/ ping, manifests, blobs, tags) keyed by the Host header, and the S3 layer bucket the
blob redirects point at.

Requests come in as (method, path, query, headers); answers go out as Response objects.
Authorisation goes through SimState like the API's, so a pull is refused with the same
AccessDenied text as BatchGetImage. Nothing here knows about sockets or SigV4.
"""

import base64
import binascii
import json
import re
import urllib.parse
import uuid

import awsapi
import iampolicy
import imagegen
import sigv4

DIST_HEADER = ("Docker-Distribution-Api-Version", "registry/2.0")

# ACCOUNT.dkr.ecr[-fips].REGION.amazonaws.com[.cn] and the dual-stack ACCOUNT.dkr-ecr.REGION.on.aws
_HOST_RXS = [
    re.compile(r"^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?(?::\d+)?$", re.I),
    re.compile(r"^(\d{12})\.dkr-ecr(?:-fips)?\.([a-z0-9-]+)\.on\.aws(?::\d+)?$", re.I),
]
_MANIFEST_RX = re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<ref>[^/]+)$")
_BLOB_RX = re.compile(r"^/v2/(?P<name>.+)/blobs/(?P<digest>[A-Za-z0-9_+.-]+:[A-Fa-f0-9]+)$")
_TAGS_RX = re.compile(r"^/v2/(?P<name>.+)/tags/list$")
LAYER_RX = re.compile(r"^/prod-(?P<region>[a-z0-9-]+)-starport-layer-bucket/"
                      r"(?P<account>\d{12})-(?P<repo>[0-9a-f]{8})/(?P<hex>[0-9a-f]{64})$")

# Texts, with sources.
MSG_NOT_AUTHORIZED = "Not Authorized\n"
# ^ 401 body of an unauthenticated request: wom.icu/today-i-learned/2023-09-11 (curl of
#   /v2/), mdlavin/copy-docker-image#5, enix/kube-image-keeper#172.
MSG_TOKEN_EXPIRED = "Your authorization token has expired. Reauthenticate and try again."
# ^ CircleCI-Public/aws-ecr-orb#277 (text), docker/docker-py#1170 (HTTP 403). A token used in
#   another region gets the same answer (openillumi.com "ECR token expired" region mismatch).


class Response:
    """An HTTP answer plus what the request log records about it."""

    def __init__(self, status, body=b"", content_type=None, headers=None, error_code=None):
        self.status = status
        self.body = body if isinstance(body, bytes) else body.encode("utf-8")
        self.headers = list(headers or [])
        if content_type:
            self.headers.append(("Content-Type", content_type))
        self.error_code = error_code
        self.principal = None
        self.authz = None
        self.content_length = None  # for HEAD: length of the body a GET would get


def parse_registry_host(host):
    """(account, region) named by a registry Host header, or None."""
    for rx in _HOST_RXS:
        m = rx.match((host or "").strip())
        if m:
            return m.group(1), m.group(2).lower()
    return None


def dist_error(status, code, message, extra_headers=()):
    body = json.dumps({"errors": [{"code": code, "message": message}]})
    return Response(status, body, "application/json; charset=utf-8",
                    [DIST_HEADER] + list(extra_headers), error_code=code)


def _challenge(account, region):
    host = "%s.dkr.ecr.%s.%s" % (account, region, "amazonaws.com.cn" if region.startswith("cn-")
                                 else "amazonaws.com")
    return ("WWW-Authenticate", 'Basic realm="https://%s/",service="ecr.amazonaws.com"' % host)


def _unauthorized(account, region):
    return Response(401, MSG_NOT_AUTHORIZED, "text/plain; charset=utf-8",
                    [DIST_HEADER, _challenge(account, region)], error_code="UNAUTHORIZED")


def authenticate(state, headers, account, region):
    """(identity, None) for a good Basic token, else (None, Response)."""
    auth = headers.get("Authorization") or ""
    scheme, _, cred = auth.strip().partition(" ")
    if scheme.lower() != "basic" or not cred.strip():
        return None, _unauthorized(account, region)
    try:
        user, sep, password = base64.b64decode(cred.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None, _unauthorized(account, region)
    if not sep or user != "AWS":
        return None, _unauthorized(account, region)
    tok = state.lookup_token(password)
    if tok is None:
        return None, _unauthorized(account, region)
    if tok.expires_at <= state.now() or tok.region != region:
        return None, dist_error(403, "DENIED", MSG_TOKEN_EXPIRED)
    ident = state.scenario.identities.get(tok.identity_name)
    if ident is None:
        return None, _unauthorized(account, region)
    return ident, None


def _accepts(headers_all, media_type):
    """Whether the Accept header admits media_type (no Accept, or */*, admits anything)."""
    values = []
    for v in headers_all:
        values += [p.split(";")[0].strip().lower() for p in v.split(",") if p.strip()]
    if not values or "*/*" in values:
        return True
    return media_type.lower() in values


_NOT_ACCEPTED = {
    # The wording of the CNCF distribution registry, which ECR's /v2/ API follows; no ECR
    # sample was found (NotGlop/docker-drag#41, Azure/acr#764 show these texts).
    imagegen.MT_OCI_INDEX: "OCI index found, but accept header does not support OCI indexes",
    imagegen.MT_OCI_MANIFEST: "OCI manifest found, but accept header does not support OCI manifests",
    imagegen.MT_DOCKER_LIST: "manifest list found, but accept header does not support manifest lists",
}


def handle(state, method, path, query, headers, source_ip):
    """Answer one /v2/ request. headers is an email.message.Message-like object."""
    target = parse_registry_host(headers.get("Host"))
    if target is None:
        return dist_error(400, "UNSUPPORTED",
                          "awssim: registry requests need a Host header of the form "
                          "ACCOUNT.dkr.ecr.REGION.amazonaws.com (got %r)" % headers.get("Host"))
    account, region = target
    ident, refusal = authenticate(state, headers, account, region)
    if refusal is not None:
        return refusal
    resp = _route(state, ident, account, region, method, path, headers, source_ip)
    resp.principal = ident.arn
    return resp


def _check(state, ident, region, source_ip, holder):
    """check(action, resource, resource_account, repo) for requests to the registry endpoint
    (ecr.dkr: a VPC endpoint for it is on the path)."""
    def check(action, resource, resource_account, repo):
        d = state.authorize(ident, action, resource, resource_account, region, repo, source_ip,
                            channel="ecr.dkr")
        holder["authz"] = dict(d.as_log(), action=action)
        return d
    return check


def _authorize(state, ident, action, account, region, name, repo, source_ip, resp_holder,
               missing_ok=False):
    arn = state.repo_arn(account, region, name)
    d = _check(state, ident, region, source_ip, resp_holder)(action, arn, account, repo)
    if not d.allowed:
        return dist_error(403, "DENIED", iampolicy.access_denied_message(ident.arn, action, arn, d))
    if repo is None and not missing_ok:
        return _name_unknown(name, account)
    return None


def _name_unknown(name, account):
    # Same text as the API's RepositoryNotFoundException (docker shows it after
    # "name unknown:", aws-samples/eks-alb-istio-with-tls#7).
    return dist_error(404, "NAME_UNKNOWN",
                      "The repository with name '%s' does not exist in the registry with id '%s'"
                      % (name, account))


# How the registry answers an image failure BatchGetImage would list (failureCode ->
# status, distribution error code). An upstream authentication failure shows in docker as
# "denied: <failureReason>" (aws/containers-roadmap#2354), so the image-level refusals are 403
# DENIED with the failure's reason; KmsError follows that pattern (no public sample). The
# throttled and unavailable upstream answers are guesses (no public sample): 429 as ECR
# throttles, 503 for an upstream that cannot be reached.
_FAILURE_STATUS = {
    "ImageNotFound": (404, "MANIFEST_UNKNOWN"),
    "InvalidImageDigest": (404, "MANIFEST_UNKNOWN"),
    "KmsError": (403, "DENIED"),
    "UpstreamAccessDenied": (403, "DENIED"),
    "UpstreamTooManyRequests": (429, "TOOMANYREQUESTS"),
    "UpstreamUnavailable": (503, "UNAVAILABLE"),
}


def _failure_response(failure):
    status, code = _FAILURE_STATUS.get(failure[0], (404, "MANIFEST_UNKNOWN"))
    return dist_error(status, code, failure[1])


def _route(state, ident, account, region, method, path, headers, source_ip):
    holder = {}

    def done(resp):
        resp.authz = holder.get("authz")
        return resp

    if path in ("/v2", "/v2/"):
        if method not in ("GET", "HEAD"):
            return dist_error(405, "UNSUPPORTED", "The operation is unsupported.")
        r = Response(200, b"{}", "application/json; charset=utf-8", [DIST_HEADER])
        return r
    if method not in ("GET", "HEAD"):
        # Push is out of scope: the simulator is for diagnosing pulls.
        return dist_error(405, "UNSUPPORTED", "awssim: the simulator serves pulls only")

    m = _MANIFEST_RX.match(path)
    if m:
        name, ref = m.group("name"), m.group("ref")
        repo = state.find_repo(account, region, name)
        rule, upstream = state.scenario.ptc_rule_for(account, region, name)
        refusal = _authorize(state, ident, "ecr:BatchGetImage", account, region, name, repo,
                             source_ip, holder, missing_ok=rule is not None)
        if refusal:
            return done(refusal)
        digest = None
        if repo is not None:
            digest = repo.tag_map.get(ref) if ":" not in ref else (ref if ref in repo.manifests else None)
        if digest is None and rule is not None:
            iid = {"imageDigest": ref} if ":" in ref else {"imageTag": ref}
            try:
                repo, digest, failure = awsapi.pull_through(
                    state, _check(state, ident, region, source_ip, holder), account, region,
                    name, repo, rule, upstream, iid)
            except awsapi.NoRepository:
                return done(_name_unknown(name, account))
            if failure:
                return done(_failure_response(failure))
        if digest is None:
            # "manifest unknown: Requested image not found", as docker reports ECR misses.
            return done(dist_error(404, "MANIFEST_UNKNOWN", "Requested image not found"))
        kms = awsapi.kms_failure(repo)
        if kms:
            return done(_failure_response(kms))
        man = repo.manifests[digest]
        if not _accepts(headers.get_all("Accept") or [], man.media_type):
            return done(dist_error(404, "MANIFEST_UNKNOWN",
                                   _NOT_ACCEPTED.get(man.media_type, "Requested image not found")))
        r = Response(200, man.data, man.media_type,
                     [DIST_HEADER, ("Docker-Content-Digest", digest)])
        return done(r)

    m = _BLOB_RX.match(path)
    if m:
        name, digest = m.group("name"), m.group("digest")
        repo = state.find_repo(account, region, name)
        # HEAD only asks whether the layer exists, GET downloads it: two ECR actions.
        action = "ecr:BatchCheckLayerAvailability" if method == "HEAD" else "ecr:GetDownloadUrlForLayer"
        refusal = _authorize(state, ident, action, account, region, name, repo, source_ip, holder)
        if refusal:
            return done(refusal)
        blob = repo.blobs.get(digest)
        if blob is None:
            return done(dist_error(404, "BLOB_UNKNOWN", "blob unknown to registry"))
        if method == "HEAD":
            # A blob HEAD is answered directly, with the blob's media type and size
            # (argoproj-labs/argocd-image-updater#216 shows ECR's headers).
            r = Response(200, b"", blob.media_type, [DIST_HEADER, ("Docker-Content-Digest", digest)])
            r.content_length = blob.size
            return done(r)
        url = awsapi.layer_url(state, repo, digest)
        return done(Response(307, b"", None, [DIST_HEADER, ("Location", url),
                                              ("Docker-Content-Digest", digest)]))

    m = _TAGS_RX.match(path)
    if m:
        name = m.group("name")
        repo = state.find_repo(account, region, name)
        refusal = _authorize(state, ident, "ecr:ListImages", account, region, name, repo,
                             source_ip, holder)
        if refusal:
            return done(refusal)
        body = json.dumps({"name": name, "tags": sorted(repo.tag_map)})
        return done(Response(200, body, "application/json; charset=utf-8", [DIST_HEADER]))

    return dist_error(404, "NOT_FOUND", "awssim: no such registry route %s" % path)


# ---- the S3 layer bucket ----

def _s3_error(status, code, message, head=False):
    rid = uuid.uuid4().hex[:16].upper()
    hdrs = [("x-amz-request-id", rid), ("x-amz-id-2", base64.b64encode(rid.encode()).decode())]
    if head:
        # S3 answers a failed HEAD with the status and headers only.
        r = Response(status, b"", "application/xml", hdrs, error_code=code)
        r.content_length = 0
        return r
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s</Message>'
            '<RequestId>%s</RequestId><HostId>%s</HostId></Error>'
            % (code, message, rid, hdrs[1][1]))
    return Response(status, body, "application/xml", hdrs, error_code=code)


def handle_layer(state, method, path, query, headers):
    """GET of a pre-signed layer URL (Range honoured); anything else is refused like S3
    refuses a URL pre-signed for GET (the method is part of the signature)."""
    m = LAYER_RX.match(path)
    if not m:
        return _s3_error(404, "NoSuchKey", "The specified key does not exist.", method == "HEAD")
    if method != "GET":
        return _s3_error(403, "SignatureDoesNotMatch",
                         "The request signature we calculated does not match the signature you "
                         "provided. Check your key and signing method.", method == "HEAD")
    q = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    amz_date, expires, sig = q.get("X-Amz-Date", ""), q.get("X-Amz-Expires", ""), q.get("X-Amz-Signature", "")
    if not sig or sig != state.layer_signature(path, amz_date, expires):
        return _s3_error(403, "SignatureDoesNotMatch",
                         "The request signature we calculated does not match the signature you "
                         "provided. Check your key and signing method.")
    t0 = sigv4.parse_amz_date(amz_date)
    if t0 is None or not expires.isdigit() or state.now() > t0 + int(expires):
        return _s3_error(403, "AccessDenied", "Request has expired")
    digest = "sha256:" + m.group("hex")
    blob = owner = None
    for repo in state.repos_in(m.group("account"), m.group("region")):
        if repo.blobs.get(digest) and (owner is None or awsapi.layer_prefix(repo) == m.group("repo")):
            blob, owner = repo.blobs[digest], repo
    if blob is None:
        return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
    if owner.key_unusable:
        # Layers are SSE-KMS objects under the repository's key: S3 cannot decrypt them.
        code, status = awsapi.S3_KMS_ERRORS[owner.key_unusable]
        return _s3_error(status, code, awsapi.kms_failure(owner)[1])
    etag = ('"%s"' % digest[7:39])
    base = [("Accept-Ranges", "bytes"), ("ETag", etag),
            ("x-amz-request-id", uuid.uuid4().hex[:16].upper())]
    rng = headers.get("Range")
    if rng:
        span = _parse_range(rng, blob.size)
        if span == "invalid":
            return _s3_error(416, "InvalidRange", "The requested range is not satisfiable")
        if span is not None:
            a, b = span
            return Response(206, blob.data[a:b + 1], "application/octet-stream",
                            base + [("Content-Range", "bytes %d-%d/%d" % (a, b, blob.size))])
    return Response(200, blob.data, "application/octet-stream", base)


def _parse_range(value, size):
    """(first, last) for one bytes range, None to ignore the header, "invalid" for 416."""
    m = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", value)
    if not m or (m.group(1) == "" and m.group(2) == ""):
        return None  # S3 ignores ranges it cannot parse, multi-ranges included
    if m.group(1) == "":
        n = int(m.group(2))
        if n == 0:
            return "invalid"
        return max(0, size - n), size - 1
    a = int(m.group(1))
    b = int(m.group(2)) if m.group(2) else size - 1
    if a >= size or b < a:
        return "invalid"
    return a, min(b, size - 1)
