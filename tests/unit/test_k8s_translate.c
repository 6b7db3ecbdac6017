// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The Kubernetes source without an API server: cached Pods, Namespaces,
 * Services and EndpointSlices -> the model (sources/k8s_translate.c,
 * k8s_pods.c, k8s_service.c); a pod's cgroup and netns found under a cgroup
 * tree made here (both kubelet drivers); kubeconfig files and the source's
 * options (k8s_conn.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/addr.h"
#include "k8s_fixture.h"
#include "sources/k8s_impl.h"
#include "sources/yaml_source.h"

#define POD(name, node, ip, extra)                                                                 \
	"{\"metadata\":{\"name\":\"" name "\",\"namespace\":\"x\",\"uid\":\"u-" name               \
	"\",\"labels\":{\"app\":\"" name "\"}},\"spec\":{\"nodeName\":\"" node "\"" extra          \
	"},\"status\":{\"phase\":\"Running\",\"podIP\":\"" ip "\",\"conditions\":"                 \
	"[{\"type\":\"Ready\",\"status\":\"True\"}]}}"

static void pods_become_workloads(void **state)
{
	json_t *c[K8S_KINDS];
	struct mesh_config cfg;
	struct cfg_error err;
	const struct cfg_workload *w;

	(void)state;
	k8s_fix_empty(c);
	k8s_fix_put(c[K8S_NAMESPACES], "x", "{\"metadata\":{\"name\":\"x\"}}");
	k8s_fix_put(c[K8S_PODS_LOCAL], "x/web",
		    POD("web", "n1", "10.0.0.1", ",\"serviceAccountName\":\"front\""));
	k8s_fix_put(c[K8S_PODS_LOCAL], "x/lost", POD("lost", "n1", "10.0.0.2", ""));
	k8s_fix_put(
	    c[K8S_PODS_LOCAL], "x/new",
	    "{\"metadata\":{\"name\":\"new\",\"namespace\":\"x\"},\"spec\":{\"nodeName\":\"n1\"},"
	    "\"status\":{\"podIP\":\"10.0.0.3\",\"conditions\":[{\"type\":\"Ready\",\"status\":"
	    "\"False\"}]}}");
	k8s_fix_put(c[K8S_PODS_REMOTE], "x/db", POD("db", "n2", "10.0.1.1", ""));
	k8s_fix_put(c[K8S_PODS_REMOTE], "x/host",
		    POD("host", "n2", "192.168.0.2", ",\"hostNetwork\":true"));
	k8s_fix_put(c[K8S_PODS_REMOTE], "x/pending",
		    "{\"metadata\":{\"name\":\"pending\",\"namespace\":\"x\"},"
		    "\"spec\":{\"nodeName\":\"n2\"},\"status\":{}}");
	k8s_fix_put(
	    c[K8S_PODS_REMOTE], "x/done",
	    "{\"metadata\":{\"name\":\"done\",\"namespace\":\"x\"},\"spec\":{\"nodeName\":\"n2\"},"
	    "\"status\":{\"phase\":\"Succeeded\",\"podIP\":\"10.0.1.9\"}}");
	k8s_fix_put(c[K8S_PODS_REMOTE], "x/reuse", POD("reuse", "n2", "10.0.1.1", ""));
	assert_int_equal(k8s_fix_translate(c, &cfg, &err), 0);
	assert_string_equal(cfg.trust_domain, "example.org");
	assert_int_equal(cfg.nworkloads, 2); /* web and db */
	assert_non_null(w = k8s_fix_workload(&cfg, "web"));
	assert_string_equal(w->service_account, "front");
	assert_string_equal(w->node, "n1");
	assert_string_equal(w->cgroup, "/cg/web");
	assert_string_equal(w->netns, "/ns/web");
	assert_int_equal(w->origin.kind, CFG_ORIGIN_OBJECT);
	assert_string_equal(w->origin.object_kind, "Pod");
	assert_non_null(w = k8s_fix_workload(&cfg, "db"));
	assert_string_equal(w->service_account, "default");
	assert_null(w->cgroup);
	assert_int_equal(w->addrs[0].len, 128);
	/* The Ready pod whose cgroup is not found yet, and the reused address. */
	assert_int_equal(cfg.nwarnings, 2);
	assert_non_null(strstr(cfg.warnings[0], "Pod/x/lost: Ready, but not in the mesh yet"));
	assert_non_null(strstr(cfg.warnings[0], ": no process in /cg/lost"));
	assert_non_null(strstr(cfg.warnings[1], "Pod/x/reuse: address 10.0.1.1 belongs"));
	/* The namespace label the API server sets. */
	assert_int_equal(cfg.namespaces[0].labels.n, 1);
	assert_string_equal(cfg.namespaces[0].labels.items[0].key, "kubernetes.io/metadata.name");
	mesh_config_free(&cfg);
}

#define NS(name, annotations)                                                                      \
	"{\"metadata\":{\"name\":\"" name "\",\"annotations\":{" annotations "}}}"

static void namespace_mtls_comes_from_its_annotation(void **state)
{
	json_t *c[K8S_KINDS];
	struct mesh_config cfg;
	struct cfg_error err;

	(void)state;
	k8s_fix_empty(c);
	k8s_fix_put(c[K8S_NAMESPACES], "a", NS("a", "\"shunt.dev/mtls\":\"STRICT\""));
	k8s_fix_put(c[K8S_NAMESPACES], "b", NS("b", "\"shunt.dev/mtls\":\"permissive\""));
	k8s_fix_put(c[K8S_NAMESPACES], "c", NS("c", "\"other\":\"STRICT\""));
	assert_int_equal(k8s_fix_translate(c, &cfg, &err), 0);
	assert_int_equal(cfg.nnamespaces, 3); /* sorted by name */
	assert_int_equal(cfg.namespaces[0].mtls, CFG_MTLS_STRICT);
	assert_int_equal(cfg.namespaces[1].mtls, CFG_MTLS_PERMISSIVE);
	assert_int_equal(cfg.namespaces[2].mtls, CFG_MTLS_UNSET); /* the mesh-wide mode */
	mesh_config_free(&cfg);

	/* a value that is neither fails the snapshot, naming the namespace */
	k8s_fix_empty(c);
	k8s_fix_put(c[K8S_NAMESPACES], "a", NS("a", ""));
	k8s_fix_put(c[K8S_NAMESPACES], "d", NS("d", "\"shunt.dev/mtls\":\"STRIKT\""));
	assert_int_equal(k8s_fix_translate(c, &cfg, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "Namespace/d"));
	assert_non_null(strstr(err.msg, "annotation shunt.dev/mtls is 'STRIKT'"));
	k8s_fix_empty(c);
	k8s_fix_put(c[K8S_NAMESPACES], "d", NS("d", "\"shunt.dev/mtls\":true"));
	assert_int_equal(k8s_fix_translate(c, &cfg, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "(not a string)"));
}

#define SLICE(name, svc, ports, eps)                                                               \
	"{\"metadata\":{\"name\":\"" name "\",\"namespace\":\"x\",\"labels\":{\"kubernetes.io/"    \
	"service-name\":\"" svc "\"}},\"addressType\":\"IPv4\",\"ports\":" ports                   \
	",\"endpoints\":" eps "}"

static void services_take_their_endpoint_slices(void **state)
{
	json_t *c[K8S_KINDS];
	struct mesh_config cfg;
	struct cfg_error err;
	const struct cfg_service *s;

	(void)state;
	k8s_fix_empty(c);
	k8s_fix_put(c[K8S_PODS_REMOTE], "x/db", POD("db", "n2", "10.0.1.1", ""));
	k8s_fix_put(
	    c[K8S_SERVICES], "x/db",
	    "{\"metadata\":{\"name\":\"db\",\"namespace\":\"x\"},\"spec\":{\"clusterIP\":"
	    "\"10.96.0.5\",\"clusterIPs\":[\"10.96.0.5\"],\"ports\":[{\"name\":\"sql\",\"port\":"
	    "5432,\"targetPort\":\"pg\",\"appProtocol\":\"kubernetes.io/h2c\"}]}}");
	k8s_fix_put(
	    c[K8S_ENDPOINTSLICES], "x/db-1",
	    SLICE(
		"db-1", "db", "[{\"name\":\"sql\",\"port\":6432,\"protocol\":\"TCP\"}]",
		"[{\"addresses\":[\"10.0.1.1\"],\"targetRef\":{\"kind\":\"Pod\",\"name\":\"db\"}},"
		"{\"addresses\":[\"10.0.9.9\"]},{\"addresses\":[\"10.0.9.8\"],\"conditions\":{"
		"\"ready\":false}}]"));
	k8s_fix_put(
	    c[K8S_SERVICES], "x/headless",
	    "{\"metadata\":{\"name\":\"headless\",\"namespace\":\"x\"},\"spec\":{\"clusterIP\":"
	    "\"None\",\"ports\":[{\"port\":80}]}}");
	k8s_fix_put(
	    c[K8S_SERVICES], "x/sctp",
	    "{\"metadata\":{\"name\":\"sctp\",\"namespace\":\"x\"},\"spec\":{\"clusterIP\":"
	    "\"10.96.0.6\",\"ports\":[{\"port\":80},{\"port\":90,\"protocol\":\"SCTP\"}]}}");
	k8s_fix_put(
	    c[K8S_SERVICES], "x/split",
	    "{\"metadata\":{\"name\":\"split\",\"namespace\":\"x\"},\"spec\":{\"clusterIP\":"
	    "\"10.96.0.7\",\"ports\":[{\"name\":\"h\",\"port\":80,\"targetPort\":\"web\"}]}}");
	k8s_fix_put(c[K8S_ENDPOINTSLICES], "x/split-1",
		    SLICE("split-1", "split", "[{\"name\":\"h\",\"port\":8080}]", "[]"));
	k8s_fix_put(c[K8S_ENDPOINTSLICES], "x/split-2",
		    SLICE("split-2", "split", "[{\"name\":\"h\",\"port\":9090}]", "[]"));
	assert_int_equal(k8s_fix_translate(c, &cfg, &err), 0);
	assert_int_equal(cfg.nservices, 1); /* headless: no VIP; sctp and split: left out */
	s = &cfg.services[0];
	assert_string_equal(s->name, "db");
	assert_int_equal(s->nvips, 1);
	assert_int_equal(s->ports[0].port, 5432);
	assert_int_equal(s->ports[0].target_port, 6432); /* the named port, as the slice says */
	assert_string_equal(s->ports[0].app_protocol, "http2");
	assert_int_equal(s->nbackends, 2); /* the not-ready endpoint is out */
	assert_string_equal(s->backends[0].workload, "db");
	assert_null(s->backends[1].workload);
	assert_int_equal(cfg.nwarnings, 2);
	assert_non_null(strstr(cfg.warnings[0], "Service/x/sctp: port 90 is SCTP"));
	assert_non_null(strstr(cfg.warnings[1], "Service/x/split: port 80: its endpoints"));
	mesh_config_free(&cfg);
}

/* Gateway API HTTPRoute through the YAML source's route parser; what it
 * cannot hold is left out whole, with the parser's message. */
static void httproutes_are_read_or_left_out_by_name(void **state)
{
	json_t *c[K8S_KINDS];
	struct mesh_config cfg;
	struct cfg_error err;

	(void)state;
	k8s_fix_empty(c);
	k8s_fix_put(c[K8S_SERVICES], "x/web",
		    "{\"metadata\":{\"name\":\"web\",\"namespace\":\"x\"},\"spec\":{\"clusterIP\":"
		    "\"10.96.0.5\",\"ports\":[{\"port\":80,\"appProtocol\":\"http\"}]}}");
	k8s_fix_put(
	    c[K8S_HTTPROUTES], "x/good",
	    "{\"metadata\":{\"name\":\"good\",\"namespace\":\"x\"},\"spec\":{\"hostnames\":"
	    "[\"web\"],\"parentRefs\":[{\"kind\":\"Service\",\"name\":\"web\",\"port\":80}],"
	    "\"rules\":[{\"matches\":[{\"path\":{\"type\":\"Exact\",\"value\":\"/a\"}}],"
	    "\"backendRefs\":[{\"name\":\"web\",\"port\":80,\"weight\":3}]}]}}");
	k8s_fix_put(c[K8S_HTTPROUTES], "x/sticky",
		    "{\"metadata\":{\"name\":\"sticky\",\"namespace\":\"x\"},\"spec\":{"
		    "\"parentRefs\":[{\"kind\":\"Service\",\"name\":\"web\",\"port\":80}],"
		    "\"rules\":[{\"sessionPersistence\":{\"sessionName\":\"s\"}}]}}");
	k8s_fix_put(c[K8S_HTTPROUTES], "x/nowhere",
		    "{\"metadata\":{\"name\":\"nowhere\",\"namespace\":\"x\"},\"spec\":{"
		    "\"parentRefs\":[{\"kind\":\"Service\",\"name\":\"gone\",\"port\":80}]}}");
	assert_int_equal(k8s_fix_translate(c, &cfg, &err), 0);
	assert_int_equal(cfg.nhttp_routes, 1);
	assert_string_equal(cfg.http_routes[0].name, "good");
	assert_int_equal(cfg.http_routes[0].origin.kind, CFG_ORIGIN_OBJECT);
	assert_int_equal(cfg.http_routes[0].rules[0].nbackends, 1);
	assert_int_equal(cfg.http_routes[0].rules[0].backends[0].weight, 3);
	assert_int_equal(cfg.nwarnings, 2);
	assert_non_null(strstr(cfg.warnings[0], "HTTPRoute/x/nowhere: left out: "));
	assert_non_null(strstr(cfg.warnings[1], "HTTPRoute/x/sticky: left out: "));
	assert_non_null(strstr(cfg.warnings[1], "sessionPersistence"));
	mesh_config_free(&cfg);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void sh(const char *fmt, const char *root)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), fmt, root, root, root, root);
	assert_int_equal(system(cmd), 0);
}

