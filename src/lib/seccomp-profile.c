/* SPDX-License-Identifier: MIT */
/*
 * The default seccomp filter of boxes and its cache of compiled BPF files (see seccomp.h).
 *
 * Why a denylist. docker's default profile is an allowlist (default action EPERM, ~350 allowed
 * syscalls). Its protective content, though, is the short list of syscalls it leaves out, plus a
 * few argument filters. We write that list down directly: the default action is ALLOW and the
 * listed syscalls fail with EPERM. This keeps the rules readable and reviewable, lets syscalls
 * that are new to the kernel (and unknown to docker's list) work in boxes, and keeps the
 * program short: with libseccomp's binary-tree layout an allowed syscall costs a handful of
 * comparisons. The cost is that a new *dangerous* syscall is allowed until it is added here, so
 * the list must follow the kernel; every change bumps BL_SECCOMP_PROFILE_VERSION.
 *
 * Architectures: the native one, and on x86_64 also i386 (as docker does) with the same rules,
 * libseccomp mapping each name to each ABI's number. Every other ABI, x32 included, kills the
 * process: a denylist keyed by syscall number means nothing for an ABI it was not built for.
 *
 * SCMP_FLTATR_CTL_NNP does not matter here: we export the program rather than load it, and the
 * shim sets no_new_privs itself before loading.
 */
#include <seccomp.h> /* libseccomp */

#include <fcntl.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc-util.h"
#include "caps.h"
#include "fault.h"
#include "fs-util.h"
#include "seccomp-profile.h"

#define CAP(c) BL_CAP_MASK(CAP_##c)

struct deny_rule {
    const char *name;
    uint64_t unless_caps; /* the rule is left out when the box holds any of these */
};

/*
 * Syscalls that fail with EPERM, modelled on docker's default profile (moby
 * profiles/seccomp/default.json, including its capability-conditional groups). Choices where we
 * differ or where docker's reasons are not obvious:
 *  - ptrace, process_vm_readv and process_vm_writev are allowed, as docker does on kernels >= 4.8
 *    (seccomp runs again after a tracer changes a syscall, so ptrace cannot bypass the filter, and
 *    process_vm_* use the same access check as PTRACE_ATTACH). kcmp, pidfd_getfd, process_madvise
 *    and userfaultfd stay behind CAP_SYS_PTRACE.
 *  - name_to_handle_at is allowed: it needs no privilege and only names a file the caller can
 *    already see (systemd and mount tools use it to compare mounts). Opening by handle is what
 *    escapes a chroot or a bind mount ("shocker"), so open_by_handle_at needs CAP_DAC_READ_SEARCH.
 *  - io_uring_* are denied, as docker does since 25.0: its operations do not pass through seccomp.
 *  - Names libseccomp does not know are skipped; names that exist only on some ABIs (vm86,
 *    stime, umount, *_time64) apply where they exist.
 */
