/* Policy evaluation: decides one request against parsed policies as AWS documents it
 * (explicit deny wins; same account: identity or a resource grant naming the caller;
 * cross account: both sides; SCP/RCP levels, boundary, session and VPC endpoint policies
 * only limit). See /work/shared/reference/iam-evaluation.md for the rules and sources.
 * Allocates nothing per request; depends on core only (jansson only for the output). */
#include "policy_int.h"

#include <stdio.h>
#include <string.h>

#include "ecrdiag/buf.h"

/* How far a matching Allow in a resource-type policy reaches on its own in the same
 * account, by the principal it names (reference §3.2). Ordered: a larger one wins. */
enum reach { R_NONE, R_ACCOUNT, R_ROLE, R_FULL };

struct hit {
  struct policy_slot slot;
  uint32_t stmt;
  uint8_t reach;
  const char *sid;
};

#define HITS_MAX 64

struct slot_res {
  bool deny;
  bool allow;
  uint8_t best; /* enum reach of the best matching Allow */
};

struct ectx {
  const struct policy_request *r;
  struct sv action, resource, res_account;
  struct sv p_arn, p_account, p_role, p_principal_arn, p_username;
  bool res_is_ecr, cross, has_boundary;
  struct hit denies[HITS_MAX];
  size_t n_denies;
  struct hit allows[HITS_MAX];
  size_t n_allows;
  bool allows_truncated, denies_truncated;
  struct policy_near_miss misses[POLICY_NEAR_MISS_MAX];
  size_t n_misses;
};

/* Request values of one condition key: either an array of C strings or one view. */
struct cvals {
  const char *const *strs;
  size_t n;
  struct sv one;
};

static struct sv cv_get(const struct cvals *v, size_t i)
{
  return v->strs ? sv_from(v->strs[i]) : v->one;
}

static bool key_is(const char *key, size_t n, const char *lower_name)
{
  size_t ln = strlen(lower_name);
  return n == ln && memcmp(key, lower_name, ln) == 0;
}

static bool cstr_ieq(const char *s, const char *key, size_t n)
{
  size_t i = 0;
  for (; i < n; i++)
    if (s[i] == '\0' || pol_lower(s[i]) != key[i])
      return false;
  return s[i] == '\0';
}

static const char *principal_type_name(enum policy_principal_type t)
{
  switch (t) {
  case POLICY_PRINCIPAL_USER: return "User";
  case POLICY_PRINCIPAL_ASSUMED_ROLE: return "AssumedRole";
  case POLICY_PRINCIPAL_FEDERATED_USER: return "FederatedUser";
  case POLICY_PRINCIPAL_ROOT: return "Account";
  }
  return "User";
}

/* Looks a (lower-cased) key up: the request context first, then what IAM derives from the
 * principal and resource. False when the key is absent from the request. */
static bool ctx_get(const struct ectx *c, const char *key, size_t n, struct cvals *out)
{
  const struct policy_request *r = c->r;
  out->strs = NULL;
  out->n = 0;
  for (size_t i = 0; i < r->n_context; i++) {
    const struct policy_context_entry *ce = &r->context[i];
    if (ce->key && cstr_ieq(ce->key, key, n)) {
      /* An explicit entry wins, even an empty one: it says the key is absent. */
      out->strs = ce->values;
      out->n = ce->n_values;
      return ce->n_values > 0;
    }
  }
  const struct policy_principal *p = &r->principal;
  struct sv one = {NULL, 0};
  if (key_is(key, n, "aws:principalarn"))
    one = c->p_principal_arn;
  else if (key_is(key, n, "aws:principalaccount"))
    one = c->p_account;
  else if (key_is(key, n, "aws:principalorgid")) {
    if (p->org_id && p->org_id[0])
      one = sv_from(p->org_id);
  } else if (key_is(key, n, "aws:principalorgpaths")) {
    if (p->n_org_paths == 0)
      return false;
    out->strs = p->org_paths;
    out->n = p->n_org_paths;
    return true;
  } else if (key_is(key, n, "aws:principaltype"))
    one = sv_from(principal_type_name(p->type));
  else if (key_is(key, n, "aws:username"))
    one = c->p_username;
  else if (key_is(key, n, "aws:resourceaccount"))
    one = c->res_account;
  else if (n > 17 && memcmp(key, "aws:principaltag/", 17) == 0) {
    for (size_t i = 0; i < p->n_tags; i++)
      if (p->tags[i].key && p->tags[i].value && cstr_ieq(p->tags[i].key, key + 17, n - 17)) {
        one = sv_from(p->tags[i].value);
        break;
      }
  }
  if (!one.p || one.n == 0)
    return false;
  out->one = one;
  out->n = 1;
  return true;
}

