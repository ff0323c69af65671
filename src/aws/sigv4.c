/* AWS Signature Version 4 (AWS4-HMAC-SHA256) for header and query (presigned) signing,
 * producing every intermediate stage so tests can hold each one against the aws-c-auth suite.
 * The clock and credentials are inputs; nothing here reads the time, the environment or the
 * network, and nothing is logged. With crypto.c, the only OpenSSL user. Depends on core only. */
#include "ecrdiag/sigv4.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ecrdiag/crypto.h"

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
/* Ceiling on every buffer the signer builds: a canonical request is headers plus query, and
 * even a large STS session token keeps it under a few KiB. */
#define SIGV4_MAX_CANONICAL_BYTES (256u * 1024u)
#define SIGV4_MAX_SECRET_BYTES 1024u
/* The longest presigned URL validity AWS accepts (seven days). */
#define SIGV4_MAX_EXPIRES_S 604800L

/* Never signed: proxies and HTTP stacks rewrite them in flight (aws-c-auth's skip list). */
static const char *const skipped_headers[] = {
    "x-amzn-trace-id",
    "user-agent",
    "connection",
    "sec-websocket-key",
    "sec-websocket-protocol",
    "sec-websocket-version",
    "upgrade",
};

/* Headers the signer adds itself; a caller copy would be signed twice or contradict ours. */
static const char *const forbidden_headers[] = {
    "x-amz-date",
    "authorization",
    "x-amz-content-sha256",
    "x-amz-security-token",
};

/* Query parameters the signer adds itself (compared case-insensitively, as aws-c-auth does). */
static const char *const forbidden_params[] = {
    "X-Amz-Signature",     "X-Amz-Date",    "X-Amz-Credential",     "X-Amz-Algorithm",
    "X-Amz-SignedHeaders", "X-Amz-Expires", "X-Amz-Security-Token",
};

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))
#define TRY(expr)     \
  do {                \
    rc = (expr);      \
    if (rc != ERR_OK) \
      goto out;       \
  } while (0)

/* ---- small helpers ---- */

static bool is_unreserved(unsigned char c)
{
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

/* The whitespace set aws-c-auth trims and collapses in header values (C isspace in "C"). */
static bool is_space(unsigned char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* RFC 9110 token characters: what a header name may contain. */
static bool is_tchar(unsigned char c)
{
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
    return true;
  return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int hex_value(unsigned char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* RFC 3986 percent-encoding of everything outside the unreserved set (upper-case hex, as
 * SigV4 requires); keep_slash for paths, where '/' separates segments. */
static enum err_code uri_encode(struct buf *b, const char *p, size_t n, bool keep_slash)
{
  static const char digits[] = "0123456789ABCDEF";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    enum err_code rc;
    if (is_unreserved(c) || (keep_slash && c == '/')) {
      rc = buf_putc(b, (char)c);
    } else {
      char esc[3] = {'%', digits[c >> 4], digits[c & 15]};
      rc = buf_append(b, esc, sizeof esc);
    }
    if (rc)
      return rc;
  }
  return ERR_OK;
}

/* Undoes percent-encoding; '+' stays '+' (RFC 3986, not form encoding). ERR_PARSE on a '%'
 * not followed by two hex digits. */
static enum err_code uri_decode(struct buf *b, const char *p, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c == '%') {
      if (n - i < 3)
        return ERR_PARSE;
      int hi = hex_value((unsigned char)p[i + 1]);
      int lo = hex_value((unsigned char)p[i + 2]);
      if (hi < 0 || lo < 0)
        return ERR_PARSE;
      c = (unsigned char)(hi << 4 | lo);
      i += 2;
    }
    enum err_code rc = buf_putc(b, (char)c);
    if (rc)
      return rc;
  }
  return ERR_OK;
}

static bool in_list_ci(const char *const *list, size_t n, const char *s, size_t len)
{
  for (size_t i = 0; i < n; i++)
    if (strlen(list[i]) == len && strncasecmp(list[i], s, len) == 0)
      return true;
  return false;
}

static bool valid_amz_date(const char *d)
{
  if (!d || strlen(d) != 16 || d[8] != 'T' || d[15] != 'Z')
    return false;
  for (int i = 0; i < 15; i++)
    if (i != 8 && (d[i] < '0' || d[i] > '9'))
      return false;
  return true;
}

/* A scope part (region, service) goes between '/' in the credential scope: keep it plain. */
static bool valid_scope_part(const char *s)
{
  if (!s || !*s)
    return false;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
          *s == '-' || *s == '_' || *s == '.'))
      return false;
  return true;
}

