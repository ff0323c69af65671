"""Scenario files for the AWS simulator: loading (with "extends" and a deep merge), checking,
and the in-memory model the services read (accounts, organization, identities, repositories).

The format is documented in scripts/awssim/README.md. This module knows the scenario's
shape and derives ARNs, ids and images from it; it knows nothing of HTTP or wire formats.
"""

import copy
import hashlib
import json
import os
import re

import iampolicy
import imagegen

FULL_AWS_ACCESS = {
    # The SCP AWS attaches to the root, every OU and every account by default
    # (organizations user guide, orgs_manage_policies_scps; iam-evaluation.md 7.1).
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}

RCP_FULL_AWS_ACCESS = {
    # The RCP AWS attaches to the root, every OU and every account once RCPs are enabled, and
    # which cannot be detached (organizations user guide, orgs_manage_policies_rcps;
    # iam-evaluation.md 7.2). RCPs must name Principal "*".
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}],
}

DEFAULT_ENDPOINT_POLICY = {
    # What an interface endpoint allows when no policy is given: everything (vpc/latest/
    # privatelink/vpc-endpoints-access.html, "default endpoint policy"; iam-evaluation.md 7.5).
    "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}],
}

# Regions launched after 20 March 2019 are opt-in: disabled until an account enables them
# (Account Management guide, manage-acct-regions.html; the same list as src/core/regions.c).
DEFAULT_OPT_IN_REGIONS = (
    "af-south-1", "ap-east-1", "ap-east-2", "ap-south-2", "ap-southeast-3", "ap-southeast-4",
    "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ca-west-1", "eu-central-2",
    "eu-south-1", "eu-south-2", "il-central-1", "me-central-1", "me-south-1", "mx-central-1",
)

KMS_KEY_STATES = ("Enabled", "Disabled", "PendingDeletion", "GrantRevoked")
ENCRYPTION_TYPES = ("AES256", "KMS", "KMS_DSSE")  # EncryptionType enum, ecr-2015-09-21 model
UPSTREAM_REGISTRIES = ("ecr", "ecr-public", "quay", "k8s", "docker-hub",
                       "github-container-registry", "azure-container-registry",
                       "gitlab-container-registry", "chainguard")  # UpstreamRegistry enum
UPSTREAM_FAILURES = ("UpstreamAccessDenied", "UpstreamTooManyRequests", "UpstreamUnavailable")
REGISTRY_POLICY_SCOPES = ("V1", "V2")

DEFAULT_TOKEN_TTL_S = 12 * 3600  # ECR authorization tokens last 12 hours (registry_auth.html)


class ScenarioError(Exception):
    """The scenario file cannot be used; the message says where and why."""


def _strip_comments(obj):
    # Keys starting with "_" are comments, so JSON scenarios can say why a value is there.
    if isinstance(obj, dict):
        return {k: _strip_comments(v) for k, v in obj.items() if not k.startswith("_")}
    if isinstance(obj, list):
        return [_strip_comments(v) for v in obj]
    return obj


def deep_merge(base, over):
    """over onto base: dicts merge key by key, null deletes a key, anything else replaces."""
    if not isinstance(base, dict) or not isinstance(over, dict):
        return copy.deepcopy(over)
    out = copy.deepcopy(base)
    for k, v in over.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def load_raw(path, _seen=None):
    """Read a scenario file, following "extends" (relative to the including file)."""
    path = os.path.abspath(path)
    seen = _seen or []
    if path in seen:
        raise ScenarioError("scenario 'extends' loop: %s" % " -> ".join(seen + [path]))
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise ScenarioError("cannot read scenario %s: %s" % (path, e.strerror))
    except ValueError as e:
        raise ScenarioError("scenario %s is not valid JSON: %s" % (path, e))
    if not isinstance(data, dict):
        raise ScenarioError("scenario %s must be a JSON object" % path)
    data = _strip_comments(data)
    parent = data.pop("extends", None)
    if parent:
        base = load_raw(os.path.join(os.path.dirname(path), parent), seen + [path])
        data = deep_merge(base, data)
    return data


def _uuid_of(text):
    h = hashlib.sha256(text.encode()).hexdigest()
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:32])


def _hash_id(prefix, text, n=17):
    digest = hashlib.sha256(text.encode()).hexdigest().upper()
    alnum = "".join(c for c in digest if c.isalnum())
    return prefix + alnum[:n]


def partition_for(region):
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def dns_suffix(region):
    return "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"


