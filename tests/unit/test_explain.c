/* Unit tests for src/diag/explain.c: the whole corpus of real messages (fixtures/explain/
 * corpus.json; train messages must give their primary cause, the holdout score is printed, not
 * asserted), the rule table against the cause catalogue, facts, precedence, both renderings,
 * and edge cases (empty, oversized, binary and pathological input). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecrdiag/buf.h"
#include "ecrdiag/causes.h"
#include "ecrdiag/explain.h"

static json_t *load_corpus(void)
{
  const char *dir = getenv("ECRDIAG_FIXTURES");
  char path[4096];
  snprintf(path, sizeof path, "%s/explain/corpus.json", dir ? dir : "fixtures");
  json_error_t je;
  json_t *doc = json_load_file(path, 0, &je);
  if (!doc)
    fail_msg("cannot load %s: %s (line %d)", path, je.text, je.line);
  return doc;
}

static struct explain_result run(const char *msg)
{
  struct explain_result r;
  struct err e;
  assert_int_equal(explain_message(msg, strlen(msg), &r, &e), ERR_OK);
  return r;
}

static bool named(const struct explain_result *r, enum cause_id id)
{
  for (size_t i = 0; i < r->n_causes; i++)
    if (r->causes[i].id == id)
      return true;
  return false;
}

/* ---- the corpus ----------------------------------------------------------------------------- */

static void test_corpus_entries_well_formed(void **state)
{
  (void)state;
  json_t *doc = load_corpus();
  json_t *msgs = json_object_get(doc, "messages");
  assert_true(json_is_array(msgs));
  size_t n_train = 0, n_holdout = 0, i;
  json_t *m;
  json_array_foreach(msgs, i, m)
  {
    const char *text = json_string_value(json_object_get(m, "message"));
    const char *src = json_string_value(json_object_get(m, "source"));
    const char *set = json_string_value(json_object_get(m, "set"));
    json_t *exp = json_object_get(m, "expected");
    assert_non_null(text);
    assert_non_null(src);
    assert_true(strncmp(src, "https://", 8) == 0);
    assert_non_null(set);
    assert_true(!strcmp(set, "train") || !strcmp(set, "holdout"));
    n_train += !strcmp(set, "train");
    n_holdout += !strcmp(set, "holdout");
    assert_true(json_is_array(exp) && json_array_size(exp) >= 1);
    size_t k;
    json_t *id;
    json_array_foreach(exp, k, id)
    {
      const char *s = json_string_value(id);
      if (!s || cause_from_string(s) == CAUSE_COUNT)
        fail_msg("message %zu: '%s' is not a cause id", i, s ? s : "(not a string)");
    }
  }
  assert_true(n_train >= 40);
  assert_true(n_holdout >= 20);
  /* The frozen rules' holdout score is recorded with the blob it was measured on. */
  json_t *frozen = json_object_get(doc, "frozen");
  assert_true(json_is_object(frozen));
  const char *blob = json_string_value(json_object_get(frozen, "explain_c_blob"));
  assert_true(blob && strlen(blob) == 40);
  assert_int_equal(json_integer_value(json_object_get(frozen, "holdout_total")), n_holdout);
  assert_true(json_is_integer(json_object_get(frozen, "holdout_primary_correct")));
  assert_true(json_is_integer(json_object_get(frozen, "holdout_top3_correct")));
  print_message("corpus: %zu train, %zu holdout messages\n", n_train, n_holdout);
  json_decref(doc);
}

/* Every train message gives its expected primary cause: the rules were built from them. */
static void test_train_primary_causes(void **state)
{
  (void)state;
  json_t *doc = load_corpus();
  json_t *msgs = json_object_get(doc, "messages");
  size_t i, n = 0, bad = 0;
  json_t *m;
  json_array_foreach(msgs, i, m)
  {
    if (strcmp(json_string_value(json_object_get(m, "set")), "train"))
      continue;
    n++;
    const char *text = json_string_value(json_object_get(m, "message"));
    const char *want = json_string_value(json_array_get(json_object_get(m, "expected"), 0));
    struct explain_result r = run(text);
    const char *got = r.n_causes ? cause_info(r.causes[0].id)->id : "(nothing)";
    if (strcmp(got, want)) {
      bad++;
      print_error("train %zu: want %s, got %s: %.120s\n", i, want, got, text);
    }
  }
  print_message("train: %zu/%zu primary causes right\n", n - bad, n);
  assert_int_equal(bad, 0);
  json_decref(doc);
}