void sigv4_amz_date(time_t t, char out[17])
{
  struct tm tm;
  if (!gmtime_r(&t, &tm) || strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) != 16) {
    /* Only a time_t beyond year 9999 gets here; a well-formed stamp AWS will reject as skew
     * is better than an unterminated one. */
    memcpy(out, "19700101T000000Z", 17);
  }
}

/* ---- signing key ---- */

enum err_code sigv4_signing_key(const char *secret_access_key, const char *date, const char *region,
                                const char *service, unsigned char out[32])
{
  if (!secret_access_key || !*secret_access_key || !date || !region || !service)
    return ERR_INVALID;
  for (int i = 0; i < 8; i++)
    if (date[i] < '0' || date[i] > '9')
      return ERR_INVALID;
  size_t secret_len = strlen(secret_access_key);
  if (secret_len > SIGV4_MAX_SECRET_BYTES)
    return ERR_TOO_LARGE;

  /* kSecret = "AWS4" + secret: a copy of the secret, so it lives only as long as this call. */
  size_t k_len = 4 + secret_len;
  unsigned char *k_secret = malloc(k_len);
  if (!k_secret)
    return ERR_NOMEM;
  memcpy(k_secret, "AWS4", 4);
  memcpy(k_secret + 4, secret_access_key, secret_len);

  unsigned char k_date[32], k_region[32], k_service[32];
  crypto_hmac_sha256(k_secret, k_len, date, 8, k_date);
  crypto_hmac_sha256(k_date, sizeof k_date, region, strlen(region), k_region);
  crypto_hmac_sha256(k_region, sizeof k_region, service, strlen(service), k_service);
  crypto_hmac_sha256(k_service, sizeof k_service, "aws4_request", 12, out);

  crypto_wipe(k_secret, k_len);
  free(k_secret);
  crypto_wipe(k_date, sizeof k_date);
  crypto_wipe(k_region, sizeof k_region);
  crypto_wipe(k_service, sizeof k_service);
  return ERR_OK;
}

/* ---- canonical URI ---- */

/* RFC 3986 dot-segment removal plus empty-segment removal, keeping a trailing '/', as
 * aws-c-auth does for every service but S3: "//a/./b/../" becomes "/a/". */
static enum err_code normalize_path(struct buf *dst, const char *path)
{
  size_t n_slash = 0;
  for (const char *p = path; *p; p++)
    n_slash += *p == '/';
  struct sv *stack = calloc(n_slash + 1, sizeof *stack);
  if (!stack)
    return ERR_NOMEM;
  size_t depth = 0;
  const char *p = path;
  for (;;) {
    const char *end = strchr(p, '/');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len == 0 || (len == 1 && p[0] == '.')) {
      /* contributes nothing */
    } else if (len == 2 && p[0] == '.' && p[1] == '.') {
      if (depth)
        depth--;
    } else {
      stack[depth++] = (struct sv){p, len};
    }
    if (!end)
      break;
    p = end + 1;
  }
  size_t path_len = strlen(path);
  bool trailing = path_len > 0 && path[path_len - 1] == '/';
  enum err_code rc = buf_putc(dst, '/');
  for (size_t i = 0; rc == ERR_OK && i < depth; i++) {
    rc = buf_append(dst, stack[i].p, stack[i].n);
    if (rc == ERR_OK && (i + 1 < depth || trailing))
      rc = buf_putc(dst, '/');
  }
  free(stack);
  return rc;
}

static enum err_code append_canonical_uri(struct buf *cr, const char *path, bool normalize)
{
  if (!path || !*path)
    return buf_putc(cr, '/');
  if (!normalize)
    return uri_encode(cr, path, strlen(path), true);
  struct buf norm;
  buf_init(&norm, SIGV4_MAX_CANONICAL_BYTES);
  enum err_code rc = normalize_path(&norm, path);
  if (rc == ERR_OK)
    rc = uri_encode(cr, norm.p, norm.len, true);
  buf_release(&norm);
  return rc;
}

/* ---- canonical headers ---- */

