/* The exemption from an explicit Deny, on its own: one condition added to one Deny statement of
 * a repository or registry policy, which leaves exactly the grant out of the Deny; every other
 * statement, condition and key kept as read. The rest of the fix (request, texts,
 * verification) is in fix.c. Pure: depends on core, jansson and src/policy only. */
#include "ecrdiag/policyfix.h"

#include <stdlib.h>
#include <string.h>

#include "ecrdiag/policy.h"
#include "policy_int.h"

/* True when op is a negated condition operator that a missing key makes true, with no set
 * prefix or ForAllValues: (reference §5.1, §5.8). Only those may carry an exemption: with a
 * negated operator the values of one key combine as NOR (reference §5.7), so the Deny applies
 * only when the request's value matches none of them, and each value added takes out exactly
 * the requests that match it. A positive operator (StringEquals) would OR the values and widen
 * the Deny instead; ForAnyValue: is false on a missing key, so it would take every principal
 * outside an organization out of the Deny as well. */
static bool exemption_operator(const char *op)
{
  size_t n = strlen(op);
  static const char any[] = "ForAnyValue:", all[] = "ForAllValues:";
  if (n >= sizeof any - 1 && pol_ieq(op, sizeof any - 1, any, sizeof any - 1))
    return false;
  if (n >= sizeof all - 1 && pol_ieq(op, sizeof all - 1, all, sizeof all - 1)) {
    op += sizeof all - 1;
    n -= sizeof all - 1;
  }
  for (size_t i = 0; i + 3 <= n; i++)
    if (pol_ieq(op + i, 3, "not", 3))
      return true; /* StringNot..., ArnNot..., NumericNotEquals, DateNotEquals, NotIpAddress */
  return false;
}

/* The member of obj whose name equals name case-insensitively (IAM compares condition keys and
 * operators that way), or NULL; *found_name is its name as written. */
static json_t *member_icase(json_t *obj, const char *name, const char **found_name)
{
  const char *k;
  json_t *v;
  json_object_foreach(obj, k, v)
  {
    if (pol_ieq(k, strlen(k), name, strlen(name))) {
      *found_name = k;
      return v;
    }
  }
  return NULL;
}

/* True when the condition value have (one scalar or an array of them) holds the string v. */
static bool value_listed(const json_t *have, const char *v)
{
  if (json_is_string(have))
    return strcmp(json_string_value(have), v) == 0;
  size_t i;
  json_t *x;
  json_array_foreach(have, i, x)
  {
    if (json_is_string(x) && strcmp(json_string_value(x), v) == 0)
      return true;
  }
  return false;
}

/* Adds op {key: [value]} to the Condition of stmt, or value to the key's values when op and
 * key are already there; *already when value is listed. -1 when out of memory, -2 when an
 * element is not an object (policy_parse refuses such a document before this runs). */
static int condition_add(json_t *stmt, const char *op, const char *key, const char *value,
                         bool *already)
{
  *already = false;
  json_t *cond = json_object_get(stmt, "Condition");
  if (!cond)
    return json_object_set_new(stmt, "Condition", json_pack("{s:{s:[s]}}", op, key, value));
  if (!json_is_object(cond))
    return -2;
  const char *name = NULL;
  json_t *block = member_icase(cond, op, &name);
  if (!block)
    return json_object_set_new(cond, op, json_pack("{s:[s]}", key, value));
  if (!json_is_object(block))
    return -2;
  json_t *have = member_icase(block, key, &name);
  if (!have)
    return json_object_set_new(block, key, json_pack("[s]", value));
  if (value_listed(have, value)) {
    *already = true;
    return 0;
  }
  if (json_is_array(have))
    return json_array_append_new(have, json_string(value));
  /* One scalar becomes a list of two. Setting an existing member keeps its place. */
  return json_object_set_new(block, name, json_pack("[O, s]", have, value));
}

/* Reads the policy text: JSON without repeated keys (rewriting such a document would drop what
 * jansson did not keep) that the policy parser accepts, so its messages name what is wrong. */
