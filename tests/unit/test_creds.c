/* Unit tests for src/aws/creds.c: every combination of the credential environment variables,
 * set and unset in the test process itself; messages name variables, never values. Then the
 * chain (creds_resolve) over config and credentials files in a temporary directory, for what
 * needs no network: precedence, profiles, partial keys, cycles, the failure message. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ecrdiag/creds.h"

#define AKID "AKIDEXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define TOKEN "FwoGZXIvYXdzEXAMPLETOKEN"

static const char *const all_vars[] = {"AWS_ACCESS_KEY_ID",
                                       "AWS_SECRET_ACCESS_KEY",
                                       "AWS_SESSION_TOKEN",
                                       "AWS_SECURITY_TOKEN",
                                       "AWS_PROFILE",
                                       "AWS_DEFAULT_PROFILE",
                                       "AWS_CONFIG_FILE",
                                       "AWS_SHARED_CREDENTIALS_FILE",
                                       "AWS_WEB_IDENTITY_TOKEN_FILE",
                                       "AWS_ROLE_ARN",
                                       "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                                       "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                                       "AWS_CREDENTIAL_EXPIRATION",
                                       "AWS_REGION",
                                       "AWS_DEFAULT_REGION"};

static int clear_env(void **state)
{
  (void)state;
  for (size_t i = 0; i < sizeof all_vars / sizeof all_vars[0]; i++)
    unsetenv(all_vars[i]);
  return 0;
}

static void assert_no_secret_in(const char *msg)
{
  assert_null(strstr(msg, AKID));
  assert_null(strstr(msg, SECRET));
  assert_null(strstr(msg, TOKEN));
}

static void test_keys_only(void **state)
{
  (void)state;
  setenv("AWS_ACCESS_KEY_ID", AKID, 1);
  setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
  struct aws_creds c;
  struct err e = {0};
  assert_int_equal(creds_from_env(&c, &e), ERR_OK);
  assert_string_equal(c.access_key_id, AKID);
  assert_string_equal(c.secret_access_key, SECRET);
  assert_null(c.session_token);
  assert_string_equal(c.source, "env");
  assert_int_equal(c.expires, 0);
  creds_release(&c);
  assert_null(c.secret_access_key);
  assert_null(c.access_key_id);
  creds_release(&c); /* twice is fine */
  creds_release(NULL);
}

static void test_keys_and_session_token(void **state)
{
  (void)state;
  setenv("AWS_ACCESS_KEY_ID", AKID, 1);
  setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
  setenv("AWS_SESSION_TOKEN", TOKEN, 1);
  struct aws_creds c;
  assert_int_equal(creds_from_env(&c, NULL), ERR_OK);
  assert_string_equal(c.session_token, TOKEN);
  creds_release(&c);
}

static void test_security_token_fallback_and_precedence(void **state)
{
  (void)state;
  setenv("AWS_ACCESS_KEY_ID", AKID, 1);
  setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
  setenv("AWS_SECURITY_TOKEN", "older-name", 1);
  struct aws_creds c;
  assert_int_equal(creds_from_env(&c, NULL), ERR_OK);
  assert_string_equal(c.session_token, "older-name");
  creds_release(&c);
  setenv("AWS_SESSION_TOKEN", TOKEN, 1);
  assert_int_equal(creds_from_env(&c, NULL), ERR_OK);
  assert_string_equal(c.session_token, TOKEN);
  creds_release(&c);
}

static void test_empty_token_is_unset(void **state)
{
  (void)state;
  setenv("AWS_ACCESS_KEY_ID", AKID, 1);
  setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
  setenv("AWS_SESSION_TOKEN", "", 1);
  struct aws_creds c;
  assert_int_equal(creds_from_env(&c, NULL), ERR_OK);
  assert_null(c.session_token);
  creds_release(&c);
}

static void test_none(void **state)
{
  (void)state;
  struct aws_creds c;
  struct err e = {0};
  assert_int_equal(creds_from_env(&c, &e), ERR_CREDENTIALS);
  assert_int_equal(e.code, ERR_CREDENTIALS);
  assert_non_null(strstr(e.msg, "AWS_ACCESS_KEY_ID"));
  assert_non_null(strstr(e.msg, "AWS_SECRET_ACCESS_KEY"));
  assert_non_null(strstr(e.msg, "environment variables"));
  assert_non_null(strstr(e.msg, "instance role"));
  assert_null(c.access_key_id);
  creds_release(&c);
}

