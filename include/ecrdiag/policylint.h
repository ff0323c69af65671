/* Lint of ECR repository policies: what SetRepositoryPolicy would refuse, what opens the
 * repository to every AWS account, and the mistakes that make a grant silently do nothing
 * (misspelled actions and condition keys, malformed organization ids, literal ${...}).
 * Depends on core, jansson and the policy parser; knows nothing of files or HTTP. */
#ifndef ECRDIAG_POLICYLINT_H
#define ECRDIAG_POLICYLINT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "ecrdiag/err.h"

enum policylint_severity {
  POLICYLINT_SEV_CRITICAL, /* ECR refuses the document, or it lets every AWS account in */
  POLICYLINT_SEV_WARNING,  /* a statement does not do what it was written for */
  POLICYLINT_SEV_INFO,     /* harmless, but worth knowing */
};

/* Every rule, once: enum name, id (stable: users filter on it), severity, and what it
 * catches. The source of policylint_rule_info() and of `ecrdiag policy lint --rules`. */
#define POLICYLINT_RULES(X)                                                                   \
  X(POLICYLINT_JSON_SYNTAX, "json-syntax", POLICYLINT_SEV_CRITICAL,                           \
    "the text is not valid JSON (or repeats a key); line and column say where")               \
  X(POLICYLINT_POLICY_GRAMMAR, "policy-grammar", POLICYLINT_SEV_CRITICAL,                     \
    "valid JSON that is not a policy document: a missing, misspelled or mistyped element")    \
  X(POLICYLINT_TOO_LARGE, "document-too-large", POLICYLINT_SEV_CRITICAL,                      \
    "over 10,240 characters, whitespace included: SetRepositoryPolicy refuses it")            \
  X(POLICYLINT_RESOURCE_ELEMENT, "resource-element", POLICYLINT_SEV_CRITICAL,                 \
    "a Resource or NotResource element: SetRepositoryPolicy refuses it (the repository is "   \
    "implied)")                                                                               \
  X(POLICYLINT_PRINCIPAL_STAR, "principal-star-unrestricted", POLICYLINT_SEV_CRITICAL,        \
    "an Allow for Principal \"*\" (or with NotPrincipal) and no condition that narrows who: " \
    "every AWS account gets in")                                                              \
  X(POLICYLINT_UNKNOWN_ACTION, "unknown-action", POLICYLINT_SEV_WARNING,                      \
    "an ecr: action that does not exist; the nearest valid name is given")                    \
  X(POLICYLINT_FOREIGN_ACTION, "foreign-action", POLICYLINT_SEV_INFO,                         \
    "an action of another service: it never applies to a repository")                         \
  X(POLICYLINT_PULL_ACTIONS, "pull-actions-missing", POLICYLINT_SEV_WARNING,                  \
    "a statement meant to allow pulls lacks ecr:BatchGetImage or ecr:GetDownloadUrlForLayer") \
  X(POLICYLINT_ORG_ID, "org-id-format", POLICYLINT_SEV_WARNING,                               \
    "an organization id that is not o- and 10 to 32 lower-case letters or digits: it never "  \
    "matches")                                                                                \
  X(POLICYLINT_UNKNOWN_CONDITION_KEY, "unknown-condition-key", POLICYLINT_SEV_WARNING,        \
    "a condition key that is neither a global aws: key nor an ecr: key: it is never in the "  \
    "request")                                                                                \
  X(POLICYLINT_DUPLICATE_SID, "duplicate-sid", POLICYLINT_SEV_WARNING,                        \
    "two statements share a Sid")                                                             \
  X(POLICYLINT_VERSION_VARIABLES, "version-variables", POLICYLINT_SEV_WARNING,                \
    "${...} policy variables without Version 2012-10-17: IAM reads them as literal text")

#define POLICYLINT_ENUM_ITEM(name, id, sev, summary) name,
enum policylint_rule { POLICYLINT_RULES(POLICYLINT_ENUM_ITEM) POLICYLINT_RULE_COUNT };
#undef POLICYLINT_ENUM_ITEM

struct policylint_rule_info {
  const char *id;
  enum policylint_severity severity;
  const char *summary;
};

/* The table entry of a rule; never NULL (an out-of-range rule gives a placeholder). */
const struct policylint_rule_info *policylint_rule_info(enum policylint_rule r);
/* "critical", "warning", "info". */
const char *policylint_severity_name(enum policylint_severity s);

#define POLICYLINT_MSG_MAX 400
#define POLICYLINT_MAX_FINDINGS 256

struct policylint_finding {
  enum policylint_rule rule;
  enum policylint_severity severity; /* the rule's */
  long statement;                    /* 0-based index in Statement; -1: the whole document */
  int line, column;                  /* 1-based (column in characters); 0 when unknown */
  char message[POLICYLINT_MSG_MAX];  /* one sentence or two, naming the element */
};

struct policylint_report {
  struct policylint_finding *findings; /* in document order within each rule pass */
  size_t n;
  bool truncated;   /* more than POLICYLINT_MAX_FINDINGS: the rest were dropped */
  size_t counts[3]; /* by severity, truncated findings included */
};

/* Lints the repository policy text (n bytes, need not be NUL-terminated) into out, which it
 * initialises; release it with policylint_release in every case. A document that is not JSON
 * is a finding, not an error: only ERR_NOMEM and ERR_INVALID (NULL arguments) are returned. */
enum err_code policylint_run(const char *text, size_t n, struct policylint_report *out,
                             struct err *e);
void policylint_release(struct policylint_report *r);

/* True when the report holds a critical finding. */
bool policylint_has_critical(const struct policylint_report *r);

/* {"ok": no critical finding, "counts": {"critical": N, "warning": N, "info": N},
 *  "findings": [{"rule", "severity", "message", "statement", "line", "column"}],
 *  "truncated": bool}; statement/line/column are null when unknown. A new reference, or NULL
 * when out of memory. */
json_t *policylint_to_json(const struct policylint_report *r);

/* The ECR IAM actions (operations of the ECR service model and the permission-only actions
 * of the Service Authorization Reference), without the "ecr:" prefix, in a generated table. */
size_t policylint_ecr_action_count(void);
const char *policylint_ecr_action(size_t i); /* NULL past the end */
/* True when name ("BatchGetImage" or "ecr:BatchGetImage", any case) is an ECR action. */
bool policylint_ecr_action_known(const char *name);
/* The ECR action closest to name (edit distance, case-insensitive), with its "ecr:" prefix
 * written into out; false when nothing is close enough to be a likely typo. */
bool policylint_ecr_action_nearest(const char *name, char *out, size_t out_size);

#endif
