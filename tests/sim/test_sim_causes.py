"""Failure causes the simulator plays beyond plain IAM: resource control policies, VPC endpoint
policies, KMS keys ECR cannot use, pull through cache rules, opt-in regions, and the registry
policy operations with their scope (V1/V2). Every case makes real signed requests (or registry
requests with a real token) and checks status, error code and exact text; sources of the texts
are next to them in scripts/awssim/awsapi.py, registry_v2.py and server.py.
"""

import json
import os
import sys
import tempfile
import unittest
import urllib.parse

ROOT = os.environ.get("ECRDIAG_ROOT") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts", "awssim"))

import harness  # noqa: E402
import scenario as S  # noqa: E402
import shapes  # noqa: E402
from harness import Simulator, api_parsed, basic_auth, http, registry_password  # noqa: E402

try:
    import botocore.exceptions
    HAVE_BOTO = True
except ImportError:
    HAVE_BOTO = False

A, B, C, MGMT = "632000001762", "722000009750", "833000004321", "100000000001"
REGION = "ap-southeast-1"
REPO = "audit/sa/cicd-runner"


def arn(account, name, region=REGION):
    return "arn:aws:ecr:%s:%s:repository/%s" % (region, account, name)


REPO_ARN = arn(A, REPO)
SESS_B = "arn:aws:sts::%s:assumed-role/eks-node-role/i-0b1c2d3e4f5a6b7c8" % B
SESS_C = "arn:aws:sts::%s:assumed-role/eks-node-role/i-0c9d8e7f6a5b4c3d2" % C
ADMIN_A = "arn:aws:iam::%s:user/registry-admin" % A
READER_A = "arn:aws:iam::%s:user/reader" % A
PULL = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
IMAGE = {"tags": ["latest"], "platforms": ["linux/amd64"], "pushed_at": "2024-06-01T08:00:00Z"}
MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json"])
MODEL = shapes.load_model("ecr")
CHECKER = shapes.ShapeChecker(MODEL) if MODEL else None


def denied(who, action, resource, tail):
    """IAM's text; tail None for the bare form AWS gives across organizations."""
    head = "User: %s is not authorized to perform: %s on resource: %s" % (who, action, resource)
    return head if tail is None else "%s %s" % (head, tail)


def no_allow(kind, action):
    return "because no %s policy allows the %s action" % (kind, action)


def explicit(kind):
    return "with an explicit deny in a %s policy" % kind


def user(name, account, key, policies=None, **extra):
    spec = {"arn": "arn:aws:iam::%s:user/%s" % (account, name), "access_key_id": key,
            "secret_access_key": "AwsSimFakeSecret/%s/%s" % (name, "0" * 20),
            "policies": policies or {}}
    spec.update(extra)
    return spec


def allow_all(action="ecr:*"):
    return {"all": {"Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]}}


READER = user("reader", A, "AKIASIMAREADER000001", managed_policies=["AmazonEC2ContainerRegistryReadOnly"])


def grant(*principals, actions=PULL):
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "Pull", "Effect": "Allow", "Principal": {"AWS": list(principals)}, "Action": actions}]}


class Base(unittest.TestCase):
    """Helpers shared by the cases below."""

    def ecr(self, sim, who, op, params=None, region=None):
        status, obj, err = api_parsed(sim, who, "ecr", op, params or {}, region=region)
        if CHECKER and err is None:
            self.assertEqual(CHECKER.check_output(op, obj), [], obj)
        return status, obj, err

    def assertEcrError(self, answer, code, message, status=400):
        st, obj, err = answer
        self.assertEqual(st, status, obj)
        self.assertEqual(err, (code, message))
        if CHECKER:
            self.assertEqual(CHECKER.check_error(code, obj), [])

    def assertDenied(self, answer, message):
        self.assertEcrError(answer, "AccessDeniedException", message)

    def registry(self, sim, who, path, account=A, region=REGION, method="GET", password=None):
        pw = password or registry_password(sim, who, region)
        headers = {"Host": sim.registry_host(account, region), "Authorization": basic_auth(pw),
                   "Accept": MANIFEST_TYPES}
        return http(sim, method, path, headers)

    def assertDist(self, resp, status, code, message):
        st, headers, body = resp
        self.assertEqual(st, status, body)
        if body:
            self.assertEqual(json.loads(body)["errors"][0], {"code": code, "message": message})

    def batch_get(self, sim, who, name, tag="latest", registry=A):
        return self.ecr(sim, who, "BatchGetImage", {"registryId": registry, "repositoryName": name,
                                                    "imageIds": [{"imageTag": tag}]})

    def follow(self, sim, location):
        url = urllib.parse.urlsplit(location)
        return http(sim, "GET", url.path + "?" + url.query, {"Host": url.netloc})


# ---- 1. resource control policies ----

DENY_OUTSIDE_ORG = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "OrgOnly", "Effect": "Deny", "Principal": "*", "Action": "ecr:*",
                   "Resource": "*",
                   "Condition": {"StringNotEqualsIfExists": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"},
                                 "BoolIfExists": {"aws:PrincipalIsAWSService": "false"}}}]}
ONLY_DESCRIBE = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": "*", "Action": "ecr:DescribeImages", "Resource": "*"}]}


