/* Unit tests for src/aws/http.c against a fake HTTP server on loopback, started in a thread
 * by each test: canned answers, recorded requests, bounded by a deadline so a broken client
 * cannot hang the suite. No network beyond 127.0.0.1 (the .invalid lookup fails locally). */
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

#include "ecrdiag/http.h"

#include "support/fake_server.h"

static char *url_for(const struct fake_server *s, const char *path)
{
  static char url[256];
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", s->port, path);
  return url;
}

/* ---- tests ---- */

static void test_status_body_and_headers(void **state)
{
  (void)state;
  static const struct fake_answer a[] = {
      {"HTTP/1.1 404 Not Found\r\n"
       "Content-Type: application/json\r\n"
       "LOCATION: https://elsewhere.example/x\r\n"
       "www-authenticate: Basic realm=\"a\"\r\n"
       "WWW-Authenticate: Bearer realm=\"b\"\r\n"
       "X-Amz-Request-Id: second-choice\r\n"
       "x-amzn-RequestId: 1234-abcd\r\n"
       "Docker-Content-Digest: sha256:feed\r\n"
       "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
       "X-Amzn-ErrorType:  RepositoryNotFoundException:http://internal/  \r\n"
       "Content-Length: 11\r\n"
       "Connection: close\r\n\r\n"
       "{\"a\":\"b\"}\r\n",
       false},
  };
  struct fake_server s;
  fs_start(&s, a, 1);
  struct err e = {0};
  struct http_client *c = http_client_new(NULL, &e);
  assert_non_null(c);
  struct http_response r;
  http_response_init(&r);
  struct http_request req = {.method = "GET", .url = url_for(&s, "/v2/")};
  assert_int_equal(http_perform(c, &req, &r, &e), ERR_OK);
  assert_int_equal(r.status, 404);
  assert_int_equal(r.body.len, 11);
  assert_string_equal(buf_str(&r.body), "{\"a\":\"b\"}\r\n");
  assert_false(r.body.secret);
  assert_string_equal(r.content_type, "application/json");
  assert_string_equal(r.location, "https://elsewhere.example/x");
  assert_string_equal(r.www_authenticate, "Basic realm=\"a\", Bearer realm=\"b\"");
  assert_string_equal(r.request_id, "1234-abcd");
  assert_string_equal(r.docker_content_digest, "sha256:feed");
  assert_string_equal(r.date, "Sun, 06 Nov 1994 08:49:37 GMT");
  assert_string_equal(r.error_type, "RepositoryNotFoundException:http://internal/");
  assert_true(r.duration_ms >= 0);
  http_response_release(&r);
  http_client_free(c);
  fs_stop(&s);
  assert_int_equal(s.n_served, 1);
  assert_non_null(strstr(s.requests[0], "GET /v2/ HTTP/1.1\r\n"));
  assert_non_null(strstr(s.requests[0], "User-Agent: ecrdiag/" ECRDIAG_VERSION "\r\n"));
}

static void test_amz_request_id_fallback_and_no_headers(void **state)
{
  (void)state;
  static const struct fake_answer a[] = {
      {"HTTP/1.1 200 OK\r\nx-amz-request-id: only-this\r\nContent-Length: 0\r\n"
       "Connection: close\r\n\r\n",
       false},
  };
  struct fake_server s;
  fs_start(&s, a, 1);
  struct http_client *c = http_client_new(NULL, NULL);
  struct http_response r;
  http_response_init(&r);
  struct http_request req = {.method = "GET", .url = url_for(&s, "/")};
  assert_int_equal(http_perform(c, &req, &r, NULL), ERR_OK);
  assert_int_equal(r.status, 200);
  assert_string_equal(r.request_id, "only-this");
  assert_null(r.content_type);
  assert_null(r.date);
  assert_null(r.error_type);
  assert_int_equal(r.body.len, 0);
  http_response_release(&r);
  http_client_free(c);
  fs_stop(&s);
}

