"""Fidelity of the simulator with a real AWS client (boto3/botocore), and of its raw answers
with the botocore service models in shared/protocol (member names, types, required).

The error codes and status codes asserted here are the ones real AWS returns (sources in
scripts/awssim/awsapi.py and server.py). Parts skip when boto3 or the models are absent.
"""

import base64
import hashlib
import json
import os
import sys
import time
import unittest

ROOT = os.environ.get("ECRDIAG_ROOT") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts", "awssim"))

import harness  # noqa: E402
import shapes  # noqa: E402
from harness import Simulator, api  # noqa: E402

try:
    import boto3  # noqa: F401
    import botocore.exceptions
    HAVE_BOTO = True
except ImportError:
    HAVE_BOTO = False

A, B, C = "632000001762", "722000009750", "833000004321"
REPO = "audit/sa/cicd-runner"
REPO_ARN = "arn:aws:ecr:ap-southeast-1:%s:repository/%s" % (A, REPO)
SESS_B = "arn:aws:sts::%s:assumed-role/eks-node-role/i-0b1c2d3e4f5a6b7c8" % B
SESS_C = "arn:aws:sts::%s:assumed-role/eks-node-role/i-0c9d8e7f6a5b4c3d2" % C
NO_RP = ("User: %s is not authorized to perform: ecr:BatchGetImage on resource: %s because no "
         "resource-based policy allows the ecr:BatchGetImage action")
# Across organizations AWS leaves the policy type out.
BARE = "User: %s is not authorized to perform: ecr:BatchGetImage on resource: %s"


def fixed_policy_text():
    with open(os.path.join(ROOT, "fixtures", "scenarios", "seed-fixed.json")) as f:
        return json.dumps(json.load(f)["repositories"]["632000001762/ap-southeast-1/" + REPO]["policy"])


def variant(**over):
    """A scenario dict extending the seed."""
    d = {"extends": "seed.json"}
    d.update(over)
    return d


