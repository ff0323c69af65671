#!/usr/bin/env python3
"""The seed case end to end: B's node role cannot pull A's image; the fix ecrdiag prints is
applied as account A through the simulator's ECR API; then B can pull while a node role of an
account outside the organization still cannot. Also runs the printed `aws` CLI script itself
where the AWS CLI and jq are installed."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import e2e

SEED = os.path.join(e2e.SCENARIOS, "seed.json")
ORG = "o-a1b2c3d4e5"
CLIENT = os.path.join(e2e.ROOT, "scripts", "awssim", "client.py")
B_NODE, C_NODE, A_ADMIN = "eks-node-b", "eks-node-c", "registry-admin-a"


def ecr(sim, who, op, body):
    """Calls the simulator's ECR API as identity who; returns (exit code, parsed answer)."""
    p = subprocess.run([sys.executable, CLIENT, "--region", "ap-southeast-1", "--endpoint",
                        sim.url, "ecr", op, json.dumps(body)], env=sim.env(who),
                       capture_output=True, text=True, timeout=60)
    return p.returncode, (json.loads(p.stdout) if p.returncode == 0 and p.stdout.strip()
                          else p.stderr)


def apply_statement(sim, statement):
    """What the printed script does, as account A: read, merge, set."""
    key = {"registryId": "632000001762", "repositoryName": "audit/sa/cicd-runner"}
    code, got = ecr(sim, A_ADMIN, "GetRepositoryPolicy", key)
    doc = json.loads(got["policyText"]) if code == 0 else {"Version": "2012-10-17",
                                                           "Statement": []}
    doc["Statement"].append(statement)
    code, got = ecr(sim, A_ADMIN, "SetRepositoryPolicy", dict(key, policyText=json.dumps(doc)))
    assert code == 0, got


class SeedFlow(unittest.TestCase):
    def test_denied_then_fixed_org_wide(self):
        with e2e.Simulator(SEED) as sim:
            run = e2e.run_ecrdiag(["--image", e2e.SEED_IMAGE, "--org-id", ORG], sim.env(B_NODE))
            self.assertEqual(run.code, 1, run)
            r = run.report
            self.assertEqual(r["verdict"]["pullable"], False)
            self.assertEqual(r["verdict"]["causes"][0], "REPO_POLICY_NOT_GRANTING")
            primary = r["findings"][0]
            self.assertIn("because no resource-based policy allows the ecr:BatchGetImage action",
                          primary["evidence"]["message"])
            self.assertIn("region", primary["summary"])
            fix = r["fix"]
            self.assertEqual(fix["target"], "repository_policy")
            self.assertEqual(fix["arn"],
                             "arn:aws:ecr:ap-southeast-1:632000001762:repository/audit/sa/cicd-runner")
            self.assertEqual(fix["statement"], {
                "Sid": "AllowPullFromOrg", "Effect": "Allow", "Principal": "*",
                "Action": ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage",
                           "ecr:GetDownloadUrlForLayer"],
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": ORG}}})
            # B cannot read A's policy, so the complete document is unknown.
            self.assertIsNone(fix["document"])
            self.assertIsNone(fix["based_on_sha256"])
            self.assertIn("set-repository-policy", fix["aws_cli"])
            self.assertIn("aws_ecr_repository_policy", fix["terraform"])

            apply_statement(sim, fix["statement"])

            after = e2e.run_ecrdiag(["--image", e2e.SEED_IMAGE, "--org-id", ORG],
                                    sim.env(B_NODE))
            self.assertEqual(after.code, 0, after)
            self.assertIs(after.report["verdict"]["pullable"], True)
            self.assertEqual(after.report["verdict"]["causes"], [])
            self.assertIsNone(after.report["fix"])
            self.assertTrue(all(c["status"] == "pass" for c in after.report["checks"]
                                if c["id"].startswith(("ecr.Batch", "registry."))),
                            after.report["checks"])

            outsider = e2e.run_ecrdiag(["--image", e2e.SEED_IMAGE], sim.env(C_NODE))
            self.assertEqual(outsider.code, 1, outsider)
            self.assertEqual(outsider.report["verdict"]["causes"][0], "REPO_POLICY_NOT_GRANTING")

    def test_without_org_id_the_fix_grants_the_account(self):
        with e2e.Simulator(SEED) as sim:
            run = e2e.run_ecrdiag(["--image", e2e.SEED_IMAGE], sim.env(B_NODE))
            self.assertEqual(run.code, 1, run)
            st = run.report["fix"]["statement"]
            self.assertEqual(st["Principal"], {"AWS": "arn:aws:iam::722000009750:root"})
            self.assertNotIn("Condition", st)
            notes = [f["cause"] for f in run.report["findings"]]
            self.assertIn("ORG_ID_UNKNOWN", notes)
            apply_statement(sim, st)
            self.assertEqual(e2e.run_ecrdiag(["--image", e2e.SEED_IMAGE],
                                             sim.env(B_NODE)).code, 0)
            self.assertEqual(e2e.run_ecrdiag(["--image", e2e.SEED_IMAGE],
                                             sim.env(C_NODE)).code, 1)

    @unittest.skipUnless(shutil.which("aws") and shutil.which("jq"),
                         "the AWS CLI or jq is not installed: the printed script is not run")
    def test_printed_aws_cli_script_applies_the_fix(self):
        with e2e.Simulator(SEED) as sim:
            run = e2e.run_ecrdiag(["--image", e2e.SEED_IMAGE, "--org-id", ORG], sim.env(B_NODE))
            self.assertEqual(run.code, 1, run)
            with tempfile.TemporaryDirectory() as tmp:
                env = sim.env(A_ADMIN)
                p = subprocess.run(["bash", "-c", run.report["fix"]["aws_cli"]], cwd=tmp,
                                   env=env, capture_output=True, text=True, timeout=120)
                self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertEqual(e2e.run_ecrdiag(["--image", e2e.SEED_IMAGE, "--org-id", ORG],
                                             sim.env(B_NODE)).code, 0)


if __name__ == "__main__":
    unittest.main()
