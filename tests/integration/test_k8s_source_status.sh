# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
# The Kubernetes source writing HTTPRoute status back (docs/kubernetes.md
# "HTTPRoute status"), against the test API server (tests/k8s/apiserver.py:
# PUT on httproutes/NAME/status with optimistic concurrency), with objects
# the real kubectl generates. The agents are `shunt agent --kubernetes
# --print-model`: the status is written while the source is followed.

# shellcheck source=tests/k8s/k8slib.sh
source "${REPO:-.}/tests/k8s/k8slib.sh"

ROUTES=/apis/gateway.networking.k8s.io/v1/namespaces/x/httproutes

# An object of the test API server as the API has it now.
k8s_get() { # API_PATH
	curl -sf --cacert "$K8S_DIR/ca.crt" -H "Authorization: Bearer $K8S_TOKEN" "https://127.0.0.1:$K8S_PORT$1"
}

# Our entry for parentRef Service SERVICE of route x/ROUTE, as
# "Accepted:STATUS:REASON ResolvedRefs:STATUS:REASON gen=G" (empty: none).
route_status() { # ROUTE SERVICE
	k8s_get "$ROUTES/$1" | jq -r --arg s "$2" '.status.parents // [] | .[]
		| select(.controllerName == "shunt.dev/mesh" and .parentRef.name == $s and .parentRef.kind == "Service")
		| (.conditions | map("\(.type):\(.status):\(.reason)") | join(" ")) + " gen=\(.conditions[0].observedGeneration)"'
}

# Waits until route_status ROUTE SERVICE is EXPECTED.
wait_route_status() { # ROUTE SERVICE EXPECTED WHAT [SECONDS]
	local _
	for _ in $(seq $((${5:-5} * 10))); do
		[ "$(route_status "$1" "$2")" = "$3" ] && return 0
		sleep 0.1
	done
	t_fail "$4: '$(route_status "$1" "$2")', not '$3'; log: $(grep -i status "$K8S_DIR/follow.log" | tail -3)"
}

# Status writes the server answered with CODE (200) so far.
status_writes() { k8s_ctl GET status_writes | jq "[.[] | select(.code == ${1:-200})] | length"; }

route() { k8s_manifest || t_fail "kubectl could not make the HTTPRoute"; }

# Namespaces x and y, pods x/a (on this node, n1), x/b and y/c (n2), x/web
# and x/web-v2 (HTTP) and routes: canary (good; its
# status has another controller's entry for its Gateway parent), sticky
# (a field the model does not hold), lost (one backend Service there, one
# not: kept, the missing one's share answered 500), orphan (a parent
# Service not there).
route_world() {
	k8s_setup
	k8s_server_start
	k8s_namespace x
	k8s_namespace y
	local a
	a=$(k8s_pod x a n1 10.0.1.1 pod=a,app=web)
	k8s_pod_cgroup "$a"
	k8s_apply "$a"
	k8s_apply "$(k8s_pod x b n2 10.0.2.1 pod=b)"
	k8s_apply "$(k8s_pod y c n2 10.0.2.2 pod=c)"
	k8s_apply "$(k8s_service x web-v2 10.96.0.11 80:80 app=web http)"
	k8s_apply "$(k8s_service x web 10.96.0.10 80:80 app=web http)"
	k8s_apply "$(route <<'EOF' | jq -c '.status = {parents: [{controllerName: "example.net/gateway",
		parentRef: {group: "gateway.networking.k8s.io", kind: "Gateway", name: "edge"},
		conditions: [{type: "Accepted", status: "True", reason: "Accepted", message: "",
		              observedGeneration: 1, lastTransitionTime: "2026-01-01T00:00:00Z"}]}]}'
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: canary, namespace: x}
spec:
  parentRefs:
  - {group: gateway.networking.k8s.io, kind: Gateway, name: edge}
  - {group: "", kind: Service, name: web, port: 80}
  rules:
  - backendRefs: [{name: web, port: 80, weight: 90}, {name: web-v2, port: 80, weight: 10}]
EOF
	)"
	k8s_apply "$(route <<'EOF'
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: sticky, namespace: x}
spec:
  parentRefs: [{group: "", kind: Service, name: web, port: 80}]
  rules: [{sessionPersistence: {sessionName: s}, backendRefs: [{name: web, port: 80}]}]
EOF
	)"
	k8s_apply "$(route <<'EOF'
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: lost, namespace: x}
spec:
  parentRefs: [{group: "", kind: Service, name: web-v2, port: 80}]
  rules: [{backendRefs: [{name: web, port: 80}, {name: web-v3, port: 80}]}]
