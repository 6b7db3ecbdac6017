// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * accessLog: mesh-wide at the top of the file, and a workload's override
 * (docs/telemetry.md "Access logs"); requestId (docs/l7.md "Request ids").
 */
#include <stdlib.h>
#include <string.h>

#include "cfg_parse.h"

/* true or false, as YAML writes them (plain scalars). */
static int get_bool(struct cfg_parser *p, yaml_node_t *n, const char *what, bool *out)
{
	const char *s = (const char *)n->data.scalar.value;

	if (n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		if (!strcmp(s, "true")) {
			*out = true;
			return 0;
		}
		if (!strcmp(s, "false")) {
			*out = false;
			return 0;
		}
	}
	return cfgy_fail(p, n, "%s must be true or false", what);
}

/* "stdout", or an absolute path without control characters. */
static int get_output(struct cfg_parser *p, yaml_node_t *n, const char **out)
{
	const char *s;
	int err;

	if ((err = cfgy_get_str(p, n, "accessLog output", &s)))
		return err;
	if (strcmp(s, "stdout") && s[0] != '/')
		return cfgy_fail(
		    p, n, "accessLog output must be stdout or an absolute path, not '%s'", s);
	for (*out = s; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return cfgy_fail(p, n, "accessLog output holds a control character");
	return 0;
}

/* MESH_WIDE: the top-level one (with output and defaults); else a
 * workload's override. */
int cfg_parse_access_log(struct cfg_parser *p, yaml_node_t *n, bool mesh_wide,
			 struct cfg_access_log *out)
{
	static const char *const mesh_keys[] = {"enabled", "output", "sampling", NULL};
	static const char *const workload_keys[] = {"enabled", "sampling", NULL};
	yaml_node_t *v;
	int err;

	out->origin = cfgy_origin_of(p, n);
	if ((err = cfgy_check_map(p, n, "accessLog", mesh_wide ? mesh_keys : workload_keys)))
		return err;
	if ((v = cfgy_map_get(p, n, "enabled"))) {
		if ((err = get_bool(p, v, "accessLog enabled", &out->enabled)))
			return err;
		out->has_enabled = true;
	}
	if ((v = cfgy_map_get(p, n, "sampling"))) {
		if ((err = cfgy_get_share(p, v, "accessLog sampling", &out->sampling)))
			return err;
		out->has_sampling = true;
	}
	if (mesh_wide && (v = cfgy_map_get(p, n, "output")) &&
	    (err = get_output(p, v, &out->output)))
		return err;
	return 0;
}

/* requestId: {generate: true|false}, mesh-wide. */
int cfg_parse_request_id(struct cfg_parser *p, yaml_node_t *n, struct cfg_request_id *out)
{
	static const char *const keys[] = {"generate", NULL};
	bool generate = true;
	yaml_node_t *v;
	int err;

	out->origin = cfgy_origin_of(p, n);
	if ((err = cfgy_check_map(p, n, "requestId", keys)))
		return err;
	if ((v = cfgy_map_get(p, n, "generate")) &&
	    (err = get_bool(p, v, "requestId generate", &generate)))
		return err;
	out->off = !generate;
	return 0;
}

void cfg_access_log_defaults(struct cfg_access_log *mesh)
{
	memset(mesh, 0, sizeof(*mesh));
	mesh->sampling = 1;
	mesh->output = "stdout";
}
