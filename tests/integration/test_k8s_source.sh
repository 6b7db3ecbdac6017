# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
# The Kubernetes config source against the test API server
# (tests/k8s/apiserver.py), with objects the real kubectl generates: what
# the source reads becomes the model `shunt agent --kubernetes
# --print-model` prints (one JSON line per model). No local cluster: the
# datapath is not involved, only the API conventions (docs/kubernetes.md).

# shellcheck source=tests/k8s/k8slib.sh
source "${REPO:-.}/tests/k8s/k8slib.sh"

WORKLOADS='[.workloads[] | "\(.namespace)/\(.name)"] | sort | join(",")'

# x (a on this node n1, b on n2), y (c on n2); service x/web -> pod=a.
k8s_world() {
	k8s_setup
	k8s_server_start
	k8s_namespace x team=red
	k8s_namespace y
	K8S_POD_A=$(k8s_pod x a n1 10.0.1.1 pod=a,app=web sa-a)
	k8s_pod_cgroup "$K8S_POD_A"
	K8S_CG_A=$K8S_CGROUP
	k8s_apply "$K8S_POD_A"
	k8s_apply "$(k8s_pod x b n2 10.0.2.1 pod=b)"
	k8s_apply "$(k8s_pod y c n2 10.0.2.2 pod=c)"
	k8s_apply "$(k8s_service x web 10.96.0.10 80:80 app=web)"
}

test_k8s_initial_list_builds_the_model() {
	k8s_world
	# Not Ready yet on this node: not in the mesh (its traffic stays plain TCP).
	k8s_apply "$(k8s_pod x d n1 10.0.1.2 pod=d | jq -c '.status.conditions[0].status = "False"')"
	k8s_manifest <<'EOF' >"$K8S_DIR/np.json" || t_fail "kubectl could not make the NetworkPolicy"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-red, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: red}}, podSelector: {matchLabels: {pod: b}}}]
    ports: [{port: http}, {protocol: UDP, port: 5000, endPort: 5010}]
  egress:
  - to: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.0.2.0/24]}}]
EOF
	k8s_apply "$(cat "$K8S_DIR/np.json")"
	k8s_follow
	k8s_wait_model '.workloads | length == 3' "the first model"
	local m
	m=$(k8s_model)
	t_eq "$(jq -r "$WORKLOADS" <<<"$m")" "x/a,x/b,y/c" "workloads (x/d is not Ready)"
	t_eq "$(jq -r '.workloads[] | select(.name == "a") | "\(.serviceAccount) \(.node) \(.cgroup) \(.netns)"' <<<"$m")" \
		"sa-a n1 $K8S_CG_A /proc/$(cat "$K8S_CG_A"/*/cgroup.procs)/ns/net" \
		"the local pod's identity, node, cgroup (by uid) and netns (a process in it)"
	t_eq "$(jq -r '.workloads[] | select(.name == "b") | "\(.node) \(.cgroup)"' <<<"$m")" "n2 null" "a remote pod"
	t_eq "$(jq -c '.namespaces[] | select(.name == "x") | .labels' <<<"$m")" \
		'{"kubernetes.io/metadata.name":"x","team":"red"}' "namespace labels"
	t_eq "$(jq -c '.services[0] | [.namespace, .name, .vips[0], .ports[0].port, .backends[0].workload]' <<<"$m")" \
		'["x","web","10.96.0.10",80,"a"]' "service x/web from the Service and its EndpointSlice"
	t_eq "$(jq -c '.policies[0] | [.isolates.ingress, .isolates.egress,
		(.ingress[0].peers[0] | .podSelector.matchLabels.pod, .namespaceSelector.matchLabels.team),
		(.ingress[0].ports | map("\(.protocol):\(.port)-\(.endPort):\(.name)")),
		.egress[0].peers[0].cidr, .egress[0].peers[0].except[0]]' <<<"$m")" \
		'[true,true,"b","red",["TCP:0-0:http","UDP:5000-5010:null"],"10.0.0.0/8","10.0.2.0/24"]' \
		"the NetworkPolicy (one peer with both selectors, named port, endPort, ipBlock except)"
	t_eq "$(k8s_ctl GET requests | jq -r '[.[] | select(.resource == "pods" and (.watch | not)) | .query.fieldSelector] | sort | join(" ")')" \
		"spec.nodeName!=n1 spec.nodeName=n1" "pods are listed by spec.nodeName"
	t_eq "$(k8s_ctl GET requests | jq -r '[.[] | select(.watch) | .query.allowWatchBookmarks] | unique | join(",")')" \
		true "watches ask for bookmarks"
	# The same snapshot compiles for node n1 (the agent's plan, cgroup ids).
	"$SHUNT" agent --kubernetes --kubeconfig "$K8S_DIR/kubeconfig" --node n1 \
		--k8s-option cgroup-root="$K8S_DIR/cgroup" --check >"$K8S_DIR/check.out" 2>&1 ||
		t_fail "agent --check: $(tail -3 "$K8S_DIR/check.out")"
	grep -q 'valid: 3 workloads, 1 services' "$K8S_DIR/check.out" ||
		t_fail "agent --check: $(tail -1 "$K8S_DIR/check.out")"
}

