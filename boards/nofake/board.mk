# SPDX-License-Identifier: Apache-2.0
# The nofake board: the host's compiler with the Linux drivers only. Its HAL_DIRS leaves out
# fake, so neither the fake devices (hal/fake) nor the simulator (sim/), which drives them, is
# built: the proof that a board can leave them out. `make BOARD=nofake` builds it, its unit
# tests are those that need neither (the Makefile leaves out a test that includes hal/fake/ or
# sim/), and tests/run.sh runs them and checks with scripts/board-check.sh that its release
# binaries hold no simulator. It is not a till to sell on yet: the payment terminal and the
# keypad have no Linux driver, so the board has no agent.json.
BOARD_ARCH := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
CROSS :=
HAL_DIRS := linux
QEMU :=
BOARD_CFLAGS :=
