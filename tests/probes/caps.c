/* SPDX-License-Identifier: MIT */
/*
 * caps: the box's capability sets, no_new_privs and seccomp mode, and a set-uid binary that
 * does not raise privileges.
 *   caps EFF [BND]         CapEff and CapPrm (hex) must not exceed EFF, CapBnd not BND
 *                          (default EFF); CapInh and CapAmb 0; NoNewPrivs 1; Seccomp 2
 *   caps suid              (run as a set-uid-root copy by a non-root user) euid stays the user's
 */
#include "probe.h"

static unsigned long long field(const char *status, const char *name)
{
    const char *p = strstr(status, name);
    return p ? strtoull(p + strlen(name), NULL, 16) : ~0ULL;
}

int main(int argc, char **argv)
{
    probe_init();
    char st[4096] = "";
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, st, sizeof(st) - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n <= 0) {
        note("cannot read /proc/self/status");
        return 2;
    }
    st[n] = 0;
    if (argc > 1 && !strcmp(argv[1], "suid")) {
        uid_t r = getuid(), e = geteuid();
        if (r != 0 && e == 0)
            escaped("a set-uid binary made uid %u root (euid 0)", (unsigned) r);
        else
            held("set-uid binary run by uid %u: euid %u", (unsigned) r, (unsigned) e);
        unsigned long long eff = field(st, "CapEff:\t");
        if (eff)
            escaped("a set-uid binary raised CapEff to %016llx", eff);
        else
            held("CapEff stays 0");
        return probe_done();
    }
    unsigned long long want = strtoull(argc > 1 ? argv[1] : "0", NULL, 16);
    unsigned long long bnd = argc > 2 ? strtoull(argv[2], NULL, 16) : want;
    const char *sets[] = {"CapEff:\t", "CapPrm:\t", "CapBnd:\t"};
    for (int i = 0; i < 3; i++) {
        unsigned long long v = field(st, sets[i]), max = i == 2 ? bnd : want;
        if (v & ~max)
            escaped("%.6s %016llx has capabilities beyond %016llx", sets[i], v, max);
        else
            held("%.6s %016llx", sets[i], v);
    }
    unsigned long long eff = field(st, "CapEff:\t");
    if (eff != want)
        note("CapEff %016llx is not the expected %016llx", eff, want);
    if (field(st, "CapInh:\t") || field(st, "CapAmb:\t"))
        escaped("inheritable or ambient capabilities are set");
    else
        held("no inheritable or ambient capabilities");
    if (!strstr(st, "NoNewPrivs:\t1"))
        escaped("no_new_privs is not set");
    else
        held("no_new_privs is 1");
    if (!strstr(st, "Seccomp:\t2"))
        escaped("no seccomp filter");
    else
        held("seccomp filter mode 2");
    return probe_done();
}
