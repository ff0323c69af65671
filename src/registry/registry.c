/* Registry v2 requests as containerd makes them against ECR: Basic AWS:<password> on the first
 * request, containerd's manifest Accept list, errors read from the registry's JSON body.
 * Depends on core, http and crypto; knows nothing of AWS APIs or policies. */
#include "ecrdiag/registry.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "ecrdiag/buf.h"
#include "ecrdiag/crypto.h"

/* containerd remotes/docker/resolver.go: Docker schema 2 manifest and list, OCI manifest and
 * index, then anything. */
const char *const registry_manifest_accept =
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.oci.image.index.v1+json, */*";

#define REGISTRY_MAX_URL_BYTES 4096
#define REGISTRY_MAX_BODY_BYTES (4 * 1024 * 1024) /* containerd's manifest limit */

void registry_result_release(struct registry_result *r)
{
  if (!r)
    return;
  free(r->url);
  free(r->error_code);
  free(r->error_message);
  free(r->content_type);
  free(r->digest);
  free(r->body);
  str_free_secret(r->location);
  memset(r, 0, sizeof *r);
}

/* "Basic base64(AWS:password)" in a secret string the caller frees with str_free_secret. */
static char *basic_auth_value(const char *password)
{
  struct buf plain, value;
  buf_init_secret(&plain, 64 * 1024);
  buf_init_secret(&value, 128 * 1024);
  char *b64 = NULL;
  if (buf_puts(&plain, "AWS:") || buf_puts(&plain, password))
    goto out;
  b64 = crypto_base64_encode(plain.p, plain.len);
  if (!b64 || buf_puts(&value, "Basic ") || buf_puts(&value, b64))
    goto out;
  str_free_secret(b64);
  buf_release(&plain);
  return buf_detach(&value);
out:
  str_free_secret(b64);
  buf_release(&plain);
  buf_release(&value);
  return NULL;
}

/* The registry's JSON error {"errors":[{"code","message"}]} into out, when there is one. */
static void read_registry_error(const struct buf *body, struct registry_result *out)
{
  if (body->len == 0)
    return;
  json_t *root = json_loadb(body->p, body->len, 0, NULL);
  json_t *first = json_array_get(json_object_get(root, "errors"), 0);
  const char *code = json_string_value(json_object_get(first, "code"));
  const char *message = json_string_value(json_object_get(first, "message"));
  if (code)
    out->error_code = str_dup(code);
  if (message)
    out->error_message = str_dup(message);
  json_decref(root);
}

/* What one registry request asks for beyond method and path. */
struct request_shape {
  const char *accept;
  bool keep_body;    /* keep a 2xx body in out->body */
  bool headers_only; /* end the transfer after the headers (a layer) */
};

static enum err_code registry_request(struct http_client *http, const struct registry_target *t,
                                      const char *method, const char *path,
                                      const struct request_shape *shape,
                                      struct registry_result *out, struct err *e)
{
  memset(out, 0, sizeof *out);
  struct buf url, shown;
  buf_init(&url, REGISTRY_MAX_URL_BYTES);
  buf_init(&shown, REGISTRY_MAX_URL_BYTES);
  char *auth = NULL;
  struct http_response resp;
  http_response_init(&resp);
  enum err_code rc = ERR_NOMEM;

  /* A base URL given with a trailing slash must not double the one that starts path. */
  size_t base_len = strlen(t->base_url);
  while (base_len > 0 && t->base_url[base_len - 1] == '/')
    base_len--;
  if (buf_append(&url, t->base_url, base_len) || buf_puts(&url, path) ||
      buf_printf(&shown, "https://%s%s", t->host, path))
    goto out;
  struct http_header headers[2];
  size_t n = 0;
  if (t->password) {
    auth = basic_auth_value(t->password);
    if (!auth)
      goto out;
    headers[n++] = (struct http_header){"Authorization", auth};
  }
  if (shape->accept)
    headers[n++] = (struct http_header){"Accept", shape->accept};
  struct http_request req = {
      .method = method,
      .url = url.p,
      .host_header = t->host,
      .headers = headers,
      .n_headers = n,
      .timeout_ms = t->timeout_ms,
      .max_body_bytes = REGISTRY_MAX_BODY_BYTES,
      .headers_only = shape->headers_only,
  };
  out->url = buf_detach(&shown);
  struct err herr = {0};
  rc = http_perform(http, &req, &resp, &herr);
  out->duration_ms = resp.duration_ms;
  if (rc) {
    out->transport = rc;
    out->error_message = str_dup(herr.msg);
    err_set(e, rc, "%s", herr.msg);
    goto out;
  }
  out->status = resp.status;
  out->content_type = str_dup(resp.content_type);
  out->digest = str_dup(resp.docker_content_digest);
  if (resp.location)
    out->location = str_dup(resp.location);
  if (resp.status >= 400)
    read_registry_error(&resp.body, out);
  else if (shape->keep_body && resp.status < 300)
    out->body = str_dup(buf_str(&resp.body));
out:
  str_free_secret(auth);
  http_response_release(&resp);
  buf_release(&url);
  buf_release(&shown);
  return rc;
}

