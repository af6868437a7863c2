/* SPDX-License-Identifier: MIT */
/* Shared definitions of the public boxlite API: visibility, errors, logging. */
#ifndef BOXLITE_COMMON_H
#define BOXLITE_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define BOXLITE_API __attribute__((visibility("default")))
#else
#define BOXLITE_API
#endif

/** An error: a negative errno code and a one-line message. Opaque. */
typedef struct boxlite_error boxlite_error;

/** Accessor. The negative errno code of the error. */
BOXLITE_API int boxlite_error_code(const boxlite_error *err);

/** Accessor. The message; borrowed, valid until boxlite_error_free(err). Never NULL. */
BOXLITE_API const char *boxlite_error_message(const boxlite_error *err);

/** Destructor. NULL is a no-op. */
BOXLITE_API void boxlite_error_free(boxlite_error *err);

/** Release a string returned by the library. NULL is a no-op. */
BOXLITE_API void boxlite_free(void *p);

#ifdef __cplusplus
}
#endif
#endif
