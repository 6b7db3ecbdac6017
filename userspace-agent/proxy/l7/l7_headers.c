// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Heads as the proxy sends them on: hop-by-hop headers dropped (RFC 9110
 * 7.6.1), the framing headers left to the proxy, and the route's header
 * modifiers applied (Gateway API: remove, then set replaces, add appends).
 * An upgrade is the exception: its Upgrade header goes on, with
 * connection: upgrade.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "l7_impl.h"

#define NAME(s)                                                                                    \
	{                                                                                          \
		s, sizeof(s) - 1                                                                   \
	}
/* with their lengths: most names are of none, and fail on it (a strcasecmp
 * per header and entry was a few percent of the proxy's CPU) */
static const struct {
	const char *name;
	size_t len;
} hop_by_hop[] = {
    NAME("connection"), NAME("keep-alive"), NAME("proxy-connection"),  NAME("te"),
    NAME("trailer"),	NAME("upgrade"),    NAME("transfer-encoding"), NAME("content-length"),
    NAME("expect"),
};

/* NAME is listed in CONNECTION (a comma-separated token list). */
static bool listed_in(const char *connection, const char *name)
{
	size_t n = strlen(name);
	const char *p = connection;

	while (p && *p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!strncasecmp(p, name, n) &&
		    (!p[n] || p[n] == ',' || p[n] == ' ' || p[n] == '\t'))
			return true;
		p = strchr(p, ',');
	}
	return false;
}

static bool dropped(const char *name, const char *connection, const struct cfg_http_header_mod *mod,
		    bool upgrade)
{
	size_t i, len = strlen(name);

	if (upgrade && !strcasecmp(name, "upgrade"))
		return false; /* the handshake itself: no modifier takes it away */
	for (i = 0; i < sizeof(hop_by_hop) / sizeof(hop_by_hop[0]); i++)
		if (len == hop_by_hop[i].len && !strcasecmp(name, hop_by_hop[i].name))
			return true;
	if (connection && listed_in(connection, name))
		return true;
	for (i = 0; mod && i < mod->nremove; i++)
		if (!strcasecmp(name, mod->remove[i]))
			return true;
	for (i = 0; mod && i < mod->nset; i++)
		if (!strcasecmp(name, mod->set[i].name))
			return true;
	return false;
}

static const char *find(const struct l7_header *h, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcasecmp(h[i].name, name))
			return h[i].value;
	return NULL;
}

/* TRACE_LINES: TRACE's context written as lines; else only what it
 * replaces left out (HTTP/2 takes the context as fields). */
static int write_headers(struct l7_buf *out, const struct l7_header *h, size_t n,
			 const struct cfg_http_header_mod *mod, bool upgrade,
			 const struct l7_trace *trace, bool trace_lines)
{
	const char *connection = find(h, n, "connection");
	size_t i;
	int err = 0;

	for (i = 0; i < n && !err; i++)
		if (!(trace && l7_trace_replaces(trace, h[i].name)) &&
		    !dropped(h[i].name, connection, mod, upgrade))
			err = l7_buf_field(out, h[i].name, h[i].value);
	if (!err && trace && trace_lines)
		err = l7_trace_write(trace, out);
	for (i = 0; mod && i < mod->nset && !err; i++)
		err = l7_buf_field(out, mod->set[i].name, mod->set[i].value);
	for (i = 0; mod && i < mod->nadd && !err; i++)
		err = l7_buf_field(out, mod->add[i].name, mod->add[i].value);
	/* the client's other Connection tokens were for this hop only */
	if (!err && upgrade)
		err = l7_buf_printf(out, "connection: upgrade\r\n");
	return err;
}

int l7_write_headers(struct l7_buf *out, const struct l7_header *h, size_t n,
		     const struct cfg_http_header_mod *mod, bool upgrade,
		     const struct l7_trace *trace)
{
	return write_headers(out, h, n, mod, upgrade, trace, true);
}

/* Fields whose value is new on every request: the trace context and the
 * request id. HPACK would index each one, and each would push the fields
 * that repeat (user-agent, accept, cookie) out of the 4 KiB dynamic table,
 * to be sent and indexed again. Sent never indexed (RFC 7541 6.2.3), they
 * stay out of both ends' tables: nghttp2's encoder took 1.57 us for a
 * browser-like request with a new trace, 1.05 us with this, 0.58 us without
 * a trace, for 8 bytes more per request (docs/telemetry.md "Overhead"). The
 * decision flags (a few values) still index. */