EOF
	)"
	k8s_apply "$(route <<'EOF'
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: orphan, namespace: x}
spec:
  parentRefs: [{group: "", kind: Service, name: nothere, port: 80}]
EOF
	)"
}

GOOD="Accepted:True:Accepted ResolvedRefs:True:ResolvedRefs"
HALF="Accepted:True:Accepted ResolvedRefs:False:BackendNotFound"

# The lost route's backendRefs in the model: "NAME:WEIGHT:UNRESOLVED ...".
lost_backends() {
	k8s_model | jq -r '[.httpRoutes[] | select(.name == "lost") | .rules[0].backendRefs[]
		| "\(.name):\(.weight):\(.unresolved // "-")"] | join(" ")'
}

test_k8s_httproute_status_is_written() {
	route_world
	k8s_follow
	k8s_wait_model '[.httpRoutes[].name] | sort == ["canary", "lost"]' \
		"the good route and the half-resolved one in the model (the Gateway's parentRef not read)"
	wait_route_status canary web "$GOOD gen=1" "the good route"
	wait_route_status sticky web "Accepted:False:UnsupportedValue ResolvedRefs:True:ResolvedRefs gen=1" \
		"a field the model does not hold"
	wait_route_status lost web-v2 "$HALF gen=1" \
		"a backend Service that is not there: the route kept, its share answered 500"
	wait_route_status orphan nothere "Accepted:False:NoMatchingParent ResolvedRefs:True:ResolvedRefs gen=1" \
		"a parent Service that is not there"
	local c
	c=$(k8s_get "$ROUTES/canary")
	t_eq "$(jq -c '[.status.parents[] | [.controllerName, .parentRef.kind, .parentRef.name]]' <<<"$c")" \
		'[["example.net/gateway","Gateway","edge"],["shunt.dev/mesh","Service","web"]]' \
		"another controller's entry kept; none of ours for the Gateway"
	t_eq "$(lost_backends)" "web:1:- web-v3:1:BackendNotFound" "the missing backend kept in the model, marked"
	t_eq "$(k8s_get "$ROUTES/lost" | jq -r '.status.parents[0].conditions[1].message')" \
		"backendRef: service x/web-v3 is not defined" "ResolvedRefs says which backendRef"
	t_eq "$(k8s_model | jq -r '.warnings[] | select(startswith("HTTPRoute/x/lost"))')" \
		"HTTPRoute/x/lost: backendRef web-v3 is not there: its share of the requests is answered 500" \
		"the kept route's missing backend said"
	t_eq "$(k8s_get "$ROUTES/sticky" | jq -r '.status.parents[0].conditions[0].message')" \
		"left out of the mesh's routes, whole: unknown key 'sessionPersistence' in a rule (known: matches, filters, backendRefs, timeouts, retry, fault, rateLimit)" \
		"the parser's words"
	t_eq "$(jq -r '.status.parents[1].conditions[0].lastTransitionTime | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$")' <<<"$c")" \
		true "lastTransitionTime (RFC 3339)"
	# Each once, then nothing to write: not again, nor by a new agent.
	sleep 1
	t_eq "$(status_writes)" 4 "status writes"
	kill "$K8S_FOLLOW_PID"
	k8s_follow
	k8s_wait_model '.httpRoutes | length == 2' "a new agent's model"
	sleep 1.5
	t_eq "$(status_writes)" 4 "status writes after a new agent read the same routes"
	# A new generation: observed; the time of a condition whose status
	# did not change is kept.
	k8s_apply "$(jq -c 'del(.status) | .spec.rules[0].backendRefs[1].weight = 20' <<<"$c")"
	wait_route_status canary web "$GOOD gen=2" "generation 2"
	t_eq "$(k8s_get "$ROUTES/canary" | jq -r '.status.parents[1].conditions[0].lastTransitionTime')" \
		"$(jq -r '.status.parents[1].conditions[0].lastTransitionTime' <<<"$c")" "lastTransitionTime of an unchanged status"
	# The backend made: resolved, and no longer marked in the model.
	k8s_apply "$(k8s_service x web-v3 10.96.0.12 80:80 app=web http)"
	wait_route_status lost web-v2 "$GOOD gen=1" "the backend made"
	k8s_wait_model '[.httpRoutes[] | select(.name == "lost") | .rules[0].backendRefs[] | .unresolved] == [null, null]' \
		"the route's backends resolved once the Service is there"
	t_eq "$(lost_backends)" "web:1:- web-v3:1:-" "the lost route's backends, resolved"
	# A parent no longer named: our entry for it goes, the other's stays.
	k8s_apply "$(k8s_get "$ROUTES/canary" | jq -c 'del(.status) | .spec.parentRefs |= map(select(.kind == "Gateway"))')"
	local _ got
	for _ in $(seq 50); do
		got=$(k8s_get "$ROUTES/canary" | jq -c '[.status.parents[].controllerName]')
		[ "$got" = '["example.net/gateway"]' ] && break
		sleep 0.1
	done
	t_eq "$got" '["example.net/gateway"]' "status.parents once the route names no Service"
	t_eq "$(status_writes 409)" 0 "conflicts"
}

