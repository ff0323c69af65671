"""IAM policy evaluation for the AWS simulator: identity, SCP, RCP, boundary, session, resource
(repository and registry) and VPC endpoint policies, with the same-account union rule and the
cross-account both-must-allow rule.

Written from /work/shared/reference/iam-evaluation.md (section numbers cited below), on its
own and apart from the C evaluator so the two can check each other. It knows nothing of
HTTP or of the scenario file: callers pass a Principal, a Request and the policy documents.
"""

import base64
import datetime
import ipaddress
import re

# The policy types named in AccessDenied messages (iam-evaluation.md 1.6, IAM
# troubleshoot_access-denied page).
IDENTITY = "identity-based"
RESOURCE = "resource-based"
SCP = "service control"
BOUNDARY = "permissions boundary"
SESSION = "session"
RCP = "resource control"        # "... in a resource control policy" (IAM troubleshoot page)
VPC_ENDPOINT = "VPC endpoint"   # "... in a VPC endpoint policy" (iam-evaluation.md 1.6, 7.5)


class Principal:
    """The caller as policies see it.

    kind is "session" (assumed-role), "user" or "root". For sessions, role_arn is the IAM
    role and arn the sts assumed-role ARN (iam-evaluation.md 3.3).
    """

    def __init__(self, arn, account, kind, role_arn=None, tags=None, user_id=None,
                 org_id=None, org_path=None):
        self.arn = arn
        self.account = account
        self.kind = kind
        self.role_arn = role_arn
        self.tags = dict(tags or {})
        self.user_id = user_id
        self.org_id = org_id
        self.org_path = org_path

    @property
    def principal_arn(self):
        """aws:PrincipalArn: the role ARN for a session, else the caller ARN."""
        return self.role_arn if self.kind == "session" else self.arn

    @property
    def principal_type(self):
        return {"session": "AssumedRole", "user": "User", "root": "Account"}[self.kind]

    def chain(self):
        """Everything a Principal/NotPrincipal entry may name for this caller (3.1, 3.4)."""
        out = ["arn:aws:iam::%s:root" % self.account]
        if self.kind == "session":
            out += [self.role_arn, self.arn]
        elif self.kind == "user":
            out.append(self.arn)
        return out


class Request:
    """One authorisation question: action, resource ARN (or "*") and the context keys.

    context maps condition key (any case) to a string or a list of strings; lists are
    multivalued keys such as aws:PrincipalOrgPaths.
    """

    def __init__(self, principal, action, resource, context):
        self.principal = principal
        self.action = action
        self.resource = resource
        self.context = {k.lower(): v for k, v in context.items() if v is not None}