#define EXPAND_MAX (2 * POLICY_MAX_STRING)

struct expanded {
  char s[EXPAND_MAX];
  unsigned char lit[EXPAND_MAX];
  size_t n;
};

static bool put(struct expanded *x, const char *s, size_t n, bool literal)
{
  if (n > EXPAND_MAX - x->n)
    return false;
  memcpy(x->s + x->n, s, n);
  memset(x->lit + x->n, literal, n);
  x->n += n;
  return true;
}

static struct sv sv_trim(struct sv v)
{
  while (v.n && (v.p[0] == ' ' || v.p[0] == '\t')) {
    v.p++;
    v.n--;
  }
  while (v.n && (v.p[v.n - 1] == ' ' || v.p[v.n - 1] == '\t'))
    v.n--;
  return v;
}

/* Expands ${key}, ${key, 'default'}, ${*}, ${?} and ${$} from offset `from` on. Returns
 * false when a variable has no value (the pattern then matches nothing) or overflows.
 * Substituted text is literal: a '*' in a tag value is not a wildcard. */
static bool expand(const struct ectx *c, const struct pstr *s, size_t from, struct expanded *x)
{
  x->n = 0;
  if (!put(x, s->p, from, false))
    return false;
  size_t i = from;
  while (i < s->n) {
    if (s->p[i] == '$' && i + 1 < s->n && s->p[i + 1] == '{') {
      const char *close = memchr(s->p + i + 2, '}', s->n - i - 2);
      if (close) {
        struct sv body = {s->p + i + 2, (size_t)(close - (s->p + i + 2))};
        size_t next = (size_t)(close - s->p) + 1;
        if (body.n == 1 && (body.p[0] == '*' || body.p[0] == '?' || body.p[0] == '$')) {
          if (!put(x, body.p, 1, true))
            return false;
          i = next;
          continue;
        }
        struct sv keyv = body, def = {NULL, 0};
        const char *comma = memchr(body.p, ',', body.n);
        if (comma) {
          keyv.n = (size_t)(comma - body.p);
          struct sv rest = sv_trim((struct sv){comma + 1, body.n - keyv.n - 1});
          if (rest.n >= 2 && rest.p[0] == '\'' && rest.p[rest.n - 1] == '\'')
            def = (struct sv){rest.p + 1, rest.n - 2};
        }
        keyv = sv_trim(keyv);
        char lk[256];
        if (keyv.n == 0 || keyv.n >= sizeof lk)
          return false;
        for (size_t k = 0; k < keyv.n; k++)
          lk[k] = pol_lower(keyv.p[k]);
        struct cvals v;
        /* Only single-valued keys can serve as variables. */
        if (ctx_get(c, lk, keyv.n, &v) && v.n == 1) {
          struct sv val = cv_get(&v, 0);
          if (!put(x, val.p, val.n, true))
            return false;
        } else if (def.p) {
          if (!put(x, def.p, def.n, true))
            return false;
        } else {
          return false;
        }
        i = next;
        continue;
      }
    }
    if (!put(x, s->p + i, 1, false))
      return false;
    i++;
  }
  return true;
}

static bool action_matches(const struct pstmt *st, const struct ectx *c)
{
  bool any = false;
  for (uint32_t i = 0; i < st->n_acts && !any; i++) {
    const struct pstr *a = &st->acts[i];
    if (a->wild)
      any = pol_glob(a->p, a->n, NULL, c->action.p, c->action.n, GLOB_ICASE);
    else
      any = pol_ieq(a->p, a->n, c->action.p, c->action.n);
  }
  return st->act_mode == PMODE_NOT ? !any : any;
}

/* Offset just past the fifth colon: variables are expanded only in the resource part. */
static size_t resource_part(const struct pstr *s)
{
  int colons = 0;
  for (size_t i = 0; i < s->n; i++)
    if (s->p[i] == ':' && ++colons == 5)
      return i + 1;
  return s->n;
}

/* Kept apart so that the large expansion buffer is on the stack only when needed. */
static __attribute__((noinline)) bool resource_matches_expanded(const struct pstr *pat,
                                                                const struct ectx *c)
{
  struct expanded x;
  if (!expand(c, pat, resource_part(pat), &x))
    return false;
  return pol_glob(x.s, x.n, x.lit, c->resource.p, c->resource.n, GLOB_RESOURCE);
}

