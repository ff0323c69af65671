#!/usr/bin/env python3
"""The simulator's credential endpoints (fixtures/scenarios/creds.json): STS AssumeRole and
AssumeRoleWithWebIdentity, IMDSv2, the container credentials endpoint and the SSO portal.
botocore itself (when installed) must find credentials through each of them exactly as it
would against AWS, and the refusals must carry AWS's codes, statuses and texts. Issued
sessions expire as the role says, and every issued secret reaches --secrets-log."""
import json
import os
import shutil
import subprocess
import sys
import hashlib
import tempfile
import unittest

ROOT = os.environ.get("ECRDIAG_ROOT") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts", "awssim"))

from harness import Simulator, api, http  # noqa: E402

B = "722000009750"
ROLE = "arn:aws:iam::%s:role/%%s" % B
POD_TOKEN = "AwsSimPodIdentityToken/0123456789abcdef0123456789abcdef"
SSO_TOKEN = "AwsSimSsoAccessToken/valid/0123456789abcdef0123456789abcdef"
SSO_EXPIRED = "AwsSimSsoAccessToken/expired/0123456789abcdef0123456789abcd"
WEB_TOKEN = "eyJhbGciOiJSUzI1NiJ9.AwsSimFakeServiceAccountToken.irsa-app"

try:
    import botocore  # noqa: F401
    HAVE_BOTOCORE = True
except ImportError:
    HAVE_BOTOCORE = False

PROBE = r'''
import boto3, sys
s = boto3.Session(profile_name=sys.argv[1] if len(sys.argv) > 1 else None)
c = s.get_credentials()
print(c.method)
print(s.client("sts").get_caller_identity()["Arn"])
'''


