/* Drawing primitives for the views: clipped and sanitised text in a theme role, fills, the
 * line editor, wrapped prose. Text from AWS or a registry never reaches the terminal raw:
 * control characters become spaces and, outside UTF-8 locales, non-ASCII becomes '?'.
 * Depends on curses and the theme; the views call curses only through these functions. */
#include <curses.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define TUI_INTERNAL
#include "tui.h"

#define PUT_MAX_COLS 1024

/* The length of the valid UTF-8 sequence at s (at most n bytes), 0 when it is not one or
 * when it encodes a C1 control character. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
  size_t len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
  if (len == 0 || s[0] > 0xf4 || len > n)
    return 0;
  for (size_t i = 1; i < len; i++)
    if ((s[i] & 0xc0) != 0x80)
      return 0;
  if (len == 2 && s[0] == 0xc2 && s[1] < 0xa0)
    return 0; /* U+0080..U+009F */
  return len;
}

int tui_putn(const struct tui *t, int y, int x, int maxw, enum tui_role role, const char *s,
             size_t n, unsigned flags)
{
  if (!s || y < 0 || y >= LINES || x < 0 || x >= COLS || maxw <= 0)
    return 0;
  if (maxw > COLS - x)
    maxw = COLS - x;
  if (maxw > PUT_MAX_COLS)
    maxw = PUT_MAX_COLS;
  char out[PUT_MAX_COLS * 4 + 8];
  size_t o = 0, ends[PUT_MAX_COLS + 1]; /* ends[k]: bytes of the first k columns */
  int cols = 0;
  bool cut = false;
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  ends[0] = 0;
  while (i < n && p[i]) {
    if (cols == maxw) {
      cut = true;
      break;
    }
    if (p[i] < 0x80) {
      out[o++] = p[i] < 0x20 || p[i] == 0x7f ? ' ' : (char)p[i];
      i++;
    } else {
      size_t len = utf8_seq(p + i, n - i);
      if (t->utf8 && len) {
        memcpy(out + o, p + i, len);
        o += len;
        i += len;
      } else {
        out[o++] = '?';
        i += len ? len : 1;
      }
    }
    ends[++cols] = o;
  }
  if (cut && (flags & TUI_PUT_ELLIPSIS) && cols > 0) {
    const char *e = t->g->ellipsis;
    o = ends[cols - 1];
    memcpy(out + o, e, strlen(e));
    o += strlen(e);
  }
  out[o] = '\0';
  attr_t a = (attr_t)tui_theme_attr(t->color, role);
  attron(a);
  mvaddnstr(y, x, out, (int)o);
  attroff(a);
  return cols;
}

int tui_put(const struct tui *t, int y, int x, int maxw, enum tui_role role, const char *s,
            unsigned flags)
{
  return tui_putn(t, y, x, maxw, role, s, s ? strlen(s) : 0, flags);
}

int tui_putf(const struct tui *t, int y, int x, int maxw, enum tui_role role, const char *fmt, ...)
{
  char line[PUT_MAX_COLS * 4];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  return tui_put(t, y, x, maxw, role, line, TUI_PUT_ELLIPSIS);
}

void tui_fill(const struct tui *t, int y, int x, int w, enum tui_role role, const char *g)
{
  if (y < 0 || y >= LINES || x < 0 || x >= COLS)
    return;
  if (w > COLS - x)
    w = COLS - x;
  attr_t a = (attr_t)tui_theme_attr(t->color, role);
  attron(a);
  move(y, x);
  for (int i = 0; i < w; i++)
    addstr(g ? g : " ");
  attroff(a);
}

void tui_draw_line(const struct tui *t, const struct tui_line *l, int y, int x, int w,
                   enum tui_role role, struct tui_frame *f)
{
  if (w < 2)
    return;
  size_t off = l->cur >= (size_t)w ? l->cur - (size_t)w + 1 : 0;
  tui_fill(t, y, x, w, role, NULL);
  tui_putn(t, y, x, w, role, l->s + off, l->len - off, 0);
  if (off > 0)
    tui_put(t, y, x, 1, TUI_ROLE_DIM, t->g->ellipsis, 0);
  f->cursor_y = y;
  f->cursor_x = x + (int)(l->cur - off);
}

int tui_put_wrapped(const struct tui *t, int y, int x, int w, int max_rows, enum tui_role role,
                    const char *text)
{
  const char *p = text ? text : "";
  int rows = 0;
  while (*p && rows < max_rows) {
    const char *next;
    size_t n = tui_wrap_next(p, w, &next);
    if (rows == max_rows - 1 && *next) {
      tui_put(t, y + rows, x, w, role, p, TUI_PUT_ELLIPSIS);
      if (tui_text_width(p) <= w) /* it fit only because the rest is on later lines */
        tui_put(t, y + rows, x + w - 1, 1, role, t->g->ellipsis, 0);
    } else {
      tui_putn(t, y + rows, x, w, role, p, n, 0);
    }
    rows++;
    if (next == p)
      break;
    p = next;
  }
  return rows;
}

const char *tui_status_word(enum check_status s, bool needed)
{
  if (!needed && s != CHECK_PASS)
    return "n/a";
  switch (s) {
  case CHECK_PASS: return "pass";
  case CHECK_FAIL: return "FAIL";
  case CHECK_ERROR: return "error";
  case CHECK_SKIPPED: return "skipped";
  }
  return "?";
}

enum tui_role tui_status_role(enum check_status s, bool needed)
{
  if (!needed && s != CHECK_PASS)
    return TUI_ROLE_DIM;
  switch (s) {
  case CHECK_PASS: return TUI_ROLE_PASS;
  case CHECK_FAIL: return TUI_ROLE_FAIL;
  case CHECK_ERROR: return TUI_ROLE_ERROR;
  case CHECK_SKIPPED: return TUI_ROLE_DIM;
  }
  return TUI_ROLE_NORMAL;
}

const char *tui_status_glyph(const struct tui *t, enum check_status s, bool needed)
{
  if (!needed && s != CHECK_PASS)
    return t->g->skipped;
  switch (s) {
  case CHECK_PASS: return t->g->pass;
  case CHECK_FAIL: return t->g->fail;
  case CHECK_ERROR: return t->g->error;
  case CHECK_SKIPPED: return t->g->skipped;
  }
  return "?";
}

void tui_format_ms(long ms, char *out, size_t n)
{
  if (ms < 1000)
    snprintf(out, n, "%ld ms", ms < 0 ? 0 : ms);
  else
    snprintf(out, n, "%ld.%ld s", ms / 1000, (ms % 1000) / 100);
}
