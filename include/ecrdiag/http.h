/* HTTP over libcurl: the only libcurl user. Timeouts on every transfer, a cap on every
 * response body, TLS settings, and the few response headers the diagnosis needs.
 * One client per thread (it owns one reusable connection cache). Depends on core only. */
#ifndef ECRDIAG_HTTP_H
#define ECRDIAG_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "ecrdiag/buf.h"
#include "ecrdiag/err.h"
#include "ecrdiag/header.h"

/* A connection cache (and DNS and TLS session cache) shared by clients on several threads, so
 * requests made at once on separate clients still reuse each other's connections. */
struct http_share;
/* NULL with e filled when libcurl cannot make one. Free only after every client using it. */
struct http_share *http_share_new(struct err *e);
void http_share_free(struct http_share *s);

struct http_options {
  long connect_timeout_ms; /* 0: 5000 */
  long timeout_ms;         /* total per transfer; 0: 30000 */
  size_t max_body_bytes;   /* 0: 8 MiB */
  const char *ca_bundle;   /* NULL: system default */
  bool insecure;           /* skip TLS verification (the caller warns) */
  const char *user_agent;  /* NULL: "ecrdiag/VERSION" */
  /* "HOST:PORT:ADDR[,ADDR...][,HOST:PORT:ADDR...]" as CURLOPT_RESOLVE, or NULL. Split at
   * commas; a piece that does not start with "HOST:PORT:" is one more address of the entry
   * before it. http_client_new fails with ERR_INVALID on a malformed entry. */
  const char *resolve;
  struct http_share *share; /* borrowed; NULL: the client keeps its own connections */
};

struct http_request {
  const char *method;      /* "GET", "HEAD", "POST", "PUT" */
  const char *url;         /* where the request goes */
  const char *host_header; /* NULL: from url; else sent as Host (registry endpoint override) */
  const struct http_header *headers; /* extra headers, Host excluded */
  size_t n_headers;
  const void *body;
  size_t body_len;
  long timeout_ms;       /* 0: the client's */
  size_t max_body_bytes; /* 0: the client's */
  bool headers_only;     /* end the transfer once the headers are in (layer probe) */
  bool secret_body;      /* the answer holds a secret: resp->body is a secret buffer */
};

struct http_response {
  long status; /* 0 when no answer came */
  struct buf body;
  char *content_type; /* NULL when absent; likewise below */
  char *location;
  char *www_authenticate;
  char *request_id; /* x-amzn-RequestId, else x-amz-request-id */
  char *docker_content_digest;
  char *date;       /* the Date header, for clock-skew reports */
  char *error_type; /* x-amzn-ErrorType (awsJson error code), or NULL */
  long duration_ms;
};

struct http_client;

/* o may be NULL (all defaults); its strings are copied. NULL with e filled on failure. */
struct http_client *http_client_new(const struct http_options *o, struct err *e);
void http_client_free(struct http_client *c);

/* Sends req and fills resp (caller-owned storage, initialised with http_response_init; any
 * previous contents are released first; release with http_response_release).
 * ERR_OK whenever an HTTP answer came, whatever its status; with headers_only, ERR_OK once
 * the final header block is in (resp->body stays empty). Otherwise the transport failure:
 * ERR_DNS, ERR_CONNECT, ERR_TIMEOUT, ERR_TLS, ERR_NETWORK or ERR_TOO_LARGE (body past
 * max_body_bytes), with e->msg naming the host (never the URL's path or query, which may
 * carry a presigned signature); resp->status keeps whatever status line had come.
 * ERR_INVALID for a malformed request (CR/LF in a header, no URL). Never follows redirects.
 * Header values are wiped from the handle's header list after the transfer and never
 * logged (libcurl's own internal copies cannot be wiped). */
enum err_code http_perform(struct http_client *c, const struct http_request *req,
                           struct http_response *resp, struct err *e);
void http_response_init(struct http_response *r);
void http_response_release(struct http_response *r);

/* "host" or "host:port" of url as it goes in the Host header (the port only when it is
 * not the scheme's default); the caller frees. NULL when url is malformed. */
char *http_url_authority(const char *url);

/* An HTTP date (the Date header: IMF-fixdate, RFC 850 or asctime form) as epoch seconds,
 * or -1 when it cannot be parsed. */
time_t http_date_parse(const char *date);

#endif
