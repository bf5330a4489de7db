# SPDX-License-Identifier: Apache-2.0
#
# posedge build. One Makefile for every board: BOARD=sim (default, host + fake devices) selects
# boards/$(BOARD)/board.mk, which says which toolchain and HAL drivers the board uses. Objects
# and binaries go to build/$(BOARD)/ (release), build/$(BOARD)/san/ (ASan+UBSan test build) or
# build/$(BOARD)/test/ (VARIANT=test: the release build with fault injection, no sanitizers:
# the test build of the ARM boards, whose tests run under user-mode QEMU, where sanitizers are
# unreliable), so boards and variants sit side by side.
#
# A cross board (CROSS set: rpi4, armhf) compiles with Debian's cross compiler against a
# sysroot of its own, build/$(BOARD)/sysroot: its architecture's library packages, downloaded
# and unpacked by scripts/sysroot.sh when it is missing (never touching the host's packages).
#
#   make              build/$(BOARD)/posedge-agent, -bridge and -ctl; checks the layer order
#                     (scripts/layers.sh: see "The layers" below)
#   make BOARD=rpi4   the same for a Raspberry Pi 4 class till (arm64); BOARD=armhf for ARMv7
#   make check        install what is missing, build with sanitizers, run every test (with the
#                     ARM boards' test builds under QEMU: tests/run.sh)
#   make demo         install what is missing; a store end to end: 3 tills, faults, HQ prices
#   make bench        throughput, latency, memory and size figures
#   make powercut     the power-cut suite alone (POWERCUT_CUTS=N, POWERCUT_SEED=S;
#                     docs/powercut.md)
#   make soak         a store under load and a random fault every few seconds for SOAK_MINUTES
#                     (default 10), sampled for growth against stated bounds (docs/soak.md)
#   make fuzz         install clang; run every fuzz target under libFuzzer for FUZZ_SECONDS each
#                     (tests/fuzz/, scripts/fuzz.sh; docs/fuzzing.md)
#   make deb          Debian packages of the board (build/$(BOARD)/deb/; docs/packaging.md)
#   make repo         install what is missing; every board's packages published into the signed
#                     apt repository $(REPO_DIR) (default build/repo; docs/rollout.md)
#   make clean

BOARD ?= sim
VARIANT ?= release
# Debian's hardening for what ships (the sanitizer build has its own checks): fortified libc
# calls, stack protector, and a read-only GOT bound at start (lintian's hardening checks).
HARDEN := -D_FORTIFY_SOURCE=2 -fstack-protector-strong
HARDEN_LD := -Wl,-z,relro,-z,now
include boards/$(BOARD)/board.mk

ifeq ($(VARIANT),san)
BUILD := build/$(BOARD)/san
VFLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all \
          -DPE_FAULT_INJECTION
else ifeq ($(VARIANT),test)
BUILD := build/$(BOARD)/test
VFLAGS := -O2 -g -DPE_FAULT_INJECTION $(HARDEN)
else ifeq ($(VARIANT),fuzz)
# The libFuzzer build (make fuzz): clang, every object instrumented for coverage with ASan and
# UBSan; only the fuzz targets link libFuzzer itself (FUZZ_LINK below).
BUILD := build/$(BOARD)/fuzz
VFLAGS := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
          -fno-sanitize-recover=all -DPE_FAULT_INJECTION
else
BUILD := build/$(BOARD)
# Release: every function and object in a section of its own, and the linker drops those no
# program reaches (GC_LD): a till's agent does not carry the store CA's half of common/pki.c
# nor the spool's.
VFLAGS := -O2 -g $(HARDEN) -ffunction-sections -fdata-sections
GC_LD := -Wl,--gc-sections
endif
# What ships to a till (a cross board) is built for size: -Os, and no .eh_frame unwind tables
# (C without exceptions or pthread_cancel never unwinds; -g keeps .debug_frame in the unstripped
# build/$(BOARD) binaries for a debugger). The stripped arm64 agent went from 514 to 386 KB,
# armhf's from 310 to 282 KB. The board's test variant, which its tests run under QEMU, is
# compiled the same way. The sim board stays at -O2: it is the laptop's build, and the one
# make bench times.
ifneq ($(CROSS),)
ifneq ($(filter release test,$(VARIANT)),)
VFLAGS := $(patsubst -O2,-Os,$(VFLAGS)) -fno-asynchronous-unwind-tables -fno-unwind-tables
endif
endif

