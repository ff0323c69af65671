/* The `ecrdiag policy eval` request format read into a struct policy_request: principal,
 * action, resource, context and every policy slot, each checked with a message that names
 * the field at fault. The format is public and fixed (issue 4); depends on core, jansson. */
#include "policy_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecrdiag/buf.h"

struct policy_request_doc_store {
  json_t *root;  /* the request; its strings are borrowed by req */
  void **allocs; /* everything else the request points to */
  size_t n_allocs, cap_allocs;
  struct policy **policies;
  size_t n_policies, cap_policies;
};

static bool grow(void ***arr, size_t *cap, size_t n)
{
  if (n < *cap)
    return true;
  size_t nc = *cap ? *cap * 2 : 16;
  void **p = realloc(*arr, nc * sizeof *p);
  if (!p)
    return false;
  *arr = p;
  *cap = nc;
  return true;
}

static void *st_alloc(struct policy_request_doc_store *st, size_t n)
{
  if (!grow(&st->allocs, &st->cap_allocs, st->n_allocs))
    return NULL;
  void *p = calloc(1, n ? n : 1);
  if (p)
    st->allocs[st->n_allocs++] = p;
  return p;
}

static char *st_strndup(struct policy_request_doc_store *st, const char *s, size_t n)
{
  char *d = st_alloc(st, n + 1);
  if (d)
    memcpy(d, s, n);
  return d;
}

void policy_request_doc_free(struct policy_request_doc *doc)
{
  if (!doc)
    return;
  struct policy_request_doc_store *st = doc->store;
  if (st) {
    for (size_t i = 0; i < st->n_allocs; i++)
      free(st->allocs[i]);
    free(st->allocs);
    for (size_t i = 0; i < st->n_policies; i++)
      policy_free(st->policies[i]);
    free(st->policies);
    json_decref(st->root);
    free(st);
  }
  free(doc);
}

/* What a slot's policies must look like (IAM refuses documents that break these). */
enum slot_rule { RULE_IDENTITY, RULE_RESOURCE };

static enum err_code check_shape(const struct policy *p, enum slot_rule rule, const char *name,
                                 struct err *e)
{
  for (uint32_t i = 0; i < p->n_stmts; i++) {
    const struct pstmt *s = &p->stmts[i];
    if (rule == RULE_IDENTITY && s->prin_mode != PMODE_NONE)
      return err_set(e, ERR_PARSE,
                     "%s: Statement[%u] has a Principal or NotPrincipal, which only "
                     "resource-based policies take",
                     name, i);
    if (rule == RULE_IDENTITY && s->res_mode == PMODE_NONE)
      return err_set(e, ERR_PARSE,
                     "%s: Statement[%u] has no Resource or NotResource (IAM refuses such a "
                     "document)",
                     name, i);
    if (rule == RULE_RESOURCE && s->prin_mode == PMODE_NONE)
      return err_set(e, ERR_PARSE,
                     "%s: Statement[%u] has no Principal or NotPrincipal (a resource-based "
                     "policy must name who it applies to)",
                     name, i);
  }
  return ERR_OK;
}

static enum err_code load_policy(struct policy_request_doc_store *st, const json_t *v,
                                 enum slot_rule rule, size_t max_chars, const char *name,
                                 const struct policy **out, struct err *e)
{
  struct err pe;
  err_clear(&pe);
  struct policy *p = NULL;
  enum err_code rc;
  json_t *owned = NULL;
  if (json_is_string(v)) {
    /* Policy text in a string, as GetRepositoryPolicy returns policyText. */
    size_t n = json_string_length(v);
    if (n > max_chars)
      return err_set(e, ERR_TOO_LARGE, "%s: the policy is %zu characters, over the limit of %zu",
                     name, n, max_chars);
    json_error_t jerr;
    owned = json_loadb(json_string_value(v), n, JSON_REJECT_DUPLICATES, &jerr);
    if (!owned)
      return err_set(e, ERR_PARSE, "%s: line %d, column %d: %s", name, jerr.line, jerr.column,
                     jerr.text);
    v = owned;
  } else if (!json_is_object(v)) {
    return err_set(e, ERR_PARSE, "%s must be a policy document (an object) or null", name);
  } else {
    char *text = json_dumps(v, JSON_COMPACT);
    if (!text)
      return err_set(e, ERR_NOMEM, "out of memory measuring %s", name);
    size_t n = strlen(text);
    free(text);
    if (n > max_chars)
      return err_set(e, ERR_TOO_LARGE,
                     "%s: the policy is %zu characters without whitespace, over the limit of "
                     "%zu",
                     name, n, max_chars);
  }
  rc = policy_parse_json(v, &p, &pe);
  json_decref(owned);
  if (rc)
    return err_set(e, rc, "%s: %s", name, pe.msg);
  if (!grow((void ***)&st->policies, &st->cap_policies, st->n_policies)) {
    policy_free(p);
    return err_set(e, ERR_NOMEM, "out of memory reading %s", name);
  }
  st->policies[st->n_policies++] = p;
  *out = p;
  return check_shape(p, rule, name, e);
}