static const struct deny_rule deny_rules[] = {
    /* kernel keyrings are not namespaced: a box could read or fill the host's keys */
    {"add_key", 0},
    {"keyctl", 0},
    {"request_key", 0},
    /* replacing the kernel is never a box's business, whatever its capabilities */
    {"kexec_load", 0},
    {"kexec_file_load", 0},
    /* obsolete interfaces, removed or deprecated in the kernel: nothing legitimate calls them */
    {"create_module", 0},
    {"get_kernel_syms", 0},
    {"query_module", 0},
    {"nfsservctl", 0},
    {"_sysctl", 0},
    {"sysfs", 0},
    {"uselib", 0},
    {"ustat", 0},
    {"vm86", 0},
    {"vm86old", 0},
    /* swap is host-wide */
    {"swapon", 0},
    {"swapoff", 0},
    /* a large attack surface whose operations bypass seccomp */
    {"io_uring_setup", 0},
    {"io_uring_enter", 0},
    {"io_uring_register", 0},
    /*
     * Mounts and namespaces. In a fresh user namespace a process holds every capability, so the
     * kernel's own checks do not stop it; only the filter keeps a box from unsharing its way to
     * the mount and network code. clone's namespace flags are filtered separately.
     */
    {"mount", CAP(SYS_ADMIN)},
    {"umount", CAP(SYS_ADMIN)},
    {"umount2", CAP(SYS_ADMIN)},
    {"pivot_root", CAP(SYS_ADMIN)},
    {"setns", CAP(SYS_ADMIN)},
    {"unshare", CAP(SYS_ADMIN)},
    {"fsopen", CAP(SYS_ADMIN)},
    {"fsconfig", CAP(SYS_ADMIN)},
    {"fsmount", CAP(SYS_ADMIN)},
    {"fspick", CAP(SYS_ADMIN)},
    {"move_mount", CAP(SYS_ADMIN)},
    {"open_tree", CAP(SYS_ADMIN)},
    {"mount_setattr", CAP(SYS_ADMIN)},
    {"quotactl", CAP(SYS_ADMIN)},
    {"quotactl_fd", CAP(SYS_ADMIN)},
    {"lookup_dcookie", CAP(SYS_ADMIN)},
    {"fanotify_init", CAP(SYS_ADMIN)},
    {"sethostname", CAP(SYS_ADMIN)},
    {"setdomainname", CAP(SYS_ADMIN)},
    /* split out of CAP_SYS_ADMIN by newer kernels; either capability re-enables them */
    {"bpf", CAP(SYS_ADMIN) | CAP(BPF)},
    {"perf_event_open", CAP(SYS_ADMIN) | CAP(PERFMON)},
    {"syslog", CAP(SYS_ADMIN) | CAP(SYSLOG)},
    {"reboot", CAP(SYS_BOOT)},
    {"init_module", CAP(SYS_MODULE)},
    {"finit_module", CAP(SYS_MODULE)},
    {"delete_module", CAP(SYS_MODULE)},
    {"acct", CAP(SYS_PACCT)},
    /* the clocks are not namespaced (time namespaces cover only monotonic and boottime) */
    {"settimeofday", CAP(SYS_TIME)},
    {"stime", CAP(SYS_TIME)},
    {"clock_settime", CAP(SYS_TIME)},
    {"clock_settime64", CAP(SYS_TIME)},
    {"clock_adjtime", CAP(SYS_TIME)},
    {"clock_adjtime64", CAP(SYS_TIME)},
    {"kcmp", CAP(SYS_PTRACE)},
    {"pidfd_getfd", CAP(SYS_PTRACE)},
    {"process_madvise", CAP(SYS_PTRACE)},
    {"userfaultfd", CAP(SYS_PTRACE)},
    {"iopl", CAP(SYS_RAWIO)},
    {"ioperm", CAP(SYS_RAWIO)},
    /* NUMA placement affects the whole host's memory */
    {"mbind", CAP(SYS_NICE)},
    {"set_mempolicy", CAP(SYS_NICE)},
    {"set_mempolicy_home_node", CAP(SYS_NICE)},
    {"get_mempolicy", CAP(SYS_NICE)},
    {"move_pages", CAP(SYS_NICE)},
    {"migrate_pages", CAP(SYS_NICE)},
    {"vhangup", CAP(SYS_TTY_CONFIG)},
    {"open_by_handle_at", CAP(DAC_READ_SEARCH)},
};

/* clone flags that create namespaces; clone3 and unshare are handled as a whole */
#define NS_CLONE_FLAGS                                                                             \
    (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET |     \
     CLONE_NEWCGROUP)

/* personality(2) flags a box may combine freely (PER_LINUX32, UNAME26); see add_personality() */
#define PERSONALITY_FREE_FLAGS UINT32_C(0x0020008)

static void releasep(scmp_filter_ctx *ctx)
{
    if (*ctx)
        seccomp_release(*ctx);
}

uint64_t bl_seccomp_relevant_caps(void)
{
    uint64_t m = CAP(SYS_ADMIN); /* clone, clone3 */

    for (size_t i = 0; i < ELEMENTSOF(deny_rules); i++)
        m |= deny_rules[i].unless_caps;
    return m;
}

static int add_rule(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned n_args,
                    const struct scmp_arg_cmp *args, bl_error **err)
{
    int nr = seccomp_syscall_resolve_name(name);

    if (nr == __NR_SCMP_ERROR)
        return 0; /* unknown to this libseccomp: nothing to deny */
    int r = seccomp_rule_add_array(ctx, action, nr, n_args, args);
    /*
     * A negative nr is libseccomp's pseudo number for a syscall some ABIs lack (vm86 on x86_64);
     * the rule lands on the ABIs that have it, and failing means none of ours does.
     */
    if (r < 0 && nr >= 0)
        return bl_err_code(err, r, "cannot add seccomp rule for '%s'", name);
    return 0;
}

