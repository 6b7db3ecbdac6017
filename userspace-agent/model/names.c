// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "names.h"

#include <stdbool.h>
#include <string.h>

static bool lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool alnum(char c)
{
	return lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* One label of LEN bytes at S: its length is the caller's to check. */
static const char *dns_label_chars(const char *s, size_t len)
{
	size_t i;

	if (!len)
		return "has an empty label (two dots, or a dot at either end)";
	for (i = 0; i < len; i++)
		if (!lower_alnum(s[i]) && s[i] != '-')
			return "may only hold a-z, 0-9, '-' and '.'";
	if (s[0] == '-' || s[len - 1] == '-')
		return "must start and end each part with a letter or digit";
	return NULL;
}

const char *name_check_dns_label(const char *s)
{
	size_t len = strlen(s);

	if (!len || len > SHUNT_DNS_LABEL_MAX)
		return "must be 1 to 63 characters (a DNS label)";
	if (strchr(s, '.'))
		return "may only hold a-z, 0-9 and '-'";
	return dns_label_chars(s, len);
}

const char *name_check_dns_subdomain(const char *s)
{
	size_t len = strlen(s), part;
	const char *why;

	if (!len || len > SHUNT_DNS_SUBDOMAIN_MAX)
		return "must be 1 to 253 characters (a DNS subdomain)";
	for (;;) {
		part = strcspn(s, ".");
		if ((why = dns_label_chars(s, part)))
			return why;
		if (!s[part])
			return NULL;
		s += part + 1;
	}
}

/* What a label value and the name part of a label key are. */
static const char *label_name_chars(const char *s, size_t len)
{
	size_t i;

	if (len > SHUNT_DNS_LABEL_MAX)
		return "must be at most 63 characters";
	for (i = 0; i < len; i++)
		if (!alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return "may only hold A-Z, a-z, 0-9, '-', '_' and '.'";
	if (len && (!alnum(s[0]) || !alnum(s[len - 1])))
		return "must start and end with a letter or digit";
	return NULL;
}

const char *name_check_label_key(const char *s)
{
	const char *slash = strchr(s, '/'), *name = slash ? slash + 1 : s;
	char prefix[SHUNT_DNS_SUBDOMAIN_MAX + 1];
	size_t plen = slash ? (size_t)(slash - s) : 0;

	if (slash) {
		if (!plen || plen > SHUNT_DNS_SUBDOMAIN_MAX)
			return "must have a prefix of 1 to 253 characters before '/'";
		memcpy(prefix, s, plen);
		prefix[plen] = 0;
		if (name_check_dns_subdomain(prefix))
			return "must have a DNS subdomain (a-z, 0-9, '-', '.') before '/'";
	}
	if (!*name)
		return "must have a name of 1 to 63 characters";
	return label_name_chars(name, strlen(name));
}

const char *name_check_label_value(const char *s)
{
	return label_name_chars(s, strlen(s));
}

const char *name_check_trust_domain(const char *s)
{
	size_t n = strlen(s), i;

	if (!n)
		return "is empty";
	if (n > NAME_TRUST_DOMAIN_MAX)
		return "is longer than 255 characters";
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
		      s[i] == '-' || s[i] == '_'))
			return "may hold only lowercase letters, digits, '.', '-' and '_'";
	return NULL;
}