test_k8s_watch_events_are_applied() {
	k8s_world
	k8s_follow
	k8s_wait_model '.workloads | length == 3' "the first model"
	local lists
	lists=$(k8s_requests pods list)
	k8s_apply "$(k8s_pod y e n2 10.0.2.3 pod=e)"
	k8s_wait_model "$WORKLOADS == \"x/a,x/b,y/c,y/e\"" "ADDED: pod y/e"
	k8s_apply "$(k8s_ctl GET state >/dev/null; k8s_pod y e n2 10.0.2.3 pod=e,tier=db)"
	k8s_wait_model '.workloads[] | select(.name == "e") | .labels.tier == "db"' "MODIFIED: y/e's labels"
	k8s_delete Pod x b
	k8s_wait_model "$WORKLOADS == \"x/a,y/c,y/e\"" "DELETED: pod x/b"
	k8s_delete Service x web
	k8s_wait_model '.services | length == 0' "DELETED: service x/web"
	t_eq "$(k8s_requests pods list)" "$lists" "no list after the initial ones (the watches carried it all)"
}

# A pod's telemetry annotations (kubectl run --annotations) reach the
# model the proxies read, follow a change, and a bad value is a warning
# that leaves the mesh's setting.
test_k8s_pod_annotations_set_its_telemetry() {
	k8s_world
	k8s_follow
	k8s_wait_model '.workloads | length == 3' "the first model"
	local pod
	pod=$(k8s_kubectl run e -n y --image=busybox --labels=pod=e --dry-run=client -o json \
		--annotations=shunt.dev/access-log=false --annotations=shunt.dev/trace-sampling=0.5) ||
		t_fail "kubectl run --annotations"
	k8s_apply "$(jq -c '.metadata.uid = "u-e" | .spec.nodeName = "n2"
		| .status = {phase: "Running", podIP: "10.0.2.3", conditions: [{type: "Ready", status: "True"}]}' <<<"$pod")"
	k8s_wait_model '.workloads[] | select(.name == "e") | .accessLog.enabled == false and .tracing.sampling == 0.5' \
		"y/e's own access log (off) and trace share (0.5)"
	t_eq "$(k8s_model | jq -c '[.workloads[] | select(.name != "e") | .accessLog, .tracing] | unique')" "[null]" \
		"the other pods: the mesh's settings"
	k8s_apply "$(jq -c '.metadata.uid = "u-e" | .spec.nodeName = "n2"
		| .metadata.annotations = {"shunt.dev/trace-sampling": "10%"}
		| .status = {phase: "Running", podIP: "10.0.2.3", conditions: [{type: "Ready", status: "True"}]}' <<<"$pod")"
	k8s_wait_model '.workloads[] | select(.name == "e") | .accessLog == null and .tracing == null' \
		"y/e with a bad annotation: the mesh's settings"
	k8s_model | jq -e '.warnings | any(startswith("Pod/y/e: annotation shunt.dev/trace-sampling is '"'"'10%'"'"'"))' >/dev/null ||
		t_fail "no warning for the bad annotation: $(k8s_model | jq -c .warnings)"
}

