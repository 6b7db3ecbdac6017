# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
# deploy/ (the Kubernetes install, docs/kubernetes.md), checked on this
# machine, which has no Docker engine and no cluster: the manifests as the
# real kubectl reads them (against the test API server, tests/k8s/
# apiserver.py), the agent run exactly as the DaemonSet runs it (its
# command, args, in-cluster credentials and the ConfigMap as a file)
# against a server that enforces the ClusterRole, the image's libraries,
# and the kind workflow's syntax.

# shellcheck source=tests/k8s/k8slib.sh
source "${REPO:-.}/tests/k8s/k8slib.sh"

DEPLOY=${REPO:-.}/deploy
AGENT_TOKEN=shunt-agent-sa-token
DS='.items[] | select(.kind == "DaemonSet" and .metadata.name == "shunt-agent")'
PDS='.items[] | select(.kind == "DaemonSet" and .metadata.name == "shunt-proxy")'
AGENT="containers[] | select(.name == \"agent\")"
AGENT_CTR="$DS | .spec.template.spec.$AGENT"

# deploy/ as `kubectl apply -f deploy/` reads it (client side: the schema is
# the server's, which is not here), one List in $K8S_DIR/deploy.json.
deploy_read() {
	k8s_setup
	k8s_server_start
	k8s_kubectl apply --dry-run=client --validate=false -f "$DEPLOY" -o json >"$K8S_DIR/deploy.json" \
		2>"$K8S_DIR/kubectl.err" || t_fail "kubectl apply -f deploy/: $(cat "$K8S_DIR/kubectl.err")"
}

deploy_q() { jq -r "$@" "$K8S_DIR/deploy.json"; }

# The server again, now enforcing ROLE_JSON (default: deploy/'s ClusterRole)
# for the agent's token.
deploy_enforce() { # [ROLE_JSON]
	if [ -z "${1:-}" ]; then
		deploy_q '.items[] | select(.kind == "ClusterRole" and .metadata.name == "shunt-agent")' \
			>"$K8S_DIR/clusterrole.json"
	fi
	k8s_server_kill
	k8s_server_start --rbac "${1:-$K8S_DIR/clusterrole.json}" --rbac-token "$AGENT_TOKEN"
}

# The ClusterRole's grants, one "group/resource/verb" a line, sorted.
deploy_grants() { # [ROLE_JSON]
	jq -r '.rules[] | .apiGroups[] as $g | .resources[] as $r | .verbs[] as $v | "\($g)/\($r)/\($v)"' \
		"${1:-$K8S_DIR/clusterrole.json}" | sort -u
}

