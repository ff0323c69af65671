"""The simulator's SigV4 code against the AWS SigV4 test suite (aws-c-auth, copied to
shared/protocol/sigv4): for every case, header signing, every stage (canonical request,
string to sign, signature) from request.txt, and verification of header-signed-request.txt.
Skips when the suite is not on this machine.
"""

import json
import os
import sys
import unittest

ROOT = os.environ.get("ECRDIAG_ROOT") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts", "awssim"))

import shapes  # noqa: E402
import sigv4  # noqa: E402

PROTO = shapes.protocol_dir()
SUITE = os.path.join(PROTO, "sigv4") if PROTO else None
HAVE_SUITE = bool(SUITE and os.path.isdir(SUITE))


def parse_http(text):
    """(method, path, query, header pairs, body) of a suite request file.

    Lines starting with whitespace continue the previous header (get-header-value-multiline).
    """
    head, _, body = text.partition("\n\n")
    lines = head.split("\n")
    method, rest = lines[0].split(" ", 1)
    target = rest.rsplit(" ", 1)[0]
    path, _, query = target.partition("?")
    pairs = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and pairs:
            pairs[-1] = (pairs[-1][0], pairs[-1][1] + "\n" + line)
        elif line:
            name, _, value = line.partition(":")
            pairs.append((name, value))
    return method, path, query, pairs, body.encode("utf-8")


def cases():
    for name in sorted(os.listdir(SUITE)):
        d = os.path.join(SUITE, name)
        if os.path.isfile(os.path.join(d, "context.json")):
            yield name, d


def read(d, f):
    with open(os.path.join(d, f), encoding="utf-8") as fh:
        return fh.read()


@unittest.skipUnless(HAVE_SUITE, "SigV4 suite (shared/protocol/sigv4) not found")
class SigV4Suite(unittest.TestCase):
    def test_suite_is_complete(self):
        names = [n for n, _ in cases()]
        self.assertGreaterEqual(len(names), 30, names)

    def test_every_stage_from_unsigned_request(self):
        """Sign request.txt as the suite's context says and compare every stage."""
        for name, d in cases():
            with self.subTest(case=name):
                ctx = json.loads(read(d, "context.json"))
                method, path, query, pairs, body = parse_http(read(d, "request.txt"))
                amz_date = ctx["timestamp"].replace("-", "").replace(":", "")
                pairs.append(("X-Amz-Date", amz_date))
                creds = ctx["credentials"]
                if creds.get("token") and not ctx.get("omit_session_token"):
                    pairs.append(("X-Amz-Security-Token", creds["token"]))
                if ctx.get("sign_body"):
                    pairs.append(("X-Amz-Content-Sha256", sigv4.sha256_hex(body)))
                names = sorted({n.strip().lower() for n, _ in pairs})
                scope = "%s/%s/%s/aws4_request" % (amz_date[:8], ctx["region"], ctx["service"])
                st = sigv4.compute(method, path, query, pairs, body, names, amz_date, scope,
                                   creds["secret_access_key"], ctx["normalize"])
                self.assertEqual(st["canonical_request"], read(d, "header-canonical-request.txt"))
                self.assertEqual(st["string_to_sign"], read(d, "header-string-to-sign.txt"))
                self.assertEqual(st["signature"], read(d, "header-signature.txt").strip())

    def test_verifier_accepts_signed_requests(self):
        for name, d in cases():
            with self.subTest(case=name):
                ctx = json.loads(read(d, "context.json"))
                method, path, query, pairs, body = parse_http(read(d, "header-signed-request.txt"))
                auth = sigv4.parse_authorization(dict((n.lower(), v) for n, v in pairs)["authorization"])
                self.assertEqual(auth["access_key"], ctx["credentials"]["access_key_id"])
                ok, st = sigv4.verify(method, path, query, pairs, body, auth,
                                      ctx["credentials"]["secret_access_key"], ctx["normalize"])
                self.assertTrue(ok, name)
                self.assertEqual(st["canonical_request"], read(d, "header-canonical-request.txt"))

    def test_verifier_refuses_wrong_secret_and_tampering(self):
        for name, d in cases():
            with self.subTest(case=name):
                ctx = json.loads(read(d, "context.json"))
                method, path, query, pairs, body = parse_http(read(d, "header-signed-request.txt"))
                auth = sigv4.parse_authorization(dict((n.lower(), v) for n, v in pairs)["authorization"])
                secret = ctx["credentials"]["secret_access_key"]
                ok, _ = sigv4.verify(method, path, query, pairs, body, auth, secret[:-1] + "X",
                                     ctx["normalize"])
                self.assertFalse(ok)
                ok, _ = sigv4.verify("PUT" if method != "PUT" else "GET", path, query, pairs,
                                     body, auth, secret, ctx["normalize"])
                self.assertFalse(ok)


class SigV4Units(unittest.TestCase):
    def test_sign_then_verify_round_trip(self):
        headers = sigv4.sign("POST", "http://127.0.0.1:9/", {"Content-Type": "application/x-amz-json-1.1",
                             "X-Amz-Target": "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"},
                             b"{}", "AKIDEXAMPLE", "secret/xyz", "ap-southeast-1", "ecr", "tok", 1700000000)
        auth = sigv4.parse_authorization(headers["Authorization"])
        self.assertEqual(auth["scope"], "20231114/ap-southeast-1/ecr/aws4_request")
        self.assertIn("x-amz-security-token", auth["signed_headers"])
        ok, _ = sigv4.verify("POST", "/", "", list(headers.items()), b"{}", auth, "secret/xyz")
        self.assertTrue(ok)
        ok, _ = sigv4.verify("POST", "/", "", list(headers.items()), b"{ }", auth, "secret/xyz")
        self.assertFalse(ok, "a changed body must break the signature")

    def test_incomplete_headers_are_refused(self):
        for bad in ("", "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA256 Credential=AK/2015/us-east-1/ecr/aws4_request",
                    "AWS4-HMAC-SHA256 Credential=AK/x, SignedHeaders=host, Signature=00",
                    "Basic abc", "AWS4-HMAC-SHA256 Credential"):
            with self.subTest(header=bad):
                with self.assertRaises(sigv4.AuthHeaderError):
                    sigv4.parse_authorization(bad)

    def test_path_normalisation(self):
        self.assertEqual(sigv4.canonical_uri("/a/./b/../c//d/"), "/a/c/d/")
        self.assertEqual(sigv4.canonical_uri("/a%20b"), "/a%2520b")  # encoded twice
        self.assertEqual(sigv4.canonical_uri("//x//", normalize=False), "//x//")
        self.assertEqual(sigv4.canonical_query("b=2&a=1&a=0&c"), "a=0&a=1&b=2&c=")


if __name__ == "__main__":
    unittest.main()
