/* Unit tests for src/core/imageref.c: one table of references (the seed, every ECR host form
 * and partition, every refusal) with the expected kind, fields, ARN and a piece of the
 * message; then lifecycle checks (release after failure, reuse, NULL). Run under ASan/UBSan
 * in the sanitizer build, so a leak on any failure path fails the suite. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecrdiag/buf.h"
#include "ecrdiag/imageref.h"

#define SEED "632000001762.dkr.ecr.ap-southeast-1.amazonaws.com/audit/sa/cicd-runner:latest"
#define SEED_HOST "632000001762.dkr.ecr.ap-southeast-1.amazonaws.com"
#define D64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define DIGEST "sha256:" D64

struct ref_case {
  const char *input;
  enum imageref_kind kind;
  const char *host;       /* expected r.host; NULL: not checked */
  const char *partition;  /* ECR only */
  const char *region;     /* ECR only */
  bool fips;              /* ECR only */
  bool dualstack;         /* ECR only */
  const char *repository; /* ECR only */
  const char *tag;        /* ECR only; NULL: no tag */
  const char *digest;     /* ECR only; NULL: no digest */
  const char *arn;        /* ECR only */
  const char *msg_part;   /* failures: a piece the message must contain */
};

#define OK(in, host, part, reg, fips, ds, repo, tag, dig, arn)             \
  {                                                                        \
    in, IMAGEREF_ECR, host, part, reg, fips, ds, repo, tag, dig, arn, NULL \
  }
#define BAD(in, kind, host, msg)                                          \
  {                                                                       \
    in, kind, host, NULL, NULL, false, false, NULL, NULL, NULL, NULL, msg \
  }

