/* `ecrdiag explain`: names the likely causes of a pull error message offline. One table of
 * rules (patterns -> cause, weight, meaning, confirming command) built from real messages kept
 * in fixtures/explain/corpus.json; a message is normalised first so that the kubelet, containerd,
 * CRI-O, docker and ECS agent wrappings read alike. Depends on core and the cause catalogue. */
#include "ecrdiag/explain.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecrdiag/imageref.h"
#include "ecrdiag/regions.h"

#define EXPLAIN_MARGIN 40 /* causes more than this far below the best are not named */
#define EXPLAIN_MAX_RULES 128
#define EXPLAIN_TEXT_MAX_BYTES (64 * 1024)
#define TEXT_WIDTH 100
#define REF_SCAN_MAX 512 /* bytes either side of "dkr.ecr" read as a reference */

/* ---- what each cause's confirming command is ------------------------------------------------ */

#define C_IDENTITY                                                                        \
  "aws iam simulate-principal-policy --policy-source-arn <node-role-arn> --action-names " \
  "ecr:BatchGetImage ecr:GetDownloadUrlForLayer --resource-arns "                         \
  "arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{REPO}"
#define C_AUTH_TOKEN                                                                      \
  "aws iam simulate-principal-policy --policy-source-arn <node-role-arn> --action-names " \
  "ecr:GetAuthorizationToken"
#define C_REPO_POLICY                                                                          \
  "aws ecr get-repository-policy --registry-id {ACCOUNT} --region {REGION} --repository-name " \
  "{REPO}   # as the registry account"
#define C_REGISTRY_POLICY "aws ecr get-registry-policy --region {REGION}   # as account {ACCOUNT}"
#define C_SCP                                                                            \
  "aws organizations list-policies-for-target --target-id <puller-account-id> --filter " \
  "SERVICE_CONTROL_POLICY   # from the management account"
#define C_RCP                                                                  \
  "aws organizations list-policies-for-target --target-id {ACCOUNT} --filter " \
  "RESOURCE_CONTROL_POLICY   # from the management account"
#define C_VPCE                                                                              \
  "aws ec2 describe-vpc-endpoints --filters "                                               \
  "Name=service-name,Values=com.amazonaws.{REGION}.ecr.dkr,com.amazonaws.{REGION}.ecr.api " \
  "--query 'VpcEndpoints[].PolicyDocument'"
#define C_BOUNDARY "aws iam get-role --role-name <node-role-name> --query Role.PermissionsBoundary"
#define C_SESSION                                                                           \
  "aws cloudtrail lookup-events --lookup-attributes AttributeKey=EventName,AttributeValue=" \
  "AssumeRole --max-results 20   # look for a Policy or PolicyArns parameter"
#define C_KMS                                                                                   \
  "aws ecr describe-repositories --registry-id {ACCOUNT} --region {REGION} --repository-names " \
  "{REPO} --query 'repositories[].encryptionConfiguration'   # then: aws kms describe-key "     \
  "--key-id <kmsKey> --query KeyMetadata.KeyState"
#define C_PTC_IMPORT                                                                      \
  "aws iam simulate-principal-policy --policy-source-arn <node-role-arn> --action-names " \
  "ecr:BatchImportUpstreamImage ecr:CreateRepository --resource-arns "                    \
  "arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{REPO}"
#define C_PTC_UPSTREAM                                                                             \
  "aws ecr describe-pull-through-cache-rules --registry-id {ACCOUNT} --region {REGION}   # then: " \
  "aws ecr validate-pull-through-cache-rule --ecr-repository-prefix <prefix> --region {REGION}"
#define C_REPO_NF                                                                               \
  "aws ecr describe-repositories --registry-id {ACCOUNT} --region {REGION} --repository-names " \
  "{REPO}"
#define C_IMAGE_NF                                                                              \
  "aws ecr describe-images --registry-id {ACCOUNT} --region {REGION} --repository-name {REPO} " \
  "--image-ids {IMAGEID}"
#define C_WRONG_REGION                                                                             \
  "for r in $(aws ec2 describe-regions --query 'Regions[].RegionName' --output text); do aws ecr " \
  "describe-repositories --registry-id {ACCOUNT} --region $r --repository-names {REPO} "           \
  ">/dev/null 2>&1 && echo $r; done"
#define C_PLATFORM                                                                             \
  "docker manifest inspect {IMAGE}   # the platforms it offers; the node's: kubectl get node " \
  "<node> -o jsonpath='{.status.nodeInfo.architecture}'"
#define C_ARCH                                                                                  \
  "docker image inspect --format '{{.Os}}/{{.Architecture}}' {IMAGE}   # compare: kubectl get " \
  "nodes -L kubernetes.io/arch"
#define C_MANIFEST                                                                              \
  "aws ecr batch-get-image --registry-id {ACCOUNT} --region {REGION} --repository-name {REPO} " \
  "--image-ids {IMAGEID} --query 'images[].imageManifestMediaType'"
#define C_NODE_CREDS                                                                               \
  "on the node: journalctl -u kubelet --since -1h | grep -iE 'credential|ecr'   # and check that " \
  "the image credential provider's matchImages covers {HOST}"
#define C_PULL_SECRET                                                                          \
  "kubectl get pod <pod> -o jsonpath='{.spec.imagePullSecrets}'   # then: kubectl get secret " \
  "<name> -o jsonpath='{.data.\\.dockerconfigjson}' | base64 -d"
#define C_DNS "on the node: getent hosts {NETHOST}"
#define C_NET                                                                                \
  "on the node: curl -sS -o /dev/null -w '%{http_code}\\n' https://{NETHOST}/   # any HTTP " \
  "status means "                                                                            \
  "reachable"
#define C_TLS                                                                                \
  "on the node: openssl s_client -connect {NETHOST}:443 -servername {NETHOST} </dev/null | " \
  "openssl x509 -noout -issuer -dates"
#define C_LAYER                                                                                  \
  "aws ec2 describe-vpc-endpoints --filters Name=service-name,Values=com.amazonaws.{REGION}.s3 " \
  "--query 'VpcEndpoints[].[VpcEndpointId,PolicyDocument]'   # must allow s3:GetObject on "      \
  "arn:aws:s3:::prod-{REGION}-starport-layer-bucket/*, and security groups must allow 443 to it"
#define C_REGION "aws account get-region-opt-status --region-name {REGION}"
#define C_CLOCK "on the node: chronyc tracking   # or: timedatectl status"
#define C_REF "kubectl get pod <pod> -o jsonpath='{.spec.containers[*].image}'"
#define C_NOT_ECR                                                                           \
  "kubectl get pod <pod> -o jsonpath='{.spec.containers[*].image}'   # an ECR image names " \
  "ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO"
#define C_SERVICE "https://health.aws.amazon.com/health/status   # then retry the pull"

/* ---- the rules --------------------------------------------------------------------------------
 */

#define P(...)  \
  {             \
    __VA_ARGS__ \
  }
#define RULE(pats, unl, fct, id, w, tr, meaning, confirm)                        \
  {                                                                              \
    pats, unl, EXPLAIN_FACT_##fct, CAUSE_##id, w, EXPLAIN_##tr, meaning, confirm \
  }

#define M_NOT_GRANTING                                                                         \
  "The repository policy does not allow this principal to pull, or the repository name or "    \
  "region is wrong: from the puller's side AWS answers the same when the repository does not " \
  "exist there."
#define NOT_AUTH "not authorized|accessdenied|access denied"
#define PULL_ACTIONS                                                         \
  "not authorized to perform: ecr:batchgetimage|not authorized to perform: " \
  "ecr:getdownloadurlforlayer|not authorized to perform: ecr:batchchecklayeravailability"
#define DENIED_403                                                                               \
  "403 forbidden|status code 403|http 403|403 (forbidden)|: forbidden|denied: requested access " \
  "to the resource is denied|accessdenied|access denied|: denied"
#define RATE_LIMIT "toomanyrequests|too many requests|rate exceeded|pull rate limit"
#define TOKEN_FAILED                                                                               \
  "failed to get authorization token|unable to get authorization token|error retrieving "          \
  "credentials|getauthorizationtoken|unable to retrieve ecr registry auth|unable to pull secrets " \
  "or registry auth"
