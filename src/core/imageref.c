/* Parsing of container image references into an ECR registry (account, region, partition,
 * FIPS, dual-stack), repository, tag and digest, with one lower-case sentence naming what is
 * wrong and what to do whenever the reference is not a usable private ECR reference.
 * Pure string work: no network, no AWS calls. Depends on core only. */
#include "ecrdiag/imageref.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecrdiag/buf.h"

/* Far above any real reference (host 70 + repository 256 + tag 128 + digest 71), low enough
 * that a pasted manifest or log is refused instead of parsed. */
#define IMAGEREF_MAX_BYTES 4096
/* How much of an offending part a message quotes before cutting it with "...". */
#define QUOTE_MAX 96
#define REPO_MIN 2
#define REPO_MAX 256 /* ECR RepositoryName: min 2, max 256 */
#define TAG_MAX 128  /* distribution grammar: [\w][\w.-]{0,127} */
#define MAX_HOST_LABELS 16

#define ECR_EXAMPLE "ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY:TAG"

/* Quoting a part of the input inside a message, cut to QUOTE_MAX bytes. */
#define Q_FMT "'%.*s%s'"
#define Q_ARG(p, n) (int)((n) > QUOTE_MAX ? QUOTE_MAX : (n)), (p), ((n) > QUOTE_MAX ? "..." : "")

static bool is_lower(char c)
{
  return c >= 'a' && c <= 'z';
}

static bool is_digit(char c)
{
  return c >= '0' && c <= '9';
}

static bool is_upper(char c)
{
  return c >= 'A' && c <= 'Z';
}

static bool is_word(char c)
{
  return is_lower(c) || is_upper(c) || is_digit(c) || c == '_';
}

static bool sv_is(struct sv v, const char *s)
{
  return sv_eq(v, s);
}

