# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
# The node agent: reloads on file change and SIGHUP, rejects bad configs
# without touching the kernel, survives kill -9 without disturbing
# traffic, and serves /metrics and /healthz. Cluster: 1 node x 3 pods with
# the cluster's own config (n1-p1 app=client, n1-p2/n1-p3 app=echo).

agent_setup() {
	t_cluster_up 1 3
	cp "$MESH_CONFIG" "$T_TMP/mesh.yaml"
	t_agent_start n1 "$T_TMP/mesh.yaml"
	t_probe_server n1-p2 echo --tcp 0.0.0.0:8080 --tcp 0.0.0.0:9090 --udp 0.0.0.0:5353
}

# The cluster config plus a policy: echo pods admit clients on 8080 only.
agent_config_with_policy() {
	sed '/^policies:/,$d' "$MESH_CONFIG"
	cat <<'EOF'
policies:
  - name: echo-in
    podSelector: {matchLabels: {app: echo}}
    ingress:
      - from: [{podSelector: {matchLabels: {app: client}}}]
        ports: [{port: 8080}]
EOF
}

# Everything the kernel holds, for before/after comparisons.
agent_kernel_state() {
	{
		t_shunt n1 workloads --json
		t_shunt n1 services --json
		t_shunt n1 policies --json
	} | jq -S -c .
}

test_agent_reloads_on_file_change_and_on_sighup() {
	agent_setup
	t_eq "$(t_probe_outcome n1-p1 10.100.1.12:9090)" ok "9090 before any policy"
	agent_config_with_policy | t_write_config "$T_TMP/mesh.yaml"
	t_wait_version n1 2
	t_eq "$(t_probe_outcome n1-p1 10.100.1.12:9090)" eperm "9090 after the policy arrived by file"
	t_eq "$(t_probe_outcome n1-p1 10.100.1.12:8080)" ok "8080 with the policy"
	# Edit in place (no rename) and signal: both paths reload.
	cp "$MESH_CONFIG" "$T_TMP/plain.yaml"
	cat "$T_TMP/plain.yaml" >"$T_TMP/mesh.yaml"
	t_wait_version n1 3
	kill -HUP "$T_AGENT_PID_n1"
	t_wait_version n1 4
	t_eq "$(t_probe_outcome n1-p1 10.100.1.12:9090)" ok "9090 after the policy was removed"
	grep -q '"msg":"applied config version 4 (SIGHUP)' "$T_TMP/agent.n1.log" ||
		t_fail "no SIGHUP apply in the log: $(tail -2 "$T_TMP/agent.n1.log")"
}

