// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The node agent's loop (agent.h): source -> plan -> apply -> publish, on
 * start, when the source says it changed (50 ms after the last change of a
 * burst) and on SIGHUP. Logs one JSON object per line.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "agent_impl.h"
#include "common/timer_wheel.h"
#include "common/http_server.h"
#include "common/push.h"
#include "common/log.h"
#include "datapath.h"
#include "datapath_istio.h"
#include "kernel_features.h"
#include "mesh_plan.h"
#include "mesh_read.h"
#include "model/model_json.h"
#include "mounts.h"
#include "pin_compat.h"

#define MODEL_FILE "/model.json"

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

/* The accepted model for the node proxy (model/model_json.h). A failure is
 * logged; the kernel has the config already. */
static void agent_publish(struct agent *a, const struct mesh_config *cfg, __u64 version)
{
	int err = mesh_model_publish(a->model_path, cfg, version);

	if (err)
		pr_err("cannot publish the model for the proxy to %s: %s", a->model_path,
		       strerror(-err));
	else if (!a->published++)
		pr_info("publishing the model for the proxy to %s after every apply",
			a->model_path);
}

/* A snapshot of the source, compiled for this node: CFG and PLAN are the
 * caller's on success. */
static int agent_build(struct agent *a, struct mesh_config *cfg, struct mesh_plan *plan,
		       struct cfg_error *cerr)
{
	int err = a->src->ops->load(a->src, cfg, cerr);

	if (err)
		return err;
	log_config_warnings(cfg);
	err = mesh_plan_build(plan, cfg, a->node, cerr);
	if (!err && mesh_plan_index(plan)) {
		mesh_plan_free(plan);
		snprintf(cerr->msg, sizeof(cerr->msg), "out of memory");
		err = -ENOMEM;
	}
	if (err)
		mesh_config_free(cfg);
	return err;
}

static void agent_note_applied(struct agent *a, const struct mesh_apply_stats *stats,
			       const struct timespec *t0, const char *why)
{
	const struct mesh_plan *live = &a->shadow.plans[stats->gen];

	pthread_mutex_lock(&a->stats_lock);
	a->applied = true;
	a->applies++;
	a->last_error[0] = 0;
	a->version = stats->version;
	/* The plan now belongs to the shadow; its counts are read from there. */
	a->workloads = live->nworkloads;
	a->local = live->nlocal;
	a->services = live->nservices;
	a->rules = live->nrules;
	a->entries = stats->entries;
	a->last_write_seconds = (double)stats->write_ns / 1e9;
	a->last_apply_seconds = seconds_since(t0) - (double)stats->cleanup_ns / 1e9;
	pthread_mutex_unlock(&a->stats_lock);
	metrics_observe(stats->incremental ? a->apply_incremental : a->apply_full,
			a->last_apply_seconds);
	pr_info("applied config version %llu (%s): %zu workloads (%zu on node %s), %zu services, "
		"%zu rules -> %llu kernel entries, %llu written (%s); live %.1f ms after reading "
		"the source began, of which %.1f ms kernel update",
		(unsigned long long)stats->version, why, a->workloads, a->local,
		a->node ? a->node : "-", a->services, a->rules, (unsigned long long)stats->entries,
		(unsigned long long)stats->written,
		stats->incremental ? "the difference" : "in full", a->last_apply_seconds * 1e3,
		(double)stats->write_ns / 1e6);
}

static void __attribute__((format(printf, 2, 3)))
agent_note_failed(struct agent *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pthread_mutex_lock(&a->stats_lock);
	a->failures++;
	vsnprintf(a->last_error, sizeof(a->last_error), fmt, ap);
	pthread_mutex_unlock(&a->stats_lock);
	va_end(ap);
}

/* Load, compile, write, flip, publish. Any failure before the flip changes
 * nothing. */
