/* The probe plan and its reading. Calls AWS and the registry as the kubelet's credential
 * provider and containerd would, records every call as a check, and turns AWS's answers
 * (error codes, the AccessDenied reason suffix, BatchGetImage failures) into ranked findings.
 * Depends on core, aws, registry and policy; knows nothing of how reports are rendered. */
#include "ecrdiag/diag.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ecrdiag/aws.h"
#include "ecrdiag/buf.h"
#include "ecrdiag/creds.h"
#include "ecrdiag/http.h"
#include "ecrdiag/policy.h"
#include "ecrdiag/regions.h"
#include "ecrdiag/registry.h"

#define DIAG_SUMMARY_MAX_BYTES 4096
#define DIAG_REQUEST_TIMEOUT_MS 10000L /* one request, unless the deadline is nearer */
#define DIAG_DEFAULT_TIMEOUT_MS 30000L /* the whole check, when --timeout is not given */

/* Everything one run holds while probing; torn down in one place. */
struct probe {
  const struct diag_options *o;
  struct diagnosis *d;
  struct aws_creds creds;
  struct aws_creds registry_creds; /* empty unless --registry-profile / --registry-role-arn */
  struct aws_endpoints endpoints;
  struct http_options http_options; /* every fetch makes its own client with these */
  struct aws_client aws;            /* a template: each fetch sets its own http */
  struct ecr_auth auth;
  bool have_token;
  char *image_digest;    /* from BatchGetImage, used for the registry request */
  char *platform_digest; /* the index entry for the node's platform, when an index */
  char *config_digest;   /* of the image manifest that would be pulled */
  char *layer_digest;    /* its first layer */
  bool single_platform;  /* the reference names one image manifest, not an index */
  char *policy_text;     /* the repository policy, when the caller could read it */
  bool policy_known;     /* policy_text is the truth (NULL: none exists) */
  bool repo_missing;     /* the registry account's view says the repository does not exist */
  bool on_node;          /* measured from the node: IMDS credentials, or --on-node */
  bool no_organization;  /* Organizations says the caller's account is in none */
  /* The registry account's view (--registry-profile / --registry-role-arn): */
  char *registry_policy;      /* the private registry policy, when read */
  bool registry_policy_known; /* registry_policy is the truth (NULL: none exists) */
  bool registry_scope_v1;     /* REGISTRY_POLICY_SCOPE is V1: the policy does not govern pulls */
  json_t *ptc_rules;          /* DescribePullThroughCacheRules' pullThroughCacheRules, or NULL */
  const json_t *ptc_rule;     /* the rule whose prefix the repository is under, or NULL */
  bool ptc_repo_missing;      /* PTC_IMPORT_DENIED: the repository is not there yet either */
  long long deadline_ms;      /* CLOCK_MONOTONIC: the whole check ends here */
  struct http_share *share;   /* one connection cache for every fetch's client */
};

/* In enum fetch_kind order: fs[k].id is diag_plan[k]. */
const char *const diag_plan[] = {
    "sts.GetCallerIdentity",
    "organizations.DescribeOrganization",
    "ecr.GetAuthorizationToken",
    "ecr.GetRepositoryPolicy",
    "ecr.GetRegistryPolicy",
    "ecr.GetAccountSetting",
    "ecr.DescribePullThroughCacheRules",
    "ecr.BatchGetImage",
    "ecr.DescribeImages",
    "ecr.DescribeRepositories",
    "ecr.DescribeImages.other_regions",
    "registry.ping",
    "registry.manifest",
    "registry.platform_manifest",
    "registry.config_blob",
    "registry.layer_blob",
    "layer.config",
    "layer.download",
};
const size_t diag_plan_len = sizeof diag_plan / sizeof diag_plan[0];

const char *diag_check_status_name(enum check_status s)
{
  switch (s) {
  case CHECK_PASS: return "pass";
  case CHECK_FAIL: return "fail";
  case CHECK_ERROR: return "error";
  case CHECK_SKIPPED: return "skipped";
  }
  return "error";
}

void diag_init(struct diagnosis *d)
{
  memset(d, 0, sizeof *d);
  d->pullable = -1;
}

void diag_release(struct diagnosis *d)
{
  if (!d)
    return;
  imageref_release(&d->ref);
  free(d->caller.arn);
  free(d->caller.account);
  free(d->caller.org_id);
  free(d->caller.credential_source);
  free(d->platform);
  for (size_t i = 0; i < d->n_findings; i++) {
    free(d->findings[i].summary);
    json_decref(d->findings[i].evidence);
  }
  for (size_t i = 0; i < d->n_checks; i++) {
    free(d->checks[i].endpoint);
    free(d->checks[i].error_code);
    free(d->checks[i].error_message);
    free(d->checks[i].request_id);
  }
  if (d->has_fix)
    policyfix_release(&d->fix);
  diag_init(d);
}

/* ---- recording ------------------------------------------------------------------------ */

/* Checks that gather context: being refused them says nothing about the pull. */
static bool check_needed_for_pull(const char *id)
{
  static const char *const context[] = {
      "organizations.DescribeOrganization",
      "ecr.GetRepositoryPolicy",
      "ecr.GetRegistryPolicy",
      "ecr.GetAccountSetting",
      "ecr.DescribePullThroughCacheRules",
      "ecr.DescribeImages",
      "ecr.DescribeRepositories",
      "ecr.DescribeImages.other_regions",
  };
  for (size_t i = 0; i < sizeof context / sizeof context[0]; i++)
    if (strcmp(id, context[i]) == 0)
      return false;
  return true;
}

static struct diag_check *add_check(struct diagnosis *d, const char *id)
{
  if (d->n_checks == DIAG_MAX_CHECKS)
    return NULL;
  struct diag_check *c = &d->checks[d->n_checks++];
  memset(c, 0, sizeof *c);
  c->id = id;
  c->needed_for_pull = check_needed_for_pull(id);
  return c;
}

static void emit(const struct probe *p, enum diag_event_kind kind, const char *id,
                 const struct diag_check *c)
{
  if (!p->o->on_event)
    return;
  struct diag_event ev = {.kind = kind, .check_id = id, .check = c};
  p->o->on_event(p->o->event_ctx, &ev);
}

/* Adds a finding; takes ownership of evidence (NULL: an empty object). Returns it, or NULL
 * when the list is full. */
__attribute__((format(printf, 4, 5))) static struct diag_finding *
add_finding(struct diagnosis *d, enum cause_id cause, json_t *evidence, const char *fmt, ...)
{
  if (d->n_findings == DIAG_MAX_FINDINGS) {
    json_decref(evidence);
    return NULL;
  }
  struct buf s;
  buf_init(&s, DIAG_SUMMARY_MAX_BYTES);
  va_list ap;
  va_start(ap, fmt);
  buf_vprintf(&s, fmt, ap);
  va_end(ap);
  struct diag_finding *f = &d->findings[d->n_findings++];
  f->cause = cause;
  f->summary = buf_detach(&s);
  f->evidence = evidence ? evidence : json_object();
  return f;
}

static bool has_finding(const struct diagnosis *d, enum cause_id cause)
{
  for (size_t i = 0; i < d->n_findings; i++)
    if (d->findings[i].cause == cause)
      return true;
  return false;
}

static void mark_alternative(struct diag_finding *f)
{
  if (f)
    f->alternative = true;
}

/* The evidence of one check: what was called and what came back. */
static json_t *check_evidence(const struct diag_check *c)
{
  if (!c)
    return json_object();
  json_t *ev = json_pack("{s:s, s:s?}", "check", c->id, "endpoint", c->endpoint);
  if (c->http_status)
    json_object_set_new(ev, "http_status", json_integer(c->http_status));
  if (c->error_code)
    json_object_set_new(ev, "error_code", json_string(c->error_code));
  if (c->error_message)
    json_object_set_new(ev, "message", json_string(c->error_message));
  if (c->request_id)
    json_object_set_new(ev, "request_id", json_string(c->request_id));
  return ev;
}

/* ---- reading AWS's answers ------------------------------------------------------------ */

static bool code_is(const struct aws_call *call, const char *a, const char *b)
{
  const char *c = call->error_code;
  return c && ((a && strcmp(c, a) == 0) || (b && strcmp(c, b) == 0));
}

static bool is_throttling_code(const char *c)
{
  static const char *const codes[] = {
      "Throttling",
      "ThrottlingException",
      "ThrottledException",
      "RequestThrottledException",
      "TooManyRequestsException",
      "RequestLimitExceeded",
      "RequestThrottled",
      "SlowDown",
      "ProvisionedThroughputExceededException",
      "LimitExceededException",
  };
  for (size_t i = 0; c && i < sizeof codes / sizeof codes[0]; i++)
    if (strcmp(c, codes[i]) == 0)
      return true;
  return false;
}

/* Why the prober itself could not complete a call, or CAUSE_COUNT when the answer is about
 * the pull rather than the prober (an AccessDenied, a missing image). */
static enum cause_id prober_cause(const struct aws_call *call)
{
  switch (call->transport) {
  case ERR_OK: break;
  case ERR_DNS:
  case ERR_CONNECT:
  case ERR_TIMEOUT:
  case ERR_TLS:
  case ERR_NETWORK: return CAUSE_PROBE_UNREACHABLE;
  default: return CAUSE_SERVICE_ERROR;
  }
  if (code_is(call, "InvalidClientTokenId", "UnrecognizedClientException"))
    return CAUSE_CREDENTIALS_INVALID;
  if (code_is(call, "ExpiredToken", "ExpiredTokenException"))
    return CAUSE_CREDENTIALS_EXPIRED;
  if (code_is(call, "SignatureDoesNotMatch", "InvalidSignatureException")) {
    if (call->error_message && strstr(call->error_message, "Signature expired"))
      return CAUSE_CLOCK_SKEW;
    return CAUSE_CREDENTIALS_INVALID;
  }
  if (code_is(call, "RequestExpired", "SignatureExpired") ||
      code_is(call, "RequestTimeTooSkewed", NULL))
    return CAUSE_CLOCK_SKEW;
  if (code_is(call, "IncompleteSignature", "MissingAuthenticationToken") ||
      code_is(call, "MissingAuthenticationTokenException", NULL))
    return CAUSE_CREDENTIALS_INVALID;
  if (is_throttling_code(call->error_code))
    return CAUSE_THROTTLED;
  if (call->http_status >= 500 || code_is(call, "ServerException", "ServiceUnavailable") ||
      code_is(call, "InternalFailure", "ServiceUnavailableException"))
    return CAUSE_SERVICE_ERROR;
  return CAUSE_COUNT;
}

static const char *prober_advice(enum cause_id cause)
{
  switch (cause) {
  case CAUSE_CREDENTIALS_INVALID:
    return "check the access key and secret (and the session token for temporary keys)";
  case CAUSE_CREDENTIALS_EXPIRED:
    return "refresh the session (aws sso login, a new assume-role) and run again";
  case CAUSE_CLOCK_SKEW: return "sync this host's clock (NTP) and run again";
  case CAUSE_THROTTLED: return "wait a minute and run again";
  case CAUSE_PROBE_UNREACHABLE:
    return "check the network, proxy and endpoint settings of this host, or run ecrdiag on the "
           "node itself";
  default: return "run again; if it persists, check the AWS Health Dashboard";
  }
}

/* The host of a URL ("https://HOST:PORT/path?query" -> HOST), for naming it: never the whole
 * URL, which for a layer download carries a signature and a session token. */
static char *url_host(const char *url)
{
  const char *h = url ? strstr(url, "://") : NULL;
  if (!h)
    return str_dup(url ? url : "?");
  h += 3;
  size_t n = strcspn(h, ":/?#");
  struct buf b;
  buf_init(&b, 256);
  buf_append(&b, h, n);
  return buf_detach(&b);
}

/* A request that met no answer. Where it was measured decides whose problem it is: from the
 * node (IMDS credentials, or --on-node) the kubelet meets the same wall, so it is the pull's
 * cause; from anywhere else it is a fact about this host, and says nothing of the pod's pull. */
