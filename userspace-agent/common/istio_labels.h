/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Istio's standard metric labels, in its order: the proxy's HTTP and TCP
 * series (proxy/proxy_istio.c) and the agent's TCP series of the kernel
 * path (control/datapath_istio.c) name them from here, so the two agree.
 */
#ifndef SHUNT_ISTIO_LABELS_H
#define SHUNT_ISTIO_LABELS_H

#include <stddef.h>

/* The HTTP metrics' labels; the TCP ones leave out response_code and
 * grpc_response_status, as Istio's do. */
enum istio_label {
	ISTIO_L_REPORTER,
	ISTIO_L_SRC_WORKLOAD,
	ISTIO_L_SRC_NS,
	ISTIO_L_SRC_PRINCIPAL,
	ISTIO_L_DST_WORKLOAD,
	ISTIO_L_DST_NS,
	ISTIO_L_DST_PRINCIPAL,
	ISTIO_L_DST_SERVICE,
	ISTIO_L_DST_SERVICE_NAME,
	ISTIO_L_DST_SERVICE_NS,
	ISTIO_L_PROTOCOL,
	ISTIO_L_CODE,
	ISTIO_L_GRPC,
	ISTIO_L_FLAGS,
	ISTIO_L_SECURITY,
	ISTIO_L_MAX
};

extern const char *const istio_label_names[ISTIO_L_MAX + 1];

/* The labels of KIND (http: all; tcp: without the two above) into OUT,
 * NULL-terminated; how many. */
size_t istio_labels_of(int tcp, const char *out[ISTIO_L_MAX + 1]);

#endif
