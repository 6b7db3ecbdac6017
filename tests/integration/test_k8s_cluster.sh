# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
# The local cluster served by the test API server (`cluster.sh up
# --kubernetes`): each node's agent runs `shunt agent --kubernetes` against
# it, end to end, and finds its pods as the kubelet lays them out (cgroups
# named after the pods' UIDs, the netns of a sandbox process in them).
# docs/kubernetes.md "The local cluster through the API server".

# shellcheck source=tests/k8s/k8slib.sh
source "${REPO:-.}/tests/k8s/k8slib.sh"

# True once NODE's kernel has default/POD as a local workload.
k8s_pod_in_kernel() { # NODE POD
	t_shunt "$1" workloads --json |
		jq -e --arg n "default/$2" 'any(.identities[]; .name == $n and .kind == "local")' >/dev/null
}

# 8 MiB each way from n1-p1 to n1-p2: K8S_BYPASS, the bytes the bypass
# carried, and K8S_VETH, the bytes over n1-p2's veth (plain TCP's path).
k8s_transfer() {
	local dst veth
	dst="$(t_pod_ip n1-p2):7000"
	t_snap n1
	veth=$(t_veth_bytes n1-p2)
	t_tt_server n1-p2 "$dst" --count 1 --send 8M --expect 8M
	t_tt_client n1-p1 "$dst" --send 8M --expect 8M
	t_tt_server_wait
	K8S_BYPASS=$(t_delta n1 bytes_redirected)
	K8S_VETH=$(($(t_veth_bytes n1-p2) - veth))
}

# Ready pods of n1 that cannot join, each with its reason in the agent's
# warnings: one without a cgroup, one whose cgroup has no process.
k8s_unlocatable_pods() { # POD_JSON
	local uid
	k8s_apply "$(jq -c '.metadata.name = "no-cgroup" | .metadata.uid = "00000000-0000-0000-0000-00000000c0de"
		| .status.podIP = "10.100.1.98" | .status.podIPs = [{ip: "10.100.1.98"}]' <<<"$1")"
	uid=00000000-0000-0000-0000-0000000000aa
	mkdir -p "$(t_node_field n1 cgroup)/kubepods/besteffort/pod$uid/0123abcd"
	k8s_apply "$(jq -c --arg uid $uid '.metadata.name = "no-sandbox" | .metadata.uid = $uid
		| .status.podIP = "10.100.1.99" | .status.podIPs = [{ip: "10.100.1.99"}]' <<<"$1")"
}

test_k8s_cluster_pod_joins_the_mesh_within_1s_of_ready() {
	k8s_need_kubectl
	t_cluster_up 1 2 --kubernetes --cgroup-driver cgroupfs
	k8s_cluster_attach
	local pod rv served joined applied ms log=$T_TMP/agent.n1.log i
	pod=$(k8s_cluster_object Pod n1-p2)
	# Scheduled, its sandbox running, not Ready yet.
	k8s_apply "$(jq -c '(.status.conditions[] | select(.type == "Ready" or .type == "ContainersReady")
		| .status) = "False"' <<<"$pod")"
	k8s_unlocatable_pods "$pod"
	k8s_agent_start n1
	k8s_pod_in_kernel n1 n1-p1 || t_fail "n1-p1 (Ready) is not in n1's kernel maps"
	! k8s_pod_in_kernel n1 n1-p2 || t_fail "n1-p2 is in n1's kernel maps before it is Ready"
	grep -q 'Pod/default/no-cgroup: Ready, but not in the mesh yet (uid [0-9a-f-]*): no cgroup ' "$log" ||
		t_fail "no reason for the pod without a cgroup: $(grep -m1 no-cgroup "$log")"
	grep -q 'Pod/default/no-sandbox: Ready, but not in the mesh yet (uid [0-9a-f-]*): no process in .*/kubepods/besteffort/pod0[0-9a-f-]* or below (no sandbox yet)' "$log" ||
		t_fail "no reason for the pod without a process: $(grep -m1 no-sandbox "$log")"
	# Before Ready: plain TCP, over the veths, not a half-set-up bypass.
	k8s_transfer
	t_log "before Ready: bypass $K8S_BYPASS bytes, n1-p2's veth $((K8S_VETH / 1024)) KiB"
	t_eq "$K8S_BYPASS" 0 "bytes through the bypass to n1-p2 before it is Ready"
	t_ge "$K8S_VETH" $((16 * MiB)) "bytes over n1-p2's veth before it is Ready"
	# Ready: from the MODIFIED event the server writes to n1's pod watch
	# to n1-p2 in the kernel's maps.
	rv=$(k8s_ctl GET state | jq .rv)
	k8s_apply "$pod"
	for ((i = 0; i < 300; i++)); do
		k8s_pod_in_kernel n1 n1-p2 && break
		sleep 0.01
	done
	joined=$(date +%s.%N)
	k8s_pod_in_kernel n1 n1-p2 || t_fail "n1-p2 did not join after it became Ready: $(tail -3 "$log")"
	served=$(k8s_ctl GET served | jq --argjson rv "$rv" '[.[] | select(.rv > $rv and .type == "MODIFIED"
		and .key == "default/n1-p2" and .fieldSelector == "spec.nodeName=n1")][0].t')
	[ "$served" != null ] || t_fail "the server did not serve n1-p2's MODIFIED event to n1's pod watch"
	ms=$(awk -v a="$served" -v b="$joined" 'BEGIN { printf "%d", (b - a) * 1000 }')
	applied=$(date -d "$(grep '"applied config version' "$log" | tail -1 | jq -r .ts)" +%s.%N 2>/dev/null)
	t_log "Ready -> in the kernel's maps: $ms ms (MODIFIED served -> seen in \`shunt workloads\`;" \
		"the agent logged the apply after $(awk -v a="$served" -v b="${applied:-0}" 'BEGIN { printf "%d", (b - a) * 1000 }') ms)"
	t_le "$ms" 999 "ms from the Ready event to n1-p2 in the mesh"
	k8s_transfer
	t_log "after Ready: bypass $((K8S_BYPASS / 1024)) KiB, n1-p2's veth $((K8S_VETH / 1024)) KiB"
	if t_bypass_on n1; then
		# Most of it: a receiver that falls behind sends its peer through
		# TCP for a while, by design (test_bypass.sh); 0 without the mesh.
		t_ge "$K8S_BYPASS" $((16 * MiB * 60 / 100)) "bytes through the bypass once n1-p2 is in the mesh"
		t_le "$K8S_VETH" $((16 * MiB - K8S_BYPASS + MiB)) "bytes over n1-p2's veth once it is in the mesh"
	else
		t_log "the bypass is off on this kernel ($(t_feature n1 bypass why)): the mesh path is checked in the maps only"
	fi
}

# The upstream NetworkPolicy cases (tests/netpol) with the policies as
# NetworkPolicy objects and the pods as Pods: the runner of test_netpol.sh,
# on the kubernetes source.
test_k8s_cluster_netpol_upstream_cases() {
	NETPOL_SOURCE=kubernetes
	# shellcheck source=tests/integration/test_netpol.sh
	source "$REPO/tests/integration/test_netpol.sh"
	netpol_setup
	netpol_run_cases
}
