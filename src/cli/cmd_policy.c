/* `ecrdiag policy eval|lint|fix`: read a request or a policy (a file or standard input), hand
 * it to the evaluator, the linter or the fix generator, and print the result as JSON or text.
 * No policy logic lives here: everything is behind include/ecrdiag/policy.h, policylint.h and
 * policyfix.h. One table of subcommands, one table of fix options (parsing and help). */
#include "cmd_policy.h"
#include "opts.h"

#include <errno.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecrdiag/buf.h"
#include "ecrdiag/policy.h"
#include "ecrdiag/policyfix.h"
#include "ecrdiag/policylint.h"

#define EXIT_OK 0
#define EXIT_FINDING 1
#define EXIT_USAGE 2

static void eval_usage(FILE *out)
{
  fprintf(
      out,
      "usage: ecrdiag policy eval FILE|- [--output json|text]\n\n"
      "Decides one request offline, the way IAM would: prints Allow, ImplicitDeny or\n"
      "ExplicitDeny, the statements that decided it and the policies missing an Allow.\n"
      "FILE holds {\"principal\": {...}, \"action\": ..., \"resource\": ..., \"context\": {...},\n"
      "\"identity_policies\": [...], \"resource_policy\": ..., \"registry_policy\": ...,\n"
      "\"scps\": [[...]], \"rcps\": [[...]], \"boundary\": ..., \"session_policies\": [...],\n"
      "\"vpce_policy\": ...}; - reads standard input.\n\n"
      "exit codes: 0 decided (whatever the decision), 2 usage error or malformed request\n");
}

static enum err_code read_all(const char *path, struct buf *b, struct err *e)
{
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (!f)
    return err_set(e, ERR_IO, "cannot open '%s': %s", path, strerror(errno));
  enum err_code rc = ERR_OK;
  char chunk[16384];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
    if ((rc = buf_append(b, chunk, n))) {
      err_set(e, rc, "'%s' is larger than %zu bytes", path, b->max_bytes);
      break;
    }
  if (!rc && ferror(f))
    rc = err_set(e, ERR_IO, "cannot read '%s'", path);
  if (f != stdin)
    fclose(f);
  return rc;
}

static void print_text(const struct policy_decision *d)
{
  char name[64];
  printf("decision: %s%s\n", policy_outcome_name(d->decision),
         d->cross_account ? " (cross account)" : " (same account)");
  for (size_t i = 0; i < d->n_decisive; i++) {
    policy_slot_name(d->decisive[i].slot, true, name, sizeof name);
    printf("  decided by %s statement %zu%s%s\n", name, d->decisive[i].statement,
           d->decisive[i].sid ? " Sid " : "", d->decisive[i].sid ? d->decisive[i].sid : "");
  }
  for (size_t i = 0; i < d->n_missing; i++) {
    policy_slot_name(d->missing_allow_in[i], false, name, sizeof name);
    printf("  no Allow in %s\n", name);
  }
  for (size_t i = 0; i < d->n_near_misses; i++) {
    const struct policy_near_miss *m = &d->near_misses[i];
    policy_slot_name(m->slot, true, name, sizeof name);
    printf("  %s statement %zu does not apply: ", name, m->statement);
    if (m->reason == POLICY_MISS_CONDITION)
      printf("condition %s on %s is false\n", m->cond_operator, m->cond_key);
    else if (m->reason == POLICY_MISS_ACCOUNT_ONLY)
      printf("its Principal names only the account, which delegates to IAM policies\n");
    else
      printf("its Principal does not name the caller\n");
  }
  if (d->confidence == POLICY_UNDOCUMENTED)
    printf("  confidence: undocumented (AWS does not say how the registry policy and the\n"
           "  repository policy combine across accounts)\n");
}

