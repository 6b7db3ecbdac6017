// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A request's trace (docs/telemetry.md "Tracing"): its context read when it
 * is dispatched, this hop's span context written with the request on every
 * try (and a mirror's copy: l7_write_headers), and its spans when it ends:
 * its CLIENT span (SERVER at the destination's hop), and a SERVER span too
 * when no other hop reads it again (an endpoint of this node). One span of
 * each per request, retries included: the endpoint of every try sees the
 * same parent.
 */
#include <string.h>

#include "common/addr.h"
#include "l7_impl.h"

/* Envoy's default (generate_request_id): a request that came without an
 * x-request-id gets one at the first proxy that reads it, and every hop
 * after (the upstream, the next proxy, retries and mirrors) sees that one,
 * in its access log line and its span. Out of memory, or with the mesh's
 * requestId.generate false, the request goes on without. */
void l7_request_id_ensure(struct l7_request *req)
{
	char id[37];

	if (req->view->cfg->request_id.off || l7_header_get(req, "x-request-id"))
		return;
	l7_request_id_make(&req->down->l->trace_rng, id);
	(void)l7_header_add(&req->headers, &req->nheaders, &req->headers_cap, "x-request-id", 12,
			    id, 36);
}

/* The config's names of the formats are the trace module's bits. */
_Static_assert((int)CFG_TRACE_B3 == (int)L7_TRACE_B3 &&
		   (int)CFG_TRACE_B3_SINGLE == (int)L7_TRACE_B3_SINGLE &&
		   (int)CFG_TRACE_W3C == (int)L7_TRACE_W3C,
	       "cfg_trace_headers and l7_trace_format differ");

void l7_request_trace_begin(struct l7_request *req, const struct cfg_workload *src)
{
	const struct cfg_tracing *tc = &req->view->cfg->tracing;
	struct l7_trace_in in;

	l7_trace_extract(&in, req->headers, req->nheaders);
	if (!tc->enabled) {
		if (in.has_ids) /* for the logs only: nothing changes */
			l7_trace_id_hex(in.trace_hi, in.trace_lo, in.trace128, req->trace.trace_id);
		return;
	}
	l7_trace_begin(&req->trace, &in, cfg_trace_sampling_for(req->view->cfg, src),
		       tc->new_trace_headers, &req->down->l->trace_rng);
	req->traced = true;
}

/* Istio's canonical service name of W in S's text: its app label, else its
 * name; then its namespace ("web.default"). */
static uint16_t service_name(struct l7_span *s, const struct cfg_workload *w)
{
	const char *app = NULL;
	size_t i;

	if (!w)
		return l7_span_str(s, "unknown");
	for (i = 0; i < w->labels.n && !app; i++)
		if (!strcmp(w->labels.items[i].key, "app"))
			app = w->labels.items[i].value;
	return L7_SPAN_CAT(s, app ? app : w->name, ".", w->ns);
}

/* W's address of the family of LIKE, or NULL. */
static const __u8 *address_like(const struct cfg_workload *w, const __u8 like[16])
{
	bool v4 = shunt_addr_is_v4(like);
	size_t i;

	for (i = 0; w && i < w->naddrs; i++)
		if (w->addrs[i].v4 == v4)
			return w->addrs[i].addr;
	return NULL;
}

/* Zipkin's endpoints: the one that records the span is local, the client
 * of a CLIENT span, the endpoint of a SERVER span. */
static void span_endpoints(struct l7_request *req, const struct l7_done *d, struct l7_span *s)
{
	struct l7_span_endpoint *client = s->kind == L7_SPAN_SERVER ? &s->remote : &s->local;
	struct l7_span_endpoint *server = s->kind == L7_SPAN_SERVER ? &s->local : &s->remote;

	l7_span_endpoint(client, s, NULL, address_like(d->src, req->down->origin.service_addr), 0);
	client->service = service_name(s, d->src);
	s->has_remote = s->kind == L7_SPAN_SERVER;
	if (!d->t)
		return;
	l7_span_endpoint(server, s, NULL, d->t->addr, d->t->port);
	server->service = service_name(s, d->t->dst);
	s->has_remote = true;
}

/* Envoy's tags of an HTTP span, Istio's names (and shunt's outcome).
 * Strings are put together in the span's text: no printf per request. */
static void span_tags(struct l7_request *req, const struct l7_done *d, struct l7_span *s,
		      bool inbound)
{
	const struct l7_backend *b = req->backend;
	const char *host = l7_header_get(req, "host"), *v;
	char num[21], path[L7_SPAN_TEXT];
	size_t plen = strcspn(d->path, "?");

	l7_span_tag(s, "component", "proxy");
	l7_span_tag(s, "node_id", req->down->l->hop);
	l7_span_tag(s, "http.method", d->method);
	l7_span_tag_text(s, "http.url", L7_SPAN_CAT(s, "http://", host ? host : "-", d->path));
	plen = plen < sizeof(path) ? plen : sizeof(path) - 1;
	memcpy(path, d->path, plen);
	path[plen] = 0;
	l7_span_tag(s, "http.path", path);
	l7_span_tag(s, "http.protocol",
		    req->down->h2     ? "HTTP/2"
		    : req->http_minor ? "HTTP/1.1"
				      : "HTTP/1.0");
	if (d->status)
		l7_span_tag(s, "http.status_code", l7_dec((uint64_t)d->status, num));
	if (d->grpc && d->grpc_status >= 0)
		l7_span_tag(s, "grpc.status_code", l7_dec((uint64_t)d->grpc_status, num));
	if (!d->status || d->status >= 500)
		l7_span_tag(s, "error", "true");
	if (b && b->svc && b->sp)
		l7_span_tag_text(s, "upstream_cluster",
				 L7_SPAN_CAT(s, inbound ? "inbound|" : "outbound|",
					     l7_dec(b->sp->port, num), "||", b->svc->name, ".",
					     b->svc->ns, ".svc.cluster.local"));
	l7_span_tag(s, "shunt.outcome", shunt_outcome_label(d->outcome));
	if ((v = l7_header_get(req, "x-request-id")))
		l7_span_tag(s, "guid:x-request-id", v);
	if ((v = l7_header_get(req, "user-agent")))
		l7_span_tag(s, "user_agent", v);
}

/* One of REQ's spans as it ended (D), of context T, of KIND, into S. */
static struct l7_span *span_of(struct l7_request *req, const struct l7_done *d,
			       const struct l7_trace *t, enum l7_span_kind kind, struct l7_span *s)
{
	char num[21];
	__u16 port =
	    req->table && req->table->sp ? req->table->sp->port : req->down->origin.service_port;

	l7_span_init(s, t, kind, req->start_wall_us, d->duration_us);
	/* Istio's operation name: the destination host and port */
	if (d->service)
		s->name = L7_SPAN_CAT(s, d->service->name, ".", d->service->ns,
				      ".svc.cluster.local:", l7_dec(port, num), "/*");
	else
		s->name = L7_SPAN_CAT(s, "unknown:", l7_dec(port, num), "/*");
	span_endpoints(req, d, s);
	span_tags(req, d, s, kind == L7_SPAN_SERVER);
	return s;
}

/* The destination's hop is the server side of the call (Envoy's inbound
 * sidecar), the client's node's the client side, and a hop that is both
 * (an endpoint of this node) makes both spans, as Istio's two sidecars do:
 * the SERVER span the CLIENT span's child, over the same time. */
void l7_request_spans(struct l7_request *req, struct l7_done *d, struct l7_span s[2])
{
	struct l7_trace server;

	if (!req->traced || !req->trace.sampled)
		return;
	d->span = span_of(req, d, &req->trace, d->inbound ? L7_SPAN_SERVER : L7_SPAN_CLIENT, &s[0]);
	if (!req->server_here || !d->t)
		return;
	l7_trace_as_server(&req->trace, &server);
	d->server_span = span_of(req, d, &server, L7_SPAN_SERVER, &s[1]);
}

/* What a try of REQ sends: the SERVER span's context when this hop is the
 * endpoint's too (sampled only: an unsampled trace's spans are never seen,
 * and its ids need not say which hop was which). */
const struct l7_trace *l7_request_hop_trace(const struct l7_request *req, struct l7_trace *buf)
{
	if (!req->traced)
		return NULL;
	if (!req->server_here || !req->trace.sampled)
		return &req->trace;
	l7_trace_as_server(&req->trace, buf);
	return buf;
}