static enum err_code load_policy_list(struct policy_request_doc_store *st, const json_t *v,
                                      enum slot_rule rule, const char *name,
                                      const struct policy *const **out, size_t *n_out,
                                      struct err *e)
{
  *out = NULL;
  *n_out = 0;
  if (!v || json_is_null(v))
    return ERR_OK;
  if (!json_is_array(v))
    return err_set(e, ERR_PARSE, "%s must be an array of policy documents or null", name);
  size_t n = json_array_size(v);
  if (n > POLICY_MAX_STATEMENTS)
    return err_set(e, ERR_TOO_LARGE, "%s has more than %d policies", name, POLICY_MAX_STATEMENTS);
  const struct policy **arr = st_alloc(st, n * sizeof *arr);
  if (!arr)
    return err_set(e, ERR_NOMEM, "out of memory reading %s", name);
  for (size_t i = 0; i < n; i++) {
    char item[64];
    snprintf(item, sizeof item, "%s[%zu]", name, i);
    enum err_code rc =
        load_policy(st, json_array_get(v, i), rule, POLICY_MAX_BYTES, item, &arr[i], e);
    if (rc)
      return rc;
  }
  *out = arr;
  *n_out = n;
  return ERR_OK;
}

/* scps/rcps: a list of levels (root first), or a flat list read as one level. */
static enum err_code load_levels(struct policy_request_doc_store *st, const json_t *v,
                                 enum slot_rule rule, const char *name,
                                 const struct policy_level **out, size_t *n_out, struct err *e)
{
  *out = NULL;
  *n_out = 0;
  if (!v || json_is_null(v))
    return ERR_OK;
  if (!json_is_array(v))
    return err_set(e, ERR_PARSE, "%s must be an array (of levels, root first) or null", name);
  size_t n = json_array_size(v);
  size_t arrays = 0;
  for (size_t i = 0; i < n; i++)
    arrays += json_is_array(json_array_get(v, i));
  if (arrays != 0 && arrays != n)
    return err_set(e, ERR_PARSE,
                   "%s mixes levels (arrays) and policies: use one array per level, root "
                   "first, or a flat list for a single level",
                   name);
  size_t levels = arrays ? n : (n ? 1 : 0);
  if (levels > POLICY_MAX_SCP_LEVELS)
    return err_set(e, ERR_TOO_LARGE, "%s has %zu levels, over the limit of %d", name, levels,
                   POLICY_MAX_SCP_LEVELS);
  struct policy_level *lv = st_alloc(st, levels * sizeof *lv);
  if (!lv)
    return err_set(e, ERR_NOMEM, "out of memory reading %s", name);
  for (size_t l = 0; l < levels; l++) {
    char item[64];
    snprintf(item, sizeof item, "%s[%zu]", name, l);
    const json_t *list = arrays ? json_array_get(v, l) : v;
    enum err_code rc = load_policy_list(st, list, rule, item, &lv[l].policies, &lv[l].n, e);
    if (rc)
      return rc;
  }
  *out = lv;
  *n_out = levels;
  return ERR_OK;
}