_SESSION_RX = re.compile(r"^arn:aws[\w-]*:sts::(\d{12}):assumed-role/([\w+=,.@-]+)/([\w+=,.@-]+)$")
_USER_RX = re.compile(r"^arn:aws[\w-]*:iam::(\d{12}):user/(?:[\w+=,.@/-]*/)?([\w+=,.@-]+)$")
_ROOT_RX = re.compile(r"^arn:aws[\w-]*:iam::(\d{12}):root$")


class Identity:
    """One set of credentials and the principal they belong to."""

    def __init__(self, name, spec, scenario):
        self.name = name
        where = "identities.%s" % name
        self.arn = _req(spec, "arn", where)
        m_s, m_u, m_r = _SESSION_RX.match(self.arn), _USER_RX.match(self.arn), _ROOT_RX.match(self.arn)
        if m_s:
            self.kind = "session"
            self.account = m_s.group(1)
            self.role_arn = spec.get("role_arn") or "arn:aws:iam::%s:role/%s" % (
                self.account, m_s.group(2))
            self.session_name = m_s.group(3)
            role_id = spec.get("role_id") or _hash_id("AROA", self.role_arn)
            self.user_id = spec.get("user_id") or "%s:%s" % (role_id, self.session_name)
        elif m_u:
            self.kind, self.account, self.role_arn = "user", m_u.group(1), None
            self.user_id = spec.get("user_id") or _hash_id("AIDA", self.arn)
        elif m_r:
            self.kind, self.account, self.role_arn = "root", m_r.group(1), None
            self.user_id = self.account
        else:
            raise ScenarioError("%s.arn %r is not an assumed-role session, user or root ARN"
                                % (where, self.arn))
        self.access_key_id = _req(spec, "access_key_id", where)
        self.secret_access_key = _req(spec, "secret_access_key", where)
        self.session_token = spec.get("session_token")
        self.expires = None
        if spec.get("expires"):
            try:
                self.expires = imagegen.iso_to_epoch(spec["expires"])
            except ValueError:
                raise ScenarioError("%s.expires %r is not an ISO 8601 time" % (where, spec["expires"]))
        self.region = spec.get("region") or scenario.default_region
        self.tags = dict(spec.get("tags") or {})
        self.source_ip = spec.get("source_ip")
        self.policies = []
        for pname in spec.get("managed_policies") or []:
            doc = scenario.managed_policies.get(pname)
            if doc is None:
                raise ScenarioError("%s.managed_policies names %r, which is not in the "
                                    "top-level managed_policies" % (where, pname))
            self.policies.append(doc)
        for pname, doc in sorted((spec.get("policies") or {}).items()):
            if not isinstance(doc, dict) or "Statement" not in doc:
                raise ScenarioError("%s.policies.%s must be a policy document" % (where, pname))
            self.policies.append(doc)
        self.boundary = spec.get("permissions_boundary")
        self.session_policy = spec.get("session_policy")
        self.issued_by = None  # for sessions STS issued at run time: the caller's ARN
        # The interface endpoint this identity's ECR requests pass through, and its address
        # inside the VPC (aws:VpcSourceIp).
        self.via_vpc_endpoint = spec.get("via_vpc_endpoint")
        if self.via_vpc_endpoint is not None and \
                self.via_vpc_endpoint not in scenario.vpc_endpoints:
            raise ScenarioError("%s.via_vpc_endpoint names %r, which is not in vpc_endpoints"
                                % (where, self.via_vpc_endpoint))
        self.vpc_source_ip = spec.get("vpc_source_ip", "10.0.12.34")


