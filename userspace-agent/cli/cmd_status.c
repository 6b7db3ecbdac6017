// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* shunt status / shunt conns: read everything from the pins, never from a daemon. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "common/addr.h"
#include "bypass_attach.h"
#include "cli.h"
#include "control/mesh_apply.h"
#include "mesh_loader.h"
#include "mesh_read.h"
#include "counters.h"
#include "datapath.h"
#include "kernel_features.h"
#include "common/json.h"
#include "common/log.h"
#include "mounts.h"
#include "common/netns.h"
#include "socks_report.h"
#include "status_coverage.h"
#include "status_features.h"

struct link_view {
	const char *name;
	bool present;
	bool expected;	   /* the recorded features call for it */
	bool map_attached; /* sk_msg with bpf_prog_attach: no link */
	__u32 link_id, prog_id, type;
	char target[PATH_MAX];
};

/* Everything `shunt status` shows, read from the pins. */
struct status_view {
	struct link_view links[32];
	size_t nlinks;
	struct shunt_features features;
	int features_err;
	struct shunt_config cfg;
	int cfg_err;
	struct shunt_counters counters;
	struct shunt_mesh_counters mesh;
	__u64 version;
	long workloads, socks, endpoints;
	struct coverage_view coverage;
};

static __u64 lookup_cgroup_id;
static char lookup_cgroup_path[PATH_MAX];

static int match_cgroup(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	__u64 id;

	(void)sb;
	(void)ftw;
	if (flag != FTW_D)
		return 0;
	if (!shunt_cgroup_id(path, &id) && id == lookup_cgroup_id) {
		snprintf(lookup_cgroup_path, sizeof(lookup_cgroup_path), "%s", path);
		return 1;
	}
	return 0;
}

/* Finds the path of a cgroup v2 id for people; falls back to the number. */
static void cgroup_path_of(__u64 id, char *buf, size_t len)
{
	char root[PATH_MAX];

	snprintf(buf, len, "cgroup id %llu", (unsigned long long)id);
	if (shunt_cgroup2_root(root, sizeof(root)))
		return;
	lookup_cgroup_id = id;
	lookup_cgroup_path[0] = '\0';
	if (nftw(root, match_cgroup, 16, FTW_PHYS | FTW_MOUNT) == 1)
		snprintf(buf, len, "%s", lookup_cgroup_path);
}

static const char *link_type_name(__u32 type)
{
	switch (type) {
	case BPF_LINK_TYPE_CGROUP:
		return "cgroup";
	case BPF_LINK_TYPE_RAW_TRACEPOINT:
		return "raw_tp";
	case BPF_LINK_TYPE_TRACING:
		return "fexit";
	case 14: /* BPF_LINK_TYPE_SOCKMAP, newer than these headers */
		return "sockmap";
	default:
		return "link";
	}
}

static void read_link(const struct shunt_pins *pins, struct link_view *view)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	char path[PATH_MAX], tp_name[128] = "";
	int fd;

	view->present = false;
	shunt_pin_path(path, sizeof(path), pins->links, view->name);
	fd = bpf_obj_get(path);
	if (fd < 0) {
		/* sk_msg where the kernel has no sockmap links: on the map. */
		for (size_t i = 0; i < shunt_bypass_attachment_count; i++)
			if (!strcmp(shunt_bypass_attachments[i].name, view->name) &&
			    shunt_bypass_attached(pins, &shunt_bypass_attachments[i],
						  &view->prog_id)) {
				view->present = view->map_attached = true;
				snprintf(view->target, sizeof(view->target), "shunt_socks");
			}
		return;
	}
	info.raw_tracepoint.tp_name = (__u64)(unsigned long)tp_name;
	info.raw_tracepoint.tp_name_len = sizeof(tp_name);
	if (!bpf_obj_get_info_by_fd(fd, &info, &len)) {
		view->present = true;
		view->link_id = info.id;
		view->prog_id = info.prog_id;
		view->type = info.type;
		if (info.type == BPF_LINK_TYPE_CGROUP)
			cgroup_path_of(info.cgroup.cgroup_id, view->target, sizeof(view->target));
		else if (info.type == BPF_LINK_TYPE_RAW_TRACEPOINT)
			snprintf(view->target, sizeof(view->target), "%s", tp_name);
		else if (info.type == BPF_LINK_TYPE_TRACING)
			snprintf(view->target, sizeof(view->target), "%s",
				 strstr(view->name, "fx6") ? "inet6_recvmsg" : "inet_recvmsg");
		else
			snprintf(view->target, sizeof(view->target), "shunt_socks");
	}
	close(fd);
}

