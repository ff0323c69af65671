#!/usr/bin/env python3
"""Data-driven end-to-end cases: each tests/e2e/cases/*.json names a scenario, the identity to
run as, the arguments, the exit code and the report (compared by structure). The scenario is a file
under fixtures/scenarios or an inline variant ({"extends": "seed.json", ...}). A case may add
`faults` for the simulator, `env` (extra variables, `null` removes one), `stdout_contains`, and
`registry_view`: an identity of the registry account whose keys become the profile
`registry-view`, passed as --registry-profile (A's side of the diagnosis), and `tls`: the
simulator serves HTTPS under a test CA and ecrdiag reaches it by the real AWS host names
(ECRDIAG_RESOLVE, AWS_CA_BUNDLE), with optional `tls_omit_hosts` (names left out of the
certificate) and `tls_untrusted` (a certificate from a CA the client does not know).
Every case also checks that no secret of the identity (or of the registry view) appears in any
output."""
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
        tls = case.get("tls", False)
        with e2e.Simulator(scenario, faults=case.get("faults", []), tls=tls,
                           tls_omit_hosts=case.get("tls_omit_hosts", ()),
                           tls_untrusted=case.get("tls_untrusted", False)) as sim:
            if tls:
                env = sim.tls_env(case["as"])
            elif case.get("as"):
                env = sim.env(case["as"])
            else:
                env = dict(e2e.bare_env(), AWS_ENDPOINT_URL=sim.url)
            secrets = [v for k, v in env.items()
                       if k in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN") and v]
            args = list(case["args"])
            if case.get("registry_view"):
                view = sim.identity(case["registry_view"])
                e2e.write_profile(env, "registry-view", view)
                secrets.append(view.secret_access_key)
                args += ["--registry-profile", "registry-view"]
            for k, v in case.get("env", {}).items():
                if v is None:
                    env.pop(k, None)
                else:
                    env[k] = v.replace("{sim}", sim.url)
            run = e2e.run_ecrdiag(args, env, want_json="--output" not in args or "json" in args)
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
