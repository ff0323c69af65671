#!/usr/bin/env python3
"""Every cause id AWS's side can show has an end-to-end scenario: it appears in the expected
report of a tests/e2e/cases/*.json (primary or not), or in an e2e test module's assertions.
The ids that need the cluster's view (imagePullSecrets, the kubelet's credential provider) are
the only exceptions, listed here with why; an exception that gains a scenario must leave the
list. Standard library only; run as `python3 FILE` (ECRDIAG_ROOT)."""
import glob
import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_cause_docs import CAUSES_H, ROOT, parse_causes  # noqa: E402

E2E = os.path.join(ROOT, "tests", "e2e")
# Seen only from the cluster (issue 5: probed with the Kubernetes work, in the catalogue and in
# `explain` now).
CLUSTER_VIEW = {
    "NODE_NO_ECR_CREDENTIALS": "the kubelet's image credential provider configuration",
    "PULL_SECRET_EXPIRED": "the pod's imagePullSecrets",
    "PULL_SECRET_WRONG_REGISTRY": "the pod's imagePullSecrets",
}


def causes_in(report):
    out = set(report.get("verdict", {}).get("causes", []))
    out.update(f.get("cause") for f in report.get("findings", []) if isinstance(f, dict))
    return out


def covered_ids():
    seen = set()
    for path in glob.glob(os.path.join(E2E, "cases", "*.json")):
        with open(path, encoding="utf-8") as f:
            seen |= causes_in(json.load(f).get("report", {}))
    for path in glob.glob(os.path.join(E2E, "test_*.py")):
        with open(path, encoding="utf-8") as f:
            seen |= set(re.findall(r'"([A-Z][A-Z0-9_]+)"', f.read()))
    return seen


class CauseCoverage(unittest.TestCase):
    def setUp(self):
        with open(CAUSES_H, encoding="utf-8") as f:
            self.ids = [row[0] for row in parse_causes(f.read())]

    def test_every_cause_has_a_scenario(self):
        seen = covered_ids()
        missing = [i for i in self.ids if i not in seen and i not in CLUSTER_VIEW]
        self.assertEqual(missing, [], "cause ids without an e2e scenario")

    def test_exceptions_are_real_and_still_uncovered(self):
        seen = covered_ids()
        for i in CLUSTER_VIEW:
            self.assertIn(i, self.ids, "an exception that is not in the catalogue")
            self.assertNotIn(i, seen, "%s has a scenario now: remove it from CLUSTER_VIEW" % i)

    def test_the_check_can_fail(self):
        self.assertEqual(causes_in({"verdict": {"causes": ["A"]}, "findings": [{"cause": "B"}]}),
                         {"A", "B"})
        self.assertFalse({"NO_SUCH_CAUSE"} <= covered_ids())


if __name__ == "__main__":
    unittest.main()