class Endpoints(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sim = Simulator("creds.json").start()

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="awssim-creds-")
        self.env = self.sim.env()
        self.env["HOME"] = self.tmp
        self.env["AWS_CONFIG_FILE"] = os.path.join(self.tmp, "config")
        self.env["AWS_SHARED_CREDENTIALS_FILE"] = os.path.join(self.tmp, "credentials")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def botocore(self, *profile):
        if not HAVE_BOTOCORE:
            self.skipTest("botocore is not installed")
        r = subprocess.run([sys.executable, "-c", PROBE] + list(profile), env=self.env,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        method, arn = r.stdout.split()
        return method, arn

    def write(self, name, text):
        with open(os.path.join(self.tmp, name), "w") as f:
            f.write(text)

    # -- STS --

    def test_botocore_assume_role_chain(self):
        pa = self.sim.identity("platform-admin-b")
        self.write("credentials", "[admin]\naws_access_key_id=%s\naws_secret_access_key=%s\n"
                   % (pa.access_key_id, pa.secret_access_key))
        self.write("config", "[profile ci]\nrole_arn=%s\nsource_profile=admin\n"
                   "[profile chained]\nrole_arn=%s\nsource_profile=ci\n"
                   % (ROLE % "ci-deployer", ROLE % "ci-chained"))
        method, arn = self.botocore("chained")
        self.assertEqual(method, "assume-role")
        self.assertIn("assumed-role/ci-chained/botocore-session-", arn)

    def test_assume_role_refusals(self):
        st, _, body = api(self.sim, "platform-admin-b", "sts", "AssumeRole",
                          {"RoleArn": ROLE % "eks-node-role", "RoleSessionName": "x1",
                           "Version": "2011-06-15"})
        self.assertEqual(st, 403)
        self.assertIn(b"<Code>AccessDenied</Code>", body)
        self.assertIn(("User: arn:aws:iam::%s:user/platform-admin is not authorized to perform: "
                       "sts:AssumeRole on resource: %s" % (B, ROLE % "eks-node-role")).encode(),
                      body)
        st, _, body = api(self.sim, "platform-admin-b", "sts", "AssumeRole",
                          {"RoleArn": ROLE % "partner-reader", "RoleSessionName": "x1",
                           "Version": "2011-06-15"})
        self.assertEqual(st, 403, body)
        st, _, body = api(self.sim, "platform-admin-b", "sts", "AssumeRole",
                          {"RoleArn": ROLE % "partner-reader", "RoleSessionName": "x1",
                           "ExternalId": "awssim-partner-ext-0001", "Version": "2011-06-15"})
        self.assertEqual(st, 200, body)
        st, _, body = api(self.sim, "platform-admin-b", "sts", "AssumeRole",
                          {"RoleArn": ROLE % "ci-deployer", "RoleSessionName": "bad name",
                           "Version": "2011-06-15"})
        self.assertEqual(st, 400)
        self.assertIn(b"<Code>ValidationError</Code>", body)

    def test_issued_sessions_expire_as_the_role_says(self):
        st, _, body = api(self.sim, "platform-admin-b", "sts", "AssumeRole",
                          {"RoleArn": ROLE % "expired-session", "RoleSessionName": "old",
                           "Version": "2011-06-15"})
        self.assertEqual(st, 200, body)
        text = body.decode()
        get = lambda tag: text.split("<%s>" % tag)[1].split("</%s>" % tag)[0]  # noqa: E731
        creds = {"key": get("AccessKeyId"), "secret": get("SecretAccessKey"),
                 "token": get("SessionToken")}
        st, _, body = api(self.sim, None, "sts", "GetCallerIdentity", {"Version": "2011-06-15"},
                          region="ap-southeast-1", creds=creds)
        self.assertEqual(st, 403)
        self.assertIn(b"<Code>ExpiredToken</Code>", body)
        with open(self.sim.secrets_log_path, encoding="utf-8") as f:
            logged = [json.loads(line)["value"] for line in f if line.strip()]
        self.assertIn(creds["secret"], logged)
        self.assertIn(creds["token"], logged)
        self.assertIn(creds["secret"], self.sim.known_secrets())

    def test_botocore_web_identity(self):
        self.write("token", WEB_TOKEN)
        self.env["AWS_WEB_IDENTITY_TOKEN_FILE"] = os.path.join(self.tmp, "token")
        self.env["AWS_ROLE_ARN"] = ROLE % "irsa-app"
        method, arn = self.botocore()
        self.assertEqual(method, "assume-role-with-web-identity")
        self.assertIn("assumed-role/irsa-app/", arn)

    def test_web_identity_is_unsigned_and_checks_the_token(self):
        from urllib.parse import urlencode
        form = urlencode({"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15",
                          "RoleArn": ROLE % "irsa-app", "RoleSessionName": "s1",
                          "WebIdentityToken": "not-the-token"})
        st, _, body = http(self.sim, "POST", "/", {"Content-Type":
                                                   "application/x-www-form-urlencoded"}, form)
        self.assertEqual(st, 403)
        self.assertIn(b"Not authorized to perform sts:AssumeRoleWithWebIdentity", body)
        form = form.replace("not-the-token", WEB_TOKEN.replace(".", "%2E"))
        st, _, body = http(self.sim, "POST", "/", {"Content-Type":
                                                   "application/x-www-form-urlencoded"}, form)
        self.assertEqual(st, 200, body)
        self.assertIn(b"<SessionToken>AwsSimIssuedSessionToken/", body)

    # -- IMDS --

    def test_botocore_imds(self):
        self.env.pop("AWS_EC2_METADATA_DISABLED")
        self.env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = self.sim.url
        method, arn = self.botocore()
        self.assertEqual(method, "iam-role")
        self.assertIn("assumed-role/eks-node-role/i-0b1c", arn)

    def test_imds_needs_a_token(self):
        path = "/latest/meta-data/iam/security-credentials/"
        self.assertEqual(http(self.sim, "GET", path)[0], 401)
        self.assertEqual(http(self.sim, "PUT", "/latest/api/token")[0], 400)
        self.assertEqual(http(self.sim, "GET", "/latest/api/token")[0], 405)
        st, _, tok = http(self.sim, "PUT", "/latest/api/token",
                          {"x-aws-ec2-metadata-token-ttl-seconds": "60"})
        self.assertEqual(st, 200)
        h = {"x-aws-ec2-metadata-token": tok.decode()}
        st, _, role = http(self.sim, "GET", path, h)
        self.assertEqual((st, role), (200, b"eks-node-role"))
        st, _, doc = http(self.sim, "GET", path + "eks-node-role", h)
        doc = json.loads(doc)
        self.assertEqual(doc["Code"], "Success")
        self.assertEqual(doc["AccessKeyId"], self.sim.identity("eks-node-b").access_key_id)
        self.assertEqual(http(self.sim, "GET", path + "other", h)[0], 404)
        self.assertEqual(http(self.sim, "GET", path, {"x-aws-ec2-metadata-token": "x"})[0], 401)
        self.assertIn(tok.decode(), self.sim.known_secrets())

    # -- container --

    def test_botocore_container(self):
        self.env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = self.sim.url + "/v1/credentials"
        self.write("pod-token", POD_TOKEN)
        self.env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = os.path.join(self.tmp, "pod-token")
        method, arn = self.botocore()
        self.assertEqual(method, "container-role")
        self.assertIn("assumed-role/app-pod-role/", arn)

    def test_container_checks_the_token(self):
        self.assertEqual(http(self.sim, "GET", "/v1/credentials")[0], 400)
        self.assertEqual(http(self.sim, "GET", "/v1/credentials", {"Authorization": "x"})[0], 401)
        st, _, body = http(self.sim, "GET", "/v1/credentials", {"Authorization": POD_TOKEN})
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(body)["AccountId"], B)

    # -- SSO --

    def sso_config(self, token):
        start = "https://d-0000000000.awsapps.com/start"
        os.makedirs(os.path.join(self.tmp, ".aws", "sso", "cache"))
        name = hashlib.sha1(start.encode()).hexdigest()
        with open(os.path.join(self.tmp, ".aws", "sso", "cache", name + ".json"), "w") as f:
            json.dump({"startUrl": start, "region": "ap-southeast-1", "accessToken": token,
                       "expiresAt": "2099-01-01T00:00:00Z"}, f)
        self.write("config", "[profile sso]\nsso_start_url=%s\nsso_region=ap-southeast-1\n"
                   "sso_account_id=%s\nsso_role_name=PlatformReadOnly\n" % (start, B))

    def test_botocore_sso(self):
        self.sso_config(SSO_TOKEN)
        method, arn = self.botocore("sso")
        self.assertEqual(method, "sso")
        self.assertIn("AWSReservedSSO_PlatformReadOnly", arn)

    def test_sso_refusals(self):
        q = "/federation/credentials?role_name=PlatformReadOnly&account_id=" + B
        st, h, body = http(self.sim, "GET", q, {"x-amz-sso_bearer_token": SSO_EXPIRED})
        self.assertEqual(st, 401)
        self.assertEqual(h.get("x-amzn-errortype"), "UnauthorizedException")
        self.assertIn(b"Session token not found or invalid", body)
        st, _, _ = http(self.sim, "GET", q.replace("PlatformReadOnly", "Admin"),
                        {"x-amz-sso_bearer_token": SSO_TOKEN})
        self.assertEqual(st, 403)
        st, _, body = http(self.sim, "GET", q, {"x-amz-sso_bearer_token": SSO_TOKEN})
        self.assertEqual(st, 200)
        self.assertGreater(json.loads(body)["roleCredentials"]["expiration"], 10 ** 12)


if __name__ == "__main__":
    unittest.main()
