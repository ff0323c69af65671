/* The start screen: the image reference input (validated as typed, with history), the
 * settings of the probe (profile, role ARN, region, platform: changeable in place, validated
 * as typed), a description of the credentials the probe will try, and the place where
 * picking a failing pod from the cluster will go. It only describes: the credential chain
 * (which may call IMDS, SSO or STS) runs in the worker. Draws through tui_draw.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecrdiag/aws.h"
#include "ecrdiag/creds.h"

#define TUI_INTERNAL
#include "tui.h"

#define LABEL_W 14
#define FIELD_X (2 + LABEL_W)
#define FIELD_MAX_W 48
#define FIELD_NOTE_W 24
#define DEFAULT_PLATFORM "linux/amd64"

struct field_info {
  const char *label;
  const char *name; /* in messages: "the role ARN" */
};

static const struct field_info field_info[TUI_FIELD_COUNT] = {
    [TUI_FIELD_IMAGE] = {"Image reference", "the image reference"},
    [TUI_FIELD_PROFILE] = {"profile", "the profile"},
    [TUI_FIELD_ROLE] = {"role ARN", "the role ARN"},
    [TUI_FIELD_REGION] = {"region", "the region"},
    [TUI_FIELD_PLATFORM] = {"platform", "the platform"},
};

static const char *env_set(const char *name)
{
  const char *v = getenv(name);
  return v && *v ? v : NULL;
}

static const char *field_text(const struct tui *t, enum tui_start_field i)
{
  return t->fields[i].line.len ? t->fields[i].line.s : NULL;
}

/* ---- validation and the credentials description ----------------------------------------- */

void tui_settings_init(struct tui *t)
{
  const struct diag_options *o = &t->opt->diag;
  if (o->creds) {
    tui_line_set(&t->fields[TUI_FIELD_PROFILE].line, o->creds->profile);
    tui_line_set(&t->fields[TUI_FIELD_ROLE].line, o->creds->role_arn);
    tui_line_set(&t->fields[TUI_FIELD_REGION].line, o->creds->region);
  }
  tui_line_set(&t->fields[TUI_FIELD_PLATFORM].line, o->platform);
  t->start_focus = TUI_FIELD_IMAGE;
  tui_settings_changed(t);
}

static void check_profile(struct tui_field *f)
{
  f->ok = true;
  if (!f->line.len) {
    snprintf(f->msg, sizeof f->msg, "none: the default chain (see credentials)");
    return;
  }
  /* A profile name is one word of a section header ("[profile NAME]"). */
  if (strpbrk(f->line.s, " []\t")) {
    f->ok = false;
    snprintf(f->msg, sizeof f->msg, "a profile name has no spaces or brackets");
    return;
  }
  const char *cfg = env_set("AWS_CONFIG_FILE"), *cred = env_set("AWS_SHARED_CREDENTIALS_FILE");
  snprintf(f->msg, sizeof f->msg,
           "looked up in %s and %s when the probe runs (the environment's keys are skipped)",
           cfg ? cfg : "~/.aws/config", cred ? cred : "~/.aws/credentials");
}

static void check_role(const struct tui *t, struct tui_field *f)
{
  f->ok = true;
  if (!f->line.len) {
    snprintf(f->msg, sizeof f->msg, "none: probe as the credentials' own principal");
  } else if (!creds_role_arn_valid(f->line.s)) {
    f->ok = false;
    snprintf(f->msg, sizeof f->msg, "not an IAM role ARN: arn:aws:iam::ACCOUNT:role/NAME");
  } else {
    snprintf(
        f->msg, sizeof f->msg, "assumed with the credentials found, then the probe runs as it%s",
        t->opt->diag.creds && t->opt->diag.creds->external_id ? " (with the --external-id given)"
                                                              : "");
  }
}

