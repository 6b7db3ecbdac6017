# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
# Processes in cgroups below a workload's cgroup are that workload
# (docs/datapath.md, "Processes and workloads"): the kubelet runs every
# container in a cgroup below its pod's, made when the container starts.
# Here a pod's "containers" are cgroups made below the pod's after the agent
# applied its config (cluster.sh exec --cgroup): c1, and c1/c2 below it.
#
# Cluster: 1 node x 3 pods, the agent with the config below.
#   n1-p1 frontend (default, app=frontend): egress to app=web on 7000-7100 only
#   n1-p2 web      (prod, app=web): ingress from app=frontend only
#   n1-p3 db       (prod, app=db): no policy

cg_config() {
	local cg
	cg=$(jq -r .cgroup_root "$STATE")/$SHUNT_CLUSTER_PREFIX/n1
	cat <<EOF
apiVersion: shunt.dev/v1
namespaces:
  - {name: default}
  - {name: prod}
workloads:
$(cg_workload frontend default 1 "$cg")
$(cg_workload web prod 2 "$cg")
$(cg_workload db prod 3 "$cg")
policies:
  - name: frontend-out
    namespace: default
    podSelector: {matchLabels: {app: frontend}}
    policyTypes: [Egress]
    egress:
      - to: [{namespaceSelector: {}, podSelector: {matchLabels: {app: web}}}]
        ports: [{port: 7000, endPort: 7100}]
  - name: web-in
    namespace: prod
    podSelector: {matchLabels: {app: web}}
    ingress:
      - from: [{namespaceSelector: {}, podSelector: {matchLabels: {app: frontend}}}]
EOF
}

# NAME NAMESPACE POD MESH_CGROUP
cg_workload() {
	cat <<EOF
  - name: $1
    namespace: $2
    labels: {app: $1}
    node: n1
    addresses: [10.100.1.$((10 + $3)), "fd00:100:1::$((10 + $3))"]
    netns: /run/netns/$SHUNT_CLUSTER_PREFIX-n1-p$3
    cgroup: $4/p$3
EOF
}

cg_setup() {
	t_cluster_up 1 3
	cg_config >"$T_TMP/mesh.yaml"
	t_agent_start n1 "$T_TMP/mesh.yaml"
	# Queued flow events of the setup are of no interest.
	t_shunt n1 --json flows >/dev/null
}

# The outcome (ok, eperm, timeout, ...) of one connect from WHERE (a pod,
# "--cgroup DIR POD", "--outside POD" or the node) to ADDR:PORT.
cg_outcome() { # WHERE ADDR:PORT
	# shellcheck disable=SC2086
	t_exec $1 -- "$PROBE" connect "$2" --timeout-ms 600 |
		jq -r 'to_entries | map(select(.key != "servers" and .key != "peer" and (.value|tostring) != "0")) | .[0].key // "none"'
}

# The flow events queued since the last call, one JSON object a line.
cg_flows() { t_shunt n1 --json flows >"$T_TMP/flows"; }
# How many of them match the jq condition COND.
cg_flows_count() { jq -c "select($1)" "$T_TMP/flows" | wc -l; }

# A container of frontend (c1) and one nested in it (c1/c2), both made after
# the agent applied: each bytes to web's container through the bypass.
test_cgroups_container_bytes_go_through_bypass() {
	t_bypass_known_off
	cg_setup
	t_need_bypass
	local dst where
	dst="$(t_pod_ip n1-p2):7000"
	for where in "--cgroup c1 n1-p1" "--cgroup c1/c2 n1-p1"; do
		t_snap n1
		t_tt_server "--cgroup c1/c2 n1-p2" "$dst" --count 1 --send 32M --expect 32M --handshake
		t_tt_client "$where" "$dst" --send 32M --expect 32M --handshake
		t_tt_server_wait
		t_log "$where: bypass $(($(t_delta n1 bytes_redirected) / MiB)) MiB; changed: $(t_delta_changed n1)"
		t_eq "$(t_delta n1 skipped.cgroup_mismatch)" 0 "$where: sockets left out as in the wrong cgroup"
		# (a receiver falling max_backlog behind sends through TCP for a
		# while, as in test_bypass.sh; without this feature it is 0)
		t_ge "$(t_delta n1 bytes_redirected)" $((64 * MiB * 60 / 100)) "$where: bytes through the bypass"
	done
}

