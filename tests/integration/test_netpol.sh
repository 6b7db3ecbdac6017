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
			select(.name == $pod) | {up: $up, node: $node, ipv4, ipv6, netns, cgroup}' "$STATE"
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

# The expected reachability of one probe spec: "FROM TO true|false" lines.
netpol_expected() { # PROBE_JSON
	jq -r --argjson probe "$1" --argjson pods "$NETPOL_PODS_JSON" '
		def m($p; $pod): $p == "*" or $p == $pod
			or (($p | endswith("/*")) and ($pod | startswith($p[:-1])));
		($pods | keys) as $all
		| $all[] as $from | $all[] as $to | select($from != $to)
		| (reduce $probe.except[] as $e ($probe.default;
			if m($e[0]; $from) and m($e[1]; $to) then $e[2] else . end)) as $want
		| "\($from) \($to) \($want)"' -n
}

# Probes every pair for PORT/PROTO at once: "FROM TO OUTCOME" lines.
netpol_observed() { # PORT PROTO
	local port=$1 flag e from to targets
	case $2 in UDP) flag=--udp ;; SCTP) flag=--sctp ;; *) flag= ;; esac
	for e in $NETPOL_PODS; do
		from=${e%%=*} targets=()
		for to in $NETPOL_ADDRS; do
			[ "${to%%=*}" = "$from" ] || targets+=("$to:$port")
		done
		# shellcheck disable=SC2086
		t_exec "${e#*=}" -- "$PROBE" reach $flag --timeout-ms 500 "${targets[@]}" |
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

# One probe spec of a step: the number of pairs that disagree (0: all right).
netpol_check() { # PROBE_JSON LABEL
	local port proto wrong
	port=$(jq -r .port <<<"$1") proto=$(jq -r .protocol <<<"$1")
	netpol_expected "$1" | sort >"$T_TMP/expected"
	netpol_observed "$port" "$proto" | sort >"$T_TMP/observed"
	wrong=$(join -j 1 <(awk '{print $1"|"$2, $3}' "$T_TMP/expected" | sort) \
		<(awk '{print $1"|"$2, $3}' "$T_TMP/observed" | sort) |
		awk '($2 == "true") != ($3 == "ok") { n++; print "      " $0 > "/dev/stderr" } END { print n + 0 }')
	if [ "$wrong" != 0 ]; then
		t_log "WRONG $2 $port/$proto: $wrong pairs (expected, observed)"
		netpol_tables "$T_TMP/expected" "$T_TMP/observed"
	fi
	echo "$wrong"
}

netpol_setup() {
	local e up
	t_cluster_up 2 5
	NETPOL_PODS_JSON=$(netpol_pods_json)
	NETPOL_ADDRS=$(jq -r 'to_entries[] | "\(.key)=\(.value.ipv4)"' <<<"$NETPOL_PODS_JSON")
	# shellcheck source=tests/integration/test_proxy.sh
	source "$REPO/tests/integration/test_proxy.sh"
	netpol_config "$(jq -c '{policies: []}' -n)" >"$T_TMP/mesh.yaml"
	"$SHUNT" ca init --dir "$T_TMP/ca" --trust-domain cluster.local >/dev/null || t_fail "ca init"
	t_agent_start n1 "$T_TMP/mesh.yaml"
	t_agent_start n2 "$T_TMP/mesh.yaml"
	: >"$T_TMP/proxy.n1.log"
	: >"$T_TMP/proxy.n2.log"
	proxy_start n1
	proxy_start n2
	for e in $NETPOL_PODS; do
		up=${e%%=*}
		t_probe_server "${e#*=}" "${up/\//-}" --tcp 0.0.0.0:80 --tcp 0.0.0.0:81 --udp 0.0.0.0:80 \
			--udp 0.0.0.0:81 --sctp 0.0.0.0:80 --sctp 0.0.0.0:81
	done
	NETPOL_SCTP=1
	grep -q unsupported <<<"$(t_exec n1-p1 -- "$PROBE" reach --sctp --timeout-ms 100 x=127.0.0.1:9)" &&
		NETPOL_SCTP=0
}

# Writes STEP's config and waits until both nodes run it.
netpol_apply() { # STEP_JSON
	local v1 v2
	v1=$(t_config_version n1) v2=$(t_config_version n2)
	netpol_config "$1" | t_write_config "$T_TMP/mesh.yaml"
	t_wait_version n1 $((v1 + 1))
	t_wait_version n2 $((v2 + 1))
}

test_netpol_upstream_cases_in_sequence() {
	netpol_setup
	local ncases nsteps i s j case step probe label wrong=0 probes=0 skipped=0 n
	[ $NETPOL_SCTP = 1 ] || t_log "no SCTP in this kernel: SCTP probes are skipped"
	ncases=$(jq '.cases | length' "$NETPOL_CASES")
	for ((i = 0; i < ncases; i++)); do
		case=$(jq -c ".cases[$i]" "$NETPOL_CASES")
		nsteps=$(jq '.steps | length' <<<"$case")
		for ((s = 0; s < nsteps; s++)); do
			step=$(jq -c ".steps[$s]" <<<"$case")
			netpol_apply "$step"
			for ((j = 0; j < $(jq '.probes | length' <<<"$step"); j++)); do
				probe=$(jq -c ".probes[$j]" <<<"$step")
				if [ "$(jq -r .protocol <<<"$probe")" = SCTP ] && [ $NETPOL_SCTP = 0 ]; then
					skipped=$((skipped + 1))
					continue
				fi
				label="case $((i + 1)) '$(jq -r .name <<<"$case")' step $((s + 1))"
				n=$(netpol_check "$probe" "$label")
				probes=$((probes + 1))
				[ "$n" = 0 ] || wrong=$((wrong + 1))
			done
		done
	done
	t_log "$ncases cases, $probes probes of 72 pairs each, $wrong wrong, $skipped SCTP probes skipped"
	[ $wrong = 0 ] || t_fail "$wrong of $probes probes gave the wrong reachability (see above)"
}