static const struct ref_case cases[] = {
    /* ---- private ECR, every host form and partition ---- */
    OK(SEED, SEED_HOST, "aws", "ap-southeast-1", false, false, "audit/sa/cicd-runner", "latest",
       NULL, "arn:aws:ecr:ap-southeast-1:632000001762:repository/audit/sa/cicd-runner"),
    OK(SEED_HOST "/audit/sa/cicd-runner", SEED_HOST, "aws", "ap-southeast-1", false, false,
       "audit/sa/cicd-runner", "latest", NULL,
       "arn:aws:ecr:ap-southeast-1:632000001762:repository/audit/sa/cicd-runner"),
    OK(SEED_HOST "/audit/sa/cicd-runner@" DIGEST, SEED_HOST, "aws", "ap-southeast-1", false, false,
       "audit/sa/cicd-runner", NULL, DIGEST,
       "arn:aws:ecr:ap-southeast-1:632000001762:repository/audit/sa/cicd-runner"),
    OK(SEED_HOST "/audit/sa/cicd-runner:v1.2@" DIGEST, SEED_HOST, "aws", "ap-southeast-1", false,
       false, "audit/sa/cicd-runner", "v1.2", DIGEST,
       "arn:aws:ecr:ap-southeast-1:632000001762:repository/audit/sa/cicd-runner"),
    OK("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com/app:1",
       "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com", "aws", "us-east-1", true, false, "app",
       "1", NULL, "arn:aws:ecr:us-east-1:123456789012:repository/app"),
    OK("123456789012.dkr.ecr.us-gov-west-1.amazonaws.com/team/app:1",
       "123456789012.dkr.ecr.us-gov-west-1.amazonaws.com", "aws-us-gov", "us-gov-west-1", false,
       false, "team/app", "1", NULL,
       "arn:aws-us-gov:ecr:us-gov-west-1:123456789012:repository/team/app"),
    OK("123456789012.dkr.ecr-fips.us-gov-east-1.amazonaws.com/app",
       "123456789012.dkr.ecr-fips.us-gov-east-1.amazonaws.com", "aws-us-gov", "us-gov-east-1", true,
       false, "app", "latest", NULL,
       "arn:aws-us-gov:ecr:us-gov-east-1:123456789012:repository/app"),
    OK("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/app:1",
       "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", "aws-cn", "cn-north-1", false, false,
       "app", "1", NULL, "arn:aws-cn:ecr:cn-north-1:123456789012:repository/app"),
    OK("123456789012.dkr-ecr.eu-west-1.on.aws/team/app:2.0",
       "123456789012.dkr-ecr.eu-west-1.on.aws", "aws", "eu-west-1", false, true, "team/app", "2.0",
       NULL, "arn:aws:ecr:eu-west-1:123456789012:repository/team/app"),
    OK("123456789012.dkr-ecr-fips.us-east-2.on.aws/app",
       "123456789012.dkr-ecr-fips.us-east-2.on.aws", "aws", "us-east-2", true, true, "app",
       "latest", NULL, "arn:aws:ecr:us-east-2:123456789012:repository/app"),
    OK("123456789012.dkr-ecr.cn-northwest-1.on.amazonwebservices.com.cn/app:x",
       "123456789012.dkr-ecr.cn-northwest-1.on.amazonwebservices.com.cn", "aws-cn",
       "cn-northwest-1", false, true, "app", "x", NULL,
       "arn:aws-cn:ecr:cn-northwest-1:123456789012:repository/app"),
    OK("632000001762.DKR.ECR.AP-SOUTHEAST-1.AMAZONAWS.COM/audit/app:V1", SEED_HOST, "aws",
       "ap-southeast-1", false, false, "audit/app", "V1", NULL,
       "arn:aws:ecr:ap-southeast-1:632000001762:repository/audit/app"),
    OK("123456789012.dkr.ecr.mx-central-1.amazonaws.com/a__b/c--d/e.f_g9:_v1.2-rc.3",
       "123456789012.dkr.ecr.mx-central-1.amazonaws.com", "aws", "mx-central-1", false, false,
       "a__b/c--d/e.f_g9", "_v1.2-rc.3", NULL,
       "arn:aws:ecr:mx-central-1:123456789012:repository/a__b/c--d/e.f_g9"),
    OK("123456789012.dkr.ecr.il-central-1.amazonaws.com/ab:0", NULL, "aws", "il-central-1", false,
       false, "ab", "0", NULL, "arn:aws:ecr:il-central-1:123456789012:repository/ab"),

    /* ---- malformed input ---- */
    BAD("", IMAGEREF_MALFORMED, NULL, "the image reference is empty"),
    BAD("   ", IMAGEREF_MALFORMED, NULL, "only whitespace"),
    BAD(" " SEED, IMAGEREF_MALFORMED, NULL, "starts with whitespace"),
    BAD(SEED "\n", IMAGEREF_MALFORMED, NULL, "ends with whitespace"),
    BAD(SEED_HOST "/app\tx:1", IMAGEREF_MALFORMED, NULL, "control character 0x09 at position 54"),
    BAD("docker pull " SEED, IMAGEREF_MALFORMED, NULL, "space at position 7"),
    BAD(SEED_HOST "/app:lat\xc3\xa9st", IMAGEREF_MALFORMED, NULL, "non-ASCII byte 0xc3"),
    BAD("https://" SEED, IMAGEREF_MALFORMED, NULL, "scheme 'https://'"),
    BAD("docker://" SEED, IMAGEREF_MALFORMED, NULL, "scheme 'docker://'"),
    BAD("63200000176.dkr.ecr.ap-southeast-1.amazonaws.com/app", IMAGEREF_MALFORMED, NULL,
        "registry id '63200000176'"),
    BAD("abcdefghijkl.dkr.ecr.ap-southeast-1.amazonaws.com/app", IMAGEREF_MALFORMED, NULL,
        "must be exactly 12 digits"),
    BAD("x.632000001762.dkr.ecr.ap-southeast-1.amazonaws.com/app", IMAGEREF_MALFORMED, NULL,
        "should be a single 12-digit account id"),
    BAD("632000001762.dkr.ecr.apsoutheast1.amazonaws.com/app", IMAGEREF_MALFORMED, NULL,
        "region 'apsoutheast1'"),
    BAD("632000001762.dkr.ecr.ap-southeast.amazonaws.com/app", IMAGEREF_MALFORMED, NULL,
        "must end with '-' and a number"),
    BAD("632000001762.dkr.ecr.ap-south-east-1.amazonaws.com/app", IMAGEREF_MALFORMED, NULL,
        "unexpected part"),
    BAD("632000001762.dkr.ecr.cn-north-1.amazonaws.com/app", IMAGEREF_MALFORMED, NULL,
        "served under amazonaws.com.cn"),
    BAD("632000001762.dkr.ecr.us-east-1.amazonaws.com.cn/app", IMAGEREF_MALFORMED, NULL,
        "is not a China region"),
    BAD("632000001762.dkr.ecr-fips.cn-north-1.amazonaws.com.cn/app", IMAGEREF_MALFORMED, NULL,
        "no FIPS ECR endpoint"),
    BAD("632000001762.dkr.ecr.us-east-1.on.aws/app", IMAGEREF_MALFORMED, NULL,
        "mixes the IPv4 and dual-stack"),
    BAD("632000001762.dkr.ecr.us-east-1.amazonaws.co/app", IMAGEREF_MALFORMED, NULL,
        "does not end in an ECR registry domain"),
    BAD("api.ecr.ap-southeast-1.amazonaws.com/app", IMAGEREF_MALFORMED, NULL,
        "ECR API endpoint, not a registry"),
    BAD(SEED_HOST ":443/audit/app:1", IMAGEREF_MALFORMED, SEED_HOST, "remove ':443'"),
    BAD(SEED_HOST, IMAGEREF_MALFORMED, SEED_HOST, "no repository after the registry host"),
    BAD(SEED_HOST ":latest", IMAGEREF_MALFORMED, SEED_HOST, "no repository after the registry"),
    BAD(SEED_HOST "/", IMAGEREF_MALFORMED, SEED_HOST, "no repository after '" SEED_HOST "/'"),
    BAD(SEED_HOST "/Audit/SA/app:1", IMAGEREF_MALFORMED, NULL,
        "repository names are lower case; use 'audit/sa/app'"),
    BAD(SEED_HOST "/app$x:1", IMAGEREF_MALFORMED, NULL, "character '$' at position 4"),
    BAD(SEED_HOST "/a//b", IMAGEREF_MALFORMED, NULL, "empty path component"),
    BAD(SEED_HOST "/audit/app-:1", IMAGEREF_MALFORMED, NULL, "start and end with a letter"),
    BAD(SEED_HOST "/a.-b", IMAGEREF_MALFORMED, NULL, "separator '.-'"),
    BAD(SEED_HOST "/a___b", IMAGEREF_MALFORMED, NULL, "separator '___'"),
    BAD(SEED_HOST "/a:1", IMAGEREF_MALFORMED, NULL, "names are 2 to 256"),
    BAD(SEED_HOST "/app:", IMAGEREF_MALFORMED, NULL, "the tag after ':' is empty"),
    BAD(SEED_HOST "/app:-x", IMAGEREF_MALFORMED, NULL, "tag '-x' starts with '-'"),
    BAD(SEED_HOST "/app:v1+build", IMAGEREF_MALFORMED, NULL, "character '+' in tag"),
    BAD(SEED_HOST "/app@sha512:" D64 D64, IMAGEREF_MALFORMED, NULL,
        "digest algorithm 'sha512' is not supported"),
    BAD(SEED_HOST "/app@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
        IMAGEREF_MALFORMED, NULL, "upper-case hex"),
    BAD(SEED_HOST "/app@sha256:0123456789abcdef", IMAGEREF_MALFORMED, NULL,
        "has 16 hex digits, but sha256 has 64"),
    BAD(SEED_HOST "/app@sha256:" D64 "x", IMAGEREF_MALFORMED, NULL, "not a hex digit"),
    BAD(SEED_HOST "/app@latest", IMAGEREF_MALFORMED, NULL, "write ':' instead of '@'"),
    BAD(SEED_HOST "/app@", IMAGEREF_MALFORMED, NULL, "the digest after '@' is empty"),
    BAD(SEED_HOST "/app@" DIGEST "@x", IMAGEREF_MALFORMED, NULL, "more than one '@'"),

    /* ---- ECR Public ---- */
    BAD("public.ecr.aws/nginx/nginx:latest", IMAGEREF_ECR_PUBLIC, "public.ecr.aws",
        "is ECR Public, which is not what this tool diagnoses"),
    BAD("ecr-public.aws.com/docker/library/alpine", IMAGEREF_ECR_PUBLIC, "ecr-public.aws.com",
        "need no ECR credentials"),

    /* ---- other registries ---- */
    BAD("nginx:latest", IMAGEREF_NOT_ECR, "docker.io", "not an ECR registry: 'docker.io'"),
    BAD("nginx", IMAGEREF_NOT_ECR, "docker.io", "'nginx' names a Docker Hub image"),
    BAD("myorg/app:1", IMAGEREF_NOT_ECR, "docker.io", "an ECR reference looks like"),
    BAD("audit/sa/cicd-runner:latest", IMAGEREF_NOT_ECR, "docker.io", "Docker Hub"),
    BAD("docker.io/library/nginx:1.25", IMAGEREF_NOT_ECR, "docker.io",
        "not an ECR registry: 'docker.io'"),
    BAD("Docker.IO/library/nginx", IMAGEREF_NOT_ECR, "docker.io", "'docker.io'"),
    BAD("ghcr.io/owner/app:1", IMAGEREF_NOT_ECR, "ghcr.io", "not an ECR registry: 'ghcr.io'"),
    BAD("localhost:5000/app", IMAGEREF_NOT_ECR, "localhost", "'localhost'"),
    BAD("registry.example.com:5000/team/app@" DIGEST, IMAGEREF_NOT_ECR, "registry.example.com",
        "'registry.example.com'"),
    BAD("123456789012.dkr.ecr.us-east-1.example.com/app", IMAGEREF_NOT_ECR,
        "123456789012.dkr.ecr.us-east-1.example.com", "not an ECR registry"),
    BAD("123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov/app", IMAGEREF_NOT_ECR, NULL,
        "isolated AWS partition"),
};

