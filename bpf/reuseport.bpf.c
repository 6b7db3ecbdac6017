// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The node proxy's listeners share their ports (SO_REUSEPORT) with the
 * proxy that replaces it during an upgrade. When the old one closes a
 * listener, the connections in that listener's accept queue (and those
 * still in their handshake) would be reset. With this program attached to
 * the group as SELECT_OR_MIGRATE, the kernel moves them to another
 * listener of the group instead (Linux 5.14). It selects nothing itself:
 * the kernel's hash picks, as it does without a program.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("sk_reuseport/migrate")
int shunt_reuseport_migrate(struct sk_reuseport_md *md)
{
	(void)md;
	return SK_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
