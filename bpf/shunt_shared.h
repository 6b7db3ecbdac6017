/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The contract between the BPF datapath and userspace: map keys, map values,
 * counters and tunables. Included by both sides, so it only uses fixed-width
 * __u types and no kernel or libc headers of its own.
 *
 * Addresses are always 16 bytes: IPv6 as is, IPv4 as a v4-mapped IPv6
 * address (::ffff:a.b.c.d). A dual-stack server accepts IPv4 clients on
 * AF_INET6 sockets with v4-mapped addresses, so only this form lets an
 * AF_INET client and such a server agree on one key.
 */
#ifndef SHUNT_SHARED_H
#define SHUNT_SHARED_H

#define SHUNT_MAX_WORKLOADS 65536
#define SHUNT_MAX_SOCKS	    131072

/* shunt_workloads: which addresses belong to mesh workloads. The key of
 * all zeros (::, no socket's address) holds the node proxy, so that its
 * transparent sockets, bound to other nodes' workload addresses, are known
 * by their cgroup and netns instead (docs/proxy.md). */
struct shunt_workload_key {
	__u8 addr[16]; /* bytes, so `bpftool map dump` shows ...255,255,10,100,1,11 */
};

enum shunt_workload_flags {
	/* The workload runs on this node: its sockets may take the bypass. */
	SHUNT_WL_LOCAL = 1 << 0,
};

struct shunt_workload {
	__u64 netns_cookie; /* network namespace the address lives in */
	__u64 cgroup_id;    /* the workload's cgroup, where its sockets are or
			     * below (docs/datapath.md); 0: any cgroup under the
			     * mesh cgroup */
	__u32 id;	    /* workload id chosen by userspace */
	__u32 flags;	    /* enum shunt_workload_flags */
};

/* How many levels the datapath follows a cgroup up to its workload's: below
 * the mesh cgroup in the connect and ingress hooks, below the workload's
 * cgroup in the bypass (docs/datapath.md, "Processes and workloads"). */
#define SHUNT_CGROUP_LEVELS 16

/*
 * Name sizes, as Kubernetes allows them. A namespace (and a service) name
 * is a DNS label; a pod, node, service account or policy name a DNS
 * subdomain. SHUNT_NAME_MAX holds "namespace/name" and its NUL: every layer
 * (config, plan, maps, proxy wire, CLI) sizes name buffers from these.
 */
#define SHUNT_DNS_LABEL_MAX	63
#define SHUNT_DNS_SUBDOMAIN_MAX 253
#define SHUNT_NAME_MAX		320
_Static_assert(SHUNT_NAME_MAX >= SHUNT_DNS_LABEL_MAX + 1 + SHUNT_DNS_SUBDOMAIN_MAX + 1,
	       "SHUNT_NAME_MAX holds namespace/name");

/* shunt_workload_names: id -> name, for people (`shunt workload list`). */
struct shunt_workload_name {
	char name[SHUNT_NAME_MAX]; /* namespace/name */
};

/*
 * shunt_socks (sockhash) and shunt_endpoints: one key per socket, oriented
 * from that socket's point of view. The netns cookie keeps equal tuples in
 * different network namespaces apart. Ports are in host byte order.
 */
struct shunt_sock_key {
	__u64 netns_cookie;
	__u8 local_addr[16];
	__u8 remote_addr[16];
	__u16 local_port;
	__u16 remote_port;
	__u32 pad;
};

/* What the receive side of a socket has shown about how it reads. */
enum shunt_rx_flags {
	/* completed a recvmsg: reads through the path that sees redirected data */
	SHUNT_RX_RECVMSG = 1 << 0,
	/* used MSG_WAITALL, which redirected data cannot honour */
	SHUNT_RX_WAITALL = 1 << 1,
	/* set SO_RCVLOWAT above 1, which redirected data ignores */
	SHUNT_RX_LOWAT = 1 << 2,
	/* read TCP data other than by recvmsg (splice, zerocopy) and has not
	 * completed a recvmsg since: such readers never see redirected data */
	SHUNT_RX_OTHER_READ = 1 << 3,
	/* did a blocking read (informational: counted) */
	SHUNT_RX_BLOCKING = 1 << 4,
};

/*
 * shunt_endpoints: state a socket publishes about its receive side, read by
 * its peer's sk_msg program. Written by the socket's own hooks only.
 */
