#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Installs the Debian packages shunt needs to build, test, demo and bench
# (and, with the argument "kernels", to run the kernel test matrix).
# Idempotent, and fast when everything is there: it asks dpkg first and only
# runs apt-get for what is missing.
set -euo pipefail

PACKAGES=(
	# build
	make gcc clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config
	libyaml-dev libssl-dev libnghttp2-dev libhttp-parser-dev libjansson-dev
	# libFuzzer and the sanitizer runtimes for clang (only recommended by clang)
	libclang-rt-dev
	# unit tests (ASan/UBSan runtime comes with gcc)
	libcmocka-dev
	# local cluster and tests
	iproute2 util-linux procps jq coreutils iputils-ping
	# real applications in the tests
	nginx-light curl redis-server redis-tools
	# push exports and the Kubernetes source: HTTP client (libcurl); a real
	# InfluxDB, npm for the statsd daemon
	libcurl4-openssl-dev influxdb
	# Istio's metrics read back by a real Prometheus (tests/integration/test_istio_metrics.sh)
	prometheus
	# L7: a real gRPC client and server, WebSocket upgrades, an h2c test
	# backend that reports request trailers (tests/apps/l7_backend.py --h2)
	python3-grpcio python3-websockets python3-h2
	# programs the bypass must cover (tests/integration/test_coverage.sh)
	python3-requests default-jdk-headless wget
	# WebSocket server and client through the L7 proxy (tests/apps/ws_echo.py)
	python3-websockets
	# benchmarks: the sidecar baseline and reference tools (h2load: nghttp2-client);
	# h2o: an L7 peer of the node proxy (scripts/bench-l7.sh)
	haproxy iptables iperf3 sockperf wrk nghttp2-client h2o
	# the telemetry bench's instruction counts (callgrind: the same count
	# for the same work, whatever else the machine does)
	valgrind
	# cross-node tests: capture on the underlay, TLS clients
	tcpdump openssl stunnel4
	# formatting
	clang-format
	# shunt graph --format svg (Graphviz's dot); xmllint checks the SVG in the tests
	graphviz libxml2-utils
)

# `scripts/deps.sh kernels`: also what the kernel test matrix needs.
if [ "${1:-}" = kernels ]; then
	PACKAGES+=(qemu-system-x86 busybox-static)
fi

# The StatsD daemon of the push tests (npm `statsd`): npm from Debian unless
# a Node.js that brings its own npm is there.
command -v npm >/dev/null || PACKAGES+=(nodejs npm)
STATSD_VERSION=0.9.0

# npm's statsd, installed globally (/usr/bin/statsd or /usr/local/bin/statsd).
install_statsd() {
	command -v statsd >/dev/null && return 0
	if [ "$(id -u)" != 0 ]; then
		echo "deps: statsd (npm) is missing; run as root to install it" >&2
		return 1
	fi
	echo "deps: installing statsd@$STATSD_VERSION (npm)" >&2
	# Optional modules (a syslog backend with a native build) left out.
	npm install -g --omit=optional --no-audit --no-fund --loglevel=error \
		"statsd@$STATSD_VERSION" >/dev/null
}

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	install_statsd
	exit
fi
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages (${missing[*]}); run as root to install them" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Package services must not start on the host: the tests start their own.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod +x "$policy"
	created_policy=1
fi
trap '[ $created_policy = 1 ] && rm -f "$policy"' EXIT
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
install_statsd