/* The holdout score is reported, not asserted: it measures how the rules generalise. */
static void test_holdout_score_reported(void **state)
{
  (void)state;
  json_t *doc = load_corpus();
  json_t *msgs = json_object_get(doc, "messages");
  size_t i, n = 0, primary = 0, top3 = 0;
  json_t *m;
  json_array_foreach(msgs, i, m)
  {
    if (strcmp(json_string_value(json_object_get(m, "set")), "holdout"))
      continue;
    n++;
    const char *text = json_string_value(json_object_get(m, "message"));
    enum cause_id want =
        cause_from_string(json_string_value(json_array_get(json_object_get(m, "expected"), 0)));
    struct explain_result r = run(text);
    primary += r.n_causes && r.causes[0].id == want;
    top3 += named(&r, want);
    if (!(r.n_causes && r.causes[0].id == want))
      print_message("holdout %zu: want %s, got %s\n", i, cause_info(want)->id,
                    r.n_causes ? cause_info(r.causes[0].id)->id : "(nothing)");
  }
  json_t *frozen = json_object_get(doc, "frozen");
  print_message("holdout with the current rules: primary %zu/%zu, top 3 %zu/%zu\n", primary, n,
                top3, n);
  if (frozen)
    print_message("holdout with the frozen rules (blob %s): primary %lld/%lld, top 3 %lld/%lld\n",
                  json_string_value(json_object_get(frozen, "explain_c_blob")),
                  json_integer_value(json_object_get(frozen, "holdout_primary_correct")),
                  json_integer_value(json_object_get(frozen, "holdout_total")),
                  json_integer_value(json_object_get(frozen, "holdout_top3_correct")),
                  json_integer_value(json_object_get(frozen, "holdout_total")));
  json_decref(doc);
}

/* ---- the rule table ------------------------------------------------------------------------- */

static void check_pattern(size_t rule, const char *p)
{
  assert_non_null(p);
  if (!*p || p[0] == '|' || p[strlen(p) - 1] == '|' || strstr(p, "||") || strstr(p, "  "))
    fail_msg("rule %zu: empty alternative or double space in '%s'", rule, p);
  for (const char *c = p; *c; c++)
    if (*c >= 'A' && *c <= 'Z')
      fail_msg("rule %zu: '%s' is not lower-case (messages are matched lower-cased)", rule, p);
  for (const char *c = p; *c; c++)
    if ((*c == '*' || *c == '~') && (c == p || c[-1] == '|' || !c[1] || c[1] == '|'))
      fail_msg("rule %zu: a gap at the edge of an alternative in '%s'", rule, p);
}

static void test_rule_table_consistent(void **state)
{
  (void)state;
  size_t n;
  const struct explain_rule *rules = explain_rules(&n);
  assert_true(n > 0);
  for (size_t i = 0; i < n; i++) {
    const struct explain_rule *r = &rules[i];
    /* Every rule's cause is a catalogue id, and round-trips through its string. */
    assert_true((unsigned)r->cause < CAUSE_COUNT);
    assert_int_equal(cause_from_string(cause_info(r->cause)->id), r->cause);
    assert_in_range(r->weight, 1, 100);
    assert_true(r->tier == EXPLAIN_SPECIFIC || r->tier == EXPLAIN_GENERIC);
    assert_non_null(r->all[0]);
    for (size_t k = 0; k < EXPLAIN_MAX_PATTERNS && r->all[k]; k++)
      check_pattern(i, r->all[k]);
    if (r->unless)
      check_pattern(i, r->unless);
    assert_true(r->meaning && strlen(r->meaning) > 10);
    assert_true(r->confirm && strlen(r->confirm) > 5);
    /* A generic rule is a guess: it must not claim to be sure. */
    if (r->tier == EXPLAIN_GENERIC)
      assert_true(r->weight < 60);
  }
}

/* ---- behaviour ------------------------------------------------------------------------------ */