static void add_network_finding(struct probe *p, const struct diag_check *c,
                                enum err_code transport, const char *what)
{
  static const struct {
    enum err_code code;
    const char *kind;
    enum cause_id on_node;
    const char *advice;
  } kinds[] = {
      {ERR_DNS, "dns", CAUSE_NETWORK_DNS_FAILURE,
       "check the VPC's DNS (enableDnsSupport and enableDnsHostnames), the private DNS of the "
       "ECR interface endpoints (com.amazonaws.REGION.ecr.api and .ecr.dkr) and any custom "
       "resolver of the node"},
      {ERR_TLS, "tls", CAUSE_TLS_FAILURE,
       "a TLS-intercepting proxy or firewall is the usual reason: add its CA to the node's trust "
       "store (and containerd's), or exempt *.amazonaws.com from interception"},
      {ERR_TIMEOUT, "timeout", CAUSE_NETWORK_UNREACHABLE,
       "check the route (a NAT gateway, or the ECR interface endpoints and the S3 gateway "
       "endpoint for layers), the security groups and network ACLs, and HTTPS_PROXY / NO_PROXY "
       "in containerd's environment"},
  };
  const char *kind = "connect", *advice = kinds[2].advice;
  enum cause_id cause = CAUSE_NETWORK_UNREACHABLE;
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
    if (kinds[i].code == transport) {
      kind = kinds[i].kind;
      cause = kinds[i].on_node;
      advice = kinds[i].advice;
    }
  }
  char *host = url_host(c ? c->endpoint : NULL);
  enum cause_id shown = p->on_node ? cause : CAUSE_PROBE_UNREACHABLE;
  for (size_t i = 0; i < p->d->n_findings; i++) {
    const struct diag_finding *f = &p->d->findings[i];
    const char *h = json_string_value(json_object_get(f->evidence, "host"));
    if (f->cause == shown && h && strcmp(h, host) == 0) {
      free(host); /* one wall, one finding: the first request that met it */
      return;
    }
  }
  json_t *ev = check_evidence(c);
  json_object_set_new(ev, "host", json_string(host));
  json_object_set_new(ev, "network_failure", json_string(kind));
  json_object_set_new(ev, "measured_from", json_string(p->on_node ? "node" : "this host"));
  const char *detail = c && c->error_message ? c->error_message : "no answer";
  if (p->on_node)
    add_finding(p->d, cause, ev, "%s (%s) fails from the node: %s. The kubelet meets the same: %s.",
                what, host, detail, advice);
  else
    add_finding(p->d, CAUSE_PROBE_UNREACHABLE, ev,
                "%s (%s) fails from this host: %s. This host is not the node, so this says "
                "nothing about the pod's pull: run ecrdiag on the node (with --on-node when it "
                "does not use the node's instance role) to see whether the node can reach it.",
                what, host, detail);
  free(host);
}

/* Records that the prober could not complete a call: a tool finding. */
static void add_prober_finding(struct probe *p, enum cause_id cause, const struct diag_check *c,
                               const struct aws_call *call)
{
  if (cause == CAUSE_PROBE_UNREACHABLE && call) {
    const char *id = c ? c->id : "";
    add_network_finding(p, c, call->transport,
                        strncmp(id, "ecr.", 4) == 0   ? "The ECR API endpoint"
                        : strncmp(id, "sts.", 4) == 0 ? "The STS endpoint"
                                                      : "The AWS endpoint");
    return;
  }
  json_t *ev = check_evidence(c);
  bool skew = cause == CAUSE_CLOCK_SKEW && call && call->clock_skew_known;
  if (skew) {
    /* AWS refuses signatures more than 15 minutes from its clock (SigV4). */
    json_object_set_new(ev, "clock_skew_s", json_integer(call->clock_skew_s));
    add_finding(p->d, cause, ev,
                "%s failed: %s. This host's clock is %ld s %s AWS's (from its Date header); AWS "
                "refuses signatures more than 15 minutes off. %s.",
                c ? c->id : "a call", c && c->error_message ? c->error_message : "no answer",
                labs(call->clock_skew_s), call->clock_skew_s > 0 ? "behind" : "ahead of",
                prober_advice(cause));
    return;
  }
  add_finding(p->d, cause, ev, "%s failed: %s. %s: %s.", c ? c->id : "a call",
              c && c->error_message ? c->error_message : "no answer", cause_info(cause)->title,
              prober_advice(cause));
}

/* The policy type AWS names at the end of an AccessDenied message (IAM troubleshooting page:
 * "with an explicit deny in a <type> policy" / "because no <type> policy allows the <action>
 * action"). */
struct denied_reason {
  bool found;
  bool explicit_deny;
  const char *type; /* "resource-based", "identity-based", "service control", ... */
  /* The denying policy's ARN, when AWS appended it (": arn:..." after the type, same account
   * or organization only: AWS Security Blog, "Enhanced access denied error messages with
   * policy ARNs"), pointing into the message; NULL otherwise. */
  const char *policy_arn;
  size_t policy_arn_len;
};

static struct denied_reason parse_denied_reason(const char *msg)
{
  static const char *const types[] = {
      "resource-based",       "identity-based", "service control", "resource control",
      "permissions boundary", "session",        "VPC endpoint",
  };
  struct denied_reason r = {0};
  if (!msg)
    return r;
  const char *expl = strstr(msg, "with an explicit deny in a");
  const char *impl = strstr(msg, "because no ");
  const char *tail = expl ? expl : impl;
  if (!tail)
    return r;
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    if (strstr(tail, types[i])) {
      r.found = true;
      r.explicit_deny = expl != NULL;
      r.type = types[i];
      const char *arn = strstr(tail, ": arn:");
      if (arn) {
        r.policy_arn = arn + 2;
        r.policy_arn_len = strcspn(r.policy_arn, " \t\r\n\"");
      }
      return r;
    }
  }
  return r;
}

/* ---- the probe ------------------------------------------------------------------------ */

static bool cross_account(const struct probe *p)
{
  return p->d->caller.account && strcmp(p->d->caller.account, p->d->ref.registry_id) != 0;
}

/* A request's limit: the per-request one, or what is left before the deadline (at least 1 ms,
 * so a late request fails as a timeout rather than waiting). */
static long time_left_ms(const struct probe *p)
{
  long long left = p->deadline_ms - aws_monotonic_ms();
  if (left < 1)
    left = 1;
  return left < p->http_options.timeout_ms ? (long)left : p->http_options.timeout_ms;
}

/* ---- fetching: independent requests run at once, each on its own HTTP client ---------- */

enum fetch_kind {
  FETCH_IDENTITY,
  FETCH_ORGANIZATION,
  FETCH_AUTH_TOKEN,
  FETCH_POLICY,
  FETCH_REGISTRY_POLICY, /* the registry account's view only, as the three below */
  FETCH_REGISTRY_SCOPE,
  FETCH_PTC_RULES,
  FETCH_IMAGE,
  FETCH_TAGS,          /* the tags that do exist, when the one asked for does not */
  FETCH_REPOSITORIES,  /* the repositories that do exist, when the one asked for does not */
  FETCH_OTHER_REGIONS, /* the same image in the account's other regions, when not found */
  FETCH_REGISTRY_PING,
  FETCH_REGISTRY_MANIFEST,
  FETCH_PLATFORM_MANIFEST, /* the index entry for the node's platform */
  FETCH_CONFIG_BLOB,       /* the registry's answer for the config: a redirect */
  FETCH_LAYER_BLOB,        /* the same for the first layer */
  FETCH_CONFIG_DOWNLOAD,   /* the config from the layer host */
  FETCH_LAYER_DOWNLOAD,    /* the first byte of the layer from the layer host */
  FETCH_COUNT,
};

/* One request made on a worker thread and everything it brought back, read afterwards on the
 * probing thread. Indexed by kind; ids follow diag_plan[]. */
struct fetch {
  struct probe *p;
  enum fetch_kind kind;
  const char *id;
  bool wanted;
  bool started; /* a thread runs it: join before reading */
  pthread_t thread;
  struct http_client *http;
  enum err_code rc;
  struct err e;
  struct aws_call call;       /* AWS requests */
  struct registry_result reg; /* registry requests */
  const struct registry_target *target;
  const char *manifest_ref; /* manifests: the tag or digest; blobs: the digest */
  const char *url;          /* downloads: the pre-signed URL (a secret, borrowed) */
  json_t *resp;
  char *text;
  struct sts_identity ident;
  struct ecr_auth auth;
};

static bool fetch_is_registry(const struct fetch *f)
{
  return f->kind >= FETCH_REGISTRY_PING;
}

static enum check_status fetch_status(const struct fetch *f)
{
  if (f->kind == FETCH_CONFIG_BLOB || f->kind == FETCH_LAYER_BLOB) /* 307 is the answer */
    return f->rc ? CHECK_ERROR : f->reg.status < 400 ? CHECK_PASS : CHECK_FAIL;
  if (fetch_is_registry(f))
    return f->rc ? CHECK_ERROR : f->reg.status / 100 == 2 ? CHECK_PASS : CHECK_FAIL;
  if (f->rc == ERR_OK) {
    if (f->kind == FETCH_IMAGE)
      return json_array_get(json_object_get(f->resp, "images"), 0) ? CHECK_PASS : CHECK_FAIL;
    if (f->kind == FETCH_AUTH_TOKEN && !f->auth.password)
      return CHECK_FAIL;
    return CHECK_PASS;
  }
  if (f->rc != ERR_AWS || prober_cause(&f->call) != CAUSE_COUNT)
    return CHECK_ERROR;
  /* No policy at all is an answer, and the one the diagnosis wanted. */
  if (f->kind == FETCH_POLICY && code_is(&f->call, "RepositoryPolicyNotFoundException", NULL))
    return CHECK_PASS;
  if (f->kind == FETCH_REGISTRY_POLICY &&
      code_is(&f->call, "RegistryPolicyNotFoundException", NULL))
    return CHECK_PASS;
  return CHECK_FAIL;
}

/* The report's record of a fetch, into c (strings owned by c). */
static void check_from_fetch(struct diag_check *c, const struct fetch *f)
{
  c->id = f->id;
  c->needed_for_pull = check_needed_for_pull(f->id);
  c->status = fetch_status(f);
  if (fetch_is_registry(f)) {
    c->endpoint = str_dup(f->reg.url);
    c->attempts = 1;
    c->duration_ms = f->reg.duration_ms;
    c->http_status = f->reg.status;
    c->error_code = str_dup(f->reg.error_code);
    c->error_message = str_dup(f->reg.error_message ? f->reg.error_message
                               : f->rc              ? f->e.msg
                                                    : NULL);
    return;
  }
  c->endpoint = str_dup(f->call.endpoint);
  c->attempts = f->call.attempts;
  c->duration_ms = f->call.duration_ms;
  c->http_status = f->call.http_status;
  c->error_code = str_dup(f->call.error_code);
  c->error_message = str_dup(f->call.error_message ? f->call.error_message
                             : f->rc               ? f->e.msg
                                                   : NULL);
  c->request_id = str_dup(f->call.request_id);
}

static void check_release(struct diag_check *c)
{
  free(c->endpoint);
  free(c->error_code);
  free(c->error_message);
  free(c->request_id);
}

static struct diag_check *add_fetch_check(struct probe *p, const struct fetch *f)
{
  struct diag_check *c = add_check(p->d, f->id);
  if (c)
    check_from_fetch(c, f);
  return c;
}

/* ---- the image in the account's other regions ---- */

struct region_probe {
  const struct fetch *f;
  struct aws_client aws;
  const char *region;
  pthread_t thread;
  bool started;
  enum err_code rc;
  struct aws_call call;
  json_t *resp;
};

static void *region_probe_run(void *arg)
{
  struct region_probe *rp = arg;
  const struct image_ref *r = &rp->f->p->d->ref;
  struct err e = {0};
  rp->aws.http = http_client_new(&rp->f->p->http_options, &e);
  if (!rp->aws.http) {
    rp->rc = ERR_NOMEM;
    return NULL;
  }
  rp->rc = ecr_describe_images(&rp->aws, rp->region, r->registry_id, r->repository,
                               r->digest ? NULL : r->tag, r->digest, &rp->resp, &rp->call, &e);
  http_client_free(rp->aws.http);
  return NULL;
}

/* DescribeImages for the same repository and tag in every other region of the partition, at
 * once, as the view that found it missing (the registry account's or the same account's).
 * f->resp gets {"image_in": [...], "repository_in": [...], "unanswered": [...]}: regions where
 * the image exists, where only the repository does, and where no answer could be had (a
 * region not enabled for the account answers as if the keys were unknown). */
static void other_regions_run(struct fetch *f, const struct aws_client *aws)
{
  const struct image_ref *r = &f->p->d->ref;
  size_t n = 0;
  const char *const *regions = regions_of_partition(r->partition, &n);
  struct region_probe *rps = calloc(n ? n : 1, sizeof *rps);
  if (!rps) {
    f->rc = err_set(&f->e, ERR_NOMEM, "out of memory");
    return;
  }
  long long t0 = aws_monotonic_ms();
  for (size_t i = 0; i < n; i++) {
    rps[i] = (struct region_probe){.f = f, .aws = *aws, .region = regions[i]};
    aws_call_init(&rps[i].call);
    if (strcmp(regions[i], r->region) == 0)
      continue;
    rps[i].started = pthread_create(&rps[i].thread, NULL, region_probe_run, &rps[i]) == 0;
    if (!rps[i].started)
      region_probe_run(&rps[i]);
  }
  json_t *image_in = json_array(), *repo_in = json_array(), *unanswered = json_array();
  for (size_t i = 0; i < n; i++) {
    struct region_probe *rp = &rps[i];
    if (rp->started)
      pthread_join(rp->thread, NULL);
    if (strcmp(regions[i], r->region) == 0)
      continue;
    f->call.attempts += rp->call.attempts;
    if (rp->rc == ERR_OK && json_array_size(json_object_get(rp->resp, "imageDetails")))
      json_array_append_new(image_in, json_string(rp->region));
    else if (rp->rc == ERR_AWS && code_is(&rp->call, "ImageNotFoundException", NULL))
      json_array_append_new(repo_in, json_string(rp->region));
    else if (rp->rc != ERR_AWS || !code_is(&rp->call, "RepositoryNotFoundException", NULL))
      json_array_append_new(unanswered, json_string(rp->region));
    aws_call_release(&rp->call);
    json_decref(rp->resp);
  }
  free(rps);
  f->call.duration_ms = (long)(aws_monotonic_ms() - t0);
  f->resp = json_pack("{s:o, s:o, s:o}", "image_in", image_in, "repository_in", repo_in,
                      "unanswered", unanswered);
  f->rc = f->resp ? ERR_OK : ERR_NOMEM;
}

