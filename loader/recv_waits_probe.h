/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Does a blocking read of a TCP socket in a sockhash keep waiting when it
 * is woken without data, as plain TCP does? Kernels without the fix in
 * docs/kernel-patches/ return EAGAIN instead (tcp_bpf_recvmsg). The probe
 * and tests/tools/recv_wakeup.c (shunt-recv-wakeup) share these pieces.
 */
#ifndef SHUNT_RECV_WAITS_PROBE_H
#define SHUNT_RECV_WAITS_PROBE_H

#include <stdbool.h>
#include <sys/types.h>

/* What one blocking read did. */
struct shunt_recv_wait {
	ssize_t ret;   /* bytes read, 0 at EOF, or -errno */
	double ms;     /* how long it blocked */
	int state_in;  /* TCP state (tcpi_state) when it started */
	int state_out; /* and when it returned */
};

/* A TCP connection over 127.0.0.1 on an ephemeral port: fds[0] connected,
 * fds[1] accepted. 0 or -errno. */
int shunt_recv_waits_pair(int fds[2]);

/* A private sockhash (no program attached) holding FD: the map's fd, or
 * -errno. FD reads through tcp_bpf from then on; closing the map lets go. */
int shunt_recv_waits_sockhash(int fd);

/* A pair whose reading side, fds[0], has SO_RCVTIMEO = TIMEOUT_MS and sits
 * in a private sockhash (map) when IN_SOCKHASH; map is -1 otherwise. */
struct shunt_recv_waits_conn {
	int fds[2];
	int map;
};

/* Opens C. 0 or -errno (then nothing is left open). */
int shunt_recv_waits_open(struct shunt_recv_waits_conn *c, bool in_sockhash, int timeout_ms);

/* Closes every fd of C. */
void shunt_recv_waits_close(struct shunt_recv_waits_conn *c);

/* The socket's TCP state (TCP_ESTABLISHED, ...), or -errno. */
int shunt_recv_waits_tcp_state(int fd);

/* One blocking read of a byte from FD, timed, with the TCP state before
 * and after, into OUT. */
void shunt_recv_waits_read(int fd, struct shunt_recv_wait *out);

/* Milliseconds of CLOCK_MONOTONIC. */
double shunt_recv_waits_now_ms(void);

/*
 * The half-close case: the reading side of a fresh pair (in a sockhash
 * when IN_SOCKHASH) shuts down its writing half, then reads blocking with
 * SO_RCVTIMEO = TIMEOUT_MS while the peer sends nothing. The peer's
 * delayed ack of the FIN moves it to FIN_WAIT2 during the read: a wakeup
 * without data. Plain TCP returns -EAGAIN once the timeout has run out;
 * an unfixed sockhash returns it at that wakeup. 0 or -errno (setup).
 */
int shunt_recv_waits_half_close(bool in_sockhash, int timeout_ms, struct shunt_recv_wait *out);

/*
 * 1 when this kernel keeps a blocking sockhash read waiting after a wakeup
 * without data (the fix), 0 when it returned EAGAIN at that wakeup, -errno
 * when it could not tell (-EPERM without CAP_BPF; -ETIME or -EPROTO when
 * the wakeup did not fall inside the read). The read blocks in a thread of
 * its own; the half-close that wakes it (shutdown itself, then the FIN_WAIT2 change) comes 30 ms
 * later from the caller's thread. Takes about 150 ms.
 */
int shunt_probe_recv_waits(void);

#endif