/* The same registry answer in each runtime's wrapping gives the same primary cause. */
static void test_wrappers_read_alike(void **state)
{
  (void)state;
  static const char *const wrapped[] = {
      "Failed to pull image \"123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1\": rpc error: "
      "code = Unknown desc = Error response from daemon: Get "
      "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/v2/app/manifests/1: no basic auth "
      "credentials",
      "E0101 kubelet \"PullImage from image service failed\" err=\"rpc error: code = Unknown desc "
      "= failed to pull and unpack image "
      "\\\"123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1\\\": "
      "failed to resolve reference \\\"123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1\\\": "
      "pull "
      "access denied, repository does not exist or may require authorization: authorization "
      "failed: no basic auth credentials\"",
      "{\"message\": \"Error reading manifest 1 in "
      "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app: "
      "no basic auth credentials\"}",
      "CannotPullContainerError: Error response from daemon: Get\n  "
      "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/v2/app/manifests/1:\tno basic AUTH "
      "credentials",
  };
  for (size_t i = 0; i < sizeof wrapped / sizeof wrapped[0]; i++) {
    struct explain_result r = run(wrapped[i]);
    assert_true(r.n_causes >= 1);
    assert_int_equal(r.causes[0].id, CAUSE_NODE_NO_ECR_CREDENTIALS);
    assert_string_equal(r.facts.account, "123456789012");
    assert_string_equal(r.facts.region, "eu-west-1");
    assert_string_equal(r.facts.repository, "app");
  }
}

static void test_precedence(void **state)
{
  (void)state;
  /* GetAuthorizationToken can only be granted by identity policies: the specific cause wins and
   * the general one is not repeated. */
  struct explain_result r =
      run("User: arn:aws:sts::111122223333:assumed-role/node/i-1 is not authorized to perform: "
          "ecr:GetAuthorizationToken on resource: * because no identity-based policy allows the "
          "ecr:GetAuthorizationToken action");
  assert_int_equal(r.causes[0].id, CAUSE_AUTH_TOKEN_DENIED);
  assert_false(named(&r, CAUSE_IDENTITY_POLICY_MISSING));

  /* A reason suffix beats the bare status code: the 403 guesses are dropped. */
  r = run("unexpected status from HEAD request: 403 Forbidden: denied: User: "
          "arn:aws:sts::111122223333:assumed-role/node/i-1 is not authorized to perform: "
          "ecr:BatchGetImage on resource: arn:aws:ecr:us-east-1:444455556666:repository/app with "
          "an explicit deny in a service control policy");
  assert_int_equal(r.causes[0].id, CAUSE_SCP_DENY);
  assert_false(named(&r, CAUSE_REPO_POLICY_NOT_GRANTING));

  /* A bare denial: the accounts decide which policy is the likelier gap. */
  r = run("denied: User: arn:aws:sts::111122223333:assumed-role/node/i-1 is not authorized to "
          "perform: ecr:BatchGetImage on resource: "
          "arn:aws:ecr:us-east-1:111122223333:repository/app");
  assert_true(r.facts.same_account);
  assert_int_equal(r.causes[0].id, CAUSE_IDENTITY_POLICY_MISSING);
  r = run("denied: User: arn:aws:sts::111122223333:assumed-role/node/i-1 is not authorized to "
          "perform: ecr:BatchGetImage on resource: "
          "arn:aws:ecr:us-east-1:444455556666:repository/app");
  assert_true(r.facts.cross_account);
  assert_int_equal(r.causes[0].id, CAUSE_REPO_POLICY_NOT_GRANTING);

  /* "not found" after a platform mismatch is the platform, not a missing tag. */
  r = run("rpc error: code = NotFound desc = failed to pull and unpack image \"x\": no match for "
          "platform in manifest: not found");
  assert_int_equal(r.n_causes, 1);
  assert_int_equal(r.causes[0].id, CAUSE_PLATFORM_MISMATCH);

  /* A bare 403 names several causes, as a low-confidence guess. */
  r = run("failed to resolve reference: unexpected status from HEAD request to "
          "https://111122223333.dkr.ecr.us-east-1.amazonaws.com/v2/app/manifests/v1: 403 "
          "Forbidden");
  assert_true(r.generic_only);
  assert_true(r.n_causes >= 2);
  assert_int_equal(r.causes[0].id, CAUSE_REPO_POLICY_NOT_GRANTING);
  assert_string_equal(r.facts.image, "111122223333.dkr.ecr.us-east-1.amazonaws.com/app:v1");
}

