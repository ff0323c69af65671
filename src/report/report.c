/* The JSON report and the text report of one diagnosis. The JSON field names are a public
 * contract (ecrdiag.report/v1): later versions add fields, never rename or remove them.
 * Depends on diag (the model) only; nothing here calls AWS or evaluates policy. */
#include "ecrdiag/report.h"

#include <stdlib.h>
#include <string.h>

#include "ecrdiag/buf.h"

static json_t *str_or_null(const char *s)
{
  return s ? json_string(s) : json_null();
}

static bool json_array_has_string(const json_t *a, const char *s)
{
  size_t i;
  const json_t *v;
  json_array_foreach(a, i,
                     v) if (json_is_string(v) && strcmp(json_string_value(v), s) == 0) return true;
  return false;
}

static json_t *pullable_json(int pullable)
{
  if (pullable < 0)
    return json_null();
  return json_boolean(pullable);
}

static json_t *image_json(const struct diagnosis *d)
{
  const struct image_ref *r = &d->ref;
  json_t *o = json_object();
  json_object_set_new(o, "reference", str_or_null(r->reference));
  if (!d->ref_ok) {
    const char *keys[] = {"registry_id", "region", "partition", "repository",
                          "tag",         "digest", "platform"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
      json_object_set_new(o, keys[i], json_null());
    return o;
  }
  json_object_set_new(o, "registry_id", json_string(r->registry_id));
  json_object_set_new(o, "region", json_string(r->region));
  json_object_set_new(o, "partition", json_string(r->partition));
  json_object_set_new(o, "repository", str_or_null(r->repository));
  json_object_set_new(o, "tag", str_or_null(r->tag));
  json_object_set_new(o, "digest", str_or_null(r->digest));
  json_object_set_new(o, "platform", str_or_null(d->platform));
  return o;
}

static json_t *fix_json(const struct diagnosis *d)
{
  if (!d->has_fix)
    return json_null();
  json_t *o = policyfix_to_json(&d->fix);
  /* The complete repository policy to set, under the name issue #4's contract gives it too. */
  /* The document under the name of what it is: fix.repository_policy, fix.registry_policy. */
  if (o && d->fix.target && strcmp(d->fix.target, "identity_policy") != 0)
    json_object_set(o, d->fix.target, json_object_get(o, "document"));
  return o;
}

json_t *report_json(const struct diagnosis *d)
{
  json_t *root = json_object();
  json_object_set_new(root, "schema", json_string(REPORT_SCHEMA));
  json_object_set_new(root, "tool",
                      json_pack("{s:s, s:s}", "name", "ecrdiag", "version", ECRDIAG_VERSION));
  json_object_set_new(root, "image", image_json(d));

  json_t *caller = json_object();
  json_object_set_new(caller, "arn", str_or_null(d->caller.arn));
  json_object_set_new(caller, "account", str_or_null(d->caller.account));
  json_object_set_new(caller, "org_id", str_or_null(d->caller.org_id));
  json_object_set_new(caller, "credential_source", str_or_null(d->caller.credential_source));
  json_object_set_new(caller, "is_pulling_principal", json_boolean(d->caller.is_pulling_principal));
  json_object_set_new(root, "caller", caller);

  json_t *causes = json_array();
  json_t *findings = json_array();
  for (size_t i = 0; i < d->n_findings; i++) {
    const struct diag_finding *f = &d->findings[i];
    const struct cause_info *ci = cause_info(f->cause);
    if (ci->cls != CAUSE_CLASS_WARNING && !json_array_has_string(causes, ci->id))
      json_array_append_new(causes, json_string(ci->id));
    json_array_append_new(findings, json_pack("{s:s, s:s, s:s, s:s, s:O, s:b}", "cause", ci->id,
                                              "class", cause_class_name(ci->cls), "title",
                                              ci->title, "summary", f->summary, "evidence",
                                              f->evidence, "alternative", f->alternative));
  }
  json_object_set_new(root, "verdict",
                      json_pack("{s:o, s:o, s:i}", "pullable", pullable_json(d->pullable), "causes",
                                causes, "exit_code", diag_exit_code(d)));
  json_object_set_new(root, "findings", findings);
  json_object_set_new(root, "fix", fix_json(d));

  json_t *checks = json_array();
  for (size_t i = 0; i < d->n_checks; i++) {
    const struct diag_check *c = &d->checks[i];
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(c->id));
    json_object_set_new(o, "endpoint", str_or_null(c->endpoint));
    json_object_set_new(o, "status", json_string(diag_check_status_name(c->status)));
    json_object_set_new(o, "needed_for_pull", json_boolean(c->needed_for_pull));
    json_object_set_new(o, "attempts", json_integer(c->attempts));
    json_object_set_new(o, "duration_ms", json_integer(c->duration_ms));
    json_object_set_new(o, "http_status",
                        c->http_status ? json_integer(c->http_status) : json_null());
    json_object_set_new(o, "error_code", str_or_null(c->error_code));
    json_object_set_new(o, "message", str_or_null(c->error_message));
    json_object_set_new(o, "request_id", str_or_null(c->request_id));
    json_array_append_new(checks, o);
  }
  json_object_set_new(root, "checks", checks);
  return root;
}

