#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# A local cluster out of network namespaces, veth pairs, bridges and cgroups.
#
#   scripts/cluster.sh up [--nodes N] [--pods M]   build it, write .cluster/cluster.json
#        [--kubernetes [--cgroup-driver systemd|cgroupfs]]
#                                                   ... served by a test API server (below)
#   scripts/cluster.sh exec POD -- CMD...           run CMD in POD (its netns and cgroup)
#   scripts/cluster.sh exec --outside POD -- CMD... in POD's netns, outside the mesh cgroup
#   scripts/cluster.sh exec --cgroup DIR POD -- CMD... in POD's netns and cgroup DIR: a path
#                                                   below POD's cgroup (c1, c1/c2: a container's),
#                                                   or absolute; made if missing
#   scripts/cluster.sh exec NODE -- CMD...          in a node's netns (the node's host side)
#   scripts/cluster.sh exec NODE-proxy -- CMD...    in a node's netns and its proxy's cgroup
#   scripts/cluster.sh down                         remove all of it, even after a crash
#   scripts/cluster.sh status                       what exists now
#
# Layout (K = node number, J = pod number):
#   netns PREFIX-net            the "physical" network: bridge br0 joining the nodes
#   netns PREFIX-nK             node K: underlay 10.99.0.K/24, fd00:99::K/64 on eth0,
#                               pod bridge br0 with 10.100.K.1/24, fd00:100:K::1/64
#   netns PREFIX-nK-pJ          pod J of node K: eth0 with 10.100.K.(10+J), fd00:100:K::(10+J)
#   cgroup CG/PREFIX/nK         the mesh cgroup of node K (shunt attaches here)
#   cgroup CG/PREFIX/nK/pJ      pod J's cgroup
#   cgroup CG/PREFIX/nK/proxy   the node proxy's cgroup (its pod-facing legs take the bypass)
#   cgroup CG/PREFIX/outside    processes that are not in any mesh
#   bpffs  /sys/fs/bpf/PREFIX/nK  pin directory of node K's shunt instance
#
# `up` also writes a mesh config for `shunt agent` (mesh.yaml next to the
# state file): every pod as a workload (pod 1 of each node labelled
# app: client, the others app: echo), and a service "echo" on 10.96.0.10 /
# fd00:96::10 port 80 -> 8080 (TCP) and 53 -> 5353 (UDP) selecting app: echo,
# and each node's proxy (outbound on the pod gateway :15001, inbound on the
# underlay address :15008; see docs/proxy.md).
# PREFIX defaults to shunt-lc (SHUNT_CLUSTER_PREFIX); the state file goes to
# SHUNT_CLUSTER_DIR (default .cluster in the repository).
#
# --kubernetes: the same cluster, also served as Kubernetes objects by the
# test API server (tests/k8s/apiserver.py), for `shunt agent --kubernetes`:
# the pods' cgroups follow the kubelet's layout under the node's cgroup
# (--cgroup-driver, default systemd), each with a sandbox process in the
# pod's netns; cluster.json gains "kubernetes" (kubeconfig, server) and
# each pod its "uid". scripts/cluster-k8s.sh has the details.
set -euo pipefail

PREFIX=${SHUNT_CLUSTER_PREFIX:-shunt-lc}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE_DIR=${SHUNT_CLUSTER_DIR:-$REPO/.cluster}
STATE=$STATE_DIR/cluster.json
PIN_BASE=/sys/fs/bpf/$PREFIX

die() { echo "cluster.sh: $*" >&2; exit 1; }
log() { [ -n "${QUIET:-}" ] || echo "cluster.sh: $*" >&2; }

case "$PREFIX" in
*[!a-zA-Z0-9-]* | "") die "SHUNT_CLUSTER_PREFIX may only hold letters, digits and '-'" ;;
esac

