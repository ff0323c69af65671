/* `ecrdiag policy eval`: reads one request in the eval JSON format (a file or standard
 * input), decides it with the policy evaluator and prints the decision. No policy logic
 * lives here: everything is behind include/ecrdiag/policy.h. */
#include "cmd_policy.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "ecrdiag/buf.h"
#include "ecrdiag/policy.h"

#define EXIT_OK 0
#define EXIT_USAGE 2

static void eval_usage(FILE *out)
{
  fprintf(out,
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