static enum err_code fail(struct image_ref *r, enum imageref_kind kind, struct err *e,
                          const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum err_code fail(struct image_ref *r, enum imageref_kind kind, struct err *e,
                          const char *fmt, ...)
{
  r->kind = kind;
  if (e) {
    e->code = ERR_PARSE;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
  }
  return ERR_PARSE;
}

/* ---- regions ---- */

/* The shape of a region name, roughly [a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]+. Returns NULL
 * when it fits, else the words saying what does not. */
static const char *region_problem(struct sv reg)
{
  if (reg.n == 0)
    return "is empty";
  if (reg.n >= sizeof(((struct image_ref *)0)->region))
    return "is longer than any AWS region name";
  for (size_t i = 0; i < reg.n; i++)
    if (!is_lower(reg.p[i]) && !is_digit(reg.p[i]) && reg.p[i] != '-')
      return "may contain only lower-case letters, digits and '-'";
  struct sv parts[6];
  size_t n = 0;
  const char *p = reg.p;
  const char *end = reg.p + reg.n;
  while (p <= end) {
    const char *dash = memchr(p, '-', (size_t)(end - p));
    const char *stop = dash ? dash : end;
    if (n == sizeof parts / sizeof parts[0])
      return "has too many '-' separated parts (regions look like 'ap-southeast-1')";
    parts[n++] = (struct sv){p, (size_t)(stop - p)};
    p = stop + 1;
    if (!dash)
      break;
  }
  for (size_t i = 0; i < n; i++)
    if (parts[i].n == 0)
      return "has an empty part between '-' (regions look like 'ap-southeast-1')";
  if (parts[0].n != 2 || !is_lower(parts[0].p[0]) || !is_lower(parts[0].p[1]))
    return "must start with a two-letter area such as 'us', 'eu' or 'ap'";
  if (n < 2)
    return "is incomplete (regions look like 'ap-southeast-1')";
  for (size_t i = 0; i < parts[n - 1].n; i++)
    if (!is_digit(parts[n - 1].p[i]))
      return "must end with '-' and a number, as in 'ap-southeast-1'";
  if (n < 3)
    return "must have a direction such as 'southeast' before the number";
  for (size_t i = 0; i < parts[n - 2].n; i++)
    if (!is_lower(parts[n - 2].p[i]))
      return "must have a direction such as 'southeast' before the number";
  if (n == 4) {
    struct sv q = parts[1];
    bool gov = sv_is(q, "gov");
    bool iso = q.n >= 3 && q.n <= 4 && memcmp(q.p, "iso", 3) == 0 && (q.n == 3 || is_lower(q.p[3]));
    if (!gov && !iso)
      return "has an unexpected part (regions look like 'ap-southeast-1' or 'us-gov-west-1')";
  } else if (n > 4) {
    return "has too many '-' separated parts (regions look like 'ap-southeast-1')";
  }
  return NULL;
}

/* ---- registry hosts ---- */

enum host_class {
  HOST_OTHER,    /* some other registry */
  HOST_ECR,      /* a private ECR registry host: r's registry fields are filled */
  HOST_ECR_BAD,  /* meant as ECR but wrong: the message is set */
  HOST_PUBLIC,   /* ECR Public */
  HOST_ISOLATED, /* ECR in a partition this tool has no endpoints for: the message is set */
};

/* Registry host suffixes, after ACCOUNT.dkr.ecr[-fips].REGION. or ACCOUNT.dkr-ecr[-fips].REGION.
 * Sources: the AWS General Reference "Amazon ECR endpoints and quotas" page (lists
 * dkr.ecr-fips.REGION.amazonaws.com and, for dual-stack, dkr-ecr.REGION.on.aws and
 * dkr-ecr-fips.REGION.on.aws), and the EKS AMI kubelet credential provider patterns
 * (awslabs/amazon-eks-ami nodeadm/internal/kubelet/image-credential-provider.template.json),
 * which add the China dual-stack *.dkr-ecr.*.on.amazonwebservices.com.cn and the isolated
 * partitions' domains. */
struct host_suffix {
  const char *suffix;
  bool dualstack;
  bool china;
  bool isolated;
};

static const struct host_suffix host_suffixes[] = {
    {"amazonaws.com", false, false, false}, {"amazonaws.com.cn", false, true, false},
    {"on.aws", true, false, false},         {"on.amazonwebservices.com.cn", true, true, false},
    {"c2s.ic.gov", false, false, true},     {"sc2s.sgov.gov", false, false, true},
    {"cloud.adc-e.uk", false, false, true}, {"csp.hci.ic.gov", false, false, true},
    {"amazonaws.eu", false, false, true},
};

static bool is_aws_domain(const char *host)
{
  static const char *const aws_suffixes[] = {".amazonaws.com", ".amazonaws.com.cn", ".on.aws",
                                             ".api.aws"};
  size_t n = strlen(host);
  for (size_t i = 0; i < sizeof aws_suffixes / sizeof aws_suffixes[0]; i++) {
    size_t m = strlen(aws_suffixes[i]);
    if (n > m && strcmp(host + n - m, aws_suffixes[i]) == 0)
      return true;
  }
  return false;
}

static enum host_class classify_host(const char *host, struct image_ref *r, struct err *e)
{
  if (strcmp(host, "public.ecr.aws") == 0 || strcmp(host, "ecr-public.aws.com") == 0)
    return HOST_PUBLIC;

  struct sv labels[MAX_HOST_LABELS];
  size_t n = 0;
  for (const char *p = host;;) {
    const char *dot = strchr(p, '.');
    size_t len = dot ? (size_t)(dot - p) : strlen(p);
    if (n == MAX_HOST_LABELS)
      return HOST_OTHER;
    labels[n++] = (struct sv){p, len};
    if (!dot)
      break;
    p = dot + 1;
  }

  /* Find the service label: "dkr" "ecr[-fips]" (IPv4) or "dkr-ecr[-fips]" (dual-stack). */
  size_t svc = n, region_at = n;
  bool fips = false, dual = false;
  for (size_t i = 0; i < n; i++) {
    if (sv_is(labels[i], "dkr") && i + 1 < n &&
        (sv_is(labels[i + 1], "ecr") || sv_is(labels[i + 1], "ecr-fips"))) {
      svc = i;
      region_at = i + 2;
      fips = sv_is(labels[i + 1], "ecr-fips");
      break;
    }
    if (sv_is(labels[i], "dkr-ecr") || sv_is(labels[i], "dkr-ecr-fips")) {
      svc = i;
      region_at = i + 1;
      fips = sv_is(labels[i], "dkr-ecr-fips");
      dual = true;
      break;
    }
  }
  if (svc == n) {
    /* An AWS host naming ECR but no registry: usually the API endpoint pasted instead. */
    for (size_t i = 0; i < n; i++) {
      if (labels[i].n >= 3 && memcmp(labels[i].p, "ecr", 3) == 0 && is_aws_domain(host)) {
        fail(r, IMAGEREF_MALFORMED, e,
             "'%s' is an ECR API endpoint, not a registry; images are pulled from "
             "ACCOUNT.dkr.ecr.REGION.amazonaws.com",
             host);
        return HOST_ECR_BAD;
      }
    }
    return HOST_OTHER;
  }

  /* The suffix decides whether this is an ECR host at all: a look-alike elsewhere is not. */
  const char *suffix = region_at + 1 < n ? labels[region_at + 1].p : "";
  const struct host_suffix *hs = NULL;
  for (size_t i = 0; i < sizeof host_suffixes / sizeof host_suffixes[0]; i++)
    if (strcmp(suffix, host_suffixes[i].suffix) == 0)
      hs = &host_suffixes[i];
  if (!hs) {
    if (!is_aws_domain(host) && region_at + 1 < n && strncmp(suffix, "amazonaws", 9) != 0)
      return HOST_OTHER;
    fail(r, IMAGEREF_MALFORMED, e,
         "'%s' does not end in an ECR registry domain; use "
         "ACCOUNT.dkr.ecr.REGION.amazonaws.com (or .amazonaws.com.cn in China)",
         host);
    return HOST_ECR_BAD;
  }
  if (hs->isolated) {
    fail(r, IMAGEREF_NOT_ECR, e,
         "'%s' is ECR in an isolated AWS partition, which this tool has no endpoints for; "
         "check the pull with that partition's own tools",
         host);
    return HOST_ISOLATED;
  }
  if (hs->dualstack != dual) {
    fail(r, IMAGEREF_MALFORMED, e,
         "'%s' mixes the IPv4 and dual-stack host forms; use ACCOUNT.dkr.ecr.REGION.%s or "
         "ACCOUNT.dkr-ecr.REGION.%s",
         host, hs->china ? "amazonaws.com.cn" : "amazonaws.com",
         hs->china ? "on.amazonwebservices.com.cn" : "on.aws");
    return HOST_ECR_BAD;
  }

  const char *svc_name = labels[svc].p;
  if (svc == 0) {
    fail(r, IMAGEREF_MALFORMED, e,
         "'%s' has no registry id; the host starts with the 12-digit account id, as in "
         "123456789012.%s",
         host, svc_name);
    return HOST_ECR_BAD;
  }
  if (svc > 1) {
    fail(r, IMAGEREF_MALFORMED, e,
         "'%.*s' before '.%s' should be a single 12-digit account id; remove the extra labels",
         (int)(svc_name - 1 - host), host, svc_name);
    return HOST_ECR_BAD;
  }
  struct sv acct = labels[0];
  bool digits = acct.n == 12;
  for (size_t i = 0; digits && i < acct.n; i++)
    digits = is_digit(acct.p[i]);
  if (!digits) {
    fail(r, IMAGEREF_MALFORMED, e,
         "registry id " Q_FMT " in '%s' must be exactly 12 digits (the AWS account id); "
         "copy the host from the ECR console or 'aws ecr describe-repositories'",
         Q_ARG(acct.p, acct.n), host);
    return HOST_ECR_BAD;
  }
  if (hs->china && fips) {
    fail(r, IMAGEREF_MALFORMED, e,
         "'%s' asks for FIPS in the China regions, which have no FIPS ECR endpoint; drop "
         "'-fips'",
         host);
    return HOST_ECR_BAD;
  }

  struct sv reg = labels[region_at];
  const char *why = region_problem(reg);
  if (why) {
    fail(r, IMAGEREF_MALFORMED, e,
         "region " Q_FMT " in '%s' %s; copy the registry host from the ECR console",
         Q_ARG(reg.p, reg.n), host, why);
    return HOST_ECR_BAD;
  }
  bool cn_region = reg.n > 3 && memcmp(reg.p, "cn-", 3) == 0;
  bool gov_region = reg.n > 7 && memcmp(reg.p, "us-gov-", 7) == 0;
  bool iso_region = reg.n > 6 && memcmp(reg.p + 2, "-iso", 4) == 0;
  if (hs->china && !cn_region) {
    fail(r, IMAGEREF_MALFORMED, e,
         "region '%.*s' is not a China region, yet '%s' is a China (aws-cn) host; use a cn-* "
         "region or the amazonaws.com host",
         (int)reg.n, reg.p, host);
    return HOST_ECR_BAD;
  }
  if (!hs->china && cn_region) {
    fail(r, IMAGEREF_MALFORMED, e,
         "region '%.*s' is a China region, served under amazonaws.com.cn and not '%s'; use "
         "ACCOUNT.dkr.ecr.%.*s.amazonaws.com.cn",
         (int)reg.n, reg.p, suffix, (int)reg.n, reg.p);
    return HOST_ECR_BAD;
  }
  if (iso_region) {
    fail(r, IMAGEREF_MALFORMED, e,
         "region '%.*s' belongs to an isolated partition that '%s' does not serve; check the "
         "region",
         (int)reg.n, reg.p, suffix);
    return HOST_ECR_BAD;
  }

  memcpy(r->registry_id, acct.p, 12);
  r->registry_id[12] = '\0';
  memcpy(r->region, reg.p, reg.n);
  r->region[reg.n] = '\0';
  snprintf(r->partition, sizeof r->partition, "%s",
           hs->china    ? "aws-cn"
           : gov_region ? "aws-us-gov"
                        : "aws");
  r->fips = fips;
  r->dualstack = dual;
  return HOST_ECR;
}

/* ---- repository, tag, digest ---- */

/* ECR's RepositoryName pattern from the service model (the distribution grammar's path):
 * [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)* */
static enum err_code check_repository(struct sv repo, const char *host, struct image_ref *r,
                                      struct err *e)
{
  if (repo.n == 0)
    return fail(r, IMAGEREF_MALFORMED, e,
                "no repository after '%s/'; add the repository name, as in %s/my-app:1.0", host,
                host);
  for (size_t i = 0; i < repo.n; i++) {
    if (is_upper(repo.p[i])) {
      char lower[QUOTE_MAX + 1];
      size_t m = repo.n > QUOTE_MAX ? QUOTE_MAX : repo.n;
      for (size_t j = 0; j < m; j++)
        lower[j] = is_upper(repo.p[j]) ? (char)(repo.p[j] - 'A' + 'a') : repo.p[j];
      lower[m] = '\0';
      return fail(r, IMAGEREF_MALFORMED, e,
                  "repository " Q_FMT " has upper-case letters, but repository names are lower "
                  "case; use '%s%s'",
                  Q_ARG(repo.p, repo.n), lower, repo.n > QUOTE_MAX ? "..." : "");
    }
  }
  for (size_t i = 0; i < repo.n; i++) {
    char c = repo.p[i];
    if (!is_lower(c) && !is_digit(c) && c != '.' && c != '_' && c != '-' && c != '/')
      return fail(r, IMAGEREF_MALFORMED, e,
                  "character '%c' at position %zu of repository " Q_FMT " is not allowed; "
                  "repository names use a-z, 0-9, '.', '_', '-' and '/'",
                  c, i + 1, Q_ARG(repo.p, repo.n));
  }
  if (repo.n < REPO_MIN)
    return fail(r, IMAGEREF_MALFORMED, e,
                "repository " Q_FMT " is too short, as ECR repository names are %d to %d "
                "characters long; check the name",
                Q_ARG(repo.p, repo.n), REPO_MIN, REPO_MAX);
  if (repo.n > REPO_MAX)
    return fail(r, IMAGEREF_MALFORMED, e,
                "repository " Q_FMT " is %zu characters long, but ECR repository names are %d "
                "to %d; check the name",
                Q_ARG(repo.p, repo.n), repo.n, REPO_MIN, REPO_MAX);

  const char *p = repo.p;
  const char *end = repo.p + repo.n;
  while (p <= end) {
    const char *slash = memchr(p, '/', (size_t)(end - p));
    const char *stop = slash ? slash : end;
    struct sv comp = {p, (size_t)(stop - p)};
    if (comp.n == 0)
      return fail(r, IMAGEREF_MALFORMED, e,
                  "repository " Q_FMT " has an empty path component (a leading, trailing or "
                  "doubled '/'); remove the extra '/'",
                  Q_ARG(repo.p, repo.n));
    char first = comp.p[0], last = comp.p[comp.n - 1];
    if (!(is_lower(first) || is_digit(first)) || !(is_lower(last) || is_digit(last)))
      return fail(r, IMAGEREF_MALFORMED, e,
                  "repository component " Q_FMT " must start and end with a letter or digit; "
                  "remove the leading or trailing '%c'",
                  Q_ARG(comp.p, comp.n), !(is_lower(first) || is_digit(first)) ? first : last);
    /* Separators between alphanumeric runs: ".", "_", "__" or any run of "-". */
    for (size_t i = 0; i < comp.n;) {
      if (is_lower(comp.p[i]) || is_digit(comp.p[i])) {
        i++;
        continue;
      }
      size_t j = i;
      while (j < comp.n && !is_lower(comp.p[j]) && !is_digit(comp.p[j]))
        j++;
      struct sv sep = {comp.p + i, j - i};
      bool dashes = true;
      for (size_t k = 0; k < sep.n; k++)
        dashes = dashes && sep.p[k] == '-';
      if (!(sv_is(sep, ".") || sv_is(sep, "_") || sv_is(sep, "__") || dashes))
        return fail(r, IMAGEREF_MALFORMED, e,
                    "separator " Q_FMT " in repository component " Q_FMT " is not allowed; "
                    "use a single '.', '_' or '__', or dashes",
                    Q_ARG(sep.p, sep.n), Q_ARG(comp.p, comp.n));
      i = j;
    }
    if (!slash)
      break;
    p = slash + 1;
  }
  return ERR_OK;
}

static enum err_code check_tag(struct sv tag, struct image_ref *r, struct err *e)
{
  if (tag.n == 0)
    return fail(r, IMAGEREF_MALFORMED, e,
                "the tag after ':' is empty; give a tag such as ':latest' or remove the ':'");
  if (tag.n > TAG_MAX)
    return fail(r, IMAGEREF_MALFORMED, e,
                "tag " Q_FMT " is %zu characters long, over the %d allowed; check the tag",
                Q_ARG(tag.p, tag.n), tag.n, TAG_MAX);
  if (!is_word(tag.p[0]))
    return fail(r, IMAGEREF_MALFORMED, e,
                "tag " Q_FMT " starts with '%c'; tags start with a letter, digit or '_'",
                Q_ARG(tag.p, tag.n), tag.p[0]);
  for (size_t i = 1; i < tag.n; i++)
    if (!is_word(tag.p[i]) && tag.p[i] != '.' && tag.p[i] != '-')
      return fail(r, IMAGEREF_MALFORMED, e,
                  "character '%c' in tag " Q_FMT " is not allowed; tags use letters, digits, "
                  "'_', '.' and '-'",
                  tag.p[i], Q_ARG(tag.p, tag.n));
  return ERR_OK;
}

static enum err_code check_digest(struct sv d, struct image_ref *r, struct err *e)
{
  if (d.n == 0)
    return fail(r, IMAGEREF_MALFORMED, e,
                "the digest after '@' is empty; give 'sha256:' and 64 hex digits or remove "
                "the '@'");
  const char *colon = memchr(d.p, ':', d.n);
  if (!colon)
    return fail(r, IMAGEREF_MALFORMED, e,
                "digest " Q_FMT " has no algorithm; digests look like 'sha256:' and 64 hex "
                "digits (for a tag, write ':' instead of '@')",
                Q_ARG(d.p, d.n));
  struct sv alg = {d.p, (size_t)(colon - d.p)};
  struct sv hex = {colon + 1, d.n - alg.n - 1};
  if (!sv_is(alg, "sha256"))
    return fail(r, IMAGEREF_MALFORMED, e,
                "digest algorithm " Q_FMT " is not supported: ECR image digests are sha256; "
                "use the 'sha256:' digest ECR shows for the image",
                Q_ARG(alg.p, alg.n));
  for (size_t i = 0; i < hex.n; i++) {
    char c = hex.p[i];
    if (c >= 'A' && c <= 'F')
      return fail(r, IMAGEREF_MALFORMED, e,
                  "digest " Q_FMT " has upper-case hex; digests are lower case, so lower-case "
                  "it",
                  Q_ARG(d.p, d.n));
    if (!is_digit(c) && !(c >= 'a' && c <= 'f'))
      return fail(r, IMAGEREF_MALFORMED, e,
                  "digest " Q_FMT " has '%c', which is not a hex digit; copy the digest again",
                  Q_ARG(d.p, d.n), c);
  }
  if (hex.n != 64)
    return fail(r, IMAGEREF_MALFORMED, e,
                "digest " Q_FMT " has %zu hex digits, but sha256 has 64; copy the whole digest",
                Q_ARG(d.p, d.n), hex.n);
  return ERR_OK;
}

/* ---- the reference ---- */

static enum err_code check_characters(const char *s, size_t n, struct image_ref *r, struct err *e)
{
  if (n == 0)
    return fail(r, IMAGEREF_MALFORMED, e,
                "the image reference is empty; give one like " ECR_EXAMPLE);
  if (n > IMAGEREF_MAX_BYTES)
    return fail(r, IMAGEREF_MALFORMED, e,
                "the image reference is over %d bytes long, far beyond any real one; check "
                "what was pasted",
                IMAGEREF_MAX_BYTES);
  size_t lead = 0;
  while (lead < n && (s[lead] == ' ' || s[lead] == '\t' || s[lead] == '\n' || s[lead] == '\r'))
    lead++;
  if (lead == n)
    return fail(r, IMAGEREF_MALFORMED, e,
                "the image reference is only whitespace; give one like " ECR_EXAMPLE);
  if (lead)
    return fail(r, IMAGEREF_MALFORMED, e,
                "the image reference starts with whitespace before " Q_FMT "; remove it",
                Q_ARG(s + lead, n - lead));
  char last = s[n - 1];
  if (last == ' ' || last == '\t' || last == '\n' || last == '\r')
    return fail(r, IMAGEREF_MALFORMED, e,
                "the image reference ends with whitespace after " Q_FMT "; remove it",
                Q_ARG(s, n - 1));
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == ' ')
      return fail(r, IMAGEREF_MALFORMED, e,
                  "space at position %zu of " Q_FMT "; an image reference is one word, so "
                  "remove it (and any command pasted with it)",
                  i + 1, Q_ARG(s, n));
    if (c < 0x20 || c == 0x7f)
      return fail(r, IMAGEREF_MALFORMED, e,
                  "control character 0x%02x at position %zu of the image reference; remove it "
                  "(a stray tab or newline from copying?)",
                  c, i + 1);
    if (c >= 0x80)
      return fail(r, IMAGEREF_MALFORMED, e,
                  "non-ASCII byte 0x%02x at position %zu of the image reference; references "
                  "are plain ASCII, so look for a smart quote or non-breaking space",
                  c, i + 1);
  }
  const char *scheme = strstr(s, "://");
  if (scheme)
    return fail(r, IMAGEREF_MALFORMED, e,
                "the image reference starts with the scheme " Q_FMT "; image references have "
                "none, so remove it",
                Q_ARG(s, (size_t)(scheme - s) + 3));
  return ERR_OK;
}

