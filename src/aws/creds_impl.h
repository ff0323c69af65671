/* Internals shared by the credential chain's files (creds.c, creds_ini.c, creds_fetch.c,
 * creds_process.c) and their unit tests: the shared config/credentials INI reader, time and
 * JSON helpers, and one function per network or process source. Not a public contract.
 * Depends on core, http and aws; never on libcurl or OpenSSL directly. */
#ifndef ECRDIAG_CREDS_IMPL_H
#define ECRDIAG_CREDS_IMPL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "ecrdiag/aws.h"
#include "ecrdiag/buf.h"
#include "ecrdiag/creds.h"
#include "ecrdiag/err.h"
#include "ecrdiag/http.h"

/* ---- INI (creds_ini.c), as Python's configparser.RawConfigParser reads it for botocore ---- */

/* The files are small; a megabyte is far past any real one and bounds a hostile one. */
#define INI_MAX_BYTES ((size_t)1 << 20)

struct ini_pair {
  char *key;     /* lower-cased, as configparser's optionxform does */
  char *value;   /* stripped; continuation lines joined with '\n'; wiped on release */
  unsigned line; /* where the key was set (1-based) */
};

struct ini_section {
  char *name; /* as written between the brackets */
  unsigned line;
  struct ini_pair *pairs;
  size_t n, cap;
};

struct ini_file {
  char *path; /* the expanded path, for messages */
  bool found; /* false: the file does not exist (not an error, as in botocore) */
  struct ini_section *secs;
  size_t n, cap;
};

/* Parses text (len bytes, need not be NUL-terminated) into f (caller-owned storage; release
 * with ini_release, also after a failure). path names the file in messages. ERR_PARSE with
 * "bad INI in 'PATH' line N: why" for what configparser refuses: a setting before any
 * section, a line that is neither, a key with no name, a section or key given twice, a
 * nested value line without '=', bytes that are not UTF-8. Messages never quote a line: it
 * may hold a secret. A [DEFAULT] section's keys are copied into every other section that
 * lacks them, as configparser's defaults behave. */
enum err_code ini_parse(struct ini_file *f, const char *text, size_t len, const char *path,
                        struct err *e);
/* Reads and parses path. A file that does not exist (or is not a regular file) leaves f
 * empty with found false and returns ERR_OK; an unreadable one is ERR_IO. */
enum err_code ini_load(struct ini_file *f, const char *path, struct err *e);
void ini_release(struct ini_file *f);
/* The last section called name, or NULL. */
const struct ini_section *ini_section(const struct ini_file *f, const char *name);
/* The pair for key (lower-case) in s, or NULL. s may be NULL. */
const struct ini_pair *ini_pair(const struct ini_section *s, const char *key);
/* The value for key, or NULL. A nested block ("s3 =\n  a = b") starts with '\n'. */
const char *ini_get(const struct ini_section *s, const char *key);

/* What a config-file section header names: botocore's build_profile_map, where "profile X"
 * and "sso-session X" are split like a shell would (shlex.split) and need exactly two words,
 * and a bare "default" is the default profile. */
enum cfg_section_kind { CFG_OTHER, CFG_PROFILE, CFG_SSO_SESSION };
/* The kind of section name, with the name it defines in *name (caller frees; NULL for
 * CFG_OTHER). */
enum cfg_section_kind cfg_section_kind(const char *section, char **name);

/* ~/.aws/config and ~/.aws/credentials, as botocore's session reads them. */
struct aws_config {
  struct ini_file config;
  struct ini_file credentials;
};
/* Reads both files: AWS_CONFIG_FILE (default ~/.aws/config) and AWS_SHARED_CREDENTIALS_FILE
 * (default ~/.aws/credentials), each with ~ and $VAR expanded. Missing files are empty.
 * ERR_PARSE / ERR_IO / ERR_TOO_LARGE as ini_load. */
enum err_code awsconfig_load(struct aws_config *c, struct err *e);
void awsconfig_release(struct aws_config *c);
/* The profile's section in the config file ("[profile NAME]", or "[default]" / "[profile
 * default]" for default; the last one wins), or NULL. */
const struct ini_section *awsconfig_config_profile(const struct aws_config *c, const char *name);
/* The profile's section in the credentials file ("[NAME]"), or NULL. */
const struct ini_section *awsconfig_creds_profile(const struct aws_config *c, const char *name);
/* The "[sso-session NAME]" section, or NULL. */
const struct ini_section *awsconfig_sso_session(const struct aws_config *c, const char *name);
/* A key of the merged profile (botocore's full_config: the credentials file's value over the
 * config file's), or NULL; *file and *line (each may be NULL) say where it was set. */
const char *awsconfig_get(const struct aws_config *c, const char *profile, const char *key,
                          const char **file, unsigned *line);
