/* The fix screen: the repository policy change that diag_run built, in tabs (the statement,
 * the complete document with the lines the fix adds marked, the aws CLI script, Terraform,
 * CloudFormation), to write to a file or copy through OSC 52. The apply action is drawn but
 * disabled: a later change adds it, with typed confirmation and a backup. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecrdiag/buf.h"
#include "ecrdiag/causes.h"

#define TUI_INTERNAL
#include "tui.h"

#define LABEL_W 10
#define GUTTER_W 2

static const struct {
  const char *name;
  const char *file; /* the default file name to write it to */
} tabs[TUI_FIX_TAB_COUNT] = {
    [TUI_FIX_STATEMENT] = {"Statement", "ecrdiag-fix-statement.json"},
    [TUI_FIX_DOCUMENT] = {"Document", "ecrdiag-fix-policy.json"},
    [TUI_FIX_CLI] = {"aws CLI", "ecrdiag-fix.sh"},
    [TUI_FIX_TERRAFORM] = {"Terraform", "ecrdiag-fix.tf"},
    [TUI_FIX_CFN] = {"CloudFormation", "ecrdiag-fix.cfn.yaml"},
};

/* ---- the tabs' text, built once per diagnosis ------------------------------------------ */

static char *dump(const json_t *j)
{
  return j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
}

/* Marks the statement's lines inside the document's dump: the same lines indented two levels
 * (jansson indents each level by 2), the last one maybe followed by a comma. */
static void mark_statement(struct tui_doc *doc, const char *statement)
{
  struct tui_doc st = {0};
  if (!statement || !tui_doc_add_text(&st, statement, false) || st.n == 0)
    goto out;
  for (size_t i = 0; i + st.n <= doc->n; i++) {
    size_t k = 0;
    for (; k < st.n; k++) {
      const char *line = doc->lines[i + k];
      size_t n = strlen(st.lines[k]);
      if (strncmp(line, "    ", 4) != 0 || strncmp(line + 4, st.lines[k], n) != 0)
        break;
      const char *rest = line + 4 + n;
      if (!(*rest == '\0' || (k == st.n - 1 && strcmp(rest, ",") == 0)))
        break;
    }
    if (k == st.n) {
      for (k = 0; k < st.n; k++)
        doc->marks[i + k] = 1;
      break;
    }
  }
out:
  tui_doc_release(&st);
}

void tui_fix_prepare(struct tui *t)
{
  for (int i = 0; i < TUI_FIX_TAB_COUNT; i++)
    tui_doc_release(&t->fix_docs[i]);
  t->fix_scroll = 0;
  const struct diagnosis *d = t->diag;
  if (!d || !d->has_fix)
    return;
  const struct policy_fix *fx = &d->fix;

  struct tui_doc *st = &t->fix_docs[TUI_FIX_STATEMENT];
  st->raw = dump(fx->statement);
  tui_doc_add_text(st, st->raw ? st->raw : "(no statement)", st->raw != NULL);

  struct tui_doc *doc = &t->fix_docs[TUI_FIX_DOCUMENT];
  if (fx->document) {
    doc->raw = dump(fx->document);
    tui_doc_add_text(doc, doc->raw, false);
    mark_statement(doc, st->raw);
  } else {
    char text[512];
    snprintf(text, sizeof text,
             "The complete policy is unknown: the caller may not read the repository\n"
             "policy. The aws CLI tab's script, run as account %s, reads it, adds the\n"
             "statement below keeping every other one, and sets it.\n\n"
             "The statement it adds:",
             d->ref.registry_id);
    tui_doc_add_text(doc, text, false);
    if (st->raw)
      tui_doc_add_text(doc, st->raw, true);
  }

  const char *texts[] = {[TUI_FIX_CLI] = fx->aws_cli,
                         [TUI_FIX_TERRAFORM] = fx->terraform,
                         [TUI_FIX_CFN] = fx->cloudformation};
  for (int i = TUI_FIX_CLI; i < TUI_FIX_TAB_COUNT; i++) {
    struct tui_doc *dd = &t->fix_docs[i];
    dd->raw = str_dup(texts[i]);
    tui_doc_add_text(dd, texts[i] ? texts[i] : "(not generated)", false);
  }
}