static long count_entries(const struct shunt_pins *pins, const char *map, size_t key_size)
{
	char key[64], next[64];
	long n = 0;
	int fd;

	if (key_size > sizeof(key))
		return -EINVAL;
	fd = shunt_pinned_map_fd(pins, map);
	if (fd < 0)
		return fd;
	if (!bpf_map_get_next_key(fd, NULL, next)) {
		do {
			n++;
			memcpy(key, next, key_size);
		} while (!bpf_map_get_next_key(fd, key, next));
	}
	close(fd);
	return n;
}

static void print_reasons(const char *title, const struct shunt_reason_counts *r)
{
	const __u64 *slot = shunt_reason_slots(r);
	int i, any = 0;

	printf("  %s:", title);
	for (i = 0; i < SHUNT_REASON_MAX; i++) {
		if (!slot[i])
			continue;
		printf("%s %s=%llu", any ? "," : "", shunt_reason_names[i],
		       (unsigned long long)slot[i]);
		any = 1;
	}
	printf("%s\n", any ? "" : " none");
}

static void json_reasons(struct shunt_json *j, const char *key, const struct shunt_reason_counts *r)
{
	const __u64 *slot = shunt_reason_slots(r);
	int i;

	json_key(j, key);
	json_object_begin(j);
	for (i = 0; i < SHUNT_REASON_MAX; i++)
		json_kv_u64(j, shunt_reason_names[i], slot[i]);
	json_object_end(j);
}

static void print_status_text(const struct shunt_cli *cli, const struct status_view *v)
{
	const struct link_view *links = v->links;
	const struct shunt_config *cfg = &v->cfg;
	const struct shunt_counters *c = &v->counters;
	size_t nlinks = v->nlinks;
	const __u64 *skip = shunt_skip_slots(&c->skipped);
	size_t i;
	int any = 0;

	printf("shunt datapath: loaded, pinned under %s\n", cli->pins.root);
	for (i = 0; i < nlinks; i++) {
		if (!links[i].present) {
			printf("  %-20s %s\n", links[i].name,
			       links[i].expected ? "NOT ATTACHED" : "not attached (see features)");
			continue;
		}
		if (links[i].map_attached) {
			printf("  %-20s %-8s %-40s prog %u, no link (bpf_prog_attach)\n",
			       links[i].name, "sk_msg", links[i].target, links[i].prog_id);
			continue;
		}
		printf("  %-20s %-8s %-40s prog %u, link %u\n", links[i].name,
		       link_type_name(links[i].type), links[i].target, links[i].prog_id,
		       links[i].link_id);
	}
	if (v->features_err)
		printf("kernel features: not recorded (%s; a datapath loaded by an older "
		       "shunt?)\n",
		       strerror(-v->features_err));
	else
		features_print_text(stdout, &v->features);
	if (v->cfg_err)
		printf("config: unreadable (%s)\n", strerror(-v->cfg_err));
	else
		printf("config: bypass %s, rx_guard %s, small_write_max %u, small_streak %u, "
		       "max_backlog %u, local_congestion %s\n",
		       cfg->bypass_enabled ? "on" : "OFF", cfg->rx_guard ? "on" : "off",
		       cfg->small_write_max, cfg->small_streak, cfg->max_backlog,
		       cfg->local_congestion[0] ? cfg->local_congestion : "(node default)");
	printf("maps: %ld workloads, %ld sockets in the sockhash, %ld endpoints\n", v->workloads,
	       v->socks, v->endpoints);
	printf("counters:\n");
	printf("  sockets added %llu, closed %llu\n", (unsigned long long)c->socks_added,
	       (unsigned long long)c->socks_closed);
	printf("  connections bypassed %llu (resumed after hand-back %llu, trusted from their "
	       "rx profile %llu)\n",
	       (unsigned long long)c->conns_bypassed, (unsigned long long)c->resumed,
	       (unsigned long long)c->socks_trusted);
	printf("  bypass: %llu messages, %llu bytes\n", (unsigned long long)c->msgs_redirected,
	       (unsigned long long)c->bytes_redirected);
	printf("  tcp:    %llu messages, %llu bytes\n", (unsigned long long)c->msgs_tcp,
	       (unsigned long long)c->bytes_tcp);
	printf("  sockets that left the bypass for good (plain TCP): %llu\n",
	       (unsigned long long)c->socks_left);
	printf("  same-node connections given local_congestion: %llu (refused by the kernel "
	       "%llu)\n",
	       (unsigned long long)c->cc_set, (unsigned long long)c->cc_failed);
	printf("  blocking readers in the bypass: %llu; half-closed and left at shutdown %llu "
	       "(later: %llu); early EAGAINs: %llu\n",
	       (unsigned long long)c->rx_blocking, (unsigned long long)c->halfclose_left,
	       (unsigned long long)c->halfclose_late, (unsigned long long)c->rx_early_eagain);
	print_reasons("messages kept on TCP", &c->tcp_msgs);
	print_reasons("connections handed back to TCP", &c->handbacks);
	printf("  connections never candidates:");
	for (i = 0; i < SHUNT_SKIP_MAX; i++) {
		if (!skip[i])
			continue;
		printf("%s %s=%llu", any ? "," : "", shunt_skip_names[i],
		       (unsigned long long)skip[i]);
		any = 1;
	}
	printf("%s\n", any ? "" : " none");
}