# The cgroup v2 mount: an existing one, or our own under /run/shunt.
cgroup2_root() {
	local root
	root=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
	if [ -z "$root" ]; then
		root=/run/shunt/cgroup2
		mkdir -p "$root"
		mount -t cgroup2 cgroup2 "$root" || die "cannot mount cgroup v2 on $root"
	fi
	echo "$root"
}

nsx() { ip netns exec "$@"; }

node_ns() { echo "$PREFIX-n$1"; }
pod_ns() { echo "$PREFIX-n$1-p$2"; }

pod_v4() { echo "10.100.$1.$((10 + $2))"; }
pod_v6() { echo "fd00:100:$1::$((10 + $2))"; }

# shellcheck source=scripts/cluster-k8s.sh
source "$REPO/scripts/cluster-k8s.sh"

# Pod K/J's cgroup: CG/PREFIX/nK/pJ, or the kubelet's path in --kubernetes
# mode. K8S_DRIVER while the cluster is built: none, systemd or cgroupfs;
# unset afterwards (exec): whichever exists.
pod_cgroup() { # CG K J
	case "${K8S_DRIVER:-detect}" in
	none) echo "$1/$PREFIX/n$2/p$3" ;;
	detect)
		if [ -d "$1/$PREFIX/n$2/p$3" ]; then
			echo "$1/$PREFIX/n$2/p$3"
		else
			k8s_find_pod_cgroup "$1" "$2" "$3" || echo "$1/$PREFIX/n$2/p$3"
		fi
		;;
	*) k8s_pod_cgroup "$1" "$2" "$3" "$K8S_DRIVER" ;;
	esac
}

cmd_up() {
	local nodes=2 pods=2 kubernetes=0 driver=systemd
	while [ $# -gt 0 ]; do
		case "$1" in
		--nodes) nodes=$2; shift 2 ;;
		--pods) pods=$2; shift 2 ;;
		--kubernetes) kubernetes=1; shift ;;
		--cgroup-driver) driver=$2; shift 2 ;;
		*) die "up: unknown option $1" ;;
		esac
	done
	case "$driver" in systemd | cgroupfs) ;; *) die "--cgroup-driver is systemd or cgroupfs" ;; esac
	K8S_DRIVER=none
	[ $kubernetes = 0 ] || K8S_DRIVER=$driver
	[[ "$nodes" =~ ^[0-9]+$ ]] && [ "$nodes" -ge 1 ] && [ "$nodes" -le 50 ] || die "--nodes must be 1..50"
	[[ "$pods" =~ ^[0-9]+$ ]] && [ "$pods" -ge 1 ] && [ "$pods" -le 200 ] || die "--pods must be 1..200"
	if ip netns list | grep -q "^$PREFIX-net\b"; then
		die "a cluster with prefix $PREFIX is already up (run: $0 down)"
	fi

	local cg k j l
	cg=$(cgroup2_root)
	# If anything below fails, leave nothing half-built behind.
	trap 'echo "cluster.sh: up failed; cleaning up" >&2; QUIET=1 cmd_down' ERR

	mkdir -p "$cg/$PREFIX/outside"
	ip netns add "$PREFIX-net"
	nsx "$PREFIX-net" ip link set lo up
	nsx "$PREFIX-net" ip link add br0 type bridge
	nsx "$PREFIX-net" ip link set br0 up

	for ((k = 1; k <= nodes; k++)); do
		local nns
		nns=$(node_ns $k)
		ip netns add "$nns"
		nsx "$nns" ip link set lo up
		nsx "$nns" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
			net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0
		# Underlay link to the shared "physical" bridge; both ends are
		# created inside their namespaces, never in the host's.
		ip link add name "n$k" netns "$PREFIX-net" type veth peer name eth0 netns "$nns"
		nsx "$PREFIX-net" ip link set "n$k" master br0 up
		nsx "$nns" ip addr add "10.99.0.$k/24" dev eth0
		nsx "$nns" ip addr add "fd00:99::$k/64" dev eth0 nodad
		nsx "$nns" ip link set eth0 up
		# Pod bridge.
		nsx "$nns" ip link add br0 type bridge
		nsx "$nns" ip addr add "10.100.$k.1/24" dev br0
		nsx "$nns" ip addr add "fd00:100:$k::1/64" dev br0 nodad
		nsx "$nns" ip link set br0 up
		mkdir -p "$cg/$PREFIX/n$k/proxy"

		for ((j = 1; j <= pods; j++)); do
			local pns
			pns=$(pod_ns $k $j)
			ip netns add "$pns"
			nsx "$pns" ip link set lo up
			nsx "$pns" sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0
			ip link add name "p$j" netns "$nns" type veth peer name eth0 netns "$pns"
			nsx "$nns" ip link set "p$j" master br0 up
			nsx "$pns" ip addr add "$(pod_v4 $k $j)/24" dev eth0
			nsx "$pns" ip addr add "$(pod_v6 $k $j)/64" dev eth0 nodad
			nsx "$pns" ip link set eth0 up
			nsx "$pns" ip route add default via "10.100.$k.1"
			nsx "$pns" ip -6 route add default via "fd00:100:$k::1"
			mkdir -p "$(pod_cgroup "$cg" $k $j)"
			[ "$K8S_DRIVER" = none ] || k8s_pod_sandbox "$cg" $k $j "$K8S_DRIVER"
		done
	done
	# Routes to the other nodes' pod networks over the underlay.
	for ((k = 1; k <= nodes; k++)); do
		for ((l = 1; l <= nodes; l++)); do
			[ "$k" = "$l" ] && continue
			nsx "$(node_ns $k)" ip route add "10.100.$l.0/24" via "10.99.0.$l"
			nsx "$(node_ns $k)" ip -6 route add "fd00:100:$l::/64" via "fd00:99::$l"
		done
	done
	[ "$K8S_DRIVER" = none ] || k8s_cluster_up "$nodes" "$pods"
	trap - ERR
	write_state "$cg" "$nodes" "$pods"
	write_mesh_config "$cg" "$nodes" "$pods"
	log "up: $nodes nodes x $pods pods (prefix $PREFIX$([ "$K8S_DRIVER" = none ] || echo ", served by the test API server")), described in $STATE"
}