/* ---- layout ------------------------------------------------------------------------------ */

struct fix_layout {
  int header_rows; /* before the tab row */
  int content_top, content_rows, content_w;
};

static void layout(const struct tui *t, const struct tui_frame *f, struct fix_layout *l)
{
  l->header_rows = 4;
  l->content_top = f->top + l->header_rows + 2;     /* the tab row and a rule */
  l->content_rows = f->bottom - l->content_top - 2; /* a rule and the actions */
  if (l->content_rows < 1)
    l->content_rows = 1;
  l->content_w = f->cols - GUTTER_W - 2;
}

/* Display rows of a line wrapped at w columns (at least 1). */
static size_t line_rows(const char *s, int w)
{
  size_t n = 0;
  const char *p = s, *next;
  while (*p) {
    tui_wrap_next(p, w, &next);
    n++;
    if (next == p)
      break;
    p = next;
  }
  return n ? n : 1;
}

static size_t doc_rows(const struct tui_doc *doc, int w)
{
  size_t n = 0;
  for (size_t i = 0; i < doc->n; i++)
    n += line_rows(doc->lines[i], w);
  return n;
}

/* ---- drawing ---------------------------------------------------------------------------- */

static void draw_header(const struct tui *t, const struct policy_fix *fx, int y, int w)
{
  bool registry = fx->target && strcmp(fx->target, "registry_policy") == 0;
  bool identity = fx->target && strcmp(fx->target, "identity_policy") == 0;
  const char *what = identity ? "the IAM policy of"
                     : registry
                         ? "the private registry policy (every repository) of the registry of"
                         : "the repository policy of";
  tui_put(t, y, 1, LABEL_W, TUI_ROLE_LABEL, "Changes", 0);
  char deny[48] = "";
  if (fx->exempt_from_deny)
    snprintf(deny, sizeof deny, "the Deny at Statement[%ld] of ", fx->deny_statement);
  tui_putf(t, y++, 1 + LABEL_W, w - 2 - LABEL_W, TUI_ROLE_NORMAL, "%s%s %s", deny, what,
           identity && fx->role_arn ? fx->role_arn
           : fx->arn                ? fx->arn
                                    : "the repository");
  tui_put(t, y, 1, LABEL_W, TUI_ROLE_LABEL, "Opens", 0);
  y += tui_put_wrapped(t, y, 1 + LABEL_W, w - 2 - LABEL_W, 2, TUI_ROLE_NORMAL,
                       fx->opens ? fx->opens : "-");
  tui_put(t, y, 1, LABEL_W, TUI_ROLE_LABEL, "Based on", 0);
  if (fx->already_granted)
    tui_put(t, y, 1 + LABEL_W, w - 2 - LABEL_W, TUI_ROLE_WARN,
            fx->exempt_from_deny ? "the Deny already exempts this grant"
                                 : "the current policy already holds an equivalent statement",
            TUI_PUT_ELLIPSIS);
  else if (fx->based_on_sha256 && fx->based_on_sha256[0])
    tui_putf(t, y, 1 + LABEL_W, w - 2 - LABEL_W, TUI_ROLE_NORMAL,
             "the policy as read (sha256 %.12s...): the script refuses if it has changed",
             fx->based_on_sha256);
  else if (fx->based_on_sha256)
    tui_put(t, y, 1 + LABEL_W, w - 2 - LABEL_W, TUI_ROLE_NORMAL,
            "no policy exists yet: the document is the whole policy", TUI_PUT_ELLIPSIS);
  else
    tui_put(t, y, 1 + LABEL_W, w - 2 - LABEL_W, TUI_ROLE_DIM,
            "the current policy could not be read: the script reads and merges it",
            TUI_PUT_ELLIPSIS);
}

