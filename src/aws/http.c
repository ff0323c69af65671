/* HTTP over libcurl, and the only file that includes curl.h: one easy handle per client (so
 * connections are reused), a timeout and a body cap on every transfer, no redirects, no
 * verbose output, and request header lines wiped after use because they carry signatures,
 * session tokens and registry passwords. Depends on core (buf, err) and libcurl only. */
#include "ecrdiag/http.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define HTTP_DEFAULT_CONNECT_TIMEOUT_MS 5000L
#define HTTP_DEFAULT_TIMEOUT_MS 30000L
#define HTTP_DEFAULT_MAX_BODY_BYTES ((size_t)8 << 20)
/* One collected response header value: Www-Authenticate challenges are the longest we keep. */
#define HTTP_HEADER_VALUE_MAX_BYTES 8192
/* One request header line we build: an Authorization or a session token fits many times. */
#define HTTP_REQUEST_LINE_MAX_BYTES 65536
/* One CURLOPT_RESOLVE entry. */
#define HTTP_RESOLVE_ENTRY_MAX_BYTES 1024
/* Shown from a curl error text: curl's own buffer is CURL_ERROR_SIZE (256). */
#define HTTP_CURL_TEXT_MAX 256

struct http_client {
  CURL *curl;
  long connect_timeout_ms;
  long timeout_ms;
  size_t max_body_bytes;
  char *ca_bundle;
  bool insecure;
  char *user_agent;
  struct curl_slist *resolve;
  struct http_share *share; /* borrowed */
  bool global_ready;        /* curl_global_init succeeded and needs its matching cleanup */
};

