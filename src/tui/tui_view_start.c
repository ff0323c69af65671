/* The start screen: the image reference input (validated as typed, with history), the
 * credentials and region the probe will use, and the place where picking a failing pod
 * from the cluster will go. Reads and edits the session state; draws through tui_draw.c. */
#include <stdio.h>
#include <string.h>

#define TUI_INTERNAL
#include "tui.h"

#define LABEL_W 14

static void draw_field(const struct tui *t, int y, const char *label, enum tui_role role,
                       const char *value, int cols)
{
  tui_put(t, y, 2, LABEL_W, TUI_ROLE_LABEL, label, 0);
  tui_put(t, y, 2 + LABEL_W, cols - 3 - LABEL_W, role, value, TUI_PUT_ELLIPSIS);
}

static void start_draw(const struct tui *t, struct tui_frame *f)
{
  int y = f->top, w = f->cols;
  y += tui_put_wrapped(t, y, 1, w - 2, 2, TUI_ROLE_NORMAL,
                       "Why can't this pod pull its image from Amazon ECR? Type or paste the "
                       "image reference of the failing pod, then Enter.");
  y++;
  tui_put(t, y, 1, 20, TUI_ROLE_LABEL, "Image reference", 0);
  if (t->history.n)
    tui_putf(t, y, 18, w - 19, TUI_ROLE_DIM, "Up/Down: %zu from history", t->history.n);
  y++;
  tui_put(t, y, 1, 2, TUI_ROLE_KEY, t->g->arrow, 0);
  tui_draw_line(t, &t->input, y, 4, w - 5, TUI_ROLE_INPUT, f);
  y++;
  if (t->input.len == 0)
    tui_put(t, y, 4, w - 5, TUI_ROLE_DIM,
            "ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY[:TAG|@sha256:DIGEST]",
            TUI_PUT_ELLIPSIS);
  else if (t->input_ok) {
    tui_put(t, y, 4, 2, TUI_ROLE_PASS, t->g->pass, 0);
    tui_put_wrapped(t, y, 6, w - 7, 2, TUI_ROLE_PASS, t->input_msg);
  } else {
    tui_put(t, y, 4, 2, TUI_ROLE_FAIL, t->g->fail, 0);
    tui_put_wrapped(t, y, 6, w - 7, 2, TUI_ROLE_FAIL, t->input_msg);
  }
  y += 3;

  if (y >= f->bottom)
    return;
  tui_put(t, y++, 1, w - 2, TUI_ROLE_LABEL, "Probe as", 0);
  if (t->cred_source[0]) {
    char v[96];
    snprintf(v, sizeof v, "%s (AWS_ACCESS_KEY_ID and its secret)", t->cred_source);
    draw_field(t, y++, "credentials", TUI_ROLE_NORMAL, v, w);
  } else {
    draw_field(t, y++, "credentials", TUI_ROLE_FAIL, t->cred_msg, w);
  }
  char region[96];
  snprintf(region, sizeof region, "%s (from the reference: ECR is regional)",
           t->input_ok ? t->input_region : "-");
  draw_field(t, y++, "region", TUI_ROLE_NORMAL, region, w);
  draw_field(t, y++, "role", TUI_ROLE_DIM,
             "the credentials' own principal (assuming the node role: not available yet)", w);
  draw_field(t, y++, "org id", TUI_ROLE_NORMAL,
             t->opt->org_id ? t->opt->org_id
                            : "asked of Organizations (node roles usually may not: --org-id)",
             w);
  y++;
  if (y >= f->bottom)
    return;
  tui_put(t, y, 1, 24, TUI_ROLE_LABEL, "Or pick a failing pod", 0);
  tui_put(t, y, 24, w - 25, TUI_ROLE_DISABLED,
          "F2: not available yet (needs access to the cluster)", TUI_PUT_ELLIPSIS);
}

static unsigned start_act(struct tui *t, enum tui_action a, int key)
{
  bool changed = false;
  switch (a) {
  case TUI_ACT_RUN:
    if (t->input.len == 0) {
      tui_message(t, TUI_ROLE_WARN, "type an image reference first");
      return TUI_DRAW;
    }
    if (!t->input_ok) {
      tui_message(t, TUI_ROLE_FAIL, "not an ECR image reference: %s", t->input_msg);
      return TUI_DRAW;
    }
    snprintf(t->image, sizeof t->image, "%s", t->input.s);
    return TUI_DO_RUN | TUI_DRAW;
  case TUI_ACT_HISTORY_PREV:
    if (t->history_pos == 0)
      return TUI_NOTHING;
    t->history_pos--;
    tui_line_set(&t->input, t->history.items[t->history_pos]);
    tui_input_changed(t);
    return TUI_DRAW;
  case TUI_ACT_HISTORY_NEXT:
    if (t->history_pos >= t->history.n)
      return TUI_NOTHING;
    t->history_pos++;
    tui_line_set(&t->input, t->history_pos < t->history.n ? t->history.items[t->history_pos] : "");
    tui_input_changed(t);
    return TUI_DRAW;
  case TUI_ACT_CLEAR_INPUT:
    tui_line_set(&t->input, "");
    tui_input_changed(t);
    return TUI_DRAW;
  case TUI_ACT_EDIT:
    if (!tui_line_edit(&t->input, key, &changed))
      return TUI_NOTHING;
    if (changed)
      tui_input_changed(t);
    return TUI_DRAW;
  case TUI_ACT_PICK_POD:
    tui_message(t, TUI_ROLE_WARN,
                "picking a failing pod is not available yet: type the pod's image reference");
    return TUI_DRAW;
  default: return TUI_NOTHING;
  }
}

static unsigned start_char(struct tui *t, int ch)
{
  if (!tui_line_insert(&t->input, ch))
    return TUI_NOTHING;
  tui_input_changed(t);
  return TUI_DRAW;
}

const struct tui_view_ops tui_view_start = {
    .title = "Start",
    .draw = start_draw,
    .act = start_act,
    .on_char = start_char,
};
