# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
# The same-node bypass: what it carries, and that it never loses, reorders
# or stalls a byte. Pods: n1-p1..p3 on node 1, n2-p1..p3 on node 2.

# 256 MiB each way at once, verified byte by byte at both ends.
test_integrity_256mib_each_way_goes_through_bypass() {
	t_bypass_known_off
	t_setup
	t_need_bypass
	local dst veth_before veth_after byp
	dst="$(t_pod_ip n1-p2):7000"
	t_snap n1
	veth_before=$(($(t_veth_bytes n1-p1) + $(t_veth_bytes n1-p2)))
	t_tt_server n1-p2 "$dst" --count 1 --send 256M --expect 256M --handshake
	t_tt_client n1-p1 "$dst" --send 256M --expect 256M --handshake
	t_tt_server_wait
	veth_after=$(($(t_veth_bytes n1-p1) + $(t_veth_bytes n1-p2)))
	byp=$(t_delta n1 bytes_redirected)
	t_log "bypass carried $((byp / MiB)) MiB, TCP $(($(t_delta n1 bytes_tcp) / MiB)) MiB, veths $(((veth_after - veth_before) / 1024)) KiB"
	# Most of it; a receiver that falls max_backlog behind sends its peer
	# through TCP for a while (by design), which a loaded machine provokes:
	# 71% to 100% over 10 runs on the 2-core VM (2026-12-03), old and new
	# builds alike. Without the bypass it is 0.
	t_ge "$byp" $((512 * MiB * 60 / 100)) "bytes through the bypass"
	# What the bypass carried never touched the pods' veths; a byte sent
	# through TCP crosses both pods' veths, so it counts twice there.
	t_le $((veth_after - veth_before)) $((2 * (512 * MiB - byp) + 4 * MiB)) "bytes on the veths"
}

test_ipv6_goes_through_bypass_like_ipv4() {
	t_bypass_known_off
	t_setup
	t_need_bypass
	local dst
	dst="[$(t_pod_ip n1-p2 ipv6)]:7001"
	t_snap n1
	t_tt_server n1-p2 "$dst" --count 1 --send 64M --expect 64M --handshake
	t_tt_client n1-p1 "$dst" --send 64M --expect 64M --handshake
	t_tt_server_wait
	# (max_backlog's TCP spells, as above: 80% was seen)
	t_ge "$(t_delta n1 bytes_redirected)" $((128 * MiB * 60 / 100)) "IPv6 bytes through the bypass"
}

# Where NODE has the bypass, at least PERCENT of TOTAL bytes (both ways)
# went through it since t_snap; elsewhere only the bytes' arrival is tested.
t_expect_bypassed() { # NODE TOTAL PERCENT WHAT
	t_bypass_on "$1" || return 0
	local byp
	byp=$(t_delta "$1" bytes_redirected)
	t_log "$4: $((byp * 100 / $2))% of $(($2 / 1024)) KiB through the bypass"
	t_ge $((byp * 100 / $2)) "$3" "percent of $4 through the bypass"
}

# Writes of every size from 1 byte to 64 KiB, in a random mix.
test_mixed_write_sizes_keep_every_byte() {
	t_setup
	local dst
	dst="$(t_pod_ip n1-p2):7002"
	t_snap n1
	t_tt_server n1-p2 "$dst" --count 1 --send 64M --expect 64M --write-size mixed
	t_tt_client n1-p1 "$dst" --send 64M --expect 64M --write-size mixed
	t_tt_server_wait
	t_expect_bypassed n1 $((128 * MiB)) 50 "mixed-size writes"
}

# 200 long connections (4 MiB each way) and 200 short ones (1 KiB) at once.
test_200_parallel_connections_both_directions() {
	t_bypass_known_off
	t_setup
	t_need_bypass
	local long short
	long="$(t_pod_ip n1-p2):7003"
	short="$(t_pod_ip n1-p3):7004"
	t_snap n1
	t_tt_server n1-p2 "$long" --count 200 --send 4M --expect 4M
	local long_pid=$T_SERVER_PID
	t_tt_server n1-p3 "$short" --count 2000 --send 1K --expect 1K
	t_exec n1-p1 -- "$TT" client --connect "$long" --warmup --conns 200 --send 4M --expect 4M \
		>"$T_TMP/long.out" 2>&1 &
	local client_pid=$!
	T_PIDS+=($client_pid)
	t_tt_client n1-p1 "$short" --conns 200 --repeat 10 --send 1K --expect 1K
	wait "$client_pid" || t_fail "long connections: $(tail -1 "$T_TMP/long.out")"
	t_tt_server_wait
	T_SERVER_PID=$long_pid
	t_tt_server_wait
	# Both ends of every connection, the two warm-ups' included.
	t_eq "$(t_delta n1 socks_added)" 4404 "sockets added"
	t_ge "$(t_delta n1 bytes_redirected)" $((200 * 4 * MiB)) "bytes through the bypass"
}

