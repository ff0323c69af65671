"""Fault injection in the simulator: throttling N times then answering (in each protocol's
own error form), server errors, delays, hangs until the client gives up, matching by
service, action, registry path and principal, and --fault appended to scenario faults.
"""

import json
import os
import socket
import sys
import threading
import time
import unittest

ROOT = os.environ.get("ECRDIAG_ROOT") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts", "awssim"))

import harness  # noqa: E402
from harness import Simulator, api, api_parsed, basic_auth, http, registry_password  # noqa: E402

try:
    import boto3  # noqa: F401  (only to know whether the retry test can run)
    HAVE_BOTO = True
except ImportError:
    HAVE_BOTO = False

A = "632000001762"
REPO = "audit/sa/cicd-runner"
BGI = {"registryId": A, "repositoryName": REPO, "imageIds": [{"imageTag": "latest"}]}


class Faults(unittest.TestCase):
    def test_throttle_twice_then_answer(self):
        f = {"service": "ecr", "action": "GetAuthorizationToken", "error": "ThrottlingException",
             "status": 400, "times": 2}
        with Simulator("seed.json", faults=[f]) as sim:
            for _ in range(2):
                status, headers, body = api(sim, "eks-node-b", "ecr", "GetAuthorizationToken")
                self.assertEqual(status, 400)
                self.assertEqual(json.loads(body), {"__type": "ThrottlingException", "message": "Rate exceeded"})
                self.assertTrue(headers.get("x-amzn-requestid"))
            status, _, err = api_parsed(sim, "eks-node-b", "ecr", "GetAuthorizationToken")
            self.assertEqual((status, err), (200, None))
            log = [r for r in sim.requests(wait_s=0.1) if r["action"] == "GetAuthorizationToken"]
            self.assertEqual([r["status"] for r in log], [400, 400, 200])
            self.assertEqual([r["error_code"] for r in log], ["ThrottlingException"] * 2 + [None])
            self.assertIn("fault", log[0])

    @unittest.skipUnless(HAVE_BOTO, "boto3 is not installed")
    def test_botocore_retries_through_throttling(self):
        f = {"service": "ecr", "action": "GetAuthorizationToken", "error": "ThrottlingException",
             "status": 400, "times": 2}
        with Simulator("seed.json", faults=[f]) as sim:
            ecr = harness.boto3_client(sim, "ecr", "eks-node-b",
                                       retries={"mode": "standard", "max_attempts": 3})
            r = ecr.get_authorization_token()
            self.assertEqual(r["ResponseMetadata"]["RetryAttempts"], 2)

    def test_sts_and_orgs_throttling_forms(self):
        faults = [{"service": "sts", "error": "ThrottlingException", "times": 1},
                  {"service": "organizations", "error": "ThrottlingException", "times": 1}]
        with Simulator("seed.json", faults=faults) as sim:
            status, _, body = api(sim, "eks-node-b", "sts", "GetCallerIdentity")
            self.assertEqual(status, 400)
            self.assertIn(b"<Type>Sender</Type>", body)
            self.assertIn(b"<Code>Throttling</Code>", body)
            self.assertIn(b"<Message>Rate exceeded</Message>", body)
            status, _, err = api_parsed(sim, "platform-admin-b", "organizations", "DescribeOrganization")
            self.assertEqual((status, err[0]), (400, "TooManyRequestsException"))
            self.assertEqual(api(sim, "eks-node-b", "sts", "GetCallerIdentity")[0], 200)

    def test_server_exception_once(self):
        f = {"service": "ecr", "status": 500, "error": "ServerException", "times": 1}
        with Simulator("seed.json", faults=[f]) as sim:
            status, _, err = api_parsed(sim, "registry-admin-a", "ecr", "BatchGetImage", BGI)
            self.assertEqual((status, err[0]), (500, "ServerException"))
            status, _, err = api_parsed(sim, "registry-admin-a", "ecr", "BatchGetImage", BGI)
            self.assertEqual((status, err), (200, None))

    def test_delay(self):
        # Generous margins: CI runs these beside sanitizer builds on two cores.
        with Simulator("seed.json", faults=[{"service": "sts", "delay_ms": 2000}]) as sim:
            t0 = time.monotonic()
            self.assertEqual(api(sim, "eks-node-b", "sts", "GetCallerIdentity")[0], 200)
            self.assertGreaterEqual(time.monotonic() - t0, 2.0)
            t0 = time.monotonic()
            self.assertEqual(api(sim, "eks-node-b", "ecr", "GetAuthorizationToken")[0], 200)
            # Half the delay: a loaded machine slows an answer, it does not add the fault's 2 s.
            self.assertLess(time.monotonic() - t0, 1.0, "other services are not delayed")
            log = sim.requests(wait_s=0.1)
            sts = [r for r in log if r["service"] == "sts"][0]
            self.assertGreaterEqual(sts["t_end"] - sts["t_start"], 2.0)
            ecr = [r for r in log if r["service"] == "ecr"][0]
            self.assertLess(ecr["t_end"] - ecr["t_start"], 1.0)

    def test_hang_until_client_gives_up(self):
        f = {"service": "ecr", "action": "BatchGetImage", "hang": True}
        with Simulator("seed.json", faults=[f]) as sim:
            t0 = time.monotonic()
            with self.assertRaises(socket.timeout):
                api(sim, "registry-admin-a", "ecr", "BatchGetImage", BGI, timeout_s=1.0)
            self.assertLess(time.monotonic() - t0, 5)
            # Meanwhile (and after) everything else still answers.
            self.assertEqual(api(sim, "registry-admin-a", "ecr", "GetAuthorizationToken")[0], 200)
            deadline = time.time() + 5
            while time.time() < deadline:
                hung = [r for r in sim.requests() if r.get("error_code") == "hang"]
                if hung:
                    break
                time.sleep(0.1)
            self.assertEqual(len(hung), 1, "the hung request is logged once the client left")
            self.assertIsNone(hung[0]["status"])

    def test_registry_path_prefix_and_principal(self):
        faults = [{"service": "registry", "path_prefix": "/v2/audit/", "error": "ThrottlingException", "times": 1},
                  {"service": "ecr", "action": "BatchGetImage", "principal": "eks-node-c",
                   "error": "ThrottlingException", "status": 400}]
        with Simulator("seed-fixed.json", faults=faults) as sim:
            pw = registry_password(sim, "eks-node-b")
            host = sim.registry_host(A)
            st, _, _ = http(sim, "GET", "/v2/", {"Host": host, "Authorization": basic_auth(pw)})
            self.assertEqual(st, 200, "/v2/ does not match the prefix")
            st, _, body = http(sim, "GET", "/v2/%s/manifests/latest" % REPO,
                               {"Host": host, "Authorization": basic_auth(pw)})
            self.assertEqual(st, 429)
            self.assertEqual(json.loads(body)["errors"][0]["code"], "TOOMANYREQUESTS")
            st, _, _ = http(sim, "GET", "/v2/%s/manifests/latest" % REPO,
                            {"Host": host, "Authorization": basic_auth(pw)})
            self.assertEqual(st, 200)
            self.assertEqual(api(sim, "eks-node-b", "ecr", "BatchGetImage", BGI)[0], 200)
            status, _, err = api_parsed(sim, "eks-node-c", "ecr", "BatchGetImage", BGI)
            self.assertEqual((status, err[0]), (400, "ThrottlingException"))

    def test_scenario_faults_then_command_line_faults(self):
        scen = {"extends": "seed.json",
                "faults": [{"service": "sts", "error": "ThrottlingException", "times": 1}]}
        extra = {"service": "sts", "status": 500, "error": "InternalFailure", "times": 1}
        with Simulator(scen, faults=[extra]) as sim:
            codes = [api_parsed(sim, "eks-node-b", "sts", "GetCallerIdentity")[2] for _ in range(3)]
            self.assertEqual([c[0] if c else None for c in codes], ["Throttling", "InternalFailure", None])

    def test_hang_does_not_block_shutdown(self):
        sim = Simulator("seed.json", faults=[{"service": "sts", "hang": True}]).start()
        try:
            t = threading.Thread(target=lambda: self._swallow(sim), daemon=True)
            t.start()
            time.sleep(0.5)
            t0 = time.monotonic()
            self.assertEqual(sim.stop(), 0)
            self.assertLess(time.monotonic() - t0, 5)
        finally:
            sim.stop()

    @staticmethod
    def _swallow(sim):
        try:
            api(sim, "eks-node-b", "sts", "GetCallerIdentity", timeout_s=30)
        except Exception:
            pass


if __name__ == "__main__":
    unittest.main()
