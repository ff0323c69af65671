/* Tests of the policy fix: every grant kind, the identity fix and the pull-through cache
 * import, the merge (statements kept byte for byte and in order, Sid collisions, idempotency,
 * the size limit and the merging that fits it), the exemption from a repository or registry policy
 * Deny, verification, the cases in fixtures/policies/fix/, Terraform and CloudFormation parsed
 * back, and the aws CLI scripts run by sh against a fake `aws` on PATH. */
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
#include "ecrdiag/policy.h"
#include "ecrdiag/policyfix.h"
#include "ecrdiag/policylint.h"

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

#define SEED_SESSION "arn:aws:sts::722000009750:assumed-role/eks-node/i-0abc1234"
#define SEED_ROLE "arn:aws:iam::722000009750:role/eks-node"
#define SEED_OU_PATH "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/"
static const char *const seed_org_paths[] = {SEED_OU_PATH};

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
      .principal_arn = SEED_SESSION,
      .org_paths = seed_org_paths,
      .n_org_paths = 1,
  };
  return r;
}

/* A policy of statements that have nothing to do with the puller and block nothing it needs:
 * a Deny of deletion to everyone, a push grant for a CI role, service principals narrowed to
 * the account, a Deny without TLS. Every grant must leave them exactly as they are. */
static const char unrelated_policy[] =
    "{\"Version\": \"2012-10-17\", \"Id\": \"platform-images\", \"Statement\": [\n"
    " {\"Sid\": \"DenyDelete\", \"Effect\": \"Deny\", \"Principal\": \"*\",\n"
    "  \"Action\": [\"ecr:DeleteRepository\", \"ecr:BatchDeleteImage\"]},\n"
    " {\"Sid\": \"CiPush\", \"Effect\": \"Allow\", \"Principal\": {\"AWS\": "
    "\"arn:aws:iam::632000001762:role/ci-pusher\"},\n"
    "  \"Action\": [\"ecr:PutImage\", \"ecr:InitiateLayerUpload\", \"ecr:UploadLayerPart\", "
    "\"ecr:CompleteLayerUpload\", \"ecr:BatchCheckLayerAvailability\"]},\n"
    " {\"Sid\": \"CodeBuildPull\", \"Effect\": \"Allow\", \"Principal\": {\"Service\": "
    "\"codebuild.amazonaws.com\"},\n"
    "  \"Action\": [\"ecr:BatchGetImage\", \"ecr:GetDownloadUrlForLayer\"],\n"
    "  \"Condition\": {\"StringEquals\": {\"aws:SourceAccount\": \"632000001762\"}}},\n"
    " {\"Sid\": \"LambdaPull\", \"Effect\": \"Allow\", \"Principal\": {\"Service\": "
    "\"lambda.amazonaws.com\"},\n"
    "  \"Action\": [\"ecr:BatchGetImage\", \"ecr:GetDownloadUrlForLayer\"],\n"
    "  \"Condition\": {\"ArnLike\": {\"aws:SourceArn\": "
    "\"arn:aws:lambda:ap-southeast-1:632000001762:function:*\"}}},\n"
    " {\"Sid\": \"DenyWithoutTls\", \"Effect\": \"Deny\", \"Principal\": \"*\", \"Action\": "
    "\"ecr:*\",\n"
    "  \"Condition\": {\"Bool\": {\"aws:SecureTransport\": \"false\"}}}\n"
    "]}\n";

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

/* Builds the fix (any target) and asserts success. */
static void build_any(const struct fix_request *r, struct policy_fix *f)
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
  assert_non_null(f->verification);
}

/* Builds a repository policy fix and asserts success. */
static void build_ok(const struct fix_request *r, struct policy_fix *f)
{
  build_any(r, f);
  assert_string_equal(f->target, "repository_policy");
}

static void assert_verified(const struct policy_fix *f)
{
  if (!f->verified)
    fail_msg("not verified: %s", f->verification);
}

static void assert_contains(const char *haystack, const char *needle)
{
  if (!haystack || !strstr(haystack, needle))
    fail_msg("\"%s\" lacks \"%s\"", haystack ? haystack : "(null)", needle);
}

/* Lint finds nothing critical in the fix's document. */
static void assert_lint_clean(const json_t *doc)
{
  char *s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
  struct policylint_report rep;
  assert_int_equal(policylint_run(s, strlen(s), &rep, NULL), ERR_OK);
  if (policylint_has_critical(&rep))
    fail_msg("lint: %s", rep.findings[0].message);
  policylint_release(&rep);
  free(s);
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
  assert_non_null(strstr(e.msg, "--grant ou"));
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
  enum fix_grant g;
  if (!policyfix_grant_parse(grant, &g))
    fail_msg("%s: unknown grant %s", path, grant);
  struct fix_request r = seed_request(g);
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

/* ---- the grant kinds ------------------------------------------------------------------- */

static void test_grant_names(void **state)
{
  (void)state;
  const enum fix_grant all[] = {FIX_GRANT_ORG, FIX_GRANT_ACCOUNT, FIX_GRANT_ROLE,
                                FIX_GRANT_ROLE_CONDITION, FIX_GRANT_OU};
  assert_int_equal(sizeof all / sizeof all[0], FIX_GRANT_COUNT);
  for (size_t i = 0; i < FIX_GRANT_COUNT; i++) {
    enum fix_grant g;
    assert_non_null(policyfix_grant_name(all[i]));
    assert_true(policyfix_grant_parse(policyfix_grant_name(all[i]), &g));
    assert_int_equal(g, all[i]);
  }
  enum fix_grant g;
  assert_false(policyfix_grant_parse("everyone", &g));
  assert_false(policyfix_grant_parse(NULL, &g));
  assert_null(policyfix_grant_name((enum fix_grant)99));
}

/* The policy with unrelated statements survives every grant unchanged, and each grant is
 * verified, lint-clean and idempotent. */
static void test_unrelated_statements_survive(void **state)
{
  (void)state;
  const enum fix_grant all[] = {FIX_GRANT_ORG, FIX_GRANT_ACCOUNT, FIX_GRANT_ROLE,
                                FIX_GRANT_ROLE_CONDITION, FIX_GRANT_OU};
  json_t *before = parse(unrelated_policy);
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
    struct fix_request r = seed_request(all[i]);
    r.current_policy = unrelated_policy;
    struct policy_fix f;
    build_ok(&r, &f);
    assert_preserved(before, f.document);
    assert_int_equal(json_array_size(json_object_get(f.document, "Statement")), 6);
    assert_false(f.already_granted);
    assert_int_equal(f.merged_statements, 0);
    assert_verified(&f);
    assert_lint_clean(f.document);
    assert_int_equal(f.grant, all[i]);
    assert_idempotent(&r, &f);
    policyfix_release(&f);
  }
  json_decref(before);
}

static void test_role_grant(void **state)
{
  (void)state;
  struct fix_request r = seed_request(FIX_GRANT_ROLE);
  struct policy_fix f;
  build_ok(&r, &f);
  /* The role, derived from the session: never the session ARN. */
  assert_json_text(f.statement,
                   "{\"Sid\":\"AllowPullFromRoleeksnode\",\"Effect\":\"Allow\",\"Principal\":"
                   "{\"AWS\":\"" SEED_ROLE "\"},\"Action\":[\"ecr:BatchCheckLayerAvailability\","
                   "\"ecr:BatchGetImage\",\"ecr:GetDownloadUrlForLayer\"]}");
  char *doc = compact(f.document);
  assert_null(strstr(doc, "assumed-role"));
  free(doc);
  assert_string_equal(f.role_arn, SEED_ROLE);
  assert_contains(f.opens, "role " SEED_ROLE);
  assert_contains(f.opens, "no other principal");
  assert_contains(f.caveat, "ECR refuses a repository policy naming a principal that does not "
                            "exist");
  assert_contains(f.caveat, "role-condition");
  assert_contains(f.caveat, "does not carry the role's path");
  assert_verified(&f);
  assert_contains(f.verification, SEED_SESSION);
  assert_idempotent(&r, &f);
  policyfix_release(&f);

  /* The role ARN with its path, given: used as is, and no path caveat. */
  r.role_arn = "arn:aws:iam::722000009750:role/nodes/eks-node";
  build_ok(&r, &f);
  assert_string_equal(
      json_string_value(json_object_get(json_object_get(f.statement, "Principal"), "AWS")),
      "arn:aws:iam::722000009750:role/nodes/eks-node");
  assert_null(strstr(f.caveat, "path"));
  assert_verified(&f);
  policyfix_release(&f);

  /* The condition form: Principal "*" narrowed by aws:PrincipalArn, lint-clean. */
  r = seed_request(FIX_GRANT_ROLE_CONDITION);
  build_ok(&r, &f);
  assert_json_text(f.statement,
                   "{\"Sid\":\"AllowPullFromRoleeksnode\",\"Effect\":\"Allow\",\"Principal\":\"*\","
                   "\"Action\":[\"ecr:BatchCheckLayerAvailability\",\"ecr:BatchGetImage\","
                   "\"ecr:GetDownloadUrlForLayer\"],\"Condition\":{\"ArnEquals\":"
                   "{\"aws:PrincipalArn\":\"" SEED_ROLE "\"}}}");
  assert_contains(f.opens, "re-created");
  assert_null(strstr(f.caveat, "does not exist"));
  assert_lint_clean(f.document);
  assert_verified(&f);
  assert_idempotent(&r, &f);
  policyfix_release(&f);

  /* Same account: the role grant works on its own (no IAM policy needed), unlike an account
   * grant, which is refused. */
  r = seed_request(FIX_GRANT_ROLE);
  r.principal_arn = "arn:aws:sts::632000001762:assumed-role/eks-node/i-0abc1234";
  r.caller_account = "632000001762";
  build_ok(&r, &f);
  assert_verified(&f);
  assert_contains(f.verification, "the repository policy alone");
  policyfix_release(&f);
}

static void test_role_grant_invalid(void **state)
{
  (void)state;
  struct fix_request cases[6];
  for (int i = 0; i < 6; i++)
    cases[i] = seed_request(FIX_GRANT_ROLE);
  cases[0].principal_arn = "arn:aws:iam::722000009750:user/alice"; /* a user, not a role */
  cases[1].principal_arn = NULL;                                   /* nothing says which role */
  cases[2].role_arn = "arn:aws:iam::722000009750:role/x'$(reboot)";
  cases[3].role_arn = "arn:aws:iam::111111111111:role/eks-node";    /* not the caller's account */
  cases[4].role_arn = "arn:aws-cn:iam::722000009750:role/eks-node"; /* another partition */
  cases[5].principal_arn = "arn:aws:sts::722000009750:assumed-role/eks node/x";
  for (int i = 0; i < 6; i++) {
    struct policy_fix f;
    struct err e = {0};
    assert_int_equal(policyfix_build(&cases[i], &f, &e), ERR_INVALID);
    assert_true(e.msg[0] != '\0');
    assert_null(f.aws_cli);
    policyfix_release(&f);
  }
  struct err e = {0};
  struct policy_fix f;
  assert_int_equal(policyfix_build(&cases[0], &f, &e), ERR_INVALID);
  assert_contains(e.msg, "account grant");
}