int cmd_policy_eval(int argc, char **argv)
{
  const char *path = NULL;
  const char *output = "json";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      eval_usage(stdout);
      return EXIT_OK;
    }
    if (!strcmp(argv[i], "--output") || !strncmp(argv[i], "--output=", 9)) {
      if (argv[i][8] == '=')
        output = argv[i] + 9;
      else if (i + 1 < argc)
        output = argv[++i];
      else {
        fprintf(stderr, "ecrdiag policy eval: --output needs json or text\n");
        return EXIT_USAGE;
      }
      if (strcmp(output, "json") && strcmp(output, "text")) {
        fprintf(stderr, "ecrdiag policy eval: unknown --output '%s' (json or text)\n", output);
        return EXIT_USAGE;
      }
    } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
      fprintf(stderr, "ecrdiag policy eval: unknown option '%s'\n", argv[i]);
      eval_usage(stderr);
      return EXIT_USAGE;
    } else if (path) {
      fprintf(stderr, "ecrdiag policy eval: one request at a time ('%s' and '%s')\n", path,
              argv[i]);
      return EXIT_USAGE;
    } else {
      path = argv[i];
    }
  }
  if (!path) {
    eval_usage(stderr);
    return EXIT_USAGE;
  }

  int status = EXIT_USAGE;
  struct err e;
  err_clear(&e);
  struct buf text;
  buf_init(&text, POLICY_REQUEST_MAX_BYTES);
  struct policy_request_doc *doc = NULL;
  json_t *out = NULL;
  if (read_all(path, &text, &e)) {
    fprintf(stderr, "ecrdiag policy eval: %s\n", e.msg);
    goto out;
  }
  if (policy_request_doc_parse(buf_str(&text), text.len, &doc, &e)) {
    fprintf(stderr, "ecrdiag policy eval: malformed request in '%s': %s\n", path, e.msg);
    goto out;
  }
  struct policy_decision d;
  if (policy_evaluate(&doc->req, &d, &e)) {
    fprintf(stderr, "ecrdiag policy eval: malformed request in '%s': %s\n", path, e.msg);
    goto out;
  }
  if (!strcmp(output, "text")) {
    print_text(&d);
  } else {
    out = policy_decision_to_json(&d);
    if (!out || json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) {
      fprintf(stderr, "ecrdiag policy eval: out of memory writing the decision\n");
      goto out;
    }
    fputc('\n', stdout);
  }
  status = EXIT_OK;
out:
  json_decref(out);
  policy_request_doc_free(doc);
  buf_release(&text);
  return status;
}

/* ---- lint ------------------------------------------------------------------------------ */

static void lint_usage(FILE *out)
{
  fprintf(out,
          "usage: ecrdiag policy lint FILE|- [--output json|text] [--rules]\n\n"
          "Checks an ECR repository policy: what SetRepositoryPolicy refuses, what lets every\n"
          "AWS account in, and what makes a grant silently do nothing. - reads standard input.\n"
          "--rules lists every rule with its severity.\n\n"
          "exit codes: 0 nothing critical, 1 a critical finding, 2 usage error or unreadable "
          "file\n");
}

static void lint_rules(FILE *out)
{
  for (int r = 0; r < POLICYLINT_RULE_COUNT; r++) {
    const struct policylint_rule_info *ri = policylint_rule_info((enum policylint_rule)r);
    fprintf(out, "%-28s %-8s %s\n", ri->id, policylint_severity_name(ri->severity), ri->summary);
  }
}

static void lint_print_text(const char *path, const struct policylint_report *rep)
{
  for (size_t i = 0; i < rep->n; i++) {
    const struct policylint_finding *f = &rep->findings[i];
    if (f->line > 0)
      printf("%s:%d:%d: ", path, f->line, f->column);
    else
      printf("%s: ", path);
    printf("%s: [%s] %s\n", policylint_severity_name(f->severity),
           policylint_rule_info(f->rule)->id, f->message);
  }
  if (rep->truncated)
    printf("%s: more findings than shown\n", path);
  printf("%zu critical, %zu warning%s, %zu info\n", rep->counts[POLICYLINT_SEV_CRITICAL],
         rep->counts[POLICYLINT_SEV_WARNING], rep->counts[POLICYLINT_SEV_WARNING] == 1 ? "" : "s",
         rep->counts[POLICYLINT_SEV_INFO]);
}

/* Reads --output's value at argv[*i] ("--output text" or "--output=text"). */
static bool output_arg(const char *cmd, int argc, char **argv, int *i, const char **output)
{
  if (argv[*i][8] == '=')
    *output = argv[*i] + 9;
  else if (*i + 1 < argc)
    *output = argv[++*i];
  else {
    fprintf(stderr, "ecrdiag policy %s: --output needs json or text\n", cmd);
    return false;
  }
  if (strcmp(*output, "json") && strcmp(*output, "text")) {
    fprintf(stderr, "ecrdiag policy %s: unknown --output '%s' (json or text)\n", cmd, *output);
    return false;
  }
  return true;
}

