/* The interactive troubleshooting TUI: start, probe, diagnosis and fix screens over the one
 * diagnosis model that the reports render. The public part is tui_main(); the part under
 * TUI_INTERNAL is shared by the files of src/tui only. No AWS or policy logic lives here, and
 * curses stays inside src/tui (this header does not include it). */
#ifndef ECRDIAG_TUI_H
#define ECRDIAG_TUI_H

#include <stdbool.h>

#include "ecrdiag/diag.h"

/* What the command line hands over; borrowed for the call to tui_main. */
struct tui_options {
  bool no_color; /* --no-color; NO_COLOR is honoured as well */
  /* What every diagnosis starts from, as the one-shot check would run it: the start screen
   * shows the image, the platform and the probing principal's profile, role ARN and region
   * (diag.creds, which may be NULL) and lets them be changed in place; the rest (the registry
   * view, the fix's settings, TLS, --on-node, the timeout) goes to every run as given. Its
   * progress and cancel fields are the TUI's own and are ignored. */
  struct diag_options diag;
};

/* Runs the TUI until the user quits and returns the process exit code: that of the last
 * diagnosis (as the one-shot check gives it), 0 when none was completed, 2 (after a usage
 * line on stderr) when stdin or stdout is not a terminal, 3 when the terminal cannot be
 * set up, 128 + the signal after SIGINT, SIGTERM or SIGHUP. The terminal is restored on
 * every path. Call it at most once per process. */
int tui_main(const struct tui_options *o);

#ifdef TUI_INTERNAL
/* ---- shared by the files of src/tui ------------------------------------------------------ */
#include <pthread.h>
#include <stddef.h>

#include "ecrdiag/diag.h"
#include "ecrdiag/err.h"

/* -- screens, and what a handler asks of the main loop -- */

enum tui_view_id { TUI_VIEW_START, TUI_VIEW_PROBE, TUI_VIEW_DIAG, TUI_VIEW_FIX, TUI_VIEW_COUNT };

/* Binding scopes: the four screens, plus the pager and the prompt that overlay them. */
#define TUI_IN(v) (1u << (v))
#define TUI_IN_PAGER (1u << 8)
#define TUI_IN_PROMPT (1u << 9)
/* clang-format off */
#define TUI_IN_SCREENS (TUI_IN(TUI_VIEW_START) | TUI_IN(TUI_VIEW_PROBE) | TUI_IN(TUI_VIEW_DIAG) | \
                        TUI_IN(TUI_VIEW_FIX))
#define TUI_IN_RESULT (TUI_IN(TUI_VIEW_DIAG) | TUI_IN(TUI_VIEW_FIX))

enum {
  TUI_NOTHING = 0,
  TUI_DRAW = 1u << 0,      /* repaint the screen */
  TUI_CLEAR = 1u << 1,     /* repaint from scratch (after a resize) */
  TUI_DO_RUN = 1u << 2,    /* start a diagnosis of t->image */
  TUI_DO_CANCEL = 1u << 3, /* cancel the diagnosis in flight */
  TUI_DO_QUIT = 1u << 4,   /* leave (after the diagnosis in flight has stopped) */
  TUI_DO_COPY = 1u << 5,   /* send t->clip to the terminal's clipboard (OSC 52) */
};

#define TUI_ACTIONS(X)                                                                          \
  X(NONE) X(HELP) X(QUIT) X(RUN) X(EDIT) X(CLEAR_INPUT) X(NEXT_FIELD) X(PREV_FIELD)            \
  X(PICK_POD) X(CANCEL) X(CANCEL_QUIT) X(RERUN) X(NEW_IMAGE) X(SAVE_REPORT) X(NEXT_SCREEN)      \
  X(FOCUS) X(UP) X(DOWN) X(PAGE_UP) X(PAGE_DOWN) X(HOME) X(END) X(LEFT) X(RIGHT) X(DETAILS)     \
  X(TAB_1) X(TAB_2) X(TAB_3) X(TAB_4) X(TAB_5) X(WRITE_FIX) X(COPY_FIX) X(APPLY_FIX) X(CLOSE)   \
  X(CONFIRM)