static bool one_resource_matches(const struct pstr *pat, const struct ectx *c)
{
  if (pat->n == 1 && pat->p[0] == '*')
    return true;
  if (pat->vars)
    return resource_matches_expanded(pat, c);
  return pol_glob(pat->p, pat->n, NULL, c->resource.p, c->resource.n, GLOB_RESOURCE);
}

static bool resource_matches(const struct pstmt *st, const struct ectx *c)
{
  if (st->res_mode == PMODE_NONE)
    return true; /* applies to the resource the policy is attached to */
  bool any = false;
  for (uint32_t i = 0; i < st->n_ress && !any; i++)
    any = one_resource_matches(&st->ress[i], c);
  return st->res_mode == PMODE_NOT ? !any : any;
}

static bool sv_eq_pstr(struct sv a, const struct pstr *b)
{
  return a.p && a.n == b->n && memcmp(a.p, b->p, a.n) == 0;
}

/* Is every link of the caller's chain (account, role, session or user) listed? AWS may
 * check each, so a NotPrincipal exempts only a caller all of whose links it names. */
static bool not_principal_exempts(const struct pstmt *st, const struct ectx *c)
{
  bool acct = false, role = false, self = false;
  for (uint32_t i = 0; i < st->n_prins; i++) {
    const struct pprin *pr = &st->prins[i];
    if (pr->kind == PPRIN_STAR)
      return true;
    if (pr->kind == PPRIN_ACCOUNT && sv_eq_pstr(c->p_account, &pr->v))
      acct = true;
    if (pr->kind == PPRIN_ARN && sv_eq_pstr(c->p_arn, &pr->v))
      self = true;
    if (pr->kind == PPRIN_ARN && sv_eq_pstr(c->p_role, &pr->v))
      role = true;
  }
  switch (c->r->principal.type) {
  case POLICY_PRINCIPAL_ROOT: return acct;
  case POLICY_PRINCIPAL_ASSUMED_ROLE: return acct && role && self;
  default: return acct && self;
  }
}

/* The reach of a statement's Principal for this caller; R_NONE when it does not apply. */
static enum reach principal_reach(const struct pstmt *st, const struct ectx *c)
{
  if (st->prin_mode == PMODE_NONE)
    return st->allow ? R_NONE : R_FULL; /* never widen: a bare Deny applies, an Allow not */
  if (st->prin_mode == PMODE_NOT) {
    if (st->allow)
      return R_NONE; /* NotPrincipal with Allow is not supported by AWS */
    return (c->has_boundary || !not_principal_exempts(st, c)) ? R_FULL : R_NONE;
  }
  enum reach best = R_NONE;
  for (uint32_t i = 0; i < st->n_prins && best < R_FULL; i++) {
    const struct pprin *pr = &st->prins[i];
    switch ((enum pprin_kind)pr->kind) {
    case PPRIN_STAR: best = R_FULL; break;
    case PPRIN_ACCOUNT:
      if (sv_eq_pstr(c->p_account, &pr->v) && best < R_ACCOUNT)
        best = R_ACCOUNT;
      break;
    case PPRIN_ARN:
      if (sv_eq_pstr(c->p_arn, &pr->v))
        best = R_FULL;
      else if (c->r->principal.type == POLICY_PRINCIPAL_ASSUMED_ROLE &&
               sv_eq_pstr(c->p_role, &pr->v) && best < R_ROLE)
        best = R_ROLE;
      break;
    case PPRIN_OTHER: break;
    }
  }
  return best;
}

static int cmp_num(double a, double b)
{
  return a < b ? -1 : a > b ? 1 : 0;
}

static bool num_op(enum cop op, int cmp)
{
  switch (op) {
  case COP_NUMERIC_EQ:
  case COP_DATE_EQ: return cmp == 0;
  case COP_NUMERIC_LT:
  case COP_DATE_LT: return cmp < 0;
  case COP_NUMERIC_LE:
  case COP_DATE_LE: return cmp <= 0;
  case COP_NUMERIC_GT:
  case COP_DATE_GT: return cmp > 0;
  case COP_NUMERIC_GE:
  case COP_DATE_GE: return cmp >= 0;
  default: return false;
  }
}

/* Does the request value rv match the policy value pv under the positive operator? */
static bool value_matches_text(const struct pcond *pc, const struct pval *pv, const char *ps,
                               size_t pn, const unsigned char *lit, struct sv rv);

static __attribute__((noinline)) bool value_matches_expanded(const struct ectx *c,
                                                             const struct pcond *pc,
                                                             const struct pval *pv, struct sv rv)
{
  struct expanded x;
  if (!expand(c, &pv->s, 0, &x))
    return false; /* a variable with no value matches nothing */
  return value_matches_text(pc, pv, x.s, x.n, x.lit, rv);
}

