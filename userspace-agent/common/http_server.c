// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

static int listen_addr(const char *addr_port, bool shared)
{
	struct sockaddr_storage ss = {};
	char host[64];
	const char *colon;
	socklen_t len;
	unsigned long port;
	char *end;
	int fd, one = 1, err;

	colon = strrchr(addr_port, ':');
	if (!colon || (size_t)(colon - addr_port) >= sizeof(host))
		return -EINVAL;
	memcpy(host, addr_port, (size_t)(colon - addr_port));
	host[colon - addr_port] = 0;
	port = strtoul(colon + 1, &end, 10);
	if (*end || !colon[1] || port > 65535)
		return -EINVAL;
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		host[strlen(host) - 1] = 0;
		if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
			return -EINVAL;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((unsigned short)port);
		len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return -EINVAL;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((unsigned short)port);
		len = sizeof(*s4);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (shared)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 64)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int http_listen(const char *addr_port)
{
	return listen_addr(addr_port, false);
}

int http_listen_shared(const char *addr_port)
{
	return listen_addr(addr_port, true);
}

static void write_all(int fd, const char *buf, size_t len)
{
	struct pollfd pfd = {.fd = fd, .events = POLLOUT};
	ssize_t n;

	while (len) {
		if (poll(&pfd, 1, 2000) <= 0)
			return;
		/* A client gone meanwhile is EPIPE, not a SIGPIPE that ends us. */
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

static const char *reason_of(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 414:
		return "URI Too Long";
	case 431:
		return "Request Header Fields Too Large";
	case 503:
		return "Service Unavailable";
	default:
		return "Error";
	}
}

/* Reads the request head into REQ (NUL-terminated); -ETIMEDOUT, -EMSGSIZE
 * when it does not end within SIZE - 1 bytes, or -ECONNRESET. */
static int read_head(int fd, char *req, size_t size)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	size_t used = 0;
	ssize_t n;

	while (!memmem(req, used, "\r\n\r\n", 4)) {
		if (used == size - 1)
			return -EMSGSIZE;
		if (poll(&pfd, 1, 2000) <= 0)
			return -ETIMEDOUT;
		n = read(fd, req + used, size - 1 - used);
		if (n <= 0)
			return -ECONNRESET;
		used += (size_t)n;
		req[used] = 0;
	}
	return 0;
}

/* The status for REQ, and the body: the handler's, or why it was refused. */
static int route(char *req, http_handler_fn handler, void *ctx, char **body, size_t *len)
{
	char path[256], *q;
	const char *why;
	int status, end = 0;

	if (sscanf(req, "GET %255s%n", path, &end) != 1) {
		status = 405;
		why = "only GET is served\n";
	} else if (req[end] != ' ' && req[end] != '\r') {
		status = 414; /* longer than PATH: not answered for a prefix of it */
		why = "path too long\n";
	} else {
		q = strchr(path, '?');
		if (q)
			*q = 0;
		return handler(path, body, len, ctx);
	}
	*body = strdup(why);
	*len = *body ? strlen(why) : 0;
	return status;
}

void http_serve_one(int listen_fd, http_handler_fn handler, void *ctx)
{
	char req[2048], head[256];
	size_t len = 0;
	char *body = NULL;
	int fd, status, err;

	fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	/* The request head, within 2 s and 2 KiB. */
	err = read_head(fd, req, sizeof(req));
	if (err == -EMSGSIZE) {
		status = 431;
		body = strdup("request head over 2 KiB\n");
		len = body ? strlen(body) : 0;
	} else if (err) {
		goto out;
	} else {
		status = route(req, handler, ctx, &body, &len);
	}
	snprintf(head, sizeof(head),
		 "HTTP/1.0 %d %s\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
		 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		 status, reason_of(status), len);
	write_all(fd, head, strlen(head));
	if (body)
		write_all(fd, body, len);
out:
	free(body);
	close(fd);
}
