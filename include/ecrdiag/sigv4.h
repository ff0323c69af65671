/* AWS Signature Version 4: canonical request, string to sign, signature, and the headers
 * (or query parameters) that carry them. Every intermediate stage is kept so tests can
 * assert each one against the AWS SigV4 test suite. The clock is an input, never read here.
 * With crypto.c, the only OpenSSL users. Depends on core only. */
#ifndef ECRDIAG_SIGV4_H
#define ECRDIAG_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "ecrdiag/buf.h"
#include "ecrdiag/err.h"
#include "ecrdiag/header.h"

/* Credentials used to sign; borrowed by the signer, never copied into its output
 * except the session token (which goes on the wire as X-Amz-Security-Token). */
struct sigv4_creds {
  const char *access_key_id;
  const char *secret_access_key;
  const char *session_token; /* NULL when none */
};

struct sigv4_input {
  const char *method;                /* "GET", "POST", ... */
  const char *path;                  /* as on the wire, e.g. "/" or "/example/.." */
  const char *query;                 /* without '?', as on the wire; NULL or "" when none */
  const struct http_header *headers; /* as they will be sent, Host included */
  size_t n_headers;
  const void *body;
  size_t body_len;
  const char *region;
  const char *service;
  const char *amz_date;    /* "YYYYMMDDTHHMMSSZ" (see sigv4_amz_date) */
  bool normalize_path;     /* RFC 3986 dot-segment removal; true for every service but S3 */
  bool sign_body;          /* also send x-amz-content-sha256 and sign it */
  bool omit_session_token; /* add X-Amz-Security-Token after signing, unsigned (some services) */
  long expires_s;          /* query signing only: X-Amz-Expires, 0..604800 (0: omitted) */
};

#define SIGV4_MAX_ADDED 4

/* Everything the signer produced. Release with sigv4_output_release (wipes it). */
struct sigv4_output {
  struct buf canonical_request;
  struct buf string_to_sign;
  char signature[65];
  /* Header signing: headers to add to the request, in this order (the one aws-c-auth and the
   * SigV4 suite use): X-Amz-Security-Token (when a token, signed or not), X-Amz-Date,
   * x-amz-content-sha256 (when sign_body), Authorization. Send them with these exact names.
   * name points to a static string, value is owned by the output. */
  struct http_header added[SIGV4_MAX_ADDED];
  size_t n_added;
  /* Query signing: the complete query string to send: the input query unchanged, then
   * X-Amz-Algorithm, -Credential, -Date, -SignedHeaders, -Expires (when > 0),
   * -Security-Token (when a token) and X-Amz-Signature last. */
  char *signed_query;
};

/* "20150830T123600Z" for t (UTC) into out. */
void sigv4_amz_date(time_t t, char out[17]);

/* Both initialise *out first (no need to clear it) and, on failure, leave it empty, so
 * sigv4_output_release is always safe afterwards. The request must carry a Host header and
 * none of X-Amz-Date, Authorization, x-amz-content-sha256, X-Amz-Security-Token (the signer
 * adds them; the token comes from creds). User-Agent, Connection, Upgrade, X-Amzn-Trace-Id
 * and Sec-WebSocket-* are left unsigned: proxies rewrite them. The query is percent-decoded
 * then re-encoded for the canonical form, so raw and pre-encoded parameters sign alike.
 * ERR_INVALID for a request that cannot be signed, ERR_CREDENTIALS for unusable creds. */
enum err_code sigv4_sign_headers(const struct sigv4_input *in, const struct sigv4_creds *creds,
                                 struct sigv4_output *out, struct err *e);
enum err_code sigv4_sign_query(const struct sigv4_input *in, const struct sigv4_creds *creds,
                               struct sigv4_output *out, struct err *e);
/* Wipes and frees everything in out. Accepts NULL and an already released output. */
void sigv4_output_release(struct sigv4_output *out);

/* kSigning = HMAC chain of "AWS4"+secret over date, region, service, "aws4_request".
 * date: "YYYYMMDD" (only the first 8 characters are read, so an amz_date works too).
 * Every intermediate key and the copy of the secret are wiped before returning; the caller
 * wipes out (crypto_wipe). ERR_INVALID on a missing argument or a bad date. */
enum err_code sigv4_signing_key(const char *secret_access_key, const char *date, const char *region,
                                const char *service, unsigned char out[32]);

#endif
