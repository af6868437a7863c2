/* SPDX-License-Identifier: MIT */
/*
 * Image references, normalised as docker does: "busybox" is docker.io/library/busybox:latest;
 * a first component with '.' or ':' or equal to "localhost" is a registry host (with optional
 * port); tags and "@sha256:<hex>" digests.
 */
#pragma once

#include "error.h"

struct bl_image_ref {
    char *registry;   /* "docker.io", "localhost:5000", "ghcr.io" */
    char *repository; /* "library/busybox", "org/app" (no registry) */
    char *tag;        /* "latest" by default; NULL when only a digest was given */
    char *digest;     /* "sha256:<hex>" or NULL */
};

#define BL_IMAGE_REF_NULL ((struct bl_image_ref){0})

/*
 * Parse and normalise `s`. On success fills *ret (release with bl_image_ref_done()); on failure
 * returns -EINVAL with a message naming the reference, and *ret is untouched.
 */
int bl_image_ref_parse(const char *s, struct bl_image_ref *ret, bl_error **err);
void bl_image_ref_done(struct bl_image_ref *r);
/* "registry/repository[:tag][@digest]"; NULL on OOM. Caller frees. */
char *bl_image_ref_format(const struct bl_image_ref *r);
/* The familiar form docker shows: repository without "docker.io/library/". Caller frees. */
char *bl_image_ref_familiar(const struct bl_image_ref *r);