enum err_code registry_ping(struct http_client *http, const struct registry_target *t,
                            struct registry_result *out, struct err *e)
{
  static const struct request_shape shape = {0};
  return registry_request(http, t, "GET", "/v2/", &shape, out, e);
}

enum err_code registry_head_manifest(struct http_client *http, const struct registry_target *t,
                                     const char *repository, const char *ref,
                                     struct registry_result *out, struct err *e)
{
  struct buf path;
  buf_init(&path, REGISTRY_MAX_URL_BYTES);
  enum err_code rc = buf_printf(&path, "/v2/%s/manifests/%s", repository, ref);
  if (rc) {
    err_set(e, rc, "registry path for '%s' is too long", repository);
    goto out;
  }
  const struct request_shape shape = {.accept = registry_manifest_accept};
  rc = registry_request(http, t, "HEAD", path.p, &shape, out, e);
  if (rc == ERR_OK && out->status >= 400 && !out->error_code) {
    /* A HEAD answer has no body, so the registry's reason (DENIED, MANIFEST_UNKNOWN and its
     * message) comes from the same request as a GET, as containerd falls back to. */
    struct registry_result get;
    if (registry_request(http, t, "GET", path.p, &shape, &get, NULL) == ERR_OK &&
        get.status == out->status) {
      out->error_code = get.error_code;
      out->error_message = get.error_message;
      get.error_code = get.error_message = NULL;
      out->duration_ms += get.duration_ms;
    }
    registry_result_release(&get);
  }
out:
  buf_release(&path);
  return rc;
}

static enum err_code registry_get_path(struct http_client *http, const struct registry_target *t,
                                       const char *fmt_kind, const char *repository,
                                       const char *ref, const struct request_shape *shape,
                                       struct registry_result *out, struct err *e)
{
  struct buf path;
  buf_init(&path, REGISTRY_MAX_URL_BYTES);
  enum err_code rc = buf_printf(&path, "/v2/%s/%s/%s", repository, fmt_kind, ref);
  if (rc) {
    memset(out, 0, sizeof *out);
    err_set(e, rc, "registry path for '%s' is too long", repository);
  } else {
    rc = registry_request(http, t, "GET", path.p, shape, out, e);
  }
  buf_release(&path);
  return rc;
}

enum err_code registry_get_manifest(struct http_client *http, const struct registry_target *t,
                                    const char *repository, const char *ref,
                                    struct registry_result *out, struct err *e)
{
  const struct request_shape shape = {.accept = registry_manifest_accept, .keep_body = true};
  return registry_get_path(http, t, "manifests", repository, ref, &shape, out, e);
}

enum err_code registry_get_blob(struct http_client *http, const struct registry_target *t,
                                const char *repository, const char *digest, bool keep_body,
                                struct registry_result *out, struct err *e)
{
  const struct request_shape shape = {.keep_body = keep_body, .headers_only = !keep_body};
  return registry_get_path(http, t, "blobs", repository, digest, &shape, out, e);
}

enum err_code registry_fetch_layer(struct http_client *http, const char *url, long timeout_ms,
                                   bool keep_body, struct registry_result *out, struct err *e)
{
  memset(out, 0, sizeof *out);
  /* The query carries X-Amz-Signature and X-Amz-Security-Token: never shown anywhere. */
  const char *q = strchr(url, '?');
  out->url = q ? sv_dup((struct sv){url, (size_t)(q - url)}) : str_dup(url);
  struct http_header range = {"Range", "bytes=0-0"};
  struct http_request req = {
      .method = "GET",
      .url = url,
      .headers = &range,
      .n_headers = keep_body ? 0 : 1,
      .timeout_ms = timeout_ms,
      .max_body_bytes = REGISTRY_MAX_BODY_BYTES,
      .headers_only = !keep_body,
  };
  struct http_response resp;
  http_response_init(&resp);
  struct err herr = {0};
  enum err_code rc = http_perform(http, &req, &resp, &herr);
  out->duration_ms = resp.duration_ms;
  if (rc) {
    out->transport = rc;
    out->error_message = str_dup(herr.msg);
    err_set(e, rc, "%s", herr.msg);
  } else {
    out->status = resp.status;
    out->content_type = str_dup(resp.content_type);
    out->error_code = resp.status >= 400 ? str_dup(resp.error_type) : NULL;
    if (keep_body && resp.status < 300)
      out->body = str_dup(buf_str(&resp.body));
  }
  http_response_release(&resp);
  return rc;
}
