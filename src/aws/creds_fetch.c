/* Credential sources that are HTTP endpoints, not AWS APIs: IMDSv2, the container endpoint
 * (ECS, EKS Pod Identity), the IAM Identity Center portal with `aws sso login`'s cached
 * token; and their shared helpers. Answers with keys go to wiped buffers. Depends on core,
 * http and aws; never on libcurl or OpenSSL. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "creds_impl.h"
#include "ecrdiag/header.h"

/* botocore/utils.py: DEFAULT_METADATA_SERVICE_TIMEOUT = 1 (seconds), one attempt
 * (metadata_service_num_attempts), METADATA_BASE_URL = 'http://169.254.169.254/',
 * METADATA_BASE_URL_IPv6 = 'http://[fd00:ec2::254]/', IMDSFetcher._TOKEN_TTL = '21600'. */
#define IMDS_DEFAULT_TIMEOUT_MS 1000L
#define IMDS_BASE_V4 "http://169.254.169.254/"
#define IMDS_BASE_V6 "http://[fd00:ec2::254]/"
#define IMDS_TOKEN_TTL "21600"
#define IMDS_TOKEN_PATH "latest/api/token"
#define IMDS_CREDS_PATH "latest/meta-data/iam/security-credentials/"
/* botocore ContainerMetadataFetcher: TIMEOUT_SECONDS = 2, RETRY_ATTEMPTS = 3,
 * SLEEP_TIME = 1, IP_ADDRESS = '169.254.170.2'. */
#define CONTAINER_TIMEOUT_MS 2000L
#define CONTAINER_ATTEMPTS 3
#define CONTAINER_SLEEP_MS 1000L
#define CONTAINER_RELATIVE_HOST "http://169.254.170.2"
/* Answers that carry credentials are a few KB; a token file a few KB too. */
#define CREDS_ANSWER_MAX_BYTES ((size_t)64 << 10)
#define CREDS_TOKEN_FILE_MAX_BYTES ((size_t)64 << 10)
#define CREDS_URL_MAX_BYTES 4096
#define CREDS_EXCERPT_MAX 160
/* botocore's standard retry mode for the SSO portal call: 3 attempts. */
#define SSO_ATTEMPTS 3

static const char *env_get(const char *name)
{
  const char *v = getenv(name);
  return v && *v ? v : NULL;
}

