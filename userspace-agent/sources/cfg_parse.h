/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Inside the config parser (mesh_config.c and its cfg_*.c parts): the node
 * tree of libyaml's document API, and helpers that check a node against the
 * schema and fail with FILE:LINE:COL. Not for use outside the config module.
 */
#ifndef SHUNT_CFG_PARSE_H
#define SHUNT_CFG_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

#include "model/mesh_config.h"

struct cfg_parser {
	yaml_document_t doc;
	struct mesh_config *cfg;
	struct cfg_error *err;
	/* The Kubernetes source's: a backendRef that does not resolve is
	 * kept, marked, rather than failing the route (cfg_http_route.c). */
	bool keep_unresolved_backends;
};

/* Fails at N (NULL: the file) with a message; returns -EINVAL. The reason
 * is CFG_FAIL_INVALID, or WHY. */
int cfgy_fail(struct cfg_parser *p, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int cfgy_fail_why(struct cfg_parser *p, const yaml_node_t *n, enum cfg_fail_reason why,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* A warning at N: the config is used, and the message logged with it. */
void cfgy_warn(struct cfg_parser *p, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int cfgy_oom(struct cfg_parser *p);
/* Where N is in the file, for the object it starts. */
struct cfg_origin cfgy_origin_of(const struct cfg_parser *p, const yaml_node_t *n);
yaml_node_t *cfgy_node_at(struct cfg_parser *p, int index);
bool cfgy_is_null(const yaml_node_t *n);
const char *cfgy_kind_of(const yaml_node_t *n);
/* N is a mapping whose keys are all in ALLOWED, each at most once. */
int cfgy_check_map(struct cfg_parser *p, yaml_node_t *n, const char *what,
		   const char *const *allowed);
yaml_node_t *cfgy_map_get(struct cfg_parser *p, yaml_node_t *n, const char *key);
int cfgy_get_str(struct cfg_parser *p, yaml_node_t *n, const char *what, const char **out);
/* A plain scalar share from 0 to 1 (0, 1, 0.25; at most 9 decimals). */
int cfgy_get_share(struct cfg_parser *p, yaml_node_t *n, const char *what, double *out);
int cfgy_get_uint(struct cfg_parser *p, yaml_node_t *n, const char *what, unsigned long min,
		  unsigned long max, unsigned long *out);
/* A list of *COUNT items; null counts as an empty list. */
int cfgy_get_seq(struct cfg_parser *p, yaml_node_t *n, const char *what, size_t *count);
yaml_node_t *cfgy_seq_item(struct cfg_parser *p, yaml_node_t *n, size_t i);
void *cfgy_alloc_array(struct cfg_parser *p, size_t n, size_t size);
int cfgy_check_name(struct cfg_parser *p, yaml_node_t *n, const char *what, const char *s);
int cfgy_get_name(struct cfg_parser *p, yaml_node_t *n, const char *what, const char **out);
int cfgy_get_subdomain(struct cfg_parser *p, yaml_node_t *n, const char *what, const char **out);
int cfgy_check_label(struct cfg_parser *p, yaml_node_t *n, const char *s, bool key);
/* A port name as Kubernetes allows it (IANA service name). */
int cfgy_check_port_name(struct cfg_parser *p, yaml_node_t *n, const char *s);
int cfgy_parse_labels(struct cfg_parser *p, yaml_node_t *n, const char *what,
		      struct cfg_labels *out);
int cfgy_parse_selector(struct cfg_parser *p, yaml_node_t *n, const char *what,
			struct cfg_selector *sel);
int cfgy_parse_prefix(struct cfg_parser *p, yaml_node_t *n, const char *what, bool need_len,
		      struct cfg_prefix *out);
/* TCP, UDP or SCTP, as Kubernetes spells them. */
int cfgy_parse_proto(struct cfg_parser *p, yaml_node_t *n, __u8 *proto);

/* The objects (cfg_policy.c, cfg_objects.c, cfg_http_route.c, cfg_authz.c). */
int cfg_parse_policy(struct cfg_parser *p, yaml_node_t *n, struct cfg_policy *out);
int cfg_parse_workload(struct cfg_parser *p, yaml_node_t *n, struct cfg_workload *out);
int cfg_parse_namespace(struct cfg_parser *p, yaml_node_t *n, struct cfg_namespace *out);
int cfg_parse_mtls(struct cfg_parser *p, yaml_node_t *n, enum cfg_mtls *out);
int cfg_parse_node(struct cfg_parser *p, yaml_node_t *n, struct cfg_node *out);
int cfg_parse_node_proxy(struct cfg_parser *p, yaml_node_t *n, struct cfg_node_proxy *out);
int cfg_parse_service(struct cfg_parser *p, yaml_node_t *n, struct cfg_service *out);
/* After the services: a route's references are checked as it is parsed. */
int cfg_parse_http_route(struct cfg_parser *p, yaml_node_t *n, struct cfg_http_route *out);
/* After the services, like routes (cfg_authz.c). */
int cfg_parse_authz_policy(struct cfg_parser *p, yaml_node_t *n, struct cfg_authz_policy *out);
/* accessLog: MESH_WIDE the top-level one, else a workload's override
 * (cfg_telemetry.c); the mesh-wide defaults before it is read. */
int cfg_parse_access_log(struct cfg_parser *p, yaml_node_t *n, bool mesh_wide,
			 struct cfg_access_log *out);
void cfg_access_log_defaults(struct cfg_access_log *mesh);
/* The top-level tracing section (cfg_tracing.c). */
int cfg_parse_tracing(struct cfg_parser *p, yaml_node_t *n, struct cfg_tracing *out);
int cfg_parse_request_id(struct cfg_parser *p, yaml_node_t *n, struct cfg_request_id *out);
/* A workload's tracing: {sampling: SHARE}. */
int cfg_parse_workload_tracing(struct cfg_parser *p, yaml_node_t *n,
			       struct cfg_workload_tracing *out);
/* A service's trafficPolicy (cfg_l7_traffic.c). */
int cfg_parse_traffic_policy(struct cfg_parser *p, yaml_node_t *n, struct cfg_traffic_policy *out);

/* Parts of the L7 objects shared by their files (cfg_http_route.c). */
/* A list at N: *COUNT items of SIZE bytes in the arena (NULL when none). */
int cfg_http_alloc_seq(struct cfg_parser *p, yaml_node_t *n, const char *what, size_t size,
		       void **items, size_t *count);
/* A gRPC status: a name (UNAVAILABLE) or its code (14) (cfg_l7_traffic.c). */
int cfg_http_parse_grpc_status(struct cfg_parser *p, yaml_node_t *n, int *out);
/* The Gateway API's Duration (1h2m3s4ms), in ms. */
int cfg_http_parse_duration(struct cfg_parser *p, yaml_node_t *n, const char *what, __u32 *ms);
/* Index of the string at N in NAMES (COUNT of them), into *OUT. */
int cfg_http_parse_enum(struct cfg_parser *p, yaml_node_t *n, const char *what,
			const char *const *names, size_t count, int *out);
/* An HTTP header name, lowercased. */
int cfg_http_get_header_name(struct cfg_parser *p, yaml_node_t *n, const char **out);
/* What a reference to a Service is for: what its failures are reported as. */
enum cfg_ref_role { CFG_REF_PARENT, CFG_REF_BACKEND, CFG_REF_TARGET };
/* Group, kind, name and namespace of a reference to a Service of NS: its
 * name into *SERVICE, the node of the name into *NAME_NODE. */
int cfg_http_parse_service_ref(struct cfg_parser *p, yaml_node_t *n, enum cfg_ref_role role,
			       const char *ns, const char **service, yaml_node_t **name_node);
/* A backendRef's Service (of NS) and its port, both required and checked
 * to exist (cfg_http_check_service_port). */
int cfg_http_parse_backend_ref(struct cfg_parser *p, yaml_node_t *n, const char *ns,
			       const char **service, __u16 *port);
/* The same, but with P->keep_unresolved_backends one that does not resolve
 * is read as written (its port may be 0) and 0 returned with *WHY its
 * reason (a CFG_FAIL_BACKEND_*); *WHY is CFG_FAIL_INVALID when it resolves. */
int cfg_http_read_backend_ref(struct cfg_parser *p, yaml_node_t *n, const char *ns,
			      const char **service, __u16 *port, enum cfg_fail_reason *why);
/* Service NS/NAME exists and has TCP port PORT (0: any TCP port). */
int cfg_http_check_service_port(struct cfg_parser *p, yaml_node_t *name_node,
				yaml_node_t *port_node, enum cfg_ref_role role, const char *ns,
				const char *name, __u16 port);
/* Every backendRef of route N (its rules' and their requestMirror
 * filters'), whatever else of the route is wrong: the first that does not
 * resolve fails with its reason; a reference too malformed to read is
 * skipped (the route's parse says why). */
int cfg_http_check_backend_refs(struct cfg_parser *p, yaml_node_t *n, const char *ns);
/* filters of a rule, after its matches (cfg_http_filters.c). */
int cfg_http_parse_filters(struct cfg_parser *p, yaml_node_t *n, const char *ns,
			   struct cfg_http_rule *rule);
/* fault and rateLimit of a rule (cfg_l7_traffic.c). */
int cfg_http_parse_fault(struct cfg_parser *p, yaml_node_t *n, struct cfg_http_fault *out);
int cfg_http_parse_rate_limit(struct cfg_parser *p, yaml_node_t *n,
			      struct cfg_http_rate_limit *out);

#endif
