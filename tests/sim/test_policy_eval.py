"""The simulator's IAM evaluator (scripts/awssim/iampolicy.py) against the rules of
shared/reference/iam-evaluation.md, as a table of cases: principal, action, resource,
policies, expected decision and the policy type the AccessDenied text names.
"""

import os
import sys
import unittest

ROOT = os.environ.get("ECRDIAG_ROOT") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts", "awssim"))

import iampolicy as P  # noqa: E402

A, B, C = "632000001762", "722000009750", "833000004321"
ORG = "o-a1b2c3d4e5"
REPO = "arn:aws:ecr:ap-southeast-1:%s:repository/audit/sa/cicd-runner" % A
ROLE_B = "arn:aws:iam::%s:role/eks-node-role" % B
SESS_B = "arn:aws:sts::%s:assumed-role/eks-node-role/i-0b1c2d3e4f5a6b7c8" % B
USER_A = "arn:aws:iam::%s:user/registry-admin" % A
ROLE_A = "arn:aws:iam::%s:role/ci" % A
SESS_A = "arn:aws:sts::%s:assumed-role/ci/build-7" % A

node_b = P.Principal(SESS_B, B, "session", ROLE_B, {"team": "platform"}, "AROAX:i-0b1",
                     ORG, "%s/r-a1b2/ou-a1b2-w0rk10ad/" % ORG)
node_c = P.Principal("arn:aws:sts::%s:assumed-role/eks-node-role/i-0c9" % C, C, "session",
                     "arn:aws:iam::%s:role/eks-node-role" % C)
admin_a = P.Principal(USER_A, A, "user", None, {}, "AIDAX", ORG, "%s/r-a1b2/ou-a1b2-5h4r3d01/" % ORG)
ci_a = P.Principal(SESS_A, A, "session", ROLE_A, {}, "AROAY:build-7", ORG, "%s/r-a1b2/ou-a1b2-5h4r3d01/" % ORG)
root_b = P.Principal("arn:aws:iam::%s:root" % B, B, "root", org_id=ORG,
                     org_path="%s/r-a1b2/ou-a1b2-w0rk10ad/" % ORG)


def doc(*stmts, version="2012-10-17"):
    return {"Version": version, "Statement": list(stmts)}


def allow(action="*", resource="*", **kw):
    st = {"Effect": "Allow", "Action": action, "Resource": resource}
    st.update(kw)
    return st


def deny(action="*", resource="*", **kw):
    st = {"Effect": "Deny", "Action": action, "Resource": resource}
    st.update(kw)
    return st


def rp_allow(principal, action="ecr:BatchGetImage", **kw):
    st = {"Effect": "Allow", "Principal": principal, "Action": action}
    st.update(kw)
    return st


def rp_deny(principal, action="ecr:*", **kw):
    st = {"Effect": "Deny", "Principal": principal, "Action": action}
    st.update(kw)
    return st


READONLY = doc(allow(["ecr:GetAuthorizationToken", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]))
FULL = [[doc(allow())]]
ORG_FIX = doc(rp_allow("*", ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                       Condition={"StringEquals": {"aws:PrincipalOrgID": ORG}}))

ALLOW = ("allow", None)


def imp(t):
    return ("implicit", t)


def exp(t):
    return ("explicit", t)


