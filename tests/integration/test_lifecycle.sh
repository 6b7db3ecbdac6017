# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
# Loading, reloading and unloading the datapath.

test_load_twice_does_not_double_attach() {
	t_setup 1 2
	local cg before after links_before
	cg=$(t_node_field n1 cgroup)
	before=$(t_cgroup_progs "$cg")
	t_eq "$before" "shunt_connect4 shunt_connect6 shunt_getpeername4 shunt_getpeername6 shunt_ingress shunt_recvmsg4 shunt_recvmsg6 shunt_sendmsg4 shunt_sendmsg6 shunt_sockops " \
		"programs on the node cgroup"
	links_before=$(t_kernel_objects | grep -c '^link')
	t_shunt n1 load --cgroup "$cg" 2>/dev/null || t_fail "second load failed"
	after=$(t_cgroup_progs "$cg")
	t_eq "$after" "$before" "programs on the node cgroup after a second load"
	t_eq "$(t_kernel_objects | grep -c '^link')" "$links_before" "shunt links in the kernel"
}

test_load_on_another_cgroup_is_refused() {
	t_setup 1 2
	local other
	other=$(t_pod_field n1-p1 cgroup)
	if t_shunt n1 load --cgroup "$other" 2>"$T_TMP/err"; then
		t_fail "load on a second cgroup succeeded"
	fi
	grep -q "already attached to another cgroup" "$T_TMP/err" || t_fail "unclear error: $(cat "$T_TMP/err")"
}

# The datapath lives in pins and links, not in a process: the loading
# `shunt` has exited long before the traffic, and it still works.
test_unload_leaves_the_machine_as_it_found_it() {
	trap t_cleanup EXIT
	QUIET=1 "$CLUSTER" down >/dev/null 2>&1 || true
	QUIET=1 "$CLUSTER" up --nodes 1 --pods 2 || t_fail "cluster up"
	local cg before after pins
	cg=$(t_node_field n1 cgroup)
	pins=$(t_node_field n1 pin_dir)
	before=$(t_kernel_objects)
	t_mesh_load n1
	local dst
	dst="$(t_pod_ip n1-p2):7100"
	t_tt_server n1-p2 "$dst" --count 1 --send 16M --expect 16M --handshake
	t_tt_client n1-p1 "$dst" --send 16M --expect 16M --handshake
	t_tt_server_wait
	t_shunt n1 unload 2>/dev/null || t_fail "unload failed"
	[ ! -e "$pins" ] || t_fail "$pins still exists: $(find "$pins")"
	t_eq "$(t_cgroup_progs "$cg")" "" "programs left on the cgroup"
	# Freed maps leave the kernel's lists after an RCU grace period.
	same() { [ "$(t_kernel_objects)" = "$before" ]; }
	t_wait_for 10 same || t_fail "left in the kernel: $(diff <(echo "$before") <(t_kernel_objects))"
}

# Unloading while data flows: redirected data still queued is read before
# the sockhash goes, and the connection carries on over plain TCP.
test_unload_during_a_transfer_loses_nothing() {
	t_setup 1 2
	local dst
	dst="$(t_pod_ip n1-p2):7101"
	t_tt_server n1-p2 "$dst" --count 1 --send 1G --expect 1G --handshake
	t_exec n1-p1 -- "$TT" client --connect "$dst" --warmup --send 1G --expect 1G --handshake \
		>"$T_TMP/client.out" 2>&1 &
	local client=$!
	T_PIDS+=($client)
	sleep 0.3
	t_shunt n1 unload 2>/dev/null || t_fail "unload failed"
	wait "$client" || t_fail "client: $(tail -1 "$T_TMP/client.out")"
	t_tt_server_wait
	grep -q '"received":1073741824' "$T_TMP/client.out" || t_fail "client: $(tail -1 "$T_TMP/client.out")"
}

test_status_reads_pins_and_speaks_json() {
	t_setup 1 2
	t_shunt n1 status >"$T_TMP/status.txt" || t_fail "status failed"
	grep -q "shunt_sockops" "$T_TMP/status.txt" || t_fail "status lists no sockops link"
	# sockops, sk_msg and 9 services/policy links, plus the receive hooks
	# this kernel gives the bypass: every expected one attached, no other.
	t_shunt n1 status --json | jq -e '.loaded and (.links | map(select(.expected)) | length >= 11)
		and (.links | map(select(.expected)) | all(.attached))
		and (.links | map(select(.expected | not)) | all(.attached | not))
		and (.features | length == 20) and (.features | map(select(.core)) | all(.state == "on"))' \
		>/dev/null || t_fail "status --json: $(t_shunt n1 status --json | jq -c '{links, features}')"
	grep -q "^kernel features:" "$T_TMP/status.txt" || t_fail "status shows no kernel features table"
	t_eq "$(t_shunt n1 workload list --json | jq length)" 4 "workload addresses listed"
	# bpftool shows field names, thanks to BTF.
	# (into a file: grep -q would end the pipe early and pipefail see SIGPIPE)
	bpftool map dump pinned "$(t_node_field n1 pin_dir)/maps/shunt_workloads" >"$T_TMP/dump.txt" ||
		t_fail "bpftool map dump failed"
	grep -q netns_cookie "$T_TMP/dump.txt" || t_fail "bpftool map dump shows no field names"
}

test_workload_errors_change_nothing() {
	t_setup 1 2
	local before
	before=$(t_shunt n1 workload list --json)
	t_shunt n1 workload add bad --ip 10.0.0.300 --netns "$(t_pod_field n1-p1 netns)" 2>/dev/null &&
		t_fail "an invalid address was accepted"
	# An address already owned by another workload: refused, nothing written.
	t_shunt n1 workload add thief --ip 10.9.9.9 --ip "$(t_pod_ip n1-p1)" \
		--netns "$(t_pod_field n1-p2 netns)" 2>/dev/null && t_fail "a taken address was accepted"
	t_shunt n1 workload add ghost --ip 10.9.9.8 --netns no-such-netns 2>/dev/null &&
		t_fail "a missing netns was accepted"
	t_eq "$(t_shunt n1 workload list --json)" "$before" "workloads after refused changes"
}

test_config_changes_apply_at_once() {
	t_setup 1 2
	local dst
	dst="$(t_pod_ip n1-p2):7102"
	t_shunt n1 config bypass_enabled=0 >/dev/null || t_fail "config set failed"
	t_snap n1
	t_tt_server n1-p2 "$dst" --count 1 --send 8M --expect 8M --handshake
	t_tt_client n1-p1 "$dst" --send 8M --expect 8M --handshake
	t_tt_server_wait
	t_eq "$(t_delta n1 bytes_redirected)" 0 "bytes redirected with the bypass off"
	# Only sockets in the sockhash run sk_msg: none where the bypass is off.
	! t_bypass_on n1 || t_ge "$(t_delta n1 tcp_msgs.disabled)" 1 "sends counted as disabled"
	t_shunt n1 config bypass_enabled=nope 2>/dev/null && t_fail "a bad value was accepted"
	t_shunt n1 config no_such_key=1 2>/dev/null && t_fail "an unknown key was accepted"
	t_eq "$(t_shunt n1 config --json | jq .bypass_enabled)" 0 "bypass_enabled after refused changes"
}
