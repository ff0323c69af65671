/* The policy fix: the grant statement merged into the repository policy read (no statement of
 * the user's dropped or rewritten, unless merged to fit the size limit), the node role's
 * identity policy (the pull, or the import through a pull-through cache rule), or the grant
 * exempted from the repository or registry policy's Deny (the document surgery is in fix_deny.c);
 * as a shell script, Terraform and CloudFormation; verified with the evaluator and lint. Pure: no
 * HTTP, no files; depends on core, crypto, jansson and src/policy. */
#include "ecrdiag/policyfix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecrdiag/buf.h"
#include "ecrdiag/crypto.h"
#include "ecrdiag/policy.h"
#include "ecrdiag/policylint.h"
#include "policy_int.h"

/* The well-known pull recipe, in the order the AWS examples use. */
static const char *const pull_actions[] = {
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
};

/* Without these two a pull fails (manifest, then layers); BatchCheckLayerAvailability is not
 * needed to pull, so an existing grant lacking it still counts as granting. */
static const char *const pull_required[] = {"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"};

/* The AWS managed policy for pulling, and its document (v1 of 2024-10-04, as the AWS Managed
 * Policy Reference publishes it): attaching it is the identity fix without an inline policy,
 * and the document is what verification evaluates. */
#define MANAGED_PULL_ONLY "AmazonEC2ContainerRegistryPullOnly"
static const char managed_pull_only_doc[] =
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":["
    "\"ecr:GetAuthorizationToken\",\"ecr:BatchGetImage\",\"ecr:GetDownloadUrlForLayer\","
    "\"ecr:BatchImportUpstreamImage\"],\"Resource\":\"*\"}]}";

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Generated texts: a pretty-printed document of 10,240 compact characters stays far below;
 * an already-granted document is echoed back and may be larger (up to POLICY_MAX_BYTES). */
#define FIX_TEXT_MAX_BYTES (1024 * 1024)
#define FIX_SMALL_MAX_BYTES 4096
/* Sid suffixes tried before giving up: a policy of 10,240 characters cannot hold this many. */
#define FIX_SID_TRIES 10000
/* ARNs the fix writes (role ARNs are at most 2,048 characters in IAM; ecrdiag's are short). */
#define FIX_ARN_MAX 512
/* IAM names: roles at most 64 characters, policies 128. */
#define FIX_ROLE_NAME_MAX 64
#define FIX_POLICY_NAME_MAX 128

/* ---- the grants ------------------------------------------------------------------------ */

/* One table for the names the command line and the report use. */
static const struct {
  enum fix_grant grant;
  const char *name;
  const char *scope; /* for sentences: "outside the organization" */
} grant_names[] = {
    {FIX_GRANT_ORG, "org", "organization"},
    {FIX_GRANT_ACCOUNT, "account", "account"},
    {FIX_GRANT_ROLE, "role", "role"},
    {FIX_GRANT_ROLE_CONDITION, "role-condition", "role"},
    {FIX_GRANT_OU, "ou", "OU"},
};

static const char *grant_scope(enum fix_grant g)
{
  for (size_t i = 0; i < NELEM(grant_names); i++)
    if (grant_names[i].grant == g)
      return grant_names[i].scope;
  return "grant";
}

const char *policyfix_grant_name(enum fix_grant g)
{
  for (size_t i = 0; i < NELEM(grant_names); i++)
    if (grant_names[i].grant == g)
      return grant_names[i].name;
  return NULL;
}

bool policyfix_grant_parse(const char *s, enum fix_grant *out)
{
  for (size_t i = 0; s && i < NELEM(grant_names); i++)
    if (strcmp(grant_names[i].name, s) == 0) {
      *out = grant_names[i].grant;
      return true;
    }
  return false;
}

/* ---- request checks -------------------------------------------------------------------- */

static bool all_chars(const char *s, const char *allowed, size_t min, size_t max)
{
  size_t n = s ? strlen(s) : 0;
  if (n < min || n > max)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!strchr(allowed, s[i]))
      return false;
  return true;
}

#define DIGITS "0123456789"
#define LOWER "abcdefghijklmnopqrstuvwxyz"
#define UPPER "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
/* IAM names ([\w+=,.@-]): none of them means anything to sh, HCL, YAML or JSON. */
#define IAM_NAME_CHARS LOWER UPPER DIGITS "_+=,.@-"

static bool valid_account(const char *s)
{
  return all_chars(s, DIGITS, 12, 12);
}

static bool valid_org_id(const char *s)
{
  return s && strncmp(s, "o-", 2) == 0 && all_chars(s + 2, LOWER DIGITS, 10, 32);
}

/* The partition a region belongs to, for callers that only know the region. */
static const char *partition_of_region(const char *region)
{
  if (strncmp(region, "cn-", 3) == 0)
    return "aws-cn";
  if (strncmp(region, "us-gov-", 7) == 0)
    return "aws-us-gov";
  if (strncmp(region, "us-iso-", 7) == 0)
    return "aws-iso";
  if (strncmp(region, "us-isob-", 8) == 0)
    return "aws-iso-b";
  return "aws";
}

/* Everything the request says, checked, and what is derived from it. Every string that ends up
 * in a script or a template is checked against the character set AWS allows, so no request
 * can smuggle shell, HCL or YAML syntax into them. */
struct fixctx {
  const struct fix_request *r;
  const char *partition;
  char repo_arn[FIX_ARN_MAX];
  char caller_account[16];    /* "" when unknown (else 12 digits) */
  char role_arn[FIX_ARN_MAX]; /* role grants and the identity fix; "" otherwise */
  char role_name[FIX_ROLE_NAME_MAX + 1];
  bool role_derived;         /* from a session ARN, which drops the role's path */
  char org_id[64];           /* "" when unknown */
  char ou_path[FIX_ARN_MAX]; /* FIX_GRANT_OU, ending in '/' */
  char ou_id[64];            /* its last segment */
  bool exempt;               /* the grant exempted from a Deny (exempt_from_deny, registry) */
  bool registry;             /* FIX_TARGET_REGISTRY_POLICY */
  bool ptc;                  /* the pull-through cache import (ptc_prefix) */
  char ptc_arn[FIX_ARN_MAX]; /* ptc: "arn:P:ecr:REGION:REGISTRY:repository/PREFIX/" and '*' */
};

/* The parts of "arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE". */
struct arn_parts {
  char partition[24];
  char service[16];
  char region[32];
  char account[16];
  const char *resource; /* borrowed from the ARN */
};

static bool arn_split(const char *s, struct arn_parts *a)
{
  if (!s || strncmp(s, "arn:", 4) != 0)
    return false;
  const char *p = s + 4;
  char *fields[4] = {a->partition, a->service, a->region, a->account};
  size_t sizes[4] = {sizeof a->partition, sizeof a->service, sizeof a->region, sizeof a->account};
  for (int k = 0; k < 4; k++) {
    const char *colon = strchr(p, ':');
    if (!colon || (size_t)(colon - p) >= sizes[k])
      return false;
    memcpy(fields[k], p, (size_t)(colon - p));
    fields[k][colon - p] = '\0';
    p = colon + 1;
  }
  a->resource = p;
  return all_chars(a->partition, LOWER "-", 1, 23);
}

/* "role/PATH/NAME": true when well formed; *name points at NAME. */
static bool role_resource(const char *res, const char **name)
{
  if (strncmp(res, "role/", 5) != 0 || !all_chars(res + 5, IAM_NAME_CHARS "/", 1, 400))
    return false;
  const char *slash = strrchr(res, '/');
  *name = slash + 1;
  return all_chars(*name, IAM_NAME_CHARS, 1, FIX_ROLE_NAME_MAX) && strstr(res, "//") == NULL;
}

/* The role of a role grant or an identity fix: role_arn, else the role of an assumed-role
 * principal_arn, else principal_arn itself when it is a role ARN. */
static enum err_code role_resolve(struct fixctx *c, struct err *e)
{
  const struct fix_request *r = c->r;
  struct arn_parts a;
  const char *name = NULL;
  if (r->role_arn) {
    if (!arn_split(r->role_arn, &a) || strcmp(a.service, "iam") != 0 || a.region[0] ||
        !valid_account(a.account) || !role_resource(a.resource, &name) ||
        strlen(r->role_arn) >= sizeof c->role_arn)
      return err_set(e, ERR_INVALID,
                     "invalid role ARN '%.200s': expected arn:PARTITION:iam::ACCOUNT:role/"
                     "[PATH/]NAME",
                     r->role_arn);
    snprintf(c->role_arn, sizeof c->role_arn, "%s", r->role_arn);
  } else if (r->principal_arn && arn_split(r->principal_arn, &a) && valid_account(a.account) &&
             strcmp(a.service, "sts") == 0 && strncmp(a.resource, "assumed-role/", 13) == 0) {
    /* arn:P:sts::A:assumed-role/NAME/SESSION: the role ARN, minus a path it does not carry. */
    const char *rn = a.resource + 13, *slash = strchr(rn, '/');
    char role[FIX_ROLE_NAME_MAX + 1];
    if (!slash || (size_t)(slash - rn) > FIX_ROLE_NAME_MAX ||
        !all_chars(slash + 1, IAM_NAME_CHARS, 1, 64))
      return err_set(e, ERR_INVALID, "invalid assumed-role ARN '%.200s'", r->principal_arn);
    memcpy(role, rn, (size_t)(slash - rn));
    role[slash - rn] = '\0';
    if (!all_chars(role, IAM_NAME_CHARS, 1, FIX_ROLE_NAME_MAX))
      return err_set(e, ERR_INVALID, "invalid assumed-role ARN '%.200s'", r->principal_arn);
    snprintf(c->role_arn, sizeof c->role_arn, "arn:%s:iam::%s:role/%s", a.partition, a.account,
             role);
    c->role_derived = true;
    name = NULL;
  } else if (r->principal_arn && arn_split(r->principal_arn, &a) && strcmp(a.service, "iam") == 0 &&
             valid_account(a.account) && role_resource(a.resource, &name) &&
             strlen(r->principal_arn) < sizeof c->role_arn) {
    snprintf(c->role_arn, sizeof c->role_arn, "%s", r->principal_arn);
  } else {
    return err_set(e, ERR_INVALID,
                   "the fix needs the pulling role: give its ARN (role_arn, --role-arn) or the "
                   "caller's assumed-role ARN; '%.200s' is not a role%s",
                   r->principal_arn ? r->principal_arn : "",
                   r->principal_arn && strstr(r->principal_arn, ":user/")
                       ? " (an IAM user is granted with the account grant)"
                       : "");
  }
  arn_split(c->role_arn, &a);
  if (strcmp(a.partition, c->partition) != 0)
    return err_set(e, ERR_INVALID, "role '%s' is in partition %s, the repository in %s",
                   c->role_arn, a.partition, c->partition);
  if (r->caller_account && strcmp(r->caller_account, a.account) != 0)
    return err_set(e, ERR_INVALID, "role '%s' is not in the caller's account %s", c->role_arn,
                   r->caller_account);
  snprintf(c->caller_account, sizeof c->caller_account, "%s", a.account);
  role_resource(a.resource, &name);
  snprintf(c->role_name, sizeof c->role_name, "%s", name);
  return ERR_OK;
}

/* An OU id as Organizations writes it: ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}. */
static bool ou_id_valid(const char *s)
{
  if (strncmp(s, "ou-", 3) != 0)
    return false;
  const char *dash = strchr(s + 3, '-');
  if (!dash)
    return false;
  char root[40];
  size_t rn = (size_t)(dash - (s + 3));
  if (rn >= sizeof root)
    return false;
  memcpy(root, s + 3, rn);
  root[rn] = '\0';
  return all_chars(root, LOWER DIGITS, 4, 32) && all_chars(dash + 1, LOWER DIGITS, 8, 32);
}

/* "o-ORG/r-ROOT/ou-X/.../" (the trailing '/' optional): checked, normalised into c->ou_path
 * with its organization and last OU; false when malformed or naming no OU. */
static bool ou_parse(const char *path, struct fixctx *c)
{
  size_t n = path ? strlen(path) : 0;
  if (n == 0 || n + 2 > sizeof c->ou_path)
    return false;
  char tmp[FIX_ARN_MAX];
  snprintf(tmp, sizeof tmp, "%s%s", path, path[n - 1] == '/' ? "" : "/");
  size_t segs = 0;
  const char *p = tmp;
  while (*p) {
    const char *slash = strchr(p, '/');
    size_t sn = (size_t)(slash - p);
    char seg[64];
    if (sn == 0 || sn >= sizeof seg)
      return false;
    memcpy(seg, p, sn);
    seg[sn] = '\0';
    bool ok = segs == 0   ? valid_org_id(seg)
              : segs == 1 ? strncmp(seg, "r-", 2) == 0 && all_chars(seg + 2, LOWER DIGITS, 4, 32)
                          : ou_id_valid(seg);
    if (!ok)
      return false;
    if (segs == 0)
      snprintf(c->org_id, sizeof c->org_id, "%s", seg);
    if (segs >= 2)
      snprintf(c->ou_id, sizeof c->ou_id, "%s", seg);
    segs++;
    p = slash + 1;
  }
  if (segs < 3)
    return false;
  snprintf(c->ou_path, sizeof c->ou_path, "%s", tmp);
  return true;
}

/* ECR's ecrRepositoryPrefix: runs of [a-z0-9] joined by single separators from "._-/", which
 * is the model's [a-z0-9]+(?:[._-][a-z0-9]+)* segments joined by '/', 2 to 30 characters. */
bool policyfix_ptc_prefix_valid(const char *s)
{
  size_t n = s ? strlen(s) : 0;
  if (n < 2 || n > 30)
    return false;
  bool need_alnum = true; /* at the start, or after a separator */
  for (size_t i = 0; i < n; i++) {
    if (strchr(LOWER DIGITS, s[i]))
      need_alnum = false;
    else if (strchr("._-/", s[i]) && !need_alnum)
      need_alnum = true;
    else
      return false;
  }
  return !need_alnum;
}

/* The pull-through cache import's own checks (identity target). The prefix and the repository
 * go into the policy's Resource and the policy name, so both are checked before anything is
 * written from them. */
static enum err_code ptc_check(struct fixctx *c, struct err *e)
{
  const struct fix_request *r = c->r;
  const char *p = r->ptc_prefix;
  size_t n = strlen(p);
  if (r->attach_managed)
    return err_set(e, ERR_INVALID,
                   "the pull-through cache import fix is an inline policy limited to the "
                   "repositories under '%.64s/': no AWS managed policy is (%s allows "
                   "ecr:BatchImportUpstreamImage on every repository, and not "
                   "ecr:CreateRepository); leave out attach_managed (--managed)",
                   p, MANAGED_PULL_ONLY);
  if (strcmp(p, "ROOT") == 0)
    return err_set(e, ERR_INVALID,
                   "pull-through cache prefix 'ROOT' caches into repositories without a prefix: "
                   "the import fix is limited to the repositories under a prefix, and a ROOT "
                   "rule would need every repository of the registry");
  if (!policyfix_ptc_prefix_valid(p))
    return err_set(e, ERR_INVALID,
                   "invalid pull-through cache prefix '%.64s': expected 2 to 30 characters, "
                   "lower-case letters and digits in runs joined by one of . _ - / "
                   "(ecrRepositoryPrefix)",
                   p);
  if (strncmp(r->repository, p, n) != 0 || r->repository[n] != '/' || !r->repository[n + 1])
    return err_set(e, ERR_INVALID,
                   "repository '%s' is not under the pull-through cache prefix '%s': the cache "
                   "rule imports only into repositories named %s/...",
                   r->repository, p, p);
  c->ptc = true;
  snprintf(c->ptc_arn, sizeof c->ptc_arn, "arn:%s:ecr:%s:%s:repository/%s/*", c->partition,
           r->region, r->registry_id, p);
  return ERR_OK;
}

static enum err_code request_check(struct fixctx *c, struct err *e)
{
  const struct fix_request *r = c->r;
  if (!all_chars(r->region, LOWER DIGITS "-", 1, 32))
    return err_set(e, ERR_INVALID, "invalid region '%s'", r->region ? r->region : "");
  if (r->partition && !all_chars(r->partition, LOWER "-", 1, 32))
    return err_set(e, ERR_INVALID, "invalid partition '%s'", r->partition);
  if (!valid_account(r->registry_id))
    return err_set(e, ERR_INVALID, "invalid registry id '%s': expected 12 digits",
                   r->registry_id ? r->registry_id : "");
  /* ECR names: lower-case letters, digits and ._-/ (its full grammar is stricter). */
  if (!all_chars(r->repository, LOWER DIGITS "._-/", 1, 256))
    return err_set(e, ERR_INVALID, "invalid repository name '%s'",
                   r->repository ? r->repository : "");
  c->partition = r->partition ? r->partition : partition_of_region(r->region);
  snprintf(c->repo_arn, sizeof c->repo_arn, "arn:%s:ecr:%s:%s:repository/%s", c->partition,
           r->region, r->registry_id, r->repository);
  if (r->caller_account && !valid_account(r->caller_account))
    return err_set(e, ERR_INVALID, "invalid account '%s': expected 12 digits", r->caller_account);
  if (r->caller_account)
    snprintf(c->caller_account, sizeof c->caller_account, "%s", r->caller_account);
  if (r->org_id && !valid_org_id(r->org_id))
    return err_set(e, ERR_INVALID,
                   "invalid organization id '%s': expected o- and 10 to 32 lower-case letters "
                   "or digits",
                   r->org_id);
  if (r->org_id)
    snprintf(c->org_id, sizeof c->org_id, "%s", r->org_id);
  if (!c->caller_account[0] && r->principal_arn) {
    struct arn_parts a;
    if (arn_split(r->principal_arn, &a) && valid_account(a.account))
      snprintf(c->caller_account, sizeof c->caller_account, "%s", a.account);
  }

