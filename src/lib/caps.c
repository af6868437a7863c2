/* SPDX-License-Identifier: MIT */
/*
 * Capability names, docker's default set, name parsing and --cap-add/--cap-drop. Masks are plain
 * uint64_t with bit N for capability N; nothing here changes the calling process's capabilities
 * (the shim applies the mask inside the box).
 */
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "alloc-util.h"
#include "caps.h"

#define NAME(c) [CAP_##c] = "CAP_" #c
static const char *const cap_names[] = {
    NAME(CHOWN),
    NAME(DAC_OVERRIDE),
    NAME(DAC_READ_SEARCH),
    NAME(FOWNER),
    NAME(FSETID),
    NAME(KILL),
    NAME(SETGID),
    NAME(SETUID),
    NAME(SETPCAP),
    NAME(LINUX_IMMUTABLE),
    NAME(NET_BIND_SERVICE),
    NAME(NET_BROADCAST),
    NAME(NET_ADMIN),
    NAME(NET_RAW),
    NAME(IPC_LOCK),
    NAME(IPC_OWNER),
    NAME(SYS_MODULE),
    NAME(SYS_RAWIO),
    NAME(SYS_CHROOT),
    NAME(SYS_PTRACE),
    NAME(SYS_PACCT),
    NAME(SYS_ADMIN),
    NAME(SYS_BOOT),
    NAME(SYS_NICE),
    NAME(SYS_RESOURCE),
    NAME(SYS_TIME),
    NAME(SYS_TTY_CONFIG),
    NAME(MKNOD),
    NAME(LEASE),
    NAME(AUDIT_WRITE),
    NAME(AUDIT_CONTROL),
    NAME(SETFCAP),
    NAME(MAC_OVERRIDE),
    NAME(MAC_ADMIN),
    NAME(SYSLOG),
    NAME(WAKE_ALARM),
    NAME(BLOCK_SUSPEND),
    NAME(AUDIT_READ),
    NAME(PERFMON),
    NAME(BPF),
    NAME(CHECKPOINT_RESTORE),
};
#undef NAME
_Static_assert(ELEMENTSOF(cap_names) == CAP_CHECKPOINT_RESTORE + 1, "a capability has no name");

uint64_t bl_caps_default(void)
{
    return BL_CAP_MASK(CAP_CHOWN) | BL_CAP_MASK(CAP_DAC_OVERRIDE) | BL_CAP_MASK(CAP_FSETID) |
           BL_CAP_MASK(CAP_FOWNER) | BL_CAP_MASK(CAP_MKNOD) | BL_CAP_MASK(CAP_NET_RAW) |
           BL_CAP_MASK(CAP_SETGID) | BL_CAP_MASK(CAP_SETUID) | BL_CAP_MASK(CAP_SETFCAP) |
           BL_CAP_MASK(CAP_SETPCAP) | BL_CAP_MASK(CAP_NET_BIND_SERVICE) |
           BL_CAP_MASK(CAP_SYS_CHROOT) | BL_CAP_MASK(CAP_KILL) | BL_CAP_MASK(CAP_AUDIT_WRITE);
}

int bl_caps_last_cap(void)
{
    _cleanup_close_ int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC | O_NOCTTY);
    char buf[32];
    ssize_t n;
    int v = 0;

    if (fd < 0)
        return CAP_LAST_CAP;
    do
        n = read(fd, buf, sizeof(buf) - 1);
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        return CAP_LAST_CAP;
    buf[n] = 0;
    /* a small decimal number and a newline; anything else means /proc is not what we expect */
    const char *p = buf;
    for (; *p >= '0' && *p <= '9' && v < 1000; p++)
        v = v * 10 + (*p - '0');
    if (p == buf || (*p != '\n' && *p != 0))
        return CAP_LAST_CAP;
    return MIN(v, 63);
}

uint64_t bl_caps_all(void)
{
    int last = bl_caps_last_cap();
    return last >= 63 ? UINT64_MAX : BL_CAP_MASK(last + 1) - 1;
}

const char *bl_caps_name(int cap)
{
    if (cap < 0 || (size_t) cap >= ELEMENTSOF(cap_names))
        return NULL;
    return cap_names[cap];
}

