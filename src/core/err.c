/* Error codes and messages: the ERR_CODES list turned into names and sentences.
 * Depends on nothing but libc. */
#include "ecrdiag/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ERR_TEXT_ITEM(name, text) text,
#define ERR_NAME_ITEM(name, text) #name,
static const char *const err_texts[] = {ERR_CODES(ERR_TEXT_ITEM)};
static const char *const err_names[] = {ERR_CODES(ERR_NAME_ITEM)};

const char *err_code_str(enum err_code code)
{
  if ((unsigned)code >= ERR_CODE_COUNT)
    return "unknown error";
  return err_texts[code];
}

const char *err_code_name(enum err_code code)
{
  if ((unsigned)code >= ERR_CODE_COUNT)
    return "ERR_UNKNOWN";
  return err_names[code];
}

enum err_code err_set(struct err *e, enum err_code code, const char *fmt, ...)
{
  if (!e)
    return code;
  e->code = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  return code;
}

void err_clear(struct err *e)
{
  if (!e)
    return;
  e->code = ERR_OK;
  e->msg[0] = '\0';
}