static void test_ou_grant(void **state)
{
  (void)state;
  /* The caller's own OU by default. */
  struct fix_request r = seed_request(FIX_GRANT_OU);
  struct policy_fix f;
  build_ok(&r, &f);
  assert_json_text(f.statement,
                   "{\"Sid\":\"AllowPullFromOuab1211111111\",\"Effect\":\"Allow\",\"Principal\":"
                   "\"*\",\"Action\":[\"ecr:BatchCheckLayerAvailability\",\"ecr:BatchGetImage\","
                   "\"ecr:GetDownloadUrlForLayer\"],\"Condition\":{\"ForAnyValue:StringLike\":"
                   "{\"aws:PrincipalOrgPaths\":\"" SEED_OU_PATH "*\"}}}");
  assert_contains(f.opens, "OU ou-ab12-11111111 of organization o-a1b2c3d4e5");
  assert_contains(f.opens, "nobody outside that OU");
  assert_verified(&f);
  assert_lint_clean(f.document);
  assert_idempotent(&r, &f);
  policyfix_release(&f);

  /* A parent OU, given without its trailing slash: the caller, in a child OU, is inside. */
  const char *child[] = {"o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/ou-ab12-22222222/"};
  r.org_paths = child;
  r.ou_path = "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111";
  build_ok(&r, &f);
  assert_string_equal(
      json_string_value(json_object_get(
          json_object_get(json_object_get(f.statement, "Condition"), "ForAnyValue:StringLike"),
          "aws:PrincipalOrgPaths")),
      SEED_OU_PATH "*");
  assert_verified(&f);
  policyfix_release(&f);

  /* An OU the caller is not in: built, but verification says the caller is still refused. */
  r.ou_path = "o-a1b2c3d4e5/r-ab12/ou-ab12-33333333/";
  r.org_paths = seed_org_paths;
  build_ok(&r, &f);
  assert_false(f.verified);
  assert_contains(f.verification, "still refused ecr:BatchGetImage");
  assert_contains(f.verification, "aws:PrincipalOrgPaths");
  policyfix_release(&f);

  /* Invalid: no path at all, only the root, another organization, a malformed OU id. */
  const char *bad[] = {NULL, "o-a1b2c3d4e5/r-ab12/", "o-zzzzzzzzzz/r-ab12/ou-ab12-11111111/",
                       "o-a1b2c3d4e5/r-ab12/ou-x/", "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/;ls/"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    r = seed_request(FIX_GRANT_OU);
    r.ou_path = bad[i];
    if (!bad[i])
      r.n_org_paths = 0;
    struct err e = {0};
    assert_int_equal(policyfix_build(&r, &f, &e), ERR_INVALID);
    policyfix_release(&f);
  }
}

/* ---- the identity fix ------------------------------------------------------------------ */

static json_t *cloudformation_policy_document(const char *cfn)
{
  const char *start = strstr(cfn, "    PolicyDocument:\n");
  assert_non_null(start);
  return parse(start + strlen("    PolicyDocument:\n"));
}

static json_t *terraform_document(const char *tf);

static void test_identity_inline(void **state)
{
  (void)state;
  struct fix_request r = seed_request(FIX_GRANT_ORG);
  r.target = FIX_TARGET_IDENTITY_POLICY;
  /* Cross account: A's repository policy (read) lets the organization in. */
  char *grant = NULL;
  {
    struct fix_request g = seed_request(FIX_GRANT_ORG);
    struct policy_fix gf;
    build_ok(&g, &gf);
    grant = compact(gf.document);
    policyfix_release(&gf);
  }
  r.current_policy = grant;
  struct policy_fix f;
  build_any(&r, &f);
  assert_string_equal(f.target, "identity_policy");
  assert_string_equal(f.role_arn, SEED_ROLE);
  assert_int_equal(f.basis, FIX_BASIS_NONE);
  assert_json_text(
      f.document,
      "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"EcrAuthorizationToken\",\"Effect\":"
      "\"Allow\",\"Action\":\"ecr:GetAuthorizationToken\",\"Resource\":\"*\"},{\"Sid\":"
      "\"EcrPullRepository\",\"Effect\":\"Allow\",\"Action\":[\"ecr:BatchCheckLayerAvailability\","
      "\"ecr:BatchGetImage\",\"ecr:GetDownloadUrlForLayer\"],\"Resource\":\"arn:aws:ecr:"
      "ap-southeast-1:632000001762:repository/audit/sa/cicd-runner\"}]}");
  assert_true(json_equal(f.statement, json_array_get(json_object_get(f.document, "Statement"), 1)));
  assert_verified(&f);
  assert_contains(f.verification, "ecr:GetAuthorizationToken on \"*\"");
  assert_contains(f.opens, "no other repository");
  assert_contains(f.caveat, "ecrdiag-pull-632000001762-ap-southeast-1-audit_sa_cicd-runner");
  assert_contains(f.caveat, "both sides must allow");
  assert_contains(f.aws_cli, "aws iam put-role-policy --role-name \"$ROLE_NAME\"");
  assert_contains(f.aws_cli, "ROLE_NAME='eks-node'");
  assert_contains(f.aws_cli, "delete-role-policy");
  assert_contains(f.terraform,
                  "resource \"aws_iam_role_policy\" \"ecrdiag_pull_audit_sa_cicd_runner\"");
  assert_contains(f.terraform, "  role   = \"eks-node\"\n");
  json_t *tf = terraform_document(f.terraform);
  assert_true(json_equal(tf, f.document));
  json_decref(tf);
  assert_contains(f.cloudformation, "Type: AWS::IAM::RolePolicy");
  assert_contains(f.cloudformation, "RoleName: \"eks-node\"");
  json_t *cfn = cloudformation_policy_document(f.cloudformation);
  assert_true(json_equal(cfn, f.document));
  json_decref(cfn);
  json_t *j = policyfix_to_json(&f);
  assert_true(json_is_null(json_object_get(j, "grant")));
  assert_string_equal(json_string_value(json_object_get(j, "target")), "identity_policy");
  json_decref(j);
  policyfix_release(&f);

  /* Cross account, the repository policy not read: both sides cannot be checked. */
  r.current_known = false;
  build_any(&r, &f);
  assert_false(f.verified);
  assert_contains(f.verification, "could not be read");
  policyfix_release(&f);

  /* Cross account, no repository policy: A refuses, and verification says so. */
  r.current_known = true;
  r.current_policy = NULL;
  build_any(&r, &f);
  assert_false(f.verified);
  assert_contains(f.verification, "resource_policy");
  policyfix_release(&f);

  /* Same account: the identity policy is enough. */
  r.principal_arn = "arn:aws:sts::632000001762:assumed-role/eks-node/i-0abc1234";
  r.caller_account = "632000001762";
  build_any(&r, &f);
  assert_verified(&f);
  assert_null(strstr(f.caveat, "both sides"));
  policyfix_release(&f);

  /* No role to put the policy on. */
  r.principal_arn = "arn:aws:iam::632000001762:user/alice";
  struct err e = {0};
  assert_int_equal(policyfix_build(&r, &f, &e), ERR_INVALID);
  policyfix_release(&f);
  free(grant);
}

static void test_identity_managed(void **state)
{
  (void)state;
  struct fix_request r = seed_request(FIX_GRANT_ORG);
  r.target = FIX_TARGET_IDENTITY_POLICY;
  r.attach_managed = true;
  r.principal_arn = "arn:aws:sts::632000001762:assumed-role/eks-node/i-0abc1234";
  r.caller_account = "632000001762";
  struct policy_fix f;
  build_any(&r, &f);
  assert_string_equal(f.target, "identity_policy");
  assert_null(f.document);
  assert_contains(f.aws_cli, "aws iam attach-role-policy --role-name \"$ROLE_NAME\"");
  assert_contains(f.aws_cli,
                  "POLICY_ARN='arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly'");
  assert_contains(f.aws_cli, "detach-role-policy");
  assert_contains(f.terraform, "resource \"aws_iam_role_policy_attachment\"");
  assert_contains(f.terraform,
                  "policy_arn = \"arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly\"");
  assert_contains(f.cloudformation, "ManagedPolicyArns:");
  assert_contains(f.opens, "every ECR repository");
  assert_contains(f.caveat, "BatchImportUpstreamImage");
  /* What AWS's policy grants, for display and for the verification. */
  char *st = compact(f.statement);
  assert_contains(st, "ecr:GetAuthorizationToken");
  free(st);
  assert_verified(&f);
  policyfix_release(&f);

  /* The partition's ARN. */
  r.partition = "aws-cn";
  r.region = "cn-north-1";
  r.principal_arn = "arn:aws-cn:sts::632000001762:assumed-role/eks-node/i-0abc1234";
  build_any(&r, &f);
  assert_contains(f.aws_cli, "arn:aws-cn:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly");
  policyfix_release(&f);
}

/* ---- the size limit: statements merged ------------------------------------------------- */

/* A policy of one statement per account (the usual way policies outgrow the limit), with
 * room left for less than one more. *accounts receives the account ids (12 digits each). */
static char *per_account_policy(char accounts[][13], size_t max, size_t *n, bool distinct)
{
  json_t *st = json_array();
  json_t *doc = json_pack("{s:s, s:o}", "Version", "2012-10-17", "Statement", st);
  char *text = NULL;
  for (*n = 0; *n < max; (*n)++) {
    snprintf(accounts[*n], 13, "1111%08zu", *n);
    char sid[64], arn[64];
    snprintf(sid, sizeof sid, "AllowPullFromAccount%s", accounts[*n]);
    snprintf(arn, sizeof arn, "arn:aws:iam::%s:root", accounts[*n]);
    json_t *one = json_pack("{s:s, s:s, s:{s:s}, s:[s, s, s]}", "Sid", sid, "Effect", "Allow",
                            "Principal", "AWS", arn, "Action", "ecr:BatchCheckLayerAvailability",
                            "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer");
    /* distinct: a condition of its own, so that no two statements can merge */
    if (distinct)
      json_object_set_new(
          one, "Condition",
          json_pack("{s:{s:s}}", "StringEquals", "aws:PrincipalAccount", accounts[*n]));
    json_array_append_new(st, one);
    free(text);
    text = compact(doc);
    if (strlen(text) > POLICYFIX_MAX_DOCUMENT_CHARS) {
      /* One too many: without it, there is less room than one more statement takes. */
      json_array_remove(st, *n);
      free(text);
      text = compact(doc);
      break;
    }
  }
  assert_true(strlen(text) <= POLICYFIX_MAX_DOCUMENT_CHARS);
  json_decref(doc);
  return text;
}

/* May a session in account pull with the repository policy doc (its IAM side allowing)? */
static bool account_may_pull(const json_t *doc, const char *account)
{
  struct policy *rp = NULL, *ip = NULL;
  char *text = compact(doc);
  const char *allow = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
                      "\"Action\":\"ecr:*\",\"Resource\":\"*\"}]}";
  assert_int_equal(policy_parse(text, strlen(text), &rp, NULL), ERR_OK);
  assert_int_equal(policy_parse(allow, strlen(allow), &ip, NULL), ERR_OK);
  char arn[128], role[128];
  snprintf(arn, sizeof arn, "arn:aws:sts::%s:assumed-role/node/i-1", account);
  snprintf(role, sizeof role, "arn:aws:iam::%s:role/node", account);
  const struct policy *ids[1] = {ip};
  struct policy_request req = {
      .principal = {.type = POLICY_PRINCIPAL_ASSUMED_ROLE,
                    .arn = arn,
                    .account = account,
                    .role_arn = role},
      .resource = "arn:aws:ecr:ap-southeast-1:632000001762:repository/audit/sa/cicd-runner",
      .identity_policies = ids,
      .n_identity_policies = 1,
      .resource_policy = rp,
  };
  bool ok = true;
  const char *actions[] = {"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"};
  for (int i = 0; i < 2; i++) {
    struct policy_decision d;
    req.action = actions[i];
    assert_int_equal(policy_evaluate(&req, &d, NULL), ERR_OK);
    ok = ok && d.decision == POLICY_ALLOW;
  }
  policy_free(rp);
  policy_free(ip);
  free(text);
  return ok;
}

