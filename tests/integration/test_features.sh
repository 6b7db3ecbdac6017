# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
# Kernel features (docs/kernels.md): what the loader probes, what it records
# and says, and how shunt degrades without each optional feature.
# SHUNT_FEATURES_OFF (read by the loader only) proves each degraded mode on
# any kernel; tests/run.sh also runs whole suites with features forced off.

# The recorded feature F of NODE as "state reason".
f_state() { t_shunt "$1" status --json | jq -r --arg f "$2" '.features[] | select(.name == $f) | "\(.state) \(.reason)"'; }

# A same-node transfer of SIZE each way, every byte checked; prints the
# bytes that went through the bypass.
f_transfer() { # PORT SIZE
	local dst
	dst="$(t_pod_ip n1-p2):$1"
	t_snap n1
	t_tt_server n1-p2 "$dst" --count 1 --send "$2" --expect "$2" --handshake
	t_tt_client n1-p1 "$dst" --send "$2" --expect "$2" --handshake
	t_tt_server_wait
	t_delta n1 bytes_redirected
}

# Every feature is listed with a state, and every one that is not on says
# why and what it costs; the probe agrees with bpftool and with BTF where
# they look at the same thing; `shunt load` prints the table and never
# blames RLIMIT_MEMLOCK for a refusal.
test_features_status_names_every_feature_and_why() {
	t_setup 1 2
	local j
	j=$(t_shunt n1 status --json)
	jq -e '.features | length == 20 and all(.state == "on" or .state == "off" or .state == "unused")' \
		<<<"$j" >/dev/null || t_fail "features: $(jq -c .features <<<"$j")"
	jq -e '.features | map(select(.state != "on")) | all(.why != "" and .without != "" and .reason != "")' \
		<<<"$j" >/dev/null || t_fail "a feature that is not on says nothing: $(jq -c '.features | map(select(.state != "on"))' <<<"$j")"
	jq -e '.features | map(select(.core)) | length == 10 and all(.state == "on")' <<<"$j" >/dev/null ||
		t_fail "core features: $(jq -c '.features | map(select(.core))' <<<"$j")"
	local probe btf
	probe=$(bpftool feature probe kernel 2>/dev/null)
	btf=$(bpftool btf dump file /sys/kernel/btf/vmlinux)
	if grep -q "program_type tracing is NOT available" <<<"$probe"; then
		t_eq "$(f_state n1 sock_iter)" "off refused_load" "sock_iter where tracing programs are refused"
	else
		t_eq "$(f_state n1 sock_iter)" "on " "sock_iter where tracing programs load"
	fi
	if grep -q "'btf_trace_sock_recv_length'" <<<"$btf"; then
		t_eq "$(f_state n1 rx_recv_tracepoint)" "on " "rx_recv_tracepoint (BTF has sock_recv_length)"
	else
		t_eq "$(f_state n1 rx_recv_tracepoint | cut -d' ' -f1)" off "rx_recv_tracepoint (no sock_recv_length)"
	fi
	# t_mesh_load kept what `shunt load` said.
	grep -q "feature bypass" "$T_TMP/load.err" || t_fail "load did not print the features: $(cat "$T_TMP/load.err")"
	grep -qi "ulimit" "$T_TMP/load.err" && t_fail "load suggested ulimit: $(grep -i ulimit "$T_TMP/load.err")"
	grep -q "^kernel features:" <<<"$(t_shunt n1 status)" || t_fail "status shows no features table"
}