static const struct {
	const char *name;
	size_t len;
} unique_value[] = {
    NAME("traceparent"),       NAME("b3"),	     NAME("x-b3-traceid"), NAME("x-b3-spanid"),
    NAME("x-b3-parentspanid"), NAME("x-request-id"),
};

/* NAME (LEN bytes, lowercase) is a field not worth indexing. */
bool l7_h2_never_index(const char *name, size_t len)
{
	size_t i;

	if (name[0] != 't' && name[0] != 'b' && name[0] != 'x')
		return false;
	for (i = 0; i < sizeof(unique_value) / sizeof(unique_value[0]); i++)
		if (unique_value[i].len == len && !memcmp(unique_value[i].name, name, len))
			return true;
	return false;
}

/* A request's trace context as HTTP/2 fields: the values kept at the end
 * of the head's lines (after the lines' NUL), the names constants; no
 * line to write and parse back, and no lookup for never indexing. */
struct trace_fields {
	struct l7_buf *lines;
	size_t n;
	struct {
		const char *name;
		size_t name_len, at, len; /* the value: at bytes past the lines' start */
		bool unique;
	} f[L7_TRACE_FIELDS];
};

static int trace_field(void *ctx, const char *name, size_t name_len, const char *value,
		       size_t value_len, bool unique)
{
	struct trace_fields *tf = ctx;
	size_t at = tf->lines->len - tf->lines->off;

	if (tf->n == L7_TRACE_FIELDS || l7_buf_append(tf->lines, value, value_len + 1))
		return -ENOMEM;
	tf->f[tf->n].name = name;
	tf->f[tf->n].name_len = name_len;
	tf->f[tf->n].at = at;
	tf->f[tf->n].len = value_len;
	tf->f[tf->n++].unique = unique;
	return 0;
}

/* The fields of TF at V (the lines appended to last: their place is final). */
static size_t trace_nv(const struct trace_fields *tf, nghttp2_nv *v)
{
	const char *base = tf->lines->data + tf->lines->off;
	size_t i;

	for (i = 0; i < tf->n; i++)
		v[i] =
		    (nghttp2_nv){(uint8_t *)tf->f[i].name, (uint8_t *)base + tf->f[i].at,
				 tf->f[i].name_len, tf->f[i].len,
				 tf->f[i].unique ? NGHTTP2_NV_FLAG_NO_INDEX : NGHTTP2_NV_FLAG_NONE};
	return tf->n;
}

/* REQ's head as HTTP/2 fields: pseudo-headers, then its headers as sent
 * on (hop-by-hop ones dropped, the rule's modifiers applied), Host as
 * :authority; te: trailers for gRPC, which asks for it; then the trace
 * context. *NV (to free) points into LINES. */
int l7_request_to_nv(const struct l7_request *req, bool body, struct l7_buf *lines, nghttp2_nv **nv,
		     size_t *n)
{
	const struct cfg_http_header_mod *mod =
	    req->rule && req->rule->r ? &req->rule->r->request_headers : NULL;
	const char *host = l7_header_get(req, "host"), *te = l7_header_get(req, "te");
	const char *authority = host ? host : "localhost";
	struct l7_trace hop;
	const struct l7_trace *trace = l7_request_hop_trace(req, &hop);
	struct trace_fields tf = {.lines = lines};
	/* one field per line written: the headers, the rule's set and add, te,
	 * content-length (sized per request: this is every request's path) */
	size_t cap = req->nheaders + (mod ? mod->nset + mod->nadd : 0) + 2;
	nghttp2_nv *v;
	int got, i, j;

	if (write_headers(lines, req->headers, req->nheaders, mod, false, trace, false) ||
	    ((req->grpc || (te && strcasestr(te, "trailers"))) &&
	     l7_buf_printf(lines, "te: trailers\r\n")) ||
	    /* no length with trailers: a node proxy speaking HTTP/1.1 on
	     * would have to keep it, and then drop them */
	    (body && req->body_done && !req->nreq_trailers &&
	     l7_buf_printf(lines, "content-length: %llu\r\n", (unsigned long long)req->body_got)) ||
	    (body && !req->body_done && req->body_length >= 0 &&
	     l7_buf_printf(lines, "content-length: %lld\r\n", (long long)req->body_length)) ||
	    l7_buf_append(lines, "", 1) || (trace && l7_trace_emit(trace, trace_field, &tf)) ||
	    !(v = calloc(4 + cap + tf.n, sizeof(*v))))
		return -ENOMEM;
	v[0] = (nghttp2_nv){(uint8_t *)":method", (uint8_t *)req->method, 7, strlen(req->method)};
	v[1] = (nghttp2_nv){(uint8_t *)":scheme", (uint8_t *)"http", 7, 4};
	v[2] = (nghttp2_nv){(uint8_t *)":authority", (uint8_t *)authority, 10, strlen(authority)};
	v[3] = (nghttp2_nv){(uint8_t *)":path", (uint8_t *)req->target, 5, strlen(req->target)};
	got = l7_h2_lines_to_nv(lines->data + lines->off, v + 4, cap);
	for (i = j = 4; i < got + 4; i++) { /* Host rides in :authority */
		if (!strcmp((const char *)v[i].name, "host"))
			continue;
		if (l7_h2_never_index((const char *)v[i].name, v[i].namelen))
			v[i].flags |= NGHTTP2_NV_FLAG_NO_INDEX;
		v[j++] = v[i];
	}
	*nv = v;
	*n = (size_t)j + trace_nv(&tf, v + j);
	return 0;
}

