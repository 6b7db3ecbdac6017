// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "kernel_features.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "common/log.h"
#include "recv_waits_probe.h"

/* Indexed by enum shunt_feature; docs/kernels.md has the same table. */
static const struct shunt_feature_info infos[SHUNT_FEAT_MAX] = {
    [SHUNT_FEAT_BTF] = {"btf", true, "kernel BTF (CONFIG_DEBUG_INFO_BTF), for CO-RE",
			"shunt cannot load: its programs are compiled once and relocated by BTF"},
    [SHUNT_FEAT_CGROUP_V2] = {"cgroup_v2", true, "cgroup v2 (mounted by shunt if needed)",
			      "no cgroup hooks: no services, policy or bypass"},
    [SHUNT_FEAT_SOCK_OPS] = {"prog_sock_ops", true, "sockops programs (CONFIG_CGROUP_BPF)",
			     "no connection tracking: no bypass, no proxy destinations"},
    [SHUNT_FEAT_SK_MSG] = {"prog_sk_msg", true,
			   "sk_msg programs and sockhash maps (CONFIG_BPF_STREAM_PARSER)",
			   "the datapath object cannot load (its sockops program fills the "
			   "sockhash)"},
    [SHUNT_FEAT_SOCK_ADDR] = {"prog_cgroup_sock_addr", true,
			      "cgroup connect/sendmsg/recvmsg/getpeername hooks",
			      "no services, no egress policy, no proxy redirection"},
    [SHUNT_FEAT_CGROUP_SKB] = {"prog_cgroup_skb", true, "cgroup_skb ingress programs",
			       "no ingress policy"},
    [SHUNT_FEAT_SK_STORAGE] = {"map_sk_storage", true, "socket storage maps (Linux 5.2+)",
			       "no per-socket state"},
    [SHUNT_FEAT_RINGBUF] = {"map_ringbuf", true, "ring buffer maps (Linux 5.8+)", "no flow events"},
    [SHUNT_FEAT_CGROUP_LINK] = {"link_cgroup", true, "cgroup bpf_links (Linux 5.7+)",
				"no pinned attachments: the datapath would not outlive the agent"},
    [SHUNT_FEAT_RX_RECV_TP] = {"rx_recv_tracepoint", false,
			       "raw tracepoint sock:sock_recv_length (Linux 6.3+)",
			       "the bypass needs the fexit receive hook instead"},
    [SHUNT_FEAT_RX_RECV_FEXIT] = {"rx_recv_fexit", false,
				  "fexit on inet_recvmsg/inet6_recvmsg (tracing programs)",
				  "with no sock_recv_length either, the bypass is off"},
    [SHUNT_FEAT_RX_QUEUE_TP] = {"rx_queue_tracepoint", false,
				"raw tracepoint tcp:tcp_rcv_space_adjust",
				"the bypass is off (splice and zerocopy readers could not be told "
				"apart)"},
    [SHUNT_FEAT_BYPASS] = {"bypass", false, "same-node socket-to-socket bypass (sockhash)",
			   "same-node traffic takes plain TCP; services, policy and the proxy "
			   "work as before"},
    [SHUNT_FEAT_SOCKMAP_LINK] = {"link_sockmap", false,
				 "sk_msg attached by a bpf_link (Linux "
				 "6.10+)",
				 "sk_msg is attached with bpf_prog_attach to the pinned sockhash: "
				 "same datapath, not listed by `bpftool link`"},
    [SHUNT_FEAT_SOCK_ITER] = {"sock_iter", false, "sockhash iterator (tracing programs)",
			      "`shunt conns` and unload's drain read the maps instead (same "
			      "columns; unread bytes from the redirect counters)"},
    [SHUNT_FEAT_TCX] = {"tcx", false,
			"tcx attachment, for the proxy's transparent source "
			"(Linux 6.6+)",
			"the proxy uses a tc clsact filter instead; a killed proxy leaves it "
			"attached (it marks nothing without the proxy's sockets)"},
    [SHUNT_FEAT_SYSCALL_PROG] = {"prog_syscall", true,
				 "syscall programs (Linux 5.14+): the kernel answers policy "
				 "questions for the proxy and `shunt policy check`, and takes the "
				 "proxy's flow events",
				 "no single source of policy decisions outside the hooks"},
    [SHUNT_FEAT_SET_RETVAL] = {"helper_set_retval", false,
			       "bpf_set_retval in connect hooks (Linux 5.18+)",
			       "a service without backends refuses connects with EPERM, not "
			       "ECONNREFUSED"},
    [SHUNT_FEAT_RECV_WAITS] = {"recv_waits", false,
			       "sockhash recvmsg keeps waiting when woken without data "
			       "(tcp_bpf_recvmsg fix, docs/kernel-patches/)",
			       "blocking readers are guarded: a half-closing socket leaves the "
			       "sockhash at shutdown; the cases in docs/datapath.md stay exposed"},
    [SHUNT_FEAT_CGROUP_ANCESTORS] =
	{"cgroup_ancestors", false,
	 "bpf_get_current_ancestor_cgroup_id in connect/sendmsg hooks "
	 "(Linux 5.7+), bpf_skb_ancestor_cgroup_id in cgroup_skb (4.19+)",
	 "a process in a cgroup below a workload's (a container below "
	 "its pod) is not that workload: no policy, identity or bypass "
	 "for it; only processes in the workload's cgroup itself are"},
};