# The agent container as a command line here: its command and args, with
# $(NODE_NAME) = n1 and every ConfigMap volume's files written under
# $K8S_DIR/root (its mount paths in the args moved there), in-cluster
# credentials (the service account's token and CA) from $K8S_DIR/sa; into
# DEPLOY_ARGS (shunt's arguments).
deploy_agent_args() {
	local root=$K8S_DIR/root mounts cmd=() arg m
	mkdir -p "$K8S_DIR/sa" "$root"
	cp "$K8S_DIR/ca.crt" "$K8S_DIR/sa/ca.crt"
	printf '%s\n' "$AGENT_TOKEN" >"$K8S_DIR/sa/token"
	# mountPath per ConfigMap volume: its items, written there.
	mounts=$(deploy_q "$DS | .spec.template.spec as \$s | \$s.$AGENT | .volumeMounts[]
		| . as \$m | \$s.volumes[] | select(.name == \$m.name and .configMap)
		| \$m.mountPath")
	while read -r m; do
		[ -n "$m" ] || continue
		mkdir -p "$root$m"
		deploy_q --arg m "$m" "$DS | .spec.template.spec as \$s | \$s.$AGENT | .volumeMounts[]
			| select(.mountPath == \$m) | . as \$vm | \$s.volumes[] | select(.name == \$vm.name)
			| .configMap.name" | while read -r cm; do
			deploy_q --arg cm "$cm" '.items[] | select(.kind == "ConfigMap" and .metadata.name == $cm) | .data | keys[]' |
				while read -r key; do
					[ -f "$root$m/$key.local" ] && continue # a test's own version
					deploy_q --arg cm "$cm" --arg k "$key" \
						'.items[] | select(.kind == "ConfigMap" and .metadata.name == $cm) | .data[$k]' \
						>"$root$m/$key"
				done
		done
	done <<<"$mounts"
	while IFS= read -r arg; do
		arg=${arg//\$(NODE_NAME)/n1}
		while read -r m; do [ -n "$m" ] && arg=${arg//$m\//$root$m/}; done <<<"$mounts"
		cmd+=("$arg")
	done < <(deploy_q "$AGENT_CTR | (.command + .args)[]")
	[ "${cmd[0]##*/}" = shunt ] || t_fail "the agent container does not run shunt: ${cmd[*]}"
	DEPLOY_ARGS=("${cmd[@]:1}" --k8s-option sa-dir="$K8S_DIR/sa" --k8s-option cgroup-root="$K8S_DIR/cgroup"
		--k8s-option sync-timeout-ms=3000 --print-model)
}

# The agent as the DaemonSet runs it, then ARGS; the models it prints in
# $K8S_DIR/models, its log in $K8S_DIR/follow.log. With --follow (first):
# in the background, its pid in T_PIDS.
deploy_agent() { # [--follow] [ARGS...]
	local follow=0
	[ "${1:-}" = --follow ] && follow=1 && shift
	deploy_agent_args
	if [ $follow = 1 ]; then
		KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$K8S_PORT "$SHUNT" "${DEPLOY_ARGS[@]}" "$@" \
			>"$K8S_DIR/models" 2>"$K8S_DIR/follow.log" &
		T_PIDS+=("$!")
		return 0
	fi
	KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$K8S_PORT "$SHUNT" "${DEPLOY_ARGS[@]}" "$@" \
		>"$K8S_DIR/models" 2>"$K8S_DIR/follow.log"
}

# Objects of every kind the agent reads: x (a on n1, b on n2), y (c on
# n2), service x/web, a NetworkPolicy and an HTTPRoute.
deploy_world() {
	k8s_namespace x team=red
	k8s_namespace y
	K8S_POD_A=$(k8s_pod x a n1 10.0.1.1 pod=a,app=web sa-a)
	k8s_pod_cgroup "$K8S_POD_A"
	k8s_apply "$K8S_POD_A"
	k8s_apply "$(k8s_pod x b n2 10.0.2.1 pod=b)"
	k8s_apply "$(k8s_pod y c n2 10.0.2.2 pod=c)"
	k8s_apply "$(k8s_service x web 10.96.0.10 80:80 app=web http)"
	k8s_apply "$(k8s_manifest <<'EOF'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: only-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]
EOF
	)"
	k8s_apply "$(k8s_manifest <<'EOF'
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: x}
spec:
  parentRefs: [{group: "", kind: Service, name: web, port: 80}]
  rules: [{backendRefs: [{name: web, port: 80}]}]
EOF
	)"
}

