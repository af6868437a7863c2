/* SPDX-License-Identifier: MIT */
/* The box's device allow-list: a BPF_CGROUP_DEVICE program on its cgroup2 leaf (as root). */
#pragma once

#include "shim.h"

/* Attach the allow-list to the cgroup2 directory cgroup_fd. 0 or -errno with *err set. */
int devices_restrict(int cgroup_fd, bl_error **err);
