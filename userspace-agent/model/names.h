/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Names as Kubernetes checks them (k8s.io/apimachinery validation): DNS
 * labels (namespaces, services), DNS subdomains (pods, nodes, service
 * accounts, policies), label keys and values. Each check returns NULL for
 * a good name, else why not, to follow "NAME ...". The sizes are
 * SHUNT_DNS_LABEL_MAX and SHUNT_DNS_SUBDOMAIN_MAX (shunt_shared.h).
 */
#ifndef SHUNT_NAMES_H
#define SHUNT_NAMES_H

#include <linux/types.h>

#include "shunt_shared.h"

/* RFC 1123 label: 1 to 63 of a-z, 0-9, '-', alphanumeric at both ends. */
const char *name_check_dns_label(const char *s);
/* RFC 1123 subdomain: 1 to 253, labels as above joined by '.'. */
const char *name_check_dns_subdomain(const char *s);
/* [prefix/]name: prefix a DNS subdomain, name 1 to 63 of A-Z, a-z, 0-9,
 * '-', '_', '.', alphanumeric at both ends. */
const char *name_check_label_key(const char *s);
/* Empty, or 1 to 63 characters like a label key's name. */
const char *name_check_label_value(const char *s);

/* A SPIFFE trust domain: 1 to NAME_TRUST_DOMAIN_MAX of lowercase letters,
 * digits, '.', '-', '_' (the SPIFFE ID spec). */
#define NAME_TRUST_DOMAIN_MAX 255
const char *name_check_trust_domain(const char *s);

#endif
