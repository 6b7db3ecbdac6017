// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The L7 side's ties to the rest of the proxy (l7/l7.h has the HTTP): the
 * client connections the connect hook sent here, and, per request, a
 * connection to the chosen endpoint on behalf of the client workload,
 * decided by the same kernel policy as a direct connect:
 *  - the source's egress policy, always;
 *  - an endpoint of this node: its ingress policy, then a connection from
 *    the node's pod-facing address with the client's identity asserted to
 *    the kernel (shunt_proxy_asserted), as the inbound side does;
 *  - an endpoint of another node: a stream over the mTLS tunnel to its
 *    node, whose inbound side checks identity and ingress policy. The
 *    stream's plain side is a socketpair; this side speaks HTTP on the
 *    other end.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "common/addr.h"
#include "common/log.h"
#include "common/metrics.h"
#include "mesh_read.h"
#include "model/http_route.h"
#include "proxy_edges.h"
#include "proxy_impl.h"
#include "proxy_istio.h"
#include "proxy_stats.h"
#include "proxy_trace.h"
#include "l7/l7_trace.h"

static const struct mesh_config *l7_model(void *ctx, __u64 *version)
{
	struct model_snap *m = worker_model(ctx);

	if (!m)
		return NULL;
	*version = m->version;
	return &m->cfg;
}

static void *l7_hold_model(void *ctx)
{
	struct proxy_worker *w = ctx;

	atomic_fetch_add(&w->model.s->refs, 1);
	return w->model.s;
}

static void l7_release_model(void *ctx, void *hold)
{
	(void)ctx;
	if (hold)
		snap_put(hold);
}

static enum shunt_outcome policy(__u8 direction, __u32 subject, __u32 peer, __u16 port)
{
	struct shunt_policy_query q = {.direction = direction,
				       .proto = SHUNT_PROTO_TCP,
				       .port = port,
				       .subject = subject,
				       .peer = peer};

	if (mesh_policy_query(px.policy_fd, &q))
		return SHUNT_OUT_POLICY_QUERY_FAILED;
	if (q.verdict == SHUNT_VERDICT_DENY)
		return direction == SHUNT_DIR_EGRESS ? SHUNT_OUT_EGRESS_DENIED
						     : SHUNT_OUT_POLICY_DENIED;
	return SHUNT_OUT_ALLOWED;
}

/*
 * A connection to an endpoint, as the L7 side's token: a local one's
 * asserted identity in the kernel; a remote one's stream outcome, which
 * the stream (proxy_l7_stream_ended) and the L7 side (closed) share.
 */
struct l7_conn {
	bool local;
	bool goaway; /* its tunnel got GOAWAY: no request after the current one */
	int refs;
	enum shunt_outcome outcome;
	struct shunt_proxy_key key;
};

static enum shunt_outcome connect_local(struct proxy_worker *w, const struct l7_target *t,
					__u32 src_id, int *fd_out, void **token)
{
	const struct cfg_node *me = worker_model(w)->me;
	struct shunt_proxy_asserted as = {.src_id = src_id};
	struct sockaddr_storage ss, local;
	socklen_t slen, llen = sizeof(local);
	bool v4 = shunt_addr_is_v4(t->addr);
	struct l7_conn *lc;
	int fd;

	if (!v4 && !me->has_outbound6)
		return SHUNT_OUT_NO_IPV6_SOURCE;
	lc = calloc(1, sizeof(*lc));
	if (lc)
		lc->local = true;
	slen = shunt_addr_to_sockaddr(v4 ? me->outbound.addr : me->outbound6.addr, 0, &ss);
	fd = lc ? socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) : -1;
	if (fd < 0) {
		free(lc);
		return SHUNT_OUT_SOCKET_FAILED;
	}
	if (bind(fd, (struct sockaddr *)&ss, slen) ||
	    getsockname(fd, (struct sockaddr *)&local, &llen)) {
		close(fd);
		free(lc);
		return SHUNT_OUT_BIND_FAILED;
	}
	shunt_addr_from_sockaddr((struct sockaddr *)&local, lc->key.addr, &lc->key.port);
	if (bpf_map_update_elem(px.asserted_fd, &lc->key, &as, BPF_ANY)) {
		close(fd);
		free(lc);
		return SHUNT_OUT_ASSERT_FAILED;
	}
	proxy_set_nodelay(fd);
	slen = shunt_addr_to_sockaddr(t->addr, t->port, &ss);
	if (connect(fd, (struct sockaddr *)&ss, slen) && errno != EINPROGRESS) {
		bpf_map_delete_elem(px.asserted_fd, &lc->key);
		close(fd);
		free(lc);
		return SHUNT_OUT_L7_CONNECT_FAILED;
	}
	*fd_out = fd;
	*token = lc;
	return SHUNT_OUT_ALLOWED;
}

