// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Trace context (l7_trace.h): B3 (openzipkin/b3-propagation) and W3C
 * Trace Context (traceparent, tracestate) read from a request, a span
 * context made for this hop, and written back for the next one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "l7_impl.h"
#include "l7_trace.h"

/* LEN hex digits at S (lowercase only if STRICT) into *OUT (LEN <= 16). */
static bool hex_field(const char *s, size_t len, bool strict, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		char c = s[i];
		unsigned int d;

		if (c >= '0' && c <= '9')
			d = (unsigned int)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned int)(c - 'a' + 10);
		else if (!strict && c >= 'A' && c <= 'F')
			d = (unsigned int)(c - 'A' + 10);
		else
			return false;
		v = v << 4 | d;
	}
	*out = v;
	return true;
}

/* A trace id of 16 or 32 hex digits, not all zero. */
static bool trace_id(const char *s, size_t len, bool strict, struct l7_trace_in *in)
{
	uint64_t hi = 0, lo;

	if (len == 32) {
		if (!hex_field(s, 16, strict, &hi) || !hex_field(s + 16, 16, strict, &lo))
			return false;
	} else if (len != 16 || !hex_field(s, 16, strict, &lo)) {
		return false;
	}
	if (!hi && !lo)
		return false;
	in->trace_hi = hi;
	in->trace_lo = lo;
	in->trace128 = len == 32;
	return true;
}

/* A span id: 16 hex digits, not all zero. */
static bool span_id(const char *s, size_t len, bool strict, uint64_t *out)
{
	return len == 16 && hex_field(s, 16, strict, out) && *out;
}

/* V without surrounding blanks: its start, its length in *LEN. */
static const char *trimmed(const char *v, size_t *len)
{
	size_t n;

	while (*v == ' ' || *v == '\t')
		v++;
	n = strlen(v);
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	*len = n;
	return v;
}

static enum l7_sampled b3_sampling(const char *s, size_t len, bool *debug)
{
	if (len == 1 && (*s == '1' || *s == 'd')) {
		*debug = *s == 'd';
		return L7_SAMPLED_YES;
	}
	if (len == 1 && *s == '0')
		return L7_SAMPLED_NO;
	return L7_SAMPLED_UNSET;
}

/* b3: SAMPLING, or TRACEID-SPANID[-SAMPLING[-PARENTSPANID]]. */
static bool b3_single(const char *v, struct l7_trace_in *in)
{
	struct l7_trace_in got = {0};
	const char *part[4];
	size_t plen[4], n = 0, len;
	const char *s = trimmed(v, &len), *end = s + len, *dash;
	uint64_t parent;

	for (;;) {
		if (n == 4)
			return false; /* a fifth part */
		dash = memchr(s, '-', (size_t)(end - s));
		part[n] = s;
		plen[n++] = (size_t)((dash ? dash : end) - s);
		if (!dash)
			break;
		s = dash + 1;
	}
	if (n == 1) {
		got.sampled = b3_sampling(part[0], plen[0], &got.debug);
		if (got.sampled == L7_SAMPLED_UNSET)
			return false;
	} else if (!trace_id(part[0], plen[0], false, &got) ||
		   !span_id(part[1], plen[1], false, &got.span_id) ||
		   (n >= 3 && (got.sampled = b3_sampling(part[2], plen[2], &got.debug)) ==
				  L7_SAMPLED_UNSET) ||
		   (n == 4 && !span_id(part[3], plen[3], false, &parent))) {
		return false;
	} else {
		got.has_ids = true;
	}
	got.formats = L7_TRACE_B3_SINGLE;
	*in = got;
	return true;
}

struct b3_multi {
	const char *trace, *span, *sampled, *flags;
};

/* The x-b3-* headers: ids when both are valid; the decision on its own. */
static void b3_multi(const struct b3_multi *m, struct l7_trace_in *in)
{
	struct l7_trace_in got = {0};
	size_t tl = 0, sl = 0, len;
	const char *t = m->trace ? trimmed(m->trace, &tl) : NULL;
	const char *s = m->span ? trimmed(m->span, &sl) : NULL, *v;

	if (m->flags && (v = trimmed(m->flags, &len)) && len == 1 && *v == '1') {
		got.debug = true;
		got.sampled = L7_SAMPLED_YES;
	} else if (m->sampled && (v = trimmed(m->sampled, &len))) {
		if ((len == 1 && *v == '1') || (len == 4 && !strncasecmp(v, "true", 4)))
			got.sampled = L7_SAMPLED_YES;
		else if ((len == 1 && *v == '0') || (len == 5 && !strncasecmp(v, "false", 5)))
			got.sampled = L7_SAMPLED_NO;
	}
	got.has_ids = t && s && trace_id(t, tl, false, &got) && span_id(s, sl, false, &got.span_id);
	if (!got.has_ids)
		got.trace_hi = got.trace_lo = got.span_id = 0, got.trace128 = false;
	if (!got.has_ids && got.sampled == L7_SAMPLED_UNSET)
		return;
	if (!in->has_ids && got.has_ids) {
		in->has_ids = true;
		in->trace_hi = got.trace_hi;
		in->trace_lo = got.trace_lo;
		in->trace128 = got.trace128;
		in->span_id = got.span_id;
	}
	if (in->sampled == L7_SAMPLED_UNSET) {
		in->sampled = got.sampled;
		in->debug = got.debug;
	}
	in->formats |= L7_TRACE_B3;
}