#define TUI_ACTION_ENUM(name) TUI_ACT_##name,
enum tui_action { TUI_ACTIONS(TUI_ACTION_ENUM) TUI_ACT_COUNT };
#undef TUI_ACTION_ENUM

/* clang-format on */

/* -- the key binding table: dispatch, the key bar and the help screen all come from it -- */

#define TUI_BINDING_KEYS 8
struct tui_binding {
  int keys[TUI_BINDING_KEYS]; /* curses key codes or characters, 0-terminated */
  const char *label;          /* how the help and the key bar name the keys: "Up/k" */
  unsigned scope;             /* TUI_IN(...) bits */
  enum tui_action action;
  const char *bar;  /* a word or two for the key bar; NULL: help screen only */
  const char *help; /* one line for the help screen */
};

extern const struct tui_binding tui_bindings[];
extern const size_t tui_bindings_len;

/* The binding of key in scope, or NULL. */
const struct tui_binding *tui_binding_find(unsigned scope, int key);

/* -- theme: every colour and attribute in one table (tui_theme.c) -- */

/* clang-format off */
enum tui_role {
  TUI_ROLE_NORMAL, TUI_ROLE_TITLE, TUI_ROLE_TAB, TUI_ROLE_TAB_ACTIVE, TUI_ROLE_BAR,
  TUI_ROLE_KEY, TUI_ROLE_LABEL, TUI_ROLE_DIM, TUI_ROLE_PASS, TUI_ROLE_FAIL, TUI_ROLE_ERROR,
  TUI_ROLE_RUNNING, TUI_ROLE_SELECTED, TUI_ROLE_ADDED, TUI_ROLE_WARN, TUI_ROLE_VERDICT_GOOD,
  TUI_ROLE_VERDICT_BAD, TUI_ROLE_VERDICT_UNKNOWN, TUI_ROLE_INPUT, TUI_ROLE_DISABLED,
  TUI_ROLE_BOX, TUI_ROLE_COUNT
};

/* clang-format on */

/* The glyphs of one character set: UTF-8, or ASCII when the locale is not UTF-8. */
struct tui_glyphs {
  const char *pass, *fail, *error, *skipped, *waiting, *ellipsis, *hline, *vline, *select, *added,
      *wrap, *arrow, *dot;
  const char *const *spinner;
  size_t n_spinner;
};

/* Starts colours when wanted and possible; false: attributes only. */
bool tui_theme_init(bool want_color);
/* The curses attributes of a role (colour pair included when color). */
unsigned long tui_theme_attr(bool color, enum tui_role role);
/* The glyph set for a locale with (utf8) or without UTF-8. */
const struct tui_glyphs *tui_glyphs_get(bool utf8);

/* -- the line editor (image input and prompts) -- */

#define TUI_LINE_MAX 1024
struct tui_line {
  char s[TUI_LINE_MAX + 1];
  size_t len;
  size_t cur; /* cursor, a byte offset: the editor accepts printable ASCII only */
};

void tui_line_set(struct tui_line *l, const char *s);
/* Inserts a printable ASCII character at the cursor; false when ignored. */
bool tui_line_insert(struct tui_line *l, int ch);
/* Applies an editing key (arrows, Home/End, Backspace, Delete, Ctrl-A/E/K/W); true when the
 * text or the cursor changed. */
bool tui_line_edit(struct tui_line *l, int key, bool *changed);

/* -- lines of text to show: wrapped prose, pagers, the fix tabs -- */

struct tui_doc {
  char **lines;         /* each NUL-terminated, no newline */
  unsigned char *marks; /* per line: 1 when the fix adds it */
  size_t n, cap;
  char *raw; /* the text as it is saved or copied, or NULL when there is none */
};

