/* The fix for a pull that policies refuse: the repository policy statement (merged into the
 * complete document, every statement and the Version kept), the node role's identity policy, or
 * an exemption from the explicit Deny of the repository or registry policy that refuses it, as
 * policy JSON, an `aws` CLI script, Terraform and CloudFormation, verified before it is shown.
 * Depends on core, crypto, jansson and src/policy; knows nothing of HTTP. */
#ifndef ECRDIAG_POLICYFIX_H
#define ECRDIAG_POLICYFIX_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "ecrdiag/err.h"

/* Who a repository policy grant lets pull; each has an `opens` sentence saying so. */
enum fix_grant {
  FIX_GRANT_ORG,     /* Principal "*" + StringEquals aws:PrincipalOrgID: every account of the org */
  FIX_GRANT_ACCOUNT, /* Principal {"AWS": "arn:PARTITION:iam::ACCOUNT:root"}: that account */
  FIX_GRANT_ROLE,    /* Principal {"AWS": ROLE_ARN}: that role (never a session ARN) */
  FIX_GRANT_ROLE_CONDITION, /* Principal "*" + ArnEquals aws:PrincipalArn ROLE_ARN: that role,
                               and it survives the role being deleted and re-created */
  FIX_GRANT_OU, /* Principal "*" + ForAnyValue:StringLike aws:PrincipalOrgPaths "OU_PATH*":
                   every account in that OU and the OUs below it */
};
#define FIX_GRANT_COUNT 5

/* What the fix changes. */
enum fix_target {
  FIX_TARGET_REPOSITORY_POLICY, /* account A's repository policy (the default) */
  FIX_TARGET_IDENTITY_POLICY,   /* the pulling role's IAM policy, in its own account */
  /* Account A's private registry policy (GetRegistryPolicy / PutRegistryPolicy; under the V2
   * scope, the default, it applies to every ECR request of the registry in that region): the
   * grant exempted from its explicit Deny. Implies exempt_from_deny. */
  FIX_TARGET_REGISTRY_POLICY,
};

/* "org", "account", "role", "role-condition", "ou"; NULL for an unknown value. */
const char *policyfix_grant_name(enum fix_grant g);
/* The grant named s (as policyfix_grant_name writes it); false when there is none. */
bool policyfix_grant_parse(const char *s, enum fix_grant *out);

/* Every string is borrowed for the duration of policyfix_build only. */
struct fix_request {
  enum fix_grant grant;
  const char *partition;      /* "aws"; NULL: derived from region (cn-* aws-cn, us-gov-* ...) */
  const char *region;         /* the repository's */
  const char *registry_id;    /* account A */
  const char *repository;     /* "audit/sa/cicd-runner" */
  const char *caller_account; /* account B (FIX_GRANT_ACCOUNT; else optional, for checks and
                                 verification; derived from the role or principal ARN) */
  const char *org_id;         /* "o-..." (FIX_GRANT_ORG; else optional, for verification) */
  bool current_known;         /* true: current_policy is what A's repository holds now */
  /* The policy text read: GetRepositoryPolicy's policyText exactly as returned (decoded from
   * its JSON string), because the script compares the SHA-256 of the same bytes. NULL with
   * current_known: no policy exists. Ignored when !current_known. */
  const char *current_policy;

  /* ---- appended; all optional, zero/NULL is always safe ---- */
  /* The caller (the pulling principal) as it signs: an IAM user or role ARN, or an sts
   * assumed-role session ARN. Role grants and the identity fix derive the role from it;
   * verification evaluates as it. NULL: verification uses a principal of caller_account (or
   * of the role) with the org fields below. */
  const char *principal_arn;
  /* The IAM role ARN with its path ("arn:aws:iam::B:role/nodes/eks-node"). NULL: derived from
   * an assumed-role principal_arn, which has no path (the fix then says so). */
  const char *role_arn;
  /* aws:PrincipalOrgPaths of the caller ("o-.../r-.../ou-.../"): the default OU of
   * FIX_GRANT_OU, and what verification evaluates with. */
  const char *const *org_paths;
  size_t n_org_paths;
  /* FIX_GRANT_OU: the OU path to grant ("o-.../r-.../ou-.../"); NULL: the caller's own OU, the
   * first of org_paths. */
  const char *ou_path;
  enum fix_target target; /* FIX_TARGET_REPOSITORY_POLICY when zero */
  /* FIX_TARGET_IDENTITY_POLICY: attach the AWS managed policy
   * AmazonEC2ContainerRegistryPullOnly instead of writing an inline policy. */
  bool attach_managed;

