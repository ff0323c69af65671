/* Error codes and error detail shared by every module.
 * Fallible functions return an enum err_code and fill an optional caller-owned struct err.
 * Depends on nothing but libc. */
#ifndef ECRDIAG_ERR_H
#define ECRDIAG_ERR_H

#include <stddef.h>

/* One list, one sentence each: the source of err_code_name() and err_code_str(). */
#define ERR_CODES(X)                                             \
  X(ERR_OK, "success")                                           \
  X(ERR_NOMEM, "out of memory")                                  \
  X(ERR_INVALID, "invalid argument")                             \
  X(ERR_PARSE, "malformed input")                                \
  X(ERR_TOO_LARGE, "input exceeds its size limit")               \
  X(ERR_IO, "file or stream error")                              \
  X(ERR_NOT_FOUND, "not found")                                  \
  X(ERR_DNS, "host name could not be resolved")                  \
  X(ERR_CONNECT, "connection failed")                            \
  X(ERR_TIMEOUT, "timed out")                                    \
  X(ERR_TLS, "TLS handshake or certificate verification failed") \
  X(ERR_NETWORK, "network transfer failed")                      \
  X(ERR_HTTP, "unexpected HTTP answer")                          \
  X(ERR_AWS, "AWS answered with an error")                       \
  X(ERR_CREDENTIALS, "no usable credentials")                    \
  X(ERR_CRYPTO, "cryptographic operation failed")                \
  X(ERR_CANCELLED, "cancelled")

#define ERR_ENUM_ITEM(name, text) name,
enum err_code { ERR_CODES(ERR_ENUM_ITEM) ERR_CODE_COUNT };
#undef ERR_ENUM_ITEM

#define ERR_MSG_MAX 512

/* Detail for the caller: the code again and one lower-case sentence naming the subject. */
struct err {
  enum err_code code;
  char msg[ERR_MSG_MAX];
};

/* The sentence for a code ("timed out"). Never NULL. */
const char *err_code_str(enum err_code code);
/* The identifier of a code ("ERR_TIMEOUT"). Never NULL. */
const char *err_code_name(enum err_code code);

/* Fills e (when not NULL) with code and a printf-style message; returns code, so that
 * `return err_set(e, ERR_PARSE, "bad '%s'", x);` reads naturally. */
enum err_code err_set(struct err *e, enum err_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Clears e to ERR_OK with an empty message. Accepts NULL. */
void err_clear(struct err *e);

#endif
