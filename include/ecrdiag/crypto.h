/* Hashes, HMAC, hex, base64 and wiping: the OpenSSL libcrypto boundary (with sigv4.c).
 * Depends on core only. */
#ifndef ECRDIAG_CRYPTO_H
#define ECRDIAG_CRYPTO_H

#include <stddef.h>

#include "ecrdiag/err.h"

/* SHA-256 of data as 64 lower-case hex characters plus NUL. */
void crypto_sha256_hex(const void *data, size_t n, char out[65]);
void crypto_sha256(const void *data, size_t n, unsigned char out[32]);
void crypto_hmac_sha256(const void *key, size_t key_len, const void *data, size_t n,
                        unsigned char out[32]);
void crypto_hex(const unsigned char *in, size_t n, char *out /* 2n+1 */);
/* Standard base64 decode into a malloc'd NUL-terminated buffer (*out_len excludes the NUL);
 * the caller frees (with str_free_secret when the contents are secret). */
enum err_code crypto_base64_decode(const char *in, size_t n, char **out, size_t *out_len);
/* Standard base64 encode, malloc'd, NUL-terminated; the caller frees. NULL when out of memory. */
char *crypto_base64_encode(const void *in, size_t n);
/* OPENSSL_cleanse. */
void crypto_wipe(void *p, size_t n);

#endif
