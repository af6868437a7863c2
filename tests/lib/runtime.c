/* SPDX-License-Identifier: MIT */
/* Unit-test helpers around a runtime: paths in the test's temporary directory, and a runtime
 * opened on a fresh home there (tap.h). */
#include <stdio.h>
#include <stdlib.h>

#include "boxlite/runtime.h"
#include "tap.h"

char *tap_tmp_path(const char *name)
{
    char *p = NULL;
    ASSERT_TRUE(asprintf(&p, "%s/%s", tap_tmpdir(), name) > 0);
    return p;
}

struct boxlite_runtime *tap_open_runtime(void)
{
    char *home = tap_tmp_path("home");
    boxlite_runtime_opts o;
    boxlite_runtime_opts_init(&o);
    o.home = home;
    boxlite_runtime *rt = NULL;
    ASSERT_OK(boxlite_runtime_open(&o, &rt, &tap_last_err));
    free(home);
    return rt;
}
