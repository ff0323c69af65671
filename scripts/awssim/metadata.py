"""Credential endpoints outside the signed APIs: the EC2 instance metadata service (IMDSv2),
the container credentials endpoint (ECS / EKS Pod Identity agent) and the IAM Identity Center
portal's GetRoleCredentials. Each hands out the keys of a scenario identity.

Requests come in as (method, path, query, headers); answers go out as registry_v2.Response
objects. Nothing here knows about sockets, SigV4 or faults; every wire fact names a source.
"""

import json
import secrets
import threading
import time
import urllib.parse

from registry_v2 import Response

IMDS_TOKEN_PATH = "/latest/api/token"
IMDS_CREDS_PREFIX = "/latest/meta-data/iam/security-credentials/"
# The IMDSv2 token TTL header and its range, 1 to 21600 seconds (EC2 user guide,
# "Use the Instance Metadata Service to access instance metadata", and botocore/utils.py
# IMDSFetcher._TOKEN_TTL = '21600').
IMDS_TTL_HEADER = "x-aws-ec2-metadata-token-ttl-seconds"
IMDS_TOKEN_HEADER = "x-aws-ec2-metadata-token"
IMDS_MAX_TTL_S = 21600
SSO_PATH = "/federation/credentials"
# The portal's GetRoleCredentials: GET /federation/credentials?role_name=&account_id= with
# the access token in x-amz-sso_bearer_token (sso-2019-06-10 service model). An unknown or
# expired token is UnauthorizedException 401 "Session token not found or invalid"
# (fwdcloudsec/granted#715, ryansonshine/aws-sso-creds-helper#57).
SSO_TOKEN_HEADER = "x-amz-sso_bearer_token"
MSG_SSO_UNAUTHORIZED = "Session token not found or invalid"
MSG_SSO_FORBIDDEN = "No access"


