// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The generator's model as a YAML mesh config (mesh_gen.h, docs/config.md). */
#include "mesh_gen.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const op_names[] = {"In", "NotIn", "Exists", "DoesNotExist"};
static const char *const kind_keys[GEN_RULE_KINDS] = {"ingress", "egress", "ingressDeny",
						      "egressDeny"};

/* "namespace: NS" unless it is default (then the key is left out). */
static void put_namespace(FILE *f, const char *indent, unsigned int ns)
{
	if (ns != GEN_NAMESPACES - 1)
		fprintf(f, "%snamespace: %s\n", indent, gen_ns_names[ns]);
}

static void put_selector(FILE *f, const struct gen_selector *s, bool namespaces)
{
	const struct gen_label_key *keys = namespaces ? gen_ns_keys : gen_pod_keys;
	unsigned int i, v;

	fputc('{', f);
	if (s->nlabels) {
		fputs("matchLabels: {", f);
		for (i = 0; i < s->nlabels; i++)
			fprintf(f, "%s%s: %s", i ? ", " : "", keys[s->labels[i].key].key,
				keys[s->labels[i].key].values[s->labels[i].value]);
		fputc('}', f);
	}
	if (s->nexprs)
		fprintf(f, "%smatchExpressions: [", s->nlabels ? ", " : "");
	for (i = 0; i < s->nexprs; i++) {
		const struct gen_label_key *k = &keys[s->exprs[i].key];
		bool first = true;

		fprintf(f, "%s{key: %s, operator: %s", i ? ", " : "", k->key,
			op_names[s->exprs[i].op]);
		if (s->exprs[i].op < 2) {
			fputs(", values: [", f);
			for (v = 0; v < k->nvalues; v++)
				if (s->exprs[i].values & (1u << v)) {
					fprintf(f, "%s%s", first ? "" : ", ", k->values[v]);
					first = false;
				}
			fputc(']', f);
		}
		fputc('}', f);
	}
	if (s->nexprs)
		fputc(']', f);
	fputc('}', f);
}

static void put_prefix(FILE *f, const struct gen_prefix *p)
{
	char text[INET6_ADDRSTRLEN];

	if (!p->v6) {
		fprintf(f, "%u.%u.%u.%u/%u", p->addr[0], p->addr[1], p->addr[2], p->addr[3],
			p->len);
		return;
	}
	inet_ntop(AF_INET6, p->addr, text, sizeof(text));
	fprintf(f, "\"%s/%u\"", text, p->len);
}

/* fd00::N (or fd00:96::N for virtual IPs), quoted. */
static void put_addr6(FILE *f, unsigned int n, bool vip)
{
	unsigned char a[16] = {0xfd, 0, 0, vip ? 0x96 : 0};
	char text[INET6_ADDRSTRLEN];

	a[15] = (unsigned char)n;
	inet_ntop(AF_INET6, a, text, sizeof(text));
	fprintf(f, "\"%s\"", text);
}

static void put_peer(FILE *f, const struct gen_peer *p)
{
	unsigned int e;

	if (p->kind == GEN_PEER_SA) {
		fprintf(f, "{serviceAccount: {namespace: %s, name: %s}}", gen_ns_names[p->sa_ns],
			gen_sa_names[p->sa_name]);
		return;
	}
	if (p->kind == GEN_PEER_PODS) {
		fputc('{', f);
		if (p->has_pods) {
			fputs("podSelector: ", f);
			put_selector(f, &p->pods, false);
		}
		if (p->has_namespaces) {
			fputs(p->has_pods ? ", namespaceSelector: " : "namespaceSelector: ", f);
			put_selector(f, &p->namespaces, true);
		}
		fputc('}', f);
		return;
	}
	fputs("{ipBlock: {cidr: ", f);
	put_prefix(f, &p->cidr);
	if (p->nexcept)
		fputs(", except: [", f);
	for (e = 0; e < p->nexcept; e++) {
		fputs(e ? ", " : "", f);
		put_prefix(f, &p->except[e]);
	}
	fputs(p->nexcept ? "]}}" : "}}", f);
}

static void put_port(FILE *f, const struct gen_port *p)
{
	const char *sep = "";

	fputc('{', f);
	if (p->proto >= 0) {
		fprintf(f, "protocol: %s", gen_protocols[p->proto]);
		sep = ", ";
	}
	if (p->name >= 0)
		fprintf(f, "%sport: %s", sep, gen_port_names[p->name]);
	else if (p->port)
		fprintf(f, "%sport: %u", sep, p->port);
	if (p->end_port)
		fprintf(f, ", endPort: %u", p->end_port);
	fputc('}', f);
}