# The version has one home: the top entry of pkg/changelog (VERSION=... overrides it, e.g. for
# the upgrade test's second build). Only common/version.c is compiled with it; the stamp makes
# that object rebuild when the version or board changes.
VERSION ?= $(shell sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' pkg/changelog)
VERSION_STAMP := build/$(BOARD)/$(notdir $(VARIANT)).version

# The builds that check, demo and fuzz make for themselves run this many compilers at once.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CC := $(CROSS)gcc
AR := $(CROSS)ar
ifeq ($(VARIANT),fuzz)
CC := clang
endif
PKG_LIBS := sqlite3 libcjson mbedcrypto
# The Debian packages of the libraries below, for a cross board's sysroot (with their runtime
# dependencies); a board needing more names them in BOARD_PKGS. The fake printer's QR code
# images (libqrencode, zlib; see SIM below) are in every sysroot of a board with the fake
# devices, as its test build draws them (one sysroot serves all of a board's variants).
LIB_PKGS := libsqlite3-dev libcjson-dev libmbedtls-dev libmosquitto-dev librdkafka-dev \
            libavro-dev libcurl4-openssl-dev libssl-dev libmicrohttpd-dev \
            $(if $(filter fake,$(HAL_DIRS)),libqrencode-dev zlib1g-dev)

# A cross board: headers and libraries from its sysroot (the C library from the toolchain's own,
# /usr/<triplet>); -rpath-link finds the libraries' own dependencies (libssl3, libsasl2, ...).
ifneq ($(CROSS),)
TRIPLET := $(patsubst %-,%,$(CROSS))
SYSROOT := build/$(BOARD)/sysroot
SYSROOT_STAMP := $(SYSROOT).manifest
SYSROOT_FLAGS := --sysroot=$(SYSROOT)
LDFLAGS += -Wl,-rpath-link,$(SYSROOT)/lib/$(TRIPLET):$(SYSROOT)/usr/lib/$(TRIPLET)
endif
CPPFLAGS += $(foreach d,$(HAL_DIRS),-DPE_HAL_$(d)=1) -Iinclude -I. -D_DEFAULT_SOURCE -D_XOPEN_SOURCE=700 -MMD -MP
CFLAGS += -std=c11 -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes \
          -Wmissing-prototypes -Wswitch-enum -Wno-missing-field-initializers $(VFLAGS) $(BOARD_CFLAGS) \
          $(SYSROOT_FLAGS)
LDFLAGS += $(filter -fsanitize%,$(VFLAGS)) $(BOARD_CFLAGS) $(SYSROOT_FLAGS) \
           $(if $(filter -D_FORTIFY_SOURCE%,$(VFLAGS)),$(HARDEN_LD)) $(GC_LD)
# Each binary links only what it uses: librdkafka alone is most of a till's memory otherwise.
# libcrypto (OpenSSL, in every process anyway under libmosquitto) does the arithmetic of the
# till's signatures (common/pki.c, pe_pki_key_sign_digest).
LDLIBS := -lsqlite3 -lcjson -lmbedx509 -lmbedcrypto -lcrypto -lmosquitto -lm
# The daemons' /metrics and /health (common/http.c, http.listen): GNU libmicrohttpd, linked only
# by the programs that serve them (--as-needed: posedge-ctl does not).
LDLIBS += -Wl,--push-state,--as-needed -lmicrohttpd -Wl,--pop-state
KAFKA_LIBS := -lrdkafka
# The bridge's Avro output profiles: Apache Avro C and libcurl (Schema Registry); its signature
# check: OpenSSL's libcrypto (bridge/sigcheck.c).
AVRO_LIBS := -lavro -lcurl -lcrypto

# ---- The layers ----------------------------------------------------------------------------
# common -> store | hal -> sim -> agent | bridge | ctl. A layer is a top-level directory and one
# archive, and may use only itself and the layers LAYER_USES_<layer> names: store and hal are
# siblings that never use each other, and so are the three programs. A public header
# (include/posedge/) belongs to common unless LAYER_HEADERS_<layer> names it (patterns as
# make's, under include/posedge/). Programs link their archives highest layer first, so a call
# from a lower layer up does not link; and scripts/layers.sh checks every include and every
# archive's undefined symbols against this table, so a back edge fails `make` even where the
# linker would let it through.
LAYERS := common store hal sim agent bridge ctl
LAYER_USES_common :=
LAYER_USES_store := common
LAYER_USES_hal := common
LAYER_USES_sim := common hal
LAYER_USES_agent := common store hal sim
LAYER_USES_bridge := common store hal sim
LAYER_USES_ctl := common store hal sim
LAYER_HEADERS_store := journal.h spool.h report.h ledger.h faultvfs.h archive.h
LAYER_HEADERS_hal := hal/%
LAYER_HEADERS_sim := sim.h
# The layers under the programs; each program links its own archive and then these.
BASE_LAYERS := common store hal sim
PROGRAM_LAYERS := $(filter-out $(BASE_LAYERS),$(LAYERS))

# The simulator drives the fake devices: it is built only where the board's HAL_DIRS has fake,
# and not where the board says BOARD_SIM := no (a till whose payment terminal and keypad are
# still the fakes, but whose release binary must not carry a shopper: rpi4, armhf).
# A program's file X_nosim.c stands in for X.c (the program's part that needs the simulator)
# on a board without it: X.c is built only with the sim layer, X_nosim.c only without.
# The fake printer's QR code images (hal/fake/fake_qr.c, with libqrencode and zlib) are for the
# tests that decode them, so they go with the simulator too: without it fake_qr_nosim.c stands
# in (the fake printer writes a code's payload and no image) and no binary links the two
# libraries; a release till (rpi4, armhf: its ESC/POS printer draws codes itself) never does.
SIM := $(if $(filter no,$(BOARD_SIM)),,$(filter fake,$(HAL_DIRS)))
NOSIM_SRC := $(wildcard agent/*_nosim.c bridge/*_nosim.c ctl/*_nosim.c hal/fake/*_nosim.c)
SIM_OFF_SRC := $(if $(SIM),$(NOSIM_SRC),$(NOSIM_SRC:%_nosim.c=%.c))
# --as-needed: of the programs only those that draw codes (the agent) depend on them.
ifneq ($(SIM),)
LDLIBS += -Wl,--push-state,--as-needed -lqrencode -lz -Wl,--pop-state
endif

# The pkcs11 signer needs only the Cryptoki header of p11-kit (libp11-kit-dev, scripts/deps.sh):
# it loads the token's module with dlopen, so nothing links to p11-kit. That header declares
# types and constants only, in terms of the compiler's own <stddef.h> and unsigned long, so the
# host's serves every board (no sysroot needs it). Without it the signer is not built, and
# signer.type pkcs11 is refused as unknown.
P11_DIR := /usr/include/p11-kit-1
P11 := $(wildcard $(P11_DIR)/p11-kit/pkcs11.h)
CPPFLAGS += $(if $(P11),-DPE_HAVE_PKCS11=1)
$(BUILD)/obj/common/signer_pkcs11.o: CPPFLAGS += -I$(P11_DIR)
SRC_common := $(filter-out $(if $(P11),,common/signer_pkcs11.c),$(wildcard common/*.c))
SRC_store := $(wildcard store/*.c)
SRC_hal := $(filter-out $(SIM_OFF_SRC),$(wildcard hal/*.c) \
                        $(foreach d,$(HAL_DIRS),$(wildcard hal/$(d)/*.c)))
SRC_sim := $(if $(SIM),$(wildcard sim/*.c))
SRC_agent := $(filter-out agent/main.c $(SIM_OFF_SRC),$(wildcard agent/*.c))
SRC_bridge := $(filter-out bridge/main.c $(SIM_OFF_SRC),$(wildcard bridge/*.c))
SRC_ctl := $(filter-out ctl/main.c $(SIM_OFF_SRC),$(wildcard ctl/*.c))

# What the board leaves out (driver families, the simulator), as the include paths that name
# it: a unit test that includes one of them needs it, and is not built.
HAL_OFF := $(filter-out $(HAL_DIRS),$(notdir $(patsubst %/,%,$(wildcard hal/*/))))
OFF_INCLUDES := $(HAL_OFF:%=hal/%/) $(if $(SIM),,sim/ posedge/sim.h)
HASH := \#
UNIT_OFF := $(if $(strip $(OFF_INCLUDES)),$(shell grep -lF \
                $(foreach i,$(OFF_INCLUDES),-e '$(HASH)include "$(i)') tests/unit/test_*.c))
