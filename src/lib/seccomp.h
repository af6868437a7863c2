/* SPDX-License-Identifier: MIT */
/*
 * The default seccomp filter of boxes. This module owns the filter's rules and its on-disk cache:
 * the filter is compiled with libseccomp once per (profile version, relevant capabilities) and
 * kept as a raw BPF program (an array of struct sock_filter) in a cache directory, so starting a
 * box costs one stat() here and one read in the shim, which loads the program with
 * prctl(PR_SET_SECCOMP) and does not link libseccomp (docs/design/shim-protocol.md, key
 * `seccomp`). Cache files are immutable once renamed into place; a change of the rules bumps
 * BL_SECCOMP_PROFILE_VERSION, which changes every file name.
 *
 * Include note: src/lib is on the include path, so this file shadows libseccomp's own
 * <seccomp.h> for the whole tree. seccomp.c, the only user of libseccomp, defines
 * BL_SECCOMP_WANT_LIBSECCOMP and includes this header as <seccomp.h>; it is then found through
 * -Isrc/lib and #include_next continues the search past src/lib to the system header.
 */
#pragma once

#ifdef BL_SECCOMP_WANT_LIBSECCOMP
#include_next <seccomp.h>
#endif

#include <stdint.h>

#include "error.h"

/* Part of every cache file name; bump it whenever the rules change. */
#define BL_SECCOMP_PROFILE_VERSION 1

/* The capabilities that change the filter (a rule is left out when the box holds its cap). */
uint64_t bl_seccomp_relevant_caps(void);

/*
 * Compile the default filter for a box holding `caps` and write it to fd as raw BPF.
 * @param fd  borrowed; written from its current offset.
 * @return 0, or a negative errno with *err set (libseccomp failures are -EIO or theirs).
 */
int bl_seccomp_export(uint64_t caps, int fd, bl_error **err);

/*
 * The cached filter for a box holding `caps`: the path of
 * <cache_dir>/seccomp-v<BL_SECCOMP_PROFILE_VERSION>-<16 hex digits>.bpf, where the hex digits
 * are caps & bl_seccomp_relevant_caps(). When that file is present (the fast path: one stat())
 * nothing is written. Otherwise cache_dir is created (mode 0700) as needed and the filter is
 * compiled into a temporary file in cache_dir, fsync()ed and renamed into place; processes racing
 * on the same file each rename a complete copy, so readers only ever see a whole program.
 *
 * Blocking: does file system I/O and, on a miss, about a few ms of CPU work. Thread-safe.
 * @param cache_dir  borrowed; absolute or relative to the working directory.
 * @param ret_path   on success a new string owned by the caller (free()); untouched on failure.
 * @return 0, or a negative errno with *err set: -EACCES/-EPERM/-ENOTDIR/-EROFS when cache_dir
 *         cannot be created or written, -ENOMEM.
 */
int bl_seccomp_profile(const char *cache_dir, uint64_t caps, char **ret_path, bl_error **err);