void tui_doc_release(struct tui_doc *doc);
/* Appends one line (copied up to n bytes); false when out of memory. */
bool tui_doc_add(struct tui_doc *doc, const char *s, size_t n, bool mark);
/* Appends every line of text (split at newlines). */
bool tui_doc_add_text(struct tui_doc *doc, const char *text, bool mark);
/* Appends each line of text (code, JSON) wrapped at width columns, a wrapped line's rest
 * indented two more than the line itself. */
bool tui_doc_add_code(struct tui_doc *doc, const char *text, int width);
/* Appends text wrapped at width columns, each line after the first indented by indent. */
bool tui_doc_add_wrapped(struct tui_doc *doc, const char *text, int width, int indent);

/* The byte length of the next line when text is wrapped at width columns (at a space where
 * there is one); *next is where the line after it starts. 0 at the end of the text. */
size_t tui_wrap_next(const char *text, int width, const char **next);
/* Display columns of s (one per code point: the model holds no wide characters). */
int tui_text_width(const char *s);

/* -- the diagnosis in flight: a worker thread and the progress it shares (tui_run.c) -- */

enum tui_item_state { TUI_ITEM_WAITING, TUI_ITEM_RUNNING, TUI_ITEM_DONE, TUI_ITEM_SKIPPED };

struct tui_item {
  const char *id; /* static, from diag_plan[] or the check */
  enum tui_item_state state;
  enum check_status status; /* when DONE */
  bool needed_for_pull;     /* when DONE: false for context checks (see diag_check) */
  long started_ms;          /* monotonic, when RUNNING or DONE */
  long duration_ms;         /* when DONE */
  long http_status;
  char error_code[64];
};

struct tui_progress {
  struct tui_item items[DIAG_MAX_CHECKS];
  size_t n_items;
  bool finished; /* the worker has returned from diag_run */
};

struct tui_run; /* opaque: tui_run.c */

/* What the start screen lets the user change, for one diagnosis; borrowed, NULL or "" for
 * none (the command line's value is already in the field when it gave one). */
struct tui_run_args {
  const char *image;
  const char *profile;
  const char *role_arn;
  const char *region;
  const char *platform;
};

/* Starts diag_run on a worker thread with a's settings and the rest of o (both copied: the
 * worker owns what it reads). The credential chain runs there too: it may call IMDS, SSO or
 * STS, which the screen must not wait for. NULL with e filled when the thread cannot start. */
struct tui_run *tui_run_start(const struct tui_options *o, const struct tui_run_args *a,
                              struct err *e);
/* Copies the shared progress (under the lock) for drawing. */
void tui_run_progress(struct tui_run *r, struct tui_progress *out);
/* Asks the worker to stop before its next request (requests are bounded by their timeout). */
void tui_run_cancel(struct tui_run *r);
bool tui_run_cancelled(const struct tui_run *r);
/* Once the progress says finished: joins the worker and hands over the diagnosis (the caller
 * releases it with diag_release and frees it) and diag_run's code; e gets its message. */
struct diagnosis *tui_run_finish(struct tui_run *r, enum err_code *rc, struct err *e);
/* Joins the worker (blocking until it stops) and frees everything. Accepts NULL. */
void tui_run_free(struct tui_run *r);
/* Leaves the worker to end with the process (a second quit while it is still stopping). */
void tui_run_abandon(struct tui_run *r);
/* Milliseconds of a monotonic clock. */
long tui_now_ms(void);

/* -- files: history, reports, saved fixes (tui_files.c) -- */

#define TUI_HISTORY_MAX 100
struct tui_history {
  char *items[TUI_HISTORY_MAX]; /* oldest first */
  size_t n;
  char *path; /* NULL when there is no state directory */
};

