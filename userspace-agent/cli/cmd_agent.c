// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * shunt agent --config FILE: keeps the kernel equal to the mesh config.
 * Loads the datapath when it is not there, applies the config, and applies
 * it again when the file changes (inotify on its directory, so editors that
 * replace the file are seen) or on SIGHUP. Logs one JSON object per line and
 * serves /metrics and /healthz. Everything it sets up is pinned: killing it
 * changes nothing in the kernel, and a new agent adopts the pinned state.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "counters.h"
#include "datapath.h"
#include "common/http_server.h"
#include "kernel_features.h"
#include "common/log.h"
#include "control/mesh_apply.h"
#include "model/mesh_config.h"
#include "sources/yaml_source.h"
#include "control/mesh_plan.h"
#include "mesh_read.h"
#include "mounts.h"

struct agent {
	struct shunt_cli *cli;
	const char *config;
	const char *node;
	char dir[PATH_MAX], base[NAME_MAX + 1];
	__u64 applies, failures;
	double last_apply_seconds, last_write_seconds;
	bool applied;
	char last_error[600];
	size_t workloads, local, services, rules, entries;
	__u64 version;
	struct mesh_shadow shadow;
};

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* What the config got away with: logged with every apply that reads it. */
static void log_config_warnings(const struct mesh_config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->nwarnings; i++)
		pr_warn("config: %s", cfg->warnings[i]);
	if (cfg->warnings_dropped)
		pr_warn("config: %zu more warnings", cfg->warnings_dropped);
}

/* Parse, compile, write, flip. Any failure before the flip changes nothing. */
static int agent_apply(struct agent *a, const char *why)
{
	struct mesh_apply_stats stats;
	struct mesh_config cfg;
	struct mesh_plan plan;
	struct cfg_error cerr;
	struct timespec t0;
	int err;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	err = mesh_config_load(&cfg, a->config, &cerr);
	if (!err) {
		log_config_warnings(&cfg);
		err = mesh_plan_build(&plan, &cfg, a->node, &cerr);
		mesh_config_free(&cfg);
		if (!err && mesh_plan_index(&plan)) {
			mesh_plan_free(&plan);
			snprintf(cerr.msg, sizeof(cerr.msg), "out of memory");
			err = -ENOMEM;
		}
	}
	if (err) {
		a->failures++;
		snprintf(a->last_error, sizeof(a->last_error), "%s", cerr.msg);
		pr_err("config rejected (%s): %s; the running configuration (version %llu) stays",
		       why, cerr.msg, (unsigned long long)a->version);
		return err;
	}
	err = mesh_apply(&a->cli->pins, &plan, &a->shadow, &stats);
	if (err) {
		a->failures++;
		snprintf(a->last_error, sizeof(a->last_error), "kernel update failed: %s",
			 strerror(-err));
		mesh_plan_free(&plan);
		return err;
	}
	a->applied = true;
	a->applies++;
	a->last_error[0] = 0;
	a->version = stats.version;
	/* The plan now belongs to the shadow; its counts are read from there. */
	a->workloads = a->shadow.plans[stats.gen].nworkloads;
	a->local = a->shadow.plans[stats.gen].nlocal;
	a->services = a->shadow.plans[stats.gen].nservices;
	a->rules = a->shadow.plans[stats.gen].nrules;
	a->entries = stats.entries;
	a->last_write_seconds = (double)stats.write_ns / 1e9;
	a->last_apply_seconds = seconds_since(&t0) - (double)stats.cleanup_ns / 1e9;
	pr_info("applied config version %llu (%s): %zu workloads (%zu on node %s), %zu services, "
		"%zu rules -> %llu kernel entries, %llu written (%s); live %.1f ms after reading "
		"the file began, of which %.1f ms kernel update",
		(unsigned long long)stats.version, why, a->workloads, a->local,
		a->node ? a->node : "-", a->services, a->rules, (unsigned long long)stats.entries,
		(unsigned long long)stats.written, stats.incremental ? "the difference" : "in full",
		a->last_apply_seconds * 1e3, (double)stats.write_ns / 1e6);
	return 0;
}

struct metrics_ctx {
	FILE *out;
	int names_fd;
	__u32 gen;
};

static void metric_verdict(const struct shunt_verdict_key *k, __u64 count, void *ctx)
{
	struct metrics_ctx *m = ctx;
	char src[128], dst[128];

	mesh_name(m->names_fd, m->gen, SHUNT_NAME_IDENT, k->src, src, sizeof(src));
	mesh_name(m->names_fd, m->gen, SHUNT_NAME_IDENT, k->dst, dst, sizeof(dst));
	fprintf(m->out,
		"shunt_policy_verdicts_total{source=\"%s\",destination=\"%s\",port=\"%u\","
		"protocol=\"%s\",direction=\"%s\",verdict=\"%s\"} %llu\n",
		k->src ? src : "-", k->dst ? dst : "-", k->port, mesh_proto_name(k->proto),
		k->direction == SHUNT_DIR_INGRESS ? "ingress" : "egress",
		mesh_verdict_name(k->verdict), (unsigned long long)count);
}

