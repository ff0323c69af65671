"""The simulator's HTTPS mode: clients reach it by real AWS host names (curl --resolve, a
patched resolver in this process), verify its certificate against the run's test CA over SNI,
and fail when they do not trust that CA or the certificate does not name the host; layer
redirects point at the bucket's own host and serve ranges over TLS.
"""

import base64
import contextlib
import json
import os
import socket
import ssl
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
from unittest import mock

ROOT = os.environ.get("ECRDIAG_ROOT") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts", "awssim"))

import client  # noqa: E402
from harness import Simulator, basic_auth  # noqa: E402

A = "632000001762"
REGION = "ap-southeast-1"
REPO = "audit/sa/cicd-runner"
STS_HOST = "sts.%s.amazonaws.com" % REGION
ECR_HOST = "api.ecr.%s.amazonaws.com" % REGION
REGISTRY_HOST = "%s.dkr.ecr.%s.amazonaws.com" % (A, REGION)
LAYER_HOST = "prod-%s-starport-layer-bucket.s3.%s.amazonaws.com" % (REGION, REGION)
DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"
CURLE_PEER_FAILED_VERIFICATION = 60

try:
    import boto3  # noqa: F401
    HAVE_BOTO3 = True
except ImportError:
    HAVE_BOTO3 = False


@contextlib.contextmanager
def loopback_names(sim):
    """Resolve the simulator's host names to 127.0.0.1 in this process only (what
    ECRDIAG_RESOLVE does for ecrdiag), so Python clients connect, send SNI and verify by name."""
    real = socket.getaddrinfo
    names = {h.lower() for h in sim.tls_hosts}

    def fake(host, port, *args, **kw):
        if isinstance(host, str) and host.lower() in names:
            host = "127.0.0.1"
        return real(host, port, *args, **kw)

    with mock.patch("socket.getaddrinfo", fake):
        yield


def curl(env, *args, resolve=True, cacert=True):
    """The curl binary as ecrdiag's libcurl would connect: --resolve from ECRDIAG_RESOLVE,
    --cacert from AWS_CA_BUNDLE. Returns (exit code, stdout bytes, stderr text)."""
    cmd = ["curl", "-sS", "--max-time", "10"]
    if resolve:
        for entry in env["ECRDIAG_RESOLVE"].split(","):
            cmd += ["--resolve", entry]
    if cacert:
        cmd += ["--cacert", env["AWS_CA_BUNDLE"]]
    p = subprocess.run(cmd + list(args), capture_output=True, env={"PATH": os.environ["PATH"]})
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def signed_api(sim, identity, service, operation, params=None):
    """One SigV4 API call by real host name with a verifying urllib: (status, body bytes)."""
    env = sim.tls_env(identity)
    endpoint = env["AWS_ENDPOINT_URL_" + service.upper()]
    creds = {"key": env["AWS_ACCESS_KEY_ID"], "secret": env["AWS_SECRET_ACCESS_KEY"],
             "token": env.get("AWS_SESSION_TOKEN")}
    body, headers = client.build_request(service, operation, params or {}, env["AWS_REGION"],
                                         endpoint, creds)
    req = urllib.request.Request(endpoint + "/", data=body, headers=headers, method="POST")
    ctx = ssl.create_default_context(cafile=sim.ca_bundle)
    with loopback_names(sim):
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()


def verify_error(sim, url, ctx):
    """The certificate verification error a GET of url by name meets (None if it succeeds)."""
    with loopback_names(sim):
        try:
            urllib.request.urlopen(url, context=ctx, timeout=10).close()
        except urllib.error.HTTPError:
            return None
        except urllib.error.URLError as e:
            if isinstance(e.reason, ssl.SSLCertVerificationError):
                return e.reason
            raise
    return None


def registry_password(sim, identity):
    status, data = signed_api(sim, identity, "ecr", "GetAuthorizationToken")
    assert status == 200, data
    token = json.loads(data)["authorizationData"][0]["authorizationToken"]
    return base64.b64decode(token).decode().partition(":")[2]


