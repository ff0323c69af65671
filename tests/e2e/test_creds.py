#!/usr/bin/env python3
"""End-to-end tests of the credential chain against the simulator (fixtures/scenarios/
creds.json): every source botocore knows (environment, profiles in both files, assume-role
chains and credential_source, web identity, SSO, credential_process, container, IMDSv2), the
precedence between them, --role-arn with the node role's trust policy, --registry-profile,
and each failure the issue names (missing file, bad INI, source_profile cycle, expired
session, IMDS unreachable or blocked by the hop limit, wrong container token).

Every run is also searched for every secret it could have seen (keys, session tokens, tokens
of IMDS, the container endpoint, SSO and web identity, registry passwords), raw, base64 and
URL-encoded. Standard library only; needs the --profile / --role-arn / --registry-* options.
"""
import base64
import glob
import hashlib
import json
import os
import re
import shutil
import socket
import stat
import sys
import tempfile
import time
import unittest
import urllib.parse

import e2e

IMAGE = e2e.SEED_IMAGE
B = "722000009750"
A = "632000001762"
ROLE = "arn:aws:iam::%s:role/%%s" % B
NODE_ROLE = ROLE % "eks-node-role"
WEB_TOKEN = "eyJhbGciOiJSUzI1NiJ9.AwsSimFakeServiceAccountToken.irsa-app"
POD_TOKEN = "AwsSimPodIdentityToken/0123456789abcdef0123456789abcdef"
SSO_TOKEN = "AwsSimSsoAccessToken/valid/0123456789abcdef0123456789abcdef"
SSO_EXPIRED = "AwsSimSsoAccessToken/expired/0123456789abcdef0123456789abcd"
SSO_START = "https://d-0000000000.awsapps.com/start"
PARTNER_EXT = "awssim-partner-ext-0001"


def forms(secret):
    """Every spelling of a secret that could leak: raw, base64 (also of AWS:secret, the
    registry's basic auth), URL-encoded."""
    out = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}
    for s in (secret, "AWS:" + secret):
        b = base64.b64encode(s.encode()).decode()
        out.add(b)
        out.add(b.rstrip("="))
    return {f for f in out if len(f) >= 8}


def assert_no_secrets(test, run, files, secrets):
    """No secret in stdout, stderr or any written file, in any spelling, and no pre-signed
    URL's signature or token."""
    texts = {"stdout": run.out, "stderr": run.err}
    for p in files:
        with open(p, encoding="utf-8", errors="replace") as f:
            texts[p] = f.read()
    spellings = set()
    for s in secrets:
        spellings |= forms(s)
    for where, text in texts.items():
        for f in spellings:
            test.assertNotIn(f, text, "a secret reached %s" % where)
        test.assertNotIn("X-Amz-Signature=", text, where)
        test.assertNotIn("X-Amz-Security-Token=", text, where)


def verbose_args():
    """The highest verbosity the binary offers (none yet; -v/--verbose once it exists)."""
    try:
        run = e2e.run_ecrdiag(["--help"], e2e.bare_env(), want_json=False)
    except Exception:
        return []
    if "--verbose" in run.out:
        return ["--verbose", "--verbose", "--verbose"]
    return []