test_k8s_deploy_manifests_parse_with_kubectl() {
	deploy_read
	t_eq "$(deploy_q '[.items[] | "\(.kind)/\(.metadata.name)"] | sort | join(" ")')" \
		"ClusterRole/shunt-agent ClusterRoleBinding/shunt-agent ConfigMap/shunt-mesh DaemonSet/shunt-agent DaemonSet/shunt-proxy Namespace/shunt-system Role/shunt-ca RoleBinding/shunt-ca ServiceAccount/shunt-agent ServiceAccount/shunt-proxy" \
		"what kubectl apply -f deploy/ installs (efk/, grafana/, uninstall/ left out)"
	t_eq "$(deploy_q '[.items[] | .metadata.namespace // empty] | unique | join(",")')" shunt-system \
		"every namespaced object in shunt-system"
	t_eq "$(deploy_q '.items[] | select(.kind | endswith("RoleBinding")) | "\(.roleRef.kind)/\(.roleRef.name) \(.subjects[0].kind)/\(.subjects[0].namespace)/\(.subjects[0].name)"')" \
		"ClusterRole/shunt-agent ServiceAccount/shunt-system/shunt-agent
Role/shunt-ca ServiceAccount/shunt-system/shunt-proxy" "the bindings"
	t_eq "$(deploy_q "$DS | .spec.template.spec.serviceAccountName")" shunt-agent "the DaemonSet's service account"
	t_eq "$(deploy_q "$DS | .spec.template.spec | [.hostNetwork, .hostPID, (.tolerations | map(.operator) | join(\",\"))] | join(\" \")")" \
		"true true Exists" "hostNetwork, hostPID, every taint tolerated"
	t_eq "$(deploy_q "$DS | .spec.updateStrategy | \"\(.type) \(.rollingUpdate.maxUnavailable)\"")" \
		"RollingUpdate 1" "the update strategy"
	t_eq "$(deploy_q "$DS | [.spec.template.spec.containers[] | .securityContext.privileged and (.resources.requests.cpu != null) and (.resources.requests.memory != null)] | all")" \
		true "every container privileged, with requests"
	t_eq "$(deploy_q "$AGENT_CTR | .env[] | select(.name == \"NODE_NAME\") | .valueFrom.fieldRef.fieldPath")" \
		spec.nodeName "NODE_NAME from spec.nodeName"
	t_eq "$(deploy_q "$AGENT_CTR | .args | index(\"--node\") as \$i | .[\$i + 1]")" '$(NODE_NAME)' \
		"the agent's --node is the pod's node"
	# The host paths, mounted where the code looks for them.
	t_eq "$(deploy_q "$DS | .spec.template.spec as \$s | \$s.$AGENT | [.volumeMounts[] | . as \$m
		| \$s.volumes[] | select(.name == \$m.name and .hostPath)
		| \"\(.hostPath.path)=\(\$m.mountPath):\(\$m.mountPropagation // \"-\")\"] | sort | join(\" \")")" \
		"/run/shunt=/run/shunt:- /sys/fs/bpf=/sys/fs/bpf:Bidirectional /sys/fs/cgroup=/sys/fs/cgroup:-" \
		"bpffs (propagated), the cgroup v2 root, /run/shunt"
	# The probes reach the agent's own /healthz, on the port --metrics gives.
	local metrics
	metrics=$(deploy_q "$AGENT_CTR | .args | index(\"--metrics\") as \$i | .[\$i + 1]")
	t_eq "$(deploy_q "$AGENT_CTR | [.startupProbe, .readinessProbe, .livenessProbe] | map(\"\(.httpGet.host):\(.httpGet.port)\(.httpGet.path)\") | unique | join(\" \")")" \
		"$metrics/healthz" "the probes ask the agent's /healthz"
	t_eq "$(deploy_q "$AGENT_CTR | .lifecycle.preStop.exec.command | join(\" \") | test(\"unload\")")" false \
		"the preStop does not unload"
	deploy_proxy_daemonset_checks
	k8s_kubectl apply --dry-run=client --validate=false -f "$DEPLOY/uninstall" -o json >"$K8S_DIR/unload.json" ||
		t_fail "kubectl apply -f deploy/uninstall/"
	t_eq "$(jq -r '.spec.template.spec.containers[0].command | join(" ") | test("shunt unload")' "$K8S_DIR/unload.json")" \
		true "the uninstall DaemonSet runs shunt unload"
}

# The proxies' DaemonSet (docs/kubernetes.md "Upgrade"): the new pod
# starts beside the old one and is ready only once its proxy listens (the
# file its --ready-file names, in its own /tmp); the old one drains within
# the termination grace; its own service account; privileged, with
# requests; the node's network.
deploy_proxy_daemonset_checks() {
	local script ready drain grace
	t_eq "$(deploy_q "$PDS | .spec.updateStrategy | \"\(.type) \(.rollingUpdate.maxSurge) \(.rollingUpdate.maxUnavailable)\"")" \
		"RollingUpdate 1 0" "the proxies' update strategy: the new pod beside the old"
	t_eq "$(deploy_q "$PDS | .spec.template.spec | \"\(.serviceAccountName) \(.hostNetwork) \(.containers[0].securityContext.privileged) \(.containers[0].resources.requests.cpu != null)\"")" \
		"shunt-proxy true true true" "the proxies' account, network, privilege, requests"
	script=$(deploy_q "$PROXY_CTR | .command[2]")
	ready=$(sed -n 's/.*--ready-file \([^ ]*\).*/\1/p' <<<"$script")
	drain=$(sed -n 's/.*--drain-timeout \([0-9]*\).*/\1/p' <<<"$script")
	grace=$(deploy_q "$PDS | .spec.template.spec.terminationGracePeriodSeconds")
	[[ "$ready" == /tmp/* ]] || t_fail "the proxy's --ready-file is not in its own /tmp: '$ready'"
	t_eq "$(deploy_q "$PROXY_CTR | .readinessProbe.exec.command | join(\" \")")" "test -e $ready" \
		"the readiness probe asks for the proxy's ready file"
	[ -n "$drain" ] && [ "$drain" -lt "$grace" ] ||
		t_fail "--drain-timeout '$drain' must end within the termination grace ($grace s)"
}

# The agent, run as the DaemonSet runs it with the ClusterRole's rights
# only: it syncs with no 403 (sufficient), and every rule granted is one it
# used (least).
test_k8s_deploy_rbac_is_least_and_sufficient() {
	deploy_read
	deploy_enforce
	deploy_world
	deploy_agent --follow
	k8s_wait_model '.workloads | length == 3' "the model, with the ClusterRole's rights" 10
	t_eq "$(k8s_model | jq -c '[(.services | length), (.policies | length), (.httpRoutes | length)]')" \
		'[1,1,1]' "services, policies, routes"
	local used grants _
	grants=$(deploy_grants | tr '\n' ' ')
	# The watches follow the lists at once.
	for _ in $(seq 30); do
		used=$(k8s_ctl GET requests | jq -r '.[] | select(.verb) | "\(.group)/\(.resource)/\(.verb)"' | sort -u | tr '\n' ' ')
		[ "$used" = "$grants" ] && break
		sleep 0.1
	done
	t_eq "$(k8s_ctl GET requests | jq '[.[] | select(.verb and (.allowed | not))] | length')" 0 \
		"requests refused (403)"
	t_eq "$used" "$grants" "what the agent asked for vs what the ClusterRole grants"
	grep -q 403 "$K8S_DIR/follow.log" && t_fail "the agent logged a 403: $(grep 403 "$K8S_DIR/follow.log")"
	true
}

# The proxy container's CA (docs/kubernetes.md "Cross-node mTLS"): its
# `shunt ca bootstrap` line, run as the proxy's service account with only
# the Role's rights. Two nodes at once on a cluster without the Secret: one
# makes it, both end with the same CA, of the settings' trust domain; a
# third reads it and creates nothing; without the Role, a 403 and no CA.
PROXY_CTR="$PDS | .spec.template.spec.containers[] | select(.name == \"proxy\")"

# The script's bootstrap command as ARGS for $SHUNT (the settings' path and
# the CA directory moved under $K8S_DIR), in BOOTSTRAP.
deploy_bootstrap_args() { # DIR
	local line
	line=$(deploy_q "$PROXY_CTR | .command[2]" | sed -n '/ca bootstrap/,/;/p' | tr -d '\\\n' | sed 's/; do.*//')
	grep -q '^until /usr/local/bin/shunt ca bootstrap ' <<<"$line" || t_fail "no ca bootstrap in the proxy's script: $line"
	read -ra BOOTSTRAP <<<"${line#until /usr/local/bin/shunt }"
	BOOTSTRAP=("${BOOTSTRAP[@]/\/run\/shunt-ca/$1}")
	BOOTSTRAP=("${BOOTSTRAP[@]/\/etc\/shunt\/mesh.yaml/$K8S_DIR/mesh.yaml}")
	BOOTSTRAP+=(--kubeconfig "$K8S_DIR/proxy.kubeconfig")
}

test_k8s_deploy_proxy_bootstraps_the_ca_secret() {
	deploy_read
	t_eq "$(deploy_q "$PDS | .spec.template.spec.volumes[] | select(.name == \"ca\") | .emptyDir.medium")" Memory \
		"the CA's volume is in memory"
	t_eq "$(deploy_q "$PROXY_CTR | .command[2] | test(\"shunt proxy --ca /run/shunt-ca \")")" true \
		"the proxy takes the CA the bootstrap wrote"
	deploy_q '.items[] | select(.kind == "Role" and .metadata.name == "shunt-ca")' >"$K8S_DIR/role.json"
	deploy_q '.items[] | select(.kind == "ConfigMap") | .data["mesh.yaml"]' >"$K8S_DIR/mesh.yaml"
	deploy_enforce "$K8S_DIR/role.json"
	k8s_kubeconfig "$K8S_DIR/proxy.kubeconfig" "$AGENT_TOKEN"
	# Slow answers: both nodes find no Secret before either has made it.
	k8s_ctl POST faults '{"response_delay": 0.3}' >/dev/null
	local d pids=()
	for d in a b; do
		deploy_bootstrap_args "$K8S_DIR/ca-$d"
		"$SHUNT" "${BOOTSTRAP[@]}" >"$K8S_DIR/bootstrap-$d.log" 2>&1 &
		pids+=($!)
	done
	for d in "${pids[@]}"; do wait "$d" || t_fail "a bootstrap failed: $(cat "$K8S_DIR"/bootstrap-*.log)"; done
	k8s_ctl POST faults '{"response_delay": 0}' >/dev/null
	t_eq "$(grep -l 'made a CA' "$K8S_DIR"/bootstrap-*.log | wc -l)" 1 "nodes that made the CA"
	t_eq "$(k8s_ctl GET requests | jq '[.[] | select(.verb == "create")] | length')" 2 \
		"creates (the second answered 409, and that node read the first's)"
	cmp -s "$K8S_DIR/ca-a/ca.key" "$K8S_DIR/ca-b/ca.key" || t_fail "the two nodes have different CAs"
	k8s_kubectl get secret -n shunt-system shunt-ca -o json | jq -j '.data["ca.key"] | @base64d' >"$K8S_DIR/secret.key"
	cmp -s "$K8S_DIR/ca-a/ca.key" "$K8S_DIR/secret.key" || t_fail "the CA is not the Secret's"
	t_eq "$(stat -c %a "$K8S_DIR/ca-a/ca.key")" 600 "the key's mode"
	"$SHUNT" ca issue --dir "$K8S_DIR/ca-a" --namespace x --service-account web --out "$K8S_DIR/web" >/dev/null
	t_eq "$("$SHUNT" ca verify --dir "$K8S_DIR/ca-b" "$K8S_DIR/web.crt" | cut -d' ' -f1)" \
		"spiffe://$(python3 -c 'import sys, yaml; print(yaml.safe_load(sys.stdin)["trustDomain"])' <"$K8S_DIR/mesh.yaml")/ns/x/sa/web" \
		"one node's certificate, verified by the other's CA, in the settings' trust domain"
	local creates
	creates=$(k8s_ctl GET requests | jq '[.[] | select(.verb == "create")] | length')
	deploy_bootstrap_args "$K8S_DIR/ca-c"
	"$SHUNT" "${BOOTSTRAP[@]}" >"$K8S_DIR/bootstrap-c.log" 2>&1 || t_fail "the third bootstrap: $(cat "$K8S_DIR/bootstrap-c.log")"
	t_eq "$(k8s_ctl GET requests | jq '[.[] | select(.verb == "create")] | length')" "$creates" "creates by a third node"
	cmp -s "$K8S_DIR/ca-a/ca.key" "$K8S_DIR/ca-c/ca.key" || t_fail "the third node has another CA"
	t_eq "$(k8s_ctl GET requests | jq '[.[] | select(.allowed | not)] | length')" 0 "requests refused"
	t_eq "$(k8s_ctl GET requests | jq -r '[.[] | "\(.resource)/\(.verb)"] | unique | join(" ")')" \
		"secrets/create secrets/get" "what the bootstrap asked for"
	# Without the Role: refused, said, and no CA written.
	deploy_enforce
	deploy_bootstrap_args "$K8S_DIR/ca-d"
	"$SHUNT" "${BOOTSTRAP[@]}" >"$K8S_DIR/bootstrap-d.log" 2>&1 && t_fail "a bootstrap without the Role succeeded"
	grep -q 'HTTP 403' "$K8S_DIR/bootstrap-d.log" || t_fail "no 403 said: $(cat "$K8S_DIR/bootstrap-d.log")"
	[ ! -e "$K8S_DIR/ca-d/ca.key" ] || t_fail "a CA was written without the Secret"
}

# Without the rule on httproutes/status the status write is refused (403):
# said, with the rule it needs, and the model and its route as they were.
test_k8s_deploy_rbac_without_status_rule_keeps_the_routes() {
	deploy_read
	deploy_q '.items[] | select(.kind == "ClusterRole") | .rules |= map(select(.resources != ["httproutes/status"]))' \
		>"$K8S_DIR/dropped.json"
	t_eq "$(deploy_grants "$K8S_DIR/dropped.json" | grep -c httproutes/status)" 0 "the rule is gone"
	deploy_enforce "$K8S_DIR/dropped.json"
	deploy_world
	deploy_agent --follow
	k8s_wait_model '(.workloads | length == 3) and (.httpRoutes | length == 1)' "the model without the status rule" 10
	t_wait_for 5 grep -q 'HTTPRoute x/web status not written: HTTP 403 .*needs update on httproutes/status' \
		"$K8S_DIR/follow.log" || t_fail "no 403 said: $(tail -3 "$K8S_DIR/follow.log")"
	t_eq "$(k8s_ctl GET requests | jq -r '[.[] | select(.verb and (.allowed | not)) | "\(.resource)/\(.verb)"] | unique | join(",")')" \
		httproutes/status/update "what was refused"
	k8s_apply "$(k8s_pod y e n2 10.0.2.3 pod=e)"
	k8s_wait_model '.workloads | length == 4' "a change of the API still followed"
	t_eq "$(k8s_model | jq -c '[.httpRoutes[0].name, (.services | length)]')" '["web",1]' "the route in the model"
}

# The enforcement itself: without the EndpointSlices rule the agent cannot
# sync, and says which request was refused.
test_k8s_deploy_rbac_missing_rule_is_refused() {
	deploy_read
	deploy_q '.items[] | select(.kind == "ClusterRole") | .rules |= map(select(.resources != ["endpointslices"]))' \
		>"$K8S_DIR/dropped.json"
	t_eq "$(deploy_grants "$K8S_DIR/dropped.json" | grep -c endpointslices)" 0 "the rule is gone"
	deploy_enforce "$K8S_DIR/dropped.json"
	deploy_world
	deploy_agent --once && t_fail "the agent synced without the right to list EndpointSlices"
	grep -q 'HTTP 403' "$K8S_DIR/follow.log" || t_fail "no 403 reported: $(tail -3 "$K8S_DIR/follow.log")"
	t_eq "$(k8s_ctl GET requests | jq -r '[.[] | select(.verb and (.allowed | not)) | .resource] | unique | join(",")')" \
		endpointslices "what was refused"
	t_eq "$(k8s_models_count)" 0 "models printed"
}

MESH_YAML=root/etc/shunt/mesh.yaml

# The shunt-mesh ConfigMap, mounted where the DaemonSet mounts it, reaches
# the model; other values too (trust domain, mTLS mode, node proxies,
# access log).
test_k8s_deploy_mesh_settings_reach_the_agent() {
	deploy_read
	deploy_enforce
	deploy_world
	deploy_agent --once || t_fail "the agent with deploy/'s settings: $(tail -3 "$K8S_DIR/follow.log")"
	local want
	want=$(python3 -c 'import sys, yaml; d = yaml.safe_load(sys.stdin); print(d["trustDomain"], d["mtls"]["mode"].lower())' \
		<"$K8S_DIR/$MESH_YAML") || t_fail "the ConfigMap's mesh.yaml is not YAML"
	t_eq "$(k8s_model | jq -r '"\(.trustDomain) \(.mtls)"')" "$want" "the model has the ConfigMap's settings"
	t_eq "$(k8s_model | jq -r '.workloads | length')" 3 "and the API's workloads"
	sed -i -e 's/^trustDomain: .*/trustDomain: example.org/' -e 's/PERMISSIVE/STRICT/' "$K8S_DIR/$MESH_YAML"
	cat >>"$K8S_DIR/$MESH_YAML" <<'EOF'
nodes:
- name: n1
  proxy: {outbound: 10.0.1.254:15001, inbound: 10.0.0.1:15008, sourceAddress: node}
accessLog: {enabled: true, output: /var/log/shunt/access.log}
EOF
	touch "$K8S_DIR/$MESH_YAML.local"
	deploy_agent --once || t_fail "the agent with changed settings: $(tail -3 "$K8S_DIR/follow.log")"
	t_eq "$(k8s_model | jq -c '[.trustDomain, .mtls, .nodes[0].name, .accessLog.output]')" \
		'["example.org","strict","n1","/var/log/shunt/access.log"]' "the changed settings in the model"
}

# MESH_YAML replaced the way the kubelet updates a mounted ConfigMap: the
# new text in a file of its own, renamed over the old (a new inode).
deploy_settings_swap() { # SED_SCRIPT
	sed "$1" "$K8S_DIR/$MESH_YAML" >"$K8S_DIR/$MESH_YAML.new" && mv "$K8S_DIR/$MESH_YAML.new" "$K8S_DIR/$MESH_YAML"
}

# A running agent follows the ConfigMap: a new version of mesh.yaml is in the
# next model within seconds, with no restart; a bad version is refused with
# FILE:LINE:COL while the last good settings stay and the API's changes go
# on; fixed, it is taken.
test_k8s_deploy_mesh_settings_change_while_running() {
	deploy_read
	deploy_enforce
	deploy_world
	deploy_agent_args # writes deploy/'s mesh.yaml (PERMISSIVE); the test's own from here
	touch "$K8S_DIR/$MESH_YAML.local"
	deploy_agent --follow
	k8s_wait_model '(.workloads | length == 3) and .mtls == "permissive"' "the first model" 10
	deploy_settings_swap 's/PERMISSIVE/STRICT/'
	k8s_wait_model '.mtls == "strict"' "the model after mtls STRICT in the settings" 5
	grep -q "mesh settings read again" "$K8S_DIR/follow.log" ||
		t_fail "no log of the settings read again: $(tail -3 "$K8S_DIR/follow.log")"
	# A bad version: refused, named; the API's next change still applies.
	local line count
	line=$(grep -n '^mtls' "$K8S_DIR/$MESH_YAML" | cut -d: -f1)
	deploy_settings_swap 's/STRICT/LOOSE/'
	t_wait_for 5 grep -q "mesh.yaml:$line:14: mtls mode must be STRICT or PERMISSIVE, not 'LOOSE'" \
		"$K8S_DIR/follow.log" || t_fail "the bad settings not refused by line: $(tail -3 "$K8S_DIR/follow.log")"
	grep -q "the last good ones stay" "$K8S_DIR/follow.log" || t_fail "the refusal does not say what stays"
	k8s_apply "$(k8s_pod y d n2 10.0.2.3 pod=d)"
	k8s_wait_model '.workloads | length == 4' "the API's change with bad settings in place" 5
	t_eq "$(k8s_model | jq -r .mtls)" strict "mtls while the settings are bad (the last good)"
	count=$(grep -c "mesh settings not changed" "$K8S_DIR/follow.log")
	t_eq "$count" 1 "refusals of one bad version"
	deploy_settings_swap 's/LOOSE/PERMISSIVE/'
	k8s_wait_model '.mtls == "permissive" and (.workloads | length == 4)' "the fixed settings" 5
}

# A bad settings file stops the agent before it reads the API: FILE:LINE:COL
# or the key, and no model.
test_k8s_deploy_bad_mesh_settings_are_refused() {
	deploy_read
	deploy_enforce
	deploy_world
	deploy_agent --once || t_fail "the agent with deploy/'s settings: $(tail -3 "$K8S_DIR/follow.log")"
	touch "$K8S_DIR/$MESH_YAML.local"
	local good bad want
	good=$(cat "$K8S_DIR/$MESH_YAML")
	while IFS='|' read -r bad want; do
		printf '%s\n' "$good" | sed "$bad" >"$K8S_DIR/$MESH_YAML"
		k8s_ctl POST requests/clear '{}' >/dev/null
		deploy_agent --once && t_fail "settings accepted after '$bad'"
		grep -qF "$want" "$K8S_DIR/follow.log" ||
			t_fail "after '$bad': expected '$want', got: $(cat "$K8S_DIR/follow.log")"
		t_eq "$(k8s_models_count)" 0 "models printed after '$bad'"
		t_eq "$(k8s_ctl GET requests | jq length)" 0 "requests to the API after '$bad'"
	done <<EOF
s/PERMISSIVE/LOOSE/|mesh.yaml:$(grep -n '^mtls' "$K8S_DIR/$MESH_YAML" | cut -d: -f1):14: mtls mode must be STRICT or PERMISSIVE, not 'LOOSE'
s/^trustDomain: .*/trustDomain: Cluster.Local/|trustDomain 'Cluster.Local' may hold only lowercase letters
\$a namespaces: [{name: x}]|mesh.yaml: 'namespaces' come from the Kubernetes API
\$a mtlsMode: STRICT|mtlsMode
EOF
	printf '%s\n' "$good" >"$K8S_DIR/$MESH_YAML"
	deploy_agent --once --k8s-option trust-domain=example.org &&
		t_fail "trust-domain given twice (option and settings) accepted"
	grep -q 'trust-domain and mesh-settings both given' "$K8S_DIR/follow.log" ||
		t_fail "no error for two trust domains: $(cat "$K8S_DIR/follow.log")"
}

# deploy/Dockerfile cannot be built here (no Docker engine): what can be
# checked is that every library the binary loads comes from a package its
# runtime stage installs, or from debian:bookworm-slim itself (Priority:
# required, the minbase variant), or from their dependencies.
test_k8s_deploy_image_has_every_runtime_library() {
	[ "$(. /etc/os-release && echo "$VERSION_CODENAME")" = bookworm ] ||
		t_skip "the package names are Debian 12's (the image's base); this is not Debian 12"
	ldd "$SHUNT" >"$T_TMP/ldd" || t_fail "ldd $SHUNT"
	python3 - "$REPO/deploy/Dockerfile" "$T_TMP/ldd" <<'EOF' || t_fail "the runtime stage misses libraries (above)"
import re, subprocess, sys

text = open(sys.argv[1]).read().replace("\\\n", " ")
stages = re.split(r"^FROM ", text, flags=re.M)[1:]
runtime = stages[-1]
assert runtime.startswith("debian:bookworm-slim"), "the runtime stage is not debian:bookworm-slim"
installs = [m.group(1).split() for m in re.finditer(r"apt-get install ([^&]*)", runtime)]
listed = {w for ws in installs for w in ws if not w.startswith("-")}

def q(fmt, *pkgs):
    out = subprocess.run(["dpkg-query", "-W", "-f", fmt, *pkgs], capture_output=True, text=True)
    return out.stdout

base = {l.split()[0] for l in q("${Package} ${Priority}\n").splitlines() if l.endswith(" required")}
# Everything the listed and base packages pull in (Depends, Pre-Depends).
have, todo = set(), list(listed | base)
while todo:
    p = todo.pop().split(":")[0]
    if p in have:
        continue
    have.add(p)
    deps = q("${Depends}, ${Pre-Depends}", p)
    for alt in filter(None, (d.strip() for d in deps.split(","))):
        for name in (a.split()[0] for a in alt.split("|")):
            if q("${Status}", name.split(":")[0]).endswith("installed"):
                todo.append(name)
                break

missing = []
for line in open(sys.argv[2]):
    m = re.search(r"=> (/\S+)", line) or re.match(r"\s*(/\S+)", line)
    if not m:
        continue
    out = subprocess.run(["dpkg", "-S", m.group(1)], capture_output=True, text=True).stdout
    if not out:
        import os
        out = subprocess.run(["dpkg", "-S", os.path.realpath(m.group(1))], capture_output=True, text=True).stdout
    pkg = out.split(":")[0] if out else None
    if pkg is None or pkg not in have:
        missing.append("%s (%s)" % (m.group(1), pkg or "no package"))
for m in missing:
    print("not in the image:", m)
sys.exit(1 if missing else 0)
EOF
}

# .github/workflows/kind.yml cannot run here: it is YAML, its jobs have
# steps, it installs with deploy/ as a user would, and its e2e script
# (scripts/kind-e2e.sh) is valid shell that restarts the agents under
# traffic.
test_k8s_deploy_kind_workflow_is_valid_yaml() {
	bash -n "$REPO/scripts/kind-e2e.sh" || t_fail "scripts/kind-e2e.sh is not valid shell"
	python3 - "$REPO/.github/workflows/kind.yml" "$REPO/scripts/kind-e2e.sh" <<'EOF' || t_fail "kind.yml (above)"
import sys, yaml
wf = yaml.safe_load(open(sys.argv[1]))
jobs = wf["jobs"]
assert all(j.get("steps") for j in jobs.values()), "a job without steps"
runs = "\n".join(s.get("run", "") for j in jobs.values() for s in j["steps"])
for want in ("docker build -f deploy/Dockerfile", "kind load docker-image", "kubectl apply -f deploy/",
             "rollout status daemonset/shunt-agent"):
    assert want in runs, "kind.yml does not run: " + want
e2e = open(sys.argv[2]).read()
steps = [w.split()[1] for w in runs.splitlines() if w.startswith("scripts/kind-e2e.sh ")]
for step in ("bypass", "mtls", "netpol", "service", "canary", "rollout"):
    assert step in steps, "kind.yml does not run the e2e step " + step
assert "rollout restart daemonset/shunt-agent" in e2e, "no rollout restart under traffic"
assert "rollout restart daemonset/shunt-proxy" in e2e, "no proxy rollout under cross-node traffic"
EOF
}
