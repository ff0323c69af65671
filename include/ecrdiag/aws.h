/* AWS API calls over the two protocols ECR pulls need: awsJson1_1 (ECR, Organizations) and
 * the STS query protocol (XML answers). Signs with SigV4, retries in AWS standard mode
 * (3 attempts, exponential backoff with full jitter, on throttling, 5xx and transient
 * network errors, never on 4xx access errors), keeps every request id, status and error
 * for the report. Depends on core, http, sigv4, creds. */
#ifndef ECRDIAG_AWS_H
#define ECRDIAG_AWS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "ecrdiag/creds.h"
#include "ecrdiag/err.h"
#include "ecrdiag/http.h"

/* Milliseconds on CLOCK_MONOTONIC, the clock of aws_client.deadline_ms. */
long long aws_monotonic_ms(void);

/* Endpoint overrides: NULL means the service's default endpoint for the region. */
struct aws_endpoints {
  char *ecr;
  char *sts;
  char *organizations;
};

/* From AWS_ENDPOINT_URL_ECR, AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL_ORGANIZATIONS, each
 * falling back to AWS_ENDPOINT_URL; all ignored when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is
 * "true". An empty variable counts as unset. Fills *out (caller-owned; release with
 * aws_endpoints_release, also after a failure). ERR_INVALID naming the variable when a value
 * is not an http:// or https:// URL with a host. */
enum err_code aws_endpoints_from_env(struct aws_endpoints *out, struct err *e);
void aws_endpoints_release(struct aws_endpoints *ep);

struct aws_client {
  struct http_client *http;              /* borrowed */
  const struct aws_creds *creds;         /* borrowed */
  const struct aws_endpoints *endpoints; /* borrowed; NULL: all defaults */
  const char *partition;                 /* "aws", "aws-cn", "aws-us-gov"; NULL: from the region */
  bool fips;                             /* use the FIPS endpoints (ignored for overrides) */
  int max_attempts;                      /* 0: 3; at most 10 */
  /* 0: 1000. Before attempt n+1 the call sleeps rand(0,1) * min(20 s, base * 2^(n-1)). */
  long retry_base_ms;
  time_t (*now)(void); /* clock seam; NULL: time() */
  uint64_t rng_state;  /* backoff jitter PRNG; 0: seeded on first use */
  /* The whole operation's deadline on CLOCK_MONOTONIC, in ms (aws_monotonic_ms); 0: none.
   * No attempt starts, and no backoff sleeps, past it; an attempt's own limit is what is
   * left of it. */
  long long deadline_ms;
};

/* What one logical call did, across its attempts: one entry of the report's checks[]. */
struct aws_call {
  char *endpoint; /* the URL called */
  int attempts;
  long duration_ms;    /* all attempts, backoff included */
  long http_status;    /* of the last attempt; 0 when no answer */
  char *error_code;    /* AWS's code (ECR "__type" without any "prefix#", STS <Code>), or NULL */
  char *error_message; /* AWS's message, or the transport failure's, or NULL */
  char *request_id;    /* x-amzn-RequestId (or the body's RequestId) of the last answer */
  enum err_code transport; /* ERR_OK, or the transport failure of the last attempt */
  long clock_skew_s;       /* server Date minus local clock, when a Date header came */
  bool clock_skew_known;   /* a Date header came and parsed: clock_skew_s means something */
};
void aws_call_init(struct aws_call *c);
/* Frees the strings and leaves c as aws_call_init does. Accepts NULL. Every call below starts
 * by releasing what the aws_call it is given holds, so one can be reused. */
void aws_call_release(struct aws_call *c);

/* awsJson1_1: POST request (NULL: {}) with X-Amz-Target: target, signed for service (the
 * signing name: "ecr", "organizations") in the signing region of aws_signing_region. ERR_OK on
 * 2xx with a JSON object in *response (caller decrefs). ERR_AWS when AWS answered with an
 * error (call->error_code/message set; e->msg says the same). ERR_PARSE ("malformed answer
 * from HOST") when a 2xx body is not a JSON object. A transport failure as http_perform,
 * after retries. ERR_INVALID for an unknown partition or a malformed region. */
enum err_code aws_json_call(struct aws_client *c, const char *service, const char *region,
                            const char *target, json_t *request, json_t **response,
                            struct aws_call *call, struct err *e);

/* STS query protocol: POST form params (already encoded "Action=...&Version=..."). ERR_OK on
 * 2xx with the XML text in *xml (caller frees); ERR_AWS as above, from the <ErrorResponse>. */
enum err_code aws_query_call(struct aws_client *c, const char *service, const char *region,
                             const char *form, char **xml, struct aws_call *call, struct err *e);

/* The endpoint URL used for service ("ecr", "sts", "organizations") in region (override or
 * default; the region is not used for Organizations, which has one endpoint per partition);
 * the caller frees. NULL for an unknown service or partition, or a malformed region. */
char *aws_endpoint_url(const struct aws_client *c, const char *service, const char *region);
/* The region requests to service are signed for: region itself, except for Organizations
 * (the partition's home region: us-east-1, cn-northwest-1, us-gov-west-1), also when an
 * endpoint override is in use. Borrowed (region or a static string); NULL as above. */
const char *aws_signing_region(const struct aws_client *c, const char *service, const char *region);

struct sts_identity {
  char *arn;
  char *account;
  char *user_id;
};
enum err_code sts_get_caller_identity(struct aws_client *c, const char *region,
                                      struct sts_identity *out, struct aws_call *call,
                                      struct err *e);
void sts_identity_release(struct sts_identity *id);

