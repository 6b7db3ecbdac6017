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
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "addr.h"
#include "ca.h"
#include "http_server.h"
#include "keymap.h"
#include "log.h"
#include "mesh_apply.h"
#include "mesh_config.h"
#include "mesh_read.h"
#include "mesh_shared.h"
#include "proxy_stats.h"

#define BUF_SIZE	(256 * 1024)
#define PROXY_SUITES	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define HDR_MAGIC	0x53484e54u /* "SHNT" */
#define HDR_VERSION	1
#define SETUP_TIMEOUT_S 10
#define SYSTEM_NS	"shunt-system"

/*
 * The stream header, the first 128 bytes the outbound proxy sends inside
 * TLS (docs/proxy.md): where the connection goes and which workload made
 * it. The certificate proves the workload's identity; the inbound proxy
 * checks that the named workload runs as that identity.
 */
struct proxy_header {
	__u32 magic; /* network order */
	__u8 version;
	__u8 reserved;
	__u16 port;	  /* network order */
	__u8 addr[16];	  /* v4-mapped for IPv4 */
	char source[104]; /* "namespace/name", NUL-padded */
};
_Static_assert(sizeof(struct proxy_header) == 128, "the wire header is 128 bytes");

struct buf {
	size_t start, end;
	char data[BUF_SIZE];
};

enum conn_kind { OUTBOUND, INBOUND };
enum conn_state { ST_CONNECTING, ST_HANDSHAKE, ST_HEADER, ST_UPSTREAM, ST_RELAY };

struct conn;
struct endpoint {
	struct conn *c;
	bool tls;
};

struct conn {
	enum conn_kind kind;
	enum conn_state st;
	int pfd, tfd; /* plain side, TLS side */
	SSL *ssl;
	struct buf up;	 /* plain -> TLS */
	struct buf down; /* TLS -> plain */
	bool p_eof, t_eof, p_shut, t_shut, upstream_ready;
	struct endpoint ep_p, ep_t;
	time_t started, active; /* set up; last byte moved */
	char sess_key[300];	/* outbound: session cache key (node|identity) */
	char peer_node[64];
	bool asserted;
	struct shunt_proxy_key assert_key;
	char desc[200];
	unsigned long long up_bytes, down_bytes;
	bool dead; /* closed; freed after the current batch of events */
	struct conn *next, *prev;
};

struct worker {
	int ep;
	int out_fd, out6_fd, in_fd; /* out6_fd -1: no IPv6 outbound */
	struct conn *conns;
	struct conn *dead; /* closed in this batch: events may still name them */
	pthread_t thread;
};

/* Shared, read-only after start (the caches have their own lock). */
static struct {
	struct mesh_config cfg;
	const struct cfg_node *me;
	struct keymap by_addr, by_name; /* workload address / "ns/name" -> index */
	int orig_fd, asserted_fd, names_fd, state_fd;
	struct mesh_policy_fds pol;
	SSL_CTX *server_ctx, *client_ctx;
	const char *ca_dir;
	long cert_lifetime;
	long idle_timeout;
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
	struct conn *c = SSL_get_app_data(ssl);
	size_t idx, len;

