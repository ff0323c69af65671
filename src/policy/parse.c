/* Policy document parsing: JSON (through jansson) into the compact struct policy that
 * evaluation walks, with every value pre-classified (principals, lower-cased actions,
 * wildcard and variable flags, CIDRs, dates, numbers) so no JSON is touched per request.
 * All memory of one policy lives in one arena; depends on core and jansson only. */
#include "policy_int.h"

#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct arena_block {
  struct arena_block *next;
  size_t used;
  size_t cap;
  max_align_t data[];
};

#define ARENA_BLOCK_BYTES 4096

static void *arena_alloc(struct policy *p, size_t n)
{
  size_t align = alignof(max_align_t);
  n = (n + align - 1) / align * align;
  if (n == 0)
    n = align;
  struct arena_block *b = p->blocks;
  if (!b || b->cap - b->used < n) {
    size_t cap = n > ARENA_BLOCK_BYTES ? n : ARENA_BLOCK_BYTES;
    b = malloc(sizeof *b + cap);
    if (!b)
      return NULL;
    b->next = p->blocks;
    b->used = 0;
    b->cap = cap;
    p->blocks = b;
  }
  void *out = (char *)b->data + b->used;
  b->used += n;
  memset(out, 0, n);
  return out;
}

void policy_free(struct policy *p)
{
  if (!p)
    return;
  struct arena_block *b = p->blocks;
  while (b) {
    struct arena_block *next = b->next;
    free(b);
    b = next;
  }
  free(p);
}

/* Parse state: the policy being built and where we are, for error messages. */
struct pctx {
  struct policy *p;
  struct err *e;
  char where[96]; /* "Statement[3]" or "Statement" */
};

static enum err_code nomem(struct pctx *c)
{
  return err_set(c->e, ERR_NOMEM, "out of memory parsing a policy");
}

static enum err_code perr(struct pctx *c, const char *elem, const char *what)
{
  return err_set(c->e, ERR_PARSE, "%s%s%s %s", c->where, elem ? "." : "", elem ? elem : "", what);
}

static bool has_wild(const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (s[i] == '*' || s[i] == '?')
      return true;
  return false;
}

static bool has_var(const char *s, size_t n)
{
  for (size_t i = 0; i + 1 < n; i++)
    if (s[i] == '$' && s[i + 1] == '{')
      return true;
  return false;
}

static enum err_code pstr_make(struct pctx *c, const char *s, size_t n, bool lower,
                               bool vars_allowed, struct pstr *out)
{
  if (n > POLICY_MAX_STRING)
    return perr(c, NULL, "has a value longer than 4096 characters");
  char *d = arena_alloc(c->p, n + 1);
  if (!d)
    return nomem(c);
  for (size_t i = 0; i < n; i++)
    d[i] = lower ? pol_lower(s[i]) : s[i];
  d[n] = '\0';
  out->p = d;
  out->n = (uint32_t)n;
  out->wild = has_wild(s, n);
  out->vars = vars_allowed && c->p->vars && has_var(s, n);
  return ERR_OK;
}

static const char *arena_str(struct pctx *c, const char *s)
{
  size_t n = strlen(s);
  char *d = arena_alloc(c->p, n + 1);
  if (d)
    memcpy(d, s, n + 1);
  return d;
}

/* A value that may be a string or an array of strings: the array view and its size. */
static enum err_code string_list(struct pctx *c, const char *elem, const json_t *v, size_t *n_out)
{
  if (json_is_string(v)) {
    *n_out = 1;
    return ERR_OK;
  }
  if (!json_is_array(v))
    return perr(c, elem, "must be a string or an array of strings");
  size_t n = json_array_size(v);
  if (n > POLICY_MAX_VALUES)
    return perr(c, elem, "has more than 1024 values");
  for (size_t i = 0; i < n; i++)
    if (!json_is_string(json_array_get(v, i)))
      return perr(c, elem, "must be a string or an array of strings");
  *n_out = n;
  return ERR_OK;
}

static const json_t *list_item(const json_t *v, size_t i)
{
  return json_is_array(v) ? json_array_get(v, i) : v;
}