static void test_size_merges_statements(void **state)
{
  (void)state;
  char accounts[80][13];
  size_t n = 0;
  char *text = per_account_policy(accounts, 80, &n, false);
  struct fix_request r = seed_request(FIX_GRANT_ACCOUNT);
  r.current_policy = text;
  struct policy_fix f;
  build_ok(&r, &f);
  assert_int_equal(f.merged_statements, 1);
  char *merged = compact(f.document);
  assert_true(strlen(merged) <= POLICYFIX_MAX_DOCUMENT_CHARS);
  free(merged);
  /* The new account joined the first statement: n statements still, nothing else touched. */
  json_t *st = json_object_get(f.document, "Statement");
  assert_int_equal(json_array_size(st), n);
  assert_true(json_equal(f.statement, json_array_get(st, 0)));
  assert_json_text(
      json_object_get(json_array_get(st, 0), "Principal"),
      "{\"AWS\":[\"arn:aws:iam::111100000000:root\",\"arn:aws:iam::722000009750:root\"]}");
  json_t *before = parse(text);
  json_t *bst = json_object_get(before, "Statement");
  for (size_t i = 1; i < n; i++)
    assert_true(json_equal(json_array_get(bst, i), json_array_get(st, i)));
  /* Exactly who could pull before can pull now, and the new account. */
  for (size_t i = 0; i < n; i++)
    assert_true(account_may_pull(f.document, accounts[i]));
  assert_true(account_may_pull(f.document, "722000009750"));
  assert_false(account_may_pull(f.document, "999999999999"));
  assert_contains(f.caveat, "merged");
  assert_verified(&f);
  assert_idempotent(&r, &f);
  json_t *j = policyfix_to_json(&f);
  assert_int_equal(json_integer_value(json_object_get(j, "merged_statements")), 1);
  json_decref(j);
  policyfix_release(&f);
  json_decref(before);

  free(text);

  /* Statements with different conditions never merge: still too large, and the error
   * proposes the OU or organization grant and says why. */
  text = per_account_policy(accounts, 5, &n, true);
  json_t *doc = parse(text);
  json_t *pad = json_pack("{s:s, s:s, s:s, s:s, s:{s:{s:s}}}", "Sid", "Pad", "Effect", "Deny",
                          "Principal", "*", "Action", "ecr:DeleteRepository", "Condition",
                          "StringEquals", "aws:PrincipalTag/x", "");
  json_array_append_new(json_object_get(doc, "Statement"), pad);
  free(text);
  text = compact(doc);
  size_t room = POLICYFIX_MAX_DOCUMENT_CHARS - 100 - strlen(text);
  char *fill = malloc(room + 1);
  assert_non_null(fill);
  memset(fill, 'p', room);
  fill[room] = '\0';
  json_object_set_new(json_object_get(json_object_get(pad, "Condition"), "StringEquals"),
                      "aws:PrincipalTag/x", json_string(fill));
  free(fill);
  free(text);
  text = compact(doc);
  json_decref(doc);
  assert_int_equal(strlen(text), POLICYFIX_MAX_DOCUMENT_CHARS - 100);
  r.current_policy = text;
  struct err e = {0};
  assert_int_equal(policyfix_build(&r, &f, &e), ERR_TOO_LARGE);
  assert_contains(e.msg, "--grant org");
  assert_contains(e.msg, "--grant ou");
  assert_contains(e.msg, "in one statement instead of one per account");
  assert_null(f.document);
  policyfix_release(&f);
  free(text);
}

/* ---- verification that fails ----------------------------------------------------------- */

static void test_verification_failures(void **state)
{
  (void)state;
  /* A Deny outside two VPC endpoints: offline, without aws:SourceVpce, the pull is denied;
   * the note names the statement and the key ecrdiag cannot know. */
  struct fix_request r = seed_request(FIX_GRANT_ORG);
  r.current_policy = existing_policy;
  struct policy_fix f;
  build_ok(&r, &f);
  assert_false(f.verified);
  assert_contains(f.verification, "ExplicitDeny");
  assert_contains(f.verification, "DenyOutsideVpce");
  assert_contains(f.verification, "aws:SourceVpce");
  policyfix_release(&f);

  /* A current policy that already lets every account in: the grant is there, but lint finds
   * the critical problem, which was already in the current policy. */
  r = seed_request(FIX_GRANT_ACCOUNT);
  r.current_policy = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"Everyone\","
                     "\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"ecr:*\"}]}";
  build_ok(&r, &f);
  assert_true(f.already_granted);
  assert_false(f.verified);
  assert_contains(f.verification, "principal-star-unrestricted");
  assert_contains(f.verification, "already in the current policy");
  policyfix_release(&f);

  /* Unknown current policy: the statement is verified on its own, and says so. */
  r = seed_request(FIX_GRANT_ORG);
  r.current_known = false;
  build_ok(&r, &f);
  assert_verified(&f);
  assert_contains(f.verification, "on its own");
  policyfix_release(&f);

  /* Nothing about the caller but the account (what diag fills today): still verified, as a
   * principal of that account. */
  r = seed_request(FIX_GRANT_ACCOUNT);
  r.principal_arn = NULL;
  r.org_paths = NULL;
  r.n_org_paths = 0;
  build_ok(&r, &f);
  assert_verified(&f);
  assert_contains(f.verification, "arn:aws:sts::722000009750:assumed-role/");
  policyfix_release(&f);
}

static void test_to_json(void **state)
{
  (void)state;
  struct fix_request r = seed_request(FIX_GRANT_ORG);
  struct policy_fix f;
  build_ok(&r, &f);
  json_t *j = policyfix_to_json(&f);
  assert_non_null(j);
  const char *keys[] = {
      "target",          "grant",           "arn",           "role_arn",     "statement",
      "document",        "based_on_sha256", "basis",         "opens",        "caveat",
      "already_granted", "granted_by",      "verified",      "verification", "merged_statements",
      "aws_cli",         "terraform",       "cloudformation"};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    if (!json_object_get(j, keys[i]))
      fail_msg("no %s", keys[i]);
  assert_string_equal(json_string_value(json_object_get(j, "grant")), "org");
  assert_string_equal(json_string_value(json_object_get(j, "basis")), "none");
  assert_true(json_is_true(json_object_get(j, "verified")));
  assert_true(json_is_null(json_object_get(j, "role_arn")));
  assert_true(json_equal(json_object_get(j, "document"), f.document));
  json_decref(j);
  policyfix_release(&f);
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
 * of set-repository-policy to set.json; get-registry-policy serves registry.json (the answer to
 * --query policyText), put-registry-policy copies to set.json too, and sts get-caller-identity
 * answers the account in account (632000001762 when absent). */
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
    "'iam put-role-policy')\n"
    "  while [ $# -gt 0 ]; do\n"
    "    if [ \"$1\" = --policy-document ]; then cp \"${2#file://}\" \"$state/put.json\"; fi\n"
    "    shift\n"
    "  done\n"
    "  exit 0;;\n"
    "'iam attach-role-policy') exit 0;;\n"
    "'sts get-caller-identity')\n"
    "  if [ -f \"$state/account\" ]; then cat \"$state/account\"; else echo 632000001762; fi\n"
    "  exit 0;;\n"
    "'ecr get-registry-policy')\n"
    "  if [ -f \"$state/registry.json\" ]; then cat \"$state/registry.json\"; exit 0; fi\n"
    "  echo 'An error occurred (RegistryPolicyNotFoundException) when calling the "
    "GetRegistryPolicy operation: Registry policy does not exist' >&2\n"
    "  exit 254;;\n"
    "'ecr put-registry-policy')\n"
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

static void test_script_merged_to_fit(void **state)
{
  struct sandbox *sb = *state;
  if (!tools_present())
    skip();
  char accounts[80][13];
  size_t n = 0;
  char *text = per_account_policy(accounts, 80, &n, false);
  struct fix_request r = seed_request(FIX_GRANT_ACCOUNT);
  r.current_policy = text;
  struct policy_fix f;
  build_ok(&r, &f);
  assert_int_equal(f.merged_statements, 1);
  assert_contains(f.aws_cli, "ECRDIAG_DOCUMENT");
  sandbox_reset(sb);
  sandbox_serve(sb, text);
  assert_int_equal(sandbox_run(sb, f.aws_cli), 0);
  assert_set_document(sb, f.document);
  policyfix_release(&f);

  /* Not read by ecrdiag, and too large once appended: the script refuses to set it. */
  r.current_known = false;
  build_ok(&r, &f);
  sandbox_reset(sb);
  sandbox_serve(sb, text);
  assert_int_equal(sandbox_run(sb, f.aws_cli), 1);
  assert_no_set(sb);
  assert_file_contains(sb, "err", "over ECR's limit of 10240");
  policyfix_release(&f);
  free(text);
}

static void test_script_role_and_identity(void **state)
{
  struct sandbox *sb = *state;
  if (!tools_present())
    skip();
  struct fix_request r = seed_request(FIX_GRANT_ROLE_CONDITION);
  r.current_policy = unrelated_policy;
  struct policy_fix f;
  build_ok(&r, &f);
  sandbox_reset(sb);
  sandbox_serve(sb, unrelated_policy);
  assert_int_equal(sandbox_run(sb, f.aws_cli), 0);
  assert_set_document(sb, f.document);
  policyfix_release(&f);

  r = seed_request(FIX_GRANT_ORG);
  r.target = FIX_TARGET_IDENTITY_POLICY;
  build_any(&r, &f);
  sandbox_reset(sb);
  assert_int_equal(sandbox_run(sb, f.aws_cli), 0);
  assert_file_contains(sb, "state/calls.log",
                       "iam put-role-policy --role-name eks-node --policy-name "
                       "ecrdiag-pull-632000001762-ap-southeast-1-audit_sa_cicd-runner "
                       "--policy-document file://");
  char *put = sandbox_file(sb, "state/put.json");
  assert_non_null(put);
  json_t *got = parse(put);
  assert_true(json_equal(got, f.document));
  json_decref(got);
  free(put);
  policyfix_release(&f);

  r.attach_managed = true;
  build_any(&r, &f);
  sandbox_reset(sb);
  assert_int_equal(sandbox_run(sb, f.aws_cli), 0);
  assert_file_contains(sb, "state/calls.log",
                       "iam attach-role-policy --role-name eks-node --policy-arn "
                       "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly");
  policyfix_release(&f);
}

/* ---- the exemption from a Deny --------------------------------------------------------- */

#define REG_RESOURCE "arn:aws:ecr:ap-southeast-1:632000001762:repository/*"
#define DENY_HEAD                                                                               \
  "{\"Effect\":\"Deny\",\"Sid\":\"DenyPullFromOutside\",\"Principal\":\"*\",\"Action\":[\"ecr:" \
  "BatchGetImage\",\"ecr:GetDownloadUrlForLayer\"],\"Resource\":\"" REG_RESOURCE "\""
#define SEED_ROLE_ARN_EXEMPT "arn:aws:iam::722000009750:role/eks-node"

/* A registry policy (V2) with a replication grant, the Deny that refuses the pull at
 * Statement[1] (Effect before Sid: the key order must survive) and an unrelated Deny. cond is
 * the Deny's Condition as JSON text, NULL for none. The caller frees the text. */
static char *registry_policy_with(const char *cond)
{
  char *s = malloc(4096);
  assert_non_null(s);
  snprintf(s, 4096,
           "{\"Version\": \"2012-10-17\",\n"
           " \"Statement\": [\n"
           "  {\"Sid\": \"ReplicateFromDr\", \"Effect\": \"Allow\",\n"
           "   \"Principal\": {\"AWS\": \"arn:aws:iam::632000001799:root\"},\n"
           "   \"Action\": [\"ecr:CreateRepository\", \"ecr:ReplicateImage\"],\n"
           "   \"Resource\": \"" REG_RESOURCE "\"},\n"
           "  {\"Effect\": \"Deny\", \"Sid\": \"DenyPullFromOutside\", \"Principal\": \"*\",\n"
           "   \"Action\": [\"ecr:BatchGetImage\", \"ecr:GetDownloadUrlForLayer\"],\n"
           "   \"Resource\": \"" REG_RESOURCE "\"%s%s},\n"
           "  {\"Sid\": \"DenyDelete\", \"Effect\": \"Deny\", \"Principal\": \"*\",\n"
           "   \"Action\": \"ecr:DeleteRepository\", \"Resource\": \"*\"}\n"
           " ]}\n",
           cond ? ",\n   \"Condition\": " : "", cond ? cond : "");
  return s;
}

/* The repository policy the cross-account caller needs besides: the organization grant. */
static const char repo_org_grant[] =
    "{\"Version\":\"2012-10-17\",\"Statement\":[" ORG_STATEMENT "]}";

/* A registry exemption request for the seed caller, with the repository policy granting. */
static struct fix_request registry_request(enum fix_grant grant, const char *registry_text)
{
  struct fix_request r = seed_request(grant);
  r.target = FIX_TARGET_REGISTRY_POLICY;
  r.current_policy = registry_text;
  r.deny_statement = 1;
  r.repository_policy = repo_org_grant;
  r.repository_policy_known = true;
  if (grant == FIX_GRANT_ROLE || grant == FIX_GRANT_ROLE_CONDITION)
    r.role_arn = SEED_ROLE_ARN_EXEMPT;
  return r;
}

/* The compact text of Statement[i] of doc. */
static char *statement_text(const json_t *doc, size_t i)
{
  json_t *st = json_object_get(doc, "Statement");
  return compact(json_is_array(st) ? json_array_get(st, i) : st);
}

/* Every statement but Statement[changed] and every top-level member are byte for byte what
 * before_text holds; Statement[changed] keeps its members but Condition, in order. */
static void assert_only_statement_changed(const char *before_text, const json_t *after,
                                          size_t changed)
{
  json_t *before = parse(before_text);
  const char *key;
  json_t *v;
  json_object_foreach(before, key, v)
  {
    if (strcmp(key, "Statement") != 0)
      assert_true(json_equal(v, json_object_get(after, key)));
  }
  json_t *bs = json_object_get(before, "Statement");
  size_t n = json_is_array(bs) ? json_array_size(bs) : 1;
  assert_int_equal(json_array_size(json_object_get(after, "Statement")), n);
  for (size_t i = 0; i < n; i++) {
    if (i == changed)
      continue;
    char *x = statement_text(before, i), *y = statement_text(after, i);
    assert_string_equal(x, y);
    free(x);
    free(y);
  }
  /* The changed statement: the same members in the same order, Condition last if it is new. */
  json_t *b = json_array_get(bs, changed);
  json_t *a = json_array_get(json_object_get(after, "Statement"), changed);
  void *ait = json_object_iter(a);
  json_object_foreach(b, key, v)
  {
    assert_non_null(ait);
    assert_string_equal(key, json_object_iter_key(ait));
    if (strcmp(key, "Condition") != 0)
      assert_true(json_equal(v, json_object_iter_value(ait)));
    ait = json_object_iter_next(a, ait);
  }
  if (ait)
    assert_string_equal(json_object_iter_key(ait), "Condition");
  json_decref(before);
}

/* Each grant's exemption on a Deny without a Condition, in the registry and the repository
 * policy: exactly its negated condition is added and nothing else changes. */
static void test_exempt_each_grant(void **state)
{
  (void)state;
  static const struct {
    enum fix_grant grant;
    const char *cond;
  } cases[] = {
      {FIX_GRANT_ORG, "{\"StringNotEquals\":{\"aws:PrincipalOrgID\":[\"o-a1b2c3d4e5\"]}}"},
      {FIX_GRANT_ACCOUNT, "{\"StringNotEquals\":{\"aws:PrincipalAccount\":[\"722000009750\"]}}"},
      {FIX_GRANT_ROLE, "{\"ArnNotEquals\":{\"aws:PrincipalArn\":[\"" SEED_ROLE_ARN_EXEMPT "\"]}}"},
      {FIX_GRANT_ROLE_CONDITION,
       "{\"ArnNotEquals\":{\"aws:PrincipalArn\":[\"" SEED_ROLE_ARN_EXEMPT "\"]}}"},
      {FIX_GRANT_OU,
       "{\"ForAllValues:StringNotLike\":{\"aws:PrincipalOrgPaths\":[\"" SEED_OU_PATH "*\"]}}"},
  };
  char *text = registry_policy_with(NULL);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct fix_request r = registry_request(cases[i].grant, text);
    struct policy_fix f;
    build_any(&r, &f);
    assert_string_equal(f.target, "registry_policy");
    char want[1024];
    snprintf(want, sizeof want, DENY_HEAD ",\"Condition\":%s}", cases[i].cond);
    assert_json_text(f.statement, want);
    assert_only_statement_changed(text, f.document, 1);
    assert_true(f.exempt_from_deny);
    assert_int_equal(f.deny_statement, 1);
    assert_int_equal(f.basis, FIX_BASIS_READ);
    assert_false(f.already_granted);
    assert_int_equal(f.granted_by, -1);
    assert_int_equal(f.grant, cases[i].grant);
    assert_verified(&f);
    assert_contains(f.opens, "Statement[1] (Sid DenyPullFromOutside)");
    assert_contains(f.opens, "no longer denies");
    assert_contains(f.opens, "every other principal");
    if (cases[i].grant == FIX_GRANT_ROLE || cases[i].grant == FIX_GRANT_ROLE_CONDITION)
      assert_string_equal(f.role_arn, SEED_ROLE_ARN_EXEMPT);
    policyfix_release(&f);
  }
  free(text);

  /* The same exemption on a repository policy's Deny (no Resource there). */
  const char *repo =
      "{\"Version\":\"2012-10-17\",\"Statement\":[" ORG_STATEMENT
      ",{\"Sid\":\"DenyPull\",\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":\"ecr:*\"}]}";
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct fix_request r = registry_request(cases[i].grant, repo);
    r.target = FIX_TARGET_REPOSITORY_POLICY;
    r.exempt_from_deny = true;
    r.repository_policy = NULL;
    r.repository_policy_known = false;
    struct policy_fix f;
    build_ok(&r, &f);
    char want[1024];
    snprintf(want, sizeof want,
             "{\"Sid\":\"DenyPull\",\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":\"ecr:*\","
             "\"Condition\":%s}",
             cases[i].cond);
    assert_json_text(f.statement, want);
    assert_only_statement_changed(repo, f.document, 1);
    assert_verified(&f);
    assert_lint_clean(f.document);
    assert_contains(f.opens, "repository policy of audit/sa/cicd-runner");
    assert_null(strstr(f.caveat, "every repository of registry"));
    policyfix_release(&f);
  }
}