void proxy_l7_stream_ended(struct l7_conn *lc, enum shunt_outcome outcome)
{
	lc->outcome = outcome;
	if (--lc->refs == 0)
		free(lc);
}

void proxy_l7_stream_goaway(struct l7_conn *lc)
{
	lc->goaway = true;
}

static enum shunt_outcome connect_remote(struct proxy_worker *w, const struct l7_target *t,
					 int *fd_out, void **token)
{
	struct proxy_conn *c = calloc(1, sizeof(*c));
	struct l7_conn *lc = calloc(1, sizeof(*lc));
	struct hbone_stream *s;
	enum shunt_outcome o;
	int sv[2];

	if (!c || !lc || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv)) {
		free(c);
		free(lc);
		return SHUNT_OUT_SOCKET_FAILED;
	}
	lc->refs = 2; /* the stream's and the L7 side's */
	lc->outcome = SHUNT_OUT_ALLOWED;
	c->l7 = lc;
	c->w = w;
	c->side = HBONE_OUTBOUND;
	proxy_flow_init(&c->flow, SHUNT_FLOW_PROXY_OUT);
	snprintf(c->source, sizeof(c->source), "%s/%s", t->src->ns, t->src->name);
	memcpy(c->flow.dst_addr, t->addr, 16);
	c->flow.dst_port = t->port;
	shunt_endpoint_format(t->addr, t->port, c->destination, sizeof(c->destination));
	s = hbone_stream_new(w->loop, sv[1], c); /* takes sv[1] */
	if (!s) {
		free(c);
		free(lc);
		close(sv[0]);
		return SHUNT_OUT_SOCKET_FAILED;
	}
	o = proxy_outbound_route(w, c, s);
	if (o != SHUNT_OUT_ALLOWED) {
		hbone_stream_drop(s, o); /* ends the stream: one reference left */
		free(lc);
		close(sv[0]);
		return o == SHUNT_OUT_NO_CERTIFICATE ? SHUNT_OUT_L7_CONNECT_FAILED : o;
	}
	*fd_out = sv[0];
	*token = lc;
	return SHUNT_OUT_ALLOWED;
}

static enum shunt_outcome l7_connect(void *ctx, const struct l7_target *t, int *fd, void **token)
{
	struct proxy_worker *w = ctx;
	struct model_snap *m = worker_model(w);
	char q[SHUNT_NAME_MAX];
	__u32 src_id, dst_id;
	enum shunt_outcome o;

	*token = NULL;
	snprintf(q, sizeof(q), "%s/%s", t->src->ns, t->src->name);
	if (proxy_kernel_id(w, q, &src_id))
		return SHUNT_OUT_SOURCE_NOT_IN_KERNEL;
	snprintf(q, sizeof(q), "%s/%s", t->dst->ns, t->dst->name);
	if (proxy_kernel_id(w, q, &dst_id))
		return SHUNT_OUT_DEST_NOT_IN_KERNEL;
	/* At the destination's hop for a client of another node, that node
	 * decided egress. */
	o = t->inbound && strcmp(t->src->node, m->me->name)
		? SHUNT_OUT_ALLOWED
		: policy(SHUNT_DIR_EGRESS, src_id, dst_id, t->port);
	if (o != SHUNT_OUT_ALLOWED)
		return o;
	if (strcmp(t->dst->node, m->me->name))
		return t->inbound ? SHUNT_OUT_NOT_LOCAL : connect_remote(w, t, fd, token);
	o = policy(SHUNT_DIR_INGRESS, dst_id, src_id, t->port);
	if (o != SHUNT_OUT_ALLOWED)
		return o;
	return connect_local(w, t, src_id, fd, token);
}