static void put_rule(FILE *f, const struct gen_rule *r, bool ingress)
{
	int i;

	if (r->npeers < 0 && r->nports < 0) {
		fputs("      - {}\n", f);
		return;
	}
	fputs("      - ", f);
	if (r->npeers >= 0) {
		fprintf(f, "%s: [", ingress ? "from" : "to");
		for (i = 0; i < r->npeers; i++) {
			fputs(i ? ", " : "", f);
			put_peer(f, &r->peers[i]);
		}
		fputs("]\n", f);
	}
	if (r->nports >= 0) {
		fputs(r->npeers >= 0 ? "        ports: [" : "ports: [", f);
		for (i = 0; i < r->nports; i++) {
			fputs(i ? ", " : "", f);
			put_port(f, &r->ports[i]);
		}
		fputs("]\n", f);
	}
}

static void put_policy(FILE *f, const struct gen_policy *p)
{
	int k, r;

	fprintf(f, "  - name: %s\n", gen_policy_names[p->name]);
	put_namespace(f, "    ", p->ns);
	fputs("    podSelector: ", f);
	put_selector(f, &p->subject, false);
	fputc('\n', f);
	if (p->types >= 0)
		fprintf(f, "    policyTypes: [%s%s%s]\n", p->types & 1 ? "Ingress" : "",
			p->types == 3 ? ", " : "", p->types & 2 ? "Egress" : "");
	for (k = 0; k < GEN_RULE_KINDS; k++) {
		if (p->nrules[k] < 0)
			continue;
		fprintf(f, "    %s:%s\n", kind_keys[k], p->nrules[k] ? "" : " []");
		for (r = 0; r < p->nrules[k]; r++)
			put_rule(f, &p->rules[k][r], k == 0 || k == 2);
	}
}

static void put_workload(FILE *f, const struct gen_workload *w)
{
	const char *ns = gen_ns_names[w->ns], *name = gen_workload_names[w->name];
	unsigned int i;
	bool first = true;

	fprintf(f, "  - name: %s\n", name);
	put_namespace(f, "    ", w->ns);
	if (w->sa)
		fprintf(f, "    serviceAccount: %s\n", gen_sa_names[w->sa]);
	if (w->pod >= 0 || w->app >= 0)
		fprintf(f, "    labels: {%s%s%s%s%s}\n", w->pod >= 0 ? "pod: " : "",
			w->pod >= 0 ? gen_pod_keys[0].values[w->pod] : "",
			w->pod >= 0 && w->app >= 0 ? ", " : "", w->app >= 0 ? "app: " : "",
			w->app >= 0 ? gen_pod_keys[1].values[w->app] : "");
	fprintf(f, "    node: %s\n    addresses: [", w->local ? "n1" : "n2");
	if (w->addr4)
		fprintf(f, "10.0.0.%u%s", w->addr4, w->addr6 ? ", " : "");
	if (w->addr6)
		put_addr6(f, w->addr6, false);
	fputs("]\n", f);
	for (i = 0; i < 8; i++) {
		const struct gen_container_port *cp = &gen_container_ports[i];

		if (!(w->ports & (1u << i)))
			continue;
		fputs(first ? "    ports: [{" : ", {", f);
		if (cp->name)
			fprintf(f, "name: %s, ", cp->name);
		fprintf(f, "containerPort: %u, protocol: %s}", cp->port, gen_protocols[cp->proto]);
		first = false;
	}
	if (!first)
		fputs("]\n", f);
	/* Remote workloads may say where they run too; only local ones must. */
	if (w->local || w->incarnation % 2)
		fprintf(f, "    netns: /run/netns/%s-%s-%u\n", ns, name, w->incarnation);
	if ((w->local || w->incarnation % 2) && w->shared_cgroup)
		fputs("    cgroup: /sys/fs/cgroup/mesh/shared\n", f);
	else if (w->local || w->incarnation % 2)
		fprintf(f, "    cgroup: /sys/fs/cgroup/mesh/%s/%s-%u\n", ns, name, w->incarnation);
}

/* Backends naming a workload that is gone or in another namespace are
 * left out, so the model never dangles. */
static void put_backends(FILE *f, const struct mesh_gen *g, const struct gen_service *s)
{
	unsigned int i;
	bool first = true;

	fputs("    backends: [", f);
	for (i = 0; i < s->nbackends; i++) {
		const struct gen_backend *b = &s->backends[i];
		const struct gen_workload *w = &g->wl[b->workload];

		if (b->is_workload && (!w->used || w->ns != s->ns))
			continue;
		fputs(first ? "{" : ", {", f);
		first = false;
		if (b->is_workload)
			fprintf(f, "workload: %s", gen_workload_names[w->name]);
		else if (b->addr <= GEN_ADDRS4)
			fprintf(f, "address: 10.0.0.%u", b->addr);
		else {
			fputs("address: ", f);
			put_addr6(f, b->addr - GEN_ADDRS4, false);
		}
		if (b->weight >= 0)
			fprintf(f, ", weight: %d", b->weight);
		fputc('}', f);
	}
	fputs("]\n", f);
}

