/* SPDX-License-Identifier: MIT */
/* Fault-point counter (the only global besides the log sink). */
#include "fault.h"

#ifdef BL_FAULT_INJECTION
#include <stdatomic.h>
#include <stdlib.h>

static atomic_ulong counter;
static long target = -2; /* -2: not read yet; -1: off */

bool bl_fault_hit(void)
{
    if (target == -2) {
        const char *e = getenv("BL_FAULT");
        target = e && *e ? strtol(e, NULL, 10) : -1; /* NOLINT: env parse at fault point */
    }
    unsigned long n = atomic_fetch_add(&counter, 1) + 1;
    return target > 0 && (unsigned long) target == n;
}

unsigned long bl_fault_count(void)
{
    return atomic_load(&counter);
}
#endif