/* A Deny that already has a Condition: a different operator stays and ours is added beside it;
 * the same operator with another key gets our key (keys of one operator AND too). */
static void test_exempt_existing_condition(void **state)
{
  (void)state;
  char *text = registry_policy_with("{\"NotIpAddress\": {\"aws:SourceIp\": \"10.0.0.0/8\"}}");
  struct fix_request r = registry_request(FIX_GRANT_ORG, text);
  struct policy_fix f;
  build_any(&r, &f);
  assert_json_text(f.statement, DENY_HEAD ",\"Condition\":{\"NotIpAddress\":{\"aws:SourceIp\":"
                                          "\"10.0.0.0/8\"},\"StringNotEquals\":{\"aws:"
                                          "PrincipalOrgID\":[\"o-a1b2c3d4e5\"]}}}");
  assert_only_statement_changed(text, f.document, 1);
  assert_verified(&f);
  /* The caveat names what the Deny turns on: it may be the control to meet instead. */
  assert_contains(f.caveat, "aws:SourceIp");
  assert_contains(f.caveat, "written on purpose");
  assert_contains(f.caveat, "every repository of registry 632000001762 in ap-southeast-1");
  policyfix_release(&f);
  free(text);

  text = registry_policy_with("{\"StringNotEquals\": {\"aws:SourceVpce\": \"vpce-0a1b2c3d\"}}");
  r = registry_request(FIX_GRANT_ACCOUNT, text);
  build_any(&r, &f);
  assert_json_text(f.statement,
                   DENY_HEAD ",\"Condition\":{\"StringNotEquals\":{\"aws:SourceVpce\":\"vpce-"
                             "0a1b2c3d\",\"aws:PrincipalAccount\":[\"722000009750\"]}}}");
  assert_only_statement_changed(text, f.document, 1);
  assert_verified(&f);
  assert_contains(f.caveat, "aws:SourceVpce");
  policyfix_release(&f);
  free(text);
}

/* True when a session of role role_name in account (in organization org at org path path;
 * NULL: none) is refused ecr:BatchGetImage by Statement[stmt] of the registry policy doc (the
 * repository policy granting everyone in o-a1b2c3d4e5, the identity side allowing). */
static bool registry_denies(const json_t *doc, size_t stmt, const char *account, const char *org,
                            const char *path, const char *role_name)
{
  char *text = compact(doc);
  struct policy *reg = NULL, *repo = NULL, *id = NULL;
  static const char id_doc[] = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
                               "\"Action\":\"ecr:*\",\"Resource\":\"*\"}]}";
  assert_int_equal(policy_parse(text, strlen(text), &reg, NULL), ERR_OK);
  assert_int_equal(policy_parse(repo_org_grant, strlen(repo_org_grant), &repo, NULL), ERR_OK);
  assert_int_equal(policy_parse(id_doc, strlen(id_doc), &id, NULL), ERR_OK);
  char arn[256], role[256];
  snprintf(arn, sizeof arn, "arn:aws:sts::%s:assumed-role/%s/s", account, role_name);
  snprintf(role, sizeof role, "arn:aws:iam::%s:role/%s", account, role_name);
  const char *paths[1] = {path};
  const struct policy *ids[1] = {id};
  struct policy_request req = {0};
  req.principal.type = POLICY_PRINCIPAL_ASSUMED_ROLE;
  req.principal.arn = arn;
  req.principal.role_arn = role;
  req.principal.account = account;
  req.principal.org_id = org;
  req.principal.org_paths = path ? paths : NULL;
  req.principal.n_org_paths = path ? 1 : 0;
  req.action = "ecr:BatchGetImage";
  req.resource = "arn:aws:ecr:ap-southeast-1:632000001762:repository/audit/sa/cicd-runner";
  req.identity_policies = ids;
  req.n_identity_policies = 1;
  req.resource_policy = repo;
  req.registry_policy = reg;
  req.registry_scope = POLICY_REGISTRY_V2;
  struct policy_decision d;
  assert_int_equal(policy_evaluate(&req, &d, NULL), ERR_OK);
  bool denied = false;
  for (size_t i = 0; i < d.n_decisive; i++)
    if (d.decision == POLICY_EXPLICIT_DENY && d.decisive[i].slot.kind == POLICY_SLOT_REGISTRY &&
        d.decisive[i].statement == stmt)
      denied = true;
  policy_free(reg);
  policy_free(repo);
  policy_free(id);
  free(text);
  return denied;
}

/* Principals for registry_denies: the caller (role eks-node), an account outside every
 * organization, an account of the organization in another OU, another role of the caller's
 * account. */
#define CALLER "722000009750", "o-a1b2c3d4e5", SEED_OU_PATH, "eks-node"
#define OUTSIDER "999999999999", NULL, NULL, "other"
#define SIBLING "333333333333", "o-a1b2c3d4e5", "o-a1b2c3d4e5/r-ab12/ou-ab12-22222222/", "other"
#define SAME_ACCOUNT_OTHER_ROLE "722000009750", "o-a1b2c3d4e5", SEED_OU_PATH, "other"

/* No widening: with each exemption the caller passes the Deny, and every principal outside the
 * grant that it refused before is still refused by it, proved with the evaluator. */
