# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
# The local cluster served by the test API server (`cluster.sh up
# --kubernetes`): each node's agent runs `shunt agent --kubernetes` against
# it, end to end, and finds its pods as the kubelet lays them out (cgroups
# named after the pods' UIDs, the netns of a sandbox process in them).
# docs/kubernetes.md "The local cluster through the API server".

# shellcheck source=tests/k8s/k8slib.sh
source "${REPO:-.}/tests/k8s/k8slib.sh"
# shellcheck source=tests/lib/proxylib.sh
source "${REPO:-.}/tests/lib/proxylib.sh"

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
# on the kubernetes source, the cross-node pairs through the node proxies.
test_k8s_cluster_netpol_upstream_cases() {
	NETPOL_SOURCE=kubernetes
	# shellcheck source=tests/integration/test_netpol.sh
	source "$REPO/tests/integration/test_netpol.sh"
	netpol_setup
	netpol_run_cases
	# the cross-node pairs went through the node proxies of the Node objects
	t_ge "$(proxy_metric n1 'shunt_proxy_tunnels_total{side="outbound"}')" 1 "mTLS tunnels from n1"
	t_ge "$(proxy_metric n2 'shunt_proxy_tunnels_total{side="outbound"}')" 1 "mTLS tunnels from n2"
}

# NODE's applied nodes: [name, outbound, outbound6, inbound, sourceAddress].
k8s_model_nodes() {
	k8s_applied_model "$1" |
		jq -c '[.nodes[] | [.name, .proxy.outbound, .proxy.outbound6, .proxy.inbound, .proxy.sourceAddress]]'
}

# True once NODE's applied model has N nodes.
k8s_model_has_nodes() { [ "$(k8s_model_nodes "$1" | jq length)" = "$2" ]; }

# A marker served by n2-p2 and fetched by n1-p1, while the underlay port of
# n1 is captured into $T_TMP/CAP.pcap; OUTSIDE: both ends outside the mesh.
k8s_marker_exchange() { # CAP PORT [--outside]
	local dump outside=()
	[ -z "${3:-}" ] || outside=("$3")
	ip netns exec "$SHUNT_CLUSTER_PREFIX-net" tcpdump -i n1 --immediate-mode -U -s 0 -w "$T_TMP/$1.pcap" \
		tcp >"$T_TMP/tcpdump.$1.log" 2>&1 &
	dump=$!
	t_wait_for 5 grep -q listening "$T_TMP/tcpdump.$1.log" || t_fail "tcpdump did not start"
	t_exec "${outside[@]}" n2-p2 -- "$PROBE" serve --name "$K8S_MARKER" --tcp "0.0.0.0:$2" >/dev/null 2>&1 &
	T_PIDS+=($!)
	sleep 0.3
	t_eq "$(t_probe_outcome "${outside[@]}" n1-p1 "$(t_pod_ip n2-p2):$2" --timeout-ms 2000)" ok "the exchange ($1)"
	sleep 0.3
	kill "$dump"
	wait "$dump" 2>/dev/null
}