# Istio's Telemetry objects: the root namespace's share of new traces for
# every pod, a namespace's access log off for its pods, a selector's for
# the pod it picks over both; a delete follows live.
test_k8s_telemetry_objects_set_workload_telemetry() {
	k8s_world
	k8s_follow
	k8s_wait_model '.workloads | length == 3' "the first model"
	k8s_manifest <<'EOF' >"$K8S_DIR/telemetry.json" || t_fail "kubectl could not make the Telemetry objects"
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  tracing: [{randomSamplingPercentage: 10}]
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: quiet, namespace: x}
spec:
  accessLogging: [{disabled: true}]
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: a-traced, namespace: x}
spec:
  selector: {matchLabels: {pod: a}}
  tracing: [{randomSamplingPercentage: 100}]
EOF
	local t
	while read -r t; do k8s_apply "$t"; done < <(jq -c 'if .kind == "List" then .items[] else . end' "$K8S_DIR/telemetry.json")
	k8s_wait_model '[.workloads[] | [.namespace, .name, .tracing.sampling, .accessLog.enabled]] ==
		[["x","a",1,false],["x","b",0.1,false],["y","c",0.1,null]]' \
		"x/a traced at its selector's 100%, x/b and y/c at the root's 10%, x's access log off"
	k8s_delete Telemetry x quiet
	k8s_wait_model '[.workloads[] | .accessLog] | unique == [null]' "x's access log back to the mesh's"
	t_eq "$(k8s_model | jq -c '.warnings')" "[]" "warnings"
}

# 410 Gone in both forms: an ERROR event in the watch stream, and an HTTP
# 410 to a watch from a compacted resourceVersion. Either way: list again.
# A pod Ready on this node before its cgroup and sandbox are there (the
# kubelet and the runtime race the API) is left out, then looked for again
# on a timer: in the mesh once they appear, with no change in the API.
test_k8s_ready_pod_placed_once_its_cgroup_appears() {
	k8s_world
	local d
	d=$(k8s_pod x d n1 10.0.1.2 pod=d)
	k8s_apply "$d"
	k8s_follow
	k8s_wait_model '.workloads | length == 3' "the first model (x/d not placed yet)"
	sleep 1.5
	t_eq "$(k8s_model | jq -r "$WORKLOADS")" "x/a,x/b,y/c" "workloads before x/d's cgroup exists"
	k8s_ctl POST requests/clear '{}' >/dev/null
	k8s_pod_cgroup "$d"
	k8s_wait_model '.workloads | length == 4' "x/d in the mesh once its cgroup appeared" 5
	t_eq "$(k8s_model | jq -r '.workloads[] | select(.name == "d") | .cgroup')" "$K8S_CGROUP" "x/d's cgroup"
	t_eq "$(k8s_ctl GET requests | jq '[.[] | select(.watch | not)] | length')" 0 \
		"lists made to find it (none: the cache was enough)"
}

test_k8s_relist_after_410_gone() {
	k8s_world
	k8s_follow
	k8s_wait_model '.workloads | length == 3' "the first model"
	local lists
	lists=$(k8s_requests pods list)
	k8s_ctl POST compact '{"kick": true}' >/dev/null
	k8s_apply "$(k8s_pod y e n2 10.0.2.3 pod=e)"
	k8s_wait_model "$WORKLOADS == \"x/a,x/b,y/c,y/e\"" "pod y/e after the ERROR 410 event"
	t_ge "$(k8s_requests pods list)" $((lists + 2)) "both pod informers listed again after ERROR 410"
	grep -q 'is gone (410): listing again' "$K8S_DIR/follow.log" || t_fail "no relist logged"
	lists=$(k8s_requests pods list)
	k8s_ctl POST faults '{"gone_mode": "http"}' >/dev/null
	k8s_ctl POST compact '{}' >/dev/null
	k8s_ctl POST disconnect '{}' >/dev/null
	k8s_apply "$(k8s_pod y f n2 10.0.2.4 pod=f)"
	k8s_wait_model "$WORKLOADS == \"x/a,x/b,y/c,y/e,y/f\"" "pod y/f after HTTP 410"
	t_ge "$(k8s_requests pods list)" $((lists + 2)) "both pod informers listed again after HTTP 410"
}

