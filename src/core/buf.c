/* Bounded growable buffers and string views. A secret buffer never realloc()s: it copies,
 * then wipes the old block, so no stale copy of a key stays in freed memory.
 * Depends on nothing but libc. */
#include "ecrdiag/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mem_wipe(void *p, size_t n)
{
  volatile unsigned char *v = p;
  while (n--)
    *v++ = 0;
}

void str_free_secret(char *s)
{
  if (!s)
    return;
  mem_wipe(s, strlen(s));
  free(s);
}

void buf_init(struct buf *b, size_t max_bytes)
{
  b->p = NULL;
  b->len = 0;
  b->cap = 0;
  b->max_bytes = max_bytes;
  b->secret = false;
}

void buf_init_secret(struct buf *b, size_t max_bytes)
{
  buf_init(b, max_bytes);
  b->secret = true;
}

void buf_release(struct buf *b)
{
  if (!b)
    return;
  if (b->p && b->secret)
    mem_wipe(b->p, b->cap);
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

void buf_reset(struct buf *b)
{
  if (b->p) {
    if (b->secret)
      mem_wipe(b->p, b->cap);
    b->p[0] = '\0';
  }
  b->len = 0;
}

static enum err_code buf_grow(struct buf *b, size_t need)
{
  if (need > b->max_bytes)
    return ERR_TOO_LARGE;
  if (need + 1 <= b->cap)
    return ERR_OK;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < need + 1)
    cap *= 2;
  if (cap > b->max_bytes + 1)
    cap = b->max_bytes + 1;
  char *p = malloc(cap);
  if (!p)
    return ERR_NOMEM;
  if (b->p) {
    memcpy(p, b->p, b->len + 1);
    if (b->secret)
      mem_wipe(b->p, b->cap);
    free(b->p);
  }
  b->p = p;
  b->cap = cap;
  return ERR_OK;
}

enum err_code buf_append(struct buf *b, const void *data, size_t n)
{
  if (n > b->max_bytes || b->len > b->max_bytes - n)
    return ERR_TOO_LARGE;
  enum err_code rc = buf_grow(b, b->len + n);
  if (rc)
    return rc;
  if (n)
    memcpy(b->p + b->len, data, n);
  b->len += n;
  b->p[b->len] = '\0';
  return ERR_OK;
}

enum err_code buf_puts(struct buf *b, const char *s)
{
  return buf_append(b, s, strlen(s));
}

enum err_code buf_putc(struct buf *b, char c)
{
  return buf_append(b, &c, 1);
}

enum err_code buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0)
    return ERR_INVALID;
  if ((size_t)n > b->max_bytes || b->len > b->max_bytes - (size_t)n)
    return ERR_TOO_LARGE;
  enum err_code rc = buf_grow(b, b->len + (size_t)n);
  if (rc)
    return rc;
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  b->len += (size_t)n;
  return ERR_OK;
}

enum err_code buf_printf(struct buf *b, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  enum err_code rc = buf_vprintf(b, fmt, ap);
  va_end(ap);
  return rc;
}

const char *buf_str(const struct buf *b)
{
  return b->p ? b->p : "";
}

char *buf_detach(struct buf *b)
{
  char *p = b->p;
  if (!p)
    p = calloc(1, 1);
  b->p = NULL;
  b->len = b->cap = 0;
  return p;
}

struct sv sv_from(const char *s)
{
  struct sv v = {s, s ? strlen(s) : 0};
  return v;
}

bool sv_eq(struct sv a, const char *s)
{
  size_t n = strlen(s);
  return a.n == n && memcmp(a.p, s, n) == 0;
}

bool sv_starts_with(struct sv a, const char *prefix)
{
  size_t n = strlen(prefix);
  return a.n >= n && memcmp(a.p, prefix, n) == 0;
}

char *sv_dup(struct sv a)
{
  char *p = malloc(a.n + 1);
  if (!p)
    return NULL;
  memcpy(p, a.p, a.n);
  p[a.n] = '\0';
  return p;
}

char *str_dup(const char *s)
{
  return s ? sv_dup(sv_from(s)) : NULL;
}
