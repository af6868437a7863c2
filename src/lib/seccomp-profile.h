/* SPDX-License-Identifier: MIT */
/*
 * The default seccomp filter of boxes. This module owns the filter's rules and its on-disk cache:
 * the filter is compiled with libseccomp once per (profile version, relevant capabilities) and
 * kept as a raw BPF program (an array of struct sock_filter) in a cache directory, so starting a
 * box costs one stat() here and one read in the shim, which loads the program with
 * prctl(PR_SET_SECCOMP) and does not link libseccomp (docs/design/shim-protocol.md, key
 * `seccomp`). Cache files are immutable once renamed into place; a change of the rules bumps
 * BL_SECCOMP_PROFILE_VERSION, which changes every file name.
 */
#pragma once

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
 * Blocking: file system I/O; a miss also compiles (under a millisecond of CPU here) and
 * fsync()s, which dominates on a disk. Thread-safe. A process killed between creating and
 * renaming its temporary file leaves a ".seccomp-tmp-*" file behind; nothing removes it.
 * @param cache_dir  borrowed; absolute or relative to the working directory.
 * @param ret_path   on success a new string owned by the caller (free()); untouched on failure.
 * @return 0, or a negative errno with *err set: -EACCES/-EPERM/-ENOTDIR/-EROFS when cache_dir
 *         cannot be created or written, -ENOMEM.
 */
int bl_seccomp_profile(const char *cache_dir, uint64_t caps, char **ret_path, bl_error **err);