struct shunt_endpoint {
	__u32 rx_flags;	    /* enum shunt_rx_flags */
	__u32 passive;	    /* accepted by a listener (server side) */
	__u32 early_eagain; /* a blocking read of it returned EAGAIN early (kernel) */
	__u32 copied_seq;   /* TCP sequence the application has read up to */
	__u32 backlog;	    /* redirected bytes queued, unread, at the last read */
	__u32 rx_reads;	    /* completed reads, wraps */
	__u32 workload;	    /* local workload id */
	__u32 peer_workload;
	/*
	 * Leaving the sockhash (docs/small-writes.md). A socket that leaves
	 * drops its psock, and with it anything queued there, so it may only
	 * go once its peer has stopped redirecting to it and it has read
	 * every byte the peer redirected:
	 *   leaving:        set (atomically) by this socket: peer, stop redirecting
	 *   tx_redirected:  bytes this socket's sends redirected to its peer,
	 *                   added (atomically) before it looks at the peer's leaving
	 *   rx_redirected:  bytes this socket's reads took from redirected data
	 * It leaves when peer.tx_redirected == self.rx_redirected.
	 */
	__u32 leaving;
	__u32 left;	   /* out of the sockhash: plain TCP both ways, for good */
	__u32 rx_seq_seen; /* copied_seq after the last recvmsg: tells TCP bytes apart */
	__u32 tcp_state;   /* BPF_TCP_*, kept by the state callback (`shunt conns`) */
	__u64 tx_redirected;
	__u64 rx_redirected;
	/* For `shunt conns` and unload's drain where no iterator can read the
	 * psock: what this socket's sends do now, and, once the peer socket
	 * has closed, the peer's final tx_redirected (written at its close). */
	__u32 bypassing;
	__u32 ever_bypassed;
	__u32 peer_closed;
	__u32 pad2;
	__u64 peer_tx_final;
	__u64 peer_netns_cookie; /* the peer's key: this one reversed, in that netns */
};

/*
 * shunt_rx_profiles: what earlier connections of the same kind showed about
 * how they read. Kinds: the connections a server port accepts (remote_addr
 * zero), and a pod's connections to one destination address and port.
 * When such connections read by recvmsg and never otherwise, the next ones
 * are trusted from their first byte. When one met the kernel's early EAGAIN
 * (docs/datapath.md), the next blocking ones stay on TCP.
 */
struct shunt_rx_profile_key {
	__u64 netns_cookie;
	__u8 remote_addr[16]; /* zero for the accepting side */
	__u32 port;	      /* accepting: local port; connecting: remote port */
	__u32 passive;
};

struct shunt_rx_profile {
	__u32 recvmsg_conns; /* connections seen reading by recvmsg */
	__u32 unsafe;	     /* one read by splice, zerocopy or MSG_WAITALL */
	__u32 early_eagain;  /* one's blocking read got EAGAIN early (SHUNT_SKIP_EARLY_EAGAIN) */
};

/* Why a message went through TCP instead of the bypass. */
enum shunt_reason {
	SHUNT_REASON_DISABLED,	    /* bypass switched off (config or unload) */
	SHUNT_REASON_PEER_MISSING,  /* peer socket not (yet) in the sockhash */
	SHUNT_REASON_RX_UNPROVEN,   /* peer has not read by recvmsg yet */
	SHUNT_REASON_RX_WAITALL,    /* peer reads with MSG_WAITALL */
	SHUNT_REASON_RX_LOWAT,	    /* peer uses SO_RCVLOWAT */
	SHUNT_REASON_RX_OTHER_READ, /* peer reads by splice or zerocopy */
	SHUNT_REASON_TCP_UNREAD,    /* earlier TCP bytes not yet read by the peer */
	SHUNT_REASON_PEER_BACKLOG,  /* peer is far behind reading redirected data */
	SHUNT_REASON_SMALL_WRITES,  /* streaming small writes: TCP batches them better */
	SHUNT_REASON_REDIRECT_FAIL, /* the kernel refused the redirect */
	SHUNT_REASON_LEFT,	    /* the connection leaves the bypass (small-write stream) */
	SHUNT_REASON_MAX,
};

