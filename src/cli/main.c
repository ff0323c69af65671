/* The command line: one table of options drives parsing and --help; runs one diagnosis and
 * renders it as text or JSON. No AWS or policy logic lives here.
 * Exit codes: 0 pullable, 1 the pull fails, 2 usage or bad reference, 3 undecidable here. */
#include <errno.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd_explain.h"
#include "cmd_policy.h"
#include "opts.h"
#include "ecrdiag/diag.h"
#include "ecrdiag/policyfix.h"
#include "ecrdiag/report.h"
#include "../tui/tui.h"

#define EXIT_USAGE 2
#define EXIT_UNDECIDED 3

struct cli {
  const char *image;
  const char *output;
  const char *org_id;
  const char *report_path;
  const char *timeout;
  const char *platform;
  const char *grant;
  const char *ou_path;
  const char *node_role_arn;
  bool managed_policy;
  const char *profile;
  const char *role_arn;
  const char *external_id;
  const char *region;
  const char *registry_profile;
  const char *registry_role_arn;
  const char *registry_external_id;
  const char *ca_bundle;
  bool no_verify_ssl;
  bool on_node;
  bool no_color;
  bool tui;
  bool help;
  bool version;
};

#define OPT_AT(field) offsetof(struct cli, field)
static const struct opt options[] = {
    {"--image", OPT_VALUE, "REF", OPT_AT(image),
     "the image to check, e.g. 632000001762.dkr.ecr.ap-southeast-1.amazonaws.com/app:latest"},
    {"--output", OPT_VALUE, "text|json", OPT_AT(output), "what to print (default text)"},
    {"--org-id", OPT_VALUE, "o-...", OPT_AT(org_id),
     "the caller's organization id, for the organization-wide fix"},
    {"--grant", OPT_VALUE, "org|account|role|role-condition|ou", OPT_AT(grant),
     "who the repository policy fix lets pull (default: org when known, else account)"},
    {"--ou-path", OPT_VALUE, "o-../r-../ou-../", OPT_AT(ou_path), "the OU for --grant ou"},
    {"--node-role-arn", OPT_VALUE, "ARN", OPT_AT(node_role_arn),
     "the node role's ARN with its path, for role grants and identity fixes"},
    {"--managed-policy", OPT_FLAG, NULL, OPT_AT(managed_policy),
     "an identity fix attaches AmazonEC2ContainerRegistryPullOnly instead of an inline policy"},
    {"--report", OPT_VALUE, "FILE", OPT_AT(report_path),
     "also write the JSON report to FILE (for a support ticket)"},
    {"--platform", OPT_VALUE, "OS/ARCH[/VARIANT]", OPT_AT(platform),
     "the node's platform (default linux/amd64), e.g. linux/arm64 for Graviton nodes"},
    {"--timeout", OPT_VALUE, "SECONDS", OPT_AT(timeout),
     "limit for the whole check, retries included (default 30)"},
    {"--profile", OPT_VALUE, "NAME", OPT_AT(profile),
     "probe with this AWS profile (skips the AWS_ACCESS_KEY_ID environment keys)"},
    {"--role-arn", OPT_VALUE, "ARN", OPT_AT(role_arn),
     "then assume this role and probe as it (e.g. the node role, if its trust policy allows)"},
    {"--external-id", OPT_VALUE, "ID", OPT_AT(external_id), "the external id --role-arn needs"},
    {"--region", OPT_VALUE, "REGION", OPT_AT(region),
     "region when the reference has none (default: AWS_REGION, AWS_DEFAULT_REGION, profile)"},
    {"--registry-profile", OPT_VALUE, "NAME", OPT_AT(registry_profile),
     "a profile of the registry's account, to read its side (policies, repositories)"},
    {"--registry-role-arn", OPT_VALUE, "ARN", OPT_AT(registry_role_arn),
     "a role in the registry's account to assume for those reads"},
    {"--registry-external-id", OPT_VALUE, "ID", OPT_AT(registry_external_id),
     "the external id --registry-role-arn needs"},
    {"--ca-bundle", OPT_VALUE, "FILE", OPT_AT(ca_bundle),
     "trust these CA certificates (default: AWS_CA_BUNDLE, else the system's)"},
    {"--no-verify-ssl", OPT_FLAG, NULL, OPT_AT(no_verify_ssl),
     "do not verify TLS certificates (insecure; prints a warning)"},
    {"--on-node", OPT_FLAG, NULL, OPT_AT(on_node),
     "this host is the node: what it cannot reach is the pull's cause (implied by IMDS "
     "credentials)"},
    {"--no-color", OPT_FLAG, NULL, OPT_AT(no_color), "no colours (also: NO_COLOR set)"},
    {"--tui", OPT_FLAG, NULL, OPT_AT(tui),
     "the interactive screens (the default with no arguments on a terminal)"},
    {"--help", OPT_FLAG, NULL, OPT_AT(help), "this help"},
    {"--version", OPT_FLAG, NULL, OPT_AT(version), "the version"},
};
#define N_OPTIONS (sizeof options / sizeof options[0])