@unittest.skipUnless(HAVE_BOTO, "boto3 is not installed")
class Boto3Fidelity(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sim = Simulator("seed.json").start()

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def client(self, service, who, sim=None, **kw):
        return harness.boto3_client(sim or self.sim, service, who, **kw)

    def assertClientError(self, fn, code, status, message=None, **kwargs):
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            fn(**kwargs)
        err = cm.exception.response["Error"]
        self.assertEqual(err["Code"], code, err)
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], status)
        if message is not None:
            self.assertEqual(err["Message"], message)
        return err

    def test_get_caller_identity(self):
        r = self.client("sts", "eks-node-b").get_caller_identity()
        self.assertEqual(r["Arn"], SESS_B)
        self.assertEqual(r["Account"], B)
        self.assertTrue(r["UserId"].startswith("AROA") and r["UserId"].endswith(":i-0b1c2d3e4f5a6b7c8"))
        r = self.client("sts", "registry-admin-a").get_caller_identity()
        self.assertEqual(r["Arn"], "arn:aws:iam::%s:user/registry-admin" % A)
        self.assertTrue(r["UserId"].startswith("AIDA"))

    def test_get_authorization_token(self):
        r = self.client("ecr", "eks-node-b").get_authorization_token()
        data = r["authorizationData"]
        self.assertEqual(len(data), 1)
        user, _, password = base64.b64decode(data[0]["authorizationToken"]).decode().partition(":")
        self.assertEqual(user, "AWS")
        self.assertGreater(len(password), 100)
        self.assertEqual(data[0]["proxyEndpoint"], "https://%s.dkr.ecr.ap-southeast-1.amazonaws.com" % B)
        ttl = data[0]["expiresAt"].timestamp() - time.time()
        self.assertAlmostEqual(ttl, 12 * 3600, delta=120)

    def test_batch_get_image_and_failures(self):
        r = self.client("ecr", "registry-admin-a").batch_get_image(
            repositoryName=REPO, imageIds=[{"imageTag": "latest"}, {"imageTag": "no-such-tag"}])
        self.assertEqual(len(r["images"]), 1)
        img = r["images"][0]
        self.assertEqual(img["imageId"]["imageTag"], "latest")
        self.assertEqual(img["imageId"]["imageDigest"],
                         "sha256:" + hashlib.sha256(img["imageManifest"].encode()).hexdigest())
        self.assertEqual(json.loads(img["imageManifest"])["mediaType"], img["imageManifestMediaType"])
        self.assertEqual(r["failures"], [{"imageId": {"imageTag": "no-such-tag"},
                                          "failureCode": "ImageNotFound",
                                          "failureReason": "Requested image not found"}])
        # By digest, from the other account's registry id, once allowed (same account here).
        r2 = self.client("ecr", "registry-admin-a").batch_get_image(
            registryId=A, repositoryName=REPO, imageIds=[{"imageDigest": img["imageId"]["imageDigest"]}])
        self.assertEqual(r2["images"][0]["imageManifest"], img["imageManifest"])

    def test_describe_images_repositories_list(self):
        ecr = self.client("ecr", "registry-admin-a")
        details = ecr.describe_images(repositoryName=REPO)["imageDetails"]
        tagged = {t: d["imageDigest"] for d in details for t in d.get("imageTags", [])}
        self.assertEqual(set(tagged), {"latest", "v1.4.2", "v1.4.1", "v1.3.0"})
        self.assertEqual(tagged["latest"], tagged["v1.4.2"])
        self.assertEqual(len(details), 5, "index, its two platform manifests, two single images")
        one = ecr.describe_images(repositoryName=REPO, imageIds=[{"imageTag": "v1.4.1"}])["imageDetails"]
        self.assertEqual(one[0]["imageTags"], ["v1.4.1"])
        self.assertClientError(ecr.describe_images, "ImageNotFoundException", 400,
                               repositoryName=REPO, imageIds=[{"imageTag": "nope"}])
        repos = ecr.describe_repositories()["repositories"]
        self.assertEqual([r["repositoryArn"] for r in repos], [REPO_ARN])
        self.assertEqual(repos[0]["repositoryUri"],
                         "%s.dkr.ecr.ap-southeast-1.amazonaws.com/%s" % (A, REPO))
        ids = ecr.list_images(repositoryName=REPO, filter={"tagStatus": "TAGGED"})["imageIds"]
        self.assertEqual(sorted(i["imageTag"] for i in ids), ["latest", "v1.3.0", "v1.4.1", "v1.4.2"])

    def test_repository_not_found_same_vs_cross_account(self):
        self.assertClientError(
            self.client("ecr", "registry-admin-a").batch_get_image, "RepositoryNotFoundException", 400,
            "The repository with name 'nope/none' does not exist in the registry with id '%s'" % A,
            repositoryName="nope/none", imageIds=[{"imageTag": "latest"}])
        # Another account's missing repository looks exactly like a missing grant.
        self.assertClientError(
            self.client("ecr", "eks-node-b").batch_get_image, "AccessDeniedException", 400,
            NO_RP % (SESS_B, REPO_ARN.replace(REPO, "nope/none")),
            registryId=A, repositoryName="nope/none", imageIds=[{"imageTag": "latest"}])

    def test_cross_account_denied_until_org_grant(self):
        with Simulator("seed.json") as sim:
            b = self.client("ecr", "eks-node-b", sim)
            c = self.client("ecr", "eks-node-c", sim)
            admin = self.client("ecr", "registry-admin-a", sim)
            args = dict(registryId=A, repositoryName=REPO, imageIds=[{"imageTag": "latest"}])
            self.assertClientError(b.batch_get_image, "AccessDeniedException", 400, NO_RP % (SESS_B, REPO_ARN), **args)
            # C is outside the organization: AWS leaves the policy type out across organizations.
            self.assertClientError(c.batch_get_image, "AccessDeniedException", 400, BARE % (SESS_C, REPO_ARN), **args)
            self.assertClientError(admin.get_repository_policy, "RepositoryPolicyNotFoundException", 400,
                                   "Repository policy does not exist for the repository with name "
                                   "'%s' in the registry with id '%s'" % (REPO, A), repositoryName=REPO)
            out = admin.set_repository_policy(repositoryName=REPO, policyText=fixed_policy_text())
            self.assertEqual(json.loads(out["policyText"]), json.loads(fixed_policy_text()))
            got = admin.get_repository_policy(repositoryName=REPO)
            self.assertEqual(got["policyText"], out["policyText"])
            self.assertEqual(got["registryId"], A)
            r = b.batch_get_image(**args)
            self.assertEqual(len(r["images"]), 1)
            # C is outside the organization: AWS leaves the policy type out across organizations.
            self.assertClientError(c.batch_get_image, "AccessDeniedException", 400, BARE % (SESS_C, REPO_ARN), **args)
            deleted = admin.delete_repository_policy(repositoryName=REPO)
            self.assertEqual(deleted["policyText"], out["policyText"])
            self.assertClientError(b.batch_get_image, "AccessDeniedException", 400, **args)

    def test_seed_fixed_scenario(self):
        with Simulator("seed-fixed.json") as sim:
            r = self.client("ecr", "eks-node-b", sim).batch_get_image(
                registryId=A, repositoryName=REPO, imageIds=[{"imageTag": "v1.4.1"}])
            self.assertEqual(r["images"][0]["imageManifestMediaType"],
                             "application/vnd.docker.distribution.manifest.v2+json")
            self.assertClientError(self.client("ecr", "eks-node-c", sim).batch_get_image,
                                   "AccessDeniedException", 400, registryId=A, repositoryName=REPO,
                                   imageIds=[{"imageTag": "latest"}])

    def test_set_repository_policy_validation(self):
        admin = self.client("ecr", "registry-admin-a")
        bad_msg = ("Invalid parameter at 'PolicyText' failed to satisfy constraint: "
                   "'Invalid repository policy provided'")
        good = json.loads(fixed_policy_text())
        with_resource = json.loads(fixed_policy_text())
        with_resource["Statement"][0]["Resource"] = REPO_ARN
        unknown_account = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"}, "Action": "ecr:BatchGetImage"}]}
        unknown_role = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::%s:role/nope" % B}, "Action": "ecr:BatchGetImage"}]}
        for text in ("not json", json.dumps({"Version": "2012-10-17"}), json.dumps(with_resource),
                     json.dumps(unknown_account), json.dumps(unknown_role)):
            with self.subTest(policy=text[:60]):
                self.assertClientError(admin.set_repository_policy, "InvalidParameterException", 400,
                                       bad_msg, repositoryName=REPO, policyText=text)
        known = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::%s:role/eks-node-role" % B, C]},
             "Action": "ecr:BatchGetImage"}]}
        with Simulator("seed.json") as sim:
            a2 = self.client("ecr", "registry-admin-a", sim)
            a2.set_repository_policy(repositoryName=REPO, policyText=json.dumps(known))
            a2.set_repository_policy(repositoryName=REPO, policyText=json.dumps(good))

    def test_registry_policy_not_found(self):
        self.assertClientError(self.client("ecr", "registry-admin-a").get_registry_policy,
                               "RegistryPolicyNotFoundException", 400)

    def test_describe_organization(self):
        org = self.client("organizations", "platform-admin-b").describe_organization()["Organization"]
        self.assertEqual(org["Id"], "o-a1b2c3d4e5")
        self.assertEqual(org["MasterAccountId"], "100000000001")
        self.assertEqual(org["Arn"], "arn:aws:organizations::100000000001:organization/o-a1b2c3d4e5")
        self.assertClientError(self.client("organizations", "eks-node-b").describe_organization,
                               "AccessDeniedException", 400,
                               "You don't have permissions to access this resource.")
        admin_c = {"arn": "arn:aws:iam::%s:user/admin" % C, "access_key_id": "AKIASIMCADMIN0000001",
                   "secret_access_key": "AwsSimFakeSecret/adminC/000000000000000",
                   "policies": {"org": {"Version": "2012-10-17", "Statement": [
                       {"Effect": "Allow", "Action": "organizations:*", "Resource": "*"}]}}}
        with Simulator(variant(identities={"admin-c": admin_c})) as sim:
            self.assertClientError(self.client("organizations", "admin-c", sim).describe_organization,
                                   "AWSOrganizationsNotInUseException", 400,
                                   "Your account is not a member of an organization.")

    def test_wrong_secret_refused(self):
        ident = self.sim.identity("eks-node-b")
        for service, op, code, status in (("ecr", "get_authorization_token", "InvalidSignatureException", 400),
                                          ("sts", "get_caller_identity", "SignatureDoesNotMatch", 403)):
            with self.subTest(service=service):
                cl = boto3.client(service, endpoint_url=self.sim.url, region_name="ap-southeast-1",
                                  aws_access_key_id=ident.access_key_id,
                                  aws_secret_access_key=ident.secret_access_key[:-1] + "X",
                                  aws_session_token=ident.session_token)
                err = self.assertClientError(getattr(cl, op), code, status)
                self.assertTrue(err["Message"].startswith(
                    "The request signature we calculated does not match the signature you provided."))

    def test_unknown_key_and_missing_token_refused(self):
        ident = self.sim.identity("eks-node-b")
        cases = [
            ("unknown key", "AKIAUNKNOWNKEY000000", ident.session_token),
            ("session token missing", ident.access_key_id, None),
            ("session token wrong", ident.access_key_id, ident.session_token + "x"),
        ]
        for name, key, token in cases:
            for service, op, code, status in (("ecr", "get_authorization_token", "UnrecognizedClientException", 400),
                                              ("sts", "get_caller_identity", "InvalidClientTokenId", 403)):
                with self.subTest(case=name, service=service):
                    cl = boto3.client(service, endpoint_url=self.sim.url, region_name="ap-southeast-1",
                                      aws_access_key_id=key, aws_secret_access_key=ident.secret_access_key,
                                      aws_session_token=token)
                    self.assertClientError(getattr(cl, op), code, status,
                                           "The security token included in the request is invalid.")

    def test_expired_session(self):
        scen = variant(identities={"eks-node-b": {"expires": "2020-01-01T00:00:00Z"}})
        with Simulator(scen) as sim:
            self.assertClientError(self.client("ecr", "eks-node-b", sim).get_authorization_token,
                                   "ExpiredTokenException", 400,
                                   "The security token included in the request is expired")
            self.assertClientError(self.client("sts", "eks-node-b", sim).get_caller_identity,
                                   "ExpiredToken", 403,
                                   "The security token included in the request is expired")
            self.client("sts", "registry-admin-a", sim).get_caller_identity()

    def test_clock_skew(self):
        with Simulator(variant(clock_offset_s=3600)) as sim:
            err = self.assertClientError(self.client("ecr", "eks-node-b", sim).get_authorization_token,
                                         "InvalidSignatureException", 400)
            self.assertRegex(err["Message"], r"^Signature expired: \d{8}T\d{6}Z is now earlier than "
                             r"\d{8}T\d{6}Z \(\d{8}T\d{6}Z - 15 min\.\)$")
            err = self.assertClientError(self.client("sts", "eks-node-b", sim).get_caller_identity,
                                         "SignatureDoesNotMatch", 403)
            self.assertTrue(err["Message"].startswith("Signature expired: "))
        with Simulator(variant(clock_offset_s=-3600)) as sim:
            err = self.assertClientError(self.client("ecr", "eks-node-b", sim).get_authorization_token,
                                         "InvalidSignatureException", 400)
            self.assertRegex(err["Message"], r"^Signature not yet current: \d{8}T\d{6}Z is still "
                             r"later than \d{8}T\d{6}Z \(\d{8}T\d{6}Z \+ 15 min\.\)$")
        with Simulator(variant(clock_offset_s=600)) as sim:  # within the 15 minutes
            self.client("ecr", "eks-node-b", sim).get_authorization_token()

    def test_identity_policy_refusal_text(self):
        no_ecr = variant(identities={"eks-node-b": {"managed_policies": [], "policies": {
            "s3": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}}}})
        with Simulator(no_ecr) as sim:
            self.assertClientError(
                self.client("ecr", "eks-node-b", sim).get_authorization_token, "AccessDeniedException", 400,
                "User: %s is not authorized to perform: ecr:GetAuthorizationToken on resource: * "
                "because no identity-based policy allows the ecr:GetAuthorizationToken action" % SESS_B)

    def test_scp_explicit_deny_text(self):
        scp = {"organization": {"policies": {"DenyEcr": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Action": "ecr:BatchGetImage", "Resource": "*"}]}},
            "root": {"ous": {"workloads": {"scps": ["FullAWSAccess", "DenyEcr"]}}}}}
        with Simulator(variant(**scp)) as sim:
            admin = self.client("ecr", "registry-admin-a", sim)
            admin.set_repository_policy(repositoryName=REPO, policyText=fixed_policy_text())
            self.assertClientError(
                self.client("ecr", "eks-node-b", sim).batch_get_image, "AccessDeniedException", 400,
                "User: %s is not authorized to perform: ecr:BatchGetImage on resource: %s with an "
                "explicit deny in a service control policy: arn:aws:organizations::100000000001:"
                "policy/o-a1b2c3d4e5/service_control_policy/p-%s"
                % (SESS_B, REPO_ARN, hashlib.sha256(b"DenyEcr").hexdigest()[:8]),
                registryId=A, repositoryName=REPO, imageIds=[{"imageTag": "latest"}])


ECR_MODEL = shapes.load_model("ecr")
STS_MODEL = shapes.load_model("sts")
ORGS_MODEL = shapes.load_model("organizations")


@unittest.skipUnless(ECR_MODEL and STS_MODEL and ORGS_MODEL, "botocore models (shared/protocol) not found")
class WireShapes(unittest.TestCase):
    """Raw answers, read with the stdlib client, checked against the service models."""

    @classmethod
    def setUpClass(cls):
        cls.sim = Simulator("seed-fixed.json").start()
        cls.ecr = shapes.ShapeChecker(ECR_MODEL)
        cls.sts = shapes.ShapeChecker(STS_MODEL)
        cls.orgs = shapes.ShapeChecker(ORGS_MODEL)

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def json_ok(self, checker, who, service, op, params):
        status, headers, body = api(self.sim, who, service, op, params)
        self.assertEqual(status, 200, body)
        self.assertEqual(headers["content-type"], "application/x-amz-json-1.1")
        self.assertTrue(headers.get("x-amzn-requestid"))
        self.assertEqual(checker.check_input(op, params), [])
        self.assertEqual(checker.check_output(op, json.loads(body)), [], body)
        return json.loads(body)

    def json_err(self, checker, who, service, op, params, code, status):
        st, headers, body = api(self.sim, who, service, op, params)
        self.assertEqual(st, status, body)
        obj = json.loads(body)
        self.assertEqual(obj["__type"], code)
        self.assertEqual(checker.check_error(code, obj), [], body)

    def test_ecr_outputs(self):
        ops = [
            ("GetAuthorizationToken", {}),
            ("BatchGetImage", {"registryId": A, "repositoryName": REPO,
                               "imageIds": [{"imageTag": "latest"}, {"imageTag": "gone"}]}),
            ("DescribeImages", {"registryId": A, "repositoryName": REPO}),
            ("DescribeRepositories", {"registryId": A, "repositoryNames": [REPO]}),
            ("ListImages", {"registryId": A, "repositoryName": REPO}),
            ("GetRepositoryPolicy", {"registryId": A, "repositoryName": REPO}),
        ]
        for op, params in ops:
            with self.subTest(op=op):
                self.json_ok(self.ecr, "registry-admin-a", "ecr", op, params)
        out = self.json_ok(self.ecr, "eks-node-b", "ecr", "BatchGetImage",
                           {"registryId": A, "repositoryName": REPO, "imageIds": [{"imageTag": "v1.3.0"}]})
        man = json.loads(out["images"][0]["imageManifest"])
        layer = man["layers"][0]["digest"]
        self.json_ok(self.ecr, "eks-node-b", "ecr", "GetDownloadUrlForLayer",
                     {"registryId": A, "repositoryName": REPO, "layerDigest": layer})
        self.json_ok(self.ecr, "eks-node-b", "ecr", "BatchCheckLayerAvailability",
                     {"registryId": A, "repositoryName": REPO, "layerDigests": [layer, "sha256:" + "0" * 64]})

    def test_ecr_policy_ops_and_errors(self):
        with Simulator("seed.json") as sim:
            old, self.sim = self.sim, sim
            try:
                self.json_err(self.ecr, "registry-admin-a", "ecr", "GetRepositoryPolicy",
                              {"repositoryName": REPO}, "RepositoryPolicyNotFoundException", 400)
                self.json_ok(self.ecr, "registry-admin-a", "ecr", "SetRepositoryPolicy",
                             {"repositoryName": REPO, "policyText": fixed_policy_text()})
                self.json_ok(self.ecr, "registry-admin-a", "ecr", "DeleteRepositoryPolicy",
                             {"repositoryName": REPO})
                self.json_err(self.ecr, "registry-admin-a", "ecr", "GetRegistryPolicy", {},
                              "RegistryPolicyNotFoundException", 400)
                self.json_err(self.ecr, "registry-admin-a", "ecr", "BatchGetImage",
                              {"repositoryName": "nope", "imageIds": []}, "RepositoryNotFoundException", 400)
                self.json_err(self.ecr, "registry-admin-a", "ecr", "SetRepositoryPolicy",
                              {"repositoryName": REPO, "policyText": "{}"}, "InvalidParameterException", 400)
                self.json_err(self.ecr, "eks-node-c", "ecr", "BatchGetImage",
                              {"registryId": A, "repositoryName": REPO, "imageIds": [{"imageTag": "latest"}]},
                              "AccessDeniedException", 400)
            finally:
                self.sim = old

    def test_sts_xml(self):
        status, headers, body = api(self.sim, "eks-node-b", "sts", "GetCallerIdentity")
        self.assertEqual(status, 200)
        self.assertEqual(self.sts.check_query_output("GetCallerIdentity", body), [], body)
        creds = harness.creds_of(self.sim, "eks-node-b")
        creds["secret"] = "wrong" + creds["secret"]
        status, _, body = api(self.sim, "eks-node-b", "sts", "GetCallerIdentity", creds=creds)
        self.assertEqual(status, 403)
        self.assertEqual(self.sts.check_query_error(body), [], body)
        self.assertIn(b"<Code>SignatureDoesNotMatch</Code>", body)

    def test_organizations(self):
        self.json_ok(self.orgs, "platform-admin-b", "organizations", "DescribeOrganization", {})
        self.json_err(self.orgs, "eks-node-b", "organizations", "DescribeOrganization", {},
                      "AccessDeniedException", 400)


if __name__ == "__main__":
    unittest.main()
