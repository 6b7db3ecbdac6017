// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The cgroup_skb ingress program, run directly with BPF_PROG_TEST_RUN on
 * built packets: the policy decision for each kind of packet, the deny
 * rules, the generations. The object is loaded without pinning anything;
 * the packet's socket belongs to this test's own cgroup, which the test
 * registers as the local workload.
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
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cmocka.h>

#include "common/addr.h"
#include "mesh.skel.h"
#include "mesh_shared.h"

#define WORKLOAD 1000
#define CLIENT	 2000
#define RULE	 7
#define DENY	 8

static struct mesh_bpf *skel;
static __u64 my_cgroup;

/* This process's cgroup v2 id: the inode of its directory. */
static int own_cgroup_id(__u64 *id)
{
	char line[512], path[1024], mnt[256] = "";
	struct stat st;
	FILE *f;

	f = fopen("/proc/self/mounts", "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %255s cgroup2", mnt) == 1 && strstr(line, " cgroup2 "))
			break;
	fclose(f);
	f = fopen("/proc/self/cgroup", "r");
	if (!f || !mnt[0])
		return -ENOENT;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3))
			continue;
		line[strcspn(line, "\n")] = 0;
		snprintf(path, sizeof(path), "%s%s", mnt, line + 3);
		fclose(f);
		if (stat(path, &st))
			return -errno;
		*id = st.st_ino;
		return 0;
	}
	fclose(f);
	return -ENOENT;
}

static void set_state(__u32 gen, __u64 version)
{
	struct shunt_mesh_state st = {.gen = gen, .version = version};
	__u32 zero = 0;

	assert_int_equal(
	    bpf_map_update_elem(bpf_map__fd(skel->maps.shunt_mesh_state), &zero, &st, 0), 0);
}

static void add_ipcache(__u8 gen, const char *addr, __u32 id)
{
	struct shunt_ipcache_key key = {.prefixlen = 8 + 128, .gen = gen};
	struct shunt_ident v = {.id = id};

	assert_int_equal(shunt_addr_parse(addr, key.addr), 0);
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(skel->maps.shunt_ipcache), &key, &v, 0),
			 0);
}

static void add_policy(int fd, __u8 gen, __u32 subject, __u32 peer, __u8 proto, __u16 port,
		       __u32 rule)
{
	struct shunt_policy_key key = {.gen = gen,
				       .direction = SHUNT_DIR_INGRESS,
				       .proto = proto,
				       .port = port,
				       .subject = subject,
				       .peer = peer};
	struct shunt_policy_entry e = {.rule = rule};

	assert_int_equal(bpf_map_update_elem(fd, &key, &e, 0), 0);
}

/* Generation GEN: this cgroup is WORKLOAD, isolated for ingress, and admits
 * CLIENT (10.0.0.2 / fd00::2) on TCP 8080 and UDP 53. */
static void fill_gen(__u8 gen)
{
	struct shunt_cgroup_ident_key ck = {.gen = gen, .cgroup_id = my_cgroup};
	struct shunt_ident id = {.id = WORKLOAD, .flags = SHUNT_IDENT_LOCAL};
	struct shunt_subject_key sk = {.gen = gen, .id = WORKLOAD};
	struct shunt_subject s = {.isolated = SHUNT_ISOLATED_INGRESS};

	assert_int_equal(
	    bpf_map_update_elem(bpf_map__fd(skel->maps.shunt_cgroup_idents), &ck, &id, 0), 0);
	assert_int_equal(
	    bpf_map_update_elem(bpf_map__fd(skel->maps.shunt_policy_subjects), &sk, &s, 0), 0);
	add_ipcache(gen, "10.0.0.2", CLIENT);
	add_ipcache(gen, "fd00::2", CLIENT);
	add_policy(bpf_map__fd(skel->maps.shunt_policy_allow), gen, WORKLOAD, CLIENT, 6, 8080,
		   RULE);
	add_policy(bpf_map__fd(skel->maps.shunt_policy_allow), gen, WORKLOAD, CLIENT, 17, 53, RULE);
}