def _iso(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _json(status, obj, error_code=None, headers=None):
    return Response(status, json.dumps(obj), "application/json", headers=headers,
                    error_code=error_code)


def _text(status, text, error_code=None):
    return Response(status, text, "text/plain", error_code=error_code)


class Imds:
    """IMDSv2 for the scenario's "imds" block: tokens issued by PUT live for their TTL (by the
    simulated clock); GETs need one unless "v1" is true, as with HttpTokens=optional."""

    def __init__(self):
        self.tokens = {}
        self.lock = threading.Lock()

    def handle(self, state, method, path, headers):
        spec = state.scenario.imds
        if spec is None:
            # No instance here: the connection would time out on a laptop; a 404 tells a test
            # client the same thing faster.
            return _text(404, "Not Found", "imds_absent")
        if path == IMDS_TOKEN_PATH:
            if method != "PUT":
                # IMDS refuses a token request by any other method (botocore treats 405 as
                # "IMDSv2 unavailable", IMDSFetcher._fetch_metadata_token).
                return _text(405, "Method Not Allowed", "method")
            if headers.get("X-Forwarded-For"):
                # IMDS refuses token requests that came through a proxy (EC2 user guide).
                return _text(403, "Forbidden", "forwarded")
            ttl = headers.get(IMDS_TTL_HEADER)
            try:
                ttl_s = int(ttl)
            except (TypeError, ValueError):
                ttl_s = 0
            if ttl_s < 1 or ttl_s > IMDS_MAX_TTL_S:
                return _text(400, "Bad Request", "ttl")
            token = "AwsSimImdsToken/" + secrets.token_urlsafe(32)
            with self.lock:
                self.tokens[token] = state.now() + ttl_s
            state.note_secret("imds_token", token)
            return Response(200, token, "text/plain",
                            headers=[(IMDS_TTL_HEADER, str(ttl_s))])
        if method != "GET":
            return _text(405, "Method Not Allowed", "method")
        token = headers.get(IMDS_TOKEN_HEADER)
        if token is not None:
            with self.lock:
                until = self.tokens.get(token)
            if until is None or until <= state.now():
                return _text(401, "Unauthorized", "token")
        elif not spec.get("v1", False):
            # HttpTokens=required: a request without a token gets 401.
            return _text(401, "Unauthorized", "token_required")
        ident = state.scenario.identities[spec["identity"]]
        role_name = spec.get("role_name") or (ident.role_arn or "").rsplit("/", 1)[-1]
        if path == IMDS_CREDS_PREFIX:
            if spec.get("no_role"):
                return _text(404, "Not Found", "no_role")
            return _text(200, role_name)
        if path.startswith(IMDS_CREDS_PREFIX):
            if spec.get("no_role") or path[len(IMDS_CREDS_PREFIX):] != role_name:
                return _text(404, "Not Found", "no_role")
            expires = ident.expires if ident.expires is not None else state.now() + 6 * 3600
            # The document's shape: EC2 user guide, "Retrieve security credentials from
            # instance metadata" (Code, LastUpdated, Type, AccessKeyId, SecretAccessKey,
            # Token, Expiration).
            return _json(200, {"Code": "Success", "LastUpdated": _iso(state.now()),
                               "Type": "AWS-HMAC", "AccessKeyId": ident.access_key_id,
                               "SecretAccessKey": ident.secret_access_key,
                               "Token": ident.session_token or "",
                               "Expiration": _iso(expires)})
        return _text(404, "Not Found", "path")


def container_spec(state, path):
    """The scenario's container_credentials entry served at path, or None."""
    for spec in state.scenario.container_credentials:
        if spec["path"] == path:
            return spec
    return None


def handle_container(state, spec, method, headers):
    """The ECS agent / EKS Pod Identity agent answer: the identity's keys as JSON when the
    Authorization header carries the scenario's token. Without one the Pod Identity agent
    answers 400 (epam/ai-dial-adapter-vertexai#520); a wrong token gets 401 here (no sample
    of the agents' exact answer was found)."""
    if method != "GET":
        return _text(405, "Method Not Allowed", "method")
    auth = headers.get("Authorization")
    if not auth:
        return _json(400, {"code": "InvalidAuthorizationToken",
                           "message": "Authorization header is missing"}, "no_token")
    if auth != spec["token"]:
        return _json(401, {"code": "AccessDeniedException",
                           "message": "The authorization token is not valid"}, "bad_token")
    ident = state.scenario.identities[spec["identity"]]
    expires = ident.expires if ident.expires is not None else state.now() + 6 * 3600
    # Fields as botocore's ContainerProvider reads them (botocore/credentials.py:
    # AccessKeyId, SecretAccessKey, Token, Expiration, optional AccountId).
    body = {"AccessKeyId": ident.access_key_id, "SecretAccessKey": ident.secret_access_key,
            "Token": ident.session_token or "", "Expiration": _iso(expires),
            "AccountId": ident.account}
    if spec.get("role_arn"):
        body["RoleArn"] = spec["role_arn"]
    return _json(200, body)


def handle_sso(state, method, query, headers):
    """GetRoleCredentials for the scenario's "sso" block."""
    if method != "GET":
        return _json(405, {"message": "Method Not Allowed"}, "method")
    sso = state.scenario.sso
    params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    token = headers.get(SSO_TOKEN_HEADER)
    tok = (sso.get("access_tokens") or {}).get(token) if token else None
    unauthorized = _json(401, {"message": MSG_SSO_UNAUTHORIZED}, "UnauthorizedException",
                         headers=[("x-amzn-ErrorType", "UnauthorizedException")])
    if tok is None:
        return unauthorized
    if tok.get("expires"):
        import imagegen
        if imagegen.iso_to_epoch(tok["expires"]) <= state.now():
            return unauthorized
    role, account = params.get("role_name"), params.get("account_id")
    if not role or not account:
        return _json(400, {"message": "role_name and account_id are required"},
                     "InvalidRequestException",
                     headers=[("x-amzn-ErrorType", "InvalidRequestException")])
    name = (sso.get("assignments") or {}).get("%s/%s" % (account, role))
    if name is None:
        return _json(403, {"message": MSG_SSO_FORBIDDEN}, "ForbiddenException",
                     headers=[("x-amzn-ErrorType", "ForbiddenException")])
    ident = state.scenario.identities[name]
    expires = ident.expires if ident.expires is not None else state.now() + 3600
    return _json(200, {"roleCredentials": {
        "accessKeyId": ident.access_key_id, "secretAccessKey": ident.secret_access_key,
        "sessionToken": ident.session_token or "", "expiration": int(expires * 1000)}})