  if (r->ptc_create_repository && !r->ptc_prefix)
    return err_set(e, ERR_INVALID,
                   "ptc_create_repository goes with ptc_prefix: the repository is created by a "
                   "pull-through cache rule");
  if (r->ptc_prefix && r->target != FIX_TARGET_IDENTITY_POLICY)
    return err_set(e, ERR_INVALID,
                   "the pull-through cache import fix is an identity policy fix: give the identity "
                   "target with ptc_prefix");
  if (r->target == FIX_TARGET_IDENTITY_POLICY) {
    if (r->exempt_from_deny)
      return err_set(e, ERR_INVALID,
                     "an identity policy fix cannot exempt from a Deny: the Deny is lifted in the "
                     "policy that holds it (the repository or registry target)");
    enum err_code rc = r->ptc_prefix ? ptc_check(c, e) : ERR_OK;
    return rc == ERR_OK ? role_resolve(c, e) : rc;
  }
  if (r->target != FIX_TARGET_REPOSITORY_POLICY && r->target != FIX_TARGET_REGISTRY_POLICY)
    return err_set(e, ERR_INVALID, "unknown fix target %d", (int)r->target);
  c->registry = r->target == FIX_TARGET_REGISTRY_POLICY;
  c->exempt = c->registry || r->exempt_from_deny;
  /* The exemption rewrites one statement of a document: without the document as read there is
   * neither the statement nor anything to keep. */
  if (c->exempt && (!r->current_known || !r->current_policy))
    return err_set(e, ERR_INVALID,
                   "the exemption from Statement[%zu] needs the %s policy as read (%sPolicy's "
                   "policyText): ecrdiag does not write a policy it has not read",
                   r->deny_statement, c->registry ? "registry" : "repository",
                   c->registry ? "GetRegistry" : "GetRepository");
  switch (r->grant) {
  case FIX_GRANT_ORG:
    if (!r->org_id)
      return err_set(e, ERR_INVALID,
                     "invalid organization id '': expected o- and 10 to 32 lower-case letters "
                     "or digits");
    break;
  case FIX_GRANT_ACCOUNT:
    if (!r->caller_account)
      return err_set(e, ERR_INVALID, "invalid account '': expected 12 digits");
    /* Naming its own account in a repository policy only delegates to IAM (reference §3.2):
     * such a statement would change nothing, so there is no repository policy fix. Exempting
     * the own account from a Deny does change something. */
    if (!c->exempt && strcmp(r->caller_account, r->registry_id) == 0)
      return err_set(e, ERR_INVALID,
                     "account '%s' owns the repository: granting it in the repository policy "
                     "changes nothing, the puller's IAM policy must allow the pull",
                     r->caller_account);
    break;
  case FIX_GRANT_ROLE:
  case FIX_GRANT_ROLE_CONDITION: return role_resolve(c, e);
  case FIX_GRANT_OU: {
    const char *path = r->ou_path ? r->ou_path : (r->n_org_paths > 0 ? r->org_paths[0] : NULL);
    char org_given[64];
    snprintf(org_given, sizeof org_given, "%s", c->org_id);
    if (!path)
      return err_set(e, ERR_INVALID,
                     "the OU grant needs the OU path (o-.../r-.../ou-.../): give it, or the "
                     "caller's aws:PrincipalOrgPaths");
    if (!ou_parse(path, c))
      return err_set(e, ERR_INVALID,
                     "invalid OU path '%.200s': expected o-ORG/r-ROOT/ou-.../ naming at least one "
                     "OU (an account directly under the root is granted with the org grant)",
                     path);
    if (org_given[0] && strcmp(org_given, c->org_id) != 0)
      return err_set(e, ERR_INVALID, "OU path '%s' is not in organization %s", c->ou_path,
                     org_given);
    break;
  }
  default: return err_set(e, ERR_INVALID, "unknown grant kind %d", (int)r->grant);
  }
  return ERR_OK;
}

/* ---- the statement --------------------------------------------------------------------- */

static json_t *actions_json(void)
{
  json_t *a = json_array();
  for (size_t i = 0; a && i < NELEM(pull_actions); i++)
    if (json_array_append_new(a, json_string(pull_actions[i])) != 0) {
      json_decref(a);
      return NULL;
    }
  return a;
}

/* The actions of the pull-through cache import: what ECR checks on the first pull of an image
 * it has not cached (pull-through-cache IAM page of the ECR user guide). */
static const char *const ptc_actions[] = {"ecr:BatchImportUpstreamImage", "ecr:CreateRepository"};

static size_t ptc_n_actions(const struct fix_request *r)
{
  return r->ptc_create_repository ? 2 : 1;
}

static json_t *ptc_actions_json(const struct fix_request *r)
{
  json_t *a = json_array();
  for (size_t i = 0; a && i < ptc_n_actions(r); i++)
    if (json_array_append_new(a, json_string(ptc_actions[i])) != 0) {
      json_decref(a);
      return NULL;
    }
  return a;
}

/* base followed by the letters and digits of s: a Sid ([A-Za-z0-9]) naming a role or an OU. */
static void sid_of(char *out, size_t size, const char *base, const char *s)
{
  size_t n = (size_t)snprintf(out, size, "%s", base);
  for (; *s && n + 1 < size; s++)
    if (strchr(LOWER UPPER DIGITS, *s))
      out[n++] = *s;
  if (n < size)
    out[n] = '\0';
}

/* The statement of the grant; a new reference, NULL when out of memory. No Resource:
 * SetRepositoryPolicy rejects one (the repository is implied). */
static json_t *statement_build(const struct fixctx *c)
{
  const struct fix_request *r = c->r;
  json_t *acts = actions_json();
  if (!acts)
    return NULL;
  char sid[128], arn[128], like[FIX_ARN_MAX + 2];
  switch (r->grant) {
  case FIX_GRANT_ORG:
    return json_pack("{s:s, s:s, s:s, s:o, s:{s:{s:s}}}", "Sid", "AllowPullFromOrg", "Effect",
                     "Allow", "Principal", "*", "Action", acts, "Condition", "StringEquals",
                     "aws:PrincipalOrgID", r->org_id);
  case FIX_GRANT_ROLE:
    sid_of(sid, sizeof sid, "AllowPullFromRole", c->role_name);
    return json_pack("{s:s, s:s, s:{s:s}, s:o}", "Sid", sid, "Effect", "Allow", "Principal", "AWS",
                     c->role_arn, "Action", acts);
  case FIX_GRANT_ROLE_CONDITION:
    sid_of(sid, sizeof sid, "AllowPullFromRole", c->role_name);
    return json_pack("{s:s, s:s, s:s, s:o, s:{s:{s:s}}}", "Sid", sid, "Effect", "Allow",
                     "Principal", "*", "Action", acts, "Condition", "ArnEquals", "aws:PrincipalArn",
                     c->role_arn);
  case FIX_GRANT_OU:
    sid_of(sid, sizeof sid, "AllowPullFromOu", c->ou_id + 3);
    snprintf(like, sizeof like, "%s*", c->ou_path);
    return json_pack("{s:s, s:s, s:s, s:o, s:{s:{s:s}}}", "Sid", sid, "Effect", "Allow",
                     "Principal", "*", "Action", acts, "Condition", "ForAnyValue:StringLike",
                     "aws:PrincipalOrgPaths", like);
  case FIX_GRANT_ACCOUNT:
  default:
    snprintf(sid, sizeof sid, "AllowPullFromAccount%s", r->caller_account);
    snprintf(arn, sizeof arn, "arn:%s:iam::%s:root", c->partition, r->caller_account);
    return json_pack("{s:s, s:s, s:{s:s}, s:o}", "Sid", sid, "Effect", "Allow", "Principal", "AWS",
                     arn, "Action", acts);
  }
}

/* ---- does an existing statement already grant it? -------------------------------------- */

/* The account id a principal value stands for when it names a whole account ("123456789012"
 * or "arn:PARTITION:iam::123456789012:root"), else NULL; out has room for 13 bytes. */
static const char *principal_account(const char *v, char out[13])
{
  if (valid_account(v)) {
    memcpy(out, v, 13);
    return out;
  }
  if (strncmp(v, "arn:", 4) != 0)
    return NULL;
  const char *p = strchr(v + 4, ':'); /* after the partition */
  if (!p || strncmp(p, ":iam::", 6) != 0)
    return NULL;
  p += 6;
  if (strlen(p) != 17 || strcmp(p + 12, ":root") != 0)
    return NULL;
  memcpy(out, p, 12);
  out[12] = '\0';
  return valid_account(out) ? out : NULL;
}

static bool principal_value_eq(const char *a, const char *b)
{
  char x[13], y[13];
  const char *ax = principal_account(a, x), *by = principal_account(b, y);
  if (ax || by)
    return ax && by && strcmp(ax, by) == 0;
  return strcmp(a, b) == 0; /* ARNs are compared literally (reference §3.1) */
}

/* True when the Principal have names everyone: "*" or {"AWS": "*"} (or "*" in an AWS list). */
static bool principal_is_everyone(const json_t *have)
{
  if (json_is_string(have))
    return strcmp(json_string_value(have), "*") == 0;
  json_t *aws = json_object_get(have, "AWS");
  if (json_is_string(aws))
    return strcmp(json_string_value(aws), "*") == 0;
  size_t i;
  json_t *v;
  json_array_foreach(aws, i, v)
  {
    if (json_is_string(v) && strcmp(json_string_value(v), "*") == 0)
      return true;
  }
  return false;
}

/* True when the Principal have lists the value v under key (a string or an array). */
static bool principal_lists(const json_t *have, const char *key, const char *v)
{
  json_t *vals = json_object_get(have, key);
  if (json_is_string(vals))
    return principal_value_eq(json_string_value(vals), v);
  size_t i;
  json_t *x;
  json_array_foreach(vals, i, x)
  {
    if (json_is_string(x) && principal_value_eq(json_string_value(x), v))
      return true;
  }
  return false;
}

/* True when every principal that want names is named by have too. */
static bool principal_covers(const json_t *have, const json_t *want)
{
  if (!have)
    return false;
  if (principal_is_everyone(have))
    return true;
  if (json_is_string(want) || !json_is_object(want))
    return false; /* want is everyone and have is not */
  const char *key;
  json_t *vals;
  json_object_foreach((json_t *)want, key, vals)
  {
    if (json_is_string(vals)) {
      if (!principal_lists(have, key, json_string_value(vals)))
        return false;
      continue;
    }
    size_t i;
    json_t *x;
    json_array_foreach(vals, i, x)
    {
      if (!json_is_string(x) || !principal_lists(have, key, json_string_value(x)))
        return false;
    }
  }
  return true;
}

/* True when the Action element have (a string or an array) matches action. Action names are
 * case-insensitive and take * and ? wildcards. */
static bool actions_match(const json_t *have, const char *action)
{
  if (json_is_string(have)) {
    const char *p = json_string_value(have);
    return pol_glob(p, strlen(p), NULL, action, strlen(action), GLOB_ICASE);
  }
  size_t i;
  json_t *x;
  json_array_foreach(have, i, x)
  {
    if (json_is_string(x) && actions_match(x, action))
      return true;
  }
  return false;
}

/* A condition value as a set: one scalar or an array of them; order and repeats do not
 * matter to IAM. */
static bool value_in(const json_t *set, const json_t *v)
{
  if (!json_is_array(set))
    return json_equal((json_t *)set, (json_t *)v);
  size_t i;
  json_t *x;
  json_array_foreach(set, i, x)
  {
    if (json_equal(x, (json_t *)v))
      return true;
  }
  return false;
}

static bool value_subset(const json_t *a, const json_t *b)
{
  if (!json_is_array(a))
    return value_in(b, a);
  size_t i;
  json_t *x;
  json_array_foreach(a, i, x)
  {
    if (!value_in(b, x))
      return false;
  }
  return true;
}

/* The value of key in a condition block, keys compared case-insensitively as IAM does. */
static json_t *cond_key_get(const json_t *block, const char *key)
{
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)block, k, v)
  {
    if (pol_ieq(k, strlen(k), key, strlen(key)))
      return v;
  }
  return NULL;
}

/* Equal Condition elements: the same operators, each with the same keys and value sets. */
static bool conditions_equal(const json_t *a, const json_t *b)
{
  if (!json_is_object(a) || !json_is_object(b) || json_object_size(a) != json_object_size(b))
    return false;
  const char *op;
  json_t *ablock;
  json_object_foreach((json_t *)a, op, ablock)
  {
    json_t *bblock = json_object_get(b, op);
    if (!json_is_object(ablock) || !json_is_object(bblock) ||
        json_object_size(ablock) != json_object_size(bblock))
      return false;
    const char *key;
    json_t *av;
    json_object_foreach(ablock, key, av)
    {
      json_t *bv = cond_key_get(bblock, key);
      if (!bv || !value_subset(av, bv) || !value_subset(bv, av))
        return false;
    }
  }
  return true;
}

/* An absent (or empty) Condition grants to every principal named, so it covers any; another
 * condition counts only when it is the same as want's: ecrdiag does not reason about which
 * of two different conditions is wider. */
static bool condition_covers(const json_t *have, const json_t *want)
{
  if (!have || (json_is_object(have) && json_object_size(have) == 0))
    return true;
  return want && conditions_equal(have, want);
}

/* True when the existing statement have grants (at least) what want grants. Statements with
 * NotPrincipal, NotAction, Resource or NotResource never count: their reach is not the
 * question here, and the safe answer is to add ours. */
static bool statement_covers(const json_t *have, const json_t *want)
{
  if (!json_is_object(have))
    return false;
  json_t *effect = json_object_get(have, "Effect");
  if (!json_is_string(effect) || strcmp(json_string_value(effect), "Allow") != 0)
    return false;
  if (json_object_get(have, "NotPrincipal") || json_object_get(have, "NotAction") ||
      json_object_get(have, "Resource") || json_object_get(have, "NotResource"))
    return false;
  if (!principal_covers(json_object_get(have, "Principal"), json_object_get(want, "Principal")))
    return false;
  json_t *have_acts = json_object_get(have, "Action");
  json_t *want_acts = json_object_get(want, "Action");
  for (size_t i = 0; i < NELEM(pull_required); i++)
    if (actions_match(want_acts, pull_required[i]) && !actions_match(have_acts, pull_required[i]))
      return false;
  return condition_covers(json_object_get(have, "Condition"), json_object_get(want, "Condition"));
}

/* ---- the merge ------------------------------------------------------------------------- */
/* ---- the merge ------------------------------------------------------------------------- */

/* Parses the policy text read. Duplicate keys are refused rather than silently collapsed:
 * rewriting such a document would drop whatever jansson did not keep. */
static enum err_code document_read(const char *text, json_t **out, struct err *e)
{
  json_error_t je;
  if (strlen(text) > POLICY_MAX_BYTES)
    return err_set(e, ERR_TOO_LARGE, "the current repository policy is over %d bytes",
                   POLICY_MAX_BYTES);
  json_t *doc = json_loadb(text, strlen(text), JSON_REJECT_DUPLICATES, &je);
  if (!doc)
    return err_set(e, ERR_PARSE,
                   "the current repository policy cannot be read (line %d, column %d: %s); "
                   "ecrdiag does not overwrite a policy it cannot read",
                   je.line, je.column, je.text);
  const char *why = NULL;
  json_t *st = json_object_get(doc, "Statement");
  if (!json_is_object(doc))
    why = "is not a JSON object";
  else if (!st)
    why = "has no Statement";
  else if (!json_is_array(st) && !json_is_object(st))
    why = "has a Statement that is neither an array nor an object";
  else if (json_is_array(st)) {
    size_t i;
    json_t *x;
    json_array_foreach(st, i, x)
    {
      if (!json_is_object(x)) {
        why = "has a Statement entry that is not an object";
        break;
      }
    }
  }
  if (why) {
    json_decref(doc);
    return err_set(e, ERR_PARSE,
                   "the current repository policy %s; ecrdiag does not overwrite a policy it "
                   "cannot read",
                   why);
  }
  *out = doc;
  return ERR_OK;
}

static bool sid_taken(const json_t *stmts, const char *sid)
{
  size_t i;
  json_t *x;
  json_array_foreach(stmts, i, x)
  {
    json_t *s = json_object_get(x, "Sid");
    /* Compared case-insensitively so the result is unique whichever way ECR compares. */
    if (json_is_string(s) && pol_ieq(json_string_value(s), json_string_length(s), sid, strlen(sid)))
      return true;
  }
  return false;
}

/* A Sid for the new statement that no statement of stmts uses: base, else base2, base3... */
static enum err_code sid_unique(const json_t *stmts, const char *base, struct buf *out)
{
  enum err_code rc = buf_puts(out, base);
  for (int n = 2; rc == ERR_OK && sid_taken(stmts, buf_str(out)); n++) {
    if (n > FIX_SID_TRIES)
      return ERR_INVALID;
    buf_reset(out);
    rc = buf_printf(out, "%s%d", base, n);
  }
  return rc;
}

enum err_code pol_document_chars(const json_t *doc, size_t *chars)
{
  char *s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
  if (!s)
    return ERR_NOMEM;
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if ((*p & 0xC0) != 0x80)
      n++;
  free(s);
  *chars = n;
  return ERR_OK;
}

/* ---- fitting the size limit ------------------------------------------------------------ */

/* True when the Action element set holds the action name s (exactly, case-insensitively). */
static bool action_listed(const json_t *set, const char *s)
{
  if (json_is_string(set))
    return pol_ieq(json_string_value(set), json_string_length(set), s, strlen(s));
  size_t i;
  json_t *x;
  json_array_foreach(set, i, x)
  {
    if (json_is_string(x) && pol_ieq(json_string_value(x), json_string_length(x), s, strlen(s)))
      return true;
  }
  return false;
}

static bool action_subset(const json_t *a, const json_t *b)
{
  if (json_is_string(a))
    return action_listed(b, json_string_value(a));
  if (!json_is_array(a) || json_array_size(a) == 0)
    return false;
  size_t i;
  json_t *x;
  json_array_foreach(a, i, x)
  {
    if (!json_is_string(x) || !action_listed(b, json_string_value(x)))
      return false;
  }
  return true;
}

static bool condition_empty(const json_t *c)
{
  return !c || (json_is_object(c) && json_object_size(c) == 0);
}

/* Two statements that differ only in Sid and Principal: the same Effect, Action set and
 * Condition, and nothing else whose reach ecrdiag would have to reason about. Together they
 * grant exactly what one statement with the union of their Principals grants. */
static bool statements_mergeable(const json_t *a, const json_t *b)
{
  if (!json_is_object(a) || !json_is_object(b))
    return false;
  const json_t *s[2] = {a, b};
  for (int k = 0; k < 2; k++) {
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)s[k], key, v)
    {
      if (strcmp(key, "Sid") && strcmp(key, "Effect") && strcmp(key, "Principal") &&
          strcmp(key, "Action") && strcmp(key, "Condition"))
        return false; /* NotPrincipal, NotAction, Resource, NotResource */
    }
    json_t *p = json_object_get(s[k], "Principal");
    if (!(json_is_string(p) && strcmp(json_string_value(p), "*") == 0) && !json_is_object(p))
      return false;
  }
  json_t *ea = json_object_get(a, "Effect"), *eb = json_object_get(b, "Effect");
  if (!json_is_string(ea) || !json_equal(ea, eb))
    return false;
  json_t *aa = json_object_get(a, "Action"), *ab = json_object_get(b, "Action");
  if (!aa || !ab || !action_subset(aa, ab) || !action_subset(ab, aa))
    return false;
  json_t *ca = json_object_get(a, "Condition"), *cb = json_object_get(b, "Condition");
  if (condition_empty(ca) && condition_empty(cb))
    return true;
  return conditions_equal(ca, cb);
}

