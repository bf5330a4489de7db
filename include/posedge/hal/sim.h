/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hal/sim.h - the old path of posedge/sim.h, from before the simulator left hal/ for a layer
 * of its own (sim/). It belongs to the sim layer, not to the HAL (the Makefile's layer table
 * says so). Include posedge/sim.h; this file goes once agent/ does.
 */
#include "posedge/sim.h"
