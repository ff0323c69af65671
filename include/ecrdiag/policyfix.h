/* The fix for a repository policy that does not let a principal pull: the statement to add,
 * the complete merged document (every existing statement and the Version kept), and the same
 * change as an `aws` CLI script, Terraform and CloudFormation. Depends on core, crypto, jansson. */
#ifndef ECRDIAG_POLICYFIX_H
#define ECRDIAG_POLICYFIX_H

#include <jansson.h>
#include <stdbool.h>

#include "ecrdiag/err.h"

enum fix_grant {
  FIX_GRANT_ORG,     /* Principal "*" + StringEquals aws:PrincipalOrgID: every account of the org */
  FIX_GRANT_ACCOUNT, /* Principal {"AWS": "arn:PARTITION:iam::ACCOUNT:root"}: that account */
};

struct fix_request {
  enum fix_grant grant;
  const char *partition;      /* "aws" */
  const char *region;         /* the repository's */
  const char *registry_id;    /* account A */
  const char *repository;     /* "audit/sa/cicd-runner" */
  const char *caller_account; /* account B (FIX_GRANT_ACCOUNT) */
  const char *org_id;         /* "o-..." (FIX_GRANT_ORG) */
  bool current_known;         /* true: current_policy is what A's repository holds now */
  const char *current_policy; /* the policy text read (NULL with current_known: none exists) */
};

struct policy_fix {
  const char *target;      /* "repository_policy" (static) */
  char *arn;               /* the repository's ARN */
  json_t *statement;       /* the statement to add */
  json_t *document;        /* the complete document to set, or NULL when the current is unknown */
  char *based_on_sha256;   /* SHA-256 hex of the policy text read ("" when none exists), or NULL */
  char *opens;             /* one sentence: who the grant lets pull */
  char *aws_cli;           /* the read-check-merge-set shell script */
  char *terraform;
  char *cloudformation;
  bool already_granted;    /* the current document already holds an equivalent statement */
};

/* Builds the fix. ERR_PARSE with e->msg when current_policy is not a policy document (the fix
 * is not built: a document that cannot be read is never overwritten). */
enum err_code policyfix_build(const struct fix_request *req, struct policy_fix *out,
                              struct err *e);
void policyfix_release(struct policy_fix *f);

#endif
