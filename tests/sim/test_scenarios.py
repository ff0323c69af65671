"""Scenario files of the simulator: the seed scenarios load and say what the brief says,
"extends" deep-merges (null deletes), bad scenarios are refused with a useful message,
generated images are deterministic and internally consistent, and the README documents
every key the scenarios use.
"""

import gzip
import hashlib
import io
import json
import os
import sys
import tarfile
import tempfile
import unittest

ROOT = os.environ.get("ECRDIAG_ROOT") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts", "awssim"))

import imagegen  # noqa: E402
import scenario as S  # noqa: E402

SCEN_DIR = os.path.join(ROOT, "fixtures", "scenarios")
SEED = os.path.join(SCEN_DIR, "seed.json")
A, B, C = "632000001762", "722000009750", "833000004321"
REPO_KEY = (A, "ap-southeast-1", "audit/sa/cicd-runner")


def write(tmp, name, obj):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        json.dump(obj, f)
    return path


class Seed(unittest.TestCase):
    def test_seed_facts(self):
        s = S.load(SEED)
        self.assertEqual(s.org.id, "o-a1b2c3d4e5")
        self.assertEqual(s.org.management_account, "100000000001")
        self.assertEqual(s.org.ou_names[s.org.account_path[A][-1]], "shared")
        self.assertEqual(s.org.ou_names[s.org.account_path[B][-1]], "workloads")
        self.assertFalse(s.org.contains(C))
        repo = s.repositories[REPO_KEY]
        self.assertIsNone(repo.policy_text)
        self.assertIn("latest", repo.tag_map)
        self.assertGreaterEqual(len(repo.tag_map), 3)
        node = s.identity("eks-node-b")
        self.assertEqual(node.arn, "arn:aws:sts::722000009750:assumed-role/eks-node-role/i-0b1c2d3e4f5a6b7c8")
        self.assertEqual(node.role_arn, "arn:aws:iam::722000009750:role/eks-node-role")
        self.assertTrue(node.session_token and node.access_key_id.startswith("ASIA"))
        self.assertIs(s.identity(node.arn), node)
        self.assertTrue(s.identity("eks-node-c").arn.startswith("arn:aws:sts::833000004321:assumed-role/eks-node-role/i-0c"))
        self.assertEqual(s.identity("registry-admin-a").arn, "arn:aws:iam::632000001762:user/registry-admin")
        self.assertEqual(s.identity("platform-admin-b").account, B)
        keys = [i.access_key_id for i in s.identities.values()]
        self.assertEqual(len(keys), len(set(keys)))
        for i in s.identities.values():
            self.assertEqual(len(i.access_key_id), 20)
            self.assertEqual(len(i.secret_access_key), 40)
        # SCPs: FullAWSAccess at every level for members, none for the management account.
        self.assertEqual(len(s.scp_levels(B)), 3)
        self.assertIsNone(s.scp_levels("100000000001"))
        self.assertIsNone(s.scp_levels(C))

    def test_seed_fixed_only_adds_the_policy(self):
        seed = S.load_raw(SEED)
        fixed = S.load_raw(os.path.join(SCEN_DIR, "seed-fixed.json"))
        repo_key = "632000001762/ap-southeast-1/audit/sa/cicd-runner"
        policy = fixed["repositories"][repo_key].pop("policy")
        self.assertEqual(fixed, seed)
        self.assertEqual(policy["Statement"][0]["Condition"],
                         {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}})

    def test_every_scenario_file_loads(self):
        for name in sorted(os.listdir(SCEN_DIR)):
            if name.endswith(".json"):
                with self.subTest(scenario=name):
                    S.load(os.path.join(SCEN_DIR, name))


class Extends(unittest.TestCase):
    def test_deep_merge_and_null(self):
        base = {"a": {"b": 1, "c": {"d": 2}}, "l": [1, 2], "gone": 1}
        over = {"a": {"c": {"e": 3}}, "l": [3], "gone": None}
        self.assertEqual(S.deep_merge(base, over), {"a": {"b": 1, "c": {"d": 2, "e": 3}}, "l": [3]})

    def test_variant_chain_and_loop(self):
        with tempfile.TemporaryDirectory() as tmp:
            v1 = write(tmp, "v1.json", {"extends": SEED, "clock_offset_s": 60,
                                        "identities": {"eks-node-b": {"tags": None}}})
            v2 = write(tmp, "v2.json", {"extends": "v1.json", "_why": "comment keys are ignored",
                                        "repositories": {"632000001762/ap-southeast-1/audit/sa/cicd-runner": {"policy": "{}"}}})
            s = S.load(v2)
            self.assertEqual(s.clock_offset_s, 60)
            self.assertEqual(s.identity("eks-node-b").tags, {})
            self.assertEqual(s.repositories[REPO_KEY].policy_text, "{}")
            self.assertEqual(len(s.repositories[REPO_KEY].tag_map), 4, "images kept from the seed")
            write(tmp, "x.json", {"extends": "y.json"})
            y = write(tmp, "y.json", {"extends": "x.json"})
            with self.assertRaisesRegex(S.ScenarioError, "loop"):
                S.load(y)

    def test_refusals_name_the_place(self):
        bad = [
            ({"identities": {"z": {"arn": "arn:aws:iam::1:user/x"}}}, "identities.z.arn"),
            ({"identities": {"z": {"arn": "arn:aws:iam::%s:user/z" % A}}}, "identities.z.access_key_id"),
            ({"identities": {"z": {"arn": "arn:aws:iam::%s:user/z" % A, "access_key_id": "ASIASIMBEKSNODE00001",
                                   "secret_access_key": "s"}}}, "used twice"),
            ({"identities": {"z": {"arn": "arn:aws:iam::%s:user/z" % A, "access_key_id": "AKIAZ",
                                   "secret_access_key": "s", "managed_policies": ["Nope"]}}}, "Nope"),
            ({"repositories": {"bad-key": {}}}, "ACCOUNT/REGION/NAME"),
            ({"repositories": {"%s/us-east-1/Bad_Name" % A: {}}}, "repository name"),
            ({"repositories": {"%s/us-east-1/x1" % A: {"images": [{"tags": ["t"]}, {"tags": ["t"]}]}}}, "used twice"),
            ({"repositories": {"%s/us-east-1/x1" % A: {"images": [{"platforms": ["linux"]}]}}}, "images\\[0\\]"),
            ({"organization": {"id": "o-BAD"}}, "organization.id"),
            ({"organization": {"root": {"ous": {"dup": {"accounts": [A]}}}}}, "placed twice"),
            ({"organization": {"root": {"scps": ["Missing"]}}}, "Missing"),
            ({"registry_policies": {"nope": {}}}, "ACCOUNT/REGION"),
        ]
        with tempfile.TemporaryDirectory() as tmp:
            for i, (over, pattern) in enumerate(bad):
                with self.subTest(case=over):
                    path = write(tmp, "bad%d.json" % i, dict(over, extends=SEED))
                    with self.assertRaisesRegex(S.ScenarioError, pattern):
                        S.load(path)


