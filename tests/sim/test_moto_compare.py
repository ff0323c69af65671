"""Side by side with moto (an independent AWS mock): the same boto3 calls against moto's
server and against awssim must give answers of the same shape, the same error codes and
statuses, and the same error texts (with names and ids substituted). Skips without moto
or boto3.
"""

import base64
import logging
import os
import socket
import sys
import unittest

ROOT = os.environ.get("ECRDIAG_ROOT") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts", "awssim"))

import harness  # noqa: E402
from harness import Simulator  # noqa: E402

try:
    import boto3
    import botocore.exceptions
    from moto.server import ThreadedMotoServer
    HAVE_MOTO = True
except Exception:  # moto without its server extras raises more than ImportError
    HAVE_MOTO = False

logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request

REGION = "ap-southeast-1"
REPO = "audit/sa/cicd-runner"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keys_tree(obj):
    """The member names of an answer, recursively, without values."""
    if isinstance(obj, dict):
        return {k: keys_tree(v) for k, v in obj.items() if k != "ResponseMetadata"}
    if isinstance(obj, list):
        return [keys_tree(obj[0])] if obj else []
    return type(obj).__name__


@unittest.skipUnless(HAVE_MOTO, "moto (server) or boto3 is not installed")
class MotoSideBySide(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.moto_port = free_port()
        cls.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=cls.moto_port, verbose=False)
        cls.moto.start()
        cls.moto_url = "http://127.0.0.1:%d" % cls.moto_port
        cls.sim = Simulator("seed.json").start()
        mk = dict(endpoint_url=cls.moto_url, region_name=REGION, aws_access_key_id="AKIAMOTO",
                  aws_secret_access_key="motosecret")
        cls.m_sts = boto3.client("sts", **mk)
        cls.m_ecr = boto3.client("ecr", **mk)
        cls.m_orgs = boto3.client("organizations", **mk)
        cls.m_account = cls.m_sts.get_caller_identity()["Account"]
        cls.m_ecr.create_repository(repositoryName=REPO)
        cls.s_ecr = harness.boto3_client(cls.sim, "ecr", "registry-admin-a")
        cls.s_account = "632000001762"

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()
        cls.moto.stop()

    def error(self, fn, **kw):
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            fn(**kw)
        r = cm.exception.response
        return r["Error"]["Code"], r["Error"]["Message"], r["ResponseMetadata"]["HTTPStatusCode"]

    def test_get_caller_identity_shape(self):
        moto = self.m_sts.get_caller_identity()
        sim = harness.boto3_client(self.sim, "sts", "eks-node-b").get_caller_identity()
        self.assertEqual(keys_tree(moto), keys_tree(sim))

    def test_get_authorization_token_shape(self):
        moto = self.m_ecr.get_authorization_token()
        sim = harness.boto3_client(self.sim, "ecr", "eks-node-b").get_authorization_token()
        self.assertEqual(keys_tree(moto), keys_tree(sim))
        for answer, account in ((moto, self.m_account), (sim, "722000009750")):
            data = answer["authorizationData"][0]
            self.assertTrue(base64.b64decode(data["authorizationToken"]).startswith(b"AWS:"))
            self.assertEqual(data["proxyEndpoint"], "https://%s.dkr.ecr.%s.amazonaws.com" % (account, REGION))

    def test_describe_repositories_members(self):
        moto = self.m_ecr.describe_repositories()["repositories"][0]
        sim = self.s_ecr.describe_repositories()["repositories"][0]
        for k in ("repositoryArn", "registryId", "repositoryName", "repositoryUri", "createdAt",
                  "imageTagMutability"):
            self.assertIn(k, moto)
            self.assertIn(k, sim)
            self.assertEqual(type(moto[k]), type(sim[k]), k)
        self.assertEqual(moto["repositoryArn"].replace(self.m_account, "ACCT").replace("us-east-1", REGION),
                         sim["repositoryArn"].replace(self.s_account, "ACCT"))

    def test_batch_get_image_missing_tag(self):
        args = dict(repositoryName=REPO, imageIds=[{"imageTag": "no-such-tag"}])
        moto = self.m_ecr.batch_get_image(**args)
        sim = self.s_ecr.batch_get_image(**args)
        self.assertEqual(moto["failures"], sim["failures"])
        self.assertEqual(moto["images"], sim["images"])

    def test_error_texts(self):
        cases = [
            ("get_repository_policy", dict(repositoryName=REPO)),
            ("batch_get_image", dict(repositoryName="nope/none", imageIds=[{"imageTag": "x"}])),
            ("get_registry_policy", {}),
            ("describe_images", dict(repositoryName="nope/none")),
        ]
        for op, kw in cases:
            with self.subTest(op=op):
                m = self.error(getattr(self.m_ecr, op), **kw)
                s = self.error(getattr(self.s_ecr, op), **kw)
                self.assertEqual(m[0], s[0])
                self.assertEqual(m[2], s[2])
                self.assertEqual(m[1].replace(self.m_account, "ACCT"), s[1].replace(self.s_account, "ACCT"))

    def test_organizations_not_in_use(self):
        m = self.error(self.m_orgs.describe_organization)
        admin_c = {"arn": "arn:aws:iam::833000004321:user/admin", "access_key_id": "AKIASIMCADMIN0000001",
                   "secret_access_key": "AwsSimFakeSecret/adminC/000000000000000",
                   "policies": {"org": {"Version": "2012-10-17", "Statement": [
                       {"Effect": "Allow", "Action": "organizations:*", "Resource": "*"}]}}}
        with Simulator({"extends": "seed.json", "identities": {"admin-c": admin_c}}) as sim:
            s = self.error(harness.boto3_client(sim, "organizations", "admin-c").describe_organization)
        self.assertEqual(m, s)


if __name__ == "__main__":
    unittest.main()