static void check_region(struct tui *t, struct tui_field *f)
{
  f->ok = true;
  if (!f->line.len) {
    snprintf(f->msg, sizeof f->msg, "%s%s", t->region_default[0] ? "default: " : "none set",
             t->region_default);
    return;
  }
  /* The same shape the AWS calls accept; the region itself is not looked up. */
  struct aws_client c = {0};
  if (!aws_signing_region(&c, "sts", f->line.s)) {
    f->ok = false;
    snprintf(f->msg, sizeof f->msg,
             "not a region name: lower-case letters, digits and '-', e.g. eu-west-1");
    return;
  }
  snprintf(f->msg, sizeof f->msg, "used when the image reference names none");
}

static void check_platform(struct tui_field *f)
{
  f->ok = true;
  if (!f->line.len)
    snprintf(f->msg, sizeof f->msg, "default: " DEFAULT_PLATFORM);
  else if (!diag_platform_valid(f->line.s)) {
    f->ok = false;
    snprintf(f->msg, sizeof f->msg, "not OS/ARCH[/VARIANT], e.g. linux/arm64");
  } else
    snprintf(f->msg, sizeof f->msg, "the node's platform: the image must have it");
}

/* What the chain will try, in its order (creds.h): only described here. */
static void describe_credentials(struct tui *t)
{
  const char *profile = field_text(t, TUI_FIELD_PROFILE);
  const char *role = t->fields[TUI_FIELD_ROLE].ok ? field_text(t, TUI_FIELD_ROLE) : NULL;
  char base[ERR_MSG_MAX + 128];
  t->cred_bad = false;
  if (profile) {
    snprintf(t->cred_source, sizeof t->cred_source, "profile:%s", profile);
    snprintf(base, sizeof base,
             "profile:%s (its role, web identity, SSO, keys or credential_process)", profile);
  } else if (env_set("AWS_ACCESS_KEY_ID")) {
    struct aws_creds c;
    memset(&c, 0, sizeof c);
    struct err e = {0};
    /* Only which source it is; the keys are wiped at once and never shown. */
    if (creds_from_env(&c, &e) == ERR_OK) {
      snprintf(t->cred_source, sizeof t->cred_source, "%s", c.source ? c.source : "env");
      snprintf(base, sizeof base, "%s (AWS_ACCESS_KEY_ID and its secret)", t->cred_source);
    } else {
      t->cred_bad = true;
      snprintf(t->cred_source, sizeof t->cred_source, "env (unusable)");
      snprintf(base, sizeof base, "%s", e.msg);
    }
    creds_release(&c);
  } else {
    const char *var = env_set("AWS_DEFAULT_PROFILE") ? "AWS_DEFAULT_PROFILE"
                      : env_set("AWS_PROFILE")       ? "AWS_PROFILE"
                                                     : NULL;
    snprintf(t->cred_source, sizeof t->cred_source, "the default chain");
    snprintf(base, sizeof base,
             "no keys in the environment: profile '%s'%s%s%s, then the container endpoint, "
             "then instance metadata (the node's own role)",
             var ? getenv(var) : "default", var ? " (" : "", var ? var : "", var ? ")" : "");
  }
  if (role)
    snprintf(t->cred_msg, sizeof t->cred_msg, "%s; then assume-role:%s", base, role);
  else
    snprintf(t->cred_msg, sizeof t->cred_msg, "%s", base);
}

void tui_settings_changed(struct tui *t)
{
  struct creds_options co = {.profile = field_text(t, TUI_FIELD_PROFILE)};
  char *region = creds_region(&co); /* the environment, then the profile's: files only */
  snprintf(t->region_default, sizeof t->region_default, "%s", region ? region : "");
  free(region);
  check_profile(&t->fields[TUI_FIELD_PROFILE]);
  check_role(t, &t->fields[TUI_FIELD_ROLE]);
  check_region(t, &t->fields[TUI_FIELD_REGION]);
  check_platform(&t->fields[TUI_FIELD_PLATFORM]);
  describe_credentials(t);
}

