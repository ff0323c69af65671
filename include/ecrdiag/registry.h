/* The ECR registry's Docker Registry v2 / OCI distribution API as containerd uses it:
 * Basic `AWS:<password>` auth sent with the first request, the manifest Accept list.
 * Depends on core, http, crypto. */
#ifndef ECRDIAG_REGISTRY_H
#define ECRDIAG_REGISTRY_H

#include <stdbool.h>

#include "ecrdiag/err.h"
#include "ecrdiag/http.h"

/* The Accept header containerd sends for manifests (remotes/docker/resolver.go). */
extern const char *const registry_manifest_accept;

struct registry_target {
  const char *host;     /* the registry's name, sent as Host: "ACCT.dkr.ecr.REGION.amazonaws.com" */
  const char *base_url; /* where requests go: ECRDIAG_REGISTRY_ENDPOINT, else "https://" + host */
  const char *password; /* secret, borrowed: from GetAuthorizationToken; NULL sends no auth */
  long timeout_ms;      /* 0: the client's */
};

/* One registry request, as the report records it. Release with registry_result_release. */
struct registry_result {
  char *url;   /* the registry URL (the host's, never the override's) */
  long status; /* 0 when no answer */
  enum err_code transport;
  char *error_code;    /* errors[0].code of the registry's JSON error, e.g. "DENIED" */
  char *error_message; /* errors[0].message, or the transport failure's text */
  char *content_type;
  char *digest; /* Docker-Content-Digest */
  long duration_ms;
  char *body;     /* the answer's body, for the requests that keep it (2xx only) */
  char *location; /* a redirect's Location: a pre-signed URL, so a secret (wiped) */
};
void registry_result_release(struct registry_result *r);

/* GET /v2/ with the credentials: 200 means the token is accepted for this registry. */
enum err_code registry_ping(struct http_client *http, const struct registry_target *t,
                            struct registry_result *out, struct err *e);
/* HEAD /v2/<repository>/manifests/<ref> with containerd's Accept list. ERR_OK when an answer
 * came, whatever its status; a transport failure otherwise (out->transport set too). */
enum err_code registry_head_manifest(struct http_client *http, const struct registry_target *t,
                                     const char *repository, const char *ref,
                                     struct registry_result *out, struct err *e);

/* GET /v2/<repository>/manifests/<ref>, keeping the manifest in out->body. */
enum err_code registry_get_manifest(struct http_client *http, const struct registry_target *t,
                                    const char *repository, const char *ref,
                                    struct registry_result *out, struct err *e);
/* GET /v2/<repository>/blobs/<digest> without following a redirect: ECR answers 307 with a
 * pre-signed layer URL in out->location. keep_body keeps a small blob (a config) in
 * out->body; otherwise the transfer ends once the headers are in. */
enum err_code registry_get_blob(struct http_client *http, const struct registry_target *t,
                                const char *repository, const char *digest, bool keep_body,
                                struct registry_result *out, struct err *e);
/* GET of a pre-signed blob URL as containerd fetches it, without credentials (a HEAD would
 * get 403: the URL is signed for GET). A layer: Range bytes=0-0 and the transfer ended after
 * the headers; keep_body (a config): the whole blob in out->body. out->url is the URL
 * without its query, which holds the signature. */
enum err_code registry_fetch_layer(struct http_client *http, const char *url, long timeout_ms,
                                   bool keep_body, struct registry_result *out, struct err *e);

#endif
