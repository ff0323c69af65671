#!/usr/bin/env python3
"""`ecrdiag policy fix` offline, for a Deny: --exempt-deny N exempts the grant from the Deny at
Statement[N] of --current (the repository policy, or with --target registry the private
registry policy), verified with --repository-policy; bad combinations are usage errors that
name what to give."""
import json
import os
import subprocess
import tempfile
import unittest

import e2e

REPO_ARN = "arn:aws:ecr:ap-southeast-1:632000001762:repository/audit/sa/cicd-runner"
NODE = "arn:aws:sts::722000009750:assumed-role/eks-node-role/i-0b1c2d3e4f5a6b7c8"
REGISTRY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "Keep", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::632000001762:root"},
         "Action": "ecr:ReplicateImage", "Resource": "*"},
        {"Sid": "OnlyPlatform", "Effect": "Deny", "Principal": "*",
         "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
         "Resource": "arn:aws:ecr:ap-southeast-1:632000001762:repository/*",
         "Condition": {"StringNotEquals": {"aws:PrincipalAccount": ["632000001762"]}}}]}
REPOSITORY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "Org", "Effect": "Allow", "Principal": "*",
                   "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                   "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}}]}


def fix(*args):
    return subprocess.run([e2e.BIN, "policy", "fix", "--repository-arn", REPO_ARN] + list(args),
                          capture_output=True, text=True, timeout=30)


class PolicyFixDeny(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.registry = os.path.join(self.tmp.name, "registry.json")
        self.repository = os.path.join(self.tmp.name, "repository.json")
        with open(self.registry, "w", encoding="utf-8") as f:
            json.dump(REGISTRY_POLICY, f)
        with open(self.repository, "w", encoding="utf-8") as f:
            json.dump(REPOSITORY_POLICY, f)

    def tearDown(self):
        self.tmp.cleanup()

    def test_registry_exemption_is_verified_with_the_repository_policy(self):
        p = fix("--target", "registry", "--exempt-deny", "1", "--current", self.registry,
                "--repository-policy", self.repository, "--principal-arn", NODE,
                "--org-id", "o-a1b2c3d4e5", "--grant", "role", "--output", "json")
        self.assertEqual(p.returncode, 0, p.stdout)
        out = json.loads(p.stdout)
        self.assertEqual((out["target"], out["exempt_from_deny"], out["deny_statement"]),
                         ("registry_policy", True, 1))
        self.assertTrue(out["verified"], out["verification"])
        self.assertEqual(out["document"]["Statement"][0], REGISTRY_POLICY["Statement"][0])
        self.assertEqual(out["statement"]["Condition"]["ArnNotEquals"],
                         {"aws:PrincipalArn": ["arn:aws:iam::722000009750:role/eks-node-role"]})
        self.assertIn("put-registry-policy", out["aws_cli"])
        self.assertIn("AWS::ECR::RegistryPolicy", out["cloudformation"])

    def test_without_a_repository_grant_the_registry_fix_is_not_verified(self):
        empty = os.path.join(self.tmp.name, "none.json")
        with open(empty, "w", encoding="utf-8") as f:
            json.dump({"Version": "2012-10-17", "Statement": [
                {"Sid": "Push", "Effect": "Allow",
                 "Principal": {"AWS": "arn:aws:iam::632000001762:root"},
                 "Action": "ecr:PutImage"}]}, f)
        p = fix("--target", "registry", "--exempt-deny", "1", "--current", self.registry,
                "--repository-policy", empty, "--principal-arn", NODE, "--grant", "role",
                "--output", "json")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertFalse(json.loads(p.stdout)["verified"])

    def test_usage_errors_name_what_to_give(self):
        cases = [
            (["--target", "registry", "--current", self.registry], "--exempt-deny N"),
            (["--exempt-deny", "0"], "--current FILE"),
            (["--exempt-deny", "-1", "--current", self.registry], "not a statement index"),
            (["--repository-policy", self.repository], "--target registry"),
            (["--target", "registries"], "repository, identity or registry"),
            (["--exempt-deny", "0", "--current", self.registry, "--principal-arn", NODE],
             "not a Deny"),
        ]
        for args, text in cases:
            p = fix(*args)
            self.assertEqual(p.returncode, 2, (args, p.stdout, p.stderr))
            self.assertIn(text, p.stderr, args)


if __name__ == "__main__":
    unittest.main()
