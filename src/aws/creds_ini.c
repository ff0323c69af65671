/* ~/.aws/config and ~/.aws/credentials read as botocore reads them: configparser's
 * RawConfigParser syntax, configloader.py's profile sections, Session.full_config's merge.
 * Values are wiped on release (the credentials file holds secret keys). Depends on core
 * only. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "creds_impl.h"

#define INI_MAX_SECTIONS 4096
#define INI_MAX_PAIRS 4096
#define PATH_MAX_BYTES 4096

/* ---- small string helpers ---- */

/* Python's str.strip() whitespace, ASCII part (configparser strips every line). */
static bool py_space(char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' ||
         (c >= 0x1c && c <= 0x1f);
}

static struct sv sv_strip(struct sv v)
{
  while (v.n && py_space(v.p[0])) {
    v.p++;
    v.n--;
  }
  while (v.n && py_space(v.p[v.n - 1]))
    v.n--;
  return v;
}

/* Length of the longest valid UTF-8 prefix equals n when the whole line is valid. */
static bool utf8_valid(const unsigned char *p, size_t n)
{
  size_t i = 0;
  while (i < n) {
    unsigned char c = p[i];
    size_t len;
    unsigned long cp;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n)
      return false;
    for (size_t k = 1; k < len; k++) {
      if ((p[i + k] & 0xC0) != 0x80)
        return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

/* ---- ini_file ---- */

static void section_release(struct ini_section *s)
{
  for (size_t i = 0; i < s->n; i++) {
    free(s->pairs[i].key);
    str_free_secret(s->pairs[i].value);
  }
  free(s->pairs);
  free(s->name);
  memset(s, 0, sizeof *s);
}

void ini_release(struct ini_file *f)
{
  if (!f)
    return;
  for (size_t i = 0; i < f->n; i++)
    section_release(&f->secs[i]);
  free(f->secs);
  free(f->path);
  memset(f, 0, sizeof *f);
}

const struct ini_section *ini_section(const struct ini_file *f, const char *name)
{
  const struct ini_section *found = NULL;
  for (size_t i = 0; f && i < f->n; i++)
    if (strcmp(f->secs[i].name, name) == 0)
      found = &f->secs[i];
  return found;
}

const struct ini_pair *ini_pair(const struct ini_section *s, const char *key)
{
  for (size_t i = 0; s && i < s->n; i++)
    if (strcmp(s->pairs[i].key, key) == 0)
      return &s->pairs[i];
  return NULL;
}

const char *ini_get(const struct ini_section *s, const char *key)
{
  const struct ini_pair *p = ini_pair(s, key);
  return p ? p->value : NULL;
}

static struct ini_section *section_add(struct ini_file *f, struct sv name, unsigned line)
{
  if (f->n == f->cap) {
    size_t cap = f->cap ? f->cap * 2 : 8;
    if (cap > INI_MAX_SECTIONS)
      return NULL;
    struct ini_section *p = realloc(f->secs, cap * sizeof *p);
    if (!p)
      return NULL;
    f->secs = p;
    f->cap = cap;
  }
  struct ini_section *s = &f->secs[f->n];
  memset(s, 0, sizeof *s);
  s->name = sv_dup(name);
  if (!s->name)
    return NULL;
  s->line = line;
  f->n++;
  return s;
}

/* Adds key = value (value moved in; freed on failure). */
static enum err_code pair_add(struct ini_section *s, char *key, char *value, unsigned line)
{
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 8;
    struct ini_pair *p = cap > INI_MAX_PAIRS ? NULL : realloc(s->pairs, cap * sizeof *p);
    if (!p) {
      free(key);
      str_free_secret(value);
      return cap > INI_MAX_PAIRS ? ERR_TOO_LARGE : ERR_NOMEM;
    }
    s->pairs = p;
    s->cap = cap;
  }
  s->pairs[s->n++] = (struct ini_pair){key, value, line};
  return ERR_OK;
}

/* The option being read: its lines are joined when the next option, section or the end
 * comes (configparser's _join_multiline_values: '\n'.join(lines).rstrip()). */
struct pending {
  struct ini_section *sec; /* NULL: none */
  char *key;
  unsigned line;
  struct buf value; /* secret: it may be a key */
};

static enum err_code pending_flush(struct pending *pd)
{
  if (!pd->sec) {
    buf_reset(&pd->value);
    return ERR_OK;
  }
  while (pd->value.len && py_space(pd->value.p[pd->value.len - 1]))
    pd->value.p[--pd->value.len] = '\0';
  char *v = sv_dup((struct sv){buf_str(&pd->value), pd->value.len});
  buf_reset(&pd->value);
  struct ini_section *sec = pd->sec;
  char *key = pd->key;
  pd->sec = NULL;
  pd->key = NULL;
  if (!v) {
    free(key);
    return ERR_NOMEM;
  }
  return pair_add(sec, key, v, pd->line);
}

static enum err_code bad(struct err *e, const char *path, unsigned line, const char *why)
{
  return err_set(e, ERR_PARSE, "bad INI in '%.300s' line %u: %s", path, line, why);
}

/* botocore parses a value that starts with a newline as "name = value" lines
 * (configloader._parse_nested) and refuses the file when one has no '='. */
static bool nested_ok(const char *v)
{
  if (v[0] != '\n')
    return true;
  const char *p = v;
  while (*p) {
    const char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p) : strlen(p);
    struct sv line = sv_strip((struct sv){p, n});
    if (line.n && !memchr(line.p, '=', line.n))
      return false;
    p += n + (nl ? 1 : 0);
  }
  return true;
}

