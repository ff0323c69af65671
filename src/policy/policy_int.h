/* Private to src/policy: the compact form a policy document is parsed into, and the
 * matchers (wildcards, ARNs, CIDRs, dates, numbers) that evaluation uses on it.
 * Nothing outside src/policy may include this; the contract is include/ecrdiag/policy.h. */
#ifndef ECRDIAG_POLICY_INT_H
#define ECRDIAG_POLICY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ecrdiag/policy.h"

/* A string inside a policy's arena; NUL-terminated too, for borrowing. */
struct pstr {
  const char *p;
  uint32_t n;
  uint8_t wild; /* holds '*' or '?': needs the wildcard matcher */
  uint8_t vars; /* holds "${" under Version 2012-10-17: expanded per request */
};

enum pprin_kind {
  PPRIN_STAR,    /* "*" or {"AWS": "*"} */
  PPRIN_ACCOUNT, /* "123456789012" or "arn:aws:iam::123456789012:root" (v = the id) */
  PPRIN_ARN,     /* any other AWS value: compared literally (role, user, session ARNs) */
  PPRIN_OTHER,   /* Service, Federated, CanonicalUser: never an IAM caller */
};

struct pprin {
  uint8_t kind;
  struct pstr v;
};

enum cop {
  COP_STRING_EQUALS,
  COP_STRING_EQUALS_IC,
  COP_STRING_LIKE,
  COP_NUMERIC_EQ,
  COP_NUMERIC_LT,
  COP_NUMERIC_LE,
  COP_NUMERIC_GT,
  COP_NUMERIC_GE,
  COP_DATE_EQ,
  COP_DATE_LT,
  COP_DATE_LE,
  COP_DATE_GT,
  COP_DATE_GE,
  COP_BOOL,
  COP_BINARY,
  COP_IP,
  COP_ARN_LIKE, /* ArnEquals and ArnLike behave identically */
  COP_NULL,
};

enum cset { CSET_NONE, CSET_ANY, CSET_ALL };

struct ip_cidr {
  uint8_t family; /* 4 or 6 */
  uint8_t prefix;
  uint8_t addr[16];
};

struct pval {
  struct pstr s;
  union {
    double num; /* numeric, and dates as seconds since the epoch */
    struct ip_cidr ip;
    struct {
      const unsigned char *p;
      uint32_t n;
      bool ok;
    } bin;
  } u;
};

struct pcond {
  uint8_t op;           /* enum cop: the positive base operator */
  uint8_t set;          /* enum cset */
  uint8_t negated;      /* StringNotEquals, NotIpAddress, ...: NOR over the values */
  uint8_t if_exists;    /* a missing key makes it true */
  const char *op_name;  /* as written */
  const char *key_name; /* as written */
  struct pstr key;      /* lower-cased, for case-insensitive lookup */
  struct pval *vals;
  uint32_t n_vals;
};

enum pmode { PMODE_NONE, PMODE_POS, PMODE_NOT };

struct pstmt {
  uint8_t allow;
  uint8_t prin_mode; /* enum pmode: Principal / NotPrincipal */
  uint8_t act_mode;  /* PMODE_POS Action / PMODE_NOT NotAction */
  uint8_t res_mode;  /* PMODE_NONE: applies to the resource the policy is attached to */
  const char *sid;
  struct pprin *prins;
  uint32_t n_prins;
  struct pstr *acts; /* lower-cased: action names are case-insensitive */
  uint32_t n_acts;
  struct pstr *ress;
  uint32_t n_ress;
  struct pcond *conds;
  uint32_t n_conds;
};

struct arena_block;

struct policy {
  struct arena_block *blocks;
  const char *version;
  const char *id;
  bool vars;
  bool has_resource;
  bool has_principal;
  struct pstmt *stmts;
  uint32_t n_stmts;
};

/* Wildcard matching. GLOB_RESOURCE follows the Resource element: '*' and '?' stay within a
 * colon-separated segment, except that a '*' ending a segment may run past colons.
 * lit, when not NULL, marks pattern bytes that came from ${*}/${?} and are literal. */
enum glob_mode { GLOB_PLAIN, GLOB_ICASE, GLOB_RESOURCE };
bool pol_glob(const char *pat, size_t pn, const unsigned char *lit, const char *s, size_t sn,
              enum glob_mode mode);
/* ArnLike/ArnEquals: each of the six colon-separated parts is matched on its own. */
bool pol_arn_like(const char *pat, size_t pn, const unsigned char *lit, const char *s, size_t sn);
bool pol_parse_cidr(const char *s, size_t n, struct ip_cidr *out, bool allow_prefix);
bool pol_cidr_contains(const struct ip_cidr *net, const struct ip_cidr *addr);
/* ISO 8601 date/time or epoch seconds into seconds since the epoch. */
bool pol_parse_date(const char *s, size_t n, double *out);
bool pol_parse_number(const char *s, size_t n, double *out);
/* Decodes base64 into out (capacity cap); false on bad input or overflow. */
bool pol_base64_decode(const char *s, size_t n, unsigned char *out, size_t cap, size_t *out_n);
bool pol_ieq(const char *a, size_t an, const char *b, size_t bn);
/* Characters (UTF-8 code points) of doc serialised compactly, the form the fix scripts set and
 * ECR counts against its 10,240-character limit (fix.c). */
enum err_code pol_document_chars(const json_t *doc, size_t *chars);
static inline char pol_lower(char c)
{
  return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

#endif