/* traceparent: VERSION-TRACEID-PARENTID-FLAGS, lowercase hex. */
static void w3c(const char *v, struct l7_trace_in *in)
{
	struct l7_trace_in got = {0};
	uint64_t version, flags;
	size_t len;
	const char *s = trimmed(v, &len);

	if (len < 55 || s[2] != '-' || s[35] != '-' || s[52] != '-' ||
	    !hex_field(s, 2, true, &version) || version == 0xff || (version == 0 && len != 55) ||
	    (len > 55 && s[55] != '-') || !trace_id(s + 3, 32, true, &got) ||
	    !span_id(s + 36, 16, true, &got.span_id) || !hex_field(s + 53, 2, true, &flags))
		return;
	in->formats |= L7_TRACE_W3C;
	in->tracestate = true;
	if (in->has_ids)
		return; /* B3 came too: its ids win, the trace goes on in both */
	in->has_ids = true;
	in->trace_hi = got.trace_hi;
	in->trace_lo = got.trace_lo;
	in->trace128 = true;
	in->span_id = got.span_id;
	if (in->sampled == L7_SAMPLED_UNSET)
		in->sampled = flags & 1 ? L7_SAMPLED_YES : L7_SAMPLED_NO;
}

void l7_trace_extract(struct l7_trace_in *in, const struct l7_header *h, size_t n)
{
	struct b3_multi m = {0};
	const char *single = NULL, *parent = NULL;
	size_t i;

	memset(in, 0, sizeof(*in));
	for (i = 0; i < n; i++) {
		const char *k = h[i].name, **slot = NULL;
		char first = (char)(k[0] | 0x20);

		/* most names are none of these: their first letter says so */
		if (first != 'x' && first != 'b' && first != 't')
			continue;
		if (!strncasecmp(k, "x-b3-", 5)) {
			k += 5;
			slot = !strcasecmp(k, "traceid")   ? &m.trace
			       : !strcasecmp(k, "spanid")  ? &m.span
			       : !strcasecmp(k, "sampled") ? &m.sampled
			       : !strcasecmp(k, "flags")   ? &m.flags
							   : NULL;
		} else if (!strcasecmp(k, "b3")) {
			slot = &single;
		} else if (!strcasecmp(k, "traceparent")) {
			if (parent) { /* twice: W3C says neither is valid */
				parent = "";
				continue;
			}
			slot = &parent;
		}
		if (slot && !*slot)
			*slot = h[i].value; /* the first of a name */
	}
	if (single)
		b3_single(single, in);
	b3_multi(&m, in);
	if (parent)
		w3c(parent, in);
}

