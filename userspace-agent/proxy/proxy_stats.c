// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "proxy_stats.h"

#include <stdio.h>
#include <string.h>
#include <openssl/x509.h>

struct proxy_stats proxy_stats;

static const char *const hs_fail_names[HS_MAX] = {"not_tls", "no_certificate", "unknown_ca",
						  "expired", "not_yet_valid",  "other"};
static const char *const refusal_names[RF_MAX] = {"no_kernel_origin", "identity_mismatch", "policy",
						  "unknown_workload", "upstream"};

void proxy_stats_refusal(const char *why)
{
	enum proxy_refusal r = RF_UNKNOWN;

	if (strstr(why, "kernel sent no connection"))
		r = RF_NO_ORIGIN;
	else if (strstr(why, "identity"))
		r = RF_IDENTITY;
	else if (strstr(why, "policy"))
		r = RF_POLICY;
	else if (strstr(why, "destination refused") || strstr(why, "cannot connect"))
		r = RF_UPSTREAM;
	atomic_fetch_add(&proxy_stats.refused[r], 1);
}

static enum proxy_hs_fail classify(long verify, const char *ssl_reason)
{
	if (verify == X509_V_ERR_CERT_HAS_EXPIRED)
		return HS_EXPIRED;
	if (verify == X509_V_ERR_CERT_NOT_YET_VALID)
		return HS_NOT_YET_VALID;
	if (verify == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
	    verify == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
	    verify == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
	    verify == X509_V_ERR_CERT_SIGNATURE_FAILURE)
		return HS_UNKNOWN_CA;
	if (strstr(ssl_reason, "did not return a certificate") ||
	    strstr(ssl_reason, "certificate required"))
		return HS_NO_CERT;
	if (strstr(ssl_reason, "wrong version") || strstr(ssl_reason, "http request") ||
	    strstr(ssl_reason, "unexpected eof") || strstr(ssl_reason, "connection closed") ||
	    strstr(ssl_reason, "record layer"))
		return HS_NOT_TLS;
	return HS_OTHER;
}

void proxy_stats_handshake_failure(long verify_result, const char *ssl_reason)
{
	atomic_fetch_add(&proxy_stats.hs_fail[classify(verify_result, ssl_reason)], 1);
}

/* shunt_proxy_NAME{side="outbound"|"inbound"}. */
static void by_side(FILE *out, const char *name, const char *type, const char *help,
		    const atomic_ullong v[2])
{
	if (help)
		fprintf(out, "# HELP shunt_proxy_%s %s\n", name, help);
	fprintf(out, "# TYPE shunt_proxy_%s %s\n", name, type);
	fprintf(out, "shunt_proxy_%s{side=\"outbound\"} %llu\n", name, atomic_load(&v[0]));
	fprintf(out, "shunt_proxy_%s{side=\"inbound\"} %llu\n", name, atomic_load(&v[1]));
}

int proxy_metrics_handler(const char *path, char **body, size_t *len, void *ctx)
{
	struct proxy_stats *s = &proxy_stats;
	FILE *out = open_memstream(body, len);
	int i;

	(void)ctx;
	if (!out)
		return 503;
	if (!strcmp(path, "/healthz")) {
		fprintf(out, "ok\n");
		fclose(out);
		return 200;
	}
	if (strcmp(path, "/metrics")) {
		fprintf(out, "not found; try /metrics or /healthz\n");
		fclose(out);
		return 404;
	}
	by_side(out, "connections_total", "counter",
		"Proxied connections (HTTP/2 streams), by side.", s->conns);
	by_side(out, "connections_active", "gauge", NULL, s->active);
	by_side(out, "tunnels_total", "counter", "TLS connections between node proxies.",
		s->tunnels);
	by_side(out, "tunnels_active", "gauge", NULL, s->tunnels_active);
	fprintf(out,
		"# HELP shunt_proxy_streams_pooled_total Outbound connections that shared a tunnel "
		"another connection opened (no handshake of their own).\n"
		"# TYPE shunt_proxy_streams_pooled_total counter\n"
		"shunt_proxy_streams_pooled_total %llu\n",
		atomic_load(&s->streams_pooled));
	by_side(out, "resets_total", "counter", NULL, s->resets);
	fprintf(out,
		"# TYPE shunt_proxy_bytes_total counter\n"
		"shunt_proxy_bytes_total{direction=\"to_server\"} %llu\n"
		"shunt_proxy_bytes_total{direction=\"to_client\"} %llu\n"
		"# TYPE shunt_proxy_handshakes_total counter\n"
		"shunt_proxy_handshakes_total{side=\"outbound\"} %llu\n"
		"shunt_proxy_handshakes_total{side=\"inbound\"} %llu\n"
		"# HELP shunt_proxy_sessions_resumed_total Outbound handshakes that resumed a TLS "
		"session.\n# TYPE shunt_proxy_sessions_resumed_total counter\n"
		"shunt_proxy_sessions_resumed_total %llu\n"
		"# TYPE shunt_proxy_handshake_failures_total counter\n",
		atomic_load(&s->bytes_to_server), atomic_load(&s->bytes_to_client),
		atomic_load(&s->handshakes[0]), atomic_load(&s->handshakes[1]),
		atomic_load(&s->resumed));
	for (i = 0; i < HS_MAX; i++)
		fprintf(out, "shunt_proxy_handshake_failures_total{reason=\"%s\"} %llu\n",
			hs_fail_names[i], atomic_load(&s->hs_fail[i]));
	fprintf(out, "# TYPE shunt_proxy_refused_total counter\n");
	for (i = 0; i < RF_MAX; i++)
		fprintf(out, "shunt_proxy_refused_total{reason=\"%s\"} %llu\n", refusal_names[i],
			atomic_load(&s->refused[i]));
	fclose(out);
	return 200;
}