static void test_post_with_host_override_and_headers(void **state)
{
  (void)state;
  static const struct fake_answer a[] = {
      {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}", false},
  };
  struct fake_server s;
  fs_start(&s, a, 1);
  struct err e = {0};
  struct http_client *c = http_client_new(NULL, &e);
  struct http_response r;
  http_response_init(&r);
  /* Larger than curl's 1 KiB threshold for "Expect: 100-continue", which we switch off. */
  char body[3000];
  memset(body, 'x', sizeof body);
  struct http_header h[] = {{"X-Amz-Target", "Svc.Op"}, {"Authorization", "AWS4-HMAC-SHA256 sig"}};
  struct http_request req = {.method = "POST",
                             .url = url_for(&s, "/"),
                             .host_header = "123456789012.dkr.ecr.us-east-1.amazonaws.com",
                             .headers = h,
                             .n_headers = 2,
                             .body = body,
                             .body_len = sizeof body,
                             .secret_body = true};
  assert_int_equal(http_perform(c, &req, &r, &e), ERR_OK);
  assert_int_equal(r.status, 200);
  assert_true(r.body.secret);
  http_response_release(&r);
  http_client_free(c);
  fs_stop(&s);
  const char *q = s.requests[0];
  assert_non_null(strstr(q, "POST / HTTP/1.1\r\n"));
  assert_non_null(strstr(q, "\r\nHost: 123456789012.dkr.ecr.us-east-1.amazonaws.com\r\n"));
  assert_null(strstr(q, "Host: 127.0.0.1"));
  assert_non_null(strstr(q, "\r\nX-Amz-Target: Svc.Op\r\n"));
  assert_non_null(strstr(q, "\r\nAuthorization: AWS4-HMAC-SHA256 sig\r\n"));
  assert_null(strstr(q, "Expect:"));
  assert_null(strstr(q, "expect:"));
  assert_non_null(strstr(q, "Content-Length: 3000\r\n"));
  const char *b = strstr(q, "\r\n\r\n");
  assert_non_null(b);
  assert_int_equal(strlen(b + 4), sizeof body);
}

static void test_head_uses_nobody(void **state)
{
  (void)state;
  static const struct fake_answer a[] = {
      {"HTTP/1.1 200 OK\r\nContent-Length: 123456\r\nDocker-Content-Digest: sha256:1\r\n"
       "Connection: close\r\n\r\n",
       false},
  };
  struct fake_server s;
  fs_start(&s, a, 1);
  struct http_client *c = http_client_new(&(struct http_options){.max_body_bytes = 16}, NULL);
  struct http_response r;
  http_response_init(&r);
  struct http_request req = {.method = "HEAD", .url = url_for(&s, "/v2/r/manifests/t")};
  assert_int_equal(http_perform(c, &req, &r, NULL), ERR_OK);
  assert_int_equal(r.status, 200);
  assert_string_equal(r.docker_content_digest, "sha256:1");
  assert_int_equal(r.body.len, 0);
  http_response_release(&r);
  http_client_free(c);
  fs_stop(&s);
  assert_non_null(strstr(s.requests[0], "HEAD /v2/r/manifests/t HTTP/1.1\r\n"));
}

static void test_body_cap(void **state)
{
  (void)state;
  /* Once with a Content-Length that already says too much, once close-delimited so the
   * write callback has to count. */
  static const struct fake_answer a[] = {
      {"HTTP/1.1 200 OK\r\nContent-Length: 64\r\nConnection: close\r\n\r\n"
       "0123456789012345678901234567890123456789012345678901234567890123",
       false},
      {"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
       "0123456789012345678901234567890123456789012345678901234567890123",
       false},
  };
  struct fake_server s;
  fs_start(&s, a, 2);
  struct http_client *c = http_client_new(NULL, NULL);
  for (int i = 0; i < 2; i++) {
    struct err e = {0};
    struct http_response r;
    http_response_init(&r);
    struct http_request req = {.method = "GET", .url = url_for(&s, "/big"), .max_body_bytes = 10};
    assert_int_equal(http_perform(c, &req, &r, &e), ERR_TOO_LARGE);
    assert_int_equal(e.code, ERR_TOO_LARGE);
    assert_non_null(strstr(e.msg, "127.0.0.1"));
    assert_true(r.body.len <= 10);
    http_response_release(&r);
  }
  http_client_free(c);
  fs_stop(&s);
}

