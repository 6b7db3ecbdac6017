# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
# The upstream Kubernetes NetworkPolicy e2e cases (tests/netpol/cases.json,
# ported from kubernetes/kubernetes test/e2e/network/netpol: their policies,
# steps and reachability tables), replayed one after another on ONE
# cluster, as a user's configs follow one another: every step is a new
# config the agents apply incrementally over the last one. Namespaces x, y,
# z with pods a, b, c spread over two nodes (same-node and cross-node pairs,
# the latter through the mTLS proxies), every pod serving ports 80 and 81
# over TCP, UDP and SCTP; every pair is probed for each (port, protocol) a
# step names, and compared with upstream's table.
#
# NETPOL_SOURCE says how the steps reach the agents: "yaml" (the default, a
# config file rewritten per step, with the node proxies) or "kubernetes"
# (tests/integration/test_k8s_cluster.sh: the cluster served by the test API
# server, the pods as Pods and each step's policies as NetworkPolicy objects
# made by kubectl, the agents on `--kubernetes` with `nodeProxy` in their
# settings: the node proxies of the Node objects carry the cross-node pairs,
# as with the YAML source).

NETPOL_SOURCE=${NETPOL_SOURCE:-yaml}
NETPOL_CASES=$REPO/tests/netpol/cases.json
# Upstream pod -> local cluster pod (2 nodes x 5 pods).
NETPOL_PODS="x/a=n1-p1 x/b=n1-p2 x/c=n2-p1 y/a=n1-p3 y/b=n2-p2 y/c=n1-p4 z/a=n2-p3 z/b=n1-p5 z/c=n2-p4"

netpol_pod() {
	local e
	for e in $NETPOL_PODS; do [ "${e%%=*}" = "$1" ] && echo "${e#*=}"; done
}