static void *fetch_run(void *arg)
{
  struct fetch *f = arg;
  struct probe *p = f->p;
  const struct image_ref *r = &p->d->ref;
  struct aws_client aws = p->aws;
  aws.http = f->http;
  aws.rng_state = 0;
  const char *tag = r->digest ? NULL : r->tag;
  switch (f->kind) {
  case FETCH_IDENTITY:
    f->rc = sts_get_caller_identity(&aws, r->region, &f->ident, &f->call, &f->e);
    break;
  case FETCH_ORGANIZATION:
    f->rc = orgs_describe_organization(&aws, &f->resp, &f->call, &f->e);
    break;
  case FETCH_AUTH_TOKEN:
    f->rc = ecr_get_authorization_token(&aws, r->region, &f->auth, &f->call, &f->e);
    break;
  case FETCH_POLICY:
    /* With the registry account's credentials the policy is read from A's side. */
    if (p->registry_creds.access_key_id)
      aws.creds = &p->registry_creds;
    f->rc = ecr_get_repository_policy(&aws, r->region, r->registry_id, r->repository, &f->text,
                                      &f->call, &f->e);
    break;
  case FETCH_REGISTRY_POLICY:
    aws.creds = &p->registry_creds;
    f->rc = ecr_get_registry_policy(&aws, r->region, &f->text, &f->call, &f->e);
    break;
  case FETCH_REGISTRY_SCOPE:
    aws.creds = &p->registry_creds;
    f->rc = ecr_get_account_setting(&aws, r->region, "REGISTRY_POLICY_SCOPE", &f->text, &f->call,
                                    &f->e);
    break;
  case FETCH_PTC_RULES:
    /* A same-account caller may read its own registry's rules; without a view it is a try. */
    if (p->registry_creds.access_key_id)
      aws.creds = &p->registry_creds;
    f->rc = ecr_describe_pull_through_cache_rules(&aws, r->region, r->registry_id, &f->resp,
                                                  &f->call, &f->e);
    break;
  case FETCH_REPOSITORIES:
    if (p->registry_creds.access_key_id)
      aws.creds = &p->registry_creds;
    f->rc = ecr_describe_repositories(&aws, r->region, r->registry_id, &f->resp, &f->call, &f->e);
    break;
  case FETCH_OTHER_REGIONS:
    if (p->registry_creds.access_key_id)
      aws.creds = &p->registry_creds;
    other_regions_run(f, &aws);
    break;
  case FETCH_IMAGE:
    f->rc = ecr_batch_get_image(&aws, r->region, r->registry_id, r->repository, tag, r->digest,
                                &f->resp, &f->call, &f->e);
    break;
  case FETCH_TAGS:
    if (p->registry_creds.access_key_id)
      aws.creds = &p->registry_creds;
    f->rc = ecr_describe_tagged_images(&aws, r->region, r->registry_id, r->repository, &f->resp,
                                       &f->call, &f->e);
    break;
  case FETCH_REGISTRY_PING: f->rc = registry_ping(f->http, f->target, &f->reg, &f->e); break;
  case FETCH_REGISTRY_MANIFEST:
    f->rc =
        registry_head_manifest(f->http, f->target, r->repository, f->manifest_ref, &f->reg, &f->e);
    break;
  case FETCH_PLATFORM_MANIFEST:
    f->rc =
        registry_get_manifest(f->http, f->target, r->repository, f->manifest_ref, &f->reg, &f->e);
    break;
  case FETCH_CONFIG_BLOB:
  case FETCH_LAYER_BLOB:
    f->rc = registry_get_blob(f->http, f->target, r->repository, f->manifest_ref,
                              f->kind == FETCH_CONFIG_BLOB, &f->reg, &f->e);
    break;
  case FETCH_CONFIG_DOWNLOAD:
  case FETCH_LAYER_DOWNLOAD:
    f->rc = registry_fetch_layer(f->http, f->url, time_left_ms(p), f->kind == FETCH_CONFIG_DOWNLOAD,
                                 &f->reg, &f->e);
    break;
  case FETCH_COUNT: break;
  }
  if (p->o->on_event) {
    struct diag_check tmp = {0};
    check_from_fetch(&tmp, f);
    emit(p, DIAG_EVENT_DONE, f->id, &tmp);
    check_release(&tmp);
  }
  return NULL;
}

static void fetch_release(struct fetch *f)
{
  http_client_free(f->http);
  aws_call_release(&f->call);
  registry_result_release(&f->reg);
  json_decref(f->resp);
  free(f->text);
  sts_identity_release(&f->ident);
  ecr_auth_release(&f->auth);
}

/* Runs the wanted fetches of [first, last] at once and waits for them all. False when the run
 * was cancelled before they started. */
static bool fetch_level(struct probe *p, struct fetch *fs, enum fetch_kind first,
                        enum fetch_kind last)
{
  if (p->o->cancel && *p->o->cancel)
    return false;
  for (int k = first; k <= (int)last; k++) {
    struct fetch *f = &fs[k];
    if (!f->wanted)
      continue;
    f->http = http_client_new(&p->http_options, &f->e);
    if (!f->http) {
      f->rc = f->e.code ? f->e.code : ERR_NOMEM;
      continue;
    }
    emit(p, DIAG_EVENT_START, f->id, NULL);
    /* curl handles are created here, on one thread; each is used by one worker only. */
    f->started = pthread_create(&f->thread, NULL, fetch_run, f) == 0;
    if (!f->started)
      fetch_run(f);
  }
  for (int k = first; k <= (int)last; k++)
    if (fs[k].started)
      pthread_join(fs[k].thread, NULL);
  return true;
}

/* ---- reading the answers -------------------------------------------------------------- */

/* A check from an AWS call made outside the fetch levels (the credential chain's, a second
 * opinion); context, not a step of the pull. */
static void add_call_check(struct probe *p, const char *id, const struct aws_call *call)
{
  struct diag_check *c = add_check(p->d, id);
  if (!c)
    return;
  c->needed_for_pull = false;
  c->endpoint = str_dup(call->endpoint);
  c->attempts = call->attempts;
  c->duration_ms = call->duration_ms;
  c->http_status = call->http_status;
  c->error_code = str_dup(call->error_code);
  c->error_message = str_dup(call->error_message);
  c->request_id = str_dup(call->request_id);
  bool ok = call->transport == ERR_OK && call->http_status >= 200 && call->http_status < 300;
  c->status = ok ? CHECK_PASS : call->error_code ? CHECK_FAIL : CHECK_ERROR;
}

/* Keys refused in an opt-in region may be good keys of an account that has not enabled it:
 * AWS answers both the same way. Asking STS in the partition's home region tells them apart
 * (checked before reporting invalid credentials). True when it did: the finding is made. */
static bool region_not_enabled(struct probe *p, struct fetch *f, const struct diag_check *c)
{
  struct diagnosis *d = p->d;
  struct aws_client aws = p->aws;
  aws.http = f->http;
  const char *home = region_home(d->ref.partition);
  if (!home)
    return false;
  struct sts_identity id = {0};
  struct aws_call call;
  aws_call_init(&call);
  struct err e = {0};
  enum err_code rc = sts_get_caller_identity(&aws, home, &id, &call, &e);
  add_call_check(p, "sts.GetCallerIdentity.home_region", &call);
  bool found = rc == ERR_OK;
  if (found) {
    d->caller.arn = id.arn;
    d->caller.account = id.account;
    id.arn = id.account = NULL;
    json_t *ev = check_evidence(c);
    json_object_set_new(ev, "region", json_string(d->ref.region));
    json_object_set_new(ev, "home_region", json_string(home));
    add_finding(d, CAUSE_REGION_NOT_ENABLED, ev,
                "%s is an opt-in region, and account %s has not enabled it: AWS refuses the "
                "same keys there (%s) that it accepts in %s. Enable the region for account %s "
                "(`aws account enable-region --region-name %s`, as the management account or "
                "an administrator), then the node can log in to the registry.",
                d->ref.region, d->caller.account, c && c->error_code ? c->error_code : "refused",
                home, d->caller.account, d->ref.region);
    /* A session token from the global STS endpoint is refused the same way in an opt-in
     * region that is enabled: version 1 tokens "are valid only in AWS Regions that are
     * available by default" (IAM API reference, SetSecurityTokenServicePreferences). */
    if (p->creds.session_token)
      mark_alternative(add_finding(
          d, CAUSE_CREDENTIALS_INVALID, json_pack("{s:s}", "check", c ? c->id : ""),
          "Or the region is enabled and this session's token came from the global STS endpoint "
          "(sts.amazonaws.com) as a version 1 token, which only default regions accept: get it "
          "from a regional STS endpoint, or set the account's GlobalEndpointTokenVersion to "
          "v2 (`aws iam set-security-token-service-preferences "
          "--global-endpoint-token-version v2Token`)."));
  }
  sts_identity_release(&id);
  aws_call_release(&call);
  return found;
}

static bool read_identity(struct probe *p, struct fetch *f)
{
  struct diagnosis *d = p->d;
  struct diag_check *c = add_fetch_check(p, f);
  if (f->rc == ERR_OK) {
    d->caller.arn = f->ident.arn;
    d->caller.account = f->ident.account;
    f->ident.arn = f->ident.account = NULL;
    return true;
  }
  enum cause_id cause = prober_cause(&f->call);
  if (f->rc != ERR_AWS && f->call.transport == ERR_OK)
    cause = CAUSE_SERVICE_ERROR; /* an answer that could not be read */
  if (cause == CAUSE_CREDENTIALS_INVALID && region_is_opt_in(d->ref.region) &&
      region_not_enabled(p, f, c))
    return false;
  add_prober_finding(p, cause == CAUSE_COUNT ? CAUSE_UNKNOWN : cause, c, &f->call);
  return false;
}

static void read_organization(struct probe *p, struct fetch *f)
{
  struct diagnosis *d = p->d;
  if (p->o->org_id) {
    d->caller.org_id = str_dup(p->o->org_id);
    return;
  }
  const char *org =
      json_string_value(json_object_get(json_object_get(f->resp, "Organization"), "Id"));
  if (f->rc == ERR_OK && org)
    d->caller.org_id = str_dup(org);
  p->no_organization = code_is(&f->call, "AWSOrganizationsNotInUseException", NULL);
  /* Not being allowed to read the organization is normal for a node role and says nothing
   * about the pull: the check is recorded, never a finding. */
  add_fetch_check(p, f);
}

static void read_auth_token(struct probe *p, struct fetch *f)
{
  struct diagnosis *d = p->d;
  struct diag_check *c = add_fetch_check(p, f);
  p->auth = f->auth;
  memset(&f->auth, 0, sizeof f->auth);
  p->have_token = f->rc == ERR_OK && p->auth.password;
  enum cause_id tool = f->rc == ERR_OK ? CAUSE_COUNT : prober_cause(&f->call);
  if (tool != CAUSE_COUNT) {
    add_prober_finding(p, tool, c, &f->call);
  } else if (code_is(&f->call, "AccessDeniedException", NULL)) {
    json_t *ev = check_evidence(c);
    json_object_set_new(ev, "region", json_string(d->ref.region));
    add_finding(d, CAUSE_AUTH_TOKEN_DENIED, ev,
                "%s may not call ecr:GetAuthorizationToken in %s, so it cannot log in to any "
                "registry there. Only an identity-based policy can grant it (Resource \"*\"); "
                "a repository policy cannot.",
                d->caller.arn ? d->caller.arn : "the caller", d->ref.region);
  } else if (!p->have_token) {
    add_finding(d, CAUSE_UNKNOWN, check_evidence(c),
                "ecr:GetAuthorizationToken failed in an unexpected way: %s.",
                c && c->error_message ? c->error_message : "no detail");
  }
}

/* The principal as IAM sees the caller, from its ARN: an assumed-role session signs as
 * arn:PART:sts::ACCT:assumed-role/ROLE/SESSION while aws:PrincipalArn is the role's ARN. */