static enum err_code parse_strings(struct pctx *c, const char *elem, const json_t *v, bool lower,
                                   bool vars, struct pstr **out, uint32_t *n_out)
{
  size_t n;
  enum err_code rc = string_list(c, elem, v, &n);
  if (rc)
    return rc;
  struct pstr *a = arena_alloc(c->p, (n ? n : 1) * sizeof *a);
  if (!a)
    return nomem(c);
  for (size_t i = 0; i < n; i++) {
    const json_t *s = list_item(v, i);
    rc = pstr_make(c, json_string_value(s), json_string_length(s), lower, vars, &a[i]);
    if (rc)
      return rc;
  }
  *out = a;
  *n_out = (uint32_t)n;
  return ERR_OK;
}

static bool all_digits(const char *s, size_t n)
{
  if (n == 0)
    return false;
  for (size_t i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9')
      return false;
  return true;
}

/* "arn:PARTITION:iam::ACCOUNT:root" gives ACCOUNT; anything else gives false. */
static bool root_arn_account(const char *s, size_t n, const char **acct, size_t *acct_n)
{
  if (n < 4 || memcmp(s, "arn:", 4) != 0)
    return false;
  const char *p = s + 4, *end = s + n;
  const char *colon = memchr(p, ':', (size_t)(end - p)); /* end of partition */
  if (!colon || (size_t)(end - colon) < 6 || memcmp(colon, ":iam::", 6) != 0)
    return false;
  const char *a = colon + 6;
  const char *c2 = memchr(a, ':', (size_t)(end - a));
  if (!c2 || (size_t)(end - c2) != 5 || memcmp(c2, ":root", 5) != 0)
    return false;
  if (!all_digits(a, (size_t)(c2 - a)))
    return false;
  *acct = a;
  *acct_n = (size_t)(c2 - a);
  return true;
}

static enum err_code parse_principal(struct pctx *c, const char *elem, const json_t *v,
                                     struct pstmt *st)
{
  if (json_is_string(v)) {
    if (strcmp(json_string_value(v), "*") != 0)
      return perr(c, elem, "must be \"*\" or an object such as {\"AWS\": ...}");
    st->prins = arena_alloc(c->p, sizeof *st->prins);
    if (!st->prins)
      return nomem(c);
    st->prins[0].kind = PPRIN_STAR;
    st->n_prins = 1;
    return ERR_OK;
  }
  if (!json_is_object(v))
    return perr(c, elem, "must be \"*\" or an object such as {\"AWS\": ...}");
  size_t total = 0;
  const char *k;
  const json_t *val;
  json_object_foreach((json_t *)v, k, val)
  {
    if (strcmp(k, "AWS") && strcmp(k, "Service") && strcmp(k, "Federated") &&
        strcmp(k, "CanonicalUser")) {
      char what[128];
      snprintf(what, sizeof what, "has an unknown principal type \"%.60s\"", k);
      return perr(c, elem, what);
    }
    size_t n;
    enum err_code rc = string_list(c, elem, val, &n);
    if (rc)
      return rc;
    total += n;
  }
  if (total > POLICY_MAX_VALUES)
    return perr(c, elem, "has more than 1024 values");
  st->prins = arena_alloc(c->p, (total ? total : 1) * sizeof *st->prins);
  if (!st->prins)
    return nomem(c);
  size_t at = 0;
  json_object_foreach((json_t *)v, k, val)
  {
    bool aws = strcmp(k, "AWS") == 0;
    size_t n = json_is_array(val) ? json_array_size(val) : 1;
    for (size_t i = 0; i < n; i++) {
      const json_t *s = list_item(val, i);
      const char *sp = json_string_value(s);
      size_t sn = json_string_length(s);
      struct pprin *pr = &st->prins[at++];
      const char *acct;
      size_t acct_n;
      enum err_code rc;
      if (!aws) {
        pr->kind = PPRIN_OTHER;
        rc = pstr_make(c, sp, sn, false, false, &pr->v);
      } else if (sn == 1 && sp[0] == '*') {
        pr->kind = PPRIN_STAR;
        rc = pstr_make(c, sp, sn, false, false, &pr->v);
      } else if (all_digits(sp, sn)) {
        pr->kind = PPRIN_ACCOUNT;
        rc = pstr_make(c, sp, sn, false, false, &pr->v);
      } else if (root_arn_account(sp, sn, &acct, &acct_n)) {
        pr->kind = PPRIN_ACCOUNT;
        rc = pstr_make(c, acct, acct_n, false, false, &pr->v);
      } else {
        /* A wildcard never matches part of a principal ARN: compared literally. */
        pr->kind = PPRIN_ARN;
        rc = pstr_make(c, sp, sn, false, false, &pr->v);
      }
      if (rc)
        return rc;
    }
  }
  st->n_prins = (uint32_t)total;
  return ERR_OK;
}

struct opdef {
  const char *name;
  enum cop op;
  bool negated;
};

static const struct opdef opdefs[] = {
    {"StringEquals", COP_STRING_EQUALS, false},
    {"StringNotEquals", COP_STRING_EQUALS, true},
    {"StringEqualsIgnoreCase", COP_STRING_EQUALS_IC, false},
    {"StringNotEqualsIgnoreCase", COP_STRING_EQUALS_IC, true},
    {"StringLike", COP_STRING_LIKE, false},
    {"StringNotLike", COP_STRING_LIKE, true},
    {"NumericEquals", COP_NUMERIC_EQ, false},
    {"NumericNotEquals", COP_NUMERIC_EQ, true},
    {"NumericLessThan", COP_NUMERIC_LT, false},
    {"NumericLessThanEquals", COP_NUMERIC_LE, false},
    {"NumericGreaterThan", COP_NUMERIC_GT, false},
    {"NumericGreaterThanEquals", COP_NUMERIC_GE, false},
    {"DateEquals", COP_DATE_EQ, false},
    {"DateNotEquals", COP_DATE_EQ, true},
    {"DateLessThan", COP_DATE_LT, false},
    {"DateLessThanEquals", COP_DATE_LE, false},
    {"DateGreaterThan", COP_DATE_GT, false},
    {"DateGreaterThanEquals", COP_DATE_GE, false},
    {"Bool", COP_BOOL, false},
    {"BinaryEquals", COP_BINARY, false},
    {"IpAddress", COP_IP, false},
    {"NotIpAddress", COP_IP, true},
    {"ArnEquals", COP_ARN_LIKE, false},
    {"ArnLike", COP_ARN_LIKE, false},
    {"ArnNotEquals", COP_ARN_LIKE, true},
    {"ArnNotLike", COP_ARN_LIKE, true},
    {"Null", COP_NULL, false},
};

static bool istarts(const char *s, size_t n, const char *prefix)
{
  size_t pn = strlen(prefix);
  return n >= pn && pol_ieq(s, pn, prefix, pn);
}

/* "ForAnyValue:StringLikeIfExists" into its parts; false for an unknown operator. */
static bool parse_operator(const char *name, struct pcond *out)
{
  const char *s = name;
  size_t n = strlen(name);
  out->set = CSET_NONE;
  if (istarts(s, n, "ForAnyValue:")) {
    out->set = CSET_ANY;
    s += 12;
    n -= 12;
  } else if (istarts(s, n, "ForAllValues:")) {
    out->set = CSET_ALL;
    s += 13;
    n -= 13;
  }
  out->if_exists = false;
  if (n > 8 && pol_ieq(s + n - 8, 8, "IfExists", 8)) {
    out->if_exists = true;
    n -= 8;
  }
  for (size_t i = 0; i < sizeof opdefs / sizeof opdefs[0]; i++)
    if (pol_ieq(s, n, opdefs[i].name, strlen(opdefs[i].name))) {
      out->op = (uint8_t)opdefs[i].op;
      out->negated = opdefs[i].negated;
      return !(out->op == COP_NULL && out->if_exists);
    }
  return false;
}

/* A condition value as text: strings as they are, numbers and booleans as JSON writes them. */
static bool value_text(const json_t *v, char *tmp, size_t tmp_size, const char **s, size_t *n)
{
  if (json_is_string(v)) {
    *s = json_string_value(v);
    *n = json_string_length(v);
  } else if (json_is_true(v) || json_is_false(v)) {
    *s = json_is_true(v) ? "true" : "false";
    *n = strlen(*s);
  } else if (json_is_integer(v)) {
    snprintf(tmp, tmp_size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    *s = tmp;
    *n = strlen(tmp);
  } else if (json_is_real(v)) {
    snprintf(tmp, tmp_size, "%.17g", json_real_value(v));
    *s = tmp;
    *n = strlen(tmp);
  } else {
    return false;
  }
  return true;
}

static enum err_code parse_cond_value(struct pctx *c, const char *elem, struct pcond *pc,
                                      const json_t *v, struct pval *out)
{
  char tmp[64];
  const char *s;
  size_t n;
  if (!value_text(v, tmp, sizeof tmp, &s, &n))
    return perr(c, elem, "values must be strings, numbers or booleans");
  bool vars = pc->op == COP_STRING_EQUALS || pc->op == COP_STRING_EQUALS_IC ||
              pc->op == COP_STRING_LIKE || pc->op == COP_ARN_LIKE;
  enum err_code rc = pstr_make(c, s, n, false, vars, &out->s);
  if (rc)
    return rc;
  switch ((enum cop)pc->op) {
  case COP_NUMERIC_EQ:
  case COP_NUMERIC_LT:
  case COP_NUMERIC_LE:
  case COP_NUMERIC_GT:
  case COP_NUMERIC_GE:
    if (!pol_parse_number(s, n, &out->u.num))
      return perr(c, elem, "has a value that is not a number");
    break;
  case COP_DATE_EQ:
  case COP_DATE_LT:
  case COP_DATE_LE:
  case COP_DATE_GT:
  case COP_DATE_GE:
    if (!pol_parse_date(s, n, &out->u.num))
      return perr(c, elem, "has a value that is not an ISO 8601 date or epoch time");
    break;
  case COP_IP:
    if (!pol_parse_cidr(s, n, &out->u.ip, true))
      return perr(c, elem, "has a value that is not an IP address or CIDR block");
    break;
  case COP_NULL:
    if (!pol_ieq(s, n, "true", 4) && !pol_ieq(s, n, "false", 5))
      return perr(c, elem, "takes only \"true\" or \"false\"");
    break;
  case COP_BINARY: {
    unsigned char *b = arena_alloc(c->p, n);
    size_t bn = 0;
    if (!b)
      return nomem(c);
    out->u.bin.ok = pol_base64_decode(s, n, b, n, &bn);
    out->u.bin.p = b;
    out->u.bin.n = (uint32_t)bn;
    break;
  }
  default: break;
  }
  return ERR_OK;
}

static enum err_code parse_condition(struct pctx *c, const json_t *v, struct pstmt *st)
{
  if (!json_is_object(v))
    return perr(c, "Condition", "must be an object of operators");
  size_t total = 0;
  const char *opname;
  const json_t *block;
  json_object_foreach((json_t *)v, opname, block)
  {
    if (!json_is_object(block) || json_object_size(block) == 0) {
      char what[160];
      snprintf(what, sizeof what, "operator \"%.60s\" must map condition keys to values", opname);
      return perr(c, "Condition", what);
    }
    total += json_object_size(block);
  }
  if (total > POLICY_MAX_CONDITIONS)
    return perr(c, "Condition", "has more than 256 operator/key pairs");
  st->conds = arena_alloc(c->p, (total ? total : 1) * sizeof *st->conds);
  if (!st->conds)
    return nomem(c);
  size_t at = 0;
  json_object_foreach((json_t *)v, opname, block)
  {
    struct pcond proto;
    memset(&proto, 0, sizeof proto);
    if (!parse_operator(opname, &proto)) {
      char what[160];
      snprintf(what, sizeof what, "has an unknown operator \"%.60s\"", opname);
      return perr(c, "Condition", what);
    }
    proto.op_name = arena_str(c, opname);
    if (!proto.op_name)
      return nomem(c);
    const char *key;
    const json_t *vals;
    json_object_foreach((json_t *)block, key, vals)
    {
      struct pcond *pc = &st->conds[at++];
      *pc = proto;
      pc->key_name = arena_str(c, key);
      if (!pc->key_name)
        return nomem(c);
      enum err_code rc = pstr_make(c, key, strlen(key), true, false, &pc->key);
      if (rc)
        return rc;
      char elem[160];
      snprintf(elem, sizeof elem, "Condition.%.60s.%.60s", opname, key);
      size_t n = json_is_array(vals) ? json_array_size(vals) : 1;
      if (n > POLICY_MAX_VALUES)
        return perr(c, elem, "has more than 1024 values");
      pc->vals = arena_alloc(c->p, (n ? n : 1) * sizeof *pc->vals);
      if (!pc->vals)
        return nomem(c);
      for (size_t i = 0; i < n; i++) {
        rc = parse_cond_value(c, elem, pc, list_item(vals, i), &pc->vals[i]);
        if (rc)
          return rc;
      }
      pc->n_vals = (uint32_t)n;
    }
  }
  st->n_conds = (uint32_t)total;
  return ERR_OK;
}

static enum err_code parse_statement(struct pctx *c, const json_t *v, struct pstmt *st)
{
  if (!json_is_object(v))
    return perr(c, NULL, "must be an object");
  const char *k;
  const json_t *val;
  json_object_foreach((json_t *)v, k, val)
  {
    enum err_code rc = ERR_OK;
    if (!strcmp(k, "Sid")) {
      if (!json_is_string(val))
        return perr(c, "Sid", "must be a string");
      st->sid = arena_str(c, json_string_value(val));
      if (!st->sid)
        return nomem(c);
    } else if (!strcmp(k, "Effect")) {
      const char *eff = json_string_value(val);
      if (!eff || (strcmp(eff, "Allow") && strcmp(eff, "Deny")))
        return perr(c, "Effect", "must be \"Allow\" or \"Deny\"");
      st->allow = strcmp(eff, "Allow") == 0;
    } else if (!strcmp(k, "Principal") || !strcmp(k, "NotPrincipal")) {
      if (st->prin_mode != PMODE_NONE)
        return perr(c, k, "cannot appear with both Principal and NotPrincipal");
      st->prin_mode = k[0] == 'N' ? PMODE_NOT : PMODE_POS;
      c->p->has_principal = true;
      rc = parse_principal(c, k, val, st);
    } else if (!strcmp(k, "Action") || !strcmp(k, "NotAction")) {
      if (st->act_mode != PMODE_NONE)
        return perr(c, k, "cannot appear with both Action and NotAction");
      st->act_mode = k[0] == 'N' ? PMODE_NOT : PMODE_POS;
      rc = parse_strings(c, k, val, true, false, &st->acts, &st->n_acts);
    } else if (!strcmp(k, "Resource") || !strcmp(k, "NotResource")) {
      if (st->res_mode != PMODE_NONE)
        return perr(c, k, "cannot appear with both Resource and NotResource");
      st->res_mode = k[0] == 'N' ? PMODE_NOT : PMODE_POS;
      c->p->has_resource = true;
      rc = parse_strings(c, k, val, false, true, &st->ress, &st->n_ress);
    } else if (!strcmp(k, "Condition")) {
      rc = parse_condition(c, val, st);
    } else {
      char what[128];
      snprintf(what, sizeof what, "has an unknown element \"%.60s\"", k);
      return perr(c, NULL, what);
    }
    if (rc)
      return rc;
  }
  if (!json_object_get(v, "Effect"))
    return perr(c, NULL, "has no Effect");
  if (st->act_mode == PMODE_NONE)
    return perr(c, NULL, "has no Action or NotAction");
  return ERR_OK;
}

enum err_code policy_parse_json(const json_t *doc, struct policy **out, struct err *e)
{
  struct pctx c;
  memset(&c, 0, sizeof c);
  c.e = e;
  if (!json_is_object(doc))
    return err_set(e, ERR_PARSE, "a policy document must be a JSON object");
  c.p = calloc(1, sizeof *c.p);
  if (!c.p)
    return err_set(e, ERR_NOMEM, "out of memory parsing a policy");
  enum err_code rc = ERR_OK;
  const char *k;
  const json_t *val;
  const json_t *stmts = NULL;
  json_object_foreach((json_t *)doc, k, val)
  {
    if (!strcmp(k, "Version")) {
      if (!json_is_string(val)) {
        rc = err_set(e, ERR_PARSE, "Version must be a string");
        goto out;
      }
      c.p->version = arena_str(&c, json_string_value(val));
      if (!c.p->version) {
        rc = nomem(&c);
        goto out;
      }
      /* Policy variables exist only from this version on; elsewhere "${...}" is text. */
      c.p->vars = strcmp(c.p->version, "2012-10-17") == 0;
    } else if (!strcmp(k, "Id")) {
      if (!json_is_string(val)) {
        rc = err_set(e, ERR_PARSE, "Id must be a string");
        goto out;
      }
      c.p->id = arena_str(&c, json_string_value(val));
      if (!c.p->id) {
        rc = nomem(&c);
        goto out;
      }
    } else if (!strcmp(k, "Statement")) {
      stmts = val;
    } else {
      rc = err_set(e, ERR_PARSE, "unknown top-level element \"%.60s\"", k);
      goto out;
    }
  }
  if (!stmts) {
    rc = err_set(e, ERR_PARSE, "the policy has no Statement");
    goto out;
  }
  size_t n = json_is_array(stmts) ? json_array_size(stmts) : 1;
  if (!json_is_array(stmts) && !json_is_object(stmts)) {
    rc = err_set(e, ERR_PARSE, "Statement must be an object or an array of objects");
    goto out;
  }
  if (n > POLICY_MAX_STATEMENTS) {
    rc = err_set(e, ERR_TOO_LARGE, "the policy has %zu statements, over the limit of %d", n,
                 POLICY_MAX_STATEMENTS);
    goto out;
  }
  c.p->stmts = arena_alloc(c.p, (n ? n : 1) * sizeof *c.p->stmts);
  if (!c.p->stmts) {
    rc = nomem(&c);
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    if (json_is_array(stmts))
      snprintf(c.where, sizeof c.where, "Statement[%zu]", i);
    else
      snprintf(c.where, sizeof c.where, "Statement");
    rc = parse_statement(&c, list_item(stmts, i), &c.p->stmts[i]);
    if (rc)
      goto out;
  }
  c.p->n_stmts = (uint32_t)n;
out:
  if (rc) {
    policy_free(c.p);
    return rc;
  }
  *out = c.p;
  return ERR_OK;
}

enum err_code policy_parse(const char *json, size_t n, struct policy **out, struct err *e)
{
  if (!json || !out)
    return err_set(e, ERR_INVALID, "policy_parse needs a document and an output");
  if (n > POLICY_MAX_BYTES)
    return err_set(e, ERR_TOO_LARGE, "the policy is %zu bytes, over the limit of %d", n,
                   POLICY_MAX_BYTES);
  json_error_t jerr;
  json_t *doc = json_loadb(json, n, JSON_REJECT_DUPLICATES, &jerr);
  if (!doc)
    return err_set(e, ERR_PARSE, "line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
  enum err_code rc = policy_parse_json(doc, out, e);
  json_decref(doc);
  return rc;
}

size_t policy_statement_count(const struct policy *p)
{
  return p ? p->n_stmts : 0;
}

const char *policy_statement_sid(const struct policy *p, size_t i)
{
  return p && i < p->n_stmts ? p->stmts[i].sid : NULL;
}

const char *policy_version(const struct policy *p)
{
  return p ? p->version : NULL;
}

bool policy_has_variables(const struct policy *p)
{
  return p && p->vars;
}

bool policy_has_resource_element(const struct policy *p)
{
  return p && p->has_resource;
}
