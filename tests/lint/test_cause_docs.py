#!/usr/bin/env python3
"""The cause catalogue and its documentation agree: every row of the CAUSES table in
include/ecrdiag/causes.h has docs/causes/ID.md, no page names an id the table lacks, each
page's header block states the table's class, exit code, precedence and title, each page has
the required sections in order, and docs/causes/README.md indexes every id with the same
class, exit code and title. Standard library only; run as `python3 FILE` (ECRDIAG_ROOT)."""
import os
import re
import unittest

ROOT = os.environ.get("ECRDIAG_ROOT") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
CAUSES_H = os.path.join(ROOT, "include", "ecrdiag", "causes.h")
CAUSES_C = os.path.join(ROOT, "src", "diag", "causes.c")
DOCS = os.path.join(ROOT, "docs", "causes")
INDEX = os.path.join(DOCS, "README.md")

# The exit code a primary finding of each class gives (README.md, cause_class_exit_code()).
EXIT_CODES = {"pull": 1, "input": 2, "tool": 3, "warning": 0}
SECTIONS = ["What it means", "How ecrdiag detects it", "The kubelet's message", "The fix",
            "AWS documentation"]

ROW = re.compile(r'\bX\(\s*([A-Z][A-Z0-9_]*)\s*,\s*([A-Z]+)\s*,\s*(-?\d+)\s*,\s*'
                 r'"((?:[^"\\]|\\.)*)"\s*\)')
X_CALL = re.compile(r'\bX\(')
LINK = re.compile(r'\]\((https?://[^)\s]+)\)|<(https?://[^>\s]+)>')


def strip_c_comments(text):
    return re.sub(r"/\*.*?\*/|//[^\n]*", " ", text, flags=re.S)


def parse_causes(text):
    """The rows of the CAUSES(X) macro as a list of (id, class, precedence, title), classes in
    lower case. Raises ValueError when the macro is missing or a row cannot be read, so that a
    change of format fails loudly instead of shrinking the table."""
    m = re.search(r"#\s*define\s+CAUSES\(X\)((?:[^\n]*\\\n)*[^\n]*)", text)
    if not m:
        raise ValueError("no `#define CAUSES(X)` in causes.h")
    body = strip_c_comments(m.group(1).replace("\\\n", " "))
    rows = [(i, c.lower(), int(p), re.sub(r"\\(.)", r"\1", t))
            for i, c, p, t in ROW.findall(body)]
    calls = len(X_CALL.findall(body))
    if calls != len(rows):
        raise ValueError(f"the CAUSES macro has {calls} X(...) rows but only {len(rows)} "
                         "could be read as X(ID, CLASS, precedence, \"title\")")
    return rows


def capitalised(title):
    return title[:1].upper() + title[1:]


def check_page(cause_id, cls, prec, title, text):
    """Every way the page text disagrees with its table row, as a list of sentences."""
    errs = []
    lines = text.splitlines()
    if not lines or lines[0].strip() != f"# {cause_id}":
        errs.append(f"first line must be '# {cause_id}'")
    # The header block: the first table after the title, then the bold title sentence.
    head = re.search(r"^\|\s*class\s*\|\s*exit code\s*\|\s*precedence\s*\|\s*\n"
                     r"\|[-\s|:]+\|\s*\n"
                     r"\|\s*([^|]*?)\s*\|\s*([^|]*?)\s*\|\s*([^|]*?)\s*\|\s*$", text, re.M)
    if not head:
        errs.append("no header table '| class | exit code | precedence |' with one row")
    else:
        h_cls, h_exit, h_prec = head.groups()
        if h_cls != cls:
            errs.append(f"header class is '{h_cls}', the table says '{cls}'")
        if h_exit != str(EXIT_CODES[cls]):
            errs.append(f"header exit code is '{h_exit}', class {cls} gives {EXIT_CODES[cls]}")
        if h_prec != str(prec):
            errs.append(f"header precedence is '{h_prec}', the table says {prec}")
        first_section = text.find("\n## ")
        if first_section != -1 and head.start() > first_section:
            errs.append("the header table must come before the first section")
    want_title = f"**{capitalised(title)}.**"
    if want_title not in text.split("\n## ", 1)[0]:
        errs.append(f"the header block lacks the title sentence {want_title}")
    # Sections: each exactly once, in order, with some text under it.
    found = re.findall(r"^## (.+?)\s*$", text, re.M)
    for name in SECTIONS:
        n = found.count(name)
        if n != 1:
            errs.append(f"section '## {name}' appears {n} times (want 1)")
    present = [s for s in found if s in SECTIONS]
    if present == [s for s in SECTIONS if s in present] and len(present) == len(SECTIONS):
        parts = re.split(r"^## .+?\s*$", text, flags=re.M)[1:]
        bodies = dict(zip(found, parts))
        for name in SECTIONS:
            if not bodies.get(name, "").strip():
                errs.append(f"section '## {name}' is empty")
        if not LINK.search(bodies.get("AWS documentation", "")):
            errs.append("section '## AWS documentation' has no link")
    elif len(present) == len(SECTIONS):
        errs.append("sections are out of order; want: " + ", ".join(SECTIONS))
    return errs


def parse_index(text):
    """The index rows as {id: (class, exit code, title)}; ids listed twice map to None."""
    rows = {}
    for m in re.finditer(r"^\|\s*\[([A-Z][A-Z0-9_]*)\]\(\1\.md\)\s*\|\s*([^|]*?)\s*\|"
                         r"\s*([^|]*?)\s*\|\s*([^|]*?)\s*\|\s*$", text, re.M):
        cid, cls, code, title = m.groups()
        rows[cid] = None if cid in rows else (cls, code, title)
    return rows


