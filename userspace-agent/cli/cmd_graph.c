// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * shunt graph [--since D] [--format dot|svg|json|text] [--output FILE]
 *             [--group workload|service]
 *             [--node NAME,pin-dir=DIR,proxy=ADDR:PORT,netns=NS]...
 * The service graph of every node named (docs/telemetry.md, "Service
 * graph"); SVG is Graphviz's (`dot -Tsvg`, a child process).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "common/log.h"
#include "graph_fetch.h"
#include "graph_services.h"
#include "proxy/proxy_edges.h"

#define GRAPH_DEFAULT_PROXY "127.0.0.1:9465"

enum graph_format { FMT_DOT, FMT_SVG, FMT_JSON, FMT_TEXT };

struct graph_opts {
	enum graph_format format;
	bool by_service; /* --group service */
	unsigned int since_s;
	const char *output;
	struct graph_node_spec nodes[GRAPH_MAX_SOURCES];
	size_t nnodes;
};

static void usage(void)
{
	fprintf(stderr,
		"usage: shunt graph [--since D] [--format dot|svg|json|text] [--output FILE]\n"
		"                   [--group workload|service]\n"
		"                   [--node NAME[,pin-dir=DIR][,proxy=ADDR:PORT][,netns=NS]]...\n"
		"  D: 30s, 5m, or seconds, at most %ds; without --node: this node's\n"
		"  datapath (--pin-dir) and proxy (%s)\n",
		PROXY_EDGE_WINDOW_S, GRAPH_DEFAULT_PROXY);
}

/* "30s", "5m", "90": seconds, 1 to PROXY_EDGE_WINDOW_S. */
static int parse_since(const char *text, unsigned int *out)
{
	char *end;
	unsigned long v = strtoul(text, &end, 10);

	if (end == text || text[0] == '-')
		goto bad;
	if (*end == 'm' && !end[1])
		v *= 60;
	else if (*end && !(*end == 's' && !end[1]))
		goto bad;
	if (v < 1 || v > PROXY_EDGE_WINDOW_S) {
		pr_err("--since %s: from 1s to %ds (the proxies keep %d minutes of recent counts)",
		       text, PROXY_EDGE_WINDOW_S, PROXY_EDGE_WINDOW_S / 60);
		return -EINVAL;
	}
	*out = (unsigned int)v;
	return 0;
bad:
	pr_err("--since %s: not a duration (30s, 5m, or seconds)", text);
	return -EINVAL;
}

static int parse_format(const char *text, enum graph_format *out)
{
	static const char *const names[] = {"dot", "svg", "json", "text"};

	for (int i = 0; i < 4; i++)
		if (!strcmp(text, names[i])) {
			*out = (enum graph_format)i;
			return 0;
		}
	pr_err("--format %s: unknown; dot, svg, json or text", text);
	return -EINVAL;
}

/* NAME[,pin-dir=DIR][,proxy=ADDR:PORT][,netns=NS] (edits SPEC in place). */
static int parse_node(char *spec, struct graph_node_spec *n)
{
	char *save = NULL, *kv = strtok_r(spec, ",", &save);

	memset(n, 0, sizeof(*n));
	if (!kv || strchr(kv, '=')) {
		pr_err("--node: begins with the node's name (NAME,pin-dir=DIR,proxy=ADDR:PORT)");
		return -EINVAL;
	}
	n->name = kv;
	while ((kv = strtok_r(NULL, ",", &save))) {
		char *v = strchr(kv, '=');

		if (!v || !v[1])
			goto bad;
		*v++ = '\0';
		if (!strcmp(kv, "pin-dir"))
			n->pin_dir = strcmp(v, "none") ? v : NULL;
		else if (!strcmp(kv, "proxy"))
			n->proxy = strcmp(v, "none") ? v : NULL;
		else if (!strcmp(kv, "netns"))
			n->netns = v;
		else
			goto bad;
	}
	if (!n->pin_dir && !n->proxy) {
		pr_err("--node %s: names neither pin-dir= nor proxy=: nothing to read", n->name);
		return -EINVAL;
	}
	return 0;
bad:
	pr_err("--node %s: unknown or empty \"%s\" (pin-dir=DIR, proxy=ADDR:PORT, netns=NS)",
	       n->name, kv);
	return -EINVAL;
}

static int parse_args(struct shunt_cli *cli, int argc, char **argv, struct graph_opts *o)
{
	static const struct option options[] = {
	    {"since", required_argument, NULL, 's'},  {"format", required_argument, NULL, 'f'},
	    {"output", required_argument, NULL, 'o'}, {"node", required_argument, NULL, 'n'},
	    {"group", required_argument, NULL, 'g'},  {},
	};
	int opt, err = 0;

	o->format = cli->json ? FMT_JSON : FMT_DOT;
	while (!err && (opt = getopt_long(argc, argv, "o:", options, NULL)) != -1) {
		if (opt == 's') {
			err = parse_since(optarg, &o->since_s);
		} else if (opt == 'f') {
			err = parse_format(optarg, &o->format);
		} else if (opt == 'o') {
			o->output = optarg;
		} else if (opt == 'g') {
			o->by_service = !strcmp(optarg, "service");
			if (!o->by_service && strcmp(optarg, "workload")) {
				pr_err("--group %s: workload or service", optarg);
				err = -EINVAL;
			}
		} else if (opt == 'n' && o->nnodes >= GRAPH_MAX_SOURCES) {
			pr_err("--node: at most %d", GRAPH_MAX_SOURCES);
			err = -E2BIG;
		} else if (opt == 'n') {
			err = parse_node(optarg, &o->nodes[o->nnodes++]);
		} else {
			err = -EINVAL;
		}
	}
	if (!err && optind < argc) {
		pr_err("graph: unexpected argument '%s'", argv[optind]);
		err = -EINVAL;
	}
	if (err) {
		usage();
		return -EINVAL;
	}
	if (!o->nnodes) /* this node: its datapath and its proxy */
		o->nodes[o->nnodes++] = (struct graph_node_spec){
		    .name = "local", .pin_dir = cli->pins.root, .proxy = GRAPH_DEFAULT_PROXY};
	return 0;
}

/* Whether PROG is an executable file somewhere on $PATH. */
static bool on_path(const char *prog)
{
	const char *path = getenv("PATH");
	char dir[4096], file[4200];

	if (!path)
		path = "/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");

		snprintf(dir, sizeof(dir), "%.*s", (int)n, path);
		snprintf(file, sizeof(file), "%s/%s", n ? dir : ".", prog);
		if (!access(file, X_OK))
			return true;
		path += n + (path[n] == ':');
	}
	return false;
}