# Another writer between the agent's read and its write (409 Conflict),
# and two agents writing the same status: one correct status, no loop.
test_k8s_httproute_status_conflict_converges() {
	route_world
	k8s_ctl POST faults '{"status_conflicts": 1}' >/dev/null
	k8s_follow
	wait_route_status canary web "$GOOD gen=1" "the status after a conflict"
	wait_route_status sticky web "Accepted:False:UnsupportedValue ResolvedRefs:True:ResolvedRefs gen=1" "sticky"
	wait_route_status lost web-v2 "$HALF gen=1" "lost"
	wait_route_status orphan nothere "Accepted:False:NoMatchingParent ResolvedRefs:True:ResolvedRefs gen=1" "orphan"
	sleep 1
	t_eq "$(status_writes 409)" 1 "writes refused with 409"
	t_eq "$(status_writes)" 4 "writes done"
	grep -q 'status: another writer was first (409 Conflict)' "$K8S_DIR/follow.log" ||
		t_fail "the conflict was not said: $(tail -3 "$K8S_DIR/follow.log")"
	kill "$K8S_FOLLOW_PID"
	# Two agents at once on a new generation of every route.
	k8s_ctl POST status_writes/clear '{}' >/dev/null
	local r
	for r in canary sticky lost orphan; do
		k8s_apply "$(k8s_get "$ROUTES/$r" | jq -c 'del(.status) | .metadata.labels.v = "2"
			| .spec.rules = ((.spec.rules // [{}]) | map(. + {matches: [{path: {value: "/v2"}}]}))')"
	done
	k8s_follow
	local first=$K8S_FOLLOW_PID
	"$SHUNT" agent --kubernetes --kubeconfig "$K8S_DIR/kubeconfig" --node n2 --print-model \
		--k8s-option cgroup-root="$K8S_DIR/cgroup" --k8s-option backoff-max-ms=400 \
		--k8s-option sync-timeout-ms=500 >"$K8S_DIR/models.n2" 2>"$K8S_DIR/follow.n2.log" &
	T_PIDS+=("$!")
	wait_route_status canary web "$GOOD gen=2" "generation 2 with two agents"
	wait_route_status orphan nothere "Accepted:False:NoMatchingParent ResolvedRefs:True:ResolvedRefs gen=2" \
		"the orphan's generation 2 with two agents"
	sleep 2
	t_eq "$(status_writes)" 4 "writes done by two agents (one a route)"
	local all
	all=$(k8s_ctl GET status_writes | jq length)
	[ "$all" -le 8 ] || t_fail "$all status writes by two agents for 4 routes"
	sleep 1
	t_eq "$(k8s_ctl GET status_writes | jq length)" "$all" "writes once settled"
	kill "$first"
}

# The API server refusing status writes (5xx here; 403 in
# test_k8s_deploy.sh): said, tried again after a backoff, and the model
# and its routes as they were; written once the server takes it.
test_k8s_httproute_status_refused_leaves_the_model() {
	route_world
	k8s_ctl POST faults '{"status_fail": 1000, "status_fail_code": 503}' >/dev/null
	k8s_follow
	k8s_wait_model '.httpRoutes | length == 2' "the model while status writes fail"
	sleep 3
	local n
	n=$(status_writes 503)
	[ "$n" -ge 2 ] && [ "$n" -le 20 ] || t_fail "$n refused writes in 3 s (backoff up to 400 ms)"
	grep -q 'HTTPRoute x/[a-z]* status not written: HTTP 503 (injected failure); again in' "$K8S_DIR/follow.log" ||
		t_fail "the failure was not said: $(tail -3 "$K8S_DIR/follow.log")"
	t_eq "$(k8s_model | jq -c '[([.httpRoutes[].name] | sort), (.workloads | length)]')" '[["canary","lost"],3]' "the model"
	k8s_apply "$(k8s_pod y e n2 10.0.2.3 pod=e)"
	k8s_wait_model '.workloads | length == 4' "a change of the API still followed"
	k8s_ctl POST faults '{"status_fail": 0}' >/dev/null
	wait_route_status canary web "$GOOD gen=1" "written once the server takes it"
}