/* Adds the value v under key to the Principal object p, unless it is listed already. */
static int principal_add(json_t *p, const char *key, const char *v)
{
  if (principal_lists(p, key, v))
    return 0;
  json_t *have = json_object_get(p, key);
  if (!have)
    return json_object_set_new(p, key, json_string(v));
  if (json_is_string(have)) {
    json_t *arr = json_pack("[O, s]", have, v);
    return arr ? json_object_set_new(p, key, arr) : -1;
  }
  return json_array_append_new(have, json_string(v));
}

/* The union of two Principal elements; a new reference, NULL when out of memory. */
static json_t *principal_union(const json_t *a, const json_t *b)
{
  if (principal_is_everyone(a))
    return json_deep_copy(a);
  if (principal_is_everyone(b))
    return json_deep_copy(b);
  json_t *u = json_deep_copy(a);
  const char *key;
  json_t *vals;
  json_object_foreach((json_t *)b, key, vals)
  {
    if (!u)
      break;
    if (json_is_string(vals)) {
      if (principal_add(u, key, json_string_value(vals)) != 0) {
        json_decref(u);
        return NULL;
      }
      continue;
    }
    size_t i;
    json_t *x;
    json_array_foreach(vals, i, x)
    {
      if (json_is_string(x) && principal_add(u, key, json_string_value(x)) != 0) {
        json_decref(u);
        return NULL;
      }
    }
  }
  return u;
}

/* Folds statement j into statement i (its Principal widened to the union; its Sid and key
 * order kept) and removes j. */
static enum err_code statements_merge(json_t *st, size_t i, size_t j)
{
  json_t *a = json_array_get(st, i), *b = json_array_get(st, j);
  json_t *u = principal_union(json_object_get(a, "Principal"), json_object_get(b, "Principal"));
  if (!u || json_object_set_new(a, "Principal", u) != 0 || json_array_remove(st, j) != 0)
    return ERR_NOMEM;
  return ERR_OK;
}

/* Merges statements until doc fits: first the added one (at *carried) into an earlier one it
 * can join, then any two. *carried follows the statement that holds the grant; *merged counts
 * the merges; *chars is the final size. */
static enum err_code compact_to_fit(json_t *doc, long *carried, size_t *merged, size_t *chars)
{
  json_t *st = json_object_get(doc, "Statement");
  enum err_code rc = pol_document_chars(doc, chars);
  if (rc != ERR_OK || *chars <= POLICYFIX_MAX_DOCUMENT_CHARS || !json_is_array(st))
    return rc;
  size_t c = (size_t)*carried;
  for (size_t i = 0; i < c; i++)
    if (statements_mergeable(json_array_get(st, i), json_array_get(st, c))) {
      if ((rc = statements_merge(st, i, c)) != ERR_OK)
        return rc;
      *carried = (long)i;
      (*merged)++;
      if ((rc = pol_document_chars(doc, chars)) != ERR_OK)
        return rc;
      break;
    }
  bool progress = true;
  while (*chars > POLICYFIX_MAX_DOCUMENT_CHARS && progress) {
    progress = false;
    for (size_t i = 0; !progress && i < json_array_size(st); i++)
      for (size_t j = i + 1; !progress && j < json_array_size(st); j++) {
        if (!statements_mergeable(json_array_get(st, i), json_array_get(st, j)))
          continue;
        if ((rc = statements_merge(st, i, j)) != ERR_OK)
          return rc;
        if (*carried == (long)j)
          *carried = (long)i;
        else if (*carried > (long)j)
          (*carried)--;
        (*merged)++;
        progress = true;
      }
    if (progress && (rc = pol_document_chars(doc, chars)) != ERR_OK)
      return rc;
  }
  return ERR_OK;
}

/* ---- the merge ------------------------------------------------------------------------- */

/* policyfix_merge, and where the grant ended up: *carried is the index of the statement that
 * holds it (the added one, or the one it was merged into; -1 when already granted). */
static enum err_code merge_impl(const char *current, const json_t *stmt, json_t **document,
                                long *granted_by, long *carried, size_t *merged, struct err *e)
{
  enum err_code rc = ERR_OK;
  json_t *doc = NULL, *add = NULL, *st = NULL, *base = NULL;
  struct buf sid;
  buf_init(&sid, FIX_SMALL_MAX_BYTES);
  *document = NULL;
  *granted_by = -1;
  *carried = -1;
  *merged = 0;
  if (!json_is_object(stmt))
    return err_set(e, ERR_INVALID, "the statement to add is not a JSON object");

  add = json_deep_copy(stmt);
  if (!add) {
    rc = err_set(e, ERR_NOMEM, "out of memory merging the repository policy");
    goto out;
  }
  if (!current) {
    doc = json_pack("{s:s, s:[O]}", "Version", "2012-10-17", "Statement", add);
    if (!doc)
      rc = err_set(e, ERR_NOMEM, "out of memory merging the repository policy");
    *carried = 0;
    goto check_size;
  }
  if ((rc = document_read(current, &doc, e)) != ERR_OK)
    goto out;

  st = json_object_get(doc, "Statement");
  if (json_is_object(st)) {
    if (statement_covers(st, stmt)) {
      *granted_by = 0;
      goto out; /* the document as read, not even normalised */
    }
    /* Adding to a single object needs an array; the object stays first, unchanged. Setting
     * an existing key keeps its place among the document's keys. */
    json_t *arr = json_pack("[O]", st);
    if (!arr || json_object_set_new(doc, "Statement", arr) != 0) {
      rc = err_set(e, ERR_NOMEM, "out of memory merging the repository policy");
      goto out;
    }
    st = arr;
  } else {
    size_t i;
    json_t *x;
    json_array_foreach(st, i, x)
    {
      if (statement_covers(x, stmt)) {
        *granted_by = (long)i;
        goto out;
      }
    }
  }

  base = json_object_get(stmt, "Sid");
  if (json_is_string(base)) {
    rc = sid_unique(st, json_string_value(base), &sid);
    if (rc == ERR_INVALID)
      rc = err_set(e, ERR_INVALID, "no free Sid for the new statement in the repository policy");
    else if (rc != ERR_OK || json_object_set_new(add, "Sid", json_string(buf_str(&sid))) != 0)
      rc = err_set(e, ERR_NOMEM, "out of memory merging the repository policy");
    if (rc != ERR_OK)
      goto out;
  }
  if (json_array_append(st, add) != 0) {
    rc = err_set(e, ERR_NOMEM, "out of memory merging the repository policy");
    goto out;
  }
  *carried = (long)json_array_size(st) - 1;

check_size:
  if (rc == ERR_OK) {
    size_t chars = 0;
    if ((rc = compact_to_fit(doc, carried, merged, &chars)) != ERR_OK)
      rc = err_set(e, rc, "out of memory measuring the repository policy");
    else if (chars > POLICYFIX_MAX_DOCUMENT_CHARS)
      rc = err_set(e, ERR_TOO_LARGE,
                   "the repository policy with the new statement would be %zu characters, over "
                   "ECR's limit of %d, even with statements that differ only in Principal merged: "
                   "grant the whole organization (--grant org, aws:PrincipalOrgID) or an OU "
                   "(--grant ou, aws:PrincipalOrgPaths) in one statement instead of one per "
                   "account or role, or remove statements no longer needed",
                   chars, POLICYFIX_MAX_DOCUMENT_CHARS);
  }

out:
  json_decref(add);
  buf_release(&sid);
  if (rc != ERR_OK) {
    json_decref(doc);
    *granted_by = -1;
    *carried = -1;
    *merged = 0;
    return rc;
  }
  *document = doc;
  return ERR_OK;
}

enum err_code policyfix_merge(const char *current, const json_t *stmt, json_t **document,
                              long *granted_by, struct err *e)
{
  long carried;
  size_t merged;
  return merge_impl(current, stmt, document, granted_by, &carried, &merged, e);
}

/* ---- the texts ------------------------------------------------------------------------- */

/* Appends s as one single-quoted shell word. */
static enum err_code sh_quote(struct buf *b, const char *s)
{
  enum err_code rc = buf_putc(b, '\'');
  for (; rc == ERR_OK && *s; s++)
    rc = *s == '\'' ? buf_puts(b, "'\\''") : buf_putc(b, *s);
  return rc == ERR_OK ? buf_putc(b, '\'') : rc;
}

/* The part every fix script shares after its variables: no pager, a scratch directory removed
 * on exit, and the JSON written to $work/FILE through a quoted heredoc (the shell expands
 * nothing inside it), the terminator line included. */
static enum err_code sh_json_to_work_file(struct buf *b, const char *file, const char *tag,
                                          const char *json)
{
  return buf_printf(b,
                    "\nexport AWS_PAGER=''\n"
                    "\n"
                    "work=$(mktemp -d)\n"
                    "trap 'rm -rf \"$work\"' EXIT\n"
                    "\n"
                    "# A quoted heredoc: the shell expands nothing inside the JSON.\n"
                    "cat >\"$work/%s\" <<'%s'\n"
                    "%s\n"
                    "%s\n",
                    file, tag, json, tag);
}

/* The check every fix script makes before it sets anything: the SHA-256 of $work/current.json
 * (the policy read, byte for byte) against $EXPECTED_SHA256 (empty: no check), and a blank line.
 * what names the policy in the message ("repository policy"). */
static enum err_code sh_check_sha256(struct buf *b, const char *what)
{
  return buf_printf(
      b,
      "if command -v sha256sum >/dev/null 2>&1; then\n"
      "  actual=$(sha256sum <\"$work/current.json\" | cut -d ' ' -f 1)\n"
      "else\n"
      "  actual=$(shasum -a 256 <\"$work/current.json\" | cut -d ' ' -f 1)\n"
      "fi\n"
      "if [ -n \"$EXPECTED_SHA256\" ] && [ \"$actual\" != \"$EXPECTED_SHA256\" ]; then\n"
      "  echo \"the %s changed since ecrdiag read it (sha256 $actual):\" \\\n"
      "    \"nothing was changed; run ecrdiag again\" >&2\n"
      "  exit 1\n"
      "fi\n"
      "\n",
      what);
}

/* Appends text with every line indented by indent spaces. */
static enum err_code put_indented(struct buf *b, const char *text, int indent)
{
  enum err_code rc = ERR_OK;
  bool bol = true;
  for (const char *p = text; rc == ERR_OK && *p; p++) {
    if (bol && *p != '\n')
      rc = buf_printf(b, "%*s", indent, "");
    if (rc == ERR_OK)
      rc = buf_putc(b, *p);
    bol = *p == '\n';
  }
  return rc;
}

/* Appends text for an HCL heredoc, where ${ and %{ start template sequences: doubling the
 * sign keeps policy variables such as ${aws:username} literal. */
static enum err_code put_hcl_heredoc(struct buf *b, const char *text)
{
  enum err_code rc = ERR_OK;
  for (const char *p = text; rc == ERR_OK && *p; p++) {
    if ((*p == '$' || *p == '%') && p[1] == '{')
      rc = buf_putc(b, *p);
    if (rc == ERR_OK)
      rc = buf_putc(b, *p);
  }
  return rc;
}

/* Who the grant lets pull, for comments and sentences. */
static const char *grant_who(const struct fixctx *c, char *out, size_t n)
{
  const struct fix_request *r = c->r;
  if (r->target == FIX_TARGET_IDENTITY_POLICY)
    snprintf(out, n, "role %s", c->role_name);
  else if (r->grant == FIX_GRANT_ORG)
    snprintf(out, n, "organization %s", r->org_id);
  else if (r->grant == FIX_GRANT_ROLE || r->grant == FIX_GRANT_ROLE_CONDITION)
    snprintf(out, n, "role %s", c->role_name);
  else if (r->grant == FIX_GRANT_OU)
    snprintf(out, n, "OU %s", c->ou_id);
  else
    snprintf(out, n, "account %s", r->caller_account);
  return out;
}

static enum err_code opens_build(const struct fixctx *c, struct buf *b)
{
  const struct fix_request *r = c->r;
  if (c->ptc)
    return buf_printf(b,
                      "It lets role %s import images through the pull-through cache rule %s "
                      "into the repositories under %s/ of registry %s in %s%s, and nothing "
                      "else: no pull, no push, no other repository, and no change for any other "
                      "principal.",
                      c->role_arn, r->ptc_prefix, r->ptc_prefix, r->registry_id, r->region,
                      r->ptc_create_repository
                          ? " (ecr:BatchImportUpstreamImage), and create those repositories "
                            "when they do not exist yet (ecr:CreateRepository)"
                          : " (ecr:BatchImportUpstreamImage)");
  if (r->target == FIX_TARGET_IDENTITY_POLICY && r->attach_managed)
    return buf_printf(b,
                      "It lets role %s pull from every ECR repository whose policy lets it in "
                      "(the managed policy's Resource is \"*\"), %s among them, and changes "
                      "nothing for any other principal.",
                      c->role_arn, r->repository);
  if (r->target == FIX_TARGET_IDENTITY_POLICY)
    return buf_printf(b,
                      "It lets role %s pull from %s and no other repository (and get the "
                      "registry login token, which every pull needs and which opens nothing by "
                      "itself), and changes nothing for any other principal.",
                      c->role_arn, r->repository);
  switch (r->grant) {
  case FIX_GRANT_ORG:
    return buf_printf(b,
                      "It lets every principal of every account in organization %s pull from "
                      "%s, as far as that principal's own IAM policies allow it, and nobody "
                      "outside the organization.",
                      r->org_id, r->repository);
  case FIX_GRANT_ROLE:
    return buf_printf(b,
                      "It lets role %s (any session of it) pull from %s, as far as the role's "
                      "own IAM policies allow it, and no other principal, not even others of "
                      "account %s.",
                      c->role_arn, r->repository, c->caller_account);
  case FIX_GRANT_ROLE_CONDITION:
    return buf_printf(b,
                      "It lets role %s (any session of it) pull from %s, as far as the role's "
                      "own IAM policies allow it, and no other principal; naming it by "
                      "aws:PrincipalArn keeps it working if the role is deleted and re-created "
                      "with the same name.",
                      c->role_arn, r->repository);
  case FIX_GRANT_OU:
    return buf_printf(b,
                      "It lets every principal of every account in OU %s of organization %s, "
                      "and in the OUs below it, pull from %s, as far as that principal's own "
                      "IAM policies allow it, and nobody outside that OU.",
                      c->ou_id, c->org_id, r->repository);
  case FIX_GRANT_ACCOUNT:
  default:
    return buf_printf(b,
                      "It lets the principals of account %s whose own IAM policies allow "
                      "pulling pull from %s, and nobody in any other account.",
                      r->caller_account, r->repository);
  }
}

/* The IAM names of the identity fix: the inline policy is named after the repository (and
 * its account and region, so two repositories of the same name do not overwrite each other),
 * the import fix's after the cache rule's prefix; a name over IAM's 128 characters takes a
 * hash of the ARN instead. */
static void identity_policy_name(const struct fixctx *c, char *out, size_t size)
{
  const struct fix_request *r = c->r;
  /* The import fix is named after the cache rule's prefix: one policy per rule, whichever
   * repository under it failed first. */
  const char *named = c->ptc ? r->ptc_prefix : r->repository;
  size_t n =
      (size_t)snprintf(out, size, "%s-%s-%s-", c->ptc ? "ecrdiag-ptc-import" : "ecrdiag-pull",
                       r->registry_id, r->region);
  if (n + strlen(named) <= FIX_POLICY_NAME_MAX) {
    for (const char *p = named; *p && n + 1 < size; p++)
      out[n++] = *p == '/' ? '_' : *p;
    out[n] = '\0';
    return;
  }
  char sha[65];
  const char *hashed = c->ptc ? c->ptc_arn : c->repo_arn;
  crypto_sha256_hex(hashed, strlen(hashed), sha);
  snprintf(out + n, size - n, "%.16s", sha);
}

/* The import fix's own sentences: CreateRepository when it was left out, what account A must
 * add across accounts (its registry policy statement, as text to merge), and where the policy
 * of a repository the cache creates comes from. */
