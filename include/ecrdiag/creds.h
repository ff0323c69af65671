/* AWS credentials of the probing principal. Secrets are wiped on release and never logged.
 * Depends on core only. */
#ifndef ECRDIAG_CREDS_H
#define ECRDIAG_CREDS_H

#include <time.h>

#include "ecrdiag/err.h"

struct aws_creds {
  char *access_key_id;
  char *secret_access_key; /* secret */
  char *session_token;     /* secret; NULL when none */
  char *source;            /* "env", ... as reported in caller.credential_source */
  time_t expires;          /* 0 when unknown or never */
};

/* From AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN (AWS_SECURITY_TOKEN,
 * botocore's older name, when AWS_SESSION_TOKEN is unset). An empty variable counts as unset.
 * Fills *out (caller-owned storage; release with creds_release, also after a failure).
 * ERR_CREDENTIALS with a message saying what was looked for and what to do when they are
 * absent, half-set, or hold a control character (a stray newline); the message names
 * variables, never their values. */
enum err_code creds_from_env(struct aws_creds *out, struct err *e);
/* Wipes the secrets, frees everything and leaves c empty. Accepts NULL. */
void creds_release(struct aws_creds *c);

#endif
