/* SPDX-License-Identifier: MIT */
/* The OCI vocabulary shared by load and pull (see oci.h). */
#include <string.h>
#include <sys/utsname.h>

#include "macro.h"
#include "oci.h"

const char *bl_layer_media_type(const char *mt)
{
    static const char *const known[] = {
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.diff.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    };
    for (size_t i = 0; i < ELEMENTSOF(known); i++)
        if (mt && !strcmp(mt, known[i]))
            return known[i];
    return NULL;
}

void bl_host_platform(const char **os, const char **arch, const char **variant)
{
    static const struct {
        const char *machine, *arch, *variant;
    } map[] = {
        {"x86_64", "amd64", NULL},    {"aarch64", "arm64", "v8"}, {"armv7l", "arm", "v7"},
        {"armv6l", "arm", "v6"},      {"i686", "386", NULL},      {"i386", "386", NULL},
        {"ppc64le", "ppc64le", NULL}, {"s390x", "s390x", NULL},   {"riscv64", "riscv64", NULL},
    };
    struct utsname u;
    *os = "linux";
    *arch = "amd64";
    *variant = NULL;
    if (uname(&u) < 0)
        return;
    for (size_t i = 0; i < ELEMENTSOF(map); i++)
        if (!strcmp(u.machine, map[i].machine)) {
            *arch = map[i].arch;
            *variant = map[i].variant;
        }
}