test_k8s_resumes_after_disconnect_without_relist() {
	k8s_world
	k8s_follow
	k8s_wait_model '.workloads | length == 3' "the first model"
	local lists rv
	lists=$(k8s_ctl GET requests | jq '[.[] | select(.watch | not)] | length')
	k8s_ctl POST disconnect '{}' >/dev/null
	rv=$(k8s_apply "$(k8s_pod y e n2 10.0.2.3 pod=e)"; k8s_ctl GET state | jq .rv)
	k8s_wait_model "$WORKLOADS == \"x/a,x/b,y/c,y/e\"" "pod y/e, made while the watches were cut"
	t_eq "$(k8s_ctl GET requests | jq '[.[] | select(.watch | not)] | length')" "$lists" \
		"no list after the disconnect"
	t_ge "$(k8s_ctl GET requests | jq '[.[] | select(.watch and .resource == "pods")] | length')" 4 \
		"the pod watches were made again"
	t_le "$(k8s_ctl GET requests | jq '[.[] | select(.watch and .resource == "pods") | .query.resourceVersion | tonumber] | max')" \
		"$rv" "watches resume from a resourceVersion seen"
}

# Pages of one item; the later pages of the pod lists die half way (the
# server goes away mid-list). The model is never a list's first pages
# alone: first nothing, then the whole list; on a relist, the old model
# until the new list is whole.
test_k8s_nothing_applied_from_a_partial_list() {
	k8s_world
	k8s_apply "$(k8s_pod y g n2 10.0.2.7 pod=g)"
	k8s_ctl POST faults '{"page_size": 1, "truncate_lists": 2, "truncate_resource": "pods"}' >/dev/null
	k8s_follow
	k8s_wait_model "$WORKLOADS == \"x/a,x/b,y/c,y/g\"" "the first model, after two cut lists"
	k8s_ctl POST faults '{"truncate_lists": 3}' >/dev/null
	k8s_ctl POST compact '{"kick": true}' >/dev/null
	k8s_apply "$(k8s_pod y e n2 10.0.2.3 pod=e)"
	k8s_wait_model "$WORKLOADS == \"x/a,x/b,y/c,y/e,y/g\"" "the model of the relist, after three cut lists" 10
	t_eq "$(k8s_ctl GET faults | jq .truncate_lists)" 0 "every cut list was asked for"
	local seen
	seen=$(jq -r "$WORKLOADS" "$K8S_DIR/models" | sort -u | tr '\n' ' ')
	t_eq "$seen" "x/a,x/b,y/c,y/e,y/g x/a,x/b,y/c,y/g " "every model printed was of whole lists"
	t_ge "$(grep -c 'list /api/v1/pods: ' "$K8S_DIR/follow.log")" 5 "cut lists were seen as failures"
}

test_k8s_previous_state_kept_while_server_gone() {
	k8s_world
	k8s_follow
	k8s_wait_model "$WORKLOADS == \"x/a,x/b,y/c\"" "the first model"
	local before n
	before=$(k8s_model)
	k8s_server_kill
	sleep 1.5
	n=$(k8s_models_count)
	kill -HUP "$K8S_FOLLOW_PID"
	for _ in $(seq 30); do [ "$(k8s_models_count)" -gt "$n" ] && break; sleep 0.1; done
	t_eq "$(k8s_models_count)" $((n + 1)) "a model after SIGHUP with the server gone"
	t_eq "$(k8s_model)" "$before" "the model while the server is gone is the last one known"
	grep -q 'connection lost' "$K8S_DIR/follow.log" || t_fail "the lost connection was not logged"
	# Back, without its history (as after a restart): 410, relist, current.
	k8s_server_start
	k8s_apply "$(k8s_pod y e n2 10.0.2.3 pod=e)"
	k8s_wait_model "$WORKLOADS == \"x/a,x/b,y/c,y/e\"" "the model after the server came back" 10
}

