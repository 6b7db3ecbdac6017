// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * What the proxy does when a stream or tunnel ends: one outcome each, read
 * from its table by the log line (its "outcome" field), the counters and the
 * flow event alike.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "common/log.h"
#include "proxy_edges.h"
#include "proxy_impl.h"
#include "proxy_istio.h"
#include "proxy_stats.h"

#define VERDICT_NONE 0xff /* not decided: no flow event */

void proxy_flow_init(struct shunt_flow_event *ev, __u8 kind)
{
	memset(ev, 0, sizeof(*ev));
	ev->kind = kind;
	ev->proto = SHUNT_PROTO_TCP;
	ev->direction = kind == SHUNT_FLOW_PROXY_IN ? SHUNT_DIR_INGRESS : SHUNT_DIR_EGRESS;
	ev->verdict = VERDICT_NONE;
}

/* Into the kernel's flow ring buffer, through shunt_flow_inject. */
void proxy_flow_emit(const struct shunt_flow_event *ev)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = ev, .ctx_size_in = sizeof(*ev));

	if (px.flow_fd >= 0 && ev->verdict != VERDICT_NONE)
		bpf_prog_test_run_opts(px.flow_fd, &o);
}

/* A tunnel refused before any stream: from its peer to us (inbound). */
static void flow_tunnel_refused(const struct proxy_tunnel *pt, enum hbone_side side)
{
	struct shunt_flow_event ev;
	bool in = side == HBONE_INBOUND;

	proxy_flow_init(&ev, in ? SHUNT_FLOW_PROXY_IN : SHUNT_FLOW_PROXY_OUT);
	memcpy(ev.src_addr, in ? pt->peer_addr : pt->local_addr, 16);
	ev.src_port = in ? pt->peer_port : pt->local_port;
	memcpy(ev.dst_addr, in ? pt->local_addr : pt->peer_addr, 16);
	ev.dst_port = in ? pt->local_port : pt->peer_port;
	ev.verdict = SHUNT_VERDICT_DENY;
	proxy_flow_emit(&ev);
}

/* Who C is between, for Istio's TCP metrics: the client's node reports as
 * "source", the server's as "destination" (with the identity its tunnel's
 * certificate proved). Both ends of every tunnel stream are mutual TLS. */
static void istio_peers_of(const struct proxy_conn *c, struct istio_peers *p)
{
	const struct model_snap *m = worker_model(c->w);

	memset(p, 0, sizeof(*p));
	p->reporter = c->side == HBONE_OUTBOUND ? ISTIO_SOURCE : ISTIO_DESTINATION;
	p->src = m ? model_workload_by_name(m, c->source) : NULL;
	p->dst = m ? model_workload_by_addr(m, c->flow.dst_addr) : NULL;
	p->trust_domain = m ? m->cfg.trust_domain : NULL;
	p->src_principal = c->side == HBONE_INBOUND ? c->peer : NULL;
	p->mtls = true;
}

void proxy_istio_tcp_opened(struct proxy_conn *c)
{
	struct istio_metrics *im = proxy_istio();
	struct istio_peers p;
	struct timespec now;

	if (!im || c->l7)
		return;
	istio_peers_of(c, &p);
	istio_tcp_opened(im, &p);
	c->istio_open = true;
	clock_gettime(CLOCK_REALTIME, &c->opened_at);
	clock_gettime(CLOCK_MONOTONIC, &now);
	c->opened_us = (__u64)now.tv_sec * 1000000 + (__u64)now.tv_nsec / 1000;
}

static void istio_tcp_ended(const struct proxy_conn *c, enum shunt_outcome o, unsigned long long up,
			    unsigned long long down)
{
	struct istio_metrics *im = proxy_istio();
	struct istio_peers p;

	if (!im || !c->istio_open)
		return;
	istio_peers_of(c, &p);
	istio_tcp_closed(im, &p, o, down, up);
	proxy_access_log_tcp(c, &p, o, up, down);
}

/* A workload's TCP stream through the tunnel, for `shunt graph`. */
static void graph_stream_ended(const struct proxy_conn *c, enum shunt_outcome o,
			       unsigned long long up, unsigned long long down)
{
	char dst[SHUNT_NAME_MAX];

	proxy_kernel_name(c->flow.dst_id, dst, sizeof(dst));
	proxy_edge_stream(c->source, dst,
			  shunt_outcome_is(o, SHUNT_OF_DENY | SHUNT_OF_REFUSAL |
						  SHUNT_OF_HANDSHAKE | SHUNT_OF_RESET),
			  up, down, time(NULL));
}

static const char *side_name(enum hbone_side side)
{
	return side == HBONE_OUTBOUND ? "outbound" : "inbound";
}