/* The endpoint's node reads the requests again (proxy_inbound_l7) only at
 * the target port of an L7 service port; to any other port it relays the
 * bytes, which must then be the client's HTTP/1.1. */
static bool l7_multiplexed(void *ctx, const struct mesh_config *cfg, const struct l7_target *t)
{
	struct model_snap *m = worker_model(ctx);
	const struct cfg_service_port *sp;
	size_t from = 0;

	return m && t->dst->node && strcmp(t->dst->node, m->me->name) &&
	       cfg_l7_service_of_endpoint(cfg, t->dst, t->port, &from, &sp);
}

static enum shunt_outcome l7_failure(void *ctx, void *token)
{
	struct l7_conn *lc = token;

	(void)ctx;
	return lc && !lc->local ? lc->outcome : SHUNT_OUT_ALLOWED;
}

static bool l7_reusable(void *ctx, void *token)
{
	const struct l7_conn *lc = token;

	(void)ctx;
	return !lc || lc->local || !lc->goaway;
}

static void l7_closed(void *ctx, void *token)
{
	struct l7_conn *lc = token;

	(void)ctx;
	if (!lc)
		return;
	if (lc->local) {
		bpf_map_delete_elem(px.asserted_fd, &lc->key);
		free(lc);
	} else if (--lc->refs == 0) {
		free(lc);
	}
}

/* Istio's request metrics, as the client's proxy (source) or the
 * endpoint's (destination), and the access log's line (LOG: once per
 * request, as the first of them). */
static void istio_report(struct proxy_worker *w, const struct l7_done *d,
			 enum istio_reporter reporter, bool log)
{
	struct model_snap *m = worker_model(w);
	struct istio_metrics *im = proxy_istio();
	struct istio_http h = {
	    .p = {.reporter = reporter,
		  .src = d->src,
		  .dst = d->t ? d->t->dst : NULL,
		  .service = d->service,
		  .trust_domain = m ? m->cfg.trust_domain : NULL,
		  .mtls = d->inbound && d->src && px.node && strcmp(d->src->node, px.node)},
	    .grpc = d->grpc,
	    .status = d->status,
	    .grpc_status = d->grpc_status,
	    .outcome = d->outcome,
	    .duration_ms = (double)d->duration_us / 1000.0,
	    .request_bytes = d->request_bytes,
	    .response_bytes = d->response_bytes,
	};

	if (im)
		istio_request(im, &h);
	if (log)
		proxy_access_log_http(w, d, &h.p);
}

static void l7_request_done(void *ctx, const struct l7_done *d)
{
	char buf[SHUNT_NAME_MAX + 80] = "-";
	const char *dst = buf;
	bool remote = d->t && d->t->dst->node && px.node && strcmp(d->t->dst->node, px.node);
	bool client_here = !d->inbound || (d->src && px.node && !strcmp(d->src->node, px.node));

	/* This node's hop is the client's, the destination's, or both (a
	 * request between two workloads of this node). */
	if (client_here)
		istio_report(ctx, d, ISTIO_SOURCE, true);
	if (d->inbound || (d->t && !remote))
		istio_report(ctx, d, ISTIO_DESTINATION, !client_here);
	if (d->span) {
		l7_span_tag(d->span, "response_flags", istio_response_flags(d->outcome));
		proxy_trace_submit(d->span);
	}
	if (d->server_span) {
		l7_span_tag(d->server_span, "response_flags", istio_response_flags(d->outcome));
		proxy_trace_submit(d->server_span);
	}
	if (d->t)
		snprintf(buf, sizeof(buf), "%s/%s", d->t->dst->ns, d->t->dst->name);
	if (client_here) /* the client's node draws the edge */
		proxy_edge_request(d->source, d->t ? buf : NULL, remote, d->status, d->duration_us,
				   time(NULL));
	shunt_log_fields(
	    SHUNT_LOG_DEBUG,
	    (struct shunt_log_field[]){LOG_STR("event", "request"), LOG_STR("source", d->source),
				       LOG_STR("method", d->method), LOG_STR("path", d->path),
				       LOG_NUM("status", (unsigned long long)d->status),
				       LOG_STR("outcome", shunt_outcome_label(d->outcome)),
				       LOG_STR("endpoint", dst), LOG_NUM("attempts", d->attempts),
				       LOG_NUM("duration_us", d->duration_us)},
	    9, "%s %s %s -> %s: %d %s (%u tries, %llu us)", d->source, d->method, d->path, dst,
	    d->status, shunt_outcome_label(d->outcome), d->attempts,
	    (unsigned long long)d->duration_us);
}