# Every upstream pod with its cluster pod, addresses, netns and cgroup (JSON).
netpol_pods_json() {
	local e up pod
	for e in $NETPOL_PODS; do
		up=${e%%=*} pod=${e#*=}
		jq -c --arg up "$up" --arg pod "$pod" '.nodes[] | .name as $node | .pods[] |
			select(.name == $pod) | {up: $up, node: $node, ipv4, ipv6, netns, cgroup, uid}' "$STATE"
	done | jq -s 'map({(.up): .}) | add'
}

# The config of one step (JSON, from the case file): the cluster's nodes and
# proxies, then namespaces, workloads and policies as YAML flow (JSON).
netpol_config() { # STEP_JSON
	sed -n '/^apiVersion:/,/^namespaces:/p' "$MESH_CONFIG" | sed '$d'
	jq -nr --argjson step "$1" --argjson pods "$NETPOL_PODS_JSON" --slurpfile cases "$NETPOL_CASES" '
		$cases[0].defaults as $d
		| ($pods | with_entries(.value = .value.ipv4)) as $ips
		| ($d.namespaceLabels + ($step.namespaceLabels // {})) as $nsl
		| ($d.podLabels + ($step.podLabels // {})) as $pl
		| "namespaces: " + ([$nsl | to_entries[] | {name: .key, labels: .value}] | tojson),
		  "workloads: " + ([$pods | to_entries[] | .key as $up | .value as $p | {
			name: ($up | split("/")[1]), namespace: ($up | split("/")[0]),
			labels: $pl[$up], node: $p.node, addresses: [$p.ipv4, $p.ipv6],
			ports: $d.containerPorts, netns: $p.netns, cgroup: $p.cgroup}] | tojson),
		  "policies: " + ($step.policies | tojson
			| gsub("\\$\\{ip (?<p>[xyz]/[abc])\\}"; $ips[.p]))'
}

# The whole run in one jq pass (a jq per probe and field took a third of
# the suite's time), tab-separated: "step ID STEP_JSON_BASE64", then for each of
# its probes "probe ID PORT PROTO LABEL" and its expected reachability,
# "want ID FROM TO true|false" per pair.
netpol_plan() {
	jq -r --argjson pods "$NETPOL_PODS_JSON" '
		def m($p; $pod): $p == "*" or $p == $pod
			or (($p | endswith("/*")) and ($pod | startswith($p[:-1])));
		($pods | keys) as $all
		| .cases | to_entries[] | .key as $i | .value as $case
		| $case.steps | to_entries[] | .key as $s | .value as $step
		| ["step", "\($i).\($s)", ($step | tojson | @base64)],
		  ($step.probes | to_entries[] | .key as $j | .value as $probe | "\($i).\($s).\($j)" as $id
		  | ["probe", $id, $probe.port, $probe.protocol,
			"case \($i + 1) '"'"'\($case.name)'"'"' step \($s + 1)"],
		    ($all[] as $from | $all[] as $to | select($from != $to)
		    | (reduce $probe.except[] as $e ($probe.default;
			if m($e[0]; $from) and m($e[1]; $to) then $e[2] else . end)) as $want
		    | ["want", $id, $from, $to, $want]))
		| @tsv' "$NETPOL_CASES"
}

# Probes every pair for PORT/PROTO at once: "FROM TO OUTCOME" lines. A
# pair that does not answer within TIMEOUT_MS counts as blocked.
netpol_observed() { # PORT PROTO TIMEOUT_MS
	local port=$1 flag e from to targets
	case $2 in UDP) flag=--udp ;; SCTP) flag=--sctp ;; *) flag= ;; esac
	for e in $NETPOL_PODS; do
		from=${e%%=*} targets=()
		for to in $NETPOL_ADDRS; do
			[ "${to%%=*}" = "$from" ] || targets+=("$to:$port")
		done
		# shellcheck disable=SC2086
		t_exec "${e#*=}" -- "$PROBE" reach $flag --timeout-ms "$3" "${targets[@]}" |
			sed "s|^|$from |" >"$T_TMP/reach.${from/\//-}" &
	done
	wait
	cat "$T_TMP"/reach.*
	rm -f "$T_TMP"/reach.*
}

# Prints the expected and observed tables of a failed probe (upstream's
# truth-table shape: a row per client, a column per server, X = blocked).
netpol_tables() { # EXPECTED_FILE OBSERVED_FILE
	local -A got
	local f from to e line
	for f in "$1" "$2"; do
		got=()
		while read -r from to e; do got["$from $to"]=$e; done <"$f"
		echo "    $([ "$f" = "$1" ] && echo expected || echo observed):" >&2
		line="      from\\to"
		for e in $NETPOL_PODS; do line+="  ${e%%=*}"; done
		echo "$line" >&2
		for from in $NETPOL_PODS; do
			from=${from%%=*} line=$(printf '      %-8s' "$from")
			for to in $NETPOL_PODS; do
				to=${to%%=*}
				case "${got[$from $to]:--}" in
				true | ok) line+="    ." ;;
				-) line+="    -" ;;
				*) line+="    X" ;;
				esac
			done
			echo "$line" >&2
		done
	done
}

# One probe of a step against its expected table (EXPECTED_FILE, "FROM TO
# true|false" lines, sorted): the number of pairs that disagree (0: all right).
netpol_check() { # PORT PROTO EXPECTED_FILE LABEL
	local port=$1 proto=$2 wrong timeout
	# A blocked pair never answers, an allowed one within milliseconds: a
	# short wait, and a long one again only when the short one disagreed.
	for timeout in 200 2000; do
		netpol_observed "$port" "$proto" $timeout | sort >"$T_TMP/observed"
		wrong=$(join -j 1 <(awk '{print $1"|"$2, $3}' "$3" | sort) \
			<(awk '{print $1"|"$2, $3}' "$T_TMP/observed" | sort) |
			awk '($2 == "true") != ($3 == "ok") { n++; print "      " $0 > "/dev/stderr" } END { print n + 0 }' \
				2>"$T_TMP/disagree")
		[ "$wrong" = 0 ] && break
	done
	cat "$T_TMP/disagree" >&2
	if [ "$wrong" != 0 ]; then
		t_log "WRONG $4 $port/$proto: $wrong pairs (expected, observed)"
		netpol_tables "$3" "$T_TMP/observed"
	fi
	echo "$wrong"
}

