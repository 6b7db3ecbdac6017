// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The node proxy (see proxy.h and docs/proxy.md). One event loop per
 * thread, each with its own listeners (SO_REUSEPORT) and connections;
 * non-blocking sockets and OpenSSL, edge-triggered epoll: every event runs
 * the connection until nothing more can move.
 */
#include "proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/addr.h"
#include "identity/ca.h"
#include "common/http_server.h"
#include "common/keymap.h"
#include "common/log.h"
#include "model/mesh_config.h"
#include "sources/yaml_source.h"
#include "mesh_read.h"
#include "mesh_shared.h"
#include "proxy_stats.h"
#include "proxy_tproxy.h"
#include "kernel_features.h"
#include "proxy_tunnel.h"

#define PROXY_SUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define SYSTEM_NS    "shunt-system"
#define FD_LIMIT     262144 /* one per proxied connection, and then some */
#define TUNNEL_ALPN  "\x02h2"

static struct {
	struct mesh_config cfg;
	const struct cfg_node *me;
	struct keymap by_addr, by_name; /* workload address / "ns/name" -> index */
	int orig_fd, asserted_fd, names_fd, state_fd;
	int flow_fd;   /* shunt_flow_inject, or -1: no flow events */
	int policy_fd; /* shunt_policy_query: the kernel decides */
	SSL_CTX *server_ctx, *client_ctx;
	const char *ca_dir;
	long cert_lifetime;
	long idle_timeout;
	atomic_uint ca_gen; /* bumped by each CA reload: tunnels of older ones drain */
	bool transparent;   /* connect to workloads from the client's address */
	pthread_mutex_t lock;
	struct keymap ids; /* "ns/sa" -> index into idents */
	struct ca_identity *idents;
	size_t nidents, idents_cap;
	struct keymap sessions; /* "node|ns/sa" -> index into session_list */
	SSL_SESSION **session_list;
	size_t nsessions, sessions_cap;
} px;

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static const char *ssl_err(void)
{
	static __thread char buf[256];
	unsigned long e = ERR_get_error();

	if (!e)
		return "connection closed";
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

/* ---- identities and certificates --------------------------------------- */

/* The certificate for NS/SA, issued on first use and again when a third of
 * its lifetime is left; connections keep the certificate they started with. */
static int identity_for(const char *ns, const char *sa, X509 **cert, EVP_PKEY **key)
{
	struct ca_issue_opts o = {.ns = ns, .service_account = sa, .lifetime_s = px.cert_lifetime};
	char k[160], err[512];
	size_t idx;
	int ret = 0;

	snprintf(k, sizeof(k), "%s/%s", ns, sa);
	pthread_mutex_lock(&px.lock);
	if (!keymap_get(&px.ids, k, strlen(k), &idx) ||
	    px.idents[idx].not_after - time(NULL) < px.cert_lifetime / 3) {
		struct ca_identity id;

		ret = ca_issue_mem(px.ca_dir, &o, &id, err, sizeof(err));
		if (ret) {
			pr_err("cannot issue a certificate for %s: %s", k, err);
			goto out;
		}
		if (keymap_get(&px.ids, k, strlen(k), &idx)) {
			ca_identity_free(&px.idents[idx]);
		} else {
			if (px.nidents == px.idents_cap) {
				size_t cap = px.idents_cap ? px.idents_cap * 2 : 16;
				struct ca_identity *n = realloc(px.idents, cap * sizeof(*n));

				if (!n) {
					ca_identity_free(&id);
					ret = -ENOMEM;
					goto out;
				}
				px.idents = n;
				px.idents_cap = cap;
			}
			idx = px.nidents++;
			keymap_put(&px.ids, k, strlen(k), idx, NULL);
		}
		px.idents[idx] = id;
		pr_info("issued %s, valid until %ld", id.id, (long)id.not_after);
	}
	*cert = px.idents[idx].cert;
	*key = px.idents[idx].key;
	X509_up_ref(*cert);
	EVP_PKEY_up_ref(*key);
out:
	pthread_mutex_unlock(&px.lock);
	return ret;
}

/* TLS 1.3 tickets arrive after the handshake: keep the newest per key. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct tunnel *t = SSL_get_app_data(ssl);
	size_t idx, len;

	if (!t || t->side != OUTBOUND || !t->key[0])
		return 0;
	len = strlen(t->key);
	pthread_mutex_lock(&px.lock);
	if (keymap_get(&px.sessions, t->key, len, &idx)) {
		SSL_SESSION_free(px.session_list[idx]);
		px.session_list[idx] = sess;
	} else {
		if (px.nsessions == px.sessions_cap) {
			size_t cap = px.sessions_cap ? px.sessions_cap * 2 : 16;
			SSL_SESSION **n = realloc(px.session_list, cap * sizeof(*n));

			if (!n) {
				pthread_mutex_unlock(&px.lock);
				return 0;
			}
			px.session_list = n;
			px.sessions_cap = cap;
		}
		idx = px.nsessions++;
		px.session_list[idx] = sess;
		keymap_put(&px.sessions, t->key, len, idx, NULL);
	}
	pthread_mutex_unlock(&px.lock);
	return 1; /* we keep the reference */
}

