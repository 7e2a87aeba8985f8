# SPDX-License-Identifier: GPL-2.0-only
# heaptrail: build (BPF objects, skeletons, the binary), dependencies, tests, demo.

BUILD    ?= build
ARCH     ?= x86
CC       ?= gcc
CLANG    ?= clang
BPFTOOL  ?= $(shell command -v bpftool 2>/dev/null || echo /usr/sbin/bpftool)
PYTHON   ?= /usr/bin/python3

VMLINUX_DIR := vmlinux/$(ARCH)
WARN     := -Wall -Wextra -Wshadow -Wno-unused-parameter -Wstrict-prototypes -Wmissing-prototypes
CFLAGS   ?= -O2 -g
# -MMD -MP: a changed header rebuilds everything that includes it, skeletons included.
DEPFLAGS  = -MMD -MP
USER_CFLAGS = $(CFLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE -I$(BUILD) -Ibpf $(USER_INC) $(DEPFLAGS)
BPF_CFLAGS  = -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -I$(VMLINUX_DIR) -Ibpf -Wall \
	      -Wno-unused-function $(DEPFLAGS)
# heaptrail's own allocations go to jemalloc, linked in: libc's malloc carries our uprobes once
# they are shared by every process, and heaptrail would take their traps itself.
OWN_MALLOC := -l:libjemalloc_pic.a -lpthread
LIBS     := -lbpf -ldw -lelf -lz -lzstd -lprotobuf-c -lcapstone -lmicrohttpd -lstdc++ \
	    $(OWN_MALLOC) -lm

# One .bpf.c per concern, linked into one object and one skeleton by libbpf's static linker.
# shared.bpf.c, which defines the shared maps the others declare extern, links first: after a
# file with maps of its own, bpftool 7.5's linker (libbpf 1.5) misplaces that file's map
# relocations ("map relo failed to find map for section '.maps'").
BPF_SRCS  := bpf/shared.bpf.c $(filter-out bpf/shared.bpf.c,$(wildcard bpf/*.bpf.c))
BPF_OBJS  := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_SRCS))
SKELS     := $(BUILD)/heaptrail.skel.h
# user/ is one folder per stage of the data flow. The BPF-free core (every stage but the live
# source, the commands and main) is a library that the binary, the unit tests, the fuzzer and
# the generators link: a new file in one of its folders needs no list edited.
CORE_DIRS := user/record user/model user/symbols user/report user/output user/util \
	     user/source/file
CORE_SRCS := $(wildcard $(addsuffix /*.c,$(CORE_DIRS)))
USER_SRCS := $(shell find user -name '*.c' | sort)
APP_SRCS  := $(filter-out $(CORE_SRCS),$(USER_SRCS))
APP_OBJS  := $(patsubst %.c,$(BUILD)/%.o,$(APP_SRCS))
# pprof's profile.proto (third_party/pprof), compiled to C by protobuf-c at build time: the
# core links the generated code (output/pprof_out.c writes profiles with it).
PROTO_DIR := $(BUILD)/gen
PROTO_H   := $(PROTO_DIR)/profile.pb-c.h
CORE_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(CORE_SRCS)) $(PROTO_DIR)/profile.pb-c.o
CORE_LIB  := $(BUILD)/libheaptrail.a
CORE_LIBS := -ldw -lelf -lz -lzstd -lprotobuf-c -lm
USER_INC  := -Iuser -I$(PROTO_DIR)

# Unit tests link the core built again with sanitizers.
UNIT_CFLAGS  = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
	       -fno-sanitize-recover=all $(WARN) -std=gnu11 -D_GNU_SOURCE -Ibpf $(USER_INC) $(DEPFLAGS)
UNIT_TESTS   := $(patsubst tests/unit/%.c,$(BUILD)/unit/%,$(wildcard tests/unit/test_*.c))
UNIT_OBJS    := $(patsubst %.c,$(BUILD)/unit/%.o,$(CORE_SRCS)) $(BUILD)/unit/gen/profile.pb-c.o
UNIT_LIB     := $(BUILD)/unit/libheaptrail.a
# The live source's BPF-free parts that unit tests take too: probe placement (Capstone), the
# kernel feature table.
UNIT_LIVE_OBJS := $(BUILD)/unit/user/source/live/probes.o $(BUILD)/unit/user/source/live/caps.o
UNIT_LIVE_LIB  := $(BUILD)/unit/liblive.a

FIXTURE_C   := $(wildcard tests/fixtures/*.c)
FIXTURE_CXX := $(wildcard tests/fixtures/*.cc)
FIXTURES    := $(patsubst tests/fixtures/%.c,$(BUILD)/fixtures/%,$(FIXTURE_C)) \
	       $(patsubst tests/fixtures/%.cc,$(BUILD)/fixtures/%,$(FIXTURE_CXX)) \
	       $(BUILD)/fixtures/leaky_debuglink $(BUILD)/fixtures/bad_frames_stripped \
	       $(BUILD)/fixtures/libdeep_fp.so $(BUILD)/fixtures/deep_fp
# Fixtures keep frame pointers and no inlining of the functions they name.
FIXTURE_CFLAGS := -O1 -g -fno-omit-frame-pointer -fno-builtin -Wall -pthread

.PHONY: all layers deps test-deps vmlinux run test unit integration fixtures clean format bench \
	fuzz fuzz-smoke vmtest vmtests install host soak
.DELETE_ON_ERROR:
.SECONDARY:

all: $(BUILD)/heaptrail

$(BUILD) $(BUILD)/unit $(BUILD)/fixtures:
	mkdir -p $@

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -MF $(BUILD)/bpf/$*.bpf.d -c $< -o $@

# Named apart from the one-file object of earlier trees, whose stale .d would otherwise add
# bpf/heaptrail.bpf.c to its prerequisites.
$(BUILD)/heaptrail.linked.o: $(BPF_OBJS)
	$(BPFTOOL) gen object $@ $(BPF_OBJS)

$(BUILD)/heaptrail.skel.h: $(BUILD)/heaptrail.linked.o
	$(BPFTOOL) gen skeleton $< name heaptrail_bpf > $@

# Every user object may include a skeleton or the profile's messages; generate them first.
$(BUILD)/user/%.o: user/%.c $(SKELS) $(PROTO_H)
	@mkdir -p $(@D)
	$(CC) $(USER_CFLAGS) -c $< -o $@

# The HTML report's page is built into html_out.o by the assembler (.incbin), which -MMD does not
# see: every flavour of that object depends on the page's files by name.
HTML_ASSETS := $(wildcard user/output/html/*)
$(BUILD)/user/output/html_out.o $(BUILD)/unit/user/output/html_out.o \
	$(BUILD)/fuzz/user/output/html_out.o: $(HTML_ASSETS)

$(PROTO_DIR)/profile.pb-c.c $(PROTO_H) &: third_party/pprof/profile.proto
	@mkdir -p $(PROTO_DIR)
	protoc-c --proto_path=third_party/pprof --c_out=$(PROTO_DIR) profile.proto

# Generated code: built as it comes, with the flags of each flavour but not our warnings.
$(PROTO_DIR)/profile.pb-c.o: $(PROTO_DIR)/profile.pb-c.c $(PROTO_H)
	$(CC) $(CFLAGS) -I$(PROTO_DIR) -c $< -o $@

$(CORE_LIB): $(CORE_OBJS)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/heaptrail: $(APP_OBJS) $(CORE_LIB) | layers
	$(CC) $(CFLAGS) -o $@ $(APP_OBJS) $(CORE_LIB) $(LIBS)

# A stage never includes a later one (scripts/layers.sh has the order).
layers:
	@scripts/layers.sh

vmlinux:
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $(VMLINUX_DIR)/vmlinux.h

# ---------------------------------------------------------------- dependencies
# Debian 12: libbpf >= 1.4 and bpftool 7.5 come from bookworm-backports, and elfutils with
# them (libbpf-dev pulls backports' libelf, which libdw-dev must match).
BACKPORTS_LIST := /etc/apt/sources.list.d/heaptrail-backports.sources
DEPS_BACKPORTS := libbpf-dev bpftool libelf-dev libdw-dev
# Building and running: what `make run` installs.
DEPS_MAIN      := clang llvm gcc make pkg-config zlib1g-dev libcapstone-dev libjemalloc-dev \
		  libzstd-dev libprotobuf-c-dev protobuf-c-compiler libmicrohttpd-dev
# Only the tests use these (stress-ng: load beside the -k tests; heaptrack: the stacks it reports
# are compared with ours; golang-go: Go's own pprof reads our profiles; chromium, its driver and
# selenium: the HTML report opened in a real browser; qemu and the rest: vmtest).
DEPS_TEST      := g++ libcmocka-dev python3 python3-pytest valgrind libc6-dbg util-linux \
		  librsvg2-bin stress-ng qemu-system-x86 busybox-static cpio file heaptrack binutils \
		  golang-go groff-base man-db chromium chromium-driver python3-selenium prometheus
# The debuginfod server, of the same elfutils as libdw's client (test_stacks starts one).
DEPS_TEST_BACKPORTS := debuginfod

deps:
	@scripts/deps.sh "$(BACKPORTS_LIST)" "$(DEPS_BACKPORTS)" "$(DEPS_MAIN)"

test-deps: deps
	@scripts/deps.sh "$(BACKPORTS_LIST)" "$(DEPS_BACKPORTS) $(DEPS_TEST_BACKPORTS)" "$(DEPS_TEST)"

# ---------------------------------------------------------------- tests
$(BUILD)/unit/user/%.o: user/%.c | $(PROTO_H)
	@mkdir -p $(@D)
	$(CC) $(UNIT_CFLAGS) -c $< -o $@

$(BUILD)/unit/gen/profile.pb-c.o: $(PROTO_DIR)/profile.pb-c.c $(PROTO_H)
	@mkdir -p $(@D)
	$(CC) -O1 -g -fsanitize=address,undefined -I$(PROTO_DIR) -c $< -o $@

$(UNIT_LIB): $(UNIT_OBJS)
	rm -f $@
	ar rcs $@ $^

$(UNIT_LIVE_LIB): $(UNIT_LIVE_OBJS)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/unit/%: tests/unit/%.c $(UNIT_LIB) $(UNIT_LIVE_LIB) | $(BUILD)/unit
	$(CC) $(UNIT_CFLAGS) -o $@ $< $(UNIT_LIVE_LIB) $(UNIT_LIB) -lcmocka -lcapstone $(CORE_LIBS) \
		-lstdc++

$(BUILD)/fixtures/%: tests/fixtures/%.c | $(BUILD)/fixtures
	$(CC) $(FIXTURE_CFLAGS) -o $@ $<

$(BUILD)/fixtures/%: tests/fixtures/%.cc | $(BUILD)/fixtures
	g++ $(FIXTURE_CFLAGS) -std=c++17 -o $@ $<

$(BUILD)/demo: tests/demo/demo.c | $(BUILD)
	$(CC) $(FIXTURE_CFLAGS) -o $@ $<

fixtures: $(FIXTURES) $(BUILD)/verify_progs

# Loads every BPF program on its own (tests/integration/test_programs.py).
$(BUILD)/verify_progs: tests/tools/verify_progs.c $(SKELS) | $(BUILD)
	$(CC) $(CFLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE -I$(BUILD) -Ibpf $(DEPFLAGS) -o $@ $< $(LIBS)

unit: $(UNIT_TESTS)
	@set -e; for t in $(UNIT_TESTS); do echo "== $$t"; $$t; done

integration: $(BUILD)/heaptrail fixtures
	$(PYTHON) -m pytest -q tests/integration

# ---------------------------------------------------------------- fuzzing the file reader
# The fuzz target links the core built again with clang's fuzzer instrumentation.
FUZZ_CFLAGS := -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
	       -D_GNU_SOURCE -Ibpf $(USER_INC) $(DEPFLAGS)
FUZZ_OBJS := $(patsubst %.c,$(BUILD)/fuzz/%.o,$(CORE_SRCS)) $(BUILD)/fuzz/gen/profile.pb-c.o
FUZZ_LIB  := $(BUILD)/fuzz/libheaptrail.a

$(BUILD)/fuzz:
	mkdir -p $@ $@/corpus

$(BUILD)/fuzz/user/%.o: user/%.c | $(PROTO_H)
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(BUILD)/fuzz/gen/profile.pb-c.o: $(PROTO_DIR)/profile.pb-c.c $(PROTO_H)
	@mkdir -p $(@D)
	$(CLANG) -g -O1 -fsanitize=address,undefined -fsanitize=fuzzer-no-link -I$(PROTO_DIR) -c $< -o $@

$(FUZZ_LIB): $(FUZZ_OBJS)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/fuzz/fuzz_recfile: tests/fuzz/fuzz_recfile.c $(FUZZ_LIB) | $(BUILD)/fuzz
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB) $(CORE_LIBS)

$(BUILD)/fuzz/make_seed: tests/fuzz/make_seed.c $(CORE_LIB) | $(BUILD)/fuzz
	$(CC) -O1 -g -D_GNU_SOURCE -Ibpf $(USER_INC) -o $@ $^ $(CORE_LIBS)

$(BUILD)/fuzz/corpus/seed.htr: $(BUILD)/fuzz/make_seed
	$< $@ $(BUILD)/fuzz/corpus/raw-block.seed

FUZZ_RUN = $(BUILD)/fuzz/fuzz_recfile $(BUILD)/fuzz/corpus tests/fuzz/regressions \
	   -artifact_prefix=tests/fuzz/regressions/ -max_len=65536

# A minute of fuzzing; a crash it finds stays in tests/fuzz/regressions (commit it, fix it).
fuzz: $(BUILD)/fuzz/fuzz_recfile $(BUILD)/fuzz/corpus/seed.htr
	$(FUZZ_RUN) -max_total_time=60

# CI: the regression inputs, then ten seconds of fuzzing.
fuzz-smoke: $(BUILD)/fuzz/fuzz_recfile $(BUILD)/fuzz/corpus/seed.htr
	$(BUILD)/fuzz/fuzz_recfile -runs=0 tests/fuzz/regressions $(BUILD)/fuzz/corpus
	@$(FUZZ_RUN) -max_total_time=10 > $(BUILD)/fuzz/smoke.log 2>&1 || \
		{ tail -40 $(BUILD)/fuzz/smoke.log; echo "fuzz-smoke: FAILED"; exit 1; }
	@tail -1 $(BUILD)/fuzz/smoke.log

test: test-deps
	$(MAKE) unit fuzz-smoke host integration

# What needs no kernel: make install, the manual page, the completion (tests/host).
host: $(BUILD)/heaptrail
	$(PYTHON) -m pytest -q tests/host

# ---------------------------------------------------------------- benchmarks (not in CI)
BENCH_PROGS := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(wildcard tests/bench/*.c))

$(BUILD)/bench:
	mkdir -p $@

$(BUILD)/bench/%: tests/bench/%.c tests/bench/bench.h | $(BUILD)/bench
	$(CC) -O2 -g -pthread -Wall -o $@ $<

# Other kernels under qemu: KERNEL=5.10 (bullseye), 6.1 (bookworm) or 6.12 (bookworm-backports),
# or an exact linux-image-cloud-amd64 version; PYTEST_ARGS narrows what runs inside. vmtests:
# each of KERNELS, VMTEST_JOBS (2) at a time (what CI runs).
KERNEL ?= 6.1
KERNELS ?= 6.1 5.10 6.12
vmtest: test-deps $(BUILD)/heaptrail fixtures
	KERNEL=$(KERNEL) scripts/vmtest.sh
vmtests: test-deps $(BUILD)/heaptrail fixtures
	KERNELS="$(KERNELS)" scripts/vmtests.sh

bench: $(BUILD)/heaptrail $(BENCH_PROGS) $(BUILD)/bench/gen_recording fixtures
	@scripts/deps.sh "$(BACKPORTS_LIST)" "$(DEPS_BACKPORTS)" \
		"heaptrack bpftrace chromium chromium-driver python3-selenium"
	$(PYTHON) scripts/bench.py | tee $(BUILD)/bench.md

# heaptrail serve -a for 10 minutes beside short-lived processes: its RSS must level off.
soak: $(BUILD)/heaptrail fixtures
	$(PYTHON) scripts/soak.py | tee $(BUILD)/soak.md

# The manual page is written by heaptrail itself, from the option tables --help prints.
$(BUILD)/heaptrail.8: $(BUILD)/heaptrail
	$< --man > $@

PREFIX ?= /usr/local
install: $(BUILD)/heaptrail $(BUILD)/heaptrail.8
	install -D -m 0755 $(BUILD)/heaptrail $(DESTDIR)$(PREFIX)/sbin/heaptrail
	install -D -m 0644 $(BUILD)/heaptrail.8 $(DESTDIR)$(PREFIX)/share/man/man8/heaptrail.8
	install -D -m 0644 scripts/heaptrail.bash-completion \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/heaptrail
	mkdir -p $(DESTDIR)$(PREFIX)/lib/systemd/system
	sed 's|@SBINDIR@|$(PREFIX)/sbin|' scripts/heaptrail.service \
		> $(DESTDIR)$(PREFIX)/lib/systemd/system/heaptrail.service

run: deps $(BUILD)/heaptrail $(BUILD)/demo
	$(BUILD)/heaptrail trace -c $(BUILD)/demo

format:
	clang-format -i bpf/*.c bpf/*.h $(shell find user -name '*.[ch]') tests/unit/*.c \
		tests/fixtures/*.c \
		tests/fixtures/*.h tests/bench/*.c tests/bench/*.h tests/fuzz/*.c tests/tools/*.c

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -path $(BUILD)/vmtest -prune -o -name '*.d' -type f -print 2>/dev/null)

# The leaky fixture with its debug info moved to a separate file, found via .gnu_debuglink.
$(BUILD)/fixtures/leaky_debuglink: $(BUILD)/fixtures/leaky
	objcopy --only-keep-debug $< $@.debug
	objcopy --strip-debug --add-gnu-debuglink=$@.debug $< $@


# bad_frames without any symbol table, its debug info in a file of its own that only a
# debuginfod server started by the test serves (found by build-id).
$(BUILD)/fixtures/bad_frames_stripped: $(BUILD)/fixtures/bad_frames
	objcopy --only-keep-debug $< $@.debug
	objcopy --strip-all $< $@

# deep_nofp: built as distributions build, without frame pointers, and calling through a
# library built with them: stacks the frame-pointer walk cannot follow. deep_fp: the same
# source the other way round, with frame pointers over the library built without.
NOFP_CFLAGS := -O2 -g -fomit-frame-pointer -fno-builtin -Wall
$(BUILD)/fixtures/libdeep_fp.so: tests/fixtures/lib/deep_relay.c | $(BUILD)/fixtures
	$(CC) $(FIXTURE_CFLAGS) -shared -fPIC -o $@ $<

$(BUILD)/fixtures/libdeep_nofp.so: tests/fixtures/lib/deep_relay.c | $(BUILD)/fixtures
	$(CC) $(NOFP_CFLAGS) -shared -fPIC -o $@ $<

$(BUILD)/fixtures/deep_nofp: tests/fixtures/deep_nofp.c $(BUILD)/fixtures/libdeep_fp.so
	$(CC) $(NOFP_CFLAGS) -Itests/fixtures -o $@ $< -L$(BUILD)/fixtures -ldeep_fp \
		-Wl,-rpath,'$$ORIGIN'

$(BUILD)/fixtures/deep_fp: tests/fixtures/deep_nofp.c $(BUILD)/fixtures/libdeep_nofp.so
	$(CC) $(FIXTURE_CFLAGS) -Itests/fixtures -o $@ $< -L$(BUILD)/fixtures -ldeep_nofp \
		-Wl,-rpath,'$$ORIGIN'

# A statically linked fixture, for --lib on a program that carries its own malloc.
$(BUILD)/fixtures/%_static: tests/fixtures/%_static.c | $(BUILD)/fixtures
	$(CC) $(FIXTURE_CFLAGS) -static -o $@ $<

$(BUILD)/bench/gen_recording: tests/bench/gen_recording.c $(CORE_LIB) | $(BUILD)/bench
	$(CC) -O2 -g -D_GNU_SOURCE -Ibpf $(USER_INC) -Itests/bench -o $@ $^ $(CORE_LIBS)
