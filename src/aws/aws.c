/* AWS API calls an ECR pull depends on: endpoint resolution per partition, SigV4-signed
 * awsJson1_1 (ECR, Organizations) and query (STS) requests, AWS standard-mode retries, and
 * each protocol's error envelope turned into one aws_call record for the report.
 * Depends on core, http, sigv4, crypto and creds; never on libcurl or OpenSSL directly. */
#include "ecrdiag/aws.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ecrdiag/buf.h"
#include "ecrdiag/crypto.h"
#include "ecrdiag/header.h"
#include "ecrdiag/sigv4.h"

/* AWS standard retry mode: "A default value of 3 for maximum attempts (including the initial
 * request)" and "exponential backoff by a base factor of 2 for a maximum backoff time of 20
 * seconds" (boto3 docs/source/guide/retries.rst); the delay is botocore's
 * rand(0,1) * min(base ** (attempt - 1), 20) (botocore/retries/standard.py,
 * ExponentialBackoff.delay_amount). */
#define AWS_DEFAULT_MAX_ATTEMPTS 3
#define AWS_MAX_ATTEMPTS_LIMIT 10
#define AWS_DEFAULT_RETRY_BASE_MS 1000L
#define AWS_MAX_BACKOFF_MS 20000.0
/* Copies of AWS's error code, message and request id. */
#define AWS_FIELD_MAX_BYTES 2048
/* The part of a non-AWS error body (a proxy's HTML page) quoted in a message. */
#define AWS_EXCERPT_MAX_BYTES 160
#define AWS_REGION_MAX_BYTES 64
#define AWS_URL_MAX_BYTES 2048

#define ECR_TARGET_PREFIX "AmazonEC2ContainerRegistry_V20150921."
#define ORGS_TARGET_PREFIX "AWSOrganizationsV20161128."

enum service { SVC_ECR, SVC_STS, SVC_ORGS, SVC_COUNT };

static const char *const service_names[SVC_COUNT] = {"ecr", "sts", "organizations"};

/* A URL as prefix + region + suffix (no format strings built at run time). */
struct url_tmpl {
  const char *pre;
  const char *post;
};

/* Default endpoints per partition. Sources, checked with the search tool:
 *  - ECR: aws-sdk-js-v3 clients/client-ecr/src/endpoint/ruleset.ts: "https://api.ecr.{Region}.
 *    {dnsSuffix}"; with FIPS "https://ecr-fips.{Region}.amazonaws.com" in aws and aws-us-gov,
 *    otherwise "https://api.ecr-fips.{Region}.{dnsSuffix}".
 *  - STS: aws-sdk-js-v3 clients/client-sts/src/endpoints.ts (generated from the endpoints.json
 *    botocore ships): regional "sts.{region}.amazonaws.com[.cn]"; FIPS variant
 *    "sts-fips.{region}.{dnsSuffix}", except aws-us-gov where the regional one is FIPS.
 *  - Organizations: aws-sdk-js-v3 clients/client-organizations/src/endpoints.ts regionHash:
 *    aws-global "organizations.us-east-1.amazonaws.com" signed us-east-1, aws-cn-global
 *    "organizations.cn-northwest-1.amazonaws.com.cn" signed cn-northwest-1, aws-us-gov-global
 *    "organizations.us-gov-west-1.amazonaws.com" signed us-gov-west-1; fips-aws-global
 *    "organizations-fips.us-east-1.amazonaws.com"; fips-aws-us-gov-global the same host as
 *    the non-FIPS one. The copies of botocore's endpoints.json in the index predate these
 *    entries; the SDK files above are generated from the same data. */
struct partition {
  const char *name;
  const char *region_prefix; /* how a region names its partition; NULL: the fallback */
  struct url_tmpl ecr, ecr_fips, sts, sts_fips;
  const char *orgs_url, *orgs_fips_url, *orgs_region;
};

/* clang-format off */
static const struct partition partitions[] = {
    {"aws-cn", "cn-",
     {"https://api.ecr.", ".amazonaws.com.cn"},
     {"https://api.ecr-fips.", ".amazonaws.com.cn"},
     {"https://sts.", ".amazonaws.com.cn"},
     {"https://sts-fips.", ".amazonaws.com.cn"},
     "https://organizations.cn-northwest-1.amazonaws.com.cn",
     "https://organizations-fips.cn-northwest-1.amazonaws.com.cn", "cn-northwest-1"},
    {"aws-us-gov", "us-gov-",
     {"https://api.ecr.", ".amazonaws.com"},
     {"https://ecr-fips.", ".amazonaws.com"},
     {"https://sts.", ".amazonaws.com"},
     {"https://sts.", ".amazonaws.com"},
     "https://organizations.us-gov-west-1.amazonaws.com",
     "https://organizations.us-gov-west-1.amazonaws.com", "us-gov-west-1"},
    {"aws", NULL,
     {"https://api.ecr.", ".amazonaws.com"},
     {"https://ecr-fips.", ".amazonaws.com"},
     {"https://sts.", ".amazonaws.com"},
     {"https://sts-fips.", ".amazonaws.com"},
     "https://organizations.us-east-1.amazonaws.com",
     "https://organizations-fips.us-east-1.amazonaws.com", "us-east-1"},
};
/* clang-format on */

#define N_PARTITIONS (sizeof partitions / sizeof partitions[0])

/* botocore's ThrottledRetryableChecker._THROTTLED_ERROR_CODES (botocore/retries/standard.py),
 * the list boto3's retries guide gives for standard mode. */
static const char *const throttling_codes[] = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
};

/* TransientRetryableChecker._TRANSIENT_ERROR_CODES and _TRANSIENT_STATUS_CODES (same file). */
static const char *const transient_codes[] = {
    "RequestTimeout",
    "RequestTimeoutException",
    "PriorRequestNotComplete",
};

static bool in_list(const char *code, const char *const *list, size_t n)
{
  if (!code)
    return false;
  for (size_t i = 0; i < n; i++)
    if (strcmp(code, list[i]) == 0)
      return true;
  return false;
}

static bool retryable_code(const char *code)
{
  return in_list(code, throttling_codes, sizeof throttling_codes / sizeof throttling_codes[0]) ||
         in_list(code, transient_codes, sizeof transient_codes / sizeof transient_codes[0]);
}

static bool retryable_status(long status)
{
  return status == 500 || status == 502 || status == 503 || status == 504;
}

/* botocore retries every ConnectionError and HTTPClientError (TransientRetryableChecker
 * ._TRANSIENT_EXCEPTION_CLS), which includes a failed name lookup. We do not retry ERR_DNS:
 * libcurl does not tell NXDOMAIN from a resolver hiccup, and the AWS SDK for Go v2 (the one
 * behind the kubelet's ECR credential provider) refuses to retry NXDOMAIN ("NXDOMAIN errors
 * should not be retried", aws/retry/retryable_error.go, aws-sdk-go-v2 PR #2083). A name that
 * does not resolve is a finding to report at once, not a reason to wait 3 s. Neither are TLS
 * failures nor an oversized answer retried: they do not go away on their own. */
