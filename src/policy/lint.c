/* Lint of ECR repository policies: jansson reads the tree, a small scanner over the same text
 * notes where every element starts (line, column), and each rule of policylint.h is one
 * function over the tree. Pure: no files, no HTTP; depends on core, jansson and the policy
 * parser (its grammar check and wildcard matcher). */
#include "ecrdiag/policylint.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecrdiag/buf.h"
#include "policy_int.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the rule table -------------------------------------------------------------------- */

#define RULE_INFO(name, id, sev, summary) [name] = {id, sev, summary},
static const struct policylint_rule_info rule_infos[] = {POLICYLINT_RULES(RULE_INFO)};
#undef RULE_INFO

const struct policylint_rule_info *policylint_rule_info(enum policylint_rule r)
{
  static const struct policylint_rule_info unknown = {"unknown", POLICYLINT_SEV_INFO, "?"};
  return (unsigned)r < POLICYLINT_RULE_COUNT ? &rule_infos[r] : &unknown;
}

const char *policylint_severity_name(enum policylint_severity s)
{
  static const char *const names[] = {"critical", "warning", "info"};
  return (unsigned)s < NELEM(names) ? names[s] : "info";
}

/* ---- ECR actions ----------------------------------------------------------------------- */

/* BEGIN GENERATED ECR ACTIONS: fixtures/policies/lint/gen-ecr-actions.py */
/* 58 operations of the ECR service model (API 2015-09-21) and 3 permission-only actions
 * (BatchImportUpstreamImage, GetImageCopyStatus, ReplicateImage), sorted case-insensitively. */
static const char *const ecr_actions[] = {
    "BatchCheckLayerAvailability",
    "BatchDeleteImage",
    "BatchGetImage",
    "BatchGetRepositoryScanningConfiguration",
    "BatchImportUpstreamImage",
    "CompleteLayerUpload",
    "CreatePullThroughCacheRule",
    "CreateRepository",
    "CreateRepositoryCreationTemplate",
    "DeleteLifecyclePolicy",
    "DeletePullThroughCacheRule",
    "DeleteRegistryPolicy",
    "DeleteRepository",
    "DeleteRepositoryCreationTemplate",
    "DeleteRepositoryPolicy",
    "DeleteSigningConfiguration",
    "DeregisterPullTimeUpdateExclusion",
    "DescribeImageReplicationStatus",
    "DescribeImages",
    "DescribeImageScanFindings",
    "DescribeImageSigningStatus",
    "DescribePullThroughCacheRules",
    "DescribeRegistry",
    "DescribeRepositories",
    "DescribeRepositoryCreationTemplates",
    "GetAccountSetting",
    "GetAuthorizationToken",
    "GetDownloadUrlForLayer",
    "GetImageCopyStatus",
    "GetLifecyclePolicy",
    "GetLifecyclePolicyPreview",
    "GetRegistryPolicy",
    "GetRegistryScanningConfiguration",
    "GetRepositoryPolicy",
    "GetSigningConfiguration",
    "InitiateLayerUpload",
    "ListImageReferrers",
    "ListImages",
    "ListPullTimeUpdateExclusions",
    "ListTagsForResource",
    "PutAccountSetting",
    "PutImage",
    "PutImageScanningConfiguration",
    "PutImageTagMutability",
    "PutLifecyclePolicy",
    "PutRegistryPolicy",
    "PutRegistryScanningConfiguration",
    "PutReplicationConfiguration",
    "PutSigningConfiguration",
    "RegisterPullTimeUpdateExclusion",
    "ReplicateImage",
    "SetRepositoryPolicy",
    "StartImageScan",
    "StartLifecyclePolicyPreview",
    "TagResource",
    "UntagResource",
    "UpdateImageStorageClass",
    "UpdatePullThroughCacheRule",
    "UpdateRepositoryCreationTemplate",
    "UploadLayerPart",
    "ValidatePullThroughCacheRule",
};
/* END GENERATED ECR ACTIONS */

size_t policylint_ecr_action_count(void)
{
  return NELEM(ecr_actions);
}

const char *policylint_ecr_action(size_t i)
{
  return i < NELEM(ecr_actions) ? ecr_actions[i] : NULL;
}

static bool istarts(const char *s, size_t n, const char *prefix)
{
  size_t pn = strlen(prefix);
  return n >= pn && pol_ieq(s, pn, prefix, pn);
}

static bool icontains(const char *s, const char *needle)
{
  size_t n = strlen(s), k = strlen(needle);
  for (size_t i = 0; i + k <= n; i++)
    if (pol_ieq(s + i, k, needle, k))
      return true;
  return false;
}

bool policylint_ecr_action_known(const char *name)
{
  if (!name)
    return false;
  size_t n = strlen(name);
  if (istarts(name, n, "ecr:")) {
    name += 4;
    n -= 4;
  }
  for (size_t i = 0; i < NELEM(ecr_actions); i++)
    if (pol_ieq(name, n, ecr_actions[i], strlen(ecr_actions[i])))
      return true;
  return false;
}

/* Names longer than this are never typos of a known one. */
#define NAME_MAX_CHARS 96

/* Levenshtein distance, case-insensitive; both lengths at most NAME_MAX_CHARS. */
static size_t edit_distance(const char *a, size_t an, const char *b, size_t bn)
{
  size_t row[NAME_MAX_CHARS + 1];
  for (size_t j = 0; j <= bn; j++)
    row[j] = j;
  for (size_t i = 1; i <= an; i++) {
    size_t prev = row[0];
    row[0] = i;
    for (size_t j = 1; j <= bn; j++) {
      size_t cur = row[j];
      size_t best = prev + (pol_lower(a[i - 1]) != pol_lower(b[j - 1]));
      if (row[j] + 1 < best)
        best = row[j] + 1;
      if (row[j - 1] + 1 < best)
        best = row[j - 1] + 1;
      row[j] = best;
      prev = cur;
    }
  }
  return row[bn];
}

/* A typo is at most a third of the name wrong (two edits for short names). */
static bool close_enough(size_t distance, size_t n)
{
  size_t limit = n / 3 > 2 ? n / 3 : 2;
  return distance <= limit;
}

