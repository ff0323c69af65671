"""Shared driver of the end-to-end tests: runs the ecrdiag binary against the AWS simulator
on loopback, as one identity of a scenario, and compares its JSON report by structure.
Imported by tests/e2e/test_*.py; standard library only."""
import json
import os
import subprocess
import sys

ROOT = os.environ.get("ECRDIAG_ROOT") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts", "awssim"))
from harness import Simulator  # noqa: E402  (the simulator's own test harness)

BIN = os.environ.get("ECRDIAG_BIN") or os.path.join(ROOT, "build", "werror", "ecrdiag")
SCENARIOS = os.path.join(ROOT, "fixtures", "scenarios")
SEED_IMAGE = "632000001762.dkr.ecr.ap-southeast-1.amazonaws.com/audit/sa/cicd-runner:latest"
RUN_TIMEOUT_S = 120


class Run:
    """One ecrdiag run: exit code, stdout, stderr, and the report when JSON was asked for."""

    def __init__(self, proc, want_json):
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr
        self.report = None
        if want_json and self.out.strip():
            try:
                self.report = json.loads(self.out)
            except ValueError as e:
                # A sanitizer's report on exit cuts stdout short: show what it said.
                raise AssertionError("the report is not JSON (%s); exit %s, stderr:\n%s"
                                     % (e, self.code, self.err[-4000:])) from None

    def __repr__(self):
        return f"exit {self.code}\nstdout:\n{self.out}\nstderr:\n{self.err}"


def run_ecrdiag(args, env, want_json=True):
    if want_json and "--output" not in args:
        args = list(args) + ["--output", "json"]
    proc = subprocess.run([BIN] + list(args), env=env, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S)
    return Run(proc, want_json)


def write_profile(env, name, identity):
    """Adds profile name, holding identity's keys, to the credentials file env's AWS reads."""
    path = env["AWS_SHARED_CREDENTIALS_FILE"]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write("[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
                % (name, identity.access_key_id, identity.secret_access_key))
        if getattr(identity, "session_token", None):
            f.write("aws_session_token = %s\n" % identity.session_token)


def bare_env():
    """The parent environment without any AWS setting, so nothing of this machine leaks in."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") and not k.startswith("ECRDIAG_")}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    return env


def mismatches(expected, actual, path="$"):
    """Where actual differs from expected: dicts by the expected keys only, lists and scalars
    exactly. Returns a list of readable differences (empty when it matches)."""
    out = []
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {actual!r}"]
        for k, v in expected.items():
            if k not in actual:
                out.append(f"{path}.{k}: missing")
            else:
                out.extend(mismatches(v, actual[k], f"{path}.{k}"))
    elif isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path}: expected {expected!r}, got {actual!r}"]
        for i, (e, a) in enumerate(zip(expected, actual)):
            out.extend(mismatches(e, a, f"{path}[{i}]"))
    elif expected != actual:
        out.append(f"{path}: expected {expected!r}, got {actual!r}")
    return out