static bool retryable_transport(enum err_code rc)
{
  return rc == ERR_CONNECT || rc == ERR_TIMEOUT || rc == ERR_NETWORK;
}

static bool is_transport(enum err_code rc)
{
  return rc == ERR_DNS || rc == ERR_CONNECT || rc == ERR_TIMEOUT || rc == ERR_TLS ||
         rc == ERR_NETWORK || rc == ERR_TOO_LARGE;
}

/* ---- small string helpers ---- */

/* A copy of v of at most max bytes with control characters turned into spaces: AWS's text
 * goes to a terminal, where an escape sequence from a hostile answer has no business. */
static char *dup_clean(struct sv v, size_t max)
{
  if (v.n > max)
    v.n = max;
  char *s = sv_dup(v);
  if (!s)
    return NULL;
  for (char *p = s; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      *p = ' ';
  return s;
}

static struct sv sv_trim_space(struct sv v)
{
  while (v.n && (v.p[0] == ' ' || v.p[0] == '\t' || v.p[0] == '\r' || v.p[0] == '\n')) {
    v.p++;
    v.n--;
  }
  while (v.n && (v.p[v.n - 1] == ' ' || v.p[v.n - 1] == '\t' || v.p[v.n - 1] == '\r' ||
                 v.p[v.n - 1] == '\n'))
    v.n--;
  return v;
}

static const char *env_get(const char *name)
{
  const char *v = getenv(name);
  return v && *v ? v : NULL;
}

static time_t clock_now(const struct aws_client *c)
{
  return c->now ? c->now() : time(NULL);
}

long long aws_monotonic_ms(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static long ms_since(const struct timespec *t0)
{
  struct timespec t1;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  return (long)(t1.tv_sec - t0->tv_sec) * 1000L + (t1.tv_nsec - t0->tv_nsec) / 1000000L;
}

/* ---- endpoints ---- */

static int service_from(const char *name)
{
  for (int i = 0; name && i < SVC_COUNT; i++)
    if (strcmp(name, service_names[i]) == 0)
      return i;
  return -1;
}

/* Region names go into a host name: only [a-z0-9-] may, so nothing can smuggle in a host. */
static bool region_ok(const char *r)
{
  if (!r || !*r || strlen(r) > AWS_REGION_MAX_BYTES)
    return false;
  for (const char *p = r; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
      return false;
  return true;
}

static const struct partition *partition_of(const struct aws_client *c, const char *region)
{
  if (c->partition) {
    for (size_t i = 0; i < N_PARTITIONS; i++)
      if (strcmp(c->partition, partitions[i].name) == 0)
        return &partitions[i];
    return NULL;
  }
  for (size_t i = 0; i < N_PARTITIONS; i++) {
    const char *pre = partitions[i].region_prefix;
    if (!pre || (region && strncmp(region, pre, strlen(pre)) == 0))
      return &partitions[i];
  }
  return NULL;
}

static const char *override_of(const struct aws_client *c, enum service svc)
{
  if (!c->endpoints)
    return NULL;
  switch (svc) {
  case SVC_ECR: return c->endpoints->ecr;
  case SVC_STS: return c->endpoints->sts;
  case SVC_ORGS: return c->endpoints->organizations;
  default: return NULL;
  }
}

static char *url_from(struct url_tmpl t, const char *region)
{
  struct buf b;
  buf_init(&b, AWS_URL_MAX_BYTES);
  if (buf_printf(&b, "%s%s%s", t.pre, region, t.post) != ERR_OK) {
    buf_release(&b);
    return NULL;
  }
  return buf_detach(&b);
}

char *aws_endpoint_url(const struct aws_client *c, const char *service, const char *region)
{
  int svc = service_from(service);
  if (!c || svc < 0)
    return NULL;
  const char *override = override_of(c, (enum service)svc);
  if (override)
    return str_dup(override);
  const struct partition *p = partition_of(c, region);
  if (!p)
    return NULL;
  if (svc == SVC_ORGS)
    return str_dup(c->fips ? p->orgs_fips_url : p->orgs_url);
  if (!region_ok(region))
    return NULL;
  if (svc == SVC_ECR)
    return url_from(c->fips ? p->ecr_fips : p->ecr, region);
  return url_from(c->fips ? p->sts_fips : p->sts, region);
}

const char *aws_signing_region(const struct aws_client *c, const char *service, const char *region)
{
  int svc = service_from(service);
  if (!c || svc < 0)
    return NULL;
  if (svc == SVC_ORGS) {
    const struct partition *p = partition_of(c, region);
    return p ? p->orgs_region : NULL;
  }
  return region_ok(region) ? region : NULL;
}

/* An override must be an absolute http(s) URL with a host; a query or fragment is refused
 * because the request path is the endpoint's and would be signed as such. */
static bool endpoint_url_ok(const char *v)
{
  if (strncasecmp(v, "http://", 7) != 0 && strncasecmp(v, "https://", 8) != 0)
    return false;
  for (const unsigned char *p = (const unsigned char *)v; *p; p++)
    if (*p <= 0x20 || *p == 0x7f || *p == '?' || *p == '#')
      return false;
  if (strlen(v) > AWS_URL_MAX_BYTES)
    return false;
  char *auth = http_url_authority(v);
  bool ok = auth != NULL;
  free(auth);
  return ok;
}

void aws_endpoints_release(struct aws_endpoints *ep)
{
  if (!ep)
    return;
  free(ep->ecr);
  free(ep->sts);
  free(ep->organizations);
  memset(ep, 0, sizeof *ep);
}

enum err_code aws_endpoints_from_env(struct aws_endpoints *out, struct err *e)
{
  memset(out, 0, sizeof *out);
  /* The SDKs' switch to ignore every configured endpoint URL (AWS SDKs and Tools reference
   * guide, "Service-specific endpoints": AWS_IGNORE_CONFIGURED_ENDPOINT_URLS). */
  const char *ignore = env_get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
  if (ignore && strcasecmp(ignore, "true") == 0)
    return ERR_OK;
  static const char *const vars[SVC_COUNT] = {
      [SVC_ECR] = "AWS_ENDPOINT_URL_ECR",
      [SVC_STS] = "AWS_ENDPOINT_URL_STS",
      [SVC_ORGS] = "AWS_ENDPOINT_URL_ORGANIZATIONS",
  };
  char **slots[SVC_COUNT] = {&out->ecr, &out->sts, &out->organizations};
  const char *global = env_get("AWS_ENDPOINT_URL");
  for (int i = 0; i < SVC_COUNT; i++) {
    const char *name = vars[i];
    const char *v = env_get(name);
    if (!v) {
      name = "AWS_ENDPOINT_URL";
      v = global;
    }
    if (!v)
      continue;
    if (!endpoint_url_ok(v)) {
      aws_endpoints_release(out);
      return err_set(e, ERR_INVALID,
                     "%s is not an http:// or https:// URL with a host (and no query)", name);
    }
    *slots[i] = str_dup(v);
    if (!*slots[i]) {
      aws_endpoints_release(out);
      return err_set(e, ERR_NOMEM, "out of memory");
    }
  }
  return ERR_OK;
}

/* ---- calls ---- */

void aws_call_init(struct aws_call *c)
{
  memset(c, 0, sizeof *c);
  c->transport = ERR_OK;
}

void aws_call_release(struct aws_call *c)
{
  if (!c)
    return;
  free(c->endpoint);
  free(c->error_code);
  free(c->error_message);
  free(c->request_id);
  aws_call_init(c);
}

/* The backoff jitter needs no secrecy, only independence between clients: xorshift64* over
 * a per-client state (rand() is neither thread-safe nor per-client). */
static uint64_t rng_next(struct aws_client *c)
{
  uint64_t x = c->rng_state;
  if (x == 0) {
    struct timespec mono, real;
    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_REALTIME, &real);
    /* splitmix64 of the clocks and the client's address, so two clients differ. */
    x = (uint64_t)mono.tv_nsec ^ ((uint64_t)real.tv_sec << 32) ^ (uint64_t)real.tv_nsec ^
        (uint64_t)(uintptr_t)c;
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    x ^= x >> 31;
    if (x == 0)
      x = 0x2545F4914F6CDD1DULL;
  }
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  c->rng_state = x;
  return x * 0x2545F4914F6CDD1DULL;
}

/* Full jitter: rand(0,1) * min(20 s, base * 2^(attempt-1)), attempt being the one that
 * just failed (1-based). */
static long backoff_ms(struct aws_client *c, int attempt)
{
  double base = (double)(c->retry_base_ms > 0 ? c->retry_base_ms : AWS_DEFAULT_RETRY_BASE_MS);
  double ceiling = base;
  for (int i = 1; i < attempt && ceiling < AWS_MAX_BACKOFF_MS; i++)
    ceiling *= 2;
  if (ceiling > AWS_MAX_BACKOFF_MS)
    ceiling = AWS_MAX_BACKOFF_MS;
  double unit = (double)(rng_next(c) >> 11) / 9007199254740992.0; /* [0, 1) */
  return (long)(unit * ceiling);
}

static void sleep_ms(long ms)
{
  if (ms <= 0)
    return;
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

/* Everything one logical request needs across its attempts. */
struct exchange {
  enum service svc;
  const char *signing_region;
  char *authority; /* host[:port], for Host and for messages */
  const char *path;
  const char *content_type;
  const char *target; /* awsJson only */
  const char *body;
  size_t body_len;
  bool secret_body;
  bool query; /* STS query protocol (XML errors) rather than awsJson */
  /* Sent without a signature, as botocore sends AssumeRoleWithWebIdentity (its client is
   * created with signature_version=UNSIGNED, credentials.py
   * AssumeRoleWithWebIdentityCredentialFetcher._get_credentials). */
  bool unsigned_request;
  long timeout_ms; /* this attempt's limit: what is left of the deadline; 0: the client's */
};

/* One attempt of an unsigned request: only Host and Content-Type, no Authorization. */
static enum err_code attempt_unsigned(struct aws_client *c, const struct exchange *x,
                                      const char *url, struct http_response *resp, struct err *e)
{
  struct http_header h[] = {{"Content-Type", x->content_type}};
  struct http_request req = {
      .method = "POST",
      .url = url,
      .host_header = x->authority,
      .headers = h,
      .n_headers = 1,
      .body = x->body,
      .body_len = x->body_len,
      .secret_body = x->secret_body,
      .timeout_ms = x->timeout_ms,
  };
  return http_perform(c->http, &req, resp, e);
}

static enum err_code attempt_once(struct aws_client *c, const struct exchange *x, const char *url,
                                  struct http_response *resp, struct err *e)
{
  if (x->unsigned_request)
    return attempt_unsigned(c, x, url, resp, e);
  struct http_header signed_hdrs[3];
  size_t n = 0;
  signed_hdrs[n++] = (struct http_header){"Host", x->authority};
  signed_hdrs[n++] = (struct http_header){"Content-Type", x->content_type};
  if (x->target)
    signed_hdrs[n++] = (struct http_header){"X-Amz-Target", x->target};

  char amz_date[17];
  sigv4_amz_date(clock_now(c), amz_date);
  struct sigv4_input in = {
      .method = "POST",
      .path = x->path,
      .query = NULL,
      .headers = signed_hdrs,
      .n_headers = n,
      .body = x->body,
      .body_len = x->body_len,
      .region = x->signing_region,
      .service = service_names[x->svc],
      .amz_date = amz_date,
      .normalize_path = true,
  };
  struct sigv4_creds sc = {
      .access_key_id = c->creds->access_key_id,
      .secret_access_key = c->creds->secret_access_key,
      .session_token = c->creds->session_token,
  };
  struct sigv4_output out;
  memset(&out, 0, sizeof out);
  enum err_code rc = sigv4_sign_headers(&in, &sc, &out, e);
  if (rc) {
    sigv4_output_release(&out);
    return rc;
  }
  /* Host travels as host_header (so it is exactly what was signed); the rest as headers. */
  struct http_header send[2 + SIGV4_MAX_ADDED];
  size_t m = 0;
  for (size_t i = 1; i < n; i++)
    send[m++] = signed_hdrs[i];
  for (size_t i = 0; i < out.n_added && i < SIGV4_MAX_ADDED; i++)
    send[m++] = out.added[i];
  struct http_request req = {
      .method = "POST",
      .url = url,
      .host_header = x->authority,
      .headers = send,
      .n_headers = m,
      .body = x->body,
      .body_len = x->body_len,
      .secret_body = x->secret_body,
      .timeout_ms = x->timeout_ms,
  };
  rc = http_perform(c->http, &req, resp, e);
  sigv4_output_release(&out);
  return rc;
}

/* awsJson1_1 error code resolution, as the SDKs do it: the x-amzn-ErrorType header, else the
 * body's "code", else its "__type"; then keep what lies after any "namespace#" and before any
 * ":url" suffix (aws-smithy-schema error_envelope.rs sanitize_error_code; the Amplify JS
 * parseJsonError also cuts at ','). */
static char *sanitize_error_code(const char *raw)
{
  struct sv v = sv_from(raw);
  const char *cut = v.p + strcspn(v.p, ":,");
  v.n = (size_t)(cut - v.p);
  for (size_t i = v.n; i > 0; i--) {
    if (v.p[i - 1] == '#') {
      v.p += i;
      v.n -= i;
      break;
    }
  }
  v = sv_trim_space(v);
  return v.n ? dup_clean(v, AWS_FIELD_MAX_BYTES) : NULL;
}

static void parse_json_error(const struct http_response *resp, char **code, char **message)
{
  json_t *root = NULL;
  if (resp->body.len) {
    json_error_t je;
    root = json_loadb(resp->body.p, resp->body.len, 0, &je);
  }
  const char *raw = resp->error_type && *resp->error_type ? resp->error_type : NULL;
  if (!raw && json_is_object(root)) {
    raw = json_string_value(json_object_get(root, "code"));
    if (!raw)
      raw = json_string_value(json_object_get(root, "__type"));
  }
  if (raw)
    *code = sanitize_error_code(raw);
  if (json_is_object(root)) {
    const char *msg = json_string_value(json_object_get(root, "message"));
    if (!msg)
      msg = json_string_value(json_object_get(root, "Message"));
    if (msg)
      *message = dup_clean(sv_from(msg), AWS_FIELD_MAX_BYTES);
  }
  json_decref(root);
}

/* ---- a small XML reader: enough for the STS answers, which have no namespaces prefixes,
 * comments or CDATA; anything it cannot read is simply not found ---- */

static bool xml_name_end(char ch)
{
  return ch == '>' || ch == '/' || ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* The content of the first element called name in in (empty for <name/>). */
static bool xml_find(struct sv in, const char *name, struct sv *inner)
{
  size_t nl = strlen(name);
  for (size_t i = 0; i + nl + 2 <= in.n; i++) {
    if (in.p[i] != '<' || memcmp(in.p + i + 1, name, nl) != 0 || !xml_name_end(in.p[i + 1 + nl]))
      continue;
    size_t j = i + 1 + nl;
    const char *gt = memchr(in.p + j, '>', in.n - j);
    if (!gt)
      return false;
    size_t start = (size_t)(gt - in.p) + 1;
    if (gt[-1] == '/') {
      *inner = (struct sv){in.p + start, 0};
      return true;
    }
    for (size_t k = start; k + nl + 3 <= in.n; k++) {
      if (in.p[k] != '<' || in.p[k + 1] != '/' || memcmp(in.p + k + 2, name, nl) != 0)
        continue;
      size_t m = k + 2 + nl;
      while (m < in.n && (in.p[m] == ' ' || in.p[m] == '\t' || in.p[m] == '\r' || in.p[m] == '\n'))
        m++;
      if (m < in.n && in.p[m] == '>') {
        *inner = (struct sv){in.p + start, k - start};
        return true;
      }
    }
    return false;
  }
  return false;
}

static void utf8_put(struct buf *b, unsigned long cp)
{
  char u[4];
  size_t n;
  if (cp < 0x80) {
    u[0] = (char)cp;
    n = 1;
  } else if (cp < 0x800) {
    u[0] = (char)(0xC0 | (cp >> 6));
    u[1] = (char)(0x80 | (cp & 0x3F));
    n = 2;
  } else if (cp < 0x10000) {
    u[0] = (char)(0xE0 | (cp >> 12));
    u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    u[2] = (char)(0x80 | (cp & 0x3F));
    n = 3;
  } else {
    u[0] = (char)(0xF0 | (cp >> 18));
    u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    u[3] = (char)(0x80 | (cp & 0x3F));
    n = 4;
  }
  (void)buf_append(b, u, n);
}

/* One entity at p (after '&', before ';'): appends its character and returns true, or false
 * when it is not one we know (the text is then kept as it came). */
static bool xml_entity(struct buf *b, struct sv ent)
{
  static const struct {
    const char *name;
    char ch;
  } named[] = {{"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
  for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
    if (sv_eq(ent, named[i].name)) {
      (void)buf_putc(b, named[i].ch);
      return true;
    }
  }
  if (ent.n < 2 || ent.p[0] != '#')
    return false;
  bool hex = ent.p[1] == 'x' || ent.p[1] == 'X';
  size_t i = hex ? 2 : 1;
  if (i == ent.n || ent.n - i > 8)
    return false;
  unsigned long cp = 0;
  for (; i < ent.n; i++) {
    char ch = ent.p[i];
    int d;
    if (ch >= '0' && ch <= '9')
      d = ch - '0';
    else if (hex && ch >= 'a' && ch <= 'f')
      d = ch - 'a' + 10;
    else if (hex && ch >= 'A' && ch <= 'F')
      d = ch - 'A' + 10;
    else
      return false;
    cp = cp * (hex ? 16u : 10u) + (unsigned long)d;
  }
  if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return false;
  utf8_put(b, cp);
  return true;
}

static char *xml_unescape(struct sv v)
{
  struct buf b;
  buf_init(&b, v.n + 1); /* an entity is never shorter than what it stands for */
  for (size_t i = 0; i < v.n; i++) {
    if (v.p[i] == '&') {
      const char *semi = memchr(v.p + i + 1, ';', v.n - i - 1 < 12 ? v.n - i - 1 : 12);
      if (semi) {
        struct sv ent = {v.p + i + 1, (size_t)(semi - (v.p + i + 1))};
        if (xml_entity(&b, ent)) {
          i = (size_t)(semi - v.p);
          continue;
        }
      }
    }
    (void)buf_putc(&b, v.p[i]);
  }
  char *s = buf_detach(&b);
  if (s)
    for (char *p = s; *p; p++)
      if ((unsigned char)*p < 0x20 || *p == 0x7f)
        *p = ' ';
  return s;
}

/* The unescaped, trimmed text of the first element called name in in, or NULL. */
static char *xml_text(struct sv in, const char *name)
{
  struct sv v;
  if (!xml_find(in, name, &v))
    return NULL;
  v = sv_trim_space(v);
  if (v.n > AWS_FIELD_MAX_BYTES)
    v.n = AWS_FIELD_MAX_BYTES;
  return xml_unescape(v);
}

static void parse_query_error(const struct http_response *resp, char **code, char **message,
                              char **request_id)
{
  struct sv body = {buf_str(&resp->body), resp->body.len};
  struct sv error;
  if (xml_find(body, "Error", &error)) {
    char *c = xml_text(error, "Code");
    if (c && *c)
      *code = c;
    else
      free(c);
    *message = xml_text(error, "Message");
  }
  if (!*request_id)
    *request_id = xml_text(body, "RequestId");
}

/* A short, printable excerpt of a body that is not AWS's (a proxy's HTML error page): tags
 * dropped, whitespace collapsed, at most AWS_EXCERPT_MAX_BYTES. */
static void body_excerpt(struct buf *out, const struct buf *body)
{
  bool in_tag = false, space = true, cut = false;
  size_t start = out->len;
  for (size_t i = 0; i < body->len; i++) {
    unsigned char ch = (unsigned char)body->p[i];
    if (ch == '<') {
      in_tag = true;
      ch = ' ';
    } else if (in_tag) {
      if (ch == '>')
        in_tag = false;
      continue;
    }
    if (ch <= 0x20 || ch == 0x7f)
      ch = ' ';
    else if (ch >= 0x80)
      ch = '?';
    if (ch == ' ') {
      if (space)
        continue;
      space = true;
    } else {
      space = false;
    }
    if (out->len - start >= AWS_EXCERPT_MAX_BYTES) {
      cut = true;
      break;
    }
    (void)buf_putc(out, (char)ch);
  }
  while (out->len > start && out->p[out->len - 1] == ' ')
    out->p[--out->len] = '\0';
  if (cut)
    (void)buf_puts(out, "...");
}

static char *generic_http_message(long status, const char *host, const struct buf *body)
{
  struct buf b;
  buf_init(&b, 512);
  (void)buf_printf(&b, "HTTP %ld from %s", status, host);
  size_t before = b.len;
  (void)buf_puts(&b, ": ");
  size_t mark = b.len;
  body_excerpt(&b, body);
  if (b.len == mark) {
    b.len = before;
    if (b.p)
      b.p[before] = '\0';
  }
  return buf_detach(&b);
}

static void note_clock_skew(const struct aws_client *c, const struct http_response *resp,
                            struct aws_call *call)
{
  if (!resp->date)
    return;
  time_t server = http_date_parse(resp->date);
  if (server == (time_t)-1)
    return;
  call->clock_skew_s = (long)(server - clock_now(c));
  call->clock_skew_known = true;
}

/* Frees what one attempt left in call, before the next. */
static void call_reset_attempt(struct aws_call *call)
{
  free(call->error_code);
  free(call->error_message);
  free(call->request_id);
  call->error_code = call->error_message = call->request_id = NULL;
  call->http_status = 0;
  call->transport = ERR_OK;
}

static const char *url_path(const char *url)
{
  const char *sep = strstr(url, "://");
  const char *slash = strchr(sep ? sep + 3 : url, '/');
  return slash ? slash : "/";
}

/* Sends x to the endpoint of x->svc, retrying as AWS standard mode does, and leaves the last
 * answer in resp. ERR_OK only for a 2xx. */
static enum err_code exchange_run(struct aws_client *c, struct exchange *x, const char *region,
                                  struct http_response *resp, struct aws_call *call, struct err *e)
{
  aws_call_release(call);
  const char *svc_name = service_names[x->svc];
  if (!c || !c->http)
    return err_set(e, ERR_INVALID, "no HTTP client for the %s call", svc_name);
  if (!x->unsigned_request &&
      (!c->creds || !c->creds->access_key_id || !c->creds->secret_access_key))
    return err_set(e, ERR_CREDENTIALS, "no credentials to sign the %s call with", svc_name);
  if (x->svc != SVC_ORGS && !region_ok(region))
    return err_set(e, ERR_INVALID, "'%.64s' is not a region name", region ? region : "");
  if (!partition_of(c, region))
    return err_set(e, ERR_INVALID, "unknown partition '%.32s'", c->partition ? c->partition : "");
  call->endpoint = aws_endpoint_url(c, svc_name, region);
  x->signing_region = aws_signing_region(c, svc_name, region);
  if (!call->endpoint || !x->signing_region)
    return err_set(e, ERR_NOMEM, "out of memory");
  x->authority = http_url_authority(call->endpoint);
  if (!x->authority)
    return err_set(e, ERR_INVALID, "endpoint for %s is not a URL", svc_name);
  x->path = url_path(call->endpoint);

  int max = c->max_attempts > 0 ? c->max_attempts : AWS_DEFAULT_MAX_ATTEMPTS;
  if (max > AWS_MAX_ATTEMPTS_LIMIT)
    max = AWS_MAX_ATTEMPTS_LIMIT;
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  enum err_code rc = ERR_OK;
  struct err last;
  err_clear(&last);
  bool not_aws = false; /* the last answer had no AWS error envelope */

  for (int attempt = 1;; attempt++) {
    call_reset_attempt(call);
    call->attempts = attempt;
    not_aws = false;
    err_clear(&last);
    if (c->deadline_ms) {
      long long left = c->deadline_ms - aws_monotonic_ms();
      if (left <= 0) {
        rc = err_set(&last, ERR_TIMEOUT, "no time left for %s (--timeout)", x->authority);
        call->transport = rc;
        call->error_message = str_dup(last.msg);
        break;
      }
      x->timeout_ms = (long)left;
    }
    rc = attempt_once(c, x, call->endpoint, resp, &last);
    bool retry = false;
    if (rc == ERR_OK) {
      call->http_status = resp->status;
      note_clock_skew(c, resp, call);
      if (resp->request_id)
        call->request_id = dup_clean(sv_from(resp->request_id), AWS_FIELD_MAX_BYTES);
      if (resp->status >= 200 && resp->status < 300)
        break;
      if (x->query)
        parse_query_error(resp, &call->error_code, &call->error_message, &call->request_id);
      else
        parse_json_error(resp, &call->error_code, &call->error_message);
      if (!call->error_code && !call->error_message) {
        call->error_message = generic_http_message(resp->status, x->authority, &resp->body);
        not_aws = true;
      }
      rc = ERR_AWS;
      retry = retryable_code(call->error_code) || retryable_status(resp->status);
    } else if (is_transport(rc)) {
      call->transport = rc;
      call->http_status = resp->status;
      call->error_message = str_dup(last.msg);
      retry = retryable_transport(rc);
    } else {
      break; /* signing failed, out of memory, a malformed request: trying again won't help */
    }
    if (!retry || attempt >= max)
      break;
    long wait_ms = backoff_ms(c, attempt);
    if (c->deadline_ms && aws_monotonic_ms() + wait_ms >= c->deadline_ms)
      break; /* the next attempt could not finish in time: the last answer stands */
    sleep_ms(wait_ms);
  }
  call->duration_ms = ms_since(&t0);

  if (rc == ERR_AWS) {
    if (not_aws) /* the message is ours already: "HTTP 502 from HOST: excerpt" */
      return err_set(e, ERR_AWS, "%s", call->error_message);
    const char *code = call->error_code ? call->error_code : "no error code";
    if (call->error_message)
      return err_set(e, ERR_AWS, "%s answered HTTP %ld, %s: %s", x->authority, call->http_status,
                     code, call->error_message);
    return err_set(e, ERR_AWS, "%s answered HTTP %ld, %s", x->authority, call->http_status, code);
  }
  if (rc != ERR_OK) {
    if (call->attempts > 1)
      return err_set(e, rc, "%.400s (after %d attempts)", last.msg, call->attempts);
    return err_set(e, rc, "%s", last.msg);
  }
  return ERR_OK;
}

static enum err_code json_call(struct aws_client *c, enum service svc, const char *region,
                               const char *target, json_t *request, json_t **response,
                               bool secret_body, struct aws_call *call, struct err *e)
{
  *response = NULL;
  char *body = request ? json_dumps(request, JSON_COMPACT) : str_dup("{}");
  if (!body) {
    aws_call_release(call);
    return err_set(e, request ? ERR_INVALID : ERR_NOMEM, "cannot encode the %s request", target);
  }
  struct exchange x = {
      .svc = svc,
      .content_type = "application/x-amz-json-1.1",
      .target = target,
      .body = body,
      .body_len = strlen(body),
      .secret_body = secret_body,
  };
  struct http_response resp;
  http_response_init(&resp);
  enum err_code rc = exchange_run(c, &x, region, &resp, call, e);
  if (rc == ERR_OK) {
    json_t *j = NULL;
    if (resp.body.len == 0) {
      j = json_object(); /* an operation without output may answer with no body */
    } else {
      json_error_t je;
      j = json_loadb(resp.body.p, resp.body.len, 0, &je);
    }
    if (!json_is_object(j)) {
      json_decref(j);
      rc = err_set(e, ERR_PARSE, "malformed answer from %s", x.authority);
      call->error_message = str_dup(e ? e->msg : "malformed answer");
    } else {
      *response = j;
    }
  }
  http_response_release(&resp);
  free(x.authority);
  free(body);
  return rc;
}

enum err_code aws_json_call(struct aws_client *c, const char *service, const char *region,
                            const char *target, json_t *request, json_t **response,
                            struct aws_call *call, struct err *e)
{
  int svc = service_from(service);
  if (svc < 0 || svc == SVC_STS || !target) {
    *response = NULL;
    aws_call_release(call);
    return err_set(e, ERR_INVALID, "no awsJson service called '%.32s'", service ? service : "");
  }
  return json_call(c, (enum service)svc, region, target, request, response, false, call, e);
}

enum err_code aws_query_call(struct aws_client *c, const char *service, const char *region,
                             const char *form, char **xml, struct aws_call *call, struct err *e)
{
  *xml = NULL;
  if (service_from(service) != SVC_STS || !form) {
    aws_call_release(call);
    return err_set(e, ERR_INVALID, "no query service called '%.32s'", service ? service : "");
  }
  struct exchange x = {
      .svc = SVC_STS,
      .content_type = "application/x-www-form-urlencoded; charset=utf-8",
      .body = form,
      .body_len = strlen(form),
      .query = true,
  };
  struct http_response resp;
  http_response_init(&resp);
  enum err_code rc = exchange_run(c, &x, region, &resp, call, e);
  if (rc == ERR_OK) {
    if (!call->request_id)
      call->request_id = xml_text((struct sv){buf_str(&resp.body), resp.body.len}, "RequestId");
    *xml = buf_detach(&resp.body);
    if (!*xml)
      rc = err_set(e, ERR_NOMEM, "out of memory");
  }
  http_response_release(&resp);
  free(x.authority);
  return rc;
}

/* "malformed answer from HOST" for a 2xx answer missing what the operation promises. */
static enum err_code malformed(const struct aws_call *call, struct err *e, const char *what)
{
  char *host = call->endpoint ? http_url_authority(call->endpoint) : NULL;
  err_set(e, ERR_PARSE, "malformed answer from %s: %s", host ? host : "AWS", what);
  free(host);
  return ERR_PARSE;
}

/* ---- STS ---- */

void sts_identity_release(struct sts_identity *id)
{
  if (!id)
    return;
  free(id->arn);
  free(id->account);
  free(id->user_id);
  memset(id, 0, sizeof *id);
}

enum err_code sts_get_caller_identity(struct aws_client *c, const char *region,
                                      struct sts_identity *out, struct aws_call *call,
                                      struct err *e)
{
  memset(out, 0, sizeof *out);
  char *xml = NULL;
  enum err_code rc = aws_query_call(c, "sts", region, "Action=GetCallerIdentity&Version=2011-06-15",
                                    &xml, call, e);
  if (rc)
    return rc;
  struct sv result;
  if (xml_find(sv_from(xml), "GetCallerIdentityResult", &result)) {
    out->arn = xml_text(result, "Arn");
    out->account = xml_text(result, "Account");
    out->user_id = xml_text(result, "UserId");
  }
  free(xml);
  if (!out->arn || !*out->arn || !out->account || !*out->account) {
    sts_identity_release(out);
    rc = malformed(call, e, "no Arn or Account in GetCallerIdentityResult");
    call->error_message = str_dup(e ? e->msg : "malformed answer");
  }
  return rc;
}

/* ---- ECR ---- */

void ecr_auth_release(struct ecr_auth *a)
{
  if (!a)
    return;
  str_free_secret(a->password);
  free(a->proxy_endpoint);
  memset(a, 0, sizeof *a);
}

enum err_code ecr_get_authorization_token(struct aws_client *c, const char *region,
                                          struct ecr_auth *out, struct aws_call *call,
                                          struct err *e)
{
  memset(out, 0, sizeof *out);
  json_t *resp = NULL;
  /* secret_body: the HTTP layer keeps the answer in a buffer it wipes. jansson then copies
   * the token into its own string (wiped below, before json_decref) and, while lexing, into a
   * scratch buffer it frees without wiping: that copy we cannot reach. */
  enum err_code rc = json_call(c, SVC_ECR, region, ECR_TARGET_PREFIX "GetAuthorizationToken", NULL,
                               &resp, true, call, e);
  if (rc)
    return rc;
  json_t *data = json_array_get(json_object_get(resp, "authorizationData"), 0);
  json_t *tok = json_object_get(data, "authorizationToken");
  char *decoded = NULL;
  size_t decoded_len = 0;
  if (!json_is_string(tok)) {
    rc = malformed(call, e, "no authorizationData[0].authorizationToken");
    goto out;
  }
  if (crypto_base64_decode(json_string_value(tok), json_string_length(tok), &decoded,
                           &decoded_len) != ERR_OK ||
      !decoded) {
    rc = malformed(call, e, "the authorization token is not base64");
    goto out;
  }
  /* The token is base64("AWS:" + password); the message never quotes any of it. */
  if (decoded_len <= 4 || memcmp(decoded, "AWS:", 4) != 0 ||
      memchr(decoded, '\0', decoded_len) != NULL) {
    rc = malformed(call, e, "the authorization token does not decode to 'AWS:password'");
    goto out;
  }
  out->password = malloc(decoded_len - 4 + 1);
  if (!out->password) {
    rc = err_set(e, ERR_NOMEM, "out of memory");
    goto out;
  }
  memcpy(out->password, decoded + 4, decoded_len - 4);
  out->password[decoded_len - 4] = '\0';
  const char *proxy = json_string_value(json_object_get(data, "proxyEndpoint"));
  if (proxy && !(out->proxy_endpoint = str_dup(proxy))) {
    rc = err_set(e, ERR_NOMEM, "out of memory");
    goto out;
  }
  out->expires_at = json_number_value(json_object_get(data, "expiresAt"));

out:
  if (decoded) {
    mem_wipe(decoded, decoded_len);
    free(decoded);
  }
  /* jansson's string is ours to overwrite: it is about to be freed with the tree. */
  if (json_is_string(tok))
    mem_wipe((char *)json_string_value(tok), json_string_length(tok));
  json_decref(resp);
  if (rc) {
    ecr_auth_release(out);
    if (rc == ERR_PARSE && !call->error_message)
      call->error_message = str_dup(e ? e->msg : "malformed answer");
  }
  return rc;
}

/* {"registryId"?, "repositoryName"} or NULL when out of memory or not UTF-8. */
static json_t *repo_request(const char *registry_id, const char *repository)
{
  json_t *o = json_object();
  if (!o)
    return NULL;
  if ((registry_id && json_object_set_new(o, "registryId", json_string(registry_id)) != 0) ||
      json_object_set_new(o, "repositoryName", json_string(repository)) != 0) {
    json_decref(o);
    return NULL;
  }
  return o;
}

/* Adds "imageIds": [{"imageTag"?, "imageDigest"?}]. */
static int add_image_ids(json_t *o, const char *tag, const char *digest)
{
  json_t *id = json_object();
  json_t *ids = json_array();
  int bad = !id || !ids;
  if (!bad && tag)
    bad |= json_object_set_new(id, "imageTag", json_string(tag));
  if (!bad && digest)
    bad |= json_object_set_new(id, "imageDigest", json_string(digest));
  /* The *_new calls take the reference even when they fail, hence the NULLs. */
  if (!bad) {
    bad |= json_array_append_new(ids, id);
    id = NULL;
  }
  if (!bad) {
    bad |= json_object_set_new(o, "imageIds", ids);
    ids = NULL;
  }
  json_decref(id);
  json_decref(ids);
  return bad ? -1 : 0;
}

static enum err_code image_call(struct aws_client *c, const char *region, const char *op,
                                const char *registry_id, const char *repository, const char *tag,
                                const char *digest, bool media_types, json_t **response,
                                struct aws_call *call, struct err *e)
{
  *response = NULL;
  if (!repository || (!tag && !digest)) {
    aws_call_release(call);
    return err_set(e, ERR_INVALID, "%s needs a repository and a tag or a digest", op);
  }
  json_t *req = repo_request(registry_id, repository);
  int bad = !req || add_image_ids(req, tag, digest) != 0;
  if (!bad && media_types) {
    /* What containerd asks a registry for: Docker v2 and OCI manifests and indexes. */
    json_t *types = json_pack("[ssss]", "application/vnd.docker.distribution.manifest.v2+json",
                              "application/vnd.docker.distribution.manifest.list.v2+json",
                              "application/vnd.oci.image.manifest.v1+json",
                              "application/vnd.oci.image.index.v1+json");
    bad = json_object_set_new(req, "acceptedMediaTypes", types) != 0;
  }
  if (bad) {
    json_decref(req);
    aws_call_release(call);
    return err_set(e, ERR_INVALID, "cannot build the %s request (names must be UTF-8)", op);
  }
  struct buf target;
  buf_init(&target, 128);
  enum err_code rc = buf_printf(&target, ECR_TARGET_PREFIX "%s", op);
  if (rc == ERR_OK)
    rc = json_call(c, SVC_ECR, region, buf_str(&target), req, response, false, call, e);
  else
    rc = err_set(e, rc, "cannot build the %s request", op);
  buf_release(&target);
  json_decref(req);
  return rc;
}

enum err_code ecr_batch_get_image(struct aws_client *c, const char *region, const char *registry_id,
                                  const char *repository, const char *tag, const char *digest,
                                  json_t **response, struct aws_call *call, struct err *e)
{
  return image_call(c, region, "BatchGetImage", registry_id, repository, tag, digest, true,
                    response, call, e);
}

enum err_code ecr_describe_images(struct aws_client *c, const char *region, const char *registry_id,
                                  const char *repository, const char *tag, const char *digest,
                                  json_t **response, struct aws_call *call, struct err *e)
{
  return image_call(c, region, "DescribeImages", registry_id, repository, tag, digest, false,
                    response, call, e);
}

enum err_code ecr_describe_tagged_images(struct aws_client *c, const char *region,
                                         const char *registry_id, const char *repository,
                                         json_t **response, struct aws_call *call, struct err *e)
{
  *response = NULL;
  json_t *req = repo_request(registry_id, repository);
  if (!req || json_object_set_new(req, "filter", json_pack("{s:s}", "tagStatus", "TAGGED")) ||
      json_object_set_new(req, "maxResults", json_integer(1000))) {
    json_decref(req);
    aws_call_release(call);
    return err_set(e, ERR_INVALID, "cannot build the DescribeImages request");
  }
  enum err_code rc = json_call(c, SVC_ECR, region, ECR_TARGET_PREFIX "DescribeImages", req,
                               response, false, call, e);
  json_decref(req);
  return rc;
}

/* A call whose answer is one string field (policyText, setting value): *out is a copy. */
static enum err_code string_field_call(struct aws_client *c, const char *region, const char *op,
                                       json_t *req, const char *field, char **out,
                                       struct aws_call *call, struct err *e)
{
  *out = NULL;
  json_t *resp = NULL;
  char target[128];
  snprintf(target, sizeof target, "%s%s", ECR_TARGET_PREFIX, op);
  enum err_code rc = json_call(c, SVC_ECR, region, target, req, &resp, false, call, e);
  if (rc)
    return rc;
  const char *text = json_string_value(json_object_get(resp, field));
  if (!text) {
    char what[64];
    snprintf(what, sizeof what, "no %s", field);
    rc = malformed(call, e, what);
    call->error_message = str_dup(e ? e->msg : "malformed answer");
  } else if (!(*out = str_dup(text))) {
    rc = err_set(e, ERR_NOMEM, "out of memory");
  }
  json_decref(resp);
  return rc;
}

enum err_code ecr_get_repository_policy(struct aws_client *c, const char *region,
                                        const char *registry_id, const char *repository,
                                        char **policy_text, struct aws_call *call, struct err *e)
{
  *policy_text = NULL;
  json_t *req = repository ? repo_request(registry_id, repository) : NULL;
  if (!req) {
    aws_call_release(call);
    return err_set(e, ERR_INVALID, "GetRepositoryPolicy needs a repository");
  }
  enum err_code rc =
      string_field_call(c, region, "GetRepositoryPolicy", req, "policyText", policy_text, call, e);
  json_decref(req);
  return rc;
}

enum err_code ecr_get_registry_policy(struct aws_client *c, const char *region, char **policy_text,
                                      struct aws_call *call, struct err *e)
{
  return string_field_call(c, region, "GetRegistryPolicy", NULL, "policyText", policy_text, call,
                           e);
}

enum err_code ecr_get_account_setting(struct aws_client *c, const char *region, const char *name,
                                      char **value, struct aws_call *call, struct err *e)
{
  json_t *req = json_pack("{s:s}", "name", name ? name : "");
  if (!req || !name) {
    json_decref(req);
    *value = NULL;
    aws_call_release(call);
    return err_set(e, ERR_INVALID, "GetAccountSetting needs a setting name");
  }
  enum err_code rc =
      string_field_call(c, region, "GetAccountSetting", req, "value", value, call, e);
  json_decref(req);
  return rc;
}

/* A listing of registry_id's (NULL: the caller's) items, one page of up to 1000. */
static enum err_code registry_list_call(struct aws_client *c, const char *region, const char *op,
                                        const char *registry_id, json_t **response,
                                        struct aws_call *call, struct err *e)
{
  *response = NULL;
  char target[128];
  snprintf(target, sizeof target, "%s%s", ECR_TARGET_PREFIX, op);
  json_t *req = json_pack("{s:i}", "maxResults", 1000);
  if (!req || (registry_id && json_object_set_new(req, "registryId", json_string(registry_id)))) {
    json_decref(req);
    aws_call_release(call);
    return err_set(e, ERR_INVALID, "cannot build the %s request", op);
  }
  enum err_code rc = json_call(c, SVC_ECR, region, target, req, response, false, call, e);
  json_decref(req);
  return rc;
}

enum err_code ecr_describe_repositories(struct aws_client *c, const char *region,
                                        const char *registry_id, json_t **response,
                                        struct aws_call *call, struct err *e)
{
  return registry_list_call(c, region, "DescribeRepositories", registry_id, response, call, e);
}

enum err_code ecr_describe_pull_through_cache_rules(struct aws_client *c, const char *region,
                                                    const char *registry_id, json_t **response,
                                                    struct aws_call *call, struct err *e)
{
  return registry_list_call(c, region, "DescribePullThroughCacheRules", registry_id, response, call,
                            e);
}

/* ---- Organizations ---- */

enum err_code orgs_describe_organization(struct aws_client *c, json_t **response,
                                         struct aws_call *call, struct err *e)
{
  return json_call(c, SVC_ORGS, NULL, ORGS_TARGET_PREFIX "DescribeOrganization", NULL, response,
                   false, call, e);
}

/* ---- STS sessions (AssumeRole, AssumeRoleWithWebIdentity) for the credential chain ---- */

#define STS_FORM_MAX_BYTES 65536

void sts_credentials_release(struct sts_credentials *c)
{
  if (!c)
    return;
  free(c->access_key_id);
  str_free_secret(c->secret_access_key);
  str_free_secret(c->session_token);
  free(c->assumed_role_arn);
  memset(c, 0, sizeof *c);
}

/* RFC 3986 unreserved characters stay, everything else is %XX: the query protocol's form
 * encoding as the SDKs send it. */
static void form_put(struct buf *b, const char *name, const char *value)
{
  static const char hex[] = "0123456789ABCDEF";
  (void)buf_printf(b, "&%s=", name);
  for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
        *p == '-' || *p == '_' || *p == '.' || *p == '~') {
      (void)buf_putc(b, (char)*p);
    } else {
      char pct[3] = {'%', hex[*p >> 4], hex[*p & 15]};
      (void)buf_append(b, pct, 3);
    }
  }
}

/* "2011-07-15T23:28:33.359Z" (STS writes milliseconds) or without them, as epoch seconds. */
static time_t sts_time(const char *s)
{
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  int parts[6] = {0};
  const char *p = s;
  static const char seps[] = "--T::";
  for (int i = 0; i < 6; i++) {
    int n = 0, v = 0;
    while (p && *p >= '0' && *p <= '9' && n < 4) {
      v = v * 10 + (*p++ - '0');
      n++;
    }
    if (!p || n == 0)
      return 0;
    parts[i] = v;
    if (i < 5) {
      if (*p != seps[i])
        return 0;
      p++;
    }
  }
  tm.tm_year = parts[0] - 1900;
  tm.tm_mon = parts[1] - 1;
  tm.tm_mday = parts[2];
  tm.tm_hour = parts[3];
  tm.tm_min = parts[4];
  tm.tm_sec = parts[5];
  time_t t = timegm(&tm);
  return t == (time_t)-1 ? 0 : t;
}

/* A secret element's text in one allocation (xml_text grows a plain buffer, which could
 * leave partial copies in freed memory). Keys and session tokens are base64-like and carry no
 * entities; one that does goes through xml_text. */
static char *xml_secret(struct sv in, const char *name)
{
  struct sv v;
  if (!xml_find(in, name, &v))
    return NULL;
  v = sv_trim_space(v);
  if (memchr(v.p, '&', v.n))
    return xml_text(in, name);
  return sv_dup(v);
}

/* Reads <Credentials> and <AssumedRoleUser><Arn> out of an AssumeRole* answer. */
static enum err_code sts_session_from_xml(const struct aws_call *call, const char *xml,
                                          const char *result_name, struct sts_credentials *out,
                                          struct err *e)
{
  struct sv result, creds, user;
  if (!xml_find(sv_from(xml), result_name, &result) || !xml_find(result, "Credentials", &creds))
    return malformed(call, e, "no Credentials in the answer");
  out->access_key_id = xml_text(creds, "AccessKeyId");
  out->secret_access_key = xml_secret(creds, "SecretAccessKey");
  out->session_token = xml_secret(creds, "SessionToken");
  char *exp = xml_text(creds, "Expiration");
  out->expiration = exp ? sts_time(exp) : 0;
  free(exp);
  if (xml_find(result, "AssumedRoleUser", &user))
    out->assumed_role_arn = xml_text(user, "Arn");
  if (!out->access_key_id || !*out->access_key_id || !out->secret_access_key ||
      !*out->secret_access_key || !out->session_token || !*out->session_token) {
    sts_credentials_release(out);
    return malformed(call, e, "incomplete Credentials in the answer");
  }
  return ERR_OK;
}

static enum err_code sts_session_call(struct aws_client *c, const char *region,
                                      const struct sts_assume_role_params *p, bool web_identity,
                                      struct sts_credentials *out, struct aws_call *call,
                                      struct err *e)
{
  memset(out, 0, sizeof *out);
  const char *action = web_identity ? "AssumeRoleWithWebIdentity" : "AssumeRole";
  if (!p || !p->role_arn || !*p->role_arn || !p->role_session_name || !*p->role_session_name ||
      (web_identity && (!p->web_identity_token || !*p->web_identity_token))) {
    aws_call_release(call);
    return err_set(e, ERR_INVALID, "%s needs a role ARN and a session name%s", action,
                   web_identity ? " and a token" : "");
  }
  struct buf form;
  buf_init_secret(&form, STS_FORM_MAX_BYTES);
  (void)buf_printf(&form, "Action=%s&Version=2011-06-15", action);
  form_put(&form, "RoleArn", p->role_arn);
  form_put(&form, "RoleSessionName", p->role_session_name);
  if (p->duration_seconds > 0)
    (void)buf_printf(&form, "&DurationSeconds=%ld", p->duration_seconds);
  if (!web_identity && p->external_id && *p->external_id)
    form_put(&form, "ExternalId", p->external_id);
  if (web_identity)
    form_put(&form, "WebIdentityToken", p->web_identity_token);
  if (!form.p || form.len >= STS_FORM_MAX_BYTES) {
    buf_release(&form);
    aws_call_release(call);
    return err_set(e, ERR_TOO_LARGE, "the %s request is too large", action);
  }
  struct exchange x = {
      .svc = SVC_STS,
      .content_type = "application/x-www-form-urlencoded; charset=utf-8",
      .body = form.p,
      .body_len = form.len,
      .secret_body = true, /* the answer holds a secret key and a session token */
      .query = true,
      .unsigned_request = web_identity,
  };
  struct http_response resp;
  http_response_init(&resp);
  enum err_code rc = exchange_run(c, &x, region, &resp, call, e);
  if (rc == ERR_OK) {
    struct sv body = {buf_str(&resp.body), resp.body.len};
    if (!call->request_id)
      call->request_id = xml_text(body, "RequestId");
    struct buf name;
    buf_init(&name, 64);
    (void)buf_printf(&name, "%sResult", action);
    rc = sts_session_from_xml(call, buf_str(&resp.body), buf_str(&name), out, e);
    buf_release(&name);
    if (rc && !call->error_message)
      call->error_message = str_dup(e ? e->msg : "malformed answer");
  }
  http_response_release(&resp);
  free(x.authority);
  buf_release(&form);
  return rc;
}

enum err_code sts_assume_role(struct aws_client *c, const char *region,
                              const struct sts_assume_role_params *p, struct sts_credentials *out,
                              struct aws_call *call, struct err *e)
{
  return sts_session_call(c, region, p, false, out, call, e);
}

enum err_code sts_assume_role_with_web_identity(struct aws_client *c, const char *region,
                                                const struct sts_assume_role_params *p,
                                                struct sts_credentials *out, struct aws_call *call,
                                                struct err *e)
{
  return sts_session_call(c, region, p, true, out, call, e);
}