struct canon_header {
  char *lname;       /* lower-cased name, owned */
  const char *value; /* borrowed */
  size_t index;      /* position in the request: keeps repeated headers in their order */
};

static int canon_header_cmp(const void *a, const void *b)
{
  const struct canon_header *x = a;
  const struct canon_header *y = b;
  int c = strcmp(x->lname, y->lname);
  if (c)
    return c;
  return x->index < y->index ? -1 : x->index > y->index;
}

/* Trim, and squash every run of whitespace (line folds included) into one space. */
static enum err_code append_trimmed_value(struct buf *b, const char *v)
{
  const unsigned char *p = (const unsigned char *)v;
  while (*p && is_space(*p))
    p++;
  bool pending_space = false;
  for (; *p; p++) {
    if (is_space(*p)) {
      pending_space = true;
      continue;
    }
    enum err_code rc = ERR_OK;
    if (pending_space)
      rc = buf_putc(b, ' ');
    if (rc == ERR_OK)
      rc = buf_putc(b, (char)*p);
    if (rc)
      return rc;
    pending_space = false;
  }
  return ERR_OK;
}

/* A value may hold a line break only as an obsolete fold (CRLF or LF then space or tab):
 * anything else would smuggle a second header onto the wire. */
static bool value_is_safe(const char *v)
{
  for (const char *p = v; *p; p++) {
    if (*p == '\r') {
      if (p[1] != '\n')
        return false;
      continue;
    }
    if (*p == '\n' && p[1] != ' ' && p[1] != '\t')
      return false;
  }
  return true;
}

/* ---- the signer ---- */

struct query_param {
  char *key;   /* URI-encoded, owned */
  char *value; /* URI-encoded, owned */
};

static int query_param_cmp(const void *a, const void *b)
{
  const struct query_param *x = a;
  const struct query_param *y = b;
  int c = strcmp(x->key, y->key);
  return c ? c : strcmp(x->value, y->value);
}

struct signer {
  const struct sigv4_input *in;
  const struct sigv4_creds *creds;
  bool query_mode;
  bool with_token; /* creds carry a session token */
  char payload_hash[65];
  char scope[160];
  char expires[24];
  struct buf credential; /* ACCESS_KEY_ID/scope */
  struct canon_header *headers;
  size_t n_headers;
  struct buf canon_headers; /* "name:value\n" lines */
  struct buf signed_headers;
  struct query_param *params;
  size_t n_params;
  size_t cap_params;
  struct buf scratch;
};

static void signer_release(struct signer *s)
{
  for (size_t i = 0; i < s->n_headers; i++)
    free(s->headers[i].lname);
  free(s->headers);
  for (size_t i = 0; i < s->n_params; i++) {
    str_free_secret(s->params[i].key);
    str_free_secret(s->params[i].value);
  }
  free(s->params);
  buf_release(&s->canon_headers);
  buf_release(&s->signed_headers);
  buf_release(&s->credential);
  buf_release(&s->scratch);
}

static enum err_code add_header(struct signer *s, const char *name, const char *value, size_t index)
{
  size_t n = strlen(name);
  char *l = malloc(n + 1);
  if (!l)
    return ERR_NOMEM;
  for (size_t i = 0; i < n; i++)
    l[i] = (name[i] >= 'A' && name[i] <= 'Z') ? (char)(name[i] - 'A' + 'a') : name[i];
  l[n] = '\0';
  s->headers[s->n_headers++] = (struct canon_header){l, value, index};
  return ERR_OK;
}

static enum err_code build_canonical_headers(struct signer *s, const char *amz_date, struct err *e)
{
  const struct sigv4_input *in = s->in;
  enum err_code rc = ERR_OK;
  bool have_host = false;

