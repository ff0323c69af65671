/* The diagnosis: probe as the pulling principal would (STS, ECR, the registry), turn every
 * answer into checks and findings with evidence, rank the causes, and build the fix.
 * One model that the text and JSON reports and the TUI all render. Depends on core, aws,
 * registry, policy. */
#ifndef ECRDIAG_DIAG_H
#define ECRDIAG_DIAG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "ecrdiag/causes.h"
#include "ecrdiag/creds.h"
#include "ecrdiag/err.h"
#include "ecrdiag/imageref.h"
#include "ecrdiag/policyfix.h"

enum check_status {
  CHECK_PASS,    /* the call did what the pull needs */
  CHECK_FAIL,    /* AWS or the registry refused or lacked something */
  CHECK_ERROR,   /* no usable answer: transport failure, throttling, server error */
  CHECK_SKIPPED, /* not run: an earlier check made it pointless */
};

/* One request the probe made (all attempts of it), as the report's checks[] shows it. */
struct diag_check {
  const char *id;       /* static: "sts.GetCallerIdentity", "registry.manifest", ... */
  bool needed_for_pull; /* false for context the diagnosis gathers (the policy, the org) */
  char *endpoint;       /* the URL called */
  enum check_status status;
  int attempts;
  long duration_ms;
  long http_status;    /* 0 when no answer */
  char *error_code;    /* AWS's or the registry's code, or NULL */
  char *error_message; /* AWS's or the registry's message, or the transport failure's */
  char *request_id;
};

struct diag_finding {
  enum cause_id cause;
  char *summary;    /* one or two sentences for a person */
  json_t *evidence; /* an object: the checks and facts behind it */
  /* ---- appended ---- */
  /* Another explanation the same evidence allows, less likely than the finding ranked first:
   * ranked after every finding that is not an alternative, whatever its precedence. */
  bool alternative;
};

struct diag_caller {
  char *arn;
  char *account;
  char *org_id;            /* NULL when unknown */
  char *credential_source; /* "env", ... */
  bool is_pulling_principal;
};

#define DIAG_MAX_CHECKS 32
#define DIAG_MAX_FINDINGS 16

struct diagnosis {
  struct image_ref ref;
  bool ref_ok; /* ref parsed as a private ECR reference */
  struct diag_caller caller;
  int pullable;                                    /* 1 true, 0 false, -1 unknown (null) */
  struct diag_finding findings[DIAG_MAX_FINDINGS]; /* ranked: the primary first */
  size_t n_findings;
  struct diag_check checks[DIAG_MAX_CHECKS];
  size_t n_checks;
  bool has_fix;
  struct policy_fix fix;
  char *platform; /* the platform checked, "linux/amd64" */
};

/* Checks that s is "os/arch[/variant]" (lower-case letters and digits); false otherwise. */
bool diag_platform_valid(const char *s);

enum diag_event_kind {
  DIAG_EVENT_START, /* a check is about to run */
  DIAG_EVENT_DONE,  /* a check finished: check points at its record */
};

struct diag_event {
  enum diag_event_kind kind;
  const char *check_id;           /* one of diag_plan[] */
  const struct diag_check *check; /* DONE only; borrowed for the duration of the callback */
};

/* Every check a full probe runs, in order: a front end can list them before they run. */
extern const char *const diag_plan[];
extern const size_t diag_plan_len;

struct diag_options {
  const char *image;             /* the reference as the user gave it */
  const char *org_id;            /* --org-id, or NULL */
  long timeout_ms;               /* per request; 0: 10 s */
  const char *registry_endpoint; /* ECRDIAG_REGISTRY_ENDPOINT or NULL */
  const char *platform;          /* the node's "os/arch[/variant]"; NULL: linux/amd64 */
  /* The fix: the grant (NULL: org when the organization id is known, else account), the OU
   * path for an OU grant, the node role's ARN with its path (NULL: derived from the caller's
   * session), and whether an identity fix attaches AmazonEC2ContainerRegistryPullOnly. */
  const char *grant;
  const char *ou_path;
  const char *node_role_arn;
  bool fix_managed;
  /* Progress. Requests run concurrently, so it is called from several threads, possibly at
   * once: it must lock what it shares and must not call back into the diagnosis. */
  void (*on_event)(void *ctx, const struct diag_event *ev);
  void *event_ctx;
  /* Set non-zero (from any thread) to stop before the next request: the diagnosis then ends
   * with the checks made so far and the run returns ERR_CANCELLED. */
  const volatile int *cancel;
  /* How to find the probing principal's credentials (--profile, --role-arn, --external-id);
   * NULL: the default chain. Its region is replaced by the registry's. */
  const struct creds_options *creds;
  /* --registry-profile / --registry-role-arn: credentials for the registry account's side
   * (reads only); NULL: none. */
  const struct creds_options *registry_creds;
  const char *ca_bundle; /* --ca-bundle; NULL: AWS_CA_BUNDLE, else the system's */
  bool insecure;         /* --no-verify-ssl (the front end warns) */
  /* --on-node: this host is the node, so what it cannot reach the kubelet cannot either (also
   * implied by IMDS credentials); network failures are then the pull's causes. */
  bool on_node;
};

void diag_init(struct diagnosis *d);
void diag_release(struct diagnosis *d);

/* Runs the whole probe. ERR_OK when a diagnosis was made, whatever it found (input errors,
 * missing credentials and unreachable endpoints are findings). ERR_CANCELLED when cancelled;
 * another code only when the tool itself failed (a bad endpoint setting, out of memory), with
 * e->msg. d is always left in a state diag_release accepts. */
enum err_code diag_run(const struct diag_options *o, struct diagnosis *d, struct err *e);

/* The exit code the diagnosis gives: the primary finding's class, 0 when none. */
int diag_exit_code(const struct diagnosis *d);
/* "pass", "fail", "error", "skipped". */
const char *diag_check_status_name(enum check_status s);

#endif
