/* The regions ECR serves in each partition, and which of them are opt-in (disabled for an
 * account until enabled). Depends on nothing. */
#ifndef ECRDIAG_REGIONS_H
#define ECRDIAG_REGIONS_H

#include <stdbool.h>
#include <stddef.h>

/* The regions of partition ("aws", "aws-cn", "aws-us-gov") where ECR has an API endpoint, in a
 * fixed order; *n their count. NULL (and *n 0) for any other partition. */
const char *const *regions_of_partition(const char *partition, size_t *n);

/* The partition's home region (us-east-1, cn-north-1, us-gov-west-1), enabled in every account
 * of the partition; NULL for another partition. */
const char *region_home(const char *partition);

/* True for a region AWS introduced as opt-in: an account cannot use it until it is enabled. */
bool region_is_opt_in(const char *region);

#endif
