// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The node proxy (see proxy.h and docs/proxy.md): set-up, and one event
 * loop per worker thread, each with its own listeners (SO_REUSEPORT) and
 * tunnels; non-blocking sockets and OpenSSL, edge-triggered epoll.
 */
#include "proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "common/addr.h"
#include "common/http_server.h"
#include "common/push.h"
#include "proxy_trace.h"
#include "common/log.h"
#include "kernel_features.h"
#include "mesh_read.h"
#include "proxy_impl.h"
#include "proxy_stats.h"
#include "proxy_tproxy.h"

#define FD_LIMIT     262144 /* one per proxied connection, and then some */
#define MODEL_WAIT_S 10	    /* for the agent's first model */
#define MAX_EVENTS   64

struct proxy_globals px;

static void on_signal(int sig)
{
	(void)sig;
	proxy_drain_signal();
}

/* Brings W's snapshots up to date: between batches, never mid-request. */
static void worker_follow(struct proxy_worker *w)
{
	snap_follow(&px.model_slot, &w->model);
	snap_follow(&px.tls_slot, &w->tls);
}

static void accept_all(struct proxy_worker *w, int lfd, bool inbound)
{
	static _Atomic time_t warned;

	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			time_t now = time(NULL);

			if ((errno == EMFILE || errno == ENFILE) &&
			    atomic_exchange(&warned, now) != now)
				pr_warn("cannot accept: %s (connections open: %llu)",
					strerror(errno),
					atomic_load(&hbone_stats.streams_active[0]) +
					    atomic_load(&hbone_stats.streams_active[1]));
			return;
		}
		if (inbound)
			proxy_accept_inbound(w, fd);
		else
			proxy_accept_outbound(w, fd);
	}
}

static void accept_l7(struct proxy_worker *w, int lfd)
{
	int fd;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
		proxy_accept_l7(w, fd);
}

static void *worker_main(void *arg)
{
	struct proxy_worker *w = arg;
	struct epoll_event evs[MAX_EVENTS];
	time_t last = time(NULL);
	int n, i;

	while (!atomic_load(&px.stopping)) {
		bool draining = atomic_load(&px.draining);

		n = epoll_wait(w->ep, evs, MAX_EVENTS, draining ? 100 : 1000);
		worker_follow(w);
		for (i = 0; i < n; i++) {
			void *ptr = evs[i].data.ptr;

			if (ptr == &w->out_fd)
				accept_all(w, w->out_fd, false);
			else if (ptr == &w->out6_fd)
				accept_all(w, w->out6_fd, false);
			else if (ptr == &w->in_fd)
				accept_all(w, w->in_fd, true);
			else if (ptr == &w->l7_fd || ptr == &w->l7_6_fd)
				accept_l7(w, *(int *)ptr);
			else if (ptr == &w->l7_ep)
				l7_loop_run(w->l7);
			else
				hbone_loop_event(w->loop, ptr);
		}
		if (time(NULL) != last) {
			last = time(NULL);
			hbone_loop_expire(w->loop, px.idle_timeout);
			l7_loop_prune(w->l7);
		}
		hbone_loop_reap(w->loop);
		proxy_access_log_flush(w);
		if (draining && proxy_drain_worker_done(w))
			break;
	}
	l7_loop_free(w->l7);
	w->l7 = NULL;
	hbone_loop_free(w->loop);
	w->loop = NULL;
	return NULL;
}

/* ARG: the address. Bound already when it could be; else (EADDRINUSE:
 * the proxy being replaced is of a version that does not share the port)
 * bound again every 2 s, once that one has gone. */
static void *metrics_main(void *arg)
{
	const char *addr = arg;
	struct pollfd pfd = {.fd = px.metrics_fd, .events = POLLIN};
	int tries = 0;

	/* draining: the proxy that replaces this one answers */
	while (!atomic_load(&px.stopping) && !atomic_load(&px.draining)) {
		if (pfd.fd < 0 && ++tries % 4 == 0 && (pfd.fd = http_listen_shared(addr)) >= 0)
			pr_info("serving metrics on %s now", addr);
		if (pfd.fd < 0)
			usleep(500 * 1000);
		else if (poll(&pfd, 1, 500) > 0)
			http_serve_one(pfd.fd, proxy_metrics_handler, NULL);
	}
	if (pfd.fd >= 0)
		close(pfd.fd);
	return NULL;
}