test_k8s_auth_failure_is_reported() {
	k8s_world
	k8s_kubeconfig "$K8S_DIR/bad.kubeconfig" wrong-token
	local out rc start
	start=$(date +%s)
	out=$("$SHUNT" agent --kubernetes --kubeconfig "$K8S_DIR/bad.kubeconfig" --node n1 \
		--print-model --once 2>&1)
	rc=$?
	t_log "$out"
	[ "$rc" != 0 ] || t_fail "a refused token gave exit 0"
	grep -q 'HTTP 401' <<<"$out" || t_fail "the error does not say 401: $out"
	grep -q 'refused the credentials' <<<"$out" || t_fail "the error does not name the credentials: $out"
	grep -q '"workloads"' <<<"$out" && t_fail "a model was printed with a refused token"
	t_le $(($(date +%s) - start)) 5 "seconds to report the refused token"
}

# A kubeconfig user with a client certificate and key as data, no token
# (kind's admin kubeconfig is such): the server takes the certificate its
# client CA signed. A certificate of another CA is refused, as is no
# credential at all (401), each with no model.
test_k8s_client_certificate_kubeconfig() {
	k8s_world
	(
		cd "$K8S_DIR" || exit 1
		for who in client stranger; do
			openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
				-subj "/CN=$who-ca" -keyout "$who-ca.key" -out "$who-ca.crt" &&
				openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
					-subj "/CN=$who/O=system:masters" -keyout "$who.key" -out "$who.csr" &&
				openssl x509 -req -in "$who.csr" -CA "$who-ca.crt" -CAkey "$who-ca.key" \
					-CAcreateserial -days 1 -out "$who.crt" || exit 1
		done
	) >/dev/null 2>&1 || t_fail "cannot make the client certificates"
	k8s_server_kill
	k8s_server_start --client-ca "$K8S_DIR/client-ca.crt"
	cert_kubeconfig() { # PATH WHO: WHO's certificate and key as data
		k8s_kubeconfig "$1" unused
		sed -i '/^    token: /d' "$1"
		printf '    client-certificate-data: %s\n    client-key-data: %s\n' \
			"$(base64 -w0 "$K8S_DIR/$2.crt")" "$(base64 -w0 "$K8S_DIR/$2.key")" >>"$1"
	}
	cert_kubeconfig "$K8S_DIR/cert.kubeconfig" client
	"$SHUNT" agent --kubernetes --kubeconfig "$K8S_DIR/cert.kubeconfig" --node n1 \
		--k8s-option cgroup-root="$K8S_DIR/cgroup" --print-model --once >"$K8S_DIR/models" \
		2>"$K8S_DIR/follow.log" || t_fail "with a client certificate: $(tail -3 "$K8S_DIR/follow.log")"
	t_eq "$(k8s_model | jq -r "$WORKLOADS")" "x/a,x/b,y/c" "the model, by a client certificate"
	local out
	cert_kubeconfig "$K8S_DIR/stranger.kubeconfig" stranger
	out=$("$SHUNT" agent --kubernetes --kubeconfig "$K8S_DIR/stranger.kubeconfig" --node n1 \
		--k8s-option sync-timeout-ms=2000 \
		--print-model --once 2>&1) && t_fail "another CA's certificate gave exit 0: $out"
	grep -q '"workloads"' <<<"$out" && t_fail "a model with another CA's certificate"
	grep -qi 'ssl\|tls' <<<"$out" || t_fail "the refused certificate is not named: $out"
	k8s_kubeconfig "$K8S_DIR/none.kubeconfig" unused
	sed -i '/^    token: /d' "$K8S_DIR/none.kubeconfig"
	out=$("$SHUNT" agent --kubernetes --kubeconfig "$K8S_DIR/none.kubeconfig" --node n1 \
		--print-model --once 2>&1) && t_fail "no credential gave exit 0: $out"
	grep -q 'HTTP 401' <<<"$out" || t_fail "no credential: not a 401: $out"
}

