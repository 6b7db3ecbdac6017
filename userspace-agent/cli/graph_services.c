// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Which service a workload serves, for `shunt graph --group service`: read
 * from the model the node's agent published (what the kernel runs).
 */
#include "graph_services.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "model/model_json.h"
#include "pins.h"

#define MODEL_FILE "/model.json" /* the agent's (control/agent.c) */

int graph_services_load(struct graph_services *s, const char *pin_dir)
{
	struct cfg_error cerr = {};
	struct shunt_pins pins;
	char path[PATH_MAX];
	__u64 version;
	int err;

	memset(s, 0, sizeof(*s));
	if (shunt_pins_init(&pins, pin_dir) ||
	    shunt_run_dir(&pins, path, sizeof(path) - sizeof(MODEL_FILE)))
		return -ENAMETOOLONG;
	strcat(path, MODEL_FILE);
	err = mesh_model_load(path, &s->cfg, &version, &cerr);
	if (err) {
		pr_err("--group service: cannot read the model the agent published at %s: %s", path,
		       err == -ENOENT ? "none there (is `shunt agent` running for that pin-dir?)"
				      : cerr.msg);
		return err;
	}
	s->loaded = true;
	return 0;
}

void graph_services_free(struct graph_services *s)
{
	if (s->loaded)
		mesh_config_free(&s->cfg);
	s->loaded = false;
}

static bool serves(const struct cfg_service *svc, const struct cfg_workload *w, bool by_selector)
{
	if (strcmp(svc->ns, w->ns))
		return false;
	if (by_selector)
		return svc->has_selector && cfg_labels_subset(&svc->selector, &w->labels);
	for (size_t i = 0; i < svc->nbackends; i++)
		if (svc->backends[i].workload && !strcmp(svc->backends[i].workload, w->name))
			return true;
	return false;
}

/* The first by name of the services that select W, else of those that list it. */
static const struct cfg_service *service_of(const struct mesh_config *cfg,
					    const struct cfg_workload *w)
{
	const struct cfg_service *best = NULL;

	for (int by_selector = 1; by_selector >= 0 && !best; by_selector--)
		for (size_t i = 0; i < cfg->nservices; i++)
			if (serves(&cfg->services[i], w, by_selector) &&
			    (!best || strcmp(cfg->services[i].name, best->name) < 0))
				best = &cfg->services[i];
	return best;
}

const char *graph_service_of(const char *name, void *ctx)
{
	struct graph_services *s = ctx;
	const char *slash = strchr(name, '/');
	const struct cfg_service *svc;

	if (!slash)
		return NULL;
	for (size_t i = 0; i < s->cfg.nworkloads; i++) {
		const struct cfg_workload *w = &s->cfg.workloads[i];

		if (strlen(w->ns) != (size_t)(slash - name) ||
		    strncmp(w->ns, name, strlen(w->ns)) || strcmp(w->name, slash + 1))
			continue;
		svc = service_of(&s->cfg, w);
		if (!svc)
			return NULL;
		snprintf(s->buf, sizeof(s->buf), "%s/%s", svc->ns, svc->name);
		return s->buf;
	}
	return NULL;
}