static enum err_code ptc_caveat_build(const struct fixctx *c, struct buf *b)
{
  const struct fix_request *r = c->r;
  bool cross = c->caller_account[0] && strcmp(c->caller_account, r->registry_id) != 0;
  enum err_code rc = ERR_OK;
  if (!r->ptc_create_repository)
    rc = buf_printf(b,
                    "Without ecr:CreateRepository the import works only into a repository that "
                    "already exists: while %s does not, build the fix with the repository "
                    "creation too. ",
                    r->repository);
  if (rc == ERR_OK && cross) {
    char principal[FIX_ARN_MAX], sid[64];
    snprintf(principal, sizeof principal, "arn:%s:iam::%s:root", c->partition, c->caller_account);
    snprintf(sid, sizeof sid, "AllowPullThroughCacheImportFrom%s", c->caller_account);
    json_t *acts = ptc_actions_json(r);
    json_t *st =
        acts ? json_pack("{s:s, s:s, s:{s:s}, s:o, s:s}", "Sid", sid, "Effect", "Allow",
                         "Principal", "AWS", principal, "Action", acts, "Resource", c->ptc_arn)
             : NULL;
    char *text = st ? json_dumps(st, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(st);
    if (!text)
      return ERR_NOMEM;
    rc = buf_printf(b,
                    "Across accounts the registry account must allow it too: the private "
                    "registry policy of account %s in %s (V2 scope; get-registry-policy, "
                    "put-registry-policy) needs a statement letting account %s import into "
                    "%s/, merged with the statements already there: %s ",
                    r->registry_id, r->region, c->caller_account, r->ptc_prefix, text);
    free(text);
  }
  if (rc == ERR_OK && (cross || r->ptc_create_repository))
    rc = buf_printf(b,
                    "A repository the cache creates takes its repository policy (and its other "
                    "settings) from the repository creation template for prefix %s%s. ",
                    r->ptc_prefix,
                    cross ? ": across accounts that policy must also let this role pull from it"
                          : "");
  return rc;
}

static enum err_code caveat_build(const struct fixctx *c, const struct policy_fix *f, struct buf *b)
{
  const struct fix_request *r = c->r;
  enum err_code rc = ERR_OK;
  bool identity = r->target == FIX_TARGET_IDENTITY_POLICY;
  if (identity && r->attach_managed)
    rc = buf_printf(b,
                    "%s is an AWS managed policy (its Resource is \"*\", and it also allows "
                    "ecr:BatchImportUpstreamImage for pull through cache); the inline policy "
                    "(without --managed) is limited to this repository. ",
                    MANAGED_PULL_ONLY);
  else if (identity) {
    char name[FIX_POLICY_NAME_MAX + 1];
    identity_policy_name(c, name, sizeof name);
    rc = buf_printf(b,
                    "The inline policy is named %s: put-role-policy replaces an inline policy "
                    "of that name (ecrdiag's own, from an earlier run) and no other. ",
                    name);
  }
  if (rc == ERR_OK && c->ptc)
    rc = ptc_caveat_build(c, b);
  else if (rc == ERR_OK && identity && c->caller_account[0] &&
           strcmp(c->caller_account, r->registry_id) != 0)
    rc = buf_printf(b,
                    "Across accounts both sides must allow: the repository policy of account %s "
                    "must also let this role pull. ",
                    r->registry_id);
  if (rc == ERR_OK && !identity && r->grant == FIX_GRANT_ROLE)
    rc = buf_printf(b,
                    "ECR refuses a repository policy naming a principal that does not exist, so "
                    "role %s must exist when the policy is set. If the role is deleted and "
                    "re-created, IAM has already replaced its ARN in this policy with the old "
                    "role's unique id and the statement stops matching: the role-condition "
                    "grant (Principal \"*\" with ArnEquals aws:PrincipalArn) survives that. ",
                    c->role_arn);
  if (rc == ERR_OK && c->role_derived)
    rc = buf_printf(b,
                    "The role ARN %s was derived from the session ARN, which does not carry the "
                    "role's path: if the role has one (role/PATH/NAME), give its full ARN. ",
                    c->role_arn);
  if (rc == ERR_OK && f->merged_statements > 0)
    rc = buf_printf(b,
                    "To fit ECR's limit of %d characters, %zu statement%s with the same Effect, "
                    "Action and Condition %s merged into others, their principals joined: the "
                    "document grants exactly what the separate statements did. ",
                    POLICYFIX_MAX_DOCUMENT_CHARS, f->merged_statements,
                    f->merged_statements == 1 ? "" : "s",
                    f->merged_statements == 1 ? "was" : "were");
  /* Drop the last space. */
  if (rc == ERR_OK && b->len > 0 && b->p[b->len - 1] == ' ')
    b->p[--b->len] = '\0';
  return rc;
}

/* The merge the script runs on the policy it reads (jq 1.5 or later): the same rules as
 * policyfix_merge, except that only an identical statement (Sid aside) counts as present. */
static const char script_jq[] =
    "  $add[0] as $s\n"
    "  | if ($cur | length) == 0 then {Version: \"2012-10-17\", Statement: [$s]}\n"
    "    elif ($cur[0] | type) != \"object\"\n"
    "    then error(\"the policy is not an object: nothing changed\")\n"
    "    elif ($cur[0].Statement | type) as $t | $t != \"array\" and $t != \"object\"\n"
    "    then error(\"its Statement is not an array or object: nothing changed\")\n"
    "    else $cur[0] | .Statement |= (if type == \"object\" then [.] else . end)\n"
    "      | if any(.Statement[] | objects; del(.Sid) == ($s | del(.Sid))) then empty\n"
    "        else [.Statement[] | objects | .Sid | strings | ascii_downcase] as $taken\n"
    "          | first(($s.Sid), ($s.Sid + (range(2; 10000) | tostring))\n"
    "                  | select(ascii_downcase as $c | $taken | index([$c]) | not)) as $sid\n"
    "          | .Statement += [$s | .Sid = $sid]\n"
    "        end\n"
    "    end";

static enum err_code script_build(const struct fixctx *c, const struct policy_fix *f, struct buf *b)
{
  const struct fix_request *r = c->r;
  char who[FIX_ARN_MAX];
  grant_who(c, who, sizeof who);
  json_t *sid = json_object_get(f->statement, "Sid");
  const char *sid_s = json_is_string(sid) ? json_string_value(sid) : "";
  enum err_code rc = ERR_OK;

  if (f->already_granted) {
    json_t *st = json_object_get(f->document, "Statement");
    json_t *by = json_is_array(st) ? json_array_get(st, (size_t)f->granted_by) : st;
    json_t *by_sid = json_object_get(by, "Sid");
    /* The user's Sid goes into a shell comment: only if it cannot end the line. */
    if (!all_chars(json_string_value(by_sid), LOWER DIGITS UPPER, 1, 128))
      by_sid = NULL;
    return buf_printf(b,
                      "#!/bin/sh\n"
                      "# ecrdiag: nothing to change. Statement[%ld]%s%s%s of the repository\n"
                      "# policy of %s (account %s, %s) already lets\n"
                      "# %s pull, so editing this policy cannot fix the pull.\n"
                      "echo 'the repository policy already grants this pull: nothing to change'\n",
                      f->granted_by, json_is_string(by_sid) ? " (Sid " : "",
                      json_is_string(by_sid) ? json_string_value(by_sid) : "",
                      json_is_string(by_sid) ? ")" : "", r->repository, r->registry_id, r->region,
                      who);
  }