void tui_settings_args(const struct tui *t, struct tui_run_args *a)
{
  a->image = t->image;
  a->profile = field_text(t, TUI_FIELD_PROFILE);
  a->role_arn = field_text(t, TUI_FIELD_ROLE);
  a->region = field_text(t, TUI_FIELD_REGION);
  a->platform = field_text(t, TUI_FIELD_PLATFORM);
}

/* ---- drawing ------------------------------------------------------------------------------ */

static void draw_label(const struct tui *t, int y, const char *label, bool focused)
{
  if (focused)
    tui_put(t, y, 1, 1, TUI_ROLE_KEY, t->g->select, 0);
  tui_put(t, y, 2, LABEL_W, TUI_ROLE_LABEL, label, 0);
}

static void draw_field(const struct tui *t, int y, const char *label, enum tui_role role,
                       const char *value, int cols)
{
  tui_put(t, y, 2, LABEL_W, TUI_ROLE_LABEL, label, 0);
  tui_put(t, y, FIELD_X, cols - 1 - FIELD_X, role, value, TUI_PUT_ELLIPSIS);
}

/* The region field's message, which depends on the image reference too. */
static void region_message(const struct tui *t, char *out, size_t n, enum tui_role *role)
{
  const struct tui_field *f = &t->fields[TUI_FIELD_REGION];
  *role = f->ok ? TUI_ROLE_DIM : TUI_ROLE_FAIL;
  if (f->ok && t->input_ok && f->line.len && strcmp(f->line.s, t->input_region) != 0) {
    *role = TUI_ROLE_WARN;
    snprintf(out, n, "the probe uses %s, the reference's: ECR is regional", t->input_region);
  } else if (f->ok && t->input_ok) {
    snprintf(out, n, "the probe uses %s, the reference's: ECR is regional", t->input_region);
  } else {
    snprintf(out, n, "%s", f->msg);
  }
}

static void field_message(const struct tui *t, enum tui_start_field i, char *out, size_t n,
                          enum tui_role *role)
{
  if (i == TUI_FIELD_REGION) {
    region_message(t, out, n, role);
    return;
  }
  *role = t->fields[i].ok ? TUI_ROLE_DIM : TUI_ROLE_FAIL;
  snprintf(out, n, "%s", t->fields[i].msg);
}

static const char *placeholder(const struct tui *t, enum tui_start_field i)
{
  switch (i) {
  case TUI_FIELD_PROFILE: return "(none)";
  case TUI_FIELD_ROLE: return "(none)";
  case TUI_FIELD_REGION: return t->region_default[0] ? t->region_default : "(none)";
  case TUI_FIELD_PLATFORM: return DEFAULT_PLATFORM;
  default: return "";
  }
}

/* One settings row: label, the line (the cursor when focused), a mark and the message cut
 * to what is left of the row. */
static void draw_setting(const struct tui *t, enum tui_start_field i, int y, int w,
                         struct tui_frame *f)
{
  const struct tui_field *fl = &t->fields[i];
  bool focused = t->start_focus == i;
  /* Wide enough for a role ARN where the screen allows, leaving room for a short note. */
  int bw = w - FIELD_X - FIELD_NOTE_W < FIELD_MAX_W ? w - FIELD_X - FIELD_NOTE_W : FIELD_MAX_W;
  draw_label(t, y, field_info[i].label, focused);
  struct tui_frame ignore = *f;
  tui_draw_line(t, &fl->line, y, FIELD_X, bw, TUI_ROLE_INPUT, focused ? f : &ignore);
  if (!fl->line.len)
    tui_put(t, y, FIELD_X + (focused ? 1 : 0), bw - (focused ? 1 : 0), TUI_ROLE_DIM,
            placeholder(t, i), TUI_PUT_ELLIPSIS);
  int x = FIELD_X + bw + 1;
  if (fl->line.len)
    tui_put(t, y, x, 1, fl->ok ? TUI_ROLE_PASS : TUI_ROLE_FAIL, fl->ok ? t->g->pass : t->g->fail,
            0);
  char msg[ERR_MSG_MAX + 64];
  enum tui_role role;
  field_message(t, i, msg, sizeof msg, &role);
  if (!focused) /* the focused field's message is shown whole below the fields */
    tui_put(t, y, x + 2, w - x - 3, role, msg, TUI_PUT_ELLIPSIS);
}