def rcp_scenario(**org):
    base = {"policies": {"DenyOutsideOrg": DENY_OUTSIDE_ORG, "OnlyDescribe": ONLY_DESCRIBE}}
    base.update(org)
    return {
        "extends": "seed.json",
        "organization": base,
        "repositories": {
            "%s/%s/%s" % (A, REGION, REPO): {"policy": grant("arn:aws:iam::%s:root" % B,
                                                            "arn:aws:iam::%s:root" % C)},
            "%s/%s/mgmt/tools" % (MGMT, REGION): {"policy": grant("arn:aws:iam::%s:root" % C),
                                                  "images": [IMAGE]},
        },
    }


class ResourceControlPolicies(Base):
    @classmethod
    def setUpClass(cls):
        cls.sim = Simulator(rcp_scenario(rcps_enabled=True, root={
            "ous": {"shared": {"rcps": ["DenyOutsideOrg"]}}})).start()

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def test_deny_in_rcp_stops_outsider_despite_repository_policy(self):
        # C is outside the organization: the text names no policy type.
        self.assertDenied(self.batch_get(self.sim, "eks-node-c", REPO), denied(
            SESS_C, "ecr:BatchGetImage", REPO_ARN, None))
        st, _, body = self.registry(self.sim, "eks-node-c", "/v2/%s/manifests/latest" % REPO)
        self.assertEqual(st, 403)
        self.assertEqual(json.loads(body)["errors"][0], {"code": "DENIED", "message": denied(
            SESS_C, "ecr:BatchGetImage", REPO_ARN, None)})

    def test_member_of_the_organization_passes(self):
        st, obj, err = self.batch_get(self.sim, "eks-node-b", REPO)
        self.assertEqual((st, err), (200, None))
        self.assertEqual(len(obj["images"]), 1)

    def test_management_account_resources_are_exempt(self):
        st, obj, err = self.batch_get(self.sim, "eks-node-c", "mgmt/tools", registry=MGMT)
        self.assertEqual((st, err, len(obj["images"])), (200, None, 1))

    def test_same_account_caller(self):
        # The RCP Deny applies to same-account callers too; the admin is in the organization.
        st, _, err = self.batch_get(self.sim, "registry-admin-a", REPO)
        self.assertEqual((st, err), (200, None))


class RcpWithoutAllow(Base):
    def test_no_allow_at_the_account_level(self):
        # RCPs listed without rcps_enabled: the account level holds only OnlyDescribe.
        with Simulator(rcp_scenario(account_rcps={A: ["OnlyDescribe"]})) as sim:
            self.assertDenied(self.batch_get(sim, "registry-admin-a", REPO), denied(
                ADMIN_A, "ecr:BatchGetImage", REPO_ARN, no_allow("resource control", "ecr:BatchGetImage")))
            st, _, err = self.ecr(sim, "registry-admin-a", "DescribeImages", {"repositoryName": REPO})
            self.assertEqual((st, err), (200, None))
            # Actions without a resource (the token) are not under RCPs.
            st, _, err = self.ecr(sim, "registry-admin-a", "GetAuthorizationToken")
            self.assertEqual((st, err), (200, None))

    def test_rcps_enabled_keeps_rcpfullawsaccess(self):
        with Simulator(rcp_scenario(rcps_enabled=True, account_rcps={A: ["OnlyDescribe"]})) as sim:
            st, _, err = self.batch_get(sim, "registry-admin-a", REPO)
            self.assertEqual((st, err), (200, None))

    def test_rcps_disabled_ignores_them(self):
        with Simulator(rcp_scenario(rcps_enabled=False, account_rcps={A: ["OnlyDescribe"]})) as sim:
            st, _, err = self.batch_get(sim, "registry-admin-a", REPO)
            self.assertEqual((st, err), (200, None))


# ---- 2. VPC endpoint policies ----

VPCE = "vpce-0a1b2c3d4e5f60718"
VPCE_DEFAULT = "vpce-00000000000beef1"
VPC = "vpc-0fedcba9876543210"


def vpce_scenario():
    return {
        "extends": "seed.json",
        "vpc_endpoints": {
            VPCE: {"vpc_id": VPC, "services": ["ecr.api", "ecr.dkr"], "policy": {
                "Statement": [
                    {"Sid": "Pull", "Effect": "Allow", "Principal": "*",
                     "Action": ["ecr:GetAuthorizationToken", "ecr:BatchGetImage",
                                "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
                     "Resource": "*"},
                    {"Sid": "NoLayers", "Effect": "Deny", "Principal": "*",
                     "Action": "ecr:GetDownloadUrlForLayer", "Resource": "*"}]}},
            VPCE_DEFAULT: {"vpc_id": VPC},
        },
        "identities": {
            "ci-a-vpce": user("ci-vpce", A, "AKIASIMACIVPCE000001", allow_all(),
                              via_vpc_endpoint=VPCE),
            "ci-a-default": user("ci-default", A, "AKIASIMACIDEFAULT001", allow_all(),
                                 via_vpc_endpoint=VPCE_DEFAULT, vpc_source_ip="10.0.7.9"),
        },
        "repositories": {"%s/%s/%s" % (A, REGION, REPO): {"policy": {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "ListOnlyInVpc", "Effect": "Deny", "Principal": "*", "Action": "ecr:ListImages",
                 "Condition": {"StringNotEquals": {"aws:SourceVpc": VPC}}},
                {"Sid": "DescribeFromInternet", "Effect": "Deny", "Principal": "*",
                 "Action": "ecr:DescribeImages",
                 "Condition": {"NotIpAddress": {"aws:SourceIp": "0.0.0.0/0"}}},
                {"Sid": "OnlyThisEndpointsHost", "Effect": "Deny", "Principal": "*",
                 "Action": "ecr:GetRepositoryPolicy",
                 "Condition": {"StringNotEquals": {"aws:VpcSourceIp": "10.0.7.9"}}}]}}},
    }


