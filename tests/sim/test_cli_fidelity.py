"""Fidelity of the simulator with the AWS CLI: the CLI, configured only through the
environment that Simulator.env() builds, talks to the simulator and prints AWS's own
error lines ("An error occurred (Code) when calling the Op operation: message").
Skips when the `aws` command is absent.
"""

import json
import os
import shutil
import subprocess
import sys
import unittest

ROOT = os.environ.get("ECRDIAG_ROOT") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts", "awssim"))

from harness import Simulator, basic_auth, http  # noqa: E402

AWS = shutil.which("aws") or ("/root/.pyenv/shims/aws" if os.path.exists("/root/.pyenv/shims/aws") else None)

A, B = "632000001762", "722000009750"
REPO = "audit/sa/cicd-runner"
REPO_ARN = "arn:aws:ecr:ap-southeast-1:%s:repository/%s" % (A, REPO)
SESS_B = "arn:aws:sts::%s:assumed-role/eks-node-role/i-0b1c2d3e4f5a6b7c8" % B


def aws_works():
    if not AWS:
        return False
    try:
        return subprocess.run([AWS, "--version"], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@unittest.skipUnless(aws_works(), "the aws CLI is not installed")
class AwsCli(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sim = Simulator("seed.json").start()

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def aws(self, who, *args, sim=None):
        env = (sim or self.sim).env(who)
        # The shim that pyenv installs needs its own variables; they are not AWS_*.
        p = subprocess.run([AWS, "--output", "json", *args], env=env, capture_output=True,
                           text=True, timeout=120)
        return p.returncode, p.stdout, p.stderr

    def test_env_isolates_the_client(self):
        env = self.sim.env("eks-node-b")
        self.assertEqual(env["AWS_ENDPOINT_URL"], self.sim.url)
        self.assertEqual(env["ECRDIAG_REGISTRY_ENDPOINT"], self.sim.url)
        self.assertEqual(env["AWS_EC2_METADATA_DISABLED"], "true")
        self.assertEqual(os.listdir(env["HOME"]), [])
        self.assertNotIn("AWS_PROFILE", env)

    def test_get_caller_identity(self):
        rc, out, err = self.aws("eks-node-b", "sts", "get-caller-identity")
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["Arn"], SESS_B)

    def test_get_login_password_works_on_the_registry(self):
        rc, out, err = self.aws("registry-admin-a", "ecr", "get-login-password")
        self.assertEqual(rc, 0, err)
        st, _, _ = http(self.sim, "GET", "/v2/%s/manifests/latest" % REPO,
                        {"Host": self.sim.registry_host(A), "Authorization": basic_auth(out.strip())})
        self.assertEqual(st, 200)

    def test_errors_as_aws_prints_them(self):
        rc, out, err = self.aws("eks-node-b", "ecr", "batch-get-image", "--registry-id", A,
                                "--repository-name", REPO, "--image-ids", "imageTag=latest")
        self.assertNotEqual(rc, 0)
        self.assertIn("An error occurred (AccessDeniedException) when calling the BatchGetImage "
                      "operation: User: %s is not authorized to perform: ecr:BatchGetImage on "
                      "resource: %s because no resource-based policy allows the ecr:BatchGetImage "
                      "action" % (SESS_B, REPO_ARN), err)
        rc, _, err = self.aws("registry-admin-a", "ecr", "get-repository-policy", "--repository-name", REPO)
        self.assertNotEqual(rc, 0)
        self.assertIn("An error occurred (RepositoryPolicyNotFoundException) when calling the "
                      "GetRepositoryPolicy operation: Repository policy does not exist", err)
        rc, _, err = self.aws("eks-node-b", "organizations", "describe-organization")
        self.assertNotEqual(rc, 0)
        self.assertIn("An error occurred (AccessDeniedException) when calling the DescribeOrganization "
                      "operation: You don't have permissions to access this resource.", err)

    def test_fix_then_pull(self):
        with open(os.path.join(ROOT, "fixtures", "scenarios", "seed-fixed.json")) as f:
            policy = json.load(f)["repositories"]["632000001762/ap-southeast-1/" + REPO]["policy"]
        with Simulator("seed.json") as sim:
            rc, out, err = self.aws("registry-admin-a", "ecr", "set-repository-policy",
                                    "--repository-name", REPO, "--policy-text", json.dumps(policy), sim=sim)
            self.assertEqual(rc, 0, err)
            self.assertEqual(json.loads(json.loads(out)["policyText"]), policy)
            rc, out, err = self.aws("eks-node-b", "ecr", "batch-get-image", "--registry-id", A,
                                    "--repository-name", REPO, "--image-ids", "imageTag=v1.4.1", sim=sim)
            self.assertEqual(rc, 0, err)
            self.assertEqual(json.loads(out)["images"][0]["imageId"]["imageTag"], "v1.4.1")
            rc, out, err = self.aws("eks-node-c", "ecr", "batch-get-image", "--registry-id", A,
                                    "--repository-name", REPO, "--image-ids", "imageTag=v1.4.1", sim=sim)
            self.assertNotEqual(rc, 0)
            self.assertIn("AccessDeniedException", err)

    def test_describe_organization_and_images(self):
        rc, out, err = self.aws("platform-admin-b", "organizations", "describe-organization")
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["Organization"]["Id"], "o-a1b2c3d4e5")
        rc, out, err = self.aws("registry-admin-a", "ecr", "describe-images", "--repository-name", REPO)
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(json.loads(out)["imageDetails"]), 5)


if __name__ == "__main__":
    unittest.main()
