# SPDX-License-Identifier: Apache-2.0
# The rpi4 board: a Raspberry Pi 4 class till (Cortex-A72, 64-bit Debian arm64) with its devices
# on USB: a keyboard-wedge barcode scanner (evdev), an NCI scale and a 2 x 20 customer display
# on USB serial adapters, an ESC/POS receipt printer (usblp) with the cash drawer behind it.
# The Linux drivers (hal/linux) serve those; the payment terminal and the keypad are still the
# fakes (hal/fake), which also give the test build its shopper. Device paths and serial
# settings are in agent.json beside this file.
#
# Built with Debian's cross compiler against build/rpi4/sysroot (scripts/sysroot.sh: the arm64
# library packages, unpacked); its tests run under qemu-aarch64 -L build/rpi4/sysroot.
BOARD_ARCH := arm64
CROSS := aarch64-linux-gnu-
HAL_DIRS := fake linux
QEMU := qemu-aarch64
# Tuned for the Pi 4's Cortex-A72, runnable on any ARMv8-A (Debian's arm64 baseline).
BOARD_CFLAGS := -mtune=cortex-a72
# The simulator (sim/) is for the test build, whose tests run a shopper under QEMU; the release
# binary that ships to a till leaves it out.
BOARD_SIM := $(if $(filter release,$(VARIANT)),no,yes)
