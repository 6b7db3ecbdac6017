// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * shunt ca bootstrap: every node's proxy runs it before it starts
 * (deploy/30-agent.yaml). The mesh CA lives in one Secret; the first node
 * to find none makes a CA and creates the Secret, and a node that loses
 * that race (409 AlreadyExists) reads the winner's. Each node then has the
 * same CA in DIR (an in-memory volume), never a CA of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cmd_ca_k8s.h"
#include "common/log.h"
#include "identity/ca.h"
#include "sources/k8s_secret.h"
#include "sources/yaml_source.h"

/* The files of a CA directory (identity/ca.h), each a key of the Secret. */
static const char *const ca_files[] = {"ca.key", "ca.crt", "bundle.pem"};
#define NFILES	 (sizeof(ca_files) / sizeof(ca_files[0]))
#define FILE_MAX (1u << 20)

static int read_item(const char *dir, const char *name, struct k8s_secret_item *it)
{
	char path[4400];
	struct stat st;
	FILE *f;
	int ret = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(it->key, sizeof(it->key), "%s", name);
	if (!(f = fopen(path, "rb")))
		return -errno;
	if (fstat(fileno(f), &st) || st.st_size <= 0 || st.st_size > FILE_MAX)
		ret = -EINVAL;
	else if (!(it->data = malloc((size_t)st.st_size)))
		ret = -ENOMEM;
	else if (fread(it->data, 1, (size_t)st.st_size, f) != (size_t)st.st_size)
		ret = -EIO;
	else
		it->len = (size_t)st.st_size;
	fclose(f);
	return ret;
}

/* A new CA for TD, made in a directory of its own under DIR, as a Secret's
 * items in OUT; the directory removed. */
static int make_ca(const struct ca_bootstrap_args *b, const char *td, struct k8s_secret *out)
{
	char tmp[4096], err[512] = "", path[4400];
	int ret;
	size_t i;

	snprintf(tmp, sizeof(tmp), "%s/.new-XXXXXX", b->dir);
	if (!mkdtemp(tmp))
		return -errno;
	if ((ret = ca_init(tmp, td, b->days, err, sizeof(err))))
		pr_err("ca bootstrap: %s", err);
	else if (!(out->items = calloc(NFILES, sizeof(*out->items))))
		ret = -ENOMEM;
	for (i = 0; !ret && i < NFILES; i++, out->n++)
		ret = read_item(tmp, ca_files[i], &out->items[i]);
	for (i = 0; i < NFILES; i++) {
		snprintf(path, sizeof(path), "%s/%s", tmp, ca_files[i]);
		unlink(path);
	}
	rmdir(tmp);
	if (ret && err[0] == 0)
		pr_err("ca bootstrap: cannot read the new CA: %s", strerror(-ret));
	return ret;
}

/* ITEM into PATH: 0600 from the start, written whole, then renamed in. */
static int write_item(const char *path, const struct k8s_secret_item *it)
{
	char tmp[4500];
	int fd, ret = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	unlink(tmp); /* a run that died half way */
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		return -errno;
	for (size_t off = 0; off < it->len;) {
		ssize_t n = write(fd, it->data + off, it->len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			break;
		}
		off += (size_t)n;
	}
	if (close(fd) && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path))
		ret = -errno;
	if (ret)
		unlink(tmp);
	return ret;
}

/* S's CA files into DIR. */
static int write_ca(const char *dir, const struct k8s_secret *s)
{
	char path[4400];
	size_t i, j;
	int ret;

	for (i = 0; i < NFILES; i++) {
		for (j = 0; j < s->n && strcmp(s->items[j].key, ca_files[i]); j++)
			;
		if (j == s->n || !s->items[j].len) {
			pr_err("ca bootstrap: the Secret has no %s", ca_files[i]);
			return -EINVAL;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, ca_files[i]);
		if ((ret = write_item(path, &s->items[j]))) {
			pr_err("ca bootstrap: cannot write %s: %s", path, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

/* The trust domain of a CA made here: the settings' or the flag's. */
static int trust_domain(const struct ca_bootstrap_args *b, char *out, size_t len)
{
	struct mesh_config cfg;
	struct cfg_error err;
	int ret;

	if (!b->mesh_settings) {
		snprintf(out, len, "%s", b->trust_domain);
		return 0;
	}
	if ((ret = mesh_config_load(&cfg, b->mesh_settings, &err))) {
		pr_err("ca bootstrap: %s", err.msg);
		return ret;
	}
	snprintf(out, len, "%s", cfg.trust_domain);
	mesh_config_free(&cfg);
	return 0;
}

/* The Secret NS/NAME into S: read, or made (CA for TD) if it is not there. */
static int get_or_create(struct k8s_client *c, const struct ca_bootstrap_args *b, const char *ns,
			 const char *name, struct k8s_secret *s)
{
	char td[SHUNT_TRUST_DOMAIN_MAX + 1];
	struct cfg_error err = {""};
	int ret;

	if ((ret = k8s_secret_get(c, ns, name, s, &err)) != -ENOENT)
		goto out;
	if ((ret = trust_domain(b, td, sizeof(td))) || (ret = make_ca(b, td, s)))
		return ret;
	ret = k8s_secret_create(c, ns, name, s, &err);
	if (!ret) {
		printf("made a CA for trust domain %s and stored it in Secret %s/%s\n", td, ns,
		       name);
		return 0;
	}
	k8s_secret_free(s);
	if (ret != -EEXIST)
		goto out;
	/* another node made it first: theirs is the mesh's */
	ret = k8s_secret_get(c, ns, name, s, &err);
out:
	if (ret)
		pr_err("ca bootstrap: %s", err.msg);
	else
		printf("the CA of Secret %s/%s (made %s)\n", ns, name, s->created);
	return ret;
}

int ca_bootstrap(const struct ca_bootstrap_args *b)
{
	char ns[254], name[254];
	struct k8s_client *c = NULL;
	struct k8s_secret s = {0};
	struct cfg_error err = {""};
	const char *slash = strchr(b->secret, '/');
	int ret;

	if (!slash || slash == b->secret || !slash[1] ||
	    (size_t)(slash - b->secret) >= sizeof(ns) || strlen(slash + 1) >= sizeof(name)) {
		pr_err("--secret needs NAMESPACE/NAME, not '%s'", b->secret);
		return -EINVAL;
	}
	snprintf(ns, sizeof(ns), "%.*s", (int)(slash - b->secret), b->secret);
	snprintf(name, sizeof(name), "%s", slash + 1);
	if (mkdir(b->dir, 0700) && errno != EEXIST) {
		ret = -errno;
		pr_err("ca bootstrap: %s: %s", b->dir, strerror(-ret));
		return ret;
	}
	if ((ret = k8s_client_open(&c, b->kubeconfig, NULL, &err))) {
		pr_err("ca bootstrap: %s", err.msg);
		return ret;
	}
	if (!(ret = get_or_create(c, b, ns, name, &s)) && !(ret = write_ca(b->dir, &s)))
		printf("CA in %s (ca.key, ca.crt, bundle.pem)\n", b->dir);
	k8s_secret_free(&s);
	k8s_client_close(c);
	return ret;
}