write_state() {
	local cg=$1 nodes=$2 pods=$3 k j
	mkdir -p "$STATE_DIR"
	{
		printf '{\n  "prefix": "%s",\n  "cgroup_root": "%s",\n' "$PREFIX" "$cg"
		printf '  "outside_cgroup": "%s",\n' "$cg/$PREFIX/outside"
		[ "$K8S_DRIVER" = none ] || k8s_state_json "$K8S_DRIVER"
		printf '  "nodes": [\n'
		for ((k = 1; k <= nodes; k++)); do
			printf '    {\n      "name": "n%d",\n      "netns": "%s",\n' $k "$(node_ns $k)"
			printf '      "cgroup": "%s",\n      "pin_dir": "%s",\n' "$cg/$PREFIX/n$k" "$PIN_BASE/n$k"
			printf '      "ipv4": "10.99.0.%d",\n      "ipv6": "fd00:99::%d",\n' $k $k
			printf '      "gateway_ipv4": "10.100.%d.1",\n      "gateway_ipv6": "fd00:100:%d::1",\n' $k $k
			printf '      "pods": [\n'
			for ((j = 1; j <= pods; j++)); do
				printf '        {"name": "n%d-p%d", "node": "n%d", "netns": "%s", ' $k $j $k "$(pod_ns $k $j)"
				[ "$K8S_DRIVER" = none ] || printf '"uid": "%s", ' "$(k8s_pod_uid $k $j)"
				printf '"cgroup": "%s", "ipv4": "%s", "ipv6": "%s"}' \
					"$(pod_cgroup "$cg" $k $j)" "$(pod_v4 $k $j)" "$(pod_v6 $k $j)"
				[ $j -lt $pods ] && printf ','
				printf '\n'
			done
			printf '      ]\n    }'
			[ $k -lt $nodes ] && printf ','
			printf '\n'
		done
		printf '  ]\n}\n'
	} >"$STATE.tmp"
	mv "$STATE.tmp" "$STATE"
}

