/* SPDX-License-Identifier: MIT */
/* Creating a box from an image that is present (or a root directory); nothing is pulled here. */
#pragma once

#include "boxlite/box.h"
#include "error.h"

struct boxlite_runtime;
struct boxlite_box;

/* Check what a create needs before anything is made or pulled: an image or a rootfs (not
 * both), a valid name. -EINVAL. */
int bl_box_create_check(const boxlite_box_opts *o, bl_error **err);

/*
 * Create a box (not started) as boxlite_box_create() documents. With o->image, the image must
 * be in the store: `image_id` is its id when the caller has it (from bl_image_ensure()), or
 * NULL to resolve o->image through the image store (-ENOENT "No such image" when it is not
 * there). On success *ret_box is a new handle holding the box's lock.
 */
int bl_box_create(struct boxlite_runtime *rt, const boxlite_box_opts *o, const char *image_id,
                  struct boxlite_box **ret_box, bl_error **err);
