/* The TUI's look in two tables: the theme (colour pair and attributes of every role, with the
 * attributes used instead on terminals without colour or under NO_COLOR) and the glyph sets
 * (UTF-8, and ASCII for other locales). Views name roles and glyphs, never colours.
 * Depends on curses only. */
#include <curses.h>

#define TUI_INTERNAL
#include "tui.h"

struct theme_row {
  short fg, bg;      /* -1: the terminal's default */
  attr_t color_attr; /* with the pair */
  attr_t mono_attr;  /* without colour */
};

/* clang-format off */
static const struct theme_row theme[] = {
    [TUI_ROLE_NORMAL] = {-1, -1, A_NORMAL, A_NORMAL},
    [TUI_ROLE_TITLE] = {COLOR_BLACK, COLOR_CYAN, A_BOLD, A_REVERSE | A_BOLD},
    [TUI_ROLE_TAB] = {COLOR_BLACK, COLOR_CYAN, A_NORMAL, A_REVERSE},
    [TUI_ROLE_TAB_ACTIVE] = {COLOR_WHITE, COLOR_BLUE, A_BOLD, A_BOLD | A_UNDERLINE},
    [TUI_ROLE_BAR] = {COLOR_BLACK, COLOR_WHITE, A_NORMAL, A_REVERSE},
    [TUI_ROLE_KEY] = {COLOR_BLUE, COLOR_WHITE, A_BOLD, A_REVERSE | A_BOLD},
    [TUI_ROLE_LABEL] = {-1, -1, A_BOLD, A_BOLD},
    [TUI_ROLE_DIM] = {-1, -1, A_DIM, A_DIM},
    [TUI_ROLE_PASS] = {COLOR_GREEN, -1, A_BOLD, A_NORMAL},
    [TUI_ROLE_FAIL] = {COLOR_RED, -1, A_BOLD, A_BOLD},
    [TUI_ROLE_ERROR] = {COLOR_YELLOW, -1, A_BOLD, A_BOLD | A_UNDERLINE},
    [TUI_ROLE_RUNNING] = {COLOR_CYAN, -1, A_BOLD, A_BOLD},
    [TUI_ROLE_SELECTED] = {COLOR_BLACK, COLOR_CYAN, A_NORMAL, A_REVERSE},
    [TUI_ROLE_ADDED] = {COLOR_GREEN, -1, A_BOLD, A_BOLD},
    [TUI_ROLE_WARN] = {COLOR_YELLOW, -1, A_NORMAL, A_UNDERLINE},
    [TUI_ROLE_VERDICT_GOOD] = {COLOR_BLACK, COLOR_GREEN, A_BOLD, A_REVERSE | A_BOLD},
    [TUI_ROLE_VERDICT_BAD] = {COLOR_WHITE, COLOR_RED, A_BOLD, A_REVERSE | A_BOLD},
    [TUI_ROLE_VERDICT_UNKNOWN] = {COLOR_BLACK, COLOR_YELLOW, A_BOLD, A_REVERSE},
    [TUI_ROLE_INPUT] = {-1, -1, A_UNDERLINE, A_UNDERLINE},
    [TUI_ROLE_DISABLED] = {-1, -1, A_DIM, A_DIM},
    [TUI_ROLE_BOX] = {COLOR_CYAN, -1, A_NORMAL, A_NORMAL},
};

/* clang-format on */

_Static_assert(sizeof theme / sizeof theme[0] == TUI_ROLE_COUNT, "a theme row for every role");

bool tui_theme_init(bool want_color)
{
  if (!want_color || !has_colors() || start_color() == ERR || COLORS < 8 ||
      COLOR_PAIRS <= TUI_ROLE_COUNT)
    return false;
  bool defaults = use_default_colors() == OK;
  for (int i = 0; i < TUI_ROLE_COUNT; i++) {
    short fg = theme[i].fg, bg = theme[i].bg;
    if (!defaults) { /* -1 means nothing without default colours */
      fg = fg < 0 ? COLOR_WHITE : fg;
      bg = bg < 0 ? COLOR_BLACK : bg;
    }
    init_pair((short)(i + 1), fg, bg);
  }
  return true;
}

unsigned long tui_theme_attr(bool color, enum tui_role role)
{
  if (role >= TUI_ROLE_COUNT)
    role = TUI_ROLE_NORMAL;
  const struct theme_row *r = &theme[role];
  if (!color)
    return r->mono_attr;
  return (unsigned long)COLOR_PAIR((int)role + 1) | r->color_attr;
}

static const char *const spinner_utf8[] = {"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"};
static const char *const spinner_ascii[] = {"|", "/", "-", "\\"};

static const struct tui_glyphs glyphs_utf8 = {
    .pass = "✓",
    .fail = "✗",
    .error = "!",
    .skipped = "–",
    .waiting = "·",
    .ellipsis = "…",
    .hline = "─",
    .vline = "│",
    .select = "▶",
    .added = "+",
    .wrap = "↪",
    .arrow = "→",
    .dot = "•",
    .spinner = spinner_utf8,
    .n_spinner = sizeof spinner_utf8 / sizeof spinner_utf8[0],
};

static const struct tui_glyphs glyphs_ascii = {
    .pass = "+",
    .fail = "x",
    .error = "!",
    .skipped = "-",
    .waiting = ".",
    .ellipsis = "~",
    .hline = "-",
    .vline = "|",
    .select = ">",
    .added = "+",
    .wrap = ">",
    .arrow = "->",
    .dot = "*",
    .spinner = spinner_ascii,
    .n_spinner = sizeof spinner_ascii / sizeof spinner_ascii[0],
};

const struct tui_glyphs *tui_glyphs_get(bool utf8)
{
  return utf8 ? &glyphs_utf8 : &glyphs_ascii;
}
