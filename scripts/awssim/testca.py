"""A throw-away certificate authority for the simulator's HTTPS mode, made at run time with
the `openssl` command (Python's ssl module can load certificates but not make them): a CA,
and a server certificate it signs whose subjectAltName lists the AWS host names a client of
the scenario uses, so clients verify real names over SNI against a CA they are told to trust.

Standard library and the openssl binary only; knows the scenario model, nothing of the server.
Keys are written 0600 into a directory the caller owns and removes; they are never printed.
"""

import os
import secrets
import subprocess
import sys

import scenario as scenario_mod

VALID_DAYS = 30
CURVE = "P-256"  # EC keys: generated in milliseconds, accepted by libcurl, Python and botocore


class CaError(RuntimeError):
    """openssl failed (its stderr, which never holds key material, is in the message)."""


def _openssl(args, cwd):
    try:
        p = subprocess.run(["openssl"] + args, cwd=cwd, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except OSError as e:
        raise CaError("cannot run openssl: %s" % e)
    if p.returncode != 0:
        raise CaError("openssl %s failed: %s" % (args[0], p.stderr.strip()))


def _write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def _subject(text):
    # -subj takes /CN=...; our names never hold '/', '=' or ','.
    return "/CN=" + text


def make_ca(directory, name="awssim test CA"):
    """A self-signed CA in directory: returns (cert_path, key_path), named after name."""
    stem = os.path.join(directory, name.replace(" ", "-"))
    cnf = stem + ".cnf"
    _write(cnf, "[req]\ndistinguished_name = dn\n[dn]\n[v3_ca]\n"
                "basicConstraints = critical,CA:TRUE\n"
                "keyUsage = critical,keyCertSign,cRLSign\n"
                "subjectKeyIdentifier = hash\n")
    cert, key = stem + ".pem", stem + ".key"
    _openssl(["req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:" + CURVE,
              "-nodes", "-keyout", key, "-out", cert, "-days", str(VALID_DAYS),
              "-subj", _subject("%s %s" % (name, secrets.token_hex(4))),
              "-config", cnf, "-extensions", "v3_ca"], directory)
    os.chmod(key, 0o600)
    return cert, key


def make_server_cert(directory, ca, hosts, name="awssim"):
    """A server certificate signed by ca (cert_path, key_path) for hosts (DNS names; dotted
    quads become IP entries): returns (cert_path, key_path). The subject's CN is not a host
    name, so clients match on subjectAltName alone, as RFC 6125 has them do."""
    if not hosts:
        raise CaError("a server certificate needs at least one host")
    stem = os.path.join(directory, name)
    alt = []
    for i, h in enumerate(hosts, 1):
        kind = "IP" if h.replace(".", "").isdigit() else "DNS"
        alt.append("%s.%d = %s" % (kind, i, h))
    cnf = stem + ".cnf"
    _write(cnf, "[req]\ndistinguished_name = dn\n[dn]\n[v3_srv]\n"
                "basicConstraints = critical,CA:FALSE\n"
                "keyUsage = critical,digitalSignature\n"
                "extendedKeyUsage = serverAuth\n"
                "subjectKeyIdentifier = hash\n"
                "authorityKeyIdentifier = keyid:always\n"
                "subjectAltName = @alt\n[alt]\n" + "\n".join(alt) + "\n")
    cert, key, csr = stem + ".pem", stem + ".key", stem + ".csr"
    _openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:" + CURVE,
              "-nodes", "-keyout", key, "-out", csr, "-subj", _subject(name),
              "-config", cnf], directory)
    os.chmod(key, 0o600)
    _openssl(["x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1],
              "-set_serial", "0x" + secrets.token_hex(8), "-days", str(VALID_DAYS),
              "-out", cert, "-extfile", cnf, "-extensions", "v3_srv"], directory)
    os.remove(csr)
    return cert, key