static void start_draw(const struct tui *t, struct tui_frame *f)
{
  int y = f->top, w = f->cols;
  bool on_image = t->start_focus == TUI_FIELD_IMAGE;
  y += tui_put_wrapped(t, y, 1, w - 2, 2, TUI_ROLE_NORMAL,
                       "Why can't this pod pull its image from Amazon ECR? Type or paste the "
                       "image reference of the failing pod, then Enter.");
  y++;
  tui_put(t, y, 1, 20, TUI_ROLE_LABEL, field_info[TUI_FIELD_IMAGE].label, 0);
  if (t->history.n)
    tui_putf(t, y, 18, w - 19, TUI_ROLE_DIM, "Up/Down: %zu from history", t->history.n);
  y++;
  tui_put(t, y, 1, 2, on_image ? TUI_ROLE_KEY : TUI_ROLE_DIM, t->g->arrow, 0);
  struct tui_frame ignore = *f;
  tui_draw_line(t, &t->input, y, 4, w - 5, TUI_ROLE_INPUT, on_image ? f : &ignore);
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
  tui_put(t, y, 1, LABEL_W, TUI_ROLE_LABEL, "Probe as", 0);
  tui_put(t, y++, FIELD_X, w - 1 - FIELD_X, TUI_ROLE_DIM,
          "Tab / Shift-Tab: the next / previous field", TUI_PUT_ELLIPSIS);
  for (int i = TUI_FIELD_PROFILE; i < TUI_FIELD_COUNT && y < f->bottom; i++)
    draw_setting(t, (enum tui_start_field)i, y++, w, f);
  if (y + 1 >= f->bottom)
    return;
  if (!on_image) { /* the focused field's message, whole */
    char msg[ERR_MSG_MAX + 64];
    enum tui_role role;
    field_message(t, t->start_focus, msg, sizeof msg, &role);
    y += tui_put_wrapped(t, y, FIELD_X, w - 1 - FIELD_X, 2,
                         role == TUI_ROLE_DIM ? TUI_ROLE_NORMAL : role, msg);
  }
  y++;
  if (y >= f->bottom)
    return;
  tui_put(t, y, 2, LABEL_W, TUI_ROLE_LABEL, "credentials", 0);
  y += tui_put_wrapped(t, y, FIELD_X, w - 1 - FIELD_X, 2,
                       t->cred_bad ? TUI_ROLE_FAIL : TUI_ROLE_NORMAL, t->cred_msg);
  const struct creds_options *reg = t->opt->diag.registry_creds;
  if (y < f->bottom && reg && (reg->profile || reg->role_arn)) {
    char v[512];
    snprintf(v, sizeof v, "%s%s%s%s%s", reg->profile ? "profile:" : "",
             reg->profile ? reg->profile : "", reg->profile && reg->role_arn ? ", then " : "",
             reg->role_arn ? "assume-role:" : "", reg->role_arn ? reg->role_arn : "");
    draw_field(t, y++, "registry side", TUI_ROLE_NORMAL, v, w);
  }
  if (y < f->bottom && t->opt->diag.insecure)
    draw_field(t, y++, "TLS", TUI_ROLE_WARN,
               "certificates are not verified (--no-verify-ssl): insecure", w);
  else if (y < f->bottom && t->opt->diag.ca_bundle)
    draw_field(t, y++, "TLS", TUI_ROLE_NORMAL, t->opt->diag.ca_bundle, w);
  if (y < f->bottom)
    draw_field(t, y++, "org id", TUI_ROLE_NORMAL,
               t->opt->diag.org_id
                   ? t->opt->diag.org_id
                   : "asked of Organizations (node roles usually may not: --org-id)",
               w);
  y++;
  if (y >= f->bottom)
    return;
  tui_put(t, y, 1, 24, TUI_ROLE_LABEL, "Or pick a failing pod", 0);
  tui_put(t, y, 24, w - 25, TUI_ROLE_DISABLED,
          "F2: not available yet (needs access to the cluster)", TUI_PUT_ELLIPSIS);
}

