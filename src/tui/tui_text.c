/* Text for the TUI without drawing it: the line editor behind the image input and the file
 * name prompt, word wrapping, and documents (lists of lines with "the fix adds this" marks)
 * that the fix tabs and the pager scroll through. Depends on libc and curses' key codes. */
#include <curses.h>
#include <stdlib.h>
#include <string.h>

#define TUI_INTERNAL
#include "tui.h"

#define CTRL(c) ((c)&0x1f)

/* ---- the line editor ------------------------------------------------------------------ */

void tui_line_set(struct tui_line *l, const char *s)
{
  size_t n = s ? strlen(s) : 0;
  if (n > TUI_LINE_MAX)
    n = TUI_LINE_MAX;
  memcpy(l->s, s ? s : "", n);
  l->s[n] = '\0';
  l->len = l->cur = n;
}

bool tui_line_insert(struct tui_line *l, int ch)
{
  if (ch < 0x20 || ch > 0x7e || l->len == TUI_LINE_MAX)
    return false;
  memmove(l->s + l->cur + 1, l->s + l->cur, l->len - l->cur + 1);
  l->s[l->cur++] = (char)ch;
  l->len++;
  return true;
}

static void delete_range(struct tui_line *l, size_t from, size_t to)
{
  memmove(l->s + from, l->s + to, l->len - to + 1);
  l->len -= to - from;
  l->cur = from;
}

bool tui_line_edit(struct tui_line *l, int key, bool *changed)
{
  size_t old_cur = l->cur, old_len = l->len;
  switch (key) {
  case KEY_LEFT:
    if (l->cur > 0)
      l->cur--;
    break;
  case KEY_RIGHT:
    if (l->cur < l->len)
      l->cur++;
    break;
  case KEY_HOME:
  case CTRL('A'): l->cur = 0; break;
  case KEY_END:
  case CTRL('E'): l->cur = l->len; break;
  case KEY_BACKSPACE:
  case 127:
  case CTRL('H'):
    if (l->cur > 0)
      delete_range(l, l->cur - 1, l->cur);
    break;
  case KEY_DC:
    if (l->cur < l->len)
      delete_range(l, l->cur, l->cur + 1);
    break;
  case CTRL('K'):
    l->s[l->cur] = '\0';
    l->len = l->cur;
    break;
  case CTRL('U'): delete_range(l, 0, l->len); break;
  case CTRL('W'): {
    size_t i = l->cur;
    while (i > 0 && l->s[i - 1] == ' ')
      i--;
    while (i > 0 && l->s[i - 1] != ' ' && l->s[i - 1] != '/')
      i--;
    if (i == l->cur && i > 0)
      i--; /* a lone separator */
    delete_range(l, i, l->cur);
    break;
  }
  default: break;
  }
  if (changed)
    *changed = l->len != old_len;
  return l->len != old_len || l->cur != old_cur;
}

/* ---- wrapping --------------------------------------------------------------------------- */

static bool is_cont(unsigned char c)
{
  return (c & 0xc0) == 0x80;
}

int tui_text_width(const char *s)
{
  int w = 0;
  for (; s && *s; s++)
    w += !is_cont((unsigned char)*s);
  return w;
}

size_t tui_wrap_next(const char *text, int width, const char **next)
{
  if (!text || !*text) {
    *next = text;
    return 0;
  }
  if (width < 1)
    width = 1;
  const char *p = text, *last_space = NULL;
  int cols = 0;
  while (*p && *p != '\n') {
    if (!is_cont((unsigned char)*p)) {
      if (cols == width)
        break;
      cols++;
      if (*p == ' ')
        last_space = p;
    }
    p++;
  }
  if (!*p || *p == '\n') {
    *next = *p ? p + 1 : p;
    return (size_t)(p - text);
  }
  /* Over the width: break after the last space, else in the middle of the word. */
  const char *end = last_space && last_space > text ? last_space : p;
  if (end != p && (end - text) * 2 < width) {
    const char *w = end;
    while (*w == ' ')
      w++;
    int word = 0;
    while (w[0] && w[0] != ' ' && w[0] != '\n' && word <= width)
      word += !is_cont((unsigned char)*w++);
    if (word > width) /* the next word needs a row of its own anyway: fill this one */
      end = p;
  }
  const char *resume = end;
  while (*resume == ' ')
    resume++;
  while (end > text && end[-1] == ' ')
    end--;
  *next = resume;
  return (size_t)(end - text);
}

/* ---- documents -------------------------------------------------------------------------- */

void tui_doc_release(struct tui_doc *doc)
{
  if (!doc)
    return;
  for (size_t i = 0; i < doc->n; i++)
    free(doc->lines[i]);
  free(doc->lines);
  free(doc->marks);
  free(doc->raw);
  memset(doc, 0, sizeof *doc);
}

bool tui_doc_add(struct tui_doc *doc, const char *s, size_t n, bool mark)
{
  if (doc->n == doc->cap) {
    size_t cap = doc->cap ? doc->cap * 2 : 32;
    char **lines = realloc(doc->lines, cap * sizeof *lines);
    if (!lines)
      return false;
    doc->lines = lines;
    unsigned char *marks = realloc(doc->marks, cap);
    if (!marks)
      return false;
    doc->marks = marks;
    doc->cap = cap;
  }
  char *line = malloc(n + 1);
  if (!line)
    return false;
  memcpy(line, s, n);
  line[n] = '\0';
  doc->lines[doc->n] = line;
  doc->marks[doc->n] = mark;
  doc->n++;
  return true;
}

bool tui_doc_add_text(struct tui_doc *doc, const char *text, bool mark)
{
  const char *p = text ? text : "";
  for (;;) {
    const char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p) : strlen(p);
    if (!nl && n == 0 && p != text)
      return true; /* the text ended with a newline */
    if (!tui_doc_add(doc, p, n, mark))
      return false;
    if (!nl)
      return true;
    p = nl + 1;
  }
}

bool tui_doc_add_wrapped(struct tui_doc *doc, const char *text, int width, int indent)
{
  const char *p = text ? text : "";
  bool first = true;
  if (!*p)
    return tui_doc_add(doc, "", 0, false);
  while (*p) {
    int pad = first ? 0 : indent;
    const char *next;
    size_t n = tui_wrap_next(p, width - pad, &next);
    char line[TUI_LINE_MAX + 64];
    if (n + (size_t)pad >= sizeof line)
      n = sizeof line - (size_t)pad - 1;
    memset(line, ' ', (size_t)pad);
    memcpy(line + pad, p, n);
    if (!tui_doc_add(doc, line, n + (size_t)pad, false))
      return false;
    first = false;
    if (next == p)
      break;
    p = next;
  }
  return true;
}

bool tui_doc_add_code(struct tui_doc *doc, const char *text, int width)
{
  struct tui_doc lines = {0};
  bool ok = tui_doc_add_text(&lines, text, false);
  for (size_t i = 0; ok && i < lines.n; i++) {
    int indent = (int)strspn(lines.lines[i], " ") + 2;
    ok = tui_doc_add_wrapped(doc, lines.lines[i], width, indent < width / 2 ? indent : 2);
  }
  tui_doc_release(&lines);
  return ok;
}
