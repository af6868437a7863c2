/* SPDX-License-Identifier: MIT */
/*
 * The API's facade: the public functions that need both floors of the library, the image module
 * and the box module, and so belong to neither. Opening a runtime (the home, then the image
 * registries' configuration, then the box module's recovery) and creating a box (the image is
 * ensured, pulling it when it is missing, then the box layer creates from what is present).
 * Everything else of the public API lives in the module it is about.
 */
#include <stdlib.h>

#include "alloc-util.h"
#include "box-create.h"
#include "box-recover.h"
#include "cgroup-warm.h"
#include "image-store.h"
#include "registry.h"
#include "runtime.h"

BOXLITE_API void boxlite_runtime_opts_init(boxlite_runtime_opts *opts)
{
    *opts = (boxlite_runtime_opts) BOXLITE_RUNTIME_OPTS_INIT;
}

static void registries_free(struct bl_registries *r)
{
    if (!r)
        return;
    bl_registries_done(r);
    free(r);
}
BL_DEFINE_CLEANUP_FUNC(struct bl_registries *, registries_free)

BOXLITE_API int boxlite_runtime_open(const boxlite_runtime_opts *opts, boxlite_runtime **ret_rt,
                                     boxlite_error **err)
{
    if (!ret_rt)
        return bl_err(err, -EINVAL, "ret_rt must not be NULL");
    _cleanup_(registries_freep) struct bl_registries *regs = bl_calloc(1, sizeof(*regs));
    if (!regs)
        return bl_oom(err);
    int r = 0;
    if (opts && opts->version >= 2) /* config_json and registries exist since version 2 */
        r = bl_registries_parse(opts->config_json, opts->registries, regs, err);
    if (r < 0)
        return r;
    /* --home > $BOXLITE_HOME > the configuration's home_dir > ~/.boxlite. A home that is given
     * must be a path: "" is not "the default" (NULL is). */
    const char *home = opts ? opts->home : NULL;
    if (home && !*home)
        return bl_err(err, -EINVAL, "home_dir must not be empty");
    const char *env = getenv("BOXLITE_HOME");
    if ((!home || !*home) && (!env || !*env) && regs->home_dir)
        home = regs->home_dir;
    _cleanup_(boxlite_runtime_freep) struct boxlite_runtime *rt = NULL;
    r = bl_runtime_open(home, &rt, err);
    if (r < 0)
        return r;
    rt->registries = TAKE_PTR(regs);
    bl_box_recover(rt);
    *ret_rt = TAKE_PTR(rt);
    return 0;
}

BOXLITE_API void boxlite_runtime_free(boxlite_runtime *rt)
{
    if (!rt)
        return;
    bl_cgroup_warm_done(rt);
    registries_free(TAKE_PTR(rt->registries));
    bl_runtime_free(rt);
}

BOXLITE_API int boxlite_box_create(boxlite_runtime *rt, const boxlite_box_opts *o,
                                   boxlite_box **ret_box, boxlite_error **err)
{
    if (!rt || !ret_box)
        return bl_err(err, -EINVAL, "provide IMAGE or --rootfs PATH");
    int r = bl_box_create_check(o, err);
    if (r < 0)
        return r;
    bl_cgroup_warm(rt); /* a start usually follows: overlap the kernel's wait with our work */
    _cleanup_free_ char *image_id = NULL;
    if (o->image) {
        /* an image that is not here yet is pulled (this may block on the network: no lock or
         * transaction is held yet) */
        r = bl_image_ensure(rt, o->image, &image_id, err);
        if (r < 0)
            return r;
    }
    return bl_box_create(rt, o, image_id, ret_box, err);
}
