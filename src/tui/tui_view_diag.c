/* The diagnosis screen: the verdict, the primary cause in plain words, the other findings
 * ranked, and the checks with the evidence of the selected one (endpoint, status, AWS's error
 * code and message, request id). Renders the model as diag_run left it; decides nothing.
 * The model holds no secrets and no header values, and none are shown. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecrdiag/causes.h"

#define TUI_INTERNAL
#include "tui.h"

#define FINDINGS_MAX_ROWS 4
#define CHECKS_MIN_ROWS 5
#define LABEL_W 11

struct check_row {
  const char *id;
  const struct diag_check *c; /* NULL: not run */
};

/* The plan's checks in order (run or not), then any check the plan does not list. */
static size_t check_rows(const struct diagnosis *d, struct check_row *rows, size_t max)
{
  size_t n = 0;
  for (size_t i = 0; i < diag_plan_len && n < max; i++) {
    rows[n] = (struct check_row){.id = diag_plan[i]};
    for (size_t k = 0; k < d->n_checks; k++)
      if (strcmp(d->checks[k].id, diag_plan[i]) == 0)
        rows[n].c = &d->checks[k];
    n++;
  }
  for (size_t k = 0; k < d->n_checks && n < max; k++) {
    bool listed = false;
    for (size_t i = 0; i < diag_plan_len; i++)
      listed = listed || strcmp(d->checks[k].id, diag_plan[i]) == 0;
    if (!listed)
      rows[n++] = (struct check_row){.id = d->checks[k].id, .c = &d->checks[k]};
  }
  return n;
}

#define ROWS_MAX (DIAG_MAX_CHECKS + 16)

static size_t row_of_check(const struct diagnosis *d, const char *id)
{
  struct check_row rows[ROWS_MAX];
  size_t n = check_rows(d, rows, ROWS_MAX);
  for (size_t i = 0; id && i < n; i++)
    if (strcmp(rows[i].id, id) == 0)
      return i;
  return (size_t)-1;
}

static const char *finding_check(const struct diag_finding *f)
{
  return json_string_value(json_object_get(f->evidence, "check"));
}

void tui_diag_reset(struct tui *t)
{
  t->focus = TUI_FOCUS_FINDINGS;
  t->sel_finding = 0;
  t->sel_check = 0;
  const struct diagnosis *d = t->diag;
  if (!d)
    return;
  size_t r = d->n_findings ? row_of_check(d, finding_check(&d->findings[0])) : (size_t)-1;
  if (r != (size_t)-1) {
    t->sel_check = r;
    return;
  }
  struct check_row rows[ROWS_MAX];
  size_t n = check_rows(d, rows, ROWS_MAX);
  for (size_t i = 0; i < n; i++)
    if (rows[i].c && rows[i].c->status != CHECK_PASS) {
      t->sel_check = i;
      return;
    }
}

/* ---- drawing ---------------------------------------------------------------------------- */

/* The verdict row, and under a green one the caveat when the probe ran as someone else;
 * returns the rows used. */
static int draw_verdict(const struct tui *t, const struct diagnosis *d, int y, int w)
{
  tui_put(t, y, 1, LABEL_W, TUI_ROLE_LABEL, "Verdict", 0);
  int x = 1 + LABEL_W;
  const char *who = d->caller.arn ? d->caller.arn : "the caller";
  if (d->pullable == 1) {
    x += tui_put(t, y, x, w - x, TUI_ROLE_VERDICT_GOOD, " PULLABLE ", 0) + 1;
    if (d->caller.is_pulling_principal) {
      tui_put(t, y, x, w - x - 1, TUI_ROLE_PASS, "every check passed as the node role", 0);
      return 1;
    }
    tui_put(t, y, x, w - x - 1, TUI_ROLE_WARN, "by the probing principal only:", 0);
    char note[512];
    snprintf(note, sizeof note, "pullable by %s, not verified for the node role", who);
    return 1 + tui_put_wrapped(t, y + 1, 1 + LABEL_W, w - 2 - LABEL_W, 3, TUI_ROLE_WARN, note);
  }
  if (d->pullable == 0) {
    x += tui_put(t, y, x, w - x, TUI_ROLE_VERDICT_BAD, " NOT PULLABLE ", 0) + 1;
    tui_putf(t, y, x, w - x - 1, TUI_ROLE_FAIL, "%s (exit %d)",
             cause_info(d->findings[0].cause)->id, diag_exit_code(d));
  } else {
    x += tui_put(t, y, x, w - x, TUI_ROLE_VERDICT_UNKNOWN, " UNDECIDED ", 0) + 1;
    tui_putf(t, y, x, w - x - 1, TUI_ROLE_ERROR, "could not be decided from here (exit %d)",
             diag_exit_code(d));
  }
  return 1;
}

