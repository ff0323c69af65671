/* Tests of the offline IAM evaluator: every case in fixtures/policy-eval/ (found by listing
 * the directory, each quoting the AWS sentence it tests), the matchers, parse errors with
 * line and column, malformed requests, a fuzz-ish pass over mutated documents, and the exit
 * codes of `ecrdiag policy eval` (its source is compiled in: the front end is not a library). */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "cmd_policy.h"
#include "ecrdiag/buf.h"
#include "../../src/policy/policy_int.h"
#include "ecrdiag/policy.h"

static const char *fixtures_dir(void)
{
  const char *d = getenv("ECRDIAG_FIXTURES");
  return d ? d : "fixtures";
}

static int cmp_names(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The case files, sorted, as malloc'd paths; *n gets their number. */
static char **case_files(size_t *n)
{
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/policy-eval", fixtures_dir());
  DIR *d = opendir(dir);
  assert_non_null(d);
  char **out = NULL;
  size_t count = 0, cap = 0;
  struct dirent *ent;
  while ((ent = readdir(d))) {
    size_t len = strlen(ent->d_name);
    if (len < 6 || strcmp(ent->d_name + len - 5, ".json") != 0)
      continue;
    if (count == cap) {
      cap = cap ? cap * 2 : 64;
      out = realloc(out, cap * sizeof *out);
      assert_non_null(out);
    }
    size_t plen = strlen(dir) + len + 2;
    out[count] = malloc(plen);
    assert_non_null(out[count]);
    snprintf(out[count], plen, "%s/%s", dir, ent->d_name);
    count++;
  }
  closedir(d);
  qsort(out, count, sizeof *out, cmp_names);
  *n = count;
  return out;
}

/* Do two JSON arrays of strings hold the same set? */
static bool same_string_set(const json_t *want, const json_t *got)
{
  if (json_array_size(want) != json_array_size(got))
    return false;
  size_t i;
  const json_t *w;
  json_array_foreach(want, i, w)
  {
    bool found = false;
    size_t j;
    const json_t *g;
    json_array_foreach(got, j, g) found |= json_equal(w, g);
    if (!found)
      return false;
  }
  return true;
}

/* Expected decisive entries ({"policy", "statement"}, sid optional) against the output. */
static bool same_decisive(const json_t *want, const json_t *got)
{
  if (json_array_size(want) != json_array_size(got))
    return false;
  size_t i;
  const json_t *w;
  json_array_foreach(want, i, w)
  {
    bool found = false;
    size_t j;
    const json_t *g;
    json_array_foreach(got, j, g)
    {
      if (!json_equal(json_object_get(w, "policy"), json_object_get(g, "policy")) ||
          !json_equal(json_object_get(w, "statement"), json_object_get(g, "statement")))
        continue;
      const json_t *sid = json_object_get(w, "sid");
      if (sid && !json_equal(sid, json_object_get(g, "sid")))
        continue;
      found = true;
    }
    if (!found)
      return false;
  }
  return true;
}

/* Runs one case; returns NULL when it passes, else a malloc'd description of the failure. */
static char *run_case(const char *file, size_t idx, const json_t *c)
{
  char *why = NULL;
  struct buf msg;
  buf_init(&msg, 8192);
  const json_t *req = json_object_get(c, "request");
  const json_t *exp = json_object_get(c, "expect");
  const json_t *doc = json_object_get(c, "doc");
  if (!json_is_object(req) || !json_is_object(exp) ||
      !json_is_string(json_object_get(doc, "url")) ||
      json_string_length(json_object_get(doc, "quote")) < 20 ||
      !json_is_string(json_object_get(c, "description"))) {
    buf_printf(&msg, "%s[%zu]: needs description, doc.url, doc.quote, request, expect", file, idx);
    return buf_detach(&msg);
  }
  char *text = json_dumps(req, JSON_COMPACT);
  struct policy_request_doc *rd = NULL;
  struct err e;
  err_clear(&e);
  json_t *out = NULL;
  if (policy_request_doc_parse(text, strlen(text), &rd, &e)) {
    buf_printf(&msg, "%s[%zu]: request rejected: %s", file, idx, e.msg);
    goto done;
  }
  struct policy_decision d;
  if (policy_evaluate(&rd->req, &d, &e)) {
    buf_printf(&msg, "%s[%zu]: evaluation failed: %s", file, idx, e.msg);
    goto done;
  }
  out = policy_decision_to_json(&d);
  const json_t *want;
  if (!json_equal(json_object_get(exp, "decision"), json_object_get(out, "decision")))
    buf_printf(&msg, "decision ");
  if ((want = json_object_get(exp, "decisive")) &&
      !same_decisive(want, json_object_get(out, "decisive")))
    buf_printf(&msg, "decisive ");
  if ((want = json_object_get(exp, "missing_allow_in")) &&
      !same_string_set(want, json_object_get(out, "missing_allow_in")))
    buf_printf(&msg, "missing_allow_in ");
  if ((want = json_object_get(exp, "confidence")) &&
      !json_equal(want, json_object_get(out, "confidence")))
    buf_printf(&msg, "confidence ");
  if (msg.len) {
    char *got = json_dumps(out, JSON_COMPACT);
    char *w = json_dumps(exp, JSON_COMPACT);
    struct buf full;
    buf_init(&full, 16384);
    buf_printf(&full, "%s[%zu] (%s): %swrong\n    want %s\n    got  %s", file, idx,
               json_string_value(json_object_get(c, "description")), buf_str(&msg), w, got);
    free(got);
    free(w);
    buf_release(&msg);
    msg = full;
  }
done:
  json_decref(out);
  policy_request_doc_free(rd);
  free(text);
  if (msg.len)
    why = buf_detach(&msg);
  buf_release(&msg);
  return why;
}

static void test_fixture_cases(void **state)
{
  (void)state;
  size_t n_files = 0;
  char **files = case_files(&n_files);
  size_t cases = 0, examples = 0, failed = 0;
  for (size_t f = 0; f < n_files; f++) {
    json_error_t jerr;
    json_t *root = json_load_file(files[f], JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
      fprintf(stderr, "%s: line %d: %s\n", files[f], jerr.line, jerr.text);
      failed++;
      free(files[f]);
      continue;
    }
    size_t k = json_is_array(root) ? json_array_size(root) : 1;
    for (size_t i = 0; i < k; i++) {
      const json_t *c = json_is_array(root) ? json_array_get(root, i) : root;
      cases++;
      if (json_is_true(json_object_get(json_object_get(c, "doc"), "example")))
        examples++;
      char *why = run_case(strrchr(files[f], '/') + 1, i, c);
      if (why) {
        fprintf(stderr, "FAIL %s\n", why);
        free(why);
        failed++;
      }
    }
    json_decref(root);
    free(files[f]);
  }
  free(files);
  fprintf(stderr, "policy-eval cases: %zu (%zu transcribe documentation examples), %zu failed\n",
          cases, examples, failed);
  assert_int_equal(failed, 0);
  assert_true(cases >= 80);
  assert_true(examples >= 20);
}

static void test_glob_and_arn(void **state)
{
  (void)state;
  const char *s = "arn:aws:ecr:ap-southeast-1:632000001762:repository/audit/sa/cicd-runner";
  size_t sn = strlen(s);
#define G(p, mode) pol_glob(p, strlen(p), NULL, s, sn, mode)
  assert_true(G("arn:aws:ecr:*:632000001762:repository/audit/*", GLOB_RESOURCE));
  assert_true(G("arn:aws:ecr:ap-southeast-?:*:repository/*", GLOB_RESOURCE));
  assert_false(G("arn:aws:ecr:*:999:repository/*", GLOB_RESOURCE));
  assert_true(G("arn:aws:ecr:*", GLOB_RESOURCE)); /* a final '*' runs past colons */
  assert_false(G("arn:aws:ecr:ap*2:repository/*", GLOB_RESOURCE));
  assert_true(G("arn:aws:ecr:ap*2:repository/*", GLOB_PLAIN));
  assert_false(G("ARN:aws:ecr:*", GLOB_RESOURCE));
  assert_true(G("ARN:AWS:ECR:*", GLOB_ICASE));
#undef G
  /* The ArnLike example of the condition operators page. */
  const char *pat = "arn:aws:someservice:*:111122223333:finance/*";
  const char *val = "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/"
                    "document.txt";
  assert_true(pol_glob(pat, strlen(pat), NULL, val, strlen(val), GLOB_PLAIN));
  assert_false(pol_arn_like(pat, strlen(pat), NULL, val, strlen(val)));
  /* A hostile pattern stays linear. */
  char hostile[2048], subject[4096];
  for (size_t i = 0; i < sizeof hostile - 2; i += 2) {
    hostile[i] = '*';
    hostile[i + 1] = 'a';
  }
  hostile[sizeof hostile - 2] = 'b';
  memset(subject, 'a', sizeof subject);
  assert_false(pol_glob(hostile, sizeof hostile - 1, NULL, subject, sizeof subject, GLOB_PLAIN));
  /* Literal marks from ${*}: the star does not match anything else. */
  unsigned char lit[3] = {0, 1, 0};
  assert_true(pol_glob("a*b", 3, lit, "a*b", 3, GLOB_PLAIN));
  assert_false(pol_glob("a*b", 3, lit, "axb", 3, GLOB_PLAIN));
}

static void test_cidr_date_number(void **state)
{
  (void)state;
  struct ip_cidr net, a;
  assert_true(pol_parse_cidr("203.0.113.0/24", 14, &net, true));
  assert_true(pol_parse_cidr("203.0.113.77", 12, &a, false));
  assert_true(pol_cidr_contains(&net, &a));
  assert_true(pol_parse_cidr("203.0.114.1", 11, &a, false));
  assert_false(pol_cidr_contains(&net, &a));
  assert_true(pol_parse_cidr("2001:DB8:1234:5678::/64", 23, &net, true));
  assert_true(pol_parse_cidr("2001:db8:1234:5678::1", 21, &a, false));
  assert_true(pol_cidr_contains(&net, &a));
  assert_false(pol_parse_cidr("203.0.113.0/33", 14, &net, true));
  assert_false(pol_parse_cidr("not-an-ip", 9, &net, true));
  double t1, t2;
  assert_true(pol_parse_date("2020-01-01T00:00:01Z", 20, &t1));
  assert_true(pol_parse_date("1577836801", 10, &t2));
  assert_true(t1 == t2);
  assert_true(pol_parse_date("2020-01-01T02:00:01+02:00", 25, &t2));
  assert_true(t1 == t2);
  assert_true(pol_parse_date("2020-01-01", 10, &t2));
  assert_true(t2 == 1577836800.0);
  assert_false(pol_parse_date("2020-13-01", 10, &t2));
  assert_false(pol_parse_date("yesterday", 9, &t2));
  double v;
  assert_true(pol_parse_number("10", 2, &v) && v == 10);
  assert_true(pol_parse_number("-2.5e1", 6, &v) && v == -25);
  assert_false(pol_parse_number("nan", 3, &v));
  assert_false(pol_parse_number("0x10", 4, &v));
}

static void test_parse_errors(void **state)
{
  (void)state;
  struct policy *p = NULL;
  struct err e;
  const char *bad = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [ {\"Effect\": } ]\n}";
  assert_int_equal(policy_parse(bad, strlen(bad), &p, &e), ERR_PARSE);
  assert_non_null(strstr(e.msg, "line 3"));
  assert_non_null(strstr(e.msg, "column"));
  assert_null(p);
  const char *effect = "{\"Statement\": [{\"Effect\": \"allow\", \"Action\": \"ecr:*\"}]}";
  assert_int_equal(policy_parse(effect, strlen(effect), &p, &e), ERR_PARSE);
  assert_non_null(strstr(e.msg, "Statement[0].Effect"));
  const char *unknown = "{\"Statement\": {\"Efect\": \"Allow\", \"Action\": \"ecr:*\"}}";
  assert_int_equal(policy_parse(unknown, strlen(unknown), &p, &e), ERR_PARSE);
  assert_non_null(strstr(e.msg, "Efect"));
  const char *op =
      "{\"Statement\": {\"Effect\": \"Allow\", \"Action\": \"ecr:*\", \"Resource\": \"*\","
      " \"Condition\": {\"StringEqualz\": {\"a:b\": \"c\"}}}}";
  assert_int_equal(policy_parse(op, strlen(op), &p, &e), ERR_PARSE);
  assert_non_null(strstr(e.msg, "StringEqualz"));
  const char *nullif =
      "{\"Statement\": {\"Effect\": \"Allow\", \"Action\": \"ecr:*\", \"Resource\":"
      " \"*\", \"Condition\": {\"NullIfExists\": {\"a:b\": \"true\"}}}}";
  assert_int_equal(policy_parse(nullif, strlen(nullif), &p, &e), ERR_PARSE);
  const char *ip =
      "{\"Statement\": {\"Effect\": \"Allow\", \"Action\": \"ecr:*\", \"Resource\": \"*\","
      " \"Condition\": {\"IpAddress\": {\"aws:SourceIp\": \"1.2.3.4/40\"}}}}";
  assert_int_equal(policy_parse(ip, strlen(ip), &p, &e), ERR_PARSE);
  assert_non_null(strstr(e.msg, "CIDR"));
  const char *dup = "{\"Statement\": [], \"Statement\": []}";
  assert_int_equal(policy_parse(dup, strlen(dup), &p, &e), ERR_PARSE);
  char *big = malloc(POLICY_MAX_BYTES + 2);
  assert_non_null(big);
  memset(big, ' ', POLICY_MAX_BYTES + 1);
  big[0] = '{';
  big[POLICY_MAX_BYTES] = '}';
  assert_int_equal(policy_parse(big, POLICY_MAX_BYTES + 1, &p, &e), ERR_TOO_LARGE);
  free(big);
  const char *ok =
      "{\"Version\": \"2008-10-17\", \"Statement\": {\"Sid\": \"A\", \"Effect\": \"Allow\","
      " \"Principal\": \"*\", \"Action\": \"ecr:BatchGetImage\"}}";
  assert_int_equal(policy_parse(ok, strlen(ok), &p, &e), ERR_OK);
  assert_int_equal(policy_statement_count(p), 1);
  assert_string_equal(policy_statement_sid(p, 0), "A");
  assert_string_equal(policy_version(p), "2008-10-17");
  assert_false(policy_has_variables(p));
  assert_false(policy_has_resource_element(p));
  policy_free(p);
  policy_free(NULL);
}

static void expect_request_error(const char *json, const char *needle)
{
  struct policy_request_doc *d = NULL;
  struct err e;
  err_clear(&e);
  enum err_code rc = policy_request_doc_parse(json, strlen(json), &d, &e);
  if (rc == ERR_OK || !strstr(e.msg, needle))
    fprintf(stderr, "request %s\n  gave rc %d, message \"%s\", wanted \"%s\"\n", json, rc, e.msg,
            needle);
  assert_int_not_equal(rc, ERR_OK);
  assert_non_null(strstr(e.msg, needle));
  assert_null(d);
}

#define P_ROLE                                           \
  "\"principal\": {\"type\": \"AssumedRole\", \"arn\": " \
  "\"arn:aws:sts::722000009750:assumed-role/eks-node-role/i-1\"}"
#define REPO "\"resource\": \"arn:aws:ecr:ap-southeast-1:632000001762:repository/app\""

static void test_malformed_requests(void **state)
{
  (void)state;
  expect_request_error("{", "line 1");
  expect_request_error("[]", "must be a JSON object");
  expect_request_error("{\"action\": \"ecr:BatchGetImage\", " REPO "}", "no \"principal\"");
  expect_request_error("{" P_ROLE ", " REPO "}", "action");
  expect_request_error("{" P_ROLE ", \"action\": \"ecr:BatchGetImage\"}", "resource");
  expect_request_error("{" P_ROLE ", \"action\": \"ecr:BatchGetImage\", " REPO
                       ", \"identity_policy\": []}",
                       "unknown field \"identity_policy\"");
  expect_request_error("{\"principal\": {\"type\": \"Robot\", \"arn\": \"x\"}, \"action\": "
                       "\"ecr:X\", " REPO "}",
                       "principal.type");
  expect_request_error(
      "{\"principal\": {\"type\": \"User\", \"arn\": "
      "\"arn:aws:sts::722000009750:assumed-role/r/s\"}, \"action\": \"ecr:X\", " REPO "}",
      "principal.arn");
  expect_request_error("{\"principal\": {\"type\": \"User\", \"arn\": "
                       "\"arn:aws:iam::722000009750:user/u\", \"account\": \"111111111111\"}, "
                       "\"action\": \"ecr:X\", " REPO "}",
                       "does not match");
  expect_request_error("{" P_ROLE ", \"action\": \"ecr:BatchGetImage\", " REPO
                       ", \"identity_policies\": [{\"Statement\": {\"Effect\": \"Allow\", "
                       "\"Action\": \"ecr:*\"}}]}",
                       "identity_policies[0]: Statement[0] has no Resource");
  expect_request_error("{" P_ROLE ", \"action\": \"ecr:BatchGetImage\", " REPO
                       ", \"resource_policy\": {\"Statement\": {\"Effect\": \"Allow\", "
                       "\"Action\": \"ecr:*\"}}}",
                       "resource_policy: Statement[0] has no Principal");
  expect_request_error("{" P_ROLE ", \"action\": \"ecr:BatchGetImage\", " REPO
                       ", \"scps\": [[{\"Statement\": {\"Effect\": \"Allow\", \"Action\": \"*\", "
                       "\"Resource\": \"*\"}}], {\"Statement\": []}]}",
                       "mixes levels");
  expect_request_error("{" P_ROLE ", \"action\": \"ecr:BatchGetImage\", " REPO
                       ", \"resource_policy\": \"{\\\"Statement\\\": \"}",
                       "resource_policy: line 1");
  expect_request_error("{" P_ROLE ", \"action\": \"ecr:BatchGetImage\", " REPO
                       ", \"context\": {\"aws:SourceIp\": {\"a\": 1}}}",
                       "context.aws:SourceIp");
  /* A repository policy over ECR's 10,240 characters. */
  struct buf b;
  buf_init(&b, 64 * 1024);
  buf_puts(&b, "{" P_ROLE ", \"action\": \"ecr:BatchGetImage\", " REPO
               ", \"resource_policy\": {\"Statement\": [");
  for (int i = 0; i < 200; i++)
    buf_printf(&b,
               "%s{\"Sid\": \"S%03d\", \"Effect\": \"Allow\", \"Principal\": \"*\", \"Action\": "
               "\"ecr:BatchGetImage\"}",
               i ? "," : "", i);
  buf_puts(&b, "]}}");
  expect_request_error(buf_str(&b), "over the limit of 10240");
  buf_release(&b);
}

/* The same request with the policy text in a string (as GetRepositoryPolicy returns it). */
static void test_policy_text_in_string(void **state)
{
  (void)state;
  const char *req =
      "{" P_ROLE ", \"action\": \"ecr:BatchGetImage\", " REPO
      ", \"identity_policies\": [{\"Version\": \"2012-10-17\", \"Statement\": {\"Effect\": "
      "\"Allow\", \"Action\": \"ecr:BatchGetImage\", \"Resource\": \"*\"}}], "
      "\"resource_policy\": \"{\\\"Version\\\": \\\"2008-10-17\\\", \\\"Statement\\\": "
      "[{\\\"Effect\\\": \\\"Allow\\\", \\\"Principal\\\": {\\\"AWS\\\": "
      "\\\"arn:aws:iam::722000009750:root\\\"}, \\\"Action\\\": \\\"ecr:BatchGetImage\\\"}]}\"}";
  struct policy_request_doc *d = NULL;
  struct err e;
  assert_int_equal(policy_request_doc_parse(req, strlen(req), &d, &e), ERR_OK);
  struct policy_decision dec;
  assert_int_equal(policy_evaluate(&d->req, &dec, &e), ERR_OK);
  assert_int_equal(dec.decision, POLICY_ALLOW);
  assert_true(dec.cross_account);
  assert_int_equal(dec.n_decisive, 2);
  policy_request_doc_free(d);
}

/* A request built in C, as the diagnosis builds them, with a near miss to explain. */
static void test_request_built_in_c(void **state)
{
  (void)state;
  const char *rp_text =
      "{\"Version\": \"2012-10-17\", \"Statement\": [{\"Sid\": \"Org\", \"Effect\": \"Allow\", "
      "\"Principal\": \"*\", \"Action\": [\"ecr:BatchGetImage\", \"ecr:GetDownloadUrlForLayer\"], "
      "\"Condition\": {\"StringEquals\": {\"aws:PrincipalOrgID\": \"o-a1b2c3d4e5\"}}}]}";
  const char *id_text = "{\"Version\": \"2012-10-17\", \"Statement\": {\"Effect\": \"Allow\", "
                        "\"Action\": \"ecr:*\", \"Resource\": \"*\"}}";
  struct policy *rp = NULL, *id = NULL;
  struct err e;
  assert_int_equal(policy_parse(rp_text, strlen(rp_text), &rp, &e), ERR_OK);
  assert_int_equal(policy_parse(id_text, strlen(id_text), &id, &e), ERR_OK);
  const struct policy *ids[] = {id};
  struct policy_request r;
  memset(&r, 0, sizeof r);
  r.principal.type = POLICY_PRINCIPAL_ASSUMED_ROLE;
  r.principal.arn = "arn:aws:sts::833000004321:assumed-role/eks-node-role/i-0c9d";
  r.principal.account = "833000004321";
  r.principal.role_arn = "arn:aws:iam::833000004321:role/eks-node-role";
  r.action = "ecr:BatchGetImage";
  r.resource = "arn:aws:ecr:ap-southeast-1:632000001762:repository/audit/sa/cicd-runner";
  r.identity_policies = ids;
  r.n_identity_policies = 1;
  r.resource_policy = rp;
  struct policy_decision d;
  assert_int_equal(policy_evaluate(&r, &d, &e), ERR_OK);
  assert_int_equal(d.decision, POLICY_IMPLICIT_DENY);
  assert_int_equal(d.n_missing, 1);
  assert_int_equal(d.missing_allow_in[0].kind, POLICY_SLOT_RESOURCE);
  assert_int_equal(d.n_near_misses, 1);
  assert_int_equal(d.near_misses[0].reason, POLICY_MISS_CONDITION);
  assert_string_equal(d.near_misses[0].cond_key, "aws:PrincipalOrgID");
  assert_string_equal(d.near_misses[0].sid, "Org");
  /* Now inside the organization. */
  r.principal.org_id = "o-a1b2c3d4e5";
  assert_int_equal(policy_evaluate(&r, &d, &e), ERR_OK);
  assert_int_equal(d.decision, POLICY_ALLOW);
  char name[64];
  policy_slot_name((struct policy_slot){POLICY_SLOT_SCP, 1, 0}, true, name, sizeof name);
  assert_string_equal(name, "scps[1][0]");
  policy_slot_name((struct policy_slot){POLICY_SLOT_SCP, 1, 0}, false, name, sizeof name);
  assert_string_equal(name, "scps[1]");
  r.action = NULL;
  assert_int_equal(policy_evaluate(&r, &d, &e), ERR_INVALID);
  policy_free(rp);
  policy_free(id);
}

/* A small deterministic generator: the fuzz pass must be reproducible. */
static uint32_t rng_next(uint32_t *s)
{
  *s ^= *s << 13;
  *s ^= *s >> 17;
  *s ^= *s << 5;
  return *s;
}

static void test_fuzz_mutations(void **state)
{
  (void)state;
  size_t n_files = 0;
  char **files = case_files(&n_files);
  uint32_t seed = 0x9e3779b9u;
  static const char junk[] = "{}[]\",:*?$\\ 0aZ\x01\xff";
  size_t runs = 0, parsed = 0;
  for (size_t f = 0; f < n_files; f++) {
    json_t *root = json_load_file(files[f], 0, NULL);
    const json_t *c = json_is_array(root) ? json_array_get(root, 0) : root;
    char *text = json_dumps(json_object_get(c, "request"), JSON_COMPACT);
    size_t n = text ? strlen(text) : 0;
    for (int k = 0; text && k < 40; k++) {
      char *m = malloc(n + 1);
      memcpy(m, text, n + 1);
      size_t len = n;
      int edits = 1 + (int)(rng_next(&seed) % 4);
      for (int x = 0; x < edits; x++) {
        uint32_t r = rng_next(&seed);
        size_t at = len ? r % len : 0;
        switch (r % 3) {
        case 0: /* truncate */ len = at; break;
        case 1: /* replace a byte */
          if (len)
            m[at] = junk[(r >> 8) % (sizeof junk - 1)];
          break;
        default: /* drop a byte */
          if (len) {
            memmove(m + at, m + at + 1, len - at - 1);
            len--;
          }
        }
      }
      struct policy_request_doc *d = NULL;
      struct err e;
      runs++;
      if (policy_request_doc_parse(m, len, &d, &e) == ERR_OK) {
        struct policy_decision dec;
        parsed++;
        policy_evaluate(&d->req, &dec, &e);
        json_decref(policy_decision_to_json(&dec));
        policy_request_doc_free(d);
      }
      struct policy *p = NULL;
      if (policy_parse(m, len, &p, &e) == ERR_OK)
        policy_free(p);
      free(m);
    }
    free(text);
    json_decref(root);
    free(files[f]);
  }
  free(files);
  fprintf(stderr, "fuzz: %zu mutated requests, %zu still parsed and were evaluated\n", runs,
          parsed);
  assert_true(runs > 1000);
}

static int run_cli(const char *content)
{
  char path[] = "/tmp/ecrdiag-policy-eval-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  FILE *f = fdopen(fd, "w");
  fputs(content, f);
  fclose(f);
  char *argv[] = {"eval", path, NULL};
  int rc = cmd_policy_eval(2, argv);
  unlink(path);
  return rc;
}

static void test_cli_exit_codes(void **state)
{
  (void)state;
  assert_int_equal(run_cli("{" P_ROLE ", \"action\": \"ecr:BatchGetImage\", " REPO "}"), 0);
  assert_int_equal(run_cli("{" P_ROLE ", \"action\": \"ecr:BatchGetImage\"}"), 2);
  assert_int_equal(run_cli("not json"), 2);
  char *none[] = {"eval", NULL};
  assert_int_equal(cmd_policy_eval(1, none), 2);
  char *missing[] = {"eval", "/nonexistent/request.json", NULL};
  assert_int_equal(cmd_policy_eval(2, missing), 2);
  char *badout[] = {"eval", "-", "--output", "yaml", NULL};
  assert_int_equal(cmd_policy_eval(4, badout), 2);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fixture_cases),      cmocka_unit_test(test_glob_and_arn),
      cmocka_unit_test(test_cidr_date_number),   cmocka_unit_test(test_parse_errors),
      cmocka_unit_test(test_malformed_requests), cmocka_unit_test(test_policy_text_in_string),
      cmocka_unit_test(test_request_built_in_c), cmocka_unit_test(test_fuzz_mutations),
      cmocka_unit_test(test_cli_exit_codes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
