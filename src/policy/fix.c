/* The repository policy fix: build the grant statement, merge it into the policy read (never
 * dropping or rewriting a statement of the user's), and render the change as a shell script,
 * Terraform and CloudFormation. Pure: no HTTP, no files; the only knowledge of IAM it needs
 * beyond JSON is the action wildcard matcher of src/policy. */
#include "ecrdiag/policyfix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecrdiag/buf.h"
#include "ecrdiag/crypto.h"
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

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Generated texts: a pretty-printed document of 10,240 compact characters stays far below;
 * an already-granted document is echoed back and may be larger (up to POLICY_MAX_BYTES). */
#define FIX_TEXT_MAX_BYTES (1024 * 1024)
#define FIX_SMALL_MAX_BYTES 4096
/* Sid suffixes tried before giving up: a policy of 10,240 characters cannot hold this many. */
#define FIX_SID_TRIES 10000

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

/* Everything that ends up in a script or a template is checked against the character set AWS
 * allows, so no request can smuggle shell or HCL syntax into them. */
static enum err_code request_check(const struct fix_request *r, struct err *e)
{
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
  switch (r->grant) {
  case FIX_GRANT_ORG:
    if (!valid_org_id(r->org_id))
      return err_set(e, ERR_INVALID,
                     "invalid organization id '%s': expected o- and 10 to 32 lower-case letters "
                     "or digits",
                     r->org_id ? r->org_id : "");
    break;
  case FIX_GRANT_ACCOUNT:
    if (!valid_account(r->caller_account))
      return err_set(e, ERR_INVALID, "invalid account '%s': expected 12 digits",
                     r->caller_account ? r->caller_account : "");
    /* Naming its own account in a repository policy only delegates to IAM (reference §3.2):
     * such a statement would change nothing, so there is no repository policy fix. */
    if (strcmp(r->caller_account, r->registry_id) == 0)
      return err_set(e, ERR_INVALID,
                     "account '%s' owns the repository: granting it in the repository policy "
                     "changes nothing, the puller's IAM policy must allow the pull",
                     r->caller_account);
    break;
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

/* The statement of the grant; a new reference, NULL when out of memory. No Resource:
 * SetRepositoryPolicy rejects one (the repository is implied). */
static json_t *statement_build(const struct fix_request *r, const char *partition)
{
  json_t *acts = actions_json();
  if (!acts)
    return NULL;
  if (r->grant == FIX_GRANT_ORG)
    return json_pack("{s:s, s:s, s:s, s:o, s:{s:{s:s}}}", "Sid", "AllowPullFromOrg", "Effect",
                     "Allow", "Principal", "*", "Action", acts, "Condition", "StringEquals",
                     "aws:PrincipalOrgID", r->org_id);
  char sid[64], arn[128];
  snprintf(sid, sizeof sid, "AllowPullFromAccount%s", r->caller_account);
  snprintf(arn, sizeof arn, "arn:%s:iam::%s:root", partition, r->caller_account);
  return json_pack("{s:s, s:s, s:{s:s}, s:o}", "Sid", sid, "Effect", "Allow", "Principal", "AWS",
                   arn, "Action", acts);
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

/* Characters (UTF-8 code points) of the compact serialisation, the form the script sets. */
static enum err_code document_chars(const json_t *doc, size_t *chars)
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

enum err_code policyfix_merge(const char *current, const json_t *stmt, json_t **document,
                              long *granted_by, struct err *e)
{
  enum err_code rc = ERR_OK;
  json_t *doc = NULL, *add = NULL, *st = NULL, *base = NULL;
  struct buf sid;
  buf_init(&sid, FIX_SMALL_MAX_BYTES);
  *document = NULL;
  *granted_by = -1;
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

check_size:
  if (rc == ERR_OK) {
    size_t chars = 0;
    if ((rc = document_chars(doc, &chars)) != ERR_OK)
      rc = err_set(e, rc, "out of memory measuring the repository policy");
    else if (chars > POLICYFIX_MAX_DOCUMENT_CHARS)
      rc = err_set(e, ERR_TOO_LARGE,
                   "the repository policy with the new statement would be %zu characters, over "
                   "ECR's limit of %d: grant the whole organization (aws:PrincipalOrgID) in one "
                   "statement instead of one statement per account, or remove statements no "
                   "longer needed",
                   chars, POLICYFIX_MAX_DOCUMENT_CHARS);
  }

out:
  json_decref(add);
  buf_release(&sid);
  if (rc != ERR_OK) {
    json_decref(doc);
    *granted_by = -1;
    return rc;
  }
  *document = doc;
  return ERR_OK;
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

/* The statement sentence used in comments: who it lets pull. */
static const char *grant_who(const struct fix_request *r, char *out, size_t n)
{
  if (r->grant == FIX_GRANT_ORG)
    snprintf(out, n, "organization %s", r->org_id);
  else
    snprintf(out, n, "account %s", r->caller_account);
  return out;
}

static enum err_code opens_build(const struct fix_request *r, struct buf *b)
{
  if (r->grant == FIX_GRANT_ORG)
    return buf_printf(b,
                      "It lets every principal of every account in organization %s pull from %s, "
                      "as far as that principal's own IAM policies allow it, and nobody outside "
                      "the organization.",
                      r->org_id, r->repository);
  return buf_printf(b,
                    "It lets the principals of account %s whose own IAM policies allow pulling "
                    "pull from %s, and nobody in any other account.",
                    r->caller_account, r->repository);
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

static enum err_code script_build(const struct fix_request *r, const struct policy_fix *f,
                                  struct buf *b)
{
  char who[64];
  grant_who(r, who, sizeof who);
  json_t *sid = json_object_get(f->statement, "Sid");
  const char *sid_s = json_is_string(sid) ? json_string_value(sid) : "";
  enum err_code rc = ERR_OK;

  if (f->already_granted) {
    json_t *st = json_object_get(f->document, "Statement");
    json_t *by = json_is_array(st) ? json_array_get(st, (size_t)f->granted_by) : st;
    json_t *by_sid = json_object_get(by, "Sid");
    /* The user's Sid goes into a shell comment: only if it cannot end the line. */
    if (!all_chars(json_string_value(by_sid), LOWER DIGITS "ABCDEFGHIJKLMNOPQRSTUVWXYZ", 1, 128))
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
  if (!stmt_text)
    return ERR_NOMEM;
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
    rc = buf_puts(b, "\nexport AWS_PAGER=''\n"
                     "\n"
                     "work=$(mktemp -d)\n"
                     "trap 'rm -rf \"$work\"' EXIT\n"
                     "\n"
                     "# A quoted heredoc: the shell expands nothing inside the JSON.\n"
                     "cat >\"$work/statement.json\" <<'ECRDIAG_STATEMENT'\n");
  if (rc == ERR_OK)
    rc = buf_puts(b, stmt_text);
  if (rc == ERR_OK)
    rc = buf_puts(
        b,
        "\nECRDIAG_STATEMENT\n"
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
        "\n"
        "if command -v sha256sum >/dev/null 2>&1; then\n"
        "  actual=$(sha256sum <\"$work/current.json\" | cut -d ' ' -f 1)\n"
        "else\n"
        "  actual=$(shasum -a 256 <\"$work/current.json\" | cut -d ' ' -f 1)\n"
        "fi\n"
        "if [ -n \"$EXPECTED_SHA256\" ] && [ \"$actual\" != \"$EXPECTED_SHA256\" ]; then\n"
        "  echo \"the repository policy changed since ecrdiag read it (sha256 $actual):\" \\\n"
        "    \"nothing was changed; run ecrdiag again\" >&2\n"
        "  exit 1\n"
        "fi\n"
        "\n"
        "# Append to Statement, keeping every other statement and the Version; output nothing\n"
        "# when the statement is already there. Compact, as ECR counts whitespace.\n"
        "jq -n -c -j --slurpfile cur \"$work/current.json\" \\\n"
        "    --slurpfile add \"$work/statement.json\" '\n");
  if (rc == ERR_OK)
    rc = buf_puts(b, script_jq);
  if (rc == ERR_OK)
    rc = buf_puts(
        b, "' >\"$work/new.json\"\n"
           "if [ ! -s \"$work/new.json\" ]; then\n"
           "  echo \"the policy of $REPOSITORY already holds the statement: nothing to do\"\n"
           "  exit 0\n"
           "fi\n"
           "\n"
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
  return rc;
}

/* The Terraform resource name: the repository's name with every other character as '_'. */
static enum err_code tf_name(const char *repository, struct buf *b)
{
  enum err_code rc = ERR_OK;
  if (repository[0] >= '0' && repository[0] <= '9')
    rc = buf_puts(b, "repo_");
  for (const char *p = repository; rc == ERR_OK && *p; p++) {
    bool keep = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9');
    rc = buf_putc(b, keep ? *p : '_');
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

static enum err_code terraform_build(const struct fix_request *r, const struct policy_fix *f,
                                     const char *doc_text, struct buf *b)
{
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

static enum err_code cloudformation_build(const struct fix_request *r, const struct policy_fix *f,
                                          const char *doc_text, struct buf *b)
{
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

/* The texts that need the final statement and document. */
static enum err_code texts_build(const struct fix_request *r, struct policy_fix *f)
{
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
  if ((rc = opens_build(r, &b)) != ERR_OK || !(f->opens = buf_detach(&b)))
    goto out;
  if ((rc = script_build(r, f, &b)) != ERR_OK || !(f->aws_cli = buf_detach(&b)))
    goto out;
  if ((rc = terraform_build(r, f, doc_text, &b)) != ERR_OK || !(f->terraform = buf_detach(&b)))
    goto out;
  if ((rc = cloudformation_build(r, f, doc_text, &b)) != ERR_OK ||
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

/* ---- the whole fix --------------------------------------------------------------------- */

enum err_code policyfix_build(const struct fix_request *req, struct policy_fix *out, struct err *e)
{
  memset(out, 0, sizeof *out);
  out->target = "repository_policy";
  out->granted_by = -1;
  if (!req)
    return err_set(e, ERR_INVALID, "no fix request");
  enum err_code rc = request_check(req, e);
  if (rc != ERR_OK)
    return rc;
  const char *partition = req->partition ? req->partition : partition_of_region(req->region);
  struct buf arn;
  buf_init(&arn, FIX_SMALL_MAX_BYTES);
  json_t *stmt = NULL;

  if ((rc = buf_printf(&arn, "arn:%s:ecr:%s:%s:repository/%s", partition, req->region,
                       req->registry_id, req->repository)) != ERR_OK ||
      !(out->arn = buf_detach(&arn)) || !(stmt = statement_build(req, partition))) {
    rc = err_set(e, ERR_NOMEM, "out of memory building the fix");
    goto out;
  }

  char sha[65];
  if (!req->current_known) {
    out->basis = FIX_BASIS_UNKNOWN;
    out->statement = json_incref(stmt);
  } else {
    const char *text = req->current_policy ? req->current_policy : "";
    out->basis = req->current_policy ? FIX_BASIS_READ : FIX_BASIS_NONE;
    crypto_sha256_hex(text, strlen(text), sha);
    if ((rc = policyfix_merge(req->current_policy, stmt, &out->document, &out->granted_by, e)) !=
        ERR_OK)
      goto out;
    out->already_granted = out->granted_by >= 0;
    if (!(out->based_on_sha256 = str_dup(sha))) {
      rc = err_set(e, ERR_NOMEM, "out of memory building the fix");
      goto out;
    }
    if (out->already_granted) {
      out->statement = json_incref(stmt);
    } else {
      /* The copy in the document, whose Sid may have been made unique. */
      json_t *st = json_object_get(out->document, "Statement");
      out->statement = json_incref(json_array_get(st, json_array_size(st) - 1));
    }
  }
  if ((rc = texts_build(req, out)) != ERR_OK)
    rc = err_set(e, rc, "%s writing the fix's scripts", err_code_str(rc));

out:
  json_decref(stmt);
  buf_release(&arn);
  if (rc != ERR_OK)
    policyfix_release(out);
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
  memset(f, 0, sizeof *f);
  f->target = "repository_policy";
  f->granted_by = -1;
}
