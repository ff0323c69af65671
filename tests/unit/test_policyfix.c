/* Tests of the repository policy fix: the seed case's statements, the merge (existing
 * statements kept byte for byte as JSON values and in order, Sid collisions, idempotency, the
 * size limit), the cases in fixtures/policies/fix/, the Terraform and CloudFormation texts
 * parsed back, and the aws CLI script run by sh against a fake `aws` on PATH. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "ecrdiag/crypto.h"
#include "ecrdiag/policyfix.h"

#define SHA256_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define ORG_STATEMENT                                                                         \
  "{\"Sid\":\"AllowPullFromOrg\",\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":[\"ecr:" \
  "BatchCheckLayerAvailability\",\"ecr:BatchGetImage\",\"ecr:GetDownloadUrlForLayer\"],"      \
  "\"Condition\":{\"StringEquals\":{\"aws:PrincipalOrgID\":\"o-a1b2c3d4e5\"}}}"

/* An existing policy the fix must not disturb: an old Version, an Id, a Deny, a push grant for
 * a CI role, a policy variable (for the Terraform escape) and odd formatting. */
static const char existing_policy[] =
    "{\n"
    "  \"Version\" : \"2008-10-17\",\n"
    "  \"Id\": \"shared-images\",\n"
    "  \"Statement\": [\n"
    "    {\"Sid\": \"DenyOutsideVpce\", \"Effect\": \"Deny\", \"Principal\": \"*\",\n"
    "     \"Action\": \"ecr:*\", \"Condition\": {\"StringNotEquals\": {\"aws:SourceVpce\": "
    "[\"vpce-0a1b2c3d\", \"vpce-9f8e7d6c\"]},\n"
    "       \"StringNotLike\": {\"aws:PrincipalArn\": \"arn:aws:iam::*:role/${aws:PrincipalTag/"
    "team}-*\"}}},\n"
    "    {\"Principal\": {\"AWS\": \"arn:aws:iam::632000001762:role/ci-pusher\"}, \"Effect\": "
    "\"Allow\", \"Sid\": \"CiPush\",\n"
    "     \"Action\": [\"ecr:PutImage\", \"ecr:InitiateLayerUpload\", \"ecr:UploadLayerPart\",\n"
    "                \"ecr:CompleteLayerUpload\", \"ecr:BatchCheckLayerAvailability\"]}\n"
    "  ]\n"
    "}\n";

/* ---- helpers --------------------------------------------------------------------------- */

static struct fix_request seed_request(enum fix_grant grant)
{
  struct fix_request r = {
      .grant = grant,
      .partition = "aws",
      .region = "ap-southeast-1",
      .registry_id = "632000001762",
      .repository = "audit/sa/cicd-runner",
      .caller_account = "722000009750",
      .org_id = "o-a1b2c3d4e5",
      .current_known = true,
      .current_policy = NULL,
  };
  return r;
}

static json_t *parse(const char *text)
{
  json_error_t je;
  json_t *j = json_loads(text, 0, &je);
  if (!j)
    fail_msg("test JSON does not parse: %s: %s", je.text, text);
  return j;
}

static char *compact(const json_t *j)
{
  char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
  assert_non_null(s);
  return s;
}

static void assert_json_text(const json_t *j, const char *expected_compact)
{
  char *s = compact(j);
  assert_string_equal(s, expected_compact);
  free(s);
}

static char *file_read(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  size_t cap = 4096, n = 0;
  char *p = malloc(cap);
  assert_non_null(p);
  size_t got;
  while ((got = fread(p + n, 1, cap - n - 1, f)) > 0) {
    n += got;
    if (cap - n - 1 == 0) {
      cap *= 2;
      p = realloc(p, cap);
      assert_non_null(p);
    }
  }
  fclose(f);
  p[n] = '\0';
  if (len)
    *len = n;
  return p;
}

static void file_write(const char *path, const char *text, int mode)
{
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
  assert_int_equal(fclose(f), 0);
  if (mode)
    assert_int_equal(chmod(path, (mode_t)mode), 0);
}

/* Builds the fix and asserts success. */
static void build_ok(const struct fix_request *r, struct policy_fix *f)
{
  struct err e = {0};
  enum err_code rc = policyfix_build(r, f, &e);
  if (rc != ERR_OK)
    fail_msg("policyfix_build: %s: %s", err_code_name(rc), e.msg);
  assert_non_null(f->statement);
  assert_non_null(f->opens);
  assert_non_null(f->aws_cli);
  assert_non_null(f->terraform);
  assert_non_null(f->cloudformation);
  assert_string_equal(f->target, "repository_policy");
}

/* Every statement of before is in after, unchanged, in order, at the front; the Version and
 * every other top-level element are kept. */