static void json_links(struct shunt_json *j, const struct link_view *links, size_t nlinks)
{
	size_t i;

	json_key(j, "links");
	json_array_begin(j);
	for (i = 0; i < nlinks; i++) {
		json_object_begin(j);
		json_kv_string(j, "name", links[i].name);
		json_kv_bool(j, "attached", links[i].present);
		json_kv_bool(j, "expected", links[i].expected);
		if (links[i].present && links[i].map_attached) {
			json_kv_string(j, "type", "sk_msg");
			json_kv_string(j, "mode", "prog_attach");
			json_kv_string(j, "target", links[i].target);
			json_kv_u64(j, "prog_id", links[i].prog_id);
		} else if (links[i].present) {
			json_kv_string(j, "mode", "link");
			json_kv_string(j, "type", link_type_name(links[i].type));
			json_kv_string(j, "target", links[i].target);
			json_kv_u64(j, "prog_id", links[i].prog_id);
			json_kv_u64(j, "link_id", links[i].link_id);
		}
		json_object_end(j);
	}
	json_array_end(j);
}

static void json_bypass_counters(struct shunt_json *j, const struct shunt_counters *c)
{
	const __u64 *skip = shunt_skip_slots(&c->skipped);
	size_t i;

	json_key(j, "counters");
	json_object_begin(j);
	json_kv_u64(j, "socks_added", c->socks_added);
	json_kv_u64(j, "socks_closed", c->socks_closed);
	json_kv_u64(j, "conns_bypassed", c->conns_bypassed);
	json_kv_u64(j, "resumed", c->resumed);
	json_kv_u64(j, "socks_trusted", c->socks_trusted);
	json_kv_u64(j, "rx_blocking", c->rx_blocking);
	json_kv_u64(j, "rx_early_eagain", c->rx_early_eagain);
	json_kv_u64(j, "halfclose_left", c->halfclose_left);
	json_kv_u64(j, "halfclose_late", c->halfclose_late);
	json_kv_u64(j, "socks_left", c->socks_left);
	json_kv_u64(j, "cc_set", c->cc_set);
	json_kv_u64(j, "cc_failed", c->cc_failed);
	json_kv_u64(j, "msgs_redirected", c->msgs_redirected);
	json_kv_u64(j, "bytes_redirected", c->bytes_redirected);
	json_kv_u64(j, "msgs_tcp", c->msgs_tcp);
	json_kv_u64(j, "bytes_tcp", c->bytes_tcp);
	json_reasons(j, "tcp_msgs", &c->tcp_msgs);
	json_reasons(j, "handbacks", &c->handbacks);
	json_key(j, "skipped");
	json_object_begin(j);
	for (i = 0; i < SHUNT_SKIP_MAX; i++)
		json_kv_u64(j, shunt_skip_names[i], skip[i]);
	json_object_end(j);
	json_object_end(j);
}

static void json_mesh_counters(struct shunt_json *j, const struct status_view *v)
{
	const struct shunt_mesh_counters *mesh = &v->mesh;

	json_key(j, "mesh");
	json_object_begin(j);
	json_kv_u64(j, "config_version", v->version);
	json_kv_u64(j, "connects", mesh->connects);
	json_kv_u64(j, "translated", mesh->translated);
	json_kv_u64(j, "no_backend", mesh->no_backend);
	json_kv_u64(j, "egress_denied", mesh->egress_denied);
	json_kv_u64(j, "ingress_denied_early", mesh->ingress_denied_early);
	json_kv_u64(j, "ingress_packets", mesh->ingress_packets);
	json_kv_u64(j, "ingress_denied", mesh->ingress_denied);
	json_kv_u64(j, "reverse_translated", mesh->reverse_translated);
	json_kv_u64(j, "udp_replies", mesh->udp_replies);
	json_kv_u64(j, "proxied", mesh->proxied);
	json_kv_u64(j, "l7_proxied", mesh->l7_proxied);
	json_kv_u64(j, "strict_dropped", mesh->strict_dropped);
	json_kv_u64(j, "flows_lost", mesh->flows_lost);
	json_object_end(j);
}