struct caller_principal {
  struct policy_principal pr;
  char *role_arn;
};

static void caller_principal_init(const struct diagnosis *d, struct caller_principal *cp)
{
  memset(cp, 0, sizeof *cp);
  const char *arn = d->caller.arn;
  cp->pr.arn = arn;
  cp->pr.account = d->caller.account;
  cp->pr.org_id = d->caller.org_id;
  cp->pr.type = POLICY_PRINCIPAL_USER;
  const char *ar = strstr(arn, ":assumed-role/");
  if (ar) {
    const char *role = ar + strlen(":assumed-role/");
    const char *slash = strchr(role, '/');
    struct buf b;
    buf_init(&b, 2048);
    /* arn:PARTITION:sts::ACCOUNT: -> arn:PARTITION:iam::ACCOUNT:role/ROLE */
    const char *sts = strstr(arn, ":sts:");
    if (sts && slash && buf_append(&b, arn, (size_t)(sts - arn)) == ERR_OK &&
        buf_printf(&b, ":iam::%s:role/%.*s", d->caller.account, (int)(slash - role), role) ==
            ERR_OK)
      cp->role_arn = buf_detach(&b);
    buf_release(&b);
    cp->pr.type = POLICY_PRINCIPAL_ASSUMED_ROLE;
    cp->pr.role_arn = cp->role_arn;
  } else if (strstr(arn, ":federated-user/")) {
    cp->pr.type = POLICY_PRINCIPAL_FEDERATED_USER;
  } else if (strlen(arn) > 5 && strcmp(arn + strlen(arn) - 5, ":root") == 0) {
    cp->pr.type = POLICY_PRINCIPAL_ROOT;
  }
}

/* The values a statement's condition expects for key, as written ("o-a1b2c3d4e5"). */
static json_t *condition_values(const char *policy_text, size_t statement, const char *op,
                                const char *key)
{
  json_t *doc = json_loads(policy_text, 0, NULL);
  json_t *stmts = json_object_get(doc, "Statement");
  json_t *st = json_is_array(stmts) ? json_array_get(stmts, statement) : stmts;
  json_t *v = json_object_get(json_object_get(json_object_get(st, "Condition"), op), key);
  json_t *out = v ? json_deep_copy(v) : json_null();
  json_decref(doc);
  return out;
}

/* With A's policies in hand (the repository policy, the registry policy), asks the evaluator
 * what A's side decides for this caller, assuming its own IAM side allows; names the statement
 * or condition behind a deny. AWS said whether the deny was explicit: only a decision of the
 * same kind explains it. False when the policies do not explain the denial (then AWS's reason
 * stands alone). */
static bool explain_with_policy(struct probe *p, json_t *ev, const char *action, bool explicit_deny)
{
  struct diagnosis *d = p->d;
  struct policy *repo = NULL, *registry = NULL, *any = NULL;
  struct caller_principal cp;
  caller_principal_init(d, &cp);
  char *arn = imageref_repository_arn(&d->ref);
  bool explained = false;
  struct err e = {0};
  static const char allow_all[] =
      "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\","
      "\"Resource\":\"*\"}]}";
  if (!arn || (p->policy_text && policy_parse(p->policy_text, strlen(p->policy_text), &repo, &e)) ||
      (p->registry_policy &&
       policy_parse(p->registry_policy, strlen(p->registry_policy), &registry, &e)) ||
      policy_parse(allow_all, sizeof allow_all - 1, &any, NULL))
    goto out;
  const struct policy *ids[] = {any};
  struct policy_request req = {
      .principal = cp.pr,
      .action = action,
      .resource = arn,
      .identity_policies = ids,
      .n_identity_policies = 1,
      .resource_policy = repo,
      .registry_policy = registry,
      .registry_scope = p->registry_scope_v1 ? POLICY_REGISTRY_V1 : POLICY_REGISTRY_V2,
  };
  struct policy_decision dec;
  if (policy_evaluate(&req, &dec, NULL))
    goto out;
  if (explicit_deny != (dec.decision == POLICY_EXPLICIT_DENY))
    goto out;
  if (repo)
    json_object_set_new(ev, "repository_policy_decision",
                        json_string(policy_outcome_name(dec.decision)));
  const char *who = d->caller.arn, *repo_name = d->ref.repository;
  if (dec.decision == POLICY_EXPLICIT_DENY) {
    for (size_t i = 0; i < dec.n_decisive; i++) {
      enum policy_slot_kind kind = dec.decisive[i].slot.kind;
      if (kind != POLICY_SLOT_RESOURCE && kind != POLICY_SLOT_REGISTRY)
        continue;
      bool reg = kind == POLICY_SLOT_REGISTRY;
      const char *sid = dec.decisive[i].sid;
      json_object_set_new(ev, "statement",
                          json_pack("{s:s, s:i, s:s?}", "policy",
                                    reg ? "registry_policy" : "repository_policy", "index",
                                    (int)dec.decisive[i].statement, "sid", sid));
      add_finding(d, reg ? CAUSE_REGISTRY_POLICY_DENY : CAUSE_REPO_POLICY_EXPLICIT_DENY,
                  json_incref(ev),
                  "Statement %zu%s%s%s of the %s of %s denies %s to %s; a Deny wins over every "
                  "Allow.%s",
                  dec.decisive[i].statement, sid ? " (Sid \"" : "", sid ? sid : "",
                  sid ? "\")" : "", reg ? "private registry policy" : "repository policy",
                  reg ? d->ref.registry_id : repo_name, action, who,
                  reg ? " The registry policy (scope V2) applies to every ECR request of the "
                        "registry in this region."
                      : "");
      explained = true;
      break;
    }
    goto out;
  }
  if (!repo)
    goto out; /* an implicit deny is read from the repository policy only */
  if (dec.decision == POLICY_ALLOW)
    goto out; /* A's side allows: the denial comes from elsewhere. */
  for (size_t i = 0; i < dec.n_near_misses; i++) {
    const struct policy_near_miss *m = &dec.near_misses[i];
    if (m->slot.kind != POLICY_SLOT_RESOURCE || m->reason != POLICY_MISS_CONDITION ||
        !m->cond_key || strncasecmp(m->cond_key, "aws:PrincipalOrg", 16) != 0)
      continue;
    json_t *want = condition_values(p->policy_text, m->statement, m->cond_operator, m->cond_key);
    char *want_s = json_dumps(want, JSON_ENCODE_ANY | JSON_COMPACT);
    json_object_set_new(ev, "statement",
                        json_pack("{s:i, s:s?, s:s, s:s, s:o, s:s?}", "index", (int)m->statement,
                                  "sid", m->sid, "operator", m->cond_operator, "key", m->cond_key,
                                  "expected", want, "caller_org_id", d->caller.org_id));
    add_finding(d, CAUSE_ORG_CONDITION_MISMATCH, json_incref(ev),
                "Statement %zu%s%s%s of the repository policy of %s would allow %s, but its "
                "condition %s %s = %s does not match the caller (%s%s).",
                m->statement, m->sid ? " (Sid \"" : "", m->sid ? m->sid : "", m->sid ? "\")" : "",
                repo_name, action, m->cond_operator, m->cond_key, want_s ? want_s : "?",
                d->caller.org_id ? "its organization is " : "",
                d->caller.org_id ? d->caller.org_id
                                 : "its organization could not be read; pass --org-id");
    free(want_s);
    explained = true;
    goto out;
  }
  json_object_set_new(ev, "statement", json_null());
  add_finding(d, CAUSE_REPO_POLICY_NOT_GRANTING, json_incref(ev),
              "The repository policy of %s (read by ecrdiag) has %zu statement%s, and none of "
              "them allows %s to %s.",
              repo_name, policy_statement_count(repo), policy_statement_count(repo) == 1 ? "" : "s",
              who, action);
  explained = true;
out:
  if (explained)
    json_decref(ev);
  policy_free(repo);
  policy_free(registry);
  policy_free(any);
  free(cp.role_arn);
  free(arn);
  return explained;
}

/* The image is not there, and the repository is under a pull-through cache rule: the cache
 * imports on the first pull only for a principal allowed to (ECR user guide,
 * pull-through-cache-iam: ecr:BatchImportUpstreamImage, and ecr:CreateRepository while the
 * repository does not exist). ECR then answers as if the image did not exist. True when the
 * finding was made. */
static bool ptc_import_finding(struct probe *p, const struct diag_check *c, bool repo_missing)
{
  struct diagnosis *d = p->d;
  if (!p->ptc_rule)
    return false;
  const char *prefix = json_string_value(json_object_get(p->ptc_rule, "ecrRepositoryPrefix"));
  const char *upstream = json_string_value(json_object_get(p->ptc_rule, "upstreamRegistryUrl"));
  json_t *ev = check_evidence(c);
  json_object_set_new(ev, "pull_through_cache_rule",
                      json_pack("{s:s?, s:s?}", "ecr_repository_prefix", prefix,
                                "upstream_registry_url", upstream));
  json_t *actions = json_pack("[s]", "ecr:BatchImportUpstreamImage");
  if (repo_missing)
    json_array_append_new(actions, json_string("ecr:CreateRepository"));
  json_object_set_new(
      ev, "statement",
      json_pack("{s:s, s:s, s:O, s:o}", "Sid", "PullThroughCacheImport", "Effect", "Allow",
                "Action", actions, "Resource",
                json_sprintf("arn:%s:ecr:%s:%s:repository/%s/*", d->ref.partition, d->ref.region,
                             d->ref.registry_id, prefix ? prefix : "")));
  bool cross = cross_account(p);
  p->ptc_repo_missing = repo_missing;
  add_finding(d, CAUSE_PTC_IMPORT_DENIED, ev,
              "%s is under the pull-through cache rule %s (upstream %s), and %s not cached yet: "
              "ECR imports it on the first pull only for a principal allowed "
              "ecr:BatchImportUpstreamImage%s, and %s is not, so ECR answers as if it did not "
              "exist. %s (the statement in the evidence), or pull it once as a principal that "
              "may.",
              d->ref.repository, prefix ? prefix : "?", upstream ? upstream : "?",
              repo_missing ? "the repository is" : "the image is",
              repo_missing ? " and ecr:CreateRepository" : "", d->caller.arn,
              cross ? "Allow those actions to the node role in its IAM policy and to its account "
                      "in the registry policy of the registry's account"
                    : "Allow those actions to the node role");
  json_decref(actions);
  mark_alternative(add_finding(
      d, repo_missing ? CAUSE_REPOSITORY_NOT_FOUND : CAUSE_IMAGE_NOT_FOUND, NULL,
      "Or the upstream registry has no %s: the cache cannot import what upstream lacks.",
      imageref_manifest_ref(&d->ref)));
  return true;
}

