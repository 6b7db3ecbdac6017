// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "socks_report.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

/* The iterator hands out whole shunt_sock_report records. */
static int report_from_iterator(const struct shunt_pins *pins, int prog_fd,
				struct shunt_sock_report **out, size_t *count)
{
	LIBBPF_OPTS(bpf_link_create_opts, link_opts);
	union bpf_iter_link_info info = {};
	struct shunt_sock_report *reports = NULL, *grown;
	int map_fd = -1, link_fd = -1, iter_fd = -1, err = 0;
	size_t n = 0, cap = 0;
	ssize_t got;

	*out = NULL;
	*count = 0;
	map_fd = shunt_pinned_map_fd(pins, "shunt_socks");
	if (map_fd < 0) {
		err = map_fd;
		goto cleanup;
	}
	info.map.map_fd = map_fd;
	link_opts.iter_info = &info;
	link_opts.iter_info_len = sizeof(info);
	link_fd = bpf_link_create(prog_fd, 0, BPF_TRACE_ITER, &link_opts);
	if (link_fd < 0) {
		err = -errno;
		goto cleanup;
	}
	iter_fd = bpf_iter_create(link_fd);
	if (iter_fd < 0) {
		err = -errno;
		goto cleanup;
	}
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			grown = realloc(reports, cap * sizeof(*reports));
			if (!grown) {
				err = -ENOMEM;
				goto cleanup;
			}
			reports = grown;
		}
		got = read(iter_fd, &reports[n], (cap - n) * sizeof(*reports));
		if (got < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			err = -errno;
			goto cleanup;
		}
		if (got == 0)
			break;
		n += (size_t)got / sizeof(*reports);
	}
	*out = reports;
	*count = n;
	reports = NULL;
cleanup:
	free(reports);
	if (iter_fd >= 0)
		close(iter_fd);
	if (link_fd >= 0)
		close(link_fd);
	if (map_fd >= 0)
		close(map_fd);
	return err;
}

/* Unread redirected bytes of socket KEY (EP): what its peer redirected to it,
 * from the peer's entry or, once the peer closed, from its own copy. */
static __u32 pending_from_counters(int ep_fd, const struct shunt_sock_key *key,
				   const struct shunt_endpoint *ep)
{
	struct shunt_sock_key peer_key = {.netns_cookie = ep->peer_netns_cookie,
					  .local_port = key->remote_port,
					  .remote_port = key->local_port};
	struct shunt_endpoint peer;
	__u64 sent;

	memcpy(peer_key.local_addr, key->remote_addr, sizeof(peer_key.local_addr));
	memcpy(peer_key.remote_addr, key->local_addr, sizeof(peer_key.remote_addr));
	if (!bpf_map_lookup_elem(ep_fd, &peer_key, &peer))
		sent = peer.tx_redirected;
	else if (ep->peer_closed)
		sent = ep->peer_tx_final;
	else
		return 0;
	return sent > ep->rx_redirected ? (__u32)(sent - ep->rx_redirected) : 0;
}

static int report_from_maps(const struct shunt_pins *pins, struct shunt_sock_report **out,
			    size_t *count)
{
	struct shunt_sock_report *reports = NULL, *grown;
	struct shunt_sock_key key, next;
	struct shunt_endpoint ep;
	int socks_fd, ep_fd, err = 0;
	size_t n = 0, cap = 0;
	__u64 cookie;
	void *prev = NULL;

	socks_fd = shunt_pinned_map_fd(pins, "shunt_socks");
	if (socks_fd < 0)
		return socks_fd;
	ep_fd = shunt_pinned_map_fd(pins, "shunt_endpoints");
	if (ep_fd < 0) {
		close(socks_fd);
		return ep_fd;
	}
	while (!bpf_map_get_next_key(socks_fd, prev, &next)) {
		key = next;
		prev = &key;
		/* Gone since the key was listed: not in the bypass any more. */
		if (bpf_map_lookup_elem(socks_fd, &key, &cookie))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			grown = realloc(reports, cap * sizeof(*reports));
			if (!grown) {
				err = -ENOMEM;
				goto cleanup;
			}
			reports = grown;
		}
		memset(&reports[n], 0, sizeof(reports[n]));
		reports[n].key = key;
		if (!bpf_map_lookup_elem(ep_fd, &key, &ep)) {
			reports[n].tcp_state = ep.tcp_state;
			reports[n].bypassing = ep.bypassing;
			reports[n].ever_bypassed = ep.ever_bypassed;
			reports[n].pending = pending_from_counters(ep_fd, &key, &ep);
		}
		n++;
	}
	*out = reports;
	*count = n;
	reports = NULL;
cleanup:
	free(reports);
	close(ep_fd);
	close(socks_fd);
	return err;
}

const char *shunt_socks_source_name(enum shunt_socks_source source)
{
	return source == SHUNT_SOCKS_FROM_ITERATOR ? "iterator" : "maps";
}

int shunt_socks_report(const struct shunt_pins *pins, struct shunt_sock_report **out, size_t *count,
		       enum shunt_socks_source *source)
{
	char path[PATH_MAX];
	int prog_fd, err;

	*out = NULL;
	*count = 0;
	/* The iterator is pinned only where the kernel loaded it. */
	shunt_pin_path(path, sizeof(path), pins->progs, "shunt_socks_iter");
	prog_fd = bpf_obj_get(path);
	if (prog_fd >= 0) {
		err = report_from_iterator(pins, prog_fd, out, count);
		close(prog_fd);
		if (source)
			*source = SHUNT_SOCKS_FROM_ITERATOR;
		return err;
	}
	if (source)
		*source = SHUNT_SOCKS_FROM_MAPS;
	return report_from_maps(pins, out, count);
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

__u64 shunt_socks_drain(const struct shunt_pins *pins, unsigned int drain_ms, size_t *socks_left)
{
	struct shunt_sock_report *reports;
	unsigned int waited = 0;
	__u64 pending;
	size_t n, i;

	for (;;) {
		pending = 0;
		*socks_left = 0;
		if (shunt_socks_report(pins, &reports, &n, NULL))
			return 0;
		for (i = 0; i < n; i++) {
			pending += reports[i].pending;
			*socks_left += reports[i].pending != 0;
		}
		free(reports);
		if (!pending || waited >= drain_ms)
			return pending;
		sleep_ms(20);
		waited += 20;
	}
}
