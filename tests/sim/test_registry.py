"""The simulator's ECR registry (Docker Registry v2 / OCI distribution by Host header) and its
S3 layer bucket: the 401 challenge, tokens, manifests, the same AccessDenied text as the
API for a refused pull, blob redirects, and the pre-signed layer URL (HEAD 403, Range 206).
"""

import gzip
import hashlib
import io
import json
import os
import sys
import tarfile
import time
import unittest
import urllib.parse

ROOT = os.environ.get("ECRDIAG_ROOT") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts", "awssim"))

from harness import Simulator, api_parsed, basic_auth, http, registry_password  # noqa: E402

A, B, C = "632000001762", "722000009750", "833000004321"
REPO = "audit/sa/cicd-runner"
REPO_ARN = "arn:aws:ecr:ap-southeast-1:%s:repository/%s" % (A, REPO)
SESS_B = "arn:aws:sts::%s:assumed-role/eks-node-role/i-0b1c2d3e4f5a6b7c8" % B
ALL_TYPES = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])
MANIFEST_PATH = "/v2/%s/manifests/%%s" % REPO


def fixed_policy_text():
    with open(os.path.join(ROOT, "fixtures", "scenarios", "seed-fixed.json")) as f:
        return json.dumps(json.load(f)["repositories"]["632000001762/ap-southeast-1/" + REPO]["policy"])