/* "One lower-case sentence": no capital first letter, one line, and never cut short. */
static void check_message_shape(const char *input, const char *msg)
{
  size_t n = strlen(msg);
  if (n == 0 || (msg[0] >= 'A' && msg[0] <= 'Z') || strchr(msg, '\n') || n >= ERR_MSG_MAX - 1)
    fail_msg("%s: badly shaped message '%s'", input, msg);
}

static void expect_str(const char *input, const char *field, const char *want, const char *got)
{
  if (!want && !got)
    return;
  if (!want || !got || strcmp(want, got) != 0)
    fail_msg("%s: %s is '%s', expected '%s'", input, field, got ? got : "(null)",
             want ? want : "(null)");
}

static void test_table(void **state)
{
  (void)state;
  size_t n = sizeof cases / sizeof cases[0];
  print_message("imageref table: %zu cases\n", n);
  assert_true(n >= 40);
  for (size_t i = 0; i < n; i++) {
    const struct ref_case *c = &cases[i];
    struct image_ref r;
    struct err e = {0};
    enum err_code rc = imageref_parse(c->input, &r, &e);
    if (r.kind != c->kind)
      fail_msg("%s: kind %d, expected %d (%s)", c->input, r.kind, c->kind, e.msg);
    assert_string_equal(r.reference, c->input);
    if (c->host)
      expect_str(c->input, "host", c->host, r.host);
    char *arn = imageref_repository_arn(&r);
    if (c->kind == IMAGEREF_ECR) {
      if (rc != ERR_OK)
        fail_msg("%s: %s", c->input, e.msg);
      assert_int_equal(e.code, ERR_OK);
      expect_str(c->input, "partition", c->partition, r.partition);
      expect_str(c->input, "region", c->region, r.region);
      assert_int_equal(strlen(r.registry_id), 12);
      assert_true(r.fips == c->fips);
      assert_true(r.dualstack == c->dualstack);
      expect_str(c->input, "repository", c->repository, r.repository);
      expect_str(c->input, "tag", c->tag, r.tag);
      expect_str(c->input, "digest", c->digest, r.digest);
      expect_str(c->input, "arn", c->arn, arn);
      /* The digest is what is pulled when there is one. */
      expect_str(c->input, "manifest ref", c->digest ? c->digest : c->tag,
                 imageref_manifest_ref(&r));
    } else {
      assert_int_equal(rc, ERR_PARSE);
      assert_int_equal(e.code, ERR_PARSE);
      if (!strstr(e.msg, c->msg_part))
        fail_msg("%s: message '%s' lacks '%s'", c->input, e.msg, c->msg_part);
      check_message_shape(c->input, e.msg);
      assert_null(arn);
    }
    free(arn);
    imageref_release(&r);
  }
}