static char *lower_dup(struct sv v)
{
  char *s = sv_dup(v);
  if (s)
    for (char *p = s; *p; p++)
      if (is_upper(*p))
        *p = (char)(*p - 'A' + 'a');
  return s;
}

/* The distribution rule: the first path component is a registry host when it has a '.' or a
 * ':', is "localhost", or has an upper-case letter; otherwise Docker Hub is meant. */
static bool is_registry_component(struct sv c)
{
  if (sv_is(c, "localhost"))
    return true;
  for (size_t i = 0; i < c.n; i++)
    if (c.p[i] == '.' || c.p[i] == ':' || is_upper(c.p[i]))
      return true;
  return false;
}

enum err_code imageref_parse(const char *s, struct image_ref *r, struct err *e)
{
  if (!r)
    return ERR_INVALID;
  memset(r, 0, sizeof *r);
  r->kind = IMAGEREF_MALFORMED;
  err_clear(e);
  if (!s)
    s = "";
  r->reference = str_dup(s);
  if (!r->reference)
    return err_set(e, ERR_NOMEM, "out of memory");

  size_t n = strlen(s);
  enum err_code rc = check_characters(s, n, r, e);
  if (rc)
    return rc;

  /* name[@digest]; name = [host[:port]/]repository[:tag] */
  struct sv name = {s, n};
  struct sv digest = {NULL, 0};
  const char *at = memchr(s, '@', n);
  if (at) {
    if (memchr(at + 1, '@', n - (size_t)(at - s) - 1))
      return fail(r, IMAGEREF_MALFORMED, e,
                  "the image reference has more than one '@'; keep one, before the digest");
    name.n = (size_t)(at - s);
    digest = (struct sv){at + 1, n - name.n - 1};
  }
  const char *slash = memchr(name.p, '/', name.n);
  struct sv first = {name.p, slash ? (size_t)(slash - name.p) : name.n};