int cmd_policy_lint(int argc, char **argv)
{
  const char *path = NULL;
  const char *output = "text";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      lint_usage(stdout);
      return EXIT_OK;
    }
    if (!strcmp(argv[i], "--rules")) {
      lint_rules(stdout);
      return EXIT_OK;
    }
    if (!strcmp(argv[i], "--output") || !strncmp(argv[i], "--output=", 9)) {
      if (!output_arg("lint", argc, argv, &i, &output))
        return EXIT_USAGE;
    } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
      fprintf(stderr, "ecrdiag policy lint: unknown option '%s'\n", argv[i]);
      lint_usage(stderr);
      return EXIT_USAGE;
    } else if (path) {
      fprintf(stderr, "ecrdiag policy lint: one policy at a time ('%s' and '%s')\n", path, argv[i]);
      return EXIT_USAGE;
    } else {
      path = argv[i];
    }
  }
  if (!path) {
    lint_usage(stderr);
    return EXIT_USAGE;
  }
  int status = EXIT_USAGE;
  struct err e;
  err_clear(&e);
  struct buf text;
  buf_init(&text, POLICY_MAX_BYTES);
  struct policylint_report rep = {0};
  json_t *out = NULL;
  enum err_code rc = read_all(path, &text, &e);
  if (rc == ERR_TOO_LARGE) {
    fprintf(stderr,
            "ecrdiag policy lint: '%s' is over %d bytes, far over ECR's limit of %d characters\n",
            path, POLICY_MAX_BYTES, POLICY_REPOSITORY_MAX_CHARS);
    status = EXIT_FINDING;
    goto out;
  }
  if (rc) {
    fprintf(stderr, "ecrdiag policy lint: %s\n", e.msg);
    goto out;
  }
  if (policylint_run(buf_str(&text), text.len, &rep, &e)) {
    fprintf(stderr, "ecrdiag policy lint: %s\n", e.msg);
    goto out;
  }
  if (!strcmp(output, "text")) {
    lint_print_text(path, &rep);
  } else {
    out = policylint_to_json(&rep);
    if (!out || json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) {
      fprintf(stderr, "ecrdiag policy lint: out of memory writing the findings\n");
      goto out;
    }
    fputc('\n', stdout);
  }
  status = policylint_has_critical(&rep) ? EXIT_FINDING : EXIT_OK;
out:
  json_decref(out);
  policylint_release(&rep);
  buf_release(&text);
  return status;
}

/* ---- fix ------------------------------------------------------------------------------- */

struct fix_cli {
  const char *repository_arn;
  const char *current;
  bool no_current_policy;
  const char *grant;
  const char *org_id;
  const char *account;
  const char *principal_arn;
  const char *role_arn;
  const char *ou_path;
  const char *org_path;
  const char *target;
  const char *exempt_deny;
  const char *repository_policy;
  bool managed;
  const char *output;
  bool help;
};

#define FIX_AT(field) offsetof(struct fix_cli, field)
static const struct opt fix_options[] = {
    {"--repository-arn", OPT_VALUE, "ARN", FIX_AT(repository_arn),
     "the repository (required): arn:aws:ecr:REGION:ACCOUNT:repository/NAME"},
    {"--current", OPT_VALUE, "FILE|-", FIX_AT(current),
     "the repository policy as it is now (GetRepositoryPolicy's policyText, exactly)"},
    {"--no-current-policy", OPT_FLAG, NULL, FIX_AT(no_current_policy),
     "the repository has no policy now (neither: unknown, the script merges)"},
    {"--grant", OPT_VALUE, "KIND", FIX_AT(grant),
     "org, account, role, role-condition or ou (default: org with --org-id, else account)"},
    {"--org-id", OPT_VALUE, "o-...", FIX_AT(org_id), "the puller's organization id"},
    {"--account", OPT_VALUE, "ID", FIX_AT(account),
     "the puller's account (default: from --principal-arn or --role-arn)"},
    {"--principal-arn", OPT_VALUE, "ARN", FIX_AT(principal_arn),
     "the puller as it signs (an assumed-role session ARN is fine)"},
    {"--role-arn", OPT_VALUE, "ARN", FIX_AT(role_arn),
     "the puller's IAM role, with its path (role grants, --target identity)"},
    {"--ou-path", OPT_VALUE, "PATH", FIX_AT(ou_path),
     "the OU to grant: o-.../r-.../ou-.../ (default: --org-path)"},
    {"--org-path", OPT_VALUE, "PATH", FIX_AT(org_path),
     "the puller's aws:PrincipalOrgPaths: its OU, for --grant ou and verification"},
    {"--target", OPT_VALUE, "WHAT", FIX_AT(target),
     "repository (the repository policy, default), identity (the role's IAM policy) or "
     "registry (the private registry policy given with --current; implies --exempt-deny)"},
    {"--exempt-deny", OPT_VALUE, "N", FIX_AT(exempt_deny),
     "the pull is refused by the Deny at Statement[N] of --current: exempt the grant from it "
     "instead of adding an Allow"},
    {"--repository-policy", OPT_VALUE, "FILE|-", FIX_AT(repository_policy),
     "with --target registry: the repository policy, to verify the fix with it"},
    {"--managed", OPT_FLAG, NULL, FIX_AT(managed),
     "with --target identity: attach AmazonEC2ContainerRegistryPullOnly instead"},
    {"--output", OPT_VALUE, "text|json", FIX_AT(output), "what to print (default text)"},
    {"--help", OPT_FLAG, NULL, FIX_AT(help), "this help"},
};
#define N_FIX_OPTIONS (sizeof fix_options / sizeof fix_options[0])

