/* Unit tests for src/aws/sigv4.c: every case directory of fixtures/sigv4 (the aws-c-auth
 * SigV4 suite, enumerated, never listed by hand) is signed both ways and every stage is
 * compared byte for byte; then the key derivation, a wrong secret, and refusals.
 * Reads fixtures from $ECRDIAG_FIXTURES (set by ctest). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "ecrdiag/buf.h"
#include "ecrdiag/crypto.h"
#include "ecrdiag/sigv4.h"

#define MAX_FILE_BYTES (1024 * 1024)
#define MAX_REQ_HEADERS 32

/* ---- fixture plumbing ---- */

static const char *fixtures_dir(void)
{
  const char *d = getenv("ECRDIAG_FIXTURES");
  return d && *d ? d : "fixtures";
}

/* Whole file into a malloc'd NUL-terminated buffer; NULL when missing. */
static char *read_file(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  struct buf b;
  buf_init(&b, MAX_FILE_BYTES);
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
    if (buf_append(&b, chunk, n) != ERR_OK) {
      buf_release(&b);
      fclose(f);
      return NULL;
    }
  }
  fclose(f);
  if (len)
    *len = b.len;
  if (!b.p)
    return str_dup("");
  return buf_detach(&b);
}

static char *case_file(const char *dir, const char *name, size_t *len)
{
  struct buf path;
  buf_init(&path, 4096);
  assert_int_equal(buf_printf(&path, "%s/%s", dir, name), ERR_OK);
  char *s = read_file(buf_str(&path), len);
  if (!s)
    print_error("missing fixture file %s\n", buf_str(&path));
  buf_release(&path);
  return s;
}

/* A request.txt: request line, headers (a line starting with white space continues the
 * previous value, kept with its newline so the signed request can be rebuilt verbatim),
 * an empty line, then the body. */
struct parsed_request {
  char *method;
  char *path;
  char *query; /* NULL when the target has no '?' */
  struct http_header headers[MAX_REQ_HEADERS];
  char *owned[2 * MAX_REQ_HEADERS];
  size_t n_headers;
  char *body;
  size_t body_len;
};

static void parsed_request_release(struct parsed_request *r)
{
  free(r->method);
  free(r->path);
  free(r->query);
  for (size_t i = 0; i < 2 * MAX_REQ_HEADERS; i++)
    free(r->owned[i]);
  free(r->body);
  memset(r, 0, sizeof *r);
}

static char *dup_n(const char *p, size_t n)
{
  return sv_dup((struct sv){p, n});
}

