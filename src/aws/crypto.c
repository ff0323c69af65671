/* SHA-256, HMAC-SHA-256, hex, base64 and wiping: the only place besides sigv4.c that calls
 * OpenSSL libcrypto, so swapping the library touches two files. Knows nothing of AWS or HTTP;
 * depends on core (err) only. */
#include "ecrdiag/crypto.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

void crypto_sha256(const void *data, size_t n, unsigned char out[32])
{
  /* SHA256() takes a non-NULL pointer even for zero bytes on some builds. */
  static const unsigned char empty = 0;
  SHA256(n ? data : &empty, n, out);
}

void crypto_sha256_hex(const void *data, size_t n, char out[65])
{
  unsigned char md[32];
  crypto_sha256(data, n, md);
  crypto_hex(md, sizeof md, out);
}

void crypto_hmac_sha256(const void *key, size_t key_len, const void *data, size_t n,
                        unsigned char out[32])
{
  static const unsigned char empty = 0;
  unsigned int out_len = 0;
  /* The one-shot HMAC() fails only when OpenSSL cannot allocate; an all-zero MAC then makes
   * the signature wrong (AWS answers 403) instead of leaving stack garbage in it. */
  if (key_len > INT_MAX ||
      !HMAC(EVP_sha256(), key_len ? key : &empty, (int)key_len, n ? data : &empty, n, out,
            &out_len) ||
      out_len != 32)
    memset(out, 0, 32);
}

void crypto_hex(const unsigned char *in, size_t n, char *out)
{
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 0x0f];
  }
  out[2 * n] = '\0';
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *crypto_base64_encode(const void *in, size_t n)
{
  const unsigned char *p = in;
  if (n > (SIZE_MAX - 1) / 4 * 3 - 3)
    return NULL;
  size_t out_len = (n + 2) / 3 * 4;
  char *out = malloc(out_len + 1);
  if (!out)
    return NULL;
  size_t o = 0;
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    out[o++] = b64_alphabet[v >> 18];
    out[o++] = b64_alphabet[(v >> 12) & 63];
    out[o++] = b64_alphabet[(v >> 6) & 63];
    out[o++] = b64_alphabet[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)p[i] << 16;
    out[o++] = b64_alphabet[v >> 18];
    out[o++] = b64_alphabet[(v >> 12) & 63];
    out[o++] = '=';
    out[o++] = '=';
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
    out[o++] = b64_alphabet[v >> 18];
    out[o++] = b64_alphabet[(v >> 12) & 63];
    out[o++] = b64_alphabet[(v >> 6) & 63];
    out[o++] = '=';
  }
  out[o] = '\0';
  return out;
}

static int b64_value(unsigned char c)
{
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

/* Strict standard alphabet; padding optional but, when present, exactly right. No whitespace:
 * the tokens this decodes come out of JSON strings, where a stray byte means corruption. */
enum err_code crypto_base64_decode(const char *in, size_t n, char **out, size_t *out_len)
{
  if (!out)
    return ERR_INVALID;
  *out = NULL;
  if (out_len)
    *out_len = 0;
  if (!in && n)
    return ERR_INVALID;

  size_t data_len = n;
  size_t pad = 0;
  while (data_len > 0 && in[data_len - 1] == '=' && pad < 3) {
    data_len--;
    pad++;
  }
  if (pad > 2)
    return ERR_PARSE;
  /* With padding the whole must be a multiple of 4; without, a remainder of 1 cannot occur. */
  if (pad && n % 4 != 0)
    return ERR_PARSE;
  if (data_len % 4 == 1)
    return ERR_PARSE;
  if (pad && (data_len + pad) % 4 != 0)
    return ERR_PARSE;

  size_t full = data_len / 4;
  size_t rest = data_len % 4;
  size_t len = full * 3 + (rest ? rest - 1 : 0);
  unsigned char *buf = malloc(len + 1);
  if (!buf)
    return ERR_NOMEM;

  size_t o = 0;
  size_t i = 0;
  for (; i + 4 <= data_len; i += 4) {
    int a = b64_value((unsigned char)in[i]);
    int b = b64_value((unsigned char)in[i + 1]);
    int c = b64_value((unsigned char)in[i + 2]);
    int d = b64_value((unsigned char)in[i + 3]);
    if (a < 0 || b < 0 || c < 0 || d < 0)
      goto bad;
    uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
    buf[o++] = (unsigned char)(v >> 16);
    buf[o++] = (unsigned char)(v >> 8);
    buf[o++] = (unsigned char)v;
  }
  if (rest) {
    int a = b64_value((unsigned char)in[i]);
    int b = b64_value((unsigned char)in[i + 1]);
    int c = rest == 3 ? b64_value((unsigned char)in[i + 2]) : 0;
    if (a < 0 || b < 0 || c < 0)
      goto bad;
    uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6;
    buf[o++] = (unsigned char)(v >> 16);
    if (rest == 3)
      buf[o++] = (unsigned char)(v >> 8);
  }
  buf[o] = '\0';
  *out = (char *)buf;
  if (out_len)
    *out_len = o;
  return ERR_OK;

bad:
  /* What was decoded so far may be part of a secret. */
  crypto_wipe(buf, len + 1);
  free(buf);
  return ERR_PARSE;
}

void crypto_wipe(void *p, size_t n)
{
  if (p && n)
    OPENSSL_cleanse(p, n);
}
