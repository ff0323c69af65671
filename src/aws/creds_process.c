/* credential_process: runs the profile's command (split like Python's shlex.split, no shell,
 * as botocore's ProcessProvider does) and reads the JSON it prints: Version 1, AccessKeyId,
 * SecretAccessKey, optional SessionToken and Expiration. Its stdout is a secret buffer; its
 * stderr is quoted in messages. Depends on core only (and posix_spawn). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "creds_impl.h"

extern char **environ;

#define PROCESS_MAX_WORDS 256
#define PROCESS_STDOUT_MAX_BYTES ((size_t)64 << 10)
#define PROCESS_STDERR_MAX_BYTES ((size_t)4 << 10)
/* botocore waits for ever; a diagnosis must end, and a minute covers a slow SSO helper. */
#define PROCESS_TIMEOUT_MS 60000L
#define PROCESS_EXCERPT_MAX 200

void creds_words_free(char **words, int n)
{
  for (int i = 0; i < n; i++) {
    free(words[i]);
    words[i] = NULL;
  }
}

int creds_split_words(const char *s, char **words, int max)
{
  /* shlex.split (posix=True, whitespace_split=True, no comments): whitespace separates,
   * '...' is literal, in "..." a backslash escapes only '"' and '\', outside quotes it
   * escapes any character; an unclosed quote or a trailing backslash is an error. */
  int n = 0;
  struct buf w;
  buf_init(&w, 1 << 16);
  bool in_word = false;
  const char *p = s;
  while (*p) {
    char c = *p;
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      p++;
      if (in_word) {
        if (n < max) {
          words[n] = str_dup(w.p ? w.p : "");
          if (!words[n])
            goto fail;
        }
        n++;
        buf_reset(&w);
        in_word = false;
      }
      continue;
    }
    in_word = true;
    if (c == '\\') {
      if (!p[1])
        goto fail;
      (void)buf_putc(&w, p[1]);
      p += 2;
    } else if (c == '\'') {
      const char *end = strchr(p + 1, '\'');
      if (!end)
        goto fail;
      (void)buf_append(&w, p + 1, (size_t)(end - p - 1));
      p = end + 1;
    } else if (c == '"') {
      p++;
      for (;;) {
        if (!*p)
          goto fail;
        if (*p == '"') {
          p++;
          break;
        }
        if (*p == '\\' && (p[1] == '"' || p[1] == '\\')) {
          (void)buf_putc(&w, p[1]);
          p += 2;
          continue;
        }
        (void)buf_putc(&w, *p++);
      }
    } else {
      (void)buf_putc(&w, c);
      p++;
    }
  }
  if (in_word) {
    if (n < max) {
      words[n] = str_dup(w.p ? w.p : "");
      if (!words[n])
        goto fail;
    }
    n++;
  }
  buf_release(&w);
  return n < max ? n : max;
fail:
  buf_release(&w);
  creds_words_free(words, n < max ? n : max);
  return -1;
}

static long ms_since(const struct timespec *t0)
{
  struct timespec t1;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  return (long)(t1.tv_sec - t0->tv_sec) * 1000L + (t1.tv_nsec - t0->tv_nsec) / 1000000L;
}

/* Reads both pipes until they close or the time is up; false on timeout. */
static bool drain(int out_fd, int err_fd, struct buf *out, struct buf *err_text)
{
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  struct pollfd fds[2] = {{.fd = out_fd, .events = POLLIN}, {.fd = err_fd, .events = POLLIN}};
  char chunk[4096];
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    long left = PROCESS_TIMEOUT_MS - ms_since(&t0);
    if (left <= 0) {
      mem_wipe(chunk, sizeof chunk);
      return false;
    }
    int r = poll(fds, 2, (int)left);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      continue;
    for (int i = 0; i < 2; i++) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
        continue;
      ssize_t n = read(fds[i].fd, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        fds[i].fd = -1;
        continue;
      }
      /* Past the cap the rest is read and dropped, so the child never blocks on a full pipe;
       * the overflow shows as ERR_TOO_LARGE through the buffer's length check below. */
      struct buf *b = i == 0 ? out : err_text;
      if (b->len + (size_t)n <= b->max_bytes)
        (void)buf_append(b, chunk, (size_t)n);
      else if (i == 0)
        b->max_bytes = 0; /* mark: too large */
    }
  }
  mem_wipe(chunk, sizeof chunk);
  return true;
}