/* ---- text ----------------------------------------------------------------------------- */

struct style {
  const char *bold, *red, *green, *yellow, *dim, *reset;
};

static struct style style_for(bool color)
{
  if (!color)
    return (struct style){"", "", "", "", "", ""};
  return (struct style){"\033[1m", "\033[31m", "\033[32m", "\033[33m", "\033[2m", "\033[0m"};
}

/* Prose wrapped at width, each line after the first indented by indent spaces. */
static void print_wrapped(FILE *out, const char *text, int indent, int width)
{
  int col = indent;
  const char *p = text;
  bool first = true;
  while (*p) {
    while (*p == ' ')
      p++;
    const char *w = p;
    while (*p && *p != ' ' && *p != '\n')
      p++;
    int n = (int)(p - w);
    if (n == 0) {
      if (*p == '\n') {
        fprintf(out, "\n%*s", indent, "");
        col = indent;
        first = true;
        p++;
      }
      continue;
    }
    if (!first && col + 1 + n > width) {
      fprintf(out, "\n%*s", indent, "");
      col = indent;
      first = true;
    }
    fprintf(out, "%s%.*s", first ? "" : " ", n, w);
    col += n + (first ? 0 : 1);
    first = false;
  }
  fputc('\n', out);
}

static void print_block(FILE *out, const char *text, const char *indent)
{
  const char *p = text;
  while (*p) {
    const char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p) : strlen(p);
    fprintf(out, "%s%.*s\n", indent, (int)n, p);
    p += n + (nl ? 1 : 0);
  }
}

static void print_code(FILE *out, const char *code, const struct style *st)
{
  static const char rule[] = "--------------------------------------------------------------"
                             "------------------";
  fprintf(out, "%s%s%s\n", st->dim, rule, st->reset);
  print_block(out, code, "");
  fprintf(out, "%s%s%s\n", st->dim, rule, st->reset);
}

static void print_json_block(FILE *out, const json_t *j, const char *indent)
{
  char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  if (s)
    print_block(out, s, indent);
  free(s);
}

static const char *status_mark(enum check_status s, const struct style *st, const char **color)
{
  switch (s) {
  case CHECK_PASS: *color = st->green; return "pass";
  case CHECK_FAIL: *color = st->red; return "FAIL";
  case CHECK_ERROR: *color = st->yellow; return "error";
  case CHECK_SKIPPED: *color = st->dim; return "skip";
  }
  *color = "";
  return "?";
}