uint64_t l7_trace_random(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t nonzero_random(uint64_t *rng)
{
	uint64_t v;

	do
		v = l7_trace_random(rng);
	while (!v);
	return v;
}

/* "000102...ff": a byte's two digits at twice its value */
#define HEX_ROW(h)                                                                                 \
	h "0" h "1" h "2" h "3" h "4" h "5" h "6" h "7" h "8" h "9" h "a" h "b" h "c" h "d" h      \
	  "e" h "f"
static const char hex_pairs[] = HEX_ROW("0") HEX_ROW("1") HEX_ROW("2") HEX_ROW("3") HEX_ROW("4")
    HEX_ROW("5") HEX_ROW("6") HEX_ROW("7") HEX_ROW("8") HEX_ROW("9") HEX_ROW("a") HEX_ROW("b")
	HEX_ROW("c") HEX_ROW("d") HEX_ROW("e") HEX_ROW("f");

char *l7_hex64(uint64_t v, char *out)
{
	int i;

	for (i = 14; i >= 0; i -= 2, v >>= 8)
		memcpy(out + i, hex_pairs + 2 * (v & 0xff), 2);
	out[16] = 0;
	return out + 16;
}

void l7_request_id_make(uint64_t *rng, char out[37])
{
	static const int dash_after[] = {4, 6, 8, 10}; /* bytes: 8-4-4-4-12 digits */
	unsigned char b[16];
	uint64_t hi = l7_trace_random(rng), lo = l7_trace_random(rng);
	char *p = out;
	int i, d = 0;

	memcpy(b, &hi, 8);
	memcpy(b + 8, &lo, 8);
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4: random */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* variant 1 (RFC 9562) */
	for (i = 0; i < 16; i++) {
		if (d < 4 && i == dash_after[d])
			*p++ = '-', d++;
		memcpy(p, hex_pairs + 2 * b[i], 2);
		p += 2;
	}
	*p = 0;
}

void l7_trace_id_hex(uint64_t hi, uint64_t lo, bool trace128, char *buf)
{
	l7_hex64(lo, trace128 ? l7_hex64(hi, buf) : buf);
}

void l7_trace_begin(struct l7_trace *t, const struct l7_trace_in *in, double sampling,
		    unsigned int new_formats, uint64_t *rng)
{
	memset(t, 0, sizeof(*t));
	if (in->has_ids) {
		t->trace_hi = in->trace_hi;
		t->trace_lo = in->trace_lo;
		t->trace128 = in->trace128;
		t->parent = in->span_id;
	} else {
		t->trace_hi = nonzero_random(rng);
		t->trace_lo = nonzero_random(rng);
		t->trace128 = true;
	}
	t->id = nonzero_random(rng);
	t->server_id = nonzero_random(rng);
	t->debug = in->debug;
	if (in->sampled == L7_SAMPLED_UNSET) /* 53 random bits against the share */
		t->sampled = (double)(l7_trace_random(rng) >> 11) * 0x1.0p-53 < sampling;
	else
		t->sampled = in->sampled == L7_SAMPLED_YES;
	t->formats = in->formats ? in->formats : new_formats;
	t->tracestate = in->tracestate;
	l7_trace_id_hex(t->trace_hi, t->trace_lo, t->trace128, t->trace_id);
}

void l7_trace_as_server(const struct l7_trace *t, struct l7_trace *out)
{
	*out = *t;
	out->parent = t->id;
	out->id = t->server_id;
}

bool l7_trace_replaces(const struct l7_trace *t, const char *name)
{
	char first = (char)(name[0] | 0x20);
	bool keep_tracestate = t->tracestate && (t->formats & L7_TRACE_W3C);

	if (first != 'x' && first != 'b' && first != 't')
		return false;
	return !strncasecmp(name, "x-b3-", 5) || !strcasecmp(name, "b3") ||
	       !strcasecmp(name, "traceparent") ||
	       (!keep_tracestate && !strcasecmp(name, "tracestate"));
}

/* A literal name and its length */
#define FIELD(fn, ctx, lit, v, vlen, unique) fn(ctx, lit, sizeof(lit) - 1, v, vlen, unique)

/* ID: this hop's span id in hex */
static int emit_b3(const struct l7_trace *t, const char *id, l7_trace_field_fn fn, void *ctx)
{
	size_t id_len = t->trace128 ? 32 : 16;
	char parent[17];
	int err;

	if (t->parent) /* a root span has none */
		l7_hex64(t->parent, parent);
	if ((err = FIELD(fn, ctx, "x-b3-traceid", t->trace_id, id_len, true)) ||
	    (err = FIELD(fn, ctx, "x-b3-spanid", id, 16, true)) ||
	    (t->parent && (err = FIELD(fn, ctx, "x-b3-parentspanid", parent, 16, true))))
		return err;
	/* debug implies sampled: B3 sends the flag instead of the decision */
	if (t->debug)
		return FIELD(fn, ctx, "x-b3-flags", "1", 1, false);
	return FIELD(fn, ctx, "x-b3-sampled", t->sampled ? "1" : "0", 1, false);
}

int l7_trace_emit(const struct l7_trace *t, l7_trace_field_fn fn, void *ctx)
{
	char v[96], id[17], *p;
	int err = 0;

	l7_hex64(t->id, id);
	if (t->formats & L7_TRACE_B3)
		err = emit_b3(t, id, fn, ctx);
	if (!err && (t->formats & L7_TRACE_B3_SINGLE)) {
		/* TRACEID-SPANID-SAMPLING[-PARENTID] */
		p = stpcpy(v, t->trace_id);
		*p++ = '-';
		p = stpcpy(p, id);
		p = stpcpy(p, t->debug ? "-d" : t->sampled ? "-1" : "-0");
		if (t->parent) {
			*p++ = '-';
			p = l7_hex64(t->parent, p);
		}
		err = FIELD(fn, ctx, "b3", v, (size_t)(p - v), true);
	}
	if (!err && (t->formats & L7_TRACE_W3C)) {
		/* a 64-bit trace id is padded to W3C's 128 bits on the left */
		p = stpcpy(stpcpy(v, t->trace128 ? "00-" : "00-0000000000000000"), t->trace_id);
		*p++ = '-';
		p = stpcpy(stpcpy(p, id), t->sampled ? "-01" : "-00");
		err = FIELD(fn, ctx, "traceparent", v, (size_t)(p - v), true);
	}
	return err;
}

static int field_line(void *out, const char *name, size_t name_len, const char *value,
		      size_t value_len, bool unique)
{
	(void)unique;
	return l7_buf_field_n(out, name, name_len, value, value_len);
}

int l7_trace_write(const struct l7_trace *t, struct l7_buf *out)
{
	return l7_trace_emit(t, field_line, out);
}
