/* The diagnosis in flight: diag_run on a worker thread, its on_event progress copied into a
 * small shared table under a mutex for the main loop to draw, and a cancel flag the
 * diagnosis checks before each request. The worker never touches the screen.
 * Depends on diag and pthreads; knows nothing of curses. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ecrdiag/buf.h"

#define TUI_INTERNAL
#include "tui.h"

#define RUN_STRS 24 /* the strings of the diag_options template and tui_run_args, with room */

struct tui_run {
  pthread_t thread;
  bool joined;
  volatile int cancel; /* read by diag_run through diag_options.cancel */

  pthread_mutex_t mu;
  struct tui_progress progress; /* under mu */

  /* Owned by the worker until it has finished, then by whoever joins it: copies of every
   * string the options point to (the caller's may be gone when an abandoned worker ends). */
  char *strs[RUN_STRS];
  size_t n_strs;
  bool nomem;
  struct creds_options co, rco;
  struct diag_options o;
  struct diagnosis d;
  enum err_code rc;
  struct err e;
};

long tui_now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static struct tui_item *find_item(struct tui_progress *p, const char *id)
{
  for (size_t i = 0; i < p->n_items; i++)
    if (strcmp(p->items[i].id, id) == 0)
      return &p->items[i];
  if (p->n_items == DIAG_MAX_CHECKS)
    return NULL;
  /* A check the plan does not list: shown after the others. */
  struct tui_item *it = &p->items[p->n_items++];
  memset(it, 0, sizeof *it);
  it->id = id;
  return it;
}

/* Called on the worker thread: copies what the event says, nothing more. */
static void on_event(void *ctx, const struct diag_event *ev)
{
  struct tui_run *r = ctx;
  long now = tui_now_ms();
  pthread_mutex_lock(&r->mu);
  struct tui_item *it = ev->check_id ? find_item(&r->progress, ev->check_id) : NULL;
  if (it && ev->kind == DIAG_EVENT_START) {
    it->state = TUI_ITEM_RUNNING;
    it->started_ms = now;
  } else if (it && ev->kind == DIAG_EVENT_DONE && ev->check) {
    const struct diag_check *c = ev->check;
    if (it->state != TUI_ITEM_RUNNING)
      it->started_ms = now - c->duration_ms;
    it->state = TUI_ITEM_DONE;
    it->status = c->status;
    it->needed_for_pull = c->needed_for_pull;
    it->duration_ms = c->duration_ms;
    it->http_status = c->http_status;
    snprintf(it->error_code, sizeof it->error_code, "%s", c->error_code ? c->error_code : "");
  }
  pthread_mutex_unlock(&r->mu);
}

static void *worker(void *arg)
{
  struct tui_run *r = arg;
  r->rc = diag_run(&r->o, &r->d, &r->e);
  pthread_mutex_lock(&r->mu);
  /* What never started was skipped, or stopped by the cancel. */
  for (size_t i = 0; i < r->progress.n_items; i++) {
    struct tui_item *it = &r->progress.items[i];
    if (it->state == TUI_ITEM_WAITING)
      it->state = TUI_ITEM_SKIPPED;
    else if (it->state == TUI_ITEM_RUNNING) /* announced, then stopped by the cancel */
      it->state = TUI_ITEM_SKIPPED;
  }
  r->progress.finished = true;
  pthread_mutex_unlock(&r->mu);
  return NULL;
}

static void run_free_fields(struct tui_run *r)
{
  diag_release(&r->d);
  for (size_t i = 0; i < r->n_strs; i++)
    free(r->strs[i]);
  pthread_mutex_destroy(&r->mu);
  free(r);
}

/* A copy of s that the run owns; NULL for NULL or "" (the default applies). */
static const char *keep(struct tui_run *r, const char *s)
{
  if (!s || !*s)
    return NULL;
  char *c = r->n_strs < RUN_STRS ? str_dup(s) : NULL;
  if (!c) {
    r->nomem = true;
    return NULL;
  }
  r->strs[r->n_strs++] = c;
  return c;
}

