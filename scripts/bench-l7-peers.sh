# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
#
# Sourced by scripts/bench-l7.sh: the L7 peers it compares shunt with, each
# started with its proxy processes in L7_PROCS and the ones on each path in
# L7_PATH. Every proxy adds an x-bench-via header naming itself, so a
# request shows which proxies it went through.
#
#   sidecar   haproxy in n1-p1 (outbound, 127.0.0.1:15101 same node, :15102
#             across) and in n1-p2 and n2-p2 (inbound, POD:15443), mutual TLS
#             between them
#   haproxy   per node: node 1 on 10.100.1.1:16101 (same) and :16102 (cross,
#   nginx     TLS to node 2's 10.99.0.2:16143); nginx 162xx, h2o 163xx
#   h2o
#
# Uses from bench-l7.sh: L7_NODE1 L7_NODE2 L7_PROCS L7_PATH l7_start
# l7_wait_port; from bench.sh: WORK SRV_IP X_IP SHUNT_CLUSTER_PREFIX pod.
# haproxy-h2, the HTTP/2 peer, is in scripts/bench-l7-h2.sh.

# A CA and ECDSA P-256 certificates for the sidecars and peers.
l7_certs() {
	local d=$WORK/l7-tls n
	mkdir -p "$d"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj /CN=bench-l7-ca -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null || return 1
	for n in server client; do
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$n.bench" \
			-keyout "$d/$n.key" -out "$d/$n.csr" 2>/dev/null || return 1
		printf 'subjectAltName=DNS:%s.bench,IP:%s,IP:%s,IP:%s\n' $n "$L7_NODE2" "$SRV_IP" "$X_IP" >"$d/$n.ext"
		openssl x509 -req -in "$d/$n.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
			-days 2 -extfile "$d/$n.ext" -out "$d/$n.crt" 2>/dev/null || return 1
		cat "$d/$n.crt" "$d/$n.key" >"$d/$n.pem"
	done
}

# haproxy in HTTP mode; `listen` sections from stdin.
l7_haproxy_cfg() {
	printf 'global\n    nbthread 2\n    maxconn 4000\n'
	printf 'defaults\n    mode http\n    option http-keep-alive\n    http-reuse always\n'
	printf '    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\n'
	printf '    timeout http-keep-alive 60s\n'
	cat
}

l7_haproxy_listen() { # NAME BIND SERVER VIA
	printf 'listen %s\n    bind %s\n    http-response add-header x-bench-via %s\n    server s %s\n' "$1" "$2" "$4" "$3"
}

# TLS options: haproxy's bind (server side) and server (client side).
l7_tls_in() { echo "ssl crt $WORK/l7-tls/server.pem ca-file $WORK/l7-tls/ca.crt verify required ssl-min-ver TLSv1.3"; }
l7_tls_out() { echo "ssl crt $WORK/l7-tls/client.pem ca-file $WORK/l7-tls/ca.crt verify required verifyhost server.bench ssl-min-ver TLSv1.3"; }

l7_sidecar_setup() {
	local d=$WORK/l7-sidecar out in1 in2
	mkdir -p "$d"
	{
		l7_haproxy_listen out-same 127.0.0.1:15101 "$SRV_IP:15443 $(l7_tls_out)" sidecar-out
		l7_haproxy_listen out-cross 127.0.0.1:15102 "$X_IP:15443 $(l7_tls_out)" sidecar-out
	} | l7_haproxy_cfg >"$d/out.cfg"
	l7_haproxy_listen in "$SRV_IP:15443 $(l7_tls_in)" "$SRV_IP:8281" sidecar-in-n1 | l7_haproxy_cfg >"$d/in1.cfg"
	l7_haproxy_listen in "$X_IP:15443 $(l7_tls_in)" "$X_IP:8281" sidecar-in-n2 | l7_haproxy_cfg >"$d/in2.cfg"
	l7_start sidecar-out "--outside n1-p1" haproxy -db -f "$d/out.cfg"
	out=$L7_PID
	l7_start sidecar-in1 "--outside n1-p2" haproxy -db -f "$d/in1.cfg"
	in1=$L7_PID
	l7_start sidecar-in2 "--outside n2-p2" haproxy -db -f "$d/in2.cfg"
	in2=$L7_PID
	L7_PROCS["sidecar"]="$out $in1 $in2"
	L7_PATH["sidecar/same"]="$out $in1"
	L7_PATH["sidecar/cross"]="$out $in2"
	l7_wait_port "$(pod n1-p1 netns)" 15102 && l7_wait_port "$(pod n2-p2 netns)" 15443
}

l7_haproxy_setup() {
	local d=$WORK/l7-haproxy p1 p2
	mkdir -p "$d"
	{
		l7_haproxy_listen same "$L7_NODE1:16101" "$SRV_IP:8281" haproxy-n1
		l7_haproxy_listen cross "$L7_NODE1:16102" "$L7_NODE2:16143 $(l7_tls_out)" haproxy-n1
	} | l7_haproxy_cfg >"$d/n1.cfg"
	l7_haproxy_listen in "$L7_NODE2:16143 $(l7_tls_in)" "$X_IP:8281" haproxy-n2 | l7_haproxy_cfg >"$d/n2.cfg"
	l7_start haproxy-n1 n1 haproxy -db -f "$d/n1.cfg"
	p1=$L7_PID
	l7_start haproxy-n2 n2 haproxy -db -f "$d/n2.cfg"
	p2=$L7_PID
	l7_peer_pids haproxy "$p1" "$p2"
	l7_wait_port "$SHUNT_CLUSTER_PREFIX-n1" 16102 && l7_wait_port "$SHUNT_CLUSTER_PREFIX-n2" 16143
}