static void test_facts(void **state)
{
  (void)state;
  struct explain_result r =
      run("Failed to pull image "
          "\"111122223333.dkr.ecr.me-central-1.amazonaws.com/docker-hub/library/nginx@sha256:"
          "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\": toomanyrequests");
  assert_string_equal(r.facts.region, "me-central-1");
  assert_true(r.facts.opt_in_region);
  assert_true(r.facts.ptc_path);
  assert_string_equal(r.facts.repository, "docker-hub/library/nginx");
  assert_true(strncmp(r.facts.ref, "sha256:", 7) == 0);
  assert_int_equal(r.causes[0].id, CAUSE_PTC_UPSTREAM_FAILED);

  /* A masked account still gives the region; no reference is made up. */
  r = run("Get https://XXXXXXXX.dkr.ecr.ap-southeast-1.amazonaws.com/v2/web/manifests/latest: no "
          "basic auth credentials");
  assert_true(r.facts.ecr_host);
  assert_string_equal(r.facts.region, "ap-southeast-1");
  assert_string_equal(r.facts.image, "");

  /* No ECR host at all. */
  r = run("pull access denied for myapp, repository does not exist or may require 'docker "
          "login'");
  assert_false(r.facts.ecr_host);
  assert_int_equal(r.causes[0].id, CAUSE_NOT_ECR);
}

static void test_json_and_text(void **state)
{
  (void)state;
  struct explain_result r =
      run("Failed to pull image \"111122223333.dkr.ecr.us-west-2.amazonaws.com/team/app:v7\": rpc "
          "error: code = NotFound desc = failed to pull and unpack image: failed to resolve "
          "reference \"111122223333.dkr.ecr.us-west-2.amazonaws.com/team/app:v7\": "
          "111122223333.dkr.ecr.us-west-2.amazonaws.com/team/app:v7: not found");
  json_t *j = explain_to_json(&r);
  assert_non_null(j);
  json_t *causes = json_object_get(j, "causes");
  assert_true(json_is_array(causes) && json_array_size(causes) == r.n_causes);
  assert_string_equal(json_string_value(json_array_get(causes, 0)), "IMAGE_NOT_FOUND");
  assert_true(json_is_string(json_object_get(j, "summary")));
  json_t *steps = json_object_get(j, "next_steps");
  assert_true(json_is_array(steps) && json_array_size(steps) >= 2);
  /* The command is filled with what the message names. */
  const char *first = json_string_value(json_array_get(steps, 0));
  assert_non_null(strstr(first, "--repository-name team/app"));
  assert_non_null(strstr(first, "imageTag=v7"));
  assert_non_null(strstr(first, "--region us-west-2"));
  json_t *d0 = json_array_get(json_object_get(j, "details"), 0);
  assert_string_equal(json_string_value(json_object_get(d0, "class")), "pull");
  assert_non_null(strstr(json_string_value(json_object_get(d0, "evidence")), "not found"));
  json_decref(j);

  struct buf b;
  buf_init(&b, 1 << 20);
  assert_int_equal(explain_render_text(&r, &b), ERR_OK);
  assert_non_null(strstr(buf_str(&b), "1. IMAGE_NOT_FOUND"));
  assert_non_null(strstr(buf_str(&b), "confirm:"));
  assert_non_null(strstr(
      buf_str(&b), "ecrdiag --image 111122223333.dkr.ecr.us-west-2.amazonaws.com/team/app:v7"));
  buf_release(&b);
}

/* ---- edge cases ----------------------------------------------------------------------------- */