static void finding_for_denied(struct probe *p, const struct diag_check *c, const char *action)
{
  struct diagnosis *d = p->d;
  struct denied_reason why = parse_denied_reason(c->error_message);
  bool cross = cross_account(p);
  json_t *ev = check_evidence(c);
  json_object_set_new(ev, "cross_account", json_boolean(cross));
  json_object_set_new(ev, "caller_account", json_string(d->caller.account));
  json_object_set_new(ev, "registry_id", json_string(d->ref.registry_id));
  json_t *reason = json_null();
  if (why.found) {
    reason = json_pack("{s:s, s:b}", "policy_type", why.type, "explicit_deny", why.explicit_deny);
    if (why.policy_arn)
      json_object_set_new(reason, "policy_arn", json_stringn(why.policy_arn, why.policy_arn_len));
  }
  json_object_set_new(ev, "aws_reason", reason);
  const char *who = d->caller.arn;
  const char *repo = d->ref.repository;

  if (!why.found && cross) {
    /* Across organizations AWS may leave the reason out: either side can be missing. */
    add_finding(d, CAUSE_REPO_POLICY_NOT_GRANTING, ev,
                "AWS denied %s on %s to %s without saying which policy: most often the "
                "repository policy of account %s does not grant account %s (or the repository "
                "name or region is wrong, which AWS answers the same way).",
                action, repo, who, d->ref.registry_id, d->caller.account);
    mark_alternative(
        add_finding(d, CAUSE_IDENTITY_POLICY_MISSING, json_pack("{s:s}", "check", c->id),
                    "Or the IAM policies of %s do not allow %s on the repository.", who, action));
    return;
  }
  if (!why.found) {
    add_finding(d, CAUSE_IDENTITY_POLICY_MISSING, ev,
                "AWS denied %s on %s to %s; within one account that means its IAM policies do "
                "not allow it (AWS gave no reason).",
                action, repo, who);
    return;
  }
  bool resource_side = strcmp(why.type, "resource-based") == 0;
  if (resource_side && (p->policy_text || p->registry_policy) &&
      explain_with_policy(p, ev, action, why.explicit_deny)) {
    return;
  }
  if (resource_side && why.explicit_deny) {
    /* ECR consults two resource-based policies, both in account A: the repository's and the
     * registry's. AWS's text does not say which one denied. */
    if (p->policy_known && !p->registry_policy_known) {
      add_finding(d, CAUSE_REGISTRY_POLICY_DENY, ev,
                  "AWS denied %s on %s to %s with an explicit deny in a resource-based policy, "
                  "and the repository policy (read by ecrdiag) %s: so the Deny is in the "
                  "private registry policy of account %s, which applies to every repository of "
                  "the registry. Read it with `aws ecr get-registry-policy` as account %s.",
                  action, repo, who, p->policy_text ? "has no Deny that matches" : "does not exist",
                  d->ref.registry_id, d->ref.registry_id);
      return;
    }
    add_finding(d, CAUSE_REPO_POLICY_EXPLICIT_DENY, json_incref(ev),
                "AWS denied %s on %s to %s with an explicit deny in a resource-based policy: "
                "most often a Deny statement of the repository policy.",
                action, repo, who);
    mark_alternative(add_finding(
        d, CAUSE_REGISTRY_POLICY_DENY, ev,
        "Or a Deny of the private registry policy of account %s (AWS's text names neither); "
        "run again with --registry-profile or --registry-role-arn for account %s to read both.",
        d->ref.registry_id, d->ref.registry_id));
    return;
  }
  if (resource_side && !why.explicit_deny && cross && p->repo_missing &&
      ptc_import_finding(p, c, true)) {
    json_decref(ev);
    return;
  }
  if (strcmp(why.type, "resource-based") == 0 && !why.explicit_deny && cross && p->repo_missing) {
    add_finding(d, CAUSE_REPOSITORY_NOT_FOUND, ev,
                "Seen from account %s itself, there is no repository %s in region %s: AWS "
                "answered %s's pull as it answers any pull it does not allow. Check the "
                "repository name and the region in the image reference.",
                d->ref.registry_id, repo, d->ref.region, d->caller.account);
    return;
  }
  if (strcmp(why.type, "resource-based") == 0 && !why.explicit_deny && cross) {
    if (p->policy_known && !p->policy_text)
      add_finding(d, CAUSE_REPO_POLICY_MISSING, ev,
                  "Repository %s in account %s has no repository policy, so no other account "
                  "may pull from it; %s is in account %s.",
                  repo, d->ref.registry_id, who, d->caller.account);
    else
      add_finding(d, CAUSE_REPO_POLICY_NOT_GRANTING, ev,
                  "No statement of the repository policy of %s in account %s allows %s to call "
                  "%s (AWS: \"because no resource-based policy allows the %s action\"). Seen "
                  "from account %s alone this is also what AWS answers when the repository "
                  "name or region is wrong, so check those too.",
                  repo, d->ref.registry_id, who, action, action, d->caller.account);
    return;
  }
  static const struct {
    const char *type;
    enum cause_id cause;
  } kinds[] = {
      {"identity-based", CAUSE_IDENTITY_POLICY_MISSING},
      {"service control", CAUSE_SCP_DENY},
      {"resource control", CAUSE_RCP_DENY},
      {"permissions boundary", CAUSE_PERMISSIONS_BOUNDARY_DENY},
      {"session", CAUSE_SESSION_POLICY_DENY},
      {"VPC endpoint", CAUSE_VPC_ENDPOINT_POLICY_DENY},
  };
  enum cause_id cause = CAUSE_UNKNOWN;
  if (strcmp(why.type, "resource-based") == 0)
    cause = why.explicit_deny ? CAUSE_REPO_POLICY_EXPLICIT_DENY : CAUSE_IDENTITY_POLICY_MISSING;
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    if (strcmp(why.type, kinds[i].type) == 0)
      cause = kinds[i].cause;
  struct buf b;
  buf_init(&b, DIAG_SUMMARY_MAX_BYTES);
  if (why.explicit_deny)
    buf_printf(&b, "AWS denied %s on %s to %s with an explicit deny in %s %s policy%s%.*s.", action,
               repo, who, strchr("aeiou", why.type[0]) ? "an" : "a", why.type,
               why.policy_arn ? ": " : "", (int)why.policy_arn_len,
               why.policy_arn ? why.policy_arn : "");
  else
    buf_printf(&b, "AWS denied %s on %s to %s because no %s policy allows it%s%.*s%s.", action,
               repo, who, why.type, why.policy_arn ? " (" : "", (int)why.policy_arn_len,
               why.policy_arn ? why.policy_arn : "", why.policy_arn ? ")" : "");
  /* Where that policy type lives, and the command that shows it. */
  switch (cause) {
  case CAUSE_SCP_DENY:
  case CAUSE_RCP_DENY: {
    bool scp = cause == CAUSE_SCP_DENY;
    const char *target = scp ? d->caller.account : d->ref.registry_id;
    buf_printf(&b, " %s control policies belong to the %s organization%s%s: ",
               scp ? "Service" : "Resource", scp ? "caller's" : "registry's",
               scp ? "" : " and cover every repository of account ", scp ? "" : target);
    if (why.policy_arn) {
      /* The policy id is the ARN's last segment: .../service_control_policy/p-xxxxxxxx. */
      const char *id = why.policy_arn + why.policy_arn_len;
      while (id > why.policy_arn && id[-1] != '/')
        id--;
      buf_printf(&b, "read that one with `aws organizations describe-policy --policy-id %.*s`",
                 (int)(why.policy_arn + why.policy_arn_len - id), id);
    } else {
      buf_printf(&b,
                 "list them with `aws organizations list-policies-for-target --target-id %s "
                 "--filter %s` (and for each OU above it)",
                 target, scp ? "SERVICE_CONTROL_POLICY" : "RESOURCE_CONTROL_POLICY");
    }
    buf_printf(&b, " as the management account, and exempt the node role from its Deny%s.",
               scp ? " or allow the pull actions" : "");
    break;
  }
  case CAUSE_PERMISSIONS_BOUNDARY_DENY:
    buf_puts(&b, " The role's permissions boundary caps what its policies allow: read it with "
                 "`aws iam get-role --role-name ROLE --query Role.PermissionsBoundary` and let "
                 "it allow the pull actions.");
    break;
  case CAUSE_SESSION_POLICY_DENY:
    buf_puts(&b, " The session was created with a session policy (AssumeRole --policy or "
                 "--policy-arns) that does not allow the pull. The node's own instance sessions "
                 "carry none: run the check without it.");
    break;
  case CAUSE_VPC_ENDPOINT_POLICY_DENY:
    buf_printf(&b,
               " The request went through an ECR interface endpoint whose policy does not let "
               "it through: read it with `aws ec2 describe-vpc-endpoints --region %s --filters "
               "Name=service-name,Values=com.amazonaws.%s.ecr.api,com.amazonaws.%s.ecr.dkr` in "
               "the node's account and allow the pull actions on the registry's repositories.",
               d->ref.region, d->ref.region, d->ref.region);
    break;
  default: break;
  }
  add_finding(d, cause, ev, "%s", buf_str(&b));
  buf_release(&b);
}

/* failures[] of BatchGetImage (ECR API reference, ImageFailure.failureCode). */
static void finding_for_image_failure(struct probe *p, const struct diag_check *c, const char *code,
                                      const char *reason)
{
  struct diagnosis *d = p->d;
  json_t *ev = check_evidence(c);
  json_object_set_new(ev, "failure_code", json_string(code));
  if (reason)
    json_object_set_new(ev, "failure_reason", json_string(reason));
  const char *ref = imageref_manifest_ref(&d->ref);
  if (strcmp(code, "ImageNotFound") == 0 || strcmp(code, "ImageTagDoesNotMatchDigest") == 0 ||
      strcmp(code, "MissingDigestAndTag") == 0)
    add_finding(d, CAUSE_IMAGE_NOT_FOUND, ev,
                "Repository %s exists and %s may read it, but it has no image %s (%s: %s).",
                d->ref.repository, d->caller.arn, ref, code, reason ? reason : "");
  else if (strcmp(code, "KmsError") == 0 || strcmp(code, "KmsException") == 0)
    add_finding(d, CAUSE_KMS_KEY_UNUSABLE, ev,
                "ECR cannot decrypt image %s with the repository's KMS key (%s: %s). The fix is "
                "on the key (enabled, not pending deletion, ECR's grant in place), not the node "
                "role.",
                ref, code, reason ? reason : "");
  else if (strncmp(code, "Upstream", 8) == 0)
    add_finding(d, CAUSE_PTC_UPSTREAM_FAILED, ev,
                "The pull-through cache could not fetch %s from upstream (%s: %s).", ref, code,
                reason ? reason : "");
  else
    add_finding(d, CAUSE_UNKNOWN, ev, "BatchGetImage could not return %s (%s: %s).", ref, code,
                reason ? reason : "");
}

/* ---- platforms, as containerd matches them (platforms.Normalize / Only) ---------------- */

struct platform {
  char os[32], arch[32], variant[16];
};