# Every file of the invalid corpus is rejected with its file:line:col
# message, and the kernel keeps exactly the state it had.
test_agent_rejects_invalid_configs_and_keeps_the_running_state() {
	agent_setup
	agent_config_with_policy | t_write_config "$T_TMP/mesh.yaml"
	t_wait_version n1 2
	local before after f n=0 rejected
	before=$(agent_kernel_state)
	for f in "$REPO"/tests/configs/invalid/*.yaml; do
		rejected=$(grep -c '"config rejected' "$T_TMP/agent.n1.log")
		t_write_config "$T_TMP/mesh.yaml" <"$f"
		t_wait_for 5 bash -c "[ \$(grep -c '\"config rejected' '$T_TMP/agent.n1.log') -gt $rejected ]" ||
			t_fail "$(basename "$f") was not rejected"
		grep '"config rejected' "$T_TMP/agent.n1.log" | tail -1 |
			grep -qF "$(head -1 "$f" | sed 's/^# expect: //' | cut -d: -f1-2)" ||
			t_fail "$(basename "$f"): rejection without its line and column: $(tail -1 "$T_TMP/agent.n1.log")"
		n=$((n + 1))
	done
	after=$(agent_kernel_state)
	[ "$before" = "$after" ] || t_fail "the kernel state changed after $n rejected configs"
	t_eq "$(t_config_version n1)" 2 "config version after $n rejected configs"
	t_eq "$(t_probe_outcome n1-p1 10.100.1.12:9090)" eperm "the old policy still denies 9090"
	t_eq "$(t_probe_outcome n1-p1 10.100.1.12:8080)" ok "the old policy still allows 8080"
	t_log "$n invalid configs rejected, kernel state unchanged"
}

# kill -9 of the agent under load: the established stream (in the bypass)
# finishes with every byte checked, connections made while the agent is
# down follow the last policy, and a new agent adopts the pinned state.
test_agent_kill_9_under_load_disturbs_nothing() {
	agent_setup
	agent_config_with_policy | t_write_config "$T_TMP/mesh.yaml"
	t_wait_version n1 2
	t_tt_server n1-p3 "10.100.1.13:8080" --count 1 --expect 3G --send 3G
	t_snap n1
	t_exec n1-p1 -- "$TT" client --connect 10.100.1.13:8080 --warmup --send 3G --expect 3G \
		>"$T_TMP/client.out" 2>&1 &
	local client=$! out
	T_PIDS+=($client)
	sleep 0.5
	kill -KILL "$T_AGENT_PID_n1"
	wait "$T_AGENT_PID_n1" 2>/dev/null
	out=$(t_probe n1-p1 10.100.1.12:8080 --count 50)
	t_eq "$(jq .ok <<<"$out")" 50 "allowed connections while the agent is down"
	t_eq "$(t_probe_outcome n1-p1 10.100.1.12:9090)" eperm "denied connection while the agent is down"
	t_agent_start n1 "$T_TMP/mesh.yaml"
	grep -q 'adopting the datapath' "$T_TMP/agent.n1.log" || t_fail "the new agent did not adopt"
	t_eq "$(t_config_version n1)" 3 "config version after adoption"
	wait "$client" || t_fail "the stream failed: $(tail -1 "$T_TMP/client.out")"
	t_tt_server_wait
	! t_bypass_on n1 || t_ge "$(t_delta n1 bytes_redirected)" $((1024 * MiB)) "bytes through the bypass during it all"
}

# Allowed traffic keeps flowing and denied traffic stays denied while the
# config is rewritten over and over (each apply flips the generation).
test_agent_config_changes_while_traffic_flows() {
	agent_setup
	agent_config_with_policy | t_write_config "$T_TMP/mesh.yaml"
	t_wait_version n1 2
	t_probe n1-p1 10.100.1.12:8080 --count 1500 --timeout-ms 1000 >"$T_TMP/allowed.json" &
	local allowed=$!
	t_probe n1-p1 10.100.1.12:9090 --count 1500 --timeout-ms 1000 >"$T_TMP/denied.json" &
	local denied=$! i
	T_PIDS+=($allowed $denied)
	for ((i = 0; i < 20; i++)); do
		# Unrelated changes: a label and a service come and go.
		agent_config_with_policy | sed "s/cluster: $SHUNT_CLUSTER_PREFIX}/cluster: $SHUNT_CLUSTER_PREFIX, round: r$i}/" |
			t_write_config "$T_TMP/mesh.yaml"
		sleep 0.1
	done
	wait "$allowed" "$denied"
	t_log "allowed: $(cat "$T_TMP/allowed.json")"
	t_log "denied: $(cat "$T_TMP/denied.json")"
	t_ge "$(t_config_version n1)" 10 "applies during the traffic"
	t_eq "$(jq .ok "$T_TMP/allowed.json")" 1500 "allowed connections that succeeded"
	t_eq "$(jq .eperm "$T_TMP/denied.json")" 1500 "denied connections refused"
}

test_agent_serves_metrics_and_healthz_and_logs_json() {
	T_METRICS=127.0.0.1:19464 agent_setup
	agent_config_with_policy | t_write_config "$T_TMP/mesh.yaml"
	t_wait_version n1 2
	t_probe n1-p1 10.100.1.12:9090 >/dev/null
	local metrics
	curl -fsS http://127.0.0.1:19464/healthz | grep -q '^ok: config version 2' || t_fail "healthz"
	metrics=$(curl -fsS http://127.0.0.1:19464/metrics) || t_fail "metrics"
	grep -q '^shunt_config_applies_total 2$' <<<"$metrics" || t_fail "applies in metrics"
	grep -q '^shunt_policy_verdicts_total{source="default/n1-p1",destination="default/n1-p2",port="9090",protocol="tcp",direction="ingress",verdict="deny"} 1$' <<<"$metrics" ||
		t_fail "no deny verdict in metrics: $(grep verdicts <<<"$metrics")"
	t_write_config "$T_TMP/mesh.yaml" <"$REPO/tests/configs/invalid/bad-address.yaml"
	t_wait_for 5 bash -c "curl -fsS http://127.0.0.1:19464/metrics | grep -q '^shunt_config_failures_total 1$'" ||
		t_fail "failure not counted"
	curl -fsS http://127.0.0.1:19464/healthz | grep -q 'last change rejected' || t_fail "healthz after a rejection"
	[ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:19464/nothing)" = 404 ] || t_fail "404"
	jq -e -c . "$T_TMP/agent.n1.log" >/dev/null || t_fail "a log line is not JSON"
}

# A datapath pinned by a shunt whose maps have another layout (here: names
# of 96 bytes, as before SHUNT_NAME_MAX) is refused, not written into.
test_agent_refuses_a_pinned_datapath_of_another_layout() {
	t_setup 1 2
	local pin maps rc=0
	pin=$(t_node_field n1 pin_dir)
	maps=$pin/maps
	rm "$maps/shunt_workload_names"
	bpftool map create "$maps/shunt_workload_names" type hash key 4 value 96 entries 16 \
		name shunt_workload_names flags 1 || t_fail "bpftool map create"
	"$SHUNT" --pin-dir "$pin" agent --config "$MESH_CONFIG" --node n1 --once \
		>"$T_TMP/agent.log" 2>&1 || rc=$?
	[ "$rc" != 0 ] || t_fail "the agent adopted maps of another layout: $(tail -2 "$T_TMP/agent.log")"
	grep -q 'shunt_workload_names' "$T_TMP/agent.log" ||
		t_fail "the refusal does not name the map: $(tail -2 "$T_TMP/agent.log")"
	t_eq "$(bpftool -j map dump pinned "$maps/shunt_workload_names" | jq length)" 0 \
		"entries written into the other layout's map"
	t_eq "$(t_shunt n1 workloads --json | jq '.workloads | length')" 0 "workloads applied"
}
