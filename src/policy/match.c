/* The value matchers behind policy evaluation: wildcards (actions, Resource, StringLike),
 * ARN parts (ArnLike), CIDR blocks, ISO 8601 and epoch dates, numbers and base64.
 * Pure functions over byte ranges: no allocation, no JSON, no knowledge of requests. */
#include "policy_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

bool pol_ieq(const char *a, size_t an, const char *b, size_t bn)
{
  if (an != bn)
    return false;
  for (size_t i = 0; i < an; i++)
    if (pol_lower(a[i]) != pol_lower(b[i]))
      return false;
  return true;
}

/* Patterns longer than this cannot be wildcard-matched; parsing caps strings well below. */
#define GLOB_MAX_PATTERN (2 * POLICY_MAX_STRING)
#define GLOB_WORDS (GLOB_MAX_PATTERN / 64 + 2)
#define GLOB_MAX_STARS 256

enum gkind { G_LIT, G_STAR, G_QMARK };

static inline enum gkind gkind_at(const char *pat, const unsigned char *lit, size_t j)
{
  if (lit && lit[j])
    return G_LIT;
  return pat[j] == '*' ? G_STAR : pat[j] == '?' ? G_QMARK : G_LIT;
}

/* An NFA over pattern positions, one bit per position: linear in the subject for any
 * pattern, so a hostile "*a*a*a*a*b" cannot make evaluation slow. */
bool pol_glob(const char *pat, size_t pn, const unsigned char *lit, const char *s, size_t sn,
              enum glob_mode mode)
{
  bool icase = mode == GLOB_ICASE;
  bool arn = mode == GLOB_RESOURCE;
  size_t first_wild = pn;
  for (size_t j = 0; j < pn; j++)
    if (gkind_at(pat, lit, j) != G_LIT) {
      first_wild = j;
      break;
    }
  if (first_wild == pn) {
    if (icase)
      return pol_ieq(pat, pn, s, sn);
    return pn == sn && memcmp(pat, s, pn) == 0;
  }
  /* Fast path for the common "literal prefix then a final *". */
  if (first_wild == pn - 1 && pat[pn - 1] == '*') {
    size_t pre = pn - 1;
    if (sn < pre)
      return false;
    /* Under Resource rules too: a trailing '*' ends its segment, so it may run past colons. */
    return icase ? pol_ieq(pat, pre, s, pre) : memcmp(pat, s, pre) == 0;
  }
  if (pn > GLOB_MAX_PATTERN)
    return false;

  /* In Resource mode a wildcard in the first five segments stays inside its segment unless
   * it is a '*' ending the segment; from the sixth segment on colons are ordinary. */
  size_t stars[GLOB_MAX_STARS];
  size_t n_stars = 0;
  uint64_t cross[GLOB_WORDS]; /* bit j: the wildcard at j may consume ':' */
  memset(cross, 0, sizeof cross);
  size_t colons = 0;
  for (size_t j = 0; j < pn; j++) {
    enum gkind k = gkind_at(pat, lit, j);
    if (k == G_LIT) {
      if (pat[j] == ':')
        colons++;
      continue;
    }
    if (k == G_STAR) {
      if (n_stars == GLOB_MAX_STARS)
        return false;
      stars[n_stars++] = j;
    }
    bool ends_segment = k == G_STAR && (j + 1 == pn || pat[j + 1] == ':');
    if (!arn || colons >= 5 || ends_segment)
      cross[j / 64] |= (uint64_t)1 << (j % 64);
  }