struct tui_run *tui_run_start(const struct tui_options *o, const struct tui_run_args *a,
                              struct err *e)
{
  struct tui_run *r = calloc(1, sizeof *r);
  if (!r) {
    err_set(e, ERR_NOMEM, "out of memory");
    return NULL;
  }
  pthread_mutex_init(&r->mu, NULL);
  diag_init(&r->d);
  /* The template's strings are copied too: an abandoned worker may outlive the caller's. */
  const struct diag_options *t = &o->diag;
  const struct creds_options none = {0};
  const struct creds_options *given = t->creds ? t->creds : &none;
  const char *role_arn = keep(r, a->role_arn);
  r->co = (struct creds_options){
      .profile = keep(r, a->profile),
      .role_arn = role_arn,
      /* the external id belongs to a role: none without one */
      .external_id = role_arn ? keep(r, given->external_id) : NULL,
      .region = keep(r, a->region),
  };
  if (t->registry_creds) {
    r->rco = (struct creds_options){
        .profile = keep(r, t->registry_creds->profile),
        .role_arn = keep(r, t->registry_creds->role_arn),
        .region = r->co.region,
        .label = "registry",
    };
    r->rco.external_id = r->rco.role_arn ? keep(r, t->registry_creds->external_id) : NULL;
  }
  r->o = *t;
  r->o.image = keep(r, a->image);
  r->o.platform = keep(r, a->platform);
  r->o.org_id = keep(r, t->org_id);
  r->o.registry_endpoint = keep(r, t->registry_endpoint);
  r->o.grant = keep(r, t->grant);
  r->o.ou_path = keep(r, t->ou_path);
  r->o.node_role_arn = keep(r, t->node_role_arn);
  r->o.ca_bundle = keep(r, t->ca_bundle);
  r->o.on_event = on_event;
  r->o.event_ctx = r;
  r->o.cancel = &r->cancel;
  r->o.creds = &r->co;
  r->o.registry_creds = r->rco.profile || r->rco.role_arn ? &r->rco : NULL;
  if (r->nomem || !r->o.image) {
    err_set(e, ERR_NOMEM, "out of memory");
    run_free_fields(r);
    return NULL;
  }
  for (size_t i = 0; i < diag_plan_len && i < DIAG_MAX_CHECKS; i++)
    r->progress.items[r->progress.n_items++] = (struct tui_item){.id = diag_plan[i]};

  /* Signals stay with the main thread, whose loop acts on them. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int prc = pthread_create(&r->thread, NULL, worker, r);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (prc != 0) {
    err_set(e, ERR_IO, "cannot start the probe thread: %s", strerror(prc));
    run_free_fields(r);
    return NULL;
  }
  return r;
}

void tui_run_progress(struct tui_run *r, struct tui_progress *out)
{
  pthread_mutex_lock(&r->mu);
  *out = r->progress;
  pthread_mutex_unlock(&r->mu);
}

void tui_run_cancel(struct tui_run *r)
{
  if (r)
    r->cancel = 1;
}

bool tui_run_cancelled(const struct tui_run *r)
{
  return r && r->cancel;
}

static void run_join(struct tui_run *r)
{
  if (!r->joined) {
    pthread_join(r->thread, NULL);
    r->joined = true;
  }
}

struct diagnosis *tui_run_finish(struct tui_run *r, enum err_code *rc, struct err *e)
{
  run_join(r);
  *rc = r->rc;
  if (e)
    *e = r->e;
  struct diagnosis *d = malloc(sizeof *d);
  if (!d)
    return NULL;
  *d = r->d; /* moved: the run keeps an empty one */
  diag_init(&r->d);
  return d;
}

void tui_run_free(struct tui_run *r)
{
  if (!r)
    return;
  run_join(r);
  run_free_fields(r);
}

void tui_run_abandon(struct tui_run *r)
{
  if (r && !r->joined)
    pthread_detach(r->thread);
  /* r stays allocated: the worker may still write to it until the process ends. */
}
