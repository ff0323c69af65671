"""The AWS API operations of the simulator: STS (query protocol, XML), ECR and Organizations
(awsJson1_1), their error bodies and status codes, and ECR's repository policy checks.

Each operation takes an authenticated Call and the request parameters and returns the
response members or raises AwsError; server.py owns HTTP, SigV4 and faults. Every wire
fact below names where it comes from.
"""

import base64
import json
import re
import time
import urllib.parse
import uuid
import xml.sax.saxutils

import imagegen
import iampolicy
import scenario as scenario_mod
import sigv4

STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
ECR_TARGET = "AmazonEC2ContainerRegistry_V20150921"
ORGS_TARGET = "AWSOrganizationsV20161128"

# Messages AWS uses, with sources.
MSG_INVALID_TOKEN = "The security token included in the request is invalid."
# ^ aws/aws-sdk-php#1114 (ECR UnrecognizedClientException, 400), QT-DevOps/DevOpsIssues#989 (STS).
MSG_EXPIRED_TOKEN = "The security token included in the request is expired"
# ^ cfn-sphere/cfn-sphere#55 (ExpiredToken XML body), jenkinsci/ec2-plugin#1008 (STS 403).
MSG_BAD_SIGNATURE = ("The request signature we calculated does not match the signature you "
                     "provided. Check your AWS Secret Access Key and signing method. Consult "
                     "the service documentation for details.")
# ^ hashicorp/terraform#23701 (sts:GetCallerIdentity SignatureDoesNotMatch).
MSG_ORGS_DENIED = "You don't have permissions to access this resource."
# ^ awslabs/aws-innovation-sandbox#6, prowler-cloud/prowler#2133 (Organizations AccessDenied).
MSG_ORGS_NOT_IN_USE = "Your account is not a member of an organization."
# ^ nozaq/terraform-aws-secure-baseline#70 (AWSOrganizationsNotInUseException, status 400).
MSG_RATE_EXCEEDED = "Rate exceeded"
# ^ aws/amazon-ecs-agent#498 (ECR ThrottlingException: Rate exceeded, status code: 400).
MSG_INVALID_REPO_POLICY = ("Invalid parameter at 'PolicyText' failed to satisfy constraint: "
                           "'Invalid repository policy provided'")
# ^ awsdocs/amazon-ecr-user-guide#20 (a Resource element is refused with this text),
#   aws/aws-cdk#3583 (Status Code: 400; Error Code: InvalidParameterException).
MSG_INVALID_REGISTRY_POLICY = ("Invalid parameter at 'PolicyText' failed to satisfy constraint: "
                               "'Invalid registry policy provided'")
# ^ repost.aws question QUotxPDrRVT2ikDhEV92zQwA (a V1 registry policy with other actions);
#   moto's ecr put_registry_policy uses the same text.

# KMS's own messages for a key ECR cannot use; ECR's failureReason for KmsError has no public
# sample, so the simulator reports what KMS said (the form S3 and other services pass on).
MSG_KMS = {
    # DisabledException: fugue/credstash#86 ("arn:aws:kms:...:key/... is disabled.").
    "Disabled": "%s is disabled.",
    # KMSInvalidStateException: hashicorp/terraform-provider-aws#17889 ("... is pending deletion.").
    "PendingDeletion": "%s is pending deletion.",
    # AccessDeniedException on Decrypt once ECR's grant is gone: the text KMS gives every caller
    # that may not use the key (moto's kms, and S3's 403 for SSE-KMS objects, forum.numer.ai).
    "GrantRevoked": "The ciphertext refers to a customer master key that does not exist, does "
                    "not exist in this region, or you are not allowed to access.",
}
# S3's answer to a GET of an SSE-KMS object whose key is unusable: code and status.
# Codes: localstack/localstack#8422 (KMS.DisabledException, KMS.KMSInvalidStateException);
# 403 AccessDenied with the KMS text for a key S3 may not use (forum.numer.ai, 2022).
S3_KMS_ERRORS = {"Disabled": ("KMS.DisabledException", 400),
                 "PendingDeletion": ("KMS.KMSInvalidStateException", 400),
                 "GrantRevoked": ("AccessDenied", 403)}

# Pull through cache upstream failures (BatchGetImage failureReason; the registry's message).
MSG_UPSTREAM = {
    # aws/containers-roadmap#2354: "denied: The authentication to the upstream registry
    # failed. Verify that the credentials provided in the pull through cache rule are
    # correct, and try again." (docker's text for the registry's answer).
    "UpstreamAccessDenied": "The authentication to the upstream registry failed. Verify that "
                            "the credentials provided in the pull through cache rule are "
                            "correct, and try again.",
    # No public sample of these two: worded like the one above.
    "UpstreamTooManyRequests": "The upstream registry is throttling requests. Wait, and try again.",
    "UpstreamUnavailable": "The upstream registry is unavailable. Try again later.",
}


class AwsError(Exception):
    """An AWS error answer: code (the __type / Code), message, HTTP status."""

    def __init__(self, code, message, status=400):
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.message = message
        self.status = status


def new_request_id():
    return str(uuid.uuid4())


# ---- wire formats ----

def json_error_body(service, err):
    # Organizations' exception shapes name the member "Message"; ECR's name it "message"
    # (organizations-2016-11-28 and ecr-2015-09-21 service models).
    key = "Message" if service == "organizations" else "message"
    return json.dumps({"__type": err.code, key: err.message}).encode()