class CredsCase(unittest.TestCase):
    """One simulator for the class; each test gets a fresh HOME and environment."""

    sim = None

    @classmethod
    def setUpClass(cls):
        cls.sim = e2e.Simulator("creds.json", faults=cls.faults())
        cls.sim.start()

    @classmethod
    def tearDownClass(cls):
        cls.sim.__exit__(None, None, None)

    @classmethod
    def faults(cls):
        return []

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ecrdiag-creds-")
        self.home = os.path.join(self.tmp, "home")
        os.makedirs(os.path.join(self.home, ".aws"))
        env = self.sim.env()
        env["HOME"] = self.home
        env["AWS_CONFIG_FILE"] = os.path.join(self.home, ".aws", "config")
        env["AWS_SHARED_CREDENTIALS_FILE"] = os.path.join(self.home, ".aws", "credentials")
        for k in ("KUBERNETES_SERVICE_HOST", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
            env.pop(k, None)
        self.env = env
        # Beyond what the simulator knows (its scenario's keys and tokens, and every secret it
        # issued: sessions, registry passwords, IMDS tokens), the values these tests make up.
        self.secrets = {WEB_TOKEN, POD_TOKEN, SSO_TOKEN, SSO_EXPIRED, PARTNER_EXT}

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- helpers --

    def ident(self, name):
        return self.sim.identity(name)

    def keys_env(self, name):
        i = self.ident(name)
        self.env["AWS_ACCESS_KEY_ID"] = i.access_key_id
        self.env["AWS_SECRET_ACCESS_KEY"] = i.secret_access_key
        if i.session_token:
            self.env["AWS_SESSION_TOKEN"] = i.session_token
        else:
            self.env.pop("AWS_SESSION_TOKEN", None)

    def keys_ini(self, name):
        i = self.ident(name)
        text = "aws_access_key_id = %s\naws_secret_access_key = %s\n" % (
            i.access_key_id, i.secret_access_key)
        if i.session_token:
            text += "aws_session_token = %s\n" % i.session_token
        return text

    def write(self, which, text):
        path = self.env["AWS_CONFIG_FILE" if which == "config" else "AWS_SHARED_CREDENTIALS_FILE"]
        with open(path, "w") as f:
            f.write(text)
        return path

    def run_diag(self, *args, report=True):
        argv = ["--image", IMAGE] + list(args)
        rep = os.path.join(self.tmp, "report.json")
        if report:
            argv += ["--report", rep]
        start = time.monotonic()
        run = e2e.run_ecrdiag(argv, self.env)
        run.seconds = time.monotonic() - start
        files = [rep] if report and os.path.exists(rep) else []
        self.assert_no_secrets(run, files)
        return run

    def assert_no_secrets(self, run, files):
        assert_no_secrets(self, run, files, self.sim.known_secrets() | self.secrets)

    def caller(self, run):
        self.assertIsNotNone(run.report, run)
        return run.report["caller"]

    def causes(self, run):
        self.assertIsNotNone(run.report, run)
        return run.report["verdict"]["causes"]

    def summary(self, run, cause="NO_CREDENTIALS"):
        for f in run.report.get("findings", []):
            if f.get("cause") == cause:
                return f.get("summary", "")
        self.fail("no %s finding in %r" % (cause, run))

    def assert_caller(self, run, arn_part, source):
        c = self.caller(run)
        self.assertIn(arn_part, c["arn"] or "", run)
        self.assertEqual(c["credential_source"], source, run)
        return c

    def assert_no_creds(self, run, *parts):
        self.assertEqual(run.code, 3, run)
        self.assertEqual(self.causes(run)[0], "NO_CREDENTIALS", run)
        text = self.summary(run)
        for p in parts:
            self.assertIn(p, text, run)
        return text


class Environment(CredsCase):
    def test_env_keys(self):
        self.keys_env("eks-node-b")
        run = self.run_diag()
        self.assertEqual(run.code, 1, run)
        c = self.assert_caller(run, "assumed-role/eks-node-role/i-0b1c", "env")
        self.assertFalse(c["is_pulling_principal"])

    def test_env_beats_profile_and_aws_profile_does_not_override(self):
        self.keys_env("eks-node-c")
        self.write("credentials", "[dev]\n" + self.keys_ini("platform-admin-b"))
        self.env["AWS_PROFILE"] = "dev"
        run = self.run_diag()
        self.assert_caller(run, "833000004321", "env")

    def test_explicit_profile_skips_env(self):
        self.keys_env("eks-node-c")
        self.write("credentials", "[dev]\n" + self.keys_ini("platform-admin-b"))
        run = self.run_diag("--profile", "dev")
        self.assert_caller(run, "user/platform-admin", "profile:dev")

    def test_secret_alone_is_ignored_and_said(self):
        self.env["AWS_SECRET_ACCESS_KEY"] = self.ident("eks-node-b").secret_access_key
        run = self.run_diag()
        text = self.assert_no_creds(run, "AWS_ACCESS_KEY_ID not set",
                                    "AWS_SECRET_ACCESS_KEY is set without it")
        # The whole chain is listed, in botocore's order.
        order = [text.index(s) for s in ("env:", "profile 'default'", "container:", "IMDS:")]
        self.assertEqual(order, sorted(order), text)

    def test_nothing_anywhere(self):
        run = self.run_diag()
        self.assert_no_creds(run, "tried, in order", "disabled by AWS_EC2_METADATA_DISABLED",
                             "(missing)", "--profile")
        self.assertEqual(run.report["checks"], [])


class Profiles(CredsCase):
    def test_default_profile_in_credentials_file(self):
        self.write("credentials", "[default]\n" + self.keys_ini("platform-admin-b"))
        run = self.run_diag()
        self.assert_caller(run, "user/platform-admin", "profile:default")

    def test_config_file_needs_profile_prefix(self):
        # [profile cfg] is profile "cfg" in the config file; a bare [cfg] there is not.
        self.write("config", "[profile cfg]\n" + self.keys_ini("platform-admin-b") +
                   "[bare]\n" + self.keys_ini("eks-node-c"))
        run = self.run_diag("--profile", "cfg")
        self.assert_caller(run, "user/platform-admin", "profile:cfg")
        run = self.run_diag("--profile", "bare")
        self.assert_no_creds(run, "the profile 'bare' (from --profile) is not in")

    def test_credentials_file_takes_sections_literally(self):
        # In the credentials file "[profile x]" is a profile called "profile x".
        self.write("credentials", "[profile x]\n" + self.keys_ini("platform-admin-b"))
        run = self.run_diag("--profile", "x")
        self.assert_no_creds(run, "'x'")
        run = self.run_diag("--profile", "profile x")
        self.assert_caller(run, "user/platform-admin", "profile:profile x")

    def test_credentials_file_beats_config_file(self):
        self.write("config", "[profile both]\n" + self.keys_ini("eks-node-c"))
        self.write("credentials", "[both]\n" + self.keys_ini("platform-admin-b"))
        run = self.run_diag("--profile", "both")
        self.assert_caller(run, "user/platform-admin", "profile:both")

    def test_aws_profile_and_file_variables(self):
        other = os.path.join(self.tmp, "elsewhere")
        os.makedirs(other)
        with open(os.path.join(other, "creds.ini"), "w") as f:
            f.write("[ci]\n" + self.keys_ini("platform-admin-b"))
        self.env["AWS_SHARED_CREDENTIALS_FILE"] = os.path.join(other, "creds.ini")
        self.env["AWS_PROFILE"] = "ci"
        run = self.run_diag()
        self.assert_caller(run, "user/platform-admin", "profile:ci")

    def test_missing_file_for_named_profile(self):
        self.env["AWS_CONFIG_FILE"] = os.path.join(self.tmp, "no", "config")
        run = self.run_diag("--profile", "dev")
        self.assert_no_creds(run, "'dev'", "(missing)")

    def test_bad_ini_names_the_line(self):
        self.write("config", "[default]\nregion = ap-southeast-1\nthis line is not ini\n")
        run = self.run_diag()
        self.assert_no_creds(run, "bad INI", "line 3")

    def test_bad_ini_never_quotes_the_line(self):
        secret = self.ident("platform-admin-b").secret_access_key
        self.write("credentials", "[default]\naws_access_key_id = x\n" + secret + "\n")
        run = self.run_diag()
        self.assert_no_creds(run, "line 3")
        self.assertNotIn(secret, run.out + run.err)

    def test_partial_keys_in_file(self):
        self.write("credentials", "[default]\naws_access_key_id = %s\n" %
                   self.ident("platform-admin-b").access_key_id)
        run = self.run_diag()
        self.assert_no_creds(run, "aws_access_key_id but no aws_secret_access_key", "line 2")

    def test_profile_without_credentials(self):
        self.write("config", "[default]\nregion = ap-southeast-1\n")
        run = self.run_diag()
        self.assert_no_creds(run, "profile 'default': no role_arn")


class AssumeRole(CredsCase):
    def setUp(self):
        super().setUp()
        self.write("credentials", "[admin]\n" + self.keys_ini("platform-admin-b"))

    def config(self, text):
        self.write("config", text)

    def test_source_profile(self):
        self.config("[profile ci]\nrole_arn = %s\nsource_profile = admin\n" % (ROLE % "ci-deployer"))
        run = self.run_diag("--profile", "ci")
        self.assert_caller(run, "assumed-role/ci-deployer/", "assume-role:" + ROLE % "ci-deployer")
        ids = [c["id"] for c in run.report["checks"]]
        self.assertEqual(ids[0], "sts.AssumeRole", ids)

    def test_role_chain(self):
        self.config("[profile ci]\nrole_arn = %s\nsource_profile = admin\n"
                    "[profile chained]\nrole_arn = %s\nsource_profile = ci\n"
                    % (ROLE % "ci-deployer", ROLE % "ci-chained"))
        run = self.run_diag("--profile", "chained")
        self.assert_caller(run, "assumed-role/ci-chained/", "assume-role:" + ROLE % "ci-chained")
        self.assertEqual([c["id"] for c in run.report["checks"]][:2],
                         ["sts.AssumeRole", "sts.AssumeRole"])

    def test_role_session_name_and_external_id(self):
        self.config("[profile partner]\nrole_arn = %s\nsource_profile = admin\n"
                    "external_id = %s\nrole_session_name = diag-check\n"
                    % (ROLE % "partner-reader", PARTNER_EXT))
        run = self.run_diag("--profile", "partner")
        self.assert_caller(run, "assumed-role/partner-reader/diag-check", "assume-role:" +
                           ROLE % "partner-reader")

    def test_cycle(self):
        self.config("[profile a]\nrole_arn = %s\nsource_profile = b\n"
                    "[profile b]\nrole_arn = %s\nsource_profile = a\n"
                    % (ROLE % "ci-deployer", ROLE % "ci-chained"))
        run = self.run_diag("--profile", "a")
        self.assert_no_creds(run, "cycle", "'a' -> 'b' -> 'a'", "line 6")

    def test_self_reference_with_keys_is_no_cycle(self):
        i = self.ident("platform-admin-b")
        self.config("[profile self]\nrole_arn = %s\nsource_profile = self\n"
                    "aws_access_key_id = %s\naws_secret_access_key = %s\n"
                    % (ROLE % "ci-deployer", i.access_key_id, i.secret_access_key))
        run = self.run_diag("--profile", "self")
        self.assert_caller(run, "assumed-role/ci-deployer/", "assume-role:" + ROLE % "ci-deployer")

    def test_missing_source_profile(self):
        self.config("[profile ci]\nrole_arn = %s\nsource_profile = nowhere\n" % (ROLE % "ci-deployer"))
        run = self.run_diag("--profile", "ci")
        self.assert_no_creds(run, "source_profile 'nowhere'", "does not exist")

    def test_credential_source_environment(self):
        self.keys_env("platform-admin-b")
        self.config("[profile envrole]\nrole_arn = %s\ncredential_source = Environment\n"
                    % (ROLE % "ci-deployer"))
        run = self.run_diag("--profile", "envrole")
        self.assert_caller(run, "assumed-role/ci-deployer/", "assume-role:" + ROLE % "ci-deployer")

    def test_credential_source_invalid_and_both(self):
        self.config("[profile bad]\nrole_arn = %s\ncredential_source = environment\n"
                    "[profile both]\nrole_arn = %s\ncredential_source = Environment\n"
                    "source_profile = admin\n" % (ROLE % "ci-deployer", ROLE % "ci-deployer"))
        run = self.run_diag("--profile", "bad")
        self.assert_no_creds(run, "credential_source 'environment' is not valid")
        run = self.run_diag("--profile", "both")
        self.assert_no_creds(run, "both source_profile and credential_source")

    def test_expired_session(self):
        self.config("[profile old]\nrole_arn = %s\nsource_profile = admin\n"
                    % (ROLE % "expired-session"))
        run = self.run_diag("--profile", "old")
        self.assert_no_creds(run, "expired")

    def test_role_arn_node_role_trust_policy(self):
        run = self.run_diag("--profile", "admin", "--role-arn", NODE_ROLE)
        text = self.assert_no_creds(run, "AccessDenied", "user/platform-admin", NODE_ROLE,
                                    "trust policy", "ec2.amazonaws.com")
        self.assertNotIn("tried before", text)
        check = run.report["checks"][0]
        self.assertEqual((check["id"], check["error_code"], check["http_status"]),
                         ("sts.AssumeRole", "AccessDenied", 403))
        self.assertTrue(check["request_id"])

    def test_role_arn_with_external_id(self):
        run = self.run_diag("--profile", "admin", "--role-arn", ROLE % "partner-reader",
                            "--external-id", PARTNER_EXT)
        self.assert_caller(run, "assumed-role/partner-reader/ecrdiag-", "assume-role:" +
                           ROLE % "partner-reader")
        run = self.run_diag("--profile", "admin", "--role-arn", ROLE % "partner-reader")
        self.assert_no_creds(run, "AccessDenied", "external id")

    def test_role_arn_that_is_no_arn(self):
        run = self.run_diag("--profile", "admin", "--role-arn", "eks-node-role")
        self.assertIn(run.code, (2, 3), run)
        self.assertIn("not an IAM role ARN", run.out + run.err)

    def test_registry_role_reads_a_side(self):
        self.keys_env("platform-admin-b")
        run = self.run_diag("--registry-role-arn", "arn:aws:iam::%s:role/registry-reader" % A)
        self.assert_caller(run, "user/platform-admin", "env")
        ids = [c["id"] for c in run.report["checks"]]
        self.assertIn("sts.AssumeRole", ids)

    def test_registry_profile_missing(self):
        self.keys_env("platform-admin-b")
        run = self.run_diag("--registry-profile", "nosuch")
        text = self.assert_no_creds(run, "registry credentials", "'nosuch'")
        self.assertNotIn("registry-admin", text)


class WebIdentity(CredsCase):
    def token_file(self, text=WEB_TOKEN):
        path = os.path.join(self.tmp, "token")
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_irsa_from_environment(self):
        self.env["AWS_WEB_IDENTITY_TOKEN_FILE"] = self.token_file()
        self.env["AWS_ROLE_ARN"] = ROLE % "irsa-app"
        self.env["AWS_ROLE_SESSION_NAME"] = "app-pod"
        run = self.run_diag()
        self.assert_caller(run, "assumed-role/irsa-app/app-pod", "web-identity")
        self.assertEqual(run.report["checks"][0]["id"], "sts.AssumeRoleWithWebIdentity")

    def test_profile_web_identity(self):
        self.write("config", "[profile irsa]\nrole_arn = %s\nweb_identity_token_file = %s\n"
                   % (ROLE % "irsa-app", self.token_file()))
        run = self.run_diag("--profile", "irsa")
        self.assert_caller(run, "assumed-role/irsa-app/", "web-identity")

    def test_explicit_profile_ignores_environment(self):
        self.env["AWS_WEB_IDENTITY_TOKEN_FILE"] = self.token_file()
        self.env["AWS_ROLE_ARN"] = ROLE % "irsa-app"
        self.write("credentials", "[admin]\n" + self.keys_ini("platform-admin-b"))
        run = self.run_diag("--profile", "admin")
        self.assert_caller(run, "user/platform-admin", "profile:admin")

    def test_token_refused(self):
        self.env["AWS_WEB_IDENTITY_TOKEN_FILE"] = self.token_file("eyJ.not-the-token.x")
        self.env["AWS_ROLE_ARN"] = ROLE % "irsa-app"
        run = self.run_diag()
        self.assert_no_creds(run, "AssumeRoleWithWebIdentity", "AccessDenied", "trust policy")

    def test_token_file_missing(self):
        self.env["AWS_WEB_IDENTITY_TOKEN_FILE"] = os.path.join(self.tmp, "nope")
        self.env["AWS_ROLE_ARN"] = ROLE % "irsa-app"
        run = self.run_diag()
        self.assert_no_creds(run, "AWS_WEB_IDENTITY_TOKEN_FILE", "does not exist")

    def test_token_without_role(self):
        self.env["AWS_WEB_IDENTITY_TOKEN_FILE"] = self.token_file()
        run = self.run_diag()
        self.assert_no_creds(run, "AWS_ROLE_ARN")


class Process(CredsCase):
    def script(self, body):
        path = os.path.join(self.tmp, "helper.py")
        with open(path, "w") as f:
            f.write("import json, sys\n" + body)
        return "%s %s" % (sys.executable, path)

    def test_credential_process(self):
        i = self.ident("platform-admin-b")
        cmd = self.script("print(json.dumps({'Version': 1, 'AccessKeyId': %r, "
                          "'SecretAccessKey': %r, 'Expiration': '2099-01-01T00:00:00Z'}))\n"
                          % (i.access_key_id, i.secret_access_key))
        self.write("config", "[profile proc]\ncredential_process = %s\n" % cmd)
        run = self.run_diag("--profile", "proc")
        self.assert_caller(run, "user/platform-admin", "process")

    def test_process_precedence_after_credentials_file(self):
        # The credentials file's keys come before credential_process, which comes before
        # the config file's keys (botocore ProfileProviderBuilder.providers).
        i = self.ident("eks-node-c")
        cmd = self.script("print(json.dumps({'Version': 1, 'AccessKeyId': %r, "
                          "'SecretAccessKey': %r, 'SessionToken': %r}))\n"
                          % (i.access_key_id, i.secret_access_key, i.session_token))
        self.write("config", "[profile p]\ncredential_process = %s\n" % cmd
                   + self.keys_ini("registry-admin-a"))
        run = self.run_diag("--profile", "p")
        self.assert_caller(run, "833000004321", "process")
        self.write("credentials", "[p]\n" + self.keys_ini("platform-admin-b"))
        run = self.run_diag("--profile", "p")
        self.assert_caller(run, "user/platform-admin", "profile:p")

    def test_process_fails(self):
        cmd = self.script("sys.stderr.write('token expired, run helper login\\n'); sys.exit(3)\n")
        self.write("config", "[profile proc]\ncredential_process = %s\n" % cmd)
        run = self.run_diag("--profile", "proc")
        self.assert_no_creds(run, "exited with status 3", "run helper login")

    def test_process_wrong_version(self):
        cmd = self.script("print(json.dumps({'Version': 2, 'AccessKeyId': 'x', "
                          "'SecretAccessKey': 'y'}))\n")
        self.write("config", "[profile proc]\ncredential_process = %s\n" % cmd)
        run = self.run_diag("--profile", "proc")
        self.assert_no_creds(run, "only Version 1")


class Sso(CredsCase):
    def cache(self, token, key_source, expires="2099-01-01T00:00:00Z"):
        d = os.path.join(self.home, ".aws", "sso", "cache")
        os.makedirs(d, exist_ok=True)
        name = hashlib.sha1(key_source.encode()).hexdigest()
        with open(os.path.join(d, name + ".json"), "w") as f:
            json.dump({"startUrl": SSO_START, "region": "ap-southeast-1", "accessToken": token,
                       "expiresAt": expires}, f)

    def test_legacy_sso_profile(self):
        self.cache(SSO_TOKEN, SSO_START)
        self.write("config", "[profile sso]\nsso_start_url = %s\nsso_region = ap-southeast-1\n"
                   "sso_account_id = %s\nsso_role_name = PlatformReadOnly\n" % (SSO_START, B))
        run = self.run_diag("--profile", "sso")
        self.assert_caller(run, "AWSReservedSSO_PlatformReadOnly", "sso")

    def test_sso_session(self):
        self.cache(SSO_TOKEN, "corp")
        self.write("config", "[profile sso]\nsso_session = corp\nsso_account_id = %s\n"
                   "sso_role_name = PlatformReadOnly\n[sso-session corp]\nsso_start_url = %s\n"
                   "sso_region = ap-southeast-1\n" % (B, SSO_START))
        run = self.run_diag("--profile", "sso")
        self.assert_caller(run, "AWSReservedSSO_PlatformReadOnly", "sso")

    def test_expired_login(self):
        self.cache(SSO_EXPIRED, SSO_START, expires="2020-01-01T00:00:00Z")
        self.write("config", "[profile sso]\nsso_start_url = %s\nsso_region = ap-southeast-1\n"
                   "sso_account_id = %s\nsso_role_name = PlatformReadOnly\n" % (SSO_START, B))
        run = self.run_diag("--profile", "sso")
        self.assert_no_creds(run, "expired", "aws sso login --profile sso")

    def test_revoked_token(self):
        self.cache(SSO_EXPIRED, SSO_START)  # not expired locally, refused by the portal
        self.write("config", "[profile sso]\nsso_start_url = %s\nsso_region = ap-southeast-1\n"
                   "sso_account_id = %s\nsso_role_name = PlatformReadOnly\n" % (SSO_START, B))
        run = self.run_diag("--profile", "sso")
        self.assert_no_creds(run, "UnauthorizedException", "aws sso login")

    def test_not_logged_in_and_incomplete(self):
        self.write("config", "[profile sso]\nsso_start_url = %s\nsso_region = ap-southeast-1\n"
                   "sso_account_id = %s\nsso_role_name = PlatformReadOnly\n"
                   "[profile half]\nsso_account_id = %s\n" % (SSO_START, B, B))
        run = self.run_diag("--profile", "sso")
        self.assert_no_creds(run, "no cached login", "aws sso login --profile sso")
        run = self.run_diag("--profile", "half")
        self.assert_no_creds(run, "sso_start_url", "sso_role_name")


class Container(CredsCase):
    def setUp(self):
        super().setUp()
        self.env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = self.sim.url + "/v1/credentials"

    def test_pod_identity_token_file(self):
        path = os.path.join(self.tmp, "eks-pod-identity-token")
        with open(path, "w") as f:
            f.write(POD_TOKEN)
        self.env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = path
        run = self.run_diag()
        self.assert_caller(run, "assumed-role/app-pod-role/", "container")

    def test_token_variable(self):
        self.env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = POD_TOKEN
        run = self.run_diag()
        self.assert_caller(run, "assumed-role/app-pod-role/", "container")

    def test_wrong_token(self):
        self.env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "AwsSimPodIdentityToken/wrong"
        run = self.run_diag()
        self.assert_no_creds(run, "HTTP 401", "AWS_CONTAINER_AUTHORIZATION_TOKEN")

    def test_no_token(self):
        run = self.run_diag()
        self.assert_no_creds(run, "HTTP 400", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")

    def test_host_not_allowed(self):
        self.env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://example.com/creds"
        run = self.run_diag()
        self.assert_no_creds(run, "example.com", "loopback")

    def test_env_keys_come_first(self):
        self.keys_env("platform-admin-b")
        run = self.run_diag()
        self.assert_caller(run, "user/platform-admin", "env")


class Imds(CredsCase):
    def setUp(self):
        super().setUp()
        self.env.pop("AWS_EC2_METADATA_DISABLED", None)
        self.env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = self.sim.url

    def test_instance_role(self):
        run = self.run_diag()
        c = self.assert_caller(run, "assumed-role/eks-node-role/i-0b1c", "imds")
        self.assertTrue(c["is_pulling_principal"])
        log = [r for r in self.sim.requests(0.2) if r["service"] == "imds"]
        self.assertEqual([r["action"] for r in log][-3:], ["PutToken", "GetRoleName",
                                                           "GetCredentials"])

    def test_role_arn_over_instance_role(self):
        # The node's own role assuming itself: refused by its trust policy (ec2 only).
        run = self.run_diag("--role-arn", NODE_ROLE)
        self.assert_no_creds(run, "AccessDenied", "eks-node-role/i-0b1c", "ec2.amazonaws.com")

    def test_unreachable_is_quick(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()  # nothing listens there now
        self.env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = "http://127.0.0.1:%d/" % port
        run = self.run_diag()
        self.assert_no_creds(run, "IMDS: no answer from 127.0.0.1:%d" % port)
        self.assertLess(run.seconds, 10)


class ImdsHopLimit(CredsCase):
    """From a pod, a hop limit of 1 drops the IMDSv2 token answer: the PUT never answers."""

    @classmethod
    def faults(cls):
        return [{"service": "imds", "action": "PutToken", "hang": True}]

    def setUp(self):
        super().setUp()
        self.env.pop("AWS_EC2_METADATA_DISABLED", None)
        self.env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = self.sim.url
        self.env["KUBERNETES_SERVICE_HOST"] = "10.100.0.1"

    def test_hop_limit_hint(self):
        run = self.run_diag()
        self.assert_no_creds(run, "IMDS", "hop limit", "hostNetwork")
        self.assertLess(run.seconds, 10)

    def test_outside_a_pod_no_hint(self):
        del self.env["KUBERNETES_SERVICE_HOST"]
        run = self.run_diag()
        text = self.assert_no_creds(run, "IMDS")
        self.assertNotIn("hop limit", text)


class SecretsEverywhere(unittest.TestCase):
    """Every data-driven e2e case (tests/e2e/cases/*.json), with a --report file, in text and
    JSON, at the highest verbosity: no secret the run received or derived shows anywhere."""

    CASES = sorted(glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases",
                                          "*.json")))

    def test_there_are_cases(self):
        self.assertGreaterEqual(len(self.CASES), 4)

    def test_detector_can_fail(self):
        # The search must find a leak in each spelling it claims to cover.
        class R:
            out, err = "", ""
        secret = "AwsSimFakeSecret/x/000000000000000000000"
        for leaked in forms(secret) | {"https://b/x?X-Amz-Signature=abc"}:
            r = R()
            r.out = "prefix " + leaked + " suffix"
            with self.assertRaises(AssertionError):
                assert_no_secrets(self, r, [], {secret})

    def test_all_cases(self):
        verbose = verbose_args()
        for path in self.CASES:
            with open(path, encoding="utf-8") as f:
                case = json.load(f)
            with self.subTest(case=os.path.basename(path)):
                self.run_case(case, verbose)

    def run_case(self, case, verbose):
        with e2e.Simulator(case.get("scenario", "seed.json"), faults=case.get("faults", [])) as sim:
            env = sim.env(case["as"]) if case.get("as") else dict(e2e.bare_env(),
                                                                  AWS_ENDPOINT_URL=sim.url)
            for k, v in case.get("env", {}).items():
                if v is None:
                    env.pop(k, None)
                else:
                    env[k] = v.replace("{sim}", sim.url)
            extra = {v for k, v in env.items() if k in ("AWS_SECRET_ACCESS_KEY",
                                                        "AWS_SESSION_TOKEN") and v}
            args = [a for a in case["args"]]
            if "--output" in args:
                i = args.index("--output")
                del args[i:i + 2]
            with tempfile.TemporaryDirectory() as tmp:
                for mode in ("text", "json"):
                    report = os.path.join(tmp, "report-%s.json" % mode)
                    run = e2e.run_ecrdiag(args + verbose + ["--output", mode, "--report", report],
                                          env, want_json=mode == "json")
                    files = [p for p in glob.glob(os.path.join(tmp, "*")) if os.path.isfile(p)]
                    assert_no_secrets(self, run, files, sim.known_secrets() | extra)


if __name__ == "__main__":
    unittest.main()
