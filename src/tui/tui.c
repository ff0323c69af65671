/* The TUI's main loop: sets up and always restores the terminal, turns keys into actions
 * through the binding table, lets the current view change the state, and is the only code
 * that paints the screen (views draw when it asks) or writes to the terminal (OSC 52).
 * Runs the diagnosis on a worker thread (tui_run.c); holds no AWS or policy logic. */
#include <curses.h>
#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ecrdiag/buf.h"
#include "ecrdiag/crypto.h"
#include "ecrdiag/imageref.h"
#include "ecrdiag/report.h"

#define TUI_INTERNAL
#include "tui.h"

#define EXIT_USAGE 2
#define EXIT_UNDECIDED 3
#define TICK_RUNNING_MS 100
#define TICK_IDLE_MS 250
#define ESC_DELAY_MS 25
#define MIN_COLS 60
#define MIN_ROWS 16
#define OSC52_MAX_BYTES 100000 /* what terminals accept in one sequence, with room */
#define REPORT_MAX_BYTES (4u << 20)
#define DEFAULT_REPORT_PATH "./ecrdiag-report.json"

/* The one mutable global: the signal handler can only set a flag, which the loop reads. */
static volatile sig_atomic_t pending_signal;

static void on_signal(int sig)
{
  pending_signal = sig;
}

/* The last resort if something below calls exit() after all: never leave the terminal raw. */
static void restore_terminal_at_exit(void)
{
  if (!isendwin())
    endwin();
}

static const struct tui_view_ops *const views[TUI_VIEW_COUNT] = {
    [TUI_VIEW_START] = &tui_view_start,
    [TUI_VIEW_PROBE] = &tui_view_probe,
    [TUI_VIEW_DIAG] = &tui_view_diag,
    [TUI_VIEW_FIX] = &tui_view_fix,
};

/* ---- helpers the views share ------------------------------------------------------------ */

void tui_message(struct tui *t, enum tui_role role, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t->msg, sizeof t->msg, fmt, ap);
  va_end(ap);
  t->msg_role = role;
}

void tui_body_frame(const struct tui *t, struct tui_frame *f)
{
  f->top = 1;
  f->bottom = t->rows - 2;
  f->cols = t->cols;
  f->cursor_y = f->cursor_x = -1;
}

void tui_input_changed(struct tui *t)
{
  struct image_ref r;
  memset(&r, 0, sizeof r);
  struct err e = {0};
  t->input_ok = false;
  t->input_region[0] = '\0';
  if (t->input.len == 0) {
    t->input_msg[0] = '\0';
    return;
  }
  enum err_code rc = imageref_parse(t->input.s, &r, &e);
  if (rc == ERR_OK) {
    t->input_ok = true;
    snprintf(t->input_region, sizeof t->input_region, "%s", r.region);
    snprintf(t->input_msg, sizeof t->input_msg,
             "private ECR: account %s, region %s, repository %s, %s %s", r.registry_id, r.region,
             r.repository ? r.repository : "?", r.digest ? "digest" : "tag",
             r.digest ? r.digest : (r.tag ? r.tag : "latest"));
  } else {
    snprintf(t->input_msg, sizeof t->input_msg, "%s", e.msg[0] ? e.msg : err_code_str(rc));
  }
  imageref_release(&r);
}

void tui_pager_open(struct tui *t, const char *title, struct tui_doc *doc)
{
  tui_doc_release(&t->pager);
  t->pager = *doc;
  memset(doc, 0, sizeof *doc);
  snprintf(t->pager_title, sizeof t->pager_title, "%s", title);
  t->pager_scroll = 0;
  t->pager_open = true;
}

void tui_prompt_open(struct tui *t, enum tui_prompt_kind kind, const char *label, const char *def)
{
  t->prompt = kind;
  t->prompt_confirm = false;
  snprintf(t->prompt_label, sizeof t->prompt_label, "%s", label);
  tui_line_set(&t->prompt_line, def);
  tui_message(t, TUI_ROLE_NORMAL, "%s", "");
}

/* ---- the help screen, generated from the binding table ---------------------------------- */

static unsigned current_scope(const struct tui *t)
{
  if (t->prompt != TUI_PROMPT_NONE)
    return TUI_IN_PROMPT;
  if (t->pager_open)
    return TUI_IN_PAGER;
  return TUI_IN(t->view);
}