static bool value_matches(const struct ectx *c, const struct pcond *pc, const struct pval *pv,
                          struct sv rv)
{
  if (pv->s.vars)
    return value_matches_expanded(c, pc, pv, rv);
  return value_matches_text(pc, pv, pv->s.p, pv->s.n, NULL, rv);
}

static bool value_matches_text(const struct pcond *pc, const struct pval *pv, const char *ps,
                               size_t pn, const unsigned char *lit, struct sv rv)
{
  switch ((enum cop)pc->op) {
  case COP_STRING_EQUALS: return pn == rv.n && memcmp(ps, rv.p, pn) == 0;
  case COP_STRING_EQUALS_IC: return pol_ieq(ps, pn, rv.p, rv.n);
  case COP_STRING_LIKE: return pol_glob(ps, pn, lit, rv.p, rv.n, GLOB_PLAIN);
  case COP_ARN_LIKE: return pol_arn_like(ps, pn, lit, rv.p, rv.n);
  case COP_NUMERIC_EQ:
  case COP_NUMERIC_LT:
  case COP_NUMERIC_LE:
  case COP_NUMERIC_GT:
  case COP_NUMERIC_GE: {
    double v;
    return pol_parse_number(rv.p, rv.n, &v) && num_op((enum cop)pc->op, cmp_num(v, pv->u.num));
  }
  case COP_DATE_EQ:
  case COP_DATE_LT:
  case COP_DATE_LE:
  case COP_DATE_GT:
  case COP_DATE_GE: {
    double v;
    return pol_parse_date(rv.p, rv.n, &v) && num_op((enum cop)pc->op, cmp_num(v, pv->u.num));
  }
  case COP_BOOL: return pol_ieq(ps, pn, rv.p, rv.n);
  case COP_BINARY: {
    unsigned char buf[1024];
    size_t bn;
    if (pv->u.bin.ok && pol_base64_decode(rv.p, rv.n, buf, sizeof buf, &bn))
      return bn == pv->u.bin.n && memcmp(buf, pv->u.bin.p, bn) == 0;
    return pn == rv.n && memcmp(ps, rv.p, pn) == 0;
  }
  case COP_IP: {
    struct ip_cidr a;
    return pol_parse_cidr(rv.p, rv.n, &a, false) && pol_cidr_contains(&pv->u.ip, &a);
  }
  case COP_NULL: return false;
  }
  return false;
}

static bool any_value_matches(const struct ectx *c, const struct pcond *pc, struct sv rv)
{
  for (uint32_t j = 0; j < pc->n_vals; j++)
    if (value_matches(c, pc, &pc->vals[j], rv))
      return true;
  return false;
}

/* One operator/key pair (reference §5): missing keys, IfExists, Null, set operators and
 * the NOR of negated operators. */
static bool condition_true(const struct ectx *c, const struct pcond *pc)
{
  struct cvals v;
  bool present = ctx_get(c, pc->key.p, pc->key.n, &v);
  if (pc->op == COP_NULL) {
    for (uint32_t j = 0; j < pc->n_vals; j++) {
      bool want_absent = pol_ieq(pc->vals[j].s.p, pc->vals[j].s.n, "true", 4);
      if (want_absent != present)
        return true;
    }
    return false;
  }
  if (!present) {
    if (pc->if_exists)
      return true;
    if (pc->set == CSET_ANY)
      return false;
    if (pc->set == CSET_ALL)
      return true;
    return pc->negated;
  }
  switch ((enum cset)pc->set) {
  case CSET_NONE: {
    bool any = false;
    for (size_t i = 0; i < v.n && !any; i++)
      any = any_value_matches(c, pc, cv_get(&v, i));
    return pc->negated ? !any : any;
  }
  case CSET_ANY:
    for (size_t i = 0; i < v.n; i++)
      if (any_value_matches(c, pc, cv_get(&v, i)) != (bool)pc->negated)
        return true;
    return false;
  case CSET_ALL:
    for (size_t i = 0; i < v.n; i++)
      if (any_value_matches(c, pc, cv_get(&v, i)) == (bool)pc->negated)
        return false;
    return true;
  }
  return false;
}

static void add_hit(struct hit *arr, size_t *n, bool *trunc, struct policy_slot slot, uint32_t stmt,
                    const char *sid, enum reach reach)
{
  if (*n == HITS_MAX) {
    *trunc = true;
    return;
  }
  arr[*n] = (struct hit){slot, stmt, (uint8_t)reach, sid};
  (*n)++;
}