/* A cgroup tree of each driver with a "process" in a container's cgroup,
 * and a fake /proc: pid 1 (the host) and the processes' ns/net. */
static void pods_are_found_under_the_kubelets_cgroups(void **state)
{
	char root[] = "/tmp/shunt-k8s-cg.XXXXXX", path[512];
	struct k8s_pod_paths paths;
	struct k8s_opts opts;
	json_t *pod;

	(void)state;
	assert_non_null(mkdtemp(root));
	memset(&opts, 0, sizeof(opts));
	snprintf(opts.cgroup_root, sizeof(opts.cgroup_root), "%s/cg", root);
	snprintf(opts.proc_root, sizeof(opts.proc_root), "%s/proc", root);
	sh("mkdir -p %s/cg/kubepods.slice/kubepods-burstable.slice/"
	   "kubepods-burstable-poda_b_c.slice/cri-containerd-1.scope %s/cg/kubepods/pod1-2 "
	   "%s/proc/1/ns %s/proc/4242/ns",
	   root);
	sh("touch %s/proc/1/ns/net %s/proc/4242/ns/net", root);
	snprintf(path, sizeof(path),
		 "%s/cg/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-poda_b_c.slice/"
		 "cri-containerd-1.scope/cgroup.procs",
		 root);
	/* 99 is gone, 4242 has its own netns. */
	write_file(path, "99\n4242\n");
	pod = k8s_fix_obj(
	    "{\"metadata\":{\"uid\":\"a-b-c\"},\"status\":{\"qosClass\":\"Burstable\"}}");
	assert_int_equal(k8s_pod_locate(&opts, pod, &paths), 0);
	assert_non_null(strstr(paths.cgroup, "/kubepods-burstable-poda_b_c.slice"));
	snprintf(path, sizeof(path), "%s/proc/4242/ns/net", root);
	assert_string_equal(paths.netns, path);
	json_decref(pod);
	/* cgroupfs, Guaranteed: right under kubepods; no process yet: not found. */
	pod = k8s_fix_obj(
	    "{\"metadata\":{\"uid\":\"1-2\"},\"status\":{\"qosClass\":\"Guaranteed\"}}");
	assert_int_equal(k8s_pod_locate(&opts, pod, &paths), -ENOENT);
	assert_non_null(strstr(paths.why, "no process in "));
	assert_non_null(strstr(paths.why, "/kubepods/pod1-2 or below (no sandbox yet)"));
	/* A process still in the host's netns (the same inode as pid 1's). */
	sh("mkdir -p %s/proc/77/ns && ln %s/proc/1/ns/net %s/proc/77/ns/net", root);
	snprintf(path, sizeof(path), "%s/cg/kubepods/pod1-2/cgroup.procs", root);
	write_file(path, "77\n");
	assert_int_equal(k8s_pod_locate(&opts, pod, &paths), -ENOENT);
	assert_non_null(strstr(paths.why, "none of the 1 processes in "));
	assert_non_null(strstr(paths.why, "other than the host's"));
	sh("rm %s/proc/77/ns/net && touch %s/proc/77/ns/net", root);
	assert_int_equal(k8s_pod_locate(&opts, pod, &paths), 0);
	assert_non_null(strstr(paths.cgroup, "/kubepods/pod1-2"));
	json_decref(pod);
	/* No cgroup at all: the path looked for. */
	pod = k8s_fix_obj(
	    "{\"metadata\":{\"uid\":\"9-9\"},\"status\":{\"qosClass\":\"BestEffort\"}}");
	assert_int_equal(k8s_pod_locate(&opts, pod, &paths), -ENOENT);
	assert_non_null(strstr(paths.why, "no cgroup "));
	assert_non_null(strstr(paths.why, "kubepods-besteffort-pod9_9.slice"));
	json_decref(pod);
	sh("rm -rf %s", root);
}