/* DOT (LEN bytes) through `dot -Tsvg` into OUT_FD. */
static int render_svg(const char *dot, size_t len, int out_fd)
{
	int in[2], status;
	pid_t pid;

	if (!on_path("dot")) {
		pr_err("--format svg needs Graphviz's dot, which is not on PATH (Debian: apt-get "
		       "install graphviz, or make deps); --format dot writes the graph for it");
		return -ENOENT;
	}
	if (pipe2(in, O_CLOEXEC))
		return -errno;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(in[0]);
		close(in[1]);
		return -errno;
	}
	if (pid == 0) {
		if (dup2(in[0], STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0)
			_exit(127);
		execlp("dot", "dot", "-Tsvg", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	signal(SIGPIPE, SIG_IGN);
	for (size_t off = 0; off < len;) {
		ssize_t n = write(in[1], dot + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* dot went away: its status says why */
		off += (size_t)n;
	}
	close(in[1]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		pr_err("dot -Tsvg failed (%s %d)", WIFEXITED(status) ? "exit status" : "signal",
		       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		return -EIO;
	}
	return 0;
}

static int write_graph(const struct graph *g, const struct graph_opts *o, FILE *out)
{
	char *dot = NULL;
	size_t len = 0;
	FILE *mem;
	int err;

	switch (o->format) {
	case FMT_JSON:
		graph_write_json(g, out);
		return 0;
	case FMT_TEXT:
		graph_write_text(g, out);
		return 0;
	case FMT_DOT:
		graph_write_dot(g, out);
		return 0;
	case FMT_SVG:
		break;
	}
	mem = open_memstream(&dot, &len);
	if (!mem)
		return -ENOMEM;
	graph_write_dot(g, mem);
	if (fclose(mem)) {
		free(dot);
		return -ENOMEM;
	}
	fflush(out);
	err = render_svg(dot, len, fileno(out));
	free(dot);
	return err;
}

/* Workloads into their services, by the model of the first node with a datapath. */
static int group_by_service(struct graph *g, const struct graph_opts *o)
{
	struct graph_services svcs;
	int err;

	for (size_t i = 0; i < o->nnodes; i++) {
		if (!o->nodes[i].pin_dir)
			continue;
		if ((err = graph_services_load(&svcs, o->nodes[i].pin_dir)))
			return err;
		err = graph_regroup(g, graph_service_of, &svcs);
		graph_services_free(&svcs);
		return err;
	}
	pr_err("--group service reads the services from a node's agent: name one with pin-dir=");
	return -ENOENT;
}

int cmd_graph(struct shunt_cli *cli, int argc, char **argv)
{
	struct graph_opts o = {};
	struct graph g;
	FILE *out = stdout;
	bool opened = false;
	int err;

	if ((err = parse_args(cli, argc, argv, &o)))
		return err;
	graph_init(&g, time(NULL), o.since_s);
	for (size_t i = 0; i < o.nnodes && !err; i++)
		err = graph_fetch_node(&g, &o.nodes[i]);
	if (!err && o.by_service)
		err = group_by_service(&g, &o);
	if (!err && (err = graph_finish(&g)))
		pr_err("graph: %s", strerror(-err));
	if (!err && o.output) {
		out = fopen(o.output, "w");
		opened = out != NULL;
		if (!opened) {
			err = -errno;
			pr_err("--output %s: %s", o.output, strerror(-err));
		}
	}
	if (!err)
		err = write_graph(&g, &o, out);
	if (opened && fclose(out) && !err)
		err = -errno;
	if (err && opened)
		unlink(o.output); /* no half-written graph */
	graph_free(&g);
	return err == -EINVAL ? -EIO : err; /* -EINVAL is for usage errors only */
}
