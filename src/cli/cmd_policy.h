/* `ecrdiag policy ...` subcommands as the front end sees them. Thin: reading files and
 * printing; the evaluation itself is in src/policy (include/ecrdiag/policy.h). */
#ifndef ECRDIAG_CMD_POLICY_H
#define ECRDIAG_CMD_POLICY_H

/* `ecrdiag policy eval FILE|- [--output json|text]`: argv[0] is "eval". Prints the decision;
 * returns 0 whatever the decision, 2 on a usage error or a malformed request (with a
 * message on stderr naming what is wrong). */
int cmd_policy_eval(int argc, char **argv);

#endif
