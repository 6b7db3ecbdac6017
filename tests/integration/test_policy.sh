# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
# L4 policy against the real kernel: every construct of docs/policy.md
# allows exactly what it should and denies the rest, TCP and UDP, IPv4 and
# IPv6, same node and across nodes, and from processes outside the mesh.
#
# Cluster: 2 nodes x 3 pods, the agent on both nodes with the config below.
#   n1-p1 frontend (default, app=frontend, sa fe)
#   n1-p2 web      (prod, app=web, sa web)
#   n1-p3 db       (prod, app=db, sa db)
#   n2-p1 batch    (default, app=batch)       10.100.2.11
#   n2-p2 ext      (default, app=ext)         10.100.2.12
#   n2-p3 cache    (prod, app=cache)

policy_config() {
	local cg
	cg=$(jq -r .cgroup_root "$STATE")/$SHUNT_CLUSTER_PREFIX
	cat <<EOF
apiVersion: shunt.dev/v1
namespaces:
  - {name: default, labels: {team: a}}
  - {name: prod, labels: {team: b}}
workloads:
$(policy_workload frontend default fe n1 1 app=frontend)
$(policy_workload web prod web n1 2 app=web)
$(policy_workload db prod db n1 3 app=db)
$(policy_workload batch default batch n2 1 app=batch)
$(policy_workload ext default ext n2 2 app=ext)
$(policy_workload cache prod cache n2 3 app=cache)
services:
  - name: web
    namespace: prod
    virtualIPs: [10.96.0.20, "fd00:96::20"]
    ports: [{port: 80, targetPort: 8080}]
    selector: {app: web}
policies:
  # web: frontend pods of team-a namespaces on 8080; the batch node's pod
  # network on 9090 except one address.
  - name: web-in
    namespace: prod
    podSelector: {matchLabels: {app: web}}
    ingress:
      - from:
          - namespaceSelector: {matchLabels: {team: a}}
            podSelector: {matchLabels: {app: frontend}}
        ports: [{port: 8080}]
      - from:
          - ipBlock: {cidr: 10.100.2.0/24, except: [10.100.2.12/32]}
        ports: [{port: 9090, protocol: TCP}]
  # db: only the web service account; and db itself may call nobody.
  - name: db-lockdown
    namespace: prod
    podSelector: {matchLabels: {app: db}}
    policyTypes: [Ingress, Egress]
    ingress:
      - from: [{serviceAccount: {namespace: prod, name: web}}]
        ports: [{port: 5432}]
  # cache: UDP 5353 from pods of every namespace, but never from batch.
  - name: cache-in
    namespace: prod
    podSelector: {matchExpressions: [{key: app, operator: In, values: [cache]}]}
    ingress:
      - from: [{namespaceSelector: {}}]
        ports: [{port: 5353, protocol: UDP}]
    ingressDeny:
      - from: [{podSelector: {matchLabels: {app: batch}}, namespaceSelector: {matchLabels: {team: a}}}]
  # frontend: egress to web on 8080-8081, to cache over UDP, nothing else.
  - name: frontend-out
    podSelector: {matchLabels: {app: frontend}}
    policyTypes: [Egress]
    egress:
      - to:
          - namespaceSelector: {matchExpressions: [{key: team, operator: In, values: [b]}]}
            podSelector: {matchLabels: {app: web}}
        ports: [{port: 8080, endPort: 8081}]
      - to: [{namespaceSelector: {}, podSelector: {matchLabels: {app: cache}}}]
        ports: [{protocol: UDP, port: 5353}]
EOF
}

