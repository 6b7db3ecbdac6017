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

BPF_OBJS := bypass mesh reuseport
BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	-I$(OUTPUT) -Ibpf
CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-missing-field-initializers \
	-I$(OUTPUT) -Ibpf -Iloader -Iuserspace-agent -MMD -MP
LDLIBS := -lbpf -lelf -lz -lyaml -ljansson -lnghttp2 -lhttp_parser -lcurl -lssl -lcrypto -lm -pthread
ifeq ($(STATIC),1)
# A self-contained binary for nodes without libbpf (the kind smoke test).
LDLIBS := -static -l:libbpf.a -lelf -lz -lzstd -lyaml -ljansson $(shell pkg-config --static --libs libcurl) -lnghttp2 -lhttp_parser -lssl -lcrypto -lm
endif

# Layers, top to bottom: a layer includes only the layers after it
# (scripts/check-layers.sh enforces it; docs in README "Design"). Each is a
# static library, linked in this order.
AGENT_LAYERS := cli control proxy sources identity model
LAYER_DIRS := $(patsubst %,userspace-agent/%,$(AGENT_LAYERS)) loader userspace-agent/common
LAYER_LIBS := $(foreach d,$(LAYER_DIRS),$(OUTPUT)/lib/libshunt-$(notdir $(d)).a)
# A layer's sources: its directory and one level of subdirectories (proxy/hbone).
layer_srcs = $(wildcard $(1)/*.c $(1)/*/*.c)
layer_objs = $(patsubst %.c,$(OUTPUT)/obj/%.o,$(call layer_srcs,$(1)))
LOADER_SRCS := $(wildcard loader/*.c)
AGENT_SRCS := $(foreach d,$(LAYER_DIRS),$(call layer_srcs,$(d)))
AGENT_HDRS := $(foreach d,$(LAYER_DIRS),$(wildcard $(d)/*.h $(d)/*/*.h))
SKELS := $(patsubst %,$(OUTPUT)/%.skel.h,$(BPF_OBJS))

TOOLS := tt perf probe hold h2connect recv-wakeup http-rate
TOOL_BINS := $(patsubst %,$(BIN)/shunt-%,$(TOOLS))