l7_peer_pids() { # CONFIG PID_N1 PID_N2
	L7_PROCS[$1]="$2 $3"
	L7_PATH["$1/same"]=$2
	L7_PATH["$1/cross"]="$2 $3"
}

# nginx with a master and 2 worker processes; server blocks from stdin.
l7_nginx_cfg() { # DIR
	local t
	printf 'daemon off;\nmaster_process on;\nworker_processes 2;\n'
	printf 'pid %s/nginx.pid;\nerror_log %s/error.log;\n' "$1" "$1"
	printf 'events { worker_connections 4096; }\nhttp {\n    access_log off;\n'
	printf '    keepalive_requests 1000000;\n    keepalive_timeout 300s;\n'
	for t in client_body proxy fastcgi uwsgi scgi; do printf '    %s_temp_path %s/tmp;\n' $t "$1"; done
	cat
	printf '}\n'
}

l7_nginx_location() { # UPSTREAM_URL VIA [more directives]
	printf '        location / {\n            proxy_pass %s;\n' "$1"
	printf '            proxy_http_version 1.1;\n            proxy_set_header Connection "";\n'
	printf '            add_header x-bench-via %s always;\n%s        }\n' "$2" "${3:-}"
}

l7_nginx_setup() {
	local d=$WORK/l7-nginx t=$WORK/l7-tls p1 p2
	mkdir -p "$d/n1/tmp" "$d/n2/tmp"
	{
		printf '    upstream same { server %s:8281; keepalive 64; keepalive_requests 1000000; }\n' "$SRV_IP"
		printf '    upstream cross { server %s:16243; keepalive 64; keepalive_requests 1000000; }\n' "$L7_NODE2"
		printf '    server {\n        listen %s:16201;\n' "$L7_NODE1"
		l7_nginx_location http://same nginx-n1
		printf '    }\n    server {\n        listen %s:16202;\n' "$L7_NODE1"
		l7_nginx_location https://cross nginx-n1 "$(printf '            %s\n' \
			"proxy_ssl_certificate $t/client.crt;" "proxy_ssl_certificate_key $t/client.key;" \
			"proxy_ssl_trusted_certificate $t/ca.crt;" "proxy_ssl_verify on;" \
			"proxy_ssl_name server.bench;" "proxy_ssl_protocols TLSv1.3;" "proxy_ssl_session_reuse on;")
"
		printf '    }\n'
	} | l7_nginx_cfg "$d/n1" >"$d/n1/nginx.conf"
	{
		printf '    upstream local { server %s:8281; keepalive 64; keepalive_requests 1000000; }\n' "$X_IP"
		printf '    server {\n        listen %s:16243 ssl;\n' "$L7_NODE2"
		printf '        ssl_certificate %s/server.crt;\n        ssl_certificate_key %s/server.key;\n' "$t" "$t"
		printf '        ssl_client_certificate %s/ca.crt;\n        ssl_verify_client on;\n' "$t"
		printf '        ssl_protocols TLSv1.3;\n'
		l7_nginx_location http://local nginx-n2
		printf '    }\n'
	} | l7_nginx_cfg "$d/n2" >"$d/n2/nginx.conf"
	l7_start nginx-n1 n1 nginx -c "$d/n1/nginx.conf" -e "$d/n1/error.log"
	p1=$L7_PID
	l7_start nginx-n2 n2 nginx -c "$d/n2/nginx.conf" -e "$d/n2/error.log"
	p2=$L7_PID
	l7_peer_pids nginx "$p1" "$p2"
	l7_wait_port "$SHUNT_CLUSTER_PREFIX-n1" 16202 && l7_wait_port "$SHUNT_CLUSTER_PREFIX-n2" 16243
}

# h2o 2.2: one host per listener; 2 threads.
l7_h2o_host() { # NAME LISTEN_YAML URL VIA [more path lines]
	printf '  "%s":\n    listen: %s\n    paths:\n      "/":\n' "$1" "$2"
	printf '        proxy.reverse.url: "%s"\n        header.add: "x-bench-via: %s"\n%s' "$3" "$4" "${5:-}"
	# Idle upstream connections kept as long as the others keep theirs (2 s by default).
	printf '        proxy.timeout.keepalive: 60000\n'
}

l7_h2o_setup() {
	local d=$WORK/l7-h2o t=$WORK/l7-tls p1 p2
	mkdir -p "$d"
	{
		printf 'num-threads: 2\nhosts:\n'
		l7_h2o_host same "{host: $L7_NODE1, port: 16301}" "http://$SRV_IP:8281/" h2o-n1
		l7_h2o_host cross "{host: $L7_NODE1, port: 16302}" "https://$L7_NODE2:16343/" h2o-n1 \
			"$(printf '        proxy.ssl.cafile: %s/ca.crt\n        proxy.ssl.verify-peer: ON\n' "$t")
"
	} >"$d/n1.conf"
	{
		printf 'num-threads: 2\nhosts:\n'
		l7_h2o_host in "{host: $L7_NODE2, port: 16343, ssl: {certificate-file: $t/server.crt, key-file: $t/server.key, minimum-version: TLSv1.2, ocsp-update-interval: 0}}" \
			"http://$X_IP:8281/" h2o-n2
	} >"$d/n2.conf"
	l7_start h2o-n1 n1 h2o -c "$d/n1.conf"
	p1=$L7_PID
	l7_start h2o-n2 n2 h2o -c "$d/n2.conf"
	p2=$L7_PID
	l7_peer_pids h2o "$p1" "$p2"
	l7_wait_port "$SHUNT_CLUSTER_PREFIX-n1" 16302 && l7_wait_port "$SHUNT_CLUSTER_PREFIX-n2" 16343
}
