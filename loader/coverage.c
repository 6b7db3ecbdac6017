// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "coverage.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "counters.h"

#define COVERAGE_MAX_ROWS 4096 /* max_entries of shunt_coverage */

const char *shunt_path_name(__u32 path)
{
	switch (path) {
	case SHUNT_PATH_BYPASS:
		return "bypass";
	case SHUNT_PATH_TCP:
		return "tcp";
	case SHUNT_PATH_SKIPPED:
		return "skipped";
	case SHUNT_PATH_EARLY_EAGAIN:
		return "early_eagain";
	default:
		return "?";
	}
}

const char *shunt_coverage_reason_name(const struct shunt_coverage_key *key)
{
	if (key->path == SHUNT_PATH_TCP)
		return key->reason < SHUNT_REASON_MAX ? shunt_reason_names[key->reason] : "mixed";
	if (key->path == SHUNT_PATH_SKIPPED)
		return key->reason < SHUNT_SKIP_MAX ? shunt_skip_names[key->reason] : "?";
	if (key->path == SHUNT_PATH_EARLY_EAGAIN)
		return key->reason == SHUNT_EAGAIN_SIGNAL   ? "signal"
		       : key->reason == SHUNT_EAGAIN_CLOSED ? "closed"
							    : "woken";
	return "";
}

static int row_order(const void *a, const void *b)
{
	const struct shunt_coverage_row *x = a, *y = b;

	if (x->val.bytes != y->val.bytes)
		return x->val.bytes > y->val.bytes ? -1 : 1;
	if (x->val.sockets != y->val.sockets)
		return x->val.sockets > y->val.sockets ? -1 : 1;
	return memcmp(&x->key, &y->key, sizeof(x->key));
}

int shunt_coverage_read(const struct shunt_pins *pins, struct shunt_coverage_row **rows, size_t *n)
{
	struct shunt_coverage_key key, next, *prev = NULL;
	struct shunt_coverage_row *out;
	size_t count = 0;
	int fd, err = 0;

	*rows = NULL;
	*n = 0;
	fd = shunt_pinned_map_fd(pins, "shunt_coverage");
	if (fd < 0)
		return fd;
	out = calloc(COVERAGE_MAX_ROWS, sizeof(*out));
	if (!out) {
		err = -ENOMEM;
		goto cleanup;
	}
	while (count < COVERAGE_MAX_ROWS && !bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &out[count].val))
			continue; /* evicted meanwhile (LRU) */
		out[count].key = key;
		out[count].key.comm[SHUNT_COMM_LEN - 1] = '\0';
		count++;
	}
	qsort(out, count, sizeof(*out), row_order);
	*rows = out;
	*n = count;
	out = NULL;
cleanup:
	free(out);
	close(fd);
	return err;
}