UNIT_TESTS := $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/test_*.c))
# What unit tests share (an in-memory apply target, a config generator).
UNIT_HELPERS := $(filter-out tests/unit/test_%.c,$(wildcard tests/unit/*.c))
BPF_TESTS := $(patsubst tests/bpf/%.c,%,$(wildcard tests/bpf/test_*.c))
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

.DELETE_ON_ERROR:
.SECONDARY:
.PHONY: all deps vmlinux clean test test-unit test-integration test-kernels demo bench format \
	format-check fuzz fuzz-apply fuzz-l7 check-layers

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

define layer_lib
$(OUTPUT)/lib/libshunt-$(notdir $(1)).a: $(call layer_objs,$(1))
	$$(call msg,AR,$$@)
	$$(Q)mkdir -p $$(@D)
	$$(Q)rm -f $$@ && ar rcs $$@ $$^
endef
$(foreach d,$(LAYER_DIRS),$(eval $(call layer_lib,$(d))))

$(BIN)/shunt: $(LAYER_LIBS) | $(BIN)
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(CFLAGS) $(LAYER_LIBS) $(LDLIBS) -o $@

check-layers:
	$(Q)scripts/check-layers.sh

$(BIN)/shunt-%: tests/tools/%.c $(wildcard tests/tools/*.h) | $(BIN)
	$(call msg,TOOL,$@)
	$(Q)$(CC) $(CFLAGS) -pthread $< -o $@ -lm

# Shares its half-close case with the loader's recv_waits probe.
$(BIN)/shunt-recv-wakeup: tests/tools/recv_wakeup.c $(OUTPUT)/lib/libshunt-loader.a \
		$(OUTPUT)/lib/libshunt-common.a | $(BIN)
	$(call msg,TOOL,$@)
	$(Q)$(CC) $(CFLAGS) -pthread $^ $(LDLIBS) -o $@

# Speaks the proxies' tunnel protocol (HTTP/2 over TLS).
$(BIN)/shunt-h2connect: tests/tools/h2connect.c $(wildcard tests/tools/*.h) | $(BIN)
	$(call msg,TOOL,$@)
	$(Q)$(CC) $(CFLAGS) $< -o $@ -lnghttp2 -lssl -lcrypto

# Fixed-rate HTTP/1.1 load for the L7 bench; responses parsed by http-parser.
$(BIN)/shunt-http-rate: tests/tools/http_rate.c $(wildcard tests/tools/*.h) | $(BIN)
	$(call msg,TOOL,$@)
	$(Q)$(CC) $(CFLAGS) $< -o $@ -lhttp_parser

# Unit tests run under ASan and UBSan; they link the layers' sources
# (sanitized), so a test pulls in only what its code reaches.
SAN_LIBS := $(foreach d,$(LAYER_DIRS),$(OUTPUT)/san/libshunt-$(notdir $(d)).a)
define san_lib
$(OUTPUT)/san/libshunt-$(notdir $(1)).a: $(patsubst %.c,$(OUTPUT)/san/%.o,$(call layer_srcs,$(1)))
	$$(call msg,AR,$$@)
	$$(Q)rm -f $$@ && ar rcs $$@ $$^
endef
$(foreach d,$(LAYER_DIRS),$(eval $(call san_lib,$(d))))

$(OUTPUT)/san/%.o: %.c $(SKELS)
	$(call msg,CC-SAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(SAN_FLAGS) -c $< -o $@

$(OUTPUT)/unit/%: tests/unit/%.c $(UNIT_HELPERS) $(wildcard tests/unit/*.h) $(SAN_LIBS) | $(OUTPUT)/unit
	$(call msg,UNIT,$@)
	$(Q)$(CC) $(filter-out -MMD -MP,$(CFLAGS)) $(SAN_FLAGS) -Itests/unit $< $(UNIT_HELPERS) \
		$(SAN_LIBS) $(LDLIBS) -lcmocka -o $@

# BPF program tests (BPF_PROG_TEST_RUN) are built the same way.
$(OUTPUT)/unit/%: tests/bpf/%.c $(SAN_LIBS) | $(OUTPUT)/unit
	$(call msg,BPFTEST,$@)
	$(Q)$(CC) $(filter-out -MMD -MP,$(CFLAGS)) $(SAN_FLAGS) $< $(SAN_LIBS) \
		$(LDLIBS) -lcmocka -o $@

test-unit: $(patsubst %,$(OUTPUT)/unit/%,$(UNIT_TESTS) $(BPF_TESTS))

# The builds of the top-level targets use every CPU (the tree builds in parallel).
BUILD_JOBS ?= $(shell nproc 2>/dev/null || echo 2)

test: deps
	$(Q)$(MAKE) -j$(BUILD_JOBS) all test-unit $(BIN)/shunt-fuzz-config $(BIN)/shunt-fuzz-l7
	$(Q)tests/run.sh

# Debian's 6.1 and 6.12 kernels in QEMU: what each one gets (docs/kernels.md).
test-kernels: deps
	$(Q)scripts/deps.sh kernels
	$(Q)scripts/test-kernels.sh $(KERNELS_ARGS)

demo: deps
	$(Q)$(MAKE) -j$(BUILD_JOBS) all
	$(Q)scripts/demo.sh $(DEMO_ARGS)

bench: deps
	$(Q)$(MAKE) -j$(BUILD_JOBS) all
	$(Q)SHUNT_OUTPUT=$(abspath $(OUTPUT)) scripts/bench.sh $(BENCH_ARGS)

# libFuzzer on the config parser. `make fuzz` runs FUZZ_SECONDS (default 60)
# and adds what it finds to tests/fuzz/corpus; the tests replay that corpus.
FUZZ_SECONDS ?= 60
# (Not the push exports nor the Kubernetes source: they need libcurl, and no
# fuzzer reaches them.)
FUZZ_SRCS := $(filter-out userspace-agent/common/push%.c userspace-agent/sources/k8s_%.c, \
	$(foreach d,model sources common,$(wildcard userspace-agent/$(d)/*.c))) \
	userspace-agent/control/mesh_plan.c $(wildcard userspace-agent/control/plan_*.c) \
	loader/mounts.c
$(BIN)/shunt-fuzz-config: tests/fuzz/fuzz_config.c $(FUZZ_SRCS) $(AGENT_HDRS) | $(BIN)
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) $(filter-out -MMD -MP,$(CFLAGS)) -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all $< $(FUZZ_SRCS) -lyaml -ljansson -lbpf -o $@

fuzz: $(BIN)/shunt-fuzz-config
	$(Q)mkdir -p $(OUTPUT)/fuzz-new
	$(Q)$(BIN)/shunt-fuzz-config -max_total_time=$(FUZZ_SECONDS) -max_len=8192 \
		$(OUTPUT)/fuzz-new tests/fuzz/corpus
	$(Q)$(BIN)/shunt-fuzz-config -merge=1 tests/fuzz/corpus $(OUTPUT)/fuzz-new

# libFuzzer on the L7 side's HTTP/1 front end: a client's bytes and an
# endpoint's answers through a real loop (tests/fuzz/fuzz_l7_http1.c).
# `make fuzz-l7` runs FUZZ_SECONDS and adds what it finds to
# tests/fuzz/corpus-l7; the tests replay that corpus.
FUZZ_L7_SRCS := $(FUZZ_SRCS) $(wildcard userspace-agent/proxy/l7/*.c) \
	tests/unit/l7_fake.c tests/unit/l7_fake_read.c
$(BIN)/shunt-fuzz-l7: tests/fuzz/fuzz_l7_http1.c $(FUZZ_L7_SRCS) $(AGENT_HDRS) \
		$(wildcard tests/unit/l7_fake*.h) | $(BIN)
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) $(filter-out -MMD -MP,$(CFLAGS)) -Itests/unit \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all $< $(FUZZ_L7_SRCS) \
		-lyaml -ljansson -lbpf -lhttp_parser -lnghttp2 -lm -o $@

fuzz-l7: $(BIN)/shunt-fuzz-l7
	$(Q)mkdir -p $(OUTPUT)/fuzz-l7-new
	$(Q)$(BIN)/shunt-fuzz-l7 -max_total_time=$(FUZZ_SECONDS) -max_len=8192 \
		$(OUTPUT)/fuzz-l7-new tests/fuzz/corpus-l7
	$(Q)$(BIN)/shunt-fuzz-l7 -merge=1 tests/fuzz/corpus-l7 $(OUTPUT)/fuzz-l7-new

# libFuzzer on incremental == full apply (tests/unit/apply_diff.c): the
# fuzzer's bytes drive the config generator (longer inputs, more steps and
# bigger configs, hence no length ramp). `make fuzz-apply` runs
# FUZZ_SECONDS; its corpus stays in $(OUTPUT)/fuzz-apply.
FUZZ_APPLY_SRCS := $(FUZZ_SRCS) userspace-agent/control/mesh_apply.c \
	userspace-agent/control/mesh_target_bpf.c \
	loader/pins.c $(filter-out tests/unit/l7_fake%.c tests/unit/metrics_text.c,$(UNIT_HELPERS))
$(BIN)/shunt-fuzz-apply: tests/fuzz/fuzz_apply.c $(FUZZ_APPLY_SRCS) $(AGENT_HDRS) \
		$(wildcard tests/unit/*.h) | $(BIN)
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) $(filter-out -MMD -MP,$(CFLAGS)) -Itests/unit \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all $< $(FUZZ_APPLY_SRCS) \
		-lyaml -ljansson -lbpf -o $@

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

-include $(shell find $(OUTPUT)/obj $(OUTPUT)/san -name '*.d' 2>/dev/null)
