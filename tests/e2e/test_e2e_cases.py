#!/usr/bin/env python3
"""Data-driven end-to-end cases: each tests/e2e/cases/*.json names a scenario, the identity to
run as, the arguments, the exit code and the report (compared by structure). The scenario is a file
under fixtures/scenarios or an inline variant ({"extends": "seed.json", ...}). A case may add
`faults` for the simulator, `env` (extra variables, `null` removes one) and `stdout_contains`.
Every case also checks that no secret of the identity appears in any output."""
import glob
import json
import os
import unittest

import e2e

CASES = sorted(glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases",
                                      "*.json")))


class Cases(unittest.TestCase):
    def test_there_are_cases(self):
        self.assertGreaterEqual(len(CASES), 4)

    def test_mismatches_detects_differences(self):
        # The comparison must be able to fail.
        self.assertEqual(e2e.mismatches({"a": [1]}, {"a": [1], "b": 2}), [])
        self.assertTrue(e2e.mismatches({"a": [1]}, {"a": [1, 2]}))
        self.assertTrue(e2e.mismatches({"a": {"b": None}}, {"a": {"b": False}}))


def make_test(path):
    def test(self):
        with open(path, encoding="utf-8") as f:
            case = json.load(f)
        scenario = case.get("scenario", "seed.json")  # a file name, or a dict with "extends"
        with e2e.Simulator(scenario, faults=case.get("faults", [])) as sim:
            env = sim.env(case["as"]) if case.get("as") else dict(e2e.bare_env(),
                                                                  AWS_ENDPOINT_URL=sim.url)
            secrets = [v for k, v in env.items()
                       if k in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN") and v]
            for k, v in case.get("env", {}).items():
                if v is None:
                    env.pop(k, None)
                else:
                    env[k] = v.replace("{sim}", sim.url)
            run = e2e.run_ecrdiag(case["args"], env, want_json="--output" not in case["args"]
                                  or "json" in case["args"])
            self.assertEqual(run.code, case["exit"], run)
            if "report" in case:
                self.assertIsNotNone(run.report, run)
                diff = e2e.mismatches(case["report"], run.report)
                self.assertEqual(diff, [], "\n".join(diff) + f"\n{run}")
            for text in case.get("stdout_contains", []):
                self.assertIn(text, run.out)
            for s in secrets:
                self.assertNotIn(s, run.out + run.err, "a secret reached the output")
            # Pre-signed layer URLs carry their signature and a session token in the query.
            for marker in ("X-Amz-Signature=", "X-Amz-Security-Token="):
                self.assertNotIn(marker, run.out + run.err, "a pre-signed URL reached the output")
    return test


for p in CASES:
    setattr(Cases, "test_" + os.path.splitext(os.path.basename(p))[0].replace("-", "_"),
            make_test(p))

if __name__ == "__main__":
    unittest.main()