static void test_empty_values_count_as_none(void **state)
{
  (void)state;
  setenv("AWS_ACCESS_KEY_ID", "", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "", 1);
  struct aws_creds c;
  struct err e = {0};
  assert_int_equal(creds_from_env(&c, &e), ERR_CREDENTIALS);
  assert_non_null(strstr(e.msg, "no AWS credentials found"));
  creds_release(&c);
}

static void test_only_access_key(void **state)
{
  (void)state;
  setenv("AWS_ACCESS_KEY_ID", AKID, 1);
  struct aws_creds c;
  struct err e = {0};
  assert_int_equal(creds_from_env(&c, &e), ERR_CREDENTIALS);
  assert_non_null(strstr(e.msg, "AWS_SECRET_ACCESS_KEY is not"));
  assert_no_secret_in(e.msg);
  creds_release(&c);
}

static void test_only_secret(void **state)
{
  (void)state;
  setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
  setenv("AWS_SESSION_TOKEN", TOKEN, 1);
  struct aws_creds c;
  struct err e = {0};
  assert_int_equal(creds_from_env(&c, &e), ERR_CREDENTIALS);
  assert_non_null(strstr(e.msg, "AWS_ACCESS_KEY_ID is not"));
  assert_no_secret_in(e.msg);
  creds_release(&c);
}

static void test_only_token(void **state)
{
  (void)state;
  setenv("AWS_SESSION_TOKEN", TOKEN, 1);
  struct aws_creds c;
  struct err e = {0};
  assert_int_equal(creds_from_env(&c, &e), ERR_CREDENTIALS);
  assert_non_null(strstr(e.msg, "AWS_SESSION_TOKEN is set"));
  assert_no_secret_in(e.msg);
  creds_release(&c);
}

static void test_trailing_newline_refused(void **state)
{
  (void)state;
  setenv("AWS_ACCESS_KEY_ID", AKID, 1);
  setenv("AWS_SECRET_ACCESS_KEY", SECRET "\n", 1);
  struct aws_creds c;
  struct err e = {0};
  assert_int_equal(creds_from_env(&c, &e), ERR_CREDENTIALS);
  assert_non_null(strstr(e.msg, "AWS_SECRET_ACCESS_KEY holds a control character"));
  assert_no_secret_in(e.msg);
  assert_null(c.secret_access_key);
  creds_release(&c);
}

/* ---- the chain ---- */

#define FILE_SECRET "FileSecretKeyExample0000000000000000000"
#define FILE_SECRET2 "OtherFileSecretKeyExample00000000000000"

static char dir[128];

static void put(const char *name, const char *text)
{
  char p[256];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static int chain_setup(void **state)
{
  clear_env(state);
  snprintf(dir, sizeof dir, "/tmp/ecrdiag-test-creds-XXXXXX");
  assert_non_null(mkdtemp(dir));
  char p[256];
  snprintf(p, sizeof p, "%s/config", dir);
  setenv("AWS_CONFIG_FILE", p, 1);
  snprintf(p, sizeof p, "%s/credentials", dir);
  setenv("AWS_SHARED_CREDENTIALS_FILE", p, 1);
  setenv("AWS_EC2_METADATA_DISABLED", "true", 1); /* no network in unit tests */
  return 0;
}

static int chain_teardown(void **state)
{
  const char *names[] = {"config", "credentials"};
  for (size_t i = 0; i < 2; i++) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, names[i]);
    unlink(p);
  }
  rmdir(dir);
  unsetenv("AWS_EC2_METADATA_DISABLED");
  return clear_env(state);
}

static enum err_code resolve(const char *profile, struct aws_creds *c, struct err *e)
{
  struct creds_options o = {.profile = profile};
  return creds_resolve(&o, NULL, c, e);
}

static void assert_clean(const char *msg)
{
  assert_no_secret_in(msg);
  assert_null(strstr(msg, FILE_SECRET));
  assert_null(strstr(msg, FILE_SECRET2));
}

