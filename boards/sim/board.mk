# SPDX-License-Identifier: Apache-2.0
# The sim board: the host's compiler and fake devices. A board is data: toolchain, the HAL
# driver directories to build in, and the default configuration (agent.json beside this file).
# The Linux drivers are built in as well: the host is Linux, so their unit tests (ptys, FIFOs)
# run here in the sanitizer build; the sim configuration selects only the fakes.
BOARD_ARCH := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
CROSS :=
HAL_DIRS := fake linux
QEMU :=
BOARD_CFLAGS :=
