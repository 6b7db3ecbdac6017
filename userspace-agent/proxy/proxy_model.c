// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The proxy follows the agent: it reads the model the agent publishes after
 * every apply (<run dir>/model.json), and whenever the file is replaced,
 * builds a new indexed snapshot and swaps it in. Workers pick it up between
 * batches of events; connections already open keep what they were given.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "common/log.h"
#include "mesh_read.h"
#include "model/model_json.h"
#include "proxy_trace.h"
#include "proxy_impl.h"
#include "proxy_stats.h"

#define MODEL_POLL_MS 200

static void model_destroy(struct snap *s)
{
	struct model_snap *m = (struct model_snap *)s;

	keymap_free(&m->by_addr);
	keymap_free(&m->by_name);
	mesh_config_free(&m->cfg);
	free(m);
}

static int model_index(struct model_snap *m)
{
	char q[SHUNT_NAME_MAX];
	size_t i, j;
	int err;

	for (i = 0; i < m->cfg.nworkloads; i++) {
		const struct cfg_workload *wl = &m->cfg.workloads[i];

		snprintf(q, sizeof(q), "%s/%s", wl->ns, wl->name);
		if ((err = keymap_put(&m->by_name, q, strlen(q), i, NULL)))
			return err;
		for (j = 0; j < wl->naddrs; j++)
			if ((err = keymap_put(&m->by_addr, wl->addrs[j].addr, 16, i, NULL)))
				return err;
	}
	return 0;
}

/* The published model as a snapshot; NULL and *ERR if there is none yet
 * (-ENOENT) or it does not give this node a proxy (-ENODEV, not logged:
 * the callers say what they do about it). */
static struct model_snap *model_read(int *err)
{
	static atomic_ullong generations;
	struct model_snap *m = calloc(1, sizeof(*m));
	struct cfg_error cerr = {.msg = ""};

	if (!m) {
		*err = -ENOMEM;
		return NULL;
	}
	m->generation = atomic_fetch_add(&generations, 1) + 1;
	snap_init(&m->base, model_destroy);
	*err = mesh_model_load(px.model_path, &m->cfg, &m->version, &cerr);
	if (*err) {
		if (*err != -ENOENT)
			pr_warn("cannot read the model %s: %s", px.model_path, cerr.msg);
		goto fail;
	}
	m->me = cfg_node_find(&m->cfg, px.node);
	if (!m->me || !m->me->has_proxy) {
		*err = -ENODEV;
		goto fail;
	}
	if ((*err = model_index(m)))
		goto fail;
	return m;
fail:
	model_destroy(&m->base);
	return NULL;
}

/* What identifies one published file: rename() gives a new inode. */
struct file_id {
	dev_t dev;
	ino_t ino;
	struct timespec mtime;
};

static bool file_id_of(const char *path, struct file_id *id)
{
	struct stat st;

	if (stat(path, &st))
		return false;
	*id = (struct file_id){st.st_dev, st.st_ino, st.st_mtim};
	return true;
}

