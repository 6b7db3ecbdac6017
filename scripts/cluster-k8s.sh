# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
#
# The --kubernetes mode of scripts/cluster.sh (sourced by it): the cluster's
# namespace, pods and service served by the test API server
# (tests/k8s/apiserver.py) as a kubelet and the controllers would show them,
# so that each node's agent runs `shunt agent --kubernetes` (docs/kubernetes.md
# "The local cluster through the API server").
#
#   - Pod cgroups in the kubelet's layout under the node's cgroup (the mesh
#     cgroup is the node's cgroup root), named after the pod's UID:
#       systemd:  nK/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid_>.slice
#       cgroupfs: nK/kubepods/besteffort/pod<uid>
#     with a sandbox (a "pause" process in the pod's netns) in a container
#     cgroup below it (cri-containerd-<id>.scope, or <id>), as containerd
#     makes it: what the agent's discovery looks for.
#   - The objects come from the real kubectl (`kubectl create namespace`,
#     `kubectl run`, `kubectl create service clusterip`, --dry-run=client -o
#     json); what the kubelet and the scheduler add (spec.nodeName,
#     status.podIP(s), the Ready conditions, qosClass) is set on them; the
#     test API server plays the EndpointSlice controller.
#   - $STATE_DIR/k8s: the CA and server certificate, kubeconfig (a bearer
#     token), the server's log, pid and state, objects.json (what was
#     published, for tests that change it).
# Needs CG, PREFIX, STATE_DIR, REPO, die, nsx, node_ns, pod_ns, pod_v4, pod_v6.

K8S_CLUSTER_DIR=$STATE_DIR/k8s

# A pod's UID: stable for PREFIX/nK-pJ, so that `exec` finds its cgroup.
k8s_pod_uid() { # K J
	local h
	h=$(printf '%s' "$PREFIX/n$1-p$2" | md5sum)
	echo "${h:0:8}-${h:8:4}-${h:12:4}-${h:16:4}-${h:20:12}"
}

# The pod's cgroup, as the kubelet names it for DRIVER (BestEffort pods).
k8s_pod_cgroup() { # CG K J DRIVER
	local uid
	uid=$(k8s_pod_uid "$2" "$3")
	if [ "$4" = systemd ]; then
		echo "$1/$PREFIX/n$2/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${uid//-/_}.slice"
	else
		echo "$1/$PREFIX/n$2/kubepods/besteffort/pod$uid"
	fi
}

# The existing cgroup of pod K/J, whichever driver made it.
k8s_find_pod_cgroup() { # CG K J
	local d
	for d in "$(k8s_pod_cgroup "$1" "$2" "$3" systemd)" "$(k8s_pod_cgroup "$1" "$2" "$3" cgroupfs)"; do
		[ -d "$d" ] && echo "$d" && return 0
	done
	return 1
}

# The pod's cgroup and its sandbox: a pause process in the pod's netns, in a
# container cgroup below the pod's. `cluster.sh down` ends it (by cgroup).
k8s_pod_sandbox() { # CG K J DRIVER
	local podcg id scope
	podcg=$(k8s_pod_cgroup "$1" "$2" "$3" "$4")
	id=$(printf '%s' "sandbox $PREFIX/n$2-p$3" | sha256sum | cut -c1-64)
	scope=$id
	[ "$4" = systemd ] && scope=cri-containerd-$id.scope
	mkdir -p "$podcg/$scope"
	setsid bash -c 'echo $$ >"$1/cgroup.procs" && exec nsenter --net="/run/netns/$2" sleep infinity' \
		_ "$podcg/$scope" "$(pod_ns "$2" "$3")" </dev/null >/dev/null 2>&1 &
}

k8s_kubectl() { kubectl --kubeconfig "$K8S_CLUSTER_DIR/kubeconfig" "$@"; }

# The CA, the server's certificate for 127.0.0.1, a token, the kubeconfig.
k8s_credentials() {
	local port=$1
	mkdir -p "$K8S_CLUSTER_DIR"
	(
		cd "$K8S_CLUSTER_DIR" || exit 1
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
			-subj /CN=shunt-cluster-ca -keyout ca.key -out ca.crt &&
			openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=apiserver \
				-keyout server.key -out server.csr &&
			printf 'subjectAltName=IP:127.0.0.1\n' >san.ext &&
			openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
				-extfile san.ext -out server.crt
	) >/dev/null 2>&1 || die "up --kubernetes: cannot make the API server's certificates"
	head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$K8S_CLUSTER_DIR/token"
	cat >"$K8S_CLUSTER_DIR/kubeconfig" <<EOF
apiVersion: v1
kind: Config
current-context: $PREFIX
clusters:
- name: $PREFIX
  cluster:
    server: https://127.0.0.1:$port
    certificate-authority: ca.crt
contexts:
- name: $PREFIX
  context: {cluster: $PREFIX, user: shunt-agent}
users:
- name: shunt-agent
  user:
    token: $(cat "$K8S_CLUSTER_DIR/token")
EOF
}

k8s_control() { # METHOD PATH [JSON]
	curl -sf --cacert "$K8S_CLUSTER_DIR/ca.crt" -X "$1" \
		"$(awk '/server:/ { print $2 }' "$K8S_CLUSTER_DIR/kubeconfig")/control/$2" \
		${3:+-H 'Content-Type: application/json' --data-binary "@$3"}
}