bool policylint_ecr_action_nearest(const char *name, char *out, size_t out_size)
{
  if (!name || !out || out_size == 0)
    return false;
  size_t n = strlen(name);
  if (istarts(name, n, "ecr:")) {
    name += 4;
    n -= 4;
  }
  if (n == 0 || n > NAME_MAX_CHARS)
    return false;
  const char *best = NULL;
  size_t best_d = (size_t)-1;
  for (size_t i = 0; i < NELEM(ecr_actions); i++) {
    size_t an = strlen(ecr_actions[i]);
    if (an > NAME_MAX_CHARS)
      continue;
    size_t d = edit_distance(name, n, ecr_actions[i], an);
    if (d < best_d) {
      best_d = d;
      best = ecr_actions[i];
    }
  }
  if (!best || !close_enough(best_d, n))
    return false;
  snprintf(out, out_size, "ecr:%s", best);
  return true;
}

/* ---- condition keys -------------------------------------------------------------------- */

/* What a key says about who may call, for telling a Principal "*" apart from one that a
 * condition narrows to one organization, account, role, network or endpoint. */
enum key_scope {
  SCOPE_NONE,        /* says nothing about who: tags, time, transport, the resource */
  SCOPE_LITERAL,     /* an id: narrows unless a wildcard (in a ...Like operator) opens it */
  SCOPE_ARN_ACCOUNT, /* an ARN: narrows when its account field is a literal */
  SCOPE_ORG_PATH,    /* an org path: narrows when its first segment (o-...) is a literal */
  SCOPE_CIDR,        /* an IP range: narrows unless it is /0 */
};

enum key_org {
  ORG_NONE,
  ORG_ID,   /* the value is an organization id */
  ORG_PATH, /* the value is an organization path, o-... first */
};

struct cond_key {
  const char *name; /* ending in '/': a prefix followed by a tag key */
  enum key_scope scope;
  enum key_org org;
};

/* The global condition keys of the IAM User Guide ("AWS global condition context keys") and
 * the ECR keys of the Service Authorization Reference. Compared case-insensitively. */
static const struct cond_key cond_keys[] = {
    {"aws:AssumedRoot", SCOPE_NONE, ORG_NONE},
    {"aws:CalledVia", SCOPE_NONE, ORG_NONE},
    {"aws:CalledViaFirst", SCOPE_NONE, ORG_NONE},
    {"aws:CalledViaLast", SCOPE_NONE, ORG_NONE},
    {"aws:ChatbotSourceArn", SCOPE_NONE, ORG_NONE},
    {"aws:CurrentTime", SCOPE_NONE, ORG_NONE},
    {"aws:Ec2InstanceSourcePrivateIPv4", SCOPE_NONE, ORG_NONE},
    {"aws:Ec2InstanceSourceVpc", SCOPE_NONE, ORG_NONE},
    {"aws:EpochTime", SCOPE_NONE, ORG_NONE},
    {"aws:FederatedProvider", SCOPE_NONE, ORG_NONE},
    {"aws:MultiFactorAuthAge", SCOPE_NONE, ORG_NONE},
    {"aws:MultiFactorAuthPresent", SCOPE_NONE, ORG_NONE},
    {"aws:PrincipalAccount", SCOPE_LITERAL, ORG_NONE},
    {"aws:PrincipalArn", SCOPE_ARN_ACCOUNT, ORG_NONE},
    {"aws:PrincipalIsAWSService", SCOPE_NONE, ORG_NONE},
    {"aws:PrincipalOrgID", SCOPE_LITERAL, ORG_ID},
    {"aws:PrincipalOrgPaths", SCOPE_ORG_PATH, ORG_PATH},
    {"aws:PrincipalServiceName", SCOPE_LITERAL, ORG_NONE},
    {"aws:PrincipalServiceNamesList", SCOPE_LITERAL, ORG_NONE},
    /* Any account can tag its own roles "team=x": a tag never narrows who. */
    {"aws:PrincipalTag/", SCOPE_NONE, ORG_NONE},
    {"aws:PrincipalType", SCOPE_NONE, ORG_NONE},
    {"aws:referer", SCOPE_NONE, ORG_NONE},
    {"aws:RequestedRegion", SCOPE_NONE, ORG_NONE},
    {"aws:RequestTag/", SCOPE_NONE, ORG_NONE},
    {"aws:ResourceAccount", SCOPE_NONE, ORG_NONE},
    {"aws:ResourceOrgID", SCOPE_NONE, ORG_ID},
    {"aws:ResourceOrgPaths", SCOPE_NONE, ORG_PATH},
    {"aws:ResourceTag/", SCOPE_NONE, ORG_NONE},
    {"aws:SecureTransport", SCOPE_NONE, ORG_NONE},
    {"aws:SourceAccount", SCOPE_LITERAL, ORG_NONE},
    {"aws:SourceArn", SCOPE_ARN_ACCOUNT, ORG_NONE},
    {"aws:SourceIdentity", SCOPE_NONE, ORG_NONE},
    {"aws:SourceIp", SCOPE_CIDR, ORG_NONE},
    {"aws:SourceOrgID", SCOPE_LITERAL, ORG_ID},
    {"aws:SourceOrgPaths", SCOPE_ORG_PATH, ORG_PATH},
    {"aws:SourceVpc", SCOPE_LITERAL, ORG_NONE},
    {"aws:SourceVpcArn", SCOPE_ARN_ACCOUNT, ORG_NONE},
    {"aws:SourceVpce", SCOPE_LITERAL, ORG_NONE},
    {"aws:TagKeys", SCOPE_NONE, ORG_NONE},
    {"aws:TokenIssueTime", SCOPE_NONE, ORG_NONE},
    {"aws:UserAgent", SCOPE_NONE, ORG_NONE},
    {"aws:userid", SCOPE_LITERAL, ORG_NONE},
    /* Any account can create a user of any name. */
    {"aws:username", SCOPE_NONE, ORG_NONE},
    {"aws:ViaAWSService", SCOPE_NONE, ORG_NONE},
    /* Private addresses repeat in every account's VPCs. */
    {"aws:VpcSourceIp", SCOPE_NONE, ORG_NONE},
    {"aws:VpceAccount", SCOPE_LITERAL, ORG_NONE},
    {"aws:VpceOrgID", SCOPE_LITERAL, ORG_ID},
    {"aws:VpceOrgPaths", SCOPE_ORG_PATH, ORG_PATH},
    {"ecr:AccountSetting", SCOPE_NONE, ORG_NONE},
    {"ecr:ResourceTag/", SCOPE_NONE, ORG_NONE},
};

