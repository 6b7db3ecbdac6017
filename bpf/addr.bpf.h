/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Addresses in the 16-byte form of the maps (see shunt_shared.h). BPF-only. */
#ifndef SHUNT_ADDR_BPF_H
#define SHUNT_ADDR_BPF_H

/* ::ffff:a.b.c.d; IP4 in network byte order. */
static __always_inline void shunt_addr_from_v4(__u8 out[16], __u32 ip4)
{
	__builtin_memset(out, 0, 10);
	out[10] = 0xff;
	out[11] = 0xff;
	__builtin_memcpy(&out[12], &ip4, 4);
}

#endif /* SHUNT_ADDR_BPF_H */
