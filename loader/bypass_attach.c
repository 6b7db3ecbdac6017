// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "bypass_attach.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bypass.skel.h"
#include "common/log.h"
#include "trial.h"

const struct shunt_attachment shunt_bypass_attachments[] = {
    /* receive-side guards first: they only publish state */
    {"shunt_rx_recvmsg", SHUNT_FEAT_RX_RECV_TP},
    {"shunt_rx_recvmsg_fx4", SHUNT_FEAT_RX_RECV_FEXIT},
    {"shunt_rx_recvmsg_fx6", SHUNT_FEAT_RX_RECV_FEXIT},
    {"shunt_rx_queue_read", SHUNT_FEAT_RX_QUEUE_TP},
    /* then redirects on send, and last the hook that fills the sockhash */
    {"shunt_sk_msg", SHUNT_FEAT_MAX},
    {"shunt_sockops", SHUNT_FEAT_MAX},
};
const size_t shunt_bypass_attachment_count =
    sizeof(shunt_bypass_attachments) / sizeof(shunt_bypass_attachments[0]);

/* Optional programs and the feature each one serves. */
static const struct {
	const char *prog;
	enum shunt_feature feature;
} optional_progs[] = {
    {"shunt_rx_recvmsg", SHUNT_FEAT_RX_RECV_TP},
    {"shunt_rx_recvmsg_fx4", SHUNT_FEAT_RX_RECV_FEXIT},
    {"shunt_rx_recvmsg_fx6", SHUNT_FEAT_RX_RECV_FEXIT},
    {"shunt_rx_queue_read", SHUNT_FEAT_RX_QUEUE_TP},
    {"shunt_socks_iter", SHUNT_FEAT_SOCK_ITER},
};
#define N_OPTIONAL (sizeof(optional_progs) / sizeof(optional_progs[0]))

bool shunt_attachment_expected(const struct shunt_attachment *a, const struct shunt_features *f)
{
	return a->needs == SHUNT_FEAT_MAX || shunt_feature_on(f, a->needs);
}

static struct bypass_bpf *open_on_pins(const struct shunt_pins *pins, __u32 max_socks,
				       const struct shunt_features *f)
{
	LIBBPF_OPTS(bpf_object_open_opts, open_opts, .pin_root_path = pins->maps);
	struct bypass_bpf *skel;
	struct bpf_program *prog;
	size_t i;

	skel = bypass_bpf__open_opts(&open_opts);
	if (!skel)
		return NULL;
	if (max_socks) {
		bpf_map__set_max_entries(skel->maps.shunt_socks, max_socks);
		bpf_map__set_max_entries(skel->maps.shunt_endpoints, max_socks);
	}
	for (i = 0; i < N_OPTIONAL; i++) {
		prog = bpf_object__find_program_by_name(skel->obj, optional_progs[i].prog);
		if (prog)
			bpf_program__set_autoload(prog,
						  shunt_feature_on(f, optional_progs[i].feature));
	}
	return skel;
}

/* Which optional programs does the kernel refuse? Each one is tried alone
 * first, so that the real load only has programs it accepts. */
static int trial_optional_programs(struct shunt_features *f)
{
	struct bypass_bpf *trial;
	int err;
	size_t i;

	for (i = 0; i < N_OPTIONAL; i++) {
		if (!shunt_feature_on(f, optional_progs[i].feature))
			continue;
		trial = bypass_bpf__open();
		if (!trial)
			return -errno;
		err = shunt_trial_load(trial->obj, optional_progs[i].prog);
		bypass_bpf__destroy(trial);
		if (err)
			shunt_feature_set(f, optional_progs[i].feature, SHUNT_FEATURE_OFF,
					  SHUNT_FR_REFUSED_LOAD, err);
	}
	return 0;
}

int shunt_bypass_load(const struct shunt_pins *pins, __u32 max_socks, struct shunt_features *f,
		      struct bypass_bpf **out)
{
	struct bypass_bpf *skel;
	int err;