	if (!c || !c->sess_key[0])
		return 0;
	len = strlen(c->sess_key);
	pthread_mutex_lock(&px.lock);
	if (keymap_get(&px.sessions, c->sess_key, len, &idx)) {
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
		keymap_put(&px.sessions, c->sess_key, len, idx, NULL);
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
	SSL_CTX_set_default_read_buffer_len(server, BUF_SIZE);
	SSL_CTX_set_default_read_buffer_len(client, BUF_SIZE);
	/* The inbound side speaks for the node: it learns which workload a
	 * stream is for only from the header, after the handshake. */
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

/* ---- connections ------------------------------------------------------- */

static void conn_free(struct worker *w, struct conn *c, const char *why)
{
	/* up is client -> server on the outbound side, server -> client inbound. */
	atomic_fetch_add(&proxy_stats.bytes_to_server, c->kind == OUTBOUND ? c->up_bytes : 0);
	atomic_fetch_add(&proxy_stats.bytes_to_client, c->kind == OUTBOUND ? c->down_bytes : 0);
	atomic_fetch_sub(&proxy_stats.active[c->kind], 1);
	atomic_fetch_add(&proxy_stats.closed[c->kind], 1);
	if (why && !strcmp(why, "reset"))
		atomic_fetch_add(&proxy_stats.resets[c->kind], 1);
	if (why && (!strncmp(why, "refused", 7) || strstr(why, "cannot connect") ||
		    strstr(why, "destination refused")))
		proxy_stats_refusal(why);
	if (why)
		pr_info("%s %s: %s (%llu bytes to the server, %llu back)",
			c->kind == OUTBOUND ? "outbound" : "inbound", c->desc, why,
			c->kind == OUTBOUND ? c->up_bytes : c->down_bytes,
			c->kind == OUTBOUND ? c->down_bytes : c->up_bytes);
	if (c->asserted)
		bpf_map_delete_elem(px.asserted_fd, &c->assert_key);
	if (c->ssl)
		SSL_free(c->ssl);
	if (c->pfd >= 0)
		close(c->pfd);
	if (c->tfd >= 0)
		close(c->tfd);
	c->ssl = NULL;
	c->pfd = c->tfd = -1;
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->dead = true;
	c->prev = NULL;
	c->next = w->dead;
	w->dead = c;
}

static void reap(struct worker *w)
{
	struct conn *c = w->dead, *next;

	for (; c; c = next) {
		next = c->next;
		free(c);
	}
	w->dead = NULL;
}

static struct conn *conn_new(struct worker *w, enum conn_kind kind)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->kind = kind;
	c->pfd = c->tfd = -1;
	c->ep_p = (struct endpoint){c, false};
	c->ep_t = (struct endpoint){c, true};
	c->started = c->active = time(NULL);
	atomic_fetch_add(&proxy_stats.conns[kind], 1);
	atomic_fetch_add(&proxy_stats.active[kind], 1);
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	return c;
}

static int watch(struct worker *w, int fd, struct endpoint *ep)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
				 .data.ptr = ep};

	return epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

