// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Istio's standard metric labels (istio_labels.h). */
#include "istio_labels.h"

const char *const istio_label_names[ISTIO_L_MAX + 1] = {
    "reporter",
    "source_workload",
    "source_workload_namespace",
    "source_principal",
    "destination_workload",
    "destination_workload_namespace",
    "destination_principal",
    "destination_service",
    "destination_service_name",
    "destination_service_namespace",
    "request_protocol",
    "response_code",
    "grpc_response_status",
    "response_flags",
    "connection_security_policy",
    NULL,
};

size_t istio_labels_of(int tcp, const char *out[ISTIO_L_MAX + 1])
{
	size_t i, n = 0;

	for (i = 0; i < ISTIO_L_MAX; i++)
		if (!tcp || (i != ISTIO_L_CODE && i != ISTIO_L_GRPC))
			out[n++] = istio_label_names[i];
	out[n] = NULL;
	return n;
}