	*out = NULL;
	err = trial_optional_programs(f);
	if (err)
		return err;
	skel = open_on_pins(pins, max_socks, f);
	if (!skel) {
		err = -errno;
		pr_err("cannot open the bypass BPF object: %s", strerror(-err));
		return err;
	}
	err = bypass_bpf__load(skel);
	if (err) {
		bypass_bpf__destroy(skel);
		pr_err("cannot load the bypass programs: %s%s", strerror(-err),
		       err == -EINVAL ? " (a pinned map from another version? try `shunt unload`)"
				      : "; run with -v for the kernel's verifier log");
		return err;
	}
	*out = skel;
	return 0;
}

int shunt_bypass_pin_programs(struct bypass_bpf *skel, const struct shunt_pins *pins)
{
	struct bpf_program *prog;
	char path[PATH_MAX];
	int err;

	bpf_object__for_each_program (prog, skel->obj) {
		if (!bpf_program__autoload(prog))
			continue;
		err = shunt_pin_path(path, sizeof(path), pins->progs, bpf_program__name(prog));
		if (!err)
			err = bpf_program__pin(prog, path);
		if (err) {
			pr_err("cannot pin program %s: %s", bpf_program__name(prog),
			       strerror(-err));
			return err;
		}
	}
	return 0;
}

static int pin_link_fd(const struct shunt_pins *pins, const char *name, int fd)
{
	char path[PATH_MAX];
	int err;

	err = shunt_pin_path(path, sizeof(path), pins->links, name);
	if (!err && bpf_obj_pin(fd, path))
		err = -errno;
	if (err)
		pr_err("cannot pin link %s: %s", name, strerror(-err));
	return err;
}

/* Attaches PROG by its section (raw_tp, fexit) and pins the link. */
static int attach_pinned(const struct shunt_pins *pins, struct bpf_program *prog)
{
	struct bpf_link *link = bpf_program__attach(prog);
	int err;

	if (!link)
		return -errno;
	err = pin_link_fd(pins, bpf_program__name(prog), bpf_link__fd(link));
	bpf_link__destroy(link); /* the pin holds it */
	return err;
}

/* Guards that are there but not attached, because the bypass is off. */
static void guards_unused(struct shunt_features *f, enum shunt_feature recv_feature)
{
	const enum shunt_feature guards[] = {recv_feature, SHUNT_FEAT_RX_QUEUE_TP};
	size_t i;

	for (i = 0; i < 2; i++)
		if (shunt_feature_on(f, guards[i]))
			shunt_feature_set(f, guards[i], SHUNT_FEATURE_UNUSED, SHUNT_FR_BYPASS_OFF,
					  0);
}

int shunt_bypass_attach_rx(struct bypass_bpf *skel, const struct shunt_pins *pins,
			   struct shunt_features *f)
{
	struct bpf_program *recv[2] = {skel->progs.shunt_rx_recvmsg};
	enum shunt_feature recv_feature = SHUNT_FEAT_RX_RECV_TP;
	int err = 0;
	size_t i;

	if (!shunt_feature_on(f, SHUNT_FEAT_RX_RECV_TP)) {
		recv[0] = skel->progs.shunt_rx_recvmsg_fx4;
		recv[1] = skel->progs.shunt_rx_recvmsg_fx6;
		recv_feature = SHUNT_FEAT_RX_RECV_FEXIT;
	}
	/* One guard without the other protects nothing: attach both or none. */
	shunt_features_settle_bypass(f);
	if (!shunt_feature_on(f, SHUNT_FEAT_BYPASS)) {
		guards_unused(f, recv_feature);
		return 0;
	}
	for (i = 0; i < 2 && recv[i] && !err; i++)
		err = attach_pinned(pins, recv[i]);
	if (err)
		shunt_feature_set(f, recv_feature, SHUNT_FEATURE_OFF, SHUNT_FR_REFUSED_ATTACH, err);
	else if ((err = attach_pinned(pins, skel->progs.shunt_rx_queue_read)))
		shunt_feature_set(f, SHUNT_FEAT_RX_QUEUE_TP, SHUNT_FEATURE_OFF,
				  SHUNT_FR_REFUSED_ATTACH, err);
	shunt_features_settle_bypass(f);
	if (!shunt_feature_on(f, SHUNT_FEAT_BYPASS)) {
		/* A half-attached guard does nothing: take it away again. */
		for (i = 0; i < shunt_bypass_attachment_count; i++)
			if (shunt_bypass_attachments[i].needs != SHUNT_FEAT_MAX)
				shunt_unpin(pins->links, shunt_bypass_attachments[i].name);
		guards_unused(f, recv_feature);
	}
	return 0;
}

