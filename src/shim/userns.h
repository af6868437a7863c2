/* SPDX-License-Identifier: MIT */
/*
 * The ids of a box without root (src/lib/idmap.h): its user namespace mapped to our one id, or
 * to a subordinate range through the setuid newuidmap/newgidmap. And `--userns`.
 */
#pragma once

#include <sys/types.h>

#include "conf.h"
#include "shim.h"

/* A user namespace of an unprivileged user (pid, or 0 for our own): uid and gid are its root
 * and its only ids, setgroups denied. 0 or -errno. */
int write_id_maps(pid_t pid, uid_t uid, gid_t gid);
/* Map the user namespace of pid (a child of ours, not yet mapped): the range through the
 * helpers, else our one id. 0, or -errno with the reason in *err. */
int map_userns(pid_t pid, const struct conf_idmap *m, bl_error **err);
/* boxlite-shim --userns rm|chown SPEC NEWUIDMAP NEWGIDMAP [NAME] (src/lib/idmap.h). Returns
 * the exit status; messages go to stderr. */
int userns_main(int argc, char **argv);