static void draw_tabs(const struct tui *t, int y, int w)
{
  int x = 1;
  for (int i = 0; i < TUI_FIX_TAB_COUNT && x < w; i++) {
    bool on = i == (int)t->fix_tab;
    enum tui_role role = on ? TUI_ROLE_TAB_ACTIVE : TUI_ROLE_TAB;
    int n = tui_putf(t, y, x, w - x, role, "%s%d %s%s", on ? "[" : " ", i + 1, tabs[i].name,
                     on ? "]" : " ");
    x += n + 1;
  }
}

static void draw_content(const struct tui *t, const struct tui_doc *doc, const struct fix_layout *l,
                         int cols)
{
  size_t skip = t->fix_scroll;
  int y = l->content_top, end = l->content_top + l->content_rows;
  for (size_t i = 0; i < doc->n && y < end; i++) {
    const char *p = doc->lines[i], *next;
    bool first = true, mark = doc->marks[i];
    do {
      size_t n = tui_wrap_next(p, l->content_w, &next);
      if (skip) {
        skip--;
      } else if (y < end) {
        const char *g = first ? (mark ? t->g->added : " ") : t->g->wrap;
        tui_put(t, y, 1, 1, mark ? TUI_ROLE_ADDED : TUI_ROLE_DIM, g, 0);
        tui_putn(t, y, 1 + GUTTER_W, cols - 2 - GUTTER_W, mark ? TUI_ROLE_ADDED : TUI_ROLE_NORMAL,
                 p, n, 0);
        y++;
      }
      first = false;
      if (next == p)
        break;
      p = next;
    } while (*p);
  }
}

static void fix_draw(const struct tui *t, struct tui_frame *f)
{
  const struct diagnosis *d = t->diag;
  int y = f->top, w = f->cols;
  if (!d || !d->has_fix) {
    tui_put(t, y++, 1, w - 2, TUI_ROLE_LABEL, "No fix to propose.", 0);
    y++;
    const char *why = !d ? "There is no diagnosis yet."
                      : d->pullable == 1
                          ? "Every check passed: there is nothing to change."
                          : "The cause is not a repository policy that a statement can fix; "
                            "the diagnosis screen says what to do:";
    y += tui_put_wrapped(t, y, 1, w - 2, 3, TUI_ROLE_NORMAL, why);
    if (d && d->pullable != 1 && d->n_findings) {
      y++;
      tui_put(t, y++, 3, w - 4, TUI_ROLE_FAIL, cause_info(d->findings[0].cause)->id, 0);
      tui_put_wrapped(t, y, 3, w - 4, f->bottom - y, TUI_ROLE_NORMAL, d->findings[0].summary);
    }
    return;
  }
  struct fix_layout l;
  layout(t, f, &l);
  draw_header(t, &d->fix, y, w);
  y += l.header_rows;
  draw_tabs(t, y++, w);
  tui_fill(t, y, 0, w, TUI_ROLE_BOX, t->g->hline);
  const struct tui_doc *doc = &t->fix_docs[t->fix_tab];
  size_t total = doc_rows(doc, l.content_w);
  if (total > (size_t)l.content_rows)
    tui_putf(t, y, w - 22, 20, TUI_ROLE_DIM, " rows %zu-%zu of %zu ", t->fix_scroll + 1,
             t->fix_scroll + (size_t)l.content_rows < total ? t->fix_scroll + (size_t)l.content_rows
                                                            : total,
             total);
  draw_content(t, doc, &l, w);
  y = l.content_top + l.content_rows;
  tui_fill(t, y++, 0, w, TUI_ROLE_BOX, t->g->hline);
  int x = 1;
  x += tui_put(t, y, x, w - x, TUI_ROLE_KEY, " w ", 0);
  x += tui_put(t, y, x, w - x, TUI_ROLE_NORMAL, " write to a file  ", 0);
  x += tui_put(t, y, x, w - x, TUI_ROLE_KEY, " y ", 0);
  x += tui_put(t, y, x, w - x, TUI_ROLE_NORMAL, " copy (OSC 52)  ", 0);
  x += tui_put(t, y, x, w - x, TUI_ROLE_DISABLED, " a apply: not available yet ", 0);
}

