#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Writes a large mesh config to stdout for the apply-time bench:
#   scripts/scale-config.sh WORKLOADS SERVICES RULES [EXTRA_RULE]
# Workloads are spread over 10 namespaces and 20 nodes (none of them the
# bench node, so no cgroup is needed); every service selects one app of
# WORKLOADS/SERVICES workloads; policies select one app each and hold 10
# ingress rules, each admitting one named workload on one port. EXTRA_RULE=K
# (K > 0) adds one more rule, on port 9000+K (the "one-rule change").
set -euo pipefail
W=${1:-10000} S=${2:-2000} R=${3:-20000} EXTRA=${4:-0}
awk -v W="$W" -v S="$S" -v R="$R" -v EXTRA="$EXTRA" 'BEGIN {
	per_app = int(W / S); if (per_app < 1) per_app = 1
	print "apiVersion: shunt.dev/v1"
	print "namespaces:"
	for (n = 0; n < 10; n++) printf "  - {name: ns%d, labels: {team: t%d}}\n", n, n % 3
	print "workloads:"
	for (i = 0; i < W; i++) {
		app = int(i / per_app) % S
		printf "  - {name: w%d, namespace: ns%d, labels: {app: a%d, id: w%d}, node: node%d, addresses: [10.%d.%d.%d]}\n", \
			i, app % 10, app, i, i % 20, 64 + int(i / 65536), int(i / 256) % 256, i % 256
	}
	print "services:"
	for (s = 0; s < S; s++)
		printf "  - {name: s%d, namespace: ns%d, virtualIPs: [10.96.%d.%d], ports: [{port: 80, targetPort: 8080}], selector: {app: a%d}}\n", \
			s, s % 10, int(s / 256), s % 256, s
	print "policies:"
	npol = int(R / 10)
	for (p = 0; p < npol; p++) {
		app = p % S
		printf "  - name: p%d\n    namespace: ns%d\n    podSelector: {matchLabels: {app: a%d}}\n    ingress:\n", p, app % 10, app
		for (r = 0; r < 10; r++) {
			peer = (p * 7 + r * 13) % W
			pns = int(peer / per_app) % S % 10
			printf "      - from: [{namespaceSelector: {matchLabels: {team: t%d}}, podSelector: {matchLabels: {id: w%d}}}]\n        ports: [{port: %d}]\n", \
				pns % 3, peer, 8000 + r
		}
		if (EXTRA > 0 && p == 0)
			printf "      - from: [{podSelector: {matchLabels: {app: a0}}}]\n        ports: [{port: %d}]\n", 9000 + EXTRA
	}
}'
