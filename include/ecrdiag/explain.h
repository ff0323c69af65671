/* Offline explanation of a pull error message (kubelet, containerd, CRI-O, docker, ECS agent):
 * one table of rules maps what the message says to cause ids from the catalogue, with what it
 * means and the command that confirms it. No network, no AWS calls. Depends on core and the
 * cause catalogue only. */
#ifndef ECRDIAG_EXPLAIN_H
#define ECRDIAG_EXPLAIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "ecrdiag/buf.h"
#include "ecrdiag/causes.h"
#include "ecrdiag/err.h"

#define EXPLAIN_MAX_CAUSES 3
#define EXPLAIN_MAX_INPUT_BYTES (64 * 1024)
#define EXPLAIN_MAX_PATTERNS 3

/* Facts read from the message that a rule can require besides its patterns. */
enum explain_fact {
  EXPLAIN_FACT_NONE,
  EXPLAIN_FACT_SAME_ACCOUNT,  /* the denied principal is in the registry's account */
  EXPLAIN_FACT_CROSS_ACCOUNT, /* the denied principal is in another account */
  EXPLAIN_FACT_PTC_PATH,      /* the repository starts with a pull-through cache prefix */
  EXPLAIN_FACT_OPT_IN_REGION, /* the registry's region is an opt-in region */
  EXPLAIN_FACT_NO_ECR_HOST,   /* no private ECR host appears anywhere in the message */
};

/* How much a rule's match says. A GENERIC rule (a bare status code, a wrapper phrase) only
 * speaks when no SPECIFIC rule matched: the specific one knows better. */
enum explain_tier { EXPLAIN_SPECIFIC, EXPLAIN_GENERIC };

/* One row of the rule table. Every entry of all[] must occur in the message (lower-case,
 * whitespace collapsed, backslashes dropped); an entry is alternatives separated by '|', and
 * '*' inside an alternative skips up to EXPLAIN_GAP_BYTES bytes ('~' the same, without crossing
 * a space). unless, when set, must not occur; fact, when set, must hold. Weights run 1-100: 90+ the
 * message states the cause, 60-89 a symptom with one usual cause, below 60 a guess among several.
 */
struct explain_rule {
  const char *all[EXPLAIN_MAX_PATTERNS];
  const char *unless;
  enum explain_fact fact;
  enum cause_id cause;
  int weight;
  enum explain_tier tier;
  const char *meaning; /* what this match means, one or two sentences */
  const char *confirm; /* the command that confirms it; {ACCOUNT} {REGION} {REPO} {REF}
                          {IMAGEID} {IMAGE} {HOST} {NETHOST} are filled from the message when
                          it names them, else left as <placeholders> */
};

#define EXPLAIN_GAP_BYTES 160
#define EXPLAIN_EVIDENCE_MAX 160

struct explain_cause {
  enum cause_id id;
  int score;                           /* the weight of its strongest matching rule */
  size_t rule;                         /* index of that rule in the table */
  size_t n_rules;                      /* how many rules pointed at it */
  char evidence[EXPLAIN_EVIDENCE_MAX]; /* the matched words in context, printable ASCII */
};

/* What the message names, as far as it can be read from it. Empty strings when unknown. */
struct explain_facts {
  char image[512];      /* the first private ECR reference, as host/repo[:tag][@digest] */
  char host[256];       /* its registry host */
  char account[13];     /* registry account id */
  char region[32];      /* registry region */
  char repository[257]; /* repository name */
  char ref[128];        /* tag or digest */
  char principal_account[13];
  char net_host[256]; /* the host a network error is about ("lookup HOST", the last URL) */
  bool aws_host;      /* some *.amazonaws.com host appears */
  bool ecr_host;      /* some private ECR host appears (even with a masked account id) */
  bool ecr_public;    /* public.ecr.aws appears */
  bool same_account, cross_account, ptc_path, opt_in_region;
};

struct explain_result {
  struct explain_cause causes[EXPLAIN_MAX_CAUSES]; /* most likely first */
  size_t n_causes;
  bool generic_only; /* every named cause comes from GENERIC rules: a weak guess */
  struct explain_facts facts;
};

/* The rule table and its size. Borrowed, static. */
const struct explain_rule *explain_rules(size_t *n);

/* Reads msg (len bytes, any bytes, need not be NUL-terminated) and fills out with at most
 * EXPLAIN_MAX_CAUSES causes, most likely first; n_causes 0 when nothing matched (not an
 * error). ERR_TOO_LARGE past EXPLAIN_MAX_INPUT_BYTES, ERR_INVALID for a NULL out or a NULL msg
 * with len > 0, ERR_NOMEM when out of memory. */
enum err_code explain_message(const char *msg, size_t len, struct explain_result *out,
                              struct err *e);

/* {"causes": [ids], "summary": "...", "next_steps": [...], "details": [...], "image": {...},
 * "notes": [...]}. The caller decrefs; NULL when out of memory. */
json_t *explain_to_json(const struct explain_result *r);

/* The same for a person: the causes with their meaning and the commands to run. */
enum err_code explain_render_text(const struct explain_result *r, struct buf *out);

/* The one-paragraph summary alone, to out. */
enum err_code explain_summary(const struct explain_result *r, struct buf *out);

#endif