static int set_nodelay(int fd)
{
	int one = 1;

	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void to_sockaddr(const __u8 addr[16], __u16 port, struct sockaddr_storage *ss,
			socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (shunt_addr_is_v4(addr)) {
		struct sockaddr_in *s = (struct sockaddr_in *)ss;

		s->sin_family = AF_INET;
		memcpy(&s->sin_addr, addr + 12, 4);
		s->sin_port = htons(port);
		*len = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;

		s->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, addr, 16);
		s->sin6_port = htons(port);
		*len = sizeof(*s);
	}
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
	struct sockaddr_storage ss;
	struct proxy_header *h;
	struct shunt_name name;
	struct shunt_name_key nk = {.kind = SHUNT_NAME_IDENT};
	SSL_SESSION *sess;
	X509 *cert = NULL;
	EVP_PKEY *pkey = NULL;
	char dst_text[SHUNT_ADDR_STRLEN];
	socklen_t slen;
	struct conn *c;
	__u64 version;

	c = conn_new(w, OUTBOUND);
	if (!c) {
		close(fd);
		return;
	}
	c->pfd = fd;
	set_nodelay(fd);
	snprintf(c->desc, sizeof(c->desc), "(unknown)");
	if (getpeername(fd, (struct sockaddr *)&peer, &plen)) {
		conn_free(w, c, "getpeername");
		return;
	}
	if (peer.ss_family == AF_INET) {
		const struct sockaddr_in *p4 = (const void *)&peer;

		memset(key.addr + 10, 0xff, 2);
		memcpy(key.addr + 12, &p4->sin_addr, 4);
		key.port = ntohs(p4->sin_port);
	} else {
		const struct sockaddr_in6 *p6 = (const void *)&peer;

		memcpy(key.addr, &p6->sin6_addr, 16);
		key.port = ntohs(p6->sin6_port);
	}
	if (bpf_map_lookup_elem(px.orig_fd, &key, &orig)) {
		conn_free(w, c, "refused: the kernel sent no connection from this address here");
		return;
	}
	bpf_map_delete_elem(px.orig_fd, &key);
	shunt_addr_format(orig.addr, dst_text, sizeof(dst_text));
	dst = workload_by_addr(orig.addr);
	node = dst ? cfg_node_find(&px.cfg, dst->node) : NULL;
	nk.id = orig.src_id;
	if (mesh_state_read_fd(px.state_fd, &nk.gen, &version) ||
	    bpf_map_lookup_elem(px.names_fd, &nk, &name))
		name.name[0] = 0;
	name.name[sizeof(name.name) - 1] = 0;
	snprintf(c->desc, sizeof(c->desc), "%s -> %s:%u", name.name, dst_text, orig.port);
	src = workload_by_name(name.name);
	if (!dst || !src || !node || !node->has_proxy) {
		conn_free(w, c, "refused: unknown source, destination or destination node proxy");
		return;
	}
	if (identity_for(src->ns, src->service_account, &cert, &pkey)) {
		conn_free(w, c, "refused: no certificate for the source identity");
		return;
	}
	/* The header goes first on the TLS side. */
	h = (struct proxy_header *)c->up.data;
	memset(h, 0, sizeof(*h));
	h->magic = htonl(HDR_MAGIC);
	h->version = HDR_VERSION;
	h->port = htons(orig.port);
	memcpy(h->addr, orig.addr, 16);
	snprintf(h->source, sizeof(h->source), "%s", name.name);
	c->up.end = sizeof(*h);
	snprintf(c->peer_node, sizeof(c->peer_node), "%s", node->name);
	snprintf(c->sess_key, sizeof(c->sess_key), "%s|%s/%s", node->name, src->ns,
		 src->service_account);

	to_sockaddr(node->inbound.addr, node->inbound.port, &ss, &slen);
	c->tfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	{
		SSL_CTX *ctx = ctx_get(false);

		c->ssl = SSL_new(ctx);
		SSL_CTX_free(ctx);
	}
	if (c->tfd < 0 || !c->ssl || SSL_use_certificate(c->ssl, cert) != 1 ||
	    SSL_use_PrivateKey(c->ssl, pkey) != 1 || SSL_set_fd(c->ssl, c->tfd) != 1) {
		X509_free(cert);
		EVP_PKEY_free(pkey);
		conn_free(w, c, "cannot set up TLS");
		return;
	}
	X509_free(cert);
	EVP_PKEY_free(pkey);
	SSL_set_app_data(c->ssl, c);
	SSL_set_connect_state(c->ssl);
	sess = session_for(c->sess_key);
	if (sess) {
		SSL_set_session(c->ssl, sess);
		SSL_SESSION_free(sess);
	}
	set_nodelay(c->tfd);
	if (connect(c->tfd, (struct sockaddr *)&ss, slen) && errno != EINPROGRESS) {
		conn_free(w, c, "cannot reach the destination node's proxy");
		return;
	}
	c->st = ST_CONNECTING;
	if (watch(w, c->pfd, &c->ep_p) || watch(w, c->tfd, &c->ep_t))
		conn_free(w, c, "epoll");
}

static void accept_inbound(struct worker *w, int fd)
{
	struct conn *c = conn_new(w, INBOUND);

	if (!c) {
		close(fd);
		return;
	}
	c->tfd = fd;
	snprintf(c->desc, sizeof(c->desc), "(handshake)");
	set_nodelay(fd);
	{
		SSL_CTX *ctx = ctx_get(true);

		c->ssl = SSL_new(ctx);
		SSL_CTX_free(ctx);
	}
	if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
		conn_free(w, c, "cannot set up TLS");
		return;
	}
	SSL_set_app_data(c->ssl, NULL);
	SSL_set_accept_state(c->ssl);
	c->st = ST_HANDSHAKE;
	if (watch(w, c->tfd, &c->ep_t))
		conn_free(w, c, "epoll");
}

