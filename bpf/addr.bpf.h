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

static __always_inline bool addr_is_loopback(const __u8 a[16])
{
	int i;

	if (a[10] == 0xff && a[11] == 0xff && a[12] == 127)
		return true;
	for (i = 0; i < 15; i++)
		if (a[i])
			return false;
	return a[15] == 1;
}

static __always_inline bool addr_equal(const __u8 a[16], const __u8 b[16])
{
	__u64 a0, a1, b0, b1;

	__builtin_memcpy(&a0, a, 8);
	__builtin_memcpy(&a1, a + 8, 8);
	__builtin_memcpy(&b0, b, 8);
	__builtin_memcpy(&b1, b + 8, 8);
	return a0 == b0 && a1 == b1;
}

#endif /* SHUNT_ADDR_BPF_H */
