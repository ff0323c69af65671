/* The fake HTTP server of tests/unit/support/fake_server.h; fails the running cmocka test
 * when it cannot listen. */
#include "fake_server.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

long long fs_now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int wait_fd(int fd, short events, long long end)
{
  long long left = end - fs_now_ms();
  if (left <= 0)
    return 0;
  struct pollfd p = {.fd = fd, .events = events};
  int r = poll(&p, 1, (int)left);
  return r;
}

static size_t content_length(const char *req)
{
  const char *p = req;
  while ((p = strchr(p, '\n')) != NULL) {
    p++;
    if (strncasecmp(p, "content-length:", 15) == 0)
      return (size_t)strtoul(p + 15, NULL, 10);
  }
  return 0;
}

static void fs_read_request(int fd, char *out, long long end)
{
  size_t len = 0, need = 0;
  bool head_done = false;
  while (len < FS_REQ_MAX - 1 && wait_fd(fd, POLLIN, end) > 0) {
    ssize_t n = recv(fd, out + len, FS_REQ_MAX - 1 - len, 0);
    if (n <= 0)
      break;
    len += (size_t)n;
    out[len] = '\0';
    if (!head_done) {
      char *eoh = strstr(out, "\r\n\r\n");
      if (eoh) {
        head_done = true;
        need = (size_t)(eoh + 4 - out) + content_length(out);
      }
    }
    if (head_done && len >= need)
      break;
  }
  out[len] = '\0';
}

static void fs_wait_close(int fd, long long end)
{
  char sink[512];
  while (wait_fd(fd, POLLIN, end) > 0)
    if (recv(fd, sink, sizeof sink, 0) <= 0)
      break;
}

static void *fs_run(void *arg)
{
  struct fake_server *s = arg;
  long long end = fs_now_ms() + s->deadline_ms;
  for (size_t i = 0; i < s->n_answers && i < FS_MAX_CONN; i++) {
    if (wait_fd(s->fd, POLLIN, end) <= 0)
      break;
    int c = accept(s->fd, NULL, NULL);
    if (c < 0)
      break;
    fs_read_request(c, s->requests[i], end);
    s->n_served = i + 1;
    const char *raw = s->answers[i].raw;
    if (raw) {
      size_t off = 0, n = strlen(raw);
      while (off < n) {
        ssize_t w = send(c, raw + off, n - off, MSG_NOSIGNAL);
        if (w <= 0)
          break;
        off += (size_t)w;
      }
    }
    if (!raw || s->answers[i].hold)
      fs_wait_close(c, end);
    close(c);
  }
  return NULL;
}

void fs_start(struct fake_server *s, const struct fake_answer *answers, size_t n)
{
  memset(s, 0, sizeof *s);
  s->answers = answers;
  s->n_answers = n;
  s->deadline_ms = 10000;
  s->fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(s->fd >= 0);
  int one = 1;
  setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(s->fd, 8), 0);
  socklen_t al = sizeof a;
  assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &al), 0);
  s->port = ntohs(a.sin_port);
  assert_int_equal(pthread_create(&s->thread, NULL, fs_run, s), 0);
}

void fs_stop(struct fake_server *s)
{
  pthread_join(s->thread, NULL);
  close(s->fd);
}

/* A loopback port with nothing listening (bound, then closed). */
int fs_closed_port(void)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  bind(fd, (struct sockaddr *)&a, sizeof a);
  socklen_t al = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &al);
  close(fd);
  return ntohs(a.sin_port);
}