enum err_code ini_parse(struct ini_file *f, const char *text, size_t len, const char *path,
                        struct err *e)
{
  memset(f, 0, sizeof *f);
  f->found = true;
  f->path = str_dup(path ? path : "");
  if (!f->path)
    return err_set(e, ERR_NOMEM, "out of memory");
  if (len > INI_MAX_BYTES)
    return err_set(e, ERR_TOO_LARGE, "'%.300s' is larger than %zu bytes", f->path,
                   (size_t)INI_MAX_BYTES);
  /* configparser keeps [DEFAULT] apart and lends its keys to every section. */
  struct ini_section defaults = {0};
  struct ini_section *cur = NULL;
  bool in_defaults = false;
  struct pending pd = {0};
  buf_init_secret(&pd.value, INI_MAX_BYTES);
  size_t indent_level = 0;
  enum err_code rc = ERR_OK;
  unsigned lineno = 0;
  size_t pos = 0;

  if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
    /* Python reads the file as UTF-8, not UTF-8-with-BOM: the first line then is not a
     * section header and botocore refuses the file. Say why. */
    rc = bad(e, f->path, 1,
             "the file starts with a byte order mark (saved as \"UTF-8 with BOM\"), which the "
             "AWS CLI cannot read either; save it as plain UTF-8");
    goto out;
  }
  while (pos < len) {
    /* Universal newlines, as Python's text mode: \n, \r\n and a lone \r end a line. */
    size_t start = pos;
    while (pos < len && text[pos] != '\n' && text[pos] != '\r')
      pos++;
    struct sv raw = {text + start, pos - start};
    if (pos < len && text[pos] == '\r' && pos + 1 < len && text[pos + 1] == '\n')
      pos++;
    if (pos < len)
      pos++;
    lineno++;
    if (memchr(raw.p, '\0', raw.n) || !utf8_valid((const unsigned char *)raw.p, raw.n)) {
      rc = bad(e, f->path, lineno, "not UTF-8 text");
      goto out;
    }
    struct sv value = sv_strip(raw);
    bool comment = value.n && (value.p[0] == '#' || value.p[0] == ';');
    if (comment || value.n == 0) {
      /* An empty line inside a value is kept (empty_lines_in_values), a comment is not. */
      if (!comment && pd.sec && (rc = buf_putc(&pd.value, '\n')) != ERR_OK)
        goto nomem;
      continue;
    }
    size_t indent = (size_t)(value.p - raw.p);
    if (pd.sec && indent > indent_level) {
      /* A continuation line of the current value. */
      if ((rc = buf_putc(&pd.value, '\n')) != ERR_OK ||
          (rc = buf_append(&pd.value, value.p, value.n)) != ERR_OK)
        goto nomem;
      continue;
    }
    indent_level = indent;
    if ((rc = pending_flush(&pd)) != ERR_OK)
      goto nomem;
    /* SECTCRE = r"\[(?P<header>.+)\]" with match(): the header runs to the last ']'. */
    if (value.p[0] == '[') {
      const char *close = NULL;
      for (size_t i = value.n; i > 1; i--)
        if (value.p[i - 1] == ']') {
          close = value.p + i - 1;
          break;
        }
      if (close && close > value.p + 1) {
        struct sv name = {value.p + 1, (size_t)(close - value.p - 1)};
        if (sv_eq(name, "DEFAULT")) {
          in_defaults = true;
          cur = &defaults;
          continue;
        }
        in_defaults = false;
        for (size_t i = 0; i < f->n; i++) {
          if (strlen(f->secs[i].name) == name.n && memcmp(f->secs[i].name, name.p, name.n) == 0) {
            err_set(e, ERR_PARSE,
                    "bad INI in '%.300s' line %u: section [%.*s] appears twice (first on "
                    "line %u)",
                    f->path, lineno, (int)(name.n > 64 ? 64 : name.n), name.p, f->secs[i].line);
            rc = ERR_PARSE;
            goto out;
          }
        }
        cur = section_add(f, name, lineno);
        if (!cur) {
          rc = f->n >= INI_MAX_SECTIONS ? ERR_TOO_LARGE : ERR_NOMEM;
          goto nomem;
        }
        continue;
      }
    }
    if (!cur) {
      rc = bad(e, f->path, lineno,
               "a setting before any [section]; start the file with [default] or "
               "[profile NAME]");
      goto out;
    }
    /* OPTCRE: the name runs to the first '=' or ':'. */
    size_t d = 0;
    while (d < value.n && value.p[d] != '=' && value.p[d] != ':')
      d++;
    if (d == value.n) {
      rc = bad(e, f->path, lineno,
               "neither a [section] nor a 'name = value' setting (a continuation line must be "
               "indented more than its setting)");
      goto out;
    }
    struct sv name = sv_strip((struct sv){value.p, d});
    if (name.n == 0) {
      rc = bad(e, f->path, lineno, "a setting without a name before its '='");
      goto out;
    }
    char *key = sv_dup(name);
    if (!key)
      goto nomem;
    for (char *k = key; *k; k++)
      if (*k >= 'A' && *k <= 'Z')
        *k = (char)(*k - 'A' + 'a');
    if (ini_pair(cur, key) || (pd.sec == cur && pd.key && strcmp(pd.key, key) == 0)) {
      const struct ini_pair *first = ini_pair(cur, key);
      err_set(e, ERR_PARSE,
              "bad INI in '%.300s' line %u: '%.64s' is set twice in [%.64s] "
              "(first on line %u)",
              f->path, lineno, key, in_defaults ? "DEFAULT" : cur->name, first ? first->line : 0);
      free(key);
      rc = ERR_PARSE;
      goto out;
    }
    struct sv v = sv_strip((struct sv){value.p + d + 1, value.n - d - 1});
    pd.sec = cur;
    pd.key = key;
    pd.line = lineno;
    if ((rc = buf_append(&pd.value, v.p, v.n)) != ERR_OK)
      goto nomem;
  }
  if ((rc = pending_flush(&pd)) != ERR_OK)
    goto nomem;

  /* botocore refuses a nested block with a line that is not "name = value". */
  for (size_t i = 0; i < f->n; i++)
    for (size_t k = 0; k < f->secs[i].n; k++)
      if (!nested_ok(f->secs[i].pairs[k].value)) {
        err_set(e, ERR_PARSE,
                "bad INI in '%.300s' line %u: the indented settings under "
                "'%.64s' must each be 'name = value'",
                f->path, f->secs[i].pairs[k].line, f->secs[i].pairs[k].key);
        rc = ERR_PARSE;
        goto out;
      }
  /* Lend the defaults to every section that lacks a key. */
  for (size_t i = 0; i < f->n; i++) {
    for (size_t k = 0; k < defaults.n; k++) {
      if (ini_pair(&f->secs[i], defaults.pairs[k].key))
        continue;
      char *key = str_dup(defaults.pairs[k].key);
      char *val = str_dup(defaults.pairs[k].value);
      if (!key || !val) {
        free(key);
        str_free_secret(val);
        goto nomem;
      }
      if ((rc = pair_add(&f->secs[i], key, val, defaults.pairs[k].line)) != ERR_OK)
        goto nomem;
    }
  }
  goto out;