def scenario_regions(scen, extra=()):
    """Every region a client of the scenario may talk to, sorted: the default region, the
    regions of its repositories, identities and roles, us-east-1 (global STS and
    Organizations live there) and extra."""
    regions = {scen.default_region, "us-east-1"} | set(extra)
    regions.update(r for (_, r, _) in scen.repositories)
    regions.update(i.region for i in scen.identities.values() if i.region)
    regions.update(r.region for r in scen.roles.values() if getattr(r, "region", None))
    return sorted(regions)


def layer_host(region):
    """The S3 host ECR's pre-signed layer URLs name, virtual-hosted style:
    https://prod-REGION-starport-layer-bucket.s3.REGION.amazonaws.com/KEY?X-Amz-... (the AWS
    CLI reference's `aws ecr get-download-url-for-layer` example shows
    prod-us-west-2-starport-layer-bucket.s3.us-west-2.amazonaws.com; the ECR VPC endpoint
    guide, awsdocs/amazon-ecr-user-guide#24 and #8 name the same bucket)."""
    return "prod-%s-starport-layer-bucket.s3.%s.%s" % (region, region,
                                                        scenario_mod.dns_suffix(region))


def scenario_hosts(scen, extra_regions=()):
    """The AWS host names a client of the scenario uses, in a stable order: per region STS,
    the ECR API (api.ecr. and the older ecr.), the IAM Identity Center portal, each account's
    registry and the layer bucket; then global STS and Organizations (us-east-1 only)."""
    accounts = sorted(set(scen.accounts) | {a for (a, _, _) in scen.repositories})
    out = []
    for region in scenario_regions(scen, extra_regions):
        sfx = scenario_mod.dns_suffix(region)
        out += ["sts.%s.%s" % (region, sfx), "api.ecr.%s.%s" % (region, sfx),
                "ecr.%s.%s" % (region, sfx), "portal.sso.%s.%s" % (region, sfx)]
        out += ["%s.dkr.ecr.%s.%s" % (a, region, sfx) for a in accounts]
        out.append(layer_host(region))
    out += ["organizations.us-east-1.amazonaws.com", "sts.amazonaws.com"]
    return out


class TestPki:
    """The CA and server certificate for one simulator run, in directory (which the caller
    removes). omit_hosts are left out of the certificate (a name mismatch for clients of
    those hosts); untrusted has a second CA sign it, so a client trusting ca_cert refuses it."""

    def __init__(self, directory, hosts, omit_hosts=(), untrusted=False):
        os.makedirs(directory, mode=0o700, exist_ok=True)
        self.directory = directory
        self.ca_cert, ca_key = make_ca(directory)
        signer = (self.ca_cert, ca_key)
        if untrusted:
            signer = make_ca(directory, "awssim untrusted CA")
        missing = set(omit_hosts) - set(hosts)
        if missing:
            raise CaError("cannot omit hosts the certificate would not hold: %s"
                          % ", ".join(sorted(missing)))
        self.hosts = [h for h in hosts if h not in set(omit_hosts)]
        self.cert, self.key = make_server_cert(directory, signer,
                                               self.hosts + ["localhost", "127.0.0.1"])


def _main(argv):
    """Shell use: `testca.py DIR SCENARIO` makes the CA and server certificate in DIR for the
    scenario and prints the paths as shell assignments (AWSSIM_CA, AWSSIM_TLS_CERT,
    AWSSIM_TLS_KEY): the caller removes DIR."""
    import shlex
    if len(argv) != 2:
        print("usage: testca.py DIR SCENARIO", file=sys.stderr)
        return 2
    try:
        scen = scenario_mod.load(argv[1])
        pki = TestPki(argv[0], scenario_hosts(scen))
    except (scenario_mod.ScenarioError, CaError, OSError) as e:
        print("testca.py: %s" % e, file=sys.stderr)
        return 2
    for k, v in (("AWSSIM_CA", pki.ca_cert), ("AWSSIM_TLS_CERT", pki.cert),
                 ("AWSSIM_TLS_KEY", pki.key)):
        print("%s=%s" % (k, shlex.quote(os.path.abspath(v))))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
