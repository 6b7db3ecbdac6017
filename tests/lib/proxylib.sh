# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
# The node proxies in integration tests (test_proxy.sh, test_l7.sh): start
# them, read their logs and metrics.

# How many of NODE's proxy log lines (JSON) the jq condition FILTER selects.
proxy_log_count() {
	jq -cR "fromjson? | select($2)" "$T_TMP/proxy.$1.log" 2>/dev/null | wc -l
}

# True once NODE's proxy log has more than N lines that FILTER selects.
proxy_log_more() { [ "$(proxy_log_count "$1" "$2")" -gt "$3" ]; }

# Waits for a line of NODE's proxy log that FILTER selects.
proxy_log_wait() {
	t_wait_for "${3:-5}" proxy_log_more "$1" "$2" 0 ||
		t_fail "$1's proxy logged nothing that matches $2: $(tail -2 "$T_TMP/proxy.$1.log")"
}

# NODE's proxy closed a stream from SOURCE to DEST cleanly (with BYTES to
# the server, if given).
proxy_stream_closed() {
	local f=".event == \"stream\" and .side == \"inbound\" and .outcome == \"closed\""
	f+=" and .source == \"$2\" and .destination == \"$3\""
	[ -z "${4:-}" ] || f+=" and .bytes_to_server == $4 and .bytes_to_client == $4"
	[ "$(proxy_log_count "$1" "$f")" -ge 1 ]
}

# A mesh CA, the agents of nodes n1 and n2 on N1_MESH (N2_MESH: n2's, if
# another), and both nodes' proxies.
proxy_mesh_up() { # N1_MESH [N2_MESH]
	"$SHUNT" ca init --dir "$T_TMP/ca" --trust-domain cluster.local >/dev/null || t_fail "ca init"
	t_agent_start n1 "$1"
	t_agent_start n2 "${2:-$1}"
	: >"$T_TMP/proxy.n1.log"
	: >"$T_TMP/proxy.n2.log"
	proxy_start n1
	proxy_start n2
}

# Starts NODE's proxy (again), its PID in PROXY_PID_<NODE>. It runs in the
# node's own network namespace, in the proxy's cgroup: the legs between
# pods and the proxy take the bypass. It follows what the node's agent
# applies (no config of its own). CONFIG_NODE: the node's name in the
# config, if not NODE. It stops at once on SIGTERM (--drain-timeout 0: the
# tests' clean-up does not wait for drains); PROXY_ARGS may say otherwise
# (test_upgrade.sh).
proxy_start() {
	local n=$1 before
	before=$(proxy_log_count "$n" '.event == "started"')
	# Not through t_exec: $! must be the proxy itself (cluster.sh execs it).
	"$CLUSTER" exec "$n-proxy" -- "$SHUNT" --pin-dir "$(t_node_field "$n" pin_dir)" proxy \
		--node "${2:-$n}" --ca "$T_TMP/ca" --threads 2 --drain-timeout 0 ${PROXY_ARGS:-} \
		>>"$T_TMP/proxy.$n.log" 2>&1 &
	printf -v "PROXY_PID_$n" '%s' $!
	T_PIDS+=($!)
	t_wait_for 15 proxy_log_more "$n" '.event == "started"' "$before" ||
		t_fail "proxy $n did not start: $(tail -3 "$T_TMP/proxy.$n.log")"
}

t_mesh_counter() { t_shunt "$1" status --json | jq -r ".mesh.$2"; }

# A failing proxy test shows what the proxies said last.
proxy_logs_on_failure() {
	local rc=$? k
	if [ $rc != 0 ] && [ -f "$T_TMP/proxy.n1.log" ]; then
		for k in 1 2; do
			echo "    proxy n$k, last lines:" >&2
			jq -rR 'fromjson? | select(.event != "stream_open" and .outcome != "peer_closed") | .msg' \
				"$T_TMP/proxy.n$k.log" 2>/dev/null | tail -4 | sed 's/^/    | /' >&2
		done
	fi
	t_cleanup
	return $rc
}

# A metric of NODE's proxy (served on the node's loopback).
proxy_metric() {
	ip netns exec "$SHUNT_CLUSTER_PREFIX-$1" curl -fsS http://127.0.0.1:9465/metrics |
		awk -v m="$2" '$1 == m { print $2 }'
}

