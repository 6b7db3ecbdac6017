/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Trace context and spans (docs/telemetry.md "Tracing"), for any hop of
 * the proxy that sees HTTP requests: the client's L7 side (a CLIENT span
 * per request) and a destination-side hop (a SERVER span).
 *
 *   struct l7_trace_in in;
 *   l7_trace_extract(&in, headers, n);          what the request brought
 *   l7_trace_begin(&t, &in, sampling, fmts, &rng); this hop's span: ids, decision
 *   l7_trace_replaces(&t, name)                 its trace headers, left out when
 *   l7_trace_write(&t, &buf)                    the request is written: this
 *   (l7_trace_emit(&t, field, ctx))             hop's context instead (lines, or
 *                                               fields for HTTP/2)
 *   ... at its end, if t.sampled:
 *   l7_span_init(&s, &t, L7_SPAN_CLIENT, start, duration); l7_span_tag(...);
 *   and the owner sends it (proxy_trace.h).
 *
 * Istio/Envoy semantics: a request's sampling decision is kept (a request
 * with sampling off never gets a sampled span); a request without one gets
 * a decision drawn at the configured share. Context arrives and leaves as
 * B3 (x-b3-* headers, or the single b3 header) and W3C traceparent
 * (tracestate passed on); it leaves in the formats it came in, and a new
 * trace in the formats its caller gives (Envoy's Zipkin tracer: B3 headers
 * only). Malformed headers count as absent.
 */
#ifndef SHUNT_L7_TRACE_H
#define SHUNT_L7_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "common/json.h"

struct l7_header;

enum l7_trace_format {
	L7_TRACE_B3 = 1 << 0,	     /* x-b3-traceid, -spanid, -parentspanid, -sampled, -flags */
	L7_TRACE_B3_SINGLE = 1 << 1, /* b3: TRACEID-SPANID[-SAMPLING[-PARENTID]] or SAMPLING */
	L7_TRACE_W3C = 1 << 2,	     /* traceparent: 00-TRACEID-PARENTID-FLAGS, tracestate */
};

enum l7_sampled { L7_SAMPLED_UNSET, L7_SAMPLED_NO, L7_SAMPLED_YES };

/* What a request brought. */
struct l7_trace_in {
	bool has_ids;		     /* a valid trace id and span id */
	uint64_t trace_hi, trace_lo; /* trace_hi is 0 for a 64-bit id (trace128 false) */
	bool trace128;
	uint64_t span_id; /* the caller's span: the parent of this hop's */
	enum l7_sampled sampled;
	bool debug;	      /* B3's debug flag: sampled, and marked debug */
	unsigned int formats; /* the formats that carried valid context */
	bool tracestate;      /* a valid traceparent came: its tracestate goes on */
};

/* This hop's span context. */
struct l7_trace {
	uint64_t trace_hi, trace_lo;
	bool trace128;
	uint64_t id, parent; /* parent 0: a root span */
	uint64_t server_id;  /* the SERVER span's, where this hop is both sides */
	bool sampled, debug;
	unsigned int formats; /* what goes to the next hop */
	bool tracestate;
	char trace_id[33]; /* the trace id in hex (16 or 32 digits), for logs */
};

/* The context in H (N headers; names case-insensitive). */
void l7_trace_extract(struct l7_trace_in *in, const struct l7_header *h, size_t n);
/* A random 64-bit number (splitmix64 over *STATE; seed it once). */
uint64_t l7_trace_random(uint64_t *state);
/* This hop's span for a request that brought IN: its trace (or a new
 * 128-bit one, to leave in NEW_FORMATS, enum l7_trace_format bits), a new
 * span id, the decision IN carries or one drawn with SAMPLING (0 to 1). */
void l7_trace_begin(struct l7_trace *t, const struct l7_trace_in *in, double sampling,
		    unsigned int new_formats, uint64_t *rng);
/* T as its SERVER span's context, into OUT: the span T->server_id, T's
 * own (the CLIENT span) its parent; for a hop that is both the client's
 * and the destination's (two workloads of one node), as Istio's two
 * sidecars make two spans. */
void l7_trace_as_server(const struct l7_trace *t, struct l7_trace *out);
/* Whether a request's header NAME is trace context that T's replaces (it is
 * left out when the request is written on). */