  char *stmt_text = json_dumps(f->statement, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  /* Merged to fit: the script sets ecrdiag's document, which the checksum ties to the policy
   * it was computed from; the append below cannot merge statements. */
  char *doc_text = f->merged_statements > 0 && f->document
                       ? json_dumps(f->document, JSON_INDENT(2) | JSON_PRESERVE_ORDER)
                       : NULL;
  if (!stmt_text || (f->merged_statements > 0 && f->document && !doc_text)) {
    free(stmt_text);
    return ERR_NOMEM;
  }
  rc = buf_printf(b,
                  "#!/bin/sh\n"
                  "# ecrdiag fix: add statement %s to the repository policy of %s\n"
                  "# (account %s, %s) so that %s may pull.\n"
                  "# Run as an identity of account %s allowed ecr:GetRepositoryPolicy and\n"
                  "# ecr:SetRepositoryPolicy. Needs the aws CLI, jq and sha256sum (or shasum).\n"
                  "set -eu\n",
                  sid_s, r->repository, r->registry_id, r->region, who, r->registry_id);
  if (rc == ERR_OK)
    rc = buf_puts(b, "REGISTRY_ID=");
  if (rc == ERR_OK)
    rc = sh_quote(b, r->registry_id);
  if (rc == ERR_OK)
    rc = buf_puts(b, "\nREGION=");
  if (rc == ERR_OK)
    rc = sh_quote(b, r->region);
  if (rc == ERR_OK)
    rc = buf_puts(b, "\nREPOSITORY=");
  if (rc == ERR_OK)
    rc = sh_quote(b, r->repository);
  if (rc == ERR_OK)
    rc = buf_puts(b, "\n# SHA-256 of the policy ecrdiag read (of nothing when there was none);\n"
                     "# empty: ecrdiag could not read it, so whatever is there is merged into.\n"
                     "EXPECTED_SHA256=");
  if (rc == ERR_OK)
    rc = sh_quote(b, f->based_on_sha256 ? f->based_on_sha256 : "");
  if (rc == ERR_OK)
    rc = sh_json_to_work_file(b, "statement.json", "ECRDIAG_STATEMENT", stmt_text);
  if (rc == ERR_OK)
    rc = buf_puts(
        b,
        "\n"
        "# SetRepositoryPolicy replaces the whole document and has no compare-and-set, so read\n"
        "# the current one first, byte for byte: jq -j into a file, as $(...) would strip\n"
        "# trailing newlines and change the checksum.\n"
        "if aws ecr get-repository-policy --registry-id \"$REGISTRY_ID\" \\\n"
        "    --repository-name \"$REPOSITORY\" --region \"$REGION\" --output json \\\n"
        "    >\"$work/get.json\" 2>\"$work/get.err\"; then\n"
        "  jq -j .policyText \"$work/get.json\" >\"$work/current.json\"\n"
        "elif grep -q RepositoryPolicyNotFoundException \"$work/get.err\"; then\n"
        "  : >\"$work/current.json\"\n"
        "else\n"
        "  cat \"$work/get.err\" >&2\n"
        "  echo \"could not read the repository policy of $REPOSITORY: nothing was changed\" >&2\n"
        "  exit 1\n"
        "fi\n"
        "\n");
  if (rc == ERR_OK)
    rc = sh_check_sha256(b, "repository policy");
  if (rc == ERR_OK && doc_text) {
    rc = buf_puts(b, "# The policy is the one ecrdiag read (checked above), and the statements of\n"
                     "# the complete document below were merged to fit ECR's size limit: set it.\n"
                     "cat >\"$work/document.json\" <<'ECRDIAG_DOCUMENT'\n");
    if (rc == ERR_OK)
      rc = buf_puts(b, doc_text);
    if (rc == ERR_OK)
      rc = buf_puts(b, "\nECRDIAG_DOCUMENT\n"
                       "jq -c -j . \"$work/document.json\" >\"$work/new.json\"\n");
  } else if (rc == ERR_OK) {
    rc = buf_puts(b, "# Append to Statement, keeping every other statement and the Version; "
                     "output nothing\n"
                     "# when the statement is already there. Compact, as ECR counts whitespace.\n"
                     "jq -n -c -j --slurpfile cur \"$work/current.json\" \\\n"
                     "    --slurpfile add \"$work/statement.json\" '\n");
    if (rc == ERR_OK)
      rc = buf_puts(b, script_jq);
    if (rc == ERR_OK)
      rc = buf_puts(b, "' >\"$work/new.json\"\n"
                       "if [ ! -s \"$work/new.json\" ]; then\n"
                       "  echo \"the policy of $REPOSITORY already holds the statement: nothing "
                       "to do\"\n"
                       "  exit 0\n"
                       "fi\n");
  }
  if (rc == ERR_OK)
    rc = buf_printf(
        b,
        "chars=$(jq -R -s -j length \"$work/new.json\")\n"
        "if [ \"$chars\" -gt %d ]; then\n"
        "  echo \"the new policy would be $chars characters, over ECR's limit of %d:\" \\\n"
        "    \"nothing was changed; grant the organization or an OU in one statement\" >&2\n"
        "  exit 1\n"
        "fi\n",
        POLICYFIX_MAX_DOCUMENT_CHARS, POLICYFIX_MAX_DOCUMENT_CHARS);
  if (rc == ERR_OK)
    rc = buf_puts(
        b, "\n"
           "if [ -s \"$work/current.json\" ]; then\n"
           "  backup=\"ecr-policy-$REGISTRY_ID-$(printf '%s' \"$REPOSITORY\" | tr / _)\"\n"
           "  backup=\"$PWD/$backup-$(date -u +%Y%m%dT%H%M%SZ).json\"\n"
           "  (set -C; cat \"$work/current.json\" >\"$backup\") # noclobber: keep older backups\n"
           "  echo \"backup of the current policy: $backup\"\n"
           "  undo=\"set-repository-policy --policy-text file://$backup\"\n"
           "else\n"
           "  undo=\"delete-repository-policy\"\n"
           "fi\n"
           "\n"
           "aws ecr set-repository-policy --registry-id \"$REGISTRY_ID\" \\\n"
           "    --repository-name \"$REPOSITORY\" --region \"$REGION\" \\\n"
           "    --policy-text \"file://$work/new.json\" >/dev/null\n"
           "echo \"statement added to the repository policy of $REPOSITORY\"\n"
           "echo \"to undo: aws ecr $undo --registry-id $REGISTRY_ID\" \\\n"
           "    \"--repository-name $REPOSITORY --region $REGION\"\n");
  free(stmt_text);
  free(doc_text);
  return rc;
}

/* A Terraform identifier from s: lower-case letters and digits, every other character '_'. */
static enum err_code tf_name(const char *s, struct buf *b)
{
  enum err_code rc = ERR_OK;
  if (s[0] >= '0' && s[0] <= '9')
    rc = buf_puts(b, "repo_");
  for (const char *p = s; rc == ERR_OK && *p; p++) {
    char ch = pol_lower(*p);
    bool keep = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
    rc = buf_putc(b, keep ? ch : '_');
  }
  return rc;
}

/* The caveat both templates carry when the document is only the new statement. */
static enum err_code put_unknown_caveat(struct buf *b, const struct fix_request *r)
{
  return buf_printf(b,
                    "# CAUTION: ecrdiag could not read the current repository policy, so this\n"
                    "# document holds ONLY the new statement. Applying it would REPLACE the\n"
                    "# existing policy and drop every statement in it: merge the existing\n"
                    "# statements in first (ecrdiag run with a view of account %s prints\n"
                    "# the full document; the aws CLI script merges by itself).\n",
                    r->registry_id);
}

static enum err_code terraform_build(const struct fixctx *c, const struct policy_fix *f,
                                     const char *doc_text, struct buf *b)
{
  const struct fix_request *r = c->r;
  struct buf name;
  buf_init(&name, FIX_SMALL_MAX_BYTES);
  enum err_code rc = tf_name(r->repository, &name);
  if (rc == ERR_OK)
    rc = buf_printf(b, "# ecrdiag fix: the repository policy of %s (account %s, %s).\n",
                    r->repository, r->registry_id, r->region);
  if (rc == ERR_OK)
    rc = f->document ? buf_puts(b, "# The complete document: every existing statement is kept.\n")
                     : put_unknown_caveat(b, r);
  if (rc == ERR_OK)
    rc = buf_printf(
        b,
        "# This resource owns the whole policy: if your configuration already has one for this\n"
        "# repository, put the document there instead of adding a second.\n"
        "# The provider must act in account %s, region %s: add an aliased\n"
        "# provider (provider = aws.<alias>) when your default one is another account's.\n"
        "resource \"aws_ecr_repository_policy\" \"%s\" {\n"
        "  repository = \"%s\"\n"
        "  policy     = <<EOT\n",
        r->registry_id, r->region, buf_str(&name), r->repository);
  if (rc == ERR_OK)
    rc = put_hcl_heredoc(b, doc_text);
  if (rc == ERR_OK)
    rc = buf_puts(b, "\nEOT\n}\n");
  buf_release(&name);
  return rc;
}

static enum err_code cloudformation_build(const struct fixctx *c, const struct policy_fix *f,
                                          const char *doc_text, struct buf *b)
{
  const struct fix_request *r = c->r;
  enum err_code rc = buf_printf(
      b,
      "# ecrdiag fix: the repository policy of %s (account %s, %s).\n"
      "# CloudFormation has no separate repository policy resource: set this property on the\n"
      "# AWS::ECR::Repository resource of the repository (a stack in account %s).\n",
      r->repository, r->registry_id, r->region, r->registry_id);
  if (rc == ERR_OK)
    rc = f->document ? buf_puts(b, "# The complete document: every existing statement is kept.\n")
                     : put_unknown_caveat(b, r);
  /* JSON is YAML: the document goes in as a flow mapping, exactly as the other outputs. */
  if (rc == ERR_OK)
    rc = buf_puts(b, "RepositoryPolicyText:\n");
  if (rc == ERR_OK)
    rc = put_indented(b, doc_text, 2);
  if (rc == ERR_OK)
    rc = buf_putc(b, '\n');
  return rc;
}

/* ---- the identity fix's texts ---------------------------------------------------------- */

static void managed_arn(const struct fixctx *c, char *out, size_t size)
{
  snprintf(out, size, "arn:%s:iam::aws:policy/%s", c->partition, MANAGED_PULL_ONLY);
}

static enum err_code identity_script_build(const struct fixctx *c, const struct policy_fix *f,
                                           const char *doc_text, struct buf *b)
{
  const struct fix_request *r = c->r;
  char pname[FIX_POLICY_NAME_MAX + 1], marn[FIX_ARN_MAX];
  identity_policy_name(c, pname, sizeof pname);
  managed_arn(c, marn, sizeof marn);
  enum err_code rc =
      c->ptc ? buf_printf(b,
                          "#!/bin/sh\n"
                          "# ecrdiag fix: let role %s (account %s) import images through the\n"
                          "# pull-through cache rule %s into %s/... (account %s, %s)\n"
                          "# by adding an inline policy to the role%s.\n"
                          "# Run as an identity of account %s allowed iam:PutRolePolicy on the "
                          "role. Needs the aws CLI.\n"
                          "set -eu\n"
                          "ROLE_NAME=",
                          c->role_name, c->caller_account, r->ptc_prefix, r->ptc_prefix,
                          r->registry_id, r->region,
                          r->ptc_create_repository ? " (which may also create those repositories)"
                                                   : "",
                          c->caller_account)
             : buf_printf(
                   b,
                   "#!/bin/sh\n"
                   "# ecrdiag fix: let role %s (account %s) pull from %s\n"
                   "# (account %s, %s) by %s.\n"
                   "# Run as an identity of account %s allowed iam:%s on the role. Needs the aws "
                   "CLI.\n"
                   "set -eu\n"
                   "ROLE_NAME=",
                   c->role_name, c->caller_account, r->repository, r->registry_id, r->region,
                   r->attach_managed ? "attaching the AWS managed policy " MANAGED_PULL_ONLY
                                     : "adding an inline policy to the role",
                   c->caller_account, r->attach_managed ? "AttachRolePolicy" : "PutRolePolicy");
  if (rc == ERR_OK)
    rc = sh_quote(b, c->role_name);
  if (rc == ERR_OK && r->attach_managed) {
    rc = buf_puts(b, "\nPOLICY_ARN=");
    if (rc == ERR_OK)
      rc = sh_quote(b, marn);
    if (rc == ERR_OK)
      rc = buf_puts(
          b, "\nexport AWS_PAGER=''\n"
             "\n"
             "# Attaching a policy the role already has changes nothing.\n"
             "aws iam attach-role-policy --role-name \"$ROLE_NAME\" --policy-arn \"$POLICY_ARN\"\n"
             "echo \"$POLICY_ARN attached to role $ROLE_NAME\"\n"
             "echo \"to undo: aws iam detach-role-policy --role-name $ROLE_NAME\" \\\n"
             "    \"--policy-arn $POLICY_ARN\"\n");
    return rc;
  }
  if (rc == ERR_OK)
    rc = buf_puts(b, "\nPOLICY_NAME=");
  if (rc == ERR_OK)
    rc = sh_quote(b, pname);
  if (rc == ERR_OK)
    rc = sh_json_to_work_file(b, "policy.json", "ECRDIAG_POLICY", doc_text);
  if (rc == ERR_OK)
    rc = buf_puts(
        b, "\n"
           "# Creates the inline policy, or replaces ecrdiag's own of the same name: running\n"
           "# this twice changes nothing more.\n"
           "aws iam put-role-policy --role-name \"$ROLE_NAME\" --policy-name \"$POLICY_NAME\" \\\n"
           "    --policy-document \"file://$work/policy.json\"\n"
           "echo \"inline policy $POLICY_NAME set on role $ROLE_NAME\"\n"
           "echo \"to undo: aws iam delete-role-policy --role-name $ROLE_NAME\" \\\n"
           "    \"--policy-name $POLICY_NAME\"\n");
  (void)f;
  return rc;
}

static enum err_code identity_terraform_build(const struct fixctx *c, const char *doc_text,
                                              struct buf *b)
{
  const struct fix_request *r = c->r;
  char pname[FIX_POLICY_NAME_MAX + 1], marn[FIX_ARN_MAX];
  identity_policy_name(c, pname, sizeof pname);
  managed_arn(c, marn, sizeof marn);
  struct buf name;
  buf_init(&name, FIX_SMALL_MAX_BYTES);
  enum err_code rc = tf_name(c->ptc              ? r->ptc_prefix
                             : r->attach_managed ? c->role_name
                                                 : r->repository,
                             &name);
  if (rc == ERR_OK && c->ptc)
    rc = buf_printf(b,
                    "# ecrdiag fix: let role %s import images through the pull-through cache\n"
                    "# rule %s into %s/... (account %s, %s).\n",
                    c->role_name, r->ptc_prefix, r->ptc_prefix, r->registry_id, r->region);
  else if (rc == ERR_OK)
    rc = buf_printf(b, "# ecrdiag fix: let role %s pull from %s (account %s, %s).\n", c->role_name,
                    r->repository, r->registry_id, r->region);
  if (rc == ERR_OK)
    rc = buf_printf(b,
                    "# The provider must act in account %s, the role's: add an aliased\n"
                    "# provider (provider = aws.<alias>) when your default one is another "
                    "account's.\n",
                    c->caller_account);
  if (rc == ERR_OK && r->attach_managed)
    rc = buf_printf(b,
                    "resource \"aws_iam_role_policy_attachment\" \"ecrdiag_pull_only_%s\" {\n"
                    "  role       = \"%s\"\n"
                    "  policy_arn = \"%s\"\n"
                    "}\n",
                    buf_str(&name), c->role_name, marn);
  else if (rc == ERR_OK) {
    rc = buf_printf(b,
                    "resource \"aws_iam_role_policy\" \"ecrdiag_%s_%s\" {\n"
                    "  name   = \"%s\"\n"
                    "  role   = \"%s\"\n"
                    "  policy = <<EOT\n",
                    c->ptc ? "ptc_import" : "pull", buf_str(&name), pname, c->role_name);
    if (rc == ERR_OK)
      rc = put_hcl_heredoc(b, doc_text);
    if (rc == ERR_OK)
      rc = buf_puts(b, "\nEOT\n}\n");
  }
  buf_release(&name);
  return rc;
}

static enum err_code identity_cloudformation_build(const struct fixctx *c, const char *doc_text,
                                                   struct buf *b)
{
  const struct fix_request *r = c->r;
  char pname[FIX_POLICY_NAME_MAX + 1], marn[FIX_ARN_MAX];
  identity_policy_name(c, pname, sizeof pname);
  managed_arn(c, marn, sizeof marn);
  enum err_code rc =
      c->ptc
          ? buf_printf(b,
                       "# ecrdiag fix: let role %s import images through the pull-through cache\n"
                       "# rule %s into %s/... (account %s, %s).\n",
                       c->role_name, r->ptc_prefix, r->ptc_prefix, r->registry_id, r->region)
          : buf_printf(b, "# ecrdiag fix: let role %s pull from %s (account %s, %s).\n",
                       c->role_name, r->repository, r->registry_id, r->region);
  if (rc == ERR_OK && r->attach_managed)
    return buf_printf(b,
                      "# CloudFormation has no resource that attaches an AWS managed policy on "
                      "its own: add\n"
                      "# the ARN to the ManagedPolicyArns property of the AWS::IAM::Role "
                      "resource of role\n"
                      "# %s (a stack in account %s), keeping the ARNs already there.\n"
                      "ManagedPolicyArns:\n"
                      "  - \"%s\"\n",
                      c->role_name, c->caller_account, marn);
  if (rc == ERR_OK)
    rc = buf_printf(b,
                    "# A resource for the Resources section of a stack in account %s.\n"
                    "%s:\n"
                    "  Type: AWS::IAM::RolePolicy\n"
                    "  Properties:\n"
                    "    RoleName: \"%s\"\n"
                    "    PolicyName: \"%s\"\n"
                    "    PolicyDocument:\n",
                    c->caller_account, c->ptc ? "EcrdiagPtcImportPolicy" : "EcrdiagPullPolicy",
                    c->role_name, pname);
  if (rc == ERR_OK)
    rc = put_indented(b, doc_text, 6);
  if (rc == ERR_OK)
    rc = buf_putc(b, '\n');
  return rc;
}

/* ---- the exemption's texts ------------------------------------------------------------- */

/* The Deny's Sid when it can go into a shell comment or a sentence as it is (letters and
 * digits, as ECR's console writes them), else NULL. */
static const char *deny_sid(const struct policy_fix *f)
{
  json_t *sid = json_object_get(f->statement, "Sid");
  const char *s = json_string_value(sid);
  return all_chars(s, LOWER UPPER DIGITS, 1, 128) ? s : NULL;
}

/* "Statement[3] (Sid DenyOutsideVpce)" or "Statement[3]". */
static void deny_name(const struct policy_fix *f, char *out, size_t size)
{
  const char *sid = deny_sid(f);
  snprintf(out, size, "Statement[%ld]%s%s%s", f->deny_statement, sid ? " (Sid " : "",
           sid ? sid : "", sid ? ")" : "");
}

/* "the private registry policy of account A (REGION)" or "the repository policy of REPO
 * (account A, REGION)". */
static void exempt_policy_name(const struct fixctx *c, char *out, size_t size)
{
  const struct fix_request *r = c->r;
  if (c->registry)
    snprintf(out, size, "the private registry policy of account %s (%s)", r->registry_id,
             r->region);
  else
    snprintf(out, size, "the repository policy of %s (account %s, %s)", r->repository,
             r->registry_id, r->region);
}

/* Who the exemption takes out of the Deny, in full. */
static void exempt_who(const struct fixctx *c, char *out, size_t size)
{
  const struct fix_request *r = c->r;
  switch (r->grant) {
  case FIX_GRANT_ORG: snprintf(out, size, "the principals of organization %s", r->org_id); break;
  case FIX_GRANT_ROLE:
  case FIX_GRANT_ROLE_CONDITION:
    snprintf(out, size, "role %s (any session of it)", c->role_arn);
    break;
  case FIX_GRANT_OU:
    snprintf(out, size,
             "the principals of the accounts in OU %s of organization %s and in the OUs below it",
             c->ou_id, c->org_id);
    break;
  case FIX_GRANT_ACCOUNT:
  default: snprintf(out, size, "the principals of account %s", r->caller_account); break;
  }
}

static enum err_code exempt_opens_build(const struct fixctx *c, const struct policy_fix *f,
                                        struct buf *b)
{
  char deny[192], policy[FIX_ARN_MAX], who[FIX_ARN_MAX + 128];
  deny_name(f, deny, sizeof deny);
  exempt_policy_name(c, policy, sizeof policy);
  exempt_who(c, who, sizeof who);
  return buf_printf(b,
                    "%s of %s no longer denies %s, and still applies to every other principal "
                    "exactly as before.",
                    deny, policy, who);
}

/* The condition keys of the Deny that do not describe the principal (aws:SourceVpce,
 * aws:SourceIp, a tag), as "k1, k2"; "" when there are none. */
static enum err_code deny_context_keys(const json_t *stmt, struct buf *out)
{
  enum err_code rc = ERR_OK;
  const char *op, *key;
  json_t *block, *v;
  json_object_foreach((json_t *)json_object_get(stmt, "Condition"), op, block)
  {
    json_object_foreach(block, key, v)
    {
      if (rc != ERR_OK || (strlen(key) >= 13 && pol_ieq(key, 13, "aws:principal", 13)) ||
          !all_chars(key, IAM_NAME_CHARS ":/", 1, 128) || strstr(buf_str(out), key))
        continue;
      rc = buf_printf(out, "%s%s", out->len ? ", " : "", key);
    }
  }
  return rc;
}

static enum err_code exempt_caveat_build(const struct fixctx *c, const struct policy_fix *f,
                                         struct buf *b)
{
  const struct fix_request *r = c->r;
  char deny[192];
  deny_name(f, deny, sizeof deny);
  struct buf keys;
  buf_init(&keys, FIX_SMALL_MAX_BYTES);
  enum err_code rc = deny_context_keys(f->statement, &keys);
  if (rc == ERR_OK)
    rc = buf_printf(b,
                    "%s was presumably written on purpose: if it is a deliberate control (a VPC "
                    "endpoint, a source IP range, a tag%s%s), meeting its condition (pulling "
                    "through that endpoint or network, or with that tag) may be the better fix, "
                    "and the exemption should be agreed with whoever owns it. ",
                    deny, keys.len ? "; its condition turns on " : "", buf_str(&keys));
  if (rc == ERR_OK && c->registry)
    rc = buf_printf(b,
                    "The registry policy applies to every repository of registry %s in %s, not "
                    "only %s: the exemption applies to all of them. ",
                    r->registry_id, r->region, r->repository);
  if (rc == ERR_OK && c->role_derived)
    rc = buf_printf(b,
                    "The role ARN %s was derived from the session ARN, which does not carry the "
                    "role's path: if the role has one (role/PATH/NAME), give its full ARN, as "
                    "aws:PrincipalArn compares it exactly. ",
                    c->role_arn);
  if (rc == ERR_OK && b->len > 0 && b->p[b->len - 1] == ' ')
    b->p[--b->len] = '\0';
  buf_release(&keys);
  return rc;
}

/* The script: read the policy (byte for byte), compare its SHA-256 with the one ecrdiag read,
 * back it up, set ecrdiag's document. Both policies are replaced whole and neither API has a
 * compare-and-set, so the checksum is the only guard against overwriting a newer edit. */
static enum err_code exempt_script_build(const struct fixctx *c, const struct policy_fix *f,
                                         const char *doc_text, struct buf *b)
{
  const struct fix_request *r = c->r;
  char deny[192], policy[FIX_ARN_MAX], who[FIX_ARN_MAX];
  deny_name(f, deny, sizeof deny);
  exempt_policy_name(c, policy, sizeof policy);
  grant_who(c, who, sizeof who);
  const char *what = c->registry ? "registry policy" : "repository policy";

  if (f->already_granted)
    return buf_printf(b,
                      "#!/bin/sh\n"
                      "# ecrdiag: nothing to change. %s of\n"
                      "# %s already leaves\n"
                      "# %s out of its Deny.\n"
                      "echo 'the %s already exempts this grant: nothing to change'\n",
                      deny, policy, who, what);

  enum err_code rc = buf_printf(b,
                                "#!/bin/sh\n"
                                "# ecrdiag fix: exempt %s from %s,\n"
                                "# the Deny that refuses the pull, of %s.\n"
                                "# Run as an identity of account %s allowed ecr:%s and\n"
                                "# ecr:%s. Needs the aws CLI, jq and sha256sum (or shasum).\n"
                                "set -eu\n"
                                "REGISTRY_ID=",
                                who, deny, policy, r->registry_id,
                                c->registry ? "GetRegistryPolicy" : "GetRepositoryPolicy",
                                c->registry ? "PutRegistryPolicy" : "SetRepositoryPolicy");
  if (rc == ERR_OK)
    rc = sh_quote(b, r->registry_id);
  if (rc == ERR_OK)
    rc = buf_puts(b, "\nREGION=");
  if (rc == ERR_OK)
    rc = sh_quote(b, r->region);
  if (rc == ERR_OK && !c->registry) {
    rc = buf_puts(b, "\nREPOSITORY=");
    if (rc == ERR_OK)
      rc = sh_quote(b, r->repository);
  }
  if (rc == ERR_OK)
    rc = buf_printf(b,
                    "\n# SHA-256 of the %s ecrdiag read: the document below is that policy\n"
                    "# with one condition added to %s.\n"
                    "EXPECTED_SHA256=",
                    what, deny);
  if (rc == ERR_OK)
    rc = sh_quote(b, f->based_on_sha256 ? f->based_on_sha256 : "");
  if (rc == ERR_OK)
    rc = sh_json_to_work_file(b, "document.json", "ECRDIAG_DOCUMENT", doc_text);
  if (rc == ERR_OK && c->registry)
    rc = buf_puts(
        b, "\n"
           "# GetRegistryPolicy and PutRegistryPolicy act on the caller's own registry: make sure\n"
           "# it is account $REGISTRY_ID's.\n"
           "account=$(aws sts get-caller-identity --query Account --output text)\n"
           "if [ \"$account\" != \"$REGISTRY_ID\" ]; then\n"
           "  echo \"these credentials are account $account's, not $REGISTRY_ID's:\" \\\n"
           "    \"nothing was changed\" >&2\n"
           "  exit 1\n"
           "fi\n"
           "\n"
           "# PutRegistryPolicy replaces the whole document and has no compare-and-set, so read\n"
           "# the current one first, byte for byte: as a JSON string, then jq -j into a file, as\n"
           "# --output text and $(...) would add or strip newlines and change the checksum.\n"
           "if aws ecr get-registry-policy --region \"$REGION\" --query policyText \\\n"
           "    --output json >\"$work/get.json\" 2>\"$work/get.err\"; then\n"
           "  jq -j . \"$work/get.json\" >\"$work/current.json\"\n"
           "else\n"
           "  cat \"$work/get.err\" >&2\n"
           "  echo \"could not read the registry policy of $REGISTRY_ID in $REGION:\" \\\n"
           "    \"nothing was changed\" >&2\n"
           "  exit 1\n"
           "fi\n"
           "\n");
  else if (rc == ERR_OK)
    rc = buf_puts(
        b,
        "\n"
        "# SetRepositoryPolicy replaces the whole document and has no compare-and-set, so read\n"
        "# the current one first, byte for byte: jq -j into a file, as $(...) would strip\n"
        "# trailing newlines and change the checksum.\n"
        "if aws ecr get-repository-policy --registry-id \"$REGISTRY_ID\" \\\n"
        "    --repository-name \"$REPOSITORY\" --region \"$REGION\" --output json \\\n"
        "    >\"$work/get.json\" 2>\"$work/get.err\"; then\n"
        "  jq -j .policyText \"$work/get.json\" >\"$work/current.json\"\n"
        "else\n"
        "  cat \"$work/get.err\" >&2\n"
        "  echo \"could not read the repository policy of $REPOSITORY: nothing was changed\" >&2\n"
        "  exit 1\n"
        "fi\n"
        "\n");
  if (rc == ERR_OK)
    rc = sh_check_sha256(b, what);
  if (rc == ERR_OK)
    rc = buf_printf(
        b,
        "# The policy is the one ecrdiag read (checked above); the document is it with only\n"
        "# %s changed: set it, compact, as ECR counts whitespace.\n"
        "jq -c -j . \"$work/document.json\" >\"$work/new.json\"\n"
        "chars=$(jq -R -s -j length \"$work/new.json\")\n"
        "if [ \"$chars\" -gt %d ]; then\n"
        "  echo \"the new policy would be $chars characters, over ECR's limit of %d:\" \\\n"
        "    \"nothing was changed\" >&2\n"
        "  exit 1\n"
        "fi\n"
        "\n",
        deny, POLICYFIX_MAX_DOCUMENT_CHARS, POLICYFIX_MAX_DOCUMENT_CHARS);
  if (rc == ERR_OK && c->registry)
    rc = buf_printf(
        b,
        "backup=\"$PWD/ecr-registry-policy-$REGISTRY_ID-$REGION-$(date -u +%%Y%%m%%dT%%H%%M%%SZ)"
        ".json\"\n"
        "(set -C; cat \"$work/current.json\" >\"$backup\") # noclobber: keep older backups\n"
        "echo \"backup of the current policy: $backup\"\n"
        "\n"
        "aws ecr put-registry-policy --region \"$REGION\" \\\n"
        "    --policy-text \"file://$work/new.json\" >/dev/null\n"
        "echo \"%s of the registry policy of $REGISTRY_ID in $REGION exempts %s\"\n"
        "echo \"to undo: aws ecr put-registry-policy --region $REGION\" \\\n"
        "    \"--policy-text file://$backup\"\n",
        deny, who);
  else if (rc == ERR_OK)
    rc = buf_printf(
        b,
        "backup=\"ecr-policy-$REGISTRY_ID-$(printf '%%s' \"$REPOSITORY\" | tr / _)\"\n"
        "backup=\"$PWD/$backup-$(date -u +%%Y%%m%%dT%%H%%M%%SZ).json\"\n"
        "(set -C; cat \"$work/current.json\" >\"$backup\") # noclobber: keep older backups\n"
        "echo \"backup of the current policy: $backup\"\n"
        "\n"
        "aws ecr set-repository-policy --registry-id \"$REGISTRY_ID\" \\\n"
        "    --repository-name \"$REPOSITORY\" --region \"$REGION\" \\\n"
        "    --policy-text \"file://$work/new.json\" >/dev/null\n"
        "echo \"%s of the repository policy of $REPOSITORY exempts %s\"\n"
        "echo \"to undo: aws ecr set-repository-policy --policy-text file://$backup\" \\\n"
        "    \"--registry-id $REGISTRY_ID --repository-name $REPOSITORY --region $REGION\"\n",
        deny, who);
  return rc;
}

static enum err_code registry_terraform_build(const struct fixctx *c, const struct policy_fix *f,
                                              const char *doc_text, struct buf *b)
{
  const struct fix_request *r = c->r;
  char deny[192];
  deny_name(f, deny, sizeof deny);
  struct buf name;
  buf_init(&name, FIX_SMALL_MAX_BYTES);
  enum err_code rc = tf_name(r->region, &name);
  if (rc == ERR_OK)
    rc = buf_printf(
        b,
        "# ecrdiag fix: the private registry policy of account %s, region %s.\n"
        "# The complete document: every statement is kept; only %s\n"
        "# gains a condition.\n"
        "# This resource owns the registry policy of the whole region (there is one per registry\n"
        "# and region): if your configuration already has one, put the document there instead\n"
        "# of adding a second.\n"
        "# The provider must act in account %s, region %s: add an aliased\n"
        "# provider (provider = aws.<alias>) when your default one is another account's or\n"
        "# region's.\n"
        "resource \"aws_ecr_registry_policy\" \"registry_%s\" {\n"
        "  policy = <<EOT\n",
        r->registry_id, r->region, deny, r->registry_id, r->region, buf_str(&name));
  if (rc == ERR_OK)
    rc = put_hcl_heredoc(b, doc_text);
  if (rc == ERR_OK)
    rc = buf_puts(b, "\nEOT\n}\n");
  buf_release(&name);
  return rc;
}

/* AWS::ECR::RegistryPolicy has one property, PolicyText (a JSON object or string):
 * https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-ecr-registrypolicy.html
 */
static enum err_code registry_cloudformation_build(const struct fixctx *c,
                                                   const struct policy_fix *f, const char *doc_text,
                                                   struct buf *b)
{
  const struct fix_request *r = c->r;
  char deny[192];
  deny_name(f, deny, sizeof deny);
  enum err_code rc =
      buf_printf(b,
                 "# ecrdiag fix: the private registry policy of account %s, region %s.\n"
                 "# The complete document: every statement is kept; only %s\n"
                 "# gains a condition.\n"
                 "# A resource for the Resources section of a stack in account %s, region %s.\n"
                 "# The registry has one policy per region: if a stack already has an\n"
                 "# AWS::ECR::RegistryPolicy for it, put the document there instead.\n"
                 "EcrdiagRegistryPolicy:\n"
                 "  Type: AWS::ECR::RegistryPolicy\n"
                 "  Properties:\n"
                 "    PolicyText:\n",
                 r->registry_id, r->region, deny, r->registry_id, r->region);
  /* JSON is YAML: the document goes in as a flow mapping, exactly as the other outputs. */
  if (rc == ERR_OK)
    rc = put_indented(b, doc_text, 6);
  if (rc == ERR_OK)
    rc = buf_putc(b, '\n');
  return rc;
}

/* The texts that need the final statement and document. */
static enum err_code texts_build(const struct fixctx *c, struct policy_fix *f)
{
  bool identity = c->r->target == FIX_TARGET_IDENTITY_POLICY;
  enum err_code rc = ERR_OK;
  json_t *shown =
      f->document ? json_incref(f->document)
                  : json_pack("{s:s, s:[O]}", "Version", "2012-10-17", "Statement", f->statement);
  char *doc_text = shown ? json_dumps(shown, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
  struct buf b;
  buf_init(&b, FIX_TEXT_MAX_BYTES);
  if (!doc_text) {
    rc = ERR_NOMEM;
    goto out;
  }
  if ((rc = c->exempt ? exempt_opens_build(c, f, &b) : opens_build(c, &b)) != ERR_OK ||
      !(f->opens = buf_detach(&b)))
    goto out;
  if ((rc = c->exempt ? exempt_caveat_build(c, f, &b) : caveat_build(c, f, &b)) != ERR_OK)
    goto out;
  if (b.len > 0 && !(f->caveat = buf_detach(&b)))
    goto out;
  if ((rc = identity    ? identity_script_build(c, f, doc_text, &b)
            : c->exempt ? exempt_script_build(c, f, doc_text, &b)
                        : script_build(c, f, &b)) != ERR_OK ||
      !(f->aws_cli = buf_detach(&b)))
    goto out;
  if ((rc = identity      ? identity_terraform_build(c, doc_text, &b)
            : c->registry ? registry_terraform_build(c, f, doc_text, &b)
                          : terraform_build(c, f, doc_text, &b)) != ERR_OK ||
      !(f->terraform = buf_detach(&b)))
    goto out;
  if ((rc = identity      ? identity_cloudformation_build(c, doc_text, &b)
            : c->registry ? registry_cloudformation_build(c, f, doc_text, &b)
                          : cloudformation_build(c, f, doc_text, &b)) != ERR_OK ||
      !(f->cloudformation = buf_detach(&b)))
    goto out;
out:
  if (rc == ERR_OK && !f->cloudformation)
    rc = ERR_NOMEM; /* a buf_detach failed */
  buf_release(&b);
  free(doc_text);
  json_decref(shown);
  return rc;
}

/* ---- verification ---------------------------------------------------------------------- */

/* What the identity side is assumed to allow for a cross-account caller, so that the
 * repository policy alone is what verification tests. */
static const char identity_allow_doc[] =
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"ecr:*\","
    "\"Resource\":\"*\"}]}";

#define VERIFY_MAX_PATHS 8
#define VERIFY_NOTE_MAX_BYTES 2048

/* A principal to evaluate as, with its own storage. */
struct vprin {
  struct policy_principal p;
  char arn[FIX_ARN_MAX + 96];
  char role_arn[FIX_ARN_MAX];
  char account[16];
  char path[FIX_ARN_MAX];
  const char *paths[VERIFY_MAX_PATHS];
};

/* An account id for a made-up principal: the first of ids that is neither a nor b. */
static const char *other_account(const char *const *ids, size_t n, const char *a, const char *b)
{
  for (size_t i = 0; i < n; i++)
    if ((!a || strcmp(ids[i], a) != 0) && (!b || strcmp(ids[i], b) != 0))
      return ids[i];
  return ids[0];
}

/* v as a session of role_arn ("arn:P:iam::A:role/PATH/NAME"). */
static void vprin_session(struct vprin *v, const char *role_arn, const char *session)
{
  struct arn_parts a;
  const char *name = "ecrdiag";
  snprintf(v->role_arn, sizeof v->role_arn, "%s", role_arn);
  if (arn_split(role_arn, &a)) {
    const char *slash = strrchr(a.resource, '/');
    name = slash ? slash + 1 : a.resource;
    snprintf(v->account, sizeof v->account, "%s", a.account);
  }
  snprintf(v->arn, sizeof v->arn, "arn:%s:sts::%s:assumed-role/%s/%s", a.partition, v->account,
           name, session);
  v->p.type = POLICY_PRINCIPAL_ASSUMED_ROLE;
  v->p.arn = v->arn;
  v->p.role_arn = v->role_arn;
  v->p.account = v->account;
}

static void vprin_made_up(struct vprin *v, const struct fixctx *c, const char *account,
                          const char *role)
{
  char role_arn[FIX_ARN_MAX];
  snprintf(role_arn, sizeof role_arn, "arn:%s:iam::%s:role/%s", c->partition, account, role);
  vprin_session(v, role_arn, "ecrdiag-verification");
}

/* The caller, as the request describes it (or as the grant implies when it does not). */
static void caller_principal(const struct fixctx *c, struct vprin *v)
{
  const struct fix_request *r = c->r;
  static const char *const spare[] = {"111111111111", "222222222222"};
  memset(v, 0, sizeof *v);
  struct arn_parts a;
  bool parsed = r->principal_arn && arn_split(r->principal_arn, &a) && valid_account(a.account) &&
                strlen(r->principal_arn) < sizeof v->arn;
  const char *name;
  if (parsed && strcmp(a.service, "sts") == 0 && strncmp(a.resource, "assumed-role/", 13) == 0) {
    /* The role: as resolved for the grant, as given, or as the session names it. */
    const char *rn = a.resource + 13, *slash = strchr(rn, '/');
    if (c->role_arn[0] || r->role_arn)
      snprintf(v->role_arn, sizeof v->role_arn, "%s", c->role_arn[0] ? c->role_arn : r->role_arn);
    else
      snprintf(v->role_arn, sizeof v->role_arn, "arn:%s:iam::%s:role/%.*s", a.partition, a.account,
               slash ? (int)(slash - rn) : (int)strlen(rn), rn);
    snprintf(v->arn, sizeof v->arn, "%s", r->principal_arn);
    snprintf(v->account, sizeof v->account, "%s", a.account);
    v->p.type = POLICY_PRINCIPAL_ASSUMED_ROLE;
    v->p.arn = v->arn;
    v->p.role_arn = v->role_arn;
    v->p.account = v->account;
  } else if (parsed && (strcmp(a.service, "iam") == 0 || strcmp(a.service, "sts") == 0) &&
             (strcmp(a.resource, "root") == 0 || strncmp(a.resource, "user/", 5) == 0 ||
              strncmp(a.resource, "federated-user/", 15) == 0)) {
    snprintf(v->arn, sizeof v->arn, "%s", r->principal_arn);
    snprintf(v->account, sizeof v->account, "%s", a.account);
    v->p.type = a.resource[0] == 'r'   ? POLICY_PRINCIPAL_ROOT
                : a.resource[0] == 'u' ? POLICY_PRINCIPAL_USER
                                       : POLICY_PRINCIPAL_FEDERATED_USER;
    v->p.arn = v->arn;
    v->p.account = v->account;
  } else if (c->role_arn[0]) {
    vprin_session(v, c->role_arn, "ecrdiag-verification");
  } else if (parsed && strcmp(a.service, "iam") == 0 && role_resource(a.resource, &name)) {
    vprin_session(v, r->principal_arn, "ecrdiag-verification");
  } else {
    vprin_made_up(v, c,
                  c->caller_account[0] ? c->caller_account
                                       : other_account(spare, NELEM(spare), r->registry_id, NULL),
                  "ecrdiag-verification");
  }
  v->p.org_id = c->org_id[0] ? c->org_id : NULL;
  if (r->n_org_paths > 0) {
    for (size_t i = 0; i < r->n_org_paths && i < VERIFY_MAX_PATHS; i++)
      v->paths[i] = r->org_paths[i];
    v->p.n_org_paths = r->n_org_paths < VERIFY_MAX_PATHS ? r->n_org_paths : VERIFY_MAX_PATHS;
  } else if (c->ou_path[0]) {
    v->paths[0] = c->ou_path;
    v->p.n_org_paths = 1;
  }
  v->p.org_paths = v->p.n_org_paths ? v->paths : NULL;
}

/* Principals the grant must not let in (unless the old document already did). */
enum probe_kind {
  PROBE_OUTSIDER,     /* another account, in no organization */
  PROBE_ORG_SIBLING,  /* another account of the caller's organization, in another OU */
  PROBE_SAME_ACCOUNT, /* another role of the caller's account */
};

static const struct {
  enum probe_kind kind;
  const char *who;
} probes[] = {
    {PROBE_OUTSIDER, "a principal of an account outside the organization"},
    {PROBE_ORG_SIBLING, "a principal of another account of the organization, in another OU"},
    {PROBE_SAME_ACCOUNT, "another role of the caller's account"},
};

static bool probe_expected(enum fix_grant g, enum probe_kind k)
{
  switch (k) {
  case PROBE_ORG_SIBLING: return g == FIX_GRANT_ORG;
  case PROBE_SAME_ACCOUNT: return g == FIX_GRANT_ACCOUNT || g == FIX_GRANT_ORG || g == FIX_GRANT_OU;
  case PROBE_OUTSIDER: break;
  }
  return false;
}

/* Builds probe k from the caller; false when it does not apply (no organization known). */
static bool probe_principal(const struct fixctx *c, const struct vprin *caller, enum probe_kind k,
                            struct vprin *v)
{
  static const char *const strangers[] = {"999999999999", "999999999998", "999999999997"};
  memset(v, 0, sizeof *v);
  const char *reg = c->r->registry_id;
  switch (k) {
  case PROBE_OUTSIDER:
    vprin_made_up(v, c, other_account(strangers, NELEM(strangers), caller->account, reg),
                  "ecrdiag-probe");
    return true;
  case PROBE_ORG_SIBLING: {
    if (!caller->p.org_id)
      return false;
    vprin_made_up(v, c, other_account(strangers, NELEM(strangers), caller->account, reg),
                  "ecrdiag-probe");
    /* The caller's root, if a path says which, and an OU id no real OU can have (its second
     * part is too short), so no grant ecrdiag writes can name it. */
    const char *known = caller->p.n_org_paths ? caller->paths[0] : NULL;
    const char *root = known ? strchr(known, '/') : NULL;
    const char *root_end = root ? strchr(root + 1, '/') : NULL;
    if (root_end)
      snprintf(v->path, sizeof v->path, "%.*s/ou-ecrdiag-probe/", (int)(root_end - known), known);
    else
      snprintf(v->path, sizeof v->path, "%s/r-ecrd/ou-ecrdiag-probe/", caller->p.org_id);
    v->paths[0] = v->path;
    v->p.org_paths = v->paths;
    v->p.n_org_paths = 1;
    v->p.org_id = caller->p.org_id;
    return true;
  }
  case PROBE_SAME_ACCOUNT:
    vprin_made_up(v, c, caller->account, "ecrdiag-probe-other-role");
    v->p.org_id = caller->p.org_id;
    v->p.org_paths = caller->p.org_paths;
    v->p.n_org_paths = caller->p.n_org_paths;
    return true;
  }
  return false;
}

/* One evaluation, with the registry policy (V2 scope: every ECR request) when given; ERR_OK
 * unless the evaluator refuses the request. */
static enum err_code eval_full(const struct vprin *v, const char *action, const char *resource,
                               const struct policy *identity, const struct policy *resource_policy,
                               const struct policy *registry_policy, struct policy_decision *d)
{
  const struct policy *ids[1] = {identity};
  struct policy_request req;
  memset(&req, 0, sizeof req);
  req.principal = v->p;
  req.action = action;
  req.resource = resource;
  req.identity_policies = identity ? ids : NULL;
  req.n_identity_policies = identity ? 1 : 0;
  req.resource_policy = resource_policy;
  req.registry_policy = registry_policy;
  req.registry_scope = POLICY_REGISTRY_V2;
  return policy_evaluate(&req, d, NULL);
}

static enum err_code eval_one(const struct vprin *v, const char *action, const char *resource,
                              const struct policy *identity, const struct policy *resource_policy,
                              struct policy_decision *d)
{
  return eval_full(v, action, resource, identity, resource_policy, NULL, d);
}

/* Why d is not an Allow, in words, appended to note. */
static enum err_code explain_decision(const struct policy_decision *d, const struct policy *p,
                                      struct buf *note)
{
  char slot[64];
  enum err_code rc = buf_puts(note, policy_outcome_name(d->decision));
  if (rc == ERR_OK && d->decision == POLICY_EXPLICIT_DENY && d->n_decisive > 0) {
    const struct policy_decisive *x = &d->decisive[0];
    policy_slot_name(x->slot, true, slot, sizeof slot);
    rc = buf_printf(note, " by %s Statement[%zu]%s%s%s", slot, x->statement, x->sid ? " (Sid " : "",
                    x->sid ? x->sid : "", x->sid ? ")" : "");
    /* A Deny that turns on the network or the request: ecrdiag evaluates offline, without
     * those keys, so the live request may differ. */
    if (rc == ERR_OK && x->slot.kind == POLICY_SLOT_RESOURCE && p && x->statement < p->n_stmts) {
      const struct pstmt *st = &p->stmts[x->statement];
      bool first = true;
      for (uint32_t k = 0; rc == ERR_OK && k < st->n_conds; k++) {
        const char *key = st->conds[k].key_name;
        if (strncmp(st->conds[k].key.p, "aws:principal", 13) == 0)
          continue;
        rc = buf_printf(note, "%s%s", first ? ", whose condition depends on " : ", ", key);
        first = false;
      }
      if (rc == ERR_OK && !first)
        rc = buf_puts(note, " (request context ecrdiag does not have offline)");
    }
  } else if (rc == ERR_OK && d->decision == POLICY_IMPLICIT_DENY) {
    for (size_t i = 0; rc == ERR_OK && i < d->n_missing && i < 3; i++) {
      policy_slot_name(d->missing_allow_in[i], false, slot, sizeof slot);
      rc = buf_printf(note, "%s%s", i ? ", " : ": no Allow in ", slot);
    }
    for (size_t i = 0; rc == ERR_OK && i < d->n_near_misses && i < 1; i++) {
      const struct policy_near_miss *m = &d->near_misses[i];
      if (m->reason == POLICY_MISS_CONDITION)
        rc = buf_printf(note, " (Statement[%zu] does not apply: %s on %s is false)", m->statement,
                        m->cond_operator, m->cond_key);
      else if (m->reason == POLICY_MISS_ACCOUNT_ONLY)
        rc = buf_printf(note,
                        " (Statement[%zu] names only the account, which delegates to "
                        "IAM policies)",
                        m->statement);
    }
  }
  return rc;
}

/* True when v may pull (both required actions) with the repository policy p; a cross-account
 * caller's identity side is taken to allow. On a refusal, explains it into note when given. */
static enum err_code pull_allowed(const struct fixctx *c, const struct vprin *v,
                                  const struct policy *p, const struct policy *allow, bool *ok,
                                  struct buf *note)
{
  bool cross = strcmp(v->account, c->r->registry_id) != 0;
  *ok = true;
  for (size_t i = 0; i < NELEM(pull_required); i++) {
    struct policy_decision d;
    enum err_code rc = eval_one(v, pull_required[i], c->repo_arn, cross ? allow : NULL, p, &d);
    if (rc != ERR_OK)
      return rc;
    if (d.decision == POLICY_ALLOW)
      continue;
    *ok = false;
    if (!note)
      return ERR_OK;
    rc = buf_printf(note, "%s is still refused %s (", v->arn, pull_required[i]);
    if (rc == ERR_OK)
      rc = explain_decision(&d, p, note);
    return rc == ERR_OK ? buf_puts(note, ")") : rc;
  }
  return ERR_OK;
}

/* The first critical lint finding of text, or false when there is none; findings of rule skip
 * (POLICYLINT_RULE_COUNT: none) do not count. */
static enum err_code lint_critical(const char *text, enum policylint_rule skip, char *msg,
                                   size_t size, bool *found)
{
  struct policylint_report rep;
  *found = false;
  enum err_code rc = policylint_run(text, strlen(text), &rep, NULL);
  for (size_t i = 0; rc == ERR_OK && i < rep.n; i++)
    if (rep.findings[i].severity == POLICYLINT_SEV_CRITICAL && rep.findings[i].rule != skip) {
      snprintf(msg, size, "%s (%s)", rep.findings[i].message,
               policylint_rule_info(rep.findings[i].rule)->id);
      *found = true;
      break;
    }
  if (rc == ERR_OK && !*found && rep.truncated && policylint_has_critical(&rep)) {
    snprintf(msg, size, "more findings than lint keeps");
    *found = true;
  }
  policylint_release(&rep);
  return rc;
}

static enum err_code verify_repository(const struct fixctx *c, struct policy_fix *f,
                                       struct buf *note)
{
  const struct fix_request *r = c->r;
  struct policy *newp = NULL, *oldp = NULL, *allow = NULL;
  struct err pe = {0};
  char *text = NULL;
  struct vprin caller, probe;
  enum err_code rc = ERR_OK;
  json_t *doc = f->document
                    ? json_incref(f->document)
                    : json_pack("{s:s, s:[O]}", "Version", "2012-10-17", "Statement", f->statement);
  if (!doc || !(text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER))) {
    rc = ERR_NOMEM;
    goto out;
  }
  if ((rc = policy_parse(identity_allow_doc, strlen(identity_allow_doc), &allow, NULL)) != ERR_OK)
    goto out;
  if (policy_parse(text, strlen(text), &newp, &pe) != ERR_OK) {
    rc = buf_printf(note, "The document does not parse as a policy: %s.", pe.msg);
    goto out;
  }
  /* The old document, for "was this principal let in before?": none when there was none (or
   * when it was not read: then the statement is judged on its own). */
  if (r->current_known && r->current_policy &&
      policy_parse(r->current_policy, strlen(r->current_policy), &oldp, NULL) != ERR_OK)
    oldp = NULL;