static bool parse_request(const char *text, size_t len, struct parsed_request *r)
{
  memset(r, 0, sizeof *r);
  const char *end = text + len;
  const char *eol = memchr(text, '\n', len);
  if (!eol)
    return false;
  /* The target may hold spaces ("/example space/"): method to the first space, version
   * from the last. */
  const char *sp1 = memchr(text, ' ', (size_t)(eol - text));
  const char *sp2 = eol;
  while (sp2 > text && sp2[-1] != ' ')
    sp2--;
  if (!sp1 || sp2 <= sp1 + 1)
    return false;
  r->method = dup_n(text, (size_t)(sp1 - text));
  const char *target = sp1 + 1;
  size_t target_len = (size_t)(sp2 - 1 - target);
  const char *qm = memchr(target, '?', target_len);
  if (qm) {
    r->path = dup_n(target, (size_t)(qm - target));
    r->query = dup_n(qm + 1, target_len - (size_t)(qm - target) - 1);
  } else {
    r->path = dup_n(target, target_len);
  }

  struct buf value;
  buf_init(&value, MAX_FILE_BYTES);
  char *name = NULL;
  const char *p = eol + 1;
  bool ok = true;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *line_end = nl ? nl : end;
    size_t line_len = (size_t)(line_end - p);
    if (line_len == 0) {
      p = nl ? nl + 1 : end;
      r->body = dup_n(p, (size_t)(end - p));
      r->body_len = (size_t)(end - p);
      p = end;
      break;
    }
    if (*p == ' ' || *p == '\t') {
      if (!name) {
        ok = false;
        break;
      }
      buf_putc(&value, '\n');
      buf_append(&value, p, line_len);
    } else {
      if (name) {
        if (r->n_headers == MAX_REQ_HEADERS) {
          ok = false;
          break;
        }
        char *v = str_dup(buf_str(&value));
        r->owned[2 * r->n_headers] = name;
        r->owned[2 * r->n_headers + 1] = v;
        r->headers[r->n_headers++] = (struct http_header){name, v};
        name = NULL;
      }
      const char *colon = memchr(p, ':', line_len);
      if (!colon) {
        ok = false;
        break;
      }
      name = dup_n(p, (size_t)(colon - p));
      buf_reset(&value);
      buf_append(&value, colon + 1, line_len - (size_t)(colon + 1 - p));
    }
    p = nl ? nl + 1 : end;
  }
  if (ok && name) {
    if (r->n_headers < MAX_REQ_HEADERS) {
      char *v = str_dup(buf_str(&value));
      r->owned[2 * r->n_headers] = name;
      r->owned[2 * r->n_headers + 1] = v;
      r->headers[r->n_headers++] = (struct http_header){name, v};
      name = NULL;
    } else {
      ok = false;
    }
  }
  free(name);
  buf_release(&value);
  if (!r->body) {
    r->body = str_dup("");
    r->body_len = 0;
  }
  return ok;
}

static int two_digits(const char *s)
{
  return (s[0] - '0') * 10 + (s[1] - '0');
}

/* "2015-08-30T12:36:00Z" to a time_t, through sigv4_amz_date as the signer's callers do. */
static bool timestamp_to_amz_date(const char *ts, char out[17])
{
  if (!ts || strlen(ts) != 20 || ts[4] != '-' || ts[7] != '-' || ts[10] != 'T' || ts[13] != ':' ||
      ts[16] != ':' || ts[19] != 'Z')
    return false;
  struct tm tm = {0};
  tm.tm_year = two_digits(ts) * 100 + two_digits(ts + 2) - 1900;
  tm.tm_mon = two_digits(ts + 5) - 1;
  tm.tm_mday = two_digits(ts + 8);
  tm.tm_hour = two_digits(ts + 11);
  tm.tm_min = two_digits(ts + 14);
  tm.tm_sec = two_digits(ts + 17);
  sigv4_amz_date(timegm(&tm), out);
  return true;
}

struct case_ctx {
  const char *dir;
  const char *name;
  int failures;
};

/* Compares one stage, reporting the case and stage and the first differing byte. */
static void expect_stage(struct case_ctx *c, const char *file, const char *got, size_t got_len)
{
  size_t want_len = 0;
  char *want = case_file(c->dir, file, &want_len);
  if (!want) {
    c->failures++;
    return;
  }
  if (want_len != got_len || memcmp(want, got, got_len) != 0) {
    size_t i = 0;
    while (i < want_len && i < got_len && want[i] == got[i])
      i++;
    print_error("%s/%s: differs at byte %zu\n--- expected ---\n%s\n--- got ---\n%.*s\n", c->name,
                file, i, want, (int)got_len, got);
    c->failures++;
  }
  free(want);
}

static void rebuild_request(struct buf *b, const struct parsed_request *r, const char *query,
                            const struct sigv4_output *out)
{
  buf_printf(b, "%s %s%s%s HTTP/1.1\n", r->method, r->path, query ? "?" : "", query ? query : "");
  for (size_t i = 0; i < r->n_headers; i++)
    buf_printf(b, "%s:%s\n", r->headers[i].name, r->headers[i].value);
  for (size_t i = 0; out && i < out->n_added; i++)
    buf_printf(b, "%s:%s\n", out->added[i].name, out->added[i].value);
  buf_putc(b, '\n');
  buf_append(b, r->body, r->body_len);
}