_Static_assert(SHUNT_FEAT_MAX <= SHUNT_FEATURE_SLOTS, "shunt_features has a slot per feature");

const struct shunt_feature_info *shunt_feature_info(enum shunt_feature id)
{
	return (unsigned int)id < SHUNT_FEAT_MAX ? &infos[id] : NULL;
}

const char *shunt_feature_state_name(__u32 state)
{
	switch (state) {
	case SHUNT_FEATURE_ON:
		return "on";
	case SHUNT_FEATURE_OFF:
		return "off";
	case SHUNT_FEATURE_UNUSED:
		return "unused";
	default:
		return "unknown";
	}
}

void shunt_feature_why(const struct shunt_feature_status *s, char *buf, size_t len)
{
	const char *err = s->err ? strerror(-s->err) : "";

	switch (s->reason) {
	case SHUNT_FR_NOT_IN_KERNEL:
		snprintf(buf, len, "not in this kernel");
		break;
	case SHUNT_FR_REFUSED_LOAD:
		snprintf(buf, len, "the kernel refused to load it: %s%s", err,
			 s->err == -EPERM ? " (lockdown or a hardened kernel refuses this "
					    "program type)"
					  : "");
		break;
	case SHUNT_FR_REFUSED_ATTACH:
		snprintf(buf, len, "the kernel refused to attach it: %s", err);
		break;
	case SHUNT_FR_FORCED_OFF:
		snprintf(buf, len, "forced off by %s", SHUNT_FEATURES_OFF_ENV);
		break;
	case SHUNT_FR_NEEDS_RX_RECV:
		snprintf(buf, len,
			 "no receive hook for recvmsg (rx_recv_tracepoint or "
			 "rx_recv_fexit)");
		break;
	case SHUNT_FR_NEEDS_RX_QUEUE:
		snprintf(buf, len, "no receive hook for the TCP queue (rx_queue_tracepoint)");
		break;
	case SHUNT_FR_PREFERRED_ON:
		snprintf(buf, len, "not needed: the preferred alternative is on");
		break;
	case SHUNT_FR_BYPASS_OFF:
		snprintf(buf, len, "not attached: the bypass is off");
		break;
	case SHUNT_FR_RECV_EAGAIN:
		snprintf(buf, len,
			 "a blocking read of a socket in a sockhash returned EAGAIN when woken "
			 "without data (no tcp_bpf_recvmsg fix)");
		break;
	case SHUNT_FR_PROBE_UNCLEAR:
		snprintf(buf, len, "the probe could not tell (%s); assumed missing", err);
		break;
	default:
		snprintf(buf, len, "%s", s->state == SHUNT_FEATURE_UNKNOWN ? "not probed" : "");
		break;
	}
}

bool shunt_feature_on(const struct shunt_features *f, enum shunt_feature id)
{
	return (unsigned int)id < SHUNT_FEAT_MAX && f->st[id].state == SHUNT_FEATURE_ON;
}

