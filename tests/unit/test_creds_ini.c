/* Unit tests for the credential chain's parsers (src/aws/creds_ini.c, creds_fetch.c,
 * creds_process.c): the INI syntax as configparser reads it, profile section names as
 * botocore maps them, the two files merged, paths, shell words, times, SHA-1, container URLs
 * and credential JSON. No network, no files outside a temporary directory. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/aws/creds_impl.h"

static enum err_code parse(struct ini_file *f, const char *text, struct err *e)
{
  return ini_parse(f, text, strlen(text), "cfg", e);
}

static void test_basic_sections_and_keys(void **state)
{
  (void)state;
  struct ini_file f;
  struct err e = {0};
  const char *text = "# comment\n"
                     "; another\n"
                     "[default]\n"
                     "Region = ap-southeast-1\n"
                     "output: json\n"
                     "  \n"
                     "[profile dev]\n"
                     "role_arn=arn:aws:iam::1:role/x\r\n"
                     "empty =\n"
                     "spaced name = v = w\n";
  assert_int_equal(parse(&f, text, &e), ERR_OK);
  assert_int_equal(f.n, 2);
  const struct ini_section *d = ini_section(&f, "default");
  assert_non_null(d);
  /* Keys are lower-cased (optionxform), values stripped; ':' is a delimiter too. */
  assert_string_equal(ini_get(d, "region"), "ap-southeast-1");
  assert_string_equal(ini_get(d, "output"), "json");
  assert_int_equal(ini_pair(d, "region")->line, 4);
  const struct ini_section *p = ini_section(&f, "profile dev");
  assert_string_equal(ini_get(p, "role_arn"), "arn:aws:iam::1:role/x");
  assert_string_equal(ini_get(p, "empty"), "");
  /* The name runs to the first delimiter; the value keeps the rest. */
  assert_string_equal(ini_get(p, "spaced name"), "v = w");
  assert_null(ini_get(p, "missing"));
  ini_release(&f);
  ini_release(&f);
  ini_release(NULL);
}

static void test_continuation_and_nested(void **state)
{
  (void)state;
  struct ini_file f;
  struct err e = {0};
  const char *text = "[profile x]\n"
                     "s3 =\n"
                     "  max_concurrent_requests = 20\n"
                     "\n"
                     "  addressing_style = path\n"
                     "next = 1\n"
                     "inline = # not a comment\n";
  assert_int_equal(parse(&f, text, &e), ERR_OK);
  const struct ini_section *s = ini_section(&f, "profile x");
  /* A nested block keeps its lines (botocore parses them later); empty lines inside a value
   * are kept, trailing ones dropped. */
  assert_string_equal(ini_get(s, "s3"),
                      "\nmax_concurrent_requests = 20\n\naddressing_style = path");
  assert_string_equal(ini_get(s, "next"), "1");
  /* No inline comments in RawConfigParser. */
  assert_string_equal(ini_get(s, "inline"), "# not a comment");
  ini_release(&f);

  assert_int_equal(parse(&f, "[a]\ns3 =\n  not a setting\n", &e), ERR_PARSE);
  assert_non_null(strstr(e.msg, "line 2"));
  assert_non_null(strstr(e.msg, "'s3'"));
  ini_release(&f);
}

static void test_section_header_rules(void **state)
{
  (void)state;
  struct ini_file f;
  struct err e = {0};
  /* SECTCRE matches from '[' to the last ']' on the stripped line. */
  assert_int_equal(parse(&f, "  [a] b]  \nk=v\n", &e), ERR_OK);
  assert_non_null(ini_section(&f, "a] b"));
  ini_release(&f);
  /* "[]" is no header: a setting before any section. */
  assert_int_equal(parse(&f, "[]\n", &e), ERR_PARSE);
  assert_non_null(strstr(e.msg, "line 1"));
  ini_release(&f);
}