#define UNAUTHORIZED_401                                                                          \
  "401 unauthorized|status code 401|status: 401|unauthorized: authentication required|"           \
  "unauthorized: not authorized|401 (unauthorized)|http 401|unauthorized: incorrect username or " \
  "password"

static const struct explain_rule rules[] = {
    /* AWS's access-denied reason suffix names the policy type that decided. */
    RULE(P("ecr:getauthorizationtoken", NOT_AUTH), NULL, NONE, AUTH_TOKEN_DENIED, 99, SPECIFIC,
         "The principal may not call ecr:GetAuthorizationToken, so it gets no registry token. "
         "Only identity policies can grant it, on Resource \"*\", in the registry's region.",
         C_AUTH_TOKEN),
    RULE(P("ecr:batchimportupstreamimage", NOT_AUTH), NULL, NONE, PTC_IMPORT_DENIED, 99, SPECIFIC,
         "The image is not in the pull-through cache yet and the puller may not import it "
         "(ecr:BatchImportUpstreamImage, and ecr:CreateRepository for a new repository).",
         C_PTC_IMPORT),
    RULE(P("explicit deny in a service control policy|no service control policy allows"), NULL,
         NONE, SCP_DENY, 98, SPECIFIC,
         "A service control policy of the puller's organization denies the pull.", C_SCP),
    RULE(P("explicit deny in a resource control policy|no resource control policy allows"), NULL,
         NONE, RCP_DENY, 98, SPECIFIC,
         "A resource control policy of the registry's organization denies the pull.", C_RCP),
    RULE(P("explicit deny in a vpc endpoint policy|no vpc endpoint policy allows"), NULL, NONE,
         VPC_ENDPOINT_POLICY_DENY, 98, SPECIFIC,
         "The policy of the ECR VPC endpoint the node goes through does not let the pull "
         "through.",
         C_VPCE),
    RULE(P("explicit deny in a permissions boundary|no permissions boundary allows"), NULL, NONE,
         PERMISSIONS_BOUNDARY_DENY, 98, SPECIFIC,
         "The permissions boundary on the pulling role does not allow the ECR pull actions.",
         C_BOUNDARY),
    RULE(P("explicit deny in a session policy|no session policy allows"), NULL, NONE,
         SESSION_POLICY_DENY, 98, SPECIFIC,
         "The session policy passed when the role session was created does not allow the pull.",
         C_SESSION),
    RULE(P("explicit deny in a resource-based policy"), NULL, NONE, REPO_POLICY_EXPLICIT_DENY, 97,
         SPECIFIC, "A Deny statement in the repository policy matches this principal.",
         C_REPO_POLICY),
    RULE(P("explicit deny in a resource-based policy"), NULL, NONE, REGISTRY_POLICY_DENY, 75,
         SPECIFIC, "Or a Deny in the registry policy (the registry's resource policy) matches.",
         C_REGISTRY_POLICY),
    RULE(P("explicit deny in an identity-based policy"), NULL, NONE, IDENTITY_POLICY_MISSING, 95,
         SPECIFIC, "A Deny statement in the pulling principal's own IAM policies matches.",
         C_IDENTITY),
    RULE(P("no identity-based policy allows"), "getauthorizationtoken|batchimportupstreamimage",
         NONE, IDENTITY_POLICY_MISSING, 96, SPECIFIC,
         "The pulling principal's IAM policies do not allow ecr:BatchGetImage / "
         "ecr:GetDownloadUrlForLayer on this repository (e.g. AmazonEC2ContainerRegistryReadOnly "
         "is not attached to the node role).",
         C_IDENTITY),
    RULE(P("no resource-based policy allows"), "getauthorizationtoken|batchimportupstreamimage",
         NONE, REPO_POLICY_NOT_GRANTING, 96, SPECIFIC, M_NOT_GRANTING, C_REPO_POLICY),
    RULE(P("no resource-based policy allows"), "getauthorizationtoken|batchimportupstreamimage",
         NONE, REPO_POLICY_MISSING, 66, SPECIFIC,
         "Or the repository has no repository policy at all, which denies every other account.",
         C_REPO_POLICY),
    RULE(P("no resource-based policy allows"), "getauthorizationtoken|batchimportupstreamimage",
         NONE, REPOSITORY_NOT_FOUND, 58, SPECIFIC,
         "Or no repository of that name exists in that account and region.", C_REPO_NF),

    /* A bare "not authorized" (no suffix: older messages, or across organizations). */
    RULE(P(PULL_ACTIONS), "because no|explicit deny", NONE, REPO_POLICY_NOT_GRANTING, 80, SPECIFIC,
         M_NOT_GRANTING, C_REPO_POLICY),
    RULE(P(PULL_ACTIONS), "because no|explicit deny", NONE, IDENTITY_POLICY_MISSING, 78, SPECIFIC,
         "The pulling principal's IAM policies may not allow ecr:BatchGetImage / "
         "ecr:GetDownloadUrlForLayer on this repository.",
         C_IDENTITY),
    RULE(P(PULL_ACTIONS), "because no|explicit deny", SAME_ACCOUNT, IDENTITY_POLICY_MISSING, 88,
         SPECIFIC,
         "The principal is in the registry's own account, where its IAM policies decide: they do "
         "not allow ecr:BatchGetImage / ecr:GetDownloadUrlForLayer on this repository.",
         C_IDENTITY),
    RULE(P(PULL_ACTIONS), "because no|explicit deny", SAME_ACCOUNT, REPO_POLICY_EXPLICIT_DENY, 55,
         SPECIFIC, "Or a Deny statement in the repository policy matches this principal.",
         C_REPO_POLICY),
    RULE(P(PULL_ACTIONS), "because no|explicit deny", CROSS_ACCOUNT, REPO_POLICY_NOT_GRANTING, 88,
         SPECIFIC,
         "The principal is in another account: the repository policy must name it (or its "
         "account), and the name and region must be right.",
         C_REPO_POLICY),

    /* KMS and pull-through cache failure codes. */
    RULE(P("kmserror|kmsexception|kmsinvalidstate|kmsdisabled|kms key|kms:decrypt|kmsaccessdenied"),
         NULL, NONE, KMS_KEY_UNUSABLE, 95, SPECIFIC,
         "ECR can no longer use the repository's KMS key (disabled, pending deletion, grant "
         "revoked). The puller needs no KMS permission: the fix is on the key.",
         C_KMS),
    RULE(P("upstreamaccessdenied|upstreamtoomanyrequests|upstreamunavailable|"
           "unabletogetupstreamimage|unable to get upstream|upstream registry"),
         NULL, NONE, PTC_UPSTREAM_FAILED, 95, SPECIFIC,
         "The pull-through cache could not fetch the image from the upstream registry (its "
         "ecr-pullthroughcache/ secret, upstream rate limits or availability).",
         C_PTC_UPSTREAM),
    RULE(P("ecr:createrepository", NOT_AUTH), NULL, PTC_PATH, PTC_IMPORT_DENIED, 95, SPECIFIC,
         "The pull-through cache would create the repository on first pull and the puller may "
         "not (ecr:CreateRepository).",
         C_PTC_IMPORT),
    RULE(P(RATE_LIMIT), NULL, PTC_PATH, PTC_UPSTREAM_FAILED, 88, SPECIFIC,
         "The upstream registry behind the pull-through cache rate-limited ECR "
         "(UpstreamTooManyRequests); credentials for the upstream raise the limit.",
         C_PTC_UPSTREAM),
    RULE(P(RATE_LIMIT), "toomanyrequests: you have reached|increase-rate-limit", NONE,
         PTC_UPSTREAM_FAILED, 62, SPECIFIC,
         "A registry rate-limited the pull; through a pull-through cache this is the upstream "
         "refusing ECR.",
         C_PTC_UPSTREAM),
    RULE(P(RATE_LIMIT), NULL, NONE, THROTTLED, 58, SPECIFIC,
         "The registry throttled the requests; retries with backoff usually get through.",
         C_SERVICE),
    RULE(P("403|forbidden|denied|not found|manifest unknown"), NULL, PTC_PATH, PTC_IMPORT_DENIED,
         72, SPECIFIC,
         "The repository is under a pull-through cache prefix: an image not cached yet is "
         "imported on first pull, which needs ecr:BatchImportUpstreamImage.",
         C_PTC_IMPORT),
    RULE(P("403|forbidden|denied|not found|manifest unknown"), NULL, PTC_PATH, PTC_UPSTREAM_FAILED,
         66, SPECIFIC, "Or the cache could not fetch the image upstream.", C_PTC_UPSTREAM),

    /* Platform and manifest format. */
    RULE(P("no match for platform in manifest|no matching manifest for|no match for current "
           "platform|no image found in manifest list for architecture|no image found in image "
           "index for architecture|does not match the specified platform|imageplatformmismatch|"
           "image platform mismatch"),
         NULL, NONE, PLATFORM_MISMATCH, 97, SPECIFIC,
         "The tag is a multi-platform index with no entry for the node's OS/architecture.",
         C_PLATFORM),
    RULE(P("exec format error"), NULL, NONE, ARCH_MISMATCH_AT_RUNTIME, 95, SPECIFIC,
         "The image pulled, but its binaries are built for another CPU architecture than the "
         "node's (a single-platform image, e.g. amd64 on a Graviton node).",
         C_ARCH),
    RULE(P("manifest.v1+prettyjws|manifest.v1+json|manifest schema 1|schema1|schema 1"), NULL, NONE,
         MANIFEST_UNSUPPORTED, 95, SPECIFIC,
         "The image was pushed with a Docker schema 1 manifest, which current runtimes no "
         "longer pull; rebuild and push it again.",
         C_MANIFEST),
    RULE(P("unsupported mediatype|unsupported manifest media type|unsupported media type|unknown "
           "media type|mediatype~not supported"),
         NULL, NONE, MANIFEST_UNSUPPORTED, 85, SPECIFIC,
         "The manifest's media type is one the runtime cannot pull.", C_MANIFEST),

    /* Missing images and repositories. */
    RULE(P("requested image not found|imagenotfound|imagetagdoesnotmatchdigest|"
           "missingdigestandtag"),
         NULL, NONE, IMAGE_NOT_FOUND, 93, SPECIFIC,
         "The repository exists but has no image with this tag or digest (a typo, a tag not "
         "pushed yet, or removed by a lifecycle policy).",
         C_IMAGE_NF),
    RULE(P("manifest unknown|manifest for * not found|manifest * not found"), "platform", NONE,
         IMAGE_NOT_FOUND, 88, SPECIFIC,
         "The registry has no manifest for this tag or digest: the tag does not exist (or was "
         "deleted) in this repository.",
         C_IMAGE_NF),
    RULE(P("manifest unknown|manifest for * not found|manifest * not found"), "platform", NONE,
         WRONG_REGION, 52, SPECIFIC,
         "Or the image was pushed to the same account in another region.", C_WRONG_REGION),
    RULE(P("image ~ not found"), "platform", NONE, IMAGE_NOT_FOUND, 80, SPECIFIC,
         "The runtime found no image of that name and tag.", C_IMAGE_NF),
    RULE(P("does not exist in the registry with id|repositorynotfound|name unknown|repository name "
           "not known"),
         NULL, NONE, REPOSITORY_NOT_FOUND, 93, SPECIFIC,
         "No repository of that name exists in this registry (account and region).", C_REPO_NF),
    RULE(P("does not exist in the registry with id|repositorynotfound|name unknown|repository name "
           "not known"),
         NULL, NONE, WRONG_REGION, 60, SPECIFIC,
         "Or the repository exists in another region of the account.", C_WRONG_REGION),
    RULE(P("repository * not found"), "platform", NONE, REPOSITORY_NOT_FOUND, 85, SPECIFIC,
         "The runtime was told the repository does not exist (or it may not see it).", C_REPO_NF),
    RULE(P("no pull access"), NULL, NONE, NODE_NO_ECR_CREDENTIALS, 55, SPECIFIC,
         "\"No pull access\": the credentials sent (the kubelet's cached ECR token, a pull secret) "
         "may be missing or stale.",
         C_NODE_CREDS),
    RULE(P("repository * not found"), "platform", NONE, WRONG_REGION, 50, SPECIFIC,
         "Or the repository exists in another region of the account.", C_WRONG_REGION),
    RULE(P("failed to resolve reference|failed to resolve ref|code = notfound",
           ": not found|notfound"),
         "platform|no basic auth|unauthorized|forbidden", NONE, IMAGE_NOT_FOUND, 80, SPECIFIC,
         "The registry answered 404 to the manifest request: no such tag or digest (containerd "
         "does not say whether the repository itself is missing).",
         C_IMAGE_NF),
    RULE(P("failed to resolve reference|failed to resolve ref|code = notfound",
           ": not found|notfound"),
         "platform|no basic auth|unauthorized|forbidden", NONE, REPOSITORY_NOT_FOUND, 70, SPECIFIC,
         "Or the repository itself does not exist in this account and region.", C_REPO_NF),
    RULE(P("failed to resolve reference|failed to resolve ref|code = notfound",
           ": not found|notfound"),
         "platform|no basic auth|unauthorized|forbidden", NONE, WRONG_REGION, 50, SPECIFIC,
         "Or it was pushed to another region.", C_WRONG_REGION),

    /* Credentials the kubelet or runtime sent (or did not). */
    RULE(P("no basic auth credentials|basic auth credentials not found|credentials not found in "
           "native keychain"),
         NULL, NONE, NODE_NO_ECR_CREDENTIALS, 92, SPECIFIC,
         "The runtime sent no credentials for this registry: no image credential provider on the "
         "node, its matchImages does not cover this host, or it failed to get a token.",
         C_NODE_CREDS),
    RULE(P("no basic auth credentials|basic auth credentials not found|credentials not found in "
           "native keychain"),
         NULL, NONE, AUTH_TOKEN_DENIED, 60, SPECIFIC,
         "Or the node role may not call ecr:GetAuthorizationToken, so the provider has no token.",
         C_AUTH_TOKEN),
    RULE(P("no basic auth credentials|basic auth credentials not found|credentials not found in "
           "native keychain"),
         NULL, NONE, PULL_SECRET_WRONG_REGISTRY, 55, SPECIFIC,
         "Or the only credentials at hand (docker login, an imagePullSecret) are for another "
         "registry.",
         C_PULL_SECRET),
    RULE(P("no ec2 imds role found|169.254.169.254|failed to refresh cached credentials|no valid "
           "providers in chain|nocredentialproviders|unable to locate credentials"),
         NULL, NONE, NODE_NO_ECR_CREDENTIALS, 93, SPECIFIC,
         "The node has no AWS credentials to ask ECR for a token: no instance role, or IMDS is "
         "unreachable (hop limit, IMDSv2 settings).",
         C_NODE_CREDS),
    RULE(P("credential provider plugin|external registry credential provider|image-credential-"
           "provider|credentialproviderconfig|credential provider"),
         NULL, NONE, NODE_NO_ECR_CREDENTIALS, 90, SPECIFIC,
         "The kubelet's ECR credential provider failed, so the pull went without credentials.",
         C_NODE_CREDS),
    RULE(P("credential provider plugin|external registry credential provider|image-credential-"
           "provider|credentialproviderconfig|credential provider"),
         NULL, NONE, AUTH_TOKEN_DENIED, 60, SPECIFIC,
         "Or the node role may not call ecr:GetAuthorizationToken.", C_AUTH_TOKEN),
    RULE(P("credential provider plugin|external registry credential provider|image-credential-"
           "provider|credentialproviderconfig|credential provider"),
         NULL, NONE, NETWORK_UNREACHABLE, 52, SPECIFIC,
         "Or the provider cannot reach the ECR API (api.ecr.REGION.amazonaws.com) from the node.",
         C_NET),
    RULE(P(TOKEN_FAILED), NULL, NONE, NODE_NO_ECR_CREDENTIALS, 72, SPECIFIC,
         "Getting a registry token failed, so the pull has no ECR credentials.", C_NODE_CREDS),
    RULE(P(TOKEN_FAILED), NULL, NONE, AUTH_TOKEN_DENIED, 62, SPECIFIC,
         "Or the principal may not call ecr:GetAuthorizationToken.", C_AUTH_TOKEN),
    RULE(P("authorization token has expired|token has expired|expired authorization token"), NULL,
         NONE, PULL_SECRET_EXPIRED, 95, SPECIFIC,
         "The registry token used (a docker login or an imagePullSecret) is older than its 12 "
         "hours; ECR tokens must be refreshed, or left to the node's credential provider.",
         C_PULL_SECRET),
    RULE(P("authorization token has expired|token has expired|expired authorization token"), NULL,
         NONE, NODE_NO_ECR_CREDENTIALS, 60, SPECIFIC,
         "The node's own credential provider did not supply a fresh token either.", C_NODE_CREDS),
    RULE(P("security token included in the request is expired|expiredtoken"), NULL, NONE,
         NODE_NO_ECR_CREDENTIALS, 75, SPECIFIC,
         "The AWS credentials used to ask for a registry token have expired.", C_NODE_CREDS),
    RULE(P("security token included in the request is expired|expiredtoken"), NULL, NONE,
         CLOCK_SKEW, 60, SPECIFIC, "Or the clock of the host is wrong.", C_CLOCK),
    RULE(P("security token included in the request is invalid|unrecognizedclientexception|"
           "invalidclienttokenid"),
         NULL, OPT_IN_REGION, REGION_NOT_ENABLED, 92, SPECIFIC,
         "The registry is in an opt-in region that is not enabled for the caller's account, so "
         "its credentials are unknown there.",
         C_REGION),
    RULE(P("security token included in the request is invalid|unrecognizedclientexception|"
           "invalidclienttokenid"),
         NULL, NONE, REGION_NOT_ENABLED, 70, SPECIFIC,
         "AWS does not know the credentials in this region: an opt-in region not enabled for the "
         "account, or credentials that are not valid.",
         C_REGION),
    RULE(P("security token included in the request is invalid|unrecognizedclientexception|"
           "invalidclienttokenid"),
         NULL, NONE, NODE_NO_ECR_CREDENTIALS, 60, SPECIFIC,
         "So no registry token could be had for the pull.", C_NODE_CREDS),
    RULE(
        P("signature expired|signature not yet current|requesttimetooskewed|clock skew|request has "
          "expired"),
        NULL, NONE, CLOCK_SKEW, 92, SPECIFIC,
        "The host's clock is too far from AWS's for signed requests.", C_CLOCK),
    RULE(
        P("signature expired|signature not yet current|requesttimetooskewed|clock skew|request has "
          "expired"),
        NULL, NONE, NODE_NO_ECR_CREDENTIALS, 55, SPECIFIC, "So the node gets no registry token.",
        C_NODE_CREDS),
    RULE(P(UNAUTHORIZED_401), NULL, NONE, NODE_NO_ECR_CREDENTIALS, 70, SPECIFIC,
         "The registry answered 401: the pull carried no valid ECR credentials (no or failing "
         "credential provider, or its matchImages misses this host).",
         C_NODE_CREDS),
    RULE(P(UNAUTHORIZED_401), NULL, NONE, AUTH_TOKEN_DENIED, 56, SPECIFIC,
         "Or the node role may not call ecr:GetAuthorizationToken.", C_AUTH_TOKEN),
    RULE(P(UNAUTHORIZED_401), NULL, NONE, PULL_SECRET_EXPIRED, 52, SPECIFIC,
         "Or an imagePullSecret for this host holds an expired token.", C_PULL_SECRET),
    RULE(P(UNAUTHORIZED_401 "|no basic auth credentials|authorization failed"), NULL, OPT_IN_REGION,
         REGION_NOT_ENABLED, 62, SPECIFIC,
         "The registry is in an opt-in region: if the region is not enabled for the node's "
         "account, the node gets no token for it.",
         C_REGION),
    RULE(P("authorization failed"), "no basic auth", NONE, PULL_SECRET_EXPIRED, 58, SPECIFIC,
         "Credentials were sent and refused: often an imagePullSecret holding an expired ECR "
         "token.",
         C_PULL_SECRET),
    RULE(P("authorization failed"), "no basic auth", NONE, PULL_SECRET_WRONG_REGISTRY, 55, SPECIFIC,
         "Or a token for another account or region.", C_PULL_SECRET),
    RULE(P("authorization failed"), "no basic auth", NONE, NODE_NO_ECR_CREDENTIALS, 54, SPECIFIC,
         "Or the node's credential provider did not cover this registry.", C_NODE_CREDS),

    /* Reaching the endpoints. */
    RULE(
        P("no such host|name resolution|could not resolve host|nxdomain|server misbehaving|name or "
          "service not known"),
        NULL, NONE, NETWORK_DNS_FAILURE, 92, SPECIFIC,
        "A host name in the pull does not resolve from the node: the VPC's DNS, a private hosted "
        "zone for an ECR VPC endpoint, or a mistyped registry host.",
        C_DNS),
    RULE(P("lookup ~ on ~:53"), NULL, NONE, NETWORK_DNS_FAILURE, 90, SPECIFIC,
         "The node's DNS server did not answer for a registry host name.", C_DNS),
    RULE(P("no route to host|network is unreachable|connection refused"), NULL, NONE,
         NETWORK_UNREACHABLE, 88, SPECIFIC,
         "The node cannot open a connection to the endpoint: routes, NAT, security groups or "
         "VPC endpoints are missing.",
         C_NET),
    RULE(P("i/o timeout|connection timed out|request canceled while waiting for connection|"
           "client.timeout exceeded|awaiting headers"),
         NULL, NONE, NETWORK_UNREACHABLE, 85, SPECIFIC,
         "Connections from the node time out: no route out (NAT, VPC endpoints) or a firewall "
         "drops them.",
         C_NET),
    RULE(P("tls handshake timeout"), NULL, NONE, NETWORK_UNREACHABLE, 86, SPECIFIC,
         "The TLS handshake never started: packets to the registry are dropped (security groups, "
         "missing VPC endpoint, proxy).",
         C_NET),
    RULE(P("tls handshake timeout"), NULL, NONE, TLS_FAILURE, 55, SPECIFIC,
         "Or a proxy in the way breaks TLS.", C_TLS),
    RULE(P("connection reset by peer|unexpected eof|broken pipe"), NULL, NONE, NETWORK_UNREACHABLE,
         62, SPECIFIC, "The connection was cut during the transfer (proxy, firewall, MTU).", C_NET),
    RULE(P("context deadline exceeded|deadlineexceeded"), NULL, NONE, NETWORK_UNREACHABLE, 60,
         SPECIFIC, "The pull ran out of time: a slow or blocked path to the registry.", C_NET),
    RULE(P("x509:|certificate signed by unknown authority|certificate has expired|certificate is "
           "not "
           "valid|certificate is valid for|tls: failed to verify|certificate verify failed|ssl "
           "certificate problem|unknown certificate authority"),
         NULL, NONE, TLS_FAILURE, 95, SPECIFIC,
         "The node does not trust the certificate it was shown: a TLS-intercepting proxy, or an "
         "outdated CA bundle.",
         C_TLS),

    /* The layer host: ECR's layers come from S3 (prod-REGION-starport-layer-bucket). */
    RULE(P("starport-layer-bucket|prod-~-starport"), NULL, NONE, LAYER_DOWNLOAD_BLOCKED, 90,
         SPECIFIC,
         "The failing request went to the S3 bucket that serves ECR's layers: the node reaches "
         "the registry but not S3 (S3 gateway endpoint policy or route, security group, proxy).",
         C_LAYER),
    RULE(P("<code>accessdenied</code>|<error><code>"), NULL, NONE, LAYER_DOWNLOAD_BLOCKED, 86,
         SPECIFIC,
         "S3 refused the layer download (an S3 error body): an S3 VPC endpoint policy that does "
         "not allow ECR's layer bucket.",
         C_LAYER),
    RULE(P("<code>accessdenied</code>|<error><code>"), NULL, NONE, VPC_ENDPOINT_POLICY_DENY, 62,
         SPECIFIC, "The endpoint policy in question is the S3 gateway endpoint's.", C_LAYER),
    RULE(P("httpreadseeker|error pulling image configuration|failed to copy:|failed to fetch "
           "blob|error downloading layer|failed to download layer|download failed after attempts"),
         "toomanyrequests|429", NONE, LAYER_DOWNLOAD_BLOCKED, 72, SPECIFIC,
         "The manifest was read but downloading a blob (served from S3 for ECR) failed.", C_LAYER),
    RULE(P("httpreadseeker|error pulling image configuration|failed to copy:|failed to fetch "
           "blob|error downloading layer|failed to download layer|download failed after attempts"),
         "toomanyrequests|429", NONE, NETWORK_UNREACHABLE, 55, SPECIFIC,
         "Or the path to the layer host is slow or cut.", C_NET),

    /* The reference itself. */
    RULE(P("invalid reference format|couldn't parse image reference|could not parse reference|"
           "invalidimagename|failed to parse image name|repository name must be lowercase|invalid "
           "image name|repository name must have at least one component"),
         NULL, NONE, IMAGE_REF_INVALID, 95, SPECIFIC,
         "The image reference in the pod spec is malformed.", C_REF),
    RULE(P("pull access denied for ~dkr.ecr~amazonaws.com,|pull access denied for "
           "~dkr.ecr~amazonaws.com.cn,"),
         NULL, NONE, IMAGE_REF_INVALID, 90, SPECIFIC,
         "The reference is the registry host alone: the repository path (/REPO:TAG) is missing, "
         "so the runtime looked for an image named after the host elsewhere.",
         C_REF),
    RULE(P("pull access denied for|repository does not exist or may require|requested access to "
           "the resource is denied"),
         NULL, NO_ECR_HOST, NOT_ECR, 75, SPECIFIC,
         "The message names no private ECR registry: the reference has no ACCOUNT.dkr.ecr.REGION "
         "host, so the runtime looked for it elsewhere (Docker Hub for a bare name).",
         C_NOT_ECR),

    /* Status codes and wrapper phrases alone: spoken only when nothing specific matched. */
    RULE(P(DENIED_403), NULL, NONE, REPO_POLICY_NOT_GRANTING, 50, GENERIC, M_NOT_GRANTING,
         C_REPO_POLICY),
    RULE(P(DENIED_403), NULL, NONE, IDENTITY_POLICY_MISSING, 46, GENERIC,
         "Or the pulling principal's IAM policies do not allow ecr:BatchGetImage / "
         "ecr:GetDownloadUrlForLayer.",
         C_IDENTITY),
    RULE(P(DENIED_403), NULL, NONE, REPO_POLICY_EXPLICIT_DENY, 35, GENERIC,
         "Or a Deny statement (repository policy, SCP, VPC endpoint policy) matches.",
         C_REPO_POLICY),
    RULE(P("pull access denied|repository does not exist or may require|may require 'docker "
           "login'|may require authorization"),
         NULL, NONE, REPO_POLICY_NOT_GRANTING, 48, GENERIC, M_NOT_GRANTING, C_REPO_POLICY),
    RULE(P("pull access denied|repository does not exist or may require|may require 'docker "
           "login'|may require authorization"),
         NULL, NONE, PULL_SECRET_EXPIRED, 45, GENERIC,
         "Or the credentials used (a docker login, an imagePullSecret) hold an ECR token older "
         "than its 12 hours.",
         C_PULL_SECRET),
    RULE(P("pull access denied|repository does not exist or may require|may require 'docker "
           "login'|may require authorization"),
         NULL, NONE, NODE_NO_ECR_CREDENTIALS, 42, GENERIC,
         "Or the pull carried no ECR credentials.", C_NODE_CREDS),
    RULE(P("404 not found|status code 404|http 404|: not found"), "platform", NONE, IMAGE_NOT_FOUND,
         45, GENERIC, "The registry answered 404: no such tag or digest.", C_IMAGE_NF),
    RULE(P("404 not found|status code 404|http 404|: not found"), "platform", NONE,
         REPOSITORY_NOT_FOUND, 42, GENERIC, "Or no such repository.", C_REPO_NF),
    RULE(P("500 internal server error|internal server error|502 bad gateway|503 service "
           "unavailable|serviceunavailable|service unavailable"),
         NULL, NONE, SERVICE_ERROR, 40, GENERIC,
         "The registry answered with a server error; retry, and check the AWS Health Dashboard.",
         C_SERVICE),
    RULE(P("timeout|timed out"), NULL, NONE, NETWORK_UNREACHABLE, 40, GENERIC,
         "Something timed out on the way to the registry.", C_NET),
};
#define N_RULES (sizeof rules / sizeof rules[0])
_Static_assert(N_RULES <= EXPLAIN_MAX_RULES, "raise EXPLAIN_MAX_RULES");

