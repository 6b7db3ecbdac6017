// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The agent's /metrics and /healthz: its own state and the datapath's
 * counters, through one registry (common/metrics.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent_impl.h"
#include "datapath.h"
#include "datapath_istio.h"
#include "datapath_metrics.h"

/* Seconds from reading the source to the flip, by how the maps were written. */
static const double apply_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
				      0.1,   0.25,   0.5,   1,	  2.5};

static void emit_gauge(struct metrics_writer *w, const char *name, const char *help,
		       const char *label, const char *value, double v)
{
	metrics_emit(w, METRIC_GAUGE, name, help, label ? (const char *[]){label, NULL} : NULL,
		     label ? (const char *[]){value} : NULL, v);
}

/* The agent's own state, read at scrape (or push) time. */
static void collect_agent(struct metrics_writer *w, void *ctx)
{
	struct agent *a = ctx;
	struct {
		__u64 applies, failures, version;
		double last_apply_seconds;
		char last_error[1];
		size_t workloads, local, services, rules, entries;
	} c;

	/* A copy of the counts under the lock: a push collects on its thread. */
	pthread_mutex_lock(&a->stats_lock);
	c.applies = a->applies;
	c.failures = a->failures;
	c.version = a->version;
	c.last_apply_seconds = a->last_apply_seconds;
	c.last_error[0] = a->last_error[0];
	c.workloads = a->workloads;
	c.local = a->local;
	c.services = a->services;
	c.rules = a->rules;
	c.entries = a->entries;
	pthread_mutex_unlock(&a->stats_lock);
	metrics_emit(w, METRIC_COUNTER, "shunt_config_applies_total",
		     "Configs applied to the kernel.", NULL, NULL, (double)c.applies);
	metrics_emit(w, METRIC_COUNTER, "shunt_config_failures_total",
		     "Configs rejected; the previous one stayed.", NULL, NULL, (double)c.failures);
	emit_gauge(w, "shunt_config_version", NULL, NULL, NULL, (double)c.version);
	emit_gauge(w, "shunt_config_apply_seconds",
		   "Last apply, from reading the source to the flip.", NULL, NULL,
		   c.last_apply_seconds);
	emit_gauge(w, "shunt_config_last_ok", NULL, NULL, NULL, c.last_error[0] == 0);
	emit_gauge(w, "shunt_workloads", NULL, "scope", "mesh", (double)c.workloads);
	emit_gauge(w, "shunt_workloads", NULL, "scope", "node", (double)c.local);
	emit_gauge(w, "shunt_services", NULL, NULL, NULL, (double)c.services);
	emit_gauge(w, "shunt_policy_rules", NULL, NULL, NULL, (double)c.rules);
	emit_gauge(w, "shunt_kernel_entries", NULL, NULL, NULL, (double)c.entries);
}

int agent_metrics_init(struct agent *a)
{
	struct metric_family *f;
	int err;

	if (!(a->metrics = metrics_registry_new(1)))
		return -ENOMEM;
	f = metrics_family(a->metrics, METRIC_HISTOGRAM, "shunt_config_apply_duration_seconds",
			   "Applies, from reading the source to the flip, by how the maps were "
			   "written.",
			   (const char *[]){"write", NULL}, apply_bounds,
			   sizeof(apply_bounds) / sizeof(apply_bounds[0]));
	a->apply_full = f ? metrics_series(f, (const char *[]){"full"}) : NULL;
	a->apply_incremental = f ? metrics_series(f, (const char *[]){"incremental"}) : NULL;
	if (!a->apply_full || !a->apply_incremental)
		return -ENOMEM;
	if (!(a->istio = datapath_istio_new(NULL)))
		return -ENOMEM;
	a->datapath = (struct datapath_metrics){.pins = a->pins, .istio = a->istio};
	if ((err = metrics_collector(a->metrics, collect_agent, a)) ||
	    (err = datapath_metrics_register(a->metrics, &a->datapath)))
		return err;
	return 0;
}

int agent_http_handler(const char *path, char **body, size_t *len, void *ctx)
{
	struct agent *a = ctx;
	FILE *out = open_memstream(body, len);
	int status = 200;

	if (!out)
		return 503;
	if (!strcmp(path, "/metrics")) {
		metrics_render(a->metrics, out);
	} else if (!strcmp(path, "/healthz")) {
		if (!a->applied) {
			status = 503;
			fprintf(out, "no config applied yet: %s\n",
				a->last_error[0] ? a->last_error : "starting");
		} else if (!shunt_datapath_present(a->pins)) {
			status = 503;
			fprintf(out, "the datapath is not loaded under %s\n", a->pins->root);
		} else {
			fprintf(out, "ok: config version %llu%s%s\n",
				(unsigned long long)a->version,
				a->last_error[0] ? "; last change rejected: " : "", a->last_error);
		}
	} else {
		status = 404;
		fprintf(out, "not found; try /metrics or /healthz\n");
	}
	fclose(out);
	return status;
}
