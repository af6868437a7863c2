/* SPDX-License-Identifier: MIT */
/* Finding helper programs (helpers.h). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc-util.h"
#include "helpers.h"

static int executable_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

int bl_net_find_helper(const char *name, const char *env, char **ret, bl_error **err)
{
    const char *override = env ? getenv(env) : NULL;
    if (override && *override) {
        if (strchr(override, '/')) {
            char real[PATH_MAX];
            if (!realpath(override, real) || !executable_file(real))
                return -ENOENT;
            char *p = bl_strdup(real);
            if (!p)
                return bl_oom(err);
            *ret = p;
            return 0;
        }
        name = override;
    }
    const char *path = getenv("PATH");
    _cleanup_free_ char *dirs = bl_asprintf("%s:/usr/bin:/usr/sbin:/bin:/sbin", path ? path : "");
    if (!dirs)
        return bl_oom(err);
    for (char *d = dirs; *d;) {
        size_t k = strcspn(d, ":");
        char *next = d + k + (d[k] != 0);
        d[k] = 0;
        if (d[0] == '/') { /* a relative entry would depend on the caller's directory */
            _cleanup_free_ char *p = bl_asprintf("%s/%s", d, name);
            if (!p)
                return bl_oom(err);
            if (executable_file(p)) {
                *ret = TAKE_PTR(p);
                return 0;
            }
        }
        d = next;
    }
    return -ENOENT;
}

int bl_shim_find(char **ret, bl_error **err)
{
    const char *env = getenv("BOXLITE_SHIM");
    if (env && *env) {
        *ret = bl_strdup(env);
        return *ret ? 0 : bl_oom(err);
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = 0;
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = 0;
            _cleanup_free_ char *p = bl_asprintf("%s/boxlite-shim", self);
            if (!p)
                return bl_oom(err);
            if (access(p, X_OK) == 0) {
                *ret = TAKE_PTR(p);
                return 0;
            }
        }
    }
#ifdef BOXLITE_SHIM_PATH
    if (access(BOXLITE_SHIM_PATH, X_OK) == 0) {
        *ret = bl_strdup(BOXLITE_SHIM_PATH);
        return *ret ? 0 : bl_oom(err);
    }
#endif
    return -ENOENT;
}
