// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * shunt flows [--follow] [--denied]: flow events from the kernel's ring
 * buffer (new connections and denials). One reader at a time consumes them;
 * without --follow it prints what is queued and exits.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>

#include "common/addr.h"
#include "cli.h"
#include "common/json.h"
#include "common/log.h"
#include "control/mesh_apply.h"
#include "mesh_read.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

struct flows_ctx {
	const struct shunt_cli *cli;
	bool denied_only;
	int names;
	__u32 gen;
	unsigned long printed;
};

static int on_event(void *ctx, void *data, size_t size)
{
	const struct shunt_flow_event *ev = data;
	struct flows_ctx *c = ctx;
	char src[SHUNT_NAME_VALUE_MAX], dst[SHUNT_NAME_VALUE_MAX], rule[SHUNT_NAME_VALUE_MAX];
	char sa[SHUNT_ADDR_STRLEN], da[SHUNT_ADDR_STRLEN];
	const char *where;

	if (size < sizeof(*ev))
		return 0;
	if (c->denied_only && ev->verdict == SHUNT_VERDICT_ALLOW)
		return 0;
	mesh_name(c->names, c->gen, SHUNT_NAME_IDENT, ev->src_id, src, sizeof(src));
	mesh_name(c->names, c->gen, SHUNT_NAME_IDENT, ev->dst_id, dst, sizeof(dst));
	mesh_name(c->names, c->gen, SHUNT_NAME_RULE, ev->rule, rule, sizeof(rule));
	if (!ev->src_id)
		snprintf(src, sizeof(src), "-");
	shunt_addr_format(ev->src_addr, sa, sizeof(sa));
	shunt_addr_format(ev->dst_addr, da, sizeof(da));
	where = ev->kind == SHUNT_FLOW_INGRESS	   ? "ingress"
		: ev->kind == SHUNT_FLOW_PROXY_IN  ? "proxy-in"
		: ev->kind == SHUNT_FLOW_PROXY_OUT ? "proxy-out"
						   : "connect";
	if (c->cli->json) {
		struct shunt_json j;

		json_init(&j, stdout);
		json_object_begin(&j);
		json_kv_u64(&j, "ts_ns", ev->ts_ns);
		json_kv_string(&j, "event", where);
		json_kv_string(&j, "source", src);
		json_kv_string(&j, "destination", dst);
		json_kv_string(&j, "source_address", ev->kind != SHUNT_FLOW_CONNECT ? sa : "");
		json_kv_u64(&j, "source_port", ev->src_port);
		json_kv_string(&j, "destination_address", da);
		json_kv_u64(&j, "destination_port", ev->dst_port);
		json_kv_string(&j, "protocol", mesh_proto_name(ev->proto));
		json_kv_string(&j, "direction",
			       ev->direction == SHUNT_DIR_INGRESS ? "ingress" : "egress");
		json_kv_string(&j, "verdict", mesh_verdict_name(ev->verdict));
		json_kv_string(&j, "rule", rule);
		json_kv_u64(&j, "service", ev->service);
		json_object_end(&j);
		putchar('\n');
	} else {
		printf("%-9s %-4s %s -> %s [%s]:%u  %s (%s policy, rule %s)\n", where,
		       mesh_proto_name(ev->proto), src, dst, da, ev->dst_port,
		       mesh_verdict_name(ev->verdict),
		       ev->direction == SHUNT_DIR_INGRESS ? "ingress" : "egress", rule);
	}
	fflush(stdout);
	c->printed++;
	return 0;
}

int cmd_flows(struct shunt_cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
	    {"follow", no_argument, NULL, 'f'},
	    {"denied", no_argument, NULL, 'd'},
	    {},
	};
	struct flows_ctx c = {.cli = cli, .names = -1};
	struct ring_buffer *rb = NULL;
	bool follow = false;
	__u64 version;
	int opt, fd, err;

	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case 'f':
			follow = true;
			break;
		case 'd':
			c.denied_only = true;
			break;
		default:
			fprintf(stderr, "usage: shunt flows [--follow] [--denied] [--json]\n");
			return -EINVAL;
		}
	}
	if (mesh_state_read(&cli->pins, &c.gen, &version)) {
		pr_err("the datapath is not loaded under %s", cli->pins.root);
		return -ENOENT;
	}
	fd = shunt_pinned_map_fd(&cli->pins, "shunt_flows");
	if (fd < 0)
		return fd;
	c.names = shunt_pinned_map_fd(&cli->pins, "shunt_names");
	rb = ring_buffer__new(fd, on_event, &c, NULL);
	if (!rb) {
		err = -errno;
		pr_err("cannot read the flow ring buffer: %s", strerror(-err));
		goto out;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	setvbuf(stdout, NULL, _IOLBF, 0);
	err = 0;
	if (!follow) {
		err = ring_buffer__consume(rb);
		err = err < 0 ? err : 0;
		goto out;
	}
	while (!stop) {
		/* Names can change with the config; follow the live generation. */
		mesh_state_read(&cli->pins, &c.gen, &version);
		err = ring_buffer__poll(rb, 200);
		if (err == -EINTR) {
			err = 0;
			break;
		}
		if (err < 0)
			break;
		err = 0;
	}
out:
	ring_buffer__free(rb);
	if (c.names >= 0)
		close(c.names);
	close(fd);
	return err;
}
