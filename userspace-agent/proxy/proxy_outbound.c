// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The outbound side: connections of this node's workloads that the connect
 * hook sent here go, each as a CONNECT stream, over a pooled tunnel to the
 * destination node's proxy, with a certificate of the client's identity.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "common/addr.h"
#include "common/log.h"
#include "mesh_read.h"
#include "proxy_impl.h"
#include "proxy_stats.h"

/* An SSL for a new outbound tunnel over FD, speaking as PAIR. */
static SSL *outbound_ssl(struct proxy_worker *w, int fd, const struct cert_pair *pair)
{
	SSL *ssl = SSL_new(worker_tls(w)->client);

	if (!ssl || SSL_use_certificate(ssl, pair->cert) != 1 ||
	    SSL_use_PrivateKey(ssl, pair->key) != 1 || proxy_tls_set_fd(ssl, fd)) {
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_connect_state(ssl);
	return ssl;
}

/* A new outbound tunnel to NODE for workloads of SRC's identity; NULL and
 * *WHY on failure. */
static struct hbone_tunnel *outbound_tunnel(struct proxy_worker *w, const struct cfg_node *node,
					    const struct cfg_workload *src, const char *key,
					    enum shunt_outcome *why)
{
	struct proxy_tunnel *pt = calloc(1, sizeof(*pt));
	char id[SHUNT_NAME_MAX + 8];
	const struct cert_pair *pair;
	struct sockaddr_storage ss;
	struct hbone_tunnel *t;
	SSL_SESSION *sess;
	socklen_t slen;
	SSL *ssl = NULL;
	int fd;

	*why = SHUNT_OUT_PEER_UNREACHABLE;
	proxy_identity_key(id, sizeof(id), src->ns, src->service_account);
	pair = tls_pair(worker_tls(w), id);
	if (!pair) {
		*why = SHUNT_OUT_NO_CERTIFICATE; /* the certificate thread is on it */
		free(pt);
		return NULL;
	}
	slen = shunt_addr_to_sockaddr(node->inbound.addr, node->inbound.port, &ss);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (!pt || fd < 0 || !(ssl = outbound_ssl(w, fd, pair)))
		goto fail;
	proxy_set_nodelay(fd);
	if (connect(fd, (struct sockaddr *)&ss, slen) && errno != EINPROGRESS)
		goto fail;
	pt->w = w;
	snprintf(pt->peer_node, sizeof(pt->peer_node), "%s", node->name);
	memcpy(pt->peer_addr, node->inbound.addr, 16);
	pt->peer_port = node->inbound.port;
	proxy_note_ends(pt, fd);
	/* The session ticket of an earlier tunnel: a shorter handshake. */
	sess = proxy_session_for(w, key);
	if (sess) {
		SSL_set_session(ssl, sess);
		SSL_SESSION_free(sess);
	}
	t = hbone_tunnel_new(w->loop, HBONE_OUTBOUND, fd, ssl, true, worker_tls(w)->ca_gen, pt);
	if (!t) {
		free(pt);
		return NULL;
	}
	hbone_tunnel_set_key(t, key);
	return t;
fail:
	SSL_free(ssl);
	if (fd >= 0)
		close(fd);
	free(pt);
	return NULL;
}

/* The client's name in the kernel (by the id the connect hook recorded). */
void proxy_kernel_name(__u32 id, char *buf, size_t len)
{
	struct shunt_name_key nk = {.kind = SHUNT_NAME_IDENT, .id = id};
	struct shunt_name name;
	__u64 version;

	name.name[0] = 0;
	if (mesh_state_read_fd(px.state_fd, &nk.gen, &version) ||
	    bpf_map_lookup_elem(px.names_fd, &nk, &name))
		name.name[0] = 0;
	name.name[sizeof(name.name) - 1] = 0;
	snprintf(buf, len, "%s", name.name);
}

/* Where the kernel says C was going (shunt_proxy_orig), into C. */
static enum shunt_outcome outbound_origin(struct proxy_conn *c, int fd)
{
	struct shunt_proxy_key key = {};
	struct shunt_proxy_orig orig;
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);

	if (getpeername(fd, (struct sockaddr *)&peer, &plen))
		return SHUNT_OUT_RESET;
	shunt_addr_from_sockaddr((struct sockaddr *)&peer, key.addr, &key.port);
	memcpy(c->flow.src_addr, key.addr, 16);
	c->flow.src_port = key.port;
	if (bpf_map_lookup_elem(px.orig_fd, &key, &orig))
		return SHUNT_OUT_NO_ORIGIN;
	bpf_map_delete_elem(px.orig_fd, &key);
	c->flow.src_id = orig.src_id;
	c->flow.dst_id = orig.dst_id;
	memcpy(c->flow.dst_addr, orig.addr, 16);
	c->flow.dst_port = orig.port;
	shunt_endpoint_format(orig.addr, orig.port, c->destination, sizeof(c->destination));
	proxy_kernel_name(orig.src_id, c->source, sizeof(c->source));
	return SHUNT_OUT_ALLOWED;
}

/* Sends S (of C) to its destination node: a pooled tunnel, or a new one. */
enum shunt_outcome proxy_outbound_route(struct proxy_worker *w, struct proxy_conn *c,
					struct hbone_stream *s)
{
	struct model_snap *m = worker_model(w);
	const struct cfg_workload *dst = model_workload_by_addr(m, c->flow.dst_addr);
	const struct cfg_workload *src = model_workload_by_name(m, c->source);
	const struct cfg_node *node = dst ? cfg_node_find(&m->cfg, dst->node) : NULL;
	char tkey[HBONE_KEY_MAX], source_addr[80];
	struct hbone_request req = {.authority = c->destination, .source = c->source};
	enum shunt_outcome why;
	struct hbone_tunnel *t;

	if (!dst || !src || !node || !node->has_proxy)
		return SHUNT_OUT_UNKNOWN_ROUTE;
	/* Streams of one identity to one node share tunnels. */
	snprintf(tkey, sizeof(tkey), "%s|%s/%s", node->name, src->ns, src->service_account);
	t = hbone_pool_find(w->loop, tkey, worker_tls(w)->ca_gen,
			    time(NULL) - px.cert_lifetime / 3);
	if (t)
		atomic_fetch_add(&proxy_stats.streams_pooled, 1);
	else if (!(t = outbound_tunnel(w, node, src, tkey, &why)))
		return why;
	shunt_endpoint_format(c->flow.src_addr, c->flow.src_port, source_addr, sizeof(source_addr));
	req.source_addr = source_addr;
	return hbone_stream_open(t, s, &req) ? SHUNT_OUT_STREAM_FAILED : SHUNT_OUT_ALLOWED;
}

/* A workload's connection, redirected here by the connect hook. */
void proxy_accept_outbound(struct proxy_worker *w, int fd)
{
	struct proxy_conn *c = calloc(1, sizeof(*c));
	struct hbone_stream *s;
	enum shunt_outcome o;

	if (!c) {
		close(fd);
		return;
	}
	c->w = w;
	c->side = HBONE_OUTBOUND;
	proxy_flow_init(&c->flow, SHUNT_FLOW_PROXY_OUT);
	proxy_set_nodelay(fd);
	s = hbone_stream_new(w->loop, fd, c);
	if (!s) {
		free(c);
		return;
	}
	o = outbound_origin(c, fd);
	if (o == SHUNT_OUT_ALLOWED)
		o = proxy_outbound_route(w, c, s);
	if (o == SHUNT_OUT_ALLOWED)
		proxy_istio_tcp_opened(c); /* its close is counted when the stream ends */
	else
		hbone_stream_drop(s, o);
}