static void print_status_json(const struct shunt_cli *cli, const struct status_view *v)
{
	const struct shunt_config *cfg = &v->cfg;
	struct shunt_json j;

	json_init(&j, stdout);
	json_object_begin(&j);
	json_kv_bool(&j, "loaded", true);
	json_kv_string(&j, "pin_root", cli->pins.root);
	json_links(&j, v->links, v->nlinks);
	if (!v->features_err)
		features_print_json(&j, &v->features);
	if (!v->cfg_err) {
		json_key(&j, "config");
		json_object_begin(&j);
		json_kv_bool(&j, "bypass_enabled", cfg->bypass_enabled);
		json_kv_bool(&j, "rx_guard", cfg->rx_guard);
		json_kv_u64(&j, "small_write_max", cfg->small_write_max);
		json_kv_u64(&j, "small_streak", cfg->small_streak);
		json_kv_u64(&j, "max_backlog", cfg->max_backlog);
		json_kv_u64(&j, "small_pass_bytes", cfg->small_pass_bytes);
		json_kv_u64(&j, "small_leave_bytes", cfg->small_leave_bytes);
		json_kv_string(&j, "local_congestion", cfg->local_congestion);
		json_object_end(&j);
	}
	json_key(&j, "maps");
	json_object_begin(&j);
	json_kv_u64(&j, "workloads", v->workloads < 0 ? 0 : (uint64_t)v->workloads);
	json_kv_u64(&j, "socks", v->socks < 0 ? 0 : (uint64_t)v->socks);
	json_kv_u64(&j, "endpoints", v->endpoints < 0 ? 0 : (uint64_t)v->endpoints);
	json_object_end(&j);
	json_bypass_counters(&j, &v->counters);
	coverage_print_json(&j, &v->coverage);
	json_mesh_counters(&j, v);
	json_object_end(&j);
}

/* Links of the bypass (those the features call for, and the rest) and of the mesh. */
static void read_links(const struct shunt_pins *pins, struct status_view *v)
{
	const size_t cap = sizeof(v->links) / sizeof(v->links[0]);
	size_t i;

	v->nlinks = 0;
	for (i = 0; i < shunt_bypass_attachment_count && v->nlinks < cap; i++) {
		struct link_view *l = &v->links[v->nlinks++];

		memset(l, 0, sizeof(*l));
		l->name = shunt_bypass_attachments[i].name;
		l->expected = shunt_attachment_expected(&shunt_bypass_attachments[i], &v->features);
		read_link(pins, l);
	}
	for (i = 0; i < shunt_mesh_link_count && v->nlinks < cap; i++) {
		struct link_view *l = &v->links[v->nlinks++];

		memset(l, 0, sizeof(*l));
		l->name = shunt_mesh_link_names[i];
		l->expected = true;
		read_link(pins, l);
	}
}

static void print_mesh_text(const struct status_view *v)
{
	const struct shunt_mesh_counters *m = &v->mesh;

	printf("services and policy: config version %llu\n"
	       "  connects/sends seen %llu, to a service %llu, refused without backends %llu\n"
	       "  denied: egress %llu, peer's ingress at connect %llu, ingress packets %llu of "
	       "%llu checked; UDP replies %llu; flow events lost %llu\n"
	       "  sent to the node proxy (cross-node, mTLS): %llu; to its L7 side: %llu\n",
	       (unsigned long long)v->version, (unsigned long long)m->connects,
	       (unsigned long long)m->translated, (unsigned long long)m->no_backend,
	       (unsigned long long)m->egress_denied, (unsigned long long)m->ingress_denied_early,
	       (unsigned long long)m->ingress_denied, (unsigned long long)m->ingress_packets,
	       (unsigned long long)m->udp_replies, (unsigned long long)m->flows_lost,
	       (unsigned long long)m->proxied, (unsigned long long)m->l7_proxied);
}

