// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Pods -> workloads. Every pod with an address is a workload (the peers of
 * policies and the backends of services need them all); a pod of this node
 * joins only once it is Ready and its cgroup and network namespace are
 * found: before that its traffic is plain TCP, never a half-set-up path.
 * hostNetwork pods are the node's, not workloads.
 *
 * The cgroup: the kubelet names a pod's cgroup after its UID and QoS class,
 *   systemd driver:  kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid, - as _>.slice
 *   cgroupfs driver: kubepods/<qos>/pod<uid>
 * (Guaranteed pods sit right under kubepods). The netns, without a container
 * runtime to ask (CRI PodSandbox is future work): /proc/<pid>/ns/net of a
 * process in the pod's cgroup or one below (the sandbox's pause process)
 * whose netns is not the host's; proc-root says where the host's /proc is.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/addr.h"
#include "k8s_impl.h"
#include "mesh_shared.h"

static bool is_dir(const char *path)
{
	struct stat st;

	return !stat(path, &st) && S_ISDIR(st.st_mode);
}

/* OUT = the path of FMT; true when it fits and is a directory. */
static bool __attribute__((format(printf, 3, 4)))
dir_at(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, len, fmt, ap);
	va_end(ap);
	return n >= 0 && (size_t)n < len && is_dir(out);
}

/* The pod's cgroup directory into OUT, for either driver; -ENOENT (OUT the
 * systemd path tried) when there is none. */
static int pod_cgroup(const char *root, const json_t *pod, char *out, size_t len)
{
	static const char *const qoses[] = {"burstable", "besteffort", ""};
	const char *uid = k8s_str(pod, "metadata.uid"),
		   *qos_class = k8s_str(pod, "status.qosClass");
	char uid_[128], qos[32] = "", first[512] = "";
	size_t i, k;

	if (!uid || strlen(uid) >= sizeof(uid_)) {
		snprintf(out, len, "(no metadata.uid)");
		return -ENOENT;
	}
	for (i = 0; uid[i]; i++)
		uid_[i] = uid[i] == '-' ? '_' : uid[i];
	uid_[i] = 0;
	for (i = 0; qos_class && qos_class[i] && i < sizeof(qos) - 1; i++)
		qos[i] = (char)(qos_class[i] | 0x20);
	if (!strcmp(qos, "guaranteed"))
		qos[0] = 0;
	for (k = 0; k < 3; k++) {
		const char *q = qos_class ? qos : qoses[k];

		bool found =
		    q[0] ? dir_at(out, len,
				  "%s/kubepods.slice/kubepods-%s.slice/kubepods-%s-pod%s.slice",
				  root, q, q, uid_)
			 : dir_at(out, len, "%s/kubepods.slice/kubepods-pod%s.slice", root, uid_);

		if (!first[0])
			snprintf(first, sizeof(first), "%.*s", (int)sizeof(first) - 1, out);
		if (found ||
		    dir_at(out, len, "%s/kubepods%s%s/pod%s", root, q[0] ? "/" : "", q, uid))
			return 0;
		if (qos_class)
			break;
	}
	snprintf(out, len, "%s", first);
	return -ENOENT;
}

/* The search for a process of the pod in a network namespace of its own. */
struct pod_proc_search {
	const char *proc;     /* where the host's /proc is */
	struct stat host_net; /* the host's netns (pid 1's); st_ino 0: unknown */
	unsigned int nprocs;  /* processes seen */
	long pid;	      /* the one found */
};

/* True when PID of S->proc has a network namespace, not the host's. */
static bool pid_has_own_netns(const struct pod_proc_search *s, long pid)
{
	char path[600];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%ld/ns/net", s->proc, pid);
	if (stat(path, &st))
		return false; /* gone since */
	return !s->host_net.st_ino || st.st_ino != s->host_net.st_ino ||
	       st.st_dev != s->host_net.st_dev;
}

/* A process in DIR's cgroup.procs, else in its children's (DEPTH levels):
 * the sandbox's pause process sits in a container cgroup below the pod's. A
 * process still in the host's netns (a container runtime's init before its
 * setns) is passed over. */
static int find_pod_process(struct pod_proc_search *s, const char *dir, int depth)
{
	char path[768], line[32];
	struct dirent *de;
	FILE *f;
	DIR *d;
	int ret = -ENOENT;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	if ((f = fopen(path, "re"))) {
		while (ret && fgets(line, sizeof(line), f)) {
			long pid = strtol(line, NULL, 10);

			if (pid <= 0)
				continue;
			s->nprocs++;
			if (pid_has_own_netns(s, pid)) {
				s->pid = pid;
				ret = 0;
			}
		}
		fclose(f);
	}
	if (!ret || depth == 0 || !(d = opendir(dir)))
		return ret;
	while (ret && (de = readdir(d)))
		if (de->d_name[0] != '.' && de->d_type == DT_DIR &&
		    snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) < (int)sizeof(path))
			ret = find_pod_process(s, path, depth - 1);
	closedir(d);
	return ret;
}