static SSL_SESSION *session_for(const char *key)
{
	SSL_SESSION *s = NULL;
	size_t idx;

	pthread_mutex_lock(&px.lock);
	if (keymap_get(&px.sessions, key, strlen(key), &idx) &&
	    SSL_SESSION_is_resumable(px.session_list[idx])) {
		s = px.session_list[idx];
		SSL_SESSION_up_ref(s);
	}
	pthread_mutex_unlock(&px.lock);
	return s;
}

/* The SPIFFE ID of the verified peer certificate, or -1. */
static int peer_spiffe(SSL *ssl, char *buf, size_t len)
{
	X509 *cert = SSL_get0_peer_certificate(ssl);
	GENERAL_NAMES *names;
	int i, found = -1;

	if (!cert || SSL_get_verify_result(ssl) != X509_V_OK)
		return -1;
	names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	for (i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
		GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
		const unsigned char *u;
		int ul;

		if (gn->type != GEN_URI)
			continue;
		u = ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier);
		ul = ASN1_STRING_length(gn->d.uniformResourceIdentifier);
		if (ul < 9 || memcmp(u, "spiffe://", 9) || (size_t)ul >= len)
			continue;
		memcpy(buf, u, (size_t)ul);
		buf[ul] = 0;
		found = found == -1 ? 0 : -2; /* exactly one */
	}
	GENERAL_NAMES_free(names);
	return found;
}

