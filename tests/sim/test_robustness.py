"""The simulator under bad input: malformed and unauthenticated API requests get the
protocol's own errors, oversized bodies are refused, garbage on the socket does not kill
it, and it starts, refuses bad configuration, and stops on SIGTERM/SIGINT as promised.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import unittest

ROOT = os.environ.get("ECRDIAG_ROOT") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts", "awssim"))

import sigv4  # noqa: E402
from harness import SERVER, Simulator, SimulatorError, api, creds_of, http  # noqa: E402

ECR = "AmazonEC2ContainerRegistry_V20150921"
SEED = os.path.join(ROOT, "fixtures", "scenarios", "seed.json")


class BadRequests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sim = Simulator("seed.json").start()

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def signed(self, who, target, body, extra=None, service="ecr"):
        c = creds_of(self.sim, who)
        headers = {"Content-Type": "application/x-amz-json-1.1", "Host": "127.0.0.1:%d" % self.sim.port}
        if target:
            headers["X-Amz-Target"] = target
        headers.update(extra or {})
        return sigv4.sign("POST", self.sim.url + "/", headers, body, c["key"], c["secret"],
                          "ap-southeast-1", service, c["token"])

    def post(self, headers, body):
        return http(self.sim, "POST", "/", headers, body)

    def json_error(self, resp, status, code):
        st, headers, body = resp
        self.assertEqual(st, status, body)
        self.assertEqual(json.loads(body)["__type"], code)

    def test_malformed_json(self):
        body = b"{not json"
        self.json_error(self.post(self.signed("registry-admin-a", ECR + ".BatchGetImage", body), body),
                        400, "SerializationException")

    def test_wrong_member_types_and_missing_members(self):
        body = json.dumps({"repositoryName": 5, "imageIds": []}).encode()
        self.json_error(self.post(self.signed("registry-admin-a", ECR + ".BatchGetImage", body), body),
                        400, "SerializationException")
        body = json.dumps({"imageIds": []}).encode()
        self.json_error(self.post(self.signed("registry-admin-a", ECR + ".BatchGetImage", body), body),
                        400, "InvalidParameterException")
        body = json.dumps({"repositoryName": "UPPER", "imageIds": []}).encode()
        self.json_error(self.post(self.signed("registry-admin-a", ECR + ".BatchGetImage", body), body),
                        400, "InvalidParameterException")
        body = json.dumps({"registryId": "12", "repositoryName": "x1", "imageIds": []}).encode()
        self.json_error(self.post(self.signed("registry-admin-a", ECR + ".BatchGetImage", body), body),
                        400, "InvalidParameterException")

    def test_unknown_operation_and_target(self):
        self.json_error(self.post(self.signed("registry-admin-a", ECR + ".NoSuchThing", b"{}"), b"{}"),
                        400, "UnknownOperationException")
        self.json_error(self.post(self.signed("registry-admin-a", "SomethingElse.Op", b"{}"), b"{}"),
                        400, "UnknownOperationException")
        # (AssumeRole was the example until the simulator learnt it; GetFederationToken is
        # a real STS action the simulator does not serve.)
        st, _, body = api(self.sim, "eks-node-b", "sts", "GetFederationToken", {"Name": "x"})
        self.assertEqual(st, 400)
        self.assertIn(b"<Code>InvalidAction</Code>", body)

    def test_missing_and_incomplete_authentication(self):
        headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": ECR + ".GetAuthorizationToken"}
        self.json_error(self.post(headers, b"{}"), 400, "MissingAuthenticationTokenException")
        h2 = dict(headers, Authorization="AWS4-HMAC-SHA256 Credential=AKIA/x")
        self.json_error(self.post(h2, b"{}"), 400, "IncompleteSignatureException")
        st, _, body = self.post({"Content-Type": "application/x-www-form-urlencoded"},
                                b"Action=GetCallerIdentity&Version=2011-06-15")
        self.assertEqual(st, 403)
        self.assertIn(b"<Code>MissingAuthenticationToken</Code>", body)
        no_date = self.signed("registry-admin-a", ECR + ".GetAuthorizationToken", b"{}")
        del no_date["X-Amz-Date"]
        self.json_error(self.post(no_date, b"{}"), 400, "IncompleteSignatureException")

    def test_wrong_service_scope(self):
        h = self.signed("registry-admin-a", ECR + ".GetAuthorizationToken", b"{}", service="sts")
        st, _, body = self.post(h, b"{}")
        self.assertEqual(st, 400)
        self.assertEqual(json.loads(body), {"__type": "InvalidSignatureException",
                                            "message": "Credential should be scoped to correct service: 'ecr'. "})

    def test_tampered_body(self):
        h = self.signed("registry-admin-a", ECR + ".GetAuthorizationToken", b"{}")
        self.json_error(self.post(h, b"{ }"), 400, "InvalidSignatureException")

    def test_oversized_body(self):
        big = b"{" + b" " * (2 << 20) + b"}"
        h = self.signed("registry-admin-a", ECR + ".GetAuthorizationToken", big)
        try:
            st, _, body = self.post(h, big)
        except (ConnectionError, socket.error):
            return  # the server may close before the client finished sending
        self.assertEqual(st, 413)

    def test_garbage_on_the_socket(self):
        for junk in (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64 + b"\r\n\r\n",
                     b"NOT HTTP AT ALL\r\n\r\n", b"GET /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n"):
            with self.subTest(junk=junk[:16]):
                with socket.create_connection(("127.0.0.1", self.sim.port), timeout=5) as s:
                    s.sendall(junk)
                    try:
                        s.recv(4096)
                    except (socket.timeout, ConnectionError):
                        pass
        st, _, _ = api(self.sim, "eks-node-b", "sts", "GetCallerIdentity")
        self.assertEqual(st, 200, "the simulator survives garbage")

    def test_chunked_body(self):
        body = json.dumps({"repositoryName": "audit/sa/cicd-runner", "imageIds": [{"imageTag": "latest"}]}).encode()
        h = self.signed("registry-admin-a", ECR + ".BatchGetImage", body)
        h["Transfer-Encoding"] = "chunked"
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        with socket.create_connection(("127.0.0.1", self.sim.port), timeout=5) as s:
            req = "POST / HTTP/1.1\r\n" + "".join("%s: %s\r\n" % kv for kv in h.items()) + "\r\n"
            s.sendall(req.encode() + chunked)
            data = s.recv(65536)
        self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:200])


class Lifecycle(unittest.TestCase):
    def start_raw(self, *args):
        return subprocess.Popen([sys.executable, SERVER, *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def test_ready_line_and_signals(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            with self.subTest(signal=sig):
                p = self.start_raw("--scenario", SEED, "--port", "0")
                line = p.stdout.readline()
                self.assertRegex(line, r"^READY \d+\n$")
                port = int(line.split()[1])
                with socket.create_connection(("127.0.0.1", port), timeout=5):
                    pass
                t0 = time.monotonic()
                p.send_signal(sig)
                out, err = p.communicate(timeout=10)
                self.assertEqual(p.returncode, 0, err)
                self.assertLess(time.monotonic() - t0, 5)
                self.assertEqual(out, "", "nothing but READY on stdout")

    def test_bad_configuration_exits_2_without_ready(self):
        bad = [
            ["--scenario", "/nonexistent.json"],
            ["--scenario", SEED, "--fault", "{not json"],
            ["--scenario", SEED, "--fault", '{"service": "ecr"}'],
        ]
        for args in bad:
            with self.subTest(args=args):
                p = self.start_raw(*args)
                out, err = p.communicate(timeout=20)
                self.assertEqual(p.returncode, 2)
                self.assertNotIn("READY", out)
                self.assertTrue(err.startswith("awssim: "), err)

    def test_harness_reports_a_dead_simulator(self):
        with self.assertRaises(SimulatorError) as cm:
            Simulator({"extends": "seed.json", "identities": {"x": {"arn": "nonsense"}}}).start()
        self.assertIn("identities.x", str(cm.exception))
        with Simulator("seed.json") as busy:
            with self.assertRaises(SimulatorError) as cm:
                Simulator("seed.json", port=busy.port).start()
            self.assertIn("cannot listen", str(cm.exception))

    def test_client_command_line(self):
        client = os.path.join(ROOT, "scripts", "awssim", "client.py")
        with open(os.path.join(ROOT, "fixtures", "scenarios", "seed-fixed.json")) as f:
            policy = json.load(f)["repositories"]["632000001762/ap-southeast-1/audit/sa/cicd-runner"]["policy"]

        def run(who, *args):
            env = sim.env(who) if who else {k: v for k, v in sim.env("eks-node-b").items()
                                             if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
            return subprocess.run([sys.executable, client, *args], env=env, capture_output=True,
                                  text=True, timeout=60)

        pull = json.dumps({"registryId": "632000001762", "repositoryName": "audit/sa/cicd-runner",
                           "imageIds": [{"imageTag": "latest"}]})
        with Simulator("seed.json") as sim:
            p = run("eks-node-b", "sts", "GetCallerIdentity")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(json.loads(p.stdout)["Account"], "722000009750")
            p = run("eks-node-b", "ecr", "BatchGetImage", pull)
            self.assertEqual(p.returncode, 1)
            self.assertTrue(p.stderr.startswith("AccessDeniedException: User: arn:aws:sts::722000009750:"), p.stderr)
            p = run("registry-admin-a", "ecr", "SetRepositoryPolicy", json.dumps(
                {"registryId": "632000001762", "repositoryName": "audit/sa/cicd-runner",
                 "policyText": json.dumps(policy)}))
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(json.loads(json.loads(p.stdout)["policyText"]), policy)
            p = run("eks-node-b", "ecr", "BatchGetImage", pull)
            self.assertEqual(p.returncode, 0, p.stderr)
            p = run(None, "ecr", "GetAuthorizationToken")
            self.assertEqual(p.returncode, 2)
            p = run("eks-node-b", "--endpoint", "http://127.0.0.1:1", "sts", "GetCallerIdentity")
            self.assertEqual(p.returncode, 2)

    def test_harness_shell_mode(self):
        harness_py = os.path.join(ROOT, "scripts", "awssim", "harness.py")
        with Simulator("seed.json") as sim:
            p = subprocess.run([sys.executable, harness_py, "env", "seed.json", "eks-node-b", sim.url],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
            exports = dict(line[len("export "):].split("=", 1) for line in p.stdout.splitlines())
            self.assertEqual(exports["AWS_ENDPOINT_URL"], sim.url)
            self.assertEqual(exports["AWS_ACCESS_KEY_ID"], sim.identity("eks-node-b").access_key_id)
            self.assertEqual(exports["AWS_CONFIG_FILE"], "/dev/null")
        p = subprocess.run([sys.executable, harness_py, "env", "seed.json", "nobody", "http://x"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 2)

    def test_log_lines(self):
        with Simulator("seed.json") as sim:
            api(sim, "eks-node-b", "sts", "GetCallerIdentity")
            http(sim, "GET", "/v2/", {"Host": sim.registry_host("632000001762")})
            log = sim.requests(wait_s=0.1)
        self.assertEqual(len(log), 2)
        for rec in log:
            for k in ("t_start", "t_end", "service", "action", "method", "host", "status",
                      "principal", "error_code"):
                self.assertIn(k, rec)
            self.assertLessEqual(rec["t_start"], rec["t_end"])
        self.assertEqual(log[0]["principal"], "arn:aws:sts::722000009750:assumed-role/eks-node-role/i-0b1c2d3e4f5a6b7c8")
        self.assertEqual((log[1]["service"], log[1]["status"], log[1]["principal"]), ("registry", 401, None))


if __name__ == "__main__":
    unittest.main()
