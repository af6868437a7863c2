/* SPDX-License-Identifier: MIT */
/*
 * The box's device allow-list: which device nodes its processes may create (mknod) and open.
 * The box's root holds CAP_MKNOD (docker's default set), and a node it makes can live anywhere
 * it writes: its rootfs (whose upper directory is on the host's disk), /dev/shm, a volume that
 * is a host directory. Mounts the box can write to are nodev (box.c), which keeps it from
 * opening such a node itself; this policy also keeps it from creating one, so that nothing it
 * plants in a volume or its upper directory hands a host user a device the real /dev refuses.
 *
 * The policy is an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE attached to the box's
 * cgroup2 leaf. The kernel consults it on pure cgroup v2 and on hybrid hosts alike (the cgroup2
 * leaf of the task), and charges its memory to the shim's memory cgroup (kernels since 5.11,
 * not RLIMIT_MEMLOCK). It dies with the cgroup. The shim attaches it while PID 1 builds its
 * root (before the "go" that lets it run anything of the box's), off the start's critical path;
 * where it cannot be attached the start fails, and where the box has no cgroup2 leaf at all it
 * gets no CAP_MKNOD (main.c). Allowed, as docker's default list (character
 * devices only, read, write and mknod): null, zero, full, random, urandom, tty, ptmx, and the
 * box's own pty slaves (136:*). Every block device and every other node is refused.
 *
 * Without root (a user namespace) the kernel itself refuses device nodes: mknod needs
 * CAP_MKNOD in the initial namespace, and mounts made in a user namespace are nodev.
 */
#include <errno.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "devices.h"

#define INSN(c, d, s, o, i)                                                                        \
    ((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i)})
/* r_dst = *(u32 *)(r_src + off) */
#define LDX_W(d, s, o) INSN(BPF_LDX | BPF_MEM | BPF_W, d, s, o, 0)
/* 32-bit r_dst op= imm */
#define ALU32_K(op, d, i) INSN(BPF_ALU | (op) | BPF_K, d, 0, 0, i)
#define MOV64_K(d, i) INSN(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
/* if r_dst != imm: skip o instructions */
#define JNE_K(d, i, o) INSN(BPF_JMP | BPF_JNE | BPF_K, d, 0, o, i)
#define EXIT() INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

#define ANY_MINOR (-1)
static const struct {
    int major, minor;
} allowed[] = {
    {1, 3},           /* null */
    {1, 5},           /* zero */
    {1, 7},           /* full */
    {1, 8},           /* random */
    {1, 9},           /* urandom */
    {5, 0},           /* tty */
    {5, 2},           /* ptmx */
    {136, ANY_MINOR}, /* the box's own pty slaves (its devpts instance) */
};

/* ctx (r1): struct bpf_cgroup_dev_ctx { u32 access_type (access << 16 | type); u32 major;
 * u32 minor; }. Returns 1 to allow, 0 to refuse (EPERM). */
static size_t build_program(struct bpf_insn *p, size_t max)
{
    size_t n = 0;
#define EMIT(x)                                                                                    \
    do {                                                                                           \
        if (n < max)                                                                               \
            p[n] = (x);                                                                            \
        n++;                                                                                       \
    } while (0)
    EMIT(LDX_W(BPF_REG_2, BPF_REG_1, 0));      /* access_type */
    EMIT(ALU32_K(BPF_AND, BPF_REG_2, 0xffff)); /* its device type */
    EMIT(LDX_W(BPF_REG_3, BPF_REG_1, 4));      /* major */
    EMIT(LDX_W(BPF_REG_4, BPF_REG_1, 8));      /* minor */
    /* not a character device: refuse (the jump lands on the final "refuse") */
    size_t jump_to_deny = n;
    EMIT(JNE_K(BPF_REG_2, BPF_DEVCG_DEV_CHAR, 0));
    for (size_t i = 0; i < ELEMENTSOF(allowed); i++) {
        bool any = allowed[i].minor == ANY_MINOR;
        /* if major != M: next rule (skip the minor test, if any, and the allow) */
        EMIT(JNE_K(BPF_REG_3, allowed[i].major, any ? 2 : 3));
        if (!any)
            EMIT(JNE_K(BPF_REG_4, allowed[i].minor, 2));
        EMIT(MOV64_K(BPF_REG_0, 1));
        EMIT(EXIT());
    }
    size_t deny = n;
    EMIT(MOV64_K(BPF_REG_0, 0));
    EMIT(EXIT());
    if (jump_to_deny < max)
        p[jump_to_deny].off = (int16_t) (deny - jump_to_deny - 1);
#undef EMIT
    return n;
}

static long bpf(int cmd, union bpf_attr *attr)
{
    return syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

int devices_restrict(int cgroup_fd, bl_error **err)
{
    struct bpf_insn prog[64];
    size_t n = build_program(prog, ELEMENTSOF(prog));
    if (n > ELEMENTSOF(prog))
        return bl_err(err, -E2BIG, "device program too long");
    static const char license[] = "MIT";
    union bpf_attr load;
    memset(&load, 0, sizeof(load));
    load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    load.insns = (uint64_t) (uintptr_t) prog;
    load.insn_cnt = (uint32_t) n;
    load.license = (uint64_t) (uintptr_t) license;
    int fd = (int) bpf(BPF_PROG_LOAD, &load);
    if (fd < 0)
        return bl_err_errno(err, "cannot load the device program");
    /* ALLOW_MULTI: a host's own device program on an ancestor (systemd's DevicePolicy=) keeps
     * running too; the kernel allows an access only if every program allows it. */
    union bpf_attr at;
    memset(&at, 0, sizeof(at));
    at.target_fd = (uint32_t) cgroup_fd;
    at.attach_bpf_fd = (uint32_t) fd;
    at.attach_type = BPF_CGROUP_DEVICE;
    at.attach_flags = BPF_F_ALLOW_MULTI;
    long r = bpf(BPF_PROG_ATTACH, &at);
    int e = errno;
    (void) close(fd); /* the attachment holds the program */
    if (r < 0)
        return bl_err_code(err, -e, "cannot attach the device program");
    return 0;
}