const struct explain_rule *explain_rules(size_t *n)
{
  if (n)
    *n = N_RULES;
  return rules;
}

/* ---- normalisation ----------------------------------------------------------------------------
 */

/* Copies msg into out with the wrappers' escaping undone: backslashes dropped ("\n" and "\t"
 * become a space), control bytes become spaces, runs of spaces become one. Case is kept; lower
 * gets the same bytes lower-cased (ASCII only), at the same offsets. Returns the length. */
static size_t normalise(const char *msg, size_t len, char *out, char *lower)
{
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)msg[i];
    if (c == '\\') {
      if (i + 1 < len && (msg[i + 1] == 'n' || msg[i + 1] == 't' || msg[i + 1] == 'r')) {
        c = ' ';
        i++;
      } else {
        continue;
      }
    }
    if (c < 0x20 || c == 0x7f)
      c = ' ';
    if (c == ' ' && (o == 0 || out[o - 1] == ' '))
      continue;
    out[o] = (char)c;
    lower[o] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    o++;
  }
  while (o > 0 && out[o - 1] == ' ')
    o--;
  out[o] = lower[o] = '\0';
  return o;
}

/* ---- matching ---------------------------------------------------------------------------------
 */

#define NPOS ((size_t)-1)

static size_t mem_find(const char *hay, size_t hn, size_t from, const char *needle, size_t nn)
{
  if (nn == 0)
    return from <= hn ? from : NPOS;
  if (nn > hn)
    return NPOS;
  for (size_t i = from; i + nn <= hn; i++) {
    const char *c = memchr(hay + i, needle[0], hn - nn + 1 - i);
    if (!c)
      return NPOS;
    i = (size_t)(c - hay);
    if (memcmp(hay + i, needle, nn) == 0)
      return i;
  }
  return NPOS;
}

