/* SPDX-License-Identifier: MIT */
/*
 * The OCI vocabulary that image-load.c and image-pull.c share: which layer media types boxlite
 * unpacks, and what the host's platform is called.
 */
#pragma once

/* The static string for a layer media type boxlite can unpack, or NULL. */
const char *bl_layer_media_type(const char *media_type);

/* The host's platform in OCI terms: "linux", "amd64"/"arm64"/..., variant or NULL. */
void bl_host_platform(const char **os, const char **arch, const char **variant);