static void kubeconfig_gives_server_credentials_and_ca(void **state)
{
	char dir[] = "/tmp/shunt-k8s-kc.XXXXXX", path[256], text[1024];
	struct k8s_conn conn;
	struct cfg_error err;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/config", dir);
	/* "LS0tLS1CRUdJTg==" is "-----BEGIN". */
	snprintf(text, sizeof(text),
		 "apiVersion: v1\nkind: Config\ncurrent-context: b\nclusters:\n"
		 "- {name: one, cluster: {server: 'https://wrong:1'}}\n"
		 "- {name: two, cluster: {server: 'https://10.0.0.1:6443/', "
		 "certificate-authority-data: LS0tLS1CRUdJTg==}}\n"
		 "contexts:\n- {name: a, context: {cluster: one, user: u}}\n"
		 "- {name: b, context: {cluster: two, user: v}}\n"
		 "users:\n- {name: u, user: {token: nope}}\n- {name: v, user: {tokenFile: tok}}\n");
	write_file(path, text);
	snprintf(text, sizeof(text), "%s/tok", dir);
	write_file(text, "secret\n");
	assert_int_equal(k8s_conn_load(&conn, path, NULL, &err), 0);
	assert_string_equal(conn.server, "https://10.0.0.1:6443");
	assert_string_equal(conn.token, "secret");
	assert_int_equal(conn.ca.len, 10);
	assert_memory_equal(conn.ca.data, "-----BEGIN", 10);
	assert_null(conn.cert.data);
	k8s_conn_free(&conn);
	/* a client certificate and key: as data (kind's), or files beside it */
	write_file(
	    path,
	    "current-context: a\ncontexts: [{name: a, context: {cluster: c, user: u}}]\n"
	    "clusters: [{name: c, cluster: {server: 'https://h', certificate-authority: ca}}]\n"
	    "users: [{name: u, user: {client-certificate-data: LS0tLS1CRUdJTg==, "
	    "client-key-data: LS0tLS0=}}]\n");
	assert_int_equal(k8s_conn_load(&conn, path, NULL, &err), 0);
	assert_null(conn.token);
	assert_int_equal(conn.cert.len, 10);
	assert_memory_equal(conn.cert.data, "-----BEGIN", 10);
	assert_int_equal(conn.key.len, 5);
	snprintf(text, sizeof(text), "%s/ca", dir);
	assert_string_equal(conn.ca.file, text);
	k8s_conn_free(&conn);
	write_file(path,
		   "current-context: a\ncontexts: [{name: a, context: {cluster: c, user: u}}]\n"
		   "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
		   "users: [{name: u, user: {client-certificate: c.pem, client-key: /k.pem}}]\n");
	assert_int_equal(k8s_conn_load(&conn, path, NULL, &err), 0);
	snprintf(text, sizeof(text), "%s/c.pem", dir);
	assert_string_equal(conn.cert.file, text);
	assert_string_equal(conn.key.file, "/k.pem");
	k8s_conn_free(&conn);
	/* a certificate without its key; a key that is not base64; a plugin */
	write_file(path,
		   "current-context: a\ncontexts: [{name: a, context: {cluster: c, user: u}}]\n"
		   "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
		   "users: [{name: u, user: {client-certificate: c.pem}}]\n");
	assert_int_equal(k8s_conn_load(&conn, path, NULL, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "a client certificate needs its key"));
	write_file(
	    path,
	    "current-context: a\ncontexts: [{name: a, context: {cluster: c, user: u}}]\n"
	    "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
	    "users: [{name: u, user: {client-certificate: c.pem, client-key-data: '%%%'}}]\n");
	assert_int_equal(k8s_conn_load(&conn, path, NULL, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "client-key-data is not base64"));
	write_file(path,
		   "current-context: a\ncontexts: [{name: a, context: {cluster: c, user: u}}]\n"
		   "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
		   "users: [{name: u, user: {auth-provider: {name: gcp}}}]\n");
	assert_int_equal(k8s_conn_load(&conn, path, NULL, &err), -EOPNOTSUPP);
	assert_non_null(strstr(err.msg, "auth-provider"));
	write_file(path,
		   "current-context: a\ncontexts: [{name: a, context: {cluster: c, user: u}}]\n"
		   "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
		   "users: [{name: u, user: {exec: {command: aws}}}]\n");
	assert_int_equal(k8s_conn_load(&conn, path, NULL, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "apiVersion"));
	snprintf(text, sizeof(text), "rm -rf %s", dir);
	assert_int_equal(system(text), 0);
}

