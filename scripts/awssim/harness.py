"""Test harness for the AWS simulator: start server.py as a subprocess, wait for READY,
hand out per-identity client environments, read the request log, stop it cleanly.

    sys.path.insert(0, os.path.join(ROOT, "scripts", "awssim"))
    from harness import Simulator
    with Simulator("fixtures/scenarios/seed.json", faults=[...], log=True) as sim:
        subprocess.run([...], env=sim.env("eks-node-b"))
    with Simulator("seed.json", tls=True) as sim:      # HTTPS under a test CA
        subprocess.run([...], env=sim.tls_env("eks-node-b"))   # real AWS host names

Standard library only (and the openssl binary for tls=True); it knows the server's command
line and the scenario format, and nothing of the services' internals.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("ECRDIAG_ROOT") or os.path.dirname(os.path.dirname(HERE))
SCENARIO_DIR = os.path.join(ROOT, "fixtures", "scenarios")
SERVER = os.path.join(HERE, "server.py")

sys.path.insert(0, HERE)
import scenario as scenario_mod  # noqa: E402
import testca  # noqa: E402


class SimulatorError(RuntimeError):
    """The simulator did not start (its stderr is in the message)."""


class Simulator:
    """A running simulator. scenario is a path (relative paths are tried against the
    current directory, then fixtures/scenarios) or a dict in the scenario format, whose
    relative "extends" is resolved against fixtures/scenarios.

    tls=True serves HTTPS under a CA made for this run (ca_bundle), for clients that use real
    AWS host names (tls_env). tls_regions adds regions to the certificate beyond the
    scenario's; tls_omit_hosts leaves names out of it (a name mismatch for clients of those
    hosts); tls_untrusted has another CA sign it (ca_bundle then does not verify it)."""

    def __init__(self, scenario, faults=None, log=True, port=0, start_timeout_s=15,
                 extra_args=(), tls=False, tls_regions=(), tls_omit_hosts=(),
                 tls_untrusted=False):
        self._tmp = tempfile.mkdtemp(prefix="awssim-")
        self.scenario_path = self._scenario_file(scenario)
        self.faults = list(faults or [])
        if log is True:
            self.log_path = os.path.join(self._tmp, "requests.jsonl")
        else:
            self.log_path = log or None
        self.port = port
        self.start_timeout_s = start_timeout_s
        self.extra_args = list(extra_args)
        # Every secret the simulator makes up is noted here, so tests can look for leaks.
        self.secrets_log_path = os.path.join(self._tmp, "secrets.jsonl")
        self.proc = None
        self.url = None
        try:
            self.scenario = scenario_mod.load(self.scenario_path)
        except scenario_mod.ScenarioError as e:
            shutil.rmtree(self._tmp, ignore_errors=True)
            raise SimulatorError(str(e))
        self._stderr = []
        self._home = os.path.join(self._tmp, "home")
        os.makedirs(self._home, exist_ok=True)
        self.tls = bool(tls)
        self.tls_regions = testca.scenario_regions(self.scenario, tls_regions)
        # Every host a client may name; the certificate holds all but tls_omit_hosts.
        self.tls_hosts = testca.scenario_hosts(self.scenario, tls_regions)
        self._tls_omit_hosts = tuple(tls_omit_hosts)
        self._tls_untrusted = bool(tls_untrusted)
        self._tls_dir = os.path.join(self._tmp, "tls")
        self.ca_bundle = None  # with tls: path of the CA certificate clients should trust

    def _scenario_file(self, scenario):
        if isinstance(scenario, dict):
            data = dict(scenario)
            ext = data.get("extends")
            if ext and not os.path.isabs(ext):
                data["extends"] = os.path.join(SCENARIO_DIR, ext)
            path = os.path.join(self._tmp, "scenario.json")
            with open(path, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=2)
            return path
        if os.path.exists(scenario):
            return os.path.abspath(scenario)
        cand = os.path.join(SCENARIO_DIR, scenario)
        if os.path.exists(cand):
            return cand
        cand = os.path.join(ROOT, scenario)
        if os.path.exists(cand):
            return cand
        raise SimulatorError("no scenario file %r" % scenario)

    # -- lifecycle --

    def _make_pki(self):
        try:
            pki = testca.TestPki(self._tls_dir, self.tls_hosts, self._tls_omit_hosts,
                                 self._tls_untrusted)
        except testca.CaError as e:
            shutil.rmtree(self._tmp, ignore_errors=True)
            raise SimulatorError(str(e))
        self.ca_bundle = pki.ca_cert
        return ["--tls-cert", pki.cert, "--tls-key", pki.key]

    def start(self):
        cmd = [sys.executable, SERVER, "--scenario", self.scenario_path, "--port", str(self.port)]
        if self.log_path:
            cmd += ["--log", self.log_path]
        cmd += ["--secrets-log", self.secrets_log_path]
        if self.tls:
            cmd += self._make_pki()
        for f in self.faults:
            cmd += ["--fault", f if isinstance(f, str) else json.dumps(f)]
        cmd += self.extra_args
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self._drainer = threading.Thread(target=self._drain_stderr, daemon=True)
        self._drainer.start()
        line = [None]

        def read_ready():
            line[0] = self.proc.stdout.readline()

        reader = threading.Thread(target=read_ready, daemon=True)
        reader.start()
        reader.join(self.start_timeout_s)
        text = (line[0] or "").strip()
        if not text.startswith("READY "):
            self.stop()
            shutil.rmtree(self._tmp, ignore_errors=True)
            raise SimulatorError("simulator did not start (exit %s): %s%s" % (
                self.proc.returncode, text, "".join(self._stderr)))
        self.port = int(text.split()[1])
        self.url = "%s://127.0.0.1:%d" % ("https" if self.tls else "http", self.port)
        return self

    def _drain_stderr(self):
        for line in self.proc.stderr:
            self._stderr.append(line)

    @property
    def stderr(self):
        return "".join(self._stderr)

    def stop(self, timeout_s=10):
        """SIGTERM, then SIGKILL if it does not exit in time; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout_s)
        self._drainer.join(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream and not stream.closed:
                stream.close()
        # The keys go with the server; the CA certificate stays for tests that check after.
        if os.path.isdir(self._tls_dir):
            for name in os.listdir(self._tls_dir):
                if name.endswith(".key"):
                    os.remove(os.path.join(self._tls_dir, name))
        return self.proc.returncode

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        shutil.rmtree(self._tmp, ignore_errors=True)
        return False

    # -- helpers for tests --

    def identity(self, name_or_arn):
        return self.scenario.identity(name_or_arn)

    def env(self, identity=None, region=None, base=None):
        """Environment to run a client as identity: its keys, the simulator as endpoint,
        no other AWS_* variable of the parent, and an empty HOME so no ~/.aws leaks in."""
        src = dict(os.environ if base is None else base)
        out = {k: v for k, v in src.items() if not k.startswith("AWS_")}
        out["HOME"] = self._home
        out["AWS_CONFIG_FILE"] = os.path.join(self._home, ".aws", "config")
        out["AWS_SHARED_CREDENTIALS_FILE"] = os.path.join(self._home, ".aws", "credentials")
        out["AWS_EC2_METADATA_DISABLED"] = "true"
        out["AWS_ENDPOINT_URL"] = self.url
        out["ECRDIAG_REGISTRY_ENDPOINT"] = self.url
        reg = region or self.scenario.default_region
        if identity is not None:
            ident = self.identity(identity)
            reg = region or ident.region
            out["AWS_ACCESS_KEY_ID"] = ident.access_key_id
            out["AWS_SECRET_ACCESS_KEY"] = ident.secret_access_key
            if ident.session_token:
                out["AWS_SESSION_TOKEN"] = ident.session_token
        out["AWS_DEFAULT_REGION"] = reg
        out["AWS_REGION"] = reg
        if self.tls:
            out["AWS_CA_BUNDLE"] = self.ca_bundle
        return out

    def tls_env(self, identity=None, region=None, registry=None, base=None):
        """env() for a client that reaches the simulator by real AWS host names over HTTPS:
        each service's AWS_ENDPOINT_URL_<SERVICE> is https://REAL-HOST:PORT, ECRDIAG_RESOLVE
        maps every host of the certificate (tls_hosts) to 127.0.0.1 on that port, and
        AWS_CA_BUNDLE trusts the run's CA. AWS_ENDPOINT_URL stays https://127.0.0.1:PORT, so a
        service left out here still cannot reach the real AWS. registry (an account id, or
        "ACCOUNT/REGION") picks ECRDIAG_REGISTRY_ENDPOINT, which a port other than 443 needs;
        by default the scenario's first repository's registry in the region (else any)."""
        if not self.tls or self.port in (None, 0) or self.url is None:
            raise SimulatorError("tls_env() needs a started Simulator(..., tls=True)")
        out = self.env(identity, region, base)
        reg = out["AWS_REGION"]
        if reg not in self.tls_regions:
            raise SimulatorError("region %s is not in the certificate: pass tls_regions=[%r]"
                                 % (reg, reg))
        sfx = scenario_mod.dns_suffix(reg)
        port = self.port
        out["AWS_ENDPOINT_URL_STS"] = "https://sts.%s.%s:%d" % (reg, sfx, port)
        out["AWS_ENDPOINT_URL_ECR"] = "https://api.ecr.%s.%s:%d" % (reg, sfx, port)
        out["AWS_ENDPOINT_URL_ORGANIZATIONS"] = ("https://organizations.us-east-1.amazonaws.com:%d"
                                                 % port)
        out["AWS_ENDPOINT_URL_SSO"] = "https://portal.sso.%s.%s:%d" % (reg, sfx, port)
        target = self._registry_of(registry, reg)
        if target is not None:
            out["ECRDIAG_REGISTRY_ENDPOINT"] = "https://%s:%d" % (self.registry_host(*target), port)
        else:
            out.pop("ECRDIAG_REGISTRY_ENDPOINT", None)
        out["ECRDIAG_RESOLVE"] = ",".join("%s:%d:127.0.0.1" % (h, port) for h in self.tls_hosts)
        return out

    def _registry_of(self, registry, region):
        """(account, region) for tls_env's registry argument, or None without repositories."""
        if registry:
            acct, _, reg = str(registry).partition("/")
            return acct, reg or region
        repos = list(self.scenario.repositories)
        for acct, reg, _ in repos:
            if reg == region:
                return acct, reg
        return (repos[0][0], repos[0][1]) if repos else None

    def known_secrets(self):
        """Every secret value a client of this simulator could have seen: the scenario's keys
        and session tokens, and those the simulator issued so far (registry passwords, STS
        sessions, IMDS tokens)."""
        out = set()
        for ident in self.scenario.identities.values():
            out.add(ident.secret_access_key)
            if ident.session_token:
                out.add(ident.session_token)
        for spec in self.scenario.container_credentials:
            out.add(spec["token"])
        out.update((self.scenario.sso.get("access_tokens") or {}).keys())
        for role in self.scenario.roles.values():
            out.update(role.web_identity_tokens)
        if os.path.exists(self.secrets_log_path):
            with open(self.secrets_log_path, encoding="utf-8") as f:
                out.update(json.loads(line)["value"] for line in f if line.strip())
        return {s for s in out if s}

    def registry_host(self, account, region=None):
        region = region or self.scenario.default_region
        return "%s.dkr.ecr.%s.%s" % (account, region, scenario_mod.dns_suffix(region))

    def requests(self, wait_s=0.0):
        """The request log, parsed. wait_s gives the server time to write its last line."""
        if wait_s:
            time.sleep(wait_s)
        if not self.log_path or not os.path.exists(self.log_path):
            return []
        with open(self.log_path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]


# ---- client helpers shared by the simulator tests ----

def creds_of(sim, identity):
    ident = sim.identity(identity)
    return {"key": ident.access_key_id, "secret": ident.secret_access_key,
            "token": ident.session_token}


def api(sim, identity, service, operation, params=None, region=None, creds=None, epoch=None,
        timeout_s=10):
    """One SigV4-signed API call with the stdlib client: returns (status, headers, raw body).
    creds overrides the identity's keys (to sign with a wrong secret, say)."""
    import client
    c = creds or creds_of(sim, identity)
    region = region or (sim.identity(identity).region if identity else sim.scenario.default_region)
    body, headers = client.build_request(service, operation, params or {}, region, sim.url, c,
                                         epoch)
    return client.send_raw(sim.url, body, headers, timeout_s)


def api_parsed(sim, identity, service, operation, params=None, **kw):
    """Like api() but parsed: (status, body object, (code, message) or None)."""
    import client
    status, _, data = api(sim, identity, service, operation, params, **kw)
    obj, err = client.parse_answer(service, operation, status, data)
    return status, obj, err


def http(sim, method, path, headers=None, body=None, timeout_s=10):
    """A request to the simulator at 127.0.0.1 (HTTPS trusting its CA when it runs with tls):
    (status, lower-cased header dict, body)."""
    import http.client
    if sim.tls:
        import ssl
        ctx = ssl.create_default_context(cafile=sim.ca_bundle)
        conn = http.client.HTTPSConnection("127.0.0.1", sim.port, timeout=timeout_s, context=ctx)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=timeout_s)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def registry_password(sim, identity, region=None):
    """GetAuthorizationToken as identity, decoded to the registry password."""
    import base64
    status, obj, err = api_parsed(sim, identity, "ecr", "GetAuthorizationToken", {}, region=region)
    if err:
        raise AssertionError("GetAuthorizationToken failed: %s: %s" % err)
    user, _, password = base64.b64decode(obj["authorizationData"][0]["authorizationToken"]).decode().partition(":")
    assert user == "AWS"
    return password