static int agent_apply(struct agent *a, const char *why)
{
	struct mesh_apply_stats stats;
	struct mesh_config cfg;
	struct mesh_plan plan;
	struct cfg_error cerr;
	struct timespec t0;
	int err;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((err = agent_build(a, &cfg, &plan, &cerr))) {
		agent_note_failed(a, "%s", cerr.msg);
		pr_err("config rejected (%s): %s; the running configuration (version %llu) stays",
		       why, cerr.msg, (unsigned long long)a->version);
		return err;
	}
	if ((err = mesh_apply(a->pins, &plan, &a->shadow, &stats))) {
		agent_note_failed(a, "kernel update failed: %s", strerror(-err));
		mesh_plan_free(&plan);
		mesh_config_free(&cfg);
		return err;
	}
	agent_note_applied(a, &stats, &t0, why);
	if (datapath_istio_learn(a->istio, &cfg))
		pr_warn("out of memory: istio_tcp_* keep the workloads of the previous config");
	agent_publish(a, &cfg, stats.version);
	mesh_config_free(&cfg);
	return 0;
}

/*
 * Loads the datapath when nothing is there; a loaded one is adopted as it is
 * (with --cgroup, a load also repairs a half-made earlier one). Either way
 * the first log lines say what this kernel gives and what it does not.
 */