/* The inbound side speaks only the tunnel protocol. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)ssl, (void)arg;
	if (SSL_select_next_proto((unsigned char **)out, outlen, (const unsigned char *)TUNNEL_ALPN,
				  3, in, inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	return SSL_TLSEXT_ERR_OK;
}

static int load_bundle(SSL_CTX *ctx)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/bundle.pem", px.ca_dir);
	return SSL_CTX_load_verify_locations(ctx, path, NULL) == 1 ? 0 : -EINVAL;
}

/* Both TLS contexts from the CA directory as it is now. */
static int make_ctxs(SSL_CTX **server_out, SSL_CTX **client_out)
{
	SSL_CTX *server = SSL_CTX_new(TLS_server_method());
	SSL_CTX *client = SSL_CTX_new(TLS_client_method());
	char node_sa[80];
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	int err = -EINVAL;

	if (!server || !client) {
		err = -ENOMEM;
		goto fail;
	}
	SSL_CTX_set_min_proto_version(server, TLS1_3_VERSION);
	SSL_CTX_set_min_proto_version(client, TLS1_3_VERSION);
	/* AES-128-GCM first: as strong as the mesh needs, and the fastest suite
	 * with AES-NI; peers that prefer otherwise still negotiate the rest. */
	SSL_CTX_set_ciphersuites(server, PROXY_SUITES);
	SSL_CTX_set_ciphersuites(client, PROXY_SUITES);
	/* Both sides prove who they are, with certificates of the mesh CA. */
	SSL_CTX_set_verify(server, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_verify(client, SSL_VERIFY_PEER, NULL);
	if (load_bundle(server) || load_bundle(client)) {
		pr_err("cannot load %s/bundle.pem: %s", px.ca_dir, ssl_err());
		goto fail;
	}
	/* Resumed sessions keep the client identity they were made with. */
	SSL_CTX_set_session_id_context(server, (const unsigned char *)"shunt", 5);
	SSL_CTX_set_session_cache_mode(client,
				       SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(client, on_new_session);
	SSL_CTX_set_mode(server,
			 SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_mode(client,
			 SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* Read whole socket buffers, not a record header and then its body:
	 * two syscalls per 16 KiB record otherwise. */
	SSL_CTX_set_read_ahead(server, 1);
	SSL_CTX_set_read_ahead(client, 1);
	SSL_CTX_set_default_read_buffer_len(server, PROXY_BUF_SIZE);
	SSL_CTX_set_default_read_buffer_len(client, PROXY_BUF_SIZE);
	SSL_CTX_set_alpn_select_cb(server, alpn_select, NULL);
	if (SSL_CTX_set_alpn_protos(client, (const unsigned char *)TUNNEL_ALPN, 3)) {
		err = -ENOMEM;
		goto fail;
	}
	/* The inbound side speaks for the node: a tunnel carries streams of
	 * one client identity, each request naming its workload. */
	snprintf(node_sa, sizeof(node_sa), "node-%s", px.me->name);
	if (identity_for(SYSTEM_NS, node_sa, &cert, &key))
		goto fail;
	if (SSL_CTX_use_certificate(server, cert) != 1 ||
	    SSL_CTX_use_PrivateKey(server, key) != 1) {
		pr_err("cannot use the node certificate: %s", ssl_err());
		goto fail;
	}
	X509_free(cert);
	EVP_PKEY_free(key);
	*server_out = server;
	*client_out = client;
	return 0;
fail:
	X509_free(cert);
	EVP_PKEY_free(key);
	SSL_CTX_free(server);
	SSL_CTX_free(client);
	return err;
}

static int tls_setup(void)
{
	return make_ctxs(&px.server_ctx, &px.client_ctx);
}

/* The current context, referenced: a reload may replace it meanwhile. */
static SSL_CTX *ctx_get(bool server)
{
	SSL_CTX *ctx;

	pthread_mutex_lock(&px.lock);
	ctx = server ? px.server_ctx : px.client_ctx;
	SSL_CTX_up_ref(ctx);
	pthread_mutex_unlock(&px.lock);
	return ctx;
}

static time_t mtime_of(const char *name)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", px.ca_dir, name);
	return stat(path, &st) ? 0 : st.st_mtim.tv_sec * 1000000000L + st.st_mtim.tv_nsec;
}

/*
 * After `shunt ca rotate` (the bundle or the CA changed): new contexts, and
 * new certificates from the new CA for every identity. Open connections
 * keep what they were made with; the bundle still holds the old CA, so
 * peers that have not reloaded yet keep verifying both.
 */
static void reload_ca(void)
{
	SSL_CTX *server, *client, *old_server, *old_client;
	size_t i;

	pthread_mutex_lock(&px.lock);
	for (i = 0; i < px.nidents; i++)
		ca_identity_free(&px.idents[i]);
	px.nidents = 0;
	keymap_free(&px.ids);
	for (i = 0; i < px.nsessions; i++)
		SSL_SESSION_free(px.session_list[i]);
	px.nsessions = 0;
	keymap_free(&px.sessions);
	pthread_mutex_unlock(&px.lock);
	if (make_ctxs(&server, &client)) {
		pr_err("the CA in %s changed but cannot be used; keeping the previous one",
		       px.ca_dir);
		return;
	}
	pthread_mutex_lock(&px.lock);
	old_server = px.server_ctx;
	old_client = px.client_ctx;
	px.server_ctx = server;
	px.client_ctx = client;
	pthread_mutex_unlock(&px.lock);
	SSL_CTX_free(old_server);
	SSL_CTX_free(old_client);
	atomic_fetch_add(&px.ca_gen, 1);
	pr_info("the CA in %s changed: new trust bundle and certificates in use", px.ca_dir);
}

static void *ca_watch_main(void *arg)
{
	time_t seen = mtime_of("bundle.pem") + mtime_of("ca.crt"), now;

	(void)arg;
	while (!stopping) {
		sleep(1);
		now = mtime_of("bundle.pem") + mtime_of("ca.crt");
		if (now != seen) {
			seen = now;
			reload_ca();
		}
	}
	return NULL;
}

/* ---- lookups ----------------------------------------------------------- */

static const struct cfg_workload *workload_by_addr(const __u8 addr[16])
{
	size_t idx;

	return keymap_get(&px.by_addr, addr, 16, &idx) ? &px.cfg.workloads[idx] : NULL;
}

static const struct cfg_workload *workload_by_name(const char *qualified)
{
	size_t idx;

	return keymap_get(&px.by_name, qualified, strlen(qualified), &idx) ? &px.cfg.workloads[idx]
									   : NULL;
}

/* The kernel's identity for a workload name, and back (live generation). */
/*
 * The kernel's identity for a workload name, live generation. The names are
 * read once per config version into a map, not scanned per connection.
 */
static int ident_by_name(const char *qualified, __u32 *id)
{
	static struct keymap ids;
	static __u64 ids_version = (__u64)-1;
	struct shunt_name_key key, next, *prev = NULL;
	struct shunt_name name;
	__u64 version;
	size_t value;
	__u32 gen;
	int err = -ENOENT;

	if (mesh_state_read_fd(px.state_fd, &gen, &version))
		return -ENOENT;
	pthread_mutex_lock(&px.lock);
	if (version != ids_version) {
		keymap_free(&ids);
		while (!bpf_map_get_next_key(px.names_fd, prev, &next)) {
			key = next;
			prev = &key;
			if (key.gen != gen || key.kind != SHUNT_NAME_IDENT ||
			    bpf_map_lookup_elem(px.names_fd, &key, &name))
				continue;
			name.name[sizeof(name.name) - 1] = 0;
			keymap_put(&ids, name.name, strlen(name.name), key.id, NULL);
		}
		ids_version = version;
	}
	if (keymap_get(&ids, qualified, strlen(qualified), &value)) {
		*id = (__u32)value;
		err = 0;
	}
	pthread_mutex_unlock(&px.lock);
	return err;
}

/* ---- flow events -------------------------------------------------------- */

#define VERDICT_NONE 0xff /* not decided: no flow event */

/* Into the kernel's flow ring buffer, through shunt_flow_inject. */
static void flow_emit(const struct shunt_flow_event *ev)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = ev, .ctx_size_in = sizeof(*ev));

	if (px.flow_fd >= 0 && ev->verdict != VERDICT_NONE)
		bpf_prog_test_run_opts(px.flow_fd, &o);
}

static void flow_init(struct shunt_flow_event *ev, __u8 kind)
{
	memset(ev, 0, sizeof(*ev));
	ev->kind = kind;
	ev->proto = SHUNT_PROTO_TCP;
	ev->direction = kind == SHUNT_FLOW_PROXY_IN ? SHUNT_DIR_INGRESS : SHUNT_DIR_EGRESS;
	ev->verdict = VERDICT_NONE;
}

/* A tunnel refused before any stream: from its peer to us (inbound). */
static void flow_tunnel_refused(struct tunnel *t)
{
	struct shunt_flow_event ev;
	bool in = t->side == INBOUND;

	flow_init(&ev, in ? SHUNT_FLOW_PROXY_IN : SHUNT_FLOW_PROXY_OUT);
	memcpy(ev.src_addr, in ? t->peer_addr : t->local_addr, 16);
	ev.src_port = in ? t->peer_port : t->local_port;
	memcpy(ev.dst_addr, in ? t->local_addr : t->peer_addr, 16);
	ev.dst_port = in ? t->local_port : t->peer_port;
	ev.verdict = SHUNT_VERDICT_DENY;
	flow_emit(&ev);
}

/* Both ends of a tunnel's socket, while it has them (a refused peer may be
 * gone by the time it is refused). */
static void tunnel_note_ends(struct tunnel *t)
{
	struct sockaddr_storage peer, local;
	socklen_t pl = sizeof(peer), ll = sizeof(local);

	if (!getpeername(t->fd, (struct sockaddr *)&peer, &pl))
		shunt_addr_from_sockaddr((struct sockaddr *)&peer, t->peer_addr, &t->peer_port);
	if (!getsockname(t->fd, (struct sockaddr *)&local, &ll))
		shunt_addr_from_sockaddr((struct sockaddr *)&local, t->local_addr, &t->local_port);
}

/* ---- connections ------------------------------------------------------- */

static int set_nodelay(int fd)
{
	int one = 1;

	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* TLS over FD, its records gathered into one write(2) per flush instead of
 * one per 16 KiB record (proxy_tunnel.c flushes). */
static int tls_set_fd(SSL *ssl, int fd)
{
	BIO *rd = BIO_new_socket(fd, BIO_NOCLOSE), *wr = BIO_new_socket(fd, BIO_NOCLOSE);
	BIO *buf = BIO_new(BIO_f_buffer());

	if (!rd || !wr || !buf || BIO_set_write_buffer_size(buf, PROXY_BUF_SIZE + 4096) != 1) {
		BIO_free(rd);
		BIO_free(wr);
		BIO_free(buf);
		return -ENOMEM;
	}
	BIO_push(buf, wr);
	SSL_set_bio(ssl, rd, buf);
	return 0;
}

/* A new outbound tunnel to NODE for workloads of SRC's identity. */
static struct tunnel *outbound_tunnel(struct worker *w, const struct cfg_node *node,
				      const struct cfg_workload *src, const char *key)
{
	struct sockaddr_storage ss;
	SSL_SESSION *sess;
	X509 *cert = NULL;
	EVP_PKEY *pkey = NULL;
	struct tunnel *t;
	SSL_CTX *ctx;
	socklen_t slen;
	SSL *ssl;
	int fd;

	if (identity_for(src->ns, src->service_account, &cert, &pkey))
		return NULL;
	slen = shunt_addr_to_sockaddr(node->inbound.addr, node->inbound.port, &ss);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ctx = ctx_get(false);
	ssl = SSL_new(ctx);
	SSL_CTX_free(ctx);
	if (fd < 0 || !ssl || SSL_use_certificate(ssl, cert) != 1 ||
	    SSL_use_PrivateKey(ssl, pkey) != 1 || tls_set_fd(ssl, fd)) {
		X509_free(cert);
		EVP_PKEY_free(pkey);
		SSL_free(ssl);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	X509_free(cert);
	EVP_PKEY_free(pkey);
	SSL_set_connect_state(ssl);
	set_nodelay(fd);
	if (connect(fd, (struct sockaddr *)&ss, slen) && errno != EINPROGRESS) {
		SSL_free(ssl);
		close(fd);
		return NULL;
	}
	t = tunnel_new(w, OUTBOUND, fd, ssl, true, atomic_load(&px.ca_gen));
	if (!t)
		return NULL;
	snprintf(t->key, sizeof(t->key), "%s", key);
	snprintf(t->peer_node, sizeof(t->peer_node), "%s", node->name);
	memcpy(t->peer_addr, node->inbound.addr, 16);
	t->peer_port = node->inbound.port;
	tunnel_note_ends(t);
	/* The session ticket of an earlier tunnel: a shorter handshake. */
	sess = session_for(key);
	if (sess) {
		SSL_set_session(ssl, sess);
		SSL_SESSION_free(sess);
	}
	return t;
}

/* Outbound: a workload's connection, redirected here by the connect hook. */
static void accept_outbound(struct worker *w, int fd)
{
	struct shunt_proxy_key key = {};
	struct shunt_proxy_orig orig;
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	const struct cfg_workload *dst, *src;
	const struct cfg_node *node;
	struct shunt_name name;
	struct shunt_name_key nk = {.kind = SHUNT_NAME_IDENT};
	char authority[80], source_addr[80], tkey[300];
	struct pstream *s;
	struct tunnel *t;
	__u64 version;

	set_nodelay(fd);
	s = pstream_new(w, OUTBOUND, fd);
	if (!s) {
		close(fd);
		return;
	}
	snprintf(s->desc, sizeof(s->desc), "(unknown)");
	if (getpeername(fd, (struct sockaddr *)&peer, &plen)) {
		pstream_drop(s, "getpeername");
		return;
	}
	shunt_addr_from_sockaddr((struct sockaddr *)&peer, key.addr, &key.port);
	flow_init(&s->flow, SHUNT_FLOW_PROXY_OUT);
	memcpy(s->flow.src_addr, key.addr, 16);
	s->flow.src_port = key.port;
	if (bpf_map_lookup_elem(px.orig_fd, &key, &orig)) {
		pstream_drop(s, "refused: the kernel sent no connection from this address here");
		return;
	}
	bpf_map_delete_elem(px.orig_fd, &key);
	s->flow.src_id = orig.src_id;
	s->flow.dst_id = orig.dst_id;
	memcpy(s->flow.dst_addr, orig.addr, 16);
	s->flow.dst_port = orig.port;
	shunt_endpoint_format(key.addr, key.port, source_addr, sizeof(source_addr));
	shunt_endpoint_format(orig.addr, orig.port, authority, sizeof(authority));
	dst = workload_by_addr(orig.addr);
	node = dst ? cfg_node_find(&px.cfg, dst->node) : NULL;
	nk.id = orig.src_id;
	if (mesh_state_read_fd(px.state_fd, &nk.gen, &version) ||
	    bpf_map_lookup_elem(px.names_fd, &nk, &name))
		name.name[0] = 0;
	name.name[sizeof(name.name) - 1] = 0;
	snprintf(s->desc, sizeof(s->desc), "%.110s -> %.80s", name.name, authority);
	src = workload_by_name(name.name);
	if (!dst || !src || !node || !node->has_proxy) {
		pstream_drop(s, "refused: unknown source, destination or destination node proxy");
		return;
	}
	/* Streams of one identity to one node share tunnels. */
	snprintf(tkey, sizeof(tkey), "%s|%s/%s", node->name, src->ns, src->service_account);
	t = tunnel_pool_find(w, tkey, atomic_load(&px.ca_gen), time(NULL) - px.cert_lifetime / 3);
	if (t)
		atomic_fetch_add(&proxy_stats.streams_pooled, 1);
	else
		t = outbound_tunnel(w, node, src, tkey);
	if (!t) {
		pstream_drop(s, "cannot reach the destination node's proxy");
		return;
	}
	if (tunnel_open_stream(t, s, authority, name.name, source_addr))
		pstream_drop(s, "cannot open a stream");
}

static void accept_inbound(struct worker *w, int fd)
{
	SSL_CTX *ctx = ctx_get(true);
	SSL *ssl = SSL_new(ctx);
	struct tunnel *t;

	SSL_CTX_free(ctx);
	set_nodelay(fd);
	if (!ssl || tls_set_fd(ssl, fd)) {
		pr_warn("inbound: cannot set up TLS: %s", ssl_err());
		SSL_free(ssl);
		close(fd);
		return;
	}
	SSL_set_accept_state(ssl);
	t = tunnel_new(w, INBOUND, fd, ssl, false, atomic_load(&px.ca_gen));
	if (t)
		tunnel_note_ends(t);
}

const char *proxy_peer_verified(struct tunnel *t)
{
	char want[SHUNT_SPIFFE_MAX], sa[80];

	if (peer_spiffe(t->ssl, t->peer_id, sizeof(t->peer_id))) {
		snprintf(t->peer_id, sizeof(t->peer_id), "(no identity)");
		flow_tunnel_refused(t);
		return "refused: the peer certificate has no single identity";
	}
	if (t->side == INBOUND)
		return NULL; /* each stream is checked against it */
	snprintf(sa, sizeof(sa), "node-%s", t->peer_node);
	if (ca_spiffe_id(want, sizeof(want), px.cfg.trust_domain, SYSTEM_NS, sa) ||
	    strcmp(want, t->peer_id)) {
		flow_tunnel_refused(t);
		return "refused: the peer is not that node's proxy";
	}
	return NULL;
}

void proxy_handshake_failed(struct tunnel *t)
{
	long v = SSL_get_verify_result(t->ssl);
	const char *e = ssl_err();

	pr_info("%s tunnel %s: TLS handshake failed: %s%s%s",
		t->side == OUTBOUND ? "outbound" : "inbound", t->side == OUTBOUND ? t->key : "", e,
		v != X509_V_OK ? ": peer certificate " : "",
		v != X509_V_OK ? X509_verify_cert_error_string(v) : "");
	proxy_stats_handshake_failure(v, e);
	flow_tunnel_refused(t);
}

void proxy_stream_ended(struct pstream *s, const char *why)
{
	/* from_plain is towards the server on the outbound side. */
	bool out = s->side == OUTBOUND;

	if (s->asserted)
		bpf_map_delete_elem(px.asserted_fd, &s->assert_key);
	atomic_fetch_add(&proxy_stats.bytes_to_server, out ? s->from_plain : 0);
	atomic_fetch_add(&proxy_stats.bytes_to_client, out ? s->to_plain : 0);
	if (!why)
		return;
	/* The outbound side learns of a refusal from its peer, or cannot
	 * reach it: a denied flow of this node too. */
	if (out && (!strncmp(why, "refused", 7) || strstr(why, "cannot reach"))) {
		s->flow.verdict = SHUNT_VERDICT_DENY;
		flow_emit(&s->flow);
	}
	if (!strncmp(why, "refused", 7) || strstr(why, "cannot connect") ||
	    strstr(why, "destination refused"))
		proxy_stats_refusal(why);
	pr_info("%s %s: %s (%llu bytes to the server, %llu back)", out ? "outbound" : "inbound",
		s->desc, why, out ? s->from_plain : s->to_plain, out ? s->to_plain : s->from_plain);
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

/* Binds FD to the node's pod-facing address of FAMILY; NULL or why not. */
static const char *bind_node_address(int fd, int family)
{
	struct sockaddr_storage b;
	socklen_t len;

	if (family == AF_INET6 && !px.me->has_outbound6)
		return "refused: this node has no IPv6 pod-facing proxy address (outbound6)";
	len = shunt_addr_to_sockaddr(
	    family == AF_INET ? px.me->outbound.addr : px.me->outbound6.addr, 0, &b);
	if (bind(fd, (struct sockaddr *)&b, len))
		return "cannot bind to the node's pod-facing address";
	return NULL;
}

/* Inbound: a request is in; check it against the certificate and policy,
 * then connect to the workload. Returns a reason to refuse, or NULL. Sets
 * s->flow.verdict once the identity and policy are decided. */
static const char *inbound_open(struct pstream *s, const char *peer_id)
{
	const struct cfg_workload *src, *dst;
	struct sockaddr_storage ss, local;
	socklen_t slen, llen = sizeof(local);
	char want[SHUNT_SPIFFE_MAX];
	struct shunt_proxy_asserted as = {0};
	__u32 src_id = 0, dst_id, rule, gen;
	bool src_known;
	__u8 addr[16];
	__u64 version;
	__u16 port;
	__u8 verdict;
	int fd;

	snprintf(s->desc, sizeof(s->desc), "%s (%s) -> %s", s->source, peer_id, s->authority);
	flow_init(&s->flow, SHUNT_FLOW_PROXY_IN);
	s->flow.verdict = SHUNT_VERDICT_DENY; /* until decided otherwise */
	if (shunt_endpoint_parse(s->source_addr, s->flow.src_addr, &s->flow.src_port))
		s->flow.src_port = 0; /* not given: informational only */
	if (shunt_endpoint_parse(s->authority, addr, &port))
		return "refused: not a CONNECT to an address and port";
	memcpy(s->flow.dst_addr, addr, 16);
	s->flow.dst_port = port;
	src = workload_by_name(s->source);
	dst = workload_by_addr(addr);
	if (!src)
		return "refused: unknown source workload";
	/* Looked up once, early: denied flows name the source too. */
	src_known = ident_by_name(s->source, &src_id) == 0;
	if (src_known)
		s->flow.src_id = src_id;
	if (ca_spiffe_id(want, sizeof(want), px.cfg.trust_domain, src->ns, src->service_account) ||
	    strcmp(want, peer_id))
		return "refused: the certificate's identity is not the source workload's";
	if (!dst || strcmp(dst->node, px.me->name))
		return "refused: the destination is not a workload of this node";
	if (!src_known || mesh_state_read_fd(px.state_fd, &gen, &version))
		return "refused: the source is unknown to the kernel";
	{
		char q[160];

		snprintf(q, sizeof(q), "%s/%s", dst->ns, dst->name);
		if (ident_by_name(q, &dst_id))
			return "refused: the destination is unknown to the kernel";
	}
	s->flow.dst_id = dst_id;
	{
		struct shunt_policy_query pq = {.direction = SHUNT_DIR_INGRESS,
						.proto = SHUNT_PROTO_TCP,
						.port = port,
						.subject = dst_id,
						.peer = src_id};

		if (mesh_policy_query(px.policy_fd, &pq))
			return "refused: the kernel did not answer the policy query";
		verdict = (__u8)pq.verdict;
		rule = pq.rule;
	}
	s->flow.rule = rule;
	if (verdict != SHUNT_VERDICT_ALLOW)
		return "refused by the destination's ingress policy";
	s->flow.verdict = SHUNT_VERDICT_ALLOW;

	/* Connect from the client's own address (transparent) or the node's
	 * pod-facing one, with the verified identity asserted to the kernel
	 * for this exact address and port. */
	slen = shunt_addr_to_sockaddr(addr, port, &ss);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return "cannot open a socket";
	if (pstream_attach(s, fd)) {
		close(fd);
		return "cannot open a socket (epoll)";
	}
	{
		__u8 caddr[16];
		__u16 cport;
		const char *why = NULL;
		int err = -EAFNOSUPPORT;

		if (px.transparent &&
		    client_address(src, s->flow.src_addr, ss.ss_family == AF_INET, caddr))
			err = tproxy_bind(fd, caddr, &cport);
		if (err && px.transparent)
			pr_warn("inbound %s: cannot use the client's address (%s): from the "
				"node's instead",
				s->desc, strerror(-err));
		if (err && (why = bind_node_address(fd, ss.ss_family)))
			return why;
	}
	if (getsockname(fd, (struct sockaddr *)&local, &llen))
		return "cannot open a socket (getsockname)";
	memset(&s->assert_key, 0, sizeof(s->assert_key));
	shunt_addr_from_sockaddr((struct sockaddr *)&local, s->assert_key.addr,
				 &s->assert_key.port);
	as.src_id = src_id;
	if (bpf_map_update_elem(px.asserted_fd, &s->assert_key, &as, BPF_ANY))
		return "cannot assert the identity to the kernel";
	s->asserted = true;
	set_nodelay(fd);
	if (connect(fd, (struct sockaddr *)&ss, slen) && errno != EINPROGRESS)
		return "cannot connect to the destination";
	return NULL;
}

const char *proxy_inbound_open(struct pstream *s, const char *peer_id)
{
	const char *why = inbound_open(s, peer_id);

	flow_emit(&s->flow); /* decided: allowed, or refused */
	return why;
}

static void accept_all(struct worker *w, int lfd, bool inbound)
{
	static _Atomic time_t warned;

	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			time_t now = time(NULL);

			if ((errno == EMFILE || errno == ENFILE) &&
			    atomic_exchange(&warned, now) != now)
				pr_warn("cannot accept: %s (connections open: %lld)",
					strerror(errno),
					(long long)atomic_load(&proxy_stats.active[OUTBOUND]) +
					    (long long)atomic_load(&proxy_stats.active[INBOUND]));
			return;
		}
		if (inbound)
			accept_inbound(w, fd);
		else
			accept_outbound(w, fd);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[64];
	time_t last = time(NULL);
	int n, i;

	while (!stopping) {
		n = epoll_wait(w->ep, evs, 64, 1000);
		for (i = 0; i < n; i++) {
			struct endpoint *ep = evs[i].data.ptr;

			if (evs[i].data.ptr == &w->out_fd) {
				accept_all(w, w->out_fd, false);
			} else if (evs[i].data.ptr == &w->out6_fd) {
				accept_all(w, w->out6_fd, false);
			} else if (evs[i].data.ptr == &w->in_fd) {
				accept_all(w, w->in_fd, true);
			} else if (ep->is_tunnel) {
				/* Closed earlier in this batch: still allocated, marked dead. */
				tunnel_event(ep->obj);
			} else {
				pstream_event(ep->obj);
			}
		}
		if (time(NULL) != last) {
			last = time(NULL);
			proxy_worker_expire(w, px.idle_timeout);
		}
		proxy_worker_reap(w);
	}
	proxy_worker_close_all(w);
	return NULL;
}

static void *metrics_main(void *arg)
{
	int fd = (int)(intptr_t)arg;
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	while (!stopping)
		if (poll(&pfd, 1, 500) > 0)
			http_serve_one(fd, proxy_metrics_handler, NULL);
	close(fd);
	return NULL;
}

static int listen_on(const struct cfg_endpoint *e, bool any)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1;

	len = shunt_addr_to_sockaddr(e->addr, e->port, &ss);
	if (any && ss.ss_family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_addr.s_addr = htonl(INADDR_ANY);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 4096)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int index_config(void)
{
	char q[160];
	size_t i, j;
	int err;

	for (i = 0; i < px.cfg.nworkloads; i++) {
		const struct cfg_workload *wl = &px.cfg.workloads[i];

		snprintf(q, sizeof(q), "%s/%s", wl->ns, wl->name);
		if ((err = keymap_put(&px.by_name, q, strlen(q), i, NULL)))
			return err;
		for (j = 0; j < wl->naddrs; j++)
			if ((err = keymap_put(&px.by_addr, wl->addrs[j].addr, 16, i, NULL)))
				return err;
	}
	return 0;
}

/* Each proxied connection holds a descriptor on each proxy (tunnels add
 * one per 128): the usual 1024 would cap a node far below 10,000
 * connections. Raising the hard limit needs CAP_SYS_RESOURCE. */
static void raise_fd_limit(void)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r) || r.rlim_cur >= FD_LIMIT)
		return;
	r.rlim_cur = FD_LIMIT;
	if (r.rlim_max < FD_LIMIT)
		r.rlim_max = FD_LIMIT;
	if (setrlimit(RLIMIT_NOFILE, &r)) {
		getrlimit(RLIMIT_NOFILE, &r);
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
		getrlimit(RLIMIT_NOFILE, &r);
		pr_warn("file descriptors limited to %llu (no CAP_SYS_RESOURCE to raise it): "
			"at most about that many proxied connections",
			(unsigned long long)r.rlim_cur);
	}
}

