/* SPDX-License-Identifier: MIT */
/*
 * boxlite-shim: the per-box supervisor (design §1). Boxes land with the lifecycle issue; until
 * then the shim only identifies itself, so that `make install` ships the binary's final name.
 */
#include <stdio.h>
#include <string.h>

#include "boxlite/version.h"

int main(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V"))) {
        printf("boxlite-shim %s\n", BOXLITE_VERSION_STRING);
        return 0;
    }
    fprintf(stderr, "boxlite-shim: started by boxlite, not by hand\n");
    return 2;
}