static void test_chain_env_first_then_profile(void **state)
{
  (void)state;
  put("credentials", "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = " FILE_SECRET
                     "\n[dev]\naws_access_key_id = AKIDDEV\n"
                     "aws_secret_access_key = " FILE_SECRET2 "\n");
  setenv("AWS_ACCESS_KEY_ID", AKID, 1);
  setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
  setenv("AWS_PROFILE", "dev", 1);
  struct aws_creds c;
  struct err e = {0};
  /* AWS_PROFILE does not override the environment's keys ... */
  assert_int_equal(resolve(NULL, &c, &e), ERR_OK);
  assert_string_equal(c.source, "env");
  assert_string_equal(c.access_key_id, AKID);
  creds_release(&c);
  /* ... --profile does. */
  assert_int_equal(resolve("dev", &c, &e), ERR_OK);
  assert_string_equal(c.source, "profile:dev");
  assert_string_equal(c.secret_access_key, FILE_SECRET2);
  creds_release(&c);
  /* Without the keys, AWS_PROFILE names the profile; AWS_DEFAULT_PROFILE comes first. */
  unsetenv("AWS_ACCESS_KEY_ID");
  unsetenv("AWS_SECRET_ACCESS_KEY");
  assert_int_equal(resolve(NULL, &c, &e), ERR_OK);
  assert_string_equal(c.source, "profile:dev");
  creds_release(&c);
  setenv("AWS_DEFAULT_PROFILE", "default", 1);
  assert_int_equal(resolve(NULL, &c, &e), ERR_OK);
  assert_string_equal(c.source, "profile:default");
  assert_int_equal(c.expires, 0);
  creds_release(&c);
}

static void test_chain_file_order(void **state)
{
  (void)state;
  /* The credentials file's keys, then credential_process, then the config file's keys. */
  put("config",
      "[profile p]\naws_access_key_id = AKIDCONFIG\naws_secret_access_key = " FILE_SECRET
      "\ncredential_process = /bin/echo '{\"Version\": 1, "
      "\"AccessKeyId\": \"AKIDPROC\", \"SecretAccessKey\": \"" FILE_SECRET2 "\", "
      "\"Expiration\": \"2099-01-01T00:00:00Z\"}'\n"
      "[profile q]\naws_access_key_id = AKIDCONFIG\naws_secret_access_key = " FILE_SECRET "\n");
  struct aws_creds c;
  struct err e = {0};
  assert_int_equal(resolve("p", &c, &e), ERR_OK);
  assert_string_equal(c.source, "process");
  assert_string_equal(c.access_key_id, "AKIDPROC");
  assert_int_equal(c.expires, 4070908800);
  creds_release(&c);
  assert_int_equal(resolve("q", &c, &e), ERR_OK);
  assert_string_equal(c.source, "profile:q");
  creds_release(&c);
  put("credentials", "[p]\naws_access_key_id = AKIDCREDS\naws_secret_access_key = " FILE_SECRET
                     "\naws_session_token = tok\n");
  assert_int_equal(resolve("p", &c, &e), ERR_OK);
  assert_string_equal(c.source, "profile:p");
  assert_string_equal(c.access_key_id, "AKIDCREDS");
  assert_string_equal(c.session_token, "tok");
  creds_release(&c);
}

static void test_chain_nothing_found_lists_everything(void **state)
{
  (void)state;
  setenv("AWS_SESSION_TOKEN", TOKEN, 1);
  char *full = NULL;
  struct creds_options o = {.message = &full};
  struct aws_creds c;
  struct err e = {0};
  assert_int_equal(creds_resolve(&o, NULL, &c, &e), ERR_CREDENTIALS);
  assert_non_null(full);
  const char *order[] = {"no AWS credentials found",
                         "env: AWS_ACCESS_KEY_ID not set",
                         "AWS_SESSION_TOKEN is set without it",
                         "web identity:",
                         "profile 'default': not in",
                         "(missing)",
                         "container:",
                         "IMDS: disabled by AWS_EC2_METADATA_DISABLED=true",
                         "--profile"};
  const char *at = full;
  for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
    const char *hit = strstr(at, order[i]);
    assert_non_null(hit);
    at = hit;
  }
  /* e->msg is the same message, cut to fit. */
  assert_true(strlen(e.msg) < ERR_MSG_MAX);
  assert_memory_equal(e.msg, full, 40);
  assert_clean(full);
  assert_null(c.access_key_id);
  free(full);
}

static void test_chain_named_profile_missing(void **state)
{
  (void)state;
  struct aws_creds c;
  struct err e = {0};
  assert_int_equal(resolve("nope", &c, &e), ERR_CREDENTIALS);
  assert_non_null(strstr(e.msg, "the profile 'nope' (from --profile) is not in"));
  setenv("AWS_PROFILE", "gone", 1);
  assert_int_equal(resolve(NULL, &c, &e), ERR_CREDENTIALS);
  assert_non_null(strstr(e.msg, "'gone' (from AWS_PROFILE)"));
  struct creds_options o = {.profile = "nope", .label = "registry"};
  assert_int_equal(creds_resolve(&o, NULL, &c, &e), ERR_CREDENTIALS);
  assert_non_null(strstr(e.msg, "registry credentials: the profile 'nope' (from "
                                "--registry-profile)"));
}