UNIT_SRC := $(filter-out tests/unit/harness.c $(UNIT_OFF) $(if $(P11),,tests/unit/test_signer_pkcs11.c),\
                $(wildcard tests/unit/test_*.c))

# test_allocfail steps an allocation failure over whole runs (SQLite's test_malloc.c): only in
# the sanitizer build, the one that reports a leak or a bad access on an error path (under the
# ARM boards' QEMU its thousands of runs would only be slow).
UNIT_SRC := $(filter-out $(if $(filter san,$(VARIANT)),,tests/unit/test_allocfail.c),$(UNIT_SRC))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
lib = $(foreach l,$(1),$(BUILD)/lib$(l).a)
reverse = $(if $(1),$(call reverse,$(wordlist 2,$(words $(1)),$(1))) $(firstword $(1)))
# The layers this board builds (the sim layer may be empty), and the base archives highest
# first, as every link line takes them.
BUILT_LAYERS := $(foreach l,$(LAYERS),$(if $(strip $(SRC_$(l))),$(l)))
BASE_LIBS := $(call lib,$(call reverse,$(filter $(BASE_LAYERS),$(BUILT_LAYERS))))
BRIDGE := $(BUILD)/posedge-bridge
AGENT := $(BUILD)/posedge-agent
CTL := $(BUILD)/posedge-ctl
LAYERS_OK := $(BUILD)/layers.ok
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
BENCH_BINS := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(wildcard tests/bench/*.c))

# ---- Fuzz targets (tests/fuzz/; docs/fuzzing.md) -------------------------------------------
# tests/fuzz/fuzz_<name>.c is one target: LLVMFuzzerTestOneInput over one parser of outside
# input, linked like a unit test. Two builds of each: $(BUILD)/fuzz/replay_<name> in the
# sanitizer variant (gcc; tests/fuzz/replay.c's main feeds it the seed corpus and past crashes:
# make check), and $(BUILD)/fuzz/fuzz_<name> in VARIANT=fuzz (clang's libFuzzer: make fuzz).
# A target that includes what the board leaves out is not built, as for unit tests.
FUZZ_ALL := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_OFF := $(if $(and $(strip $(OFF_INCLUDES)),$(FUZZ_ALL)),$(shell grep -lF \
                $(foreach i,$(OFF_INCLUDES),-e '$(HASH)include "$(i)') $(FUZZ_ALL)))
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(filter-out $(FUZZ_OFF),$(FUZZ_ALL)))
FUZZ_REPLAY_BINS := $(FUZZ_NAMES:%=$(BUILD)/fuzz/replay_%)
FUZZ_BINS := $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)
FUZZ_LINK := -fsanitize=fuzzer,address,undefined
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=

.PHONY: all check demo bench soak deb repo deps kafka unit-tests bench-bins sysroot board-vars \
        clean FORCE fuzz fuzz-bins fuzz-replay
all: $(AGENT) $(CTL) $(if $(wildcard bridge/main.c),$(BRIDGE)) $(LAYERS_OK)

# Objects depend on the board's file too: its HAL_DIRS and flags are compiled into them. And on
# the compiler and flags they were made with (FLAGS_STAMP, rewritten only when those change: in
# this file, a board's or on the command line), so a build never links objects of old flags.
FLAGS_STAMP := $(BUILD)/obj/flags
$(FLAGS_STAMP): FORCE
	@mkdir -p $(dir $@)
	@echo '$(CC) $(CPPFLAGS) $(CFLAGS)' | cmp -s - $@ || echo '$(CC) $(CPPFLAGS) $(CFLAGS)' > $@
$(BUILD)/obj/%.o: %.c boards/$(BOARD)/board.mk $(FLAGS_STAMP) | $(SYSROOT_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

# Made once, when missing (make clean removes it; the downloaded packages stay in the cache).
sysroot: $(SYSROOT_STAMP)
# One made from partial indexes (a mirror mid-sync: $(SYSROOT).degraded) is looked at again on
# every run, and made anew once the mirror is whole.
# One made before the board's package list grew gets the new packages: the list is kept beside
# it ($(SYSROOT).pkgs, rewritten only when it changes) and sysroot.sh makes a sysroot anew that
# lacks one of them.
ifneq ($(CROSS),)
$(SYSROOT_STAMP): $(SYSROOT).pkgs $(if $(wildcard $(SYSROOT).degraded),FORCE)
	scripts/sysroot.sh $(BOARD_ARCH) $(SYSROOT) $(LIB_PKGS) $(BOARD_PKGS)
$(SYSROOT).pkgs: FORCE
	@mkdir -p $(dir $@)
	@echo '$(LIB_PKGS) $(BOARD_PKGS)' | cmp -s - $@ || echo '$(LIB_PKGS) $(BOARD_PKGS)' > $@
endif
FORCE:

# The board's data for scripts (tests/run.sh, scripts/arm-check.sh, scripts/bench.sh), as shell
# assignments: eval "$$(make -s BOARD=rpi4 board-vars)".
board-vars:
	@echo "BOARD_ARCH='$(BOARD_ARCH)' CROSS='$(CROSS)' QEMU='$(QEMU)' SYSROOT='$(SYSROOT)'" \
	      "HAL_DIRS='$(HAL_DIRS)'"

$(VERSION_STAMP): FORCE
	@mkdir -p $(dir $@)
	@echo '$(VERSION) $(BOARD)' | cmp -s - $@ || echo '$(VERSION) $(BOARD)' > $@
$(BUILD)/obj/common/version.o: CPPFLAGS += -DPE_VERSION='"$(VERSION)"' -DPE_BOARD='"$(BOARD)"'
$(BUILD)/obj/common/version.o: $(VERSION_STAMP)

# One archive per layer.
define layer_archive
$(call lib,$(1)): $(call obj,$(SRC_$(1)))
	@rm -f $$@
	$$(AR) rcs $$@ $$^
endef
$(foreach l,$(BUILT_LAYERS),$(eval $(call layer_archive,$(l))))

$(BRIDGE): $(call obj,bridge/main.c) $(call lib,bridge) $(BASE_LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(KAFKA_LIBS) $(AVRO_LIBS)
$(AGENT): $(call obj,agent/main.c) $(call lib,agent) $(BASE_LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(CTL): $(call obj,ctl/main.c) $(call lib,ctl) $(BASE_LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(KAFKA_LIBS)

$(BUILD)/tests/%: $(call obj,tests/unit/%.c) $(call obj,tests/unit/harness.c) \
                  $(call lib,$(PROGRAM_LAYERS)) $(BASE_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(KAFKA_LIBS) $(AVRO_LIBS)

# It fails the project's own allocations through the linker: every call the archives make to
# these C library functions goes to the program's __wrap_<name> (tests/unit/test_allocfail.c),
# so the code that ships carries no hook.
ALLOCFAIL_WRAP := malloc calloc realloc strdup strndup asprintf vasprintf
$(BUILD)/tests/test_allocfail: LDFLAGS += $(ALLOCFAIL_WRAP:%=-Wl,--wrap=%)

$(BUILD)/bench/%: $(call obj,tests/bench/%.c) $(BASE_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(KAFKA_LIBS)
# bench_sig times the bridge's own signature check (bridge/sigcheck.c).
$(BUILD)/bench/bench_sig: $(call obj,tests/bench/bench_sig.c) $(call lib,bridge) $(BASE_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(KAFKA_LIBS) $(AVRO_LIBS)

# Every file under tests/fuzz/ sees the targets' prototypes (tests/fuzz/fuzz.h).
$(BUILD)/obj/tests/fuzz/%.o: CPPFLAGS += -include tests/fuzz/fuzz.h
$(BUILD)/fuzz/replay_%: $(call obj,tests/fuzz/fuzz_%.c) $(call obj,tests/fuzz/replay.c) \
                        $(call lib,$(PROGRAM_LAYERS)) $(BASE_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(KAFKA_LIBS) $(AVRO_LIBS)
$(BUILD)/fuzz/fuzz_%: $(call obj,tests/fuzz/fuzz_%.c) $(call lib,$(PROGRAM_LAYERS)) $(BASE_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(FUZZ_LINK) -o $@ $^ $(LDLIBS) $(KAFKA_LIBS) $(AVRO_LIBS)

# The layer order, checked (scripts/layers.sh): every include of every layer's files (all of
# them, built on this board or not), and the undefined symbols of the archives built.
LAYER_FILES := $(shell find $(LAYERS) include -name '*.[ch]' 2>/dev/null)
$(LAYERS_OK): scripts/layers.sh Makefile $(LAYER_FILES) $(call lib,$(BUILT_LAYERS))
	@echo "scripts/layers.sh: the includes and symbols of $(BUILT_LAYERS)"
	@LAYERS='$(LAYERS)' $(foreach l,$(LAYERS),LAYER_USES_$(l)='$(LAYER_USES_$(l))' \
	    LAYER_HEADERS_$(l)='$(LAYER_HEADERS_$(l))') \
	    scripts/layers.sh $(CROSS)nm $(foreach l,$(BUILT_LAYERS),$(l)=$(call lib,$(l)))
	@touch $@

unit-tests: $(UNIT_BINS)
bench-bins: $(BENCH_BINS)
fuzz-replay: $(FUZZ_REPLAY_BINS)
fuzz-bins: $(FUZZ_BINS)
ifneq ($(filter fuzz-bins,$(MAKECMDGOALS)),)
ifneq ($(VARIANT),fuzz)
$(error fuzz-bins are the libFuzzer build: make VARIANT=fuzz fuzz-bins, or make fuzz)
endif
endif

deps:
	@scripts/deps.sh

# Debian packages of the board's architecture from the release build, into $(DEB_DIR):
# posedge-agent, posedge-bridge, posedge-tools (scripts/deb.sh; docs/packaging.md). Their
# version is $(VERSION); a cross board's Depends come from its sysroot's dpkg database, which
# sysroot.sh adds to a sysroot made before it kept one.
DEB_DIR ?= build/$(BOARD)/deb
deb: all
	$(if $(filter-out release,$(VARIANT)),$(error make deb packages the release build only))
	$(if $(CROSS),scripts/sysroot.sh $(BOARD_ARCH) $(SYSROOT) $(LIB_PKGS) $(BOARD_PKGS))
	CROSS='$(CROSS)' SYSROOT='$(SYSROOT)' \
	    scripts/deb.sh $(BOARD) $(BOARD_ARCH) $(BUILD) $(DEB_DIR) $(VERSION)

# The signed apt repository the tills upgrade from (scripts/repo.sh; docs/rollout.md): make deb
# for one board of each package architecture (sim amd64, rpi4 arm64, armhf armhf; nofake is
# amd64 too, and its packages would collide with sim's names and versions), then all of them
# published into $(REPO_DIR), with the keyring package, signed with the archive key in
# $POSEDGE_REPO_GNUPGHOME (made when missing; default ~/.config/posedge/archive-gnupg). The
# boards' builds are make's as usual: what is up to date is not built again. A published
# version never changes: a new build needs a new version (pkg/changelog, or VERSION=...).
REPO_DIR ?= build/repo
REPO_BOARDS := sim rpi4 armhf
repo: deps
	$(if $(filter-out release,$(VARIANT)),$(error make repo publishes the release build only))
	for b in $(REPO_BOARDS); do \
	    $(MAKE) --no-print-directory BOARD=$$b DEB_DIR=build/$$b/deb deb || exit 1; \
	done
	scripts/repo.sh publish $(REPO_DIR) $(REPO_BOARDS:%=build/%/deb/*.deb)

# A real Kafka broker for the end-to-end tests, cached outside the repository.
kafka:
	@scripts/kafka.sh fetch

# The test build: sanitizers on, fault injection compiled in. tests/run.sh prints the one
# summary line "N passed, N failed" over every unit and system test it ran, the ARM boards'
# included: it builds each in VARIANT=test and runs its tests under QEMU. It runs on the host.
check: deps kafka
ifneq ($(CROSS),)
	$(error make check runs on the host board (make check); it tests $(BOARD) under $(QEMU))
endif
	@scripts/deps.sh fuzz
	$(MAKE) -j$(JOBS) VARIANT=san all unit-tests fuzz-replay
	$(MAKE) -j$(JOBS) VARIANT=release all
	tests/run.sh build/$(BOARD)/san build/$(BOARD)

# The power-cut harness's interposer (tests/powercut/cutfs.c, docs/powercut.md): a host
# library preloaded into the release daemons, so it is built with the host's release build only.
CUTFS := $(BUILD)/cutfs.so
all: $(if $(or $(CROSS),$(filter-out release,$(VARIANT))),,$(CUTFS))
$(CUTFS): tests/powercut/cutfs.c
	@mkdir -p $(dir $@)
	$(CC) -shared -fPIC -O2 -g -std=c11 -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes \
	    -o $@ $< -ldl

.PHONY: powercut
powercut: deps kafka
	$(MAKE) VARIANT=release all
	POWERCUT_PLAIN=1 PE_SRCDIR=$(CURDIR) PE_BIN=$(CURDIR)/$(BUILD) PE_BIN_RELEASE=$(CURDIR)/$(BUILD) \
	    /usr/bin/python3 tests/system/test_powercut.py

demo: deps kafka
	$(MAKE) -j$(JOBS) VARIANT=release all
	scripts/demo.sh build/$(BOARD)

bench: deps
	@scripts/deps.sh bench
	$(MAKE) VARIANT=release all bench-bins
	scripts/bench.sh build/$(BOARD)

# The release build, as a store runs it; SOAK_DIR, SOAK_SEED and the others: docs/soak.md.
SOAK_MINUTES ?= 10
soak: deps kafka
	$(MAKE) -j$(JOBS) VARIANT=release all
	scripts/soak.py --minutes $(SOAK_MINUTES) build/$(BOARD)
# Every fuzz target under libFuzzer for FUZZ_SECONDS seconds each (FUZZ_TARGETS=a,b picks some),
# with clang installed when missing (scripts/deps.sh fuzz). New inputs go to
# build/$(BOARD)/fuzz/work/, never into tests/fuzz/ (FUZZ_MERGE=1 merges new coverage into the
# seed corpus); a crash fails the run, its input kept where the message says.
fuzz:
ifneq ($(CROSS),)
	$(error make fuzz runs on the host board)
endif
	@scripts/deps.sh fuzz
	$(MAKE) -j$(JOBS) VARIANT=fuzz fuzz-bins
	FUZZ_SECONDS='$(FUZZ_SECONDS)' FUZZ_TARGETS='$(FUZZ_TARGETS)' scripts/fuzz.sh build/$(BOARD)/fuzz

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
