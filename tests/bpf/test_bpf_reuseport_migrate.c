// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bpf/reuseport.bpf.c: two listeners share a port on 127.0.0.1, clients
 * connect and wait in the accept queues, then one listener closes. With
 * the program attached, every client is accepted by the other listener;
 * without it, those queued on the closed one are reset (what a proxy
 * upgrade must not do).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "reuseport_migrate.h"

#define CLIENTS 32

static int prog = -1;
static const char *why;

static int listener(struct sockaddr_in *addr)
{
	socklen_t len = sizeof(*addr);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)), 0);
	assert_int_equal(bind(fd, (struct sockaddr *)addr, sizeof(*addr)), 0);
	assert_int_equal(listen(fd, CLIENTS * 2), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)addr, &len), 0);
	return fd;
}

/* Connects CLIENTS clients to two listeners of one port, closes the first
 * and returns how many the second accepts. */
static int accepted_after_close(bool attach)
{
	struct sockaddr_in addr = {.sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int a, b, clients[CLIENTS], i, fd, n = 0;

	a = listener(&addr); /* an ephemeral port, which B then shares */
	b = listener(&addr);
	if (attach)
		assert_int_equal(shunt_reuseport_migrate_attach(a, prog), 0);
	for (i = 0; i < CLIENTS; i++) {
		clients[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_int_equal(connect(clients[i], (struct sockaddr *)&addr, sizeof(addr)), 0);
	}
	close(a);
	while ((fd = accept4(b, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		n++;
		close(fd);
	}
	assert_int_equal(errno, EAGAIN);
	for (i = 0; i < CLIENTS; i++)
		close(clients[i]);
	close(b);
	return n;
}

static void queued_connections_move_to_the_listener_left(void **state)
{
	(void)state;
	if (prog < 0)
		skip();
	assert_int_equal(accepted_after_close(true), CLIENTS);
}

/* The control: the hash puts some on each listener (all 32 on one: 2^-31). */
static void without_the_program_those_queued_on_the_closed_one_are_lost(void **state)
{
	int n;

	(void)state;
	n = accepted_after_close(false);
	assert_true(n > 0 && n < CLIENTS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(queued_connections_move_to_the_listener_left),
	    cmocka_unit_test(without_the_program_those_queued_on_the_closed_one_are_lost),
	};
	int err;

	if (geteuid() != 0) {
		fprintf(stderr, "needs root (BPF programs)\n");
		return 77;
	}
	prog = shunt_reuseport_migrate_load(&why);
	if (prog < 0)
		fprintf(stderr, "skipped: reuseport_migrate: %s (%s)\n", why, strerror(-prog));
	err = cmocka_run_group_tests_name("bpf_reuseport_migrate", tests, NULL, NULL);
	if (prog >= 0)
		close(prog);
	return err;
}