nomem:
  if (rc == ERR_TOO_LARGE)
    err_set(e, ERR_TOO_LARGE, "'%.300s' has too many sections or settings", f->path);
  else
    rc = err_set(e, ERR_NOMEM, "out of memory");
out:
  free(pd.key);
  buf_release(&pd.value);
  section_release(&defaults);
  return rc;
}

enum err_code ini_load(struct ini_file *f, const char *path, struct err *e)
{
  memset(f, 0, sizeof *f);
  struct stat st;
  /* botocore: "if not os.path.isfile(path): raise ConfigNotFound", which the providers treat
   * as an empty file. */
  if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
    f->path = str_dup(path);
    return f->path ? ERR_OK : err_set(e, ERR_NOMEM, "out of memory");
  }
  struct buf b;
  enum err_code rc = creds_read_file(path, INI_MAX_BYTES, &b, e);
  if (rc == ERR_NOT_FOUND) {
    buf_release(&b);
    f->path = str_dup(path);
    return f->path ? ERR_OK : err_set(e, ERR_NOMEM, "out of memory");
  }
  if (rc == ERR_OK)
    rc = ini_parse(f, buf_str(&b), b.len, path, e);
  else
    f->path = str_dup(path);
  buf_release(&b);
  return rc;
}

/* ---- section names ---- */

