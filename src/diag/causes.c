/* The cause catalogue as data: ids, classes, precedence and titles from the CAUSES list.
 * Documentation pages live in docs/causes/ID.md; a test checks the two agree.
 * Depends on nothing. */
#include "ecrdiag/causes.h"

#include <string.h>

#define CAUSE_ROW(id, cls, prec, title) {#id, CAUSE_CLASS_##cls, prec, title},
static const struct cause_info cause_table[] = {CAUSES(CAUSE_ROW)};
#undef CAUSE_ROW

const struct cause_info *cause_info(enum cause_id id)
{
  if ((unsigned)id >= CAUSE_COUNT)
    return &cause_table[CAUSE_UNKNOWN];
  return &cause_table[id];
}

enum cause_id cause_from_string(const char *s)
{
  for (int i = 0; i < CAUSE_COUNT; i++)
    if (strcmp(cause_table[i].id, s) == 0)
      return (enum cause_id)i;
  return CAUSE_COUNT;
}

const char *cause_class_name(enum cause_class cls)
{
  switch (cls) {
  case CAUSE_CLASS_PULL: return "pull";
  case CAUSE_CLASS_TOOL: return "tool";
  case CAUSE_CLASS_INPUT: return "input";
  case CAUSE_CLASS_WARNING: return "warning";
  }
  return "pull";
}

int cause_class_exit_code(enum cause_class cls)
{
  switch (cls) {
  case CAUSE_CLASS_PULL: return 1;
  case CAUSE_CLASS_INPUT: return 2;
  case CAUSE_CLASS_TOOL: return 3;
  case CAUSE_CLASS_WARNING: return 0;
  }
  return 1;
}