/* Fields a trailer may not carry (RFC 9110 6.5.1, the list of RFC 7230
 * 4.1.2): framing, routing, request modifiers, authentication, response
 * control and content metadata; an endpoint acts on them before the body,
 * so a late one could only mislead it. The hop-by-hop ones go as well. */
static const char *const trailer_forbidden[] = {
    "host",
    "cache-control",
    "max-forwards",
    "pragma",
    "range",
    "if-match",
    "if-none-match",
    "if-modified-since",
    "if-range",
    "if-unmodified-since",
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "www-authenticate",
    "proxy-authenticate",
    "age",
    "expires",
    "date",
    "location",
    "retry-after",
    "vary",
    "warning",
    "content-encoding",
    "content-type",
    "content-range",
    "content-disposition",
};

static bool trailer_allowed(const char *name, const char *connection)
{
	size_t i;

	if (!name[0] || name[0] == ':' || dropped(name, connection, NULL, false))
		return false;
	for (i = 0; i < sizeof(trailer_forbidden) / sizeof(trailer_forbidden[0]); i++)
		if (!strcasecmp(name, trailer_forbidden[i]))
			return false;
	return true;
}

int l7_trailers_keep(struct l7_request *req)
{
	const char *connection = l7_header_get(req, "connection");
	struct l7_header *t = req->req_trailers;
	size_t i, kept = 0;

	for (i = 0; i < req->nreq_trailers; i++)
		if (!t[i].value && !(t[i].value = strdup("")))
			return -ENOMEM;
	for (i = 0; i < req->nreq_trailers; i++) {
		if (t[i].name && trailer_allowed(t[i].name, connection)) {
			t[kept++] = t[i];
			continue;
		}
		l7_header_clear(&t[i]);
	}
	req->nreq_trailers = kept;
	return 0;
}

int l7_write_trailers(struct l7_buf *out, const struct l7_request *req)
{
	size_t i;
	int err = 0;

	for (i = 0; i < req->nreq_trailers && !err; i++)
		err = l7_buf_field(out, req->req_trailers[i].name, req->req_trailers[i].value);
	return err;
}

int l7_write_last_chunk(struct l7_buf *out, const struct l7_request *req)
{
	if (l7_buf_append(out, "0\r\n", 3) || l7_write_trailers(out, req))
		return -ENOMEM;
	return l7_buf_append(out, "\r\n", 2);
}

int l7_header_add(struct l7_header **h, size_t *n, size_t *cap, const char *name, size_t nlen,
		  const char *value, size_t vlen)
{
	struct l7_header *e;

	if (*n == *cap) {
		size_t more = *cap ? *cap * 2 : 16;

		if (more > 1024 || !(e = realloc(*h, more * sizeof(*e))))
			return -ENOMEM;
		*h = e;
		*cap = more;
	}
	e = &(*h)[*n];
	if (!(e->name = malloc(nlen + vlen + 2)))
		return -ENOMEM;
	memcpy(e->name, name, nlen);
	e->name[nlen] = 0;
	e->value = e->name + nlen + 1;
	memcpy(e->value, value, vlen);
	e->value[vlen] = 0;
	e->joint = true;
	(*n)++;
	return 0;
}