# A kubeconfig whose user runs a credential plugin (exec, as EKS's and GKE's
# kubeconfigs do): its first token is refused (401), which makes the agent
# run it again; its second is taken and the model comes, with no restart.
test_k8s_exec_credential_plugin() {
	k8s_world
	k8s_kubeconfig "$K8S_DIR/exec.kubeconfig" unused
	sed -i '/^    token: /d' "$K8S_DIR/exec.kubeconfig"
	cat >>"$K8S_DIR/exec.kubeconfig" <<'EOF'
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: ./get-token
      args: [--cluster, test]
      env: [{name: TOKEN_FILE, value: token}]
      interactiveMode: Never
EOF
	printf '%s' "$K8S_TOKEN" >"$K8S_DIR/token"
	cat >"$K8S_DIR/get-token" <<'EOF'
#!/bin/sh
# the first run's token is wrong; each run is counted
cd "$(dirname "$0")" && echo run >>runs
tok=wrong; [ "$(wc -l <runs)" -gt 1 ] && tok=$(cat "$TOKEN_FILE")
[ "$2" = test ] || { echo "no --cluster test" >&2; exit 2; }
printf '{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"%s"}}\n' "$tok"
EOF
	chmod +x "$K8S_DIR/get-token"
	"$SHUNT" agent --kubernetes --kubeconfig "$K8S_DIR/exec.kubeconfig" --node n1 \
		--k8s-option cgroup-root="$K8S_DIR/cgroup" --k8s-option backoff-max-ms=400 --print-model --once \
		>"$K8S_DIR/models" 2>"$K8S_DIR/follow.log" || t_fail "with the plugin: $(tail -3 "$K8S_DIR/follow.log")"
	t_eq "$(k8s_model | jq -r "$WORKLOADS")" "x/a,x/b,y/c" "the model, by the plugin's token"
	grep -q 'HTTP 401' "$K8S_DIR/follow.log" || t_fail "the first token was not refused"
	t_ge "$(wc -l <"$K8S_DIR/runs")" 2 "runs of the plugin"
	# A plugin that fails stops the agent at start, with its exit status.
	printf '#!/bin/sh\necho "no credentials configured" >&2\nexit 5\n' >"$K8S_DIR/get-token"
	local out
	out=$("$SHUNT" agent --kubernetes --kubeconfig "$K8S_DIR/exec.kubeconfig" --node n1 \
		--print-model --once 2>&1) && t_fail "a failing plugin gave exit 0: $out"
	grep -q 'get-token exited with 5' <<<"$out" || t_fail "the plugin's failure is not said: $out"
	grep -q 'no credentials configured' <<<"$out" || t_fail "the plugin's own words are lost: $out"
}

# In-cluster: the service account's token and CA, KUBERNETES_SERVICE_*.
test_k8s_in_cluster_service_account() {
	k8s_world
	mkdir -p "$K8S_DIR/sa"
	cp "$K8S_DIR/ca.crt" "$K8S_DIR/sa/ca.crt"
	printf '%s\n' "$K8S_TOKEN" >"$K8S_DIR/sa/token"
	KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$K8S_PORT "$SHUNT" agent --kubernetes \
		--node n1 --k8s-option sa-dir="$K8S_DIR/sa" --k8s-option cgroup-root="$K8S_DIR/cgroup" \
		--print-model --once >"$K8S_DIR/models" 2>"$K8S_DIR/follow.log" ||
		t_fail "in-cluster: $(cat "$K8S_DIR/follow.log")"
	t_eq "$(k8s_model | jq -r "$WORKLOADS")" "x/a,x/b,y/c" "the model in-cluster"
}

