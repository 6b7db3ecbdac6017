// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * shunt agent --kubernetes: the Kubernetes source's location string from
 * the flags, and --print-model, which follows any source and prints each
 * model it gives as one JSON document on one line (mesh_model_to_json_doc:
 * the lists as arrays, unlike the model file), touching nothing:
 * what the agent would apply, for people and for tests. SIGHUP loads and
 * prints the model again, even an unchanged one.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd_agent_k8s.h"
#include "control/agent.h"
#include "model/model_json.h"

int agent_k8s_location(char *buf, size_t len, const char *kubeconfig, const char *node,
		       const char *const *extra, size_t nextra)
{
	char host[256];
	size_t i, n;

	if (!node) {
		if (gethostname(host, sizeof(host)))
			return -errno;
		host[sizeof(host) - 1] = 0;
		node = host;
	}
	n = (size_t)snprintf(buf, len, "node=%s", node);
	if (kubeconfig && n < len)
		n += (size_t)snprintf(buf + n, len - n, ",kubeconfig=%s", kubeconfig);
	for (i = 0; i < nextra && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, ",%s", extra[i]);
	return n < len ? 0 : -ENAMETOOLONG;
}

int agent_k8s_flag(struct agent_k8s_flags *f, int opt, const char *arg)
{
	switch (opt) {
	case 'K':
		f->on = true;
		return 0;
	case 'C':
		f->kubeconfig = arg;
		return 0;
	case 'O':
		if (f->nextra == sizeof(f->extra) / sizeof(f->extra[0]))
			return -EINVAL;
		f->extra[f->nextra++] = arg;
		return 0;
	case 'P':
		f->print = true;
		return 0;
	}
	return -EINVAL;
}

int agent_k8s_source(const struct agent_k8s_flags *f, struct agent_opts *opts, char *buf,
		     size_t len)
{
	if (!f->on)
		return opts->location && !f->kubeconfig && !f->nextra ? 0 : -EINVAL;
	if (opts->location ||
	    agent_k8s_location(buf, len, f->kubeconfig, opts->node, f->extra, f->nextra))
		return -EINVAL;
	opts->source = &k8s_source_ops;
	opts->location = buf;
	return 0;
}

static volatile sig_atomic_t reload;

static void on_hup(int sig)
{
	(void)sig;
	reload = 1;
}

/* One snapshot: printed when it differs from the last one printed (ALWAYS:
 * in any case, after a SIGHUP). */
static void print_model(struct config_source *src, char **last, bool always)
{
	struct mesh_config cfg;
	struct cfg_error err;
	char *json = NULL;
	size_t len;
	int ret;

	if ((ret = src->ops->load(src, &cfg, &err))) {
		fprintf(stderr, "model not loaded: %s\n", err.msg);
		return;
	}
	ret = mesh_model_to_json_doc(&cfg, 0, &json, &len);
	mesh_config_free(&cfg);
	if (ret) {
		fprintf(stderr, "model not printed: %s\n", strerror(-ret));
		return;
	}
	if (*last && !strcmp(*last, json) && !always) {
		free(json);
		return;
	}
	printf("%s\n", json);
	fflush(stdout);
	free(*last);
	*last = json;
}

int agent_print_model(const struct config_source_ops *ops, const char *location, bool once)
{
	struct config_source *src = NULL;
	struct sigaction sa = {.sa_handler = on_hup};
	struct cfg_error err;
	char *last = NULL;
	int fd, ret;

	if ((ret = ops->open(location, &src, &err))) {
		fprintf(stderr, "%s\n", err.msg);
		return ret;
	}
	print_model(src, &last, false);
	if (once) {
		ret = last ? 0 : -EINVAL;
		goto out;
	}
	if ((fd = src->ops->watch(src, &err)) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		ret = fd;
		goto out;
	}
	sigaction(SIGHUP, &sa, NULL);
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		/* Without a model yet, ask again each second (load waits for it). */
		ret = poll(&p, 1, last ? -1 : 1000);
		if (ret < 0 && errno != EINTR)
			break;
		if ((ret > 0 && src->ops->changed(src)) || !last || reload) {
			print_model(src, &last, reload);
			reload = 0;
		}
	}
	ret = -errno;
out:
	free(last);
	src->ops->close(src);
	return ret;
}