write_mesh_config() {
	local cg=$1 nodes=$2 pods=$3 k j app
	{
		echo "# Written by scripts/cluster.sh for cluster $PREFIX: run"
		echo "#   shunt --pin-dir $PIN_BASE/nK agent --config THIS --node nK --cgroup $cg/$PREFIX/nK"
		echo "apiVersion: shunt.dev/v1"
		echo "# Each node's proxy: pods reach it on their gateway, nodes on the underlay."
		echo "nodes:"
		for ((k = 1; k <= nodes; k++)); do
			echo "  - name: n$k"
			echo "    proxy: {outbound: 10.100.$k.1:15001, outbound6: \"[fd00:100:$k::1]:15001\", inbound: 10.99.0.$k:15008,"
			echo "            netns: /run/netns/$(node_ns $k), cgroup: $cg/$PREFIX/n$k/proxy}"
		done
		echo "namespaces:"
		echo "  - name: default"
		echo "    labels: {cluster: $PREFIX}"
		echo "workloads:"
		for ((k = 1; k <= nodes; k++)); do
			for ((j = 1; j <= pods; j++)); do
				app=echo
				[ "$j" = 1 ] && app=client
				echo "  - name: n$k-p$j"
				echo "    serviceAccount: $app"
				echo "    labels: {app: $app, node: n$k}"
				echo "    node: n$k"
				echo "    addresses: [$(pod_v4 $k $j), \"$(pod_v6 $k $j)\"]"
				echo "    netns: /run/netns/$(pod_ns $k $j)"
				echo "    cgroup: $(pod_cgroup "$cg" $k $j)"
			done
		done
		echo "services:"
		echo "  - name: echo"
		echo "    virtualIPs: [10.96.0.10, \"fd00:96::10\"]"
		echo "    ports:"
		echo "      - {name: http, port: 80, targetPort: 8080}"
		echo "      - {name: dns, port: 53, targetPort: 5353, protocol: UDP}"
		echo "    selector: {app: echo}"
		echo "policies: []"
	} >"$STATE_DIR/mesh.yaml.tmp"
	mv "$STATE_DIR/mesh.yaml.tmp" "$STATE_DIR/mesh.yaml"
}

# exec [--outside | --cgroup DIR] POD|NODE -- CMD...
cmd_exec() {
	local outside=0 sub="" target cg ns
	case "${1:-}" in
	--outside) outside=1; shift ;;
	--cgroup) sub=${2:-}; shift 2 || true ;;
	esac
	target=${1:-}
	shift || true
	[ "${1:-}" = "--" ] && shift
	[ -n "$target" ] && [ $# -gt 0 ] ||
		die "usage: exec [--outside | --cgroup DIR] POD|NODE|NODE-proxy -- CMD..."
	cg=$(cgroup2_root)
	if [[ "$target" =~ ^n([0-9]+)-p([0-9]+)$ ]]; then
		ns=$(pod_ns "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}")
		if [ $outside = 0 ]; then
			cg=$(pod_cgroup "$cg" "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}")
		else
			cg="$cg/$PREFIX/outside"
		fi
		# A cgroup of the pod's own (a container's, as the kubelet makes
		# them below the pod's), or any other: made the first time.
		if [ -n "$sub" ]; then
			[ "${sub:0:1}" = / ] && cg=$sub || cg="$cg/$sub"
			mkdir -p "$cg" || die "exec: cannot make cgroup $cg"
		fi
	elif [ -n "$sub" ]; then
		die "exec: --cgroup is for pods (nK-pJ)"
	elif [[ "$target" =~ ^n([0-9]+)$ ]]; then
		ns=$(node_ns "${BASH_REMATCH[1]}")
		cg="$cg/$PREFIX/outside"
	elif [[ "$target" =~ ^n([0-9]+)-proxy$ ]]; then
		ns=$(node_ns "${BASH_REMATCH[1]}")
		cg="$cg/$PREFIX/n${BASH_REMATCH[1]}/proxy"
	else
		die "exec: '$target' is neither a pod (nK-pJ), a node (nK) nor a node proxy (nK-proxy)"
	fi
	[ -e "/run/netns/$ns" ] || die "exec: no netns $ns (is the cluster up?)"
	[ -d "$cg" ] || die "exec: no cgroup $cg"
	# Join the cgroup first, so every process CMD starts is in it too.
	echo $$ >"$cg/cgroup.procs"
	exec nsenter --net="/run/netns/$ns" -- "$@"
}