# frontend's egress policy holds its containers: db is refused at connect(),
# web (allowed by its labels) is reached, and the flow events name frontend.
test_cgroups_policy_on_the_pod_holds_its_containers() {
	cg_setup
	t_probe_server "--cgroup c1 n1-p2" web --tcp 0.0.0.0:7000 --tcp '[::]:7000'
	t_probe_server n1-p3 db --tcp 0.0.0.0:7000
	t_eq "$(cg_outcome "--cgroup c1 n1-p1" "$(t_pod_ip n1-p3):7000")" eperm "frontend's container -> db"
	t_eq "$(cg_outcome "--cgroup c1/c2 n1-p1" "$(t_pod_ip n1-p3):7000")" eperm "frontend's nested container -> db"
	t_eq "$(cg_outcome "--cgroup c1 n1-p1" "$(t_pod_ip n1-p2):7000")" ok "frontend's container -> web"
	t_eq "$(cg_outcome "--cgroup c1/c2 n1-p1" "[$(t_pod_ip n1-p2 ipv6)]:7000")" ok \
		"frontend's nested container -> web over IPv6"
	cg_flows
	t_eq "$(cg_flows_count '.event == "connect" and .source == "default/frontend" and .destination == "prod/db" and .verdict == "deny"')" 2 \
		"denied connects from frontend's containers, named frontend"
	t_eq "$(cg_flows_count '.event == "connect" and .source == "default/frontend" and .destination == "prod/web" and .verdict == "allow"')" 2 \
		"allowed connects from frontend's containers, named frontend"
	# web's container is web: its ingress rule is what let them in.
	t_eq "$(cg_flows_count '.event == "ingress" and .source == "default/frontend" and .destination == "prod/web" and .verdict == "allow" and (.rule | startswith("prod/web-in"))')" 2 \
		"connections into web's container allowed by web-in"
}

# A server in web's container is held to web's ingress policy, also against
# senders no connect hook sees (the node itself).
test_cgroups_ingress_policy_holds_a_server_in_a_container() {
	cg_setup
	t_probe_server "--cgroup c1/c2 n1-p2" web --tcp 0.0.0.0:7000
	t_probe_server n1-p3 db --tcp 0.0.0.0:7000
	t_eq "$(cg_outcome n1 "$(t_pod_ip n1-p2):7000")" timeout "the node -> web's container"
	t_eq "$(cg_outcome n1 "$(t_pod_ip n1-p3):7000")" ok "the node -> db (no policy)"
	cg_flows
	t_ge "$(cg_flows_count '.event == "ingress" and .destination == "prod/web" and .verdict == "deny"')" 1 \
		"denied ingress flow events naming web"
}

# A container's cgroup made after the agent applied is covered at its first
# connect, and so is the one a restart makes in its place (a new cgroup id).
test_cgroups_new_and_restarted_containers_are_covered() {
	cg_setup
	t_probe_server n1-p3 db --tcp 0.0.0.0:7000
	local cg round id last=""
	cg=$(t_pod_field n1-p1 cgroup)
	for round in 1 2 3; do
		[ ! -d "$cg/app" ] || rmdir "$cg/app" || t_fail "cannot remove $cg/app"
		t_eq "$(cg_outcome "--cgroup app n1-p1" "$(t_pod_ip n1-p3):7000")" eperm \
			"round $round: frontend's just-made container -> db"
		id=$(stat -c %i "$cg/app")
		t_log "round $round: container cgroup id $id, refused at its first connect"
		[ "$id" != "$last" ] || t_fail "round $round: the cgroup kept its id $id"
		last=$id
	done
}

