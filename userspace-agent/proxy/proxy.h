/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The node proxy: carries TCP connections between workloads of different
 * nodes over mutual TLS (docs/proxy.md).
 *
 *  - outbound: accepts the connections the connect hook sent to it, reads
 *    the original destination and the connecting workload from the kernel
 *    (shunt_proxy_orig), and sends each as an HTTP/2 CONNECT stream over a
 *    pooled TLS 1.3 tunnel to the destination node's inbound port, made
 *    with a certificate of the connecting workload's identity;
 *  - inbound: verifies the peer certificate against the mesh CA bundle,
 *    checks that the workload each request names runs as the certificate's
 *    identity, applies the destination's ingress policy to it, and connects
 *    to the destination with that identity asserted to the kernel
 *    (shunt_proxy_asserted).
 * It follows the agent: the model the agent publishes after every apply
 * (model/model_json.h), swapped in while it runs. hbone/ moves the bytes;
 * the proxy_*.c files decide.
 */
#ifndef SHUNT_PROXY_H
#define SHUNT_PROXY_H

#include <stddef.h>

#include "pins.h"

struct push_target;

struct proxy_opts {
	const char *node;   /* this node */
	const char *ca_dir; /* the mesh CA (see docs/identity.md) */
	int threads;	    /* 0: one per core */
	long cert_lifetime_s;
	long idle_timeout_s; /* 0: one hour */
	const char *metrics; /* ADDR:PORT for /metrics and /healthz, NULL or "none": off */
	const struct push_target *push; /* push exports (common/push.h) */
	size_t npush;
	/* SIGTERM drains: the listeners close (their queued connections go
	 * to a proxy that listens beside this one), open connections are
	 * told to go and may finish, for at most this long. 0: stop now. */
	int drain_timeout_s;
	/* Exists while the proxy listens and is not draining (a readiness
	 * probe's); NULL: none. */
	const char *ready_file;
};

#define PROXY_DRAIN_DEFAULT_S 20

int proxy_run(const struct shunt_pins *pins, const struct proxy_opts *opts);

#endif
