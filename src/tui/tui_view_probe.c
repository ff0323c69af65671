/* The probe screen: every check of the plan with a live spinner while it runs, then its
 * pass / FAIL / error mark, duration and AWS error code. It draws the progress snapshot the
 * main loop copies from the worker each tick, so it never waits on the probe. */
#include <stdio.h>
#include <string.h>

#define TUI_INTERNAL
#include "tui.h"

#define ID_MAX_W 36

static void draw_item(const struct tui *t, const struct tui_item *it, int y, int cols)
{
  const char *mark = t->g->waiting, *word = "waiting";
  enum tui_role role = TUI_ROLE_DIM;
  char dur[32] = "", detail[128] = "";
  switch (it->state) {
  case TUI_ITEM_WAITING: break;
  case TUI_ITEM_SKIPPED:
    mark = t->g->skipped;
    word = "skipped";
    break;
  case TUI_ITEM_RUNNING:
    mark = t->g->spinner[t->tick % t->g->n_spinner];
    word = "running";
    role = TUI_ROLE_RUNNING;
    tui_format_ms(t->now_ms - it->started_ms, dur, sizeof dur);
    break;
  case TUI_ITEM_DONE:
    mark = tui_status_glyph(t, it->status, it->needed_for_pull);
    word = tui_status_word(it->status, it->needed_for_pull);
    role = tui_status_role(it->status, it->needed_for_pull);
    tui_format_ms(it->duration_ms, dur, sizeof dur);
    if (it->http_status && it->status != CHECK_PASS)
      snprintf(detail, sizeof detail, "HTTP %ld %s", it->http_status, it->error_code);
    else if (it->error_code[0])
      snprintf(detail, sizeof detail, "%s", it->error_code);
    break;
  }
  int idw = cols - 34 < ID_MAX_W ? cols - 34 : ID_MAX_W;
  int x = 2;
  tui_put(t, y, x, 1, role, mark, 0);
  x += 3;
  tui_put(t, y, x, idw, it->state == TUI_ITEM_WAITING ? TUI_ROLE_DIM : TUI_ROLE_NORMAL, it->id,
          TUI_PUT_ELLIPSIS);
  x += idw + 1;
  tui_put(t, y, x, 8, role, word, 0);
  x += 8;
  tui_putf(t, y, x, 9, TUI_ROLE_NORMAL, "%8s", dur);
  x += 10;
  tui_put(t, y, x, cols - x - 1, TUI_ROLE_DIM, detail, TUI_PUT_ELLIPSIS);
}

static void probe_draw(const struct tui *t, struct tui_frame *f)
{
  int y = f->top, w = f->cols;
  tui_put(t, y, 1, 10, TUI_ROLE_LABEL, "Image", 0);
  tui_put(t, y++, 11, w - 12, TUI_ROLE_NORMAL, t->image, TUI_PUT_ELLIPSIS);
  tui_put(t, y, 1, 10, TUI_ROLE_LABEL, "As", 0);
  struct tui_run_args a;
  tui_settings_args(t, &a);
  tui_putf(t, y++, 11, w - 12, TUI_ROLE_NORMAL, "%s%s%s, region %s, platform %s%s%s",
           t->cred_source[0] ? t->cred_source : "(none found)",
           a.role_arn ? ", then assume-role:" : "", a.role_arn ? a.role_arn : "",
           t->input_region[0] ? t->input_region : "-", a.platform ? a.platform : "linux/amd64",
           t->opt->diag.org_id ? ", org " : "", t->opt->diag.org_id ? t->opt->diag.org_id : "");
  y++;
  const struct tui_progress *p = &t->progress;
  size_t done = 0;
  for (size_t i = 0; i < p->n_items && y < f->bottom - 2; i++, y++) {
    draw_item(t, &p->items[i], y, w);
    done += p->items[i].state == TUI_ITEM_DONE;
  }
  y++;
  if (y >= f->bottom)
    return;
  if (t->run && tui_run_cancelled(t->run)) {
    tui_put_wrapped(t, y, 1, w - 2, f->bottom - y, TUI_ROLE_WARN,
                    "cancelling: waiting for the request in flight to end (at most its "
                    "timeout); press q again to leave at once");
  } else if (t->run) {
    tui_putf(t, y, 1, w - 2, TUI_ROLE_RUNNING, "probing: %zu of %zu checks done", done, p->n_items);
  } else if (t->diag_rc != ERR_OK) {
    tui_putf(t, y, 1, w - 2, TUI_ROLE_FAIL, "the diagnosis could not be completed:");
    tui_put_wrapped(t, y + 1, 3, w - 4, f->bottom - y - 1, TUI_ROLE_FAIL, t->diag_err);
  }
}

static unsigned probe_act(struct tui *t, enum tui_action a, int key)
{
  (void)key;
  switch (a) {
  case TUI_ACT_CANCEL_QUIT: return t->run ? TUI_DO_CANCEL | TUI_DO_QUIT | TUI_DRAW : TUI_DO_QUIT;
  case TUI_ACT_CANCEL:
    if (t->run)
      return TUI_DO_CANCEL | TUI_DRAW;
    t->view = TUI_VIEW_START;
    return TUI_DRAW;
  default: return TUI_NOTHING;
  }
}

const struct tui_view_ops tui_view_probe = {
    .title = "Probe",
    .draw = probe_draw,
    .act = probe_act,
    .on_char = NULL,
};