static void add_miss(struct ectx *c, struct policy_slot slot, uint32_t stmt, const char *sid,
                     enum policy_miss_reason why, const struct pcond *pc)
{
  if (c->n_misses == POLICY_NEAR_MISS_MAX)
    return;
  struct policy_near_miss *m = &c->misses[c->n_misses++];
  m->slot = slot;
  m->statement = stmt;
  m->sid = sid;
  m->reason = why;
  m->cond_operator = pc ? pc->op_name : NULL;
  m->cond_key = pc ? pc->key_name : NULL;
}

static bool principal_bearing(enum policy_slot_kind k)
{
  return k == POLICY_SLOT_RESOURCE || k == POLICY_SLOT_REGISTRY || k == POLICY_SLOT_RCP ||
         k == POLICY_SLOT_VPCE;
}

static void eval_policy(struct ectx *c, const struct policy *p, struct policy_slot slot,
                        struct slot_res *sr)
{
  if (!p)
    return;
  bool with_principal = principal_bearing(slot.kind);
  for (uint32_t i = 0; i < p->n_stmts; i++) {
    const struct pstmt *st = &p->stmts[i];
    if (!action_matches(st, c) || !resource_matches(st, c))
      continue;
    enum reach reach = R_FULL;
    if (with_principal) {
      reach = principal_reach(st, c);
      if (reach == R_NONE) {
        if (st->allow)
          add_miss(c, slot, i, st->sid, POLICY_MISS_PRINCIPAL, NULL);
        continue;
      }
    }
    const struct pcond *failed = NULL;
    for (uint32_t k = 0; k < st->n_conds && !failed; k++)
      if (!condition_true(c, &st->conds[k]))
        failed = &st->conds[k];
    if (failed) {
      if (st->allow)
        add_miss(c, slot, i, st->sid, POLICY_MISS_CONDITION, failed);
      continue;
    }
    if (st->allow) {
      sr->allow = true;
      if (reach > sr->best)
        sr->best = (uint8_t)reach;
      add_hit(c->allows, &c->n_allows, &c->allows_truncated, slot, i, st->sid, reach);
    } else {
      sr->deny = true;
      add_hit(c->denies, &c->n_denies, &c->denies_truncated, slot, i, st->sid, reach);
    }
  }
}

static void eval_list(struct ectx *c, const struct policy *const *ps, size_t n,
                      enum policy_slot_kind kind, int level, struct slot_res *sr)
{
  for (size_t i = 0; i < n; i++)
    eval_policy(c, ps[i], (struct policy_slot){kind, level, (int)i}, sr);
}

/* The ARN's n-th colon-separated field (0-based), or an empty view. */
static struct sv arn_field(struct sv arn, int n)
{
  if (arn.n < 4 || memcmp(arn.p, "arn:", 4) != 0)
    return (struct sv){"", 0};
  size_t start = 0;
  int field = 0;
  for (size_t i = 0; i <= arn.n; i++) {
    if (i == arn.n || arn.p[i] == ':') {
      if (field == n)
        return (struct sv){arn.p + start, i - start};
      field++;
      start = i + 1;
      if (field > 5 && n > 5)
        break;
    }
  }
  if (n == 5 && field >= 5)
    return (struct sv){arn.p + start, arn.n - start};
  return (struct sv){"", 0};
}

static struct sv tail_after_slash(struct sv s)
{
  for (size_t i = s.n; i > 0; i--)
    if (s.p[i - 1] == '/')
      return (struct sv){s.p + i, s.n - i};
  return s;
}

static void add_missing(struct policy_decision *d, enum policy_slot_kind k, int level)
{
  if (d->n_missing < POLICY_MISSING_MAX)
    d->missing_allow_in[d->n_missing++] = (struct policy_slot){k, level, -1};
}

static void add_decisive(struct policy_decision *d, const struct hit *h)
{
  if (d->n_decisive == POLICY_DECISIVE_MAX) {
    d->decisive_truncated = true;
    return;
  }
  struct policy_decisive *x = &d->decisive[d->n_decisive++];
  x->slot = h->slot;
  x->statement = h->stmt;
  x->sid = h->sid;
}

static bool is_v1_registry_action(struct sv a)
{
  static const char *const v1[] = {"ecr:replicateimage", "ecr:batchimportupstreamimage",
                                   "ecr:createrepository"};
  for (size_t i = 0; i < sizeof v1 / sizeof v1[0]; i++)
    if (pol_ieq(a.p, a.n, v1[i], strlen(v1[i])))
      return true;
  return false;
}