static void open_help(struct tui *t)
{
  struct tui_doc doc = {0};
  unsigned scope = TUI_IN(t->view);
  char line[512];
  int lw = 0;
  for (size_t i = 0; i < tui_bindings_len; i++)
    if ((tui_bindings[i].scope & scope) && tui_bindings[i].help) {
      int n = (int)strlen(tui_bindings[i].label);
      lw = n > lw ? n : lw;
    }
  snprintf(line, sizeof line, "Keys on the %s screen", views[t->view]->title);
  tui_doc_add_text(&doc, line, false);
  tui_doc_add_text(&doc, "", false);
  for (size_t i = 0; i < tui_bindings_len; i++) {
    const struct tui_binding *b = &tui_bindings[i];
    if (!(b->scope & scope) || !b->help)
      continue;
    snprintf(line, sizeof line, "  %-*s  %s", lw, b->label, b->help);
    tui_doc_add_wrapped(&doc, line, t->cols - 6, lw + 4);
  }
  tui_doc_add_text(&doc, "", false);
  tui_doc_add_text(&doc, "Everywhere", false);
  snprintf(line, sizeof line, "  %-*s  %s", lw, "Ctrl-C",
           "quit (a probe in flight is cancelled first)");
  tui_doc_add_text(&doc, line, false);
  tui_doc_add_text(&doc, "", false);
  snprintf(line, sizeof line, "History of image references: %s",
           t->history.path ? t->history.path : "(none: HOME is not set)");
  tui_doc_add_wrapped(&doc, line, t->cols - 6, 2);
  tui_pager_open(t, "Help", &doc);
}

/* ---- painting: the only place that draws ------------------------------------------------ */

static void draw_title(const struct tui *t)
{
  tui_fill(t, 0, 0, t->cols, TUI_ROLE_TITLE, NULL);
  int x = tui_put(t, 0, 0, t->cols, TUI_ROLE_TITLE, " ecrdiag ", 0) + 1;
  for (int v = 0; v < TUI_VIEW_COUNT; v++) {
    enum tui_role role = v == (int)t->view ? TUI_ROLE_TAB_ACTIVE : TUI_ROLE_TAB;
    bool on = v == (int)t->view;
    x += tui_putf(t, 0, x, t->cols - x, role, "%s%s%s", on ? "[" : " ", views[v]->title,
                  on ? "]" : " ");
    if (v + 1 < TUI_VIEW_COUNT)
      x += tui_putf(t, 0, x, t->cols - x, TUI_ROLE_TAB, " %s ", t->g->arrow);
  }
  char ver[32];
  snprintf(ver, sizeof ver, "v%s ", ECRDIAG_VERSION);
  int vw = (int)strlen(ver);
  if (t->cols - vw > x + 1)
    tui_put(t, 0, t->cols - vw, vw, TUI_ROLE_TITLE, ver, 0);
}

static void draw_key_bar(const struct tui *t)
{
  int y = t->rows - 1;
  tui_fill(t, y, 0, t->cols, TUI_ROLE_BAR, NULL);
  unsigned scope = current_scope(t);
  int x = 0;
  for (size_t i = 0; i < tui_bindings_len; i++) {
    const struct tui_binding *b = &tui_bindings[i];
    if (!(b->scope & scope) || !b->bar)
      continue;
    int need = tui_text_width(b->label) + tui_text_width(b->bar) + 4;
    if (x + need > t->cols)
      break;
    x += tui_putf(t, y, x, t->cols - x, TUI_ROLE_KEY, " %s", b->label);
    x += tui_putf(t, y, x, t->cols - x, TUI_ROLE_BAR, " %s  ", b->bar);
  }
}

static void draw_message(const struct tui *t, struct tui_frame *f)
{
  int y = t->rows - 2;
  if (t->prompt != TUI_PROMPT_NONE) {
    int x = 1 + tui_putf(t, y, 1, t->cols - 2, TUI_ROLE_LABEL, "%s:", t->prompt_label) + 1;
    tui_draw_line(t, &t->prompt_line, y, x, t->cols - x - 1, TUI_ROLE_INPUT, f);
    if (t->msg[0]) /* the overwrite question */
      tui_put(t, y - 1, 1, t->cols - 2, t->msg_role, t->msg, TUI_PUT_ELLIPSIS);
    return;
  }
  tui_put(t, y, 1, t->cols - 2, t->msg_role, t->msg, TUI_PUT_ELLIPSIS);
}

