/* The AWS CLI's credential chain (botocore credentials.py create_credential_resolver): the
 * environment, the profile's providers, container credentials, IMDS, then --role-arn; each
 * step leaves a trace line so a failure says what was tried. Secrets are copied once, wiped
 * on release, never put in a message. Depends on core, http and aws. */
#include "ecrdiag/creds.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "creds_impl.h"
#include "ecrdiag/aws.h"
#include "ecrdiag/buf.h"

#define ENV_ACCESS_KEY "AWS_ACCESS_KEY_ID"
#define ENV_SECRET_KEY "AWS_SECRET_ACCESS_KEY"
#define ENV_SESSION_TOKEN "AWS_SESSION_TOKEN"
/* botocore's EnvProvider reads the token from either name (TOKENS = ['AWS_SECURITY_TOKEN',
 * 'AWS_SESSION_TOKEN'], botocore/credentials.py), while "AWS_SESSION_TOKEN is what other AWS
 * SDKs have standardized on" (same file). We read both, preferring the standard name when
 * both are set (botocore would take AWS_SECURITY_TOKEN first; the Go SDK behind the kubelet's
 * credential provider reads only AWS_SESSION_TOKEN). The files' aws_session_token and
 * aws_security_token are read the same way. */
#define ENV_SECURITY_TOKEN "AWS_SECURITY_TOKEN"

#define CREDS_DEFAULT_TIMEOUT_MS 10000L
#define CREDS_TRACE_MAX_BYTES 8192
#define CREDS_MESSAGE_MAX_BYTES 8192
/* A source_profile chain longer than this is refused like a cycle (botocore has no limit,
 * but it also has no chain this long in practice). */
#define CREDS_MAX_CHAIN 16
#define CREDS_WEB_TOKEN_MAX_BYTES ((size_t)64 << 10)
#define CREDS_DEFAULT_STS_REGION "us-east-1"

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
                   "/" ENV_SECRET_KEY " or run where the node's instance role is available");
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

/* ---- the chain ---------------------------------------------------------------------- */

struct chain {
  struct creds_ctx x;
  const struct creds_options *o;
  const char *profile;   /* the profile the chain starts from */
  bool profile_named;    /* from --profile or a variable, not the implicit "default" */
  bool explicit_profile; /* from --profile: the environment's keys are skipped */
  struct aws_config cfg;
  bool cfg_loaded;
  struct aws_endpoints own_ep;
  const struct aws_endpoints *ep;
  bool ep_ready;
  char *sts_region;
  struct buf trace;      /* "; "-separated "source: why it gave nothing" */
  size_t trace_skip_len; /* length of the "env: skipped for --profile" entry, if first */
  const char *visited[CREDS_MAX_CHAIN + 1];
  size_t n_visited;
};

