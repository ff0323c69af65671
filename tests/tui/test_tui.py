#!/usr/bin/env python3
"""The interactive TUI driven under tmux against the AWS simulator: type the seed image, see
the checks finish, the cause and the fix; switch the fix tabs; save the report; resize;
cancel a slow probe and find the terminal restored. Every wait is bounded and every tmux
server is killed in tearDown. With ECRDIAG_SCREENSHOTS=DIR set, the main screens are saved
there as text (scripts/tui-screenshots does this for docs/screenshots)."""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

ROOT = os.environ.get("ECRDIAG_ROOT") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BIN = os.environ.get("ECRDIAG_BIN") or os.path.join(ROOT, "build", "werror", "ecrdiag")
SHOTS = os.environ.get("ECRDIAG_SCREENSHOTS")
sys.path.insert(0, os.path.join(ROOT, "scripts", "awssim"))
from harness import Simulator  # noqa: E402  (the simulator's own test harness)

SCENARIOS = os.path.join(ROOT, "fixtures", "scenarios")
SEED = os.path.join(SCENARIOS, "seed.json")
SEED_FIXED = os.path.join(SCENARIOS, "seed-fixed.json")
SEED_IMAGE = "632000001762.dkr.ecr.ap-southeast-1.amazonaws.com/audit/sa/cicd-runner:latest"
NODE_B = "eks-node-b"
NODE_B_ARN = "arn:aws:sts::722000009750:assumed-role/eks-node-role/i-0b1c2d3e4f5a6b7c8"
WAIT_S = 60        # a diagnosis against the simulator, even under ASan
KEY_WAIT_S = 10    # a redraw after a key
POLL_S = 0.1
EXITED = re.compile(r"^EXITED (\d+)\s*$", re.M)
SGR = re.compile(r"\x1b\[([0-9;]*)m")


def colour_params(text):
    """The SGR colour parameters in captured escapes: 30-38, 40-48 and 90-107 (39 and 49,
    the default colours, are not colours)."""
    found = []
    for m in SGR.finditer(text):
        for p in m.group(1).split(";"):
            if p.isdigit() and int(p) not in (39, 49) and (
                    30 <= int(p) <= 48 or 90 <= int(p) <= 107):
                found.append(p)
    return found


def flat(screen):
    """The screen as one line, each row stripped: text wrapped over rows can be searched."""
    return " ".join(line.strip() for line in screen.splitlines() if line.strip())