static void assert_preserved(const json_t *before, const json_t *after)
{
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)before, key, v)
  {
    if (strcmp(key, "Statement") != 0)
      assert_true(json_equal(v, json_object_get(after, key)));
  }
  json_t *bs = json_object_get(before, "Statement");
  json_t *as = json_object_get(after, "Statement");
  if (json_is_object(bs)) {
    if (json_is_object(as)) {
      assert_true(json_equal(bs, as));
      return;
    }
    assert_true(json_is_array(as));
    assert_true(json_equal(bs, json_array_get(as, 0)));
    return;
  }
  assert_true(json_array_size(as) >= json_array_size(bs));
  for (size_t i = 0; i < json_array_size(bs); i++) {
    /* Compared as text too: the keys of the user's statements keep their order. */
    char *x = compact(json_array_get(bs, i)), *y = compact(json_array_get(as, i));
    assert_string_equal(x, y);
    free(x);
    free(y);
  }
}

/* Running the fix on its own output adds nothing. */
static void assert_idempotent(const struct fix_request *r, const struct policy_fix *f)
{
  if (!f->document)
    return;
  for (int pretty = 0; pretty < 2; pretty++) {
    char *text =
        json_dumps(f->document, JSON_PRESERVE_ORDER | (pretty ? JSON_INDENT(4) : JSON_COMPACT));
    struct fix_request again = *r;
    again.current_known = true;
    again.current_policy = text;
    struct policy_fix g;
    build_ok(&again, &g);
    assert_true(g.already_granted);
    assert_true(g.granted_by >= 0);
    assert_int_equal(g.basis, FIX_BASIS_READ);
    assert_true(json_equal(g.document, f->document));
    char *want = compact(f->document);
    assert_json_text(g.document, want);
    free(want);
    policyfix_release(&g);
    free(text);
  }
}

/* ---- the seed case --------------------------------------------------------------------- */

static void test_new_document_from_none(void **state)
{
  (void)state;
  struct fix_request r = seed_request(FIX_GRANT_ORG);
  struct policy_fix f;
  build_ok(&r, &f);
  assert_json_text(f.statement, ORG_STATEMENT);
  assert_json_text(f.document, "{\"Version\":\"2012-10-17\",\"Statement\":[" ORG_STATEMENT "]}");
  assert_int_equal(f.basis, FIX_BASIS_NONE);
  assert_string_equal(f.based_on_sha256, SHA256_EMPTY);
  assert_false(f.already_granted);
  assert_int_equal(f.granted_by, -1);
  assert_string_equal(f.arn,
                      "arn:aws:ecr:ap-southeast-1:632000001762:repository/audit/sa/cicd-runner");
  assert_non_null(strstr(f.opens, "organization o-a1b2c3d4e5"));
  assert_non_null(strstr(f.opens, "nobody outside"));
  assert_null(json_object_get(f.statement, "Resource"));
  assert_idempotent(&r, &f);
  policyfix_release(&f);
  policyfix_release(&f); /* release twice is harmless: the struct is left empty */
  policyfix_release(NULL);
}

static void test_merge_keeps_existing(void **state)
{
  (void)state;
  struct fix_request r = seed_request(FIX_GRANT_ORG);
  r.current_policy = existing_policy;
  struct policy_fix f;
  build_ok(&r, &f);
  json_t *before = parse(existing_policy);
  assert_preserved(before, f.document);
  json_t *st = json_object_get(f.document, "Statement");
  assert_int_equal(json_array_size(st), 3);
  assert_json_text(json_array_get(st, 2), ORG_STATEMENT);
  assert_true(json_equal(json_array_get(st, 2), f.statement));
  assert_string_equal(json_string_value(json_object_get(f.document, "Version")), "2008-10-17");
  /* The document's own keys keep their order too. */
  const char *keys[] = {"Version", "Id", "Statement"};
  size_t i = 0;
  const char *key;
  json_t *v;
  json_object_foreach(f.document, key, v)
  {
    assert_true(i < 3);
    assert_string_equal(key, keys[i++]);
  }
  assert_int_equal(f.basis, FIX_BASIS_READ);
  char sha[65];
  crypto_sha256_hex(existing_policy, strlen(existing_policy), sha);
  assert_string_equal(f.based_on_sha256, sha);
  assert_false(f.already_granted);
  assert_idempotent(&r, &f);
  json_decref(before);
  policyfix_release(&f);
}