  caller_principal(c, &caller);
  bool cross = strcmp(caller.account, r->registry_id) != 0;
  bool ok;
  if ((rc = buf_puts(note, f->document ? ""
                                       : "The statement on its own (the live policy was not "
                                         "read; the script merges into it): ")) != ERR_OK)
    goto out;
  if ((rc = pull_allowed(c, &caller, newp, allow, &ok, note)) != ERR_OK)
    goto out;
  if (!ok) {
    rc = buf_puts(note, ".");
    goto out;
  }

  for (size_t i = 0; i < NELEM(probes); i++) {
    if (r->target == FIX_TARGET_REPOSITORY_POLICY && probe_expected(r->grant, probes[i].kind))
      continue;
    if (!probe_principal(c, &caller, probes[i].kind, &probe))
      continue;
    bool now, before = false;
    if ((rc = pull_allowed(c, &probe, newp, allow, &now, NULL)) != ERR_OK)
      goto out;
    if (!now)
      continue;
    if ((rc = pull_allowed(c, &probe, oldp, allow, &before, NULL)) != ERR_OK)
      goto out;
    if (!before) {
      rc = buf_printf(note, "The document lets %s pull (%s), outside the chosen %s.", probes[i].who,
                      probe.arn, grant_scope(r->grant));
      goto out;
    }
  }

