/* Credentials of the probing principal from the environment. Only the environment for now:
 * profiles, SSO, IMDS and container credentials come with the full provider chain later.
 * Secrets are copied once, wiped on release, and never put in a message.
 * Depends on core only. */
#include "ecrdiag/creds.h"

#include <stdlib.h>
#include <string.h>

#include "ecrdiag/buf.h"

#define ENV_ACCESS_KEY "AWS_ACCESS_KEY_ID"
#define ENV_SECRET_KEY "AWS_SECRET_ACCESS_KEY"
#define ENV_SESSION_TOKEN "AWS_SESSION_TOKEN"
/* botocore's EnvProvider reads the token from either name (TOKENS = ['AWS_SECURITY_TOKEN',
 * 'AWS_SESSION_TOKEN'], botocore/credentials.py), while "AWS_SESSION_TOKEN is what other AWS
 * SDKs have standardized on" (same file). We read both, preferring the standard name when
 * both are set (botocore would take AWS_SECURITY_TOKEN first; the Go SDK behind the kubelet's
 * credential provider reads only AWS_SESSION_TOKEN). */
#define ENV_SECURITY_TOKEN "AWS_SECURITY_TOKEN"

/* botocore treats an empty variable as absent (environ.get(name, '') then a truthiness
 * test), and so do we: "export AWS_SESSION_TOKEN=" must not send an empty token. */
static const char *env_get(const char *name)
{
  const char *v = getenv(name);
  return v && *v ? v : NULL;
}

/* A newline or other control character cannot be part of a key, and would otherwise surface
 * later as a confusing signature mismatch (or be refused by the HTTP layer). */
static bool has_control(const char *s)
{
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if (*p < 0x20 || *p == 0x7f)
      return true;
  return false;
}

void creds_release(struct aws_creds *c)
{
  if (!c)
    return;
  free(c->access_key_id);
  str_free_secret(c->secret_access_key);
  str_free_secret(c->session_token);
  free(c->source);
  memset(c, 0, sizeof *c);
}

enum err_code creds_from_env(struct aws_creds *out, struct err *e)
{
  memset(out, 0, sizeof *out);
  const char *akid = env_get(ENV_ACCESS_KEY);
  const char *secret = env_get(ENV_SECRET_KEY);
  const char *token_name = ENV_SESSION_TOKEN;
  const char *token = env_get(ENV_SESSION_TOKEN);
  if (!token) {
    token_name = ENV_SECURITY_TOKEN;
    token = env_get(ENV_SECURITY_TOKEN);
  }

  if (!akid && !secret) {
    if (token)
      return err_set(e, ERR_CREDENTIALS,
                     "%s is set but " ENV_ACCESS_KEY " and " ENV_SECRET_KEY
                     " are not: set all three for temporary credentials",
                     token_name);
    return err_set(e, ERR_CREDENTIALS,
                   "no AWS credentials found: looked for the environment variables " ENV_ACCESS_KEY
                   " and " ENV_SECRET_KEY " (and " ENV_SESSION_TOKEN "); set " ENV_ACCESS_KEY
                   "/" ENV_SECRET_KEY
                   " or run where the node's instance role is available; profiles, SSO, IMDS "
                   "and container credentials are not supported yet");
  }
  if (!secret)
    return err_set(e, ERR_CREDENTIALS,
                   ENV_ACCESS_KEY " is set but " ENV_SECRET_KEY
                                  " is not: set both (and " ENV_SESSION_TOKEN
                                  " for temporary credentials)");
  if (!akid)
    return err_set(e, ERR_CREDENTIALS,
                   ENV_SECRET_KEY " is set but " ENV_ACCESS_KEY
                                  " is not: set both (and " ENV_SESSION_TOKEN
                                  " for temporary credentials)");

  const char *bad = has_control(akid)             ? ENV_ACCESS_KEY
                    : has_control(secret)         ? ENV_SECRET_KEY
                    : token && has_control(token) ? token_name
                                                  : NULL;
  if (bad)
    return err_set(e, ERR_CREDENTIALS,
                   "%s holds a control character (a trailing newline from a file or a "
                   "command substitution?); remove it",
                   bad);

  out->access_key_id = str_dup(akid);
  out->secret_access_key = str_dup(secret);
  out->session_token = token ? str_dup(token) : NULL;
  out->source = str_dup("env");
  if (!out->access_key_id || !out->secret_access_key || (token && !out->session_token) ||
      !out->source) {
    creds_release(out);
    return err_set(e, ERR_NOMEM, "out of memory");
  }
  out->expires = 0;
  return ERR_OK;
}