static void test_empty_and_invalid(void **state)
{
  (void)state;
  struct explain_result r;
  struct err e;
  assert_int_equal(explain_message("", 0, &r, &e), ERR_OK);
  assert_int_equal(r.n_causes, 0);
  assert_int_equal(explain_message(NULL, 0, &r, &e), ERR_OK);
  assert_int_equal(explain_message(NULL, 3, &r, &e), ERR_INVALID);
  assert_int_equal(explain_message("x", 1, NULL, &e), ERR_INVALID);
  r = run("   \n\t  ");
  assert_int_equal(r.n_causes, 0);
  r = run("Back-off pulling image \"nginx\"");
  assert_int_equal(r.n_causes, 0);
  json_t *j = explain_to_json(&r);
  assert_non_null(j);
  assert_int_equal(json_array_size(json_object_get(j, "causes")), 0);
  assert_non_null(strstr(json_string_value(json_object_get(j, "summary")), "ecrdiag --image"));
  json_decref(j);
  struct buf b;
  buf_init(&b, 4096);
  assert_int_equal(explain_render_text(&r, &b), ERR_OK);
  assert_non_null(strstr(buf_str(&b), "no known cause"));
  buf_release(&b);
}

static void test_huge_input(void **state)
{
  (void)state;
  size_t n = EXPLAIN_MAX_INPUT_BYTES;
  char *big = malloc(n + 1);
  assert_non_null(big);
  static const char line[] = "Normal Pulling kubelet Pulling image again and again ";
  for (size_t i = 0; i < n; i++)
    big[i] = line[i % (sizeof line - 1)];
  static const char tail[] = " no basic auth credentials";
  memcpy(big + n - strlen(tail), tail, strlen(tail));
  struct explain_result r;
  struct err e;
  assert_int_equal(explain_message(big, n, &r, &e), ERR_OK);
  assert_int_equal(r.causes[0].id, CAUSE_NODE_NO_ECR_CREDENTIALS);
  assert_int_equal(explain_message(big, n + 1, &r, &e), ERR_TOO_LARGE);
  assert_non_null(strstr(e.msg, "65536"));
  /* Pathological inputs: many partial matches of gapped patterns, and one endless token with
   * an ECR host in it again and again. Each must stay linear (a quadratic scan of 64 KiB under
   * the sanitizers would take minutes). */
  static const char *const fills[] = {"pull access denied for dkr.ecr ", "manifest for ",
                                      "1.dkr.ecr.us-east-1.amazonaws.com/"};
  for (size_t f = 0; f < sizeof fills / sizeof fills[0]; f++) {
    size_t fl = strlen(fills[f]);
    for (size_t i = 0; i < n; i++)
      big[i] = fills[f][i % fl];
    memcpy(big + n - 10, " not found", 10);
    assert_int_equal(explain_message(big, n, &r, &e), ERR_OK);
  }
  free(big);
}

static void test_binary_junk(void **state)
{
  (void)state;
  size_t n = EXPLAIN_MAX_INPUT_BYTES;
  unsigned char *junk = malloc(n);
  assert_non_null(junk);
  uint32_t x = 2463534242u;
  for (int round = 0; round < 4; round++) {
    for (size_t i = 0; i < n; i++) {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      junk[i] = (unsigned char)x;
    }
    if (round == 1) /* junk around a real message: the message is still read */
      memcpy(junk + 1000, "exec format error", 17);
    if (round == 2) /* an ECR host with junk where the reference would end */
      memcpy(junk + 5000, "123456789012.dkr.ecr.us-east-1.amazonaws.com/\xff\xfe", 48);
    struct explain_result r;
    struct err e;
    assert_int_equal(explain_message((const char *)junk, n, &r, &e), ERR_OK);
    if (round == 1)
      assert_true(named(&r, CAUSE_ARCH_MISMATCH_AT_RUNTIME));
    json_t *j = explain_to_json(&r);
    assert_non_null(j); /* evidence is ASCII, so the JSON strings are valid UTF-8 */
    char *dump = json_dumps(j, 0);
    assert_non_null(dump);
    free(dump);
    json_decref(j);
    struct buf b;
    buf_init(&b, 1 << 20);
    assert_int_equal(explain_render_text(&r, &b), ERR_OK);
    buf_release(&b);
  }
  free(junk);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_corpus_entries_well_formed),
      cmocka_unit_test(test_train_primary_causes),
      cmocka_unit_test(test_holdout_score_reported),
      cmocka_unit_test(test_rule_table_consistent),
      cmocka_unit_test(test_wrappers_read_alike),
      cmocka_unit_test(test_precedence),
      cmocka_unit_test(test_facts),
      cmocka_unit_test(test_json_and_text),
      cmocka_unit_test(test_empty_and_invalid),
      cmocka_unit_test(test_huge_input),
      cmocka_unit_test(test_binary_junk),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