static void fix_usage(FILE *out)
{
  fprintf(out, "usage: ecrdiag policy fix --repository-arn ARN [options]\n\n"
               "Writes the smallest policy change that lets the puller pull, says what it\n"
               "opens, verifies it with the evaluator and lint, and prints it as policy JSON,\n"
               "an aws CLI script, Terraform and CloudFormation.\n\noptions:\n");
  opts_help(fix_options, N_FIX_OPTIONS, out);

  fprintf(out, "\nexit codes: 0 fix written and verified (or nothing to change), 1 no verified\n"
               "            fix (verification failed, or too large for ECR), 2 usage error or\n"
               "            malformed input\n");
}

/* "arn:PARTITION:ecr:REGION:ACCOUNT:repository/NAME" into its parts (copies in the buffers);
 * the fix checks each part's characters itself. */
struct repo_arn {
  char partition[32], region[32], account[16], name[300];
};

static bool repo_arn_parse(const char *s, struct repo_arn *a)
{
  if (strncmp(s, "arn:", 4) != 0)
    return false;
  const char *p = s + 4;
  char service[8];
  char *fields[4] = {a->partition, service, a->region, a->account};
  size_t sizes[4] = {sizeof a->partition, sizeof service, sizeof a->region, sizeof a->account};
  for (int k = 0; k < 4; k++) {
    const char *colon = strchr(p, ':');
    if (!colon || (size_t)(colon - p) >= sizes[k])
      return false;
    memcpy(fields[k], p, (size_t)(colon - p));
    fields[k][colon - p] = '\0';
    p = colon + 1;
  }
  if (strcmp(service, "ecr") != 0 || strncmp(p, "repository/", 11) != 0 ||
      strlen(p + 11) >= sizeof a->name || p[11] == '\0')
    return false;
  snprintf(a->name, sizeof a->name, "%s", p + 11);
  return true;
}

static void print_json_text(const json_t *j)
{
  char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
  if (s)
    printf("%s\n", s);
  free(s);
}

static void fix_print_text(const struct policy_fix *f)
{
  bool identity = strcmp(f->target, "identity_policy") == 0;
  bool registry = strcmp(f->target, "registry_policy") == 0;
  if (identity)
    printf("Fix: the IAM policy of role %s, to pull from %s\n", f->role_arn, f->arn);
  else if (f->exempt_from_deny)
    printf("Fix: exempt the grant (%s) from the Deny at Statement[%ld] of the %s, to pull from "
           "%s\n",
           policyfix_grant_name(f->grant), f->deny_statement,
           registry ? "private registry policy" : "repository policy", f->arn);
  else
    printf("Fix: the repository policy of %s (grant %s)\n", f->arn, policyfix_grant_name(f->grant));
  if (f->already_granted && f->exempt_from_deny)
    printf("Nothing to change: the Deny at Statement[%ld] already exempts this grant.\n",
           f->granted_by);
  else if (f->already_granted)
    printf("Nothing to change: Statement[%ld] of the current policy already grants this pull.\n",
           f->granted_by);
  printf("\nWhat it opens: %s\n", f->opens);
  if (f->caveat)
    printf("Before applying: %s\n", f->caveat);
  printf("%s %s\n", f->verified ? "Verified:" : "NOT verified:", f->verification);
  if (f->statement) {
    /* The managed policy's statement is AWS's, shown for what it allows: nothing to paste. */
    printf("\n%s:\n", identity && !f->document ? "What the managed policy allows"
                      : f->exempt_from_deny    ? "The Deny, with the exemption"
                                               : "The statement that grants the pull");
    print_json_text(f->statement);
  }
  if (f->document) {
    printf("\n%s:\n", identity   ? "The inline policy"
                      : registry ? "The complete registry policy to set (every existing "
                                   "statement kept)"
                                 : "The complete repository policy to set (every existing "
                                   "statement kept)");
    print_json_text(f->document);
  }
  printf("\n---- aws CLI ----\n%s", f->aws_cli);
  printf("\n---- Terraform ----\n%s", f->terraform);
  printf("\n---- CloudFormation ----\n%s", f->cloudformation);
}