static void text_checks(const struct diagnosis *d, const struct style *st, FILE *out)
{
  if (d->n_checks == 0)
    return;
  fprintf(out, "\n%sChecks%s\n", st->bold, st->reset);
  for (size_t i = 0; i < d->n_checks; i++) {
    const struct diag_check *c = &d->checks[i];
    const char *color;
    const char *mark = status_mark(c->status, st, &color);
    if (!c->needed_for_pull && c->status != CHECK_PASS) {
      mark = "n/a";
      color = st->dim;
    }
    fprintf(out, "  %s%-5s%s %-36s", color, mark, st->reset, c->id);
    /* A check that passed without an HTTP status of its own stands for several requests (the
     * image in every other region): its attempts count them. */
    bool aggregate = !c->http_status && c->status == CHECK_PASS;
    if (c->http_status)
      fprintf(out, " HTTP %ld", c->http_status);
    else if (aggregate)
      fprintf(out, " %d requests", c->attempts);
    else
      fprintf(out, " no answer");
    if (c->error_code)
      fprintf(out, " %s", c->error_code);
    fprintf(out, "  %s%ld ms", st->dim, c->duration_ms);
    if (c->attempts > 1 && !aggregate)
      fprintf(out, ", %d attempts", c->attempts);
    if (!c->needed_for_pull && c->status != CHECK_PASS)
      fprintf(out, ", context only: not needed to pull");
    fprintf(out, "%s\n", st->reset);
  }
}

static void text_verdict(const struct diagnosis *d, const struct style *st, int width, FILE *out)
{
  fputc('\n', out);
  if (d->pullable == 1) {
    fprintf(out, "%sVerdict: the pull succeeds as %s%s\n", st->green,
            d->caller.arn ? d->caller.arn : "the caller", st->reset);
    if (!d->caller.is_pulling_principal)
      fprintf(out, "  %spullable by %s, not verified for the node role%s\n", st->yellow,
              d->caller.arn ? d->caller.arn : "the caller", st->reset);
  } else if (d->pullable == 0) {
    fprintf(out, "%sVerdict: the pull fails%s\n", st->red, st->reset);
  } else {
    fprintf(out, "%sVerdict: could not be decided from here%s\n", st->yellow, st->reset);
  }
  for (size_t i = 0; i < d->n_findings; i++) {
    const struct diag_finding *f = &d->findings[i];
    const struct cause_info *ci = cause_info(f->cause);
    bool warn = ci->cls == CAUSE_CLASS_WARNING;
    fprintf(out, "\n%s%s %s%s: %s\n", warn ? st->yellow : st->bold,
            i == 0 && !warn  ? "Cause"
            : warn           ? "Note "
            : f->alternative ? "Or   "
                             : "Also ",
            ci->id, st->reset, ci->title);
    fputs("  ", out);
    print_wrapped(out, f->summary, 2, width);
    const char *msg = json_string_value(json_object_get(f->evidence, "message"));
    const char *check = json_string_value(json_object_get(f->evidence, "check"));
    if (check) {
      json_t *status = json_object_get(f->evidence, "http_status");
      const char *code = json_string_value(json_object_get(f->evidence, "error_code"));
      const char *rid = json_string_value(json_object_get(f->evidence, "request_id"));
      fprintf(out, "  %sevidence: %s", st->dim, check);
      if (status)
        fprintf(out, " -> HTTP %lld", (long long)json_integer_value(status));
      if (code)
        fprintf(out, " %s", code);
      if (rid)
        fprintf(out, " (request id %s)", rid);
      fprintf(out, "%s\n", st->reset);
      if (msg) {
        fprintf(out, "  %s  \"", st->dim);
        fputs(msg, out);
        fprintf(out, "\"%s\n", st->reset);
      }
    }
  }
}

