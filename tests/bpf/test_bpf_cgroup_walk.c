// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The walk from a cgroup up to its workload's (bpf/mesh_cgroup.bpf.h), run
 * with BPF_PROG_TEST_RUN on the cgroup_skb ingress program: the packet's
 * socket belongs to this process's cgroup, which the test makes three
 * levels deep (W/pod/ctr, as the kubelet puts a container below its pod)
 * and moves itself into. A workload isolated for ingress with no rule drops
 * a SYN when the program counts the socket as its own, and lets it pass
 * when the socket is nobody's.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cmocka.h>

#include "mesh.skel.h"
#include "mesh_shared.h"

#define POD   1000 /* isolated for ingress, no rule: drops every SYN */
#define OTHER 2000 /* no policy: lets every SYN pass */

static char top[512], home[512]; /* our cgroups' root; where we came from */
static __u64 id_top, id_pod, id_ctr;

static int write_pid(const char *dir)
{
	char path[600];
	FILE *f;
	int err;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	err = fprintf(f, "%d\n", getpid()) < 0 ? -EIO : 0;
	return fclose(f) ? -errno : err;
}

static int make(const char *path, __u64 *id)
{
	struct stat st;

	if (mkdir(path, 0755) && errno != EEXIST)
		return -errno;
	if (stat(path, &st))
		return -errno;
	*id = st.st_ino; /* a cgroup v2 id is its directory's inode */
	return 0;
}

/* The cgroup v2 mount (MNT, 256 bytes) and this process's cgroup (HOME). */
static int find_home(char *mnt)
{
	char line[512], rel[400] = "";
	FILE *f = fopen("/proc/self/mounts", "r");

	if (!f)
		return -errno;
	mnt[0] = '\0';
	while (fgets(line, sizeof(line), f))
		if (strstr(line, " cgroup2 ") && sscanf(line, "%*s %255s", mnt) == 1)
			break;
	fclose(f);
	f = fopen("/proc/self/cgroup", "r");
	if (!f || !mnt[0])
		return -ENOENT;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "0::", 3))
			sscanf(line + 3, "%399s", rel);
	fclose(f);
	snprintf(home, sizeof(home), "%s%s", mnt, strcmp(rel, "/") ? rel : "");
	return 0;
}

static int teardown(void **state);

static int setup(void **state)
{
	char mnt[256], path[600];

	if (find_home(mnt))
		return -1;
	snprintf(top, sizeof(top), "%s/shunt-bpftest-%d", mnt, getpid());
	snprintf(path, sizeof(path), "%s/pod", top);
	if (make(top, &id_top) || make(path, &id_pod))
		goto fail;
	snprintf(path, sizeof(path), "%s/pod/ctr", top);
	if (make(path, &id_ctr) || write_pid(path))
		goto fail;
	return 0;
fail:
	fprintf(stderr, "cannot make the test's cgroups under %s: %s\n", top, strerror(errno));
	teardown(state);
	return -1;
}

static int teardown(void **state)
{
	char path[600];

	(void)state;
	write_pid(home);
	snprintf(path, sizeof(path), "%s/pod/ctr", top);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/pod", top);
	rmdir(path);
	rmdir(top);
	return 0;
}

/* The program with or without the walk; its mesh cgroup at level 0. */
static struct mesh_bpf *load(bool ancestors)
{
	struct mesh_bpf *skel = mesh_bpf__open();
	struct bpf_map *map;

	assert_non_null(skel);
	bpf_object__for_each_map (map, skel->obj) /* nothing lands in bpffs */
		bpf_map__set_pin_path(map, NULL);
	skel->rodata->shunt_have_cgroup_ancestors = ancestors;
	assert_int_equal(mesh_bpf__load(skel), 0);
	return skel;
}