def base_context(principal, resource_account=None, source_ip=None, now=None, region=None):
    """The global condition keys the simulator supplies (iam-evaluation.md section 4)."""
    now = now if now is not None else datetime.datetime.now(datetime.timezone.utc).timestamp()
    ctx = {
        "aws:PrincipalArn": principal.principal_arn,
        "aws:PrincipalAccount": principal.account,
        "aws:PrincipalType": principal.principal_type,
        "aws:SecureTransport": "true",
        "aws:PrincipalIsAWSService": "false",
        "aws:ViaAWSService": "false",
        "aws:EpochTime": str(int(now)),
        "aws:CurrentTime": datetime.datetime.fromtimestamp(
            now, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if principal.user_id:
        ctx["aws:userid"] = principal.user_id
    if principal.kind == "user":
        ctx["aws:username"] = principal.arn.rsplit("/", 1)[-1]
    if principal.org_id:
        ctx["aws:PrincipalOrgID"] = principal.org_id
        ctx["aws:PrincipalOrgPaths"] = [principal.org_path]
    for k, v in principal.tags.items():
        ctx["aws:PrincipalTag/" + k] = v
    if resource_account:
        ctx["aws:ResourceAccount"] = resource_account
    if source_ip:
        ctx["aws:SourceIp"] = source_ip
    if region:
        ctx["aws:RequestedRegion"] = region
    return ctx


# ---- matching helpers ----

def _as_list(v):
    if v is None:
        return []
    return list(v) if isinstance(v, (list, tuple)) else [v]


_GLOB_CACHE = {}


def glob_match(pattern, value, ignore_case=False):
    """IAM wildcard match: '*' any run, '?' one character, nothing else special."""
    key = (pattern, ignore_case)
    rx = _GLOB_CACHE.get(key)
    if rx is None:
        parts = []
        for ch in pattern:
            if ch == "*":
                parts.append(".*")
            elif ch == "?":
                parts.append(".")
            else:
                parts.append(re.escape(ch))
        rx = re.compile("".join(parts) + r"\Z", re.DOTALL | (re.IGNORECASE if ignore_case else 0))
        _GLOB_CACHE[key] = rx
    return rx.match(value) is not None


def arn_match(pattern, value):
    """ArnLike/ArnEquals: the six ':'-separated parts compared one by one (5.3)."""
    pp = pattern.split(":", 5)
    vp = value.split(":", 5)
    if len(pp) != 6 or len(vp) != 6:
        return pattern == value
    return all(glob_match(p, v) for p, v in zip(pp, vp))


_VAR_RX = re.compile(r"\$\{([^}]*)\}")


def substitute(value, ctx, version):
    """Expand ${...} policy variables (section 6); None when a variable has no value."""
    if version != "2012-10-17" or "${" not in value:
        return value
    missing = []

    def repl(m):
        body = m.group(1)
        if body in ("*", "?", "$"):
            return body
        key, _, default = body.partition(",")
        v = ctx.get(key.strip().lower())
        if isinstance(v, list):
            v = v[0] if len(v) == 1 else None  # only single-valued keys are variables (6.3)
        if v is None:
            d = default.strip()
            if len(d) >= 2 and d[0] == d[-1] == "'":
                return d[1:-1]
            missing.append(key)
            return ""
        return v

    out = _VAR_RX.sub(repl, value)
    return None if missing else out


def match_action(patterns, action):
    return any(glob_match(p, action, ignore_case=True) for p in _as_list(patterns))


def match_resource(patterns, resource, ctx, version):
    for p in _as_list(patterns):
        p = substitute(p, ctx, version)
        if p is None:
            continue
        if p == "*" or glob_match(p, resource):
            return True
    return False


def principal_kind(element, principal):
    """Which entry of a Principal element names the caller: "star", "account", "role",
    "session", "user", or None (3.1). Wildcards never match part of an ARN."""
    if element == "*":
        return "star"
    if not isinstance(element, dict):
        return None
    best = None
    rank = {"account": 1, "role": 2, "session": 3, "user": 3, "star": 3}
    for value in _as_list(element.get("AWS")):
        kind = None
        if value == "*":
            kind = "star"
        elif value == principal.account or value == "arn:aws:iam::%s:root" % principal.account:
            kind = "account"
        elif principal.kind == "session" and value == principal.role_arn:
            kind = "role"
        elif principal.kind == "session" and value == principal.arn:
            kind = "session"
        elif principal.kind == "user" and value == principal.arn:
            kind = "user"
        if kind and (best is None or rank[kind] > rank[best]):
            best = kind
    return best


def not_principal_excludes(element, principal):
    """True when NotPrincipal lists the caller fully: account, role and session for a
    session, account and user for a user (3.4), so the statement does not apply."""
    if element == "*":
        return True
    if not isinstance(element, dict):
        return False
    listed = set(_as_list(element.get("AWS")))
    listed |= {"arn:aws:iam::%s:root" % v for v in listed if re.fullmatch(r"\d{12}", v)}
    return all(c in listed for c in principal.chain())


# ---- conditions ----

def _num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _date(v):
    if v is None:
        return None
    s = str(v)
    if re.fullmatch(r"-?\d+(\.\d+)?", s):
        return float(s)
    try:
        return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _ip_in(policy_value, value):
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(policy_value, strict=False)
    except ValueError:
        return False


def _binary_eq(policy_value, value):
    try:
        return base64.b64decode(policy_value) == base64.b64decode(value)
    except (ValueError, TypeError):
        return False


# operator -> (match(policy_value, request_value), negated, supports variables)
_OPS = {
    "StringEquals": (lambda p, v: p == v, False, True),
    "StringNotEquals": (lambda p, v: p == v, True, True),
    "StringEqualsIgnoreCase": (lambda p, v: p.casefold() == v.casefold(), False, True),
    "StringNotEqualsIgnoreCase": (lambda p, v: p.casefold() == v.casefold(), True, True),
    "StringLike": (glob_match, False, True),
    "StringNotLike": (glob_match, True, True),
    "ArnEquals": (arn_match, False, True),
    "ArnLike": (arn_match, False, True),
    "ArnNotEquals": (arn_match, True, True),
    "ArnNotLike": (arn_match, True, True),
    "NumericEquals": (lambda p, v: _num(p) is not None and _num(p) == _num(v), False, False),
    "NumericNotEquals": (lambda p, v: _num(p) is not None and _num(p) == _num(v), True, False),
    "NumericLessThan": (lambda p, v: None not in (_num(p), _num(v)) and _num(v) < _num(p), False, False),
    "NumericLessThanEquals": (lambda p, v: None not in (_num(p), _num(v)) and _num(v) <= _num(p), False, False),
    "NumericGreaterThan": (lambda p, v: None not in (_num(p), _num(v)) and _num(v) > _num(p), False, False),
    "NumericGreaterThanEquals": (lambda p, v: None not in (_num(p), _num(v)) and _num(v) >= _num(p), False, False),
    "DateEquals": (lambda p, v: _date(p) is not None and _date(p) == _date(v), False, False),
    "DateNotEquals": (lambda p, v: _date(p) is not None and _date(p) == _date(v), True, False),
    "DateLessThan": (lambda p, v: None not in (_date(p), _date(v)) and _date(v) < _date(p), False, False),
    "DateLessThanEquals": (lambda p, v: None not in (_date(p), _date(v)) and _date(v) <= _date(p), False, False),
    "DateGreaterThan": (lambda p, v: None not in (_date(p), _date(v)) and _date(v) > _date(p), False, False),
    "DateGreaterThanEquals": (lambda p, v: None not in (_date(p), _date(v)) and _date(v) >= _date(p), False, False),
    "Bool": (lambda p, v: str(p).lower() == str(v).lower(), False, False),
    "BinaryEquals": (_binary_eq, False, False),
    "IpAddress": (_ip_in, False, False),
    "NotIpAddress": (_ip_in, True, False),
}


def _values_for(op_vars, raw_values, ctx, version):
    out = []
    for p in _as_list(raw_values):
        p = str(p).lower() if isinstance(p, bool) else str(p)
        if op_vars:
            p = substitute(p, ctx, version)
            if p is None:
                continue  # a variable without a value matches nothing (6.3)
        out.append(p)
    return out


def eval_condition_op(op, block, ctx, version):
    """One operator with all its keys (keys ANDed, values ORed, negation NOR: 5.7)."""
    qualifier = None
    name = op
    if ":" in op:
        qualifier, name = op.split(":", 1)
        qualifier = qualifier.lower()
        if qualifier not in ("foranyvalue", "forallvalues"):
            return False
    if_exists = name.endswith("IfExists") and name != "IfExists"
    if if_exists:
        name = name[:-len("IfExists")]
    if not isinstance(block, dict):
        return False
    for key, raw in block.items():
        present = key.lower() in ctx
        req = ctx.get(key.lower())
        if name == "Null":
            want_absent = [str(v).lower() == "true" for v in _as_list(raw)]
            if not any(w == (not present) for w in want_absent):
                return False
            continue
        spec = _OPS.get(name)
        if spec is None:
            return False  # unknown operator: IAM would have rejected the policy
        match, negated, allows_vars = spec
        pvals = _values_for(allows_vars, raw, ctx, version)
        rvals = _as_list(req)
        if not present or not rvals:
            if if_exists:
                continue
            if qualifier == "forallvalues":
                continue  # true on a missing key (5.8)
            if qualifier == "foranyvalue":
                return False
            if negated:
                continue  # negated operators are true on a missing key (5.1)
            return False

        def one(v):
            hit = any(match(p, v) for p in pvals)
            return not hit if negated else hit

        if qualifier == "forallvalues":
            ok = all(one(v) for v in rvals)
        else:
            # ForAnyValue, and plain operators on multivalued keys, want any match.
            ok = any(one(v) for v in rvals)
            if negated and qualifier is None:
                ok = all(one(v) for v in rvals)
        if not ok:
            return False
    return True


def eval_conditions(cond, ctx, version):
    if not cond:
        return True
    if not isinstance(cond, dict):
        return False
    return all(eval_condition_op(op, block, ctx, version) for op, block in cond.items())


# ---- statements and policies ----

def statements(doc):
    if not isinstance(doc, dict):
        return []
    st = doc.get("Statement")
    if isinstance(st, dict):
        return [st]
    return [s for s in _as_list(st) if isinstance(s, dict)]


class PolicyResult:
    """Outcome of one policy document for one request."""

    def __init__(self):
        self.allow = False
        self.deny = False
        self.allow_kind = None  # resource policies: strongest principal kind that allowed
        self.matched = []       # Sids (or indexes) of matching statements, for logs


_KIND_RANK = {None: 0, "account": 1, "role": 2, "session": 3, "user": 3, "star": 3}


def evaluate_policy(doc, req, resource_policy=False, implied_resource=None,
                    missing_principal_is_star=False):
    """Evaluate one document. A resource policy without Resource applies to the resource it
    is attached to (ECR repository policies never carry Resource: 8.1).
    missing_principal_is_star reads a statement without Principal as Principal "*": RCPs and
    VPC endpoint policies must say "*" anyway, and a scenario may leave it out."""
    res = PolicyResult()
    version = doc.get("Version", "2008-10-17") if isinstance(doc, dict) else "2008-10-17"
    for i, st in enumerate(statements(doc)):
        effect = st.get("Effect")
        if effect not in ("Allow", "Deny"):
            continue
        if "Action" in st:
            if not match_action(st["Action"], req.action):
                continue
        elif "NotAction" in st:
            if match_action(st["NotAction"], req.action):
                continue
        else:
            continue
        if "Resource" in st:
            if not match_resource(st["Resource"], req.resource, req.context, version):
                continue
        elif "NotResource" in st:
            if match_resource(st["NotResource"], req.resource, req.context, version):
                continue
        elif not resource_policy:
            continue
        kind = None
        if resource_policy:
            if "Principal" in st:
                kind = principal_kind(st["Principal"], req.principal)
                if kind is None:
                    continue
            elif "NotPrincipal" in st:
                if not_principal_excludes(st["NotPrincipal"], req.principal):
                    continue
                kind = "star"
            elif missing_principal_is_star:
                kind = "star"
            else:
                continue
        if not eval_conditions(st.get("Condition"), req.context, version):
            continue
        res.matched.append(st.get("Sid", "#%d" % i))
        if effect == "Deny":
            res.deny = True
        else:
            res.allow = True
            if _KIND_RANK[kind] > _KIND_RANK[res.allow_kind]:
                res.allow_kind = kind
    return res


class Decision:
    """allowed, plus for a refusal: explicit (bool) and the policy type to name."""

    def __init__(self, allowed, explicit=False, policy_type=None, detail=""):
        self.allowed = allowed
        self.explicit = explicit
        self.policy_type = policy_type
        self.detail = detail
        self.context_shown = True  # False: the caller and the resource are in two organizations
        self.policy_arn = None  # the denying SCP's or RCP's ARN, when AWS would name it

    def as_log(self):
        if self.allowed:
            return {"decision": "allow", "detail": self.detail}
        return {"decision": "explicit_deny" if self.explicit else "implicit_deny",
                "policy_type": self.policy_type, "detail": self.detail}


def access_denied_message(principal_arn, action, resource, decision):
    """The AccessDenied text AWS returns (iam-evaluation.md 1.6; e.g. the CloudTrail text in
    aws-controllers-k8s/community#1641 and everything2/everything2#2562)."""
    head = "User: %s is not authorized to perform: %s on resource: %s" % (
        principal_arn, action, resource)
    if not decision.context_shown:
        return head
    if decision.explicit and decision.policy_arn:
        return "%s with an explicit deny in a %s policy: %s" % (head, decision.policy_type,
                                                                  decision.policy_arn)
    if decision.explicit:
        return "%s with an explicit deny in a %s policy" % (head, decision.policy_type)
    return "%s because no %s policy allows the %s action" % (head, decision.policy_type, action)


def decide(req, identity_docs=(), boundary=None, session_policy=None, scp_levels=None,
           resource_policy=None, resource_account=None, extra_deny_docs=(),
           resource_policy_applies=True, rcp_levels=None, endpoint_policy=None,
           registry_grant_docs=()):
    """The whole evaluation for one request (iam-evaluation.md sections 1, 3.2, 7).

    scp_levels: None when SCPs do not apply (no organization, or the management account),
    else one list of documents per level from the root down to the account.
    rcp_levels: the same for RCPs, of the resource's account (7.2); None when they do not apply.
    resource_policy: the document or None; resource_account: owner of the resource, None
    for actions without a resource type (then only the identity side counts).
    extra_deny_docs: resource-side documents whose Deny statements count, nothing else.
    registry_grant_docs: resource-side documents whose Deny and Allow both count, the
    registry policy where its scope covers the action (8.4): an Allow there grants like the
    repository policy does (undocumented for cross-account pulls, iam-evaluation.md 10).
    endpoint_policy: the VPC endpoint policy the request passed through, or None (7.5).
    """
    p = req.principal
    cross = resource_account is not None and resource_account != p.account

    ident = [evaluate_policy(d, req) for d in identity_docs]
    bnd = evaluate_policy(boundary, req) if boundary is not None else None
    sess = evaluate_policy(session_policy, req) if session_policy is not None else None
    rp = None
    if resource_policy is not None and resource_policy_applies:
        rp = evaluate_policy(resource_policy, req, resource_policy=True)
    extra = [evaluate_policy(d, req, resource_policy=True) for d in extra_deny_docs]
    grants = [evaluate_policy(d, req, resource_policy=True) for d in registry_grant_docs]
    scps = None
    if scp_levels is not None:
        scps = [[evaluate_policy(d, req) for d in level] for level in scp_levels]
    rcps = None
    if rcp_levels is not None:
        rcps = [[evaluate_policy(d, req, resource_policy=True, missing_principal_is_star=True)
                 for d in level] for level in rcp_levels]
    vpce = None
    if endpoint_policy is not None:
        vpce = evaluate_policy(endpoint_policy, req, resource_policy=True,
                               missing_principal_is_star=True)

    # 1.2 step 1: any explicit deny ends it. AWS names one policy type only; the order here
    # is the order of 1.2's list.
    if scps is not None and any(r.deny for level in scps for r in level):
        return Decision(False, True, SCP, "deny in SCP")
    if rcps is not None and any(r.deny for level in rcps for r in level):
        return Decision(False, True, RCP, "deny in RCP")
    if rp is not None and rp.deny:
        return Decision(False, True, RESOURCE, "deny in repository policy")
    if any(r.deny for r in extra + grants):
        return Decision(False, True, RESOURCE, "deny in registry policy")
    if any(r.deny for r in ident):
        return Decision(False, True, IDENTITY, "deny in identity policy")
    if bnd is not None and bnd.deny:
        return Decision(False, True, BOUNDARY, "deny in permissions boundary")
    if sess is not None and sess.deny:
        return Decision(False, True, SESSION, "deny in session policy")
    if vpce is not None and vpce.deny:
        return Decision(False, True, VPC_ENDPOINT, "deny in VPC endpoint policy")

    # step 2: an Allow is needed at every RCP level of the resource's account (7.2).
    if rcps is not None and not all(any(r.allow for r in level) for level in rcps):
        return Decision(False, False, RCP, "no RCP allow at some level")
    # step 3: an Allow is needed at every SCP level (7.1).
    if scps is not None and not all(any(r.allow for r in level) for level in scps):
        return Decision(False, False, SCP, "no SCP allow at some level")
    # The endpoint policy filters what passes through it (7.5); checked with the guardrails,
    # before the grants (which one AWS names when both are missing is not documented).
    if vpce is not None and not vpce.allow:
        return Decision(False, False, VPC_ENDPOINT, "no VPC endpoint policy allow")

    id_allow = any(r.allow for r in ident)
    bnd_ok = bnd is None or bnd.allow
    sess_ok = sess is None or sess.allow
    identity_ok = id_allow and bnd_ok and sess_ok
    rp_kind = None
    for r in ([rp] if rp is not None else []) + grants:
        if r.allow and _KIND_RANK[r.allow_kind] > _KIND_RANK[rp_kind]:
            rp_kind = r.allow_kind
    via = "repository policy" if rp is not None and rp.allow else "registry policy"

    def identity_refusal():
        if not id_allow:
            return Decision(False, False, IDENTITY, "no identity allow")
        if not bnd_ok:
            return Decision(False, False, BOUNDARY, "boundary does not allow")
        return Decision(False, False, SESSION, "session policy does not allow")

    if cross:
        # 1.5: both the trusted (identity) side and the trusting (resource) side.
        if not identity_ok:
            return identity_refusal()
        if rp_kind is None:
            return Decision(False, False, RESOURCE, "no repository policy allow")
        return Decision(True, detail="cross-account: identity and %s allow" % via)

    # 1.4 and 3.2: same account, union with per-principal reach of the resource grant.
    if rp_kind in ("star", "user", "session"):
        return Decision(True, detail="%s allows (%s)" % (via, rp_kind))
    if rp_kind == "role" and bnd_ok and sess_ok:
        return Decision(True, detail="%s allows (role)" % via)
    if identity_ok:
        return Decision(True, detail="identity policy allows")
    if rp_kind == "role":
        # The grant named the role, so what cut it down is the boundary or session policy.
        return Decision(False, False, BOUNDARY if not bnd_ok else SESSION,
                        "role grant limited by %s" % ("boundary" if not bnd_ok else "session policy"))
    return identity_refusal()