static void run_case(struct case_ctx *c)
{
  size_t req_len = 0;
  char *req_text = case_file(c->dir, "request.txt", &req_len);
  char *ctx_text = case_file(c->dir, "context.json", NULL);
  struct parsed_request req;
  memset(&req, 0, sizeof req);
  json_t *ctx = NULL;
  struct sigv4_output out;
  memset(&out, 0, sizeof out);
  struct buf signed_req;
  buf_init(&signed_req, MAX_FILE_BYTES);

  if (!req_text || !ctx_text) {
    c->failures++;
    goto done;
  }
  if (!parse_request(req_text, req_len, &req)) {
    print_error("%s: request.txt does not parse\n", c->name);
    c->failures++;
    goto done;
  }
  json_error_t jerr;
  ctx = json_loads(ctx_text, 0, &jerr);
  json_t *cred = json_object_get(ctx, "credentials");
  char amz_date[17];
  if (!ctx || !json_is_object(cred) ||
      !timestamp_to_amz_date(json_string_value(json_object_get(ctx, "timestamp")), amz_date)) {
    print_error("%s: context.json is not usable\n", c->name);
    c->failures++;
    goto done;
  }
  struct sigv4_creds creds = {
      .access_key_id = json_string_value(json_object_get(cred, "access_key_id")),
      .secret_access_key = json_string_value(json_object_get(cred, "secret_access_key")),
      .session_token = json_string_value(json_object_get(cred, "token")),
  };
  struct sigv4_input in = {
      .method = req.method,
      .path = req.path,
      .query = req.query,
      .headers = req.headers,
      .n_headers = req.n_headers,
      .body = req.body,
      .body_len = req.body_len,
      .region = json_string_value(json_object_get(ctx, "region")),
      .service = json_string_value(json_object_get(ctx, "service")),
      .amz_date = amz_date,
      .normalize_path = json_is_true(json_object_get(ctx, "normalize")),
      .sign_body = json_is_true(json_object_get(ctx, "sign_body")),
      .omit_session_token = json_is_true(json_object_get(ctx, "omit_session_token")),
      .expires_s = (long)json_integer_value(json_object_get(ctx, "expiration_in_seconds")),
  };

  struct err e = {0};
  if (sigv4_sign_headers(&in, &creds, &out, &e) != ERR_OK) {
    print_error("%s: header signing failed: %s\n", c->name, e.msg);
    c->failures++;
  } else {
    expect_stage(c, "header-canonical-request.txt", out.canonical_request.p,
                 out.canonical_request.len);
    expect_stage(c, "header-string-to-sign.txt", out.string_to_sign.p, out.string_to_sign.len);
    expect_stage(c, "header-signature.txt", out.signature, strlen(out.signature));
    rebuild_request(&signed_req, &req, req.query, &out);
    expect_stage(c, "header-signed-request.txt", signed_req.p, signed_req.len);
  }
  sigv4_output_release(&out);

  buf_reset(&signed_req);
  if (sigv4_sign_query(&in, &creds, &out, &e) != ERR_OK) {
    print_error("%s: query signing failed: %s\n", c->name, e.msg);
    c->failures++;
  } else {
    expect_stage(c, "query-canonical-request.txt", out.canonical_request.p,
                 out.canonical_request.len);
    expect_stage(c, "query-string-to-sign.txt", out.string_to_sign.p, out.string_to_sign.len);
    expect_stage(c, "query-signature.txt", out.signature, strlen(out.signature));
    if (out.n_added != 0) {
      print_error("%s: query signing added headers\n", c->name);
      c->failures++;
    }
    rebuild_request(&signed_req, &req, out.signed_query, NULL);
    expect_stage(c, "query-signed-request.txt", signed_req.p, signed_req.len);
  }

done:
  sigv4_output_release(&out);
  buf_release(&signed_req);
  json_decref(ctx);
  parsed_request_release(&req);
  free(req_text);
  free(ctx_text);
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every subdirectory of fixtures/sigv4 is a case; the list is read, never written here. */
static void test_suite_every_case(void **state)
{
  (void)state;
  struct buf root;
  buf_init(&root, 4096);
  assert_int_equal(buf_printf(&root, "%s/sigv4", fixtures_dir()), ERR_OK);
  DIR *d = opendir(buf_str(&root));
  if (!d)
    fail_msg("cannot open %s (set ECRDIAG_FIXTURES to the repository's fixtures/)", buf_str(&root));
  char *names[256];
  size_t n = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.')
      continue;
    struct buf path;
    buf_init(&path, 4096);
    buf_printf(&path, "%s/%s", buf_str(&root), de->d_name);
    struct stat st;
    bool is_dir = stat(buf_str(&path), &st) == 0 && S_ISDIR(st.st_mode);
    buf_release(&path);
    if (!is_dir)
      continue;
    assert_true(n < sizeof names / sizeof names[0]);
    names[n++] = str_dup(de->d_name);
  }
  closedir(d);
  qsort(names, n, sizeof names[0], cmp_str);

  int failures = 0;
  bool seen_token = false, seen_after = false, seen_multiline = false;
  for (size_t i = 0; i < n; i++) {
    struct buf dir;
    buf_init(&dir, 4096);
    buf_printf(&dir, "%s/%s", buf_str(&root), names[i]);
    struct case_ctx c = {.dir = buf_str(&dir), .name = names[i]};
    run_case(&c);
    if (c.failures)
      print_error("FAIL %s (%d stage(s))\n", names[i], c.failures);
    failures += c.failures;
    seen_token |= strcmp(names[i], "get-vanilla-with-session-token") == 0;
    seen_after |= strcmp(names[i], "post-sts-header-after") == 0;
    seen_multiline |= strcmp(names[i], "get-header-value-multiline") == 0;
    buf_release(&dir);
    free(names[i]);
  }
  print_message("sigv4 suite: %zu cases, 2 modes, 4 stages each, %d failure(s)\n", n, failures);
  buf_release(&root);
  /* The suite must really be there: an empty or truncated copy would pass vacuously. */
  assert_true(n >= 30);
  assert_true(seen_token && seen_after && seen_multiline);
  assert_int_equal(failures, 0);
}