static void trace_add(struct chain *ch, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void trace_add(struct chain *ch, const char *fmt, ...)
{
  if (ch->trace.len)
    (void)buf_puts(&ch->trace, "; ");
  va_list ap;
  va_start(ap, fmt);
  (void)buf_vprintf(&ch->trace, fmt, ap);
  va_end(ap);
}

enum src_result creds_src_fail(struct err *e, enum err_code code, const char *fmt, ...)
{
  struct buf b;
  buf_init(&b, ERR_MSG_MAX);
  va_list ap;
  va_start(ap, fmt);
  (void)buf_vprintf(&b, fmt, ap);
  va_end(ap);
  err_set(e, code, "%s", buf_str(&b));
  buf_release(&b);
  return SRC_FAILED;
}

static enum src_result nomem(struct err *e)
{
  err_set(e, ERR_NOMEM, "out of memory");
  return SRC_FAILED;
}

/* Sets c->source to prefix followed by arg (may be NULL). */
static enum src_result set_source(struct aws_creds *c, const char *prefix, const char *arg,
                                  struct err *e)
{
  struct buf b;
  buf_init(&b, 4096);
  if (buf_puts(&b, prefix) != ERR_OK || (arg && buf_puts(&b, arg) != ERR_OK)) {
    buf_release(&b);
    return nomem(e);
  }
  free(c->source);
  c->source = buf_detach(&b);
  return SRC_FOUND;
}

static enum src_result load_config(struct chain *ch, struct err *e)
{
  if (ch->cfg_loaded)
    return SRC_SKIPPED;
  enum err_code rc = awsconfig_load(&ch->cfg, e);
  if (rc != ERR_OK)
    return SRC_FAILED;
  ch->cfg_loaded = true;
  return SRC_SKIPPED;
}

static const char *prof(const struct chain *ch, const char *profile, const char *key)
{
  return awsconfig_get(&ch->cfg, profile, key, NULL, NULL);
}

/* "PATH line N" of a profile key, for messages. */
static void where(const struct chain *ch, const char *profile, const char *key, struct buf *b)
{
  const char *file = NULL;
  unsigned line = 0;
  if (awsconfig_get(&ch->cfg, profile, key, &file, &line) && file)
    (void)buf_printf(b, " (%.200s line %u)", file, line);
}

static const char *role_session_name(const struct chain *ch, const char *configured, char buf[32])
{
  if (configured && *configured)
    return configured;
  /* botocore names its sessions "botocore-session-EPOCH"
   * (BaseAssumeRoleCredentialFetcher._generate_assume_role_name); ours say who made them. */
  (void)snprintf(buf, 32, "ecrdiag-%ld", (long)ch->x.now);
  return buf;
}

static enum src_result check_fresh(const struct chain *ch, const struct aws_creds *c, struct err *e)
{
  /* botocore refuses credentials that are already expired when fetched ("Credentials were
   * refreshed, but the refreshed credentials are still expired.", RefreshableCredentials
   * ._protected_refresh). */
  if (c->expires && c->expires <= ch->x.now) {
    char when[32];
    struct tm tm;
    gmtime_r(&c->expires, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return creds_src_fail(
        e, ERR_CREDENTIALS,
        "the credentials from %s expired at %s, %ld min ago by this host's clock; "
        "renew them (or check the clock)",
        c->source ? c->source : "the chain", when, (long)((ch->x.now - c->expires) / 60));
  }
  return SRC_FOUND;
}

/* ---- STS ---- */

static enum src_result need_endpoints(struct chain *ch, struct err *e)
{
  if (ch->ep_ready)
    return SRC_SKIPPED;
  if (ch->o->endpoints) {
    ch->ep = ch->o->endpoints;
  } else {
    if (aws_endpoints_from_env(&ch->own_ep, e) != ERR_OK)
      return SRC_FAILED;
    ch->ep = &ch->own_ep;
  }
  ch->ep_ready = true;
  return SRC_SKIPPED;
}

static const char *sts_region(struct chain *ch)
{
  if (ch->sts_region)
    return ch->sts_region;
  if (ch->o->region && *ch->o->region)
    return ch->o->region;
  const char *r = env_get("AWS_REGION");
  if (!r)
    r = env_get("AWS_DEFAULT_REGION");
  if (!r && ch->cfg_loaded)
    r = prof(ch, ch->profile, "region");
  ch->sts_region = str_dup(r ? r : CREDS_DEFAULT_STS_REGION);
  return ch->sts_region ? ch->sts_region : CREDS_DEFAULT_STS_REGION;
}

/* The message for a refused or failed STS session call. */
static enum src_result sts_failed(const struct chain *ch, const char *action, const char *role,
                                  const char *source, const struct aws_call *call, enum err_code rc,
                                  const struct err *sub, bool external_id, struct err *e)
{
  const char *code = call->error_code ? call->error_code : "";
  struct buf m;
  buf_init(&m, ERR_MSG_MAX * 2);
  if (rc != ERR_AWS) {
    (void)buf_printf(&m, "sts:%s of %s with the credentials from %s failed: %s", action, role,
                     source, sub->msg);
  } else if (strcmp(code, "AccessDenied") == 0) {
    (void)buf_printf(&m, "STS refused sts:%s of %s (AccessDenied: %.300s)", action, role,
                     call->error_message ? call->error_message : "");
    if (strcmp(action, "AssumeRole") == 0)
      (void)buf_printf(&m,
                       ": the role's trust policy does not let this caller assume it "
                       "(an EKS node role trusts only ec2.amazonaws.com by default); add "
                       "the caller to its trust policy%s",
                       external_id ? "" : ", and give the external id if it asks for one");
    else
      (void)buf_puts(&m, ": the role's trust policy does not accept this token (check the "
                         "OIDC provider, the audience and the service account in its "
                         "conditions)");
  } else if (strcmp(code, "ExpiredToken") == 0 || strcmp(code, "InvalidClientTokenId") == 0 ||
             strcmp(code, "SignatureDoesNotMatch") == 0) {
    bool skew = call->error_message && strstr(call->error_message, "Signature expired");
    (void)buf_printf(&m, "the credentials from %s, used for sts:%s of %s, are %s (%s: %.200s)",
                     source, action, role,
                     skew                                ? "refused for clock skew"
                     : strcmp(code, "ExpiredToken") == 0 ? "expired"
                                                         : "not valid",
                     code, call->error_message ? call->error_message : "");
    if (skew && call->clock_skew_known)
      (void)buf_printf(&m, "; this host's clock is %ld s off AWS's", -call->clock_skew_s);
  } else {
    (void)buf_printf(&m, "sts:%s of %s failed: %s", action, role, sub->msg);
  }
  (void)ch;
  err_set(e, rc == ERR_OK ? ERR_AWS : rc, "%s", buf_str(&m));
  buf_release(&m);
  return SRC_FAILED;
}

/* AssumeRole (src non-NULL) or AssumeRoleWithWebIdentity (token non-NULL) into *out. */
static enum src_result sts_session(struct chain *ch, const struct aws_creds *src, const char *token,
                                   const char *role, const char *session, const char *external_id,
                                   long duration_s, const char *source_name, struct aws_creds *out,
                                   struct err *e)
{
  if (need_endpoints(ch, e) == SRC_FAILED)
    return SRC_FAILED;
  struct aws_client client = {
      .http = ch->x.http,
      .creds = src,
      .endpoints = ch->ep,
      .now = ch->o->now,
  };
  struct sts_assume_role_params p = {
      .role_arn = role,
      .role_session_name = session,
      .external_id = external_id,
      .duration_seconds = duration_s,
      .web_identity_token = token,
  };
  struct sts_credentials sc = {0};
  struct aws_call call;
  aws_call_init(&call);
  struct err sub = {0};
  const char *action = token ? "AssumeRoleWithWebIdentity" : "AssumeRole";
  enum err_code rc =
      !ch->x.http ? err_set(&sub, ERR_INVALID, "no HTTP client")
      : token     ? sts_assume_role_with_web_identity(&client, sts_region(ch), &p, &sc, &call, &sub)
                  : sts_assume_role(&client, sts_region(ch), &p, &sc, &call, &sub);
  if (ch->o->on_call)
    ch->o->on_call(ch->o->call_ctx, token ? "sts.AssumeRoleWithWebIdentity" : "sts.AssumeRole",
                   &call);
  enum src_result res;
  if (rc != ERR_OK) {
    res = sts_failed(ch, action, role, source_name, &call, rc, &sub, external_id != NULL, e);
  } else {
    memset(out, 0, sizeof *out);
    out->access_key_id = sc.access_key_id;
    out->secret_access_key = sc.secret_access_key;
    out->session_token = sc.session_token;
    out->expires = sc.expiration;
    sc.access_key_id = sc.secret_access_key = sc.session_token = NULL;
    res = SRC_FOUND;
  }
  sts_credentials_release(&sc);
  aws_call_release(&call);
  return res;
}

/* ---- the environment ---- */

static enum src_result src_env(struct chain *ch, struct aws_creds *out, struct err *e)
{
  /* EnvProvider.load: only AWS_ACCESS_KEY_ID decides whether the environment is used. */
  if (!env_get(ENV_ACCESS_KEY)) {
    const char *stray = env_get(ENV_SECRET_KEY)       ? ENV_SECRET_KEY
                        : env_get(ENV_SESSION_TOKEN)  ? ENV_SESSION_TOKEN
                        : env_get(ENV_SECURITY_TOKEN) ? ENV_SECURITY_TOKEN
                                                      : NULL;
    if (stray)
      trace_add(ch, "env: " ENV_ACCESS_KEY " not set (%s is set without it and ignored)", stray);
    else
      trace_add(ch, "env: " ENV_ACCESS_KEY " not set");
    return SRC_SKIPPED;
  }
  if (creds_from_env(out, e) != ERR_OK)
    return SRC_FAILED;
  /* AWS_CREDENTIAL_EXPIRATION (EnvProvider.EXPIRY_TIME). */
  const char *exp = env_get("AWS_CREDENTIAL_EXPIRATION");
  if (exp && !creds_parse_time(exp, &out->expires)) {
    creds_release(out);
    return creds_src_fail(e, ERR_CREDENTIALS, "AWS_CREDENTIAL_EXPIRATION is not an ISO 8601 time");
  }
  return check_fresh(ch, out, e);
}

/* ---- static keys in one file's section ---- */

static enum src_result src_static(struct chain *ch, const char *profile,
                                  const struct ini_section *s, const struct ini_file *f,
                                  struct aws_creds *out, struct err *e)
{
  (void)ch;
  const struct ini_pair *akid = ini_pair(s, "aws_access_key_id");
  if (!akid)
    return SRC_SKIPPED;
  const struct ini_pair *secret = ini_pair(s, "aws_secret_access_key");
  const struct ini_pair *token = ini_pair(s, "aws_session_token");
  if (!token)
    token = ini_pair(s, "aws_security_token");
  /* _extract_creds_from_mapping: "Partial credentials found in ..., missing: ...". */
  if (!secret)
    return creds_src_fail(e, ERR_CREDENTIALS,
                          "profile '%s' in %.200s line %u has aws_access_key_id but no "
                          "aws_secret_access_key",
                          profile, f->path, akid->line);
  const struct ini_pair *empty = !*akid->value             ? akid
                                 : !*secret->value         ? secret
                                 : token && !*token->value ? token
                                                           : NULL;
  if (empty)
    return creds_src_fail(e, ERR_CREDENTIALS, "profile '%s' in %.200s line %u: %s is empty",
                          profile, f->path, empty->line, empty->key);
  const struct ini_pair *ctl = has_control(akid->value)             ? akid
                               : has_control(secret->value)         ? secret
                               : token && has_control(token->value) ? token
                                                                    : NULL;
  if (ctl)
    return creds_src_fail(
        e, ERR_CREDENTIALS,
        "profile '%s' in %.200s line %u: %s spans lines (an indented line after it "
        "continues the value); remove the extra line",
        profile, f->path, ctl->line, ctl->key);
  memset(out, 0, sizeof *out);
  out->access_key_id = str_dup(akid->value);
  out->secret_access_key = str_dup(secret->value);
  out->session_token = token ? str_dup(token->value) : NULL;
  if (!out->access_key_id || !out->secret_access_key || (token && !out->session_token)) {
    creds_release(out);
    return nomem(e);
  }
  return set_source(out, "profile:", profile, e);
}

/* ---- web identity ---- */

static enum src_result src_web_identity(struct chain *ch, const char *profile, bool use_env,
                                        struct aws_creds *out, struct err *e)
{
  /* AssumeRoleWithWebIdentityProvider._get_config: each key from the environment (unless an
   * explicit profile disables it), else from the profile. */
  const char *token_var = "AWS_WEB_IDENTITY_TOKEN_FILE";
  const char *path = use_env ? env_get(token_var) : NULL;
  if (!path) {
    path = profile ? prof(ch, profile, "web_identity_token_file") : NULL;
    token_var = "web_identity_token_file";
  }
  if (!path)
    return SRC_SKIPPED;
  const char *role = use_env ? env_get("AWS_ROLE_ARN") : NULL;
  if (!role && profile)
    role = prof(ch, profile, "role_arn");
  const char *session = use_env ? env_get("AWS_ROLE_SESSION_NAME") : NULL;
  if (!session && profile)
    session = prof(ch, profile, "role_session_name");
  if (!role)
    return creds_src_fail(e, ERR_CREDENTIALS,
                          "%s is set but no role is: set AWS_ROLE_ARN (or role_arn in the profile) "
                          "to the role the token may assume",
                          token_var);
  struct buf token;
  struct err sub = {0};
  enum err_code rc = creds_read_file(path, CREDS_WEB_TOKEN_MAX_BYTES, &token, &sub);
  if (rc != ERR_OK) {
    buf_release(&token);
    return creds_src_fail(
        e, ERR_CREDENTIALS,
        "web identity: %s: %s (with IRSA the EKS pod identity webhook mounts it; is "
        "the service account annotated with eks.amazonaws.com/role-arn?)",
        token_var, sub.msg);
  }
  if (token.len == 0) {
    buf_release(&token);
    return creds_src_fail(e, ERR_CREDENTIALS, "web identity: the token file %.200s (%s) is empty",
                          path, token_var);
  }
  char name[32];
  enum src_result res =
      sts_session(ch, NULL, buf_str(&token), role, role_session_name(ch, session, name), NULL, 0,
                  "web identity", out, e);
  buf_release(&token);
  if (res == SRC_FOUND && set_source(out, "web-identity", NULL, e) == SRC_FOUND)
    return check_fresh(ch, out, e);
  if (res == SRC_FOUND)
    creds_release(out);
  return SRC_FAILED;
}

/* ---- SSO ---- */

static const char *const sso_keys[] = {"sso_start_url", "sso_region", "sso_account_id",
                                       "sso_role_name"};

static enum src_result src_sso(struct chain *ch, const char *profile, struct aws_creds *out,
                               struct err *e)
{
  /* SSOProvider._load_sso_config: sso_role_name or sso_account_id marks an SSO profile. */
  if (!prof(ch, profile, "sso_role_name") && !prof(ch, profile, "sso_account_id"))
    return SRC_SKIPPED;
  const char *vals[4];
  for (int i = 0; i < 4; i++)
    vals[i] = prof(ch, profile, sso_keys[i]);
  const char *session = prof(ch, profile, "sso_session");
  if (session) {
    /* _resolve_sso_session_reference: the session's keys, which must agree with the
     * profile's. */
    const struct ini_section *s = awsconfig_sso_session(&ch->cfg, session);
    if (!s)
      return creds_src_fail(e, ERR_CREDENTIALS,
                            "profile '%s' names sso_session '%.100s', but there is no [sso-session "
                            "%.100s] section in %.200s",
                            profile, session, session, ch->cfg.config.path);
    for (size_t i = 0; i < s->n; i++) {
      for (int k = 0; k < 4; k++) {
        if (strcmp(s->pairs[i].key, sso_keys[k]) != 0)
          continue;
        if (vals[k] && strcmp(vals[k], s->pairs[i].value) != 0)
          return creds_src_fail(
              e, ERR_CREDENTIALS,
              "%s differs between profile '%s' and sso-session '%.100s'; keep one", sso_keys[k],
              profile, session);
        vals[k] = s->pairs[i].value;
      }
    }
  }
  struct buf missing;
  buf_init(&missing, 256);
  for (int i = 0; i < 4; i++)
    if (!vals[i])
      (void)buf_printf(&missing, "%s%s", missing.len ? ", " : "", sso_keys[i]);
  if (missing.len) {
    enum src_result r =
        creds_src_fail(e, ERR_CREDENTIALS,
                       "profile '%s' is configured for IAM Identity Center (SSO) but "
                       "lacks %s",
                       profile, buf_str(&missing));
    buf_release(&missing);
    return r;
  }
  buf_release(&missing);
  enum src_result res =
      creds_src_sso(&ch->x, profile, vals[0], vals[1], vals[2], vals[3], session, out, e);
  if (res != SRC_FOUND)
    return res;
  if (set_source(out, "sso", NULL, e) != SRC_FOUND) {
    creds_release(out);
    return SRC_FAILED;
  }
  return check_fresh(ch, out, e);
}

/* ---- credential_process ---- */

static enum src_result src_process(struct chain *ch, const char *profile, struct aws_creds *out,
                                   struct err *e)
{
  const char *cmd = prof(ch, profile, "credential_process");
  if (!cmd)
    return SRC_SKIPPED;
  enum src_result res = creds_src_process(&ch->x, profile, cmd, out, e);
  if (res != SRC_FOUND)
    return res;
  if (set_source(out, "process", NULL, e) != SRC_FOUND) {
    creds_release(out);
    return SRC_FAILED;
  }
  return check_fresh(ch, out, e);
}

/* ---- network sources ---- */

static enum src_result src_container(struct chain *ch, struct aws_creds *out, struct err *e)
{
  struct buf why;
  buf_init(&why, 1024);
  enum src_result res = creds_src_container(&ch->x, out, &why, e);
  if (res == SRC_SKIPPED)
    trace_add(ch, "container: %s", buf_str(&why));
  buf_release(&why);
  if (res != SRC_FOUND)
    return res;
  if (set_source(out, "container", NULL, e) != SRC_FOUND) {
    creds_release(out);
    return SRC_FAILED;
  }
  return check_fresh(ch, out, e);
}

static enum src_result src_imds(struct chain *ch, struct aws_creds *out, struct err *e)
{
  struct buf why;
  buf_init(&why, 1024);
  enum src_result res = creds_src_imds(&ch->x, out, &why, e);
  if (res == SRC_SKIPPED)
    trace_add(ch, "IMDS: %s", buf_str(&why));
  buf_release(&why);
  if (res != SRC_FOUND)
    return res;
  if (set_source(out, "imds", NULL, e) != SRC_FOUND) {
    creds_release(out);
    return SRC_FAILED;
  }
  return check_fresh(ch, out, e);
}

/* ---- profiles ---- */

static bool has_static(const struct chain *ch, const char *profile)
{
  return prof(ch, profile, "aws_access_key_id") || prof(ch, profile, "aws_secret_access_key");
}

static bool has_assume_role(const struct chain *ch, const char *profile)
{
  /* AssumeRoleProvider._has_assume_role_config_vars: role_arn, and no
   * web_identity_token_file (that profile is the web identity provider's). */
  return prof(ch, profile, "role_arn") && !prof(ch, profile, "web_identity_token_file");
}

/* The providers of one profile after assume-role (ProfileProviderBuilder.providers): web
 * identity, SSO, the credentials file's keys, credential_process, the config file's keys. */
static enum src_result profile_providers(struct chain *ch, const char *profile, bool use_env,
                                         struct aws_creds *out, struct err *e)
{
  enum src_result r = src_web_identity(ch, profile, use_env, out, e);
  if (!profile)
    return r; /* no such profile: only the environment's web identity */
  if (r == SRC_SKIPPED)
    r = src_sso(ch, profile, out, e);
  if (r == SRC_SKIPPED)
    r = src_static(ch, profile, awsconfig_creds_profile(&ch->cfg, profile), &ch->cfg.credentials,
                   out, e);
  if (r == SRC_SKIPPED)
    r = src_process(ch, profile, out, e);
  if (r == SRC_SKIPPED)
    r = src_static(ch, profile, awsconfig_config_profile(&ch->cfg, profile), &ch->cfg.config, out,
                   e);
  return r;
}

static enum src_result assume_role_profile(struct chain *ch, const char *profile,
                                           struct aws_creds *out, struct err *e);

/* A named credential_source (CanonicalNameCredentialSourcer over the env, container and IMDS
 * providers; names compared exactly, as is_supported does). */
static enum src_result src_named(struct chain *ch, const char *profile, const char *name,
                                 struct aws_creds *out, struct err *e)
{
  enum src_result r;
  size_t mark = ch->trace.len;
  if (strcmp(name, "Environment") == 0)
    r = src_env(ch, out, e);
  else if (strcmp(name, "Ec2InstanceMetadata") == 0)
    r = src_imds(ch, out, e);
  else if (strcmp(name, "EcsContainer") == 0)
    r = src_container(ch, out, e);
  else
    return creds_src_fail(e, ERR_CREDENTIALS,
                          "profile '%s': credential_source '%.64s' is not valid; use Environment, "
                          "Ec2InstanceMetadata or EcsContainer",
                          profile, name);
  if (r != SRC_SKIPPED)
    return r;
  /* "No credentials found in credential_source referenced in profile X", with the reason the
   * source gave (the last trace entry). */
  const char *why = ch->trace.len > mark ? buf_str(&ch->trace) + mark : "";
  if (*why == ';')
    why += 2;
  return creds_src_fail(
      e, ERR_CREDENTIALS,
      "profile '%s' takes its source credentials from credential_source %s, which "
      "found none (%.300s)",
      profile, name, why);
}

/* The credentials of a source_profile (AssumeRoleProvider._resolve_credentials_from_profile):
 * a profile with keys or without role_arn goes through its providers (no environment), one
 * with only role_arn is assumed in turn. */
static enum src_result from_source_profile(struct chain *ch, const char *profile,
                                           struct aws_creds *out, struct err *e)
{
  if (has_static(ch, profile) || !has_assume_role(ch, profile)) {
    enum src_result r = profile_providers(ch, profile, false, out, e);
    if (r == SRC_SKIPPED)
      return creds_src_fail(
          e, ERR_CREDENTIALS,
          "the source profile '%s' has no credentials (no keys, web identity, SSO or "
          "credential_process)",
          profile);
    return r;
  }
  return assume_role_profile(ch, profile, out, e);
}

static bool visited(const struct chain *ch, const char *profile)
{
  for (size_t i = 0; i < ch->n_visited; i++)
    if (strcmp(ch->visited[i], profile) == 0)
      return true;
  return false;
}

static enum src_result cycle(struct chain *ch, const char *parent, const char *source,
                             struct err *e)
{
  struct buf path;
  buf_init(&path, 1024);
  for (size_t i = 0; i < ch->n_visited; i++)
    (void)buf_printf(&path, "'%s' -> ", ch->visited[i]);
  (void)buf_printf(&path, "'%s'", source);
  struct buf at;
  buf_init(&at, 300);
  where(ch, parent, "source_profile", &at);
  /* InfiniteLoopConfigError: "Infinite loop in credential configuration detected". */
  enum src_result r =
      creds_src_fail(e, ERR_CREDENTIALS,
                     "source_profile cycle: %s%s; every chain must end in a profile "
                     "with keys, web identity, SSO or credential_process",
                     buf_str(&path), buf_str(&at));
  buf_release(&path);
  buf_release(&at);
  return r;
}

static enum src_result assume_role_profile(struct chain *ch, const char *profile,
                                           struct aws_creds *out, struct err *e)
{
  /* AssumeRoleProvider._get_role_config. */
  const char *role = prof(ch, profile, "role_arn");
  const char *source_profile = prof(ch, profile, "source_profile");
  const char *credential_source = prof(ch, profile, "credential_source");
  if (source_profile && credential_source)
    return creds_src_fail(e, ERR_CREDENTIALS,
                          "profile '%s' has both source_profile and credential_source; keep one",
                          profile);
  if (!source_profile && !credential_source)
    return creds_src_fail(
        e, ERR_CREDENTIALS,
        "profile '%s' has role_arn but neither source_profile nor credential_source "
        "to assume it with",
        profile);
  if (prof(ch, profile, "mfa_serial"))
    return creds_src_fail(
        e, ERR_CREDENTIALS,
        "profile '%s' needs an MFA code (mfa_serial), and ecrdiag does not prompt; "
        "export the session (aws configure export-credentials --profile %s --format "
        "env) and run with those variables",
        profile, profile);
  if (source_profile) {
    /* _validate_source_profile: it must exist; revisiting a profile is a loop, except a
     * profile that names itself and has keys. */
    if (!awsconfig_has_profile(&ch->cfg, source_profile)) {
      struct buf at;
      buf_init(&at, 300);
      where(ch, profile, "source_profile", &at);
      enum src_result r = creds_src_fail(
          e, ERR_CREDENTIALS,
          "profile '%s' names source_profile '%.100s'%s, which does not "
          "exist in %.200s or %.200s",
          profile, source_profile, buf_str(&at), ch->cfg.config.path, ch->cfg.credentials.path);
      buf_release(&at);
      return r;
    }
    if (visited(ch, source_profile) &&
        (strcmp(source_profile, profile) != 0 || !has_static(ch, source_profile)))
      return cycle(ch, profile, source_profile, e);
    if (ch->n_visited >= CREDS_MAX_CHAIN)
      return cycle(ch, profile, source_profile, e);
  }

  struct aws_creds src = {0};
  enum src_result r;
  const char *source_name;
  if (credential_source) {
    r = src_named(ch, profile, credential_source, &src, e);
    source_name = credential_source;
  } else {
    ch->visited[ch->n_visited++] = source_profile;
    /* A profile naming itself (with keys) uses its own keys, not its role again. */
    if (strcmp(source_profile, profile) == 0)
      r = profile_providers(ch, profile, false, &src, e);
    else
      r = from_source_profile(ch, source_profile, &src, e);
    if (r == SRC_SKIPPED)
      r = creds_src_fail(e, ERR_CREDENTIALS, "the source profile '%s' has no credentials",
                         source_profile);
    source_name = source_profile;
  }
  if (r != SRC_FOUND) {
    creds_release(&src);
    return r;
  }
  long duration = 0;
  const char *d = prof(ch, profile, "duration_seconds");
  if (d) {
    /* int(duration_seconds), ignored when it does not parse. */
    char *end;
    long v = strtol(d, &end, 10);
    if (*d && !*end && v > 0)
      duration = v;
  }
  struct buf from;
  buf_init(&from, 512);
  if (credential_source)
    (void)buf_printf(&from, "credential_source %s of profile '%s'", source_name, profile);
  else
    (void)buf_printf(&from, "source_profile '%s' (%s)", source_name, src.source ? src.source : "?");
  char name[32];
  const char *session = role_session_name(ch, prof(ch, profile, "role_session_name"), name);
  r = sts_session(ch, &src, NULL, role, session, prof(ch, profile, "external_id"), duration,
                  buf_str(&from), out, e);
  buf_release(&from);
  creds_release(&src);
  if (r != SRC_FOUND)
    return r;
  if (set_source(out, "assume-role:", role, e) != SRC_FOUND) {
    creds_release(out);
    return SRC_FAILED;
  }
  return check_fresh(ch, out, e);
}

/* The profile step of the chain for the starting profile. */
static enum src_result src_profile(struct chain *ch, struct aws_creds *out, struct err *e)
{
  bool use_env = !ch->explicit_profile;
  if (load_config(ch, e) == SRC_FAILED)
    return SRC_FAILED;
  const char *p = ch->profile;
  bool exists = awsconfig_has_profile(&ch->cfg, p);
  if (!exists && ch->profile_named)
    /* Session.get_scoped_config: ProfileNotFound "The config profile (X) could not be
     * found", for a profile named by --profile or AWS_PROFILE. */
    return creds_src_fail(e, ERR_CREDENTIALS,
                          "the profile '%s' (from %s) is not in %.200s%s or %.200s%s", p,
                          ch->explicit_profile ? (ch->o->label ? "--registry-profile" : "--profile")
                          : env_get("AWS_DEFAULT_PROFILE") ? "AWS_DEFAULT_PROFILE"
                                                           : "AWS_PROFILE",
                          ch->cfg.config.path, ch->cfg.config.found ? "" : " (missing)",
                          ch->cfg.credentials.path, ch->cfg.credentials.found ? "" : " (missing)");
  ch->n_visited = 0;
  ch->visited[ch->n_visited++] = p;
  enum src_result r;
  if (exists && has_assume_role(ch, p))
    r = assume_role_profile(ch, p, out, e);
  else
    r = profile_providers(ch, exists ? p : NULL, use_env, out, e);
  if (r != SRC_SKIPPED)
    return r;
  if (use_env && !env_get("AWS_WEB_IDENTITY_TOKEN_FILE"))
    trace_add(ch, "web identity: AWS_WEB_IDENTITY_TOKEN_FILE not set");
  if (!exists)
    trace_add(ch, "profile '%s': not in %.200s%s or %.200s%s", p, ch->cfg.config.path,
              ch->cfg.config.found ? "" : " (missing)", ch->cfg.credentials.path,
              ch->cfg.credentials.found ? "" : " (missing)");
  else
    trace_add(ch,
              "profile '%s': no role_arn, web identity, SSO, keys or credential_process in "
              "it",
              p);
  return SRC_SKIPPED;
}

/* ---- --role-arn ---- */

bool creds_role_arn_valid(const char *arn)
{
  if (!arn)
    return false;
  /* arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME */
  if (strncmp(arn, "arn:", 4) != 0)
    return false;
  const char *p = strchr(arn + 4, ':');
  if (!p || strncmp(p, ":iam::", 6) != 0)
    return false;
  p += 6;
  int digits = 0;
  while (*p >= '0' && *p <= '9') {
    p++;
    digits++;
  }
  return digits == 12 && strncmp(p, ":role/", 6) == 0 && p[6] && !has_control(p);
}

static enum src_result assume_option_role(struct chain *ch, struct aws_creds *out, struct err *e)
{
  struct aws_creds base = *out;
  memset(out, 0, sizeof *out);
  struct buf from;
  buf_init(&from, 512);
  (void)buf_puts(&from, base.source ? base.source : "the chain");
  char name[32];
  enum src_result r = sts_session(ch, &base, NULL, ch->o->role_arn,
                                  role_session_name(ch, ch->o->role_session_name, name),
                                  ch->o->external_id, 0, buf_str(&from), out, e);
  buf_release(&from);
  creds_release(&base);
  if (r != SRC_FOUND)
    return r;
  if (set_source(out, "assume-role:", ch->o->role_arn, e) != SRC_FOUND) {
    creds_release(out);
    return SRC_FAILED;
  }
  return check_fresh(ch, out, e);
}

/* ---- the message ---- */

static void finish_message(struct chain *ch, enum src_result res, struct err *e)
{
  struct buf m;
  buf_init(&m, CREDS_MESSAGE_MAX_BYTES);
  if (ch->o->label)
    (void)buf_printf(&m, "%s credentials: ", ch->o->label);
  if (res == SRC_SKIPPED) {
    (void)buf_printf(&m, "no AWS credentials found; tried, in order: %s. ", buf_str(&ch->trace));
    if (ch->o->label)
      (void)buf_printf(&m,
                       "Give --%s-profile or --%s-role-arn for a profile or role that can "
                       "read the registry account",
                       ch->o->label, ch->o->label);
    else
      (void)buf_puts(&m, "Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, choose a profile "
                         "with --profile or AWS_PROFILE ('aws configure' or 'aws sso login' "
                         "create one), or run on the node, whose instance role the kubelet "
                         "uses");
  } else {
    (void)buf_puts(&m, e ? e->msg : "failed");
    if (ch->trace.len > ch->trace_skip_len)
      (void)buf_printf(&m, " [tried before: %s]", buf_str(&ch->trace));
  }
  enum err_code code = res == SRC_SKIPPED ? ERR_CREDENTIALS : (e ? e->code : ERR_CREDENTIALS);
  if (ch->o->message) {
    free(*ch->o->message);
    *ch->o->message = str_dup(buf_str(&m));
  }
  /* e->msg holds ERR_MSG_MAX - 1 bytes: cut at a word with "..." when longer. */
  const char *text = buf_str(&m);
  size_t n = m.len;
  if (n >= ERR_MSG_MAX) {
    n = ERR_MSG_MAX - 4;
    while (n > ERR_MSG_MAX / 2 && text[n] != ' ')
      n--;
    err_set(e, code, "%.*s...", (int)n, text);
  } else {
    err_set(e, code, "%s", text);
  }
  buf_release(&m);
}

/* ---- entry points ---- */

static void chain_init(struct chain *ch, const struct creds_options *o, struct http_client *http)
{
  memset(ch, 0, sizeof *ch);
  ch->o = o;
  ch->x.o = o;
  ch->x.http = http;
  ch->x.now = o->now ? o->now() : time(NULL);
  ch->x.timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : CREDS_DEFAULT_TIMEOUT_MS;
  ch->x.in_pod = env_get("KUBERNETES_SERVICE_HOST") != NULL;
  buf_init(&ch->trace, CREDS_TRACE_MAX_BYTES);
  /* botocore's profile variable: instance (--profile), then AWS_DEFAULT_PROFILE, then
   * AWS_PROFILE (botocore/configprovider.py BOTOCORE_DEFAUT_SESSION_VARIABLES['profile']). */
  ch->explicit_profile = o->profile && *o->profile;
  ch->profile = ch->explicit_profile ? o->profile : env_get("AWS_DEFAULT_PROFILE");
  if (!ch->profile)
    ch->profile = env_get("AWS_PROFILE");
  ch->profile_named = ch->profile != NULL;
  if (!ch->profile)
    ch->profile = "default";
}

static void chain_release(struct chain *ch)
{
  awsconfig_release(&ch->cfg);
  aws_endpoints_release(&ch->own_ep);
  free(ch->sts_region);
  buf_release(&ch->trace);
}

enum err_code creds_resolve(const struct creds_options *o, struct http_client *http,
                            struct aws_creds *out, struct err *e)
{
  static const struct creds_options none;
  if (!o)
    o = &none;
  memset(out, 0, sizeof *out);
  if (o->message) {
    free(*o->message);
    *o->message = NULL;
  }
  struct err local = {0};
  if (!e)
    e = &local;
  err_clear(e);
  if (o->role_arn && !creds_role_arn_valid(o->role_arn))
    return err_set(e, ERR_INVALID,
                   "--%srole-arn '%.200s' is not an IAM role ARN "
                   "(arn:aws:iam::ACCOUNT:role/NAME)",
                   o->label ? "registry-" : "", o->role_arn);
  struct chain ch;
  chain_init(&ch, o, http);

  enum src_result res = SRC_SKIPPED;
  /* 1. The environment, skipped for an explicit --profile (create_credential_resolver
   * removes the EnvProvider when the profile is an instance variable). */
  if (ch.explicit_profile) {
    trace_add(&ch, "env: skipped for --%sprofile", o->label ? "registry-" : "");
    ch.trace_skip_len = ch.trace.len; /* not worth repeating after a hard failure */
  } else
    res = src_env(&ch, out, e);
  /* 2. The profile's providers. */
  if (res == SRC_SKIPPED)
    res = src_profile(&ch, out, e);
  /* 3. Container credentials, 4. IMDS. */
  if (res == SRC_SKIPPED)
    res = src_container(&ch, out, e);
  if (res == SRC_SKIPPED)
    res = src_imds(&ch, out, e);
  if (res == SRC_FOUND && o->role_arn) {
    buf_reset(&ch.trace); /* what was skipped before the base credentials is beside the point */
    ch.trace_skip_len = 0;
    res = assume_option_role(&ch, out, e);
  }

  enum err_code rc = ERR_OK;
  if (res != SRC_FOUND) {
    creds_release(out);
    finish_message(&ch, res, e);
    rc = e->code ? e->code : ERR_CREDENTIALS;
  }
  chain_release(&ch);
  return rc;
}

char *creds_profile_region(const struct creds_options *o)
{
  static const struct creds_options none;
  struct chain ch;
  chain_init(&ch, o ? o : &none, NULL);
  char *region = NULL;
  struct err e = {0};
  if (load_config(&ch, &e) != SRC_FAILED) {
    const char *r = prof(&ch, ch.profile, "region");
    region = r && *r ? str_dup(r) : NULL;
  }
  chain_release(&ch);
  return region;
}

char *creds_region(const struct creds_options *o)
{
  /* The order for the CLI's region: --region, AWS_REGION, AWS_DEFAULT_REGION, the
   * profile's (botocore itself reads only AWS_DEFAULT_REGION; the other SDKs and the CLI v2
   * read AWS_REGION first). */
  if (o && o->region && *o->region)
    return str_dup(o->region);
  const char *r = env_get("AWS_REGION");
  if (!r)
    r = env_get("AWS_DEFAULT_REGION");
  if (r)
    return str_dup(r);
  return creds_profile_region(o);
}