enum cfg_section_kind cfg_section_kind(const char *section, char **name)
{
  *name = NULL;
  enum cfg_section_kind kind;
  /* build_profile_map: key.startswith("profile") / ("sso-session"), then _parse_section's
   * shlex.split needing exactly two words; "default" alone is a profile. */
  if (strncmp(section, "profile", 7) == 0)
    kind = CFG_PROFILE;
  else if (strncmp(section, "sso-session", 11) == 0)
    kind = CFG_SSO_SESSION;
  else if (strcmp(section, "default") == 0) {
    *name = str_dup("default");
    return *name ? CFG_PROFILE : CFG_OTHER;
  } else
    return CFG_OTHER;
  char *words[3] = {0};
  int n = creds_split_words(section, words, 3);
  if (n == 2) {
    *name = words[1];
    words[1] = NULL;
  }
  creds_words_free(words, n < 0 ? 0 : n);
  return *name ? kind : CFG_OTHER;
}

/* ---- the two files ---- */

void awsconfig_release(struct aws_config *c)
{
  if (!c)
    return;
  ini_release(&c->config);
  ini_release(&c->credentials);
}

static const char *env_nonempty(const char *name)
{
  const char *v = getenv(name);
  return v && *v ? v : NULL;
}

static enum err_code load_one(struct ini_file *f, const char *var, const char *dflt, struct err *e)
{
  /* botocore's config_file / credentials_file variables (botocore/configprovider.py):
   * AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE, defaulting to ~/.aws/...; both go through
   * os.path.expandvars and expanduser (configloader.raw_config_parse). */
  const char *raw = env_nonempty(var);
  char *path = creds_expand_path(raw ? raw : dflt);
  if (!path)
    return err_set(e, ERR_NOMEM, "out of memory");
  enum err_code rc = ini_load(f, path, e);
  free(path);
  return rc;
}