int cmd_policy_fix(int argc, char **argv)
{
  struct fix_cli cli;
  memset(&cli, 0, sizeof cli);
  if (!opts_parse(fix_options, N_FIX_OPTIONS, argc, argv, &cli, "ecrdiag policy fix"))
    return EXIT_USAGE;
  if (cli.help) {
    fix_usage(stdout);
    return EXIT_OK;
  }
  const char *output = cli.output ? cli.output : "text";
  if (strcmp(output, "json") && strcmp(output, "text")) {
    fprintf(stderr, "ecrdiag policy fix: unknown --output '%s' (json or text)\n", output);
    return EXIT_USAGE;
  }
  struct repo_arn ra;
  if (!cli.repository_arn || !repo_arn_parse(cli.repository_arn, &ra)) {
    fprintf(stderr,
            "ecrdiag policy fix: %s --repository-arn "
            "arn:PARTITION:ecr:REGION:ACCOUNT:repository/NAME\n",
            cli.repository_arn ? "malformed" : "which repository? give");
    return EXIT_USAGE;
  }
  if (cli.current && cli.no_current_policy) {
    fprintf(stderr, "ecrdiag policy fix: --current and --no-current-policy contradict\n");
    return EXIT_USAGE;
  }
  struct fix_request req;
  memset(&req, 0, sizeof req);
  req.grant = cli.org_id ? FIX_GRANT_ORG : FIX_GRANT_ACCOUNT;
  if (cli.grant && !policyfix_grant_parse(cli.grant, &req.grant)) {
    fprintf(stderr,
            "ecrdiag policy fix: unknown --grant '%s' (org, account, role, "
            "role-condition or ou)\n",
            cli.grant);
    return EXIT_USAGE;
  }
  static const struct {
    const char *name;
    enum fix_target target;
  } targets[] = {
      {"repository", FIX_TARGET_REPOSITORY_POLICY},
      {"identity", FIX_TARGET_IDENTITY_POLICY},
      {"registry", FIX_TARGET_REGISTRY_POLICY},
  };
  size_t t = 0;
  while (cli.target && t < sizeof targets / sizeof targets[0] &&
         strcmp(cli.target, targets[t].name))
    t++;
  if (t == sizeof targets / sizeof targets[0]) {
    fprintf(stderr,
            "ecrdiag policy fix: unknown --target '%s' (repository, identity or registry)\n",
            cli.target);
    return EXIT_USAGE;
  }
  req.target = targets[t].target;
  if (cli.exempt_deny) {
    char *end = NULL;
    unsigned long n = strtoul(cli.exempt_deny, &end, 10);
    if (!*cli.exempt_deny || *end || cli.exempt_deny[0] == '-') {
      fprintf(stderr,
              "ecrdiag policy fix: --exempt-deny '%s' is not a statement index (0, 1, ...)\n",
              cli.exempt_deny);
      return EXIT_USAGE;
    }
    req.exempt_from_deny = true;
    req.deny_statement = (size_t)n;
  }
  bool registry = req.target == FIX_TARGET_REGISTRY_POLICY;
  if ((req.exempt_from_deny || registry) && !cli.current) {
    fprintf(stderr, "ecrdiag policy fix: an exemption from a Deny needs the policy that holds it: "
                    "give --current FILE\n");
    return EXIT_USAGE;
  }
  if (registry && !req.exempt_from_deny) {
    fprintf(stderr, "ecrdiag policy fix: --target registry exempts the grant from a Deny of the "
                    "registry policy: give --exempt-deny N\n");
    return EXIT_USAGE;
  }
  if (cli.repository_policy && !registry) {
    fprintf(stderr, "ecrdiag policy fix: --repository-policy goes with --target registry\n");
    return EXIT_USAGE;
  }
  req.attach_managed = cli.managed;
  req.partition = ra.partition;
  req.region = ra.region;
  req.registry_id = ra.account;
  req.repository = ra.name;
  req.org_id = cli.org_id;
  req.caller_account = cli.account;
  req.principal_arn = cli.principal_arn;
  req.role_arn = cli.role_arn;
  req.ou_path = cli.ou_path;
  const char *paths[1] = {cli.org_path};
  req.org_paths = cli.org_path ? paths : NULL;
  req.n_org_paths = cli.org_path ? 1 : 0;
  /* The account a role or session ARN names, when --account is not given. */
  char account[16] = "";
  const char *from = cli.role_arn ? cli.role_arn : cli.principal_arn;
  if (!cli.account && from) {
    const char *p = from;
    for (int k = 0; k < 4 && p; k++) {
      p = strchr(p, ':');
      p = p ? p + 1 : NULL;
    }
    const char *end = p ? strchr(p, ':') : NULL;
    if (end && end - p == 12) {
      memcpy(account, p, 12);
      account[12] = '\0';
      req.caller_account = account;
    }
  }

  int status = EXIT_USAGE;
  struct err e;
  err_clear(&e);
  struct buf text, repo_text;
  buf_init(&text, POLICY_MAX_BYTES);
  buf_init(&repo_text, POLICY_MAX_BYTES);
  struct policy_fix f;
  memset(&f, 0, sizeof f);
  json_t *out = NULL;
  if (cli.current) {
    if (read_all(cli.current, &text, &e)) {
      fprintf(stderr, "ecrdiag policy fix: %s\n", e.msg);
      goto out;
    }
    req.current_known = true;
    req.current_policy = buf_str(&text);
  } else if (cli.no_current_policy) {
    req.current_known = true;
  }
  if (cli.repository_policy) {
    if (read_all(cli.repository_policy, &repo_text, &e)) {
      fprintf(stderr, "ecrdiag policy fix: %s\n", e.msg);
      goto out;
    }
    req.repository_policy_known = true;
    req.repository_policy = buf_str(&repo_text);
  }
  enum err_code rc = policyfix_build(&req, &f, &e);
  if (rc == ERR_TOO_LARGE) {
    fprintf(stderr, "ecrdiag policy fix: %s\n", e.msg);
    status = EXIT_FINDING;
    goto out;
  }
  if (rc) {
    fprintf(stderr, "ecrdiag policy fix: %s\n", e.msg[0] ? e.msg : err_code_str(rc));
    goto out;
  }
  if (!strcmp(output, "text")) {
    fix_print_text(&f);
  } else {
    out = policyfix_to_json(&f);
    if (!out || json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) {
      fprintf(stderr, "ecrdiag policy fix: out of memory writing the fix\n");
      goto out;
    }
    fputc('\n', stdout);
  }
  status = f.verified ? EXIT_OK : EXIT_FINDING;
out:
  json_decref(out);
  policyfix_release(&f);
  buf_release(&text);
  buf_release(&repo_text);
  return status;
}

/* ---- policy: the subcommands ----------------------------------------------------------- */

static const struct {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} subcommands[] = {
    {"eval", cmd_policy_eval, "decide one request offline, the way IAM would"},
    {"lint", cmd_policy_lint, "check an ECR repository policy"},
    {"fix", cmd_policy_fix, "write the policy change that lets a principal pull, verified"},
};

static void policy_usage(FILE *out)
{
  fprintf(out, "usage: ecrdiag policy SUBCOMMAND [options]   (SUBCOMMAND --help for more)\n\n");
  for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
    fprintf(out, "  %-6s %s\n", subcommands[i].name, subcommands[i].summary);
}

int cmd_policy(int argc, char **argv)
{
  if (argc < 2) {
    policy_usage(stderr);
    return EXIT_USAGE;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    policy_usage(stdout);
    return EXIT_OK;
  }
  for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
    if (!strcmp(argv[1], subcommands[i].name))
      return subcommands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "ecrdiag policy: unknown subcommand '%s'\n", argv[1]);
  policy_usage(stderr);
  return EXIT_USAGE;
}