# Ends the processes in our cgroups (by PID), deepest cgroups first.
kill_cgroup_tree() {
	local dir=$1 pid
	[ -d "$dir" ] || return 0
	local sub
	for sub in "$dir"/*/; do
		[ -d "$sub" ] && kill_cgroup_tree "${sub%/}"
	done
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		local pids
		pids=$(cat "$dir/cgroup.procs" 2>/dev/null || true)
		[ -z "$pids" ] && break
		for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
		sleep 0.1
	done
	rmdir "$dir" 2>/dev/null || true
}

cmd_down() {
	local cg ns shunt_bin="$REPO/.output/bin/shunt" d
	cg=$(cgroup2_root)
	# Mesh instances of the nodes: unload through shunt, so links detach cleanly.
	if [ -d "$PIN_BASE" ]; then
		for d in "$PIN_BASE"/*/; do
			[ -d "$d" ] || continue
			if [ -x "$shunt_bin" ]; then
				"$shunt_bin" --pin-dir "${d%/}" unload --drain-ms 200 >/dev/null 2>&1 || true
			fi
			rm -rf "${d%/}" 2>/dev/null || true
		done
		rmdir "$PIN_BASE" 2>/dev/null || rm -rf "$PIN_BASE" 2>/dev/null || true
	fi
	# What the agents published for the proxies (unload removes it too).
	rm -rf "/run/shunt$PIN_BASE" 2>/dev/null || true
	k8s_cluster_down
	kill_cgroup_tree "$cg/$PREFIX"
	for ns in $(ip netns list | awk '{print $1}' | grep -E "^$PREFIX-(net|n[0-9]+(-p[0-9]+)?)$" || true); do
		ip netns del "$ns" 2>/dev/null || true
	done
	rm -f "$STATE" "$STATE.tmp" "$STATE_DIR/mesh.yaml" "$STATE_DIR/mesh.yaml.tmp"
	rmdir "$STATE_DIR" 2>/dev/null || true
	log "down: removed cluster $PREFIX"
}

cmd_status() {
	local cg
	cg=$(cgroup2_root)
	echo "netns:   $(ip netns list | awk '{print $1}' | grep -cE "^$PREFIX-" || true)"
	echo "cgroups: $(find "$cg/$PREFIX" -mindepth 1 -type d 2>/dev/null | wc -l)"
	echo "pins:    $(find "$PIN_BASE" -mindepth 1 2>/dev/null | wc -l)"
	[ -f "$STATE" ] && echo "state:   $STATE" || echo "state:   none"
	[ ! -f "$K8S_CLUSTER_DIR/kubeconfig" ] ||
		echo "api:     $(awk '/server:/ { print $2 }' "$K8S_CLUSTER_DIR/kubeconfig") (kubeconfig $K8S_CLUSTER_DIR/kubeconfig)"
}

[ "$(id -u)" = 0 ] || die "needs root (network namespaces, cgroups, bpffs)"
cmd=${1:-}
shift || true
case "$cmd" in
up) cmd_up "$@" ;;
down) cmd_down ;;
exec) cmd_exec "$@" ;;
status) cmd_status ;;
*) die "usage: $0 up [--nodes N] [--pods M] [--kubernetes [--cgroup-driver systemd|cgroupfs]] | exec [--outside | --cgroup DIR] POD -- CMD... | down | status" ;;
esac