/* ecr_get_authorization_token: ERR_PARSE when the token is not base64 of "AWS:password" (the
 * message never quotes it). Every intermediate copy of the token is wiped; jansson's own
 * parse buffers cannot be, a limitation noted in aws.c. */
struct ecr_auth {
  char *password;       /* secret: the part after "AWS:" of the decoded token */
  char *proxy_endpoint; /* "https://ACCOUNT.dkr.ecr.REGION.amazonaws.com" */
  double expires_at;    /* epoch seconds */
};
enum err_code ecr_get_authorization_token(struct aws_client *c, const char *region,
                                          struct ecr_auth *out, struct aws_call *call,
                                          struct err *e);
void ecr_auth_release(struct ecr_auth *a);

/* BatchGetImage for one image (tag or digest, either may be NULL but not both) with the
 * media types containerd accepts. *response is the raw answer (images[], failures[]). */
enum err_code ecr_batch_get_image(struct aws_client *c, const char *region, const char *registry_id,
                                  const char *repository, const char *tag, const char *digest,
                                  json_t **response, struct aws_call *call, struct err *e);
/* GetRepositoryPolicy: *policy_text is the policy (caller frees), or NULL with ERR_AWS and
 * call->error_code "RepositoryPolicyNotFoundException" when there is none. */
enum err_code ecr_get_repository_policy(struct aws_client *c, const char *region,
                                        const char *registry_id, const char *repository,
                                        char **policy_text, struct aws_call *call, struct err *e);
/* GetRegistryPolicy of the signing account's own registry in region: *policy_text as above,
 * or NULL with ERR_AWS and call->error_code "RegistryPolicyNotFoundException". */
enum err_code ecr_get_registry_policy(struct aws_client *c, const char *region, char **policy_text,
                                      struct aws_call *call, struct err *e);
/* GetAccountSetting name ("REGISTRY_POLICY_SCOPE": "V1" or "V2"): *value (caller frees). */
enum err_code ecr_get_account_setting(struct aws_client *c, const char *region, const char *name,
                                      char **value, struct aws_call *call, struct err *e);
/* DescribeRepositories listing the repositories of registry_id (NULL: the caller's), one page
 * of up to 1000, for naming the ones near a name that does not exist; raw answer in *response. */
enum err_code ecr_describe_repositories(struct aws_client *c, const char *region,
                                        const char *registry_id, json_t **response,
                                        struct aws_call *call, struct err *e);
/* DescribePullThroughCacheRules of registry_id (NULL: the caller's), one page of up to 1000;
 * raw answer (pullThroughCacheRules[]) in *response. */
enum err_code ecr_describe_pull_through_cache_rules(struct aws_client *c, const char *region,
                                                    const char *registry_id, json_t **response,
                                                    struct aws_call *call, struct err *e);
/* DescribeImages for one image id; raw answer in *response. */
enum err_code ecr_describe_images(struct aws_client *c, const char *region, const char *registry_id,
                                  const char *repository, const char *tag, const char *digest,
                                  json_t **response, struct aws_call *call, struct err *e);
/* DescribeImages listing the tagged images of a repository (one page of up to 1000), for
 * naming the tags that do exist; raw answer in *response. */
enum err_code ecr_describe_tagged_images(struct aws_client *c, const char *region,
                                         const char *registry_id, const char *repository,
                                         json_t **response, struct aws_call *call, struct err *e);
/* Organizations DescribeOrganization, signed for the partition's home region
 * (us-east-1 in aws). *response is the raw answer. */
enum err_code orgs_describe_organization(struct aws_client *c, json_t **response,
                                         struct aws_call *call, struct err *e);

/* ---- STS sessions for the credential chain (appended with the chain in creds.c) ---- */

/* What AssumeRole and AssumeRoleWithWebIdentity ask for. role_arn and role_session_name are
 * required; the rest may be NULL / 0 (left out of the request). */
struct sts_assume_role_params {
  const char *role_arn;
  const char *role_session_name;
  const char *external_id;        /* AssumeRole only */
  long duration_seconds;          /* 0: STS's default (3600) */
  const char *web_identity_token; /* secret; AssumeRoleWithWebIdentity only */
};

/* The session STS issued. */
struct sts_credentials {
  char *access_key_id;
  char *secret_access_key; /* secret */
  char *session_token;     /* secret */
  time_t expiration;       /* 0 when the answer had none that parses */
  char *assumed_role_arn;  /* AssumedRoleUser/Arn, or NULL */
};
/* Wipes the secrets and frees everything. Accepts NULL. */
void sts_credentials_release(struct sts_credentials *c);

/* STS AssumeRole signed with c->creds, in region's STS endpoint, retried like every call.
 * The answer is read into a wiped buffer. ERR_OK with *out filled; ERR_AWS with call's code
 * and message (AccessDenied: "User: ARN is not authorized to perform: sts:AssumeRole on
 * resource: ROLE"); ERR_PARSE when a 2xx answer lacks the credentials; ERR_INVALID for a
 * missing role_arn or session name. */
enum err_code sts_assume_role(struct aws_client *c, const char *region,
                              const struct sts_assume_role_params *p, struct sts_credentials *out,
                              struct aws_call *call, struct err *e);
/* STS AssumeRoleWithWebIdentity: unsigned (the token is the credential; botocore sends it
 * with signature_version=UNSIGNED), so c->creds may be NULL. The form holding the token is
 * wiped after use. Codes as sts_assume_role. */
enum err_code sts_assume_role_with_web_identity(struct aws_client *c, const char *region,
                                                const struct sts_assume_role_params *p,
                                                struct sts_credentials *out, struct aws_call *call,
                                                struct err *e);

#endif
