/* The fix for a repository policy that does not let a principal pull: the statement to add,
 * the complete merged document (every existing statement and the Version kept), and the same
 * change as an `aws` CLI script, Terraform and CloudFormation. Depends on core, crypto and
 * jansson; knows nothing of HTTP or of how the current policy was read. */
#ifndef ECRDIAG_POLICYFIX_H
#define ECRDIAG_POLICYFIX_H

#include <jansson.h>
#include <stdbool.h>

#include "ecrdiag/err.h"

enum fix_grant {
  FIX_GRANT_ORG,     /* Principal "*" + StringEquals aws:PrincipalOrgID: every account of the org */
  FIX_GRANT_ACCOUNT, /* Principal {"AWS": "arn:PARTITION:iam::ACCOUNT:root"}: that account */
};

/* Every string is borrowed for the duration of policyfix_build only. */
struct fix_request {
  enum fix_grant grant;
  const char *partition;      /* "aws"; NULL: derived from region (cn-* aws-cn, us-gov-* ...) */
  const char *region;         /* the repository's */
  const char *registry_id;    /* account A */
  const char *repository;     /* "audit/sa/cicd-runner" */
  const char *caller_account; /* account B (FIX_GRANT_ACCOUNT) */
  const char *org_id;         /* "o-..." (FIX_GRANT_ORG) */
  bool current_known;         /* true: current_policy is what A's repository holds now */
  /* The policy text read: GetRepositoryPolicy's policyText exactly as returned (decoded from
   * its JSON string), because the script compares the SHA-256 of the same bytes. NULL with
   * current_known: no policy exists. Ignored when !current_known. */
  const char *current_policy;
};

/* What the fix was merged into. */
enum fix_basis {
  FIX_BASIS_UNKNOWN, /* the current policy could not be read: document is NULL */
  FIX_BASIS_NONE,    /* the repository has no policy: document is a new one */
  FIX_BASIS_READ,    /* document is the policy read with the statement appended */
};

struct policy_fix {
  const char *target; /* "repository_policy" (static) */
  char *arn;          /* the repository's ARN */
  json_t *statement;  /* the statement to add (its Sid made unique in the document) */
  json_t *document;   /* the complete document to set, or NULL when the current is unknown */
  /* SHA-256 hex of the policy text read; for "no policy exists" the SHA-256 of the empty
   * string (e3b0c442...), which is also what the script computes then; NULL when unknown. */
  char *based_on_sha256;
  enum fix_basis basis;
  char *opens;          /* one sentence: who the grant lets pull */
  char *aws_cli;        /* the read-check-merge-set shell script */
  char *terraform;      /* one aws_ecr_repository_policy resource holding the document */
  char *cloudformation; /* the RepositoryPolicyText property of AWS::ECR::Repository */
  bool already_granted; /* the current document already holds an equivalent statement */
  long granted_by;      /* already_granted: index in Statement of that statement; else -1 */
};

/* ECR refuses repository policies over this many characters (policy.h has the same ceiling). */
#define POLICYFIX_MAX_DOCUMENT_CHARS 10240

/* Builds the fix into out (which it initialises; release it with policyfix_release in every
 * case). ERR_INVALID when req lacks a field its grant needs or holds a malformed one (so no
 * script or Terraform is ever written from unchecked text); ERR_PARSE with e->msg when
 * current_policy is not a policy document (the fix is not built: a document that cannot be
 * read is never overwritten); ERR_TOO_LARGE when the merged document would exceed
 * POLICYFIX_MAX_DOCUMENT_CHARS serialised compactly. */
enum err_code policyfix_build(const struct fix_request *req, struct policy_fix *out, struct err *e);
void policyfix_release(struct policy_fix *f);

/* The merge on its own, for fixes that build other statements (a role, an OU): adds stmt
 * (borrowed) to the repository policy text current (NULL: none exists), keeping every existing
 * statement unchanged and in order and the Version, turning a single-object Statement into an
 * array only when adding to it, and giving the added copy a free Sid when stmt's is taken.
 * When an existing statement already grants what stmt grants (Allow, a Principal that covers
 * stmt's, Action matching ecr:BatchGetImage and ecr:GetDownloadUrlForLayer, and no Condition
 * or the same one), nothing is added and *granted_by is its index (else -1).
 * *document is a new reference. Errors as policyfix_build (the size limit included). */
enum err_code policyfix_merge(const char *current, const json_t *stmt, json_t **document,
                              long *granted_by, struct err *e);

#endif
