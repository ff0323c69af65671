#!/usr/bin/env python3
"""With credentials of the registry account (--registry-profile), the diagnosis reads A's own
side: no repository policy at all is REPO_POLICY_MISSING and the fix is a complete new
document; a repository that does not exist there is REPOSITORY_NOT_FOUND, not a policy
problem; an existing policy is merged into, every statement kept."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import e2e

NODE = "eks-node-b"
ORG = "o-a1b2c3d4e5"


def with_registry_profile(sim, env):
    """Writes a profile 'registry-a' holding account A's admin keys where env's AWS looks."""
    e2e.write_profile(env, "registry-a", sim.identity("registry-admin-a"))
    return env


class RegistryView(unittest.TestCase):
    def run_view(self, scenario, image=e2e.SEED_IMAGE):
        with e2e.Simulator(scenario) as sim:
            env = with_registry_profile(sim, sim.env(NODE))
            return e2e.run_ecrdiag(["--image", image, "--org-id", ORG,
                                    "--registry-profile", "registry-a"], env)

    def test_no_policy_is_repo_policy_missing_with_a_complete_document(self):
        run = self.run_view("seed.json")
        self.assertEqual(run.code, 1, run)
        self.assertEqual(run.report["verdict"]["causes"], ["REPO_POLICY_MISSING"])
        fix = run.report["fix"]
        self.assertEqual(fix["basis"], "none")
        self.assertEqual(fix["document"], {"Version": "2012-10-17",
                                           "Statement": [fix["statement"]]})
        # The SHA-256 of nothing: the script checks that there is still no policy.
        self.assertEqual(fix["based_on_sha256"],
                         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        self.assertTrue(fix["verified"], fix.get("verification"))

    def test_wrong_repository_name_is_repository_not_found(self):
        run = self.run_view("seed.json", e2e.SEED_IMAGE.replace("cicd-runner", "cicd-runer"))
        self.assertEqual(run.code, 1, run)
        self.assertEqual(run.report["verdict"]["causes"], ["REPOSITORY_NOT_FOUND"])
        self.assertEqual(run.report["findings"][0]["evidence"]["nearest_repositories"],
                         ["audit/sa/cicd-runner"])
        self.assertIsNone(run.report["fix"])

    def test_missing_tag_names_the_nearest_existing_tags(self):
        run = self.run_view("seed-fixed.json", e2e.SEED_IMAGE.replace(":latest", ":v1.4"))
        self.assertEqual(run.code, 1, run)
        self.assertEqual(run.report["verdict"]["causes"], ["IMAGE_NOT_FOUND"])
        ev = run.report["findings"][0]["evidence"]
        self.assertEqual(ev["nearest_tags"], ["latest", "v1.4.2", "v1.4.1", "v1.3.0"])
        listing = next(c for c in run.report["checks"] if c["id"] == "ecr.DescribeImages")
        self.assertEqual((listing["status"], listing["needed_for_pull"]), ("pass", False))

    def test_existing_policy_is_merged_into(self):
        run = self.run_view({
            "extends": "seed.json",
            "repositories": {"632000001762/ap-southeast-1/audit/sa/cicd-runner": {"policy": {
                "Version": "2008-10-17",
                "Statement": [{"Sid": "CiPush", "Effect": "Allow",
                               "Principal": {"AWS": "arn:aws:iam::632000001762:root"},
                               "Action": ["ecr:PutImage", "ecr:InitiateLayerUpload"]}]}}}})
        self.assertEqual(run.code, 1, run)
        self.assertEqual(run.report["verdict"]["causes"], ["REPO_POLICY_NOT_GRANTING"])
        doc = run.report["fix"]["document"]
        self.assertEqual(doc["Version"], "2008-10-17")
        self.assertEqual([s.get("Sid") for s in doc["Statement"]], ["CiPush", "AllowPullFromOrg"])
        self.assertEqual(run.report["fix"]["basis"], "read")
        self.assertIsNotNone(run.report["fix"]["based_on_sha256"])



CASES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases")


def case_scenario(name):
    with open(os.path.join(CASES, name), encoding="utf-8") as f:
        return json.load(f)["scenario"]


@unittest.skipUnless(shutil.which("aws") and shutil.which("jq"),
                     "the AWS CLI or jq is not installed: the printed script is not run")
class DenyExemptionApplied(unittest.TestCase):
    """The exemption from a Deny, applied by running the very script ecrdiag printed as account
    A, lets the node role pull; the script backs up what it replaces and refuses to run on a
    policy that changed since ecrdiag read it."""

    def apply_and_recheck(self, case, view):
        with e2e.Simulator(case_scenario(case)) as sim:
            env = sim.env(NODE)
            args = ["--image", e2e.SEED_IMAGE, "--org-id", ORG]
            if view:
                with_registry_profile(sim, env)
                args += ["--registry-profile", "registry-a"]
            run = e2e.run_ecrdiag(args, env)
            self.assertEqual(run.code, 1, run)
            fix = run.report["fix"]
            self.assertTrue(fix["exempt_from_deny"], fix)
            self.assertTrue(fix["verified"], fix["verification"])
            with tempfile.TemporaryDirectory() as tmp:
                p = subprocess.run(["bash", "-c", fix["aws_cli"]], cwd=tmp,
                                   env=sim.env("registry-admin-a"), capture_output=True,
                                   text=True, timeout=120)
                self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
                # The script backed up what it replaced.
                self.assertEqual(len([f for f in os.listdir(tmp) if f.endswith(".json")]), 1)
                # Run twice, it changes nothing: the policy moved on from what ecrdiag read.
                again = subprocess.run(["bash", "-c", fix["aws_cli"]], cwd=tmp,
                                       env=sim.env("registry-admin-a"), capture_output=True,
                                       text=True, timeout=120)
                self.assertNotEqual(again.returncode, 0, again.stdout)
            after = e2e.run_ecrdiag(["--image", e2e.SEED_IMAGE, "--org-id", ORG], sim.env(NODE))
            self.assertEqual(after.code, 0, after)

    def test_repository_policy_deny(self):
        self.apply_and_recheck("repo-policy-explicit-deny.json", view=False)

    def test_registry_policy_deny(self):
        self.apply_and_recheck("registry-policy-deny-view.json", view=True)


class PtcImportFixed(unittest.TestCase):
    """The pull-through cache import fix, given to the node role in account A (the simulator has
    no IAM API: the inline document goes into the scenario as that role's policy), lets the
    first pull import the image: the check then passes."""

    def test_inline_policy_lets_the_first_pull_import(self):
        scenario = case_scenario("ptc-import-denied-same-account.json")
        image = "632000001762.dkr.ecr.ap-southeast-1.amazonaws.com/docker-hub/library/nginx:1.27"
        with e2e.Simulator(scenario) as sim:
            # The cache rules are read from A's view: the read-only node role may not list them.
            env = with_registry_profile(sim, sim.env("eks-node-a"))
            run = e2e.run_ecrdiag(["--image", image, "--registry-profile", "registry-a"], env)
            self.assertEqual(run.code, 1, run)
            self.assertEqual(run.report["verdict"]["causes"][0], "PTC_IMPORT_DENIED")
            fix = run.report["fix"]
            self.assertTrue(fix["verified"], fix["verification"])
        fixed = json.loads(json.dumps(scenario))
        fixed["identities"]["eks-node-a"]["policies"] = {"ptc-import": fix["document"]}
        with e2e.Simulator(fixed) as sim:
            run = e2e.run_ecrdiag(["--image", image], sim.env("eks-node-a"))
            self.assertEqual(run.code, 0, run)
            imported = [r for r in sim.requests(0.2) if r.get("action") == "BatchGetImage"]
            self.assertEqual(imported[0]["status"], 200)


if __name__ == "__main__":
    unittest.main()
