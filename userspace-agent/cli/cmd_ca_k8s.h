/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* shunt ca bootstrap: the mesh CA from a Secret, made there if none is
 * (cmd_ca_k8s.c; docs/kubernetes.md "Cross-node mTLS"). */
#ifndef SHUNT_CMD_CA_K8S_H
#define SHUNT_CMD_CA_K8S_H

struct ca_bootstrap_args {
	const char *dir;	   /* where the CA's files go */
	const char *secret;	   /* NAMESPACE/NAME */
	const char *kubeconfig;	   /* NULL: in-cluster */
	const char *trust_domain;  /* of a CA made here */
	const char *mesh_settings; /* NULL, or the file whose trustDomain it is */
	int days;
};

/* 0 with DIR holding the Secret's CA (made and stored first if the Secret
 * was not there); -errno, said on stderr. */
int ca_bootstrap(const struct ca_bootstrap_args *b);

#endif
