/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for oci.c, the OCI vocabulary load and pull share: the layer media types boxlite
 * unpacks (each answered with the one static string, so callers may keep the pointer) and the
 * host's platform in OCI terms.
 */
#include <sys/utsname.h>

#include "../lib/tap.h"
#include "oci.h"

TEST(layer_media_types)
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
    for (size_t i = 0; i < ELEMENTSOF(known); i++) {
        char copy[128];
        (void) snprintf(copy, sizeof(copy), "%s", known[i]);
        const char *mt = bl_layer_media_type(copy);
        ASSERT_STREQ(mt, known[i]);
        ASSERT_TRUE(mt != copy);                    /* a static string, not the argument */
        ASSERT_TRUE(bl_layer_media_type(mt) == mt); /* and always the same one */
    }
    ASSERT_NULL(bl_layer_media_type(NULL));
    ASSERT_NULL(bl_layer_media_type(""));
    ASSERT_NULL(bl_layer_media_type("application/vnd.oci.image.layer.v1.tar+bzip2"));
    ASSERT_NULL(bl_layer_media_type("application/vnd.oci.image.config.v1+json"));
    ASSERT_NULL(bl_layer_media_type("APPLICATION/VND.OCI.IMAGE.LAYER.V1.TAR"));
}

TEST(host_platform)
{
    const char *os = NULL, *arch = NULL, *variant = "unset";
    bl_host_platform(&os, &arch, &variant);
    ASSERT_STREQ(os, "linux");
    struct utsname u;
    ASSERT_OK(uname(&u));
    if (!strcmp(u.machine, "x86_64")) {
        ASSERT_STREQ(arch, "amd64");
        ASSERT_NULL(variant);
    } else if (!strcmp(u.machine, "aarch64")) {
        ASSERT_STREQ(arch, "arm64");
        ASSERT_STREQ(variant, "v8");
    } else {
        ASSERT_NOT_NULL(arch);
    }
}

TAP_MAIN(T(layer_media_types), T(host_platform))