class Repository:
    """One ECR repository with its images and (mutable) repository policy text."""

    def __init__(self, key, spec, scenario):
        parts = key.split("/", 2)
        if len(parts) != 3 or not re.fullmatch(r"\d{12}", parts[0]):
            raise ScenarioError("repositories key %r must be ACCOUNT/REGION/NAME" % key)
        self.account, self.region, self.name = parts
        if not re.fullmatch(r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*",
                            self.name):
            raise ScenarioError("repositories key %r: %r is not a valid repository name"
                                % (key, self.name))
        part = partition_for(self.region)
        self.arn = "arn:%s:ecr:%s:%s:repository/%s" % (part, self.region, self.account, self.name)
        self.uri = "%s.dkr.ecr.%s.%s/%s" % (self.account, self.region, dns_suffix(self.region),
                                            self.name)
        self.created_at = imagegen.iso_to_epoch(spec.get("created_at", "2023-11-02T09:30:00Z"))
        self.tag_mutability = spec.get("tag_mutability", "MUTABLE")
        self.tags = dict(spec.get("tags") or {})
        enc = spec.get("encryption") or {}
        if not isinstance(enc, dict):
            raise ScenarioError("repositories.%s.encryption must be an object" % key)
        self.encryption_type = enc.get("type", "AES256")
        if self.encryption_type not in ENCRYPTION_TYPES:
            raise ScenarioError("repositories.%s.encryption.type must be one of %s"
                                % (key, ", ".join(ENCRYPTION_TYPES)))
        self.kms_key = None
        self.key_state = "Enabled"
        if self.encryption_type != "AES256":
            # Without a key ECR uses the AWS managed key aws/ecr (ecr model, EncryptionConfiguration).
            self.kms_key = enc.get("kms_key") or "arn:%s:kms:%s:%s:key/%s" % (
                part, self.region, self.account, _uuid_of("aws/ecr|" + key))
            self.key_state = enc.get("key_state", "Enabled")
            if self.key_state not in KMS_KEY_STATES:
                raise ScenarioError("repositories.%s.encryption.key_state must be one of %s"
                                    % (key, ", ".join(KMS_KEY_STATES)))
        pol = spec.get("policy")
        self.policy_text = None
        if pol is not None:
            self.policy_text = pol if isinstance(pol, str) else json.dumps(pol)
            try:
                json.loads(self.policy_text)
            except ValueError:
                # ECR never stores a policy that is not JSON (SetRepositoryPolicy refuses it).
                raise ScenarioError("repositories.%s.policy is not valid JSON" % key)
        self.manifests = {}   # digest -> imagegen.Manifest (tops and index children)
        self.tag_map = {}     # tag -> digest
        self.pushed_at = {}   # digest -> epoch
        self.blobs = {}       # digest -> imagegen.Blob referenced by some manifest here
        base_time = imagegen.iso_to_epoch(imagegen.DEFAULT_CREATED)
        images = spec.get("images") or []
        for i, img in enumerate(images):
            tags = list(img.get("tags") or [])
            seed = "%s|%s" % (key, ",".join(tags) or str(i))
            try:
                top = imagegen.build_image(img, seed)
            except (ValueError, TypeError) as e:
                raise ScenarioError("repositories.%s.images[%d]: %s" % (key, i, e))
            pushed = imagegen.iso_to_epoch(img["pushed_at"]) if img.get("pushed_at") else \
                base_time - 86400 * 7 * i
            for m in [top] + top.children:
                self.manifests.setdefault(m.digest, m)
                self.pushed_at.setdefault(m.digest, pushed)
                for b in m.blobs:
                    self.blobs[b.digest] = b
            for t in tags:
                if t in self.tag_map:
                    raise ScenarioError("repositories.%s: tag %r used twice" % (key, t))
                self.tag_map[t] = top.digest

    def tags_of(self, digest):
        return sorted(t for t, d in self.tag_map.items() if d == digest)

    @property
    def key_unusable(self):
        """The KMS key state that stops ECR decrypting this repository's content, or None."""
        if self.encryption_type == "AES256" or self.key_state == "Enabled":
            return None
        return self.key_state

    def add_image(self, tag, top, pushed_at):
        """Store a manifest (and its index children and blobs) under tag, as a pull through
        cache import does. The caller holds the state lock."""
        for m in [top] + top.children:
            self.manifests.setdefault(m.digest, m)
            self.pushed_at.setdefault(m.digest, pushed_at)
            for b in m.blobs:
                self.blobs[b.digest] = b
        if tag:
            self.tag_map[tag] = top.digest

    def policy_doc(self):
        """The stored repository policy as a document, or None."""
        if self.policy_text is None:
            return None
        try:
            return json.loads(self.policy_text)
        except ValueError:
            return None


