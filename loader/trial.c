// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "trial.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "common/log.h"

#define TRIAL_MAX_ENTRIES 64

static libbpf_print_fn_t outer_print;

/* A refusal here is an answer, not an error: debug level only. */
static int trial_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	return outer_print ? outer_print(LIBBPF_DEBUG, fmt, ap) : 0;
}

static void shrink_maps(struct bpf_object *obj)
{
	struct bpf_map *map;

	bpf_object__for_each_map (map, obj) {
		/* Private: never reuse or create a pin. */
		bpf_map__set_pin_path(map, NULL);
		switch (bpf_map__type(map)) {
		case BPF_MAP_TYPE_HASH:
		case BPF_MAP_TYPE_LRU_HASH:
		case BPF_MAP_TYPE_SOCKHASH:
		case BPF_MAP_TYPE_LPM_TRIE:
			if (bpf_map__max_entries(map) > TRIAL_MAX_ENTRIES)
				bpf_map__set_max_entries(map, TRIAL_MAX_ENTRIES);
			break;
		default:
			break;
		}
	}
}

int shunt_trial_load(struct bpf_object *obj, const char *prog)
{
	struct bpf_program *p;
	bool found = false;
	int err;

	bpf_object__for_each_program (p, obj) {
		bool self = !strcmp(bpf_program__name(p), prog);

		found |= self;
		bpf_program__set_autoload(p, self);
	}
	if (!found)
		return -ENOENT;
	shrink_maps(obj);
	outer_print = libbpf_set_print(trial_print);
	err = bpf_object__load(obj);
	libbpf_set_print(outer_print);
	pr_debug("trial load of %s: %s", prog, err ? strerror(-err) : "accepted");
	return err;
}
