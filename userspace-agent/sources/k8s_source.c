// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The Kubernetes API as a config source (docs/kubernetes.md). open() starts
 * the watch thread; load() waits for the first complete sync (every kind
 * listed whole), then translates the caches into a model; the watch fd is
 * an eventfd the thread bumps whenever a cache changed after that sync.
 * While the API server is away the caches stay as they were, so load()
 * keeps answering the last state it knew. The mesh-wide settings file, if
 * any, is read at open (a bad one: the source does not open) and copied
 * into every model; a new version of it is read again at the next load (the
 * watch thread makes one due), and a bad one leaves the last good settings.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "k8s_impl.h"
#include "source.h"

struct k8s_source {
	struct config_source base;
	struct k8s_watcher w;
	struct mesh_config settings;	      /* with opts.mesh_settings: trustDomain, mtls, ... */
	struct k8s_file_stamp settings_stamp; /* the version last read (good or bad) */
	char describe[700];
};

static int k8s_open(const char *location, struct config_source **out, struct cfg_error *err)
{
	struct k8s_source *s = calloc(1, sizeof(*s));
	int ret;

	if (!s)
		return -ENOMEM;
	s->base.ops = &k8s_source_ops;
	s->w.event_fd = -1;
	if ((ret = k8s_opts_parse(&s->w.opts, location, err)))
		goto fail;
	if (s->w.opts.mesh_settings[0]) {
		k8s_file_stamp(s->w.opts.mesh_settings, &s->settings_stamp);
		if ((ret = k8s_settings_load(s->w.opts.mesh_settings, &s->settings, err)))
			goto fail;
	}
	ret = k8s_conn_load(&s->w.conn, s->w.opts.kubeconfig[0] ? s->w.opts.kubeconfig : NULL,
			    s->w.opts.sa_dir, err);
	if (ret)
		goto fail;
	snprintf(s->describe, sizeof(s->describe), "kubernetes %s (node %s)", s->w.conn.server,
		 s->w.opts.node);
	if ((ret = k8s_watcher_start(&s->w, err)))
		goto fail;
	*out = &s->base;
	return 0;
fail:
	k8s_watcher_stop(&s->w);
	k8s_conn_free(&s->w.conn);
	mesh_config_free(&s->settings);
	free(s);
	return ret;
}

/* Until every kind was listed once, or an auth failure, or the timeout. */
static int wait_synced(struct k8s_watcher *w, struct cfg_error *err)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += w->opts.sync_timeout_ms / 1000;
	until.tv_nsec += (long)(w->opts.sync_timeout_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	while (!w->all_synced && w->error != -EACCES)
		if (pthread_cond_timedwait(&w->cond, &w->lock, &until) == ETIMEDOUT)
			break;
	if (w->all_synced)
		return 0;
	snprintf(err->msg, sizeof(err->msg), "kubernetes: %.440s%s",
		 w->error_msg[0] ? w->error_msg : "no answer from the API server",
		 w->error == -EACCES ? "" : "; not every kind was listed yet");
	return w->error == -EACCES ? -EACCES : -EAGAIN;
}

/* A new version of the settings file: read; a good one replaces the
 * settings, a bad one is refused with its error (once per version) and the
 * last good settings stay, as an invalid config file is never applied. The
 * API's changes go on in either case. */
static void settings_refresh(struct k8s_source *s)
{
	const char *path = s->w.opts.mesh_settings;
	struct k8s_file_stamp now;
	struct mesh_config fresh;
	struct cfg_error err;

	if (!path[0])
		return;
	k8s_file_stamp(path, &now);
	if (k8s_file_stamp_same(&now, &s->settings_stamp))
		return;
	s->settings_stamp = now;
	memset(&err, 0, sizeof(err));
	if (k8s_settings_load(path, &fresh, &err)) {
		pr_warn("kubernetes: mesh settings not changed, the last good ones stay: %s",
			err.msg);
		return;
	}
	mesh_config_free(&s->settings);
	s->settings = fresh;
	pr_info("kubernetes: mesh settings read again from %s", path);
}

static int k8s_load(struct config_source *src, struct mesh_config *cfg, struct cfg_error *err)
{
	struct k8s_source *s = (struct k8s_source *)src;
	struct k8s_watcher *w = &s->w;
	struct k8s_translate_opts topts = {
	    .node = w->opts.node,
	    .trust_domain =
		s->settings.trust_domain ? s->settings.trust_domain : w->opts.trust_domain,
	    .source_name = s->describe,
	};
	json_t *caches[K8S_KINDS];
	unsigned int unplaced = 0;
	size_t i;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	settings_refresh(s);
	topts.trust_domain =
	    s->settings.trust_domain ? s->settings.trust_domain : w->opts.trust_domain;
	pthread_mutex_lock(&w->lock);
	if ((ret = wait_synced(w, err))) {
		pthread_mutex_unlock(&w->lock);
		return ret;
	}
	for (i = 0; i < K8S_KINDS; i++)
		caches[i] = w->inf[i].cache;
	topts.locate_ctx = &w->opts;
	topts.node_proxy = &s->settings.node_proxy;
	topts.unplaced = &unplaced;
	topts.route_outcomes = json_object();
	ret = k8s_translate(caches, &topts, cfg, err);
	if (!ret)
		__atomic_store_n(&w->unplaced, unplaced, __ATOMIC_RELEASE);
	if (!ret && topts.route_outcomes) { /* the routes' status: this snapshot's */
		json_decref(w->route_outcomes);
		w->route_outcomes = json_incref(topts.route_outcomes);
		w->status_due = true;
	}
	json_decref(topts.route_outcomes);
	pthread_mutex_unlock(&w->lock);
	if (!ret && w->multi)
		curl_multi_wakeup(w->multi);
	if (!ret && s->settings.path && (ret = k8s_settings_copy(&s->settings, cfg))) {
		mesh_config_free(cfg);
		snprintf(err->msg, sizeof(err->msg), "%.400s: out of memory", s->describe);
	}
	return ret;
}

/* Asked by what follows the source (not --check, not --once): from now on
 * the routes' status is written back too. */
static int k8s_watch(struct config_source *src, struct cfg_error *err)
{
	struct k8s_watcher *w = &((struct k8s_source *)src)->w;

	(void)err;
	pthread_mutex_lock(&w->lock);
	w->status_due = true;
	pthread_mutex_unlock(&w->lock);
	__atomic_store_n(&w->status_on, true, __ATOMIC_RELEASE);
	curl_multi_wakeup(w->multi);
	return w->event_fd;
}

static bool k8s_changed(struct config_source *src)
{
	uint64_t n = 0;

	return read(((struct k8s_source *)src)->w.event_fd, &n, sizeof(n)) == sizeof(n) && n;
}

static const char *k8s_describe(const struct config_source *src)
{
	return ((const struct k8s_source *)src)->describe;
}

static void k8s_close(struct config_source *src)
{
	struct k8s_source *s = (struct k8s_source *)src;

	if (!s)
		return;
	k8s_watcher_stop(&s->w);
	k8s_conn_free(&s->w.conn);
	mesh_config_free(&s->settings);
	free(s);
}

const struct config_source_ops k8s_source_ops = {
    .name = "kubernetes",
    .open = k8s_open,
    .load = k8s_load,
    .watch = k8s_watch,
    .changed = k8s_changed,
    .describe = k8s_describe,
    .close = k8s_close,
};
