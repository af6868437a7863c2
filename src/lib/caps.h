/* SPDX-License-Identifier: MIT */
/*
 * Linux capabilities as 64-bit masks (bit N = capability N). This module owns the table of
 * capability names, docker's default set for boxes, the parser for user-supplied names
 * (`--cap-add net_admin`) and docker's rules for combining a base set with --cap-add and
 * --cap-drop lists. A mask never holds a bit above the running kernel's last capability once it
 * went through bl_caps_apply(), so the shim can hand it to capset() and PR_CAPBSET_DROP as is.
 */
#pragma once

#include <linux/capability.h>
#include <stdint.h>

#include "error.h"

/* Headers older than the kernels we run on lack the newest names; the numbers are ABI. */
#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif
#ifndef CAP_CHECKPOINT_RESTORE
#define CAP_CHECKPOINT_RESTORE 40
#endif

/* Bit of capability `cap` in a mask. */
#define BL_CAP_MASK(cap) (UINT64_C(1) << (cap))

/* Stored by bl_caps_parse() in *ret_cap for the pseudo-name "ALL". */
#define BL_CAP_ALL (-1)

/*
 * docker's default capability set: CHOWN, DAC_OVERRIDE, FSETID, FOWNER, MKNOD, NET_RAW, SETGID,
 * SETUID, SETFCAP, SETPCAP, NET_BIND_SERVICE, SYS_CHROOT, KILL and AUDIT_WRITE.
 */
uint64_t bl_caps_default(void);

/*
 * The highest capability the running kernel knows, from /proc/sys/kernel/cap_last_cap. When that
 * file cannot be read (no /proc), CAP_LAST_CAP of the headers we were built with. Never above 63.
 */
int bl_caps_last_cap(void);

/* Every capability the running kernel knows: bits 0..bl_caps_last_cap(). */
uint64_t bl_caps_all(void);

/*
 * Parse one capability name the way docker does: case-insensitive, with or without a "CAP_"
 * prefix ("net_admin", "CAP_NET_ADMIN", "Cap_Net_Admin"). The pseudo-name "ALL" (any case, and
 * without prefix: "CAP_ALL" is not a capability) stands for every capability.
 *
 * @param name     borrowed.
 * @param ret_cap  optional; receives the capability number, or BL_CAP_ALL for "ALL".
 * @return 0 for a capability, 1 for "ALL"; -EINVAL when the name is not [A-Z][A-Z0-9_]* after
 *         case folding and prefix removal ("malformed Linux capability: '<name>'"), or when it is
 *         not in the table ("unknown capability '<name>'"). *ret_cap is untouched on failure.
 *         Whether the running kernel supports the capability is checked by bl_caps_apply().
 */
int bl_caps_parse(const char *name, int *ret_cap, bl_error **err);

/*
 * Combine a base set with --cap-add and --cap-drop lists, with docker's semantics:
 *   - "ALL" in add: every capability the kernel knows, minus the ones named in drop ("ALL" in
 *     drop is then ignored: add ALL wins);
 *   - otherwise "ALL" in drop: exactly the capabilities named in add (the base is discarded);
 *   - otherwise: (base minus drop) plus add, so a capability both added and dropped is kept.
 * The result is limited to the capabilities of the running kernel. Naming in add a capability the
 * kernel does not support is an error; dropping one is a no-op.
 *
 * @param add, drop  NULL-terminated lists of names (borrowed); either may be NULL (empty).
 * @param ret        receives the mask; untouched on failure.
 * @return 0, or -EINVAL for a malformed, unknown or unsupported name (message as for
 *         bl_caps_parse(), or "capability '<name>' is not supported by the running kernel").
 */
int bl_caps_apply(uint64_t base, char *const *add, char *const *drop, uint64_t *ret,
                  bl_error **err);

/* Accessor. "CAP_CHOWN" and so on, for capability numbers in the table; NULL otherwise. */
const char *bl_caps_name(int cap);

/*
 * Constructor. The mask as a comma-separated list in ascending order, e.g. "CAP_CHOWN,CAP_KILL"
 * ("" for an empty mask); a bit without a name in the table is written as its number. Owned by
 * the caller (free()); NULL on out-of-memory.
 */
char *bl_caps_mask_to_string(uint64_t mask);