class VpcEndpointPolicies(Base):
    @classmethod
    def setUpClass(cls):
        cls.sim = Simulator(vpce_scenario()).start()

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def test_token_and_manifest_pass(self):
        st, _, err = self.ecr(self.sim, "ci-a-vpce", "GetAuthorizationToken")
        self.assertEqual((st, err), (200, None))
        st, _, err = self.batch_get(self.sim, "ci-a-vpce", REPO)
        self.assertEqual((st, err), (200, None))
        st, _, _ = self.registry(self.sim, "ci-a-vpce", "/v2/%s/manifests/latest" % REPO)
        self.assertEqual(st, 200)

    def test_no_allow_in_endpoint_policy(self):
        self.assertDenied(
            self.ecr(self.sim, "ci-a-vpce", "DescribeRepositories", {"repositoryNames": [REPO]}),
            denied("arn:aws:iam::%s:user/ci-vpce" % A, "ecr:DescribeRepositories", REPO_ARN,
                   no_allow("VPC endpoint", "ecr:DescribeRepositories")))

    def test_deny_in_endpoint_policy_api_and_registry(self):
        digest = json.loads(self.batch_get(self.sim, "ci-a-vpce", REPO)[1]["images"][0]["imageManifest"])
        layer = digest["manifests"][0]["digest"] if "manifests" in digest else digest["layers"][0]["digest"]
        who = "arn:aws:iam::%s:user/ci-vpce" % A
        msg = denied(who, "ecr:GetDownloadUrlForLayer", REPO_ARN, explicit("VPC endpoint"))
        self.assertDenied(self.ecr(self.sim, "ci-a-vpce", "GetDownloadUrlForLayer",
                                   {"repositoryName": REPO, "layerDigest": layer}), msg)
        # A real layer: the registry refuses its GET as it refuses any policy denial.
        repo = self.sim.scenario.repositories[(A, REGION, REPO)]
        blob = next(b for b in repo.blobs.values() if "tar" in b.media_type)
        path = "/v2/%s/blobs/%s" % (REPO, blob.digest)
        self.assertDist(self.registry(self.sim, "ci-a-vpce", path), 403, "DENIED", msg)
        st, _, _ = self.registry(self.sim, "ci-a-vpce", path, method="HEAD")
        self.assertEqual(st, 200)

    def test_default_endpoint_policy_allows_everything(self):
        st, _, err = self.ecr(self.sim, "ci-a-default", "DescribeRepositories", {"repositoryNames": [REPO]})
        self.assertEqual((st, err), (200, None))

    def test_context_keys_through_the_endpoint(self):
        # aws:SourceVpc is there through the endpoint only.
        st, _, err = self.ecr(self.sim, "ci-a-default", "ListImages", {"repositoryName": REPO})
        self.assertEqual((st, err), (200, None))
        self.assertDenied(self.ecr(self.sim, "registry-admin-a", "ListImages", {"repositoryName": REPO}),
                          denied(ADMIN_A, "ecr:ListImages", REPO_ARN, explicit("resource-based")))
        # No aws:SourceIp through an endpoint: NotIpAddress on it denies.
        st, _, err = self.ecr(self.sim, "registry-admin-a", "DescribeImages", {"repositoryName": REPO})
        self.assertEqual((st, err), (200, None))
        self.assertDenied(self.ecr(self.sim, "ci-a-default", "DescribeImages", {"repositoryName": REPO}),
                          denied("arn:aws:iam::%s:user/ci-default" % A, "ecr:DescribeImages",
                                 REPO_ARN, explicit("resource-based")))
        # aws:VpcSourceIp is the identity's address in the VPC.
        st, _, err = self.ecr(self.sim, "ci-a-default", "GetRepositoryPolicy", {"repositoryName": REPO})
        self.assertEqual((st, err), (200, None))

    def test_sts_does_not_pass_the_ecr_endpoint(self):
        status, obj, err = api_parsed(self.sim, "ci-a-vpce", "sts", "GetCallerIdentity")
        self.assertEqual((status, err), (200, None))

    def test_log_names_the_policy_type(self):
        self.ecr(self.sim, "ci-a-vpce", "DescribeRepositories", {"repositoryNames": [REPO]})
        rec = [r for r in self.sim.requests(0.1) if r.get("action") == "DescribeRepositories"][-1]
        self.assertEqual(rec["authz"]["policy_type"], "VPC endpoint")