static void test_exempt_no_widening(void **state)
{
  (void)state;
  char *text = registry_policy_with(NULL);
  json_t *before = parse(text);
  assert_true(registry_denies(before, 1, CALLER));
  assert_true(registry_denies(before, 1, OUTSIDER));
  assert_true(registry_denies(before, 1, SIBLING));
  assert_true(registry_denies(before, 1, SAME_ACCOUNT_OTHER_ROLE));
  json_decref(before);
  static const enum fix_grant grants[] = {FIX_GRANT_ORG, FIX_GRANT_ACCOUNT, FIX_GRANT_ROLE,
                                          FIX_GRANT_ROLE_CONDITION, FIX_GRANT_OU};
  for (size_t i = 0; i < sizeof grants / sizeof grants[0]; i++) {
    enum fix_grant g = grants[i];
    struct fix_request r = registry_request(g, text);
    struct policy_fix f;
    build_any(&r, &f);
    assert_verified(&f);
    assert_false(registry_denies(f.document, 1, CALLER));
    /* An account outside every organization has no aws:PrincipalOrgID nor PrincipalOrgPaths:
     * the negated operators (and ForAllValues:) keep denying it. */
    assert_true(registry_denies(f.document, 1, OUTSIDER));
    assert_int_equal(registry_denies(f.document, 1, SIBLING), g != FIX_GRANT_ORG);
    assert_int_equal(registry_denies(f.document, 1, SAME_ACCOUNT_OTHER_ROLE),
                     g == FIX_GRANT_ROLE || g == FIX_GRANT_ROLE_CONDITION);
    assert_contains(f.verification, "still refuses");
    assert_contains(f.verification, "an account outside the organization");
    policyfix_release(&f);
  }

  /* Why ForAllValues: the same exemption written with ForAnyValue: lets the outsider through
   * (a missing key makes ForAnyValue false), so policyfix_exempt refuses that operator. */
  json_t *doc = NULL;
  bool already = false;
  struct err e = {0};
  assert_int_equal(policyfix_exempt(text, 1, "ForAnyValue:StringNotLike", "aws:PrincipalOrgPaths",
                                    SEED_OU_PATH "*", &doc, &already, &e),
                   ERR_INVALID);
  assert_null(doc);
  assert_contains(e.msg, "ForAnyValue:StringNotLike");
  char *bad = registry_policy_with("{\"ForAnyValue:StringNotLike\": {\"aws:PrincipalOrgPaths\": "
                                   "[\"" SEED_OU_PATH "*\"]}}");
  json_t *bad_doc = parse(bad);
  assert_false(registry_denies(bad_doc, 1, OUTSIDER));
  json_decref(bad_doc);
  free(bad);
  /* A positive operator would OR into the Deny instead of exempting: refused too. */
  assert_int_equal(policyfix_exempt(text, 1, "StringEquals", "aws:PrincipalOrgID", "o-a1b2c3d4e5",
                                    &doc, &already, &e),
                   ERR_INVALID);
  free(text);
}

/* The same operator and key already there: the value is added to its list (NOR for a negated
 * operator: exempt one more value and nothing else), a string becoming an array, no
 * duplicate; operator and key matched case-insensitively. */
static void test_exempt_same_operator_key(void **state)
{
  (void)state;
  char *text =
      registry_policy_with("{\"StringNotEquals\": {\"aws:PrincipalOrgID\": \"o-zzzzzzzzzz\"}}");
  struct fix_request r = registry_request(FIX_GRANT_ORG, text);
  struct policy_fix f;
  build_any(&r, &f);
  assert_json_text(f.statement,
                   DENY_HEAD ",\"Condition\":{\"StringNotEquals\":{\"aws:"
                             "PrincipalOrgID\":[\"o-zzzzzzzzzz\",\"o-a1b2c3d4e5\"]}}}");
  assert_verified(&f);
  /* The org exempt before still is, the outsider is still refused. */
  assert_false(registry_denies(f.document, 1, "444444444444", "o-zzzzzzzzzz", NULL, "other"));
  assert_true(registry_denies(f.document, 1, OUTSIDER));
  assert_false(registry_denies(f.document, 1, CALLER));
  policyfix_release(&f);
  free(text);

  text = registry_policy_with(
      "{\"stringNotEquals\": {\"AWS:principalaccount\": [\"111111111111\", \"222222222222\"]}}");
  r = registry_request(FIX_GRANT_ACCOUNT, text);
  build_any(&r, &f);
  assert_json_text(f.statement, DENY_HEAD ",\"Condition\":{\"stringNotEquals\":{\"AWS:"
                                          "principalaccount\":[\"111111111111\",\"222222222222\","
                                          "\"722000009750\"]}}}");
  assert_verified(&f);
  policyfix_release(&f);
  free(text);

  /* Already listed, among others: nothing changes. */
  text = registry_policy_with("{\"ArnNotEquals\": {\"aws:PrincipalArn\": "
                              "[\"arn:aws:iam::722000009750:role/ci\", \"" SEED_ROLE_ARN_EXEMPT
                              "\"]}}");
  r = registry_request(FIX_GRANT_ROLE, text);
  build_any(&r, &f);
  assert_true(f.already_granted);
  assert_int_equal(f.granted_by, 1);
  assert_only_statement_changed(text, f.document, 1);
  json_t *before = parse(text);
  assert_true(json_equal(before, f.document));
  json_decref(before);
  policyfix_release(&f);
  free(text);
}

/* Statement indexes that are not a Deny, or not there; requests an exemption cannot use. */
static void test_exempt_invalid(void **state)
{
  (void)state;
  char *text = registry_policy_with(NULL);
  struct fix_request r = registry_request(FIX_GRANT_ORG, text);
  struct policy_fix f;
  struct err e = {0};

  r.deny_statement = 0; /* the replication Allow */
  assert_int_equal(policyfix_build(&r, &f, &e), ERR_INVALID);
  assert_contains(e.msg, "Statement[0] (Sid ReplicateFromDr) is an Allow, not a Deny");
  assert_contains(e.msg, "registry policy");
  assert_null(f.document);
  policyfix_release(&f);

  r.deny_statement = 3;
  assert_int_equal(policyfix_build(&r, &f, &e), ERR_INVALID);
  assert_contains(e.msg, "Statement[3] is out of range: the policy has 3 statements");
  policyfix_release(&f);

  r.deny_statement = (size_t)-1;
  assert_int_equal(policyfix_build(&r, &f, &e), ERR_INVALID);
  assert_contains(e.msg, "out of range");
  policyfix_release(&f);

  /* A single-object Statement is Statement[0]. */
  const char *single = "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Deny\","
                       "\"Principal\":\"*\",\"Action\":\"ecr:*\",\"Resource\":\"*\"}}";
  r = registry_request(FIX_GRANT_ORG, single);
  r.deny_statement = 0;
  build_any(&r, &f);
  assert_true(json_is_object(json_object_get(f.document, "Statement")));
  assert_json_text(f.document, "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Deny\","
                               "\"Principal\":\"*\",\"Action\":\"ecr:*\",\"Resource\":\"*\","
                               "\"Condition\":{\"StringNotEquals\":{\"aws:PrincipalOrgID\":[\"o-"
                               "a1b2c3d4e5\"]}}}}");
  assert_verified(&f);
  policyfix_release(&f);
  r.deny_statement = 1;
  assert_int_equal(policyfix_build(&r, &f, &e), ERR_INVALID);
  assert_contains(e.msg, "out of range: the policy has 1 statement ");
  policyfix_release(&f);

  /* The policy must have been read. */
  r = registry_request(FIX_GRANT_ORG, text);
  r.current_known = false;
  assert_int_equal(policyfix_build(&r, &f, &e), ERR_INVALID);
  assert_contains(e.msg, "needs the registry policy as read");
  policyfix_release(&f);
  r.current_known = true;
  r.current_policy = NULL;
  assert_int_equal(policyfix_build(&r, &f, &e), ERR_INVALID);
  policyfix_release(&f);

  /* Not a policy: refused, never overwritten. */
  r.current_policy = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Efect\":\"Deny\"}]}";
  r.deny_statement = 0;
  assert_int_equal(policyfix_build(&r, &f, &e), ERR_PARSE);
  assert_contains(e.msg, "Efect");
  policyfix_release(&f);
  r.current_policy = "{\"Statement\": [";
  assert_int_equal(policyfix_build(&r, &f, &e), ERR_PARSE);
  policyfix_release(&f);

  /* An identity fix cannot exempt. */
  r = seed_request(FIX_GRANT_ORG);
  r.target = FIX_TARGET_IDENTITY_POLICY;
  r.exempt_from_deny = true;
  assert_int_equal(policyfix_build(&r, &f, &e), ERR_INVALID);
  assert_contains(e.msg, "cannot exempt");
  policyfix_release(&f);

  /* An account exemption for the registry's own account is a change (unlike its grant). */
  r = registry_request(FIX_GRANT_ACCOUNT, text);
  r.caller_account = "632000001762";
  r.principal_arn = "arn:aws:sts::632000001762:assumed-role/builder/s";
  r.org_paths = NULL;
  r.n_org_paths = 0;
  build_any(&r, &f);
  char *st = compact(f.statement);
  assert_contains(st, "\"aws:PrincipalAccount\":[\"632000001762\"]");
  free(st);
  assert_verified(&f);
  policyfix_release(&f);
  free(text);

  /* Too large: the document with the exemption would pass ECR's limit. */
  char *big = malloc(POLICYFIX_MAX_DOCUMENT_CHARS + 512);
  assert_non_null(big);
  size_t n = (size_t)snprintf(big, 512, "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"");
  size_t fill = POLICYFIX_MAX_DOCUMENT_CHARS - 120;
  memset(big + n, 'A', fill);
  n += fill;
  snprintf(big + n, 512,
           "\",\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":\"ecr:*\",\"Resource\":\"*\"}]}");
  r = registry_request(FIX_GRANT_ORG, big);
  r.deny_statement = 0;
  assert_int_equal(policyfix_build(&r, &f, &e), ERR_TOO_LARGE);
  assert_contains(e.msg, "over ECR's limit of 10240");
  policyfix_release(&f);
  free(big);
}

/* The fix applied to its own output changes nothing, compact or pretty. */
static void test_exempt_idempotent(void **state)
{
  (void)state;
  char *text = registry_policy_with("{\"NotIpAddress\": {\"aws:SourceIp\": \"10.0.0.0/8\"}}");
  static const enum fix_grant grants[] = {FIX_GRANT_ORG, FIX_GRANT_ACCOUNT, FIX_GRANT_ROLE,
                                          FIX_GRANT_OU};
  for (size_t i = 0; i < sizeof grants / sizeof grants[0]; i++) {
    struct fix_request r = registry_request(grants[i], text);
    struct policy_fix f;
    build_any(&r, &f);
    assert_false(f.already_granted);
    for (int pretty = 0; pretty < 2; pretty++) {
      char *again_text =
          json_dumps(f.document, JSON_PRESERVE_ORDER | (pretty ? JSON_INDENT(4) : JSON_COMPACT));
      struct fix_request again = r;
      again.current_policy = again_text;
      struct policy_fix g;
      build_any(&again, &g);
      assert_true(g.already_granted);
      assert_int_equal(g.granted_by, 1);
      assert_true(json_equal(g.document, f.document));
      char *want = compact(f.document);
      assert_json_text(g.document, want);
      free(want);
      assert_contains(g.aws_cli, "nothing to change");
      assert_null(strstr(g.aws_cli, "put-registry-policy"));
      assert_verified(&g);
      policyfix_release(&g);
      free(again_text);
    }
    policyfix_release(&f);
  }
  free(text);
}

/* The statements the fix does not touch survive byte for byte, with the Version and Id. */
static void test_exempt_unrelated_survive(void **state)
{
  (void)state;
  /* unrelated_policy's Statement[4] DenyWithoutTls is the Deny (its Bool condition stays). */
  struct fix_request r = seed_request(FIX_GRANT_ORG);
  r.current_policy = unrelated_policy;
  r.exempt_from_deny = true;
  r.deny_statement = 4;
  struct policy_fix f;
  build_ok(&r, &f);
  assert_only_statement_changed(unrelated_policy, f.document, 4);
  assert_json_text(f.statement,
                   "{\"Sid\":\"DenyWithoutTls\",\"Effect\":\"Deny\",\"Principal\":\"*\","
                   "\"Action\":\"ecr:*\",\"Condition\":{\"Bool\":{\"aws:SecureTransport\":"
                   "\"false\"},\"StringNotEquals\":{\"aws:PrincipalOrgID\":[\"o-a1b2c3d4e5\"]}}}");
  assert_string_equal(json_string_value(json_object_get(f.document, "Id")), "platform-images");
  /* Offline the TLS Deny did not refuse the caller (no aws:SecureTransport): said, not failed.
   * The pull also lacks an Allow across accounts: said, and not verified. */
  assert_false(f.verified);
  assert_contains(f.verification, "does not grant the pull either");
  policyfix_release(&f);

  /* existing_policy's Deny (Statement[0]) carries a policy variable and two conditions. */
  r.current_policy = existing_policy;
  r.deny_statement = 0;
  build_ok(&r, &f);
  assert_only_statement_changed(existing_policy, f.document, 0);
  assert_string_equal(json_string_value(json_object_get(f.document, "Version")), "2008-10-17");
  assert_non_null(strstr(f.terraform, "$${aws:PrincipalTag/team}"));
  policyfix_release(&f);
}

/* The registry fix's texts: the script reads, checks and puts the registry policy; Terraform
 * and CloudFormation hold the whole document. */
static void test_exempt_registry_outputs(void **state)
{
  (void)state;
  char *text = registry_policy_with(NULL);
  struct fix_request r = registry_request(FIX_GRANT_ORG, text);
  struct policy_fix f;
  build_any(&r, &f);
  char sha[65];
  crypto_sha256_hex(text, strlen(text), sha);
  assert_string_equal(f.based_on_sha256, sha);
  assert_contains(f.aws_cli, "aws ecr get-registry-policy --region \"$REGION\" --query policyText");
  assert_contains(f.aws_cli, "aws ecr put-registry-policy --region \"$REGION\"");
  assert_contains(f.aws_cli, "--policy-text \"file://$work/new.json\"");
  assert_contains(f.aws_cli, "REGION='ap-southeast-1'");
  assert_contains(f.aws_cli, "REGISTRY_ID='632000001762'");
  assert_contains(f.aws_cli, sha);
  assert_contains(f.aws_cli, "aws sts get-caller-identity");
  assert_null(strstr(f.aws_cli, "set-repository-policy"));
  const char *secrets[] = {"AWS_SECRET_ACCESS_KEY",
                           "aws_secret_access_key",
                           "SessionToken",
                           "AWS_SESSION_TOKEN",
                           "AKIA",
                           "ASIA"};
  for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
    assert_null(strstr(f.aws_cli, secrets[i]));
    assert_null(strstr(f.terraform, secrets[i]));
    assert_null(strstr(f.cloudformation, secrets[i]));
  }
  assert_contains(f.terraform, "resource \"aws_ecr_registry_policy\" \"registry_ap_southeast_1\"");
  assert_null(strstr(f.terraform, "aws_ecr_repository_policy"));
  json_t *tf = terraform_document(f.terraform);
  assert_true(json_equal(tf, f.document));
  json_decref(tf);
  assert_contains(f.cloudformation, "  Type: AWS::ECR::RegistryPolicy\n"
                                    "  Properties:\n"
                                    "    PolicyText:\n");
  const char *cfn_doc = strstr(f.cloudformation, "PolicyText:\n");
  json_t *cfn = parse(cfn_doc + strlen("PolicyText:\n"));
  assert_true(json_equal(cfn, f.document));
  json_decref(cfn);
  assert_null(strstr(f.cloudformation, "RepositoryPolicyText"));

  json_t *j = policyfix_to_json(&f);
  assert_non_null(j);
  assert_string_equal(json_string_value(json_object_get(j, "target")), "registry_policy");
  assert_string_equal(json_string_value(json_object_get(j, "grant")), "org");
  assert_string_equal(json_string_value(json_object_get(j, "basis")), "read");
  assert_true(json_is_true(json_object_get(j, "exempt_from_deny")));
  assert_int_equal(json_integer_value(json_object_get(j, "deny_statement")), 1);
  assert_true(json_equal(json_object_get(j, "document"), f.document));
  json_decref(j);
  policyfix_release(&f);
  free(text);

  /* A grant fix carries the new keys too, empty. */
  struct fix_request g = seed_request(FIX_GRANT_ORG);
  build_ok(&g, &f);
  j = policyfix_to_json(&f);
  assert_true(json_is_false(json_object_get(j, "exempt_from_deny")));
  assert_true(json_is_null(json_object_get(j, "deny_statement")));
  assert_int_equal(f.deny_statement, -1);
  json_decref(j);
  policyfix_release(&f);
}

