/* Region facts. The lists are botocore 1.43.11's data/endpoints.json, service "api.ecr"
 * (the regions of each partition with an ECR endpoint); the opt-in ones are those the AWS
 * Account Management guide lists as "disabled by default" (docs.aws.amazon.com/accounts/
 * latest/reference/manage-acct-regions.html), every region launched since March 2019. */
#include "ecrdiag/regions.h"

#include <string.h>

static const char *const aws_regions[] = {
    "us-east-1",      "us-east-2",      "us-west-1",      "us-west-2",      "af-south-1",
    "ap-east-1",      "ap-east-2",      "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
    "ap-south-1",     "ap-south-2",     "ap-southeast-1", "ap-southeast-2", "ap-southeast-3",
    "ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ca-central-1",
    "ca-west-1",      "eu-central-1",   "eu-central-2",   "eu-north-1",     "eu-south-1",
    "eu-south-2",     "eu-west-1",      "eu-west-2",      "eu-west-3",      "il-central-1",
    "me-central-1",   "me-south-1",     "mx-central-1",   "sa-east-1",
};
static const char *const cn_regions[] = {"cn-north-1", "cn-northwest-1"};
static const char *const gov_regions[] = {"us-gov-east-1", "us-gov-west-1"};

static const char *const opt_in[] = {
    "af-south-1",     "ap-east-1",      "ap-east-2",      "ap-south-2",     "ap-southeast-3",
    "ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ca-west-1",
    "eu-central-2",   "eu-south-1",     "eu-south-2",     "il-central-1",   "me-central-1",
    "me-south-1",     "mx-central-1",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* home: the partition's first region, enabled in every account of it. */
static const struct partition {
  const char *name;
  const char *home;
  const char *const *regions;
  size_t n;
} parts[] = {
    {"aws", "us-east-1", aws_regions, COUNT(aws_regions)},
    {"aws-cn", "cn-north-1", cn_regions, COUNT(cn_regions)},
    {"aws-us-gov", "us-gov-west-1", gov_regions, COUNT(gov_regions)},
};

static const struct partition *partition_named(const char *name)
{
  for (size_t i = 0; name && i < COUNT(parts); i++)
    if (strcmp(parts[i].name, name) == 0)
      return &parts[i];
  return NULL;
}

const char *const *regions_of_partition(const char *partition, size_t *n)
{
  const struct partition *p = partition_named(partition);
  *n = p ? p->n : 0;
  return p ? p->regions : NULL;
}

const char *region_home(const char *partition)
{
  const struct partition *p = partition_named(partition);
  return p ? p->home : NULL;
}

bool region_is_opt_in(const char *region)
{
  for (size_t i = 0; region && i < COUNT(opt_in); i++)
    if (strcmp(opt_in[i], region) == 0)
      return true;
  return false;
}