/* A plugin in DIR: each run counts, saves KUBERNETES_EXEC_INFO and prints
 * its token "tok-RUN-ARG2" until $UNTIL (or OUT instead, if set). */
#define PLUGIN                                                                                     \
	"#!/bin/sh\nn=$(($(cat \"$0.n\" 2>/dev/null || echo 0) + 1)); echo $n >\"$0.n\"\n"         \
	"echo \"$KUBERNETES_EXEC_INFO\" >\"$0.info\"\n"                                            \
	"[ -z \"$OUT\" ] || { echo \"$OUT\"; exit ${CODE:-0}; }\n"                                 \
	"echo "                                                                                    \
	"'{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",'\n"     \
	"echo "                                                                                    \
	"\"\\\"status\\\":{\\\"token\\\":\\\"tok-$n-$2\\\",\\\"expirationTimestamp\\\":\\\"$"      \
	"UNTIL\\\"}}\"\n"

/* The kubeconfig at PATH with an exec user: ./plug with ENV (YAML list). */
static int load_exec(struct k8s_conn *conn, const char *path, const char *env,
		     struct cfg_error *err)
{
	char text[1024];

	snprintf(text, sizeof(text),
		 "current-context: a\ncontexts: [{name: a, context: {cluster: c, user: u}}]\n"
		 "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
		 "users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, "
		 "command: ./plug, args: [--cluster, c1], env: %s}}}]\n",
		 env);
	write_file(path, text);
	return k8s_conn_load(conn, path, NULL, err);
}

