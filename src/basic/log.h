/* SPDX-License-Identifier: MIT */
/* Library logging: debug-level only, through a sink the embedding program installs. */
#pragma once

#include "boxlite/runtime.h"
#include "macro.h"

void bl_log(int level, const char *fmt, ...) _printf_(2, 3);
#define bl_debug(...) bl_log(BOXLITE_LOG_DEBUG, __VA_ARGS__)
#define bl_warn(...) bl_log(BOXLITE_LOG_WARNING, __VA_ARGS__)