def check_index(table, text):
    errs = []
    rows = parse_index(text)
    for cid, cls, _prec, title in table:
        if cid not in rows:
            errs.append(f"{cid} is not in the index")
        elif rows[cid] is None:
            errs.append(f"{cid} is listed more than once")
        elif rows[cid] != (cls, str(EXIT_CODES[cls]), capitalised(title)):
            errs.append(f"{cid}: index says {rows[cid]}, the table says "
                        f"{(cls, str(EXIT_CODES[cls]), capitalised(title))}")
    ids = {r[0] for r in table}
    errs += [f"the index lists {cid}, which the table lacks" for cid in rows if cid not in ids]
    return errs


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


class CauseDocs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.table = parse_causes(read(CAUSES_H))

    def test_parser_reads_the_whole_table(self):
        # Guards against a vacuous pass: a parser that finds nothing would check nothing.
        ids = [r[0] for r in self.table]
        self.assertGreaterEqual(len(ids), 40, "suspiciously few CAUSES rows parsed")
        for known in ("REPO_POLICY_NOT_GRANTING", "IMAGE_REF_INVALID", "UNKNOWN"):
            self.assertIn(known, ids)
        self.assertEqual(len(ids), len(set(ids)), "duplicate ids in the CAUSES table")
        bad = [r for r in self.table if r[1] not in EXIT_CODES]
        self.assertEqual(bad, [], "rows with a class other than " + ", ".join(EXIT_CODES))

    def test_parser_and_checks_can_fail(self):
        sample = ('#define CAUSES(X) \\\n  X(A_B, PULL, 5, "a \\"quoted\\" title") \\\n'
                  '  X(C, WARNING, 7, "c")\n#define OTHER X(D, PULL, 1, "d")\n')
        self.assertEqual(parse_causes(sample),
                         [("A_B", "pull", 5, 'a "quoted" title'), ("C", "warning", 7, "c")])
        with self.assertRaises(ValueError):
            parse_causes('#define CAUSES(X) \\\n  X(A, PULL, 5, "a") \\\n  X(B, PULL, "b")\n')
        good = ("# C\n\n| class | exit code | precedence |\n|---|---|---|\n| warning | 0 | 7 |\n"
                "\n**C.**\n\n" + "".join(f"## {s}\n\ntext [x](https://docs.aws.amazon.com/)\n\n"
                                         for s in SECTIONS))
        self.assertEqual(check_page("C", "warning", 7, "c", good), [])
        self.assertTrue(check_page("C", "pull", 7, "c", good))       # wrong class
        self.assertTrue(check_page("C", "warning", 8, "c", good))    # wrong precedence
        self.assertTrue(check_page("C", "warning", 7, "d", good))    # wrong title
        self.assertTrue(check_page("C", "warning", 7, "c", good.replace("## The fix", "## Fix")))
        index = "| id | class | exit code | title |\n|---|---|---|---|\n| [C](C.md) | warning | 0 | C |\n"
        self.assertEqual(check_index([("C", "warning", 7, "c")], index), [])
        self.assertTrue(check_index([("C", "pull", 7, "c")], index))
        self.assertTrue(check_index([("C", "warning", 7, "c"), ("E", "pull", 1, "e")], index))
        self.assertTrue(check_index([], index))

    def test_exit_codes_match_the_code(self):
        try:
            src = strip_c_comments(read(CAUSES_C))
        except OSError:
            self.skipTest("src/diag/causes.c not found")
        fn = re.search(r"cause_class_exit_code\s*\([^)]*\)\s*\{(.*?)\n\}", src, re.S)
        cases = dict(re.findall(r"case\s+CAUSE_CLASS_([A-Z]+)\s*:\s*return\s+(\d+)\s*;",
                                fn.group(1) if fn else ""))
        if len(cases) != len(EXIT_CODES):
            self.skipTest("cause_class_exit_code() is not a plain switch any more")
        self.assertEqual({k.lower(): int(v) for k, v in cases.items()}, EXIT_CODES)

    def test_every_id_has_its_page(self):
        missing = [r[0] for r in self.table
                   if not os.path.isfile(os.path.join(DOCS, r[0] + ".md"))]
        self.assertEqual(missing, [], "ids without docs/causes/ID.md")

    def test_no_orphan_pages(self):
        ids = {r[0] for r in self.table}
        pages = sorted(n[:-3] for n in os.listdir(DOCS)
                       if n.endswith(".md") and n != "README.md")
        self.assertEqual([p for p in pages if p not in ids], [],
                         "pages naming no id of the CAUSES table")

    def test_pages_agree_with_the_table(self):
        errs = []
        for cid, cls, prec, title in self.table:
            path = os.path.join(DOCS, cid + ".md")
            if os.path.isfile(path):
                errs += [f"{cid}.md: {e}" for e in check_page(cid, cls, prec, title, read(path))]
        self.assertEqual(errs, [], "\n".join(errs))

    def test_index_lists_every_id(self):
        self.assertTrue(os.path.isfile(INDEX), "docs/causes/README.md is missing")
        errs = check_index(self.table, read(INDEX))
        self.assertEqual(errs, [], "\n".join(errs))


if __name__ == "__main__":
    unittest.main()
