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
#   make              build/$(BOARD)/posedge-agent and posedge-ctl
#   make BOARD=rpi4   the same for a Raspberry Pi 4 class till (arm64); BOARD=armhf for ARMv7
#   make check        install what is missing, build with sanitizers, run every test (with the
#                     ARM boards' test builds under QEMU: tests/run.sh)
#   make demo         install what is missing, run a simulated till for a minute
#   make bench        throughput, latency, memory and size figures
#   make deb          Debian packages of the board (build/$(BOARD)/deb/; docs/packaging.md)
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
else
BUILD := build/$(BOARD)
VFLAGS := -O2 -g $(HARDEN)
endif

# The version has one home: the top entry of pkg/changelog (VERSION=... overrides it, e.g. for
# the upgrade test's second build). Only common/version.c is compiled with it; the stamp makes
# that object rebuild when the version or board changes.
VERSION ?= $(shell sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' pkg/changelog)
VERSION_STAMP := build/$(BOARD)/$(notdir $(VARIANT)).version

CC := $(CROSS)gcc
AR := $(CROSS)ar
PKG_LIBS := sqlite3 libcjson mbedcrypto
# The Debian packages of the libraries below, for a cross board's sysroot (with their runtime
# dependencies); a board needing more names them in BOARD_PKGS.
LIB_PKGS := libsqlite3-dev libcjson-dev libmbedtls-dev libmosquitto-dev librdkafka-dev \
            libavro-dev libcurl4-openssl-dev

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
          -Wmissing-prototypes -Wno-missing-field-initializers $(VFLAGS) $(BOARD_CFLAGS) \
          $(SYSROOT_FLAGS)
LDFLAGS += $(filter -fsanitize%,$(VFLAGS)) $(BOARD_CFLAGS) $(SYSROOT_FLAGS) \
           $(if $(filter -D_FORTIFY_SOURCE%,$(VFLAGS)),$(HARDEN_LD))
# Each binary links only what it uses: librdkafka alone is most of a till's memory otherwise.
LDLIBS := -lsqlite3 -lcjson -lmbedx509 -lmbedcrypto -lmosquitto -lm
KAFKA_LIBS := -lrdkafka
# The bridge's Avro output profiles: Apache Avro C and libcurl (Schema Registry).
AVRO_LIBS := -lavro -lcurl

LIB_SRC := $(wildcard common/*.c) $(wildcard store/*.c) $(wildcard hal/*.c) \
           $(foreach d,$(HAL_DIRS),$(wildcard hal/$(d)/*.c))
AGENT_SRC := $(filter-out agent/main.c,$(wildcard agent/*.c))
CTL_SRC := $(filter-out ctl/main.c,$(wildcard ctl/*.c))
BRIDGE_SRC := $(filter-out bridge/main.c,$(wildcard bridge/*.c))
# A driver family's unit tests (tests/unit/test_hal_<family>*.c) need its drivers in the build.
HAL_OFF := $(filter-out $(HAL_DIRS),$(notdir $(patsubst %/,%,$(wildcard hal/*/))))
UNIT_SRC := $(filter-out tests/unit/harness.c $(HAL_OFF:%=tests/unit/test_hal_%%), \
                         $(wildcard tests/unit/test_*.c))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
LIB := $(BUILD)/libposedge.a
AGENT_LIB := $(BUILD)/libagent.a
CTL_LIB := $(BUILD)/libctl.a
BRIDGE_LIB := $(BUILD)/libbridge.a
BRIDGE := $(BUILD)/posedge-bridge
AGENT := $(BUILD)/posedge-agent
CTL := $(BUILD)/posedge-ctl
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
BENCH_BINS := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(wildcard tests/bench/*.c))

.PHONY: all check demo bench deb deps kafka unit-tests bench-bins sysroot board-vars clean FORCE
all: $(AGENT) $(CTL) $(if $(wildcard bridge/main.c),$(BRIDGE))

# Objects depend on the board's file too: its HAL_DIRS and flags are compiled into them.
$(BUILD)/obj/%.o: %.c boards/$(BOARD)/board.mk | $(SYSROOT_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

# Made once, when missing (make clean removes it; the downloaded packages stay in the cache).
sysroot: $(SYSROOT_STAMP)
# One made from partial indexes (a mirror mid-sync: $(SYSROOT).degraded) is looked at again on
# every run, and made anew once the mirror is whole.
ifneq ($(CROSS),)
$(SYSROOT_STAMP): $(if $(wildcard $(SYSROOT).degraded),FORCE)
	scripts/sysroot.sh $(BOARD_ARCH) $(SYSROOT) $(LIB_PKGS) $(BOARD_PKGS)
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

$(LIB): $(call obj,$(LIB_SRC))
	@rm -f $@
	$(AR) rcs $@ $^
$(AGENT_LIB): $(call obj,$(AGENT_SRC))
	@rm -f $@
	$(AR) rcs $@ $^
$(CTL_LIB): $(call obj,$(CTL_SRC))
	@rm -f $@
	$(AR) rcs $@ $^

$(BRIDGE_LIB): $(call obj,$(BRIDGE_SRC))
	@rm -f $@
	$(AR) rcs $@ $^

$(BRIDGE): $(call obj,bridge/main.c) $(BRIDGE_LIB) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(KAFKA_LIBS) $(AVRO_LIBS)
$(AGENT): $(call obj,agent/main.c) $(AGENT_LIB) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(CTL): $(call obj,ctl/main.c) $(CTL_LIB) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(KAFKA_LIBS)

$(BUILD)/tests/%: $(call obj,tests/unit/%.c) $(call obj,tests/unit/harness.c) $(AGENT_LIB) \
                  $(CTL_LIB) $(BRIDGE_LIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(KAFKA_LIBS) $(AVRO_LIBS)

$(BUILD)/bench/%: $(call obj,tests/bench/%.c) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(KAFKA_LIBS)

unit-tests: $(UNIT_BINS)
bench-bins: $(BENCH_BINS)

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
	$(MAKE) VARIANT=san all unit-tests
	$(MAKE) VARIANT=release all
	tests/run.sh build/$(BOARD)/san build/$(BOARD)

demo: deps kafka
	$(MAKE) VARIANT=release all
	scripts/demo.sh build/$(BOARD)

bench: deps
	$(MAKE) VARIANT=release all bench-bins
	scripts/bench.sh build/$(BOARD)

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