class Tls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sim = Simulator("seed.json", tls=True).start()
        cls.env_b = cls.sim.tls_env("eks-node-b")
        cls.env_a = cls.sim.tls_env("registry-admin-a")
        cls.admin_pw = registry_password(cls.sim, "registry-admin-a")

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def last_request(self, **match):
        for rec in reversed(self.sim.requests(wait_s=0.2)):
            if all(rec.get(k) == v for k, v in match.items()):
                return rec
        self.fail("no logged request with %r" % match)

    def test_env_names_real_hosts(self):
        env, port = self.env_b, self.sim.port
        self.assertEqual(env["AWS_ENDPOINT_URL_STS"], "https://%s:%d" % (STS_HOST, port))
        self.assertEqual(env["AWS_ENDPOINT_URL_ECR"], "https://%s:%d" % (ECR_HOST, port))
        self.assertEqual(env["AWS_ENDPOINT_URL_ORGANIZATIONS"],
                         "https://organizations.us-east-1.amazonaws.com:%d" % port)
        self.assertEqual(env["ECRDIAG_REGISTRY_ENDPOINT"], "https://%s:%d" % (REGISTRY_HOST, port))
        self.assertEqual(env["AWS_CA_BUNDLE"], self.sim.ca_bundle)
        resolve = env["ECRDIAG_RESOLVE"].split(",")
        for host in (STS_HOST, ECR_HOST, REGISTRY_HOST, LAYER_HOST, "sts.amazonaws.com",
                     "organizations.us-east-1.amazonaws.com", "sts.us-east-1.amazonaws.com",
                     "ecr.%s.amazonaws.com" % REGION):
            self.assertIn("%s:%d:127.0.0.1" % (host, port), resolve)
        # The identity's keys exactly as env() gives them.
        plain = self.sim.env("eks-node-b")
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
                  "HOME"):
            self.assertEqual(env[k], plain[k])

    def test_curl_get_caller_identity_by_real_name(self):
        env = self.env_b
        rc, out, err = curl(env, "--aws-sigv4", "aws:amz:%s:sts" % REGION,
                            "--user", env["AWS_ACCESS_KEY_ID"] + ":" + env["AWS_SECRET_ACCESS_KEY"],
                            "-H", "x-amz-security-token: " + env["AWS_SESSION_TOKEN"],
                            "--data", "Action=GetCallerIdentity&Version=2011-06-15",
                            "-w", "\n%{http_code}", env["AWS_ENDPOINT_URL_STS"] + "/")
        self.assertEqual(rc, 0, err)
        body, _, code = out.decode().rpartition("\n")
        self.assertEqual(code, "200", body)
        self.assertIn("<Arn>arn:aws:sts::722000009750:assumed-role/eks-node-role/", body)
        rec = self.last_request(service="sts", action="GetCallerIdentity", status=200)
        self.assertEqual(rec["sni"], STS_HOST)
        self.assertEqual(rec["host"], "%s:%d" % (STS_HOST, self.sim.port))

    def test_curl_registry_ping_by_real_name(self):
        rc, out, err = curl(self.env_a, "-i", "--user", "AWS:" + self.admin_pw,
                            self.env_a["ECRDIAG_REGISTRY_ENDPOINT"] + "/v2/")
        self.assertEqual(rc, 0, err)
        self.assertTrue(out.startswith(b"HTTP/1.1 200"), out[:200])
        self.assertIn(b"docker-distribution-api-version: registry/2.0", out.lower())
        self.assertEqual(self.last_request(service="registry", status=200)["sni"], REGISTRY_HOST)

    def test_urllib_and_http_client_verify_by_name(self):
        status, data = signed_api(self.sim, "eks-node-b", "sts", "GetCallerIdentity")
        self.assertEqual(status, 200, data)
        self.assertIn(b"<Account>722000009750</Account>", data)
        import http.client
        ctx = ssl.create_default_context(cafile=self.sim.ca_bundle)
        with loopback_names(self.sim):
            conn = http.client.HTTPSConnection(REGISTRY_HOST, self.sim.port, context=ctx,
                                               timeout=10)
            try:
                conn.request("GET", "/v2/", headers={"Authorization": basic_auth(self.admin_pw)})
                resp = conn.getresponse()
                self.assertEqual((resp.status, resp.read()), (200, b"{}"))
                self.assertIn(REGISTRY_HOST, str(conn.sock.getpeercert()["subjectAltName"]))
                self.assertIn(conn.sock.version(), ("TLSv1.2", "TLSv1.3"))
            finally:
                conn.close()

    @unittest.skipUnless(HAVE_BOTO3, "boto3 is not installed")
    def test_boto3_by_real_name(self):
        import boto3
        env = self.env_a
        with loopback_names(self.sim):
            ecr = boto3.client("ecr", endpoint_url=env["AWS_ENDPOINT_URL_ECR"],
                               region_name=REGION, verify=self.sim.ca_bundle,
                               aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                               aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
            repos = ecr.describe_repositories()["repositories"]
            sts = boto3.client("sts", endpoint_url=env["AWS_ENDPOINT_URL_STS"],
                               region_name=REGION, verify=self.sim.ca_bundle,
                               aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                               aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
            who = sts.get_caller_identity()
        self.assertIn(REPO, [r["repositoryName"] for r in repos])
        self.assertEqual(who["Arn"], "arn:aws:iam::632000001762:user/registry-admin")
        self.assertEqual(self.last_request(service="ecr", action="DescribeRepositories")["sni"],
                         ECR_HOST)

    def test_client_without_the_ca_fails_verification(self):
        rc, _, err = curl(self.env_b, self.env_b["AWS_ENDPOINT_URL_STS"] + "/", cacert=False)
        self.assertEqual(rc, CURLE_PEER_FAILED_VERIFICATION, err)
        err = verify_error(self.sim, self.env_b["AWS_ENDPOINT_URL_STS"] + "/",
                           ssl.create_default_context())
        self.assertIn("unable to get local issuer certificate", str(err))
        # The server saw the handshake fail, and answered no request for it.
        rec = self.last_request(service="tls", action="handshake")
        self.assertIsNone(rec["status"])

    def test_layer_redirect_is_https_on_the_bucket_host(self):
        env = self.env_a
        base = env["ECRDIAG_REGISTRY_ENDPOINT"]
        rc, out, err = curl(env, "--user", "AWS:" + self.admin_pw, "-H", "Accept: " + DOCKER_V2,
                            "%s/v2/%s/manifests/v1.3.0" % (base, REPO))
        self.assertEqual(rc, 0, err)
        layer = json.loads(out)["layers"][0]
        rc, out, err = curl(env, "-i", "--user", "AWS:" + self.admin_pw,
                            "%s/v2/%s/blobs/%s" % (base, REPO, layer["digest"]))
        self.assertEqual(rc, 0, err)
        head = out.decode("latin-1").split("\r\n")
        self.assertTrue(head[0].startswith("HTTP/1.1 307"), head[0])
        location = next(h.split(":", 1)[1].strip() for h in head
                        if h.lower().startswith("location:"))
        url = urllib.parse.urlsplit(location)
        self.assertEqual((url.scheme, url.hostname, url.port), ("https", LAYER_HOST, self.sim.port))
        self.assertTrue(url.path.startswith("/%s-" % A), url.path)  # the key, no bucket in the path
        self.assertIn("X-Amz-Signature=", url.query)

        rc, out, err = curl(env, "-H", "Range: bytes=0-9", "-w", "\n%{http_code}", location)
        self.assertEqual(rc, 0, err)
        body, _, code = out.rpartition(b"\n")
        self.assertEqual(code, b"206")
        self.assertEqual(len(body), 10)
        self.assertEqual(body[:2], b"\x1f\x8b")  # a gzip'd layer
        rec = self.last_request(service="s3", status=206)
        self.assertEqual(rec["sni"], LAYER_HOST)

        # The signature still covers the object: another key under the same query is refused.
        tampered = location.replace(layer["digest"][7:15], "00000000", 1)
        self.assertNotEqual(tampered, location)
        rc, out, err = curl(env, "-w", "\n%{http_code}", tampered)
        self.assertEqual(out.rpartition(b"\n")[2], b"403", out)

        # GetDownloadUrlForLayer hands out the same kind of URL.
        status, data = signed_api(self.sim, "registry-admin-a", "ecr", "GetDownloadUrlForLayer",
                                  {"repositoryName": REPO, "layerDigest": layer["digest"]})
        self.assertEqual(status, 200, data)
        dl = urllib.parse.urlsplit(json.loads(data)["downloadUrl"])
        self.assertEqual((dl.scheme, dl.hostname, dl.port), ("https", LAYER_HOST, self.sim.port))

    def test_url_on_loopback_address_verifies(self):
        # sim.url is https://127.0.0.1:PORT, which the certificate also names.
        ctx = ssl.create_default_context(cafile=self.sim.ca_bundle)
        req = urllib.request.Request(self.sim.url + "/v2/", headers={"Host": REGISTRY_HOST})
        try:
            urllib.request.urlopen(req, context=ctx, timeout=10)
            self.fail("an unauthenticated ping must be refused")
        except urllib.error.HTTPError as e:
            self.assertEqual(e.code, 401)


class TlsFailures(unittest.TestCase):
    def test_certificate_without_the_host_fails_hostname_verification(self):
        with Simulator("seed.json", tls=True, tls_omit_hosts=[STS_HOST]) as sim:
            env = sim.tls_env("eks-node-b")
            rc, _, err = curl(env, env["AWS_ENDPOINT_URL_STS"] + "/")
            self.assertEqual(rc, CURLE_PEER_FAILED_VERIFICATION, err)
            self.assertIn("no alternative certificate subject name matches", err)
            ctx = ssl.create_default_context(cafile=sim.ca_bundle)
            err = verify_error(sim, env["AWS_ENDPOINT_URL_STS"] + "/", ctx)
            self.assertIn("Hostname mismatch", str(err))
            self.assertIsNone(verify_error(sim, env["AWS_ENDPOINT_URL_ECR"] + "/", ctx))
            # Every other name of the same certificate still verifies.
            rc, _, err = curl(env, "-o", "/dev/null", env["AWS_ENDPOINT_URL_ECR"] + "/")
            self.assertEqual(rc, 0, err)

    def test_certificate_of_another_ca_fails_verification(self):
        with Simulator("seed.json", tls=True, tls_untrusted=True) as sim:
            env = sim.tls_env("eks-node-b")
            rc, _, err = curl(env, env["AWS_ENDPOINT_URL_STS"] + "/")
            self.assertEqual(rc, CURLE_PEER_FAILED_VERIFICATION, err)
            self.assertIn("unable to get local issuer certificate", err)

    def test_hang_over_tls_ends_when_the_client_leaves(self):
        with Simulator("seed.json", tls=True, faults=[{"service": "sts", "hang": True}]) as sim:
            env = sim.tls_env("eks-node-b")
            t0 = time.time()
            rc, _, _ = curl(env, "--max-time", "1", env["AWS_ENDPOINT_URL_STS"] + "/")
            self.assertEqual(rc, 28)  # CURLE_OPERATION_TIMEDOUT
            left = time.time()
            deadline = left + 5
            rec = None
            while rec is None and time.time() < deadline:
                rec = next((r for r in sim.requests() if r.get("service") == "sts"), None)
                time.sleep(0.1)
            self.assertIsNotNone(rec, "the hung request never ended")
            self.assertEqual(rec["error_code"], "hang")
            self.assertLess(rec["t_end"] - left, 2.0)
            self.assertGreater(rec["t_end"] - t0, 0.9)

    def test_keys_stay_private_and_go_with_the_server(self):
        sim = Simulator("seed.json", tls=True)
        with sim:
            keys = [os.path.join(sim._tls_dir, n) for n in os.listdir(sim._tls_dir)
                    if n.endswith(".key")]
            self.assertTrue(keys)
            for k in keys:
                self.assertEqual(os.stat(k).st_mode & 0o077, 0, k)
            sim.stop()
            self.assertFalse([n for n in os.listdir(sim._tls_dir) if n.endswith(".key")])
            self.assertNotIn("PRIVATE KEY", sim.stderr)
        self.assertFalse(os.path.exists(sim._tls_dir))

    def test_server_needs_both_tls_options(self):
        server = os.path.join(ROOT, "scripts", "awssim", "server.py")
        p = subprocess.run([sys.executable, server, "--scenario",
                            os.path.join(ROOT, "fixtures", "scenarios", "seed.json"),
                            "--tls-cert", "/nonexistent.pem"], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stdout, "")
        self.assertTrue(p.stderr.startswith("awssim: "), p.stderr)


if __name__ == "__main__":
    unittest.main()