static bool is_gap(char c)
{
  return c == '*' || c == '~';
}

/* One alternative (p, pn): segments separated by '*' (any bytes) or '~' (no spaces), each gap
 * at most EXPLAIN_GAP_BYTES. On a match sets *at and *end to the matched span. */
static bool alt_match(const char *t, size_t tn, const char *p, size_t pn, size_t *at, size_t *end)
{
  size_t s0 = 0;
  while (s0 < pn && !is_gap(p[s0]))
    s0++;
  size_t start = 0;
  for (;;) {
    size_t first = mem_find(t, tn, start, p, s0);
    if (first == NPOS)
      return false;
    size_t pos = first + s0;
    size_t i = s0;
    bool ok = true;
    while (i < pn) {
      char gap = p[i++];
      size_t j = i;
      while (j < pn && !is_gap(p[j]))
        j++;
      /* Look only as far as the gap allows: the cost stays linear in the message. */
      size_t window = pos + EXPLAIN_GAP_BYTES + (j - i);
      size_t q = mem_find(t, window < tn ? window : tn, pos, p + i, j - i);
      if (q == NPOS || (gap == '~' && memchr(t + pos, ' ', q - pos))) {
        ok = false;
        break;
      }
      pos = q + (j - i);
      i = j;
    }
    if (ok) {
      *at = first;
      *end = pos;
      return true;
    }
    start = first + 1;
  }
}