class Images(unittest.TestCase):
    def test_deterministic(self):
        a = S.load(SEED).repositories[REPO_KEY]
        b = S.load(SEED).repositories[REPO_KEY]
        self.assertEqual(a.tag_map, b.tag_map)
        self.assertEqual(sorted(a.blobs), sorted(b.blobs))

    def test_consistent_content(self):
        repo = S.load(SEED).repositories[REPO_KEY]
        for digest, m in repo.manifests.items():
            with self.subTest(manifest=digest):
                self.assertEqual(digest, "sha256:" + hashlib.sha256(m.data).hexdigest())
                doc = json.loads(m.data)
                self.assertEqual(doc["schemaVersion"], 2)
                self.assertEqual(doc["mediaType"], m.media_type)
                if m.media_type in imagegen.INDEX_TYPES:
                    for child in doc["manifests"]:
                        cm = repo.manifests[child["digest"]]
                        self.assertEqual(child["size"], len(cm.data))
                        self.assertEqual(child["mediaType"], cm.media_type)
                        self.assertIn(child["platform"]["architecture"], ("amd64", "arm64"))
                        self.assertEqual(repo.tags_of(child["digest"]), [])
                    continue
                cfg_blob = repo.blobs[doc["config"]["digest"]]
                self.assertEqual(cfg_blob.size, doc["config"]["size"])
                cfg = json.loads(cfg_blob.data)
                diff_ids = []
                for layer in doc["layers"]:
                    blob = repo.blobs[layer["digest"]]
                    self.assertEqual(blob.size, layer["size"])
                    self.assertEqual("sha256:" + hashlib.sha256(blob.data).hexdigest(), layer["digest"])
                    raw = gzip.decompress(blob.data)
                    diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
                    names = tarfile.open(fileobj=io.BytesIO(raw)).getnames()
                    self.assertIn("etc/awssim-release", names)
                self.assertEqual(cfg["rootfs"]["diff_ids"], diff_ids)
        self.assertNotEqual(repo.tag_map["v1.4.1"], repo.tag_map["v1.3.0"], "tags differ in content")

    def test_formats(self):
        docker = imagegen.build_image({"platforms": ["linux/amd64"]}, "s")
        oci = imagegen.build_image({"platforms": ["linux/amd64"], "format": "oci"}, "s")
        lst = imagegen.build_image({"platforms": ["linux/amd64", "linux/arm64/v8"]}, "s")
        self.assertEqual(docker.media_type, imagegen.MT_DOCKER_MANIFEST)
        self.assertEqual(oci.media_type, imagegen.MT_OCI_MANIFEST)
        self.assertEqual(lst.media_type, imagegen.MT_DOCKER_LIST)
        self.assertEqual(json.loads(lst.data)["manifests"][1]["platform"],
                         {"architecture": "arm64", "os": "linux", "variant": "v8"})
        raw = imagegen.build_image({"manifest": '{"schemaVersion": 2}', "media_type": "application/x"}, "s")
        self.assertEqual((raw.data, raw.media_type), (b'{"schemaVersion": 2}', "application/x"))


class Readme(unittest.TestCase):
    def test_documents_every_key_used(self):
        with open(os.path.join(ROOT, "scripts", "awssim", "README.md")) as f:
            readme = f.read()
        used = set()

        def walk(obj, depth=0):
            if isinstance(obj, dict):
                for k, v in obj.items():
                    if not k.startswith("_") and not any(ch.isdigit() for ch in k[:3]) and depth < 3:
                        used.add(k)
                    walk(v, depth + 1)

        for name in os.listdir(os.path.join(ROOT, "fixtures", "scenarios")):
            if name.endswith(".json"):
                with open(os.path.join(ROOT, "fixtures", "scenarios", name)) as f:
                    raw = json.load(f)
                walk({k: v for k, v in raw.items() if k not in ("managed_policies",)})
        skip = {"Version", "Statement", "shared", "workloads", "registry-admin", "org-read",
                "eks-node-b", "eks-node-c", "registry-admin-a", "platform-admin-b"}
        missing = sorted(k for k in used - skip if '"%s"' % k not in readme and "`%s`" % k not in readme)
        self.assertEqual(missing, [])


if __name__ == "__main__":
    unittest.main()
