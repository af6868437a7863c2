/* SPDX-License-Identifier: MIT */
/* Loading libmicrohttpd on first use (see mhd-dl.h). */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "mhd-dl.h"

#define LIBMHD "libmicrohttpd.so.12"

static struct bl_mhd api;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int load_code;      /* 0 or a negative errno */
static char load_why[256]; /* what failed */

static void load(void)
{
    static const struct {
        const char *name;
        size_t offset;
    } syms[] = {
#define SYM(f) {"MHD_" #f, offsetof(struct bl_mhd, f)}
        SYM(start_daemon),
        SYM(stop_daemon),
        SYM(get_daemon_info),
        SYM(queue_response),
        SYM(create_response_from_buffer),
        SYM(destroy_response),
        SYM(add_response_header),
        SYM(lookup_connection_value),
#undef SYM
    };
    /* never closed: the functions are used until the process exits */
    void *h = dlopen(LIBMHD, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        load_code = -ENOTSUP;
        snprintf(load_why, sizeof(load_why), "%s", e ? e : "cannot load " LIBMHD);
        return;
    }
    struct bl_mhd t;
    for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
        void *p = dlsym(h, syms[i].name);
        if (!p) {
            load_code = -ENOTSUP;
            snprintf(load_why, sizeof(load_why), "%s has no %s", LIBMHD, syms[i].name);
            return;
        }
        /* object pointer to function pointer, as POSIX dlsym() allows */
        memcpy((char *) &t + syms[i].offset, &p, sizeof(p));
    }
    api = t;
}

int bl_mhd_load(const struct bl_mhd **ret, bl_error **err)
{
    (void) pthread_once(&once, load);
    if (load_code < 0)
        return bl_err(err, load_code,
                      "boxlite serve needs libmicrohttpd (Debian: libmicrohttpd12): %s", load_why);
    *ret = &api;
    return 0;
}