class Organization:
    def __init__(self, spec, scenario):
        where = "organization"
        self.id = _req(spec, "id", where)
        if not re.fullmatch(r"o-[a-z0-9]{10,32}", self.id):
            raise ScenarioError("organization.id %r is not o- followed by 10-32 lowercase "
                                "letters or digits" % self.id)
        self.management_account = _req(spec, "management_account", where)
        self.feature_set = spec.get("feature_set", "ALL")
        mgmt = scenario.accounts.get(self.management_account, {})
        self.management_email = spec.get("management_email") or mgmt.get("email") or \
            "aws+%s@example.com" % self.management_account
        self.arn = "arn:aws:organizations::%s:organization/%s" % (self.management_account, self.id)
        policies = {"FullAWSAccess": FULL_AWS_ACCESS, "RCPFullAWSAccess": RCP_FULL_AWS_ACCESS}
        policies.update(spec.get("policies") or {})
        self.policies = policies
        root = spec.get("root") or {}
        self.root_id = root.get("id", "r-" + hashlib.sha256(self.id.encode()).hexdigest()[:4])
        self.node_scps = {}      # node id -> list of docs
        self.node_rcps = {}      # node id -> list of docs, for nodes that list "rcps"
        self.account_path = {}   # account -> [root id, ou ids...]
        self.ou_names = {}
        self._walk(root, self.root_id, [self.root_id], "organization.root")
        if self.management_account not in self.account_path:
            self.account_path[self.management_account] = [self.root_id]
        self.account_scps = {}
        for acct, names in (spec.get("account_scps") or {}).items():
            self.account_scps[acct] = self._docs(names, "organization.account_scps.%s" % acct)
        self.account_rcps = {}
        for acct, names in (spec.get("account_rcps") or {}).items():
            self.account_rcps[acct] = self._docs(names, "organization.account_rcps.%s" % acct,
                                                 "RCP")
        # true: RCPFullAWSAccess sits at every level and cannot be detached; false: the RCP
        # policy type is not enabled; absent: enabled when some level lists rcps.
        self.rcps_enabled = spec.get("rcps_enabled")
        if self.rcps_enabled is None:
            self.rcps_enabled = bool(self.node_rcps or self.account_rcps)
        if self.rcps_enabled and self.feature_set != "ALL":
            # RCPs need all features (orgs_manage_policies_rcps.html).
            raise ScenarioError("organization: RCPs need feature_set ALL")
        self.rcp_full_always = spec.get("rcps_enabled") is True

    def policy_arn(self, doc, scp=True):
        """The ARN AWS names an SCP or RCP by: AWS's own FullAWSAccess policies are
        arn:aws:organizations::aws:policy/service_control_policy/p-FullAWSAccess (and
        resource_control_policy/p-RCPFullAWSAccess); the organization's are
        arn:aws:organizations::MGMT:policy/o-ID/service_control_policy/p-ID (AWS Security Blog,
        "Enhanced access denied error messages with policy ARNs"; the p- id derived here)."""
        kind = "service_control_policy" if scp else "resource_control_policy"
        name = next((n for n, d in self.policies.items() if d is doc), None)
        if name in ("FullAWSAccess", "RCPFullAWSAccess"):
            return "arn:aws:organizations::aws:policy/%s/p-%s" % (kind, name)
        pid = "p-" + hashlib.sha256((name or json.dumps(doc, sort_keys=True)).encode()).hexdigest()[:8]
        return "arn:aws:organizations::%s:policy/%s/%s/%s" % (self.management_account, self.id,
                                                            kind, pid)

    def _docs(self, names, where, kind="SCP"):
        docs = []
        for n in names:
            if isinstance(n, dict):
                docs.append(n)
            elif n in self.policies:
                docs.append(self.policies[n])
            else:
                raise ScenarioError("%s names %s %r, not in organization.policies" % (where, kind, n))
        return docs

    def _walk(self, node, node_id, path, where):
        # An absent "scps" means FullAWSAccess, as AWS attaches it to every new root and OU.
        self.node_scps[node_id] = self._docs(node.get("scps", ["FullAWSAccess"]), where + ".scps")
        if "rcps" in node:
            self.node_rcps[node_id] = self._docs(node["rcps"] or [], where + ".rcps", "RCP")
        for acct in node.get("accounts") or []:
            if acct in self.account_path:
                raise ScenarioError("%s: account %s placed twice in the organization" % (where, acct))
            self.account_path[acct] = list(path)
        for name, ou in (node.get("ous") or {}).items():
            ou_id = ou.get("id") or "ou-%s-%s" % (self.root_id[2:],
                                                  hashlib.sha256(name.encode()).hexdigest()[:8])
            self.ou_names[ou_id] = name
            self._walk(ou, ou_id, path + [ou_id], "%s.ous.%s" % (where, name))

    def contains(self, account):
        return account in self.account_path

    def org_path(self, account):
        """aws:PrincipalOrgPaths value: o-id/r-id/ou-.../ (iam-evaluation.md section 4)."""
        return "/".join([self.id] + self.account_path[account]) + "/"

    def scp_levels(self, account):
        """None for the management account or a non-member (SCPs do not apply: 7.1)."""
        if account == self.management_account or account not in self.account_path:
            return None
        levels = [self.node_scps[n] for n in self.account_path[account]]
        levels.append(self.account_scps.get(account, [FULL_AWS_ACCESS]))
        return levels

    def rcp_levels(self, account):
        """The RCPs on a resource of account, per level; None when RCPs are not enabled or the
        account is the management account or not a member (7.2). A level that lists no rcps
        has RCPFullAWSAccess, as AWS attaches it; with rcps_enabled true it is always there."""
        if not self.rcps_enabled or account == self.management_account or \
                account not in self.account_path:
            return None
        lists = [self.node_rcps.get(n) for n in self.account_path[account]]
        lists.append(self.account_rcps.get(account))
        levels = []
        for docs in lists:
            if docs is None:
                docs = [RCP_FULL_AWS_ACCESS]
            elif self.rcp_full_always and RCP_FULL_AWS_ACCESS not in docs:
                docs = [RCP_FULL_AWS_ACCESS] + docs
            levels.append(docs)
        return levels

    def account_arn(self, account):
        return "arn:aws:organizations::%s:account/%s/%s" % (self.management_account, self.id, account)