static void draw_caller(const struct tui *t, const struct diagnosis *d, int y, int w)
{
  tui_put(t, y, 1, LABEL_W, TUI_ROLE_LABEL, "Caller", 0);
  if (!d->caller.arn) {
    tui_put(t, y, 1 + LABEL_W, w - 2 - LABEL_W, TUI_ROLE_DIM, "unknown (no identity answer)", 0);
    return;
  }
  tui_putf(t, y, 1 + LABEL_W, w - 2 - LABEL_W, TUI_ROLE_NORMAL, "%s (credentials from %s%s%s)",
           d->caller.arn, d->caller.credential_source ? d->caller.credential_source : "?",
           d->caller.org_id ? ", org " : "", d->caller.org_id ? d->caller.org_id : "");
}

static size_t scroll_for(size_t sel, size_t rows)
{
  return rows && sel >= rows ? sel - rows + 1 : 0;
}

static void draw_findings(const struct tui *t, const struct diagnosis *d, int y, int rows, int w)
{
  bool focused = t->focus == TUI_FOCUS_FINDINGS;
  size_t off = scroll_for(t->sel_finding, (size_t)rows);
  for (int r = 0; r < rows && off + (size_t)r < d->n_findings; r++) {
    size_t i = off + (size_t)r;
    const struct cause_info *ci = cause_info(d->findings[i].cause);
    bool sel = i == t->sel_finding;
    enum tui_role role = sel && focused ? TUI_ROLE_SELECTED : TUI_ROLE_NORMAL;
    if (sel && focused)
      tui_fill(t, y + r, 1, w - 2, role, NULL);
    tui_put(t, y + r, 1, 2, sel ? role : TUI_ROLE_DIM, sel ? t->g->select : " ", 0);
    tui_putf(t, y + r, 3, 3, role, "%zu", i + 1);
    enum tui_role idrole = role;
    if (!(sel && focused))
      idrole = ci->cls == CAUSE_CLASS_WARNING ? TUI_ROLE_WARN
               : i == 0                       ? TUI_ROLE_FAIL
                                              : TUI_ROLE_LABEL;
    int x = 6 + tui_put(t, y + r, 6, w - 7, idrole, ci->id, 0) + 1;
    tui_putf(t, y + r, x, w - x - 1, role, "%s%s", ci->title,
             ci->cls == CAUSE_CLASS_WARNING ? " (note)"
             : d->findings[i].alternative   ? " (or: less likely)"
                                            : "");
  }
}

static void draw_check_row(const struct tui *t, const struct check_row *row, bool sel, bool focused,
                           int y, int w)
{
  enum tui_role role = sel && focused ? TUI_ROLE_SELECTED : TUI_ROLE_NORMAL;
  if (sel && focused)
    tui_fill(t, y, 0, w, role, NULL);
  const char *mark =
      row->c ? tui_status_glyph(t, row->c->status, row->c->needed_for_pull) : t->g->skipped;
  enum tui_role mrole =
      row->c ? tui_status_role(row->c->status, row->c->needed_for_pull) : TUI_ROLE_DIM;
  if (sel && !focused)
    tui_put(t, y, 0, 1, TUI_ROLE_LABEL, t->g->select, 0);
  tui_put(t, y, 1, 1, sel && focused ? role : mrole, mark, 0);
  char dur[24] = "";
  if (row->c)
    tui_format_ms(row->c->duration_ms, dur, sizeof dur);
  int durw = 8;
  tui_put(t, y, 3, w - 4 - durw, row->c ? role : (sel && focused ? role : TUI_ROLE_DIM), row->id,
          TUI_PUT_ELLIPSIS);
  tui_putf(t, y, w - durw - 1, durw, role, "%*s", durw, row->c ? dur : "not run");
}