int k8s_pod_locate(const struct k8s_opts *opts, const json_t *pod, struct k8s_pod_paths *out)
{
	struct pod_proc_search s = {.proc = opts->proc_root};
	char real[PATH_MAX], path[600];

	out->why[0] = 0;
	if (pod_cgroup(opts->cgroup_root, pod, out->cgroup, sizeof(out->cgroup))) {
		snprintf(out->why, sizeof(out->why),
			 "no cgroup %.300s (nor of the cgroupfs driver, kubepods/.../pod<uid>)",
			 out->cgroup);
		return -ENOENT;
	}
	snprintf(path, sizeof(path), "%s/1/ns/net", opts->proc_root);
	if (stat(path, &s.host_net))
		s.host_net.st_ino = 0;
	if (find_pod_process(&s, out->cgroup, 2)) {
		if (!s.nprocs)
			snprintf(out->why, sizeof(out->why),
				 "no process in %.300s or below (no sandbox yet)", out->cgroup);
		else
			snprintf(out->why, sizeof(out->why),
				 "none of the %u processes in %.300s or below has a network "
				 "namespace other than the host's",
				 s.nprocs, out->cgroup);
		return -ENOENT;
	}
	/* The directory itself, not a link to it: its cgroup id is taken from
	 * its file handle. */
	if (realpath(out->cgroup, real) && strlen(real) < sizeof(out->cgroup))
		strcpy(out->cgroup, real);
	if (snprintf(out->netns, sizeof(out->netns), "%s/%ld/ns/net", opts->proc_root, s.pid) >=
	    (int)sizeof(out->netns)) {
		snprintf(out->why, sizeof(out->why), "the path of its netns is too long");
		return -ENAMETOOLONG;
	}
	return 0;
}

static bool pod_ready(const json_t *pod)
{
	json_t *conds = json_object_get(json_object_get(pod, "status"), "conditions"), *c;
	size_t i;

	json_array_foreach(
	    conds, i, c) if (!strcmp(k8s_str(c, "type") ?: "",
				     "Ready")) return !strcmp(k8s_str(c, "status") ?: "", "True");
	return false;
}

static int pod_addrs(struct k8s_tr *tr, const json_t *pod, struct cfg_workload *w)
{
	json_t *ips = json_object_get(json_object_get(pod, "status"), "podIPs"), *ip;
	const char *one = k8s_str(pod, "status.podIP");
	size_t i;

	json_array_foreach(ips, i, ip)
	{
		if (w->naddrs == CFG_MAX_ADDRS)
			break;
		if (!k8s_prefix(k8s_str(ip, "ip"), false, &w->addrs[w->naddrs]))
			w->naddrs++;
	}
	if (!w->naddrs && one && !k8s_prefix(one, false, &w->addrs[0]))
		w->naddrs = 1;
	if (!w->naddrs && one)
		k8s_warn(tr, &w->origin, "podIP '%s' is not an address", one);
	return 0;
}

static int pod_ports(struct k8s_tr *tr, const json_t *pod, struct cfg_workload *w)
{
	json_t *cs = json_object_get(json_object_get(pod, "spec"), "containers"), *c, *ports, *p;
	size_t i, j, n = 0;

	json_array_foreach(cs, i, c) n += json_array_size(json_object_get(c, "ports"));
	if (!n)
		return 0;
	if (!(w->ports = shunt_arena_alloc(&tr->cfg->arena, n * sizeof(*w->ports))))
		return k8s_oom(tr);
	json_array_foreach(cs, i, c)
	{
		ports = json_object_get(c, "ports");
		json_array_foreach(ports, j, p)
		{
			struct cfg_container_port *cp = &w->ports[w->nports];
			json_int_t num = json_integer_value(json_object_get(p, "containerPort"));

			if (num < 1 || num > 65535 ||
			    k8s_proto(json_object_get(p, "protocol"), &cp->proto))
				continue;
			cp->port = (__u16)num;
			cp->name = k8s_dup(tr, k8s_str(p, "name"));
			w->nports++;
		}
	}
	return 0;
}