/* Whether either file defines the profile. */
bool awsconfig_has_profile(const struct aws_config *c, const char *profile);

/* ~ at the start (from HOME) and $VAR / ${VAR} anywhere expanded, as os.path.expanduser and
 * expandvars do (an unset variable is left as written). Caller frees; NULL when out of
 * memory. */
char *creds_expand_path(const char *path);

/* ---- helpers (creds_fetch.c) ---- */

/* An ISO 8601 UTC time as AWS writes it: "2024-05-01T08:00:00Z", with optional fractional
 * seconds, and "Z", "UTC", "+00:00" / "-0500" style offsets. false when s is none of these. */
bool creds_parse_time(const char *s, time_t *out);
/* SHA-1 of s as 40 hex digits plus NUL: only the name of an SSO token cache file
 * (botocore/utils.py SSOTokenLoader._generate_cache_key), never a security use. */
void creds_sha1_hex(const void *data, size_t n, char out[41]);
/* Reads a whole file of at most max_bytes into a secret buffer (the caller releases it).
 * ERR_NOT_FOUND, ERR_IO, ERR_TOO_LARGE with e->msg naming the path. */
enum err_code creds_read_file(const char *path, size_t max_bytes, struct buf *out, struct err *e);
/* Moves four JSON strings into *out (access key id, secret, token (may be absent when
 * token_optional), expiration (may be absent when expiration_optional)), wiping jansson's
 * copies. The names are the JSON member names. false with *missing set to the first member
 * that is absent or not a string. */
bool creds_take_json(json_t *obj, const char *akid_name, const char *secret_name,
                     const char *token_name, bool token_optional, const char *expiration_name,
                     bool expiration_optional, struct aws_creds *out, const char **missing);
/* Wipes every string of a jansson tree in place (before json_decref) so the secrets it holds
 * do not linger in freed memory. Accepts NULL. */
void creds_json_wipe(json_t *j);
/* A printable excerpt (control bytes as spaces, at most max bytes, "..." when cut) of an
 * answer body that is not a credential, for messages. */
void creds_excerpt(struct buf *out, const char *p, size_t n, size_t max);

/* ---- network and process sources ---- */

/* What a source found when it did not produce credentials: not configured (skip, and the
 * chain goes on) or configured and broken (the chain stops with e). */
enum src_result { SRC_FOUND, SRC_SKIPPED, SRC_FAILED };

/* A hard failure of a source: e gets the printf-style message, the chain stops. */
enum src_result creds_src_fail(struct err *e, enum err_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Context the sources share with creds.c. */
struct creds_ctx {
  const struct creds_options *o;
  struct http_client *http;
  time_t now;
  long timeout_ms; /* per STS, SSO or container request */
  bool in_pod;     /* KUBERNETES_SERVICE_HOST is set */
};

/* IMDSv2 (botocore InstanceMetadataFetcher). SKIPPED with *why (a sentence fragment) when
 * disabled, unreachable or without a role; never FAILED: botocore goes on without it. */
enum src_result creds_src_imds(const struct creds_ctx *x, struct aws_creds *out, struct buf *why,
                               struct err *e);
/* Container credentials (botocore ContainerProvider). SKIPPED when neither URI variable is
 * set; FAILED with e for anything else that goes wrong. */
enum src_result creds_src_container(const struct creds_ctx *x, struct aws_creds *out,
                                    struct buf *why, struct err *e);
/* Whether url may be fetched for container credentials: https anywhere, http only to a
 * loopback address or one of the ECS / EKS Pod Identity hosts (botocore
 * ContainerMetadataFetcher._validate_allowed_url). */
bool creds_container_url_allowed(const char *url);
/* SSO from an already-checked profile: start_url, region, account, role, session (NULL for
 * the legacy keys). FAILED with e when the cached token is missing or expired, or the portal
 * refuses. */
enum src_result creds_src_sso(const struct creds_ctx *x, const char *profile, const char *start_url,
                              const char *sso_region, const char *account_id, const char *role_name,
                              const char *session_name, struct aws_creds *out, struct err *e);
/* credential_process: runs command (split like a shell, no shell) and reads its JSON.
 * FAILED with e on a non-zero exit, a timeout, or an answer that is not Version 1 with keys. */
enum src_result creds_src_process(const struct creds_ctx *x, const char *profile,
                                  const char *command, struct aws_creds *out, struct err *e);
/* Splits a command line as Python's shlex.split (POSIX mode): whitespace separates words,
 * '...' quotes literally, in "..." a backslash escapes only '"' and itself, outside quotes
 * it escapes any character.
 * Returns the number of words (up to max, the rest ignored) or -1 for an unclosed quote;
 * words[i] are malloc'd (free with creds_words_free). */
int creds_split_words(const char *s, char **words, int max);
void creds_words_free(char **words, int n);

#endif