static void test_errors_name_the_line_not_the_text(void **state)
{
  (void)state;
  struct ini_file f;
  struct err e = {0};
  static const struct {
    const char *text;
    const char *line;
    const char *what;
  } cases[] = {
      {"key = v\n", "line 1", "before any [section]"},
      {"[a]\nk = v\nwJalrXUtnFEMI/K7MDENG\n", "line 3", "neither a [section]"},
      {"[a]\n= v\n", "line 2", "without a name"},
      {"[a]\nk = 1\n[b]\n[a]\n", "line 4", "appears twice (first on line 1)"},
      {"[a]\nk = 1\nK = 2\n", "line 3", "set twice in [a] (first on line 2)"},
      {"[a]\nk = \xff\xfe\n", "line 2", "not UTF-8"},
      {"\xEF\xBB\xBF[default]\n", "line 1", "byte order mark"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    assert_int_equal(parse(&f, cases[i].text, &e), ERR_PARSE);
    assert_int_equal(e.code, ERR_PARSE);
    assert_non_null(strstr(e.msg, "bad INI in 'cfg'"));
    assert_non_null(strstr(e.msg, cases[i].line));
    assert_non_null(strstr(e.msg, cases[i].what));
    assert_null(strstr(e.msg, "wJalrXUtnFEMI"));
    ini_release(&f);
  }
}

static void test_defaults_are_lent(void **state)
{
  (void)state;
  struct ini_file f;
  struct err e = {0};
  assert_int_equal(parse(&f, "[DEFAULT]\nregion = eu-west-1\n[a]\n[b]\nregion = us-east-1\n", &e),
                   ERR_OK);
  assert_int_equal(f.n, 2); /* DEFAULT is not a section */
  assert_string_equal(ini_get(ini_section(&f, "a"), "region"), "eu-west-1");
  assert_string_equal(ini_get(ini_section(&f, "b"), "region"), "us-east-1");
  ini_release(&f);
}

static void test_section_kinds(void **state)
{
  (void)state;
  static const struct {
    const char *section;
    enum cfg_section_kind kind;
    const char *name;
  } cases[] = {
      {"default", CFG_PROFILE, "default"},
      {"profile dev", CFG_PROFILE, "dev"},
      {"profile   dev", CFG_PROFILE, "dev"},
      {"profile \"my profile\"", CFG_PROFILE, "my profile"},
      {"profile default", CFG_PROFILE, "default"},
      {"profiles x", CFG_PROFILE, "x"}, /* startswith("profile"), as botocore */
      {"profile", CFG_OTHER, NULL},
      {"profile a b", CFG_OTHER, NULL},
      {"profile \"open", CFG_OTHER, NULL},
      {"dev", CFG_OTHER, NULL},
      {"sso-session corp", CFG_SSO_SESSION, "corp"},
      {"services s", CFG_OTHER, NULL},
      {"Default", CFG_OTHER, NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *name = NULL;
    assert_int_equal(cfg_section_kind(cases[i].section, &name), cases[i].kind);
    if (cases[i].name)
      assert_string_equal(name, cases[i].name);
    else
      assert_null(name);
    free(name);
  }
}

static char tmpdir[256];

static int make_tmp(void **state)
{
  (void)state;
  snprintf(tmpdir, sizeof tmpdir, "/tmp/ecrdiag-test-ini-XXXXXX");
  assert_non_null(mkdtemp(tmpdir));
  return 0;
}

static void path_in(char *out, size_t n, const char *name)
{
  snprintf(out, n, "%s/%s", tmpdir, name);
}

static void write_file(const char *name, const char *text)
{
  char p[512];
  path_in(p, sizeof p, name);
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static int remove_tmp(void **state)
{
  (void)state;
  const char *names[] = {"config", "credentials"};
  for (size_t i = 0; i < 2; i++) {
    char p[512];
    path_in(p, sizeof p, names[i]);
    unlink(p);
  }
  rmdir(tmpdir);
  unsetenv("AWS_CONFIG_FILE");
  unsetenv("AWS_SHARED_CREDENTIALS_FILE");
  return 0;
}

static void test_two_files_merged(void **state)
{
  (void)state;
  write_file("config", "[default]\nregion = ap-southeast-1\n"
                       "[profile dev]\nregion = eu-west-1\nrole_arn = from-config\n"
                       "[dev]\nregion = ignored\n"
                       "[profile dup]\nregion = first\n[profile  dup]\nregion = second\n"
                       "[sso-session corp]\nsso_region = us-east-1\n");
  write_file("credentials", "[dev]\nrole_arn = from-credentials\n[profile odd]\nk = v\n");
  char p[512];
  path_in(p, sizeof p, "config");
  setenv("AWS_CONFIG_FILE", p, 1);
  path_in(p, sizeof p, "credentials");
  setenv("AWS_SHARED_CREDENTIALS_FILE", p, 1);
  struct aws_config c;
  struct err e = {0};
  assert_int_equal(awsconfig_load(&c, &e), ERR_OK);
  assert_true(c.config.found && c.credentials.found);
  /* The credentials file's value wins, key by key (Session.full_config). */
  const char *file = NULL;
  unsigned line = 0;
  assert_string_equal(awsconfig_get(&c, "dev", "role_arn", &file, &line), "from-credentials");
  assert_string_equal(file, p);
  assert_int_equal(line, 2);
  assert_string_equal(awsconfig_get(&c, "dev", "region", NULL, NULL), "eu-west-1");
  assert_string_equal(awsconfig_get(&c, "default", "region", NULL, NULL), "ap-southeast-1");
  /* The last section of a name wins whole. */
  assert_string_equal(awsconfig_get(&c, "dup", "region", NULL, NULL), "second");
  /* "[profile odd]" in the credentials file is the profile "profile odd". */
  assert_true(awsconfig_has_profile(&c, "profile odd"));
  assert_false(awsconfig_has_profile(&c, "odd"));
  assert_false(awsconfig_has_profile(&c, "nope"));
  assert_non_null(awsconfig_sso_session(&c, "corp"));
  assert_null(awsconfig_config_profile(&c, "corp"));
  awsconfig_release(&c);
}

static void test_missing_files_are_empty(void **state)
{
  (void)state;
  setenv("AWS_CONFIG_FILE", "/nonexistent/ecrdiag/config", 1);
  setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/ecrdiag/credentials", 1);
  struct aws_config c;
  struct err e = {0};
  assert_int_equal(awsconfig_load(&c, &e), ERR_OK);
  assert_false(c.config.found);
  assert_false(c.credentials.found);
  assert_string_equal(c.config.path, "/nonexistent/ecrdiag/config");
  assert_false(awsconfig_has_profile(&c, "default"));
  awsconfig_release(&c);
}

static void test_expand_path(void **state)
{
  (void)state;
  setenv("HOME", "/home/u/", 1);
  setenv("ECRDIAG_TEST_DIR", "conf", 1);
  unsetenv("ECRDIAG_TEST_UNSET");
  char *p = creds_expand_path("~/.aws/config");
  assert_string_equal(p, "/home/u/.aws/config");
  free(p);
  p = creds_expand_path("$HOME/${ECRDIAG_TEST_DIR}/x$ECRDIAG_TEST_UNSET");
  assert_string_equal(p, "/home/u//conf/x$ECRDIAG_TEST_UNSET");
  free(p);
  p = creds_expand_path("~other/x");
  assert_string_equal(p, "~other/x");
  free(p);
}

static void test_split_words(void **state)
{
  (void)state;
  char *w[8] = {0};
  int n =
      creds_split_words("  /usr/bin/helper --profile 'a b' \"c \\\"d\\\" \\$e\" f\\ g ''", w, 8);
  assert_int_equal(n, 6);
  assert_string_equal(w[0], "/usr/bin/helper");
  assert_string_equal(w[1], "--profile");
  assert_string_equal(w[2], "a b");
  assert_string_equal(w[3], "c \"d\" \\$e");
  assert_string_equal(w[4], "f g");
  assert_string_equal(w[5], "");
  creds_words_free(w, n);
  assert_int_equal(creds_split_words("a 'open", w, 8), -1);
  assert_int_equal(creds_split_words("a \\", w, 8), -1);
  assert_int_equal(creds_split_words("   ", w, 8), 0);
  n = creds_split_words("a b c", w, 2);
  assert_int_equal(n, 2);
  creds_words_free(w, n);
}

static void test_parse_time(void **state)
{
  (void)state;
  time_t t;
  assert_true(creds_parse_time("2024-05-01T08:00:00Z", &t));
  assert_int_equal(t, 1714550400);
  assert_true(creds_parse_time("2024-05-01T08:00:00.359Z", &t));
  assert_int_equal(t, 1714550400);
  assert_true(creds_parse_time("2024-05-01T10:00:00+02:00", &t));
  assert_int_equal(t, 1714550400);
  assert_true(creds_parse_time("2024-05-01T03:00:00-0500", &t));
  assert_int_equal(t, 1714550400);
  assert_true(creds_parse_time("2024-05-01T08:00:00UTC", &t));
  assert_int_equal(t, 1714550400);
  assert_false(creds_parse_time("2024-05-01", &t));
  assert_false(creds_parse_time("2024-13-01T08:00:00Z", &t));
  assert_false(creds_parse_time("2024-05-01T08:00:00Zjunk", &t));
  assert_false(creds_parse_time(NULL, &t));
}

static void test_sha1(void **state)
{
  (void)state;
  char hex[41];
  /* FIPS 180 examples, and the cache key botocore derives for a start URL. */
  creds_sha1_hex("abc", 3, hex);
  assert_string_equal(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
  creds_sha1_hex("", 0, hex);
  assert_string_equal(hex, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  creds_sha1_hex(two, strlen(two), hex);
  assert_string_equal(hex, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
}

static void test_container_url_allowed(void **state)
{
  (void)state;
  assert_true(creds_container_url_allowed("http://169.254.170.2/v2/credentials/x"));
  assert_true(creds_container_url_allowed("http://169.254.170.23/v1/credentials"));
  assert_true(creds_container_url_allowed("http://[fd00:ec2::23]/v1/credentials"));
  assert_true(creds_container_url_allowed("http://localhost:8080/creds"));
  assert_true(creds_container_url_allowed("http://127.0.0.1:5000/x"));
  assert_true(creds_container_url_allowed("http://127.1.2.3/x"));
  assert_true(creds_container_url_allowed("http://[::1]:80/x"));
  assert_true(creds_container_url_allowed("https://creds.example.com/x"));
  assert_false(creds_container_url_allowed("http://example.com/x"));
  assert_false(creds_container_url_allowed("http://169.254.169.254/x"));
  assert_false(creds_container_url_allowed("http://127.0.0.1.example.com/x"));
  assert_false(creds_container_url_allowed("http://127.0.0.1@example.com/x"));
  assert_false(creds_container_url_allowed("ftp://127.0.0.1/x"));
  assert_false(creds_container_url_allowed("http://128.0.0.1/x"));
}

static void test_take_json(void **state)
{
  (void)state;
  json_error_t je;
  json_t *j = json_loads("{\"AccessKeyId\":\"AKID\",\"SecretAccessKey\":\"S\",\"Token\":\"T\","
                         "\"Expiration\":\"2024-05-01T08:00:00Z\"}",
                         0, &je);
  struct aws_creds c = {0};
  const char *missing = NULL;
  assert_true(creds_take_json(j, "AccessKeyId", "SecretAccessKey", "Token", false, "Expiration",
                              false, &c, &missing));
  assert_string_equal(c.access_key_id, "AKID");
  assert_string_equal(c.session_token, "T");
  assert_int_equal(c.expires, 1714550400);
  creds_json_wipe(j);
  /* The wipe leaves jansson's copies zeroed. */
  assert_int_equal(json_string_value(json_object_get(j, "SecretAccessKey"))[0], '\0');
  json_decref(j);
  creds_release(&c);

  j = json_loads("{\"accessKeyId\":\"A\",\"secretAccessKey\":\"S\",\"sessionToken\":\"T\","
                 "\"expiration\":1714550400000}",
                 0, &je);
  assert_true(creds_take_json(j, "accessKeyId", "secretAccessKey", "sessionToken", false,
                              "expiration", false, &c, &missing));
  assert_int_equal(c.expires, 1714550400);
  json_decref(j);
  creds_release(&c);

  j = json_loads("{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\"}", 0, &je);
  assert_false(creds_take_json(j, "AccessKeyId", "SecretAccessKey", "Token", false, "Expiration",
                               false, &c, &missing));
  assert_string_equal(missing, "Token");
  creds_release(&c);
  assert_true(creds_take_json(j, "AccessKeyId", "SecretAccessKey", "SessionToken", true,
                              "Expiration", true, &c, &missing));
  assert_null(c.session_token);
  assert_int_equal(c.expires, 0);
  creds_release(&c);
  json_decref(j);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_basic_sections_and_keys),
      cmocka_unit_test(test_continuation_and_nested),
      cmocka_unit_test(test_section_header_rules),
      cmocka_unit_test(test_errors_name_the_line_not_the_text),
      cmocka_unit_test(test_defaults_are_lent),
      cmocka_unit_test(test_section_kinds),
      cmocka_unit_test_setup_teardown(test_two_files_merged, make_tmp, remove_tmp),
      cmocka_unit_test(test_missing_files_are_empty),
      cmocka_unit_test(test_expand_path),
      cmocka_unit_test(test_split_words),
      cmocka_unit_test(test_parse_time),
      cmocka_unit_test(test_sha1),
      cmocka_unit_test(test_container_url_allowed),
      cmocka_unit_test(test_take_json),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