static void sleep_ms(long ms)
{
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

/* ---- helpers ---- */

static bool digits(const char *s, int n, int *out)
{
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

bool creds_parse_time(const char *s, time_t *out)
{
  if (!s)
    return false;
  int y, mo, d, h, mi, sec;
  if (strlen(s) < 19 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
      !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
      !digits(s + 17, 2, &sec))
    return false;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
    return false;
  const char *p = s + 19;
  if (*p == '.') {
    p++;
    if (*p < '0' || *p > '9')
      return false;
    while (*p >= '0' && *p <= '9')
      p++;
  }
  long offset = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (strcmp(p, "UTC") == 0 || strcmp(p, "GMT") == 0) {
    p += 3;
  } else if (*p == '+' || *p == '-') {
    int oh, om;
    int sign = *p == '-' ? -1 : 1;
    p++;
    if (!digits(p, 2, &oh))
      return false;
    p += 2;
    if (*p == ':')
      p++;
    if (!digits(p, 2, &om))
      return false;
    p += 2;
    offset = sign * (oh * 3600L + om * 60L);
  }
  if (*p)
    return false;
  struct tm tm = {0};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  time_t t = timegm(&tm);
  if (t == (time_t)-1)
    return false;
  *out = t - offset;
  return true;
}

/* SHA-1 (FIPS 180-4), for the SSO cache file name only: OpenSSL stays behind crypto.c, whose
 * interface has no SHA-1, and a file name needs no constant-time code. */
struct sha1 {
  uint32_t h[5];
  uint64_t len;
  unsigned char block[64];
  size_t used;
};

static uint32_t rol(uint32_t x, int n)
{
  return (x << n) | (x >> (32 - n));
}

static void sha1_block(struct sha1 *s, const unsigned char *b)
{
  uint32_t w[80];
  for (int i = 0; i < 16; i++)
    w[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 | (uint32_t)b[4 * i + 2] << 8 |
           b[4 * i + 3];
  for (int i = 16; i < 80; i++)
    w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
  uint32_t a = s->h[0], bb = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4];
  for (int i = 0; i < 80; i++) {
    uint32_t f, k;
    if (i < 20) {
      f = (bb & c) | (~bb & d);
      k = 0x5A827999;
    } else if (i < 40) {
      f = bb ^ c ^ d;
      k = 0x6ED9EBA1;
    } else if (i < 60) {
      f = (bb & c) | (bb & d) | (c & d);
      k = 0x8F1BBCDC;
    } else {
      f = bb ^ c ^ d;
      k = 0xCA62C1D6;
    }
    uint32_t t = rol(a, 5) + f + e + k + w[i];
    e = d;
    d = c;
    c = rol(bb, 30);
    bb = a;
    a = t;
  }
  s->h[0] += a;
  s->h[1] += bb;
  s->h[2] += c;
  s->h[3] += d;
  s->h[4] += e;
}

static void sha1_update(struct sha1 *s, const unsigned char *p, size_t n)
{
  s->len += n;
  while (n) {
    size_t take = 64 - s->used < n ? 64 - s->used : n;
    memcpy(s->block + s->used, p, take);
    s->used += take;
    p += take;
    n -= take;
    if (s->used == 64) {
      sha1_block(s, s->block);
      s->used = 0;
    }
  }
}

void creds_sha1_hex(const void *data, size_t n, char out[41])
{
  struct sha1 s = {{0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0}, 0, {0}, 0};
  sha1_update(&s, data, n);
  uint64_t bits = s.len * 8;
  unsigned char pad = 0x80;
  sha1_update(&s, &pad, 1);
  unsigned char zero = 0;
  while (s.used != 56)
    sha1_update(&s, &zero, 1);
  unsigned char lenb[8];
  for (int i = 0; i < 8; i++)
    lenb[i] = (unsigned char)(bits >> (56 - 8 * i));
  sha1_update(&s, lenb, 8);
  static const char hex[] = "0123456789abcdef";
  for (int i = 0; i < 5; i++)
    for (int k = 0; k < 4; k++) {
      unsigned char byte = (unsigned char)(s.h[i] >> (24 - 8 * k));
      out[8 * i + 2 * k] = hex[byte >> 4];
      out[8 * i + 2 * k + 1] = hex[byte & 15];
    }
  out[40] = '\0';
}

enum err_code creds_read_file(const char *path, size_t max_bytes, struct buf *out, struct err *e)
{
  buf_init_secret(out, max_bytes);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR)
      return err_set(e, ERR_NOT_FOUND, "'%.300s' does not exist", path);
    return err_set(e, ERR_IO, "cannot read '%.300s': %s", path, strerror(err));
  }
  enum err_code rc = ERR_OK;
  char chunk[4096];
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      rc = err_set(e, ERR_IO, "cannot read '%.300s': %s", path, strerror(errno));
      break;
    }
    if (n == 0)
      break;
    rc = buf_append(out, chunk, (size_t)n);
    if (rc == ERR_TOO_LARGE) {
      rc = err_set(e, ERR_TOO_LARGE, "'%.300s' is larger than %zu bytes", path, max_bytes);
      break;
    }
    if (rc) {
      rc = err_set(e, rc, "out of memory");
      break;
    }
  }
  mem_wipe(chunk, sizeof chunk);
  close(fd);
  if (rc == ERR_OK && !out->p)
    rc = buf_puts(out, "");
  return rc;
}

void creds_json_wipe(json_t *j)
{
  if (json_is_string(j)) {
    mem_wipe((char *)json_string_value(j), json_string_length(j));
  } else if (json_is_object(j)) {
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v) creds_json_wipe(v);
  } else if (json_is_array(j)) {
    size_t i;
    json_t *v;
    json_array_foreach(j, i, v) creds_json_wipe(v);
  }
}

static char *json_str_dup(json_t *obj, const char *name, bool *present)
{
  json_t *v = json_object_get(obj, name);
  *present = v != NULL;
  if (!json_is_string(v))
    return NULL;
  return str_dup(json_string_value(v));
}

bool creds_take_json(json_t *obj, const char *akid_name, const char *secret_name,
                     const char *token_name, bool token_optional, const char *expiration_name,
                     bool expiration_optional, struct aws_creds *out, const char **missing)
{
  bool present;
  *missing = NULL;
  out->access_key_id = json_str_dup(obj, akid_name, &present);
  if (!out->access_key_id || !*out->access_key_id) {
    *missing = akid_name;
    return false;
  }
  out->secret_access_key = json_str_dup(obj, secret_name, &present);
  if (!out->secret_access_key || !*out->secret_access_key) {
    *missing = secret_name;
    return false;
  }
  if (token_name) {
    out->session_token = json_str_dup(obj, token_name, &present);
    if ((!out->session_token && (!token_optional || present)) ||
        (!token_optional && out->session_token && !*out->session_token)) {
      *missing = token_name;
      return false;
    }
    if (out->session_token && !*out->session_token) {
      free(out->session_token); /* an empty token is no token */
      out->session_token = NULL;
    }
  }
  if (expiration_name) {
    json_t *v = json_object_get(obj, expiration_name);
    if (!v) {
      if (!expiration_optional) {
        *missing = expiration_name;
        return false;
      }
    } else if (json_is_integer(v) || json_is_real(v)) {
      /* The SSO portal gives epoch milliseconds. */
      out->expires = (time_t)(json_number_value(v) / 1000.0);
    } else if (!creds_parse_time(json_string_value(v), &out->expires)) {
      *missing = expiration_name;
      return false;
    }
  }
  return true;
}

