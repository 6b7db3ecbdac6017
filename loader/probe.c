// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "probe.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

static void note(char *buf, size_t len, const char *what)
{
	size_t used = strlen(buf);

	snprintf(buf + used, len - used, "%s%s", used ? ", " : "", what);
}

int shunt_probe_kernel(char *missing, size_t len)
{
	struct btf *vmlinux;

	missing[0] = '\0';
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		note(missing, len, "kernel BTF (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF)");
	} else {
		vmlinux = btf__load_vmlinux_btf();
		if (!vmlinux) {
			note(missing, len, "readable kernel BTF");
		} else {
			/* The receive-side hooks: sock_recv_length is from 6.3. */
			if (btf__find_by_name_kind(vmlinux, "btf_trace_sock_recv_length",
						   BTF_KIND_TYPEDEF) < 0)
				note(missing, len, "tracepoint sock:sock_recv_length (Linux 6.3+)");
			if (btf__find_by_name_kind(vmlinux, "btf_trace_tcp_rcv_space_adjust",
						   BTF_KIND_TYPEDEF) < 0)
				note(missing, len, "tracepoint tcp:tcp_rcv_space_adjust");
			btf__free(vmlinux);
		}
	}
	if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SOCK_OPS, NULL) != 1)
		note(missing, len, "sockops programs (CONFIG_BPF_SYSCALL, CONFIG_CGROUP_BPF)");
	if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SK_MSG, NULL) != 1)
		note(missing, len, "sk_msg programs (CONFIG_NET_SOCK_MSG)");
	if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_SOCKHASH, NULL) != 1)
		note(missing, len, "sockhash maps (CONFIG_BPF_STREAM_PARSER)");
	if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_SK_STORAGE, NULL) != 1)
		note(missing, len, "socket storage maps");
	if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_RAW_TRACEPOINT, NULL) != 1)
		note(missing, len, "raw tracepoint programs");
	return missing[0] ? -EOPNOTSUPP : 0;
}