static void test_chain_bad_ini(void **state)
{
  (void)state;
  put("credentials", "[default]\naws_access_key_id = AKIDFILE\n" FILE_SECRET "\n");
  struct aws_creds c;
  struct err e = {0};
  assert_int_equal(resolve(NULL, &c, &e), ERR_PARSE);
  assert_non_null(strstr(e.msg, "bad INI in"));
  assert_non_null(strstr(e.msg, "credentials' line 3"));
  assert_clean(e.msg);
}

static void test_chain_partial_and_empty_keys(void **state)
{
  (void)state;
  put("credentials", "[a]\naws_access_key_id = AKIDFILE\n[b]\naws_access_key_id = AKIDFILE\n"
                     "aws_secret_access_key =\n[c]\naws_secret_access_key = " FILE_SECRET "\n");
  struct aws_creds c;
  struct err e = {0};
  assert_int_equal(resolve("a", &c, &e), ERR_CREDENTIALS);
  assert_non_null(strstr(e.msg, "has aws_access_key_id but no aws_secret_access_key"));
  assert_non_null(strstr(e.msg, "line 2"));
  assert_int_equal(resolve("b", &c, &e), ERR_CREDENTIALS);
  assert_non_null(strstr(e.msg, "aws_secret_access_key is empty"));
  /* A secret without a key id is not a source (botocore looks for the key id). */
  assert_int_equal(resolve("c", &c, &e), ERR_CREDENTIALS);
  assert_non_null(strstr(e.msg, "no AWS credentials found"));
  assert_clean(e.msg);
}

static void test_chain_cycles(void **state)
{
  (void)state;
  put("config", "[profile a]\nrole_arn = arn:aws:iam::111111111111:role/a\nsource_profile = b\n"
                "[profile b]\nrole_arn = arn:aws:iam::111111111111:role/b\nsource_profile = c\n"
                "[profile c]\nrole_arn = arn:aws:iam::111111111111:role/c\nsource_profile = a\n"
                "[profile self]\nrole_arn = arn:aws:iam::111111111111:role/s\n"
                "source_profile = self\n"
                "[profile both]\nrole_arn = arn:aws:iam::111111111111:role/s\n"
                "source_profile = a\ncredential_source = Environment\n"
                "[profile neither]\nrole_arn = arn:aws:iam::111111111111:role/s\n"
                "[profile badsource]\nrole_arn = arn:aws:iam::111111111111:role/s\n"
                "credential_source = Ec2\n"
                "[profile mfa]\nrole_arn = arn:aws:iam::111111111111:role/s\n"
                "source_profile = a\nmfa_serial = arn:aws:iam::111111111111:mfa/u\n"
                "[profile envsrc]\nrole_arn = arn:aws:iam::111111111111:role/s\n"
                "credential_source = Environment\n");
  struct aws_creds c;
  struct err e = {0};
  assert_int_equal(resolve("a", &c, &e), ERR_CREDENTIALS);
  assert_non_null(strstr(e.msg, "source_profile cycle: 'a' -> 'b' -> 'c' -> 'a'"));
  assert_non_null(strstr(e.msg, "config line 9"));
  /* A profile naming itself needs keys of its own. */
  assert_int_equal(resolve("self", &c, &e), ERR_CREDENTIALS);
  assert_non_null(strstr(e.msg, "cycle: 'self' -> 'self'"));
  assert_int_equal(resolve("both", &c, &e), ERR_CREDENTIALS);
  assert_non_null(strstr(e.msg, "both source_profile and credential_source"));
  assert_int_equal(resolve("neither", &c, &e), ERR_CREDENTIALS);
  assert_non_null(strstr(e.msg, "neither source_profile nor credential_source"));
  assert_int_equal(resolve("badsource", &c, &e), ERR_CREDENTIALS);
  assert_non_null(strstr(e.msg, "credential_source 'Ec2' is not valid"));
  assert_int_equal(resolve("mfa", &c, &e), ERR_CREDENTIALS);
  assert_non_null(strstr(e.msg, "MFA"));
  assert_int_equal(resolve("envsrc", &c, &e), ERR_CREDENTIALS);
  assert_non_null(strstr(e.msg, "credential_source Environment, which found none"));
}