/*
 * personality(2): like docker, allow only PER_LINUX (0), PER_LINUX32 (0x8), UNAME26 (0x20000),
 * their combination (0x20008) and the query 0xffffffff; anything else (ADDR_NO_RANDOMIZE,
 * READ_IMPLIES_EXEC, ...) fails with EPERM.
 *
 * docker writes this as five allow rules under a deny default. Under our allow default it is a
 * deny of "none of the five", which libseccomp cannot say directly: a rule holds at most one
 * comparison per argument, so the denied set must be a union of single masked comparisons. The
 * kernel reads the argument as an unsigned int, so only its low 32 bits matter. Let F be the free
 * flags and N the other 30 bits, in a fixed cyclic order n_0..n_29. A value v is denied iff
 *   (a) its N bits are neither all clear nor all set: then some n_k is set and n_{k+1} is clear,
 *       one rule "n_k set and n_{k+1 mod 30} clear" per k; or
 *   (b) its N bits are all set but v != 0xffffffff: then some f in F is clear, one rule
 *       "all N set and f clear" per f.
 * The allowed values have N all clear (neither rule) or are all ones (no clear bit); every other
 * value falls under (a) or (b). That is 32 rules; test-seccomp.c checks every single bit, every
 * pair of bits and every all-ones-but-one-bit value against the real kernel.
 */
static int add_personality(scmp_filter_ctx ctx, uint32_t action, bl_error **err)
{
    const uint32_t n_mask = ~PERSONALITY_FREE_FLAGS;
    int bits[32], n_bits = 0, r;

    for (int b = 0; b < 32; b++)
        if (n_mask & (UINT32_C(1) << b))
            bits[n_bits++] = b;
    for (int k = 0; k < n_bits; k++) {
        uint32_t set = UINT32_C(1) << bits[k], clear = UINT32_C(1) << bits[(k + 1) % n_bits];
        struct scmp_arg_cmp a = SCMP_A0(SCMP_CMP_MASKED_EQ, set | clear, set);
        r = add_rule(ctx, action, "personality", 1, &a, err);
        if (r < 0)
            return r;
    }
    for (int f = 0; f < 32; f++) {
        uint32_t fbit = UINT32_C(1) << f;
        if (!(PERSONALITY_FREE_FLAGS & fbit))
            continue;
        struct scmp_arg_cmp a = SCMP_A0(SCMP_CMP_MASKED_EQ, n_mask | fbit, n_mask);
        r = add_rule(ctx, action, "personality", 1, &a, err);
        if (r < 0)
            return r;
    }
    return 0;
}

/*
 * Without CAP_SYS_ADMIN a box may not create namespaces. clone gets one rule per namespace flag
 * (a masked comparison can only test for equality, so "any of these bits" is one rule per bit);
 * the kernel reads only the low 32 bits of the flags, where all of them live. clone3 passes its
 * flags in a struct that seccomp cannot read, so it fails with ENOSYS, which makes glibc (2.34+)
 * and other runtimes fall back to clone, as under docker.
 */
static int add_clone(scmp_filter_ctx ctx, uint32_t action, bl_error **err)
{
    for (int b = 0; b < 32; b++) {
        uint64_t bit = UINT64_C(1) << b;
        if (!(NS_CLONE_FLAGS & bit))
            continue;
        struct scmp_arg_cmp a = SCMP_A0(SCMP_CMP_MASKED_EQ, bit, bit);
        int r = add_rule(ctx, action, "clone", 1, &a, err);
        if (r < 0)
            return r;
    }
    return add_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL, err);
}

static int build_filter(uint64_t caps, scmp_filter_ctx *ret, bl_error **err)
{
    _cleanup_(releasep) scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    const uint32_t deny = SCMP_ACT_ERRNO(EPERM);
    int r;

    if (!ctx)
        return bl_oom(err); /* seccomp_init fails only on allocation */
    /*
     * KILL_PROCESS needs Linux 4.14, and libseccomp probes for it; where the probe fails (old
     * kernel, valgrind) the program kills the calling thread only. Either way the call is denied.
     */
    if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) < 0) {
        r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL);
        if (r < 0)
            return bl_err_code(err, r, "cannot set the seccomp bad-architecture action");
    }
    (void) seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
    /* a binary search over syscall numbers instead of a linear chain (libseccomp >= 2.5) */
    (void) seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
    if (seccomp_arch_native() == SCMP_ARCH_X86_64) {
        r = seccomp_arch_add(ctx, SCMP_ARCH_X86);
        if (r < 0 && r != -EEXIST)
            return bl_err_code(err, r, "cannot add the i386 ABI to the seccomp filter");
    }

    for (size_t i = 0; i < ELEMENTSOF(deny_rules); i++) {
        if (caps & deny_rules[i].unless_caps)
            continue;
        r = add_rule(ctx, deny, deny_rules[i].name, 0, NULL, err);
        if (r < 0)
            return r;
    }
    r = add_personality(ctx, deny, err);
    if (r < 0)
        return r;
    if (!(caps & CAP(SYS_ADMIN))) {
        r = add_clone(ctx, deny, err);
        if (r < 0)
            return r;
    }
    *ret = TAKE_PTR(ctx);
    return 0;
}

