/* SPDX-License-Identifier: MIT */
/* Fault-point counter (the only global besides the log sink). */
#include "fault.h"

#ifdef BL_FAULT_INJECTION
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "parse-util.h"

static atomic_ulong counter;
static long target = -2; /* -2: not read yet; -1: off */

bool bl_fault_hit(void)
{
    if (target == -2) {
        const char *e = getenv("BL_FAULT");
        int64_t v;
        target = bl_parse_i64(e, &v) == 0 && v > 0 ? (long) v : -1;
    }
    unsigned long n = atomic_fetch_add(&counter, 1) + 1;
    return target > 0 && (unsigned long) target == n;
}

unsigned long bl_fault_count(void)
{
    return atomic_load(&counter);
}
#endif
