/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Addresses in the datapath's form: 16 bytes, IPv4 as v4-mapped IPv6. */
#ifndef SHUNT_ADDR_H
#define SHUNT_ADDR_H

#include <linux/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define SHUNT_ADDR_STRLEN 46 /* INET6_ADDRSTRLEN */

/* Parses "10.0.0.1" or "fd00::1"; returns 0 or -EINVAL. */
int shunt_addr_parse(const char *text, __u8 out[16]);
/* Writes the address back in its natural form (IPv4 dotted for v4-mapped). */
int shunt_addr_format(const __u8 addr[16], char *buf, size_t len);
bool shunt_addr_is_v4(const __u8 addr[16]);
/* "10.0.0.1:80" or "[fd00::1]:80" (port 1-65535); 0 or -EINVAL. */
int shunt_endpoint_parse(const char *text, __u8 addr[16], __u16 *port);
/* ADDR and PORT back in that form. */
void shunt_endpoint_format(const __u8 addr[16], __u16 port, char *buf, size_t len);
/* ADDR and PORT as a socket address (AF_INET for v4-mapped); its length. */
socklen_t shunt_addr_to_sockaddr(const __u8 addr[16], __u16 port, struct sockaddr_storage *ss);
/* A socket address (AF_INET or AF_INET6) in this form, and its port. */
void shunt_addr_from_sockaddr(const struct sockaddr *sa, __u8 addr[16], __u16 *port);

#endif