static void put_service(FILE *f, const struct mesh_gen *g, const struct gen_service *s)
{
	static const char *const protos[] = {"", ", protocol: TCP", ", protocol: UDP"};
	unsigned int i;

	fprintf(f, "  - name: %s\n", gen_service_names[s->name]);
	put_namespace(f, "    ", s->ns);
	fputs("    virtualIPs: [", f);
	if (s->vip4)
		fprintf(f, "10.96.0.%u%s", s->vip4, s->vip6 ? ", " : "");
	if (s->vip6)
		put_addr6(f, s->vip6, true);
	fputs("]\n    ports: [", f);
	for (i = 0; i < s->nports; i++) {
		fprintf(f, "%s{port: %u%s", i ? ", " : "", s->ports[i].port,
			protos[s->ports[i].proto]);
		if (s->ports[i].target)
			fprintf(f, ", targetPort: %u", s->ports[i].target);
		fputc('}', f);
	}
	fputs("]\n", f);
	if (!s->has_selector) {
		put_backends(f, g, s);
		return;
	}
	fprintf(f, "    selector: {%s%s%s%s%s}\n", s->sel_pod >= 0 ? "pod: " : "",
		s->sel_pod >= 0 ? gen_pod_keys[0].values[s->sel_pod] : "",
		s->sel_pod >= 0 && s->sel_app >= 0 ? ", " : "", s->sel_app >= 0 ? "app: " : "",
		s->sel_app >= 0 ? gen_pod_keys[1].values[s->sel_app] : "");
}

static void put_proxy(FILE *f, const struct gen_proxy *p)
{
	fputs("nodes:\n  - name: n1\n    proxy: {outbound: \"", f);
	if (p->outbound)
		fprintf(f, "10.0.0.%u:15001\"", p->outbound);
	else
		fputs("10.100.0.1:15001\"", f);
	if (p->outbound6)
		fprintf(f, ", outbound6: \"[fd00::%x]:15001\"", p->outbound % 12 + 1);
	fputs(", inbound: \"10.99.0.1:15008\"", f);
	if (p->runs_here)
		fputs(", netns: /run/netns/proxy-n1, cgroup: /sys/fs/cgroup/mesh/proxy-n1", f);
	fputs("}\n  - name: n2\n", f);
}

static void put_namespaces(FILE *f, const struct mesh_gen *g)
{
	bool first = true;
	int i;

	for (i = 0; i < GEN_NAMESPACES; i++) {
		const struct gen_namespace *ns = &g->ns[i];

		if (!ns->declared)
			continue;
		fprintf(f, "%s  - name: %s\n", first ? "namespaces:\n" : "", gen_ns_names[i]);
		first = false;
		if (ns->team >= 0 || ns->env >= 0)
			fprintf(f, "    labels: {%s%s%s%s%s}\n", ns->team >= 0 ? "team: " : "",
				ns->team >= 0 ? gen_ns_keys[0].values[ns->team] : "",
				ns->team >= 0 && ns->env >= 0 ? ", " : "",
				ns->env >= 0 ? "env: " : "",
				ns->env >= 0 ? gen_ns_keys[1].values[ns->env] : "");
		if (ns->strict)
			fputs("    mtls: {mode: STRICT}\n", f);
	}
}

char *mesh_gen_render(const struct mesh_gen *g, size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);
	int i;

	if (!f)
		return NULL;
	fputs("apiVersion: shunt.dev/v1\n", f);
	if (g->strict)
		fputs("mtls: {mode: STRICT}\n", f);
	if (g->proxy.on)
		put_proxy(f, &g->proxy);
	put_namespaces(f, g);
	fputs("workloads:\n", f);
	for (i = 0; i < GEN_WORKLOADS; i++)
		if (g->wl[i].used)
			put_workload(f, &g->wl[i]);
	fputs("services:\n", f);
	for (i = 0; i < GEN_SERVICES; i++)
		if (g->svc[i].used)
			put_service(f, g, &g->svc[i]);
	fputs("policies:\n", f);
	for (i = 0; i < GEN_POLICIES; i++)
		if (g->pol[i].used)
			put_policy(f, &g->pol[i]);
	if (fclose(f)) {
		free(text);
		return NULL;
	}
	return text;
}