enum err_code policy_evaluate(const struct policy_request *r, struct policy_decision *d,
                              struct err *e)
{
  if (!r || !d)
    return err_set(e, ERR_INVALID, "policy_evaluate needs a request and a decision");
  if (!r->action || !r->action[0])
    return err_set(e, ERR_INVALID, "the request has no action");
  if (!r->resource || !r->resource[0])
    return err_set(e, ERR_INVALID, "the request has no resource");
  if (!r->principal.arn || !r->principal.account || !r->principal.account[0])
    return err_set(e, ERR_INVALID, "the request's principal needs an ARN and an account");
  d->n_decisive = d->n_missing = d->n_near_misses = 0;
  d->decisive_truncated = false;
  d->confidence = POLICY_DOCUMENTED;

  struct ectx ctx;
  struct ectx *c = &ctx;
  c->r = r;
  c->n_denies = c->n_allows = c->n_misses = 0;
  c->allows_truncated = c->denies_truncated = false;
  c->action = sv_from(r->action);
  c->resource = sv_from(r->resource);
  const struct policy_principal *pp = &r->principal;
  enum policy_principal_type type = pp->type;
  c->p_arn = sv_from(pp->arn);
  c->p_account = sv_from(pp->account);
  c->p_role = pp->role_arn ? sv_from(pp->role_arn) : (struct sv){NULL, 0};
  c->p_principal_arn =
      (type == POLICY_PRINCIPAL_ASSUMED_ROLE && c->p_role.p) ? c->p_role : c->p_arn;
  c->p_username = type == POLICY_PRINCIPAL_USER ? tail_after_slash(c->p_arn) : (struct sv){NULL, 0};
  struct sv service = arn_field(c->resource, 2);
  c->res_account = arn_field(c->resource, 4);
  c->res_is_ecr = service.n == 3 && memcmp(service.p, "ecr", 3) == 0;
  c->cross =
      c->res_account.n > 0 && !(c->res_account.n == c->p_account.n &&
                                memcmp(c->res_account.p, c->p_account.p, c->p_account.n) == 0);
  d->cross_account = c->cross;

  bool root = type == POLICY_PRINCIPAL_ROOT;
  bool session_caller =
      type == POLICY_PRINCIPAL_ASSUMED_ROLE || type == POLICY_PRINCIPAL_FEDERATED_USER;
  bool id_applies = !root;
  bool bnd_applies = !root && r->boundary;
  c->has_boundary = bnd_applies;
  bool sess_applies = session_caller && r->n_session_policies > 0;
  bool scp_applies = !pp->org_management_account && r->n_scp_levels > 0;
  bool rcp_applies = r->n_rcp_levels > 0 && !(pp->org_management_account && !c->cross);
  /* The repository policy is attached to the resource of the request; an action without a
   * resource type ("*", such as ecr:GetAuthorizationToken) is outside its reach. */
  bool res_star = c->resource.n == 1 && c->resource.p[0] == '*';
  bool rp_applies = r->resource_policy && !res_star;
  bool reg_applies = r->registry_policy && c->res_is_ecr &&
                     (r->registry_scope == POLICY_REGISTRY_V2 || is_v1_registry_action(c->action));

  struct slot_res id = {0}, bnd = {0}, sess = {0}, rp = {0}, reg = {0}, vpce = {0};
  bool scp_level_ok[POLICY_MAX_SCP_LEVELS], rcp_level_ok[POLICY_MAX_SCP_LEVELS];
  bool any_deny = false;
  size_t n_scp = r->n_scp_levels < POLICY_MAX_SCP_LEVELS ? r->n_scp_levels : POLICY_MAX_SCP_LEVELS;
  size_t n_rcp = r->n_rcp_levels < POLICY_MAX_SCP_LEVELS ? r->n_rcp_levels : POLICY_MAX_SCP_LEVELS;
  if (scp_applies)
    for (size_t l = 0; l < n_scp; l++) {
      struct slot_res lv = {0};
      eval_list(c, r->scps[l].policies, r->scps[l].n, POLICY_SLOT_SCP, (int)l, &lv);
      scp_level_ok[l] = lv.allow;
      any_deny |= lv.deny;
    }
  if (rcp_applies)
    for (size_t l = 0; l < n_rcp; l++) {
      struct slot_res lv = {0};
      eval_list(c, r->rcps[l].policies, r->rcps[l].n, POLICY_SLOT_RCP, (int)l, &lv);
      rcp_level_ok[l] = lv.allow;
      any_deny |= lv.deny;
    }
  if (rp_applies)
    eval_policy(c, r->resource_policy, (struct policy_slot){POLICY_SLOT_RESOURCE, -1, -1}, &rp);
  if (reg_applies)
    eval_policy(c, r->registry_policy, (struct policy_slot){POLICY_SLOT_REGISTRY, -1, -1}, &reg);
  if (id_applies)
    eval_list(c, r->identity_policies, r->n_identity_policies, POLICY_SLOT_IDENTITY, -1, &id);
  if (bnd_applies)
    eval_policy(c, r->boundary, (struct policy_slot){POLICY_SLOT_BOUNDARY, -1, -1}, &bnd);
  if (sess_applies)
    eval_list(c, r->session_policies, r->n_session_policies, POLICY_SLOT_SESSION, -1, &sess);
  if (r->vpce_policy)
    eval_policy(c, r->vpce_policy, (struct policy_slot){POLICY_SLOT_VPCE, -1, -1}, &vpce);
  any_deny |= id.deny | bnd.deny | sess.deny | rp.deny | reg.deny | vpce.deny;