class Pane:
    """One ecrdiag run in a tmux server of its own, with its environment."""

    def __init__(self, test, env, cwd, width, height):
        self.test = test
        self.env = {k: v for k, v in env.items() if not k.startswith("TMUX")}
        self.cwd = cwd
        # A socket of its own inside the test's temporary directory: nothing shared, nothing
        # left behind.
        self.socket = os.path.join(cwd, "tmux-%s.sock" % uuid.uuid4().hex[:8])
        self.size = (width, height)

    def tmux(self, *args, check=True):
        return subprocess.run(["tmux", "-S", self.socket, "-f", "/dev/null"] + list(args),
                              env=self.env, capture_output=True, text=True, timeout=20,
                              check=check)

    def start(self, args):
        # The shell reports the exit code, then keeps the pane alive for capture-pane. It
        # traps SIGINT so that Ctrl-C reaches ecrdiag (reset to default there) but not it.
        cmd = "trap : INT; %s %s; echo EXITED $?; exec sleep 600" % (
            shlex.quote(BIN), " ".join(shlex.quote(a) for a in args))
        self.tmux("new-session", "-d", "-s", "tui", "-x", str(self.size[0]), "-y",
                  str(self.size[1]), "-c", self.cwd, "sh", "-c", cmd)
        self.tmux("set-option", "-s", "set-clipboard", "on")
        return self

    def kill(self):
        self.tmux("kill-server", check=False)

    def keys(self, *keys):
        self.tmux("send-keys", "-t", "tui", *keys)

    def type(self, text):
        self.tmux("send-keys", "-t", "tui", "-l", text)

    def screen(self, escapes=False):
        args = ["capture-pane", "-p", "-t", "tui"] + (["-e"] if escapes else [])
        return self.tmux(*args).stdout

    def flag(self, name):
        return self.tmux("display-message", "-p", "-t", "tui", "#{%s}" % name).stdout.strip()

    def resize(self, width, height):
        self.tmux("resize-window", "-t", "tui", "-x", str(width), "-y", str(height))
        self.size = (width, height)

    def wait_for(self, what, timeout_s=KEY_WAIT_S, stable=True):
        """Polls the screen until what (a string, or a predicate on the screen) holds on two
        identical captures in a row: a capture taken while curses is still repainting can
        hold half of the old screen. stable=False for a screen that keeps changing (the
        probe's spinners): the first capture where what holds."""
        deadline = time.monotonic() + timeout_s
        last = None
        while True:
            screen = self.screen()
            ok = what(screen) if callable(what) else what in screen
            if ok and (screen == last or not stable):
                return screen
            last = screen if ok else None
            m = EXITED.search(screen)
            if m or time.monotonic() > deadline:
                self.test.fail("waited %ss for %r%s; the screen:\n%s" % (
                    timeout_s, what if not callable(what) else "a condition",
                    " (ecrdiag exited %s)" % m.group(1) if m else "", screen))
            time.sleep(POLL_S)

    def wait_exit(self, timeout_s=KEY_WAIT_S):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            m = EXITED.search(self.screen())
            if m:
                return int(m.group(1))
            time.sleep(POLL_S)
        self.test.fail("ecrdiag did not exit in %ss; the screen:\n%s" % (timeout_s,
                                                                         self.screen()))

    def shot(self, name):
        """Saves the screen as docs/screenshots material when asked to."""
        if not SHOTS:
            return
        os.makedirs(SHOTS, exist_ok=True)
        lines = [line.rstrip() for line in self.screen().splitlines()]
        while lines and not lines[-1]:
            lines.pop()
        with open(os.path.join(SHOTS, name + ".txt"), "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")