/* libcurl's share interface needs one lock per kind of shared data. */
struct http_share {
  CURLSH *sh;
  pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
  bool global_ready;
};

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ctx)
{
  (void)h;
  (void)access;
  struct http_share *s = ctx;
  if ((unsigned)data < CURL_LOCK_DATA_LAST)
    pthread_mutex_lock(&s->locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ctx)
{
  (void)h;
  struct http_share *s = ctx;
  if ((unsigned)data < CURL_LOCK_DATA_LAST)
    pthread_mutex_unlock(&s->locks[data]);
}

struct http_share *http_share_new(struct err *e)
{
  struct http_share *s = calloc(1, sizeof *s);
  if (!s) {
    err_set(e, ERR_NOMEM, "out of memory");
    return NULL;
  }
  for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
    pthread_mutex_init(&s->locks[i], NULL);
  s->global_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  s->sh = s->global_ready ? curl_share_init() : NULL;
  if (!s->sh || curl_share_setopt(s->sh, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK ||
      curl_share_setopt(s->sh, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK ||
      curl_share_setopt(s->sh, CURLSHOPT_USERDATA, s) != CURLSHE_OK ||
      curl_share_setopt(s->sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) != CURLSHE_OK ||
      curl_share_setopt(s->sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
      curl_share_setopt(s->sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK) {
    err_set(e, ERR_NETWORK, "cannot set up libcurl's shared connection cache");
    http_share_free(s);
    return NULL;
  }
  return s;
}

void http_share_free(struct http_share *s)
{
  if (!s)
    return;
  if (s->sh)
    curl_share_cleanup(s->sh);
  for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
    pthread_mutex_destroy(&s->locks[i]);
  if (s->global_ready)
    curl_global_cleanup();
  free(s);
}

/* The response headers we keep, looked up case-insensitively. */
enum hdr_id {
  HDR_CONTENT_TYPE,
  HDR_LOCATION,
  HDR_WWW_AUTHENTICATE,
  HDR_AMZN_REQUEST_ID,
  HDR_AMZ_REQUEST_ID,
  HDR_DOCKER_CONTENT_DIGEST,
  HDR_DATE,
  HDR_AMZN_ERROR_TYPE,
  HDR_COUNT
};

static const char *const hdr_names[HDR_COUNT] = {
    [HDR_CONTENT_TYPE] = "content-type",
    [HDR_LOCATION] = "location",
    [HDR_WWW_AUTHENTICATE] = "www-authenticate",
    [HDR_AMZN_REQUEST_ID] = "x-amzn-requestid",
    [HDR_AMZ_REQUEST_ID] = "x-amz-request-id",
    [HDR_DOCKER_CONTENT_DIGEST] = "docker-content-digest",
    [HDR_DATE] = "date",
    [HDR_AMZN_ERROR_TYPE] = "x-amzn-errortype",
};

/* State shared with the libcurl callbacks during one transfer. */
struct xfer {
  struct buf *body;
  bool headers_only;
  bool headers_done; /* headers_only: we ended the transfer on purpose */
  bool too_large;
  bool nomem;
  long status; /* from the latest status line */
  char *hdr[HDR_COUNT];
};

static void xfer_clear_headers(struct xfer *x)
{
  for (int i = 0; i < HDR_COUNT; i++) {
    free(x->hdr[i]);
    x->hdr[i] = NULL;
  }
}

static bool is_ows(char c)
{
  return c == ' ' || c == '\t';
}

static struct sv sv_trim(struct sv v)
{
  while (v.n && (is_ows(v.p[0]) || v.p[0] == '\r' || v.p[0] == '\n')) {
    v.p++;
    v.n--;
  }
  while (v.n && (is_ows(v.p[v.n - 1]) || v.p[v.n - 1] == '\r' || v.p[v.n - 1] == '\n'))
    v.n--;
  return v;
}

static bool sv_ieq(struct sv a, const char *s)
{
  size_t n = strlen(s);
  return a.n == n && strncasecmp(a.p, s, n) == 0;
}

/* Keeps one header value; a repeated Www-Authenticate is joined with ", " (a list header, RFC
 * 9110 section 5.3) so no challenge is lost; other repeats keep the first value. */
static void xfer_keep_header(struct xfer *x, enum hdr_id id, struct sv value)
{
  if (value.n > HTTP_HEADER_VALUE_MAX_BYTES)
    value.n = HTTP_HEADER_VALUE_MAX_BYTES;
  if (!x->hdr[id]) {
    x->hdr[id] = sv_dup(value);
    if (!x->hdr[id])
      x->nomem = true;
    return;
  }
  if (id != HDR_WWW_AUTHENTICATE)
    return;
  size_t old = strlen(x->hdr[id]);
  if (old + 2 + value.n > HTTP_HEADER_VALUE_MAX_BYTES)
    return;
  char *p = realloc(x->hdr[id], old + 2 + value.n + 1);
  if (!p) {
    x->nomem = true;
    return;
  }
  memcpy(p + old, ", ", 2);
  memcpy(p + old + 2, value.p, value.n);
  p[old + 2 + value.n] = '\0';
  x->hdr[id] = p;
}

/* "HTTP/1.1 200 OK" or "HTTP/2 200": the three digits after the first space. */
static long parse_status_line(struct sv line)
{
  const char *sp = memchr(line.p, ' ', line.n);
  if (!sp)
    return 0;
  size_t i = (size_t)(sp - line.p) + 1;
  long code = 0;
  int digits = 0;
  while (i < line.n && digits < 3 && line.p[i] >= '0' && line.p[i] <= '9') {
    code = code * 10 + (line.p[i] - '0');
    i++;
    digits++;
  }
  return digits == 3 ? code : 0;
}

static size_t on_header(char *data, size_t size, size_t nitems, void *userdata)
{
  struct xfer *x = userdata;
  size_t n = size * nitems;
  struct sv line = {data, n};
  while (line.n && (line.p[line.n - 1] == '\n' || line.p[line.n - 1] == '\r'))
    line.n--;

  /* A new status line starts a new header block (after a 1xx): only the final block counts. */
  if (sv_starts_with(line, "HTTP/")) {
    xfer_clear_headers(x);
    x->status = parse_status_line(line);
    return n;
  }
  if (line.n == 0) {
    if (x->headers_only && x->status >= 200) {
      /* Returning a short count makes libcurl stop with CURLE_WRITE_ERROR, which
       * http_perform reads back as success because headers_done is set. */
      x->headers_done = true;
      return 0;
    }
    return n;
  }
  const char *colon = memchr(line.p, ':', line.n);
  if (!colon)
    return n;
  struct sv name = {line.p, (size_t)(colon - line.p)};
  struct sv value = sv_trim((struct sv){colon + 1, line.n - name.n - 1});
  for (int i = 0; i < HDR_COUNT; i++) {
    if (sv_ieq(name, hdr_names[i])) {
      xfer_keep_header(x, (enum hdr_id)i, value);
      break;
    }
  }
  return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
  struct xfer *x = userdata;
  size_t n = size * nmemb;
  if (n == 0)
    return 0;
  if (x->headers_only) {
    /* Normally stopped in on_header already; a short count ends the transfer here too. */
    x->headers_done = true;
    return 0;
  }
  enum err_code rc = buf_append(x->body, data, n);
  if (rc == ERR_OK)
    return n;
  if (rc == ERR_TOO_LARGE)
    x->too_large = true;
  else
    x->nomem = true;
  return 0; /* a count other than n aborts the transfer */
}

/* Frees a header list after overwriting every line: they hold Authorization values. */
static void slist_free_wiped(struct curl_slist *list)
{
  for (struct curl_slist *p = list; p; p = p->next)
    if (p->data)
      mem_wipe(p->data, strlen(p->data));
  curl_slist_free_all(list);
}

static bool is_tchar(unsigned char c)
{
  /* RFC 9110 token characters: what a header name may hold. */
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
    return true;
  return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Appends "Name: value" to *list. A CR or LF in either part would let a value smuggle in a
 * header of its own, so it is refused; the value is never quoted in the message. */
static enum err_code header_add(struct curl_slist **list, const char *name, const char *value,
                                struct err *e)
{
  if (!name || !*name)
    return err_set(e, ERR_INVALID, "empty request header name");
  for (const unsigned char *p = (const unsigned char *)name; *p; p++)
    if (!is_tchar(*p))
      return err_set(e, ERR_INVALID, "request header name is not a token");
  if (!value)
    value = "";
  for (const unsigned char *p = (const unsigned char *)value; *p; p++)
    if (*p == '\r' || *p == '\n')
      return err_set(e, ERR_INVALID, "request header '%s' holds a line break", name);

  struct buf line;
  buf_init_secret(&line, HTTP_REQUEST_LINE_MAX_BYTES);
  enum err_code rc;
  /* libcurl drops a header written "Name:" with nothing after it; "Name;" sends it empty. */
  if (*value)
    rc = buf_printf(&line, "%s: %s", name, value);
  else
    rc = buf_printf(&line, "%s;", name);
  if (rc == ERR_OK) {
    struct curl_slist *l = curl_slist_append(*list, buf_str(&line));
    if (l)
      *list = l;
    else
      rc = ERR_NOMEM;
  }
  buf_release(&line);
  if (rc == ERR_TOO_LARGE)
    return err_set(e, rc, "request header '%s' is too long", name);
  if (rc)
    return err_set(e, rc, "cannot build request header '%s'", name);
  return ERR_OK;
}

/* Does piece start with "HOST:PORT:" (or "-HOST:PORT", "+HOST:PORT:")? Otherwise it is one
 * more address for the entry before it (curl's own "HOST:PORT:ADDR,ADDR" form). */
static bool resolve_piece_starts_entry(struct sv p)
{
  size_t i = 0;
  bool removal = false;
  if (p.n && (p.p[0] == '+' || p.p[0] == '-')) {
    removal = p.p[0] == '-';
    i++;
  }
  size_t host = i;
  if (i < p.n && p.p[i] == '[')
    return false;
  while (i < p.n && p.p[i] != ':')
    i++;
  if (i == host || i == p.n)
    return false;
  size_t port = ++i;
  while (i < p.n && p.p[i] >= '0' && p.p[i] <= '9')
    i++;
  if (i == port)
    return false;
  if (removal)
    return i == p.n;
  return i + 1 < p.n && p.p[i] == ':';
}

static enum err_code resolve_flush(struct buf *entry, struct curl_slist **list, struct err *e)
{
  if (entry->len == 0)
    return ERR_OK;
  struct curl_slist *l = curl_slist_append(*list, buf_str(entry));
  if (!l)
    return err_set(e, ERR_NOMEM, "out of memory");
  *list = l;
  buf_reset(entry);
  return ERR_OK;
}

static enum err_code resolve_parse(const char *spec, struct curl_slist **out, struct err *e)
{
  struct curl_slist *list = NULL;
  struct buf entry;
  buf_init(&entry, HTTP_RESOLVE_ENTRY_MAX_BYTES);
  enum err_code rc = ERR_OK;
  const char *p = spec;
  while (rc == ERR_OK) {
    size_t n = strcspn(p, ",");
    struct sv piece = sv_trim((struct sv){p, n});
    if (piece.n == 0 || memchr(piece.p, ' ', piece.n)) {
      rc = err_set(e, ERR_INVALID, "malformed resolve entry in '%.200s'", spec);
      break;
    }
    if (resolve_piece_starts_entry(piece)) {
      rc = resolve_flush(&entry, &list, e);
      if (rc == ERR_OK && buf_append(&entry, piece.p, piece.n) != ERR_OK)
        rc = err_set(e, ERR_INVALID, "resolve entry too long in '%.200s'", spec);
    } else if (entry.len == 0) {
      rc = err_set(e, ERR_INVALID, "resolve entry '%.*s' is not HOST:PORT:ADDRESS", (int)piece.n,
                   piece.p);
    } else if (buf_putc(&entry, ',') != ERR_OK || buf_append(&entry, piece.p, piece.n) != ERR_OK) {
      rc = err_set(e, ERR_INVALID, "resolve entry too long in '%.200s'", spec);
    }
    if (p[n] == '\0')
      break;
    p += n + 1;
  }
  if (rc == ERR_OK)
    rc = resolve_flush(&entry, &list, e);
  buf_release(&entry);
  if (rc) {
    curl_slist_free_all(list);
    return rc;
  }
  *out = list;
  return ERR_OK;
}

struct http_client *http_client_new(const struct http_options *o, struct err *e)
{
  static const struct http_options defaults;
  if (!o)
    o = &defaults;
  struct http_client *c = calloc(1, sizeof *c);
  if (!c) {
    err_set(e, ERR_NOMEM, "out of memory");
    return NULL;
  }
  /* Reference-counted by libcurl (and thread-safe in the versions we build against), so
   * pairing it with each client keeps the library free of process-wide set-up calls. */
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    err_set(e, ERR_NETWORK, "cannot initialise libcurl");
    goto fail;
  }
  c->global_ready = true;
  c->curl = curl_easy_init();
  if (!c->curl) {
    err_set(e, ERR_NOMEM, "cannot create a libcurl handle");
    goto fail;
  }
  c->connect_timeout_ms =
      o->connect_timeout_ms > 0 ? o->connect_timeout_ms : HTTP_DEFAULT_CONNECT_TIMEOUT_MS;
  c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : HTTP_DEFAULT_TIMEOUT_MS;
  c->max_body_bytes = o->max_body_bytes ? o->max_body_bytes : HTTP_DEFAULT_MAX_BODY_BYTES;
  c->insecure = o->insecure;
  if (o->ca_bundle && !(c->ca_bundle = str_dup(o->ca_bundle))) {
    err_set(e, ERR_NOMEM, "out of memory");
    goto fail;
  }
  c->user_agent = str_dup(o->user_agent ? o->user_agent : "ecrdiag/" ECRDIAG_VERSION);
  if (!c->user_agent) {
    err_set(e, ERR_NOMEM, "out of memory");
    goto fail;
  }
  if (o->resolve && *o->resolve && resolve_parse(o->resolve, &c->resolve, e) != ERR_OK)
    goto fail;
  c->share = o->share;
  return c;
fail:
  http_client_free(c);
  return NULL;
}

void http_client_free(struct http_client *c)
{
  if (!c)
    return;
  if (c->curl)
    curl_easy_cleanup(c->curl);
  curl_slist_free_all(c->resolve);
  free(c->ca_bundle);
  free(c->user_agent);
  if (c->global_ready)
    curl_global_cleanup();
  free(c);
}

void http_response_init(struct http_response *r)
{
  memset(r, 0, sizeof *r);
  buf_init(&r->body, 0);
}

void http_response_release(struct http_response *r)
{
  if (!r)
    return;
  buf_release(&r->body);
  free(r->content_type);
  free(r->location);
  free(r->www_authenticate);
  free(r->request_id);
  free(r->docker_content_digest);
  free(r->date);
  free(r->error_type);
  http_response_init(r);
}

static long elapsed_ms(const struct timespec *t0)
{
  struct timespec t1;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  return (long)(t1.tv_sec - t0->tv_sec) * 1000L + (t1.tv_nsec - t0->tv_nsec) / 1000000L;
}

/* curl's error text, with anything unprintable replaced, for an err message. */
static void curl_text(char *dst, size_t cap, const char *errbuf, CURLcode cc)
{
  const char *src = errbuf[0] ? errbuf : curl_easy_strerror(cc);
  size_t i = 0;
  for (; src[i] && i + 1 < cap; i++) {
    unsigned char ch = (unsigned char)src[i];
    dst[i] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
  }
  while (i > 0 && dst[i - 1] == ' ')
    i--;
  dst[i] = '\0';
}

static bool is_tls_error(CURLcode cc)
{
  switch (cc) {
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
  case CURLE_SSL_ENGINE_NOTFOUND:
  case CURLE_SSL_ENGINE_SETFAILED:
  case CURLE_SSL_ENGINE_INITFAILED:
  case CURLE_USE_SSL_FAILED:
  case CURLE_SSL_SHUTDOWN_FAILED:
#if LIBCURL_VERSION_NUM >= 0x074d00
  case CURLE_SSL_CLIENTCERT:
#endif
    return true;
  default: return false;
  }
}

/* The transport failure as an err code and a message naming the host (never the URL: a
 * presigned layer URL carries a signature and a session token in its query). */
static enum err_code map_curl_error(CURLcode cc, const struct xfer *x, const char *errbuf,
                                    const char *host, const char *via, long timeout_ms,
                                    size_t max_body, struct err *e)
{
  char text[HTTP_CURL_TEXT_MAX];
  curl_text(text, sizeof text, errbuf, cc);
  if (cc == CURLE_WRITE_ERROR || cc == CURLE_FILESIZE_EXCEEDED) {
    if (x->headers_done)
      return ERR_OK;
    if (x->too_large || cc == CURLE_FILESIZE_EXCEEDED)
      return err_set(e, ERR_TOO_LARGE, "answer from '%s'%s exceeds %zu bytes", host, via, max_body);
    if (x->nomem)
      return err_set(e, ERR_NOMEM, "out of memory reading the answer from '%s'", host);
  }
  switch (cc) {
  case CURLE_COULDNT_RESOLVE_HOST:
    return err_set(e, ERR_DNS, "cannot resolve '%s'%s: %s", host, via, text);
  case CURLE_COULDNT_RESOLVE_PROXY:
    return err_set(e, ERR_DNS, "cannot resolve the proxy for '%s'%s: %s", host, via, text);
  case CURLE_COULDNT_CONNECT:
#if LIBCURL_VERSION_NUM >= 0x074900
  case CURLE_PROXY:
#endif
    return err_set(e, ERR_CONNECT, "cannot connect to '%s'%s: %s", host, via, text);
  case CURLE_OPERATION_TIMEDOUT:
    /* curl's text says whether connecting or the whole transfer ran out of time. */
    return err_set(e, ERR_TIMEOUT, "timed out talking to '%s'%s (limit %ld ms): %s", host, via,
                   timeout_ms, text);
  case CURLE_OUT_OF_MEMORY: return err_set(e, ERR_NOMEM, "out of memory talking to '%s'", host);
  case CURLE_URL_MALFORMAT:
  case CURLE_UNSUPPORTED_PROTOCOL:
    return err_set(e, ERR_INVALID, "cannot send a request to '%s'%s: %s", host, via, text);
  default: break;
  }
  if (is_tls_error(cc))
    return err_set(e, ERR_TLS, "TLS with '%s'%s failed: %s", host, via, text);
  return err_set(e, ERR_NETWORK, "transfer with '%s'%s failed: %s", host, via, text);
}

static bool method_ok(const char *m)
{
  size_t n = 0;
  for (; m[n]; n++)
    if (m[n] < 'A' || m[n] > 'Z')
      return false;
  return n > 0 && n <= 16;
}

/* Sets every per-request option; the handle was reset so nothing leaks from the last one. */
static enum err_code setup_request(struct http_client *c, const struct http_request *req,
                                   struct curl_slist *headers, struct xfer *x, char *errbuf,
                                   long timeout_ms, size_t max_body)
{
  CURL *h = c->curl;
  CURLcode cc = CURLE_OK;
#define SET(opt, val)                     \
  do {                                    \
    if (cc == CURLE_OK)                   \
      cc = curl_easy_setopt(h, opt, val); \
  } while (0)
  SET(CURLOPT_URL, req->url);
  SET(CURLOPT_ERRORBUFFER, errbuf);
  if (c->share)
    SET(CURLOPT_SHARE, c->share->sh);
  /* No signals: libcurl would otherwise time out name lookups with SIGALRM, which is not
   * safe in a threaded program. */
  SET(CURLOPT_NOSIGNAL, 1L);
  SET(CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
  SET(CURLOPT_TIMEOUT_MS, timeout_ms);
  /* Redirects are findings (a registry sending layers to S3), never followed silently. */
  SET(CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
  SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
  SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  SET(CURLOPT_USERAGENT, c->user_agent);
  if (c->ca_bundle)
    SET(CURLOPT_CAINFO, c->ca_bundle);
  SET(CURLOPT_SSL_VERIFYPEER, c->insecure ? 0L : 1L);
  SET(CURLOPT_SSL_VERIFYHOST, c->insecure ? 0L : 2L);
  if (c->resolve)
    SET(CURLOPT_RESOLVE, c->resolve);
  /* A proxy's CONNECT answer would otherwise look like the first header block. */
  SET(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
  SET(CURLOPT_HTTPHEADER, headers);
  SET(CURLOPT_HEADERFUNCTION, on_header);
  SET(CURLOPT_HEADERDATA, x);
  SET(CURLOPT_WRITEFUNCTION, on_body);
  SET(CURLOPT_WRITEDATA, x);
  /* Refuse early when Content-Length already says too much; on_body enforces it anyway.
   * Not for HEAD or headers_only, where the length is of a body we never read. */
  bool head = strcmp(req->method, "HEAD") == 0;
  if (!head && !req->headers_only && max_body < (size_t)INT64_MAX)
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_body);

  const char *body = req->body ? req->body : "";
  if (strcmp(req->method, "GET") == 0) {
    SET(CURLOPT_HTTPGET, 1L);
  } else if (head) {
    SET(CURLOPT_NOBODY, 1L);
  } else {
    if (strcmp(req->method, "POST") == 0)
      SET(CURLOPT_POST, 1L);
    else
      SET(CURLOPT_CUSTOMREQUEST, req->method);
    if (req->body || strcmp(req->method, "POST") == 0 || strcmp(req->method, "PUT") == 0) {
      SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
      SET(CURLOPT_POSTFIELDS, body);
    }
  }
#undef SET
  return cc == CURLE_OK ? ERR_OK : ERR_INVALID;
}

enum err_code http_perform(struct http_client *c, const struct http_request *req,
                           struct http_response *resp, struct err *e)
{
  http_response_release(resp);
  if (!c || !req || !req->url || !*req->url)
    return err_set(e, ERR_INVALID, "no URL to request");
  const char *method = req->method ? req->method : "GET";
  if (!method_ok(method))
    return err_set(e, ERR_INVALID, "bad HTTP method '%.16s'", method);
  struct http_request r = *req;
  r.method = method;

  long timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : c->timeout_ms;
  size_t max_body = req->max_body_bytes ? req->max_body_bytes : c->max_body_bytes;
  if (req->secret_body)
    buf_init_secret(&resp->body, max_body);
  else
    buf_init(&resp->body, max_body);

  char *host = http_url_authority(req->url);
  char via[300] = "";
  if (req->host_header && (!host || strcmp(host, req->host_header) != 0))
    (void)snprintf(via, sizeof via, " (for '%.256s')", req->host_header);
  const char *host_name = host ? host : "(malformed URL)";

  struct curl_slist *headers = NULL;
  struct xfer x = {.body = &resp->body, .headers_only = req->headers_only};
  char errbuf[CURL_ERROR_SIZE];
  errbuf[0] = '\0';
  enum err_code rc = ERR_OK;

  if (req->host_header)
    rc = header_add(&headers, "Host", req->host_header, e);
  for (size_t i = 0; rc == ERR_OK && i < req->n_headers; i++)
    rc = header_add(&headers, req->headers[i].name, req->headers[i].value, e);
  /* "Expect:" (empty) stops libcurl's 100-continue wait before larger POST bodies. */
  if (rc == ERR_OK && strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
    struct curl_slist *l = curl_slist_append(headers, "Expect:");
    if (l)
      headers = l;
    else
      rc = err_set(e, ERR_NOMEM, "out of memory");
  }
  if (rc)
    goto out;

  curl_easy_reset(c->curl); /* keeps the connection cache, drops every option */
  if (setup_request(c, &r, headers, &x, errbuf, timeout_ms, max_body) != ERR_OK) {
    rc = err_set(e, ERR_INVALID, "cannot set up the request to '%s'", host_name);
    goto out;
  }

  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  CURLcode cc = curl_easy_perform(c->curl);
  resp->duration_ms = elapsed_ms(&t0);

  long status = 0;
  if (curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK || status == 0)
    status = x.status;
  resp->status = status;

  if (cc != CURLE_OK)
    rc = map_curl_error(cc, &x, errbuf, host_name, via, timeout_ms, max_body, e);
  if (rc == ERR_OK && x.nomem)
    rc = err_set(e, ERR_NOMEM, "out of memory reading the answer from '%s'", host_name);

  /* Hand the collected headers over (also after a failure: a status may have come). */
  resp->content_type = x.hdr[HDR_CONTENT_TYPE];
  resp->location = x.hdr[HDR_LOCATION];
  resp->www_authenticate = x.hdr[HDR_WWW_AUTHENTICATE];
  resp->docker_content_digest = x.hdr[HDR_DOCKER_CONTENT_DIGEST];
  resp->date = x.hdr[HDR_DATE];
  resp->error_type = x.hdr[HDR_AMZN_ERROR_TYPE];
  if (x.hdr[HDR_AMZN_REQUEST_ID]) {
    resp->request_id = x.hdr[HDR_AMZN_REQUEST_ID];
    free(x.hdr[HDR_AMZ_REQUEST_ID]);
  } else {
    resp->request_id = x.hdr[HDR_AMZ_REQUEST_ID];
  }
  memset(x.hdr, 0, sizeof x.hdr);

out:
  /* Drop the handle's pointers to our header list and body before they are freed. */
  curl_easy_reset(c->curl);
  slist_free_wiped(headers);
  xfer_clear_headers(&x);
  free(host);
  return rc;
}

static bool scheme_default_port(struct sv scheme, unsigned long port)
{
  return (sv_ieq(scheme, "http") && port == 80) || (sv_ieq(scheme, "https") && port == 443);
}

char *http_url_authority(const char *url)
{
  if (!url)
    return NULL;
  const char *sep = strstr(url, "://");
  if (!sep || sep == url)
    return NULL;
  struct sv scheme = {url, (size_t)(sep - url)};
  for (size_t i = 0; i < scheme.n; i++) {
    char ch = scheme.p[i];
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (i > 0 && ((ch >= '0' && ch <= '9') || ch == '+' || ch == '-' || ch == '.'));
    if (!ok)
      return NULL;
  }
  const char *a = sep + 3;
  struct sv auth = {a, strcspn(a, "/?#")};
  for (size_t i = auth.n; i > 0; i--) {
    if (a[i - 1] == '@') {
      auth.p = a + i;
      auth.n -= i;
      break;
    }
  }
  for (size_t i = 0; i < auth.n; i++) {
    unsigned char ch = (unsigned char)auth.p[i];
    if (ch <= 0x20 || ch == 0x7f)
      return NULL;
  }
  struct sv hostv = auth, portv = {NULL, 0};
  if (auth.n && auth.p[0] == '[') {
    const char *close = memchr(auth.p, ']', auth.n);
    if (!close)
      return NULL;
    hostv.n = (size_t)(close - auth.p) + 1;
    if (hostv.n < auth.n) {
      if (auth.p[hostv.n] != ':')
        return NULL;
      portv = (struct sv){auth.p + hostv.n + 1, auth.n - hostv.n - 1};
    }
  } else {
    const char *colon = memchr(auth.p, ':', auth.n);
    if (colon) {
      hostv.n = (size_t)(colon - auth.p);
      portv = (struct sv){colon + 1, auth.n - hostv.n - 1};
    }
  }
  if (hostv.n == 0 || (hostv.p[0] == '[' && hostv.n < 3))
    return NULL;
  unsigned long port = 0;
  if (portv.n > 5)
    return NULL;
  for (size_t i = 0; i < portv.n; i++) {
    if (portv.p[i] < '0' || portv.p[i] > '9')
      return NULL;
    port = port * 10 + (unsigned long)(portv.p[i] - '0');
  }
  if (port > 65535)
    return NULL;
  /* An empty port ("host:") means the default, as in the WHATWG URL standard. */
  if (portv.n == 0 || scheme_default_port(scheme, port))
    return sv_dup(hostv);
  struct buf b;
  buf_init(&b, hostv.n + 8);
  if (buf_append(&b, hostv.p, hostv.n) != ERR_OK || buf_printf(&b, ":%lu", port) != ERR_OK) {
    buf_release(&b);
    return NULL;
  }
  return buf_detach(&b);
}

time_t http_date_parse(const char *date)
{
  if (!date || !*date)
    return (time_t)-1;
  return curl_getdate(date, NULL);
}