class VpcEndpoint:
    """An interface VPC endpoint for ECR (com.amazonaws.REGION.ecr.api / .ecr.dkr)."""

    def __init__(self, vpce_id, spec):
        where = "vpc_endpoints.%s" % vpce_id
        if not re.fullmatch(r"vpce-[0-9a-f]{8,17}", vpce_id):
            raise ScenarioError("%s: %r is not vpce- followed by 8-17 hex digits" % (where, vpce_id))
        if not isinstance(spec, dict):
            raise ScenarioError("%s must be an object" % where)
        self.id = vpce_id
        self.vpc_id = _req(spec, "vpc_id", where)
        self.services = list(spec.get("services") or ["ecr.api", "ecr.dkr"])
        for svc in self.services:
            if svc not in ("ecr.api", "ecr.dkr"):
                raise ScenarioError("%s.services: %r is neither ecr.api nor ecr.dkr" % (where, svc))
        pol = spec.get("policy")
        if pol is None:
            pol = DEFAULT_ENDPOINT_POLICY
        if isinstance(pol, str):
            try:
                pol = json.loads(pol)
            except ValueError:
                raise ScenarioError("%s.policy is not valid JSON" % where)
        if not isinstance(pol, dict) or "Statement" not in pol:
            raise ScenarioError("%s.policy must be a policy document" % where)
        self.policy = pol


class PullThroughCacheRule:
    """A pull through cache rule: ACCOUNT/REGION/PREFIX -> an upstream registry and the
    images it holds (by upstream repository), or the failure it answers with."""

    _PREFIX_RX = re.compile(r"(?:[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
                            r"(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*/?|ROOT)")

    def __init__(self, key, spec, scenario):
        where = "pull_through_cache_rules.%s" % key
        parts = key.split("/", 2)
        if len(parts) != 3 or not re.fullmatch(r"\d{12}", parts[0]) or not parts[1]:
            raise ScenarioError("pull_through_cache_rules key %r must be ACCOUNT/REGION/PREFIX" % key)
        self.account, self.region, self.prefix = parts
        # PullThroughCacheRuleRepositoryPrefix: 2-30 characters of this pattern (ecr model).
        if not (2 <= len(self.prefix) <= 30 and self._PREFIX_RX.fullmatch(self.prefix)) \
                or self.prefix == "ROOT":
            raise ScenarioError("%s: %r is not a valid ecrRepositoryPrefix" % (where, self.prefix))
        spec = spec or {}
        self.upstream_registry_url = _req(spec, "upstream_registry_url", where)
        self.upstream_registry = spec.get("upstream_registry")
        if self.upstream_registry is not None and self.upstream_registry not in UPSTREAM_REGISTRIES:
            raise ScenarioError("%s.upstream_registry must be one of %s"
                                % (where, ", ".join(UPSTREAM_REGISTRIES)))
        self.credential_arn = spec.get("credential_arn")
        if self.credential_arn is not None and not re.fullmatch(
                r"arn:aws(-\w+)*:secretsmanager:[a-zA-Z0-9-:]+:secret:ecr\-pullthroughcache/"
                r"[a-zA-Z0-9/_+=.@-]+", self.credential_arn):
            raise ScenarioError("%s.credential_arn must be a Secrets Manager ARN under "
                                "ecr-pullthroughcache/ (CredentialArn pattern)" % where)
        self.upstream_repository_prefix = spec.get("upstream_repository_prefix")
        self.created_at = imagegen.iso_to_epoch(spec.get("created_at", "2024-01-15T10:00:00Z"))
        self.updated_at = imagegen.iso_to_epoch(spec["updated_at"]) if spec.get("updated_at") \
            else None
        self.upstream_failure = spec.get("upstream_failure")
        if self.upstream_failure is not None and self.upstream_failure not in UPSTREAM_FAILURES:
            raise ScenarioError("%s.upstream_failure must be null or one of %s"
                                % (where, ", ".join(UPSTREAM_FAILURES)))
        # Upstream repositories, built with the repositories' image format: "images" as a
        # repository lists them, or "tags": {TAG: image spec}.
        self.upstream = {}
        for name, up in (spec.get("upstream_images") or {}).items():
            up = up or {}
            images = list(up.get("images") or [])
            for tag, img in sorted((up.get("tags") or {}).items()):
                img = dict(img or {})
                img["tags"] = [tag]
                images.append(img)
            ukey = "%s/%s/%s/%s" % (self.account, self.region, self.prefix, name)
            try:
                self.upstream[name] = Repository(ukey, {"images": images}, scenario)
            except ScenarioError as e:
                raise ScenarioError("%s.upstream_images.%s: %s" % (where, name, e))

    def upstream_name(self, repo_name):
        """The upstream repository a repository name maps to, or None."""
        if repo_name.startswith(self.prefix.rstrip("/") + "/"):
            return repo_name[len(self.prefix.rstrip("/")) + 1:]
        return None