static void text_fix(const struct diagnosis *d, const struct style *st, int width, FILE *out)
{
  if (!d->has_fix)
    return;
  const struct policy_fix *f = &d->fix;
  bool identity = f->target && strcmp(f->target, "identity_policy") == 0;
  bool registry = f->target && strcmp(f->target, "registry_policy") == 0;
  const char *doc_name = identity   ? "policy document"
                         : registry ? "registry policy"
                                    : "repository policy";
  if (f->exempt_from_deny)
    fprintf(out,
            "\n%sFix%s: exempt the grant from the Deny at Statement[%ld] of the %s of %s%s in "
            "account %s (the Deny stays for everyone else)\n",
            st->bold, st->reset, f->deny_statement,
            registry ? "private registry policy" : "repository policy",
            registry ? "the registry, region " : d->ref.repository, registry ? d->ref.region : "",
            d->ref.registry_id);
  else if (identity && !f->statement)
    fprintf(out,
            "\n%sFix%s: attach the AWS managed policy AmazonEC2ContainerRegistryPullOnly to "
            "role %s\n",
            st->bold, st->reset, f->role_arn ? f->role_arn : "the node role");
  else if (identity)
    fprintf(out, "\n%sFix%s: add this inline policy statement to role %s\n", st->bold, st->reset,
            f->role_arn ? f->role_arn : "the node role");
  else if (f->merged_statements > 0)
    fprintf(out,
            "\n%sFix%s: widen this existing statement of the repository policy of %s in "
            "account %s (merged to fit ECR's size limit)\n",
            st->bold, st->reset, d->ref.repository, d->ref.registry_id);
  else
    fprintf(out, "\n%sFix%s: add this statement to the repository policy of %s in account %s\n",
            st->bold, st->reset, d->ref.repository, d->ref.registry_id);
  if (f->already_granted)
    fprintf(out, "  (the current policy already holds an equivalent statement)\n");
  if (f->statement)
    print_json_block(out, f->statement, "  ");
  if (f->verification) {
    fprintf(out, "  %s%s%s ", f->verified ? st->green : st->red,
            f->verified ? "Verified:" : "NOT verified:", st->reset);
    print_wrapped(out, f->verification, 2, width);
  }
  if (f->caveat) {
    fputs("  Caveat: ", out);
    print_wrapped(out, f->caveat, 2, width);
  }
  if (f->opens) {
    fputs("  What it opens: ", out);
    print_wrapped(out, f->opens, 2, width);
  }
  if (f->document) {
    fprintf(out, "\n%sComplete %s to set%s (every existing statement kept):\n", st->bold, doc_name,
            st->reset);
    print_json_block(out, f->document, "  ");
  } else if (!identity) {
    fputs("\n  ", out);
    print_wrapped(out,
                  "The current repository policy could not be read from this account, so no "
                  "complete document is shown: the script below reads it as account A and "
                  "merges the statement into whatever is there.",
                  2, width);
  }
  /* Scripts are printed flush left between rules: indenting them would break the heredoc
   * terminators when a user pastes them. */
  if (f->aws_cli) {
    fprintf(out, "\n%saws CLI%s (run as an identity of account %s that may change it):\n", st->bold,
            st->reset,
            identity ? (d->caller.account ? d->caller.account : "?") : d->ref.registry_id);
    print_code(out, f->aws_cli, st);
  }
  if (f->terraform) {
    fprintf(out, "\n%sTerraform%s:\n", st->bold, st->reset);
    print_code(out, f->terraform, st);
  }
  if (f->cloudformation) {
    fprintf(out, "\n%sCloudFormation%s:\n", st->bold, st->reset);
    print_code(out, f->cloudformation, st);
  }
}

void report_text(const struct diagnosis *d, const struct report_text_options *o, FILE *out)
{
  struct style st = style_for(o && o->color);
  int width = o && o->width > 40 ? o->width : 100;
  fprintf(out, "%secrdiag %s%s  %s\n", st.bold, ECRDIAG_VERSION, st.reset,
          d->ref.reference ? d->ref.reference : "");
  if (d->ref_ok)
    fprintf(out, "  registry   %s (%s, %s)   repository %s   %s %s\n", d->ref.registry_id,
            d->ref.partition, d->ref.region, d->ref.repository, d->ref.digest ? "digest" : "tag",
            d->ref.digest ? d->ref.digest : d->ref.tag);
  if (d->caller.arn)
    fprintf(out, "  caller     %s (account %s%s%s, credentials from %s)\n", d->caller.arn,
            d->caller.account, d->caller.org_id ? ", organization " : "",
            d->caller.org_id ? d->caller.org_id : "",
            d->caller.credential_source ? d->caller.credential_source : "?");
  text_checks(d, &st, out);
  text_verdict(d, &st, width, out);
  text_fix(d, &st, width, out);
}