def sts_error_body(err, request_id):
    kind = "Receiver" if err.status >= 500 else "Sender"
    return ('<ErrorResponse xmlns="%s">\n  <Error>\n    <Type>%s</Type>\n    <Code>%s</Code>\n'
            '    <Message>%s</Message>\n  </Error>\n  <RequestId>%s</RequestId>\n'
            '</ErrorResponse>\n' % (STS_NS, kind, _x(err.code), _x(err.message), request_id)).encode()


def _xml_members(members, depth):
    # A value that is a list of pairs is a nested structure (AssumeRole's Credentials).
    pad = "  " * depth
    out = []
    for k, v in members:
        if isinstance(v, list):
            out.append("%s<%s>\n%s%s</%s>\n" % (pad, k, _xml_members(v, depth + 1), pad, k))
        else:
            out.append("%s<%s>%s</%s>\n" % (pad, k, _x(v), k))
    return "".join(out)


def sts_result_body(action, members, request_id):
    inner = _xml_members(members, 2)
    return ('<%sResponse xmlns="%s">\n  <%sResult>\n%s  </%sResult>\n  <ResponseMetadata>\n'
            '    <RequestId>%s</RequestId>\n  </ResponseMetadata>\n</%sResponse>\n'
            % (action, STS_NS, action, inner, action, request_id, action)).encode()


def _x(text):
    return xml.sax.saxutils.escape(str(text))