  s->headers = calloc(in->n_headers + 3, sizeof *s->headers);
  if (!s->headers)
    return ERR_NOMEM;
  for (size_t i = 0; i < in->n_headers; i++) {
    const struct http_header *h = &in->headers[i];
    if (!h->name || !*h->name || !h->value)
      return err_set(e, ERR_INVALID, "cannot sign: request header %zu has no name or value", i);
    size_t n = strlen(h->name);
    for (size_t j = 0; j < n; j++)
      if (!is_tchar((unsigned char)h->name[j]))
        return err_set(e, ERR_INVALID,
                       "cannot sign: header name '%.64s' contains a character not allowed "
                       "in header names",
                       h->name);
    if (in_list_ci(forbidden_headers, COUNT_OF(forbidden_headers), h->name, n))
      return err_set(e, ERR_INVALID,
                     "cannot sign: header '%.64s' is added by the signer; leave it out of the "
                     "request",
                     h->name);
    if (!value_is_safe(h->value))
      return err_set(e, ERR_INVALID,
                     "cannot sign: header '%.64s' has a line break that is not a folded "
                     "continuation; remove it",
                     h->name);
    if (strcasecmp(h->name, "host") == 0)
      have_host = true;
    if (in_list_ci(skipped_headers, COUNT_OF(skipped_headers), h->name, n))
      continue;
    TRY(add_header(s, h->name, h->value, i));
  }
  if (!have_host)
    return err_set(e, ERR_INVALID,
                   "cannot sign: the request has no 'Host' header; add the host it is sent to");

  /* Header signing signs what it adds; query signing carries these in the query instead. */
  if (!s->query_mode) {
    size_t next = in->n_headers;
    if (s->with_token && !in->omit_session_token)
      TRY(add_header(s, "X-Amz-Security-Token", s->creds->session_token, next++));
    TRY(add_header(s, "X-Amz-Date", amz_date, next++));
    if (in->sign_body)
      TRY(add_header(s, "x-amz-content-sha256", s->payload_hash, next++));
  }

  qsort(s->headers, s->n_headers, sizeof *s->headers, canon_header_cmp);
  for (size_t i = 0; i < s->n_headers; i++) {
    const struct canon_header *h = &s->headers[i];
    if (i > 0 && strcmp(h->lname, s->headers[i - 1].lname) == 0) {
      /* A repeated header is one canonical line, values comma-joined in request order. */
      TRY(buf_putc(&s->canon_headers, ','));
    } else {
      if (i > 0) {
        TRY(buf_putc(&s->canon_headers, '\n'));
        TRY(buf_putc(&s->signed_headers, ';'));
      }
      TRY(buf_puts(&s->signed_headers, h->lname));
      TRY(buf_puts(&s->canon_headers, h->lname));
      TRY(buf_putc(&s->canon_headers, ':'));
    }
    TRY(append_trimmed_value(&s->canon_headers, h->value));
  }
  TRY(buf_putc(&s->canon_headers, '\n'));
out:
  return rc;
}

/* Adds one parameter given unencoded; the canonical form is always the encoded one. */
static enum err_code add_param(struct signer *s, const char *key, size_t key_len, const char *value,
                               size_t value_len)
{
  enum err_code rc = ERR_OK;
  struct query_param qp = {NULL, NULL};
  if (s->n_params == s->cap_params) {
    size_t cap = s->cap_params ? s->cap_params * 2 : 16;
    struct query_param *p = realloc(s->params, cap * sizeof *p);
    if (!p)
      return ERR_NOMEM;
    s->params = p;
    s->cap_params = cap;
  }
  buf_reset(&s->scratch);
  TRY(uri_encode(&s->scratch, key, key_len, false));
  qp.key = buf_detach(&s->scratch);
  if (!qp.key) {
    rc = ERR_NOMEM;
    goto out;
  }
  TRY(uri_encode(&s->scratch, value, value_len, false));
  qp.value = buf_detach(&s->scratch);
  if (!qp.value) {
    rc = ERR_NOMEM;
    goto out;
  }
  s->params[s->n_params++] = qp;
  return ERR_OK;
out:
  str_free_secret(qp.key);
  str_free_secret(qp.value);
  return rc;
}

/* The request's own query: split on '&', then on the first '=', percent-decoded so that an
 * already-encoded "%E1%88%B4" and a raw UTF-8 key canonicalise alike (aws-c-auth does the
 * same decode-then-encode). */