static void test_single_object_statement(void **state)
{
  (void)state;
  const char *text = "{\"Statement\": {\"Sid\": \"CiPush\", \"Effect\": \"Allow\", \"Principal\": "
                     "{\"AWS\": \"arn:aws:iam::632000001762:role/ci\"}, \"Action\": "
                     "\"ecr:PutImage\"}, \"Version\": \"2012-10-17\"}";
  struct fix_request r = seed_request(FIX_GRANT_ORG);
  r.current_policy = text;
  struct policy_fix f;
  build_ok(&r, &f);
  json_t *before = parse(text);
  assert_preserved(before, f.document);
  json_t *st = json_object_get(f.document, "Statement");
  assert_true(json_is_array(st));
  assert_int_equal(json_array_size(st), 2);
  /* Statement stays first among the document's keys: only its value changed. */
  assert_string_equal(json_object_iter_key(json_object_iter(f.document)), "Statement");
  assert_idempotent(&r, &f);
  policyfix_release(&f);
  json_decref(before);

  /* A single object that already grants: the document comes back as read, not normalised. */
  const char *granted = "{\"Version\": \"2012-10-17\", \"Statement\": " ORG_STATEMENT "}";
  r.current_policy = granted;
  build_ok(&r, &f);
  assert_true(f.already_granted);
  assert_int_equal(f.granted_by, 0);
  assert_true(json_is_object(json_object_get(f.document, "Statement")));
  json_t *g = parse(granted);
  assert_true(json_equal(g, f.document));
  json_decref(g);
  policyfix_release(&f);
}