  if (!slash || !is_registry_component(first)) {
    /* Docker Hub (or a bare ECR host without a repository, caught below). */
    struct sv host_part = first;
    const char *colon = memchr(first.p, ':', first.n);
    if (!slash && colon)
      host_part.n = (size_t)(colon - first.p);
    char *maybe_host = lower_dup(host_part);
    if (!maybe_host)
      return err_set(e, ERR_NOMEM, "out of memory");
    struct image_ref probe = {0};
    enum host_class hc = slash ? HOST_OTHER : classify_host(maybe_host, &probe, NULL);
    if (hc == HOST_PUBLIC) {
      r->host = maybe_host;
      return fail(r, IMAGEREF_ECR_PUBLIC, e,
                  "'%s' is ECR Public, which is not what this tool diagnoses, and the reference "
                  "names no repository; public images need no ECR credentials",
                  maybe_host);
    }
    if (hc == HOST_ECR || hc == HOST_ECR_BAD) {
      r->host = maybe_host;
      return fail(r, IMAGEREF_MALFORMED, e,
                  "no repository after the registry host '%s'; add '/' and the repository, as "
                  "in %s/my-app:1.0",
                  maybe_host, maybe_host);
    }
    free(maybe_host);
    r->host = str_dup("docker.io");
    if (!r->host)
      return err_set(e, ERR_NOMEM, "out of memory");
    return fail(r, IMAGEREF_NOT_ECR, e,
                "not an ECR registry: 'docker.io' (" Q_FMT " names a Docker Hub image); an ECR "
                "reference looks like " ECR_EXAMPLE,
                Q_ARG(s, n));
  }