/* A pattern entry: alternatives separated by '|'; the first that matches wins. */
static bool pat_match(const char *t, size_t tn, const char *pat, size_t *at, size_t *end)
{
  const char *p = pat;
  for (;;) {
    const char *bar = strchr(p, '|');
    size_t pn = bar ? (size_t)(bar - p) : strlen(p);
    if (pn && alt_match(t, tn, p, pn, at, end))
      return true;
    if (!bar)
      return false;
    p = bar + 1;
  }
}

/* ---- facts ------------------------------------------------------------------------------------
 */

/* Pull-through cache rules' usual prefixes (the console's defaults). */
static const char *const ptc_prefixes[] = {
    "docker-hub/", "ecr-public/", "quay/",   "k8s/",   "kubernetes/", "registry-k8s-io/",
    "ghcr/",       "github/",     "gitlab/", "azure/", "chainguard/",
};

static bool is_digit(char c)
{
  return c >= '0' && c <= '9';
}

static bool is_ref_char(char c)
{
  return c && !strchr(" \"'`,;()[]{}<>|\\", c);
}

static void copy_str(char *dst, size_t cap, const char *src, size_t n)
{
  if (n >= cap)
    n = cap - 1;
  memcpy(dst, src, n);
  dst[n] = '\0';
}

/* Reads 12 digits at t[i]; true when there are exactly 12. */
static bool read_account(const char *t, size_t tn, size_t i, char out[13])
{
  size_t n = 0;
  while (i + n < tn && is_digit(t[i + n]))
    n++;
  if (n != 12)
    return false;
  copy_str(out, 13, t + i, 12);
  return true;
}