/* Workload ID on cgroup CGROUP in generation 0, isolated if ID is POD. */
static void add_workload(struct mesh_bpf *skel, __u64 cgroup, __u32 id)
{
	struct shunt_cgroup_ident_key ck = {.cgroup_id = cgroup};
	struct shunt_ident v = {.id = id, .flags = SHUNT_IDENT_LOCAL};
	struct shunt_subject_key sk = {.id = id};
	struct shunt_subject s = {.isolated = SHUNT_ISOLATED_INGRESS};
	struct shunt_mesh_state st = {.version = 1};
	__u32 zero = 0;

	assert_int_equal(
	    bpf_map_update_elem(bpf_map__fd(skel->maps.shunt_cgroup_idents), &ck, &v, 0), 0);
	if (id == POD)
		assert_int_equal(
		    bpf_map_update_elem(bpf_map__fd(skel->maps.shunt_policy_subjects), &sk, &s, 0),
		    0);
	assert_int_equal(
	    bpf_map_update_elem(bpf_map__fd(skel->maps.shunt_mesh_state), &zero, &st, 0), 0);
}

/* A TCP SYN from 10.0.0.3 to 10.0.0.1:8080 through the ingress program:
 * 1 passes, 0 dropped. */
static int syn_verdict(struct mesh_bpf *skel)
{
	unsigned char buf[80] __attribute__((aligned(8))) = {}, *pkt = buf + 2;
	struct ethhdr *eth = (void *)pkt;
	struct iphdr *ip = (void *)(pkt + sizeof(*eth));
	struct tcphdr *tcp = (void *)(ip + 1);
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt,
		    .data_size_in = sizeof(*eth) + sizeof(*ip) + sizeof(*tcp));

	eth->h_proto = htons(ETH_P_IP);
	ip->version = 4;
	ip->ihl = 5;
	ip->ttl = 64;
	ip->protocol = IPPROTO_TCP;
	ip->tot_len = htons(sizeof(*ip) + sizeof(*tcp));
	inet_pton(AF_INET, "10.0.0.3", &ip->saddr);
	inet_pton(AF_INET, "10.0.0.1", &ip->daddr);
	tcp->source = htons(40000);
	tcp->dest = htons(8080);
	tcp->doff = 5;
	tcp->syn = 1;
	assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(skel->progs.shunt_ingress), &opts),
			 0);
	return (int)opts.retval;
}

static void a_socket_below_the_pods_cgroup_is_the_pods(void **state)
{
	struct mesh_bpf *skel = load(true);

	(void)state;
	add_workload(skel, id_pod, POD);
	assert_int_equal(syn_verdict(skel), 0);
	mesh_bpf__destroy(skel);
}

static void without_the_ancestor_helpers_only_the_exact_cgroup_counts(void **state)
{
	struct mesh_bpf *skel = load(false);

	(void)state;
	add_workload(skel, id_pod, POD);
	assert_int_equal(syn_verdict(skel), 1);
	mesh_bpf__destroy(skel);
}

static void the_nearest_workload_wins(void **state)
{
	struct mesh_bpf *skel = load(true);

	(void)state;
	add_workload(skel, id_top, OTHER);
	add_workload(skel, id_pod, POD);
	assert_int_equal(syn_verdict(skel), 0);
	mesh_bpf__destroy(skel);
	skel = load(true);
	add_workload(skel, id_top, POD);
	add_workload(skel, id_pod, OTHER);
	assert_int_equal(syn_verdict(skel), 1);
	mesh_bpf__destroy(skel);
}

static void a_cgroup_beside_the_workloads_is_nobodys(void **state)
{
	struct mesh_bpf *skel = load(true);
	char path[600];
	__u64 id;

	(void)state;
	snprintf(path, sizeof(path), "%s/beside", top);
	assert_int_equal(make(path, &id), 0);
	add_workload(skel, id, POD);
	assert_int_equal(syn_verdict(skel), 1);
	mesh_bpf__destroy(skel);
	rmdir(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(a_socket_below_the_pods_cgroup_is_the_pods),
	    cmocka_unit_test(without_the_ancestor_helpers_only_the_exact_cgroup_counts),
	    cmocka_unit_test(the_nearest_workload_wins),
	    cmocka_unit_test(a_cgroup_beside_the_workloads_is_nobodys),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "needs root (BPF_PROG_TEST_RUN, cgroups)\n");
		return 77;
	}
	return cmocka_run_group_tests_name("bpf_cgroup_walk", tests, setup, teardown);
}