# ---- 3. KMS keys ECR cannot use ----

def key(n):
    return "arn:aws:kms:%s:%s:key/%s" % (REGION, A, "1234abcd-12ab-34cd-56ef-12345678900%d" % n)


KMS_REPOS = {"kms/enabled": ("Enabled", key(1)), "kms/disabled": ("Disabled", key(2)),
             "kms/pending": ("PendingDeletion", key(3)), "kms/revoked": ("GrantRevoked", key(4))}
KMS_TEXT = {"kms/disabled": "%s is disabled." % key(2),
            "kms/pending": "%s is pending deletion." % key(3),
            "kms/revoked": "The ciphertext refers to a customer master key that does not exist, "
                           "does not exist in this region, or you are not allowed to access."}
S3_CODES = {"kms/disabled": (400, "KMS.DisabledException"),
            "kms/pending": (400, "KMS.KMSInvalidStateException"),
            "kms/revoked": (403, "AccessDenied")}


class KmsKeys(Base):
    @classmethod
    def setUpClass(cls):
        repos = {"%s/%s/%s" % (A, REGION, name): {
            "encryption": {"type": "KMS", "kms_key": k, "key_state": st},
            "images": [dict(IMAGE, tags=["latest"])]} for name, (st, k) in KMS_REPOS.items()}
        cls.sim = Simulator({"extends": "seed.json", "repositories": repos}).start()

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def test_describe_repositories_shows_the_key(self):
        st, obj, err = self.ecr(self.sim, "registry-admin-a", "DescribeRepositories",
                                {"repositoryNames": ["kms/disabled", REPO]})
        self.assertEqual((st, err), (200, None))
        enc = {r["repositoryName"]: r["encryptionConfiguration"] for r in obj["repositories"]}
        self.assertEqual(enc, {"kms/disabled": {"encryptionType": "KMS", "kmsKey": key(2)},
                               REPO: {"encryptionType": "AES256"}})

    def test_batch_get_image_failures(self):
        st, obj, err = self.batch_get(self.sim, "registry-admin-a", "kms/enabled")
        self.assertEqual((st, err, len(obj["images"]), obj["failures"]), (200, None, 1, []))
        for name, text in KMS_TEXT.items():
            with self.subTest(repo=name):
                st, obj, err = self.ecr(self.sim, "registry-admin-a", "BatchGetImage", {
                    "repositoryName": name, "imageIds": [{"imageTag": "latest"}, {"imageTag": "nope"}]})
                self.assertEqual((st, err, obj["images"]), (200, None, []))
                self.assertEqual(obj["failures"], [
                    {"imageId": {"imageTag": "latest"}, "failureCode": "KmsError", "failureReason": text},
                    {"imageId": {"imageTag": "nope"}, "failureCode": "ImageNotFound",
                     "failureReason": "Requested image not found"}])

    def test_registry_manifest_and_layers(self):
        pw = registry_password(self.sim, "registry-admin-a")
        self.assertEqual(self.registry(self.sim, None, "/v2/kms/enabled/manifests/latest",
                                       password=pw)[0], 200)
        for name, text in KMS_TEXT.items():
            with self.subTest(repo=name):
                self.assertDist(self.registry(self.sim, None, "/v2/%s/manifests/latest" % name,
                                              password=pw), 403, "DENIED", text)
                self.assertEqual(self.registry(self.sim, None, "/v2/%s/manifests/latest" % name,
                                               method="HEAD", password=pw)[0], 403)
                repo = self.sim.scenario.repositories[(A, REGION, name)]
                blob = next(b for b in repo.blobs.values() if "tar" in b.media_type)
                path = "/v2/%s/blobs/%s" % (name, blob.digest)
                self.assertEqual(self.registry(self.sim, None, path, method="HEAD", password=pw)[0], 200)
                st, headers, _ = self.registry(self.sim, None, path, password=pw)
                self.assertEqual(st, 307)
                st, _, body = self.follow(self.sim, headers["location"])
                status, code = S3_CODES[name]
                self.assertEqual(st, status, body)
                self.assertIn(b"<Code>%s</Code><Message>%s</Message>" % (code.encode(), text.encode()), body)

    @unittest.skipUnless(HAVE_BOTO, "boto3 is not installed")
    def test_boto3_parses_the_failure(self):
        r = harness.boto3_client(self.sim, "ecr", "registry-admin-a").batch_get_image(
            repositoryName="kms/pending", imageIds=[{"imageTag": "latest"}])
        self.assertEqual(r["failures"][0]["failureCode"], "KmsError")


# ---- 4. pull through cache ----

PTC_PREFIX = "docker-hub"
CRED = "arn:aws:secretsmanager:%s:%s:secret:ecr-pullthroughcache/docker-hub-AbCdEf" % (REGION, A)
NGINX = "docker-hub/library/nginx"