int proxy_run(const struct shunt_pins *pins, const struct proxy_opts *opts)
{
	struct worker *workers = NULL;
	struct shunt_features feats;
	struct cfg_error cerr;
	int feats_err;
	int nthreads = opts->threads, i, err;
	struct sigaction sa = {.sa_handler = on_signal};

	memset(&px, 0, sizeof(px));
	pthread_mutex_init(&px.lock, NULL);
	px.ca_dir = opts->ca_dir;
	px.cert_lifetime = opts->cert_lifetime_s ? opts->cert_lifetime_s : 86400;
	px.idle_timeout = opts->idle_timeout_s ? opts->idle_timeout_s : 3600;
	px.orig_fd = px.asserted_fd = px.names_fd = px.state_fd = px.policy_fd = -1;
	err = mesh_config_load(&px.cfg, opts->config, &cerr);
	if (err) {
		pr_err("%s", cerr.msg);
		return err;
	}
	px.me = cfg_node_find(&px.cfg, opts->node);
	if (!px.me || !px.me->has_proxy) {
		pr_err("node %s has no proxy section in %s", opts->node, opts->config);
		err = -EINVAL;
		goto out;
	}
	if ((err = index_config()))
		goto out;
	/* What the loader found this kernel can do: an older datapath records
	 * nothing, and then gets what this version assumed before. */
	feats_err = shunt_features_read(pins, &feats);
	px.orig_fd = shunt_pinned_map_fd(pins, "shunt_proxy_orig");
	px.asserted_fd = shunt_pinned_map_fd(pins, "shunt_proxy_asserted");
	px.names_fd = shunt_pinned_map_fd(pins, "shunt_names");
	px.state_fd = shunt_pinned_map_fd(pins, "shunt_mesh_state");
	{
		char path[PATH_MAX];

		px.flow_fd = -1;
		if (!shunt_pin_path(path, sizeof(path), pins->progs, "shunt_flow_inject"))
			px.flow_fd = bpf_obj_get(path);
		if (px.flow_fd < 0)
			pr_warn("no flow events from the proxy: %s is not pinned (reload the "
				"datapath with this version)",
				path);
	}
	px.policy_fd = mesh_policy_query_open(pins);
	if (px.orig_fd < 0 || px.asserted_fd < 0 || px.names_fd < 0 || px.state_fd < 0 ||
	    px.policy_fd < 0) {
		pr_err("the datapath is not loaded under %s (start `shunt agent` first)",
		       pins->root);
		err = -ENOENT;
		goto out;
	}
	if ((err = tls_setup()))
		goto out;
	raise_fd_limit();
	if (!px.me->source_from_node) {
		const char *why;

		char path[PATH_MAX];
		int prog = -1;

		why = "the datapath has no shunt_tproxy_mark (reload it with this version)";
		if (!shunt_pin_path(path, sizeof(path), pins->progs, "shunt_tproxy_mark"))
			prog = bpf_obj_get(path);
		px.transparent =
		    prog >= 0 &&
		    !tproxy_start(px.me, prog,
				  feats_err || shunt_feature_on(&feats, SHUNT_FEAT_TCX), &why);
		if (prog >= 0)
			close(prog); /* the link holds it */
		if (!px.transparent)
			pr_warn("sourceAddress client: %s; workloads see the node's address", why);
	}
	{
		pthread_t wt;

		if (!pthread_create(&wt, NULL, ca_watch_main, NULL))
			pthread_detach(wt);
	}
	if (opts->metrics && strcmp(opts->metrics, "none")) {
		pthread_t mt;
		int mfd = http_listen(opts->metrics);

		if (mfd < 0) {
			pr_err("cannot serve metrics on %s: %s", opts->metrics, strerror(-mfd));
			err = mfd;
			goto out;
		}
		if (pthread_create(&mt, NULL, metrics_main, (void *)(intptr_t)mfd)) {
			close(mfd);
			err = -EAGAIN;
			goto out;
		}
		pthread_detach(mt);
	}
	if (nthreads <= 0)
		nthreads = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (nthreads <= 0)
		nthreads = 1;
	workers = calloc((size_t)nthreads, sizeof(*workers));
	if (!workers) {
		err = -ENOMEM;
		goto out;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < nthreads; i++) {
		struct worker *w = &workers[i];
		struct epoll_event ev = {.events = EPOLLIN};

		w->ep = epoll_create1(EPOLL_CLOEXEC);
		/* Outbound: every address of the node (pods use the gateway). */
		w->out_fd = listen_on(&px.me->outbound, false);
		w->in_fd = listen_on(&px.me->inbound, false);
		w->out6_fd = px.me->has_outbound6 ? listen_on(&px.me->outbound6, false) : -1;
		if (w->ep < 0 || w->out_fd < 0 || w->in_fd < 0 ||
		    (px.me->has_outbound6 && w->out6_fd < 0)) {
			pr_err("cannot listen: %s", strerror(w->out_fd < 0  ? -w->out_fd
							     : w->in_fd < 0 ? -w->in_fd
									    : -w->out6_fd));
			err = -EADDRINUSE;
			nthreads = i + 1;
			goto stop;
		}
		ev.data.ptr = &w->out_fd;
		epoll_ctl(w->ep, EPOLL_CTL_ADD, w->out_fd, &ev);
		ev.data.ptr = &w->in_fd;
		epoll_ctl(w->ep, EPOLL_CTL_ADD, w->in_fd, &ev);
		if (w->out6_fd >= 0) {
			ev.data.ptr = &w->out6_fd;
			epoll_ctl(w->ep, EPOLL_CTL_ADD, w->out6_fd, &ev);
		}
		if (pthread_create(&w->thread, NULL, worker_main, w)) {
			err = -EAGAIN;
			nthreads = i;
			goto stop;
		}
	}
	{
		char o[SHUNT_ADDR_STRLEN], in[SHUNT_ADDR_STRLEN];

		shunt_addr_format(px.me->outbound.addr, o, sizeof(o));
		shunt_addr_format(px.me->inbound.addr, in, sizeof(in));
		pr_info("proxy of node %s: outbound %s:%u, inbound (mTLS) %s:%u, %d threads",
			px.me->name, o, px.me->outbound.port, in, px.me->inbound.port, nthreads);
	}
	for (i = 0; i < nthreads; i++)
		pthread_join(workers[i].thread, NULL);
	pr_info("proxy stopped");
	goto out;
stop:
	stopping = 1;
	for (i = 0; i < nthreads; i++)
		if (workers[i].thread)
			pthread_join(workers[i].thread, NULL);
out:
	if (workers) {
		for (i = 0; i < nthreads; i++) {
			if (workers[i].ep > 0)
				close(workers[i].ep);
			if (workers[i].out_fd > 0)
				close(workers[i].out_fd);
			if (workers[i].out6_fd > 0)
				close(workers[i].out6_fd);
			if (workers[i].in_fd > 0)
				close(workers[i].in_fd);
		}
		free(workers);
	}
	if (px.transparent)
		tproxy_stop(px.me);
	SSL_CTX_free(px.server_ctx);
	SSL_CTX_free(px.client_ctx);
	for (size_t k = 0; k < px.nidents; k++)
		ca_identity_free(&px.idents[k]);
	free(px.idents);
	for (size_t k = 0; k < px.nsessions; k++)
		SSL_SESSION_free(px.session_list[k]);
	free(px.session_list);
	keymap_free(&px.ids);
	keymap_free(&px.sessions);
	keymap_free(&px.by_addr);
	keymap_free(&px.by_name);
	mesh_config_free(&px.cfg);
	return err;
}
