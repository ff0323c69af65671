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
        policies = {"FullAWSAccess": FULL_AWS_ACCESS}
        policies.update(spec.get("policies") or {})
        self.policies = policies
        root = spec.get("root") or {}
        self.root_id = root.get("id", "r-" + hashlib.sha256(self.id.encode()).hexdigest()[:4])
        self.node_scps = {}      # node id -> list of docs
        self.account_path = {}   # account -> [root id, ou ids...]
        self.ou_names = {}
        self._walk(root, self.root_id, [self.root_id], "organization.root")
        if self.management_account not in self.account_path:
            self.account_path[self.management_account] = [self.root_id]
        self.account_scps = {}
        for acct, names in (spec.get("account_scps") or {}).items():
            self.account_scps[acct] = self._docs(names, "organization.account_scps.%s" % acct)

    def _docs(self, names, where):
        docs = []
        for n in names:
            if isinstance(n, dict):
                docs.append(n)
            elif n in self.policies:
                docs.append(self.policies[n])
            else:
                raise ScenarioError("%s names SCP %r, not in organization.policies" % (where, n))
        return docs

    def _walk(self, node, node_id, path, where):
        # An absent "scps" means FullAWSAccess, as AWS attaches it to every new root and OU.
        self.node_scps[node_id] = self._docs(node.get("scps", ["FullAWSAccess"]), where + ".scps")
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

    def account_arn(self, account):
        return "arn:aws:organizations::%s:account/%s/%s" % (self.management_account, self.id, account)


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
    """The loaded scenario. Repository policies are the only state that changes at run time."""

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