test_client_half_closes_first() {
	t_setup
	local dst
	dst="$(t_pod_ip n1-p2):7005"
	t_snap n1
	t_tt_server n1-p2 "$dst" --count 1 --expect 8M --reply --send 8M
	t_tt_client n1-p1 "$dst" --send 8M --first --expect 8M
	t_tt_server_wait
	t_expect_bypassed n1 $((16 * MiB)) 50 "a client half-closing first"
}

test_server_closes_first() {
	t_setup
	local dst
	dst="$(t_pod_ip n1-p2):7006"
	t_snap n1
	t_tt_server n1-p2 "$dst" --count 1 --send 8M --first --expect 8M
	t_tt_client n1-p1 "$dst" --expect 8M --reply --send 8M
	t_tt_server_wait
	t_expect_bypassed n1 $((16 * MiB)) 50 "a server closing first"
}

# Both ends send and half-close at the same time, in either order, 300 times.
test_simultaneous_half_close_races() {
	t_setup
	local dst
	dst="$(t_pod_ip n1-p2):7007"
	t_snap n1
	t_tt_server n1-p2 "$dst" --count 300 --send 64K --expect 64K --first
	t_tt_client n1-p1 "$dst" --conns 30 --repeat 10 --send 64K --expect 64K --first
	t_tt_server_wait
	t_expect_bypassed n1 $((300 * 128 * 1024)) 50 "simultaneous half-closes"
}

# A reset after bypassed data reaches the peer as ECONNRESET, not EOF or a hang.
test_reset_reaches_the_peer() {
	t_setup
	local dst
	dst="$(t_pod_ip n1-p2):7008"
	t_snap n1
	t_tt_server n1-p2 "$dst" --count 1 --expect 4M --ack --expect-reset --handshake
	t_tt_client n1-p1 "$dst" --send 4M --ack --close reset --handshake
	t_tt_server_wait
	! t_bypass_on n1 || t_ge "$(t_delta n1 bytes_redirected)" 1 "bytes through the bypass before the reset"
}

# Receivers that see redirected data correctly get it through the bypass.
# The first connection shows how the server reads; from the second on, its
# connections are trusted (or not) from their first byte.
t_receiver_case() { # METHOD MIN_BYPASS_PERCENT PORT
	local method=$1 min=$2 dst
	dst="$(t_pod_ip n1-p2):$3"
	t_snap n1
	t_tt_server n1-p2 "$dst" --count 1 --expect 64M --recv "$method" --write-size mixed
	t_tt_client n1-p1 "$dst" --send 64M --write-size mixed
	t_tt_server_wait
	local byp pct
	byp=$(t_delta n1 bytes_redirected)
	pct=$((byp * 100 / (64 * MiB)))
	t_log "$method: $((byp / MiB)) MiB of 64 through the bypass"
	# where the rest went, for the failure's message
	[ "$pct" -ge "$min" ] || t_log "$method: counters changed: $(t_delta_changed n1)"
	t_ge "$pct" "$min" "percent through the bypass for a $method receiver"
	[ "$min" -gt 0 ] || t_eq "$byp" 0 "bytes redirected to a $method receiver"
}
# Each server's warm-up connection used the same read method. A reader slower
# than its writer builds a backlog; past max_backlog the writer is handed to
# TCP for flow control for a while, so the share varies with the machine's
# load (a read receiver got 25% in one fresh-clone run on the 2-core VM,
# where it usually gets most; a peek receiver 12% once, where it usually
# gets about 80% with two or more such handbacks). These assert a clear
# share; without the bypass it is 0.
test_receiver_read() { t_bypass_known_off; t_setup; t_need_bypass; t_receiver_case read 20 7010; }
test_receiver_msg_peek() { t_bypass_known_off; t_setup; t_need_bypass; t_receiver_case peek 5 7011; }
test_receiver_fionread() { t_bypass_known_off; t_setup; t_need_bypass; t_receiver_case fionread 20 7012; }
test_receiver_epoll() { t_bypass_known_off; t_setup; t_need_bypass; t_receiver_case epoll 20 7013; }