static void test_idempotent_already_granted(void **state)
{
  (void)state;
  /* The fix's own output, then rebuilt from it: nothing added, the same statement reported. */
  struct fix_request r = seed_request(FIX_GRANT_ORG);
  struct policy_fix f, g;
  build_ok(&r, &f);
  char *text = json_dumps(f.document, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  r.current_policy = text;
  build_ok(&r, &g);
  assert_true(g.already_granted);
  assert_int_equal(g.granted_by, 0);
  assert_true(json_equal(g.document, f.document));
  assert_true(json_equal(g.statement, f.statement));
  /* The script says there is nothing to do and touches nothing. */
  assert_null(strstr(g.aws_cli, "set-repository-policy"));
  assert_non_null(strstr(g.aws_cli, "nothing to change"));
  assert_non_null(strstr(g.aws_cli, "Statement[0] (Sid AllowPullFromOrg)"));
  char sha[65];
  crypto_sha256_hex(text, strlen(text), sha);
  assert_string_equal(g.based_on_sha256, sha);
  policyfix_release(&g);
  policyfix_release(&f);
  free(text);
}

static void test_sid_collision(void **state)
{
  (void)state;
  const char *text =
      "{\"Version\": \"2012-10-17\", \"Statement\": [{\"Sid\": \"AllowPullFromOrg\", \"Effect\": "
      "\"Allow\", \"Principal\": \"*\", \"Action\": \"ecr:DescribeImages\", \"Condition\": "
      "{\"StringEquals\": {\"aws:PrincipalOrgID\": \"o-a1b2c3d4e5\"}}}]}";
  struct fix_request r = seed_request(FIX_GRANT_ORG);
  r.current_policy = text;
  struct policy_fix f;
  build_ok(&r, &f);
  json_t *before = parse(text);
  assert_preserved(before, f.document);
  json_t *st = json_object_get(f.document, "Statement");
  assert_int_equal(json_array_size(st), 2);
  assert_string_equal(json_string_value(json_object_get(f.statement, "Sid")), "AllowPullFromOrg2");
  assert_true(json_equal(json_array_get(st, 1), f.statement));
  /* The script carries the renamed statement. */
  assert_non_null(strstr(f.aws_cli, "\"Sid\": \"AllowPullFromOrg2\""));
  assert_idempotent(&r, &f);
  json_decref(before);
  policyfix_release(&f);
}

static void test_account_grant_aws_cn(void **state)
{
  (void)state;
  struct fix_request r = seed_request(FIX_GRANT_ACCOUNT);
  r.partition = "aws-cn";
  r.region = "cn-north-1";
  r.org_id = NULL;
  struct policy_fix f;
  build_ok(&r, &f);
  assert_json_text(f.statement,
                   "{\"Sid\":\"AllowPullFromAccount722000009750\",\"Effect\":\"Allow\","
                   "\"Principal\":{\"AWS\":\"arn:aws-cn:iam::722000009750:root\"},"
                   "\"Action\":[\"ecr:BatchCheckLayerAvailability\",\"ecr:BatchGetImage\","
                   "\"ecr:GetDownloadUrlForLayer\"]}");
  assert_string_equal(f.arn,
                      "arn:aws-cn:ecr:cn-north-1:632000001762:repository/audit/sa/cicd-runner");
  assert_non_null(strstr(f.opens, "account 722000009750"));
  assert_idempotent(&r, &f);
  policyfix_release(&f);

  /* Without a partition, the region's is used. */
  r.partition = NULL;
  build_ok(&r, &f);
  assert_string_equal(
      json_string_value(json_object_get(json_object_get(f.statement, "Principal"), "AWS")),
      "arn:aws-cn:iam::722000009750:root");
  policyfix_release(&f);
}

static void test_unreadable_policy(void **state)
{
  (void)state;
  const char *bad[] = {"",
                       "not json",
                       "[]",
                       "\"text\"",
                       "{\"Statement\": 3}",
                       "{\"Version\": \"2012-10-17\"}",
                       "{\"Statement\": [{}, 1]}",
                       "{\"Statement\": [], \"Statement\": []}",
                       "{\"Statement\": []} {}"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct fix_request r = seed_request(FIX_GRANT_ORG);
    r.current_policy = bad[i];
    struct policy_fix f;
    struct err e = {0};
    assert_int_equal(policyfix_build(&r, &f, &e), ERR_PARSE);
    assert_int_equal(e.code, ERR_PARSE);
    assert_non_null(strstr(e.msg, "does not overwrite"));
    assert_null(f.document);
    assert_null(f.aws_cli);
    assert_null(f.terraform);
    policyfix_release(&f);
  }
}

static void test_invalid_requests(void **state)
{
  (void)state;
  struct fix_request cases[6];
  for (int i = 0; i < 6; i++)
    cases[i] = seed_request(FIX_GRANT_ORG);
  cases[0].org_id = NULL;
  cases[1].org_id = "o-$(reboot)x";
  cases[2].repository = "audit/sa/x'; rm -rf /";
  cases[3].grant = FIX_GRANT_ACCOUNT;
  cases[3].caller_account = "72200000975";
  cases[4].grant = FIX_GRANT_ACCOUNT;
  cases[4].caller_account = "632000001762"; /* the registry's own account */
  cases[5].region = NULL;
  for (int i = 0; i < 6; i++) {
    struct policy_fix f;
    struct err e = {0};
    assert_int_equal(policyfix_build(&cases[i], &f, &e), ERR_INVALID);
    assert_true(e.msg[0] != '\0');
    assert_null(f.arn);
    policyfix_release(&f);
  }
  struct policy_fix f;
  assert_int_equal(policyfix_build(NULL, &f, NULL), ERR_INVALID);
}

/* A policy whose merged form is `target` compact characters long: one Deny statement padded
 * through a condition value. */
static char *padded_policy(size_t pad)
{
  char *p = malloc(pad + 1);
  assert_non_null(p);
  memset(p, 'p', pad);
  p[pad] = '\0';
  json_t *doc =
      json_pack("{s:s, s:[{s:s, s:s, s:s, s:s, s:{s:{s:s}}}]}", "Version", "2012-10-17",
                "Statement", "Sid", "Pad", "Effect", "Deny", "Principal", "*", "Action",
                "ecr:DeleteRepository", "Condition", "StringEquals", "aws:PrincipalTag/x", p);
  char *text = compact(doc);
  json_decref(doc);
  free(p);
  return text;
}

static void test_size_limit(void **state)
{
  (void)state;
  struct fix_request r = seed_request(FIX_GRANT_ORG);
  struct policy_fix f;
  char *text = padded_policy(0);
  r.current_policy = text;
  build_ok(&r, &f);
  char *merged = compact(f.document);
  size_t base = strlen(merged);
  free(merged);
  policyfix_release(&f);
  free(text);

  /* Exactly at the limit: fine. One more character: refused, naming the remedy. */
  size_t fit = POLICYFIX_MAX_DOCUMENT_CHARS - base;
  text = padded_policy(fit);
  r.current_policy = text;
  build_ok(&r, &f);
  merged = compact(f.document);
  assert_int_equal(strlen(merged), POLICYFIX_MAX_DOCUMENT_CHARS);
  free(merged);
  policyfix_release(&f);
  free(text);

  text = padded_policy(fit + 1);
  r.current_policy = text;
  struct err e = {0};
  assert_int_equal(policyfix_build(&r, &f, &e), ERR_TOO_LARGE);
  assert_non_null(strstr(e.msg, "10241 characters"));
  assert_non_null(strstr(e.msg, "aws:PrincipalOrgID"));
  assert_null(f.document);
  policyfix_release(&f);
  free(text);
}

static void test_based_on_sha256(void **state)
{
  (void)state;
  struct fix_request r = seed_request(FIX_GRANT_ORG);
  struct policy_fix f;

  r.current_known = false;
  r.current_policy = "{\"ignored\": true}"; /* not known: not read either */
  build_ok(&r, &f);
  assert_null(f.based_on_sha256);
  assert_null(f.document);
  assert_int_equal(f.basis, FIX_BASIS_UNKNOWN);
  assert_json_text(f.statement, ORG_STATEMENT);
  assert_non_null(strstr(f.aws_cli, "EXPECTED_SHA256=''"));
  policyfix_release(&f);

  r.current_known = true;
  r.current_policy = NULL;
  build_ok(&r, &f);
  assert_string_equal(f.based_on_sha256, SHA256_EMPTY);
  assert_non_null(strstr(f.aws_cli, "EXPECTED_SHA256='" SHA256_EMPTY "'"));
  policyfix_release(&f);

  r.current_policy = "{\"Version\":\"2012-10-17\",\"Statement\":[]}";
  build_ok(&r, &f);
  assert_string_equal(f.based_on_sha256,
                      "8f907b489532ad56fb7c52f3acc89b27680ed51296bf03984ce78d2b7b96076a");
  assert_int_equal(json_array_size(json_object_get(f.document, "Statement")), 1);
  policyfix_release(&f);
}

/* ---- the data-driven cases --------------------------------------------------------------- */

static const char *fixtures_dir(void)
{
  const char *d = getenv("ECRDIAG_FIXTURES");
  return d ? d : "fixtures";
}

static void run_case(const char *path)
{
  json_error_t je;
  json_t *c = json_load_file(path, 0, &je);
  if (!c)
    fail_msg("%s: %s", path, je.text);
  const char *grant = json_string_value(json_object_get(c, "grant"));
  assert_non_null(grant);
  struct fix_request r =
      seed_request(strcmp(grant, "org") == 0 ? FIX_GRANT_ORG : FIX_GRANT_ACCOUNT);
  json_t *cur = json_object_get(c, "current");
  char *text = cur ? json_dumps(cur, JSON_INDENT(2) | JSON_PRESERVE_ORDER)
                   : strdup(json_string_value(json_object_get(c, "current_text")));
  assert_non_null(text);
  r.current_policy = text;
  json_t *expect = json_object_get(c, "expect");
  struct policy_fix f;
  struct err e = {0};
  enum err_code rc = policyfix_build(&r, &f, &e);
  json_t *want_err = json_object_get(expect, "error");
  if (want_err) {
    if (strcmp(err_code_name(rc), json_string_value(want_err)) != 0)
      fail_msg("%s: got %s (%s)", path, err_code_name(rc), e.msg);
  } else {
    if (rc != ERR_OK)
      fail_msg("%s: %s: %s", path, err_code_name(rc), e.msg);
    assert_preserved(cur, f.document);
    json_t *ag = json_object_get(expect, "already_granted");
    if (ag) {
      if (!f.already_granted)
        fail_msg("%s: expected already granted", path);
      assert_int_equal(f.granted_by, json_integer_value(json_object_get(expect, "granted_by")));
      assert_true(json_equal(cur, f.document));
    } else {
      if (f.already_granted)
        fail_msg("%s: expected the statement to be added", path);
      json_t *st = json_object_get(f.document, "Statement");
      json_t *last = json_array_get(st, json_array_size(st) - 1);
      assert_true(json_equal(last, f.statement));
      assert_string_equal(json_string_value(json_object_get(last, "Sid")),
                          json_string_value(json_object_get(expect, "added_sid")));
    }
    assert_idempotent(&r, &f);
  }
  policyfix_release(&f);
  free(text);
  json_decref(c);
}

static void test_fixture_cases(void **state)
{
  (void)state;
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/policies/fix", fixtures_dir());
  DIR *d = opendir(dir);
  assert_non_null(d);
  struct dirent *ent;
  int n = 0;
  while ((ent = readdir(d))) {
    size_t len = strlen(ent->d_name);
    if (len < 6 || strcmp(ent->d_name + len - 5, ".json") != 0)
      continue;
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
    run_case(path);
    n++;
  }
  closedir(d);
  assert_true(n >= 20); /* a missing directory must not pass as "no cases" */
}

/* ---- Terraform and CloudFormation ------------------------------------------------------ */

/* The document inside the Terraform heredoc, template escapes undone. */
static json_t *terraform_document(const char *tf)
{
  const char *start = strstr(tf, "<<EOT\n");
  assert_non_null(start);
  start += 6;
  const char *end = strstr(start, "\nEOT\n");
  assert_non_null(end);
  size_t n = (size_t)(end - start);
  char *s = malloc(n + 1);
  assert_non_null(s);
  size_t j = 0;
  for (size_t i = 0; i < n; i++) {
    if ((start[i] == '$' || start[i] == '%') && i + 2 < n && start[i + 1] == start[i] &&
        start[i + 2] == '{')
      i++;
    s[j++] = start[i];
  }
  s[j] = '\0';
  json_t *doc = parse(s);
  free(s);
  return doc;
}

static json_t *cloudformation_document(const char *cfn)
{
  const char *start = strstr(cfn, "\nRepositoryPolicyText:\n");
  assert_non_null(start);
  return parse(start + strlen("\nRepositoryPolicyText:\n"));
}

static void test_terraform_cloudformation(void **state)
{
  (void)state;
  struct fix_request r = seed_request(FIX_GRANT_ORG);
  r.current_policy = existing_policy;
  struct policy_fix f;
  build_ok(&r, &f);
  assert_non_null(strstr(f.terraform,
                         "resource \"aws_ecr_repository_policy\" \"audit_sa_cicd_runner\" {\n"
                         "  repository = \"audit/sa/cicd-runner\"\n"));
  /* The policy variable is escaped, so Terraform does not try to interpolate it. */
  assert_non_null(strstr(f.terraform, "$${aws:PrincipalTag/team}"));
  assert_non_null(strstr(f.terraform, "provider"));
  assert_null(strstr(f.terraform, "CAUTION"));
  json_t *tf = terraform_document(f.terraform);
  assert_true(json_equal(tf, f.document));
  json_decref(tf);
  assert_non_null(strstr(f.cloudformation, "AWS::ECR::Repository"));
  json_t *cfn = cloudformation_document(f.cloudformation);
  assert_true(json_equal(cfn, f.document));
  json_decref(cfn);
  policyfix_release(&f);

  /* Unknown current policy: only the new statement, with the warning that it replaces. */
  r.current_known = false;
  build_ok(&r, &f);
  json_t *only = json_pack("{s:s, s:[O]}", "Version", "2012-10-17", "Statement", f.statement);
  assert_non_null(strstr(f.terraform, "CAUTION"));
  assert_non_null(strstr(f.terraform, "REPLACE"));
  assert_non_null(strstr(f.cloudformation, "REPLACE"));
  tf = terraform_document(f.terraform);
  assert_true(json_equal(tf, only));
  cfn = cloudformation_document(f.cloudformation);
  assert_true(json_equal(cfn, only));
  json_decref(tf);
  json_decref(cfn);
  json_decref(only);
  policyfix_release(&f);
}

/* ---- the aws CLI script, run ----------------------------------------------------------- */

/* A stand-in for `aws`: logs every call, serves get-repository-policy from get.json (or
 * get.err + exit 254, or "not found" when neither exists) and copies the --policy-text file
 * of set-repository-policy to set.json. */
static const char fake_aws[] =
    "#!/bin/sh\n"
    "state=\"$FAKE_AWS_STATE\"\n"
    "printf '%s\\n' \"$*\" >>\"$state/calls.log\"\n"
    "case \"$1 $2\" in\n"
    "'ecr get-repository-policy')\n"
    "  if [ -f \"$state/get.json\" ]; then cat \"$state/get.json\"; exit 0; fi\n"
    "  if [ -f \"$state/get.err\" ]; then cat \"$state/get.err\" >&2; exit 254; fi\n"
    "  echo 'An error occurred (RepositoryPolicyNotFoundException) when calling the "
    "GetRepositoryPolicy operation: Repository policy does not exist for the repository with "
    "name '\\''x'\\'' in the registry with id '\\''y'\\''' >&2\n"
    "  exit 254;;\n"
    "'ecr set-repository-policy')\n"
    "  while [ $# -gt 0 ]; do\n"
    "    if [ \"$1\" = --policy-text ]; then cp \"${2#file://}\" \"$state/set.json\"; fi\n"
    "    shift\n"
    "  done\n"
    "  echo '{}'; exit 0;;\n"
    "esac\n"
    "echo \"fake aws: unexpected call: $*\" >&2\n"
    "exit 2\n";

struct sandbox {
  char root[256];
  char path[1024];
};

static bool tools_present(void)
{
  return system("command -v jq >/dev/null 2>&1 && command -v sh >/dev/null 2>&1") == 0;
}

static int sandbox_setup(void **state)
{
  struct sandbox *sb = calloc(1, sizeof *sb);
  if (!sb)
    return -1;
  const char *tmp = getenv("TMPDIR");
  snprintf(sb->root, sizeof sb->root, "%s/ecrdiag-fix-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(sb->root))
    return -1;
  *state = sb;
  return 0;
}

static int sandbox_teardown(void **state)
{
  struct sandbox *sb = *state;
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", sb->root);
  int rc = system(cmd);
  free(sb);
  return rc == 0 ? 0 : -1;
}

static const char *sb_path(struct sandbox *sb, const char *name)
{
  snprintf(sb->path, sizeof sb->path, "%s/%s", sb->root, name);
  return sb->path;
}

/* Fresh directories for one run: bin/aws, state/, cwd/ (where backups land). */
static void sandbox_reset(struct sandbox *sb)
{
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'/* && mkdir '%s/bin' '%s/state' '%s/cwd'", sb->root,
           sb->root, sb->root, sb->root);
  assert_int_equal(system(cmd), 0);
  file_write(sb_path(sb, "bin/aws"), fake_aws, 0755);
}

/* The live policy the fake serves: the exact text, wrapped as GetRepositoryPolicy does. */
static void sandbox_serve(struct sandbox *sb, const char *policy_text)
{
  json_t *resp = json_pack("{s:s, s:s, s:s}", "registryId", "632000001762", "repositoryName",
                           "audit/sa/cicd-runner", "policyText", policy_text);
  char *s = json_dumps(resp, JSON_INDENT(4));
  file_write(sb_path(sb, "state/get.json"), s, 0);
  free(s);
  json_decref(resp);
}

/* Runs the script under sh with the fake first on PATH; returns its exit status. */
static int sandbox_run(struct sandbox *sb, const char *script)
{
  file_write(sb_path(sb, "fix.sh"), script, 0);
  char cmd[4096];
  snprintf(cmd, sizeof cmd,
           "cd '%s/cwd' && FAKE_AWS_STATE='%s/state' PATH='%s/bin':\"$PATH\" sh '%s/fix.sh' "
           ">'%s/out' 2>'%s/err'",
           sb->root, sb->root, sb->root, sb->root, sb->root, sb->root);
  int st = system(cmd);
  assert_true(WIFEXITED(st));
  return WEXITSTATUS(st);
}

static char *sandbox_file(struct sandbox *sb, const char *name)
{
  return file_read(sb_path(sb, name), NULL);
}

/* The backups written into cwd/, as one malloc'd path (NULL when none); asserts at most one. */
static char *sandbox_backup(struct sandbox *sb)
{
  char dir[512];
  snprintf(dir, sizeof dir, "%s/cwd", sb->root);
  DIR *d = opendir(dir);
  assert_non_null(d);
  char *found = NULL;
  struct dirent *ent;
  while ((ent = readdir(d))) {
    if (strncmp(ent->d_name, "ecr-policy-632000001762-audit_sa_cicd-runner-", 45) != 0)
      continue;
    assert_null(found);
    size_t n = strlen(dir) + strlen(ent->d_name) + 2;
    found = malloc(n);
    assert_non_null(found);
    snprintf(found, n, "%s/%s", dir, ent->d_name);
  }
  closedir(d);
  return found;
}

static void assert_set_document(struct sandbox *sb, const json_t *want)
{
  char *set = sandbox_file(sb, "state/set.json");
  if (!set)
    fail_msg("the script did not set a policy; stderr: %s", sandbox_file(sb, "err"));
  json_t *got = parse(set);
  if (!json_equal(got, want)) {
    char *w = compact(want);
    fail_msg("set %s\nwanted %s", set, w);
  }
  /* jq -c writes what jansson's compact form does: key order kept, no whitespace. */
  char *w = compact(want);
  assert_string_equal(set, w);
  free(w);
  json_decref(got);
  free(set);
}

static void assert_no_set(struct sandbox *sb)
{
  char *set = sandbox_file(sb, "state/set.json");
  if (set)
    fail_msg("the script set a policy: %s", set);
}

static void assert_file_contains(struct sandbox *sb, const char *name, const char *needle)
{
  char *s = sandbox_file(sb, name);
  assert_non_null(s);
  if (!strstr(s, needle))
    fail_msg("%s lacks \"%s\":\n%s", name, needle, s);
  free(s);
}

static void test_script_no_policy(void **state)
{
  struct sandbox *sb = *state;
  if (!tools_present())
    skip();
  struct fix_request r = seed_request(FIX_GRANT_ORG);
  struct policy_fix f;
  build_ok(&r, &f);
  sandbox_reset(sb);
  assert_int_equal(sandbox_run(sb, f.aws_cli), 0);
  assert_set_document(sb, f.document);
  char *backup = sandbox_backup(sb);
  assert_null(backup); /* nothing to back up */
  assert_file_contains(sb, "state/calls.log",
                       "ecr get-repository-policy --registry-id 632000001762 --repository-name "
                       "audit/sa/cicd-runner --region ap-southeast-1 --output json");
  assert_file_contains(sb, "state/calls.log",
                       "ecr set-repository-policy --registry-id 632000001762 --repository-name "
                       "audit/sa/cicd-runner --region ap-southeast-1 --policy-text file://");
  assert_file_contains(sb, "out", "delete-repository-policy");

  /* A policy created since ecrdiag saw none: the checksum stops the script. */
  sandbox_reset(sb);
  sandbox_serve(sb, existing_policy);
  assert_int_equal(sandbox_run(sb, f.aws_cli), 1);
  assert_no_set(sb);
  assert_file_contains(sb, "err", "changed since ecrdiag read it");
  policyfix_release(&f);
}

static void test_script_existing_policy(void **state)
{
  struct sandbox *sb = *state;
  if (!tools_present())
    skip();
  struct fix_request r = seed_request(FIX_GRANT_ORG);
  r.current_policy = existing_policy; /* ends in a newline: the checksum must see it */
  struct policy_fix f;
  build_ok(&r, &f);
  sandbox_reset(sb);
  sandbox_serve(sb, existing_policy);
  assert_int_equal(sandbox_run(sb, f.aws_cli), 0);
  assert_set_document(sb, f.document);
  char *backup = sandbox_backup(sb);
  assert_non_null(backup);
  size_t n = 0;
  char *saved = file_read(backup, &n);
  assert_non_null(saved);
  assert_int_equal(n, strlen(existing_policy));
  assert_memory_equal(saved, existing_policy, n);
  assert_file_contains(sb, "out", backup);
  free(saved);
  free(backup);

  /* Changed since it was read (one statement added by someone): stopped, nothing set. */
  sandbox_reset(sb);
  char *changed = compact(f.document);
  sandbox_serve(sb, changed);
  assert_int_equal(sandbox_run(sb, f.aws_cli), 1);
  assert_no_set(sb);
  assert_file_contains(sb, "err", "changed since ecrdiag read it");
  assert_file_contains(sb, "err", "run ecrdiag again");
  assert_null(sandbox_backup(sb));
  free(changed);

  /* Any other error reading the policy is shown, and nothing is set. */
  sandbox_reset(sb);
  file_write(sb_path(sb, "state/get.err"),
             "An error occurred (AccessDeniedException) when calling the GetRepositoryPolicy "
             "operation: not authorized\n",
             0);
  assert_int_equal(sandbox_run(sb, f.aws_cli), 1);
  assert_no_set(sb);
  assert_file_contains(sb, "err", "AccessDeniedException");
  policyfix_release(&f);
}

static void test_script_unknown_policy(void **state)
{
  struct sandbox *sb = *state;
  if (!tools_present())
    skip();
  /* ecrdiag could not read the policy; the live one has a single-object Statement whose Sid
   * is the fix's, with other content. */
  const char *live = "{\"Version\":\"2008-10-17\",\"Statement\":{\"Sid\":\"AllowPullFromOrg\","
                     "\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::111111111111:"
                     "root\"},\"Action\":\"ecr:BatchGetImage\"}}";
  struct fix_request r = seed_request(FIX_GRANT_ORG);
  r.current_known = false;
  struct policy_fix f;
  build_ok(&r, &f);
  sandbox_reset(sb);
  sandbox_serve(sb, live);
  assert_int_equal(sandbox_run(sb, f.aws_cli), 0);
  /* What ecrdiag itself would have produced from the live policy. */
  struct fix_request known = r;
  known.current_known = true;
  known.current_policy = live;
  struct policy_fix g;
  build_ok(&known, &g);
  assert_string_equal(json_string_value(json_object_get(g.statement, "Sid")), "AllowPullFromOrg2");
  assert_set_document(sb, g.document);
  char *set = sandbox_file(sb, "state/set.json");

  /* Run again on the result: the statement is there, nothing is set. */
  sandbox_reset(sb);
  sandbox_serve(sb, set);
  assert_int_equal(sandbox_run(sb, f.aws_cli), 0);
  assert_no_set(sb);
  assert_file_contains(sb, "out", "already holds the statement: nothing to do");

  /* A live policy that is not a document is never overwritten. */
  sandbox_reset(sb);
  sandbox_serve(sb, "{\"Statement\": \"x\"}");
  assert_true(sandbox_run(sb, f.aws_cli) != 0);
  assert_no_set(sb);
  free(set);
  policyfix_release(&g);
  policyfix_release(&f);
}

static void test_script_already_granted(void **state)
{
  struct sandbox *sb = *state;
  if (!tools_present())
    skip();
  struct fix_request r = seed_request(FIX_GRANT_ACCOUNT);
  /* A Sid is the user's text: one that would end the script's comment line stays out of it. */
  r.current_policy = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"x\\ntouch pwned\","
                     "\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"ecr:*\"}]}";
  struct policy_fix f;
  build_ok(&r, &f);
  assert_true(f.already_granted);
  sandbox_reset(sb);
  assert_int_equal(sandbox_run(sb, f.aws_cli), 0);
  assert_no_set(sb);
  assert_null(sandbox_file(sb, "state/calls.log"));
  assert_null(sandbox_file(sb, "cwd/pwned"));
  assert_file_contains(sb, "out", "nothing to change");
  policyfix_release(&f);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_new_document_from_none),
      cmocka_unit_test(test_merge_keeps_existing),
      cmocka_unit_test(test_single_object_statement),
      cmocka_unit_test(test_idempotent_already_granted),
      cmocka_unit_test(test_sid_collision),
      cmocka_unit_test(test_account_grant_aws_cn),
      cmocka_unit_test(test_unreadable_policy),
      cmocka_unit_test(test_invalid_requests),
      cmocka_unit_test(test_size_limit),
      cmocka_unit_test(test_based_on_sha256),
      cmocka_unit_test(test_fixture_cases),
      cmocka_unit_test(test_terraform_cloudformation),
      cmocka_unit_test_setup_teardown(test_script_no_policy, sandbox_setup, sandbox_teardown),
      cmocka_unit_test_setup_teardown(test_script_existing_policy, sandbox_setup, sandbox_teardown),
      cmocka_unit_test_setup_teardown(test_script_unknown_policy, sandbox_setup, sandbox_teardown),
      cmocka_unit_test_setup_teardown(test_script_already_granted, sandbox_setup, sandbox_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
