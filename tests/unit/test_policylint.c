/* Tests of the repository policy lint: one data file per case in fixtures/policies/lint/cases
 * (each rule caught, and the documents it must leave alone), every rule covered by some case,
 * the generated ECR action table against its fixture, line and column in characters, the JSON
 * form and the cap on findings. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "ecrdiag/policylint.h"

static const char *fixtures_dir(void)
{
  const char *d = getenv("ECRDIAG_FIXTURES");
  return d ? d : "fixtures";
}

static size_t utf8_chars(const char *s)
{
  size_t n = 0;
  for (; *s; s++)
    if (((unsigned char)*s & 0xC0) != 0x80)
      n++;
  return n;
}

static void lint(const char *text, struct policylint_report *rep)
{
  struct err e = {0};
  enum err_code rc = policylint_run(text, strlen(text), rep, &e);
  if (rc != ERR_OK)
    fail_msg("policylint_run: %s: %s", err_code_name(rc), e.msg);
}

static const struct policylint_finding *find_rule(const struct policylint_report *rep,
                                                  const char *id)
{
  for (size_t i = 0; i < rep->n; i++)
    if (strcmp(policylint_rule_info(rep->findings[i].rule)->id, id) == 0)
      return &rep->findings[i];
  return NULL;
}

static void dump_findings(const char *what, const struct policylint_report *rep)
{
  fprintf(stderr, "%s: %zu findings\n", what, rep->n);
  for (size_t i = 0; i < rep->n; i++)
    fprintf(stderr, "  [%s] stmt %ld %d:%d %s\n", policylint_rule_info(rep->findings[i].rule)->id,
            rep->findings[i].statement, rep->findings[i].line, rep->findings[i].column,
            rep->findings[i].message);
}

/* ---- the data-driven cases ------------------------------------------------------------- */

/* The case's document: policy_text as is, or policy pretty-printed; pad_to_chars adds spaces
 * before the closing brace until the text is that many characters. A new string. */