/* Inbound: the header is in; check it against the certificate and policy,
 * then connect to the workload. Returns a reason to refuse, or NULL. */
static const char *inbound_open(struct worker *w, struct conn *c, const char *peer_id)
{
	struct proxy_header h;
	const struct cfg_workload *src, *dst;
	struct sockaddr_storage ss, local;
	socklen_t slen, llen = sizeof(local);
	char want[SHUNT_SPIFFE_MAX], dst_text[SHUNT_ADDR_STRLEN];
	struct shunt_proxy_asserted as = {0};
	__u32 src_id, dst_id, rule, gen;
	__u64 version;
	__u8 verdict;

	memcpy(&h, c->down.data + c->down.start, sizeof(h));
	c->down.start += sizeof(h);
	h.source[sizeof(h.source) - 1] = 0;
	if (ntohl(h.magic) != HDR_MAGIC || h.version != HDR_VERSION)
		return "refused: not a shunt stream header";
	shunt_addr_format(h.addr, dst_text, sizeof(dst_text));
	snprintf(c->desc, sizeof(c->desc), "%s (%s) -> %s:%u", h.source, peer_id, dst_text,
		 ntohs(h.port));
	src = workload_by_name(h.source);
	dst = workload_by_addr(h.addr);
	if (!src)
		return "refused: unknown source workload";
	if (ca_spiffe_id(want, sizeof(want), px.cfg.trust_domain, src->ns, src->service_account) ||
	    strcmp(want, peer_id))
		return "refused: the certificate's identity is not the source workload's";
	if (!dst || strcmp(dst->node, px.me->name))
		return "refused: the destination is not a workload of this node";
	if (ident_by_name(h.source, &src_id) || mesh_state_read_fd(px.state_fd, &gen, &version))
		return "refused: the source is unknown to the kernel";
	{
		char q[160];

		snprintf(q, sizeof(q), "%s/%s", dst->ns, dst->name);
		if (ident_by_name(q, &dst_id))
			return "refused: the destination is unknown to the kernel";
	}
	verdict = mesh_policy_decide(&px.pol, gen, SHUNT_DIR_INGRESS, dst_id, src_id,
				     SHUNT_PROTO_TCP, ntohs(h.port), &rule, NULL);
	if (verdict != SHUNT_VERDICT_ALLOW)
		return "refused by the destination's ingress policy";

	/* Connect from the node's pod-facing address, with the verified
	 * identity asserted to the kernel for this exact address and port. */
	to_sockaddr(h.addr, ntohs(h.port), &ss, &slen);
	c->pfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->pfd < 0)
		return "cannot open a socket";
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in b = {.sin_family = AF_INET};

		memcpy(&b.sin_addr, px.me->outbound.addr + 12, 4);
		if (bind(c->pfd, (struct sockaddr *)&b, sizeof(b)))
			return "cannot bind to the node's pod-facing address";
	} else {
		struct sockaddr_in6 b = {.sin6_family = AF_INET6};

		if (!px.me->has_outbound6)
			return "refused: this node has no IPv6 pod-facing proxy address "
			       "(outbound6)";
		memcpy(&b.sin6_addr, px.me->outbound6.addr, 16);
		if (bind(c->pfd, (struct sockaddr *)&b, sizeof(b)))
			return "cannot bind to the node's IPv6 pod-facing address";
	}
	if (getsockname(c->pfd, (struct sockaddr *)&local, &llen))
		return "getsockname";
	memset(&c->assert_key, 0, sizeof(c->assert_key));
	if (local.ss_family == AF_INET) {
		const struct sockaddr_in *l = (const void *)&local;

		memset(c->assert_key.addr + 10, 0xff, 2);
		memcpy(c->assert_key.addr + 12, &l->sin_addr, 4);
		c->assert_key.port = ntohs(l->sin_port);
	} else {
		const struct sockaddr_in6 *l = (const void *)&local;

		memcpy(c->assert_key.addr, &l->sin6_addr, 16);
		c->assert_key.port = ntohs(l->sin6_port);
	}
	as.src_id = src_id;
	if (bpf_map_update_elem(px.asserted_fd, &c->assert_key, &as, BPF_ANY))
		return "cannot assert the identity to the kernel";
	c->asserted = true;
	set_nodelay(c->pfd);
	if (connect(c->pfd, (struct sockaddr *)&ss, slen) && errno != EINPROGRESS)
		return "cannot connect to the destination";
	if (watch(w, c->pfd, &c->ep_p))
		return "epoll";
	c->st = ST_UPSTREAM;
	return NULL;
}