static const struct cond_key *cond_key_find(const char *key)
{
  size_t n = strlen(key);
  for (size_t i = 0; i < NELEM(cond_keys); i++) {
    const char *k = cond_keys[i].name;
    size_t kn = strlen(k);
    if (k[kn - 1] == '/' ? n > kn && pol_ieq(key, kn, k, kn) : pol_ieq(key, n, k, kn))
      return &cond_keys[i];
  }
  return NULL;
}

/* The known key nearest to key, written (with the tag key kept for prefixes) into out. */
static bool cond_key_nearest(const char *key, char *out, size_t out_size)
{
  size_t n = strlen(key);
  const char *best = NULL;
  size_t best_d = (size_t)-1, best_cmp = 0;
  for (size_t i = 0; i < NELEM(cond_keys); i++) {
    const char *k = cond_keys[i].name;
    size_t kn = strlen(k), cmp = n;
    if (k[kn - 1] == '/') {
      const char *slash = strchr(key, '/');
      if (!slash)
        continue;
      cmp = (size_t)(slash - key) + 1;
    }
    if (cmp > NAME_MAX_CHARS || kn > NAME_MAX_CHARS)
      continue;
    size_t d = edit_distance(key, cmp, k, kn);
    if (d < best_d) {
      best_d = d;
      best = k;
      best_cmp = cmp;
    }
  }
  if (!best || best_d == 0 || !close_enough(best_d, best_cmp))
    return false;
  snprintf(out, out_size, "%s%s", best, best[strlen(best) - 1] == '/' ? key + best_cmp : "");
  return true;
}

/* ---- where things are ------------------------------------------------------------------ */

/* Locations are kept for paths this deep: /Statement/i/Condition/operator/key/j. */
#define LOC_MAX_DEPTH 6
#define LOC_MAX_ENTRIES 65536
#define LOC_PATH_MAX 1024

struct loc {
  char *path; /* JSON-pointer-like: "/Statement/2/Action/0", '~' and '/' in keys as ~0 ~1 */
  int line, col;
};

struct locmap {
  struct loc *v;
  size_t n, cap;
  bool nomem;
};

/* The scanner walks text that jansson accepted, so it only has to be safe, not strict. */
struct scan {
  const unsigned char *s;
  size_t n, i;
  int line, col;
  char path[LOC_PATH_MAX];
  size_t plen;
  bool overflow; /* the path did not fit: nothing under it is recorded */
  int depth;
  struct locmap *m;
};

static void sc_adv(struct scan *sc)
{
  unsigned char c = sc->s[sc->i++];
  if (c == '\n') {
    sc->line++;
    sc->col = 1;
  } else if ((c & 0xC0) != 0x80) {
    sc->col++;
  }
}

static bool sc_at(const struct scan *sc, char c)
{
  return sc->i < sc->n && sc->s[sc->i] == (unsigned char)c;
}

static void sc_ws(struct scan *sc)
{
  while (sc->i < sc->n && (sc->s[sc->i] == ' ' || sc->s[sc->i] == '\t' || sc->s[sc->i] == '\r' ||
                           sc->s[sc->i] == '\n'))
    sc_adv(sc);
}

static void path_putc(struct scan *sc, char c)
{
  if (sc->plen + 1 >= sizeof sc->path) {
    sc->overflow = true;
    return;
  }
  sc->path[sc->plen++] = c;
  sc->path[sc->plen] = '\0';
}

static void path_seg_byte(struct scan *sc, unsigned char c)
{
  if (c == '~') {
    path_putc(sc, '~');
    path_putc(sc, '0');
  } else if (c == '/') {
    path_putc(sc, '~');
    path_putc(sc, '1');
  } else {
    path_putc(sc, (char)c);
  }
}