void creds_excerpt(struct buf *out, const char *p, size_t n, size_t max)
{
  size_t start = out->len;
  bool cut = n > max;
  if (cut)
    n = max;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    (void)buf_putc(out, c < 0x20 || c == 0x7f ? ' ' : (char)c);
  }
  while (out->len > start && out->p[out->len - 1] == ' ')
    out->p[--out->len] = '\0';
  if (cut)
    (void)buf_puts(out, "...");
}

/* ---- IMDS ---- */

static bool env_true(const char *name)
{
  const char *v = getenv(name);
  return v && strcasecmp(v, "true") == 0;
}

static long env_long(const char *name, long dflt, long min, long max)
{
  const char *v = env_get(name);
  if (!v)
    return dflt;
  char *end;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (errno || *end || n < min || n > max)
    return dflt;
  return n;
}

static char *url_join(const char *base, const char *path)
{
  struct buf b;
  buf_init(&b, CREDS_URL_MAX_BYTES);
  size_t n = strlen(base);
  enum err_code rc = buf_puts(&b, base);
  if (rc == ERR_OK && (n == 0 || base[n - 1] != '/'))
    rc = buf_putc(&b, '/');
  if (rc == ERR_OK)
    rc = buf_puts(&b, path);
  if (rc) {
    buf_release(&b);
    return NULL;
  }
  return buf_detach(&b);
}

/* One IMDS request; the answer stays in resp (secret when it may carry keys). */
static enum err_code imds_request(const struct creds_ctx *x, const char *method, const char *url,
                                  const struct http_header *h, size_t nh, long timeout_ms,
                                  bool secret, struct http_response *resp, struct err *e)
{
  struct http_request req = {
      .method = method,
      .url = url,
      .headers = h,
      .n_headers = nh,
      .timeout_ms = timeout_ms,
      .max_body_bytes = CREDS_ANSWER_MAX_BYTES,
      .secret_body = secret,
  };
  return http_perform(x->http, &req, resp, e);
}

/* The role name is spliced into a path: IAM's role name alphabet only ([\w+=,.@-]). */
static bool role_name_ok(struct sv v)
{
  if (v.n == 0 || v.n > 64)
    return false;
  for (size_t i = 0; i < v.n; i++) {
    char c = v.p[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          strchr("_+=,.@-", c)))
      return false;
  }
  return true;
}

static void why_no_answer(const struct creds_ctx *x, struct buf *why, const char *host,
                          long timeout_ms, bool token_timed_out, long v1_status)
{
  if (x->in_pod && token_timed_out) {
    /* The kubelet pulls from the node, where IMDS answers; a pod is one network hop further
     * and a response hop limit of 1 (EC2 instance metadata options,
     * HttpPutResponseHopLimit; 1 on newer EKS node images) drops the token answer there. */
    (void)buf_printf(why,
                     "no answer to the IMDSv2 token request from %s within %ld s%s: inside a pod "
                     "this is the node's metadata hop limit of 1, which drops the answer one hop "
                     "short of the pod (the kubelet on the node is not affected); run on the node "
                     "or in a hostNetwork pod, or raise the limit with "
                     "--http-put-response-hop-limit 2",
                     host, timeout_ms / 1000, v1_status ? " and IMDSv1 is refused" : "");
    return;
  }
  if (v1_status == 401) {
    (void)buf_printf(why, "no IMDSv2 token from %s and IMDSv1 is refused (HTTP 401)", host);
    return;
  }
  (void)buf_printf(why,
                   "no answer from %s within %ld s (not on EC2, or the metadata service "
                   "is blocked)",
                   host, timeout_ms / 1000);
}

