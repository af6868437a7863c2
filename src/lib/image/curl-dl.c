/* SPDX-License-Identifier: MIT */
/* Loading libcurl on first use (see curl-dl.h). */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "curl-dl.h"

#define LIBCURL "libcurl.so.4"

static struct bl_curl api;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int load_code;      /* 0 or a negative errno */
static char load_why[256]; /* what failed */

static void load(void)
{
    static const struct {
        const char *name;
        size_t offset;
    } syms[] = {
#define SYM(f) {"curl_" #f, offsetof(struct bl_curl, f)}
        SYM(global_init),
        SYM(easy_strerror),
        SYM(easy_init),
        SYM(easy_cleanup),
        SYM(easy_setopt),
        SYM(easy_getinfo),
        SYM(easy_perform),
        SYM(easy_reset),
        SYM(easy_escape),
        SYM(free),
        SYM(slist_append),
        SYM(slist_free_all),
        SYM(url),
        SYM(url_set),
        SYM(url_get),
        SYM(url_cleanup),
        SYM(multi_init),
        SYM(multi_cleanup),
        SYM(multi_add_handle),
        SYM(multi_remove_handle),
        SYM(multi_perform),
        SYM(multi_info_read),
        SYM(multi_poll),
        SYM(multi_setopt),
        SYM(multi_strerror),
#undef SYM
    };
    /* never closed: the functions are used until the process exits */
    void *h = dlopen(LIBCURL, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        load_code = -ENOTSUP;
        snprintf(load_why, sizeof(load_why), "%s", e ? e : "cannot load " LIBCURL);
        return;
    }
    struct bl_curl t;
    for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
        void *p = dlsym(h, syms[i].name);
        if (!p) {
            load_code = -ENOTSUP;
            snprintf(load_why, sizeof(load_why), "%s has no %s (libcurl 7.80 or newer needed)",
                     LIBCURL, syms[i].name);
            return;
        }
        /* object pointer to function pointer, as POSIX dlsym() allows */
        memcpy((char *) &t + syms[i].offset, &p, sizeof(p));
    }
    CURLcode c = t.global_init(CURL_GLOBAL_DEFAULT);
    if (c != CURLE_OK) {
        load_code = -EIO;
        snprintf(load_why, sizeof(load_why), "curl_global_init: %s", t.easy_strerror(c));
        return;
    }
    api = t;
}

int bl_curl_load(const struct bl_curl **ret, bl_error **err)
{
    (void) pthread_once(&once, load);
    if (load_code == -ENOTSUP)
        return bl_err(err, load_code, "pulling images needs libcurl (Debian: libcurl4): %s",
                      load_why);
    if (load_code < 0)
        return bl_err(err, load_code, "cannot initialise libcurl: %s", load_why);
    *ret = &api;
    return 0;
}