static int evidence_field(const struct tui *t, int y, int x, int w, const char *label,
                          enum tui_role role, const char *value)
{
  tui_put(t, y, x, LABEL_W, TUI_ROLE_LABEL, label, 0);
  tui_put(t, y, x + LABEL_W, w - LABEL_W, role, value, TUI_PUT_ELLIPSIS);
  return 1;
}

static void draw_evidence(const struct tui *t, const struct check_row *row, int y, int rows, int x,
                          int w)
{
  int end = y + rows;
  if (!row)
    return;
  const struct diag_check *c = row->c;
  if (!c) {
    tui_put_wrapped(t, y, x, w, rows, TUI_ROLE_DIM,
                    "Not run: an earlier answer made it pointless, or the probe stopped "
                    "before it.");
    return;
  }
  char line[256], dur[24];
  tui_format_ms(c->duration_ms, dur, sizeof dur);
  bool registry = strncmp(c->id, "registry.", 9) == 0;
  y += evidence_field(t, y, x, w, "endpoint", TUI_ROLE_NORMAL, c->endpoint ? c->endpoint : "-");
  if (y < end) {
    if (c->http_status)
      snprintf(line, sizeof line, "%s: HTTP %ld, %d attempt%s, %s",
               tui_status_word(c->status, c->needed_for_pull), c->http_status, c->attempts,
               c->attempts == 1 ? "" : "s", dur);
    else
      snprintf(line, sizeof line, "%s: no answer, %d attempt%s, %s",
               tui_status_word(c->status, c->needed_for_pull), c->attempts,
               c->attempts == 1 ? "" : "s", dur);
    y += evidence_field(t, y, x, w, "status", tui_status_role(c->status, c->needed_for_pull), line);
  }
  if (y < end && c->error_code)
    y += evidence_field(t, y, x, w, registry ? "error" : "AWS error", TUI_ROLE_FAIL, c->error_code);
  if (y < end && c->request_id)
    y += evidence_field(t, y, x, w, "request id", TUI_ROLE_NORMAL, c->request_id);
  if (y < end && c->error_message) {
    tui_put(t, y, x, LABEL_W, TUI_ROLE_LABEL, "message", 0);
    tui_put_wrapped(t, y, x + LABEL_W, w - LABEL_W, end - y, TUI_ROLE_NORMAL, c->error_message);
  }
}

static int summary_rows_needed(const char *s, int w)
{
  int n = 0;
  const char *p = s ? s : "", *next;
  while (*p) {
    tui_wrap_next(p, w, &next);
    n++;
    if (next == p)
      break;
    p = next;
  }
  return n;
}