static int setup(void **state)
{
	struct bpf_map *map;
	int err;

	(void)state;
	if (own_cgroup_id(&my_cgroup))
		return -1;
	skel = mesh_bpf__open();
	if (!skel)
		return -1;
	/* Nothing of this test may land in bpffs. */
	bpf_object__for_each_map (map, skel->obj)
		bpf_map__set_pin_path(map, NULL);
	err = mesh_bpf__load(skel);
	if (err) {
		fprintf(stderr, "load: %s\n", strerror(-err));
		return -1;
	}
	fill_gen(0);
	set_state(0, 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mesh_bpf__destroy(skel);
	return 0;
}

#define F_SYN 0x02
#define F_ACK 0x10

/* The L4 header: TCP with FLAGS, UDP, SCTP whose first chunk is of type
 * FLAGS, ICMP/ICMPv6 of type FLAGS, or 8 bytes of another protocol. */
static size_t build_l4(unsigned char *l4, __u8 proto, __u16 dport, __u8 flags)
{
	if (proto == IPPROTO_TCP) {
		struct tcphdr *tcp = (void *)l4;

		tcp->source = htons(40000);
		tcp->dest = htons(dport);
		tcp->doff = 5;
		tcp->syn = !!(flags & F_SYN);
		tcp->ack = !!(flags & F_ACK);
		return sizeof(*tcp);
	}
	if (proto == IPPROTO_UDP) {
		struct udphdr *udp = (void *)l4;

		udp->source = htons(40000);
		udp->dest = htons(dport);
		udp->len = htons(sizeof(*udp));
		return sizeof(*udp);
	}
	if (proto == IPPROTO_SCTP) { /* ports, tag, checksum; then a chunk header */
		__u16 ports[2] = {htons(40000), htons(dport)};

		memcpy(l4, ports, sizeof(ports));
		l4[12] = flags;
		return 16;
	}
	if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6)
		l4[0] = flags;
	return 8;
}

/* Ethernet + IPv4 or IPv6 + the L4 header from SRC:sport to DST:DPORT. */
static size_t build(unsigned char *pkt, const char *src, const char *dst, __u8 proto, __u16 dport,
		    __u8 flags)
{
	struct ethhdr *eth = (void *)pkt;
	bool v6 = strchr(src, ':') != NULL;
	unsigned char l4[32] = {};
	size_t off = sizeof(*eth), l4len = build_l4(l4, proto, dport, flags);

	memset(pkt, 0, 128);
	eth->h_proto = htons(v6 ? ETH_P_IPV6 : ETH_P_IP);
	if (v6) {
		struct ipv6hdr *ip6 = (void *)(pkt + off);

		ip6->version = 6;
		ip6->nexthdr = proto;
		ip6->hop_limit = 64;
		ip6->payload_len = htons((__u16)l4len);
		inet_pton(AF_INET6, src, &ip6->saddr);
		inet_pton(AF_INET6, dst, &ip6->daddr);
		off += sizeof(*ip6);
	} else {
		struct iphdr *ip = (void *)(pkt + off);

		ip->version = 4;
		ip->ihl = 5;
		ip->ttl = 64;
		ip->protocol = proto;
		ip->tot_len = htons((__u16)(sizeof(*ip) + l4len));
		inet_pton(AF_INET, src, &ip->saddr);
		inet_pton(AF_INET, dst, &ip->daddr);
		off += sizeof(*ip);
	}
	memcpy(pkt + off, l4, l4len);
	return off + l4len;
}

/* Runs the program on a packet; returns its verdict (1 pass, 0 drop). */
static int verdict(const char *src, const char *dst, __u8 proto, __u16 dport, __u8 flags)
{
	/* Two bytes in, so the IP header after the 14-byte Ethernet one is aligned. */
	unsigned char buf[132] __attribute__((aligned(8))), *pkt = buf + 2;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt);

	opts.data_size_in = (__u32)build(pkt, src, dst, proto, dport, flags);
	assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(skel->progs.shunt_ingress), &opts),
			 0);
	return (int)opts.retval;
}

static void syn_from_allowed_peer_to_allowed_port_passes(void **state)
{
	(void)state;
	assert_int_equal(verdict("10.0.0.2", "10.0.0.1", 6, 8080, F_SYN), 1);
	assert_int_equal(verdict("fd00::2", "fd00::1", 6, 8080, F_SYN), 1);
}

static void syn_to_other_port_or_from_world_is_dropped(void **state)
{
	(void)state;
	assert_int_equal(verdict("10.0.0.2", "10.0.0.1", 6, 9090, F_SYN), 0);
	assert_int_equal(verdict("10.0.0.3", "10.0.0.1", 6, 8080, F_SYN), 0);
	assert_int_equal(verdict("fd00::3", "fd00::1", 6, 8080, F_SYN), 0);
}

/* Segments of established connections were decided at their SYN. */
static void established_segments_pass(void **state)
{
	(void)state;
	assert_int_equal(verdict("10.0.0.3", "10.0.0.1", 6, 8080, F_ACK), 1);
	assert_int_equal(verdict("10.0.0.3", "10.0.0.1", 6, 8080, F_SYN | F_ACK), 1);
}

static void udp_is_decided_per_datagram(void **state)
{
	(void)state;
	assert_int_equal(verdict("10.0.0.2", "10.0.0.1", 17, 53, 0), 1);
	assert_int_equal(verdict("10.0.0.3", "10.0.0.1", 17, 53, 0), 0);
	assert_int_equal(verdict("10.0.0.2", "10.0.0.1", 17, 54, 0), 0);
}

