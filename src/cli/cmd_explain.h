/* `ecrdiag explain` as the front end sees it: reads a pull error message from the arguments or
 * standard input and prints the likely causes. Thin: the rules live in src/diag/explain.c
 * (include/ecrdiag/explain.h). */
#ifndef ECRDIAG_CMD_EXPLAIN_H
#define ECRDIAG_CMD_EXPLAIN_H

/* `ecrdiag explain [MESSAGE... | -] [--output json|text]`: argv[0] is "explain". The message is
 * the remaining arguments joined by spaces, or standard input with "-" (or with no argument when
 * standard input is not a terminal), at most EXPLAIN_MAX_INPUT_BYTES. Returns 0 when at least
 * one cause was named, 1 when none matched, 2 on a usage error (bad option, no message, input
 * too large), with a message on stderr. */
int cmd_explain(int argc, char **argv);

#endif