static int listen_on(const struct cfg_endpoint *e)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1;

	len = shunt_addr_to_sockaddr(e->addr, e->port, &ss);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 4096)) {
		int err = -errno;

		close(fd);
		return err;
	}
	proxy_drain_attach_migration(fd);
	return fd;
}

/* Each proxied connection holds a descriptor on each proxy (tunnels add
 * one per 128): the usual 1024 would cap a node far below 10,000
 * connections. Raising the hard limit needs CAP_SYS_RESOURCE. */
static void raise_fd_limit(void)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r) || r.rlim_cur >= FD_LIMIT)
		return;
	r.rlim_cur = FD_LIMIT;
	if (r.rlim_max < FD_LIMIT)
		r.rlim_max = FD_LIMIT;
	if (setrlimit(RLIMIT_NOFILE, &r)) {
		getrlimit(RLIMIT_NOFILE, &r);
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
		getrlimit(RLIMIT_NOFILE, &r);
		pr_warn("file descriptors limited to %llu (no CAP_SYS_RESOURCE to raise it): "
			"at most about that many proxied connections",
			(unsigned long long)r.rlim_cur);
	}
}

/* The pinned maps and programs the proxy uses. */
static int open_datapath(const struct shunt_pins *pins)
{
	char path[PATH_MAX];

	px.orig_fd = shunt_pinned_map_fd(pins, "shunt_proxy_orig");
	px.asserted_fd = shunt_pinned_map_fd(pins, "shunt_proxy_asserted");
	px.names_fd = shunt_pinned_map_fd(pins, "shunt_names");
	px.state_fd = shunt_pinned_map_fd(pins, "shunt_mesh_state");
	px.flow_fd = -1;
	if (!shunt_pin_path(path, sizeof(path), pins->progs, "shunt_flow_inject"))
		px.flow_fd = bpf_obj_get(path);
	if (px.flow_fd < 0)
		pr_warn("no flow events from the proxy: %s is not pinned (reload the datapath "
			"with this version)",
			path);
	px.policy_fd = mesh_policy_query_open(pins);
	if (px.orig_fd < 0 || px.asserted_fd < 0 || px.names_fd < 0 || px.state_fd < 0 ||
	    px.policy_fd < 0) {
		pr_err("the datapath is not loaded under %s (start `shunt agent` first)",
		       pins->root);
		return -ENOENT;
	}
	return 0;
}

/* sourceAddress client: the answers of workloads come back here. */
static void transparent_start(const struct shunt_pins *pins, const struct cfg_node *me)
{
	const char *why = "the datapath has no shunt_tproxy_mark (reload it with this version)";
	struct shunt_features feats;
	/* An older datapath records no features: what this version assumed before. */
	int feats_err = shunt_features_read(pins, &feats);
	char path[PATH_MAX], link[PATH_MAX];
	int prog = -1;

	if (!shunt_pin_path(path, sizeof(path), pins->progs, "shunt_tproxy_mark"))
		prog = bpf_obj_get(path);
	if (shunt_pin_path(link, sizeof(link), pins->links, SHUNT_TPROXY_LINK_PIN))
		link[0] = 0;
	px.transparent =
	    prog >= 0 &&
	    !tproxy_start(me, prog, feats_err || shunt_feature_on(&feats, SHUNT_FEAT_TCX), link,
			  &why);
	if (prog >= 0)
		close(prog); /* the link holds it */
	if (!px.transparent)
		pr_warn("sourceAddress client: %s; workloads see the node's address", why);
}

static int metrics_start(const char *addr)
{
	pthread_t mt;
	int mfd;

	if (!addr || !strcmp(addr, "none"))
		return 0;
	mfd = http_listen_shared(addr); /* with the proxy replacing this one */
	if (mfd == -EADDRINUSE)
		pr_warn("cannot serve metrics on %s yet: %s (a proxy that does not share the "
			"port?); trying again every 2 s",
			addr, strerror(-mfd));
	else if (mfd < 0) {
		pr_err("cannot serve metrics on %s: %s", addr, strerror(-mfd));
		return mfd;
	}
	px.metrics_fd = mfd;
	if (pthread_create(&mt, NULL, metrics_main, (void *)addr)) {
		if (mfd >= 0)
			close(mfd);
		return -EAGAIN;
	}
	pthread_detach(mt);
	return 0;
}