_ROLE_ARN_RX = re.compile(r"^arn:(aws[\w-]*):iam::(\d{12}):role/(?:[\w+=,.@-]+/)*([\w+=,.@-]+)$")


class Role:
    """An IAM role that STS AssumeRole / AssumeRoleWithWebIdentity can issue sessions of.

    trust lists who may call sts:AssumeRole: principal ARNs (a role ARN admits its sessions),
    account roots or bare account ids (any principal of that account), service names (never a
    caller here), or "*". web_identity_tokens are the token texts AssumeRoleWithWebIdentity
    accepts. Sessions get the policies of the identity named by "like", or the role's own.
    """

    def __init__(self, arn, spec, scenario):
        where = "roles.%s" % arn
        m = _ROLE_ARN_RX.match(arn)
        if not m:
            raise ScenarioError("%s: %r is not an IAM role ARN" % (where, arn))
        self.arn = arn
        self.partition, self.account, self.name = m.group(1), m.group(2), m.group(3)
        self.trust = list(spec.get("trust") or [])
        self.web_identity_tokens = list(spec.get("web_identity_tokens") or [])
        self.external_id = spec.get("external_id")
        self.session_ttl_s = spec.get("session_ttl_s")
        self.max_session_duration_s = int(spec.get("max_session_duration_s", 3600))
        like = spec.get("like")
        self.region = spec.get("region") or scenario.default_region
        self.tags = dict(spec.get("tags") or {})
        self.policies, self.boundary, self.session_policy = [], None, None
        if like:
            if like not in scenario.identities:
                raise ScenarioError("%s.like names %r, which is not in identities" % (where, like))
            src = scenario.identities[like]
            self.policies = list(src.policies)
            self.boundary, self.session_policy = src.boundary, src.session_policy
            self.tags = dict(src.tags, **self.tags)
            self.region = spec.get("region") or src.region
        for pname in spec.get("managed_policies") or []:
            doc = scenario.managed_policies.get(pname)
            if doc is None:
                raise ScenarioError("%s.managed_policies names %r, which is not in the "
                                    "top-level managed_policies" % (where, pname))
            self.policies.append(doc)
        for pname, doc in sorted((spec.get("policies") or {}).items()):
            if not isinstance(doc, dict) or "Statement" not in doc:
                raise ScenarioError("%s.policies.%s must be a policy document" % (where, pname))
            self.policies.append(doc)

    def trusts(self, ident):
        """Whether the trust policy lets ident call sts:AssumeRole (identity policies are not
        evaluated: a known approximation)."""
        for p in self.trust:
            if p == "*" or p in (ident.arn, ident.role_arn):
                return True
            if p in ("arn:aws:iam::%s:root" % ident.account, ident.account):
                return True
        return False


def _service_spec(spec, where, scenario):
    """Checks an {"identity": NAME, ...} block (imds, container_credentials) and returns it."""
    if not spec:
        return None
    if not isinstance(spec, dict):
        raise ScenarioError("%s must be an object" % where)
    name = spec.get("identity")
    if name not in scenario.identities:
        raise ScenarioError("%s.identity names %r, which is not in identities" % (where, name))
    return spec


def _req(spec, key, where):
    if not isinstance(spec, dict) or spec.get(key) in (None, ""):
        raise ScenarioError("%s.%s is required" % (where, key))
    return spec[key]