/* Why an established connection was not made a bypass candidate. */
enum shunt_skip {
	SHUNT_SKIP_FAMILY,	    /* not IPv4 or IPv6 */
	SHUNT_SKIP_LOCAL_NOT_MESH,  /* local address is not a workload */
	SHUNT_SKIP_REMOTE_NOT_MESH, /* remote address is not a workload */
	SHUNT_SKIP_REMOTE_OFF_NODE, /* remote workload runs on another node */
	SHUNT_SKIP_NETNS_MISMATCH,  /* socket is not in the workload's netns */
	SHUNT_SKIP_CGROUP_MISMATCH, /* socket is not in the workload's cgroup */
	SHUNT_SKIP_STORAGE_FAIL,    /* no socket storage (memory) */
	/* sockhash or endpoint map full; or the 4-tuple's key still held by a
	 * socket that reached TCP_CLOSE with unread bypass data, which its
	 * application has not closed yet (shunt_sock_release_at_close) */
	SHUNT_SKIP_INSERT_FAIL,
	/*
	 * In a sockhash, a blocking recvmsg woken without data returns EAGAIN
	 * instead of waiting on (kernels without the recv_waits fix). The
	 * known wakeups are guarded (docs/datapath.md); a kind of connection
	 * where one still met it keeps its blocking sockets on TCP.
	 */
	SHUNT_SKIP_EARLY_EAGAIN, /* blocking, of a kind that met the early EAGAIN */
	SHUNT_SKIP_PEER_SKIPPED, /* the other end was kept off: no redirect possible */
	SHUNT_SKIP_BYPASS_OFF,	 /* the bypass is off on this kernel (shunt_features) */
	SHUNT_SKIP_MAX,
};

/*
 * Counters, one struct per CPU in shunt_counters. Named fields so that
 * `bpftool map dump` is readable; the per-reason blocks are laid out in
 * enum order so the BPF side can index them.
 */
struct shunt_reason_counts {
	__u64 disabled;
	__u64 peer_missing;
	__u64 rx_unproven;
	__u64 rx_waitall;
	__u64 rx_lowat;
	__u64 rx_other_read;
	__u64 tcp_unread;
	__u64 peer_backlog;
	__u64 small_writes;
	__u64 redirect_fail;
	__u64 left;
};

struct shunt_skip_counts {
	__u64 family;
	__u64 local_not_mesh;
	__u64 remote_not_mesh;
	__u64 remote_off_node;
	__u64 netns_mismatch;
	__u64 cgroup_mismatch;
	__u64 storage_fail;
	__u64 insert_fail;
	__u64 early_eagain;
	__u64 peer_skipped;
	__u64 bypass_off;
};

struct shunt_counters {
	__u64 socks_added;     /* mesh sockets put into the sockhash */
	__u64 socks_closed;    /* of those, closed (side tables cleaned) */
	__u64 conns_bypassed;  /* socket directions that took the bypass */
	__u64 msgs_redirected; /* sends carried by the bypass */
	__u64 bytes_redirected;
	__u64 msgs_tcp; /* sends of mesh sockets carried by TCP */
	__u64 bytes_tcp;
	__u64 resumed;			      /* TCP -> bypass switches after a hand-back */
	__u64 socks_trusted;		      /* sockets trusted from their rx profile */
	__u64 rx_blocking;		      /* sockets in the sockhash that read blocking */
	__u64 rx_early_eagain;		      /* blocking reads that got EAGAIN early (kernel) */
	__u64 halfclose_left;		      /* blocking sockets that left at shutdown(SHUT_WR) */
	__u64 halfclose_late;		      /* ... that could not leave at once (unread data) */
	__u64 socks_left;		      /* removed from the sockhash (left the bypass) */
	__u64 cc_set;			      /* same-node sockets given local_congestion */
	__u64 cc_failed;		      /* the kernel refused local_congestion */
	struct shunt_reason_counts tcp_msgs;  /* sends kept on TCP, by reason */
	struct shunt_reason_counts handbacks; /* bypass -> TCP switches, by reason */
	struct shunt_skip_counts skipped;     /* connections never made candidates */
};

/*
 * shunt_coverage: same-node mesh connections by program and path, so that
 * `shunt status` can say which programs took the bypass and why the others
 * did not. Sockets count at close (bytes they sent, each way counted once by
 * its sender); connections kept out of the sockhash count at establishment.
 */
#define SHUNT_COMM_LEN 16 /* TASK_COMM_LEN */

