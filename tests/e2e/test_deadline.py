#!/usr/bin/env python3
"""--timeout bounds the whole check: an endpoint that never answers ends in exit 3 within the
limit (plus process start-up), with the unanswered request named as the evidence."""
import time
import unittest

import e2e


class Deadline(unittest.TestCase):
    def test_hanging_endpoint_ends_within_timeout(self):
        with e2e.Simulator("seed-fixed.json",
                           faults=[{"service": "ecr", "action": "BatchGetImage",
                                    "hang": True}]) as sim:
            t0 = time.monotonic()
            run = e2e.run_ecrdiag(["--image", e2e.SEED_IMAGE, "--timeout", "2"],
                                  sim.env("eks-node-b"))
            took = time.monotonic() - t0
        print(f"hanging BatchGetImage with --timeout 2: exit {run.code} after {took:.2f} s")
        self.assertEqual(run.code, 3, run)
        self.assertIsNone(run.report["verdict"]["pullable"])
        self.assertEqual(run.report["verdict"]["causes"], ["PROBE_UNREACHABLE"])
        check = next(c for c in run.report["checks"] if c["id"] == "ecr.BatchGetImage")
        self.assertEqual(check["status"], "error")
        self.assertLess(took, 2 + 1.5, "the check outlived --timeout")


if __name__ == "__main__":
    unittest.main()