# name, principal, action, resource account, kwargs for decide(), expected
CASES = [
    # cross account (1.5)
    ("seed: no repository policy", node_b, "ecr:BatchGetImage", A, dict(identity=[READONLY], scps=FULL), imp(P.RESOURCE)),
    ("seed fixed: org grant", node_b, "ecr:BatchGetImage", A, dict(identity=[READONLY], scps=FULL, rp=ORG_FIX), ALLOW),
    ("org grant does not cover C", node_c, "ecr:BatchGetImage", A, dict(identity=[READONLY], rp=ORG_FIX), imp(P.RESOURCE)),
    ("RP grant but no identity allow", node_b, "ecr:BatchGetImage", A, dict(identity=[], scps=FULL, rp=ORG_FIX), imp(P.IDENTITY)),
    ("neither side allows: identity named first", node_b, "ecr:BatchGetImage", A, dict(identity=[]), imp(P.IDENTITY)),
    ("RP names B's account", node_b, "ecr:BatchGetImage", A, dict(identity=[READONLY], rp=doc(rp_allow({"AWS": "arn:aws:iam::%s:root" % B}))), ALLOW),
    ("RP names B by bare account id", node_b, "ecr:BatchGetImage", A, dict(identity=[READONLY], rp=doc(rp_allow({"AWS": B}))), ALLOW),
    ("RP names the role", node_b, "ecr:BatchGetImage", A, dict(identity=[READONLY], rp=doc(rp_allow({"AWS": ROLE_B}))), ALLOW),
    ("RP names the session", node_b, "ecr:BatchGetImage", A, dict(identity=[READONLY], rp=doc(rp_allow({"AWS": SESS_B}))), ALLOW),
    ("RP names another session", node_b, "ecr:BatchGetImage", A, dict(identity=[READONLY], rp=doc(rp_allow({"AWS": SESS_B + "x"}))), imp(P.RESOURCE)),
    ("wildcard inside a principal ARN never matches", node_b, "ecr:BatchGetImage", A, dict(identity=[READONLY], rp=doc(rp_allow({"AWS": "arn:aws:iam::%s:role/*" % B}))), imp(P.RESOURCE)),
    ("RP allows another action only", node_b, "ecr:BatchGetImage", A, dict(identity=[READONLY], rp=doc(rp_allow("*", "ecr:GetDownloadUrlForLayer"))), imp(P.RESOURCE)),
    ("RP action wildcard, any case", node_b, "ecr:BatchGetImage", A, dict(identity=[READONLY], rp=doc(rp_allow("*", "ECR:batch*"))), ALLOW),
    ("RP explicit deny wins over grant", node_b, "ecr:BatchGetImage", A, dict(identity=[READONLY], rp=doc(rp_allow("*", "ecr:*"), rp_deny({"AWS": B}))), exp(P.RESOURCE)),
    ("identity explicit deny", node_b, "ecr:BatchGetImage", A, dict(identity=[READONLY, doc(deny("ecr:BatchGetImage", REPO))], rp=ORG_FIX), exp(P.IDENTITY)),
    ("identity NotResource deny on other accounts", node_b, "ecr:BatchGetImage", A, dict(identity=[READONLY, doc({"Effect": "Deny", "Action": "ecr:*", "NotResource": "arn:aws:ecr:*:%s:repository/*" % B})], rp=ORG_FIX), exp(P.IDENTITY)),
    ("identity scoped to the repository prefix", node_b, "ecr:BatchGetImage", A, dict(identity=[doc(allow("ecr:BatchGetImage", "arn:aws:ecr:*:%s:repository/audit/*" % A))], rp=ORG_FIX), ALLOW),
    ("identity scoped to another prefix", node_b, "ecr:BatchGetImage", A, dict(identity=[doc(allow("ecr:BatchGetImage", "arn:aws:ecr:*:%s:repository/web/*" % A))], rp=ORG_FIX), imp(P.IDENTITY)),
    ("identity NotAction allow", node_b, "ecr:BatchGetImage", A, dict(identity=[doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})], rp=ORG_FIX), ALLOW),
    ("identity NotAction excludes ecr", node_b, "ecr:BatchGetImage", A, dict(identity=[doc({"Effect": "Allow", "NotAction": "ecr:*", "Resource": "*"})], rp=ORG_FIX), imp(P.IDENTITY)),
    # SCPs (7.1)
    ("SCP deny at OU level", node_b, "ecr:BatchGetImage", A, dict(identity=[READONLY], rp=ORG_FIX, scps=[[doc(allow())], [doc(allow()), doc(deny("ecr:BatchGetImage"))], [doc(allow())]]), exp(P.SCP)),
    ("SCP allow missing at account level", node_b, "ecr:BatchGetImage", A, dict(identity=[READONLY], rp=ORG_FIX, scps=[[doc(allow())], [doc(allow())], [doc(allow("s3:*"))]]), imp(P.SCP)),
    ("SCP allow-list covering ecr at every level", node_b, "ecr:BatchGetImage", A, dict(identity=[READONLY], rp=ORG_FIX, scps=[[doc(allow("ecr:*"))], [doc(allow("*"))]]), ALLOW),
    ("no SCPs for the management account", node_b, "ecr:BatchGetImage", A, dict(identity=[READONLY], rp=ORG_FIX, scps=None), ALLOW),
    ("SCPs limit the root user too", root_b, "ecr:BatchGetImage", A, dict(identity=[], rp=doc(rp_allow({"AWS": B})), scps=[[doc(deny("ecr:*"))]]), exp(P.SCP)),
    # boundaries and session policies
    ("boundary without ecr", node_b, "ecr:BatchGetImage", A, dict(identity=[READONLY], rp=ORG_FIX, boundary=doc(allow("s3:*"))), imp(P.BOUNDARY)),
    ("boundary deny", node_b, "ecr:BatchGetImage", A, dict(identity=[READONLY], rp=ORG_FIX, boundary=doc(allow(), deny("ecr:BatchGetImage"))), exp(P.BOUNDARY)),
    ("session policy without ecr", node_b, "ecr:BatchGetImage", A, dict(identity=[READONLY], rp=ORG_FIX, session=doc(allow("s3:*"))), imp(P.SESSION)),
    # same account (1.4, 3.2)
    ("same account: identity alone", admin_a, "ecr:BatchGetImage", A, dict(identity=[doc(allow("ecr:*"))]), ALLOW),
    ("same account: nothing allows", admin_a, "ecr:BatchGetImage", A, dict(identity=[]), imp(P.IDENTITY)),
    ("same account: RP naming the user suffices", admin_a, "ecr:BatchGetImage", A, dict(identity=[], rp=doc(rp_allow({"AWS": USER_A}))), ALLOW),
    ("same account: RP naming the account is delegation only", admin_a, "ecr:BatchGetImage", A, dict(identity=[], rp=doc(rp_allow({"AWS": A}))), imp(P.IDENTITY)),
    ("same account: RP naming the role, boundary limits", ci_a, "ecr:BatchGetImage", A, dict(identity=[], rp=doc(rp_allow({"AWS": ROLE_A})), boundary=doc(allow("s3:*"))), imp(P.BOUNDARY)),
    ("same account: RP naming the role", ci_a, "ecr:BatchGetImage", A, dict(identity=[], rp=doc(rp_allow({"AWS": ROLE_A}))), ALLOW),
    ("same account: RP naming the session ignores boundary", ci_a, "ecr:BatchGetImage", A, dict(identity=[], rp=doc(rp_allow({"AWS": SESS_A})), boundary=doc(allow("s3:*"))), ALLOW),
    ("same account: Principal * needs nothing else", ci_a, "ecr:BatchGetImage", A, dict(identity=[], rp=doc(rp_allow("*"))), ALLOW),
    # actions without a resource type (2.5, 8.2)
    ("GetAuthorizationToken via Resource *", node_b, "ecr:GetAuthorizationToken", None, dict(identity=[READONLY], scps=FULL), ALLOW),
    ("GetAuthorizationToken not covered by a repository ARN", node_b, "ecr:GetAuthorizationToken", None, dict(identity=[doc(allow("ecr:*", REPO))]), imp(P.IDENTITY)),
    # NotPrincipal (3.4)
    ("NotPrincipal deny exempts a fully listed session", node_b, "ecr:BatchGetImage", A, dict(identity=[READONLY], rp=doc(rp_allow("*"), {"Effect": "Deny", "NotPrincipal": {"AWS": [B, ROLE_B, SESS_B]}, "Action": "ecr:*"})), ALLOW),
    ("NotPrincipal deny listing only the role still denies", node_b, "ecr:BatchGetImage", A, dict(identity=[READONLY], rp=doc(rp_allow("*"), {"Effect": "Deny", "NotPrincipal": {"AWS": [ROLE_B]}, "Action": "ecr:*"})), exp(P.RESOURCE)),
]