void tui_history_load(struct tui_history *h);
/* Adds ref as the newest entry (moving an older copy) and rewrites the file. */
enum err_code tui_history_add(struct tui_history *h, const char *ref, struct err *e);
void tui_history_release(struct tui_history *h);
/* Writes text to path whole (a temporary name, then rename). */
enum err_code tui_file_write(const char *path, const char *text, struct err *e);
bool tui_file_exists(const char *path);

/* -- the state of one session: views read it to draw, handlers change it -- */

enum tui_focus { TUI_FOCUS_FINDINGS, TUI_FOCUS_CHECKS };
enum tui_prompt_kind { TUI_PROMPT_NONE, TUI_PROMPT_SAVE_REPORT, TUI_PROMPT_SAVE_FIX };
enum tui_fix_tab {
  TUI_FIX_STATEMENT,
  TUI_FIX_DOCUMENT,
  TUI_FIX_CLI,
  TUI_FIX_TERRAFORM,
  TUI_FIX_CFN,
  TUI_FIX_TAB_COUNT
};

#define TUI_MSG_MAX 512

/* The start screen's lines, in Tab order: the image reference, then the settings. */
enum tui_start_field {
  TUI_FIELD_IMAGE,
  TUI_FIELD_PROFILE,
  TUI_FIELD_ROLE,
  TUI_FIELD_REGION,
  TUI_FIELD_PLATFORM,
  TUI_FIELD_COUNT
};

/* One setting on the start screen, validated as typed. */
struct tui_field {
  struct tui_line line;
  bool ok;               /* empty (the default applies) or valid */
  char msg[ERR_MSG_MAX]; /* what is wrong, or what will be used */
};

struct tui {
  const struct tui_options *opt;
  bool utf8, color;
  const struct tui_glyphs *g;
  int rows, cols;
  long now_ms;
  unsigned tick;
  enum tui_view_id view;

  /* start screen */
  struct tui_line input;
  bool input_ok;               /* imageref_parse accepts it */
  char input_msg[ERR_MSG_MAX]; /* what is wrong, or what was understood */
  char input_region[32];
  struct tui_history history;
  size_t history_pos; /* == history.n: not browsing */
  enum tui_start_field start_focus;
  struct tui_field fields[TUI_FIELD_COUNT]; /* [TUI_FIELD_IMAGE] unused: that is input */
  /* What the probe will try, described (the chain itself runs in the worker): a short name
   * for the probe screen ("env", "profile 'dev'", "the default chain") and the whole of it. */
  char cred_source[96];
  char cred_msg[ERR_MSG_MAX + 256];
  bool cred_bad;           /* the environment's keys are set but unusable */
  char region_default[64]; /* creds_region() for the profile: the region field's placeholder */

  /* the diagnosis in flight, or the last one */
  char image[TUI_LINE_MAX + 1];
  struct tui_run *run;
  struct tui_progress progress;
  bool quit_when_stopped; /* leave once the cancelled worker has returned */
  struct diagnosis *diag; /* the last finished diagnosis, or NULL */
  enum err_code diag_rc;
  char diag_err[ERR_MSG_MAX];

  /* diagnosis screen */
  enum tui_focus focus;
  size_t sel_finding, sel_check;

  /* fix screen */
  enum tui_fix_tab fix_tab;
  struct tui_doc fix_docs[TUI_FIX_TAB_COUNT];
  size_t fix_scroll;

  /* overlays */
  bool pager_open;
  char pager_title[96];
  struct tui_doc pager;
  size_t pager_scroll;
  enum tui_prompt_kind prompt;
  char prompt_label[96];
  struct tui_line prompt_line;
  bool prompt_confirm; /* the file exists: Enter again overwrites */

  char msg[TUI_MSG_MAX]; /* the message line */
  enum tui_role msg_role;
  char *clip; /* text for TUI_DO_COPY (owned) */
  int exit_code;
};

/* Where a view draws, and where it wants the cursor. */
struct tui_frame {
  int top, bottom; /* body rows [top, bottom) */
  int cols;
  int cursor_y, cursor_x; /* -1: hidden */
};