class Scenario:
    """The loaded scenario. What changes at run time: repository policies, registry policies
    and their scope, repositories a pull through cache creates, and the images it imports."""

    def __init__(self, raw, path=None):
        self.raw = raw
        self.path = path
        self.default_region = raw.get("default_region", "us-east-1")
        self.clock_offset_s = float(raw.get("clock_offset_s", 0) or 0)
        self.token_ttl_s = float(raw.get("token_ttl_s", DEFAULT_TOKEN_TTL_S))
        self.source_ip = raw.get("source_ip")
        self.faults = list(raw.get("faults") or [])
        self.accounts = dict(raw.get("accounts") or {})
        for acct in self.accounts:
            if not re.fullmatch(r"\d{12}", acct):
                raise ScenarioError("accounts key %r is not a 12-digit account id" % acct)
        self.managed_policies = dict(raw.get("managed_policies") or {})
        self.org = Organization(raw["organization"], self) if raw.get("organization") else None
        if self.org:
            for acct in self.org.account_path:
                self.accounts.setdefault(acct, {})
        self.vpc_endpoints = {}
        for vid, spec in (raw.get("vpc_endpoints") or {}).items():
            self.vpc_endpoints[vid] = VpcEndpoint(vid, spec)
        self.identities = {}
        self.by_key = {}
        self.by_arn = {}
        for name, spec in (raw.get("identities") or {}).items():
            ident = Identity(name, spec, self)
            if ident.access_key_id in self.by_key:
                raise ScenarioError("identities.%s: access_key_id %s used twice"
                                    % (name, ident.access_key_id))
            self.identities[name] = ident
            self.by_key[ident.access_key_id] = ident
            self.by_arn.setdefault(ident.arn, ident)
            self.accounts.setdefault(ident.account, {})
        self.extra_principals = set(raw.get("extra_principals") or [])
        self.repositories = {}
        for key, spec in (raw.get("repositories") or {}).items():
            repo = Repository(key, spec or {}, self)
            self.repositories[(repo.account, repo.region, repo.name)] = repo
        self.registry_policies = {}
        for key, doc in (raw.get("registry_policies") or {}).items():
            acct, _, region = key.partition("/")
            if not re.fullmatch(r"\d{12}", acct) or not region:
                raise ScenarioError("registry_policies key %r must be ACCOUNT/REGION" % key)
            self.registry_policies[(acct, region)] = doc if isinstance(doc, str) else json.dumps(doc)
        # REGISTRY_POLICY_SCOPE per registry (GetAccountSetting); V2 is the default.
        self.registry_policy_scopes = {}
        for key, scope in (raw.get("registry_policy_scope") or {}).items():
            acct, _, region = key.partition("/")
            if not re.fullmatch(r"\d{12}", acct) or not region:
                raise ScenarioError("registry_policy_scope key %r must be ACCOUNT/REGION" % key)
            if scope not in REGISTRY_POLICY_SCOPES:
                raise ScenarioError("registry_policy_scope.%s must be V1 or V2" % key)
            self.registry_policy_scopes[(acct, region)] = scope
        self.ptc_rules = {}
        for key, spec in (raw.get("pull_through_cache_rules") or {}).items():
            rule = PullThroughCacheRule(key, spec, self)
            self.ptc_rules[(rule.account, rule.region, rule.prefix)] = rule
        regions = raw.get("regions") or {}
        if not isinstance(regions, dict):
            raise ScenarioError("regions must be an object")
        self.opt_in_regions = set(regions.get("opt_in", DEFAULT_OPT_IN_REGIONS))
        self.enabled_regions = {}
        for acct, lst in (regions.get("enabled") or {}).items():
            if not re.fullmatch(r"\d{12}", acct) or not isinstance(lst, list):
                raise ScenarioError("regions.enabled must map 12-digit account ids to lists "
                                    "of regions (got %r)" % acct)
            self.enabled_regions[acct] = set(lst)
        self.roles = {}
        for arn, spec in (raw.get("roles") or {}).items():
            self.roles[arn] = Role(arn, spec or {}, self)
        self.imds = _service_spec(raw.get("imds"), "imds", self)
        self.container_credentials = []
        cc = raw.get("container_credentials")
        for i, spec in enumerate(cc if isinstance(cc, list) else [cc] if cc else []):
            where = "container_credentials[%d]" % i
            _service_spec(spec, where, self)
            if not str(spec.get("path", "")).startswith("/"):
                raise ScenarioError("%s.path must start with /" % where)
            if not spec.get("token"):
                raise ScenarioError("%s.token is required" % where)
            self.container_credentials.append(spec)
        self.sso = raw.get("sso") or {}
        for key, name in (self.sso.get("assignments") or {}).items():
            if not re.fullmatch(r"\d{12}/[\w+=,.@-]+", key):
                raise ScenarioError("sso.assignments key %r must be ACCOUNT/ROLE_NAME" % key)
            if name not in self.identities:
                raise ScenarioError("sso.assignments.%s names identity %r, which is not in "
                                    "identities" % (key, name))
        for tok, spec in (self.sso.get("access_tokens") or {}).items():
            if spec and spec.get("expires"):
                try:
                    imagegen.iso_to_epoch(spec["expires"])
                except ValueError:
                    raise ScenarioError("sso.access_tokens entry expires %r is not an ISO 8601 "
                                        "time" % spec["expires"])
        self.session_serial = 0

    def add_session(self, role, session_name, expires, source=None):
        """A new assumed-role session of role (a Role) issued by STS: fresh keys, the role's
        policies, expiring at expires (epoch seconds). Returns the Identity."""
        import secrets as _secrets
        self.session_serial += 1
        acct = role.account
        alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
        key = "ASIA" + "".join(_secrets.choice(alnum) for _ in range(16))
        spec = {
            "arn": "arn:%s:sts::%s:assumed-role/%s/%s" % (role.partition, acct, role.name, session_name),
            "role_arn": role.arn,
            "access_key_id": key,
            "secret_access_key": "AwsSimIssuedSecret/" + _secrets.token_hex(10),
            "session_token": "AwsSimIssuedSessionToken/" + _secrets.token_urlsafe(96),
        }
        ident = Identity("session-%d" % self.session_serial, spec, self)
        ident.expires = expires
        ident.region = role.region
        ident.policies = list(role.policies)
        ident.boundary = role.boundary
        ident.session_policy = role.session_policy
        ident.tags = dict(role.tags)
        ident.issued_by = source
        self.identities[ident.name] = ident
        self.by_key[ident.access_key_id] = ident
        self.by_arn[ident.arn] = ident
        return ident

    def identity(self, name_or_arn):
        ident = self.identities.get(name_or_arn) or self.by_arn.get(name_or_arn)
        if ident is None:
            raise KeyError("no identity %r in the scenario (have: %s)"
                           % (name_or_arn, ", ".join(sorted(self.identities))))
        return ident

    def principal(self, ident):
        """The iampolicy.Principal for an identity, with its organization facts."""
        org_id = org_path = None
        if self.org and self.org.contains(ident.account):
            org_id, org_path = self.org.id, self.org.org_path(ident.account)
        return iampolicy.Principal(ident.arn, ident.account, ident.kind, ident.role_arn,
                                   ident.tags, ident.user_id, org_id, org_path)

    def scp_levels(self, account):
        return self.org.scp_levels(account) if self.org else None

    def rcp_levels(self, account):
        """RCPs on resources of account (None when none apply)."""
        return self.org.rcp_levels(account) if self.org and account else None

    def region_enabled(self, account, region):
        """Whether account may use region: every region but an opt-in one it has not enabled."""
        return region not in self.opt_in_regions or region in self.enabled_regions.get(account, ())

    def registry_scope(self, account, region):
        return self.registry_policy_scopes.get((account, region), "V2")

    def ptc_rule_for(self, account, region, repo_name):
        """(rule, upstream repository name) of the pull through cache rule whose prefix the
        repository name starts with (the longest one), or (None, None)."""
        best = (None, None)
        for (a, g, prefix), rule in self.ptc_rules.items():
            if a != account or g != region:
                continue
            up = rule.upstream_name(repo_name)
            if up and (best[0] is None or len(prefix) > len(best[0].prefix)):
                best = (rule, up)
        return best

    def principal_exists(self, arn):
        """Whether a Principal entry names something real (SetRepositoryPolicy checks this)."""
        if arn in self.extra_principals:
            return True
        m = re.fullmatch(r"arn:aws[\w-]*:iam::(\d{12}):root", arn)
        if m:
            return m.group(1) in self.accounts
        if re.fullmatch(r"\d{12}", arn):
            return arn in self.accounts
        for ident in self.identities.values():
            if arn in (ident.arn, ident.role_arn):
                return True
        return False


def load(path):
    raw = load_raw(path)
    try:
        return Scenario(raw, path)
    except KeyError as e:
        raise ScenarioError("scenario %s: missing %s" % (path, e))