def ptc_scenario(**extra):
    up = {"library/nginx": {"tags": {"latest": {"platforms": ["linux/amd64"]},
                                     "1.27": {"platforms": ["linux/amd64", "linux/arm64"],
                                              "format": "oci"}}}}
    d = {
        "extends": "seed.json",
        "identities": {"reader-a": READER},
        "pull_through_cache_rules": {
            "%s/%s/docker-hub" % (A, REGION): {
                "upstream_registry_url": "registry-1.docker.io", "upstream_registry": "docker-hub",
                "credential_arn": CRED, "upstream_images": up},
            "%s/%s/quay" % (A, REGION): {"upstream_registry_url": "quay.io", "upstream_registry": "quay",
                                        "upstream_failure": "UpstreamAccessDenied", "upstream_images": up},
            "%s/%s/ghcr" % (A, REGION): {"upstream_registry_url": "ghcr.io",
                                        "upstream_registry": "github-container-registry",
                                        "upstream_failure": "UpstreamTooManyRequests"},
            "%s/%s/k8s" % (A, REGION): {"upstream_registry_url": "registry.k8s.io",
                                       "upstream_registry": "k8s", "upstream_failure": "UpstreamUnavailable"},
        },
    }
    d.update(extra)
    return d


NOT_FOUND = "The repository with name '%s' does not exist in the registry with id '%s'"


class PullThroughCache(Base):
    def test_describe_rules_filter_and_pages(self):
        with Simulator(ptc_scenario()) as sim:
            st, obj, err = self.ecr(sim, "registry-admin-a", "DescribePullThroughCacheRules")
            self.assertEqual((st, err), (200, None))
            rules = obj["pullThroughCacheRules"]
            self.assertEqual([r["ecrRepositoryPrefix"] for r in rules], ["docker-hub", "ghcr", "k8s", "quay"])
            self.assertEqual(rules[0], {"ecrRepositoryPrefix": "docker-hub", "registryId": A,
                                        "upstreamRegistryUrl": "registry-1.docker.io",
                                        "upstreamRegistry": "docker-hub", "credentialArn": CRED,
                                        "createdAt": rules[0]["createdAt"]})
            st, page1, _ = self.ecr(sim, "registry-admin-a", "DescribePullThroughCacheRules", {"maxResults": 3})
            st, page2, _ = self.ecr(sim, "registry-admin-a", "DescribePullThroughCacheRules",
                                    {"maxResults": 3, "nextToken": page1["nextToken"]})
            self.assertEqual(len(page1["pullThroughCacheRules"]), 3)
            self.assertEqual([r["ecrRepositoryPrefix"] for r in page2["pullThroughCacheRules"]], ["quay"])
            self.assertNotIn("nextToken", page2)
            st, obj, _ = self.ecr(sim, "registry-admin-a", "DescribePullThroughCacheRules",
                                  {"ecrRepositoryPrefixes": ["quay", "k8s"]})
            self.assertEqual([r["ecrRepositoryPrefix"] for r in obj["pullThroughCacheRules"]], ["k8s", "quay"])
            self.assertEcrError(self.ecr(sim, "registry-admin-a", "DescribePullThroughCacheRules",
                                         {"ecrRepositoryPrefixes": ["nope"]}),
                                "PullThroughCacheRuleNotFoundException",
                                "The pull through cache rule with prefix 'nope' does not exist in "
                                "the registry with id '%s'" % A)
            self.assertDenied(self.ecr(sim, "reader-a", "DescribePullThroughCacheRules"), denied(
                READER_A, "ecr:DescribePullThroughCacheRules", "*",
                no_allow("identity-based", "ecr:DescribePullThroughCacheRules")))
            if HAVE_BOTO:
                pages = harness.boto3_client(sim, "ecr", "registry-admin-a").get_paginator(
                    "describe_pull_through_cache_rules").paginate(PaginationConfig={"PageSize": 1})
                self.assertEqual(sum(len(p["pullThroughCacheRules"]) for p in pages), 4)

    def test_without_import_permission_the_repository_does_not_exist(self):
        with Simulator(ptc_scenario()) as sim:
            self.assertEcrError(self.batch_get(sim, "reader-a", NGINX), "RepositoryNotFoundException",
                                NOT_FOUND % (NGINX, A))
            self.assertDist(self.registry(sim, "reader-a", "/v2/%s/manifests/latest" % NGINX),
                            404, "NAME_UNKNOWN", NOT_FOUND % (NGINX, A))
            self.assertEcrError(self.ecr(sim, "registry-admin-a", "DescribeRepositories",
                                         {"repositoryNames": [NGINX]}),
                                "RepositoryNotFoundException", NOT_FOUND % (NGINX, A))
            # Another account is refused as for any repository without a policy.
            self.assertDenied(self.batch_get(sim, "eks-node-b", NGINX), denied(
                SESS_B, "ecr:BatchGetImage", arn(A, NGINX),
                no_allow("resource-based", "ecr:BatchGetImage")))

    def test_import_creates_the_repository_and_caches(self):
        with Simulator(ptc_scenario()) as sim:
            rule = sim.scenario.ptc_rules[(A, REGION, PTC_PREFIX)]
            upstream = rule.upstream["library/nginx"]
            st, obj, err = self.batch_get(sim, "registry-admin-a", NGINX)
            self.assertEqual((st, err, obj["failures"]), (200, None, []))
            self.assertEqual(obj["images"][0]["imageId"],
                             {"imageTag": "latest", "imageDigest": upstream.tag_map["latest"]})
            st, obj, err = self.ecr(sim, "registry-admin-a", "DescribeRepositories", {"repositoryNames": [NGINX]})
            self.assertEqual((st, err, obj["repositories"][0]["repositoryArn"]), (200, None, arn(A, NGINX)))
            # Cached: the reader pulls latest, but 1.27 is not cached and it may not import.
            st, obj, err = self.batch_get(sim, "reader-a", NGINX)
            self.assertEqual((st, err, len(obj["images"])), (200, None, 1))
            st, obj, err = self.batch_get(sim, "reader-a", NGINX, tag="1.27")
            self.assertEqual(obj["failures"], [{"imageId": {"imageTag": "1.27"}, "failureCode": "ImageNotFound",
                                                "failureReason": "Requested image not found"}])
            self.assertDist(self.registry(sim, "reader-a", "/v2/%s/manifests/1.27" % NGINX),
                            404, "MANIFEST_UNKNOWN", "Requested image not found")
            # The admin's registry pull imports 1.27 (an OCI index) and its layers come down.
            st, headers, body = self.registry(sim, "registry-admin-a", "/v2/%s/manifests/1.27" % NGINX)
            self.assertEqual((st, headers["docker-content-digest"]), (200, upstream.tag_map["1.27"]))
            child = json.loads(body)["manifests"][0]["digest"]
            st, _, body = self.registry(sim, "reader-a", "/v2/%s/manifests/%s" % (NGINX, child))
            self.assertEqual(st, 200)
            layer = json.loads(body)["layers"][0]["digest"]
            st, headers, _ = self.registry(sim, "reader-a", "/v2/%s/blobs/%s" % (NGINX, layer))
            self.assertEqual(st, 307)
            self.assertEqual(self.follow(sim, headers["location"])[0], 200)
            # A tag the upstream does not have.
            st, obj, _ = self.batch_get(sim, "registry-admin-a", NGINX, tag="0.0.0-nope")
            self.assertEqual(obj["failures"][0]["failureCode"], "ImageNotFound")

    def test_registry_policy_grants_import_under_v1(self):
        reg = {"Version": "2012-10-17", "Statement": [
            {"Sid": "Ptc", "Effect": "Allow", "Principal": {"AWS": READER_A},
             "Action": ["ecr:CreateRepository", "ecr:BatchImportUpstreamImage"],
             "Resource": arn(A, "docker-hub/*")}]}
        scen = ptc_scenario(registry_policies={"%s/%s" % (A, REGION): reg},
                            registry_policy_scope={"%s/%s" % (A, REGION): "V1"})
        with Simulator(scen) as sim:
            st, obj, err = self.batch_get(sim, "reader-a", NGINX)
            self.assertEqual((st, err, len(obj["images"])), (200, None, 1))

    def test_upstream_failures(self):
        cases = [("quay", "UpstreamAccessDenied", 403, "DENIED",
                  "The authentication to the upstream registry failed. Verify that the credentials "
                  "provided in the pull through cache rule are correct, and try again."),
                 ("ghcr", "UpstreamTooManyRequests", 429, "TOOMANYREQUESTS",
                  "The upstream registry is throttling requests. Wait, and try again."),
                 ("k8s", "UpstreamUnavailable", 503, "UNAVAILABLE",
                  "The upstream registry is unavailable. Try again later.")]
        with Simulator(ptc_scenario()) as sim:
            for prefix, code, status, dist, text in cases:
                with self.subTest(rule=prefix):
                    name = prefix + "/library/nginx"
                    st, obj, err = self.batch_get(sim, "registry-admin-a", name)
                    self.assertEqual((st, err, obj["images"]), (200, None, []))
                    self.assertEqual(obj["failures"], [{"imageId": {"imageTag": "latest"},
                                                        "failureCode": code, "failureReason": text}])
                    self.assertDist(self.registry(sim, "registry-admin-a", "/v2/%s/manifests/latest" % name),
                                    status, dist, text)
                    self.assertEcrError(self.ecr(sim, "registry-admin-a", "DescribeRepositories",
                                                 {"repositoryNames": [name]}),
                                        "RepositoryNotFoundException", NOT_FOUND % (name, A))


