// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "datapath_metrics.h"

#include <stdio.h>
#include <unistd.h>

#include "counters.h"
#include "datapath_istio.h"
#include "mesh_read.h"

#define C METRIC_COUNTER

/* NAME{LABEL="VALUE"} V, for the one-label families below. */
static void emit1(struct metrics_writer *w, const char *name, const char *help, const char *label,
		  const char *value, __u64 v)
{
	metrics_emit(w, C, name, help, label ? (const char *[]){label, NULL} : NULL,
		     label ? (const char *[]){value} : NULL, (double)v);
}

static void collect_bypass(struct metrics_writer *w, const struct shunt_counters *bc)
{
	size_t i;

	emit1(w, "shunt_bypass_messages_total", "Sends of mesh sockets, by the path they took.",
	      "path", "bypass", bc->msgs_redirected);
	emit1(w, "shunt_bypass_messages_total", NULL, "path", "tcp", bc->msgs_tcp);
	emit1(w, "shunt_bypass_bytes_total", "Bytes sent by mesh sockets, by path.", "path",
	      "bypass", bc->bytes_redirected);
	emit1(w, "shunt_bypass_bytes_total", NULL, "path", "tcp", bc->bytes_tcp);
	emit1(w, "shunt_bypass_sockets_added_total", NULL, NULL, NULL, bc->socks_added);
	emit1(w, "shunt_bypass_sockets_left_total", NULL, NULL, NULL, bc->socks_left);
	emit1(w, "shunt_local_congestion_total", NULL, "result", "set", bc->cc_set);
	emit1(w, "shunt_local_congestion_total", NULL, "result", "refused", bc->cc_failed);
	for (i = 0; i < SHUNT_REASON_MAX; i++)
		emit1(w, "shunt_bypass_handbacks_total", "Switches from the bypass to TCP.",
		      "reason", shunt_reason_names[i], shunt_reason_slots(&bc->handbacks)[i]);
}

static void collect_mesh(struct metrics_writer *w, const struct shunt_mesh_counters *mc)
{
	static const char *const help = "Connections and datagrams denied by policy.";

	emit1(w, "shunt_connects_total", NULL, NULL, NULL, mc->connects);
	emit1(w, "shunt_service_translations_total", NULL, NULL, NULL, mc->translated);
	emit1(w, "shunt_service_no_backend_total", NULL, NULL, NULL, mc->no_backend);
	emit1(w, "shunt_policy_denied_total", help, "where", "egress", mc->egress_denied);
	emit1(w, "shunt_policy_denied_total", help, "where", "ingress_at_connect",
	      mc->ingress_denied_early);
	emit1(w, "shunt_policy_denied_total", help, "where", "ingress", mc->ingress_denied);
	emit1(w, "shunt_flow_events_lost_total", NULL, NULL, NULL, mc->flows_lost);
}

struct verdict_ctx {
	struct metrics_writer *w;
	int names_fd;
	__u32 gen;
};

static void emit_verdict(const struct shunt_verdict_key *k, __u64 count, void *ctx)
{
	static const char *const labels[] = {"source",	  "destination", "port", "protocol",
					     "direction", "verdict",	 NULL};
	struct verdict_ctx *v = ctx;
	char src[SHUNT_NAME_VALUE_MAX], dst[SHUNT_NAME_VALUE_MAX], port[8];

	mesh_name(v->names_fd, v->gen, SHUNT_NAME_IDENT, k->src, src, sizeof(src));
	mesh_name(v->names_fd, v->gen, SHUNT_NAME_IDENT, k->dst, dst, sizeof(dst));
	snprintf(port, sizeof(port), "%u", k->port);
	metrics_emit(v->w, C, "shunt_policy_verdicts_total",
		     "Policy decisions (new connections and UDP datagrams).", labels,
		     (const char *[]){k->src ? src : "-", k->dst ? dst : "-", port,
				      mesh_proto_name(k->proto),
				      k->direction == SHUNT_DIR_INGRESS ? "ingress" : "egress",
				      mesh_verdict_name(k->verdict)},
		     (double)count);
}

static void collect(struct metrics_writer *w, void *ctx)
{
	struct datapath_metrics *dm = ctx;
	const struct shunt_pins *pins = dm->pins;
	struct verdict_ctx v = {.w = w, .names_fd = -1};
	struct shunt_mesh_counters mc;
	struct shunt_counters bc;
	__u64 version;

	if (!shunt_counters_read(pins, &bc))
		collect_bypass(w, &bc);
	if (!mesh_counters_read(pins, &mc))
		collect_mesh(w, &mc);
	if (dm->istio)
		datapath_istio_collect(w, pins, dm->istio);
	if (mesh_state_read(pins, &v.gen, &version))
		return;
	v.names_fd = shunt_pinned_map_fd(pins, "shunt_names");
	mesh_verdicts_each(pins, emit_verdict, &v);
	if (v.names_fd >= 0)
		close(v.names_fd);
}

int datapath_metrics_register(struct metrics_registry *r, struct datapath_metrics *dm)
{
	return metrics_collector(r, collect, dm);
}