const struct l7_ops proxy_l7_ops = {
    .model = l7_model,
    .hold_model = l7_hold_model,
    .release_model = l7_release_model,
    .connect = l7_connect,
    .multiplexed = l7_multiplexed,
    .failure = l7_failure,
    .reusable = l7_reusable,
    .closed = l7_closed,
    .request_done = l7_request_done,
};

void proxy_accept_l7(struct proxy_worker *w, int fd)
{
	struct shunt_proxy_key key = {};
	struct shunt_proxy_orig orig;
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	struct l7_origin o = {};
	char name[SHUNT_NAME_MAX];

	proxy_set_nodelay(fd);
	if (getpeername(fd, (struct sockaddr *)&peer, &plen))
		goto refuse;
	shunt_addr_from_sockaddr((struct sockaddr *)&peer, key.addr, &key.port);
	if (bpf_map_lookup_elem(px.orig_fd, &key, &orig))
		goto refuse; /* the kernel did not send it: nobody to act for */
	bpf_map_delete_elem(px.orig_fd, &key);
	proxy_kernel_name(orig.src_id, name, sizeof(name));
	o.src = model_workload_by_name(worker_model(w), name);
	if (!o.src)
		goto refuse;
	/* A workload's own address (SHUNT_SVC_L7_ENDPOINT), not a service's:
	 * this is its destination's hop. */
	o.dst = model_workload_by_addr(worker_model(w), orig.addr);
	o.inbound = o.dst && !strcmp(o.dst->node, worker_model(w)->me->name);
	if (!o.inbound)
		o.dst = NULL;
	memcpy(o.service_addr, orig.addr, 16);
	o.service_port = orig.port;
	l7_accept(w->l7, fd, &o);
	return;
refuse:
	pr_warn("l7: a connection the kernel did not send here (or of an unknown workload): "
		"refused");
	close(fd);
}

enum shunt_outcome proxy_inbound_l7(struct proxy_worker *w, struct hbone_stream *s,
				    struct proxy_conn *c, const struct cfg_workload *src,
				    const struct cfg_workload *dst)
{
	struct l7_origin o = {.src = src, .dst = dst, .inbound = true};
	const struct cfg_service_port *sp;
	size_t from = 0;
	int sv[2];

	if (!cfg_l7_service_of_endpoint(&worker_model(w)->cfg, dst, c->flow.dst_port, &from, &sp))
		return SHUNT_OUT_MAX;
	/* Fail closed: an L7 endpoint is never reached without its hop. */
	if (!w->l7 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv))
		return SHUNT_OUT_SOCKET_FAILED;
	if (hbone_stream_attach(s, sv[1])) {
		close(sv[0]);
		close(sv[1]);
		return SHUNT_OUT_SOCKET_FAILED;
	}
	memcpy(o.service_addr, c->flow.dst_addr, 16);
	o.service_port = c->flow.dst_port;
	l7_accept(w->l7, sv[0], &o);
	return SHUNT_OUT_ALLOWED;
}