/* ---- keys --------------------------------------------------------------------------------- */

static struct tui_line *focused_line(struct tui *t)
{
  return t->start_focus == TUI_FIELD_IMAGE ? &t->input : &t->fields[t->start_focus].line;
}

static void focused_changed(struct tui *t)
{
  t->msg[0] = '\0'; /* what the message line said is about the text before the edit */
  if (t->start_focus == TUI_FIELD_IMAGE)
    tui_input_changed(t);
  else
    tui_settings_changed(t);
}

static unsigned move_focus(struct tui *t, int by)
{
  int n = TUI_FIELD_COUNT, i = ((int)t->start_focus + by + n) % n;
  t->start_focus = (enum tui_start_field)i;
  return TUI_DRAW;
}

static unsigned run(struct tui *t)
{
  if (t->input.len == 0) {
    t->start_focus = TUI_FIELD_IMAGE;
    tui_message(t, TUI_ROLE_WARN, "type an image reference first");
    return TUI_DRAW;
  }
  if (!t->input_ok) {
    t->start_focus = TUI_FIELD_IMAGE;
    tui_message(t, TUI_ROLE_FAIL, "not an ECR image reference: %s", t->input_msg);
    return TUI_DRAW;
  }
  for (int i = TUI_FIELD_PROFILE; i < TUI_FIELD_COUNT; i++) {
    if (!t->fields[i].ok) {
      t->start_focus = (enum tui_start_field)i;
      tui_message(t, TUI_ROLE_FAIL, "%s: %s", field_info[i].name, t->fields[i].msg);
      return TUI_DRAW;
    }
  }
  snprintf(t->image, sizeof t->image, "%s", t->input.s);
  return TUI_DO_RUN | TUI_DRAW;
}

static unsigned start_act(struct tui *t, enum tui_action a, int key)
{
  bool changed = false;
  bool on_image = t->start_focus == TUI_FIELD_IMAGE;
  switch (a) {
  case TUI_ACT_RUN: return run(t);
  case TUI_ACT_NEXT_FIELD: return move_focus(t, 1);
  case TUI_ACT_PREV_FIELD: return move_focus(t, -1);
  case TUI_ACT_UP:
    if (!on_image)
      return move_focus(t, -1);
    if (t->history_pos == 0)
      return TUI_NOTHING;
    t->history_pos--;
    tui_line_set(&t->input, t->history.items[t->history_pos]);
    tui_input_changed(t);
    return TUI_DRAW;
  case TUI_ACT_DOWN:
    /* Past the newest reference in history, Down goes on to the settings. */
    if (!on_image || t->history_pos >= t->history.n)
      return t->start_focus + 1 < TUI_FIELD_COUNT ? move_focus(t, 1) : TUI_NOTHING;
    t->history_pos++;
    tui_line_set(&t->input, t->history_pos < t->history.n ? t->history.items[t->history_pos] : "");
    tui_input_changed(t);
    return TUI_DRAW;
  case TUI_ACT_CLEAR_INPUT:
    tui_line_set(focused_line(t), "");
    focused_changed(t);
    return TUI_DRAW;
  case TUI_ACT_EDIT:
    if (!tui_line_edit(focused_line(t), key, &changed))
      return TUI_NOTHING;
    if (changed)
      focused_changed(t);
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
  if (!tui_line_insert(focused_line(t), ch))
    return TUI_NOTHING;
  focused_changed(t);
  return TUI_DRAW;
}

const struct tui_view_ops tui_view_start = {
    .title = "Start",
    .draw = start_draw,
    .act = start_act,
    .on_char = start_char,
};