  /* ---- appended: exempting the grant from an explicit Deny ---- */
  /* The pull is refused by the Deny at Statement[deny_statement] of current_policy: instead of
   * adding an Allow, give that statement a condition that leaves out exactly the grant, and
   * change nothing else (see policyfix_exempt). With FIX_TARGET_REPOSITORY_POLICY,
   * current_policy is the repository policy (REPO_POLICY_EXPLICIT_DENY); with
   * FIX_TARGET_REGISTRY_POLICY (which implies it) it is the registry policy text exactly as
   * GetRegistryPolicy returned it. Either way current_known and a current_policy are required.
   * Refused (ERR_INVALID) with FIX_TARGET_IDENTITY_POLICY.
   *
   * One call builds one fix. When the pull also lacks an Allow, build two and combine them:
   * - the Deny is in the registry policy and the repository policy does not grant (across
   *   accounts): build the repository grant first (FIX_TARGET_REPOSITORY_POLICY, no
   *   exemption), then the registry exemption with repository_policy = that fix's document
   *   serialised compactly (json_dumps JSON_COMPACT | JSON_PRESERVE_ORDER), so that its
   *   verification sees both; they set different documents, in either order;
   * - the Deny and the missing grant are both in the repository policy: build the exemption
   *   first, then the grant with current_policy = the exemption's document serialised
   *   compactly (what its script sets), and run the two scripts in that order (the second
   *   one's checksum is of the document the first one sets). */
  bool exempt_from_deny;
  size_t deny_statement; /* 0-based index in Statement; a single-object Statement is 0 */
  /* FIX_TARGET_REGISTRY_POLICY, verification only: the repository policy text (NULL: the
   * repository has none), when repository_policy_known. Unknown: verification checks only that
   * the registry policy no longer denies the pull, and says so. */
  const char *repository_policy;
  bool repository_policy_known;

  /* ---- appended: the pull-through cache import (cause PTC_IMPORT_DENIED) ---- */
  /* FIX_TARGET_IDENTITY_POLICY: the pull-through cache rule's ecrRepositoryPrefix ("docker-hub",
   * the ECR syntax: 2 to 30 characters, [a-z0-9]+(?:[._-][a-z0-9]+)* segments joined by '/';
   * not "ROOT"). The fix then allows the import instead of the pull: an inline policy allowing
   * ecr:BatchImportUpstreamImage on the repositories under the prefix (the Resource
   * "arn:PARTITION:ecr:REGION:REGISTRY:repository/PREFIX/" followed by a '*'), which is what ECR
   * checks when a first pull makes it fetch an image it has not cached. repository must be under
   * PREFIX + "/". ERR_INVALID with attach_managed (no managed policy is limited to the rule's
   * repositories), with another target, or when malformed. current_policy is not consulted:
   * verification judges the inline policy (see policyfix_ptc_verify). */
  const char *ptc_prefix;
  /* With ptc_prefix: also ecr:CreateRepository on the same resource (the repository does not
   * exist yet, and the cache creates it on the first pull). ERR_INVALID without ptc_prefix. */
  bool ptc_create_repository;
};

/* What the fix was merged into. */
enum fix_basis {
  FIX_BASIS_UNKNOWN, /* the current policy could not be read: document is NULL */
  FIX_BASIS_NONE,    /* the repository has no policy: document is a new one */
  FIX_BASIS_READ,    /* document is the policy read with the statement appended */
};

struct policy_fix {
  const char *target; /* "repository_policy", "identity_policy" or "registry_policy" (static) */
  char *arn;          /* the repository's ARN */
  /* The statement that grants the pull: the one added (its Sid made unique in the document, or
   * the statement it was merged into to fit the size limit); identity_policy: the pull
   * statement of the inline policy, or the managed policy's statement (shown, not set). */
  json_t *statement;
  /* The complete document to set, or NULL when the current is unknown; identity_policy: the
   * inline policy, or NULL when attaching the managed policy. */
  json_t *document;
  /* SHA-256 hex of the policy text read; for "no policy exists" the SHA-256 of the empty
   * string (e3b0c442...), which is also what the script computes then; NULL when unknown. */
  char *based_on_sha256;
  enum fix_basis basis; /* identity_policy: FIX_BASIS_NONE (its own new inline policy) */
  char *opens;          /* one sentence: who the grant lets pull */
  /* The read-check-merge-set shell script; identity_policy: put-role-policy or
   * attach-role-policy. */
  char *aws_cli;
  /* One aws_ecr_repository_policy resource holding the document; identity_policy: an
   * aws_iam_role_policy or an aws_iam_role_policy_attachment. */
  char *terraform;
  /* The RepositoryPolicyText property of AWS::ECR::Repository; identity_policy: an
   * AWS::IAM::RolePolicy resource, or the ManagedPolicyArns property of AWS::IAM::Role. */
  char *cloudformation;
  bool already_granted; /* the current document already holds an equivalent statement */
  long granted_by;      /* already_granted: index in Statement of that statement; else -1 */

