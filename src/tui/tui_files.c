/* The files the TUI keeps and writes: the image reference history in
 * $XDG_STATE_HOME/ecrdiag/history (default ~/.local/state), one reference a line, newest
 * last; and whole-file writes (a temporary name, then rename) for reports and fixes.
 * Depends on libc and core only; never on curses. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ecrdiag/buf.h"

#define TUI_INTERNAL
#include "tui.h"

#define HISTORY_PATH_MAX_BYTES 4096

/* Creates every missing directory of path (not its last component) with mode 0700. */
static enum err_code make_parents(const char *path, struct err *e)
{
  char *p = str_dup(path);
  if (!p)
    return err_set(e, ERR_NOMEM, "out of memory");
  for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
    *s = '\0';
    if (mkdir(p, 0700) != 0 && errno != EEXIST) {
      enum err_code rc = err_set(e, ERR_IO, "cannot create '%s': %s", p, strerror(errno));
      free(p);
      return rc;
    }
    *s = '/';
  }
  free(p);
  return ERR_OK;
}

static char *history_path(void)
{
  struct buf b;
  buf_init(&b, HISTORY_PATH_MAX_BYTES);
  const char *state = getenv("XDG_STATE_HOME");
  const char *home = getenv("HOME");
  enum err_code rc;
  /* The XDG spec: a relative XDG_STATE_HOME is invalid and must be ignored. */
  if (state && state[0] == '/')
    rc = buf_printf(&b, "%s/ecrdiag/history", state);
  else if (home && home[0] == '/')
    rc = buf_printf(&b, "%s/.local/state/ecrdiag/history", home);
  else
    rc = ERR_NOT_FOUND;
  if (rc) {
    buf_release(&b);
    return NULL;
  }
  return buf_detach(&b);
}

void tui_history_load(struct tui_history *h)
{
  memset(h, 0, sizeof *h);
  h->path = history_path();
  FILE *f = h->path ? fopen(h->path, "r") : NULL;
  if (!f)
    return;
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  while ((n = getline(&line, &cap, f)) >= 0) {
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
      line[--n] = '\0';
    if (n == 0 || n > TUI_LINE_MAX)
      continue;
    if (h->n == TUI_HISTORY_MAX) { /* keep the newest */
      free(h->items[0]);
      memmove(h->items, h->items + 1, (TUI_HISTORY_MAX - 1) * sizeof h->items[0]);
      h->n--;
    }
    h->items[h->n] = str_dup(line);
    if (h->items[h->n])
      h->n++;
  }
  free(line);
  fclose(f);
}

enum err_code tui_history_add(struct tui_history *h, const char *ref, struct err *e)
{
  if (!ref || !*ref || strchr(ref, '\n'))
    return ERR_OK;
  char *copy = str_dup(ref);
  if (!copy)
    return err_set(e, ERR_NOMEM, "out of memory");
  for (size_t i = 0; i < h->n; i++) {
    if (strcmp(h->items[i], ref) == 0) {
      free(h->items[i]);
      memmove(h->items + i, h->items + i + 1, (h->n - i - 1) * sizeof h->items[0]);
      h->n--;
      break;
    }
  }
  if (h->n == TUI_HISTORY_MAX) {
    free(h->items[0]);
    memmove(h->items, h->items + 1, (TUI_HISTORY_MAX - 1) * sizeof h->items[0]);
    h->n--;
  }
  h->items[h->n++] = copy;
  if (!h->path)
    return err_set(e, ERR_NOT_FOUND, "no history file: neither XDG_STATE_HOME nor HOME is set");
  enum err_code rc = make_parents(h->path, e);
  if (rc)
    return rc;
  struct buf text;
  buf_init(&text, (size_t)TUI_HISTORY_MAX * (TUI_LINE_MAX + 1) + 1);
  for (size_t i = 0; i < h->n && !rc; i++)
    rc = buf_printf(&text, "%s\n", h->items[i]);
  if (!rc)
    rc = tui_file_write(h->path, buf_str(&text), e);
  buf_release(&text);
  return rc;
}

void tui_history_release(struct tui_history *h)
{
  if (!h)
    return;
  for (size_t i = 0; i < h->n; i++)
    free(h->items[i]);
  free(h->path);
  memset(h, 0, sizeof *h);
}

bool tui_file_exists(const char *path)
{
  struct stat st;
  return path && stat(path, &st) == 0;
}

enum err_code tui_file_write(const char *path, const char *text, struct err *e)
{
  if (!path || !*path)
    return err_set(e, ERR_INVALID, "no file name given");
  struct buf tmp;
  buf_init(&tmp, HISTORY_PATH_MAX_BYTES);
  if (buf_printf(&tmp, "%s.tmp%ld", path, (long)getpid())) {
    buf_release(&tmp);
    return err_set(e, ERR_TOO_LARGE, "the file name is too long");
  }
  enum err_code rc = ERR_OK;
  FILE *f = fopen(buf_str(&tmp), "w");
  if (!f) {
    rc = err_set(e, ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    goto out;
  }
  size_t n = strlen(text);
  bool ok = fwrite(text, 1, n, f) == n;
  ok = fclose(f) == 0 && ok;
  if (!ok || rename(buf_str(&tmp), path) != 0) {
    rc = err_set(e, ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    remove(buf_str(&tmp));
  }
out:
  buf_release(&tmp);
  return rc;
}