  size_t words = (pn + 1) / 64 + 1;
  uint64_t cur[GLOB_WORDS], next[GLOB_WORDS];
  memset(cur, 0, words * sizeof cur[0]);
  cur[0] = 1;
  for (size_t i = 0; i < n_stars; i++) {
    size_t j = stars[i];
    if (cur[j / 64] >> (j % 64) & 1)
      cur[(j + 1) / 64] |= (uint64_t)1 << ((j + 1) % 64);
  }
  for (size_t i = 0; i < sn; i++) {
    char c = s[i];
    char lc = icase ? pol_lower(c) : c;
    bool any = false;
    memset(next, 0, words * sizeof next[0]);
    for (size_t w = 0; w < words; w++) {
      uint64_t bits = cur[w];
      while (bits) {
        size_t j = w * 64 + (size_t)__builtin_ctzll(bits);
        bits &= bits - 1;
        if (j >= pn)
          continue;
        enum gkind k = gkind_at(pat, lit, j);
        bool may_colon = cross[j / 64] >> (j % 64) & 1;
        if (k == G_STAR) {
          if (c != ':' || may_colon) {
            next[j / 64] |= (uint64_t)1 << (j % 64);
            any = true;
          }
        } else if (k == G_QMARK) {
          if (c != ':' || may_colon) {
            next[(j + 1) / 64] |= (uint64_t)1 << ((j + 1) % 64);
            any = true;
          }
        } else {
          char pc = icase ? pol_lower(pat[j]) : pat[j];
          if (pc == lc) {
            next[(j + 1) / 64] |= (uint64_t)1 << ((j + 1) % 64);
            any = true;
          }
        }
      }
    }
    if (!any)
      return false;
    for (size_t k = 0; k < n_stars; k++) {
      size_t j = stars[k];
      if (next[j / 64] >> (j % 64) & 1)
        next[(j + 1) / 64] |= (uint64_t)1 << ((j + 1) % 64);
    }
    memcpy(cur, next, words * sizeof cur[0]);
  }
  return cur[pn / 64] >> (pn % 64) & 1;
}

/* Splits at the first five colons; returns the number of parts (at most 6). */
static size_t arn_split(const char *s, size_t n, size_t start[6], size_t len[6])
{
  size_t parts = 0, from = 0;
  for (size_t i = 0; i < n && parts < 5; i++)
    if (s[i] == ':') {
      start[parts] = from;
      len[parts] = i - from;
      parts++;
      from = i + 1;
    }
  start[parts] = from;
  len[parts] = n - from;
  return parts + 1;
}

bool pol_arn_like(const char *pat, size_t pn, const unsigned char *lit, const char *s, size_t sn)
{
  size_t ps[6], pl[6], ss[6], sl[6];
  if (pn == 1 && pat[0] == '*' && !(lit && lit[0]))
    return true;
  if (arn_split(pat, pn, ps, pl) != 6 || arn_split(s, sn, ss, sl) != 6)
    return false;
  for (int i = 0; i < 6; i++)
    if (!pol_glob(pat + ps[i], pl[i], lit ? lit + ps[i] : NULL, s + ss[i], sl[i], GLOB_PLAIN))
      return false;
  return true;
}

bool pol_parse_cidr(const char *s, size_t n, struct ip_cidr *out, bool allow_prefix)
{
  char tmp[64];
  size_t slash = n;
  for (size_t i = 0; i < n; i++)
    if (s[i] == '/') {
      slash = i;
      break;
    }
  if (slash == 0 || slash >= sizeof tmp)
    return false;
  memcpy(tmp, s, slash);
  tmp[slash] = '\0';
  memset(out, 0, sizeof *out);
  if (inet_pton(AF_INET, tmp, out->addr) == 1) {
    out->family = 4;
    out->prefix = 32;
  } else if (inet_pton(AF_INET6, tmp, out->addr) == 1) {
    out->family = 6;
    out->prefix = 128;
  } else {
    return false;
  }
  if (slash < n) {
    if (!allow_prefix)
      return false;
    size_t digits = n - slash - 1;
    if (digits == 0 || digits > 3)
      return false;
    unsigned v = 0;
    for (size_t i = slash + 1; i < n; i++) {
      if (s[i] < '0' || s[i] > '9')
        return false;
      v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > out->prefix)
      return false;
    out->prefix = (uint8_t)v;
  }
  return true;
}

bool pol_cidr_contains(const struct ip_cidr *net, const struct ip_cidr *addr)
{
  if (net->family != addr->family)
    return false;
  unsigned bits = net->prefix;
  size_t full = bits / 8;
  if (memcmp(net->addr, addr->addr, full) != 0)
    return false;
  unsigned rest = bits % 8;
  if (rest) {
    unsigned char mask = (unsigned char)(0xFFu << (8 - rest));
    if ((net->addr[full] & mask) != (addr->addr[full] & mask))
      return false;
  }
  return true;
}

