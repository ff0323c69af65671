#!/usr/bin/env python3
"""The C sources follow .clang-format (the house format): clang-format changes nothing in
them. Skips with a message where clang-format is not installed."""
import os
import shutil
import subprocess
import unittest

ROOT = os.environ.get("ECRDIAG_ROOT") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
CLANG_FORMAT = shutil.which("clang-format")


def c_files():
    out = []
    for top in ("src", "include", "tests", "scripts"):
        for dirpath, _, names in os.walk(os.path.join(ROOT, top)):
            out += [os.path.join(dirpath, n) for n in sorted(names) if n.endswith((".c", ".h"))]
    return out


@unittest.skipUnless(CLANG_FORMAT, "clang-format is not installed: the format is not checked")
class Format(unittest.TestCase):
    def test_sources_are_formatted(self):
        files = c_files()
        self.assertGreater(len(files), 20)
        p = subprocess.run([CLANG_FORMAT, "--dry-run", "-Werror", "--style=file"] + files,
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
        self.assertEqual(p.returncode, 0, "run clang-format -i on:\n" + p.stderr[-3000:])

    def test_check_can_fail(self):
        p = subprocess.run([CLANG_FORMAT, "--dry-run", "-Werror", "--style=file",
                            "--assume-filename=x.c"], input="int  main( ){return 0;}\n",
                           cwd=ROOT, capture_output=True, text=True, timeout=60)
        self.assertNotEqual(p.returncode, 0)


if __name__ == "__main__":
    unittest.main()