static bool digits12(const char *s)
{
  size_t n = strlen(s);
  if (n != 12)
    return false;
  for (size_t i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9')
      return false;
  return true;
}

/* Field `i` (0-based) of an ARN, as a view; empty when absent. */
static struct sv arn_part(const char *arn, int field)
{
  const char *p = arn;
  for (int i = 0; i < field; i++) {
    p = strchr(p, ':');
    if (!p)
      return (struct sv){"", 0};
    p++;
  }
  if (field == 5)
    return sv_from(p);
  const char *end = strchr(p, ':');
  return (struct sv){p, end ? (size_t)(end - p) : strlen(p)};
}

static const char *opt_string(const json_t *o, const char *key, bool *bad)
{
  const json_t *v = json_object_get(o, key);
  if (!v || json_is_null(v))
    return NULL;
  if (!json_is_string(v)) {
    *bad = true;
    return NULL;
  }
  return json_string_value(v);
}

static enum err_code load_principal(struct policy_request_doc_store *st, const json_t *v,
                                    struct policy_principal *p, struct err *e)
{
  if (!json_is_object(v))
    return err_set(e, ERR_PARSE, "principal must be an object with at least \"type\" and \"arn\"");
  static const char *const known[] = {
      "type", "arn", "account", "role_arn", "org_id", "org_paths", "org_management_account",
      "tags"};
  const char *k;
  const json_t *val;
  json_object_foreach((json_t *)v, k, val)
  {
    bool ok = k[0] == '_';
    for (size_t i = 0; i < sizeof known / sizeof known[0] && !ok; i++)
      ok = strcmp(k, known[i]) == 0;
    if (!ok)
      return err_set(e, ERR_PARSE, "principal has an unknown field \"%.60s\"", k);
  }
  bool bad = false;
  const char *type = opt_string(v, "type", &bad);
  if (bad || !type)
    return err_set(e, ERR_PARSE,
                   "principal.type must be one of \"User\", \"AssumedRole\", \"FederatedUser\", "
                   "\"Root\"");
  if (!strcmp(type, "User"))
    p->type = POLICY_PRINCIPAL_USER;
  else if (!strcmp(type, "AssumedRole"))
    p->type = POLICY_PRINCIPAL_ASSUMED_ROLE;
  else if (!strcmp(type, "FederatedUser"))
    p->type = POLICY_PRINCIPAL_FEDERATED_USER;
  else if (!strcmp(type, "Root") || !strcmp(type, "Account"))
    p->type = POLICY_PRINCIPAL_ROOT;
  else
    return err_set(e, ERR_PARSE,
                   "principal.type \"%.40s\" is not one of \"User\", \"AssumedRole\", "
                   "\"FederatedUser\", \"Root\"",
                   type);
  p->arn = opt_string(v, "arn", &bad);
  p->account = opt_string(v, "account", &bad);
  p->role_arn = opt_string(v, "role_arn", &bad);
  p->org_id = opt_string(v, "org_id", &bad);
  if (bad)
    return err_set(e, ERR_PARSE,
                   "principal.arn, account, role_arn and org_id must be strings (or null)");
  if (p->account && !digits12(p->account))
    return err_set(e, ERR_PARSE, "principal.account \"%.40s\" is not a 12-digit account id",
                   p->account);
  if (!p->arn && p->type == POLICY_PRINCIPAL_ROOT && p->account) {
    struct buf b;
    buf_init(&b, 64);
    if (buf_printf(&b, "arn:aws:iam::%s:root", p->account)) {
      buf_release(&b);
      return err_set(e, ERR_NOMEM, "out of memory");
    }
    p->arn = st_strndup(st, buf_str(&b), b.len);
    buf_release(&b);
    if (!p->arn)
      return err_set(e, ERR_NOMEM, "out of memory");
  }
  if (!p->arn)
    return err_set(e, ERR_PARSE, "principal.arn is missing");
  struct sv svc = arn_part(p->arn, 2), acct = arn_part(p->arn, 4), res = arn_part(p->arn, 5);
  const char *want = NULL;
  bool shape_ok = false;
  switch (p->type) {
  case POLICY_PRINCIPAL_USER:
    want = "arn:aws:iam::ACCOUNT:user/NAME";
    shape_ok = sv_eq(svc, "iam") && sv_starts_with(res, "user/");
    break;
  case POLICY_PRINCIPAL_ASSUMED_ROLE:
    want = "arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION";
    shape_ok = sv_eq(svc, "sts") && sv_starts_with(res, "assumed-role/") &&
               memchr(res.p + 13, '/', res.n - 13) != NULL;
    break;
  case POLICY_PRINCIPAL_FEDERATED_USER:
    want = "arn:aws:sts::ACCOUNT:federated-user/NAME";
    shape_ok = sv_eq(svc, "sts") && sv_starts_with(res, "federated-user/");
    break;
  case POLICY_PRINCIPAL_ROOT:
    want = "arn:aws:iam::ACCOUNT:root";
    shape_ok = sv_eq(svc, "iam") && sv_eq(res, "root");
    break;
  }
  if (strncmp(p->arn, "arn:", 4) != 0 || !shape_ok || acct.n != 12)
    return err_set(e, ERR_PARSE, "principal.arn \"%.200s\" is not a %s ARN of the form %s", p->arn,
                   type, want);
  if (!p->account) {
    char *a = st_strndup(st, acct.p, acct.n);
    if (!a)
      return err_set(e, ERR_NOMEM, "out of memory");
    p->account = a;
  } else if (acct.n != strlen(p->account) || memcmp(acct.p, p->account, acct.n) != 0) {
    return err_set(e, ERR_PARSE,
                   "principal.account %s does not match the account in principal.arn (%.12s)",
                   p->account, acct.p);
  }
  if (p->type == POLICY_PRINCIPAL_ASSUMED_ROLE && !p->role_arn) {
    /* arn:P:sts::A:assumed-role/NAME/SESSION -> arn:P:iam::A:role/NAME (the role's path is
     * not in the session ARN: pass role_arn when the role has one). */
    struct sv part = arn_part(p->arn, 1);
    const char *name = res.p + 13;
    const char *slash = memchr(name, '/', res.n - 13);
    struct buf b;
    buf_init(&b, 2048);
    enum err_code rc = buf_printf(&b, "arn:%.*s:iam::%s:role/%.*s", (int)part.n, part.p, p->account,
                                  (int)(slash - name), name);
    if (!rc) {
      p->role_arn = st_strndup(st, buf_str(&b), b.len);
      if (!p->role_arn)
        rc = ERR_NOMEM;
    }
    buf_release(&b);
    if (rc)
      return err_set(e, rc, "cannot derive principal.role_arn");
  }
  if (p->type != POLICY_PRINCIPAL_ASSUMED_ROLE)
    p->role_arn = NULL;

  const json_t *paths = json_object_get(v, "org_paths");
  if (paths && !json_is_null(paths)) {
    if (!json_is_array(paths))
      return err_set(e, ERR_PARSE, "principal.org_paths must be an array of strings");
    size_t n = json_array_size(paths);
    if (n > POLICY_MAX_VALUES)
      return err_set(e, ERR_TOO_LARGE, "principal.org_paths has too many entries");
    const char **arr = st_alloc(st, n * sizeof *arr);
    if (!arr)
      return err_set(e, ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
      arr[i] = json_string_value(json_array_get(paths, i));
      if (!arr[i])
        return err_set(e, ERR_PARSE, "principal.org_paths[%zu] must be a string", i);
    }
    p->org_paths = arr;
    p->n_org_paths = n;
  }
  const json_t *mgmt = json_object_get(v, "org_management_account");
  if (mgmt && !json_is_null(mgmt)) {
    if (!json_is_boolean(mgmt))
      return err_set(e, ERR_PARSE, "principal.org_management_account must be true or false");
    p->org_management_account = json_is_true(mgmt);
  }
  const json_t *tags = json_object_get(v, "tags");
  if (tags && !json_is_null(tags)) {
    if (!json_is_object(tags))
      return err_set(e, ERR_PARSE, "principal.tags must be an object of strings");
    size_t n = json_object_size(tags);
    if (n > POLICY_MAX_VALUES)
      return err_set(e, ERR_TOO_LARGE, "principal.tags has too many entries");
    struct policy_tag *arr = st_alloc(st, n * sizeof *arr);
    if (!arr)
      return err_set(e, ERR_NOMEM, "out of memory");
    size_t i = 0;
    json_object_foreach((json_t *)tags, k, val)
    {
      if (!json_is_string(val))
        return err_set(e, ERR_PARSE, "principal.tags.%.60s must be a string", k);
      arr[i].key = k;
      arr[i].value = json_string_value(val);
      i++;
    }
    p->tags = arr;
    p->n_tags = n;
  }
  return ERR_OK;
}

static const char *scalar_text(struct policy_request_doc_store *st, const json_t *v)
{
  char tmp[64];
  if (json_is_string(v))
    return json_string_value(v);
  if (json_is_true(v))
    return "true";
  if (json_is_false(v))
    return "false";
  if (json_is_integer(v))
    snprintf(tmp, sizeof tmp, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
  else if (json_is_real(v))
    snprintf(tmp, sizeof tmp, "%.17g", json_real_value(v));
  else
    return NULL;
  return st_strndup(st, tmp, strlen(tmp));
}

static enum err_code load_context(struct policy_request_doc_store *st, const json_t *v,
                                  struct policy_request *r, struct err *e)
{
  if (!v || json_is_null(v))
    return ERR_OK;
  if (!json_is_object(v))
    return err_set(e, ERR_PARSE, "context must be an object of condition keys");
  size_t n = json_object_size(v);
  if (n > POLICY_MAX_VALUES)
    return err_set(e, ERR_TOO_LARGE, "context has too many keys");
  struct policy_context_entry *arr = st_alloc(st, n * sizeof *arr);
  if (!arr)
    return err_set(e, ERR_NOMEM, "out of memory");
  size_t i = 0;
  const char *k;
  const json_t *val;
  json_object_foreach((json_t *)v, k, val)
  {
    struct policy_context_entry *ce = &arr[i++];
    ce->key = k;
    if (json_is_null(val))
      continue; /* explicitly absent: nothing is derived for it either */
    size_t m = json_is_array(val) ? json_array_size(val) : 1;
    if (m > POLICY_MAX_VALUES)
      return err_set(e, ERR_TOO_LARGE, "context.%.60s has too many values", k);
    const char **vals = st_alloc(st, m * sizeof *vals);
    if (!vals)
      return err_set(e, ERR_NOMEM, "out of memory");
    for (size_t j = 0; j < m; j++) {
      const json_t *x = json_is_array(val) ? json_array_get(val, j) : val;
      vals[j] = scalar_text(st, x);
      if (!vals[j])
        return err_set(e, ERR_PARSE,
                       "context.%.60s must be a string, number, boolean, an array of those, "
                       "or null",
                       k);
    }
    ce->values = vals;
    ce->n_values = m;
  }
  r->context = arr;
  r->n_context = n;
  return ERR_OK;
}

static const char *const request_fields[] = {
    "principal",
    "action",
    "resource",
    "context",
    "identity_policies",
    "resource_policy",
    "registry_policy",
    "registry_policy_scope",
    "scps",
    "rcps",
    "boundary",
    "session_policies",
    "vpce_policy",
};

static enum err_code load_one(struct policy_request_doc_store *st, const json_t *root,
                              const char *field, enum slot_rule rule, size_t max_chars,
                              const struct policy **out, struct err *e)
{
  const json_t *v = json_object_get(root, field);
  *out = NULL;
  if (!v || json_is_null(v))
    return ERR_OK;
  return load_policy(st, v, rule, max_chars, field, out, e);
}

enum err_code policy_request_doc_parse(const char *json, size_t n, struct policy_request_doc **out,
                                       struct err *e)
{
  if (!json || !out)
    return err_set(e, ERR_INVALID, "policy_request_doc_parse needs text and an output");
  if (n > POLICY_REQUEST_MAX_BYTES)
    return err_set(e, ERR_TOO_LARGE, "the request is %zu bytes, over the limit of %d", n,
                   POLICY_REQUEST_MAX_BYTES);
  struct policy_request_doc *doc = calloc(1, sizeof *doc);
  struct policy_request_doc_store *st = calloc(1, sizeof *st);
  enum err_code rc = ERR_OK;
  if (!doc || !st) {
    free(doc);
    free(st);
    return err_set(e, ERR_NOMEM, "out of memory reading the request");
  }
  doc->store = st;
  struct policy_request *r = &doc->req;
  json_error_t jerr;
  st->root = json_loadb(json, n, JSON_REJECT_DUPLICATES, &jerr);
  if (!st->root) {
    rc = err_set(e, ERR_PARSE, "line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
    goto out;
  }
  const json_t *root = st->root;
  if (!json_is_object(root)) {
    rc = err_set(e, ERR_PARSE, "the request must be a JSON object");
    goto out;
  }
  const char *k;
  const json_t *val;
  json_object_foreach((json_t *)root, k, val)
  {
    bool ok = k[0] == '_';
    for (size_t i = 0; i < sizeof request_fields / sizeof request_fields[0] && !ok; i++)
      ok = strcmp(k, request_fields[i]) == 0;
    if (!ok) {
      rc = err_set(e, ERR_PARSE, "the request has an unknown field \"%.60s\"", k);
      goto out;
    }
  }
  const json_t *pv = json_object_get(root, "principal");
  if (!pv) {
    rc = err_set(e, ERR_PARSE, "the request has no \"principal\"");
    goto out;
  }
  if ((rc = load_principal(st, pv, &r->principal, e)))
    goto out;
  r->action = json_string_value(json_object_get(root, "action"));
  if (!r->action || !strchr(r->action, ':') || r->action[0] == ':') {
    rc = err_set(e, ERR_PARSE, "action must be a string such as \"ecr:BatchGetImage\"");
    goto out;
  }
  r->resource = json_string_value(json_object_get(root, "resource"));
  if (!r->resource || (strcmp(r->resource, "*") && strncmp(r->resource, "arn:", 4))) {
    rc = err_set(e, ERR_PARSE,
                 "resource must be an ARN such as "
                 "\"arn:aws:ecr:REGION:ACCOUNT:repository/NAME\", or \"*\"");
    goto out;
  }
  if ((rc = load_context(st, json_object_get(root, "context"), r, e)))
    goto out;
  if ((rc = load_policy_list(st, json_object_get(root, "identity_policies"), RULE_IDENTITY,
                             "identity_policies", &r->identity_policies, &r->n_identity_policies,
                             e)))
    goto out;
  if ((rc = load_one(st, root, "resource_policy", RULE_RESOURCE, POLICY_REPOSITORY_MAX_CHARS,
                     &r->resource_policy, e)))
    goto out;
  if ((rc = load_one(st, root, "registry_policy", RULE_RESOURCE, POLICY_MAX_BYTES,
                     &r->registry_policy, e)))
    goto out;
  const json_t *scope = json_object_get(root, "registry_policy_scope");
  r->registry_scope = POLICY_REGISTRY_V2;
  if (scope && !json_is_null(scope)) {
    const char *s = json_string_value(scope);
    if (s && !strcmp(s, "V1"))
      r->registry_scope = POLICY_REGISTRY_V1;
    else if (!s || strcmp(s, "V2")) {
      rc = err_set(e, ERR_PARSE, "registry_policy_scope must be \"V1\" or \"V2\"");
      goto out;
    }
  }
  if ((rc = load_levels(st, json_object_get(root, "scps"), RULE_IDENTITY, "scps", &r->scps,
                        &r->n_scp_levels, e)))
    goto out;
  if ((rc = load_levels(st, json_object_get(root, "rcps"), RULE_RESOURCE, "rcps", &r->rcps,
                        &r->n_rcp_levels, e)))
    goto out;
  if ((rc = load_one(st, root, "boundary", RULE_IDENTITY, POLICY_MAX_BYTES, &r->boundary, e)))
    goto out;
  if ((rc = load_policy_list(st, json_object_get(root, "session_policies"), RULE_IDENTITY,
                             "session_policies", &r->session_policies, &r->n_session_policies, e)))
    goto out;
  if ((rc = load_one(st, root, "vpce_policy", RULE_RESOURCE, POLICY_MAX_BYTES, &r->vpce_policy, e)))
    goto out;
out:
  if (rc) {
    policy_request_doc_free(doc);
    return rc;
  }
  *out = doc;
  return ERR_OK;
}
