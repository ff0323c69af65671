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
#define REGISTRY_MAX_BODY_BYTES (64 * 1024)

void registry_result_release(struct registry_result *r)
{
  if (!r)
    return;
  free(r->url);
  free(r->error_code);
  free(r->error_message);
  free(r->content_type);
  free(r->digest);
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

static enum err_code registry_request(struct http_client *http, const struct registry_target *t,
                                      const char *method, const char *path, const char *accept,
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
  if (accept)
    headers[n++] = (struct http_header){"Accept", accept};
  struct http_request req = {
      .method = method,
      .url = url.p,
      .host_header = t->host,
      .headers = headers,
      .n_headers = n,
      .timeout_ms = t->timeout_ms,
      .max_body_bytes = REGISTRY_MAX_BODY_BYTES,
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
  if (resp.status >= 300)
    read_registry_error(&resp.body, out);
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
  return registry_request(http, t, "GET", "/v2/", NULL, out, e);
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
  rc = registry_request(http, t, "HEAD", path.p, registry_manifest_accept, out, e);
  if (rc == ERR_OK && out->status >= 400 && !out->error_code) {
    /* A HEAD answer has no body, so the registry's reason (DENIED, MANIFEST_UNKNOWN and its
     * message) comes from the same request as a GET, as containerd falls back to. */
    struct registry_result get;
    if (registry_request(http, t, "GET", path.p, registry_manifest_accept, &get, NULL) ==
            ERR_OK &&
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