enum shunt_path {
	SHUNT_PATH_BYPASS,	 /* bytes the bypass carried */
	SHUNT_PATH_TCP,		 /* bytes TCP carried: reason is an enum shunt_reason */
	SHUNT_PATH_SKIPPED,	 /* never a candidate: reason is an enum shunt_skip */
	SHUNT_PATH_EARLY_EAGAIN, /* sockets: its blocking reads that got EAGAIN early */
};

/* What woke a blocking read that got the kernel's early EAGAIN: the reason
 * of a SHUNT_PATH_EARLY_EAGAIN row. */
enum shunt_eagain_cause {
	SHUNT_EAGAIN_WOKEN,  /* a wakeup without data (send-buffer space, ...): learned */
	SHUNT_EAGAIN_SIGNAL, /* a signal */
	SHUNT_EAGAIN_CLOSED, /* the connection closed under the read (a reset) */
};

struct shunt_coverage_key {
	char comm[SHUNT_COMM_LEN]; /* the sending program ("" if unknown) */
	__u32 path;		   /* enum shunt_path */
	__u32 reason;
};

struct shunt_coverage {
	__u64 sockets;
	__u64 bytes;
};

/*
 * shunt_pairs: same-node mesh connections by client and server workload
 * (ids of shunt_workloads), for `shunt graph` and the agent's istio_tcp_*
 * metrics. The client's socket accounts for the whole connection: it adds
 * it as opened when it is established in the mesh, and as closed at its
 * close, with the bytes each side sent, by path. TCP bytes are the
 * kernel's own counts of the client socket (data it sent, retransmissions
 * left out; data it received, the FIN left out), so they are exact; bypass
 * bytes are what each side's sends redirected. Counted: connections in
 * the sockhash, and the ones between two workloads of this node kept on
 * TCP because the bypass is off or the kind of connection met the
 * kernel's early EAGAIN.
 */
#define SHUNT_MAX_PAIRS 16384

struct shunt_pair_key {
	__u32 client; /* workload id of the connecting side */
	__u32 server; /* workload id of the accepting side */
};

struct shunt_pair {
	__u64 opened;		   /* connections established (client sockets counted) */
	__u64 closed;		   /* of those, closed */
	__u64 conns_bypassed;	   /* closed ones where either side's sends took the bypass */
	__u64 client_bytes_bypass; /* sent by the client (requests), through the bypass */
	__u64 client_bytes_tcp;	   /* ... through TCP */
	__u64 server_bytes_bypass; /* sent by the server (responses), through the bypass */
	__u64 server_bytes_tcp;	   /* ... through TCP */
};

/* What the sockhash iterator writes for each socket (`shunt conns`). */
struct shunt_sock_report {
	struct shunt_sock_key key;
	__u32 pending;	 /* redirected bytes queued, not yet read */
	__u32 bypassing; /* sends currently take the bypass */
	__u32 ever_bypassed;
	__u32 tcp_state;
};

/*
 * shunt_features: what the loader found this kernel can do, one entry per
 * enum shunt_feature (docs/kernels.md). Written by the loader only; the
 * datapath reads SHUNT_FEAT_BYPASS before it puts a socket in the sockhash,
 * so a bypass whose guards are missing can never be switched on.
 */
enum shunt_feature {
	/* core: without one of these, shunt does not load */
	SHUNT_FEAT_BTF,
	SHUNT_FEAT_CGROUP_V2,
	SHUNT_FEAT_SOCK_OPS,
	SHUNT_FEAT_SK_MSG,
	SHUNT_FEAT_SOCK_ADDR,
	SHUNT_FEAT_CGROUP_SKB,
	SHUNT_FEAT_SK_STORAGE,
	SHUNT_FEAT_RINGBUF,
	SHUNT_FEAT_CGROUP_LINK,
	/* optional: each one's loss is named in loader/kernel_features.c
	 * (prog_syscall below is core since the policy query) */
	SHUNT_FEAT_RX_RECV_TP,	  /* raw_tp sock_recv_length */
	SHUNT_FEAT_RX_RECV_FEXIT, /* fexit inet_recvmsg / inet6_recvmsg */
	SHUNT_FEAT_RX_QUEUE_TP,	  /* raw_tp tcp_rcv_space_adjust */
	SHUNT_FEAT_BYPASS,	  /* on only with a receive hook and the queue hook */
	SHUNT_FEAT_SOCKMAP_LINK,
	SHUNT_FEAT_SOCK_ITER,
	SHUNT_FEAT_TCX,
	SHUNT_FEAT_SYSCALL_PROG,
	SHUNT_FEAT_SET_RETVAL,
	/* tcp_bpf_recvmsg keeps waiting when woken without data (the fix in
	 * docs/kernel-patches/); without it blocking readers are guarded */
	SHUNT_FEAT_RECV_WAITS,
	/* the ancestor cgroup helpers of the connect and ingress hooks: a
	 * process in a cgroup below a workload's is that workload */
	SHUNT_FEAT_CGROUP_ANCESTORS,
	SHUNT_FEAT_MAX,
};

