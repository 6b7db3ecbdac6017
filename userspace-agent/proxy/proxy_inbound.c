// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The inbound side: tunnels from other nodes' proxies. The peer proves an
 * identity with its certificate; each request names its workload, which
 * must run as that identity and be admitted by the destination's ingress
 * policy (the kernel answers); then the proxy connects to the destination
 * with that identity asserted to the kernel (shunt_proxy_asserted).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <openssl/err.h>

#include "common/addr.h"
#include "common/log.h"
#include "mesh_read.h"
#include "proxy_impl.h"
#include "proxy_tproxy.h"

int proxy_set_nodelay(int fd)
{
	int one = 1;

	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Both ends of a tunnel's socket, while it has them (a refused peer may be
 * gone by the time it is refused). */
void proxy_note_ends(struct proxy_tunnel *pt, int fd)
{
	struct sockaddr_storage peer, local;
	socklen_t pl = sizeof(peer), ll = sizeof(local);

	if (!getpeername(fd, (struct sockaddr *)&peer, &pl))
		shunt_addr_from_sockaddr((struct sockaddr *)&peer, pt->peer_addr, &pt->peer_port);
	if (!getsockname(fd, (struct sockaddr *)&local, &ll))
		shunt_addr_from_sockaddr((struct sockaddr *)&local, pt->local_addr,
					 &pt->local_port);
}

void proxy_accept_inbound(struct proxy_worker *w, int fd)
{
	struct proxy_tunnel *pt = calloc(1, sizeof(*pt));
	const struct cert_pair *node;
	struct tls_snap *tls = worker_tls(w);
	char key[SHUNT_NAME_MAX + 8];
	SSL *ssl = NULL;

	/* The inbound side speaks for the node: a tunnel carries streams of
	 * one client identity, each request naming its workload. */
	proxy_identity_key(key, sizeof(key), NULL, worker_model(w)->me->name);
	node = tls_pair(tls, key);
	proxy_set_nodelay(fd);
	if (pt && node)
		ssl = SSL_new(tls->server);
	if (!ssl || SSL_use_certificate(ssl, node->cert) != 1 ||
	    SSL_use_PrivateKey(ssl, node->key) != 1 || proxy_tls_set_fd(ssl, fd)) {
		pr_warn("inbound: cannot set up TLS: %s", proxy_ssl_err(ERR_get_error()));
		SSL_free(ssl);
		close(fd);
		free(pt);
		return;
	}
	SSL_set_accept_state(ssl);
	pt->w = w;
	proxy_note_ends(pt, fd);
	if (!hbone_tunnel_new(w->loop, HBONE_INBOUND, fd, ssl, false, tls->ca_gen, pt))
		free(pt);
}

enum shunt_outcome proxy_peer_verified(void *ctx, struct hbone_tunnel *t)
{
	struct proxy_worker *w = ctx;
	struct proxy_tunnel *pt = hbone_tunnel_user(t);
	char id[SHUNT_SPIFFE_MAX], want[SHUNT_SPIFFE_MAX];

	if (proxy_peer_spiffe(hbone_tunnel_ssl(t), id, sizeof(id))) {
		hbone_tunnel_set_peer_id(t, "(no identity)");
		return SHUNT_OUT_PEER_NO_IDENTITY;
	}
	hbone_tunnel_set_peer_id(t, id);
	if (hbone_tunnel_side(t) == HBONE_INBOUND)
		return SHUNT_OUT_ALLOWED; /* each stream is checked against it */
	if (ca_node_spiffe_id(want, sizeof(want), worker_model(w)->cfg.trust_domain,
			      pt->peer_node) ||
	    strcmp(want, id))
		return SHUNT_OUT_PEER_NOT_NODE;
	return SHUNT_OUT_ALLOWED;
}

/* The address the inbound side connects from, for SRC to a destination of
 * family V4: the one the client said, if it is SRC's, else SRC's first. */
static bool client_address(const struct cfg_workload *src, const __u8 said[16], bool v4,
			   __u8 out[16])
{
	size_t i;

	for (i = 0; i < src->naddrs; i++)
		if (shunt_addr_is_v4(said) == v4 && !memcmp(src->addrs[i].addr, said, 16)) {
			memcpy(out, said, 16);
			return true;
		}
	for (i = 0; i < src->naddrs; i++)
		if (shunt_addr_is_v4(src->addrs[i].addr) == v4) {
			memcpy(out, src->addrs[i].addr, 16);
			return true;
		}
	return false;
}

/* Binds FD to the client's address (transparent) or else the node's
 * pod-facing one of FAMILY. */
static enum shunt_outcome bind_source(struct proxy_worker *w, int fd, int family,
				      const struct cfg_workload *src, const __u8 said[16])
{
	const struct cfg_node *me = worker_model(w)->me;
	struct sockaddr_storage b;
	socklen_t len;
	__u8 caddr[16];
	__u16 cport;
	int err = -EAFNOSUPPORT;

	if (px.transparent && client_address(src, said, family == AF_INET, caddr))
		err = tproxy_bind(fd, caddr, &cport);
	if (!err)
		return SHUNT_OUT_ALLOWED;
	if (px.transparent)
		pr_warn("inbound from %s: cannot use the client's address (%s): from the node's "
			"instead",
			src->name, strerror(-err));
	if (family == AF_INET6 && !me->has_outbound6)
		return SHUNT_OUT_NO_IPV6_SOURCE;
	len = shunt_addr_to_sockaddr(family == AF_INET ? me->outbound.addr : me->outbound6.addr, 0,
				     &b);
	return bind(fd, (struct sockaddr *)&b, len) ? SHUNT_OUT_BIND_FAILED : SHUNT_OUT_ALLOWED;
}

