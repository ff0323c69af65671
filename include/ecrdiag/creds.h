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

/* From AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN. ERR_CREDENTIALS with a
 * message saying what was looked for and what to do when they are absent or half-set. */
enum err_code creds_from_env(struct aws_creds *out, struct err *e);
void creds_release(struct aws_creds *c);

#endif
