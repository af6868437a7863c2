/* SPDX-License-Identifier: MIT */
/* Public accessors for errors, version and library-allocated strings. */
#include <stdlib.h>

#include "boxlite/boxlite.h"
#include "error.h"

BOXLITE_API int boxlite_error_code(const boxlite_error *err)
{
    return err ? err->code : 0;
}

BOXLITE_API const char *boxlite_error_message(const boxlite_error *err)
{
    return err && err->msg ? err->msg : "";
}

BOXLITE_API void boxlite_error_free(boxlite_error *err)
{
    bl_error_free(err);
}

BOXLITE_API void boxlite_free(void *p)
{
    free(p);
}

BOXLITE_API const char *boxlite_version(void)
{
    return BOXLITE_VERSION_STRING;
}