enum src_result creds_src_imds(const struct creds_ctx *x, struct aws_creds *out, struct buf *why,
                               struct err *e)
{
  (void)e;
  /* IMDSFetcher: env AWS_EC2_METADATA_DISABLED, compared lower-cased with 'true'. */
  if (env_true("AWS_EC2_METADATA_DISABLED")) {
    (void)buf_puts(why, "disabled by AWS_EC2_METADATA_DISABLED=true");
    return SRC_SKIPPED;
  }
  if (!x->http) {
    (void)buf_puts(why, "not asked (no HTTP client)");
    return SRC_SKIPPED;
  }
  const char *base = env_get("AWS_EC2_METADATA_SERVICE_ENDPOINT");
  if (!base) {
    const char *mode = env_get("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
    base = mode && strcasecmp(mode, "ipv6") == 0 ? IMDS_BASE_V6 : IMDS_BASE_V4;
  }
  char *host = http_url_authority(base);
  if (!host) {
    (void)buf_puts(why, "AWS_EC2_METADATA_SERVICE_ENDPOINT is not a URL");
    return SRC_SKIPPED;
  }
  /* AWS_METADATA_SERVICE_TIMEOUT (seconds) and _NUM_ATTEMPTS, as botocore reads them. */
  long timeout_ms = env_long("AWS_METADATA_SERVICE_TIMEOUT", 1, 1, 60) * 1000L;
  if (!env_get("AWS_METADATA_SERVICE_TIMEOUT"))
    timeout_ms = IMDS_DEFAULT_TIMEOUT_MS;
  long attempts = env_long("AWS_METADATA_SERVICE_NUM_ATTEMPTS", 1, 1, 10);
  bool v1_disabled = env_true("AWS_EC2_METADATA_V1_DISABLED");

  enum src_result res = SRC_SKIPPED;
  struct http_response resp;
  http_response_init(&resp);
  struct err sub = {0};
  char *token = NULL, *role = NULL, *url = NULL;
  bool token_timed_out = false;

  /* 1. The token: PUT with the TTL header (IMDSFetcher._fetch_metadata_token). 200 gives it;
   * 403, 404, 405 and a read timeout mean "no IMDSv2, try v1"; 400 ends the attempt. */
  url = url_join(base, IMDS_TOKEN_PATH);
  if (!url)
    goto nomem;
  struct http_header put_h[] = {{"x-aws-ec2-metadata-token-ttl-seconds", IMDS_TOKEN_TTL}};
  for (long i = 0; i < attempts && !token; i++) {
    enum err_code rc = imds_request(x, "PUT", url, put_h, 1, timeout_ms, true, &resp, &sub);
    if (rc == ERR_OK && resp.status == 200 && resp.body.len) {
      token = sv_dup((struct sv){resp.body.p, resp.body.len});
      if (!token)
        goto nomem;
      break;
    }
    if (rc == ERR_OK && (resp.status == 403 || resp.status == 404 || resp.status == 405))
      break;
    if (rc == ERR_OK && resp.status == 400) {
      (void)buf_printf(why, "%s refused the IMDSv2 token request (HTTP 400)", host);
      goto out;
    }
    if (rc == ERR_TIMEOUT) {
      token_timed_out = true;
      break;
    }
  }
  if (!token && v1_disabled) {
    (void)buf_printf(why, "no IMDSv2 token from %s and AWS_EC2_METADATA_V1_DISABLED is set", host);
    goto out;
  }

  /* 2. The role name, then 3. its credentials (InstanceMetadataFetcher): a non-200 or empty
   * answer is retried up to the attempts, then the source gives up. */
  struct http_header get_h[] = {{"x-aws-ec2-metadata-token", token}};
  size_t nget = token ? 1 : 0;
  free(url);
  url = url_join(base, IMDS_CREDS_PATH);
  if (!url)
    goto nomem;
  long last_status = 0;
  enum err_code last_rc = ERR_OK;
  for (long i = 0; i < attempts && !role; i++) {
    last_rc = imds_request(x, "GET", url, get_h, nget, timeout_ms, false, &resp, &sub);
    last_status = last_rc == ERR_OK ? resp.status : 0;
    if (last_rc == ERR_OK && resp.status == 200 && resp.body.len) {
      struct sv line = {resp.body.p, strcspn(resp.body.p, "\r\n")};
      if (!role_name_ok(line)) {
        (void)buf_printf(why, "%s answered a role name that is not an IAM role name", host);
        goto out;
      }
      role = sv_dup(line);
      if (!role)
        goto nomem;
    }
  }
  if (!role) {
    if (last_rc != ERR_OK)
      why_no_answer(x, why, host, timeout_ms, token_timed_out, 0);
    else if (last_status == 401 && !token)
      why_no_answer(x, why, host, timeout_ms, token_timed_out, 401);
    else if (last_status == 404 || last_status == 200)
      (void)buf_printf(why,
                       "the instance has no IAM role (%s has no instance profile "
                       "credentials)",
                       host);
    else
      (void)buf_printf(why, "%s answered HTTP %ld for the role name", host, last_status);
    goto out;
  }
  free(url);
  url = url_join(base, IMDS_CREDS_PATH);
  struct buf u;
  buf_init(&u, CREDS_URL_MAX_BYTES);
  if (!url || buf_puts(&u, url) || buf_puts(&u, role)) {
    buf_release(&u);
    goto nomem;
  }
  free(url);
  url = buf_detach(&u);
  json_t *doc = NULL;
  for (long i = 0; i < attempts && !doc; i++) {
    last_rc = imds_request(x, "GET", url, get_h, nget, timeout_ms, true, &resp, &sub);
    if (last_rc == ERR_OK && resp.status == 200 && resp.body.len) {
      json_error_t je;
      doc = json_loadb(resp.body.p, resp.body.len, 0, &je);
      if (!json_is_object(doc)) {
        json_decref(doc);
        doc = NULL;
      }
    }
  }
  if (!doc) {
    if (last_rc != ERR_OK)
      why_no_answer(x, why, host, timeout_ms, token_timed_out, 0);
    else
      (void)buf_printf(why, "%s answered HTTP %ld, not a credentials document, for role '%s'", host,
                       resp.status, role);
    goto out;
  }
  const char *missing = NULL;
  /* InstanceMetadataFetcher._REQUIRED_CREDENTIAL_FIELDS; an error document (Code and
   * Message, e.g. the role does not trust ec2.amazonaws.com) means no credentials. */
  if (!creds_take_json(doc, "AccessKeyId", "SecretAccessKey", "Token", false, "Expiration", false,
                       out, &missing)) {
    const char *code = json_string_value(json_object_get(doc, "Code"));
    (void)buf_printf(why, "%s answered for role '%s' without %s", host, role, missing);
    if (code) {
      (void)buf_puts(why, " (Code ");
      creds_excerpt(why, code, strlen(code), 64);
      (void)buf_putc(why, ')');
    }
    creds_json_wipe(doc);
    json_decref(doc);
    creds_release(out);
    goto out;
  }
  creds_json_wipe(doc);
  json_decref(doc);
  res = SRC_FOUND;
  goto out;

nomem:
  (void)buf_puts(why, "out of memory");
out:
  str_free_secret(token);
  free(role);
  free(url);
  free(host);
  http_response_release(&resp);
  return res;
}

/* ---- container credentials ---- */

/* Loopback literals: 127.0.0.0/8 and ::1 (ipaddress.ip_address(host).is_loopback). */
static bool loopback_literal(const char *host, size_t n)
{
  if (n == 3 && memcmp(host, "::1", 3) == 0)
    return true;
  if (n < 9 || n > 15 || strncmp(host, "127.", 4) != 0)
    return false;
  int parts = 0, val = -1;
  for (size_t i = 0; i <= n; i++) {
    char c = i < n ? host[i] : '.';
    if (c == '.') {
      if (val < 0 || val > 255)
        return false;
      parts++;
      val = -1;
    } else if (c >= '0' && c <= '9') {
      val = (val < 0 ? 0 : val * 10) + (c - '0');
      if (val > 255)
        return false;
    } else {
      return false;
    }
  }
  return parts == 4;
}

bool creds_container_url_allowed(const char *url)
{
  if (strncasecmp(url, "https://", 8) == 0) {
    char *a = http_url_authority(url);
    bool ok = a != NULL;
    free(a);
    return ok;
  }
  if (strncasecmp(url, "http://", 7) != 0)
    return false;
  const char *h = url + 7;
  size_t n;
  if (*h == '[') {
    const char *close = strchr(h, ']');
    if (!close)
      return false;
    h++;
    n = (size_t)(close - h);
  } else {
    n = strcspn(h, ":/?#");
  }
  if (memchr(h, '@', strcspn(h, "/?#")))
    return false; /* userinfo: what looks like the host is not the host */
  /* botocore ContainerMetadataFetcher._ALLOWED_HOSTS: the ECS agent, the EKS Pod Identity
   * agent (IPv4 and IPv6) and localhost. */
  static const char *const allowed[] = {"169.254.170.2", "169.254.170.23", "fd00:ec2::23",
                                        "localhost"};
  for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
    if (strlen(allowed[i]) == n && strncasecmp(h, allowed[i], n) == 0)
      return true;
  return loopback_literal(h, n);
}

enum src_result creds_src_container(const struct creds_ctx *x, struct aws_creds *out,
                                    struct buf *why, struct err *e)
{
  const char *rel = env_get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
  const char *full = env_get("AWS_CONTAINER_CREDENTIALS_FULL_URI");
  if (!rel && !full) {
    (void)buf_puts(why, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and _FULL_URI not set");
    return SRC_SKIPPED;
  }
  const char *var =
      rel ? "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI" : "AWS_CONTAINER_CREDENTIALS_FULL_URI";
  enum src_result res = SRC_FAILED;
  char *url = NULL, *host = NULL;
  struct buf token;
  buf_init_secret(&token, CREDS_TOKEN_FILE_MAX_BYTES);
  struct http_response resp;
  http_response_init(&resp);
  json_t *doc = NULL;

  /* ContainerProvider: the relative URI goes to the ECS agent's address. */
  struct buf u;
  buf_init(&u, CREDS_URL_MAX_BYTES);
  if (rel ? (buf_puts(&u, CONTAINER_RELATIVE_HOST) || buf_puts(&u, rel)) : buf_puts(&u, full)) {
    buf_release(&u);
    res = creds_src_fail(e, ERR_INVALID, "%s is too long", var);
    goto out;
  }
  url = buf_detach(&u);
  host = http_url_authority(url);
  if (!host || !creds_container_url_allowed(url)) {
    res = creds_src_fail(
        e, ERR_CREDENTIALS,
        "%s names '%.200s', which is not an https URL nor http to a loopback address or "
        "to 169.254.170.2, 169.254.170.23, fd00:ec2::23 or localhost (botocore refuses "
        "it too)",
        var, host ? host : "no host");
    goto out;
  }
  /* The token: the file wins over the variable (ContainerProvider._build_headers), read as
   * is; a CR or LF cannot go in a header (_validate_auth_token). */
  const char *token_file = env_get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
  const char *token_var =
      token_file ? "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE" : "AWS_CONTAINER_AUTHORIZATION_TOKEN";
  bool have_token = false;
  if (token_file) {
    struct err sub = {0};
    buf_release(&token);
    if (creds_read_file(token_file, CREDS_TOKEN_FILE_MAX_BYTES, &token, &sub) != ERR_OK) {
      res =
          creds_src_fail(e, ERR_CREDENTIALS, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: %s", sub.msg);
      goto out;
    }
    have_token = true;
  } else if (env_get("AWS_CONTAINER_AUTHORIZATION_TOKEN")) {
    if (buf_puts(&token, env_get("AWS_CONTAINER_AUTHORIZATION_TOKEN"))) {
      res = creds_src_fail(e, ERR_NOMEM, "out of memory");
      goto out;
    }
    have_token = true;
  }
  if (have_token && (memchr(token.p, '\r', token.len) || memchr(token.p, '\n', token.len))) {
    res = creds_src_fail(e, ERR_CREDENTIALS,
                         "%s holds a line break (a trailing newline?), which cannot go in the "
                         "Authorization header; botocore refuses it too",
                         token_var);
    goto out;
  }
  struct http_header h[2] = {{"Accept", "application/json"},
                             {"Authorization", have_token ? buf_str(&token) : ""}};
  long timeout_ms = x->timeout_ms > 0 && x->timeout_ms < CONTAINER_TIMEOUT_MS
                        ? x->timeout_ms
                        : CONTAINER_TIMEOUT_MS;
  struct err sub = {0};
  enum err_code rc = ERR_OK;
  /* ContainerMetadataFetcher: 3 attempts, 1 s apart. We do not retry a 4xx (botocore does):
   * a refused token does not become right a second later. */
  for (int attempt = 1; attempt <= CONTAINER_ATTEMPTS; attempt++) {
    struct http_request req = {
        .method = "GET",
        .url = url,
        .headers = h,
        .n_headers = have_token ? 2 : 1,
        .timeout_ms = timeout_ms,
        .max_body_bytes = CREDS_ANSWER_MAX_BYTES,
        .secret_body = true,
    };
    rc = http_perform(x->http, &req, &resp, &sub);
    if (rc == ERR_OK && resp.status < 500)
      break;
    if (attempt < CONTAINER_ATTEMPTS)
      sleep_ms(CONTAINER_SLEEP_MS);
  }
  if (rc != ERR_OK) {
    res = creds_src_fail(e, rc, "the container credentials endpoint (%s): %s", var, sub.msg);
    goto out;
  }
  if (resp.status != 200) {
    struct buf m;
    buf_init(&m, ERR_MSG_MAX);
    (void)buf_printf(&m, "the container credentials endpoint %s answered HTTP %ld", host,
                     resp.status);
    if (resp.body.len) {
      (void)buf_puts(&m, ": ");
      creds_excerpt(&m, resp.body.p, resp.body.len, CREDS_EXCERPT_MAX);
    }
    if (resp.status == 401 || resp.status == 403)
      (void)buf_printf(&m, " (the authorization token from %s was refused)", token_var);
    else if (resp.status == 400 && !have_token)
      (void)buf_puts(&m, " (no authorization token: EKS Pod Identity sets "
                         "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE)");
    res = creds_src_fail(e, ERR_CREDENTIALS, "%s", buf_str(&m));
    buf_release(&m);
    goto out;
  }
  json_error_t je;
  doc = json_loadb(resp.body.p, resp.body.len, 0, &je);
  const char *missing = NULL;
  if (!json_is_object(doc)) {
    res = creds_src_fail(e, ERR_CREDENTIALS,
                         "the container credentials endpoint %s answered something "
                         "that is not JSON",
                         host);
    goto out;
  }
  /* ContainerProvider._create_fetcher reads AccessKeyId, SecretAccessKey, Token, Expiration. */
  if (!creds_take_json(doc, "AccessKeyId", "SecretAccessKey", "Token", false, "Expiration", false,
                       out, &missing)) {
    creds_release(out);
    res = creds_src_fail(e, ERR_CREDENTIALS,
                         "the container credentials endpoint %s answered without a "
                         "valid '%s'",
                         host, missing);
    goto out;
  }
  res = SRC_FOUND;
out:
  if (doc) {
    creds_json_wipe(doc);
    json_decref(doc);
  }
  http_response_release(&resp);
  buf_release(&token);
  free(url);
  free(host);
  return res;
}

/* ---- IAM Identity Center (SSO) ---- */

static bool region_ok(const char *r)
{
  if (!r || !*r || strlen(r) > 64)
    return false;
  for (const char *p = r; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
      return false;
  return true;
}

static void url_encode(struct buf *b, const char *s)
{
  static const char hex[] = "0123456789ABCDEF";
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
        *p == '-' || *p == '_' || *p == '.' || *p == '~') {
      (void)buf_putc(b, (char)*p);
    } else {
      (void)buf_putc(b, '%');
      (void)buf_putc(b, hex[*p >> 4]);
      (void)buf_putc(b, hex[*p & 15]);
    }
  }
}

/* The portal's endpoint: AWS_ENDPOINT_URL_SSO, else AWS_ENDPOINT_URL (both ignored under
 * AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true, the SDKs' service-specific endpoint rules), else
 * https://portal.sso.REGION.amazonaws.com (sso-2019-06-10 endpoint rule set; .com.cn in
 * China). */
static enum err_code sso_url(const char *region, const char *account, const char *role,
                             struct buf *out)
{
  const char *ignore = env_get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
  const char *base = NULL;
  if (!(ignore && strcasecmp(ignore, "true") == 0)) {
    base = env_get("AWS_ENDPOINT_URL_SSO");
    if (!base)
      base = env_get("AWS_ENDPOINT_URL");
  }
  if (base) {
    size_t n = strlen(base);
    while (n && base[n - 1] == '/')
      n--;
    (void)buf_append(out, base, n);
  } else {
    (void)buf_printf(out, "https://portal.sso.%s.amazonaws.com%s", region,
                     strncmp(region, "cn-", 3) == 0 ? ".cn" : "");
  }
  (void)buf_puts(out, "/federation/credentials?account_id=");
  url_encode(out, account);
  (void)buf_puts(out, "&role_name=");
  url_encode(out, role);
  return out->p ? ERR_OK : ERR_NOMEM;
}

enum src_result creds_src_sso(const struct creds_ctx *x, const char *profile, const char *start_url,
                              const char *sso_region, const char *account_id, const char *role_name,
                              const char *session_name, struct aws_creds *out, struct err *e)
{
  enum src_result res = SRC_FAILED;
  const char *who = session_name ? session_name : start_url;
  char key[41];
  creds_sha1_hex(who, strlen(who), key);
  struct buf path, body, url;
  buf_init(&path, CREDS_URL_MAX_BYTES);
  buf_init_secret(&body, 0);
  buf_init(&url, CREDS_URL_MAX_BYTES);
  char *dir = creds_expand_path("~/.aws/sso/cache");
  char *token = NULL;
  json_t *cache = NULL, *doc = NULL;
  struct http_response resp;
  http_response_init(&resp);
  struct aws_call call;
  aws_call_init(&call);

  if (!region_ok(sso_region)) {
    res =
        creds_src_fail(e, ERR_CREDENTIALS, "profile '%s': sso_region '%.64s' is not a region name",
                       profile, sso_region);
    goto out;
  }
  /* SSOTokenLoader: ~/.aws/sso/cache/<sha1 of the session name, or of the start URL for the
   * legacy keys>.json holding accessToken and expiresAt. */
  if (!dir || buf_printf(&path, "%s/%s.json", dir, key)) {
    res = creds_src_fail(e, ERR_NOMEM, "out of memory");
    goto out;
  }
  struct err sub = {0};
  enum err_code rc = creds_read_file(buf_str(&path), CREDS_ANSWER_MAX_BYTES, &body, &sub);
  if (rc != ERR_OK) {
    res = creds_src_fail(
        e, ERR_CREDENTIALS,
        "profile '%s' uses IAM Identity Center (SSO) but there is no cached login for "
        "%s%.200s (%s); run 'aws sso login --profile %s'",
        profile, session_name ? "sso-session " : "", who,
        rc == ERR_NOT_FOUND ? "no token cache file" : sub.msg, profile);
    goto out;
  }
  json_error_t je;
  cache = json_loadb(body.p, body.len, 0, &je);
  const char *tok = json_string_value(json_object_get(cache, "accessToken"));
  const char *exp = json_string_value(json_object_get(cache, "expiresAt"));
  time_t expires = 0;
  if (!tok || !*tok || !exp || !creds_parse_time(exp, &expires)) {
    res = creds_src_fail(
        e, ERR_CREDENTIALS,
        "the cached SSO login %s is not valid (no accessToken or expiresAt); run 'aws sso "
        "login --profile %s'",
        buf_str(&path), profile);
    goto out;
  }
  if (expires <= x->now) {
    /* The legacy fetcher refuses an expired token without calling the portal; with an
     * sso-session botocore would first try to refresh it through SSO OIDC, which ecrdiag
     * does not do. */
    char when[32];
    struct tm tm;
    gmtime_r(&expires, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    res = creds_src_fail(
        e, ERR_CREDENTIALS,
        "the IAM Identity Center (SSO) login for %s%.200s expired at %s; run 'aws sso "
        "login --profile %s'",
        session_name ? "sso-session " : "", who, when, profile);
    goto out;
  }
  token = str_dup(tok);
  if (!token || sso_url(sso_region, account_id, role_name, &url) != ERR_OK) {
    res = creds_src_fail(e, ERR_NOMEM, "out of memory");
    goto out;
  }
  char *host = http_url_authority(buf_str(&url));
  struct http_header h[] = {{"x-amz-sso_bearer_token", token}};
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  call.endpoint = str_dup(buf_str(&url));
  for (int attempt = 1; attempt <= SSO_ATTEMPTS; attempt++) {
    struct http_request req = {
        .method = "GET",
        .url = buf_str(&url),
        .headers = h,
        .n_headers = 1,
        .timeout_ms = x->timeout_ms,
        .max_body_bytes = CREDS_ANSWER_MAX_BYTES,
        .secret_body = true,
    };
    call.attempts = attempt;
    rc = http_perform(x->http, &req, &resp, &sub);
    bool retry = rc == ERR_CONNECT || rc == ERR_TIMEOUT || rc == ERR_NETWORK ||
                 (rc == ERR_OK && (resp.status >= 500 || resp.status == 429));
    if (!retry || attempt == SSO_ATTEMPTS)
      break;
    sleep_ms(500L * attempt);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  call.duration_ms = (long)(t1.tv_sec - t0.tv_sec) * 1000L + (t1.tv_nsec - t0.tv_nsec) / 1000000L;
  call.transport = rc == ERR_OK ? ERR_OK : rc;
  call.http_status = resp.status;
  call.request_id = str_dup(resp.request_id);
  if (rc != ERR_OK) {
    call.error_message = str_dup(sub.msg);
    res = creds_src_fail(e, rc, "IAM Identity Center (SSO) portal: %s", sub.msg);
  } else if (resp.status != 200) {
    json_t *err = json_loadb(resp.body.p, resp.body.len, 0, &je);
    const char *type =
        resp.error_type ? resp.error_type : json_string_value(json_object_get(err, "__type"));
    const char *msg = json_string_value(json_object_get(err, "message"));
    call.error_code = str_dup(type ? type : NULL);
    call.error_message = str_dup(msg);
    struct buf m;
    buf_init(&m, ERR_MSG_MAX);
    (void)buf_printf(&m,
                     "IAM Identity Center (%s) refused GetRoleCredentials for role '%s' in "
                     "account %s: HTTP %ld",
                     host ? host : "portal", role_name, account_id, resp.status);
    if (type)
      (void)buf_printf(&m, " %.64s", type);
    if (msg) {
      (void)buf_puts(&m, ": ");
      creds_excerpt(&m, msg, strlen(msg), 120);
    }
    if (resp.status == 401)
      (void)buf_printf(&m, "; the login is no longer valid: run 'aws sso login --profile %s'",
                       profile);
    else if (resp.status == 403)
      (void)buf_printf(&m,
                       "; the SSO user is not assigned this role in this account (check "
                       "sso_account_id and sso_role_name of profile '%s')",
                       profile);
    res = creds_src_fail(e, ERR_AWS, "%s", buf_str(&m));
    buf_release(&m);
    json_decref(err);
  } else {
    doc = json_loadb(resp.body.p, resp.body.len, 0, &je);
    json_t *rc_obj = json_object_get(doc, "roleCredentials");
    const char *missing = NULL;
    /* SSOCredentialFetcher: roleCredentials.accessKeyId, secretAccessKey, sessionToken,
     * expiration (epoch milliseconds). */
    if (!json_is_object(rc_obj) ||
        !creds_take_json(rc_obj, "accessKeyId", "secretAccessKey", "sessionToken", false,
                         "expiration", false, out, &missing)) {
      creds_release(out);
      res = creds_src_fail(e, ERR_CREDENTIALS,
                           "IAM Identity Center answered GetRoleCredentials without "
                           "%s",
                           missing ? missing : "roleCredentials");
    } else {
      res = SRC_FOUND;
    }
  }
  free(host);
  if (x->o->on_call)
    x->o->on_call(x->o->call_ctx, "sso.GetRoleCredentials", &call);

out:
  aws_call_release(&call);
  if (cache) {
    creds_json_wipe(cache);
    json_decref(cache);
  }
  if (doc) {
    creds_json_wipe(doc);
    json_decref(doc);
  }
  http_response_release(&resp);
  str_free_secret(token);
  free(dir);
  buf_release(&path);
  buf_release(&body);
  buf_release(&url);
  return res;
}
