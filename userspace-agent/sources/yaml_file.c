// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The YAML file as a config source. Changes are seen with inotify on the
 * file's directory, so editors and tools that replace the file (write a
 * new one, rename it over) are seen as well as those that write in place.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "source.h"
#include "yaml_source.h"

struct yaml_file {
	struct config_source base;
	char path[PATH_MAX], dir[PATH_MAX], name[NAME_MAX + 1];
	int ino_fd;
};

static int yaml_file_open(const char *location, struct config_source **out, struct cfg_error *err)
{
	struct yaml_file *f = calloc(1, sizeof(*f));
	char tmp[PATH_MAX];

	if (!f)
		return -ENOMEM;
	f->base.ops = &yaml_file_source_ops;
	if (snprintf(f->path, sizeof(f->path), "%s", location) >= (int)sizeof(f->path)) {
		free(f);
		snprintf(err->msg, sizeof(err->msg), "%s: path too long", location);
		return -ENAMETOOLONG;
	}
	snprintf(tmp, sizeof(tmp), "%s", location);
	snprintf(f->dir, sizeof(f->dir), "%s", dirname(tmp));
	snprintf(tmp, sizeof(tmp), "%s", location);
	snprintf(f->name, sizeof(f->name), "%s", basename(tmp));
	f->ino_fd = -1;
	*out = &f->base;
	return 0;
}

static int yaml_file_load(struct config_source *src, struct mesh_config *cfg, struct cfg_error *err)
{
	int ret = mesh_config_load(cfg, ((struct yaml_file *)src)->path, err);

	if (ret || !cfg->node_proxy.set)
		return ret;
	/* Only Node objects say where the nodes are: a file lists them. */
	ret = cfg_fail_at(err, &cfg->node_proxy.origin,
			  "nodeProxy is a setting of the Kubernetes source (its Node objects); "
			  "a config file gives each node's proxy in 'nodes'");
	mesh_config_free(cfg);
	return ret;
}

static int yaml_file_watch(struct config_source *src, struct cfg_error *err)
{
	struct yaml_file *f = (struct yaml_file *)src;
	int ret;

	if (f->ino_fd >= 0)
		return f->ino_fd;
	f->ino_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (f->ino_fd >= 0 && inotify_add_watch(f->ino_fd, f->dir,
						IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE |
						    IN_DELETE | IN_MODIFY) >= 0)
		return f->ino_fd;
	ret = -errno;
	snprintf(err->msg, sizeof(err->msg), "cannot watch %.400s: %s", f->dir, strerror(-ret));
	if (f->ino_fd >= 0)
		close(f->ino_fd);
	f->ino_fd = -1;
	return ret;
}

static bool yaml_file_changed(struct config_source *src)
{
	struct yaml_file *f = (struct yaml_file *)src;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool changed = false;
	ssize_t len;
	char *p;

	while ((len = read(f->ino_fd, buf, sizeof(buf))) > 0) {
		for (p = buf; p < buf + len;) {
			struct inotify_event *ie = (struct inotify_event *)p;

			/* A deleted file keeps the running config. */
			if (ie->len && !strcmp(ie->name, f->name) && !(ie->mask & IN_DELETE))
				changed = true;
			p += sizeof(*ie) + ie->len;
		}
	}
	return changed;
}

static const char *yaml_file_describe(const struct config_source *src)
{
	return ((const struct yaml_file *)src)->path;
}

static void yaml_file_close(struct config_source *src)
{
	struct yaml_file *f = (struct yaml_file *)src;

	if (!f)
		return;
	if (f->ino_fd >= 0)
		close(f->ino_fd);
	free(f);
}

const struct config_source_ops yaml_file_source_ops = {
    .name = "yaml",
    .open = yaml_file_open,
    .load = yaml_file_load,
    .watch = yaml_file_watch,
    .changed = yaml_file_changed,
    .describe = yaml_file_describe,
    .close = yaml_file_close,
};