static void test_overlong(void **state)
{
  (void)state;
  size_t n = 5000;
  char *s = malloc(n + 1);
  assert_non_null(s);
  memcpy(s, SEED_HOST "/", sizeof SEED_HOST);
  memset(s + sizeof SEED_HOST, 'a', n - sizeof SEED_HOST);
  s[n] = '\0';
  struct image_ref r;
  struct err e = {0};
  assert_int_equal(imageref_parse(s, &r, &e), ERR_PARSE);
  assert_int_equal(r.kind, IMAGEREF_MALFORMED);
  assert_non_null(strstr(e.msg, "over 4096 bytes"));
  check_message_shape("overlong", e.msg);
  imageref_release(&r);

  /* Just under the cap, the repository limit speaks instead, quoting only a prefix. */
  s[4000] = '\0';
  assert_int_equal(imageref_parse(s, &r, &e), ERR_PARSE);
  assert_non_null(strstr(e.msg, "names are 2 to 256"));
  assert_non_null(strstr(e.msg, "...'"));
  check_message_shape("long repository", e.msg);
  imageref_release(&r);
  free(s);
}

static void test_length_limits(void **state)
{
  (void)state;
  char tag[130], repo[258];
  memset(tag, 'a', sizeof tag);
  memset(repo, 'b', sizeof repo);
  struct buf b;
  buf_init(&b, 1024);
  struct image_ref r;
  struct err e = {0};

  /* 128-character tag and 256-character repository are the maxima; one more is refused. */
  buf_printf(&b, SEED_HOST "/%.*s:%.*s", 256, repo, 128, tag);
  assert_int_equal(imageref_parse(buf_str(&b), &r, &e), ERR_OK);
  assert_int_equal(strlen(r.tag), 128);
  assert_int_equal(strlen(r.repository), 256);
  imageref_release(&r);

  buf_reset(&b);
  buf_printf(&b, SEED_HOST "/app:%.*s", 129, tag);
  assert_int_equal(imageref_parse(buf_str(&b), &r, &e), ERR_PARSE);
  assert_non_null(strstr(e.msg, "129 characters long, over the 128 allowed"));
  imageref_release(&r);

  buf_reset(&b);
  buf_printf(&b, SEED_HOST "/%.*s", 257, repo);
  assert_int_equal(imageref_parse(buf_str(&b), &r, &e), ERR_PARSE);
  assert_non_null(strstr(e.msg, "257 characters long"));
  imageref_release(&r);
  buf_release(&b);
}

