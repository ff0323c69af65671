/* `ecrdiag explain`: gathers the message (arguments or standard input, bounded), asks the
 * explain module for the likely causes and prints them as text or JSON. No rules live here:
 * everything is behind include/ecrdiag/explain.h. */
#include "cmd_explain.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ecrdiag/buf.h"
#include "ecrdiag/explain.h"

#define EXIT_NAMED 0
#define EXIT_NOTHING 1
#define EXIT_USAGE 2
#define EXPLAIN_OUTPUT_MAX_BYTES (256 * 1024)

static void explain_usage(FILE *out)
{
  fprintf(out, "usage: ecrdiag explain [MESSAGE... | -] [--output text|json]\n\n"
               "Names the likely causes of an image pull error, offline: paste the message as\n"
               "`kubectl describe pod` shows it (Failed to pull image ...), or pipe it in with -.\n"
               "At most three causes, most likely first, each with the command that confirms it.\n"
               "With no MESSAGE and standard input not a terminal, reads standard input.\n\n"
               "exit codes: 0 at least one cause named, 1 nothing matched, 2 usage error\n");
}

static int fail_usage(const char *what, const char *arg)
{
  fprintf(stderr, "ecrdiag explain: %s%s%s%s\n", what, arg ? " '" : "", arg ? arg : "",
          arg ? "'" : "");
  return EXIT_USAGE;
}

/* Reads standard input into msg; ERR_TOO_LARGE past its ceiling. */
static enum err_code read_stdin(struct buf *msg, struct err *e)
{
  char chunk[16384];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0) {
    enum err_code rc = buf_append(msg, chunk, n);
    if (rc)
      return err_set(e, rc,
                     "the message is larger than %zu bytes: paste only the Events lines "
                     "of `kubectl describe pod`",
                     msg->max_bytes);
  }
  if (ferror(stdin))
    return err_set(e, ERR_IO, "cannot read standard input");
  return ERR_OK;
}

static bool blank(const struct buf *b)
{
  for (size_t i = 0; i < b->len; i++)
    if (!strchr(" \t\r\n", b->p[i]))
      return false;
  return true;
}

int cmd_explain(int argc, char **argv)
{
  const char *output = "text";
  bool from_stdin = false, end_of_options = false;
  int n_words = 0;
  struct buf msg;
  buf_init(&msg, EXPLAIN_MAX_INPUT_BYTES);
  struct err e;
  err_clear(&e);
  int status = EXIT_USAGE;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!end_of_options && (!strcmp(a, "--help") || !strcmp(a, "-h"))) {
      explain_usage(stdout);
      status = EXIT_NAMED;
      goto out;
    }
    if (!end_of_options && !strcmp(a, "--")) {
      end_of_options = true;
    } else if (!end_of_options && (!strcmp(a, "--output") || !strncmp(a, "--output=", 9))) {
      if (a[8] == '=')
        output = a + 9;
      else if (i + 1 < argc)
        output = argv[++i];
      else {
        status = fail_usage("--output needs text or json", NULL);
        goto out;
      }
      if (strcmp(output, "json") && strcmp(output, "text")) {
        status = fail_usage("unknown --output (text or json):", output);
        goto out;
      }
    } else if (!end_of_options && !strcmp(a, "-")) {
      from_stdin = true;
    } else if (!end_of_options && a[0] == '-' && a[1] == '-') {
      fail_usage("unknown option", a);
      explain_usage(stderr);
      goto out;
    } else {
      if ((n_words++ && buf_putc(&msg, ' ')) || buf_puts(&msg, a)) {
        status = fail_usage("the message is larger than the limit of 65536 bytes", NULL);
        goto out;
      }
    }
  }
  if (from_stdin && n_words) {
    status = fail_usage("give the message as arguments or as '-' (standard input), not both", NULL);
    goto out;
  }
  if (!from_stdin && !n_words) {
    if (isatty(STDIN_FILENO)) {
      fail_usage("no message given", NULL);
      explain_usage(stderr);
      goto out;
    }
    from_stdin = true;
  }
  if (from_stdin && read_stdin(&msg, &e)) {
    status = fail_usage(e.msg, NULL);
    goto out;
  }
  if (blank(&msg)) {
    status = fail_usage("the message is empty", NULL);
    goto out;
  }

  struct explain_result r;
  if (explain_message(msg.p, msg.len, &r, &e)) {
    status = fail_usage(e.msg, NULL);
    goto out;
  }
  if (!strcmp(output, "json")) {
    json_t *j = explain_to_json(&r);
    if (!j || json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) {
      json_decref(j);
      fprintf(stderr, "ecrdiag explain: out of memory writing the answer\n");
      status = EXIT_USAGE;
      goto out;
    }
    json_decref(j);
    fputc('\n', stdout);
  } else {
    struct buf text;
    buf_init(&text, EXPLAIN_OUTPUT_MAX_BYTES);
    enum err_code rc = explain_render_text(&r, &text);
    if (!rc)
      fputs(buf_str(&text), stdout);
    buf_release(&text);
    if (rc) {
      fprintf(stderr, "ecrdiag explain: %s writing the answer\n", err_code_str(rc));
      goto out;
    }
  }
  status = r.n_causes ? EXIT_NAMED : EXIT_NOTHING;
out:
  buf_release(&msg);
  return status;
}
