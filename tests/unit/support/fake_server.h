/* A fake HTTP server on loopback for the unit tests of the HTTP and AWS layers: canned
 * answers served by a thread, the requests recorded, everything bounded by a deadline so a
 * broken client cannot hang a test. Test support only; links with no test framework. */
#ifndef ECRDIAG_TEST_FAKE_SERVER_H
#define ECRDIAG_TEST_FAKE_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#define FS_MAX_CONN 8
#define FS_REQ_MAX 16384

struct fake_answer {
  const char *raw; /* sent as is; NULL: read the request and never answer */
  bool hold;       /* after sending, keep the connection open until the client goes */
};

struct fake_server {
  int fd;
  int port;
  pthread_t thread;
  const struct fake_answer *answers;
  size_t n_answers;
  long deadline_ms;
  size_t n_served;
  char requests[FS_MAX_CONN][FS_REQ_MAX];
};

/* Milliseconds on the monotonic clock. */
long long fs_now_ms(void);
/* Listens on a free loopback port and serves answers[i] to the i-th connection. */
void fs_start(struct fake_server *s, const struct fake_answer *answers, size_t n);
/* Waits for the serving thread (bounded by its deadline) and closes the socket. */
void fs_stop(struct fake_server *s);
/* A loopback port with nothing listening (bound, then closed). */
int fs_closed_port(void);

#endif