# NAME NAMESPACE SA NODE POD LABEL=VALUE
policy_workload() {
	local k=${4#n} j=$5
	cat <<EOF
  - name: $1
    namespace: $2
    serviceAccount: $3
    labels: {${6%%=*}: ${6#*=}}
    node: $4
    addresses: [10.100.$k.$((10 + j)), "fd00:100:$k::$((10 + j))"]
    netns: /run/netns/$SHUNT_CLUSTER_PREFIX-$4-p$j
    cgroup: $(jq -r .cgroup_root "$STATE")/$SHUNT_CLUSTER_PREFIX/$4/p$j
EOF
}

policy_setup() {
	t_cluster_up 2 3
	policy_config >"$T_TMP/policy.yaml"
	t_agent_start n1 "$T_TMP/policy.yaml"
	t_agent_start n2 "$T_TMP/policy.yaml"
	local pod name
	for pod in n1-p2:web n1-p3:db n2-p3:cache n1-p1:frontend n2-p1:batch n2-p2:ext; do
		name=${pod#*:}
		pod=${pod%%:*}
		t_probe_server "$pod" "$name" --tcp 0.0.0.0:8080 --tcp 0.0.0.0:8081 --tcp 0.0.0.0:9090 \
			--tcp 0.0.0.0:5432 --tcp '[::]:8080' --tcp '[::]:9090' --tcp '[::]:5432' --udp 0.0.0.0:5353 \
			--udp '[::]:5353'
	done
}

# The workload of each pod of policy_config.
POLICY_NAMES="n1-p1=default/frontend n1-p2=prod/web n1-p3=prod/db n2-p1=default/batch n2-p2=default/ext n2-p3=prod/cache"

policy_name_of() { local e; for e in $POLICY_NAMES; do [ "${e%%=*}" = "$1" ] && echo "${e#*=}"; done; }

# What `shunt policy check` says (allow or deny) for a pod reaching a pod's
# address; nothing for other sources and targets (nodes, services).
policy_check_verdict() { # FROM ADDR:PORT PROTO
	local from=$1 addr=${2%:*} port=${2##*:} e to=""
	addr=${addr#[}
	addr=${addr%]}
	for e in $POLICY_NAMES; do
		[ "$(t_pod_ip "${e%%=*}")" = "$addr" ] || [ "$(t_pod_ip "${e%%=*}" ipv6)" = "$addr" ] &&
			to=${e#*=}
	done
	[ -n "$to" ] && [ -n "$(policy_name_of "$from")" ] || return 0
	t_shunt "$(t_pod_field "$from" node)" policy check --json --from "$(policy_name_of "$from")" \
		--to "$to" --to-address "$addr" --port "$port" --protocol "$3" | jq -r .verdict
}

# Runs the table: FROM TARGET PROTO EXPECTED WHY... Between pods, the kernel's
# own answer to `shunt policy check` must agree with what the packets got.
policy_table() {
	local from target proto expect why got failures=0 args check
	while read -r from target proto expect why; do
		[ -z "$from" ] || [ "${from:0:1}" = "#" ] && continue
		args=("$target" --timeout-ms 400)
		[ "$proto" = udp ] && args+=(--udp)
		check=$(policy_check_verdict "$from" "$target" "$proto")
		[ "${from#outside:}" != "$from" ] && from="--outside ${from#outside:}"
		# shellcheck disable=SC2086
		got=$(t_probe_outcome $from "${args[@]}")
		if [ "$got" != "$expect" ]; then
			t_log "WRONG $from -> $target/$proto: expected $expect, got $got ($why)"
			failures=$((failures + 1))
		elif [ -n "$check" ] && [ "$check" != "$([ "$got" = ok ] && echo allow || echo deny)" ]; then
			t_log "WRONG $from -> $target/$proto: $got, but shunt policy check says $check ($why)"
			failures=$((failures + 1))
		else
			t_log "ok    $from -> $target/$proto: $got${check:+, policy check: $check} ($why)"
		fi
	done
	[ "$failures" = 0 ] || t_fail "$failures policy cases gave the wrong outcome (see above)"
}

test_policy_allows_exactly_what_the_rules_say() {
	policy_setup
	policy_table <<'EOF'
# from        target                  proto expect  why
n1-p1         10.100.1.12:8080        tcp   ok      pod+namespace selector, port
n1-p1         [fd00:100:1::12]:8080   tcp   ok      same over IPv6
n1-p1         10.96.0.20:80           tcp   ok      through the service address
n1-p1         10.100.1.12:8081        tcp   eperm   egress allows 8081, web's ingress does not
n1-p1         10.100.1.12:9090        tcp   eperm   frontend egress is isolated, 9090 not listed
n1-p1         10.100.1.13:5432        tcp   eperm   frontend may not call db
n2-p1         10.100.1.12:9090        tcp   ok      ipBlock, from the other node
n2-p2         10.100.1.12:9090        tcp   eperm   ipBlock except
n2-p2         [fd00:100:1::12]:9090   tcp   eperm   the IPv4 ipBlock does not cover IPv6
n2-p1         10.100.1.12:8080        tcp   eperm   batch is not frontend
n1-p2         10.100.1.13:5432        tcp   ok      service account prod/web
n2-p3         10.100.1.13:5432        tcp   eperm   another service account
n1-p3         10.100.1.12:8080        tcp   eperm   db egress isolated with no rules
n1-p1         10.100.2.13:5353        udp   ok      UDP egress + ingress from every namespace
n1-p2         [fd00:100:2::13]:5353   udp   ok      UDP over IPv6, across nodes
n2-p1         10.100.2.13:5353        udp   eperm   explicit deny beats the allow
n1-p2         10.100.2.13:8080        tcp   eperm   cache only allows UDP 5353
n2-p2         10.100.1.11:8080        tcp   ok      frontend has no ingress policy
n1-p3         10.100.2.12:8080        tcp   eperm   db egress isolated, even to an open pod
EOF
}

# Processes outside the mesh are held to the same ingress rules: their
# packets are dropped at the workload (a connect times out).
test_policy_holds_for_processes_outside_the_mesh() {
	policy_setup
	policy_table <<'EOF'
n1            10.100.1.12:8080        tcp   timeout the node itself is not frontend
n2            10.100.1.12:9090        tcp   timeout the other node's underlay address is not in the ipBlock
n2            10.100.2.13:5353        udp   timeout not a pod of any namespace
n1            [fd00:100:1::13]:5432   tcp   timeout db over IPv6 from the node
n1            10.100.1.11:8080        tcp   ok      frontend is not isolated
outside:n2-p2 10.100.1.12:9090        tcp   timeout a process in batch's netns outside its cgroup, except'ed address
outside:n2-p1 10.100.1.12:9090        tcp   ok      the same from batch's address: policy is by address there
EOF
}