static const char *base_name(const char *path)
{
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

enum src_result creds_src_process(const struct creds_ctx *x, const char *profile,
                                  const char *command, struct aws_creds *out, struct err *e)
{
  (void)x;
  char *argv[PROCESS_MAX_WORDS + 1] = {0};
  int argc = creds_split_words(command, argv, PROCESS_MAX_WORDS);
  if (argc < 0)
    return creds_src_fail(e, ERR_CREDENTIALS,
                          "credential_process of profile '%s' has an unclosed quote or a trailing "
                          "backslash",
                          profile);
  if (argc == 0)
    return creds_src_fail(e, ERR_CREDENTIALS, "credential_process of profile '%s' is empty",
                          profile);
  const char *prog = base_name(argv[0]);
  enum src_result res = SRC_FAILED;
  int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
  struct buf so, se;
  buf_init_secret(&so, PROCESS_STDOUT_MAX_BYTES);
  buf_init(&se, PROCESS_STDERR_MAX_BYTES);
  json_t *doc = NULL;
  pid_t pid = -1;
  posix_spawn_file_actions_t fa;
  bool fa_ready = false;

  if (pipe(out_pipe) != 0 || pipe(err_pipe) != 0) {
    res = creds_src_fail(e, ERR_CREDENTIALS, "cannot run credential_process of profile '%s': %s",
                         profile, strerror(errno));
    goto out;
  }
  (void)fcntl(out_pipe[0], F_SETFD, FD_CLOEXEC);
  (void)fcntl(err_pipe[0], F_SETFD, FD_CLOEXEC);
  /* posix_spawn, not fork: the diagnosis may run on a thread of the TUI. stdin is /dev/null:
   * ecrdiag does not let a credential process prompt (an MFA code, say) behind its screen. */
  if (posix_spawn_file_actions_init(&fa) != 0) {
    res = creds_src_fail(e, ERR_CREDENTIALS, "out of memory");
    goto out;
  }
  fa_ready = true;
  if (posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0) != 0 ||
      posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1) != 0 ||
      posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2) != 0 ||
      posix_spawn_file_actions_addclose(&fa, out_pipe[1]) != 0 ||
      posix_spawn_file_actions_addclose(&fa, err_pipe[1]) != 0) {
    res = creds_src_fail(e, ERR_CREDENTIALS, "out of memory");
    goto out;
  }
  int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
  close(out_pipe[1]);
  close(err_pipe[1]);
  out_pipe[1] = err_pipe[1] = -1;
  if (rc != 0) {
    pid = -1;
    res = creds_src_fail(e, ERR_CREDENTIALS,
                         "cannot run credential_process '%.100s' of profile '%s': %s", prog,
                         profile, strerror(rc));
    goto out;
  }
  bool finished = drain(out_pipe[0], err_pipe[0], &so, &se);
  if (!finished)
    kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  pid = -1;
  if (!finished) {
    res = creds_src_fail(e, ERR_CREDENTIALS,
                         "credential_process '%.100s' of profile '%s' did not finish within %ld s",
                         prog, profile, PROCESS_TIMEOUT_MS / 1000);
    goto out;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    struct buf m;
    buf_init(&m, ERR_MSG_MAX);
    if (WIFEXITED(status))
      (void)buf_printf(&m, "credential_process '%.100s' of profile '%s' exited with status %d",
                       prog, profile, WEXITSTATUS(status));
    else
      (void)buf_printf(&m, "credential_process '%.100s' of profile '%s' was killed by signal %d",
                       prog, profile, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    if (se.len) {
      (void)buf_puts(&m, ": ");
      creds_excerpt(&m, se.p, se.len, PROCESS_EXCERPT_MAX);
    }
    res = creds_src_fail(e, ERR_CREDENTIALS, "%s", buf_str(&m));
    buf_release(&m);
    goto out;
  }
  if (so.max_bytes == 0) {
    res = creds_src_fail(e, ERR_CREDENTIALS,
                         "credential_process '%.100s' of profile '%s' printed more than %zu bytes",
                         prog, profile, PROCESS_STDOUT_MAX_BYTES);
    goto out;
  }
  json_error_t je;
  doc = so.len ? json_loadb(so.p, so.len, 0, &je) : NULL;
  if (!json_is_object(doc)) {
    res = creds_src_fail(e, ERR_CREDENTIALS,
                         "credential_process '%.100s' of profile '%s' did not print a JSON object",
                         prog, profile);
    goto out;
  }
  /* ProcessProvider._retrieve_credentials_using: Version must be 1. */
  json_t *version = json_object_get(doc, "Version");
  if (!json_is_integer(version) || json_integer_value(version) != 1) {
    res =
        creds_src_fail(e, ERR_CREDENTIALS,
                       "credential_process '%.100s' of profile '%s' printed %s; only Version 1 is "
                       "supported",
                       prog, profile, version ? "another Version" : "no Version");
    goto out;
  }
  const char *missing = NULL;
  if (!creds_take_json(doc, "AccessKeyId", "SecretAccessKey", "SessionToken", true, "Expiration",
                       true, out, &missing)) {
    creds_release(out);
    res = creds_src_fail(e, ERR_CREDENTIALS,
                         "credential_process '%.100s' of profile '%s' printed no valid '%s'", prog,
                         profile, missing);
    goto out;
  }
  res = SRC_FOUND;
out:
  if (doc) {
    creds_json_wipe(doc);
    json_decref(doc);
  }
  if (fa_ready)
    posix_spawn_file_actions_destroy(&fa);
  for (int i = 0; i < 2; i++) {
    if (out_pipe[i] >= 0)
      close(out_pipe[i]);
    if (err_pipe[i] >= 0)
      close(err_pipe[i]);
  }
  if (pid > 0) {
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
      ;
  }
  buf_release(&so);
  buf_release(&se);
  creds_words_free(argv, argc);
  return res;
}