static void path_seg_utf8(struct scan *sc, unsigned long cp)
{
  if (cp < 0x80) {
    path_seg_byte(sc, (unsigned char)cp);
  } else if (cp < 0x800) {
    path_putc(sc, (char)(0xC0 | (cp >> 6)));
    path_putc(sc, (char)(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    path_putc(sc, (char)(0xE0 | (cp >> 12)));
    path_putc(sc, (char)(0x80 | ((cp >> 6) & 0x3F)));
    path_putc(sc, (char)(0x80 | (cp & 0x3F)));
  } else {
    path_putc(sc, (char)(0xF0 | (cp >> 18)));
    path_putc(sc, (char)(0x80 | ((cp >> 12) & 0x3F)));
    path_putc(sc, (char)(0x80 | ((cp >> 6) & 0x3F)));
    path_putc(sc, (char)(0x80 | (cp & 0x3F)));
  }
}

static bool sc_hex4(struct scan *sc, unsigned long *out)
{
  unsigned long v = 0;
  for (int k = 0; k < 4; k++) {
    if (sc->i >= sc->n)
      return false;
    unsigned char c = sc->s[sc->i];
    int d = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (d < 0)
      return false;
    v = v * 16 + (unsigned long)d;
    sc_adv(sc);
  }
  *out = v;
  return true;
}

/* Skips the string at the opening quote; with seg, appends it decoded as a path segment. */
static void sc_string(struct scan *sc, bool seg)
{
  sc_adv(sc); /* '"' */
  while (sc->i < sc->n && !sc_at(sc, '"')) {
    unsigned char c = sc->s[sc->i];
    sc_adv(sc);
    if (c != '\\') {
      if (seg)
        path_seg_byte(sc, c);
      continue;
    }
    if (sc->i >= sc->n)
      return;
    unsigned char esc = sc->s[sc->i];
    sc_adv(sc);
    unsigned long cp = esc;
    switch (esc) {
    case 'b': cp = '\b'; break;
    case 'f': cp = '\f'; break;
    case 'n': cp = '\n'; break;
    case 'r': cp = '\r'; break;
    case 't': cp = '\t'; break;
    case 'u':
      if (!sc_hex4(sc, &cp))
        return;
      if (cp >= 0xD800 && cp <= 0xDBFF && sc_at(sc, '\\')) {
        size_t save_i = sc->i;
        int save_line = sc->line, save_col = sc->col;
        unsigned long lo = 0;
        sc_adv(sc);
        if (sc_at(sc, 'u')) {
          sc_adv(sc);
          if (sc_hex4(sc, &lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            break;
          }
        }
        sc->i = save_i;
        sc->line = save_line;
        sc->col = save_col;
      }
      break;
    default: break; /* \" \\ \/ stand for themselves */
    }
    if (seg)
      path_seg_utf8(sc, cp);
  }
  if (sc->i < sc->n)
    sc_adv(sc); /* closing '"' */
}

static void loc_add(struct scan *sc, int line, int col)
{
  struct locmap *m = sc->m;
  if (m->nomem || sc->overflow || sc->depth > LOC_MAX_DEPTH || m->n >= LOC_MAX_ENTRIES)
    return;
  if (m->n == m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 64;
    struct loc *v = realloc(m->v, cap * sizeof *v);
    if (!v) {
      m->nomem = true;
      return;
    }
    m->v = v;
    m->cap = cap;
  }
  char *p = str_dup(sc->path);
  if (!p) {
    m->nomem = true;
    return;
  }
  m->v[m->n++] = (struct loc){p, line, col};
}

static void sc_value(struct scan *sc);

static void sc_container(struct scan *sc, bool object)
{
  sc_adv(sc); /* '{' or '[' */
  char close = object ? '}' : ']';
  for (long index = 0;; index++) {
    sc_ws(sc);
    if (sc->i >= sc->n)
      return;
    if (sc_at(sc, close)) {
      sc_adv(sc);
      return;
    }
    if (sc_at(sc, ',')) {
      sc_adv(sc);
      sc_ws(sc);
    }
    size_t plen = sc->plen;
    bool overflow = sc->overflow;
    int line = sc->line, col = sc->col;
    path_putc(sc, '/');
    sc->depth++;
    if (object) {
      if (!sc_at(sc, '"'))
        return; /* not what jansson accepted: stop quietly */
      sc_string(sc, true);
      loc_add(sc, line, col); /* a member: where its key is */
      sc_ws(sc);
      if (sc_at(sc, ':'))
        sc_adv(sc);
      sc_ws(sc);
    } else {
      char num[24];
      snprintf(num, sizeof num, "%ld", index);
      for (const char *p = num; *p; p++)
        path_putc(sc, *p);
      loc_add(sc, line, col);
    }
    size_t before = sc->i;
    sc_value(sc);
    sc->depth--;
    sc->plen = plen;
    sc->path[plen] = '\0';
    sc->overflow = overflow;
    if (sc->i == before)
      return; /* no progress: malformed */
  }
}

static void sc_value(struct scan *sc)
{
  sc_ws(sc);
  if (sc->i >= sc->n)
    return;
  unsigned char c = sc->s[sc->i];
  if (c == '{' || c == '[') {
    if (sc->depth < 4096) /* jansson stops at 2048 */
      sc_container(sc, c == '{');
    return;
  }
  if (c == '"') {
    sc_string(sc, false);
    return;
  }
  while (sc->i < sc->n && !strchr(",}] \t\r\n", sc->s[sc->i]) && sc->s[sc->i] != '\0')
    sc_adv(sc);
}

static void locmap_build(struct locmap *m, const char *text, size_t n)
{
  struct scan sc = {.s = (const unsigned char *)text, .n = n, .line = 1, .col = 1, .m = m};
  sc_value(&sc);
}

static void locmap_release(struct locmap *m)
{
  for (size_t i = 0; i < m->n; i++)
    free(m->v[i].path);
  free(m->v);
  memset(m, 0, sizeof *m);
}

static const struct loc *loc_find(const struct locmap *m, const char *path)
{
  for (size_t i = 0; i < m->n; i++)
    if (strcmp(m->v[i].path, path) == 0)
      return &m->v[i];
  return NULL;
}

/* ---- the lint run ---------------------------------------------------------------------- */

#define PATH_MAX_BYTES 512

struct lint {
  struct policylint_report *r;
  struct locmap locs;
  json_t *doc;
  json_t *stmts; /* the Statement element: an array, or one object */
  bool nomem;
};

/* Appends "/seg" (escaped) to a path. */
static void path_join(char *out, size_t size, const char *base, const char *seg)
{
  size_t n = (size_t)snprintf(out, size, "%s/", base);
  for (const char *p = seg; *p && n + 3 < size; p++) {
    if (*p == '~' || *p == '/') {
      out[n++] = '~';
      out[n++] = *p == '~' ? '0' : '1';
    } else {
      out[n++] = *p;
    }
  }
  if (n < size)
    out[n] = '\0';
}

static void path_index(char *out, size_t size, const char *base, size_t i)
{
  snprintf(out, size, "%s/%zu", base, i);
}

static size_t stmt_count(const struct lint *L)
{
  return json_is_array(L->stmts) ? json_array_size(L->stmts) : (L->stmts ? 1 : 0);
}

static json_t *stmt_at(const struct lint *L, size_t i)
{
  return json_is_array(L->stmts) ? json_array_get(L->stmts, i) : L->stmts;
}

static void stmt_path(const struct lint *L, size_t i, char *out, size_t size)
{
  if (json_is_array(L->stmts))
    snprintf(out, size, "/Statement/%zu", i);
  else
    snprintf(out, size, "/Statement");
}

/* "Statement[2] (Sid Pull)" or "Statement", for messages. */
static void stmt_name(const struct lint *L, size_t i, char *out, size_t size)
{
  json_t *sid = json_object_get(stmt_at(L, i), "Sid");
  char idx[32] = "";
  if (json_is_array(L->stmts))
    snprintf(idx, sizeof idx, "[%zu]", i);
  if (json_is_string(sid))
    snprintf(out, size, "Statement%s (Sid %.60s)", idx, json_string_value(sid));
  else
    snprintf(out, size, "Statement%s", idx);
}

static void finding(struct lint *L, enum policylint_rule rule, long stmt, const char *path,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void finding(struct lint *L, enum policylint_rule rule, long stmt, const char *path,
                    const char *fmt, ...)
{
  struct policylint_report *r = L->r;
  enum policylint_severity sev = rule_infos[rule].severity;
  r->counts[sev]++;
  if (r->n >= POLICYLINT_MAX_FINDINGS) {
    r->truncated = true;
    return;
  }
  if (r->n % 16 == 0) {
    struct policylint_finding *v = realloc(r->findings, (r->n + 16) * sizeof *v);
    if (!v) {
      L->nomem = true;
      return;
    }
    r->findings = v;
  }
  struct policylint_finding *f = &r->findings[r->n++];
  memset(f, 0, sizeof *f);
  f->rule = rule;
  f->severity = sev;
  f->statement = stmt;
  const struct loc *at = path ? loc_find(&L->locs, path) : NULL;
  if (!at && stmt >= 0) {
    char sp[PATH_MAX_BYTES];
    stmt_path(L, (size_t)stmt, sp, sizeof sp);
    at = loc_find(&L->locs, sp);
  }
  if (at) {
    f->line = at->line;
    f->column = at->col;
  }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(f->message, sizeof f->message, fmt, ap);
  va_end(ap);
}

/* Calls fn for each string of an element that is a string or an array of strings, with the
 * path of that string. */
typedef void (*string_fn)(struct lint *L, size_t stmt, const char *value, const char *path,
                          void *ctx);

static void each_string(struct lint *L, size_t stmt, const json_t *v, const char *path,
                        string_fn fn, void *ctx)
{
  if (json_is_string(v)) {
    fn(L, stmt, json_string_value(v), path, ctx);
    return;
  }
  size_t j;
  json_t *x;
  json_array_foreach(v, j, x)
  {
    if (!json_is_string(x))
      continue;
    char p[PATH_MAX_BYTES];
    path_index(p, sizeof p, path, j);
    fn(L, stmt, json_string_value(x), p, ctx);
  }
}

static bool has_wild(const char *s)
{
  return strpbrk(s, "*?") != NULL;
}

/* True when the Action element (string or array) matches action. */
static bool action_elem_matches(const json_t *acts, const char *action)
{
  if (json_is_string(acts)) {
    const char *p = json_string_value(acts);
    return pol_glob(p, strlen(p), NULL, action, strlen(action), GLOB_ICASE);
  }
  size_t j;
  json_t *x;
  json_array_foreach(acts, j, x)
  {
    if (json_is_string(x) && action_elem_matches(x, action))
      return true;
  }
  return false;
}

/* ---- rules: the document --------------------------------------------------------------- */

static size_t utf8_chars(const char *s, size_t n)
{
  size_t c = 0;
  for (size_t i = 0; i < n; i++)
    if (((unsigned char)s[i] & 0xC0) != 0x80)
      c++;
  return c;
}

static void rule_size(struct lint *L, const char *text, size_t n)
{
  size_t chars = utf8_chars(text, n);
  if (chars <= POLICY_REPOSITORY_MAX_CHARS)
    return;
  char *compact = L->doc ? json_dumps(L->doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  size_t minified = compact ? utf8_chars(compact, strlen(compact)) : 0;
  free(compact);
  if (minified && minified <= POLICY_REPOSITORY_MAX_CHARS)
    finding(L, POLICYLINT_TOO_LARGE, -1, NULL,
            "the document is %zu characters, over ECR's limit of %d (whitespace counts); "
            "minified it is %zu and fits: set it without the whitespace",
            chars, POLICY_REPOSITORY_MAX_CHARS, minified);
  else if (minified)
    finding(L, POLICYLINT_TOO_LARGE, -1, NULL,
            "the document is %zu characters (%zu minified), over ECR's limit of %d: merge "
            "statements that differ only in Principal, or grant the organization "
            "(aws:PrincipalOrgID) in one statement instead of one per account",
            chars, minified, POLICY_REPOSITORY_MAX_CHARS);
  else
    finding(L, POLICYLINT_TOO_LARGE, -1, NULL,
            "the document is %zu characters, over ECR's limit of %d (whitespace counts)", chars,
            POLICY_REPOSITORY_MAX_CHARS);
}

/* The evaluator's own grammar: what it refuses, SetRepositoryPolicy refuses too. */
static void rule_grammar(struct lint *L)
{
  struct policy *p = NULL;
  struct err e = {0};
  enum err_code rc = policy_parse_json(L->doc, &p, &e);
  policy_free(p);
  if (rc == ERR_OK)
    return;
  if (rc == ERR_NOMEM) {
    L->nomem = true;
    return;
  }
  long stmt = -1;
  if (strncmp(e.msg, "Statement[", 10) == 0) {
    char *end;
    long v = strtol(e.msg + 10, &end, 10);
    if (end != e.msg + 10 && *end == ']')
      stmt = v;
  } else if (strncmp(e.msg, "Statement.", 10) == 0 || strncmp(e.msg, "Statement ", 10) == 0) {
    stmt = json_is_object(L->stmts) ? 0 : -1;
  }
  finding(L, POLICYLINT_POLICY_GRAMMAR, stmt, NULL, "%s", e.msg);
}

static void rule_duplicate_sids(struct lint *L)
{
  size_t n = stmt_count(L);
  for (size_t i = 1; i < n; i++) {
    json_t *sid = json_object_get(stmt_at(L, i), "Sid");
    if (!json_is_string(sid))
      continue;
    for (size_t j = 0; j < i; j++) {
      json_t *other = json_object_get(stmt_at(L, j), "Sid");
      if (json_is_string(other) && json_equal(sid, other)) {
        char p[PATH_MAX_BYTES], sp[PATH_MAX_BYTES];
        stmt_path(L, i, sp, sizeof sp);
        path_join(p, sizeof p, sp, "Sid");
        finding(L, POLICYLINT_DUPLICATE_SID, (long)i, p,
                "Statement[%zu] has Sid \"%.60s\", as Statement[%zu] does: Sids must be unique "
                "in a policy",
                i, json_string_value(sid), j);
        break;
      }
    }
  }
}

/* ---- rules: one statement -------------------------------------------------------------- */

static void rule_resource(struct lint *L, size_t i, const json_t *st, const char *sp)
{
  static const char *const keys[] = {"Resource", "NotResource"};
  for (size_t k = 0; k < NELEM(keys); k++) {
    if (!json_object_get(st, keys[k]))
      continue;
    char p[PATH_MAX_BYTES], name[128];
    path_join(p, sizeof p, sp, keys[k]);
    stmt_name(L, i, name, sizeof name);
    finding(L, POLICYLINT_RESOURCE_ELEMENT, (long)i, p,
            "%s has a %s element: a repository policy applies to its repository, and "
            "SetRepositoryPolicy refuses a document with one; remove it",
            name, keys[k]);
  }
}

struct action_ctx {
  const char *elem;  /* "Action" or "NotAction" */
  bool typo_of_pull; /* an unknown action whose nearest name is a pull action */
};

static void check_action(struct lint *L, size_t i, const char *v, const char *path, void *vctx)
{
  struct action_ctx *ctx = vctx;
  char name[128];
  stmt_name(L, i, name, sizeof name);
  if (strcmp(v, "*") == 0)
    return;
  const char *colon = strchr(v, ':');
  if (!colon) {
    finding(L, POLICYLINT_UNKNOWN_ACTION, (long)i, path,
            "%s: %s \"%.80s\" has no service prefix: ECR actions are written ecr:Name", name,
            ctx->elem, v);
    return;
  }
  size_t pn = (size_t)(colon - v);
  if (!pol_glob(v, pn, NULL, "ecr", 3, GLOB_ICASE)) {
    finding(L, POLICYLINT_FOREIGN_ACTION, (long)i, path,
            "%s: \"%.80s\" is an action of another service (%.*s): it never applies to an ECR "
            "repository",
            name, v, (int)(pn > 40 ? 40 : pn), v);
    return;
  }
  const char *act = colon + 1;
  size_t an = strlen(act);
  if (has_wild(act)) {
    for (size_t k = 0; k < NELEM(ecr_actions); k++)
      if (pol_glob(act, an, NULL, ecr_actions[k], strlen(ecr_actions[k]), GLOB_ICASE))
        return;
    finding(L, POLICYLINT_UNKNOWN_ACTION, (long)i, path, "%s: %s \"%.80s\" matches no ECR action",
            name, ctx->elem, v);
    return;
  }
  if (policylint_ecr_action_known(act))
    return;
  char near[128];
  if (policylint_ecr_action_nearest(act, near, sizeof near)) {
    if (strcmp(near, "ecr:BatchGetImage") == 0 || strcmp(near, "ecr:GetDownloadUrlForLayer") == 0)
      ctx->typo_of_pull = true;
    finding(L, POLICYLINT_UNKNOWN_ACTION, (long)i, path,
            "%s: %s \"%.80s\" is not an ECR action; did you mean \"%s\"?", name, ctx->elem, v,
            near);
  } else {
    finding(L, POLICYLINT_UNKNOWN_ACTION, (long)i, path, "%s: %s \"%.80s\" is not an ECR action",
            name, ctx->elem, v);
  }
}

static bool rule_actions(struct lint *L, size_t i, const json_t *st, const char *sp)
{
  struct action_ctx ctx = {.elem = "Action"};
  const json_t *acts = json_object_get(st, "Action");
  if (!acts) {
    ctx.elem = "NotAction";
    acts = json_object_get(st, "NotAction");
  }
  if (!acts)
    return false;
  char p[PATH_MAX_BYTES];
  path_join(p, sizeof p, sp, ctx.elem);
  each_string(L, i, acts, p, check_action, &ctx);
  return ctx.typo_of_pull;
}

static bool is_allow(const json_t *st)
{
  json_t *eff = json_object_get(st, "Effect");
  return json_is_string(eff) && strcmp(json_string_value(eff), "Allow") == 0;
}

static void rule_pull(struct lint *L, size_t i, const json_t *st, const char *sp, bool typo)
{
  const json_t *acts = json_object_get(st, "Action");
  if (!is_allow(st) || !acts)
    return;
  bool get = action_elem_matches(acts, "ecr:BatchGetImage");
  bool layer = action_elem_matches(acts, "ecr:GetDownloadUrlForLayer");
  json_t *sid = json_object_get(st, "Sid");
  bool meant =
      get || layer || typo || (json_is_string(sid) && icontains(json_string_value(sid), "pull"));
  if (!meant || (get && layer))
    return;
  char p[PATH_MAX_BYTES], name[128];
  path_join(p, sizeof p, sp, "Action");
  stmt_name(L, i, name, sizeof name);
  finding(L, POLICYLINT_PULL_ACTIONS, (long)i, p,
          "%s looks meant to allow pulls but lacks %s%s%s: a pull needs both (the manifest, then "
          "the layers)",
          name, get ? "" : "ecr:BatchGetImage", !get && !layer ? " and " : "",
          layer ? "" : "ecr:GetDownloadUrlForLayer");
}

/* True when the Principal element names every principal: "*", {"AWS": "*"} or "*" in the AWS
 * list. */
static bool principal_everyone(const json_t *p)
{
  if (json_is_string(p))
    return strcmp(json_string_value(p), "*") == 0;
  json_t *aws = json_object_get(p, "AWS");
  if (json_is_string(aws))
    return strcmp(json_string_value(aws), "*") == 0;
  size_t j;
  json_t *x;
  json_array_foreach(aws, j, x)
  {
    if (json_is_string(x) && strcmp(json_string_value(x), "*") == 0)
      return true;
  }
  return false;
}

/* An operator as written, reduced to what matters for "does it narrow who": positive, not
 * ...IfExists, not ForAllValues (which an empty key satisfies), and whether wildcards work. */
struct op_shape {
  bool narrows; /* an operator that can narrow: equality, Like, Arn, IpAddress */
  bool like;    /* '*' and '?' are wildcards in its values */
  bool ip;
};

static struct op_shape op_shape(const char *op)
{
  struct op_shape s = {false, false, false};
  size_t n = strlen(op);
  if (istarts(op, n, "ForAllValues:"))
    return s;
  if (istarts(op, n, "ForAnyValue:")) {
    op += 12;
    n -= 12;
  }
  if (n > 8 && pol_ieq(op + n - 8, 8, "IfExists", 8))
    return s;
  static const struct {
    const char *name;
    bool like, ip;
  } ops[] = {
      {"StringEquals", false, false}, {"StringEqualsIgnoreCase", false, false},
      {"StringLike", true, false},    {"ArnEquals", true, false},
      {"ArnLike", true, false},       {"IpAddress", false, true},
  };
  for (size_t k = 0; k < NELEM(ops); k++)
    if (pol_ieq(op, n, ops[k].name, strlen(ops[k].name))) {
      s.narrows = true;
      s.like = ops[k].like;
      s.ip = ops[k].ip;
    }
  return s;
}

/* Does one value of a narrowing key keep strangers out? */
static bool value_narrows(const struct cond_key *ck, const char *key, struct op_shape op,
                          const json_t *v)
{
  if (json_is_integer(v))
    return ck->scope == SCOPE_LITERAL || ck->scope == SCOPE_ARN_ACCOUNT;
  if (!json_is_string(v))
    return false;
  const char *s = json_string_value(v);
  /* A variable naming the key itself compares the key with itself: always true. */
  char self[160];
  snprintf(self, sizeof self, "${%s}", key);
  if (icontains(s, self))
    return false;
  switch (ck->scope) {
  case SCOPE_LITERAL: return !op.like || !has_wild(s);
  case SCOPE_ARN_ACCOUNT: {
    /* arn:partition:service:region:ACCOUNT:resource */
    const char *p = s;
    for (int k = 0; k < 4; k++) {
      p = strchr(p, ':');
      if (!p)
        return !op.like || !has_wild(s);
      p++;
    }
    const char *end = strchr(p, ':');
    size_t an = end ? (size_t)(end - p) : strlen(p);
    if (an == 0)
      return false;
    for (size_t k = 0; k < an; k++)
      if (op.like && (p[k] == '*' || p[k] == '?'))
        return false;
    return true;
  }
  case SCOPE_ORG_PATH: {
    const char *slash = strchr(s, '/');
    size_t sn = slash ? (size_t)(slash - s) : strlen(s);
    if (sn == 0)
      return false;
    for (size_t k = 0; k < sn; k++)
      if (op.like && (s[k] == '*' || s[k] == '?'))
        return false;
    return true;
  }
  case SCOPE_CIDR: {
    size_t n = strlen(s);
    return !(n >= 2 && strcmp(s + n - 2, "/0") == 0);
  }
  case SCOPE_NONE: break;
  }
  return false;
}

/* True when some condition of the statement limits who can call to an organization, account,
 * principal, network or endpoint (conditions AND together, so one is enough). */
static bool condition_narrows(const json_t *cond)
{
  const char *op;
  json_t *block;
  json_object_foreach((json_t *)cond, op, block)
  {
    struct op_shape shape = op_shape(op);
    if (!shape.narrows || !json_is_object(block))
      continue;
    const char *key;
    json_t *vals;
    json_object_foreach(block, key, vals)
    {
      const struct cond_key *ck = cond_key_find(key);
      if (!ck || ck->scope == SCOPE_NONE || (ck->scope == SCOPE_CIDR) != shape.ip)
        continue;
      /* Values OR together: one wide value opens the condition. */
      bool all = true;
      if (json_is_array(vals)) {
        size_t j;
        json_t *x;
        all = json_array_size(vals) > 0;
        json_array_foreach(vals, j, x) all = all && value_narrows(ck, key, shape, x);
      } else {
        all = value_narrows(ck, key, shape, vals);
      }
      if (all)
        return true;
    }
  }
  return false;
}

static void rule_principal_star(struct lint *L, size_t i, const json_t *st, const char *sp)
{
  if (!is_allow(st))
    return;
  const json_t *notp = json_object_get(st, "NotPrincipal");
  const json_t *prin = json_object_get(st, "Principal");
  if (!notp && !principal_everyone(prin))
    return;
  if (condition_narrows(json_object_get(st, "Condition")))
    return;
  const json_t *acts = json_object_get(st, "Action");
  bool pull = acts && action_elem_matches(acts, "ecr:BatchGetImage") &&
              action_elem_matches(acts, "ecr:GetDownloadUrlForLayer");
  char p[PATH_MAX_BYTES], name[128];
  path_join(p, sizeof p, sp, notp ? "NotPrincipal" : "Principal");
  stmt_name(L, i, name, sizeof name);
  const char *what = pull ? "pull from this repository" : "call the actions it allows";
  if (notp)
    finding(L, POLICYLINT_PRINCIPAL_STAR, (long)i, p,
            "%s allows with NotPrincipal: every principal it does not list, in every AWS "
            "account, can %s; name the principals in Principal instead",
            name, what);
  else
    finding(L, POLICYLINT_PRINCIPAL_STAR, (long)i, p,
            "%s allows Principal \"*\" with no condition that narrows who (such as "
            "aws:PrincipalOrgID, aws:PrincipalOrgPaths or aws:PrincipalArn): every AWS account "
            "can %s",
            name, what);
}

static bool valid_org_id(const char *s, size_t n)
{
  if (n < 12 || n > 34 || strncmp(s, "o-", 2) != 0)
    return false;
  for (size_t k = 2; k < n; k++)
    if (!((s[k] >= 'a' && s[k] <= 'z') || (s[k] >= '0' && s[k] <= '9')))
      return false;
  return true;
}

struct org_ctx {
  const struct cond_key *ck;
  const char *key;
};

static void check_org_value(struct lint *L, size_t i, const char *v, const char *path, void *vctx)
{
  struct org_ctx *ctx = vctx;
  const char *slash = ctx->ck->org == ORG_PATH ? strchr(v, '/') : NULL;
  size_t n = slash ? (size_t)(slash - v) : strlen(v);
  /* A pattern or a variable where the id is: not an id to check. */
  for (size_t k = 0; k < n; k++)
    if (v[k] == '*' || v[k] == '?' || (v[k] == '$' && v[k + 1] == '{'))
      return;
  if (valid_org_id(v, n))
    return;
  char name[128];
  stmt_name(L, i, name, sizeof name);
  finding(L, POLICYLINT_ORG_ID, (long)i, path,
          "%s: %s value \"%.80s\" %s an organization id (o- and 10 to 32 lower-case letters "
          "or digits), so it never matches",
          name, ctx->key, v, ctx->ck->org == ORG_PATH ? "does not start with" : "is not");
}

static void rule_conditions(struct lint *L, size_t i, const json_t *st, const char *sp)
{
  const json_t *cond = json_object_get(st, "Condition");
  if (!json_is_object(cond))
    return;
  char cp[PATH_MAX_BYTES], name[128];
  path_join(cp, sizeof cp, sp, "Condition");
  stmt_name(L, i, name, sizeof name);
  const char *op;
  json_t *block;
  json_object_foreach((json_t *)cond, op, block)
  {
    if (!json_is_object(block))
      continue;
    char op_path[PATH_MAX_BYTES];
    path_join(op_path, sizeof op_path, cp, op);
    const char *key;
    json_t *vals;
    json_object_foreach(block, key, vals)
    {
      char kp[PATH_MAX_BYTES];
      path_join(kp, sizeof kp, op_path, key);
      const struct cond_key *ck = cond_key_find(key);
      if (!ck) {
        char near[160];
        const char *colon = strchr(key, ':');
        size_t pn = colon ? (size_t)(colon - key) : 0;
        if (colon && !istarts(key, strlen(key), "aws:") && !istarts(key, strlen(key), "ecr:"))
          finding(L, POLICYLINT_UNKNOWN_CONDITION_KEY, (long)i, kp,
                  "%s: condition key \"%.80s\" belongs to another service (%.*s): requests to "
                  "ECR never carry it, so %s",
                  name, key, (int)(pn > 40 ? 40 : pn), key,
                  "the condition is false (true with ...IfExists or a negated operator)");
        else if (cond_key_nearest(key, near, sizeof near))
          finding(L, POLICYLINT_UNKNOWN_CONDITION_KEY, (long)i, kp,
                  "%s: \"%.80s\" is not a condition key of ECR or a global one; did you mean "
                  "\"%s\"?",
                  name, key, near);
        else
          finding(L, POLICYLINT_UNKNOWN_CONDITION_KEY, (long)i, kp,
                  "%s: \"%.80s\" is not a condition key of ECR or a global one", name, key);
        continue;
      }
      if (ck->org != ORG_NONE) {
        struct org_ctx ctx = {ck, key};
        each_string(L, i, vals, kp, check_org_value, &ctx);
      }
    }
  }
}

/* The path of the first string under v holding "${", or false. */
static bool find_variable(const json_t *v, const char *path, char *out, size_t size)
{
  if (json_is_string(v)) {
    if (!strstr(json_string_value(v), "${"))
      return false;
    snprintf(out, size, "%s", path);
    return true;
  }
  char p[PATH_MAX_BYTES];
  if (json_is_array(v)) {
    size_t j;
    json_t *x;
    json_array_foreach(v, j, x)
    {
      path_index(p, sizeof p, path, j);
      if (find_variable(x, p, out, size))
        return true;
    }
  } else if (json_is_object(v)) {
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x)
    {
      path_join(p, sizeof p, path, k);
      if (find_variable(x, p, out, size))
        return true;
    }
  }
  return false;
}

static void rule_variables(struct lint *L, size_t i, const json_t *st, const char *sp)
{
  json_t *ver = json_object_get(L->doc, "Version");
  if (json_is_string(ver) && strcmp(json_string_value(ver), "2012-10-17") == 0)
    return;
  /* Variables are expanded in Resource and in condition values. */
  static const char *const elems[] = {"Resource", "NotResource", "Condition"};
  for (size_t k = 0; k < NELEM(elems); k++) {
    char ep[PATH_MAX_BYTES], at[PATH_MAX_BYTES], name[128];
    path_join(ep, sizeof ep, sp, elems[k]);
    if (!find_variable(json_object_get(st, elems[k]), ep, at, sizeof at))
      continue;
    stmt_name(L, i, name, sizeof name);
    char ver_text[80];
    if (json_is_string(ver))
      snprintf(ver_text, sizeof ver_text, "Version %.40s", json_string_value(ver));
    else
      snprintf(ver_text, sizeof ver_text, "no Version");
    finding(L, POLICYLINT_VERSION_VARIABLES, (long)i, at,
            "%s uses a ${...} policy variable, but the document has %s: only "
            "\"Version\": \"2012-10-17\" expands variables, elsewhere they are literal text",
            name, ver_text);
    return;
  }
}

static void lint_statements(struct lint *L)
{
  size_t n = stmt_count(L);
  for (size_t i = 0; i < n && !L->nomem; i++) {
    const json_t *st = stmt_at(L, i);
    if (!json_is_object(st))
      continue; /* policy-grammar says so */
    char sp[PATH_MAX_BYTES];
    stmt_path(L, i, sp, sizeof sp);
    rule_resource(L, i, st, sp);
    bool typo = rule_actions(L, i, st, sp);
    rule_pull(L, i, st, sp, typo);
    rule_principal_star(L, i, st, sp);
    rule_conditions(L, i, st, sp);
    rule_variables(L, i, st, sp);
  }
  rule_duplicate_sids(L);
}

enum err_code policylint_run(const char *text, size_t n, struct policylint_report *out,
                             struct err *e)
{
  if (out)
    memset(out, 0, sizeof *out);
  if (!text || !out)
    return err_set(e, ERR_INVALID, "policylint_run needs a text and a report");
  struct lint L = {.r = out};
  json_error_t je;
  L.doc = json_loadb(text, n, JSON_REJECT_DUPLICATES, &je);
  if (!L.doc) {
    finding(&L, POLICYLINT_JSON_SYNTAX, -1, NULL, "not valid JSON: %s", je.text);
    if (L.r->n > 0) {
      L.r->findings[L.r->n - 1].line = je.line;
      L.r->findings[L.r->n - 1].column = je.column > 0 ? je.column : 1;
    }
    rule_size(&L, text, n);
    goto out;
  }
  locmap_build(&L.locs, text, n);
  L.stmts = json_object_get(L.doc, "Statement");
  if (!json_is_array(L.stmts) && !json_is_object(L.stmts))
    L.stmts = NULL;
  rule_size(&L, text, n);
  rule_grammar(&L);
  lint_statements(&L);
out:
  locmap_release(&L.locs);
  json_decref(L.doc);
  if (L.nomem || L.locs.nomem) {
    policylint_release(out);
    return err_set(e, ERR_NOMEM, "out of memory linting the policy");
  }
  return ERR_OK;
}

void policylint_release(struct policylint_report *r)
{
  if (!r)
    return;
  free(r->findings);
  memset(r, 0, sizeof *r);
}

bool policylint_has_critical(const struct policylint_report *r)
{
  return r && r->counts[POLICYLINT_SEV_CRITICAL] > 0;
}

json_t *policylint_to_json(const struct policylint_report *r)
{
  json_t *findings = json_array();
  for (size_t i = 0; findings && r && i < r->n; i++) {
    const struct policylint_finding *f = &r->findings[i];
    json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "rule", rule_infos[f->rule].id,
                          "severity", policylint_severity_name(f->severity), "message", f->message,
                          "statement", f->statement >= 0 ? json_integer(f->statement) : json_null(),
                          "line", f->line > 0 ? json_integer(f->line) : json_null(), "column",
                          f->column > 0 ? json_integer(f->column) : json_null());
    if (!o || json_array_append_new(findings, o) != 0) {
      json_decref(findings);
      return NULL;
    }
  }
  if (!findings)
    return NULL;
  size_t c = r ? r->counts[POLICYLINT_SEV_CRITICAL] : 0;
  size_t w = r ? r->counts[POLICYLINT_SEV_WARNING] : 0;
  size_t inf = r ? r->counts[POLICYLINT_SEV_INFO] : 0;
  return json_pack("{s:b, s:{s:I, s:I, s:I}, s:o, s:b}", "ok", c == 0, "counts", "critical",
                   (json_int_t)c, "warning", (json_int_t)w, "info", (json_int_t)inf, "findings",
                   findings, "truncated", r && r->truncated);
}
