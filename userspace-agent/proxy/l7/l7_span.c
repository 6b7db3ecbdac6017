// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Spans (l7_trace.h) and their Zipkin v2 JSON (zipkin-api's zipkin2-api.yaml,
 * "Span"): ids in lowercase hex (traceId 16 or 32 digits, id and parentId
 * 16), kind CLIENT or SERVER, timestamp and duration in microseconds,
 * endpoints with serviceName, ipv4 or ipv6 and port, tags of strings.
 */
#include <string.h>
#include <time.h>

#include "common/addr.h"
#include "l7_trace.h"

uint64_t l7_wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void l7_span_init(struct l7_span *s, const struct l7_trace *t, enum l7_span_kind kind,
		  uint64_t timestamp_us, uint64_t duration_us)
{
	s->trace_hi = t->trace_hi;
	s->trace_lo = t->trace_lo;
	s->trace128 = t->trace128;
	s->debug = t->debug;
	s->id = t->id;
	s->parent = t->parent;
	s->kind = kind;
	s->timestamp_us = timestamp_us;
	s->duration_us = duration_us ? duration_us : 1; /* Zipkin: at least 1 when set */
	s->name = 0;
	s->has_remote = false;
	memset(&s->local, 0, sizeof(s->local));
	memset(&s->remote, 0, sizeof(s->remote));
	s->ntags = 0;
	s->text_len = 0;
}

uint16_t l7_span_cat(struct l7_span *s, const char *const *parts, size_t n)
{
	size_t room = sizeof(s->text) - s->text_len, used = 0, i;
	char *out = s->text + s->text_len;
	const char *p;

	if (room < 2)
		return 0;
	for (i = 0; i < n; i++) /* cut to what fits, leaving room for the NUL */
		for (p = parts[i]; p && *p && used < room - 1; p++)
			/* JSON takes UTF-8 only: HTTP heads are ASCII */
			out[used++] =
			    (unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e ? '?' : *p;
	out[used] = 0;
	s->text_len += used + 1;
	return (uint16_t)(out - s->text + 1);
}

uint16_t l7_span_str(struct l7_span *s, const char *v)
{
	return v ? l7_span_cat(s, &v, 1) : 0;
}

static const char *text_of(const struct l7_span *s, uint16_t h)
{
	return h ? s->text + h - 1 : NULL;
}

void l7_span_tag_text(struct l7_span *s, const char *key, uint16_t v)
{
	if (s->ntags == L7_SPAN_TAGS || !v)
		return;
	s->tags[s->ntags].key = key;
	s->tags[s->ntags++].value = v;
}

void l7_span_tag(struct l7_span *s, const char *key, const char *value)
{
	if (s->ntags < L7_SPAN_TAGS)
		l7_span_tag_text(s, key, l7_span_str(s, value));
}

const char *l7_dec(uint64_t v, char *buf)
{
	char *p = buf + 20;

	*p = 0;
	do
		*--p = (char)('0' + v % 10);
	while ((v /= 10));
	return p;
}

void l7_span_endpoint(struct l7_span_endpoint *e, struct l7_span *s, const char *service,
		      const __u8 *addr, __u16 port)
{
	e->service = l7_span_str(s, service);
	e->has_addr = addr != NULL;
	if (addr)
		memcpy(e->addr, addr, 16);
	e->port = port;
}

static void endpoint_json(struct shunt_json *j, const struct l7_span *s,
			  const struct l7_span_endpoint *e)
{
	char a[64];

	json_object_begin(j);
	if (e->service)
		JSON_KEY(j, "serviceName"), json_str_printable(j, text_of(s, e->service));
	if (e->has_addr && !shunt_addr_format(e->addr, a, sizeof(a))) {
		if (shunt_addr_is_v4(e->addr))
			JSON_KEY(j, "ipv4");
		else
			JSON_KEY(j, "ipv6");
		json_str_plain(j, a, strlen(a));
	}
	if (e->port)
		JSON_KEY(j, "port"), json_u64(j, e->port);
	json_object_end(j);
}

static void put_hex(struct shunt_json *j, uint64_t v)
{
	char b[17];

	l7_hex64(v, b);
	json_str_plain(j, b, 16);
}

/* Keys, ids, kind and numbers need no escaping: written without a scan;
 * the span's text is printable ASCII (l7_span_cat): only '"' and '\\' are
 * looked for (this runs per span, on the exporter's thread). */
void l7_span_zipkin(const struct l7_span *s, struct shunt_json *j)
{
	char trace[33];
	unsigned int i;

	l7_trace_id_hex(s->trace_hi, s->trace_lo, s->trace128, trace);
	json_object_begin(j);
	JSON_KEY(j, "traceId"), json_str_plain(j, trace, s->trace128 ? 32 : 16);
	JSON_KEY(j, "id"), put_hex(j, s->id);
	if (s->parent)
		JSON_KEY(j, "parentId"), put_hex(j, s->parent);
	if (s->kind == L7_SPAN_CLIENT)
		JSON_KEY(j, "kind"), json_str_plain(j, "CLIENT", 6);
	else
		JSON_KEY(j, "kind"), json_str_plain(j, "SERVER", 6);
	JSON_KEY(j, "name"), json_str_printable(j, s->name ? text_of(s, s->name) : "unknown");
	JSON_KEY(j, "timestamp"), json_u64(j, s->timestamp_us);
	JSON_KEY(j, "duration"), json_u64(j, s->duration_us);
	JSON_KEY(j, "localEndpoint"), endpoint_json(j, s, &s->local);
	if (s->has_remote)
		JSON_KEY(j, "remoteEndpoint"), endpoint_json(j, s, &s->remote);
	JSON_KEY(j, "tags");
	json_object_begin(j);
	for (i = 0; i < s->ntags; i++) { /* the proxy's keys, each once, plain */
		json_key_plain(j, s->tags[i].key, strlen(s->tags[i].key));
		json_str_printable(j, text_of(s, s->tags[i].value));
	}
	json_object_end(j);
	if (s->debug)
		JSON_KEY(j, "debug"), json_bool(j, true);
	json_object_end(j);
}