static void test_chain_expired_env(void **state)
{
  (void)state;
  setenv("AWS_ACCESS_KEY_ID", AKID, 1);
  setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
  setenv("AWS_CREDENTIAL_EXPIRATION", "2020-01-01T00:00:00Z", 1);
  struct aws_creds c;
  struct err e = {0};
  assert_int_equal(resolve(NULL, &c, &e), ERR_CREDENTIALS);
  assert_non_null(strstr(e.msg, "the credentials from env expired at 2020-01-01T00:00:00Z"));
  setenv("AWS_CREDENTIAL_EXPIRATION", "2099-01-01T00:00:00Z", 1);
  assert_int_equal(resolve(NULL, &c, &e), ERR_OK);
  assert_int_equal(c.expires, 4070908800);
  creds_release(&c);
}

static void test_chain_role_arn_checked(void **state)
{
  (void)state;
  assert_true(creds_role_arn_valid("arn:aws:iam::722000009750:role/eks-node-role"));
  assert_true(creds_role_arn_valid("arn:aws-cn:iam::722000009750:role/path/to/r"));
  assert_false(creds_role_arn_valid("eks-node-role"));
  assert_false(creds_role_arn_valid("arn:aws:iam::72200000975:role/x"));
  assert_false(creds_role_arn_valid("arn:aws:iam::722000009750:user/x"));
  assert_false(creds_role_arn_valid("arn:aws:iam::722000009750:role/"));
  assert_false(creds_role_arn_valid(NULL));
  struct creds_options o = {.role_arn = "node-role"};
  struct aws_creds c;
  struct err e = {0};
  assert_int_equal(creds_resolve(&o, NULL, &c, &e), ERR_INVALID);
  assert_non_null(strstr(e.msg, "--role-arn 'node-role' is not an IAM role ARN"));
}

static void test_chain_regions(void **state)
{
  (void)state;
  put("config", "[default]\nregion = eu-west-1\n[profile dev]\nregion = ap-south-1\n");
  char *r = creds_region(NULL);
  assert_string_equal(r, "eu-west-1");
  free(r);
  struct creds_options o = {.profile = "dev"};
  r = creds_profile_region(&o);
  assert_string_equal(r, "ap-south-1");
  free(r);
  setenv("AWS_DEFAULT_REGION", "us-west-2", 1);
  r = creds_region(&o);
  assert_string_equal(r, "us-west-2");
  free(r);
  setenv("AWS_REGION", "us-east-2", 1);
  r = creds_region(&o);
  assert_string_equal(r, "us-east-2");
  free(r);
  o.region = "ca-central-1";
  r = creds_region(&o);
  assert_string_equal(r, "ca-central-1");
  free(r);
  o = (struct creds_options){.profile = "none"};
  assert_null(creds_profile_region(&o));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_keys_only, clear_env, clear_env),
      cmocka_unit_test_setup_teardown(test_keys_and_session_token, clear_env, clear_env),
      cmocka_unit_test_setup_teardown(test_security_token_fallback_and_precedence, clear_env,
                                      clear_env),
      cmocka_unit_test_setup_teardown(test_empty_token_is_unset, clear_env, clear_env),
      cmocka_unit_test_setup_teardown(test_none, clear_env, clear_env),
      cmocka_unit_test_setup_teardown(test_empty_values_count_as_none, clear_env, clear_env),
      cmocka_unit_test_setup_teardown(test_only_access_key, clear_env, clear_env),
      cmocka_unit_test_setup_teardown(test_only_secret, clear_env, clear_env),
      cmocka_unit_test_setup_teardown(test_only_token, clear_env, clear_env),
      cmocka_unit_test_setup_teardown(test_trailing_newline_refused, clear_env, clear_env),
      cmocka_unit_test_setup_teardown(test_chain_env_first_then_profile, chain_setup,
                                      chain_teardown),
      cmocka_unit_test_setup_teardown(test_chain_file_order, chain_setup, chain_teardown),
      cmocka_unit_test_setup_teardown(test_chain_nothing_found_lists_everything, chain_setup,
                                      chain_teardown),
      cmocka_unit_test_setup_teardown(test_chain_named_profile_missing, chain_setup,
                                      chain_teardown),
      cmocka_unit_test_setup_teardown(test_chain_bad_ini, chain_setup, chain_teardown),
      cmocka_unit_test_setup_teardown(test_chain_partial_and_empty_keys, chain_setup,
                                      chain_teardown),
      cmocka_unit_test_setup_teardown(test_chain_cycles, chain_setup, chain_teardown),
      cmocka_unit_test_setup_teardown(test_chain_expired_env, chain_setup, chain_teardown),
      cmocka_unit_test_setup_teardown(test_chain_role_arn_checked, chain_setup, chain_teardown),
      cmocka_unit_test_setup_teardown(test_chain_regions, chain_setup, chain_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