static int agent_start_datapath(struct agent *a)
{
	struct shunt_load_opts lopts = {.pin_root = a->pins->root, .cgroup = a->opts->cgroup};
	bool present = shunt_datapath_present(a->pins);
	struct shunt_features features;
	char cgroup_root[PATH_MAX];
	int err;

	if (lopts.cgroup || !present) {
		if (!lopts.cgroup) {
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
		char why[512];

		err = shunt_pins_compatible(a->pins, why, sizeof(why));
		if (err == -EPROTO) {
			pr_err("cannot adopt the datapath: %s; `shunt unload` it (connections "
			       "fall back to plain TCP), then start again",
			       why);
			return err;
		}
		if (err)
			pr_warn("cannot compare the pinned maps with this build: %s",
				strerror(-err));
		pr_info("adopting the datapath pinned under %s", a->pins->root);
		if (!shunt_features_read(a->pins, &features))
			shunt_features_log(&features);
		else
			pr_warn("the pinned datapath records no kernel features (loaded by an "
				"older shunt?); `shunt unload` and a new load will");
	}
	mesh_state_read(a->pins, &(__u32){0}, &a->version);
	return 0;
}

#define SOURCE_SETTLE_MS 50

/* The descriptors the loop waits on. */
struct agent_fds {
	int ep, sig, watch, http;
};

static int agent_fds_open(struct agent *a, struct agent_fds *f, int http_fd)
{
	struct epoll_event ev = {.events = EPOLLIN};
	int fds[3] = {-1, -1, http_fd}, i;
	struct cfg_error cerr;
	sigset_t mask;

	*f = (struct agent_fds){.ep = -1, .sig = -1, .watch = -1, .http = http_fd};
	fds[1] = a->src->ops->watch(a->src, &cerr);
	if (fds[1] < 0 && fds[1] != -EOPNOTSUPP) {
		pr_err("%s", cerr.msg);
		return fds[1];
	}
	f->watch = fds[1] = fds[1] < 0 ? -1 : fds[1];
	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	fds[0] = f->sig = signalfd(-1, &mask, SFD_CLOEXEC);
	f->ep = epoll_create1(EPOLL_CLOEXEC);
	if (f->sig < 0 || f->ep < 0)
		return -errno;
	for (i = 0; i < 3; i++) {
		ev.data.fd = fds[i];
		if (fds[i] >= 0 && epoll_ctl(f->ep, EPOLL_CTL_ADD, fds[i], &ev))
			return -errno;
	}
	return 0;
}

static void agent_fds_close(struct agent_fds *f)
{
	if (f->ep >= 0)
		close(f->ep);
	if (f->sig >= 0)
		close(f->sig);
}

/* A signal: SIGHUP applies again; true when it says to exit. */
static bool agent_on_signal(struct agent *a, int sig_fd)
{
	struct signalfd_siginfo si;

	if (read(sig_fd, &si, sizeof(si)) != sizeof(si))
		return false;
	if (si.ssi_signo == SIGHUP) {
		agent_apply(a, "SIGHUP");
		return false;
	}
	pr_info("signal %u: exiting; the datapath stays loaded and pinned", si.ssi_signo);
	return true;
}

static void agent_on_settled(struct timer *t, void *ctx)
{
	(void)t;
	agent_apply(ctx, "source changed");
}

static int agent_loop(struct agent *a, int http_fd)
{
	struct epoll_event events[8];
	struct timer_wheel wheel;
	struct timer settle;
	struct agent_fds f;
	int err, n, i;

	timer_wheel_init(&wheel, timer_now_ms());
	timer_init(&settle, agent_on_settled, a);
	if ((err = agent_fds_open(a, &f, http_fd)))
		goto out;
	for (;;) {
		n = epoll_wait(f.ep, events, 8, timer_wheel_next_ms(&wheel));
		if (n < 0 && errno != EINTR) {
			err = -errno;
			break;
		}
		timer_wheel_advance(&wheel, timer_now_ms());
		for (i = 0; i < n; i++) {
			if (events[i].data.fd == f.sig && agent_on_signal(a, f.sig))
				goto out;
			/* A burst of source changes becomes one apply, 50 ms after the
			 * last change, however busy the other descriptors are. */
			if (events[i].data.fd == f.watch && a->src->ops->changed(a->src))
				timer_arm(&wheel, &settle, timer_now_ms() + SOURCE_SETTLE_MS);
			if (events[i].data.fd == f.http)
				http_serve_one(f.http, agent_http_handler, a);
		}
	}
out:
	agent_fds_close(&f);
	return err;
}

/* The node name, the source and the model's path. */
static int agent_init(struct agent *a, const struct shunt_pins *pins, const struct agent_opts *opts)
{
	struct cfg_error cerr;
	int err;

	*a = (struct agent){.pins = pins,
			    .opts = opts,
			    .node = opts->node,
			    .stats_lock = PTHREAD_MUTEX_INITIALIZER};
	if (!a->node) {
		if (gethostname(a->host, sizeof(a->host)))
			return -errno;
		a->host[sizeof(a->host) - 1] = 0;
		a->node = a->host;
	}
	err = shunt_run_dir(pins, a->model_path, sizeof(a->model_path) - sizeof(MODEL_FILE));
	if (err)
		return err;
	strcat(a->model_path, MODEL_FILE);
	if ((err = opts->source->open(opts->location, &a->src, &cerr)))
		pr_err("config source %s: %s", opts->source->name, cerr.msg);
	return err;
}

int agent_run(const struct shunt_pins *pins, const struct agent_opts *opts)
{
	int err, http_fd = -1;
	struct agent a;

	if ((err = agent_init(&a, pins, opts)))
		return err;
	if ((err = agent_metrics_init(&a)))
		goto out;
	/* The port first: an agent that cannot serve what it promised must
	 * say so before it touches the kernel, not after applying. */
	if (!opts->once && opts->metrics && (http_fd = http_listen(opts->metrics)) < 0) {
		pr_err("cannot serve metrics on %s: %s; not starting (another agent there? pick "
		       "another --metrics ADDR:PORT, or none)",
		       opts->metrics, strerror(-http_fd));
		err = http_fd;
		goto out;
	}
	if ((err = agent_start_datapath(&a)))
		goto out;
	err = agent_apply(&a, "start");
	if (opts->once)
		goto out;
	if (http_fd >= 0)
		pr_info("serving /metrics and /healthz on %s", opts->metrics);
	if (opts->npush && !(a.push = push_start(a.metrics, opts->push, opts->npush, a.node))) {
		err = -errno;
		goto out;
	}
	err = agent_loop(&a, http_fd);
out:
	push_stop(a.push);
	if (http_fd >= 0)
		close(http_fd);
	mesh_shadow_free(&a.shadow);
	metrics_registry_free(a.metrics);
	datapath_istio_free(a.istio);
	a.src->ops->close(a.src);
	return err;
}

int agent_check(const struct agent_opts *opts, struct agent_check *out,
		void (*warn)(void *ctx, const char *warning), void *ctx, struct cfg_error *err)
{
	struct config_source *src = NULL;
	struct mesh_config cfg;
	struct mesh_plan plan;
	size_t i;
	int ret;

	if ((ret = opts->source->open(opts->location, &src, err)))
		return ret;
	if ((ret = src->ops->load(src, &cfg, err)))
		goto out;
	for (i = 0; i < cfg.nwarnings; i++)
		warn(ctx, cfg.warnings[i]);
	if (!(ret = mesh_plan_build(&plan, &cfg, opts->node, err))) {
		*out = (struct agent_check){plan.nworkloads, plan.nservices, plan.nrules};
		mesh_plan_free(&plan);
	}
	mesh_config_free(&cfg);
out:
	src->ops->close(src);
	return ret;
}