static void take_ref(struct explain_facts *f, const struct image_ref *r)
{
  char *img = NULL;
  size_t need = strlen(r->host) + strlen(r->repository) + 80;
  img = malloc(need);
  if (!img)
    return;
  if (r->digest)
    snprintf(img, need, "%s/%s%s%s@%s", r->host, r->repository, r->tag ? ":" : "",
             r->tag ? r->tag : "", r->digest);
  else
    snprintf(img, need, "%s/%s:%s", r->host, r->repository, r->tag ? r->tag : "latest");
  copy_str(f->image, sizeof f->image, img, strlen(img));
  free(img);
  copy_str(f->host, sizeof f->host, r->host, strlen(r->host));
  copy_str(f->account, sizeof f->account, r->registry_id, strlen(r->registry_id));
  copy_str(f->region, sizeof f->region, r->region, strlen(r->region));
  copy_str(f->repository, sizeof f->repository, r->repository, strlen(r->repository));
  const char *ref = imageref_manifest_ref(r);
  if (ref)
    copy_str(f->ref, sizeof f->ref, ref, strlen(ref));
}

/* Tries the token t[s, e) as an image reference, or as a registry URL
 * (https://HOST/v2/REPO/manifests/REF). True when it is a private ECR one. */
static bool try_ref(struct explain_facts *f, const char *t, size_t s, size_t e, bool url)
{
  char cand[1024];
  if (e - s >= sizeof cand)
    return false;
  copy_str(cand, sizeof cand, t + s, e - s);
  if (url) {
    char *v2 = strstr(cand, "/v2/");
    if (!v2)
      return false;
    char *path = v2 + 4;
    char *kind = strstr(path, "/manifests/");
    const char *ref = NULL;
    if (kind) {
      ref = kind + 11;
      *kind = '\0';
    } else if ((kind = strstr(path, "/blobs/")) || (kind = strstr(path, "/tags/"))) {
      *kind = '\0';
    } else {
      return false;
    }
    char built[1024];
    snprintf(built, sizeof built, "%.*s/%s%s%s", (int)(v2 - cand), cand, path,
             ref && *ref ? (strncmp(ref, "sha256:", 7) == 0 ? "@" : ":") : "",
             ref && *ref ? ref : "");
    copy_str(cand, sizeof cand, built, strlen(built));
  }
  struct image_ref r;
  memset(&r, 0, sizeof r);
  bool ok = imageref_parse(cand, &r, NULL) == ERR_OK && r.kind == IMAGEREF_ECR;
  if (ok)
    take_ref(f, &r);
  imageref_release(&r);
  return ok;
}

/* The region in "dkr.ecr[-fips].REGION." at t[i] (pointing at "dkr"), when the account is masked.
 */
static void region_after(struct explain_facts *f, const char *l, size_t ln, size_t i)
{
  i += 7; /* "dkr.ecr" or "dkr-ecr" */
  if (i + 5 <= ln && memcmp(l + i, "-fips", 5) == 0)
    i += 5;
  if (i >= ln || l[i] != '.')
    return;
  size_t s = ++i;
  while (i < ln && ((l[i] >= 'a' && l[i] <= 'z') || is_digit(l[i]) || l[i] == '-'))
    i++;
  if (i - s >= 9 && i - s < sizeof f->region && memchr(l + s, '-', i - s) && is_digit(l[i - 1]))
    copy_str(f->region, sizeof f->region, l + s, i - s);
}

static void find_image(struct explain_facts *f, const char *t, const char *l, size_t n)
{
  /* Two passes: a plain reference ("Failed to pull image X") is better than a URL. */
  for (int pass = 0; pass < 2 && !f->image[0]; pass++) {
    size_t from = 0;
    for (;;) {
      size_t a = mem_find(l, n, from, "dkr.ecr", 7);
      size_t b = mem_find(l, n, from, "dkr-ecr", 7);
      size_t i = a < b ? a : b;
      if (i == NPOS)
        break;
      from = i + 7;
      f->ecr_host = true;
      if (!f->region[0])
        region_after(f, l, n, i);
      size_t s = i;
      while (s > 0 && i - s < REF_SCAN_MAX && is_ref_char(t[s - 1]) && t[s - 1] != '/' &&
             t[s - 1] != ':' && t[s - 1] != '=')
        s--;
      size_t e = i;
      while (e < n && e - i < REF_SCAN_MAX && is_ref_char(t[e]))
        e++;
      while (e > s && strchr(":.;/", t[e - 1]))
        e--;
      bool url = s >= 3 && memcmp(l + s - 3, "://", 3) == 0;
      if ((pass == 0) == url)
        continue;
      if (try_ref(f, t, s, e, url))
        break;
    }
  }
}

static bool is_host_char(char c)
{
  return (c >= 'a' && c <= 'z') || is_digit(c) || c == '.' || c == '-' || c == '_';
}

/* The host a network error is about: "lookup HOST", else the last URL's host, else the
 * registry's. */
static void find_net_host(struct explain_facts *f, const char *l, size_t n)
{
  size_t s = NPOS;
  size_t i = mem_find(l, n, 0, "lookup ", 7);
  if (i != NPOS) {
    s = i + 7;
  } else {
    for (size_t from = 0; (i = mem_find(l, n, from, "://", 3)) != NPOS; from = i + 3)
      s = i + 3;
  }
  if (s != NPOS) {
    size_t e = s;
    while (e < n && is_host_char(l[e]))
      e++;
    if (e > s && memchr(l + s, '.', e - s))
      copy_str(f->net_host, sizeof f->net_host, l + s, e - s);
  }
  if (!f->net_host[0])
    copy_str(f->net_host, sizeof f->net_host, f->host, strlen(f->host));
}

static void find_facts(struct explain_facts *f, const char *t, const char *l, size_t n)
{
  memset(f, 0, sizeof *f);
  find_image(f, t, l, n);
  find_net_host(f, l, n);
  f->aws_host = mem_find(l, n, 0, "amazonaws.com", 13) != NPOS;
  f->ecr_public = mem_find(l, n, 0, "public.ecr.aws", 14) != NPOS;

  /* The denied principal ("arn:aws:sts::ACCOUNT:assumed-role/..." or ":iam::ACCOUNT:") and the
   * resource ("arn:aws:ecr:REGION:ACCOUNT:repository/..."). */
  char resource_account[13] = "";
  for (size_t from = 0; !f->principal_account[0];) {
    size_t a = mem_find(l, n, from, ":sts::", 6);
    size_t b = mem_find(l, n, from, ":iam::", 6);
    size_t i = a < b ? a : b;
    if (i == NPOS)
      break;
    read_account(l, n, i + 6, f->principal_account);
    from = i + 6;
  }
  for (size_t from = 0; !resource_account[0];) {
    size_t i = mem_find(l, n, from, ":ecr:", 5);
    if (i == NPOS)
      break;
    from = i + 5;
    size_t j = i + 5;
    while (j < n && l[j] != ':' && l[j] != ' ')
      j++;
    if (j < n && l[j] == ':')
      read_account(l, n, j + 1, resource_account);
  }
  const char *owner = resource_account[0] ? resource_account : f->account;
  if (f->principal_account[0] && owner[0]) {
    f->same_account = strcmp(f->principal_account, owner) == 0;
    f->cross_account = !f->same_account;
  }
  for (size_t i = 0; i < sizeof ptc_prefixes / sizeof ptc_prefixes[0]; i++)
    if (f->repository[0] && strncmp(f->repository, ptc_prefixes[i], strlen(ptc_prefixes[i])) == 0)
      f->ptc_path = true;
  f->opt_in_region = region_is_opt_in(f->region);
}

