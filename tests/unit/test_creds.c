/* Unit tests for src/aws/creds.c: every combination of the credential environment variables,
 * set and unset in the test process itself; messages name variables, never values. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "ecrdiag/creds.h"

#define AKID "AKIDEXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define TOKEN "FwoGZXIvYXdzEXAMPLETOKEN"

static const char *const all_vars[] = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                       "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"};

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
  assert_non_null(strstr(e.msg, "not supported yet"));
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
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