bool diag_platform_valid(const char *s)
{
  int parts = 1;
  size_t run = 0;
  for (const char *c = s; *c; c++) {
    if (*c == '/') {
      if (run == 0 || ++parts > 3)
        return false;
      run = 0;
    } else if ((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_') {
      if (++run > 15)
        return false;
    } else {
      return false;
    }
  }
  return parts >= 2 && run > 0;
}

static void platform_set(struct platform *pl, const char *os, const char *arch, const char *var)
{
  snprintf(pl->os, sizeof pl->os, "%s", os ? os : "");
  /* Normalize: x86_64 is amd64, aarch64 is arm64, and arm64's default variant is v8. */
  if (arch && (strcmp(arch, "x86_64") == 0 || strcmp(arch, "x86-64") == 0))
    arch = "amd64";
  if (arch && strcmp(arch, "aarch64") == 0)
    arch = "arm64";
  snprintf(pl->arch, sizeof pl->arch, "%s", arch ? arch : "");
  if (strcmp(pl->arch, "arm64") == 0 && (!var || !*var))
    var = "v8";
  snprintf(pl->variant, sizeof pl->variant, "%s", var ? var : "");
}

static void platform_parse(const char *s, struct platform *pl)
{
  char os[32] = "", arch[32] = "", var[16] = "";
  const char *a = strchr(s, '/');
  const char *v = a ? strchr(a + 1, '/') : NULL;
  snprintf(os, sizeof os, "%.*s", (int)(a ? a - s : 0), s);
  size_t arch_len = v ? (size_t)(v - a - 1) : a ? strlen(a + 1) : 0;
  snprintf(arch, sizeof arch, "%.*s", (int)arch_len, a ? a + 1 : "");
  snprintf(var, sizeof var, "%s", v ? v + 1 : "");
  platform_set(pl, os, arch, var);
}

/* Whether an index entry serves the wanted platform: the variant only counts when asked. */
static bool platform_match(const struct platform *want, const struct platform *have)
{
  if (strcmp(want->os, have->os) != 0 || strcmp(want->arch, have->arch) != 0)
    return false;
  return !want->variant[0] || strcmp(want->variant, have->variant) == 0 ||
         (strcmp(want->arch, "arm64") == 0 && strcmp(want->variant, "v8") == 0);
}

static bool media_type_is_index(const char *mt)
{
  return mt && (strcmp(mt, "application/vnd.oci.image.index.v1+json") == 0 ||
                strcmp(mt, "application/vnd.docker.distribution.manifest.list.v2+json") == 0);
}

/* The blobs an image manifest names: what the runtime downloads next. */
static void take_image_manifest(struct probe *p, json_t *man)
{
  const char *config = json_string_value(json_object_get(json_object_get(man, "config"), "digest"));
  const char *layer = json_string_value(
      json_object_get(json_array_get(json_object_get(man, "layers"), 0), "digest"));
  if (config && !p->config_digest)
    p->config_digest = str_dup(config);
  if (layer && !p->layer_digest)
    p->layer_digest = str_dup(layer);
}

/* The manifest BatchGetImage returned, read as containerd would resolve it for the node. */
static void check_manifest(struct probe *p, const struct diag_check *c, json_t *image)
{
  struct diagnosis *d = p->d;
  const char *mt = json_string_value(json_object_get(image, "imageManifestMediaType"));
  const char *text = json_string_value(json_object_get(image, "imageManifest"));
  json_t *man = text ? json_loads(text, 0, NULL) : NULL;
  if (!mt)
    mt = json_string_value(json_object_get(man, "mediaType"));
  if (mt && strncmp(mt, "application/vnd.docker.distribution.manifest.v1", 47) == 0) {
    json_t *ev = check_evidence(c);
    json_object_set_new(ev, "media_type", json_string(mt));
    add_finding(d, CAUSE_MANIFEST_UNSUPPORTED, ev,
                "Image %s is a Docker schema 1 manifest (%s), which containerd 2.0 and later no "
                "longer pull. Rebuild and push the image with a current client (schema 2 or OCI).",
                imageref_manifest_ref(&d->ref), mt);
    goto out;
  }
  json_t *list = json_object_get(man, "manifests");
  if (!media_type_is_index(mt) && !json_is_array(list)) {
    p->single_platform = true;
    take_image_manifest(p, man);
    goto out;
  }
  struct platform want;
  platform_parse(d->platform, &want);
  json_t *available = json_array();
  size_t i;
  json_t *entry;
  json_array_foreach(list, i, entry)
  {
    json_t *pj = json_object_get(entry, "platform");
    struct platform have;
    platform_set(&have, json_string_value(json_object_get(pj, "os")),
                 json_string_value(json_object_get(pj, "architecture")),
                 json_string_value(json_object_get(pj, "variant")));
    if (platform_match(&want, &have)) {
      p->platform_digest = str_dup(json_string_value(json_object_get(entry, "digest")));
      json_decref(available);
      goto out;
    }
    if (have.os[0] && strcmp(have.os, "unknown") != 0) /* attestations are "unknown/unknown" */
      json_array_append_new(available, json_sprintf("%s/%s%s%s", have.os, have.arch,
                                                    have.variant[0] ? "/" : "", have.variant));
  }
  json_t *ev = check_evidence(c);
  json_object_set_new(ev, "platform", json_string(d->platform));
  json_object_set_new(ev, "available", available);
  char *avail = json_dumps(available, JSON_COMPACT);
  add_finding(d, CAUSE_PLATFORM_MISMATCH, ev,
              "Image %s is a multi-platform index without an entry for %s (it has %s): the "
              "runtime fails with \"no match for platform in manifest\". Build and push a %s "
              "variant, or schedule the pod on nodes of a listed platform (nodeSelector "
              "kubernetes.io/arch).",
              imageref_manifest_ref(&d->ref), d->platform, avail ? avail : "?", d->platform);
  free(avail);
out:
  json_decref(man);
}

static void read_image(struct probe *p, struct fetch *f)
{
  struct diagnosis *d = p->d;
  json_t *image = json_array_get(json_object_get(f->resp, "images"), 0);
  json_t *failure = json_array_get(json_object_get(f->resp, "failures"), 0);
  enum cause_id tool = f->rc == ERR_OK ? CAUSE_COUNT : prober_cause(&f->call);
  struct diag_check *c = add_fetch_check(p, f);
  if (!c)
    return;
  if (image) {
    const char *digest =
        json_string_value(json_object_get(json_object_get(image, "imageId"), "imageDigest"));
    p->image_digest = str_dup(digest);
    check_manifest(p, c, image);
  } else if (tool != CAUSE_COUNT) {
    add_prober_finding(p, tool, c, &f->call);
  } else if (code_is(&f->call, "AccessDeniedException", NULL)) {
    finding_for_denied(p, c, "ecr:BatchGetImage");
  } else if (code_is(&f->call, "KmsException", NULL)) {
    add_finding(d, CAUSE_KMS_KEY_UNUSABLE, check_evidence(c),
                "ECR could not use the repository's KMS key to serve %s (%s). The fix is on the "
                "key (enabled, not pending deletion, ECR's grant in place), not the node role.",
                imageref_manifest_ref(&d->ref), c->error_message ? c->error_message : "");
  } else if (code_is(&f->call, "UnableToGetUpstreamImageException", NULL)) {
    add_finding(d, CAUSE_PTC_UPSTREAM_FAILED, check_evidence(c),
                "The pull-through cache could not fetch %s from its upstream registry (%s).",
                imageref_manifest_ref(&d->ref), c->error_message ? c->error_message : "");
  } else if (code_is(&f->call, "RepositoryNotFoundException", NULL) &&
             ptc_import_finding(p, c, true)) {
    return;
  } else if (code_is(&f->call, "RepositoryNotFoundException", NULL)) {
    add_finding(d, CAUSE_REPOSITORY_NOT_FOUND, check_evidence(c),
                "There is no repository %s in account %s, region %s. Check the name and the "
                "region in the image reference.",
                d->ref.repository, d->ref.registry_id, d->ref.region);
  } else if (failure) {
    const char *code = json_string_value(json_object_get(failure, "failureCode"));
    const char *reason = json_string_value(json_object_get(failure, "failureReason"));
    if (code && strcmp(code, "ImageNotFound") == 0 && ptc_import_finding(p, c, false))
      return;
    finding_for_image_failure(p, c, code ? code : "unknown", reason);
  } else {
    add_finding(d, CAUSE_UNKNOWN, check_evidence(c), "BatchGetImage failed: %s.",
                c->error_message ? c->error_message : "no image and no failure returned");
  }
}

/* Levenshtein distance, capped: tags are at most 128 characters. */
static size_t edit_distance(const char *a, const char *b)
{
  size_t n = strlen(a), m = strlen(b);
  if (n > 128 || m > 128)
    return 1000;
  size_t row[129];
  for (size_t j = 0; j <= m; j++)
    row[j] = j;
  for (size_t i = 1; i <= n; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= m; j++) {
      size_t up = row[j];
      size_t best = diag + (a[i - 1] != b[j - 1]);
      if (row[j] + 1 < best)
        best = row[j] + 1;
      if (row[j - 1] + 1 < best)
        best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[m];
}

struct tag_seen {
  const char *tag;
  double pushed_at;
  size_t distance;
};

static int tag_by_newest(const void *a, const void *b)
{
  const struct tag_seen *x = a, *y = b;
  if (x->pushed_at != y->pushed_at)
    return x->pushed_at < y->pushed_at ? 1 : -1;
  return strcmp(x->tag, y->tag); /* tags of one image: a stable order */
}

static int tag_by_distance(const void *a, const void *b)
{
  const struct tag_seen *x = a, *y = b;
  if (x->distance != y->distance)
    return x->distance < y->distance ? -1 : 1;
  return tag_by_newest(a, b);
}

#define NEAREST_TAGS 5
#define TAGS_SEEN_MAX 1000

/* Adds to the first (not alternative) finding of cause the names nearest to what was asked
 * for: evidence[key] and a sentence "INTRO a, b (of TOTAL WHAT)." after its summary. */
static void add_nearest(struct diagnosis *d, enum cause_id cause, const char *key,
                        const char *intro, const char *const *names, size_t shown, size_t total,
                        const char *what)
{
  for (size_t j = 0; shown && j < d->n_findings; j++) {
    struct diag_finding *fd = &d->findings[j];
    if (fd->cause != cause || fd->alternative)
      continue;
    json_t *list = json_array();
    struct buf b;
    buf_init(&b, DIAG_SUMMARY_MAX_BYTES);
    buf_printf(&b, "%s%s", fd->summary, intro);
    for (size_t t = 0; t < shown; t++) {
      json_array_append_new(list, json_string(names[t]));
      buf_printf(&b, "%s %s", t ? "," : "", names[t]);
    }
    buf_printf(&b, " (of %zu%s).", total, what);
    json_object_set_new(fd->evidence, key, list);
    free(fd->summary);
    fd->summary = buf_detach(&b);
    return;
  }
}

/* Adds to the IMAGE_NOT_FOUND finding the existing tags nearest to the one asked for, newest
 * first: most often a typo or a tag that was never pushed. */
static void read_tags(struct probe *p, struct fetch *f)
{
  struct diagnosis *d = p->d;
  add_fetch_check(p, f);
  json_t *details = json_object_get(f->resp, "imageDetails");
  if (f->rc || !json_is_array(details) || !d->ref.tag)
    return;
  struct tag_seen *seen = calloc(TAGS_SEEN_MAX, sizeof *seen);
  size_t n = 0, i, k;
  json_t *det, *tag;
  json_array_foreach(details, i, det)
  {
    double pushed = json_number_value(json_object_get(det, "imagePushedAt"));
    json_array_foreach(json_object_get(det, "imageTags"), k, tag)
    {
      if (seen && n < TAGS_SEEN_MAX && json_string_value(tag))
        seen[n++] = (struct tag_seen){json_string_value(tag), pushed,
                                      edit_distance(d->ref.tag, json_string_value(tag))};
    }
  }
  if (!seen || n == 0)
    goto out;
  qsort(seen, n, sizeof *seen, tag_by_distance);
  size_t shown = n < NEAREST_TAGS ? n : NEAREST_TAGS;
  qsort(seen, shown, sizeof *seen, tag_by_newest);
  const char *names[NEAREST_TAGS];
  for (size_t t = 0; t < shown; t++)
    names[t] = seen[t].tag;
  add_nearest(d, CAUSE_IMAGE_NOT_FOUND, "nearest_tags",
              " The nearest existing tags, newest first:", names, shown, n, " tags");
out:
  free(seen);
}

#define NEAREST_REPOSITORIES 5

struct repo_seen {
  const char *name;
  size_t distance;
};

static int repo_by_distance(const void *a, const void *b)
{
  const struct repo_seen *x = a, *y = b;
  if (x->distance != y->distance)
    return x->distance < y->distance ? -1 : 1;
  return strcmp(x->name, y->name);
}

/* Adds to the REPOSITORY_NOT_FOUND finding the existing repositories whose names are near the
 * one asked for: most often a typo, or a path segment too many or too few. */
static void read_repositories(struct probe *p, struct fetch *f)
{
  struct diagnosis *d = p->d;
  add_fetch_check(p, f);
  json_t *repos = json_object_get(f->resp, "repositories");
  size_t n = json_array_size(repos), shown = 0, i;
  struct repo_seen *seen = f->rc ? NULL : calloc(n ? n : 1, sizeof *seen);
  if (!seen)
    return;
  /* Near: no more edits than a third of the name, and at least two allowed. */
  size_t limit = strlen(d->ref.repository) / 3 > 2 ? strlen(d->ref.repository) / 3 : 2;
  json_t *repo;
  json_array_foreach(repos, i, repo)
  {
    const char *name = json_string_value(json_object_get(repo, "repositoryName"));
    size_t dist = name ? edit_distance(d->ref.repository, name) : SIZE_MAX;
    if (dist <= limit)
      seen[shown++] = (struct repo_seen){name, dist};
  }
  qsort(seen, shown, sizeof *seen, repo_by_distance);
  if (shown > NEAREST_REPOSITORIES)
    shown = NEAREST_REPOSITORIES;
  const char *names[NEAREST_REPOSITORIES];
  for (size_t t = 0; t < shown; t++)
    names[t] = seen[t].name;
  add_nearest(d, CAUSE_REPOSITORY_NOT_FOUND, "nearest_repositories",
              " Repositories with near names:", names, shown, n, "");
  free(seen);
}

/* A policy read: *text takes it over. True when the answer is the truth: the policy, or AWS's
 * not_found code saying there is none (*text stays NULL). */
static bool take_policy(struct fetch *f, const char *not_found, char **text)
{
  if (f->rc == ERR_OK) {
    *text = f->text;
    f->text = NULL;
    return true;
  }
  return code_is(&f->call, not_found, NULL);
}

/* The repository policy as the caller sees it: readable only when a policy grants it
 * ecr:GetRepositoryPolicy (or the caller is in the registry account). Unreadable is normal. */
static void read_policy(struct probe *p, struct fetch *f)
{
  p->policy_known = take_policy(f, "RepositoryPolicyNotFoundException", &p->policy_text);
  if (!p->policy_known && p->registry_creds.access_key_id &&
      code_is(&f->call, "RepositoryNotFoundException", NULL)) {
    p->repo_missing = true;
  }
  add_fetch_check(p, f);
}

/* The pull-through cache rule a repository is under: the longest ecrRepositoryPrefix that is
 * the repository name's leading path ("docker-hub" for "docker-hub/library/nginx"). */
static const json_t *ptc_rule_for(const json_t *rules, const char *repository)
{
  const json_t *best = NULL;
  size_t best_len = 0, i;
  json_t *rule;
  json_array_foreach(rules, i, rule)
  {
    const char *prefix = json_string_value(json_object_get(rule, "ecrRepositoryPrefix"));
    size_t n = prefix ? strlen(prefix) : 0;
    if (n > best_len && strncmp(repository, prefix, n) == 0 && repository[n] == '/') {
      best = rule;
      best_len = n;
    }
  }
  return best;
}

/* The path's first component is one of the pull-through cache prefixes the console proposes:
 * worth asking a registry with no view for its rules. */
static bool looks_like_ptc_path(const char *repository)
{
  static const char *const prefixes[] = {"docker-hub/", "ecr-public/",     "quay/",   "k8s/",
                                         "ghcr/",       "github/",         "gitlab/", "azure/",
                                         "chainguard/", "registry-k8s-io/"};
  for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
    if (strncmp(repository, prefixes[i], strlen(prefixes[i])) == 0)
      return true;
  return false;
}

/* The registry account's side: its registry policy, the policy's scope, the pull-through cache
 * rules. Context only: being refused them says nothing about the pull. */
static void read_registry_view(struct probe *p, struct fetch *fs)
{
  struct fetch *pol = &fs[FETCH_REGISTRY_POLICY], *scope = &fs[FETCH_REGISTRY_SCOPE];
  struct fetch *ptc = &fs[FETCH_PTC_RULES];
  if (ptc->wanted) {
    if (ptc->rc == ERR_OK)
      p->ptc_rules = json_incref(json_object_get(ptc->resp, "pullThroughCacheRules"));
    p->ptc_rule = ptc_rule_for(p->ptc_rules, p->d->ref.repository);
    add_fetch_check(p, ptc);
  }
  if (!pol->wanted)
    return;
  p->registry_policy_known =
      take_policy(pol, "RegistryPolicyNotFoundException", &p->registry_policy);
  add_fetch_check(p, pol);
  /* V2 is the default scope (ECR user guide, registry-permissions): only a V1 answer says the
   * registry policy leaves pulls alone. */
  p->registry_scope_v1 = scope->rc == ERR_OK && scope->text && strcmp(scope->text, "V1") == 0;
  add_fetch_check(p, scope);
}

/* After a repository or image that was not found: where it is instead. */
static void read_other_regions(struct probe *p, struct fetch *f)
{
  struct diagnosis *d = p->d;
  struct diag_check *c = add_fetch_check(p, f);
  json_t *image_in = json_object_get(f->resp, "image_in");
  json_t *repo_in = json_object_get(f->resp, "repository_in");
  bool repo_missing = has_finding(d, CAUSE_REPOSITORY_NOT_FOUND);
  json_t *where = json_array_size(image_in) ? image_in : repo_missing ? repo_in : NULL;
  if (f->rc || !json_array_size(where))
    return;
  json_t *ev = check_evidence(c);
  json_object_set(ev, "image_in", image_in);
  json_object_set(ev, "repository_in", repo_in);
  json_object_set_new(ev, "region", json_string(d->ref.region));
  struct buf b;
  buf_init(&b, 1024);
  size_t i;
  json_t *r;
  json_array_foreach(where, i, r) buf_printf(&b, "%s%s", i ? ", " : "", json_string_value(r));
  char *list = buf_detach(&b);
  if (where == image_in)
    add_finding(d, CAUSE_WRONG_REGION, ev,
                "%s exists in %s of account %s, not in %s: the image reference names the wrong "
                "region. Use %s.dkr.ecr.%s.%s/%s (or replicate the repository to %s).",
                imageref_manifest_ref(&d->ref), list, d->ref.registry_id, d->ref.region,
                d->ref.registry_id, json_string_value(json_array_get(where, 0)),
                strstr(d->ref.host, ".amazonaws.com.cn") ? "amazonaws.com.cn" : "amazonaws.com",
                d->ref.repository, d->ref.region);
  else
    add_finding(d, CAUSE_WRONG_REGION, ev,
                "Repository %s exists in %s of account %s, not in %s (without the image %s "
                "there either): the reference names the wrong region, and the image must "
                "still be pushed.",
                d->ref.repository, list, d->ref.registry_id, d->ref.region,
                imageref_manifest_ref(&d->ref));
  free(list);
}

static void read_registry(struct probe *p, struct fetch *ping, struct fetch *manifest)
{
  struct diagnosis *d = p->d;
  struct diag_check *c = add_fetch_check(p, ping);
  if (ping->rc)
    add_network_finding(p, c, ping->rc, "The registry");
  c = add_fetch_check(p, manifest);
  if (!c || c->status == CHECK_PASS)
    return;
  if (manifest->rc) {
    if (ping->rc == ERR_OK) /* one unreachable registry is one finding */
      add_network_finding(p, c, manifest->rc, "The registry's manifest request");
  } else if (d->n_findings == 0) {
    /* The API allowed what the registry refused: nothing above explains it. */
    add_finding(d, CAUSE_UNKNOWN, check_evidence(c),
                "ECR's API returned the image, but the registry answered HTTP %ld%s%s to the "
                "manifest request.",
                c->http_status, c->error_code ? " " : "", c->error_code ? c->error_code : "");
  }
}

static bool want_blobs(struct fetch *fs, struct probe *p)
{
  if (!p->config_digest || !p->layer_digest)
    return false;
  fs[FETCH_CONFIG_BLOB].manifest_ref = p->config_digest;
  fs[FETCH_LAYER_BLOB].manifest_ref = p->layer_digest;
  fs[FETCH_CONFIG_BLOB].wanted = fs[FETCH_LAYER_BLOB].wanted = true;
  return true;
}

/* A blob answered with a redirect sends the runtime to the layer host: the next level. */
static bool want_download(struct fetch *blob, struct fetch *download)
{
  if (blob->rc || blob->reg.status / 100 != 3 || !blob->reg.location)
    return false;
  download->url = blob->reg.location;
  download->wanted = true;
  return true;
}

static void read_platform_manifest(struct probe *p, struct fetch *f)
{
  struct diag_check *c = add_fetch_check(p, f);
  json_t *man = f->reg.body ? json_loads(f->reg.body, 0, NULL) : NULL;
  if (man)
    take_image_manifest(p, man);
  else if (c && c->status == CHECK_PASS)
    add_finding(p->d, CAUSE_UNKNOWN, check_evidence(c),
                "The registry's manifest for platform %s is not JSON.", p->d->platform);
  json_decref(man);
}

/* The config blob and the first layer's blob: a 403 here is GetDownloadUrlForLayer denied. */
static void read_blob(struct probe *p, struct fetch *f)
{
  struct diag_check *c = add_fetch_check(p, f);
  if (!c || c->status == CHECK_PASS)
    return;
  if (f->rc)
    add_network_finding(p, c, f->rc, "The registry's blob request");
  else if (c->http_status == 403)
    finding_for_denied(p, c, "ecr:GetDownloadUrlForLayer");
  else if (p->d->n_findings == 0)
    add_finding(p->d, CAUSE_UNKNOWN, check_evidence(c),
                "The registry answered HTTP %ld%s%s for blob %s.", c->http_status,
                c->error_code ? " " : "", c->error_code ? c->error_code : "", f->manifest_ref);
}

static void read_download(struct probe *p, struct fetch *f)
{
  struct diagnosis *d = p->d;
  struct diag_check *c = add_fetch_check(p, f);
  if (!c)
    return;
  if (f->rc) {
    /* Nodes download layers from S3, through the S3 gateway endpoint in a private subnet. */
    add_network_finding(p, c, f->rc, "The layer host (S3)");
    return;
  }
  if (c->status != CHECK_PASS) {
    add_finding(d, CAUSE_LAYER_DOWNLOAD_BLOCKED, check_evidence(c),
                "The layer host refused the download with HTTP %ld: the registry handed out the "
                "URL, but the layer cannot be fetched (an S3 VPC endpoint policy or a proxy "
                "often blocks prod-%s-starport-layer-bucket).",
                c->http_status, d->ref.region);
    return;
  }
  if (f->kind != FETCH_CONFIG_DOWNLOAD || !p->single_platform || !f->reg.body)
    return;
  /* A single-platform image pulls on any node; built for another architecture, it then fails
   * at start with "exec format error". */
  json_t *cfg = json_loads(f->reg.body, 0, NULL);
  struct platform want, have;
  platform_parse(d->platform, &want);
  platform_set(&have, json_string_value(json_object_get(cfg, "os")),
               json_string_value(json_object_get(cfg, "architecture")),
               json_string_value(json_object_get(cfg, "variant")));
  if (have.arch[0] && !platform_match(&want, &have)) {
    json_t *ev = check_evidence(c);
    json_object_set_new(
        ev, "image_platform",
        json_sprintf("%s/%s%s%s", have.os, have.arch, have.variant[0] ? "/" : "", have.variant));
    json_object_set_new(ev, "platform", json_string(d->platform));
    add_finding(d, CAUSE_ARCH_MISMATCH_AT_RUNTIME, ev,
                "Image %s is built for %s/%s only: it pulls on a %s node, then its container "
                "fails to start with \"exec format error\". Build a multi-platform image.",
                imageref_manifest_ref(&d->ref), have.os, have.arch, d->platform);
  }
  json_decref(cfg);
}

/* Level 2 and on: the registry, as containerd calls it with the token: the manifest (and the
 * platform's manifest from an index), then the blobs, then the layer host. Requests that do
 * not depend on each other share a level. False when cancelled. */
static bool probe_registry(struct probe *p, struct fetch *fs)
{
  struct diagnosis *d = p->d;
  struct buf base;
  buf_init(&base, 2048);
  if (p->o->registry_endpoint)
    buf_puts(&base, p->o->registry_endpoint);
  else
    buf_printf(&base, "https://%s", d->ref.host);
  struct registry_target t = {
      .host = d->ref.host,
      .base_url = buf_str(&base),
      .password = p->auth.password,
      .timeout_ms = time_left_ms(p),
  };
  for (int k = FETCH_REGISTRY_PING; k < FETCH_COUNT; k++)
    fs[k].target = &t;
  fs[FETCH_REGISTRY_MANIFEST].manifest_ref =
      p->image_digest ? p->image_digest : imageref_manifest_ref(&d->ref);
  fs[FETCH_REGISTRY_PING].wanted = fs[FETCH_REGISTRY_MANIFEST].wanted = true;
  fs[FETCH_PLATFORM_MANIFEST].manifest_ref = p->platform_digest;
  fs[FETCH_PLATFORM_MANIFEST].wanted = p->platform_digest != NULL;
  bool blobs_now = want_blobs(fs, p);
  bool ran = fetch_level(p, fs, FETCH_REGISTRY_PING, FETCH_LAYER_BLOB);
  if (!ran)
    goto out;
  read_registry(p, &fs[FETCH_REGISTRY_PING], &fs[FETCH_REGISTRY_MANIFEST]);
  if (fs[FETCH_PLATFORM_MANIFEST].wanted)
    read_platform_manifest(p, &fs[FETCH_PLATFORM_MANIFEST]);
  if (!blobs_now && want_blobs(fs, p)) {
    ran = fetch_level(p, fs, FETCH_CONFIG_BLOB, FETCH_LAYER_BLOB);
    if (!ran)
      goto out;
  }
  if (!fs[FETCH_CONFIG_BLOB].wanted)
    goto out;
  read_blob(p, &fs[FETCH_CONFIG_BLOB]);
  read_blob(p, &fs[FETCH_LAYER_BLOB]);
  bool config = want_download(&fs[FETCH_CONFIG_BLOB], &fs[FETCH_CONFIG_DOWNLOAD]);
  bool layer = want_download(&fs[FETCH_LAYER_BLOB], &fs[FETCH_LAYER_DOWNLOAD]);
  if (!config && !layer)
    goto out;
  ran = fetch_level(p, fs, FETCH_CONFIG_DOWNLOAD, FETCH_LAYER_DOWNLOAD);
  if (ran && config)
    read_download(p, &fs[FETCH_CONFIG_DOWNLOAD]);
  if (ran && layer)
    read_download(p, &fs[FETCH_LAYER_DOWNLOAD]);
out:
  buf_release(&base);
  return ran;
}

/* ---- ranking, verdict and fix --------------------------------------------------------- */

/* Precedence orders the findings, alternatives after the rest (warnings stay last). */
static int finding_rank(const struct diag_finding *f)
{
  const struct cause_info *ci = cause_info(f->cause);
  return (ci->cls == CAUSE_CLASS_WARNING ? 2000 : f->alternative ? 1000 : 0) + ci->precedence;
}

static int finding_cmp(const void *a, const void *b)
{
  int px = finding_rank(a), py = finding_rank(b);
  return (px > py) - (px < py);
}

static void rank_and_judge(struct diagnosis *d)
{
  /* Insertion order breaks ties: qsort is not stable, so sort a copy of the indices. */
  for (size_t i = 1; i < d->n_findings; i++) {
    struct diag_finding f = d->findings[i];
    size_t j = i;
    while (j > 0 && finding_cmp(&d->findings[j - 1], &f) > 0) {
      d->findings[j] = d->findings[j - 1];
      j--;
    }
    d->findings[j] = f;
  }
  d->pullable = 1;
  if (d->n_findings == 0)
    return;
  enum cause_class cls = cause_info(d->findings[0].cause)->cls;
  if (cls == CAUSE_CLASS_PULL)
    d->pullable = 0;
  else if (cls != CAUSE_CLASS_WARNING)
    d->pullable = -1;
}

static void build_fix(struct probe *p)
{
  struct diagnosis *d = p->d;
  if (d->n_findings == 0)
    return;
  enum cause_id primary = d->findings[0].cause;
  bool repo_side = primary == CAUSE_REPO_POLICY_NOT_GRANTING ||
                   primary == CAUSE_REPO_POLICY_MISSING || primary == CAUSE_ORG_CONDITION_MISMATCH;
  bool ptc_import = primary == CAUSE_PTC_IMPORT_DENIED && p->ptc_rule;
  bool identity_side =
      primary == CAUSE_IDENTITY_POLICY_MISSING || primary == CAUSE_AUTH_TOKEN_DENIED || ptc_import;
  /* A Deny the evaluator named, in a policy ecrdiag read: the fix exempts the grant from it. */
  json_t *deny = json_object_get(d->findings[0].evidence, "statement");
  const char *deny_in = json_string_value(json_object_get(deny, "policy"));
  bool registry_deny = primary == CAUSE_REGISTRY_POLICY_DENY && deny_in &&
                       strcmp(deny_in, "registry_policy") == 0 && p->registry_policy;
  bool repo_deny = primary == CAUSE_REPO_POLICY_EXPLICIT_DENY && deny_in &&
                   strcmp(deny_in, "repository_policy") == 0 && p->policy_text;
  if (!(repo_side && cross_account(p)) && !identity_side && !registry_deny && !repo_deny)
    return;
  /* An Allow grants the organization when it is known (the usual multi-account set-up); a
   * Deny was written on purpose, so the exemption from it is the narrowest: the role. */
  enum fix_grant grant = registry_deny || repo_deny ? FIX_GRANT_ROLE
                         : d->caller.org_id         ? FIX_GRANT_ORG
                                                    : FIX_GRANT_ACCOUNT;
  bool grant_defaulted = !p->o->grant;
  if (p->o->grant)
    policyfix_grant_parse(p->o->grant, &grant); /* checked by the front end */
  struct fix_request req = {
      .grant = grant,
      .partition = d->ref.partition,
      .region = d->ref.region,
      .registry_id = d->ref.registry_id,
      .repository = d->ref.repository,
      .caller_account = d->caller.account,
      .org_id = d->caller.org_id,
      .current_known = p->policy_known,
      .current_policy = p->policy_text,
      .principal_arn = d->caller.arn,
      .role_arn = p->o->node_role_arn,
      .ou_path = p->o->ou_path,
      .target = identity_side   ? FIX_TARGET_IDENTITY_POLICY
                : registry_deny ? FIX_TARGET_REGISTRY_POLICY
                                : FIX_TARGET_REPOSITORY_POLICY,
      .exempt_from_deny = registry_deny || repo_deny,
      .deny_statement = (size_t)json_integer_value(json_object_get(deny, "index")),
      .repository_policy = p->policy_text,
      .repository_policy_known = p->policy_known,
      .ptc_prefix = ptc_import
                        ? json_string_value(json_object_get(p->ptc_rule, "ecrRepositoryPrefix"))
                        : NULL,
      .ptc_create_repository = ptc_import && p->ptc_repo_missing,
      .attach_managed = p->o->fix_managed && !ptc_import,
  };
  if (registry_deny) {
    req.current_known = true;
    req.current_policy = p->registry_policy;
  }
  struct err e = {0};
  if (policyfix_build(&req, &d->fix, &e) == ERR_OK) {
    d->has_fix = true;
  } else {
    /* Not a cause of the failed pull: said with the cause it would have fixed. */
    struct diag_finding *f = &d->findings[0];
    json_object_set_new(f->evidence, "fix_error", json_string(e.msg));
    struct buf b;
    buf_init(&b, DIAG_SUMMARY_MAX_BYTES);
    if (buf_printf(&b, "%s No fix could be written: %s.", f->summary, e.msg) == ERR_OK) {
      free(f->summary);
      f->summary = buf_detach(&b);
    }
    buf_release(&b);
    return;
  }
  if (!d->caller.org_id && !p->no_organization && repo_side && grant_defaulted)
    add_finding(d, CAUSE_ORG_ID_UNKNOWN, NULL,
                "The fix grants account %s only, because %s may not read its organization. "
                "For the organization-wide grant (the usual multi-account set-up), run again with "
                "--org-id o-..., as found by `aws organizations describe-organization --query "
                "Organization.Id` run by anyone in the organization allowed to.",
                d->caller.account, d->caller.arn);
}

static void note_not_pulling_principal(struct diagnosis *d)
{
  if (d->caller.is_pulling_principal || !d->caller.arn)
    return;
  add_finding(d, CAUSE_NOT_PULLING_PRINCIPAL,
              json_pack("{s:s, s:s}", "caller", d->caller.arn, "credential_source",
                        d->caller.credential_source ? d->caller.credential_source : "unknown"),
              "This check ran as %s with credentials from %s. The kubelet pulls as the node's IAM "
              "role: the result is evidence about this principal, not a verdict on the pod's "
              "pull, unless it is that role.",
              d->caller.arn, d->caller.credential_source ? d->caller.credential_source : "?");
}

/* creds_options.on_call: the credential chain's STS and SSO calls become checks. */
static void on_creds_call(void *ctx, const char *id, const struct aws_call *call)
{
  add_call_check(ctx, id, call);
}

/* Runs one credential chain; false with a finding when it found nothing usable. */
static bool probe_creds(struct probe *p, const struct creds_options *given, struct aws_creds *out,
                        bool registry)
{
  struct creds_options co = given ? *given : (struct creds_options){0};
  co.region = p->d->ref.region; /* one STS region for the whole run: the registry's */
  co.endpoints = &p->endpoints;
  if (!co.timeout_ms)
    co.timeout_ms = p->http_options.timeout_ms;
  co.on_call = on_creds_call;
  co.call_ctx = p;
  if (registry && !co.label)
    co.label = "registry";
  char *msg = NULL;
  co.message = &msg;
  struct err sub = {0};
  struct http_client *http = http_client_new(&p->http_options, &sub);
  enum err_code rc = http ? creds_resolve(&co, http, out, &sub) : sub.code;
  http_client_free(http);
  if (rc == ERR_OK) {
    free(msg);
    return true;
  }
  enum cause_id cause = CAUSE_NO_CREDENTIALS;
  if (rc == ERR_AWS && p->d->n_checks) {
    const struct diag_check *last = &p->d->checks[p->d->n_checks - 1];
    if (last->error_code && (strcmp(last->error_code, "ExpiredToken") == 0))
      cause = CAUSE_CREDENTIALS_EXPIRED;
    else if (last->error_code && (strcmp(last->error_code, "InvalidClientTokenId") == 0 ||
                                  strcmp(last->error_code, "SignatureDoesNotMatch") == 0))
      cause = CAUSE_CREDENTIALS_INVALID;
  }
  add_finding(p->d, cause, json_pack("{s:s}", "credentials", registry ? "registry" : "caller"),
              "%s", msg ? msg : sub.msg);
  free(msg);
  return false;
}

static void probe_release(struct probe *p)
{
  creds_release(&p->creds);
  creds_release(&p->registry_creds);
  aws_endpoints_release(&p->endpoints);
  ecr_auth_release(&p->auth);
  free(p->image_digest);
  free(p->platform_digest);
  free(p->config_digest);
  free(p->layer_digest);
  free(p->policy_text);
  free(p->registry_policy);
  json_decref(p->ptc_rules);
  http_share_free(p->share);
}

enum err_code diag_run(const struct diag_options *o, struct diagnosis *d, struct err *e)
{
  struct probe p = {.o = o, .d = d};
  enum err_code rc = ERR_OK;
  struct err sub = {0};

  if (imageref_parse(o->image ? o->image : "", &d->ref, &sub) != ERR_OK) {
    enum cause_id cause =
        d->ref.kind == IMAGEREF_MALFORMED ? CAUSE_IMAGE_REF_INVALID : CAUSE_NOT_ECR;
    add_finding(d, cause, json_pack("{s:s}", "reference", o->image ? o->image : ""), "%s", sub.msg);
    goto judge;
  }
  d->ref_ok = true;
  d->platform = str_dup(o->platform ? o->platform : "linux/amd64");
  rc = aws_endpoints_from_env(&p.endpoints, e);
  if (rc)
    goto out;
  /* --timeout bounds the whole check: every request and retry stops at the deadline. */
  long total_ms = o->timeout_ms ? o->timeout_ms : DIAG_DEFAULT_TIMEOUT_MS;
  p.deadline_ms = aws_monotonic_ms() + total_ms;
  p.http_options = (struct http_options){
      .timeout_ms = total_ms < DIAG_REQUEST_TIMEOUT_MS ? total_ms : DIAG_REQUEST_TIMEOUT_MS,
      .ca_bundle = o->ca_bundle ? o->ca_bundle : getenv("AWS_CA_BUNDLE"),
      .insecure = o->insecure,
      /* HOST:PORT:ADDR[,...] as curl's --resolve: tests map real host names to loopback. */
      .resolve = getenv("ECRDIAG_RESOLVE"),
  };
  /* Without a share each fetch would open its own connection: slower, but still right. */
  p.share = http_share_new(NULL);
  p.http_options.share = p.share;
  if (!probe_creds(&p, o->creds, &p.creds, false))
    goto judge;
  d->caller.credential_source = str_dup(p.creds.source);
  /* The kubelet pulls with the node's instance role: only IMDS credentials are it. */
  d->caller.is_pulling_principal = strcmp(p.creds.source, "imds") == 0;
  p.on_node = o->on_node || d->caller.is_pulling_principal;
  if (o->registry_creds && !probe_creds(&p, o->registry_creds, &p.registry_creds, true))
    goto judge;
  p.aws = (struct aws_client){
      .creds = &p.creds,
      .endpoints = &p.endpoints,
      .partition = d->ref.partition,
      .fips = d->ref.fips,
      .deadline_ms = p.deadline_ms,
  };

  /* Level 1: every API call at once. Level 2: the registry, once the token and the digest
   * are in. Each level is announced; a cancelled run starts no further level. */
  struct fetch fs[FETCH_COUNT];
  memset(fs, 0, sizeof fs);
  for (int k = 0; k < FETCH_COUNT; k++) {
    fs[k].p = &p;
    fs[k].kind = (enum fetch_kind)k;
    fs[k].id = diag_plan[k];
    aws_call_init(&fs[k].call);
  }
  fs[FETCH_IDENTITY].wanted = fs[FETCH_AUTH_TOKEN].wanted = true;
  fs[FETCH_POLICY].wanted = fs[FETCH_IMAGE].wanted = true;
  fs[FETCH_ORGANIZATION].wanted = !o->org_id;
  bool view = p.registry_creds.access_key_id != NULL;
  fs[FETCH_REGISTRY_POLICY].wanted = fs[FETCH_REGISTRY_SCOPE].wanted = view;
  fs[FETCH_PTC_RULES].wanted = view || looks_like_ptc_path(d->ref.repository);
  bool cancelled = !fetch_level(&p, fs, FETCH_IDENTITY, FETCH_IMAGE);
  if (!cancelled && read_identity(&p, &fs[FETCH_IDENTITY])) {
    read_organization(&p, &fs[FETCH_ORGANIZATION]);
    read_auth_token(&p, &fs[FETCH_AUTH_TOKEN]);
    /* The policies first: when they are readable, a denied pull is read in their light. */
    read_policy(&p, &fs[FETCH_POLICY]);
    read_registry_view(&p, fs);
    read_image(&p, &fs[FETCH_IMAGE]);
    /* A missing tag: which tags do exist, when this principal (or A's view) may list them. */
    bool same_account = d->caller.account && strcmp(d->caller.account, d->ref.registry_id) == 0;
    if (d->n_findings && d->findings[d->n_findings - 1].cause == CAUSE_IMAGE_NOT_FOUND &&
        (same_account || p.registry_creds.access_key_id)) {
      fs[FETCH_TAGS].wanted = true;
      fs[FETCH_OTHER_REGIONS].wanted = true;
      if (fetch_level(&p, fs, FETCH_TAGS, FETCH_OTHER_REGIONS)) {
        read_tags(&p, &fs[FETCH_TAGS]);
        read_other_regions(&p, &fs[FETCH_OTHER_REGIONS]);
      }
    } else if (has_finding(d, CAUSE_REPOSITORY_NOT_FOUND)) {
      fs[FETCH_REPOSITORIES].wanted = fs[FETCH_OTHER_REGIONS].wanted = true;
      if (fetch_level(&p, fs, FETCH_REPOSITORIES, FETCH_OTHER_REGIONS)) {
        read_repositories(&p, &fs[FETCH_REPOSITORIES]);
        read_other_regions(&p, &fs[FETCH_OTHER_REGIONS]);
      }
    }
    if (p.have_token)
      cancelled = !probe_registry(&p, fs);
    rank_and_judge(d);
    build_fix(&p);
  }
  for (int k = 0; k < FETCH_COUNT; k++)
    fetch_release(&fs[k]);
  if (cancelled || (o->cancel && *o->cancel))
    goto cancelled;

judge:
  note_not_pulling_principal(d);
  rank_and_judge(d);
  goto out;
cancelled:
  rank_and_judge(d);
  rc = err_set(e, ERR_CANCELLED, "the diagnosis was cancelled");
out:
  probe_release(&p);
  return rc;
}

int diag_exit_code(const struct diagnosis *d)
{
  if (d->n_findings == 0)
    return 0;
  return cause_class_exit_code(cause_info(d->findings[0].cause)->cls);
}