# splice() never sees redirected data and MSG_WAITALL is not honoured for
# it: such receivers are admitted but never proven, so nothing is redirected
# to them, and every byte arrives intact through TCP.
test_receiver_splice_is_kept_on_tcp() {
	t_bypass_known_off
	t_setup
	t_need_bypass
	t_receiver_case splice 0 7014
	t_ge $(($(t_delta n1 tcp_msgs.rx_unproven) + $(t_delta n1 tcp_msgs.rx_other_read))) 1 \
		"sends to a splice reader kept on TCP by the receive guard"
}
test_receiver_msg_waitall_is_kept_on_tcp() {
	t_bypass_known_off
	t_setup
	t_need_bypass
	t_receiver_case waitall 0 7015
	t_ge "$(t_delta n1 tcp_msgs.rx_waitall)" 1 "sends to a MSG_WAITALL reader kept on TCP"
}

# In a sockhash, a blocking recvmsg woken without data returns EAGAIN
# instead of waiting (kernels without the recv_waits fix): after
# shutdown(SHUT_WR) the FIN_WAIT2 state change does that every time. Blocking
# sockets are admitted; a half-closing one leaves the sockhash inside
# shutdown(), so its blocking reads are plain TCP by then. 20 blocking
# clients send 64 KiB, half-close, and read a 64 KiB reply from a blocking
# server: every byte right (shunt-tt checks), no early EAGAIN, and the
# requests went through the bypass.
test_blocking_reader_after_half_close_gets_its_data() {
	t_bypass_known_off
	t_setup
	t_need_bypass
	local dst
	dst="$(t_pod_ip n1-p2):7016"
	t_snap n1
	t_tt_server n1-p2 "$dst" --count 20 --expect 64K --reply --send 64K --blocking
	t_tt_client n1-p1 "$dst" --repeat 20 --send 64K --first --expect 64K --blocking
	t_tt_server_wait
	# Both ends of the 20 connections and of the warm-up.
	t_eq "$(t_delta n1 socks_added)" 42 "blocking sockets put in the sockhash"
	t_eq "$(t_delta n1 rx_early_eagain)" 0 "blocking reads that got EAGAIN early"
	if [ "$(t_feature n1 recv_waits)" != on ]; then
		t_ge "$(t_delta n1 halfclose_left)" 20 "half-closing clients that left at shutdown"
	fi
	t_ge "$(t_delta n1 bytes_redirected)" $((19 * 64 * 1024)) "request bytes through the bypass"
}

# 10,000 short connections: every side-table entry goes away with its socket.
test_10000_short_connections_leave_no_entries() {
	t_bypass_known_off
	t_setup
	t_need_bypass
	local dst
	dst="$(t_pod_ip n1-p2):7020"
	t_snap n1
	t_tt_server n1-p2 "$dst" --count 10000 --send 100 --expect 100
	t_tt_client n1-p1 "$dst" --conns 50 --repeat 200 --send 100 --expect 100
	t_tt_server_wait
	empty() { [ "$(t_maps n1 | jq '.socks + .endpoints')" = 0 ]; }
	t_wait_for 10 empty || t_fail "entries left behind: $(t_maps n1)"
	# Both ends of 10,000 connections and of the warm-up. A port the
	# kernel gives again while the application has not yet closed the
	# ended connection's socket, with bypass bytes unread, finds its key
	# in the sockhash (docs/datapath.md "Cleanup"): that connection stays
	# on TCP, its first end counted as insert_fail, its other end as
	# peer_skipped if it came second. Rare (a few in 100 runs); nothing
	# else may keep one out.
	local busy peer added
	busy=$(t_delta n1 skipped.insert_fail)
	peer=$(t_delta n1 skipped.peer_skipped)
	added=$(t_delta n1 socks_added)
	t_le "$busy" 5 "connections whose key was still in the sockhash"
	t_le "$peer" "$busy" "ends skipped for their peer"
	t_eq "$((added + busy + peer))" 20002 "sockets added, or kept out with their peer: $(t_delta_changed n1)"
	t_eq "$(t_delta n1 socks_closed)" "$added" "sockets cleaned up at close"
}