  if (any_deny) {
    d->decision = POLICY_EXPLICIT_DENY;
    for (size_t i = 0; i < c->n_denies; i++)
      add_decisive(d, &c->denies[i]);
    d->decisive_truncated |= c->denies_truncated;
    return ERR_OK;
  }

  /* The caller's own chain: identity, capped by boundary and session policies. Root has
   * full access in its account and can carry neither identity policies nor a boundary. */
  bool id_allow = root || id.allow;
  bool bnd_ok = !bnd_applies || bnd.allow;
  bool sess_ok = !sess_applies || sess.allow;
  bool chain_ok = id_allow && bnd_ok && sess_ok;

  bool grant_ok, use_id = false, use_res = false;
  if (!c->cross) {
    /* Same account: the union rule, with the resource grant's reach set by the principal
     * it names (reference §3.2); an account-only grant delegates to IAM. */
    uint8_t best = rp.best > reg.best ? rp.best : reg.best;
    bool res_ok = best == R_FULL || (best == R_ROLE && bnd_ok && sess_ok);
    use_id = chain_ok;
    use_res = res_ok;
    grant_ok = chain_ok || res_ok;
    if (!grant_ok) {
      if (!id_allow)
        add_missing(d, POLICY_SLOT_IDENTITY, -1);
      if (!bnd_ok)
        add_missing(d, POLICY_SLOT_BOUNDARY, -1);
      if (!sess_ok)
        add_missing(d, POLICY_SLOT_SESSION, -1);
      /* A grant to the role ARN was made; it is the boundary or session policy that cuts it. */
      if (!res_star && best < R_ROLE)
        add_missing(d, POLICY_SLOT_RESOURCE, -1);
      if (best == R_ACCOUNT)
        for (size_t i = 0; i < c->n_allows; i++)
          if (c->allows[i].reach == R_ACCOUNT && (c->allows[i].slot.kind == POLICY_SLOT_RESOURCE ||
                                                  c->allows[i].slot.kind == POLICY_SLOT_REGISTRY))
            add_miss(c, c->allows[i].slot, c->allows[i].stmt, c->allows[i].sid,
                     POLICY_MISS_ACCOUNT_ONLY, NULL);
    }
  } else {
    /* Cross account: the caller's side and the resource side must both allow. How the
     * registry policy combines with the repository policy is not documented: read as
     * either granting, and say so when they disagree. */
    bool a_rp = rp.allow, a_reg = reg.allow;
    bool a_ok = a_rp || a_reg;
    use_id = use_res = true;
    grant_ok = chain_ok && a_ok;
    if (!chain_ok) {
      if (!id_allow)
        add_missing(d, POLICY_SLOT_IDENTITY, -1);
      if (!bnd_ok)
        add_missing(d, POLICY_SLOT_BOUNDARY, -1);
      if (!sess_ok)
        add_missing(d, POLICY_SLOT_SESSION, -1);
    }
    if (!a_ok) {
      add_missing(d, POLICY_SLOT_RESOURCE, -1);
      if (reg_applies)
        add_missing(d, POLICY_SLOT_REGISTRY, -1);
    }
  }