static void test_headers_only_stops_after_headers(void **state)
{
  (void)state;
  /* A "layer" that would take forever: headers, a little body, then nothing. */
  static const struct fake_answer a[] = {
      {"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\nContent-Type: application/octet-stream\r\n"
       "Docker-Content-Digest: sha256:layer\r\n\r\nsome bytes",
       true},
  };
  struct fake_server s;
  fs_start(&s, a, 1);
  struct http_client *c = http_client_new(&(struct http_options){.max_body_bytes = 100}, NULL);
  struct http_response r;
  http_response_init(&r);
  struct err e = {0};
  struct http_request req = {.method = "GET",
                             .url = url_for(&s, "/v2/r/blobs/sha256:layer"),
                             .headers_only = true,
                             .timeout_ms = 5000};
  long long t0 = fs_now_ms();
  assert_int_equal(http_perform(c, &req, &r, &e), ERR_OK);
  assert_true(fs_now_ms() - t0 < 3000);
  assert_int_equal(r.status, 200);
  assert_string_equal(r.docker_content_digest, "sha256:layer");
  assert_int_equal(r.body.len, 0);
  http_response_release(&r);
  http_client_free(c);
  fs_stop(&s);
}

static void test_timeout(void **state)
{
  (void)state;
  static const struct fake_answer a[] = {{NULL, false}};
  struct fake_server s;
  fs_start(&s, a, 1);
  struct http_client *c = http_client_new(NULL, NULL);
  struct http_response r;
  http_response_init(&r);
  struct err e = {0};
  struct http_request req = {.method = "GET", .url = url_for(&s, "/slow"), .timeout_ms = 300};
  long long t0 = fs_now_ms();
  assert_int_equal(http_perform(c, &req, &r, &e), ERR_TIMEOUT);
  long long took = fs_now_ms() - t0;
  assert_true(took >= 250 && took < 3000);
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(e.msg, "127.0.0.1"));
  http_response_release(&r);
  http_client_free(c);
  fs_stop(&s);
}

static void test_connection_refused_names_host_not_query(void **state)
{
  (void)state;
  char url[256];
  int port = fs_closed_port();
  snprintf(url, sizeof url, "http://127.0.0.1:%d/x?X-Amz-Signature=deadbeef", port);
  struct http_client *c = http_client_new(NULL, NULL);
  struct http_response r;
  http_response_init(&r);
  struct err e = {0};
  struct http_request req = {.method = "GET", .url = url};
  assert_int_equal(http_perform(c, &req, &r, &e), ERR_CONNECT);
  assert_int_equal(e.code, ERR_CONNECT);
  char hostport[64];
  snprintf(hostport, sizeof hostport, "'127.0.0.1:%d'", port);
  assert_non_null(strstr(e.msg, hostport));
  assert_null(strstr(e.msg, "Signature"));
  assert_null(strstr(e.msg, "deadbeef"));
  http_response_release(&r);
  http_client_free(c);
}

static void test_dns_failure(void **state)
{
  (void)state;
  struct http_client *c = http_client_new(NULL, NULL);
  struct http_response r;
  http_response_init(&r);
  struct err e = {0};
  /* .invalid never resolves (RFC 6761), and the resolver says so without a round trip. */
  struct http_request req = {
      .method = "GET", .url = "http://ecrdiag-test.invalid/v2/", .timeout_ms = 10000};
  assert_int_equal(http_perform(c, &req, &r, &e), ERR_DNS);
  assert_non_null(strstr(e.msg, "ecrdiag-test.invalid"));
  http_response_release(&r);
  http_client_free(c);
}

static void test_resolve_option(void **state)
{
  (void)state;
  static const struct fake_answer a[] = {
      {"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n", false},
  };
  struct fake_server s;
  fs_start(&s, a, 1);
  char resolve[128], url[128];
  /* The second entry and the extra address exercise the comma splitting. */
  snprintf(resolve, sizeof resolve,
           "registry.ecrdiag.test:%d:127.0.0.1,127.0.0.1,other.ecrdiag.test:443:127.0.0.2", s.port);
  snprintf(url, sizeof url, "http://registry.ecrdiag.test:%d/v2/", s.port);
  struct err e = {0};
  struct http_client *c = http_client_new(&(struct http_options){.resolve = resolve}, &e);
  assert_non_null(c);
  struct http_response r;
  http_response_init(&r);
  struct http_request req = {.method = "GET", .url = url};
  assert_int_equal(http_perform(c, &req, &r, &e), ERR_OK);
  assert_int_equal(r.status, 204);
  http_response_release(&r);
  http_client_free(c);
  fs_stop(&s);
  char host[96];
  snprintf(host, sizeof host, "\r\nHost: registry.ecrdiag.test:%d\r\n", s.port);
  assert_non_null(strstr(s.requests[0], host));
}