/* Verification: true on a good case, and says what it could not check or what still refuses. */
static void test_exempt_verification(void **state)
{
  (void)state;
  char *text = registry_policy_with(NULL);
  struct fix_request r = registry_request(FIX_GRANT_ORG, text);
  struct policy_fix f;
  build_any(&r, &f);
  assert_verified(&f);
  assert_contains(f.verification, "and the repository policy as given");
  assert_contains(f.verification, "resource-element left out");
  policyfix_release(&f);

  /* The repository policy not given: only "no longer denied", and said so. */
  r.repository_policy = NULL;
  r.repository_policy_known = false;
  build_any(&r, &f);
  assert_verified(&f);
  assert_contains(f.verification, "only that the registry policy no longer denies");
  policyfix_release(&f);

  /* Given, and it does not grant the cross-account pull: not verified, and why. */
  r.repository_policy_known = true;
  build_any(&r, &f);
  assert_false(f.verified);
  assert_contains(f.verification, "ImplicitDeny");
  assert_contains(f.verification, "pass its document as repository_policy");
  policyfix_release(&f);
  free(text);

  /* Another Deny refuses the caller as well: the exemption of one is not enough. */
  const char *two =
      "{\"Version\":\"2012-10-17\",\"Statement\":["
      "{\"Sid\":\"DenyA\",\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":\"ecr:BatchGetImage\","
      "\"Resource\":\"*\"},"
      "{\"Sid\":\"DenyB\",\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":\"ecr:*\","
      "\"Resource\":\"*\",\"Condition\":{\"StringNotEquals\":{\"aws:PrincipalAccount\":"
      "\"111111111111\"}}}]}";
  r = registry_request(FIX_GRANT_ORG, two);
  r.deny_statement = 0;
  build_any(&r, &f);
  assert_false(f.verified);
  assert_contains(f.verification, "still refused ecr:BatchGetImage");
  assert_contains(f.verification, "registry_policy Statement[1] (Sid DenyB)");
  policyfix_release(&f);

  /* The combination of the header: the grant built first, its document given to the
   * registry exemption. */
  char *reg = registry_policy_with(NULL);
  const char *repo_none = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"CiPush\","
                          "\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::"
                          "632000001762:role/ci\"},\"Action\":\"ecr:PutImage\"}]}";
  struct fix_request grant = seed_request(FIX_GRANT_ORG);
  grant.current_policy = repo_none;
  struct policy_fix gf;
  build_ok(&grant, &gf);
  char *granted = compact(gf.document);
  r = registry_request(FIX_GRANT_ORG, reg);
  r.repository_policy = granted;
  build_any(&r, &f);
  assert_verified(&f);
  policyfix_release(&f);
  r.repository_policy = repo_none; /* without the grant: not verified */
  build_any(&r, &f);
  assert_false(f.verified);
  policyfix_release(&f);
  free(granted);
  policyfix_release(&gf);
  free(reg);
}

/* The registry script run: reads, checks the checksum and the account, backs up, puts. */
static void test_script_registry_exemption(void **state)
{
  struct sandbox *sb = *state;
  if (!tools_present())
    skip();
  char *text = registry_policy_with(NULL);
  struct fix_request r = registry_request(FIX_GRANT_OU, text);
  struct policy_fix f;
  build_any(&r, &f);
  json_t *answer = json_string(text);
  char *served = json_dumps(answer, JSON_ENCODE_ANY);

  sandbox_reset(sb);
  file_write(sb_path(sb, "state/registry.json"), served, 0);
  assert_int_equal(sandbox_run(sb, f.aws_cli), 0);
  assert_set_document(sb, f.document);
  assert_file_contains(sb, "state/calls.log",
                       "ecr get-registry-policy --region ap-southeast-1 --query policyText "
                       "--output json");
  assert_file_contains(sb, "state/calls.log",
                       "ecr put-registry-policy --region ap-southeast-1 --policy-text file://");
  assert_file_contains(sb, "out", "to undo: aws ecr put-registry-policy");
  /* The backup holds the policy read, byte for byte (its final newline included). */
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "cmp -s '%s/cwd/'ecr-registry-policy-632000001762-ap-southeast-1-*.json "
           "- <<'EOF'\n%sEOF\n",
           sb->root, text);
  assert_int_equal(system(cmd), 0);

  /* Changed since it was read: stopped, nothing put. */
  sandbox_reset(sb);
  char *changed = compact(f.document);
  json_t *ch = json_string(changed);
  char *served_changed = json_dumps(ch, JSON_ENCODE_ANY);
  file_write(sb_path(sb, "state/registry.json"), served_changed, 0);
  assert_int_equal(sandbox_run(sb, f.aws_cli), 1);
  assert_no_set(sb);
  assert_file_contains(sb, "err", "the registry policy changed since ecrdiag read it");

  /* Credentials of another account: stopped before reading. */
  sandbox_reset(sb);
  file_write(sb_path(sb, "state/registry.json"), served, 0);
  file_write(sb_path(sb, "state/account"), "722000009750\n", 0);
  assert_int_equal(sandbox_run(sb, f.aws_cli), 1);
  assert_no_set(sb);
  assert_file_contains(sb, "err", "not 632000001762's");

  json_decref(answer);
  json_decref(ch);
  free(served);
  free(served_changed);
  free(changed);
  policyfix_release(&f);
  free(text);
}

/* A repository policy with both the Deny and no grant for the caller: the exemption, then the
 * grant built on its document; the two scripts run in that order. */
static void test_script_repository_exemption_then_grant(void **state)
{
  struct sandbox *sb = *state;
  if (!tools_present())
    skip();
  const char *live = "{\"Version\": \"2012-10-17\", \"Statement\": [\n"
                     "  {\"Sid\": \"DenyOutsideOrg\", \"Effect\": \"Deny\", \"Principal\": \"*\",\n"
                     "   \"Action\": \"ecr:*\"}]}\n";
  struct fix_request r = seed_request(FIX_GRANT_ORG);
  r.current_policy = live;
  r.exempt_from_deny = true;
  r.deny_statement = 0;
  struct policy_fix ex;
  build_ok(&r, &ex);
  assert_false(ex.verified); /* the grant is missing too */
  char *after_exempt = compact(ex.document);

  struct fix_request g = seed_request(FIX_GRANT_ORG);
  g.current_policy = after_exempt;
  struct policy_fix gf;
  build_ok(&g, &gf);
  assert_verified(&gf);

  sandbox_reset(sb);
  sandbox_serve(sb, live);
  assert_int_equal(sandbox_run(sb, ex.aws_cli), 0);
  assert_set_document(sb, ex.document);
  char *set = sandbox_file(sb, "state/set.json");
  assert_string_equal(set, after_exempt);
  assert_file_contains(sb, "state/calls.log", "ecr set-repository-policy --registry-id");

  sandbox_reset(sb);
  sandbox_serve(sb, set);
  assert_int_equal(sandbox_run(sb, gf.aws_cli), 0);
  assert_set_document(sb, gf.document);
  free(set);
  free(after_exempt);
  policyfix_release(&ex);
  policyfix_release(&gf);
}

/* ---- the pull-through cache import ------------------------------------------------------ */