# Only same-node mesh-to-mesh connections are touched.
test_cross_node_traffic_is_not_touched() {
	local T_NO_WARMUP=1
	t_setup
	local dst
	dst="$(t_pod_ip n2-p1):7030"
	t_snap n1
	t_snap n2
	t_tt_server n2-p1 "$dst" --count 1 --send 8M --expect 8M
	t_tt_client n1-p1 "$dst" --send 8M --expect 8M
	t_tt_server_wait
	t_eq "$(t_delta n1 socks_added)" 0 "sockets added on node 1"
	t_eq "$(t_delta n2 socks_added)" 0 "sockets added on node 2"
	t_eq "$(t_delta n1 skipped.remote_off_node)" 1 "connections seen as cross-node on node 1"
}

test_traffic_to_the_host_is_not_touched() {
	local T_NO_WARMUP=1
	t_setup
	local dst
	dst="$(t_node_field n1 gateway_ipv4):7031"
	t_snap n1
	t_tt_server n1 "$dst" --count 1 --send 8M --expect 8M
	t_tt_client n1-p1 "$dst" --send 8M --expect 8M
	t_tt_server_wait
	t_eq "$(t_delta n1 socks_added)" 0 "sockets added"
	t_eq "$(t_delta n1 skipped.remote_not_mesh)" 1 "connections to a non-mesh address"
}

# A process in a pod's netns but outside the mesh cgroup is not mesh.
test_traffic_to_a_non_mesh_process_is_not_touched() {
	local T_NO_WARMUP=1
	t_bypass_known_off
	t_setup
	t_need_bypass
	local dst
	dst="$(t_pod_ip n1-p2):7032"
	t_snap n1
	t_tt_server "--outside n1-p2" "$dst" --count 1 --send 8M --expect 8M
	t_tt_client n1-p1 "$dst" --send 8M --expect 8M
	t_tt_server_wait
	t_eq "$(t_delta n1 bytes_redirected)" 0 "bytes redirected"
	t_eq "$(t_delta n1 socks_added)" 1 "sockets added (the mesh client's only)"
}

# Equal tuples in another netns never match a workload's sockets.
test_same_addresses_in_another_netns_do_not_collide() {
	t_setup
	local rogue=${SHUNT_CLUSTER_PREFIX}-rogue ip
	ip=$(t_pod_ip n1-p2)
	ip netns add "$rogue" || t_fail "netns add"
	trap 'ip netns del '"$rogue"' 2>/dev/null; t_cleanup' EXIT
	ip -n "$rogue" link set lo up
	ip -n "$rogue" addr add "$ip/32" dev lo
	ip -n "$rogue" addr add "$(t_pod_ip n1-p1)/32" dev lo
	t_snap n1
	# Both ends in the rogue netns, inside node 1's mesh cgroup.
	local cg
	cg=$(t_pod_field n1-p1 cgroup)
	sh -c "echo \$\$ > $cg/cgroup.procs; exec ip netns exec $rogue $TT server --listen $ip:7033 --count 1 --send 8M --expect 8M" >"$T_TMP/server.out" 2>&1 &
	T_SERVER_PID=$!
	T_PIDS+=($!)
	t_wait_for 5 grep -q listening "$T_TMP/server.out" || t_fail "rogue server did not start"
	sh -c "echo \$\$ > $cg/cgroup.procs; exec ip netns exec $rogue $TT client --connect $ip:7033 --send 8M --expect 8M" >"$T_TMP/client.out" 2>&1 ||
		t_fail "rogue client: $(tail -1 "$T_TMP/client.out")"
	t_tt_server_wait
	t_eq "$(t_delta n1 socks_added)" 0 "sockets added for the rogue netns"
	t_ge "$(t_delta n1 skipped.netns_mismatch)" 1 "connections refused for netns mismatch"
}