static bool fact_holds(const struct explain_facts *f, enum explain_fact fact)
{
  switch (fact) {
  case EXPLAIN_FACT_NONE: return true;
  case EXPLAIN_FACT_SAME_ACCOUNT: return f->same_account;
  case EXPLAIN_FACT_CROSS_ACCOUNT: return f->cross_account;
  case EXPLAIN_FACT_PTC_PATH: return f->ptc_path;
  case EXPLAIN_FACT_OPT_IN_REGION: return f->opt_in_region;
  case EXPLAIN_FACT_NO_ECR_HOST: return !f->ecr_host;
  }
  return false;
}

/* ---- deciding ---------------------------------------------------------------------------------
 */

struct rule_hit {
  bool hit;
  size_t at[EXPLAIN_MAX_PATTERNS], end[EXPLAIN_MAX_PATTERNS]; /* each pattern's match */
  size_t n;
};

static bool rule_matches(const struct explain_rule *r, const char *l, size_t n,
                         const struct explain_facts *f, struct rule_hit *h)
{
  if (!fact_holds(f, r->fact))
    return false;
  size_t k = 0;
  for (; k < EXPLAIN_MAX_PATTERNS && r->all[k]; k++)
    if (!pat_match(l, n, r->all[k], &h->at[k], &h->end[k]))
      return false;
  size_t a, e;
  if (r->unless && pat_match(l, n, r->unless, &a, &e))
    return false;
  h->hit = true;
  h->n = k;
  return true;
}

/* t[s, e) with up to `ctx` bytes either side, printable ASCII only, appended at out[*o]. */
static void excerpt_span(const char *t, size_t n, size_t s, size_t e, size_t ctx, char *out,
                         size_t *o, size_t cap)
{
  size_t from = s > ctx ? s - ctx : 0;
  size_t to = e + ctx < n ? e + ctx : n;
  if (from > 0 && *o + 3 < cap) {
    memcpy(out + *o, "...", 3);
    *o += 3;
  }
  for (size_t i = from; i < to && *o + 4 < cap; i++)
    out[(*o)++] = (t[i] >= 0x20 && t[i] < 0x7f) ? t[i] : '?';
  if (to < n && *o + 3 < cap) {
    memcpy(out + *o, "...", 3);
    *o += 3;
  }
  out[*o] = '\0';
}

/* Evidence for a person: the words that matched, in context. One piece when the matches are
 * close together, else the first and the last. */
static void excerpt(const char *t, size_t n, const struct rule_hit *h, char *out, size_t cap)
{
  size_t lo = h->at[0], hi = h->end[0];
  for (size_t k = 1; k < h->n; k++) {
    lo = h->at[k] < lo ? h->at[k] : lo;
    hi = h->end[k] > hi ? h->end[k] : hi;
  }
  size_t o = 0;
  out[0] = '\0';
  if (hi - lo <= cap - 50) {
    excerpt_span(t, n, lo, hi, (cap - 10 - (hi - lo)) / 2, out, &o, cap);
    return;
  }
  size_t last = h->n - 1;
  excerpt_span(t, n, h->at[0], h->end[0], 10, out, &o, cap / 2);
  excerpt_span(t, n, h->at[last], h->end[last], 10, out, &o, cap);
}

enum err_code explain_message(const char *msg, size_t len, struct explain_result *out,
                              struct err *e)
{
  if (!out || (!msg && len))
    return err_set(e, ERR_INVALID, "explain needs a message and a result");
  memset(out, 0, sizeof *out);
  if (len > EXPLAIN_MAX_INPUT_BYTES)
    return err_set(e, ERR_TOO_LARGE, "the message is %zu bytes, more than the %d this reads", len,
                   EXPLAIN_MAX_INPUT_BYTES);
  char *t = malloc(len + 1), *l = malloc(len + 1);
  if (!t || !l) {
    free(t);
    free(l);
    return err_set(e, ERR_NOMEM, "out of memory reading the message");
  }
  size_t n = normalise(msg ? msg : "", len, t, l);
  find_facts(&out->facts, t, l, n);

  struct rule_hit hits[EXPLAIN_MAX_RULES];
  memset(hits, 0, sizeof hits);
  bool any_specific = false;
  for (size_t i = 0; i < N_RULES; i++)
    if (rule_matches(&rules[i], l, n, &out->facts, &hits[i]) && rules[i].tier == EXPLAIN_SPECIFIC)
      any_specific = true;

  struct explain_cause best[CAUSE_COUNT];
  memset(best, 0, sizeof best);
  for (size_t i = 0; i < N_RULES; i++) {
    if (!hits[i].hit || (any_specific && rules[i].tier == EXPLAIN_GENERIC))
      continue;
    struct explain_cause *c = &best[rules[i].cause];
    c->id = rules[i].cause;
    c->n_rules++;
    if (rules[i].weight > c->score) {
      c->score = rules[i].weight;
      c->rule = i;
    }
  }
  int top = 0;
  for (int i = 0; i < CAUSE_COUNT; i++)
    if (best[i].score > top)
      top = best[i].score;
  /* Pick up to three, best score first, then catalogue precedence. */
  while (top > 0 && out->n_causes < EXPLAIN_MAX_CAUSES) {
    int pick = -1;
    for (int i = 0; i < CAUSE_COUNT; i++) {
      if (best[i].score <= 0 || best[i].score < top - EXPLAIN_MARGIN)
        continue;
      if (pick < 0 || best[i].score > best[pick].score ||
          (best[i].score == best[pick].score &&
           cause_info((enum cause_id)i)->precedence < cause_info((enum cause_id)pick)->precedence))
        pick = i;
    }
    if (pick < 0)
      break;
    size_t k = out->n_causes++;
    out->causes[k] = best[pick];
    excerpt(t, n, &hits[best[pick].rule], out->causes[k].evidence, EXPLAIN_EVIDENCE_MAX);
    best[pick].score = 0;
  }
  out->generic_only = out->n_causes > 0 && !any_specific;
  free(t);
  free(l);
  return ERR_OK;
}

/* ---- rendering --------------------------------------------------------------------------------
 */

/* The rule's command with {ACCOUNT} {REGION} {REPO} {REF} {IMAGEID} {IMAGE} {HOST} filled in;
 * other braces (jsonpath, curl's %{http_code}) are left as they are. */
static enum err_code fill(const char *tmpl, const struct explain_facts *f, struct buf *out)
{
  static const struct {
    const char *key;
    size_t field; /* offsetof into explain_facts, or (size_t)-1 for IMAGEID */
    const char *unknown;
  } keys[] = {
      {"{ACCOUNT}", offsetof(struct explain_facts, account), "<account-id>"},
      {"{REGION}", offsetof(struct explain_facts, region), "<region>"},
      {"{REPO}", offsetof(struct explain_facts, repository), "<repository>"},
      {"{REF}", offsetof(struct explain_facts, ref), "<tag>"},
      {"{IMAGEID}", (size_t)-1, "imageTag=<tag>"},
      {"{IMAGE}", offsetof(struct explain_facts, image), "<image>"},
      {"{HOST}", offsetof(struct explain_facts, host), "<registry-host>"},
      {"{NETHOST}", offsetof(struct explain_facts, net_host), "<registry-host>"},
  };
  enum err_code rc = ERR_OK;
  for (const char *p = tmpl; *p && !rc;) {
    size_t k = 0;
    for (; k < sizeof keys / sizeof keys[0]; k++)
      if (strncmp(p, keys[k].key, strlen(keys[k].key)) == 0)
        break;
    if (k == sizeof keys / sizeof keys[0]) {
      rc = buf_putc(out, *p++);
      continue;
    }
    p += strlen(keys[k].key);
    if (keys[k].field == (size_t)-1) {
      if (!f->ref[0])
        rc = buf_puts(out, keys[k].unknown);
      else
        rc = buf_printf(out, "%s=%s", strncmp(f->ref, "sha256:", 7) ? "imageTag" : "imageDigest",
                        f->ref);
    } else {
      const char *v = (const char *)f + keys[k].field;
      rc = buf_puts(out, v[0] ? v : keys[k].unknown);
    }
  }
  return rc;
}