static void draw_pager(const struct tui *t)
{
  int top = 1, bottom = t->rows - 3, left = 0, w = t->cols;
  tui_fill(t, top, left, w, TUI_ROLE_TITLE, NULL);
  tui_putf(t, top, left + 1, w - 2, TUI_ROLE_TITLE, "%s", t->pager_title);
  int rows = bottom - top - 1;
  for (int r = 0; r < rows; r++) {
    int y = top + 1 + r;
    tui_fill(t, y, left, w, TUI_ROLE_NORMAL, NULL);
    tui_put(t, y, left, 1, TUI_ROLE_BOX, t->g->vline, 0);
    tui_put(t, y, left + w - 1, 1, TUI_ROLE_BOX, t->g->vline, 0);
    size_t i = t->pager_scroll + (size_t)r;
    if (i < t->pager.n)
      tui_put(t, y, left + 2, w - 4, TUI_ROLE_NORMAL, t->pager.lines[i], TUI_PUT_ELLIPSIS);
  }
  tui_fill(t, bottom, left, w, TUI_ROLE_BAR, NULL);
  if (t->pager.n > (size_t)rows)
    tui_putf(t, bottom, left + 1, w - 2, TUI_ROLE_BAR, "lines %zu-%zu of %zu", t->pager_scroll + 1,
             t->pager_scroll + (size_t)rows < t->pager.n ? t->pager_scroll + (size_t)rows
                                                         : t->pager.n,
             t->pager.n);
}

static void paint(struct tui *t, bool clear_first)
{
  getmaxyx(stdscr, t->rows, t->cols);
  if (clear_first)
    clear();
  else
    erase();
  struct tui_frame f;
  tui_body_frame(t, &f);
  if (t->cols < MIN_COLS || t->rows < MIN_ROWS) {
    tui_putf(t, 0, 0, t->cols, TUI_ROLE_WARN, "ecrdiag needs at least %dx%d (this is %dx%d)",
             MIN_COLS, MIN_ROWS, t->cols, t->rows);
    curs_set(0);
    refresh();
    return;
  }
  draw_title(t);
  views[t->view]->draw(t, &f);
  if (t->pager_open) {
    draw_pager(t);
    f.cursor_y = -1;
  }
  draw_message(t, &f);
  draw_key_bar(t);
  if (f.cursor_y >= 0) {
    curs_set(1);
    move(f.cursor_y, f.cursor_x);
  } else {
    curs_set(0);
  }
  refresh();
}

/* Sends text to the terminal's clipboard: OSC 52, which terminals (and tmux with
 * set-clipboard on) honour even over ssh. Written after curses has flushed its output. */
static void send_clipboard(const char *text)
{
  char *b64 = crypto_base64_encode(text, strlen(text));
  if (b64 && strlen(b64) <= OSC52_MAX_BYTES) {
    fputs("\033]52;c;", stdout);
    fputs(b64, stdout);
    fputs("\a", stdout);
    fflush(stdout);
  }
  free(b64);
}

/* ---- state changes ---------------------------------------------------------------------- */

static void start_run(struct tui *t)
{
  struct err e = {0};
  if (t->run)
    return;
  tui_history_add(&t->history, t->image, NULL);
  t->history_pos = t->history.n;
  tui_line_set(&t->input, t->image);
  tui_input_changed(t);
  struct tui_run_args a;
  tui_settings_args(t, &a);
  t->run = tui_run_start(t->opt, &a, &e);
  if (!t->run) {
    tui_message(t, TUI_ROLE_FAIL, "cannot start the probe: %s", e.msg);
    return;
  }
  t->quit_when_stopped = false;
  t->diag_rc = ERR_OK;
  t->diag_err[0] = '\0';
  tui_run_progress(t->run, &t->progress);
  t->view = TUI_VIEW_PROBE;
  t->pager_open = false;
  tui_message(t, TUI_ROLE_NORMAL, "probing as the pulling principal would");
}