/* Credential plugins: the token until it expires or a 401 makes it stale;
 * the ExecCredential's errors, the plugin's exit status. */
static void exec_plugin_gives_the_token_until_it_expires(void **state)
{
	char dir[] = "/tmp/shunt-k8s-exec.XXXXXX", path[256], plug[256], info[512];
	struct k8s_conn conn;
	struct cfg_error err;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/config", dir);
	snprintf(plug, sizeof(plug), "%s/plug", dir);
	write_file(plug, PLUGIN);
	assert_int_equal(chmod(plug, 0755), 0);
	assert_int_equal(
	    load_exec(&conn, path, "[{name: UNTIL, value: '2099-01-01T00:00:00Z'}]", &err), 0);
	assert_string_equal(conn.token, "tok-1-c1");
	k8s_conn_refresh_token(&conn); /* not expired: the same */
	assert_string_equal(conn.token, "tok-1-c1");
	conn.exec.stale = true; /* a 401 */
	k8s_conn_refresh_token(&conn);
	assert_string_equal(conn.token, "tok-2-c1");
	snprintf(info, sizeof(info), "%s.info", plug);
	assert_non_null(f = fopen(info, "r"));
	assert_non_null(fgets(info, sizeof(info), f));
	fclose(f);
	assert_non_null(strstr(info, "\"kind\":\"ExecCredential\""));
	assert_non_null(strstr(info, "\"interactive\":false"));
	k8s_conn_free(&conn);
	/* expired (with fractions of a second): asked again before each request */
	assert_int_equal(
	    load_exec(&conn, path, "[{name: UNTIL, value: '2001-01-01T00:00:00.5Z'}]", &err), 0);
	assert_string_equal(conn.token, "tok-3-c1");
	k8s_conn_refresh_token(&conn);
	assert_string_equal(conn.token, "tok-4-c1");
	k8s_conn_free(&conn);
	/* an offset instead of Z, as client-go takes it */
	assert_int_equal(
	    load_exec(&conn, path, "[{name: UNTIL, value: '2099-01-01T00:00:00+01:00'}]", &err), 0);
	assert_true(conn.exec.expiry == 4070905200LL); /* 2098-12-31T23:00:00Z */
	k8s_conn_free(&conn);
	assert_int_equal(load_exec(&conn, path, "[{name: UNTIL, value: 'tomorrow'}]", &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "'tomorrow' is not an RFC 3339"));
	assert_int_equal(load_exec(&conn, path, "[{name: OUT, value: '{\"kind\":\"Pod\"}'}]", &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "not an ExecCredential of client.authentication"));
	assert_int_equal(
	    load_exec(&conn, path, "[{name: OUT, value: x}, {name: CODE, value: '3'}]", &err),
	    -EACCES);
	assert_non_null(strstr(err.msg, "exited with 3"));
	assert_int_equal(load_exec(&conn, path, "[{name: UNTIL}]", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "needs a name and a value"));
	snprintf(info, sizeof(info), "rm -rf %s", dir);
	assert_int_equal(system(info), 0);
}

