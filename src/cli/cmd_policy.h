/* `ecrdiag policy ...` subcommands as the front end sees them. Thin: reading files and
 * printing; evaluation, lint and fix are in src/policy (policy.h, policylint.h, policyfix.h). */
#ifndef ECRDIAG_CMD_POLICY_H
#define ECRDIAG_CMD_POLICY_H

/* `ecrdiag policy eval FILE|- [--output json|text]`: argv[0] is "eval". Prints the decision;
 * returns 0 whatever the decision, 2 on a usage error or a malformed request (with a
 * message on stderr naming what is wrong). */
int cmd_policy_eval(int argc, char **argv);

/* `ecrdiag policy lint FILE|- [--output json|text] [--rules]`: argv[0] is "lint". Prints the
 * findings; returns 1 when one is critical, 0 otherwise, 2 on a usage error or unreadable file. */
int cmd_policy_lint(int argc, char **argv);

/* `ecrdiag policy fix --repository-arn ARN [--current FILE|- | --no-current-policy]
 * [--grant org|account|role|role-condition|ou] [--target repository|identity] ...`: argv[0] is
 * "fix". Prints the fix; returns 0 when it is verified (or nothing needs to change), 1 when it
 * is not verified or cannot fit ECR's size limit, 2 on a usage error or malformed input. */
int cmd_policy_fix(int argc, char **argv);

/* `ecrdiag policy SUBCOMMAND ...`: argv[0] is "policy"; runs the subcommand named by argv[1]
 * from one table (eval, lint, fix). 2 when there is none or it is unknown. */
int cmd_policy(int argc, char **argv);

#endif
