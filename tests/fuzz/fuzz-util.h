/* SPDX-License-Identifier: MIT */
/*
 * What the libFuzzer targets share: a property that fails aborts with its location and a
 * message (libFuzzer then reports a crash and saves the input), and the input as a C string.
 * Header-only, so that each target stays one source file (docs/design/fuzzing.md).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: property failed: %s: ", __FILE__, __LINE__, #cond);            \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* The input as a NUL-terminated string, cut at its first NUL as a C caller would see it. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    return bl_strndup((const char *) data, size);
}

/* A copy with every NUL kept: ret[size] = 0. */
static inline char *fuzz_copy(const uint8_t *data, size_t size)
{
    char *p = bl_malloc(size + 1);
    if (p) {
        memcpy(p, data, size);
        p[size] = 0;
    }
    return p;
}
