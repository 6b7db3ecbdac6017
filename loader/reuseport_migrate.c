// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "reuseport_migrate.h"

#include <errno.h>
#include <unistd.h>
#include <sys/socket.h>
#include <bpf/libbpf.h>

#include "reuseport.skel.h"

int shunt_reuseport_migrate_load(const char **why)
{
	struct reuseport_bpf *skel;
	int fd, err;

	if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SK_REUSEPORT, NULL) != 1) {
		*why = "this kernel has no sk_reuseport programs";
		return -EOPNOTSUPP;
	}
	skel = reuseport_bpf__open();
	if (!skel) {
		*why = "cannot open the sk_reuseport object";
		return -errno;
	}
	err = reuseport_bpf__load(skel);
	if (err) {
		/* SELECT_OR_MIGRATE came in Linux 5.14 */
		*why = "this kernel refuses sk_reuseport/migrate (Linux 5.14 and later have it)";
		goto cleanup;
	}
	fd = dup(bpf_program__fd(skel->progs.shunt_reuseport_migrate));
	if (fd < 0) {
		err = -errno;
		*why = "cannot keep the program";
		goto cleanup;
	}
	reuseport_bpf__destroy(skel);
	return fd;
cleanup:
	reuseport_bpf__destroy(skel);
	return err;
}

int shunt_reuseport_migrate_attach(int fd, int prog)
{
	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, &prog, sizeof(prog)) ? -errno
											 : 0;
}
