/* Benchmark: evaluations per second of one pull request against a typical repository
 * policy (the seed's org-wide pull statement plus a few others), with the node role's
 * identity policy and two SCP levels, on one thread. Built by scripts/bench/policy-eval
 * against the static library; not a test and never run by ctest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ecrdiag/policy.h"

static const char *repository_policy =
    "{\"Version\": \"2012-10-17\", \"Statement\": ["
    "{\"Sid\": \"AllowPullFromOrganization\", \"Effect\": \"Allow\", \"Principal\": \"*\","
    " \"Action\": [\"ecr:BatchGetImage\", \"ecr:GetDownloadUrlForLayer\","
    " \"ecr:BatchCheckLayerAvailability\"],"
    " \"Condition\": {\"StringEquals\": {\"aws:PrincipalOrgID\": \"o-a1b2c3d4e5\"}}},"
    "{\"Sid\": \"AllowCiPush\", \"Effect\": \"Allow\","
    " \"Principal\": {\"AWS\": \"arn:aws:iam::632000001762:role/ci-builder\"},"
    " \"Action\": [\"ecr:PutImage\", \"ecr:InitiateLayerUpload\", \"ecr:UploadLayerPart\","
    " \"ecr:CompleteLayerUpload\", \"ecr:BatchCheckLayerAvailability\"]},"
    "{\"Sid\": \"AllowPartnerPull\", \"Effect\": \"Allow\","
    " \"Principal\": {\"AWS\": [\"arn:aws:iam::833000004321:root\", \"444455556666\"]},"
    " \"Action\": [\"ecr:BatchGetImage\", \"ecr:GetDownloadUrlForLayer\"],"
    " \"Condition\": {\"IpAddress\": {\"aws:SourceIp\": [\"203.0.113.0/24\", \"2001:db8::/32\"]}}},"
    "{\"Sid\": \"DenyDelete\", \"Effect\": \"Deny\", \"Principal\": \"*\","
    " \"Action\": [\"ecr:DeleteRepository\", \"ecr:BatchDeleteImage\", "
    "\"ecr:SetRepositoryPolicy\"],"
    " \"Condition\": {\"ArnNotLike\": {\"aws:PrincipalArn\": "
    "\"arn:aws:iam::632000001762:role/admin-*\"}}}"
    "]}";

static const char *identity_policy =
    "{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\", \"Action\": ["
    "\"ecr:GetAuthorizationToken\", \"ecr:BatchCheckLayerAvailability\","
    " \"ecr:GetDownloadUrlForLayer\", \"ecr:GetRepositoryPolicy\", \"ecr:DescribeRepositories\","
    " \"ecr:ListImages\", \"ecr:DescribeImages\", \"ecr:BatchGetImage\", "
    "\"ecr:GetLifecyclePolicy\","
    " \"ecr:GetLifecyclePolicyPreview\", \"ecr:ListTagsForResource\","
    " \"ecr:DescribeImageScanFindings\"], \"Resource\": \"*\"}]}";

static const char *full_access =
    "{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"*\","
    " \"Resource\": \"*\"}]}";

static struct policy *parse_or_die(const char *text)
{
  struct policy *p = NULL;
  struct err e;
  if (policy_parse(text, strlen(text), &p, &e)) {
    fprintf(stderr, "bench: %s\n", e.msg);
    exit(1);
  }
  return p;
}

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Runs evaluations for about `seconds`; returns evaluations per second. */
static double run(struct policy_request *reqs, size_t n_reqs, double seconds, size_t *allows)
{
  struct policy_decision d;
  size_t done = 0;
  *allows = 0;
  double start = now_s(), elapsed = 0;
  while (elapsed < seconds) {
    for (int i = 0; i < 10000; i++) {
      struct policy_request *r = &reqs[done % n_reqs];
      policy_evaluate(r, &d, NULL);
      *allows += d.decision == POLICY_ALLOW;
      done++;
    }
    elapsed = now_s() - start;
  }
  return (double)done / elapsed;
}

int main(int argc, char **argv)
{
  double seconds = argc > 1 ? strtod(argv[1], NULL) : 3.0;
  struct policy *rp = parse_or_die(repository_policy);
  struct policy *id = parse_or_die(identity_policy);
  struct policy *fa = parse_or_die(full_access);
  const struct policy *ids[] = {id};
  const struct policy *lvl[] = {fa};
  struct policy_level scps[] = {{lvl, 1}, {lvl, 1}};
  const char *paths[] = {"o-a1b2c3d4e5/r-a1b2/ou-a1b2-w0rk10ad/"};

  /* Two callers in turn: B inside the organization (allowed) and C outside it (denied). */
  struct policy_request reqs[2];
  memset(reqs, 0, sizeof reqs);
  for (int i = 0; i < 2; i++) {
    struct policy_request *r = &reqs[i];
    r->principal.type = POLICY_PRINCIPAL_ASSUMED_ROLE;
    r->action = i ? "ecr:GetDownloadUrlForLayer" : "ecr:BatchGetImage";
    r->resource = "arn:aws:ecr:ap-southeast-1:632000001762:repository/audit/sa/cicd-runner";
    r->identity_policies = ids;
    r->n_identity_policies = 1;
    r->resource_policy = rp;
    r->scps = scps;
    r->n_scp_levels = 2;
  }
  reqs[0].principal.arn =
      "arn:aws:sts::722000009750:assumed-role/eks-node-role/i-0b1c2d3e4f5a6b7c8";
  reqs[0].principal.account = "722000009750";
  reqs[0].principal.role_arn = "arn:aws:iam::722000009750:role/eks-node-role";
  reqs[0].principal.org_id = "o-a1b2c3d4e5";
  reqs[0].principal.org_paths = paths;
  reqs[0].principal.n_org_paths = 1;
  reqs[1].principal.arn =
      "arn:aws:sts::833000004321:assumed-role/eks-node-role/i-0c9d8e7f6a5b4c3d2";
  reqs[1].principal.account = "833000004321";
  reqs[1].principal.role_arn = "arn:aws:iam::833000004321:role/eks-node-role";

  size_t allows = 0;
  run(reqs, 2, 0.3, &allows); /* warm up */
  double full = run(reqs, 2, seconds, &allows);
  printf("full request (identity + repository policy + 2 SCP levels, B allowed / C denied): "
         "%.0f evaluations/s (%.0f ns each)\n",
         full, 1e9 / full);

  /* The repository policy alone, as the diagnosis asks "does the policy name this caller". */
  struct policy_request rp_only[2];
  memcpy(rp_only, reqs, sizeof reqs);
  for (int i = 0; i < 2; i++) {
    rp_only[i].identity_policies = NULL;
    rp_only[i].n_identity_policies = 0;
    rp_only[i].scps = NULL;
    rp_only[i].n_scp_levels = 0;
  }
  double rponly = run(rp_only, 2, seconds, &allows);
  printf("repository policy only: %.0f evaluations/s (%.0f ns each)\n", rponly, 1e9 / rponly);
  policy_free(rp);
  policy_free(id);
  policy_free(fa);
  return full >= 1e6 ? 0 : 1;
}
