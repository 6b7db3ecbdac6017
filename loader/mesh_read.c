// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "mesh_read.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

int mesh_counters_read(const struct shunt_pins *pins, struct shunt_mesh_counters *sum)
{
	int ncpus = libbpf_num_possible_cpus(), fd, err = 0, cpu;
	struct shunt_mesh_counters *per;
	__u32 zero = 0;
	size_t f;

	memset(sum, 0, sizeof(*sum));
	if (ncpus <= 0)
		return ncpus ? ncpus : -EINVAL;
	fd = shunt_pinned_map_fd(pins, "shunt_mesh_counters");
	if (fd < 0)
		return fd;
	per = calloc((size_t)ncpus, sizeof(*per));
	if (!per) {
		close(fd);
		return -ENOMEM;
	}
	if (bpf_map_lookup_elem(fd, &zero, per)) {
		err = -errno;
	} else {
		for (cpu = 0; cpu < ncpus; cpu++)
			for (f = 0; f < sizeof(*sum) / sizeof(__u64); f++)
				((__u64 *)sum)[f] += ((__u64 *)&per[cpu])[f];
	}
	free(per);
	close(fd);
	return err;
}

void mesh_name(int names_fd, __u32 gen, __u32 kind, __u32 id, char *buf, size_t len)
{
	struct shunt_name_key key = {.gen = gen, .kind = kind, .id = id};
	struct shunt_name name;

	if (kind == SHUNT_NAME_IDENT && id == SHUNT_ID_ANY) {
		snprintf(buf, len, "-");
		return;
	}
	if (names_fd >= 0 && !bpf_map_lookup_elem(names_fd, &key, &name)) {
		name.name[sizeof(name.name) - 1] = 0;
		snprintf(buf, len, "%s", name.name);
		return;
	}
	if (kind == SHUNT_NAME_IDENT && id == SHUNT_ID_WORLD)
		snprintf(buf, len, "world");
	else if (kind == SHUNT_NAME_RULE && id == 0)
		snprintf(buf, len, "default");
	else
		snprintf(buf, len, "#%u", id);
}

int mesh_verdicts_each(const struct shunt_pins *pins, mesh_verdict_fn fn, void *ctx)
{
	int ncpus = libbpf_num_possible_cpus(), fd, cpu;
	struct shunt_verdict_key key, next, *prev = NULL;
	struct shunt_verdict_count *per;

	if (ncpus <= 0)
		return -EINVAL;
	fd = shunt_pinned_map_fd(pins, "shunt_verdicts");
	if (fd < 0)
		return fd;
	per = calloc((size_t)ncpus, sizeof(*per));
	if (!per) {
		close(fd);
		return -ENOMEM;
	}
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		__u64 sum = 0;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, per))
			continue;
		for (cpu = 0; cpu < ncpus; cpu++)
			sum += per[cpu].count;
		fn(&key, sum, ctx);
	}
	free(per);
	close(fd);
	return 0;
}

int mesh_policy_query_open(const struct shunt_pins *pins)
{
	char path[PATH_MAX];
	int fd;

	if (shunt_pin_path(path, sizeof(path), pins->progs, "shunt_policy_query"))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	return fd < 0 ? -errno : fd;
}

int mesh_policy_query(int prog_fd, struct shunt_policy_query *q)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = q, .ctx_size_in = sizeof(*q));
	int err;

	err = bpf_prog_test_run_opts(prog_fd, &o);
	if (err)
		return err;
	return (int)o.retval;
}

const char *mesh_verdict_name(__u8 verdict)
{
	switch (verdict) {
	case SHUNT_VERDICT_ALLOW:
		return "allow";
	case SHUNT_VERDICT_DENY:
		return "deny";
	case SHUNT_VERDICT_NO_BACKEND:
		return "no_backend";
	default:
		return "unknown";
	}
}

const char *mesh_proto_name(__u8 proto)
{
	switch (proto) {
	case SHUNT_PROTO_TCP:
		return "tcp";
	case SHUNT_PROTO_UDP:
		return "udp";
	case SHUNT_PROTO_SCTP:
		return "sctp";
	case 0:
		return "any";
	default:
		return "other";
	}
}

int mesh_state_read_fd(int fd, __u32 *gen, __u64 *version)
{
	struct shunt_mesh_state st;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(fd, &zero, &st))
		return -errno;
	*gen = st.gen & 1;
	*version = st.version;
	return 0;
}

int mesh_state_read(const struct shunt_pins *pins, __u32 *gen, __u64 *version)
{
	struct shunt_mesh_state st;
	__u32 zero = 0;
	int fd, err = 0;

	fd = shunt_pinned_map_fd(pins, "shunt_mesh_state");
	if (fd < 0)
		return fd;
	if (bpf_map_lookup_elem(fd, &zero, &st))
		err = -errno;
	close(fd);
	if (!err) {
		*gen = st.gen & 1;
		*version = st.version;
	}
	return err;
}

int mesh_state_full(const struct shunt_pins *pins, struct shunt_mesh_state *st)
{
	__u32 zero = 0;
	int fd, err = 0;

	fd = shunt_pinned_map_fd(pins, "shunt_mesh_state");
	if (fd < 0)
		return fd;
	if (bpf_map_lookup_elem(fd, &zero, st))
		err = -errno;
	close(fd);
	return err;
}