def jackson_pretty(obj, nesting=0):
    """JSON in the layout ECR returns policy text in (Jackson's default pretty printer:
    '"key" : value', arrays inline as '[ a, b ]'), as seen in the SetRepositoryPolicy
    output quoted in CircleCI-Public/aws-ecr-orb#368."""
    if isinstance(obj, dict):
        if not obj:
            return "{ }"
        ind = "  " * (nesting + 1)
        items = ["%s%s : %s" % (ind, json.dumps(k, ensure_ascii=False),
                                jackson_pretty(v, nesting + 1)) for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * nesting + "}"
    if isinstance(obj, list):
        if not obj:
            return "[ ]"
        return "[ " + ", ".join(jackson_pretty(v, nesting) for v in obj) + " ]"
    return json.dumps(obj, ensure_ascii=False)


def pretty_policy_text(text):
    try:
        return jackson_pretty(json.loads(text))
    except ValueError:
        return text


class Call:
    """One authenticated API call: who (identity and principal), where (region), and the
    simulator state; authz records the last authorisation for the request log."""

    def __init__(self, state, ident, region, source_ip, request_id):
        self.state = state
        self.ident = ident
        self.region = region
        self.source_ip = source_ip
        self.request_id = request_id
        self.authz = None
        self.issued = None  # a session STS issued in this call

    def check(self, action, resource, resource_account=None, repo=None):
        """The decision for action, without raising (the ECR API endpoint, ecr.api)."""
        d = self.state.authorize(self.ident, action, resource, resource_account, self.region,
                                 repo, self.source_ip, channel="ecr.api")
        self.authz = dict(d.as_log(), action=action, resource=resource)
        return d

    def authorize(self, action, resource, resource_account=None, repo=None):
        d = self.check(action, resource, resource_account, repo)
        if not d.allowed:
            raise AwsError("AccessDeniedException",
                           iampolicy.access_denied_message(self.ident.arn, action, resource, d))
        return d


# ---- STS ----

def sts_get_caller_identity(call, params):
    # No permission is needed for GetCallerIdentity (sts service model documentation).
    ident = call.ident
    return [("Arn", ident.arn), ("UserId", ident.user_id), ("Account", ident.account)]


# AssumeRole's refusal names the caller and the role (amzn/selling-partner-api-models#891:
# "User: arn:aws:iam::*:user/gudsen is not authorized to perform: sts:AssumeRole on
# resource: ...", Status Code: 403, Error Code: AccessDenied). AWS answers a role that does
# not exist the same way, so a caller cannot probe for role names.
MSG_ASSUME_ROLE_DENIED = "User: %s is not authorized to perform: sts:AssumeRole on resource: %s"
# AssumeRoleWithWebIdentity refused by the role's trust policy: "Not authorized to perform
# sts:AssumeRoleWithWebIdentity", AccessDenied 403 (aws/aws-sdk-net#1522,
# aws-amplify/aws-sdk-android#9).
MSG_WEB_IDENTITY_DENIED = "Not authorized to perform sts:AssumeRoleWithWebIdentity"
_SESSION_NAME_RX = re.compile(r"[\w+=,.@-]{2,64}")
# Operations STS serves without a signature: the web identity token is the credential
# (sts-2011-06-15 model: AssumeRoleWithWebIdentity has "auth": ["smithy.api#noAuth"]).
STS_UNSIGNED_OPS = {"AssumeRoleWithWebIdentity"}


def _iso_ms(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + "Z"


def _validate_assume(params, op):
    name = params.get("RoleSessionName")
    if not params.get("RoleArn"):
        raise AwsError("ValidationError", "1 validation error detected: Value null at 'roleArn' "
                       "failed to satisfy constraint: Member must not be null")
    if name is None or not _SESSION_NAME_RX.fullmatch(name):
        raise AwsError("ValidationError", "1 validation error detected: Value '%s' at "
                       "'roleSessionName' failed to satisfy constraint: Member must satisfy "
                       "regular expression pattern: [\\w+=,.@-]*" % (name or "null"))
    duration = params.get("DurationSeconds")
    if duration is not None:
        try:
            duration = int(duration)
        except ValueError:
            raise AwsError("ValidationError", "DurationSeconds must be a number")
        if duration < 900 or duration > 43200:
            raise AwsError("ValidationError", "1 validation error detected: Value '%d' at "
                           "'durationSeconds' failed to satisfy constraint: Member must have "
                           "value less than or equal to 43200" % duration)
    return duration


def _issue(call, role, params, duration, source_arn):
    state = call.state
    ttl = role.session_ttl_s if role.session_ttl_s is not None else (duration or 3600)
    if duration and duration > role.max_session_duration_s:
        raise AwsError("ValidationError", "The requested DurationSeconds exceeds the "
                       "MaxSessionDuration set for this role.")
    with state.lock:
        sess = state.scenario.add_session(role, params["RoleSessionName"], state.now() + float(ttl),
                                          source_arn)
    state.note_secret("sts_secret_access_key", sess.secret_access_key)
    state.note_secret("sts_session_token", sess.session_token)
    return sess, [
        ("Credentials", [("AccessKeyId", sess.access_key_id),
                         ("SecretAccessKey", sess.secret_access_key),
                         ("SessionToken", sess.session_token),
                         ("Expiration", _iso_ms(sess.expires))]),
        ("AssumedRoleUser", [("AssumedRoleId", sess.user_id), ("Arn", sess.arn)]),
    ]


def sts_assume_role(call, params):
    # Trust policy only: the caller's own identity policies are not evaluated for
    # sts:AssumeRole (README, known approximations).
    duration = _validate_assume(params, "AssumeRole")
    role = call.state.scenario.roles.get(params["RoleArn"])
    denied = AwsError("AccessDenied", MSG_ASSUME_ROLE_DENIED % (call.ident.arn, params["RoleArn"]), 403)
    if role is None or not role.trusts(call.ident):
        raise denied
    if role.external_id is not None and params.get("ExternalId") != role.external_id:
        raise denied
    sess, members = _issue(call, role, params, duration, call.ident.arn)
    call.issued = sess
    return members


def sts_assume_role_with_web_identity(call, params):
    duration = _validate_assume(params, "AssumeRoleWithWebIdentity")
    token = params.get("WebIdentityToken")
    if not token:
        raise AwsError("ValidationError", "1 validation error detected: Value null at "
                       "'webIdentityToken' failed to satisfy constraint: Member must not be null")
    role = call.state.scenario.roles.get(params["RoleArn"])
    if role is None or token not in role.web_identity_tokens:
        raise AwsError("AccessDenied", MSG_WEB_IDENTITY_DENIED, 403)
    sess, members = _issue(call, role, params, duration, "web-identity")
    call.issued = sess
    return members + [("SubjectFromWebIdentityToken", "system:serviceaccount:awssim:" +
                       params["RoleSessionName"]),
                      ("Audience", "sts.amazonaws.com"),
                      ("Provider", "arn:aws:iam::%s:oidc-provider/oidc.eks.awssim" % role.account)]


STS_OPS = {"GetCallerIdentity": sts_get_caller_identity, "AssumeRole": sts_assume_role,
           "AssumeRoleWithWebIdentity": sts_assume_role_with_web_identity}


# ---- Organizations ----

def orgs_describe_organization(call, params):
    d = call.state.authorize(call.ident, "organizations:DescribeOrganization", "*",
                             None, call.region, None, call.source_ip)
    call.authz = dict(d.as_log(), action="organizations:DescribeOrganization", resource="*")
    if not d.allowed:
        # Organizations answers with a fixed text rather than the IAM "User: ..." form.
        raise AwsError("AccessDeniedException", MSG_ORGS_DENIED)
    org = call.state.scenario.org
    if org is None or not org.contains(call.ident.account):
        raise AwsError("AWSOrganizationsNotInUseException", MSG_ORGS_NOT_IN_USE)
    return {"Organization": {
        "Id": org.id,
        "Arn": org.arn,
        "FeatureSet": org.feature_set,
        "MasterAccountArn": org.account_arn(org.management_account),
        "MasterAccountId": org.management_account,
        "MasterAccountEmail": org.management_email,
        # Deprecated member, still returned; AWS lists SCPs when all features are on.
        "AvailablePolicyTypes": [{"Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED"}]
        if org.feature_set == "ALL" else [],
    }}


ORGS_OPS = {"DescribeOrganization": orgs_describe_organization}


# ---- ECR ----

_REPO_NAME_RX = re.compile(r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*")
_DIGEST_RX = re.compile(r"[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+")

# Required members and JSON types of the operations implemented (ecr-2015-09-21 model).
_ECR_TYPES = {
    "registryId": str, "repositoryName": str, "imageIds": list, "repositoryNames": list,
    "registryIds": list, "maxResults": int, "nextToken": str, "filter": dict,
    "policyText": str, "force": bool, "acceptedMediaTypes": list, "layerDigest": str,
    "layerDigests": list, "ecrRepositoryPrefixes": list, "name": str, "value": str,
}
_ECR_REQUIRED = {
    "BatchGetImage": ("repositoryName", "imageIds"),
    "DescribeImages": ("repositoryName",),
    "GetRepositoryPolicy": ("repositoryName",),
    "SetRepositoryPolicy": ("repositoryName", "policyText"),
    "DeleteRepositoryPolicy": ("repositoryName",),
    "ListImages": ("repositoryName",),
    "GetDownloadUrlForLayer": ("repositoryName", "layerDigest"),
    "BatchCheckLayerAvailability": ("repositoryName", "layerDigests"),
    "PutRegistryPolicy": ("policyText",),
    "GetAccountSetting": ("name",),
    "PutAccountSetting": ("name", "value"),
}


def validate_ecr_input(op, params):
    if not isinstance(params, dict):
        raise AwsError("SerializationException", "Start of structure or map found where not expected.")
    for k, v in params.items():
        t = _ECR_TYPES.get(k)
        if t is None or v is None:
            continue
        ok = isinstance(v, t) and not (t is int and isinstance(v, bool))
        if not ok:
            raise AwsError("SerializationException",
                           "Unexpected value type in payload for member '%s'" % k)
    for k in _ECR_REQUIRED.get(op, ()):
        if params.get(k) is None:
            raise AwsError("InvalidParameterException",
                           "1 validation error detected: Value null at '%s' failed to satisfy "
                           "constraint: Member must not be null" % k)
    rid = params.get("registryId")
    if rid is not None and not re.fullmatch(r"[0-9]{12}", rid):
        raise AwsError("InvalidParameterException",
                       "Invalid parameter at 'registryId' failed to satisfy constraint: "
                       "'must satisfy regular expression '[0-9]{12}''")
    name = params.get("repositoryName")
    if name is not None and not (2 <= len(name) <= 256 and _REPO_NAME_RX.fullmatch(name)):
        raise AwsError("InvalidParameterException",
                       "Invalid parameter at 'repositoryName' failed to satisfy constraint: "
                       "'must satisfy regular expression '%s''" % _REPO_NAME_RX.pattern)


def _repo_not_found(name, registry):
    # Text: actions/starter-workflows#2647 and aws-samples/eks-alb-istio-with-tls#7.
    return AwsError("RepositoryNotFoundException",
                    "The repository with name '%s' does not exist in the registry with id '%s'"
                    % (name, registry))


def _target_repo(call, params, action):
    """Authorise action on the named repository, then return it.

    Authorisation comes first: a caller in another account learns nothing about whether
    the repository exists (it gets the same AccessDenied); one in the same account who is
    allowed gets RepositoryNotFoundException.
    """
    registry = params.get("registryId") or call.ident.account
    name = params["repositoryName"]
    repo = call.state.find_repo(registry, call.region, name)
    call.authorize(action, call.state.repo_arn(registry, call.region, name), registry, repo)
    if repo is None:
        raise _repo_not_found(name, registry)
    return registry, repo


def _registry_host(account, region):
    return "%s.dkr.ecr.%s.%s" % (account, region, scenario_mod.dns_suffix(region))


def ecr_get_authorization_token(call, params):
    call.authorize("ecr:GetAuthorizationToken", "*")
    ids = params.get("registryIds") or [call.ident.account]
    for rid in ids:
        if not isinstance(rid, str) or not re.fullmatch(r"[0-9]{12}", rid):
            raise AwsError("InvalidParameterException",
                           "Invalid parameter at 'registryIds' failed to satisfy constraint: "
                           "'Member must satisfy constraint: [Member must satisfy regular "
                           "expression pattern: [0-9]{12}]'")
    password, expires_at = call.state.issue_token(call.ident, call.region)
    token = base64.b64encode(("AWS:" + password).encode()).decode()
    return {"authorizationData": [{
        "authorizationToken": token,
        "expiresAt": round(expires_at, 3),
        "proxyEndpoint": "https://" + _registry_host(rid, call.region),
    } for rid in ids]}


def _resolve_image(repo, image_id):
    """(digest, failure) for one ImageIdentifier; failure is (code, reason) or None. repo None
    (a pull through cache repository not created yet) holds nothing."""
    tag = image_id.get("imageTag")
    dig = image_id.get("imageDigest")
    if not tag and not dig:
        return None, ("MissingDigestAndTag", "Invalid request: both imageTag and imageDigest are missing")
    if dig and not _DIGEST_RX.fullmatch(dig):
        return None, ("InvalidImageDigest", "Invalid image digest")
    tag_map = repo.tag_map if repo is not None else {}
    manifests = repo.manifests if repo is not None else {}
    if tag:
        found = tag_map.get(tag)
        if found is None:
            return None, ("ImageNotFound", "Requested image not found")
        if dig and dig != found:
            return None, ("ImageTagDoesNotMatchDigest", "Invalid image tag and digest combination")
        return found, None
    if dig not in manifests:
        return None, ("ImageNotFound", "Requested image not found")
    return dig, None


def kms_failure(repo):
    """("KmsError", reason) when the repository's KMS key is unusable, else None. The
    ImageFailureCode KmsError is in the ecr-2015-09-21 model; the reason text is KMS's."""
    state = repo.key_unusable
    if state is None:
        return None
    text = MSG_KMS[state]
    return "KmsError", (text % repo.kms_key if "%s" in text else text)


class NoRepository(Exception):
    """A pull through cache repository that does not exist and may not be created."""


def pull_through(state, check, registry, region, name, repo, rule, upstream, image_id):
    """Fetch an image a pull through cache rule covers and the repository does not hold yet.

    check(action, resource, resource_account, repo) gives the caller's Decision. ECR imports
    only for a caller allowed ecr:BatchImportUpstreamImage on the repository, and
    ecr:CreateRepository when the repository does not exist yet (ECR user guide,
    pull-through-cache-iam.html). A caller without them sees what a cache miss looks like:
    no repository (NoRepository) or no image; no public sample shows an AccessDenied naming
    these actions, and the docs call the first pull a create-and-import. Returns
    (repo, digest, failure) with failure (code, reason) or None.
    """
    arn = state.repo_arn(registry, region, name)
    if repo is None and not check("ecr:CreateRepository", arn, registry, None).allowed:
        raise NoRepository()
    if not check("ecr:BatchImportUpstreamImage", arn, registry, repo).allowed:
        if repo is None:
            raise NoRepository()
        return repo, None, ("ImageNotFound", "Requested image not found")
    if rule.upstream_failure:
        return repo, None, (rule.upstream_failure, MSG_UPSTREAM[rule.upstream_failure])
    up = rule.upstream.get(upstream)
    digest, failure = _resolve_image(up, image_id)
    if failure:
        return repo, None, failure
    if repo is None:
        repo = state.create_repository(registry, region, name)
    state.import_image(repo, image_id.get("imageTag"), up.manifests[digest])
    return repo, digest, None


def ecr_batch_get_image(call, params):
    registry = params.get("registryId") or call.ident.account
    name = params["repositoryName"]
    state = call.state
    repo = state.find_repo(registry, call.region, name)
    rule, upstream = state.scenario.ptc_rule_for(registry, call.region, name)
    # Authorisation first, as in _target_repo: a missing repository in another account is
    # refused like a missing grant.
    call.authorize("ecr:BatchGetImage", state.repo_arn(registry, call.region, name), registry, repo)
    if repo is None and rule is None:
        raise _repo_not_found(name, registry)
    images, failures = [], []
    for iid in params["imageIds"]:
        iid = iid if isinstance(iid, dict) else {}
        digest, failure = _resolve_image(repo, iid)
        if failure and failure[0] == "ImageNotFound" and rule is not None:
            try:
                repo, digest, failure = pull_through(state, call.check, registry, call.region,
                                                     name, repo, rule, upstream, iid)
            except NoRepository:
                raise _repo_not_found(name, registry)
        if not failure:
            failure = kms_failure(repo)
        if failure:
            failures.append({"imageId": iid, "failureCode": failure[0], "failureReason": failure[1]})
            continue
        m = repo.manifests[digest]
        image_id = {"imageDigest": digest}
        if iid.get("imageTag"):
            image_id["imageTag"] = iid["imageTag"]
        images.append({"registryId": registry, "repositoryName": repo.name, "imageId": image_id,
                       "imageManifest": m.data.decode("utf-8"),
                       "imageManifestMediaType": m.media_type})
    return {"images": images, "failures": failures}


def _page(items, params, default_max=100):
    try:
        start = int(params.get("nextToken") or 0)
    except ValueError:
        raise AwsError("InvalidParameterException", "Invalid parameter at 'nextToken'")
    n = params.get("maxResults") or default_max
    if not 1 <= n <= 1000:
        raise AwsError("InvalidParameterException",
                       "Invalid parameter at 'maxResults' failed to satisfy constraint: "
                       "'Member must have value less than or equal to 1000'")
    chunk = items[start:start + n]
    token = str(start + n) if start + n < len(items) else None
    return chunk, token


def _tag_status_ok(tags, params):
    status = ((params.get("filter") or {}).get("tagStatus") or "ANY")
    return status == "ANY" or (status == "TAGGED") == bool(tags)


def ecr_describe_images(call, params):
    registry, repo = _target_repo(call, params, "ecr:DescribeImages")
    if params.get("imageIds"):
        digests = []
        for iid in params["imageIds"]:
            digest, failure = _resolve_image(repo, iid if isinstance(iid, dict) else {})
            if failure:
                # Message form as ECR prints it, e.g. "{imageDigest:'null', imageTag:'x'}".
                raise AwsError("ImageNotFoundException",
                               "The image with imageId {imageDigest:'%s', imageTag:'%s'} does not "
                               "exist within the repository with name '%s' in the registry with "
                               "id '%s'" % (iid.get("imageDigest") or "null",
                                           iid.get("imageTag") or "null", repo.name, registry))
            if digest not in digests:
                digests.append(digest)
    else:
        digests = sorted(repo.manifests, key=lambda d: (-repo.pushed_at[d], d))
    details = []
    for d in digests:
        m = repo.manifests[d]
        tags = repo.tags_of(d)
        if not params.get("imageIds") and not _tag_status_ok(tags, params):
            continue
        det = {"registryId": registry, "repositoryName": repo.name, "imageDigest": d,
               "imageSizeInBytes": m.size_in_bytes, "imagePushedAt": repo.pushed_at[d],
               "imageManifestMediaType": m.media_type, "imageStatus": "ACTIVE"}
        if tags:
            det["imageTags"] = tags
        if m.config_media_type:
            det["artifactMediaType"] = m.config_media_type
        details.append(det)
    chunk, token = _page(details, params)
    out = {"imageDetails": chunk}
    if token:
        out["nextToken"] = token
    return out


def ecr_list_images(call, params):
    registry, repo = _target_repo(call, params, "ecr:ListImages")
    ids = []
    for d in sorted(repo.manifests, key=lambda d: (-repo.pushed_at[d], d)):
        tags = repo.tags_of(d)
        if not _tag_status_ok(tags, params):
            continue
        if tags:
            ids.extend({"imageDigest": d, "imageTag": t} for t in tags)
        else:
            ids.append({"imageDigest": d})
    chunk, token = _page(ids, params)
    out = {"imageIds": chunk}
    if token:
        out["nextToken"] = token
    return out


def _repo_member(registry, repo):
    return {
        "repositoryArn": repo.arn, "registryId": registry, "repositoryName": repo.name,
        "repositoryUri": repo.uri, "createdAt": repo.created_at,
        "imageTagMutability": repo.tag_mutability,
        "imageScanningConfiguration": {"scanOnPush": False},
        "encryptionConfiguration": _encryption_of(repo),
    }


def _encryption_of(repo):
    enc = {"encryptionType": repo.encryption_type}
    if repo.kms_key:
        enc["kmsKey"] = repo.kms_key
    return enc


def ecr_describe_repositories(call, params):
    registry = params.get("registryId") or call.ident.account
    names = params.get("repositoryNames")
    repos = []
    if names:
        for name in names:
            if not isinstance(name, str):
                raise AwsError("SerializationException", "Unexpected value type in payload")
            repo = call.state.find_repo(registry, call.region, name)
            call.authorize("ecr:DescribeRepositories",
                           call.state.repo_arn(registry, call.region, name), registry, repo)
            if repo is None:
                raise _repo_not_found(name, registry)
            repos.append(repo)
    else:
        # A listing has no single repository; it is checked against repository/* so only a
        # wildcard grant covers it, and no repository policy can grant it across accounts.
        call.authorize("ecr:DescribeRepositories",
                       call.state.repo_arn(registry, call.region, "*"), registry, None)
        repos = call.state.repos_in(registry, call.region)
    chunk, token = _page([_repo_member(registry, r) for r in repos], params)
    out = {"repositories": chunk}
    if token:
        out["nextToken"] = token
    return out


def _policy_not_found(name, registry):
    # Text: snyk/driftctl#1549.
    return AwsError("RepositoryPolicyNotFoundException",
                    "Repository policy does not exist for the repository with name '%s' in the "
                    "registry with id '%s'" % (name, registry))


def ecr_get_repository_policy(call, params):
    registry, repo = _target_repo(call, params, "ecr:GetRepositoryPolicy")
    with call.state.lock:
        text = repo.policy_text
    if text is None:
        raise _policy_not_found(repo.name, registry)
    return {"registryId": registry, "repositoryName": repo.name,
            "policyText": pretty_policy_text(text)}


def validate_repository_policy(text, scen):
    """ECR's checks on SetRepositoryPolicy input; raises AwsError (InvalidParameterException)
    with ECR's one fixed message, whatever the defect."""
    def bad():
        return AwsError("InvalidParameterException", MSG_INVALID_REPO_POLICY)
    if len(text) > 10240:
        raise bad()
    try:
        doc = json.loads(text)
    except ValueError:
        raise bad()
    if not isinstance(doc, dict) or "Statement" not in doc:
        raise bad()
    sts = doc["Statement"]
    sts = [sts] if isinstance(sts, dict) else sts
    if not isinstance(sts, list) or not sts:
        raise bad()
    for st in sts:
        if not isinstance(st, dict) or st.get("Effect") not in ("Allow", "Deny"):
            raise bad()
        if "Resource" in st or "NotResource" in st:
            raise bad()  # awsdocs/amazon-ecr-user-guide#20, aws/aws-cdk#3590
        actions = st.get("Action", st.get("NotAction"))
        if actions is None:
            raise bad()
        for a in actions if isinstance(actions, list) else [actions]:
            if not isinstance(a, str) or not (a == "*" or a.lower().startswith("ecr:")):
                raise bad()
        pe = st.get("Principal", st.get("NotPrincipal"))
        if pe is None:
            raise bad()
        if pe != "*":
            if not isinstance(pe, dict) or not pe:
                raise bad()
            for ptype, vals in pe.items():
                vals = vals if isinstance(vals, list) else [vals]
                if ptype == "Service":
                    continue
                if ptype != "AWS":
                    raise bad()
                for v in vals:
                    if v == "*":
                        continue
                    # A principal naming an account or identity that does not exist is
                    # refused (terraform-provider-aws#3924: an invalid ARN gives this error).
                    if not isinstance(v, str) or not scen.principal_exists(v):
                        raise bad()
        cond = st.get("Condition")
        if cond is not None and not (isinstance(cond, dict) and
                                     all(isinstance(b, dict) for b in cond.values())):
            raise bad()
    return doc


def ecr_set_repository_policy(call, params):
    registry, repo = _target_repo(call, params, "ecr:SetRepositoryPolicy")
    doc = validate_repository_policy(params["policyText"], call.state.scenario)
    text = jackson_pretty(doc)
    with call.state.lock:
        repo.policy_text = text
    return {"registryId": registry, "repositoryName": repo.name, "policyText": text}


def ecr_delete_repository_policy(call, params):
    registry, repo = _target_repo(call, params, "ecr:DeleteRepositoryPolicy")
    with call.state.lock:
        text = repo.policy_text
        if text is None:
            raise _policy_not_found(repo.name, registry)
        repo.policy_text = None
    return {"registryId": registry, "repositoryName": repo.name,
            "policyText": pretty_policy_text(text)}


def ecr_get_registry_policy(call, params):
    call.authorize("ecr:GetRegistryPolicy", "*")
    registry = call.ident.account
    with call.state.lock:
        text = call.state.scenario.registry_policies.get((registry, call.region))
    if text is None:
        raise _registry_policy_not_found(registry)
    return {"registryId": registry, "policyText": pretty_policy_text(text)}


def _registry_policy_not_found(registry):
    # No public sample of this text was found; it follows the repository policy wording
    # (moto uses the same words).
    return AwsError("RegistryPolicyNotFoundException",
                    "Registry policy does not exist in the registry with id '%s'" % registry)


def validate_registry_policy(text, scope):
    """PutRegistryPolicy's checks: a policy document whose statements name a Principal and
    only ECR actions; under scope V1 only ecr:ReplicateImage, ecr:BatchImportUpstreamImage,
    ecr:CreateRepository (or ecr:*), as registry-permissions.html lists them. Any defect is
    InvalidParameterException with ECR's one text."""
    def bad():
        return AwsError("InvalidParameterException", MSG_INVALID_REGISTRY_POLICY)
    if len(text) > 10240:  # RegistryPolicyText max (ecr model)
        raise bad()
    try:
        doc = json.loads(text)
    except ValueError:
        raise bad()
    if not isinstance(doc, dict):
        raise bad()
    sts = doc.get("Statement")
    sts = [sts] if isinstance(sts, dict) else sts
    if not isinstance(sts, list) or not sts:
        raise bad()
    v1 = {"ecr:replicateimage", "ecr:batchimportupstreamimage", "ecr:createrepository", "ecr:*"}
    for st in sts:
        if not isinstance(st, dict) or st.get("Effect") not in ("Allow", "Deny"):
            raise bad()
        if "Principal" not in st and "NotPrincipal" not in st:
            raise bad()
        actions = st.get("Action", st.get("NotAction"))
        if actions is None:
            raise bad()
        for a in actions if isinstance(actions, list) else [actions]:
            if not isinstance(a, str) or not a.lower().startswith("ecr:"):
                raise bad()
            if scope == "V1" and a.lower() not in v1:
                raise bad()
        cond = st.get("Condition")
        if cond is not None and not (isinstance(cond, dict) and
                                     all(isinstance(b, dict) for b in cond.values())):
            raise bad()
    return doc


def ecr_put_registry_policy(call, params):
    call.authorize("ecr:PutRegistryPolicy", "*")
    registry = call.ident.account
    scen = call.state.scenario
    with call.state.lock:
        scope = scen.registry_scope(registry, call.region)
    doc = validate_registry_policy(params["policyText"], scope)
    text = jackson_pretty(doc)
    with call.state.lock:
        scen.registry_policies[(registry, call.region)] = text
    return {"registryId": registry, "policyText": text}


def ecr_delete_registry_policy(call, params):
    call.authorize("ecr:DeleteRegistryPolicy", "*")
    registry = call.ident.account
    with call.state.lock:
        text = call.state.scenario.registry_policies.pop((registry, call.region), None)
    if text is None:
        raise _registry_policy_not_found(registry)
    return {"registryId": registry, "policyText": pretty_policy_text(text)}


# The account settings ECR knows and their values (GetAccountSetting / PutAccountSetting
# documentation in the ecr model; REGISTRY_POLICY_SCOPE V1 and V2 from
# registry-permissions.html, V2 the default). The other two defaults are what a new account
# shows; no public sample of an older account's values was used.
ACCOUNT_SETTINGS = {
    "REGISTRY_POLICY_SCOPE": (("V1", "V2"), "V2"),
    "BASIC_SCAN_TYPE_VERSION": (("AWS_NATIVE", "CLAIR"), "AWS_NATIVE"),
    "BLOB_MOUNTING": (("ENABLED", "DISABLED"), "DISABLED"),
}


def _setting_name(params):
    name = params["name"]
    if name not in ACCOUNT_SETTINGS:
        # No public sample of this refusal; the wording of ECR's other parameter checks.
        raise AwsError("InvalidParameterException",
                       "Invalid parameter at 'name' failed to satisfy constraint: 'Member must "
                       "satisfy enum value set: [%s]'" % ", ".join(sorted(ACCOUNT_SETTINGS)))
    return name


def ecr_get_account_setting(call, params):
    call.authorize("ecr:GetAccountSetting", "*")
    name = _setting_name(params)
    acct, scen = call.ident.account, call.state.scenario
    with call.state.lock:
        if name == "REGISTRY_POLICY_SCOPE":
            value = scen.registry_scope(acct, call.region)
        else:
            value = call.state.account_settings.get((acct, call.region, name),
                                                    ACCOUNT_SETTINGS[name][1])
    return {"name": name, "value": value}


def ecr_put_account_setting(call, params):
    call.authorize("ecr:PutAccountSetting", "*")
    name = _setting_name(params)
    value = params["value"]
    if value not in ACCOUNT_SETTINGS[name][0]:
        raise AwsError("InvalidParameterException",
                       "Invalid parameter at 'value' failed to satisfy constraint: 'Member must "
                       "satisfy enum value set: [%s]'" % ", ".join(ACCOUNT_SETTINGS[name][0]))
    acct, scen = call.ident.account, call.state.scenario
    with call.state.lock:
        if name == "REGISTRY_POLICY_SCOPE":
            scen.registry_policy_scopes[(acct, call.region)] = value
        else:
            call.state.account_settings[(acct, call.region, name)] = value
    return {"name": name, "value": value}


def _ptc_member(rule):
    out = {"ecrRepositoryPrefix": rule.prefix, "upstreamRegistryUrl": rule.upstream_registry_url,
           "createdAt": rule.created_at, "registryId": rule.account}
    if rule.credential_arn:
        out["credentialArn"] = rule.credential_arn
    if rule.upstream_registry:
        out["upstreamRegistry"] = rule.upstream_registry
    if rule.upstream_repository_prefix:
        out["upstreamRepositoryPrefix"] = rule.upstream_repository_prefix
    if rule.updated_at:
        out["updatedAt"] = rule.updated_at
    return out


def ecr_describe_pull_through_cache_rules(call, params):
    registry = params.get("registryId") or call.ident.account
    if registry == call.ident.account:
        call.authorize("ecr:DescribePullThroughCacheRules", "*")
    else:
        # Another account's rules: that registry has to grant it (its V2 registry policy).
        call.authorize("ecr:DescribePullThroughCacheRules",
                       call.state.repo_arn(registry, call.region, "*"), registry, None)
    prefixes = params.get("ecrRepositoryPrefixes")
    scen = call.state.scenario
    rules = sorted((r for (a, g, _), r in scen.ptc_rules.items()
                    if a == registry and g == call.region), key=lambda r: r.prefix)
    if prefixes is not None:
        if not 1 <= len(prefixes) <= 100:
            raise AwsError("InvalidParameterException",
                           "Invalid parameter at 'ecrRepositoryPrefixes' failed to satisfy "
                           "constraint: 'Member must have length between 1 and 100'")
        have = {r.prefix for r in rules}
        for p in prefixes:
            if not isinstance(p, str):
                raise AwsError("SerializationException", "Unexpected value type in payload")
            if p not in have:
                # No public sample of this text: the repository-not-found wording.
                raise AwsError("PullThroughCacheRuleNotFoundException",
                               "The pull through cache rule with prefix '%s' does not exist in "
                               "the registry with id '%s'" % (p, registry))
        rules = [r for r in rules if r.prefix in prefixes]
    chunk, token = _page([_ptc_member(r) for r in rules], params)
    out = {"pullThroughCacheRules": chunk}
    if token:
        out["nextToken"] = token
    return out


def layer_prefix(repo):
    """The 8 hex digits that name a repository in its layer keys."""
    return imagegen.digest_of(repo.name.encode())[7:15]


def layer_url(state, repo, digest):
    """A pre-signed-looking S3 URL on this server for one blob (ECR answers layer downloads
    with a redirect to prod-REGION-starport-layer-bucket: iam-evaluation.md 7.5)."""
    amz_date = sigv4.format_amz_date(state.now())
    expires = 3600
    bucket = "prod-%s-starport-layer-bucket" % repo.region
    key = "/%s-%s/%s" % (repo.account, layer_prefix(repo), digest.split(":", 1)[1])
    path = "/" + bucket + key  # what the signature covers, path-style
    q = [("X-Amz-Security-Token", "FwoGZXIvYXdzEAWSIMLAYERTOKEN"),
         ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
         ("X-Amz-Date", amz_date),
         ("X-Amz-SignedHeaders", "host"),
         ("X-Amz-Expires", str(expires)),
         ("X-Amz-Credential", "ASIAAWSSIMLAYERS0001/%s/%s/s3/aws4_request" % (amz_date[:8], repo.region)),
         ("X-Amz-Signature", state.layer_signature(path, amz_date, expires))]
    query = urllib.parse.urlencode(q)
    if getattr(state, "layer_host_url", None):
        # HTTPS mode: the bucket's own virtual-hosted name, as ECR hands it out.
        return "%s%s?%s" % (state.layer_host_url(repo.region), key, query)
    return "%s%s?%s" % (state.base_url or "", path, query)


def ecr_get_download_url_for_layer(call, params):
    registry, repo = _target_repo(call, params, "ecr:GetDownloadUrlForLayer")
    digest = params["layerDigest"]
    if digest not in repo.blobs:
        raise AwsError("LayersNotFoundException",
                       "The specified layers were not found in the repository '%s' in the "
                       "registry with id '%s'" % (repo.name, registry))
    return {"downloadUrl": layer_url(call.state, repo, digest), "layerDigest": digest}


def ecr_batch_check_layer_availability(call, params):
    registry, repo = _target_repo(call, params, "ecr:BatchCheckLayerAvailability")
    layers, failures = [], []
    for d in params["layerDigests"]:
        if not isinstance(d, str) or not _DIGEST_RX.fullmatch(d):
            failures.append({"layerDigest": str(d), "failureCode": "InvalidLayerDigest",
                             "failureReason": "Invalid layer digest"})
        elif d in repo.blobs:
            b = repo.blobs[d]
            layers.append({"layerDigest": d, "layerAvailability": "AVAILABLE",
                           "layerSize": b.size, "mediaType": b.media_type})
        else:
            failures.append({"layerDigest": d, "failureCode": "MissingLayerDigest",
                             "failureReason": "Could not find layer"})
    return {"layers": layers, "failures": failures}


ECR_OPS = {
    "GetAuthorizationToken": ecr_get_authorization_token,
    "BatchGetImage": ecr_batch_get_image,
    "DescribeImages": ecr_describe_images,
    "DescribeRepositories": ecr_describe_repositories,
    "ListImages": ecr_list_images,
    "GetRepositoryPolicy": ecr_get_repository_policy,
    "SetRepositoryPolicy": ecr_set_repository_policy,
    "DeleteRepositoryPolicy": ecr_delete_repository_policy,
    "GetRegistryPolicy": ecr_get_registry_policy,
    "PutRegistryPolicy": ecr_put_registry_policy,
    "DeleteRegistryPolicy": ecr_delete_registry_policy,
    "GetAccountSetting": ecr_get_account_setting,
    "PutAccountSetting": ecr_put_account_setting,
    "DescribePullThroughCacheRules": ecr_describe_pull_through_cache_rules,
    "GetDownloadUrlForLayer": ecr_get_download_url_for_layer,
    "BatchCheckLayerAvailability": ecr_batch_check_layer_availability,
}