enum err_code awsconfig_load(struct aws_config *c, struct err *e)
{
  memset(c, 0, sizeof *c);
  enum err_code rc = load_one(&c->config, "AWS_CONFIG_FILE", "~/.aws/config", e);
  if (rc == ERR_OK)
    rc = load_one(&c->credentials, "AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials", e);
  return rc;
}

static const struct ini_section *config_kind(const struct aws_config *c, const char *name,
                                             enum cfg_section_kind want)
{
  const struct ini_section *found = NULL;
  for (size_t i = 0; i < c->config.n; i++) {
    char *n = NULL;
    enum cfg_section_kind k = cfg_section_kind(c->config.secs[i].name, &n);
    /* profiles.update(...) in file order: a later section of the same name wins whole. */
    if (k == want && n && strcmp(n, name) == 0)
      found = &c->config.secs[i];
    free(n);
  }
  return found;
}

const struct ini_section *awsconfig_config_profile(const struct aws_config *c, const char *name)
{
  return config_kind(c, name, CFG_PROFILE);
}

const struct ini_section *awsconfig_sso_session(const struct aws_config *c, const char *name)
{
  return config_kind(c, name, CFG_SSO_SESSION);
}

const struct ini_section *awsconfig_creds_profile(const struct aws_config *c, const char *name)
{
  return ini_section(&c->credentials, name);
}

const char *awsconfig_get(const struct aws_config *c, const char *profile, const char *key,
                          const char **file, unsigned *line)
{
  /* Session.full_config: the credentials file's keys update the config file's profile. */
  const struct ini_pair *p = ini_pair(awsconfig_creds_profile(c, profile), key);
  const struct ini_file *f = &c->credentials;
  if (!p) {
    p = ini_pair(awsconfig_config_profile(c, profile), key);
    f = &c->config;
  }
  if (p) {
    if (file)
      *file = f->path;
    if (line)
      *line = p->line;
  }
  return p ? p->value : NULL;
}

bool awsconfig_has_profile(const struct aws_config *c, const char *profile)
{
  return awsconfig_config_profile(c, profile) || awsconfig_creds_profile(c, profile);
}

/* ---- paths ---- */

static bool var_char(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

char *creds_expand_path(const char *path)
{
  struct buf b;
  buf_init(&b, PATH_MAX_BYTES);
  enum err_code rc = ERR_OK;
  /* os.path.expandvars first: $NAME and ${NAME}; an unset one stays as written. */
  for (const char *p = path; *p && rc == ERR_OK;) {
    if (*p == '$') {
      const char *name = p + 1, *end;
      bool brace = *name == '{';
      if (brace) {
        name++;
        end = strchr(name, '}');
      } else {
        end = name;
        while (var_char(*end))
          end++;
      }
      if (end && end > name) {
        struct sv nv = {name, (size_t)(end - name)};
        char *n = sv_dup(nv);
        const char *val = n ? getenv(n) : NULL;
        free(n);
        const char *after = brace ? end + 1 : end;
        if (val)
          rc = buf_puts(&b, val);
        else
          rc = buf_append(&b, p, (size_t)(after - p));
        p = after;
        continue;
      }
    }
    rc = buf_putc(&b, *p++);
  }
  /* Then expanduser: a leading "~" or "~/" from HOME ("~user" is left alone). */
  if (rc == ERR_OK && b.len && b.p[0] == '~' && (b.len == 1 || b.p[1] == '/')) {
    const char *home = getenv("HOME");
    if (home) {
      struct buf o;
      buf_init(&o, PATH_MAX_BYTES);
      size_t hl = strlen(home);
      while (hl > 1 && home[hl - 1] == '/')
        hl--;
      rc = buf_append(&o, home, hl);
      if (rc == ERR_OK)
        rc = buf_append(&o, b.p + 1, b.len - 1);
      buf_release(&b);
      b = o;
    }
  }
  if (rc != ERR_OK) {
    buf_release(&b);
    return NULL;
  }
  if (b.len == 0)
    (void)buf_puts(&b, "");
  return buf_detach(&b);
}
