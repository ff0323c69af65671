/* The ECR registry's Docker Registry v2 / OCI distribution API as containerd uses it:
 * Basic `AWS:<password>` auth sent with the first request, the manifest Accept list.
 * Depends on core, http, crypto. */
#ifndef ECRDIAG_REGISTRY_H
#define ECRDIAG_REGISTRY_H

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
  char *url;            /* the registry URL (the host's, never the override's) */
  long status;          /* 0 when no answer */
  enum err_code transport;
  char *error_code;     /* errors[0].code of the registry's JSON error, e.g. "DENIED" */
  char *error_message;  /* errors[0].message, or the transport failure's text */
  char *content_type;
  char *digest;         /* Docker-Content-Digest */
  long duration_ms;
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

#endif
