/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What the services/policy hooks record (mesh.bpf.c): counters, verdict
 * counts and flow events, and the UDP exchanges policy allowed, whose
 * replies then pass without a decision. BPF-only.
 */
#ifndef SHUNT_MESH_FLOWS_BPF_H
#define SHUNT_MESH_FLOWS_BPF_H

#include "mesh_policy.bpf.h"

static __always_inline struct shunt_mesh_counters *counters(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&shunt_mesh_counters, &zero);
}

static __always_inline void count_verdict(const struct flow *f, __u8 verdict)
{
	struct shunt_verdict_key key = {
	    .src = f->src_id,
	    .dst = f->dst_id,
	    .port = f->dport,
	    .proto = f->proto,
	    .verdict = verdict,
	    .direction = f->direction,
	};
	struct shunt_verdict_count one = {.count = 1}, *c;

	c = bpf_map_lookup_elem(&shunt_verdicts, &key);
	if (c)
		c->count++;
	else
		bpf_map_update_elem(&shunt_verdicts, &key, &one, BPF_NOEXIST);
}

static __always_inline void emit_flow(const struct shunt_mesh_state *st, const struct flow *f,
				      __u8 verdict, __u8 kind)
{
	struct shunt_mesh_counters *c;
	struct shunt_flow_event *ev;

	if (!st->flow_events)
		return;
	ev = bpf_ringbuf_reserve(&shunt_flows, sizeof(*ev), 0);
	if (!ev) {
		c = counters();
		if (c)
			c->flows_lost++;
		return;
	}
	ev->ts_ns = bpf_ktime_get_ns();
	ev->src_id = f->src_id;
	ev->dst_id = f->dst_id;
	__builtin_memcpy(ev->src_addr, f->src, 16);
	__builtin_memcpy(ev->dst_addr, f->dst, 16);
	ev->src_port = f->sport;
	ev->dst_port = f->dport;
	ev->proto = f->proto;
	ev->verdict = verdict;
	ev->direction = f->direction;
	ev->kind = kind;
	ev->rule = f->rule;
	ev->service = f->service;
	bpf_ringbuf_submit(ev, 0);
}

static __always_inline bool udp_flow_known(const struct shunt_mesh_state *st, __u32 local_id,
					   __u16 local_port, const __u8 remote[16],
					   __u16 remote_port)
{
	struct shunt_udp_flow_key key = {
	    .local_id = local_id, .local_port = local_port, .remote_port = remote_port};
	struct shunt_udp_flow *fl;
	__u64 now = bpf_ktime_get_ns();
	int i;

	__builtin_memcpy(key.remote_addr, remote, 16);
#pragma unroll
	for (i = 0; i < 2; i++) {
		if (i == 1)
			key.local_port = 0; /* a connected socket's entry */
		fl = bpf_map_lookup_elem(&shunt_udp_flows, &key);
		if (fl && fl->version == st->version &&
		    now - fl->last_ns < SHUNT_UDP_FLOW_IDLE_NS) {
			fl->last_ns = now;
			return true;
		}
	}
	return false;
}

static __always_inline void udp_flow_record(const struct shunt_mesh_state *st, __u32 local_id,
					    __u16 local_port, const __u8 remote[16],
					    __u16 remote_port)
{
	struct shunt_udp_flow_key key = {
	    .local_id = local_id, .local_port = local_port, .remote_port = remote_port};
	struct shunt_udp_flow value = {.last_ns = bpf_ktime_get_ns(), .version = st->version};

	__builtin_memcpy(key.remote_addr, remote, 16);
	bpf_map_update_elem(&shunt_udp_flows, &key, &value, BPF_ANY);
}

#endif /* SHUNT_MESH_FLOWS_BPF_H */
