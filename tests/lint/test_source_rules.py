#!/usr/bin/env python3
"""Source rules from the house style that a compiler does not check: no unbounded string
functions (strcpy, strcat, sprintf, strtok, atoi, sscanf) and a paragraph at the top of every
C file. Runs over src/, include/ and tests/unit/."""
import os
import re
import sys
import unittest

ROOT = os.environ.get("ECRDIAG_ROOT") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BANNED = re.compile(r"(?<![\w.>])(strcpy|strcat|sprintf|vsprintf|strtok|atoi|atol|sscanf|gets)\s*\(")
COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
STRING = re.compile(r'"(?:\\.|[^"\\])*"')


def c_files():
    for top in ("src", "include", os.path.join("tests", "unit")):
        for dirpath, _, names in os.walk(os.path.join(ROOT, top)):
            for n in sorted(names):
                if n.endswith((".c", ".h")):
                    yield os.path.join(dirpath, n)


class SourceRules(unittest.TestCase):
    def test_no_banned_functions(self):
        found = []
        for path in c_files():
            text = open(path, encoding="utf-8").read()
            code = STRING.sub('""', COMMENT.sub(" ", text))
            for m in BANNED.finditer(code):
                line = code.count("\n", 0, m.start()) + 1
                found.append(f"{os.path.relpath(path, ROOT)}:{line}: {m.group(1)}()")
        self.assertEqual(found, [], "banned functions (use struct buf / strtol / snprintf):\n"
                         + "\n".join(found))

    def test_detector_catches_a_banned_call(self):
        # The rule must be able to fail: a known-bad line is caught, a bounded one is not.
        self.assertTrue(BANNED.search("  sprintf(out, \"%d\", x);"))
        self.assertFalse(BANNED.search("  snprintf(out, n, \"%d\", x);"))
        self.assertFalse(BANNED.search("  buf_printf(&b, \"%d\", x);"))

    def test_every_file_opens_with_a_paragraph(self):
        missing = [os.path.relpath(p, ROOT) for p in c_files()
                   if not open(p, encoding="utf-8").read().lstrip().startswith("/*")]
        self.assertEqual(missing, [], "files without an opening comment: " + ", ".join(missing))


if __name__ == "__main__":
    unittest.main()