int bl_seccomp_export(uint64_t caps, int fd, bl_error **err)
{
    _cleanup_(releasep) scmp_filter_ctx ctx = NULL;
    int r;

    r = build_filter(caps, &ctx, err);
    if (r < 0)
        return r;
    if (bl_fault_hit())
        return bl_err(err, -EIO, "cannot write seccomp filter: injected fault");
    r = seccomp_export_bpf(ctx, fd);
    if (r < 0)
        return bl_err_code(err, r, "cannot write seccomp filter");
    return 0;
}

/* A complete program: a non-empty whole number of instructions. */
static int valid_program(const struct stat *st)
{
    return S_ISREG(st->st_mode) && st->st_size > 0 &&
           (size_t) st->st_size % sizeof(struct sock_filter) == 0 &&
           (size_t) st->st_size / sizeof(struct sock_filter) <= BPF_MAXINSNS;
}

/* Undo for a temporary file: removes it unless disarmed with TAKE_PTR. */
static void unlink_tmpp(const char **path)
{
    if (*path) {
        int saved = errno;
        (void) unlink(*path);
        errno = saved;
    }
}

static int compile_to(const char *cache_dir, const char *path, uint64_t caps, bl_error **err)
{
    _cleanup_free_ char *tmp = bl_asprintf("%s/.seccomp-tmp-XXXXXX", cache_dir);
    _cleanup_close_ int fd = -1;
    struct stat st;
    int r;

    if (!tmp)
        return bl_oom(err);
    /* every racing process writes its own file; rename(2) then replaces atomically */
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return bl_err_errno(err, "cannot create a file in '%s'", cache_dir);
    _cleanup_(unlink_tmpp) const char *undo = tmp;

    r = bl_seccomp_export(caps, fd, err);
    if (r < 0)
        return r;
    if (fstat(fd, &st) < 0)
        return bl_err_errno(err, "cannot stat '%s'", tmp);
    if (!valid_program(&st))
        return bl_err(err, -EIO, "libseccomp wrote an invalid program of %jd bytes",
                      (intmax_t) st.st_size);
    /* the file is not secret, and the shim may read it after changing its credentials */
    if (fchmod(fd, 0644) < 0)
        return bl_err_errno(err, "cannot chmod '%s'", tmp);
    /*
     * Data before name: after a crash the name points to a whole program or to nothing. The
     * directory is not synced: a rename lost in a crash only costs a recompile.
     */
    if (fsync(fd) < 0)
        return bl_err_errno(err, "cannot sync '%s'", tmp);
    if (rename(tmp, path) < 0)
        return bl_err_errno(err, "cannot rename '%s' to '%s'", tmp, path);
    (void) TAKE_PTR(undo); /* disarm: the file now has its final name */
    return 0;
}

int bl_seccomp_profile(const char *cache_dir, uint64_t caps, char **ret_path, bl_error **err)
{
    uint64_t key = caps & bl_seccomp_relevant_caps();
    struct stat st;
    int r;

    if (!cache_dir || !*cache_dir || !ret_path)
        return bl_err(err, -EINVAL, "no seccomp cache directory");
    _cleanup_free_ char *path = bl_asprintf("%s/seccomp-v%d-%016" PRIx64 ".bpf", cache_dir,
                                            BL_SECCOMP_PROFILE_VERSION, key);
    if (!path)
        return bl_oom(err);
    if (stat(path, &st) == 0 && valid_program(&st)) {
        *ret_path = TAKE_PTR(path);
        return 0;
    }
    /* missing or damaged: (re)compile; a damaged file is replaced by the rename */
    r = bl_mkdir_p(cache_dir, 0700, err);
    if (r < 0)
        return r;
    r = compile_to(cache_dir, path, key, err);
    if (r < 0)
        return r;
    *ret_path = TAKE_PTR(path);
    return 0;
}