netpol_setup() {
	local e up
	if [ "$NETPOL_SOURCE" = kubernetes ]; then
		# shellcheck source=tests/k8s/k8slib.sh
		source "$REPO/tests/k8s/k8slib.sh"
		k8s_need_kubectl
		t_cluster_up 2 5 --kubernetes
	else
		t_cluster_up 2 5
	fi
	NETPOL_PODS_JSON=$(netpol_pods_json)
	NETPOL_ADDRS=$(jq -r 'to_entries[] | "\(.key)=\(.value.ipv4)"' <<<"$NETPOL_PODS_JSON")
	if [ "$NETPOL_SOURCE" = kubernetes ]; then
		netpol_k8s_setup
	else
		# shellcheck source=tests/integration/test_proxy.sh
		source "$REPO/tests/integration/test_proxy.sh"
		netpol_config "$(jq -c '{policies: []}' -n)" >"$T_TMP/mesh.yaml"
		proxy_mesh_up "$T_TMP/mesh.yaml"
	fi
	for e in $NETPOL_PODS; do
		up=${e%%=*}
		t_probe_server "${e#*=}" "${up/\//-}" --tcp 0.0.0.0:80 --tcp 0.0.0.0:81 --udp 0.0.0.0:80 \
			--udp 0.0.0.0:81 --sctp 0.0.0.0:80 --sctp 0.0.0.0:81
	done
	NETPOL_SCTP=1
	grep -q unsupported <<<"$(t_exec n1-p1 -- "$PROBE" reach --sctp --timeout-ms 100 x=127.0.0.1:9)" &&
		NETPOL_SCTP=0
}

# ---- the kubernetes source ---------------------------------------------------

