/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A Secret read from or created in the API server (k8s_secret.c): what
 * `shunt ca bootstrap` keeps the mesh CA in (docs/kubernetes.md
 * "Cross-node mTLS"). The connection is the Kubernetes source's: in-cluster
 * (the service account's token and CA) or a kubeconfig.
 */
#ifndef SHUNT_K8S_SECRET_H
#define SHUNT_K8S_SECRET_H

#include <stddef.h>

#include "model/mesh_config.h"

struct k8s_client;

/* KUBECONFIG NULL: in-cluster, with the files under SA_DIR (NULL: the
 * kubelet's mount). ERR says what is missing. */
int k8s_client_open(struct k8s_client **out, const char *kubeconfig, const char *sa_dir,
		    struct cfg_error *err);
void k8s_client_close(struct k8s_client *c);

/* One key of a Secret's data, decoded. */
struct k8s_secret_item {
	char key[254];
	unsigned char *data;
	size_t len;
};

struct k8s_secret {
	struct k8s_secret_item *items;
	size_t n;
	char created[64]; /* metadata.creationTimestamp, when read */
};

void k8s_secret_free(struct k8s_secret *s);

/* Secret NS/NAME into OUT: 0, -ENOENT (none), -EACCES (refused: RBAC,
 * credentials), -EIO (no answer, or one that is not a Secret); ERR says
 * which. */
int k8s_secret_get(struct k8s_client *c, const char *ns, const char *name, struct k8s_secret *out,
		   struct cfg_error *err);
/* Creates Secret NS/NAME (type Opaque) holding S's items: 0, -EEXIST
 * (another made it first), -EACCES, -EIO. */
int k8s_secret_create(struct k8s_client *c, const char *ns, const char *name,
		      const struct k8s_secret *s, struct cfg_error *err);

#endif