enum { MOVED = 1, STALLED = 0, FAILED = -1 };

static int ssl_wants(SSL *ssl, int ret)
{
	int e = SSL_get_error(ssl, ret);

	return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? STALLED : FAILED;
}

/* One step of every direction; MOVED if anything happened. */
static int pump(struct conn *c, bool relay)
{
	int moved = STALLED, r;
	ssize_t n;

	/* plain -> up */
	if (!c->p_eof && c->pfd >= 0 && c->up.end < BUF_SIZE &&
	    (c->kind == OUTBOUND || c->st == ST_RELAY)) {
		n = read(c->pfd, c->up.data + c->up.end, BUF_SIZE - c->up.end);
		if (n > 0) {
			c->up.end += (size_t)n;
			moved = MOVED;
		} else if (n == 0) {
			c->p_eof = true;
			moved = MOVED;
		} else if (errno != EAGAIN && errno != EINTR) {
			return FAILED;
		}
	}
	/* up -> TLS */
	if (relay && c->up.end > c->up.start) {
		r = SSL_write(c->ssl, c->up.data + c->up.start, (int)(c->up.end - c->up.start));
		if (r > 0) {
			c->up.start += (size_t)r;
			c->up_bytes += (unsigned long long)r;
			if (c->up.start == c->up.end)
				c->up.start = c->up.end = 0;
			moved = MOVED;
		} else if (ssl_wants(c->ssl, r) == FAILED) {
			return FAILED;
		}
	}
	if (relay && c->p_eof && c->up.start == c->up.end && !c->t_shut) {
		r = SSL_shutdown(c->ssl); /* close_notify: our half is done */
		if (r >= 0) {
			c->t_shut = true;
			moved = MOVED;
		} else if (ssl_wants(c->ssl, r) == FAILED) {
			return FAILED;
		}
	}
	/* TLS -> down */
	if (!c->t_eof && c->down.end < BUF_SIZE &&
	    (relay || c->st == ST_HEADER || c->st == ST_UPSTREAM)) {
		if (c->down.start == c->down.end)
			c->down.start = c->down.end = 0;
		r = SSL_read(c->ssl, c->down.data + c->down.end, (int)(BUF_SIZE - c->down.end));
		if (r > 0) {
			c->down.end += (size_t)r;
			moved = MOVED;
		} else if (SSL_get_error(c->ssl, r) == SSL_ERROR_ZERO_RETURN) {
			c->t_eof = true;
			moved = MOVED;
		} else if (ssl_wants(c->ssl, r) == FAILED) {
			return FAILED;
		}
	}
	/* down -> plain */
	if (relay && c->down.end > c->down.start) {
		n = write(c->pfd, c->down.data + c->down.start, c->down.end - c->down.start);
		if (n > 0) {
			c->down.start += (size_t)n;
			c->down_bytes += (unsigned long long)n;
			if (c->down.start == c->down.end)
				c->down.start = c->down.end = 0;
			moved = MOVED;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			return FAILED;
		}
	}
	if (relay && c->t_eof && c->down.start == c->down.end && !c->p_shut) {
		shutdown(c->pfd, SHUT_WR);
		c->p_shut = true;
		moved = MOVED;
	}
	return moved;
}