static void diag_draw(const struct tui *t, struct tui_frame *f)
{
  const struct diagnosis *d = t->diag;
  int y = f->top, w = f->cols;
  if (!d) {
    tui_put(t, y, 1, w - 2, TUI_ROLE_DIM, "No diagnosis yet.", 0);
    return;
  }
  tui_put(t, y, 1, LABEL_W, TUI_ROLE_LABEL, "Image", 0);
  tui_put(t, y++, 1 + LABEL_W, w - 2 - LABEL_W, TUI_ROLE_NORMAL,
          d->ref.reference ? d->ref.reference : t->image, TUI_PUT_ELLIPSIS);
  y += draw_verdict(t, d, y, w);
  draw_caller(t, d, y++, w);

  struct check_row rows[ROWS_MAX];
  size_t n_rows = check_rows(d, rows, ROWS_MAX);
  int avail = f->bottom - y - 2; /* the two section headers */
  int frows = d->n_findings < FINDINGS_MAX_ROWS ? (int)d->n_findings : FINDINGS_MAX_ROWS;
  if (frows == 0)
    frows = 1;
  int cmin = (int)n_rows < CHECKS_MIN_ROWS ? (int)n_rows : CHECKS_MIN_ROWS;
  const char *summary = d->n_findings ? d->findings[t->sel_finding].summary : NULL;
  int srows = summary_rows_needed(summary, w - 4);
  if (srows > avail - frows - cmin)
    srows = avail - frows - cmin;
  if (srows < 1)
    srows = 1;
  int crows = avail - frows - srows;

  /* findings */
  tui_put(t, y, 1, w - 2, t->focus == TUI_FOCUS_FINDINGS ? TUI_ROLE_LABEL : TUI_ROLE_DIM,
          d->n_findings > 1 ? "Findings, ranked (the first is the cause)" : "Findings", 0);
  y++;
  if (d->n_findings == 0)
    tui_put(t, y, 3, w - 4, TUI_ROLE_PASS, "none: every check passed", 0);
  else
    draw_findings(t, d, y, frows, w);
  y += frows;
  if (summary)
    tui_put_wrapped(t, y, 3, w - 4, srows, TUI_ROLE_NORMAL, summary);
  y += srows;

  /* checks and the evidence of the selected one */
  int lw = w * 2 / 5;
  lw = lw < 30 ? 30 : lw > 48 ? 48 : lw;
  const struct check_row *sel = t->sel_check < n_rows ? &rows[t->sel_check] : NULL;
  tui_fill(t, y, 0, w, TUI_ROLE_BOX, t->g->hline);
  tui_put(t, y, 1, lw - 2, t->focus == TUI_FOCUS_CHECKS ? TUI_ROLE_LABEL : TUI_ROLE_DIM, " Checks ",
          0);
  tui_putf(t, y, lw + 1, w - lw - 2, TUI_ROLE_LABEL, " Evidence: %s ", sel ? sel->id : "-");
  y++;
  size_t off = scroll_for(t->sel_check, (size_t)crows);
  for (int r = 0; r < crows; r++) {
    tui_put(t, y + r, lw, 1, TUI_ROLE_BOX, t->g->vline, 0);
    size_t i = off + (size_t)r;
    if (i < n_rows)
      draw_check_row(t, &rows[i], i == t->sel_check, t->focus == TUI_FOCUS_CHECKS, y + r, lw);
  }
  draw_evidence(t, sel, y, crows, lw + 2, w - lw - 3);
}

/* ---- the details pager ----------------------------------------------------------------- */

static void add_check_details(struct tui_doc *doc, const struct diag_check *c, int w)
{
  char line[512], dur[24];
  tui_format_ms(c->duration_ms, dur, sizeof dur);
  snprintf(line, sizeof line, "Check %s: %s", c->id,
           tui_status_word(c->status, c->needed_for_pull));
  tui_doc_add_text(doc, line, false);
  snprintf(line, sizeof line, "  endpoint    %s", c->endpoint ? c->endpoint : "-");
  tui_doc_add_wrapped(doc, line, w, 14);
  snprintf(line, sizeof line, "  status      HTTP %ld, %d attempt%s, %s", c->http_status,
           c->attempts, c->attempts == 1 ? "" : "s", dur);
  tui_doc_add_text(doc, line, false);
  if (c->error_code) {
    snprintf(line, sizeof line, "  error code  %s", c->error_code);
    tui_doc_add_text(doc, line, false);
  }
  if (c->request_id) {
    snprintf(line, sizeof line, "  request id  %s", c->request_id);
    tui_doc_add_text(doc, line, false);
  }
  if (c->error_message) {
    tui_doc_add_text(doc, "  message", false);
    struct tui_doc tmp = {0};
    tui_doc_add_wrapped(&tmp, c->error_message, w - 4, 0);
    for (size_t i = 0; i < tmp.n; i++) {
      snprintf(line, sizeof line, "    %s", tmp.lines[i]);
      tui_doc_add_text(doc, line, false);
    }
    tui_doc_release(&tmp);
  }
}