# The pods (Pods from `kubectl run`, on their cluster pod's node with its
# UID and addresses, Running and Ready), the namespaces, and every step's
# policies plus a marker per step (NetworkPolicies from one `kubectl create
# --dry-run=client`, each annotated with its step), into $T_TMP/k8s.*.json;
# the cluster's own pods and service make way; both agents started.
netpol_k8s_setup() {
	local e up ns
	k8s_cluster_attach
	for ns in x y z; do
		k8s_kubectl create namespace "$ns" --dry-run=client -o json || t_fail "kubectl create namespace"
	done | jq -s . >"$T_TMP/k8s.namespaces.json"
	for e in $NETPOL_PODS; do
		up=${e%%=*}
		k8s_kubectl run "${up#*/}" -n "${up%/*}" --image=registry.k8s.io/e2e-test-images/agnhost:2.52 \
			--dry-run=client -o json || t_fail "kubectl run $up"
	done | jq -s --argjson pods "$NETPOL_PODS_JSON" --slurpfile cases "$NETPOL_CASES" '
		map("\(.metadata.namespace)/\(.metadata.name)" as $up | $pods[$up] as $p
		| .metadata.uid = $p.uid | .spec.nodeName = $p.node
		| .spec.containers[0].ports = $cases[0].defaults.containerPorts
		| .status = {phase: "Running", qosClass: "BestEffort", podIP: $p.ipv4,
			podIPs: [{ip: $p.ipv4}, {ip: $p.ipv6}],
			conditions: [{type: "ContainersReady", status: "True"}, {type: "Ready", status: "True"}]})' \
		>"$T_TMP/k8s.pods.json" || t_fail "the Pods"
	jq --argjson pods "$NETPOL_PODS_JSON" '($pods | with_entries(.value = .value.ipv4)) as $ips
		| {apiVersion: "v1", kind: "List", items: [.cases | to_entries[] | .key as $i
		| .value.steps | to_entries[] | "\($i).\(.key)" as $step
		| (.value.policies[], {name: "netpol-step-\($step | sub("\\."; "-"))", namespace: "x",
			podSelector: {matchLabels: {"shunt.dev/netpol-marker": "none"}}, policyTypes: ["Ingress"]})
		| {apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy",
			metadata: {name, namespace, annotations: {"shunt.dev/netpol-step": $step}},
			spec: del(.name, .namespace)}]}
		| tojson | gsub("\\$\\{ip (?<p>[xyz]/[abc])\\}"; $ips[.p]) | fromjson' "$NETPOL_CASES" |
		k8s_kubectl create -f - --dry-run=client --validate=false -o json |
		jq -s '{kind: "List", items: .}' >"$T_TMP/k8s.policies.json" ||
		t_fail "kubectl could not make the NetworkPolicies"
	jq -c '.items[] | select(.kind == "Pod" or .kind == "Service")
		| {kind, namespace: (.metadata.namespace // "default"), name: .metadata.name}' "$K8S_DIR/objects.json" |
		jq -s . >"$T_TMP/k8s.live"
	netpol_k8s_apply '{"policies": []}' none
	# The node proxies from the Node objects, as nodeProxy's defaults make
	# them: on the InternalIPs, connecting to the servers from there
	# (sourceAddress: node; policy sees the client's asserted identity).
	printf 'apiVersion: shunt.dev/v1\nnodeProxy: {}\n' >"$T_TMP/settings.yaml"
	"$SHUNT" ca init --dir "$T_TMP/ca" --trust-domain cluster.local >/dev/null || t_fail "ca init"
	k8s_agent_start n1 --k8s-option mesh-settings="$T_TMP/settings.yaml"
	k8s_agent_start n2 --k8s-option mesh-settings="$T_TMP/settings.yaml"
	# shellcheck source=tests/lib/proxylib.sh
	source "$REPO/tests/lib/proxylib.sh"
	: >"$T_TMP/proxy.n1.log"
	: >"$T_TMP/proxy.n2.log"
	proxy_start n1
	proxy_start n2
}

# STEP as one burst of API changes: namespaces and pods with the step's
# labels, its policies and marker; what the last step had and this one has
# not, deleted. MARKER: the step's "case.step" (none: no marker).
netpol_k8s_apply() { # STEP_JSON MARKER
	jq -n --argjson step "$1" --arg m "$2" --slurpfile cases "$NETPOL_CASES" \
		--slurpfile nss "$T_TMP/k8s.namespaces.json" --slurpfile pods "$T_TMP/k8s.pods.json" \
		--slurpfile pols "$T_TMP/k8s.policies.json" --slurpfile live "$T_TMP/k8s.live" '
		$cases[0].defaults as $d
		| ($d.namespaceLabels + ($step.namespaceLabels // {})) as $nsl
		| ($d.podLabels + ($step.podLabels // {})) as $pl
		| [$pols[0].items[] | select(.metadata.annotations["shunt.dev/netpol-step"] == $m)
			| .metadata |= del(.annotations)] as $new
		| {kind: "List", apiVersion: "v1",
		   items: ([$nss[0][] | .metadata.labels = $nsl[.metadata.name]]
			+ [$pods[0][] | .metadata.labels = $pl["\(.metadata.namespace)/\(.metadata.name)"]] + $new),
		   delete: [$live[0][] | select(. as $o | $new | map(.metadata.name == $o.name
			and .metadata.namespace == $o.namespace and $o.kind == "NetworkPolicy") | any | not)],
		   live: [$new[] | {kind: "NetworkPolicy", namespace: .metadata.namespace, name: .metadata.name}]}' \
		>"$T_TMP/k8s.step.json" || t_fail "the step's objects"
	jq .live "$T_TMP/k8s.step.json" >"$T_TMP/k8s.live"
	k8s_ctl POST objects "$(jq -c 'del(.live)' "$T_TMP/k8s.step.json")" >/dev/null ||
		t_fail "the test API server refused the step"
}

# True once NODE applied STEP: its marker policy, the labels of every pod
# and namespace. (The marker comes last in the policies' watch stream, so
# with it the policies before it are in.)
netpol_k8s_applied() { # NODE STEP_JSON MARKER
	k8s_applied_model "$1" | jq -e --argjson step "$2" --arg m "netpol-step-${3/./-}" \
		--slurpfile cases "$NETPOL_CASES" '
		$cases[0].defaults as $d
		| ($d.namespaceLabels + ($step.namespaceLabels // {})) as $nsl
		| ($d.podLabels + ($step.podLabels // {})) as $pl
		| ([.policies[] | select(.name == $m)] | length) == 1
		and ([.workloads[] | {key: "\(.namespace)/\(.name)", value: .labels}] | from_entries) == $pl
		and ([.namespaces[] | select(.name | IN("x", "y", "z"))
			| {key: .name, value: (.labels | del(."kubernetes.io/metadata.name"))}] | from_entries) == $nsl' \
		>/dev/null
}

# Writes STEP's config and waits until both nodes run it.
netpol_apply() { # STEP_JSON [MARKER]
	local v1 v2
	if [ "$NETPOL_SOURCE" = kubernetes ]; then
		netpol_k8s_apply "$1" "$2"
		t_wait_for 10 netpol_k8s_applied n1 "$1" "$2" && t_wait_for 10 netpol_k8s_applied n2 "$1" "$2" ||
			t_fail "step $2 not applied within 10 s: $(tail -qn 2 "$T_TMP/agent.n1.log" "$T_TMP/agent.n2.log")"
		return 0
	fi
	v1=$(t_config_version n1) v2=$(t_config_version n2)
	netpol_config "$1" | t_write_config "$T_TMP/mesh.yaml"
	t_wait_version n1 $((v1 + 1))
	t_wait_version n2 $((v2 + 1))
}

test_netpol_upstream_cases_in_sequence() {
	netpol_setup
	netpol_run_cases
}

# Every step of every case, in order, each probe against upstream's table.
netpol_run_cases() {
	local kind id a b label wrong=0 probes=0 skipped=0 n ncases
	[ $NETPOL_SCTP = 1 ] || t_log "no SCTP in this kernel: SCTP probes are skipped"
	ncases=$(jq '.cases | length' "$NETPOL_CASES")
	netpol_plan >"$T_TMP/plan" || t_fail "the cases' plan"
	mkdir -p "$T_TMP/want"
	awk -F'\t' '$1 == "want" { print $3, $4, $5 > ("'"$T_TMP"'/want/" $2) }' "$T_TMP/plan"
	# fd 3: the loop's commands (t_exec ...) may read stdin
	while IFS=$'\t' read -r -u 3 kind id a b label; do
		case $kind in
		step) netpol_apply "$(base64 -d <<<"$a")" "$id" ;;
		probe)
			if [ "$b" = SCTP ] && [ $NETPOL_SCTP = 0 ]; then
				skipped=$((skipped + 1))
				continue
			fi
			sort "$T_TMP/want/$id" >"$T_TMP/expected"
			n=$(netpol_check "$a" "$b" "$T_TMP/expected" "$label")
			probes=$((probes + 1))
			[ "$n" = 0 ] || wrong=$((wrong + 1))
			;;
		esac
	done 3< <(grep -v '^want' "$T_TMP/plan")
	t_log "$ncases cases, $probes probes of 72 pairs each, $wrong wrong, $skipped SCTP probes skipped"
	[ $probes -gt 0 ] || t_fail "no probe ran"
	[ $wrong = 0 ] || t_fail "$wrong of $probes probes gave the wrong reachability (see above)"
}