/* Connects S to C's destination with SRC_ID asserted to the kernel. */
static enum shunt_outcome inbound_connect(struct proxy_worker *w, struct hbone_stream *s,
					  struct proxy_conn *c, const struct cfg_workload *src,
					  __u32 src_id)
{
	struct shunt_proxy_asserted as = {.src_id = src_id};
	struct sockaddr_storage ss, local;
	socklen_t slen, llen = sizeof(local);
	enum shunt_outcome o;
	int fd;

	slen = shunt_addr_to_sockaddr(c->flow.dst_addr, c->flow.dst_port, &ss);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return SHUNT_OUT_SOCKET_FAILED;
	if (hbone_stream_attach(s, fd)) {
		close(fd);
		return SHUNT_OUT_SOCKET_FAILED;
	}
	/* From here the stream owns FD. */
	o = bind_source(w, fd, ss.ss_family, src, c->flow.src_addr);
	if (o != SHUNT_OUT_ALLOWED)
		return o;
	if (getsockname(fd, (struct sockaddr *)&local, &llen))
		return SHUNT_OUT_SOCKET_FAILED;
	shunt_addr_from_sockaddr((struct sockaddr *)&local, c->assert_key.addr,
				 &c->assert_key.port);
	if (bpf_map_update_elem(px.asserted_fd, &c->assert_key, &as, BPF_ANY))
		return SHUNT_OUT_ASSERT_FAILED;
	c->asserted = true;
	proxy_set_nodelay(fd);
	if (connect(fd, (struct sockaddr *)&ss, slen) && errno != EINPROGRESS)
		return SHUNT_OUT_CONNECT_FAILED;
	return SHUNT_OUT_ALLOWED;
}

/* The kernel's verdict on SRC_ID to DST_ID at C's port. */
static enum shunt_outcome inbound_policy(struct proxy_conn *c, __u32 src_id, __u32 dst_id)
{
	struct shunt_policy_query pq = {.direction = SHUNT_DIR_INGRESS,
					.proto = SHUNT_PROTO_TCP,
					.port = c->flow.dst_port,
					.subject = dst_id,
					.peer = src_id};

	if (mesh_policy_query(px.policy_fd, &pq))
		return SHUNT_OUT_POLICY_QUERY_FAILED;
	c->flow.rule = pq.rule;
	return shunt_outcome_of_verdict(pq.verdict);
}

/* Checks C's request against the certificate, the model and the policy,
 * then connects. Sets c->flow.verdict once identity and policy decided. */
static enum shunt_outcome inbound_decide(struct proxy_worker *w, struct hbone_stream *s,
					 struct proxy_conn *c)
{
	struct model_snap *m = worker_model(w);
	const struct cfg_workload *src, *dst;
	char want[SHUNT_SPIFFE_MAX], q[SHUNT_NAME_MAX];
	__u32 src_id = 0, dst_id;
	enum shunt_outcome o;
	bool src_known;

	if (shunt_endpoint_parse(c->destination, c->flow.dst_addr, &c->flow.dst_port))
		return SHUNT_OUT_BAD_REQUEST;
	src = model_workload_by_name(m, c->source);
	dst = model_workload_by_addr(m, c->flow.dst_addr);
	if (!src)
		return SHUNT_OUT_UNKNOWN_SOURCE;
	/* Looked up once, early: denied flows name the source too. */
	src_known = proxy_kernel_id(w, c->source, &src_id) == 0;
	if (src_known)
		c->flow.src_id = src_id;
	if (ca_spiffe_id(want, sizeof(want), m->cfg.trust_domain, src->ns, src->service_account) ||
	    strcmp(want, c->peer))
		return SHUNT_OUT_IDENTITY_MISMATCH;
	if (!dst || strcmp(dst->node, m->me->name))
		return SHUNT_OUT_NOT_LOCAL;
	if (!src_known)
		return SHUNT_OUT_SOURCE_NOT_IN_KERNEL;
	snprintf(q, sizeof(q), "%s/%s", dst->ns, dst->name);
	if (proxy_kernel_id(w, q, &dst_id))
		return SHUNT_OUT_DEST_NOT_IN_KERNEL;
	c->flow.dst_id = dst_id;
	o = inbound_policy(c, src_id, dst_id);
	if (o != SHUNT_OUT_ALLOWED)
		return o;
	c->flow.verdict = SHUNT_VERDICT_ALLOW;
	o = proxy_inbound_l7(w, s, c, src, dst);
	return o != SHUNT_OUT_MAX ? o : inbound_connect(w, s, c, src, src_id);
}

enum shunt_outcome proxy_inbound_open(void *ctx, struct hbone_stream *s,
				      const struct hbone_request *req)
{
	struct proxy_worker *w = ctx;
	struct proxy_conn *c = calloc(1, sizeof(*c));
	enum shunt_outcome o;

	if (!c)
		return SHUNT_OUT_SOCKET_FAILED;
	c->w = w;
	c->side = HBONE_INBOUND;
	hbone_stream_set_user(s, c);
	snprintf(c->source, sizeof(c->source), "%s", req->source);
	snprintf(c->destination, sizeof(c->destination), "%s", req->authority);
	snprintf(c->peer, sizeof(c->peer), "%s", req->peer_id);
	proxy_flow_init(&c->flow, SHUNT_FLOW_PROXY_IN);
	c->flow.verdict = SHUNT_VERDICT_DENY; /* until decided otherwise */
	if (shunt_endpoint_parse(req->source_addr, c->flow.src_addr, &c->flow.src_port))
		c->flow.src_port = 0; /* not given: informational only */
	o = inbound_decide(w, s, c);
	proxy_flow_emit(&c->flow); /* decided: allowed, or refused */
	return o;
}
