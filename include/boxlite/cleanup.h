/* SPDX-License-Identifier: MIT */
/* Cleanup helpers for GCC/Clang users of the public API (only under __GNUC__). */
#ifndef BOXLITE_CLEANUP_H
#define BOXLITE_CLEANUP_H

#include "boxlite.h"

#if defined(__GNUC__)
static inline void boxlite_runtime_freep(boxlite_runtime **p)
{
    boxlite_runtime_free(*p);
}
static inline void boxlite_error_freep(boxlite_error **p)
{
    boxlite_error_free(*p);
}
static inline void boxlite_image_freep(boxlite_image **p)
{
    boxlite_image_free(*p);
}
static inline void boxlite_freep(void *p)
{
    boxlite_free(*(void **) p);
}
#endif

#endif
