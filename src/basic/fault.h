/* SPDX-License-Identifier: MIT */
/*
 * Fault injection for torture tests. In debug and asan builds, BL_FAULT=N makes the Nth fault
 * point fail (with ENOMEM for allocations, EIO elsewhere); release builds compile it away.
 */
#pragma once

#include <stdbool.h>

#ifdef BL_FAULT_INJECTION
bool bl_fault_hit(void);
unsigned long bl_fault_count(void);
#else
static inline bool bl_fault_hit(void)
{
    return false;
}
#endif