# Cgroups outside every workload's stay outside: one under the mesh cgroup
# (beside the pods') and one outside the mesh, both in frontend's netns
# with its address: frontend's policy does not apply to them (they are not
# frontend), and their sockets never take the bypass.
test_cgroups_outside_every_workload_is_not_a_workload() {
	cg_setup
	local stranger dst
	stranger="$(t_node_field n1 cgroup)/stranger"
	t_probe_server n1-p3 db --tcp 0.0.0.0:7000
	t_eq "$(cg_outcome "--cgroup $stranger n1-p1" "$(t_pod_ip n1-p3):7000")" ok \
		"a cgroup beside the pods' -> db"
	t_eq "$(cg_outcome "--outside n1-p1" "$(t_pod_ip n1-p3):7000")" ok "a cgroup outside the mesh -> db"
	cg_flows
	t_eq "$(cg_flows_count '.event == "connect" and .source == "default/frontend"')" 0 \
		"connect events naming frontend"
	t_bypass_on n1 || return 0
	dst="$(t_pod_ip n1-p2):7001"
	t_snap n1
	t_tt_server n1-p2 "$dst" --count 1 --send 4M --expect 4M --handshake
	t_tt_client "--cgroup $stranger n1-p1" "$dst" --send 4M --expect 4M --handshake
	t_tt_server_wait
	t_eq "$(t_delta n1 bytes_redirected)" 0 "bytes through the bypass from a cgroup beside the pods'"
	t_ge "$(t_delta n1 skipped.cgroup_mismatch)" 1 "sockets left out as in the wrong cgroup"
}

# With the ancestor helpers off (a kernel without them, here by name), only
# the pod's own cgroup is the pod, and status says why.
test_cgroups_without_ancestor_helpers_only_the_pods_cgroup_counts() {
	export SHUNT_FEATURES_OFF=cgroup_ancestors
	cg_setup
	t_probe_server n1-p3 db --tcp 0.0.0.0:7000
	t_eq "$(t_feature n1 cgroup_ancestors)" off "cgroup_ancestors"
	local status
	status=$(t_shunt n1 status)
	grep -q 'cgroup_ancestors .*forced off' <<<"$status" ||
		t_fail "status does not say why: $(grep cgroup_ancestors <<<"$status")"
	t_eq "$(cg_outcome n1-p1 "$(t_pod_ip n1-p3):7000")" eperm "frontend -> db"
	t_eq "$(cg_outcome "--cgroup c1 n1-p1" "$(t_pod_ip n1-p3):7000")" ok "frontend's container -> db"
}

# The kubelet's layout (cluster.sh up --kubernetes, systemd driver), the
# agent on the API server: processes in a container cgroup below each pod's
# (cri-containerd-<id>.scope, where containerd puts them) take the bypass.
# This is the transfer of docs/kubernetes.md that moved no byte before.
test_cgroups_kubelet_containers_take_the_bypass() {
	# shellcheck source=tests/k8s/k8slib.sh
	source "$REPO/tests/k8s/k8slib.sh"
	k8s_need_kubectl
	t_bypass_known_off
	t_cluster_up 1 2 --kubernetes
	k8s_cluster_attach
	k8s_agent_start n1
	t_need_bypass
	local dst app=cri-containerd-0a1b2c3d.scope
	dst="$(t_pod_ip n1-p2):7000"
	t_snap n1
	t_tt_server "--cgroup $app n1-p2" "$dst" --count 1 --send 32M --expect 32M --handshake
	t_tt_client "--cgroup $app n1-p1" "$dst" --send 32M --expect 32M --handshake
	t_tt_server_wait
	t_log "$(t_pod_field n1-p1 cgroup)/$app: bypass $(($(t_delta n1 bytes_redirected) / MiB)) MiB; changed: $(t_delta_changed n1)"
	t_eq "$(t_delta n1 skipped.cgroup_mismatch)" 0 "sockets left out as in the wrong cgroup"
	t_ge "$(t_delta n1 bytes_redirected)" $((64 * MiB * 60 / 100)) "bytes through the bypass"
}