static enum err_code add_request_params(struct signer *s, struct err *e)
{
  const char *q = s->in->query;
  if (!q || !*q)
    return ERR_OK;
  enum err_code rc = ERR_OK;
  struct buf key, value;
  buf_init_secret(&key, SIGV4_MAX_CANONICAL_BYTES);
  buf_init_secret(&value, SIGV4_MAX_CANONICAL_BYTES);
  for (const char *p = q; *p;) {
    const char *amp = strchr(p, '&');
    size_t len = amp ? (size_t)(amp - p) : strlen(p);
    if (len > 0) {
      const char *eq = memchr(p, '=', len);
      size_t klen = eq ? (size_t)(eq - p) : len;
      buf_reset(&key);
      buf_reset(&value);
      if (uri_decode(&key, p, klen) != ERR_OK ||
          (eq && uri_decode(&value, eq + 1, len - klen - 1) != ERR_OK)) {
        rc = err_set(e, ERR_INVALID,
                     "cannot sign: the query string has a '%%' not followed by two hex "
                     "digits; encode it as %%25");
        goto out;
      }
      if (in_list_ci(forbidden_params, COUNT_OF(forbidden_params), buf_str(&key), key.len)) {
        rc = err_set(e, ERR_INVALID,
                     "cannot sign: query parameter '%.64s' is added by the signer; leave it out",
                     buf_str(&key));
        goto out;
      }
      TRY(add_param(s, buf_str(&key), key.len, buf_str(&value), value.len));
    }
    if (!amp)
      break;
    p = amp + 1;
  }
out:
  buf_release(&key);
  buf_release(&value);
  return rc;
}

struct auth_param {
  const char *key;
  const char *value;
};

/* The query-signing parameters, unencoded, in the order aws-c-auth appends them to the URL.
 * The one table serves the canonical query (sorted there) and the URL (kept in this order). */
static size_t auth_params(const struct signer *s, const char *amz_date, bool include_token,
                          struct auth_param out[6])
{
  size_t n = 0;
  out[n++] = (struct auth_param){"X-Amz-Algorithm", SIGV4_ALGORITHM};
  out[n++] = (struct auth_param){"X-Amz-Credential", buf_str(&s->credential)};
  out[n++] = (struct auth_param){"X-Amz-Date", amz_date};
  out[n++] = (struct auth_param){"X-Amz-SignedHeaders", buf_str(&s->signed_headers)};
  if (s->in->expires_s > 0)
    out[n++] = (struct auth_param){"X-Amz-Expires", s->expires};
  if (include_token)
    out[n++] = (struct auth_param){"X-Amz-Security-Token", s->creds->session_token};
  return n;
}

static enum err_code add_auth_params(struct signer *s, const char *amz_date)
{
  struct auth_param items[6];
  /* With omit_session_token the token travels in the URL but is not signed. */
  size_t n = auth_params(s, amz_date, s->with_token && !s->in->omit_session_token, items);
  for (size_t i = 0; i < n; i++) {
    enum err_code rc =
        add_param(s, items[i].key, strlen(items[i].key), items[i].value, strlen(items[i].value));
    if (rc)
      return rc;
  }
  return ERR_OK;
}

static enum err_code append_auth_query(const struct signer *s, struct buf *q, const char *amz_date)
{
  struct auth_param items[6];
  size_t n = auth_params(s, amz_date, s->with_token, items);
  for (size_t i = 0; i < n; i++) {
    enum err_code rc = q->len > 0 ? buf_putc(q, '&') : ERR_OK;
    if (rc == ERR_OK)
      rc = buf_puts(q, items[i].key);
    if (rc == ERR_OK)
      rc = buf_putc(q, '=');
    if (rc == ERR_OK)
      rc = uri_encode(q, items[i].value, strlen(items[i].value), false);
    if (rc)
      return rc;
  }
  return ERR_OK;
}