/* The L7 side: its listeners on the outbound addresses, and its loop. */
static int worker_listen_l7(struct proxy_worker *w, const struct cfg_node *me)
{
	struct epoll_event ev = {.events = EPOLLIN};
	struct cfg_endpoint e = me->outbound;
	char hop[64];

	e.port = me->l7_port ? me->l7_port : CFG_L7_PORT_DEFAULT;
	w->l7_fd = listen_on(&e);
	if (me->has_outbound6) {
		e = me->outbound6;
		e.port = me->l7_port ? me->l7_port : CFG_L7_PORT_DEFAULT;
		w->l7_6_fd = listen_on(&e);
	}
	snprintf(hop, sizeof(hop), "shunt-proxy/%s", me->name);
	w->l7 = l7_loop_new(&proxy_l7_ops, w, hop);
	if (w->l7_fd < 0 || (me->has_outbound6 && w->l7_6_fd < 0) || !w->l7) {
		pr_err("cannot listen for L7: %s", strerror(w->l7_fd < 0 ? -w->l7_fd
							    : w->l7	 ? -w->l7_6_fd
									 : ENOMEM));
		return w->l7_fd < 0 ? w->l7_fd : -ENOMEM;
	}
	w->l7_ep = l7_loop_fd(w->l7);
	ev.data.ptr = &w->l7_fd;
	epoll_ctl(w->ep, EPOLL_CTL_ADD, w->l7_fd, &ev);
	if (w->l7_6_fd >= 0) {
		ev.data.ptr = &w->l7_6_fd;
		epoll_ctl(w->ep, EPOLL_CTL_ADD, w->l7_6_fd, &ev);
	}
	ev.data.ptr = &w->l7_ep;
	epoll_ctl(w->ep, EPOLL_CTL_ADD, w->l7_ep, &ev);
	return 0;
}

/* W's listeners on ME's addresses, in a new epoll instance. */
static int worker_listen(struct proxy_worker *w, const struct cfg_node *me)
{
	struct epoll_event ev = {.events = EPOLLIN};
	int err;

	w->ep = epoll_create1(EPOLL_CLOEXEC);
	/* Outbound: every address of the node (pods use the gateway). */
	w->out_fd = listen_on(&me->outbound);
	w->in_fd = listen_on(&me->inbound);
	w->out6_fd = me->has_outbound6 ? listen_on(&me->outbound6) : -1;
	if (w->ep < 0 || w->out_fd < 0 || w->in_fd < 0 || (me->has_outbound6 && w->out6_fd < 0)) {
		err = w->ep < 0	      ? -errno
		      : w->out_fd < 0 ? w->out_fd
		      : w->in_fd < 0  ? w->in_fd
				      : w->out6_fd;
		pr_err("cannot listen: %s", strerror(-err));
		return err;
	}
	ev.data.ptr = &w->out_fd;
	epoll_ctl(w->ep, EPOLL_CTL_ADD, w->out_fd, &ev);
	ev.data.ptr = &w->in_fd;
	epoll_ctl(w->ep, EPOLL_CTL_ADD, w->in_fd, &ev);
	if (w->out6_fd >= 0) {
		ev.data.ptr = &w->out6_fd;
		epoll_ctl(w->ep, EPOLL_CTL_ADD, w->out6_fd, &ev);
	}
	w->loop = hbone_loop_new(w->ep, &proxy_hbone_ops, w);
	if (!w->loop)
		return -ENOMEM;
	return worker_listen_l7(w, me);
}

static void worker_close(struct proxy_worker *w)
{
	if (w->ep >= 0)
		close(w->ep);
	if (w->out_fd >= 0)
		close(w->out_fd);
	if (w->out6_fd >= 0)
		close(w->out6_fd);
	if (w->in_fd >= 0)
		close(w->in_fd);
	if (w->l7_fd >= 0)
		close(w->l7_fd);
	if (w->l7_6_fd >= 0)
		close(w->l7_6_fd);
	l7_loop_free(w->l7);
	hbone_loop_free(w->loop);
	proxy_access_log_worker_end(w);
	proxy_sessions_free(w);
	free(w->session_list);
	proxy_kernel_ids_free(w);
	snap_put(w->model.s);
	snap_put(w->tls.s);
}

static void log_started(const struct cfg_node *me, int nthreads)
{
	char o[SHUNT_ADDR_STRLEN], in[SHUNT_ADDR_STRLEN];

	shunt_addr_format(me->outbound.addr, o, sizeof(o));
	shunt_addr_format(me->inbound.addr, in, sizeof(in));
	shunt_log_fields(SHUNT_LOG_INFO,
			 (struct shunt_log_field[]){LOG_STR("event", "started"),
						    LOG_STR("node", me->name),
						    LOG_NUM("threads", nthreads)},
			 3, "proxy of node %s: outbound %s:%u, inbound (mTLS) %s:%u, %d threads",
			 me->name, o, me->outbound.port, in, me->inbound.port, nthreads);
}

