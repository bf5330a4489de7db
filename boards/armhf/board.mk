# SPDX-License-Identifier: Apache-2.0
# The armhf board: a 32-bit ARMv7 till (Debian armhf: ARMv7-A, VFPv3-D16, hard float, Thumb-2),
# e.g. a Raspberry Pi 2 or an i.MX6 panel PC, with the same USB devices as rpi4: keyboard-wedge
# scanner (evdev), NCI scale and customer display on USB serial adapters, ESC/POS printer
# (usblp). The Linux drivers (hal/linux) serve those; payment and keypad are the fakes
# (hal/fake). Device paths and serial settings are in agent.json beside this file.
#
# Built with Debian's cross compiler against build/armhf/sysroot (scripts/sysroot.sh: the armhf
# library packages, unpacked); its tests run under qemu-arm -L build/armhf/sysroot.
BOARD_ARCH := armhf
CROSS := arm-linux-gnueabihf-
HAL_DIRS := fake linux
QEMU := qemu-arm
# Debian's armhf baseline, spelled out (it is also the compiler's default).
BOARD_CFLAGS := -march=armv7-a -mfpu=vfpv3-d16 -mfloat-abi=hard -mthumb
# The simulator (sim/) is for the test build, whose tests run a shopper under QEMU; the release
# binary that ships to a till leaves it out.
BOARD_SIM := $(if $(filter release,$(VARIANT)),no,yes)
