/* Unit tests for src/aws/crypto.c: SHA-256 (FIPS 180-2 examples), HMAC-SHA-256 (RFC 4231),
 * hex, base64 (RFC 4648 section 10 vectors, padded and unpadded, binary round trip) and the
 * refusals of malformed base64; then wiping. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "ecrdiag/crypto.h"

static void test_sha256(void **state)
{
  (void)state;
  char hex[65];
  crypto_sha256_hex("", 0, hex);
  assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  crypto_sha256_hex(NULL, 0, hex);
  assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  crypto_sha256_hex("abc", 3, hex);
  assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const char *two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  crypto_sha256_hex(two_blocks, strlen(two_blocks), hex);
  assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_hmac_sha256(void **state)
{
  (void)state;
  unsigned char mac[32];
  char hex[65];
  unsigned char key1[20];
  memset(key1, 0x0b, sizeof key1);
  crypto_hmac_sha256(key1, sizeof key1, "Hi There", 8, mac);
  crypto_hex(mac, sizeof mac, hex);
  assert_string_equal(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");

  const char *data2 = "what do ya want for nothing?";
  crypto_hmac_sha256("Jefe", 4, data2, strlen(data2), mac);
  crypto_hex(mac, sizeof mac, hex);
  assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

  /* A key longer than the block is hashed first (RFC 4231 test case 6). */
  unsigned char key6[131];
  memset(key6, 0xaa, sizeof key6);
  const char *data6 = "Test Using Larger Than Block-Size Key - Hash Key First";
  crypto_hmac_sha256(key6, sizeof key6, data6, strlen(data6), mac);
  crypto_hex(mac, sizeof mac, hex);
  assert_string_equal(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

static void test_hex(void **state)
{
  (void)state;
  const unsigned char in[] = {0x00, 0xff, 0x10, 0xab};
  char out[9];
  crypto_hex(in, sizeof in, out);
  assert_string_equal(out, "00ff10ab");
  crypto_hex(in, 0, out);
  assert_string_equal(out, "");
}

static const struct {
  const char *plain;
  const char *encoded;
} rfc4648[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

static void test_base64_vectors(void **state)
{
  (void)state;
  for (size_t i = 0; i < sizeof rfc4648 / sizeof rfc4648[0]; i++) {
    size_t n = strlen(rfc4648[i].plain);
    char *enc = crypto_base64_encode(rfc4648[i].plain, n);
    assert_non_null(enc);
    assert_string_equal(enc, rfc4648[i].encoded);
    free(enc);

    char *dec = NULL;
    size_t len = 99;
    assert_int_equal(
        crypto_base64_decode(rfc4648[i].encoded, strlen(rfc4648[i].encoded), &dec, &len), ERR_OK);
    assert_non_null(dec);
    assert_int_equal(len, n);
    assert_string_equal(dec, rfc4648[i].plain);
    free(dec);

    /* The same without its padding decodes alike. */
    size_t m = strlen(rfc4648[i].encoded);
    while (m > 0 && rfc4648[i].encoded[m - 1] == '=')
      m--;
    assert_int_equal(crypto_base64_decode(rfc4648[i].encoded, m, &dec, &len), ERR_OK);
    assert_int_equal(len, n);
    assert_memory_equal(dec, rfc4648[i].plain, n);
    free(dec);
  }
}

static void test_base64_binary_round_trip(void **state)
{
  (void)state;
  unsigned char all[256];
  for (size_t i = 0; i < sizeof all; i++)
    all[i] = (unsigned char)i;
  for (size_t n = 0; n <= sizeof all; n += 37) {
    char *enc = crypto_base64_encode(all, n);
    assert_non_null(enc);
    char *dec = NULL;
    size_t len = 0;
    assert_int_equal(crypto_base64_decode(enc, strlen(enc), &dec, &len), ERR_OK);
    assert_int_equal(len, n);
    assert_memory_equal(dec, all, n);
    assert_int_equal(dec[len], '\0');
    free(enc);
    free(dec);
  }
  /* The ECR token shape: base64("AWS:" + password). */
  char *dec = NULL;
  size_t len = 0;
  assert_int_equal(crypto_base64_decode("QVdTOnBhc3N3b3Jk", 16, &dec, &len), ERR_OK);
  assert_string_equal(dec, "AWS:password");
  crypto_wipe(dec, len);
  free(dec);
}

static void test_base64_rejects(void **state)
{
  (void)state;
  static const char *const bad[] = {
      "Z",        /* one character cannot be a byte */
      "Zg=",      /* padding that does not complete a quantum */
      "Zg===",    /* too much padding */
      "====",     /* nothing but padding */
      "Zm=9",     /* padding in the middle */
      "Zm9v!",    /* not in the alphabet */
      "Zm9v\n",   /* whitespace is not skipped */
      "Zm 9v",    /* nor inside */
      "-_-_",     /* the URL-safe alphabet is a different encoding */
      "Zm9vYg=",  /* short padding after a full quantum */
      "Zm9vY===", /* three '=' */
      "Zm9vYmFy=",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char *dec = (char *)"untouched";
    size_t len = 42;
    enum err_code rc = crypto_base64_decode(bad[i], strlen(bad[i]), &dec, &len);
    if (rc != ERR_PARSE)
      fail_msg("'%s' decoded (%d)", bad[i], rc);
    assert_null(dec);
    assert_int_equal(len, 0);
  }
  char *dec = NULL;
  assert_int_equal(crypto_base64_decode("Zg==", 4, NULL, NULL), ERR_INVALID);
  assert_int_equal(crypto_base64_decode(NULL, 4, &dec, NULL), ERR_INVALID);
  assert_int_equal(crypto_base64_decode(NULL, 0, &dec, NULL), ERR_OK);
  assert_string_equal(dec, "");
  free(dec);
}

static void test_wipe(void **state)
{
  (void)state;
  unsigned char secret[16];
  memset(secret, 0x5a, sizeof secret);
  crypto_wipe(secret, sizeof secret);
  for (size_t i = 0; i < sizeof secret; i++)
    assert_int_equal(secret[i], 0);
  crypto_wipe(NULL, 8);
  crypto_wipe(secret, 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sha256),
      cmocka_unit_test(test_hmac_sha256),
      cmocka_unit_test(test_hex),
      cmocka_unit_test(test_base64_vectors),
      cmocka_unit_test(test_base64_binary_round_trip),
      cmocka_unit_test(test_base64_rejects),
      cmocka_unit_test(test_wipe),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