static void usage(FILE *out)
{
  fprintf(out,
          "usage: ecrdiag --image REF [options]\n"
          "       ecrdiag [--tui] [--image REF]      (interactive, on a terminal)\n"
          "       ecrdiag explain [MESSAGE | -] [--output json]   (offline)\n"
          "       ecrdiag policy eval|lint|fix ...   (offline; see 'ecrdiag policy --help')\n\n"
          "Tells why a Kubernetes pod cannot pull its image from Amazon ECR, and the fix.\n"
          "Probes with the AWS credentials of the environment, as the kubelet would with\n"
          "the node's IAM role.\n\noptions:\n");
  opts_help(options, N_OPTIONS, out);

  fprintf(out, "\nexit codes: 0 pullable by the probing principal, 1 the pull fails,\n"
               "            2 usage error or bad image reference, 3 could not be decided here\n");
}

static bool valid_org_id(const char *s)
{
  /* Organizations API: ^o-[a-z0-9]{10,32}$ */
  size_t n = strlen(s);
  if (n < 12 || n > 34 || strncmp(s, "o-", 2) != 0)
    return false;
  for (size_t i = 2; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
      return false;
  return true;
}

static bool parse_timeout_ms(const char *s, long *out)
{
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || v <= 0 || v > 3600)
    return false;
  *out = (long)(v * 1000.0);
  return *out > 0;
}