test_k8s_slow_api_server_still_syncs() {
	k8s_world
	k8s_ctl POST faults '{"response_delay": 0.4, "list_delay": 0.5}' >/dev/null
	k8s_follow
	k8s_wait_model "$WORKLOADS == \"x/a,x/b,y/c\"" "the model from a slow server" 10
	k8s_apply "$(k8s_pod y e n2 10.0.2.3 pod=e)"
	k8s_wait_model "$WORKLOADS == \"x/a,x/b,y/c,y/e\"" "a change from a slow server" 10
}

# A Namespace's mTLS mode from its annotation shunt.dev/mtls (the object
# from `kubectl annotate --local`): followed as it changes; a bad value
# refuses the snapshot, naming it, and the last model stays.
test_k8s_namespace_mtls_from_its_annotation() {
	k8s_world
	k8s_follow
	k8s_wait_model '.namespaces[] | select(.name == "x") | .mtls == "unset"' "x without the annotation"
	ns_annotated() { # NAME VALUE
		k8s_kubectl create namespace "$1" --dry-run=client -o json |
			k8s_kubectl annotate --local -f - "shunt.dev/mtls=$2" -o json
	}
	k8s_apply "$(ns_annotated x STRICT)"
	k8s_wait_model '.namespaces[] | select(.name == "x") | .mtls == "strict"' "x strict"
	k8s_apply "$(ns_annotated x permissive)"
	k8s_wait_model '.namespaces[] | select(.name == "x") | .mtls == "permissive"' "x permissive"
	local models
	models=$(k8s_models_count)
	k8s_apply "$(ns_annotated x STRIKT)"
	t_wait_for 5 grep -q "Namespace/x.*annotation shunt.dev/mtls is 'STRIKT'" "$K8S_DIR/follow.log" ||
		t_fail "the bad annotation was not named: $(tail -3 "$K8S_DIR/follow.log")"
	k8s_apply "$(k8s_pod y e n2 10.0.2.3 pod=e)" # a change that would make a model
	sleep 1
	t_eq "$(k8s_models_count)" "$models" "no model while the annotation is bad"
	k8s_apply "$(ns_annotated x STRICT)"
	k8s_wait_model '(.namespaces[] | select(.name == "x") | .mtls == "strict") and (.workloads | length == 4)' \
		"fixed: x strict, and the change made meanwhile"
}

# Gateway API HTTPRoute: a canary split of x/web; and without the Gateway
# API (404 on httproutes), the source syncs with no routes.
test_k8s_httproute_and_no_gateway_api() {
	k8s_world
	k8s_apply "$(k8s_service x web-v2 10.96.0.11 80:80 app=web http)"
	k8s_apply "$(k8s_service x web 10.96.0.10 80:80 app=web http)"
	k8s_manifest <<'EOF' >"$K8S_DIR/route.json" || t_fail "kubectl could not make the HTTPRoute"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: canary, namespace: x}
spec:
  parentRefs: [{group: "", kind: Service, name: web, port: 80}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /api}}]
    backendRefs: [{name: web, port: 80, weight: 90}, {name: web-v2, port: 80, weight: 10}]
EOF
	k8s_apply "$(cat "$K8S_DIR/route.json")"
	k8s_follow
	k8s_wait_model '.httpRoutes | length == 1' "the HTTPRoute in the model"
	t_eq "$(k8s_model | jq -c '.httpRoutes[0] | [.name, .namespace, .origin.kind]')" '["canary","x","HTTPRoute"]' \
		"the route and its origin"
	t_eq "$(k8s_model | jq -c '[.httpRoutes[0].rules[0].backendRefs[] | .weight]')" '[90,10]' "the split"
	kill "$K8S_FOLLOW_PID"
	k8s_server_kill
	# nor Istio's CRDs (404 on telemetries)
	k8s_server_start --no-gateway-api --no-istio
	k8s_follow
	k8s_wait_model '(.workloads | length == 3) and (.httpRoutes | length == 0)' "a model without the Gateway API"
	grep -q 'listed 0 HTTPRoute objects at resourceVersion - (not served)' "$K8S_DIR/follow.log" ||
		t_fail "the missing Gateway API was not logged"
	grep -q 'listed 0 Telemetry objects at resourceVersion - (not served)' "$K8S_DIR/follow.log" ||
		t_fail "the missing Telemetry CRD was not logged"
}