  /* ---- appended ---- */
  enum fix_grant grant; /* the repository policy grant built (repository_policy only) */
  /* The role the fix names: the role granted (role grants) or the role whose policy changes
   * (identity_policy); NULL otherwise. */
  char *role_arn;
  /* Sentences to read before applying (a role that must exist, a derived role ARN, statements
   * merged to fit the size limit); NULL when there is nothing to add. */
  char *caveat;
  /* Re-evaluated with the evaluator: with the fixed document the caller is allowed
   * ecr:BatchGetImage and ecr:GetDownloadUrlForLayer on the repository (and, for an identity
   * fix, ecr:GetAuthorizationToken on "*"), no principal outside the chosen grant gains access,
   * and lint finds nothing critical in the document. */
  bool verified;
  char *verification;       /* one or two sentences: what was checked, or what failed */
  size_t merged_statements; /* statements folded into others to fit the size limit */

  /* ---- appended: the exemption from a Deny (exempt_from_deny or registry_policy) ----
   * Then statement is the Deny with its new condition, document the whole policy (repository or
   * registry) with only that statement changed, basis FIX_BASIS_READ, already_granted true
   * (granted_by = deny_statement) when the Deny already exempts the grant; grant and role_arn
   * as for a repository grant; opens says the Deny no longer applies to the grant and still
   * applies to everyone else; the caveat that the Deny may be a deliberate control (and, for
   * the registry, that it covers every repository of the region). verified: the caller is
   * allowed the pull with the fixed document (registry: with the repository policy when known,
   * else only "no longer denied"), every probe principal outside the grant that the Deny
   * refused before is still refused by it, nobody outside the grant gains access, and lint
   * finds nothing critical (registry: its resource-element rule left out, since a registry
   * policy names its repositories in Resource). The aws_cli script reads the policy, compares
   * its SHA-256 with based_on_sha256, backs it up and sets the document; terraform is one
   * aws_ecr_repository_policy or aws_ecr_registry_policy resource; cloudformation the
   * RepositoryPolicyText property or an AWS::ECR::RegistryPolicy resource (PolicyText). */
  bool exempt_from_deny;
  long deny_statement; /* the Deny's index in Statement; -1 when not an exemption */

  /* ---- appended: the pull-through cache import (request ptc_prefix) ----
   * Then target is "identity_policy", statement the inline policy's only statement (Sid
   * EcrPullThroughCacheImport, ecr:BatchImportUpstreamImage and with ptc_create_repository
   * ecr:CreateRepository, on every repository under PREFIX/ in the registry and region), document
   * the inline policy holding it, named ecrdiag-ptc-import-REGISTRY-REGION-PREFIX ('/' as '_') in
   * the aws_cli put-role-policy script, the aws_iam_role_policy and the AWS::IAM::RolePolicy;
   * opens says the role may import through the rule into repositories under PREFIX/ (and create
   * them) and nothing else; across accounts the caveat gives the registry policy statement
   * account A must add. verified as policyfix_ptc_verify. */
  char *ptc_prefix; /* the rule's prefix; NULL when not an import fix */
};

/* ECR refuses repository policies over this many characters (policy.h has the same ceiling). */
#define POLICYFIX_MAX_DOCUMENT_CHARS 10240

/* Builds the fix into out (which it initialises; release it with policyfix_release in every
 * case). ERR_INVALID when req lacks a field its grant or target needs or holds a malformed one
 * (so no script or Terraform is ever written from unchecked text), or names the registry's own
 * account for an account grant (it would change nothing); ERR_PARSE with e->msg when
 * current_policy is not a policy document (the fix is not built: a document that cannot be
 * read is never overwritten); ERR_TOO_LARGE when the merged document would exceed
 * POLICYFIX_MAX_DOCUMENT_CHARS serialised compactly even with statements merged, with e->msg
 * proposing the OU or organization grant. A fix that fails verification is still built:
 * out->verified is false and out->verification says why. */