static unsigned long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
}

/* Reconnects wait twice as long each time, up to the maximum, and each
 * wait is between half and all of it (jitter), so agents do not return
 * to the API server all at once. */
static void backoff_doubles_to_the_maximum_with_jitter(void **state)
{
	struct k8s_watcher w = {.opts = {.backoff_min_ms = 100, .backoff_max_ms = 1000}};
	struct k8s_informer inf = {0};
	static const unsigned int want[] = {100, 200, 400, 800, 1000, 1000};
	unsigned long long before, waited, first = 0;
	bool differ = false;
	size_t i, round;

	(void)state;
	for (round = 0; round < 20; round++) {
		inf.backoff_ms = 0;
		for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
			before = mono_ms();
			k8s_informer_backoff(&w, &inf);
			waited = inf.retry_at_ms - before;
			assert_int_equal(inf.backoff_ms, want[i]);
			assert_int_equal(inf.state, K8S_WAITING);
			assert_in_range(waited, want[i] / 2, want[i] + 2);
			if (i == 4 && round == 0)
				first = waited;
			else if (i == 4 && (waited > first + 2 || waited + 2 < first))
				differ = true;
		}
	}
	/* Not always the same wait: 20 draws of 500..1000 ms are not all equal. */
	assert_true(differ);
}

