// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * What `shunt graph` reads from each node: the proxy's /graph/edges over
 * HTTP (from inside the node's network namespace when one is named) and
 * the datapath's shunt_pairs map under its pin directory.
 */
#include "graph_fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "pairs.h"

#define FETCH_MAX_BYTES (64u << 20) /* a full proxy table is ~2 MiB of JSON */

struct body {
	char *data;
	size_t len;
};

static size_t on_data(char *ptr, size_t size, size_t n, void *ctx)
{
	struct body *b = ctx;
	size_t add = size * n;
	char *grown;

	if (b->len + add > FETCH_MAX_BYTES || !(grown = realloc(b->data, b->len + add + 1)))
		return 0;
	memcpy(grown + b->len, ptr, add);
	b->data = grown;
	b->len += add;
	b->data[b->len] = '\0';
	return add;
}

/* GET URL into *BODY; 0, or -EIO with why in ERR. */
static int http_get(const char *url, char **body, char *err, size_t errlen)
{
	struct body b = {};
	CURL *curl = curl_easy_init();
	long status = 0;
	CURLcode rc;

	if (!curl)
		return -ENOMEM;
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
	rc = curl_easy_perform(curl);
	if (rc == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(curl);
	if (rc != CURLE_OK || status != 200 || !b.data) {
		if (rc != CURLE_OK)
			snprintf(err, errlen, "%s", curl_easy_strerror(rc));
		else
			snprintf(err, errlen, "HTTP status %ld", status);
		free(b.data);
		return -EIO;
	}
	*body = b.data;
	return 0;
}

/* Into network namespace NETNS (`ip netns` name or a path); *SAVED keeps ours. */
static int netns_enter(const char *netns, int *saved)
{
	char path[512];
	int fd;

	*saved = -1;
	if (!netns)
		return 0;
	if (strchr(netns, '/'))
		snprintf(path, sizeof(path), "%s", netns);
	else
		snprintf(path, sizeof(path), "/run/netns/%s", netns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*saved = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (*saved < 0 || setns(fd, CLONE_NEWNET)) {
		int err = -errno;

		close(fd);
		if (*saved >= 0)
			close(*saved);
		*saved = -1;
		return err;
	}
	close(fd);
	return 0;
}

static void netns_leave(int saved)
{
	if (saved < 0)
		return;
	if (setns(saved, CLONE_NEWNET))
		pr_warn("cannot return to our network namespace: %s", strerror(errno));
	close(saved);
}

static int fetch_proxy(struct graph *g, const struct graph_node_spec *n)
{
	char url[300], why[256] = "", *body = NULL;
	int saved, err;

	if (g->since_s)
		snprintf(url, sizeof(url), "http://%s/graph/edges/since/%u", n->proxy, g->since_s);
	else
		snprintf(url, sizeof(url), "http://%s/graph/edges", n->proxy);
	err = netns_enter(n->netns, &saved);
	if (err) {
		pr_err("node %s: cannot enter network namespace %s: %s", n->name, n->netns,
		       strerror(-err));
		return err;
	}
	err = http_get(url, &body, why, sizeof(why));
	netns_leave(saved);
	if (err) {
		pr_err("node %s: cannot read the proxy's edges at %s%s%s: %s (is `shunt proxy` "
		       "running there with its metrics on %s? proxy=none leaves it out)",
		       n->name, url, n->netns ? " in netns " : "", n->netns ? n->netns : "", why,
		       n->proxy);
		return err;
	}
	err = graph_add_proxy_json(g, body, why, sizeof(why));
	free(body);
	if (err)
		pr_err("node %s: %s answered what shunt graph cannot read: %s", n->name, url, why);
	return err;
}

struct pairs_ctx {
	struct graph *g;
	int err;
};

static void on_pair(const char *client, const char *server, const struct shunt_pair *p, void *ctx)
{
	struct pairs_ctx *c = ctx;

	if (!c->err)
		c->err = graph_add_pair(c->g, client, server, p->closed, p->conns_bypassed,
					p->client_bytes_bypass + p->server_bytes_bypass,
					p->client_bytes_tcp + p->server_bytes_tcp);
}

static int fetch_datapath(struct graph *g, const struct graph_node_spec *n)
{
	struct pairs_ctx c = {.g = g};
	struct shunt_pins pins;
	int err;

	if (shunt_pins_init(&pins, n->pin_dir)) {
		pr_err("node %s: pin-dir is too long", n->name);
		return -EINVAL;
	}
	err = shunt_pairs_each(&pins, on_pair, &c);
	if (err) {
		pr_err("node %s: cannot read %s/maps/shunt_pairs: %s (no datapath loaded there, "
		       "or one older than shunt graph; pin-dir=none leaves it out)",
		       n->name, pins.root, strerror(-err));
		return err;
	}
	return c.err;
}

int graph_fetch_node(struct graph *g, const struct graph_node_spec *n)
{
	struct graph_source *s;
	int err;

	if (g->nsources >= GRAPH_MAX_SOURCES) {
		pr_err("at most %d nodes", GRAPH_MAX_SOURCES);
		return -E2BIG;
	}
	s = &g->sources[g->nsources++];
	snprintf(s->node, sizeof(s->node), "%s", n->name);
	if (n->pin_dir) {
		if ((err = fetch_datapath(g, n)))
			return err;
		s->datapath = true;
	}
	if (n->proxy) {
		if ((err = fetch_proxy(g, n)))
			return err;
		s->proxy = true;
	}
	return 0;
}