static enum err_code exempt_read(const char *text, json_t **out, struct err *e)
{
  static const char why[] = "ecrdiag does not overwrite a policy it cannot read";
  size_t n = strlen(text);
  if (n > POLICY_MAX_BYTES)
    return err_set(e, ERR_TOO_LARGE, "the policy read is over %d bytes", POLICY_MAX_BYTES);
  json_error_t je;
  json_t *doc = json_loadb(text, n, JSON_REJECT_DUPLICATES, &je);
  if (!doc)
    return err_set(e, ERR_PARSE, "the policy read is not JSON (line %d, column %d: %s); %s",
                   je.line, je.column, je.text, why);
  struct policy *p = NULL;
  struct err pe = {0};
  if (!json_is_object(doc) || policy_parse_json(doc, &p, &pe) != ERR_OK) {
    json_decref(doc);
    return err_set(e, ERR_PARSE, "the policy read is not a policy document (%s); %s",
                   pe.msg[0] ? pe.msg : "not a JSON object", why);
  }
  policy_free(p);
  *out = doc;
  return ERR_OK;
}

enum err_code policyfix_exempt(const char *current, size_t deny_statement, const char *op,
                               const char *key, const char *value, json_t **document, bool *already,
                               struct err *e)
{
  if (!document || !already)
    return err_set(e, ERR_INVALID, "policyfix_exempt needs somewhere to put the document");
  *document = NULL;
  *already = false;
  if (!current || !op || !key || !value)
    return err_set(e, ERR_INVALID,
                   "the exemption needs the policy text read, an operator, a key "
                   "and a value");
  if (!exemption_operator(op))
    return err_set(e, ERR_INVALID,
                   "condition operator '%.100s' cannot exempt from a Deny: only a negated "
                   "operator (StringNotEquals, ArnNotEquals, ForAllValues:StringNotLike...) "
                   "leaves out exactly what its values match",
                   op);
  json_t *doc = NULL;
  enum err_code rc = exempt_read(current, &doc, e);
  if (rc != ERR_OK)
    return rc;

  json_t *st = json_object_get(doc, "Statement");
  size_t count = json_is_array(st) ? json_array_size(st) : 1;
  json_t *stmt = json_is_array(st) ? json_array_get(st, deny_statement) : st;
  if (deny_statement >= count) {
    rc = err_set(e, ERR_INVALID,
                 "Statement[%zu] is out of range: the policy has %zu statement%s (indexes from 0)",
                 deny_statement, count, count == 1 ? "" : "s");
    goto out;
  }
  json_t *effect = json_object_get(stmt, "Effect");
  if (!json_is_string(effect) || strcmp(json_string_value(effect), "Deny") != 0) {
    json_t *sid = json_object_get(stmt, "Sid");
    rc = err_set(e, ERR_INVALID,
                 "Statement[%zu]%s%.100s%s is an %s, not a Deny: only the Deny that refuses the "
                 "pull can be given an exemption",
                 deny_statement, json_is_string(sid) ? " (Sid " : "",
                 json_is_string(sid) ? json_string_value(sid) : "", json_is_string(sid) ? ")" : "",
                 json_is_string(effect) ? json_string_value(effect) : "statement without Effect");
    goto out;
  }

  int added = condition_add(stmt, op, key, value, already);
  if (added == -2) {
    rc = err_set(e, ERR_PARSE, "Statement[%zu].Condition is not an object of objects",
                 deny_statement);
    goto out;
  }
  if (added != 0) {
    rc = err_set(e, ERR_NOMEM, "out of memory adding the exemption");
    goto out;
  }
  size_t chars = 0;
  if (!*already && (rc = pol_document_chars(doc, &chars)) != ERR_OK) {
    rc = err_set(e, rc, "out of memory measuring the policy");
    goto out;
  }
  if (chars > POLICYFIX_MAX_DOCUMENT_CHARS)
    rc = err_set(e, ERR_TOO_LARGE,
                 "the policy with the exemption would be %zu characters, over ECR's limit of %d: "
                 "remove statements no longer needed, or meet the Deny's condition instead",
                 chars, POLICYFIX_MAX_DOCUMENT_CHARS);
out:
  if (rc != ERR_OK) {
    json_decref(doc);
    *already = false;
    return rc;
  }
  *document = doc;
  return ERR_OK;
}