/* Upgrades (WebSocket): asked for, switched (101), open, and how they ended. */
static void proxy_l7_upgrade_metrics(struct metrics_writer *w)
{
	static const enum shunt_outcome ends[] = {SHUNT_OUT_CLOSED, SHUNT_OUT_RESET,
						  SHUNT_OUT_IDLE_TIMEOUT, SHUNT_OUT_SOCKET_FAILED};
	static const char *const outcome[] = {"outcome", NULL};
	struct l7_stats *s = &l7_stats;
	size_t i;

	metrics_emit(w, METRIC_COUNTER, "shunt_l7_upgrade_requests_total",
		     "Requests asking to switch protocols (Upgrade, h2c aside).", NULL, NULL,
		     (double)atomic_load(&s->upgrade_requests));
	metrics_emit(w, METRIC_COUNTER, "shunt_l7_upgrades_total",
		     "Upgrades the endpoint accepted (101): tunnels opened.", NULL, NULL,
		     (double)atomic_load(&s->upgrades));
	metrics_emit(w, METRIC_GAUGE, "shunt_l7_upgrades_active", NULL, NULL, NULL,
		     (double)atomic_load(&s->upgrades_active));
	for (i = 0; i < sizeof(ends) / sizeof(ends[0]); i++)
		metrics_emit(w, METRIC_COUNTER, "shunt_l7_upgrades_closed_total",
			     "Upgraded connections ended, by outcome.", outcome,
			     (const char *[]){shunt_outcome_label(ends[i])},
			     (double)atomic_load(&s->upgrades_closed[ends[i]]));
}

/* The L7 side's counters (shunt_l7_*), for the proxy's /metrics. */
void proxy_l7_metrics(struct metrics_writer *w)
{
	static const char *const cls[] = {"class", NULL}, *const outcome[] = {"outcome", NULL};
	static const char *const classes[] = {"", "1xx", "2xx", "3xx", "4xx", "5xx"};
	struct l7_stats *s = &l7_stats;
	int i;

	metrics_emit(w, METRIC_COUNTER, "shunt_l7_connections_total",
		     "Client connections to L7 service ports.", NULL, NULL,
		     (double)atomic_load(&s->connections));
	metrics_emit(w, METRIC_GAUGE, "shunt_l7_connections_active", NULL, NULL, NULL,
		     (double)atomic_load(&s->connections_active));
	metrics_emit(w, METRIC_COUNTER, "shunt_l7_requests_total", "HTTP requests routed.", NULL,
		     NULL, (double)atomic_load(&s->requests));
	for (i = 1; i < 6; i++)
		metrics_emit(w, METRIC_COUNTER, "shunt_l7_responses_total",
			     "Responses sent to clients, by status class.", cls,
			     (const char *[]){classes[i]}, (double)atomic_load(&s->by_class[i]));
	for (i = 1; i < SHUNT_OUT_MAX; i++)
		if (shunt_outcome(i)->http_status && atomic_load(&s->by_outcome[i]))
			metrics_emit(w, METRIC_COUNTER, "shunt_l7_proxy_answers_total",
				     "Requests the proxy answered itself, by outcome.", outcome,
				     (const char *[]){shunt_outcome_label(i)},
				     (double)atomic_load(&s->by_outcome[i]));
	metrics_emit(w, METRIC_COUNTER, "shunt_l7_retries_total", "Retries made.", NULL, NULL,
		     (double)atomic_load(&s->retries));
	metrics_emit(w, METRIC_COUNTER, "shunt_l7_retries_budget_exhausted_total",
		     "Retries not made: the route's retry budget was spent.", NULL, NULL,
		     (double)atomic_load(&s->retries_budget_denied));
	metrics_emit(w, METRIC_COUNTER, "shunt_l7_upstream_connections_total",
		     "Connections opened to endpoints.", NULL, NULL,
		     (double)atomic_load(&s->upstream_connects));
	metrics_emit(w, METRIC_COUNTER, "shunt_l7_upstream_reused_total",
		     "Requests sent over a pooled connection.", NULL, NULL,
		     (double)atomic_load(&s->upstream_reused));
	metrics_emit(w, METRIC_COUNTER, "shunt_l7_upstream_h2_streams_total",
		     "Requests sent to endpoints as HTTP/2 streams (http2, grpc ports).", NULL,
		     NULL, (double)atomic_load(&s->upstream_streams));
	metrics_emit(w, METRIC_COUNTER, "shunt_l7_ejections_total",
		     "Endpoints ejected by outlier detection.", NULL, NULL,
		     (double)atomic_load(&s->ejections));
	metrics_emit(w, METRIC_COUNTER, "shunt_l7_mirrored_total",
		     "Copies of requests sent to a mirror.", NULL, NULL,
		     (double)atomic_load(&s->mirrored));
	proxy_l7_upgrade_metrics(w);
}