static enum err_code check_input(const struct sigv4_input *in, const struct sigv4_creds *creds,
                                 bool query_mode, struct err *e)
{
  if (!in || !creds)
    return err_set(e, ERR_INVALID, "cannot sign: no request or no credentials given");
  if (!in->method || !*in->method)
    return err_set(e, ERR_INVALID, "cannot sign: the request has no method");
  for (const char *m = in->method; *m; m++)
    if (!is_tchar((unsigned char)*m))
      return err_set(e, ERR_INVALID, "cannot sign: method '%.32s' is not an HTTP token",
                     in->method);
  if (!valid_scope_part(in->region))
    return err_set(e, ERR_INVALID,
                   "cannot sign: region '%.64s' is empty or has characters other than "
                   "letters, digits, '-', '_' and '.'",
                   in->region ? in->region : "");
  if (!valid_scope_part(in->service))
    return err_set(e, ERR_INVALID,
                   "cannot sign: service '%.64s' is empty or has characters other than "
                   "letters, digits, '-', '_' and '.'",
                   in->service ? in->service : "");
  if (!valid_amz_date(in->amz_date))
    return err_set(e, ERR_INVALID,
                   "cannot sign: the date '%.32s' is not in the form YYYYMMDDTHHMMSSZ; build it "
                   "with sigv4_amz_date",
                   in->amz_date ? in->amz_date : "");
  if (in->n_headers && !in->headers)
    return err_set(e, ERR_INVALID, "cannot sign: header count given without headers");
  if (in->body_len && !in->body)
    return err_set(e, ERR_INVALID, "cannot sign: body length given without a body");
  if (!creds->access_key_id || !*creds->access_key_id)
    return err_set(e, ERR_CREDENTIALS, "cannot sign: the credentials have no access key id");
  if (strchr(creds->access_key_id, '/'))
    return err_set(e, ERR_CREDENTIALS,
                   "cannot sign: the access key id contains '/'; check that the key id and "
                   "secret are not swapped");
  if (!creds->secret_access_key || !*creds->secret_access_key)
    return err_set(e, ERR_CREDENTIALS, "cannot sign: the credentials have no secret access key");
  if (query_mode && (in->expires_s < 0 || in->expires_s > SIGV4_MAX_EXPIRES_S))
    return err_set(e, ERR_INVALID,
                   "cannot sign: expiry %ld s is outside 0..%ld (seven days); choose a "
                   "shorter one",
                   in->expires_s, SIGV4_MAX_EXPIRES_S);
  return ERR_OK;
}

static void output_init(struct sigv4_output *out)
{
  memset(out, 0, sizeof *out);
  /* Both can hold the session token (canonical headers or query): wiped on release. */
  buf_init_secret(&out->canonical_request, SIGV4_MAX_CANONICAL_BYTES);
  buf_init_secret(&out->string_to_sign, 1024);
}

static enum err_code add_output_header(struct sigv4_output *out, const char *name,
                                       const char *value)
{
  char *v = str_dup(value);
  if (!v)
    return ERR_NOMEM;
  out->added[out->n_added++] = (struct http_header){name, v};
  return ERR_OK;
}