/* ---- focused tests ---- */

static const char *const example_secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

static void test_signing_key(void **state)
{
  (void)state;
  unsigned char key[32];
  char hex[65];
  /* The worked example in the AWS SigV4 documentation (20150830/us-east-1/iam). */
  assert_int_equal(sigv4_signing_key(example_secret, "20150830", "us-east-1", "iam", key), ERR_OK);
  crypto_hex(key, sizeof key, hex);
  assert_string_equal(hex, "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
  /* An amz_date works as the date: only its first 8 characters count. */
  assert_int_equal(
      sigv4_signing_key(example_secret, "20150830T123600Z", "us-east-1", "service", key), ERR_OK);
  crypto_hex(key, sizeof key, hex);
  assert_string_equal(hex, "938127b5336810ddb6a5d6af445fcac9e371f9ed418ed386b022aed82901be75");
  crypto_wipe(key, sizeof key);
  assert_int_equal(sigv4_signing_key(example_secret, "2015-08-", "us-east-1", "iam", key),
                   ERR_INVALID);
  assert_int_equal(sigv4_signing_key("", "20150830", "us-east-1", "iam", key), ERR_INVALID);
  assert_int_equal(sigv4_signing_key(NULL, "20150830", "us-east-1", "iam", key), ERR_INVALID);
}

static void test_amz_date(void **state)
{
  (void)state;
  char d[17];
  sigv4_amz_date((time_t)1440938160, d);
  assert_string_equal(d, "20150830T123600Z");
  sigv4_amz_date((time_t)0, d);
  assert_string_equal(d, "19700101T000000Z");
}

static const struct http_header vanilla_headers[] = {{"Host", "example.amazonaws.com"}};

static struct sigv4_input vanilla_input(void)
{
  return (struct sigv4_input){
      .method = "GET",
      .path = "/",
      .headers = vanilla_headers,
      .n_headers = 1,
      .region = "us-east-1",
      .service = "service",
      .amz_date = "20150830T123600Z",
      .normalize_path = true,
      .expires_s = 3600,
  };
}

static void test_wrong_secret_differs(void **state)
{
  (void)state;
  struct sigv4_input in = vanilla_input();
  struct sigv4_creds good = {"AKIDEXAMPLE", example_secret, NULL};
  struct sigv4_creds bad = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ", NULL};
  struct sigv4_output a, b;
  assert_int_equal(sigv4_sign_headers(&in, &good, &a, NULL), ERR_OK);
  assert_int_equal(sigv4_sign_headers(&in, &bad, &b, NULL), ERR_OK);
  /* Same request, same string to sign: only the key, hence the signature, differs. */
  assert_string_equal(buf_str(&a.canonical_request), buf_str(&b.canonical_request));
  assert_string_equal(buf_str(&a.string_to_sign), buf_str(&b.string_to_sign));
  assert_string_equal(a.signature,
                      "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  assert_string_not_equal(a.signature, b.signature);
  assert_int_equal(a.n_added, 2);
  assert_string_equal(a.added[0].name, "X-Amz-Date");
  assert_string_equal(a.added[1].name, "Authorization");
  assert_non_null(strstr(a.added[1].value, a.signature));
  assert_null(strstr(b.added[1].value, a.signature));
  sigv4_output_release(&a);
  sigv4_output_release(&b);
}

static void test_release_is_idempotent(void **state)
{
  (void)state;
  struct sigv4_input in = vanilla_input();
  struct sigv4_creds creds = {"AKIDEXAMPLE", example_secret, "token"};
  struct sigv4_output out;
  assert_int_equal(sigv4_sign_query(&in, &creds, &out, NULL), ERR_OK);
  assert_non_null(out.signed_query);
  sigv4_output_release(&out);
  assert_null(out.signed_query);
  assert_null(out.canonical_request.p);
  assert_int_equal(out.n_added, 0);
  sigv4_output_release(&out);
  sigv4_output_release(NULL);
}

struct refusal {
  const char *what;
  struct sigv4_input in;
  struct sigv4_creds creds;
  enum err_code code;
  const char *msg_part;
};

static void test_refusals(void **state)
{
  (void)state;
  static const struct http_header with_date[] = {{"Host", "h"}, {"X-Amz-Date", "x"}};
  static const struct http_header with_auth[] = {{"Host", "h"}, {"authorization", "x"}};
  static const struct http_header no_host[] = {{"Accept", "*/*"}};
  static const struct http_header bad_fold[] = {{"Host", "h"}, {"X-A", "a\nEvil: 1"}};
  static const struct http_header bad_name[] = {{"Host", "h"}, {"X A", "a"}};
  struct sigv4_creds ok = {"AKIDEXAMPLE", example_secret, NULL};
  struct sigv4_input base = vanilla_input();
  struct refusal cases[] = {
      {"x-amz-date given", base, ok, ERR_INVALID, "'X-Amz-Date' is added by the signer"},
      {"authorization given", base, ok, ERR_INVALID, "'authorization' is added"},
      {"no host", base, ok, ERR_INVALID, "no 'Host' header"},
      {"header injection", base, ok, ERR_INVALID, "not a folded continuation"},
      {"bad header name", base, ok, ERR_INVALID, "not allowed in header names"},
      {"bad date", base, ok, ERR_INVALID, "YYYYMMDDTHHMMSSZ"},
      {"no secret", base, {"AKIDEXAMPLE", "", NULL}, ERR_CREDENTIALS, "no secret access key"},
      {"no key id", base, {NULL, example_secret, NULL}, ERR_CREDENTIALS, "no access key id"},
      {"swapped", base, {example_secret, "AKIDEXAMPLE", NULL}, ERR_CREDENTIALS, "swapped"},
      {"bad escape", base, ok, ERR_INVALID, "not followed by two hex digits"},
      {"signer param", base, ok, ERR_INVALID, "'x-amz-signature' is added by the signer"},
      {"bad region", base, ok, ERR_INVALID, "region 'us/east'"},
  };
  cases[0].in.headers = with_date, cases[0].in.n_headers = 2;
  cases[1].in.headers = with_auth, cases[1].in.n_headers = 2;
  cases[2].in.headers = no_host, cases[2].in.n_headers = 1;
  cases[3].in.headers = bad_fold, cases[3].in.n_headers = 2;
  cases[4].in.headers = bad_name, cases[4].in.n_headers = 2;
  cases[5].in.amz_date = "2015-08-30T12:36:00Z";
  cases[9].in.query = "a=%zz";
  cases[10].in.query = "x-amz-signature=abc";
  cases[11].in.region = "us/east";
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct err e = {0};
    struct sigv4_output out;
    enum err_code rc = sigv4_sign_headers(&cases[i].in, &cases[i].creds, &out, &e);
    if (rc != cases[i].code || !strstr(e.msg, cases[i].msg_part))
      fail_msg("%s: got %s '%s'", cases[i].what, err_code_name(rc), e.msg);
    /* A refusal leaves nothing behind and never quotes the secret. */
    assert_null(out.canonical_request.p);
    assert_int_equal(out.n_added, 0);
    assert_null(strstr(e.msg, example_secret));
    sigv4_output_release(&out);
  }
  /* Query signing also bounds the expiry. */
  struct sigv4_input in = base;
  in.expires_s = 604801;
  struct sigv4_output out;
  struct err e = {0};
  assert_int_equal(sigv4_sign_query(&in, &ok, &out, &e), ERR_INVALID);
  assert_non_null(strstr(e.msg, "seven days"));
  sigv4_output_release(&out);
}

static void test_skipped_and_repeated_headers(void **state)
{
  (void)state;
  static const struct http_header hs[] = {
      {"Host", "example.amazonaws.com"}, {"User-Agent", "ecrdiag/0.1"},
      {"X-Amzn-Trace-Id", "Root=1"},     {"My-Header", "  b  "},
      {"my-header", "a\r\n  c"},
  };
  struct sigv4_input in = vanilla_input();
  in.headers = hs;
  in.n_headers = sizeof hs / sizeof hs[0];
  struct sigv4_creds creds = {"AKIDEXAMPLE", example_secret, NULL};
  struct sigv4_output out;
  assert_int_equal(sigv4_sign_headers(&in, &creds, &out, NULL), ERR_OK);
  assert_string_equal(buf_str(&out.canonical_request),
                      "GET\n/\n\n"
                      "host:example.amazonaws.com\n"
                      "my-header:b,a c\n"
                      "x-amz-date:20150830T123600Z\n\n"
                      "host;my-header;x-amz-date\n"
                      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  sigv4_output_release(&out);
}

static void test_query_param_without_value(void **state)
{
  (void)state;
  struct sigv4_input in = vanilla_input();
  in.query = "b&a=1&&a=0&c=%2f+";
  struct sigv4_creds creds = {"AKIDEXAMPLE", example_secret, NULL};
  struct sigv4_output out;
  assert_int_equal(sigv4_sign_headers(&in, &creds, &out, NULL), ERR_OK);
  /* Sorted by key then value; '%2f' re-encoded upper case; '+' is not a space. */
  assert_non_null(strstr(buf_str(&out.canonical_request), "\na=0&a=1&b=&c=%2F%2B\n"));
  sigv4_output_release(&out);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_suite_every_case),
      cmocka_unit_test(test_signing_key),
      cmocka_unit_test(test_amz_date),
      cmocka_unit_test(test_wrong_secret_differs),
      cmocka_unit_test(test_release_is_idempotent),
      cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_skipped_and_repeated_headers),
      cmocka_unit_test(test_query_param_without_value),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