# True when the agent's last apply in LOG has RULES (a regex) rules.
k8s_agent_rules() { grep '"applied config version' "$1" | tail -1 | grep -qE " services, $2 rules"; }

# The agent itself on the Kubernetes source, against the kernel: the local
# cluster's node n1 and its pods p1, p2 published as Pods (their cgroups
# linked where the kubelet's systemd driver puts them), a NetworkPolicy
# made and deleted through the API: p1 -> p2 allowed, denied, allowed.
test_k8s_agent_applies_a_networkpolicy_to_the_kernel() {
	t_cluster_up 1 2
	k8s_setup
	k8s_server_start
	k8s_namespace x
	local j pod uid cg ip2 dir log=$T_TMP/agent.n1.log
	ip2=$(t_pod_ip n1-p2)
	t_probe_server n1-p2 p2 --tcp 0.0.0.0:8080
	t_probe_server n1-p1 p1 --tcp 0.0.0.0:8080
	for j in 1 2; do
		pod=$(k8s_pod x "p$j" n1 "$(t_pod_ip "n1-p$j")" "pod=p$j")
		uid=$(jq -r .metadata.uid <<<"$pod")
		cg=$(jq -r .cgroup_root "$STATE")/$SHUNT_CLUSTER_PREFIX/n1/p$j
		dir=$K8S_DIR/cgroup/kubepods.slice/kubepods-besteffort.slice
		mkdir -p "$dir"
		ln -s "$cg" "$dir/kubepods-besteffort-pod${uid//-/_}.slice"
		k8s_apply "$pod"
	done
	"$SHUNT" --pin-dir "$(t_node_field n1 pin_dir)" agent --kubernetes --kubeconfig "$K8S_DIR/kubeconfig" \
		--node n1 --k8s-option cgroup-root="$K8S_DIR/cgroup" --k8s-option backoff-max-ms=400 \
		--cgroup "$(t_node_field n1 cgroup)" --metrics none >>"$log" 2>&1 &
	T_PIDS+=($!)
	t_wait_for 15 t_agent_applied n1 1 || t_fail "the agent did not apply: $(tail -3 "$log")"
	grep -q '"applied config version [0-9]* (start): 2 workloads (2 on node n1)' "$log" ||
		t_fail "the first apply: $(grep -m1 applied "$log")"
	t_eq "$(t_probe_outcome n1-p1 "$ip2:8080" --timeout-ms 500)" ok "p1 -> p2 with no policy"
	k8s_manifest <<'EOF' >"$K8S_DIR/np.json" || t_fail "kubectl could not make the NetworkPolicy"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: only-p3, namespace: x}
spec:
  podSelector: {matchLabels: {pod: p2}}
  ingress: [{from: [{podSelector: {matchLabels: {pod: p3}}}]}]
EOF
	k8s_apply "$(cat "$K8S_DIR/np.json")"
	t_wait_for 10 k8s_agent_rules "$log" '[1-9][0-9]*' || t_fail "the policy was not applied: $(tail -3 "$log")"
	t_eq "$(t_probe_outcome n1-p1 "$ip2:8080" --timeout-ms 500)" eperm "p1 -> p2 with the NetworkPolicy"
	t_eq "$(t_shunt n1 policy check --json --from x/p1 --to x/p2 --port 8080 | jq -r .verdict)" deny \
		"shunt policy check with the NetworkPolicy"
	k8s_delete NetworkPolicy x only-p3
	t_wait_for 10 k8s_agent_rules "$log" 0 || t_fail "the deletion was not applied: $(tail -3 "$log")"
	t_eq "$(t_probe_outcome n1-p1 "$ip2:8080" --timeout-ms 500)" ok "p1 -> p2 after the NetworkPolicy is deleted"
}