static void loopback_and_own_address_pass(void **state)
{
	(void)state;
	assert_int_equal(verdict("127.0.0.1", "127.0.0.1", 6, 9090, F_SYN), 1);
	assert_int_equal(verdict("10.0.0.1", "10.0.0.1", 6, 9090, F_SYN), 1);
	assert_int_equal(verdict("::1", "::1", 6, 9090, F_SYN), 1);
}

/* The count of verdict KEY summed over every possible CPU (a per-CPU map
 * answers with one value per possible CPU); 0 when it has none. */
static __u64 verdict_count(const struct shunt_verdict_key *key)
{
	int ncpus = libbpf_num_possible_cpus(), i, err;
	struct shunt_verdict_count *counts;
	__u64 sum = 0;

	assert_true(ncpus > 0);
	counts = calloc((size_t)ncpus, sizeof(*counts));
	assert_non_null(counts);
	err = bpf_map_lookup_elem(bpf_map__fd(skel->maps.shunt_verdicts), key, counts);
	if (err)
		assert_int_equal(errno, ENOENT);
	for (i = 0; !err && i < ncpus; i++)
		sum += counts[i].count;
	free(counts);
	return sum;
}

/* An explicit deny beats an allow; a wildcard-port deny covers every port. */
static void deny_rule_is_checked_first(void **state)
{
	int deny = bpf_map__fd(skel->maps.shunt_policy_deny);
	struct shunt_policy_key key = {
	    .gen = 0, .direction = SHUNT_DIR_INGRESS, .subject = WORKLOAD, .peer = CLIENT};
	struct shunt_verdict_key vk = {.src = CLIENT,
				       .dst = WORKLOAD,
				       .port = 8080,
				       .proto = 6,
				       .verdict = SHUNT_VERDICT_DENY,
				       .direction = SHUNT_DIR_INGRESS};
	__u64 denied;

	(void)state;
	denied = verdict_count(&vk);
	add_policy(deny, 0, WORKLOAD, CLIENT, 0, 0, DENY);
	assert_int_equal(verdict("10.0.0.2", "10.0.0.1", 6, 8080, F_SYN), 0);
	assert_int_equal(bpf_map_delete_elem(deny, &key), 0);
	assert_int_equal(verdict("10.0.0.2", "10.0.0.1", 6, 8080, F_SYN), 1);
	/* The denial was counted once for (client, workload, 8080, tcp); the
	 * SYN allowed after it was not counted as denied. */
	assert_int_equal(verdict_count(&vk), denied + 1);
}

/* Entries of the inactive generation change nothing until the flip. */
static void only_the_live_generation_counts(void **state)
{
	struct shunt_subject_key sk = {.gen = 1, .id = WORKLOAD};
	struct shunt_cgroup_ident_key ck = {.gen = 1, .cgroup_id = my_cgroup};
	struct shunt_ident id = {.id = WORKLOAD};
	struct shunt_subject s = {.isolated = SHUNT_ISOLATED_INGRESS};

	(void)state;
	/* Generation 1: isolated, nothing allowed. */
	assert_int_equal(
	    bpf_map_update_elem(bpf_map__fd(skel->maps.shunt_cgroup_idents), &ck, &id, 0), 0);
	assert_int_equal(
	    bpf_map_update_elem(bpf_map__fd(skel->maps.shunt_policy_subjects), &sk, &s, 0), 0);
	assert_int_equal(verdict("10.0.0.2", "10.0.0.1", 6, 8080, F_SYN), 1);
	set_state(1, 2);
	assert_int_equal(verdict("10.0.0.2", "10.0.0.1", 6, 8080, F_SYN), 0);
	set_state(0, 3);
	assert_int_equal(verdict("10.0.0.2", "10.0.0.1", 6, 8080, F_SYN), 1);
}

#define SCTP_INIT	    1
#define SCTP_DATA	    0
#define ICMP_ECHO_REPLY	    0
#define ICMP_UNREACHABLE    3
#define ICMP_ECHO	    8
#define ICMPV6_ECHO	    128
#define ICMPV6_NEIGHBOR_SOL 135

/* SCTP: an INIT (a new association) is decided with its port; the rest of
 * an association passes. */