# ---- 5. opt-in regions ----

INVALID_TOKEN = "The security token included in the request is invalid."


class OptInRegions(Base):
    @classmethod
    def setUpClass(cls):
        cls.sim = Simulator({"extends": "seed.json",
                             "regions": {"enabled": {B: ["ap-east-1"]}}}).start()

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def test_disabled_opt_in_region_refuses_the_keys(self):
        for region in ("ap-east-1", "me-central-1", "il-central-1"):
            with self.subTest(region=region):
                self.assertEcrError(self.ecr(self.sim, "registry-admin-a", "DescribeRepositories",
                                             region=region),
                                    "UnrecognizedClientException", INVALID_TOKEN)
                st, _, err = api_parsed(self.sim, "registry-admin-a", "sts", "GetCallerIdentity",
                                        region=region)
                self.assertEqual((st, err), (403, ("InvalidClientTokenId", INVALID_TOKEN)))

    def test_same_keys_work_in_default_regions(self):
        for region in ("us-east-1", REGION, "eu-west-1"):
            with self.subTest(region=region):
                st, _, err = self.ecr(self.sim, "registry-admin-a", "DescribeRepositories", region=region)
                self.assertEqual((st, err), (200, None))

    def test_enabled_for_the_account(self):
        st, obj, err = api_parsed(self.sim, "platform-admin-b", "sts", "GetCallerIdentity", region="ap-east-1")
        self.assertEqual((st, err), (200, None))
        st, _, err = self.ecr(self.sim, "platform-admin-b", "GetAuthorizationToken", region="ap-east-1")
        self.assertEqual((st, err), (200, None))

    def test_registry_in_the_region_refuses_a_token_from_elsewhere(self):
        pw = registry_password(self.sim, "registry-admin-a", REGION)
        self.assertDist(self.registry(self.sim, None, "/v2/%s/manifests/latest" % REPO,
                                      region="ap-east-1", password=pw),
                        403, "DENIED", "Your authorization token has expired. Reauthenticate and try again.")

    @unittest.skipUnless(HAVE_BOTO, "boto3 is not installed")
    def test_boto3_sees_unrecognized_client(self):
        ecr = harness.boto3_client(self.sim, "ecr", "registry-admin-a", region="ap-east-1")
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            ecr.describe_repositories()
        self.assertEqual(cm.exception.response["Error"]["Code"], "UnrecognizedClientException")
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 400)

    def test_custom_opt_in_list(self):
        with Simulator({"extends": "seed.json", "regions": {"opt_in": ["eu-west-3"]}}) as sim:
            self.assertEcrError(self.ecr(sim, "registry-admin-a", "DescribeRepositories", region="eu-west-3"),
                                "UnrecognizedClientException", INVALID_TOKEN)
            st, _, err = self.ecr(sim, "registry-admin-a", "DescribeRepositories", region="ap-east-1")
            self.assertEqual((st, err), (200, None))


