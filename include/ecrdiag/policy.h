/* The offline IAM policy evaluator: parse a policy document once into a compact form, then
 * decide requests against sets of parsed policies the way AWS documents it (deny wins,
 * same-account union, cross-account both sides, SCP/RCP levels, boundary, session, VPC
 * endpoint, ECR registry policy). Depends on core and jansson only; knows nothing of HTTP. */
#ifndef ECRDIAG_POLICY_H
#define ECRDIAG_POLICY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "ecrdiag/err.h"

/* Size ceilings. ECR refuses a repository policy over 10,240 characters (whitespace
 * counts); identity policies are smaller still in AWS, so the general cap is generous. */
#define POLICY_MAX_BYTES (128 * 1024)
#define POLICY_REPOSITORY_MAX_CHARS 10240
#define POLICY_MAX_STATEMENTS 1024
#define POLICY_MAX_VALUES 1024    /* entries in one Action, Resource, Principal or key list */
#define POLICY_MAX_CONDITIONS 256 /* operator/key pairs in one statement */
#define POLICY_MAX_STRING 4096    /* one string value (an ARN is at most 2,048) */
#define POLICY_MAX_SCP_LEVELS 16  /* root, OUs (AWS allows five deep), account */
#define POLICY_REQUEST_MAX_BYTES (8 * 1024 * 1024)

/* A parsed policy document; opaque, immutable after parsing, so one parsed document may be
 * shared by any number of requests and threads. */
struct policy;

/* Parses a policy document (JSON text, not NUL-terminated necessarily). On a JSON syntax
 * error, e->msg carries "line L, column C: ..."; on a structural error it names the element
 * ("Statement[2].Effect must be \"Allow\" or \"Deny\""). ERR_TOO_LARGE past
 * POLICY_MAX_BYTES. *out is set only on success; the caller frees it with policy_free. */
enum err_code policy_parse(const char *json, size_t n, struct policy **out, struct err *e);
/* The same from an already parsed JSON object (borrowed; nothing of it is kept). */
enum err_code policy_parse_json(const json_t *doc, struct policy **out, struct err *e);
void policy_free(struct policy *p);

/* Introspection for lint, fix and diagnosis. Strings are borrowed from p. */
size_t policy_statement_count(const struct policy *p);
/* The statement's Sid, or NULL when it has none (or i is out of range). */
const char *policy_statement_sid(const struct policy *p, size_t i);
/* The Version string as written, or NULL when absent. */
const char *policy_version(const struct policy *p);
/* True when Version is 2012-10-17, so that ${...} policy variables are expanded. */
bool policy_has_variables(const struct policy *p);
/* True when any statement has a Resource or NotResource element. */
bool policy_has_resource_element(const struct policy *p);

enum policy_principal_type {
  POLICY_PRINCIPAL_USER,
  POLICY_PRINCIPAL_ASSUMED_ROLE,
  POLICY_PRINCIPAL_FEDERATED_USER,
  POLICY_PRINCIPAL_ROOT,
};

struct policy_tag {
  const char *key; /* tag keys compare case-insensitively, values exactly */
  const char *value;
};

/* The caller. Every string is borrowed and must outlive the evaluation. */
struct policy_principal {
  enum policy_principal_type type;
  const char *arn;      /* as it signs: the sts assumed-role session ARN for a role session */
  const char *account;  /* 12 digits */
  const char *role_arn; /* ASSUMED_ROLE: the IAM role ARN (aws:PrincipalArn); else NULL */
  const char *org_id;   /* NULL outside an organization */
  const char *const *org_paths;
  size_t n_org_paths;
  bool org_management_account; /* SCPs (and own-account RCPs) do not apply to it */
  const struct policy_tag *tags;
  size_t n_tags;
};

/* One request context key; keys compare case-insensitively. n_values > 1 (or a key read
 * from a JSON array) makes it multivalued for ForAnyValue/ForAllValues. */
struct policy_context_entry {
  const char *key;
  const char *const *values;
  size_t n_values;
};

/* The policies of one SCP or RCP level (root first, account last). */
struct policy_level {
  const struct policy *const *policies;
  size_t n;
};

enum policy_registry_scope {
  POLICY_REGISTRY_V2, /* the default: enforced on every ECR request of the registry */
  POLICY_REGISTRY_V1, /* only ReplicateImage, BatchImportUpstreamImage, CreateRepository */
};

/* One authorisation question and every policy that may bear on it. A NULL or empty slot
 * means "none". Keys absent from context are derived from principal where IAM would:
 * aws:PrincipalArn, aws:PrincipalAccount, aws:PrincipalOrgID, aws:PrincipalOrgPaths,
 * aws:PrincipalTag/K, aws:PrincipalType, aws:username, aws:ResourceAccount.
 * The repository policy has no Resource element in ECR: it applies to the request's
 * resource, and to nothing when that is "*" (so it can never grant
 * ecr:GetAuthorizationToken, whose resource is "*"). */