#define PTC_REPO "docker-hub/library/nginx"
#define PTC_REPO_ARN "arn:aws:ecr:ap-southeast-1:632000001762:repository/" PTC_REPO
#define PTC_RESOURCE "arn:aws:ecr:ap-southeast-1:632000001762:repository/docker-hub/*"
#define PTC_POLICY_NAME "ecrdiag-ptc-import-632000001762-ap-southeast-1-docker-hub"
#define PTC_SESSION_SAME "arn:aws:sts::632000001762:assumed-role/eks-node/i-0abc1234"

/* An import fix for role eks-node of the registry's own account, under the rule docker-hub. */
static struct fix_request ptc_request(bool create)
{
  struct fix_request r = seed_request(FIX_GRANT_ORG);
  r.target = FIX_TARGET_IDENTITY_POLICY;
  r.repository = PTC_REPO;
  r.principal_arn = PTC_SESSION_SAME;
  r.caller_account = "632000001762";
  r.ptc_prefix = "docker-hub";
  r.ptc_create_repository = create;
  return r;
}

static void test_ptc_statement_document(void **state)
{
  (void)state;
  struct fix_request r = ptc_request(false);
  struct policy_fix f;
  build_any(&r, &f);
  assert_string_equal(f.target, "identity_policy");
  assert_string_equal(f.ptc_prefix, "docker-hub");
  assert_string_equal(f.arn, PTC_REPO_ARN);
  assert_string_equal(f.role_arn, "arn:aws:iam::632000001762:role/eks-node");
  assert_int_equal(f.basis, FIX_BASIS_NONE);
  assert_json_text(f.document,
                   "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":"
                   "\"EcrPullThroughCacheImport\",\"Effect\":\"Allow\",\"Action\":["
                   "\"ecr:BatchImportUpstreamImage\"],\"Resource\":\"" PTC_RESOURCE "\"}]}");
  assert_true(json_equal(f.statement, json_array_get(json_object_get(f.document, "Statement"), 0)));
  assert_verified(&f);
  assert_contains(f.verification, "ecr:BatchImportUpstreamImage on " PTC_REPO_ARN);
  assert_null(strstr(f.verification, "assumed to allow"));
  assert_contains(f.opens, "import images through the pull-through cache rule docker-hub into the "
                           "repositories under docker-hub/");
  assert_contains(f.opens, "nothing else");
  assert_null(strstr(f.opens, "CreateRepository"));
  assert_contains(f.caveat, "The inline policy is named " PTC_POLICY_NAME);
  assert_contains(f.caveat, "Without ecr:CreateRepository");
  assert_null(strstr(f.caveat, "Across accounts"));
  assert_null(strstr(f.caveat, "both sides"));
  json_t *j = policyfix_to_json(&f);
  assert_string_equal(json_string_value(json_object_get(j, "ptc_prefix")), "docker-hub");
  assert_true(json_is_null(json_object_get(j, "grant")));
  json_decref(j);
  policyfix_release(&f);
  assert_null(f.ptc_prefix);

  /* The repository does not exist yet: CreateRepository on the same resource. */
  r.ptc_create_repository = true;
  build_any(&r, &f);
  assert_json_text(f.document,
                   "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":"
                   "\"EcrPullThroughCacheImport\",\"Effect\":\"Allow\",\"Action\":["
                   "\"ecr:BatchImportUpstreamImage\",\"ecr:CreateRepository\"],\"Resource\":"
                   "\"" PTC_RESOURCE "\"}]}");
  assert_verified(&f);
  assert_contains(f.verification, "ecr:BatchImportUpstreamImage and ecr:CreateRepository on");
  assert_contains(f.opens, "create those repositories when they do not exist yet "
                           "(ecr:CreateRepository)");
  assert_null(strstr(f.caveat, "Without ecr:CreateRepository"));
  assert_contains(f.caveat, "repository creation template for prefix docker-hub");
  policyfix_release(&f);

  /* A prefix of two segments: the Resource and the policy name follow it. */
  r.ptc_prefix = "ghcr/io";
  r.repository = "ghcr/io/org/app";
  build_any(&r, &f);
  json_t *res = json_object_get(f.statement, "Resource");
  assert_string_equal(json_string_value(res),
                      "arn:aws:ecr:ap-southeast-1:632000001762:repository/ghcr/io/*");
  assert_contains(f.caveat, "ecrdiag-ptc-import-632000001762-ap-southeast-1-ghcr_io");
  assert_contains(f.terraform, "resource \"aws_iam_role_policy\" \"ecrdiag_ptc_import_ghcr_io\"");
  assert_verified(&f);
  policyfix_release(&f);

  /* The partition's ARN. */
  r = ptc_request(false);
  r.partition = "aws-cn";
  r.region = "cn-north-1";
  r.principal_arn = "arn:aws-cn:sts::632000001762:assumed-role/eks-node/i-0abc1234";
  build_any(&r, &f);
  assert_string_equal(json_string_value(json_object_get(f.statement, "Resource")),
                      "arn:aws-cn:ecr:cn-north-1:632000001762:repository/docker-hub/*");
  assert_verified(&f);
  policyfix_release(&f);

  /* Any other identity fix says null. */
  r = ptc_request(false);
  r.ptc_prefix = NULL;
  build_any(&r, &f);
  assert_null(f.ptc_prefix);
  j = policyfix_to_json(&f);
  assert_true(json_is_null(json_object_get(j, "ptc_prefix")));
  json_decref(j);
  assert_contains(f.caveat, "ecrdiag-pull-632000001762-ap-southeast-1-docker-hub_library_nginx");
  policyfix_release(&f);
}

static void test_ptc_texts(void **state)
{
  (void)state;
  struct fix_request r = ptc_request(true);
  struct policy_fix f;
  build_any(&r, &f);
  assert_contains(f.aws_cli, "# ecrdiag fix: let role eks-node (account 632000001762) import "
                             "images through the\n# pull-through cache rule docker-hub into "
                             "docker-hub/... (account 632000001762, ap-southeast-1)\n# by "
                             "adding an inline policy to the role (which may also create those "
                             "repositories).\n");
  assert_contains(f.aws_cli, "ROLE_NAME='eks-node'\nPOLICY_NAME='" PTC_POLICY_NAME "'\n");
  assert_contains(f.aws_cli,
                  "aws iam put-role-policy --role-name \"$ROLE_NAME\" --policy-name "
                  "\"$POLICY_NAME\" \\\n    --policy-document \"file://$work/policy.json\"");
  assert_contains(f.aws_cli, "delete-role-policy");
  assert_null(strstr(f.aws_cli, "attach-role-policy"));
  assert_null(strstr(f.aws_cli, "repository-policy"));
  /* The script's policy is the document. */
  const char *start = strstr(f.aws_cli, "<<'ECRDIAG_POLICY'\n");
  assert_non_null(start);
  start += strlen("<<'ECRDIAG_POLICY'\n");
  const char *end = strstr(start, "\nECRDIAG_POLICY\n");
  assert_non_null(end);
  char *doc_text = malloc((size_t)(end - start) + 1);
  assert_non_null(doc_text);
  memcpy(doc_text, start, (size_t)(end - start));
  doc_text[end - start] = '\0';
  json_t *doc = parse(doc_text);
  assert_true(json_equal(doc, f.document));
  json_decref(doc);
  free(doc_text);
  const char *secrets[] = {"AWS_SECRET_ACCESS_KEY",
                           "aws_secret_access_key",
                           "SessionToken",
                           "AWS_SESSION_TOKEN",
                           "AKIA",
                           "ASIA",
                           "i-0abc1234"};
  for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
    assert_null(strstr(f.aws_cli, secrets[i]));
    assert_null(strstr(f.terraform, secrets[i]));
    assert_null(strstr(f.cloudformation, secrets[i]));
  }
  assert_contains(f.terraform,
                  "resource \"aws_iam_role_policy\" \"ecrdiag_ptc_import_docker_hub\" {\n"
                  "  name   = \"" PTC_POLICY_NAME "\"\n"
                  "  role   = \"eks-node\"\n");
  assert_contains(f.terraform, "pull-through cache");
  json_t *tf = terraform_document(f.terraform);
  assert_true(json_equal(tf, f.document));
  json_decref(tf);
  assert_contains(f.cloudformation, "EcrdiagPtcImportPolicy:\n  Type: AWS::IAM::RolePolicy\n");
  assert_contains(f.cloudformation, "PolicyName: \"" PTC_POLICY_NAME "\"");
  assert_contains(f.cloudformation, "RoleName: \"eks-node\"");
  json_t *cfn = cloudformation_policy_document(f.cloudformation);
  assert_true(json_equal(cfn, f.document));
  json_decref(cfn);
  policyfix_release(&f);
}

static void test_ptc_invalid(void **state)
{
  (void)state;
  struct fix_request r = ptc_request(true);
  struct policy_fix f;
  struct err e = {0};

  r.attach_managed = true;
  assert_int_equal(policyfix_build(&r, &f, &e), ERR_INVALID);
  assert_contains(e.msg, "no AWS managed policy");
  assert_null(f.aws_cli);
  policyfix_release(&f);

  static const char *const bad[] = {"d",           "docker-hub-docker-hub-docker-hu",
                                    "Docker-hub",  "docker--hub",
                                    "-docker",     "docker-",
                                    "docker/",     "/docker",
                                    "docker//hub", "docker hub",
                                    "docker'hub",  "docker./hub",
                                    "ROOT",        "",
                                    "docker$hub"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    r = ptc_request(false);
    r.ptc_prefix = bad[i];
    r.repository = "docker/hub/nginx";
    memset(&e, 0, sizeof e);
    if (policyfix_build(&r, &f, &e) != ERR_INVALID)
      fail_msg("prefix '%s' was accepted", bad[i]);
    assert_contains(e.msg, "pull-through cache prefix");
    policyfix_release(&f);
    assert_false(policyfix_ptc_prefix_valid(bad[i]));
  }
  assert_false(policyfix_ptc_prefix_valid(NULL));
  static const char *const good[] = {
      "docker-hub", "ab", "ghcr/io", "a.b_c-d/e0", "docker-hub-docker-hub-docker-h",
      "ecr-public", "k8s"};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
    if (!policyfix_ptc_prefix_valid(good[i]))
      fail_msg("prefix '%s' was refused", good[i]);

  /* The repository must be under PREFIX/. */
  static const char *const outside[] = {"nginx", "docker-hub", "docker-hub/", "docker-hubx/nginx",
                                        "x/docker-hub/nginx"};
  for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++) {
    r = ptc_request(false);
    r.repository = outside[i];
    memset(&e, 0, sizeof e);
    if (policyfix_build(&r, &f, &e) != ERR_INVALID)
      fail_msg("repository '%s' was accepted under docker-hub/", outside[i]);
    assert_contains(e.msg, "is not under the pull-through cache prefix 'docker-hub'");
    policyfix_release(&f);
  }

  /* Only an identity fix imports; CreateRepository only with a prefix. */
  r = ptc_request(false);
  r.target = FIX_TARGET_REPOSITORY_POLICY;
  assert_int_equal(policyfix_build(&r, &f, &e), ERR_INVALID);
  assert_contains(e.msg, "identity");
  policyfix_release(&f);
  r = ptc_request(true);
  r.ptc_prefix = NULL;
  assert_int_equal(policyfix_build(&r, &f, &e), ERR_INVALID);
  assert_contains(e.msg, "ptc_create_repository");
  policyfix_release(&f);
}

/* True when principal (a role session of account) may call action on resource with the
 * identity policy id and the registry policy reg (V2 scope). */
static bool ptc_allowed(const json_t *id, const json_t *reg, const char *session,
                        const char *account, const char *role, const char *action,
                        const char *resource)
{
  struct policy *idp = NULL, *regp = NULL;
  assert_int_equal(policy_parse_json(id, &idp, NULL), ERR_OK);
  assert_int_equal(policy_parse_json(reg, &regp, NULL), ERR_OK);
  const struct policy *ids[1] = {idp};
  struct policy_request req;
  memset(&req, 0, sizeof req);
  req.principal.type = POLICY_PRINCIPAL_ASSUMED_ROLE;
  req.principal.arn = session;
  req.principal.account = account;
  req.principal.role_arn = role;
  req.action = action;
  req.resource = resource;
  req.identity_policies = ids;
  req.n_identity_policies = 1;
  req.registry_policy = regp;
  req.registry_scope = POLICY_REGISTRY_V2;
  struct policy_decision d;
  assert_int_equal(policy_evaluate(&req, &d, NULL), ERR_OK);
  policy_free(idp);
  policy_free(regp);
  return d.decision == POLICY_ALLOW;
}