enum err_code policyfix_build(const struct fix_request *req, struct policy_fix *out, struct err *e);
void policyfix_release(struct policy_fix *f);

/* The fix as the report's `fix` object: target, grant (null for identity_policy), arn,
 * role_arn, statement, document, based_on_sha256, basis, opens, caveat, already_granted,
 * granted_by, verified, verification, merged_statements, aws_cli, terraform, cloudformation,
 * exempt_from_deny, deny_statement (null when not an exemption), ptc_prefix (null when not a
 * pull-through cache import fix).
 * A new reference; NULL when out of memory. */
json_t *policyfix_to_json(const struct policy_fix *f);

/* The merge on its own: adds stmt (borrowed) to the repository policy text current (NULL:
 * none exists), keeping every existing statement unchanged and in order and the Version,
 * turning a single-object Statement into an array only when adding to it, and giving the added
 * copy a free Sid when stmt's is taken. When an existing statement already grants what stmt
 * grants (Allow, a Principal that covers stmt's, Action matching ecr:BatchGetImage and
 * ecr:GetDownloadUrlForLayer, and no Condition or the same one), nothing is added and
 * *granted_by is its index (else -1). Only when the result would exceed
 * POLICYFIX_MAX_DOCUMENT_CHARS, statements with the same Effect, Action set and Condition are
 * merged into one with the union of their Principals (which grants exactly what they granted
 * together), the added one first. *document is a new reference. Errors as policyfix_build. */
enum err_code policyfix_merge(const char *current, const json_t *stmt, json_t **document,
                              long *granted_by, struct err *e);

/* The exemption on its own: in the policy text current (a repository or registry policy as
 * read), gives the Deny at Statement[deny_statement] the condition op {key: [value]}, which
 * leaves out of the Deny exactly the requests whose key matches value. Condition blocks AND
 * together, so the Deny still applies to everyone else it applied to. When the statement
 * already has op (operator names compared case-insensitively) with key (case-insensitively,
 * as IAM compares keys), value is added to that key's values (a string becomes an array; a
 * value already there is not repeated): op must be a negated operator, whose values combine as
 * NOR, so one more value exempts one more match and nothing else. Every other statement, every
 * other condition, the Version and the order of keys are kept. *already is true (and
 * *document the policy as read) when the value is already there. *document is a new
 * reference. ERR_INVALID when deny_statement is out of range, is not a Deny, or op is not
 * negated or is a ForAnyValue: one (false when the key is missing: it would exempt every
 * principal outside an organization too); ERR_PARSE when current is not a policy document;
 * ERR_TOO_LARGE when the result would exceed POLICYFIX_MAX_DOCUMENT_CHARS serialised compactly. */
enum err_code policyfix_exempt(const char *current, size_t deny_statement, const char *op,
                               const char *key, const char *value, json_t **document, bool *already,
                               struct err *e);

/* True when s is a pull-through cache rule prefix as ECR accepts it (ecrRepositoryPrefix: 2 to
 * 30 characters, [a-z0-9]+(?:[._-][a-z0-9]+)* segments joined by '/'). "ROOT", the prefix of
 * a rule that caches into unprefixed repositories, is not accepted: the import fix is scoped to
 * repositories under PREFIX/. */
bool policyfix_ptc_prefix_valid(const char *s);

/* The verification of a pull-through cache import fix, for any identity policy document
 * (borrowed): evaluated as the caller req describes (as policyfix_build's verification does),
 * the document must allow ecr:BatchImportUpstreamImage (and, with ptc_create_repository,
 * ecr:CreateRepository) on req's repository, and allow none of the probes outside the rule:
 * those actions on a repository whose name only starts with PREFIX, on one with PREFIX/ deeper
 * in its name, on the repository named PREFIX itself, on PREFIX/... of another region or
 * registry; ecr:CreateRepository when it was not asked for; pulling, pushing, deleting or
 * setting the policy of the repository; the registry login token. Across accounts the registry
 * account's side is assumed to allow (the caveat gives its statement), so that the document
 * alone decides. *verified, and *verification (one or two sentences; the caller frees it):
 * what was checked or what failed. ERR_INVALID as policyfix_build for a request without
 * ptc_prefix or a malformed one, or a NULL document. */
enum err_code policyfix_ptc_verify(const struct fix_request *req, const json_t *document,
                                   bool *verified, char **verification, struct err *e);

#endif