@unittest.skipUnless(shutil.which("tmux"), "tmux is not installed: the TUI tests need it")
class Tui(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(BIN, os.X_OK):
            raise unittest.SkipTest("no ecrdiag binary at %s (set ECRDIAG_BIN)" % BIN)
        usage = subprocess.run([BIN, "--help"], capture_output=True, text=True, timeout=30)
        if "--tui" not in usage.stdout:
            raise unittest.SkipTest("this ecrdiag has no --tui: src/cli/main.c does not call "
                                    "tui_main yet")

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ecrdiag-tui-")
        self.state = os.path.join(self.tmp, "state")
        self.panes = []

    def tearDown(self):
        for p in self.panes:
            p.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def tui(self, sim, args, identity=NODE_B, size=(100, 30), utf8=True, env=None):
        e = sim.env(identity)
        e.pop("NO_COLOR", None)
        e["LANG"] = e["LC_ALL"] = "C.UTF-8" if utf8 else "C"
        e["XDG_STATE_HOME"] = self.state
        e.update(env or {})
        pane = Pane(self, e, self.tmp, *size)
        self.panes.append(pane)
        return pane.start(args)

    def assert_restored(self, pane):
        """The shell has the terminal back: normal screen, keypad mode off, no TUI left."""
        self.assertEqual(pane.flag("alternate_on"), "0", pane.screen())
        self.assertEqual(pane.flag("keypad_flag"), "0")
        screen = pane.screen()
        self.assertNotIn("[Probe]", screen)
        self.assertNotIn("? help", screen)

    # -- the seed case, from typing the image to the saved report --

    def test_seed_image_cause_fix_tabs_and_saved_report(self):
        with Simulator(SEED) as sim:
            p = self.tui(sim, ["--tui"])
            p.wait_for("Image reference")
            p.type(SEED_IMAGE[:40])
            p.wait_for(SEED_IMAGE[:40])
            p.type(SEED_IMAGE[40:])
            screen = p.wait_for(lambda s: "repository audit/sa/cicd-runner, tag latest" in flat(s))
            self.assertIn("private ECR: account 632000001762, region ap-southeast-1", screen)
            self.assertIn("env", screen)  # the credential source the probe will use
            p.shot("start")
            p.keys("Enter")

            screen = p.wait_for("NOT PULLABLE", WAIT_S)
            self.assertIn("[Diagnosis]", screen)
            self.assertIn("REPO_POLICY_NOT_GRANTING", screen)
            self.assertIn("the repository policy does not grant this principal", screen)
            self.assertRegex(screen, r"✓ sts\.GetCallerIdentity +\d+(\.\d)? m?s")
            self.assertRegex(screen, r"✗ ecr\.BatchGetImage +\d+(\.\d)? m?s")
            # the evidence of the primary finding's check: AWS's code, message and request id
            self.assertIn("Evidence: ecr.BatchGetImage", screen)
            self.assertIn("AccessDeniedException", screen)
            self.assertIn("because no resource-based policy allows", flat(screen))
            self.assertRegex(screen, r"request id +\S+")
            self.assertNotIn("AwsSimFakeSecret", screen)
            self.assertTrue(colour_params(p.screen(escapes=True)),
                            "a colour terminal without NO_COLOR shows colours")
            p.shot("diagnosis")

            p.keys("Tab")
            screen = p.wait_for("[1 Statement]")
            self.assertIn("[Fix]", screen)
            self.assertIn('+     "AWS": "arn:aws:iam::722000009750:root"', screen)
            self.assertIn("a apply: not available yet", screen)
            p.shot("fix-statement")
            tabs = [("2", "[2 Document]", "The complete policy is unknown"),
                    ("3", "[3 aws CLI]", "#!/bin/sh"),
                    ("4", "[4 Terraform]", "aws_ecr_repository_policy"),
                    ("5", "[5 CloudFormation]", "RepositoryPolicyText")]
            for key, tab, content in tabs:
                p.keys(key)
                screen = p.wait_for(tab)
                self.assertIn(content, screen, tab)
                if key == "3":  # a long script: it scrolls
                    p.shot("fix-aws-cli")
                    self.assertRegex(screen, r"rows 1-\d+ of \d+")
                    p.keys("End")
                    screen = p.wait_for(lambda s: not re.search(r"rows 1-", s))
                    self.assertIn("set-repository-policy", screen)
                    p.keys("Home")
                    p.wait_for("#!/bin/sh")
            p.keys("Right")
            p.wait_for("[1 Statement]")
            p.keys("Left")
            p.wait_for("[5 CloudFormation]")

            # copy through OSC 52: tmux (set-clipboard on) turns it into a paste buffer
            p.keys("1")
            p.wait_for("[1 Statement]")
            p.keys("y")
            p.wait_for("sent to the clipboard")
            deadline = time.monotonic() + KEY_WAIT_S
            while time.monotonic() < deadline:
                buf = p.tmux("show-buffer", check=False).stdout
                if buf:
                    break
                time.sleep(POLL_S)
            self.assertEqual(json.loads(buf)["Principal"],
                             {"AWS": "arn:aws:iam::722000009750:root"})

            p.keys("s")
            p.wait_for("save the JSON report to: ./ecrdiag-report.json")
            p.keys("Enter")
            p.wait_for("report saved to './ecrdiag-report.json'")
            with open(os.path.join(self.tmp, "ecrdiag-report.json"), encoding="utf-8") as f:
                report = json.load(f)
            self.assertEqual(report["schema"], "ecrdiag.report/v1")
            self.assertEqual(report["image"]["reference"], SEED_IMAGE)
            self.assertIs(report["verdict"]["pullable"], False)
            self.assertEqual(report["verdict"]["causes"][0], "REPO_POLICY_NOT_GRANTING")
            self.assertEqual(report["caller"]["arn"], NODE_B_ARN)
            self.assertEqual(report["fix"]["statement"]["Principal"],
                             {"AWS": "arn:aws:iam::722000009750:root"})
            # the same model as the one-shot check renders
            cli = subprocess.run([BIN, "--image", SEED_IMAGE, "--output", "json"],
                                 env=sim.env(NODE_B), capture_output=True, text=True,
                                 timeout=WAIT_S)
            self.assertEqual(cli.returncode, 1, cli.stderr)
            self.assertEqual(json.loads(cli.stdout)["verdict"], report["verdict"])

            # a second save asks before replacing the file
            p.keys("s")
            p.wait_for("save the JSON report to")
            p.keys("Enter")
            p.wait_for("exists: Enter again replaces it")
            p.keys("Escape")
            p.wait_for("not saved")

            p.keys("q")
            self.assertEqual(p.wait_exit(), 1)  # the diagnosis's exit code, as the CLI's
            self.assert_restored(p)
        with open(os.path.join(self.state, "ecrdiag", "history"), encoding="utf-8") as f:
            self.assertEqual(f.read().splitlines(), [SEED_IMAGE])

    def test_history_and_validation_on_the_start_screen(self):
        os.makedirs(os.path.join(self.state, "ecrdiag"))
        with open(os.path.join(self.state, "ecrdiag", "history"), "w") as f:
            f.write("123456789012.dkr.ecr.eu-west-1.amazonaws.com/older:1\n" + SEED_IMAGE + "\n")
        with Simulator(SEED) as sim:
            p = self.tui(sim, [])
            p.wait_for("2 from history")
            p.type("docker.io/library/nginx:latest")
            screen = p.wait_for("✗")
            self.assertNotIn("private ECR", screen)
            p.keys("Enter")  # refused: nothing is probed
            p.wait_for("not an ECR image reference")
            self.assertIn("[Start]", p.screen())
            p.keys("C-u", "Up")
            p.wait_for("region ap-southeast-1")
            p.keys("Up")
            p.wait_for("region eu-west-1")
            p.keys("Down")
            p.wait_for("region ap-southeast-1")
            p.keys("Escape")
            self.assertEqual(p.wait_exit(), 0)
            self.assert_restored(p)

    # -- the settings on the start screen: profile, role ARN, region, platform --

    def test_role_arn_field_is_validated_as_typed(self):
        with Simulator(SEED) as sim:
            p = self.tui(sim, ["--tui"])
            p.wait_for("Image reference")
            p.type(SEED_IMAGE)
            p.wait_for("repository audit/sa/cicd-runner")
            p.keys("Tab", "Tab")  # the profile, then the role ARN
            p.wait_for(lambda s: re.search(r"^ *▶ *role ARN", s, re.M))
            p.type("arn:aws:iam::7220:role/eks-node-role")  # an account id is 12 digits
            screen = p.wait_for(lambda s: re.search(
                r"role ARN +arn:aws:iam::7220:role/eks-node-role +✗", s))
            self.assertIn("not an IAM role ARN: arn:aws:iam::ACCOUNT:role/NAME", screen)
            p.keys("Enter")  # refused: nothing is probed
            p.wait_for("the role ARN: not an IAM role ARN")
            self.assertIn("[Start]", p.screen())
            self.assertEqual(sim.requests(wait_s=0.3), [])
            p.keys("C-u")
            p.type("arn:aws:iam::722000009750:role/eks-node-role")
            screen = p.wait_for(lambda s: "then assume-role:arn:aws:iam::722000009750:role/"
                                "eks-node-role" in flat(s))
            self.assertIn("assumed with the credentials found", screen)
            self.assertNotIn("not an IAM role ARN", screen)
            p.shot("start-settings")
            # the key binding table's help names the new keys
            p.keys("F1")
            screen = p.wait_for("Keys on the Start screen")
            self.assertIn("Shift-Tab", screen)
            p.keys("Escape")
            p.wait_for(lambda s: "Keys on the" not in s)
            p.keys("Escape")
            self.assertEqual(p.wait_exit(), 0)
            self.assert_restored(p)

    def test_profile_field_probes_as_that_profile(self):
        with Simulator(SEED) as sim:
            # No keys in the environment: only the profile written here has any.
            env = sim.env(None)
            node = sim.identity(NODE_B)
            path = env["AWS_SHARED_CREDENTIALS_FILE"]
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write("[node-b]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
                        "aws_session_token = %s\n" % (node.access_key_id,
                                                      node.secret_access_key,
                                                      node.session_token))
            p = self.tui(sim, ["--tui"], identity=None, size=(160, 36))
            screen = p.wait_for("no keys in the environment")
            self.assertIn("profile 'default'", flat(screen))
            p.type(SEED_IMAGE)
            p.wait_for("repository audit/sa/cicd-runner")
            p.keys("Down")  # past the (empty) history: on to the profile
            p.wait_for(lambda s: re.search(r"^ *▶ *profile", s, re.M))
            p.type("node-b")
            screen = p.wait_for("profile:node-b (its role, web identity")
            self.assertIn(path, flat(screen))  # where it will be looked up
            p.keys("Enter")
            screen = p.wait_for("NOT PULLABLE", WAIT_S)
            self.assertIn("REPO_POLICY_NOT_GRANTING", screen)
            self.assertIn(NODE_B_ARN[:40], screen)
            self.assertIn("credentials from profile:node-b", flat(screen))
            self.assertNotIn(node.secret_access_key, screen)
            p.keys("q")
            self.assertEqual(p.wait_exit(), 1)

    def test_platform_field_finds_the_architecture_mismatch(self):
        image = SEED_IMAGE.replace(":latest", ":v1.4.1")  # a linux/amd64-only image
        with Simulator(SEED_FIXED) as sim:
            p = self.tui(sim, ["--tui"])
            p.wait_for("Image reference")
            p.type(image)
            p.wait_for("tag v1.4.1")
            p.keys("BTab")  # backwards round to the last line: the platform
            p.wait_for(lambda s: re.search(r"^ *▶ *platform", s, re.M))
            p.type("linux")
            p.wait_for("not OS/ARCH[/VARIANT], e.g. linux/arm64")
            p.type("/arm64")
            screen = p.wait_for("the node's platform: the image must have it")
            self.assertRegex(screen, r"platform +linux/arm64 +✓")
            p.keys("Enter")
            screen = p.wait_for("ARCH_MISMATCH_AT_RUNTIME", WAIT_S)
            self.assertIn("[Diagnosis]", screen)
            p.keys("s")
            p.wait_for("save the JSON report to")
            p.keys("Enter")
            p.wait_for("report saved")
            with open(os.path.join(self.tmp, "ecrdiag-report.json"), encoding="utf-8") as f:
                report = json.load(f)
            # the pull itself succeeds; the container then fails to start
            self.assertIs(report["verdict"]["pullable"], True)
            self.assertEqual(report["findings"][0]["cause"], "ARCH_MISMATCH_AT_RUNTIME")
            self.assertIn("linux/arm64", report["findings"][0]["summary"])
            p.keys("q")
            self.assertEqual(p.wait_exit(), 0)

    def test_command_line_settings_fill_the_fields(self):
        """--profile, --role-arn, --region and --platform arrive in the fields (main.c hands
        them over in struct tui_options), and the TLS warning of --no-verify-ssl shows."""
        with Simulator(SEED) as sim:
            p = self.tui(sim, ["--tui", "--profile", "ops", "--role-arn",
                               "arn:aws:iam::722000009750:role/eks-node-role", "--region",
                               "eu-west-1", "--platform", "linux/arm64", "--no-verify-ssl"])
            screen = p.wait_for("Image reference")
            self.assertRegex(screen, r"profile +ops +✓")
            self.assertRegex(screen, r"role ARN +arn:aws:iam::722000009750:role/eks-node-role")
            self.assertRegex(screen, r"region +eu-west-1 +✓")
            self.assertRegex(screen, r"platform +linux/arm64 +✓")
            self.assertIn("certificates are not verified", screen)
            self.assertIn("profile:ops", screen)
            p.type(SEED_IMAGE)
            p.wait_for("repository audit/sa/cicd-runner")
            p.keys("Tab", "Tab", "Tab")
            p.wait_for(lambda s: re.search(r"^ *▶ *region", s, re.M))
            # the reference's region is the one ECR answers in, whatever --region says
            p.wait_for("the probe uses ap-southeast-1, the reference's: ECR is regional")
            p.keys("Escape")
            self.assertEqual(p.wait_exit(), 0)

    # -- sizes --

    def test_resize_to_80x24_and_200x60(self):
        with Simulator(SEED) as sim:
            p = self.tui(sim, ["--tui", "--image", SEED_IMAGE])
            p.wait_for("NOT PULLABLE", WAIT_S)
            for width, height in ((80, 24), (200, 60)):
                p.resize(width, height)
                screen = p.wait_for(lambda s, h=height: len(s.splitlines()) == h and
                                    "q quit" in s.splitlines()[-1])
                self.assertIn("NOT PULLABLE", screen)
                self.assertIn("REPO_POLICY_NOT_GRANTING", screen)
                self.assertTrue(all(len(line) <= width for line in screen.splitlines()))
                if width == 80:
                    p.shot("diagnosis-80x24")
                if width == 200:  # wide enough for the whole caller line
                    self.assertIn(NODE_B_ARN + " (credentials from env", screen)
                p.keys("Tab")
                screen = p.wait_for("[1 Statement]")
                self.assertIn("copy (OSC 52)", screen)
                self.assertTrue(all(len(line) <= width for line in screen.splitlines()))
                p.keys("Tab")
                p.wait_for("[Diagnosis]")
            p.resize(50, 14)
            p.wait_for("needs at least")
            p.resize(80, 24)
            p.wait_for("NOT PULLABLE")
            p.keys("?")
            screen = p.wait_for("Keys on the Diagnosis screen")
            self.assertIn("save the JSON report", screen)
            p.shot("help")
            p.keys("Escape")
            p.wait_for(lambda s: "Keys on the" not in s)
            p.keys("q")
            self.assertEqual(p.wait_exit(), 1)
            self.assert_restored(p)

    # -- a probe in flight: live progress, cancel, Ctrl-C --

    def test_probe_screen_shows_progress_while_a_check_runs(self):
        slow = {"service": "ecr", "action": "BatchGetImage", "delay_ms": 2500}
        with Simulator(SEED, faults=[slow]) as sim:
            p = self.tui(sim, ["--tui", "--image", SEED_IMAGE])
            screen = p.wait_for(lambda s: re.search(r"ecr\.BatchGetImage +running", s), WAIT_S,
                                stable=False)
            self.assertIn("[Probe]", screen)
            self.assertRegex(screen, r"✓ +sts\.GetCallerIdentity +pass +\d+")
            self.assertRegex(screen, r"registry\.manifest +waiting")
            p.shot("probe")
            p.keys("?")  # keys work while the probe runs
            p.wait_for("Keys on the Probe screen", stable=False)
            p.keys("Escape")
            p.wait_for("NOT PULLABLE", WAIT_S)
            p.keys("q")
            self.assertEqual(p.wait_exit(), 1)

    def test_cancel_during_a_slow_probe_restores_the_terminal(self):
        with Simulator(SEED, faults=[{"delay_ms": 3000}]) as sim:
            p = self.tui(sim, ["--tui", "--image", SEED_IMAGE])
            p.wait_for(lambda s: re.search(r"sts\.GetCallerIdentity +running", s), WAIT_S,
                       stable=False)
            started = time.monotonic()
            p.keys("q")
            code = p.wait_exit(timeout_s=30)
            self.assertLess(time.monotonic() - started, 20)  # one delayed level, not two
            self.assertEqual(code, 0)  # no diagnosis was completed
            self.assert_restored(p)
            # The API calls run at once; the cancel stops the probe before the registry level.
            reqs = sim.requests(wait_s=0.5)
            self.assertEqual([r for r in reqs if r.get("service") == "registry"], [])
            self.assertLessEqual(len(reqs), 5)

    def test_ctrl_c_during_a_probe_exits_130_and_restores_the_terminal(self):
        with Simulator(SEED, faults=[{"delay_ms": 3000}]) as sim:
            p = self.tui(sim, ["--tui", "--image", SEED_IMAGE])
            p.wait_for(lambda s: re.search(r"sts\.GetCallerIdentity +running", s), WAIT_S,
                       stable=False)
            p.keys("C-c")
            self.assertEqual(p.wait_exit(timeout_s=30), 130)
            self.assert_restored(p)

    # -- what the verdict says when the probing principal is not the pulling one --

    def test_green_result_says_it_is_not_verified_for_the_node_role(self):
        with Simulator(SEED_FIXED) as sim:
            p = self.tui(sim, ["--tui", "--image", SEED_IMAGE])
            screen = p.wait_for("PULLABLE", WAIT_S)
            self.assertNotIn("NOT PULLABLE", screen)
            p.keys("s")
            p.wait_for("save the JSON report to")
            p.keys("Enter")
            p.wait_for("report saved")
            with open(os.path.join(self.tmp, "ecrdiag-report.json"), encoding="utf-8") as f:
                report = json.load(f)
            self.assertIs(report["verdict"]["pullable"], True)
            note = "pullable by %s, not verified for the node role" % NODE_B_ARN
            if report["caller"]["is_pulling_principal"]:
                self.assertNotIn("not verified for the node role", flat(screen))
            else:
                self.assertIn(note, flat(screen))
            p.shot("pullable-as-caller")
            p.keys("Tab")
            p.wait_for("No fix to propose")
            p.keys("q")
            self.assertEqual(p.wait_exit(), 0)

    # -- terminals without colour or UTF-8, and no terminal at all --

    def test_ascii_and_no_color(self):
        with Simulator(SEED) as sim:
            p = self.tui(sim, ["--tui", "--image", SEED_IMAGE], utf8=False,
                         env={"NO_COLOR": "1"})
            screen = p.wait_for("NOT PULLABLE", WAIT_S)
            self.assertTrue(screen.isascii(), screen)
            self.assertRegex(screen, r"\+ sts\.GetCallerIdentity")
            self.assertRegex(screen, r"x ecr\.BatchGetImage")
            self.assertEqual(colour_params(p.screen(escapes=True)), [])
            p.keys("Tab")
            screen = p.wait_for("[1 Statement]")
            self.assertTrue(screen.isascii(), screen)
            p.keys("Tab")
            p.wait_for("[Diagnosis]")

            # the checks pane: another check's evidence, then all of it in the details pager
            # (down the checks pane to registry.ping, however many checks the plan has
            # before it)
            evidence = re.compile(r"Evidence: (\S+)")
            p.keys("Right")
            shown = evidence.search(p.wait_for("Evidence: ecr.BatchGetImage")).group(1)
            for _ in range(16):  # DIAG_MAX_CHECKS: bounded
                p.keys("Down")
                screen = p.wait_for(lambda s, was=shown: evidence.search(s) and
                                    evidence.search(s).group(1) != was)
                shown = evidence.search(screen).group(1)
                if shown == "registry.ping":
                    break
            self.assertEqual(shown, "registry.ping")
            p.keys("Enter")
            screen = p.wait_for("Check registry.ping:")
            self.assertIn("Finding 1 of", screen)
            p.keys("Escape")
            p.wait_for(lambda s: "Check registry.ping:" not in s)

            # re-run: the same probe again, as many requests as the first time
            first = len(sim.requests(wait_s=0.3))
            p.keys("r")
            deadline = time.monotonic() + WAIT_S
            while len(sim.requests()) < 2 * first and time.monotonic() < deadline:
                time.sleep(POLL_S)
            self.assertEqual(len(sim.requests(wait_s=0.3)), 2 * first)
            p.wait_for("NOT PULLABLE", WAIT_S)

            # a new image: back to the start screen with the reference to edit
            p.keys("n")
            screen = p.wait_for("[Start]")
            self.assertIn(SEED_IMAGE, screen)
            p.keys("Escape")
            self.assertEqual(p.wait_exit(), 1)
            self.assert_restored(p)

    def test_without_a_terminal_prints_usage_and_exits_2(self):
        for args in (["--tui"], []):
            run = subprocess.run([BIN] + args, stdin=subprocess.DEVNULL, capture_output=True,
                                 text=True, timeout=30)
            self.assertEqual(run.returncode, 2, args)
            self.assertIn("usage", run.stderr.lower(), args)
            self.assertEqual(run.stdout, "", args)  # nothing drawn


if __name__ == "__main__":
    unittest.main()