# Every fallback that keeps the bypass: sk_msg attached to the map without
# a link, `shunt conns` from the maps; the bypass carries the bytes, conns
# sees the sockets, and unload leaves the kernel as it was.
test_features_fallbacks_keep_the_bypass_and_unload_clean() {
	export SHUNT_FEATURES_OFF=sock_iter,link_sockmap
	t_cluster_up 1 3
	local before byp objects
	before=$(t_kernel_objects)
	t_mesh_load n1
	t_eq "$(f_state n1 sock_iter)" "off forced_off" "sock_iter"
	t_eq "$(f_state n1 link_sockmap)" "off forced_off" "link_sockmap"
	t_need_bypass
	t_eq "$(t_shunt n1 status --json | jq -r '.links[] | select(.name == "shunt_sk_msg") | "\(.attached) \(.mode)"')" \
		"true prog_attach" "sk_msg attachment"
	objects=$(t_kernel_objects)
	grep -q "^link .* shunt_sk_msg" <<<"$objects" && t_fail "sk_msg has a link: $(grep shunt_sk_msg <<<"$objects")"
	byp=$(f_transfer 7300 32M)
	# (max_backlog's TCP spells, test_bypass.sh: 79% was seen)
	t_ge "$byp" $((64 * MiB * 6 / 10)) "bytes through the bypass, sk_msg without a link"
	# Connections held open show up in `shunt conns`, read from the maps.
	t_exec n1-p2 -- "$HOLD" server --listen "$(t_pod_ip n1-p2):7301" >/dev/null 2>&1 &
	T_PIDS+=($!)
	sleep 0.3
	t_exec n1-p1 -- "$HOLD" client --connect "$(t_pod_ip n1-p2):7301" --conns 1 >/dev/null 2>&1 # warm-up
	t_exec n1-p1 -- "$HOLD" client --connect "$(t_pod_ip n1-p2):7301" --conns 8 --hold 3 \
		>"$T_TMP/hold.out" 2>&1 &
	T_PIDS+=($!)
	t_wait_for 5 grep -q holding "$T_TMP/hold.out" || t_fail "hold: $(cat "$T_TMP/hold.out")"
	t_shunt n1 conns --json >"$T_TMP/conns.json" || t_fail "conns failed"
	t_ge "$(jq '[.[] | select(.remote_port == 7301 or .local_port == 7301)] | length' "$T_TMP/conns.json")" 16 \
		"sockets of 8 held connections in conns"
	jq -e 'all(.source == "maps") and (map(select(.local_port == 7301 or .remote_port == 7301)) | all(.state == "ESTABLISHED"))' \
		"$T_TMP/conns.json" >/dev/null || t_fail "conns: $(head -c 600 "$T_TMP/conns.json")"
	t_shunt n1 unload 2>/dev/null || t_fail "unload failed"
	same() { [ "$(t_kernel_objects)" = "$before" ]; }
	t_wait_for 10 same || t_fail "left in the kernel: $(diff <(echo "$before") <(t_kernel_objects))"
}

# Without a recvmsg guard the bypass is off: no socket enters the sockhash,
# bytes arrive intact over TCP, an operator cannot switch it on, and the
# rest (local congestion control here; services, policy and the proxy in
# the suites run this way) is unaffected.
test_features_bypass_off_without_a_recvmsg_guard() {
	export SHUNT_FEATURES_OFF=rx_recv_tracepoint,rx_recv_fexit
	t_setup 1 3
	t_eq "$(f_state n1 bypass)" "off needs_rx_recv" "bypass"
	t_eq "$(t_shunt n1 status --json | jq '[.links[] | select(.name | startswith("shunt_rx")) | select(.attached)] | length')" \
		0 "receive hooks attached"
	t_eq "$(f_transfer 7310 16M)" 0 "bytes through a bypass that is off"
	t_ge "$(t_delta n1 skipped.bypass_off)" 2 "connections kept out: bypass off"
	t_eq "$(t_delta n1 socks_added)" 0 "sockets put in the sockhash"
	t_ge "$(t_delta n1 cc_set)" 2 "same-node connections given local_congestion"
	t_shunt n1 config bypass_enabled=1 >/dev/null || t_fail "config set"
	t_eq "$(f_transfer 7311 8M)" 0 "bytes through the bypass after bypass_enabled=1"
	grep -q "bypass .*OFF.*no receive hook for recvmsg" <<<"$(t_shunt n1 status)" ||
		t_fail "status does not say why: $(t_shunt n1 status | grep -A1 '^  bypass')"
}

test_features_bypass_off_without_the_queue_guard() {
	export SHUNT_FEATURES_OFF=rx_queue_tracepoint
	t_setup 1 3
	t_eq "$(f_state n1 bypass)" "off needs_rx_queue" "bypass"
	t_eq "$(t_shunt n1 status --json | jq -r '[.features[] | select(.name | startswith("rx_recv_")) | .reason] | index("bypass_off") != null')" \
		true "the recvmsg hook (tracepoint or fexit), unused without its partner"
	t_eq "$(f_transfer 7320 8M)" 0 "bytes through a bypass that is off"
}