bool pol_parse_number(const char *s, size_t n, double *out)
{
  char tmp[64];
  if (n == 0 || n >= sizeof tmp)
    return false;
  bool digit = false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c >= '0' && c <= '9')
      digit = true;
    else if (!(c == '+' || c == '-' || c == '.' || c == 'e' || c == 'E'))
      return false; /* rules out "nan", "inf" and hex that strtod would take */
  }
  if (!digit)
    return false;
  memcpy(tmp, s, n);
  tmp[n] = '\0';
  char *end = NULL;
  errno = 0;
  double v = strtod(tmp, &end);
  if (end != tmp + n || errno == ERANGE || !isfinite(v))
    return false;
  *out = v;
  return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static long days_from_civil(long y, unsigned m, unsigned d)
{
  y -= m <= 2;
  long era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (long)doe - 719468;
}

static bool take_digits(const char *s, size_t n, size_t *i, size_t count, unsigned *out)
{
  unsigned v = 0;
  for (size_t k = 0; k < count; k++) {
    if (*i >= n || s[*i] < '0' || s[*i] > '9')
      return false;
    v = v * 10 + (unsigned)(s[(*i)++] - '0');
  }
  *out = v;
  return true;
}

bool pol_parse_date(const char *s, size_t n, double *out)
{
  if (n == 0 || n > 64)
    return false;
  /* Epoch seconds: all digits (AWS writes aws:EpochTime this way). */
  bool epoch = true;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (i == 0 && s[i] == '-') || s[i] == '.'))
      epoch = false;
  if (epoch)
    return pol_parse_number(s, n, out);

  size_t i = 0;
  unsigned y, mo, d, h = 0, mi = 0, sec = 0;
  if (!take_digits(s, n, &i, 4, &y) || i >= n || s[i++] != '-' || !take_digits(s, n, &i, 2, &mo) ||
      i >= n || s[i++] != '-' || !take_digits(s, n, &i, 2, &d))
    return false;
  if (mo < 1 || mo > 12 || d < 1 || d > 31)
    return false;
  double frac = 0;
  long offset_s = 0;
  if (i < n && (s[i] == 'T' || s[i] == 't' || s[i] == ' ')) {
    i++;
    if (!take_digits(s, n, &i, 2, &h) || i >= n || s[i++] != ':' || !take_digits(s, n, &i, 2, &mi))
      return false;
    if (i < n && s[i] == ':') {
      i++;
      if (!take_digits(s, n, &i, 2, &sec))
        return false;
      if (i < n && (s[i] == '.' || s[i] == ',')) {
        i++;
        double scale = 0.1;
        size_t start = i;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
          frac += (s[i] - '0') * scale;
          scale /= 10;
          i++;
        }
        if (i == start)
          return false;
      }
    }
    if (h > 24 || mi > 59 || sec > 60)
      return false;
    if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
      i++;
    } else if (i < n && (s[i] == '+' || s[i] == '-')) {
      int sign = s[i++] == '-' ? -1 : 1;
      unsigned oh, om = 0;
      if (!take_digits(s, n, &i, 2, &oh))
        return false;
      if (i < n && s[i] == ':')
        i++;
      if (i < n && !take_digits(s, n, &i, 2, &om))
        return false;
      offset_s = sign * (long)(oh * 3600 + om * 60);
    }
  }
  if (i != n)
    return false;
  long days = days_from_civil((long)y, mo, d);
  *out = (double)days * 86400.0 + h * 3600.0 + mi * 60.0 + sec + frac - (double)offset_s;
  return true;
}

static int b64_value(char c)
{
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+' || c == '-')
    return 62;
  if (c == '/' || c == '_')
    return 63;
  return -1;
}

bool pol_base64_decode(const char *s, size_t n, unsigned char *out, size_t cap, size_t *out_n)
{
  while (n > 0 && s[n - 1] == '=')
    n--;
  uint32_t acc = 0;
  int bits = 0;
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    int v = b64_value(s[i]);
    if (v < 0)
      return false;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (o >= cap)
        return false;
      out[o++] = (unsigned char)((acc >> bits) & 0xFF);
    }
  }
  *out_n = o;
  return true;
}