static enum err_code sign(const struct sigv4_input *in, const struct sigv4_creds *creds,
                          bool query_mode, struct sigv4_output *out, struct err *e)
{
  if (!out)
    return err_set(e, ERR_INVALID, "cannot sign: no output given");
  output_init(out);
  err_clear(e);
  enum err_code rc = check_input(in, creds, query_mode, e);
  if (rc)
    return rc;

  struct signer s = {.in = in, .creds = creds, .query_mode = query_mode};
  s.with_token = creds->session_token && *creds->session_token;
  buf_init_secret(&s.canon_headers, SIGV4_MAX_CANONICAL_BYTES);
  buf_init(&s.signed_headers, SIGV4_MAX_CANONICAL_BYTES);
  buf_init_secret(&s.scratch, SIGV4_MAX_CANONICAL_BYTES);
  buf_init(&s.credential, SIGV4_MAX_CANONICAL_BYTES);
  snprintf(s.expires, sizeof s.expires, "%ld", in->expires_s);
  unsigned char key[32];
  unsigned char mac[32];
  struct buf query;
  buf_init_secret(&query, SIGV4_MAX_CANONICAL_BYTES);
  struct buf auth;
  buf_init(&auth, SIGV4_MAX_CANONICAL_BYTES);

  const char *amz_date = in->amz_date;
  crypto_sha256_hex(in->body, in->body_len, s.payload_hash);
  int n = snprintf(s.scope, sizeof s.scope, "%.8s/%s/%s/aws4_request", amz_date, in->region,
                   in->service);
  if (n < 0 || (size_t)n >= sizeof s.scope) {
    rc = err_set(e, ERR_INVALID, "cannot sign: region and service names are too long");
    goto out;
  }
  TRY(buf_printf(&s.credential, "%s/%s", creds->access_key_id, s.scope));

  TRY(build_canonical_headers(&s, amz_date, e));
  TRY(add_request_params(&s, e));
  if (query_mode)
    TRY(add_auth_params(&s, amz_date));
  if (s.n_params > 1) /* qsort wants a non-NULL base even for nothing to sort */
    qsort(s.params, s.n_params, sizeof *s.params, query_param_cmp);

  /* Canonical request: method, URI, query, headers, signed header names, payload hash. */
  struct buf *cr = &out->canonical_request;
  TRY(buf_puts(cr, in->method));
  TRY(buf_putc(cr, '\n'));
  TRY(append_canonical_uri(cr, in->path, in->normalize_path));
  TRY(buf_putc(cr, '\n'));
  for (size_t i = 0; i < s.n_params; i++) {
    if (i)
      TRY(buf_putc(cr, '&'));
    TRY(buf_puts(cr, s.params[i].key));
    TRY(buf_putc(cr, '='));
    TRY(buf_puts(cr, s.params[i].value));
  }
  TRY(buf_putc(cr, '\n'));
  TRY(buf_append(cr, s.canon_headers.p, s.canon_headers.len));
  TRY(buf_putc(cr, '\n'));
  TRY(buf_append(cr, s.signed_headers.p, s.signed_headers.len));
  TRY(buf_putc(cr, '\n'));
  TRY(buf_puts(cr, s.payload_hash));

  char cr_hash[65];
  crypto_sha256_hex(cr->p, cr->len, cr_hash);
  TRY(buf_printf(&out->string_to_sign, "%s\n%s\n%s\n%s", SIGV4_ALGORITHM, amz_date, s.scope,
                 cr_hash));

  rc = sigv4_signing_key(creds->secret_access_key, amz_date, in->region, in->service, key);
  if (rc) {
    err_set(e, rc, "cannot sign: the signing key could not be derived");
    goto out;
  }
  crypto_hmac_sha256(key, sizeof key, out->string_to_sign.p, out->string_to_sign.len, mac);
  crypto_hex(mac, sizeof mac, out->signature);

  if (!query_mode) {
    /* Added in the order aws-c-auth emits them (and the suite's signed requests show). */
    if (s.with_token)
      TRY(add_output_header(out, "X-Amz-Security-Token", creds->session_token));
    TRY(add_output_header(out, "X-Amz-Date", amz_date));
    if (in->sign_body)
      TRY(add_output_header(out, "x-amz-content-sha256", s.payload_hash));
    TRY(buf_printf(&auth, "%s Credential=%s/%s, SignedHeaders=%s, Signature=%s", SIGV4_ALGORITHM,
                   creds->access_key_id, s.scope, buf_str(&s.signed_headers), out->signature));
    TRY(add_output_header(out, "Authorization", buf_str(&auth)));
  } else {
    /* The request's own query goes out as given; the signer only appends. */
    if (in->query && *in->query)
      TRY(buf_puts(&query, in->query));
    TRY(append_auth_query(&s, &query, amz_date));
    TRY(buf_printf(&query, "&X-Amz-Signature=%s", out->signature));
    out->signed_query = buf_detach(&query);
    if (!out->signed_query)
      rc = ERR_NOMEM;
  }

out:
  crypto_wipe(key, sizeof key);
  crypto_wipe(mac, sizeof mac);
  buf_release(&query);
  buf_release(&auth);
  signer_release(&s);
  if (rc) {
    if (e && e->code == ERR_OK)
      err_set(e, rc, "cannot sign the request: %s", err_code_str(rc));
    sigv4_output_release(out);
  }
  return rc;
}

enum err_code sigv4_sign_headers(const struct sigv4_input *in, const struct sigv4_creds *creds,
                                 struct sigv4_output *out, struct err *e)
{
  return sign(in, creds, false, out, e);
}

enum err_code sigv4_sign_query(const struct sigv4_input *in, const struct sigv4_creds *creds,
                               struct sigv4_output *out, struct err *e)
{
  return sign(in, creds, true, out, e);
}

void sigv4_output_release(struct sigv4_output *out)
{
  if (!out)
    return;
  buf_release(&out->canonical_request);
  buf_release(&out->string_to_sign);
  crypto_wipe(out->signature, sizeof out->signature);
  for (size_t i = 0; i < out->n_added && i < SIGV4_MAX_ADDED; i++) {
    /* The value is ours (see sigv4.h); the const is the shared header shape's. */
    str_free_secret((char *)out->added[i].value);
    out->added[i] = (struct http_header){NULL, NULL};
  }
  out->n_added = 0;
  str_free_secret(out->signed_query);
  out->signed_query = NULL;
}
