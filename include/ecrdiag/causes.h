/* The cause catalogue: every reason a pull can fail, one row each, the single source of truth
 * for ids (a public contract), classes (and so exit codes), precedence and documentation.
 * Depends on nothing. */
#ifndef ECRDIAG_CAUSES_H
#define ECRDIAG_CAUSES_H

enum cause_class {
  CAUSE_CLASS_PULL,    /* AWS or the registry refused or lacked something the pull needs: exit 1 */
  CAUSE_CLASS_TOOL,    /* the diagnosis could not be completed from here: exit 3 */
  CAUSE_CLASS_INPUT,   /* the reference or the command line is wrong: exit 2 */
  CAUSE_CLASS_WARNING, /* worth knowing; does not change the exit code */
};

/* X(id, class, precedence, title). Lower precedence is reported first when several causes are
 * found. Input and tool causes come first: they explain why nothing else could be checked. */
#define CAUSES(X)                                                                                  \
  X(IMAGE_REF_INVALID, INPUT, 10, "the image reference is malformed")                              \
  X(NOT_ECR, INPUT, 11, "the image is not in a private Amazon ECR registry")                       \
  X(NO_CREDENTIALS, TOOL, 20, "no AWS credentials were found for the probe")                       \
  X(CREDENTIALS_INVALID, TOOL, 21, "the probe's AWS credentials are not valid")                    \
  X(CREDENTIALS_EXPIRED, TOOL, 22, "the probe's AWS credentials have expired")                     \
  X(CLOCK_SKEW, TOOL, 23, "this host's clock is too far from AWS's for signed requests")           \
  X(REGION_NOT_ENABLED, PULL, 30, "the registry's region is not enabled for the caller's account") \
  X(NETWORK_DNS_FAILURE, PULL, 40, "an AWS or registry host name does not resolve")                \
  X(NETWORK_UNREACHABLE, PULL, 41, "an AWS or registry endpoint cannot be reached")                \
  X(TLS_FAILURE, PULL, 42, "the TLS connection to an AWS or registry endpoint is not trusted")     \
  X(PROBE_UNREACHABLE, TOOL, 44, "an endpoint cannot be reached from this host (not the node)")    \
  X(THROTTLED, TOOL, 45, "AWS throttled the probe's requests beyond the retries")                  \
  X(SERVICE_ERROR, TOOL, 46, "AWS answered with a server error beyond the retries")                \
  X(SCP_DENY, PULL, 50, "a service control policy denies the pull")                                \
  X(RCP_DENY, PULL, 51, "a resource control policy denies the pull")                               \
  X(REGISTRY_POLICY_DENY, PULL, 52, "the registry policy denies the pull")                         \
  X(REPO_POLICY_EXPLICIT_DENY, PULL, 53, "a Deny statement in the repository policy matches")      \
  X(VPC_ENDPOINT_POLICY_DENY, PULL, 54, "the VPC endpoint policy does not let the pull through")   \
  X(PERMISSIONS_BOUNDARY_DENY, PULL, 55, "the permissions boundary does not allow the pull")       \
  X(SESSION_POLICY_DENY, PULL, 56, "the session policy does not allow the pull")                   \
  X(AUTH_TOKEN_DENIED, PULL, 60, "the principal may not call ecr:GetAuthorizationToken")           \
  X(IDENTITY_POLICY_MISSING, PULL, 61, "the principal's IAM policies do not allow pulling")        \
  X(REPO_POLICY_MISSING, PULL, 62, "the repository has no repository policy")                      \
  X(ORG_CONDITION_MISMATCH, PULL, 63,                                                              \
    "an organization condition in the repository policy does not match the caller")                \
  X(REPO_POLICY_NOT_GRANTING, PULL, 64, "the repository policy does not grant this principal")     \
  X(WRONG_REGION, PULL, 70, "the repository or image is in another region")                        \
  X(REPOSITORY_NOT_FOUND, PULL, 71, "the repository does not exist")                               \
  X(IMAGE_NOT_FOUND, PULL, 72, "the tag or digest does not exist in the repository")               \
  X(KMS_KEY_UNUSABLE, PULL, 73, "the repository's KMS key can no longer be used by ECR")           \
  X(PTC_IMPORT_DENIED, PULL, 74,                                                                   \
    "the pull-through cache may not import the image for this principal")                          \
  X(PTC_UPSTREAM_FAILED, PULL, 75, "the pull-through cache could not fetch the image upstream")    \
  X(PLATFORM_MISMATCH, PULL, 80, "the image has no variant for the node's platform")               \
  X(MANIFEST_UNSUPPORTED, PULL, 81, "the image's manifest type cannot be pulled by the runtime")   \
  X(LAYER_DOWNLOAD_BLOCKED, PULL, 82, "the image's layers cannot be downloaded")                   \
  X(NODE_NO_ECR_CREDENTIALS, PULL, 83, "the kubelet sent no ECR credentials for this registry")    \
  X(PULL_SECRET_EXPIRED, PULL, 84, "an imagePullSecret for this registry holds an expired token")  \
  X(PULL_SECRET_WRONG_REGISTRY, PULL, 85, "an imagePullSecret holds a token for another registry") \
  X(UNKNOWN, PULL, 99, "the pull fails and no known cause explains it")                            \
  X(ARCH_MISMATCH_AT_RUNTIME, WARNING, 100, "the image is built for another architecture")         \
  X(NOT_PULLING_PRINCIPAL, WARNING, 101, "the probe ran as a principal other than the node role")  \
  X(ORG_ID_UNKNOWN, WARNING, 102, "the caller's organization id could not be found")

#define CAUSE_ENUM_ITEM(id, cls, prec, title) CAUSE_##id,
enum cause_id { CAUSES(CAUSE_ENUM_ITEM) CAUSE_COUNT };
#undef CAUSE_ENUM_ITEM

struct cause_info {
  const char *id; /* "REPO_POLICY_NOT_GRANTING" */
  enum cause_class cls;
  int precedence;
  const char *title;
};

/* The row for a cause. Never NULL for a valid id. */
const struct cause_info *cause_info(enum cause_id id);
/* The cause whose id string is s, or CAUSE_COUNT. */
enum cause_id cause_from_string(const char *s);
/* "pull", "tool", "input", "warning". */
const char *cause_class_name(enum cause_class cls);
/* The exit code a primary finding of this class gives (0 for warnings). */
int cause_class_exit_code(enum cause_class cls);

#endif