/* Logs and counts why a handshake failed, naming a refused certificate's fault. */
static void handshake_failed(struct worker *w, struct conn *c)
{
	long v = SSL_get_verify_result(c->ssl);
	const char *e = ssl_err();
	char reason[400];

	snprintf(reason, sizeof(reason), "TLS handshake failed: %s%s%s", e,
		 v != X509_V_OK ? ": peer certificate " : "",
		 v != X509_V_OK ? X509_verify_cert_error_string(v) : "");
	proxy_stats_handshake_failure(v, e);
	conn_free(w, c, reason);
}

static void conn_run(struct worker *w, struct conn *c)
{
	char peer_id[SHUNT_SPIFFE_MAX];
	const char *why;
	int r, err;
	socklen_t len;

	while (!c->dead) {
		switch (c->st) {
		case ST_CONNECTING:
			len = sizeof(err);
			if (getsockopt(c->tfd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
				conn_free(w, c, "cannot reach the destination node's proxy");
				return;
			}
			{
				struct sockaddr_storage ss;
				socklen_t sl = sizeof(ss);

				if (getpeername(c->tfd, (struct sockaddr *)&ss, &sl)) {
					if (pump(c, false) == FAILED) {
						conn_free(w, c, "client failed");
						return;
					}
					return; /* not connected yet */
				}
			}
			c->st = ST_HANDSHAKE;
			continue;
		case ST_HANDSHAKE:
			r = SSL_do_handshake(c->ssl);
			if (r != 1) {
				if (ssl_wants(c->ssl, r) == FAILED) {
					handshake_failed(w, c);
					return;
				}
				if (c->kind == OUTBOUND && pump(c, false) == FAILED) {
					conn_free(w, c, "client failed");
					return;
				}
				return;
			}
			if (peer_spiffe(c->ssl, peer_id, sizeof(peer_id))) {
				conn_free(w, c,
					  "refused: the peer certificate has no single identity");
				return;
			}
			atomic_fetch_add(&proxy_stats.handshakes[c->kind], 1);
			if (SSL_session_reused(c->ssl))
				atomic_fetch_add(&proxy_stats.resumed, 1);
			if (c->kind == OUTBOUND) {
				char want[SHUNT_SPIFFE_MAX], sa[80];

				snprintf(sa, sizeof(sa), "node-%s", c->peer_node);
				if (ca_spiffe_id(want, sizeof(want), px.cfg.trust_domain, SYSTEM_NS,
						 sa) ||
				    strcmp(want, peer_id)) {
					conn_free(w, c,
						  "refused: the peer is not that node's proxy");
					return;
				}
				c->st = ST_RELAY;
			} else {
				snprintf(c->desc, sizeof(c->desc), "(%.180s, header)", peer_id);
				c->st = ST_HEADER;
			}
			continue;
		case ST_HEADER:
			if (c->down.end - c->down.start >= sizeof(struct proxy_header)) {
				char id[SHUNT_SPIFFE_MAX];

				if (peer_spiffe(c->ssl, id, sizeof(id)))
					id[0] = 0;
				why = inbound_open(w, c, id);
				if (why) {
					conn_free(w, c, why);
					return;
				}
				continue;
			}
			r = pump(c, false);
			if (r == FAILED || (c->t_eof && c->down.end - c->down.start <
							    sizeof(struct proxy_header))) {
				conn_free(w, c, "closed before a complete header");
				return;
			}
			if (r == STALLED)
				return;
			continue;
		case ST_UPSTREAM:
			len = sizeof(err);
			if (getsockopt(c->pfd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
				conn_free(w, c, "the destination refused the connection");
				return;
			}
			{
				struct sockaddr_storage ss;
				socklen_t sl = sizeof(ss);

				if (getpeername(c->pfd, (struct sockaddr *)&ss, &sl)) {
					if (pump(c, false) == FAILED) {
						conn_free(w, c, "peer failed");
						return;
					}
					return;
				}
			}
			pr_info("inbound %s: open", c->desc);
			c->st = ST_RELAY;
			continue;
		case ST_RELAY:
			r = pump(c, true);
			if (r == MOVED)
				c->active = time(NULL);
			if (r == FAILED) {
				conn_free(w, c, "reset");
				return;
			}
			if (c->p_eof && c->t_eof && c->t_shut && c->p_shut &&
			    c->up.start == c->up.end && c->down.start == c->down.end) {
				conn_free(w, c, "closed");
				return;
			}
			if (r == STALLED)
				return;
			continue;
		}
	}
}

static void accept_all(struct worker *w, int lfd, bool inbound)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		if (inbound)
			accept_inbound(w, fd);
		else
			accept_outbound(w, fd);
	}
}