int shunt_bypass_attach_sk_msg(struct bypass_bpf *skel, const struct shunt_pins *pins,
			       struct shunt_features *f)
{
	int prog_fd = bpf_program__fd(skel->progs.shunt_sk_msg);
	int map_fd = bpf_map__fd(skel->maps.shunt_socks);
	int fd, err;

	if (shunt_feature_on(f, SHUNT_FEAT_SOCKMAP_LINK)) {
		fd = bpf_link_create(prog_fd, map_fd, BPF_SK_MSG_VERDICT, NULL);
		if (fd >= 0) {
			err = pin_link_fd(pins, "shunt_sk_msg", fd);
			close(fd);
			return err;
		}
		shunt_feature_set(f, SHUNT_FEAT_SOCKMAP_LINK, SHUNT_FEATURE_OFF,
				  SHUNT_FR_REFUSED_ATTACH, -errno);
	}
	/* Lives as long as the pinned map: restarts keep it, unload detaches. */
	if (bpf_prog_attach(prog_fd, map_fd, BPF_SK_MSG_VERDICT, 0)) {
		err = -errno;
		pr_err("cannot attach sk_msg to the sockhash: %s", strerror(-err));
		return err;
	}
	return 0;
}

int shunt_bypass_attach_sockops(struct bypass_bpf *skel, const struct shunt_pins *pins, int cg_fd)
{
	struct bpf_link *link = bpf_program__attach_cgroup(skel->progs.shunt_sockops, cg_fd);
	int err;

	if (!link) {
		err = -errno;
		pr_err("cannot attach sockops: %s", strerror(-err));
		return err;
	}
	err = pin_link_fd(pins, "shunt_sockops", bpf_link__fd(link));
	bpf_link__destroy(link);
	return err;
}

static int pinned_prog_id(const struct shunt_pins *pins, const char *name, __u32 *id)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	char path[PATH_MAX];
	int fd, err = 0;

	shunt_pin_path(path, sizeof(path), pins->progs, name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		err = -errno;
	else
		*id = info.id;
	close(fd);
	return err;
}

/* sk_msg without a link: is our pinned program the one on the map? */
static bool sk_msg_attached_to_map(const struct shunt_pins *pins, __u32 *prog_id)
{
	__u32 ids[4], count = 4, ours = 0;
	int fd, err;

	if (pinned_prog_id(pins, "shunt_sk_msg", &ours))
		return false;
	fd = shunt_pinned_map_fd(pins, "shunt_socks");
	if (fd < 0)
		return false;
	err = bpf_prog_query(fd, BPF_SK_MSG_VERDICT, 0, NULL, ids, &count);
	close(fd);
	*prog_id = ours;
	/* Kernels before 6.0 cannot list a map's programs: trust the pin. */
	if (err)
		return errno == EINVAL;
	return count >= 1 && ids[0] == ours;
}

bool shunt_bypass_attached(const struct shunt_pins *pins, const struct shunt_attachment *a,
			   __u32 *prog_id)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	char path[PATH_MAX];
	int fd;

	*prog_id = 0;
	shunt_pin_path(path, sizeof(path), pins->links, a->name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return !strcmp(a->name, "shunt_sk_msg") && sk_msg_attached_to_map(pins, prog_id);
	if (!bpf_obj_get_info_by_fd(fd, &info, &len))
		*prog_id = info.prog_id;
	close(fd);
	return true;
}

void shunt_bypass_detach_sk_msg(const struct shunt_pins *pins)
{
	char path[PATH_MAX];
	int prog_fd, map_fd;

	shunt_pin_path(path, sizeof(path), pins->progs, "shunt_sk_msg");
	prog_fd = bpf_obj_get(path);
	map_fd = shunt_pinned_map_fd(pins, "shunt_socks");
	if (prog_fd >= 0 && map_fd >= 0)
		bpf_prog_detach2(prog_fd, map_fd, BPF_SK_MSG_VERDICT);
	if (prog_fd >= 0)
		close(prog_fd);
	if (map_fd >= 0)
		close(map_fd);
}