static bool write_report_file(const char *path, json_t *report)
{
  /* Written whole to a temporary name, then renamed: a reader never sees half a report. */
  size_t n = strlen(path) + 16;
  char *tmp = malloc(n);
  if (!tmp)
    return false;
  snprintf(tmp, n, "%s.tmp", path);
  bool ok = json_dump_file(report, tmp, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0 &&
            rename(tmp, path) == 0;
  if (!ok) {
    fprintf(stderr, "ecrdiag: cannot write the report to '%s': %s\n", path, strerror(errno));
    remove(tmp);
  }
  free(tmp);
  return ok;
}

int main(int argc, char **argv)
{
  if (argc >= 2 && strcmp(argv[1], "explain") == 0)
    return cmd_explain(argc - 1, argv + 1);
  if (argc >= 2 && strcmp(argv[1], "policy") == 0)
    return cmd_policy(argc - 1, argv + 1);
  struct cli cli = {0};
  if (!opts_parse(options, N_OPTIONS, argc, argv, &cli, "ecrdiag"))
    return EXIT_USAGE;
  if (cli.help) {
    usage(stdout);
    return 0;
  }
  if (cli.version) {
    printf("ecrdiag %s\n", ECRDIAG_VERSION);
    return 0;
  }
  bool tui = cli.tui || argc == 1;
  bool tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
  if (tui && !tty && !cli.image) {
    usage(stderr);
    return EXIT_USAGE;
  }
  if (!cli.image && !(tui && tty)) {
    fprintf(stderr, "ecrdiag: which image? give --image REF (see 'ecrdiag --help')\n");
    return EXIT_USAGE;
  }
  bool json_out = false;
  if (cli.output && strcmp(cli.output, "json") == 0) {
    json_out = true;
  } else if (cli.output && strcmp(cli.output, "text") != 0) {
    fprintf(stderr, "ecrdiag: --output is 'text' or 'json', not '%s'\n", cli.output);
    return EXIT_USAGE;
  }
  if (cli.org_id && !valid_org_id(cli.org_id)) {
    fprintf(stderr,
            "ecrdiag: --org-id '%s' is not an organization id: it is 'o-' followed by "
            "10 to 32 lower-case letters or digits\n",
            cli.org_id);
    return EXIT_USAGE;
  }
  if (cli.platform && !diag_platform_valid(cli.platform)) {
    fprintf(stderr, "ecrdiag: --platform '%s' is not OS/ARCH[/VARIANT], e.g. linux/arm64\n",
            cli.platform);
    return EXIT_USAGE;
  }
  enum fix_grant grant;
  if (cli.grant && !policyfix_grant_parse(cli.grant, &grant)) {
    fprintf(stderr,
            "ecrdiag: --grant is one of org, account, role, role-condition, ou; not "
            "'%s'\n",
            cli.grant);
    return EXIT_USAGE;
  }
  long timeout_ms = 0;
  if (cli.timeout && !parse_timeout_ms(cli.timeout, &timeout_ms)) {
    fprintf(stderr, "ecrdiag: --timeout '%s' is not a number of seconds between 0 and 3600\n",
            cli.timeout);
    return EXIT_USAGE;
  }

  const char *const arns[][2] = {{"--role-arn", cli.role_arn},
                                 {"--registry-role-arn", cli.registry_role_arn}};
  for (size_t i = 0; i < 2; i++) {
    if (arns[i][1] && !creds_role_arn_valid(arns[i][1])) {
      fprintf(stderr,
              "ecrdiag: %s '%s' is not an IAM role ARN "
              "(arn:aws:iam::ACCOUNT:role/NAME)\n",
              arns[i][0], arns[i][1]);
      return EXIT_USAGE;
    }
  }
  if ((cli.external_id && !cli.role_arn) || (cli.registry_external_id && !cli.registry_role_arn)) {
    fprintf(stderr, "ecrdiag: --external-id goes with --role-arn, --registry-external-id with "
                    "--registry-role-arn\n");
    return EXIT_USAGE;
  }
  struct creds_options co = {
      .profile = cli.profile,
      .role_arn = cli.role_arn,
      .external_id = cli.external_id,
      .region = cli.region,
  };
  struct creds_options rco = {
      .profile = cli.registry_profile,
      .role_arn = cli.registry_role_arn,
      .external_id = cli.registry_external_id,
      .region = cli.region,
      .label = "registry",
  };
  bool registry = cli.registry_profile || cli.registry_role_arn;
  struct diag_options o = {
      .creds = &co,
      .registry_creds = registry ? &rco : NULL,
      .ca_bundle = cli.ca_bundle,
      .insecure = cli.no_verify_ssl,
      .image = cli.image,
      .org_id = cli.org_id,
      .timeout_ms = timeout_ms,
      .registry_endpoint = getenv("ECRDIAG_REGISTRY_ENDPOINT"),
      .platform = cli.platform,
      .grant = cli.grant,
      .ou_path = cli.ou_path,
      .node_role_arn = cli.node_role_arn,
      .fix_managed = cli.managed_policy,
      .on_node = cli.on_node,
  };
  if (tui && tty) {
    struct tui_options to = {.no_color = cli.no_color, .diag = o};
    return tui_main(&to);
  }
  if (cli.no_verify_ssl)
    fprintf(stderr, "ecrdiag: warning: --no-verify-ssl: TLS certificates are not verified\n");
  struct diagnosis d;
  diag_init(&d);
  struct err e = {0};
  enum err_code rc = diag_run(&o, &d, &e);
  if (rc) {
    fprintf(stderr, "ecrdiag: %s\n", e.msg[0] ? e.msg : err_code_str(rc));
    diag_release(&d);
    return rc == ERR_INVALID || rc == ERR_PARSE ? EXIT_USAGE : EXIT_UNDECIDED;
  }
  int code = diag_exit_code(&d);
  json_t *report = report_json(&d);
  if (cli.report_path && report && !write_report_file(cli.report_path, report))
    code = code ? code : EXIT_UNDECIDED;
  if (json_out) {
    if (report) {
      json_dumpf(report, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
      fputc('\n', stdout);
    }
  } else {
    const char *no_color = getenv("NO_COLOR");
    struct report_text_options to = {
        .color = !cli.no_color && !(no_color && *no_color) && isatty(STDOUT_FILENO),
    };
    report_text(&d, &to, stdout);
  }
  json_decref(report);
  diag_release(&d);
  return code;
}
