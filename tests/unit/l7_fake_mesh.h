/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The mesh the L7 tests route in: a client and one endpoint per backend
 * service (a1 behind web, the L7 port; b1 to e1 behind b to e). A test
 * appends its httpRoutes to MESH.
 */
#ifndef SHUNT_TEST_L7_FAKE_MESH_H
#define SHUNT_TEST_L7_FAKE_MESH_H

#define MESH_SVC(n, ip)                                                                            \
	"  - {name: " n ", namespace: shop, virtualIPs: [" ip "], ports: [{port: 80, targetPort: " \
	"8080}], selector: {app: " n "}}\n"

#define MESH                                                                                       \
	"apiVersion: shunt.dev/v1\n"                                                               \
	"namespaces: [{name: shop}]\n"                                                             \
	"workloads:\n"                                                                             \
	"  - {name: client, namespace: shop, labels: {app: client}, node: n1, addresses: "         \
	"[10.1.0.1]}\n"                                                                            \
	"  - {name: a1, namespace: shop, labels: {app: a}, node: n1, addresses: [10.1.0.11]}\n"    \
	"  - {name: b1, namespace: shop, labels: {app: b}, node: n1, addresses: [10.1.0.12]}\n"    \
	"  - {name: c1, namespace: shop, labels: {app: c}, node: n1, addresses: [10.1.0.13]}\n"    \
	"  - {name: d1, namespace: shop, labels: {app: d}, node: n1, addresses: [10.1.0.14]}\n"    \
	"  - {name: e1, namespace: shop, labels: {app: e}, node: n1, addresses: [10.1.0.15]}\n"    \
	"services:\n"                                                                              \
	"  - {name: web, namespace: shop, virtualIPs: [10.96.0.10], ports: [{port: 80, "           \
	"targetPort: 8080, appProtocol: http}], selector: {app: a}}\n" MESH_SVC("b", "10.96.0.11") \
	    MESH_SVC("c", "10.96.0.12") MESH_SVC("d", "10.96.0.13") MESH_SVC("e", "10.96.0.14")

/* One route on web:80 whose rules follow (each "      - ..." line). */
#define ROUTE                                                                                      \
	"httpRoutes:\n"                                                                            \
	"  - name: r\n"                                                                            \
	"    namespace: shop\n"                                                                    \
	"    parentRefs: [{name: web, port: 80}]\n"                                                \
	"    rules:\n"

#endif