int cmd_status(struct shunt_cli *cli, int argc, char **argv)
{
	static struct status_view v;
	__u32 gen = 0;
	int err;

	(void)argv;
	if (argc > 1) {
		pr_err("usage: shunt [--json] status");
		return -EINVAL;
	}
	if (!shunt_datapath_present(&cli->pins)) {
		if (cli->json)
			printf("{\"loaded\":false,\"pin_root\":\"%s\"}\n", cli->pins.root);
		else
			printf("shunt datapath: not loaded (nothing under %s)\n", cli->pins.root);
		return 0;
	}
	memset(&v, 0, sizeof(v));
	v.features_err = shunt_features_read(&cli->pins, &v.features);
	read_links(&cli->pins, &v);
	mesh_state_read(&cli->pins, &gen, &v.version);
	mesh_counters_read(&cli->pins, &v.mesh);
	v.cfg_err = shunt_config_read(&cli->pins, &v.cfg);
	err = shunt_counters_read(&cli->pins, &v.counters);
	if (err)
		pr_warn("cannot read counters: %s", strerror(-err));
	v.workloads =
	    count_entries(&cli->pins, "shunt_workloads", sizeof(struct shunt_workload_key));
	v.socks = count_entries(&cli->pins, "shunt_socks", sizeof(struct shunt_sock_key));
	v.endpoints = count_entries(&cli->pins, "shunt_endpoints", sizeof(struct shunt_sock_key));
	v.coverage.bytes_bypass = v.counters.bytes_redirected;
	v.coverage.bytes_tcp = v.counters.bytes_tcp;
	v.coverage.err = shunt_coverage_read(&cli->pins, &v.coverage.rows, &v.coverage.nrows);

	if (cli->json) {
		print_status_json(cli, &v);
	} else {
		print_status_text(cli, &v);
		coverage_print_text(stdout, &v.coverage);
		print_mesh_text(&v);
	}
	free(v.coverage.rows);
	return 0;
}

static const char *tcp_state_name(__u32 state)
{
	static const char *const names[] = {
	    "?",	 "ESTABLISHED", "SYN_SENT",   "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
	    "TIME_WAIT", "CLOSE",	"CLOSE_WAIT", "LAST_ACK", "LISTEN",    "CLOSING",
	};

	return state < sizeof(names) / sizeof(names[0]) ? names[state] : "?";
}

int cmd_conns(struct shunt_cli *cli, int argc, char **argv)
{
	struct shunt_sock_report *reports;
	char local[SHUNT_ADDR_STRLEN], remote[SHUNT_ADDR_STRLEN];
	enum shunt_socks_source source;
	struct shunt_json j;
	size_t n, i;
	int err;

	(void)argv;
	if (argc > 1) {
		pr_err("usage: shunt [--json] conns");
		return -EINVAL;
	}
	err = shunt_socks_report(&cli->pins, &reports, &n, &source);
	if (err) {
		pr_err("cannot list sockets (is the datapath loaded?): %s", strerror(-err));
		return err;
	}
	if (cli->json) {
		json_init(&j, stdout);
		json_array_begin(&j);
	} else {
		printf("sockets in the bypass, read %s\n",
		       source == SHUNT_SOCKS_FROM_ITERATOR
			   ? "by the sockhash iterator"
			   : "from the maps (no sockhash iterator on this kernel; see status)");
		printf("%-46s %-46s %-12s %-8s %s\n", "LOCAL", "REMOTE", "STATE", "SENDS",
		       "UNREAD-REDIRECTED");
	}
	for (i = 0; i < n; i++) {
		const struct shunt_sock_report *r = &reports[i];
		char l[80], rem[80];

		shunt_addr_format(r->key.local_addr, local, sizeof(local));
		shunt_addr_format(r->key.remote_addr, remote, sizeof(remote));
		if (cli->json) {
			json_object_begin(&j);
			json_kv_string(&j, "local", local);
			json_kv_u64(&j, "local_port", r->key.local_port);
			json_kv_string(&j, "remote", remote);
			json_kv_u64(&j, "remote_port", r->key.remote_port);
			json_kv_u64(&j, "netns_cookie", r->key.netns_cookie);
			json_kv_string(&j, "state", tcp_state_name(r->tcp_state));
			json_kv_bool(&j, "bypassing", r->bypassing);
			json_kv_bool(&j, "ever_bypassed", r->ever_bypassed);
			json_kv_u64(&j, "pending", r->pending);
			json_kv_string(&j, "source", shunt_socks_source_name(source));
			json_object_end(&j);
			continue;
		}
		snprintf(l, sizeof(l), "%s:%u", local, r->key.local_port);
		snprintf(rem, sizeof(rem), "%s:%u", remote, r->key.remote_port);
		printf("%-46s %-46s %-12s %-8s %u\n", l, rem, tcp_state_name(r->tcp_state),
		       r->bypassing ? "bypass" : "tcp", r->pending);
	}
	if (cli->json)
		json_array_end(&j);
	free(reports);
	return 0;
}