static bool file_id_eq(const struct file_id *a, const struct file_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static void model_swap(struct model_snap *m)
{
	shunt_log_fields(SHUNT_LOG_INFO,
			 (struct shunt_log_field[]){LOG_STR("event", "model_loaded"),
						    LOG_NUM("version", m->version),
						    LOG_NUM("workloads", m->cfg.nworkloads)},
			 3, "following the agent's model: config version %llu, %zu workloads",
			 (unsigned long long)m->version, m->cfg.nworkloads);
	atomic_store(&proxy_stats.model_version, m->version);
	proxy_trace_configure(&m->cfg.tracing);
	snap_publish(&px.model_slot, &m->base);
}

/* The file as it was just before the first read: a model published during
 * that read is then seen as new, never skipped. */
static struct file_id start_id;
static bool start_have;

static void *model_main(void *arg)
{
	struct file_id seen = start_id, now;
	bool have = start_have;
	struct model_snap *m;
	int err;

	(void)arg;
	while (!atomic_load(&px.stopping)) {
		usleep(MODEL_POLL_MS * 1000);
		if (!file_id_of(px.model_path, &now) || (have && file_id_eq(&now, &seen)))
			continue;
		seen = now;
		have = true;
		m = model_read(&err);
		if (!m) {
			if (err == -ENODEV)
				pr_warn("the new model has no proxy section for node %s", px.node);
			pr_warn("keeping the previous model");
			continue;
		}
		model_swap(m);
	}
	return NULL;
}

/* A model without a proxy for this node: the mesh sends nothing here (no
 * nodeProxy in the Kubernetes settings yet, say). Waits, idle, for one
 * that gives it, read when the file changes, until stopped. */
static struct model_snap *wait_for_role(int *err)
{
	struct file_id seen = start_id, now;
	struct model_snap *m = NULL;

	pr_info("waiting: the model gives node %s no proxy (the settings' nodeProxy or nodes "
		"do); nothing is sent to it meanwhile",
		px.node);
	proxy_drain_make_ready_file();
	while (!m && !atomic_load(&px.stopping)) {
		usleep(MODEL_POLL_MS * 1000);
		if (!file_id_of(px.model_path, &now) || file_id_eq(&now, &seen))
			continue;
		seen = now;
		start_id = now; /* the follower's first file: this one */
		start_have = true;
		m = model_read(err);
		if (!m && *err != -ENODEV && *err != -ENOENT)
			return NULL;
	}
	return m;
}

int proxy_model_start(const struct shunt_pins *pins, int wait_s)
{
	struct model_snap *m = NULL;
	pthread_t t;
	int err, i;

	if ((err = shunt_run_dir(pins, px.model_path, sizeof(px.model_path) - 16)))
		return err;
	strcat(px.model_path, "/model.json");
	for (i = 0; i <= wait_s * 10 && !atomic_load(&px.stopping); i++) {
		start_have = file_id_of(px.model_path, &start_id);
		m = model_read(&err);
		if (m || err != -ENOENT)
			break;
		usleep(100 * 1000);
	}
	if (!m && err == -ENODEV)
		m = wait_for_role(&err);
	if (!m && atomic_load(&px.stopping))
		return -ECANCELED;
	if (!m) {
		pr_err("no model for node %s at %s: start `shunt agent` on this node first (the "
		       "proxy follows what it applies)",
		       px.node, px.model_path);
		return err ? err : -ENOENT;
	}
	model_swap(m);
	if ((err = pthread_create(&t, NULL, model_main, NULL)))
		return -err;
	pthread_detach(t);
	return 0;
}

const struct cfg_workload *model_workload_by_addr(const struct model_snap *m, const __u8 a[16])
{
	size_t idx;

	return keymap_get(&m->by_addr, a, 16, &idx) ? &m->cfg.workloads[idx] : NULL;
}

const struct cfg_workload *model_workload_by_name(const struct model_snap *m, const char *q)
{
	size_t idx;

	return keymap_get(&m->by_name, q, strlen(q), &idx) ? &m->cfg.workloads[idx] : NULL;
}

/* The kernel's names of workload identities for generation GEN, into W's map. */
static void kernel_ids_load(struct proxy_worker *w, __u32 gen)
{
	struct shunt_name_key key, next, *prev = NULL;
	struct shunt_name name;

	keymap_free(&w->kernel_ids);
	while (!bpf_map_get_next_key(px.names_fd, prev, &next)) {
		key = next;
		prev = &key;
		if (key.gen != gen || key.kind != SHUNT_NAME_IDENT ||
		    bpf_map_lookup_elem(px.names_fd, &key, &name))
			continue;
		name.name[sizeof(name.name) - 1] = 0;
		keymap_put(&w->kernel_ids, name.name, strlen(name.name), key.id, NULL);
	}
}

/*
 * The names are read once per config version into the worker's own map, not
 * scanned per connection (and not shared: no lock).
 */
int proxy_kernel_id(struct proxy_worker *w, const char *qualified, __u32 *id)
{
	__u64 version;
	size_t value;
	__u32 gen;

	if (mesh_state_read_fd(px.state_fd, &gen, &version))
		return -ENOENT;
	if (!w->kernel_ids_valid || version != w->kernel_ids_version) {
		kernel_ids_load(w, gen);
		w->kernel_ids_version = version;
		w->kernel_ids_valid = true;
	}
	if (!keymap_get(&w->kernel_ids, qualified, strlen(qualified), &value))
		return -ENOENT;
	*id = (__u32)value;
	return 0;
}

void proxy_kernel_ids_free(struct proxy_worker *w)
{
	keymap_free(&w->kernel_ids);
	w->kernel_ids_valid = false;
}
