/* Hashes, HMAC, hex, base64 and wiping: the OpenSSL libcrypto boundary (with sigv4.c).
 * Depends on core only. */
#ifndef ECRDIAG_CRYPTO_H
#define ECRDIAG_CRYPTO_H

#include <stddef.h>

#include "ecrdiag/err.h"

/* SHA-256 of data as 64 lower-case hex characters plus NUL. data may be NULL when n is 0. */
void crypto_sha256_hex(const void *data, size_t n, char out[65]);
void crypto_sha256(const void *data, size_t n, unsigned char out[32]);
/* HMAC-SHA-256. Only an OpenSSL allocation failure can make it fail; out is then all zero,
 * which yields a signature AWS rejects rather than one built from stack garbage. */
void crypto_hmac_sha256(const void *key, size_t key_len, const void *data, size_t n,
                        unsigned char out[32]);
/* Lower-case hex of n bytes into out (2n + 1 bytes, NUL-terminated). */
void crypto_hex(const unsigned char *in, size_t n, char *out /* 2n+1 */);
/* Standard base64 decode into a malloc'd NUL-terminated buffer (*out_len excludes the NUL;
 * out_len may be NULL); the caller frees (with str_free_secret when the contents are secret).
 * Padding is optional, but when present must complete the last quantum. ERR_PARSE for a
 * character outside the standard alphabet (whitespace and the URL-safe '-' '_' included),
 * a misplaced or excess '=', or a length that cannot be base64; *out is then NULL and any
 * partial output wiped. ERR_INVALID for a NULL out, ERR_NOMEM when out of memory. */
enum err_code crypto_base64_decode(const char *in, size_t n, char **out, size_t *out_len);
/* Standard base64 encode, malloc'd, NUL-terminated; the caller frees. NULL when out of memory. */
char *crypto_base64_encode(const void *in, size_t n);
/* Overwrites n bytes at p with OPENSSL_cleanse (never optimised away). Accepts NULL. */
void crypto_wipe(void *p, size_t n);

#endif