static void options_parse_and_refuse(void **state)
{
	struct k8s_opts o;
	struct cfg_error err;

	(void)state;
	assert_int_equal(k8s_opts_parse(&o, "node=n1,backoff-max-ms=900,trust-domain=td", &err), 0);
	assert_string_equal(o.node, "n1");
	assert_string_equal(o.trust_domain, "td");
	assert_int_equal(o.backoff_max_ms, 900);
	assert_string_equal(o.cgroup_root, "/sys/fs/cgroup");
	assert_string_equal(o.proc_root, "/proc");
	assert_int_equal(k8s_opts_parse(&o, "node=n1,proc-root=/host/proc", &err), 0);
	assert_string_equal(o.proc_root, "/host/proc");
	assert_int_equal(k8s_opts_parse(&o, "node=n1,colour=red", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "'colour': unknown"));
	assert_int_equal(k8s_opts_parse(&o, "kubeconfig=/k", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "node name"));
}

#define NODE(name, addrs)                                                                          \
	"{\"metadata\":{\"name\":\"" name "\"},\"status\":{\"addresses\":[" addrs "]}}"
#define ADDR(type, ip) "{\"type\":\"" type "\",\"address\":\"" ip "\"}"

static const struct cfg_node *find_node(const struct mesh_config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->nnodes; i++)
		if (!strcmp(cfg->nodes[i].name, name))
			return &cfg->nodes[i];
	return NULL;
}