/* Case folding comes first, so lowercase letters count as their uppercase twins. */
static int is_letter(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int is_name_char(char c)
{
    return is_letter(c) || (c >= '0' && c <= '9') || c == '_';
}

int bl_caps_parse(const char *name, int *ret_cap, bl_error **err)
{
    const char *s = name;

    if (!name)
        return bl_err(err, -EINVAL, "malformed Linux capability: '(null)'");
    if (strcasecmp(name, "ALL") == 0) {
        if (ret_cap)
            *ret_cap = BL_CAP_ALL;
        return 1;
    }
    if (strncasecmp(s, "CAP_", 4) == 0)
        s += 4;
    /* [A-Z][A-Z0-9_]*: a leading digit or underscore, a dash or a space is a typo, not a name */
    if (!is_letter(*s))
        return bl_err(err, -EINVAL, "malformed Linux capability: '%s'", name);
    for (const char *p = s; *p; p++)
        if (!is_name_char(*p))
            return bl_err(err, -EINVAL, "malformed Linux capability: '%s'", name);
    for (size_t i = 0; i < ELEMENTSOF(cap_names); i++)
        if (strcasecmp(cap_names[i] + 4, s) == 0) { /* ASCII only, checked above */
            if (ret_cap)
                *ret_cap = (int) i;
            return 0;
        }
    return bl_err(err, -EINVAL, "unknown capability '%s'", name);
}

/*
 * Parse every name of a list into a mask. *ret_all is set when "ALL" is among them. Validating
 * the whole list before combining anything means a bad name anywhere fails the call.
 */
static int parse_list(char *const *names, int check_kernel, uint64_t kernel_caps,
                      uint64_t *ret_mask, int *ret_all, bl_error **err)
{
    uint64_t mask = 0;
    int all = 0;

    for (char *const *n = names; n && *n; n++) {
        int cap = 0;
        int r = bl_caps_parse(*n, &cap, err);
        if (r < 0)
            return r;
        if (r == 1) {
            all = 1;
            continue;
        }
        if (!(kernel_caps & BL_CAP_MASK(cap))) {
            if (check_kernel)
                return bl_err(err, -EINVAL,
                              "capability '%s' is not supported by the running kernel", *n);
            continue; /* dropping what the kernel does not have is a no-op */
        }
        mask |= BL_CAP_MASK(cap);
    }
    *ret_mask = mask;
    *ret_all = all;
    return 0;
}

int bl_caps_apply(uint64_t base, char *const *add, char *const *drop, uint64_t *ret, bl_error **err)
{
    uint64_t kernel_caps = bl_caps_all(), add_mask = 0, drop_mask = 0, result;
    int add_all = 0, drop_all = 0, r;

    if (!ret)
        return bl_err(err, -EINVAL, "no place for the capability set");
    r = parse_list(add, /* check_kernel= */ 1, kernel_caps, &add_mask, &add_all, err);
    if (r < 0)
        return r;
    r = parse_list(drop, /* check_kernel= */ 0, kernel_caps, &drop_mask, &drop_all, err);
    if (r < 0)
        return r;

    if (add_all)
        result = kernel_caps & ~drop_mask;
    else if (drop_all)
        result = add_mask;
    else
        result = (base & ~drop_mask) | add_mask;

    *ret = result & kernel_caps;
    return 0;
}

char *bl_caps_mask_to_string(uint64_t mask)
{
    char num[8];
    size_t len = 0, off = 0;

    /* two passes: measure, then fill, so the string is allocated once */
    for (int c = 0; c < 64; c++) {
        if (!(mask & BL_CAP_MASK(c)))
            continue;
        const char *n = bl_caps_name(c);
        len += (n ? strlen(n) : (size_t) snprintf(num, sizeof(num), "%d", c)) + 1;
    }
    char *s = bl_malloc(len + 1);
    if (!s)
        return NULL;
    for (int c = 0; c < 64; c++) {
        if (!(mask & BL_CAP_MASK(c)))
            continue;
        const char *n = bl_caps_name(c);
        if (!n) {
            (void) snprintf(num, sizeof(num), "%d", c);
            n = num;
        }
        size_t l = strlen(n);
        if (off > 0)
            s[off++] = ',';
        memcpy(s + off, n, l);
        off += l;
    }
    s[off] = 0;
    return s;
}
