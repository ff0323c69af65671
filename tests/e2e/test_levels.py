#!/usr/bin/env python3
"""With 50 ms added to every answer, the probe of a single-platform image must show at most
three dependent levels in the simulator's request log (the AWS API calls; the registry's
manifest and blob requests; the layer host): independent requests run at once."""
import unittest

import e2e

DELAY_MS = 50
# v1.4.1 is a single-platform image (an image manifest, not an index): API calls, then the
# registry's manifest and blob requests, then the layer host.
SINGLE = e2e.SEED_IMAGE.replace(":latest", ":v1.4.1")


def dependent_levels(requests):
    """The longest chain of requests each of which started after the previous one ended."""
    reqs = sorted(requests, key=lambda r: r["t_start"])
    depth = {}
    for i, r in enumerate(reqs):
        before = [depth[j] for j in range(i) if reqs[j]["t_end"] <= r["t_start"]]
        depth[i] = 1 + max(before, default=0)
    return max(depth.values(), default=0)


class Levels(unittest.TestCase):
    def test_chain_measure_can_fail(self):
        seq = [{"t_start": k, "t_end": k + 0.5} for k in range(4)]
        self.assertEqual(dependent_levels(seq), 4)
        par = [{"t_start": 0, "t_end": 1} for _ in range(4)]
        self.assertEqual(dependent_levels(par), 1)

    def test_at_most_three_dependent_levels(self):
        with e2e.Simulator("seed-fixed.json", faults=[{"delay_ms": DELAY_MS}]) as sim:
            run = e2e.run_ecrdiag(["--image", SINGLE], sim.env("eks-node-b"))
            self.assertEqual(run.code, 0, run)
            reqs = sim.requests(wait_s=0.5)
        self.assertGreaterEqual(len(reqs), 6, reqs)
        levels = dependent_levels(reqs)
        print(f"{len(reqs)} requests in {levels} dependent levels")
        self.assertLessEqual(levels, 3, reqs)
        # and the probe went all the way to the layer host
        self.assertTrue(any(r.get("service") == "s3" for r in reqs), reqs)
        # The API calls overlap: the first level holds more than one request.
        first_end = min(r["t_end"] for r in reqs)
        self.assertGreaterEqual(sum(1 for r in reqs if r["t_start"] < first_end), 4, reqs)


if __name__ == "__main__":
    unittest.main()
