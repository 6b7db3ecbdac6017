// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "counters.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

/* Same order as enum shunt_reason and struct shunt_reason_counts. */
const char *const shunt_reason_names[] = {
    "disabled",	  "peer_missing", "rx_unproven",  "rx_waitall",	   "rx_lowat", "rx_other_read",
    "tcp_unread", "peer_backlog", "small_writes", "redirect_fail", "left",
};

/* Same order as enum shunt_skip and struct shunt_skip_counts. */
const char *const shunt_skip_names[] = {
    "family",	      "local_not_mesh",	 "remote_not_mesh", "remote_off_node",
    "netns_mismatch", "cgroup_mismatch", "storage_fail",    "insert_fail",
    "early_eagain",   "peer_skipped",	 "bypass_off",
};

/* A name for every reason and skip, no more, no fewer. */
_Static_assert(sizeof(shunt_reason_names) / sizeof(shunt_reason_names[0]) == SHUNT_REASON_MAX,
	       "shunt_reason_names must name every enum shunt_reason");
_Static_assert(sizeof(shunt_skip_names) / sizeof(shunt_skip_names[0]) == SHUNT_SKIP_MAX,
	       "shunt_skip_names must name every enum shunt_skip");
_Static_assert(sizeof(struct shunt_reason_counts) == SHUNT_REASON_MAX * sizeof(__u64),
	       "shunt_reason_counts must match enum shunt_reason");
_Static_assert(sizeof(struct shunt_skip_counts) == SHUNT_SKIP_MAX * sizeof(__u64),
	       "shunt_skip_counts must match enum shunt_skip");

int shunt_counters_read(const struct shunt_pins *pins, struct shunt_counters *sum)
{
	const size_t words = sizeof(*sum) / sizeof(__u64);
	struct shunt_counters *per_cpu;
	int ncpu, fd, cpu, err = 0;
	__u32 zero = 0;
	size_t w;

	memset(sum, 0, sizeof(*sum));
	ncpu = libbpf_num_possible_cpus();
	if (ncpu < 0)
		return ncpu;
	fd = shunt_pinned_map_fd(pins, "shunt_counters");
	if (fd < 0)
		return fd;
	per_cpu = calloc((size_t)ncpu, sizeof(*per_cpu));
	if (!per_cpu) {
		err = -ENOMEM;
		goto cleanup;
	}
	if (bpf_map_lookup_elem(fd, &zero, per_cpu)) {
		err = -errno;
		goto cleanup;
	}
	for (cpu = 0; cpu < ncpu; cpu++) {
		const __u64 *src = (const __u64 *)&per_cpu[cpu];
		__u64 *dst = (__u64 *)sum;

		for (w = 0; w < words; w++)
			dst[w] += src[w];
	}
cleanup:
	free(per_cpu);
	close(fd);
	return err;
}