bool shunt_feature_forced_off(const struct shunt_features *f, enum shunt_feature id)
{
	return (unsigned int)id < SHUNT_FEAT_MAX && f->st[id].reason == SHUNT_FR_FORCED_OFF;
}

void shunt_feature_set(struct shunt_features *f, enum shunt_feature id,
		       enum shunt_feature_state state, enum shunt_feature_reason reason, int err)
{
	if ((unsigned int)id >= SHUNT_FEAT_MAX)
		return;
	/* A feature forced off stays off, whatever a probe finds. */
	if (f->st[id].reason == SHUNT_FR_FORCED_OFF)
		return;
	f->st[id] = (struct shunt_feature_status){.state = state, .reason = reason, .err = err};
}

static void set_found(struct shunt_features *f, enum shunt_feature id, bool found)
{
	shunt_feature_set(f, id, found ? SHUNT_FEATURE_ON : SHUNT_FEATURE_OFF,
			  found ? SHUNT_FR_NONE : SHUNT_FR_NOT_IN_KERNEL, 0);
}

/* An enumerator of the kernel's own enum ENUM_NAME, e.g. a link or attach type. */
static bool btf_has_enum_value(const struct btf *btf, const char *enum_name, const char *value)
{
	const struct btf_enum *e;
	const struct btf_type *t;
	__s32 id;
	__u16 i;

	id = btf__find_by_name_kind(btf, enum_name, BTF_KIND_ENUM);
	if (id < 0)
		return false;
	t = btf__type_by_id(btf, id);
	e = btf_enum(t);
	for (i = 0; i < btf_vlen(t); i++, e++)
		if (!strcmp(btf__name_by_offset(btf, e->name_off), value))
			return true;
	return false;
}

static bool btf_has(const struct btf *btf, const char *name, __u32 kind)
{
	return btf__find_by_name_kind(btf, name, kind) >= 0;
}

static bool filesystem_known(const char *fs)
{
	char line[128], *name;
	bool found = false;
	FILE *f = fopen("/proc/filesystems", "r");

	if (!f)
		return false;
	/* Lines are "nodev\tcgroup2" or "\text4". */
	while (!found && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		name = strrchr(line, '\t');
		found = !strcmp(name ? name + 1 : line, fs);
	}
	fclose(f);
	return found;
}

/* What BTF tells: hooks and attach types exist or not in this kernel. */
static void probe_btf(struct shunt_features *f)
{
	struct btf *btf = NULL;

	if (!access("/sys/kernel/btf/vmlinux", R_OK))
		btf = btf__load_vmlinux_btf();
	set_found(f, SHUNT_FEAT_BTF, btf != NULL);
	if (!btf) {
		for (int id = SHUNT_FEAT_CGROUP_LINK; id < SHUNT_FEAT_MAX; id++)
			set_found(f, id, false);
		return;
	}
	set_found(f, SHUNT_FEAT_CGROUP_LINK,
		  btf_has_enum_value(btf, "bpf_link_type", "BPF_LINK_TYPE_CGROUP"));
	set_found(f, SHUNT_FEAT_RX_RECV_TP,
		  btf_has(btf, "btf_trace_sock_recv_length", BTF_KIND_TYPEDEF));
	set_found(f, SHUNT_FEAT_RX_RECV_FEXIT,
		  btf_has(btf, "inet_recvmsg", BTF_KIND_FUNC) &&
		      btf_has_enum_value(btf, "bpf_prog_type", "BPF_PROG_TYPE_TRACING"));
	set_found(f, SHUNT_FEAT_RX_QUEUE_TP,
		  btf_has(btf, "btf_trace_tcp_rcv_space_adjust", BTF_KIND_TYPEDEF));
	set_found(f, SHUNT_FEAT_SOCKMAP_LINK,
		  btf_has_enum_value(btf, "bpf_link_type", "BPF_LINK_TYPE_SOCKMAP"));
	set_found(f, SHUNT_FEAT_SOCK_ITER, btf_has(btf, "bpf_iter__sockmap", BTF_KIND_STRUCT));
	set_found(f, SHUNT_FEAT_TCX, btf_has_enum_value(btf, "bpf_attach_type", "BPF_TCX_INGRESS"));
	set_found(f, SHUNT_FEAT_SYSCALL_PROG,
		  btf_has_enum_value(btf, "bpf_prog_type", "BPF_PROG_TYPE_SYSCALL"));
	btf__free(btf);
}

