/* SPDX-License-Identifier: MIT */
/* Warming the kernel's cgroup migration lock before a box starts (cgroup-warm.c says why). */
#pragma once

struct boxlite_runtime;

/* A box is about to start: warm the kernel's cgroup migration lock in a thread (once per
 * runtime; joined by bl_cgroup_warm_done(), from boxlite_runtime_free()). */
void bl_cgroup_warm(struct boxlite_runtime *rt);
void bl_cgroup_warm_done(struct boxlite_runtime *rt);
