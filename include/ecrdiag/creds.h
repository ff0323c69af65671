/* AWS credentials of the probing principal, found where the AWS CLI finds them and in the same
 * order (botocore's chain): environment, profile (assume-role, web identity, SSO, static keys,
 * credential_process), container endpoint, instance metadata; then --role-arn on top.
 * Secrets are wiped on release and never put in a message. Depends on core, http and aws. */
#ifndef ECRDIAG_CREDS_H
#define ECRDIAG_CREDS_H

#include <stdbool.h>
#include <time.h>

#include "ecrdiag/err.h"

struct aws_call;
struct aws_endpoints;
struct http_client;

struct aws_creds {
  char *access_key_id;
  char *secret_access_key; /* secret */
  char *session_token;     /* secret; NULL when none */
  /* The report's caller.credential_source: "env", "profile:NAME" (static keys of a profile),
   * "assume-role:ROLE_ARN" (a profile's role_arn, or --role-arn), "web-identity", "sso",
   * "process", "container", "imds". */
  char *source;
  time_t expires; /* 0 when unknown or never */
};

/* How to look. Every field may be zero / NULL. */
struct creds_options {
  /* --profile. NULL: AWS_DEFAULT_PROFILE, else AWS_PROFILE, else "default". Given here (and
   * only here), it also skips the environment's keys and its web identity variables, as the
   * AWS CLI does for an explicit --profile. */
  const char *profile;
  const char *role_arn;          /* --role-arn: assumed with the credentials the chain found */
  const char *external_id;       /* --external-id, for role_arn */
  const char *role_session_name; /* for role_arn; NULL: "ecrdiag-EPOCH" */
  /* Region of the STS calls the chain makes (AssumeRole, web identity). NULL: creds_region,
   * else us-east-1. The caller passes the registry's region when it has one. */
  const char *region;
  const struct aws_endpoints *endpoints; /* NULL: aws_endpoints_from_env */
  long timeout_ms;                       /* per STS, SSO or container request; 0: 10 s. IMDS: 1 s */
  time_t (*now)(void);                   /* clock seam; NULL: time() */
  /* Called after every AWS API call the chain makes ("sts.AssumeRole",
   * "sts.AssumeRoleWithWebIdentity", "sso.GetRoleCredentials"), success or not, so the
   * report can list it with its request id. The call is borrowed for the callback only. */
  void (*on_call)(void *ctx, const char *check_id, const struct aws_call *call);
  void *call_ctx;
  /* Names the credentials in messages: NULL for the probing principal, e.g. "registry" for
   * --registry-profile ("registry credentials: ..."). */
  const char *label;
  /* When not NULL, receives the whole failure message (caller frees; NULL on success):
   * e->msg holds at most ERR_MSG_MAX - 1 bytes of it. */
  char **message;
};

/* Runs the chain and fills *out (caller-owned storage; release with creds_release, also after
 * a failure). http is used for STS, SSO, the container endpoint and IMDS (may be NULL only
 * when no network source is reached). A source that is not configured is skipped; one that is
 * configured but broken stops the chain, as in botocore. On failure the message lists every
 * source tried, in order, why each gave nothing, and what to do. Codes:
 *   ERR_CREDENTIALS nothing found, or a source is configured wrongly (partial keys, a
 *                   source_profile cycle, an unknown credential_source, an expired login);
 *   ERR_PARSE       a config or credentials file is not valid INI (with its line number);
 *   ERR_AWS         STS or IAM Identity Center refused (on_call saw the call);
 *   ERR_DNS, ERR_CONNECT, ERR_TIMEOUT, ERR_TLS, ERR_NETWORK  an endpoint could not be reached;
 *   ERR_INVALID     a bad option (role_arn that is not a role ARN); ERR_NOMEM. */
enum err_code creds_resolve(const struct creds_options *o, struct http_client *http,
                            struct aws_creds *out, struct err *e);

/* The region the AWS CLI would use without an image reference: o->region, AWS_REGION,
 * AWS_DEFAULT_REGION, then the profile's region. NULL when none; the caller frees. */
char *creds_region(const struct creds_options *o);
/* The profile's region key (config file, or credentials file), NULL when none or when the
 * files cannot be read; the caller frees. */
char *creds_profile_region(const struct creds_options *o);

/* Whether arn has the form of an IAM role ARN (arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME),
 * for checking --role-arn before anything runs. */
bool creds_role_arn_valid(const char *arn);

/* From AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN (AWS_SECURITY_TOKEN,
 * botocore's older name, when AWS_SESSION_TOKEN is unset). An empty variable counts as unset.
 * Fills *out (caller-owned storage; release with creds_release, also after a failure).
 * ERR_CREDENTIALS with a message saying what was looked for and what to do when they are
 * absent, half-set, or hold a control character (a stray newline); the message names
 * variables, never their values. creds_resolve uses it when AWS_ACCESS_KEY_ID is set (botocore
 * looks no further than that variable to decide). */
enum err_code creds_from_env(struct aws_creds *out, struct err *e);
/* Wipes the secrets, frees everything and leaves c empty. Accepts NULL. */
void creds_release(struct aws_creds *c);

#endif