# Conditions: (name, principal, condition block, extra context, expected match)
COND_CASES = [
    ("OrgID equals", node_b, {"StringEquals": {"aws:PrincipalOrgID": ORG}}, {}, True),
    ("OrgID key is case-insensitive", node_b, {"StringEquals": {"AWS:principalorgid": ORG}}, {}, True),
    ("OrgID absent outside org", node_c, {"StringEquals": {"aws:PrincipalOrgID": ORG}}, {}, False),
    ("negated op on missing key is true", node_c, {"StringNotEquals": {"aws:PrincipalOrgID": ORG}}, {}, True),
    ("IfExists on missing key is true", node_c, {"StringEqualsIfExists": {"aws:PrincipalOrgID": ORG}}, {}, True),
    ("IfExists on present key evaluates", node_b, {"StringEqualsIfExists": {"aws:PrincipalOrgID": "o-other00000"}}, {}, False),
    ("values are ORed", node_b, {"StringEquals": {"aws:PrincipalAccount": ["111111111111", B]}}, {}, True),
    ("negated values are NORed", node_b, {"StringNotEquals": {"aws:PrincipalAccount": ["111111111111", B]}}, {}, False),
    ("keys are ANDed", node_b, {"StringEquals": {"aws:PrincipalAccount": B, "aws:PrincipalType": "User"}}, {}, False),
    ("StringLike with ?", node_b, {"StringLike": {"aws:PrincipalAccount": "72200000975?"}}, {}, True),
    ("StringEquals is case-sensitive", node_b, {"StringEquals": {"aws:PrincipalType": "assumedrole"}}, {}, False),
    ("StringEqualsIgnoreCase", node_b, {"StringEqualsIgnoreCase": {"aws:PrincipalType": "assumedrole"}}, {}, True),
    ("PrincipalArn is the role ARN", node_b, {"ArnEquals": {"aws:PrincipalArn": ROLE_B}}, {}, True),
    ("ArnLike per segment", node_b, {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/eks-*"}}, {}, True),
    ("ArnLike star does not cross a colon", node_b, {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam:*:role/eks-node-role"}}, {}, False),
    ("StringLike star crosses colons", node_b, {"StringLike": {"aws:PrincipalArn": "arn:aws:iam:*:role/eks-node-role"}}, {}, True),
    ("PrincipalTag, tag key case-insensitive", node_b, {"StringEquals": {"aws:PrincipalTag/Team": "platform"}}, {}, True),
    ("PrincipalType", admin_a, {"StringEquals": {"aws:PrincipalType": "User"}}, {}, True),
    ("ResourceAccount", node_b, {"StringEquals": {"aws:ResourceAccount": A}}, {}, True),
    ("ForAnyValue OrgPaths with wildcard", node_b, {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "%s/r-a1b2/ou-a1b2-w0rk10ad/*" % ORG}}, {}, True),
    ("ForAnyValue on missing key is false", node_c, {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "*"}}, {}, False),
    ("ForAllValues on missing key is true", node_c, {"ForAllValues:StringLike": {"aws:PrincipalOrgPaths": "o-x/*"}}, {}, True),
    ("ForAllValues all must match", node_b, {"ForAllValues:StringLike": {"aws:PrincipalOrgPaths": "o-zzz/*"}}, {}, False),
    ("Null true on absent key", node_c, {"Null": {"aws:PrincipalOrgID": "true"}}, {}, True),
    ("Null false on present key", node_b, {"Null": {"aws:PrincipalOrgID": "false"}}, {}, True),
    ("Null true on present key", node_b, {"Null": {"aws:PrincipalOrgID": "true"}}, {}, False),
    ("IpAddress in CIDR", node_b, {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:SourceIp": "203.0.113.7"}, True),
    ("IpAddress bare address is /32", node_b, {"IpAddress": {"aws:SourceIp": "203.0.113.8"}}, {"aws:SourceIp": "203.0.113.7"}, False),
    ("NotIpAddress on missing SourceIp (VPC endpoint) is true", node_b, {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {}, True),
    ("IPv6", node_b, {"IpAddress": {"aws:SourceIp": "2001:db8::/32"}}, {"aws:SourceIp": "2001:db8::1"}, True),
    ("Bool", node_b, {"Bool": {"aws:SecureTransport": "true"}}, {}, True),
    ("Bool with JSON boolean", node_b, {"Bool": {"aws:SecureTransport": False}}, {}, False),
    ("NumericLessThan", node_b, {"NumericLessThan": {"ecr:Size": "10"}}, {"ecr:Size": "9"}, True),
    ("NumericGreaterThanEquals", node_b, {"NumericGreaterThanEquals": {"ecr:Size": "10"}}, {"ecr:Size": "9"}, False),
    ("NumericEquals on junk is false", node_b, {"NumericEquals": {"ecr:Size": "x"}}, {"ecr:Size": "9"}, False),
    ("policy variable", admin_a, {"StringEquals": {"aws:PrincipalTag/owner": "${aws:username}"}}, {"aws:PrincipalTag/owner": "registry-admin"}, True),
    ("unknown operator never matches", node_b, {"StringSortOf": {"aws:PrincipalAccount": B}}, {}, False),
]


def run(principal, action, res_account, kw):
    resource = REPO if res_account else "*"
    ctx = P.base_context(principal, res_account, None, 1.7e9, "ap-southeast-1")
    req = P.Request(principal, action, resource, ctx)
    return P.decide(req, kw.get("identity", ()), kw.get("boundary"), kw.get("session"),
                    kw.get("scps"), kw.get("rp"), res_account)


class Decisions(unittest.TestCase):
    def test_cases(self):
        for name, principal, action, res_account, kw, (outcome, ptype) in CASES:
            with self.subTest(case=name):
                d = run(principal, action, res_account, kw)
                if outcome == "allow":
                    self.assertTrue(d.allowed, d.as_log())
                else:
                    self.assertFalse(d.allowed)
                    self.assertEqual(d.explicit, outcome == "explicit", d.as_log())
                    self.assertEqual(d.policy_type, ptype, d.as_log())

    def test_conditions(self):
        for name, principal, cond, extra, want in COND_CASES:
            with self.subTest(case=name):
                ctx = P.base_context(principal, A, None, 1.7e9, "ap-southeast-1")
                ctx.update(extra)
                req = P.Request(principal, "ecr:BatchGetImage", REPO, ctx)
                d = doc(rp_allow("*", "ecr:*", Condition=cond))
                self.assertEqual(P.evaluate_policy(d, req, resource_policy=True).allow, want)

    def test_variables_need_version_2012(self):
        ctx = P.base_context(admin_a, A, None, 1.7e9)
        req = P.Request(admin_a, "ecr:BatchGetImage",
                        "arn:aws:ecr:ap-southeast-1:%s:repository/registry-admin/x" % A, ctx)
        res = "arn:aws:ecr:*:*:repository/${aws:username}/*"
        self.assertTrue(P.evaluate_policy(doc(allow("ecr:*", res)), req).allow)
        self.assertFalse(P.evaluate_policy(doc(allow("ecr:*", res), version="2008-10-17"), req).allow)
        # A variable with no value matches nothing (aws:username is absent for sessions).
        req2 = P.Request(node_b, "ecr:BatchGetImage", REPO, P.base_context(node_b, A))
        self.assertFalse(P.evaluate_policy(doc(allow("ecr:*", res)), req2).allow)

    def test_messages(self):
        d = run(node_b, "ecr:BatchGetImage", A, dict(identity=[READONLY], scps=FULL))
        self.assertEqual(
            P.access_denied_message(SESS_B, "ecr:BatchGetImage", REPO, d),
            "User: %s is not authorized to perform: ecr:BatchGetImage on resource: %s because no "
            "resource-based policy allows the ecr:BatchGetImage action" % (SESS_B, REPO))
        d = run(node_b, "ecr:BatchGetImage", A, dict(identity=[READONLY], scps=[[doc(deny("ecr:*"))]]))
        self.assertTrue(P.access_denied_message(SESS_B, "ecr:BatchGetImage", REPO, d).endswith(
            "with an explicit deny in a service control policy"))
        d = run(node_b, "ecr:GetAuthorizationToken", None, dict(identity=[]))
        self.assertEqual(P.access_denied_message(SESS_B, "ecr:GetAuthorizationToken", "*", d),
                         "User: %s is not authorized to perform: ecr:GetAuthorizationToken on "
                         "resource: * because no identity-based policy allows the "
                         "ecr:GetAuthorizationToken action" % SESS_B)

    def test_glob(self):
        self.assertTrue(P.glob_match("repository/audit/*", "repository/audit/sa/cicd-runner"))
        self.assertFalse(P.glob_match("a[b]", "ab"), "brackets are literal in IAM")
        self.assertTrue(P.glob_match("a[b]", "a[b]"))
        self.assertTrue(P.match_action("ecr:*Layer*", "ECR:GetDownloadUrlForLayer"))


if __name__ == "__main__":
    unittest.main()