static void sctp_init_is_decided_the_rest_passes(void **state)
{
	(void)state;
	add_policy(bpf_map__fd(skel->maps.shunt_policy_allow), 0, WORKLOAD, CLIENT, IPPROTO_SCTP,
		   5000, RULE);
	assert_int_equal(verdict("10.0.0.2", "10.0.0.1", IPPROTO_SCTP, 5000, SCTP_INIT), 1);
	assert_int_equal(verdict("fd00::2", "fd00::1", IPPROTO_SCTP, 5000, SCTP_INIT), 1);
	assert_int_equal(verdict("10.0.0.2", "10.0.0.1", IPPROTO_SCTP, 5001, SCTP_INIT), 0);
	assert_int_equal(verdict("10.0.0.3", "10.0.0.1", IPPROTO_SCTP, 5000, SCTP_INIT), 0);
	/* TCP on the SCTP rule's port is no SCTP. */
	assert_int_equal(verdict("10.0.0.2", "10.0.0.1", IPPROTO_TCP, 5000, F_SYN), 0);
	assert_int_equal(verdict("10.0.0.3", "10.0.0.1", IPPROTO_SCTP, 5000, SCTP_DATA), 1);
}

/* ICMP requests and other IP protocols have no port: to an isolated
 * workload only a rule without ports admits them. Replies, errors and
 * neighbour discovery always pass. */
static void portless_protocols_need_a_rule_without_ports(void **state)
{
	int allow = bpf_map__fd(skel->maps.shunt_policy_allow);
	struct shunt_policy_key any = {
	    .gen = 0, .direction = SHUNT_DIR_INGRESS, .subject = WORKLOAD, .peer = CLIENT};

	(void)state;
	assert_int_equal(verdict("10.0.0.2", "10.0.0.1", IPPROTO_ICMP, 0, ICMP_ECHO), 0);
	assert_int_equal(verdict("fd00::2", "fd00::1", IPPROTO_ICMPV6, 0, ICMPV6_ECHO), 0);
	assert_int_equal(verdict("10.0.0.2", "10.0.0.1", 253, 0, 0), 0);
	assert_int_equal(verdict("10.0.0.3", "10.0.0.1", IPPROTO_ICMP, 0, ICMP_ECHO_REPLY), 1);
	assert_int_equal(verdict("10.0.0.3", "10.0.0.1", IPPROTO_ICMP, 0, ICMP_UNREACHABLE), 1);
	assert_int_equal(verdict("fd00::3", "fd00::1", IPPROTO_ICMPV6, 0, ICMPV6_NEIGHBOR_SOL), 1);
	add_policy(allow, 0, WORKLOAD, CLIENT, 0, 0, RULE);
	assert_int_equal(verdict("10.0.0.2", "10.0.0.1", IPPROTO_ICMP, 0, ICMP_ECHO), 1);
	assert_int_equal(verdict("fd00::2", "fd00::1", IPPROTO_ICMPV6, 0, ICMPV6_ECHO), 1);
	assert_int_equal(verdict("10.0.0.2", "10.0.0.1", 253, 0, 0), 1);
	assert_int_equal(verdict("10.0.0.3", "10.0.0.1", IPPROTO_ICMP, 0, ICMP_ECHO), 0);
	assert_int_equal(bpf_map_delete_elem(allow, &any), 0);
}

/* shunt_policy_query answers with the hooks' own decision. */
static void policy_query_answers_like_the_hook(void **state)
{
	int fd = bpf_program__fd(skel->progs.shunt_policy_query);
	struct shunt_policy_query q = {.direction = SHUNT_DIR_INGRESS,
				       .proto = IPPROTO_TCP,
				       .port = 8080,
				       .subject = WORKLOAD,
				       .peer = CLIENT};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &q, .ctx_size_in = sizeof(q));

	(void)state;
	assert_int_equal(bpf_prog_test_run_opts(fd, &opts), 0);
	assert_int_equal(opts.retval, 0);
	assert_int_equal(q.verdict, SHUNT_VERDICT_ALLOW);
	assert_int_equal(q.rule, RULE);
	assert_int_equal(q.isolated, 1);
	assert_int_equal(q.version, 3);
	q.port = 9090;
	assert_int_equal(bpf_prog_test_run_opts(fd, &opts), 0);
	assert_int_equal(q.verdict, SHUNT_VERDICT_DENY);
	assert_int_equal(q.rule, 0);
	assert_int_equal(verdict("10.0.0.2", "10.0.0.1", IPPROTO_TCP, 9090, F_SYN), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(syn_from_allowed_peer_to_allowed_port_passes),
	    cmocka_unit_test(syn_to_other_port_or_from_world_is_dropped),
	    cmocka_unit_test(established_segments_pass),
	    cmocka_unit_test(udp_is_decided_per_datagram),
	    cmocka_unit_test(loopback_and_own_address_pass),
	    cmocka_unit_test(deny_rule_is_checked_first),
	    cmocka_unit_test(only_the_live_generation_counts),
	    cmocka_unit_test(sctp_init_is_decided_the_rest_passes),
	    cmocka_unit_test(portless_protocols_need_a_rule_without_ports),
	    cmocka_unit_test(policy_query_answers_like_the_hook),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "needs root (BPF_PROG_TEST_RUN)\n");
		return 77;
	}
	return cmocka_run_group_tests_name("bpf_ingress", tests, setup, teardown);
}