# Congestion control of every connection ESTABLISHED from/to a server in
# netns NS (port PORT), one name per line, sorted and unique.
t_conn_cc() { # NS PORT
	ip netns exec "$1" ss -tniH state established "( sport = :$2 or dport = :$2 )" |
		awk 'NR % 2 == 0 { print $1 }' | sort -u
}

# Same-node mesh connections get local_congestion (both ends); a connection
# to another node and one of a process outside the mesh keep the node's
# default. A name the kernel cannot set is refused and changes nothing.
test_same_node_connections_get_local_congestion() {
	t_setup
	local ns1 ns2 default cc c
	ns1=$(t_pod_field n1-p1 netns)
	ns2=$(t_pod_field n1-p2 netns)
	default=$(ip netns exec "$ns1" sysctl -n net.ipv4.tcp_congestion_control)
	cc=""
	for c in reno cubic bbr; do
		grep -qw "$c" /proc/sys/net/ipv4/tcp_available_congestion_control && [ "$c" != "$default" ] &&
			{ cc=$c; break; }
	done
	[ -n "$cc" ] || t_skip "only one congestion control available ($default): nothing to tell apart"
	t_shunt n1 config local_congestion="$cc" >/dev/null || t_fail "local_congestion=$cc refused"
	t_snap n1
	t_exec n1-p2 -- "$HOLD" server --listen "$(t_pod_ip n1-p2):7310" >"$T_TMP/hs1.out" 2>&1 &
	T_PIDS+=($!)
	t_exec --outside n1-p2 -- "$HOLD" server --listen "$(t_pod_ip n1-p2):7311" >"$T_TMP/hs2.out" 2>&1 &
	T_PIDS+=($!)
	t_exec n2-p2 -- "$HOLD" server --listen "$(t_pod_ip n2-p2):7312" >"$T_TMP/hs3.out" 2>&1 &
	T_PIDS+=($!)
	sleep 0.3
	local dst
	for dst in "n1-p1 $(t_pod_ip n1-p2):7310" "--outside n1-p1 $(t_pod_ip n1-p2):7311" \
		"n1-p1 $(t_pod_ip n2-p2):7312"; do
		# shellcheck disable=SC2086
		t_exec ${dst% *} -- "$HOLD" client --connect "${dst##* }" --conns 4 --hold 3 \
			>"$T_TMP/hc-${dst##*:}.out" 2>&1 &
		T_PIDS+=($!)
	done
	for c in 7310 7311 7312; do
		t_wait_for 10 grep -q holding "$T_TMP/hc-$c.out" ||
			t_fail "connections to port $c: $(cat "$T_TMP/hc-$c.out")"
	done
	t_eq "$(t_conn_cc "$ns1" 7310)" "$cc" "client side of a same-node mesh connection"
	t_eq "$(t_conn_cc "$ns2" 7310)" "$cc" "server side of a same-node mesh connection"
	t_eq "$(t_conn_cc "$ns1" 7311)" "$default" "a connection of a process outside the mesh"
	t_eq "$(t_conn_cc "$ns1" 7312)" "$default" "a connection to another node"
	t_eq "$(t_delta n1 cc_set)" 8 "sockets given local_congestion"
	t_eq "$(t_delta n1 cc_failed)" 0 "sockets the kernel refused"

	t_shunt n1 config local_congestion=no-such-cc 2>/dev/null && t_fail "an unknown name was accepted"
	t_shunt n1 config local_congestion=cdg 2>/dev/null && t_fail "cdg (refused from BPF) was accepted"
	t_shunt n1 config local_congestion=averyveryverylongname 2>/dev/null && t_fail "a long name was accepted"
	t_eq "$(t_shunt n1 config --json | jq -r .local_congestion)" "$cc" "local_congestion after refused changes"
	t_shunt n1 config local_congestion= >/dev/null || t_fail "an empty name (node default) was refused"
	t_eq "$(t_shunt n1 config --json | jq -r .local_congestion)" "" "local_congestion switched off"
}