static const char *confidence(const struct explain_result *r, size_t i)
{
  int s = r->causes[i].score;
  if (r->generic_only || s < 60)
    return "low";
  return s >= 90 ? "high" : "medium";
}

#define NO_MATCH_SUMMARY                                                                           \
  "No known cause matches this message: it may not be an image pull error, or its wording is new " \
  "to these rules. Run `ecrdiag --image REF` to probe the pull itself."

enum err_code explain_summary(const struct explain_result *r, struct buf *out)
{
  if (r->n_causes == 0)
    return buf_puts(out, NO_MATCH_SUMMARY);
  const struct explain_cause *c = &r->causes[0];
  const struct cause_info *ci = cause_info(c->id);
  enum err_code rc = buf_printf(out, "Most likely %s (%s)%s. %s", ci->title, ci->id,
                                r->generic_only ? ", a guess from the status code alone" : "",
                                rules[c->rule].meaning);
  for (size_t i = 1; i < r->n_causes && !rc; i++) {
    ci = cause_info(r->causes[i].id);
    rc = buf_printf(out, "%s%s (%s)", i == 1 ? " Also possible: " : "; ", ci->title, ci->id);
  }
  if (!rc && r->n_causes > 1)
    rc = buf_putc(out, '.');
  return rc;
}

static enum err_code final_step(const struct explain_result *r, struct buf *out)
{
  return fill("ecrdiag --image {IMAGE}   # probes AWS and the registry for the actual cause",
              &r->facts, out);
}

static json_t *facts_json(const struct explain_facts *f)
{
  json_t *o = json_object();
  if (!o)
    return NULL;
  json_object_set_new(o, "reference", json_string(f->image));
  json_object_set_new(o, "registry_id", json_string(f->account));
  json_object_set_new(o, "region", json_string(f->region));
  json_object_set_new(o, "repository", json_string(f->repository));
  json_object_set_new(o, "tag_or_digest", json_string(f->ref));
  json_object_set_new(o, "host", json_string(f->host));
  return o;
}

static enum err_code notes(const struct explain_result *r, json_t *arr, struct buf *text)
{
  const char *msgs[2];
  size_t n = 0;
  if (!r->facts.ecr_host && r->facts.ecr_public)
    msgs[n++] = "the image is in ECR Public (public.ecr.aws), which this tool does not diagnose";
  else if (!r->facts.ecr_host && !r->facts.aws_host && r->n_causes > 0)
    msgs[n++] = "the message names no private ECR registry host (ACCOUNT.dkr.ecr.REGION."
                "amazonaws.com); if the image should come from ECR, check its reference";
  if (r->facts.ptc_path)
    msgs[n++] = "the repository path looks like a pull-through cache prefix";
  for (size_t i = 0; i < n; i++) {
    if (arr && json_array_append_new(arr, json_string(msgs[i])))
      return ERR_NOMEM;
    if (text && buf_printf(text, "note: %s\n", msgs[i]))
      return ERR_NOMEM;
  }
  return ERR_OK;
}

json_t *explain_to_json(const struct explain_result *r)
{
  json_t *o = json_object(), *ids = json_array(), *details = json_array(), *steps = json_array(),
         *note_arr = json_array();
  struct buf b;
  buf_init(&b, EXPLAIN_TEXT_MAX_BYTES);
  bool ok = o && ids && details && steps && note_arr;
  for (size_t i = 0; ok && i < r->n_causes; i++) {
    const struct explain_cause *c = &r->causes[i];
    const struct cause_info *ci = cause_info(c->id);
    const struct explain_rule *ru = &rules[c->rule];
    buf_reset(&b);
    json_t *d = json_object();
    if (!d || json_array_append_new(details, d) || fill(ru->confirm, &r->facts, &b) ||
        json_array_append_new(ids, json_string(ci->id))) {
      ok = false;
      break;
    }
    json_object_set_new(d, "id", json_string(ci->id));
    json_object_set_new(d, "class", json_string(cause_class_name(ci->cls)));
    json_object_set_new(d, "title", json_string(ci->title));
    json_object_set_new(d, "confidence", json_string(confidence(r, i)));
    json_object_set_new(d, "score", json_integer(c->score));
    json_object_set_new(d, "meaning", json_string(ru->meaning));
    json_object_set_new(d, "evidence", json_string(c->evidence));
    json_object_set_new(d, "confirm", json_string(buf_str(&b)));
    json_object_set_new(d, "rule", json_integer((json_int_t)c->rule));
    /* A command shared by two causes is listed once. */
    bool seen = false;
    for (size_t k = 0; k < json_array_size(steps); k++)
      seen = seen || strcmp(json_string_value(json_array_get(steps, k)), buf_str(&b)) == 0;
    if (!seen && json_array_append_new(steps, json_string(buf_str(&b))))
      ok = false;
  }
  buf_reset(&b);
  ok = ok && !final_step(r, &b) && !json_array_append_new(steps, json_string(buf_str(&b)));
  buf_reset(&b);
  ok = ok && !explain_summary(r, &b) && !notes(r, note_arr, NULL);
  if (ok) {
    json_object_set_new(o, "causes", ids);
    json_object_set_new(o, "summary", json_string(buf_str(&b)));
    json_object_set_new(o, "next_steps", steps);
    json_object_set_new(o, "details", details);
    json_object_set_new(o, "image", r->facts.image[0] ? facts_json(&r->facts) : json_null());
    json_object_set_new(o, "notes", note_arr);
  } else {
    json_decref(o);
    json_decref(ids);
    json_decref(details);
    json_decref(steps);
    json_decref(note_arr);
    o = NULL;
  }
  buf_release(&b);
  return o;
}

/* text, word-wrapped at `width` columns, continuation lines indented by `indent` spaces. */
static enum err_code put_wrapped(struct buf *out, const char *text, size_t indent, size_t width)
{
  enum err_code rc = ERR_OK;
  size_t col = indent;
  const char *p = text;
  while (*p && !rc) {
    size_t w = strcspn(p, " ");
    if (col > indent && col + 1 + w > width) {
      rc = buf_printf(out, "\n%*s", (int)indent, "");
      col = indent;
    } else if (col > indent) {
      rc = buf_putc(out, ' ');
      col++;
    }
    if (!rc)
      rc = buf_append(out, p, w);
    col += w;
    p += w;
    while (*p == ' ')
      p++;
  }
  return rc;
}

enum err_code explain_render_text(const struct explain_result *r, struct buf *out)
{
  enum err_code rc;
  if (r->n_causes == 0) {
    rc = buf_puts(out, "ecrdiag explain: no known cause matches this message.\n"
                       "It may not be an image pull error, or its wording is new to the rules.\n"
                       "Run `ecrdiag --image REF` to probe the pull itself.\n");
    return rc;
  }
  rc = buf_printf(out, "%s, most likely first:\n",
                  r->n_causes == 1 ? "likely cause" : "likely causes");
  for (size_t i = 0; i < r->n_causes && !rc; i++) {
    const struct explain_cause *c = &r->causes[i];
    const struct cause_info *ci = cause_info(c->id);
    rc = buf_printf(out, "\n%zu. %s: %s\n   (%s, %s confidence)\n   ", i + 1, ci->id, ci->title,
                    cause_class_name(ci->cls), confidence(r, i));
    if (!rc)
      rc = put_wrapped(out, rules[c->rule].meaning, 3, TEXT_WIDTH);
    if (!rc)
      rc = buf_printf(out, "\n   evidence: %s\n   confirm:  ", c->evidence);
    if (!rc)
      rc = fill(rules[c->rule].confirm, &r->facts, out);
    if (!rc)
      rc = buf_putc(out, '\n');
  }
  struct buf sum;
  buf_init(&sum, EXPLAIN_TEXT_MAX_BYTES);
  if (!rc)
    rc = explain_summary(r, &sum);
  if (!rc)
    rc = buf_puts(out, "\nsummary: ");
  if (!rc)
    rc = put_wrapped(out, buf_str(&sum), 9, TEXT_WIDTH);
  buf_release(&sum);
  if (!rc)
    rc = buf_puts(out, "\n\nthen, for the actual cause:\n  ");
  if (!rc)
    rc = final_step(r, out);
  if (!rc)
    rc = buf_putc(out, '\n');
  if (!rc)
    rc = notes(r, NULL, out);
  return rc;
}