static void write_metrics(struct agent *a, FILE *out)
{
	struct shunt_mesh_counters mc;
	struct shunt_counters bc;
	struct metrics_ctx m = {.out = out, .names_fd = -1};
	__u64 version;
	size_t i;

	fprintf(out,
		"# HELP shunt_config_applies_total Configs applied to the kernel.\n"
		"# TYPE shunt_config_applies_total counter\nshunt_config_applies_total %llu\n"
		"# HELP shunt_config_failures_total Configs rejected; the previous one stayed.\n"
		"# TYPE shunt_config_failures_total counter\nshunt_config_failures_total %llu\n"
		"# TYPE shunt_config_version gauge\nshunt_config_version %llu\n"
		"# HELP shunt_config_apply_seconds Last apply, from reading the file to the flip.\n"
		"# TYPE shunt_config_apply_seconds gauge\nshunt_config_apply_seconds %.6f\n"
		"# TYPE shunt_config_last_ok gauge\nshunt_config_last_ok %d\n"
		"# TYPE shunt_workloads gauge\nshunt_workloads{scope=\"mesh\"} %zu\n"
		"shunt_workloads{scope=\"node\"} %zu\n"
		"# TYPE shunt_services gauge\nshunt_services %zu\n"
		"# TYPE shunt_policy_rules gauge\nshunt_policy_rules %zu\n"
		"# TYPE shunt_kernel_entries gauge\nshunt_kernel_entries %zu\n",
		(unsigned long long)a->applies, (unsigned long long)a->failures,
		(unsigned long long)a->version, a->last_apply_seconds, a->last_error[0] == 0,
		a->workloads, a->local, a->services, a->rules, a->entries);
	if (!shunt_counters_read(&a->cli->pins, &bc)) {
		fprintf(out,
			"# TYPE shunt_bypass_messages_total counter\n"
			"shunt_bypass_messages_total{path=\"bypass\"} %llu\n"
			"shunt_bypass_messages_total{path=\"tcp\"} %llu\n"
			"# TYPE shunt_bypass_bytes_total counter\n"
			"shunt_bypass_bytes_total{path=\"bypass\"} %llu\n"
			"shunt_bypass_bytes_total{path=\"tcp\"} %llu\n"
			"# TYPE shunt_bypass_sockets_added_total counter\n"
			"shunt_bypass_sockets_added_total %llu\n"
			"# TYPE shunt_bypass_sockets_left_total counter\n"
			"shunt_bypass_sockets_left_total %llu\n"
			"# TYPE shunt_local_congestion_total counter\n"
			"shunt_local_congestion_total{result=\"set\"} %llu\n"
			"shunt_local_congestion_total{result=\"refused\"} %llu\n",
			(unsigned long long)bc.msgs_redirected, (unsigned long long)bc.msgs_tcp,
			(unsigned long long)bc.bytes_redirected, (unsigned long long)bc.bytes_tcp,
			(unsigned long long)bc.socks_added, (unsigned long long)bc.socks_left,
			(unsigned long long)bc.cc_set, (unsigned long long)bc.cc_failed);
		fprintf(out, "# TYPE shunt_bypass_handbacks_total counter\n");
		for (i = 0; i < SHUNT_REASON_MAX; i++)
			fprintf(out, "shunt_bypass_handbacks_total{reason=\"%s\"} %llu\n",
				shunt_reason_names[i],
				(unsigned long long)shunt_reason_slots(&bc.handbacks)[i]);
	}
	if (!mesh_counters_read(&a->cli->pins, &mc))
		fprintf(out,
			"# TYPE shunt_connects_total counter\nshunt_connects_total %llu\n"
			"# TYPE shunt_service_translations_total counter\n"
			"shunt_service_translations_total %llu\n"
			"# TYPE shunt_service_no_backend_total counter\n"
			"shunt_service_no_backend_total %llu\n"
			"# TYPE shunt_policy_denied_total counter\n"
			"shunt_policy_denied_total{where=\"egress\"} %llu\n"
			"shunt_policy_denied_total{where=\"ingress_at_connect\"} %llu\n"
			"shunt_policy_denied_total{where=\"ingress\"} %llu\n"
			"# TYPE shunt_flow_events_lost_total counter\n"
			"shunt_flow_events_lost_total %llu\n",
			(unsigned long long)mc.connects, (unsigned long long)mc.translated,
			(unsigned long long)mc.no_backend, (unsigned long long)mc.egress_denied,
			(unsigned long long)mc.ingress_denied_early,
			(unsigned long long)mc.ingress_denied, (unsigned long long)mc.flows_lost);
	if (!mesh_state_read(&a->cli->pins, &m.gen, &version)) {
		m.names_fd = shunt_pinned_map_fd(&a->cli->pins, "shunt_names");
		fprintf(out, "# HELP shunt_policy_verdicts_total Policy decisions (new connections "
			     "and UDP datagrams).\n# TYPE shunt_policy_verdicts_total counter\n");
		mesh_verdicts_each(&a->cli->pins, metric_verdict, &m);
		if (m.names_fd >= 0)
			close(m.names_fd);
	}
}

