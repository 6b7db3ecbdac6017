// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "status_coverage.h"

#define COVERAGE_TEXT_ROWS 12

struct coverage_totals {
	__u64 sockets_bypass, sockets_tcp_only, skipped, early_eagain;
};

static void coverage_sum(const struct coverage_view *v, struct coverage_totals *t)
{
	size_t i;

	*t = (struct coverage_totals){0};
	for (i = 0; i < v->nrows; i++) {
		const struct shunt_coverage_row *r = &v->rows[i];

		switch (r->key.path) {
		case SHUNT_PATH_BYPASS:
			t->sockets_bypass += r->val.sockets;
			break;
		case SHUNT_PATH_TCP:
			/* "mixed" rows are sockets already counted as bypass */
			if (r->key.reason < SHUNT_REASON_MAX)
				t->sockets_tcp_only += r->val.sockets;
			break;
		case SHUNT_PATH_SKIPPED:
			t->skipped += r->val.sockets;
			break;
		case SHUNT_PATH_EARLY_EAGAIN:
			t->early_eagain += r->val.sockets;
			break;
		}
	}
}

static double share(__u64 part, __u64 whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

void coverage_print_text(FILE *out, const struct coverage_view *v)
{
	struct coverage_totals t;
	__u64 sending;
	size_t i;

	coverage_sum(v, &t);
	sending = t.sockets_bypass + t.sockets_tcp_only;
	fprintf(out, "coverage (same-node mesh connections):\n");
	fprintf(out, "  bytes through the bypass: %.1f%% (%llu of %llu sent by sockets in it)\n",
		share(v->bytes_bypass, v->bytes_bypass + v->bytes_tcp),
		(unsigned long long)v->bytes_bypass,
		(unsigned long long)(v->bytes_bypass + v->bytes_tcp));
	fprintf(out,
		"  closed sending sockets that took it: %llu of %llu (%.1f%%); connections kept "
		"out: %llu; blocking reads that got the kernel's early EAGAIN: %llu\n",
		(unsigned long long)t.sockets_bypass, (unsigned long long)sending,
		share(t.sockets_bypass, sending), (unsigned long long)t.skipped,
		(unsigned long long)t.early_eagain);
	if (v->err) {
		fprintf(out, "  by program: unreadable (a datapath loaded by an older shunt?)\n");
		return;
	}
	if (!v->nrows)
		return;
	fprintf(out, "  %-16s %-13s %-15s %10s %14s\n", "PROGRAM", "PATH", "REASON", "SOCKETS",
		"BYTES");
	for (i = 0; i < v->nrows && i < COVERAGE_TEXT_ROWS; i++) {
		const struct shunt_coverage_row *r = &v->rows[i];

		fprintf(out, "  %-16s %-13s %-15s %10llu %14llu\n",
			r->key.comm[0] ? r->key.comm : "?", shunt_path_name(r->key.path),
			shunt_coverage_reason_name(&r->key), (unsigned long long)r->val.sockets,
			(unsigned long long)r->val.bytes);
	}
	if (v->nrows > COVERAGE_TEXT_ROWS)
		fprintf(out, "  ... %zu more (shunt --json status)\n",
			v->nrows - COVERAGE_TEXT_ROWS);
}

void coverage_print_json(struct shunt_json *j, const struct coverage_view *v)
{
	struct coverage_totals t;
	size_t i;

	coverage_sum(v, &t);
	json_key(j, "coverage");
	json_object_begin(j);
	json_kv_u64(j, "bytes_bypass", v->bytes_bypass);
	json_kv_u64(j, "bytes_tcp", v->bytes_tcp);
	json_key(j, "bytes_share");
	json_double(j, share(v->bytes_bypass, v->bytes_bypass + v->bytes_tcp) / 100.0);
	json_kv_u64(j, "sockets_bypass", t.sockets_bypass);
	json_kv_u64(j, "sockets_tcp_only", t.sockets_tcp_only);
	json_kv_u64(j, "connections_skipped", t.skipped);
	json_kv_u64(j, "early_eagain", t.early_eagain);
	json_key(j, "programs");
	json_array_begin(j);
	for (i = 0; i < v->nrows; i++) {
		const struct shunt_coverage_row *r = &v->rows[i];

		json_object_begin(j);
		json_kv_string(j, "program", r->key.comm);
		json_kv_string(j, "path", shunt_path_name(r->key.path));
		json_kv_string(j, "reason", shunt_coverage_reason_name(&r->key));
		json_kv_u64(j, "sockets", r->val.sockets);
		json_kv_u64(j, "bytes", r->val.bytes);
		json_object_end(j);
	}
	json_array_end(j);
	json_object_end(j);
}
