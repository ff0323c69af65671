/* Parsing of ECR image references: ACCOUNT.dkr.ecr[-fips].REGION.amazonaws.com[.cn] and the
 * dual-stack ACCOUNT.dkr-ecr[-fips].REGION.on.aws (China: .on.amazonwebservices.com.cn), then
 * /REPO[:TAG][@sha256:DIGEST]. No tag and no digest means "latest", as the kubelet assumes.
 * Depends on core only. */
#ifndef ECRDIAG_IMAGEREF_H
#define ECRDIAG_IMAGEREF_H

#include <stdbool.h>

#include "ecrdiag/err.h"

enum imageref_kind {
  IMAGEREF_ECR,        /* a private ECR reference: every field below is filled */
  IMAGEREF_MALFORMED,  /* not a well-formed reference at all */
  IMAGEREF_ECR_PUBLIC, /* public.ecr.aws/...: ECR Public, not diagnosed by this tool */
  IMAGEREF_NOT_ECR,    /* a well-formed reference to another registry */
};

struct image_ref {
  enum imageref_kind kind;
  char *reference; /* the input as given */
  /* Registry host, lower-cased, port removed: "632000001762.dkr.ecr.ap-southeast-1.amazonaws.com".
   * Also filled for NOT_ECR and ECR_PUBLIC ("docker.io" for a Docker Hub short name) and,
   * where it is known, for MALFORMED. */
  char *host;
  char registry_id[13]; /* 12-digit account id */
  char region[32];      /* "ap-southeast-1" */
  char partition[16];   /* "aws", "aws-cn" or "aws-us-gov", from the host */
  bool fips;            /* dkr.ecr-fips */
  bool dualstack;       /* dkr-ecr.REGION.on.aws */
  char *repository;     /* "audit/sa/cicd-runner" */
  char *tag;            /* "latest" when neither tag nor digest is given; NULL with digest only */
  char *digest;         /* "sha256:<64 hex>" or NULL */
};

/* Parses s into r (caller-owned storage, released with imageref_release even on failure).
 * ERR_OK only for a private ECR reference. Otherwise ERR_PARSE with r->kind saying why
 * (MALFORMED, ECR_PUBLIC, NOT_ECR) and e->msg: one lower-case sentence quoting the offending
 * part, then what to do. ERR_NOMEM when out of memory. s NULL is the empty reference.
 * Refused as MALFORMED: empty, whitespace or control characters, non-ASCII, over 4096 bytes,
 * a scheme ("https://"), and a port after an ECR host: the kubelet matches its ECR credential
 * provider by host and port, and the provider's patterns have no port, so "HOST:443/..."
 * is pulled without ECR credentials. ECR in isolated partitions (c2s.ic.gov, ...) is
 * NOT_ECR: this tool has no endpoints for them. Repository names follow the ECR model's
 * RepositoryName pattern (separators '.', '_', '__', runs of '-'), 2 to 256 characters. */
enum err_code imageref_parse(const char *s, struct image_ref *r, struct err *e);
/* Frees r's strings and leaves it empty (kind MALFORMED), ready to parse into again.
 * Accepts NULL and an already released r. */
void imageref_release(struct image_ref *r);

/* "arn:PARTITION:ecr:REGION:ACCOUNT:repository/NAME"; the caller frees. NULL when r is not
 * a parsed private ECR reference, or when out of memory. */
char *imageref_repository_arn(const struct image_ref *r);
/* The reference the registry is asked for: the digest when there is one, else the tag.
 * Borrowed; NULL when r holds neither. */
const char *imageref_manifest_ref(const struct image_ref *r);

#endif