static void log_stopped(void)
{
	unsigned long long streams = atomic_load(&px.drain_cut_streams),
			   http = atomic_load(&px.drain_cut_http);

	if (!atomic_load(&px.draining))
		pr_info("proxy stopped");
	else if (streams || http)
		pr_warn("proxy stopped at the drain deadline (%d s): %llu tunnel streams and %llu "
			"HTTP client connections still open were closed",
			px.drain_s, streams, http);
	else
		pr_info("proxy stopped: drained, every connection done");
}

/* Runs NTHREADS workers until the proxy stops; says so once all listen. */
static int workers_run(struct proxy_worker *workers, int nthreads, const struct cfg_node *me)
{
	int i, err = 0;

	for (i = 0; i < nthreads; i++)
		workers[i].ep = workers[i].out_fd = workers[i].in_fd = workers[i].out6_fd =
		    workers[i].l7_fd = workers[i].l7_6_fd = workers[i].l7_ep = -1;
	for (i = 0; i < nthreads; i++) {
		struct proxy_worker *w = &workers[i];

		worker_follow(w);
		if ((err = worker_listen(w, me)))
			break;
		if (pthread_create(&w->thread, NULL, worker_main, w)) {
			err = -EAGAIN;
			break;
		}
	}
	if (err) {
		atomic_store(&px.stopping, true);
		nthreads = i;
	} else {
		log_started(me, nthreads);
		proxy_drain_serving();
	}
	for (i = 0; i < nthreads; i++)
		pthread_join(workers[i].thread, NULL);
	return err;
}

static void px_init(const struct proxy_opts *opts)
{
	memset(&px, 0, sizeof(px));
	px.node = opts->node;
	px.ca_dir = opts->ca_dir;
	px.cert_lifetime = opts->cert_lifetime_s ? opts->cert_lifetime_s : 86400;
	px.idle_timeout = opts->idle_timeout_s ? opts->idle_timeout_s : 3600;
	px.orig_fd = px.asserted_fd = px.names_fd = px.state_fd = px.policy_fd = px.flow_fd = -1;
	px.migrate_prog = -1;
	px.drain_s = opts->drain_timeout_s;
	px.ready_file = opts->ready_file;
	snap_slot_init(&px.model_slot);
	snap_slot_init(&px.tls_slot);
}

int proxy_run(const struct shunt_pins *pins, const struct proxy_opts *opts)
{
	struct sigaction sa = {.sa_handler = on_signal};
	struct proxy_worker *workers = NULL;
	struct model_snap *start = NULL;
	struct push *push = NULL;
	int nthreads = opts->threads, i, err;

	px_init(opts);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((err = open_datapath(pins)) || (err = proxy_model_start(pins, MODEL_WAIT_S))) {
		if (err == -ECANCELED) /* stopped while it waited for a proxy role */
			err = 0;
		goto out;
	}
	/* The node's addresses are those it started with: listeners stay. */
	start = (struct model_snap *)snap_get(&px.model_slot);
	if ((err = proxy_certs_start()))
		goto out;
	raise_fd_limit();
	proxy_drain_init();
	if (!start->me->source_from_node)
		transparent_start(pins, start->me);
	if ((err = metrics_start(opts->metrics)) || (err = proxy_access_log_start()))
		goto out;
	if (opts->npush &&
	    !(push = push_start(proxy_metrics(), opts->push, opts->npush, px.node))) {
		err = -errno;
		goto out;
	}
	if (nthreads <= 0)
		nthreads = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (nthreads <= 0)
		nthreads = 1;
	workers = calloc((size_t)nthreads, sizeof(*workers));
	if (!workers) {
		err = -ENOMEM;
		goto out;
	}
	err = workers_run(workers, nthreads, start->me);
	for (i = 0; i < nthreads; i++)
		worker_close(&workers[i]);
	free(workers);
	if (!err)
		log_stopped();
out:
	proxy_drain_end();
	push_stop(push);
	proxy_trace_stop(); /* what is queued goes, bounded by its timeout */
	atomic_store(&px.stopping, true);
	proxy_access_log_stop();
	if (px.transparent)
		tproxy_stop(start->me);
	snap_put((struct snap *)start);
	return err;
}
