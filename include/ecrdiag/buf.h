/* Bounded growable byte buffers (always NUL-terminated) and non-owning string views.
 * Every buffer has a ceiling named by its user, so no input can grow it without bound.
 * Depends on nothing but libc. */
#ifndef ECRDIAG_BUF_H
#define ECRDIAG_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "ecrdiag/err.h"

struct buf {
  char *p;          /* NUL-terminated contents, or NULL before the first append */
  size_t len;       /* bytes used, not counting the NUL */
  size_t cap;       /* bytes allocated */
  size_t max_bytes; /* ceiling on len; appends past it fail with ERR_TOO_LARGE */
  bool secret;      /* wipe on growth and release: old copies never linger in the heap */
};

/* A non-owning view into someone else's bytes. */
struct sv {
  const char *p;
  size_t n;
};

void buf_init(struct buf *b, size_t max_bytes);
/* Like buf_init, for contents that are secrets: every copy is wiped before it is freed. */
void buf_init_secret(struct buf *b, size_t max_bytes);
/* Frees the contents (wiping them for a secret buffer); b can be reused after buf_init. */
void buf_release(struct buf *b);
/* Empties b, keeping its allocation (wiped when secret). */
void buf_reset(struct buf *b);

enum err_code buf_append(struct buf *b, const void *data, size_t n);
enum err_code buf_puts(struct buf *b, const char *s);
enum err_code buf_putc(struct buf *b, char c);
enum err_code buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
enum err_code buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* The contents, never NULL ("" when empty). Borrowed. */
const char *buf_str(const struct buf *b);
/* Hands the contents to the caller, who frees them; b is left empty. Never NULL on success. */
char *buf_detach(struct buf *b);

/* Overwrites n bytes at p so the compiler cannot elide it. */
void mem_wipe(void *p, size_t n);
/* Wipes and frees a NUL-terminated secret string. Accepts NULL. */
void str_free_secret(char *s);

struct sv sv_from(const char *s);
bool sv_eq(struct sv a, const char *s);
bool sv_starts_with(struct sv a, const char *prefix);
/* A malloc'd NUL-terminated copy, or NULL when out of memory. */
char *sv_dup(struct sv a);
/* strdup that accepts NULL (returns NULL). */
char *str_dup(const char *s);

#endif
