// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * shunt-h2connect: one CONNECT stream through a node proxy's inbound port,
 * as another proxy would open it, with any certificate and any claims: the
 * tests use it to try impersonations.
 *
 *   shunt-h2connect --connect ADDR:PORT --ca BUNDLE --cert CRT --key KEY
 *                   --authority DEST:PORT --source NS/NAME
 *
 * Sends standard input as the stream's data (then END_STREAM), writes what
 * comes back to standard output, and the response status, shunt-outcome
 * and shunt-error to standard error. Exits 0 only for a 200 and a stream that ended cleanly.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "netaddr.h"

struct state {
	SSL *ssl;
	char *in; /* standard input, all of it */
	size_t in_len, in_off;
	int status;
	bool closed, clean;
};

static void die(const char *msg)
{
	fprintf(stderr, "shunt-h2connect: %s\n", msg);
	ERR_print_errors_fp(stderr);
	exit(2);
}

static ssize_t body(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
		    nghttp2_data_source *src, void *ud)
{
	struct state *st = ud;
	size_t n = st->in_len - st->in_off;

	(void)h2, (void)id, (void)src;
	if (n > len)
		n = len;
	memcpy(buf, st->in + st->in_off, n);
	st->in_off += n;
	if (st->in_off == st->in_len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

static int on_header(nghttp2_session *h2, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
		     const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
	struct state *st = ud;

	(void)h2, (void)f, (void)flags;
	if (nlen == 7 && !memcmp(name, ":status", 7)) {
		st->status = atoi((const char *)value);
		fprintf(stderr, "status: %.*s\n", (int)vlen, value);
	} else if (nlen == 11 && !memcmp(name, "shunt-error", 11)) {
		fprintf(stderr, "error: %.*s\n", (int)vlen, value);
	} else if (nlen == 13 && !memcmp(name, "shunt-outcome", 13)) {
		fprintf(stderr, "outcome: %.*s\n", (int)vlen, value);
	}
	return 0;
}

static int on_data(nghttp2_session *h2, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
		   void *ud)
{
	(void)h2, (void)flags, (void)id, (void)ud;
	fwrite(data, 1, len, stdout);
	return 0;
}

static int on_close(nghttp2_session *h2, int32_t id, uint32_t error, void *ud)
{
	struct state *st = ud;

	(void)h2, (void)id;
	st->closed = true;
	st->clean = error == NGHTTP2_NO_ERROR;
	return 0;
}

static void read_stdin(struct state *st)
{
	size_t cap = 65536;
	ssize_t n;

	st->in = malloc(cap);
	while (st->in && (n = read(0, st->in + st->in_len, cap - st->in_len)) > 0) {
		st->in_len += (size_t)n;
		if (st->in_len == cap)
			st->in = realloc(st->in, cap *= 2);
	}
	if (!st->in)
		die("out of memory");
}

int main(int argc, char **argv)
{
	const char *connect_to = NULL, *ca = NULL, *cert = NULL, *key = NULL, *authority = NULL,
		   *source = NULL;
	struct state st = {0};
	struct sockaddr_storage ss;
	struct timeval tv = {.tv_sec = 5};
	nghttp2_session_callbacks *cbs;
	nghttp2_session *h2;
	socklen_t len;
	SSL_CTX *ctx;
	uint8_t buf[65536];
	int fd, i;

	for (i = 1; i + 1 < argc; i += 2) {
		const char *a = argv[i], *v = argv[i + 1];

		if (!strcmp(a, "--connect"))
			connect_to = v;
		else if (!strcmp(a, "--ca"))
			ca = v;
		else if (!strcmp(a, "--cert"))
			cert = v;
		else if (!strcmp(a, "--key"))
			key = v;
		else if (!strcmp(a, "--authority"))
			authority = v;
		else if (!strcmp(a, "--source"))
			source = v;
	}
	if (i != argc || !connect_to || !ca || !cert || !key || !authority || !source ||
	    netaddr_parse(connect_to, &ss, &len)) {
		fprintf(stderr, "usage: shunt-h2connect --connect ADDR:PORT --ca BUNDLE --cert CRT "
				"--key KEY --authority DEST:PORT --source NS/NAME\n");
		return 2;
	}
	read_stdin(&st);
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx || SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1 ||
	    SSL_CTX_use_certificate_file(ctx, cert, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)"\x02h2", 3))
		die("cannot load the CA, certificate or key");
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	fd = socket(ss.ss_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&ss, len))
		die("cannot connect");
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	st.ssl = SSL_new(ctx);
	if (!st.ssl || SSL_set_fd(st.ssl, fd) != 1 || SSL_connect(st.ssl) != 1)
		die("TLS handshake failed");

	if (nghttp2_session_callbacks_new(&cbs))
		die("out of memory");
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_close);
	if (nghttp2_session_client_new(&h2, cbs, &st))
		die("out of memory");
	{
		nghttp2_nv nv[] = {
		    {(uint8_t *)":method", (uint8_t *)"CONNECT", 7, 7, NGHTTP2_NV_FLAG_NONE},
		    {(uint8_t *)":authority", (uint8_t *)authority, 10, strlen(authority),
		     NGHTTP2_NV_FLAG_NONE},
		    {(uint8_t *)"shunt-source", (uint8_t *)source, 12, strlen(source),
		     NGHTTP2_NV_FLAG_NONE},
		};
		nghttp2_data_provider dp = {.read_callback = body};

		if (nghttp2_submit_settings(h2, NGHTTP2_FLAG_NONE, NULL, 0) ||
		    nghttp2_submit_request(h2, NULL, nv, 3, &dp, NULL) < 0)
			die("cannot submit the request");
	}
	while (!st.closed) {
		const uint8_t *out;
		ssize_t n;
		int r;

		while ((n = nghttp2_session_mem_send(h2, &out)) > 0)
			if (SSL_write(st.ssl, out, (int)n) != n)
				die("cannot send");
		if (n < 0)
			die("nghttp2 failed");
		r = SSL_read(st.ssl, buf, sizeof(buf));
		if (r <= 0)
			die("the connection ended before the stream");
		if (nghttp2_session_mem_recv(h2, buf, (size_t)r) < 0)
			die("bad HTTP/2 from the proxy");
	}
	fflush(stdout);
	nghttp2_session_del(h2);
	nghttp2_session_callbacks_del(cbs);
	SSL_free(st.ssl);
	SSL_CTX_free(ctx);
	close(fd);
	free(st.in);
	return st.status == 200 && st.clean ? 0 : 1;
}
