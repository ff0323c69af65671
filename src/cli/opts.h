/* Command-line options as a table: one table per command drives both parsing and its help
 * text (curl's tool_getparam idea). Front-end only; knows nothing of AWS. */
#ifndef ECRDIAG_CLI_OPTS_H
#define ECRDIAG_CLI_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum opt_kind { OPT_VALUE, OPT_FLAG };

struct opt {
  const char *name; /* "--image" */
  enum opt_kind kind;
  const char *metavar; /* OPT_VALUE: what the value is, for the help */
  size_t offset;       /* of a const char * (OPT_VALUE) or a bool (OPT_FLAG) in the target */
  const char *help;
};

/* Parses argv[1..argc-1] ("--name value" and "--name=value") into the struct at target.
 * On a bad argument prints "PROG: what is wrong" to stderr and returns false. */
bool opts_parse(const struct opt *table, size_t n, int argc, char **argv, void *target,
                const char *prog);
/* One line per option: "  --name METAVAR   help". */
void opts_help(const struct opt *table, size_t n, FILE *out);

#endif