static void test_bad_resolve_and_bad_headers(void **state)
{
  (void)state;
  struct err e = {0};
  assert_null(http_client_new(&(struct http_options){.resolve = "127.0.0.1"}, &e));
  assert_int_equal(e.code, ERR_INVALID);
  assert_null(http_client_new(&(struct http_options){.resolve = "a:80:1.2.3.4,,b:80:1.1.1.1"}, &e));
  assert_int_equal(e.code, ERR_INVALID);

  struct http_client *c = http_client_new(NULL, NULL);
  struct http_response r;
  http_response_init(&r);
  struct http_header h[] = {{"X-Test", "a\r\nX-Injected: 1"}};
  struct http_request req = {
      .method = "GET", .url = "http://127.0.0.1:1/", .headers = h, .n_headers = 1};
  assert_int_equal(http_perform(c, &req, &r, &e), ERR_INVALID);
  assert_null(strstr(e.msg, "Injected"));
  struct http_header bad_name[] = {{"X Bad", "v"}};
  req.headers = bad_name;
  assert_int_equal(http_perform(c, &req, &r, &e), ERR_INVALID);
  req.headers = NULL;
  req.n_headers = 0;
  req.method = "get";
  assert_int_equal(http_perform(c, &req, &r, &e), ERR_INVALID);
  req.method = "GET";
  req.url = NULL;
  assert_int_equal(http_perform(c, &req, &r, &e), ERR_INVALID);
  http_response_release(&r);
  http_client_free(c);
  http_client_free(NULL);
  http_response_release(NULL);
}

static void test_url_authority(void **state)
{
  (void)state;
  static const struct {
    const char *url;
    const char *want;
  } cases[] = {
      {"https://api.ecr.us-east-1.amazonaws.com", "api.ecr.us-east-1.amazonaws.com"},
      {"https://api.ecr.us-east-1.amazonaws.com/", "api.ecr.us-east-1.amazonaws.com"},
      {"https://h:443/x", "h"},
      {"HTTPS://h:443/x", "h"},
      {"http://h:80", "h"},
      {"http://h:8080/p?q=1#f", "h:8080"},
      {"https://h:80/", "h:80"},
      {"http://h:443/", "h:443"},
      {"http://user:pw@h:81/", "h:81"},
      {"http://[::1]:8080/", "[::1]:8080"},
      {"http://[::1]/", "[::1]"},
      {"http://127.0.0.1:5000", "127.0.0.1:5000"},
      {"http://h:/", "h"},
      {"http://h:00080/", "h"},
      {"noscheme", NULL},
      {"://h/", NULL},
      {"http://", NULL},
      {"http:///path", NULL},
      {"http://:80/", NULL},
      {"http://h:99999/", NULL},
      {"http://h:8a/", NULL},
      {"http://[::1/", NULL},
      {"http://[::1]x/", NULL},
      {"http://h h/", NULL},
      {"1http://h/", NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *got = http_url_authority(cases[i].url);
    if (cases[i].want) {
      if (!got || strcmp(got, cases[i].want) != 0)
        fail_msg("%s: got %s, want %s", cases[i].url, got ? got : "NULL", cases[i].want);
    } else if (got) {
      fail_msg("%s: got %s, want NULL", cases[i].url, got);
    }
    free(got);
  }
  assert_null(http_url_authority(NULL));
}

static void test_date_parse(void **state)
{
  (void)state;
  assert_int_equal(http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
  assert_int_equal(http_date_parse("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
  assert_int_equal(http_date_parse("garbage"), -1);
  assert_int_equal(http_date_parse(""), -1);
  assert_int_equal(http_date_parse(NULL), -1);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_status_body_and_headers),
      cmocka_unit_test(test_amz_request_id_fallback_and_no_headers),
      cmocka_unit_test(test_post_with_host_override_and_headers),
      cmocka_unit_test(test_head_uses_nobody),
      cmocka_unit_test(test_body_cap),
      cmocka_unit_test(test_headers_only_stops_after_headers),
      cmocka_unit_test(test_timeout),
      cmocka_unit_test(test_connection_refused_names_host_not_query),
      cmocka_unit_test(test_dns_failure),
      cmocka_unit_test(test_resolve_option),
      cmocka_unit_test(test_bad_resolve_and_bad_headers),
      cmocka_unit_test(test_url_authority),
      cmocka_unit_test(test_date_parse),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