# The settings' nodeProxy: each Node object's InternalIPs are its proxy's
# addresses, and a connection across nodes goes through both proxies over
# mutual TLS, nothing of it in the clear on the underlay. Before it is set,
# the proxies wait idle (as the DaemonSet's do); set while they run, they
# start. A Node deleted leaves the other agents' models; one without an
# InternalIP gets no proxy.
test_k8s_cluster_node_proxies_come_from_node_objects() {
	k8s_need_kubectl
	t_cluster_up 2 2 --kubernetes
	k8s_cluster_attach
	trap proxy_logs_on_failure EXIT
	"$SHUNT" ca init --dir "$T_TMP/ca" --trust-domain cluster.local >/dev/null || t_fail "ca init"
	printf 'apiVersion: shunt.dev/v1\n' >"$T_TMP/settings.yaml"
	k8s_agent_start n1 --k8s-option mesh-settings="$T_TMP/settings.yaml"
	k8s_agent_start n2 --k8s-option mesh-settings="$T_TMP/settings.yaml"
	t_eq "$(k8s_model_nodes n1)" "[]" "nodes without nodeProxy"
	local n
	for n in n1 n2; do
		: >"$T_TMP/proxy.$n.log"
		"$CLUSTER" exec "$n-proxy" -- "$SHUNT" --pin-dir "$(t_node_field "$n" pin_dir)" proxy --node "$n" \
			--ca "$T_TMP/ca" --threads 2 --drain-timeout 0 >>"$T_TMP/proxy.$n.log" 2>&1 &
		printf -v "PROXY_PID_$n" '%s' $!
		T_PIDS+=($!)
	done
	t_wait_for 10 grep -q "waiting: the model gives node n2 no proxy" "$T_TMP/proxy.n2.log" ||
		t_fail "n2's proxy does not say it waits: $(tail -2 "$T_TMP/proxy.n2.log")"
	kill -0 "$PROXY_PID_n2" || t_fail "n2's proxy ended without a proxy role"
	printf 'apiVersion: shunt.dev/v1\nnodeProxy: {}\n' >"$T_TMP/settings.yaml.new"
	mv "$T_TMP/settings.yaml.new" "$T_TMP/settings.yaml"
	for n in n1 n2; do
		t_wait_for 15 proxy_log_more "$n" '.event == "started"' 0 ||
			t_fail "$n's proxy did not start once nodeProxy was set: $(tail -2 "$T_TMP/proxy.$n.log")"
	done
	local want='[["n1","10.99.0.1:15001","[fd00:99::1]:15001","10.99.0.1:15008","node"],'
	want+='["n2","10.99.0.2:15001","[fd00:99::2]:15001","10.99.0.2:15008","node"]]'
	t_eq "$(k8s_model_nodes n1)" "$want" "n1's node proxies, from the Node objects"
	t_eq "$(k8s_model_nodes n2)" "$want" "n2's"
	K8S_MARKER=SHUNT-K8S-MARKER-2718
	k8s_marker_exchange mesh 8080
	k8s_marker_exchange plain 9191 --outside
	grep -qa "$K8S_MARKER" "$T_TMP/plain.pcap" || t_fail "the plain capture does not show the marker (capture broken?)"
	grep -qa "$K8S_MARKER" "$T_TMP/mesh.pcap" && t_fail "the marker crossed the underlay in the clear through the mesh"
	t_ge "$(tcpdump -nr "$T_TMP/mesh.pcap" 'tcp dst port 15008 and dst host 10.99.0.2' 2>/dev/null | wc -l)" 1 \
		"packets of the tunnel to n2's inbound port in the mesh capture"
	t_ge "$(proxy_metric n1 'shunt_proxy_tunnels_total{side="outbound"}')" 1 "mTLS tunnels n1's proxy opened"
	t_wait_for 5 proxy_stream_closed n2 "default/n1-p1" "$(t_pod_ip n2-p2):8080" ||
		t_fail "n2's proxy carried no stream from n1-p1: $(tail -2 "$T_TMP/proxy.n2.log")"
	# A Node's heartbeat (its status conditions) makes no new model on any
	# node; a change of its addresses does (below).
	local applied
	applied=$(grep -c '"applied config version' "$T_TMP/agent.n1.log")
	k8s_apply "$(k8s_cluster_object Node n2 | jq -c '.status.conditions[0].lastHeartbeatTime = "2026-12-05T10:00:00Z"')"
	sleep 1.5
	t_eq "$(grep -c '"applied config version' "$T_TMP/agent.n1.log")" "$applied" "n1's applies after n2's heartbeat"
	# n2 leaves; a node registering (no address yet) gets no proxy
	k8s_delete Node "" n2
	k8s_apply "$(k8s_cluster_object Node n2 | jq -c '.metadata.name = "n3" | .status.addresses = []')"
	t_wait_for 5 k8s_model_has_nodes n1 1 ||
		t_fail "n2 is still in n1's model: $(k8s_model_nodes n1)"
	t_eq "$(k8s_model_nodes n1 | jq -r '.[0][0]')" n1 "the node left"
	grep -q 'Node/n3: no IPv4 InternalIP' "$T_TMP/agent.n1.log" ||
		t_fail "no warning for the node without an address: $(grep -i node/n3 "$T_TMP/agent.n1.log")"
	true
}