static void add_finding_details(struct tui_doc *doc, const struct diagnosis *d, size_t i, int w)
{
  char line[512];
  if (!d->n_findings) {
    tui_doc_add_text(doc, "No findings: every check passed.", false);
    return;
  }
  const struct diag_finding *fd = &d->findings[i];
  const struct cause_info *ci = cause_info(fd->cause);
  snprintf(line, sizeof line, "Finding %zu of %zu: %s (%s)", i + 1, d->n_findings, ci->id,
           cause_class_name(ci->cls));
  tui_doc_add_text(doc, line, false);
  snprintf(line, sizeof line, "  %s", ci->title);
  tui_doc_add_text(doc, line, false);
  tui_doc_add_text(doc, "", false);
  tui_doc_add_wrapped(doc, fd->summary, w, 0);
  char *ev = json_dumps(fd->evidence, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  if (ev) {
    tui_doc_add_text(doc, "", false);
    tui_doc_add_text(doc, "Evidence:", false);
    tui_doc_add_code(doc, ev, w);
    free(ev);
  }
}

/* The pager with the selected finding and check in full: the focused one first. */
static void open_details(struct tui *t)
{
  const struct diagnosis *d = t->diag;
  struct tui_doc doc = {0};
  int w = t->cols - 6;
  struct check_row rows[ROWS_MAX];
  size_t n = check_rows(d, rows, ROWS_MAX);
  for (int part = 0; part < 2; part++) {
    bool check = (part == 0) == (t->focus == TUI_FOCUS_CHECKS);
    if (part == 1)
      tui_doc_add_text(&doc, "", false);
    if (!check) {
      add_finding_details(&doc, d, t->sel_finding, w);
    } else if (t->sel_check < n && rows[t->sel_check].c) {
      add_check_details(&doc, rows[t->sel_check].c, w);
    } else if (t->sel_check < n) {
      char line[128];
      snprintf(line, sizeof line, "Check %s: not run", rows[t->sel_check].id);
      tui_doc_add_text(&doc, line, false);
    }
  }
  tui_pager_open(t, "Details", &doc);
}

/* ---- keys ------------------------------------------------------------------------------- */

static void move_selection(struct tui *t, long delta)
{
  const struct diagnosis *d = t->diag;
  if (t->focus == TUI_FOCUS_FINDINGS) {
    if (!d->n_findings)
      return;
    long s = (long)t->sel_finding + delta;
    s = s < 0 ? 0 : s >= (long)d->n_findings ? (long)d->n_findings - 1 : s;
    t->sel_finding = (size_t)s;
    size_t r = row_of_check(d, finding_check(&d->findings[t->sel_finding]));
    if (r != (size_t)-1)
      t->sel_check = r;
  } else {
    struct check_row rows[ROWS_MAX];
    long n = (long)check_rows(d, rows, ROWS_MAX);
    long s = (long)t->sel_check + delta;
    t->sel_check = (size_t)(s < 0 ? 0 : s >= n ? n - 1 : s);
  }
}

static unsigned diag_act(struct tui *t, enum tui_action a, int key)
{
  (void)key;
  if (!t->diag)
    return TUI_NOTHING;
  switch (a) {
  case TUI_ACT_UP: move_selection(t, -1); return TUI_DRAW;
  case TUI_ACT_DOWN: move_selection(t, 1); return TUI_DRAW;
  case TUI_ACT_PAGE_UP: move_selection(t, -5); return TUI_DRAW;
  case TUI_ACT_PAGE_DOWN: move_selection(t, 5); return TUI_DRAW;
  case TUI_ACT_FOCUS:
    t->focus = t->focus == TUI_FOCUS_FINDINGS ? TUI_FOCUS_CHECKS : TUI_FOCUS_FINDINGS;
    return TUI_DRAW;
  case TUI_ACT_DETAILS: open_details(t); return TUI_DRAW;
  default: return TUI_NOTHING;
  }
}

const struct tui_view_ops tui_view_diag = {
    .title = "Diagnosis",
    .draw = diag_draw,
    .act = diag_act,
    .on_char = NULL,
};