static char *case_text(const char *path, const json_t *c)
{
  const char *raw = json_string_value(json_object_get(c, "policy_text"));
  char *text = raw ? strdup(raw)
                   : json_dumps(json_object_get(c, "policy"), JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  if (!text)
    fail_msg("%s: no policy or policy_text", path);
  json_t *pad = json_object_get(c, "pad_to_chars");
  if (pad) {
    size_t want = (size_t)json_integer_value(pad), have = utf8_chars(text);
    if (have > want)
      fail_msg("%s: the document is already %zu characters", path, have);
    char *end = strrchr(text, '}');
    assert_non_null(end);
    size_t head = (size_t)(end - text), add = want - have, len = strlen(text);
    char *padded = malloc(len + add + 1);
    assert_non_null(padded);
    memcpy(padded, text, head);
    memset(padded + head, ' ', add);
    memcpy(padded + head + add, end, len - head + 1);
    free(text);
    text = padded;
    assert_int_equal(utf8_chars(text), want);
  }
  return text;
}

static bool finding_matches(const struct policylint_finding *f, const json_t *want)
{
  if (strcmp(policylint_rule_info(f->rule)->id, json_string_value(json_object_get(want, "rule"))))
    return false;
  json_t *v;
  if ((v = json_object_get(want, "statement")) && f->statement != json_integer_value(v))
    return false;
  if ((v = json_object_get(want, "line")) && f->line != json_integer_value(v))
    return false;
  if ((v = json_object_get(want, "column")) && f->column != json_integer_value(v))
    return false;
  if ((v = json_object_get(want, "message_contains")) && !strstr(f->message, json_string_value(v)))
    return false;
  return true;
}

static void run_case(const char *path, bool covered[POLICYLINT_RULE_COUNT])
{
  json_error_t je;
  json_t *c = json_load_file(path, 0, &je);
  if (!c)
    fail_msg("%s: %s", path, je.text);
  if (!json_is_string(json_object_get(c, "description")))
    fail_msg("%s: every case says what it tests (description)", path);
  char *text = case_text(path, c);
  struct policylint_report rep;
  lint(text, &rep);
  size_t i;
  json_t *want;
  json_array_foreach(json_object_get(c, "expect"), i, want)
  {
    bool hit = false;
    for (size_t k = 0; k < rep.n && !hit; k++)
      hit = finding_matches(&rep.findings[k], want);
    if (!hit) {
      dump_findings(path, &rep);
      char *w = json_dumps(want, JSON_COMPACT);
      fail_msg("%s: no finding matches %s", path, w);
    }
    for (int r = 0; r < POLICYLINT_RULE_COUNT; r++)
      if (!strcmp(policylint_rule_info((enum policylint_rule)r)->id,
                  json_string_value(json_object_get(want, "rule"))))
        covered[r] = true;
  }
  json_array_foreach(json_object_get(c, "absent"), i, want)
  {
    if (find_rule(&rep, json_string_value(want))) {
      dump_findings(path, &rep);
      fail_msg("%s: rule %s fired", path, json_string_value(want));
    }
  }
  if (json_is_true(json_object_get(c, "exact")) &&
      rep.n != json_array_size(json_object_get(c, "expect"))) {
    dump_findings(path, &rep);
    fail_msg("%s: %zu findings, expected %zu", path, rep.n,
             json_array_size(json_object_get(c, "expect")));
  }
  /* Exit status of `ecrdiag policy lint`: critical or not, and the counts agree. */
  bool critical = false;
  for (size_t k = 0; k < rep.n; k++)
    critical = critical || rep.findings[k].severity == POLICYLINT_SEV_CRITICAL;
  assert_int_equal(critical, policylint_has_critical(&rep));
  policylint_release(&rep);
  free(text);
  json_decref(c);
}

static void test_fixture_cases(void **state)
{
  (void)state;
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/policies/lint/cases", fixtures_dir());
  DIR *d = opendir(dir);
  assert_non_null(d);
  bool covered[POLICYLINT_RULE_COUNT] = {false};
  struct dirent *ent;
  int n = 0;
  while ((ent = readdir(d))) {
    size_t len = strlen(ent->d_name);
    if (len < 6 || strcmp(ent->d_name + len - 5, ".json") != 0)
      continue;
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
    run_case(path, covered);
    n++;
  }
  closedir(d);
  assert_true(n >= 40); /* a missing directory must not pass as "no cases" */
  /* Every rule of the table has a case that makes it fire. */
  for (int r = 0; r < POLICYLINT_RULE_COUNT; r++)
    if (!covered[r])
      fail_msg("rule %s has no case in %s", policylint_rule_info((enum policylint_rule)r)->id, dir);
}

/* ---- the tables ------------------------------------------------------------------------ */

static void test_rule_table(void **state)
{
  (void)state;
  for (int r = 0; r < POLICYLINT_RULE_COUNT; r++) {
    const struct policylint_rule_info *a = policylint_rule_info((enum policylint_rule)r);
    assert_non_null(a->id);
    assert_true(strlen(a->summary) > 10);
    for (int s = r + 1; s < POLICYLINT_RULE_COUNT; s++)
      assert_string_not_equal(a->id, policylint_rule_info((enum policylint_rule)s)->id);
  }
  /* The severities the issue fixes: what ECR refuses and what opens to everyone is critical. */
  assert_int_equal(policylint_rule_info(POLICYLINT_PRINCIPAL_STAR)->severity,
                   POLICYLINT_SEV_CRITICAL);
  assert_int_equal(policylint_rule_info(POLICYLINT_RESOURCE_ELEMENT)->severity,
                   POLICYLINT_SEV_CRITICAL);
  assert_int_equal(policylint_rule_info(POLICYLINT_TOO_LARGE)->severity, POLICYLINT_SEV_CRITICAL);
  assert_int_equal(policylint_rule_info(POLICYLINT_JSON_SYNTAX)->severity, POLICYLINT_SEV_CRITICAL);
  assert_string_equal(policylint_rule_info(POLICYLINT_RULE_COUNT)->id, "unknown");
  assert_string_equal(policylint_severity_name(POLICYLINT_SEV_WARNING), "warning");
}

/* The generated table and the fixture written by the same generator agree, in order. */
static void test_action_table(void **state)
{
  (void)state;
  char path[1024];
  snprintf(path, sizeof path, "%s/policies/lint/ecr-actions.txt", fixtures_dir());
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  char line[256];
  size_t i = 0;
  while (fgets(line, sizeof line, f)) {
    if (line[0] == '#')
      continue;
    line[strcspn(line, "\n")] = '\0';
    const char *a = policylint_ecr_action(i++);
    if (!a || strcmp(a, line) != 0)
      fail_msg("ecr-actions.txt has %s where lint.c has %s: run gen-ecr-actions.py", line,
               a ? a : "nothing");
  }
  fclose(f);
  assert_int_equal(i, policylint_ecr_action_count());
  assert_null(policylint_ecr_action(i));
  assert_true(i >= 61);

  assert_true(policylint_ecr_action_known("ecr:BatchGetImage"));
  assert_true(policylint_ecr_action_known("GetDownloadUrlForLayer"));
  assert_true(policylint_ecr_action_known("ECR:getauthorizationtoken"));
  assert_true(policylint_ecr_action_known("ecr:ReplicateImage")); /* permission only */
  assert_true(policylint_ecr_action_known("ecr:BatchImportUpstreamImage"));
  assert_true(policylint_ecr_action_known("ecr:GetImageCopyStatus"));
  assert_false(policylint_ecr_action_known("ecr:PullImage"));
  assert_false(policylint_ecr_action_known("ecr:"));
  assert_false(policylint_ecr_action_known(NULL));

  char near[128];
  assert_true(policylint_ecr_action_nearest("ecr:BatchGetImages", near, sizeof near));
  assert_string_equal(near, "ecr:BatchGetImage");
  assert_true(policylint_ecr_action_nearest("getdownloadurlforlayers", near, sizeof near));
  assert_string_equal(near, "ecr:GetDownloadUrlForLayer");
  assert_true(policylint_ecr_action_nearest("ecr:SetRepositoryPolcy", near, sizeof near));
  assert_string_equal(near, "ecr:SetRepositoryPolicy");
  assert_false(policylint_ecr_action_nearest("ecr:Xyzzy", near, sizeof near));
}

/* ---- positions, output, limits --------------------------------------------------------- */

static void test_line_column(void **state)
{
  (void)state;
  /* Columns count characters: the two-byte é and the four-byte emoji are one column each. */
  const char *text =
      "{\"Version\": \"2012-10-17\", \"Id\": \"é😀\",\n"
      "\t\"Statement\": [{\"Effect\": \"Allow\", \"Principal\": \"*\", "
      "\"Action\": \"ecr:BatchGetImage\",\n"
      "  \"Condition\": {\"StringEquals\": {\"aws:Principal\\u004frgIDs\": \"x\"}}}]}";
  struct policylint_report rep;
  lint(text, &rep);
  const struct policylint_finding *f = find_rule(&rep, "unknown-condition-key");
  assert_non_null(f);
  assert_int_equal(f->line, 3);
  assert_int_equal(f->column, 34); /* the key, whose \u escape the scanner decodes */
  assert_int_equal(f->statement, 0);
  f = find_rule(&rep, "principal-star-unrestricted");
  assert_non_null(f);
  assert_int_equal(f->line, 2);
  assert_int_equal(f->column, 36);
  policylint_release(&rep);

  /* Statement as one object: statement 0, located. */
  lint("{\"Statement\": {\"Effect\": \"Allow\", \"Principal\": {\"AWS\": \"111122223333\"},\n"
       "\"Action\": \"ecr:BatchGetImage\", \"NotResource\": \"x\"}}",
       &rep);
  f = find_rule(&rep, "resource-element");
  assert_non_null(f);
  assert_int_equal(f->statement, 0);
  assert_int_equal(f->line, 2);
  assert_int_equal(f->column, 32);
  policylint_release(&rep);

  /* A JSON error on the last line, and an empty text. */
  lint("{\n\"Statement\": [\n", &rep);
  assert_int_equal(rep.n, 1);
  assert_int_equal(rep.findings[0].line, 3);
  assert_true(rep.findings[0].column >= 1);
  assert_int_equal(rep.findings[0].statement, -1);
  policylint_release(&rep);
  lint("", &rep);
  assert_non_null(find_rule(&rep, "json-syntax"));
  policylint_release(&rep);
}

static void test_json_output(void **state)
{
  (void)state;
  struct policylint_report rep;
  lint("{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\", \"Principal\": \"*\","
       " \"Action\": [\"ecr:BatchGetImage\", \"ecr:GetDownloadUrlForLayer\", \"s3:GetObject\"]}]}",
       &rep);
  json_t *j = policylint_to_json(&rep);
  assert_non_null(j);
  assert_true(json_is_false(json_object_get(j, "ok")));
  json_t *counts = json_object_get(j, "counts");
  assert_int_equal(json_integer_value(json_object_get(counts, "critical")), 1);
  assert_int_equal(json_integer_value(json_object_get(counts, "warning")), 0);
  assert_int_equal(json_integer_value(json_object_get(counts, "info")), 1);
  json_t *fs = json_object_get(j, "findings");
  assert_int_equal(json_array_size(fs), 2);
  json_t *f0 = json_array_get(fs, 0);
  const char *keys[] = {"rule", "severity", "message", "statement", "line", "column"};
  for (size_t i = 0; i < 6; i++)
    assert_non_null(json_object_get(f0, keys[i]));
  assert_true(json_is_false(json_object_get(j, "truncated")));
  json_decref(j);
  policylint_release(&rep);

  /* Unknown positions are null; a clean document is ok. */
  lint("[]", &rep);
  j = policylint_to_json(&rep);
  f0 = json_array_get(json_object_get(j, "findings"), 0);
  assert_true(json_is_null(json_object_get(f0, "statement")));
  assert_true(json_is_null(json_object_get(f0, "line")));
  json_decref(j);
  policylint_release(&rep);
  lint("{\"Version\": \"2012-10-17\", \"Statement\": []}", &rep);
  j = policylint_to_json(&rep);
  assert_true(json_is_true(json_object_get(j, "ok")));
  assert_int_equal(json_array_size(json_object_get(j, "findings")), 0);
  json_decref(j);
  policylint_release(&rep);
}

static void test_findings_cap(void **state)
{
  (void)state;
  /* 300 statements, each with a foreign action: 300 infos, 256 kept. */
  json_t *st = json_array();
  for (int i = 0; i < 300; i++)
    json_array_append_new(st, json_pack("{s:s, s:{s:s}, s:s}", "Effect", "Allow", "Principal",
                                        "AWS", "111122223333", "Action", "s3:GetObject"));
  json_t *doc = json_pack("{s:s, s:o}", "Version", "2012-10-17", "Statement", st);
  char *text = json_dumps(doc, JSON_COMPACT);
  struct policylint_report rep;
  lint(text, &rep);
  assert_int_equal(rep.n, POLICYLINT_MAX_FINDINGS);
  assert_true(rep.truncated);
  assert_int_equal(rep.counts[POLICYLINT_SEV_INFO], 300);
  /* Over 10,240 characters as well: the count still says so though the list is full. */
  assert_int_equal(rep.counts[POLICYLINT_SEV_CRITICAL], 1);
  assert_true(policylint_has_critical(&rep));
  policylint_release(&rep);
  policylint_release(&rep);
  policylint_release(NULL);
  free(text);
  json_decref(doc);

  struct err e = {0};
  assert_int_equal(policylint_run(NULL, 0, &rep, &e), ERR_INVALID);
  assert_int_equal(policylint_run("{}", 2, NULL, NULL), ERR_INVALID);
  assert_false(policylint_has_critical(NULL));
}

/* Not NUL-terminated input: only n bytes are read. */
static void test_length_bound(void **state)
{
  (void)state;
  const char text[] = "{\"Version\": \"2012-10-17\", \"Statement\": []}GARBAGE";
  struct policylint_report rep;
  assert_int_equal(policylint_run(text, strlen(text) - 7, &rep, NULL), ERR_OK);
  assert_int_equal(rep.n, 0);
  policylint_release(&rep);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fixture_cases), cmocka_unit_test(test_rule_table),
      cmocka_unit_test(test_action_table),  cmocka_unit_test(test_line_column),
      cmocka_unit_test(test_json_output),   cmocka_unit_test(test_findings_cap),
      cmocka_unit_test(test_length_bound),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