class Registry(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sim = Simulator("seed.json").start()
        cls.host = cls.sim.registry_host(A)
        cls.admin_pw = registry_password(cls.sim, "registry-admin-a")

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def get(self, path, password=None, method="GET", host=None, accept=ALL_TYPES, extra=None):
        headers = {"Host": host or self.host}
        if password:
            headers["Authorization"] = basic_auth(password)
        if accept:
            headers["Accept"] = accept
        headers.update(extra or {})
        return http(self.sim, method, path, headers)

    def assertDistError(self, resp, status, code, message=None):
        st, headers, body = resp
        self.assertEqual(st, status, body)
        self.assertEqual(headers.get("docker-distribution-api-version"), "registry/2.0")
        err = json.loads(body)["errors"][0]
        self.assertEqual(err["code"], code)
        if message is not None:
            self.assertEqual(err["message"], message)

    def test_ping_challenge(self):
        for host in (self.host, "%s.dkr.ecr-fips.ap-southeast-1.amazonaws.com" % A,
                     "%s.dkr-ecr.ap-southeast-1.on.aws" % A):
            with self.subTest(host=host):
                st, headers, body = self.get("/v2/", host=host, accept=None)
                self.assertEqual(st, 401)
                self.assertEqual(headers["www-authenticate"],
                                 'Basic realm="https://%s.dkr.ecr.ap-southeast-1.amazonaws.com/",'
                                 'service="ecr.amazonaws.com"' % A)
                self.assertEqual(headers["docker-distribution-api-version"], "registry/2.0")
                self.assertEqual(body, b"Not Authorized\n")
        st, _, _ = self.get("/v2/", self.admin_pw)
        self.assertEqual(st, 200)
        st, headers, _ = self.get("/v2/", self.admin_pw, host="%s.dkr.ecr.cn-north-1.amazonaws.com.cn" % A)
        self.assertEqual(st, 403, "a token is for its own region only")

    def test_bad_credentials(self):
        for auth in ("Basic " + "!!!", "Bearer abc", basic_auth("not-a-token"),
                     "Basic " + __import__("base64").b64encode(b"bob:" + self.admin_pw.encode()).decode()):
            with self.subTest(auth=auth[:20]):
                st, headers, _ = http(self.sim, "GET", MANIFEST_PATH % "latest",
                                      {"Host": self.host, "Authorization": auth})
                self.assertEqual(st, 401)
                self.assertIn("www-authenticate", headers)
        st, _, body = http(self.sim, "GET", "/v2/", {"Host": "127.0.0.1"})
        self.assertEqual(st, 400, "a registry request without a registry Host is a client bug")

    def test_manifest_head_and_get(self):
        st, headers, body = self.get(MANIFEST_PATH % "latest", self.admin_pw)
        self.assertEqual(st, 200)
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        self.assertEqual(headers["docker-content-digest"], digest)
        self.assertEqual(headers["content-type"], "application/vnd.oci.image.index.v1+json")
        self.assertEqual(int(headers["content-length"]), len(body))
        index = json.loads(body)
        self.assertEqual(sorted(m["platform"]["architecture"] for m in index["manifests"]), ["amd64", "arm64"])
        st, hh, hbody = self.get(MANIFEST_PATH % "latest", self.admin_pw, method="HEAD")
        self.assertEqual((st, hbody), (200, b""))
        self.assertEqual(hh["docker-content-digest"], digest)
        self.assertEqual(int(hh["content-length"]), len(body))
        # A child manifest by digest, and its digest is what the index says.
        child = index["manifests"][0]
        st, ch, cbody = self.get(MANIFEST_PATH % child["digest"], self.admin_pw)
        self.assertEqual(st, 200)
        self.assertEqual("sha256:" + hashlib.sha256(cbody).hexdigest(), child["digest"])
        self.assertEqual(len(cbody), child["size"])
        self.assertEqual(ch["content-type"], child["mediaType"])
        # Docker schema 2 by tag.
        st, dh, _ = self.get(MANIFEST_PATH % "v1.4.1", self.admin_pw)
        self.assertEqual(dh["content-type"], "application/vnd.docker.distribution.manifest.v2+json")

    def test_manifest_misses(self):
        self.assertDistError(self.get(MANIFEST_PATH % "nope", self.admin_pw), 404, "MANIFEST_UNKNOWN",
                             "Requested image not found")
        self.assertDistError(self.get(MANIFEST_PATH % ("sha256:" + "0" * 64), self.admin_pw), 404,
                             "MANIFEST_UNKNOWN")
        self.assertDistError(self.get(MANIFEST_PATH % "latest", self.admin_pw,
                                      accept="application/vnd.docker.distribution.manifest.v2+json"),
                             404, "MANIFEST_UNKNOWN",
                             "OCI index found, but accept header does not support OCI indexes")
        self.assertDistError(self.get("/v2/nope/none/manifests/latest", self.admin_pw), 404, "NAME_UNKNOWN",
                             "The repository with name 'nope/none' does not exist in the registry with id '%s'" % A)

    def test_tags_list(self):
        st, _, body = self.get("/v2/%s/tags/list" % REPO, self.admin_pw, accept=None)
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(body), {"name": REPO, "tags": ["latest", "v1.3.0", "v1.4.1", "v1.4.2"]})

    def test_blob_redirect_and_layer_url(self):
        _, _, body = self.get(MANIFEST_PATH % "v1.3.0", self.admin_pw)
        man = json.loads(body)
        layer = man["layers"][0]
        config = man["config"]
        path = "/v2/%s/blobs/%s" % (REPO, layer["digest"])
        st, headers, _ = self.get(path, self.admin_pw, method="HEAD", accept=None)
        self.assertEqual(st, 200)
        self.assertEqual(int(headers["content-length"]), layer["size"])
        self.assertEqual(headers["docker-content-digest"], layer["digest"])
        st, headers, body = self.get(path, self.admin_pw, accept=None)
        self.assertEqual(st, 307)
        loc = urllib.parse.urlsplit(headers["location"])
        self.assertEqual("%s:%s" % (loc.hostname, loc.port), "127.0.0.1:%d" % self.sim.port)
        self.assertRegex(loc.path, r"^/prod-ap-southeast-1-starport-layer-bucket/")
        q = dict(urllib.parse.parse_qsl(loc.query))
        for k in ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                  "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token"):
            self.assertIn(k, q)
        target = loc.path + "?" + loc.query
        # The layer URL needs no registry credentials, as with S3.
        st, headers, data = http(self.sim, "GET", target, {"Host": "prod-ap-southeast-1-starport-layer-bucket.s3.ap-southeast-1.amazonaws.com"})
        self.assertEqual(st, 200)
        self.assertEqual("sha256:" + hashlib.sha256(data).hexdigest(), layer["digest"])
        tar = tarfile.open(fileobj=io.BytesIO(gzip.decompress(data)))
        self.assertIn("etc/awssim-release", tar.getnames())
        st, headers, data2 = http(self.sim, "GET", target, {"Range": "bytes=10-99"})
        self.assertEqual(st, 206)
        self.assertEqual(data2, data[10:100])
        self.assertEqual(headers["content-range"], "bytes 10-99/%d" % len(data))
        st, _, tail = http(self.sim, "GET", target, {"Range": "bytes=-16"})
        self.assertEqual((st, tail), (206, data[-16:]))
        st, _, _ = http(self.sim, "GET", target, {"Range": "bytes=%d-" % (len(data) + 5)})
        self.assertEqual(st, 416)
        st, headers, hbody = http(self.sim, "HEAD", target)
        self.assertEqual((st, hbody), (403, b""), "URL pre-signed for GET refuses HEAD")
        st, _, body = http(self.sim, "GET", target.replace("X-Amz-Signature=", "X-Amz-Signature=0"))
        self.assertEqual(st, 403)
        self.assertIn(b"<Code>SignatureDoesNotMatch</Code>", body)
        # The config blob redirects too, and is the image config JSON.
        st, headers, _ = self.get("/v2/%s/blobs/%s" % (REPO, config["digest"]), self.admin_pw, accept=None)
        loc = urllib.parse.urlsplit(headers["location"])
        st, _, cfg = http(self.sim, "GET", loc.path + "?" + loc.query)
        self.assertEqual(json.loads(cfg)["rootfs"]["type"], "layers")
        self.assertDistError(self.get("/v2/%s/blobs/sha256:%s" % (REPO, "1" * 64), self.admin_pw, accept=None),
                             404, "BLOB_UNKNOWN")

    def test_cross_account_pull_denied_then_granted(self):
        with Simulator("seed.json") as sim:
            host = sim.registry_host(A)
            pw_b = registry_password(sim, "eks-node-b")
            pw_c = registry_password(sim, "eks-node-c")
            denied = ("User: %s is not authorized to perform: ecr:BatchGetImage on resource: %s "
                      "because no resource-based policy allows the ecr:BatchGetImage action")

            def pull(pw, method="GET"):
                return http(sim, method, MANIFEST_PATH % "latest",
                            {"Host": host, "Authorization": basic_auth(pw), "Accept": ALL_TYPES})

            self.assertDistError(pull(pw_b), 403, "DENIED", denied % (SESS_B, REPO_ARN))
            st, _, body = pull(pw_b, "HEAD")
            self.assertEqual((st, body), (403, b""))
            # The API says the same thing in the same words.
            _, _, err = api_parsed(sim, "eks-node-b", "ecr", "BatchGetImage",
                                   {"registryId": A, "repositoryName": REPO, "imageIds": [{"imageTag": "latest"}]})
            self.assertEqual(err, ("AccessDeniedException", denied % (SESS_B, REPO_ARN)))
            # A missing repository in another account is refused the same way.
            self.assertDistError(http(sim, "GET", "/v2/nope/none/manifests/latest",
                                      {"Host": host, "Authorization": basic_auth(pw_b)}), 403, "DENIED",
                                 denied % (SESS_B, REPO_ARN.replace(REPO, "nope/none")))
            status, _, err = api_parsed(sim, "registry-admin-a", "ecr", "SetRepositoryPolicy",
                                        {"repositoryName": REPO, "policyText": fixed_policy_text()})
            self.assertEqual((status, err), (200, None))
            # The same token works now: permissions are evaluated at request time.
            st, headers, _ = pull(pw_b)
            self.assertEqual(st, 200)
            _, _, body = http(sim, "GET", MANIFEST_PATH % "v1.3.0",
                              {"Host": host, "Authorization": basic_auth(pw_b), "Accept": ALL_TYPES})
            layer = json.loads(body)["layers"][0]["digest"]
            st, headers, _ = http(sim, "GET", "/v2/%s/blobs/%s" % (REPO, layer),
                                  {"Host": host, "Authorization": basic_auth(pw_b)})
            self.assertEqual(st, 307)
            st, _, _ = pull(pw_c)
            self.assertEqual(st, 403)
            log = [r for r in sim.requests(wait_s=0.1) if r["service"] == "registry"]
            self.assertTrue(all(r["principal"] for r in log))
            self.assertIn(SESS_B, {r["principal"] for r in log})

    def test_token_expiry_and_region(self):
        scen = {"extends": "seed.json", "token_ttl_s": 1}
        with Simulator(scen) as sim:
            pw = registry_password(sim, "registry-admin-a")
            host = sim.registry_host(A)
            st, _, _ = http(sim, "GET", "/v2/", {"Host": host, "Authorization": basic_auth(pw)})
            self.assertEqual(st, 200)
            time.sleep(1.3)
            resp = http(sim, "GET", MANIFEST_PATH % "latest", {"Host": host, "Authorization": basic_auth(pw)})
            self.assertDistError(resp, 403, "DENIED",
                                 "Your authorization token has expired. Reauthenticate and try again.")
        with Simulator("seed.json") as sim:
            pw = registry_password(sim, "registry-admin-a", region="eu-west-1")
            resp = http(sim, "GET", MANIFEST_PATH % "latest",
                        {"Host": sim.registry_host(A), "Authorization": basic_auth(pw)})
            self.assertDistError(resp, 403, "DENIED")

    def test_push_is_unsupported(self):
        st, _, _ = self.get("/v2/%s/blobs/uploads/" % REPO, self.admin_pw, method="POST", accept=None)
        self.assertEqual(st, 405)


if __name__ == "__main__":
    unittest.main()