/* What the kernel accepts: program and map types, and helpers. */
static void probe_types(struct shunt_features *f)
{
	set_found(f, SHUNT_FEAT_CGROUP_V2, filesystem_known("cgroup2"));
	set_found(f, SHUNT_FEAT_SOCK_OPS,
		  libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SOCK_OPS, NULL) == 1);
	set_found(f, SHUNT_FEAT_SK_MSG,
		  libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SK_MSG, NULL) == 1 &&
		      libbpf_probe_bpf_map_type(BPF_MAP_TYPE_SOCKHASH, NULL) == 1);
	set_found(f, SHUNT_FEAT_SOCK_ADDR,
		  libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, NULL) == 1);
	set_found(f, SHUNT_FEAT_CGROUP_SKB,
		  libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_CGROUP_SKB, NULL) == 1);
	set_found(f, SHUNT_FEAT_SK_STORAGE,
		  libbpf_probe_bpf_map_type(BPF_MAP_TYPE_SK_STORAGE, NULL) == 1);
	set_found(f, SHUNT_FEAT_RINGBUF,
		  libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL) == 1);
	set_found(f, SHUNT_FEAT_SET_RETVAL,
		  libbpf_probe_bpf_helper(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_FUNC_set_retval,
					  NULL) == 1);
	set_found(f, SHUNT_FEAT_CGROUP_ANCESTORS,
		  libbpf_probe_bpf_helper(BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
					  BPF_FUNC_get_current_ancestor_cgroup_id, NULL) == 1 &&
		      libbpf_probe_bpf_helper(BPF_PROG_TYPE_CGROUP_SKB,
					      BPF_FUNC_skb_ancestor_cgroup_id, NULL) == 1);
}

/* A blocking read in a sockhash, woken without data (recv_waits_probe.h). */
static void probe_recv_waits(struct shunt_features *f)
{
	int ret = -EALREADY, tries;

	if (shunt_feature_forced_off(f, SHUNT_FEAT_RECV_WAITS))
		return;
	if (!shunt_feature_on(f, SHUNT_FEAT_SK_MSG)) {
		set_found(f, SHUNT_FEAT_RECV_WAITS, false);
		return;
	}
	/* The wakeup missed the read (a very slow or loaded machine): again. */
	for (tries = 0; tries < 3 && (ret == -EALREADY || ret == -ETIME || ret == -EPROTO); tries++)
		ret = shunt_probe_recv_waits();
	if (ret == 1)
		shunt_feature_set(f, SHUNT_FEAT_RECV_WAITS, SHUNT_FEATURE_ON, SHUNT_FR_NONE, 0);
	else if (ret == 0)
		shunt_feature_set(f, SHUNT_FEAT_RECV_WAITS, SHUNT_FEATURE_OFF, SHUNT_FR_RECV_EAGAIN,
				  0);
	else
		shunt_feature_set(f, SHUNT_FEAT_RECV_WAITS, SHUNT_FEATURE_OFF,
				  SHUNT_FR_PROBE_UNCLEAR, ret);
}

/* SHUNT_FEATURES_OFF=name[,name...] or "optional". */
static int apply_forced_off(struct shunt_features *f)
{
	const char *env = getenv(SHUNT_FEATURES_OFF_ENV);
	char *list, *tok, *save = NULL;
	int id, err = 0;

	if (!env || !*env)
		return 0;
	list = strdup(env);
	if (!list)
		return -ENOMEM;
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		bool all = !strcmp(tok, "optional"), matched = all;

		for (id = 0; id < SHUNT_FEAT_MAX; id++) {
			if (!all && strcmp(tok, infos[id].name))
				continue;
			matched = true;
			if (infos[id].core) {
				if (!all) {
					pr_err("%s: %s is a core feature and cannot be switched "
					       "off",
					       SHUNT_FEATURES_OFF_ENV, tok);
					err = -EINVAL;
				}
				continue;
			}
			f->st[id] = (struct shunt_feature_status){.state = SHUNT_FEATURE_OFF,
								  .reason = SHUNT_FR_FORCED_OFF};
		}
		if (!matched) {
			pr_err("%s: no feature named '%s'", SHUNT_FEATURES_OFF_ENV, tok);
			err = -EINVAL;
		}
	}
	free(list);
	return err;
}

