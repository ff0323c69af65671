/* Unit tests for src/aws/aws.c: endpoint resolution, error envelopes, retries and the
 * operations, against a fake AWS on loopback started in a thread by each test. The fake
 * checks that requests carry the SigV4 headers; it does not verify signatures (the Python
 * simulator does that end to end). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ecrdiag/aws.h"

#include "support/fake_server.h"

/* ---- tests ---- */

#define AKID "AKIDEXAMPLE"
#define TOKEN "session-token-example"
#define TARGET_PREFIX "AmazonEC2ContainerRegistry_V20150921."

static char akid[] = AKID;
static char secret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
static char token[] = TOKEN;
static char source[] = "env";
static const struct aws_creds test_creds = {
    .access_key_id = akid, .secret_access_key = secret, .session_token = token, .source = source};

/* 2023-11-14T22:13:20Z */
static time_t fixed_now(void)
{
  return 1700000000;
}

/* One fake AWS and a client pointed at it for every service. */
struct fixture {
  struct fake_server s;
  struct http_client *http;
  struct aws_endpoints ep; /* borrowed strings: never aws_endpoints_release'd */
  struct aws_client c;
  char base[64];
};

static void fx_start(struct fixture *f, const struct fake_answer *a, size_t n)
{
  fs_start(&f->s, a, n);
  struct err e = {0};
  /* A short timeout: a retry the test did not expect meets a server with no answer left. */
  f->http = http_client_new(&(struct http_options){.timeout_ms = 2000}, &e);
  assert_non_null(f->http);
  snprintf(f->base, sizeof f->base, "http://127.0.0.1:%d", f->s.port);
  f->ep = (struct aws_endpoints){.ecr = f->base, .sts = f->base, .organizations = f->base};
  f->c = (struct aws_client){.http = f->http,
                             .creds = &test_creds,
                             .endpoints = &f->ep,
                             .partition = "aws",
                             .retry_base_ms = 1,
                             .now = fixed_now};
}

static void fx_stop(struct fixture *f)
{
  http_client_free(f->http);
  fs_stop(&f->s);
}

/* Does the request carry header name (any case) with a value starting with prefix? */
static bool has_header(const char *req, const char *name, const char *prefix)
{
  size_t nl = strlen(name);
  const char *end = strstr(req, "\r\n\r\n");
  for (const char *p = strstr(req, "\r\n"); p && (!end || p < end); p = strstr(p + 2, "\r\n")) {
    const char *line = p + 2;
    if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
      const char *v = line + nl + 1;
      while (*v == ' ')
        v++;
      if (strncmp(v, prefix, strlen(prefix)) == 0)
        return true;
    }
  }
  return false;
}

static const char *req_body(const char *req)
{
  const char *b = strstr(req, "\r\n\r\n");
  return b ? b + 4 : "";
}

#define JSON_200(body)                                              \
  "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\n" \
  "x-amzn-RequestId: rid-ok\r\nConnection: close\r\n\r\n" body
#define JSON_ERR(status, extra, body)                                   \
  "HTTP/1.1 " status "\r\nContent-Type: application/x-amz-json-1.1\r\n" \
  "x-amzn-RequestId: rid-err\r\n" extra "Connection: close\r\n\r\n" body

/* ---- endpoints ---- */

