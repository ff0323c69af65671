/* The key binding table of the TUI: the single source of dispatch, of the key bar at the
 * bottom of every screen and of the help screen. Add a key here and all three follow.
 * Depends on curses for the key codes only; knows nothing of what the actions do. */
#include <curses.h>

#define TUI_INTERNAL
#include "tui.h"

/* clang-format off */ /* the table reads better aligned by hand */
#define CTRL(c) ((c) & 0x1f)
#define ESC 27
#define ENTER '\n', '\r', KEY_ENTER
#define EDIT_KEYS                                                                              \
  KEY_LEFT, KEY_RIGHT, KEY_HOME, KEY_END, KEY_BACKSPACE, 127, KEY_DC, CTRL('W')
#define START TUI_IN(TUI_VIEW_START)
#define PROBE TUI_IN(TUI_VIEW_PROBE)
#define DIAG TUI_IN(TUI_VIEW_DIAG)
#define FIX TUI_IN(TUI_VIEW_FIX)

/* Order matters twice: the first match in a scope wins, and the key bar lists a scope's
 * entries in this order until the screen is full (so help and quit come first). */
const struct tui_binding tui_bindings[] = {
    {{'?', KEY_F(1)}, "?", TUI_IN_SCREENS, TUI_ACT_HELP, "help", "this help (F1 too)"},

    /* start screen: printable keys not bound here are typed into the focused line (the
     * image reference, or one of the settings: profile, role ARN, region, platform) */
    {{ENTER}, "Enter", START, TUI_ACT_RUN, "probe",
     "probe the image reference as typed, with the settings shown"},
    {{'\t'}, "Tab", START, TUI_ACT_NEXT_FIELD, "settings",
     "the next line: image reference, profile, role ARN, region, platform"},
    {{KEY_BTAB}, "Shift-Tab", START, TUI_ACT_PREV_FIELD, NULL, "the previous line"},
    {{KEY_UP}, "Up", START, TUI_ACT_UP, "history",
     "on the image reference: an older one from history; on a setting: the line above"},
    {{KEY_DOWN}, "Down", START, TUI_ACT_DOWN, NULL,
     "on the image reference: a newer one from history, then the settings; on a setting: "
     "the line below"},
    {{ESC}, "Esc", START, TUI_ACT_QUIT, "quit", "quit"},
    {{KEY_F(2)}, "F2", START, TUI_ACT_PICK_POD, "pick a pod",
     "pick a failing pod from the cluster (not available yet)"},
    {{CTRL('U')}, "Ctrl-U", START, TUI_ACT_CLEAR_INPUT, NULL, "clear the focused line"},
    {{EDIT_KEYS}, "Left/Right/Home/End/Bksp/Del", START | TUI_IN_PROMPT, TUI_ACT_EDIT, NULL,
     "edit the line (Ctrl-W deletes a word)"},
    {{CTRL('A'), CTRL('E'), CTRL('K')}, "Ctrl-A/E/K", START | TUI_IN_PROMPT, TUI_ACT_EDIT, NULL,
     "start / end of the line, delete to its end"},

    /* probe screen */
    {{'q'}, "q", PROBE, TUI_ACT_CANCEL_QUIT, "cancel & quit",
     "cancel the probe and quit (the request in flight ends within its timeout)"},
    {{ESC}, "Esc", PROBE, TUI_ACT_CANCEL, "cancel", "cancel the probe, back to the image"},

    /* the result screens */
    {{'q'}, "q", DIAG | FIX, TUI_ACT_QUIT, "quit", "quit"},
    {{'\t', KEY_BTAB}, "Tab", DIAG, TUI_ACT_NEXT_SCREEN, "fix", "the fix screen"},
    {{'\t', KEY_BTAB}, "Tab", FIX, TUI_ACT_NEXT_SCREEN, "diagnosis", "the diagnosis screen"},
    {{'s'}, "s", DIAG | FIX, TUI_ACT_SAVE_REPORT, "save report",
     "save the JSON report (asks for the file name)"},
    {{'r'}, "r", PROBE | DIAG | FIX, TUI_ACT_RERUN, "re-run", "run the diagnosis again"},
    {{'n'}, "n", PROBE | DIAG | FIX, TUI_ACT_NEW_IMAGE, "new",
     "a new image reference: back to the start screen"},

    /* diagnosis screen */
    {{ENTER}, "Enter", DIAG, TUI_ACT_DETAILS, "details",
     "the selected finding and check in full, with all the evidence"},
    {{KEY_LEFT, KEY_RIGHT, 'h', 'l'}, "Left/Right", DIAG, TUI_ACT_FOCUS, "pane",
     "move between the findings and the checks"},
    {{KEY_UP, 'k'}, "Up/k", DIAG, TUI_ACT_UP, NULL, "select the previous finding or check"},
    {{KEY_DOWN, 'j'}, "Down/j", DIAG, TUI_ACT_DOWN, NULL, "select the next finding or check"},

    /* fix screen */
    {{'1'}, "1-5", FIX, TUI_ACT_TAB_1, "tab",
     "statement, document, aws CLI, Terraform, CloudFormation"},
    {{'2'}, "2", FIX, TUI_ACT_TAB_2, NULL, NULL},
    {{'3'}, "3", FIX, TUI_ACT_TAB_3, NULL, NULL},
    {{'4'}, "4", FIX, TUI_ACT_TAB_4, NULL, NULL},
    {{'5'}, "5", FIX, TUI_ACT_TAB_5, NULL, NULL},
    {{KEY_LEFT, 'h'}, "Left/h", FIX, TUI_ACT_LEFT, NULL, "the previous tab"},
    {{KEY_RIGHT, 'l'}, "Right/l", FIX, TUI_ACT_RIGHT, NULL, "the next tab"},
    {{'w'}, "w", FIX, TUI_ACT_WRITE_FIX, "write", "write this tab to a file"},
    {{'y'}, "y", FIX, TUI_ACT_COPY_FIX, "copy",
     "copy this tab to the clipboard (OSC 52: works through ssh and tmux)"},
    {{'a'}, "a", FIX, TUI_ACT_APPLY_FIX, NULL,
     "apply the fix to the account (not available yet)"},

    /* scrolling: the fix screen and the pager */
    {{KEY_UP, 'k'}, "Up/k", FIX | TUI_IN_PAGER, TUI_ACT_UP, NULL, "scroll up"},
    {{KEY_DOWN, 'j'}, "Down/j", FIX | TUI_IN_PAGER, TUI_ACT_DOWN, NULL, "scroll down"},
    {{KEY_PPAGE}, "PgUp", DIAG | FIX | TUI_IN_PAGER, TUI_ACT_PAGE_UP, NULL, "a page up"},
    {{KEY_NPAGE, ' '}, "PgDn/Space", DIAG | FIX | TUI_IN_PAGER, TUI_ACT_PAGE_DOWN, NULL,
     "a page down"},
    {{KEY_HOME, 'g'}, "Home/g", FIX | TUI_IN_PAGER, TUI_ACT_HOME, NULL, "the top"},
    {{KEY_END, 'G'}, "End/G", FIX | TUI_IN_PAGER, TUI_ACT_END, NULL, "the bottom"},
    {{ESC, 'q', '?', ENTER}, "Esc/q/Enter", TUI_IN_PAGER, TUI_ACT_CLOSE, "close", "close"},

    /* the file name prompt */
    {{ENTER}, "Enter", TUI_IN_PROMPT, TUI_ACT_CONFIRM, "save", "save to the file named"},
    {{ESC}, "Esc", TUI_IN_PROMPT, TUI_ACT_CLOSE, "cancel", "do not save"},
};
/* clang-format on */
const size_t tui_bindings_len = sizeof tui_bindings / sizeof tui_bindings[0];

const struct tui_binding *tui_binding_find(unsigned scope, int key)
{
  if (key == 0)
    return NULL;
  for (size_t i = 0; i < tui_bindings_len; i++) {
    const struct tui_binding *b = &tui_bindings[i];
    if (!(b->scope & scope))
      continue;
    for (size_t k = 0; k < TUI_BINDING_KEYS && b->keys[k]; k++)
      if (b->keys[k] == key)
        return b;
  }
  return NULL;
}