# Below Linux 6.3 (no sock_recv_length) the fexit hook guards the bypass:
# it carries bulk bytes, and still keeps splice readers and blocking readers
# out, as the tracepoint does.
test_features_fexit_guard_carries_the_bypass() {
	export SHUNT_FEATURES_OFF=rx_recv_tracepoint
	t_setup 1 3
	if [ "$(t_feature n1 rx_recv_fexit)" != on ]; then
		t_skip "rx_recv_fexit is off on this kernel: $(t_feature n1 rx_recv_fexit why)"
	fi
	t_eq "$(f_state n1 bypass)" "on " "bypass with the fexit guard"
	t_eq "$(t_shunt n1 status --json | jq -r '[.links[] | select(.name | startswith("shunt_rx_recvmsg_fx")) | select(.attached) | .type] | join(" ")')" \
		"fexit fexit" "fexit links"
	t_ge "$(f_transfer 7330 32M)" $((64 * MiB * 8 / 10)) "bytes through the bypass"
	# shellcheck source=tests/integration/test_bypass.sh
	source "$REPO/tests/integration/test_bypass.sh"
	t_receiver_case splice 0 7014
	t_receiver_case waitall 0 7015
	t_receiver_case read 50 7010
}

# recv_waits says what the kernel does: shunt-recv-wakeup's half-close case
# (a blocking read in a private sockhash, woken by FIN_WAIT2) finds the
# kernel fixed or broken, and the loader's probe recorded on, or off with
# recv_eagain, to match. Forced off, it is off whatever the kernel does.
test_features_recv_waits_matches_the_kernel() {
	t_setup 1 2
	local out verdict
	out=$("$SHUNT_OUTPUT/bin/shunt-recv-wakeup" --case half_close --runs 5) ||
		t_fail "shunt-recv-wakeup: plain TCP misbehaved or no sockhash: $out"
	verdict=$(sed -n 's/^recv_waits: \([a-z]*\) .*/\1/p' <<<"$out")
	case $verdict in
	fixed) t_eq "$(f_state n1 recv_waits)" "on " "recv_waits where the kernel keeps waiting" ;;
	broken) t_eq "$(f_state n1 recv_waits)" "off recv_eagain" "recv_waits where the read got EAGAIN early" ;;
	*) t_fail "shunt-recv-wakeup could not tell: $out" ;;
	esac
	if [ "$verdict" = broken ]; then
		# Read status whole first: grep -q stops early, and under pipefail
		# the writer's SIGPIPE would fail the pipeline.
		local status
		status=$(t_shunt n1 status)
		grep -q "recv_waits .*EAGAIN" <<<"$status" ||
			t_fail "status does not say why: $(grep recv_waits <<<"$status")"
	fi
}

test_features_recv_waits_can_be_forced_off() {
	export SHUNT_FEATURES_OFF=recv_waits
	t_setup 1 2
	t_eq "$(f_state n1 recv_waits)" "off forced_off" "recv_waits"
}

test_features_forcing_off_a_core_or_unknown_feature_is_refused() {
	t_cluster_up 1 2
	local cg
	cg=$(t_node_field n1 cgroup)
	SHUNT_FEATURES_OFF=btf t_shunt n1 load --cgroup "$cg" 2>"$T_TMP/err" && t_fail "btf forced off"
	grep -q "core feature" "$T_TMP/err" || t_fail "unclear: $(cat "$T_TMP/err")"
	SHUNT_FEATURES_OFF=warp_drive t_shunt n1 load --cgroup "$cg" 2>"$T_TMP/err" && t_fail "unknown feature"
	grep -q "no feature named 'warp_drive'" "$T_TMP/err" || t_fail "unclear: $(cat "$T_TMP/err")"
	[ ! -e "$(t_node_field n1 pin_dir)" ] || t_fail "something was loaded"
}

# Two agents on one host and one metrics port: the second refuses to start
# before it touches the kernel, instead of applying and then exiting.
test_agent_refuses_a_taken_metrics_port_before_loading() {
	t_cluster_up 2 2
	T_METRICS=127.0.0.1:19464 t_agent_start n1
	local rc=0
	timeout 10 "$SHUNT" --pin-dir "$(t_node_field n2 pin_dir)" agent --config "$MESH_CONFIG" --node n2 \
		--cgroup "$(t_node_field n2 cgroup)" --metrics 127.0.0.1:19464 >"$T_TMP/agent2.log" 2>&1 || rc=$?
	[ $rc != 0 ] && [ $rc != 124 ] || t_fail "second agent: rc $rc: $(tail -2 "$T_TMP/agent2.log")"
	grep -q "cannot serve metrics on 127.0.0.1:19464.*not starting" "$T_TMP/agent2.log" ||
		t_fail "unclear: $(tail -2 "$T_TMP/agent2.log")"
	[ ! -e "$(t_node_field n2 pin_dir)" ] || t_fail "the second agent loaded the datapath"
	curl -fsS http://127.0.0.1:19464/healthz >/dev/null || t_fail "the first agent stopped serving"
}
