# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# shunt build. Everything generated goes to .output/; the CLI ends up in
# .output/bin/shunt. `make V=1` prints full commands.

OUTPUT ?= .output
BIN := $(OUTPUT)/bin
CLANG ?= clang
BPFTOOL ?= bpftool
CC ?= cc
ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/' -e 's/ppc64le/powerpc/')
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
MAKEFLAGS += --no-print-directory
endif

BPF_OBJS := bypass mesh
BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	-I$(OUTPUT) -Ibpf
CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-missing-field-initializers \
	-I$(OUTPUT) -Ibpf -Iloader -Iuserspace-agent -MMD -MP
LDLIBS := -lbpf -lelf -lz -lyaml -lnghttp2 -lssl -lcrypto -pthread
ifeq ($(STATIC),1)
# A self-contained binary for nodes without libbpf (the kind smoke test).
LDLIBS := -static -l:libbpf.a -lelf -lz -lzstd -lyaml -lnghttp2 -lssl -lcrypto
endif

LOADER_SRCS := $(wildcard loader/*.c)
AGENT_SRCS := $(wildcard userspace-agent/*.c)
AGENT_OBJS := $(patsubst %.c,$(OUTPUT)/obj/%.o,$(LOADER_SRCS) $(AGENT_SRCS))
SKELS := $(patsubst %,$(OUTPUT)/%.skel.h,$(BPF_OBJS))

TOOLS := tt perf probe hold h2connect
TOOL_BINS := $(patsubst %,$(BIN)/shunt-%,$(TOOLS))

UNIT_TESTS := $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/test_*.c))
# What unit tests share (an in-memory apply target, a config generator).
UNIT_HELPERS := $(filter-out tests/unit/test_%.c,$(wildcard tests/unit/*.c))
BPF_TESTS := $(patsubst tests/bpf/%.c,%,$(wildcard tests/bpf/test_*.c))
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

.DELETE_ON_ERROR:
.SECONDARY:
.PHONY: all deps vmlinux clean test test-unit test-integration test-kernels demo bench format \
	format-check fuzz fuzz-apply

all: $(BIN)/shunt $(TOOL_BINS)

deps:
	$(Q)scripts/deps.sh

$(OUTPUT) $(BIN) $(OUTPUT)/obj $(OUTPUT)/unit:
	$(Q)mkdir -p $@

# vmlinux.h comes from the running kernel's BTF; CO-RE relocates the
# objects to other kernels at load time. `make vmlinux` regenerates it.
$(OUTPUT)/vmlinux.h: | $(OUTPUT)
	$(call msg,GEN,$@)
	$(Q)$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@

vmlinux:
	$(Q)rm -f $(OUTPUT)/vmlinux.h
	$(Q)$(MAKE) $(OUTPUT)/vmlinux.h

$(OUTPUT)/%.tmp.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.h) $(OUTPUT)/vmlinux.h | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUTPUT)/%.bpf.o: $(OUTPUT)/%.tmp.bpf.o
	$(call msg,LINK,$@)
	$(Q)$(BPFTOOL) gen object $@ $<

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $*_bpf > $@

$(OUTPUT)/obj/%.o: %.c $(SKELS) | $(OUTPUT)/obj
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BIN)/shunt: $(AGENT_OBJS) | $(BIN)
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

$(BIN)/shunt-%: tests/tools/%.c $(wildcard tests/tools/*.h) | $(BIN)
	$(call msg,TOOL,$@)
	$(Q)$(CC) $(CFLAGS) -pthread $< -o $@ -lm

# Speaks the proxies' tunnel protocol (HTTP/2 over TLS).
$(BIN)/shunt-h2connect: tests/tools/h2connect.c $(wildcard tests/tools/*.h) | $(BIN)
	$(call msg,TOOL,$@)
	$(Q)$(CC) $(CFLAGS) $< -o $@ -lnghttp2 -lssl -lcrypto

# Unit tests run under ASan and UBSan; they link the userspace sources they
# test, never the whole CLI.
$(OUTPUT)/unit/%: tests/unit/%.c $(UNIT_HELPERS) $(wildcard tests/unit/*.h) $(LOADER_SRCS) \
		$(AGENT_SRCS) $(SKELS) | $(OUTPUT)/unit
	$(call msg,UNIT,$@)
	$(Q)$(CC) $(filter-out -MMD -MP,$(CFLAGS)) $(SAN_FLAGS) -Itests/unit $< $(UNIT_HELPERS) \
		$(filter-out userspace-agent/main.c,$(LOADER_SRCS) $(AGENT_SRCS)) \
		$(LDLIBS) -lcmocka -o $@

# BPF program tests (BPF_PROG_TEST_RUN) are built the same way.
$(OUTPUT)/unit/%: tests/bpf/%.c $(LOADER_SRCS) $(AGENT_SRCS) $(SKELS) | $(OUTPUT)/unit
	$(call msg,BPFTEST,$@)
	$(Q)$(CC) $(filter-out -MMD -MP,$(CFLAGS)) $(SAN_FLAGS) $< \
		$(filter-out userspace-agent/main.c,$(LOADER_SRCS) $(AGENT_SRCS)) \
		$(LDLIBS) -lcmocka -o $@

test-unit: $(patsubst %,$(OUTPUT)/unit/%,$(UNIT_TESTS) $(BPF_TESTS))

test: deps
	$(Q)$(MAKE) all test-unit $(BIN)/shunt-fuzz-config
	$(Q)tests/run.sh

# Debian's 6.1 and 6.12 kernels in QEMU: what each one gets (docs/kernels.md).
test-kernels: deps
	$(Q)scripts/deps.sh kernels
	$(Q)scripts/test-kernels.sh $(KERNELS_ARGS)

demo: deps
	$(Q)$(MAKE) all
	$(Q)scripts/demo.sh $(DEMO_ARGS)

bench: deps
	$(Q)$(MAKE) all
	$(Q)scripts/bench.sh $(BENCH_ARGS)

# libFuzzer on the config parser. `make fuzz` runs FUZZ_SECONDS (default 60)
# and adds what it finds to tests/fuzz/corpus; the tests replay that corpus.
FUZZ_SECONDS ?= 60
FUZZ_SRCS := userspace-agent/mesh_config.c $(wildcard userspace-agent/cfg_*.c) \
	userspace-agent/mesh_plan.c $(wildcard userspace-agent/plan_*.c) userspace-agent/arena.c \
	userspace-agent/keymap.c \
	userspace-agent/addr.c userspace-agent/netns.c loader/mounts.c userspace-agent/log.c
$(BIN)/shunt-fuzz-config: tests/fuzz/fuzz_config.c $(FUZZ_SRCS) $(wildcard userspace-agent/*.h) | $(BIN)
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) $(filter-out -MMD -MP,$(CFLAGS)) -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all $< $(FUZZ_SRCS) -lyaml -lbpf -o $@

fuzz: $(BIN)/shunt-fuzz-config
	$(Q)mkdir -p $(OUTPUT)/fuzz-new
	$(Q)$(BIN)/shunt-fuzz-config -max_total_time=$(FUZZ_SECONDS) -max_len=8192 \
		$(OUTPUT)/fuzz-new tests/fuzz/corpus
	$(Q)$(BIN)/shunt-fuzz-config -merge=1 tests/fuzz/corpus $(OUTPUT)/fuzz-new

# libFuzzer on incremental == full apply (tests/unit/apply_diff.c): the
# fuzzer's bytes drive the config generator (longer inputs, more steps and
# bigger configs, hence no length ramp). `make fuzz-apply` runs
# FUZZ_SECONDS; its corpus stays in $(OUTPUT)/fuzz-apply.
FUZZ_APPLY_SRCS := $(FUZZ_SRCS) userspace-agent/mesh_apply.c userspace-agent/mesh_target_bpf.c \
	loader/pins.c $(UNIT_HELPERS)
$(BIN)/shunt-fuzz-apply: tests/fuzz/fuzz_apply.c $(FUZZ_APPLY_SRCS) $(wildcard userspace-agent/*.h) \
		$(wildcard tests/unit/*.h) | $(BIN)
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) $(filter-out -MMD -MP,$(CFLAGS)) -Itests/unit \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all $< $(FUZZ_APPLY_SRCS) \
		-lyaml -lbpf -o $@

fuzz-apply: $(BIN)/shunt-fuzz-apply
	$(Q)mkdir -p $(OUTPUT)/fuzz-apply
	$(Q)$(BIN)/shunt-fuzz-apply -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -len_control=0 \
		$(OUTPUT)/fuzz-apply

format:
	$(Q)clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	$(Q)clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')

clean:
	$(call msg,CLEAN,$(OUTPUT))
	$(Q)rm -rf $(OUTPUT)

-include $(wildcard $(OUTPUT)/obj/*/*.d)