k8s_server_start() {
	local port _
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	k8s_credentials "$port"
	setsid python3 "$REPO/tests/k8s/apiserver.py" --port "$port" --token "$(cat "$K8S_CLUSTER_DIR/token")" \
		--cert "$K8S_CLUSTER_DIR/server.crt" --key "$K8S_CLUSTER_DIR/server.key" \
		--state "$K8S_CLUSTER_DIR/state.json" </dev/null >>"$K8S_CLUSTER_DIR/server.log" 2>&1 &
	echo $! >"$K8S_CLUSTER_DIR/apiserver.pid"
	for _ in $(seq 50); do
		k8s_control GET state >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	die "up --kubernetes: the test API server did not start: $(tail -3 "$K8S_CLUSTER_DIR/server.log")"
}

# Pod nK-pJ as the API shows it once scheduled, started and Ready.
k8s_pod_object() { # K J APP
	k8s_kubectl run "n$1-p$2" --image=registry.k8s.io/e2e-test-images/agnhost:2.52 \
		--labels="app=$3,node=n$1" --port=8080 --dry-run=client -o json |
		jq -c --arg uid "$(k8s_pod_uid "$1" "$2")" --arg node "n$1" --arg sa "$3" \
			--arg v4 "$(pod_v4 "$1" "$2")" --arg v6 "$(pod_v6 "$1" "$2")" --arg host "10.99.0.$1" '
			.metadata.uid = $uid | .metadata.namespace = "default"
			| .spec.nodeName = $node | .spec.serviceAccountName = $sa | .spec.serviceAccount = $sa
			| .spec.containers[0].ports[0].name = "http"
			| .status = {phase: "Running", qosClass: "BestEffort", hostIP: $host,
				podIP: $v4, podIPs: [{ip: $v4}, {ip: $v6}],
				conditions: ([ "PodReadyToStartContainers", "Initialized", "ContainersReady",
					"PodScheduled", "Ready"] | map({type: ., status: "True"}))}' ||
		die "up --kubernetes: kubectl run n$1-p$2"
}

# Node nK as the kubelet registers it: its InternalIP is its address on the
# underlay (where the other nodes reach it), which the settings' nodeProxy
# makes its proxy's address (docs/kubernetes.md "Cross-node mTLS").
k8s_node_object() { # K
	printf 'apiVersion: v1\nkind: Node\nmetadata: {name: n%s, labels: {kubernetes.io/hostname: n%s}}\n' "$1" "$1" |
		k8s_kubectl create -f - --dry-run=client --validate=false -o json |
		jq -c --arg n "n$1" --arg ip "10.99.0.$1" --arg ip6 "fd00:99::$1" '.status = {addresses: [{type: "InternalIP", address: $ip}, {type: "InternalIP", address: $ip6},
			{type: "Hostname", address: $n}], conditions: [{type: "Ready", status: "True"}]}' ||
		die "up --kubernetes: kubectl create node n$1"
}

# The service "echo" of mesh.yaml: 80 -> 8080 TCP and 53 -> 5353 UDP, dual stack.
k8s_service_object() {
	k8s_kubectl create service clusterip echo --tcp=80:8080 --dry-run=client -o json |
		jq -c '.metadata.namespace = "default"
			| .spec.clusterIP = "10.96.0.10" | .spec.clusterIPs = ["10.96.0.10", "fd00:96::10"]
			| .spec.ipFamilies = ["IPv4", "IPv6"] | .spec.ipFamilyPolicy = "RequireDualStack"
			| .spec.selector = {app: "echo"}
			| .spec.ports = [.spec.ports[0] + {name: "http"},
				{name: "dns", port: 53, targetPort: 5353, protocol: "UDP"}]' ||
		die "up --kubernetes: kubectl create service"
}

# Starts the server and publishes the cluster: namespace, nodes, pods, service.
k8s_cluster_up() { # NODES PODS
	local k j app
	command -v kubectl >/dev/null ||
		die "up --kubernetes needs kubectl (the objects are made by the real kubectl)"
	k8s_server_start
	{
		k8s_kubectl create namespace default --dry-run=client -o json |
			jq -c --arg p "$PREFIX" '.metadata.labels = {cluster: $p}' ||
			die "up --kubernetes: kubectl create namespace"
		for ((k = 1; k <= $1; k++)); do
			k8s_node_object $k
			for ((j = 1; j <= $2; j++)); do
				app="echo"
				[ "$j" = 1 ] && app=client
				k8s_pod_object $k $j $app
			done
		done
		k8s_service_object
	} | jq -s '{kind: "List", apiVersion: "v1", items: .}' >"$K8S_CLUSTER_DIR/objects.json"
	k8s_control POST objects "$K8S_CLUSTER_DIR/objects.json" >/dev/null ||
		die "up --kubernetes: the test API server refused the objects"
}

# The server stopped (by its pid) and its files removed.
k8s_cluster_down() {
	local pid
	pid=$(cat "$K8S_CLUSTER_DIR/apiserver.pid" 2>/dev/null) || true
	if [ -n "$pid" ] && grep -q apiserver.py "/proc/$pid/cmdline" 2>/dev/null; then
		kill "$pid" 2>/dev/null || true
	fi
	rm -rf "$K8S_CLUSTER_DIR"
}

# The "kubernetes" member of cluster.json.
k8s_state_json() { # DRIVER
	printf '  "kubernetes": {"kubeconfig": "%s", "server": "%s", "cgroup_driver": "%s", "objects": "%s"},\n' \
		"$K8S_CLUSTER_DIR/kubeconfig" "$(awk '/server:/ { print $2 }' "$K8S_CLUSTER_DIR/kubeconfig")" \
		"$1" "$K8S_CLUSTER_DIR/objects.json"
}