static void endpoint_is(const struct cfg_endpoint *e, const char *want)
{
	char buf[64];

	shunt_endpoint_format(e->addr, e->port, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

/* Node objects give the node proxies (settings' nodeProxy); a node the
 * settings' `nodes` name keeps that entry. */
static void node_proxies_come_from_node_objects(void **state)
{
	static const char settings_yaml[] =
	    "apiVersion: shunt.dev/v1\nnodes:\n  - name: n3\n    proxy: {outbound: "
	    "\"10.9.9.9:7001\", inbound: \"10.9.9.9:7008\"}\nnodeProxy: {inboundPort: 15443}\n";
	struct k8s_translate_opts opts = {.node = "n1", .locate = k8s_fix_locate};
	struct mesh_config cfg, settings = {0};
	const struct cfg_node *n;
	struct cfg_error err;
	json_t *c[K8S_KINDS];
	int pass;

	(void)state;
	assert_int_equal(
	    mesh_config_parse(&settings, "mesh.yaml", settings_yaml, strlen(settings_yaml), &err),
	    0);
	assert_true(settings.node_proxy.set);
	for (pass = 0; pass < 2; pass++) {
		k8s_fix_empty(c);
		k8s_fix_put(
		    c[K8S_NODES], "n1",
		    NODE("n1",
			 ADDR("Hostname", "n1") "," ADDR("ExternalIP", "203.0.113.1") "," ADDR(
			     "InternalIP", "fd00::11") "," ADDR("InternalIP", "10.0.0.11")));
		k8s_fix_put(c[K8S_NODES], "n2", NODE("n2", ADDR("Hostname", "n2")));
		k8s_fix_put(c[K8S_NODES], "n3", NODE("n3", ADDR("InternalIP", "10.0.0.13")));
		/* without nodeProxy, Node objects give no proxy: plain TCP */
		opts.node_proxy = pass ? &settings.node_proxy : NULL;
		assert_int_equal(k8s_translate(c, &opts, &cfg, &err), 0);
		for (size_t i = 0; i < K8S_KINDS; i++)
			json_decref(c[i]);
		if (!pass) {
			assert_int_equal(cfg.nnodes, 0);
			mesh_config_free(&cfg);
			continue;
		}
		assert_int_equal(cfg.nnodes, 2); /* n2 has no InternalIP yet */
		assert_int_equal(cfg.nwarnings, 1);
		assert_non_null(strstr(cfg.warnings[0], "Node/n2"));
		assert_non_null(strstr(cfg.warnings[0], "no IPv4 InternalIP"));
		assert_int_equal(k8s_settings_copy(&settings, &cfg), 0);
		assert_int_equal(cfg.nnodes, 2);
		assert_non_null(n = find_node(&cfg, "n1"));
		assert_true(n->has_proxy);
		endpoint_is(&n->outbound, "10.0.0.11:15001");
		endpoint_is(&n->inbound, "10.0.0.11:15443");
		assert_true(n->has_outbound6);
		endpoint_is(&n->outbound6, "[fd00::11]:15001");
		assert_true(n->source_from_node);
		assert_int_equal(n->origin.kind, CFG_ORIGIN_OBJECT);
		assert_non_null(n = find_node(&cfg, "n3")); /* the settings' entry */
		endpoint_is(&n->inbound, "10.9.9.9:7008");
		assert_false(n->source_from_node);
		mesh_config_free(&cfg);
	}
	mesh_config_free(&settings);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(pods_become_workloads),
	    cmocka_unit_test(namespace_mtls_comes_from_its_annotation),
	    cmocka_unit_test(node_proxies_come_from_node_objects),
	    cmocka_unit_test(services_take_their_endpoint_slices),
	    cmocka_unit_test(httproutes_are_read_or_left_out_by_name),
	    cmocka_unit_test(pods_are_found_under_the_kubelets_cgroups),
	    cmocka_unit_test(kubeconfig_gives_server_credentials_and_ca),
	    cmocka_unit_test(exec_plugin_gives_the_token_until_it_expires),
	    cmocka_unit_test(backoff_doubles_to_the_maximum_with_jitter),
	    cmocka_unit_test(options_parse_and_refuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