/* ---- keys ------------------------------------------------------------------------------- */

static void scroll_by(struct tui *t, long delta)
{
  struct tui_frame f;
  struct fix_layout l;
  tui_body_frame(t, &f);
  layout(t, &f, &l);
  long total = (long)doc_rows(&t->fix_docs[t->fix_tab], l.content_w);
  long max = total - l.content_rows;
  long s = (long)t->fix_scroll + delta;
  s = s > max ? max : s;
  t->fix_scroll = (size_t)(s < 0 ? 0 : s);
}

static unsigned set_tab(struct tui *t, int tab)
{
  t->fix_tab = (enum tui_fix_tab)((tab + TUI_FIX_TAB_COUNT) % TUI_FIX_TAB_COUNT);
  t->fix_scroll = 0;
  return TUI_DRAW;
}

static unsigned fix_act(struct tui *t, enum tui_action a, int key)
{
  (void)key;
  const struct diagnosis *d = t->diag;
  bool have = d && d->has_fix;
  const struct tui_doc *doc = &t->fix_docs[t->fix_tab];
  struct tui_frame f;
  struct fix_layout l;
  tui_body_frame(t, &f);
  layout(t, &f, &l);
  switch (a) {
  case TUI_ACT_LEFT: return set_tab(t, (int)t->fix_tab - 1);
  case TUI_ACT_RIGHT: return set_tab(t, (int)t->fix_tab + 1);
  case TUI_ACT_TAB_1: return set_tab(t, 0);
  case TUI_ACT_TAB_2: return set_tab(t, 1);
  case TUI_ACT_TAB_3: return set_tab(t, 2);
  case TUI_ACT_TAB_4: return set_tab(t, 3);
  case TUI_ACT_TAB_5: return set_tab(t, 4);
  case TUI_ACT_UP: scroll_by(t, -1); return TUI_DRAW;
  case TUI_ACT_DOWN: scroll_by(t, 1); return TUI_DRAW;
  case TUI_ACT_PAGE_UP: scroll_by(t, -(l.content_rows - 1)); return TUI_DRAW;
  case TUI_ACT_PAGE_DOWN: scroll_by(t, l.content_rows - 1); return TUI_DRAW;
  case TUI_ACT_HOME: t->fix_scroll = 0; return TUI_DRAW;
  case TUI_ACT_END: scroll_by(t, 1L << 20); return TUI_DRAW;
  case TUI_ACT_WRITE_FIX:
    if (!have || !doc->raw) {
      tui_message(t, TUI_ROLE_WARN, "nothing to write on this tab");
      return TUI_DRAW;
    }
    tui_prompt_open(t, TUI_PROMPT_SAVE_FIX, "write this tab to",
                    t->fix_tab == TUI_FIX_CFN && doc->raw[0] == '{' ? "ecrdiag-fix.cfn.json"
                                                                    : tabs[t->fix_tab].file);
    return TUI_DRAW;
  case TUI_ACT_COPY_FIX:
    if (!have || !doc->raw) {
      tui_message(t, TUI_ROLE_WARN, "nothing to copy on this tab");
      return TUI_DRAW;
    }
    free(t->clip);
    t->clip = str_dup(doc->raw);
    tui_message(t, TUI_ROLE_PASS,
                "%s sent to the clipboard through OSC 52 (the terminal must allow it)",
                tabs[t->fix_tab].name);
    return TUI_DO_COPY | TUI_DRAW;
  case TUI_ACT_APPLY_FIX:
    tui_message(t, TUI_ROLE_WARN,
                "apply is not available yet: it will ask you to type the repository name and "
                "keep a backup of the current policy");
    return TUI_DRAW;
  default: return TUI_NOTHING;
  }
}

const struct tui_view_ops tui_view_fix = {
    .title = "Fix",
    .draw = fix_draw,
    .act = fix_act,
    .on_char = NULL,
};