struct tui_view_ops {
  const char *title; /* in the title bar */
  void (*draw)(const struct tui *t, struct tui_frame *f);
  /* A bound action that is this view's to handle; returns TUI_* flags. */
  unsigned (*act)(struct tui *t, enum tui_action a, int key);
  /* An unbound printable key (text input); NULL: ignored. */
  unsigned (*on_char)(struct tui *t, int ch);
};

extern const struct tui_view_ops tui_view_start, tui_view_probe, tui_view_diag, tui_view_fix;

/* Shared by the views (tui.c). */
/* The body rows the main loop gives a view (between the title and the message line). */
void tui_body_frame(const struct tui *t, struct tui_frame *f);
/* Selects the primary finding and its check (after a run). */
void tui_diag_reset(struct tui *t);
void tui_message(struct tui *t, enum tui_role role, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Re-reads the input line: validation message, region. */
void tui_input_changed(struct tui *t);
/* Fills the settings fields from the options (once, at start). */
void tui_settings_init(struct tui *t);
/* Re-validates the settings fields and re-describes the credentials the probe will try
 * (reads the environment and the AWS config files' region; no network). */
void tui_settings_changed(struct tui *t);
/* The run's settings from the fields (pointers into t). */
void tui_settings_args(const struct tui *t, struct tui_run_args *a);
/* Builds the fix tabs from t->diag (after a run or on entering the fix screen). */
void tui_fix_prepare(struct tui *t);
/* Opens the pager with doc (taken over) under title. */
void tui_pager_open(struct tui *t, const char *title, struct tui_doc *doc);
/* Opens the prompt for a file name, prefilled with def. */
void tui_prompt_open(struct tui *t, enum tui_prompt_kind kind, const char *label, const char *def);

/* -- drawing: the only functions that call curses for the views (tui_draw.c) -- */

enum { TUI_PUT_ELLIPSIS = 1 }; /* mark a cut with the ellipsis glyph */

/* Draws s at (y, x) in at most maxw columns with role; control characters become spaces and,
 * without UTF-8, other non-ASCII characters '?'. Returns the columns drawn. */
int tui_put(const struct tui *t, int y, int x, int maxw, enum tui_role role, const char *s,
            unsigned flags);
/* Like tui_put for the first n bytes of s. */
int tui_putn(const struct tui *t, int y, int x, int maxw, enum tui_role role, const char *s,
             size_t n, unsigned flags);
/* printf-style tui_put. */
int tui_putf(const struct tui *t, int y, int x, int maxw, enum tui_role role, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* Fills w columns with spaces (or the glyph g when not NULL) in role. */
void tui_fill(const struct tui *t, int y, int x, int w, enum tui_role role, const char *g);
/* Draws a line editor in w columns, scrolled so the cursor shows; sets the frame's cursor. */
void tui_draw_line(const struct tui *t, const struct tui_line *l, int y, int x, int w,
                   enum tui_role role, struct tui_frame *f);
/* Draws text wrapped in [x, x + w) from row y, at most max_rows rows; returns rows used. When
 * cut, the last row ends with the ellipsis glyph. */
int tui_put_wrapped(const struct tui *t, int y, int x, int w, int max_rows, enum tui_role role,
                    const char *text);
/* The status word and role of a check ("pass", "FAIL", "error", "skipped"). */
/* A context-only check (needed false) that did not pass shows as "n/a", dimmed: being
 * refused it says nothing about the pull. */
const char *tui_status_word(enum check_status s, bool needed);
enum tui_role tui_status_role(enum check_status s, bool needed);
const char *tui_status_glyph(const struct tui *t, enum check_status s, bool needed);
/* "120 ms" / "3.2 s" into out. */
void tui_format_ms(long ms, char *out, size_t n);

#endif /* TUI_INTERNAL */

#endif