# ---- 6. registry policy operations and scope ----

DENY_B_PULL = {"Version": "2012-10-17", "Statement": [
    {"Sid": "NoB", "Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::%s:root" % B},
     "Action": "ecr:BatchGetImage", "Resource": arn(A, "*")}]}
INVALID_REGISTRY_POLICY = ("Invalid parameter at 'PolicyText' failed to satisfy constraint: "
                           "'Invalid registry policy provided'")


class RegistryPolicy(Base):
    def test_put_get_delete_and_scope(self):
        with Simulator("seed-fixed.json") as sim:
            st, obj, err = self.ecr(sim, "registry-admin-a", "GetAccountSetting", {"name": "REGISTRY_POLICY_SCOPE"})
            self.assertEqual((st, err, obj), (200, None, {"name": "REGISTRY_POLICY_SCOPE", "value": "V2"}))
            st, _, err = self.batch_get(sim, "eks-node-b", REPO)
            self.assertEqual((st, err), (200, None))
            st, obj, err = self.ecr(sim, "registry-admin-a", "PutRegistryPolicy",
                                    {"policyText": json.dumps(DENY_B_PULL)})
            self.assertEqual((st, err, obj["registryId"], json.loads(obj["policyText"])),
                             (200, None, A, DENY_B_PULL))
            self.assertIn('"Effect" : "Deny"', obj["policyText"])
            st, got, _ = self.ecr(sim, "registry-admin-a", "GetRegistryPolicy")
            self.assertEqual(got["policyText"], obj["policyText"])
            msg = denied(SESS_B, "ecr:BatchGetImage", REPO_ARN, explicit("resource-based"))
            self.assertDenied(self.batch_get(sim, "eks-node-b", REPO), msg)
            self.assertDist(self.registry(sim, "eks-node-b", "/v2/%s/manifests/latest" % REPO), 403, "DENIED", msg)
            # V1: the registry policy no longer covers pulls.
            st, obj, err = self.ecr(sim, "registry-admin-a", "PutAccountSetting",
                                    {"name": "REGISTRY_POLICY_SCOPE", "value": "V1"})
            self.assertEqual((st, err, obj), (200, None, {"name": "REGISTRY_POLICY_SCOPE", "value": "V1"}))
            st, _, err = self.batch_get(sim, "eks-node-b", REPO)
            self.assertEqual((st, err), (200, None))
            # Under V1 a policy may hold only replication, import and creation actions.
            self.assertEcrError(self.ecr(sim, "registry-admin-a", "PutRegistryPolicy",
                                         {"policyText": json.dumps(DENY_B_PULL)}),
                                "InvalidParameterException", INVALID_REGISTRY_POLICY)
            ok = {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::%s:root" % B},
                 "Action": ["ecr:CreateRepository", "ecr:ReplicateImage"], "Resource": arn(A, "*")}]}
            st, _, err = self.ecr(sim, "registry-admin-a", "PutRegistryPolicy", {"policyText": json.dumps(ok)})
            self.assertEqual((st, err), (200, None))
            st, obj, err = self.ecr(sim, "registry-admin-a", "DeleteRegistryPolicy")
            self.assertEqual((st, err, json.loads(obj["policyText"])), (200, None, ok))
            self.assertEcrError(self.ecr(sim, "registry-admin-a", "DeleteRegistryPolicy"),
                                "RegistryPolicyNotFoundException",
                                "Registry policy does not exist in the registry with id '%s'" % A)

    def test_refusals(self):
        with Simulator("seed.json") as sim:
            for text in ("not json", json.dumps({"Statement": []}),
                         json.dumps({"Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]}),
                         json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:*"}]})):
                with self.subTest(text=text):
                    self.assertEcrError(self.ecr(sim, "registry-admin-a", "PutRegistryPolicy", {"policyText": text}),
                                        "InvalidParameterException", INVALID_REGISTRY_POLICY)
            self.assertEcrError(self.ecr(sim, "registry-admin-a", "PutAccountSetting",
                                         {"name": "REGISTRY_POLICY_SCOPE", "value": "V3"}),
                                "InvalidParameterException",
                                "Invalid parameter at 'value' failed to satisfy constraint: 'Member must "
                                "satisfy enum value set: [V1, V2]'")
            self.assertDenied(self.ecr(sim, "platform-admin-b", "PutRegistryPolicy",
                                       {"policyText": json.dumps(DENY_B_PULL)}),
                              denied("arn:aws:iam::%s:user/platform-admin" % B, "ecr:PutRegistryPolicy",
                                     "*", no_allow("identity-based", "ecr:PutRegistryPolicy")))

    def test_v2_allow_grants_another_account(self):
        # Undocumented reading (iam-evaluation.md 8.4): a V2 registry policy Allow grants like a
        # repository policy; under V1 it does not cover pulls.
        reg = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": B}, "Action": PULL, "Resource": arn(A, "*")}]}
        scen = {"extends": "seed.json", "registry_policies": {"%s/%s" % (A, REGION): reg}}
        with Simulator(scen) as sim:
            st, _, err = self.batch_get(sim, "eks-node-b", REPO)
            self.assertEqual((st, err), (200, None))
            self.assertDenied(self.batch_get(sim, "eks-node-c", REPO), denied(
                SESS_C, "ecr:BatchGetImage", REPO_ARN, None))
        scen["registry_policy_scope"] = {"%s/%s" % (A, REGION): "V1"}
        with Simulator(scen) as sim:
            st, obj, err = self.ecr(sim, "registry-admin-a", "GetAccountSetting", {"name": "REGISTRY_POLICY_SCOPE"})
            self.assertEqual(obj["value"], "V1")
            self.assertDenied(self.batch_get(sim, "eks-node-b", REPO), denied(
                SESS_B, "ecr:BatchGetImage", REPO_ARN, no_allow("resource-based", "ecr:BatchGetImage")))

    @unittest.skipUnless(HAVE_BOTO, "boto3 is not installed")
    def test_boto3(self):
        with Simulator("seed.json") as sim:
            ecr = harness.boto3_client(sim, "ecr", "registry-admin-a")
            self.assertEqual(ecr.get_account_setting(name="REGISTRY_POLICY_SCOPE")["value"], "V2")
            ecr.put_registry_policy(policyText=json.dumps(DENY_B_PULL))
            self.assertEqual(json.loads(ecr.delete_registry_policy()["policyText"]), DENY_B_PULL)
            with self.assertRaises(botocore.exceptions.ClientError) as cm:
                ecr.get_registry_policy()
            self.assertEqual(cm.exception.response["Error"]["Code"], "RegistryPolicyNotFoundException")


# ---- scenario checks for the new keys ----

class ScenarioKeys(unittest.TestCase):
    def test_refusals_name_the_place(self):
        seed = os.path.join(ROOT, "fixtures", "scenarios", "seed.json")
        bad = [
            ({"organization": {"account_rcps": {A: ["Missing"]}}}, "RCP 'Missing'"),
            ({"vpc_endpoints": {"vpce-xyz": {"vpc_id": VPC}}}, "vpce-"),
            ({"vpc_endpoints": {VPCE: {"vpc_id": VPC, "services": ["s3"]}}}, "services"),
            ({"identities": {"z": user("z", A, "AKIAZZ", via_vpc_endpoint=VPCE)}}, "via_vpc_endpoint"),
            ({"repositories": {"%s/%s/k" % (A, REGION): {"encryption": {"type": "KMS", "key_state": "Gone"}}}},
             "key_state"),
            ({"pull_through_cache_rules": {"%s/%s/Bad" % (A, REGION): {"upstream_registry_url": "x"}}},
             "ecrRepositoryPrefix"),
            ({"pull_through_cache_rules": {"%s/%s/ok" % (A, REGION): {
                "upstream_registry_url": "x", "upstream_failure": "Nope"}}}, "upstream_failure"),
            ({"registry_policy_scope": {"%s/%s" % (A, REGION): "V3"}}, "V1 or V2"),
            ({"regions": {"enabled": {"nope": []}}}, "regions.enabled"),
        ]
        with tempfile.TemporaryDirectory() as tmp:
            for i, (over, pattern) in enumerate(bad):
                with self.subTest(case=over):
                    path = os.path.join(tmp, "bad%d.json" % i)
                    with open(path, "w") as f:
                        json.dump(dict(over, extends=seed), f)
                    with self.assertRaisesRegex(S.ScenarioError, pattern):
                        S.load(path)


if __name__ == "__main__":
    unittest.main()