# Wakeups shunt cannot see coming make the kernel's sockhash recvmsg return
# EAGAIN early to a blocking read (the named exposures of docs/datapath.md;
# a kernel with the recv_waits fix has none). The receive hook counts each
# by cause and program.
#
# Send-buffer space: one thread blocks in recv while another's blocking send
# waits for buffer space on the same socket (its first bytes go through TCP:
# the server has not read yet). The first connection's reader gets EAGAIN;
# that kind of connection's blocking sockets then stay on TCP, so the second
# connection is not admitted and its reader gets its byte.
# A server in n1-p2 for two connections: each gets DRAIN bytes read (after
# half a second), then one byte "x" and a close. Runs in the background;
# T_SERVER is its pid.
t_one_byte_server() { # PORT DRAIN
	t_exec n1-p2 -- /usr/bin/python3 -c '
import socket, sys, time
l = socket.create_server((sys.argv[1], int(sys.argv[2])))
for _ in range(2):
    c, _ = l.accept(); time.sleep(0.5)
    left = int(sys.argv[3])
    while left:
        left -= len(c.recv(1 << 20))
    time.sleep(0.2); c.sendall(b"x"); c.close()
' "$(t_pod_ip n1-p2)" "$1" "$2" &
	T_SERVER=$!
	T_PIDS+=("$T_SERVER")
	sleep 0.5
}

t_threaded_client() { # DST_IP PORT -> what the reading thread got
	t_exec n1-p1 -- /usr/bin/python3 -c '
import socket, sys, threading
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
got = []
def reader():
    try:
        got.append("data" if s.recv(1) == b"x" else "eof")
    except BlockingIOError:
        got.append("eagain")
t = threading.Thread(target=reader); t.start()
s.sendall(b"y" * (16 << 20))
t.join(); print(got[0])
' "$1" "$2"
}
test_early_eagain_from_send_space_keeps_that_kind_on_tcp() {
	t_bypass_known_off
	t_setup
	t_need_bypass
	[ "$(t_feature n1 recv_waits)" = on ] && t_skip "recv_waits is on: this kernel keeps waiting"
	local ip first second
	ip=$(t_pod_ip n1-p2)
	t_snap n1
	t_one_byte_server 7030 $((16 << 20))
	first=$(t_threaded_client "$ip" 7030)
	second=$(t_threaded_client "$ip" 7030)
	wait "$T_SERVER" || t_fail "server failed"
	t_log "first reader: $first, second reader: $second"
	t_eq "$first" eagain "the first reader (kernel without the fix)"
	t_eq "$(t_shunt n1 status --json | jq -r '[.coverage.programs[] | select(.path == "early_eagain" and .reason == "woken") | .program] | first')" \
		python3 "program named for the early EAGAIN"
	t_eq "$(t_delta n1 skipped.early_eagain)" 1 "the second connection kept on TCP"
	t_eq "$second" data "the second reader, on TCP"
}

# A signal during a blocking read: counted with its program, and not learned
# (docs/datapath.md: the signals that wake blocking reads mostly end a run),
# so the next connection still takes the bypass.
t_signal_reader() { # DST_IP PORT -> what the blocking read returned
	t_exec n1-p1 -- /usr/bin/python3 -c '
import signal, socket, sys
signal.signal(signal.SIGALRM, lambda *a: None)
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
signal.setitimer(signal.ITIMER_REAL, 0.1)
try:
    print("data" if s.recv(1) == b"x" else "eof")
except BlockingIOError:
    print("eagain")
' "$1" "$2"
}
test_signal_during_a_blocking_read_is_counted_not_learned() {
	t_bypass_known_off
	t_setup
	t_need_bypass
	[ "$(t_feature n1 recv_waits)" = on ] && t_skip "recv_waits is on: this kernel keeps waiting"
	local ip first second
	ip=$(t_pod_ip n1-p2)
	t_snap n1
	t_one_byte_server 7031 0
	first=$(t_signal_reader "$ip" 7031)
	second=$(t_signal_reader "$ip" 7031)
	wait "$T_SERVER" || t_fail "server failed"
	t_log "first read: $first, second read: $second"
	t_eq "$first" eagain "the first read (kernel without the fix)"
	t_eq "$(t_delta n1 rx_early_eagain)" 2 "early EAGAINs counted"
	t_eq "$(t_shunt n1 status --json | jq -r '[.coverage.programs[] | select(.path == "early_eagain" and .reason == "signal") | .sockets] | add')" \
		2 "signal wakeups counted for python3"
	t_eq "$(t_delta n1 skipped.early_eagain)" 0 "connections kept on TCP"
	t_eq "$(t_delta n1 socks_added)" 4 "both connections in the sockhash"
}