int shunt_features_probe(struct shunt_features *f)
{
	int err;

	memset(f, 0, sizeof(*f));
	err = apply_forced_off(f);
	if (err)
		return err;
	probe_btf(f);
	probe_types(f);
	probe_recv_waits(f);
	/* The fexit hook is only the fallback of the tracepoint. */
	if (shunt_feature_on(f, SHUNT_FEAT_RX_RECV_TP))
		shunt_feature_set(f, SHUNT_FEAT_RX_RECV_FEXIT, SHUNT_FEATURE_UNUSED,
				  SHUNT_FR_PREFERRED_ON, 0);
	/* Decided once the guards are attached (shunt_features_settle_bypass). */
	shunt_feature_set(f, SHUNT_FEAT_BYPASS, SHUNT_FEATURE_OFF, SHUNT_FR_NONE, 0);
	return 0;
}

void shunt_features_settle_bypass(struct shunt_features *f)
{
	if (!shunt_feature_on(f, SHUNT_FEAT_RX_RECV_TP) &&
	    !shunt_feature_on(f, SHUNT_FEAT_RX_RECV_FEXIT))
		shunt_feature_set(f, SHUNT_FEAT_BYPASS, SHUNT_FEATURE_OFF, SHUNT_FR_NEEDS_RX_RECV,
				  0);
	else if (!shunt_feature_on(f, SHUNT_FEAT_RX_QUEUE_TP))
		shunt_feature_set(f, SHUNT_FEAT_BYPASS, SHUNT_FEATURE_OFF, SHUNT_FR_NEEDS_RX_QUEUE,
				  0);
	else
		shunt_feature_set(f, SHUNT_FEAT_BYPASS, SHUNT_FEATURE_ON, SHUNT_FR_NONE, 0);
}

int shunt_features_core_missing(const struct shunt_features *f, char *buf, size_t len)
{
	size_t used = 0;
	int id, n = 0;

	buf[0] = '\0';
	for (id = 0; id < SHUNT_FEAT_MAX; id++) {
		if (!infos[id].core || shunt_feature_on(f, id))
			continue;
		if (used < len)
			used += (size_t)snprintf(buf + used, len - used, "%s%s (%s)", n ? "; " : "",
						 infos[id].name, infos[id].what);
		n++;
	}
	return n;
}

int shunt_features_write(const struct shunt_pins *pins, const struct shunt_features *f)
{
	int fd, err = 0;
	__u32 id;

	fd = shunt_pinned_map_fd(pins, "shunt_features");
	if (fd < 0)
		return fd;
	for (id = 0; id < SHUNT_FEAT_MAX && !err; id++)
		if (bpf_map_update_elem(fd, &id, &f->st[id], BPF_ANY))
			err = -errno;
	close(fd);
	return err;
}

int shunt_features_read(const struct shunt_pins *pins, struct shunt_features *f)
{
	int fd, err = 0;
	__u32 id;

	memset(f, 0, sizeof(*f));
	fd = shunt_pinned_map_fd(pins, "shunt_features");
	if (fd < 0)
		return fd;
	for (id = 0; id < SHUNT_FEAT_MAX && !err; id++)
		if (bpf_map_lookup_elem(fd, &id, &f->st[id]))
			err = -errno;
	close(fd);
	return err;
}

void shunt_features_log(const struct shunt_features *f)
{
	char why[256];
	int id;

	for (id = 0; id < SHUNT_FEAT_MAX; id++) {
		const struct shunt_feature_status *s = &f->st[id];

		shunt_feature_why(s, why, sizeof(why));
		if (s->state == SHUNT_FEATURE_ON)
			pr_info("feature %-22s on   (%s%s)", infos[id].name,
				infos[id].core ? "core: " : "", infos[id].what);
		else
			pr_info("feature %-22s %-4s %s; %s: %s", infos[id].name,
				shunt_feature_state_name(s->state), why,
				s->state == SHUNT_FEATURE_UNUSED ? "it would give" : "without it",
				s->state == SHUNT_FEATURE_UNUSED ? infos[id].what
								 : infos[id].without);
	}
}
