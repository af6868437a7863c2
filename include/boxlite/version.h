/* SPDX-License-Identifier: MIT */
#ifndef BOXLITE_VERSION_H
#define BOXLITE_VERSION_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define BOXLITE_VERSION_STRING "0.1.0"

/** Accessor. The library's version, e.g. "0.1.0". Static storage. */
BOXLITE_API const char *boxlite_version(void);

#ifdef __cplusplus
}
#endif
#endif