def basic_auth(password):
    import base64
    return "Basic " + base64.b64encode(("AWS:" + password).encode()).decode()


def boto3_client(sim, service, identity, region=None, **config):
    """A boto3 client for identity pointed at the simulator (raises ImportError without boto3)."""
    import boto3
    import botocore.config
    ident = sim.identity(identity)
    return boto3.client(service, endpoint_url=sim.url, region_name=region or ident.region,
                        aws_access_key_id=ident.access_key_id,
                        aws_secret_access_key=ident.secret_access_key,
                        aws_session_token=ident.session_token,
                        verify=sim.ca_bundle if sim.tls else None,
                        config=botocore.config.Config(**config) if config else None)


def _main(argv):
    """Shell use: `harness.py env SCENARIO IDENTITY URL` prints `export` lines, so a demo
    script can act as an identity against a simulator it started itself."""
    import shlex
    if len(argv) != 4 or argv[0] != "env":
        print("usage: harness.py env SCENARIO IDENTITY URL", file=sys.stderr)
        return 2
    sim = Simulator(argv[1], log=False)
    try:
        sim.url = argv[3]
        env = sim.env(argv[2], base={})
    except (KeyError, SimulatorError) as e:
        print("harness.py: %s" % e, file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(sim._tmp, ignore_errors=True)
    # The temporary HOME is gone once this returns; /dev/null reads as an empty config.
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = "/dev/null"
    for k in sorted(env):
        if k.startswith("AWS_") or k == "ECRDIAG_REGISTRY_ENDPOINT":
            print("export %s=%s" % (k, shlex.quote(env[k])))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