struct policy_request {
  struct policy_principal principal;
  const char *action;   /* "ecr:BatchGetImage" */
  const char *resource; /* "arn:aws:ecr:REGION:ACCOUNT:repository/NAME" or "*" */
  const struct policy_context_entry *context;
  size_t n_context;
  const struct policy *const *identity_policies;
  size_t n_identity_policies;
  const struct policy *resource_policy; /* the repository policy (account A) */
  const struct policy *registry_policy; /* the private registry policy (account A) */
  enum policy_registry_scope registry_scope;
  const struct policy_level *scps; /* the caller's account's levels */
  size_t n_scp_levels;
  const struct policy_level *rcps; /* the resource's account's levels */
  size_t n_rcp_levels;
  const struct policy *boundary;
  const struct policy *const *session_policies; /* none passed when n_session_policies == 0 */
  size_t n_session_policies;
  const struct policy *vpce_policy;
};

enum policy_outcome { POLICY_ALLOW, POLICY_IMPLICIT_DENY, POLICY_EXPLICIT_DENY };

enum policy_slot_kind {
  POLICY_SLOT_IDENTITY,
  POLICY_SLOT_RESOURCE,
  POLICY_SLOT_REGISTRY,
  POLICY_SLOT_SCP,
  POLICY_SLOT_RCP,
  POLICY_SLOT_BOUNDARY,
  POLICY_SLOT_SESSION,
  POLICY_SLOT_VPCE,
};

/* Where a policy sits in the request: kind, level (SCP/RCP, else -1) and index in its list
 * (identity, session, SCP/RCP level; else -1). */
struct policy_slot {
  enum policy_slot_kind kind;
  int level;
  int index;
};

struct policy_decisive {
  struct policy_slot slot;
  size_t statement; /* 0-based index in the Statement array */
  const char *sid;  /* borrowed from the policy; NULL when the statement has none */
};

/* Why an Allow statement that names the action and resource did not count. */
enum policy_miss_reason {
  POLICY_MISS_PRINCIPAL,    /* its Principal does not name the caller */
  POLICY_MISS_ACCOUNT_ONLY, /* same account, Principal is only the account: delegation */
  POLICY_MISS_CONDITION,    /* a condition was false: cond_operator / cond_key say which */
};

struct policy_near_miss {
  struct policy_slot slot;
  size_t statement;
  const char *sid;
  enum policy_miss_reason reason;
  const char *cond_operator; /* as written ("ForAnyValue:StringLike"), borrowed */
  const char *cond_key;      /* as written ("aws:PrincipalOrgID"), borrowed */
};

enum policy_confidence {
  POLICY_DOCUMENTED,
  POLICY_UNDOCUMENTED, /* cross account, and the registry and repository policies disagree:
                          AWS does not say how the two resource policies combine */
};

#define POLICY_DECISIVE_MAX 32
#define POLICY_MISSING_MAX 24
#define POLICY_NEAR_MISS_MAX 16

struct policy_decision {
  enum policy_outcome decision;
  /* ExplicitDeny: every matching Deny; Allow: the statements that granted; else none. */
  struct policy_decisive decisive[POLICY_DECISIVE_MAX];
  size_t n_decisive;
  bool decisive_truncated;
  /* ImplicitDeny: the places an Allow is missing (kind, and level for SCP/RCP). */
  struct policy_slot missing_allow_in[POLICY_MISSING_MAX];
  size_t n_missing;
  /* ImplicitDeny: Allow statements for this action and resource that did not apply. */
  struct policy_near_miss near_misses[POLICY_NEAR_MISS_MAX];
  size_t n_near_misses;
  bool cross_account;
  enum policy_confidence confidence;
};

/* Decides r into d. ERR_INVALID (with e->msg) when r lacks an action, resource, principal
 * ARN or account; the decision itself is never an error. Allocates nothing. */
enum err_code policy_evaluate(const struct policy_request *r, struct policy_decision *d,
                              struct err *e);

/* "Allow", "ImplicitDeny", "ExplicitDeny". */
const char *policy_outcome_name(enum policy_outcome o);
/* "documented" or "undocumented". */
const char *policy_confidence_name(enum policy_confidence c);
/* Writes the slot's name in the eval JSON format ("identity_policies[0]", "scps[1][0]",
 * "resource_policy"; with with_index false "identity_policies", "scps[1]") into out. */
void policy_slot_name(struct policy_slot s, bool with_index, char *out, size_t out_size);

/* A request read from the `ecrdiag policy eval` JSON format: owns every parsed policy and
 * string that req points to. */
struct policy_request_doc {
  struct policy_request req;
  struct policy_request_doc_store *store; /* private */
};

/* Reads the eval request JSON (text). ERR_PARSE / ERR_TOO_LARGE with e->msg naming what is
 * wrong ("identity_policies[1]: Statement[0]: unknown element \"Efect\""). The caller frees
 * *out with policy_request_doc_free. Policies may be JSON objects or JSON text in a string
 * (as GetRepositoryPolicy returns policyText). */
enum err_code policy_request_doc_parse(const char *json, size_t n, struct policy_request_doc **out,
                                       struct err *e);
void policy_request_doc_free(struct policy_request_doc *doc);

/* The decision in the eval JSON format: {"decision", "decisive", "missing_allow_in",
 * "confidence"}. A new reference, or NULL when out of memory. */
json_t *policy_decision_to_json(const struct policy_decision *d);

#endif