  char msg[POLICYLINT_MSG_MAX + 64];
  bool critical = false, was_critical = false;
  if ((rc = lint_critical(text, POLICYLINT_RULE_COUNT, msg, sizeof msg, &critical)) != ERR_OK)
    goto out;
  if (critical) {
    char old_msg[POLICYLINT_MSG_MAX + 64];
    if (r->current_known && r->current_policy &&
        (rc = lint_critical(r->current_policy, POLICYLINT_RULE_COUNT, old_msg, sizeof old_msg,
                            &was_critical)) != ERR_OK)
      goto out;
    rc = buf_printf(note, "Lint finds a critical problem in the document%s: %s.",
                    was_critical ? " (already in the current policy)" : "", msg);
    goto out;
  }
  f->verified = true;
  rc = buf_printf(note,
                  "Re-evaluated with ecrdiag's evaluator: %s may call ecr:BatchGetImage and "
                  "ecr:GetDownloadUrlForLayer on %s (%s), no principal outside the %s gains "
                  "access, and lint finds nothing critical in the document.",
                  caller.arn, c->repo_arn,
                  cross ? "its own IAM policies assumed to allow them, as they must across "
                          "accounts"
                        : "the repository policy alone, with no IAM policy of its own",
                  grant_scope(r->grant));
out:
  policy_free(newp);
  policy_free(oldp);
  policy_free(allow);
  free(text);
  json_decref(doc);
  return rc;
}

static enum err_code verify_identity(const struct fixctx *c, struct policy_fix *f, struct buf *note)
{
  const struct fix_request *r = c->r;
  struct policy *idp = NULL, *repo = NULL;
  char *text = f->document ? json_dumps(f->document, JSON_COMPACT) : NULL;
  const char *idtext = f->document ? text : managed_pull_only_doc;
  struct err pe = {0};
  enum err_code rc = ERR_OK;
  struct vprin caller;
  caller_principal(c, &caller);
  bool cross = strcmp(caller.account, r->registry_id) != 0;
  if (!idtext) {
    rc = ERR_NOMEM;
    goto out;
  }
  if (policy_parse(idtext, strlen(idtext), &idp, &pe) != ERR_OK) {
    rc = buf_printf(note, "The policy does not parse: %s.", pe.msg);
    goto out;
  }
  if (!r->current_known && cross) {
    rc = buf_printf(note,
                    "Across accounts the repository policy of account %s must "
                    "allow the pull too, and it could not be read.",
                    r->registry_id);
    goto out;
  }
  if (r->current_known && r->current_policy &&
      policy_parse(r->current_policy, strlen(r->current_policy), &repo, &pe) != ERR_OK) {
    rc = buf_printf(note, "The repository policy read does not parse: %s.", pe.msg);
    goto out;
  }
  static const char *const checks[][2] = {
      {"ecr:GetAuthorizationToken", "*"},
      {"ecr:BatchGetImage", NULL},
      {"ecr:GetDownloadUrlForLayer", NULL},
  };
  for (size_t i = 0; i < NELEM(checks); i++) {
    struct policy_decision d;
    const char *res = checks[i][1] ? checks[i][1] : c->repo_arn;
    if ((rc = eval_one(&caller, checks[i][0], res, idp, repo, &d)) != ERR_OK)
      goto out;
    if (d.decision == POLICY_ALLOW)
      continue;
    rc = buf_printf(note, "%s is still refused %s on %s (", caller.arn, checks[i][0], res);
    if (rc == ERR_OK)
      rc = explain_decision(&d, repo, note);
    if (rc == ERR_OK)
      rc = buf_puts(note, ").");
    goto out;
  }
  f->verified = true;
  rc = buf_printf(note,
                  "Re-evaluated with ecrdiag's evaluator: with this %s, %s may call "
                  "ecr:GetAuthorizationToken on \"*\" and ecr:BatchGetImage and "
                  "ecr:GetDownloadUrlForLayer on %s, %s.",
                  r->attach_managed ? "managed policy" : "inline policy", caller.arn, c->repo_arn,
                  !r->current_known    ? "assuming the repository policy (not read) denies "
                                         "nothing"
                  : !r->current_policy ? "with no repository policy"
                  : cross              ? "with the repository policy as read allowing it"
                                       : "with the repository policy as read");
out:
  policy_free(idp);
  policy_free(repo);
  free(text);
  return rc;
}

/* ---- verification: the pull-through cache import ------------------------------------- */

/* What the resource side is assumed to allow when the request crosses accounts, so that the
 * identity document alone decides: a repository policy (no Resource) letting everyone do
 * everything. Never used for a request within one account, where it alone would allow. */
static const char resource_allow_doc[] =
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\","
    "\"Action\":\"ecr:*\"}]}";

/* The decision the identity document idp alone makes on v's request: across accounts the
 * resource side is taken to allow, within one account it is left out. */
static enum err_code ptc_decide(const struct vprin *v, const char *action, const char *resource,
                                const struct policy *idp, const struct policy *allow,
                                struct policy_decision *d)
{
  struct arn_parts a;
  bool cross = arn_split(resource, &a) && strcmp(a.account, v->account) != 0;
  return eval_one(v, action, resource, idp, cross ? allow : NULL, d);
}

/* A probe outside the grant: an action on a resource the import fix must not allow. */
struct ptc_probe {
  const char *action;
  char resource[FIX_ARN_MAX + 64];
};

/* The probes for c: the import actions on repositories outside PREFIX/ (a name that only starts
 * with the prefix, PREFIX/ deeper in the name, the repository named PREFIX, PREFIX/... in
 * another region and in another registry); CreateRepository when not asked for; other
 * actions on the repository itself; the login token. Returns how many were written. */
static size_t ptc_probes(const struct fixctx *c, struct ptc_probe *out, size_t max)
{
  const struct fix_request *r = c->r;
  const char *p = r->ptc_prefix, *part = c->partition;
  const char *other_region = strcmp(r->region, "us-east-1") != 0 ? "us-east-1" : "us-west-2";
  const char *other_registry =
      strcmp(r->registry_id, "999999999999") != 0 ? "999999999999" : "999999999998";
  const char *under = r->repository + strlen(p) + 1; /* the name below PREFIX/ */
  char outside[5][FIX_ARN_MAX + 64];
  snprintf(outside[0], sizeof outside[0], "arn:%s:ecr:%s:%s:repository/%s-ecrdiag-probe/%s", part,
           r->region, r->registry_id, p, under);
  snprintf(outside[1], sizeof outside[1], "arn:%s:ecr:%s:%s:repository/ecrdiag-probe/%s/%s", part,
           r->region, r->registry_id, p, under);
  snprintf(outside[2], sizeof outside[2], "arn:%s:ecr:%s:%s:repository/%s", part, r->region,
           r->registry_id, p);
  snprintf(outside[3], sizeof outside[3], "arn:%s:ecr:%s:%s:repository/%s", part, other_region,
           r->registry_id, r->repository);
  snprintf(outside[4], sizeof outside[4], "arn:%s:ecr:%s:%s:repository/%s", part, r->region,
           other_registry, r->repository);
  static const char *const others[] = {"ecr:BatchGetImage",    "ecr:GetDownloadUrlForLayer",
                                       "ecr:PutImage",         "ecr:BatchDeleteImage",
                                       "ecr:DeleteRepository", "ecr:SetRepositoryPolicy"};
  size_t n = 0;
#define PTC_PROBE(act, res)                                           \
  do {                                                                \
    if (n < max) {                                                    \
      out[n].action = (act);                                          \
      snprintf(out[n].resource, sizeof out[n].resource, "%s", (res)); \
      n++;                                                            \
    }                                                                 \
  } while (0)
  for (size_t k = 0; k < NELEM(outside); k++)
    for (size_t i = 0; i < NELEM(ptc_actions); i++)
      PTC_PROBE(ptc_actions[i], outside[k]);
  if (!r->ptc_create_repository)
    PTC_PROBE("ecr:CreateRepository", c->repo_arn);
  for (size_t i = 0; i < NELEM(others); i++)
    PTC_PROBE(others[i], c->repo_arn);
  PTC_PROBE("ecr:GetAuthorizationToken", "*");
#undef PTC_PROBE
  return n;
}

#define PTC_PROBES_MAX 32

/* The import fix's verification of document: see policyfix_ptc_verify. */
static enum err_code verify_ptc(const struct fixctx *c, const json_t *document, bool *ok,
                                struct buf *note)
{
  const struct fix_request *r = c->r;
  struct policy *idp = NULL, *allow = NULL;
  struct err pe = {0};
  struct vprin caller;
  struct ptc_probe probes_[PTC_PROBES_MAX];
  enum err_code rc = ERR_OK;
  char *text = json_dumps(document, JSON_COMPACT);
  *ok = false;
  caller_principal(c, &caller);
  bool cross = strcmp(caller.account, r->registry_id) != 0;
  if (!text) {
    rc = ERR_NOMEM;
    goto out;
  }
  if ((rc = policy_parse(resource_allow_doc, strlen(resource_allow_doc), &allow, NULL)) != ERR_OK)
    goto out;
  if (policy_parse(text, strlen(text), &idp, &pe) != ERR_OK) {
    rc = buf_printf(note, "The policy does not parse: %s.", pe.msg);
    goto out;
  }
  for (size_t i = 0; i < ptc_n_actions(r); i++) {
    struct policy_decision d;
    if ((rc = ptc_decide(&caller, ptc_actions[i], c->repo_arn, idp, allow, &d)) != ERR_OK)
      goto out;
    if (d.decision == POLICY_ALLOW)
      continue;
    rc =
        buf_printf(note, "%s is still refused %s on %s (", caller.arn, ptc_actions[i], c->repo_arn);
    if (rc == ERR_OK)
      rc = explain_decision(&d, NULL, note);
    if (rc == ERR_OK)
      rc = buf_puts(note, ").");
    goto out;
  }
  size_t n = ptc_probes(c, probes_, NELEM(probes_));
  for (size_t i = 0; i < n; i++) {
    struct policy_decision d;
    if ((rc = ptc_decide(&caller, probes_[i].action, probes_[i].resource, idp, allow, &d)) !=
        ERR_OK)
      goto out;
    if (d.decision != POLICY_ALLOW)
      continue;
    rc = buf_printf(note,
                    "The policy also lets %s call %s on %s: more than the import into the "
                    "repositories under %s/%s.",
                    caller.arn, probes_[i].action, probes_[i].resource, r->ptc_prefix,
                    r->ptc_create_repository ? " and their creation" : "");
    goto out;
  }
  *ok = true;
  rc = buf_printf(note,
                  "Re-evaluated with ecrdiag's evaluator: with this inline policy, %s may call "
                  "%s on %s%s; and %zu requests outside the cache rule (those actions on "
                  "repositories outside %s/ or in another region or registry,%s pulling, "
                  "pushing, deleting, setting the repository policy, the login token) are not "
                  "allowed by it.",
                  caller.arn,
                  r->ptc_create_repository ? "ecr:BatchImportUpstreamImage and ecr:CreateRepository"
                                           : "ecr:BatchImportUpstreamImage",
                  c->repo_arn,
                  cross ? " (the registry account's side assumed to allow, as it must across "
                          "accounts: see the caveat)"
                        : "",
                  n, r->ptc_prefix, r->ptc_create_repository ? "" : " ecr:CreateRepository,");
out:
  policy_free(idp);
  policy_free(allow);
  free(text);
  return rc;
}

/* The policies an exemption is verified with: the policy before and after (repository or
 * registry), the other resource policy (the repository policy for a registry fix, when known),
 * and the identity side assumed to allow, so that the resource side is what is tested. */
struct exempt_eval {
  const struct fixctx *c;
  const struct policy *oldp, *newp, *other, *allow;
};

/* Decides v's request for action on the repository with the old (after false) or the fixed
 * document. */
static enum err_code exempt_decide(const struct exempt_eval *x, const struct vprin *v,
                                   const char *action, bool after, struct policy_decision *d)
{
  const struct policy *p = after ? x->newp : x->oldp;
  if (x->c->registry)
    return eval_full(v, action, x->c->repo_arn, x->allow, x->other, p, d);
  return eval_full(v, action, x->c->repo_arn, x->allow, p, NULL, d);
}

/* True when d is an explicit Deny by Statement[n] of the policy the fix changes. */
static bool denied_by(const struct fixctx *c, const struct policy_decision *d, size_t n)
{
  enum policy_slot_kind kind = c->registry ? POLICY_SLOT_REGISTRY : POLICY_SLOT_RESOURCE;
  if (d->decision != POLICY_EXPLICIT_DENY)
    return false;
  for (size_t i = 0; i < d->n_decisive; i++)
    if (d->decisive[i].slot.kind == kind && d->decisive[i].statement == n)
      return true;
  return false;
}

/* The caller: the fixed document no longer denies it the pull and, unless the other side is
 * unknown (registry fix without the repository policy), allows it. *denied_before: Statement[n]
 * refused it with the old document. */
static enum err_code exempt_verify_caller(const struct exempt_eval *x, const struct vprin *caller,
                                          bool *ok, bool *denied_before, struct buf *note)
{
  const struct fixctx *c = x->c;
  const struct fix_request *r = c->r;
  size_t n = r->deny_statement;
  *ok = false;
  *denied_before = false;
  for (size_t i = 0; i < NELEM(pull_required); i++) {
    struct policy_decision before, after;
    enum err_code rc = exempt_decide(x, caller, pull_required[i], false, &before);
    if (rc == ERR_OK)
      rc = exempt_decide(x, caller, pull_required[i], true, &after);
    if (rc != ERR_OK)
      return rc;
    *denied_before |= denied_by(c, &before, n);
    if (after.decision == POLICY_ALLOW)
      continue;
    /* Only the registry policy is known: a missing Allow is the repository policy's to give. */
    if (c->registry && !r->repository_policy_known && after.decision != POLICY_EXPLICIT_DENY)
      continue;
    rc = buf_printf(note, "%s is still refused %s (", caller->arn, pull_required[i]);
    if (rc == ERR_OK)
      rc = explain_decision(&after, c->registry ? x->other : x->newp, note);
    if (rc == ERR_OK && after.decision == POLICY_EXPLICIT_DENY)
      rc = buf_puts(note, ").");
    else if (rc == ERR_OK && c->registry)
      rc = buf_printf(note,
                      "): Statement[%zu] of the registry policy no longer denies it, but the "
                      "repository policy as given does not grant the pull; build the repository "
                      "policy grant too and pass its document as repository_policy.",
                      n);
    else if (rc == ERR_OK)
      rc = buf_printf(note,
                      "): Statement[%zu] no longer denies it, but the repository policy does not "
                      "grant the pull either; build the grant too, on this document "
                      "(current_policy = it, serialised compactly).",
                      n);
    return rc;
  }
  *ok = true;
  return ERR_OK;
}

/* The principals outside the grant: each one Statement[n] refused before is still refused by
 * it, and none may pull that could not before. *refused counts those refused before; their
 * descriptions go to who. */
static enum err_code exempt_verify_probes(const struct exempt_eval *x, const struct vprin *caller,
                                          bool *ok, size_t *refused, struct buf *who,
                                          struct buf *note)
{
  const struct fixctx *c = x->c;
  size_t n = c->r->deny_statement;
  *ok = false;
  *refused = 0;
  for (size_t k = 0; k < NELEM(probes); k++) {
    struct vprin probe;
    if (probe_expected(c->r->grant, probes[k].kind) ||
        !probe_principal(c, caller, probes[k].kind, &probe))
      continue;
    bool was_refused = false;
    for (size_t i = 0; i < NELEM(pull_required); i++) {
      struct policy_decision before, after;
      enum err_code rc = exempt_decide(x, &probe, pull_required[i], false, &before);
      if (rc == ERR_OK)
        rc = exempt_decide(x, &probe, pull_required[i], true, &after);
      if (rc != ERR_OK)
        return rc;
      if (denied_by(c, &before, n) && !denied_by(c, &after, n))
        return buf_printf(note,
                          "The exemption lets %s (%s) past Statement[%zu], outside the chosen %s: "
                          "it would widen more than the grant.",
                          probes[k].who, probe.arn, n, grant_scope(c->r->grant));
      if (after.decision == POLICY_ALLOW && before.decision != POLICY_ALLOW)
        return buf_printf(note, "The document lets %s pull (%s), outside the chosen %s.",
                          probes[k].who, probe.arn, grant_scope(c->r->grant));
      was_refused |= denied_by(c, &before, n);
    }
    if (was_refused) {
      enum err_code rc = buf_printf(who, "%s%s", who->len ? "; " : "", probes[k].who);
      if (rc != ERR_OK)
        return rc;
      (*refused)++;
    }
  }
  *ok = true;
  return ERR_OK;
}

static enum err_code verify_exemption(const struct fixctx *c, struct policy_fix *f,
                                      struct buf *note)
{
  const struct fix_request *r = c->r;
  struct policy *newp = NULL, *oldp = NULL, *other = NULL, *allow = NULL;
  struct err pe = {0};
  struct buf who;
  buf_init(&who, VERIFY_NOTE_MAX_BYTES);
  char *text = json_dumps(f->document, JSON_COMPACT | JSON_PRESERVE_ORDER);
  enum err_code rc = ERR_OK;
  const char *what = c->registry ? "registry policy" : "repository policy";
  if (!text) {
    rc = ERR_NOMEM;
    goto out;
  }
  if ((rc = policy_parse(identity_allow_doc, strlen(identity_allow_doc), &allow, NULL)) != ERR_OK)
    goto out;
  if (policy_parse(text, strlen(text), &newp, &pe) != ERR_OK) {
    rc = buf_printf(note, "The document does not parse as a policy: %s.", pe.msg);
    goto out;
  }
  if (policy_parse(r->current_policy, strlen(r->current_policy), &oldp, &pe) != ERR_OK) {
    rc = buf_printf(note, "The %s read does not parse: %s.", what, pe.msg);
    goto out;
  }
  if (c->registry && r->repository_policy_known && r->repository_policy &&
      policy_parse(r->repository_policy, strlen(r->repository_policy), &other, &pe) != ERR_OK) {
    rc = buf_printf(note, "The repository policy given does not parse: %s.", pe.msg);
    goto out;
  }
  struct exempt_eval x = {c, oldp, newp, other, allow};
  struct vprin caller;
  caller_principal(c, &caller);
  bool ok, denied_before;
  size_t refused;
  if ((rc = exempt_verify_caller(&x, &caller, &ok, &denied_before, note)) != ERR_OK || !ok)
    goto out;
  if ((rc = exempt_verify_probes(&x, &caller, &ok, &refused, &who, note)) != ERR_OK || !ok)
    goto out;