static void stream_ended(void *ctx, struct hbone_stream *s, void *user,
			 const struct hbone_stream_end *end)
{
	struct proxy_conn *c = user;
	/* from_plain is towards the server on the outbound side. */
	bool out = hbone_stream_side(s) == HBONE_OUTBOUND;
	unsigned long long up = out ? end->from_plain : end->to_plain;
	unsigned long long down = out ? end->to_plain : end->from_plain;

	(void)ctx;
	proxy_stats_outcome(end->outcome);
	if (!c)
		return;
	istio_tcp_ended(c, end->outcome, up, down);
	if (c->l7)
		proxy_l7_stream_ended(c->l7, end->outcome);
	if (c->asserted)
		bpf_map_delete_elem(px.asserted_fd, &c->assert_key);
	if (out) {
		atomic_fetch_add(&proxy_stats.bytes_to_server, up);
		atomic_fetch_add(&proxy_stats.bytes_to_client, down);
	}
	if (out && !c->l7)
		graph_stream_ended(c, end->outcome, up, down);
	/* The outbound side learns of a refusal from its peer, or cannot
	 * reach it: a denied flow of this node too. */
	if (out && shunt_outcome_is(end->outcome, SHUNT_OF_DENY)) {
		c->flow.verdict = SHUNT_VERDICT_DENY;
		proxy_flow_emit(&c->flow);
	}
	shunt_log_fields(
	    SHUNT_LOG_INFO,
	    (struct shunt_log_field[]){
		LOG_STR("event", "stream"), LOG_STR("side", side_name(c->side)),
		LOG_STR("outcome", shunt_outcome_label(end->outcome)), LOG_STR("source", c->source),
		LOG_STR("destination", c->destination), LOG_STR("peer", c->peer),
		LOG_NUM("bytes_to_server", up), LOG_NUM("bytes_to_client", down)},
	    8, "%s %s%s%s%s -> %s: %s (%llu bytes to the server, %llu back)", side_name(c->side),
	    c->source[0] ? c->source : "(unknown)", c->peer[0] ? " (" : "", c->peer,
	    c->peer[0] ? ")" : "", c->destination[0] ? c->destination : "(unknown)",
	    shunt_outcome_text(end->outcome), up, down);
	free(c);
}

static void stream_opened(void *ctx, struct hbone_stream *s)
{
	struct proxy_conn *c = hbone_stream_user(s);

	(void)ctx;
	if (c->side == HBONE_INBOUND)
		proxy_istio_tcp_opened(c);
	shunt_log_fields(SHUNT_LOG_INFO,
			 (struct shunt_log_field[]){
			     LOG_STR("event", "stream_open"), LOG_STR("side", side_name(c->side)),
			     LOG_STR("source", c->source), LOG_STR("destination", c->destination)},
			 4, "%s %s (%s) -> %s: open", side_name(c->side), c->source, c->peer,
			 c->destination);
}

static void tunnel_ended(void *ctx, struct hbone_tunnel *t, void *user, enum shunt_outcome why,
			 int nstreams)
{
	struct proxy_tunnel *pt = user;
	enum hbone_side side = hbone_tunnel_side(t);
	const char *who = side == HBONE_OUTBOUND ? hbone_tunnel_key(t) : hbone_tunnel_peer_id(t);

	(void)ctx;
	proxy_stats_outcome(why);
	/* A peer refused for what it is (not one that could not be reached). */
	if (pt && shunt_outcome_is(why, SHUNT_OF_DENY) &&
	    shunt_outcome_is(why, SHUNT_OF_HANDSHAKE | SHUNT_OF_REFUSAL))
		flow_tunnel_refused(pt, side);
	free(pt);
	if (shunt_outcome_is(why, SHUNT_OF_HANDSHAKE))
		return; /* handshake_failed said it, with OpenSSL's words */
	shunt_log_fields(
	    SHUNT_LOG_INFO,
	    (struct shunt_log_field[]){LOG_STR("event", "tunnel"), LOG_STR("side", side_name(side)),
				       LOG_STR("outcome", shunt_outcome_label(why)),
				       LOG_STR("peer", who), LOG_NUM("streams", nstreams)},
	    5, "%s tunnel %s: %s (%d streams)", side_name(side), who, shunt_outcome_text(why),
	    nstreams);
}

static enum shunt_outcome handshake_failed(void *ctx, struct hbone_tunnel *t)
{
	SSL *ssl = hbone_tunnel_ssl(t);
	long v = SSL_get_verify_result(ssl);
	unsigned long e = ERR_peek_error();
	enum shunt_outcome o = proxy_handshake_outcome(v, e);
	enum hbone_side side = hbone_tunnel_side(t);
	const char *detail = proxy_ssl_err(e);

	(void)ctx;
	ERR_clear_error();
	shunt_log_fields(SHUNT_LOG_INFO,
			 (struct shunt_log_field[]){
			     LOG_STR("event", "tunnel"), LOG_STR("side", side_name(side)),
			     LOG_STR("outcome", shunt_outcome_label(o)),
			     LOG_STR("peer", side == HBONE_OUTBOUND ? hbone_tunnel_key(t) : ""),
			     LOG_STR("detail", detail)},
			 5, "%s tunnel %s: %s: %s%s%s", side_name(side),
			 side == HBONE_OUTBOUND ? hbone_tunnel_key(t) : "", shunt_outcome_text(o),
			 detail, v != X509_V_OK ? ": peer certificate " : "",
			 v != X509_V_OK ? X509_verify_cert_error_string(v) : "");
	return o;
}

/* The other node's proxy is being replaced: an L7 connection on S goes
 * back to no pool (proxy_l7.c). A client's own TCP connection goes on. */
static void stream_goaway(void *ctx, struct hbone_stream *s)
{
	struct proxy_conn *c = hbone_stream_user(s);

	(void)ctx;
	if (c && c->l7)
		proxy_l7_stream_goaway(c->l7);
}

/* A stream its tunnel refused before anything went (the other node's proxy
 * is being replaced): on another tunnel, to the proxy that replaces it. */
static enum shunt_outcome stream_refused(void *ctx, struct hbone_stream *s)
{
	struct proxy_conn *c = hbone_stream_user(s);

	return c ? proxy_outbound_route(ctx, c, s) : SHUNT_OUT_STREAM_FAILED;
}

const struct hbone_ops proxy_hbone_ops = {
    .peer_verified = proxy_peer_verified,
    .handshake_failed = handshake_failed,
    .inbound_open = proxy_inbound_open,
    .stream_opened = stream_opened,
    .stream_ended = stream_ended,
    .stream_goaway = stream_goaway,
    .stream_refused = stream_refused,
    .tunnel_ended = tunnel_ended,
};