/* Connections still setting up after SETUP_TIMEOUT_S are given up, and
 * connections that moved no byte for the idle timeout are closed. */
static void expire(struct worker *w)
{
	time_t now = time(NULL);
	struct conn *c = w->conns, *next;

	for (; c; c = next) {
		next = c->next;
		if (c->st != ST_RELAY && now - c->started > SETUP_TIMEOUT_S)
			conn_free(w, c, "set-up timed out");
		else if (c->st == ST_RELAY && now - c->active > px.idle_timeout)
			conn_free(w, c, "idle timeout");
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
			if (evs[i].data.ptr == &w->out_fd) {
				accept_all(w, w->out_fd, false);
			} else if (evs[i].data.ptr == &w->out6_fd) {
				accept_all(w, w->out6_fd, false);
			} else if (evs[i].data.ptr == &w->in_fd) {
				accept_all(w, w->in_fd, true);
			} else {
				struct endpoint *ep = evs[i].data.ptr;

				/* A connection freed earlier in this batch is gone from
				 * the list; events for it were removed with its fds. */
				conn_run(w, ep->c);
			}
		}
		if (time(NULL) != last) {
			last = time(NULL);
			expire(w);
		}
		reap(w);
	}
	while (w->conns)
		conn_free(w, w->conns, NULL);
	reap(w);
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

	to_sockaddr(e->addr, e->port, &ss, &len);
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

int proxy_run(const struct shunt_pins *pins, const struct proxy_opts *opts)
{
	struct worker *workers = NULL;
	struct cfg_error cerr;
	int nthreads = opts->threads, i, err;
	struct sigaction sa = {.sa_handler = on_signal};

	memset(&px, 0, sizeof(px));
	pthread_mutex_init(&px.lock, NULL);
	px.ca_dir = opts->ca_dir;
	px.cert_lifetime = opts->cert_lifetime_s ? opts->cert_lifetime_s : 86400;
	px.idle_timeout = opts->idle_timeout_s ? opts->idle_timeout_s : 3600;
	px.orig_fd = px.asserted_fd = px.names_fd = px.state_fd = -1;
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
	px.orig_fd = shunt_pinned_map_fd(pins, "shunt_proxy_orig");
	px.asserted_fd = shunt_pinned_map_fd(pins, "shunt_proxy_asserted");
	px.names_fd = shunt_pinned_map_fd(pins, "shunt_names");
	px.state_fd = shunt_pinned_map_fd(pins, "shunt_mesh_state");
	px.pol.deny = shunt_pinned_map_fd(pins, "shunt_policy_deny");
	px.pol.allow = shunt_pinned_map_fd(pins, "shunt_policy_allow");
	px.pol.subjects = shunt_pinned_map_fd(pins, "shunt_policy_subjects");
	if (px.orig_fd < 0 || px.asserted_fd < 0 || px.names_fd < 0 || px.state_fd < 0 ||
	    px.pol.deny < 0 || px.pol.allow < 0 || px.pol.subjects < 0) {
		pr_err("the datapath is not loaded under %s (start `shunt agent` first)",
		       pins->root);
		err = -ENOENT;
		goto out;
	}
	if ((err = tls_setup()))
		goto out;
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
