/* The option-table parser and help printer shared by the command line's commands.
 * Front-end only; knows nothing of AWS. */
#include "opts.h"

#include <string.h>

static const struct opt *opts_find(const struct opt *table, size_t n, const char *name, size_t len)
{
  for (size_t i = 0; i < n; i++)
    if (strlen(table[i].name) == len && strncmp(table[i].name, name, len) == 0)
      return &table[i];
  return NULL;
}

bool opts_parse(const struct opt *table, size_t n, int argc, char **argv, void *target,
                const char *prog)
{
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    const char *eq = strchr(arg, '=');
    size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
    const struct opt *o = strncmp(arg, "--", 2) == 0 ? opts_find(table, n, arg, len) : NULL;
    if (!o) {
      fprintf(stderr, "%s: unknown argument '%s'; see '%s --help'\n", prog, arg, prog);
      return false;
    }
    char *field = (char *)target + o->offset;
    if (o->kind == OPT_FLAG) {
      if (eq) {
        fprintf(stderr, "%s: '%s' takes no value\n", prog, o->name);
        return false;
      }
      *(bool *)field = true;
      continue;
    }
    const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
    if (!value) {
      fprintf(stderr, "%s: '%s' needs a value (%s)\n", prog, o->name, o->metavar);
      return false;
    }
    *(const char **)field = value;
  }
  return true;
}

void opts_help(const struct opt *table, size_t n, FILE *out)
{
  for (size_t i = 0; i < n; i++) {
    char left[64];
    snprintf(left, sizeof left, "%s%s%s", table[i].name, table[i].metavar ? " " : "",
             table[i].metavar ? table[i].metavar : "");
    fprintf(out, "  %-28s %s\n", left, table[i].help);
  }
}
