/* The fix for a pull that policies refuse: the repository policy statement (merged into the
 * complete document, every statement and the Version kept) or the node role's identity policy,
 * as policy JSON, an `aws` CLI script, Terraform and CloudFormation, verified before it is
 * shown. Depends on core, crypto, jansson and src/policy; knows nothing of HTTP. */
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
};

/* What the fix was merged into. */
enum fix_basis {
  FIX_BASIS_UNKNOWN, /* the current policy could not be read: document is NULL */
  FIX_BASIS_NONE,    /* the repository has no policy: document is a new one */
  FIX_BASIS_READ,    /* document is the policy read with the statement appended */
};

struct policy_fix {
  const char *target; /* "repository_policy" or "identity_policy" (static) */
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
 * granted_by, verified, verification, merged_statements, aws_cli, terraform, cloudformation.
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

#endif