bool l7_trace_replaces(const struct l7_trace *t, const char *name);
/* Where T's context goes, a field at a time: NAME (NAME_LEN bytes), VALUE
 * (VALUE_LEN bytes and a NUL, valid for the call), and whether the value
 * is new on every request (an id: HPACK sends it never indexed). 0, or an
 * error that stops the writing. */
typedef int (*l7_trace_field_fn)(void *ctx, const char *name, size_t name_len, const char *value,
				 size_t value_len, bool unique);
#define L7_TRACE_FIELDS 6 /* the most l7_trace_emit writes: x-b3-* (4), b3, traceparent */
/* T's context for the next hop, T's span as its parent, field by field. */
int l7_trace_emit(const struct l7_trace *t, l7_trace_field_fn field, void *ctx);
/* The same as header lines ("name: value\r\n") at the end of OUT: written
 * with an HTTP/1.1 request rather than added to its headers (no allocation
 * per field, and none of the header path; docs/telemetry.md "Overhead").
 * 0 or -ENOMEM. */
struct l7_buf;
int l7_trace_write(const struct l7_trace *t, struct l7_buf *out);
/* V as 16 lowercase hex digits and a NUL at OUT; returns the NUL's place. */
char *l7_hex64(uint64_t v, char *out);
/* A new request id into OUT: a random UUID (version 4, RFC 9562), as
 * Envoy makes x-request-id. */
void l7_request_id_make(uint64_t *rng, char out[37]);
/* The trace id of IN in hex into BUF (33 bytes); "" without one. */
void l7_trace_id_hex(uint64_t hi, uint64_t lo, bool trace128, char *buf);

/* ---- spans (l7_span.c) ---- */

enum l7_span_kind { L7_SPAN_CLIENT, L7_SPAN_SERVER };

#define L7_SPAN_TAGS 20
#define L7_SPAN_TEXT 2048 /* every string of a span; longer ones are cut */

struct l7_span_endpoint {
	uint16_t service; /* l7_span_str's; 0: none */
	bool has_addr;
	__u8 addr[16]; /* v4-mapped for IPv4 */
	__u16 port;    /* 0: none */
};

/* A finished span, self-contained (it is copied into the exporter's queue):
 * strings live in TEXT, tag keys are string constants. */
struct l7_span {
	uint64_t trace_hi, trace_lo;
	bool trace128, debug, has_remote;
	uint64_t id, parent;
	enum l7_span_kind kind;
	uint64_t timestamp_us, duration_us; /* epoch microseconds; at least 1 */
	uint16_t name;
	struct l7_span_endpoint local, remote;
	unsigned int ntags;
	struct {
		const char *key;
		uint16_t value;
	} tags[L7_SPAN_TAGS];
	size_t text_len;
	char text[L7_SPAN_TEXT];
};

void l7_span_init(struct l7_span *s, const struct l7_trace *t, enum l7_span_kind kind,
		  uint64_t timestamp_us, uint64_t duration_us);
/* V copied into S's text: its handle (0: no room, or V NULL). */
uint16_t l7_span_str(struct l7_span *s, const char *v);
/* The N strings of PARTS, one after the other, as one string of S's text
 * (cut to what fits); NULL parts are left out. Its handle, 0: no room. */
uint16_t l7_span_cat(struct l7_span *s, const char *const *parts, size_t n);
#define L7_SPAN_CAT(s, ...)                                                                        \
	l7_span_cat(s, (const char *const[]){__VA_ARGS__},                                         \
		    sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))
/* A tag KEY (a string constant that JSON takes unescaped: no quote, no
 * backslash, no control byte) = VALUE; left out when full. */
void l7_span_tag(struct l7_span *s, const char *key, const char *value);
/* A tag KEY = the string of handle V (l7_span_str, l7_span_cat); 0: none. */
void l7_span_tag_text(struct l7_span *s, const char *key, uint16_t v);
/* V in decimal in BUF (21 bytes): the digits' start. */
const char *l7_dec(uint64_t v, char *buf);
void l7_span_endpoint(struct l7_span_endpoint *e, struct l7_span *s, const char *service,
		      const __u8 *addr, __u16 port);
/* The span as Zipkin v2 JSON, written to J (an object of POST
 * /api/v2/spans' array). Written straight out: a jansson tree per span
 * took about a sixth of the CPU with every request traced. */
void l7_span_zipkin(const struct l7_span *s, struct shunt_json *j);
/* Microseconds since the epoch (CLOCK_REALTIME). */
uint64_t l7_wall_us(void);

#endif