  /* Host, lower-cased (DNS is case-insensitive), and an optional port. */
  struct sv host_sv = first;
  struct sv port = {NULL, 0};
  if (first.p[0] != '[') {
    const char *colon = memchr(first.p, ':', first.n);
    if (colon) {
      host_sv.n = (size_t)(colon - first.p);
      port = (struct sv){colon + 1, first.n - host_sv.n - 1};
    }
  }
  r->host = lower_dup(host_sv);
  if (!r->host)
    return err_set(e, ERR_NOMEM, "out of memory");

  switch (classify_host(r->host, r, e)) {
  case HOST_ECR: break;
  case HOST_ECR_BAD:
  case HOST_ISOLATED: return ERR_PARSE;
  case HOST_PUBLIC:
    return fail(r, IMAGEREF_ECR_PUBLIC, e,
                "'%s' is ECR Public, which is not what this tool diagnoses: public images need "
                "no ECR credentials, so check the node's outbound HTTPS to %s and the "
                "repository and tag on gallery.ecr.aws",
                r->host, r->host);
  case HOST_OTHER:
  default:
    return fail(r, IMAGEREF_NOT_ECR, e,
                "not an ECR registry: '%s'; an ECR reference looks like " ECR_EXAMPLE, r->host);
  }

  /* The kubelet matches credential providers by host and port exactly (k8s.io
   * credentialprovider URLsMatch: "port doesn't match"), and the ECR provider's patterns carry
   * no port, so even ':443' means the pull goes out without ECR credentials. */
  if (port.p)
    return fail(r, IMAGEREF_MALFORMED, e,
                "port " Q_FMT " after the ECR host '%s' stops the kubelet's ECR credential "
                "provider from matching the image (its patterns have no port), so the pull "
                "gets no credentials; remove ':%.*s'",
                Q_ARG(port.p - 1, port.n + 1), r->host, (int)(port.n > 16 ? 16 : port.n), port.p);