  bool guards_ok = true;
  if (scp_applies)
    for (size_t l = 0; l < n_scp; l++)
      if (!scp_level_ok[l]) {
        guards_ok = false;
        add_missing(d, POLICY_SLOT_SCP, (int)l);
      }
  if (rcp_applies)
    for (size_t l = 0; l < n_rcp; l++)
      if (!rcp_level_ok[l]) {
        guards_ok = false;
        add_missing(d, POLICY_SLOT_RCP, (int)l);
      }
  if (r->vpce_policy && !vpce.allow) {
    guards_ok = false;
    add_missing(d, POLICY_SLOT_VPCE, -1);
  }

  if (c->cross && reg_applies && chain_ok && guards_ok && rp.allow != reg.allow)
    d->confidence = POLICY_UNDOCUMENTED; /* a guardrail gap denies under any reading */
  if (grant_ok && guards_ok) {
    d->decision = POLICY_ALLOW;
    d->n_missing = 0;
    for (size_t i = 0; i < c->n_allows; i++) {
      enum policy_slot_kind k = c->allows[i].slot.kind;
      if ((use_id && k == POLICY_SLOT_IDENTITY) ||
          (use_res && (k == POLICY_SLOT_RESOURCE || k == POLICY_SLOT_REGISTRY)))
        add_decisive(d, &c->allows[i]);
    }
    return ERR_OK;
  }
  d->decision = POLICY_IMPLICIT_DENY;
  memcpy(d->near_misses, c->misses, c->n_misses * sizeof c->misses[0]);
  d->n_near_misses = c->n_misses;
  return ERR_OK;
}

const char *policy_outcome_name(enum policy_outcome o)
{
  switch (o) {
  case POLICY_ALLOW: return "Allow";
  case POLICY_IMPLICIT_DENY: return "ImplicitDeny";
  case POLICY_EXPLICIT_DENY: return "ExplicitDeny";
  }
  return "ImplicitDeny";
}

const char *policy_confidence_name(enum policy_confidence c)
{
  return c == POLICY_UNDOCUMENTED ? "undocumented" : "documented";
}

void policy_slot_name(struct policy_slot s, bool with_index, char *out, size_t out_size)
{
  if (!out || out_size == 0)
    return;
  switch (s.kind) {
  case POLICY_SLOT_IDENTITY:
  case POLICY_SLOT_SESSION: {
    const char *base = s.kind == POLICY_SLOT_IDENTITY ? "identity_policies" : "session_policies";
    if (with_index && s.index >= 0)
      snprintf(out, out_size, "%s[%d]", base, s.index);
    else
      snprintf(out, out_size, "%s", base);
    break;
  }
  case POLICY_SLOT_SCP:
  case POLICY_SLOT_RCP: {
    const char *base = s.kind == POLICY_SLOT_SCP ? "scps" : "rcps";
    if (with_index && s.index >= 0)
      snprintf(out, out_size, "%s[%d][%d]", base, s.level, s.index);
    else
      snprintf(out, out_size, "%s[%d]", base, s.level);
    break;
  }
  case POLICY_SLOT_RESOURCE: snprintf(out, out_size, "resource_policy"); break;
  case POLICY_SLOT_REGISTRY: snprintf(out, out_size, "registry_policy"); break;
  case POLICY_SLOT_BOUNDARY: snprintf(out, out_size, "boundary"); break;
  case POLICY_SLOT_VPCE: snprintf(out, out_size, "vpce_policy"); break;
  }
}

json_t *policy_decision_to_json(const struct policy_decision *d)
{
  json_t *o = json_object();
  json_t *dec = json_array();
  json_t *miss = json_array();
  if (!o || !dec || !miss)
    goto fail;
  char name[64];
  for (size_t i = 0; i < d->n_decisive; i++) {
    const struct policy_decisive *x = &d->decisive[i];
    policy_slot_name(x->slot, true, name, sizeof name);
    json_t *item =
        json_pack("{s:s, s:I, s:o}", "policy", name, "statement", (json_int_t)x->statement, "sid",
                  x->sid ? json_string(x->sid) : json_null());
    if (!item || json_array_append_new(dec, item))
      goto fail;
  }
  for (size_t i = 0; i < d->n_missing; i++) {
    policy_slot_name(d->missing_allow_in[i], false, name, sizeof name);
    if (json_array_append_new(miss, json_string(name)))
      goto fail;
  }
  if (json_object_set_new(o, "decision", json_string(policy_outcome_name(d->decision))) ||
      json_object_set_new(o, "decisive", dec) || json_object_set_new(o, "missing_allow_in", miss) ||
      json_object_set_new(o, "confidence", json_string(policy_confidence_name(d->confidence)))) {
    json_decref(o);
    return NULL;
  }
  return o;
fail:
  json_decref(o);
  json_decref(dec);
  json_decref(miss);
  return NULL;
}