#define SHUNT_FEATURE_SLOTS 32

enum shunt_feature_state {
	SHUNT_FEATURE_UNKNOWN, /* not probed (a datapath from an older version) */
	SHUNT_FEATURE_ON,      /* available and in use */
	SHUNT_FEATURE_OFF,     /* not available, or refused: see the reason */
	SHUNT_FEATURE_UNUSED,  /* not needed: a preferred alternative is on */
};

enum shunt_feature_reason {
	SHUNT_FR_NONE,
	SHUNT_FR_NOT_IN_KERNEL,	 /* this kernel has no such hook or type (version) */
	SHUNT_FR_REFUSED_LOAD,	 /* the kernel refused to load the program (err) */
	SHUNT_FR_REFUSED_ATTACH, /* the kernel refused to attach it (err) */
	SHUNT_FR_FORCED_OFF,	 /* SHUNT_FEATURES_OFF named it */
	SHUNT_FR_NEEDS_RX_RECV,	 /* bypass: no receive hook (recvmsg) */
	SHUNT_FR_NEEDS_RX_QUEUE, /* bypass: no TCP receive queue hook */
	SHUNT_FR_PREFERRED_ON,	 /* unused: the preferred alternative is on */
	SHUNT_FR_BYPASS_OFF,	 /* unused: the bypass is off, so its guards are not attached */
	SHUNT_FR_RECV_EAGAIN,	 /* recv_waits: a blocking sockhash read returned EAGAIN early */
	SHUNT_FR_PROBE_UNCLEAR,	 /* recv_waits: the probe could not tell (err) */
	SHUNT_FR_MAX,
};

struct shunt_feature_status {
	__u32 state;  /* enum shunt_feature_state */
	__u32 reason; /* enum shunt_feature_reason */
	__s32 err;    /* -errno of a refusal, else 0 */
	__u32 pad;
};

/* A congestion control name, as in net.ipv4.tcp_congestion_control. */
#define SHUNT_CC_NAME_LEN 16 /* TCP_CA_NAME_MAX */

/* shunt_config: tunables, changed at run time by `shunt config`. */
struct shunt_config {
	__u32 bypass_enabled;	 /* 0: every send goes through TCP */
	__u32 rx_guard;		 /* 1: redirect only to receivers proven safe */
	__u32 small_write_max;	 /* a write of at most this many bytes is small */
	__u32 small_streak;	 /* this many small writes in a row, no read: stream */
	__u32 max_backlog;	 /* unread redirected bytes allowed at the peer */
	__u32 small_pass_bytes;	 /* a small-write stream goes to TCP this many bytes
				  * at a time, without running the program per write */
	__u32 small_leave_bytes; /* after this many bytes of one small-write stream
				  * the connection leaves the sockhash (0: never) */
	/* Congestion control for TCP connections between two workloads of
	 * this node ("": leave the node's default); docs/small-writes.md. */
	char local_congestion[SHUNT_CC_NAME_LEN];
};

#define SHUNT_DEFAULT_SMALL_WRITE_MAX	256
#define SHUNT_DEFAULT_SMALL_STREAK	32
#define SHUNT_DEFAULT_MAX_BACKLOG	(8u << 20)
#define SHUNT_DEFAULT_SMALL_PASS_BYTES	(64u << 10)
#define SHUNT_DEFAULT_SMALL_LEAVE_BYTES (1u << 20)
#define SHUNT_DEFAULT_LOCAL_CONGESTION	"cubic"

#endif /* SHUNT_SHARED_H */
