/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz.h - the entry points of a fuzz target (tests/fuzz/fuzz_<name>.c), as libFuzzer calls
 * them and as tests/fuzz/replay.c (a plain main, for gcc) calls them.
 *
 * A target defines LLVMFuzzerTestOneInput and, when it needs one-time setup, LLVMFuzzerInitialize.
 * The Makefile force-includes this header into every file under tests/fuzz/, so the definitions
 * have their prototypes (-Wmissing-prototypes). A target must be deterministic, leak nothing,
 * reset any global state it touches on every input, and write only inside a temporary
 * directory of its own (made in LLVMFuzzerInitialize, removed at exit).
 */
#ifndef POSEDGE_FUZZ_H
#define POSEDGE_FUZZ_H
#include <stddef.h>
#include <stdint.h>

/* One input: data is size bytes, not NUL-terminated, valid only during the call. Returns 0
 * (libFuzzer reserves other values). Bad input must be rejected, never abort. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional one-time setup before the first input; returns 0. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
#endif