static int http_handler(const char *path, char **body, size_t *len, void *ctx)
{
	struct agent *a = ctx;
	FILE *out = open_memstream(body, len);
	int status = 200;

	if (!out)
		return 503;
	if (!strcmp(path, "/metrics")) {
		write_metrics(a, out);
	} else if (!strcmp(path, "/healthz")) {
		if (!a->applied) {
			status = 503;
			fprintf(out, "no config applied yet: %s\n",
				a->last_error[0] ? a->last_error : "starting");
		} else if (!shunt_datapath_present(&a->cli->pins)) {
			status = 503;
			fprintf(out, "the datapath is not loaded under %s\n", a->cli->pins.root);
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

static int agent_loop(struct agent *a, int http_fd)
{
	struct epoll_event ev, events[8];
	int ep = -1, sig_fd = -1, ino_fd = -1, err = 0, n, i;
	bool pending = false;
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sig_fd = signalfd(-1, &mask, SFD_CLOEXEC);
	ino_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (sig_fd < 0 || ino_fd < 0 || ep < 0) {
		err = -errno;
		goto out;
	}
	if (inotify_add_watch(ino_fd, a->dir,
			      IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MODIFY) <
	    0) {
		err = -errno;
		pr_err("cannot watch %s: %s", a->dir, strerror(-err));
		goto out;
	}
	ev = (struct epoll_event){.events = EPOLLIN, .data.fd = sig_fd};
	epoll_ctl(ep, EPOLL_CTL_ADD, sig_fd, &ev);
	ev.data.fd = ino_fd;
	epoll_ctl(ep, EPOLL_CTL_ADD, ino_fd, &ev);
	if (http_fd >= 0) {
		ev.data.fd = http_fd;
		epoll_ctl(ep, EPOLL_CTL_ADD, http_fd, &ev);
	}
	for (;;) {
		/* A burst of file events becomes one apply, 50 ms after the last. */
		n = epoll_wait(ep, events, 8, pending ? 50 : -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			break;
		}
		if (n == 0 && pending) {
			pending = false;
			agent_apply(a, "file changed");
			continue;
		}
		for (i = 0; i < n; i++) {
			int fd = events[i].data.fd;

			if (fd == sig_fd) {
				struct signalfd_siginfo si;

				if (read(sig_fd, &si, sizeof(si)) != sizeof(si))
					continue;
				if (si.ssi_signo == SIGHUP) {
					agent_apply(a, "SIGHUP");
					continue;
				}
				pr_info("signal %u: exiting; the datapath stays loaded and pinned",
					si.ssi_signo);
				goto out;
			} else if (fd == ino_fd) {
				char buf[4096]
				    __attribute__((aligned(__alignof__(struct inotify_event))));
				ssize_t len;
				char *p;

				while ((len = read(ino_fd, buf, sizeof(buf))) > 0) {
					for (p = buf; p < buf + len;) {
						struct inotify_event *ie =
						    (struct inotify_event *)p;

						if (ie->len && !strcmp(ie->name, a->base) &&
						    !(ie->mask & IN_DELETE))
							pending = true;
						p += sizeof(*ie) + ie->len;
					}
				}
			} else if (fd == http_fd) {
				http_serve_one(http_fd, http_handler, a);
			}
		}
	}
out:
	if (ep >= 0)
		close(ep);
	if (ino_fd >= 0)
		close(ino_fd);
	if (sig_fd >= 0)
		close(sig_fd);
	return err;
}

/*
 * Loads the datapath when nothing is there; a loaded one is adopted as it is
 * (with --cgroup, a load also repairs a half-made earlier one). Either way
 * the first log lines say what this kernel gives and what it does not.
 */
static int agent_start_datapath(struct agent *a, const char *cgroup)
{
	struct shunt_load_opts lopts = {.pin_root = a->cli->pins.root, .cgroup = cgroup};
	bool present = shunt_datapath_present(&a->cli->pins);
	struct shunt_features features;
	char cgroup_root[PATH_MAX];
	int err;

	if (cgroup || !present) {
		if (!cgroup) {
			err = shunt_cgroup2_root(cgroup_root, sizeof(cgroup_root));
			if (err)
				return err;
			lopts.cgroup = cgroup_root;
		}
		/* The loader logs the features table when it loads. */
		err = shunt_datapath_load(&lopts);
		if (err)
			return err;
	}
	if (present) {
		pr_info("adopting the datapath pinned under %s", a->cli->pins.root);
		if (!shunt_features_read(&a->cli->pins, &features))
			shunt_features_log(&features);
		else
			pr_warn("the pinned datapath records no kernel features (loaded by an "
				"older shunt?); `shunt unload` and a new load will");
	}
	mesh_state_read(&a->cli->pins, &(__u32){0}, &a->version);
	return 0;
}

int cmd_agent(struct shunt_cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
	    {"config", required_argument, NULL, 'c'}, {"node", required_argument, NULL, 'n'},
	    {"cgroup", required_argument, NULL, 'g'}, {"metrics", required_argument, NULL, 'm'},
	    {"once", no_argument, NULL, 'o'},	      {"check", no_argument, NULL, 'k'},
	    {"log-text", no_argument, NULL, 't'},     {},
	};
	const char *cgroup = NULL, *metrics = "127.0.0.1:9464";
	struct agent a = {.cli = cli};
	char host[256], tmp[PATH_MAX];
	bool once = false, check = false, json_log = true;
	int opt, err, http_fd = -1;

	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			a.config = optarg;
			break;
		case 'n':
			a.node = optarg;
			break;
		case 'g':
			cgroup = optarg;
			break;
		case 'm':
			metrics = optarg;
			break;
		case 'o':
			once = true;
			break;
		case 'k':
			check = true;
			break;
		case 't':
			json_log = false;
			break;
		default:
			goto usage;
		}
	}
	if (!a.config || optind != argc)
		goto usage;

	if (check) {
		struct mesh_config cfg;
		struct mesh_plan plan;
		struct cfg_error cerr;

		err = mesh_config_load(&cfg, a.config, &cerr);
		if (!err) {
			for (size_t w = 0; w < cfg.nwarnings; w++)
				fprintf(stderr, "warning: %s\n", cfg.warnings[w]);
			err = mesh_plan_build(&plan, &cfg, a.node, &cerr);
			if (!err) {
				printf("%s: valid: %zu workloads, %zu services, %zu rules\n",
				       a.config, plan.nworkloads, plan.nservices, plan.nrules);
				mesh_plan_free(&plan);
			}
			mesh_config_free(&cfg);
		}
		if (err) {
			fprintf(stderr, "%s\n", cerr.msg);
			return -EINVAL;
		}
		return 0;
	}

	shunt_log_set_json(json_log);
	if (!a.node) {
		if (gethostname(host, sizeof(host)))
			return -errno;
		host[sizeof(host) - 1] = 0;
		a.node = host;
	}
	snprintf(tmp, sizeof(tmp), "%s", a.config);
	snprintf(a.dir, sizeof(a.dir), "%s", dirname(tmp));
	snprintf(tmp, sizeof(tmp), "%s", a.config);
	snprintf(a.base, sizeof(a.base), "%s", basename(tmp));

	/* The port first: an agent that cannot serve what it promised must
	 * say so before it touches the kernel, not after applying. */
	if (!once && strcmp(metrics, "none")) {
		http_fd = http_listen(metrics);
		if (http_fd < 0) {
			pr_err("cannot serve metrics on %s: %s; not starting (another agent "
			       "there? pick another --metrics ADDR:PORT, or none)",
			       metrics, strerror(-http_fd));
			return http_fd;
		}
	}
	err = agent_start_datapath(&a, cgroup);
	if (err) {
		if (http_fd >= 0)
			close(http_fd);
		return err;
	}
	err = agent_apply(&a, "start");
	if (once) {
		mesh_shadow_free(&a.shadow);
		return err;
	}
	if (http_fd >= 0)
		pr_info("serving /metrics and /healthz on %s", metrics);
	err = agent_loop(&a, http_fd);
	if (http_fd >= 0)
		close(http_fd);
	mesh_shadow_free(&a.shadow);
	return err;
usage:
	fprintf(stderr, "usage: shunt agent --config FILE [--node NAME] [--cgroup PATH] "
			"[--metrics ADDR:PORT|none] [--once] [--check] [--log-text]\n");
	return -EINVAL;
}