/* 0: W is a workload; 1: the pod is left out. */
static int pod_of(struct k8s_tr *tr, const json_t *pod, bool local, struct cfg_workload *w)
{
	const char *phase = k8s_str(pod, "status.phase"),
		   *sa = k8s_str(pod, "spec.serviceAccountName");
	struct k8s_pod_paths paths;
	int err;

	memset(w, 0, sizeof(*w));
	if (json_is_true(json_object_get(json_object_get(pod, "spec"), "hostNetwork")) ||
	    (phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed"))))
		return 1;
	w->origin = k8s_origin(tr, "Pod", pod);
	w->name = w->origin.name;
	w->ns = w->origin.ns ? w->origin.ns : "default";
	w->service_account = k8s_dup(tr, sa && sa[0] ? sa : "default");
	w->node = k8s_dup(tr, k8s_str(pod, "spec.nodeName"));
	if ((err = pod_addrs(tr, pod, w)) || !w->naddrs || !w->node)
		return err ? err : 1;
	if (local) {
		if (!pod_ready(pod))
			return 1;
		paths.why[0] = 0;
		err = tr->opts->locate ? tr->opts->locate(tr->opts->locate_ctx, pod, &paths)
				       : k8s_pod_locate(tr->opts->locate_ctx, pod, &paths);
		if (err) {
			if (tr->opts->unplaced)
				(*tr->opts->unplaced)++;
			k8s_warn(tr, &w->origin, "Ready, but not in the mesh yet (uid %s): %s",
				 k8s_str(pod, "metadata.uid") ?: "-",
				 paths.why[0] ? paths.why : "its cgroup or netns is not found");
			return 1;
		}
		w->cgroup = k8s_dup(tr, paths.cgroup);
		w->netns = k8s_dup(tr, paths.netns);
	}
	if ((err = k8s_labels(tr, json_object_get(json_object_get(pod, "metadata"), "labels"),
			      &w->labels)))
		return err;
	k8s_pod_telemetry(tr, pod, w);
	return pod_ports(tr, pod, w);
}

/* An address belongs to one workload: a pod that reuses one still held
 * (its previous owner not yet gone from the API) waits. */
static int claim_addrs(struct k8s_tr *tr, struct keymap *addrs, const struct cfg_workload *w)
{
	char a[SHUNT_ADDR_STRLEN];
	size_t i;
	int err;

	for (i = 0; i < w->naddrs; i++)
		if (keymap_get(addrs, w->addrs[i].addr, 16, NULL)) {
			shunt_addr_format(w->addrs[i].addr, a, sizeof(a));
			k8s_warn(tr, &w->origin, "address %s belongs to another pod: left out", a);
			return 1;
		}
	for (i = 0; i < w->naddrs; i++)
		if ((err = keymap_put(addrs, w->addrs[i].addr, 16, 0, NULL)))
			return k8s_oom(tr);
	return 0;
}

static int cmp_key(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int pods_of(struct k8s_tr *tr, json_t *cache, bool local, struct keymap *addrs)
{
	struct mesh_config *cfg = tr->cfg;
	const char **keys = malloc((json_object_size(cache) + 1) * sizeof(*keys)), *key;
	size_t n = 0, i;
	json_t *v;
	int err = 0;

	if (!keys)
		return k8s_oom(tr);
	json_object_foreach(cache, key, v) keys[n++] = key;
	qsort(keys, n, sizeof(*keys), cmp_key);
	for (i = 0; !err && i < n; i++) {
		struct cfg_workload *w = &cfg->workloads[cfg->nworkloads];

		if ((err = pod_of(tr, json_object_get(cache, keys[i]), local, w)) ||
		    (err = claim_addrs(tr, addrs, w))) {
			err = err == 1 ? 0 : err;
			continue;
		}
		if (keymap_put(&tr->workloads, keys[i], strlen(keys[i]), cfg->nworkloads, NULL))
			err = k8s_oom(tr);
		cfg->nworkloads++;
	}
	free(keys);
	return err;
}

int k8s_pods(struct k8s_tr *tr, json_t *const caches[K8S_KINDS])
{
	size_t n =
	    json_object_size(caches[K8S_PODS_LOCAL]) + json_object_size(caches[K8S_PODS_REMOTE]);
	struct keymap addrs = {0};
	int err;

	if (!n)
		return 0;
	if (!(tr->cfg->workloads =
		  shunt_arena_alloc(&tr->cfg->arena, n * sizeof(struct cfg_workload))))
		return k8s_oom(tr);
	err = pods_of(tr, caches[K8S_PODS_LOCAL], true, &addrs);
	if (!err)
		err = pods_of(tr, caches[K8S_PODS_REMOTE], false, &addrs);
	keymap_free(&addrs);
	return err;
}
