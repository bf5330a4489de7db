# SPDX-License-Identifier: Apache-2.0
# The sim board: the host's compiler and fake devices. A board is data: toolchain, the HAL
# driver directories to build in, and the default configuration (agent.json beside this file).
BOARD_ARCH := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
CROSS :=
HAL_DIRS := fake
QEMU :=