static void test_endpoint_table(void **state)
{
  (void)state;
  static const struct {
    const char *partition;
    bool fips;
    const char *service, *region, *url, *signing;
  } cases[] = {
      {"aws", false, "ecr", "us-east-1", "https://api.ecr.us-east-1.amazonaws.com", "us-east-1"},
      {"aws", false, "sts", "eu-west-1", "https://sts.eu-west-1.amazonaws.com", "eu-west-1"},
      {"aws", false, "organizations", "eu-west-1", "https://organizations.us-east-1.amazonaws.com",
       "us-east-1"},
      {"aws", true, "ecr", "us-east-2", "https://ecr-fips.us-east-2.amazonaws.com", "us-east-2"},
      {"aws", true, "sts", "us-west-2", "https://sts-fips.us-west-2.amazonaws.com", "us-west-2"},
      {"aws", true, "organizations", "us-west-2",
       "https://organizations-fips.us-east-1.amazonaws.com", "us-east-1"},
      {"aws-cn", false, "ecr", "cn-north-1", "https://api.ecr.cn-north-1.amazonaws.com.cn",
       "cn-north-1"},
      {"aws-cn", false, "sts", "cn-northwest-1", "https://sts.cn-northwest-1.amazonaws.com.cn",
       "cn-northwest-1"},
      {"aws-cn", false, "organizations", "cn-north-1",
       "https://organizations.cn-northwest-1.amazonaws.com.cn", "cn-northwest-1"},
      {"aws-us-gov", false, "ecr", "us-gov-east-1", "https://api.ecr.us-gov-east-1.amazonaws.com",
       "us-gov-east-1"},
      {"aws-us-gov", false, "sts", "us-gov-west-1", "https://sts.us-gov-west-1.amazonaws.com",
       "us-gov-west-1"},
      {"aws-us-gov", false, "organizations", "us-gov-east-1",
       "https://organizations.us-gov-west-1.amazonaws.com", "us-gov-west-1"},
      {"aws-us-gov", true, "ecr", "us-gov-west-1", "https://ecr-fips.us-gov-west-1.amazonaws.com",
       "us-gov-west-1"},
      {"aws-us-gov", true, "sts", "us-gov-east-1", "https://sts.us-gov-east-1.amazonaws.com",
       "us-gov-east-1"},
      {"aws-us-gov", true, "organizations", NULL,
       "https://organizations.us-gov-west-1.amazonaws.com", "us-gov-west-1"},
      /* No partition given: the region says which. */
      {NULL, false, "ecr", "cn-northwest-1", "https://api.ecr.cn-northwest-1.amazonaws.com.cn",
       "cn-northwest-1"},
      {NULL, false, "organizations", "us-gov-west-1",
       "https://organizations.us-gov-west-1.amazonaws.com", "us-gov-west-1"},
      {NULL, false, "sts", "ap-southeast-2", "https://sts.ap-southeast-2.amazonaws.com",
       "ap-southeast-2"},
      {NULL, false, "organizations", NULL, "https://organizations.us-east-1.amazonaws.com",
       "us-east-1"},
      /* Refused: a region that would change the host, an unknown partition or service. */
      {"aws", false, "ecr", "us-east-1.evil.example/", NULL, NULL},
      {"aws", false, "ecr", "", NULL, NULL},
      {"aws", false, "ecr", NULL, NULL, NULL},
      {"aws-iso", false, "ecr", "us-iso-east-1", NULL, NULL},
      {"aws", false, "s3", "us-east-1", NULL, NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct aws_client c = {.partition = cases[i].partition, .fips = cases[i].fips};
    char *url = aws_endpoint_url(&c, cases[i].service, cases[i].region);
    const char *signing = aws_signing_region(&c, cases[i].service, cases[i].region);
    if (cases[i].url) {
      if (!url || strcmp(url, cases[i].url) != 0)
        fail_msg("case %zu: url %s, want %s", i, url ? url : "NULL", cases[i].url);
      if (!signing || strcmp(signing, cases[i].signing) != 0)
        fail_msg("case %zu: signing %s, want %s", i, signing ? signing : "NULL", cases[i].signing);
    } else if (url) {
      fail_msg("case %zu: url %s, want NULL", i, url);
    }
    free(url);
  }
}

static void test_endpoint_overrides(void **state)
{
  (void)state;
  char ecr[] = "http://localhost:4566";
  char orgs[] = "https://orgs.internal:8443/prefix";
  struct aws_endpoints ep = {.ecr = ecr, .organizations = orgs};
  struct aws_client c = {.endpoints = &ep, .partition = "aws", .fips = true};
  char *u = aws_endpoint_url(&c, "ecr", "eu-west-1");
  assert_string_equal(u, "http://localhost:4566");
  free(u);
  u = aws_endpoint_url(&c, "sts", "eu-west-1");
  assert_string_equal(u, "https://sts-fips.eu-west-1.amazonaws.com");
  free(u);
  u = aws_endpoint_url(&c, "organizations", "eu-west-1");
  assert_string_equal(u, "https://orgs.internal:8443/prefix");
  free(u);
  /* The signing region does not move with the endpoint. */
  assert_string_equal(aws_signing_region(&c, "organizations", "eu-west-1"), "us-east-1");
  assert_string_equal(aws_signing_region(&c, "ecr", "eu-west-1"), "eu-west-1");
}

static const char *const endpoint_vars[] = {
    "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_ECR", "AWS_ENDPOINT_URL_STS",
    "AWS_ENDPOINT_URL_ORGANIZATIONS", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"};

static int clear_endpoint_env(void **state)
{
  (void)state;
  for (size_t i = 0; i < sizeof endpoint_vars / sizeof endpoint_vars[0]; i++)
    unsetenv(endpoint_vars[i]);
  return 0;
}

static void test_endpoints_from_env(void **state)
{
  (void)state;
  struct aws_endpoints ep;
  struct err e = {0};
  assert_int_equal(aws_endpoints_from_env(&ep, &e), ERR_OK);
  assert_null(ep.ecr);
  assert_null(ep.sts);
  assert_null(ep.organizations);

  setenv("AWS_ENDPOINT_URL", "http://localhost:4566", 1);
  setenv("AWS_ENDPOINT_URL_ECR", "https://ecr.local:9443/", 1);
  setenv("AWS_ENDPOINT_URL_STS", "", 1); /* empty: falls back to the global one */
  assert_int_equal(aws_endpoints_from_env(&ep, &e), ERR_OK);
  assert_string_equal(ep.ecr, "https://ecr.local:9443/");
  assert_string_equal(ep.sts, "http://localhost:4566");
  assert_string_equal(ep.organizations, "http://localhost:4566");
  aws_endpoints_release(&ep);
  assert_null(ep.ecr);

  setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "TRUE", 1);
  assert_int_equal(aws_endpoints_from_env(&ep, &e), ERR_OK);
  assert_null(ep.ecr);
  assert_null(ep.sts);
  unsetenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");

  setenv("AWS_ENDPOINT_URL_STS", "ftp://sts.local", 1);
  assert_int_equal(aws_endpoints_from_env(&ep, &e), ERR_INVALID);
  assert_non_null(strstr(e.msg, "AWS_ENDPOINT_URL_STS"));
  assert_null(ep.ecr);
  unsetenv("AWS_ENDPOINT_URL_STS");

  setenv("AWS_ENDPOINT_URL", "localhost:4566", 1);
  assert_int_equal(aws_endpoints_from_env(&ep, &e), ERR_INVALID);
  assert_non_null(strstr(e.msg, "AWS_ENDPOINT_URL "));
  unsetenv("AWS_ENDPOINT_URL");

  static const char *const bad[] = {"http://", "https://h/x?y=1", "http://h h/", "http://h:99999/"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    setenv("AWS_ENDPOINT_URL_ORGANIZATIONS", bad[i], 1);
    if (aws_endpoints_from_env(&ep, &e) != ERR_INVALID)
      fail_msg("%s accepted", bad[i]);
    assert_non_null(strstr(e.msg, "AWS_ENDPOINT_URL_ORGANIZATIONS"));
  }
  aws_endpoints_release(&ep);
  aws_endpoints_release(NULL);
}

/* ---- ECR GetAuthorizationToken and the signed request ---- */

static void test_get_authorization_token(void **state)
{
  (void)state;
  static const struct fake_answer a[] = {
      {JSON_200("{\"authorizationData\":[{\"authorizationToken\":\"QVdTOnMzY3IzdC1wYXNz\","
                "\"proxyEndpoint\":\"https://123456789012.dkr.ecr.us-east-1.amazonaws.com\","
                "\"expiresAt\":1700043200.5}]}"),
       false},
  };
  struct fixture f;
  fx_start(&f, a, 1);
  struct ecr_auth auth;
  struct aws_call call;
  aws_call_init(&call);
  struct err e = {0};
  assert_int_equal(ecr_get_authorization_token(&f.c, "us-east-1", &auth, &call, &e), ERR_OK);
  assert_string_equal(auth.password, "s3cr3t-pass");
  assert_string_equal(auth.proxy_endpoint, "https://123456789012.dkr.ecr.us-east-1.amazonaws.com");
  assert_true(auth.expires_at > 1700043200.4 && auth.expires_at < 1700043200.6);
  assert_int_equal(call.attempts, 1);
  assert_int_equal(call.http_status, 200);
  assert_string_equal(call.request_id, "rid-ok");
  assert_string_equal(call.endpoint, f.base);
  assert_int_equal(call.transport, ERR_OK);
  assert_null(call.error_code);
  ecr_auth_release(&auth);
  assert_null(auth.password);
  aws_call_release(&call);
  fx_stop(&f);

  const char *q = f.s.requests[0];
  char host[64];
  snprintf(host, sizeof host, "127.0.0.1:%d", f.s.port);
  assert_non_null(strstr(q, "POST / HTTP/1.1\r\n"));
  assert_true(has_header(q, "host", host));
  assert_true(has_header(q, "content-type", "application/x-amz-json-1.1"));
  assert_true(has_header(q, "x-amz-target", TARGET_PREFIX "GetAuthorizationToken"));
  assert_true(has_header(q, "x-amz-date", "20231114T221320Z"));
  assert_true(has_header(q, "x-amz-security-token", TOKEN));
  assert_true(has_header(q, "authorization",
                         "AWS4-HMAC-SHA256 Credential=" AKID
                         "/20231114/us-east-1/ecr/aws4_request"));
  assert_string_equal(req_body(q), "{}");
}

static void test_authorization_token_without_prefix(void **state)
{
  (void)state;
  static const struct fake_answer a[] = {
      {JSON_200("{\"authorizationData\":[{\"authorizationToken\":\"dXNlcjpwYXNz\"}]}"), false},
      {JSON_200("{\"authorizationData\":[{\"authorizationToken\":\"%%%not base64\"}]}"), false},
      {JSON_200("{\"authorizationData\":[]}"), false},
  };
  struct fixture f;
  fx_start(&f, a, 3);
  for (int i = 0; i < 3; i++) {
    struct ecr_auth auth;
    struct aws_call call;
    aws_call_init(&call);
    struct err e = {0};
    assert_int_equal(ecr_get_authorization_token(&f.c, "us-east-1", &auth, &call, &e), ERR_PARSE);
    assert_null(auth.password);
    assert_non_null(strstr(e.msg, "malformed answer from 127.0.0.1"));
    assert_null(strstr(e.msg, "dXNlcjpwYXNz"));
    assert_null(strstr(e.msg, "user:pass"));
    assert_non_null(call.error_message);
    assert_int_equal(call.attempts, 1);
    ecr_auth_release(&auth);
    aws_call_release(&call);
  }
  fx_stop(&f);
}

/* ---- awsJson errors ---- */

static void check_json_error(const char *raw, long status, const char *code, const char *message)
{
  const struct fake_answer a[] = {{raw, false}};
  struct fixture f;
  fx_start(&f, a, 1);
  f.c.max_attempts = 1;
  json_t *resp = (json_t *)1;
  struct aws_call call;
  aws_call_init(&call);
  struct err e = {0};
  assert_int_equal(aws_json_call(&f.c, "ecr", "us-east-1", TARGET_PREFIX "DescribeRepositories",
                                 NULL, &resp, &call, &e),
                   ERR_AWS);
  assert_null(resp);
  assert_int_equal(call.http_status, status);
  if (code)
    assert_string_equal(call.error_code, code);
  else
    assert_null(call.error_code);
  if (message)
    assert_string_equal(call.error_message, message);
  assert_string_equal(call.request_id, "rid-err");
  assert_int_equal(e.code, ERR_AWS);
  assert_non_null(strstr(e.msg, "127.0.0.1"));
  if (code)
    assert_non_null(strstr(e.msg, code));
  aws_call_release(&call);
  fx_stop(&f);
}

static void test_json_error_forms(void **state)
{
  (void)state;
  check_json_error(JSON_ERR("400 Bad Request", "",
                            "{\"__type\":\"com.amazonaws.ecr#RepositoryNotFoundException\","
                            "\"message\":\"The repository with name 'x' does not exist\"}"),
                   400, "RepositoryNotFoundException",
                   "The repository with name 'x' does not exist");
  check_json_error(JSON_ERR("400 Bad Request", "",
                            "{\"__type\":\"aws.protocoltests#FooError:http://internal.amazon.com/"
                            "coral/com.amazon.coral.validate/\",\"Message\":\"capital M\"}"),
                   400, "FooError", "capital M");
  check_json_error(JSON_ERR("400 Bad Request", "", "{\"__type\":\"PlainError\"}"), 400,
                   "PlainError", NULL);
  check_json_error(
      JSON_ERR("400 Bad Request", "", "{\"code\":\"FromCodeField\",\"message\":\"m\"}"), 400,
      "FromCodeField", "m");
  /* The header wins over the body. */
  check_json_error(
      JSON_ERR("403 Forbidden",
               "X-Amzn-ErrorType: AccessDeniedException:http://internal.amazon.com/\r\n",
               "{\"__type\":\"Other\",\"message\":\"User: arn:aws:iam::1:user/u is not "
               "authorized\"}"),
      403, "AccessDeniedException", "User: arn:aws:iam::1:user/u is not authorized");
  /* Not AWS at all: a proxy's page. */
  check_json_error(
      "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nx-amzn-RequestId: rid-err\r\n"
      "Connection: close\r\n\r\n<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n"
      "<body>\x1b[31m<h1>Bad   Gateway</h1></body></html>\r\n",
      502, NULL, NULL);
}

static void test_non_aws_error_message(void **state)
{
  (void)state;
  static const struct fake_answer a[] = {
      {"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n"
       "<html><head><title>502 Bad "
       "Gateway</title></head>\n<body>\x1b[31mupstream\tdown</body></html>",
       false},
      {"HTTP/1.1 418 I'm a teapot\r\nConnection: close\r\n\r\n", false},
  };
  struct fixture f;
  fx_start(&f, a, 2);
  f.c.max_attempts = 1;
  char want[160];
  snprintf(want, sizeof want, "HTTP 502 from 127.0.0.1:%d: 502 Bad Gateway [31mupstream down",
           f.s.port);
  json_t *resp = NULL;
  struct aws_call call;
  aws_call_init(&call);
  struct err e = {0};
  assert_int_equal(orgs_describe_organization(&f.c, &resp, &call, &e), ERR_AWS);
  assert_null(call.error_code);
  assert_null(call.request_id);
  assert_string_equal(call.error_message, want);
  assert_string_equal(e.msg, want);
  snprintf(want, sizeof want, "HTTP 418 from 127.0.0.1:%d", f.s.port);
  assert_int_equal(orgs_describe_organization(&f.c, &resp, &call, &e), ERR_AWS);
  assert_string_equal(call.error_message, want);
  assert_string_equal(e.msg, want);
  assert_int_equal(call.http_status, 418);
  aws_call_release(&call);
  fx_stop(&f);
}

static void test_malformed_success(void **state)
{
  (void)state;
  static const struct fake_answer a[] = {
      {JSON_200("{\"truncated\": "), false},
      {JSON_200("[1, 2]"), false},
  };
  struct fixture f;
  fx_start(&f, a, 2);
  for (int i = 0; i < 2; i++) {
    json_t *resp = NULL;
    struct aws_call call;
    aws_call_init(&call);
    struct err e = {0};
    assert_int_equal(
        aws_json_call(&f.c, "ecr", "us-east-1", TARGET_PREFIX "X", NULL, &resp, &call, &e),
        ERR_PARSE);
    assert_null(resp);
    assert_non_null(strstr(e.msg, "malformed answer from 127.0.0.1"));
    assert_int_equal(call.attempts, 1);
    aws_call_release(&call);
  }
  fx_stop(&f);
}

/* ---- retries ---- */

static void test_retry_throttling_then_success(void **state)
{
  (void)state;
  static const struct fake_answer a[] = {
      {JSON_ERR("400 Bad Request", "", "{\"__type\":\"ThrottlingException\",\"message\":\"slow\"}"),
       false},
      {JSON_ERR("400 Bad Request", "", "{\"__type\":\"ThrottlingException\",\"message\":\"slow\"}"),
       false},
      {JSON_200("{\"images\":[],\"failures\":[]}"), false},
  };
  struct fixture f;
  fx_start(&f, a, 3);
  json_t *resp = NULL;
  struct aws_call call;
  aws_call_init(&call);
  struct err e = {0};
  assert_int_equal(ecr_batch_get_image(&f.c, "us-east-1", "123456789012", "team/app", "v1", NULL,
                                       &resp, &call, &e),
                   ERR_OK);
  assert_int_equal(call.attempts, 3);
  assert_int_equal(call.http_status, 200);
  assert_null(call.error_code);
  assert_null(call.error_message);
  assert_string_equal(call.request_id, "rid-ok");
  assert_true(json_is_array(json_object_get(resp, "images")));
  json_decref(resp);
  aws_call_release(&call);
  fx_stop(&f);
  assert_int_equal(f.s.n_served, 3);
  /* Every attempt is signed afresh. */
  for (int i = 0; i < 3; i++)
    assert_true(has_header(f.s.requests[i], "authorization", "AWS4-HMAC-SHA256 "));

  json_error_t je;
  json_t *sent = json_loads(req_body(f.s.requests[0]), 0, &je);
  assert_non_null(sent);
  assert_string_equal(json_string_value(json_object_get(sent, "registryId")), "123456789012");
  assert_string_equal(json_string_value(json_object_get(sent, "repositoryName")), "team/app");
  json_t *ids = json_object_get(sent, "imageIds");
  assert_int_equal(json_array_size(ids), 1);
  assert_string_equal(json_string_value(json_object_get(json_array_get(ids, 0), "imageTag")), "v1");
  assert_null(json_object_get(json_array_get(ids, 0), "imageDigest"));
  json_t *types = json_object_get(sent, "acceptedMediaTypes");
  assert_int_equal(json_array_size(types), 4);
  assert_string_equal(json_string_value(json_array_get(types, 0)),
                      "application/vnd.docker.distribution.manifest.v2+json");
  assert_string_equal(json_string_value(json_array_get(types, 1)),
                      "application/vnd.docker.distribution.manifest.list.v2+json");
  assert_string_equal(json_string_value(json_array_get(types, 2)),
                      "application/vnd.oci.image.manifest.v1+json");
  assert_string_equal(json_string_value(json_array_get(types, 3)),
                      "application/vnd.oci.image.index.v1+json");
  json_decref(sent);
  assert_true(has_header(f.s.requests[0], "x-amz-target", TARGET_PREFIX "BatchGetImage"));
}

static void test_no_retry_on_access_denied(void **state)
{
  (void)state;
  /* One answer only: a wrong retry would meet silence and time out. */
  static const struct fake_answer a[] = {
      {JSON_ERR("400 Bad Request", "",
                "{\"__type\":\"AccessDeniedException\",\"message\":\"not authorized\"}"),
       false},
  };
  struct fixture f;
  fx_start(&f, a, 1);
  json_t *resp = NULL;
  struct aws_call call;
  aws_call_init(&call);
  struct err e = {0};
  assert_int_equal(
      ecr_describe_images(&f.c, "us-east-1", NULL, "app", NULL, "sha256:abc", &resp, &call, &e),
      ERR_AWS);
  assert_int_equal(call.attempts, 1);
  assert_string_equal(call.error_code, "AccessDeniedException");
  assert_string_equal(call.error_message, "not authorized");
  assert_int_equal(call.http_status, 400);
  assert_int_equal(call.transport, ERR_OK);
  aws_call_release(&call);
  fx_stop(&f);
  json_error_t je;
  json_t *sent = json_loads(req_body(f.s.requests[0]), 0, &je);
  assert_null(json_object_get(sent, "registryId"));
  assert_null(json_object_get(sent, "acceptedMediaTypes"));
  json_t *id = json_array_get(json_object_get(sent, "imageIds"), 0);
  assert_string_equal(json_string_value(json_object_get(id, "imageDigest")), "sha256:abc");
  assert_null(json_object_get(id, "imageTag"));
  json_decref(sent);
  assert_true(has_header(f.s.requests[0], "x-amz-target", TARGET_PREFIX "DescribeImages"));
}

static void test_retry_on_503(void **state)
{
  (void)state;
  static const struct fake_answer a[] = {
      {"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n", false},
      {JSON_200("{\"policyText\":\"{\\\"Version\\\":\\\"2012-10-17\\\"}\"}"), false},
  };
  struct fixture f;
  fx_start(&f, a, 2);
  char *policy = NULL;
  struct aws_call call;
  aws_call_init(&call);
  assert_int_equal(ecr_get_repository_policy(&f.c, "us-east-1", NULL, "app", &policy, &call, NULL),
                   ERR_OK);
  assert_int_equal(call.attempts, 2);
  assert_string_equal(policy, "{\"Version\":\"2012-10-17\"}");
  free(policy);
  aws_call_release(&call);
  fx_stop(&f);
  assert_true(has_header(f.s.requests[1], "x-amz-target", TARGET_PREFIX "GetRepositoryPolicy"));
}

static void test_503_every_time(void **state)
{
  (void)state;
  static const struct fake_answer a[] = {
      {"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n", false},
      {"HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\n\r\n", false},
      {"HTTP/1.1 504 Gateway Timeout\r\nConnection: close\r\n\r\n", false},
  };
  struct fixture f;
  fx_start(&f, a, 3);
  json_t *resp = NULL;
  struct aws_call call;
  aws_call_init(&call);
  assert_int_equal(orgs_describe_organization(&f.c, &resp, &call, NULL), ERR_AWS);
  assert_int_equal(call.attempts, 3);
  assert_int_equal(call.http_status, 504);
  aws_call_release(&call);
  fx_stop(&f);
}

static void test_repository_policy_not_found(void **state)
{
  (void)state;
  static const struct fake_answer a[] = {
      {JSON_ERR("400 Bad Request", "",
                "{\"__type\":\"RepositoryPolicyNotFoundException\",\"message\":\"none\"}"),
       false},
  };
  struct fixture f;
  fx_start(&f, a, 1);
  char *policy = (char *)1;
  struct aws_call call;
  aws_call_init(&call);
  assert_int_equal(ecr_get_repository_policy(&f.c, "us-east-1", "1", "app", &policy, &call, NULL),
                   ERR_AWS);
  assert_null(policy);
  assert_string_equal(call.error_code, "RepositoryPolicyNotFoundException");
  aws_call_release(&call);
  fx_stop(&f);
}

/* The registry view's reads: each sends its operation and request, and reads its one field. */
static void test_registry_view_calls(void **state)
{
  (void)state;
  static const struct fake_answer a[] = {
      {JSON_200("{\"registryId\":\"632000001762\",\"policyText\":\"{\\\"Version\\\":\\\"2012-10-"
                "17\\\"}\"}"),
       false},
      {JSON_200("{\"name\":\"REGISTRY_POLICY_SCOPE\",\"value\":\"V1\"}"), false},
      {JSON_200("{\"pullThroughCacheRules\":[{\"ecrRepositoryPrefix\":\"docker-hub\"}]}"), false},
      {JSON_ERR("400 Bad Request", "",
                "{\"__type\":\"RegistryPolicyNotFoundException\",\"message\":\"none\"}"),
       false},
      {JSON_200("{\"name\":\"REGISTRY_POLICY_SCOPE\"}"), false},
      {JSON_200("{\"repositories\":[{\"repositoryName\":\"audit/sa/cicd-runner\"}]}"), false},
  };
  struct fixture f;
  fx_start(&f, a, 6);
  struct aws_call call;
  aws_call_init(&call);
  struct err e = {0};
  char *text = NULL;
  json_t *resp = NULL;
  assert_int_equal(ecr_get_registry_policy(&f.c, "ap-southeast-1", &text, &call, &e), ERR_OK);
  assert_string_equal(text, "{\"Version\":\"2012-10-17\"}");
  free(text);
  assert_int_equal(
      ecr_get_account_setting(&f.c, "ap-southeast-1", "REGISTRY_POLICY_SCOPE", &text, &call, &e),
      ERR_OK);
  assert_string_equal(text, "V1");
  free(text);
  assert_int_equal(ecr_describe_pull_through_cache_rules(&f.c, "ap-southeast-1", "632000001762",
                                                         &resp, &call, &e),
                   ERR_OK);
  assert_string_equal(json_string_value(json_object_get(
                          json_array_get(json_object_get(resp, "pullThroughCacheRules"), 0),
                          "ecrRepositoryPrefix")),
                      "docker-hub");
  json_decref(resp);
  text = (char *)1;
  assert_int_equal(ecr_get_registry_policy(&f.c, "ap-southeast-1", &text, &call, &e), ERR_AWS);
  assert_null(text);
  assert_string_equal(call.error_code, "RegistryPolicyNotFoundException");
  /* A 200 without the field is a malformed answer, never an empty setting. */
  assert_int_equal(
      ecr_get_account_setting(&f.c, "ap-southeast-1", "REGISTRY_POLICY_SCOPE", &text, &call, &e),
      ERR_PARSE);
  assert_null(text);
  assert_non_null(strstr(e.msg, "no value"));
  assert_int_equal(
      ecr_describe_repositories(&f.c, "ap-southeast-1", "632000001762", &resp, &call, &e), ERR_OK);
  assert_int_equal(json_array_size(json_object_get(resp, "repositories")), 1);
  json_decref(resp);
  aws_call_release(&call);
  fx_stop(&f);

  assert_true(has_header(f.s.requests[0], "x-amz-target", TARGET_PREFIX "GetRegistryPolicy"));
  assert_string_equal(req_body(f.s.requests[0]), "{}");
  assert_true(has_header(f.s.requests[1], "x-amz-target", TARGET_PREFIX "GetAccountSetting"));
  assert_string_equal(req_body(f.s.requests[1]), "{\"name\":\"REGISTRY_POLICY_SCOPE\"}");
  assert_true(
      has_header(f.s.requests[2], "x-amz-target", TARGET_PREFIX "DescribePullThroughCacheRules"));
  json_t *req = json_loads(req_body(f.s.requests[2]), 0, NULL);
  assert_int_equal(json_integer_value(json_object_get(req, "maxResults")), 1000);
  assert_string_equal(json_string_value(json_object_get(req, "registryId")), "632000001762");
  json_decref(req);
  assert_true(has_header(f.s.requests[5], "x-amz-target", TARGET_PREFIX "DescribeRepositories"));
  assert_true(has_header(f.s.requests[0], "authorization",
                         "AWS4-HMAC-SHA256 Credential=" AKID
                         "/20231114/ap-southeast-1/ecr/aws4_request"));
}

static void test_transport_retries(void **state)
{
  (void)state;
  /* Refused three times: retried, and the record says so. */
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", fs_closed_port());
  struct http_client *http = http_client_new(NULL, NULL);
  struct aws_endpoints ep = {.sts = url};
  struct aws_client c = {.http = http, .creds = &test_creds, .endpoints = &ep, .retry_base_ms = 1};
  struct sts_identity id;
  struct aws_call call;
  aws_call_init(&call);
  struct err e = {0};
  assert_int_equal(sts_get_caller_identity(&c, "us-east-1", &id, &call, &e), ERR_CONNECT);
  assert_int_equal(call.attempts, 3);
  assert_int_equal(call.transport, ERR_CONNECT);
  assert_int_equal(call.http_status, 0);
  assert_non_null(call.error_message);
  assert_non_null(strstr(e.msg, "3 attempts"));
  assert_null(id.arn);

  /* A name that does not resolve is not retried. */
  char bad[] = "http://ecrdiag-test.invalid";
  ep.sts = bad;
  assert_int_equal(sts_get_caller_identity(&c, "us-east-1", &id, &call, &e), ERR_DNS);
  assert_int_equal(call.attempts, 1);
  assert_int_equal(call.transport, ERR_DNS);
  assert_string_equal(call.endpoint, bad);
  aws_call_release(&call);
  http_client_free(http);
}

/* ---- STS query protocol ---- */

static void test_sts_success(void **state)
{
  (void)state;
  static const struct fake_answer a[] = {
      {"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nDate: Tue, 14 Nov 2023 22:15:00 GMT\r\n"
       "Connection: close\r\n\r\n"
       "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
       "  <GetCallerIdentityResult>\n"
       "    <Arn>arn:aws:sts::123456789012:assumed-role/node-role/i-0abc</Arn>\n"
       "    <UserId>AROAEXAMPLE:i-0abc&amp;&#x41;&#66;</UserId>\n"
       "    <Account>123456789012</Account>\n"
       "  </GetCallerIdentityResult>\n"
       "  <ResponseMetadata>\n    <RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId>\n"
       "  </ResponseMetadata>\n</GetCallerIdentityResponse>\n",
       false},
  };
  struct fixture f;
  fx_start(&f, a, 1);
  struct sts_identity id;
  struct aws_call call;
  aws_call_init(&call);
  struct err e = {0};
  assert_int_equal(sts_get_caller_identity(&f.c, "eu-west-1", &id, &call, &e), ERR_OK);
  assert_string_equal(id.arn, "arn:aws:sts::123456789012:assumed-role/node-role/i-0abc");
  assert_string_equal(id.account, "123456789012");
  assert_string_equal(id.user_id, "AROAEXAMPLE:i-0abc&AB");
  assert_string_equal(call.request_id, "01234567-89ab-cdef-0123-456789abcdef");
  assert_true(call.clock_skew_known);
  assert_int_equal(call.clock_skew_s, 100);
  sts_identity_release(&id);
  assert_null(id.arn);
  aws_call_release(&call);
  fx_stop(&f);
  const char *q = f.s.requests[0];
  assert_true(has_header(q, "content-type", "application/x-www-form-urlencoded; charset=utf-8"));
  assert_false(has_header(q, "x-amz-target", ""));
  assert_true(has_header(q, "authorization",
                         "AWS4-HMAC-SHA256 Credential=" AKID
                         "/20231114/eu-west-1/sts/aws4_request"));
  assert_true(has_header(q, "x-amz-security-token", TOKEN));
  assert_string_equal(req_body(q), "Action=GetCallerIdentity&Version=2011-06-15");
}

static void test_sts_error_and_throttle(void **state)
{
  (void)state;
  static const struct fake_answer a[] = {
      {"HTTP/1.1 403 Forbidden\r\nContent-Type: text/xml\r\nConnection: close\r\n\r\n"
       "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
       "  <Error>\n    <Type>Sender</Type>\n    <Code>InvalidClientTokenId</Code>\n"
       "    <Message>The security token included in the request is invalid &amp; &lt;x&gt; "
       "&quot;q&quot; &apos;a&apos; &bogus;</Message>\n"
       "  </Error>\n  <RequestId>abc-123</RequestId>\n</ErrorResponse>\n",
       false},
      {"HTTP/1.1 400 Bad Request\r\nx-amzn-RequestId: hdr-rid\r\nConnection: close\r\n\r\n"
       "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
       "<Message>Rate exceeded</Message></Error><RequestId>body-rid</RequestId></ErrorResponse>",
       false},
      {"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
       "<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::1:user/u</Arn>"
       "<Account>1</Account><UserId/></GetCallerIdentityResult></GetCallerIdentityResponse>",
       false},
      {"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n<NotWhatWeAskedFor/>", false},
  };
  struct fixture f;
  fx_start(&f, a, 4);
  struct sts_identity id;
  struct aws_call call;
  aws_call_init(&call);
  struct err e = {0};
  assert_int_equal(sts_get_caller_identity(&f.c, "us-east-1", &id, &call, &e), ERR_AWS);
  assert_int_equal(call.attempts, 1);
  assert_int_equal(call.http_status, 403);
  assert_string_equal(call.error_code, "InvalidClientTokenId");
  assert_string_equal(call.error_message, "The security token included in the request is invalid "
                                          "& <x> \"q\" 'a' &bogus;");
  assert_string_equal(call.request_id, "abc-123");
  assert_non_null(strstr(e.msg, "InvalidClientTokenId"));
  assert_null(id.arn);

  /* Throttling (an XML <Code>), then the answer. */
  assert_int_equal(sts_get_caller_identity(&f.c, "us-east-1", &id, &call, &e), ERR_OK);
  assert_int_equal(call.attempts, 2);
  assert_string_equal(id.arn, "arn:aws:iam::1:user/u");
  assert_string_equal(id.user_id, "");
  sts_identity_release(&id);

  assert_int_equal(sts_get_caller_identity(&f.c, "us-east-1", &id, &call, &e), ERR_PARSE);
  assert_non_null(strstr(e.msg, "malformed answer from 127.0.0.1"));
  assert_null(id.arn);
  aws_call_release(&call);
  fx_stop(&f);
}

/* ---- Organizations ---- */

static void test_orgs_signed_for_home_region(void **state)
{
  (void)state;
  static const struct fake_answer a[] = {
      {JSON_200("{\"Organization\":{\"Id\":\"o-abc123\"}}"), false},
  };
  struct fixture f;
  fx_start(&f, a, 1);
  json_t *resp = NULL;
  struct aws_call call;
  aws_call_init(&call);
  assert_int_equal(orgs_describe_organization(&f.c, &resp, &call, NULL), ERR_OK);
  assert_string_equal(
      json_string_value(json_object_get(json_object_get(resp, "Organization"), "Id")), "o-abc123");
  assert_false(call.clock_skew_known);
  json_decref(resp);
  aws_call_release(&call);
  fx_stop(&f);
  const char *q = f.s.requests[0];
  assert_true(has_header(q, "x-amz-target", "AWSOrganizationsV20161128.DescribeOrganization"));
  assert_true(has_header(q, "authorization",
                         "AWS4-HMAC-SHA256 Credential=" AKID
                         "/20231114/us-east-1/organizations/aws4_request"));
}

static void test_bad_arguments(void **state)
{
  (void)state;
  struct http_client *http = http_client_new(NULL, NULL);
  struct aws_client c = {.http = http, .creds = &test_creds};
  struct aws_call call;
  aws_call_init(&call);
  json_t *resp = NULL;
  struct err e = {0};
  assert_int_equal(ecr_batch_get_image(&c, "us-east-1", NULL, "app", NULL, NULL, &resp, &call, &e),
                   ERR_INVALID);
  assert_int_equal(
      ecr_batch_get_image(&c, "us-east-1/../x", NULL, "app", "t", NULL, &resp, &call, &e),
      ERR_INVALID);
  assert_int_equal(aws_json_call(&c, "sts", "us-east-1", "X", NULL, &resp, &call, &e), ERR_INVALID);
  char *text = NULL;
  assert_int_equal(ecr_get_account_setting(&c, "us-east-1", NULL, &text, &call, &e), ERR_INVALID);
  assert_null(text);
  c.partition = "aws-iso";
  assert_int_equal(orgs_describe_organization(&c, &resp, &call, &e), ERR_INVALID);
  c.partition = NULL;
  c.creds = NULL;
  assert_int_equal(orgs_describe_organization(&c, &resp, &call, &e), ERR_CREDENTIALS);
  assert_int_equal(call.attempts, 0);
  aws_call_release(&call);
  aws_call_release(NULL);
  http_client_free(http);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_endpoint_table),
      cmocka_unit_test(test_endpoint_overrides),
      cmocka_unit_test_setup_teardown(test_endpoints_from_env, clear_endpoint_env,
                                      clear_endpoint_env),
      cmocka_unit_test(test_get_authorization_token),
      cmocka_unit_test(test_authorization_token_without_prefix),
      cmocka_unit_test(test_json_error_forms),
      cmocka_unit_test(test_non_aws_error_message),
      cmocka_unit_test(test_malformed_success),
      cmocka_unit_test(test_retry_throttling_then_success),
      cmocka_unit_test(test_no_retry_on_access_denied),
      cmocka_unit_test(test_retry_on_503),
      cmocka_unit_test(test_503_every_time),
      cmocka_unit_test(test_repository_policy_not_found),
      cmocka_unit_test(test_registry_view_calls),
      cmocka_unit_test(test_transport_retries),
      cmocka_unit_test(test_sts_success),
      cmocka_unit_test(test_sts_error_and_throttle),
      cmocka_unit_test(test_orgs_signed_for_home_region),
      cmocka_unit_test(test_bad_arguments),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
