# SPDX-License-Identifier: Apache-2.0
#
# posedge build. One Makefile for every board: BOARD=sim (default, host + fake devices) selects
# boards/$(BOARD)/board.mk, which says which toolchain and HAL drivers the board uses. Objects
# and binaries go to build/$(BOARD)/ (release) or build/$(BOARD)/san/ (ASan+UBSan test build),
# so boards and variants sit side by side.
#
#   make              build/$(BOARD)/posedge-agent and posedge-ctl
#   make check        install what is missing, build with sanitizers, run every test
#   make demo         install what is missing, run a simulated till for a minute
#   make bench        throughput, latency, memory and size figures
#   make clean

BOARD ?= sim
VARIANT ?= release
include boards/$(BOARD)/board.mk

ifeq ($(VARIANT),san)
BUILD := build/$(BOARD)/san
VFLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all \
          -DPE_FAULT_INJECTION
else
BUILD := build/$(BOARD)
VFLAGS := -O2 -g
endif

CC := $(CROSS)gcc
AR := $(CROSS)ar
PKG_LIBS := sqlite3 libcjson mbedcrypto
CPPFLAGS += $(foreach d,$(HAL_DIRS),-DPE_HAL_$(d)=1) -Iinclude -I. -D_DEFAULT_SOURCE -D_XOPEN_SOURCE=700 -MMD -MP
CFLAGS += -std=c11 -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes \
          -Wmissing-prototypes -Wno-missing-field-initializers $(VFLAGS)
LDFLAGS += $(filter -fsanitize%,$(VFLAGS))
# Each binary links only what it uses: librdkafka alone is most of a till's memory otherwise.
LDLIBS := -lsqlite3 -lcjson -lmbedcrypto -lmosquitto -lm
KAFKA_LIBS := -lrdkafka

LIB_SRC := $(wildcard common/*.c) $(wildcard store/*.c) $(wildcard hal/*.c) \
           $(foreach d,$(HAL_DIRS),$(wildcard hal/$(d)/*.c))
AGENT_SRC := $(filter-out agent/main.c,$(wildcard agent/*.c))
CTL_SRC := $(filter-out ctl/main.c,$(wildcard ctl/*.c))
BRIDGE_SRC := $(filter-out bridge/main.c,$(wildcard bridge/*.c))
UNIT_SRC := $(filter-out tests/unit/harness.c,$(wildcard tests/unit/test_*.c))

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

.PHONY: all check demo bench deps kafka unit-tests bench-bins clean
all: $(AGENT) $(CTL) $(if $(wildcard bridge/main.c),$(BRIDGE))

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

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
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(KAFKA_LIBS)
$(AGENT): $(call obj,agent/main.c) $(AGENT_LIB) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(CTL): $(call obj,ctl/main.c) $(CTL_LIB) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(KAFKA_LIBS)

$(BUILD)/tests/%: $(call obj,tests/unit/%.c) $(call obj,tests/unit/harness.c) $(AGENT_LIB) \
                  $(CTL_LIB) $(BRIDGE_LIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(KAFKA_LIBS)

$(BUILD)/bench/%: $(call obj,tests/bench/%.c) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(KAFKA_LIBS)

unit-tests: $(UNIT_BINS)
bench-bins: $(BENCH_BINS)

deps:
	@scripts/deps.sh

# A real Kafka broker for the end-to-end tests, cached outside the repository.
kafka:
	@scripts/kafka.sh fetch

# The test build: sanitizers on, fault injection compiled in. tests/run.sh prints the one
# summary line "N passed, N failed" over every unit and system test it ran.
check: deps kafka
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