static void test_lifecycle(void **state)
{
  (void)state;
  struct image_ref r;
  /* NULL input is the empty reference; a NULL err is allowed. */
  assert_int_equal(imageref_parse(NULL, &r, NULL), ERR_PARSE);
  assert_int_equal(r.kind, IMAGEREF_MALFORMED);
  imageref_release(&r);
  imageref_release(&r); /* twice is harmless */
  imageref_release(NULL);

  /* The same storage reused: failure, release, success, release. */
  struct err e = {0};
  assert_int_equal(imageref_parse("https://" SEED, &r, &e), ERR_PARSE);
  imageref_release(&r);
  assert_int_equal(imageref_parse(SEED, &r, &e), ERR_OK);
  assert_int_equal(e.code, ERR_OK);
  assert_string_equal(e.msg, "");
  assert_string_equal(r.registry_id, "632000001762");
  assert_string_equal(imageref_manifest_ref(&r), "latest");
  imageref_release(&r);
  assert_null(imageref_manifest_ref(&r));
  assert_null(imageref_repository_arn(&r));
  assert_null(imageref_repository_arn(NULL));
  assert_null(imageref_manifest_ref(NULL));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_table),
      cmocka_unit_test(test_overlong),
      cmocka_unit_test(test_length_limits),
      cmocka_unit_test(test_lifecycle),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