  struct sv rest = {slash + 1, name.n - (size_t)(slash + 1 - name.p)};
  struct sv repo = rest;
  struct sv tag = {NULL, 0};
  const char *colon = memchr(rest.p, ':', rest.n);
  if (colon) {
    repo.n = (size_t)(colon - rest.p);
    tag = (struct sv){colon + 1, rest.n - repo.n - 1};
  }
  rc = check_repository(repo, r->host, r, e);
  if (rc)
    return rc;
  if (colon && (rc = check_tag(tag, r, e)) != ERR_OK)
    return rc;
  if (at && (rc = check_digest(digest, r, e)) != ERR_OK)
    return rc;

  r->repository = sv_dup(repo);
  if (colon)
    r->tag = sv_dup(tag);
  else if (!at)
    r->tag = str_dup("latest"); /* what the kubelet pulls when neither is given */
  if (at)
    r->digest = sv_dup(digest);
  if (!r->repository || (!r->tag && !r->digest))
    return err_set(e, ERR_NOMEM, "out of memory");
  r->kind = IMAGEREF_ECR;
  return ERR_OK;
}

void imageref_release(struct image_ref *r)
{
  if (!r)
    return;
  free(r->reference);
  free(r->host);
  free(r->repository);
  free(r->tag);
  free(r->digest);
  memset(r, 0, sizeof *r);
  r->kind = IMAGEREF_MALFORMED;
}

char *imageref_repository_arn(const struct image_ref *r)
{
  if (!r || r->kind != IMAGEREF_ECR || !r->repository)
    return NULL;
  struct buf b;
  buf_init(&b, 64 + REPO_MAX);
  if (buf_printf(&b, "arn:%s:ecr:%s:%s:repository/%s", r->partition, r->region, r->registry_id,
                 r->repository) != ERR_OK) {
    buf_release(&b);
    return NULL;
  }
  return buf_detach(&b);
}

const char *imageref_manifest_ref(const struct image_ref *r)
{
  if (!r)
    return NULL;
  return r->digest ? r->digest : r->tag;
}
