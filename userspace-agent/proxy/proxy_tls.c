// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* TLS for the tunnels: contexts, peer identities, handshake failures by
 * their OpenSSL codes, and each worker's session tickets. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "proxy_impl.h"

#define PROXY_SUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

const char *proxy_ssl_err(unsigned long e)
{
	static __thread char buf[256];

	if (!e)
		return "connection closed";
	ERR_error_string_n(e, buf, sizeof(buf));
	return buf;
}

/* TLS 1.3 tickets arrive after the handshake: the newest per pool key, in
 * the worker that made the tunnel (so no lock). */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct hbone_tunnel *t = hbone_tunnel_of(ssl);
	struct proxy_tunnel *pt = t ? hbone_tunnel_user(t) : NULL;
	const char *key = t ? hbone_tunnel_key(t) : "";
	struct proxy_worker *w;
	size_t idx, len = strlen(key);

	if (!pt || hbone_tunnel_side(t) != HBONE_OUTBOUND || !len)
		return 0;
	w = pt->w;
	if (keymap_get(&w->sessions, key, len, &idx)) {
		SSL_SESSION_free(w->session_list[idx]);
		w->session_list[idx] = sess;
		return 1; /* we keep the reference */
	}
	if (w->nsessions == w->sessions_cap) {
		size_t cap = w->sessions_cap ? w->sessions_cap * 2 : 16;
		SSL_SESSION **n = realloc(w->session_list, cap * sizeof(*n));

		if (!n)
			return 0;
		w->session_list = n;
		w->sessions_cap = cap;
	}
	if (keymap_put(&w->sessions, key, len, w->nsessions, NULL))
		return 0;
	w->session_list[w->nsessions++] = sess;
	return 1;
}

void proxy_sessions_free(struct proxy_worker *w)
{
	size_t i;

	for (i = 0; i < w->nsessions; i++)
		SSL_SESSION_free(w->session_list[i]);
	w->nsessions = 0;
	keymap_free(&w->sessions);
}

SSL_SESSION *proxy_session_for(struct proxy_worker *w, const char *key)
{
	size_t idx;

	if (worker_tls(w)->ca_gen != w->sessions_ca_gen) {
		proxy_sessions_free(w); /* made with the previous CA */
		w->sessions_ca_gen = worker_tls(w)->ca_gen;
	}
	if (!keymap_get(&w->sessions, key, strlen(key), &idx) ||
	    !SSL_SESSION_is_resumable(w->session_list[idx]))
		return NULL;
	SSL_SESSION_up_ref(w->session_list[idx]);
	return w->session_list[idx];
}

int proxy_peer_spiffe(SSL *ssl, char *buf, size_t len)
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

/* Which way a handshake failed: the peer certificate's verify result, else
 * the reason code OpenSSL put first on the queue (0: none, the peer left). */
enum shunt_outcome proxy_handshake_outcome(long verify, unsigned long err)
{
	switch (verify) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return SHUNT_OUT_TLS_EXPIRED;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return SHUNT_OUT_TLS_NOT_YET_VALID;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
		return SHUNT_OUT_TLS_UNKNOWN_CA;
	}
	if (!err)
		return SHUNT_OUT_TLS_NOT_TLS;
	if (ERR_GET_LIB(err) != ERR_LIB_SSL)
		return SHUNT_OUT_TLS_OTHER;
	switch (ERR_GET_REASON(err)) {
	case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
	case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
		return SHUNT_OUT_TLS_NO_CERT;
	case SSL_R_WRONG_VERSION_NUMBER:
	case SSL_R_HTTP_REQUEST:
	case SSL_R_HTTPS_PROXY_REQUEST:
	case SSL_R_UNEXPECTED_EOF_WHILE_READING:
#ifdef SSL_R_RECORD_LAYER_FAILURE
	case SSL_R_RECORD_LAYER_FAILURE:
#endif
	case SSL_R_PACKET_LENGTH_TOO_LONG:
		return SHUNT_OUT_TLS_NOT_TLS;
	}
	return SHUNT_OUT_TLS_OTHER;
}

/* The inbound side speaks only the tunnel protocol. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)ssl, (void)arg;
	if (SSL_select_next_proto((unsigned char **)out, outlen, (const unsigned char *)HBONE_ALPN,
				  3, in, inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	return SSL_TLSEXT_ERR_OK;
}

/* What both sides share: TLS 1.3, the suites, the CA bundle, buffers. */
static int ctx_common(SSL_CTX *ctx)
{
	char path[PATH_MAX];

	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	/* AES-128-GCM first: as strong as the mesh needs, and the fastest suite
	 * with AES-NI; peers that prefer otherwise still negotiate the rest. */
	SSL_CTX_set_ciphersuites(ctx, PROXY_SUITES);
	snprintf(path, sizeof(path), "%s/bundle.pem", px.ca_dir);
	if (SSL_CTX_load_verify_locations(ctx, path, NULL) != 1) {
		pr_err("cannot load %s: %s", path, proxy_ssl_err(ERR_get_error()));
		return -EINVAL;
	}
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* Read whole socket buffers, not a record header and then its body:
	 * two syscalls per 16 KiB record otherwise. */
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_default_read_buffer_len(ctx, HBONE_BUF_SIZE);
	return 0;
}

/* Both contexts from the CA directory as it is now. Certificates are set
 * per connection (the current ones of tls_snap). */
int proxy_tls_ctxs(SSL_CTX **server_out, SSL_CTX **client_out)
{
	SSL_CTX *server = SSL_CTX_new(TLS_server_method());
	SSL_CTX *client = SSL_CTX_new(TLS_client_method());
	int err = -ENOMEM;

	if (!server || !client)
		goto fail;
	if ((err = ctx_common(server)) || (err = ctx_common(client)))
		goto fail;
	/* Both sides prove who they are, with certificates of the mesh CA. */
	SSL_CTX_set_verify(server, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_verify(client, SSL_VERIFY_PEER, NULL);
	/* Resumed sessions keep the client identity they were made with. */
	SSL_CTX_set_session_id_context(server, (const unsigned char *)"shunt", 5);
	SSL_CTX_set_session_cache_mode(client,
				       SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(client, on_new_session);
	SSL_CTX_set_alpn_select_cb(server, alpn_select, NULL);
	err = -ENOMEM;
	if (SSL_CTX_set_alpn_protos(client, (const unsigned char *)HBONE_ALPN, 3))
		goto fail;
	*server_out = server;
	*client_out = client;
	return 0;
fail:
	SSL_CTX_free(server);
	SSL_CTX_free(client);
	return err;
}

/* TLS over FD, its records gathered into one write(2) per flush instead of
 * one per 16 KiB record (the tunnel flushes). */
int proxy_tls_set_fd(SSL *ssl, int fd)
{
	BIO *rd = BIO_new_socket(fd, BIO_NOCLOSE), *wr = BIO_new_socket(fd, BIO_NOCLOSE);
	BIO *buf = BIO_new(BIO_f_buffer());

	if (!rd || !wr || !buf || BIO_set_write_buffer_size(buf, HBONE_BUF_SIZE + 4096) != 1) {
		BIO_free(rd);
		BIO_free(wr);
		BIO_free(buf);
		return -ENOMEM;
	}
	BIO_push(buf, wr);
	SSL_set_bio(ssl, rd, buf);
	return 0;
}