/* Takes the finished worker's result; returns TUI_DO_QUIT when the user asked to leave. */
static unsigned finish_run(struct tui *t)
{
  bool cancelled = tui_run_cancelled(t->run);
  enum err_code rc = ERR_OK;
  struct err e = {0};
  struct diagnosis *d = tui_run_finish(t->run, &rc, &e);
  tui_run_free(t->run);
  t->run = NULL;
  if (t->quit_when_stopped) {
    if (d)
      diag_release(d);
    free(d);
    return TUI_DO_QUIT;
  }
  if (cancelled || rc == ERR_CANCELLED || !d) {
    if (d)
      diag_release(d);
    free(d);
    t->view = TUI_VIEW_START;
    tui_message(t, d ? TUI_ROLE_WARN : TUI_ROLE_FAIL, "%s",
                d ? "the probe was cancelled" : "out of memory");
    return TUI_DRAW;
  }
  if (t->diag)
    diag_release(t->diag);
  free(t->diag);
  t->diag = d;
  t->diag_rc = rc;
  if (rc != ERR_OK) {
    snprintf(t->diag_err, sizeof t->diag_err, "%s", e.msg[0] ? e.msg : err_code_str(rc));
    t->exit_code = rc == ERR_INVALID || rc == ERR_PARSE ? EXIT_USAGE : EXIT_UNDECIDED;
    tui_message(t, TUI_ROLE_FAIL, "the diagnosis could not be completed (r: run again)");
    return TUI_DRAW;
  }
  t->exit_code = diag_exit_code(d);
  tui_diag_reset(t);
  t->fix_tab = TUI_FIX_STATEMENT;
  tui_fix_prepare(t);
  t->view = TUI_VIEW_DIAG;
  long total = 0;
  for (size_t i = 0; i < d->n_checks; i++)
    total += d->checks[i].duration_ms;
  char dur[24];
  tui_format_ms(total, dur, sizeof dur);
  tui_message(t, TUI_ROLE_NORMAL, "%zu checks in %s; %s", d->n_checks, dur,
              d->has_fix ? "Tab shows the fix" : "Enter shows the details");
  return TUI_DRAW;
}