static void test_ptc_cross_account(void **state)
{
  (void)state;
  struct fix_request r = ptc_request(true);
  r.principal_arn = SEED_SESSION;
  r.caller_account = "722000009750";
  struct policy_fix f;
  build_any(&r, &f);
  assert_string_equal(f.role_arn, SEED_ROLE);
  assert_verified(&f);
  assert_contains(f.verification, "registry account's side assumed to allow");
  assert_contains(f.caveat, "private registry policy of account 632000001762 in ap-southeast-1");
  const char *want = "{\"Sid\":\"AllowPullThroughCacheImportFrom722000009750\",\"Effect\":"
                     "\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::722000009750:root\"},"
                     "\"Action\":[\"ecr:BatchImportUpstreamImage\",\"ecr:CreateRepository\"],"
                     "\"Resource\":\"" PTC_RESOURCE "\"}";
  const char *at = strstr(f.caveat, want);
  if (!at)
    fail_msg("the caveat lacks the registry policy statement: %s", f.caveat);
  assert_contains(f.caveat, "repository creation template for prefix docker-hub");
  assert_contains(f.caveat, "must also let this role pull");
  assert_null(strstr(f.caveat, "both sides"));

  /* The statement, in a registry policy of its own, lets the role import with the inline
   * policy, and nobody of another account; without it the role is refused. */
  json_error_t je;
  json_t *st = json_loadb(at, strlen(want), 0, &je);
  assert_non_null(st);
  json_t *reg = json_pack("{s:s, s:[o]}", "Version", "2012-10-17", "Statement", st);
  json_t *none = json_pack("{s:s, s:[]}", "Version", "2012-10-17", "Statement");
  for (size_t i = 0; i < 2; i++) {
    const char *act = i ? "ecr:CreateRepository" : "ecr:BatchImportUpstreamImage";
    assert_true(
        ptc_allowed(f.document, reg, SEED_SESSION, "722000009750", SEED_ROLE, act, PTC_REPO_ARN));
    assert_false(
        ptc_allowed(f.document, none, SEED_SESSION, "722000009750", SEED_ROLE, act, PTC_REPO_ARN));
    assert_false(ptc_allowed(f.document, reg, "arn:aws:sts::999999999999:assumed-role/eks-node/x",
                             "999999999999", "arn:aws:iam::999999999999:role/eks-node", act,
                             PTC_REPO_ARN));
    assert_false(ptc_allowed(f.document, reg, SEED_SESSION, "722000009750", SEED_ROLE, act,
                             "arn:aws:ecr:ap-southeast-1:632000001762:repository/quay/nginx"));
  }
  json_decref(reg);
  json_decref(none);
  policyfix_release(&f);

  /* Without CreateRepository the statement asks for the import only. */
  r.ptc_create_repository = false;
  build_any(&r, &f);
  assert_contains(
      f.caveat, "\"Action\":[\"ecr:BatchImportUpstreamImage\"],\"Resource\":\"" PTC_RESOURCE "\"}");
  assert_null(strstr(f.caveat, "\"ecr:CreateRepository\"]"));
  policyfix_release(&f);
}

/* policyfix_ptc_verify of the document text for r: true or false, the note into note_out. */
static bool ptc_verify_text(const struct fix_request *r, const char *doc_text, char **note_out)
{
  json_t *doc = parse(doc_text);
  bool ok = true;
  char *note = NULL;
  struct err e = {0};
  if (policyfix_ptc_verify(r, doc, &ok, &note, &e) != ERR_OK)
    fail_msg("policyfix_ptc_verify: %s", e.msg);
  assert_non_null(note);
  json_decref(doc);
  *note_out = note;
  return ok;
}

#define PTC_DOC(actions, resource)                                                       \
  "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":" actions \
  ",\"Resource\":\"" resource "\"}]}"
#define PTC_IMPORT "[\"ecr:BatchImportUpstreamImage\"]"
#define PTC_BOTH "[\"ecr:BatchImportUpstreamImage\",\"ecr:CreateRepository\"]"

static void test_ptc_verify_helper(void **state)
{
  (void)state;
  static const struct {
    bool create;
    const char *doc;
    bool ok;
    const char *note; /* in the verification */
  } cases[] = {
      {false, PTC_DOC(PTC_IMPORT, PTC_RESOURCE), true, "are not allowed by it"},
      {true, PTC_DOC(PTC_BOTH, PTC_RESOURCE), true, "ecr:CreateRepository on"},
      /* The whole registry, a sibling prefix, any region, any registry. */
      {false, PTC_DOC(PTC_IMPORT, "arn:aws:ecr:ap-southeast-1:632000001762:repository/*"), false,
       "repository/docker-hub-ecrdiag-probe/library/nginx"},
      {false, PTC_DOC(PTC_IMPORT, "arn:aws:ecr:ap-southeast-1:632000001762:repository/docker-hub*"),
       false, "repository/docker-hub-ecrdiag-probe/"},
      {false,
       PTC_DOC(PTC_IMPORT, "arn:aws:ecr:ap-southeast-1:632000001762:repository/*docker-hub/*"),
       false, "repository/ecrdiag-probe/docker-hub/library/nginx"},
      {false, PTC_DOC(PTC_IMPORT, "arn:aws:ecr:*:632000001762:repository/docker-hub/*"), false,
       "arn:aws:ecr:us-east-1:632000001762:repository/docker-hub/library/nginx"},
      {false, PTC_DOC(PTC_IMPORT, "arn:aws:ecr:ap-southeast-1:*:repository/docker-hub/*"), false,
       "arn:aws:ecr:ap-southeast-1:999999999999:repository/docker-hub/library/nginx"},
      /* More actions than the import. */
      {false, PTC_DOC("\"ecr:*\"", PTC_RESOURCE), false, "more than the import"},
      {false, PTC_DOC(PTC_BOTH, PTC_RESOURCE), false, "ecr:CreateRepository on " PTC_REPO_ARN},
      {true,
       PTC_DOC("[\"ecr:BatchImportUpstreamImage\",\"ecr:CreateRepository\",\"ecr:BatchGetImage\"]",
               PTC_RESOURCE),
       false, "ecr:BatchGetImage on " PTC_REPO_ARN},
      /* Too little: another rule's repositories, or no CreateRepository when asked. */
      {false, PTC_DOC(PTC_IMPORT, "arn:aws:ecr:ap-southeast-1:632000001762:repository/quay/*"),
       false, "still refused ecr:BatchImportUpstreamImage on " PTC_REPO_ARN},
      {true, PTC_DOC(PTC_IMPORT, PTC_RESOURCE), false,
       "still refused ecr:CreateRepository on " PTC_REPO_ARN},
  };
  for (int cross = 0; cross < 2; cross++)
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      struct fix_request r = ptc_request(cases[i].create);
      if (cross) {
        r.principal_arn = SEED_SESSION;
        r.caller_account = "722000009750";
      }
      char *note = NULL;
      bool ok = ptc_verify_text(&r, cases[i].doc, &note);
      if (ok != cases[i].ok || !strstr(note, cases[i].note))
        fail_msg("case %zu (%s): verified %d, wanted %d with \"%s\": %s", i,
                 cross ? "across accounts" : "same account", ok, cases[i].ok, cases[i].note, note);
      free(note);
    }

  /* The fix's own document passes, and the request must be an import fix. */
  struct fix_request r = ptc_request(true);
  struct policy_fix f;
  build_any(&r, &f);
  bool ok = false;
  char *note = NULL;
  struct err e = {0};
  assert_int_equal(policyfix_ptc_verify(&r, f.document, &ok, &note, &e), ERR_OK);
  assert_true(ok);
  assert_string_equal(note, f.verification);
  free(note);
  assert_int_equal(policyfix_ptc_verify(&r, NULL, &ok, &note, &e), ERR_INVALID);
  assert_false(ok);
  assert_null(note);
  r.ptc_prefix = NULL;
  r.ptc_create_repository = false;
  assert_int_equal(policyfix_ptc_verify(&r, f.document, &ok, &note, &e), ERR_INVALID);
  r = ptc_request(false);
  r.repository = "nginx";
  assert_int_equal(policyfix_ptc_verify(&r, f.document, &ok, &note, &e), ERR_INVALID);
  policyfix_release(&f);
}

static void test_script_ptc_import(void **state)
{
  struct sandbox *sb = *state;
  if (!tools_present())
    skip();
  struct fix_request r = ptc_request(true);
  struct policy_fix f;
  build_any(&r, &f);
  sandbox_reset(sb);
  assert_int_equal(sandbox_run(sb, f.aws_cli), 0);
  assert_file_contains(sb, "state/calls.log",
                       "iam put-role-policy --role-name eks-node --policy-name " PTC_POLICY_NAME
                       " --policy-document file://");
  char *put = sandbox_file(sb, "state/put.json");
  assert_non_null(put);
  json_t *got = parse(put);
  assert_true(json_equal(got, f.document));
  json_decref(got);
  free(put);
  assert_file_contains(sb, "out", "inline policy " PTC_POLICY_NAME " set on role eks-node");
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
      cmocka_unit_test(test_grant_names),
      cmocka_unit_test(test_unrelated_statements_survive),
      cmocka_unit_test(test_role_grant),
      cmocka_unit_test(test_role_grant_invalid),
      cmocka_unit_test(test_ou_grant),
      cmocka_unit_test(test_identity_inline),
      cmocka_unit_test(test_identity_managed),
      cmocka_unit_test(test_size_merges_statements),
      cmocka_unit_test(test_verification_failures),
      cmocka_unit_test(test_to_json),
      cmocka_unit_test(test_terraform_cloudformation),
      cmocka_unit_test_setup_teardown(test_script_no_policy, sandbox_setup, sandbox_teardown),
      cmocka_unit_test_setup_teardown(test_script_existing_policy, sandbox_setup, sandbox_teardown),
      cmocka_unit_test_setup_teardown(test_script_unknown_policy, sandbox_setup, sandbox_teardown),
      cmocka_unit_test_setup_teardown(test_script_already_granted, sandbox_setup, sandbox_teardown),
      cmocka_unit_test_setup_teardown(test_script_merged_to_fit, sandbox_setup, sandbox_teardown),
      cmocka_unit_test_setup_teardown(test_script_role_and_identity, sandbox_setup,
                                      sandbox_teardown),
      cmocka_unit_test(test_exempt_each_grant),
      cmocka_unit_test(test_exempt_existing_condition),
      cmocka_unit_test(test_exempt_no_widening),
      cmocka_unit_test(test_exempt_same_operator_key),
      cmocka_unit_test(test_exempt_invalid),
      cmocka_unit_test(test_exempt_idempotent),
      cmocka_unit_test(test_exempt_unrelated_survive),
      cmocka_unit_test(test_exempt_registry_outputs),
      cmocka_unit_test(test_exempt_verification),
      cmocka_unit_test_setup_teardown(test_script_registry_exemption, sandbox_setup,
                                      sandbox_teardown),
      cmocka_unit_test_setup_teardown(test_script_repository_exemption_then_grant, sandbox_setup,
                                      sandbox_teardown),
      cmocka_unit_test(test_ptc_statement_document),
      cmocka_unit_test(test_ptc_texts),
      cmocka_unit_test(test_ptc_invalid),
      cmocka_unit_test(test_ptc_cross_account),
      cmocka_unit_test(test_ptc_verify_helper),
      cmocka_unit_test_setup_teardown(test_script_ptc_import, sandbox_setup, sandbox_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
