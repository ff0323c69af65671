/* Parsing of ECR image references: ACCOUNT.dkr.ecr[-fips].REGION.amazonaws.com[.cn] and the
 * dual-stack ACCOUNT.dkr-ecr.REGION.on.aws, then /REPO[:TAG][@sha256:DIGEST].
 * No tag and no digest means "latest", as the kubelet assumes. Depends on core only. */
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
  char *reference;  /* the input as given */
  char *host;       /* registry host, lower-cased: "632000001762.dkr.ecr.ap-southeast-1.amazonaws.com" */
  char registry_id[13];  /* 12-digit account id */
  char region[32];       /* "ap-southeast-1" */
  char partition[16];    /* "aws", "aws-cn" or "aws-us-gov", from the host */
  bool fips;             /* dkr.ecr-fips */
  bool dualstack;        /* dkr-ecr.REGION.on.aws */
  char *repository;      /* "audit/sa/cicd-runner" */
  char *tag;             /* "latest" when neither tag nor digest is given; NULL with a digest only */
  char *digest;          /* "sha256:<64 hex>" or NULL */
};

/* Parses s into r (caller-owned storage, released with imageref_release even on failure).
 * ERR_OK only for a private ECR reference. Otherwise ERR_PARSE with r->kind saying why
 * (MALFORMED, ECR_PUBLIC, NOT_ECR) and e->msg naming what is wrong and what to do. */
enum err_code imageref_parse(const char *s, struct image_ref *r, struct err *e);
void imageref_release(struct image_ref *r);

/* "arn:PARTITION:ecr:REGION:ACCOUNT:repository/NAME"; the caller frees. NULL when out of memory. */
char *imageref_repository_arn(const struct image_ref *r);
/* The reference the registry is asked for: the digest when there is one, else the tag. Borrowed. */
const char *imageref_manifest_ref(const struct image_ref *r);

#endif