  /* Lint's rules are the repository policy's. A registry policy must name its repositories in
   * Resource, so resource-element does not apply to it; the others (JSON, grammar, size, an
   * Allow open to every account) do. */
  char msg[POLICYLINT_MSG_MAX + 64];
  bool critical = false, was_critical = false;
  enum policylint_rule skip = c->registry ? POLICYLINT_RESOURCE_ELEMENT : POLICYLINT_RULE_COUNT;
  if ((rc = lint_critical(text, skip, msg, sizeof msg, &critical)) != ERR_OK)
    goto out;
  if (critical) {
    char old_msg[POLICYLINT_MSG_MAX + 64];
    if ((rc = lint_critical(r->current_policy, skip, old_msg, sizeof old_msg, &was_critical)) !=
        ERR_OK)
      goto out;
    rc = buf_printf(note, "Lint finds a critical problem in the document%s: %s.",
                    was_critical ? " (already in the current policy)" : "", msg);
    goto out;
  }

  f->verified = true;
  rc = buf_printf(note,
                  "Re-evaluated with ecrdiag's evaluator, the caller's own IAM policies assumed "
                  "to allow: %s may call ecr:BatchGetImage and ecr:GetDownloadUrlForLayer on %s "
                  "with the fixed %s%s. ",
                  caller.arn, c->repo_arn, what,
                  !c->registry ? ""
                  : !r->repository_policy_known
                      ? " (only that the registry policy no longer denies them was checked: the "
                        "repository policy was not given, and across accounts it must allow the "
                        "pull too)"
                  : r->repository_policy ? " and the repository policy as given"
                                         : " and no repository policy");
  if (rc == ERR_OK && refused > 0)
    rc = buf_printf(note, "Statement[%zu] still refuses %s, as it did before. ", r->deny_statement,
                    buf_str(&who));
  else if (rc == ERR_OK)
    rc = buf_printf(note,
                    "No principal outside the %s that ecrdiag tried was refused by "
                    "Statement[%zu] before, and none gains access. ",
                    grant_scope(r->grant), r->deny_statement);
  if (rc == ERR_OK && !denied_before)
    rc = buf_printf(note,
                    "Offline, Statement[%zu] did not refuse the caller before either: its "
                    "condition may turn on request context ecrdiag does not have. ",
                    r->deny_statement);
  if (rc == ERR_OK)
    rc = buf_printf(note, "Lint finds nothing critical in the document%s.",
                    c->registry ? " (its repository policy rules, resource-element left out: a "
                                  "registry policy names its repositories in Resource)"
                                : "");
out:
  policy_free(newp);
  policy_free(oldp);
  policy_free(other);
  policy_free(allow);
  free(text);
  buf_release(&who);
  return rc;
}

static enum err_code verify(const struct fixctx *c, struct policy_fix *f)
{
  struct buf note;
  buf_init(&note, VERIFY_NOTE_MAX_BYTES);
  f->verified = false;
  enum err_code rc = c->ptc ? verify_ptc(c, f->document, &f->verified, &note)
                     : c->r->target == FIX_TARGET_IDENTITY_POLICY ? verify_identity(c, f, &note)
                     : c->exempt                                  ? verify_exemption(c, f, &note)
                                                                  : verify_repository(c, f, &note);
  if (rc == ERR_TOO_LARGE)
    rc = ERR_OK; /* the note was cut short: what is there still says it */
  if (rc == ERR_OK && !(f->verification = buf_detach(&note)))
    rc = ERR_NOMEM;
  if (rc != ERR_OK)
    f->verified = false;
  buf_release(&note);
  return rc;
}

/* ---- the whole fix --------------------------------------------------------------------- */

static enum err_code identity_build(const struct fixctx *c, struct policy_fix *out)
{
  out->target = "identity_policy";
  out->basis = FIX_BASIS_NONE;
  if (!(out->role_arn = str_dup(c->role_arn)))
    return ERR_NOMEM;
  if (c->ptc) {
    json_t *acts = ptc_actions_json(c->r);
    if (!acts || !(out->ptc_prefix = str_dup(c->r->ptc_prefix))) {
      json_decref(acts);
      return ERR_NOMEM;
    }
    out->document = json_pack("{s:s, s:[{s:s, s:s, s:o, s:s}]}", "Version", "2012-10-17",
                              "Statement", "Sid", "EcrPullThroughCacheImport", "Effect", "Allow",
                              "Action", acts, "Resource", c->ptc_arn);
    if (!out->document)
      return ERR_NOMEM;
    out->statement = json_incref(json_array_get(json_object_get(out->document, "Statement"), 0));
    return ERR_OK;
  }
  if (c->r->attach_managed) {
    json_t *m = json_loads(managed_pull_only_doc, 0, NULL);
    out->statement = json_incref(json_array_get(json_object_get(m, "Statement"), 0));
    json_decref(m);
    return out->statement ? ERR_OK : ERR_NOMEM;
  }
  json_t *acts = actions_json();
  if (!acts)
    return ERR_NOMEM;
  out->document =
      json_pack("{s:s, s:[{s:s, s:s, s:s, s:s}, {s:s, s:s, s:o, s:s}]}", "Version", "2012-10-17",
                "Statement", "Sid", "EcrAuthorizationToken", "Effect", "Allow", "Action",
                "ecr:GetAuthorizationToken", "Resource", "*", "Sid", "EcrPullRepository", "Effect",
                "Allow", "Action", acts, "Resource", c->repo_arn);
  if (!out->document)
    return ERR_NOMEM;
  out->statement = json_incref(json_array_get(json_object_get(out->document, "Statement"), 1));
  return ERR_OK;
}

static enum err_code repository_build(const struct fixctx *c, struct policy_fix *out, struct err *e)
{
  const struct fix_request *req = c->r;
  enum err_code rc = ERR_OK;
  json_t *stmt = statement_build(c);
  if (!stmt)
    return err_set(e, ERR_NOMEM, "out of memory building the fix");
  if ((req->grant == FIX_GRANT_ROLE || req->grant == FIX_GRANT_ROLE_CONDITION) &&
      !(out->role_arn = str_dup(c->role_arn))) {
    rc = err_set(e, ERR_NOMEM, "out of memory building the fix");
    goto out;
  }
  char sha[65];
  if (!req->current_known) {
    out->basis = FIX_BASIS_UNKNOWN;
    out->statement = json_incref(stmt);
    goto out;
  }
  const char *text = req->current_policy ? req->current_policy : "";
  out->basis = req->current_policy ? FIX_BASIS_READ : FIX_BASIS_NONE;
  crypto_sha256_hex(text, strlen(text), sha);
  long carried = -1;
  if ((rc = merge_impl(req->current_policy, stmt, &out->document, &out->granted_by, &carried,
                       &out->merged_statements, e)) != ERR_OK)
    goto out;
  out->already_granted = out->granted_by >= 0;
  if (!(out->based_on_sha256 = str_dup(sha))) {
    rc = err_set(e, ERR_NOMEM, "out of memory building the fix");
    goto out;
  }
  if (out->already_granted) {
    out->statement = json_incref(stmt);
  } else {
    /* The copy in the document: its Sid may have been made unique, or it may have been merged
     * into another statement to fit the size limit. */
    json_t *st = json_object_get(out->document, "Statement");
    out->statement = json_incref(json_array_get(st, (size_t)carried));
  }
out:
  json_decref(stmt);
  return rc;
}

/* The condition that takes exactly the grant out of a Deny: the grant's own condition,
 * negated. ForAllValues:StringNotLike for the OU: true (the Deny applies) when none of the
 * caller's org paths is under the OU, including when it has none, outside any organization;
 * ForAnyValue: would be false then and let every such principal past the Deny. */
static void exemption_condition(const struct fixctx *c, const char **op, const char **key,
                                char *value, size_t size)
{
  const struct fix_request *r = c->r;
  switch (r->grant) {
  case FIX_GRANT_ORG:
    *op = "StringNotEquals";
    *key = "aws:PrincipalOrgID";
    snprintf(value, size, "%s", r->org_id);
    break;
  case FIX_GRANT_ROLE:
  case FIX_GRANT_ROLE_CONDITION:
    *op = "ArnNotEquals";
    *key = "aws:PrincipalArn"; /* the role ARN for every session of the role (reference §3.3) */
    snprintf(value, size, "%s", c->role_arn);
    break;
  case FIX_GRANT_OU:
    *op = "ForAllValues:StringNotLike";
    *key = "aws:PrincipalOrgPaths";
    snprintf(value, size, "%s*", c->ou_path);
    break;
  case FIX_GRANT_ACCOUNT:
  default:
    *op = "StringNotEquals";
    *key = "aws:PrincipalAccount";
    snprintf(value, size, "%s", r->caller_account);
    break;
  }
}

static enum err_code exemption_build(const struct fixctx *c, struct policy_fix *out, struct err *e)
{
  const struct fix_request *req = c->r;
  const char *op, *key, *what = c->registry ? "registry policy" : "repository policy";
  char value[FIX_ARN_MAX + 2], sha[65];
  exemption_condition(c, &op, &key, value, sizeof value);
  out->target = c->registry ? "registry_policy" : "repository_policy";
  out->exempt_from_deny = true;
  out->deny_statement = (long)req->deny_statement;
  out->basis = FIX_BASIS_READ;
  if ((req->grant == FIX_GRANT_ROLE || req->grant == FIX_GRANT_ROLE_CONDITION) &&
      !(out->role_arn = str_dup(c->role_arn)))
    return err_set(e, ERR_NOMEM, "out of memory building the fix");
  bool already = false;
  struct err xe = {0};
  enum err_code rc = policyfix_exempt(req->current_policy, req->deny_statement, op, key, value,
                                      &out->document, &already, &xe);
  if (rc != ERR_OK)
    return err_set(e, rc, "%s: %s", what, xe.msg);
  crypto_sha256_hex(req->current_policy, strlen(req->current_policy), sha);
  if (!(out->based_on_sha256 = str_dup(sha)))
    return err_set(e, ERR_NOMEM, "out of memory building the fix");
  out->already_granted = already;
  out->granted_by = already ? out->deny_statement : -1;
  json_t *st = json_object_get(out->document, "Statement");
  out->statement = json_incref(json_is_array(st) ? json_array_get(st, req->deny_statement) : st);
  return ERR_OK;
}

enum err_code policyfix_build(const struct fix_request *req, struct policy_fix *out, struct err *e)
{
  memset(out, 0, sizeof *out);
  out->target = "repository_policy";
  out->granted_by = -1;
  out->deny_statement = -1;
  if (!req)
    return err_set(e, ERR_INVALID, "no fix request");
  struct fixctx c;
  memset(&c, 0, sizeof c);
  c.r = req;
  enum err_code rc = request_check(&c, e);
  if (rc != ERR_OK)
    return rc;
  out->grant = req->grant;
  if (!(out->arn = str_dup(c.repo_arn))) {
    rc = err_set(e, ERR_NOMEM, "out of memory building the fix");
    goto out;
  }
  if (req->target == FIX_TARGET_IDENTITY_POLICY) {
    if ((rc = identity_build(&c, out)) != ERR_OK) {
      rc = err_set(e, rc, "out of memory building the fix");
      goto out;
    }
  } else if ((rc = c.exempt ? exemption_build(&c, out, e) : repository_build(&c, out, e)) !=
             ERR_OK) {
    goto out;
  }
  if ((rc = texts_build(&c, out)) != ERR_OK) {
    rc = err_set(e, rc, "%s writing the fix's scripts", err_code_str(rc));
    goto out;
  }
  if ((rc = verify(&c, out)) != ERR_OK)
    rc = err_set(e, rc, "%s verifying the fix", err_code_str(rc));
out:
  if (rc != ERR_OK)
    policyfix_release(out);
  return rc;
}

enum err_code policyfix_ptc_verify(const struct fix_request *req, const json_t *document,
                                   bool *verified, char **verification, struct err *e)
{
  *verified = false;
  *verification = NULL;
  if (!req || !req->ptc_prefix || req->target != FIX_TARGET_IDENTITY_POLICY)
    return err_set(e, ERR_INVALID,
                   "the pull-through cache import verification needs an identity fix request "
                   "with ptc_prefix");
  if (!json_is_object(document))
    return err_set(e, ERR_INVALID, "no policy document to verify");
  struct fixctx c;
  memset(&c, 0, sizeof c);
  c.r = req;
  enum err_code rc = request_check(&c, e);
  if (rc != ERR_OK)
    return rc;
  struct buf note;
  buf_init(&note, VERIFY_NOTE_MAX_BYTES);
  rc = verify_ptc(&c, document, verified, &note);
  if (rc == ERR_TOO_LARGE)
    rc = ERR_OK; /* the note was cut short: what is there still says it */
  if (rc == ERR_OK && !(*verification = buf_detach(&note)))
    rc = ERR_NOMEM;
  if (rc != ERR_OK) {
    *verified = false;
    rc = err_set(e, rc, "%s verifying the fix", err_code_str(rc));
  }
  buf_release(&note);
  return rc;
}

void policyfix_release(struct policy_fix *f)
{
  if (!f)
    return;
  free(f->arn);
  json_decref(f->statement);
  json_decref(f->document);
  free(f->based_on_sha256);
  free(f->opens);
  free(f->aws_cli);
  free(f->terraform);
  free(f->cloudformation);
  free(f->role_arn);
  free(f->caveat);
  free(f->verification);
  free(f->ptc_prefix);
  memset(f, 0, sizeof *f);
  f->target = "repository_policy";
  f->granted_by = -1;
  f->deny_statement = -1;
}

json_t *policyfix_to_json(const struct policy_fix *f)
{
  static const char *const basis[] = {"unknown", "none", "read"};
  /* A grant names who a repository or registry policy fix lets in; an identity fix has none. */
  bool repo = f->target && (strcmp(f->target, "repository_policy") == 0 ||
                            strcmp(f->target, "registry_policy") == 0);
  json_t *j = json_pack(
      "{s:s, s:s?, s:s?, s:s?, s:O?, s:O?, s:s?, s:s, s:s?, s:s?, s:b, s:I, s:b, s:s?, s:I, "
      "s:s?, s:s?, s:s?}",
      "target", f->target ? f->target : "repository_policy", "grant",
      repo ? policyfix_grant_name(f->grant) : NULL, "arn", f->arn, "role_arn", f->role_arn,
      "statement", f->statement, "document", f->document, "based_on_sha256", f->based_on_sha256,
      "basis", basis[(unsigned)f->basis < 3 ? f->basis : 0], "opens", f->opens, "caveat", f->caveat,
      "already_granted", f->already_granted, "granted_by", (json_int_t)f->granted_by, "verified",
      f->verified, "verification", f->verification, "merged_statements",
      (json_int_t)f->merged_statements, "aws_cli", f->aws_cli, "terraform", f->terraform,
      "cloudformation", f->cloudformation);
  /* Appended keys: the exemption from a Deny. */
  if (j && (json_object_set_new(j, "exempt_from_deny", json_boolean(f->exempt_from_deny)) != 0 ||
            json_object_set_new(j, "deny_statement",
                                f->exempt_from_deny && f->deny_statement >= 0
                                    ? json_integer((json_int_t)f->deny_statement)
                                    : json_null()) != 0 ||
            /* Appended: the pull-through cache import. */
            json_object_set_new(j, "ptc_prefix",
                                f->ptc_prefix ? json_string(f->ptc_prefix) : json_null()) != 0)) {
    json_decref(j);
    return NULL;
  }
  return j;
}