static unsigned save_prompt(struct tui *t)
{
  const char *path = t->prompt_line.s;
  if (!*path) {
    tui_message(t, TUI_ROLE_WARN, "type a file name, or Esc");
    return TUI_DRAW;
  }
  if (tui_file_exists(path) && !t->prompt_confirm) {
    t->prompt_confirm = true;
    tui_message(t, TUI_ROLE_WARN, "'%s' exists: Enter again replaces it, Esc keeps it", path);
    return TUI_DRAW;
  }
  struct err e = {0};
  enum err_code rc = ERR_OK;
  if (t->prompt == TUI_PROMPT_SAVE_REPORT) {
    json_t *report = report_json(t->diag);
    char *text = report ? json_dumps(report, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    struct buf b;
    buf_init(&b, REPORT_MAX_BYTES);
    rc = text ? buf_printf(&b, "%s\n", text) : err_set(&e, ERR_NOMEM, "out of memory");
    if (rc == ERR_TOO_LARGE)
      err_set(&e, rc, "the report is over %u bytes", REPORT_MAX_BYTES);
    if (!rc)
      rc = tui_file_write(path, buf_str(&b), &e);
    buf_release(&b);
    free(text);
    json_decref(report);
  } else {
    const char *raw = t->fix_docs[t->fix_tab].raw;
    rc = raw ? tui_file_write(path, raw, &e) : err_set(&e, ERR_INVALID, "nothing to write");
  }
  if (rc) {
    tui_message(t, TUI_ROLE_FAIL, "%s", e.msg[0] ? e.msg : err_code_str(rc));
    t->prompt_confirm = false;
    return TUI_DRAW;
  }
  tui_message(t, TUI_ROLE_PASS, "%s saved to '%s'",
              t->prompt == TUI_PROMPT_SAVE_REPORT ? "report" : "fix", path);
  t->prompt = TUI_PROMPT_NONE;
  return TUI_DRAW;
}

static unsigned prompt_act(struct tui *t, enum tui_action a, int key)
{
  bool changed = false;
  switch (a) {
  case TUI_ACT_CONFIRM: return save_prompt(t);
  case TUI_ACT_CLOSE:
    t->prompt = TUI_PROMPT_NONE;
    tui_message(t, TUI_ROLE_NORMAL, "not saved");
    return TUI_DRAW;
  case TUI_ACT_EDIT:
    tui_line_edit(&t->prompt_line, key, &changed);
    if (changed) {
      t->prompt_confirm = false;
      t->msg[0] = '\0';
    }
    return TUI_DRAW;
  default: return TUI_NOTHING;
  }
}

static unsigned pager_act(struct tui *t, enum tui_action a)
{
  int page = t->rows - 5; /* the pager's text rows (draw_pager) */
  long max = (long)t->pager.n - page;
  long s = (long)t->pager_scroll;
  switch (a) {
  case TUI_ACT_CLOSE: t->pager_open = false; return TUI_DRAW;
  case TUI_ACT_UP: s--; break;
  case TUI_ACT_DOWN: s++; break;
  case TUI_ACT_PAGE_UP: s -= page - 1; break;
  case TUI_ACT_PAGE_DOWN: s += page - 1; break;
  case TUI_ACT_HOME: s = 0; break;
  case TUI_ACT_END: s = max; break;
  default: return TUI_NOTHING;
  }
  s = s > max ? max : s;
  t->pager_scroll = (size_t)(s < 0 ? 0 : s);
  return TUI_DRAW;
}

/* Actions that mean the same on every screen they are bound on. */
static unsigned common_act(struct tui *t, enum tui_action a, bool *handled)
{
  *handled = true;
  switch (a) {
  case TUI_ACT_HELP: open_help(t); return TUI_DRAW;
  case TUI_ACT_QUIT: return TUI_DO_QUIT;
  case TUI_ACT_RERUN:
  case TUI_ACT_NEW_IMAGE:
    if (t->run) {
      tui_message(t, TUI_ROLE_WARN, "a probe is running: wait for it, or Esc to cancel it");
      return TUI_DRAW;
    }
    if (a == TUI_ACT_RERUN && t->image[0])
      return TUI_DO_RUN | TUI_DRAW;
    t->view = TUI_VIEW_START;
    tui_line_set(&t->input, t->image);
    tui_input_changed(t);
    tui_message(t, TUI_ROLE_NORMAL, "%s", "");
    return TUI_DRAW;
  case TUI_ACT_SAVE_REPORT:
    if (!t->diag) {
      tui_message(t, TUI_ROLE_WARN, "no diagnosis to save yet");
      return TUI_DRAW;
    }
    tui_prompt_open(t, TUI_PROMPT_SAVE_REPORT, "save the JSON report to", DEFAULT_REPORT_PATH);
    return TUI_DRAW;
  case TUI_ACT_NEXT_SCREEN:
    t->view = t->view == TUI_VIEW_DIAG ? TUI_VIEW_FIX : TUI_VIEW_DIAG;
    return TUI_DRAW;
  default: *handled = false; return TUI_NOTHING;
  }
}

static unsigned dispatch(struct tui *t, int key)
{
  unsigned scope = current_scope(t);
  const struct tui_binding *b = tui_binding_find(scope, key);
  if (t->prompt != TUI_PROMPT_NONE) {
    if (b)
      return prompt_act(t, b->action, key);
    if (tui_line_insert(&t->prompt_line, key)) {
      t->prompt_confirm = false;
      t->msg[0] = '\0';
      return TUI_DRAW;
    }
    return TUI_NOTHING;
  }
  if (t->pager_open)
    return b ? pager_act(t, b->action) : TUI_NOTHING;
  const struct tui_view_ops *v = views[t->view];
  if (!b)
    return v->on_char ? v->on_char(t, key) : TUI_NOTHING;
  bool handled;
  unsigned flags = common_act(t, b->action, &handled);
  return handled ? flags : v->act(t, b->action, key);
}

/* ---- set-up and the loop ---------------------------------------------------------------- */

static void tui_init(struct tui *t, const struct tui_options *o)
{
  memset(t, 0, sizeof *t);
  t->opt = o;
  const char *cs = nl_langinfo(CODESET);
  t->utf8 = cs && strcmp(cs, "UTF-8") == 0;
  t->g = tui_glyphs_get(t->utf8);
  t->view = TUI_VIEW_START;
  tui_history_load(&t->history);
  t->history_pos = t->history.n;
  tui_settings_init(t);
}

static void tui_release(struct tui *t)
{
  if (t->diag)
    diag_release(t->diag);
  free(t->diag);
  for (int i = 0; i < TUI_FIX_TAB_COUNT; i++)
    tui_doc_release(&t->fix_docs[i]);
  tui_doc_release(&t->pager);
  tui_history_release(&t->history);
  free(t->clip);
}

static void usage(void)
{
  fprintf(stderr,
          "usage: ecrdiag [--tui] [--image REF] [--profile NAME] [--role-arn ARN] [options]\n"
          "The interactive mode needs a terminal on stdin and stdout. For a report without one,\n"
          "run: ecrdiag --image REF [--output text|json]\n");
}

int tui_main(const struct tui_options *o)
{
  if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
    usage();
    return EXIT_USAGE;
  }
  setlocale(LC_ALL, "");
  setlocale(LC_NUMERIC, "C"); /* JSON numbers and option parsing stay locale-free */

  struct tui t;
  tui_init(&t, o);
  int code = 0, signal_code = 0;

  /* Ours before curses starts: ncurses installs its own only where none is set. */
  struct sigaction sa, old_int, old_term, old_hup;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  sigaction(SIGHUP, &sa, &old_hup);
  atexit(restore_terminal_at_exit);

  /* Library diagnostics on stderr would scribble over the screen: park them meanwhile. */
  fflush(stderr);
  int saved_stderr = dup(STDERR_FILENO);
  int devnull = open("/dev/null", O_WRONLY);
  if (saved_stderr >= 0 && devnull >= 0)
    dup2(devnull, STDERR_FILENO);
  if (devnull >= 0)
    close(devnull);

  SCREEN *scr = newterm(NULL, stdout, stdin); /* initscr() would exit() on failure */
  if (!scr) {
    code = EXIT_UNDECIDED;
    goto restore;
  }
  cbreak();
  noecho();
  keypad(stdscr, TRUE);
  set_escdelay(ESC_DELAY_MS);
  const char *no_color = getenv("NO_COLOR");
  t.color = tui_theme_init(!o->no_color && !(no_color && *no_color));

  unsigned flags = TUI_DRAW;
  if (o->diag.image) {
    snprintf(t.image, sizeof t.image, "%s", o->diag.image);
    tui_line_set(&t.input, o->diag.image);
    tui_input_changed(&t);
    if (t.input_ok)
      flags |= TUI_DO_RUN;
    else
      tui_message(&t, TUI_ROLE_FAIL, "not an ECR image reference: %s", t.input_msg);
  }
  bool leave = false;
  while (!leave) {
    t.now_ms = tui_now_ms();
    if (pending_signal) {
      signal_code = 128 + pending_signal;
      pending_signal = 0;
      flags |= TUI_DO_CANCEL | TUI_DO_QUIT | TUI_DRAW;
    }
    if (flags & TUI_DO_RUN)
      start_run(&t);
    if ((flags & TUI_DO_CANCEL) && t.run) {
      tui_run_cancel(t.run);
      tui_message(&t, TUI_ROLE_WARN, "cancelling");
    }
    if (flags & TUI_DO_QUIT) {
      if (!t.run)
        leave = true;
      else if (t.quit_when_stopped) /* asked twice: do not wait for the request in flight */
        leave = true;
      else
        t.quit_when_stopped = true;
    }
    if (leave)
      break;
    if (t.run) {
      tui_run_progress(t.run, &t.progress);
      if (t.progress.finished) {
        flags |= finish_run(&t);
        if ((flags & TUI_DO_QUIT) && !t.run && t.quit_when_stopped) {
          leave = true;
          break;
        }
      }
      flags |= TUI_DRAW; /* the spinner and the running durations */
    }
    if (flags & (TUI_DRAW | TUI_CLEAR))
      paint(&t, flags & TUI_CLEAR);
    if ((flags & TUI_DO_COPY) && t.clip) {
      send_clipboard(t.clip);
      free(t.clip);
      t.clip = NULL;
    }
    flags = TUI_NOTHING;

    timeout(t.run ? TICK_RUNNING_MS : TICK_IDLE_MS);
    int key = getch();
    t.tick++;
    if (key == ERR)
      continue;
    if (key == KEY_RESIZE) {
      flags |= TUI_CLEAR;
      continue;
    }
    flags |= dispatch(&t, key);
  }
  code = t.exit_code;

restore:
  if (scr) {
    endwin();
    /* The screen stays allocated: restore_terminal_at_exit must still be able to ask it. */
  }
  if (saved_stderr >= 0) {
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
  }
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  sigaction(SIGHUP, &old_hup, NULL);
  if (t.run) {
    tui_run_abandon(t.run); /* still in a request: it ends with the process */
    t.run = NULL;
  }
  tui_release(&t);
  if (!scr)
    fprintf(stderr, "ecrdiag: cannot use this terminal (TERM=%s): try TERM=xterm-256color\n",
            getenv("TERM") ? getenv("TERM") : "unset");
  return signal_code ? signal_code : code;
}
